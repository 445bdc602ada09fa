//! Settlement: a merchant uploads the payments it accepted offline; each gets a verdict.
//!
//! For every payment, in upload order:
//! 1. a payment id this merchant already uploaded returns the stored verdict unchanged (uploads are
//!    idempotent); the same id with different content is refused (`conflicting_payment_id`) and not
//!    stored;
//! 2. the offline checks run again (`payment::verify::check_payment`: both signatures, validity
//!    window, payee against the merchant's *registered* id and category, threshold), then
//!    the checks no terminal can make, against everything every merchant has uploaded:
//!    the token is on record and the encrypted identity opens to its account; the merchant's payment
//!    time is not ahead of the server's clock; the same token and counter accepted before, at any
//!    merchant, makes this one a **double spend** (rejected and flagged; the first stays accepted);
//!    the token's allowed uses; the account's credit line, which an accepted payment debits.
//!
//! Signature and decryption work runs first, in parallel on every core, outside the database lock;
//! then one `IMMEDIATE` transaction decides and stores every verdict of the batch.

use std::sync::PoisonError;

use applet::credit::{IssuerPublicKey, KeyId, Money};
use aws_lc_rs::digest;
use axum::Json;
use axum::extract::{Path, Query, State};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Deserialize;

use super::auth::MerchantAuth;
use super::error::ApiError;
use super::keys::KeyRing;
use super::{PaymentState, now};
use crate::payment::api::{MAX_BATCH, Outcome, SettlementRequest, UploadedPayment, Verdict, Verdicts};
use crate::payment::cpm::PaymentPayload;
use crate::payment::identity;
use crate::payment::money::format_money;
use crate::payment::verify::{self, Reason, Rejection, Terms};

/// The longest QR text accepted.
pub const MAX_PAYLOAD_CHARS: usize = 4096;

/// What the stateless checks found about one payment.
#[derive(Debug)]
pub struct Checked {
    token_id: Option<[u8; 8]>,
    counter: Option<u16>,
    allowed_uses: u16,
    presented_at: Option<u32>,
    /// The account the encrypted identity opened to.
    account: Option<u64>,
    rejection: Option<Rejection>,
}

fn fingerprint(p: &UploadedPayment) -> Vec<u8> {
    let text = format!("{}\n{}\n{}\n{}", p.payload.trim(), p.amount, p.currency, p.accepted_at);
    digest::digest(&digest::SHA256, text.as_bytes()).as_ref().to_vec()
}

fn check_one(
    p: &UploadedPayment,
    merchant: &MerchantAuth,
    ring: &KeyRing,
    keys: &[IssuerPublicKey],
    skew: u64,
) -> Checked {
    let mut out = Checked {
        token_id: None,
        counter: None,
        allowed_uses: 0,
        presented_at: None,
        account: None,
        rejection: None,
    };
    if p.payload.len() > MAX_PAYLOAD_CHARS {
        out.rejection = Some(Rejection::new(
            Reason::Malformed,
            format!("payload longer than {MAX_PAYLOAD_CHARS} characters"),
        ));
        return out;
    }
    let payload = match PaymentPayload::from_text(&p.payload) {
        Ok(x) => x,
        Err(e) => {
            out.rejection = Some(Rejection::new(Reason::Malformed, e.to_string()));
            return out;
        }
    };
    let token = &payload.code.token;
    out.token_id = Some(token.token_id);
    out.counter = Some(payload.presentation.counter);
    out.allowed_uses = token.allowed_uses;
    let terms = Terms {
        merchant_id: &merchant.merchant_id,
        category: merchant.category,
        amount: Money { minor: p.amount, currency: p.currency },
        at: p.accepted_at,
        max_skew: skew,
    };
    match verify::check_payment(&payload, keys, &terms) {
        Ok(t) => out.presented_at = Some(t),
        Err(r) => {
            out.rejection = Some(r);
            return out;
        }
    }
    let key_id: KeyId = token.issuer_key_id;
    match ring
        .get(&key_id)
        .map(|k| identity::open(k.identity_key(), &key_id, &token.token_id, &token.encrypted_identity))
    {
        Some(Ok(account)) => out.account = Some(account),
        Some(Err(e)) => out.rejection = Some(Rejection::new(Reason::IdentityMismatch, e.to_string())),
        None => out.rejection = Some(Rejection::new(Reason::UnknownIssuerKey, "the issuer key is gone")),
    }
    out
}

