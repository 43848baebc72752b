//! The peer handshake: the first frames on a peer connection name the
//! cluster and the node at each end, so that a foreign process, or a node
//! of another cluster, on a configured address is neither counted as a
//! connected peer nor fed frames, and is told (and the operator is told)
//! why.
//!
//! Data flow: the dialling side ([`dial`], from the transport's writer
//! task) sends a signed [`Payload::Hello`] naming the cluster
//! ([`cluster_id`]: a digest of the node table, names and keys, so two
//! clusters, or two versions of one cluster's file, differ) and itself,
//! then waits at most [`TIMEOUT`] for the listener's signed
//! [`Payload::Welcome`]; only then is the peer up. The listening side
//! ([`answer`], from a connection reader) checks the Hello's signature
//! against the key configured for the node it names, and the cluster; it
//! answers Welcome, or [`Payload::Refused`] with the reason and closes.
//!
//! A connection whose first frame is another signed payload is an older
//! node (before the handshake): its frames are authenticated one by one,
//! as they always were, and accepted.

use crate::config::ClusterConfig;
use crate::wire::{open, peek, seal, FrameReader, NodeIdx, Payload, WireError};
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest wait for the other side's handshake frame.
pub const TIMEOUT: Duration = Duration::from_secs(3);
/// Largest frame accepted before the peer is authenticated.
pub const PREAUTH_MAX_FRAME: usize = 64 * 1024;

/// This node, as it introduces itself to peers.
#[derive(Clone)]
pub struct Local {
    pub me: NodeIdx,
    pub name: String,
    pub key: SigningKey,
    pub cluster: String,
}

impl Local {
    pub fn new(cfg: &ClusterConfig, me: NodeIdx, key: SigningKey) -> Local {
        Local {
            me,
            name: cfg
                .nodes
                .get(me.index())
                .map(|n| n.name.clone())
                .unwrap_or_default(),
            key,
            cluster: cluster_id(cfg),
        }
    }
}

/// The cluster's identity in handshakes: the first 8 bytes (hex) of a
/// SHA-256 over every node's name and public key, in index order.
pub fn cluster_id(cfg: &ClusterConfig) -> String {
    let mut h = Sha256::new();
    h.update(b"hpaxos/cluster/v1\0");
    for n in &cfg.nodes {
        h.update(n.name.as_bytes());
        h.update([0]);
        h.update(n.public_key.as_bytes());
    }
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Why a handshake failed (dialling side).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("refused by the peer: {0}")]
    Refused(String),
    #[error("no handshake answer within {}s: not an hpaxos node of this cluster, or an hpaxos version without the handshake", TIMEOUT.as_secs())]
    NoAnswer,
    #[error("the connection closed during the handshake")]
    Closed,
    #[error("the answer is not this cluster's node {expected}: {why}")]
    NotThePeer { expected: String, why: String },
    #[error("{0}")]
    Io(String),
}

impl HandshakeError {
    /// Short label (metrics and the warning rate limit).
    pub fn label(&self) -> &'static str {
        match self {
            HandshakeError::Refused(_) => "handshake_refused",
            HandshakeError::NoAnswer => "handshake_no_answer",
            HandshakeError::Closed => "handshake_closed",
            HandshakeError::NotThePeer { .. } => "handshake_not_the_peer",
            HandshakeError::Io(_) => "handshake_io",
        }
    }
}

/// Reads one frame body of at most [`PREAUTH_MAX_FRAME`] bytes.
async fn read_frame(s: &mut TcpStream, fr: &mut FrameReader) -> Result<Option<Vec<u8>>, WireError> {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(b) = fr.next_frame()? {
            return Ok(Some(b));
        }
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(n) => fr.extend(&buf[..n]),
        }
    }
}

/// The dialling side: introduces this node to `peer` and waits for its
/// welcome.
pub async fn dial(
    s: &mut TcpStream,
    local: &Local,
    cfg: &ClusterConfig,
    keys: &[VerifyingKey],
    peer: NodeIdx,
) -> Result<(), HandshakeError> {
    let hello = seal(
        local.me,
        &local.key,
        &Payload::Hello {
            cluster: local.cluster.clone(),
            node: local.name.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        },
    );
    s.write_all(&hello)
        .await
        .map_err(|e| HandshakeError::Io(e.to_string()))?;
    s.flush()
        .await
        .map_err(|e| HandshakeError::Io(e.to_string()))?;
    let mut fr = FrameReader::new(PREAUTH_MAX_FRAME);
    let body = match tokio::time::timeout(TIMEOUT, read_frame(s, &mut fr)).await {
        Err(_) => return Err(HandshakeError::NoAnswer),
        Ok(Ok(None)) => return Err(HandshakeError::Closed),
        Ok(Err(e)) => {
            return Err(HandshakeError::NotThePeer {
                expected: peer_name(cfg, peer),
                why: format!("it answered {e}"),
            })
        }
        Ok(Ok(Some(b))) => b,
    };
    check_welcome(&body, local, cfg, keys, peer)
}

