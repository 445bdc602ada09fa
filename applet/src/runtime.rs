//! The card: a registry of applet instances, logical channels, and the dispatch of every APDU
//! (SELECT, MANAGE CHANNEL, command chaining, GET RESPONSE, services), in the manner of the Java
//! Card runtime environment (JCRE 3.0.5 chapters 3, 4 and 7) and ISO 7816-4.
//!
//! # The dispatch path, in order
//! [`Card::process_into`] → `dispatch`:
//! 1. parse (`6700` bad length, `6E00` bad class) and find the channel (`6881` if not open);
//! 2. a chain in progress must go on with the same header (`6883` otherwise, chain dropped);
//! 3. GET RESPONSE serves the rest of the previous response (in a proprietary class too, when a
//!    response is pending); any other command discards that rest;
//! 4. chained parts are collected (`9000` each) until the last, then the whole command runs;
//! 5. `execute`: SELECT by DF name, MANAGE CHANNEL and GET DATA `FF60` (the gate's last
//!    decision) are the runtime's; anything else goes to the channel's selected applet (`6986` if
//!    none) through `invoke`, **where the policy gate sits**: a service (bound by the gate's
//!    policy, or declared by the applet) runs atomically in `run_service`, anything else goes
//!    straight to `process`;
//! 6. `shape`: the response is cut to Ne, the rest kept for GET RESPONSE (`61xx`), or `6Cxx` for a
//!    short case 2 command with too small an Le;
//! 7. if the tear hook cut power during the command, the card powers off and the answer is lost.

use std::panic::{self, AssertUnwindSafe};

use policies::Aid;

use crate::apdu::{CHANNELS, Command, MAX_COMMAND_DATA, MAX_RESPONSE_DATA};
use crate::applet::{Applet, AppletClass, Catalog, Context, Service, Session, Transient};
use crate::atr::{self, Atr};
use crate::gate::hook::{ServiceCall, ServiceGate, SystemMemory, Verdict};
use crate::gate::policy_gate::PolicyGate;
use crate::key_cache::KeyCache;
use crate::store::{Owner, Store, StoreError, TxOwner};
use crate::sw::{self, Sw};
use crate::tlv;

/// Default persistent-memory quota of a new card, in bytes.
pub const DEFAULT_QUOTA: usize = 64 * 1024;

/// What a card is made of, besides its applets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardConfig {
    /// The name in the ATR's historical bytes (1 to 8 printable ASCII characters).
    pub name: String,
    /// Persistent-memory quota in bytes.
    pub quota: usize,
    /// The applet selected on the basic channel at power-up and reset (JCRE 3.0.5 §4.1), and on
    /// channels opened from the basic channel.
    pub default_applet: Option<Aid>,
}

impl Default for CardConfig {
    fn default() -> Self {
        CardConfig { name: atr::DEFAULT_NAME.into(), quota: DEFAULT_QUOTA, default_applet: None }
    }
}

/// Why an applet could not be installed, or a card configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstallError {
    /// The catalog has no class of that name.
    #[error("no applet class named {0:?}")]
    UnknownClass(String),
    /// An instance with that AID exists.
    #[error("an applet with AID {0} is already installed")]
    Duplicate(Aid),
    /// No instance with that AID exists.
    #[error("no applet with AID {0} is installed")]
    NotInstalled(Aid),
    /// The applet's `install` refused, with this status word (nothing was kept).
    #[error("the applet refused to install: {:04X} ({})", .0, sw::meaning(*.0))]
    Refused(Sw),
    /// Persistent memory refused (quota, power lost).
    #[error("persistent memory: {0}")]
    Store(#[from] StoreError),
    /// Every instance number is used.
    #[error("too many applet instances")]
    TooMany,
    /// The card name does not fit in the ATR.
    #[error(transparent)]
    BadName(#[from] atr::BadName),
}

/// Counters about what the card did, for tests and `cardgate card show`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CardStats {
    /// APDUs processed since the card value was made.
    pub apdus: u64,
    /// Applet panics caught (each answered `6F00`).
    pub applet_panics: u64,
    /// Commands cut by the tear hook.
    pub tears: u64,
}

pub(crate) struct Instance {
    pub(crate) aid: Aid,
    pub(crate) class: AppletClass,
    pub(crate) owner: Owner,
    applet: Box<dyn Applet>,
    reset_ram: Transient,
    /// Signing keys parsed once (RAM, cleared with `reset_ram`).
    keys: KeyCache,
}

