//! The card state file: round trip, saving only on change, strict reading of damaged files
//! (which are never overwritten), and the lock that keeps a second process out.

// Test helpers: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use applet::{FileCard, FormatError, StateError};
use common::*;

fn new_card_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("card");
    FileCard::create(&path, card()).unwrap();
    path
}

fn inode(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().ino()
}

#[test]
fn state_survives_reopening_and_volatile_state_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_card_file(dir.path());
    {
        let mut fc = FileCard::open(&path, catalog()).unwrap();
        assert_eq!(fc.process(&h("8022000004")).unwrap(), h("00000001 9000"));
        assert_eq!(fc.process(&h("0020008104 31313131")).unwrap(), h("63C2"));
        assert_eq!(fc.process(&h("0020008104 31323334")).unwrap(), h("9000"));
    }
    let mut fc = FileCard::open(&path, catalog()).unwrap();
    assert_eq!(fc.process(&h("8020000004")).unwrap(), h("00000001 9000"), "the counter was saved");
    assert_eq!(fc.process(&h("00200081")).unwrap(), h("63C3"), "tries saved; validation was not");
    assert_eq!(fc.card().applets().count(), 4);
    assert_eq!(fc.card().config().default_applet, Some(aid(DIAG)));
}

#[test]
fn the_file_is_written_only_when_persistent_state_changed() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_card_file(dir.path());
    let mut fc = FileCard::open(&path, catalog()).unwrap();
    let first = inode(&path);
    fc.process(&h("80100000 01 AA 00")).unwrap();
    fc.process(&h("8012010000")).unwrap();
    assert_eq!(inode(&path), first, "ECHO and ANSWER N change nothing: no save");
    fc.process(&h("8022010004")).unwrap();
    assert_eq!(inode(&path), first, "an aborted increment leaves the same bytes: no save");
    fc.process(&h("8022000004")).unwrap();
    let second = inode(&path);
    assert_ne!(second, first, "a committed increment is saved (a new file renamed over the old)");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file is left: {leftovers:?}");
}

#[test]
fn state_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = new_card_file(dir.path());
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600,
        "it holds PINs and keys"
    );
}

#[test]
fn a_missing_file_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let e = FileCard::open(&dir.path().join("none"), catalog()).unwrap_err();
    assert!(matches!(e, StateError::Missing(_)));
    assert!(e.to_string().contains("cardgate card init"), "{e}");
}

#[test]
fn create_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_card_file(dir.path());
    let before = std::fs::read(&path).unwrap();
    let e = FileCard::create(&path, card()).unwrap_err();
    assert!(matches!(e, StateError::Exists(_)), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

/// Damages the file with `damage`, checks opening fails with `expected`, and that the file is
/// byte for byte what it was after the damage.
fn refused(damage: impl Fn(&mut Vec<u8>), expected: impl Fn(&FormatError) -> bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = new_card_file(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    damage(&mut bytes);
    std::fs::write(&path, &bytes).unwrap();
    match FileCard::open(&path, catalog()) {
        Err(StateError::Format { source, .. }) => assert!(expected(&source), "unexpected error {source}"),
        other => panic!("expected a format error, got {other:?}"),
    }
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "a damaged file is left as it is");
}

#[test]
fn damaged_files_are_named_and_left_alone() {
    refused(|b| b[40] ^= 0x01, |e| *e == FormatError::Checksum);
    refused(|b| b.truncate(b.len() - 1), |e| matches!(e, FormatError::Length { .. }));
    refused(|b| b.push(0), |e| matches!(e, FormatError::Length { .. }));
    refused(|b| b[0] = b'X', |e| *e == FormatError::NotACard);
    refused(|b| b.truncate(5), |e| *e == FormatError::NotACard);
    refused(|b| b[9] = 2, |e| *e == FormatError::Version(2));
    refused(|b| b.clear(), |e| *e == FormatError::NotACard);
}

#[test]
fn a_body_with_a_valid_checksum_is_still_checked_field_by_field() {
    // Re-seal a modified body so the checksum passes: the structure checks must still catch it.
    let reseal = |body: &[u8]| {
        let mut out = b"CARDGATE".to_vec();
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(body);
        let sum = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &out);
        out.extend_from_slice(sum.as_ref());
        out
    };
    let cases: [(&str, &[u8]); 4] = [
        ("(E0) must come first", &[]),
        ("unknown field 99", &h("E00B 8001 41 8104 00001000 9900")),
        ("quota is not 4 bytes", &h("E00C 8001 41 8103 001000 82020001")),
        (
            "class \"nope\"",
            &h("E00D 8001 41 8104 00001000 82020002 E112 80020001 8104 6E6F7065 8206 A00000099901"),
        ),
    ];
    for (expected, body) in cases {
        let e = applet::Card::from_state_bytes(&reseal(body), catalog()).unwrap_err();
        assert!(e.to_string().contains(expected), "{e} should say {expected}");
    }
    let ok = reseal(&h("E00D 8001 41 8104 00001000 82020001"));
    let card = applet::Card::from_state_bytes(&ok, catalog()).unwrap();
    assert_eq!((card.config().name.as_str(), card.config().quota), ("A", 0x1000));
}

#[test]
fn a_card_with_an_applet_this_build_lacks_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_card_file(dir.path());
    let e = FileCard::open(&path, applet::apps::catalog()).unwrap_err();
    assert!(e.to_string().contains("\"probe\""), "{e}");
}

#[test]
fn a_second_opener_is_told_who_holds_the_card() {
    let dir = tempfile::tempdir().unwrap();
    let path = new_card_file(dir.path());
    let held = FileCard::open(&path, catalog()).unwrap();
    let e = FileCard::open(&path, catalog()).unwrap_err();
    assert!(matches!(e, StateError::Locked { .. }));
    assert!(e.to_string().contains(&format!("pid {}", std::process::id())), "{e}");
    drop(held);
    FileCard::open(&path, catalog()).unwrap();
}

#[test]
fn round_trip_is_exact() {
    let mut card = card();
    card.process(&h("8022000004"));
    card.process(&h("0020008104 31313131"));
    let bytes = card.to_state_bytes();
    let again = applet::Card::from_state_bytes(&bytes, catalog()).unwrap();
    assert_eq!(again.to_state_bytes(), bytes);
}
