//! What the decision function is given: the service data a terminal supplied with the command, and
//! the card's security state. Both are plain `Copy` values: building and reading them never
//! allocates.
//!
//! On the card, service data is decoded from the command's BER-TLV data field
//! (`applet::gate::service_data`); a host builds it from `key=value` text with [`ServiceData::parse`].

use std::fmt;

use crate::currency::{Currency, Money};
use crate::geo::Point;

/// A short identifier of printable ASCII held inline: merchant ids (EMV 9F16, ans 15) and terminal
/// ids (EMV 9F1C, an 8). On the wire it is right-padded with spaces to exactly `N` bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShortId<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

/// A merchant identifier (EMV tag 9F16: at most 15 characters).
pub type MerchantId = ShortId<15>;
/// A terminal identifier (EMV tag 9F1C: at most 8 characters).
pub type TerminalId = ShortId<8>;

/// Why text is not a valid short identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Empty, or only spaces.
    #[error("an identifier cannot be empty")]
    Empty,
    /// Longer than the field.
    #[error("`{text}` is {len} characters long; at most {max} fit")]
    TooLong {
        /// The text.
        text: String,
        /// Its length in bytes.
        len: usize,
        /// The field's size.
        max: usize,
    },
    /// A character outside printable ASCII, or a leading or trailing space.
    #[error("`{0}` must be printable ASCII without leading or trailing spaces")]
    BadCharacter(String),
}

impl<const N: usize> ShortId<N> {
    /// An identifier from text: 1 to `N` printable ASCII characters, no leading or trailing space.
    pub fn new(text: &str) -> Result<Self, IdError> {
        if text.trim().is_empty() {
            return Err(IdError::Empty);
        }
        if text.len() > N {
            return Err(IdError::TooLong { text: text.to_owned(), len: text.len(), max: N });
        }
        if !text.bytes().all(|b| (0x20..=0x7E).contains(&b)) || text.trim() != text {
            return Err(IdError::BadCharacter(text.to_owned()));
        }
        let mut bytes = [b' '; N];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        Ok(ShortId { len: text.len() as u8, bytes })
    }

    /// The identifier as text, without padding.
    pub fn as_str(&self) -> &str {
        // Only printable ASCII is ever stored, so this cannot fail; fall back to "" regardless.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }

    /// The identifier right-padded with spaces to the full field width, as EMV writes it.
    pub fn padded(&self) -> [u8; N] {
        self.bytes
    }
}

impl<const N: usize> fmt::Debug for ShortId<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl<const N: usize> fmt::Display for ShortId<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A merchant category code (ISO 18245; EMV tag 9F15, n 4): 0000 to 9999.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mcc(u16);

impl Mcc {
    /// A merchant category code from its number, if it has at most four digits.
    pub const fn new(code: u16) -> Option<Mcc> {
        if code <= 9999 { Some(Mcc(code)) } else { None }
    }

    /// Parses exactly four decimal digits (`"5411"`, `"0742"`).
    pub fn parse(text: &str) -> Option<Mcc> {
        if text.len() != 4 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse().ok().and_then(Mcc::new)
    }

    /// The code as a number.
    pub const fn code(self) -> u16 {
        self.0
    }
}

impl fmt::Display for Mcc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.0)
    }
}

/// A UTC calendar date and time of day, to and from UTC seconds: how EMV tags 9A and 9F21 carry
/// the transaction time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtcDateTime {
    /// The year (proleptic Gregorian).
    pub year: i16,
    /// 1 to 12.
    pub month: i8,
    /// 1 to 31.
    pub day: i8,
    /// 0 to 23.
    pub hour: i8,
    /// 0 to 59.
    pub minute: i8,
    /// 0 to 59.
    pub second: i8,
}

impl UtcDateTime {
    /// The UTC date and time at `seconds` since 1970, or `None` outside the years −9999..=9999.
    pub fn from_seconds(seconds: i64) -> Option<UtcDateTime> {
        let dt = jiff::tz::TimeZone::UTC.to_datetime(jiff::Timestamp::from_second(seconds).ok()?);
        Some(UtcDateTime {
            year: dt.year(),
            month: dt.month(),
            day: dt.day(),
            hour: dt.hour(),
            minute: dt.minute(),
            second: dt.second(),
        })
    }

    /// Seconds since 1970, or `None` if the fields are not a real date and time (31 April, 24:00).
    pub fn to_seconds(&self) -> Option<i64> {
        let date = jiff::civil::Date::new(self.year, self.month, self.day).ok()?;
        let time = jiff::civil::Time::new(self.hour, self.minute, self.second, 0).ok()?;
        let ts = jiff::tz::TimeZone::UTC.to_timestamp(date.to_datetime(time)).ok()?;
        Some(ts.as_second())
    }
}

