//! The card state file, and [`FileCard`]: a [`Card`] kept in one, saved before each answer.
//!
//! # Format (version 1)
//! ```text
//! "CARDGATE"        8 bytes, magic
//! version           2 bytes, big-endian (1)
//! body length       4 bytes, big-endian
//! body              BER-TLV (below)
//! SHA-256           32 bytes, over everything before it
//! ```
//! The body, in this order:
//! ```text
//! E0 card         { 80 name (ASCII), 81 quota (4 bytes), 82 next instance number (2 bytes),
//!                   83 default applet AID (optional) }
//! E1 instance ... { 80 instance number (2), 81 class name (ASCII), 82 AID }
//! E2 object   ... { 80 owner (2), 81 id (2), 82 flags (1: bit 0 secret), 83 data }
//! ```
//! Reading is strict: a wrong magic, version, length or checksum, an unknown or missing field,
//! or an applet class this build does not include is an error that names the problem. Volatile
//! state (power, channels, sessions) is not saved: a loaded card powers up fresh. New kinds of
//! persistent data (a policy, its counters) need no format change: they are objects of the
//! runtime's owner [`SYSTEM`](crate::store::SYSTEM).
//!
//! # Saving (`kill -9` at any instant)
//! [`FileCard`] writes the whole state to a temporary file in the same directory, `fsync`s it,
//! renames it over the state file and `fsync`s the directory, **before** the response leaves the
//! card. A crash before the rename leaves the previous state, after it the new one: the file always
//! holds the state as of the last answered command (or of the one being answered). Nothing is
//! written when a command changed nothing.
//!
//! # Locking
//! While a process has a card open it holds an advisory lock (`flock`) on `.NAME.lock` beside the
//! state file (not on the state file itself, which is replaced at every save), with its process id
//! and program name written in it (with the subcommand, never the arguments, which may hold a PIN),
//! so a second process is refused with a message naming the first.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use aws_lc_rs::digest;
use policies::Aid;
use zeroize::Zeroizing;

use crate::applet::Catalog;
use crate::runtime::{Card, CardConfig, Instance};
use crate::store::ObjectKey;
use crate::tlv::{self, Tag};

/// The first bytes of every card state file.
pub const MAGIC: &[u8; 8] = b"CARDGATE";
/// The format version this build writes and reads.
pub const VERSION: u16 = 1;
const HEADER: usize = 8 + 2 + 4;
const CHECKSUM: usize = 32;

const CARD: Tag = Tag(0xE0);
const INSTANCE: Tag = Tag(0xE1);
const OBJECT: Tag = Tag(0xE2);

/// Why bytes are not a card state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// Not a card state file at all.
    #[error("not a cardgate card state (no CARDGATE header)")]
    NotACard,
    /// Written by another version of the format.
    #[error("card state format version {0} (this cardgate reads version {VERSION})")]
    Version(u16),
    /// Shorter or longer than its header says.
    #[error("truncated or padded: the header announces {expected} bytes, the file has {actual}")]
    Length {
        /// Bytes the header announces.
        expected: usize,
        /// Bytes there are.
        actual: usize,
    },
    /// The checksum does not match: the file was damaged.
    #[error("checksum mismatch: the file is damaged")]
    Checksum,
    /// The body is not what this version writes.
    #[error("malformed: {0}")]
    Malformed(String),
    /// The card has an applet this build does not include.
    #[error("the card has an applet of class {0:?}, which this cardgate does not include")]
    UnknownClass(String),
}

/// Why a card state file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// There is no file.
    #[error("no card at {}: create one with `cardgate card init {}`", .0.display(), .0.display())]
    Missing(PathBuf),
    /// `create` would overwrite a file.
    #[error("{} already exists; a card state is never overwritten (remove it first)", .0.display())]
    Exists(PathBuf),
    /// Reading or writing failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file is not a usable card state; it has not been changed.
    #[error("{} is not a usable card state ({source}); it was left as it is", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: FormatError,
    },
    /// Another process has the card open.
    #[error("{} is in use by another process ({holder})", path.display())]
    Locked {
        /// The file.
        path: PathBuf,
        /// What the lock file says about its holder.
        holder: String,
    },
    /// The path (or the lock file beside it) is a symbolic link, a directory or another non-file:
    /// refused, so that a link planted beside a card never redirects a write elsewhere.
    #[error("{} is {what}; card state is read and written only as regular files (give the real path)", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is instead.
        what: &'static str,
    },
    /// An earlier save failed, so the card in memory is ahead of the file; it answers no more.
    #[error("{}: an earlier save failed ({why}); reopen the card", path.display())]
    Poisoned {
        /// The file.
        path: PathBuf,
        /// The earlier failure.
        why: String,
    },
}

