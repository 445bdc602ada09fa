//! Frequency rules: uses and cumulative amount per period (calendar day, week or month in the
//! service's zone, or a rolling window), and consecutive offline uses with a lower limit that asks
//! the terminal to go online and an upper limit that denies, as EMV card risk management does with
//! LCOL and UCOL (EMV Book 3 Annex C, "Lower/Upper Consecutive Offline Limit").
//!
//! The counts come from [`ServiceCounters`], which the card keeps
//! in persistent memory; [`crate::counters`] holds the window arithmetic.

use std::fmt;

use jiff::civil::DateTime;
use serde::{Deserialize, Serialize};

use crate::counters::{ServiceCounters, WindowCounter};
use crate::currency::Money;
use crate::data::ServiceData;
use crate::decision::Reasons;
use crate::reason::ReasonCode;
use crate::schedule::days_from_civil;

/// The longest rolling window accepted: 400 days.
pub const MAX_ROLLING_SECONDS: u32 = 400 * 86_400;

/// The period a limit counts over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Period {
    /// The local calendar day (midnight to midnight in the service's zone).
    Day,
    /// The local calendar week, Monday to Sunday (ISO 8601).
    Week,
    /// The local calendar month.
    Month,
    /// The last `seconds` seconds up to the use being decided.
    Rolling {
        /// The window's length.
        seconds: u32,
    },
}

impl Period {
    /// Reads `"day"`, `"week"`, `"month"` (calendar) or `"rolling DURATION"` where the duration is
    /// numbers with units `d`, `h`, `m`, `s` (`"rolling 24h"`, `"rolling 1h30m"`, `"rolling 7d"`).
    pub fn parse(text: &str) -> Result<Period, String> {
        match text {
            "day" => return Ok(Period::Day),
            "week" => return Ok(Period::Week),
            "month" => return Ok(Period::Month),
            _ => {}
        }
        let Some(duration) = text.strip_prefix("rolling ") else {
            return Err(format!(
                "`{text}` is not a period: write day, week or month (calendar) or a rolling window such as \"rolling 24h\""
            ));
        };
        let seconds = parse_duration(duration.trim())?;
        if seconds == 0 || seconds > u64::from(MAX_ROLLING_SECONDS) {
            return Err(format!("a rolling window of `{duration}` is outside 1 second to 400 days"));
        }
        Ok(Period::Rolling { seconds: seconds as u32 })
    }

    /// The calendar period a local time falls in, as an ordered number: days since 1970 for
    /// [`Period::Day`], the day number of its Monday for [`Period::Week`], `year × 12 + month − 1`
    /// for [`Period::Month`]. `None` for rolling windows.
    pub fn calendar_key(self, local: DateTime) -> Option<i64> {
        let days = days_from_civil(local.date());
        match self {
            Period::Day => Some(days),
            Period::Week => Some(days - i64::from(local.date().weekday().to_monday_zero_offset())),
            Period::Month => Some(i64::from(local.year()) * 12 + i64::from(local.month()) - 1),
            Period::Rolling { .. } => None,
        }
    }

    /// Words for reasons: "this calendar day", "the last 24h".
    pub fn phrase(self) -> String {
        match self {
            Period::Day => "this calendar day".into(),
            Period::Week => "this calendar week".into(),
            Period::Month => "this calendar month".into(),
            Period::Rolling { seconds } => format!("the last {}", format_duration(seconds)),
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Day => f.write_str("day"),
            Period::Week => f.write_str("week"),
            Period::Month => f.write_str("month"),
            Period::Rolling { seconds } => write!(f, "rolling {}", format_duration(*seconds)),
        }
    }
}

fn parse_duration(text: &str) -> Result<u64, String> {
    let bad = || format!("`{text}` is not a duration such as 24h, 1h30m or 7d");
    if text.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    let mut last_unit = u64::MAX;
    for c in text.chars() {
        if let Some(d) = c.to_digit(10) {
            let n = number.unwrap_or(0).checked_mul(10).and_then(|n| n.checked_add(u64::from(d)));
            number = Some(n.filter(|&n| n <= 1_000_000_000).ok_or_else(bad)?);
            continue;
        }
        let unit = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
        // Units must come largest first, each at most once ("1h30m", not "30m1h" or "1h1h").
        if unit >= last_unit {
            return Err(bad());
        }
        last_unit = unit;
        total = total.saturating_add(number.take().ok_or_else(bad)?.saturating_mul(unit));
    }
    if number.is_some() {
        return Err(bad());
    }
    Ok(total)
}