/// The data a terminal supplies with a service command. Every field is optional: a rule that needs
/// a field the terminal did not send fails with a "missing service data" reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServiceData {
    /// The transaction amount and currency (EMV 9F02 + 5F2A).
    pub amount: Option<Money>,
    /// The transaction time in UTC seconds since 1970 (EMV 9A + 9F21, sent in UTC by cardgate
    /// terminals).
    pub time: Option<i64>,
    /// Where the terminal is (proprietary tag DF51, see `docs/policies.md`).
    pub location: Option<Point>,
    /// The merchant category code (EMV 9F15).
    pub mcc: Option<Mcc>,
    /// The merchant identifier (EMV 9F16).
    pub merchant: Option<MerchantId>,
    /// The terminal identifier (EMV 9F1C).
    pub terminal: Option<TerminalId>,
    /// Whether the terminal is authorising this use online with the issuer (proprietary tag DF52).
    /// Absent counts as offline: the card cannot know the issuer is reachable.
    pub online: Option<bool>,
}

/// The card's security state when the service is requested.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SecurityState {
    /// Whether the cardholder PIN has been verified in this session (cleared on reset or reselect).
    pub pin_verified: bool,
}

/// Why `key=value` service data could not be read. Each names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    /// Not of the form `key=value`.
    #[error("`{0}` is not of the form key=value")]
    NotAnAssignment(String),
    /// A key this format does not know.
    #[error(
        "unknown key `{0}`; known keys: amount, currency, time, lat, lon, merchant, mcc, terminal, online"
    )]
    UnknownKey(String),
    /// The same key twice.
    #[error("key `{0}` is given twice")]
    Duplicate(String),
    /// A value that does not parse.
    #[error("{key}: {message}")]
    BadValue {
        /// The key.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
    /// One of a pair given without the other (`amount` without `currency`, `lat` without `lon`).
    #[error("`{given}` needs `{missing}` as well")]
    Unpaired {
        /// The key given.
        given: &'static str,
        /// The key missing.
        missing: &'static str,
    },
}

impl ServiceData {
    /// Reads service data from `key=value` words, as `cardgate policy explain --data` takes them:
    /// `amount=12.50 currency=CNY time=2026-11-28T10:00:00Z lat=31.2304 lon=121.4737
    /// merchant=SHOP-0001 mcc=5411 terminal=POS00017 online=no`.
    pub fn parse<'a>(words: impl IntoIterator<Item = &'a str>) -> Result<ServiceData, DataError> {
        const KEYS: [&str; 9] =
            ["amount", "currency", "time", "lat", "lon", "merchant", "mcc", "terminal", "online"];
        let mut values: [Option<&str>; 9] = [None; 9];
        for word in words {
            let (key, value) = word.split_once('=').ok_or_else(|| DataError::NotAnAssignment(word.into()))?;
            let i = KEYS.iter().position(|k| *k == key).ok_or_else(|| DataError::UnknownKey(key.into()))?;
            if values[i].replace(value).is_some() {
                return Err(DataError::Duplicate(key.into()));
            }
        }
        let bad = |key: &'static str, message: String| DataError::BadValue { key, message };
        let [amount, currency, time, lat, lon, merchant, mcc, terminal, online] = values;
        let mut data = ServiceData::default();
        match (amount, currency) {
            (Some(a), Some(c)) => {
                let currency = Currency::from_alpha(c)
                    .ok_or_else(|| bad("currency", format!("`{c}` is not an ISO 4217 currency code")))?;
                data.amount = Some(Money::parse(a, currency).map_err(|e| bad("amount", e.to_string()))?);
            }
            (Some(_), None) => return Err(DataError::Unpaired { given: "amount", missing: "currency" }),
            (None, Some(_)) => return Err(DataError::Unpaired { given: "currency", missing: "amount" }),
            (None, None) => {}
        }
        if let Some(t) = time {
            let ts: jiff::Timestamp = t.parse().map_err(|e| {
                bad(
                    "time",
                    format!(
                        "`{t}` is not an RFC 3339 time with an offset, such as 2026-11-28T10:00:00Z ({e})"
                    ),
                )
            })?;
            data.time = Some(ts.as_second());
        }
        match (lat, lon) {
            (Some(la), Some(lo)) => {
                let deg = |key: &'static str, v: &str| {
                    v.parse::<f64>().map_err(|_| bad(key, format!("`{v}` is not a number of degrees")))
                };
                let point = Point::from_degrees(deg("lat", la)?, deg("lon", lo)?)
                    .map_err(|e| bad("lat/lon", e.to_string()))?;
                data.location = Some(point);
            }
            (Some(_), None) => return Err(DataError::Unpaired { given: "lat", missing: "lon" }),
            (None, Some(_)) => return Err(DataError::Unpaired { given: "lon", missing: "lat" }),
            (None, None) => {}
        }
        if let Some(m) = merchant {
            data.merchant = Some(MerchantId::new(m).map_err(|e| bad("merchant", e.to_string()))?);
        }
        if let Some(m) = mcc {
            data.mcc = Some(Mcc::parse(m).ok_or_else(|| bad("mcc", format!("`{m}` is not four digits")))?);
        }
        if let Some(t) = terminal {
            data.terminal = Some(TerminalId::new(t).map_err(|e| bad("terminal", e.to_string()))?);
        }
        if let Some(o) = online {
            data.online = Some(match o {
                "yes" | "true" | "online" | "1" => true,
                "no" | "false" | "offline" | "0" => false,
                _ => return Err(bad("online", format!("`{o}` is not yes or no"))),
            });
        }
        Ok(data)
    }
}

