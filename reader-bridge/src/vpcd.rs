//! The card side of vsmartcard's virtual reader driver **vpcd**: a [`VirtualCard`] served to pcscd.
//!
//! The card connects to vpcd (normal mode; `127.0.0.1:35963` is "Virtual PCD 00 00", `:35964` is
//! "Virtual PCD 00 01") and answers what vpcd sends. The protocol (vsmartcard `doc/api.txt`,
//! `vpcd.c` `sendToVICC`/`recvFromVICC`; measured in `shared/research/vsmartcard.md` §1):
//!
//! - every message, both ways, is a 2-byte big-endian length followed by that many bytes;
//! - a 1-byte message from vpcd is a control code: `00` power off, `01` power on, `02` reset (none of
//!   these gets a reply), `04` get ATR (reply: the ATR, in every power state: it is vpcd's presence poll,
//!   every 400 ms);
//! - anything longer is a C-APDU, answered with the R-APDU.
//!
//! Rules this module keeps, each of which breaks a real reader when ignored:
//! - the socket is parsed as a stream: several messages can arrive in one read (`00 01 02 00 01 04`);
//! - a reply goes out in one write (length and body together);
//! - a reply is never empty: vpcd would wait forever for its first byte and block the reader;
//! - `TCP_QUICKACK` is re-armed after every read, because Debian's vpcd sends the length and the body in
//!   two writes without `TCP_NODELAY`, and a delayed ACK then costs ~44 ms per message;
//! - APDUs are accepted without a prior power-on (Windows' BixVReader never sends one);
//! - power-off and reset end the card session ([`VirtualCard::power_off`] / [`VirtualCard::reset`]).
//!
//! [`serve`] runs the loop: connect (with backoff while pcscd is absent), answer, reconnect when vpcd
//! goes away, eject and insert on request ([`ServeHandle`]), and stop cleanly (finishing the message
//! in flight and flushing the card) when asked.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Where vpcd listens for the card in its first slot ("Virtual PCD 00 00").
pub const DEFAULT_ADDR: &str = "127.0.0.1:35963";
/// The longest ATR pcsc-lite accepts (`MAX_ATR_SIZE`, `pcsclite.h`).
pub const MAX_ATR_LEN: usize = 33;
/// The longest message the 2-byte length prefix can carry.
pub const MAX_MESSAGE_LEN: usize = 0xFFFF;

/// A card that can be put into vpcd's virtual reader.
///
/// The serve loop calls these from one thread, one at a time, in the order vpcd asks. It guarantees
/// that [`power_on`](Self::power_on) has been called before the first [`process`](Self::process) of a
/// session, even when vpcd itself sends APDUs without powering the card on.
pub trait VirtualCard {
    /// The answer to reset: at most [`MAX_ATR_LEN`] bytes, and it should advertise T=1
    /// (a T=0-only ATR makes T=1-only clients fail with `SCARD_E_PROTO_MISMATCH`).
    fn atr(&self) -> Vec<u8>;
    /// Cold start of a new session: default applet selected, transient memory clear.
    fn power_on(&mut self);
    /// End of the session: an open transaction is aborted, transient memory cleared, applets
    /// deselected.
    fn power_off(&mut self);
    /// Warm reset: ends the session like [`power_off`](Self::power_off) and starts a new one.
    fn reset(&mut self);
    /// Processes one C-APDU and returns the R-APDU (data, then SW1 SW2). Must not panic, whatever the
    /// bytes; must return at least the two status bytes.
    fn process(&mut self, command: &[u8]) -> Vec<u8>;
    /// Makes everything the card has answered so far durable (called when a session ends and before
    /// the serve loop returns). A card that writes before answering has nothing left to do here.
    fn flush(&mut self) -> Result<(), FlushError>;
}

impl<C: VirtualCard + ?Sized> VirtualCard for Box<C> {
    fn atr(&self) -> Vec<u8> {
        (**self).atr()
    }
    fn power_on(&mut self) {
        (**self).power_on()
    }
    fn power_off(&mut self) {
        (**self).power_off()
    }
    fn reset(&mut self) {
        (**self).reset()
    }
    fn process(&mut self, command: &[u8]) -> Vec<u8> {
        (**self).process(command)
    }
    fn flush(&mut self) -> Result<(), FlushError> {
        (**self).flush()
    }
}

/// A card could not save its state.
#[derive(Debug, thiserror::Error)]
#[error("could not save the card state: {0}")]
pub struct FlushError(pub String);

