//! Scan lists and scanner backends. A scan is a list of (SSID, BSSID) pairs, from NetworkManager
//! (`nmcli`, see [`super::nmcli`]) or from a scan file, re-read at every scan, which is how a machine
//! without Wi-Fi (CI, a test) or with another Wi-Fi stack takes part.
//!
//! Scan file formats (detected from the content):
//! - JSON: `[{"ssid": "Shop", "bssid": "AA:BB:CC:DD:EE:01", ...}, ...]`, or the same list under
//!   `{"networks": [...]}`; other fields (signal, channel) are ignored.
//! - `nmcli` terse output: `nmcli -t -f SSID,BSSID[,...] device wifi list`, one access point per line,
//!   fields separated by `:`, with `\:` and `\\` escaping inside values (nmcli(1), "--terse"). The first
//!   field is the SSID and the second the BSSID; further fields are ignored.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::nmcli::{Nmcli, NmcliError};
use super::rules::{Mac, RuleError};

/// One access point seen in a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanEntry {
    /// The SSID it broadcasts (empty for a hidden network).
    pub ssid: String,
    /// Its BSSID.
    pub bssid: Mac,
}

/// A scan that could not be taken or read.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The scan file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A JSON scan file that is not a list of `{ssid, bssid}`.
    #[error("{path}: not a scan list: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What serde said.
        message: String,
    },
    /// A bad line in an nmcli-format scan.
    #[error("{source_name} line {line}: {message}")]
    Line {
        /// The file (or `nmcli`).
        source_name: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// NetworkManager failed.
    #[error(transparent)]
    Nmcli(#[from] NmcliError),
}

#[derive(Deserialize)]
struct JsonEntry {
    ssid: String,
    bssid: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonScan {
    List(Vec<JsonEntry>),
    Wrapped { networks: Vec<JsonEntry> },
}

/// Parses a scan in either format; `source_name` names it in errors.
pub fn parse_scan(text: &str, source_name: &Path) -> Result<Vec<ScanEntry>, ScanError> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') || trimmed.starts_with('{') {
        match serde_json::from_str::<JsonScan>(text) {
            Ok(JsonScan::List(list) | JsonScan::Wrapped { networks: list }) => {
                return list
                    .into_iter()
                    .enumerate()
                    .map(|(i, e)| {
                        let bssid = e.bssid.parse().map_err(|err: RuleError| ScanError::Json {
                            path: source_name.to_owned(),
                            message: format!("entry {i}: {err}"),
                        })?;
                        Ok(ScanEntry { ssid: e.ssid, bssid })
                    })
                    .collect();
            }
            // A JSON-looking file that is not JSON may still be nmcli output whose first SSID starts
            // with a bracket; report the JSON error only if the nmcli reading fails too.
            Err(json_err) => {
                return parse_nmcli_terse(text, &source_name.display().to_string()).map_err(|_| {
                    ScanError::Json { path: source_name.to_owned(), message: json_err.to_string() }
                });
            }
        }
    }
    parse_nmcli_terse(text, &source_name.display().to_string())
}

/// Parses `nmcli -t -f SSID,BSSID[,...]` output.
pub fn parse_nmcli_terse(text: &str, source_name: &str) -> Result<Vec<ScanEntry>, ScanError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let err =
            |message: String| ScanError::Line { source_name: source_name.to_owned(), line: i + 1, message };
        let fields = split_terse(line);
        if fields.len() < 2 {
            return Err(err("want SSID:BSSID (nmcli -t -f SSID,BSSID device wifi list)".to_owned()));
        }
        let bssid = fields[1].parse::<Mac>().map_err(|e| err(e.to_string()))?;
        out.push(ScanEntry { ssid: fields[0].clone(), bssid });
    }
    Ok(out)
}

/// Splits one terse line on unescaped `:`, undoing `\:` and `\\`.
pub fn split_terse(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(n), Some(f)) = (chars.next(), fields.last_mut()) {
                    f.push(n);
                }
            }
            ':' => fields.push(String::new()),
            c => {
                if let Some(f) = fields.last_mut() {
                    f.push(c);
                }
            }
        }
    }
    fields
}

/// Where scans come from.
#[derive(Debug, Clone)]
pub enum Scanner {
    /// A file, re-read at every scan.
    File(PathBuf),
    /// NetworkManager.
    Nmcli(Nmcli),
}

impl Scanner {
    /// Takes a fresh scan.
    pub async fn scan(&self) -> Result<Vec<ScanEntry>, ScanError> {
        match self {
            Scanner::File(path) => {
                let text = tokio::fs::read_to_string(path)
                    .await
                    .map_err(|source| ScanError::Io { path: path.clone(), source })?;
                parse_scan(&text, path)
            }
            Scanner::Nmcli(nm) => nm.scan().await,
        }
    }

    /// Names the backend for messages.
    pub fn describe(&self) -> String {
        match self {
            Scanner::File(p) => format!("scan file {}", p.display()),
            Scanner::Nmcli(_) => "NetworkManager (nmcli)".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nmcli_terse_with_escapes_and_extra_fields() {
        let text =
            "Shop:AA\\:BB\\:CC\\:DD\\:EE\\:02:70\nCafe\\: 2nd\\\\floor:02\\:00\\:00\\:00\\:00\\:01:55:6\n\n";
        let scan = parse_scan(text, Path::new("s")).unwrap();
        assert_eq!(scan.len(), 2);
        assert_eq!(scan[0].ssid, "Shop");
        assert_eq!(scan[0].bssid.to_string(), "AA:BB:CC:DD:EE:02");
        assert_eq!(scan[1].ssid, "Cafe: 2nd\\floor");
    }

    #[test]
    fn json_both_shapes() {
        let a = r#"[{"ssid":"Shop","bssid":"aa:bb:cc:dd:ee:02","signal":70}]"#;
        let b = r#"{"networks":[{"ssid":"Shop","bssid":"AA-BB-CC-DD-EE-02"}]}"#;
        assert_eq!(parse_scan(a, Path::new("a")).unwrap(), parse_scan(b, Path::new("b")).unwrap());
    }

    #[test]
    fn bad_scans_name_the_problem() {
        let e = parse_scan("Shop:not-a-mac\n", Path::new("scan.txt")).unwrap_err().to_string();
        assert!(e.contains("scan.txt line 1") && e.contains("not a MAC"), "{e}");
        let e = parse_scan("[{\"ssid\": 1}]", Path::new("scan.json")).unwrap_err().to_string();
        assert!(e.contains("scan.json: not a scan list"), "{e}");
        let e = parse_scan("OnlyOneField\n", Path::new("x")).unwrap_err().to_string();
        assert!(e.contains("want SSID:BSSID"), "{e}");
        // An SSID that starts with a bracket is still read as nmcli output.
        let ok = parse_scan("[x]:02\\:00\\:00\\:00\\:00\\:01\n", Path::new("x")).unwrap();
        assert_eq!(ok[0].ssid, "[x]");
    }
}
