//! The account identity inside a token, encrypted to the issuer's identity key so that merchants cannot
//! read it (US 11,587,056 claim 3). ECIES on P-256 (SEC 1 §5.1 in outline):
//!
//! 1. an ephemeral P-256 key pair; Z = ECDH(ephemeral private, issuer identity public);
//! 2. HKDF-SHA256 (RFC 5869): salt `"cardgate/identity/v1"`, IKM Z, info = issuer key id ‖ token id ‖
//!    ephemeral public key (compressed); 44 bytes out: an AES-256 key, then a 96-bit nonce;
//! 3. AES-256-GCM over the 8-byte account number, with the token id as associated data.
//!
//! The result is the compressed ephemeral point (33 bytes) ‖ ciphertext (8) ‖ tag (16) = 57 bytes.
//! Every token has a fresh ephemeral key, so each key and nonce is used once.

use applet::credit::KeyId;
use applet::credit::token::ENCRYPTED_IDENTITY_LEN;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, ECDH_P256, EphemeralPrivateKey, PrivateKey, UnparsedPublicKey};
use aws_lc_rs::encoding::{AsBigEndian, EcPublicKeyCompressedBin};
use aws_lc_rs::hkdf;
use aws_lc_rs::rand::SystemRandom;
use zeroize::Zeroizing;

use super::point;

/// HKDF salt and version label.
pub const IDENTITY_SALT: &[u8] = b"cardgate/identity/v1";

/// Encryption or decryption of an identity failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The issuer's identity key is not a P-256 public key.
    #[error("the issuer identity key is not a P-256 public key")]
    BadRecipient,
    /// The blob does not decrypt with this key: tampered, or for another key.
    #[error("the encrypted account identity does not decrypt with the issuer's identity key")]
    Undecryptable,
    /// The cryptographic library failed.
    #[error("cryptographic failure")]
    Crypto,
}

struct Okm(usize);

impl hkdf::KeyType for Okm {
    fn len(&self) -> usize {
        self.0
    }
}

fn derive(
    z: &[u8],
    key_id: &KeyId,
    token_id: &[u8; 8],
    ephemeral: &[u8],
) -> Result<Zeroizing<[u8; 44]>, IdentityError> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, IDENTITY_SALT).extract(z);
    let info = [key_id.as_slice(), token_id, ephemeral];
    let mut okm = Zeroizing::new([0u8; 44]);
    prk.expand(&info, Okm(44)).and_then(|o| o.fill(okm.as_mut())).map_err(|_| IdentityError::Crypto)?;
    Ok(okm)
}

fn cipher(okm: &[u8; 44]) -> Result<(LessSafeKey, Nonce), IdentityError> {
    let key = UnboundKey::new(&AES_256_GCM, &okm[..32]).map_err(|_| IdentityError::Crypto)?;
    let nonce = Nonce::try_assume_unique_for_key(&okm[32..]).map_err(|_| IdentityError::Crypto)?;
    Ok((LessSafeKey::new(key), nonce))
}

/// Encrypts `account` to the issuer's identity public key (SEC 1 point, 65 bytes uncompressed).
pub fn seal(
    recipient: &[u8],
    key_id: &KeyId,
    token_id: &[u8; 8],
    account: u64,
) -> Result<[u8; ENCRYPTED_IDENTITY_LEN], IdentityError> {
    let rng = SystemRandom::new();
    let ephemeral = EphemeralPrivateKey::generate(&ECDH_P256, &rng).map_err(|_| IdentityError::Crypto)?;
    let public: EcPublicKeyCompressedBin =
        ephemeral.compute_public_key().and_then(|p| p.as_be_bytes()).map_err(|_| IdentityError::Crypto)?;
    let public = public.as_ref().to_vec();
    let okm = agreement::agree_ephemeral(
        ephemeral,
        UnparsedPublicKey::new(&ECDH_P256, recipient),
        IdentityError::BadRecipient,
        |z| derive(z, key_id, token_id, &public),
    )?;
    let (key, nonce) = cipher(&okm)?;
    let mut body = account.to_be_bytes().to_vec();
    key.seal_in_place_append_tag(nonce, Aad::from(token_id), &mut body).map_err(|_| IdentityError::Crypto)?;
    let mut out = [0u8; ENCRYPTED_IDENTITY_LEN];
    out[..33].copy_from_slice(&public);
    out[33..].copy_from_slice(&body);
    Ok(out)
}

