//! The one SQLite layer of cardgate: every database file the host writes — the server's
//! `cardgate.db` (the payment and hotspot areas, [`crate::server`]) and a merchant's queue
//! ([`crate::payment::merchant`]) — is created, opened and migrated here.
//!
//! - **Creating.** [`create_private`] makes the file mode 0600 before SQLite opens it: the files hold
//!   accounts, API keys and token hashes, and SQLite gives its `-wal` and `-shm` files the database
//!   file's mode.
//! - **Opening.** [`connect`] opens an existing file read-write (never creates one); [`configure`]
//!   sets what every cardgate database runs with: WAL, `synchronous=FULL` (a commit is on disk when
//!   it returns), foreign keys, a busy timeout of [`BUSY_TIMEOUT`]. A caller that must identify a
//!   file before changing it (the merchant queue) reads its header between the two.
//! - **Migrating.** Tables belong to **areas**; an [`Area`] has a list of SQL steps, oldest first,
//!   version N being the Nth step. [`migrate`] records each applied step in the shared
//!   `schema_migrations (area, version, applied_at)` table and runs each step in its own
//!   `BEGIN IMMEDIATE` transaction together with its row, checking the row inside the transaction,
//!   so a crash leaves a step done and recorded or not at all, and two processes opening the file at
//!   once apply it once. A file whose area is at a version this build does not know is refused
//!   ([`DbError::TooNew`]) rather than used.
//! - **Sharing.** [`Db`] is one open connection shared by every area of a process (the server opens
//!   it once and hands a clone to each area): [`Db::with_conn`] on the current thread,
//!   [`Db::call`] on the blocking pool from async handlers.

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};

/// How long a statement waits for another connection's write lock before failing with "busy".
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// One area's schema: its name in `schema_migrations` and its steps, oldest first. Append steps;
/// never edit a released one.
#[derive(Debug, Clone, Copy)]
pub struct Area {
    /// The name its migrations are recorded under (`payment`, `hotspot`, `merchant`).
    pub name: &'static str,
    /// The SQL of each step (a step may hold several statements); step N is version N.
    pub migrations: &'static [&'static str],
}

/// Creating, opening or migrating a database failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// Creating the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The database file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("{path}: {source}")]
    Sqlite {
        /// The database file.
        path: String,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// The file was migrated by a newer cardgate.
    #[error(
        "{path}: the {area} tables are at schema version {version}, newer than this cardgate knows \
         ({known}); use a newer cardgate"
    )]
    TooNew {
        /// The database file.
        path: String,
        /// The area.
        area: &'static str,
        /// The version the file records.
        version: u32,
        /// The newest version this build has.
        known: u32,
    },
}

impl DbError {
    fn sqlite(path: &Path) -> impl Fn(rusqlite::Error) -> DbError + '_ {
        move |source| DbError::Sqlite { path: path.display().to_string(), source }
    }
}

/// Creates `path` with mode 0600 if it does not exist yet; leaves an existing file as it is.
pub fn create_private(path: &Path) -> Result<(), DbError> {
    if path.exists() {
        return Ok(());
    }
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        // Another process created it between the check and the open: theirs is as good.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(DbError::Io { path: path.display().to_string(), source }),
    }
}

/// Opens an existing database file read-write, without creating it and without changing it.
pub fn connect(path: &Path) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
}

/// Sets what every cardgate database runs with: WAL, `synchronous=FULL`, foreign keys, the busy
/// timeout.
pub fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(BUSY_TIMEOUT)
}

/// Creates `schema_migrations` if the file has none yet.
pub fn create_migrations_table(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             area       TEXT NOT NULL,
             version    INTEGER NOT NULL,
             applied_at INTEGER NOT NULL,
             PRIMARY KEY (area, version)
         )",
    )
}

/// The newest version of `area` the file records (0: none).
pub fn version(conn: &Connection, area: &str) -> rusqlite::Result<u32> {
    conn.query_row(
        "SELECT coalesce(max(version), 0) FROM schema_migrations WHERE area = ?1",
        params![area],
        |r| r.get(0),
    )
}

/// Applies the steps of each area that the file (`path`, for messages) has not recorded yet, each in
/// its own `BEGIN IMMEDIATE` transaction with its `schema_migrations` row.
pub fn migrate(conn: &mut Connection, path: &Path, areas: &[Area]) -> Result<(), DbError> {
    let err = DbError::sqlite(path);
    create_migrations_table(conn).map_err(&err)?;
    for area in areas {
        let known = area.migrations.len() as u32;
        let version = version(conn, area.name).map_err(&err)?;
        if version > known {
            let path = path.display().to_string();
            return Err(DbError::TooNew { path, area: area.name, version, known });
        }
        for (i, sql) in area.migrations.iter().enumerate().skip(version as usize) {
            let step = i as u32 + 1;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
            // Checked inside the transaction: another process may have applied it meanwhile.
            let done: bool = tx
                .query_row(
                    "SELECT EXISTS(SELECT 1 FROM schema_migrations WHERE area = ?1 AND version = ?2)",
                    params![area.name, step],
                    |r| r.get(0),
                )
                .map_err(&err)?;
            if !done {
                tx.execute_batch(sql).map_err(&err)?;
                tx.execute(
                    "INSERT INTO schema_migrations (area, version, applied_at) VALUES (?1, ?2, unixepoch())",
                    params![area.name, step],
                )
                .map_err(&err)?;
                tracing::info!(area = area.name, version = step, "applied migration");
            }
            tx.commit().map_err(&err)?;
        }
    }
    Ok(())
}