#[derive(Default)]
struct Chain {
    active: bool,
    /// CLA without the chaining bit, INS, P1, P2 of the chain's commands.
    header: [u8; 4],
    data: Vec<u8>,
}

impl Chain {
    fn reset(&mut self) {
        self.active = false;
        zeroize::Zeroize::zeroize(&mut self.data);
    }
}

#[derive(Default)]
struct Pending {
    active: bool,
    data: Vec<u8>,
    pos: usize,
    /// The status word the response ends with once all of it has been fetched.
    sw: Sw,
}

impl Pending {
    fn clear(&mut self) {
        self.active = false;
        self.data.clear();
        self.pos = 0;
    }
}

#[derive(Default)]
struct Channel {
    open: bool,
    selected: Option<usize>,
    session: Session,
    chain: Chain,
    pending: Pending,
}

impl Channel {
    fn reset(&mut self) {
        self.open = false;
        self.selected = None;
        self.session.clear();
        self.chain.reset();
        self.pending.clear();
    }
}

/// An emulated card: applet instances, persistent memory, logical channels. The one entry point
/// for a reader is [`process`](Card::process) (or [`process_into`](Card::process_into)), which
/// never panics and always answers at least SW1 SW2.
///
/// A card is in memory only; [`FileCard`](crate::FileCard) keeps one in a state file.
pub struct Card {
    pub(crate) config: CardConfig,
    atr: Atr,
    pub(crate) catalog: Catalog,
    pub(crate) instances: Vec<Instance>,
    pub(crate) next_owner: Owner,
    pub(crate) store: Store,
    channels: Vec<Channel>,
    powered: bool,
    gate: Option<Box<dyn ServiceGate>>,
    /// The services the installed applets declare, in registry order (for policy checks).
    services: Vec<(Aid, Service)>,
    reply: Vec<u8>,
    fci: Vec<u8>,
    stats: CardStats,
    last_torn: bool,
    /// Moves when the registry or the configuration changes (install, default applet).
    registry_generation: u64,
}

impl std::fmt::Debug for Card {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Card")
            .field("config", &self.config)
            .field("applets", &self.instances.iter().map(|i| i.aid).collect::<Vec<_>>())
            .field("store", &self.store)
            .field("powered", &self.powered)
            .finish()
    }
}

/// Runs an applet method with a context, catching a panic.
fn call_applet<R>(
    inst: &mut Instance,
    store: &mut Store,
    services: &[(Aid, Service)],
    channel: u8,
    session: &mut Session,
    f: impl FnOnce(&mut dyn Applet, &mut Context<'_>) -> R,
) -> Result<R, ()> {
    let Instance { aid, owner, applet, reset_ram, keys, .. } = inst;
    let mut ctx = Context { store, owner: *owner, aid: *aid, channel, session, reset_ram, keys, services };
    let result = panic::catch_unwind(AssertUnwindSafe(|| f(applet.as_mut(), &mut ctx)));
    store.abort_all_of(TxOwner::Applet(*owner));
    result.map_err(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!(applet = %aid, "applet panicked: {what}");
    })
}

/// `61xx`: `xx` more bytes for GET RESPONSE (`00`: 256 or more).
fn more_data(left: usize) -> Sw {
    0x6100 | if left >= 256 { 0 } else { left as Sw }
}

/// Status words an applet may end a command with. `61xx` and `6Cxx` are the runtime's (they
/// describe the response length), and `60xx`, `64xx`...: anything outside `62xx`–`6Fxx` and `9xxx`
/// is not a status word (ISO 7816-4 §5.6).
fn sanitize(sw: Sw) -> Sw {
    match sw >> 8 {
        0x62..=0x6B | 0x6D..=0x6F | 0x90..=0x9F => sw,
        _ => {
            tracing::warn!("applet answered {sw:04X}, which is not a status word it may use; sending 6F00");
            sw::UNKNOWN
        }
    }
}

impl Card {
    /// A card with no applets, powered off. `config.default_applet` is ignored here: install the
    /// applet, then call [`set_default_applet`](Card::set_default_applet). The quota is capped at
    /// 4 GiB − 1 (the state file holds it in 32 bits).
    pub fn new(config: CardConfig, catalog: Catalog) -> Result<Card, InstallError> {
        let atr = Atr::for_card(&config.name)?;
        let config = CardConfig { quota: config.quota.min(u32::MAX as usize), ..config };
        let store = Store::new(config.quota);
        let mut channels = Vec::with_capacity(CHANNELS);
        channels.resize_with(CHANNELS, Channel::default);
        Ok(Card {
            config: CardConfig { default_applet: None, ..config },
            atr,
            catalog,
            instances: Vec::new(),
            next_owner: 1,
            store,
            channels,
            powered: false,
            gate: Some(Box::new(PolicyGate::default())),
            services: Vec::new(),
            reply: Vec::with_capacity(1024),
            fci: Vec::new(),
            stats: CardStats::default(),
            last_torn: false,
            registry_generation: 0,
        })
    }

