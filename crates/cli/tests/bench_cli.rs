//! `hpaxos bench` end to end (issue 9, item 6): a short run of the embedded
//! 4-acceptor configuration prints one JSON object with the PRODUCT.md
//! fields, commits commands, measures the machine's limits and derives a
//! bound and a floor from them, and writes the same object to `--out`.
//! No timing is asserted (the machine is shared): only that the fields are
//! there, are numbers where numbers are due, and that commands committed.
//! The cluster's processes are children of the bench, which stops them on
//! every exit path; the bench itself is bounded by `--seconds`.

use std::process::Command;

#[test]
fn a_short_bench_reports_throughput_latency_and_the_machine_bound() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench.json");
    let run = Command::new(env!("CARGO_BIN_EXE_hpaxos"))
        .args(["bench", "--seconds", "2", "--warmup", "0.5", "--json"])
        .args(["--clients", "8", "--batch", "8"])
        // Issue 9 item 3: the batch bounds reach the nodes' `[cluster]`.
        .args(["--batch-bytes", "65536", "--batch-delay-ms", "0", "--out"])
        .arg(&out)
        .env("NO_COLOR", "1")
        .output()
        .expect("the hpaxos binary runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "exit {:?}\n{stdout}\n{stderr}",
        run.status
    );
    let j: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    for f in [
        "commands_per_second",
        "slots_per_second",
        "bytes_per_second",
        "p50_ms",
        "p99_ms",
        "p999_ms",
        "bound_commands_per_second",
        "floor_ms",
    ] {
        assert!(j[f].is_number(), "{f} is not a number: {j}");
    }
    assert_eq!(j["config"], "classic");
    assert_eq!(j["batch_bytes"], 65536, "{j}");
    assert_eq!(j["batch_delay_ms"], 0, "{j}");
    assert!(j["commands_per_second"].as_f64().unwrap() > 0.0, "{j}");
    assert!(j["committed"].as_u64().unwrap() > 0, "{j}");
    assert!(
        j["bound_commands_per_second"].as_f64().unwrap() > 0.0,
        "{j}"
    );
    assert!(j["floor_ms"].as_f64().unwrap() > 0.0, "{j}");
    // The one learner of the 4-acceptor configuration has its own figures.
    let ls = j["learners"].as_array().expect("per-learner figures");
    assert_eq!(ls.len(), 1, "{j}");
    assert_eq!(ls[0]["learner"], "client");
    assert!(ls[0]["committed"].as_u64().unwrap() > 0, "{j}");
    let lim = &j["limits"];
    for f in [
        "ed25519_sign_per_second",
        "ed25519_verify_per_second",
        "sha256_bytes_per_second",
        "fsync_p50_ms",
        "synced_write_bytes_per_second",
        "loopback_rtt_p50_ms",
        "loopback_bytes_per_second",
    ] {
        assert!(lim[f].as_f64().is_some_and(|x| x > 0.0), "{f}: {lim}");
    }
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(stored, j);
}
