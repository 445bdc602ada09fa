//! The policy gate on a card, through APDUs: every parameter kind allowed and denied, the status
//! words of `docs/policies.md`, the last decision through GET DATA `FF60`, counters that change
//! with the service and never on a denial, a failure or a tear, load-time refusal of bindings the
//! applet does not declare, the state file, and the admin path (PUT DATA after VERIFY of a
//! blocking admin PIN).
//!
//! The gated service is the diagnostic applet's USE (`80 26`, service `diag.use`): it adds one to
//! the applet's persistent counter, so applet state and gate counters can be compared after each
//! command.

// Test helpers: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use applet::apps::{self, CardOptions, admin};
use applet::gate::{PolicyLoadError, diagnostic, service_data};
use applet::{Card, FileCard};
use common::{h, sw_of};
use policies::counters::WindowCounter;
use policies::{DecisionRecord, Outcome, Policy, ReasonCode, ServiceData};
use zeroize::Zeroizing;

use ReasonCode::*;

const DIAG: &str = "F0 43 41 52 44 47 41 54 45 01";
const ADMIN_PIN: &[u8] = b"87654321";
const SELECT_DIAG: &str = "00A4040C0A F0434152444741544501";
const SELECT_ADMIN: &str = "00A4040C0A F0434152444741544500";
const VERIFY_PIN: &str = "0020008104 31323334";
const VERIFY_ADMIN: &str = "0020000108 3837363534333231";
const WRONG_ADMIN: &str = "0020000108 3131313131313131";

/// A policy gating diag USE as service `use` (zone UTC) with `rules` (tables `[service.use.*]`).
fn policy_text(rules: &str) -> String {
    format!("version = 1\nzone = \"UTC\"\n\n[service.use]\napplet = \"{DIAG}\"\nins = 0x26\n{rules}")
}

/// A new card with an admin PIN, the policy installed, powered.
fn gated(rules: &str) -> Card {
    let mut card = plain_card();
    let policy = Policy::parse(&policy_text(rules), "test.toml").unwrap_or_else(|e| panic!("{e}"));
    card.install_policy(Some(&policy)).unwrap();
    card
}

fn plain_card() -> Card {
    let options =
        CardOptions { admin_pin: Some(Zeroizing::new(ADMIN_PIN.to_vec())), ..CardOptions::default() };
    let mut card = apps::new_card(&options).unwrap();
    card.power_on();
    card
}

/// USE with the service data `words` (key=value, as `cardgate policy explain` reads them) on the
/// channel of `cla`.
fn use_apdu(cla: u8, words: &str) -> Vec<u8> {
    let data = service_data::to_tlv(&ServiceData::parse(words.split_whitespace()).unwrap()).unwrap();
    let mut apdu = vec![cla, 0x26, 0x00, 0x00];
    if !data.is_empty() {
        apdu.push(data.len() as u8);
        apdu.extend_from_slice(&data);
    }
    apdu.push(0x00);
    apdu
}

fn counter(card: &mut Card) -> u32 {
    let r = card.process(&h("8020000004"));
    assert_eq!(sw_of(&r), 0x9000, "READ COUNTER");
    u32::from_be_bytes(r[..4].try_into().unwrap())
}

/// The last decision, through GET DATA FF60 (following 61xx with GET RESPONSE, as hosts do).
fn last(card: &mut Card) -> DecisionRecord {
    let mut r = card.process(&h("00CAFF6000"));
    let mut data = Vec::new();
    while r.len() >= 2 && r[r.len() - 2] == 0x61 {
        data.extend_from_slice(&r[..r.len() - 2]);
        r = card.process(&[0x00, 0xC0, 0x00, 0x00, r[r.len() - 1]]);
    }
    assert_eq!(sw_of(&r), 0x9000, "GET DATA FF60: {r:02X?}");
    data.extend_from_slice(&r[..r.len() - 2]);
    diagnostic::decode(&data).unwrap()
}

fn codes(record: &DecisionRecord) -> Vec<ReasonCode> {
    record.reasons.iter().map(|r| r.code).collect()
}

/// A use the gate allows: 9000 with the applet's new counter value; returns the outcome.
#[track_caller]
fn allowed(card: &mut Card, words: &str) -> Outcome {
    allowed_on(card, 0x80, words)
}

#[track_caller]
fn allowed_on(card: &mut Card, cla: u8, words: &str) -> Outcome {
    let before = counter(card);
    let r = card.process(&use_apdu(cla, words));
    let record = last(card);
    assert_eq!(sw_of(&r), 0x9000, "{words}: {record:?}");
    assert_eq!(r[..4], (before + 1).to_be_bytes(), "{words}: the applet ran");
    assert_ne!(record.outcome, Outcome::Deny);
    assert_eq!(record.status_word, 0x9000);
    assert_eq!(record.service, "use");
    record.outcome
}

/// A use the gate denies with `sw` and exactly `reasons`: no data, and nothing persistent changed
/// (the whole state, applet counter and gate counters included, is byte for byte the same).
#[track_caller]
fn denied(card: &mut Card, words: &str, sw: u16, reasons: &[ReasonCode]) {
    denied_on(card, 0x80, words, sw, reasons);
}

