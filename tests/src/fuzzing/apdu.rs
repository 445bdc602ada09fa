//! `apdu`: [`applet::apdu::Command::parse`] on any bytes.

use applet::apdu::{Class, Command};
use applet::sw;

/// Any bytes as one command APDU. Property: a command that parses is re-encoded from its fields
/// (ISO 7816-3 §12.1.3, in the short or extended form it came in) to exactly the input bytes, so the
/// parser neither drops nor invents a byte; a refusal is `6700` (length) or `6E00` (class) and
/// matches an independent check of the class byte.
pub fn apdu(data: &[u8]) {
    match Command::parse(data) {
        Ok(cmd) => {
            assert_eq!(encode(&cmd), data, "{cmd:?} does not re-encode to its input");
            let class = cmd.class();
            assert_eq!(Some(class), Class::new(data[0]));
            assert!(cmd.channel() < 20, "channel {} of class {:02X}", cmd.channel(), cmd.cla());
            assert_eq!(cmd.has_le(), cmd.ne() != 0);
            assert!(cmd.ne() <= 65_536 && cmd.data().len() <= 65_535);
        }
        Err(sw) if data.len() >= 4 && Class::new(data[0]).is_none() => {
            assert_eq!(sw, sw::CLA_NOT_SUPPORTED);
        }
        Err(sw) => assert_eq!(sw, sw::WRONG_LENGTH, "refused {data:02X?} with {sw:04X}"),
    }
}

/// The command's bytes, written from its fields independently of the parser.
pub(crate) fn encode(cmd: &Command<'_>) -> Vec<u8> {
    let mut out = vec![cmd.cla(), cmd.ins(), cmd.p1(), cmd.p2()];
    let nc = cmd.data().len();
    let ne = cmd.ne();
    if cmd.is_extended() {
        // Extended: Lc is 00 Lc1 Lc2; Le is 2 bytes after Lc, or 00 Le1 Le2 alone (0000 = 65536).
        if nc > 0 {
            out.push(0);
            out.extend_from_slice(&(nc as u16).to_be_bytes());
            out.extend_from_slice(cmd.data());
        } else if ne > 0 {
            out.push(0);
        }
        if ne > 0 {
            out.extend_from_slice(&((ne % 65_536) as u16).to_be_bytes());
        }
    } else {
        if nc > 0 {
            out.push(nc as u8);
            out.extend_from_slice(cmd.data());
        }
        if ne > 0 {
            out.push((ne % 256) as u8);
        }
    }
    out
}
