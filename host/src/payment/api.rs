//! The issuer server's JSON API, as both the server and the host's clients see it. Binary values are
//! lowercase hex; amounts are integer minor units with an ISO 4217 numeric currency; times are UTC
//! seconds. Every error is `{"error": {"code": "...", "message": "..."}}` with a 4xx/5xx status.

use applet::credit::IssuerPublicKey;
use serde::{Deserialize, Serialize};

use super::verify::Reason;

/// The API version prefix.
pub const PREFIX: &str = "/v1";

/// An error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// A stable code (`unauthorized`, `not_found`, `payload_too_large`, `bad_request`...).
    pub code: String,
    /// A sentence.
    pub message: String,
}

/// One issuer public key (`GET /v1/issuer/keys`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerKeyInfo {
    /// Key id, 4 bytes hex.
    pub key_id: String,
    /// `ecdsa-p256` or `rsa-2048`.
    pub algorithm: String,
    /// The `E6` template (docs/payment.md), hex: what merchants and cards store.
    pub encoded: String,
    /// Whether new tokens are signed with it.
    pub active: bool,
    /// When it was generated.
    pub created_at: u64,
}

impl IssuerKeyInfo {
    /// The key itself, from its `E6` template.
    pub fn decode(&self) -> Result<IssuerPublicKey, BadIssuerKey> {
        let bad = |why: String| BadIssuerKey { key_id: self.key_id.clone(), why };
        let bytes = hex::decode(&self.encoded).map_err(|_| bad("not hex".into()))?;
        IssuerPublicKey::decode(&bytes).map_err(|e| bad(e.to_string()))
    }
}

/// Every key of a list (a registration's, `GET /v1/issuer/keys`), decoded; the first that does not
/// decode is the error.
pub fn decode_issuer_keys(keys: &[IssuerKeyInfo]) -> Result<Vec<IssuerPublicKey>, BadIssuerKey> {
    keys.iter().map(IssuerKeyInfo::decode).collect()
}

/// An issuer key from the server that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("issuer key {key_id}: {why}")]
pub struct BadIssuerKey {
    /// The key's id, as the server sent it.
    pub key_id: String,
    /// What is wrong with it.
    pub why: String,
}

/// `GET /v1/issuer/keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerKeys {
    /// Every key that can still verify tokens, the active one first.
    pub keys: Vec<IssuerKeyInfo>,
}

/// `POST /v1/admin/keys/rotate` (admin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotateKey {
    /// `ecdsa-p256` (default) or `rsa-2048`.
    #[serde(default)]
    pub algorithm: Option<String>,
}

/// `POST /v1/accounts` (admin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateAccount {
    /// The account's name, unique.
    pub account: String,
    /// Credit line, minor units.
    pub credit_limit: u64,
    /// ISO 4217 numeric currency.
    pub currency: u16,
}

/// An account (`POST /v1/accounts`, `GET /v1/accounts/{name}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    /// Name.
    pub account: String,
    /// ISO 4217 numeric currency.
    pub currency: u16,
    /// Credit line, minor units.
    pub credit_limit: u64,
    /// Debited by accepted payments, minor units.
    pub used: u64,
    /// Tokens issued for the account.
    pub tokens: u64,
}

/// Allowed payees in an issuance request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayeesJson {
    /// Merchant ids.
    #[serde(default)]
    pub merchant_ids: Vec<String>,
    /// Merchant category codes.
    #[serde(default)]
    pub categories: Vec<u16>,
}

/// `POST /v1/tokens` (admin): issue a credit payment code for a card's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueRequest {
    /// The account.
    pub account: String,
    /// The card's P-256 public key, compressed (33 bytes), hex.
    pub card_public_key: String,
    /// Validity duration, seconds.
    pub valid_for: u32,
    /// Allowed uses.
    pub allowed_uses: u16,
    /// Largest single payment, minor units of the account's currency.
    pub threshold: u64,
    /// Allowed payees (both empty: any).
    #[serde(default)]
    pub payees: PayeesJson,
}

