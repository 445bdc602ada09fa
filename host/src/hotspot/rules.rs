//! The protocol rules of the Wi-Fi sharer proof, as pure functions: what an SSID, a MAC address and a
//! network key may be, how the server derives the second identifier from the first, and how the third
//! identifier follows from the second. `docs/hotspot.md` states the same rules for people.
//!
//! Patent anchors: US 10,136,317 B2 claim 1 (first SSID → second SSID → third SSID, compare, register),
//! claim 3 (the second is a hash of the first, or a random character sequence by a preset rule),
//! claim 4 (the connection key); US 11,063,934 B2 claim 1 (MAC → SSID matching against a threshold).

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::hmac;
use serde::{Deserialize, Serialize};

/// Longest SSID, in octets (IEEE 802.11-2020 §9.4.2.2: the SSID element carries 0–32 octets).
pub const SSID_MAX: usize = 32;

/// Every second identifier starts with this, so a person can tell a proof name from a shop name.
pub const SECOND_PREFIX: &str = "CG-";

/// Number of base32 characters after [`SECOND_PREFIX`]: 13 × 5 = 65 bits of the HMAC or of randomness.
pub const SECOND_CODE_LEN: usize = 13;

/// Most BSSIDs one request may name (one network rarely has more access points in range).
pub const MAX_BSSIDS: usize = 64;

/// Domain separation for the keyed hash of the `hash` rule.
const HASH_RULE_LABEL: &[u8] = b"cardgate hotspot second-identifier v1\0";

/// RFC 4648 §6 base32 alphabet: upper-case letters and digits 2–7, no look-alikes 0/1/8/9.
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Why an identifier, a MAC address or a key is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// The SSID is empty.
    #[error("SSID is empty (1-32 bytes required)")]
    SsidEmpty,
    /// The SSID is longer than 32 octets.
    #[error("SSID is {0} bytes long (at most 32)")]
    SsidTooLong(usize),
    /// The SSID holds a control character, which no one can type into a router's settings.
    #[error("SSID contains a control character at byte {0}")]
    SsidControl(usize),
    /// Not a 48-bit MAC address in `AA:BB:CC:DD:EE:FF` (or `-`-separated) form.
    #[error("{0:?} is not a MAC address (want AA:BB:CC:DD:EE:FF)")]
    MacSyntax(String),
    /// A group (multicast/broadcast) or all-zero address, which no access point broadcasts as BSSID.
    #[error("{0} is not a unicast MAC address")]
    MacNotUnicast(String),
    /// No BSSID at all.
    #[error("at least one BSSID is required")]
    NoBssids,
    /// More BSSIDs than [`MAX_BSSIDS`].
    #[error("{0} BSSIDs given (at most {MAX_BSSIDS})")]
    TooManyBssids(usize),
    /// A network key that WPA/WPA2/WPA3-Personal would refuse.
    #[error("network key must be 8-63 printable ASCII characters or 64 hex digits")]
    Key,
    /// An unknown second-identifier rule name.
    #[error("unknown rule {0:?} (hash or random)")]
    Rule(String),
}

/// An SSID that passed [`validate_ssid`]: 1–32 octets of UTF-8 without control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ssid(String);

impl Ssid {
    /// The SSID text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Ssid {
    type Error = RuleError;
    fn try_from(s: String) -> Result<Self, RuleError> {
        validate_ssid(&s)?;
        Ok(Self(s))
    }
}

impl From<Ssid> for String {
    fn from(s: Ssid) -> String {
        s.0
    }
}

impl fmt::Display for Ssid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks an SSID: 1–32 octets (IEEE 802.11 §9.4.2.2; the hidden, empty SSID cannot be proven), and
/// no control characters, so that a person can type it into a router and a scan shows it unchanged.
pub fn validate_ssid(s: &str) -> Result<(), RuleError> {
    if s.is_empty() {
        return Err(RuleError::SsidEmpty);
    }
    if s.len() > SSID_MAX {
        return Err(RuleError::SsidTooLong(s.len()));
    }
    if let Some((at, _)) = s.char_indices().find(|(_, c)| c.is_control()) {
        return Err(RuleError::SsidControl(at));
    }
    Ok(())
}

/// A 48-bit unicast MAC address (an access point's BSSID), printed as `AA:BB:CC:DD:EE:FF`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Mac([u8; 6]);

impl Mac {
    /// The six octets.
    pub fn octets(&self) -> [u8; 6] {
        self.0
    }
}

impl FromStr for Mac {
    type Err = RuleError;
    fn from_str(s: &str) -> Result<Self, RuleError> {
        let syntax = || RuleError::MacSyntax(s.chars().take(40).collect());
        let parts: Vec<&str> = if s.contains(':') { s.split(':').collect() } else { s.split('-').collect() };
        if parts.len() != 6 {
            return Err(syntax());
        }
        let mut octets = [0u8; 6];
        for (o, p) in octets.iter_mut().zip(&parts) {
            if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(syntax());
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| syntax())?;
        }
        // IEEE 802-2014 §8.2.2: the I/G bit (LSB of the first octet) set means a group address.
        if octets[0] & 1 == 1 || octets == [0; 6] {
            return Err(RuleError::MacNotUnicast(Mac(octets).to_string()));
        }
        Ok(Mac(octets))
    }
}

