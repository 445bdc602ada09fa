//! Every parameter kind, through the decision function: data that passes and data that is denied,
//! with the reason codes, sentences and status words the card would answer.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers: a failed unwrap is a failed test")]

use policies::{
    Counters, Outcome, Policy, ReasonCode, SecurityState, Service, ServiceCounters, ServiceData, decide,
    record_use,
};

const NO_PIN: SecurityState = SecurityState { pin_verified: false };
const PIN: SecurityState = SecurityState { pin_verified: true };

fn policy(body: &str) -> Policy {
    let text = format!("version = 1\n[service.s]\napplet = \"A0 00 00 08 58 09 01\"\nins = 0x10\n{body}");
    Policy::parse(&text, "test.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn data(words: &str) -> ServiceData {
    ServiceData::parse(words.split_whitespace()).unwrap()
}

fn allowed(service: &Service, words: &str) -> bool {
    let decision = decide(service, &data(words), &ServiceCounters::default(), NO_PIN);
    assert_eq!(decision.is_allowed(), decision.reasons().is_empty(), "{:?}", decision.reasons());
    decision.is_allowed()
}

fn denied_with(service: &Service, words: &str) -> Vec<ReasonCode> {
    let decision = decide(service, &data(words), &ServiceCounters::default(), NO_PIN);
    assert_eq!(decision.outcome(), Outcome::Deny, "expected a denial for {words}");
    decision.reasons().iter().map(|r| r.code).collect()
}

#[test]
fn a_service_without_rules_allows_anything() {
    let p = policy("");
    let s = &p.services()[0];
    let decision = decide(s, &ServiceData::default(), &ServiceCounters::default(), NO_PIN);
    assert_eq!(decision.outcome(), Outcome::Allow);
    assert_eq!(decision.status_word(), 0x9000);
    assert!(!s.keeps_counters());
}

#[test]
fn disabled_service_is_denied_with_6985() {
    let p = policy("disabled = true\n");
    let s = &p.services()[0];
    let decision = decide(s, &ServiceData::default(), &ServiceCounters::default(), PIN);
    assert_eq!(decision.outcome(), Outcome::Deny);
    assert_eq!(decision.status_word(), 0x6985);
    assert_eq!(decision.reasons()[0].code, ReasonCode::ServiceDisabled);
    assert_eq!(decision.reasons()[0].message, "the service \"s\" is disabled by the policy");
}

#[test]
fn validity_dates_are_judged_in_the_policy_zone() {
    let p = policy("zone = \"Asia/Shanghai\"\n[service.s.time]\nfrom = 2026-01-01\nuntil = 2026-12-31\n");
    let s = &p.services()[0];
    // 2025-12-31T16:30Z is already 2026-01-01 00:30 in Shanghai.
    assert!(allowed(s, "time=2025-12-31T16:30:00Z"));
    assert_eq!(denied_with(s, "time=2025-12-31T15:59:59Z"), [ReasonCode::BeforeValidity]);
    assert!(allowed(s, "time=2026-12-31T15:59:59Z"));
    assert_eq!(denied_with(s, "time=2026-12-31T16:00:00Z"), [ReasonCode::AfterValidity]);
    let d = decide(s, &data("time=2027-06-01T00:00:00Z"), &ServiceCounters::default(), NO_PIN);
    assert_eq!(
        d.reasons()[0].message,
        "the local date 2027-06-01 (Asia/Shanghai) is after the last valid date 2026-12-31"
    );
    assert_eq!(d.status_word(), 0x6985);
}

#[test]
fn days_of_week_and_hours_of_day() {
    let p = policy(
        "zone = \"+08:00\"\n[service.s.time]\ndays = [\"mon-fri\"]\nhours = [\"07:00-09:30\", \"22:00-01:00\"]\n",
    );
    let s = &p.services()[0];
    // Friday 2026-11-27 08:00 +08:00 = 00:00Z.
    assert!(allowed(s, "time=2026-11-27T00:00:00Z"));
    // Friday 09:30 local is past the first window.
    assert_eq!(denied_with(s, "time=2026-11-27T01:30:00Z"), [ReasonCode::HourNotAllowed]);
    // Friday 23:59 and Saturday 00:30 local: the window wraps midnight, but Saturday is not allowed.
    assert!(allowed(s, "time=2026-11-27T15:59:00Z"));
    assert_eq!(denied_with(s, "time=2026-11-27T16:30:00Z"), [ReasonCode::DayNotAllowed]);
    // Saturday noon fails both.
    let d = decide(s, &data("time=2026-11-28T04:00:00Z"), &ServiceCounters::default(), NO_PIN);
    assert_eq!(
        d.reasons().iter().map(|r| r.code).collect::<Vec<_>>(),
        [ReasonCode::DayNotAllowed, ReasonCode::HourNotAllowed]
    );
    assert_eq!(
        d.reasons()[0].message,
        "Saturday (2026-11-28, +08:00) is not an allowed day (allowed: mon, tue, wed, thu, fri)"
    );
    assert_eq!(
        d.reasons()[1].message,
        "the local time 12:00 (+08:00) is outside the allowed hours 07:00-09:30, 22:00-01:00"
    );
}

#[test]
fn hours_follow_daylight_saving_time() {
    let p = policy("zone = \"Europe/Berlin\"\n[service.s.time]\nhours = [\"09:00-17:00\"]\n");
    let s = &p.services()[0];
    // 08:30Z is 09:30 in winter (CET) and 10:30 in summer (CEST): both allowed.
    assert!(allowed(s, "time=2026-01-15T08:30:00Z"));
    assert!(allowed(s, "time=2026-07-15T08:30:00Z"));
    // 15:30Z is 16:30 in winter (allowed) but 17:30 in summer (denied).
    assert!(allowed(s, "time=2026-01-15T15:30:00Z"));
    assert_eq!(denied_with(s, "time=2026-07-15T15:30:00Z"), [ReasonCode::HourNotAllowed]);
}

#[test]
fn missing_time_is_6a80_and_reported_once() {
    let p = policy(
        "[service.s.time]\nhours = [\"07:00-09:00\"]\n[[service.s.limit]]\nperiod = \"day\"\nmax_uses = 3\n",
    );
    let s = &p.services()[0];
    let d = decide(s, &ServiceData::default(), &ServiceCounters::default(), NO_PIN);
    assert_eq!(d.reasons().iter().map(|r| r.code).collect::<Vec<_>>(), [ReasonCode::TimeMissing]);
    assert_eq!(d.status_word(), 0x6A80);
    let far = ServiceData { time: Some(i64::MAX), ..ServiceData::default() };
    let d = decide(s, &far, &ServiceCounters::default(), NO_PIN);
    assert_eq!(d.reasons()[0].code, ReasonCode::TimeMissing);
    assert!(d.reasons()[0].message.contains("outside the years"));
}

const FENCES: &str = r#"
[[service.s.geofence]]
name = "campus"
action = "allow"
circle = { lat = 31.2304, lon = 121.4737, radius_m = 1000 }

[[service.s.geofence]]
name = "harbour"
action = "allow"
polygon = [{ lat = 31.0, lon = 121.8 }, { lat = 31.0, lon = 121.9 }, { lat = 31.1, lon = 121.9 }, { lat = 31.1, lon = 121.8 }]

[[service.s.geofence]]
name = "lab"
action = "deny"
circle = { lat = 31.2304, lon = 121.4737, radius_m = 100 }
"#;

#[test]
fn geofences_allow_inside_and_deny_outside() {
    let p = policy(FENCES);
    let s = &p.services()[0];
    // 500 m north of the campus centre: inside "campus", outside "lab".
    assert!(allowed(s, "lat=31.2349 lon=121.4737"));
    assert!(allowed(s, "lat=31.05 lon=121.85"), "inside the harbour polygon");
    let d = decide(s, &data("lat=31.3 lon=121.4737"), &ServiceCounters::default(), NO_PIN);
    assert_eq!(d.reasons()[0].code, ReasonCode::OutsideAllowedArea);
    assert_eq!(
        d.reasons()[0].message,
        "the terminal at 31.3000000, 121.4737000 is outside every allowed area (campus, harbour)"
    );
    assert_eq!(d.status_word(), 0x6985);
    // The centre is inside "campus" but also inside the denied "lab".
    let d = decide(s, &data("lat=31.2304 lon=121.4737"), &ServiceCounters::default(), NO_PIN);
    assert_eq!(d.reasons().iter().map(|r| r.code).collect::<Vec<_>>(), [ReasonCode::InsideDeniedArea]);
    assert!(d.reasons()[0].message.contains("inside the denied area \"lab\""));
    let d = decide(s, &ServiceData::default(), &ServiceCounters::default(), NO_PIN);
    assert_eq!(d.reasons()[0].code, ReasonCode::LocationMissing);
    assert_eq!(d.status_word(), 0x6A80);
}

#[test]
fn deny_only_fences_allow_everywhere_else() {
    let p = policy(
        "[[service.s.geofence]]\nname = \"casino\"\naction = \"deny\"\ncircle = { lat = 22.19, lon = 113.54, radius_m = 300 }\n",
    );
    let s = &p.services()[0];
    assert!(allowed(s, "lat=0 lon=0"));
    assert_eq!(denied_with(s, "lat=22.19 lon=113.54"), [ReasonCode::InsideDeniedArea]);
}

const AMOUNT: &str =
    "[service.s.amount]\ncurrency = \"CNY\"\nmin = \"1.00\"\nmax = \"500\"\ncvm_limit = \"100.00\"\n";

#[test]
fn amount_bounds_currency_and_cvm_limit() {
    let p = policy(AMOUNT);
    let s = &p.services()[0];
    assert!(allowed(s, "amount=1.00 currency=CNY"));
    assert!(allowed(s, "amount=100.00 currency=CNY"), "the CVM limit itself needs no PIN");
    assert_eq!(denied_with(s, "amount=0.99 currency=CNY"), [ReasonCode::BelowMinimum]);
    let d = decide(s, &data("amount=500.01 currency=CNY"), &ServiceCounters::default(), PIN);
    assert_eq!(
        d.reasons()[0].message,
        "the amount 500.01 CNY is above the per-transaction maximum 500.00 CNY"
    );
    assert_eq!(d.status_word(), 0x6985);
    assert_eq!(denied_with(s, "amount=10 currency=USD"), [ReasonCode::WrongCurrency]);
    // Above the CVM limit: 6982 without the PIN, allowed with it.
    let d = decide(s, &data("amount=100.01 currency=CNY"), &ServiceCounters::default(), NO_PIN);
    assert_eq!(d.reasons().iter().map(|r| r.code).collect::<Vec<_>>(), [ReasonCode::PinRequired]);
    assert_eq!(d.status_word(), 0x6982);
    assert!(d.reasons()[0].message.contains("verify the cardholder PIN first"));
    assert!(decide(s, &data("amount=100.01 currency=CNY"), &ServiceCounters::default(), PIN).is_allowed());
    // Above the maximum *and* the CVM limit: 6985 wins, since a PIN would not help.
    let d = decide(s, &data("amount=600 currency=CNY"), &ServiceCounters::default(), NO_PIN);
    assert_eq!(
        d.reasons().iter().map(|r| r.code).collect::<Vec<_>>(),
        [ReasonCode::AboveMaximum, ReasonCode::PinRequired]
    );
    assert_eq!(d.status_word(), 0x6985);
    assert_eq!(denied_with(s, ""), [ReasonCode::AmountMissing]);
}

/// Runs uses one after another through decide + record_use, as the runtime would; returns the
/// outcomes and the final counters.
fn run(service: &Service, uses: &[&str]) -> (Vec<Outcome>, ServiceCounters) {
    let mut counters = ServiceCounters::default();
    let mut outcomes = Vec::new();
    for words in uses {
        let d = data(words);
        let decision = decide(service, &d, &counters, NO_PIN);
        if decision.is_allowed() {
            counters = record_use(service, &d, &counters);
        }
        outcomes.push(decision.outcome());
    }
    (outcomes, counters)
}

#[test]
fn uses_per_calendar_day_reset_at_local_midnight() {
    let p = policy("zone = \"Asia/Shanghai\"\n[[service.s.limit]]\nperiod = \"day\"\nmax_uses = 2\n");
    let s = &p.services()[0];
    assert!(s.keeps_counters());
    use Outcome::{Allow, Deny};
    // 15:00Z and 15:59Z are 23:00 and 23:59 in Shanghai; 16:00Z is the next local day.
    let (outcomes, counters) = run(
        s,
        &[
            "time=2026-11-28T15:00:00Z",
            "time=2026-11-28T15:30:00Z",
            "time=2026-11-28T15:59:00Z",
            "time=2026-11-28T16:00:00Z",
        ],
    );
    assert_eq!(outcomes, [Allow, Allow, Deny, Allow]);
    let d = decide(s, &data("time=2026-11-28T16:10:00Z"), &counters, NO_PIN);
    assert!(d.is_allowed(), "one use so far on the new day");
    let after = record_use(s, &data("time=2026-11-28T16:10:00Z"), &counters);
    let d = decide(s, &data("time=2026-11-28T17:00:00Z"), &after, NO_PIN);
    assert_eq!(d.reasons()[0].code, ReasonCode::UsesExceeded);
    assert_eq!(d.reasons()[0].message, "the service was already used 2 times in this calendar day (limit 2)");
}

#[test]
fn cumulative_amount_per_week_and_rolling_window() {
    let p = policy(&format!(
        "{AMOUNT}[[service.s.limit]]\nperiod = \"week\"\nmax_amount = \"300.00\"\n[[service.s.limit]]\nperiod = \"rolling 1h\"\nmax_uses = 2\n"
    ));
    let s = &p.services()[0];
    use Outcome::{Allow, Deny};
    // Week of Monday 2026-11-23 (UTC zone). Amounts under the CVM limit.
    let (outcomes, counters) = run(
        s,
        &[
            "amount=100 currency=CNY time=2026-11-23T08:00:00Z",
            "amount=100 currency=CNY time=2026-11-24T08:00:00Z",
            "amount=100.01 currency=CNY time=2026-11-25T08:00:00Z", // 300.01 > 300: denied
            "amount=100 currency=CNY time=2026-11-25T08:00:00Z",    // exactly 300: allowed
            "amount=1 currency=CNY time=2026-11-29T23:59:59Z",      // Sunday, same week: denied
            "amount=1 currency=CNY time=2026-11-30T00:00:00Z",      // Monday: new week
        ],
    );
    assert_eq!(outcomes, [Allow, Allow, Deny, Allow, Deny, Allow]);
    let d = decide(s, &data("amount=50 currency=CNY time=2026-11-30T00:10:00Z"), &counters, NO_PIN);
    assert!(d.is_allowed());
    // Two uses within the hour, then a third: the rolling window denies it; an hour later it allows.
    let c2 = record_use(s, &data("amount=50 currency=CNY time=2026-11-30T00:10:00Z"), &counters);
    let d = decide(s, &data("amount=1 currency=CNY time=2026-11-30T00:59:59Z"), &c2, NO_PIN);
    assert_eq!(d.reasons().iter().map(|r| r.code).collect::<Vec<_>>(), [ReasonCode::UsesExceeded]);
    assert_eq!(d.reasons()[0].message, "the service was already used 2 times in the last 1h (limit 2)");
    assert!(decide(s, &data("amount=1 currency=CNY time=2026-11-30T01:00:00Z"), &c2, NO_PIN).is_allowed());
    let d = decide(s, &data("amount=260 currency=CNY time=2026-12-01T00:00:00Z"), &c2, PIN);
    assert_eq!(d.reasons()[0].code, ReasonCode::CumulativeAmountExceeded);
    assert_eq!(
        d.reasons()[0].message,
        "260.00 CNY would bring the total in this calendar week to 311.00 CNY, above the limit 300.00 CNY"
    );
}

#[test]
fn consecutive_offline_uses_go_online_then_deny() {
    let p = policy("[service.s.offline]\nlower = 2\nupper = 3\n");
    let s = &p.services()[0];
    use Outcome::{Allow, AllowGoOnline, Deny};
    let (outcomes, counters) = run(s, &["online=no", "", "online=no", "online=no", "online=no"]);
    assert_eq!(outcomes, [Allow, Allow, AllowGoOnline, Deny, Deny]);
    assert_eq!(counters.consecutive_offline, 3);
    let d = decide(s, &ServiceData::default(), &counters, NO_PIN);
    assert_eq!(d.reasons()[0].code, ReasonCode::OfflineLimitExceeded);
    assert_eq!(
        d.reasons()[0].message,
        "this would be offline use 4 in a row, above the limit of 3: authorise online first"
    );
    // An online use is allowed and resets the count.
    let online = data("online=yes");
    assert_eq!(decide(s, &online, &counters, NO_PIN).outcome(), Allow);
    let reset = record_use(s, &online, &counters);
    assert_eq!(reset.consecutive_offline, 0);
    // The go-online advice is carried as a reason that does not deny.
    let two = ServiceCounters { consecutive_offline: 2, ..ServiceCounters::default() };
    let d = decide(s, &ServiceData::default(), &two, NO_PIN);
    assert_eq!(d.outcome(), AllowGoOnline);
    assert_eq!(d.status_word(), 0x9000);
    assert_eq!(d.reasons()[0].code, ReasonCode::GoOnline);
    assert_eq!(
        d.reasons()[0].message,
        "offline use 3 in a row is past the lower limit of 2: go online when you can"
    );
}

#[test]
fn go_online_advice_is_dropped_when_something_else_denies() {
    let p = policy("[service.s.offline]\nlower = 0\n[service.s.terminal]\ndeny = [\"BAD00001\"]\n");
    let s = &p.services()[0];
    assert_eq!(
        decide(s, &data("terminal=OK000001"), &ServiceCounters::default(), NO_PIN).outcome(),
        Outcome::AllowGoOnline
    );
    let d = decide(s, &data("terminal=BAD00001"), &ServiceCounters::default(), NO_PIN);
    assert_eq!(d.reasons().iter().map(|r| r.code).collect::<Vec<_>>(), [ReasonCode::TerminalDenied]);
}

const PAYEE: &str = r#"
[service.s.payee]
allow_merchants = ["SHOP-0001", "SHOP-0002"]
deny_merchants = ["SHOP-0666"]
allow_mcc = ["5411", "5800-5899"]
deny_mcc = ["5813"]
"#;

#[test]
fn merchants_and_categories() {
    let p = policy(PAYEE);
    let s = &p.services()[0];
    assert!(allowed(s, "merchant=SHOP-0001 mcc=5411"));
    assert!(allowed(s, "merchant=SHOP-0002 mcc=5812"));
    assert_eq!(denied_with(s, "merchant=SHOP-0003 mcc=5411"), [ReasonCode::MerchantNotAllowed]);
    assert_eq!(
        denied_with(s, "merchant=SHOP-0666 mcc=5411"),
        [ReasonCode::MerchantNotAllowed, ReasonCode::MerchantDenied]
    );
    assert_eq!(denied_with(s, "merchant=SHOP-0001 mcc=5999"), [ReasonCode::MccNotAllowed]);
    let d = decide(s, &data("merchant=SHOP-0001 mcc=5813"), &ServiceCounters::default(), NO_PIN);
    assert_eq!(d.reasons()[0].code, ReasonCode::MccDenied);
    assert_eq!(d.reasons()[0].message, "merchant category 5813 is denied (5813)");
    let d = decide(s, &data("merchant=SHOP-0009 mcc=4111"), &ServiceCounters::default(), NO_PIN);
    assert_eq!(d.reasons()[1].message, "merchant category 4111 is not among the allowed (5411, 5800-5899)");
    let d = decide(s, &ServiceData::default(), &ServiceCounters::default(), NO_PIN);
    assert_eq!(
        d.reasons().iter().map(|r| r.code).collect::<Vec<_>>(),
        [ReasonCode::MerchantMissing, ReasonCode::MccMissing]
    );
    assert_eq!(d.status_word(), 0x6A80);
}

#[test]
fn terminals() {
    let p = policy("[service.s.terminal]\nallow = [\"POS00001\", \"POS00002\"]\n");
    let s = &p.services()[0];
    assert!(allowed(s, "terminal=POS00001"));
    let d = decide(s, &data("terminal=POS00003"), &ServiceCounters::default(), NO_PIN);
    assert_eq!(d.reasons()[0].code, ReasonCode::TerminalNotAllowed);
    assert_eq!(
        d.reasons()[0].message,
        "terminal POS00003 is not one of the allowed terminals (POS00001, POS00002)"
    );
    assert_eq!(denied_with(s, ""), [ReasonCode::TerminalMissing]);
    let p = policy("[service.s.terminal]\ndeny = [\"POS00666\"]\n");
    let s = &p.services()[0];
    assert!(allowed(s, "terminal=POS00001"));
    assert_eq!(denied_with(s, "terminal=POS00666"), [ReasonCode::TerminalDenied]);
}

#[test]
fn every_failed_rule_is_reported_in_one_decision() {
    let p = policy(&format!(
        "disabled = true\n[service.s.time]\nhours = [\"07:00-08:00\"]\n{FENCES}{AMOUNT}{PAYEE}[service.s.terminal]\ndeny = [\"POS00666\"]\n"
    ));
    let s = &p.services()[0];
    let d = decide(
        s,
        &data(
            "amount=999 currency=CNY time=2026-11-28T12:00:00Z lat=0 lon=0 merchant=SHOP-0666 mcc=5813 terminal=POS00666",
        ),
        &ServiceCounters::default(),
        NO_PIN,
    );
    let got: Vec<ReasonCode> = d.reasons().iter().map(|r| r.code).collect();
    use ReasonCode::*;
    assert_eq!(
        got,
        [
            ServiceDisabled,
            HourNotAllowed,
            OutsideAllowedArea,
            AboveMaximum,
            PinRequired,
            MerchantNotAllowed,
            MerchantDenied,
            MccDenied,
            TerminalDenied
        ]
    );
    assert_eq!(d.status_word(), 0x6985);
    let record = d.record(s);
    assert_eq!(record.service, "s");
    assert_eq!(record.status_word, 0x6985);
    assert_eq!(record.reasons.len(), 9);
}

#[test]
fn counters_are_kept_per_service_and_survive_serialisation() {
    let p = policy(
        "[[service.s.limit]]\nperiod = \"rolling 10m\"\nmax_uses = 1\n[service.s.offline]\nupper = 9\n",
    );
    let s = &p.services()[0];
    let mut all = Counters::new();
    let d = data("time=2026-11-28T12:00:00Z");
    assert!(decide(s, &d, all.get("s"), NO_PIN).is_allowed());
    let next = record_use(s, &d, all.get("s"));
    all.set("s", next);
    let json = serde_json::to_string(&all).unwrap();
    let back: Counters = serde_json::from_str(&json).unwrap();
    assert_eq!(back, all);
    assert_eq!(back.get("s").consecutive_offline, 1);
    assert!(!decide(s, &data("time=2026-11-28T12:05:00Z"), back.get("s"), NO_PIN).is_allowed());
    assert_eq!(back.get("other"), &ServiceCounters::default());
}
