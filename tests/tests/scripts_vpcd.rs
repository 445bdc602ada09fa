//! Scripted sessions through pcscd + vpcd. The golden scripts for the emulated card
//! (`host/tests/golden/emu/`) run by `cardgate run` against a card served in "Virtual PCD 00 00"
//! print exactly what they print in-process (`-r emu:`), and the real `scriptor` running the
//! scriptor-format script against the same card prints the same transcript as `cardgate run`, status
//! texts aside. Every test holds the vpcd lock for its whole run and starts a fresh card per script.

// Test code: a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use cardgate_tests::{CardProcess, SLOT0, VpcdLock, cardgate, run, workspace};

fn golden_emu() -> PathBuf {
    workspace().join("host/tests/golden/emu")
}

/// The same normalisation as `host/tests/golden.rs`: times become `T`, the trace's reader `READER`.
fn normalize(text: &str) -> String {
    let text = match text.strip_prefix("# reader ").and_then(|rest| rest.split_once(", ")) {
        Some((_, rest)) => format!("# reader READER, {rest}"),
        None => text.to_string(),
    };
    let chars: Vec<char> = text.chars().collect();
    let at = |i: usize, s: &str| s.chars().enumerate().all(|(k, c)| chars.get(i + k) == Some(&c));
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_alphanumeric()) {
            let mut j = i;
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            if j + 4 <= chars.len() && chars[j] == '.' && chars[j + 1..j + 4].iter().all(char::is_ascii_digit)
            {
                let k = j + 4;
                if at(k, "ms") {
                    out.push('T');
                    i = k + 2;
                    continue;
                }
                if at(k, "s") {
                    out.push('T');
                    i = k + 1;
                    continue;
                }
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Status texts after ` : ` are each tool's own.
fn mask(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| match line.find(" : ") {
            Some(i) if !line.starts_with('#') => format!("{} : <text>\n", &line[..i]),
            _ => line.to_string(),
        })
        .collect()
}

/// A fresh card (`cardgate card init`) served in the first slot, with `script` copied beside it.
fn fresh_card(dir: &Path, script: &Path) -> (CardProcess, String) {
    let state = dir.join("card.state");
    let _ = std::fs::remove_file(&state);
    run(cardgate(), &["card", "init", state.to_str().unwrap()]).success();
    let name = script.file_name().unwrap().to_str().unwrap().to_string();
    std::fs::copy(script, dir.join(&name)).unwrap();
    let card =
        CardProcess::start(&cardgate(), &["card", "serve", state.to_str().unwrap()], SLOT0, dir).unwrap();
    (card, name)
}

fn args_of(script: &Path) -> Vec<String> {
    std::fs::read_to_string(script.with_extension("args"))
        .map(|a| a.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

#[test]
fn golden_scripts_through_pcscd_print_what_they_print_in_process() {
    let _lock = VpcdLock::acquire().unwrap();
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(golden_emu())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("script" | "cg")))
        .collect();
    scripts.sort();
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
