//! `hpaxos check` output (issue 12, item 4): a complete run says so; a run
//! stopped by a bound ends with "incomplete: nothing proven" naming the
//! bound and exits 0 (PRODUCT.md), or 3 with `--require-complete`; the JSON
//! keeps `states`, `complete`, `violations` and names the bound; a swarm
//! search finds the invalid graph's disagreement and prints a replay line
//! that finds it again.

use std::path::PathBuf;
use std::process::{Command, Output};

fn data(name: &str) -> String {
    let p: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "check", "data", name]
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

fn last_line(o: &Output) -> String {
    stdout(o).lines().last().unwrap_or_default().to_string()
}

#[test]
fn a_complete_run_says_everything_was_checked() {
    let f = data("two-safe.toml");
    let o = hpaxos(&["check", &f, "--fake", "a3", "--ballots", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(
        last_line(&o),
        "no violation found: every reachable state was checked"
    );
}

#[test]
fn a_run_stopped_by_the_state_limit_proves_nothing_and_says_so() {
    let f = data("one-safe.toml");
    let args = ["check", f.as_str(), "--fake", "a2", "--max-states", "50"];
    let o = hpaxos(&args);
    assert_eq!(o.status.code(), Some(0), "exit 0 by PRODUCT.md");
    assert_eq!(
        last_line(&o),
        "incomplete: nothing proven (state limit 50 hit (--max-states))"
    );
    let mut strict = args.to_vec();
    strict.push("--require-complete");
    let o = hpaxos(&strict);
    assert_eq!(o.status.code(), Some(3));
    assert!(last_line(&o).starts_with("incomplete: nothing proven"));

    let mut json = args.to_vec();
    json.push("--json");
    let o = hpaxos(&json);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("one JSON object");
    assert_eq!(v["complete"], false);
    assert_eq!(v["violations"], 0);
    assert!(v["states"].as_u64().is_some_and(|n| n >= 50));
    assert!(v["stopped_by"]
        .as_str()
        .is_some_and(|s| s.contains("--max-states")));
}

#[test]
fn depth_limits_and_undecided_runs_are_reported() {
    let f = data("one-safe.toml");
    let o = hpaxos(&["check", &f, "--fake", "a2", "--max-depth", "1"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        last_line(&o),
        "incomplete: nothing proven (depth limit 1 hit (--max-depth))"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning: no explored state has a decision"),
        "{err}"
    );
}

#[test]
fn swarm_search_finds_the_invalid_graphs_disagreement_and_its_replay_line_too() {
    let f = data("invalid-pair.toml");
    let o = hpaxos(&[
        "check",
        &f,
        "--allow-invalid",
        "--any-1c",
        "--search",
        "swarm",
        "--seed",
        "5",
        "--seeds",
        "4",
        "--threads",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains("VIOLATION of safety"), "{out}");
    let replay = out
        .lines()
        .find_map(|l| l.split("replay: hpaxos ").nth(1))
        .expect("a replay line");
    let args: Vec<&str> = replay.split_whitespace().collect();
    let again = hpaxos(&args);
    assert_eq!(again.status.code(), Some(1), "{}", stdout(&again));
    assert!(stdout(&again).contains("VIOLATION of safety"));
}

/// `--symmetry on` (issue 12, item 2) on the classic cluster's smallest
/// instance: a complete run over one state per orbit of the 6 permutations
/// of a1..a3, fewer states than `--symmetry off` with the same verdict; the
/// JSON gives the group, that sleep sets were on, states/s and bytes per
/// state. BFS refuses it (exit 2).
#[test]
fn symmetry_reduces_the_classic_cluster_and_reports_its_group() {
    let f = data("classic.toml");
    let run = |sym: &str| -> serde_json::Value {
        let o = hpaxos(&[
            "check",
            &f,
            "--fake",
            "a4",
            "--ballots",
            "1",
            "--values",
            "1",
            "--fake-1b",
            "none",
            "--no-deepening",
            "--symmetry",
            sym,
            "--dead",
            "off",
            "--json",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
        serde_json::from_str(&stdout(&o)).expect("one JSON object")
    };
    let (off, on) = (run("off"), run("on"));
    assert_eq!(off["complete"], true);
    assert_eq!(on["complete"], true);
    assert_eq!(off["violations"], 0);
    assert_eq!(on["violations"], 0);
    assert_eq!(off["symmetry_group"], 1);
    assert_eq!(on["symmetry_group"], 6);
    // Sleep sets compose with symmetry (crates/check/src/search.rs).
    assert_eq!(on["sleep_sets"], true);
    assert_eq!(off["sleep_sets"], true);
    // The orbits of the full search's states (tests/symmetry.rs).
    assert_eq!(off["states"], 15968);
    assert_eq!(on["states"], 2856);
    assert!(on["states_per_second"].as_f64().is_some_and(|x| x > 0.0));
    assert!(on["bytes_per_state"].as_f64().is_some_and(|x| x > 0.0));
    let o = hpaxos(&[
        "check",
        &f,
        "--fake",
        "a4",
        "--search",
        "bfs",
        "--symmetry",
        "on",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

/// `--dead` (issue 12, the dead-message reduction, on by default): on the
/// CI line `one-safe.toml --fake a2 --restart a1` (safety only) the run
/// completes clean both ways, with the key classes of the full search's
/// 154656 states (21576, `crates/check/tests/dead.rs`) and the JSON
/// saying which; with `--dead off` every state.
#[test]
fn dead_reduction_is_the_default_and_merges_dead_states() {
    let f = data("one-safe.toml");
    let run = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec![
            "check",
            &f,
            "--fake",
            "a2",
            "--restart",
            "a1",
            "--no-deepening",
            "--require-complete",
            "--json",
        ];
        args.extend_from_slice(extra);
        let o = hpaxos(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
        serde_json::from_str(&stdout(&o)).expect("one JSON object")
    };
    let (on, off) = (run(&[]), run(&["--dead", "off"]));
    for r in [&on, &off] {
        assert_eq!(r["complete"], true);
        assert_eq!(r["violations"], 0);
        assert_eq!(r["decided"], true);
    }
    assert_eq!(on["dead"], true);
    assert_eq!(off["dead"], false);
    assert_eq!(off["states"], 154656);
    assert_eq!(on["states"], 21576);
}

/// `--no-fake-2av --no-fake-2b` take the fake's 2av and 2b out of its
/// domain: on self-solo.toml (a1 alone is alice's quorum) the run still
/// completes and decides, with fewer messages; on self-split.toml, where
/// alice's quorum needs the fake, nothing can be decided any more and the
/// run reports the vacuous model (exit 1).
#[test]
fn no_fake_2av_2b_shrink_the_fake_domain() {
    let run = |file: &str, extra: &[&str]| -> (Option<i32>, serde_json::Value) {
        let f = data(file);
        let mut args = vec![
            "check",
            &f,
            "--fake",
            "a2",
            "--ballots",
            "1",
            "--values",
            "1",
            "--no-deepening",
            "--json",
        ];
        args.extend_from_slice(extra);
        let o = hpaxos(&args);
        let v = serde_json::from_str(&stdout(&o)).expect("one JSON object");
        (o.status.code(), v)
    };
    let (rc, full) = run("self-solo.toml", &[]);
    assert_eq!(rc, Some(0), "{full}");
    let (rc, small) = run("self-solo.toml", &["--no-fake-2av", "--no-fake-2b"]);
    assert_eq!(rc, Some(0), "{small}");
    assert_eq!(small["complete"], true);
    assert_eq!(small["decided"], true);
    assert!(
        small["messages"].as_u64() < full["messages"].as_u64(),
        "{small} / {full}"
    );
    let (rc, vacuous) = run("self-split.toml", &["--no-fake-2av", "--no-fake-2b"]);
    assert_eq!(rc, Some(1), "{vacuous}");
    assert_eq!(vacuous["decided"], false);
}

/// `--late` (spec/HPaxosLate.tla): the safe acceptors take late Phase1b and
/// Phase2av, as the node runs them, and refinement is checked against
/// HPaxosLate. On an instance with two ballots the search is complete, finds
/// no violation, and explores a different space than the seed's acceptors
/// (late 1b replace the ones they contain).
#[test]
fn late_steps_are_checked_against_hpaxos_late() {
    let run = |extra: &[&str]| -> (Option<i32>, serde_json::Value) {
        let f = data("one-safe.toml");
        let mut args = vec![
            "check",
            &f,
            "--fake",
            "a2",
            "--values",
            "1",
            "--fake-1b",
            "one",
            "--proposers",
            "1",
            "--refinement",
            "--no-deepening",
            "--json",
        ];
        args.extend_from_slice(extra);
        let o = hpaxos(&args);
        let v = serde_json::from_str(&stdout(&o)).expect("one JSON object");
        (o.status.code(), v)
    };
    let (rc, seed) = run(&[]);
    assert_eq!(rc, Some(0), "{seed}");
    let (rc, late) = run(&["--late"]);
    assert_eq!(rc, Some(0), "{late}");
    assert_eq!(late["complete"], true, "{late}");
    assert_eq!(late["decided"], true, "{late}");
    assert_ne!(late["states"], seed["states"], "{late} / {seed}");
}

/// `--range` (issue 9, item 1): proposers' 1a are range 1a and acceptors
/// answer with range 1b, which the refinement monitor expands into
/// per-slot steps. The search is complete, finds no violation, a learner
/// decides, and the space differs from the per-slot one.
#[test]
fn range_phase1_is_checked_with_refinement() {
    let run = |extra: &[&str]| -> (Option<i32>, serde_json::Value) {
        let f = data("one-safe.toml");
        let mut args = vec![
            "check",
            &f,
            "--fake",
            "a2",
            "--values",
            "1",
            "--fake-1b",
            "one",
            "--proposers",
            "1",
            "--refinement",
            "--no-deepening",
            "--json",
        ];
        args.extend_from_slice(extra);
        let o = hpaxos(&args);
        let v = serde_json::from_str(&stdout(&o)).expect("one JSON object");
        (o.status.code(), v)
    };
    let (rc, per_slot) = run(&[]);
    assert_eq!(rc, Some(0), "{per_slot}");
    let (rc, range) = run(&["--range"]);
    assert_eq!(rc, Some(0), "{range}");
    assert_eq!(range["complete"], true, "{range}");
    assert_eq!(range["decided"], true, "{range}");
    assert_ne!(range["states"], per_slot["states"], "{range} / {per_slot}");
}
