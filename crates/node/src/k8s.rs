//! Kubernetes manifests for a cluster file (`hpaxos k8s`): one StatefulSet
//! of one pod per node, each with its headless Service, so that node `X`
//! is the pod `X-0`, reachable at the stable name `X-0.X` whatever its IP.
//!
//! Written per cluster (`render` returns file name and text, the caller
//! writes them):
//!
//! - `namespace.yaml`: the Namespace;
//! - `config.yaml`: a ConfigMap holding `cluster.toml`, the input file with
//!   every node's `addr` rewritten to `X-0.X:PORT` and `http` to
//!   `0.0.0.0:PORT` (ports kept), and its `data_dir` / `key_file` removed
//!   (given by flags in the pod);
//! - `keys.yaml`: one Secret per node (`hpaxos-key-X`) with its key file;
//! - `X.yaml` per node: the headless Service (`publishNotReadyAddresses`, so
//!   peers resolve each other before they are ready) and the StatefulSet
//!   (image, `hpaxos node` with the mounted config, key and data volume,
//!   readiness probe `GET PROBE_PATH` and liveness probe `GET /health` on
//!   the HTTP port, a PersistentVolumeClaim template for `/data`,
//!   non-privileged security context);
//! - `kustomization.yaml`: lists them (`kubectl apply -k DIR`).
//!
//! Data flow: cluster file + keys -> [`render`] -> files; `hpaxos k8s`
//! is the command line around it.

use crate::config::ClusterConfig;
use std::fmt::Write as _;

#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    #[error("the cluster file: {0}")]
    Toml(String),
    #[error("node name {0:?} is not a DNS label (lowercase letters, digits and '-', at most 60 characters, starting with a letter): Kubernetes objects are named after nodes")]
    Name(String),
    #[error("namespace {0:?} is not a DNS label")]
    Namespace(String),
    #[error("no key for node `{0}`")]
    NoKey(String),
}

/// What to render.
#[derive(Clone, Debug)]
pub struct K8sSpec {
    pub namespace: String,
    pub image: String,
    /// Size of each node's data volume claim, e.g. `1Gi`.
    pub storage: String,
    /// Storage class of the claims (`None`: the cluster's default).
    pub storage_class: Option<String>,
    /// Path of the readiness probe (`/ready`, or `/health` for nodes
    /// without it).
    pub probe_path: String,
}

impl Default for K8sSpec {
    fn default() -> Self {
        K8sSpec {
            namespace: "hpaxos".into(),
            image: "hpaxos:latest".into(),
            storage: "1Gi".into(),
            storage_class: None,
            probe_path: "/ready".into(),
        }
    }
}

fn dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 60
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A YAML double-quoted scalar.
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default() // ok: a &str always serializes
}

/// `text` as a YAML literal block indented by `ind` spaces.
fn block(text: &str, ind: usize) -> String {
    let pad = " ".repeat(ind);
    let mut o = String::from("|\n");
    for l in text.lines() {
        if l.trim().is_empty() {
            o.push('\n');
        } else {
            let _ = writeln!(o, "{pad}{l}");
        }
    }
    o
}

/// The cluster file as the pods run it (see the module doc).
pub fn pod_config(text: &str, cfg: &ClusterConfig) -> Result<String, K8sError> {
    let mut doc: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| K8sError::Toml(e.to_string()))?;
    let nodes = doc
        .get_mut("nodes")
        .and_then(|n| n.as_table_mut())
        .ok_or_else(|| K8sError::Toml("no [nodes] tables".into()))?;
    for n in &cfg.nodes {
        let t = nodes
            .get_mut(&n.name)
            .and_then(|t| t.as_table_mut())
            .ok_or_else(|| K8sError::Toml(format!("no [nodes.{}]", n.name)))?;
        t.insert(
            "addr".into(),
            toml::Value::String(format!("{0}-0.{0}:{1}", n.name, n.addr.port())),
        );
        if let Some(h) = &n.http {
            t.insert(
                "http".into(),
                toml::Value::String(format!("0.0.0.0:{}", h.port())),
            );
        }
        t.remove("data_dir");
        t.remove("key_file");
    }
    let body = toml::to_string(&doc).map_err(|e| K8sError::Toml(e.to_string()))?;
    Ok(format!(
        "# Rendered by `hpaxos k8s`: node X is the pod X-0 of StatefulSet X.\n{body}"
    ))
}

