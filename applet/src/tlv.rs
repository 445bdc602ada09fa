//! Strict BER-TLV (ISO 7816-4 §5.2 with X.690 §8.1 encoding rules), shared by the whole workspace:
//! service data on the card, FCI, the QR payload, the payment token, and `cardgate tlv`.
//!
//! What "strict" means here, and why it is in-house (see `design.md`, "Facts"):
//! - tags of one to four bytes (ISO 7816-4 §5.2.2.1); a subsequent tag byte of `80` (a leading zero
//!   in the tag number, X.690 §8.1.2.4.2 c) is rejected;
//! - lengths in the short form (`00`–`7F`) or the long form `81`–`84` (X.690 §8.1.3.5); the
//!   indefinite form `80` (X.690 §8.1.3.6) and the reserved `85`–`FF` are rejected; a long form that
//!   could have been shorter is accepted when reading (BER allows it) and never written;
//! - a length that runs past the end of its parent is an error, never a truncation;
//! - nothing recurses: nested objects are walked with an explicit stack, so a million nested
//!   templates cost memory in proportion to the input and never overflow the call stack.

use std::fmt;

/// A BER-TLV tag, held as its encoded bytes in big-endian order (`9F02` is `Tag(0x9F02)`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(pub u32);

impl Tag {
    /// The number of bytes of the encoded tag (1 to 4).
    pub const fn len(self) -> usize {
        match self.0 {
            0..=0xFF => 1,
            0x100..=0xFFFF => 2,
            0x1_0000..=0xFF_FFFF => 3,
            _ => 4,
        }
    }

    /// Always false: a tag has at least one byte. Present because `len` is.
    pub const fn is_empty(self) -> bool {
        false
    }

    /// The first byte of the encoded tag: it holds the class and the constructed bit.
    pub const fn first_byte(self) -> u8 {
        (self.0 >> (8 * (self.len() - 1))) as u8
    }

    /// Whether the tag denotes a constructed object (bit 6 of the first byte, ISO 7816-4 §5.2.2.1).
    pub const fn is_constructed(self) -> bool {
        self.first_byte() & 0x20 != 0
    }

    /// Appends the encoded tag to `out`.
    pub fn write(self, out: &mut Vec<u8>) {
        let bytes = self.0.to_be_bytes();
        out.extend_from_slice(&bytes[4 - self.len()..]);
    }

    /// Parses a tag written in hex, such as `"9F02"`, checking it is a well-formed BER tag.
    pub fn from_hex(s: &str) -> Result<Tag, TlvError> {
        let bytes = hex_bytes(s).ok_or(TlvError::BadTag { offset: 0 })?;
        let (tag, used) = read_tag(&bytes, 0)?;
        if used != bytes.len() {
            return Err(TlvError::BadTag { offset: used });
        }
        Ok(tag)
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({self})")
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:0width$X}", self.0, width = 2 * self.len())
    }
}

/// Why a byte string is not well-formed BER-TLV. Offsets count from the start of the outermost input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TlvError {
    /// The input ended inside a tag, a length or a value.
    #[error("BER-TLV truncated at offset {offset}")]
    Truncated {
        /// Where the missing bytes should have been.
        offset: usize,
    },
    /// A tag longer than four bytes, or with a leading zero in its number.
    #[error("malformed BER-TLV tag at offset {offset}")]
    BadTag {
        /// Where the tag starts.
        offset: usize,
    },
    /// The indefinite length form (`80`) or a reserved length byte (`85`–`FF`).
    #[error("unsupported BER-TLV length byte {byte:02X} at offset {offset}")]
    BadLength {
        /// Where the length starts.
        offset: usize,
        /// The offending first length byte.
        byte: u8,
    },
    /// A value that runs past the end of the input or of its enclosing template.
    #[error("BER-TLV value at offset {offset} (length {len}) runs past its container")]
    Overrun {
        /// Where the value starts (just after its length).
        offset: usize,
        /// The declared length.
        len: usize,
    },
    /// Bytes after the one data object the input must be ([`parse_single`]).
    #[error("{len} bytes after the BER-TLV data object, from offset {offset}")]
    Trailing {
        /// Where the extra bytes start (just after the object).
        offset: usize,
        /// How many there are.
        len: usize,
    },
}

