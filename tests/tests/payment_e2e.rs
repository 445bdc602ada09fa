//! Offline credit payment end to end, as a user runs it: `cardgate card init`, the issuer server
//! process on SQLite in a temporary directory, `issue` and `present` on the card's credit wallet,
//! `accept` from the PNG at merchant A, the same code replayed at merchant B, `settle`, and the
//! verdicts: the replay is caught as a double spend. Once with the card in-process (`-r emu:PATH`),
//! once served through pcscd + vpcd (`cardgate card serve`, `-r "Virtual PCD 00 00"`).

// Test code: a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use cardgate_tests::{CardProcess, IssuerServer, SLOT0, VpcdLock, cardgate, run};

fn cg(args: &[&str]) -> cardgate_tests::Output {
    run(cardgate(), args)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The whole flow against a card reached as `reader`; the card's state file is `card`.
fn flow(reader: &str, dir: &Path) {
    let server = IssuerServer::start(dir).unwrap();
    let admin = server.admin_args();
    let admin: Vec<&str> = admin.iter().map(String::as_str).collect();
    let with = |base: &[&str], more: &[&str]| -> Vec<String> {
        base.iter().chain(admin.iter()).chain(more.iter()).map(|s| (*s).to_owned()).collect()
    };
    let run_v = |v: Vec<String>| cg(&v.iter().map(String::as_str).collect::<Vec<_>>());

    run_v(with(&["issuer", "create-account"], &["--account", "alice", "--credit-limit", "500.00"])).success();
    // Personalize: the card makes its key, the issuer signs a code for it, the card checks and stores it.
    run_v(with(
        &["issue", "-r", reader],
        &[
            "--account",
            "alice",
            "--valid-for",
            "1h",
            "--uses",
            "5",
            "--threshold",
            "200.00",
            "--payee-mcc",
            "5411",
        ],
    ))
    .success()
    .stdout_has("issued token")
    .stdout_has("threshold 200.00 CNY");
    // Issuing again without --reissue is refused: the wallet is active.
    run_v(with(&["issue", "-r", reader], &["--account", "alice"])).failure().stderr_has("already active");

    // Present: terminal QR (fits 80 columns) and a PNG.
    let png = dir.join("code.png");
    let present =
        cg(&["present", "-r", reader, "--png", s(&png)]).success().stderr_has("counter 1").stdout.clone();
    assert!(present.lines().count() > 20, "a QR code in the terminal:\n{present}");
    assert!(present.lines().all(|l| l.chars().count() <= 80), "fits 80 columns:\n{present}");

    let (a, b) = (dir.join("a.db"), dir.join("b.db"));
    for (id, q) in [("SHOP-A", &a), ("SHOP-B", &b)] {
        run_v(with(&["merchant", "register"], &["--id", id, "--mcc", "5411", "--queue", s(q)])).success();
    }
    cg(&["accept", "--qr", s(&png), "--amount", "12.50", "--queue", s(&a)]).success().stdout_has("ACCEPTED");
    // The replay at merchant B: B cannot know offline.
    cg(&["accept", "--qr", s(&png), "--amount", "12.50", "--queue", s(&b)]).success().stdout_has("ACCEPTED");
    // A second presentation is a new counter: accepted at B, and a valid use at settlement.
    let png2 = dir.join("code2.png");
    cg(&["present", "-r", reader, "--png", s(&png2), "--amount", "30.00", "--text"])
        .success()
        .stderr_has("counter 2");
    cg(&["accept", "--qr", s(&png2), "--amount", "29.00", "--queue", s(&b)])
        .code
        .filter(|c| *c == 3)
        .expect("the card signed 30.00");
    cg(&["accept", "--qr", s(&png2), "--amount", "30.00", "--queue", s(&b)]).success();

    cg(&["settle", "--queue", s(&a), "--server", &server.url]).success().stdout_has("1 accepted, 0 rejected");
    cg(&["settle", "--queue", s(&b), "--server", &server.url])
        .success()
        .stdout_has("REJECTED double_spend (FLAGGED)")
        .stdout_has("1 accepted, 1 rejected (1 flagged)");
    run_v(with(&["issuer", "account", "alice"], &[])).success().stdout_has("used 42.50 CNY");
}

#[test]
fn issue_present_accept_replay_settle_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("card");
    cg(&["card", "init", s(&card)]).success();
    flow(&format!("emu:{}", card.display()), dir.path());
}

#[test]
fn issue_present_accept_replay_settle_through_pcscd_and_vpcd() {
    let _lock = VpcdLock::acquire().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("card");
    cg(&["card", "init", s(&card)]).success();
    let _served = CardProcess::serve(&card, dir.path()).unwrap();
    flow(SLOT0.1, dir.path());
}