/// What the serve loop cannot recover from.
#[derive(Debug, thiserror::Error)]
pub enum VpcdError {
    /// The `--vpcd` address does not name a host and port.
    #[error("bad vpcd address {addr:?}: {reason} (expected HOST:PORT, e.g. {DEFAULT_ADDR})")]
    BadAddress {
        /// What was given.
        addr: String,
        /// Why it did not resolve.
        reason: String,
    },
    /// The card's ATR cannot be put into a reader.
    #[error("the card's ATR is {0} bytes; a reader takes 1 to {MAX_ATR_LEN} bytes (pcsc-lite MAX_ATR_SIZE)")]
    BadAtr(usize),
    /// Saving the card state failed at the end.
    #[error(transparent)]
    Flush(#[from] FlushError),
}

/// One of vpcd's control codes (a 1-byte message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// `00`: power the card off. No reply.
    PowerOff,
    /// `01`: power the card on (cold reset). No reply.
    PowerOn,
    /// `02`: warm reset. No reply.
    Reset,
    /// `04`: send the ATR. Replied to in every power state.
    GetAtr,
}

impl Control {
    /// The control code for a byte, if it is one vpcd defines (`vpcd.h` `VPCD_CTRL_*`).
    pub fn from_code(code: u8) -> Option<Control> {
        match code {
            0x00 => Some(Control::PowerOff),
            0x01 => Some(Control::PowerOn),
            0x02 => Some(Control::Reset),
            0x04 => Some(Control::GetAtr),
            _ => None,
        }
    }

    /// The byte vpcd sends for this code.
    pub fn code(self) -> u8 {
        match self {
            Control::PowerOff => 0x00,
            Control::PowerOn => 0x01,
            Control::Reset => 0x02,
            Control::GetAtr => 0x04,
        }
    }
}

/// Splits a byte stream from vpcd into messages (2-byte big-endian length, then the payload).
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
}

impl FrameReader {
    /// An empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes as they came off the socket.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message, if one has arrived in full.
    pub fn next_frame(&mut self) -> Option<Vec<u8>> {
        let len = usize::from(u16::from_be_bytes([*self.buf.first()?, *self.buf.get(1)?]));
        if self.buf.len() < 2 + len {
            return None;
        }
        let payload = self.buf[2..2 + len].to_vec();
        self.buf.drain(..2 + len);
        Some(payload)
    }