/// One data object: its tag and the bytes of its value, borrowed from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The tag.
    pub tag: Tag,
    /// The value field (for a constructed object: the encoded children).
    pub value: &'a [u8],
}

fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Reads a tag at `pos`; returns it and the position after it.
fn read_tag(buf: &[u8], pos: usize) -> Result<(Tag, usize), TlvError> {
    let first = *buf.get(pos).ok_or(TlvError::Truncated { offset: pos })?;
    let mut value = u32::from(first);
    let mut at = pos + 1;
    if first & 0x1F == 0x1F {
        // ISO 7816-4 §5.2.2.1: subsequent bytes carry b8=1 while more follow.
        loop {
            let b = *buf.get(at).ok_or(TlvError::Truncated { offset: at })?;
            if at == pos + 1 && b == 0x80 {
                return Err(TlvError::BadTag { offset: pos });
            }
            if at - pos >= 4 {
                return Err(TlvError::BadTag { offset: pos });
            }
            value = (value << 8) | u32::from(b);
            at += 1;
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    Ok((Tag(value), at))
}

/// Reads a length at `pos`; returns it and the position after it.
fn read_len(buf: &[u8], pos: usize) -> Result<(usize, usize), TlvError> {
    let first = *buf.get(pos).ok_or(TlvError::Truncated { offset: pos })?;
    match first {
        0x00..=0x7F => Ok((usize::from(first), pos + 1)),
        0x81..=0x84 => {
            let n = usize::from(first & 0x7F);
            let bytes = buf.get(pos + 1..pos + 1 + n).ok_or(TlvError::Truncated { offset: buf.len() })?;
            let len = bytes.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            Ok((len, pos + 1 + n))
        }
        _ => Err(TlvError::BadLength { offset: pos, byte: first }),
    }
}

/// Reads one object from `buf[pos..end]`; returns it and the position after it.
fn read_one(buf: &[u8], pos: usize, end: usize) -> Result<(Tlv<'_>, usize), TlvError> {
    let scope = &buf[..end];
    let (tag, at) = read_tag(scope, pos)?;
    let (len, at) = read_len(scope, at)?;
    let value_end = at.checked_add(len).filter(|&e| e <= end).ok_or(TlvError::Overrun { offset: at, len })?;
    Ok((Tlv { tag, value: &buf[at..value_end] }, value_end))
}

/// Iterates over the top-level objects of a byte string. Yields one error and then stops.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    buf: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Result<Tlv<'a>, TlvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.buf.len() {
            return None;
        }
        match read_one(self.buf, self.pos, self.buf.len()) {
            Ok((tlv, next)) => {
                self.pos = next;
                Some(Ok(tlv))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// The top-level objects of `bytes`, in order (one level; use [`decode`] for the whole tree).
pub fn iter(bytes: &[u8]) -> Iter<'_> {
    Iter { buf: bytes, pos: 0, failed: false }
}

/// Parses a byte string that must be exactly one data object.
pub fn parse_single(bytes: &[u8]) -> Result<Tlv<'_>, TlvError> {
    let (tlv, end) = read_one(bytes, 0, bytes.len())?;
    if end != bytes.len() {
        return Err(TlvError::Trailing { offset: end, len: bytes.len() - end });
    }
    Ok(tlv)
}

/// The value of the first top-level object with `tag`, checking the whole level is well formed.
pub fn find(bytes: &[u8], tag: Tag) -> Result<Option<&[u8]>, TlvError> {
    let mut found = None;
    for tlv in iter(bytes) {
        let tlv = tlv?;
        if found.is_none() && tlv.tag == tag {
            found = Some(tlv.value);
        }
    }
    Ok(found)
}

/// The value at a path of tags (`[6F, A5, 50]`), each step looking inside the previous value.
pub fn find_path<'a>(bytes: &'a [u8], path: &[Tag]) -> Result<Option<&'a [u8]>, TlvError> {
    let mut current = bytes;
    for &tag in path {
        match find(current, tag)? {
            Some(v) => current = v,
            None => return Ok(None),
        }
    }
    Ok(Some(current))
}