impl TryFrom<String> for Mac {
    type Error = RuleError;
    fn try_from(s: String) -> Result<Self, RuleError> {
        s.parse()
    }
}

impl From<Mac> for String {
    fn from(m: Mac) -> String {
        m.to_string()
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02X}:{b:02X}:{c:02X}:{d:02X}:{e:02X}:{g:02X}")
    }
}

/// Parses, de-duplicates and sorts a BSSID list; 1 to [`MAX_BSSIDS`] entries.
pub fn parse_bssids<S: AsRef<str>>(list: &[S]) -> Result<Vec<Mac>, RuleError> {
    if list.is_empty() {
        return Err(RuleError::NoBssids);
    }
    if list.len() > MAX_BSSIDS {
        return Err(RuleError::TooManyBssids(list.len()));
    }
    let mut macs = list.iter().map(|s| s.as_ref().parse()).collect::<Result<Vec<Mac>, _>>()?;
    macs.sort();
    macs.dedup();
    Ok(macs)
}

/// Checks a network key as WPA-Personal takes it (IEEE 802.11-2020 §J.4.1: a passphrase of 8–63
/// printable ASCII characters, or the 256-bit PSK as 64 hex digits).
pub fn validate_key(key: &str) -> Result<(), RuleError> {
    let passphrase = (8..=63).contains(&key.len()) && key.bytes().all(|b| (0x20..=0x7e).contains(&b));
    let psk = key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit());
    if passphrase || psk { Ok(()) } else { Err(RuleError::Key) }
}

/// How the server makes the second identifier (US 10,136,317 B2 claim 3: "a hash algorithm based on
/// the received first SSID" or "a random character sequence ... according to a preset rule").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecondRule {
    /// `CG-` + the first 13 base32 characters of HMAC-SHA256(server key, label ‖ proof id ‖ first SSID).
    #[default]
    Hash,
    /// `CG-` + 13 base32 characters of fresh randomness.
    Random,
}

impl SecondRule {
    /// The rule's name on the wire and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SecondRule::Hash => "hash",
            SecondRule::Random => "random",
        }
    }
}

impl FromStr for SecondRule {
    type Err = RuleError;
    fn from_str(s: &str) -> Result<Self, RuleError> {
        match s {
            "hash" => Ok(SecondRule::Hash),
            "random" => Ok(SecondRule::Random),
            other => Err(RuleError::Rule(other.chars().take(40).collect())),
        }
    }
}

/// The second identifier under the `hash` rule. The proof id (16 random bytes, new for every proof)
/// and the server key go into the hash with the first SSID, so the identifier cannot be predicted and
/// never repeats: a network still carrying the name from an earlier proof proves nothing.
pub fn second_by_hash(key: &hmac::Key, proof_id: &[u8; 16], first: &Ssid) -> String {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(HASH_RULE_LABEL);
    ctx.update(proof_id);
    ctx.update(first.as_str().as_bytes());
    let tag = ctx.sign();
    with_prefix(&base32(tag.as_ref()))
}

/// The second identifier under the `random` rule, from 10 random bytes (80 bits, 65 of them used).
pub fn second_by_random(random: &[u8; 10]) -> String {
    with_prefix(&base32(random))
}

fn with_prefix(code: &str) -> String {
    let mut s = String::with_capacity(SECOND_PREFIX.len() + SECOND_CODE_LEN);
    s.push_str(SECOND_PREFIX);
    s.extend(code.chars().take(SECOND_CODE_LEN));
    s
}

/// The third identifier, the name the network must carry at the end of the proof, as derived from the
/// second: the second itself (16 printable ASCII octets, so any router accepts it and a person can
/// type it). The rule is the identity on purpose: it is the one rule a person renaming a router by
/// hand cannot get wrong, and the server still sends it to the client as `rename_to`.
pub fn third_from_second(second: &str) -> String {
    second.to_owned()
}

/// Whether `third` is the identifier the rule derives from `second` (exact octet comparison: SSIDs are
/// octet strings, IEEE 802.11 §9.4.2.2, so case matters).
pub fn third_matches(second: &str, third: &str) -> bool {
    // Both are public once the proof ends; a plain comparison leaks nothing an attacker lacks.
    third_from_second(second).as_bytes() == third.as_bytes()
}

