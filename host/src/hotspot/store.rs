//! Durable hotspot state in SQLite: sharers, proofs, registered networks and their MACs, and the
//! information to push. The schema is this area's own migration list ([`AREA`]), recorded in the
//! server database's `schema_migrations` table under the area name `hotspot` ([`crate::db`]).
//!
//! Every read-modify-write runs in `BEGIN IMMEDIATE` (research/crates.md §6.2), so a proof is spent
//! exactly once even with several connections on the same file, and a failure leaves nothing half-done.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::api::ErrorCode;
use super::rules::{self, Mac};
use super::secret::{SecretError, ServerKeys};
use crate::db::{Area, Db, DbError};

/// The hotspot area's tables: migrations recorded under `hotspot`.
pub const AREA: Area = Area { name: "hotspot", migrations: MIGRATIONS };

/// The hotspot area's schema, oldest first. Append; never edit a released step.
const MIGRATIONS: &[&str] = &["
CREATE TABLE hotspot_sharers (
    token_hash BLOB PRIMARY KEY,            -- SHA-256 of the bearer token; the token itself is never stored
    created_at INTEGER NOT NULL
);
CREATE TABLE hotspot_proofs (
    id TEXT PRIMARY KEY,                     -- 32 hex digits, random
    sharer_hash BLOB NOT NULL REFERENCES hotspot_sharers(token_hash),
    first_ssid TEXT NOT NULL,
    bssids TEXT NOT NULL,                    -- JSON array of AA:BB:CC:DD:EE:FF
    rule TEXT NOT NULL CHECK (rule IN ('hash', 'random')),
    second TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'completed', 'failed')),
    outcome TEXT,                            -- error code of a failed end, or the network id
    ended_at INTEGER
);
CREATE TABLE hotspot_networks (
    id TEXT PRIMARY KEY,                     -- 32 hex digits, random
    owner_hash BLOB NOT NULL REFERENCES hotspot_sharers(token_hash),
    ssid TEXT NOT NULL,
    proven_ssid TEXT NOT NULL,
    key_sealed BLOB,                         -- AES-256-GCM nonce || ciphertext || tag, or NULL
    share_key INTEGER NOT NULL DEFAULT 0,
    proof_id TEXT NOT NULL REFERENCES hotspot_proofs(id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE hotspot_macs (
    mac TEXT PRIMARY KEY,                    -- a BSSID belongs to the network that proved it last
    network_id TEXT NOT NULL REFERENCES hotspot_networks(id)
);
CREATE INDEX hotspot_macs_network ON hotspot_macs(network_id);
CREATE TABLE hotspot_push (
    network_id TEXT PRIMARY KEY REFERENCES hotspot_networks(id),
    version INTEGER NOT NULL,
    info TEXT NOT NULL,                      -- JSON
    updated_at INTEGER NOT NULL
);
"];

/// How long, in seconds, a proof that registered nothing is kept after it ended or expired.
pub const PROOF_RETENTION: i64 = 7 * 24 * 3600;

/// A storage failure (not a refusal: those are [`ErrorCode`]s).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Opening or migrating the database failed.
    #[error(transparent)]
    Open(#[from] DbError),
    /// SQLite failed.
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    /// Sealing a network key failed.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// A stored row does not parse (the database was edited by hand).
    #[error("database holds a malformed {0}")]
    Corrupt(&'static str),
}

/// A proof to record at its start.
#[derive(Debug, Clone)]
pub struct NewProof<'a> {
    /// Its id.
    pub id: &'a str,
    /// SHA-256 of the sharer's token.
    pub sharer_hash: &'a [u8; 32],
    /// The first identifier.
    pub first_ssid: &'a str,
    /// BSSIDs named at the start.
    pub bssids: &'a [Mac],
    /// `hash` or `random`.
    pub rule: &'a str,
    /// The second identifier.
    pub second: &'a str,
    /// Now.
    pub created_at: i64,
    /// Expiry.
    pub expires_at: i64,
}

/// The end of a proof, already checked for form.
#[derive(Debug, Clone)]
pub struct Completion<'a> {
    /// The proof.
    pub proof_id: &'a str,
    /// SHA-256 of the token that came with the request.
    pub sharer_hash: &'a [u8; 32],
    /// The third identifier.
    pub third: &'a str,
    /// BSSIDs seen broadcasting it.
    pub bssids: &'a [Mac],
    /// The new network id to use when the owner has no network with these MACs yet.
    pub new_network_id: &'a str,
    /// The network key to store, sealed under `keys` inside the transaction.
    pub key: Option<&'a [u8]>,
    /// The server keys.
    pub keys: &'a ServerKeys,
    /// Whether the key may go to third-party clients.
    pub share_key: bool,
    /// Now.
    pub now: i64,
}

/// A registered network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRow {
    /// Its id.
    pub id: String,
    /// SHA-256 of its owner's token.
    pub owner_hash: Vec<u8>,
    /// Its SSID.
    pub ssid: String,
    /// The SSID that proved it.
    pub proven_ssid: String,
    /// Its MACs, sorted.
    pub macs: Vec<Mac>,
    /// The sealed key.
    pub key_sealed: Option<Vec<u8>>,
    /// Whether the key may be shared.
    pub share_key: bool,
}

