//! Amounts as people type them ("12.50 CNY") and as the credit formats hold them (minor units and an
//! ISO 4217 numeric code). The currency table and the decimal rules are the policies crate's, so the
//! card's gate and the host read amounts the same way.

use applet::credit::Money;
pub use policies::Currency;
use policies::currency::AmountError;

/// Why an amount or currency was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not an ISO 4217 code.
    #[error("unknown currency {0:?} (use an ISO 4217 code such as CNY, EUR, USD, JPY, or its number)")]
    UnknownCurrency(String),
    /// Not a decimal amount in that currency.
    #[error(transparent)]
    Amount(#[from] AmountError),
}

/// The currency with this alphabetic code (any case) or numeric code ("156").
pub fn parse_currency(text: &str) -> Result<Currency, MoneyError> {
    let found = match text.parse::<u16>() {
        Ok(n) => Currency::from_numeric(n),
        Err(_) => Currency::from_alpha(&text.to_ascii_uppercase()),
    };
    found.ok_or_else(|| MoneyError::UnknownCurrency(text.to_owned()))
}

/// Parses "12.50" in `currency` into minor units.
pub fn parse_amount(text: &str, currency: Currency) -> Result<Money, MoneyError> {
    let m = policies::Money::parse(text, currency)?;
    Ok(Money { minor: m.minor_units, currency: currency.numeric() })
}

/// "12.50 CNY"; a currency outside ISO 4217 prints as "1250 (currency 999)".
pub fn format_money(m: Money) -> String {
    match Currency::from_numeric(m.currency) {
        Some(currency) => policies::Money { minor_units: m.minor, currency }.to_string(),
        None => format!("{} (currency {:03})", m.minor, m.currency),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_in_minor_units_by_currency() {
        let cny = parse_currency("cny").unwrap();
        assert_eq!(parse_amount("12.50", cny).unwrap(), Money { minor: 1250, currency: 156 });
        assert_eq!(parse_amount("7", cny).unwrap().minor, 700);
        let jpy = parse_currency("392").unwrap();
        assert_eq!(parse_amount("1200", jpy).unwrap().minor, 1200);
        assert!(parse_amount("1.5", jpy).is_err());
        assert!(parse_amount("1,5", cny).is_err());
        assert!(parse_currency("XYZ").is_err());
        assert_eq!(format_money(Money { minor: 1205, currency: 156 }), "12.05 CNY");
        assert_eq!(format_money(Money { minor: 1200, currency: 392 }), "1200 JPY");
        assert_eq!(format_money(Money { minor: 5, currency: 999 }), "5 (currency 999)");
    }
}
