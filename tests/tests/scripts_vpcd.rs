//! Scripted sessions through pcscd + vpcd. The golden scripts for the emulated card
//! (`host/tests/golden/emu/`) run by `cardgate run` against a card served in "Virtual PCD 00 00"
//! print exactly what they print in-process (`-r emu:`), and the real `scriptor` running the
//! scriptor-format script against the same card prints the same transcript as `cardgate run`, status
//! texts aside (the comparison rules are the host's golden tests', `host/tests/common/golden.rs`).
//! Every test holds the vpcd lock for its whole run and starts a fresh card per script.

// Test code: a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The golden cases and the comparison rules of `host/tests/golden.rs` and `scriptor_compat.rs`.
#[path = "../../host/tests/common/golden.rs"]
mod golden;

use std::path::{Path, PathBuf};
use std::process::Command;

use cardgate_tests::{CardProcess, SLOT0, VpcdLock, cardgate, init_card};
use golden::{args_of, cases, golden_dir, mask, normalize};

fn golden_emu() -> PathBuf {
    golden_dir().join("emu")
}

/// A fresh card (`cardgate card init`) served in the first slot, with `script` copied beside it.
fn fresh_card(dir: &Path, script: &Path) -> (CardProcess, String) {
    let state = dir.join("card.state");
    let _ = std::fs::remove_file(&state);
    init_card(&state, &[]);
    let name = script.file_name().unwrap().to_str().unwrap().to_string();
    std::fs::copy(script, dir.join(&name)).unwrap();
    let card = CardProcess::serve(&state, dir).unwrap();
    (card, name)
}

#[test]
fn golden_scripts_through_pcscd_print_what_they_print_in_process() {
    let _lock = VpcdLock::acquire().unwrap();
    let scripts = cases(&golden_emu());
    assert!(scripts.len() >= 2);
    for script in scripts {
        let dir = tempfile::tempdir().unwrap();
        let (mut card, name) = fresh_card(dir.path(), &script);
        let out = Command::new(cardgate())
            .current_dir(dir.path())
            .env_remove("CARDGATE_READER")
            .env("RUST_LOG", "off")
            .args(["run", "-r", SLOT0.1])
            .args(args_of(&script))
            .arg(&name)
            .output()
            .unwrap();
        card.terminate().unwrap();
        let expected = std::fs::read_to_string(script.with_extension("out")).unwrap();
        let stdout = normalize(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(
            stdout,
            expected,
            "{name} through pcscd differs from in-process; stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let code: i32 = std::fs::read_to_string(script.with_extension("exit"))
            .map(|s| s.trim().parse().unwrap())
            .unwrap_or(0);
        assert_eq!(out.status.code(), Some(code), "{name}");
    }
}

#[test]
fn scriptor_and_cardgate_print_the_same_transcript_through_pcscd() {
    let _lock = VpcdLock::acquire().unwrap();
    let script = golden_emu().join("diag_scriptor.script");
    let dir = tempfile::tempdir().unwrap();

    let (mut card, name) = fresh_card(dir.path(), &script);
    let theirs =
        Command::new("scriptor").current_dir(dir.path()).args(["-r", SLOT0.1, &name]).output().unwrap();
    card.terminate().unwrap();
    assert!(theirs.status.success(), "scriptor: {}", String::from_utf8_lossy(&theirs.stderr));

    let (mut card, name) = fresh_card(dir.path(), &script);
    let ours = Command::new(cardgate())
        .current_dir(dir.path())
        .env_remove("CARDGATE_READER")
        .args(["run", "-r", SLOT0.1, &name])
        .output()
        .unwrap();
    card.terminate().unwrap();
    assert!(ours.status.success(), "cardgate: {}", String::from_utf8_lossy(&ours.stderr));

    let theirs = mask(&String::from_utf8_lossy(&theirs.stdout));
    let ours = mask(&String::from_utf8_lossy(&ours.stdout));
    assert_eq!(ours, theirs);
    // The comparison covers the interesting parts: a reset, a wrapped response, a 63Cx.
    for needle in ["> RESET\n< OK: 3B ", "0F \n10 11", "< 63 C2 : "] {
        assert!(ours.contains(needle), "{needle:?} missing from:\n{ours}");
    }
}
