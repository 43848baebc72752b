//! `hpaxos testnet` end to end (issue 10, "a cluster from one command"):
//! the files it writes pass `hpaxos node --check`, `start.sh` starts a real
//! 4-node loopback cluster that decides a client command on every learner
//! with every address a host name (`localhost:PORT`: peers resolve each
//! other by name) (the PRODUCT.md client contract: the command returns once the learners
//! of the node decided and applied it), `stop.sh` stops every process.
//! Also `node --check`'s located errors and the client's exit codes.
//! Every process started here is stopped by a guard, on every exit path.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

/// A base port with `n` free ports after it (two ranges of `n`), found by
/// binding them; another process may still take one before the nodes do,
/// which the caller retries.
fn free_base(n: u16, salt: u16) -> u16 {
    let pid = std::process::id() as u16;
    for k in 0..200u16 {
        let base = 20000 + (pid.wrapping_mul(7).wrapping_add(salt).wrapping_add(k * 37)) % 30000;
        let ok = (0..2 * n).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok());
        if ok {
            return base;
        }
    }
    panic!("no free loopback port range");
}

/// Runs stop.sh and kills any pid left in pids/ when dropped.
struct Running(PathBuf);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("sh").arg(self.0.join("stop.sh")).output();
        if let Ok(rd) = std::fs::read_dir(self.0.join("pids")) {
            for e in rd.flatten() {
                if let Ok(p) = std::fs::read_to_string(e.path()) {
                    let _ = Command::new("kill").args(["-9", p.trim()]).output();
                }
            }
        }
    }
}

fn pids(dir: &Path) -> Vec<String> {
    (1..=4)
        .filter_map(|i| std::fs::read_to_string(dir.join(format!("pids/n{i}.pid"))).ok())
        .map(|s| s.trim().to_string())
        .collect()
}

fn alive(pid: &str) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
}

