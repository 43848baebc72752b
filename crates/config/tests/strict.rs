//! Golden tests of the strict loader (issue 10, "honest trust tools"): an
//! unknown table or key anywhere in the fixed tables is an error that says
//! where, so a typo cannot silently drop a safety edge (`[[saftey]]` used to
//! load as a file with no edges and be reported "valid"); and the warnings
//! for what loads but is probably a mistake.

use hpaxos_config::parse_str;

const HEAD: &str =
    "[acceptors]\na1 = {}\na2 = {}\na3 = {}\n\n[learners.x]\nquorums = \"2 of {a1, a2, a3}\"\n";
const EDGE: &str = "\n[[safety]]\nlearners = [\"x\", \"x\"]\nsafe = \"all {a1, a2, a3}\"\n";

fn error_of(text: &str) -> String {
    match parse_str(text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

const TABLES: &str =
    "the file's tables are [acceptors], [learners.NAME], [[safety]], [cluster], [nodes.NAME]";

#[test]
fn misspelt_safety_table_is_an_error_with_its_line() {
    let e = error_of(&format!(
        "{HEAD}\n[[saftey]]\nlearners = [\"x\", \"x\"]\nsafe = \"all {{a1, a2, a3}}\"\n"
    ));
    assert_eq!(
        e,
        format!("line 9, [[saftey]]: unknown table (did you mean [[safety]]?); {TABLES}")
    );
}

#[test]
fn unknown_tables_and_top_level_keys_are_errors() {
    assert_eq!(
        error_of(&format!("{HEAD}{EDGE}\n[learner.y]\nquorums = \"a1\"\n")),
        format!("line 13, [learner]: unknown table (did you mean [learners.NAME]?); {TABLES}")
    );
    assert_eq!(
        error_of(&format!("{HEAD}{EDGE}\n[metrics]\nport = 9\n")),
        format!("line 13, [metrics]: unknown table; {TABLES}")
    );
    assert_eq!(
        error_of(&format!("version = 2\n{HEAD}{EDGE}")),
        format!("line 1, `version`: unknown top-level key; {TABLES}")
    );
    assert_eq!(
        error_of(&format!("{HEAD}{EDGE}\n[node.n1]\naddr = \"x:1\"\n")),
        format!("line 13, [node]: unknown table (did you mean [nodes.NAME]?); {TABLES}")
    );
}

#[test]
fn node_tables_are_left_to_the_node() {
    let c = parse_str(&format!(
        "{HEAD}{EDGE}\n[cluster]\nwindow = 4\n\n[nodes.n1]\naddr = \"127.0.0.1:7101\"\n"
    ))
    .unwrap();
    assert_eq!(c.extra.keys().collect::<Vec<_>>(), ["cluster", "nodes"]);
}

#[test]
fn unknown_keys_in_entries_are_errors() {
    assert_eq!(
        error_of(
            "[acceptors]\na1 = { adr = \"127.0.0.1:7101\" }\n[learners.x]\nquorums = \"a1\"\n"
        ),
        "acceptor `a1`: unknown key `adr` (did you mean `addr`?); the keys here are `addr`"
    );
    assert_eq!(
        error_of("[acceptors]\na1 = {}\n[learners.x]\nquorum = \"a1\"\n"),
        "learner `x`: unknown key `quorum` (did you mean `quorums`?); the keys here are `quorums`"
    );
    assert_eq!(
        error_of(&format!(
            "{HEAD}{EDGE}\n[[safety]]\nlearners = [\"x\", \"x\"]\nsave = \"a1\"\n"
        )),
        "safety entry 2: unknown key `save` (did you mean `safe`?); the keys here are `learners`, `safe`"
    );
    assert_eq!(
        error_of(&format!(
            "{HEAD}\n[[safety]]\nlearners = [\"x\", \"x\"]\nsafe = \"a1\"\nnote = \"why\"\n"
        )),
        "safety entry 1: unknown key `note`; the keys here are `learners`, `safe`"
    );
}

#[test]
fn a_file_without_edges_warns_once() {
    let c = parse_str(HEAD).unwrap();
    let w: Vec<String> = c.warnings().iter().map(|w| w.to_string()).collect();
    assert_eq!(
        w,
        ["[[safety]]: the file has no safety edge: no learner is guaranteed to agree with any other, nor with itself"]
    );
}

/// A learner that no edge touches has no self-edge in the closure (PRODUCT.md:
/// the closure's self-edges come from edges at that learner); one whose
/// only edge is with another learner gets one (symmetry + transitivity), so
/// it is not warned about.
#[test]
fn a_learner_without_self_edge_in_the_closure_warns() {
    let text = format!(
        "{HEAD}\n[learners.y]\nquorums = \"all {{a1, a2, a3}}\"\n\n[learners.z]\nquorums = \"a1\"\n\n\
         [[safety]]\nlearners = [\"x\", \"y\"]\nsafe = \"all {{a1, a2, a3}}\"\n"
    );
    let c = parse_str(&text).unwrap();
    let w: Vec<String> = c.warnings().iter().map(|w| w.to_string()).collect();
    assert_eq!(
        w,
        ["learner `z`: no safety edge involves z, so the closure has no self-edge for it: two nodes running z may decide different values; add [[safety]] learners = [\"z\", \"z\"]"]
    );
    assert!(parse_str(&format!("{HEAD}{EDGE}"))
        .unwrap()
        .warnings()
        .is_empty());
}
