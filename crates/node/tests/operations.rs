//! Operator errors are clear and exit 2 without a panic: a bad
//! configuration, an unknown node name, a port in use, a data directory
//! that belongs to another node, a corrupt write-ahead log (refused unless
//! the operator asks to truncate it), a log that cannot grow (the file and
//! the cause in the last words).

mod common;

use common::*;
use hpaxos_core::{Ballot, Durable, LearnerId, Slot};
use std::process::Command;
use std::time::Duration;

fn run_node(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hpaxos-node"))
        .arg("node")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_configuration_and_unknown_node_are_clear_errors() {
    let d = tempfile::tempdir().unwrap();
    let bad = d.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[acceptors]\na1 = {}\n[learners.x]\nquorums = \"2 of {a1}\"\n",
    )
    .unwrap();
    let (code, err) = run_node(&["--config", bad.to_str().unwrap(), "--name", "n1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("configuration"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let c = four_nodes();
    let cfg = c.config_path().to_str().unwrap().to_string();
    let (code, err) = run_node(&["--config", &cfg, "--name", "nobody"]);
    assert_eq!(code, 2);
    assert!(err.contains("no node named `nobody`"), "{err}");

    // Missing node tables.
    let plain = d.path().join("plain.toml");
    std::fs::write(&plain, FOUR).unwrap();
    let (code, err) = run_node(&["--config", plain.to_str().unwrap(), "--name", "n1"]);
    assert_eq!(code, 2);
    assert!(err.contains("[nodes]"), "{err}");
}

#[test]
fn port_in_use_is_a_clear_error() {
    let c = four_nodes();
    let taken = std::net::TcpListener::bind(c.peer_addr("n2").unwrap()).unwrap();
    let cfg = c.config_path().to_str().unwrap().to_string();
    let (code, err) = run_node(&["--config", &cfg, "--name", "n2"]);
    assert_eq!(code, 2);
    assert!(err.contains("in use"), "{err}");
    drop(taken);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_data_dir_and_corrupt_log_are_refused() {
    let mut c = four_nodes();
    // Start and stop n1 so its data directory exists and is claimed.
    c.spawn("n1").unwrap();
    c.wait_healthy(T).await.unwrap();
    assert!(c.terminate("n1", Duration::from_secs(10)).unwrap());
    let cfg = c.config_path().to_str().unwrap().to_string();
    let n1_dir = c.dir().join("data/n1");
    // n2 pointed at n1's data directory.
    let (code, err) = run_node(&[
        "--config",
        &cfg,
        "--name",
        "n2",
        "--data-dir",
        n1_dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("belongs to another node"), "{err}");
    // Corrupt the last record of n1's log.
    let wal_path = n1_dir.join("wal");
    {
        let (mut w, _, _) = hpaxos_node::wal::Wal::open(&wal_path, false).unwrap();
        for i in 0..3 {
            w.append(&Durable::MaxBal {
                slot: Slot(i),
                lr: LearnerId(0),
                bal: Ballot(1),
            });
        }
        w.commit().unwrap();
    }
    let mut data = std::fs::read(&wal_path).unwrap();
    let n = data.len();
    data[n - 2] ^= 0x55;
    std::fs::write(&wal_path, &data).unwrap();
    let (code, err) = run_node(&["--config", &cfg, "--name", "n1"]);
    assert_eq!(code, 2);
    assert!(err.contains("corrupt at byte"), "{err}");
    // The operator explicitly accepts losing the tail: the node starts.
    c.set_extra_args("n1", &["--truncate-corrupt-wal"]).unwrap();
    c.spawn("n1").unwrap();
    c.wait_healthy(T).await.unwrap();
    assert!(c.terminate("n1", Duration::from_secs(10)).unwrap());
    let log = std::fs::read_to_string(c.log_path("n1")).unwrap();
    assert!(
        log.contains("dropped a corrupt write-ahead log tail"),
        "{log}"
    );
}

/// The test binary's options are parsed by clap like `hpaxos node`'s: a
/// usage error or an unknown Byzantine mode exits 2 with the reason.
#[test]
fn usage_errors_exit_2() {
    let (code, err) = run_node(&["--name", "n1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--config <CONFIG>"), "{err}");
    let (code, err) = run_node(&["--config", "x.toml", "--name", "n1", "--byzantine", "lie"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("unknown Byzantine mode \"lie\" (known: equivocate)"),
        "{err}"
    );
}

/// A write-ahead log that cannot grow (here: the file size limit, which
/// the kernel enforces like a full disk) stops the node with the file and
/// the cause in its last words, not just "write-ahead log failed".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_that_cannot_grow_stops_the_node_with_the_file_and_the_cause() {
    use std::os::unix::process::CommandExt;
    const ONE: &str = "[acceptors]\na1 = {}\n[learners.alice]\nquorums = \"a1\"\n[[safety]]\nlearners = [\"alice\", \"alice\"]\nsafe = \"a1\"\n";
    let c = cluster_of(
        ONE,
        &[hpaxos_node::cluster::NodePlan {
            name: "n1".into(),
            acceptor: Some("a1".into()),
            learners: vec!["alice".into()],
            proposer: true,
        }],
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hpaxos-node"));
    cmd.arg("node")
        .arg("--config")
        .arg(c.config_path())
        .arg("--name")
        .arg("n1")
        .env("HPAXOS_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 16 * 1024,
                rlim_max: 16 * 1024,
            };
            libc::setrlimit(libc::RLIMIT_FSIZE, &lim);
            // EFBIG instead of the SIGXFSZ that would kill it silently.
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let http = c.http("n1").unwrap();
    for _ in 0..200 {
        let r = hpaxos_node::client::request(http, "GET", "/health", None, Duration::from_secs(1))
            .await;
        if matches!(r, Ok(ref x) if x.status == 200) || matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut exited = None;
    for i in 0..400 {
        if let Ok(Some(st)) = child.try_wait() {
            exited = Some(st);
            break;
        }
        let body =
            serde_json::json!({"op": "put", "key": format!("k{i}"), "value": "v".repeat(200)});
        let _ = hpaxos_node::client::request(
            http,
            "POST",
            "/v1/commands",
            Some(&body),
            Duration::from_secs(2),
        )
        .await;
    }
    let Some(st) = exited else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the node kept running with a log that cannot grow");
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut err);
    }
    assert_eq!(st.code(), Some(2), "{err}");
    let wal = c.dir().join("data/n1/wal");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: driver stopped: write-ahead log ")
            && last.contains(&wal.display().to_string())
            && last.ends_with(": File too large (os error 27)"),
        "{err}"
    );
}
