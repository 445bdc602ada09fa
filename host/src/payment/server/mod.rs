//! The payment area of `cardgate server`: issuer keys, accounts with a credit line, issuance of
//! credit payment codes, merchants, and settlement (batch verification with verdicts).
//!
//! [`PaymentState::with_db`] opens the area in the server's data directory on the server's one
//! database handle ([`crate::db::Db`]; its migrations, [`AREA`], recorded under the area name
//! `payment` in the shared `schema_migrations` table; [`PaymentState::open`] opens a file of its
//! own); [`router`] is its
//! routes with the state applied, for the server to merge with the other areas'; [`app`] is the area
//! on its own (tests, benchmarks).
//!
//! | method | path | auth | body → answer |
//! |---|---|---|---|
//! | GET | `/v1/health` | – | `{"status": "ok"}` |
//! | GET | `/v1/issuer/keys` | – | `IssuerKeys` |
//! | POST | `/v1/admin/keys/rotate` | admin | `RotateKey` → `IssuerKeyInfo` |
//! | POST | `/v1/accounts` | admin | `CreateAccount` → `AccountInfo` (201) |
//! | GET | `/v1/accounts/{name}` | admin | `AccountInfo` |
//! | POST | `/v1/tokens` | admin | `IssueRequest` → `IssueResponse` (201) |
//! | POST | `/v1/merchants` | admin | `RegisterMerchant` → `MerchantRegistered` (201) |
//! | POST | `/v1/settlements` | merchant | `SettlementRequest` → `Verdicts` |
//! | GET | `/v1/settlements?after=N&limit=M` | merchant | `Verdicts` (the merchant's own) |
//! | GET | `/v1/settlements/{payment_id}` | merchant | `Verdict` |
//!
//! Files in the data directory: `admin.token` (0600) and `issuer-keys/` (0700, PKCS #8 files 0600).

pub mod accounts;
pub mod auth;
pub mod error;
pub mod issuer;
pub mod keys;
pub mod merchants;
pub mod settlement;

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::{Arc, RwLock};

use applet::credit::KeyAlgorithm;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use self::keys::KeyRing;
use crate::db::{Area, Db, DbError};

/// The area's tables: migrations recorded under `payment`, oldest first. Append; never edit a
/// released step.
pub const AREA: Area = Area { name: "payment", migrations: MIGRATIONS };

