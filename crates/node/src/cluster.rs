//! A local cluster of node processes on loopback: used by `hpaxos demo` and
//! by the multi-process tests.
//!
//! It generates a key per node, picks free loopback ports, writes the
//! configuration (a base file plus generated `[nodes.*]` tables) into a
//! scratch directory, starts each node as a child process of a given
//! executable, and can kill (-9), terminate (SIGTERM) and restart them.
//! Every child is killed when the cluster is dropped, on every exit path.

use crate::client;
use crate::keys::{generate, public_hex, write_secret};
use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ClusterError(pub String);

fn cerr(m: impl Into<String>) -> ClusterError {
    ClusterError(m.into())
}

/// One node to start.
#[derive(Clone, Debug)]
pub struct NodePlan {
    pub name: String,
    pub acceptor: Option<String>,
    pub learners: Vec<String>,
    pub proposer: bool,
}

struct Member {
    plan: NodePlan,
    peer: SocketAddr,
    http: SocketAddr,
    child: Option<Child>,
    extra: Vec<String>,
    env: Vec<(String, String)>,
}

pub struct LocalCluster {
    dir: PathBuf,
    exe: PathBuf,
    pre_args: Vec<String>,
    config: PathBuf,
    members: Vec<Member>,
    remove_dir: bool,
}

fn free_ports(n: usize) -> Result<Vec<SocketAddr>, ClusterError> {
    let ls: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .map_err(|e| cerr(format!("cannot find free loopback ports: {e}")))?;
    ls.iter()
        .map(|l| l.local_addr())
        .collect::<Result<_, _>>()
        .map_err(|e| cerr(e.to_string()))
}

