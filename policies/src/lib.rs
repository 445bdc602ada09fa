//! Per-service security parameters (US 11,127,019 B2): the model, the TOML policy file, and the one
//! decision function the card runtime calls before an applet runs a service.
//!
//! This crate is pure: no I/O beyond parsing a string it is given, and no APDU bytes.
//!
//! - A [`Policy`] ([`Policy::parse`], format in `docs/policies.md`) names [`Service`]s, each bound
//!   to an applet AID and instruction(s) ([`Binding`]) and carrying rules: time ([`TimeRule`] in a
//!   [`Zone`]), location ([`LocationRule`]), amount ([`AmountRule`]), frequency ([`Limit`],
//!   [`OfflineRule`]), payee and terminal ([`PayeeRule`], [`TerminalRule`]), or disabled outright.
//! - [`decide`] takes (service, [`ServiceData`], [`ServiceCounters`], [`SecurityState`]) and gives a
//!   [`Decision`]: allow, allow and go online, or deny with every failed rule as a [`Reason`]
//!   (stable [`ReasonCode`], a sentence, a status word).
//! - [`record_use`] gives the counters after an allowed use, for the runtime to commit atomically
//!   with the service.

pub mod aid;
pub mod amount;
pub mod counters;
pub mod currency;
pub mod data;
pub mod decision;
pub mod file;
pub mod frequency;
pub mod geo;
pub mod location;
pub mod payee;
pub mod policy;
pub mod reason;
pub mod schedule;
pub mod service;

pub use aid::{Aid, AidError};
pub use amount::AmountRule;
pub use counters::{Counters, ServiceCounters, record_use};
pub use currency::{Currency, Money};
pub use data::{Mcc, MerchantId, SecurityState, ServiceData, TerminalId, UtcDateTime};
pub use decision::{Decision, DecisionRecord, Outcome, decide};
pub use file::{PolicyError, PolicyErrors};
pub use frequency::{Limit, OfflineRule, Period};
pub use geo::Point;
pub use location::{FenceAction, Geofence, LocationRule};
pub use payee::{MccRange, PayeeRule, TerminalRule};
pub use policy::{Policy, UndeclaredBinding};
pub use reason::{Reason, ReasonCode, sw};
pub use schedule::{TimeRule, Zone};
pub use service::{Binding, Service};
