//! A recorded session played back as a card (`-r replay:FILE`, `cardgate run --replay FILE`): offline
//! tests with no reader at all.
//!
//! Strict, like apdu4j's `MockBIBO`: every command must be the next one recorded, byte for byte, and
//! every reset must be where a reset was recorded; anything else is an error that says what was
//! expected and what came instead.

use std::path::Path;

use crate::dump::{Dump, Event, hex};
use crate::transport::{Protocol, ResetKind, Transport, TransportError};

/// Plays a [`Dump`] back as a card.
#[derive(Debug, Clone)]
pub struct ReplayTransport {
    name: String,
    dump: Dump,
    next: usize,
    atr: Vec<u8>,
}

impl ReplayTransport {
    /// A card that answers as `dump` recorded. `name` is shown in messages.
    pub fn new(name: impl Into<String>, dump: Dump) -> Self {
        let atr = dump.atr.clone().unwrap_or_default();
        Self { name: name.into(), dump, next: 0, atr }
    }

    /// Reads the dump at `path`.
    pub fn open(path: &Path) -> Result<Self, TransportError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| TransportError::Other(format!("replay {}: {e}", path.display())))?;
        let dump = Dump::parse(&text)
            .map_err(|e| TransportError::Other(format!("replay {}: {e}", path.display())))?;
        Ok(Self::new(format!("replay:{}", path.display()), dump))
    }

    /// How many recorded events have not been played yet.
    pub fn remaining(&self) -> usize {
        self.dump.events.len() - self.next
    }

    fn mismatch(&self, wanted: &str) -> TransportError {
        let position = self.next + 1;
        let expected = match self.dump.events.get(self.next) {
            None => "the end of the recording".to_string(),
            Some(Event::Exchange { command, .. }) => format!("command {}", hex(command)),
            Some(Event::Reset { kind, .. }) => format!("a {} reset", kind_name(*kind)),
        };
        TransportError::Other(format!(
            "{}: event {position}: expected {expected} but got {wanted}",
            self.name
        ))
    }
}

fn kind_name(kind: ResetKind) -> &'static str {
    match kind {
        ResetKind::Cold => "cold",
        ResetKind::Warm => "warm",
    }
}

impl Transport for ReplayTransport {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn atr(&mut self) -> Result<Vec<u8>, TransportError> {
        Ok(self.atr.clone())
    }

    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        match self.dump.events.get(self.next) {
            Some(Event::Exchange { command: recorded, response, .. }) if recorded == command => {
                let response = response.clone();
                self.next += 1;
                Ok(response)
            }
            _ => Err(self.mismatch(&format!("command {}", hex(command)))),
        }
    }

    fn reset(&mut self, kind: ResetKind) -> Result<Vec<u8>, TransportError> {
        match self.dump.events.get(self.next) {
            Some(Event::Reset { kind: recorded, atr }) if *recorded == kind => {
                self.atr = atr.clone();
                self.next += 1;
                Ok(self.atr.clone())
            }
            _ => Err(self.mismatch(&format!("a {} reset", kind_name(kind)))),
        }
    }

    fn protocol(&self) -> Option<Protocol> {
        self.dump.protocol
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card() -> ReplayTransport {
        let text = "# ATR: 3B00\n# PROTOCOL: T=1\n#\n00A4040000\n9000\n# RESET warm\n# ATR: 3B01AA\n\
                    00B0000002\n01029000\n";
        ReplayTransport::new("replay:test", Dump::parse(text).unwrap())
    }

    #[test]
    fn answers_what_was_recorded_in_order() {
        let mut card = card();
        assert_eq!(card.atr().unwrap(), [0x3B, 0x00]);
        assert_eq!(card.protocol(), Some(Protocol::T1));
        assert_eq!(card.transmit(&[0x00, 0xA4, 0x04, 0x00, 0x00]).unwrap(), [0x90, 0x00]);
        assert_eq!(card.reset(ResetKind::Warm).unwrap(), [0x3B, 0x01, 0xAA]);
        assert_eq!(card.atr().unwrap(), [0x3B, 0x01, 0xAA]);
        assert_eq!(card.transmit(&[0x00, 0xB0, 0x00, 0x00, 0x02]).unwrap(), [0x01, 0x02, 0x90, 0x00]);
        assert_eq!(card.remaining(), 0);
    }

    #[test]
    fn a_different_command_says_what_was_expected() {
        let mut card = card();
        let err = card.transmit(&[0x00, 0xA4, 0x04, 0x00, 0x01]).unwrap_err().to_string();
        assert_eq!(err, "replay:test: event 1: expected command 00A4040000 but got command 00A4040001");
        // Nothing was consumed: the right command still works.
        assert!(card.transmit(&[0x00, 0xA4, 0x04, 0x00, 0x00]).is_ok());
        let err = card.reset(ResetKind::Cold).unwrap_err().to_string();
        assert!(err.contains("expected a warm reset but got a cold reset"), "{err}");
        card.reset(ResetKind::Warm).unwrap();
        card.transmit(&[0x00, 0xB0, 0x00, 0x00, 0x02]).unwrap();
        let err = card.transmit(&[0x00, 0xB0, 0x00, 0x00, 0x02]).unwrap_err().to_string();
        assert!(err.contains("expected the end of the recording"), "{err}");
    }
}
