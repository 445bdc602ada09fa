//! Answer-to-reset decoding (ISO/IEC 7816-3 §8): TS, T0, the interface bytes TAi/TBi/TCi/TDi,
//! the protocols offered, the historical bytes (ISO 7816-4 §8.1.1, compact-TLV) and the TCK check.

use std::fmt;

/// Why bytes are not an ATR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AtrError {
    /// Nothing to decode.
    #[error("the ATR is empty")]
    Empty,
    /// TS is neither 3B nor 3F.
    #[error("TS is {0:02X}; an ATR starts with 3B (direct convention) or 3F (inverse convention)")]
    BadTs(u8),
    /// The bytes end before the interface bytes, historical bytes or TCK that T0/TDi announce.
    #[error("the ATR is {len} bytes but its T0/TDi bytes announce at least {needed}")]
    Truncated {
        /// Bytes given.
        len: usize,
        /// Bytes the structure needs.
        needed: usize,
    },
    /// Bytes follow the last announced byte.
    #[error("{0} extra byte(s) after the end of the ATR")]
    Trailing(usize),
    /// More than 33 bytes (ISO 7816-3 §8.2.1: at most 32 bytes after TS).
    #[error("the ATR is {0} bytes; at most 33 are allowed")]
    TooLong(usize),
}

/// The convention announced by TS (ISO 7816-3 §8.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Convention {
    /// TS = 3B.
    Direct,
    /// TS = 3F.
    Inverse,
}

/// One interface byte and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceByte {
    /// Its name, e.g. "TA1".
    pub name: String,
    /// Its value.
    pub value: u8,
    /// What it says, in words.
    pub meaning: String,
}

/// One compact-TLV object of the historical bytes (ISO 7816-4 §8.1.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoricalObject {
    /// The tag nibble.
    pub tag: u8,
    /// The value.
    pub value: Vec<u8>,
    /// The tag's name.
    pub meaning: &'static str,
}

/// A decoded ATR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Atr {
    /// The bytes decoded.
    pub raw: Vec<u8>,
    /// TS.
    pub convention: Convention,
    /// T0.
    pub t0: u8,
    /// The interface bytes, in order.
    pub interface: Vec<InterfaceByte>,
    /// Protocols offered, in the order the TDi bytes give them (T=0 when no TD1).
    pub protocols: Vec<u8>,
    /// The historical bytes.
    pub historical: Vec<u8>,
    /// The historical bytes decoded, when they start with category indicator 00, 10 or 80.
    pub historical_objects: Vec<HistoricalObject>,
    /// A sentence about the historical bytes' category.
    pub historical_category: String,
    /// TCK and whether it checks (present unless only T=0 is offered; ISO 7816-3 §8.2.5).
    pub tck: Option<Tck>,
}

/// The check byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tck {
    /// Its value.
    pub value: u8,
    /// The XOR of T0 to TCK is zero.
    pub valid: bool,
}

// ISO 7816-3 Table 7 (Fi, f max) and Table 8 (Di); `None` = RFU.
const FI: [Option<(u16, f32)>; 16] = [
    Some((372, 4.0)),
    Some((372, 5.0)),
    Some((558, 6.0)),
    Some((744, 8.0)),
    Some((1116, 12.0)),
    Some((1488, 16.0)),
    Some((1860, 20.0)),
    None,
    None,
    Some((512, 5.0)),
    Some((768, 7.5)),
    Some((1024, 10.0)),
    Some((1536, 15.0)),
    Some((2048, 20.0)),
    None,
    None,
];
const DI: [Option<u8>; 16] = [
    None,
    Some(1),
    Some(2),
    Some(4),
    Some(8),
    Some(16),
    Some(32),
    Some(64),
    Some(12),
    Some(20),
    None,
    None,
    None,
    None,
    None,
    None,
];

