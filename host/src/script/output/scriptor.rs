//! scriptor's layout, byte for byte where scriptor defines it:
//!
//! ```text
//! Using T=1 protocol
//! 00A4040000                     <- the input line, in file mode (scriptor dialect)
//! > 00 A4 04 00 00               <- the command as typed (packed hex gets a trailing space)
//! < 6F 0F 84 ... (16 bytes)      <- data and SW, a line break after every 16 bytes
//! 90 00 : Normal processing      <- " : " and the status word's meaning
//! > RESET
//! < OK: 3B 02 14 50              <- each ATR byte followed by a space
//! ```
//!
//! The status texts are cardgate's own ([`applet::sw::meaning`]), not scriptor's. Anything scriptor
//! does not print (GET RESPONSE rounds, failed expectations, captures, TLV, timing) comes as extra
//! lines starting with `#`, so a scriptor transcript diffs cleanly against ours.

use std::io::{self, Write};

use super::{Event, Output, duration};
use crate::hexfmt::spaced;
use crate::tlv_view;

/// Prints scriptor's layout.
pub struct ScriptorOutput<'w> {
    out: Box<dyn Write + 'w>,
}

impl<'w> ScriptorOutput<'w> {
    /// A printer writing to `out`.
    pub fn new(out: Box<dyn Write + 'w>) -> Self {
        Self { out }
    }
}

/// scriptor's response text: `XX ` per byte without the last space, and a newline after every full
/// group of 16 (`s/((.. ){16})/$1\n/g` on the joined string, so a group needs its trailing space).
pub fn wrap16(response: &[u8]) -> String {
    let mut s = String::with_capacity(response.len() * 3 + response.len() / 16);
    for (i, b) in response.iter().enumerate() {
        s.push_str(&format!("{b:02X}"));
        if i + 1 < response.len() {
            s.push(' ');
            if (i + 1) % 16 == 0 {
                s.push('\n');
            }
        }
    }
    s
}

impl Output for ScriptorOutput<'_> {
    fn event(&mut self, event: &Event<'_>) -> io::Result<()> {
        let out = &mut self.out;
        match event {
            Event::Session(s) => match s.protocol {
                Some(p) => writeln!(out, "Using {p} protocol")?,
                None => writeln!(out, "Using an unknown protocol (not T=0 or T=1)")?,
            },
            Event::Line(raw) => out.write_all(raw)?,
            Event::Reset(r) => {
                writeln!(out, "> RESET")?;
                match &r.result {
                    Ok(atr) => {
                        write!(out, "< OK: ")?;
                        for b in atr {
                            write!(out, "{b:02X} ")?;
                        }
                        writeln!(out)?;
                    }
                    Err(e) => writeln!(out, "< KO: {e}")?,
                }
            }
            Event::Apdu(a) => {
                match &a.shown {
                    Some(shown) => writeln!(out, "> {shown}")?,
                    None => writeln!(out, "> {}", spaced(&a.command))?,
                }
                if a.exchanges.len() > 1 {
                    for x in &a.exchanges {
                        writeln!(out, "#  > {}", spaced(&x.command))?;
                        writeln!(out, "#  < {}", spaced(&x.response))?;
                    }
                }
                let mut response = a.data.clone();
                response.extend(a.sw.to_be_bytes());
                writeln!(out, "< {} : {}", wrap16(&response), applet::sw::meaning(a.sw))?;
                if a.timing {
                    writeln!(out, "# time: {}", duration(a.elapsed))?;
                }
                if a.tlv && !a.data.is_empty() {
                    match tlv_view::rows(&a.data) {
                        Ok(rows) => {
                            for line in tlv_view::lines(&rows, "#   ") {
                                writeln!(out, "{line}")?;
                            }
                        }
                        Err(e) => writeln!(out, "#   (not BER-TLV: {e})")?,
                    }
                }
                if let Some(check) = &a.check
                    && let Some(why) = &check.failure
                {
                    writeln!(out, "# FAILED {}: {why}", check.span)?;
                }
                for c in &a.captures {
                    match &c.value {
                        Ok(v) => writeln!(out, "# ${} = {}", c.name, spaced(v))?,
                        Err(e) => writeln!(out, "# FAILED {}: ${}: {e}", c.span, c.name)?,
                    }
                }
            }
            // scriptor prints the command before sending it, so a failed send still shows it.
            Event::Unanswered { shown, command, .. } => match shown {
                Some(shown) => writeln!(out, "> {shown}")?,
                None => writeln!(out, "> {}", spaced(command))?,
            },
            Event::Echo { text, .. } => writeln!(out, "{text}")?,
            Event::Check(c) => match &c.failure {
                None => writeln!(out, "# expect {}: ok", c.pattern)?,
                Some(why) => writeln!(out, "# FAILED {}: {why}", c.span)?,
            },
            Event::Error { .. } | Event::Summary(_) => {}
        }
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_like_scriptor() {
        assert_eq!(wrap16(&[0x90, 0x00]), "90 00");
        let eighteen: Vec<u8> = (0..16).chain([0x90, 0x00]).collect();
        assert_eq!(wrap16(&eighteen), "00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F \n90 00");
        // Exactly 16 bytes: the 16th has no trailing space, so no group matches and no newline.
        let sixteen: Vec<u8> = (0..14).chain([0x90, 0x00]).collect();
        assert!(!wrap16(&sixteen).contains('\n'));
        let thirty_three: Vec<u8> = (0..33).collect();
        assert_eq!(wrap16(&thirty_three).matches('\n').count(), 2);
    }
}
