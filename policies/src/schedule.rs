//! When a service may run: the time zone a policy states, validity dates, days of the week and
//! hours of the day, all judged on the local civil time in that zone.
//!
//! Zones are IANA names (`Asia/Shanghai`) looked up in the IANA database bundled into `jiff` (so the
//! card decides the same on every machine, whatever `/usr/share/zoneinfo` holds), or fixed offsets
//! (`UTC`, `+08:00`, `UTC-05:30`). Daylight saving time follows the zone's rules.

use std::fmt;

use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::{Offset, TimeZone, TimeZoneDatabase};

use crate::decision::Reasons;
use crate::reason::ReasonCode;

/// A time zone as the policy names it.
#[derive(Clone, Debug)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Zone {
    /// UTC.
    pub fn utc() -> Zone {
        Zone { name: "UTC".into(), tz: TimeZone::UTC }
    }

    /// Reads a zone: an IANA name (`Asia/Shanghai`, any letter case), `UTC`, or a fixed offset
    /// `+HH:MM` / `-HH:MM`, optionally written `UTC+HH:MM`, at most 18 hours from UTC.
    pub fn parse(text: &str) -> Result<Zone, String> {
        let offset_text = text.strip_prefix("UTC").filter(|rest| !rest.is_empty()).unwrap_or(text);
        if let Some(sign) = offset_text.chars().next().filter(|c| *c == '+' || *c == '-') {
            let bad = || format!("`{text}` is not a UTC offset of the form +HH:MM (at most 18:00)");
            let rest = &offset_text[1..];
            let (h, m) = rest.split_once(':').ok_or_else(bad)?;
            if h.len() != 2 || m.len() != 2 {
                return Err(bad());
            }
            let h: i32 = h.parse().map_err(|_| bad())?;
            let m: i32 = m.parse().map_err(|_| bad())?;
            if h > 18 || m > 59 || (h == 18 && m > 0) {
                return Err(bad());
            }
            let seconds = (h * 3600 + m * 60) * if sign == '-' { -1 } else { 1 };
            let offset = Offset::from_seconds(seconds).map_err(|_| bad())?;
            return Ok(Zone { name: text.to_owned(), tz: TimeZone::fixed(offset) });
        }
        let tz = TimeZoneDatabase::bundled().get(text).map_err(|_| {
            format!(
                "`{text}` is not an IANA time zone name (such as Asia/Shanghai) or an offset such as +08:00"
            )
        })?;
        let name = tz.iana_name().unwrap_or(text).to_owned();
        Ok(Zone { name, tz })
    }

    /// The zone's name as written (IANA names in their canonical case).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The local civil date and time at `utc_seconds`, or `None` outside the years −9999..=9999.
    pub fn civil(&self, utc_seconds: i64) -> Option<DateTime> {
        let ts = jiff::Timestamp::from_second(utc_seconds).ok()?;
        Some(self.tz.to_datetime(ts))
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// A set of days of the week: bit 0 is Monday, bit 6 Sunday.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Days(u8);

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Days {
    /// Every day.
    pub const ALL: Days = Days(0x7F);

    /// Reads one item of a `days` list: a day (`"mon"`) or an inclusive range (`"mon-fri"`,
    /// `"fri-mon"` wraps over the weekend). Three-letter English names, lower case.
    pub fn parse_item(text: &str) -> Result<Days, String> {
        let day = |s: &str| {
            DAY_NAMES.iter().position(|d| *d == s).ok_or_else(|| {
                format!("`{s}` is not a day of the week; write mon, tue, wed, thu, fri, sat or sun")
            })
        };
        match text.split_once('-') {
            None => Ok(Days(1 << day(text)?)),
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                let mut bits = 0u8;
                let mut i = a;
                loop {
                    bits |= 1 << i;
                    if i == b {
                        break;
                    }
                    i = (i + 1) % 7;
                }
                Ok(Days(bits))
            }
        }
    }

    /// The union of two sets.
    pub fn union(self, other: Days) -> Days {
        Days(self.0 | other.0)
    }

    /// Whether two sets share a day.
    pub fn overlaps(self, other: Days) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether `day` is in the set.
    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.to_monday_zero_offset()) != 0
    }
}

