//! Card-side velocity counters: what the card remembers between uses of a service, and the pure
//! function that gives the counters after an allowed use.
//!
//! The runtime keeps a [`Counters`] value in persistent memory (it is `serde`-serialisable) and, for
//! an allowed service, commits [`record_use`]'s result in the same transaction as the service
//! itself: a denied, failed or torn service leaves the counters as they were.
//!
//! Calendar periods hold one count per period and reset when a later period starts. A terminal's
//! clock is not trusted to go forward: a use dated in an *earlier* period than the one stored is
//! counted in the stored period (never resetting it), so turning a terminal's clock back cannot buy
//! more uses. Rolling windows hold a log of uses; at most [`ROLLING_LOG_CAPACITY`] entries are kept,
//! and when more are needed the two oldest merge into one dated at the later of the two. A merged
//! entry leaves the window later than its parts would have, so the count is exact as long as no
//! window has held more uses than the capacity, and errs only towards denying beyond that.

use std::collections::BTreeMap;

use jiff::civil::DateTime;
use serde::{Deserialize, Serialize};

use crate::currency::Money;
use crate::data::ServiceData;
use crate::frequency::Period;
use crate::service::Service;

/// The most entries a rolling window's log keeps (see the module documentation).
pub const ROLLING_LOG_CAPACITY: usize = 32;

/// Counters for every service of a policy, by service name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    services: BTreeMap<String, ServiceCounters>,
}

static NO_USES: ServiceCounters = ServiceCounters { consecutive_offline: 0, windows: Vec::new() };

impl Counters {
    /// No uses recorded.
    pub fn new() -> Counters {
        Counters::default()
    }

    /// The counters of a service (all zero if it was never used). Does not allocate.
    pub fn get(&self, service: &str) -> &ServiceCounters {
        self.services.get(service).unwrap_or(&NO_USES)
    }

    /// Replaces the counters of a service.
    pub fn set(&mut self, service: &str, counters: ServiceCounters) {
        self.services.insert(service.to_owned(), counters);
    }

    /// Drops the counters of services the policy no longer has (after a policy is replaced).
    pub fn retain_services(&mut self, policy: &crate::Policy) {
        self.services.retain(|name, _| policy.service(name).is_some());
    }
}

/// What the card remembers about one service.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceCounters {
    /// Offline uses since the last online one (EMV: ATC − last online ATC).
    pub consecutive_offline: u32,
    /// One counter per limit of the service, in the policy's order. A counter whose period no
    /// longer matches its limit (the policy changed) counts as empty.
    pub windows: Vec<WindowCounter>,
}

impl ServiceCounters {
    /// One line per counter of `service`, for people (`cardgate card show`): the offline uses in a
    /// row, and for each limit what its window holds as stored (a calendar period that has since
    /// ended still shows; it counts as empty at the next use).
    pub fn summaries(&self, service: &Service) -> Vec<String> {
        let mut lines = Vec::new();
        if service.offline.is_some() {
            lines.push(format!("offline uses in a row: {}", self.consecutive_offline));
        }
        for (i, limit) in service.limits.iter().enumerate() {
            let amount = |minor: u64| {
                limit.max_amount.map_or_else(String::new, |m| {
                    format!(", {}", Money { minor_units: minor, currency: m.currency })
                })
            };
            let plural = |n: u32| if n == 1 { "" } else { "s" };
            let counter = self.windows.get(i).filter(|c| c.matches(limit.period));
            let line = match counter {
                None => format!("{}: no uses counted", limit.period),
                Some(WindowCounter::Calendar { period, key, uses, amount: total }) => {
                    format!("{}: {uses} use{}{}", calendar_name(*period, *key), plural(*uses), amount(*total))
                }
                Some(WindowCounter::Rolling { log, .. }) => {
                    let uses = log.iter().fold(0u32, |n, e| n.saturating_add(e.uses));
                    let total = log.iter().fold(0u64, |n, e| n.saturating_add(e.amount));
                    let latest = log
                        .last()
                        .and_then(|e| jiff::Timestamp::from_second(e.time).ok())
                        .map_or_else(String::new, |t| format!(", the latest at {t}"));
                    format!("{}: {uses} use{} logged{}{latest}", limit.period, plural(uses), amount(total))
                }
            };
            lines.push(line);
        }
        lines
    }
}

