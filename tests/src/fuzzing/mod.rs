//! The bodies of the fuzz targets in `fuzz/` (cargo-fuzz, `make fuzz`), one plain function per
//! target taking the raw input bytes, so that the same code runs under libFuzzer and, on every
//! committed corpus file, in `make test` (`tests/tests/fuzz_corpus.rs`, stable toolchain).
//!
//! They live here, in the test harness crate, because it already depends on every crate of the
//! workspace (the targets reach the card, the policy files and the host's parsers) and adds nothing
//! to the public API of the crates under test; `fuzz/` is its own workspace and cannot hold a
//! library that `make test` builds.
//!
//! Every target checks the same invariants: no panic (a caught applet panic counts too: the
//! fuzzer's panic hook aborts on it), no hang, and where it is cheap a property: parse → encode →
//! parse gives the same value, every card response ends in a status word, a refused command leaves
//! the card's persistent state as it was where the runtime promises it.
//!
//! Structured targets read their input with [`arbitrary`] (`Unstructured::new(data)` and
//! `arbitrary_take_rest`, exactly what `fuzz_target!(|x: T| ..)` does), so corpus files stay valid
//! whichever way they are run.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a fuzz target's oracle is a panic: an unwrap here is an assertion"
)]

mod apdu;
mod applets;
mod card;
mod channels;
mod policy;
mod qr;
mod script;
mod service_data;
mod tlv;

pub use apdu::apdu;
pub use applets::{admin_applet, credit_applet, diag_applet};
pub use card::{runtime, state_file};
pub use channels::runtime_channels;
pub use policy::policy_file;
pub use qr::{issuer as qr_issuer, qr_payload};
pub use script::script;
pub use service_data::service_data;
pub use tlv::tlv;

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target, by the name of its `fuzz/fuzz_targets/<name>.rs` and corpus `fuzz/corpus/<name>/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("apdu", apdu),
    ("tlv", tlv),
    ("runtime", runtime),
    ("runtime_channels", runtime_channels),
    ("state_file", state_file),
    ("diag_applet", diag_applet),
    ("credit_applet", credit_applet),
    ("admin_applet", admin_applet),
    ("service_data", service_data),
    ("qr_payload", qr_payload),
    ("script", script),
    ("policy_file", policy_file),
];

/// The response's status word; panics (the fuzz oracle) unless the response ends in a real one:
/// at least two bytes, SW1 in `61`–`6F` or `90`–`9F` (ISO 7816-4 §5.6), at most 65536 + 2 bytes.
pub(crate) fn status_word(resp: &[u8]) -> u16 {
    assert!(resp.len() >= 2 && resp.len() <= 65_538, "response of {} bytes: {resp:02X?}", resp.len());
    let sw = u16::from_be_bytes([resp[resp.len() - 2], resp[resp.len() - 1]]);
    assert!(matches!(sw >> 8, 0x61..=0x6F | 0x90..=0x9F), "not a status word: {sw:04X} in {resp:02X?}");
    sw
}