/// Stored information to push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRow {
    /// Version, from 1.
    pub version: u64,
    /// JSON text.
    pub info: String,
    /// When set.
    pub updated_at: i64,
}

/// The hotspot tables in the server's database.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
}

impl Store {
    /// Opens the area on its own database file (the area on its own: tests, benchmarks).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::with_db(Db::open(path, &[])?)
    }

    /// Uses an open database (the server's, shared with the other areas), applying this area's
    /// migrations.
    pub fn with_db(db: Db) -> Result<Self, StoreError> {
        db.migrate(&[AREA])?;
        Ok(Self { db })
    }

    /// Whether the sharer token hash is one the server issued.
    pub fn sharer_known(&self, hash: &[u8; 32]) -> Result<bool, StoreError> {
        self.db.with_conn(|conn| {
            Ok(conn.query_row(
                "SELECT EXISTS(SELECT 1 FROM hotspot_sharers WHERE token_hash = ?1)",
                [&hash[..]],
                |r| r.get(0),
            )?)
        })
    }

    /// Records a new sharer and the start of a proof, atomically. Proofs that did not register a
    /// network and ended or expired more than [`PROOF_RETENTION`] seconds ago are removed on the way.
    pub fn insert_proof(&self, p: &NewProof<'_>, new_sharer: bool) -> Result<(), StoreError> {
        self.db.with_conn(|conn| {
            let bssids = serde_json::to_string(&p.bssids).map_err(|_| StoreError::Corrupt("bssid list"))?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "DELETE FROM hotspot_proofs WHERE state != 'completed'
                     AND COALESCE(ended_at, expires_at) < ?1",
                [p.created_at - PROOF_RETENTION],
            )?;
            if new_sharer {
                tx.execute(
                    "INSERT INTO hotspot_sharers (token_hash, created_at) VALUES (?1, ?2)",
                    params![&p.sharer_hash[..], p.created_at],
                )?;
            }
            tx.execute(
                "INSERT INTO hotspot_proofs (id, sharer_hash, first_ssid, bssids, rule, second, created_at,
                     expires_at, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'open')",
                params![
                    p.id,
                    &p.sharer_hash[..],
                    p.first_ssid,
                    bssids,
                    p.rule,
                    p.second,
                    p.created_at,
                    p.expires_at
                ],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    /// Ends a proof: checks it against the rules (same sharer, unused, unexpired, third identifier
    /// derived from the second, a BSSID in common with the start) and, when it holds, registers the
    /// network. A mismatch spends the proof; a wrong sharer or an expired proof does not change it.
    pub fn complete_proof(&self, c: &Completion<'_>) -> Result<Result<NetworkRow, ErrorCode>, StoreError> {
        self.db.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let row = tx
                .query_row(
                    "SELECT sharer_hash, first_ssid, bssids, second, expires_at, state FROM hotspot_proofs
                     WHERE id = ?1",
                    [c.proof_id],
                    |r| {
                        Ok((
                            r.get::<_, Vec<u8>>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, i64>(4)?,
                            r.get::<_, String>(5)?,
                        ))
                    },
                )
                .optional()?;
            let Some((sharer, first_ssid, start_bssids, second, expires_at, state)) = row else {
                return Ok(Err(ErrorCode::ProofUnknown));
            };
            // The sharer check comes first: someone else learns nothing about the proof's state.
            if sharer[..] != c.sharer_hash[..] {
                return Ok(Err(ErrorCode::WrongSharer));
            }
            if state != "open" {
                return Ok(Err(ErrorCode::ProofUsed));
            }
            if c.now > expires_at {
                return Ok(Err(ErrorCode::ProofExpired));
            }
            let start_bssids: Vec<Mac> =
                serde_json::from_str(&start_bssids).map_err(|_| StoreError::Corrupt("bssid list"))?;
            let verdict = if !rules::third_matches(&second, c.third) {
                Some(ErrorCode::SsidMismatch)
            } else if !c.bssids.iter().any(|m| start_bssids.contains(m)) {
                Some(ErrorCode::BssidMismatch)
            } else {
                None
            };
            if let Some(code) = verdict {
                tx.execute(
                    "UPDATE hotspot_proofs SET state = 'failed', outcome = ?2, ended_at = ?3 WHERE id = ?1",
                    params![c.proof_id, code.as_str(), c.now],
                )?;
                tx.commit()?;
                return Ok(Err(code));
            }

            // Register: reuse the owner's network that already holds one of these MACs, else a new one.
            let mut existing: Option<String> = None;
            for mac in c.bssids {
                existing = tx
                    .query_row(
                        "SELECT n.id FROM hotspot_macs m JOIN hotspot_networks n ON n.id = m.network_id
                         WHERE m.mac = ?1 AND n.owner_hash = ?2",
                        params![mac.to_string(), &c.sharer_hash[..]],
                        |r| r.get(0),
                    )
                    .optional()?;
                if existing.is_some() {
                    break;
                }
            }
            let network_id = existing.clone().unwrap_or_else(|| c.new_network_id.to_owned());
            let sealed = c.key.map(|k| c.keys.seal(&network_id, k)).transpose()?;
            if existing.is_some() {
                tx.execute(
                    "UPDATE hotspot_networks SET ssid = ?2, proven_ssid = ?3, proof_id = ?4, updated_at = ?5,
                         share_key = ?6, key_sealed = COALESCE(?7, key_sealed) WHERE id = ?1",
                    params![network_id, first_ssid, c.third, c.proof_id, c.now, c.share_key, sealed],
                )?;
            } else {
                tx.execute(
                    "INSERT INTO hotspot_networks (id, owner_hash, ssid, proven_ssid, key_sealed, share_key,
                         proof_id, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                    params![
                        network_id,
                        &c.sharer_hash[..],
                        first_ssid,
                        c.third,
                        sealed,
                        c.share_key,
                        c.proof_id,
                        c.now
                    ],
                )?;
            }
            // A BSSID belongs to whoever proved control of it last.
            for mac in c.bssids {
                tx.execute(
                    "INSERT INTO hotspot_macs (mac, network_id) VALUES (?1, ?2)
                     ON CONFLICT (mac) DO UPDATE SET network_id = excluded.network_id",
                    params![mac.to_string(), network_id],
                )?;
            }
            tx.execute(
                "UPDATE hotspot_proofs SET state = 'completed', outcome = ?2, ended_at = ?3 WHERE id = ?1",
                params![c.proof_id, network_id, c.now],
            )?;
            let row = network_row(&tx, &network_id)?.ok_or(StoreError::Corrupt("network"))?;
            tx.commit()?;
            Ok(Ok(row))
        })
    }

    /// One network.
    pub fn network(&self, id: &str) -> Result<Option<NetworkRow>, StoreError> {
        self.db.with_conn(|conn| network_row(conn, id))
    }

    /// Every network with at least one MAC, by id.
    pub fn networks_with_macs(&self) -> Result<Vec<NetworkRow>, StoreError> {
        self.db.with_conn(|conn| {
            let ids: Vec<String> = conn
                .prepare("SELECT DISTINCT network_id FROM hotspot_macs ORDER BY network_id")?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                out.extend(network_row(conn, &id)?);
            }
            Ok(out)
        })
    }

    /// Sets the information to push for a network, as its owner. Returns the new version.
    pub fn set_push(
        &self,
        network_id: &str,
        owner_hash: &[u8; 32],
        info: &str,
        now: i64,
    ) -> Result<Result<PushRow, ErrorCode>, StoreError> {
        self.db.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let owner: Option<Vec<u8>> = tx
                .query_row("SELECT owner_hash FROM hotspot_networks WHERE id = ?1", [network_id], |r| {
                    r.get(0)
                })
                .optional()?;
            match owner {
                None => return Ok(Err(ErrorCode::NetworkUnknown)),
                Some(o) if o[..] != owner_hash[..] => return Ok(Err(ErrorCode::NotOwner)),
                Some(_) => {}
            }
            let version: i64 = tx.query_row(
                "INSERT INTO hotspot_push (network_id, version, info, updated_at) VALUES (?1, 1, ?2, ?3)
                 ON CONFLICT (network_id) DO UPDATE SET version = version + 1, info = excluded.info,
                     updated_at = excluded.updated_at
                 RETURNING version",
                params![network_id, info, now],
                |r| r.get(0),
            )?;
            tx.commit()?;
            let version = u64::try_from(version).map_err(|_| StoreError::Corrupt("push version"))?;
            Ok(Ok(PushRow { version, info: info.to_owned(), updated_at: now }))
        })
    }

    /// The information to push for a network, if its owner set any.
    pub fn push(&self, network_id: &str) -> Result<Option<PushRow>, StoreError> {
        self.db.with_conn(|conn| {
            let row = conn
                .query_row(
                    "SELECT version, info, updated_at FROM hotspot_push WHERE network_id = ?1",
                    [network_id],
                    |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)),
                )
                .optional()?;
            row.map(|(v, info, updated_at)| {
                let version = u64::try_from(v).map_err(|_| StoreError::Corrupt("push version"))?;
                Ok(PushRow { version, info, updated_at })
            })
            .transpose()
        })
    }
}