/// One object of a decoded tree, in document order: its depth (0 at top level), where it starts in
/// the input, its tag, and its value bytes. Children follow their template with `depth + 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node<'a> {
    /// Nesting depth: 0 for top-level objects.
    pub depth: usize,
    /// Offset of the tag in the input.
    pub offset: usize,
    /// The tag.
    pub tag: Tag,
    /// The value field (for a constructed object, the encoded children, which follow as nodes).
    pub value: &'a [u8],
}

/// Decodes `bytes` as a whole tree of objects, descending into constructed tags. Iterative: the depth
/// of nesting is bounded only by the input length.
pub fn decode(bytes: &[u8]) -> Result<Vec<Node<'_>>, TlvError> {
    let mut nodes = Vec::new();
    // Each frame: (next position, end of the enclosing value, depth).
    let mut stack = vec![(0usize, bytes.len(), 0usize)];
    while let Some(frame) = stack.last_mut() {
        let (pos, end, depth) = *frame;
        if pos >= end {
            stack.pop();
            continue;
        }
        let (tlv, next) = read_one(bytes, pos, end)?;
        frame.0 = next;
        nodes.push(Node { depth, offset: pos, tag: tlv.tag, value: tlv.value });
        if tlv.tag.is_constructed() && !tlv.value.is_empty() {
            let start = next - tlv.value.len();
            stack.push((start, next, depth + 1));
        }
    }
    Ok(nodes)
}

