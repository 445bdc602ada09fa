//! ISO 4217 currencies and money as integer minor units.
//!
//! The table is ISO 4217 list one (current currency and funds codes) as amended through 2025: every
//! entry that has minor units. Precious metals, SDR, bond-market units and the test code (`XAU`,
//! `XDR`, `XBA`–`XBD`, `XTS`, `XXX`, ...) have no minor units ("N.A.") and cannot price a service, so
//! they are left out. Withdrawn codes (`HRK`, `ANG`, `CUC`, `SLL`, `ZWL`) are left out too.

use std::fmt;

/// One ISO 4217 currency: alphabetic code, numeric code and the number of minor-unit digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    alpha: &'static str,
    numeric: u16,
    exponent: u8,
}

macro_rules! table {
    ($($alpha:literal $numeric:literal $exp:literal),* $(,)?) => {
        &[$(Currency { alpha: $alpha, numeric: $numeric, exponent: $exp }),*]
    };
}

/// ISO 4217 list one, sorted by alphabetic code.
static TABLE: &[Currency] = table![
    "AED" 784 2, "AFN" 971 2, "ALL" 8 2, "AMD" 51 2, "AOA" 973 2, "ARS" 32 2, "AUD" 36 2, "AWG" 533 2,
    "AZN" 944 2, "BAM" 977 2, "BBD" 52 2, "BDT" 50 2, "BGN" 975 2, "BHD" 48 3, "BIF" 108 0, "BMD" 60 2,
    "BND" 96 2, "BOB" 68 2, "BOV" 984 2, "BRL" 986 2, "BSD" 44 2, "BTN" 64 2, "BWP" 72 2, "BYN" 933 2,
    "BZD" 84 2, "CAD" 124 2, "CDF" 976 2, "CHE" 947 2, "CHF" 756 2, "CHW" 948 2, "CLF" 990 4, "CLP" 152 0,
    "CNY" 156 2, "COP" 170 2, "COU" 970 2, "CRC" 188 2, "CUP" 192 2, "CVE" 132 2, "CZK" 203 2, "DJF" 262 0,
    "DKK" 208 2, "DOP" 214 2, "DZD" 12 2, "EGP" 818 2, "ERN" 232 2, "ETB" 230 2, "EUR" 978 2, "FJD" 242 2,
    "FKP" 238 2, "GBP" 826 2, "GEL" 981 2, "GHS" 936 2, "GIP" 292 2, "GMD" 270 2, "GNF" 324 0, "GTQ" 320 2,
    "GYD" 328 2, "HKD" 344 2, "HNL" 340 2, "HTG" 332 2, "HUF" 348 2, "IDR" 360 2, "ILS" 376 2, "INR" 356 2,
    "IQD" 368 3, "IRR" 364 2, "ISK" 352 0, "JMD" 388 2, "JOD" 400 3, "JPY" 392 0, "KES" 404 2, "KGS" 417 2,
    "KHR" 116 2, "KMF" 174 0, "KPW" 408 2, "KRW" 410 0, "KWD" 414 3, "KYD" 136 2, "KZT" 398 2, "LAK" 418 2,
    "LBP" 422 2, "LKR" 144 2, "LRD" 430 2, "LSL" 426 2, "LYD" 434 3, "MAD" 504 2, "MDL" 498 2, "MGA" 969 2,
    "MKD" 807 2, "MMK" 104 2, "MNT" 496 2, "MOP" 446 2, "MRU" 929 2, "MUR" 480 2, "MVR" 462 2, "MWK" 454 2,
    "MXN" 484 2, "MXV" 979 2, "MYR" 458 2, "MZN" 943 2, "NAD" 516 2, "NGN" 566 2, "NIO" 558 2, "NOK" 578 2,
    "NPR" 524 2, "NZD" 554 2, "OMR" 512 3, "PAB" 590 2, "PEN" 604 2, "PGK" 598 2, "PHP" 608 2, "PKR" 586 2,
    "PLN" 985 2, "PYG" 600 0, "QAR" 634 2, "RON" 946 2, "RSD" 941 2, "RUB" 643 2, "RWF" 646 0, "SAR" 682 2,
    "SBD" 90 2, "SCR" 690 2, "SDG" 938 2, "SEK" 752 2, "SGD" 702 2, "SHP" 654 2, "SLE" 925 2, "SOS" 706 2,
    "SRD" 968 2, "SSP" 728 2, "STN" 930 2, "SVC" 222 2, "SYP" 760 2, "SZL" 748 2, "THB" 764 2, "TJS" 972 2,
    "TMT" 934 2, "TND" 788 3, "TOP" 776 2, "TRY" 949 2, "TTD" 780 2, "TWD" 901 2, "TZS" 834 2, "UAH" 980 2,
    "UGX" 800 0, "USD" 840 2, "USN" 997 2, "UYI" 940 0, "UYU" 858 2, "UYW" 927 4, "UZS" 860 2, "VED" 926 2,
    "VES" 928 2, "VND" 704 0, "VUV" 548 0, "WST" 882 2, "XAF" 950 0, "XCD" 951 2, "XCG" 532 2, "XOF" 952 0,
    "XPF" 953 0, "YER" 886 2, "ZAR" 710 2, "ZMW" 967 2, "ZWG" 924 2,
];