#[track_caller]
fn denied_on(card: &mut Card, cla: u8, words: &str, sw: u16, reasons: &[ReasonCode]) {
    let before = card.to_state_bytes();
    let generation = card.generation();
    let r = card.process(&use_apdu(cla, words));
    assert_eq!(r, sw.to_be_bytes(), "{words}: {:?}", last(card));
    assert_eq!(card.generation(), generation, "{words}: a denial writes nothing");
    assert_eq!(*card.to_state_bytes(), *before, "{words}: a denial changes nothing persistent");
    let record = last(card);
    assert_eq!((record.outcome, record.status_word), (Outcome::Deny, sw));
    assert_eq!(codes(&record), reasons, "{words}");
    assert!(record.reasons.iter().all(|r| !r.message.is_empty()));
}

fn uses_today(card: &Card) -> (u32, u64) {
    match card.counters().unwrap().get("use").windows.first() {
        Some(WindowCounter::Calendar { uses, amount, .. }) => (*uses, *amount),
        other => panic!("expected a calendar counter, found {other:?}"),
    }
}

#[test]
fn time_validity_days_and_hours() {
    let mut card = gated(
        r#"
[service.use.time]
from = 2026-01-01
until = 2026-12-31
days = ["mon-fri"]
hours = ["09:00-17:00"]
"#,
    );
    // 2026-11-25 is a Wednesday.
    allowed(&mut card, "time=2026-11-25T10:00:00Z");
    denied(&mut card, "time=2026-11-28T10:00:00Z", 0x6985, &[DayNotAllowed]);
    denied(&mut card, "time=2026-11-25T17:00:00Z", 0x6985, &[HourNotAllowed]);
    denied(&mut card, "time=2027-01-04T10:00:00Z", 0x6985, &[AfterValidity]);
    denied(&mut card, "time=2025-12-31T10:00:00Z", 0x6985, &[BeforeValidity]);
    denied(&mut card, "time=2025-12-27T08:00:00Z", 0x6985, &[BeforeValidity, DayNotAllowed, HourNotAllowed]);
    denied(&mut card, "amount=1.00 currency=CNY", 0x6A80, &[TimeMissing]);
    allowed(&mut card, "time=2026-11-27T16:59:59Z");
    assert_eq!(counter(&mut card), 2);
}

#[test]
fn location_geofences() {
    let mut card = gated(
        r#"
[[service.use.geofence]]
name = "Shanghai centre"
action = "allow"
circle = { lat = 31.2304, lon = 121.4737, radius_m = 10000 }

[[service.use.geofence]]
name = "depot"
action = "deny"
polygon = [
    { lat = 31.2100, lon = 121.4700 },
    { lat = 31.2100, lon = 121.4800 },
    { lat = 31.2200, lon = 121.4800 },
    { lat = 31.2200, lon = 121.4700 },
]
"#,
    );
    allowed(&mut card, "lat=31.2304 lon=121.4737");
    denied(&mut card, "lat=31.2990 lon=120.5853", 0x6985, &[OutsideAllowedArea]);
    denied(&mut card, "lat=31.2150 lon=121.4750", 0x6985, &[InsideDeniedArea]);
    denied(&mut card, "time=2026-11-25T10:00:00Z", 0x6A80, &[LocationMissing]);
    let record = {
        card.process(&use_apdu(0x80, "lat=31.2150 lon=121.4750"));
        last(&mut card)
    };
    assert!(record.reasons[0].message.contains("depot"), "{:?}", record.reasons);
}

#[test]
fn amount_limits_currency_and_the_cvm_limit_with_the_channel_pin() {
    let mut card = gated(
        r#"
[service.use.amount]
currency = "CNY"
min = "1.00"
max = "100.00"
cvm_limit = "50.00"
"#,
    );
    allowed(&mut card, "amount=10.00 currency=CNY");
    allowed(&mut card, "amount=50.00 currency=CNY");
    denied(&mut card, "amount=0.99 currency=CNY", 0x6985, &[BelowMinimum]);
    denied(&mut card, "amount=10.00 currency=USD", 0x6985, &[WrongCurrency]);
    denied(&mut card, "time=2026-11-25T10:00:00Z", 0x6A80, &[AmountMissing]);
    // Above the CVM limit: only the PIN is wanting, so 6982.
    denied(&mut card, "amount=50.01 currency=CNY", 0x6982, &[PinRequired]);
    // Above the maximum as well: a condition of use wins, 6985, with both reasons.
    denied(&mut card, "amount=100.01 currency=CNY", 0x6985, &[AboveMaximum, PinRequired]);

    assert_eq!(card.process(&h(VERIFY_PIN)), h("9000"));
    allowed(&mut card, "amount=60.00 currency=CNY");
    denied(&mut card, "amount=100.01 currency=CNY", 0x6985, &[AboveMaximum]);
    // The PIN is validated on channel 0 only (ISO 7816-4 §5.4.2): channel 1 must verify its own.
    assert_eq!(card.process(&h("0070000001")), h("01 9000"));
    denied_on(&mut card, 0x81, "amount=60.00 currency=CNY", 0x6982, &[PinRequired]);
    assert_eq!(card.process(&h("0120008104 31323334")), h("9000"));
    allowed_on(&mut card, 0x81, "amount=60.00 currency=CNY");
    // A reset clears validation.
    card.reset();
    denied(&mut card, "amount=60.00 currency=CNY", 0x6982, &[PinRequired]);
}