/// Decrypts an identity with the issuer's identity private key.
pub fn open(
    private: &PrivateKey,
    key_id: &KeyId,
    token_id: &[u8; 8],
    blob: &[u8; ENCRYPTED_IDENTITY_LEN],
) -> Result<u64, IdentityError> {
    let (ephemeral, sealed) = blob.split_at(33);
    // Decompressed here rather than by aws-lc-rs, which costs ~20x more (see `payment::point`).
    let compressed: &[u8; 33] = ephemeral.try_into().map_err(|_| IdentityError::Undecryptable)?;
    let peer = point::decompress(compressed).ok_or(IdentityError::Undecryptable)?;
    let okm = agreement::agree(
        private,
        UnparsedPublicKey::new(&ECDH_P256, &peer[..]),
        IdentityError::Undecryptable,
        |z| derive(z, key_id, token_id, ephemeral),
    )?;
    let (key, nonce) = cipher(&okm)?;
    let mut body = sealed.to_vec();
    let plain =
        key.open_in_place(nonce, Aad::from(token_id), &mut body).map_err(|_| IdentityError::Undecryptable)?;
    let bytes: [u8; 8] = plain.try_into().map_err(|_| IdentityError::Undecryptable)?;
    Ok(u64::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::EcPublicKeyUncompressedBin;

    fn recipient() -> (PrivateKey, Vec<u8>) {
        let private = PrivateKey::generate(&ECDH_P256).unwrap();
        let public: EcPublicKeyUncompressedBin = private.compute_public_key().unwrap().as_be_bytes().unwrap();
        (private, public.as_ref().to_vec())
    }

    #[test]
    fn identities_round_trip_and_bind_the_token() {
        let (private, public) = recipient();
        let blob = seal(&public, &[1, 2, 3, 4], &[7; 8], 42).unwrap();
        assert_eq!(open(&private, &[1, 2, 3, 4], &[7; 8], &blob).unwrap(), 42);
        // Moved to another token, or to another key id, it does not open.
        assert_eq!(open(&private, &[1, 2, 3, 4], &[8; 8], &blob), Err(IdentityError::Undecryptable));
        assert_eq!(open(&private, &[1, 2, 3, 5], &[7; 8], &blob), Err(IdentityError::Undecryptable));
        // Another issuer key cannot read it.
        let (other, _) = recipient();
        assert_eq!(open(&other, &[1, 2, 3, 4], &[7; 8], &blob), Err(IdentityError::Undecryptable));
        // Two encryptions of the same account differ (fresh ephemeral key), so tokens are unlinkable.
        assert_ne!(blob, seal(&public, &[1, 2, 3, 4], &[7; 8], 42).unwrap());
        // The plaintext does not appear in the blob.
        assert!(!blob.windows(8).any(|w| w == 42u64.to_be_bytes()));
    }

    #[test]
    fn tampering_is_detected() {
        let (private, public) = recipient();
        let blob = seal(&public, &[1, 2, 3, 4], &[7; 8], 42).unwrap();
        for i in 0..blob.len() {
            let mut bad = blob;
            bad[i] ^= 1;
            assert!(open(&private, &[1, 2, 3, 4], &[7; 8], &bad).is_err(), "byte {i}");
        }
        assert_eq!(seal(&[4; 65], &[0; 4], &[0; 8], 1), Err(IdentityError::BadRecipient));
    }
}
