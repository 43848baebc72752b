//! Golden tests of `hpaxos graph check|explain` on the examples (issue 2,
//! items 5-7): the JSON fixed by PRODUCT.md, exit codes 0 / 1 / 2, the
//! counterexample of examples/invalid.toml, and clear errors for bad input.

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

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim_end().to_string()
}

fn check_json(name: &str) -> (i32, String) {
    let o = hpaxos(&["graph", "check", &example(name), "--json"]);
    (o.status.code().unwrap_or(-1), stdout(&o))
}

fn explain_json(name: &str, faulty: &str) -> (i32, String) {
    let o = hpaxos(&[
        "graph",
        "explain",
        &example(name),
        "--faulty",
        faulty,
        "--json",
    ]);
    (o.status.code().unwrap_or(-1), stdout(&o))
}

#[test]
fn valid_examples_check_with_exit_0() {
    for name in ["classic.toml", "mixed.toml", "two-orgs.toml"] {
        assert_eq!(
            check_json(name),
            (
                0,
                r#"{"valid":true,"violations":[],"warnings":[]}"#.to_string()
            ),
            "{name}"
        );
    }
}

/// The closure's implied self-edge bob-bob (from alice-bob, "at most one
/// faulty") fails: two 4-of-7 quorums of bob can share one faulty acceptor.
#[test]
fn invalid_example_prints_a_genuine_counterexample_with_exit_1() {
    assert_eq!(
        check_json("invalid.toml"),
        (
            1,
            r#"{"valid":false,"violations":[{"faulty":["a1"],"learners":["bob","bob"],"quorums":[["a1","a2","a3","a4"],["a1","a5","a6","a7"]],"safe":["a2","a3","a4","a5","a6","a7"]}],"warnings":[]}"#
                .to_string()
        )
    );
    let o = hpaxos(&["graph", "check", &example("invalid.toml")]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert!(
        text.contains("bob can decide two different values when only a1 is faulty"),
        "{text}"
    );
    assert!(
        text.contains("quorum of bob        a1, a2, a3, a4"),
        "{text}"
    );
    assert!(
        text.contains("other quorum of bob  a1, a5, a6, a7"),
        "{text}"
    );
    assert!(!text.contains('\x1b'), "no colours when not on a terminal");
}

#[test]
fn explain_classic() {
    assert_eq!(
        explain_json("classic.toml", "a4"),
        (0, r#"{"broken":[],"counterexamples":[],"entangled":[["client","client"]],"faulty":["a4"],"live":["client"],"safe":["a1","a2","a3"],"valid":true,"warnings":[]}"#.to_string())
    );
    assert_eq!(
        explain_json("classic.toml", "a3,a4"),
        (
            0,
            r#"{"broken":[],"counterexamples":[],"entangled":[],"faulty":["a3","a4"],"live":[],"safe":["a1","a2"],"valid":true,"warnings":[]}"#.to_string()
        )
    );
}

#[test]
fn explain_mixed() {
    assert_eq!(
        explain_json("mixed.toml", ""),
        (0, r#"{"broken":[],"counterexamples":[],"entangled":[["alice","alice"],["alice","bob"],["bob","bob"]],"faulty":[],"live":["alice","bob"],"safe":["a1","a2","a3","a4","a5","a6","a7"],"valid":true,"warnings":[]}"#.to_string())
    );
    assert_eq!(
        explain_json("mixed.toml", "a7"),
        (0, r#"{"broken":[],"counterexamples":[],"entangled":[["alice","alice"]],"faulty":["a7"],"live":["alice","bob"],"safe":["a1","a2","a3","a4","a5","a6"],"valid":true,"warnings":[]}"#.to_string())
    );
}

#[test]
fn explain_two_orgs() {
    assert_eq!(
        explain_json("two-orgs.toml", "a1"),
        (0, r#"{"broken":[],"counterexamples":[],"entangled":[["acme","acme"],["acme","bolt"],["acme","bridge"],["bolt","bolt"],["bolt","bridge"],["bridge","bridge"]],"faulty":["a1"],"live":["acme","bolt","bridge"],"safe":["a2","a3","a4","b1","b2","b3","b4"],"valid":true,"warnings":[]}"#.to_string())
    );
    assert_eq!(
        explain_json("two-orgs.toml", "a1,b1"),
        (0, r#"{"broken":[],"counterexamples":[],"entangled":[["acme","acme"],["bolt","bolt"],["bridge","bridge"]],"faulty":["a1","b1"],"live":["acme","bolt","bridge"],"safe":["a2","a3","a4","b2","b3","b4"],"valid":true,"warnings":[]}"#.to_string())
    );
    let o = hpaxos(&[
        "graph",
        "explain",
        &example("two-orgs.toml"),
        "--faulty",
        "a1,b1",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    assert!(
        text.contains("not entangled  acme+bolt, acme+bridge, bolt+bridge"),
        "{text}"
    );
}

fn write_temp(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("hpaxos-graph-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write temp file");
    p.to_string_lossy().into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn bad_input_exits_2_with_a_message_that_says_where() {
    let cases = [
        ("malformed.toml", "[acceptors\n", "malformed TOML"),
        (
            "unknown.toml",
            "[acceptors]\na1 = {}\n[learners.x]\nquorums = \"a1 or a9\"\n",
            "learner `x`, `quorums`, column 7: unknown acceptor `a9`",
        ),
        (
            "threshold.toml",
            "[acceptors]\na1 = {}\na2 = {}\n[learners.x]\nquorums = \"3 of {a1, a2}\"\n",
            "threshold 3 is larger than the 2 item(s)",
        ),
        (
            "dup.toml",
            "[acceptors]\na1 = {}\n[learners.x]\nquorums = \"all {a1, a1}\"\n",
            "acceptor `a1` appears twice",
        ),
        (
            "empty.toml",
            "[acceptors]\na1 = {}\n[learners.x]\nquorums = []\n",
            "learner `x`, `quorums`: the list of sets is empty",
        ),
        (
            "edge.toml",
            "[acceptors]\na1 = {}\n[learners.x]\nquorums = \"a1\"\n[[safety]]\nlearners = [\"x\", \"y\"]\nsafe = \"a1\"\n",
            "safety entry 1: `learners`: unknown learner `y`",
        ),
    ];
    for (file, text, want) in cases {
        let path = write_temp(file, text);
        let o = hpaxos(&["graph", "check", &path, "--json"]);
        assert_eq!(o.status.code(), Some(2), "{file}");
        assert!(o.stdout.is_empty(), "{file}: nothing on stdout");
        assert!(stderr(&o).contains(want), "{file}: {}", stderr(&o));
    }
    let o = hpaxos(&[
        "graph",
        "explain",
        &example("classic.toml"),
        "--faulty",
        "a9",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--faulty: unknown acceptor `a9`"),
        "{}",
        stderr(&o)
    );
    let o = hpaxos(&["graph", "check", "/nonexistent/config.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read /nonexistent/config.toml"));
}