/// `POST /v1/tokens` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueResponse {
    /// Token id, hex.
    pub token_id: String,
    /// The credit payment code (`E2`), hex.
    pub code: String,
    /// The issuer key that signed it (`E6`), hex.
    pub issuer_key: String,
    /// Generation time.
    pub generated_at: u64,
    /// Last valid second.
    pub expires_at: u64,
}

/// `POST /v1/merchants` (admin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterMerchant {
    /// Merchant id (1–15 printable ASCII).
    pub merchant_id: String,
    /// Display name.
    pub name: String,
    /// Category code (ISO 18245).
    #[serde(default)]
    pub category: Option<u16>,
}

/// `POST /v1/merchants` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantRegistered {
    /// The merchant id.
    pub merchant_id: String,
    /// The API key; shown once, stored hashed on the server.
    pub api_key: String,
    /// The issuer's keys.
    pub issuer_keys: Vec<IssuerKeyInfo>,
}

/// One payment in a settlement upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadedPayment {
    /// The merchant's id for the payment (idempotency key): 1–64 characters of `[0-9a-zA-Z_-]`.
    pub payment_id: String,
    /// The QR text (base64 CPM payload).
    pub payload: String,
    /// Amount charged, minor units.
    pub amount: u64,
    /// ISO 4217 numeric currency.
    pub currency: u16,
    /// When the merchant accepted it.
    pub accepted_at: u64,
}

/// `POST /v1/settlements` (merchant): a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementRequest {
    /// The payments, at most [`MAX_BATCH`].
    pub payments: Vec<UploadedPayment>,
}

/// The most payments one upload may carry.
pub const MAX_BATCH: usize = 1000;

/// `accepted` or `rejected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The credit line was debited.
    Accepted,
    /// Refused; see the reason.
    Rejected,
}

impl Outcome {
    /// `accepted` / `rejected`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Rejected => "rejected",
        }
    }
}

/// The verdict on one payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The merchant's payment id.
    pub payment_id: String,
    /// Accepted or rejected.
    pub verdict: Outcome,
    /// Why it was rejected; absent when accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<Reason>,
    /// A sentence ("accepted" when accepted).
    pub reason: String,
    /// Flagged for investigation (double spend).
    pub flagged: bool,
    /// Amount, minor units.
    pub amount: u64,
    /// ISO 4217 numeric currency.
    pub currency: u16,
}

/// `POST /v1/settlements` answer, and `GET /v1/settlements`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdicts {
    /// One per payment, in upload order.
    pub verdicts: Vec<Verdict>,
}

#[cfg(test)]
mod tests {
    use applet::credit::KeyAlgorithm;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};

    use super::*;

    fn info(key_id: &str, encoded: String) -> IssuerKeyInfo {
        IssuerKeyInfo {
            key_id: key_id.into(),
            algorithm: "ecdsa-p256".into(),
            encoded,
            active: true,
            created_at: 0,
        }
    }

    #[test]
    fn issuer_keys_decode_or_name_the_key_that_does_not() {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let key =
            IssuerPublicKey::new(KeyAlgorithm::EcdsaP256Sha256, pair.public_key().as_ref().to_vec()).unwrap();
        let good = info("01020304", hex::encode(key.encode()));
        assert_eq!(decode_issuer_keys(std::slice::from_ref(&good)).unwrap(), [key]);
        let not_hex = info("0A0B0C0D", "E6zz".into());
        assert_eq!(not_hex.decode().unwrap_err().to_string(), "issuer key 0A0B0C0D: not hex");
        let not_key = info("0E0E0E0E", "e60100".into());
        let err = decode_issuer_keys(&[good, not_key]).unwrap_err();
        assert_eq!(err.key_id, "0E0E0E0E", "{err}");
    }
}
