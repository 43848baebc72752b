//! Proposed values: opaque bytes identified by their SHA-256 digest.
//!
//! Equality and ordering use the digest only, so sets of votes compare and
//! hash in constant time whatever the size of the batch a value carries.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::sync::Arc;

/// SHA-256 of a value's bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Digest(pub [u8; 32]);

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A value of the consensus (`Value` in the spec): bytes plus their digest.
///
/// On the wire only the bytes travel; the digest is recomputed on decoding,
/// so a peer cannot pair bytes with the digest of other bytes.
#[derive(Clone)]
pub struct Value {
    digest: Digest,
    bytes: Arc<[u8]>,
}

impl Value {
    pub fn new(bytes: impl Into<Arc<[u8]>>) -> Value {
        let bytes: Arc<[u8]> = bytes.into();
        let digest = Digest(Sha256::digest(&bytes).into());
        Value { digest, bytes }
    }

    pub fn digest(&self) -> Digest {
        self.digest
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// On the wire a value is its bytes, as one byte string (postcard: a
/// length and the bytes, the same encoding as a sequence of `u8`, decoded
/// as a slice rather than byte by byte).
impl Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.bytes)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        let b = serde_bytes::ByteBuf::deserialize(d)?;
        Ok(Value::new(b.into_vec()))
    }
}

impl PartialEq for Value {
    fn eq(&self, o: &Value) -> bool {
        self.digest == o.digest
    }
}
impl Eq for Value {}
impl PartialOrd for Value {
    fn partial_cmp(&self, o: &Value) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Value {
    fn cmp(&self, o: &Value) -> std::cmp::Ordering {
        self.digest.cmp(&o.digest)
    }
}
impl std::hash::Hash for Value {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.digest.hash(h)
    }
}
impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match std::str::from_utf8(&self.bytes) {
            Ok(s) if s.len() <= 16 => write!(f, "{s:?}"),
            _ => write!(f, "v{:?}", self.digest),
        }
    }
}
