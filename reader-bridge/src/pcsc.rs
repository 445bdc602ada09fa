//! The PC/SC transport: readers through pcscd (USB readers with real cards, and vpcd's virtual
//! readers), with reader listing, reader choice by name, substring or index, and a status monitor.

use std::ffi::CString;
use std::time::Duration;

use pcsc::{Context, Disposition, Protocols, ReaderState, Scope, ShareMode, State};

use crate::transport::{ResetKind, Transport, TransportError};

/// How to share the card with other programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Share {
    /// Other programs may use the card between our commands (PC/SC `SCARD_SHARE_SHARED`).
    #[default]
    Shared,
    /// No other program may connect while we hold the card (`SCARD_SHARE_EXCLUSIVE`).
    Exclusive,
}

/// Which transmission protocols to accept (ISO 7816-3 §10 T=0, §11 T=1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// Whichever the card and reader agree on.
    #[default]
    Any,
    /// T=0 only.
    T0,
    /// T=1 only.
    T1,
}

/// Options for [`PcscTransport::open_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PcscOptions {
    /// Shared or exclusive access.
    pub share: Share,
    /// Accepted protocols.
    pub protocol: Protocol,
}

impl PcscOptions {
    fn share_mode(self) -> ShareMode {
        match self.share {
            Share::Shared => ShareMode::Shared,
            Share::Exclusive => ShareMode::Exclusive,
        }
    }

    fn protocols(self) -> Protocols {
        match self.protocol {
            Protocol::Any => Protocols::T0 | Protocols::T1,
            Protocol::T0 => Protocols::T0,
            Protocol::T1 => Protocols::T1,
        }
    }
}

/// A reader as pcscd reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderInfo {
    /// Position in pcscd's list, 0-based (as `opensc-tool -l` and `pcsc_scan` number them).
    pub index: usize,
    /// The reader's name, e.g. "Virtual PCD 00 00".
    pub name: String,
    /// Whether a card is in the reader.
    pub card_present: bool,
    /// The card's ATR, when a card is present.
    pub atr: Option<Vec<u8>>,
    /// Another program holds the card exclusively.
    pub exclusive: bool,
    /// Another program is connected to the card.
    pub in_use: bool,
    /// The card does not answer (no ATR).
    pub mute: bool,
}

/// Connects to pcscd.
fn context() -> Result<Context, TransportError> {
    Context::establish(Scope::User).map_err(|e| map_error(e, ""))
}

/// The readers pcscd knows, with their card state. No readers is an empty list, not an error.
pub fn readers() -> Result<Vec<ReaderInfo>, TransportError> {
    readers_in(&context()?)
}