#[test]
fn frequency_per_calendar_day_uses_and_amount() {
    let mut card = gated(
        r#"
[service.use.amount]
currency = "CNY"

[[service.use.limit]]
period = "day"
max_uses = 2
max_amount = "30.00"
"#,
    );
    let at = |time: &str, amount: &str| format!("amount={amount} currency=CNY time=2026-11-25T{time}Z");
    allowed(&mut card, &at("10:00:00", "10.00"));
    assert_eq!(uses_today(&card), (1, 1000));
    denied(&mut card, &at("11:00:00", "20.01"), 0x6985, &[CumulativeAmountExceeded]);
    allowed(&mut card, &at("11:00:00", "20.00"));
    assert_eq!(uses_today(&card), (2, 3000));
    denied(&mut card, &at("23:59:59", "0.01"), 0x6985, &[UsesExceeded, CumulativeAmountExceeded]);
    denied(&mut card, &at("23:59:59", "0.00"), 0x6985, &[UsesExceeded]);
    // The next calendar day starts afresh...
    allowed(&mut card, "amount=30.00 currency=CNY time=2026-11-26T00:00:00Z");
    assert_eq!(uses_today(&card), (1, 3000));
    // ...and a terminal whose clock is a day behind counts into the stored (later) day.
    allowed(&mut card, &at("12:00:00", "0.00"));
    assert_eq!(uses_today(&card), (2, 3000));
    denied(&mut card, &at("12:00:01", "0.00"), 0x6985, &[UsesExceeded]);
    assert_eq!(counter(&mut card), 4);
}

#[test]
fn frequency_in_a_rolling_window() {
    let mut card = gated("\n[[service.use.limit]]\nperiod = \"rolling 1h\"\nmax_uses = 2\n");
    let at = |time: &str| format!("time=2026-11-25T{time}Z");
    allowed(&mut card, &at("10:00:00"));
    allowed(&mut card, &at("10:30:00"));
    denied(&mut card, &at("10:59:59"), 0x6985, &[UsesExceeded]);
    // One hour after the first use it has left the window.
    allowed(&mut card, &at("11:00:00"));
    denied(&mut card, &at("11:29:59"), 0x6985, &[UsesExceeded]);
    allowed(&mut card, &at("11:30:00"));
    let counters = card.counters().unwrap();
    let Some(WindowCounter::Rolling { log, .. }) = counters.get("use").windows.first() else {
        panic!("a rolling log")
    };
    assert_eq!(log.len(), 2, "uses older than the window are pruned: {log:?}");
}

#[test]
fn consecutive_offline_uses_lower_and_upper_limits() {
    let mut card = gated("\n[service.use.offline]\nlower = 2\nupper = 3\n");
    let offline = "time=2026-11-25T10:00:00Z";
    assert_eq!(allowed(&mut card, offline), Outcome::Allow);
    assert_eq!(allowed(&mut card, "time=2026-11-25T10:00:00Z online=no"), Outcome::Allow);
    // Past the lower limit: allowed (9000), with the advice to go online.
    assert_eq!(allowed(&mut card, offline), Outcome::AllowGoOnline);
    assert_eq!(codes(&last(&mut card)), [GoOnline]);
    assert_eq!(card.counters().unwrap().get("use").consecutive_offline, 3);
    // Past the upper limit: denied until a use is authorised online.
    denied(&mut card, offline, 0x6985, &[OfflineLimitExceeded]);
    assert_eq!(allowed(&mut card, "time=2026-11-25T10:00:00Z online=yes"), Outcome::Allow);
    assert_eq!(card.counters().unwrap().get("use").consecutive_offline, 0);
    assert_eq!(allowed(&mut card, offline), Outcome::Allow);
    assert_eq!(card.counters().unwrap().get("use").consecutive_offline, 1);
}

#[test]
fn payee_and_terminal_lists() {
    let mut card = gated(
        r#"
[service.use.payee]
allow_merchants = ["SHOP-0001", "SHOP-0002"]
deny_mcc = ["7995", "4829-4830"]

[service.use.terminal]
deny = ["POS00666"]
"#,
    );
    allowed(&mut card, "merchant=SHOP-0001 mcc=5411 terminal=POS00001");
    allowed(&mut card, "merchant=SHOP-0002 mcc=4828 terminal=POS00002");
    denied(&mut card, "merchant=SHOP-0009 mcc=5411 terminal=POS00001", 0x6985, &[MerchantNotAllowed]);
    denied(&mut card, "merchant=SHOP-0001 mcc=4830 terminal=POS00001", 0x6985, &[MccDenied]);
    denied(&mut card, "merchant=SHOP-0001 mcc=5411 terminal=POS00666", 0x6985, &[TerminalDenied]);
    denied(&mut card, "mcc=5411 terminal=POS00001", 0x6A80, &[MerchantMissing]);
    denied(&mut card, "merchant=SHOP-0001 mcc=5411", 0x6A80, &[TerminalMissing]);
    // A condition of use and missing data together: 6985.
    denied(&mut card, "merchant=SHOP-0001 terminal=POS00666", 0x6985, &[MccMissing, TerminalDenied]);
}