/// Appends a definite length in its shortest form (X.690 §8.1.3.3–8.1.3.5).
pub fn write_len(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (8 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Builds BER-TLV: primitive objects and templates, always with minimal lengths.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a primitive object.
    pub fn primitive(&mut self, tag: Tag, value: &[u8]) -> &mut Self {
        tag.write(&mut self.buf);
        write_len(value.len(), &mut self.buf);
        self.buf.extend_from_slice(value);
        self
    }

    /// Appends a template whose children `build` writes.
    pub fn constructed(&mut self, tag: Tag, build: impl FnOnce(&mut Writer)) -> &mut Self {
        let mut inner = Writer::new();
        build(&mut inner);
        self.primitive(tag, &inner.buf)
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The encoded bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(s: &str) -> Vec<u8> {
        hex_bytes(s).unwrap()
    }

    #[test]
    fn reads_emv_two_byte_tags_and_nested_templates() {
        // FCI: 6F { 84 <AID>, A5 { 50 "DIAG" } }
        let fci = h("6F 0F 84 05 A000000001 A5 06 50 04 44494147");
        let nodes = decode(&fci).unwrap();
        let tags: Vec<String> = nodes.iter().map(|n| format!("{}@{}", n.tag, n.depth)).collect();
        assert_eq!(tags, ["6F@0", "84@1", "A5@1", "50@2"]);
        assert_eq!(find_path(&fci, &[Tag(0x6F), Tag(0xA5), Tag(0x50)]).unwrap(), Some(&b"DIAG"[..]));
        let amount = h("9F02 06 000000001250");
        assert_eq!(find(&amount, Tag(0x9F02)).unwrap(), Some(&h("000000001250")[..]));
    }

    #[test]
    fn lengths_at_the_form_boundaries_round_trip() {
        for len in [0usize, 1, 127, 128, 255, 256, 65535, 65536] {
            let value = vec![0xAB; len];
            let mut w = Writer::new();
            w.primitive(Tag(0xC1), &value);
            let bytes = w.into_bytes();
            let expected_len_bytes = match len {
                0..=127 => 1,
                128..=255 => 2,
                256..=65535 => 3,
                _ => 4,
            };
            assert_eq!(bytes.len(), 1 + expected_len_bytes + len, "len {len}");
            assert_eq!(parse_single(&bytes).unwrap().value.len(), len);
        }
    }

    #[test]
    fn a_127_byte_child_gets_a_one_byte_length() {
        // The bug design.md records against iso7816-tlv: 127-byte children got the wrong length.
        let mut w = Writer::new();
        w.constructed(Tag(0x70), |w| {
            w.primitive(Tag(0x5A), &[0x11; 125]);
        });
        let bytes = w.into_bytes();
        assert_eq!(&bytes[..4], &[0x70, 0x7F, 0x5A, 0x7D]);
        assert_eq!(decode(&bytes).unwrap().len(), 2);
    }

    #[test]
    fn malformed_inputs_are_named() {
        assert_eq!(parse_single(&h("9F")), Err(TlvError::Truncated { offset: 1 }));
        assert_eq!(parse_single(&h("5A 80 00 00")), Err(TlvError::BadLength { offset: 1, byte: 0x80 }));
        assert_eq!(parse_single(&h("5A 85 00")), Err(TlvError::BadLength { offset: 1, byte: 0x85 }));
        assert_eq!(parse_single(&h("5A 03 0102")), Err(TlvError::Overrun { offset: 2, len: 3 }));
        assert_eq!(
            parse_single(&h("5A 03 0102")).unwrap_err().to_string(),
            "BER-TLV value at offset 2 (length 3) runs past its container"
        );
        assert_eq!(parse_single(&h("5A 01 01 9000")), Err(TlvError::Trailing { offset: 3, len: 2 }));
        assert_eq!(
            parse_single(&h("5A 01 01 9000")).unwrap_err().to_string(),
            "2 bytes after the BER-TLV data object, from offset 3"
        );
        assert_eq!(parse_single(&h("1F 80 01 00")), Err(TlvError::BadTag { offset: 0 }));
        assert_eq!(parse_single(&h("1F 81 81 81 01 00")), Err(TlvError::BadTag { offset: 0 }));
        assert_eq!(parse_single(&h("5A 82 01")), Err(TlvError::Truncated { offset: 3 }));
        // A child that runs past its template is an overrun even when the input goes on.
        assert!(matches!(decode(&h("70 03 5A 05 01 02 03 04 05")), Err(TlvError::Overrun { .. })));
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        let depth = 200_000;
        // Wrap `5A 00` in 200,000 templates: sizes from the inside out, then bytes from the outside in.
        let mut sizes = vec![2usize; depth + 1];
        for d in (0..depth).rev() {
            let mut len = Vec::new();
            write_len(sizes[d + 1], &mut len);
            sizes[d] = 1 + len.len() + sizes[d + 1];
        }
        let mut encoded = Vec::with_capacity(sizes[0]);
        for &inner in &sizes[1..] {
            encoded.push(0x70);
            write_len(inner, &mut encoded);
        }
        encoded.extend_from_slice(&[0x5A, 0x00]);
        assert_eq!(encoded.len(), sizes[0]);
        let nodes = decode(&encoded).unwrap();
        assert_eq!(nodes.len(), depth + 1);
        assert_eq!(nodes.last().unwrap().depth, depth);
    }

    #[test]
    fn tag_from_hex_checks_form() {
        assert_eq!(Tag::from_hex("9F02").unwrap(), Tag(0x9F02));
        assert_eq!(Tag::from_hex("5F2A").unwrap().to_string(), "5F2A");
        assert!(Tag::from_hex("9F").is_err());
        assert!(Tag::from_hex("5A5A").is_err());
        assert!(Tag(0xBF0C).is_constructed());
        assert!(!Tag(0x9F02).is_constructed());
    }

    proptest! {
        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&bytes);
            for item in iter(&bytes) { let _ = item; }
        }

        #[test]
        fn written_objects_read_back(values in proptest::collection::vec(
            (prop_oneof![Just(0x5Au32), Just(0x9F02), Just(0x5F2A), Just(0xDF8101)],
             proptest::collection::vec(any::<u8>(), 0..300)), 0..8)) {
            let mut w = Writer::new();
            for (tag, value) in &values {
                w.primitive(Tag(*tag), value);
            }
            let bytes = w.into_bytes();
            let read: Vec<(u32, Vec<u8>)> =
                iter(&bytes).map(|t| { let t = t.unwrap(); (t.tag.0, t.value.to_vec()) }).collect();
            prop_assert_eq!(read, values);
        }
    }
}