/// "day 2026-11-28", "week of 2026-11-23", "month 2026-11" for a stored calendar key.
fn calendar_name(period: Period, key: i64) -> String {
    let date = |days: i64| {
        jiff::Timestamp::from_second(days.saturating_mul(86_400))
            .map(|t| jiff::tz::TimeZone::UTC.to_datetime(t).date().to_string())
            .unwrap_or_else(|_| format!("day {days}"))
    };
    match period {
        Period::Day => format!("day {}", date(key)),
        Period::Week => format!("week of {}", date(key)),
        Period::Month => format!("month {:04}-{:02}", key.div_euclid(12), key.rem_euclid(12) + 1),
        Period::Rolling { .. } => format!("{period}"),
    }
}

/// Uses and amount counted in a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Uses in the window.
    pub uses: u32,
    /// Cumulative amount in the window, in minor units of the service's currency.
    pub amount: u64,
}

/// One entry of a rolling window's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// When (UTC seconds); for a merged entry, the latest of its parts.
    pub time: i64,
    /// How many uses it stands for.
    pub uses: u32,
    /// Their cumulative amount in minor units.
    pub amount: u64,
}

/// The counter of one limit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WindowCounter {
    /// A calendar day, week or month.
    Calendar {
        /// Which kind of period.
        period: Period,
        /// The period last counted in ([`Period::calendar_key`]).
        key: i64,
        /// Uses in it.
        uses: u32,
        /// Cumulative amount in it, in minor units.
        amount: u64,
    },
    /// A rolling window.
    Rolling {
        /// The window's length in seconds.
        seconds: u32,
        /// Uses, oldest first.
        log: Vec<LogEntry>,
    },
}

impl WindowCounter {
    fn matches(&self, period: Period) -> bool {
        match (self, period) {
            (WindowCounter::Calendar { period: p, .. }, _) => *p == period,
            (WindowCounter::Rolling { seconds, .. }, Period::Rolling { seconds: s }) => *seconds == s,
            (WindowCounter::Rolling { .. }, _) => false,
        }
    }

    /// What `counter` holds for a use at `now` (`local` in the service's zone), for a limit over
    /// `period`. Does not allocate.
    pub fn usage_of(counter: Option<&WindowCounter>, period: Period, now: i64, local: DateTime) -> Usage {
        let Some(counter) = counter.filter(|c| c.matches(period)) else {
            return Usage::default();
        };
        match counter {
            WindowCounter::Calendar { key, uses, amount, .. } => {
                let current = period.calendar_key(local).unwrap_or(i64::MIN);
                // A later period starts afresh; the same or an earlier one counts what is stored.
                if current > *key { Usage::default() } else { Usage { uses: *uses, amount: *amount } }
            }
            WindowCounter::Rolling { seconds, log } => {
                let start = now.saturating_sub(i64::from(*seconds));
                log.iter().filter(|e| e.time > start).fold(Usage::default(), |u, e| Usage {
                    uses: u.uses.saturating_add(e.uses),
                    amount: u.amount.saturating_add(e.amount),
                })
            }
        }
    }

    /// The counter after one more use at `now` with `amount` minor units.
    fn record(
        counter: Option<&WindowCounter>,
        period: Period,
        now: i64,
        local: DateTime,
        amount: u64,
    ) -> WindowCounter {
        let counter = counter.filter(|c| c.matches(period));
        match period {
            Period::Rolling { seconds } => {
                let start = now.saturating_sub(i64::from(seconds));
                let mut log: Vec<LogEntry> = match counter {
                    Some(WindowCounter::Rolling { log, .. }) => {
                        log.iter().copied().filter(|e| e.time > start).collect()
                    }
                    _ => Vec::new(),
                };
                let at = log.partition_point(|e| e.time <= now);
                log.insert(at, LogEntry { time: now, uses: 1, amount });
                while log.len() > ROLLING_LOG_CAPACITY {
                    let oldest = log.remove(0);
                    let next = &mut log[0];
                    next.uses = next.uses.saturating_add(oldest.uses);
                    next.amount = next.amount.saturating_add(oldest.amount);
                }
                WindowCounter::Rolling { seconds, log }
            }
            calendar => {
                let current = calendar.calendar_key(local).unwrap_or(i64::MIN);
                match counter {
                    Some(WindowCounter::Calendar { key, uses, amount: total, .. }) if current <= *key => {
                        WindowCounter::Calendar {
                            period: calendar,
                            key: *key,
                            uses: uses.saturating_add(1),
                            amount: total.saturating_add(amount),
                        }
                    }
                    _ => WindowCounter::Calendar { period: calendar, key: current, uses: 1, amount },
                }
            }
        }
    }
}