/// Bytes of a primitive object with a one-byte tag.
fn primitive_size(len: usize) -> usize {
    1 + len_size(len) + len
}

/// Bytes of a BER length field (X.690 §8.1.3, as `tlv::write_len` writes it).
fn len_size(len: usize) -> usize {
    match len {
        0..=0x7F => 1,
        0x80..=0xFF => 2,
        0x100..=0xFFFF => 3,
        0x1_0000..=0xFF_FFFF => 4,
        _ => 5,
    }
}

fn template_size(children: &[(u8, &[u8])]) -> usize {
    let inner: usize = children.iter().map(|(_, v)| primitive_size(v.len())).sum();
    1 + len_size(inner) + inner
}

/// Writes a one-byte-tag template of one-byte-tag primitives straight into `out`.
fn write_template(out: &mut Vec<u8>, tag: Tag, children: &[(u8, &[u8])]) {
    let inner: usize = children.iter().map(|(_, v)| primitive_size(v.len())).sum();
    tag.write(out);
    tlv::write_len(inner, out);
    for (t, v) in children {
        out.push(*t);
        tlv::write_len(v.len(), out);
        out.extend_from_slice(v);
    }
}

fn malformed(what: impl Into<String>) -> FormatError {
    FormatError::Malformed(what.into())
}

fn u16_field(v: &[u8], what: &str) -> Result<u16, FormatError> {
    <[u8; 2]>::try_from(v).map(u16::from_be_bytes).map_err(|_| malformed(format!("{what} is not 2 bytes")))
}

/// Fields of one template, each allowed once, none unknown.
fn fields<'a, const N: usize>(
    value: &'a [u8],
    tags: [u8; N],
    what: &str,
) -> Result<[Option<&'a [u8]>; N], FormatError> {
    let mut out = [None; N];
    for item in tlv::iter(value) {
        let item = item.map_err(|e| malformed(format!("{what}: {e}")))?;
        let i = tags
            .iter()
            .position(|&t| Tag(u32::from(t)) == item.tag)
            .ok_or_else(|| malformed(format!("{what}: unknown field {}", item.tag)))?;
        if out[i].replace(item.value).is_some() {
            return Err(malformed(format!("{what}: field {} twice", item.tag)));
        }
    }
    Ok(out)
}

fn required<'a>(v: Option<&'a [u8]>, what: &str) -> Result<&'a [u8], FormatError> {
    v.ok_or_else(|| malformed(format!("{what} is missing")))
}

fn ascii(v: &[u8], what: &str) -> Result<String, FormatError> {
    std::str::from_utf8(v)
        .ok()
        .filter(|s| s.is_ascii())
        .map(str::to_owned)
        .ok_or_else(|| malformed(format!("{what} is not ASCII")))
}