fn reader_names(ctx: &Context) -> Result<Vec<CString>, TransportError> {
    match ctx.list_readers_owned() {
        Ok(names) => Ok(names),
        Err(pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
        Err(e) => Err(map_error(e, "")),
    }
}

fn readers_in(ctx: &Context) -> Result<Vec<ReaderInfo>, TransportError> {
    let names = reader_names(ctx)?;
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut states: Vec<ReaderState> =
        names.iter().map(|n| ReaderState::new(n.clone(), State::UNAWARE)).collect();
    // With UNAWARE as the known state, the call returns at once with every reader's state.
    ctx.get_status_change(Duration::ZERO, &mut states).map_err(|e| map_error(e, ""))?;
    Ok(states.iter().enumerate().map(|(index, s)| reader_info(index, s)).collect())
}

fn reader_info(index: usize, state: &ReaderState) -> ReaderInfo {
    let event = state.event_state();
    let present = event.contains(State::PRESENT);
    ReaderInfo {
        index,
        name: state.name().to_string_lossy().into_owned(),
        card_present: present,
        atr: (present && !state.atr().is_empty()).then(|| state.atr().to_vec()),
        exclusive: event.contains(State::EXCLUSIVE),
        in_use: event.contains(State::INUSE),
        mute: event.contains(State::MUTE),
    }
}

/// Picks the reader a user means by `wanted` (`-r`): an exact name, a plain number (0-based index),
/// or a case-insensitive substring that matches one reader. With nothing given: the only reader, or
/// the only reader with a card.
pub fn choose_reader<'a>(
    readers: &'a [ReaderInfo],
    wanted: Option<&str>,
) -> Result<&'a ReaderInfo, TransportError> {
    if readers.is_empty() {
        return Err(TransportError::NoReaders);
    }
    let list = || readers.iter().map(|r| format!("{}: {}", r.index, r.name)).collect::<Vec<_>>().join(", ");
    let Some(wanted) = wanted else {
        if let [only] = readers {
            return Ok(only);
        }
        let with_card: Vec<&ReaderInfo> = readers.iter().filter(|r| r.card_present).collect();
        return match with_card.as_slice() {
            [only] => Ok(only),
            [] => Err(TransportError::NoCard {
                reader: format!("any of the {} readers ({})", readers.len(), list()),
            }),
            _ => Err(TransportError::AmbiguousReader { wanted: String::new(), candidates: list() }),
        };
    };
    if let Some(exact) = readers.iter().find(|r| r.name == wanted) {
        return Ok(exact);
    }
    if !wanted.is_empty() && wanted.bytes().all(|b| b.is_ascii_digit()) {
        return match wanted.parse::<usize>().ok().and_then(|i| readers.get(i)) {
            Some(reader) => Ok(reader),
            None => Err(TransportError::NoSuchReader { wanted: wanted.into(), available: list() }),
        };
    }
    let needle = wanted.to_lowercase();
    let matches: Vec<&ReaderInfo> =
        readers.iter().filter(|r| r.name.to_lowercase().contains(&needle)).collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(TransportError::NoSuchReader { wanted: wanted.into(), available: list() }),
        several => Err(TransportError::AmbiguousReader {
            wanted: wanted.into(),
            candidates: several
                .iter()
                .map(|r| format!("{}: {}", r.index, r.name))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Turns a PC/SC error into a sentence a person can act on.
pub fn map_error(err: pcsc::Error, reader: &str) -> TransportError {
    let reader = reader.to_string();
    match err {
        pcsc::Error::NoService | pcsc::Error::ServiceStopped => TransportError::NoService,
        pcsc::Error::NoReadersAvailable => TransportError::NoReaders,
        pcsc::Error::NoSmartcard => TransportError::NoCard { reader },
        pcsc::Error::RemovedCard => TransportError::CardRemoved { reader },
        pcsc::Error::SharingViolation => TransportError::SharingViolation { reader },
        pcsc::Error::UnknownReader | pcsc::Error::ReaderUnavailable => {
            TransportError::Other(format!("reader {reader:?} is no longer available (unplugged?)"))
        }
        pcsc::Error::ResetCard => TransportError::Other(format!(
            "the card in reader {reader:?} was reset by another program; connect again"
        )),
        pcsc::Error::UnresponsiveCard | pcsc::Error::UnpoweredCard => {
            TransportError::Other(format!("the card in reader {reader:?} does not answer (no ATR)"))
        }
        pcsc::Error::ProtoMismatch => TransportError::Other(format!(
            "the card in reader {reader:?} does not speak the requested protocol (try -p any)"
        )),
        other => TransportError::Other(format!(
            "PC/SC error on reader {reader:?}: {other} ({:#010X})",
            other as u32
        )),
    }
}

/// A card in a PC/SC reader.
pub struct PcscTransport {
    // Kept alive for the card handle; the `pcsc` crate ties a card to its context.
    _ctx: Context,
    card: Option<pcsc::Card>,
    reader: String,
    options: PcscOptions,
    buf: Vec<u8>,
}

impl std::fmt::Debug for PcscTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscTransport").field("reader", &self.reader).field("options", &self.options).finish()
    }
}

impl PcscTransport {
    /// Connects, shared and with T=0 or T=1, to the reader named by `reader` (exact name, substring
    /// or index; `None`: the only reader, or the only one with a card).
    pub fn open(reader: Option<&str>) -> Result<Self, TransportError> {
        Self::open_with(reader, PcscOptions::default())
    }

    /// Connects with explicit share mode and protocol.
    pub fn open_with(reader: Option<&str>, options: PcscOptions) -> Result<Self, TransportError> {
        let ctx = context()?;
        let readers = readers_in(&ctx)?;
        let chosen = choose_reader(&readers, reader)?;
        let name = chosen.name.clone();
        let cname = CString::new(name.clone())
            .map_err(|_| TransportError::Other(format!("reader name {name:?} contains a NUL byte")))?;
        let card = ctx
            .connect(&cname, options.share_mode(), options.protocols())
            .map_err(|e| map_error(e, &name))?;
        tracing::debug!(reader = %name, "connected");
        Ok(Self {
            _ctx: ctx,
            card: Some(card),
            reader: name,
            options,
            buf: vec![0; pcsc::MAX_BUFFER_SIZE_EXTENDED],
        })
    }

    /// The reader's full name.
    pub fn reader(&self) -> &str {
        &self.reader
    }

    /// The protocol in use ("T=0" or "T=1").
    pub fn protocol(&self) -> Result<&'static str, TransportError> {
        let status = self.card()?.status2_owned().map_err(|e| map_error(e, &self.reader))?;
        Ok(match status.protocol2() {
            Some(pcsc::Protocol::T0) => "T=0",
            Some(pcsc::Protocol::T1) => "T=1",
            Some(pcsc::Protocol::RAW) => "raw",
            None => "none",
        })
    }

    fn card(&self) -> Result<&pcsc::Card, TransportError> {
        self.card.as_ref().ok_or_else(|| TransportError::Other("the card connection is closed".into()))
    }
}

