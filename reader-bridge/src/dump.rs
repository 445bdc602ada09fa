//! Recorded sessions in apdu4j's dump format, so that recordings interoperate with apdu4j
//! (`DumpingBIBO` writes it, `MockBIBO.fromDump` replays it) and with our [`replay`](crate::replay).
//!
//! The format, as apdu4j's `DumpFormat.parse` reads it: blank lines are skipped, lines starting with
//! `#` are comments (metadata), every other line is hex, and hex lines alternate command, response.
//! Known comments:
//!
//! ```text
//! # ATR: 3B8C8001...        the card's ATR (header)
//! # PROTOCOL: T=1           the protocol (header)
//! #                         end of header
//! 00A4040007A000000003101000
//! # 0.114ms                 time the card took (between command and response)
//! 6F1A...9000
//! # RESET cold              cardgate's addition: a reset happened here (apdu4j ignores it) ...
//! # ATR: 3B8C8001...        ... and this is the ATR the card answered to it
//! # FAILED 00B0000000: ...  cardgate's addition: a command the transport could not deliver
//! ```

use std::fmt::Write as _;
use std::time::Duration;

use crate::transport::{Protocol, ResetKind};

/// One thing that happened in a recorded session, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A command and the card's response.
    Exchange {
        /// The C-APDU as sent.
        command: Vec<u8>,
        /// The R-APDU as received.
        response: Vec<u8>,
        /// How long the card took, when recorded.
        elapsed: Option<Duration>,
    },
    /// A reset and the ATR that followed it.
    Reset {
        /// Cold or warm.
        kind: ResetKind,
        /// The card's answer to the reset.
        atr: Vec<u8>,
    },
}

/// A recorded session: header and events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dump {
    /// The ATR when the session started.
    pub atr: Option<Vec<u8>>,
    /// The protocol the session used.
    pub protocol: Option<Protocol>,
    /// What happened, in order.
    pub events: Vec<Event>,
}

/// Why a dump cannot be read. Lines count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DumpError {
    /// A line that should be hex is not.
    #[error("line {line}: not hex: {text:?}")]
    NotHex {
        /// The line number.
        line: usize,
        /// The offending text.
        text: String,
    },
    /// The file ends with a command that has no response.
    #[error("line {line}: command without a response at the end of the dump")]
    Unpaired {
        /// Line of the unpaired command.
        line: usize,
    },
    /// A `# RESET` not followed by its `# ATR:`, or a malformed header value.
    #[error("line {line}: {message}")]
    Malformed {
        /// The line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Upper-case hex without separators, as apdu4j writes it.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02X}");
    }
    s
}

/// Reads hex that may contain spaces (apdu4j's `hex2bin` does not allow them; we are lenient).
fn unhex(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(s, 16).ok()
        })
        .collect()
}

/// Parses `# 1.234ms` / `# 24ms` / `# 120us` timing comments.
fn parse_elapsed(comment: &str) -> Option<Duration> {
    let word = comment.split_whitespace().next()?;
    if let Some(ms) = word.strip_suffix("ms") {
        let ms: f64 = ms.parse().ok()?;
        return Duration::try_from_secs_f64(ms / 1000.0).ok();
    }
    let us: f64 = word.strip_suffix("us")?.parse().ok()?;
    Duration::try_from_secs_f64(us / 1_000_000.0).ok()
}

