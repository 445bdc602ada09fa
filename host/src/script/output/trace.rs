//! An apdu4j-style trace (`gp -d`, `apdu4j -d`): the command split into header / Lc / data / Le,
//! the response as data and status word, and the time each took.
//!
//! ```text
//! # reader replay:session.dump, T=1, ATR 3B8C8001...
//! >> 00A40400 07 A0000000031010 00
//!    > 00A40400 07 A0000000031010 00          <- physical exchanges, when more than one
//!    < 611A (0.050ms)
//!    > 00C00000 1A
//!    < 6F18...9000 (0.040ms)
//! << 6F18... 9000 (0.110ms) Normal processing
//!    ok 6F * 9000                             <- the expectation, when there is one
//! ```

use std::io::{self, Write};

use super::{Event, Output, duration};
use crate::hexfmt::packed;
use crate::tlv_view;

/// Prints the trace.
pub struct TraceOutput<'w> {
    out: Box<dyn Write + 'w>,
}

impl<'w> TraceOutput<'w> {
    /// A printer writing to `out`.
    pub fn new(out: Box<dyn Write + 'w>) -> Self {
        Self { out }
    }
}

/// A command split as apdu4j logs it: header, then Lc, data and Le as the APDU's case says
/// (ISO 7816-3 §12.1.3). Bytes that fit no case follow the header as they are.
pub fn split_command(cmd: &[u8]) -> String {
    if cmd.len() <= 4 {
        return packed(cmd);
    }
    let (header, body) = cmd.split_at(4);
    let parts: Vec<&[u8]> = match (body.len(), body[0]) {
        // Case 2S: Le only.
        (1, _) => vec![body],
        // Case 3S / 4S: Lc, data [, Le].
        (n, lc) if lc != 0 && n == 1 + usize::from(lc) => vec![&body[..1], &body[1..]],
        (n, lc) if lc != 0 && n == 2 + usize::from(lc) => vec![&body[..1], &body[1..n - 1], &body[n - 1..]],
        // Case 2E: 00 Le Le.
        (3, 0) => vec![body],
        // Case 3E / 4E: 00 Lc Lc, data [, Le Le].
        (n, 0) if n > 3 => {
            let lc = usize::from(u16::from_be_bytes([body[1], body[2]]));
            if lc != 0 && n == 3 + lc {
                vec![&body[..3], &body[3..]]
            } else if lc != 0 && n == 5 + lc {
                vec![&body[..3], &body[3..n - 2], &body[n - 2..]]
            } else {
                vec![body]
            }
        }
        _ => vec![body],
    };
    let mut s = packed(header);
    for p in parts {
        s.push(' ');
        s.push_str(&packed(p));
    }
    s
}

fn response(data: &[u8], sw: u16) -> String {
    if data.is_empty() { format!("{sw:04X}") } else { format!("{} {sw:04X}", packed(data)) }
}

impl Output for TraceOutput<'_> {
    fn event(&mut self, event: &Event<'_>) -> io::Result<()> {
        let out = &mut self.out;
        match event {
            Event::Session(s) => {
                let protocol = s.protocol.map_or_else(|| "protocol unknown".to_string(), |p| p.to_string());
                writeln!(out, "# reader {}, {protocol}, ATR {}", s.reader, packed(&s.atr))?;
            }
            Event::Line(_) => {}
            Event::Reset(r) => match &r.result {
                Ok(atr) => {
                    writeln!(out, "-- RESET {:?}: ATR {} ({})", r.kind, packed(atr), duration(r.elapsed))?
                }
                Err(e) => writeln!(out, "!! {}: RESET {:?} failed: {e}", r.span, r.kind)?,
            },
            Event::Apdu(a) => {
                writeln!(out, ">> {}", split_command(&a.command))?;
                if a.exchanges.len() > 1 {
                    for x in &a.exchanges {
                        writeln!(out, "   > {}", split_command(&x.command))?;
                        writeln!(out, "   < {} ({})", packed(&x.response), duration(x.elapsed))?;
                    }
                }
                writeln!(
                    out,
                    "<< {} ({}) {}",
                    response(&a.data, a.sw),
                    duration(a.elapsed),
                    applet::sw::meaning(a.sw)
                )?;
                if a.tlv && !a.data.is_empty() {
                    match tlv_view::rows(&a.data) {
                        Ok(rows) => {
                            for line in tlv_view::lines(&rows, "   ") {
                                writeln!(out, "{line}")?;
                            }
                        }
                        Err(e) => writeln!(out, "   (not BER-TLV: {e})")?,
                    }
                }
                if let Some(check) = &a.check {
                    match &check.failure {
                        None => writeln!(out, "   ok {}", check.pattern)?,
                        Some(why) => writeln!(out, "!! {}: {why}", check.span)?,
                    }
                }
                for c in &a.captures {
                    match &c.value {
                        Ok(v) => writeln!(out, "   ${} = {}", c.name, packed(v))?,
                        Err(e) => writeln!(out, "!! {}: ${}: {e}", c.span, c.name)?,
                    }
                }
            }
            Event::Unanswered { command, .. } => writeln!(out, ">> {}", split_command(command))?,
            Event::Echo { text, .. } => writeln!(out, "{text}")?,
            Event::Check(c) => match &c.failure {
                None => writeln!(out, "   ok {}", c.pattern)?,
                Some(why) => writeln!(out, "!! {}: {why}", c.span)?,
            },
            Event::Error { span, message, .. } => match span {
                Some(span) => writeln!(out, "!! {span}: {message}")?,
                None => writeln!(out, "!! {message}")?,
            },
            Event::Summary(s) => {
                let plural =
                    |n: usize, word: &str| if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") };
                writeln!(
                    out,
                    "# {}, {}, {} failed, exit {} ({})",
                    plural(s.apdus, "APDU"),
                    plural(s.checks, "check"),
                    s.failed,
                    s.exit,
                    duration(s.elapsed)
                )?
            }
        }
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(hex: &str) -> String {
        split_command(&crate::hexfmt::parse(hex).unwrap())
    }

    #[test]
    fn commands_split_by_case() {
        assert_eq!(split("00A40400"), "00A40400");
        assert_eq!(split("00A4040000"), "00A40400 00");
        assert_eq!(split("00A4040007A0000000031010"), "00A40400 07 A0000000031010");
        assert_eq!(split("00A4040007A000000003101000"), "00A40400 07 A0000000031010 00");
        assert_eq!(split("00B0000000FFFF"), "00B00000 00FFFF");
        assert_eq!(split("00DA0100000002ABCD"), "00DA0100 000002 ABCD");
        assert_eq!(split("00DA0100000002ABCD0000"), "00DA0100 000002 ABCD 0000");
        assert_eq!(split("00A40400050102"), "00A40400 050102", "Lc says 5, 2 follow: as is");
    }
}
