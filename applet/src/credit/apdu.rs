//! The credit wallet's command set, as constants both the card applet and the host use
//! (`docs/payment.md`, "The card: credit wallet applet", is the table).

use crate::tlv::Tag;

use super::tags;

/// CLA of the interindustry commands (ISO 7816-4 §5.4.1).
pub const CLA_ISO: u8 = 0x00;
/// CLA of GENERATE PAYMENT CODE (proprietary, ISO 7816-4 §5.4.1: b8 = 1).
pub const CLA_PROPRIETARY: u8 = 0x80;

/// VERIFY (ISO 7816-4 §11.5.6).
pub const INS_VERIFY: u8 = 0x20;
/// CHANGE REFERENCE DATA (ISO 7816-4 §11.5.7).
pub const INS_CHANGE_REFERENCE_DATA: u8 = 0x24;
/// RESET RETRY COUNTER (ISO 7816-4 §11.5.10).
pub const INS_RESET_RETRY_COUNTER: u8 = 0x2C;
/// GENERATE ASYMMETRIC KEY PAIR (ISO 7816-8 §5.1).
pub const INS_GENERATE_KEY_PAIR: u8 = 0x46;
/// GET DATA (ISO 7816-4 §11.4.3), P1-P2 = the tag.
pub const INS_GET_DATA: u8 = 0xCA;
/// PUT DATA (ISO 7816-4 §11.4.6), P1-P2 = the tag.
pub const INS_PUT_DATA: u8 = 0xDA;
/// GENERATE PAYMENT CODE: the gated service.
pub const INS_GENERATE_PAYMENT_CODE: u8 = super::INS_GENERATE_PAYMENT_CODE;

/// P2 of the PIN commands: the wallet's cardholder PIN (ISO 7816-4 §7.5.1, table 65: specific
/// reference data, number 1).
pub const PIN_REFERENCE: u8 = 0x81;

/// P1 of GENERATE KEY PAIR that replaces the key of an active wallet (the PIN must be verified).
pub const P1_REPLACE_KEY: u8 = 0x01;

/// The name of the GENERATE PAYMENT CODE service, as the runtime and policies know it.
pub const SERVICE_NAME: &str = "credit.generate";

/// Wallet life-cycle states (`DF2E`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalletState {
    /// No key yet.
    Empty,
    /// A key pair, no payment code yet.
    KeyGenerated,
    /// A payment code: payments can be presented.
    Active,
}

impl WalletState {
    /// The `DF2E` byte.
    pub const fn code(self) -> u8 {
        match self {
            WalletState::Empty => 0x01,
            WalletState::KeyGenerated => 0x02,
            WalletState::Active => 0x03,
        }
    }

    /// The state for a `DF2E` byte.
    pub const fn from_code(b: u8) -> Option<Self> {
        match b {
            0x01 => Some(WalletState::Empty),
            0x02 => Some(WalletState::KeyGenerated),
            0x03 => Some(WalletState::Active),
            _ => None,
        }
    }

    /// A word for people.
    pub const fn name(self) -> &'static str {
        match self {
            WalletState::Empty => "empty",
            WalletState::KeyGenerated => "key generated",
            WalletState::Active => "active",
        }
    }
}

/// P1-P2 of GET/PUT DATA for a tag of one or two bytes.
pub const fn p1p2(tag: Tag) -> (u8, u8) {
    ((tag.0 >> 8) as u8, tag.0 as u8)
}

/// The GET DATA objects the wallet answers.
pub const GET_DATA_TAGS: [Tag; 5] =
    [tags::WALLET_STATUS, tags::COUNTER, tags::CARD_PUBLIC_KEY, tags::PAYMENT_CODE, tags::ISSUER_KEY];

/// Builds a command APDU: short form when data and Le fit, else extended (ISO 7816-4 §5.1). `le` of
/// `Some(0)` asks for everything (256 short, 65536 extended).
pub fn command(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8], le: Option<usize>) -> Vec<u8> {
    let mut out = vec![cla, ins, p1, p2];
    let extended = data.len() > 255 || le.is_some_and(|l| l > 256);
    if extended {
        out.push(0x00);
        if !data.is_empty() {
            out.extend_from_slice(&(data.len() as u16).to_be_bytes());
            out.extend_from_slice(data);
        }
        if let Some(le) = le {
            out.extend_from_slice(&((le % 65536) as u16).to_be_bytes());
        }
    } else {
        if !data.is_empty() {
            out.push(data.len() as u8);
            out.extend_from_slice(data);
        }
        if let Some(le) = le {
            out.push((le % 256) as u8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_use_the_short_form_when_they_can() {
        assert_eq!(command(0, 0xCA, 0, 0xE7, &[], Some(0)), [0, 0xCA, 0, 0xE7, 0]);
        assert_eq!(command(0x80, 0x50, 0, 0, &[1, 2], Some(0)), [0x80, 0x50, 0, 0, 2, 1, 2, 0]);
        assert_eq!(command(0, 0xDA, 0, 0xE6, &[9; 3], None), [0, 0xDA, 0, 0xE6, 3, 9, 9, 9]);
        let long = command(0, 0xDA, 0, 0xE2, &[7; 300], None);
        assert_eq!(&long[..7], &[0, 0xDA, 0, 0xE2, 0, 0x01, 0x2C]);
        assert_eq!(long.len(), 7 + 300);
        let long_le = command(0, 0xCA, 0, 0xE2, &[], Some(1000));
        assert_eq!(long_le, [0, 0xCA, 0, 0xE2, 0, 0x03, 0xE8]);
        assert_eq!(p1p2(tags::COUNTER), (0x9F, 0x36));
        assert_eq!(p1p2(tags::PAYMENT_CODE), (0x00, 0xE2));
    }
}
