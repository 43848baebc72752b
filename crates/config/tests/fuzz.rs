//! Fuzzing with proptest (issue 2, item 7): no input string panics the
//! set-expression parser, the compiler or the configuration loader, and
//! whatever loads can be checked (validity, explain) without panicking.
//! Inputs are arbitrary text, grammar-biased token soups, and documents
//! assembled from plausible and broken TOML fragments.

use hpaxos_config::compile::{compile, Names};
use hpaxos_config::{expr, parse_str};
use hpaxos_core::{AccSet, AcceptorId};
use proptest::prelude::*;

struct Four;
impl Names for Four {
    fn id(&self, name: &str) -> Option<AcceptorId> {
        ["a1", "a2", "a3", "a4"]
            .iter()
            .position(|n| *n == name)
            .map(|i| AcceptorId(i as u16))
    }
}

const TOKENS: &[&str] = &[
    "a1",
    "a2",
    "a3",
    "a4",
    "zz",
    "or",
    "and",
    "of",
    "all",
    "any",
    "{",
    "}",
    "(",
    ")",
    ",",
    "0",
    "1",
    "2",
    "3",
    "5",
    "18446744073709551616",
    " ",
    "é",
    "\"",
    "#",
    "\n",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..40).prop_map(|v| v.join(" "))
}

const FRAGMENTS: &[&str] = &[
    "[acceptors]",
    "a1 = {}",
    "a2 = { addr = \"127.0.0.1:1\" }",
    "a3 = { addr = 5 }",
    "a4 = \"x\"",
    "a4 = {}",
    "[learners.x]",
    "[learners.y]",
    "[learners]",
    "quorums = \"2 of {a1, a2, a4}\"",
    "quorums = [[\"a1\"], [\"a2\", \"a4\"]]",
    "quorums = []",
    "quorums = [[]]",
    "quorums = 3",
    "[[safety]]",
    "learners = [\"x\", \"x\"]",
    "learners = [\"x\", \"y\"]",
    "learners = [\"x\"]",
    "safe = \"all {a1, a2}\"",
    "safe = \"a1 or a4\"",
    "safe = [[\"a2\"]]",
    "[nodes.n1]",
    "role = \"acceptor\"",
    "safety = 1",
    "[",
    "\"",
];

const FAMILIES: &[&str] = &[
    "\"2 of {a1, a2, a4}\"",
    "\"a1 and (a2 or a3)\"",
    "\"all {a1, a2, a3}\"",
    "\"any {2 of {a1, a2, a3}, a4}\"",
    "\"3 of {a1, a2, a3, a4}\"",
    "[[\"a1\"], [\"a2\", \"a4\"]]",
    "[[\"a1\", \"a2\", \"a3\"]]",
    "[]",
    "[[]]",
    "3",
];

fn family_text() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::sample::select(FAMILIES).prop_map(str::to_string),
        1 => soup().prop_map(|e| format!("{e:?}")),
    ]
}

/// A plausible configuration with random families and edges, then a few
/// random fragment insertions or line deletions.
fn document() -> impl Strategy<Value = String> {
    (
        3usize..=5,
        prop::collection::vec(family_text(), 1..=3),
        prop::collection::vec((0usize..4, 0usize..4, family_text()), 0..4),
        prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                prop::sample::select(FRAGMENTS),
                any::<bool>(),
            ),
            0..2,
        ),
    )
        .prop_map(|(n, learners, edges, edits)| {
            let mut lines = vec!["[acceptors]".to_string()];
            for i in 1..=n {
                lines.push(format!("a{i} = {{}}"));
            }
            let names = ["x", "y", "z"];
            for (i, q) in learners.iter().enumerate() {
                lines.push(format!("[learners.{}]", names[i]));
                lines.push(format!("quorums = {q}"));
            }
            for (a, b, q) in &edges {
                let la = names.get(*a).copied().unwrap_or("nobody");
                let lb = names.get(*b).copied().unwrap_or("x");
                lines.push("[[safety]]".into());
                lines.push(format!("learners = [\"{la}\", \"{lb}\"]"));
                lines.push(format!("safe = {q}"));
            }
            for (at, frag, delete) in edits {
                let i = at.index(lines.len());
                if delete {
                    lines.remove(i);
                } else {
                    lines.insert(i, frag.to_string());
                }
            }
            lines.join("\n")
        })
}

/// Loading, and if that works, checking and explaining, must not panic.
fn exercise(text: &str) {
    if let Ok(cfg) = parse_str(text) {
        if cfg.graph.acceptors.len() <= 8 {
            let _ = cfg.validate();
            let faulty = AccSet::singleton(AcceptorId(0));
            let _ = hpaxos_core::graph::explain(&cfg.graph, &faulty);
            let _ = cfg.parse_acceptor_list("a1, zz");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn expression_parser_never_panics_on_any_text(s in any::<String>()) {
        if let Ok(e) = expr::parse(&s) {
            let _ = compile(&e, &Four);
        }
    }

    #[test]
    fn expression_parser_never_panics_on_token_soup(s in soup()) {
        if let Ok(e) = expr::parse(&s) {
            if let Ok(f) = compile(&e, &Four) {
                // A compiled family is a well-formed threshold tree.
                prop_assert!(f.k() as usize <= f.item_count());
            }
        } else {
            let err = expr::parse(&s).unwrap_err();
            prop_assert!(err.column.0 >= 1 && err.column.0 <= s.chars().count() + 1);
        }
    }

    #[test]
    fn loader_never_panics_on_any_text(s in any::<String>()) {
        exercise(&s);
    }

    #[test]
    fn loader_never_panics_on_assembled_documents(s in document()) {
        exercise(&s);
    }
}