impl Currency {
    /// The currency with this alphabetic code (`"CNY"`), upper case as ISO 4217 writes it.
    pub fn from_alpha(code: &str) -> Option<Currency> {
        TABLE.binary_search_by(|c| c.alpha.cmp(code)).ok().map(|i| TABLE[i])
    }

    /// The currency with this numeric code (156 for CNY), as EMV tag 5F2A carries it.
    pub fn from_numeric(code: u16) -> Option<Currency> {
        TABLE.iter().find(|c| c.numeric == code).copied()
    }

    /// The alphabetic code, such as `"CNY"`.
    pub const fn alpha(self) -> &'static str {
        self.alpha
    }

    /// The numeric code, such as 156.
    pub const fn numeric(self) -> u16 {
        self.numeric
    }

    /// How many digits of minor units the currency has (2 for CNY, 0 for JPY, 3 for KWD).
    pub const fn exponent(self) -> u8 {
        self.exponent
    }

    /// Every currency in the table, sorted by alphabetic code.
    pub fn all() -> &'static [Currency] {
        TABLE
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({}/{:03})", self.alpha, self.numeric)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.alpha)
    }
}

/// The largest amount EMV tag 9F02 can carry: twelve decimal digits of minor units (n 12).
pub const MAX_MINOR_UNITS: u64 = 999_999_999_999;

/// An amount of money: integer minor units of one currency (design.md, "Formats").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Money {
    /// The amount in minor units (fen for CNY, cents for USD, yen for JPY).
    pub minor_units: u64,
    /// The currency.
    pub currency: Currency,
}

/// Why a decimal amount could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Not a plain non-negative decimal number.
    #[error("`{0}` is not an amount: write digits with an optional decimal point, such as \"12.50\"")]
    NotANumber(String),
    /// More decimal places than the currency has minor units.
    #[error("`{text}` has more decimal places than {currency} allows ({exponent})")]
    TooPrecise {
        /// The text as written.
        text: String,
        /// The currency.
        currency: Currency,
        /// Its number of minor-unit digits.
        exponent: u8,
    },
    /// More than the twelve digits of minor units EMV amounts carry.
    #[error("`{text}` {currency} is more than the largest amount a card carries (12 digits of minor units)")]
    TooLarge {
        /// The text as written.
        text: String,
        /// The currency.
        currency: Currency,
    },
}