/// RFC 4648 §6 base32 without padding.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((acc >> bits) & 31) as usize]));
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(BASE32[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648_vectors() {
        // RFC 4648 §10 test vectors, padding removed.
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"fo"), "MZXQ");
        assert_eq!(base32(b"foo"), "MZXW6");
        assert_eq!(base32(b"foob"), "MZXW6YQ");
        assert_eq!(base32(b"fooba"), "MZXW6YTB");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
    }

    #[test]
    fn ssid_lengths_and_characters() {
        assert_eq!(validate_ssid(""), Err(RuleError::SsidEmpty));
        assert!(validate_ssid("a").is_ok());
        assert!(validate_ssid(&"x".repeat(32)).is_ok());
        assert_eq!(validate_ssid(&"x".repeat(33)), Err(RuleError::SsidTooLong(33)));
        // 11 three-byte characters = 33 octets: the limit is on octets, not characters.
        assert_eq!(validate_ssid(&"€".repeat(11)), Err(RuleError::SsidTooLong(33)));
        assert!(validate_ssid(&"€".repeat(10)).is_ok());
        assert_eq!(validate_ssid("ab\ncd"), Err(RuleError::SsidControl(2)));
    }

    #[test]
    fn mac_forms() {
        let m: Mac = "aa-bb-cc-dd-ee-f0".parse().unwrap();
        assert_eq!(m.to_string(), "AA:BB:CC:DD:EE:F0");
        assert_eq!("AA:BB:CC:DD:EE:F0".parse::<Mac>().unwrap(), m);
        assert!(matches!("AA:BB:CC:DD:EE".parse::<Mac>(), Err(RuleError::MacSyntax(_))));
        assert!(matches!("AA:BB:CC:DD:EE:FG".parse::<Mac>(), Err(RuleError::MacSyntax(_))));
        assert!(matches!("A:BB:CC:DD:EE:FF0".parse::<Mac>(), Err(RuleError::MacSyntax(_))));
        assert!(matches!("FF:FF:FF:FF:FF:FF".parse::<Mac>(), Err(RuleError::MacNotUnicast(_))));
        assert!(matches!("01:00:5E:00:00:01".parse::<Mac>(), Err(RuleError::MacNotUnicast(_))));
        assert!(matches!("00:00:00:00:00:00".parse::<Mac>(), Err(RuleError::MacNotUnicast(_))));
        // Locally administered addresses (hotspots use them) are fine.
        assert!("02:00:00:00:00:01".parse::<Mac>().is_ok());
    }

    #[test]
    fn bssid_lists() {
        assert_eq!(parse_bssids::<&str>(&[]), Err(RuleError::NoBssids));
        let many: Vec<String> = (0..65).map(|i| format!("02:00:00:00:00:{i:02X}")).collect();
        assert_eq!(parse_bssids(&many), Err(RuleError::TooManyBssids(65)));
        let l = parse_bssids(&["02:00:00:00:00:02", "02-00-00-00-00-01", "02:00:00:00:00:02"]).unwrap();
        assert_eq!(
            l.iter().map(Mac::to_string).collect::<Vec<_>>(),
            ["02:00:00:00:00:01", "02:00:00:00:00:02"]
        );
    }

    #[test]
    fn keys() {
        assert!(validate_key("12345678").is_ok());
        assert!(validate_key(&"k".repeat(63)).is_ok());
        assert!(validate_key(&"a".repeat(64)).is_ok());
        assert_eq!(validate_key("1234567"), Err(RuleError::Key));
        assert_eq!(validate_key(&"g".repeat(64)), Err(RuleError::Key));
        assert_eq!(validate_key("tab\there!"), Err(RuleError::Key));
    }

    #[test]
    fn second_identifiers_are_renamable_and_bound_to_their_inputs() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"k");
        let first = Ssid::try_from("Shop".to_owned()).unwrap();
        let a = second_by_hash(&key, &[1; 16], &first);
        assert_eq!(a.len(), 16);
        assert!(a.starts_with(SECOND_PREFIX));
        assert!(validate_ssid(&a).is_ok() && a.bytes().all(|b| b.is_ascii_graphic()));
        assert_eq!(a, second_by_hash(&key, &[1; 16], &first), "the hash rule is deterministic");
        assert_ne!(a, second_by_hash(&key, &[2; 16], &first), "a new proof id gives a new identifier");
        let other = Ssid::try_from("Shop2".to_owned()).unwrap();
        assert_ne!(a, second_by_hash(&key, &[1; 16], &other), "the first SSID is bound in");
        let key2 = hmac::Key::new(hmac::HMAC_SHA256, b"k2");
        assert_ne!(a, second_by_hash(&key2, &[1; 16], &first), "the server key is bound in");
        let r = second_by_random(&[0xff; 10]);
        assert_eq!(r, "CG-7777777777777");
        assert!(third_matches(&a, &a));
        assert!(!third_matches(&a, &a.to_lowercase()));
        assert!(!third_matches(&a, &a[..15]));
    }

    #[test]
    fn rule_names() {
        assert_eq!("hash".parse::<SecondRule>().unwrap(), SecondRule::Hash);
        assert_eq!("random".parse::<SecondRule>().unwrap(), SecondRule::Random);
        assert!("md5".parse::<SecondRule>().is_err());
        assert_eq!(SecondRule::Random.name(), "random");
    }
}
