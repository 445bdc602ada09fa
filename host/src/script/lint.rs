//! `cardgate lint`: parse a script without a card and report what would go wrong or surprise:
//! errors (the script does not parse), lines that scriptor and the extended dialect read
//! differently, and commands whose Lc does not match their data.

use std::fmt;
use std::path::Path;

use super::ast::{Dialect, Item, Stmt, StmtKind};
use super::parse::{lines, parse_file};
use super::scriptor::{Class, classify};
use super::source::Span;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The script runs, but maybe not as meant.
    Warning,
    /// The script does not run.
    Error,
}

/// One thing lint found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Where.
    pub span: Span,
    /// How bad.
    pub severity: Severity,
    /// What.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{}: {sev}: {}", self.span, self.message)
    }
}

/// What is wrong with the lengths of a command (ISO 7816-3 §12.1.3), if anything.
pub fn check_lengths(cmd: &[u8]) -> Option<String> {
    let n = cmd.len();
    if n < 4 {
        return Some(format!("{n} bytes is not a command APDU (CLA INS P1 P2 at least)"));
    }
    if n <= 5 {
        return None;
    }
    let lc = usize::from(cmd[4]);
    if lc != 0 {
        let data = n - 5;
        return (data != lc && data != lc + 1)
            .then(|| format!("Lc is {:02X} ({lc} bytes of data) but {} bytes follow it", cmd[4], data));
    }
    if n == 7 {
        return None; // case 2E: 00 Le Le
    }
    let ext = usize::from(u16::from_be_bytes([cmd[5], *cmd.get(6)?]));
    let data = n - 7;
    if ext == 0 || (data != ext && data != ext + 2) {
        return Some(format!(
            "Lc 00 starts an extended length, but {:02X}{:02X} ({ext} bytes) does not match the {data} bytes that follow",
            cmd[5], cmd[6]
        ));
    }
    None
}

fn walk(stmts: &[Stmt], out: &mut Vec<Finding>) {
    for s in stmts {
        match &s.kind {
            StmtKind::Apdu { command, .. } => {
                // Only all-literal commands: `{ }` computes Lc, variables are unknown until run time.
                let literal: Option<Vec<u8>> = command
                    .items
                    .iter()
                    .map(|i| match i {
                        Item::Hex(b) => Some(b.clone()),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()
                    .map(|v| v.concat());
                if let Some(message) = literal.as_deref().and_then(check_lengths) {
                    out.push(Finding { span: s.span.clone(), severity: Severity::Warning, message });
                }
            }
            StmtKind::Repeat { body, .. } | StmtKind::File { body, .. } => walk(body, out),
            _ => {}
        }
    }
}

/// Lints the script at `path`.
pub fn lint_file(path: &Path) -> Vec<Finding> {
    let script = match parse_file(path, false) {
        Ok(s) => s,
        Err(e) => return vec![Finding { span: e.span, severity: Severity::Error, message: e.message }],
    };
    let mut out: Vec<Finding> = script
        .notes
        .iter()
        .map(|n| Finding { span: n.span.clone(), severity: Severity::Warning, message: n.message.clone() })
        .collect();
    let bytes = std::fs::read(path).unwrap_or_default();
    match script.dialect {
        Dialect::Scriptor => {
            // Lines after the first `exit` are never read.
            let mut after_exit = None;
            for (i, raw) in lines(&bytes).enumerate() {
                match after_exit {
                    None if classify(raw) == Class::Exit => after_exit = Some(i + 1),
                    Some(exit_line) if classify(raw) != Class::Blank => {
                        out.push(Finding {
                            span: Span::line(&script.file, i + 1),
                            severity: Severity::Warning,
                            message: format!("never read: scriptor stops at the exit on line {exit_line}"),
                        });
                        break;
                    }
                    _ => {}
                }
            }
        }
        Dialect::Extended => {
            // What would happen if someone ran this file with scriptor itself.
            for (i, raw) in lines(&bytes).enumerate().skip(1) {
                let text = String::from_utf8_lossy(raw);
                let first = text.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
                let message = match classify(raw) {
                    Class::Exit if first != "exit" => {
                        "scriptor would end the script here: the line contains \"exit\""
                    }
                    Class::Reset if first != "reset" => {
                        "scriptor would reset the card here: the line contains \"reset\""
                    }
                    _ => continue,
                };
                out.push(Finding {
                    span: Span::line(&script.file, i + 1),
                    severity: Severity::Warning,
                    message: message.into(),
                });
            }
        }
    }
    walk(&script.body, &mut out);
    out.sort_by(|a, b| {
        (a.span.file.as_ref(), a.span.line, a.span.col).cmp(&(b.span.file.as_ref(), b.span.line, b.span.col))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        let h = |s: &str| crate::hexfmt::parse(s).unwrap();
        assert_eq!(check_lengths(&h("00A40400")), None);
        assert_eq!(check_lengths(&h("00A4040000")), None);
        assert_eq!(check_lengths(&h("00A4040002AABB")), None);
        assert_eq!(check_lengths(&h("00A4040002AABB00")), None);
        assert_eq!(
            check_lengths(&h("00A4040007AABB")).unwrap(),
            "Lc is 07 (7 bytes of data) but 2 bytes follow it"
        );
        assert_eq!(check_lengths(&h("00B0000000FFFF")), None);
        assert_eq!(check_lengths(&h("00DA0100000002ABCD")), None);
        assert!(check_lengths(&h("00DA0100000003ABCD")).is_some());
        assert!(check_lengths(&h("00A4")).unwrap().contains("not a command APDU"));
    }

    #[test]
    fn finds_scriptor_surprises_in_both_dialects() {
        let dir = tempfile::tempdir().unwrap();
        let s = dir.path().join("s.script");
        std::fs::write(&s, "# a comment about exit codes\n00A4040000\n").unwrap();
        let f = lint_file(&s);
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(
            f[0].to_string().ends_with(
                "s.script:1:1: warning: scriptor ends the script here: the line contains \"exit\""
            )
        );
        assert!(f[1].message.starts_with("never read"));

        let e = dir.path().join("e.cg");
        std::fs::write(&e, "#!cardgate\necho resetting now\nexit\n00 A4 04 00 07 A0\n").unwrap();
        let f = lint_file(&e);
        assert_eq!(f.len(), 2, "{f:?}");
        assert_eq!(f[0].span.line, 2);
        assert!(f[0].message.contains("reset the card"));
        assert_eq!(f[1].span.line, 4);
        assert!(f[1].message.contains("Lc is 07"));

        std::fs::write(&e, "#!cardgate\n00 => 9\n").unwrap();
        let f = lint_file(&e);
        assert_eq!(f[0].severity, Severity::Error);
        assert_eq!(f[0].span.to_string(), format!("{}:2:7", e.display()));
    }
}
