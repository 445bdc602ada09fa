//! The credit payment code: the token and the issuer's signature over it (`E2`).

use aws_lc_rs::digest;

use super::fields::Fields;
use super::keys::IssuerPublicKey;
use super::token::CreditToken;
use super::{CreditError, tags};
use crate::tlv::{self, Writer};

/// Domain separation for the issuer's signature: the signed message is this, then the `E1` bytes.
pub const TOKEN_SIGNATURE_DOMAIN: &[u8] = b"cardgate/credit-token/v1";

/// The message the issuer signs for a token: [`TOKEN_SIGNATURE_DOMAIN`] followed by the encoded `E1`.
pub fn token_signed_message(token_tlv: &[u8]) -> Vec<u8> {
    [TOKEN_SIGNATURE_DOMAIN, token_tlv].concat()
}

/// A credit payment code, as the issuer returns it and the card stores it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CreditPaymentCode {
    /// The decoded token.
    pub token: CreditToken,
    /// The `E1` bytes exactly as signed.
    pub token_tlv: Vec<u8>,
    /// The issuer's signature over [`token_signed_message`].
    pub issuer_signature: Vec<u8>,
    /// The whole `E2` encoding (what [`CreditPaymentCode::hash`] covers).
    pub encoded: Vec<u8>,
}

impl CreditPaymentCode {
    /// Puts a signed token together (the issuer's side, after signing `token_signed_message`).
    pub fn assemble(token_tlv: Vec<u8>, issuer_signature: Vec<u8>) -> Result<Self, CreditError> {
        let mut w = Writer::new();
        w.primitive(tags::PAYMENT_CODE, &[token_tlv.as_slice(), &signature_tlv(&issuer_signature)].concat());
        Self::decode(&w.into_bytes())
    }

    /// Reads an `E2` template: an `E1` token and a `DF29` signature, nothing else. Does not verify.
    pub fn decode(bytes: &[u8]) -> Result<Self, CreditError> {
        let outer = tlv::parse_single(bytes)
            .map_err(|source| CreditError::Tlv { what: "credit payment code", source })?;
        if outer.tag != tags::PAYMENT_CODE {
            return Err(CreditError::WrongTemplate {
                what: "credit payment code",
                expected: tags::PAYMENT_CODE,
                found: outer.tag,
            });
        }
        // The token's raw bytes (tag and length included) are what the issuer signed.
        let token_tlv = raw_children(outer.value)
            .map_err(|source| CreditError::Tlv { what: "credit payment code", source })?
            .into_iter()
            .find(|(tag, _)| *tag == tags::TOKEN)
            .map(|(_, raw)| raw.to_vec());
        let mut f = Fields::children("credit payment code", outer.value)?;
        f.required(tags::TOKEN, "credit token")?;
        let issuer_signature = f.required(tags::ISSUER_SIGNATURE, "issuer signature")?.to_vec();
        f.finish()?;
        let token_tlv = token_tlv.unwrap_or_default();
        let token = CreditToken::decode(&token_tlv)?;
        Ok(Self { token, token_tlv, issuer_signature, encoded: bytes.to_vec() })
    }

    /// Verifies the issuer's signature with `key`, which must be the key the token names.
    pub fn verify(&self, key: &IssuerPublicKey) -> Result<(), CreditError> {
        if key.key_id != self.token.issuer_key_id {
            return Err(CreditError::BadSignature("the token names another issuer key"));
        }
        key.verify(&token_signed_message(&self.token_tlv), &self.issuer_signature)
    }

    /// SHA-256 of the `E2` encoding: what the card's presentation signature binds to.
    pub fn hash(&self) -> [u8; 32] {
        let d = digest::digest(&digest::SHA256, &self.encoded);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    }
}

fn signature_tlv(sig: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    w.primitive(tags::ISSUER_SIGNATURE, sig);
    w.into_bytes()
}

/// Each top-level object of `buf` with its raw encoding (tag, length and value).
pub fn raw_children(buf: &[u8]) -> Result<Vec<(tlv::Tag, &[u8])>, tlv::TlvError> {
    let mut out = Vec::new();
    let mut pos = 0;
    for child in tlv::iter(buf) {
        let child = child?;
        // The value is a subslice of `buf`, so its end is where the next object starts.
        let end = child.value.as_ptr() as usize - buf.as_ptr() as usize + child.value.len();
        out.push((child.tag, &buf[pos..end]));
        pos = end;
    }
    Ok(out)
}