#[test]
fn a_disabled_service_and_the_example_policy() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../policies/examples/diag.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let mut card = plain_card();
    card.install_policy(Some(&Policy::parse(&text, path).unwrap())).unwrap();
    // INCREMENT P1=00 is disabled; P1=01 (increment, then abort) is not bound.
    assert_eq!(card.process(&h("8022000004")), h("6985"));
    let record = last(&mut card);
    assert_eq!((record.service.as_str(), codes(&record)), ("diag-increment", vec![ServiceDisabled]));
    assert_eq!(card.process(&h("8022010004")), h("00000001 9000"));
    assert_eq!(counter(&mut card), 0);
    // USE: three a day in Shanghai, at most 100.00 CNY, the PIN above 50.00.
    let ten = "amount=10.00 currency=CNY time=2026-11-28T10:00:00Z";
    for n in 1..=3 {
        let r = card.process(&use_apdu(0x80, ten));
        assert_eq!(r, [&(n as u32).to_be_bytes()[..], &[0x90, 0x00]].concat());
    }
    assert_eq!(card.process(&use_apdu(0x80, ten)), h("6985"));
    assert_eq!(codes(&last(&mut card)), [UsesExceeded]);
    // Unbound commands are not affected by the gate at all.
    assert_eq!(card.process(&h("8010000002CAFE00")), h("CAFE 9000"));
}

#[test]
fn malformed_service_data_is_6a80_and_unbound_commands_pass() {
    let mut card = gated("\n[[service.use.limit]]\nperiod = \"day\"\nmax_uses = 9\n");
    let generation = card.generation();
    assert_eq!(card.process(&h("8026000005 9F02030000 00")), h("6A80"));
    let record = last(&mut card);
    assert_eq!(codes(&record), [MalformedData]);
    assert_eq!(card.process(&h("8026000003 9A0126 00")), h("6A80"));
    assert_eq!(card.generation(), generation);
    assert_eq!(counter(&mut card), 0);
}

#[test]
fn a_service_the_applet_fails_changes_neither_its_state_nor_the_counters() {
    let mut card = gated("\n[[service.use.limit]]\nperiod = \"day\"\nmax_uses = 9\n");
    // The counter at its maximum: USE overflows and the applet answers 6A80 after the gate allowed.
    assert_eq!(card.process(&h("8022000004 FFFFFFFF 04")), h("FFFFFFFF 9000"));
    let before = card.to_state_bytes();
    assert_eq!(card.process(&use_apdu(0x80, "time=2026-11-25T10:00:00Z")), h("6A80"));
    assert_eq!(*card.to_state_bytes(), *before);
    assert_eq!(card.counters().unwrap(), policies::Counters::new());
    // The last decision is the gate's: it allowed the use (the applet then refused it).
    assert_eq!(last(&mut card).outcome, Outcome::Allow);
}

/// Write events of a command, measured on a card made by `setup`.
fn writes_of(setup: &dyn Fn() -> Card, apdu: &[u8]) -> u64 {
    let mut card = setup();
    let before = card.store().writes();
    assert_eq!(sw_of(&card.process(apdu)), 0x9000);
    card.store().writes() - before
}

#[test]
fn a_torn_service_changes_the_counters_and_the_applet_together_or_not_at_all() {
    let rules =
        "\n[[service.use.limit]]\nperiod = \"day\"\nmax_uses = 9\n\n[service.use.offline]\nupper = 9\n";
    let second_use = use_apdu(0x80, "time=2026-11-25T11:00:00Z");
    let fresh = || gated(rules);
    let used_once = || {
        let mut card = gated(rules);
        allowed(&mut card, "time=2026-11-25T10:00:00Z");
        card
    };
    for (what, setup) in [("first use", &fresh as &dyn Fn() -> Card), ("second use", &used_once)] {
        let n = writes_of(setup, &second_use);
        // The applet's write and commit, the counters' write, the runtime's commit.
        assert!(n >= 4, "{what}: {n} writes");
        for tear in 1..=n + 1 {
            let mut card = setup();
            let value = counter(&mut card);
            let counters = card.counters().unwrap();
            let state = card.to_state_bytes();
            card.store_mut().tear_after(tear);
            let r = card.process(&second_use);
            let torn = card.last_command_torn();
            assert_eq!(torn, tear <= n, "{what}: tear at write {tear} of {n}");
            if torn {
                assert_eq!(r, h("6F00"));
                assert!(!card.is_powered());
                card.power_on();
                assert_eq!(*card.to_state_bytes(), *state, "{what}: tear at write {tear}: nothing changed");
                assert_eq!(counter(&mut card), value);
                assert_eq!(card.counters().unwrap(), counters);
            } else {
                assert_eq!(sw_of(&r), 0x9000);
                assert_eq!(counter(&mut card), value + 1);
                let after = card.counters().unwrap();
                assert_eq!(after.get("use").consecutive_offline, counters.get("use").consecutive_offline + 1);
            }
        }
    }
}