fn network_row(conn: &Connection, id: &str) -> Result<Option<NetworkRow>, StoreError> {
    let row = conn
        .query_row(
            "SELECT owner_hash, ssid, proven_ssid, key_sealed, share_key FROM hotspot_networks WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<Vec<u8>>>(3)?,
                    r.get::<_, bool>(4)?,
                ))
            },
        )
        .optional()?;
    let Some((owner_hash, ssid, proven_ssid, key_sealed, share_key)) = row else {
        return Ok(None);
    };
    let macs: Vec<String> = conn
        .prepare("SELECT mac FROM hotspot_macs WHERE network_id = ?1 ORDER BY mac")?
        .query_map([id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let macs = macs
        .iter()
        .map(|m| m.parse::<Mac>().map_err(|_| StoreError::Corrupt("MAC")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(NetworkRow { id: id.to_owned(), owner_hash, ssid, proven_ssid, macs, key_sealed, share_key }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cardgate.db");
        drop(Store::open(&path).unwrap());
        // A second open applies nothing (the CREATE TABLEs would fail otherwise).
        let st = Store::open(&path).unwrap();
        let n: i64 = st.db.with_conn(|c| {
            c.query_row("SELECT COUNT(*) FROM schema_migrations WHERE area = 'hotspot'", [], |r| r.get(0))
                .unwrap()
        });
        assert_eq!(n, MIGRATIONS.len() as i64);
    }

    #[test]
    fn old_unsuccessful_proofs_are_purged_completed_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let st = Store::open(&dir.path().join("db")).unwrap();
        let keys = ServerKeys::from_secret(&[1; 32]).unwrap();
        let macs = ["02:00:00:00:00:01".parse::<Mac>().unwrap()];
        let new = |id: &'static str, at: i64| NewProof {
            id,
            sharer_hash: &[9; 32],
            first_ssid: "Shop",
            bssids: &macs,
            rule: "hash",
            second: "CG-AAAAAAAAAAAAA",
            created_at: at,
            expires_at: at + 600,
        };
        st.insert_proof(&new("stale", 0), true).unwrap();
        st.insert_proof(&new("done", 0), false).unwrap();
        let done = Completion {
            proof_id: "done",
            sharer_hash: &[9; 32],
            third: "CG-AAAAAAAAAAAAA",
            bssids: &macs,
            new_network_id: "n1",
            key: None,
            keys: &keys,
            share_key: false,
            now: 10,
        };
        assert!(st.complete_proof(&done).unwrap().is_ok());
        st.insert_proof(&new("fresh", 601 + PROOF_RETENTION), false).unwrap();
        let ids: Vec<String> = st.db.with_conn(|c| {
            c.prepare("SELECT id FROM hotspot_proofs ORDER BY id")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        });
        assert_eq!(ids, ["done", "fresh"], "the expired open proof is gone one retention later");
    }
}
