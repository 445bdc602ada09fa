//! What an applet implements ([`Applet`]), what it is given ([`Context`]), and how the card finds it
//! ([`AppletClass`], [`Catalog`]).
//!
//! # Writing an applet
//! ```
//! use applet::{Applet, Command, Context, Service, sw::{self, Sw}};
//!
//! /// Counts taps in persistent memory.
//! #[derive(Debug, Default)]
//! struct Tally;
//!
//! const COUNT: u16 = 1; // the applet's own object id
//!
//! impl Applet for Tally {
//!     fn install(&mut self, ctx: &mut Context<'_>, _params: &[u8]) -> Result<(), Sw> {
//!         ctx.write(COUNT, &0u32.to_be_bytes())
//!     }
//!
//!     fn process(&mut self, ctx: &mut Context<'_>, cmd: &Command<'_>, reply: &mut Vec<u8>) -> Result<(), Sw> {
//!         match cmd.ins() {
//!             0x01 => {
//!                 let n = ctx.read_u32(COUNT)? + 1;
//!                 ctx.write(COUNT, &n.to_be_bytes())?;
//!                 reply.extend_from_slice(&n.to_be_bytes());
//!                 Ok(())
//!             }
//!             _ => Err(sw::INS_NOT_SUPPORTED),
//!         }
//!     }
//!
//!     fn services(&self) -> &[Service] {
//!         // INS 01 is a service: the policy gate may refuse it, and it runs atomically.
//!         const SERVICES: &[Service] = &[Service::new("tally.tap", 0x01)];
//!         SERVICES
//!     }
//! }
//! ```
//! Register it in a [`Catalog`] as an [`AppletClass`], install an instance on a
//! [`Card`](crate::Card) under an AID, and it answers APDUs.
//!
//! # What the runtime guarantees an applet
//! - [`Applet::process`] sees complete commands: chained parts are joined, GET RESPONSE is handled,
//!   and SELECT by DF name and MANAGE CHANNEL never reach it. The status word is appended by the
//!   runtime: `Ok(())` is `9000`; `Err(sw)` sends `sw`, with the reply data only when `sw` is a
//!   warning (`62xx`, `63xx`) or an application status (`9xxx`).
//! - A transaction the applet leaves open when a method returns is aborted (JCRE 3.0.5 §7.6).
//! - A declared [`Service`] runs inside a transaction opened by the runtime: it is committed only
//!   when `process` returns `Ok(())`, and rolled back otherwise (no state change on failure).
//! - Memory classes:
//!   * [`Context::write`] and friends: persistent, saved with the card;
//!   * [`Context::transient`] with [`Clear::OnDeselect`], and PIN validation: per logical channel,
//!     cleared when the applet is deselected on that channel, and at reset (JCRE §5.1);
//!   * [`Context::transient`] with [`Clear::OnReset`], and the applet value's own fields: cleared at
//!     reset and power-off (the runtime creates a fresh value from [`AppletClass::create`]). Fields
//!     are shared by all channels the applet is selected on: keep security state out of them.
//! - A panic in an applet is caught: the command gets `6F00` and the card stays up.

use aws_lc_rs::agreement;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair};
use policies::Aid;
use zeroize::{Zeroize, Zeroizing};

use crate::apdu::Command;
use crate::drbg::{self, HmacDrbg};
use crate::key_cache::KeyCache;
use crate::store::{ObjectKey, Owner, Store, StoreError, TxOwner};
use crate::sw::{self, Sw};

/// A card application, in the manner of `javacard.framework.Applet`. See the
/// [module documentation](self) for an example and for what the runtime guarantees.
///
/// The value is volatile (cleared on reset): everything that must survive goes through the
/// [`Context`].
pub trait Applet: Send {
    /// Runs once, when the instance is installed, with its install parameters. Create persistent
    /// objects here. Runs in a transaction: an error leaves no trace and the install fails.
    fn install(&mut self, ctx: &mut Context<'_>, params: &[u8]) -> Result<(), Sw> {
        let _ = (ctx, params);
        Ok(())
    }

    /// The applet is being selected on `ctx.channel()`. Write the proprietary part of the FCI
    /// (the contents of template `A5`, ISO 7816-4 §7.4.1) into `fci`, or nothing. An error refuses
    /// the selection and is the status word of the SELECT.
    fn select(&mut self, ctx: &mut Context<'_>, fci: &mut Vec<u8>) -> Result<(), Sw> {
        let _ = (ctx, fci);
        Ok(())
    }

