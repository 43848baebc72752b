//! Node identities: Ed25519 key generation, secret key files and the hex
//! public keys written in the configuration.
//!
//! `hpaxos keygen` calls [`generate`] and [`write_secret`]; a node loads its
//! secret with [`read_secret`] and checks it against the public key the
//! configuration lists for it (a mismatch is a startup error).

use ed25519_dalek::{SigningKey, VerifyingKey};
use rand_core::OsRng;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key file {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write key file {path}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("key file {0} does not hold a 64-hex-digit Ed25519 secret key")]
    BadSecret(String),
    #[error("{0:?} is not a 64-hex-digit Ed25519 public key")]
    BadPublic(String),
}

/// A fresh key from the operating system's random source.
pub fn generate() -> SigningKey {
    SigningKey::generate(&mut OsRng)
}

pub fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn from_hex32(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

pub fn public_hex(k: &SigningKey) -> String {
    to_hex(k.verifying_key().as_bytes())
}

pub fn parse_public(s: &str) -> Result<VerifyingKey, KeyError> {
    let b = from_hex32(s).ok_or_else(|| KeyError::BadPublic(s.to_string()))?;
    VerifyingKey::from_bytes(&b).map_err(|_| KeyError::BadPublic(s.to_string()))
}

/// Writes the secret as hex, readable by the owner only.
pub fn write_secret(path: &Path, k: &SigningKey) -> Result<(), KeyError> {
    let err = |source| KeyError::Write {
        path: path.display().to_string(),
        source,
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(err)?;
    use std::io::Write;
    f.write_all(format!("{}\n", to_hex(&k.to_bytes())).as_bytes())
        .map_err(err)?;
    f.sync_all().map_err(err)
}

pub fn read_secret(path: &Path) -> Result<SigningKey, KeyError> {
    let s = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let b = from_hex32(&s).ok_or_else(|| KeyError::BadSecret(path.display().to_string()))?;
    Ok(SigningKey::from_bytes(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_round_trips_and_public_parses() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        let k = generate();
        write_secret(&p, &k).unwrap();
        let k2 = read_secret(&p).unwrap();
        assert_eq!(k.to_bytes(), k2.to_bytes());
        assert_eq!(parse_public(&public_hex(&k)).unwrap(), k.verifying_key());
        assert!(write_secret(&p, &k).is_err(), "never overwrites a key");
        assert!(parse_public("zz").is_err());
    }
}
