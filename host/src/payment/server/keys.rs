//! The issuer's keys. Each generation has a key id and two key pairs: the signing key (ECDSA P-256 by
//! default, RSA-2048 as an option) that signs credit tokens, and a P-256 identity key that account
//! identities are encrypted to. Private keys are PKCS #8 files in `DATA/issuer-keys/` (directory 0700, files
//! 0600, refused at start if others can read them); the database records the public halves and which
//! generation is active. Rotation adds a generation and keeps the old ones for verification.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use applet::credit::{IssuerPublicKey, KeyAlgorithm, KeyId};
use aws_lc_rs::agreement::{self, ECDH_P256};
use aws_lc_rs::encoding::{AsBigEndian, AsDer, EcPublicKeyUncompressedBin, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair};
use rusqlite::{Connection, params};
use zeroize::Zeroizing;

/// A key problem at start or rotation.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A filesystem error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A private key file others can read.
    #[error("{path}: private key file has mode {mode:o}; it must not be readable by others (chmod 600)")]
    Permissions {
        /// The file.
        path: String,
        /// Its mode.
        mode: u32,
    },
    /// A key file that does not parse, or does not match the database.
    #[error("{path}: {why}")]
    Bad {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// Key generation failed.
    #[error("key generation failed")]
    Generate,
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
}

enum Signer {
    Ecdsa(EcdsaKeyPair),
    Rsa(rsa::KeyPair),
}

/// One key generation.
pub struct IssuerKey {
    /// The public signing key, with its id.
    pub public: IssuerPublicKey,
    signer: Signer,
    identity: agreement::PrivateKey,
    /// The identity key's public point (uncompressed), what tokens are encrypted to.
    pub identity_public: Vec<u8>,
    /// Whether new tokens use this generation.
    pub active: bool,
    /// When it was generated.
    pub created_at: u64,
}

impl std::fmt::Debug for IssuerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKey")
            .field("key_id", &hex::encode(self.public.key_id))
            .field("algorithm", &self.public.algorithm)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

impl IssuerKey {
    /// Signs `message` with the signing key.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let rng = SystemRandom::new();
        match &self.signer {
            Signer::Ecdsa(k) => Ok(k.sign(&rng, message).map_err(|_| KeyError::Generate)?.as_ref().to_vec()),
            Signer::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .map_err(|_| KeyError::Generate)?;
                Ok(sig)
            }
        }
    }

    /// The identity private key (to open encrypted identities).
    pub fn identity_key(&self) -> &agreement::PrivateKey {
        &self.identity
    }
}

/// Every key generation, the active one among them.
#[derive(Debug)]
pub struct KeyRing {
    dir: PathBuf,
    keys: Vec<IssuerKey>,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io { path: path.display().to_string(), source }
}

fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

fn read_secret(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let mode = fs::metadata(path).map_err(io(path))?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions { path: path.display().to_string(), mode: mode & 0o777 });
    }
    Ok(Zeroizing::new(fs::read(path).map_err(io(path))?))
}

impl KeyRing {
    /// Loads the keys the database lists from `DATA/keys/`; generates a first generation if there is none.
    pub fn load_or_generate(
        data_dir: &Path,
        conn: &mut Connection,
        algorithm: KeyAlgorithm,
    ) -> Result<Self, KeyError> {
        let dir = data_dir.join("issuer-keys");
        if !dir.exists() {
            fs::DirBuilder::new().mode(0o700).create(&dir).map_err(io(&dir))?;
        }
        let mut ring = Self { dir, keys: Vec::new() };
        let rows: Vec<(Vec<u8>, Vec<u8>, bool, i64)> = conn
            .prepare("SELECT key_id, encoded, active, created_at FROM payment_issuer_keys ORDER BY created_at DESC, rowid DESC")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<Result<_, _>>()?;
        for (id, encoded, active, created_at) in rows {
            let id_hex = hex::encode(&id);
            let public = IssuerPublicKey::decode(&encoded).map_err(|e| KeyError::Bad {
                path: format!("payment_issuer_keys row {id_hex}"),
                why: e.to_string(),
            })?;
            let key = ring.load(public, active, created_at as u64)?;
            ring.keys.push(key);
        }
        if ring.keys.is_empty() {
            ring.rotate(conn, algorithm)?;
        }
        Ok(ring)
    }

    fn paths(&self, id: &KeyId) -> (PathBuf, PathBuf) {
        let h = hex::encode(id);
        (self.dir.join(format!("{h}.sign.p8")), self.dir.join(format!("{h}.identity.p8")))
    }

