//! The merchant's local store: one SQLite file (the "queue") holding the merchant's registration (id,
//! category, API key, the issuer's public keys) and the payments it accepted offline, until settlement
//! gives each one a verdict.
//!
//! Durability: WAL with `synchronous=FULL` ([`crate::db`], like the server's database), so an
//! accepted payment is on disk before its receipt is printed; each acceptance runs its replay and
//! use-count checks and its insert in one `IMMEDIATE` transaction, so two terminals sharing the file
//! cannot both accept the same presentation.
//!
//! The file is identified by `PRAGMA application_id` ([`APPLICATION_ID`]) before anything is written
//! to it; its schema is the `merchant` area's migrations ([`AREA`]), recorded in `schema_migrations`
//! like every cardgate database. Queues written before that counted their migrations in
//! `PRAGMA user_version`; the first open moves that count into `schema_migrations`.

use std::path::{Path, PathBuf};

use applet::credit::{IssuerPublicKey, Money};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use zeroize::Zeroizing;

use super::api::{BadIssuerKey, RegisterMerchant, decode_issuer_keys};
use super::client::{ClientError, IssuerClient};
use super::cpm::PaymentPayload;
use super::verify::{self, Reason, Rejection, Terms};
use crate::db::{self, Area, DbError};

/// `PRAGMA application_id` of a merchant store: "CGMQ".
pub const APPLICATION_ID: i32 = 0x4347_4D51;

/// The queue's tables: migrations recorded under `merchant`.
pub const AREA: Area = Area { name: "merchant", migrations: MIGRATIONS };

/// Schema migrations, in order. Append; never edit a released step.
const MIGRATIONS: &[&str] = &[r"
    CREATE TABLE merchants (
        id            TEXT PRIMARY KEY,
        name          TEXT NOT NULL,
        category      INTEGER,
        server        TEXT NOT NULL,
        api_key       TEXT NOT NULL,
        registered_at INTEGER NOT NULL
    );
    CREATE TABLE issuer_keys (
        key_id  BLOB PRIMARY KEY,
        encoded BLOB NOT NULL
    );
    CREATE TABLE payments (
        payment_id           TEXT PRIMARY KEY,
        merchant_id          TEXT NOT NULL REFERENCES merchants(id),
        payload              TEXT NOT NULL,
        token_id             BLOB NOT NULL,
        counter              INTEGER NOT NULL,
        unpredictable_number BLOB NOT NULL,
        amount               INTEGER NOT NULL,
        currency             INTEGER NOT NULL,
        accepted_at          INTEGER NOT NULL,
        presented_at         INTEGER NOT NULL,
        verdict              TEXT,
        reason_code          TEXT,
        reason               TEXT,
        flagged              INTEGER NOT NULL DEFAULT 0,
        settled_at           INTEGER,
        UNIQUE (token_id, counter),
        UNIQUE (token_id, unpredictable_number)
    );
    CREATE INDEX payments_pending ON payments (merchant_id) WHERE verdict IS NULL;
"];

/// What went wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file does not exist.
    #[error("{0}: no such merchant queue; create it with `cardgate merchant register --queue {0}`")]
    Missing(String),
    /// The file exists but is not a merchant store (or is damaged).
    #[error("{path}: not a cardgate merchant queue ({why}); the file was left untouched")]
    NotAQueue {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// No merchant with this id is registered in the store.
    #[error("merchant {id:?} is not registered in {path} (registered: {known})")]
    UnknownMerchant {
        /// The id asked for.
        id: String,
        /// The file.
        path: String,
        /// The ids that are there.
        known: String,
    },
    /// A database error.
    #[error("{path}: {source}")]
    Sqlite {
        /// The file.
        path: String,
        /// The error.
        source: rusqlite::Error,
    },
    /// Creating or migrating the file failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A registered merchant, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merchant {
    /// Merchant id (`9F16`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Category code (`9F15`).
    pub category: Option<u16>,
    /// The issuer server it registered with.
    pub server: String,
    /// The API key for settlement (a secret).
    pub api_key: Zeroizing<String>,
}

/// A payment waiting for (or holding) its settlement verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedPayment {
    /// Random id the merchant gave the payment (the idempotency key for uploads).
    pub payment_id: String,
    /// The merchant paid.
    pub merchant_id: String,
    /// The QR text as scanned.
    pub payload: String,
    /// The amount charged.
    pub amount: Money,
    /// When it was accepted, UTC seconds.
    pub accepted_at: u64,
}

