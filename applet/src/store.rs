//! Persistent memory: the card's non-volatile objects, a quota, real transactions with an undo log,
//! and a tear hook that cuts power at the Nth write.
//!
//! # Model
//! Persistent memory is a set of byte-string *objects*, each named by an [`ObjectKey`]: the owner
//! (an applet instance, or [`SYSTEM`] for the runtime's own data such as a policy and its
//! counters) and a 16-bit id the owner chooses. Writing an object is atomic: after a power loss it
//! holds either the old or the new value, never a mix (Java Card's `Util.arrayCopy` guarantee,
//! JCRE 3.0.5 §7.1).
//!
//! # Transactions (JCRE 3.0.5 §7)
//! Between [`Store::begin`] and [`Store::commit`] every write is *conditional*: before an object is
//! first changed in a transaction its old value goes to an undo log, and [`Store::abort`] (or power
//! loss, see [`Store::recover`]) puts the old values back. A transaction may be opened by the
//! runtime around a service, and the applet may open its own inside it; each level commits or
//! rolls back on its own, and only the outermost commit makes the changes final. The undo log has
//! a finite capacity, like a card's commit buffer: a transaction that outgrows it fails with
//! [`StoreError::BufferFull`].
//!
//! Writes made with [`Store::write_non_atomic`] never take part in a transaction: they stay even
//! when the transaction around them is rolled back. PIN try counters use them, so that no abort
//! and no tear can give back a try (Java Card `OwnerPIN`, and `Util.arrayCopyNonAtomic`).
//!
//! # Tearing
//! Every write, and every commit, is one *write event*. [`Store::tear_after`] arms the hook: the
//! Nth write event from now does not happen, power is lost, and every later write is dropped, as
//! when a card leaves the field. The runtime then discards the command's response, and the next
//! power-up calls [`Store::recover`], which rolls back any open transaction.
//!
//! Secrets: object bytes are zeroised when an object is overwritten with another length, removed
//! or dropped, and undo-log copies are zeroised when the log is cleared.

use std::collections::BTreeMap;

use zeroize::Zeroize;

use crate::sw::{self, Sw};

/// Who owns an object: an applet instance's number, or [`SYSTEM`].
pub type Owner = u16;

/// The runtime's own objects (a policy, its velocity counters, ...): owner number 0.
pub const SYSTEM: Owner = 0;

/// Bytes charged against the quota for each object on top of its data, as a card charges for an
/// object header.
pub const OBJECT_OVERHEAD: usize = 8;

/// Default capacity of the undo log (bytes of old values one transaction may save).
pub const DEFAULT_UNDO_CAPACITY: usize = 32 * 1024;

/// The name of a persistent object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// The owner: an applet instance, or [`SYSTEM`].
    pub owner: Owner,
    /// The owner's own number for the object.
    pub id: u16,
}

/// Why a persistent-memory operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The write would exceed the card's memory quota.
    #[error("not enough persistent memory: {needed} bytes needed, {available} available")]
    Quota {
        /// Bytes the write needs beyond what the object already holds.
        needed: usize,
        /// Bytes left under the quota.
        available: usize,
    },
    /// The transaction's undo log is full (Java Card `TransactionException.BUFFER_FULL`).
    #[error("the transaction's undo log is full")]
    BufferFull,
    /// The object does not exist.
    #[error("no such object")]
    NotFound,
    /// A partial write outside the object's bounds.
    #[error("write outside the object")]
    OutOfBounds,
    /// A transaction is already open at this level (Java Card `TransactionException.IN_PROGRESS`).
    #[error("a transaction is already in progress")]
    InProgress,
    /// No transaction is open at this level (Java Card `TransactionException.NOT_IN_PROGRESS`).
    #[error("no transaction in progress")]
    NotInProgress,
    /// Power was cut by the tear hook: nothing is written any more until the next power-up.
    #[error("power lost")]
    PowerLost,
}

impl StoreError {
    /// The status word a command fails with when this error ends it.
    pub fn sw(self) -> Sw {
        match self {
            StoreError::Quota { .. } | StoreError::BufferFull => sw::NOT_ENOUGH_MEMORY,
            StoreError::NotFound => sw::REFERENCED_DATA_NOT_FOUND,
            StoreError::OutOfBounds
            | StoreError::InProgress
            | StoreError::NotInProgress
            | StoreError::PowerLost => sw::UNKNOWN,
        }
    }
}

