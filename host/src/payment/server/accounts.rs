//! Accounts and issuance.

use applet::credit::code::token_signed_message;
use applet::credit::token::check_merchant_id;
use applet::credit::{CreditPaymentCode, CreditToken, Money, Payees, emv, keys};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rusqlite::{Connection, OptionalExtension, params};

use super::auth::Admin;
use super::error::ApiError;
use super::{PaymentState, now};
use crate::payment::api::{AccountInfo, CreateAccount, IssueRequest, IssueResponse};
use crate::payment::identity;

/// The longest validity a token may have: one year.
pub const MAX_VALIDITY: u32 = 366 * 86_400;

fn account_info(c: &Connection, name: &str) -> Result<Option<AccountInfo>, ApiError> {
    Ok(c.query_row(
        "SELECT a.name, a.currency, a.credit_limit, a.used, (SELECT count(*) FROM payment_tokens t WHERE t.account_id = a.id)
         FROM payment_accounts a WHERE a.name = ?1",
        params![name],
        |r| {
            Ok(AccountInfo {
                account: r.get(0)?,
                currency: r.get(1)?,
                credit_limit: r.get::<_, i64>(2)? as u64,
                used: r.get::<_, i64>(3)? as u64,
                tokens: r.get::<_, i64>(4)? as u64,
            })
        },
    )
    .optional()?)
}

fn check_account_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty()
        || name.len() > 64
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
    {
        return Err(ApiError::bad_request(format!(
            "account name {name:?}: 1 to 64 characters of letters, digits and - _ . @"
        )));
    }
    Ok(())
}

/// `POST /v1/accounts`.
pub async fn create(
    _: Admin,
    State(state): State<PaymentState>,
    Json(req): Json<CreateAccount>,
) -> Result<(StatusCode, Json<AccountInfo>), ApiError> {
    check_account_name(&req.account)?;
    if req.currency > 999 {
        return Err(ApiError::bad_request(format!(
            "currency {} is not an ISO 4217 numeric code",
            req.currency
        )));
    }
    if req.credit_limit > emv::MAX_AMOUNT {
        return Err(ApiError::bad_request("credit_limit is above 999999999999 minor units"));
    }
    let info = state
        .db
        .call(move |c| {
            let inserted = c.execute(
                "INSERT INTO payment_accounts (name, currency, credit_limit, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO NOTHING",
                params![req.account, req.currency, req.credit_limit as i64, now() as i64],
            )?;
            if inserted == 0 {
                return Err(ApiError::conflict(format!("account {:?} already exists", req.account)));
            }
            account_info(c, &req.account)?.ok_or_else(|| ApiError::internal("account vanished"))
        })
        .await?;
    Ok((StatusCode::CREATED, Json(info)))
}

/// `GET /v1/accounts/{name}`.
pub async fn show(
    _: Admin,
    State(state): State<PaymentState>,
    Path(name): Path<String>,
) -> Result<Json<AccountInfo>, ApiError> {
    let info = state
        .db
        .call(move |c| {
            account_info(c, &name)?.ok_or_else(|| ApiError::not_found(format!("no account {name:?}")))
        })
        .await?;
    Ok(Json(info))
}

fn parse_card_key(text: &str) -> Result<[u8; 33], ApiError> {
    let bad = || ApiError::bad_request("card_public_key must be a compressed P-256 point: 33 bytes, hex");
    let bytes: [u8; 33] = hex::decode(text).ok().and_then(|b| b.try_into().ok()).ok_or_else(bad)?;
    if !keys::is_valid_card_key(&bytes) {
        return Err(bad());
    }
    Ok(bytes)
}

/// Whether an uncompressed SEC 1 point (`04 X Y`, an ECDSA issuer key) and a compressed one (`02|03 X`,
/// a card key) are the same point. RSA issuer keys are never equal to a card key.
fn is_same_point(uncompressed: &[u8], compressed: &[u8; 33]) -> bool {
    // SEC 1 §2.3.3: the prefix of the compressed form is 02 + the parity of Y.
    uncompressed.len() == 65
        && uncompressed[0] == 0x04
        && uncompressed[1..33] == compressed[1..]
        && compressed[0] == 0x02 | (uncompressed[64] & 1)
}

