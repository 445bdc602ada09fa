//! BER-TLV shown to people: a tree with EMV tag names, for `cardgate tlv` and decoded responses.
//! Decoding is [`applet::tlv::decode`] (strict, iterative); this module only lays it out.

use applet::tlv::{self, TlvError};

use crate::emv_tags;
use crate::hexfmt::{packed, printable};

/// One line of a decoded tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Nesting depth, 0 at top level.
    pub depth: usize,
    /// The tag in hex (`9F36`).
    pub tag: String,
    /// Its EMV/ISO name, when known.
    pub name: Option<&'static str>,
    /// Whether the object is a template (its children follow).
    pub constructed: bool,
    /// Value length in bytes.
    pub len: usize,
    /// The value in hex, for primitive objects.
    pub value: Option<String>,
    /// The value as text, when it is all printable ASCII.
    pub text: Option<String>,
}

/// Decodes `bytes` as a tree of rows, or says why they are not BER-TLV.
pub fn rows(bytes: &[u8]) -> Result<Vec<Row>, TlvError> {
    let nodes = tlv::decode(bytes)?;
    Ok(nodes
        .iter()
        .map(|n| {
            let constructed = n.tag.is_constructed();
            Row {
                depth: n.depth,
                tag: n.tag.to_string(),
                name: emv_tags::name(n.tag),
                constructed,
                len: n.value.len(),
                value: (!constructed).then(|| packed(n.value)),
                text: if constructed { None } else { printable(n.value) },
            }
        })
        .collect())
}

/// The tree as text lines, each indented two spaces per level after `indent`:
/// `6F File Control Information (FCI) Template` / `  84 Dedicated File (DF) Name: A000000003 "..."`.
pub fn lines(rows: &[Row], indent: &str) -> Vec<String> {
    rows.iter()
        .map(|r| {
            let mut line = format!("{indent}{}{}", "  ".repeat(r.depth), r.tag);
            if let Some(name) = r.name {
                line.push(' ');
                line.push_str(name);
            }
            match &r.value {
                Some(v) if v.is_empty() => line.push_str(": (empty)"),
                Some(v) => {
                    line.push_str(": ");
                    line.push_str(v);
                }
                None => line.push_str(&format!(" ({} bytes)", r.len)),
            }
            if let Some(t) = &r.text {
                line.push_str(&format!(" \"{t}\""));
            }
            line
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_fci_reads_as_a_named_tree() {
        let fci = crate::hexfmt::parse("6F 0F 84 05 A000000001 A5 06 50 04 44494147").unwrap();
        let text = lines(&rows(&fci).unwrap(), "# ");
        assert_eq!(
            text,
            [
                "# 6F File Control Information (FCI) Template (15 bytes)",
                "#   84 Dedicated File (DF) Name: A000000001",
                "#   A5 File Control Information (FCI) Proprietary Template (6 bytes)",
                "#     50 Application Label: 44494147 \"DIAG\"",
            ]
        );
    }

    #[test]
    fn unknown_tags_and_bad_input() {
        let r = rows(&[0xDF, 0x81, 0x01, 0x00]).unwrap();
        assert_eq!(lines(&r, ""), ["DF8101: (empty)"]);
        assert!(matches!(rows(&[0x5A, 0x05, 0x01]), Err(TlvError::Overrun { .. })));
    }
}