impl Transport for PcscTransport {
    fn name(&self) -> String {
        self.reader.clone()
    }

    fn atr(&mut self) -> Result<Vec<u8>, TransportError> {
        let status = self.card()?.status2_owned().map_err(|e| map_error(e, &self.reader))?;
        Ok(status.atr().to_vec())
    }

    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        let card = self
            .card
            .as_ref()
            .ok_or_else(|| TransportError::Other("the card connection is closed".into()))?;
        let response = card.transmit(command, &mut self.buf).map_err(|e| map_error(e, &self.reader))?;
        Ok(response.to_vec())
    }

    fn reset(&mut self, kind: ResetKind) -> Result<Vec<u8>, TransportError> {
        let disposition = match kind {
            ResetKind::Cold => Disposition::UnpowerCard,
            ResetKind::Warm => Disposition::ResetCard,
        };
        let (share, protocols) = (self.options.share_mode(), self.options.protocols());
        let card = self
            .card
            .as_mut()
            .ok_or_else(|| TransportError::Other("the card connection is closed".into()))?;
        card.reconnect(share, protocols, disposition).map_err(|e| map_error(e, &self.reader))?;
        self.atr()
    }

    fn protocol(&self) -> Option<crate::transport::Protocol> {
        match PcscTransport::protocol(self).ok()? {
            "T=0" => Some(crate::transport::Protocol::T0),
            "T=1" => Some(crate::transport::Protocol::T1),
            _ => None,
        }
    }
}

impl Drop for PcscTransport {
    fn drop(&mut self) {
        // The `pcsc` crate resets the card when a handle is dropped; a host tool should leave the
        // card as it is (scriptor and opensc-tool do), so that the next program finds it selected.
        if let Some(card) = self.card.take()
            && let Err((_card, err)) = card.disconnect(Disposition::LeaveCard)
        {
            tracing::debug!("disconnect from {:?}: {err}", self.reader);
        }
    }
}

/// A change seen by [`Monitor`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReaderEvent {
    /// A reader appeared (also reported for every reader when the monitor starts).
    ReaderAdded(ReaderInfo),
    /// A reader went away.
    ReaderRemoved {
        /// Its name.
        name: String,
    },
    /// A card was put into a reader (also reported at start for readers that hold one).
    CardInserted(ReaderInfo),
    /// A card was taken out.
    CardRemoved(ReaderInfo),
    /// Something else changed: in use, exclusive, mute.
    Changed(ReaderInfo),
}

/// Watches readers and cards come and go, like `pcsc_scan` (SCardGetStatusChange with the
/// `\\?PnP?\Notification` pseudo-reader for hot-plugged readers).
pub struct Monitor {
    ctx: Context,
    states: Vec<ReaderState>,
    known: Vec<ReaderInfo>,
    started: bool,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor").field("known", &self.known).finish()
    }
}

impl Monitor {
    /// Connects to pcscd.
    pub fn new() -> Result<Self, TransportError> {
        Ok(Self { ctx: context()?, states: Vec::new(), known: Vec::new(), started: false })
    }

    /// Waits up to `timeout` for changes and returns them (empty on timeout). The first call reports
    /// the current readers and cards at once.
    pub fn next_events(&mut self, timeout: Duration) -> Result<Vec<ReaderEvent>, TransportError> {
        let mut events = Vec::new();
        if !self.started {
            self.started = true;
            self.rebuild(&mut events)?;
            return Ok(events);
        }
        match self.ctx.get_status_change(timeout, &mut self.states) {
            Ok(()) => {}
            Err(pcsc::Error::Timeout) => return Ok(events),
            Err(e) => return Err(map_error(e, "")),
        }
        let readers_changed =
            self.states.first().is_some_and(|pnp| pnp.event_state().contains(State::CHANGED));
        for i in 1..self.states.len() {
            let state = &self.states[i];
            let event = state.event_state();
            if !event.contains(State::CHANGED) {
                continue;
            }
            if event.intersects(State::UNKNOWN | State::UNAVAILABLE) {
                continue; // the reader is going away; the PnP rebuild reports it
            }
            let info = reader_info(i - 1, state);
            let before = self.known.iter().find(|r| r.name == info.name).cloned();
            match before {
                Some(b) if !b.card_present && info.card_present => {
                    events.push(ReaderEvent::CardInserted(info.clone()))
                }
                Some(b) if b.card_present && !info.card_present => {
                    events.push(ReaderEvent::CardRemoved(info.clone()))
                }
                Some(b) if b != info => events.push(ReaderEvent::Changed(info.clone())),
                _ => {}
            }
            if let Some(k) = self.known.iter_mut().find(|r| r.name == info.name) {
                *k = info;
            }
        }
        for s in &mut self.states {
            s.sync_current_state();
        }
        if readers_changed {
            self.rebuild(&mut events)?;
        }
        Ok(events)
    }

