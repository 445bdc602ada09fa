//! Public keys the formats refer to: the issuer's (which signs credit tokens) and the card's (which signs
//! presentations), and signature verification with them (aws-lc-rs).

use aws_lc_rs::{digest, signature};

use super::fields::Fields;
use super::{CreditError, tags};
use crate::tlv::Writer;

/// The signature algorithms an issuer key can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// ECDSA over P-256 with SHA-256; signatures are r‖s, 64 bytes (the default: compact QR codes).
    EcdsaP256Sha256,
    /// RSA-2048, PKCS #1 v1.5 with SHA-256 (RFC 8017 §8.2); 256-byte signatures.
    Rsa2048Sha256,
}

impl KeyAlgorithm {
    /// The one-byte code in `DF2B`.
    pub const fn code(self) -> u8 {
        match self {
            KeyAlgorithm::EcdsaP256Sha256 => 0x01,
            KeyAlgorithm::Rsa2048Sha256 => 0x02,
        }
    }

    /// The algorithm for a `DF2B` code.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0x01 => Some(KeyAlgorithm::EcdsaP256Sha256),
            0x02 => Some(KeyAlgorithm::Rsa2048Sha256),
            _ => None,
        }
    }

    /// The name used in JSON and on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256Sha256 => "ecdsa-p256",
            KeyAlgorithm::Rsa2048Sha256 => "rsa-2048",
        }
    }

    /// The algorithm with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        [KeyAlgorithm::EcdsaP256Sha256, KeyAlgorithm::Rsa2048Sha256].into_iter().find(|a| a.name() == name)
    }

    fn verification(self) -> &'static dyn signature::VerificationAlgorithm {
        match self {
            KeyAlgorithm::EcdsaP256Sha256 => &signature::ECDSA_P256_SHA256_FIXED,
            KeyAlgorithm::Rsa2048Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        }
    }
}

/// An issuer key id: the first four bytes of SHA-256(algorithm code ‖ public key bytes).
pub type KeyId = [u8; 4];

/// An issuer public key as merchants and cards keep it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IssuerPublicKey {
    /// The key id tokens name in `DF27`.
    pub key_id: KeyId,
    /// The signature algorithm.
    pub algorithm: KeyAlgorithm,
    /// The key: a SEC 1 uncompressed point (65 bytes) for ECDSA, a PKCS #1 RSAPublicKey DER for RSA.
    pub public_key: Vec<u8>,
}

/// The key id of a public key (see [`KeyId`]).
pub fn key_id(algorithm: KeyAlgorithm, public_key: &[u8]) -> KeyId {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(&[algorithm.code()]);
    ctx.update(public_key);
    let d = ctx.finish();
    let mut id = [0u8; 4];
    id.copy_from_slice(&d.as_ref()[..4]);
    id
}

impl IssuerPublicKey {
    /// A key, with its id computed from its bytes; fails if the bytes are not a key of that algorithm.
    pub fn new(algorithm: KeyAlgorithm, public_key: Vec<u8>) -> Result<Self, CreditError> {
        let key = Self { key_id: key_id(algorithm, &public_key), algorithm, public_key };
        key.check()?;
        Ok(key)
    }

    fn check(&self) -> Result<(), CreditError> {
        let ok = match self.algorithm {
            KeyAlgorithm::EcdsaP256Sha256 => self.public_key.len() == 65 && self.public_key[0] == 0x04,
            KeyAlgorithm::Rsa2048Sha256 => {
                aws_lc_rs::rsa::PublicKey::from_der(&self.public_key).is_ok_and(|k| k.modulus_len() == 256)
            }
        };
        let ok =
            ok && signature::ParsedPublicKey::new(self.algorithm.verification(), &self.public_key).is_ok();
        if ok && key_id(self.algorithm, &self.public_key) == self.key_id {
            Ok(())
        } else {
            Err(CreditError::BadKey { what: "issuer key", algorithm: self.algorithm.name() })
        }
    }

    /// Verifies the issuer's signature over `message`.
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> Result<(), CreditError> {
        signature::UnparsedPublicKey::new(self.algorithm.verification(), &self.public_key)
            .verify(message, sig)
            .map_err(|_| CreditError::BadSignature("the issuer's signature does not verify"))
    }

    /// The `E6` template: key id, algorithm, key.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.constructed(tags::ISSUER_KEY, |w| {
            w.primitive(tags::ISSUER_KEY_ID, &self.key_id);
            w.primitive(tags::KEY_ALGORITHM, &[self.algorithm.code()]);
            w.primitive(tags::PUBLIC_KEY, &self.public_key);
        });
        w.into_bytes()
    }

    /// Reads an `E6` template, checking that the key id matches the key.
    pub fn decode(bytes: &[u8]) -> Result<Self, CreditError> {
        let mut f = Fields::single("issuer key", tags::ISSUER_KEY, bytes)?;
        let key_id = f.fixed::<4>(tags::ISSUER_KEY_ID, "issuer key id")?;
        let [code] = f.fixed::<1>(tags::KEY_ALGORITHM, "key algorithm")?;
        let algorithm = KeyAlgorithm::from_code(code).ok_or_else(|| {
            f.bad_value(tags::KEY_ALGORITHM, "key algorithm", format!("unknown code {code:02X}"))
        })?;
        let public_key = f.required(tags::PUBLIC_KEY, "public key")?.to_vec();
        f.finish()?;
        let key = Self { key_id, algorithm, public_key };
        key.check()?;
        Ok(key)
    }
}

/// Verifies a card's ECDSA P-256 signature (r‖s) with its compressed public key.
pub fn verify_card_signature(
    card_public_key: &[u8; 33],
    message: &[u8],
    sig: &[u8],
) -> Result<(), CreditError> {
    signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, card_public_key)
        .verify(message, sig)
        .map_err(|_| CreditError::BadSignature("the card's signature does not verify"))
}

/// Whether 33 bytes are a valid compressed P-256 point.
pub fn is_valid_card_key(card_public_key: &[u8; 33]) -> bool {
    matches!(card_public_key[0], 0x02 | 0x03)
        && signature::ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, card_public_key).is_ok()
}
