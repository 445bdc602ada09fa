//! The policy gate from the command line, as a user runs it: `card init --policy --admin-pin`,
//! services denied through `apdu -r emu:` with the documented status words, `card show` with the
//! policy and its counters, refusal of bindings the card's applets do not declare, and `card policy`
//! replacing the policy only with the admin PIN, which blocks.

// Test helpers: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{cardgate, emu, example};
use predicates::prelude::*;

/// USE of the diagnostic applet with 10.00 CNY (or `amount` in hex BCD minor units) at 10:00 UTC
/// on 2026-11-28, Le 00.
fn use_apdu(amount: &str) -> String {
    format!("8026000019 9F0206{amount} 5F2A020156 9A03261128 9F2103100000 00")
}

const TEN: &str = "000000001000";
const SIXTY: &str = "000000006000";

fn gated_card(dir: &Path) -> PathBuf {
    let path = dir.join("card");
    cardgate()
        .args(["card", "init"])
        .arg(&path)
        .arg("--policy")
        .arg(example("diag.toml"))
        .args(["--admin-pin", "87654321"])
        .assert()
        .success()
        .stdout(predicate::str::contains("admin: policy administration"));
    path
}

#[test]
fn a_card_made_with_a_policy_denies_with_the_documented_status_words() {
    let dir = tempfile::tempdir().unwrap();
    let path = gated_card(dir.path());
    let before = std::fs::read(&path).unwrap();
    cardgate()
        .args(["apdu", "-r", &emu(&path), "8022000004", &use_apdu(SIXTY), "8026000000", "00CAFF6000"])
        .assert()
        .success()
        // INCREMENT is disabled: a condition of use.
        .stdout(predicate::str::contains("> 8022000004\n< 6985  Conditions of use not satisfied"))
        // 60.00 CNY is above the CVM limit and the PIN is not verified: security status.
        .stdout(predicate::str::contains("9F210310000000\n< 6982  Security status not satisfied"))
        // No service data at all: the amount and time the rules need are missing.
        .stdout(predicate::str::contains("> 8026000000\n< 6A80"))
        // The last decision names the reasons (DF65 0401 amount.missing, 0201 time.missing).
        .stdout(predicate::str::contains("DF65020401"))
        .stdout(predicate::str::contains("DF65020201"));
    assert_eq!(std::fs::read(&path).unwrap(), before, "denials change nothing in the state file");

    // With the PIN verified in the same session, 60.00 runs; uses are counted in the state file.
    cardgate()
        .args(["apdu", "-r", &emu(&path), "0020008104 31323334", &use_apdu(SIXTY), &use_apdu(TEN)])
        .assert()
        .success()
        .stdout(predicate::str::contains("< 00000001 9000"))
        .stdout(predicate::str::contains("< 00000002 9000"));
    cardgate()
        .args(["card", "show"])
        .arg(&path)
        .assert()
        .success()
        .stdout(predicate::str::contains("admin    PIN set, 3 of 3 tries left"))
        .stdout(predicate::str::contains("policy   2 services"))
        .stdout(predicate::str::contains("service diag-use: Count a use on the diagnostic applet"))
        .stdout(predicate::str::contains("binds applet F0434152444741544501 INS 26"))
        .stdout(predicate::str::contains("counter: day 2026-11-28: 2 uses"))
        .stdout(predicate::str::contains("service diag-increment (disabled)"))
        .stdout(predicate::str::contains("87654321").not());
    // The third use of the day runs, the fourth is refused.
    cardgate()
        .args(["apdu", "-r", &emu(&path), &use_apdu(TEN), &use_apdu(TEN)])
        .assert()
        .success()
        .stdout(predicate::str::contains("< 00000003 9000"))
        .stdout(predicate::str::contains("00\n< 6985  Conditions of use not satisfied"));
    cardgate()
        .args(["card", "show"])
        .arg(&path)
        .assert()
        .stdout(predicate::str::contains("2026-11-28: 3 uses"));
}