    /// The applet is being deselected on `ctx.channel()` (another SELECT, MANAGE CHANNEL CLOSE).
    /// Not called on reset or power loss. The channel's transient memory and PIN validation are
    /// cleared by the runtime after this returns.
    fn deselect(&mut self, ctx: &mut Context<'_>) {
        let _ = ctx;
    }

    /// Processes a complete command. Append response data to `reply`.
    fn process(&mut self, ctx: &mut Context<'_>, cmd: &Command<'_>, reply: &mut Vec<u8>) -> Result<(), Sw>;

    /// The instructions that are *services*: named operations the card's policy may bind security
    /// parameters to, and which run atomically. Empty by default.
    fn services(&self) -> &[Service] {
        &[]
    }

    /// Whether the applet may be selected on several logical channels at once
    /// (Java Card `MultiSelectable`). No by default.
    fn multi_selectable(&self) -> bool {
        false
    }
}

/// A named operation of an applet: the instruction (and optionally P1, P2) that starts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// A stable name, used by policy files (`"wallet.pay"`).
    pub name: &'static str,
    /// The instruction byte.
    pub ins: u8,
    /// P1, if the service is only this P1 of the instruction.
    pub p1: Option<u8>,
    /// P2, if the service is only this P2 of the instruction.
    pub p2: Option<u8>,
}

impl Service {
    /// A service started by `ins` with any P1 and P2.
    pub const fn new(name: &'static str, ins: u8) -> Service {
        Service { name, ins, p1: None, p2: None }
    }
    /// The same service, restricted to one P1.
    pub const fn with_p1(self, p1: u8) -> Service {
        Service { p1: Some(p1), ..self }
    }
    /// The same service, restricted to one P2.
    pub const fn with_p2(self, p2: u8) -> Service {
        Service { p2: Some(p2), ..self }
    }
    /// Whether `cmd` starts this service.
    pub fn matches(&self, cmd: &Command<'_>) -> bool {
        self.ins == cmd.ins()
            && self.p1.is_none_or(|p| p == cmd.p1())
            && self.p2.is_none_or(|p| p == cmd.p2())
    }
}

/// An applet class: how to make a fresh value of an applet (the Java Card "load file").
#[derive(Clone, Copy)]
pub struct AppletClass {
    /// A stable name, stored in the card state file for each instance (`"diag"`).
    pub name: &'static str,
    /// One line for people (`cardgate card show`).
    pub about: &'static str,
    /// Makes the applet's volatile value: at install, and at every power-up.
    pub create: fn() -> Box<dyn Applet>,
}

impl std::fmt::Debug for AppletClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppletClass").field("name", &self.name).finish()
    }
}

/// The applet classes a card can instantiate, by name.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    classes: Vec<AppletClass>,
}

impl Catalog {
    /// An empty catalog.
    pub fn new() -> Catalog {
        Catalog::default()
    }
    /// The catalog with one more class (a class of the same name is replaced).
    pub fn with(mut self, class: AppletClass) -> Catalog {
        self.classes.retain(|c| c.name != class.name);
        self.classes.push(class);
        self
    }
    /// The class named `name`.
    pub fn get(&self, name: &str) -> Option<&AppletClass> {
        self.classes.iter().find(|c| c.name == name)
    }
    /// All classes, in the order they were added.
    pub fn classes(&self) -> &[AppletClass] {
        &self.classes
    }
}

/// When transient memory is cleared (Java Card `JCSystem.CLEAR_ON_RESET` / `CLEAR_ON_DESELECT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clear {
    /// At reset and power-off. One area per applet instance, shared by its channels.
    OnReset,
    /// When the applet is deselected on the channel, and at reset. One area per channel.
    OnDeselect,
}

/// Most transient bytes one area set (an instance's or a channel's) may hold.
pub const TRANSIENT_LIMIT: usize = 16 * 1024;

/// Transient memory areas, zeroised when cleared or dropped.
#[derive(Default)]
pub(crate) struct Transient {
    areas: Vec<(u16, Vec<u8>)>,
}

impl Transient {
    fn area(&mut self, id: u16, len: usize) -> Result<&mut [u8], Sw> {
        let idx = match self.areas.iter().position(|(i, _)| *i == id) {
            Some(idx) => idx,
            None => {
                let total: usize = self.areas.iter().map(|(_, a)| a.len()).sum();
                if total + len > TRANSIENT_LIMIT {
                    return Err(sw::NOT_ENOUGH_MEMORY);
                }
                self.areas.push((id, vec![0; len]));
                self.areas.len() - 1
            }
        };
        let area = &mut self.areas[idx].1;
        if area.len() != len {
            // An area keeps the length it was made with, as a Java Card transient array does.
            return Err(sw::UNKNOWN);
        }
        Ok(area.as_mut_slice())
    }

