//! Command APDUs as the runtime and applets see them: the class byte decoded (channel, chaining,
//! secure messaging) and the body parsed by the `iso7816` crate (cases 1–4, short and extended).

use crate::sw::{self, Sw};

/// The number of logical channels the card supports: the basic channel 0 and further channels
/// 1 to 19 (ISO 7816-4 §5.4.2; the most the further interindustry class can address).
pub const CHANNELS: usize = 20;

/// Largest command data field: what an extended Lc can announce (ISO 7816-3 §12.1.3), and the
/// most a chained command may add up to.
pub const MAX_COMMAND_DATA: usize = 65_535;

/// Largest response data field: an extended Le of `0000` (ISO 7816-3 §12.1.3).
pub const MAX_RESPONSE_DATA: usize = 65_536;

/// A decoded class byte (ISO 7816-4 §5.4.1).
///
/// Proprietary classes (`80`–`FE`) follow the Java Card convention (JCRE 3.0.5 §4.3, `APDU.getCLAChannel`):
/// `80`–`BF` encode channel, chaining and secure messaging like the first interindustry class
/// (`84` is GlobalPlatform's secure-messaging class), `C0`–`FE` like the further interindustry class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Class(u8);

impl Class {
    /// Decodes a class byte. `None` for the classes no card may accept: `FF` (reserved for PPS,
    /// ISO 7816-3 §9.1) and the reserved range `20`–`3F` (ISO 7816-4 §5.4.1, table 2).
    pub const fn new(cla: u8) -> Option<Class> {
        match cla {
            0xFF | 0x20..=0x3F => None,
            _ => Some(Class(cla)),
        }
    }

    /// The byte as sent.
    pub const fn byte(self) -> u8 {
        self.0
    }

    /// Interindustry (`00`–`1F`, `40`–`7F`): commands whose meaning ISO 7816-4 defines. SELECT,
    /// MANAGE CHANNEL and GET RESPONSE are handled by the runtime only in this class.
    pub const fn is_interindustry(self) -> bool {
        self.0 & 0x80 == 0
    }

    /// Whether the class uses the "further" layout (bit 7 set): channels 4 to 19.
    const fn is_further(self) -> bool {
        self.0 & 0x40 != 0
    }

    /// The logical channel number, 0 to 19 (ISO 7816-4 §5.4.1: `b2b1` in the first interindustry
    /// class, `4 + b4..b1` in the further one).
    ///
    /// The `iso7816` crate's `Class::channel` computes `(4 + cla) & 7` for the further class, which
    /// is wrong for every channel above 7, so the runtime decodes channels itself.
    pub const fn channel(self) -> u8 {
        if self.is_further() { 4 + (self.0 & 0x0F) } else { self.0 & 0x03 }
    }

    /// Command chaining: "not the last command of a chain" (bit 5, `10`, in both layouts).
    pub const fn is_chained(self) -> bool {
        self.0 & 0x10 != 0
    }

    /// Whether the class indicates secure messaging (`b4b3` in the first layout, `b6` in the
    /// further one). The runtime does not unwrap secure messaging; applets may.
    pub const fn has_secure_messaging(self) -> bool {
        if self.is_further() { self.0 & 0x20 != 0 } else { self.0 & 0x0C != 0 }
    }
}

/// A complete command as an applet receives it: chained parts already joined, the class decoded.
///
/// `data` borrows the runtime's buffer, so a command costs no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command<'a> {
    class: Class,
    ins: u8,
    p1: u8,
    p2: u8,
    data: &'a [u8],
    ne: usize,
    extended: bool,
}

impl<'a> Command<'a> {
    /// Parses one physical command APDU. Errors are the status word the card answers:
    /// `6700` for a length that matches none of the cases of ISO 7816-3 §12.1.3, `6E00` for an
    /// invalid class.
    pub fn parse(apdu: &'a [u8]) -> Result<Command<'a>, Sw> {
        if apdu.len() < 4 {
            return Err(sw::WRONG_LENGTH);
        }
        let class = Class::new(apdu[0]).ok_or(sw::CLA_NOT_SUPPORTED)?;
        let view = iso7816::command::CommandView::try_from(apdu).map_err(|_| sw::WRONG_LENGTH)?;
        // The `iso7816` crate takes `00 0000 Le1 Le2` (an extended Lc of zero, then Le) as case 2E;
        // no case of ISO 7816-3 §12.1.3 has Lc = 0 (found by the `apdu` fuzz target). A body must
        // be exactly as long as the case its lengths describe.
        if apdu.len() != encoded_len(view.data().len(), view.expected(), view.extended) {
            return Err(sw::WRONG_LENGTH);
        }
        Ok(Command {
            class,
            ins: apdu[1],
            p1: apdu[2],
            p2: apdu[3],
            data: view.data(),
            ne: view.expected(),
            extended: view.extended,
        })
    }

    /// The same header and length fields with another data field (a reassembled chain).
    pub(crate) fn with_data<'b>(&self, data: &'b [u8]) -> Command<'b> {
        Command {
            class: self.class,
            ins: self.ins,
            p1: self.p1,
            p2: self.p2,
            data,
            ne: self.ne,
            extended: self.extended,
        }
    }

    /// The decoded class byte.
    pub fn class(&self) -> Class {
        self.class
    }
    /// CLA as sent (channel and chaining bits included).
    pub fn cla(&self) -> u8 {
        self.class.byte()
    }
    /// INS.
    pub fn ins(&self) -> u8 {
        self.ins
    }
    /// P1.
    pub fn p1(&self) -> u8 {
        self.p1
    }
    /// P2.
    pub fn p2(&self) -> u8 {
        self.p2
    }
    /// P1 and P2 as one big-endian number.
    pub fn p1p2(&self) -> u16 {
        u16::from_be_bytes([self.p1, self.p2])
    }
    /// The command data field (Nc bytes; empty for cases 1 and 2).
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
    /// Ne, the maximum number of response bytes expected: 0 when Le is absent (cases 1 and 3),
    /// 256 for a short Le of `00`, 65536 for an extended Le of `0000`.
    pub fn ne(&self) -> usize {
        self.ne
    }
    /// Whether Le was present (cases 2 and 4).
    pub fn has_le(&self) -> bool {
        self.ne != 0
    }
    /// Whether the command used extended length fields.
    pub fn is_extended(&self) -> bool {
        self.extended
    }
    /// The logical channel the command came on.
    pub fn channel(&self) -> u8 {
        self.class.channel()
    }
    /// Short case 2: no data, a one-byte Le. The one case where a wrong Le gets `6Cxx`
    /// (ISO 7816-3 §12.2.2, transported the same way over T=1).
    pub(crate) fn is_short_case_2(&self) -> bool {
        !self.extended && self.data.is_empty() && self.ne != 0
    }
}

