//! Why a credit data object was refused: each variant names the object and what is wrong with it.

use crate::tlv::{Tag, TlvError};

/// A credit token, payment code, presentation or issuer key that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditError {
    /// The bytes are not well-formed BER-TLV.
    #[error("{what}: {source}")]
    Tlv {
        /// The object being read.
        what: &'static str,
        /// The TLV error.
        source: TlvError,
    },
    /// The outer tag is not the expected template.
    #[error("{what}: expected template {expected}, found {found}")]
    WrongTemplate {
        /// The object being read.
        what: &'static str,
        /// The tag the format requires.
        expected: Tag,
        /// The tag found.
        found: Tag,
    },
    /// A mandatory data object is absent.
    #[error("{what}: mandatory data object {tag} ({name}) is missing")]
    Missing {
        /// The object being read.
        what: &'static str,
        /// The missing tag.
        tag: Tag,
        /// Its name in docs/payment.md.
        name: &'static str,
    },
    /// A data object that may appear once appears more than once.
    #[error("{what}: data object {tag} appears more than once")]
    Duplicate {
        /// The object being read.
        what: &'static str,
        /// The repeated tag.
        tag: Tag,
    },
    /// A data object that the format does not define for this template.
    #[error("{what}: unexpected data object {tag}")]
    Unexpected {
        /// The object being read.
        what: &'static str,
        /// The unknown tag.
        tag: Tag,
    },
    /// A data object with a value of the wrong size.
    #[error("{what}: data object {tag} ({name}) has {got} bytes, expected {expected}")]
    BadLength {
        /// The object being read.
        what: &'static str,
        /// The tag.
        tag: Tag,
        /// Its name in docs/payment.md.
        name: &'static str,
        /// The size the format requires, as text ("8", "1 to 15").
        expected: &'static str,
        /// The size found.
        got: usize,
    },
    /// A data object whose value is not valid for its format (a BCD digit above 9, a month 13...).
    #[error("{what}: data object {tag} ({name}) is invalid: {why}")]
    BadValue {
        /// The object being read.
        what: &'static str,
        /// The tag.
        tag: Tag,
        /// Its name in docs/payment.md.
        name: &'static str,
        /// What is wrong.
        why: String,
    },
    /// A value that cannot be encoded (an amount with more than 12 digits, a merchant id of 16 characters).
    #[error("cannot encode {name}: {why}")]
    Unencodable {
        /// The field.
        name: &'static str,
        /// Why not.
        why: String,
    },
    /// A public key that is not a valid key for its algorithm.
    #[error("{what}: the public key is not a valid {algorithm} key")]
    BadKey {
        /// Whose key.
        what: &'static str,
        /// The algorithm it was read as.
        algorithm: &'static str,
    },
    /// A signature that does not verify.
    #[error("{0}")]
    BadSignature(&'static str),
}
