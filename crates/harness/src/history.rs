//! The history of client operations, Jepsen-style: each operation a
//! process invoked, with its outcome: `ok` (acknowledged, with the value the
//! learner returned), `fail` (certainly not executed: refused before it was
//! submitted) or `info` (unknown: timed out or the answer was lost; it may
//! take effect at any later time). A process with an `info` operation never
//! invokes again (the client continues as a new process), as a
//! linearizability checker requires.
//!
//! Data flow: the workload appends records; the checks read them; `main`
//! saves them as `history.jsonl`.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Put,
    Get,
    Delete,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Fail,
    Info,
}

/// One operation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OpRecord {
    /// Process (logical client) that invoked it.
    pub process: u64,
    /// The learner the client asked to wait for (`?learner=`).
    pub learner: String,
    /// The node it was sent to.
    pub node: String,
    pub kind: Kind,
    pub key: String,
    /// The value written (put).
    pub value: Option<String>,
    /// Milliseconds since the run started.
    pub invoke_ms: f64,
    pub complete_ms: f64,
    pub outcome: Outcome,
    /// With `ok`: the previous value (put, delete) or the value read (get).
    pub result: Option<String>,
    /// With `ok`: the slot the command was decided in.
    pub slot: Option<u64>,
    /// Why it is not `ok`.
    pub error: Option<String>,
}

impl OpRecord {
    pub fn is_write(&self) -> bool {
        matches!(self.kind, Kind::Put | Kind::Delete)
    }
}