/// The length of a command APDU with `nc` data bytes and Ne = `ne` in the short or extended form
/// (ISO 7816-3 §12.1.3: Lc is 1 or 3 bytes, Le 1, 2 after an extended Lc, or 3 alone).
const fn encoded_len(nc: usize, ne: usize, extended: bool) -> usize {
    let lc = match (nc, extended) {
        (0, _) => 0,
        (_, false) => 1,
        (_, true) => 3,
    };
    let le = match (ne, extended, nc) {
        (0, _, _) => 0,
        (_, false, _) => 1,
        (_, true, 0) => 3,
        (_, true, _) => 2,
    };
    4 + lc + nc + le
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    #[test]
    fn every_case_parses_with_its_lengths() {
        let c = h("00A40400");
        let cmd = Command::parse(&c).unwrap();
        assert_eq!((cmd.data().len(), cmd.ne(), cmd.is_extended()), (0, 0, false), "case 1");
        let c = h("00B0000000");
        assert_eq!(Command::parse(&c).unwrap().ne(), 256, "case 2S, Le=00 means 256");
        let c = h("00A4040002A000");
        let cmd = Command::parse(&c).unwrap();
        assert_eq!((cmd.data(), cmd.ne()), (&[0xA0, 0x00][..], 0), "case 3S");
        let c = h("00A4040002A00010");
        assert_eq!(Command::parse(&c).unwrap().ne(), 16, "case 4S");
        let c = h("00B00000 000000");
        let cmd = Command::parse(&c).unwrap();
        assert_eq!((cmd.ne(), cmd.is_extended()), (65_536, true), "case 2E");
        let mut c = h("00D60000 000100");
        c.extend(vec![7; 256]);
        assert_eq!(Command::parse(&c).unwrap().data().len(), 256, "case 3E");
        c.extend(h("0102"));
        let cmd = Command::parse(&c).unwrap();
        assert_eq!((cmd.data().len(), cmd.ne()), (256, 0x102), "case 4E");
    }

    #[test]
    fn bad_lengths_are_6700_and_bad_classes_6e00() {
        for bad in ["00", "00A404", "00A4040003A000", "00A40400 0000", "00A40400 0000 02 A0"] {
            assert_eq!(Command::parse(&h(bad)), Err(sw::WRONG_LENGTH), "{bad}");
        }
        assert_eq!(Command::parse(&h("FFA40400")), Err(sw::CLA_NOT_SUPPORTED));
        assert_eq!(Command::parse(&h("20A40400")), Err(sw::CLA_NOT_SUPPORTED));
        assert_eq!(Command::parse(&h("3FA40400")), Err(sw::CLA_NOT_SUPPORTED));
    }

    #[test]
    fn an_extended_lc_of_zero_is_no_case_at_all() {
        // Found by the `apdu` fuzz target (fuzz/corpus/apdu/regression-extended-lc-zero): the
        // iso7816 crate reads `00 0000` then two more bytes as case 2E.
        for bad in ["FB00FF00 000000 0000", "00B00000 000000 0100", "00B00000 000000 01"] {
            assert_eq!(Command::parse(&h(bad)), Err(sw::WRONG_LENGTH), "{bad}");
        }
    }

    #[test]
    fn channels_chaining_and_sm_follow_both_layouts() {
        let c = |b| Class::new(b).unwrap();
        assert_eq!(c(0x03).channel(), 3);
        assert_eq!(c(0x40).channel(), 4);
        assert_eq!(c(0x4F).channel(), 19);
        assert_eq!(c(0x7F).channel(), 19);
        assert_eq!(c(0x83).channel(), 3, "GlobalPlatform class on channel 3");
        assert_eq!(c(0xC5).channel(), 9);
        assert!(c(0x10).is_chained() && c(0x50).is_chained() && c(0x90).is_chained());
        assert!(!c(0x00).is_chained());
        assert!(c(0x0C).has_secure_messaging() && c(0x60).has_secure_messaging());
        assert!(c(0x84).has_secure_messaging());
        assert!(!c(0x4C).has_secure_messaging(), "further class: bits 4-1 are the channel");
        assert!(c(0x7F).is_interindustry() && !c(0x80).is_interindustry());
    }
}