#[test]
fn init_refuses_invalid_policies_and_bindings_the_card_does_not_declare_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card");
    // The transit example binds an applet this card does not have.
    cardgate()
        .args(["card", "init"])
        .arg(&path)
        .arg("--policy")
        .arg(example("transit.toml"))
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "transit.toml:8: service `metro-fare` binds applet A0000008580201 INS 54, which is not a service that applet declares",
        ))
        .stderr(predicate::str::contains("transit.toml:56: service `top-up` binds applet A0000008580201 INS 56"))
        .stderr(predicate::str::contains("binds 2 instructions that no applet on the card declares as a service"));
    assert!(!path.exists());
    // An instruction of the diagnostic applet that is not a service (ECHO).
    let echo = dir.path().join("echo.toml");
    std::fs::write(
        &echo,
        "version = 1\n\n[service.echo]\napplet = \"F0 43 41 52 44 47 41 54 45 01\"\nins = 0x10\n",
    )
    .unwrap();
    cardgate().args(["card", "init"]).arg(&path).arg("--policy").arg(&echo).assert().failure().stderr(
        predicate::str::contains("echo.toml:3: service `echo` binds applet F0434152444741544501 INS 10"),
    );
    // Not a policy: file, line and column.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "version = 1\n[service.x]\napplet = \"F0 43 41 52 44 47 41 54 45 01\"\nins = 0x26\nzone = \"Mars/Olympus\"\n").unwrap();
    cardgate()
        .args(["card", "init"])
        .arg(&path)
        .arg("--policy")
        .arg(&bad)
        .assert()
        .failure()
        .stderr(predicate::str::contains("bad.toml:5:8:"))
        .stderr(predicate::str::contains("is not a valid policy"));
    cardgate()
        .args(["card", "init"])
        .arg(&path)
        .args(["--admin-pin", "123"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--admin-pin must have 4 to 8 characters"));
    assert!(!path.exists(), "nothing was written");
    // A policy without an admin PIN is allowed, with a note that it can never be replaced.
    cardgate()
        .args(["card", "init"])
        .arg(&path)
        .arg("--policy")
        .arg(example("diag.toml"))
        .assert()
        .success()
        .stderr(predicate::str::contains("can never be replaced"));
    cardgate()
        .args(["card", "policy"])
        .arg(&path)
        .arg("--remove")
        .args(["--admin-pin", "87654321"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no policy administration applet"));
}

#[test]
fn card_policy_replaces_the_policy_with_the_admin_pin_which_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let path = gated_card(dir.path());
    let five = dir.path().join("five.toml");
    std::fs::write(
        &five,
        "version = 1\n\n[service.diag-use]\napplet = \"F0 43 41 52 44 47 41 54 45 01\"\nins = 0x26\n\n[[service.diag-use.limit]]\nperiod = \"day\"\nmax_uses = 5\n",
    )
    .unwrap();
    let replace = |pin: &str| {
        let mut cmd = cardgate();
        cmd.args(["card", "policy"]).arg(&path).arg("--policy").arg(&five).args(["--admin-pin", pin]);
        cmd
    };
    replace("11111111").assert().failure().stderr(predicate::str::contains("wrong admin PIN: 2 tries left"));
    cardgate()
        .args(["card", "show"])
        .arg(&path)
        .assert()
        .stdout(predicate::str::contains("2 of 3 tries left"));
    replace("87654321").assert().success().stdout(predicate::str::contains("policy replaced by"));
    cardgate()
        .args(["card", "show"])
        .arg(&path)
        .assert()
        .success()
        .stdout(predicate::str::contains("3 of 3 tries left"))
        .stdout(predicate::str::contains("policy   1 service"))
        .stdout(predicate::str::contains("at most 5 uses per calendar day"));
    // The new policy is in force: 60.00 CNY needs no PIN any more, INCREMENT is not gated.
    cardgate()
        .args(["apdu", "-r", &emu(&path), &use_apdu(SIXTY), "8022000004"])
        .assert()
        .success()
        .stdout(predicate::str::contains("< 00000001 9000"))
        .stdout(predicate::str::contains("< 00000002 9000"));
    // Through `-r emu:` the card itself refuses a binding its applets do not declare (6A80).
    cardgate()
        .args(["card", "policy", "-r", &emu(&path), "--policy"])
        .arg(example("transit.toml"))
        .args(["--admin-pin", "87654321"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("the card refused the policy (6A80)"));
    cardgate().args(["card", "show"]).arg(&path).assert().stdout(predicate::str::contains("at most 5 uses"));
    // Three wrong PINs block it for good.
    replace("11111111").assert().failure().stderr(predicate::str::contains("2 tries left"));
    replace("22222222").assert().failure().stderr(predicate::str::contains("1 try left"));
    replace("33333333").assert().failure().stderr(predicate::str::contains("the admin PIN is blocked"));
    replace("87654321").assert().failure().stderr(predicate::str::contains("the admin PIN is blocked"));
    cardgate()
        .args(["card", "show"])
        .arg(&path)
        .assert()
        .stdout(predicate::str::contains("PIN blocked: the policy can no longer be replaced"))
        .stdout(predicate::str::contains("at most 5 uses"));
}
