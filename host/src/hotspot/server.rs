//! The hotspot routes of `cardgate server`: an [`axum::Router`] over a [`HotspotState`]. The server
//! merges [`router`] with the other areas' routers; [`app`] adds the JSON fallbacks so the area also
//! runs on its own (tests, `cardgate server` before other areas exist).
//!
//! Every answer that is not a success is a JSON [`ErrorBody`] with a stable [`ErrorCode`], including
//! malformed JSON, oversize bodies, unknown routes and wrong methods (research/crates.md §6.1: axum's
//! own rejections are text/plain, so they are wrapped).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use aws_lc_rs::{digest, rand};
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, Path as UrlPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use zeroize::Zeroize;

use super::api::{
    CompleteRequest, ErrorBody, ErrorCode, ErrorDetail, Mapping, Mappings, PushInfo, PushRequest, Registered,
    StartRequest, StartResponse,
};
use super::clock::Clock;
use super::hub::PushHub;
use super::ratelimit::RateLimiter;
use super::rules::{self, SecondRule, Ssid};
use super::secret::{SecretError, ServerKeys};
use super::store::{Completion, NetworkRow, NewProof, PushRow, Store, StoreError};
use crate::db::Db;

/// Largest request body the hotspot routes take.
pub const MAX_BODY: usize = 16 * 1024;
/// Largest information to push, serialised.
pub const MAX_INFO: usize = 4 * 1024;
/// Prefix of sharer tokens; 64 lower-case hex digits (256 random bits) follow.
pub const TOKEN_PREFIX: &str = "cgs_";

/// Settings of the hotspot area.
#[derive(Debug, Clone)]
pub struct HotspotConfig {
    /// Lifetime of a second identifier, in seconds.
    pub proof_ttl_secs: u64,
    /// Rule used when a start request names none.
    pub default_rule: SecondRule,
    /// Proof attempts (starts and ends) per client IP address and minute.
    pub attempts_per_minute: u32,
}

impl Default for HotspotConfig {
    fn default() -> Self {
        Self { proof_ttl_secs: 600, default_rule: SecondRule::Hash, attempts_per_minute: 30 }
    }
}

/// Why the hotspot state could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The server key file.
    #[error(transparent)]
    Secret(#[from] SecretError),
}

/// Everything the hotspot routes share: the store, the server keys, the push hub, the limiter.
#[derive(Debug, Clone)]
pub struct HotspotState(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    store: Store,
    keys: ServerKeys,
    hub: PushHub,
    limiter: RateLimiter,
    config: HotspotConfig,
    clock: Clock,
}

impl HotspotState {
    /// Opens the area on its own database file at `db` (the area on its own: tests, benchmarks);
    /// see [`HotspotState::with_db`].
    pub fn open(data_dir: &Path, db: &Path, config: HotspotConfig, clock: Clock) -> Result<Self, OpenError> {
        Self::with_db(data_dir, Db::open(db, &[]).map_err(StoreError::from)?, config, clock)
    }

    /// Opens the area in a data directory on an open database (the server's, shared with the other
    /// areas): `hotspot.key` there (created 0600 on first use), the hotspot migrations applied.
    pub fn with_db(data_dir: &Path, db: Db, config: HotspotConfig, clock: Clock) -> Result<Self, OpenError> {
        let keys = ServerKeys::load_or_create(data_dir)?;
        let store = Store::with_db(db)?;
        Ok(Self::new(store, keys, config, clock))
    }

    /// Builds the state from parts.
    pub fn new(store: Store, keys: ServerKeys, config: HotspotConfig, clock: Clock) -> Self {
        let limiter = RateLimiter::new(config.attempts_per_minute);
        Self(Arc::new(Inner { store, keys, hub: PushHub::default(), limiter, config, clock }))
    }

    /// Ends every open event stream, so a graceful shutdown does not wait for listeners.
    pub fn close_streams(&self) {
        self.0.hub.close_all();
    }
}

/// The hotspot routes, state applied, without fallbacks (merge it into the server's router).
pub fn router(state: HotspotState) -> Router {
    let proofs = Router::new()
        .route("/v1/hotspot/proofs", post(start_proof))
        .route("/v1/hotspot/proofs/{id}/complete", post(complete_proof))
        .route_layer(middleware::from_fn_with_state(state.clone(), limit_attempts));
    Router::new()
        .merge(proofs)
        .route("/v1/hotspot/mappings", get(mappings))
        .route("/v1/hotspot/networks/{id}/push", get(get_push).put(set_push))
        .route("/v1/hotspot/networks/{id}/events", get(events))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(refuse_declared_oversize))
        .with_state(state)
}