fn peer_name(cfg: &ClusterConfig, n: NodeIdx) -> String {
    cfg.nodes
        .get(n.index())
        .map_or_else(|| format!("#{}", n.0), |n| n.name.clone())
}

/// Checks the listener's answer.
pub fn check_welcome(
    body: &[u8],
    local: &Local,
    cfg: &ClusterConfig,
    keys: &[VerifyingKey],
    peer: NodeIdx,
) -> Result<(), HandshakeError> {
    let expected = peer_name(cfg, peer);
    let not = |why: String| HandshakeError::NotThePeer {
        expected: expected.clone(),
        why,
    };
    match open(body, keys) {
        Ok((from, Payload::Welcome { cluster, node })) => {
            if from != peer || node != expected {
                Err(not(format!("node {node} (#{}) answered", from.0)))
            } else if cluster != local.cluster {
                Err(not(format!(
                    "it is in cluster {cluster}, this node in {}",
                    local.cluster
                )))
            } else {
                Ok(())
            }
        }
        Ok((_, Payload::Refused { reason })) => Err(HandshakeError::Refused(reason)),
        Ok(_) => Err(not("it answered with another message".into())),
        Err(e) => match peek(body) {
            Some((_, Payload::Refused { reason })) => Err(HandshakeError::Refused(format!(
                "{reason} (the refusal is not signed with a key of this cluster)"
            ))),
            _ => Err(not(format!("its answer is not a signed welcome ({e})"))),
        },
    }
}

/// What the listening side makes of a connection's first frame.
#[derive(Debug, PartialEq, Eq)]
pub enum First {
    /// A valid Hello of a node of this cluster: answer `reply` (Welcome).
    Welcome { from: NodeIdx, reply: bytes::Bytes },
    /// A Hello refused: send `reply` and close; `reason` for the log.
    Refuse { reason: String, reply: bytes::Bytes },
    /// Not a Hello: an older node's first frame (or garbage), handled as
    /// any frame.
    NotHello,
}

