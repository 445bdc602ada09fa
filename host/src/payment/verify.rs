//! The checks a payment must pass offline, shared by the merchant (`cardgate accept`) and the issuer
//! server (settlement re-runs them before the checks only it can make). Each failure has a stable
//! [`Reason`] code and a sentence.

use std::fmt;

use applet::credit::presentation::presentation_signed_message;
use applet::credit::{CreditError, IssuerPublicKey, Money};
use aws_lc_rs::signature;
use serde::{Deserialize, Serialize};

use super::cpm::PaymentPayload;
use super::money::format_money;
use super::point;

/// Why a payment is refused. The snake_case names are stable: they appear in JSON and in scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The payload could not be read.
    Malformed,
    /// The token names an issuer key this verifier does not have.
    UnknownIssuerKey,
    /// The issuer's signature over the token does not verify.
    BadIssuerSignature,
    /// The card's signature over the presentation does not verify.
    BadCardSignature,
    /// The payment is before the token's generation time.
    NotYetValid,
    /// The payment is after the token's validity window.
    Expired,
    /// The presentation time and the payment time are too far apart.
    StalePresentation,
    /// The merchant is not among the token's allowed payees.
    PayeeNotAllowed,
    /// The payment is in another currency than the token.
    CurrencyMismatch,
    /// The amount is above the token's threshold.
    AmountOverThreshold,
    /// The card signed another amount.
    AmountMismatch,
    /// A payment of zero.
    ZeroAmount,
    /// This terminal has seen this presentation (token and counter, or token and random number) before.
    Replayed,
    /// The token's allowed uses are spent (by this terminal's count, or across all merchants).
    UsesExhausted,
    /// Server: the same token and counter were already accepted (at this or another merchant).
    DoubleSpend,
    /// Server: the account's credit line cannot cover the amount.
    CreditExceeded,
    /// Server: the token is not one the issuer has on record.
    UnknownToken,
    /// Server: the encrypted identity does not match the issuer's record of the token.
    IdentityMismatch,
    /// Server: the merchant's payment time is later than the server's clock allows.
    FutureTime,
    /// Server: the same payment id was uploaded before with different content.
    ConflictingPaymentId,
}

impl Reason {
    /// The stable code (`double_spend`).
    pub fn code(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::UnknownIssuerKey => "unknown_issuer_key",
            Reason::BadIssuerSignature => "bad_issuer_signature",
            Reason::BadCardSignature => "bad_card_signature",
            Reason::NotYetValid => "not_yet_valid",
            Reason::Expired => "expired",
            Reason::StalePresentation => "stale_presentation",
            Reason::PayeeNotAllowed => "payee_not_allowed",
            Reason::CurrencyMismatch => "currency_mismatch",
            Reason::AmountOverThreshold => "amount_over_threshold",
            Reason::AmountMismatch => "amount_mismatch",
            Reason::ZeroAmount => "zero_amount",
            Reason::Replayed => "replayed",
            Reason::UsesExhausted => "uses_exhausted",
            Reason::DoubleSpend => "double_spend",
            Reason::CreditExceeded => "credit_exceeded",
            Reason::UnknownToken => "unknown_token",
            Reason::IdentityMismatch => "identity_mismatch",
            Reason::FutureTime => "future_time",
            Reason::ConflictingPaymentId => "conflicting_payment_id",
        }
    }

    /// The reason with this code.
    pub fn from_code(code: &str) -> Option<Reason> {
        serde_json::from_value(serde_json::Value::String(code.to_owned())).ok()
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A refused payment: the reason code and a sentence naming the values involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct Rejection {
    /// The stable reason.
    pub reason: Reason,
    /// What exactly was wrong.
    pub message: String,
}

impl Rejection {
    /// A rejection with a message.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self { reason, message: message.into() }
    }
}

/// What the verifier knows about the payment besides the QR code.
#[derive(Debug, Clone)]
pub struct Terms<'a> {
    /// The merchant being paid.
    pub merchant_id: &'a str,
    /// Its category code, if registered with one.
    pub category: Option<u16>,
    /// The amount the merchant charges.
    pub amount: Money,
    /// When the merchant accepts the payment, UTC seconds.
    pub at: u64,
    /// How far apart the card's presentation time and `at` may be, in seconds.
    pub max_skew: u64,
}