    /// Bytes received that do not yet form a whole message.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// Frames a payload for the wire: length and body in one buffer, so that it goes out in one write.
///
/// Returns `None` for an empty payload (which would block vpcd's reader) or one longer than
/// [`MAX_MESSAGE_LEN`].
pub fn frame(payload: &[u8]) -> Option<Vec<u8>> {
    if payload.is_empty() {
        return None;
    }
    let len = u16::try_from(payload.len()).ok()?;
    let mut out = Vec::with_capacity(2 + payload.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    Some(out)
}

/// A card in the reader, and what vpcd has done to it: turns vpcd messages into card calls and replies.
///
/// Socket-free, so that the protocol can be tested byte for byte.
#[derive(Debug)]
pub struct Session<C> {
    card: C,
    powered: bool,
}

/// SW `6F00` (ISO 7816-4 §5.6: no precise diagnosis), sent in place of an R-APDU the card got wrong.
const SW_NO_DIAGNOSIS: [u8; 2] = applet::sw::UNKNOWN.to_be_bytes();
/// SW `6700` (ISO 7816-4 §5.6: wrong length), for a command shorter than its header.
const SW_WRONG_LENGTH: [u8; 2] = applet::sw::WRONG_LENGTH.to_be_bytes();

impl<C: VirtualCard> Session<C> {
    /// A card just put into the reader, not powered.
    pub fn new(card: C) -> Self {
        Self { card, powered: false }
    }

    /// The card.
    pub fn card(&mut self) -> &mut C {
        &mut self.card
    }

    /// Takes the card out.
    pub fn into_card(self) -> C {
        self.card
    }

    /// Whether a session is open (powered on, explicitly or by an APDU).
    pub fn powered(&self) -> bool {
        self.powered
    }

    /// Handles one message from vpcd and returns the reply payload, if the message gets one.
    /// A returned reply is never empty and never longer than [`MAX_MESSAGE_LEN`].
    pub fn handle(&mut self, message: &[u8]) -> Option<Vec<u8>> {
        match message {
            [] => {
                // Only an empty C-APDU from a PC/SC client comes as an empty message, and vpcd waits
                // for its answer: unanswered, the reader would hang (ISO 7816-4 §5.6: wrong length).
                tracing::warn!("vpcd sent an empty message: an empty command; answering 6700");
                Some(SW_WRONG_LENGTH.to_vec())
            }
            [code] => match Control::from_code(*code) {
                Some(control) => self.control(control),
                None => {
                    // vpcd frames a 1-byte C-APDU from a PC/SC client exactly like a control code,
                    // then waits for its answer: left unanswered, the reader would hang until the
                    // card reconnects. A command shorter than its 4-byte header is a wrong length
                    // (ISO 7816-4 §5.1, §5.6). (00, 01, 02 and 04 cannot be told apart from
                    // controls; SECURITY.md names that limit of the protocol.)
                    tracing::warn!(
                        "vpcd sent the 1-byte message {code:02X}: a 1-byte command; answering 6700"
                    );
                    Some(SW_WRONG_LENGTH.to_vec())
                }
            },
            command => Some(self.apdu(command)),
        }
    }

    fn control(&mut self, control: Control) -> Option<Vec<u8>> {
        tracing::trace!(?control, "vpcd control");
        match control {
            Control::PowerOff => {
                self.end_session();
                None
            }
            Control::PowerOn => {
                // A cold start ends whatever session was open (vpcd never powers on twice, but a
                // reconnecting pcscd may).
                self.end_session();
                self.card.power_on();
                self.powered = true;
                None
            }
            Control::Reset => {
                if self.powered {
                    self.card.reset();
                } else {
                    self.card.power_on();
                }
                self.powered = true;
                None
            }
            Control::GetAtr => {
                let atr = self.card.atr();
                if atr.is_empty() || atr.len() > MAX_ATR_LEN {
                    // An empty reply blocks the reader; an oversized one makes pcscd refuse the card.
                    // `serve` checks the ATR up front, so this is a card that changed its mind.
                    tracing::error!(len = atr.len(), "the card's ATR cannot be sent; sending 3B 00");
                    return Some(vec![0x3B, 0x00]);
                }
                Some(atr)
            }
        }
    }

    fn apdu(&mut self, command: &[u8]) -> Vec<u8> {
        if !self.powered {
            // vpcd (and BixVReader on Windows) may send APDUs without POWER_ON.
            tracing::debug!("APDU before power-on: powering the card on");
            self.card.power_on();
            self.powered = true;
        }
        let response = self.card.process(command);
        if response.len() < 2 || response.len() > MAX_MESSAGE_LEN {
            tracing::error!(
                len = response.len(),
                "the card answered a response vpcd cannot carry; sending 6F00"
            );
            return SW_NO_DIAGNOSIS.to_vec();
        }
        response
    }

    /// Ends the open session, if any (power off; vpcd gone; card ejected; serve loop stopping).
    pub fn end_session(&mut self) {
        if self.powered {
            self.card.power_off();
            self.powered = false;
        }
    }
}

/// How [`serve`] connects and behaves.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// vpcd's address, `HOST:PORT` (35963 is the first slot, 35964 the second).
    pub addr: String,
    /// Re-arm `TCP_QUICKACK` after every read. Only switched off to measure what it saves.
    pub quickack: bool,
    /// How often, while idle, the loop looks at stop/eject requests.
    pub poll: Duration,
    /// First wait before reconnecting when vpcd is unreachable; doubles up to `backoff_max`.
    pub backoff_min: Duration,
    /// Longest wait between two connection attempts.
    pub backoff_max: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            addr: DEFAULT_ADDR.into(),
            quickack: true,
            poll: Duration::from_millis(100),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(2),
        }
    }
}

/// Where the card is, as the serve loop last saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardState {
    /// Trying to reach vpcd (pcscd not running, or restarting).
    Connecting,
    /// Connected to vpcd, waiting for pcscd to power the card up.
    Connected,
    /// In the reader: pcscd has read the ATR and powered the card, clients can connect.
    InReader,
    /// Taken out on request ([`ServeHandle::eject`]); the process keeps running.
    Ejected,
    /// The loop has returned.
    Stopped,
}

/// What happened, for logs and the ready file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// vpcd is not reachable; the next attempt is in `retry_in`.
    Unreachable {
        /// The address tried.
        addr: String,
        /// The connection error.
        error: String,
        /// Time to the next attempt.
        retry_in: Duration,
        /// How many attempts failed in a row.
        attempt: u32,
    },
    /// Connected to vpcd.
    Connected {
        /// vpcd's address.
        addr: String,
    },
    /// pcscd has powered the card up: it is in the reader and clients can use it.
    Ready,
    /// The connection to vpcd ended (pcscd stopped, or vpcd dropped the card).
    Disconnected {
        /// Why.
        reason: String,
    },
    /// The card was taken out of the reader on request.
    Ejected,
    /// The card was put back (a connection attempt follows).
    Inserted,
    /// The loop is stopping (after the message in flight).
    Stopping,
}

