//! Proposed values: opaque bytes identified by their SHA-256 digest.
//!
//! Equality and ordering use the digest only, so sets of votes compare and
//! hash in constant time whatever the size of the batch a value carries.
//! The spec's `Value` is therefore the digest: a [`Value`] may carry its
//! bytes or not ([`Value::from_digest`]), and two values with one digest
//! are the same value for every guard of the spec.
//!
//! Ordering is separate from dissemination (see [`crate::node::store`]):
//! 1b, 2av and 2b name a value by its digest only ([`as_digest`] on their
//! `val` fields), the 1c carries the bytes when its sender holds them, and
//! a node that must apply or propose a value fetches missing bytes from
//! its peers, checked against the digest.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::sync::Arc;

/// SHA-256 of a value's bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(Sha256::digest(bytes).into())
    }
}

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A value of the consensus (`Value` in the spec): a digest, and the bytes
/// that hash to it when they are known here.
///
/// A value with bytes is only ever built from the bytes ([`Value::new`]:
/// the digest is computed), so a peer cannot pair bytes with the digest of
/// other bytes; a value without bytes only from a digest.
#[derive(Clone)]
pub struct Value {
    digest: Digest,
    bytes: Option<Arc<[u8]>>,
}

impl Value {
    pub fn new(bytes: impl Into<Arc<[u8]>>) -> Value {
        let bytes: Arc<[u8]> = bytes.into();
        let digest = Digest::of(&bytes);
        Value {
            digest,
            bytes: Some(bytes),
        }
    }

    /// The value named by `digest`, without its bytes.
    pub fn from_digest(digest: Digest) -> Value {
        Value {
            digest,
            bytes: None,
        }
    }

    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// The bytes, when known here.
    pub fn bytes(&self) -> Option<&[u8]> {
        self.bytes.as_deref()
    }

    pub fn has_bytes(&self) -> bool {
        self.bytes.is_some()
    }

    /// Length of the bytes (0 without them).
    pub fn len(&self) -> usize {
        self.bytes.as_ref().map_or(0, |b| b.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The same value without its bytes.
    pub fn digest_only(&self) -> Value {
        Value::from_digest(self.digest)
    }

    /// Drops the bytes (what a 1b, 2av or 2b carries).
    pub fn strip(&mut self) {
        self.bytes = None;
    }
}

/// How a value is encoded where it may carry its bytes (the 1c, log
/// records of bytes, spec actions): the bytes when known (one byte string,
/// decoded as a slice; the digest is recomputed), else the digest.
#[derive(Serialize)]
enum Repr<'a> {
    Bytes(#[serde(with = "serde_bytes")] &'a [u8]),
    Digest(Digest),
}

#[derive(Deserialize)]
enum ReprOwned {
    Bytes(serde_bytes::ByteBuf),
    Digest(Digest),
}

impl Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.bytes {
            Some(b) => Repr::Bytes(b),
            None => Repr::Digest(self.digest),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        Ok(match ReprOwned::deserialize(d)? {
            ReprOwned::Bytes(b) => Value::new(b.into_vec()),
            ReprOwned::Digest(g) => Value::from_digest(g),
        })
    }
}

/// `#[serde(with = "as_digest")]`: a value encoded as its digest alone (32
/// bytes), decoded without bytes. The `val` of a 1b's votes and proposals,
/// of a 2av and a 2b, and of a `Decided` record.
pub mod as_digest {
    use super::{Digest, Value};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &Value, s: S) -> Result<S::Ok, S::Error> {
        v.digest().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        Ok(Value::from_digest(Digest::deserialize(d)?))
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
        // `v1234abcd` with its bytes here, `#1234abcd` by digest only.
        match self.bytes.as_deref().map(std::str::from_utf8) {
            Some(Ok(s)) if s.len() <= 16 => write!(f, "{s:?}"),
            Some(_) => write!(f, "v{:?}", self.digest),
            None => write!(f, "#{:?}", self.digest),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value with bytes and the same value by digest are one spec value;
    /// each encoding decodes to the value it encodes.
    #[test]
    fn digest_only_values_are_the_same_value() {
        let v = Value::new(b"batch".to_vec());
        let d = v.digest_only();
        assert_eq!(v, d);
        assert!(!d.has_bytes());
        let back: Value = postcard::from_bytes(&postcard::to_stdvec(&v).unwrap()).unwrap();
        assert_eq!(back.bytes(), Some(&b"batch"[..]));
        let back: Value = postcard::from_bytes(&postcard::to_stdvec(&d).unwrap()).unwrap();
        assert!(!back.has_bytes() && back == v);
    }
}