impl Checked {
    /// Why the payment failed the stateless checks, if it did.
    pub fn rejection(&self) -> Option<&Rejection> {
        self.rejection.as_ref()
    }
}

/// Runs the stateless checks (both signatures, the security content, the identity decryption) over
/// a batch on every core: what settlement does before it consults the database.
pub fn check_all(
    batch: &[UploadedPayment],
    merchant: &MerchantAuth,
    ring: &KeyRing,
    skew: u64,
) -> Vec<Checked> {
    let keys = ring.public_keys();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(batch.len().max(1));
    let chunk = batch.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = batch
            .chunks(chunk)
            .map(|part| {
                let keys = &keys;
                s.spawn(move || {
                    part.iter().map(|p| check_one(p, merchant, ring, keys, skew)).collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| match h.join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// Reads the [`VERDICT_COLUMNS`] of a row, starting at column `at`.
fn verdict_at(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Verdict> {
    let verdict: String = row.get(at + 1)?;
    let code: Option<String> = row.get(at + 2)?;
    Ok(Verdict {
        payment_id: row.get(at)?,
        verdict: if verdict == "accepted" { Outcome::Accepted } else { Outcome::Rejected },
        reason_code: code.as_deref().and_then(Reason::from_code),
        reason: row.get(at + 3)?,
        flagged: row.get(at + 4)?,
        amount: row.get::<_, i64>(at + 5)? as u64,
        currency: row.get(at + 6)?,
    })
}

fn stored_verdict(row: &rusqlite::Row<'_>) -> rusqlite::Result<Verdict> {
    verdict_at(row, 0)
}

const VERDICT_COLUMNS: &str = "payment_id, verdict, reason_code, reason, flagged, amount, currency";

/// Decides the verdict of one new payment against the database (inside the batch transaction).
fn decide(
    tx: &Connection,
    merchant_id: &str,
    p: &UploadedPayment,
    c: &Checked,
    skew: u64,
) -> Result<Result<u64, Rejection>, ApiError> {
    if let Some(r) = &c.rejection {
        return Ok(Err(r.clone()));
    }
    let (Some(token_id), Some(counter), Some(account)) = (c.token_id, c.counter, c.account) else {
        return Err(ApiError::internal("checked payment without token"));
    };
    if p.accepted_at > now() + skew {
        return Ok(Err(Rejection::new(
            Reason::FutureTime,
            format!(
                "the payment time {} is ahead of the issuer's clock {}",
                verify::utc(p.accepted_at),
                verify::utc(now())
            ),
        )));
    }
    // Statements are prepared once per connection (`prepare_cached`): the batch pass runs them for
    // every payment, and preparing costs as much as running them.
    let record: Option<i64> = tx
        .prepare_cached("SELECT account_id FROM payment_tokens WHERE token_id = ?1")?
        .query_row(params![&token_id[..]], |r| r.get(0))
        .optional()?;
    let Some(record) = record else {
        return Ok(Err(Rejection::new(
            Reason::UnknownToken,
            format!("token {} is not on the issuer's record", hex::encode(token_id)),
        )));
    };
    if record as u64 != account {
        return Ok(Err(Rejection::new(
            Reason::IdentityMismatch,
            "the encrypted identity names another account than the token's",
        )));
    }
    let first: Option<(String, String)> = tx
        .prepare_cached(
            "SELECT merchant_id, payment_id FROM payment_verdicts
             WHERE token_id = ?1 AND counter = ?2 AND verdict = 'accepted' ORDER BY seq LIMIT 1",
        )?
        .query_row(params![&token_id[..], counter], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if let Some((merchant, payment)) = first {
        // The other merchant's payment id is theirs to see, not this merchant's.
        let whom = if merchant == merchant_id {
            format!("by this merchant as payment {payment}")
        } else {
            "at another merchant".into()
        };
        return Ok(Err(Rejection::new(
            Reason::DoubleSpend,
            format!("token {} counter {counter} was already spent {whom}", hex::encode(token_id)),
        )));
    }
    let used: u32 = tx
        .prepare_cached("SELECT count(*) FROM payment_verdicts WHERE token_id = ?1 AND verdict = 'accepted'")?
        .query_row(params![&token_id[..]], |r| r.get(0))?;
    if used >= u32::from(c.allowed_uses) {
        return Ok(Err(Rejection::new(
            Reason::UsesExhausted,
            format!(
                "the token allows {} uses and {used} were already accepted across all merchants",
                c.allowed_uses
            ),
        )));
    }
    let (limit, spent, currency): (i64, i64, u16) = tx
        .prepare_cached("SELECT credit_limit, used, currency FROM payment_accounts WHERE id = ?1")?
        .query_row(params![record], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    let available = (limit - spent).max(0) as u64;
    if p.amount > available {
        return Ok(Err(Rejection::new(
            Reason::CreditExceeded,
            format!(
                "{} exceeds the credit available on the account ({})",
                format_money(Money { minor: p.amount, currency }),
                format_money(Money { minor: available, currency })
            ),
        )));
    }
    Ok(Ok(record as u64))
}

fn valid_payment_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `POST /v1/settlements`.
pub async fn upload(
    merchant: MerchantAuth,
    State(state): State<PaymentState>,
    Json(req): Json<SettlementRequest>,
) -> Result<Json<Verdicts>, ApiError> {
    if req.payments.len() > MAX_BATCH {
        return Err(ApiError::too_large(format!(
            "{} payments in one upload; at most {MAX_BATCH}",
            req.payments.len()
        )));
    }
    if let Some(bad) = req.payments.iter().find(|p| !valid_payment_id(&p.payment_id)) {
        return Err(ApiError::bad_request(format!(
            "payment id {:?}: 1 to 64 characters of [0-9A-Za-z_-]",
            bad.payment_id
        )));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = req.payments.iter().find(|p| !seen.insert(p.payment_id.as_str())) {
        return Err(ApiError::bad_request(format!(
            "payment id {:?} appears twice in the upload",
            dup.payment_id
        )));
    }
    let skew = state.config.max_skew;
    let keys = state.keys.clone();
    // Signatures and decryption first, on every core, without holding the database.
    let (req, merchant, checked) = tokio::task::spawn_blocking(move || {
        let ring = keys.read().unwrap_or_else(PoisonError::into_inner);
        let checked = check_all(&req.payments, &merchant, &ring, skew);
        (req, merchant, checked)
    })
    .await
    .map_err(ApiError::internal)?;
    let verdicts = state
        .db
        .call(move |conn| -> Result<_, ApiError> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let existing_sql = format!(
                "SELECT fingerprint, {VERDICT_COLUMNS} FROM payment_verdicts WHERE merchant_id = ?1 AND payment_id = ?2"
            );
            let mut verdicts = Vec::with_capacity(req.payments.len());
            for (p, c) in req.payments.iter().zip(&checked) {
                let fp = fingerprint(p);
                let existing: Option<(Vec<u8>, Verdict)> = tx
                    .prepare_cached(&existing_sql)?
                    .query_row(params![merchant.merchant_id, p.payment_id], |r| Ok((r.get(0)?, verdict_at(r, 1)?)))
                    .optional()?;
                if let Some((stored_fp, v)) = existing {
                    if stored_fp == fp {
                        verdicts.push(v);
                    } else {
                        verdicts.push(Verdict {
                            payment_id: p.payment_id.clone(),
                            verdict: Outcome::Rejected,
                            reason_code: Some(Reason::ConflictingPaymentId),
                            reason: "this payment id was uploaded before with different content; the first upload stands".into(),
                            flagged: true,
                            amount: p.amount,
                            currency: p.currency,
                        });
                    }
                    continue;
                }
                let decision = decide(&tx, &merchant.merchant_id, p, c, skew)?;
                let (outcome, code, reason, flagged) = match &decision {
                    Ok(_) => (Outcome::Accepted, None, "accepted".to_owned(), false),
                    Err(r) => (Outcome::Rejected, Some(r.reason), r.message.clone(), r.reason == Reason::DoubleSpend),
                };
                if let Ok(account) = decision {
                    tx.prepare_cached("UPDATE payment_accounts SET used = used + ?1 WHERE id = ?2")?
                        .execute(params![p.amount as i64, account as i64])?;
                }
                tx.prepare_cached(
                    "INSERT INTO payment_verdicts (merchant_id, payment_id, fingerprint, payload, token_id, counter, account_id,
                                           amount, currency, accepted_at, presented_at, verdict, reason_code, reason,
                                           flagged, received_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                )?
                .execute(params![
                        merchant.merchant_id,
                        p.payment_id,
                        fp,
                        p.payload.chars().take(MAX_PAYLOAD_CHARS).collect::<String>(),
                        c.token_id.map(|t| t.to_vec()),
                        c.counter,
                        c.account.map(|a| a as i64),
                        p.amount as i64,
                        p.currency,
                        p.accepted_at as i64,
                        c.presented_at,
                        outcome.as_str(),
                        code.map(Reason::code),
                        reason,
                        flagged,
                        now() as i64
                    ],
                )?;
                if flagged {
                    tracing::warn!(merchant = %merchant.merchant_id, payment = %p.payment_id, "double spend flagged: {reason}");
                }
                verdicts.push(Verdict {
                    payment_id: p.payment_id.clone(),
                    verdict: outcome,
                    reason_code: code,
                    reason,
                    flagged,
                    amount: p.amount,
                    currency: p.currency,
                });
            }
            tx.commit()?;
            Ok(verdicts)
        })
        .await?;
    Ok(Json(Verdicts { verdicts }))
}

/// Query of `GET /v1/settlements`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// Only payments stored after this sequence number.
    #[serde(default)]
    pub after: i64,
    /// At most this many (default and maximum 1000).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// `GET /v1/settlements`: the merchant's own verdicts.
pub async fn list(
    merchant: MerchantAuth,
    State(state): State<PaymentState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Verdicts>, ApiError> {
    let limit = q.limit.unwrap_or(1000).min(1000);
    let verdicts = state
        .db
        .call(move |c| -> Result<_, ApiError> {
            let mut stmt = c.prepare(&format!(
                "SELECT {VERDICT_COLUMNS} FROM payment_verdicts WHERE merchant_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3"
            ))?;
            let rows = stmt.query_map(params![merchant.merchant_id, q.after, limit], stored_verdict)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await?;
    Ok(Json(Verdicts { verdicts }))
}

/// `GET /v1/settlements/{payment_id}`: one of the merchant's own verdicts.
pub async fn show(
    merchant: MerchantAuth,
    State(state): State<PaymentState>,
    Path(id): Path<String>,
) -> Result<Json<Verdict>, ApiError> {
    let verdict = state
        .db
        .call(move |c| {
            c.query_row(
                &format!("SELECT {VERDICT_COLUMNS} FROM payment_verdicts WHERE merchant_id = ?1 AND payment_id = ?2"),
                params![merchant.merchant_id, id],
                stored_verdict,
            )
            .optional()?
            .ok_or_else(|| ApiError::not_found(format!("no payment {id:?} from this merchant")))
        })
        .await?;
    Ok(Json(verdict))
}
