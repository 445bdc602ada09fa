//! The only crate that speaks wire protocols.
//!
//! - [`control`]: the control socket of a served card (eject, insert);
//! - [`atr`]: answer-to-reset decoding (ISO 7816-3 §8);
//! - [`transport`]: the host's [`Transport`] trait and the [`Exchanger`] that follows up `61xx`/`6Cxx`;
//! - [`emu`]: the in-process transport (`emu:PATH`), a card state file powered up inside the host;
//! - [`pcsc`]: PC/SC readers through pcscd (USB readers with real cards, and vpcd's virtual readers);
//! - [`vpcd`]: the card side: a [`vpcd::VirtualCard`] served to pcscd through vsmartcard's vpcd;
//! - [`dump`], [`record`], [`replay`]: recorded sessions (apdu4j's dump format), the wrapper that
//!   records one, and the transport that plays one back as a card (`replay:FILE`).
//!
//! [`open`] turns a reader argument (`-r`) into a transport.

pub mod atr;
#[cfg(unix)]
pub mod control;
pub mod dump;
pub mod emu;
pub mod pcsc;
pub mod record;
pub mod replay;
pub mod transport;
pub mod vpcd;

pub use transport::{
    Apdu, Exchange, ExchangeOptions, Exchanger, LongCommands, Outcome, Protocol, ResetKind, StatusError,
    Transport, TransportError,
};

/// Opens the reader a user named with `-r`: `emu:PATH` for an in-process card, `replay:FILE` for a
/// recorded session played back, otherwise a PC/SC reader by exact name, substring or index (`None`:
/// the only reader, or the only one with a card).
pub fn open(reader: Option<&str>) -> Result<Box<dyn Transport>, TransportError> {
    open_with(reader, pcsc::PcscOptions::default())
}

/// Like [`open`], with the PC/SC share mode and protocol (ignored for `emu:` and `replay:`).
pub fn open_with(
    reader: Option<&str>,
    options: pcsc::PcscOptions,
) -> Result<Box<dyn Transport>, TransportError> {
    if let Some(path) = reader.and_then(|r| r.strip_prefix("replay:")) {
        return Ok(Box::new(replay::ReplayTransport::open(std::path::Path::new(path))?));
    }
    match reader.and_then(|r| r.strip_prefix("emu:")) {
        Some(path) => Ok(Box::new(emu::EmuTransport::open(std::path::Path::new(path))?)),
        None => Ok(Box::new(pcsc::PcscTransport::open_with(reader, options)?)),
    }
}