    /// The configuration (name, quota, default applet).
    pub fn config(&self) -> &CardConfig {
        &self.config
    }

    /// The catalog of applet classes this card was made with.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Installs an instance of applet class `class` under `aid`, passing `params` to its
    /// `install`. All or nothing: if `install` fails, nothing it wrote is kept.
    pub fn install(&mut self, class: &str, aid: Aid, params: &[u8]) -> Result<(), InstallError> {
        if self.instances.iter().any(|i| i.aid == aid) {
            return Err(InstallError::Duplicate(aid));
        }
        let class = *self.catalog.get(class).ok_or_else(|| InstallError::UnknownClass(class.into()))?;
        let owner = self.next_owner;
        let next = owner.checked_add(1).ok_or(InstallError::TooMany)?;
        let mut inst = Instance {
            aid,
            class,
            owner,
            applet: (class.create)(),
            reset_ram: Transient::default(),
            keys: KeyCache::default(),
        };
        self.store.begin(TxOwner::Runtime)?;
        let mut session = Session::default();
        let result =
            call_applet(&mut inst, &mut self.store, &self.services, 0, &mut session, |applet, ctx| {
                applet.install(ctx, params)
            });
        let outcome = match result {
            Ok(Ok(())) => self.store.commit(TxOwner::Runtime).map_err(InstallError::from),
            Ok(Err(sw)) => Err(InstallError::Refused(sw)),
            Err(()) => Err(InstallError::Refused(sw::UNKNOWN)),
        };
        if let Err(e) = outcome {
            self.store.recover();
            // The rollback undoes the transaction, but not what `install` wrote outside it (PIN
            // try counters are non-atomic): with no instance to own them those objects would stay
            // as orphans, holding a PIN in memory no applet can reach. A failed install's objects
            // are reclaimed, as a Java Card installer cleans up after a failed installation
            // (JCRE 3.0.5 chapter 11).
            if let Err(reclaim) = self.store.remove_owner(owner) {
                tracing::error!("cannot reclaim the objects of a failed install: {reclaim}");
            }
            return Err(e);
        }
        self.next_owner = next;
        self.services.extend(inst.applet.services().iter().map(|s| (aid, *s)));
        self.instances.push(inst);
        self.registry_generation += 1;
        Ok(())
    }

    /// Re-creates an instance read from a state file (its objects are loaded separately).
    pub(crate) fn restore_instance(&mut self, class: AppletClass, aid: Aid, owner: Owner) {
        let applet = (class.create)();
        self.services.extend(applet.services().iter().map(|s| (aid, *s)));
        self.instances.push(Instance {
            aid,
            class,
            owner,
            applet,
            reset_ram: Transient::default(),
            keys: KeyCache::default(),
        });
    }

    /// Sets (or clears) the default applet. It must be installed.
    pub fn set_default_applet(&mut self, aid: Option<Aid>) -> Result<(), InstallError> {
        if let Some(aid) = aid
            && !self.instances.iter().any(|i| i.aid == aid)
        {
            return Err(InstallError::NotInstalled(aid));
        }
        self.config.default_applet = aid;
        self.registry_generation += 1;
        Ok(())
    }

