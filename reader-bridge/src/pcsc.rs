//! The PC/SC transport: readers through pcscd.

use crate::transport::{ResetKind, Transport, TransportError};

/// A card in a PC/SC reader.
#[derive(Debug)]
pub struct PcscTransport {
    _private: (),
}

impl PcscTransport {
    /// Connects to the reader named by `reader` (exact name, substring or index).
    pub fn open(reader: Option<&str>) -> Result<Self, TransportError> {
        Err(TransportError::Other(format!("{reader:?}: the PC/SC transport is not built yet")))
    }
}

impl Transport for PcscTransport {
    fn name(&self) -> String {
        "pcsc".into()
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
