//! Loader tests: the PRODUCT.md example file, and bad input that must give a
//! clear error saying where (issue 2, item 7).

use hpaxos_config::{parse_str, ConfigError};

const PRODUCT_EXAMPLE: &str = r#"
[acceptors]
a1 = { addr = "127.0.0.1:7101" }     # addr optional where nothing is networked
a2 = {}
a3 = {}
a4 = { addr = "127.0.0.1:7104" }

[learners.alice]
quorums = "3 of {a1, a2, a3, a4}"

[learners.bob]
quorums = [["a1", "a2"], ["a1", "a3"], ["a2", "a3"]]

[[safety]]
learners = ["alice", "alice"]
safe = "3 of {a1, a2, a3, a4}"

[[safety]]
learners = ["alice", "bob"]
safe = "all {a1, a2, a3, a4}"

[nodes.n1]
role = "acceptor"
"#;

#[test]
fn product_example_loads_with_ids_in_file_order() {
    let c = parse_str(PRODUCT_EXAMPLE).unwrap();
    assert_eq!(c.graph.acceptors, vec!["a1", "a2", "a3", "a4"]);
    assert_eq!(c.acceptors[0].addr.as_deref(), Some("127.0.0.1:7101"));
    assert_eq!(c.acceptors[1].addr, None);
    assert!(c.acceptors[3].raw.get("addr").is_some());
    assert_eq!(c.graph.learners[0].name, "alice");
    assert_eq!(c.graph.learners[1].name, "bob");
    assert_eq!(c.graph.edges.len(), 2);
    assert!(c.extra.contains_key("nodes"));
    assert!(c.learner_id("bob").is_some());
}

fn error_of(text: &str) -> String {
    match parse_str(text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

const HEAD: &str = "[acceptors]\na1 = {}\na2 = {}\na3 = {}\n";

#[test]
fn malformed_toml_is_reported_with_its_line() {
    let e = error_of("[acceptors\na1 = {}");
    assert!(e.starts_with("malformed TOML"), "{e}");
    assert!(e.contains("line 1"), "{e}");
}

#[test]
fn unknown_acceptor_names_learner_and_column() {
    let e = error_of(&format!(
        "{HEAD}[learners.x]\nquorums = \"2 of {{a1, a9}}\"\n"
    ));
    assert!(
        e.contains("learner `x`, `quorums`, column 11: unknown acceptor `a9`"),
        "{e}"
    );
}

#[test]
fn threshold_larger_than_items() {
    let e = error_of(&format!(
        "{HEAD}[learners.x]\nquorums = \"4 of {{a1, a2, a3}}\"\n"
    ));
    assert!(
        e.contains("threshold 4 is larger than the 3 item(s)"),
        "{e}"
    );
}

#[test]
fn duplicate_ids_are_rejected() {
    let e = error_of("[acceptors]\na1 = {}\na1 = {}\n[learners.x]\nquorums = \"a1\"\n");
    assert!(
        e.contains("malformed TOML") && e.contains("duplicate"),
        "{e}"
    );
    let e = error_of(&format!(
        "{HEAD}[learners.x]\nquorums = [[\"a1\", \"a1\"]]\n"
    ));
    assert!(e.contains("appears twice"), "{e}");
    let e = error_of(&format!(
        "{HEAD}[learners.x]\nquorums = \"any {{a1, a2, a1}}\"\n"
    ));
    assert!(e.contains("column 14") && e.contains("twice"), "{e}");
}

#[test]
fn empty_family_and_learner_without_quorum() {
    let e = error_of(&format!("{HEAD}[learners.x]\nquorums = []\n"));
    assert!(
        e.contains("learner `x`, `quorums`") && e.contains("empty"),
        "{e}"
    );
    let e = error_of(&format!(
        "{HEAD}[learners.x]\nquorums = \"a1\"\n[[safety]]\nlearners = [\"x\", \"x\"]\nsafe = []\n"
    ));
    assert!(
        e.contains("safety entry 1, `safe`") && e.contains("empty"),
        "{e}"
    );
    let e = error_of(&format!("{HEAD}[learners.x]\n"));
    assert!(e.contains("learner `x`: missing `quorums`"), "{e}");
    let e = error_of(HEAD);
    assert!(e.contains("[learners]"), "{e}");
}

#[test]
fn safety_entries_are_checked() {
    let base = format!("{HEAD}[learners.x]\nquorums = \"a1\"\n");
    let e = error_of(&format!(
        "{base}[[safety]]\nlearners = [\"x\", \"y\"]\nsafe = \"a1\"\n"
    ));
    assert!(
        e.contains("safety entry 1") && e.contains("unknown learner `y`"),
        "{e}"
    );
    let e = error_of(&format!(
        "{base}[[safety]]\nlearners = [\"x\"]\nsafe = \"a1\"\n"
    ));
    assert!(e.contains("exactly two"), "{e}");
    let e = error_of(&format!(
        "{base}[[safety]]\nlearners = [\"x\", \"x\"]\nsafe = \"a1\"\n[[safety]]\nlearners = [\"x\", \"x\"]\nsafe = \"a1 or\"\n"
    ));
    assert!(e.contains("safety entry 2, `safe`, column 6"), "{e}");
}

#[test]
fn io_error_names_the_file() {
    let e = hpaxos_config::load_file("/nonexistent/x.toml").unwrap_err();
    assert!(matches!(e, ConfigError::Io { .. }));
    assert!(e.to_string().contains("/nonexistent/x.toml"));
}

#[test]
fn limits_and_unknown_fields() {
    let mut many = String::from("[acceptors]\n");
    for i in 0..257 {
        many.push_str(&format!("a{i} = {{}}\n"));
    }
    many.push_str("[learners.x]\nquorums = \"a1\"\n");
    let e = error_of(&many);
    assert!(
        e.contains("257 acceptors, more than the limit of 256"),
        "{e}"
    );
    // Unknown keys in learner and safety entries are errors (tests/strict.rs).
    let e = error_of(&format!(
        "{HEAD}[learners.x]\nquorums = \"a1\"\nrole = \"observer\"\n"
    ));
    assert!(e.starts_with("learner `x`: unknown key `role`"), "{e}");
    let e = error_of(&format!("{HEAD}[learners.x]\nquorums = 3\n"));
    assert!(
        e.contains("expected a set expression (string) or an array of sets, found an integer"),
        "{e}"
    );
}
