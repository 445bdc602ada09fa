//! Merchant registration: the merchant gets an API key (shown once, stored hashed) and the issuer's keys.

use applet::credit::token::check_merchant_id;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use rusqlite::params;

use super::auth::{Admin, new_api_key};
use super::error::ApiError;
use super::issuer::all_keys;
use super::{PaymentState, now};
use crate::payment::api::{MerchantRegistered, RegisterMerchant};

/// `POST /v1/merchants`.
pub async fn register(
    _: Admin,
    State(state): State<PaymentState>,
    Json(req): Json<RegisterMerchant>,
) -> Result<(StatusCode, Json<MerchantRegistered>), ApiError> {
    check_merchant_id(&req.merchant_id).map_err(ApiError::bad_request)?;
    if req.category.is_some_and(|c| c > 9999) {
        return Err(ApiError::bad_request("category must be a four-digit merchant category code"));
    }
    if req.name.is_empty() || req.name.len() > 100 {
        return Err(ApiError::bad_request("name must have 1 to 100 characters"));
    }
    let key = new_api_key();
    let (key_id, hash) = (key.key_id.clone(), key.secret_hash.clone());
    let id = req.merchant_id.clone();
    state
        .db
        .call(move |c| {
            let inserted = c.execute(
                "INSERT INTO payment_merchants (id, name, category, api_key_id, api_key_hash, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO NOTHING",
                params![id, req.name, req.category, key_id, hash, now() as i64],
            )?;
            if inserted == 0 {
                return Err(ApiError::conflict(format!("merchant {id:?} is already registered")));
            }
            Ok(())
        })
        .await?;
    tracing::info!(merchant = %req.merchant_id, "merchant registered");
    Ok((
        StatusCode::CREATED,
        Json(MerchantRegistered {
            merchant_id: req.merchant_id,
            api_key: key.key.to_string(),
            issuer_keys: all_keys(&state),
        }),
    ))
}
