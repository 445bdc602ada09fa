//! The example policies under `policies/examples/`: each loads, binds what `docs/policies.md` says,
//! and decides as its comments promise.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers: a failed unwrap is a failed test")]

use policies::{
    Binding, Outcome, Policy, ReasonCode, SecurityState, Service, ServiceCounters, ServiceData, decide,
    record_use,
};

fn load(name: &str) -> Policy {
    let path = format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    Policy::parse(&text, &path).unwrap_or_else(|e| panic!("{e}"))
}

fn data(words: &str) -> ServiceData {
    ServiceData::parse(words.split_whitespace()).unwrap()
}

fn reasons(service: &Service, words: &str, counters: &ServiceCounters, pin: bool) -> Vec<ReasonCode> {
    decide(service, &data(words), counters, SecurityState { pin_verified: pin })
        .reasons()
        .iter()
        .map(|r| r.code)
        .collect()
}

const AID_WALLET: [u8; 7] = [0xA0, 0x00, 0x00, 0x08, 0x58, 0x01, 0x01];
const AID_TRANSIT: [u8; 7] = [0xA0, 0x00, 0x00, 0x08, 0x58, 0x02, 0x01];
const AID_BADGE: [u8; 7] = [0xA0, 0x00, 0x00, 0x08, 0x58, 0x03, 0x01];

/// People's Square station, 08:00 in Shanghai on a Saturday, at gate GATE0001.
const RIDE: &str =
    "amount=4.00 currency=CNY time=2026-11-28T00:00:00Z lat=31.2330 lon=121.4750 mcc=4111 terminal=GATE0001";

#[test]
fn transit_fares() {
    let policy = load("transit.toml");
    let fare = policy.service_for(&AID_TRANSIT, 0x54, 0, 0).unwrap();
    assert_eq!(fare.name(), "metro-fare");
    let none = ServiceCounters::default();
    assert!(reasons(fare, RIDE, &none, false).is_empty());
    // 23:45 in Shanghai is after the last train.
    let late = RIDE.replace("2026-11-28T00:00:00Z", "2026-11-28T15:45:00Z");
    assert_eq!(reasons(fare, &late, &none, false), [ReasonCode::HourNotAllowed]);
    // At the depot (inside the metro area, inside the denied polygon), at the stolen gate, too dear.
    let depot = RIDE.replace("lat=31.2330 lon=121.4750", "lat=31.2150 lon=121.5950");
    assert_eq!(reasons(fare, &depot, &none, false), [ReasonCode::InsideDeniedArea]);
    let stolen = RIDE.replace("GATE0001", "GATE0666");
    assert_eq!(reasons(fare, &stolen, &none, false), [ReasonCode::TerminalDenied]);
    let dear = RIDE.replace("amount=4.00", "amount=25.00");
    assert_eq!(reasons(fare, &dear, &none, false), [ReasonCode::AboveMaximum]);
    // Outside Shanghai (Suzhou, about 85 km away), and not a transit merchant.
    let suzhou = RIDE.replace("lat=31.2330 lon=121.4750", "lat=31.2990 lon=120.5853").replace("4111", "5411");
    assert_eq!(
        reasons(fare, &suzhou, &none, false),
        [ReasonCode::OutsideAllowedArea, ReasonCode::MccNotAllowed]
    );
    // 30 rides a day, then no more.
    let mut counters = ServiceCounters::default();
    for i in 0..30 {
        let ride =
            RIDE.replace("T00:00:00Z", &format!("T00:{i:02}:00Z")).replace("amount=4.00", "amount=1.00");
        assert!(reasons(fare, &ride, &counters, false).is_empty(), "ride {}", i + 1);
        counters = record_use(fare, &data(&ride), &counters);
    }
    let ride31 = RIDE.replace("T00:00:00Z", "T01:00:00Z").replace("amount=4.00", "amount=1.00");
    assert_eq!(reasons(fare, &ride31, &counters, false), [ReasonCode::UsesExceeded]);
    // Top-up is disabled.
    let top_up = policy.service_for(&AID_TRANSIT, 0x56, 0, 0).unwrap();
    assert_eq!(reasons(top_up, RIDE, &none, false), [ReasonCode::ServiceDisabled]);
    assert!(policy.service_for(&AID_TRANSIT, 0x58, 0, 0).is_none());
}

/// 50.00 CNY at a supermarket, offline, at noon in Shanghai.
const PAY: &str = "amount=50.00 currency=CNY time=2026-11-28T04:00:00Z merchant=SHOP-0001 mcc=5411 online=no";