    pub(crate) fn clear(&mut self) {
        for (_, area) in &mut self.areas {
            area.zeroize();
        }
        self.areas.clear();
    }
}

impl Drop for Transient {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Per-channel volatile state of the applet selected there: PIN validation and
/// [`Clear::OnDeselect`] memory (ISO 7816-4 §5.4.2: each logical channel has its own security
/// status). Cleared on deselect, reset and power-off.
#[derive(Default)]
pub(crate) struct Session {
    pub(crate) validated: u32,
    pub(crate) ram: Transient,
}

impl Session {
    pub(crate) fn clear(&mut self) {
        self.validated = 0;
        self.ram.clear();
    }
}

/// What an applet method is given: its persistent memory, its transient memory, its channel's
/// security state, transactions, random numbers and keys. Built by the runtime for each call.
pub struct Context<'a> {
    pub(crate) store: &'a mut Store,
    pub(crate) owner: Owner,
    pub(crate) aid: Aid,
    pub(crate) channel: u8,
    pub(crate) session: &'a mut Session,
    pub(crate) reset_ram: &'a mut Transient,
    /// The instance's parsed signing keys (volatile).
    pub(crate) keys: &'a mut KeyCache,
    /// The services every applet on the card declares (for the policy administration applet).
    pub(crate) services: &'a [(Aid, Service)],
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("aid", &self.aid).field("channel", &self.channel).finish()
    }
}

fn store_sw(e: StoreError) -> Sw {
    e.sw()
}

impl<'a> Context<'a> {
    /// The applet instance's AID.
    pub fn aid(&self) -> Aid {
        self.aid
    }

    /// The logical channel of the current command (0 to 19).
    pub fn channel(&self) -> u8 {
        self.channel
    }

    fn key(&self, id: u16) -> ObjectKey {
        ObjectKey { owner: self.owner, id }
    }

    /// The services every applet on the card declares: what a policy may bind. Only the
    /// applets built into this crate see it (the policy administration applet checks a new policy
    /// against it).
    pub(crate) fn card_services(&self) -> &[(Aid, Service)] {
        self.services
    }

