//! `cardgate card init`, `cardgate card show` and `cardgate apdu -r emu:PATH`, run as a user runs
//! them; and `kill -9` of a process that has a card open.

// Test helpers: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command as Process, Stdio};

use common::{cardgate, emu};
use predicates::prelude::*;

fn init(dir: &Path, extra: &[&str]) -> std::path::PathBuf {
    let path = dir.join("card");
    cardgate().args(["card", "init"]).arg(&path).args(extra).assert().success();
    path
}

#[test]
fn init_then_a_session_prints_responses_with_their_meaning() {
    let dir = tempfile::tempdir().unwrap();
    let path = init(dir.path(), &["--pin", "2468"]);
    cardgate()
        .args(["apdu", "-r", &emu(&path), "80100000 02 CAFE 00", "0020008104 32343638", "8010000002CAFE"])
        .assert()
        .success()
        .stdout(predicate::str::contains("> 8010000002CAFE00\n< CAFE 9000  Normal processing"))
        .stdout(predicate::str::contains("> 002000810432343638\n< 9000"))
        .stdout(predicate::str::contains("< 6102  Normal processing: 2 response bytes still available"))
        .stdout(predicate::str::contains("> 80C0000002\n< CAFE 9000"));
}

#[test]
fn raw_mode_leaves_61xx_to_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let path = init(dir.path(), &[]);
    cardgate()
        .args(["apdu", "--raw", "-r", &emu(&path), "8010000002CAFE", "00C0000002"])
        .assert()
        .success()
        .stdout("> 8010000002CAFE\n< 6102  Normal processing: 2 response bytes still available (GET RESPONSE)\n> 00C0000002\n< CAFE 9000  Normal processing\n");
}

#[test]
fn the_card_keeps_its_state_between_commands() {
    let dir = tempfile::tempdir().unwrap();
    let path = init(dir.path(), &["--pin-tries", "5"]);
    cardgate().args(["apdu", "-r", &emu(&path), "8022000004", "0020008104 30303030"]).assert().success();
    cardgate()
        .args(["apdu", "-r", &emu(&path), "8020000004", "00200081"])
        .assert()
        .success()
        .stdout(predicate::str::contains("< 00000001 9000"))
        .stdout(predicate::str::contains("< 63C4  Verification failed: 4 tries left"));
}

#[test]
fn init_options_shape_the_card() {
    let dir = tempfile::tempdir().unwrap();
    let path = init(dir.path(), &["--name", "bank-01", "--quota", "2048", "--default-applet", "none"]);
    cardgate()
        .args(["card", "show"])
        .arg(&path)
        .assert()
        .success()
        .stdout(predicate::str::contains("name     bank-01"))
        .stdout(predicate::str::contains("of 2048 bytes used"))
        .stdout(predicate::str::contains("default  none"))
        .stdout(predicate::str::contains("secret"))
        .stdout(predicate::str::contains("31323334").not());
    cardgate()
        .args(["apdu", "-r", &emu(&path), "80100000 01 AA 00"])
        .assert()
        .success()
        .stdout(predicate::str::contains("< 6986"));
}

#[test]
fn bad_input_is_named_and_nothing_is_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = init(dir.path(), &[]);
    let before = std::fs::read(&path).unwrap();
    cardgate()
        .args(["card", "init"])
        .arg(&path)
        .assert()
        .failure()
        .stderr(predicate::str::contains("never overwritten"));
    cardgate()
        .args(["apdu", "-r", &emu(&path), "8010000000", "zz"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("APDU 2 (\"zz\") is not hex"))
        .stdout("");
    cardgate()
        .args(["apdu", "-r", &emu(&path), "80"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("at least CLA INS P1 P2"));
    assert_eq!(std::fs::read(&path).unwrap(), before);
    cardgate()
        .args(["card", "init"])
        .arg(dir.path().join("other"))
        .args(["--pin", "123456789"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--pin must have 1 to 8 characters"));
    cardgate()
        .args(["card", "init"])
        .arg(dir.path().join("other"))
        .args(["--default-applet", "A000"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("5 to 16 bytes"));
    assert!(!dir.path().join("other").exists(), "a refused init writes nothing");
}

#[test]
fn a_corrupt_card_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = init(dir.path(), &[]);
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    cardgate()
        .args(["apdu", "-r", &emu(&path), "8022000004"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("checksum mismatch").and(predicate::str::contains("left as it is")));
    cardgate()
        .args(["card", "show"])
        .arg(&path)
        .assert()
        .failure()
        .stderr(predicate::str::contains("checksum mismatch"));
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    cardgate()
        .args(["apdu", "-r", &emu(&dir.path().join("missing")), "00A40400"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("create one with `cardgate card init"));
}

/// Spawns `cardgate apdu` with `count` INCREMENTs, reads `kill_after` responses, kills it with
/// SIGKILL, and returns the last counter value the process printed (including lines still in the
/// pipe).
fn increment_then_kill(path: &Path, count: usize, kill_after: usize) -> Option<u32> {
    let bin = assert_cmd::cargo::cargo_bin("cardgate");
    let mut child = Process::new(bin)
        .args(["apdu", "-r", &emu(path)])
        .args(std::iter::repeat_n("8022000004", count))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut last = None;
    let mut seen = 0;
    let value = |line: &str| line.strip_prefix("< ").and_then(|l| u32::from_str_radix(&l[..8], 16).ok());
    while seen < kill_after {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(v) = value(&line) {
            last = Some(v);
            seen += 1;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    for line in lines.map_while(Result::ok) {
        if let Some(v) = value(&line) {
            last = Some(v);
        }
    }
    last
}

#[test]
fn kill_9_leaves_the_state_of_the_last_answered_command() {
    let dir = tempfile::tempdir().unwrap();
    let path = init(dir.path(), &[]);
    let mut expected_min = 0;
    for kill_after in [1, 7, 40, 3, 120] {
        let last = increment_then_kill(&path, 400, kill_after).expect("some responses were printed");
        assert!(last > expected_min, "the card went on counting from where it was");
        // The card answers only after saving, so the file holds at least what was printed; at most
        // one more command may have been saved without its answer getting out.
        let card = applet::FileCard::read(&path, applet::apps::catalog()).unwrap();
        let state = applet::FileCard::open(&path, applet::apps::catalog());
        assert!(state.is_ok(), "the lock died with the process: {state:?}");
        drop(state);
        let mut card = card;
        let r = card.process(&[0x80, 0x20, 0x00, 0x00, 0x04]);
        let saved = u32::from_be_bytes(r[..4].try_into().unwrap());
        assert!(saved == last || saved == last + 1, "printed {last}, saved {saved}");
        expected_min = saved;
    }
}

#[test]
fn a_filter_piped_into_a_reader_that_goes_away_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    // `cardgate tlv ... | head -0`: 6,000 objects decode to more than a pipe holds, so cardgate is
    // still writing when the reading end closes. A panic would exit 101 with "failed printing to
    // stdout"; a Unix filter dies of SIGPIPE instead.
    let tlv = "5A0100".repeat(6000);
    let mut child = Process::new(assert_cmd::cargo::cargo_bin("cardgate"))
        .args(["tlv", &tlv])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}