/// What `accept` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The new payment's id.
    pub payment_id: String,
    /// The amount.
    pub amount: Money,
    /// Token id, hex.
    pub token_id: String,
    /// The card's counter.
    pub counter: u16,
    /// Uses of the token seen by this store, this one included.
    pub uses: u32,
    /// The token's allowed uses.
    pub allowed_uses: u16,
    /// Payments pending settlement in the store, this one included.
    pub pending: u64,
}

/// A settlement verdict to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVerdict {
    /// The payment.
    pub payment_id: String,
    /// "accepted" or "rejected".
    pub verdict: String,
    /// The reason code.
    pub reason_code: String,
    /// The reason sentence.
    pub reason: String,
    /// Whether the server flagged it (double spend).
    pub flagged: bool,
}

/// Why `accept` did not queue a payment.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// The payment failed a check: it is refused.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The store failed: nothing was queued.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why [`register`] recorded nothing.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The server refused or could not be reached.
    #[error(transparent)]
    Server(#[from] ClientError),
    /// The server sent an issuer key that does not decode.
    #[error(transparent)]
    Key(#[from] BadIssuerKey),
    /// The queue could not be created or written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A registration [`register`] recorded.
#[derive(Debug)]
pub struct Registration {
    /// The queue, holding it.
    pub store: MerchantStore,
    /// The merchant id the server registered.
    pub merchant_id: String,
    /// How many issuer keys were stored.
    pub issuer_keys: usize,
}

/// Registers a merchant with the issuer server (`client` carries the admin token) and records the
/// registration in the queue at `queue` (created 0600 if needed): the merchant, its API key, the
/// server's address and the issuer's public keys. The keys are checked before the queue is touched.
pub async fn register(
    client: &IssuerClient,
    req: &RegisterMerchant,
    queue: &Path,
) -> Result<Registration, RegisterError> {
    // The queue first: a file that is not a queue is refused before the server hands out a key that
    // would then have nowhere to go.
    let mut store = MerchantStore::open_or_create(queue)?;
    let registered = client.register_merchant(req).await?;
    let keys = decode_issuer_keys(&registered.issuer_keys)?;
    let merchant = Merchant {
        id: registered.merchant_id.clone(),
        name: req.name.clone(),
        category: req.category,
        server: client.base().to_owned(),
        api_key: Zeroizing::new(registered.api_key),
    };
    store.register(&merchant, &keys)?;
    Ok(Registration { store, merchant_id: registered.merchant_id, issuer_keys: keys.len() })
}

/// An open merchant store.
#[derive(Debug)]
pub struct MerchantStore {
    conn: Connection,
    path: PathBuf,
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Moves the count of migrations a queue written before `schema_migrations` kept in `PRAGMA
/// user_version` into `schema_migrations`, in one transaction, and clears it: from then on the
/// table is the one record. A queue that has `merchant` rows already keeps them.
fn adopt_user_version(conn: &mut Connection, legacy_version: u32) -> rusqlite::Result<()> {
    if legacy_version == 0 {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    db::create_migrations_table(&tx)?;
    if db::version(&tx, AREA.name)? == 0 {
        for version in 1..=legacy_version {
            tx.execute(
                "INSERT INTO schema_migrations (area, version, applied_at) VALUES (?1, ?2, unixepoch())",
                params![AREA.name, version],
            )?;
        }
    }
    tx.pragma_update(None, "user_version", 0)?;
    tx.commit()
}

/// A fresh random id: 16 bytes in hex.
#[allow(clippy::expect_used, reason = "AWS-LC's RNG aborts rather than fail; an error here is unreachable")]
pub fn random_id() -> String {
    let mut b = [0u8; 16];
    SystemRandom::new().fill(&mut b).expect("system randomness");
    hex::encode(b)
}

impl MerchantStore {
    fn sql(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite { path: self.path.display().to_string(), source }
    }

    /// Opens an existing store, or creates one (mode 0600: it holds API keys).
    pub fn open_or_create(path: &Path) -> Result<Self, StoreError> {
        db::create_private(path)?;
        Self::open(path)
    }

    /// Opens an existing store; never creates or reformats a file.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let name = path.display().to_string();
        if !path.exists() {
            return Err(StoreError::Missing(name));
        }
        let not = |why: String| StoreError::NotAQueue { path: name.clone(), why };
        let mut conn = db::connect(path).map_err(|e| not(e.to_string()))?;
        // Reading the header is the first access: a file that is not SQLite fails here, untouched.
        let app_id: i32 =
            conn.pragma_query_value(None, "application_id", |r| r.get(0)).map_err(|e| not(e.to_string()))?;
        let legacy_version: u32 =
            conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(|e| not(e.to_string()))?;
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .map_err(|e| not(e.to_string()))?;
        let fresh = app_id == 0 && legacy_version == 0 && tables == 0;
        if !fresh && app_id != APPLICATION_ID {
            return Err(not(format!("application id {app_id:#x}, expected {APPLICATION_ID:#x}")));
        }
        let sql = |source| StoreError::Sqlite { path: name.clone(), source };
        db::configure(&conn).map_err(sql)?;
        if fresh {
            // Marked before the first table, so a queue is never left unrecognisable.
            conn.pragma_update(None, "application_id", APPLICATION_ID).map_err(sql)?;
        }
        adopt_user_version(&mut conn, legacy_version).map_err(sql)?;
        db::migrate(&mut conn, path, &[AREA])?;
        Ok(Self { conn, path: path.to_owned() })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records (or updates) a merchant's registration and adds the issuer keys it was given.
    pub fn register(&mut self, m: &Merchant, keys: &[IssuerPublicKey]) -> Result<(), StoreError> {
        let path = self.path.display().to_string();
        let err = |source| StoreError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
        tx.execute(
            "INSERT INTO merchants (id, name, category, server, api_key, registered_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (id) DO UPDATE SET name = ?2, category = ?3, server = ?4, api_key = ?5, registered_at = ?6",
            params![m.id, m.name, m.category, m.server, m.api_key.as_str(), now() as i64],
        )
        .map_err(err)?;
        for k in keys {
            tx.execute(
                "INSERT OR REPLACE INTO issuer_keys (key_id, encoded) VALUES (?1, ?2)",
                params![&k.key_id[..], k.encode()],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// Adds issuer keys (after a rotation), keeping the old ones.
    pub fn add_issuer_keys(&mut self, keys: &[IssuerPublicKey]) -> Result<(), StoreError> {
        for k in keys {
            self.conn
                .execute(
                    "INSERT OR REPLACE INTO issuer_keys (key_id, encoded) VALUES (?1, ?2)",
                    params![&k.key_id[..], k.encode()],
                )
                .map_err(self.sql())?;
        }
        Ok(())
    }

    /// Every registered merchant.
    pub fn merchants(&self) -> Result<Vec<Merchant>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, name, category, server, api_key FROM merchants ORDER BY id")
            .map_err(self.sql())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Merchant {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    category: r.get(2)?,
                    server: r.get(3)?,
                    api_key: Zeroizing::new(r.get(4)?),
                })
            })
            .map_err(self.sql())?;
        rows.collect::<Result<_, _>>().map_err(self.sql())
    }

    /// The merchant with this id, or the only one when `id` is `None`.
    pub fn merchant(&self, id: Option<&str>) -> Result<Merchant, StoreError> {
        let all = self.merchants()?;
        let known = || all.iter().map(|m| m.id.as_str()).collect::<Vec<_>>().join(", ");
        let found = match id {
            Some(id) => all.iter().find(|m| m.id == id),
            None if all.len() == 1 => all.first(),
            None => None,
        };
        found.cloned().ok_or_else(|| StoreError::UnknownMerchant {
            id: id.unwrap_or("(none given)").to_owned(),
            path: self.path.display().to_string(),
            known: if all.is_empty() { "none".into() } else { known() },
        })
    }

    /// The issuer public keys this store trusts. A damaged row is an error, never skipped.
    pub fn issuer_keys(&self) -> Result<Vec<IssuerPublicKey>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT encoded FROM issuer_keys").map_err(self.sql())?;
        let rows: Vec<Vec<u8>> = stmt
            .query_map([], |r| r.get(0))
            .map_err(self.sql())?
            .collect::<Result<_, _>>()
            .map_err(self.sql())?;
        rows.iter()
            .map(|b| {
                IssuerPublicKey::decode(b).map_err(|e| StoreError::NotAQueue {
                    path: self.path.display().to_string(),
                    why: format!("a stored issuer key is damaged: {e}"),
                })
            })
            .collect()
    }

    /// Checks a scanned payment offline and queues it durably, or says why not.
    pub fn accept(
        &mut self,
        merchant_id: Option<&str>,
        text: &str,
        payload: &PaymentPayload,
        amount: Money,
        at: u64,
        max_skew: u64,
    ) -> Result<Receipt, AcceptError> {
        let merchant = self.merchant(merchant_id)?;
        let keys = self.issuer_keys()?;
        let terms = Terms { merchant_id: &merchant.id, category: merchant.category, amount, at, max_skew };
        let presented = verify::check_payment(payload, &keys, &terms)?;

        let token = &payload.code.token;
        let p = &payload.presentation;
        let path = self.path.display().to_string();
        let err = |source| StoreError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
        let seen: Option<(String, i64)> = tx
            .query_row(
                "SELECT payment_id, counter FROM payments
                 WHERE token_id = ?1 AND (counter = ?2 OR unpredictable_number = ?3) LIMIT 1",
                params![&token.token_id[..], p.counter, &p.unpredictable_number[..]],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(err)?;
        if let Some((id, counter)) = seen {
            return Err(Rejection::new(
                Reason::Replayed,
                format!(
                    "this code (token {} counter {counter}) was already accepted here as payment {id}",
                    hex::encode(token.token_id)
                ),
            )
            .into());
        }
        let uses: u32 = tx
            .query_row(
                "SELECT count(*) FROM payments WHERE token_id = ?1",
                params![&token.token_id[..]],
                |r| r.get(0),
            )
            .map_err(err)?;
        if uses >= u32::from(token.allowed_uses) {
            return Err(Rejection::new(
                Reason::UsesExhausted,
                format!(
                    "the token allows {} uses and this terminal has already accepted {uses}",
                    token.allowed_uses
                ),
            )
            .into());
        }
        let payment_id = random_id();
        tx.execute(
            "INSERT INTO payments (payment_id, merchant_id, payload, token_id, counter, unpredictable_number,
                                   amount, currency, accepted_at, presented_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                payment_id,
                merchant.id,
                text.trim(),
                &token.token_id[..],
                p.counter,
                &p.unpredictable_number[..],
                amount.minor as i64,
                amount.currency,
                at as i64,
                presented
            ],
        )
        .map_err(err)?;
        let pending: i64 = tx
            .query_row("SELECT count(*) FROM payments WHERE verdict IS NULL", [], |r| r.get(0))
            .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(Receipt {
            payment_id,
            amount,
            token_id: hex::encode(token.token_id),
            counter: p.counter,
            uses: uses + 1,
            allowed_uses: token.allowed_uses,
            pending: pending as u64,
        })
    }

    /// At most `limit` payments without a verdict for one merchant, oldest first, stored after the
    /// position `after` (0: from the start), each with its position (pass the last one as `after` for
    /// the next page). Lets settlement walk a queue of any size in bounded memory.
    pub fn pending_page(
        &self,
        merchant_id: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, QueuedPayment)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT rowid, payment_id, merchant_id, payload, amount, currency, accepted_at FROM payments
                 WHERE verdict IS NULL AND merchant_id = ?1 AND rowid > ?2 ORDER BY rowid LIMIT ?3",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map(params![merchant_id, after, limit], |r| {
                Ok((
                    r.get(0)?,
                    QueuedPayment {
                        payment_id: r.get(1)?,
                        merchant_id: r.get(2)?,
                        payload: r.get(3)?,
                        amount: Money { minor: r.get::<_, i64>(4)? as u64, currency: r.get(5)? },
                        accepted_at: r.get::<_, i64>(6)? as u64,
                    },
                ))
            })
            .map_err(self.sql())?;
        rows.collect::<Result<_, _>>().map_err(self.sql())
    }

    /// How many payments of one merchant wait for a verdict.
    pub fn pending_count(&self, merchant_id: &str) -> Result<u64, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM payments WHERE verdict IS NULL AND merchant_id = ?1",
                params![merchant_id],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(self.sql())
    }

    /// Stores verdicts, all or none.
    pub fn record_verdicts(&mut self, verdicts: &[StoredVerdict]) -> Result<(), StoreError> {
        let path = self.path.display().to_string();
        let err = |source| StoreError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
        {
            let mut stmt = tx
                .prepare(
                    "UPDATE payments SET verdict = ?2, reason_code = ?3, reason = ?4, flagged = ?5, settled_at = ?6
                     WHERE payment_id = ?1",
                )
                .map_err(err)?;
            let t = now() as i64;
            for v in verdicts {
                stmt.execute(params![v.payment_id, v.verdict, v.reason_code, v.reason, v.flagged, t])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Every payment with a verdict, for printing: (payment id, merchant, amount, verdict).
    pub fn verdicts(&self) -> Result<Vec<(StoredVerdict, String, Money)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT payment_id, verdict, reason_code, reason, flagged, merchant_id, amount, currency FROM payments
                 WHERE verdict IS NOT NULL ORDER BY rowid",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    StoredVerdict {
                        payment_id: r.get(0)?,
                        verdict: r.get(1)?,
                        reason_code: r.get(2)?,
                        reason: r.get(3)?,
                        flagged: r.get(4)?,
                    },
                    r.get(5)?,
                    Money { minor: r.get::<_, i64>(6)? as u64, currency: r.get(7)? },
                ))
            })
            .map_err(self.sql())?;
        rows.collect::<Result<_, _>>().map_err(self.sql())
    }

    /// (pending, settled) payment counts.
    pub fn counts(&self) -> Result<(u64, u64), StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FILTER (WHERE verdict IS NULL), count(*) FILTER (WHERE verdict IS NOT NULL) FROM payments",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
            .map_err(self.sql())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merchant_ids(store: &MerchantStore) -> Vec<String> {
        store.merchants().unwrap().into_iter().map(|m| m.id).collect()
    }

    fn migration_rows(conn: &Connection) -> Vec<(String, u32)> {
        db::recorded_migrations(conn).into_iter().map(|(area, version, _)| (area, version)).collect()
    }

    #[test]
    fn a_queue_from_before_schema_migrations_opens_with_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queue.db");
        // The layout cardgate wrote before `crate::db`: the schema, its count in user_version.
        let old = Connection::open(&path).unwrap();
        old.execute_batch(MIGRATIONS[0]).unwrap();
        old.pragma_update(None, "application_id", APPLICATION_ID).unwrap();
        old.pragma_update(None, "user_version", 1).unwrap();
        old.execute(
            "INSERT INTO merchants (id, name, category, server, api_key, registered_at)
             VALUES ('SHOP0001', 'Shop', 5411, 'http://127.0.0.1:1', 'cgm_x', 0)",
            [],
        )
        .unwrap();
        drop(old);

        let store = MerchantStore::open(&path).unwrap();
        assert_eq!(merchant_ids(&store), ["SHOP0001"]);
        assert_eq!(migration_rows(&store.conn), [("merchant".to_owned(), 1)]);
        let user_version: u32 = store.conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(user_version, 0, "schema_migrations is the one record now");
        drop(store);
        // And again, now in the new layout.
        let store = MerchantStore::open(&path).unwrap();
        assert_eq!(merchant_ids(&store), ["SHOP0001"]);
        assert_eq!(migration_rows(&store.conn), [("merchant".to_owned(), 1)]);
    }

    #[test]
    fn a_new_queue_is_marked_private_and_migrated_once() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queue.db");
        drop(MerchantStore::open_or_create(&path).unwrap());
        let store = MerchantStore::open_or_create(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let app_id: i32 = store.conn.pragma_query_value(None, "application_id", |r| r.get(0)).unwrap();
        assert_eq!(app_id, APPLICATION_ID);
        assert_eq!(migration_rows(&store.conn), [("merchant".to_owned(), 1)]);
    }

    #[test]
    fn a_queue_from_a_newer_cardgate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queue.db");
        let store = MerchantStore::open_or_create(&path).unwrap();
        store
            .conn
            .execute(
                "INSERT INTO schema_migrations (area, version, applied_at) VALUES ('merchant', 2, 0)",
                [],
            )
            .unwrap();
        drop(store);
        let err = MerchantStore::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::Db(DbError::TooNew { version: 2, known: 1, .. })), "{err}");
    }
}