#[test]
fn the_last_decision_is_a_card_level_object_kept_in_ram() {
    let mut card = gated("\n[service.use.amount]\ncurrency = \"CNY\"\nmax = \"1.00\"\n");
    assert_eq!(card.process(&h("00CAFF6000")), h("6A88"), "no decision yet");
    denied(&mut card, "amount=2.00 currency=CNY", 0x6985, &[AboveMaximum]);
    let record = last(&mut card);
    assert!(record.reasons[0].message.contains("2.00 CNY"), "{record:?}");
    // Commands the gate does not bind leave it; another applet's channel reads it too.
    card.process(&h("8010000001AA00"));
    assert_eq!(last(&mut card), record);
    assert_eq!(card.process(&h(SELECT_ADMIN)), h("9000"));
    assert_eq!(last(&mut card), record, "answered whatever applet is selected");
    assert_eq!(card.process(&h("0070000001")), h("01 9000"));
    let r = card.process(&h("01CAFF6000"));
    assert_eq!(diagnostic::decode(&r[..r.len() - 2]).unwrap(), record, "on any channel");
    assert_eq!(card.process(&h("00CAFF6001AA00")), h("6700"), "GET DATA carries no data");
    assert_eq!(card.process(&h("0CCAFF6000")), h("6882"), "no secure messaging");
    // Short Le too small: 6Cxx with the exact length, as for any response.
    let full = card.process(&h("00CAFF6000"));
    assert_eq!(card.process(&h("00CAFF6005")), [0x6C, (full.len() - 2) as u8]);
    // RAM: gone after a reset, and never written to the state.
    card.reset();
    assert_eq!(card.process(&h("00CAFF6000")), h("6A88"));
}

#[test]
fn the_stored_policy_and_counters_survive_in_the_state_file_and_are_enforced_when_it_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.state");
    let rules = "\n[[service.use.limit]]\nperiod = \"day\"\nmax_uses = 2\n";
    let card = gated(rules);
    let mut file = FileCard::create(&path, card).unwrap();
    for n in 1..=2u32 {
        let r = file.process(&use_apdu(0x80, "time=2026-11-25T10:00:00Z")).unwrap();
        assert_eq!(r, [&n.to_be_bytes()[..], &[0x90, 0x00]].concat());
    }
    drop(file);
    let mut file = FileCard::open(&path, apps::catalog()).unwrap();
    assert_eq!(file.card().policy_text().unwrap(), Some(policy_text(rules).as_str()), "stored verbatim");
    let policy = file.card().policy().unwrap().unwrap();
    assert_eq!(policy.services()[0].name(), "use");
    assert_eq!(uses_today(file.card()), (2, 0));
    assert_eq!(file.process(&use_apdu(0x80, "time=2026-11-25T20:00:00Z")).unwrap(), h("6985"));
    assert_eq!(file.process(&use_apdu(0x80, "time=2026-11-26T00:00:00Z")).unwrap(), h("00000003 9000"));
}

