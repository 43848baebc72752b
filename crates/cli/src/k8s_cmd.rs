//! `hpaxos k8s`: renders Kubernetes manifests for a cluster file
//! (`hpaxos_node::k8s::render`); argument parsing and file writing only.

use crate::Outcome;
use anyhow::Context;
use hpaxos_node::k8s::{render, K8sSpec};
use hpaxos_node::ClusterConfig;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct K8sArgs {
    /// The cluster file (e.g. the cluster.toml `hpaxos testnet` writes);
    /// node names become Kubernetes object names.
    #[arg(long)]
    config: PathBuf,
    /// Directory of the secret keys, as NAME.key (default: each node's
    /// key_file in the cluster file).
    #[arg(long)]
    keys: Option<PathBuf>,
    /// Directory to write the manifests into (created; must be empty).
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value = "hpaxos")]
    namespace: String,
    #[arg(long, default_value = "hpaxos:latest")]
    image: String,
    /// Size of each node's data volume claim.
    #[arg(long, default_value = "1Gi")]
    storage: String,
    /// Storage class of the claims (default: the cluster's default class).
    #[arg(long)]
    storage_class: Option<String>,
    /// Path of the readiness probe (/ready, or /health for nodes without it).
    #[arg(long, default_value = "/ready")]
    probe_path: String,
}

pub fn run(a: K8sArgs) -> anyhow::Result<Outcome> {
    let text = std::fs::read_to_string(&a.config)
        .with_context(|| format!("cannot read {}", a.config.display()))?;
    let cfg = ClusterConfig::load(&a.config)
        .map_err(|e| anyhow::anyhow!("{}: {e}", a.config.display()))?;
    let key = |name: &str| -> Option<String> {
        let path = match &a.keys {
            Some(d) => d.join(format!("{name}.key")),
            None => cfg.node_by_name(name)?.key_file.clone()?,
        };
        std::fs::read_to_string(path).ok()
    };
    let spec = K8sSpec {
        namespace: a.namespace.clone(),
        image: a.image.clone(),
        storage: a.storage.clone(),
        storage_class: a.storage_class.clone(),
        probe_path: a.probe_path.clone(),
    };
    let files = render(&spec, &text, &cfg, &key)?;
    if a.out.exists()
        && std::fs::read_dir(&a.out)
            .map(|mut r| r.next().is_some())
            .unwrap_or(true)
    {
        anyhow::bail!("--out {} exists and is not empty", a.out.display());
    }
    std::fs::create_dir_all(&a.out).with_context(|| a.out.display().to_string())?;
    for (f, t) in &files {
        let p = a.out.join(f);
        std::fs::write(&p, t).with_context(|| p.display().to_string())?;
    }
    println!(
        "{}: {} manifests for {} nodes in namespace {} (keys.yaml holds the secret keys)",
        a.out.display(),
        files.len(),
        cfg.nodes.len(),
        a.namespace
    );
    println!("apply: kubectl apply -k {}", a.out.display());
    Ok(Outcome::Ok)
}