#[test]
fn offline_payment_codes() {
    let policy = load("offline-payment.toml");
    // The binding the payment engineer implements: credit wallet AID, INS 50.
    let bindings: Vec<String> = policy.bindings().map(|(s, b)| format!("{} {b}", s.name())).collect();
    assert_eq!(bindings, ["payment-code applet A0000008580101 INS 50"]);
    let pay = policy.service_for(&AID_WALLET, 0x50, 0, 0).unwrap();
    let none = ServiceCounters::default();
    assert!(reasons(pay, PAY, &none, false).is_empty());
    // Above the CVM limit: PIN first (6982); allowed once verified.
    let big = PAY.replace("amount=50.00", "amount=500.00");
    let d = decide(pay, &data(&big), &none, SecurityState::default());
    assert_eq!(d.status_word(), 0x6982);
    assert!(reasons(pay, &big, &none, true).is_empty());
    // Gambling is never paid; neither is the fraudster.
    assert_eq!(reasons(pay, &PAY.replace("5411", "7995"), &none, false), [ReasonCode::MccDenied]);
    assert_eq!(
        reasons(pay, &PAY.replace("SHOP-0001", "FRAUD-0001"), &none, false),
        [ReasonCode::MerchantDenied]
    );
    // No amount: 6A80.
    let d = decide(pay, &data("time=2026-11-28T04:00:00Z"), &none, SecurityState::default());
    assert_eq!(d.status_word(), 0x6A80);
    // Offline codes, 20 minutes apart: 3 plain, 4th and 5th "go online", 6th denied; online resets.
    let mut counters = ServiceCounters::default();
    let mut outcomes = Vec::new();
    for i in 0..6 {
        let words = PAY.replace("T04:00:00Z", &format!("T{:02}:00:00Z", 4 + i));
        let decision = decide(pay, &data(&words), &counters, SecurityState::default());
        if decision.is_allowed() {
            counters = record_use(pay, &data(&words), &counters);
        }
        outcomes.push(decision.outcome());
    }
    use Outcome::{Allow, AllowGoOnline, Deny};
    assert_eq!(outcomes, [Allow, Allow, Allow, AllowGoOnline, AllowGoOnline, Deny]);
    let online = PAY.replace("online=no", "online=yes").replace("T04:00:00Z", "T10:30:00Z");
    assert!(reasons(pay, &online, &counters, false).is_empty());
    counters = record_use(pay, &data(&online), &counters);
    assert_eq!(counters.consecutive_offline, 0);
    // Six codes in one hour: the sixth is refused by the rolling limit.
    let mut counters = ServiceCounters::default();
    for i in 0..5 {
        let words =
            PAY.replace("T04:00:00Z", &format!("T04:{:02}:00Z", i * 10)).replace("online=no", "online=yes");
        assert!(reasons(pay, &words, &counters, false).is_empty());
        counters = record_use(pay, &data(&words), &counters);
    }
    let sixth = PAY.replace("T04:00:00Z", "T04:55:00Z").replace("online=no", "online=yes");
    assert_eq!(reasons(pay, &sixth, &counters, false), [ReasonCode::UsesExceeded]);
    // Daily total: 5000.00 CNY at most.
    let mut counters = ServiceCounters::default();
    for i in 0..3 {
        let words = format!(
            "amount=1500.00 currency=CNY time=2026-11-28T0{i}:00:00Z merchant=SHOP-0001 mcc=5411 online=yes"
        );
        assert!(reasons(pay, &words, &counters, true).is_empty());
        counters = record_use(pay, &data(&words), &counters);
    }
    let words = "amount=600.00 currency=CNY time=2026-11-28T05:00:00Z merchant=SHOP-0001 mcc=5411 online=yes";
    assert_eq!(reasons(pay, words, &counters, true), [ReasonCode::CumulativeAmountExceeded]);
}

/// Office door 1 on Wednesday 2026-06-10 at 09:00 in Berlin (07:00Z, CEST).
const DOOR: &str = "time=2026-06-10T07:00:00Z lat=52.5210 lon=13.4050 terminal=DOOR0001";

#[test]
fn door_access() {
    let policy = load("door-access.toml");
    let office = policy.service_for(&AID_BADGE, 0x40, 0x01, 0x00).unwrap();
    let server = policy.service_for(&AID_BADGE, 0x40, 0x02, 0x00).unwrap();
    assert_eq!((office.name(), server.name()), ("office-door", "server-room"));
    assert!(policy.service_for(&AID_BADGE, 0x40, 0x03, 0x00).is_none());
    let none = ServiceCounters::default();
    assert!(reasons(office, DOOR, &none, false).is_empty());
    // Saturday; 21:00; in the notch of the L-shaped campus; at an unknown reader.
    assert_eq!(reasons(office, &DOOR.replace("06-10", "06-13"), &none, false), [ReasonCode::DayNotAllowed]);
    assert_eq!(
        reasons(office, &DOOR.replace("T07:00", "T19:00"), &none, false),
        [ReasonCode::HourNotAllowed]
    );
    let notch = DOOR.replace("lat=52.5210 lon=13.4050", "lat=52.5245 lon=13.4020");
    assert_eq!(reasons(office, &notch, &none, false), [ReasonCode::OutsideAllowedArea]);
    assert_eq!(
        reasons(office, &DOOR.replace("DOOR0001", "DOOR0009"), &none, false),
        [ReasonCode::TerminalNotAllowed]
    );
    // Before the badge's validity.
    assert_eq!(
        reasons(office, &DOOR.replace("2026-06-10", "2026-02-25"), &none, false),
        [ReasonCode::BeforeValidity]
    );
    // The server room: its own reader and fence, four entries a day.
    let srv = "time=2026-06-10T07:00:00Z lat=52.5210 lon=13.4020 terminal=SRV00001";
    let mut counters = ServiceCounters::default();
    for _ in 0..4 {
        assert!(reasons(server, srv, &counters, false).is_empty());
        counters = record_use(server, &data(srv), &counters);
    }
    assert_eq!(reasons(server, srv, &counters, false), [ReasonCode::UsesExceeded]);
    assert_eq!(
        reasons(server, DOOR, &none, false),
        [ReasonCode::OutsideAllowedArea, ReasonCode::TerminalNotAllowed]
    );
}

