//! Hex as people read it in this tool: packed (`00A40400`) or spaced (`00 A4 04 00`), upper case.

use std::fmt::Write as _;

/// `00A40400`.
pub fn packed(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02X}");
    }
    s
}

/// `00 A4 04 00` (no trailing space).
pub fn spaced(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{b:02X}");
    }
    s
}

/// Reads hex from the command line: spaces, `:` and a `0x` prefix are allowed; an odd number of
/// digits is an error (never a silently dropped nibble).
pub fn parse(text: &str) -> Result<Vec<u8>, String> {
    let body = text.trim();
    let body = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")).unwrap_or(body);
    let digits: String = body.chars().filter(|c| !c.is_whitespace() && *c != ':').collect();
    if let Some(bad) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!("{text:?} is not hex (unexpected {bad:?})"));
    }
    if !digits.len().is_multiple_of(2) {
        return Err(format!("{text:?} has an odd number of hex digits"));
    }
    Ok((0..digits.len()).step_by(2).filter_map(|i| u8::from_str_radix(&digits[i..i + 2], 16).ok()).collect())
}

/// The bytes as text when every byte is printable ASCII (and there is at least one), for display
/// next to the hex.
pub fn printable(bytes: &[u8]) -> Option<String> {
    (!bytes.is_empty() && bytes.iter().all(|b| (0x20..0x7F).contains(b)))
        .then(|| String::from_utf8_lossy(bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        assert_eq!(packed(&[0, 0xA4]), "00A4");
        assert_eq!(spaced(&[0, 0xA4]), "00 A4");
        assert_eq!(spaced(&[]), "");
        assert_eq!(parse("0x6A 82").unwrap(), [0x6A, 0x82]);
        assert_eq!(parse("6a:82").unwrap(), [0x6A, 0x82]);
        assert!(parse("6A8").unwrap_err().contains("odd"));
        assert!(parse("6G").unwrap_err().contains("not hex"));
        assert_eq!(printable(b"DIAG").as_deref(), Some("DIAG"));
        assert_eq!(printable(&[0x41, 0x00]), None);
    }
}
