//! The card: a Java Card–style runtime that hosts applets and answers ISO 7816-4 APDUs, and the
//! applets it ships with.
//!
//! Modules, by what a reader looks for:
//! - [`runtime`]: the [`Card`] — applet registry, SELECT, logical channels, command chaining,
//!   GET RESPONSE, power and reset, and the dispatch path with the policy-gate seam;
//! - [`applet`]: the [`Applet`] trait, the [`Context`] an applet works with, [`Service`]s, the
//!   [`Catalog`] of applet classes;
//! - [`store`]: persistent memory, quota, transactions, the tear hook;
//! - [`state`]: the card state file and [`FileCard`] (saved before each answer, locked while open);
//! - [`pin`]: Java Card `OwnerPIN` and the ISO VERIFY / CHANGE REFERENCE DATA / RESET RETRY COUNTER;
//! - [`gate`]: the policy gate: service data from commands, the decision, the last-decision object,
//!   the policy and counters in card state, [`gate::PolicyGate`] (every card runs it), and
//!   [`gate::hook`], the [`ServiceGate`] trait through which the runtime consults it;
//! - [`apdu`], [`aid`], [`atr`]: command APDUs, application identifiers (the one [`Aid`] type,
//!   from `policies`), the answer to reset;
//! - [`apps`]: the applets cardgate ships ([`apps::diag`], the policy administration applet
//!   [`apps::admin`]) and [`apps::catalog`];
//! - [`sw`]: status words and their meanings;
//! - [`tlv`]: strict BER-TLV, shared by the whole workspace;
//! - [`credit`]: the offline credit payment formats the card and the host share;
//! - [`drbg`]: the seeded HMAC_DRBG of insecure test cards (`card init --insecure-seed`).
//!
//! ```
//! use applet::{apps, Card, CardConfig};
//!
//! let mut card = Card::new(CardConfig::default(), apps::catalog()).unwrap();
//! card.install("diag", apps::diag::aid(), &[]).unwrap();
//! card.set_default_applet(Some(apps::diag::aid())).unwrap();
//! // ECHO on the default applet: the data comes back with 9000.
//! assert_eq!(card.process(&[0x80, 0x10, 0x00, 0x00, 0x02, 0xCA, 0xFE, 0x00]), [0xCA, 0xFE, 0x90, 0x00]);
//! ```

pub mod apdu;
pub mod applet;
pub mod apps;
pub mod atr;
pub mod credit;
pub mod drbg;
pub mod gate;
mod key_cache;
pub mod pin;
pub mod runtime;
pub mod state;
pub mod store;
pub mod sw;
pub mod tlv;

pub use apdu::Command;
pub use applet::{Applet, AppletClass, Catalog, Clear, Context, EcdsaFormat, Service};
pub use gate::hook::{ServiceCall, ServiceGate, SystemMemory, Verdict};
pub use policies::aid::{self, Aid};
pub use runtime::{Card, CardConfig, CardStats, InstallError};
pub use state::{FileCard, FormatError, StateError};
