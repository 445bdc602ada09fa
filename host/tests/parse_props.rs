//! Properties of the script readers: no input makes them panic, and hex written any accepted way
//! reads back as the same bytes.

// Test helpers outside #[test] functions: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use cardgate::script::ast::{Stmt, StmtKind};
use cardgate::script::lint::check_lengths;
use cardgate::script::parse_str;
use cardgate::script::vars::Vars;
use proptest::prelude::*;

/// The bytes of the only command in a parsed script.
fn only_command(text: &str) -> Vec<u8> {
    let script = parse_str("p", Path::new("."), text, false).unwrap();
    let commands: Vec<&Stmt> =
        script.body.iter().filter(|s| matches!(s.kind, StmtKind::Apdu { .. })).collect();
    assert_eq!(commands.len(), 1, "{text:?}: {:?}", script.body);
    let StmtKind::Apdu { command, .. } = &commands[0].kind else { unreachable!() };
    Vars::default().build(command).unwrap()
}

fn script_text() -> impl Strategy<Value = String> {
    // Heavy on the characters that mean something, plus any character at all.
    let piece = prop_oneof![
        Just("#!cardgate\n".to_string()),
        Just("\\\n".to_string()),
        Just("\r\n".to_string()),
        Just("\n".to_string()),
        Just(" ".to_string()),
        proptest::sample::select(vec![
            "00",
            "A4",
            "{",
            "}",
            "[",
            "]",
            "=>",
            "->",
            "$x",
            "${x[1:",
            "]}",
            "\"",
            "#",
            "|",
            "..",
            "*",
            "9000",
            "6Xx?",
            "select",
            "repeat 2",
            "end",
            "include",
            "let x =",
            "echo $",
            "exit",
            "reset",
            "tlv 6F/",
            ",",
            "=",
            "0x",
            ":",
            "\t",
            "é",
            "\u{a0}",
            "expect",
            "getresponse off",
        ])
        .prop_map(str::to_string),
        any::<char>().prop_map(|c| c.to_string()),
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn no_text_makes_the_reader_panic(text in script_text(), extended in any::<bool>()) {
        let text = if extended { format!("#!cardgate\n{text}") } else { text };
        // Errors are fine (includes point nowhere); panics are not.
        let _ = parse_str("p", Path::new("/nonexistent"), &text, true);
    }

    #[test]
    fn scriptor_hex_reads_back(bytes in proptest::collection::vec(any::<u8>(), 1..64), packed in any::<bool>(), lower in any::<bool>()) {
        let mut line: String = if packed {
            bytes.iter().map(|b| format!("{b:02X}")).collect()
        } else {
            bytes.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(" ")
        };
        if lower { line = line.to_lowercase(); }
        prop_assert_eq!(only_command(&format!("{line}\n")), bytes);
    }

    #[test]
    fn extended_hex_reads_back_in_any_grouping(bytes in proptest::collection::vec(any::<u8>(), 1..64), cuts in proptest::collection::vec(any::<bool>(), 64)) {
        let mut line = String::from("#!cardgate\n");
        for (i, b) in bytes.iter().enumerate() {
            if i > 0 && cuts[i] { line.push(' '); }
            line.push_str(&format!("{b:02x}"));
        }
        line.push('\n');
        prop_assert_eq!(only_command(&line), bytes);
    }

    #[test]
    fn lc_built_by_braces_always_passes_the_length_check(data in proptest::collection::vec(any::<u8>(), 1..600), le in proptest::option::of(any::<u8>())) {
        let hex: String = data.iter().map(|b| format!("{b:02X}")).collect();
        let le = le.map(|l| format!(" {l:02X}")).unwrap_or_default();
        let cmd = only_command(&format!("#!cardgate\n80 DA 01 00 {{{hex}}}{le}\n"));
        prop_assert_eq!(check_lengths(&cmd), None, "{:02X?}", &cmd[..8]);
    }
}