/// Who opened a transaction level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxOwner {
    /// The runtime, around a service (outermost level only).
    Runtime,
    /// An applet instance, through its context (one level per applet, as in Java Card).
    Applet(Owner),
}

struct Object {
    data: Vec<u8>,
    secret: bool,
    /// The id of the transaction level that last saved this object's old value (0: none).
    logged_at: u64,
}

impl Drop for Object {
    fn drop(&mut self) {
        self.data.zeroize();
    }
}

#[derive(Debug, Clone, Copy)]
enum OldValue {
    Absent,
    Present { start: usize, len: usize, secret: bool, logged_at: u64 },
}

#[derive(Debug, Clone, Copy)]
struct UndoEntry {
    key: ObjectKey,
    old: OldValue,
}

#[derive(Debug, Clone, Copy)]
struct Level {
    id: u64,
    owner: TxOwner,
    undo_mark: usize,
    arena_mark: usize,
}

/// The card's persistent memory. See the [module documentation](self).
pub struct Store {
    objects: BTreeMap<ObjectKey, Object>,
    quota: usize,
    used: usize,
    levels: Vec<Level>,
    next_level_id: u64,
    undo: Vec<UndoEntry>,
    /// Old values saved by the undo log, back to back.
    arena: Vec<u8>,
    undo_capacity: usize,
    writes: u64,
    tear_at: Option<u64>,
    torn: bool,
    generation: u64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Object contents are never printed: some are keys and PINs.
        f.debug_struct("Store")
            .field("objects", &self.objects.len())
            .field("used", &self.used)
            .field("quota", &self.quota)
            .field("transaction_depth", &self.levels.len())
            .field("writes", &self.writes)
            .field("torn", &self.torn)
            .finish()
    }
}

/// The cost of an object of `len` bytes against the quota.
pub const fn cost(len: usize) -> usize {
    len + OBJECT_OVERHEAD
}

impl Store {
    /// Empty memory with a quota in bytes (data plus [`OBJECT_OVERHEAD`] per object).
    pub fn new(quota: usize) -> Store {
        Store {
            objects: BTreeMap::new(),
            quota,
            used: 0,
            levels: Vec::new(),
            next_level_id: 1,
            undo: Vec::new(),
            arena: Vec::new(),
            undo_capacity: DEFAULT_UNDO_CAPACITY,
            writes: 0,
            tear_at: None,
            torn: false,
            generation: 0,
        }
    }

    /// The quota in bytes.
    pub fn quota(&self) -> usize {
        self.quota
    }
    /// Bytes charged against the quota.
    pub fn used(&self) -> usize {
        self.used
    }
    /// Bytes left under the quota.
    pub fn available(&self) -> usize {
        self.quota.saturating_sub(self.used)
    }
    /// Sets the undo log's capacity in bytes.
    pub fn set_undo_capacity(&mut self, bytes: usize) {
        self.undo_capacity = bytes;
    }

    /// An object's bytes.
    pub fn read(&self, key: ObjectKey) -> Option<&[u8]> {
        self.objects.get(&key).map(|o| o.data.as_slice())
    }

    /// Whether an object holds a secret (it is never shown by tools). `None` if absent.
    pub fn is_secret(&self, key: ObjectKey) -> Option<bool> {
        self.objects.get(&key).map(|o| o.secret)
    }