/// The default for [`Terms::max_skew`]: ten minutes.
pub const DEFAULT_MAX_SKEW: u64 = 600;

/// Runs every check that needs no state: both signatures, the validity window, the payee, the amount.
/// Returns the presentation time (UTC seconds) on success.
pub fn check_payment(
    payload: &PaymentPayload,
    keys: &[IssuerPublicKey],
    terms: &Terms<'_>,
) -> Result<u32, Rejection> {
    let token = &payload.code.token;
    let key = keys.iter().find(|k| k.key_id == token.issuer_key_id).ok_or_else(|| {
        Rejection::new(
            Reason::UnknownIssuerKey,
            format!(
                "the token is signed by issuer key {}, which this verifier does not have",
                hex::encode(token.issuer_key_id)
            ),
        )
    })?;
    payload.code.verify(key).map_err(|e| Rejection::new(Reason::BadIssuerSignature, e.to_string()))?;
    verify_card_signature(payload).map_err(|e| Rejection::new(Reason::BadCardSignature, e.to_string()))?;

    let presented =
        payload.presentation.unix_time().map_err(|e| Rejection::new(Reason::Malformed, e.to_string()))?;
    let window = |t: u64| {
        if t < u64::from(token.generated_at) {
            Err(Rejection::new(
                Reason::NotYetValid,
                format!(
                    "{} is before the token was generated ({})",
                    utc(t),
                    utc(u64::from(token.generated_at))
                ),
            ))
        } else if t > token.expires_at() {
            Err(Rejection::new(
                Reason::Expired,
                format!("the code expired at {}; it is now {}", utc(token.expires_at()), utc(t)),
            ))
        } else {
            Ok(())
        }
    };
    window(terms.at)?;
    window(u64::from(presented))?;
    if terms.at.abs_diff(u64::from(presented)) > terms.max_skew {
        return Err(Rejection::new(
            Reason::StalePresentation,
            format!(
                "the code was presented at {} but the payment is at {}, more than {} s apart",
                utc(u64::from(presented)),
                utc(terms.at),
                terms.max_skew
            ),
        ));
    }

    if !token.payees.allows(terms.merchant_id, terms.category) {
        return Err(Rejection::new(
            Reason::PayeeNotAllowed,
            format!(
                "merchant {} (category {}) is not an allowed payee (merchants {:?}, categories {:?})",
                terms.merchant_id,
                terms.category.map_or("none".into(), |c| format!("{c:04}")),
                token.payees.merchant_ids,
                token.payees.categories
            ),
        ));
    }
    if terms.amount.currency != token.threshold.currency {
        return Err(Rejection::new(
            Reason::CurrencyMismatch,
            format!(
                "the payment is in currency {:03}, the token in {:03}",
                terms.amount.currency, token.threshold.currency
            ),
        ));
    }
    if terms.amount.minor == 0 {
        return Err(Rejection::new(Reason::ZeroAmount, "the amount is zero"));
    }
    if terms.amount.minor > token.threshold.minor {
        return Err(Rejection::new(
            Reason::AmountOverThreshold,
            format!(
                "{} is above the token's threshold of {}",
                format_money(terms.amount),
                format_money(token.threshold)
            ),
        ));
    }
    if let Some(signed) = payload.presentation.amount
        && signed != terms.amount
    {
        return Err(Rejection::new(
            Reason::AmountMismatch,
            format!(
                "the card signed {}, the merchant charges {}",
                format_money(signed),
                format_money(terms.amount)
            ),
        ));
    }
    Ok(presented)
}

/// Checks the card's signature over the presentation, as `applet::credit::presentation::verify_presentation`
/// does, with the card key decompressed by [`point::decompress`] first (what aws-lc-rs would do
/// itself, at ~20x the cost).
pub fn verify_card_signature(payload: &PaymentPayload) -> Result<(), CreditError> {
    let bad = CreditError::BadSignature("the card's signature does not verify");
    let key = point::decompress(&payload.code.token.card_public_key).ok_or(bad.clone())?;
    let message = presentation_signed_message(&payload.presentation_tlv, &payload.code.hash());
    signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &key[..])
        .verify(&message, &payload.card_signature)
        .map_err(|_| bad)
}

/// A UTC time for messages: `2026-11-28T10:00:00Z`.
pub fn utc(unix: u64) -> String {
    i64::try_from(unix)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| format!("{unix} s"))
}
