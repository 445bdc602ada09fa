//! `cardgate server`: the issuer server. One process, one data directory, one SQLite database
//! (`cardgate.db`, WAL), JSON over HTTP.
//!
//! The server is a composition of **areas**. Each area owns its routes (an [`axum::Router`] with its
//! state applied), its migrations (recorded per area in `schema_migrations`) and its keys in the data
//! directory; [`build`] opens the database once ([`crate::db::Db`]: 0600, WAL, `synchronous=FULL`),
//! hands the one handle to every area, and merges the routers, then adds the JSON fallbacks once. The areas: the offline credit payment issuer ([`crate::payment::server`]:
//! issuer keys, accounts, issuance, merchants, settlement) and the Wi-Fi hotspot
//! ([`crate::hotspot`]). A new area adds its state to [`Areas`], its settings to [`ServerConfig`]
//! and its router to [`build`]; its migrations go in its own list under its own area name.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Router;

use crate::db::{Db, DbError};
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
    /// The database.
    #[error("database: {0}")]
    Db(#[from] DbError),
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

/// Declared bodies up to this size are read and dropped before the 413 answer (see [`refuse_oversize`]).
const DRAIN_AT_MOST: u64 = 8 << 20;
/// How long a declared-oversize body is drained at most.
const DRAIN_FOR: std::time::Duration = std::time::Duration::from_secs(2);

/// Checks the body length a request declares (`Content-Length`) against `limit` before reading
/// it: `Ok(request)` to go on, or `Err(length)` when the route must answer 413. Without this check
/// the body limits act only once that much has been read, and a client that declares a gigabyte and
/// sends nothing would hold its handler for as long as it likes.
///
/// A modest oversize body (up to 8 MiB) is read and dropped, for at most 2 s, before the answer:
/// closing a connection with unread data makes the kernel reset it (RFC 7230 §6.6), and a client
/// still sending would see a broken pipe instead of the 413. Larger declarations are answered at once.
pub async fn refuse_oversize(
    request: axum::extract::Request,
    limit: usize,
) -> Result<axum::extract::Request, u64> {
    use futures_util::StreamExt;
    let Some(length) = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .filter(|&length| length > limit as u64)
    else {
        return Ok(request);
    };
    if length <= DRAIN_AT_MOST {
        let mut body = request.into_body().into_data_stream();
        let drain = async { while let Some(Ok(_)) = body.next().await {} };
        // Timing out is the answer too: the 413 goes out either way.
        let _ = tokio::time::timeout(DRAIN_FOR, drain).await;
    }
    Err(length)
}

/// Opens every area in the data directory and composes the router.
pub fn build(cfg: &ServerConfig) -> Result<(Router, Areas), ServerError> {
    let dir = &cfg.data_dir;
    let dir_err = |source| ServerError::DataDir { path: dir.clone(), source };
    if dir.exists() && !dir.is_dir() {
        return Err(dir_err(std::io::Error::other("exists and is not a directory")));
    }
    if !dir.exists() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(dir_err)?;
    }
    // One handle on the database for every area; each applies its own migrations on it.
    let db = Db::open(&dir.join(DB_FILE), &[])?;
    let hotspot = HotspotState::with_db(dir, db.clone(), cfg.hotspot.clone(), Clock::system())?;
    let payment = PaymentState::with_db(dir, db, cfg.payment.clone())?;
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

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;
    use crate::db::recorded_migrations as migration_rows;
    use crate::hotspot::store::AREA as HOTSPOT;
    use crate::payment::server::AREA as PAYMENT;

    fn config(data_dir: PathBuf) -> ServerConfig {
        ServerConfig {
            data_dir,
            listen: "127.0.0.1:0".parse().unwrap(),
            hotspot: HotspotConfig::default(),
            payment: PaymentConfig::default(),
        }
    }

    #[test]
    fn a_database_from_the_per_area_runners_opens_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        // What the hotspot and payment areas' own runners wrote before `crate::db`: hotspot first
        // (it opened first), then payment, each step with its row.
        let old = Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                area TEXT NOT NULL, version INTEGER NOT NULL, applied_at INTEGER NOT NULL,
                PRIMARY KEY (area, version))",
        )
        .unwrap();
        for (area, at) in [(HOTSPOT, 1_700_000_000), (PAYMENT, 1_700_000_001)] {
            old.execute_batch(area.migrations[0]).unwrap();
            old.execute(
                "INSERT INTO schema_migrations (area, version, applied_at) VALUES (?1, 1, ?2)",
                rusqlite::params![area.name, at],
            )
            .unwrap();
        }
        old.execute(
            "INSERT INTO payment_accounts (name, currency, credit_limit, created_at) VALUES ('alice', 156, 5000, 0)",
            [],
        )
        .unwrap();
        old.execute("INSERT INTO hotspot_sharers (token_hash, created_at) VALUES (x'01', 0)", []).unwrap();
        let before = migration_rows(&old);
        drop(old);

        let (_router, areas) = build(&config(dir.path().to_owned())).unwrap();
        areas.payment.db.with_conn(|c| {
            assert_eq!(migration_rows(c), before, "nothing re-applied, nothing recorded again");
            let name: String = c.query_row("SELECT name FROM payment_accounts", [], |r| r.get(0)).unwrap();
            assert_eq!(name, "alice");
            let sharers: i64 = c.query_row("SELECT count(*) FROM hotspot_sharers", [], |r| r.get(0)).unwrap();
            assert_eq!(sharers, 1);
        });
    }

    #[test]
    fn a_new_database_is_private_and_records_both_areas_once() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        drop(build(&config(data.clone())).unwrap());
        let (_router, areas) = build(&config(data.clone())).unwrap();
        assert_eq!(std::fs::metadata(data.join(DB_FILE)).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(&data).unwrap().permissions().mode() & 0o777, 0o700);
        let areas_recorded: Vec<(String, u32)> =
            areas.payment.db.with_conn(|c| migration_rows(c).into_iter().map(|(a, v, _)| (a, v)).collect());
        assert_eq!(areas_recorded, [("hotspot".to_owned(), 1), ("payment".to_owned(), 1)]);
    }
}
