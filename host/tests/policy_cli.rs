//! `cardgate policy check` and `cardgate policy explain`, run as a user runs them.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers: a failed unwrap is a failed test")]

mod common;

use common::{cardgate, example};
use predicates::prelude::*;

#[test]
fn check_summarises_a_valid_policy() {
    cardgate()
        .args(["policy", "check", &example("door-access.toml")])
        .assert()
        .success()
        .stdout(predicate::str::contains("valid policy, 2 services"))
        .stdout(predicate::str::contains("binds applet A0000008580301 INS 40 P1 02"))
        .stdout(predicate::str::contains(
            "time (Europe/Berlin): from 2026-03-01 to 2026-12-31, on mon, tue, wed, thu, fri, at 07:00-20:00",
        ))
        .stdout(predicate::str::contains("frequency (Europe/Berlin): at most 4 uses per calendar day"));
}

#[test]
fn check_reports_every_error_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "version = 1\n[service.pay]\napplet = \"A0 00 00 08 58 01 01\"\nins = 0x50\n\
         [service.pay.amount]\ncurrency = \"CNX\"\n[service.pay.offline]\nlower = 5\nupper = 2\n",
    )
    .unwrap();
    let shown = path.display().to_string();
    cardgate()
        .args(["policy", "check", &shown])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains(format!("{shown}:6:12: `CNX` is not an ISO 4217 currency code")))
        .stderr(predicate::str::contains(format!(
            "{shown}:9:9: impossible range: `upper` 2 is below `lower` 5"
        )))
        .stderr(predicate::str::contains("is not a valid policy (2 errors)"));
}

#[test]
fn check_names_a_missing_file() {
    cardgate()
        .args(["policy", "check", "/nonexistent/policy.toml"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("reading policy /nonexistent/policy.toml"));
}

#[test]
fn explain_allows_with_exit_0() {
    cardgate()
        .args(["policy", "explain", &example("transit.toml"), "--service", "metro-fare", "--data"])
        .args(["amount=4.00", "currency=CNY", "time=2026-11-28T00:00:00Z", "lat=31.2330", "lon=121.4750"])
        .args(["mcc=4111", "terminal=GATE0001"])
        .assert()
        .success()
        .stdout(predicate::str::contains("decision: ALLOW (status word 9000: Normal processing)"));
}

#[test]
fn explain_denies_with_every_reason_and_exit_3() {
    cardgate()
        .args(["policy", "explain", &example("transit.toml"), "--service", "metro-fare", "--data"])
        .args(["amount=25.00", "currency=CNY", "time=2026-11-28T15:45:00Z", "lat=31.2150", "lon=121.5950"])
        .args(["mcc=4111", "terminal=GATE0666"])
        .assert()
        .code(3)
        .stdout(predicate::str::contains(
            "decision: DENY (status word 6985: Conditions of use not satisfied)",
        ))
        .stdout(predicate::str::contains(
            "time.hour-not-allowed [0205]: the local time 23:45 (Asia/Shanghai)",
        ))
        .stdout(predicate::str::contains("location.inside-denied [0303]"))
        .stdout(predicate::str::contains("amount.above-maximum [0404]: the amount 25.00 CNY is above"))
        .stdout(predicate::str::contains("terminal.denied [0703]: terminal GATE0666 is denied"));
}

#[test]
fn explain_takes_tlv_prior_uses_and_pin_state() {
    // 600.00 CNY, 2026-11-28 04:00:00 UTC, MCC 5411, merchant SHOP-0001, offline.
    let tlv = "9F0206000000060000 5F2A020156 9A03261128 9F2103040000 9F15025411 9F160F53484F502D30303031202020202020";
    let run = |pin: bool, prior: &[&str]| {
        let mut cmd = cardgate();
        cmd.args(["policy", "explain", &example("offline-payment.toml"), "--data", tlv]);
        if pin {
            cmd.arg("--pin-verified");
        }
        for p in prior {
            cmd.args(["--prior", p]);
        }
        cmd.assert()
    };
    run(false, &[]).code(3).stdout(predicate::str::contains("status word 6982")).stdout(
        predicate::str::contains(
            "amount.pin-required [0405]: the amount 600.00 CNY is above the CVM limit 300.00 CNY",
        ),
    );
    run(true, &[]).success().stdout(predicate::str::contains("decision: ALLOW, GO ONLINE").not());
    run(
        true,
        &[
            "time=2026-11-28T01:00:00Z amount=2000 currency=CNY online=yes",
            "time=2026-11-28T02:00:00Z amount=2500 currency=CNY online=yes",
        ],
    )
    .code(3)
    .stdout(predicate::str::contains("to 5100.00 CNY, above the limit 5000.00 CNY"));
}

#[test]
fn explain_offline_count_gives_go_online_and_then_deny() {
    let data = ["amount=5", "currency=CNY", "time=2026-11-28T04:00:00Z", "merchant=SHOP-0001", "mcc=5411"];
    cardgate()
        .args(["policy", "explain", &example("offline-payment.toml"), "--offline-count", "3", "--data"])
        .args(data)
        .assert()
        .success()
        .stdout(predicate::str::contains("decision: ALLOW, GO ONLINE"))
        .stdout(predicate::str::contains("offline.go-online [0504]"));
    cardgate()
        .args(["policy", "explain", &example("offline-payment.toml"), "--offline-count", "5", "--data"])
        .args(data)
        .assert()
        .code(3)
        .stdout(predicate::str::contains("offline.limit-exceeded [0503]"));
}

#[test]
fn explain_shows_malformed_tlv_as_the_card_would_answer_it() {
    let out = cardgate()
        .args(["policy", "explain", &example("offline-payment.toml"), "--json", "--data", "9F02060000"])
        .assert()
        .code(3)
        .get_output()
        .stdout
        .clone();
    let record: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(record["status_word"], "6A80");
    assert_eq!(record["outcome"], "deny");
    assert_eq!(record["reasons"][0]["code"], "data.malformed");
}

#[test]
fn explain_refuses_bad_input_with_exit_1() {
    cardgate()
        .args(["policy", "explain", &example("transit.toml"), "--data", "amount=1"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("several services; choose one with --service (metro-fare, top-up)"));
    cardgate()
        .args(["policy", "explain", &example("transit.toml"), "--service", "bus", "--data", "mcc=4111"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("the policy has no service `bus`; it has: metro-fare, top-up"));
    cardgate()
        .args(["policy", "explain", &example("transit.toml"), "-s", "metro-fare", "--data", "colour=red"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--data: unknown key `colour`"));
    cardgate()
        .args(["policy", "explain", &example("transit.toml"), "-s", "metro-fare", "--data", "9F0Z"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is neither key=value words nor hex"));
    cardgate().args(["policy", "explain", &example("transit.toml")]).assert().code(2);
}