impl Card {
    /// The card's persistent state in the state file format. The card must be between commands
    /// (no transaction open), which it always is outside [`Card::process`]. The bytes include
    /// PINs and keys: they are zeroised when dropped, and written into one buffer (no copies left
    /// behind in intermediate ones).
    pub fn to_state_bytes(&self) -> Zeroizing<Vec<u8>> {
        let quota = (self.config.quota as u32).to_be_bytes();
        let next = self.next_owner.to_be_bytes();
        let default = self.config.default_applet;
        let mut card: Vec<(u8, &[u8])> =
            vec![(0x80, self.config.name.as_bytes()), (0x81, &quota), (0x82, &next)];
        if let Some(aid) = &default {
            card.push((0x83, aid.as_bytes()));
        }
        let instances: Vec<([u8; 2], &Instance)> =
            self.instances.iter().map(|i| (i.owner.to_be_bytes(), i)).collect();
        let objects: Vec<_> = self
            .store
            .entries()
            .map(|(k, data, secret)| (k.owner.to_be_bytes(), k.id.to_be_bytes(), [u8::from(secret)], data))
            .collect();
        let mut body_len = template_size(&card);
        for (owner, inst) in &instances {
            body_len += template_size(&[
                (0x80, owner),
                (0x81, inst.class.name.as_bytes()),
                (0x82, inst.aid.as_bytes()),
            ]);
        }
        for (owner, id, flags, data) in &objects {
            body_len += template_size(&[(0x80, owner), (0x81, id), (0x82, flags), (0x83, data)]);
        }
        let mut out = Zeroizing::new(Vec::with_capacity(HEADER + body_len + CHECKSUM));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.extend_from_slice(&(body_len as u32).to_be_bytes());
        write_template(&mut out, CARD, &card);
        for (owner, inst) in &instances {
            write_template(
                &mut out,
                INSTANCE,
                &[(0x80, owner), (0x81, inst.class.name.as_bytes()), (0x82, inst.aid.as_bytes())],
            );
        }
        for (owner, id, flags, data) in &objects {
            write_template(&mut out, OBJECT, &[(0x80, owner), (0x81, id), (0x82, flags), (0x83, data)]);
        }
        let sum = digest::digest(&digest::SHA256, &out);
        out.extend_from_slice(sum.as_ref());
        out
    }

    /// A card from state file bytes, powered off, with the applet classes of `catalog`.
    pub fn from_state_bytes(bytes: &[u8], catalog: Catalog) -> Result<Card, FormatError> {
        if bytes.len() < HEADER || &bytes[..8] != MAGIC {
            return Err(FormatError::NotACard);
        }
        let version = u16::from_be_bytes([bytes[8], bytes[9]]);
        if version != VERSION {
            return Err(FormatError::Version(version));
        }
        let body_len = u32::from_be_bytes([bytes[10], bytes[11], bytes[12], bytes[13]]) as usize;
        let expected = HEADER + body_len + CHECKSUM;
        if bytes.len() != expected {
            return Err(FormatError::Length { expected, actual: bytes.len() });
        }
        let (content, sum) = bytes.split_at(HEADER + body_len);
        if digest::digest(&digest::SHA256, content).as_ref() != sum {
            return Err(FormatError::Checksum);
        }
        let body = &content[HEADER..];
        let mut items = tlv::iter(body);
        let card = match items.next() {
            Some(Ok(t)) if t.tag == CARD => t.value,
            _ => return Err(malformed("the card template (E0) must come first")),
        };
        let [name, quota, next_owner, default] = fields(card, [0x80, 0x81, 0x82, 0x83], "card")?;
        let name = ascii(required(name, "card name")?, "card name")?;
        let quota: [u8; 4] =
            required(quota, "quota")?.try_into().map_err(|_| malformed("quota is not 4 bytes"))?;
        let default =
            default.map(Aid::new).transpose().map_err(|e| malformed(format!("default applet: {e}")))?;
        let config = CardConfig { name, quota: u32::from_be_bytes(quota) as usize, default_applet: None };
        let mut out = Card::new(config, catalog).map_err(|e| malformed(e.to_string()))?;
        out.next_owner = u16_field(required(next_owner, "next instance number")?, "next instance number")?;
        for item in items {
            let item = item.map_err(|e| malformed(e.to_string()))?;
            match item.tag {
                INSTANCE => {
                    let [owner, class, aid] = fields(item.value, [0x80, 0x81, 0x82], "instance")?;
                    let owner = u16_field(required(owner, "instance number")?, "instance number")?;
                    let class = ascii(required(class, "class")?, "class")?;
                    let aid = Aid::new(required(aid, "AID")?)
                        .map_err(|e| malformed(format!("instance AID: {e}")))?;
                    if owner == 0
                        || owner >= out.next_owner
                        || out.instances.iter().any(|i| i.owner == owner || i.aid == aid)
                    {
                        return Err(malformed(format!(
                            "instance {aid} has a duplicate or impossible number"
                        )));
                    }
                    let class = *out.catalog.get(&class).ok_or(FormatError::UnknownClass(class))?;
                    out.restore_instance(class, aid, owner);
                }
                OBJECT => {
                    let [owner, id, flags, data] = fields(item.value, [0x80, 0x81, 0x82, 0x83], "object")?;
                    let key = ObjectKey {
                        owner: u16_field(required(owner, "object owner")?, "object owner")?,
                        id: u16_field(required(id, "object id")?, "object id")?,
                    };
                    let secret = match required(flags, "object flags")? {
                        [0] => false,
                        [1] => true,
                        _ => return Err(malformed("object flags")),
                    };
                    if out.store.read(key).is_some() {
                        return Err(malformed("an object appears twice"));
                    }
                    out.store.load(key, required(data, "object data")?, secret);
                }
                other => return Err(malformed(format!("unknown template {other}"))),
            }
        }
        out.set_default_applet(default).map_err(|e| malformed(format!("default applet: {e}")))?;
        Ok(out)
    }
}

