//! The Docker command line: the harness's only handle on containers,
//! networks and volumes. Every call is bounded in time; every resource the
//! harness creates carries the run's label and is recorded, and
//! [`Docker::cleanup`] (also run on drop, synchronously, as a last resort)
//! removes everything recorded plus anything else with the label.
//!
//! Data flow: cluster setup and the nemesis call [`Docker::run`]; `main`
//! calls [`Docker::cleanup`] on every exit path.

use std::sync::Mutex;
use std::time::Duration;
use tokio::process::Command;

/// Longest a single docker command may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(90);

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("cannot run docker: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("`docker {args}` did not finish within {secs} s")]
    Timeout { args: String, secs: u64 },
    #[error("`docker {args}` failed: {stderr}")]
    Failed { args: String, stderr: String },
}

#[derive(Default)]
struct Created {
    containers: Vec<String>,
    networks: Vec<String>,
    volumes: Vec<String>,
}

/// The Docker CLI, for one harness run (its label: `hpaxos.harness=RUN`).
pub struct Docker {
    run: String,
    created: Mutex<Created>,
    cleaned: Mutex<bool>,
}

/// What [`Docker::cleanup`] removed.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Removed {
    pub containers: usize,
    pub networks: usize,
    pub volumes: usize,
    pub errors: Vec<String>,
}

impl Docker {
    pub fn new(run: &str) -> Docker {
        Docker {
            run: run.to_string(),
            created: Mutex::new(Created::default()),
            cleaned: Mutex::new(false),
        }
    }

    /// `hpaxos.harness=RUN`, for `--label` and `--filter label=`.
    pub fn label(&self) -> String {
        format!("hpaxos.harness={}", self.run)
    }

    /// Does a Docker daemon answer (within 15 s)?
    pub async fn available() -> bool {
        let fut = Command::new("docker")
            .args(["info", "--format", "{{.ServerVersion}}"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .status();
        matches!(
            tokio::time::timeout(Duration::from_secs(15), fut).await,
            Ok(Ok(s)) if s.success()
        )
    }

    /// Runs `docker ARGS` and returns its trimmed stdout.
    pub async fn run(&self, args: &[&str]) -> Result<String, DockerError> {
        run_docker(args, CALL_TIMEOUT).await
    }

    pub async fn create_network(&self, name: &str, subnet: &str) -> Result<(), DockerError> {
        let label = self.label();
        self.run(&[
            "network",
            "create",
            "--driver",
            "bridge",
            "--internal",
            "--subnet",
            subnet,
            "--label",
            &label,
            name,
        ])
        .await?;
        lock(&self.created).networks.push(name.to_string());
        Ok(())
    }

    pub async fn create_volume(&self, name: &str) -> Result<(), DockerError> {
        let label = self.label();
        self.run(&["volume", "create", "--label", &label, name])
            .await?;
        lock(&self.created).volumes.push(name.to_string());
        Ok(())
    }

    /// `docker create` with the run's label added; `args` are the rest of
    /// the command line (options, image, command).
    pub async fn create_container(&self, name: &str, args: &[&str]) -> Result<(), DockerError> {
        let label = self.label();
        let mut all = vec!["create", "--name", name, "--label", &label];
        all.extend_from_slice(args);
        // Recorded first: a create that fails half-way may leave it behind.
        lock(&self.created).containers.push(name.to_string());
        self.run(&all).await?;
        Ok(())
    }

    /// The IP address of `container` on `network`.
    pub async fn ip(&self, container: &str, network: &str) -> Result<String, DockerError> {
        let fmt = format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}");
        self.run(&["inspect", "-f", &fmt, container]).await
    }

    /// Removes every container, network and volume of this run (recorded or
    /// labelled). Never fails; problems are listed in the answer.
    pub async fn cleanup(&self) -> Removed {
        let mut out = Removed::default();
        let created = std::mem::take(&mut *lock(&self.created));
        let label = format!("label={}", self.label());
        let mut containers = created.containers;
        if let Ok(s) = self
            .run(&["ps", "-a", "--format", "{{.Names}}", "--filter", &label])
            .await
        {
            containers.extend(s.lines().map(String::from));
        }
        containers.sort();
        containers.dedup();
        if !containers.is_empty() {
            // A paused container cannot be removed before it is unpaused.
            let mut unpause = vec!["unpause"];
            unpause.extend(containers.iter().map(String::as_str));
            let _ = run_docker(&unpause, Duration::from_secs(60)).await;
            let mut rm = vec!["rm", "-f", "-v"];
            rm.extend(containers.iter().map(String::as_str));
            if let Err(e) = run_docker(&rm, Duration::from_secs(120)).await {
                if !e.to_string().contains("No such container") {
                    out.errors.push(e.to_string());
                }
            }
            let left = self
                .run(&["ps", "-a", "--format", "{{.Names}}", "--filter", &label])
                .await
                .map(|s| s.lines().count())
                .unwrap_or(0);
            out.containers = containers.len().saturating_sub(left);
            if left > 0 {
                out.errors
                    .push(format!("{left} containers could not be removed"));
            }
        }
        let mut networks = created.networks;
        if let Ok(s) = self
            .run(&["network", "ls", "--format", "{{.Name}}", "--filter", &label])
            .await
        {
            networks.extend(s.lines().map(String::from));
        }
        let mut volumes = created.volumes;
        if let Ok(s) = self.run(&["volume", "ls", "-q", "--filter", &label]).await {
            volumes.extend(s.lines().map(String::from));
        }
        for (kind, list, count) in [
            ("network", networks, &mut out.networks),
            ("volume", volumes, &mut out.volumes),
        ] {
            let mut list = list;
            list.sort();
            list.dedup();
            for x in &list {
                // The daemon may still hold an endpoint of a container just
                // removed ("has active endpoints"): retry a few times.
                let mut tries = 0;
                loop {
                    tries += 1;
                    match run_docker(&[kind, "rm", x], Duration::from_secs(60)).await {
                        Ok(_) => *count += 1,
                        Err(DockerError::Failed { stderr, .. })
                            if stderr.contains("No such") || stderr.contains("not found") => {}
                        Err(DockerError::Failed { stderr, .. })
                            if stderr.contains("active endpoints") && tries < 10 =>
                        {
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            continue;
                        }
                        Err(e) => out.errors.push(e.to_string()),
                    }
                    break;
                }
            }
        }
        *lock(&self.cleaned) = true;
        out
    }
}

impl Drop for Docker {
    /// Last resort (a panic before `cleanup`): removes what was recorded,
    /// synchronously.
    fn drop(&mut self) {
        if *lock(&self.cleaned) {
            return;
        }
        let created = std::mem::take(&mut *lock(&self.created));
        let quiet = |args: &[&str]| {
            let _ = std::process::Command::new("docker")
                .args(args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        };
        for c in &created.containers {
            quiet(&["unpause", c]);
            quiet(&["rm", "-f", "-v", c]);
        }
        for n in &created.networks {
            quiet(&["network", "rm", n]);
        }
        for v in &created.volumes {
            quiet(&["volume", "rm", v]);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn run_docker(args: &[&str], limit: Duration) -> Result<String, DockerError> {
    let child = Command::new("docker")
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(limit, child).await {
        Err(_) => {
            return Err(DockerError::Timeout {
                args: args.join(" "),
                secs: limit.as_secs(),
            })
        }
        Ok(r) => r.map_err(DockerError::Spawn)?,
    };
    if !out.status.success() {
        return Err(DockerError::Failed {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
