//! Health, the issuer's public keys, key rotation.
//!
//! | method | path | auth | |
//! |---|---|---|---|
//! | GET | `/v1/health` | none | `{"status": "ok"}` |
//! | GET | `/v1/issuer/keys` | none | [`IssuerKeys`] |
//! | POST | `/v1/admin/keys/rotate` | admin | [`RotateKey`] → [`IssuerKeyInfo`] |

use applet::credit::KeyAlgorithm;
use axum::Json;
use axum::extract::State;

use super::PaymentState;
use super::auth::Admin;
use super::error::ApiError;
use super::keys::IssuerKey;
use crate::payment::api::{IssuerKeyInfo, IssuerKeys, RotateKey};

/// `GET /v1/health`.
pub async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// The JSON form of a key generation.
pub fn key_info(k: &IssuerKey) -> IssuerKeyInfo {
    IssuerKeyInfo {
        key_id: hex::encode(k.public.key_id),
        algorithm: k.public.algorithm.name().into(),
        encoded: hex::encode(k.public.encode()),
        active: k.active,
        created_at: k.created_at,
    }
}

/// Every key generation, the active one first.
pub fn all_keys(state: &PaymentState) -> Vec<IssuerKeyInfo> {
    let ring = state.keys.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    ring.all().iter().map(key_info).collect()
}

/// `GET /v1/issuer/keys`.
pub async fn list_keys(State(state): State<PaymentState>) -> Json<IssuerKeys> {
    Json(IssuerKeys { keys: all_keys(&state) })
}

/// `POST /v1/admin/keys/rotate`.
pub async fn rotate(
    _: Admin,
    State(state): State<PaymentState>,
    body: Json<RotateKey>,
) -> Result<Json<IssuerKeyInfo>, ApiError> {
    let name = body.0.algorithm.unwrap_or_else(|| KeyAlgorithm::EcdsaP256Sha256.name().into());
    let algorithm = KeyAlgorithm::from_name(&name).ok_or_else(|| {
        ApiError::bad_request(format!("unknown algorithm {name:?} (ecdsa-p256 or rsa-2048)"))
    })?;
    let keys = state.keys.clone();
    let info = state
        .db
        .call(move |conn| {
            let mut ring = keys.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            ring.rotate(conn, algorithm).map(key_info).map_err(ApiError::internal)
        })
        .await?;
    Ok(Json(info))
}