impl fmt::Display for Days {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = (0..7).filter(|i| self.0 & (1 << i) != 0).map(|i| DAY_NAMES[i]).collect();
        f.write_str(&names.join(", "))
    }
}

/// A window of the local time of day, `start` inclusive to `end` exclusive, in seconds after
/// midnight. `start > end` wraps past midnight (`22:00-02:00`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HourWindow {
    start: u32,
    end: u32,
}

impl HourWindow {
    /// Reads `"HH:MM-HH:MM"` (end exclusive; `24:00` may end a window; `22:00-02:00` wraps midnight).
    pub fn parse(text: &str) -> Result<HourWindow, String> {
        let bad = || format!("`{text}` is not a window of the form HH:MM-HH:MM (such as 07:00-09:30)");
        let (a, b) = text.split_once('-').ok_or_else(bad)?;
        let clock = |s: &str, end: bool| -> Result<u32, String> {
            let (h, m) = s.split_once(':').ok_or_else(bad)?;
            if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
            if m > 59 || h > 24 || (h == 24 && (m != 0 || !end)) {
                return Err(format!("`{s}` is not a time of day in `{text}`"));
            }
            Ok(h * 3600 + m * 60)
        };
        let (start, end) = (clock(a, false)?, clock(b, true)?);
        if start == end || (start == 0 && end == 0) {
            return Err(format!("`{text}` is an empty window: its start and end are the same"));
        }
        Ok(HourWindow { start, end })
    }

    /// Whether the local time of day `seconds` after midnight is in the window.
    pub fn contains(&self, seconds: u32) -> bool {
        if self.start < self.end {
            (self.start..self.end).contains(&seconds)
        } else {
            seconds >= self.start || seconds < self.end
        }
    }
}

impl fmt::Display for HourWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hm = |s: u32| format!("{:02}:{:02}", s / 3600, s % 3600 / 60);
        write!(f, "{}-{}", hm(self.start), hm(self.end))
    }
}

/// The time rule of a service. Every part is optional; all stated parts must hold.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeRule {
    /// The first local date on which the service may run.
    pub from: Option<Date>,
    /// The last local date on which the service may run (inclusive).
    pub until: Option<Date>,
    /// The days of the week on which it may run.
    pub days: Option<Days>,
    /// The hours of the day in which it may run (any window will do).
    pub hours: Vec<HourWindow>,
}

impl TimeRule {
    /// Checks the rule against the local civil time of the use in `zone`.
    pub(crate) fn check(&self, local: DateTime, zone: &Zone, out: &mut Reasons) {
        let date = local.date();
        if let Some(from) = self.from.filter(|f| date < *f) {
            out.push(ReasonCode::BeforeValidity, || {
                format!("the local date {date} ({zone}) is before the first valid date {from}")
            });
        }
        if let Some(until) = self.until.filter(|u| date > *u) {
            out.push(ReasonCode::AfterValidity, || {
                format!("the local date {date} ({zone}) is after the last valid date {until}")
            });
        }
        if let Some(days) = self.days.filter(|d| !d.contains(date.weekday())) {
            out.push(ReasonCode::DayNotAllowed, || {
                format!("{:?} ({date}, {zone}) is not an allowed day (allowed: {days})", date.weekday())
            });
        }
        let now = seconds_of_day(local);
        if !self.hours.is_empty() && !self.hours.iter().any(|w| w.contains(now)) {
            out.push(ReasonCode::HourNotAllowed, || {
                let windows: Vec<String> = self.hours.iter().map(HourWindow::to_string).collect();
                format!(
                    "the local time {:02}:{:02} ({zone}) is outside the allowed hours {}",
                    local.hour(),
                    local.minute(),
                    windows.join(", ")
                )
            });
        }
    }
}