#[test]
fn testnet_files_pass_check_and_run_a_cluster_that_decides() {
    let tmp = tempfile::tempdir().unwrap();
    let mut attempt = 0;
    let (dir, base, _guard) = loop {
        attempt += 1;
        let base = free_base(4, attempt * 1000);
        let dir = tmp.path().join(format!("tn{attempt}"));
        let d = dir.to_str().unwrap();
        let (pp, hp) = (base.to_string(), (base + 4).to_string());
        let o = hpaxos(&[
            "testnet",
            "--nodes",
            "4",
            "--out",
            d,
            "--peer-port",
            &pp,
            "--http-port",
            &hp,
            "--compose",
            "--host",
            "localhost",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        for f in [
            "cluster.toml",
            "cluster.compose.toml",
            "compose.yaml",
            "start.sh",
            "stop.sh",
        ] {
            assert!(dir.join(f).is_file(), "{f} written");
        }
        // Every node's tables and key pass the offline check.
        for i in 1..=4 {
            let cfg = dir.join("cluster.toml");
            let o = hpaxos(&[
                "node",
                "--check",
                "--config",
                cfg.to_str().unwrap(),
                "--name",
                &format!("n{i}"),
            ]);
            assert_eq!(o.status.code(), Some(0), "n{i}: {}", text(&o.stderr));
            let out = text(&o.stdout);
            assert!(
                out.contains(&format!("node n{i} is ready to start")),
                "{out}"
            );
            assert!(out.contains(&format!("acceptor a{i}")), "{out}");
        }
        // The containers' file loads too (host names are not resolved offline).
        let cc = dir.join("cluster.compose.toml");
        let o = hpaxos(&[
            "node",
            "--check",
            "--config",
            cc.to_str().unwrap(),
            "--name",
            "n2",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        assert!(
            text(&o.stdout).contains("peer     n2:"),
            "{}",
            text(&o.stdout)
        );

        let guard = Running(dir.clone());
        // $HPAXOS relative to the caller's directory (as CI passes it).
        let exe = Path::new(env!("CARGO_BIN_EXE_hpaxos"));
        let st = Command::new("sh")
            .arg(dir.join("start.sh"))
            .current_dir(exe.parent().unwrap())
            .env(
                "HPAXOS",
                format!("./{}", exe.file_name().unwrap().to_str().unwrap()),
            )
            .output()
            .unwrap();
        if st.status.success() {
            break (dir, base, guard);
        }
        drop(guard);
        assert!(attempt < 3, "start.sh failed 3 times: {}", text(&st.stderr));
    };
    let http1 = format!("localhost:{}", base + 4);
    let http4 = format!("localhost:{}", base + 7);
    let ps = pids(&dir);
    assert_eq!(ps.len(), 4);
    assert!(ps.iter().all(|p| alive(p)), "every node runs");

    // A command through a host name, decided and applied by both learners.
    let o = hpaxos(&[
        "client",
        "--addr",
        &http1,
        "--timeout",
        "30",
        "--json",
        "put",
        "color",
        "blue",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let j: serde_json::Value = serde_json::from_str(&text(&o.stdout)).unwrap();
    assert!(j["slot"].is_u64(), "{j}");
    // PRODUCT.md: the answer comes once the learner named (default: the
    // node's first, alice) decided and applied it.
    assert_eq!(j["learner"], "alice", "{j}");
    assert!(j["results"]["alice"].is_null(), "{j}");
    // Every node's replicas apply it (bounded wait: 20 s).
    let t = std::time::Instant::now();
    loop {
        let o = hpaxos(&["client", "--addr", &http4, "--json", "read", "bob", "color"]);
        let v: Option<serde_json::Value> = serde_json::from_str(&text(&o.stdout)).ok();
        if v.as_ref().is_some_and(|v| v["value"] == "blue") {
            break;
        }
        assert!(
            t.elapsed().as_secs() < 20,
            "n4's bob never applied the put: {v:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Labelled human output; waiting for bob, through another node.
    let o = hpaxos(&[
        "client",
        "--addr",
        &http4,
        "--learner",
        "bob",
        "get",
        "color",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.starts_with("slot     "), "{out}");
    assert!(out.contains("\ndecided  for bob\n"), "{out}");
    assert!(out.contains("learner  value\n"), "{out}");
    assert!(out.contains("\nbob      blue"), "{out}");
    // Bad input is exit 2, distinct from "not decided in time" (3).
    let o = hpaxos(&[
        "client",
        "--addr",
        &http1,
        "--learner",
        "carol",
        "put",
        "k",
        "v",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        text(&o.stderr),
        format!("error: {http1} answered 404: no learner `carol` in the configuration")
    );
    let o = hpaxos(&["client", "--addr", &http1, "read", "carol", "color"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        text(&o.stderr),
        format!("error: {http1} answered 404: this node runs no learner `carol`")
    );
    // Many commands in one request (`POST /v1/commands/batch`) through a
    // node that is not the leader: one result per command, in order, each
    // decided for the learner named.
    let cmds = dir.join("cmds.json");
    std::fs::write(
        &cmds,
        r#"[{"op":"put","key":"shape","value":"round"},{"op":"get","key":"shape"}]"#,
    )
    .unwrap();
    let c = cmds.to_str().unwrap();
    let o = hpaxos(&[
        "client",
        "--addr",
        &http4,
        "--learner",
        "bob",
        "--timeout",
        "30",
        "--json",
        "batch",
        c,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let j: serde_json::Value = serde_json::from_str(&text(&o.stdout)).unwrap();
    let rs = j.as_array().expect("one result per command");
    assert_eq!(rs.len(), 2, "{j}");
    assert!(
        rs.iter()
            .all(|r| r["learner"] == "bob" && r["slot"].is_u64()),
        "{j}"
    );
    assert_eq!(rs[1]["results"]["bob"], "round", "{j}");
    std::fs::write(&cmds, r#"{"op":"put"}"#).unwrap();
    let o = hpaxos(&["client", "--addr", &http4, "batch", c]);
    assert_eq!(o.status.code(), Some(2));

    // n1 (the leader) dies: the testnet's other proposers take over and a
    // command through n2 is still decided (bounded by --timeout).
    let _ = Command::new("kill").args(["-9", &ps[0]]).output();
    let http2 = format!("localhost:{}", base + 5);
    let o = hpaxos(&[
        "client",
        "--addr",
        &http2,
        "--timeout",
        "60",
        "put",
        "after",
        "failover",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));

    let st = Command::new("sh")
        .arg(dir.join("stop.sh"))
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", text(&st.stderr));
    assert_eq!(
        text(&st.stdout),
        "stopped n1\nstopped n2\nstopped n3\nstopped n4"
    );
    assert!(ps.iter().all(|p| !alive(p)), "every node stopped");
    assert!(pids(&dir).is_empty(), "pid files removed");
}

/// `node --check` reports the problem with its location and exits 2.
#[test]
fn node_check_errors_are_located() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let d = dir.to_str().unwrap();
    let o = hpaxos(&["testnet", "--nodes", "4", "--out", d]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let cfg = dir.join("cluster.toml");
    let c = cfg.to_str().unwrap();
    let check = |name: &str| {
        let o = hpaxos(&["node", "--check", "--config", c, "--name", name]);
        (o.status.code(), text(&o.stderr))
    };
    assert_eq!(
        check("n9"),
        (Some(2), "error: no node named `n9` in the configuration's [nodes] tables (the nodes are n1, n2, n3, n4)".into())
    );
    // A key that is not the configured one.
    std::fs::remove_file(dir.join("keys/n2.key")).unwrap();
    std::fs::copy(dir.join("keys/n3.key"), dir.join("keys/n2.key")).unwrap();
    assert_eq!(
        check("n2"),
        (Some(2), format!("error: the secret key in {d}/keys/n2.key does not match the public key of node `n2` in the configuration"))
    );
    std::fs::remove_file(dir.join("keys/n2.key")).unwrap();
    assert_eq!(
        check("n2"),
        (Some(2), format!("error: cannot read key file {d}/keys/n2.key: No such file or directory (os error 2)"))
    );
    // A misspelt key and a bad address, with their tables.
    let good = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        good.replacen("proposer = false", "propser = false", 1),
    )
    .unwrap();
    let (code, err) = check("n1");
    assert_eq!(code, Some(2));
    assert!(
        err.starts_with(&format!(
            "error: configuration {c}: [nodes.n4]: unknown field `propser`, expected one of"
        )),
        "{err}"
    );
    std::fs::write(&cfg, good.replace("127.0.0.1:", "127.0.0.1;")).unwrap();
    let (code, err) = check("n1");
    assert_eq!(code, Some(2));
    assert_eq!(
        err,
        format!("error: configuration {c}: [nodes.n1]: `addr`: \"127.0.0.1;7101\" is not HOST:PORT (no `:PORT`)")
    );
    std::fs::write(&cfg, good.replace("127.0.0.1:7102", "127.0.0.1:0")).unwrap();
    assert_eq!(
        check("n1").1,
        format!("error: configuration {c}: [nodes.n2]: `addr`: \"127.0.0.1:0\" is not HOST:PORT (the port must be a number from 1 to 65535)")
    );
}

/// Unusable `testnet` arguments exit 2 and leave nothing behind.
#[test]
fn testnet_refuses_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("t");
    let ds = d.to_str().unwrap();
    let o = hpaxos(&["testnet", "--nodes", "0", "--out", ds]);
    assert_eq!(
        (o.status.code(), text(&o.stderr)),
        (
            Some(2),
            "error: --nodes 0: a testnet has 1 to 1000 nodes".into()
        )
    );
    let ex: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "..",
        "examples",
        "invalid.toml",
    ]
    .iter()
    .collect();
    let o = hpaxos(&[
        "testnet",
        "--nodes",
        "7",
        "--graph",
        ex.to_str().unwrap(),
        "--out",
        ds,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        text(&o.stderr),
        "error: --graph: the learner graph is invalid: 1 violation(s) (`hpaxos graph check FILE` explains why)"
    );
    assert!(!d.exists());
    let o = hpaxos(&["testnet", "--nodes", "4", "--out", ds]);
    assert_eq!(o.status.code(), Some(0));
    // Golden: the summary says what was written and what to run next.
    assert_eq!(
        text(&o.stdout),
        format!(
            "{ds}: a 4-node testnet
  config   cluster.toml
  keys     keys/n1.key .. keys/n4.key
  scripts  start.sh, stop.sh (loopback; logs/ and pids/)
next:
  hpaxos node --check --config {ds}/cluster.toml --name n1
  {ds}/start.sh
  hpaxos client --addr 127.0.0.1:8101 put color blue
  {ds}/stop.sh"
        )
    );
    let o = hpaxos(&["testnet", "--nodes", "4", "--out", ds]);
    assert_eq!(
        (o.status.code(), text(&o.stderr)),
        (Some(2), format!("error: {ds} already holds a testnet (cluster.toml); remove it or pick another --out"))
    );
}

/// The client's "not decided in time" (exit 3) and "unreachable" (exit 4).
#[test]
fn client_exit_codes_distinguish_timeout_from_unreachable() {
    // A listener that accepts and never answers: the client gives up at
    // --timeout with exit 3.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let o = hpaxos(&[
        "client",
        "--addr",
        &addr,
        "--timeout",
        "0.3",
        "put",
        "k",
        "v",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stderr),
        format!("error: {addr}: not decided in time (--timeout 0.3 s); the command may still be decided later")
    );
    drop(l);
    let o = hpaxos(&["client", "--addr", &addr, "status"]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o.stderr));
    assert!(text(&o.stderr).starts_with(&format!("error: cannot reach {addr}")));
    let o = hpaxos(&["client", "--addr", &addr, "--timeout", "-1", "status"]);
    assert_eq!(o.status.code(), Some(2));
}
