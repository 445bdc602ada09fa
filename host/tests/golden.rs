//! Golden tests: every script in `tests/golden/` runs through the real `cardgate run` binary against
//! its recorded card (`NAME.dump`, played back with `--replay`), and what it prints must equal the
//! expected files beside it.
//!
//! Per case `NAME.script` (scriptor format) or `NAME.cg` (extended dialect):
//! - `NAME.dump`: the card (optional: a script that fails to parse never reaches it);
//! - `NAME.args`: extra arguments, whitespace-separated (optional);
//! - `NAME.stdin`: when present, the script is fed on standard input instead of named;
//! - `NAME.out`: expected stdout; `NAME.err`: expected stderr (optional); `NAME.exit`: expected exit
//!   code (optional, default 0).
//!
//! `tests/golden/emu/` holds scripts for the emulated card: each runs against a fresh card made by
//! `cardgate card init` (the diagnostic applet, PIN 1234), in-process with `-r emu:card.state`. The
//! workspace's vpcd interop tests run the same scripts through pcscd and compare with the same files.
//!
//! Times vary from run to run, so `1.234ms`-style figures and `"t_us":N` are replaced by `T` before
//! comparing, and the reader's name in the trace's first line by `READER`. To rewrite the expected
//! files after a deliberate change, run with `UPDATE_GOLDEN=1` and review the diff.

// Test helpers outside #[test] functions: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::cardgate;
use common::golden::{args_of, cases, golden_dir, normalize};

/// Runs one case against its recorded card; returns (stdout, stderr, exit code).
pub fn run_case(script: &Path) -> (String, String, i32) {
    let dir = golden_dir();
    let stem = script.with_extension("");
    let name = script.file_name().unwrap().to_str().unwrap();
    let mut cmd = cardgate();
    cmd.current_dir(&dir).arg("run");
    let dump = stem.with_extension("dump");
    if dump.exists() {
        cmd.arg("--replay").arg(dump.file_name().unwrap());
    }
    cmd.args(args_of(&stem));
    if stem.with_extension("stdin").exists() {
        cmd.write_stdin(std::fs::read(script).unwrap());
    } else {
        cmd.arg(name);
    }
    let out = cmd.output().unwrap();
    (
        normalize(&String::from_utf8_lossy(&out.stdout)),
        normalize(&String::from_utf8_lossy(&out.stderr)),
        out.status.code().unwrap_or(-1),
    )
}

/// Runs one emulated-card case against a fresh card in a temporary directory.
pub fn run_emu_case(script: &Path) -> (String, String, i32) {
    let dir = tempfile::tempdir().unwrap();
    let name = script.file_name().unwrap().to_str().unwrap();
    std::fs::copy(script, dir.path().join(name)).unwrap();
    let init = cardgate().current_dir(&dir).args(["card", "init", "card.state"]).output();
    assert!(init.unwrap().status.success(), "cardgate card init failed");
    let out = cardgate()
        .current_dir(&dir)
        .args(["run", "-r", "emu:card.state"])
        .args(args_of(&script.with_extension("")))
        .arg(name)
        .output()
        .unwrap();
    (
        normalize(&String::from_utf8_lossy(&out.stdout)),
        normalize(&String::from_utf8_lossy(&out.stderr)),
        out.status.code().unwrap_or(-1),
    )
}

/// Compares (or with `UPDATE_GOLDEN`, rewrites) the expected files of each case.
fn check(cases: Vec<PathBuf>, run: fn(&Path) -> (String, String, i32)) {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    for script in cases {
        let stem = script.with_extension("");
        let (stdout, stderr, code) = run(&script);
        let out_file = stem.with_extension("out");
        let err_file = stem.with_extension("err");
        let exit_file = stem.with_extension("exit");
        if update {
            std::fs::write(&out_file, &stdout).unwrap();
            if err_file.exists() || code != 0 {
                std::fs::write(&err_file, &stderr).unwrap();
            }
            if code != 0 {
                std::fs::write(&exit_file, format!("{code}\n")).unwrap();
            } else {
                let _ = std::fs::remove_file(&exit_file);
            }
            continue;
        }
        let name = script.file_name().unwrap().to_string_lossy().into_owned();
        let expected = std::fs::read_to_string(&out_file).unwrap_or_else(|_| panic!("{name}: no .out file"));
        if stdout != expected {
            failures.push(format!("{name}: stdout differs\n--- expected\n{expected}--- got\n{stdout}"));
        }
        if let Ok(expected) = std::fs::read_to_string(&err_file)
            && stderr != expected
        {
            failures.push(format!("{name}: stderr differs\n--- expected\n{expected}--- got\n{stderr}"));
        }
        let expected_code: i32 =
            std::fs::read_to_string(&exit_file).map(|s| s.trim().parse().unwrap()).unwrap_or(0);
        if code != expected_code {
            failures.push(format!("{name}: exit code {code}, expected {expected_code}\nstderr:\n{stderr}"));
        }
    }
    assert!(failures.is_empty(), "{} golden case(s) failed:\n\n{}", failures.len(), failures.join("\n\n"));
}

#[test]
fn golden_scripts_print_what_is_expected() {
    let cases = cases(&golden_dir());
    assert!(cases.len() >= 20, "the golden directory lost its cases: {}", cases.len());
    check(cases, run_case);
}

#[test]
fn golden_scripts_against_the_emulated_card() {
    let cases = cases(&golden_dir().join("emu"));
    assert!(cases.len() >= 2, "the emulated-card golden cases are missing");
    check(cases, run_emu_case);
}

#[test]
fn normalize_replaces_only_timings() {
    assert_eq!(normalize("<< 9000 (0.123ms) ok"), "<< 9000 (T) ok");
    assert_eq!(normalize("took 12.345s, \"t_us\":1234}"), "took T, \"t_us\":T}");
    assert_eq!(normalize("00 A4 1.5 v1.234ms"), "00 A4 1.5 v1.234ms");
    assert_eq!(normalize("# reader emu:card.state, T=1, ATR 3B\n"), "# reader READER, T=1, ATR 3B\n");
}