/// Renders the manifests; `key(name)` gives a node's secret key file text.
pub fn render(
    spec: &K8sSpec,
    text: &str,
    cfg: &ClusterConfig,
    key: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, K8sError> {
    if !dns_label(&spec.namespace) {
        return Err(K8sError::Namespace(spec.namespace.clone()));
    }
    for n in &cfg.nodes {
        if !dns_label(&n.name) {
            return Err(K8sError::Name(n.name.clone()));
        }
    }
    let ns = &spec.namespace;
    let labels = "app.kubernetes.io/name: hpaxos\n    app.kubernetes.io/part-of: hpaxos";
    let mut files = Vec::new();
    files.push((
        "namespace.yaml".to_string(),
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n  labels:\n    {labels}\n"
        ),
    ));
    let conf = pod_config(text, cfg)?;
    files.push((
        "config.yaml".to_string(),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hpaxos-cluster\n  namespace: {ns}\n  labels:\n    {labels}\ndata:\n  cluster.toml: {}",
            block(&conf, 4)
        ),
    ));
    let mut keys = String::new();
    for n in &cfg.nodes {
        let k = key(&n.name).ok_or_else(|| K8sError::NoKey(n.name.clone()))?;
        let _ = write!(
            keys,
            "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: hpaxos-key-{name}\n  namespace: {ns}\n  labels:\n    {labels}\n    app.kubernetes.io/instance: {name}\ntype: Opaque\nstringData:\n  node.key: {k}\n",
            name = n.name,
            k = q(k.trim()),
        );
    }
    files.push(("keys.yaml".to_string(), keys));
    for n in &cfg.nodes {
        files.push((format!("{}.yaml", n.name), node_yaml(spec, n)));
    }
    let mut kz = String::from(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n",
    );
    for (f, _) in &files {
        let _ = writeln!(kz, "  - {f}");
    }
    files.push(("kustomization.yaml".to_string(), kz));
    Ok(files)
}

