//! The in-process transport: a card state file powered up inside the host process (`-r emu:PATH`).

use std::path::Path;

use crate::transport::{ResetKind, Transport, TransportError};

/// A card state file, loaded and powered up in this process; saved as the card would save it.
#[derive(Debug)]
pub struct EmuTransport {
    _private: (),
}

impl EmuTransport {
    /// Loads the card at `path` and powers it up.
    pub fn open(path: &Path) -> Result<Self, TransportError> {
        Err(TransportError::Other(format!(
            "emu:{}: the in-process transport is not built yet",
            path.display()
        )))
    }
}

impl Transport for EmuTransport {
    fn name(&self) -> String {
        "emu".into()
    }
    fn atr(&mut self) -> Result<Vec<u8>, TransportError> {
        Err(TransportError::Other("not built yet".into()))
    }
    fn transmit(&mut self, _command: &[u8]) -> Result<Vec<u8>, TransportError> {
        Err(TransportError::Other("not built yet".into()))
    }
    fn reset(&mut self, _kind: ResetKind) -> Result<Vec<u8>, TransportError> {
        Err(TransportError::Other("not built yet".into()))
    }
}
