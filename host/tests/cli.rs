//! The `cardgate` binary's script commands from the outside: exit codes, messages, files.

// Test helpers outside #[test] functions: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use common::cardgate;
use common::golden::golden_dir;
use predicates::prelude::*;

fn golden(name: &str) -> PathBuf {
    golden_dir().join(name)
}

#[test]
fn sw_explains_status_words_in_any_spelling() {
    cardgate().args(["sw", "6A82", "6a", "82", "0x9000", "63C1"]).assert().success().stdout(
        "6A82: File or application not found\n6A82: File or application not found\n\
             9000: Normal processing\n63C1: Verification failed: 1 tries left\n",
    );
    cardgate()
        .args(["sw", "6A8"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("odd number of hex digits"));
    cardgate().args(["sw", "6A8200"]).assert().failure().stderr(predicate::str::contains("it has 3 bytes"));
}

#[test]
fn tlv_decodes_arguments_or_stdin_and_names_bad_input() {
    let fci = "6F 0F 84 05 A000000001 A5 06 50 04 44494147";
    let tree = "6F File Control Information (FCI) Template (15 bytes)\n  \
                84 Dedicated File (DF) Name: A000000001\n  \
                A5 File Control Information (FCI) Proprietary Template (6 bytes)\n    \
                50 Application Label: 44494147 \"DIAG\"\n";
    cardgate().arg("tlv").arg(fci).assert().success().stdout(tree);
    cardgate().arg("tlv").write_stdin(fci.replace(' ', "")).assert().success().stdout(tree);
    let out = cardgate().args(["tlv", "--json", "9F3602002A"]).assert().success().get_output().stdout.clone();
    let obj: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(obj["tag"], "9F36");
    assert_eq!(obj["name"], "Application Transaction Counter (ATC)");
    assert_eq!(obj["value"], "002A");
    cardgate()
        .args(["tlv", "5A0501"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("not BER-TLV").and(predicate::str::contains("length 5")));
}

#[test]
fn lint_exit_codes_follow_the_worst_finding() {
    cardgate().arg("lint").arg(golden("e01_expect.cg")).assert().code(0).stdout("");
    cardgate().arg("lint").arg(golden("s02_exit_in_comment.script")).assert().code(1).stdout(
        predicate::str::contains("s02_exit_in_comment.script:2:1: warning: scriptor ends the script here"),
    );
    cardgate()
        .arg("lint")
        .arg(golden("s11_inline_comment.script"))
        .assert()
        .code(1)
        .stdout(predicate::str::contains("wrong value (#)"));
    cardgate()
        .arg("lint")
        .arg(golden("s15_odd_packed.script"))
        .arg(golden("s02_exit_in_comment.script"))
        .assert()
        .code(2)
        .stdout(predicate::str::contains("s15_odd_packed.script:2:1: error: odd number of hex digits"));
}

#[test]
fn a_recorded_session_replays_to_the_same_transcript() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("session.dump");
    let script = golden("e05_getresponse.cg");
    let first = cardgate()
        .arg("run")
        .arg("--replay")
        .arg(golden("e05_getresponse.dump"))
        .arg("--record")
        .arg(&rec)
        .arg("--format")
        .arg("scriptor")
        .arg(&script)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = std::fs::read_to_string(&rec).unwrap();
    assert!(text.starts_with("# ATR: 3B8C800150\n# PROTOCOL: T=1\n#\n"), "{text}");
    // Every physical exchange is in the recording, GET RESPONSE rounds and Le retries included.
    let hex_lines = text.lines().filter(|l| !l.starts_with('#')).count();
    assert_eq!(hex_lines, 2 * 7);
    let second = cardgate()
        .arg("run")
        .arg("--replay")
        .arg(&rec)
        .arg("--format")
        .arg("scriptor")
        .arg(&script)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(String::from_utf8(first).unwrap(), String::from_utf8(second).unwrap());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left behind");
}

#[test]
fn a_recording_that_cannot_be_written_is_an_error_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    cardgate()
        .arg("run")
        .arg("--replay")
        .arg(golden("e05_getresponse.dump"))
        .arg("--record")
        .arg(dir.path().join("missing/dir/x.dump"))
        .arg(golden("e05_getresponse.cg"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot write"));
}

#[test]
fn bad_arguments_and_files_are_script_errors_before_any_card_is_touched() {
    let script = golden("e03_vars.cg");
    // No reader at all: these must fail on the arguments, not on the missing card.
    for (define, message) in [
        ("pin", "write -D name=value"),
        ("1pin=00", "is not a variable name"),
        ("pin=0", "-D:1:1: odd number of hex digits"),
    ] {
        cardgate()
            .args(["run", "-r", "replay:/nonexistent", "-D", define])
            .arg(&script)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(message));
    }
    cardgate()
        .args(["run", "-r", "replay:/nonexistent", "no-such-script.cg"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no-such-script.cg:0:0: cannot read"));
    cardgate().args(["run", "-r", "replay:/nonexistent", "-", "-"]).assert().code(2);
    // The script is fine, the reader is not: exit code 3.
    cardgate()
        .args(["run", "--replay", "/nonexistent.dump"])
        .arg(&script)
        .assert()
        .code(3)
        .stderr(predicate::str::contains("/nonexistent.dump"));
}

#[test]
fn replay_by_reader_name_and_json_output_parse_as_json_lines() {
    let out = cardgate()
        .current_dir(golden(""))
        .args(["run", "-r", "replay:e01_expect.dump", "--json", "e01_expect.cg"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let events: Vec<serde_json::Value> =
        String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.first().unwrap()["event"], "session");
    let apdus: Vec<&serde_json::Value> = events.iter().filter(|e| e["event"] == "apdu").collect();
    assert_eq!(apdus.len(), 4);
    assert_eq!(apdus[3]["expect"]["ok"], false);
    assert_eq!(apdus[3]["line"], 6);
    let summary = events.last().unwrap();
    assert_eq!(
        (summary["event"].as_str(), summary["exit"].as_u64(), summary["failed"].as_u64()),
        (Some("summary"), Some(1), Some(1))
    );
    assert!(events.iter().all(|e| e["v"] == 1));
}