fn validate(req: &IssueRequest) -> Result<(), ApiError> {
    if req.valid_for == 0 || req.valid_for > MAX_VALIDITY {
        return Err(ApiError::bad_request(format!("valid_for must be 1 to {MAX_VALIDITY} seconds")));
    }
    if req.allowed_uses == 0 {
        return Err(ApiError::bad_request("allowed_uses must be at least 1"));
    }
    if req.threshold == 0 || req.threshold > emv::MAX_AMOUNT {
        return Err(ApiError::bad_request("threshold must be 1 to 999999999999 minor units"));
    }
    for id in &req.payees.merchant_ids {
        check_merchant_id(id).map_err(ApiError::bad_request)?;
    }
    if let Some(c) = req.payees.categories.iter().find(|&&c| c > 9999) {
        return Err(ApiError::bad_request(format!("merchant category {c} has more than four digits")));
    }
    Ok(())
}

#[allow(clippy::expect_used, reason = "AWS-LC's RNG aborts rather than fail; an error here is unreachable")]
fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    SystemRandom::new().fill(&mut b).expect("system randomness");
    b
}

/// `POST /v1/tokens`: issues a credit payment code for a card's public key.
///
/// The database is held only to read the account and to insert the token; the encryption and the
/// signature run in between on a blocking thread, so concurrent issuances sign in parallel.
pub async fn issue(
    _: Admin,
    State(state): State<PaymentState>,
    Json(req): Json<IssueRequest>,
) -> Result<(StatusCode, Json<IssueResponse>), ApiError> {
    validate(&req)?;
    let card_public_key = parse_card_key(&req.card_public_key)?;
    let name = req.account.clone();
    let (account_id, currency) = state
        .db
        .call(move |c| {
            c.query_row("SELECT id, currency FROM payment_accounts WHERE name = ?1", params![name], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, u16>(1)?))
            })
            .optional()?
            .ok_or_else(|| ApiError::not_found(format!("no account {name:?}")))
        })
        .await?;
    let keys = state.keys.clone();
    let (token, code, issuer_key) = tokio::task::spawn_blocking(move || {
        let ring = keys.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Key confusion: the issuer never certifies one of its own keys as a card key.
        if ring.public_keys().iter().any(|k| is_same_point(&k.public_key, &card_public_key)) {
            return Err(ApiError::bad_request(
                "card_public_key is one of this issuer's own keys; a card key must be the card's",
            ));
        }
        let key = ring.active().ok_or_else(|| ApiError::internal("no active issuer key"))?;
        let generated_at = u32::try_from(now()).map_err(|_| ApiError::internal("clock beyond 2106"))?;
        // 64 random bits; the primary key turns the (2^-64) collision into an error, not a duplicate.
        let token_id: [u8; 8] = random();
        let encrypted_identity =
            identity::seal(&key.identity_public, &key.public.key_id, &token_id, account_id as u64)
                .map_err(ApiError::internal)?;
        let token = CreditToken {
            token_id,
            generated_at,
            valid_for: req.valid_for,
            allowed_uses: req.allowed_uses,
            threshold: Money { minor: req.threshold, currency },
            payees: Payees { merchant_ids: req.payees.merchant_ids, categories: req.payees.categories },
            random: random(),
            card_public_key,
            issuer_key_id: key.public.key_id,
            encrypted_identity,
        };
        let tlv = token.encode().map_err(|e| ApiError::bad_request(e.to_string()))?;
        let signature = key.sign(&token_signed_message(&tlv)).map_err(ApiError::internal)?;
        let code = CreditPaymentCode::assemble(tlv, signature).map_err(ApiError::internal)?;
        Ok::<_, ApiError>((token, code, key.public.encode()))
    })
    .await
    .map_err(ApiError::internal)??;
    let encoded = code.encoded.clone();
    let (token_id, expires_at) = (token.token_id, token.expires_at());
    state
        .db
        .call(move |c| -> Result<_, ApiError> {
            c.execute(
                "INSERT INTO payment_tokens (token_id, account_id, key_id, card_public_key, generated_at, expires_at,
                                             allowed_uses, threshold, code)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    &token.token_id[..],
                    account_id,
                    &token.issuer_key_id[..],
                    &token.card_public_key[..],
                    i64::from(token.generated_at),
                    token.expires_at() as i64,
                    token.allowed_uses,
                    token.threshold.minor as i64,
                    encoded
                ],
            )?;
            Ok(())
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(IssueResponse {
            token_id: hex::encode(token_id),
            code: hex::encode(&code.encoded),
            issuer_key: hex::encode(issuer_key),
            generated_at: u64::from(code.token.generated_at),
            expires_at,
        }),
    ))
}
