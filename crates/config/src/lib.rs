//! # hpaxos-config
//!
//! The configuration file of PRODUCT.md: TOML with `[acceptors]`,
//! `[learners.NAME]` (`quorums`) and `[[safety]]` (`learners`, `safe`), where
//! families are set expressions or explicit arrays of minimal sets.
//!
//! Data flow: file text -> [`parse_str`] / [`load_file`] -> [`Config`], whose
//! [`Config::graph`] is a [`LearnerGraph`] (acceptor and learner ids in file
//! order) and which keeps the raw TOML of every acceptor and learner entry and
//! of every unknown top-level table, so other parts (the node) can read their
//! own keys. [`Config::validate`] hands the graph to
//! [`hpaxos_core::graph::validate`].

pub mod compile;
mod error;
pub mod expr;
mod load;
pub mod scale;

pub use error::ConfigError;
pub use expr::Column;

use hpaxos_core::graph::GraphError;
use hpaxos_core::{AcceptorId, LearnerGraph, LearnerId, Trust};
use std::path::Path;

/// One `[acceptors]` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct AcceptorEntry {
    pub name: String,
    /// `addr = "host:port"`, when given.
    pub addr: Option<String>,
    /// The whole entry as written (unknown keys included).
    pub raw: toml::Value,
}

/// One `[learners.NAME]` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct LearnerEntry {
    pub name: String,
    /// The whole entry as written (unknown keys included).
    pub raw: toml::Value,
}

/// A loaded configuration: the learner graph plus the raw entries.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Acceptors, learners and safety edges; ids are positions in file order.
    pub graph: LearnerGraph,
    /// Indexed by [`AcceptorId`].
    pub acceptors: Vec<AcceptorEntry>,
    /// Indexed by [`LearnerId`].
    pub learners: Vec<LearnerEntry>,
    /// Top-level keys other than `acceptors`, `learners` and `safety`, in file
    /// order (for example node tables), untouched.
    pub extra: toml::Table,
}

impl Config {
    /// Checks the learner graph (closure validity) and returns the trust the
    /// protocol core runs on.
    pub fn validate(&self) -> Result<Trust, GraphError> {
        hpaxos_core::graph::validate(self.graph.clone())
    }

    pub fn acceptor_id(&self, name: &str) -> Option<AcceptorId> {
        self.graph.acceptor_id(name)
    }

    pub fn learner_id(&self, name: &str) -> Option<LearnerId> {
        self.graph.learner_id(name)
    }

    /// Parses a comma-separated list of acceptor names (`--faulty a1,a3`; the
    /// empty string is the empty list). Unknown or repeated names are errors.
    pub fn parse_acceptor_list(&self, list: &str) -> Result<Vec<AcceptorId>, ConfigError> {
        let mut out: Vec<AcceptorId> = Vec::new();
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some(a) = self.acceptor_id(name) else {
                let known = &self.graph.acceptors;
                let shown: Vec<&str> = known.iter().take(12).map(String::as_str).collect();
                let more = if known.len() > shown.len() {
                    ", ..."
                } else {
                    ""
                };
                return Err(ConfigError::entry(
                    "acceptor list",
                    format!(
                        "unknown acceptor `{name}` (the acceptors are {}{more})",
                        shown.join(", ")
                    ),
                ));
            };
            if out.contains(&a) {
                return Err(ConfigError::entry(
                    "acceptor list",
                    format!("acceptor `{name}` is listed twice"),
                ));
            }
            out.push(a);
        }
        Ok(out)
    }
}

/// Parses a configuration from its text.
pub fn parse_str(text: &str) -> Result<Config, ConfigError> {
    load::parse(text)
}

/// Reads and parses a configuration file.
pub fn load_file(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_str(&text)
}
