//! # hpaxos-config
//!
//! The configuration file of PRODUCT.md: TOML with `[acceptors]`,
//! `[learners.NAME]` (`quorums`) and `[[safety]]` (`learners`, `safe`), where
//! families are set expressions or explicit arrays of minimal sets.
//!
//! Data flow: file text -> [`parse_str`] / [`load_file`] -> [`Config`], whose
//! [`Config::graph`] is a [`LearnerGraph`] (acceptor and learner ids in file
//! order) and which keeps the raw TOML of every acceptor and learner entry and
//! the node's own top-level tables (`[cluster]`, `[nodes.NAME]`:
//! [`NODE_TABLES`]) for the node to read. Any other table or key is an
//! error with its location; [`Config::warnings`] lists what loads but is
//! probably a mistake. [`Config::validate`] hands the graph to
//! [`hpaxos_core::graph::validate`].

pub mod compile;
mod error;
pub mod expr;
mod load;
pub mod scale;

pub use error::ConfigError;
pub use expr::Column;
pub use load::NODE_TABLES;

use hpaxos_core::graph::GraphError;
use hpaxos_core::{AcceptorId, LearnerGraph, LearnerId, Trust};
use std::path::Path;

/// One `[acceptors]` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct AcceptorEntry {
    pub name: String,
    /// `addr = "host:port"`, when given.
    pub addr: Option<String>,
    /// The whole entry as written.
    pub raw: toml::Value,
}

/// One `[learners.NAME]` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct LearnerEntry {
    pub name: String,
    /// The whole entry as written.
    pub raw: toml::Value,
}

/// Something a file may mean but probably does not: it loads, and the
/// tools say it (on stderr, or in `"warnings"` with `--json`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// Where: `learner `bob``, `[[safety]]`.
    pub at: String,
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
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
    /// The node's top-level tables ([`NODE_TABLES`]) as written.
    pub extra: toml::Table,
}

impl Config {
    /// Checks the learner graph (closure validity) and returns the trust the
    /// protocol core runs on.
    pub fn validate(&self) -> Result<Trust, GraphError> {
        hpaxos_core::graph::validate(self.graph.clone())
    }

    /// What loads but is probably not meant: a file without any
    /// `[[safety]]` edge (no learner is promised agreement with anyone,
    /// itself included), or a learner that no edge touches (the closure
    /// then has no self-edge for it: two nodes running it may decide
    /// different values).
    pub fn warnings(&self) -> Vec<Warning> {
        let g = &self.graph;
        if g.edges.is_empty() {
            return vec![Warning {
                at: "[[safety]]".into(),
                message: "the file has no safety edge: no learner is guaranteed to agree with any other, nor with itself".into(),
            }];
        }
        let all = g.all_acceptors();
        g.learners
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                let l = LearnerId(*i as u16);
                !g.closure_holds(l, l, &all)
            })
            .map(|(_, l)| Warning {
                at: format!("learner `{}`", l.name),
                message: format!(
                    "no safety edge involves {0}, so the closure has no self-edge for it: two nodes running {0} may decide different values; add [[safety]] learners = [\"{0}\", \"{0}\"]",
                    l.name
                ),
            })
            .collect()
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
