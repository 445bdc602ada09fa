//! Offline credit payment: the formats the card and the host share (`docs/payment.md` is the
//! specification; every tag is in [`tags`]).
//!
//! - [`token`]: the credit token, the security content the issuer signs;
//! - [`code`]: the credit payment code, the token plus the issuer's signature;
//! - [`presentation`]: what the card signs for each payment;
//! - [`keys`]: issuer and card public keys, signature verification;
//! - [`emv`]: EMV numeric formats (amounts, currency codes, dates and times);
//! - [`apdu`]: the credit wallet's command set.
//!
//! The host adds the QR envelope (EMVCo consumer-presented mode), issuance and settlement; the card adds
//! the wallet applet. Both read and write these bytes through this module only.

mod error;
mod fields;

pub mod apdu;
pub mod code;
pub mod emv;
pub mod keys;
pub mod presentation;
pub mod tags;
pub mod token;

pub use code::{CreditPaymentCode, raw_children};
pub use emv::Money;
pub use error::CreditError;
pub use keys::{IssuerPublicKey, KeyAlgorithm, KeyId};
pub use presentation::Presentation;
pub use token::{CreditToken, Payees};

/// The credit wallet's AID (a proprietary RID-style identifier, ISO 7816-5 §5.2), the one the offline
/// payment example policy binds.
pub const AID: [u8; 7] = [0xA0, 0x00, 0x00, 0x08, 0x58, 0x01, 0x01];

/// INS of GENERATE PAYMENT CODE, the service the policy gate checks.
pub const INS_GENERATE_PAYMENT_CODE: u8 = 0x50;

#[cfg(test)]
mod tests;