/// The listening side: the answer to a connection's first frame.
pub fn answer(body: &[u8], local: &Local, cfg: &ClusterConfig, keys: &[VerifyingKey]) -> First {
    let refuse = |reason: String| First::Refuse {
        reply: seal(
            local.me,
            &local.key,
            &Payload::Refused {
                reason: reason.clone(),
            },
        ),
        reason,
    };
    let here = format!("this is node {} of cluster {}", local.name, local.cluster);
    match open(body, keys) {
        Ok((from, Payload::Hello { cluster, node, .. })) => {
            let configured = peer_name(cfg, from);
            if cluster != local.cluster {
                refuse(format!(
                    "{here}; node {node} names cluster {cluster}: the two nodes were given different configuration files"
                ))
            } else if node != configured {
                refuse(format!(
                    "{here}; the hello is signed by node {configured} but names node {node}"
                ))
            } else {
                First::Welcome {
                    from,
                    reply: seal(
                        local.me,
                        &local.key,
                        &Payload::Welcome {
                            cluster: local.cluster.clone(),
                            node: local.name.clone(),
                        },
                    ),
                }
            }
        }
        Ok(_) => First::NotHello,
        Err(e) => match peek(body) {
            Some((_, Payload::Hello { cluster, node, .. })) if cluster != local.cluster => refuse(
                format!("{here}; node {node} belongs to cluster {cluster} (a node of another cluster dials this address)"),
            ),
            Some((_, Payload::Hello { node, .. })) => refuse(format!(
                "{here}; the hello of node {node} does not verify with the key configured for it ({e})"
            )),
            _ => First::NotHello,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"
[acceptors]
a1 = {}
a2 = {}
[learners.alice]
quorums = "2 of {a1, a2}"
[[safety]]
learners = ["alice", "alice"]
safe = "2 of {a1, a2}"
"#;

    /// A two-node cluster with the given keys.
    fn cluster(k1: &SigningKey, k2: &SigningKey) -> ClusterConfig {
        let hex = |k: &SigningKey| -> String {
            k.verifying_key()
                .as_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        };
        let text = format!(
            "{TEXT}\n[nodes.n1]\naddr = \"127.0.0.1:1\"\npublic_key = \"{}\"\nacceptor = \"a1\"\n[nodes.n2]\naddr = \"127.0.0.1:2\"\npublic_key = \"{}\"\nacceptor = \"a2\"\n",
            hex(k1),
            hex(k2)
        );
        ClusterConfig::parse(&text, std::path::Path::new(".")).unwrap()
    }

    fn body(frame: &[u8]) -> Vec<u8> {
        let mut r = FrameReader::new(PREAUTH_MAX_FRAME);
        r.extend(frame);
        r.next_frame().unwrap().unwrap()
    }

    fn hello(l: &Local) -> Vec<u8> {
        body(&seal(
            l.me,
            &l.key,
            &Payload::Hello {
                cluster: l.cluster.clone(),
                node: l.name.clone(),
                version: "0".into(),
            },
        ))
    }

    #[test]
    fn nodes_of_one_cluster_welcome_each_other() {
        let (k1, k2) = (
            SigningKey::from_bytes(&[1; 32]),
            SigningKey::from_bytes(&[2; 32]),
        );
        let cfg = cluster(&k1, &k2);
        let keys = cfg.keys();
        let n1 = Local::new(&cfg, NodeIdx(0), k1);
        let n2 = Local::new(&cfg, NodeIdx(1), k2);
        let First::Welcome { from, reply } = answer(&hello(&n1), &n2, &cfg, &keys) else {
            panic!("refused");
        };
        assert_eq!(from, NodeIdx(0));
        assert_eq!(
            check_welcome(&body(&reply), &n1, &cfg, &keys, NodeIdx(1)),
            Ok(())
        );
        // The welcome of n2 is not the welcome of another peer.
        assert!(matches!(
            check_welcome(&body(&reply), &n1, &cfg, &keys, NodeIdx(0)),
            Err(HandshakeError::NotThePeer { .. })
        ));
    }

    /// Golden: what a node of another cluster is told, and what its
    /// operator reads.
    #[test]
    fn a_node_of_another_cluster_is_refused_and_told_why() {
        let (k1, k2, k3, k4) = (
            SigningKey::from_bytes(&[1; 32]),
            SigningKey::from_bytes(&[2; 32]),
            SigningKey::from_bytes(&[3; 32]),
            SigningKey::from_bytes(&[4; 32]),
        );
        let ours = cluster(&k1, &k2);
        let theirs = cluster(&k3, &k4);
        let n2 = Local::new(&ours, NodeIdx(1), k2.clone());
        let foreign = Local::new(&theirs, NodeIdx(0), k3);
        let First::Refuse { reason, reply } = answer(&hello(&foreign), &n2, &ours, &ours.keys())
        else {
            panic!("welcomed a foreign node");
        };
        assert_eq!(
            reason,
            format!(
                "this is node n2 of cluster {}; node n1 belongs to cluster {} (a node of another cluster dials this address)",
                n2.cluster, foreign.cluster
            )
        );
        let e = check_welcome(&body(&reply), &foreign, &theirs, &theirs.keys(), NodeIdx(1))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("refused by the peer: {reason} (the refusal is not signed with a key of this cluster)")
        );
        assert_eq!(e.label(), "handshake_refused");
        assert_eq!(
            HandshakeError::NoAnswer.to_string(),
            "no handshake answer within 3s: not an hpaxos node of this cluster, or an hpaxos version without the handshake"
        );
    }

    #[test]
    fn other_first_frames_are_not_hellos() {
        let (k1, k2) = (
            SigningKey::from_bytes(&[1; 32]),
            SigningKey::from_bytes(&[2; 32]),
        );
        let cfg = cluster(&k1, &k2);
        let n2 = Local::new(&cfg, NodeIdx(1), k2);
        assert_eq!(answer(b"garbage", &n2, &cfg, &cfg.keys()), First::NotHello);
        let status = body(&seal(NodeIdx(0), &k1, &Payload::Forward { cmds: vec![] }));
        assert_eq!(answer(&status, &n2, &cfg, &cfg.keys()), First::NotHello);
    }
}
