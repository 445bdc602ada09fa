//! Recording a session (`cardgate run --record FILE`): a [`Transport`] wrapper that writes every
//! physical exchange and reset in the [`dump`](crate::dump) format as it happens.

use std::io::Write;
use std::time::Instant;

use crate::dump::{Dump, Event, hex};
use crate::transport::{Protocol, ResetKind, Transport, TransportError};

/// Wraps a transport and writes what goes through it to `out` (apdu4j's dump format).
///
/// Write errors do not interrupt the session; the first one is kept and returned by
/// [`Recorder::finish`], so a full disk shows up as an error rather than a silently short file.
#[derive(Debug)]
pub struct Recorder<T, W: Write> {
    inner: T,
    out: W,
    failed: Option<std::io::Error>,
}

impl<T: Transport, W: Write> Recorder<T, W> {
    /// Starts a recording: reads the card's ATR and writes the header.
    pub fn new(mut inner: T, out: W) -> Result<Self, TransportError> {
        let atr = inner.atr()?;
        let protocol = inner.protocol().or_else(|| Protocol::from_atr(&atr));
        let mut recorder = Self { inner, out, failed: None };
        recorder.write(&Dump::header(Some(&atr), protocol));
        Ok(recorder)
    }

    fn write(&mut self, text: &str) {
        if self.failed.is_none()
            && let Err(e) = self.out.write_all(text.as_bytes())
        {
            self.failed = Some(e);
        }
    }

    /// Ends the recording: flushes, and returns the transport and the writer, or the first write error.
    pub fn finish(mut self) -> std::io::Result<(T, W)> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok((self.inner, self.out))
    }

    /// The wrapped transport.
    pub fn inner(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: Transport, W: Write> Transport for Recorder<T, W> {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn atr(&mut self) -> Result<Vec<u8>, TransportError> {
        self.inner.atr()
    }

    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        let start = Instant::now();
        match self.inner.transmit(command) {
            Ok(response) => {
                let event = Event::Exchange {
                    command: command.to_vec(),
                    response: response.clone(),
                    elapsed: Some(start.elapsed()),
                };
                self.write(&Dump::event_lines(&event));
                Ok(response)
            }
            Err(e) => {
                // A comment, not a hex line: an unpaired command would make the dump unreadable.
                let line = format!("# FAILED {}: {}\n", hex(command), e.to_string().replace('\n', " "));
                self.write(&line);
                Err(e)
            }
        }
    }

    fn reset(&mut self, kind: ResetKind) -> Result<Vec<u8>, TransportError> {
        let atr = self.inner.reset(kind)?;
        self.write(&Dump::event_lines(&Event::Reset { kind, atr: atr.clone() }));
        Ok(atr)
    }

    fn protocol(&self) -> Option<Protocol> {
        self.inner.protocol()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::ReplayTransport;

    /// A card that answers `9000` with the command's P2 as data, and fails on INS FF.
    #[derive(Debug)]
    struct EchoP2;

    impl Transport for EchoP2 {
        fn name(&self) -> String {
            "echo".into()
        }
        fn atr(&mut self) -> Result<Vec<u8>, TransportError> {
            Ok(vec![0x3B, 0x80, 0x01, 0x81])
        }
        fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
            if command[1] == 0xFF {
                return Err(TransportError::Other("link down".into()));
            }
            Ok(vec![command[3], 0x90, 0x00])
        }
        fn reset(&mut self, _: ResetKind) -> Result<Vec<u8>, TransportError> {
            Ok(vec![0x3B, 0x00])
        }
    }

    #[test]
    fn a_recording_replays_as_the_same_card() {
        let mut rec = Recorder::new(EchoP2, Vec::new()).unwrap();
        assert_eq!(rec.transmit(&[0, 0xCA, 0, 7]).unwrap(), [7, 0x90, 0]);
        assert!(rec.transmit(&[0, 0xFF, 0, 0]).is_err());
        rec.reset(ResetKind::Cold).unwrap();
        rec.transmit(&[0, 0xCA, 0, 9]).unwrap();
        let (_, bytes) = rec.finish().unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("# ATR: 3B800181\n# PROTOCOL: T=1\n#\n"), "{text}");
        assert!(text.contains("# FAILED 00FF0000: link down\n"), "{text}");

        let mut replay = ReplayTransport::new("r", Dump::parse(&text).unwrap());
        assert_eq!(replay.atr().unwrap(), [0x3B, 0x80, 0x01, 0x81]);
        assert_eq!(replay.transmit(&[0, 0xCA, 0, 7]).unwrap(), [7, 0x90, 0]);
        assert_eq!(replay.reset(ResetKind::Cold).unwrap(), [0x3B, 0x00]);
        assert_eq!(replay.transmit(&[0, 0xCA, 0, 9]).unwrap(), [9, 0x90, 0]);
        assert_eq!(replay.remaining(), 0);
    }

    /// A writer that fails after `room` bytes.
    #[derive(Debug)]
    struct Full {
        room: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if buf.len() > self.room {
                return Err(std::io::Error::other("disk full"));
            }
            self.room -= buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_write_error_is_reported_at_the_end_not_lost() {
        let mut rec = Recorder::new(EchoP2, Full { room: 40 }).unwrap();
        for p2 in 0..10 {
            assert!(rec.transmit(&[0, 0xCA, 0, p2]).is_ok(), "the session goes on");
        }
        assert_eq!(rec.finish().unwrap_err().to_string(), "disk full");
    }
}