/// Decodes an ATR.
pub fn parse(bytes: &[u8]) -> Result<Atr, AtrError> {
    let (&ts, rest) = bytes.split_first().ok_or(AtrError::Empty)?;
    if bytes.len() > 33 {
        return Err(AtrError::TooLong(bytes.len()));
    }
    let convention = match ts {
        0x3B => Convention::Direct,
        0x3F => Convention::Inverse,
        other => return Err(AtrError::BadTs(other)),
    };
    let truncated = |needed: usize| AtrError::Truncated { len: bytes.len(), needed };
    let &t0 = rest.first().ok_or_else(|| truncated(2))?;
    let k = usize::from(t0 & 0x0F);
    let mut pos = 2;
    let mut y = t0 >> 4;
    let mut i = 1;
    let mut interface = Vec::new();
    let mut protocols = Vec::new();
    // The protocol the current group's bytes belong to (T of the TD that announced the group).
    let mut group_protocol: Option<u8> = None;
    let mut seen_t15 = false;
    let mut t1_done = false;
    loop {
        // ISO 7816-3 §11.4: the T=1 parameters are in the first group i >= 3 announced by a TD with T=1.
        let t1_specific = i >= 3 && group_protocol == Some(1) && !t1_done;
        for (bit, letter) in [(0x1, 'A'), (0x2, 'B'), (0x4, 'C'), (0x8, 'D')] {
            if y & bit == 0 {
                continue;
            }
            let &value = bytes.get(pos).ok_or_else(|| truncated(pos + 1))?;
            pos += 1;
            let meaning = describe(letter, i, value, group_protocol, seen_t15, t1_specific);
            interface.push(InterfaceByte { name: format!("T{letter}{i}"), value, meaning });
            if letter == 'D' {
                let t = value & 0x0F;
                if !protocols.contains(&t) && t != 15 {
                    protocols.push(t);
                }
            }
        }
        t1_done |= t1_specific;
        if y & 0x8 == 0 {
            break;
        }
        let td = interface.last().map_or(0, |b| b.value);
        let t = td & 0x0F;
        if t == 15 {
            seen_t15 = true;
        }
        group_protocol = Some(t);
        y = td >> 4;
        i += 1;
    }
    if protocols.is_empty() {
        protocols.push(0); // ISO 7816-3 §8.2.3: no TD1 means T=0 only
    }
    let historical = bytes.get(pos..pos + k).ok_or_else(|| truncated(pos + k))?.to_vec();
    pos += k;
    // ISO 7816-3 §8.2.5: TCK is present unless T=0 is the only protocol indicated.
    let tck_present = protocols.iter().any(|&t| t != 0) || seen_t15;
    let tck = if tck_present {
        let &value = bytes.get(pos).ok_or_else(|| truncated(pos + 1))?;
        pos += 1;
        let xor = bytes[1..pos].iter().fold(0u8, |acc, b| acc ^ b);
        Some(Tck { value, valid: xor == 0 })
    } else {
        None
    };
    if pos < bytes.len() {
        return Err(AtrError::Trailing(bytes.len() - pos));
    }
    let (historical_category, historical_objects) = decode_historical(&historical);
    Ok(Atr {
        raw: bytes.to_vec(),
        convention,
        t0,
        interface,
        protocols,
        historical,
        historical_objects,
        historical_category,
        tck,
    })
}

fn describe(
    letter: char,
    i: usize,
    v: u8,
    protocol: Option<u8>,
    after_t15: bool,
    t1_specific: bool,
) -> String {
    match (letter, i) {
        ('A', 1) => {
            let fi = FI[usize::from(v >> 4)];
            let di = DI[usize::from(v & 0x0F)];
            match (fi, di) {
                (Some((fi, fmax)), Some(di)) => {
                    format!("Fi={fi}, Di={di}, {} cycles/ETU, f max {fmax} MHz", fi / u16::from(di))
                }
                _ => "Fi/Di: reserved value".into(),
            }
        }
        ('B', 1) => format!("VPP (deprecated): PI1={}, II={}", v & 0x1F, (v >> 5) & 0x03),
        ('C', 1) => match v {
            0xFF => "extra guard time N=255: minimum guard time (12 ETU for T=0, 11 for T=1)".into(),
            n => format!("extra guard time N={n}"),
        },
        ('A', 2) => format!(
            "specific mode, T={}{}",
            v & 0x0F,
            if v & 0x10 != 0 { ", ETU implicit" } else { ", parameters from TA1" }
        ),
        ('C', 2) if protocol == Some(0) => format!("T=0 work waiting time WI={v}"),
        ('D', _) => {
            let t = v & 0x0F;
            let next: Vec<String> = [(0x10, "TA"), (0x20, "TB"), (0x40, "TC"), (0x80, "TD")]
                .iter()
                .filter(|(bit, _)| v & bit != 0)
                .map(|(_, n)| format!("{n}{}", i + 1))
                .collect();
            let follows = if next.is_empty() { "no more interface bytes".into() } else { next.join(" ") };
            if t == 15 {
                format!("global parameters follow (T=15); {follows}")
            } else {
                format!("protocol T={t}; {follows}")
            }
        }
        ('A', _) if protocol == Some(15) && after_t15 => {
            let class = match v & 0x3F {
                1 => "A (5 V)",
                2 => "B (3 V)",
                3 => "A and B",
                4 => "C (1.8 V)",
                6 => "B and C",
                7 => "A, B and C",
                _ => "unusual combination",
            };
            let stop = ["not supported", "state L", "state H", "no preference"][usize::from(v >> 6)];
            format!("clock stop {stop}; class {class}")
        }
        ('B', _) if protocol == Some(15) => format!("SPU: {v:02X}"),
        ('A', _) if t1_specific => format!("T=1 IFSC={v} bytes"),
        ('B', _) if t1_specific => {
            format!("T=1 BWI={}, CWI={}", v >> 4, v & 0x0F)
        }
        ('C', _) if t1_specific => {
            format!("T=1 error detection: {}", if v & 1 == 1 { "CRC" } else { "LRC" })
        }
        _ => "protocol-specific".into(),
    }
}

