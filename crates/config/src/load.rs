//! Turns the TOML document into a [`Config`]: reads `[acceptors]`,
//! `[learners.NAME]` and `[[safety]]`, compiles their families, and keeps
//! the node's tables ([`NODE_TABLES`]) untouched for the node. Any other
//! table or key is an error naming where it is (a misspelt `[[saftey]]`
//! must not turn a file into one without edges).

use crate::compile::{compile, compile_sets, Names};
use crate::error::ConfigError;
use crate::expr;
use crate::{AcceptorEntry, Config, LearnerEntry};
use hpaxos_core::accset::MAX_ACCEPTORS;
use hpaxos_core::{AcceptorId, Family, LearnerGraph, LearnerId, LearnerSpec, SafetyEdge};
use std::collections::BTreeMap;
use toml::Value;

/// Top-level tables the node defines in the same file (`hpaxos-node`'s
/// `config` module reads and checks them); kept in [`Config::extra`].
pub const NODE_TABLES: &[&str] = &["cluster", "nodes"];

/// The top-level tables of the file, as written.
const TABLES: &[(&str, &str)] = &[
    ("acceptors", "[acceptors]"),
    ("learners", "[learners.NAME]"),
    ("safety", "[[safety]]"),
    ("cluster", "[cluster]"),
    ("nodes", "[nodes.NAME]"),
];

/// Levenshtein distance, for "did you mean" (names are short).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// `known` entry closest to `name` when it is a plausible misspelling.
fn closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (distance(&name.to_ascii_lowercase(), k), *k))
        .filter(|(d, k)| *d <= 2 && *d < k.len())
        .min()
        .map(|(_, k)| k)
}