#[test]
fn a_policy_binding_an_instruction_the_applet_does_not_declare_is_refused_at_load() {
    let mut card = plain_card();
    // ECHO (80 10) is not a service of the diagnostic applet.
    let text = format!("version = 1\n\n[service.echo]\napplet = \"{DIAG}\"\nins = 0x10\n");
    let policy = Policy::parse(&text, "echo.toml").unwrap();
    let Err(PolicyLoadError::Undeclared(list)) = card.install_policy(Some(&policy)) else {
        panic!("an undeclared binding must be refused")
    };
    assert_eq!(
        list[0].to_string(),
        "echo.toml:3: service `echo` binds applet F0434152444741544501 INS 10, which is not a service that applet declares"
    );
    // INCREMENT (80 22) is a service of the diagnostic applet only with P1 00: a binding that
    // leaves P1 open, or names another P1, would gate commands that are not that service.
    for p1 in ["", "p1 = 0x01\n"] {
        let inc = format!("version = 1\n\n[service.inc]\napplet = \"{DIAG}\"\nins = 0x22\n{p1}");
        let policy = Policy::parse(&inc, "inc.toml").unwrap();
        let Err(PolicyLoadError::Undeclared(list)) = card.install_policy(Some(&policy)) else {
            panic!("a binding wider than the declared service must be refused: {inc}")
        };
        assert!(
            list[0]
                .to_string()
                .starts_with("inc.toml:3: service `inc` binds applet F0434152444741544501 INS 22")
        );
    }
    // Narrower than the service (P1 00 and one P2) is within it.
    let inc =
        format!("version = 1\n\n[service.inc]\napplet = \"{DIAG}\"\nins = 0x22\np1 = 0x00\np2 = 0x05\n");
    let narrower = Policy::parse(&inc, "inc.toml").unwrap();
    card.install_policy(Some(&narrower)).unwrap();
    card.install_policy(None).unwrap();
    // An applet the card does not have (the transit purse of `transit.toml`).
    let transit = "version = 1\n[service.fare]\napplet = \"A0 00 00 08 58 02 01\"\nins = 0x54\n";
    let policy = Policy::parse(transit, "transit.toml").unwrap();
    assert!(matches!(card.install_policy(Some(&policy)), Err(PolicyLoadError::Undeclared(_))));
    assert_eq!(card.policy_text().unwrap(), None, "nothing was stored");
    assert_eq!(card.process(&h("8010000001AA00")), h("AA 9000"));

    // Through the admin applet: refused with 6A80, the stored policy kept.
    let mut card = gated("");
    let kept = card.policy_text().unwrap().unwrap().to_owned();
    assert_eq!(card.process(&h(SELECT_ADMIN)), h("9000"));
    assert_eq!(card.process(&h(VERIFY_ADMIN)), h("9000"));
    for refused in [text.as_str(), transit, "version = 1\n[service.x]\nbogus = 1\n", "\u{1}\u{2} not TOML"] {
        assert_eq!(card.process(&put_data(refused.as_bytes())), h("6A80"), "{refused}");
        assert_eq!(card.policy_text().unwrap(), Some(kept.as_str()));
    }
    assert_eq!(card.process(&put_data(&[0xFF, 0xFE])), h("6A80"), "not UTF-8");
}

/// PUT DATA DF6A with `text` as one extended-length command (Lc on 3 bytes).
fn put_data(text: &[u8]) -> Vec<u8> {
    let mut apdu = h("00DADF6A00");
    apdu.extend_from_slice(&(text.len() as u16).to_be_bytes());
    apdu.extend_from_slice(text);
    apdu
}

/// PUT DATA DF6A with `text` in a chain of short commands (ISO 7816-4 §5.3.3), the last answer.
fn put_data_chained(card: &mut Card, text: &[u8]) -> Vec<u8> {
    let chunks: Vec<&[u8]> = text.chunks(200).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let cla = if i + 1 < chunks.len() { 0x10 } else { 0x00 };
        let mut apdu = vec![cla, 0xDA, 0xDF, 0x6A, chunk.len() as u8];
        apdu.extend_from_slice(chunk);
        let r = card.process(&apdu);
        if i + 1 == chunks.len() {
            return r;
        }
        assert_eq!(r, h("9000"), "chained part {i}");
    }
    unreachable!("a policy has at least one byte")
}

#[test]
fn replacing_the_policy_needs_the_admin_pin_which_counts_and_blocks() {
    let mut card = gated("\n[[service.use.limit]]\nperiod = \"day\"\nmax_uses = 1\n");
    let ten = "time=2026-11-25T10:00:00Z";
    allowed(&mut card, ten);
    denied(&mut card, ten, 0x6985, &[UsesExceeded]);

    let replacement = policy_text(
        "\n[service.use.time]\nhours = [\"00:00-12:00\"]\n\n[[service.use.limit]]\nperiod = \"day\"\nmax_uses = 3\n\n# padding so that the text needs more than one short command\n# .................................................................................\n# .................................................................................\n",
    );
    assert!(replacement.len() > 255);
    assert_eq!(card.process(&h(SELECT_ADMIN)), h("9000"));
    assert_eq!(card.process(&put_data(replacement.as_bytes())), h("6982"), "not without the admin PIN");
    assert_eq!(card.process(&h(WRONG_ADMIN)), h("63C2"));
    assert_eq!(card.process(&h("00200001")), h("63C2"), "asking costs no try");
    assert_eq!(
        card.process(&h(VERIFY_PIN.replace("0081", "0001").as_str())),
        h("63C1"),
        "the diag PIN is not it"
    );
    assert_eq!(card.process(&put_data(replacement.as_bytes())), h("6982"));
    assert_eq!(card.process(&h(VERIFY_ADMIN)), h("9000"));
    assert_eq!(card.process(&h("00200001")), h("9000"));
    assert_eq!(put_data_chained(&mut card, replacement.as_bytes()), h("9000"));
    // GET DATA gives the text back, verbatim (an extended Le: all of it in one response).
    let r = card.process(&h("00CADF6A000000"));
    assert_eq!(&r[..r.len() - 2], replacement.as_bytes());
    assert_eq!(card.process(&h("00200001")), h("9000"), "tries are restored after a match");

    // The new policy is enforced from the next command; the counters of `use` were kept.
    assert_eq!(card.process(&h(SELECT_DIAG)), h("9000"));
    assert_eq!(uses_today(&card), (1, 0));
    allowed(&mut card, ten);
    denied(&mut card, "time=2026-11-25T13:00:00Z", 0x6985, &[HourNotAllowed]);

    // A service the new policy drops loses its counters; an empty PUT DATA removes the policy.
    assert_eq!(card.process(&h(SELECT_ADMIN)), h("9000"));
    assert_eq!(card.process(&h(VERIFY_ADMIN)), h("9000"));
    let other =
        format!("version = 1\n[service.inc]\napplet = \"{DIAG}\"\nins = 0x22\np1 = 0\ndisabled = true\n");
    assert_eq!(card.process(&put_data(other.as_bytes())), h("9000"));
    assert_eq!(card.counters().unwrap(), policies::Counters::new());
    assert_eq!(card.process(&h("00DADF6A")), h("9000"));
    assert_eq!(card.policy_text().unwrap(), None);
    assert_eq!(card.process(&h("00CADF6A00")), h("6A88"));
    assert_eq!(card.process(&h(SELECT_DIAG)), h("9000"));
    assert_eq!(card.process(&h("8026000000")), h("00000003 9000"), "no policy: nothing is gated");

    // Three wrong tries block the admin PIN for good: even the right one is refused, after a reset too.
    assert_eq!(card.process(&h(SELECT_ADMIN)), h("9000"));
    assert_eq!(card.process(&h(WRONG_ADMIN)), h("63C2"));
    assert_eq!(card.process(&h(WRONG_ADMIN)), h("63C1"));
    assert_eq!(card.process(&h(WRONG_ADMIN)), h("63C0"));
    assert_eq!(card.process(&h(VERIFY_ADMIN)), h("6983"));
    card.reset();
    assert_eq!(card.process(&h(SELECT_ADMIN)), h("9000"));
    assert_eq!(card.process(&h("00200001")), h("6983"));
    assert_eq!(card.process(&h(VERIFY_ADMIN)), h("6983"));
    assert_eq!(card.process(&put_data(other.as_bytes())), h("6982"));
    assert_eq!(card.policy_text().unwrap(), None);
}