fn decode_historical(h: &[u8]) -> (String, Vec<HistoricalObject>) {
    let Some((&category, rest)) = h.split_first() else {
        return ("none".into(), Vec::new());
    };
    match category {
        // ISO 7816-4 §8.1.1.1: 80 = compact-TLV objects, optionally ending with a status indicator.
        0x80 => ("80: compact-TLV data objects".into(), compact_tlv(rest)),
        // 00 = compact-TLV objects followed by a mandatory 3-byte status indicator.
        0x00 if rest.len() >= 3 => {
            let (objects, status) = rest.split_at(rest.len() - 3);
            let mut out = compact_tlv(objects);
            out.push(HistoricalObject { tag: 0x8, value: status.to_vec(), meaning: "status indicator" });
            ("00: compact-TLV data objects, then a status indicator".into(), out)
        }
        0x10 => ("10: DIR data reference".into(), Vec::new()),
        other => (format!("{other:02X}: proprietary"), Vec::new()),
    }
}

fn compact_tlv(mut bytes: &[u8]) -> Vec<HistoricalObject> {
    let mut out = Vec::new();
    while let Some((&tl, rest)) = bytes.split_first() {
        let len = usize::from(tl & 0x0F);
        let Some(value) = rest.get(..len) else {
            // Not compact-TLV after all: say so rather than guess.
            out.push(HistoricalObject { tag: tl >> 4, value: rest.to_vec(), meaning: "(truncated object)" });
            break;
        };
        let tag = tl >> 4;
        let meaning = match tag {
            0x1 => "country code",
            0x2 => "issuer identification number",
            0x3 => "card service data",
            0x4 => "initial access data",
            0x5 => "card issuer's data",
            0x6 => "pre-issuing data",
            0x7 => "card capabilities",
            0x8 => "status indicator",
            0xF => "application identifier",
            _ => "proprietary",
        };
        out.push(HistoricalObject { tag, value: value.to_vec(), meaning });
        bytes = &rest[len..];
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(" ")
}

impl fmt::Display for Atr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "ATR: {}", hex(&self.raw))?;
        let ts = match self.convention {
            Convention::Direct => "3B: direct convention",
            Convention::Inverse => "3F: inverse convention",
        };
        writeln!(f, "  TS  {ts}")?;
        writeln!(f, "  T0  {:02X}: Y1={:X}, {} historical byte(s)", self.t0, self.t0 >> 4, self.t0 & 0x0F)?;
        for b in &self.interface {
            writeln!(f, "  {:<4}{:02X}: {}", b.name, b.value, b.meaning)?;
        }
        let protocols: Vec<String> = self.protocols.iter().map(|t| format!("T={t}")).collect();
        writeln!(f, "  protocols: {}", protocols.join(", "))?;
        let ascii: String = self
            .historical
            .iter()
            .map(|&b| if b.is_ascii_graphic() || b == b' ' { char::from(b) } else { '.' })
            .collect();
        writeln!(
            f,
            "  historical bytes ({}): {}  \"{ascii}\"",
            self.historical.len(),
            hex(&self.historical)
        )?;
        if !self.historical.is_empty() {
            writeln!(f, "    category {}", self.historical_category)?;
        }
        for o in &self.historical_objects {
            writeln!(f, "    {:X}{:X}: {} = {}", o.tag, o.value.len(), o.meaning, hex(&o.value))?;
        }
        match self.tck {
            Some(Tck { value, valid: true }) => write!(f, "  TCK {value:02X}: correct"),
            Some(Tck { value, valid: false }) => {
                write!(f, "  TCK {value:02X}: WRONG (XOR of T0..TCK is not 00)")
            }
            None => write!(f, "  TCK absent (T=0 only)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    #[test]
    fn vicc_atr_decodes_to_t1_with_a_correct_tck() {
        // vicc's ATR (vsmartcard.md §2): TA1=13, TD1 -> T=1, TD2 -> T=1, 5 historical bytes.
        let atr = parse(&h("3B 95 13 81 01 80 73 FF 01 00 0B")).unwrap();
        assert_eq!(atr.convention, Convention::Direct);
        assert_eq!(atr.protocols, vec![1]);
        assert_eq!(atr.historical, h("80 73 FF 01 00"));
        assert_eq!(atr.tck, Some(Tck { value: 0x0B, valid: true }));
        let names: Vec<&str> = atr.interface.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["TA1", "TD1", "TD2"]);
        assert!(atr.interface[0].meaning.contains("Fi=372, Di=4"), "{}", atr.interface[0].meaning);
        assert_eq!(atr.historical_objects[0].meaning, "card capabilities");
        assert_eq!(atr.historical_objects[0].value, h("FF 01 00"));
    }

    #[test]
    fn a_wrong_tck_is_reported_not_refused() {
        let atr = parse(&h("3B 95 13 81 01 80 73 FF 01 00 0C")).unwrap();
        assert_eq!(atr.tck, Some(Tck { value: 0x0C, valid: false }));
        assert!(atr.to_string().contains("WRONG"));
    }

    #[test]
    fn a_t0_only_atr_has_no_tck() {
        let atr = parse(&h("3B 02 14 50")).unwrap();
        assert_eq!(atr.protocols, vec![0]);
        assert_eq!(atr.tck, None);
        assert_eq!(atr.historical, h("14 50"));
    }

    #[test]
    fn t1_specific_bytes_and_global_bytes_are_named() {
        // A JavaCard-like ATR: TA1 96, TD1 T=1 with TD2 -> TA3/TB3 for T=1, TD2 announces global T=15.
        let atr = parse(&h("3B F8 13 00 00 81 31 FE 45 4A 43 4F 50 76 32 34 31 B7")).unwrap();
        assert_eq!(atr.protocols, vec![1]);
        let ta3 = atr.interface.iter().find(|b| b.name == "TA3").unwrap();
        assert_eq!(ta3.meaning, "T=1 IFSC=254 bytes");
        let tb3 = atr.interface.iter().find(|b| b.name == "TB3").unwrap();
        assert_eq!(tb3.meaning, "T=1 BWI=4, CWI=5");
        assert_eq!(atr.historical, b"JCOPv241".to_vec());
        assert!(atr.tck.unwrap().valid);
    }

    #[test]
    fn broken_atrs_are_errors_that_say_why() {
        assert_eq!(parse(&[]), Err(AtrError::Empty));
        assert_eq!(parse(&h("3A 00")), Err(AtrError::BadTs(0x3A)));
        assert_eq!(parse(&h("3B 95 13")), Err(AtrError::Truncated { len: 3, needed: 4 }));
        assert_eq!(parse(&h("3B 02 14")), Err(AtrError::Truncated { len: 3, needed: 4 }));
        assert_eq!(parse(&h("3B 00 00")), Err(AtrError::Trailing(1)));
        assert_eq!(parse(&[0x3B; 34]), Err(AtrError::TooLong(34)));
    }

    #[test]
    fn no_byte_string_makes_the_decoder_panic() {
        // Every 1..4-byte prefix family, exhaustively over T0 and the first interface byte.
        for t0 in 0..=255u8 {
            for b in 0..=255u8 {
                let _ = parse(&[0x3B, t0, b, b, b, 0x00]);
                let _ = parse(&[0x3F, t0, b]);
            }
        }
    }
}