/// Refuses a request whose declared body is larger than [`MAX_BODY`] (see
/// [`crate::server::refuse_oversize`]).
async fn refuse_declared_oversize(req: Request, next: Next) -> Response {
    match crate::server::refuse_oversize(req, MAX_BODY).await {
        Err(length) => ApiError::new(
            ErrorCode::RequestTooLarge,
            format!("request body is larger than {MAX_BODY} bytes (it declares {length})"),
        )
        .into_response(),
        Ok(req) => next.run(req).await,
    }
}

/// [`router`] with JSON answers for unknown routes and wrong methods, and request tracing: the area
/// as a whole server.
pub fn app(state: HotspotState) -> Router {
    with_json_fallbacks(router(state)).layer(tower_http::trace::TraceLayer::new_for_http())
}

/// Adds the JSON `not_found` / `method_not_allowed` answers to a composed router.
pub fn with_json_fallbacks(router: Router) -> Router {
    router.fallback(not_found).method_not_allowed_fallback(method_not_allowed)
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(ErrorCode::MethodNotAllowed, "this route does not take that method")
}

/// An error answer: status from the code, JSON body, `Retry-After` for rate limits.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a message for people.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), retry_after: None }
    }

    fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(%err, "hotspot: internal error");
        Self::new(ErrorCode::Internal, "internal error; nothing was changed")
    }

    fn refused(code: ErrorCode) -> Self {
        let message = match code {
            ErrorCode::ProofUnknown => "no proof with this id",
            ErrorCode::WrongSharer => "this proof was started by another sharer",
            ErrorCode::ProofUsed => "this proof has already ended; start a new one",
            ErrorCode::ProofExpired => "the second identifier has expired; start a new proof",
            ErrorCode::SsidMismatch => {
                "the SSID seen is not the one derived from the second identifier; the proof is spent"
            }
            ErrorCode::BssidMismatch => {
                "none of these BSSIDs was named at the start of the proof; the proof is spent"
            }
            ErrorCode::NetworkUnknown => "no network with this id",
            ErrorCode::NotOwner => "this network belongs to another sharer",
            _ => "refused",
        };
        Self::new(code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorBody { error: ErrorDetail { code: self.code, message: self.message } };
        let mut resp = (status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// `Json` whose rejections are [`ApiError`]s.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Self(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => {
                Err(ApiError::new(ErrorCode::UnsupportedMediaType, "send Content-Type: application/json"))
            }
            Err(rej) if rej.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
                ErrorCode::RequestTooLarge,
                format!("request body is larger than {MAX_BODY} bytes"),
            )),
            Err(rej) => Err(ApiError::new(ErrorCode::BadRequest, rej.body_text())),
        }
    }
}

async fn limit_attempts(State(s): State<HotspotState>, req: Request, next: Next) -> Response {
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string());
    match s.0.limiter.check(&ip, s.0.clock.now()) {
        Ok(()) => next.run(req).await,
        Err(retry_after) => {
            tracing::warn!(%ip, "hotspot: proof attempts rate limited");
            ApiError {
                code: ErrorCode::RateLimited,
                message: format!("too many proof attempts; retry in {retry_after} s"),
                retry_after: Some(retry_after),
            }
            .into_response()
        }
    }
}

/// The bearer token of the request: `None` when there is no `Authorization` header.
fn bearer(headers: &HeaderMap) -> Result<Option<[u8; 32]>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let bad = || ApiError::new(ErrorCode::Unauthorized, "Authorization must be: Bearer cgs_<64 hex digits>");
    let token = value.to_str().map_err(|_| bad())?.strip_prefix("Bearer ").ok_or_else(bad)?;
    let hex = token.strip_prefix(TOKEN_PREFIX).ok_or_else(bad)?;
    if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(bad());
    }
    Ok(Some(token_hash(token)))
}

fn required_bearer(headers: &HeaderMap) -> Result<[u8; 32], ApiError> {
    bearer(headers)?
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "this route needs the sharer token"))
}

/// SHA-256 of a sharer token: what the database stores instead of the token.
pub fn token_hash(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
    out
}

fn random<const N: usize>() -> Result<[u8; N], ApiError> {
    let mut b = [0u8; N];
    rand::fill(&mut b).map_err(|_| ApiError::internal("random"))?;
    Ok(b)
}