const MIGRATIONS: &[&str] = &[r"
    CREATE TABLE payment_issuer_keys (
        key_id          BLOB PRIMARY KEY,
        algorithm       TEXT NOT NULL,
        encoded         BLOB NOT NULL,
        identity_public BLOB NOT NULL,
        created_at      INTEGER NOT NULL,
        active          INTEGER NOT NULL
    );

    CREATE TABLE payment_accounts (
        id           INTEGER PRIMARY KEY,
        name         TEXT NOT NULL UNIQUE,
        currency     INTEGER NOT NULL,
        credit_limit INTEGER NOT NULL,
        used         INTEGER NOT NULL DEFAULT 0,
        created_at   INTEGER NOT NULL
    );
    CREATE TABLE payment_tokens (
        token_id        BLOB PRIMARY KEY,
        account_id      INTEGER NOT NULL REFERENCES payment_accounts(id),
        key_id          BLOB NOT NULL,
        card_public_key BLOB NOT NULL,
        generated_at    INTEGER NOT NULL,
        expires_at      INTEGER NOT NULL,
        allowed_uses    INTEGER NOT NULL,
        threshold       INTEGER NOT NULL,
        code            BLOB NOT NULL
    );
    CREATE TABLE payment_merchants (
        id           TEXT PRIMARY KEY,
        name         TEXT NOT NULL,
        category     INTEGER,
        api_key_id   TEXT NOT NULL UNIQUE,
        api_key_hash BLOB NOT NULL,
        created_at   INTEGER NOT NULL
    );
    CREATE TABLE payment_verdicts (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        merchant_id  TEXT NOT NULL REFERENCES payment_merchants(id),
        payment_id   TEXT NOT NULL,
        fingerprint  BLOB NOT NULL,
        payload      TEXT NOT NULL,
        token_id     BLOB,
        counter      INTEGER,
        account_id   INTEGER,
        amount       INTEGER NOT NULL,
        currency     INTEGER NOT NULL,
        accepted_at  INTEGER NOT NULL,
        presented_at INTEGER,
        verdict      TEXT NOT NULL,
        reason_code  TEXT,
        reason       TEXT NOT NULL,
        flagged      INTEGER NOT NULL DEFAULT 0,
        received_at  INTEGER NOT NULL,
        UNIQUE (merchant_id, payment_id)
    );
    CREATE INDEX payment_verdicts_spent ON payment_verdicts (token_id, counter) WHERE verdict = 'accepted';
"];

/// The default body limit of the area's routes.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// Settlement uploads may carry up to `MAX_BATCH` payments of a few hundred bytes each.
pub const SETTLEMENT_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// Settings of the payment area.
#[derive(Debug, Clone)]
pub struct PaymentConfig {
    /// Algorithm of the first issuer key, generated at first start.
    pub key_algorithm: KeyAlgorithm,
    /// How far a payment's presentation time and the merchant's payment time may differ (seconds),
    /// and how far ahead of the server's clock a merchant's payment time may be.
    pub max_skew: u64,
}

impl Default for PaymentConfig {
    fn default() -> Self {
        Self {
            key_algorithm: KeyAlgorithm::EcdsaP256Sha256,
            max_skew: crate::payment::verify::DEFAULT_MAX_SKEW,
        }
    }
}

/// What the payment handlers share.
#[derive(Debug, Clone)]
pub struct PaymentState {
    /// The database.
    pub db: Db,
    /// The issuer's keys.
    pub keys: Arc<RwLock<KeyRing>>,
    /// SHA-256 of the admin token.
    pub admin_token_hash: Arc<Vec<u8>>,
    /// Settings.
    pub config: Arc<PaymentConfig>,
}

/// Opening the area failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A file in the data directory.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The database.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The keys.
    #[error(transparent)]
    Keys(#[from] keys::KeyError),
}

/// UTC seconds now.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl PaymentState {
    /// Opens the area on its own database file at `db` (the area on its own: tests, benchmarks);
    /// see [`PaymentState::with_db`].
    pub fn open(data_dir: &Path, db: &Path, config: PaymentConfig) -> Result<Self, OpenError> {
        create_data_dir(data_dir)?;
        Self::with_db(data_dir, Db::open(db, &[])?, config)
    }

    /// Opens the area on an open database (the server's, shared with the other areas): its
    /// migrations applied, the admin token and the issuer keys in `data_dir` (created at first
    /// start).
    pub fn with_db(data_dir: &Path, db: Db, config: PaymentConfig) -> Result<Self, OpenError> {
        create_data_dir(data_dir)?;
        let io = |source| OpenError::Io { path: data_dir.display().to_string(), source };
        db.migrate(&[AREA])?;
        let admin_token_hash = auth::load_or_create_admin_token(data_dir).map_err(io)?;
        let ring = db.with_conn(|c| KeyRing::load_or_generate(data_dir, c, config.key_algorithm))?;
        if let Some(k) = ring.active() {
            tracing::info!(key_id = %hex::encode(k.public.key_id), algorithm = k.public.algorithm.name(), "active issuer key");
        }
        Ok(Self {
            db,
            keys: Arc::new(RwLock::new(ring)),
            admin_token_hash: Arc::new(admin_token_hash),
            config: Arc::new(config),
        })
    }
}

/// Creates the data directory (0700) if it does not exist.
fn create_data_dir(data_dir: &Path) -> Result<(), OpenError> {
    if !data_dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .map_err(|source| OpenError::Io { path: data_dir.display().to_string(), source })?;
    }
    Ok(())
}

/// The area's routes, state applied, errors as JSON, body limits set: merge it into the server.
pub fn router(state: PaymentState) -> Router {
    Router::new()
        .route("/v1/health", get(issuer::health))
        .route("/v1/issuer/keys", get(issuer::list_keys))
        .route("/v1/admin/keys/rotate", post(issuer::rotate))
        .route("/v1/accounts", post(accounts::create))
        .route("/v1/accounts/{name}", get(accounts::show))
        .route("/v1/tokens", post(accounts::issue))
        .route("/v1/merchants", post(merchants::register))
        .route(
            "/v1/settlements",
            post(settlement::upload)
                .get(settlement::list)
                .layer(DefaultBodyLimit::max(SETTLEMENT_BODY_LIMIT)),
        )
        .route("/v1/settlements/{payment_id}", get(settlement::show))
        .layer(DefaultBodyLimit::max(DEFAULT_BODY_LIMIT))
        .layer(axum::middleware::from_fn(refuse_declared_oversize))
        .layer(axum::middleware::from_fn(error::json_errors))
        .with_state(state)
}

/// Refuses a request whose declared body is larger than its route accepts (see
/// [`crate::server::refuse_oversize`]).
async fn refuse_declared_oversize(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let limit =
        if request.uri().path() == "/v1/settlements" { SETTLEMENT_BODY_LIMIT } else { DEFAULT_BODY_LIMIT };
    match crate::server::refuse_oversize(request, limit).await {
        Err(length) => error::ApiError::too_large(format!(
            "the request declares a {length}-byte body; this route accepts at most {limit} bytes"
        ))
        .into_response(),
        Ok(request) => next.run(request).await,
    }
}

/// [`router`] with JSON answers for unknown routes: the area as a whole server (tests, benchmarks).
pub fn app(state: PaymentState) -> Router {
    router(state).fallback(error::not_found).layer(axum::middleware::from_fn(error::json_errors))
}