/// Rejects keys of an entry other than `known`.
fn only_keys(fields: &toml::Table, at: &str, known: &[&str]) -> Result<(), ConfigError> {
    for k in fields.keys() {
        if !known.contains(&k.as_str()) {
            let hint = match closest(k, known) {
                Some(c) => format!(" (did you mean `{c}`?)"),
                None => String::new(),
            };
            let list: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
            return Err(ConfigError::entry(
                at,
                format!(
                    "unknown key `{k}`{hint}; the keys here are {}",
                    list.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// The first line (1-based) that opens table `k` or sets key `k` at the
/// start of a line, for locating top-level mistakes.
fn line_of(text: &str, k: &str, table: bool) -> Option<usize> {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            if table {
                let inner = l.trim_start_matches('[').trim_start();
                l.starts_with('[')
                    && inner.starts_with(k)
                    && inner[k.len()..].starts_with([']', '.', ' '])
            } else {
                l.starts_with(k) && l[k.len()..].trim_start().starts_with('=')
            }
        })
        .map(|i| i + 1)
}

/// Rejects top-level tables and keys the file format does not have.
fn only_tables(doc: &toml::Table, text: &str) -> Result<(), ConfigError> {
    for (k, v) in doc {
        if TABLES.iter().any(|(t, _)| t == k) {
            continue;
        }
        let (written, what, table) = match v {
            Value::Array(a) if a.iter().all(|x| x.is_table()) && !a.is_empty() => {
                (format!("[[{k}]]"), "table", true)
            }
            Value::Table(_) => (format!("[{k}]"), "table", true),
            _ => (format!("`{k}`"), "top-level key", false),
        };
        let names: Vec<&str> = TABLES.iter().map(|(t, _)| *t).collect();
        let hint = match closest(k, &names) {
            Some(c) => {
                let shown = TABLES.iter().find(|(t, _)| *t == c).map(|(_, s)| *s);
                format!(" (did you mean {}?)", shown.unwrap_or(c))
            }
            None => String::new(),
        };
        let all: Vec<&str> = TABLES.iter().map(|(_, s)| *s).collect();
        let at = match line_of(text, k, table) {
            Some(n) => format!("line {n}, {written}"),
            None => written,
        };
        return Err(ConfigError::entry(
            at,
            format!(
                "unknown {what}{hint}; the file's tables are {}",
                all.join(", ")
            ),
        ));
    }
    Ok(())
}

struct NameMap(BTreeMap<String, AcceptorId>);

impl Names for NameMap {
    fn id(&self, name: &str) -> Option<AcceptorId> {
        self.0.get(name).copied()
    }
}

/// The TOML type of `v` with its article ("an integer", "a table").
fn kind(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

/// Compiles a `quorums` / `safe` value: a set expression or an array of
/// arrays of acceptor names. `at` names the entry, `key` the field.
fn family(v: &Value, at: &str, key: &str, names: &NameMap) -> Result<Family, ConfigError> {
    let where_ = format!("{at}, `{key}`");
    match v {
        Value::String(text) => {
            let e = expr::parse(text).and_then(|e| compile(&e, names));
            e.map_err(|e| ConfigError::Expr {
                at: where_,
                text: text.clone(),
                column: e.column,
                message: e.message,
            })
        }
        Value::Array(sets) => {
            let mut lists = Vec::with_capacity(sets.len());
            for (i, s) in sets.iter().enumerate() {
                let Value::Array(members) = s else {
                    return Err(ConfigError::entry(
                        where_,
                        format!(
                            "set {} should be an array of acceptor names, found {}",
                            i + 1,
                            kind(s)
                        ),
                    ));
                };
                let mut names_in = Vec::with_capacity(members.len());
                for m in members {
                    let Value::String(n) = m else {
                        return Err(ConfigError::entry(
                            where_,
                            format!(
                                "set {}: acceptor names are strings, found {}",
                                i + 1,
                                kind(m)
                            ),
                        ));
                    };
                    names_in.push(n.clone());
                }
                lists.push(names_in);
            }
            compile_sets(&lists, names).map_err(|m| ConfigError::entry(where_, m))
        }
        other => Err(ConfigError::entry(
            where_,
            format!(
                "expected a set expression (string) or an array of sets, found {}",
                kind(other)
            ),
        )),
    }
}

fn acceptors(doc: &toml::Table) -> Result<(Vec<AcceptorEntry>, NameMap), ConfigError> {
    let Some(v) = doc.get("acceptors") else {
        return Err(ConfigError::entry(
            "[acceptors]",
            "missing: the file must list its acceptors",
        ));
    };
    let Value::Table(t) = v else {
        return Err(ConfigError::entry(
            "[acceptors]",
            format!("expected a table, found {}", kind(v)),
        ));
    };
    if t.is_empty() {
        return Err(ConfigError::entry("[acceptors]", "no acceptors"));
    }
    if t.len() > MAX_ACCEPTORS {
        return Err(ConfigError::entry(
            "[acceptors]",
            format!(
                "{} acceptors, more than the limit of {MAX_ACCEPTORS}",
                t.len()
            ),
        ));
    }
    let mut entries = Vec::with_capacity(t.len());
    let mut names = BTreeMap::new();
    for (i, (name, raw)) in t.iter().enumerate() {
        let at = format!("acceptor `{name}`");
        let Value::Table(fields) = raw else {
            return Err(ConfigError::entry(
                at,
                format!(
                    "expected a table such as `{name} = {{}}`, found {}",
                    kind(raw)
                ),
            ));
        };
        only_keys(fields, &at, &["addr"])?;
        let addr = match fields.get("addr") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                return Err(ConfigError::entry(
                    at,
                    format!("`addr` should be a string, found {}", kind(other)),
                ))
            }
        };
        names.insert(name.clone(), AcceptorId(i as u16));
        entries.push(AcceptorEntry {
            name: name.clone(),
            addr,
            raw: raw.clone(),
        });
    }
    Ok((entries, NameMap(names)))
}

fn learners(
    doc: &toml::Table,
    names: &NameMap,
) -> Result<(Vec<LearnerEntry>, Vec<LearnerSpec>), ConfigError> {
    let Some(v) = doc.get("learners") else {
        return Err(ConfigError::entry(
            "[learners]",
            "missing: the file must define at least one learner",
        ));
    };
    let Value::Table(t) = v else {
        return Err(ConfigError::entry(
            "[learners]",
            format!("expected a table, found {}", kind(v)),
        ));
    };
    if t.is_empty() {
        return Err(ConfigError::entry("[learners]", "no learners"));
    }
    if t.len() > u16::MAX as usize {
        return Err(ConfigError::entry("[learners]", "more than 65535 learners"));
    }
    let mut entries = Vec::with_capacity(t.len());
    let mut specs = Vec::with_capacity(t.len());
    for (name, raw) in t {
        let at = format!("learner `{name}`");
        let Value::Table(fields) = raw else {
            return Err(ConfigError::entry(
                at,
                format!("expected a table with `quorums`, found {}", kind(raw)),
            ));
        };
        only_keys(fields, &at, &["quorums"])?;
        let Some(q) = fields.get("quorums") else {
            return Err(ConfigError::entry(at, "missing `quorums`"));
        };
        let quorums = family(q, &at, "quorums", names)?;
        if !quorums.is_satisfiable() {
            return Err(ConfigError::entry(at, "has no quorum"));
        }
        entries.push(LearnerEntry {
            name: name.clone(),
            raw: raw.clone(),
        });
        specs.push(LearnerSpec {
            name: name.clone(),
            quorums,
        });
    }
    Ok((entries, specs))
}

fn safety(
    doc: &toml::Table,
    names: &NameMap,
    learners: &[LearnerSpec],
) -> Result<Vec<SafetyEdge>, ConfigError> {
    let Some(v) = doc.get("safety") else {
        return Ok(Vec::new());
    };
    let Value::Array(entries) = v else {
        return Err(ConfigError::entry(
            "safety",
            format!(
                "expected `[[safety]]` entries (an array of tables), found {}",
                kind(v)
            ),
        ));
    };
    let learner_id = |n: &str| {
        learners
            .iter()
            .position(|l| l.name == n)
            .map(|i| LearnerId(i as u16))
    };
    let mut edges = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let at = format!("safety entry {}", i + 1);
        let Value::Table(fields) = e else {
            return Err(ConfigError::entry(
                at,
                format!("expected a table, found {}", kind(e)),
            ));
        };
        only_keys(fields, &at, &["learners", "safe"])?;
        let pair = match fields.get("learners") {
            Some(Value::Array(ls)) if ls.len() == 2 => {
                let mut ids = Vec::with_capacity(2);
                for l in ls {
                    let Value::String(n) = l else {
                        return Err(ConfigError::entry(
                            at,
                            format!("`learners` holds names (strings), found {}", kind(l)),
                        ));
                    };
                    let Some(id) = learner_id(n) else {
                        return Err(ConfigError::entry(
                            at,
                            format!("`learners`: unknown learner `{n}`"),
                        ));
                    };
                    ids.push(id);
                }
                (ids[0], ids[1])
            }
            Some(_) => {
                return Err(ConfigError::entry(
                    at,
                    "`learners` must be an array of exactly two learner names",
                ))
            }
            None => return Err(ConfigError::entry(at, "missing `learners`")),
        };
        let Some(s) = fields.get("safe") else {
            return Err(ConfigError::entry(at, "missing `safe`"));
        };
        let safe = family(s, &at, "safe", names)?;
        edges.push(SafetyEdge {
            learners: pair,
            safe,
        });
    }
    Ok(edges)
}

/// Keeps a parser message readable when the offending line is huge.
fn shorten(msg: &str) -> String {
    const MAX: usize = 160;
    msg.trim_end()
        .lines()
        .map(|l| {
            if l.chars().count() > MAX {
                let cut: String = l.chars().take(MAX).collect();
                format!("{cut}...")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub(crate) fn parse(text: &str) -> Result<Config, ConfigError> {
    let doc: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Toml(shorten(&e.to_string())))?;
    only_tables(&doc, text)?;
    let (acceptor_entries, names) = acceptors(&doc)?;
    let (learner_entries, specs) = learners(&doc, &names)?;
    let edges = safety(&doc, &names, &specs)?;
    let extra: toml::Table = doc
        .iter()
        .filter(|(k, _)| NODE_TABLES.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let graph = LearnerGraph {
        acceptors: acceptor_entries.iter().map(|a| a.name.clone()).collect(),
        learners: specs,
        edges,
    };
    Ok(Config {
        graph,
        acceptors: acceptor_entries,
        learners: learner_entries,
        extra,
    })
}