#[test]
fn a_torn_policy_replacement_keeps_the_old_policy_and_counters_or_installs_the_new() {
    let old_rules = "\n[[service.use.limit]]\nperiod = \"day\"\nmax_uses = 5\n";
    let new_text = format!("version = 1\n[service.inc]\napplet = \"{DIAG}\"\nins = 0x22\np1 = 0\n");
    let setup = || {
        let mut card = gated(old_rules);
        allowed(&mut card, "time=2026-11-25T10:00:00Z");
        assert_eq!(card.process(&h(SELECT_ADMIN)), h("9000"));
        assert_eq!(card.process(&h(VERIFY_ADMIN)), h("9000"));
        card
    };
    let n = writes_of(&setup, &put_data(new_text.as_bytes()));
    assert!(n >= 3, "policy, counters, commit: {n}");
    for tear in 1..=n {
        let mut card = setup();
        let (text, counters) = (card.policy_text().unwrap().unwrap().to_owned(), card.counters().unwrap());
        card.store_mut().tear_after(tear);
        assert_eq!(card.process(&put_data(new_text.as_bytes())), h("6F00"));
        assert!(card.last_command_torn());
        card.power_on();
        assert_eq!(card.policy_text().unwrap(), Some(text.as_str()), "tear at write {tear} of {n}");
        assert_eq!(card.counters().unwrap(), counters);
        allowed(&mut card, "time=2026-11-25T11:00:00Z");
    }
}

#[test]
fn the_admin_applet_refuses_what_it_does_not_know() {
    let mut card = plain_card();
    assert_eq!(card.process(&h(SELECT_ADMIN)), h("9000"));
    for (apdu, sw, why) in [
        ("80DADF6A0100", "6E00", "proprietary class"),
        ("00B0000000", "6D00", "READ BINARY"),
        ("00DADF6B0100", "6A88", "another data object"),
        ("00CA010100", "6A88", "another data object"),
        ("0020000201 31", "6A88", "another PIN reference"),
        ("0CDADF6A0100", "6882", "secure messaging"),
        ("00CADF6A00", "6A88", "no policy stored"),
    ] {
        assert_eq!(card.process(&h(apdu)), h(sw), "{why}: {apdu}");
    }
    assert_eq!(card.process(&h("00200001")), h("63C3"), "no try was spent");
    // No admin PIN at creation: no admin applet, so the policy can never be replaced.
    let mut card = apps::new_card(&CardOptions::default()).unwrap();
    assert_eq!(card.process(&h(SELECT_ADMIN)), h("6A82"));
    assert!(card.applets().all(|(aid, _)| aid != admin::aid()));
}

mod sessions {
    use super::*;
    use proptest::prelude::*;

    const RULES: &str = r#"
[service.use.amount]
currency = "CNY"
max = "100.00"
cvm_limit = "50.00"

[[service.use.limit]]
period = "day"
max_uses = 4
max_amount = "150.00"

[[service.use.limit]]
period = "rolling 1h"
max_uses = 3

[service.use.offline]
lower = 1
upper = 3
"#;