    /// The installed applets, in registry order (the order SELECT searches): AID and class name.
    pub fn applets(&self) -> impl Iterator<Item = (Aid, &'static str)> + '_ {
        self.instances.iter().map(|i| (i.aid, i.class.name))
    }

    /// The applet selected on `channel`, if the channel is open and has one.
    pub fn selected(&self, channel: u8) -> Option<Aid> {
        let ch = self.channels.get(usize::from(channel)).filter(|c| c.open)?;
        ch.selected.map(|i| self.instances[i].aid)
    }

    /// Replaces the service gate consulted before every command an applet gets (see
    /// [`crate::gate::hook`]). Every card starts with [`PolicyGate`], which enforces the policy the
    /// card stores; tests install gates of their own.
    pub fn set_gate(&mut self, gate: Box<dyn ServiceGate>) {
        self.gate = Some(gate);
    }

    /// Persistent memory (read-only).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Persistent memory, e.g. to arm the tear hook ([`Store::tear_after`]) in a test.
    pub fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// What the card has done so far.
    pub fn stats(&self) -> CardStats {
        self.stats
    }

    /// Whether the last command was cut by the tear hook (its answer, `6F00`, stands for silence).
    pub fn last_command_torn(&self) -> bool {
        self.last_torn
    }

    /// Moves whenever persistent state (memory, registry, configuration) changes.
    pub fn generation(&self) -> u64 {
        self.store.generation().wrapping_add(self.registry_generation)
    }

    /// The answer to reset.
    pub fn atr(&self) -> &[u8] {
        self.atr.as_bytes()
    }

    /// Whether the card is powered.
    pub fn is_powered(&self) -> bool {
        self.powered
    }

    /// Powers the card up (cold reset, JCRE 3.0.5 §3.6 and §4.1): any transaction interrupted by
    /// power loss is rolled back, transient memory and applet values are fresh, only the basic
    /// channel is open, and the default applet (if any) is selected on it. No-op if powered.
    pub fn power_on(&mut self) {
        if self.powered {
            return;
        }
        self.store.recover();
        for inst in &mut self.instances {
            inst.applet = (inst.class.create)();
            inst.reset_ram.clear();
            inst.keys.clear();
        }
        for ch in &mut self.channels {
            ch.reset();
        }
        self.channels[0].open = true;
        self.powered = true;
        if let Some(idx) = self.default_index() {
            let mut fci = std::mem::take(&mut self.fci);
            if let Err(sw) = self.select_instance(0, idx, &mut fci) {
                tracing::warn!("the default applet refused selection at power-up: {sw:04X}");
            }
            self.fci = fci;
        }
        if self.store.is_torn() {
            // Power was cut again during the default applet's selection.
            self.powered = false;
        }
    }

    /// Powers the card off: an open transaction is rolled back, volatile state is lost. Applets are
    /// not told (no `deselect`, JCRE 3.0.5 §3.6).
    pub fn power_off(&mut self) {
        self.store.recover();
        if let Some(gate) = self.gate.as_mut() {
            gate.power_off();
        }
        for ch in &mut self.channels {
            ch.reset();
        }
        for inst in &mut self.instances {
            inst.reset_ram.clear();
            inst.keys.clear();
        }
        self.powered = false;
    }

    /// Warm or cold reset: power off, then on.
    pub fn reset(&mut self) {
        self.power_off();
        self.power_on();
    }

    fn default_index(&self) -> Option<usize> {
        let aid = self.config.default_applet?;
        self.instances.iter().position(|i| i.aid == aid)
    }

    /// Processes one command APDU and returns the response APDU (data, SW1, SW2). Powers the card
    /// up first if needed (a vpcd reader may send APDUs without a power-up).
    pub fn process(&mut self, apdu: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        self.process_into(apdu, &mut out);
        out
    }

    /// Like [`process`](Card::process), writing the response into `out` (cleared first), so that a
    /// caller that reuses `out` makes no allocation per command.
    pub fn process_into(&mut self, apdu: &[u8], out: &mut Vec<u8>) {
        out.clear();
        self.last_torn = false;
        if !self.powered {
            self.power_on();
        }
        self.stats.apdus += 1;
        let sw = if self.powered { self.dispatch(apdu, out) } else { sw::UNKNOWN };
        if self.store.is_torn() || !self.powered {
            // The tear hook cut power during this command: the card went mute. The reader would
            // see no answer; `6F00` stands in for it.
            self.stats.tears += 1;
            self.last_torn = true;
            self.power_off();
            out.clear();
            out.extend_from_slice(&sw::UNKNOWN.to_be_bytes());
            return;
        }
        if self.store.depth() != 0 {
            tracing::error!("a transaction outlived its command; rolling it back");
            self.store.recover();
        }
        out.extend_from_slice(&sw.to_be_bytes());
    }

    fn dispatch(&mut self, apdu: &[u8], out: &mut Vec<u8>) -> Sw {
        let cmd = match Command::parse(apdu) {
            Ok(cmd) => cmd,
            Err(sw) => return sw,
        };
        let ch = usize::from(cmd.channel());
        if !self.channels[ch].open {
            // JCRE 3.0.5 §4.3: a command on a channel that is not open.
            return sw::LOGICAL_CHANNEL_NOT_SUPPORTED;
        }
        let class = cmd.class();
        let header = [cmd.cla() & !0x10, cmd.ins(), cmd.p1(), cmd.p2()];
        let chain = &mut self.channels[ch].chain;
        if chain.active && chain.header != header {
            // ISO 7816-4 §5.1.1.1: the chain's next command must have the same header.
            chain.reset();
            return sw::LAST_COMMAND_OF_CHAIN_EXPECTED;
        }
        // GET RESPONSE is interindustry, but hosts often send it with the class byte of the command
        // that got 61xx (`80 C0` after `80 ..`): with a response pending, any class takes it;
        // without one, a proprietary `C0` is the applet's own instruction.
        if cmd.ins() == 0xC0 && (class.is_interindustry() || self.channels[ch].pending.active) {
            if class.is_chained() {
                return sw::COMMAND_CHAINING_NOT_SUPPORTED;
            }
            return self.get_response(ch, &cmd, out);
        }
        self.channels[ch].pending.clear();

        let chain = &mut self.channels[ch].chain;
        if class.is_chained() || chain.active {
            if chain.data.len() + cmd.data().len() > MAX_COMMAND_DATA {
                chain.reset();
                return sw::WRONG_LENGTH;
            }
            chain.data.extend_from_slice(cmd.data());
            if class.is_chained() {
                chain.active = true;
                chain.header = header;
                return sw::OK;
            }
            // The last command of the chain: run the whole command, then give the buffer back.
            chain.active = false;
            let data = std::mem::take(&mut chain.data);
            let sw = self.execute(ch, &cmd.with_data(&data), out);
            let chain = &mut self.channels[ch].chain;
            chain.data = data;
            chain.reset();
            return sw;
        }
        self.execute(ch, &cmd, out)
    }

    fn execute(&mut self, ch: usize, cmd: &Command<'_>, out: &mut Vec<u8>) -> Sw {
        if matches!(cmd.ins() >> 4, 0x6 | 0x9) {
            // ISO 7816-3 §10.3.3: 6X and 9X are procedure bytes, never instructions.
            return sw::INS_NOT_SUPPORTED;
        }
        let class = cmd.class();
        // GET DATA FF60 (ISO 7816-4 §11.4.3): the gate's last decision, a card-level object.
        let last_decision = class.is_interindustry() && cmd.ins() == 0xCA && cmd.p1p2() == 0xFF60;
        let runtime_owned = last_decision
            || class.is_interindustry() && ((cmd.ins() == 0xA4 && cmd.p1() == 0x04) || cmd.ins() == 0x70);
        if runtime_owned && class.has_secure_messaging() {
            return sw::SECURE_MESSAGING_NOT_SUPPORTED;
        }
        let generation = self.store.generation();
        let mut reply = std::mem::take(&mut self.reply);
        reply.clear();
        let sw = if last_decision {
            self.last_decision(cmd, &mut reply)
        } else if runtime_owned && cmd.ins() == 0xA4 {
            self.select_by_name(ch, cmd, &mut reply)
        } else if runtime_owned {
            self.manage_channel(ch, cmd, &mut reply)
        } else {
            match self.channels[ch].selected {
                // SELECT by file identifier or path with no applet to forward it to.
                None if cmd.ins() == 0xA4 => sw::FILE_NOT_FOUND,
                None => sw::COMMAND_NOT_ALLOWED_NO_EF,
                Some(idx) => self.invoke(ch, idx, cmd, &mut reply),
            }
        };
        let changed = self.store.generation() != generation;
        let sw = self.shape(ch, cmd, &reply, sw, changed, out);
        self.reply = reply;
        sw
    }

    /// Fits the response to Ne (ISO 7816-4 §5.1.3 and §5.3.4).
    fn shape(
        &mut self,
        ch: usize,
        cmd: &Command<'_>,
        reply: &[u8],
        sw: Sw,
        changed: bool,
        out: &mut Vec<u8>,
    ) -> Sw {
        let keeps_data = matches!(sw >> 8, 0x62 | 0x63 | 0x90..=0x9F);
        if !keeps_data || reply.is_empty() {
            return sw;
        }
        if reply.len() > MAX_RESPONSE_DATA {
            tracing::error!("applet answered {} bytes, more than any APDU can carry", reply.len());
            return sw::UNKNOWN;
        }
        let ne = cmd.ne();
        if reply.len() <= ne {
            out.extend_from_slice(reply);
            return sw;
        }
        if cmd.is_short_case_2() && reply.len() <= 256 && !changed {
            // ISO 7816-3 §12.2.2 / 7816-4 §5.6: wrong Le, SW2 = the exact length; the command
            // changed nothing, so the host can simply send it again with that Le.
            return 0x6C00 | (reply.len() & 0xFF) as Sw;
        }
        out.extend_from_slice(&reply[..ne]);
        let pending = &mut self.channels[ch].pending;
        pending.data.clear();
        pending.data.extend_from_slice(&reply[ne..]);
        pending.pos = 0;
        pending.sw = sw;
        pending.active = true;
        more_data(pending.data.len())
    }

    /// GET RESPONSE (ISO 7816-4 §11.5.2 / §7.6.1): the next part of the response kept by `shape`.
    fn get_response(&mut self, ch: usize, cmd: &Command<'_>, out: &mut Vec<u8>) -> Sw {
        if cmd.p1p2() != 0 {
            return sw::INCORRECT_P1P2;
        }
        if !cmd.data().is_empty() {
            return sw::WRONG_LENGTH;
        }
        let pending = &mut self.channels[ch].pending;
        if !pending.active {
            return sw::CONDITIONS_NOT_SATISFIED;
        }
        let ne = if cmd.ne() == 0 { 256 } else { cmd.ne() };
        let rest = &pending.data[pending.pos..];
        let n = ne.min(rest.len());
        out.extend_from_slice(&rest[..n]);
        pending.pos += n;
        let left = pending.data.len() - pending.pos;
        if left == 0 {
            let sw = pending.sw;
            pending.clear();
            sw
        } else {
            more_data(left)
        }
    }

    /// SELECT by DF name (ISO 7816-4 §11.1.1, P1 = `04`; JCRE 3.0.5 §4.5.2).
    ///
    /// P2: `b2b1` occurrence (`00` first, `01` last, `10` next, `11` previous); `b4b3` response
    /// (`00` FCI, `11` none; FCP and FMD are not supported: `6A86`). An exact AID match is
    /// preferred for first/last; otherwise the DF name is a right-truncated AID (partial
    /// selection). No match: `6A82`, and the channel keeps its applet.
    fn select_by_name(&mut self, ch: usize, cmd: &Command<'_>, reply: &mut Vec<u8>) -> Sw {
        let p2 = cmd.p2();
        if p2 & 0xF0 != 0 {
            return sw::INCORRECT_P1P2;
        }
        let want_fci = match p2 & 0x0C {
            0x00 => true,
            0x0C => false,
            _ => return sw::INCORRECT_P1P2,
        };
        let name = cmd.data();
        if name.len() > Aid::MAX_LEN {
            return sw::WRONG_DATA;
        }
        let matches = |i: &Instance| i.aid.starts_with(name);
        let exact = |i: &Instance| i.aid.as_bytes() == name;
        let current = self.channels[ch].selected.filter(|&i| matches(&self.instances[i]));
        let all = &self.instances;
        let target = match (p2 & 0x03, current) {
            (0b00, _) => all.iter().position(exact).or_else(|| all.iter().position(matches)),
            (0b01, _) => all.iter().rposition(exact).or_else(|| all.iter().rposition(matches)),
            (0b10, Some(cur)) => all.iter().skip(cur + 1).position(matches).map(|p| p + cur + 1),
            (0b10, None) => all.iter().position(matches),
            (_, Some(cur)) => all[..cur].iter().rposition(matches),
            (_, None) => all.iter().rposition(matches),
        };
        let Some(idx) = target else { return sw::FILE_NOT_FOUND };
        let mut proprietary = std::mem::take(&mut self.fci);
        proprietary.clear();
        let result = self.select_instance(ch, idx, &mut proprietary);
        if result.is_ok() && want_fci {
            // ISO 7816-4 §7.4.1: FCI template 6F { 84 DF name, A5 proprietary data }.
            let aid = self.instances[idx].aid;
            let mut inner = 2 + aid.as_bytes().len();
            if !proprietary.is_empty() {
                inner += 1 + tlv_len_size(proprietary.len()) + proprietary.len();
            }
            reply.push(0x6F);
            tlv::write_len(inner, reply);
            reply.push(0x84);
            reply.push(aid.as_bytes().len() as u8);
            reply.extend_from_slice(aid.as_bytes());
            if !proprietary.is_empty() {
                reply.push(0xA5);
                tlv::write_len(proprietary.len(), reply);
                reply.extend_from_slice(&proprietary);
            }
        }
        self.fci = proprietary;
        match result {
            Ok(()) => sw::OK,
            Err(sw) => sw,
        }
    }

    /// Makes instance `idx` the selected applet of channel `ch` (JCRE 3.0.5 §4.5–4.6): refused
    /// with `6985` if it is active on another channel and not multi-selectable; otherwise the
    /// channel's previous applet is deselected (its session cleared) and `idx`'s `select` runs.
    /// Re-selecting the applet already selected calls `select` again and keeps the session.
    /// If `select` refuses, the channel is left with no applet selected.
    fn select_instance(&mut self, ch: usize, idx: usize, fci: &mut Vec<u8>) -> Result<(), Sw> {
        let elsewhere =
            self.channels.iter().enumerate().any(|(i, c)| i != ch && c.open && c.selected == Some(idx));
        if elsewhere && !self.instances[idx].applet.multi_selectable() {
            return Err(sw::CONDITIONS_NOT_SATISFIED);
        }
        if self.channels[ch].selected != Some(idx) {
            self.deselect(ch);
        }
        let channel = &mut self.channels[ch];
        let result = call_applet(
            &mut self.instances[idx],
            &mut self.store,
            &self.services,
            ch as u8,
            &mut channel.session,
            |applet, ctx| applet.select(ctx, fci),
        );
        let result = match result {
            Ok(r) => r.map_err(sanitize),
            Err(()) => {
                self.stats.applet_panics += 1;
                Err(sw::UNKNOWN)
            }
        };
        let channel = &mut self.channels[ch];
        match result {
            Ok(()) => channel.selected = Some(idx),
            Err(_) => {
                fci.clear();
                channel.selected = None;
                channel.session.clear();
            }
        }
        result
    }

    /// Deselects the applet of channel `ch`, if any: its `deselect` runs, then the channel's
    /// session (PIN validation, CLEAR_ON_DESELECT memory) is cleared.
    fn deselect(&mut self, ch: usize) {
        let channel = &mut self.channels[ch];
        if let Some(old) = channel.selected.take() {
            let r = call_applet(
                &mut self.instances[old],
                &mut self.store,
                &self.services,
                ch as u8,
                &mut channel.session,
                |applet, ctx| applet.deselect(ctx),
            );
            if r.is_err() {
                self.stats.applet_panics += 1;
            }
        }
        self.channels[ch].session.clear();
    }

    /// MANAGE CHANNEL (ISO 7816-4 §11.1.2; JCRE 3.0.5 §4.5.1 and §4.6.1).
    fn manage_channel(&mut self, origin: usize, cmd: &Command<'_>, reply: &mut Vec<u8>) -> Sw {
        if !cmd.data().is_empty() {
            return sw::WRONG_LENGTH;
        }
        let p2 = usize::from(cmd.p2());
        match cmd.p1() {
            0x00 => {
                let target = if p2 == 0 {
                    if cmd.ne() != 1 {
                        return 0x6C01;
                    }
                    match (1..CHANNELS).find(|&c| !self.channels[c].open) {
                        Some(c) => c,
                        None => return sw::FUNCTION_NOT_SUPPORTED,
                    }
                } else if p2 >= CHANNELS {
                    return sw::FUNCTION_NOT_SUPPORTED;
                } else if self.channels[p2].open {
                    return sw::INCORRECT_P1P2;
                } else {
                    p2
                };
                let candidate =
                    if origin == 0 { self.default_index() } else { self.channels[origin].selected };
                let channel = &mut self.channels[target];
                channel.reset();
                channel.open = true;
                if let Some(idx) = candidate {
                    let mut fci = std::mem::take(&mut self.fci);
                    let result = self.select_instance(target, idx, &mut fci);
                    self.fci = fci;
                    if let Err(sw) = result {
                        self.channels[target].reset();
                        return sw;
                    }
                }
                if p2 == 0 {
                    reply.push(target as u8);
                }
                sw::OK
            }
            0x80 => {
                if p2 == 0 || p2 >= CHANNELS {
                    return sw::FUNCTION_NOT_SUPPORTED;
                }
                if !self.channels[p2].open {
                    return sw::WARNING_NO_INFO;
                }
                self.deselect(p2);
                self.channels[p2].reset();
                sw::OK
            }
            _ => sw::FUNCTION_NOT_SUPPORTED,
        }
    }

    /// Hands a command to the applet. **The policy gate sits here**: with a gate installed, every
    /// command is checked first (see [`crate::gate::hook`]); a service the gate allows, or one the
    /// applet declared, goes through [`run_service`](Card::run_service), anything else straight to
    /// `process`.
    fn invoke(&mut self, ch: usize, idx: usize, cmd: &Command<'_>, reply: &mut Vec<u8>) -> Sw {
        let declared = self.instances[idx].applet.services().iter().find(|s| s.matches(cmd)).copied();
        let call = ServiceCall {
            aid: self.instances[idx].aid,
            declared: declared.as_ref(),
            command: cmd,
            validated: self.channels[ch].session.validated,
        };
        let verdict = match self.gate_check(&call) {
            Ok(verdict) => verdict,
            Err(sw) => return sw,
        };
        if verdict == Verdict::Allow || declared.is_some() {
            self.run_service(ch, idx, &call, verdict == Verdict::Allow, reply)
        } else {
            self.call_process(ch, idx, cmd, reply)
        }
    }

    fn call_process(&mut self, ch: usize, idx: usize, cmd: &Command<'_>, reply: &mut Vec<u8>) -> Sw {
        let channel = &mut self.channels[ch];
        let r = call_applet(
            &mut self.instances[idx],
            &mut self.store,
            &self.services,
            ch as u8,
            &mut channel.session,
            |applet, ctx| applet.process(ctx, cmd, reply),
        );
        match r {
            Ok(Ok(())) => sw::OK,
            Ok(Err(sw)) => sanitize(sw),
            Err(()) => {
                self.stats.applet_panics += 1;
                reply.clear();
                sw::UNKNOWN
            }
        }
    }

    /// Runs a service atomically: runtime transaction → `process` → **gate record** (when the gate
    /// allowed it) → commit. Any failure rolls back everything the service and the gate wrote.
    fn run_service(
        &mut self,
        ch: usize,
        idx: usize,
        call: &ServiceCall<'_>,
        record: bool,
        reply: &mut Vec<u8>,
    ) -> Sw {
        if let Err(e) = self.store.begin(TxOwner::Runtime) {
            return e.sw();
        }
        let sw = self.call_process(ch, idx, call.command, reply);
        if sw != sw::OK {
            self.store.abort_all_of(TxOwner::Runtime);
            return sw;
        }
        if record && let Err(sw) = self.gate_record(call) {
            self.store.abort_all_of(TxOwner::Runtime);
            reply.clear();
            return sw;
        }
        match self.store.commit(TxOwner::Runtime) {
            Ok(()) => sw::OK,
            Err(e) => {
                self.store.abort_all_of(TxOwner::Runtime);
                reply.clear();
                e.sw()
            }
        }
    }

    /// GET DATA `FF60`: the gate's last decision ([`ServiceGate::last_decision`]), on any channel
    /// and whatever applet is selected there. `6A88` when there is none.
    fn last_decision(&mut self, cmd: &Command<'_>, reply: &mut Vec<u8>) -> Sw {
        if !cmd.data().is_empty() {
            return sw::WRONG_LENGTH;
        }
        let Some(gate) = self.gate.as_ref() else { return sw::REFERENCED_DATA_NOT_FOUND };
        match panic::catch_unwind(AssertUnwindSafe(|| gate.last_decision(reply))) {
            Ok(Ok(())) => sw::OK,
            Ok(Err(sw)) => {
                reply.clear();
                sanitize(sw)
            }
            Err(_) => {
                tracing::error!("the service gate panicked");
                reply.clear();
                sw::UNKNOWN
            }
        }
    }

    /// [`ServiceGate::check`], if a gate is installed, catching a panic (`6F00`).
    fn gate_check(&mut self, call: &ServiceCall<'_>) -> Result<Verdict, Sw> {
        let Some(gate) = self.gate.as_mut() else { return Ok(Verdict::NotAService) };
        let system = SystemMemory { store: &mut self.store };
        match panic::catch_unwind(AssertUnwindSafe(|| gate.check(call, &system))) {
            Ok(r) => r.map_err(sanitize),
            Err(_) => {
                tracing::error!("the service gate panicked");
                Err(sw::UNKNOWN)
            }
        }
    }

    /// [`ServiceGate::record`], if a gate is installed, catching a panic (`6F00`).
    fn gate_record(&mut self, call: &ServiceCall<'_>) -> Result<(), Sw> {
        let Some(gate) = self.gate.as_mut() else { return Ok(()) };
        let mut system = SystemMemory { store: &mut self.store };
        match panic::catch_unwind(AssertUnwindSafe(|| gate.record(call, &mut system))) {
            Ok(r) => r.map_err(sanitize),
            Err(_) => {
                tracing::error!("the service gate panicked");
                Err(sw::UNKNOWN)
            }
        }
    }

    /// The services the installed applets declare, for checking a policy against: which
    /// instructions each applet says are services.
    pub fn declared_services(&self) -> &[(Aid, Service)] {
        &self.services
    }
}

/// Bytes a BER-TLV length field takes for `len` (X.690 §8.1.3, as `tlv::write_len` writes it).
fn tlv_len_size(len: usize) -> usize {
    match len {
        0..=0x7F => 1,
        0x80..=0xFF => 2,
        0x100..=0xFFFF => 3,
        _ => 4,
    }
}