/// A card kept in a state file: loaded at [`open`](FileCard::open), saved before each answer
/// that follows a change, locked against other processes while open. This is what the vpcd bridge
/// (`cardgate card serve`) and the in-process transport (`-r emu:PATH`) serve.
pub struct FileCard {
    card: Card,
    path: PathBuf,
    _lock: File,
    saved: Zeroizing<Vec<u8>>,
    saved_generation: u64,
    poisoned: Option<String>,
}

impl std::fmt::Debug for FileCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileCard").field("path", &self.path).field("card", &self.card).finish()
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io { path: path.to_path_buf(), source }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{suffix}"))
}

/// Refuses a path that exists and is not a regular file (a symbolic link, even to a regular file, a
/// directory, a device): nothing is read through a link and nothing is written beside a directory.
fn check_regular(path: &Path) -> Result<(), StateError> {
    let Ok(meta) = fs::symlink_metadata(path) else { return Ok(()) };
    let kind = meta.file_type();
    let what = if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_dir() {
        "a directory"
    } else if !kind.is_file() {
        "not a regular file"
    } else {
        return Ok(());
    };
    Err(StateError::NotAFile { path: path.to_path_buf(), what })
}

/// Takes the card's lock, or says who holds it.
fn lock(path: &Path) -> Result<File, StateError> {
    check_regular(path)?;
    let lock_path = sibling(path, "lock");
    check_regular(&lock_path)?;
    // O_NOFOLLOW: a link swapped in after the check is refused by the kernel, not followed.
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&lock_path)
        .map_err(io_err(&lock_path))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let holder = if holder.is_empty() { "unknown process".to_string() } else { holder.to_string() };
            return Err(StateError::Locked { path: path.to_path_buf(), holder });
        }
        Err(fs::TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
    }
    let note = format!("pid {} ({})\n", std::process::id(), who_am_i());
    file.set_len(0).and_then(|()| file.write_all(note.as_bytes())).map_err(io_err(&lock_path))?;
    Ok(file)
}

/// The program and its subcommand words (`cardgate card serve`), for the lock file. Arguments are
/// left out: they may hold a PIN or APDUs.
fn who_am_i() -> String {
    let mut args = std::env::args();
    let program = args.next().unwrap_or_default();
    let program =
        Path::new(&program).file_name().map_or(program.clone(), |n| n.to_string_lossy().into_owned());
    let words = args
        .take_while(|a| {
            !a.is_empty() && a.chars().all(|c| c.is_ascii_lowercase() || c == '-') && !a.starts_with('-')
        })
        .take(3);
    std::iter::once(program).chain(words).collect::<Vec<_>>().join(" ")
}