impl fmt::Display for ServiceData {
    /// One `key=value` word per field present, in the order [`ServiceData::parse`] reads them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut words: Vec<String> = Vec::new();
        if let Some(m) = self.amount {
            words.push(format!("amount={}", m.decimal()));
            words.push(format!("currency={}", m.currency));
        }
        if let Some(t) = self.time {
            match jiff::Timestamp::from_second(t) {
                Ok(ts) => words.push(format!("time={ts}")),
                Err(_) => words.push(format!("time=@{t}")),
            }
        }
        if let Some(p) = self.location {
            words.push(format!("lat={:.7}", p.lat()));
            words.push(format!("lon={:.7}", p.lon()));
        }
        if let Some(m) = self.merchant {
            words.push(format!("merchant={m}"));
        }
        if let Some(m) = self.mcc {
            words.push(format!("mcc={m}"));
        }
        if let Some(t) = self.terminal {
            words.push(format!("terminal={t}"));
        }
        if let Some(o) = self.online {
            words.push(format!("online={}", if o { "yes" } else { "no" }));
        }
        f.write_str(&words.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_check_length_and_characters() {
        assert_eq!(MerchantId::new("SHOP-0001").unwrap().as_str(), "SHOP-0001");
        assert_eq!(&TerminalId::new("POS1").unwrap().padded(), b"POS1    ");
        assert_eq!(
            TerminalId::new("POS000017"),
            Err(IdError::TooLong { text: "POS000017".into(), len: 9, max: 8 })
        );
        assert_eq!(MerchantId::new(""), Err(IdError::Empty));
        assert_eq!(MerchantId::new("   "), Err(IdError::Empty));
        assert!(matches!(MerchantId::new(" A"), Err(IdError::BadCharacter(_))));
        assert!(matches!(MerchantId::new("caf\u{e9}"), Err(IdError::BadCharacter(_))));
        assert!(matches!(MerchantId::new("a\tb"), Err(IdError::BadCharacter(_))));
    }

    #[test]
    fn utc_date_times_convert_both_ways() {
        let t = UtcDateTime { year: 2026, month: 11, day: 28, hour: 10, minute: 0, second: 0 };
        assert_eq!(t.to_seconds(), Some(1_795_860_000));
        assert_eq!(UtcDateTime::from_seconds(1_795_860_000), Some(t));
        assert_eq!(UtcDateTime { day: 31, month: 4, ..t }.to_seconds(), None);
        assert_eq!(UtcDateTime { hour: 24, ..t }.to_seconds(), None);
        assert_eq!(UtcDateTime::from_seconds(i64::MAX), None);
    }

    #[test]
    fn mcc_is_four_digits() {
        assert_eq!(Mcc::parse("0742").unwrap().to_string(), "0742");
        assert_eq!(Mcc::parse("5411").unwrap().code(), 5411);
        for bad in ["742", "54111", "54a1", "+541", ""] {
            assert!(Mcc::parse(bad).is_none(), "{bad}");
        }
        assert!(Mcc::new(10_000).is_none());
    }

    #[test]
    fn key_value_data_round_trips_through_display() {
        let text = "amount=12.50 currency=CNY time=2026-11-28T10:00:00Z lat=31.2304000 lon=121.4737000 \
                    merchant=SHOP-0001 mcc=5411 terminal=POS00017 online=no";
        let data = ServiceData::parse(text.split_whitespace()).unwrap();
        assert_eq!(data.amount.unwrap().minor_units, 1250);
        assert_eq!(data.time, Some(1_795_860_000));
        assert_eq!(data.location.unwrap().lat_e7, 312_304_000);
        assert_eq!(data.online, Some(false));
        assert_eq!(data.to_string(), text.split_whitespace().collect::<Vec<_>>().join(" "));
        assert_eq!(ServiceData::parse(data.to_string().split(' ')).unwrap(), data);
    }

    #[test]
    fn key_value_errors_name_the_key() {
        let err = |s: &str| ServiceData::parse(s.split_whitespace()).unwrap_err().to_string();
        assert!(err("amount=1").contains("`amount` needs `currency`"));
        assert!(err("lon=1").contains("`lon` needs `lat`"));
        assert!(err("amount=1.234 currency=CNY").contains("more decimal places than CNY allows (2)"));
        assert!(err("amount=1 currency=XYZ").contains("`XYZ` is not an ISO 4217 currency code"));
        assert!(err("time=2026-11-28").starts_with("time:"));
        assert!(err("lat=95 lon=0").contains("latitude 95 is outside"));
        assert!(err("mcc=54").contains("mcc: `54` is not four digits"));
        assert!(err("colour=red").contains("unknown key `colour`"));
        assert!(err("mcc=5411 mcc=5412").contains("given twice"));
        assert!(err("online=maybe").contains("online: `maybe` is not yes or no"));
        assert!(err("amount").contains("not of the form key=value"));
    }
}
