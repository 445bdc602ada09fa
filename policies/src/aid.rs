//! Application identifiers (ISO 7816-5 §5.2): 5 to 16 bytes, a 5-byte registered application
//! provider identifier (RID) followed by up to 11 bytes of proprietary extension (PIX).
//!
//! One type for the whole workspace: a policy binds services to an [`Aid`], and the card runtime
//! (`applet`, which re-exports this module as `applet::aid`) installs and selects applets by it.

use std::fmt;

/// An application identifier, held inline (`Copy`, no allocation).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Aid {
    len: u8,
    bytes: [u8; Aid::MAX_LEN],
}

/// Why a byte string is not an AID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AidError {
    /// ISO 7816-5 §5.2: an AID has 5 (RID) to 16 (RID + 11-byte PIX) bytes.
    #[error("an AID has 5 to 16 bytes, this one has {0}")]
    BadLength(usize),
    /// The text is not an even number of hex digits.
    #[error("an AID is written in hex, e.g. F0434152444741544501")]
    NotHex,
}

impl Aid {
    /// The shortest AID: a bare RID.
    pub const MIN_LEN: usize = 5;
    /// The longest AID (and the longest DF name, ISO 7816-4 §5.3.1.3).
    pub const MAX_LEN: usize = 16;

    /// An AID from its bytes.
    pub fn new(bytes: &[u8]) -> Result<Aid, AidError> {
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&bytes.len()) {
            return Err(AidError::BadLength(bytes.len()));
        }
        let mut aid = Aid { len: bytes.len() as u8, bytes: [0; Self::MAX_LEN] };
        aid.bytes[..bytes.len()].copy_from_slice(bytes);
        Ok(aid)
    }

    /// An AID from a byte array whose length is checked when the program is compiled: for the AIDs
    /// an applet is built with.
    ///
    /// ```
    /// const RID: policies::Aid = policies::Aid::from_array([0xA0, 0x00, 0x00, 0x08, 0x58]);
    /// assert_eq!(RID.to_string(), "A000000858");
    /// ```
    ///
    /// ```compile_fail
    /// let _ = policies::Aid::from_array([0xA0, 0x00, 0x00, 0x08]); // 4 bytes: does not compile
    /// ```
    pub const fn from_array<const N: usize>(bytes: [u8; N]) -> Aid {
        const { assert!(N >= Self::MIN_LEN && N <= Self::MAX_LEN, "an AID has 5 to 16 bytes") };
        let mut out = [0; Self::MAX_LEN];
        let mut i = 0;
        while i < N {
            out[i] = bytes[i];
            i += 1;
        }
        Aid { len: N as u8, bytes: out }
    }

    /// An AID written in hex (spaces and colons allowed between bytes).
    pub fn from_hex(text: &str) -> Result<Aid, AidError> {
        let digits: String = text.chars().filter(|c| !c.is_whitespace() && *c != ':').collect();
        let bytes = hex_decode(&digits).ok_or(AidError::NotHex)?;
        Aid::new(&bytes)
    }

    /// The AID's bytes.
    // On the card's dispatch path, across the crate boundary since the type moved here.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Whether `name` is this AID or a right-truncated prefix of it (partial DF name selection,
    /// ISO 7816-4 §11.1.1). The empty name is a prefix of every AID.
    #[inline]
    pub fn starts_with(&self, name: &[u8]) -> bool {
        self.as_bytes().starts_with(name)
    }
}

fn hex_decode(digits: &str) -> Option<Vec<u8>> {
    if !digits.len().is_multiple_of(2) || !digits.is_ascii() {
        return None;
    }
    (0..digits.len()).step_by(2).map(|i| u8::from_str_radix(&digits[i..i + 2], 16).ok()).collect()
}

impl fmt::Display for Aid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.as_bytes() {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Aid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Aid({self})")
    }
}

impl std::str::FromStr for Aid {
    type Err = AidError;
    fn from_str(s: &str) -> Result<Aid, AidError> {
        Aid::from_hex(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_outside_5_to_16_are_refused() {
        assert_eq!(Aid::new(&[0xA0; 4]), Err(AidError::BadLength(4)));
        assert_eq!(Aid::new(&[0xA0; 17]), Err(AidError::BadLength(17)));
        assert_eq!(Aid::new(&[0xA0; 5]).unwrap().as_bytes(), &[0xA0; 5]);
        assert_eq!(Aid::new(&[0xA0; 16]).unwrap().as_bytes().len(), 16);
    }

    #[test]
    fn arrays_make_the_same_aid_as_slices() {
        const A: Aid = Aid::from_array([0xF0, 0x43, 0x41, 0x52, 0x44]);
        assert_eq!(A, Aid::new(&[0xF0, 0x43, 0x41, 0x52, 0x44]).unwrap());
        assert_eq!(Aid::from_array([7; 16]).as_bytes(), [7; 16]);
    }

    #[test]
    fn hex_round_trips_and_rejects_odd_digits() {
        let aid = Aid::from_hex("F0 43 41 52 44").unwrap();
        assert_eq!(aid.to_string(), "F043415244");
        assert_eq!(Aid::from_hex("F0:43:41:52:44"), Ok(aid), "colons between bytes");
        assert_eq!(format!("{aid:?}"), "Aid(F043415244)");
        assert_eq!("F043415244".parse::<Aid>(), Ok(aid));
        assert_eq!(Aid::from_hex("F04341524"), Err(AidError::NotHex));
        assert_eq!(Aid::from_hex("F0434152ZZ"), Err(AidError::NotHex));
    }

    #[test]
    fn partial_names_are_prefixes() {
        let aid = Aid::from_hex("A000000151000000").unwrap();
        assert!(aid.starts_with(&[]));
        assert!(aid.starts_with(&[0xA0, 0x00]));
        assert!(aid.starts_with(aid.as_bytes()));
        assert!(!aid.starts_with(&[0xA0, 0x01]));
        assert!(!aid.starts_with(&[0xA0, 0, 0, 1, 0x51, 0, 0, 0, 0]));
    }
}
