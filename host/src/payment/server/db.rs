//! The payment area's handle on the server database (`cardgate.db` in the data directory: WAL,
//! `synchronous=FULL`, 0600). Migrations are recorded per area in the shared `schema_migrations`
//! table, `(area, version)`, version N being the Nth entry of the area's list; areas never touch
//! another area's tables.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, TransactionBehavior, params};

use super::error::ApiError;

/// The database handle shared by request handlers. One connection, used from blocking threads.
#[derive(Debug, Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
}

/// Opening or migrating the database failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite failed.
    #[error("{path}: {source}")]
    Sqlite {
        /// The database file.
        path: String,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// Creating the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The database file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

impl Db {
    /// Opens (creating if needed) the database and applies every area's migrations.
    pub fn open(path: &Path, areas: &[(&'static str, &'static [&'static str])]) -> Result<Self, DbError> {
        let err = |source| DbError::Sqlite { path: path.display().to_string(), source };
        if !path.exists() {
            // Accounts and API key hashes: readable by the server's user only (SQLite gives the -wal
            // and -shm files the database file's mode).
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|source| DbError::Io { path: path.display().to_string(), source })?;
        }
        let mut conn = Connection::open(path).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(err)?;
        migrate(&mut conn, areas).map_err(err)?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)) })
    }

    /// Runs `f` with the connection on the current thread (start-up, tests).
    pub fn with_conn<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        // A panic while holding the lock leaves no transaction open (rusqlite rolls back on drop).
        let mut guard = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }

    /// Runs `f` with the connection on a blocking thread.
    pub async fn call<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, ApiError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut guard)
        })
        .await
        .map_err(ApiError::internal)?
    }
}

/// Applies the migrations each area has that the database lacks, each in its own transaction.
pub fn migrate(
    conn: &mut Connection,
    areas: &[(&'static str, &'static [&'static str])],
) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             area       TEXT NOT NULL,
             version    INTEGER NOT NULL,
             applied_at INTEGER NOT NULL,
             PRIMARY KEY (area, version)
         )",
    )?;
    for (area, migrations) in areas {
        let done: i64 = conn.query_row(
            "SELECT coalesce(max(version), 0) FROM schema_migrations WHERE area = ?1",
            params![area],
            |r| r.get(0),
        )?;
        for (i, sql) in migrations.iter().enumerate().skip(done as usize) {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (area, version, applied_at) VALUES (?1, ?2, ?3)",
                params![area, (i + 1) as i64, super::now() as i64],
            )?;
            tx.commit()?;
            tracing::info!(area, version = i + 1, "applied migration");
        }
    }
    Ok(())
}
