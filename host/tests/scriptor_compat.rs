//! The scriptor-format golden scripts, run by the real `/usr/bin/scriptor` (pcsc-tools) and by
//! `cardgate run`, against the same recorded card; their stdout must agree.
//!
//! scriptor needs a card: `tests/scriptor-stub/` puts a stand-in `Chipcard::PCSC` module first on
//! Perl's path, which answers from the case's `.dump` (scriptor's parser, printer and libpcsc-perl's
//! helper functions stay the real, installed ones). The status texts after ` : ` are each tool's
//! own and are masked before comparing, as are `< KO:` reasons. Where scriptor dies on a line it
//! cannot read, cardgate reads on (`docs/scripts.md`): scriptor's output must then be a prefix of
//! cardgate's. The same comparison through pcscd and vpcd, with a real emulated card, is in the
//! workspace's interop tests.

// Test helpers outside #[test] functions: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use assert_cmd::cargo::cargo_bin;
use common::golden::{golden_dir, mask};

struct Run {
    stdout: String,
    code: i32,
}

fn run(mut cmd: Command, stdin: Option<Vec<u8>>) -> Run {
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child =
        cmd.spawn().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (is pcsc-tools installed?)"));
    if let Some(input) = stdin {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&input).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    Run { stdout: String::from_utf8_lossy(&out.stdout).into_owned(), code: out.status.code().unwrap_or(-1) }
}

#[test]
fn scriptor_and_cardgate_print_the_same_transcript() {
    let dir = golden_dir();
    let stub = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scriptor-stub");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "script"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 15, "scriptor-format golden cases are missing");
    let (mut equal, mut prefix) = (0, 0);
    let mut failures = Vec::new();
    for script in cases {
        let name = script.file_name().unwrap().to_str().unwrap().to_string();
        let dump = script.with_extension("dump");
        let on_stdin = script.with_extension("stdin").exists();
        let input = on_stdin.then(|| std::fs::read(&script).unwrap());

        let mut ours = Command::new(cargo_bin("cardgate"));
        ours.current_dir(&dir).env_remove("CARDGATE_READER").arg("run");
        if dump.exists() {
            ours.arg("--replay").arg(dump.file_name().unwrap());
        }
        if !on_stdin {
            ours.arg(&name);
        }
        let ours = run(ours, input.clone());
        if ours.code == 2 {
            // cardgate refuses the script before sending anything; scriptor must fail on it too.
            let mut theirs = Command::new("scriptor");
            theirs.current_dir(&dir).env("PERL5LIB", &stub).env("SCRIPTOR_STUB_DUMP", "/dev/null").arg(&name);
            let theirs = run(theirs, None);
            if theirs.code == 0 {
                failures.push(format!("{name}: cardgate rejects it but scriptor ran it:\n{}", theirs.stdout));
            }
            continue;
        }

        let mut theirs = Command::new("scriptor");
        theirs.current_dir(&dir).env("PERL5LIB", &stub).env("SCRIPTOR_STUB_DUMP", &dump);
        if !on_stdin {
            theirs.arg(&name);
        }
        let theirs = run(theirs, input);
        let (a, b) = (mask(&theirs.stdout), mask(&ours.stdout));
        if theirs.code == 0 {
            if a == b {
                equal += 1;
            } else {
                failures.push(format!("{name}: transcripts differ\n--- scriptor\n{a}--- cardgate\n{b}"));
            }
        } else if b.starts_with(&a) {
            prefix += 1;
        } else {
            failures.push(format!(
                "{name}: scriptor stopped (exit {}) and its output is not where cardgate's starts\n--- scriptor\n{a}--- cardgate\n{b}",
                theirs.code
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // Both kinds of case must exist, or the comparison proves less than it claims.
    assert!(equal >= 10 && prefix >= 4, "equal {equal}, prefix {prefix}");
}

#[test]
fn masking_keeps_the_structure() {
    assert_eq!(mask("< 90 00 : Normal processing.\n"), "< 90 00 : <text>\n");
    assert_eq!(mask("# a : comment\n"), "# a : comment\n");
    assert_eq!(mask("< KO: 12\n"), "< KO: <reason>\n");
}
