//! `hpaxos node --check`: validates one node's view of the cluster offline,
//! without binding a port or writing a byte.
//!
//! Data flow: the same [`crate::run::identify`] as a starting node (the
//! configuration file, trust graph validity, node tables, the node's entry,
//! its secret key against the configured public key, where its data lives),
//! then a read-only look at the data directory (identity file, whether a
//! running node holds its lock). Any problem is the [`NodeError`] the node
//! itself would stop with, so the message names the table or file.

use crate::keys::public_hex;
use crate::run::{identify, inspect_data_dir, NodeArgs, NodeError};
use std::fs::File;

/// What `--check` found for a node whose configuration is usable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeCheck {
    /// One line per fact, for people (`label  value`).
    pub facts: Vec<(String, String)>,
}

/// Checks `args` as `hpaxos node` would before starting; never writes.
pub fn check_node(args: &NodeArgs) -> Result<NodeCheck, NodeError> {
    let id = identify(args)?;
    let trust = &id.cfg.trust;
    let spec = &id.spec;
    let mut facts = Vec::new();
    let mut fact = |k: &str, v: String| facts.push((k.to_string(), v));
    fact(
        "cluster",
        format!(
            "{} nodes, {} acceptors, {} learners; learner graph valid",
            id.cfg.nodes.len(),
            trust.n_acceptors(),
            trust.n_learners()
        ),
    );
    let acceptor = spec
        .acceptor
        .map(|a| trust.acceptor_name(a).to_string())
        .unwrap_or_else(|| "(none)".into());
    let learners: Vec<String> = spec
        .learners
        .iter()
        .map(|l| trust.learner_name(*l).to_string())
        .collect();
    fact(
        "roles",
        format!(
            "acceptor {acceptor}; learners {}; {}",
            if learners.is_empty() {
                "(none)".to_string()
            } else {
                learners.join(", ")
            },
            if spec.proposer {
                "proposer"
            } else {
                "not a proposer"
            }
        ),
    );
    fact("peer", spec.addr.to_string());
    fact(
        "http",
        spec.http
            .as_ref()
            .map(|h| h.to_string())
            .unwrap_or_else(|| "(none)".into()),
    );
    fact(
        "key",
        format!(
            "{} matches the configured public key",
            id.key_file.display()
        ),
    );
    let dir = &id.data_dir;
    let state = if dir.exists() {
        let known = inspect_data_dir(dir, &spec.name, &public_hex(&id.key))?;
        let running = File::open(dir.join("LOCK"))
            .map(|f| f.try_lock().is_err())
            .unwrap_or(false);
        match (known, running) {
            (_, true) => "this node's, in use by a running node",
            (true, false) => "this node's",
            (false, false) => "exists, not used yet",
        }
    } else {
        "does not exist yet (created at start)"
    };
    fact("data", format!("{} {state}", dir.display()));
    for w in &id.cfg.warnings {
        fact("warning", w.clone());
    }
    Ok(NodeCheck { facts })
}