/// The counters after an allowed use of `service` with `data`: the runtime commits them in the same
/// transaction as the service. Call it only after [`decide`](crate::decide) allowed the use (a use
/// it denied must leave the counters unchanged). Services without limits or offline rules keep no
/// counters: check [`Service::keeps_counters`] to skip the write.
pub fn record_use(service: &Service, data: &ServiceData, before: &ServiceCounters) -> ServiceCounters {
    let mut after = ServiceCounters::default();
    if service.offline.is_some() {
        after.consecutive_offline =
            if data.online == Some(true) { 0 } else { before.consecutive_offline.saturating_add(1) };
    }
    after.windows = match data.time.and_then(|t| service.zone.civil(t).map(|local| (t, local))) {
        Some((now, local)) => service
            .limits
            .iter()
            .enumerate()
            .map(|(i, limit)| {
                let amount = match (limit.max_amount, data.amount) {
                    (Some(max), Some(a)) if a.currency == max.currency => a.minor_units,
                    _ => 0,
                };
                WindowCounter::record(before.windows.get(i), limit.period, now, local, amount)
            })
            .collect(),
        // No usable time: decide() denies a service with limits then, so only a service without
        // limits gets here, and it has no windows to move.
        None => before.windows.clone(),
    };
    after
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::Zone;
    use proptest::prelude::*;

    fn local(t: i64) -> DateTime {
        Zone::utc().civil(t).unwrap()
    }

    #[test]
    fn calendar_counts_reset_on_a_later_period_and_not_an_earlier_one() {
        let day = 86_400;
        let t0 = 1_795_860_000; // 2026-11-28T10:00Z
        let c1 = WindowCounter::record(None, Period::Day, t0, local(t0), 100);
        let c2 = WindowCounter::record(Some(&c1), Period::Day, t0 + 60, local(t0 + 60), 50);
        assert_eq!(
            WindowCounter::usage_of(Some(&c2), Period::Day, t0 + 120, local(t0 + 120)),
            Usage { uses: 2, amount: 150 }
        );
        // Next day: a fresh period.
        let next = t0 + day;
        assert_eq!(WindowCounter::usage_of(Some(&c2), Period::Day, next, local(next)), Usage::default());
        // The clock turned back a day: the stored (later) period still counts, and recording adds to it.
        let back = t0 - day;
        assert_eq!(WindowCounter::usage_of(Some(&c2), Period::Day, back, local(back)).uses, 2);
        let c3 = WindowCounter::record(Some(&c2), Period::Day, back, local(back), 1);
        assert!(matches!(c3, WindowCounter::Calendar { uses: 3, amount: 151, .. }));
        // A counter for another period does not count.
        assert_eq!(WindowCounter::usage_of(Some(&c2), Period::Week, t0, local(t0)), Usage::default());
    }

    #[test]
    fn summaries_name_each_counter() {
        let text = r#"
version = 1
zone = "Asia/Shanghai"
[service.pay]
applet = "A0 00 00 08 58 01 01"
ins = 0x50
[service.pay.amount]
currency = "CNY"
[[service.pay.limit]]
period = "day"
max_uses = 5
max_amount = "100.00"
[[service.pay.limit]]
period = "month"
max_uses = 50
[[service.pay.limit]]
period = "rolling 1h"
max_uses = 5
[[service.pay.limit]]
period = "week"
max_uses = 9
[service.pay.offline]
upper = 3
"#;
        let policy = crate::Policy::parse(text, "p.toml").unwrap();
        let service = policy.service("pay").unwrap();
        let data =
            ServiceData::parse("amount=12.50 currency=CNY time=2026-11-28T17:00:00Z".split(' ')).unwrap();
        let once = record_use(service, &data, &ServiceCounters::default());
        let twice = record_use(service, &data, &once);
        // 17:00 UTC is 01:00 on the 29th in Shanghai, a Sunday: the week began on Monday the 23rd.
        assert_eq!(
            twice.summaries(service),
            [
                "offline uses in a row: 2",
                "day 2026-11-29: 2 uses, 25.00 CNY",
                "month 2026-11: 2 uses",
                "rolling 1h: 2 uses logged, the latest at 2026-11-28T17:00:00Z",
                "week of 2026-11-23: 2 uses",
            ]
        );
        assert_eq!(ServiceCounters::default().summaries(service)[1], "day: no uses counted");
    }

    #[test]
    fn rolling_window_forgets_old_uses() {
        let w = Period::Rolling { seconds: 3_600 };
        let t0 = 1_795_860_000;
        let mut c = WindowCounter::record(None, w, t0, local(t0), 10);
        c = WindowCounter::record(Some(&c), w, t0 + 1_800, local(t0 + 1_800), 20);
        assert_eq!(
            WindowCounter::usage_of(Some(&c), w, t0 + 3_599, local(t0)),
            Usage { uses: 2, amount: 30 }
        );
        assert_eq!(
            WindowCounter::usage_of(Some(&c), w, t0 + 3_600, local(t0)),
            Usage { uses: 1, amount: 20 }
        );
        c = WindowCounter::record(Some(&c), w, t0 + 3_700, local(t0), 5);
        let WindowCounter::Rolling { log, .. } = &c else { panic!("rolling") };
        assert_eq!(log.len(), 2, "the first use was pruned");
    }

    /// Uses in (now − w, ∞): the exact count a perfect log would give.
    fn exact(history: &[(i64, u64)], now: i64, w: i64) -> Usage {
        history
            .iter()
            .filter(|(t, _)| *t > now - w)
            .fold(Usage::default(), |u, (_, a)| Usage { uses: u.uses + 1, amount: u.amount + a })
    }

    proptest! {
        #[test]
        fn rolling_window_never_undercounts_and_is_exact_under_capacity(
            steps in proptest::collection::vec((0i64..4_000, 0u64..1_000), 1..120),
            window in 60u32..20_000,
            probe in 0i64..30_000) {
            let w = Period::Rolling { seconds: window };
            let mut t = 1_795_860_000i64;
            let mut counter: Option<WindowCounter> = None;
            let mut history = Vec::new();
            for (dt, amount) in steps {
                t += dt;
                counter = Some(WindowCounter::record(counter.as_ref(), w, t, local(t), amount));
                history.push((t, amount));
                let WindowCounter::Rolling { log, .. } = counter.as_ref().unwrap() else { unreachable!() };
                prop_assert!(log.len() <= ROLLING_LOG_CAPACITY);
                prop_assert!(log.windows(2).all(|p| p[0].time <= p[1].time));
            }
            let now = t + probe;
            let got = WindowCounter::usage_of(counter.as_ref(), w, now, local(now));
            let want = exact(&history, now, i64::from(window));
            prop_assert!(got.uses >= want.uses && got.amount >= want.amount, "got {got:?}, want {want:?}");
            if history.len() <= ROLLING_LOG_CAPACITY {
                prop_assert_eq!(got, want);
            }
            // A merged entry never outlives the newest use: after a full window of quiet, nothing counts.
            let later = t + i64::from(window);
            prop_assert_eq!(WindowCounter::usage_of(counter.as_ref(), w, later, local(later)), Usage::default());
        }

        #[test]
        fn calendar_day_counts_match_a_recount(
            steps in proptest::collection::vec((0i64..20_000, 1u64..500), 1..80),
            zone in prop_oneof![Just("UTC"), Just("Asia/Shanghai"), Just("America/New_York"), Just("-09:30")]) {
            let zone = Zone::parse(zone).unwrap();
            let mut t = 1_795_860_000i64;
            let mut counter: Option<WindowCounter> = None;
            let mut history: Vec<(i64, u64)> = Vec::new();
            for (dt, amount) in steps {
                t += dt;
                let l = zone.civil(t).unwrap();
                counter = Some(WindowCounter::record(counter.as_ref(), Period::Day, t, l, amount));
                history.push((t, amount));
            }
            let day_of = |t: i64| zone.civil(t).unwrap().date();
            let today = day_of(t);
            let want = history.iter().filter(|(u, _)| day_of(*u) == today)
                .fold(Usage::default(), |u, (_, a)| Usage { uses: u.uses + 1, amount: u.amount + a });
            prop_assert_eq!(WindowCounter::usage_of(counter.as_ref(), Period::Day, t, zone.civil(t).unwrap()), want);
        }
    }
}