/// An open database shared by the areas of one process: one connection behind a lock, used from
/// blocking threads. Cloning shares it.
#[derive(Debug, Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
    path: Arc<PathBuf>,
}

impl Db {
    /// Opens the database at `path`, creating it (0600) if needed, configured ([`configure`]) and
    /// with `areas` migrated.
    pub fn open(path: &Path, areas: &[Area]) -> Result<Db, DbError> {
        create_private(path)?;
        let mut conn = connect(path).map_err(DbError::sqlite(path))?;
        configure(&conn).map_err(DbError::sqlite(path))?;
        migrate(&mut conn, path, areas)?;
        Ok(Db { conn: Arc::new(Mutex::new(conn)), path: Arc::new(path.to_owned()) })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Applies the migrations of more areas (an area opening on the server's database).
    pub fn migrate(&self, areas: &[Area]) -> Result<(), DbError> {
        self.with_conn(|conn| migrate(conn, &self.path, areas))
    }

    /// Runs `f` with the connection on the current thread (start-up, tests, blocking threads).
    pub fn with_conn<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        // A panic while holding the lock leaves no transaction open (rusqlite rolls back on drop).
        let mut guard = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    }

    /// Runs `f` with the connection on a blocking thread (SQLite calls block). A panic in `f`
    /// becomes an `E` through `From<JoinError>`.
    pub async fn call<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<tokio::task::JoinError> + Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.with_conn(f)).await?
    }
}

/// Every `schema_migrations` row, `(area, version, applied_at)`, by area and version: for tests.
#[cfg(test)]
pub(crate) fn recorded_migrations(conn: &Connection) -> Vec<(String, u32, i64)> {
    let mut stmt = conn
        .prepare("SELECT area, version, applied_at FROM schema_migrations ORDER BY area, version")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().collect::<Result<_, _>>().unwrap()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    const ONE: Area = Area { name: "one", migrations: &["CREATE TABLE one_a (x INTEGER)"] };
    const TWO: Area = Area {
        name: "two",
        migrations: &["CREATE TABLE two_a (x INTEGER)", "ALTER TABLE two_a ADD COLUMN y INTEGER"],
    };

    fn rows(db: &Db) -> Vec<(String, u32)> {
        db.with_conn(|c| {
            recorded_migrations(c).into_iter().map(|(area, version, _)| (area, version)).collect()
        })
    }

    #[test]
    fn a_new_file_is_private_and_runs_in_wal_with_full_sync_and_foreign_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        let db = Db::open(&path, &[ONE]).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        db.with_conn(|c| {
            let mode: String = c.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
            let sync: i64 = c.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
            let fk: i64 = c.query_row("PRAGMA foreign_keys", [], |r| r.get(0)).unwrap();
            assert_eq!((mode.as_str(), sync, fk), ("wal", 2, 1));
        });
    }

    #[test]
    fn areas_migrate_once_each_and_later_steps_apply_on_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        let first = Area { name: "two", migrations: &TWO.migrations[..1] };
        let db = Db::open(&path, &[ONE, first]).unwrap();
        assert_eq!(rows(&db), [("one".into(), 1), ("two".into(), 1)]);
        drop(db);
        // Reopening applies only the new step (the CREATE TABLEs would fail if run again).
        let db = Db::open(&path, &[ONE, TWO]).unwrap();
        assert_eq!(rows(&db), [("one".into(), 1), ("two".into(), 1), ("two".into(), 2)]);
        db.with_conn(|c| c.execute("INSERT INTO two_a (x, y) VALUES (1, 2)", []).unwrap());
        // An area added to an open handle.
        let db = Db::open(&path, &[]).unwrap();
        db.migrate(&[TWO, ONE]).unwrap();
        assert_eq!(rows(&db).len(), 3);
    }

    #[test]
    fn a_failing_step_leaves_neither_its_tables_nor_its_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        let bad = Area { name: "bad", migrations: &["CREATE TABLE bad_a (x); CREATE TABLE bad_a (y)"] };
        let err = Db::open(&path, &[ONE, bad]).unwrap_err();
        assert!(matches!(err, DbError::Sqlite { .. }), "{err}");
        let db = Db::open(&path, &[ONE]).unwrap();
        assert_eq!(rows(&db), [("one".into(), 1)], "step one stays; the failed step left no row");
        let tables: i64 = db.with_conn(|c| {
            c.query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'bad_a'", [], |r| r.get(0)).unwrap()
        });
        assert_eq!(tables, 0, "and no table");
    }

    #[test]
    fn a_file_from_a_newer_cardgate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        drop(Db::open(&path, &[TWO]).unwrap());
        let older = Area { name: "two", migrations: &TWO.migrations[..1] };
        let err = Db::open(&path, &[older]).unwrap_err();
        assert!(matches!(err, DbError::TooNew { area: "two", version: 2, known: 1, .. }), "{err}");
        assert!(err.to_string().contains("the two tables are at schema version 2"), "{err}");
    }

    #[test]
    fn connect_never_creates_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.db");
        assert!(connect(&path).is_err());
        assert!(!path.exists());
    }
}