    /// The runtime's own persistent objects (owner [`SYSTEM`](crate::store::SYSTEM)): the policy
    /// and its counters. Only for the applets built into this crate; writes take part in the open
    /// transaction like the applet's own.
    pub(crate) fn system(&mut self) -> crate::gate::hook::SystemMemory<'_> {
        crate::gate::hook::SystemMemory { store: self.store }
    }

    // --- persistent memory -------------------------------------------------------------------

    /// The bytes of persistent object `id`, if it exists.
    pub fn read(&self, id: u16) -> Option<&[u8]> {
        self.store.read(self.key(id))
    }

    /// Object `id` as a big-endian `u32`; `6A88` if absent, `6F00` if not four bytes.
    pub fn read_u32(&self, id: u16) -> Result<u32, Sw> {
        let bytes = self.read(id).ok_or(sw::REFERENCED_DATA_NOT_FOUND)?;
        let arr: [u8; 4] = bytes.try_into().map_err(|_| sw::UNKNOWN)?;
        Ok(u32::from_be_bytes(arr))
    }

    /// Replaces (or creates) persistent object `id`. Atomic; part of the open transaction if any.
    /// `6A84` when the card's quota or the transaction's undo log would be exceeded.
    pub fn write(&mut self, id: u16, data: &[u8]) -> Result<(), Sw> {
        self.store.write(self.key(id), data, false).map_err(store_sw)
    }

    /// Like [`write`](Context::write), for a secret (a key, a PIN): the object is zeroised when
    /// dropped and never shown by tools.
    pub fn write_secret(&mut self, id: u16, data: &[u8]) -> Result<(), Sw> {
        self.store.write(self.key(id), data, true).map_err(store_sw)
    }

    /// Replaces (or creates) persistent object `id` outside any transaction: the change stays
    /// even if the transaction is aborted (Java Card `Util.arrayCopyNonAtomic`). For try counters.
    pub fn write_non_atomic(&mut self, id: u16, data: &[u8], secret: bool) -> Result<(), Sw> {
        self.store.write_non_atomic(self.key(id), data, secret).map_err(store_sw)
    }

    /// Overwrites part of persistent object `id`, from `offset`. `6A88` if absent.
    pub fn update(&mut self, id: u16, offset: usize, data: &[u8]) -> Result<(), Sw> {
        self.store.update(self.key(id), offset, data).map_err(store_sw)
    }

    /// Deletes persistent object `id`; `Ok(false)` if it did not exist.
    pub fn remove(&mut self, id: u16) -> Result<bool, Sw> {
        self.store.remove(self.key(id)).map_err(store_sw)
    }

    /// Persistent bytes left under the card's quota (Java Card `JCSystem.getAvailableMemory`).
    pub fn available_memory(&self) -> usize {
        self.store.available()
    }

    /// The card's quota and the bytes used, for diagnostics.
    pub fn memory_usage(&self) -> (usize, usize) {
        (self.store.quota(), self.store.used())
    }

    // --- transactions ------------------------------------------------------------------------

    /// Begins a transaction (Java Card `JCSystem.beginTransaction`). `6F00` if this applet
    /// already has one open.
    pub fn begin_transaction(&mut self) -> Result<(), Sw> {
        self.store.begin(TxOwner::Applet(self.owner)).map_err(store_sw)
    }

    /// Commits this applet's transaction. `6F00` if none is open.
    pub fn commit_transaction(&mut self) -> Result<(), Sw> {
        self.store.commit(TxOwner::Applet(self.owner)).map_err(store_sw)
    }

    /// Aborts this applet's transaction, restoring every object it changed. `6F00` if none.
    pub fn abort_transaction(&mut self) -> Result<(), Sw> {
        self.store.abort(TxOwner::Applet(self.owner)).map_err(store_sw)
    }

    /// Whether this applet has a transaction open.
    pub fn in_transaction(&self) -> bool {
        self.store.in_transaction(TxOwner::Applet(self.owner))
    }

    /// Runs `f` in a transaction: committed when it returns `Ok`, aborted when it returns `Err`.
    pub fn transaction<T>(&mut self, f: impl FnOnce(&mut Context<'a>) -> Result<T, Sw>) -> Result<T, Sw> {
        self.begin_transaction()?;
        match f(self) {
            Ok(v) => {
                self.commit_transaction()?;
                Ok(v)
            }
            Err(sw) => {
                // The transaction may already be closed by `f`; the error to report is `f`'s.
                let _ = self.abort_transaction();
                Err(sw)
            }
        }
    }

    // --- transient memory and security state -------------------------------------------------

    /// Transient area `id` of `len` bytes, zeroed when first used and when cleared (see
    /// [`Clear`]). The same `id` must always be used with the same `len` (`6F00` otherwise).
    /// `6A84` beyond [`TRANSIENT_LIMIT`].
    pub fn transient(&mut self, clear: Clear, id: u16, len: usize) -> Result<&mut [u8], Sw> {
        match clear {
            Clear::OnReset => self.reset_ram.area(id, len),
            Clear::OnDeselect => self.session.ram.area(id, len),
        }
    }

    /// Whether PIN slot `slot` (0 to 31) is validated on this channel.
    pub fn is_validated(&self, slot: u8) -> bool {
        slot < 32 && self.session.validated & (1 << slot) != 0
    }

    /// Marks PIN slot `slot` (0 to 31) validated on this channel, or not.
    pub fn set_validated(&mut self, slot: u8, validated: bool) {
        if slot < 32 {
            if validated {
                self.session.validated |= 1 << slot;
            } else {
                self.session.validated &= !(1 << slot);
            }
        }
    }

    // --- random numbers and keys -------------------------------------------------------------

    /// Whether this is an insecure test card (`cardgate card init --insecure-seed`): its random
    /// numbers and keys come from a seeded DRBG ([`crate::drbg`]), so anyone who knows the seed
    /// knows them. Applets may say so to the host (the credit wallet does, in its status).
    pub fn is_insecure_test_card(&self) -> bool {
        self.store.read(drbg::STATE_OBJECT).is_some()
    }

    /// Runs `f` with the card's seeded DRBG and stores the DRBG's new state before returning its
    /// result; `None` on a normal card (no DRBG). The state is written outside any transaction
    /// (as a try counter is): an aborted transaction must not rewind the generator, or the next
    /// draw would repeat the last one.
    fn with_drbg<R>(
        &mut self,
        f: impl FnOnce(&mut HmacDrbg) -> Result<R, drbg::DrbgError>,
    ) -> Result<Option<R>, Sw> {
        let Some(bytes) = self.store.read(drbg::STATE_OBJECT) else { return Ok(None) };
        let mut state = HmacDrbg::from_bytes(bytes).map_err(|_| sw::UNKNOWN)?;
        let out = f(&mut state).map_err(|_| sw::UNKNOWN)?;
        self.store.write_non_atomic(drbg::STATE_OBJECT, &state.to_bytes(), true).map_err(store_sw)?;
        Ok(Some(out))
    }

    /// Fills `buf` with random bytes from the operating system's generator (via aws-lc), or from
    /// the seeded DRBG on an insecure test card.
    pub fn random(&mut self, buf: &mut [u8]) -> Result<(), Sw> {
        if !self.is_insecure_test_card() {
            return aws_lc_rs::rand::fill(buf).map_err(|_| sw::UNKNOWN);
        }
        // Drawn into a buffer of our own: `buf` changes only once the new state is stored.
        let mut drawn = Zeroizing::new(vec![0u8; buf.len()]);
        self.with_drbg(|d| d.generate(&mut drawn))?;
        buf.copy_from_slice(&drawn);
        Ok(())
    }

    /// Generates an ECDSA P-256 key pair on the card and keeps the private key in secret
    /// persistent object `id` (PKCS#8; it never leaves the card). Returns the public key as an
    /// uncompressed point (65 bytes, `04 || X || Y`). On an insecure test card the private key
    /// comes from the seeded DRBG (FIPS 186-5 §A.2.2 rejection sampling, [`drbg::p256_scalar`]).
    pub fn generate_p256(&mut self, id: u16) -> Result<Vec<u8>, Sw> {
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pair = match self.with_drbg(drbg::p256_scalar)? {
            None => EcdsaKeyPair::generate(alg).map_err(|_| sw::UNKNOWN)?,
            Some(d) => {
                let private = agreement::PrivateKey::from_private_key(&agreement::ECDH_P256, d.as_ref())
                    .map_err(|_| sw::UNKNOWN)?;
                let public = private.compute_public_key().map_err(|_| sw::UNKNOWN)?;
                EcdsaKeyPair::from_private_key_and_public_key(alg, d.as_ref(), public.as_ref())
                    .map_err(|_| sw::UNKNOWN)?
            }
        };
        let pkcs8 = pair.to_pkcs8v1().map_err(|_| sw::UNKNOWN)?;
        self.write_secret(id, pkcs8.as_ref())?;
        Ok(pair.public_key().as_ref().to_vec())
    }

    fn p256_pair(&self, id: u16, alg: &'static signature::EcdsaSigningAlgorithm) -> Result<EcdsaKeyPair, Sw> {
        let pkcs8 = self.read(id).ok_or(sw::REFERENCED_DATA_NOT_FOUND)?;
        EcdsaKeyPair::from_pkcs8(alg, pkcs8).map_err(|_| sw::REFERENCE_DATA_NOT_USABLE)
    }

    /// The public key of the P-256 key pair in object `id`, uncompressed (65 bytes).
    pub fn p256_public_key(&self, id: u16) -> Result<Vec<u8>, Sw> {
        Ok(self.p256_pair(id, &signature::ECDSA_P256_SHA256_FIXED_SIGNING)?.public_key().as_ref().to_vec())
    }

    /// Signs `message` (hashed with SHA-256) with the P-256 key in object `id`. `format` chooses
    /// `r || s` (64 bytes) or an ASN.1 DER `ECDSA-Sig-Value`.
    ///
    /// The key is parsed from its PKCS #8 object once and kept parsed in the card's RAM until the
    /// object changes or the card is reset (`key_cache.rs`): parsing costs 0.6x a signature.
    pub fn sign_p256(&mut self, id: u16, message: &[u8], format: EcdsaFormat) -> Result<Vec<u8>, Sw> {
        let alg = match format {
            EcdsaFormat::Fixed => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            EcdsaFormat::Der => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        };
        let pkcs8 =
            self.store.read(ObjectKey { owner: self.owner, id }).ok_or(sw::REFERENCED_DATA_NOT_FOUND)?;
        let pair = self.keys.p256_pair(id, alg, pkcs8).map_err(|_| sw::REFERENCE_DATA_NOT_USABLE)?;
        let sig = pair.sign(&aws_lc_rs::rand::SystemRandom::new(), message).map_err(|_| sw::UNKNOWN)?;
        Ok(sig.as_ref().to_vec())
    }
}

/// How [`Context::sign_p256`] encodes a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcdsaFormat {
    /// `r || s`, 32 bytes each.
    Fixed,
    /// ASN.1 DER `SEQUENCE { r INTEGER, s INTEGER }`.
    Der,
}