fn node_yaml(spec: &K8sSpec, n: &crate::config::NodeSpec) -> String {
    let ns = &spec.namespace;
    let name = &n.name;
    let peer = n.addr.port();
    let http = n.http.as_ref().map(|h| h.port());
    let sel = format!("app.kubernetes.io/name: hpaxos\n      app.kubernetes.io/instance: {name}");
    let mut y = String::new();
    let _ = write!(
        y,
        "# Node {name}: headless Service and a StatefulSet of one pod ({name}-0).\n\
         apiVersion: v1\n\
         kind: Service\n\
         metadata:\n\
         \x20 name: {name}\n\
         \x20 namespace: {ns}\n\
         \x20 labels:\n\
         \x20   app.kubernetes.io/name: hpaxos\n\
         \x20   app.kubernetes.io/instance: {name}\n\
         spec:\n\
         \x20 clusterIP: None\n\
         \x20 publishNotReadyAddresses: true\n\
         \x20 selector:\n\
         \x20   app.kubernetes.io/name: hpaxos\n\
         \x20   app.kubernetes.io/instance: {name}\n\
         \x20 ports:\n\
         \x20   - name: peer\n\
         \x20     port: {peer}\n\
         \x20     targetPort: {peer}\n"
    );
    if let Some(h) = http {
        let _ = write!(
            y,
            "\x20   - name: http\n\
             \x20     port: {h}\n\
             \x20     targetPort: {h}\n"
        );
    }
    let _ = write!(
        y,
        "---\n\
         apiVersion: apps/v1\n\
         kind: StatefulSet\n\
         metadata:\n\
         \x20 name: {name}\n\
         \x20 namespace: {ns}\n\
         \x20 labels:\n\
         \x20   app.kubernetes.io/name: hpaxos\n\
         \x20   app.kubernetes.io/instance: {name}\n\
         spec:\n\
         \x20 serviceName: {name}\n\
         \x20 replicas: 1\n\
         \x20 podManagementPolicy: Parallel\n\
         \x20 selector:\n\
         \x20   matchLabels:\n\
         \x20     {sel}\n\
         \x20 template:\n\
         \x20   metadata:\n\
         \x20     labels:\n\
         \x20       {sel2}\n\
         \x20   spec:\n\
         \x20     terminationGracePeriodSeconds: 15\n\
         \x20     securityContext:\n\
         \x20       runAsNonRoot: true\n\
         \x20       runAsUser: 65532\n\
         \x20       runAsGroup: 65532\n\
         \x20       fsGroup: 65532\n\
         \x20     containers:\n\
         \x20       - name: hpaxos\n\
         \x20         image: {image}\n\
         \x20         imagePullPolicy: IfNotPresent\n\
         \x20         args: [\"node\", \"--config\", \"/etc/hpaxos/cluster.toml\", \"--name\", {qname}, \"--key\", \"/etc/hpaxos-key/node.key\", \"--data-dir\", \"/data\"]\n\
         \x20         env:\n\
         \x20           - name: HPAXOS_LOG\n\
         \x20             value: info\n\
         \x20         ports:\n\
         \x20           - name: peer\n\
         \x20             containerPort: {peer}\n",
        sel2 = sel.replace("\n      ", "\n        "),
        image = q(&spec.image),
        qname = q(name),
    );
    if let Some(h) = http {
        let _ = write!(
            y,
            "\x20           - name: http\n\
             \x20             containerPort: {h}\n\
             \x20         readinessProbe:\n\
             \x20           httpGet:\n\
             \x20             path: {probe}\n\
             \x20             port: http\n\
             \x20           periodSeconds: 2\n\
             \x20           failureThreshold: 3\n\
             \x20         livenessProbe:\n\
             \x20           httpGet:\n\
             \x20             path: /health\n\
             \x20             port: http\n\
             \x20           initialDelaySeconds: 10\n\
             \x20           periodSeconds: 10\n\
             \x20           failureThreshold: 6\n",
            probe = q(&spec.probe_path),
        );
    }
    let _ = write!(
        y,
        "\x20         securityContext:\n\
         \x20           allowPrivilegeEscalation: false\n\
         \x20           readOnlyRootFilesystem: true\n\
         \x20           capabilities:\n\
         \x20             drop: [\"ALL\"]\n\
         \x20         volumeMounts:\n\
         \x20           - name: config\n\
         \x20             mountPath: /etc/hpaxos\n\
         \x20             readOnly: true\n\
         \x20           - name: key\n\
         \x20             mountPath: /etc/hpaxos-key\n\
         \x20             readOnly: true\n\
         \x20           - name: data\n\
         \x20             mountPath: /data\n\
         \x20     volumes:\n\
         \x20       - name: config\n\
         \x20         configMap:\n\
         \x20           name: hpaxos-cluster\n\
         \x20       - name: key\n\
         \x20         secret:\n\
         \x20           secretName: hpaxos-key-{name}\n\
         \x20           defaultMode: 0440\n\
         \x20 volumeClaimTemplates:\n\
         \x20   - metadata:\n\
         \x20       name: data\n\
         \x20     spec:\n\
         \x20       accessModes: [\"ReadWriteOnce\"]\n"
    );
    if let Some(c) = &spec.storage_class {
        let _ = writeln!(y, "\x20       storageClassName: {}", q(c));
    }
    let _ = write!(
        y,
        "\x20       resources:\n\
         \x20         requests:\n\
         \x20           storage: {}\n",
        q(&spec.storage)
    );
    y
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testnet::{write_testnet, TestnetSpec};

    fn testnet() -> (tempfile::TempDir, String, ClusterConfig) {
        let d = tempfile::tempdir().unwrap();
        let t = write_testnet(&TestnetSpec::new(5, d.path().join("t"), "/bin/hpaxos")).unwrap();
        let text = std::fs::read_to_string(&t.config).unwrap();
        let cfg = ClusterConfig::load(&t.config).unwrap();
        (d, text, cfg)
    }

    /// The ConfigMap's cluster file is one the node accepts, with every
    /// node addressed by its pod's stable name (issue 11: hostnames as
    /// addresses), the ports and the trust part unchanged.
    #[test]
    fn pod_config_is_a_valid_cluster_with_pod_names() {
        let (_d, text, cfg) = testnet();
        let pc = pod_config(&text, &cfg).unwrap();
        let c2 = ClusterConfig::parse(&pc, std::path::Path::new("/")).unwrap();
        assert_eq!(c2.nodes.len(), 5);
        for (a, b) in cfg.nodes.iter().zip(&c2.nodes) {
            assert_eq!(
                b.addr.as_str(),
                format!("{0}-0.{0}:{1}", a.name, a.addr.port())
            );
            assert_eq!(
                b.http.as_ref().unwrap().as_str(),
                format!("0.0.0.0:{}", a.http.as_ref().unwrap().port())
            );
            assert_eq!(a.public_key, b.public_key);
            assert!(b.data_dir.is_none() && b.key_file.is_none());
        }
        assert_eq!(cfg.trust.n_learners(), c2.trust.n_learners());
    }

    /// One StatefulSet + headless Service per node, one Secret per node,
    /// each manifest's documents carry apiVersion/kind/metadata, and the
    /// ConfigMap block holds the whole pod config.
    #[test]
    fn renders_one_statefulset_and_service_per_node() {
        let (_d, text, cfg) = testnet();
        let files = render(&K8sSpec::default(), &text, &cfg, &|n| {
            Some(format!("{n}-secret"))
        })
        .unwrap();
        let names: Vec<&str> = files.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            names,
            [
                "namespace.yaml",
                "config.yaml",
                "keys.yaml",
                "n1.yaml",
                "n2.yaml",
                "n3.yaml",
                "n4.yaml",
                "n5.yaml",
                "kustomization.yaml"
            ]
        );
        let all: String = files
            .iter()
            .map(|(_, t)| t.as_str())
            .collect::<Vec<_>>()
            .join("\n---\n");
        assert_eq!(all.matches("kind: StatefulSet").count(), 5);
        assert_eq!(all.matches("clusterIP: None").count(), 5);
        assert_eq!(all.matches("kind: Secret").count(), 5);
        assert_eq!(all.matches("readinessProbe:").count(), 5);
        assert_eq!(all.matches("volumeClaimTemplates:").count(), 5);
        assert!(all.contains("node.key: \"n3-secret\""));
        let n3 = &files[5].1;
        assert!(
            n3.contains("serviceName: n3")
                && n3.contains("containerPort: 7103")
                && n3.contains("containerPort: 8103")
        );
        let cm = &files[1].1;
        let pc = pod_config(&text, &cfg).unwrap();
        for l in pc.lines().filter(|l| !l.trim().is_empty()) {
            assert!(cm.contains(&format!("    {l}\n")), "ConfigMap lacks {l:?}");
        }
        assert!(matches!(
            render(&K8sSpec::default(), &text, &cfg, &|_| None),
            Err(K8sError::NoKey(_))
        ));
        let bad = K8sSpec {
            namespace: "Bad_NS".into(),
            ..K8sSpec::default()
        };
        assert!(matches!(
            render(&bad, &text, &cfg, &|_| Some(String::new())),
            Err(K8sError::Namespace(_))
        ));
    }
}
