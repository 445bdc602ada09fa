//! EMV numeric formats (EMV Book 3 §4.3, format `n`: BCD, right-justified, left-padded with zeros):
//! amounts (n12), currency codes (n3), dates (n6 YYMMDD) and times (n6 HHMMSS), and their conversion to
//! the integers cardgate computes with (minor units, ISO 4217 numeric codes, UTC seconds).

/// The largest amount n12 can hold: twelve nines, in minor units.
pub const MAX_AMOUNT: u64 = 999_999_999_999;

/// An amount of money: integer minor units and an ISO 4217 numeric currency code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    /// Minor units (cents, fen...).
    pub minor: u64,
    /// ISO 4217 numeric currency code (156 is CNY, 840 USD, 978 EUR).
    pub currency: u16,
}

/// Why a BCD field is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BcdError {
    /// A nibble above 9.
    #[error("nibble {0:X} is not a decimal digit")]
    NotDecimal(u8),
    /// A value with more digits than the format has.
    #[error("{value} does not fit in {digits} digits")]
    TooLarge {
        /// The value.
        value: u64,
        /// The number of digits of the format.
        digits: usize,
    },
    /// A date or time that does not exist (month 13, 25:00...).
    #[error("{0}")]
    NoSuchTime(String),
}

/// Encodes `value` as `N` bytes of BCD (2·N digits).
pub fn to_bcd<const N: usize>(value: u64) -> Result<[u8; N], BcdError> {
    let mut out = [0u8; N];
    let mut rest = value;
    for byte in out.iter_mut().rev() {
        let low = (rest % 10) as u8;
        rest /= 10;
        let high = (rest % 10) as u8;
        rest /= 10;
        *byte = (high << 4) | low;
    }
    if rest != 0 {
        return Err(BcdError::TooLarge { value, digits: 2 * N });
    }
    Ok(out)
}

/// Decodes BCD bytes into an integer, rejecting any nibble above 9.
pub fn from_bcd(bytes: &[u8]) -> Result<u64, BcdError> {
    bytes.iter().try_fold(0u64, |acc, &b| {
        let (high, low) = (b >> 4, b & 0x0F);
        if high > 9 {
            return Err(BcdError::NotDecimal(high));
        }
        if low > 9 {
            return Err(BcdError::NotDecimal(low));
        }
        Ok(acc * 100 + u64::from(high) * 10 + u64::from(low))
    })
}

/// An amount as n12 (`9F02`, 6 bytes).
pub fn amount_n12(minor: u64) -> Result<[u8; 6], BcdError> {
    to_bcd::<6>(minor)
}

/// A currency code as n3 in two bytes (`5F2A`: `0156` for CNY).
pub fn currency_n3(code: u16) -> Result<[u8; 2], BcdError> {
    if code > 999 {
        return Err(BcdError::TooLarge { value: u64::from(code), digits: 3 });
    }
    to_bcd::<2>(u64::from(code))
}

/// Reads a two-byte n3 currency code.
pub fn currency_from_n3(bytes: [u8; 2]) -> Result<u16, BcdError> {
    let v = from_bcd(&bytes)?;
    u16::try_from(v).ok().filter(|&c| c <= 999).ok_or(BcdError::TooLarge { value: v, digits: 3 })
}

/// A merchant category code as n4 (`9F15`: `5411` is `54 11`).
pub fn mcc_n4(mcc: u16) -> Result<[u8; 2], BcdError> {
    to_bcd::<2>(u64::from(mcc))
}