/// Shared switches between a running [`serve`] loop and other threads (signal handlers, the control
/// socket): stop, eject, insert, and the loop's current [`CardState`].
#[derive(Debug)]
pub struct ServeHandle {
    stop: Arc<AtomicBool>,
    inserted: AtomicBool,
    state: Mutex<CardState>,
    changed: Condvar,
}

impl Default for ServeHandle {
    fn default() -> Self {
        Self::new()
    }
}

impl ServeHandle {
    /// A handle for a loop that starts with the card inserted.
    pub fn new() -> Self {
        Self {
            stop: Arc::new(AtomicBool::new(false)),
            inserted: AtomicBool::new(true),
            state: Mutex::new(CardState::Connecting),
            changed: Condvar::new(),
        }
    }

    /// Asks the loop to stop after the message in flight.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.changed.notify_all();
    }

    /// Whether a stop was asked for.
    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Asks the loop to take the card out of the reader (after the message in flight).
    pub fn eject(&self) {
        self.inserted.store(false, Ordering::SeqCst);
        self.changed.notify_all();
    }

    /// Asks the loop to put the card back.
    pub fn insert(&self) {
        self.inserted.store(true, Ordering::SeqCst);
        self.changed.notify_all();
    }

    /// Whether the card should be in the reader.
    pub fn insert_requested(&self) -> bool {
        self.inserted.load(Ordering::SeqCst)
    }

    /// The loop's current state.
    pub fn state(&self) -> CardState {
        *lock(&self.state)
    }

    /// Waits until `done(state)` holds or `timeout` passes; returns the last state seen.
    pub fn wait_for(&self, timeout: Duration, done: impl Fn(CardState) -> bool) -> CardState {
        let deadline = Instant::now() + timeout;
        let mut state = lock(&self.state);
        while !done(*state) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = self.changed.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        *state
    }

    fn set_state(&self, state: CardState) {
        *lock(&self.state) = state;
        self.changed.notify_all();
    }

    /// The stop switch itself, for a signal handler to set (`signal_hook::flag::register`). Setting
    /// it stops the loop like [`stop`](Self::stop), within one poll interval.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// Sleeps up to `duration`, waking early on stop, eject or insert requests; a stop set from a
    /// signal handler (which cannot notify) is seen within `slice`.
    fn nap(&self, duration: Duration, slice: Duration) {
        let deadline = Instant::now() + duration;
        let inserted = self.insert_requested();
        while !self.stop_requested() && self.insert_requested() == inserted {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let state = lock(&self.state);
            let _unused =
                self.changed.wait_timeout(state, left.min(slice)).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Serves `card` to vpcd until [`ServeHandle::stop`] is called, then ends the session, flushes the card
/// and returns.
///
/// Never gives up on vpcd: while it is unreachable the loop retries with backoff (reporting
/// [`Event::Unreachable`]), and when the connection drops it reconnects.
pub fn serve<C: VirtualCard>(
    card: C,
    options: &ServeOptions,
    handle: &ServeHandle,
    mut on_event: impl FnMut(&Event),
) -> Result<C, VpcdError> {
    let atr = card.atr();
    if atr.is_empty() || atr.len() > MAX_ATR_LEN {
        return Err(VpcdError::BadAtr(atr.len()));
    }
    let addr = resolve(&options.addr)?;
    let mut session = Session::new(card);
    let mut backoff = options.backoff_min;
    let mut attempt = 0u32;
    let mut was_ejected = false;

    while !handle.stop_requested() {
        if !handle.insert_requested() {
            if !was_ejected {
                handle.set_state(CardState::Ejected);
                on_event(&Event::Ejected);
                was_ejected = true;
            }
            handle.nap(options.poll, options.poll);
            continue;
        }
        if was_ejected {
            was_ejected = false;
            on_event(&Event::Inserted);
        }
        handle.set_state(CardState::Connecting);
        let stream = match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(stream) => stream,
            Err(err) => {
                attempt += 1;
                on_event(&Event::Unreachable {
                    addr: options.addr.clone(),
                    error: err.to_string(),
                    retry_in: backoff,
                    attempt,
                });
                handle.nap(backoff, options.poll);
                backoff = (backoff * 2).min(options.backoff_max);
                continue;
            }
        };
        attempt = 0;
        backoff = options.backoff_min;
        handle.set_state(CardState::Connected);
        on_event(&Event::Connected { addr: options.addr.clone() });
        let end = run_connection(stream, &mut session, options, handle, &mut on_event);
        // Whatever ended the connection ends the card session (vpcd reads a closed socket as removal).
        session.end_session();
        if let Err(err) = session.card().flush() {
            tracing::error!("{err}");
        }
        match end {
            ConnectionEnd::Stop => {}
            ConnectionEnd::Eject => {}
            ConnectionEnd::Lost(reason) => on_event(&Event::Disconnected { reason }),
        }
    }
    on_event(&Event::Stopping);
    session.end_session();
    let result = session.card().flush();
    handle.set_state(CardState::Stopped);
    result?;
    Ok(session.into_card())
}

enum ConnectionEnd {
    Stop,
    Eject,
    Lost(String),
}

fn run_connection<C: VirtualCard>(
    stream: TcpStream,
    session: &mut Session<C>,
    options: &ServeOptions,
    handle: &ServeHandle,
    on_event: &mut impl FnMut(&Event),
) -> ConnectionEnd {
    let setup = stream.set_nodelay(true).and_then(|()| stream.set_read_timeout(Some(options.poll)));
    if let Err(err) = setup {
        return ConnectionEnd::Lost(format!("socket setup failed: {err}"));
    }
    let sock = socket2::SockRef::from(&stream);
    let mut frames = FrameReader::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut ready = false;
    let mut atr_polls = 0u32;
    let mut powered_since_connect = false;
    loop {
        while let Some(message) = frames.next_frame() {
            let control = match message.as_slice() {
                [code] => Control::from_code(*code),
                _ => None,
            };
            let reply = session.handle(&message);
            if let Some(reply) = reply {
                let Some(bytes) = frame(&reply) else {
                    // `Session::handle` never returns an empty or oversized reply.
                    return ConnectionEnd::Lost("internal error: unframeable reply".into());
                };
                if let Err(err) = (&stream).write_all(&bytes) {
                    return ConnectionEnd::Lost(format!("write to vpcd failed: {err}"));
                }
            }
            match control {
                Some(Control::PowerOn | Control::Reset) => powered_since_connect = true,
                Some(Control::GetAtr) => atr_polls += 1,
                _ => {}
            }
            // pcscd reads the ATR when the card appears, then powers it up (POWER_ON + GET_ATR) and
            // only then shows it to clients. With a pcscd that does not power up, a second presence
            // poll (400 ms later) means it has taken the first one.
            if !ready && control == Some(Control::GetAtr) && (powered_since_connect || atr_polls >= 2) {
                ready = true;
                handle.set_state(CardState::InReader);
                on_event(&Event::Ready);
            }
        }
        if handle.stop_requested() {
            return ConnectionEnd::Stop;
        }
        if !handle.insert_requested() {
            return ConnectionEnd::Eject;
        }
        match (&stream).read(&mut buf) {
            Ok(0) => return ConnectionEnd::Lost("vpcd closed the connection".into()),
            Ok(n) => {
                if options.quickack {
                    // TCP_QUICKACK is not sticky: the kernel drops back to delayed ACKs, so re-arm it
                    // after every read (vsmartcard.md §1.5).
                    if let Err(err) = set_quickack(&sock) {
                        tracing::debug!("TCP_QUICKACK: {err}");
                    }
                }
                frames.push(&buf[..n]);
            }
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                ) => {}
            Err(err) => return ConnectionEnd::Lost(format!("read from vpcd failed: {err}")),
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn set_quickack(sock: &socket2::SockRef<'_>) -> io::Result<()> {
    sock.set_tcp_quickack(true)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn set_quickack(_sock: &socket2::SockRef<'_>) -> io::Result<()> {
    Ok(())
}

fn resolve(addr: &str) -> Result<SocketAddr, VpcdError> {
    let bad = |reason: String| VpcdError::BadAddress { addr: addr.into(), reason };
    addr.to_socket_addrs()
        .map_err(|e| bad(e.to_string()))?
        .next()
        .ok_or_else(|| bad("the name resolves to no address".into()))
}

/// The card runtime's file-backed card, served as it is: every command that changes it is saved
/// before its answer leaves ([`applet::FileCard::process`]), so a `kill -9` loses nothing answered.
impl VirtualCard for applet::FileCard {
    fn atr(&self) -> Vec<u8> {
        self.card().atr().to_vec()
    }
    fn power_on(&mut self) {
        self.card_mut().power_on();
        save_logged(self);
    }
    fn power_off(&mut self) {
        // Aborts an open transaction and clears transient memory (the runtime's power_off).
        self.card_mut().power_off();
        save_logged(self);
    }
    fn reset(&mut self) {
        self.card_mut().reset();
        save_logged(self);
    }
    fn process(&mut self, command: &[u8]) -> Vec<u8> {
        match applet::FileCard::process(self, command) {
            Ok(response) => response,
            Err(err) => {
                // The state could not be saved: the answer is withheld and the card refuses
                // everything from now on (it is ahead of its file). 6581: memory failure.
                tracing::error!("{err}");
                applet::sw::MEMORY_FAILURE.to_be_bytes().to_vec()
            }
        }
    }
    fn flush(&mut self) -> Result<(), FlushError> {
        self.save_if_changed().map(|_| ()).map_err(|e| FlushError(e.to_string()))
    }
}

fn save_logged(card: &mut applet::FileCard) {
    if let Err(err) = card.save_if_changed() {
        tracing::error!("{err}");
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    /// Records every call; echoes APDU data back with 9000.
    #[derive(Debug, Default)]
    struct Recorder {
        calls: Vec<String>,
        flushed: usize,
    }

    impl VirtualCard for Recorder {
        fn atr(&self) -> Vec<u8> {
            vec![0x3B, 0x80, 0x80, 0x01, 0x01]
        }
        fn power_on(&mut self) {
            self.calls.push("on".into());
        }
        fn power_off(&mut self) {
            self.calls.push("off".into());
        }
        fn reset(&mut self) {
            self.calls.push("reset".into());
        }
        fn process(&mut self, command: &[u8]) -> Vec<u8> {
            self.calls.push(format!("apdu {}", hex::encode(command)));
            match command.get(1) {
                Some(0xEE) => vec![],
                Some(0xEF) => vec![0; MAX_MESSAGE_LEN + 1],
                _ => {
                    let mut out = command.get(5..).unwrap_or_default().to_vec();
                    out.extend_from_slice(&[0x90, 0x00]);
                    out
                }
            }
        }
        fn flush(&mut self) -> Result<(), FlushError> {
            self.flushed += 1;
            Ok(())
        }
    }

    #[test]
    fn frames_split_and_joined_across_reads_are_reassembled() {
        let mut r = FrameReader::new();
        // Windows' BixVReader sends RESET and GET ATR in one segment; then an APDU in three pieces.
        r.push(&[0x00, 0x01, 0x02, 0x00, 0x01, 0x04, 0x00]);
        assert_eq!(r.next_frame(), Some(vec![0x02]));
        assert_eq!(r.next_frame(), Some(vec![0x04]));
        assert_eq!(r.next_frame(), None);
        r.push(&[0x05, 0x00, 0xA4]);
        assert_eq!(r.next_frame(), None);
        r.push(&[0x04, 0x00, 0x00]);
        assert_eq!(r.next_frame(), Some(vec![0x00, 0xA4, 0x04, 0x00, 0x00]));
        assert_eq!(r.pending(), 0);
    }

    proptest::proptest! {
        /// However the kernel splits the stream, the same messages come out, in order.
        #[test]
        fn any_split_of_a_stream_yields_the_same_messages(
            payloads in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 1..300), 1..12),
            cuts in proptest::collection::vec(1usize..64, 1..40),
        ) {
            let stream: Vec<u8> = payloads.iter().flat_map(|p| frame(p).unwrap()).collect();
            let mut reader = FrameReader::new();
            let mut out = Vec::new();
            let mut rest = stream.as_slice();
            for cut in cuts.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (now, later) = rest.split_at((*cut).min(rest.len()));
                reader.push(now);
                while let Some(m) = reader.next_frame() {
                    out.push(m);
                }
                rest = later;
            }
            proptest::prop_assert_eq!(out, payloads);
            proptest::prop_assert_eq!(reader.pending(), 0);
        }

        /// Whatever vpcd sends, the session answers with something vpcd can carry, or nothing for
        /// control codes; it never panics.
        #[test]
        fn every_message_gets_a_well_formed_answer(message in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let mut s = Session::new(Recorder::default());
            match s.handle(&message) {
                Some(reply) => proptest::prop_assert!(frame(&reply).is_some()),
                None => proptest::prop_assert!(matches!(message.as_slice(), [0x00] | [0x01] | [0x02])),
            }
        }
    }

    #[test]
    fn frame_refuses_empty_and_oversized_payloads() {
        assert_eq!(frame(&[]), None);
        assert_eq!(frame(&vec![0; MAX_MESSAGE_LEN + 1]), None);
        assert_eq!(frame(&[0x90, 0x00]), Some(vec![0x00, 0x02, 0x90, 0x00]));
        assert_eq!(frame(&vec![7; MAX_MESSAGE_LEN]).map(|f| f[..2].to_vec()), Some(vec![0xFF, 0xFF]));
    }

    #[test]
    fn get_atr_is_answered_in_every_power_state_and_controls_get_no_reply() {
        let mut s = Session::new(Recorder::default());
        let atr = s.card().atr();
        assert_eq!(s.handle(&[0x04]), Some(atr.clone()), "unpowered");
        assert_eq!(s.handle(&[0x01]), None, "power on");
        assert_eq!(s.handle(&[0x04]), Some(atr.clone()), "powered");
        assert_eq!(s.handle(&[0x02]), None, "reset");
        assert_eq!(s.handle(&[0x00]), None, "power off");
        assert_eq!(s.handle(&[0x04]), Some(atr), "off again");
        assert_eq!(s.handle(&[0x03]), Some(vec![0x67, 0x00]), "not a control: a 1-byte command, answered");
        assert_eq!(s.handle(&[0x49]), Some(vec![0x67, 0x00]));
        assert_eq!(s.handle(&[]), Some(vec![0x67, 0x00]), "an empty command, answered");
        assert_eq!(s.card().calls, ["on", "reset", "off"]);
    }

    #[test]
    fn an_apdu_without_power_on_opens_a_session_first() {
        let mut s = Session::new(Recorder::default());
        assert_eq!(s.handle(&[0x00, 0xEC, 0x00, 0x00, 0x01, 0xAB]), Some(vec![0xAB, 0x90, 0x00]));
        assert!(s.powered());
        assert_eq!(s.card().calls, ["on", "apdu 00ec000001ab"]);
        s.handle(&[0x00]);
        assert_eq!(s.card().calls.last().map(String::as_str), Some("off"));
    }

    #[test]
    fn a_card_reply_that_cannot_be_framed_becomes_6f00() {
        let mut s = Session::new(Recorder::default());
        assert_eq!(s.handle(&[0x00, 0xEE, 0x00, 0x00]), Some(vec![0x6F, 0x00]), "empty reply");
        assert_eq!(s.handle(&[0x00, 0xEF, 0x00, 0x00]), Some(vec![0x6F, 0x00]), "oversized reply");
    }

    /// A vpcd stand-in: accepts the card and speaks the protocol byte for byte.
    fn fake_vpcd() -> (TcpListener, String) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        (listener, addr)
    }

    fn read_frame(s: &mut TcpStream) -> Vec<u8> {
        let mut len = [0u8; 2];
        s.read_exact(&mut len).unwrap();
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        s.read_exact(&mut body).unwrap();
        body
    }

    fn options(addr: String) -> ServeOptions {
        ServeOptions {
            addr,
            poll: Duration::from_millis(20),
            backoff_min: Duration::from_millis(10),
            backoff_max: Duration::from_millis(50),
            ..ServeOptions::default()
        }
    }

    /// [`serve`] with a recording card on its own thread, towards `addr`: the handle that steers it,
    /// and the thread, which gives back the card and every event once serving stops.
    fn spawn_serve(addr: String) -> (Arc<ServeHandle>, std::thread::JoinHandle<(Recorder, Vec<Event>)>) {
        let handle = Arc::new(ServeHandle::new());
        let h = Arc::clone(&handle);
        let opts = options(addr);
        let card = std::thread::spawn(move || {
            let mut events = Vec::new();
            let card = serve(Recorder::default(), &opts, &h, |e| events.push(e.clone())).unwrap();
            (card, events)
        });
        (handle, card)
    }

    #[test]
    fn serve_speaks_the_protocol_over_tcp_and_stops_cleanly() {
        let (listener, addr) = fake_vpcd();
        let (handle, card) = spawn_serve(addr);
        let (mut vpcd, _) = listener.accept().unwrap();
        // Several messages in one write: GET ATR, POWER ON, GET ATR, then an APDU.
        vpcd.write_all(&[0x00, 0x01, 0x04, 0x00, 0x01, 0x01, 0x00, 0x01, 0x04]).unwrap();
        let atr = vec![0x3B, 0x80, 0x80, 0x01, 0x01];
        assert_eq!(read_frame(&mut vpcd), atr);
        assert_eq!(read_frame(&mut vpcd), atr);
        assert_eq!(
            handle.wait_for(Duration::from_secs(5), |s| s == CardState::InReader),
            CardState::InReader
        );
        vpcd.write_all(&[0x00, 0x07, 0x00, 0xEC, 0x00, 0x00, 0x02, 0xCA, 0xFE]).unwrap();
        assert_eq!(read_frame(&mut vpcd), [0xCA, 0xFE, 0x90, 0x00]);
        handle.stop();
        let (card, events) = card.join().unwrap();
        assert_eq!(card.calls, ["on", "apdu 00ec000002cafe", "off"]);
        assert!(card.flushed >= 1, "flushed before returning");
        assert!(events.contains(&Event::Ready));
        assert_eq!(events.last(), Some(&Event::Stopping));
        // The card closed its socket: vpcd sees the card removed.
        let mut rest = Vec::new();
        assert_eq!(vpcd.read_to_end(&mut rest).unwrap(), 0);
    }

    #[test]
    fn serve_reconnects_after_vpcd_drops_it_and_ejects_on_request() {
        let (listener, addr) = fake_vpcd();
        let (handle, card) = spawn_serve(addr);
        let (mut first, _) = listener.accept().unwrap();
        first.write_all(&[0x00, 0x01, 0x01, 0x00, 0x01, 0x04]).unwrap();
        read_frame(&mut first);
        drop(first); // pcscd restarts
        let (mut second, _) = listener.accept().unwrap();
        second.write_all(&[0x00, 0x01, 0x04]).unwrap();
        assert_eq!(read_frame(&mut second).len(), 5);
        handle.eject();
        assert_eq!(handle.wait_for(Duration::from_secs(5), |s| s == CardState::Ejected), CardState::Ejected);
        let mut rest = Vec::new();
        assert_eq!(second.read_to_end(&mut rest).unwrap(), 0, "ejecting closes the connection");
        handle.insert();
        let (mut third, _) = listener.accept().unwrap();
        third.write_all(&[0x00, 0x01, 0x04]).unwrap();
        assert_eq!(read_frame(&mut third).len(), 5);
        handle.stop();
        let (_, events) = card.join().unwrap();
        let names: Vec<&str> = events
            .iter()
            .map(|e| match e {
                Event::Unreachable { .. } => "unreachable",
                Event::Connected { .. } => "connected",
                Event::Ready => "ready",
                Event::Disconnected { .. } => "disconnected",
                Event::Ejected => "ejected",
                Event::Inserted => "inserted",
                Event::Stopping => "stopping",
            })
            .collect();
        assert_eq!(
            names,
            [
                "connected",
                "ready",
                "disconnected",
                "connected",
                "ejected",
                "inserted",
                "connected",
                "stopping"
            ]
        );
    }

    #[test]
    fn serve_retries_while_vpcd_is_absent() {
        // Reserve a port, then free it so nothing listens there.
        let (listener, addr) = fake_vpcd();
        drop(listener);
        let handle = Arc::new(ServeHandle::new());
        let h = Arc::clone(&handle);
        let opts = options(addr.clone());
        let card = std::thread::spawn(move || {
            let mut failures = 0;
            serve(Recorder::default(), &opts, &h, |e| {
                if let Event::Unreachable { attempt, .. } = e {
                    failures = *attempt;
                    if failures == 3 {
                        h.stop();
                    }
                }
            })
            .unwrap();
            failures
        });
        assert_eq!(card.join().unwrap(), 3);
    }

    #[test]
    fn an_atr_too_long_for_a_reader_is_refused_up_front() {
        #[derive(Debug)]
        struct Long;
        impl VirtualCard for Long {
            fn atr(&self) -> Vec<u8> {
                vec![0x3B; 34]
            }
            fn power_on(&mut self) {}
            fn power_off(&mut self) {}
            fn reset(&mut self) {}
            fn process(&mut self, _: &[u8]) -> Vec<u8> {
                vec![0x90, 0x00]
            }
            fn flush(&mut self) -> Result<(), FlushError> {
                Ok(())
            }
        }
        let err = serve(Long, &ServeOptions::default(), &ServeHandle::new(), |_| {}).unwrap_err();
        assert!(matches!(err, VpcdError::BadAtr(34)), "{err}");
    }
}