/// Runs `f` on the store in the blocking pool (SQLite calls block).
async fn with_store<T, F>(s: &HotspotState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Store, &ServerKeys) -> Result<T, StoreError> + Send + 'static,
{
    let inner = Arc::clone(&s.0);
    tokio::task::spawn_blocking(move || f(&inner.store, &inner.keys))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

async fn start_proof(
    State(s): State<HotspotState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<StartRequest>,
) -> Result<(StatusCode, Json<StartResponse>), ApiError> {
    let first = Ssid::try_from(req.ssid).map_err(|e| ApiError::new(ErrorCode::SsidInvalid, e.to_string()))?;
    let bssids = rules::parse_bssids(&req.bssids)
        .map_err(|e| ApiError::new(ErrorCode::BssidInvalid, e.to_string()))?;
    let rule = match req.rule {
        Some(r) => {
            r.parse().map_err(|e: rules::RuleError| ApiError::new(ErrorCode::RuleUnknown, e.to_string()))?
        }
        None => s.0.config.default_rule,
    };
    // The sharer is who holds the token: one given, or a new one issued now (see docs/hotspot.md).
    let (sharer_hash, new_token) = match bearer(&headers)? {
        Some(hash) => {
            if !with_store(&s, move |st, _| st.sharer_known(&hash)).await? {
                return Err(ApiError::new(ErrorCode::SharerUnknown, "this server did not issue that token"));
            }
            (hash, None)
        }
        None => {
            let token = format!("{TOKEN_PREFIX}{}", hex::encode(random::<32>()?));
            (token_hash(&token), Some(token))
        }
    };
    let id_bytes = random::<16>()?;
    let proof_id = hex::encode(id_bytes);
    let second = match rule {
        SecondRule::Hash => rules::second_by_hash(s.0.keys.hmac(), &id_bytes, &first),
        SecondRule::Random => rules::second_by_random(&random::<10>()?),
    };
    let now = s.0.clock.now();
    let ttl = s.0.config.proof_ttl_secs;
    let expires_at = now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX));
    let (pid, sec, new_sharer) = (proof_id.clone(), second.clone(), new_token.is_some());
    with_store(&s, move |st, _| {
        st.insert_proof(
            &NewProof {
                id: &pid,
                sharer_hash: &sharer_hash,
                first_ssid: first.as_str(),
                bssids: &bssids,
                rule: rule.name(),
                second: &sec,
                created_at: now,
                expires_at,
            },
            new_sharer,
        )
    })
    .await?;
    tracing::info!(proof = %proof_id, rule = rule.name(), "hotspot: proof started");
    let rename_to = rules::third_from_second(&second);
    Ok((
        StatusCode::CREATED,
        Json(StartResponse {
            proof_id,
            rule: rule.name().to_owned(),
            second,
            rename_to,
            expires_at,
            expires_in: ttl,
            sharer_token: new_token,
        }),
    ))
}

async fn complete_proof(
    State(s): State<HotspotState>,
    UrlPath(proof_id): UrlPath<String>,
    headers: HeaderMap,
    ApiJson(mut req): ApiJson<CompleteRequest>,
) -> Result<(StatusCode, Json<Registered>), ApiError> {
    let result = complete_inner(&s, proof_id, &headers, &req).await;
    if let Some(k) = req.key.as_mut() {
        k.zeroize();
    }
    result
}

async fn complete_inner(
    s: &HotspotState,
    proof_id: String,
    headers: &HeaderMap,
    req: &CompleteRequest,
) -> Result<(StatusCode, Json<Registered>), ApiError> {
    let sharer_hash = required_bearer(headers)?;
    // The third identifier must be a name a network can carry (1-32 octets, printable) before it is
    // compared at all; a malformed one does not spend the proof.
    rules::validate_ssid(&req.ssid).map_err(|e| ApiError::new(ErrorCode::SsidInvalid, e.to_string()))?;
    let bssids = rules::parse_bssids(&req.bssids)
        .map_err(|e| ApiError::new(ErrorCode::BssidInvalid, e.to_string()))?;
    let mut key = match &req.key {
        Some(k) => {
            rules::validate_key(k).map_err(|e| ApiError::new(ErrorCode::KeyInvalid, e.to_string()))?;
            Some(zeroize::Zeroizing::new(k.clone()))
        }
        None => None,
    };
    let new_network_id = hex::encode(random::<16>()?);
    let (third, share_key, now) = (req.ssid.clone(), req.share_key, s.0.clock.now());
    let pid = proof_id.clone();
    let outcome = with_store(s, move |st, keys| {
        let r = st.complete_proof(&Completion {
            proof_id: &pid,
            sharer_hash: &sharer_hash,
            third: &third,
            bssids: &bssids,
            new_network_id: &new_network_id,
            key: key.as_ref().map(|k| k.as_bytes()),
            keys,
            share_key,
            now,
        });
        drop(key.take());
        r
    })
    .await?;
    match outcome {
        Ok(row) => {
            tracing::info!(proof = %proof_id, network = %row.id, "hotspot: network registered");
            Ok((StatusCode::CREATED, Json(registered(&row))))
        }
        Err(code) => {
            tracing::info!(proof = %proof_id, %code, "hotspot: proof refused");
            Err(ApiError::refused(code))
        }
    }
}