impl Dump {
    /// Parses a dump. Unknown comments are ignored, as apdu4j does.
    pub fn parse(text: &str) -> Result<Dump, DumpError> {
        let mut dump = Dump::default();
        // A command waiting for its response: (line, bytes, elapsed).
        let mut pending: Option<(usize, Vec<u8>, Option<Duration>)> = None;
        // A `# RESET` waiting for its `# ATR:`.
        let mut reset: Option<(usize, ResetKind)> = None;
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() {
                continue;
            }
            if let Some(comment) = trimmed.strip_prefix('#') {
                let comment = comment.trim();
                if let Some(value) = comment.strip_prefix("ATR:") {
                    let atr = unhex(value)
                        .ok_or_else(|| DumpError::Malformed { line, message: "ATR is not hex".into() })?;
                    match reset.take() {
                        Some((_, kind)) => dump.events.push(Event::Reset { kind, atr }),
                        None if dump.atr.is_none() => dump.atr = Some(atr),
                        None => {}
                    }
                } else if let Some(value) = comment.strip_prefix("PROTOCOL:") {
                    dump.protocol = value.trim().parse().ok();
                } else if let Some(kind) = comment.strip_prefix("RESET") {
                    if let Some((line, _)) = reset {
                        return Err(DumpError::Malformed { line, message: "RESET without an ATR".into() });
                    }
                    let kind = match kind.trim() {
                        "warm" => ResetKind::Warm,
                        _ => ResetKind::Cold,
                    };
                    reset = Some((line, kind));
                } else if let Some((_, _, elapsed)) = pending.as_mut()
                    && let Some(d) = parse_elapsed(comment)
                {
                    *elapsed = Some(d);
                }
                continue;
            }
            let bytes = unhex(trimmed).ok_or_else(|| DumpError::NotHex { line, text: trimmed.into() })?;
            if let Some((line, _)) = reset {
                return Err(DumpError::Malformed { line, message: "RESET without an ATR".into() });
            }
            match pending.take() {
                None => pending = Some((line, bytes, None)),
                Some((_, command, elapsed)) => {
                    dump.events.push(Event::Exchange { command, response: bytes, elapsed })
                }
            }
        }
        if let Some((line, _, _)) = pending {
            return Err(DumpError::Unpaired { line });
        }
        if let Some((line, _)) = reset {
            return Err(DumpError::Malformed { line, message: "RESET without an ATR".into() });
        }
        Ok(dump)
    }

    /// The header lines: ATR and protocol (when known), then `#`.
    pub fn header(atr: Option<&[u8]>, protocol: Option<Protocol>) -> String {
        let mut out = String::new();
        if let Some(atr) = atr {
            let _ = writeln!(out, "# ATR: {}", hex(atr));
        }
        if let Some(p) = protocol {
            let _ = writeln!(out, "# PROTOCOL: {p}");
        }
        out.push_str("#\n");
        out
    }

    /// The lines for one event.
    pub fn event_lines(event: &Event) -> String {
        match event {
            Event::Exchange { command, response, elapsed } => {
                let mut out = format!("{}\n", hex(command));
                if let Some(d) = elapsed {
                    let _ = writeln!(out, "# {:.3}ms", d.as_secs_f64() * 1000.0);
                }
                let _ = writeln!(out, "{}", hex(response));
                out
            }
            Event::Reset { kind, atr } => {
                let kind = match kind {
                    ResetKind::Cold => "cold",
                    ResetKind::Warm => "warm",
                };
                format!("# RESET {kind}\n# ATR: {}\n", hex(atr))
            }
        }
    }

    /// The whole dump as text; [`Dump::parse`] reads it back to the same value.
    pub fn to_text(&self) -> String {
        let mut out = Dump::header(self.atr.as_deref(), self.protocol);
        for event in &self.events {
            out.push_str(&Dump::event_lines(event));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        unhex(s).unwrap()
    }

    #[test]
    fn reads_apdu4j_dumps() {
        // The example from apdu4j's DumpFormat documentation.
        let text = "# ATR: 3BFE1800008031FE4553434536302D43443038312D6E46A9\n# PROTOCOL: T=1\n\
                    00A4040000\n# 24ms\n6F108408A000000003000000A5049F6501FF9000\n";
        let dump = Dump::parse(text).unwrap();
        assert_eq!(dump.atr.as_deref(), Some(&h("3BFE1800008031FE4553434536302D43443038312D6E46A9")[..]));
        assert_eq!(dump.protocol, Some(Protocol::T1));
        assert_eq!(
            dump.events,
            [Event::Exchange {
                command: h("00A4040000"),
                response: h("6F108408A000000003000000A5049F6501FF9000"),
                elapsed: Some(Duration::from_millis(24)),
            }]
        );
    }

    #[test]
    fn resets_round_trip_and_apdu4j_sees_only_comments() {
        let dump = Dump {
            atr: Some(h("3B00")),
            protocol: Some(Protocol::T0),
            events: vec![
                Event::Exchange { command: h("00B0000000"), response: h("6A82"), elapsed: None },
                Event::Reset { kind: ResetKind::Warm, atr: h("3B01AA") },
                Event::Exchange {
                    command: h("00B0000000"),
                    response: h("01029000"),
                    elapsed: Some(Duration::from_micros(1500)),
                },
            ],
        };
        let text = dump.to_text();
        assert_eq!(Dump::parse(&text).unwrap(), dump);
        // Hex lines alone still alternate command/response, which is all apdu4j needs.
        let hex_lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(hex_lines, ["00B0000000", "6A82", "00B0000000", "01029000"]);
    }

    #[test]
    fn malformed_dumps_name_the_line() {
        assert_eq!(Dump::parse("# ATR: 3B00\n00A4\n"), Err(DumpError::Unpaired { line: 2 }));
        assert!(matches!(Dump::parse("00A4\nzz\n"), Err(DumpError::NotHex { line: 2, .. })));
        assert!(matches!(Dump::parse("00A\n"), Err(DumpError::NotHex { line: 1, .. })));
        assert!(matches!(
            Dump::parse("# RESET cold\n00A4\n9000\n"),
            Err(DumpError::Malformed { line: 1, .. })
        ));
    }
}