/// Reads a two-byte n4 merchant category code.
pub fn mcc_from_n4(bytes: [u8; 2]) -> Result<u16, BcdError> {
    // Four BCD digits are at most 9999, which fits in a u16.
    Ok(from_bcd(&bytes)? as u16)
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian; H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count from 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (if month <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, month, day)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// UTC seconds as EMV date `9A` (YYMMDD) and time `9F21` (HHMMSS). Years outside 2000–2049 cannot be
/// written (EMV Book 4 §6.7.3: YY 00–49 means 20YY, 50–99 means 19YY; cardgate uses only 20YY).
pub fn emv_date_time(unix: u32) -> Result<([u8; 3], [u8; 3]), BcdError> {
    let secs = i64::from(unix);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    if !(2000..=2049).contains(&year) {
        return Err(BcdError::NoSuchTime(format!("year {year} is outside 2000-2049, which YYMMDD can hold")));
    }
    let sod = secs.rem_euclid(86_400);
    // Each component is below 100, so the BCD conversions cannot fail.
    let two = |v: i64| ((v / 10) << 4 | (v % 10)) as u8;
    let date = [two(year - 2000), two(month), two(day)];
    let time = [two(sod / 3600), two(sod / 60 % 60), two(sod % 60)];
    Ok((date, time))
}

/// EMV date `9A` and time `9F21` (UTC) as seconds since 1970.
pub fn unix_from_emv(date: [u8; 3], time: [u8; 3]) -> Result<u32, BcdError> {
    let digit2 = |b: u8| from_bcd(&[b]).map(|v| v as i64);
    let (yy, month, day) = (digit2(date[0])?, digit2(date[1])?, digit2(date[2])?);
    let (hour, minute, second) = (digit2(time[0])?, digit2(time[1])?, digit2(time[2])?);
    if yy > 49 {
        return Err(BcdError::NoSuchTime(format!("year 19{yy} is before 2000")));
    }
    let year = 2000 + yy;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(BcdError::NoSuchTime(format!("{year:04}-{month:02}-{day:02} is not a date")));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(BcdError::NoSuchTime(format!("{hour:02}:{minute:02}:{second:02} is not a time of day")));
    }
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    // 2000-01-01 .. 2049-12-31 is well inside u32 seconds.
    Ok(secs as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn amounts_and_currencies_are_right_justified_bcd() {
        assert_eq!(amount_n12(1250).unwrap(), [0, 0, 0, 0, 0x12, 0x50]);
        assert_eq!(currency_n3(156).unwrap(), [0x01, 0x56]);
        assert_eq!(mcc_n4(5411).unwrap(), [0x54, 0x11]);
        assert!(amount_n12(MAX_AMOUNT + 1).is_err());
        assert!(currency_n3(1000).is_err());
        assert_eq!(from_bcd(&[0x1A]), Err(BcdError::NotDecimal(0xA)));
    }

    #[test]
    fn date_and_time_match_a_known_instant() {
        // 2026-11-28T10:00:00Z = 1795860000 (date -u -d 2026-11-28T10:00:00Z +%s).
        let (d, t) = emv_date_time(1_795_860_000).unwrap();
        assert_eq!((d, t), ([0x26, 0x11, 0x28], [0x10, 0x00, 0x00]));
        assert_eq!(unix_from_emv(d, t).unwrap(), 1_795_860_000);
        assert!(unix_from_emv([0x26, 0x02, 0x29], [0, 0, 0]).is_err(), "2026 is not a leap year");
        assert!(unix_from_emv([0x28, 0x02, 0x29], [0, 0, 0]).is_ok(), "2028 is");
        assert!(unix_from_emv([0x26, 0x13, 0x01], [0, 0, 0]).is_err());
        assert!(unix_from_emv([0x26, 0x01, 0x01], [0x24, 0, 0]).is_err());
        assert!(emv_date_time(0).is_err(), "1970 cannot be written as YYMMDD in 20YY");
    }

    proptest! {
        #[test]
        fn bcd_round_trips(v in 0u64..=MAX_AMOUNT) {
            prop_assert_eq!(from_bcd(&amount_n12(v).unwrap()).unwrap(), v);
        }

        #[test]
        fn emv_time_round_trips(secs in 946_684_800u32..2_524_607_999u32) {
            let (d, t) = emv_date_time(secs).unwrap();
            prop_assert_eq!(unix_from_emv(d, t).unwrap(), secs);
        }
    }
}