impl LocalCluster {
    /// Writes keys and configuration into `dir` (created; removed on drop
    /// when `remove_dir`) without starting anything.
    pub fn prepare(
        base_toml: &str,
        plans: &[NodePlan],
        exe: &Path,
        pre_args: &[&str],
        dir: &Path,
        remove_dir: bool,
    ) -> Result<LocalCluster, ClusterError> {
        std::fs::create_dir_all(dir.join("keys"))
            .map_err(|e| cerr(format!("cannot create {}: {e}", dir.display())))?;
        let ports = free_ports(plans.len() * 2)?;
        let mut toml = base_toml.to_string();
        let mut members = Vec::new();
        for (i, p) in plans.iter().enumerate() {
            let key = generate();
            let key_file = dir.join("keys").join(format!("{}.key", p.name));
            let _ = std::fs::remove_file(&key_file);
            write_secret(&key_file, &key).map_err(|e| cerr(e.to_string()))?;
            let (peer, http) = (ports[2 * i], ports[2 * i + 1]);
            let _ = writeln!(toml, "\n[nodes.{}]", p.name);
            let _ = writeln!(toml, "addr = \"{peer}\"\nhttp = \"{http}\"");
            let _ = writeln!(toml, "public_key = \"{}\"", public_hex(&key));
            if let Some(a) = &p.acceptor {
                let _ = writeln!(toml, "acceptor = \"{a}\"");
            }
            let ls: Vec<String> = p.learners.iter().map(|l| format!("\"{l}\"")).collect();
            let _ = writeln!(toml, "learners = [{}]", ls.join(", "));
            let _ = writeln!(toml, "proposer = {}", p.proposer);
            let _ = writeln!(toml, "data_dir = \"data/{}\"", p.name);
            let _ = writeln!(toml, "key_file = \"keys/{}.key\"", p.name);
            members.push(Member {
                plan: p.clone(),
                peer,
                http,
                child: None,
                extra: Vec::new(),
                env: Vec::new(),
            });
        }
        let config = dir.join("cluster.toml");
        std::fs::write(&config, toml).map_err(|e| cerr(e.to_string()))?;
        Ok(LocalCluster {
            dir: dir.to_path_buf(),
            exe: exe.to_path_buf(),
            pre_args: pre_args.iter().map(|s| s.to_string()).collect(),
            config,
            members,
            remove_dir,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config_path(&self) -> &Path {
        &self.config
    }

    pub fn names(&self) -> Vec<String> {
        self.members.iter().map(|m| m.plan.name.clone()).collect()
    }

    pub fn plan(&self, name: &str) -> Option<&NodePlan> {
        self.members
            .iter()
            .find(|m| m.plan.name == name)
            .map(|m| &m.plan)
    }

    fn member(&mut self, name: &str) -> Result<&mut Member, ClusterError> {
        self.members
            .iter_mut()
            .find(|m| m.plan.name == name)
            .ok_or_else(|| cerr(format!("no node {name}")))
    }

    pub fn http(&self, name: &str) -> Option<SocketAddr> {
        self.members
            .iter()
            .find(|m| m.plan.name == name)
            .map(|m| m.http)
    }

    pub fn peer_addr(&self, name: &str) -> Option<SocketAddr> {
        self.members
            .iter()
            .find(|m| m.plan.name == name)
            .map(|m| m.peer)
    }

    pub fn log_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.log"))
    }

    /// Extra command-line arguments for one node (e.g. `--byzantine`).
    pub fn set_extra_args(&mut self, name: &str, extra: &[&str]) -> Result<(), ClusterError> {
        self.member(name)?.extra = extra.iter().map(|s| s.to_string()).collect();
        Ok(())
    }

    /// An environment variable for one node's process (e.g.
    /// `HPAXOS_LOG_FORMAT`), from its next start on.
    pub fn set_env(&mut self, name: &str, key: &str, value: &str) -> Result<(), ClusterError> {
        self.member(name)?
            .env
            .push((key.to_string(), value.to_string()));
        Ok(())
    }

    /// Starts (or restarts) one node; its log goes to `<dir>/<name>.log`.
    pub fn spawn(&mut self, name: &str) -> Result<(), ClusterError> {
        let exe = self.exe.clone();
        let pre = self.pre_args.clone();
        let config = self.config.clone();
        let log = self.log_path(name);
        let m = self.member(name)?;
        if m.child.is_some() {
            return Err(cerr(format!("node {name} is already running")));
        }
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| cerr(format!("{}: {e}", log.display())))?;
        let err = out.try_clone().map_err(|e| cerr(e.to_string()))?;
        let child = Command::new(&exe)
            .args(&pre)
            .arg("--config")
            .arg(&config)
            .arg("--name")
            .arg(name)
            .args(&m.extra)
            .envs(m.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| cerr(format!("cannot start {}: {e}", exe.display())))?;
        m.child = Some(child);
        Ok(())
    }

    pub fn spawn_all(&mut self) -> Result<(), ClusterError> {
        for n in self.names() {
            self.spawn(&n)?;
        }
        Ok(())
    }

    /// `kill -9`: the process gets no chance to clean up.
    pub fn kill9(&mut self, name: &str) -> Result<(), ClusterError> {
        let m = self.member(name)?;
        if let Some(mut c) = m.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        Ok(())
    }

    /// SIGSTOP (`pause`) or SIGCONT (`!pause`): the process stays alive
    /// but does nothing, as a partitioned or stalled host would.
    pub fn pause(&mut self, name: &str, pause: bool) -> Result<(), ClusterError> {
        let m = self.member(name)?;
        if let Some(c) = &m.child {
            let sig = if pause { libc::SIGSTOP } else { libc::SIGCONT };
            // SAFETY: kill(2) with a pid of our own child and a valid signal.
            unsafe {
                libc::kill(c.id() as libc::pid_t, sig);
            }
        }
        Ok(())
    }

    /// SIGTERM, then wait up to `grace` before killing. Returns whether the
    /// node exited on its own with status 0.
    pub fn terminate(&mut self, name: &str, grace: Duration) -> Result<bool, ClusterError> {
        let m = self.member(name)?;
        let Some(mut c) = m.child.take() else {
            return Ok(false);
        };
        // SAFETY: kill(2) with a pid of our own child and a valid signal.
        unsafe {
            libc::kill(c.id() as libc::pid_t, libc::SIGTERM);
        }
        let t = Instant::now();
        while t.elapsed() < grace {
            if let Ok(Some(st)) = c.try_wait() {
                return Ok(st.success());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        Ok(false)
    }

    /// Has a started node exited? (returns its name and status text)
    pub fn exited(&mut self) -> Option<(String, String)> {
        for m in &mut self.members {
            if let Some(c) = &mut m.child {
                if let Ok(Some(st)) = c.try_wait() {
                    let name = m.plan.name.clone();
                    m.child = None;
                    return Some((name, st.to_string()));
                }
            }
        }
        None
    }

    /// Waits until every running node answers `/health`.
    pub async fn wait_healthy(&mut self, timeout: Duration) -> Result<(), ClusterError> {
        let t = Instant::now();
        let running: Vec<(String, SocketAddr)> = self
            .members
            .iter()
            .filter(|m| m.child.is_some())
            .map(|m| (m.plan.name.clone(), m.http))
            .collect();
        for (name, addr) in running {
            loop {
                if let Some((n, st)) = self.exited() {
                    return Err(cerr(format!(
                        "node {n} exited at start-up ({st}); see {}",
                        self.log_path(&n).display()
                    )));
                }
                let r = client::request(addr, "GET", "/health", None, Duration::from_secs(1)).await;
                if matches!(r, Ok(ref x) if x.status == 200) {
                    break;
                }
                if t.elapsed() > timeout {
                    return Err(cerr(format!(
                        "node {name} did not become healthy; see {}",
                        self.log_path(&name).display()
                    )));
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        }
        Ok(())
    }

    /// Kills every child (used on every exit path).
    pub fn kill_all(&mut self) {
        for m in &mut self.members {
            if let Some(mut c) = m.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    /// Gracefully stops every node; returns the names that did not exit 0.
    pub fn terminate_all(&mut self, grace: Duration) -> Vec<String> {
        let names: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.child.is_some())
            .map(|m| m.plan.name.clone())
            .collect();
        // Signal everyone first, then wait, so shutdowns overlap.
        for m in &self.members {
            if let Some(c) = &m.child {
                // SAFETY: kill(2) on our own child with a valid signal.
                unsafe {
                    libc::kill(c.id() as libc::pid_t, libc::SIGTERM);
                }
            }
        }
        let mut bad = Vec::new();
        for n in names {
            if !self.terminate(&n, grace).unwrap_or(false) {
                bad.push(n);
            }
        }
        bad
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.kill_all();
        if self.remove_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
