//! The answer to reset (ISO 7816-3 §8): T=1 only, historical bytes that name the card and state
//! what it can do (ISO 7816-4 §8.1.1), and the check byte TCK.
//!
//! ```text
//! 3B          TS   direct convention
//! 8K          T0   TD1 follows; K historical bytes
//! 81          TD1  TD2 follows; protocol T=1
//! 31          TD2  TA3, TB3 follow; protocol T=1
//! FE          TA3  IFSC = 254 bytes (ISO 7816-3 §11.4.2)
//! 45          TB3  BWI = 4, CWI = 5
//! 80          category indicator: compact-TLV data objects follow (ISO 7816-4 §8.1.1.1)
//! 73 C0 01 DF card capabilities (§8.1.1.2.7): DF selection by full and partial name; data unit
//!             1 byte; command chaining, extended Lc/Le, channel numbers assigned by card and
//!             by host, 8 or more logical channels
//! 5L name     card issuer's data (§8.1.1.2.5): the card's name in ASCII, 1 to 8 bytes
//! TCK         exclusive-or of T0 .. last historical byte (ISO 7816-3 §8.2.5)
//! ```

/// The name the default ATR carries.
pub const DEFAULT_NAME: &str = "cardgate";

/// The longest name the historical bytes hold (15 historical bytes at most, ISO 7816-3 §8.2.2).
pub const MAX_NAME_LEN: usize = 8;

/// An ATR, at most 33 bytes (ISO 7816-3 §8.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Atr {
    bytes: Vec<u8>,
}

/// Why a card name cannot go into the ATR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a card name is 1 to {MAX_NAME_LEN} printable ASCII characters, not {0:?}")]
pub struct BadName(pub String);

impl Atr {
    /// The ATR of a card named `name` (1 to 8 printable ASCII characters).
    pub fn for_card(name: &str) -> Result<Atr, BadName> {
        if name.is_empty() || name.len() > MAX_NAME_LEN || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(BadName(name.to_string()));
        }
        let mut historical = vec![0x80, 0x73, 0xC0, 0x01, 0xDF];
        historical.push(0x50 | name.len() as u8);
        historical.extend_from_slice(name.as_bytes());
        let mut bytes = vec![0x3B, 0x80 | historical.len() as u8, 0x81, 0x31, 0xFE, 0x45];
        bytes.extend_from_slice(&historical);
        let tck = bytes[1..].iter().fold(0, |acc, b| acc ^ b);
        bytes.push(tck);
        Ok(Atr { bytes })
    }

    /// The ATR bytes, as a reader reports them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The historical bytes.
    pub fn historical(&self) -> &[u8] {
        let k = usize::from(self.bytes[1] & 0x0F);
        &self.bytes[6..6 + k]
    }
}

/// Checks an ATR's structure: TS, the interface bytes announced by T0 and each TDi, K historical
/// bytes, and TCK when any protocol other than T=0 is indicated. Returns the protocols indicated.
/// Used by tests and by tools that show an ATR.
pub fn check(atr: &[u8]) -> Result<Vec<u8>, String> {
    if atr.len() > 33 {
        return Err(format!("an ATR has at most 33 bytes, this one has {}", atr.len()));
    }
    match atr.first() {
        Some(0x3B | 0x3F) => {}
        _ => return Err("TS is neither 3B nor 3F".into()),
    }
    let t0 = *atr.get(1).ok_or("no T0")?;
    let k = usize::from(t0 & 0x0F);
    let mut protocols = Vec::new();
    let mut pos = 2;
    let mut y = t0 >> 4;
    loop {
        let present = y.count_ones() as usize;
        let td = if y & 0x8 != 0 { Some(pos + present - 1) } else { None };
        pos += present;
        match td {
            Some(i) => {
                let tdi = *atr.get(i).ok_or("truncated interface bytes")?;
                protocols.push(tdi & 0x0F);
                y = tdi >> 4;
            }
            None => break,
        }
    }
    pos += k;
    let needs_tck = protocols.iter().any(|&p| p != 0);
    let expected_len = pos + usize::from(needs_tck);
    if atr.len() != expected_len {
        return Err(format!("the ATR announces {expected_len} bytes and has {}", atr.len()));
    }
    if needs_tck && atr[1..].iter().fold(0, |acc, b| acc ^ b) != 0 {
        return Err("TCK does not check".into());
    }
    Ok(protocols)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_atr_is_well_formed_t1_and_names_the_card() {
        let atr = Atr::for_card(DEFAULT_NAME).unwrap();
        assert!(atr.as_bytes().len() <= 33);
        assert_eq!(check(atr.as_bytes()), Ok(vec![1, 1]));
        let hist = atr.historical();
        assert_eq!(hist[0], 0x80, "compact-TLV category");
        assert!(hist.ends_with(b"cardgate"));
        // Computed independently (Python: XOR of T0..the last historical byte = 0x33).
        assert_eq!(hex::encode_upper(atr.as_bytes()), "3B8E8131FE458073C001DF58636172646761746533");
    }

    #[test]
    fn tck_catches_a_flipped_bit() {
        let mut atr = Atr::for_card("x").unwrap().as_bytes().to_vec();
        atr[7] ^= 0x01;
        assert_eq!(check(&atr), Err("TCK does not check".into()));
    }

    #[test]
    fn names_that_do_not_fit_are_refused() {
        assert!(Atr::for_card("").is_err());
        assert!(Atr::for_card("ninechars").is_err());
        assert!(Atr::for_card("tab\there").is_err());
        assert!(Atr::for_card("12345678").is_ok());
    }
}
