//! Service data in a command's data field: BER-TLV with EMV tags where one exists and proprietary
//! tags for the rest (the table is in `docs/policies.md`). Strict: a malformed object, a wrong
//! length, a bad BCD digit, an impossible date or an unknown currency is an error that the gate
//! answers with `6A80`.
//!
//! | tag    | content                               | format (EMV Book 3 Annex A)           |
//! |--------|---------------------------------------|---------------------------------------|
//! | `9F02` | amount, authorised                    | n 12, 6 bytes BCD, minor units        |
//! | `5F2A` | transaction currency code             | n 3, 2 bytes BCD (ISO 4217 numeric)   |
//! | `9A`   | transaction date, **UTC**             | n 6, 3 bytes BCD `YYMMDD`             |
//! | `9F21` | transaction time, **UTC**             | n 6, 3 bytes BCD `HHMMSS`             |
//! | `9F15` | merchant category code                | n 4, 2 bytes BCD                      |
//! | `9F16` | merchant identifier                   | ans 15, 15 bytes, right-padded spaces |
//! | `9F1C` | terminal identification               | an 8, 8 bytes, right-padded spaces    |
//! | `DF51` | terminal location (cardgate)          | 8 bytes: latitude, longitude, each a big-endian signed 32-bit count of 10⁻⁷ degree |
//! | `DF52` | online indicator (cardgate)           | 1 byte: `00` offline, `01` online     |
//!
//! Only top-level objects are read; other tags are left to the applet. A tag given twice is an
//! error. EMV sends 9A/9F21 in the terminal's local time; cardgate terminals send UTC, because the
//! card has no clock and no zone of its own: the policy states the zone it judges local time in.

use policies::data::{MerchantId, ShortId, TerminalId};
use policies::{Currency, Mcc, Money, Point, ServiceData, UtcDateTime};

use crate::sw::{self, Sw};
use crate::tlv::{self, Tag, TlvError, Writer};

/// EMV 9F02, Amount, Authorised (Numeric).
pub const AMOUNT: Tag = Tag(0x9F02);
/// EMV 5F2A, Transaction Currency Code.
pub const CURRENCY: Tag = Tag(0x5F2A);
/// EMV 9A, Transaction Date (UTC in cardgate).
pub const DATE: Tag = Tag(0x9A);
/// EMV 9F21, Transaction Time (UTC in cardgate).
pub const TIME: Tag = Tag(0x9F21);
/// EMV 9F15, Merchant Category Code.
pub const MCC: Tag = Tag(0x9F15);
/// EMV 9F16, Merchant Identifier.
pub const MERCHANT: Tag = Tag(0x9F16);
/// EMV 9F1C, Terminal Identification.
pub const TERMINAL: Tag = Tag(0x9F1C);
/// cardgate: terminal location, latitude and longitude in 10⁻⁷ degree.
pub const LOCATION: Tag = Tag(0xDF51);
/// cardgate: online indicator.
pub const ONLINE: Tag = Tag(0xDF52);

/// Why a command's data field is not valid service data. Every variant maps to `6A80`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceDataError {
    /// Not well-formed BER-TLV.
    #[error("service data is not valid BER-TLV: {0}")]
    Tlv(#[from] TlvError),
    /// A service-data tag given twice.
    #[error("tag {0} is given twice")]
    Duplicate(Tag),
    /// A value of the wrong length.
    #[error("tag {tag} must be {expected} bytes long, not {got}")]
    WrongLength {
        /// The tag.
        tag: Tag,
        /// The length its format fixes.
        expected: usize,
        /// The length sent.
        got: usize,
    },
    /// A BCD value with a nibble above 9 (or a non-zero pad nibble).
    #[error("tag {tag}: {value} is not binary-coded decimal")]
    Bcd {
        /// The tag.
        tag: Tag,
        /// The value in hex.
        value: String,
    },
    /// A date or time that does not exist (month 13, 25:00, 31 April).
    #[error("tags 9A/9F21: 20{date} {time} UTC is not a valid date and time")]
    BadDateTime {
        /// The date digits `YYMMDD`.
        date: String,
        /// The time digits `HHMMSS`.
        time: String,
    },
    /// A currency code not in ISO 4217.
    #[error("tag 5F2A: {0:03} is not an ISO 4217 currency")]
    UnknownCurrency(u16),
    /// An amount without a currency or the reverse; a date without a time or the reverse.
    #[error("tag {given} needs tag {missing} as well")]
    Unpaired {
        /// The tag sent.
        given: Tag,
        /// The tag missing.
        missing: Tag,
    },
    /// Coordinates off the Earth.
    #[error("tag DF51: {0}")]
    BadLocation(String),
    /// An identifier that is not printable ASCII, or all spaces.
    #[error("tag {0}: not printable ASCII, or empty")]
    BadText(Tag),
    /// An online indicator other than 00 or 01.
    #[error("tag DF52: {0:02X} is neither 00 (offline) nor 01 (online)")]
    BadOnline(u8),
}