/// Replaces `path` with `bytes` atomically and durably: temporary file, fsync, rename, fsync dir.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = sibling(path, "tmp");
    // A leftover (or planted) temporary file or link is removed, never written through: create_new is
    // O_EXCL, which fails on an existing link instead of following it.
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    {
        let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

impl FileCard {
    /// Writes `card` to a new state file at `path` and keeps it open. Refuses to overwrite.
    pub fn create(path: &Path, card: Card) -> Result<FileCard, StateError> {
        let lock = lock(path)?;
        if path.exists() {
            return Err(StateError::Exists(path.to_path_buf()));
        }
        let mut fc = FileCard {
            saved_generation: card.generation(),
            card,
            path: path.to_path_buf(),
            _lock: lock,
            saved: Zeroizing::new(Vec::new()),
            poisoned: None,
        };
        let bytes = fc.card.to_state_bytes();
        write_atomic(path, &bytes).map_err(io_err(path))?;
        fc.saved = bytes;
        Ok(fc)
    }

    /// Opens the card at `path` (locking it) with the applet classes of `catalog`. The card is
    /// powered off; the first command powers it up.
    pub fn open(path: &Path, catalog: Catalog) -> Result<FileCard, StateError> {
        let lock = lock(path)?;
        let bytes = match fs::read(path) {
            Ok(b) => Zeroizing::new(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StateError::Missing(path.to_path_buf()));
            }
            Err(e) => return Err(io_err(path)(e)),
        };
        let card = Card::from_state_bytes(&bytes, catalog)
            .map_err(|source| StateError::Format { path: path.to_path_buf(), source })?;
        if card.is_insecure_test_card() {
            tracing::warn!(
                "{} is an INSECURE TEST CARD: its random numbers and keys come from a seeded DRBG \
                 (card init --insecure-seed); never use it for anything real",
                path.display()
            );
        }
        // The gate loads the stored policy by itself at the first command; say what it will find.
        match card.policy() {
            Ok(Some(policy)) => {
                let names: Vec<&str> = policy.services().iter().map(|s| s.name()).collect();
                tracing::info!("the card enforces its policy: {}", names.join(", "));
            }
            Ok(None) => {}
            Err(e) => tracing::error!(
                "the card's stored policy has a problem (`cardgate card show` tells more): {e}"
            ),
        }
        Ok(FileCard {
            saved_generation: card.generation(),
            card,
            path: path.to_path_buf(),
            _lock: lock,
            saved: bytes,
            poisoned: None,
        })
    }

    /// Reads the card at `path` without locking it (for `cardgate card show`): saves are atomic
    /// renames, so the file read is always a complete state.
    pub fn read(path: &Path, catalog: Catalog) -> Result<Card, StateError> {
        let bytes = match fs::read(path) {
            Ok(b) => Zeroizing::new(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StateError::Missing(path.to_path_buf()));
            }
            Err(e) => return Err(io_err(path)(e)),
        };
        Card::from_state_bytes(&bytes, catalog)
            .map_err(|source| StateError::Format { path: path.to_path_buf(), source })
    }

    /// The state file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The card.
    pub fn card(&self) -> &Card {
        &self.card
    }

    /// The card, to power it, reset it, install applets or set a gate. After changing persistent
    /// state through it outside [`process`](FileCard::process), call
    /// [`save_if_changed`](FileCard::save_if_changed).
    pub fn card_mut(&mut self) -> &mut Card {
        &mut self.card
    }

    /// Processes one command and saves the card if its persistent state changed, before returning
    /// the response. If the save fails the response is withheld, the error returned, and the card
    /// refuses every later command (it is ahead of its file).
    pub fn process_into(&mut self, apdu: &[u8], out: &mut Vec<u8>) -> Result<(), StateError> {
        if let Some(why) = &self.poisoned {
            out.clear();
            return Err(StateError::Poisoned { path: self.path.clone(), why: why.clone() });
        }
        self.card.process_into(apdu, out);
        if let Err(e) = self.save_if_changed() {
            self.poisoned = Some(e.to_string());
            out.clear();
            return Err(e);
        }
        Ok(())
    }

    /// Like [`process_into`](FileCard::process_into), returning a new vector.
    pub fn process(&mut self, apdu: &[u8]) -> Result<Vec<u8>, StateError> {
        let mut out = Vec::new();
        self.process_into(apdu, &mut out)?;
        Ok(out)
    }

    /// Writes the state file if persistent state changed since the last save. Returns whether it
    /// wrote.
    pub fn save_if_changed(&mut self) -> Result<bool, StateError> {
        if self.card.generation() == self.saved_generation {
            return Ok(false);
        }
        self.saved_generation = self.card.generation();
        let bytes = self.card.to_state_bytes();
        if bytes == self.saved {
            // Changed and changed back (an aborted transaction): nothing to write.
            return Ok(false);
        }
        write_atomic(&self.path, &bytes).map_err(io_err(&self.path))?;
        self.saved = bytes;
        Ok(true)
    }
}