    fn load(&self, public: IssuerPublicKey, active: bool, created_at: u64) -> Result<IssuerKey, KeyError> {
        let (sign_path, identity_path) = self.paths(&public.key_id);
        let bad =
            |path: &Path, why: &str| KeyError::Bad { path: path.display().to_string(), why: why.to_owned() };
        let der = read_secret(&sign_path)?;
        let (signer, public_bytes) = match public.algorithm {
            KeyAlgorithm::EcdsaP256Sha256 => {
                let k = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &der)
                    .map_err(|_| bad(&sign_path, "not a PKCS #8 ECDSA P-256 key"))?;
                let p = k.public_key().as_ref().to_vec();
                (Signer::Ecdsa(k), p)
            }
            KeyAlgorithm::Rsa2048Sha256 => {
                let k =
                    rsa::KeyPair::from_pkcs8(&der).map_err(|_| bad(&sign_path, "not a PKCS #8 RSA key"))?;
                let p = k.public_key().as_ref().to_vec();
                (Signer::Rsa(k), p)
            }
        };
        if public_bytes != public.public_key {
            return Err(bad(&sign_path, "does not match the public key recorded in the database"));
        }
        let der = read_secret(&identity_path)?;
        let identity = agreement::PrivateKey::from_private_key_der(&ECDH_P256, &der)
            .map_err(|_| bad(&identity_path, "not a P-256 private key"))?;
        let identity_public: EcPublicKeyUncompressedBin = identity
            .compute_public_key()
            .and_then(|p| p.as_be_bytes())
            .map_err(|_| bad(&identity_path, "cannot compute its public key"))?;
        Ok(IssuerKey {
            public,
            signer,
            identity,
            identity_public: identity_public.as_ref().to_vec(),
            active,
            created_at,
        })
    }

    /// Generates a new generation, makes it the active one, and returns it.
    pub fn rotate(&mut self, conn: &mut Connection, algorithm: KeyAlgorithm) -> Result<&IssuerKey, KeyError> {
        let rng = SystemRandom::new();
        let (sign_der, public_bytes): (Zeroizing<Vec<u8>>, Vec<u8>) = match algorithm {
            KeyAlgorithm::EcdsaP256Sha256 => {
                let doc = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(|_| KeyError::Generate)?;
                let k = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref())
                    .map_err(|_| KeyError::Generate)?;
                (Zeroizing::new(doc.as_ref().to_vec()), k.public_key().as_ref().to_vec())
            }
            KeyAlgorithm::Rsa2048Sha256 => {
                let k = rsa::KeyPair::generate(rsa::KeySize::Rsa2048).map_err(|_| KeyError::Generate)?;
                let doc: Pkcs8V1Der = k.as_der().map_err(|_| KeyError::Generate)?;
                (Zeroizing::new(doc.as_ref().to_vec()), k.public_key().as_ref().to_vec())
            }
        };
        let identity = agreement::PrivateKey::generate(&ECDH_P256).map_err(|_| KeyError::Generate)?;
        let identity_der: Pkcs8V1Der = identity.as_der().map_err(|_| KeyError::Generate)?;
        let public = IssuerPublicKey::new(algorithm, public_bytes).map_err(|_| KeyError::Generate)?;
        if self.keys.iter().any(|k| k.public.key_id == public.key_id) {
            // A 32-bit id collision: astronomically rare, and a retry draws a new key.
            return self.rotate(conn, algorithm);
        }
        let (sign_path, identity_path) = self.paths(&public.key_id);
        write_secret(&sign_path, &sign_der)?;
        write_secret(&identity_path, identity_der.as_ref())?;
        if let Ok(d) = fs::File::open(&self.dir) {
            // Make the new directory entries durable before the database refers to them.
            let _ = d.sync_all();
        }
        let created_at = super::now();
        let key = self.load(public, true, created_at)?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute("UPDATE payment_issuer_keys SET active = 0", [])?;
        tx.execute(
            "INSERT INTO payment_issuer_keys (key_id, algorithm, encoded, identity_public, created_at, active)
             VALUES (?1, ?2, ?3, ?4, ?5, 1)",
            params![
                &key.public.key_id[..],
                algorithm.name(),
                key.public.encode(),
                key.identity_public,
                created_at as i64
            ],
        )?;
        tx.commit()?;
        for k in &mut self.keys {
            k.active = false;
        }
        tracing::info!(key_id = %hex::encode(key.public.key_id), algorithm = algorithm.name(), "new issuer key");
        self.keys.insert(0, key);
        Ok(&self.keys[0])
    }

    /// The generation new tokens are signed with.
    pub fn active(&self) -> Option<&IssuerKey> {
        self.keys.iter().find(|k| k.active)
    }

    /// The generation with this id.
    pub fn get(&self, id: &KeyId) -> Option<&IssuerKey> {
        self.keys.iter().find(|k| &k.public.key_id == id)
    }

    /// Every generation, the active one first.
    pub fn all(&self) -> &[IssuerKey] {
        &self.keys
    }

    /// The public signing keys, for verification.
    pub fn public_keys(&self) -> Vec<IssuerPublicKey> {
        self.keys.iter().map(|k| k.public.clone()).collect()
    }
}