impl fmt::Display for TimeRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        match (self.from, self.until) {
            (Some(a), Some(b)) => parts.push(format!("from {a} to {b}")),
            (Some(a), None) => parts.push(format!("from {a}")),
            (None, Some(b)) => parts.push(format!("until {b}")),
            (None, None) => {}
        }
        if let Some(d) = self.days {
            parts.push(format!("on {d}"));
        }
        if !self.hours.is_empty() {
            let windows: Vec<String> = self.hours.iter().map(HourWindow::to_string).collect();
            parts.push(format!("at {}", windows.join(", ")));
        }
        f.write_str(&parts.join(", "))
    }
}

/// Seconds after local midnight.
pub(crate) fn seconds_of_day(t: DateTime) -> u32 {
    u32::from(t.hour().unsigned_abs()) * 3600
        + u32::from(t.minute().unsigned_abs()) * 60
        + u32::from(t.second().unsigned_abs())
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
pub(crate) fn days_from_civil(date: Date) -> i64 {
    let (y, m, d) = (i64::from(date.year()), i64::from(date.month()), i64::from(date.day()));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn zones_by_name_and_offset() {
        let sh = Zone::parse("asia/shanghai").unwrap();
        assert_eq!(sh.name(), "Asia/Shanghai");
        // 2026-11-28T10:00:00Z is 18:00 in Shanghai.
        assert_eq!(sh.civil(1_795_860_000).unwrap().hour(), 18);
        let fixed = Zone::parse("-05:30").unwrap();
        assert_eq!(fixed.civil(0).unwrap(), date(1969, 12, 31).at(18, 30, 0, 0));
        assert_eq!(Zone::parse("UTC+08:00").unwrap().civil(0).unwrap().hour(), 8);
        assert_eq!(Zone::parse("UTC").unwrap().civil(0).unwrap().hour(), 0);
        for bad in ["Mars/Olympus", "+8", "+19:00", "+08:60", "UTC+", ""] {
            assert!(Zone::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dst_is_followed() {
        // New York: 12:00 UTC is 07:00 in January (EST) and 08:00 in July (EDT).
        let ny = Zone::parse("America/New_York").unwrap();
        assert_eq!(ny.civil(1_767_268_800).unwrap().hour(), 7); // 2026-01-01T12:00Z
        assert_eq!(ny.civil(1_783_080_000).unwrap().hour(), 8); // 2026-07-03T12:00Z
    }

    #[test]
    fn days_and_ranges() {
        let weekdays = Days::parse_item("mon-fri").unwrap();
        assert!(weekdays.contains(Weekday::Monday) && weekdays.contains(Weekday::Friday));
        assert!(!weekdays.contains(Weekday::Saturday));
        let weekend = Days::parse_item("fri-mon").unwrap();
        assert_eq!(weekend.to_string(), "mon, fri, sat, sun");
        assert!(Days::parse_item("Mon").unwrap_err().contains("`Mon` is not a day"));
        assert!(Days::parse_item("mon-xyz").is_err());
    }

    #[test]
    fn hour_windows_and_midnight() {
        let w = HourWindow::parse("07:00-09:30").unwrap();
        assert!(w.contains(7 * 3600) && w.contains(9 * 3600 + 29 * 60 + 59));
        assert!(!w.contains(9 * 3600 + 30 * 60) && !w.contains(6 * 3600 + 3599));
        let night = HourWindow::parse("22:00-02:00").unwrap();
        assert!(night.contains(23 * 3600) && night.contains(3600) && !night.contains(12 * 3600));
        let whole = HourWindow::parse("00:00-24:00").unwrap();
        assert!(whole.contains(0) && whole.contains(86_399));
        assert_eq!(w.to_string(), "07:00-09:30");
        for bad in
            ["7:00-9:00", "07:00", "07:00-07:00", "25:00-26:00", "07:60-08:00", "24:00-01:00", "aa:bb-cc:dd"]
        {
            assert!(HourWindow::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn civil_day_numbers() {
        assert_eq!(days_from_civil(date(1970, 1, 1)), 0);
        assert_eq!(days_from_civil(date(2000, 3, 1)), 11_017);
        assert_eq!(days_from_civil(date(1969, 12, 31)), -1);
        let d = date(2026, 11, 28);
        assert_eq!(days_from_civil(d), 20_785);
        assert_eq!(seconds_of_day(d.at(18, 30, 5, 0)), 66_605);
    }
}
