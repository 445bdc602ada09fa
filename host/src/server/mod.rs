//! `cardgate server`: the issuer server. One process, one data directory, one SQLite database
//! (`cardgate.db`, WAL), JSON over HTTP.
//!
//! The server is a composition of **areas**. Each area owns its routes (an [`axum::Router`] with its
//! state applied), its migrations (recorded per area in `schema_migrations`) and its keys in the data
//! directory; [`build`] opens every area on the shared database and merges the routers, then adds the
//! JSON fallbacks once. The areas: the offline credit payment issuer ([`crate::payment::server`]:
//! issuer keys, accounts, issuance, merchants, settlement) and the Wi-Fi hotspot
//! ([`crate::hotspot`]). A new area adds its state to [`Areas`], its settings to [`ServerConfig`]
//! and its router to [`build`]; its migrations go in its own list under its own area name.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Router;

use crate::hotspot::clock::Clock;
use crate::hotspot::server::{self as hotspot, HotspotConfig, HotspotState};
use crate::payment::server::{self as payment, PaymentConfig, PaymentState};

/// The database file inside the data directory.
pub const DB_FILE: &str = "cardgate.db";

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The data directory (created 0700 if missing): database, server keys.
    pub data_dir: PathBuf,
    /// Where to listen.
    pub listen: SocketAddr,
    /// The hotspot area's settings.
    pub hotspot: HotspotConfig,
    /// The payment area's settings.
    pub payment: PaymentConfig,
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The data directory.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The hotspot area.
    #[error("hotspot: {0}")]
    Hotspot(#[from] hotspot::OpenError),
    /// The payment area.
    #[error("payment: {0}")]
    Payment(#[from] payment::OpenError),
    /// Binding or serving.
    #[error("listen on {addr}: {source}")]
    Io {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// The open areas (kept to shut them down cleanly).
#[derive(Debug, Clone)]
pub struct Areas {
    /// Wi-Fi sharer proof and information push.
    pub hotspot: HotspotState,
    /// Offline credit payment: issuance and settlement.
    pub payment: PaymentState,
}

/// Opens every area in the data directory and composes the router.
pub fn build(cfg: &ServerConfig) -> Result<(Router, Areas), ServerError> {
    let dir = &cfg.data_dir;
    let dir_err = |source| ServerError::DataDir { path: dir.clone(), source };
    if !dir.exists() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(dir_err)?;
    }
    let db = dir.join(DB_FILE);
    if !db.exists() {
        // Accounts, API key hashes, sharer token hashes: readable by the server's user only. SQLite
        // gives its -wal and -shm files the database file's mode.
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&db).map_err(dir_err)?;
    }
    let hotspot = HotspotState::open(dir, &db, cfg.hotspot.clone(), Clock::system())?;
    let payment = PaymentState::open(dir, &db, cfg.payment.clone())?;
    let router =
        Router::new().merge(hotspot::router(hotspot.clone())).merge(payment::router(payment.clone()));
    let router = hotspot::with_json_fallbacks(router).layer(tower_http::trace::TraceLayer::new_for_http());
    Ok((router, Areas { hotspot, payment }))
}

/// Binds, reports the bound address through `on_bound`, and serves until `shutdown` resolves.
pub async fn serve(
    cfg: &ServerConfig,
    on_bound: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let (router, areas) = build(cfg)?;
    let io = |source| ServerError::Io { addr: cfg.listen, source };
    let listener = tokio::net::TcpListener::bind(cfg.listen).await.map_err(io)?;
    on_bound(listener.local_addr().map_err(io)?);
    let hotspot = areas.hotspot.clone();
    let shutdown = async move {
        shutdown.await;
        // Open event streams would hold a graceful shutdown forever.
        hotspot.close_streams();
    };
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(io)
}
