//! The golden scripts (`host/tests/golden/`) and how their output is compared: shared by
//! `host/tests/golden.rs`, `host/tests/scriptor_compat.rs` and, through pcscd and vpcd, the
//! workspace's `tests/tests/scripts_vpcd.rs` (which includes this file by path), so all three compare
//! by the same rules. Standard library only.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

/// `host/tests/golden/`. Both crates that include this file sit at the workspace root, so the path
/// from either manifest directory is the same.
pub fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../host/tests/golden")
}

/// The cases in `dir` (`*.script` in scriptor's format, `*.cg` in the extended dialect), sorted.
pub fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("script" | "cg")))
        .collect();
    cases.sort();
    cases
}

/// A case's extra arguments (`NAME.args`, whitespace-separated; none if absent).
pub fn args_of(case: &Path) -> Vec<String> {
    std::fs::read_to_string(case.with_extension("args"))
        .map(|a| a.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Replaces timings (`12.345ms`, `1.234s`, `"t_us":17`) by `T`, and the reader in the trace's
/// session line (`# reader NAME, T=1, ...`) by `READER`.
pub fn normalize(text: &str) -> String {
    let text = match text.strip_prefix("# reader ").and_then(|rest| rest.split_once(", ")) {
        Some((_, rest)) => format!("# reader READER, {rest}"),
        None => text.to_string(),
    };
    let text = text.as_str();
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        // "t_us":<digits>
        if text_at(&chars, i, "\"t_us\":") {
            out.push_str("\"t_us\":T");
            i += 7;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            continue;
        }
        // <digits>.<3 digits>ms|s, not preceded by a word character
        if chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_alphanumeric()) {
            let mut j = i;
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            if j + 4 <= chars.len() && chars[j] == '.' && chars[j + 1..j + 4].iter().all(char::is_ascii_digit)
            {
                let k = j + 4;
                if text_at(&chars, k, "ms") {
                    out.push('T');
                    i = k + 2;
                    continue;
                }
                if text_at(&chars, k, "s") {
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

fn text_at(chars: &[char], i: usize, s: &str) -> bool {
    s.chars().enumerate().all(|(k, c)| chars.get(i + k) == Some(&c))
}

/// Masks what legitimately differs between scriptor and `cardgate run` in scriptor's format: the
/// status texts after ` : ` (each tool has its own) and reset failure reasons (`< KO: `).
pub fn mask(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| {
            if line.starts_with("< KO: ") {
                return format!("< KO: <reason>{}", if line.ends_with('\n') { "\n" } else { "" });
            }
            if line.starts_with('#') {
                return line.to_string();
            }
            match line.find(" : ") {
                Some(i) => format!("{} : <text>{}", &line[..i], if line.ends_with('\n') { "\n" } else { "" }),
                None => line.to_string(),
            }
        })
        .collect()
}
