//! The card: a Java Card–style runtime that hosts applets and answers ISO 7816-4 APDUs, and the
//! applets it ships with.
//!
//! Modules, by what a reader looks for:
//! - [`gate`]: the policy gate: service data from commands, the decision, the last-decision object;
//! - [`sw`]: status words and their meanings;
//! - [`tlv`]: strict BER-TLV, shared by the whole workspace.

pub mod gate;
pub mod sw;
pub mod tlv;
