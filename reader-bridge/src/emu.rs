//! The in-process transport: a card state file powered up inside the host (`-r emu:PATH`).
//!
//! The card is an [`applet::FileCard`]: it is locked while open (a second process gets an error
//! naming the first), every command that changes the card is saved before its response comes back,
//! and closing the transport releases the lock. No PC/SC, no sockets: for fast tests and for
//! scripting a card without a reader.

use std::path::Path;

use applet::{FileCard, apps};

use crate::transport::{ResetKind, Transport, TransportError};

/// A card state file, loaded and powered up in this process; saved as the card would save it.
#[derive(Debug)]
pub struct EmuTransport {
    card: FileCard,
    response: Vec<u8>,
}

fn card_error(e: applet::StateError) -> TransportError {
    TransportError::Other(e.to_string())
}

impl EmuTransport {
    /// Loads the card at `path` (with every applet class built into cardgate) and powers it up.
    pub fn open(path: &Path) -> Result<Self, TransportError> {
        let mut card = FileCard::open(path, apps::catalog()).map_err(card_error)?;
        card.card_mut().power_on();
        card.save_if_changed().map_err(card_error)?;
        Ok(EmuTransport { card, response: Vec::with_capacity(1024) })
    }

    /// The card behind the transport.
    pub fn card(&mut self) -> &mut FileCard {
        &mut self.card
    }
}

impl Transport for EmuTransport {
    fn name(&self) -> String {
        format!("emu:{}", self.card.path().display())
    }

    fn atr(&mut self) -> Result<Vec<u8>, TransportError> {
        Ok(self.card.card().atr().to_vec())
    }

    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.card.process_into(command, &mut self.response).map_err(card_error)?;
        Ok(self.response.clone())
    }

    fn reset(&mut self, kind: ResetKind) -> Result<Vec<u8>, TransportError> {
        let card = self.card.card_mut();
        match kind {
            ResetKind::Cold => {
                card.power_off();
                card.power_on();
            }
            ResetKind::Warm => card.reset(),
        }
        self.card.save_if_changed().map_err(card_error)?;
        Ok(self.card.card().atr().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    fn new_card(dir: &Path) -> std::path::PathBuf {
        let path = dir.join("card");
        let mut card = applet::Card::new(applet::CardConfig::default(), apps::catalog()).unwrap();
        card.install("diag", apps::diag::aid(), &[]).unwrap();
        card.set_default_applet(Some(apps::diag::aid())).unwrap();
        FileCard::create(&path, card).unwrap();
        path
    }

    #[test]
    fn transmits_resets_and_saves() {
        let dir = tempfile::tempdir().unwrap();
        let path = new_card(dir.path());
        let mut t = EmuTransport::open(&path).unwrap();
        assert_eq!(t.atr().unwrap(), applet::atr::Atr::for_card("cardgate").unwrap().as_bytes());
        assert_eq!(t.transmit(&h("80100000 02 CAFE 00")).unwrap(), h("CAFE 9000"));
        assert_eq!(t.transmit(&h("8022000004")).unwrap(), h("00000001 9000"));
        assert_eq!(t.transmit(&h("0020008104 31323334")).unwrap(), h("9000"));
        t.reset(ResetKind::Warm).unwrap();
        assert_eq!(t.transmit(&h("00200081")).unwrap(), h("63C3"), "the reset cleared the PIN's validation");
        drop(t);
        let mut t = EmuTransport::open(&path).unwrap();
        assert_eq!(t.transmit(&h("8020000004")).unwrap(), h("00000001 9000"), "the counter was saved");
        assert_eq!(t.name(), format!("emu:{}", path.display()));
    }

    #[test]
    fn a_card_in_use_is_refused_with_the_holder_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = new_card(dir.path());
        let _held = EmuTransport::open(&path).unwrap();
        let e = EmuTransport::open(&path).unwrap_err();
        assert!(e.to_string().contains("in use by another process"), "{e}");
    }

    #[test]
    fn a_missing_card_says_how_to_make_one() {
        let dir = tempfile::tempdir().unwrap();
        let e = EmuTransport::open(&dir.path().join("none")).unwrap_err();
        assert!(e.to_string().contains("cardgate card init"), "{e}");
    }
}