const AID_DIAG: [u8; 10] = [0xF0, 0x43, 0x41, 0x52, 0x44, 0x47, 0x41, 0x54, 0x45, 0x01];

#[test]
fn diagnostic_uses() {
    let policy = load("diag.toml");
    let used = policy.service_for(&AID_DIAG, 0x26, 0, 0).unwrap();
    assert_eq!(used.name(), "diag-use");
    let increment = policy.service_for(&AID_DIAG, 0x22, 0, 0).unwrap();
    assert!(policy.service_for(&AID_DIAG, 0x22, 1, 0).is_none(), "INCREMENT P1=01 is not bound");
    let none = ServiceCounters::default();
    let ten = "amount=10.00 currency=CNY time=2026-11-28T10:00:00Z";
    assert_eq!(reasons(increment, ten, &none, false), [ReasonCode::ServiceDisabled]);
    assert!(reasons(used, ten, &none, false).is_empty());
    assert_eq!(reasons(used, &ten.replace("10.00", "100.01"), &none, true), [ReasonCode::AboveMaximum]);
    assert_eq!(
        reasons(used, &ten.replace("10.00", "100.01"), &none, false),
        [ReasonCode::AboveMaximum, ReasonCode::PinRequired]
    );
    assert_eq!(reasons(used, &ten.replace("10.00", "50.01"), &none, false), [ReasonCode::PinRequired]);
    assert!(reasons(used, &ten.replace("10.00", "50.01"), &none, true).is_empty());
    assert_eq!(reasons(used, "time=2026-11-28T10:00:00Z", &none, false), [ReasonCode::AmountMissing]);
    // Three a day in Shanghai: 23:00 UTC on the 28th is already the 29th there.
    let mut counters = ServiceCounters::default();
    for _ in 0..3 {
        assert!(reasons(used, ten, &counters, false).is_empty());
        counters = record_use(used, &data(ten), &counters);
    }
    assert_eq!(reasons(used, ten, &counters, false), [ReasonCode::UsesExceeded]);
    assert!(reasons(used, &ten.replace("T10:00", "T23:00"), &counters, false).is_empty());
}

#[test]
fn the_runtime_can_check_bindings_against_declared_services() {
    let policy = load("door-access.toml");
    // An applet that declares INS 40 (any P1, P2) as a service: both bindings (P1 01, P1 02) lie in it.
    let badge = |b: &Binding| b.aid.as_bytes() == AID_BADGE;
    assert!(policy.undeclared_bindings(|b| badge(b) && b.within(0x40, None, None)).is_empty());
    // An applet that declares only INS 40 P1 01: the P1 02 binding is outside it.
    let refused = policy.undeclared_bindings(|b| badge(b) && b.within(0x40, Some(0x01), None));
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].binding.p1, Some(0x02));
    // ... or only INS 40 P1 01 P2 00: a binding that leaves P2 open is wider than the service.
    assert_eq!(policy.undeclared_bindings(|b| badge(b) && b.within(0x40, Some(0x01), Some(0x00))).len(), 2);
    // An applet that declares none: both services are refused, with file and line.
    let refused = policy.undeclared_bindings(|_| false);
    assert_eq!(refused.len(), 2);
    let message = refused[0].to_string();
    assert!(message.ends_with(
        "door-access.toml:8: service `office-door` binds applet A0000008580301 INS 40 P1 01, which is not a service that applet declares"
    ), "{message}");
}

#[test]
fn every_example_summarises_its_rules() {
    let policy = load("offline-payment.toml");
    let lines = policy.services()[0].rule_summaries();
    assert_eq!(
        lines,
        [
            "time (Asia/Shanghai): until 2027-12-31",
            "amount: amount in CNY from 0.01 to 2000.00; PIN required above 300.00",
            "frequency (Asia/Shanghai): at most 20 uses and at most 5000.00 CNY in total per calendar day",
            "frequency: at most 5 uses in any 1h",
            "frequency (Asia/Shanghai): at most 20000.00 CNY in total per calendar month",
            "offline: go online after 3 offline uses in a row, deny after 5",
            "payee: not merchants FRAUD-0001; not categories 7995, 6051, 4829",
        ]
    );
}
