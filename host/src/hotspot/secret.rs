//! The hotspot server key: 32 random bytes generated in the data directory on first start
//! (`hotspot.key`, mode 0600, never leaves it), from which HKDF derives the HMAC key of the `hash`
//! rule and the AES-256-GCM key that encrypts stored network keys.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, RandomizedNonceKey};
use aws_lc_rs::{hkdf, hmac, rand};
use zeroize::Zeroizing;

/// File name of the key inside the data directory.
pub const KEY_FILE: &str = "hotspot.key";

const KEY_LEN: usize = 32;
/// HKDF salt (RFC 5869 §3.1: a fixed, non-secret salt is fine for a uniformly random input key).
const HKDF_SALT: &[u8] = b"cardgate hotspot";
const INFO_HMAC: &[u8] = b"second-identifier hmac v1";
const INFO_AEAD: &[u8] = b"network-key aes-256-gcm v1";

/// What can go wrong with the key file or with a stored ciphertext.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The key file could not be read or created.
    #[error("{path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The key file has the wrong size.
    #[error("{0}: not a hotspot key (want exactly 32 bytes)")]
    Length(PathBuf),
    /// Group or others may read the key file.
    #[error("{path}: mode {mode:o} lets others read the server key; chmod 600 it")]
    Mode {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The crypto library refused (randomness or key setup).
    #[error("crypto failure: {0}")]
    Crypto(&'static str),
    /// A stored ciphertext does not open under the server key (tampered, or another server's key).
    #[error("stored network key does not decrypt under this server's key")]
    Open,
}

/// The keys derived from the server key file.
pub struct ServerKeys {
    hmac: hmac::Key,
    aead: RandomizedNonceKey,
}

impl std::fmt::Debug for ServerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKeys(..)")
    }
}

impl ServerKeys {
    /// Loads `dir/hotspot.key`, creating it (0600, fresh randomness) when it does not exist yet.
    pub fn load_or_create(dir: &Path) -> Result<Self, SecretError> {
        let path = dir.join(KEY_FILE);
        let io = |source| SecretError::Io { path: path.clone(), source };
        let mut ikm = Zeroizing::new([0u8; KEY_LEN]);
        match fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path) {
            Ok(mut f) => {
                rand::fill(&mut ikm[..]).map_err(|_| SecretError::Crypto("random"))?;
                f.write_all(&ikm[..]).and_then(|()| f.sync_all()).map_err(io)?;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let mut f = fs::File::open(&path).map_err(io)?;
                let mode = f.metadata().map_err(io)?.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(SecretError::Mode { path, mode });
                }
                let mut buf = Zeroizing::new(Vec::with_capacity(KEY_LEN + 1));
                f.read_to_end(&mut buf).map_err(io)?;
                if buf.len() != KEY_LEN {
                    return Err(SecretError::Length(path));
                }
                ikm.copy_from_slice(&buf);
            }
            Err(e) => return Err(io(e)),
        }
        Self::from_secret(&ikm)
    }

    /// Derives the keys from 32 secret bytes (RFC 5869 HKDF-SHA256, one `info` per purpose).
    pub fn from_secret(ikm: &[u8; KEY_LEN]) -> Result<Self, SecretError> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, HKDF_SALT).extract(ikm);
        let hmac: hmac::Key =
            prk.expand(&[INFO_HMAC], hmac::HMAC_SHA256).map_err(|_| SecretError::Crypto("hkdf"))?.into();
        let mut aead_bytes = Zeroizing::new([0u8; KEY_LEN]);
        prk.expand(&[INFO_AEAD], hkdf::HKDF_SHA256)
            .and_then(|okm| okm.fill(&mut aead_bytes[..]))
            .map_err(|_| SecretError::Crypto("hkdf"))?;
        let aead = RandomizedNonceKey::new(&AES_256_GCM, &aead_bytes[..])
            .map_err(|_| SecretError::Crypto("aead"))?;
        Ok(Self { hmac, aead })
    }

    /// The HMAC key of the `hash` rule.
    pub fn hmac(&self) -> &hmac::Key {
        &self.hmac
    }

    /// Encrypts a network key for storage: `nonce (12) ‖ ciphertext ‖ tag (16)`, AES-256-GCM with a
    /// random nonce and the network id as associated data, so a ciphertext cannot be moved to another
    /// network's row.
    pub fn seal(&self, network_id: &str, plaintext: &[u8]) -> Result<Vec<u8>, SecretError> {
        let mut buf = plaintext.to_vec();
        let nonce = self
            .aead
            .seal_in_place_append_tag(Aad::from(network_id.as_bytes()), &mut buf)
            .map_err(|_| SecretError::Crypto("seal"))?;
        let mut out = Vec::with_capacity(NONCE_LEN + buf.len());
        out.extend_from_slice(nonce.as_ref());
        out.extend_from_slice(&buf);
        buf.iter_mut().for_each(|b| *b = 0);
        Ok(out)
    }

    /// Opens what [`ServerKeys::seal`] produced for the same network id.
    pub fn open(&self, network_id: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SecretError> {
        if sealed.len() < NONCE_LEN {
            return Err(SecretError::Open);
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let nonce =
            aws_lc_rs::aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| SecretError::Open)?;
        let mut buf = Zeroizing::new(ct.to_vec());
        let len = self
            .aead
            .open_in_place(nonce, Aad::from(network_id.as_bytes()), &mut buf[..])
            .map_err(|_| SecretError::Open)?
            .len();
        buf.truncate(len);
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_is_created_0600_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let a = ServerKeys::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(KEY_FILE);
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let sealed = a.seal("net1", b"secret passphrase").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"secret"), "stored key must not be plaintext");
        let b = ServerKeys::load_or_create(dir.path()).unwrap();
        assert_eq!(&b.open("net1", &sealed).unwrap()[..], b"secret passphrase");
        assert!(matches!(b.open("net2", &sealed), Err(SecretError::Open)), "bound to the network id");
        let mut tampered = sealed.clone();
        tampered[14] ^= 1;
        assert!(matches!(b.open("net1", &tampered), Err(SecretError::Open)));
    }

    #[test]
    fn readable_or_wrong_size_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        fs::write(&path, [7u8; 32]).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = ServerKeys::load_or_create(dir.path()).unwrap_err();
        assert!(matches!(err, SecretError::Mode { mode: 0o644, .. }), "{err}");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(ServerKeys::load_or_create(dir.path()).is_ok());
        fs::write(&path, [7u8; 31]).unwrap();
        assert!(matches!(ServerKeys::load_or_create(dir.path()), Err(SecretError::Length(_))));
    }
}