impl Money {
    /// Reads a decimal amount written in major units (`"12.50"` CNY is 1250 fen). At most as many
    /// decimal places as the currency has; no sign, no exponent, no thousands separators.
    pub fn parse(text: &str, currency: Currency) -> Result<Money, AmountError> {
        let not_a_number = || AmountError::NotANumber(text.to_owned());
        let (whole, frac) = match text.split_once('.') {
            Some((w, f)) => (w, f),
            None => (text, ""),
        };
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(frac) || (text.contains('.') && frac.is_empty()) {
            return Err(not_a_number());
        }
        let exponent = currency.exponent();
        if frac.len() > usize::from(exponent) {
            return Err(AmountError::TooPrecise { text: text.to_owned(), currency, exponent });
        }
        let too_large = || AmountError::TooLarge { text: text.to_owned(), currency };
        let mut minor: u64 = 0;
        let padded = frac.bytes().chain(std::iter::repeat(b'0')).take(usize::from(exponent));
        for b in whole.bytes().chain(padded) {
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_add(u64::from(b - b'0')))
                .filter(|&m| m <= MAX_MINOR_UNITS)
                .ok_or_else(too_large)?;
        }
        Ok(Money { minor_units: minor, currency })
    }

    /// The amount in major units with exactly the currency's decimal places, without the code
    /// (`"12.50"`).
    pub fn decimal(&self) -> String {
        let exp = u32::from(self.currency.exponent());
        if exp == 0 {
            return self.minor_units.to_string();
        }
        let scale = 10u64.pow(exp);
        format!("{}.{:0width$}", self.minor_units / scale, self.minor_units % scale, width = exp as usize)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.decimal(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cny() -> Currency {
        Currency::from_alpha("CNY").unwrap()
    }

    #[test]
    fn table_is_sorted_unique_and_well_formed() {
        for pair in TABLE.windows(2) {
            assert!(pair[0].alpha < pair[1].alpha, "{} before {}", pair[0].alpha, pair[1].alpha);
        }
        let mut numerics: Vec<u16> = TABLE.iter().map(|c| c.numeric).collect();
        numerics.sort_unstable();
        numerics.dedup();
        assert_eq!(numerics.len(), TABLE.len(), "numeric codes are unique");
        for c in TABLE {
            assert!(c.alpha.len() == 3 && c.alpha.bytes().all(|b| b.is_ascii_uppercase()));
            assert!(c.numeric > 0 && c.numeric < 1000 && c.exponent <= 4);
        }
    }

    #[test]
    fn known_codes_resolve_both_ways() {
        assert_eq!(cny().numeric(), 156);
        assert_eq!(Currency::from_numeric(392).unwrap().alpha(), "JPY");
        assert_eq!(Currency::from_alpha("JPY").unwrap().exponent(), 0);
        assert_eq!(Currency::from_alpha("KWD").unwrap().exponent(), 3);
        assert_eq!(Currency::from_alpha("EUR").unwrap().numeric(), 978);
        assert!(Currency::from_alpha("XXX").is_none());
        assert!(Currency::from_alpha("cny").is_none());
        assert!(Currency::from_alpha("HRK").is_none());
        assert!(Currency::from_numeric(999).is_none());
    }

    #[test]
    fn amounts_parse_in_minor_units() {
        assert_eq!(Money::parse("12.50", cny()).unwrap().minor_units, 1250);
        assert_eq!(Money::parse("12.5", cny()).unwrap().minor_units, 1250);
        assert_eq!(Money::parse("12", cny()).unwrap().minor_units, 1200);
        assert_eq!(Money::parse("0.01", cny()).unwrap().minor_units, 1);
        let jpy = Currency::from_alpha("JPY").unwrap();
        assert_eq!(Money::parse("500", jpy).unwrap().minor_units, 500);
        assert_eq!(Money::parse("9999999999.99", cny()).unwrap().minor_units, MAX_MINOR_UNITS);
    }

    #[test]
    fn bad_amounts_are_named() {
        assert!(matches!(Money::parse("12.505", cny()), Err(AmountError::TooPrecise { exponent: 2, .. })));
        let jpy = Currency::from_alpha("JPY").unwrap();
        assert!(matches!(Money::parse("1.5", jpy), Err(AmountError::TooPrecise { exponent: 0, .. })));
        for bad in ["", "-1", "1.", ".5", "1e3", "1,000", " 1", "１"] {
            assert!(matches!(Money::parse(bad, cny()), Err(AmountError::NotANumber(_))), "{bad:?}");
        }
        assert!(matches!(Money::parse("10000000000", cny()), Err(AmountError::TooLarge { .. })));
        assert!(matches!(Money::parse("99999999999999999999999", cny()), Err(AmountError::TooLarge { .. })));
    }

    #[test]
    fn amounts_print_with_the_currency_decimals() {
        assert_eq!(Money::parse("12.5", cny()).unwrap().to_string(), "12.50 CNY");
        assert_eq!(Money { minor_units: 7, currency: cny() }.to_string(), "0.07 CNY");
        let kwd = Currency::from_alpha("KWD").unwrap();
        assert_eq!(Money { minor_units: 1005, currency: kwd }.to_string(), "1.005 KWD");
        let jpy = Currency::from_alpha("JPY").unwrap();
        assert_eq!(Money { minor_units: 500, currency: jpy }.to_string(), "500 JPY");
    }
}
