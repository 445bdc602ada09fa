//! Who may call what. Administrative routes (accounts, issuance, merchant registration, key rotation)
//! take the admin token that the server writes to `DATA/admin.token` (0600) at first start. Merchant
//! routes (settlement, verdicts) take the merchant's API key. Both travel as `Authorization: Bearer`.
//!
//! Secrets are 32 random bytes (base64url). The server keeps only SHA-256 hashes and compares them in
//! constant time; a high-entropy key needs no slow password hash.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rusqlite::{OptionalExtension, params};
use zeroize::Zeroizing;

use super::PaymentState;
use super::error::ApiError;

/// The admin token file in the data directory.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

/// 32 random bytes, base64url without padding.
#[allow(clippy::expect_used, reason = "AWS-LC's RNG aborts rather than fail; an error here is unreachable")]
pub fn random_secret() -> Zeroizing<String> {
    let mut b = Zeroizing::new([0u8; 32]);
    SystemRandom::new().fill(b.as_mut()).expect("system randomness");
    Zeroizing::new(URL_SAFE_NO_PAD.encode(b.as_ref()))
}

/// SHA-256 of a secret.
pub fn hash(secret: &str) -> Vec<u8> {
    digest::digest(&digest::SHA256, secret.as_bytes()).as_ref().to_vec()
}

/// Reads the admin token, creating it (0600) if the file does not exist. Returns its hash.
pub fn load_or_create_admin_token(data_dir: &Path) -> std::io::Result<Vec<u8>> {
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    if !path.exists() {
        let token = random_secret();
        let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
        f.write_all(format!("{}\n", token.as_str()).as_bytes())?;
        f.sync_all()?;
    }
    let mode = std::fs::metadata(&path)?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(std::io::Error::other(format!(
            "{}: mode {:o}; the admin token must not be readable by others (chmod 600)",
            path.display(),
            mode & 0o777
        )));
    }
    let token = Zeroizing::new(std::fs::read_to_string(&path)?);
    Ok(hash(token.trim()))
}

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing `Authorization: Bearer ...` header"))?;
    value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| ApiError::unauthorized("the Authorization header is not `Bearer <token>`"))
}

/// Proof that the caller holds the admin token.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequestParts<PaymentState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &PaymentState) -> Result<Self, ApiError> {
        let token = bearer(parts)?;
        verify_slices_are_equal(&hash(token), &state.admin_token_hash)
            .map_err(|_| ApiError::unauthorized("wrong admin token"))?;
        Ok(Admin)
    }
}

/// A merchant API key: `cgm_<key id, 16 hex>_<secret>`.
#[derive(Debug)]
pub struct ApiKey {
    /// The public part, for lookup.
    pub key_id: String,
    /// The whole key, shown to the merchant once.
    pub key: Zeroizing<String>,
    /// SHA-256 of the secret part, what the server stores.
    pub secret_hash: Vec<u8>,
}

/// A fresh merchant API key.
#[allow(clippy::expect_used, reason = "AWS-LC's RNG aborts rather than fail; an error here is unreachable")]
pub fn new_api_key() -> ApiKey {
    let mut id = [0u8; 8];
    SystemRandom::new().fill(&mut id).expect("system randomness");
    let key_id = hex::encode(id);
    let secret = random_secret();
    ApiKey {
        key: Zeroizing::new(format!("cgm_{key_id}_{}", secret.as_str())),
        secret_hash: hash(&secret),
        key_id,
    }
}

/// The merchant a request is authenticated as.
#[derive(Debug, Clone)]
pub struct MerchantAuth {
    /// Merchant id.
    pub merchant_id: String,
    /// Its registered category.
    pub category: Option<u16>,
}

impl FromRequestParts<PaymentState> for MerchantAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &PaymentState) -> Result<Self, ApiError> {
        let key = bearer(parts)?;
        let wrong = || ApiError::unauthorized("invalid merchant API key");
        let rest = key.strip_prefix("cgm_").ok_or_else(wrong)?;
        let (key_id, secret) = rest.split_once('_').ok_or_else(wrong)?;
        let (key_id, secret_hash) = (key_id.to_owned(), hash(secret));
        let row: Option<(String, Option<u16>, Vec<u8>)> = state
            .db
            .call(move |c| -> Result<_, ApiError> {
                Ok(c.query_row(
                    "SELECT id, category, api_key_hash FROM payment_merchants WHERE api_key_id = ?1",
                    params![key_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?)
            })
            .await?;
        let (merchant_id, category, stored) = row.ok_or_else(wrong)?;
        verify_slices_are_equal(&secret_hash, &stored).map_err(|_| wrong())?;
        Ok(MerchantAuth { merchant_id, category })
    }
}