impl ServiceDataError {
    /// The status word the gate answers with: always `6A80` (incorrect parameters in the data
    /// field, ISO 7816-4 §5.6 table 6).
    pub fn status_word(&self) -> Sw {
        sw::WRONG_DATA
    }
}

/// Why service data cannot be written as TLV.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToTlvError {
    /// 9A carries two year digits: EMV reads 00–49 as 2000–2049 and 50–99 as 1950–1999.
    #[error("time {0} is outside 1950-01-01 to 2049-12-31, which tags 9A/9F21 can carry")]
    TimeOutOfRange(i64),
}

fn fixed(tag: Tag, value: &[u8], len: usize) -> Result<&[u8], ServiceDataError> {
    if value.len() == len {
        Ok(value)
    } else {
        Err(ServiceDataError::WrongLength { tag, expected: len, got: value.len() })
    }
}

/// Reads packed BCD digits as a number (EMV format n: leading pad nibbles are zero).
fn bcd(tag: Tag, value: &[u8]) -> Result<u64, ServiceDataError> {
    let mut n: u64 = 0;
    for &b in value {
        for nibble in [b >> 4, b & 0x0F] {
            if nibble > 9 {
                return Err(ServiceDataError::Bcd { tag, value: hex(value) });
            }
            n = n * 10 + u64::from(nibble);
        }
    }
    Ok(n)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Writes `n` as `len` bytes of packed BCD (the caller keeps `n` within `2 × len` digits).
fn to_bcd(mut n: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    for byte in out.iter_mut().rev() {
        let lo = (n % 10) as u8;
        n /= 10;
        let hi = (n % 10) as u8;
        n /= 10;
        *byte = (hi << 4) | lo;
    }
    out
}

fn text<const N: usize>(tag: Tag, value: &[u8]) -> Result<ShortId<N>, ServiceDataError> {
    let value = fixed(tag, value, N)?;
    let s = std::str::from_utf8(value).map_err(|_| ServiceDataError::BadText(tag))?;
    ShortId::<N>::new(s.trim_end_matches(' ')).map_err(|_| ServiceDataError::BadText(tag))
}

/// Reads service data from a command's data field (top-level objects; other tags are ignored).
pub fn from_tlv(field: &[u8]) -> Result<ServiceData, ServiceDataError> {
    let mut seen: Vec<Tag> = Vec::new();
    let (mut amount, mut currency, mut date, mut time) = (None, None, None, None);
    let mut data = ServiceData::default();
    for object in tlv::iter(field) {
        let object = object?;
        let known = [AMOUNT, CURRENCY, DATE, TIME, MCC, MERCHANT, TERMINAL, LOCATION, ONLINE];
        if !known.contains(&object.tag) {
            continue;
        }
        if seen.contains(&object.tag) {
            return Err(ServiceDataError::Duplicate(object.tag));
        }
        seen.push(object.tag);
        let (tag, value) = (object.tag, object.value);
        match tag {
            AMOUNT => amount = Some(bcd(tag, fixed(tag, value, 6)?)?),
            CURRENCY => {
                let code = bcd(tag, fixed(tag, value, 2)?)?;
                if code > 999 {
                    return Err(ServiceDataError::Bcd { tag, value: hex(value) });
                }
                let code = code as u16;
                currency = Some(Currency::from_numeric(code).ok_or(ServiceDataError::UnknownCurrency(code))?);
            }
            DATE => date = Some(fixed(tag, value, 3).and_then(|v| bcd(tag, v).map(|_| [v[0], v[1], v[2]]))?),
            TIME => time = Some(fixed(tag, value, 3).and_then(|v| bcd(tag, v).map(|_| [v[0], v[1], v[2]]))?),
            MCC => {
                let code = bcd(tag, fixed(tag, value, 2)?)?;
                data.mcc =
                    Some(Mcc::new(code as u16).ok_or(ServiceDataError::Bcd { tag, value: hex(value) })?);
            }
            MERCHANT => data.merchant = Some(text::<15>(tag, value)?),
            TERMINAL => data.terminal = Some(text::<8>(tag, value)?),
            LOCATION => {
                let v = fixed(tag, value, 8)?;
                let lat = i32::from_be_bytes([v[0], v[1], v[2], v[3]]);
                let lon = i32::from_be_bytes([v[4], v[5], v[6], v[7]]);
                data.location =
                    Some(Point::from_e7(lat, lon).map_err(|e| ServiceDataError::BadLocation(e.to_string()))?);
            }
            ONLINE => {
                data.online = Some(match fixed(tag, value, 1)?[0] {
                    0x00 => false,
                    0x01 => true,
                    other => return Err(ServiceDataError::BadOnline(other)),
                });
            }
            _ => {}
        }
    }
    data.amount = match (amount, currency) {
        (Some(minor_units), Some(currency)) => Some(Money { minor_units, currency }),
        (None, None) => None,
        (Some(_), None) => return Err(ServiceDataError::Unpaired { given: AMOUNT, missing: CURRENCY }),
        (None, Some(_)) => return Err(ServiceDataError::Unpaired { given: CURRENCY, missing: AMOUNT }),
    };
    data.time = match (date, time) {
        (Some(d), Some(t)) => Some(utc_seconds(d, t)?),
        (None, None) => None,
        (Some(_), None) => return Err(ServiceDataError::Unpaired { given: DATE, missing: TIME }),
        (None, Some(_)) => return Err(ServiceDataError::Unpaired { given: TIME, missing: DATE }),
    };
    Ok(data)
}

fn utc_seconds(date: [u8; 3], time: [u8; 3]) -> Result<i64, ServiceDataError> {
    // Both are checked BCD, so each byte is two decimal digits.
    let two = |b: u8| ((b >> 4) * 10 + (b & 0x0F)) as i8;
    let yy = i16::from(two(date[0]));
    // EMV's reading of two-digit years (Book 4 §6.7.3): 00–49 → 20YY, 50–99 → 19YY.
    let year = if yy < 50 { 2000 + yy } else { 1900 + yy };
    let at = UtcDateTime {
        year,
        month: two(date[1]),
        day: two(date[2]),
        hour: two(time[0]),
        minute: two(time[1]),
        second: two(time[2]),
    };
    at.to_seconds().ok_or_else(|| ServiceDataError::BadDateTime { date: hex(&date), time: hex(&time) })
}

/// Writes service data as BER-TLV for a command's data field, tags in the order of the table above.
pub fn to_tlv(data: &ServiceData) -> Result<Vec<u8>, ToTlvError> {
    let mut w = Writer::new();
    write(data, &mut w)?;
    Ok(w.into_bytes())
}

/// Appends service data to a writer that may also carry the applet's own objects.
pub fn write(data: &ServiceData, w: &mut Writer) -> Result<(), ToTlvError> {
    if let Some(amount) = data.amount {
        w.primitive(AMOUNT, &to_bcd(amount.minor_units, 6));
        w.primitive(CURRENCY, &to_bcd(u64::from(amount.currency.numeric()), 2));
    }
    if let Some(t) = data.time {
        let at = UtcDateTime::from_seconds(t)
            .filter(|at| (1950..=2049).contains(&at.year))
            .ok_or(ToTlvError::TimeOutOfRange(t))?;
        let n = |v: i8| u64::from(v.unsigned_abs());
        let yy = u64::from((at.year % 100).unsigned_abs());
        w.primitive(DATE, &to_bcd(yy * 10_000 + n(at.month) * 100 + n(at.day), 3));
        w.primitive(TIME, &to_bcd(n(at.hour) * 10_000 + n(at.minute) * 100 + n(at.second), 3));
    }
    if let Some(mcc) = data.mcc {
        w.primitive(MCC, &to_bcd(u64::from(mcc.code()), 2));
    }
    if let Some(m) = data.merchant {
        w.primitive(MERCHANT, &m.padded());
    }
    if let Some(t) = data.terminal {
        w.primitive(TERMINAL, &t.padded());
    }
    if let Some(p) = data.location {
        let mut v = [0u8; 8];
        v[..4].copy_from_slice(&p.lat_e7.to_be_bytes());
        v[4..].copy_from_slice(&p.lon_e7.to_be_bytes());
        w.primitive(LOCATION, &v);
    }
    if let Some(online) = data.online {
        w.primitive(ONLINE, &[u8::from(online)]);
    }
    Ok(())
}

/// A merchant id from EMV 9F16 bytes (exposed for applets that read 9F16 themselves).
pub fn merchant_id(value: &[u8]) -> Result<MerchantId, ServiceDataError> {
    text::<15>(MERCHANT, value)
}

/// A terminal id from EMV 9F1C bytes.
pub fn terminal_id(value: &[u8]) -> Result<TerminalId, ServiceDataError> {
    text::<8>(TERMINAL, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    const FULL: &str = "9F02 06 000000001250  5F2A 02 0156  9A 03 261128  9F21 03 100000  9F15 02 5411 \
                        9F16 0F 53484F502D30303031202020202020  9F1C 08 504F533030303137 \
                        DF51 08 129D6180 48676A68  DF52 01 00";

    #[test]
    fn reads_every_tag() {
        let data = from_tlv(&h(FULL)).unwrap();
        let expected = ServiceData::parse(
            "amount=12.50 currency=CNY time=2026-11-28T10:00:00Z lat=31.2304000 lon=121.4737000 \
             merchant=SHOP-0001 mcc=5411 terminal=POS00017 online=no"
                .split_whitespace(),
        )
        .unwrap();
        assert_eq!(data, expected);
        assert_eq!(to_tlv(&data).unwrap(), h(FULL), "writing gives the same bytes back");
    }

    #[test]
    fn empty_data_and_foreign_tags_give_no_service_data() {
        assert_eq!(from_tlv(&[]).unwrap(), ServiceData::default());
        let with_applet_tag = h("C1 02 ABCD 9F15 02 4111");
        assert_eq!(from_tlv(&with_applet_tag).unwrap().mcc.unwrap().code(), 4111);
    }

    #[test]
    fn malformed_service_data_is_named_and_6a80() {
        let err = |s: &str| from_tlv(&h(s)).unwrap_err();
        assert!(matches!(err("9F02 06 0000"), ServiceDataError::Tlv(TlvError::Overrun { .. })));
        assert_eq!(err("9F15 02 5411 9F15 02 5411"), ServiceDataError::Duplicate(MCC));
        assert_eq!(
            err("9F02 05 0000001250"),
            ServiceDataError::WrongLength { tag: AMOUNT, expected: 6, got: 5 }
        );
        assert_eq!(
            err("9F02 06 00000000125A 5F2A 02 0156").to_string(),
            "tag 9F02: 00000000125A is not binary-coded decimal"
        );
        assert_eq!(
            err("9F02 06 000000001250"),
            ServiceDataError::Unpaired { given: AMOUNT, missing: CURRENCY }
        );
        assert_eq!(err("5F2A 02 0999 9F02 06 000000000001"), ServiceDataError::UnknownCurrency(999));
        assert_eq!(
            err("5F2A 02 1156 9F02 06 000000000001").to_string(),
            "tag 5F2A: 1156 is not binary-coded decimal"
        );
        assert_eq!(
            err("9A 03 261328 9F21 03 100000").to_string(),
            "tags 9A/9F21: 20261328 100000 UTC is not a valid date and time"
        );
        assert!(matches!(err("9A 03 260431 9F21 03 100000"), ServiceDataError::BadDateTime { .. }));
        assert!(matches!(err("9A 03 261128 9F21 03 246000"), ServiceDataError::BadDateTime { .. }));
        assert_eq!(err("9A 03 261128"), ServiceDataError::Unpaired { given: DATE, missing: TIME });
        assert_eq!(
            err("DF51 08 40000000 00000000").to_string(),
            "tag DF51: latitude 107.3741824 is outside -90..=90 degrees"
        );
        assert_eq!(err("DF52 01 02"), ServiceDataError::BadOnline(2));
        assert_eq!(err("9F1C 08 2020202020202020"), ServiceDataError::BadText(TERMINAL));
        assert_eq!(err("9F1C 08 504F530A30303137"), ServiceDataError::BadText(TERMINAL));
        assert_eq!(
            err("9F1C 04 504F5331"),
            ServiceDataError::WrongLength { tag: TERMINAL, expected: 8, got: 4 }
        );
        assert_eq!(err("9F15 02 5411 9F15").status_word(), 0x6A80);
    }

    #[test]
    fn years_follow_the_emv_two_digit_rule() {
        let at = |s: &str| from_tlv(&h(s)).unwrap().time.unwrap();
        assert_eq!(at("9A 03 491231 9F21 03 235959"), 2_524_607_999); // 2049-12-31T23:59:59Z
        assert_eq!(at("9A 03 500101 9F21 03 000000"), -631_152_000); // 1950-01-01T00:00:00Z
        let too_late = ServiceData { time: Some(2_524_608_000), ..ServiceData::default() };
        assert_eq!(to_tlv(&too_late), Err(ToTlvError::TimeOutOfRange(2_524_608_000)));
    }

    proptest! {
        #[test]
        fn any_bytes_give_data_or_an_error_never_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
            let _ = from_tlv(&bytes);
        }

        #[test]
        fn service_data_round_trips(
            minor in 0u64..=999_999_999_999, cur in 0usize..150, time in -631_152_000i64..2_524_607_999,
            lat in -900_000_000i32..=900_000_000, lon in -1_800_000_000i32..=1_800_000_000,
            mcc in 0u16..=9999, merchant in "[ -~]{0,14}[!-~]", terminal in "[A-Z0-9]{1,8}", online in any::<bool>(),
            mask in 0u8..128) {
            let currency = Currency::all()[cur % Currency::all().len()];
            let merchant = merchant.trim_start();
            let full = ServiceData {
                amount: Some(Money { minor_units: minor, currency }),
                time: Some(time),
                location: Some(Point { lat_e7: lat, lon_e7: lon }),
                mcc: Mcc::new(mcc),
                merchant: if merchant.is_empty() { None } else { Some(MerchantId::new(merchant).unwrap()) },
                terminal: Some(TerminalId::new(&terminal).unwrap()),
                online: Some(online),
            };
            // Any subset of the fields.
            let pick = |bit: u8| mask & (1 << bit) != 0;
            let data = ServiceData {
                amount: full.amount.filter(|_| pick(0)),
                time: full.time.filter(|_| pick(1)),
                location: full.location.filter(|_| pick(2)),
                mcc: full.mcc.filter(|_| pick(3)),
                merchant: full.merchant.filter(|_| pick(4)),
                terminal: full.terminal.filter(|_| pick(5)),
                online: full.online.filter(|_| pick(6)),
            };
            let bytes = to_tlv(&data).unwrap();
            prop_assert_eq!(from_tlv(&bytes).unwrap(), data);
        }
    }
}
