//! Interop: the policy gate on a card served through pcscd + vpcd. Real PC/SC clients (opensc-tool,
//! scriptor) see a denied service's status word and read the last decision with GET DATA FF60;
//! `cardgate card policy` replaces the policy through the reader (admin PIN, chained PUT DATA).
//! Every test holds the vpcd lock for its whole run.

// Test code: a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use cardgate_tests::{CardProcess, SLOT0, VpcdLock, cardgate, init_card, run, workspace};

/// SELECT the diagnostic applet (no FCI).
const SELECT_DIAG: &str = "00A4040C0AF0434152444741544501";

/// USE of the diagnostic applet with `amount` (hex BCD minor units) in CNY at 10:00 UTC on
/// 2026-11-28, Le 00.
fn use_apdu(amount: &str) -> String {
    format!("80260000199F0206{amount}5F2A0201569A032611289F210310000000")
}

/// A card made with `policies/examples/diag.toml` and an admin PIN, served in the first slot.
fn serve_gated(dir: &Path) -> (CardProcess, std::path::PathBuf) {
    let state = dir.join("card.state");
    let policy = workspace().join("policies/examples/diag.toml");
    init_card(&state, &["--policy", policy.to_str().unwrap(), "--admin-pin", "87654321"]);
    let card = CardProcess::serve(&state, dir).unwrap();
    (card, state)
}

#[test]
fn opensc_tool_and_scriptor_get_the_denial_status_words_and_the_last_decision() {
    let _lock = VpcdLock::acquire().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_card, _state) = serve_gated(dir.path());

    let out = run(
        "opensc-tool",
        &[
            "-r",
            SLOT0.1,
            "-s",
            SELECT_DIAG,
            "-s",
            &use_apdu("000000001000"),
            "-s",
            &use_apdu("000000006000"),
            "-s",
            "8022000004",
            "-s",
            &use_apdu("000000020000"),
        ],
    );
    out.success();
    let sws: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("Received (SW1="))
        .map(|l| l.trim().trim_end_matches(':'))
        .collect();
    assert_eq!(
        sws,
        [
            "Received (SW1=0x90, SW2=0x00)",
            "Received (SW1=0x90, SW2=0x00)",
            "Received (SW1=0x69, SW2=0x82)", // above the CVM limit, PIN not verified
            "Received (SW1=0x69, SW2=0x85)", // INCREMENT is disabled
            "Received (SW1=0x69, SW2=0x85)", // above the maximum
        ],
        "{out}"
    );
    out.stdout_has("00 00 00 01");

    // scriptor: a denial, then the last decision in the same session (the FF60 template, with
    // reason 0404 amount.above-maximum).
    let script = dir.path().join("gate.script");
    std::fs::write(&script, format!("{SELECT_DIAG}\n{}\n00CAFF6000\n", use_apdu("000000020000"))).unwrap();
    let out = run("scriptor", &["-r", SLOT0.1, script.to_str().unwrap()]);
    out.success();
    out.stdout_has("< 69 85 : Command not allowed. Conditions of use not satisfied.");
    // scriptor wraps long responses at 16 bytes a line.
    let flat = out.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    let service = "DF 61 08 64 69 61 67 2D 75 73 65"; // "diag-use"
    assert!(flat.contains("< FF 60 81") && flat.contains(service), "{out}");
    assert!(flat.contains("DF 62 01 02 DF 63 02 69 85"), "denied, 6985: {out}");
    assert!(flat.contains("DF 65 02 04 04") && flat.contains("DF 65 02 04 05"), "both reasons: {out}");
    assert!(flat.ends_with("90 00 : Normal processing."), "{out}");
}

#[test]
fn cardgate_card_policy_replaces_the_policy_through_the_reader() {
    let _lock = VpcdLock::acquire().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_card, _state) = serve_gated(dir.path());
    let open = dir.path().join("open.toml");
    // Longer than one short APDU, so PUT DATA goes in a chain through pcscd.
    let padding = "# This policy lets every use of the diagnostic applet's USE service through.\n".repeat(5);
    std::fs::write(
        &open,
        format!("version = 1\n{padding}\n[service.diag-use]\napplet = \"F0 43 41 52 44 47 41 54 45 01\"\nins = 0x26\n"),
    )
    .unwrap();
    assert!(std::fs::metadata(&open).unwrap().len() > 255);
    let replace = |pin: &str| {
        run(
            cardgate(),
            &["card", "policy", "-r", SLOT0.1, "--policy", open.to_str().unwrap(), "--admin-pin", pin],
        )
    };
    replace("00000000").failure().stderr_has("wrong admin PIN: 2 tries left");
    replace("87654321").success().stdout_has("policy replaced");
    let out = run(
        "opensc-tool",
        &["-r", SLOT0.1, "-s", SELECT_DIAG, "-s", &use_apdu("000000020000"), "-s", "8022000004"],
    );
    out.success();
    assert_eq!(out.stdout.matches("Received (SW1=0x90, SW2=0x00)").count(), 3, "no longer gated: {out}");
}