fn registered(row: &NetworkRow) -> Registered {
    Registered {
        network_id: row.id.clone(),
        ssid: row.ssid.clone(),
        proven_ssid: row.proven_ssid.clone(),
        macs: row.macs.iter().map(ToString::to_string).collect(),
        key_stored: row.key_sealed.is_some(),
    }
}

async fn mappings(State(s): State<HotspotState>) -> Result<Json<Mappings>, ApiError> {
    let networks = with_store(&s, |st, keys| {
        let rows = st.networks_with_macs()?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let key = match (&row.key_sealed, row.share_key) {
                    (Some(sealed), true) => match keys.open(&row.id, sealed) {
                        Ok(k) => String::from_utf8(k.to_vec()).ok(),
                        Err(err) => {
                            tracing::error!(network = %row.id, %err, "hotspot: stored key unreadable");
                            None
                        }
                    },
                    _ => None,
                };
                Mapping {
                    network_id: row.id,
                    ssid: row.ssid,
                    macs: row.macs.iter().map(ToString::to_string).collect(),
                    key,
                }
            })
            .collect())
    })
    .await?;
    Ok(Json(Mappings { networks }))
}

fn push_info(network_id: &str, row: PushRow) -> Result<PushInfo, ApiError> {
    let info = serde_json::from_str(&row.info).map_err(ApiError::internal)?;
    Ok(PushInfo { network_id: network_id.to_owned(), version: row.version, info, updated_at: row.updated_at })
}

async fn set_push(
    State(s): State<HotspotState>,
    UrlPath(network_id): UrlPath<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<PushRequest>,
) -> Result<Json<PushInfo>, ApiError> {
    let owner = required_bearer(&headers)?;
    let info = serde_json::to_string(&req.info).map_err(ApiError::internal)?;
    if info.len() > MAX_INFO {
        return Err(ApiError::new(
            ErrorCode::InfoTooLarge,
            format!("information is {} bytes as JSON (at most {MAX_INFO})", info.len()),
        ));
    }
    let now = s.0.clock.now();
    let id = network_id.clone();
    let row = with_store(&s, move |st, _| st.set_push(&id, &owner, &info, now))
        .await?
        .map_err(ApiError::refused)?;
    let pushed = push_info(&network_id, row)?;
    s.0.hub.publish(pushed.clone());
    tracing::info!(network = %network_id, version = pushed.version, "hotspot: information set");
    Ok(Json(pushed))
}

/// The stored information and whether the network exists.
async fn stored_push(s: &HotspotState, network_id: &str) -> Result<Option<PushInfo>, ApiError> {
    let id = network_id.to_owned();
    let (exists, row) = with_store(s, move |st, _| Ok((st.network(&id)?.is_some(), st.push(&id)?))).await?;
    if !exists {
        return Err(ApiError::refused(ErrorCode::NetworkUnknown));
    }
    row.map(|r| push_info(network_id, r)).transpose()
}

async fn get_push(
    State(s): State<HotspotState>,
    UrlPath(network_id): UrlPath<String>,
) -> Result<Json<PushInfo>, ApiError> {
    let info = stored_push(&s, &network_id).await?.unwrap_or(PushInfo {
        network_id,
        version: 0,
        info: serde_json::Value::Null,
        updated_at: 0,
    });
    Ok(Json(info))
}

/// Server-sent events (WHATWG HTML §9.2): on connect the current information if newer than
/// `Last-Event-ID`, then every new version as it is set. Event name `info`, id = version, data =
/// [`PushInfo`] JSON.
async fn events(
    State(s): State<HotspotState>,
    UrlPath(network_id): UrlPath<String>,
    headers: HeaderMap,
) -> Result<Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let last: u64 =
        headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0);
    let stored = stored_push(&s, &network_id).await?;
    let rx = s.0.hub.subscribe(&network_id, stored);
    tracing::info!(network = %network_id, "hotspot: listener subscribed");
    let stream = futures_util::stream::unfold((rx, last), |(mut rx, last)| async move {
        loop {
            let current = rx.borrow_and_update().clone();
            if let Some(info) = current.filter(|i| i.version > last) {
                let data = serde_json::to_string(&*info).unwrap_or_default();
                let event = Event::default().event("info").id(info.version.to_string()).data(data);
                return Some((Ok(event), (rx, info.version)));
            }
            rx.changed().await.ok()?;
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