/// Writes seconds as a `7d`, `24h`, `1h30m`, `90s`-style duration (days from two days up).
pub fn format_duration(seconds: u32) -> String {
    let mut out = String::new();
    let mut rest = seconds;
    for (unit, suffix) in [(86_400, 'd'), (3_600, 'h'), (60, 'm'), (1, 's')] {
        if rest >= unit && (unit != 86_400 || rest >= 2 * 86_400) {
            out.push_str(&format!("{}{suffix}", rest / unit));
            rest %= unit;
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

/// A limit on uses and/or cumulative amount over one period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limit {
    /// The period counted over.
    pub period: Period,
    /// The most uses allowed in the period, this one included.
    pub max_uses: Option<u32>,
    /// The most cumulative amount allowed in the period, this use's amount included.
    pub max_amount: Option<Money>,
}

impl Limit {
    /// Checks this limit with the counter the card holds for it. `now` is the use's UTC time and
    /// `local` its civil time in the service's zone.
    pub(crate) fn check(
        &self,
        counter: Option<&WindowCounter>,
        data: &ServiceData,
        now: i64,
        local: DateTime,
        out: &mut Reasons,
    ) {
        let usage = WindowCounter::usage_of(counter, self.period, now, local);
        if let Some(max) = self.max_uses.filter(|&max| usage.uses >= max) {
            out.push(ReasonCode::UsesExceeded, || {
                format!(
                    "the service was already used {} time{} in {} (limit {max})",
                    usage.uses,
                    if usage.uses == 1 { "" } else { "s" },
                    self.period.phrase()
                )
            });
        }
        if let Some(max) = self.max_amount {
            match data.amount {
                None => {
                    out.missing(ReasonCode::AmountMissing, "the terminal sent no amount (tags 9F02 and 5F2A)")
                }
                // Another currency is the amount rule's reason to report; nothing to add here.
                Some(amount) if amount.currency != max.currency => {}
                Some(amount) => {
                    let total = usage.amount.saturating_add(amount.minor_units);
                    if total > max.minor_units {
                        out.push(ReasonCode::CumulativeAmountExceeded, || {
                            let total = Money { minor_units: total, currency: max.currency };
                            format!(
                                "{amount} would bring the total in {} to {total}, above the limit {max}",
                                self.period.phrase()
                            )
                        });
                    }
                }
            }
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(n) = self.max_uses {
            parts.push(format!("at most {n} use{}", if n == 1 { "" } else { "s" }));
        }
        if let Some(m) = self.max_amount {
            parts.push(format!("at most {m} in total"));
        }
        let per = match self.period {
            Period::Rolling { seconds } => format!("in any {}", format_duration(seconds)),
            other => format!("per calendar {other}"),
        };
        write!(f, "{} {per}", parts.join(" and "))
    }
}

/// Consecutive offline uses (EMV LCOL / UCOL). A use the terminal authorises online resets the
/// count. With `lower = 3`, the 4th and later consecutive offline uses run but advise "go online";
/// with `upper = 5`, the 6th is denied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OfflineRule {
    /// Offline uses in a row after which the card advises going online.
    pub lower: Option<u32>,
    /// Offline uses in a row after which the card denies offline use.
    pub upper: Option<u32>,
}

impl OfflineRule {
    /// Checks an offline use; returns whether to advise going online (only if nothing denies).
    pub(crate) fn check(&self, data: &ServiceData, counters: &ServiceCounters, out: &mut Reasons) -> bool {
        if data.online == Some(true) {
            return false;
        }
        let this = counters.consecutive_offline.saturating_add(1);
        if let Some(upper) = self.upper.filter(|&u| this > u) {
            out.push(ReasonCode::OfflineLimitExceeded, || {
                format!(
                    "this would be offline use {this} in a row, above the limit of {upper}: authorise online first"
                )
            });
            return false;
        }
        self.lower.is_some_and(|lower| this > lower)
    }

    /// The advice reason when the lower limit is passed.
    pub(crate) fn advice(&self, counters: &ServiceCounters) -> String {
        let this = counters.consecutive_offline.saturating_add(1);
        format!(
            "offline use {this} in a row is past the lower limit of {}: go online when you can",
            self.lower.unwrap_or(0)
        )
    }
}

impl fmt::Display for OfflineRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.lower, self.upper) {
            (Some(l), Some(u)) => write!(f, "go online after {l} offline uses in a row, deny after {u}"),
            (Some(l), None) => write!(f, "go online after {l} offline uses in a row"),
            (None, Some(u)) => write!(f, "deny after {u} offline uses in a row"),
            (None, None) => f.write_str("no offline limits"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn periods_parse_and_print() {
        assert_eq!(Period::parse("day").unwrap(), Period::Day);
        assert_eq!(Period::parse("rolling 24h").unwrap(), Period::Rolling { seconds: 86_400 });
        assert_eq!(Period::parse("rolling 1h30m").unwrap(), Period::Rolling { seconds: 5_400 });
        assert_eq!(Period::parse("rolling 7d").unwrap().to_string(), "rolling 7d");
        assert_eq!(Period::Rolling { seconds: 5_400 }.to_string(), "rolling 1h30m");
        assert_eq!(Period::Rolling { seconds: 86_400 }.to_string(), "rolling 24h");
        assert_eq!(Period::Rolling { seconds: 2 * 86_400 + 60 }.to_string(), "rolling 2d1m");
        for bad in [
            "daily",
            "rolling",
            "rolling 0s",
            "rolling 30m1h",
            "rolling 1h1h",
            "rolling 5",
            "rolling 401d",
            "rolling 1x",
        ] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn calendar_keys_change_at_local_boundaries() {
        let sat = date(2026, 11, 28);
        let sun = date(2026, 11, 29);
        let mon = date(2026, 11, 30);
        let dec = date(2026, 12, 1);
        let key = |p: Period, d: jiff::civil::Date| p.calendar_key(d.at(12, 0, 0, 0)).unwrap();
        assert_eq!(key(Period::Day, sun) - key(Period::Day, sat), 1);
        assert_eq!(key(Period::Week, sat), key(Period::Week, sun), "Saturday and Sunday share a week");
        assert_eq!(key(Period::Week, mon) - key(Period::Week, sun), 7, "the week key is its Monday's day");
        assert_eq!(key(Period::Month, dec) - key(Period::Month, mon), 1);
        assert_eq!(key(Period::Month, date(2027, 1, 1)) - key(Period::Month, dec), 1);
        assert_eq!(Period::Rolling { seconds: 60 }.calendar_key(sat.at(0, 0, 0, 0)), None);
    }
}