    /// Re-reads the reader list, reporting readers added and removed.
    fn rebuild(&mut self, events: &mut Vec<ReaderEvent>) -> Result<(), TransportError> {
        let names = reader_names(&self.ctx)?;
        let mut states = vec![ReaderState::new(pcsc::PNP_NOTIFICATION(), State::UNAWARE)];
        states.extend(names.iter().map(|n| ReaderState::new(n.clone(), State::UNAWARE)));
        if let Err(e) = self.ctx.get_status_change(Duration::ZERO, &mut states)
            && e != pcsc::Error::Timeout
        {
            return Err(map_error(e, ""));
        }
        let infos: Vec<ReaderInfo> = states[1..].iter().enumerate().map(|(i, s)| reader_info(i, s)).collect();
        for old in &self.known {
            if !infos.iter().any(|r| r.name == old.name) {
                events.push(ReaderEvent::ReaderRemoved { name: old.name.clone() });
            }
        }
        for info in &infos {
            let before = self.known.iter().find(|r| r.name == info.name);
            match before {
                None => {
                    events.push(ReaderEvent::ReaderAdded(info.clone()));
                    if info.card_present {
                        events.push(ReaderEvent::CardInserted(info.clone()));
                    }
                }
                Some(b) if !b.card_present && info.card_present => {
                    events.push(ReaderEvent::CardInserted(info.clone()))
                }
                Some(b) if b.card_present && !info.card_present => {
                    events.push(ReaderEvent::CardRemoved(info.clone()))
                }
                _ => {}
            }
        }
        for s in &mut states {
            s.sync_current_state();
        }
        self.states = states;
        self.known = infos;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(index: usize, name: &str, card: bool) -> ReaderInfo {
        ReaderInfo {
            index,
            name: name.into(),
            card_present: card,
            atr: card.then(|| vec![0x3B, 0x00]),
            exclusive: false,
            in_use: false,
            mute: false,
        }
    }

    fn two() -> Vec<ReaderInfo> {
        vec![reader(0, "Virtual PCD 00 00", true), reader(1, "Virtual PCD 00 01", false)]
    }

    #[test]
    fn readers_are_chosen_by_exact_name_index_or_unique_substring() {
        let r = two();
        assert_eq!(choose_reader(&r, Some("Virtual PCD 00 01")).unwrap().index, 1);
        assert_eq!(choose_reader(&r, Some("1")).unwrap().index, 1);
        assert_eq!(choose_reader(&r, Some("0")).unwrap().index, 0);
        assert_eq!(choose_reader(&r, Some("pcd 00 01")).unwrap().index, 1, "case-insensitive substring");
    }

    #[test]
    fn without_a_choice_the_only_reader_with_a_card_is_taken() {
        assert_eq!(choose_reader(&two(), None).unwrap().index, 0);
        let lone = vec![reader(0, "Lone Reader", false)];
        assert_eq!(choose_reader(&lone, None).unwrap().index, 0, "the only reader, card or not");
    }

    #[test]
    fn unclear_choices_are_errors_that_list_the_readers() {
        let r = two();
        let err = choose_reader(&r, Some("virtual")).unwrap_err();
        assert!(matches!(err, TransportError::AmbiguousReader { .. }), "{err}");
        assert!(err.to_string().contains("1: Virtual PCD 00 01"), "{err}");
        let err = choose_reader(&r, Some("7")).unwrap_err();
        assert!(matches!(err, TransportError::NoSuchReader { .. }), "{err}");
        let err = choose_reader(&r, Some("gemalto")).unwrap_err();
        assert!(err.to_string().contains("0: Virtual PCD 00 00"), "{err}");
        let empty = vec![reader(0, "A", false), reader(1, "B", false)];
        assert!(matches!(choose_reader(&empty, None).unwrap_err(), TransportError::NoCard { .. }));
        assert!(matches!(choose_reader(&[], None).unwrap_err(), TransportError::NoReaders));
    }

    #[test]
    fn pcsc_errors_become_sentences() {
        let msg = map_error(pcsc::Error::NoService, "").to_string();
        assert!(msg.contains("pcscd"), "{msg}");
        let msg = map_error(pcsc::Error::RemovedCard, "Virtual PCD 00 00").to_string();
        assert!(msg.contains("card was removed") && msg.contains("Virtual PCD 00 00"), "{msg}");
        let msg = map_error(pcsc::Error::SharingViolation, "R").to_string();
        assert!(msg.contains("sharing violation"), "{msg}");
        assert!(matches!(map_error(pcsc::Error::NoSmartcard, "R"), TransportError::NoCard { .. }));
    }
}