    /// Every object: key, length, whether secret. In key order.
    pub fn list(&self) -> impl Iterator<Item = (ObjectKey, usize, bool)> + '_ {
        self.objects.iter().map(|(k, o)| (*k, o.data.len(), o.secret))
    }

    /// Every object with its bytes, for the state file. In key order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (ObjectKey, &[u8], bool)> + '_ {
        self.objects.iter().map(|(k, o)| (*k, o.data.as_slice(), o.secret))
    }

    /// Puts an object loaded from the state file. Not a write event; no transaction may be open.
    pub(crate) fn load(&mut self, key: ObjectKey, data: &[u8], secret: bool) {
        let old = self.objects.insert(key, Object { data: data.to_vec(), secret, logged_at: 0 });
        self.used = self.used - old.map_or(0, |o| cost(o.data.len())) + cost(data.len());
    }

    /// Counts changes: it moves whenever persistent memory changes (including a rollback).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Write events so far (writes and commits).
    pub fn writes(&self) -> u64 {
        self.writes
    }

    /// Arms the tear hook: power is cut at the `n`th write event from now (1: the next one).
    /// `n = 0` disarms it.
    pub fn tear_after(&mut self, n: u64) {
        self.tear_at = (n > 0).then(|| self.writes + n);
    }

    /// Whether power has been cut by the tear hook since the last [`recover`](Store::recover).
    pub fn is_torn(&self) -> bool {
        self.torn
    }

    /// One write event: fails (and cuts power) if it is the one the tear hook waits for.
    fn tick(&mut self) -> Result<(), StoreError> {
        if self.torn {
            return Err(StoreError::PowerLost);
        }
        self.writes += 1;
        if self.tear_at == Some(self.writes) {
            self.tear_at = None;
            self.torn = true;
            return Err(StoreError::PowerLost);
        }
        Ok(())
    }

    fn check_quota(&self, key: ObjectKey, new_len: usize) -> Result<usize, StoreError> {
        let old_cost = self.objects.get(&key).map_or(0, |o| cost(o.data.len()));
        let new_used = self.used - old_cost + cost(new_len);
        if new_used > self.quota && new_used > self.used {
            return Err(StoreError::Quota { needed: new_used - self.used, available: self.available() });
        }
        Ok(new_used)
    }

    /// The undo-log bytes a first change of `key` in the current level would need, or `None` if
    /// no transaction is open or the object is already saved at this level.
    fn undo_need(&self, key: ObjectKey) -> Option<usize> {
        let level = self.levels.last()?;
        match self.objects.get(&key) {
            Some(o) if o.logged_at == level.id => None,
            Some(o) => Some(o.data.len()),
            None => Some(0),
        }
    }

    fn check_undo(&self, key: ObjectKey) -> Result<(), StoreError> {
        match self.undo_need(key) {
            Some(need) if self.arena.len() + need > self.undo_capacity => Err(StoreError::BufferFull),
            _ => Ok(()),
        }
    }

    /// Saves the old value of `key` if this is its first change in the current level.
    fn log(&mut self, key: ObjectKey) {
        let Some(level) = self.levels.last() else { return };
        let level_id = level.id;
        let old = match self.objects.get_mut(&key) {
            Some(o) if o.logged_at == level_id => return,
            Some(o) => {
                let start = self.arena.len();
                self.arena.extend_from_slice(&o.data);
                let old =
                    OldValue::Present { start, len: o.data.len(), secret: o.secret, logged_at: o.logged_at };
                o.logged_at = level_id;
                old
            }
            None => OldValue::Absent,
        };
        self.undo.push(UndoEntry { key, old });
    }

    fn current_level_id(&self) -> u64 {
        self.levels.last().map_or(0, |l| l.id)
    }

    fn put(&mut self, key: ObjectKey, data: &[u8], secret: bool, logged_at: u64) {
        match self.objects.get_mut(&key) {
            Some(o) => {
                self.used = self.used - cost(o.data.len()) + cost(data.len());
                if o.data.len() == data.len() {
                    o.data.copy_from_slice(data);
                } else {
                    o.data.zeroize();
                    o.data.extend_from_slice(data);
                }
                o.secret = secret;
                o.logged_at = logged_at.max(o.logged_at);
            }
            None => {
                self.used += cost(data.len());
                self.objects.insert(key, Object { data: data.to_vec(), secret, logged_at });
            }
        }
        self.generation += 1;
    }

    /// Replaces (or creates) an object. Atomic; conditional when a transaction is open.
    pub fn write(&mut self, key: ObjectKey, data: &[u8], secret: bool) -> Result<(), StoreError> {
        if self.torn {
            return Err(StoreError::PowerLost);
        }
        self.check_quota(key, data.len())?;
        self.check_undo(key)?;
        self.tick()?;
        self.log(key);
        let level = self.current_level_id();
        self.put(key, data, secret, level);
        Ok(())
    }

    /// Replaces (or creates) an object outside any transaction: the write stays even if the
    /// transaction around it is aborted (unless the same object was also changed conditionally in
    /// that transaction, in which case the abort restores its value from before the transaction).
    pub fn write_non_atomic(&mut self, key: ObjectKey, data: &[u8], secret: bool) -> Result<(), StoreError> {
        if self.torn {
            return Err(StoreError::PowerLost);
        }
        self.check_quota(key, data.len())?;
        self.tick()?;
        self.put(key, data, secret, 0);
        Ok(())
    }

    /// Overwrites `data.len()` bytes of an existing object from `offset`. Atomic; conditional
    /// when a transaction is open.
    pub fn update(&mut self, key: ObjectKey, offset: usize, data: &[u8]) -> Result<(), StoreError> {
        if self.torn {
            return Err(StoreError::PowerLost);
        }
        let len = self.objects.get(&key).ok_or(StoreError::NotFound)?.data.len();
        let end = offset.checked_add(data.len()).filter(|&e| e <= len).ok_or(StoreError::OutOfBounds)?;
        self.check_undo(key)?;
        self.tick()?;
        self.log(key);
        let level = self.current_level_id();
        if let Some(o) = self.objects.get_mut(&key) {
            o.data[offset..end].copy_from_slice(data);
            o.logged_at = o.logged_at.max(level);
        }
        self.generation += 1;
        Ok(())
    }

    /// Deletes an object. `Ok(false)` if there was none. Conditional when a transaction is open.
    pub fn remove(&mut self, key: ObjectKey) -> Result<bool, StoreError> {
        if self.torn {
            return Err(StoreError::PowerLost);
        }
        if !self.objects.contains_key(&key) {
            return Ok(false);
        }
        self.check_undo(key)?;
        self.tick()?;
        self.log(key);
        if let Some(o) = self.objects.remove(&key) {
            self.used -= cost(o.data.len());
        }
        self.generation += 1;
        Ok(true)
    }

    /// Deletes every object of an owner (an applet instance being deleted). Each object is one
    /// write event.
    pub fn remove_owner(&mut self, owner: Owner) -> Result<(), StoreError> {
        let keys: Vec<ObjectKey> = self
            .objects
            .range(ObjectKey { owner, id: 0 }..=ObjectKey { owner, id: u16::MAX })
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            self.remove(key)?;
        }
        Ok(())
    }

    /// Opens a transaction level. The runtime may open one only as the outermost level; each
    /// applet may have one level open at a time.
    pub fn begin(&mut self, owner: TxOwner) -> Result<(), StoreError> {
        let busy = match owner {
            TxOwner::Runtime => !self.levels.is_empty(),
            TxOwner::Applet(_) => self.levels.iter().any(|l| l.owner == owner),
        };
        if busy {
            return Err(StoreError::InProgress);
        }
        let id = self.next_level_id;
        self.next_level_id += 1;
        self.levels.push(Level { id, owner, undo_mark: self.undo.len(), arena_mark: self.arena.len() });
        Ok(())
    }

    /// Whether `owner` has a transaction level open.
    pub fn in_transaction(&self, owner: TxOwner) -> bool {
        self.levels.iter().any(|l| l.owner == owner)
    }

    /// Open transaction levels.
    pub fn depth(&self) -> usize {
        self.levels.len()
    }

    /// Closes the innermost level, which `owner` must have opened, keeping its changes. The
    /// outermost commit makes every change final. A commit is a write event (it can be torn).
    pub fn commit(&mut self, owner: TxOwner) -> Result<(), StoreError> {
        match self.levels.last() {
            Some(l) if l.owner == owner => {}
            _ => return Err(StoreError::NotInProgress),
        }
        self.tick()?;
        self.levels.pop();
        if self.levels.is_empty() {
            self.undo.clear();
            self.arena.as_mut_slice().zeroize();
            self.arena.clear();
        }
        Ok(())
    }

    /// Rolls back the innermost level, which `owner` must have opened.
    pub fn abort(&mut self, owner: TxOwner) -> Result<(), StoreError> {
        match self.levels.last() {
            Some(l) if l.owner == owner => {}
            _ => return Err(StoreError::NotInProgress),
        }
        self.rollback_top();
        Ok(())
    }

    /// Rolls back the innermost level unconditionally.
    fn rollback_top(&mut self) {
        let Some(level) = self.levels.pop() else { return };
        while self.undo.len() > level.undo_mark {
            let Some(entry) = self.undo.pop() else { break };
            match entry.old {
                OldValue::Absent => {
                    if let Some(o) = self.objects.remove(&entry.key) {
                        self.used -= cost(o.data.len());
                    }
                }
                OldValue::Present { start, len, secret, logged_at } => {
                    let bytes = std::mem::take(&mut self.arena);
                    self.put(entry.key, &bytes[start..start + len], secret, 0);
                    self.arena = bytes;
                    if let Some(o) = self.objects.get_mut(&entry.key) {
                        o.logged_at = logged_at;
                    }
                }
            }
            self.generation += 1;
        }
        self.arena[level.arena_mark..].zeroize();
        self.arena.truncate(level.arena_mark);
    }

    /// Rolls back the levels `owner` opened and every level inside them. Used by the runtime at the
    /// end of `process` (a transaction an applet left open is aborted, JCRE 3.0.5 §7.6).
    pub fn abort_all_of(&mut self, owner: TxOwner) {
        if let Some(pos) = self.levels.iter().position(|l| l.owner == owner) {
            while self.levels.len() > pos {
                self.rollback_top();
            }
        }
    }

    /// Power-up after power loss or reset: rolls back every open level, clears the torn state and
    /// disarms the tear hook (JCRE 3.0.5 §7.5).
    pub fn recover(&mut self) {
        while !self.levels.is_empty() {
            self.rollback_top();
        }
        self.torn = false;
        self.tear_at = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: ObjectKey = ObjectKey { owner: 1, id: 1 };
    const B: ObjectKey = ObjectKey { owner: 1, id: 2 };
    const APPLET: TxOwner = TxOwner::Applet(1);

    #[test]
    fn abort_restores_changed_created_and_removed_objects() {
        let mut s = Store::new(1000);
        s.write(A, b"old", false).unwrap();
        s.write(B, b"gone", false).unwrap();
        let used = s.used();
        s.begin(APPLET).unwrap();
        s.write(A, b"new value", false).unwrap();
        s.write(A, b"newer", false).unwrap();
        s.remove(B).unwrap();
        s.write(ObjectKey { owner: 1, id: 3 }, b"created", false).unwrap();
        s.abort(APPLET).unwrap();
        assert_eq!(s.read(A), Some(&b"old"[..]));
        assert_eq!(s.read(B), Some(&b"gone"[..]));
        assert_eq!(s.read(ObjectKey { owner: 1, id: 3 }), None);
        assert_eq!(s.used(), used, "quota accounting is rolled back too");
    }

    #[test]
    fn commit_keeps_changes_and_empties_the_log() {
        let mut s = Store::new(1000);
        s.begin(APPLET).unwrap();
        s.write(A, b"kept", false).unwrap();
        s.commit(APPLET).unwrap();
        assert_eq!(s.read(A), Some(&b"kept"[..]));
        assert_eq!(s.abort(APPLET), Err(StoreError::NotInProgress));
        assert!(s.undo.is_empty() && s.arena.is_empty());
    }

    #[test]
    fn nested_levels_roll_back_independently() {
        let mut s = Store::new(1000);
        s.write(A, b"0", false).unwrap();
        s.begin(TxOwner::Runtime).unwrap();
        s.write(A, b"1", false).unwrap();
        s.begin(APPLET).unwrap();
        s.write(A, b"2", false).unwrap();
        s.abort(APPLET).unwrap();
        assert_eq!(s.read(A), Some(&b"1"[..]), "the applet's abort undoes only its own level");
        s.begin(APPLET).unwrap();
        s.write(A, b"3", false).unwrap();
        s.commit(APPLET).unwrap();
        assert_eq!(s.read(A), Some(&b"3"[..]));
        s.abort(TxOwner::Runtime).unwrap();
        assert_eq!(s.read(A), Some(&b"0"[..]), "the outer abort undoes the committed inner level");
    }

    #[test]
    fn one_level_per_owner_and_runtime_only_outermost() {
        let mut s = Store::new(100);
        s.begin(APPLET).unwrap();
        assert_eq!(s.begin(APPLET), Err(StoreError::InProgress));
        assert_eq!(s.begin(TxOwner::Runtime), Err(StoreError::InProgress));
        assert_eq!(s.commit(TxOwner::Runtime), Err(StoreError::NotInProgress));
    }

    #[test]
    fn quota_refuses_growth_but_allows_shrinking() {
        let mut s = Store::new(cost(10) + cost(5));
        s.write(A, &[1; 10], false).unwrap();
        s.write(B, &[2; 5], false).unwrap();
        assert_eq!(s.available(), 0);
        assert_eq!(s.write(B, &[2; 6], false), Err(StoreError::Quota { needed: 1, available: 0 }));
        assert_eq!(s.read(B), Some(&[2u8; 5][..]), "a refused write changes nothing");
        s.write(A, &[1; 4], false).unwrap();
        assert_eq!(s.available(), 6);
    }

    #[test]
    fn undo_log_capacity_is_finite() {
        let mut s = Store::new(10_000);
        s.set_undo_capacity(8);
        s.write(A, &[0; 6], false).unwrap();
        s.write(B, &[0; 6], false).unwrap();
        s.begin(APPLET).unwrap();
        s.write(A, &[1; 6], false).unwrap();
        assert_eq!(s.write(B, &[1; 6], false), Err(StoreError::BufferFull));
        assert_eq!(s.read(B), Some(&[0u8; 6][..]));
    }

    #[test]
    fn non_atomic_writes_survive_abort() {
        let mut s = Store::new(100);
        s.write(A, &[3], false).unwrap();
        s.begin(APPLET).unwrap();
        s.write_non_atomic(A, &[2], false).unwrap();
        s.write(B, &[9], false).unwrap();
        s.abort(APPLET).unwrap();
        assert_eq!(s.read(A), Some(&[2u8][..]));
        assert_eq!(s.read(B), None);
    }

    #[test]
    fn tear_drops_the_nth_write_and_everything_after_until_recovery() {
        let mut s = Store::new(100);
        s.write(A, &[0], false).unwrap();
        s.begin(APPLET).unwrap();
        s.tear_after(2);
        s.write(A, &[1], false).unwrap();
        assert_eq!(s.write(B, &[1], false), Err(StoreError::PowerLost));
        assert!(s.is_torn());
        assert_eq!(s.write(B, &[1], false), Err(StoreError::PowerLost));
        assert_eq!(s.commit(APPLET), Err(StoreError::PowerLost));
        s.recover();
        assert_eq!(s.read(A), Some(&[0u8][..]), "the open transaction is rolled back at power-up");
        assert_eq!(s.read(B), None);
        assert!(!s.is_torn());
        s.write(B, &[1], false).unwrap();
    }

    #[test]
    fn tearing_the_commit_rolls_the_transaction_back() {
        let mut s = Store::new(100);
        s.write(A, &[0], false).unwrap();
        s.begin(APPLET).unwrap();
        s.write(A, &[1], false).unwrap();
        s.tear_after(1);
        assert_eq!(s.commit(APPLET), Err(StoreError::PowerLost));
        s.recover();
        assert_eq!(s.read(A), Some(&[0u8][..]));
    }

    #[test]
    fn partial_updates_are_bounded_and_transactional() {
        let mut s = Store::new(100);
        s.write(A, b"abcdef", false).unwrap();
        assert_eq!(s.update(A, 4, b"xyz"), Err(StoreError::OutOfBounds));
        assert_eq!(s.update(B, 0, b"x"), Err(StoreError::NotFound));
        s.begin(APPLET).unwrap();
        s.update(A, 1, b"XY").unwrap();
        assert_eq!(s.read(A), Some(&b"aXYdef"[..]));
        s.abort(APPLET).unwrap();
        assert_eq!(s.read(A), Some(&b"abcdef"[..]));
    }
}
