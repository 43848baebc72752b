//! Golden tests of the honest trust tools (issue 10, item 1): `graph explain`
//! on an invalid graph validates first and lists, besides the PRODUCT.md
//! fields, `"valid"` and `"broken"` (entangled pairs whose agreement the
//! invalid graph does not guarantee for this faulty set) with their
//! counterexample; a misspelt table is an unusable file (exit 2), not a
//! valid one without edges; warnings for a file without edges and a learner
//! without a self-edge in the closure.

use std::path::PathBuf;
use std::process::{Command, Output};

fn example(name: &str) -> String {
    let p: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "..", "examples", name]
        .iter()
        .collect();
    p.to_string_lossy().into_owned()
}

fn hpaxos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hpaxos"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("the hpaxos binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim_end().to_string()
}

/// examples/invalid.toml with a1 faulty: the closure relates all three
/// pairs, but bob's implied self-edge fails there (two bob quorums share
/// only a1), and alice is entangled with bob, so none of the three is kept.
#[test]
fn explain_invalid_lists_broken_pairs_with_the_counterexample() {
    let f = example("invalid.toml");
    let o = hpaxos(&["graph", "explain", &f, "--faulty", "a1", "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let j: serde_json::Value = serde_json::from_str(&text(&o.stdout)).unwrap();
    assert_eq!(j["valid"], false);
    assert_eq!(
        j["entangled"].to_string(),
        r#"[["alice","alice"],["alice","bob"],["bob","bob"]]"#
    );
    assert_eq!(
        j["broken"].to_string(),
        r#"[["alice","alice"],["alice","bob"],["bob","bob"]]"#
    );
    let c = &j["counterexamples"][2];
    assert_eq!(c["pair"].to_string(), r#"["bob","bob"]"#);
    assert_eq!(c["learners"].to_string(), r#"["bob","bob"]"#);
    assert_eq!(c["safe"].to_string(), r#"["a2","a3","a4","a5","a6","a7"]"#);
    // The two quorums are 4-of-7 sets sharing only the faulty a1.
    let q: Vec<Vec<String>> = serde_json::from_value(c["quorums"].clone()).unwrap();
    assert!(q
        .iter()
        .all(|s| s.len() == 4 && s.contains(&"a1".to_string())));
    assert!(q[0].iter().filter(|a| q[1].contains(a)).eq(["a1"].iter()));

    // With nothing faulty the same invalid graph keeps every pair.
    let o = hpaxos(&["graph", "explain", &f, "--faulty", "", "--json"]);
    let j: serde_json::Value = serde_json::from_str(&text(&o.stdout)).unwrap();
    assert_eq!(
        (j["valid"].clone(), j["broken"].to_string()),
        (false.into(), "[]".into())
    );

    let o = hpaxos(&["graph", "explain", &f, "--faulty", "a1"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        text(&o.stdout),
        format!(
            "faulty         a1
safe           a2, a3, a4, a5, a6, a7
entangled      (none)
broken         alice+alice, alice+bob, bob+bob
not entangled  (none)
live           alice, bob
not live       (none)
(entangled: the closure of the safety edges holds for this safe set; live: has a quorum of safe acceptors)

{f}: the learner graph is invalid (`hpaxos graph check {f}`): its closure is not kept.
broken: 3 pairs the closure relates but whose agreement is not guaranteed with these faulty acceptors:

  alice+alice, alice+bob, bob+bob (bob can decide two different values):
    quorum of bob        {q0}
    other quorum of bob  {q1}
    the two quorums share only a1, which is faulty",
            q0 = q[0].join(", "),
            q1 = q[1].join(", "),
        )
    );
}

/// A valid graph never has broken pairs, and says nothing more.
#[test]
fn explain_valid_has_no_broken_section() {
    let o = hpaxos(&["graph", "explain", &example("mixed.toml"), "--faulty", "a1"]);
    let out = text(&o.stdout);
    assert!(!out.contains("broken"), "{out}");
    assert!(!out.contains("invalid"), "{out}");
}

fn write(dir: &tempfile::TempDir, name: &str, body: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, body).unwrap();
    p.to_string_lossy().into_owned()
}

const HEAD: &str =
    "[acceptors]\na1 = {}\na2 = {}\na3 = {}\n\n[learners.x]\nquorums = \"2 of {a1, a2, a3}\"\n";

#[test]
fn misspelt_safety_is_unusable_not_valid() {
    let d = tempfile::tempdir().unwrap();
    let f = write(
        &d,
        "t.toml",
        &format!("{HEAD}\n[[saftey]]\nlearners = [\"x\", \"x\"]\nsafe = \"all {{a1, a2, a3}}\"\n"),
    );
    for args in [
        vec!["graph", "check", &f],
        vec!["graph", "explain", &f, "--faulty", ""],
    ] {
        let o = hpaxos(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert_eq!(
            text(&o.stderr),
            "error: line 9, [[saftey]]: unknown table (did you mean [[safety]]?); the file's tables are [acceptors], [learners.NAME], [[safety]], [cluster], [nodes.NAME]"
        );
        assert_eq!(text(&o.stdout), "");
    }
}

#[test]
fn warnings_for_no_edge_and_no_self_edge() {
    let d = tempfile::tempdir().unwrap();
    let f = write(&d, "none.toml", HEAD);
    let o = hpaxos(&["graph", "check", &f]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        text(&o.stderr),
        format!("warning: {f}: [[safety]]: the file has no safety edge: no learner is guaranteed to agree with any other, nor with itself")
    );
    let o = hpaxos(&["graph", "check", &f, "--json"]);
    assert_eq!(text(&o.stderr), "", "JSON mode keeps stderr clean");
    assert_eq!(
        text(&o.stdout),
        r#"{"valid":true,"violations":[],"warnings":["[[safety]]: the file has no safety edge: no learner is guaranteed to agree with any other, nor with itself"]}"#
    );
    let f = write(
        &d,
        "lonely.toml",
        &format!("{HEAD}\n[learners.y]\nquorums = \"a1\"\n\n[[safety]]\nlearners = [\"x\", \"x\"]\nsafe = \"all {{a1, a2, a3}}\"\n"),
    );
    let o = hpaxos(&["graph", "explain", &f, "--faulty", ""]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        text(&o.stderr),
        format!("warning: {f}: learner `y`: no safety edge involves y, so the closure has no self-edge for it: two nodes running y may decide different values; add [[safety]] learners = [\"y\", \"y\"]")
    );
}