    /// Commands that reach the gate, the admin applet and GET DATA, with real and broken service
    /// data, plus noise.
    fn command() -> impl Strategy<Value = Vec<u8>> {
        let words = (0u32..20_000, 0i64..200_000, any::<bool>()).prop_map(|(amount, dt, online)| {
            let time = 1_795_860_000 + dt;
            let ts = policies::UtcDateTime::from_seconds(time).unwrap();
            format!(
                "amount={}.{:02} currency=CNY time={:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z online={}",
                amount / 100,
                amount % 100,
                ts.year,
                ts.month,
                ts.day,
                ts.hour,
                ts.minute,
                ts.second,
                if online { "yes" } else { "no" }
            )
        });
        let cla = prop::sample::select(vec![0x00u8, 0x01, 0x10, 0x80, 0x81, 0x90, 0x0C]);
        let header = (
            cla,
            prop::sample::select(vec![0x26u8, 0x22, 0x20, 0xCA, 0xDA, 0xC0, 0x70, 0x24]),
            prop::sample::select(vec![0x0000u16, 0xFF60, 0xDF6A, 0x0001, 0x0081, 0x0100]),
        );
        let data = prop_oneof![
            words.prop_map(
                |w| service_data::to_tlv(&ServiceData::parse(w.split_whitespace()).unwrap()).unwrap()
            ),
            prop::collection::vec(any::<u8>(), 0..24),
            Just(ADMIN_PIN.to_vec()),
            Just(b"1234".to_vec()),
            Just(policy_text("\n[service.use.time]\nhours = [\"00:00-12:00\"]\n").into_bytes()),
            Just(Vec::new()),
        ];
        let structured =
            (header, data, prop::option::of(any::<u8>())).prop_map(|((cla, ins, p1p2), d, le)| {
                let mut v = vec![cla, ins, (p1p2 >> 8) as u8, p1p2 as u8];
                if !d.is_empty() {
                    if d.len() > 255 {
                        v.push(0);
                        v.extend_from_slice(&(d.len() as u16).to_be_bytes());
                    } else {
                        v.push(d.len() as u8);
                    }
                    v.extend(d);
                }
                v.extend(le);
                v
            });
        prop_oneof![
            6 => structured,
            1 => Just(h(SELECT_ADMIN)),
            1 => Just(h(SELECT_DIAG)),
            1 => prop::collection::vec(any::<u8>(), 0..40),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Whatever a host sends, with power cuts anywhere: every answer has a status word, no
        /// transaction outlives a command, the stored policy still loads, the counters still decode
        /// and the state file round-trips.
        #[test]
        fn any_session_on_a_gated_card_keeps_it_sound(
            cmds in prop::collection::vec(command(), 1..30),
            tear in 0u64..40,
        ) {
            let mut card = gated(RULES);
            card.store_mut().tear_after(tear);
            for cmd in &cmds {
                let r = card.process(cmd);
                prop_assert!(r.len() >= 2);
                prop_assert!(matches!(r[r.len() - 2], 0x61..=0x6F | 0x90..=0x9F), "{r:02X?}");
                prop_assert_eq!(card.store().depth(), 0);
                prop_assert_eq!(card.stats().applet_panics, 0);
            }
            prop_assert!(card.policy().is_ok());
            prop_assert!(card.counters().is_ok());
            let bytes = card.to_state_bytes();
            let again = Card::from_state_bytes(&bytes, apps::catalog()).unwrap();
            prop_assert_eq!(again.to_state_bytes(), bytes);
        }
    }
}

#[test]
fn the_offline_payment_example_gates_the_credit_wallet_before_it_runs() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../policies/examples/offline-payment.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let mut card = plain_card();
    // GENERATE PAYMENT CODE (80 50) is a service the wallet declares: the example loads.
    card.install_policy(Some(&Policy::parse(&text, path).unwrap())).unwrap();
    assert_eq!(card.process(&h("00A4040C07 A0000008580101")), h("9000"));
    let generate = |words: &str| {
        let data = service_data::to_tlv(&ServiceData::parse(words.split_whitespace()).unwrap()).unwrap();
        [&[0x80, 0x50, 0x00, 0x00, data.len() as u8][..], &data, &[0x00]].concat()
    };
    let before = card.to_state_bytes();
    // A denied merchant: the gate refuses before the wallet (which holds no code yet) sees it.
    let fraud = "amount=10.00 currency=CNY time=2026-11-28T02:00:00Z merchant=FRAUD-0001 mcc=5411";
    assert_eq!(card.process(&generate(fraud)), h("6985"));
    let record = last(&mut card);
    assert_eq!((record.service.as_str(), codes(&record)), ("payment-code", vec![MerchantDenied]));
    // Above the CVM limit without the cardholder PIN (the wallet's PIN is in the cardholder slot).
    let dear = "amount=500.00 currency=CNY time=2026-11-28T02:00:00Z merchant=SHOP-0001 mcc=5411";
    assert_eq!(card.process(&generate(dear)), h("6982"));
    assert_eq!(codes(&last(&mut card)), [PinRequired]);
    assert_eq!(*card.to_state_bytes(), *before, "denials change nothing");
}
