//! The policy and its velocity counters in the card's persistent state: two objects of the
//! runtime's owner ([`SYSTEM`]), so the state file needs no new format.
//!
//! | object | content |
//! |---|---|
//! | [`POLICY`] (`0100`) | the policy's TOML text, verbatim (UTF-8), as loaded |
//! | [`COUNTERS`] (`0101`) | [`policies::Counters`] as JSON (absent: no use recorded yet) |
//!
//! A policy is checked before it is stored ([`load`]): it must parse, and every binding must lie
//! within a service the bound applet declares: its instruction, and its P1/P2 where the service
//! names one ([`Policy::undeclared_bindings`]).
//! Storing one ([`Card::install_policy`] when a card is made, the policy administration applet
//! later) writes the text and the counters in one transaction; the counters of services the new
//! policy no longer has are dropped ([`Counters::retain_services`]).
//!
//! The gate ([`PolicyGate`](super::policy_gate::PolicyGate)) reads both objects; it writes only
//! the counters, inside each allowed service's transaction.

use policies::{Aid, Binding, Counters, Policy, PolicyErrors, UndeclaredBinding};

use crate::applet::Service;
use crate::gate::hook::SystemMemory;
use crate::runtime::Card;
use crate::store::{ObjectKey, SYSTEM, StoreError, TxOwner};

/// System object holding the policy text.
pub const POLICY: u16 = 0x0100;
/// System object holding the velocity counters.
pub const COUNTERS: u16 = 0x0101;
/// The name the stored text is parsed under (the file it came from is not kept).
pub const ORIGIN: &str = "card policy";

/// Why a policy cannot be (or could not be) loaded into a card.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyLoadError {
    /// The text is not a valid policy; one line per problem (`FILE:LINE:COL: message`).
    #[error("{0}")]
    Invalid(PolicyErrors),
    /// Bindings outside every service the applets on the card declare (INS, and P1/P2 where a
    /// service names them); one line each.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Undeclared(Vec<UndeclaredBinding>),
    /// The stored policy is not UTF-8 text.
    #[error("the stored policy is not UTF-8 text")]
    NotText,
    /// The stored counters cannot be read.
    #[error("the stored velocity counters are damaged: {0}")]
    Counters(String),
    /// Persistent memory refused the write (quota, undo log).
    #[error("persistent memory: {0}")]
    Store(#[from] StoreError),
}

/// Whether `services` (the card's, [`Card::declared_services`]) has the bound applet declaring a
/// service that covers every command the binding matches (its INS, and its P1/P2 where the service
/// names one).
fn declares(services: &[(Aid, Service)], binding: &Binding) -> bool {
    services.iter().any(|(aid, s)| *aid == binding.aid && binding.within(s.ins, s.p1, s.p2))
}

/// Parses `text` (from `origin`, a file name for messages) and checks every binding against the
/// services the card's applets declare.
pub fn load(text: &str, origin: &str, services: &[(Aid, Service)]) -> Result<Policy, PolicyLoadError> {
    let policy = Policy::parse(text, origin).map_err(PolicyLoadError::Invalid)?;
    check_bindings(&policy, services)?;
    Ok(policy)
}

/// Refuses a policy with a binding outside every service the applets in `services` declare.
pub fn check_bindings(policy: &Policy, services: &[(Aid, Service)]) -> Result<(), PolicyLoadError> {
    let undeclared = policy.undeclared_bindings(|binding| declares(services, binding));
    if undeclared.is_empty() { Ok(()) } else { Err(PolicyLoadError::Undeclared(undeclared)) }
}

/// The counters in their stored form.
pub fn encode_counters(counters: &Counters) -> Vec<u8> {
    // Serialising plain data (maps, numbers, strings) to JSON cannot fail.
    serde_json::to_vec(counters).unwrap_or_default()
}

/// The counters from their stored form.
pub fn decode_counters(bytes: &[u8]) -> Result<Counters, PolicyLoadError> {
    serde_json::from_slice(bytes).map_err(|e| PolicyLoadError::Counters(e.to_string()))
}

/// The stored counters (empty when none are stored).
pub(crate) fn read_counters(system: &SystemMemory<'_>) -> Result<Counters, PolicyLoadError> {
    system.read(COUNTERS).map_or_else(|| Ok(Counters::new()), decode_counters)
}

/// Stores `policy` (or removes the policy and its counters, for `None`) in the open transaction:
/// the text verbatim, and the counters without the services the policy no longer has.
pub(crate) fn write(system: &mut SystemMemory<'_>, policy: Option<&Policy>) -> Result<(), PolicyLoadError> {
    let Some(policy) = policy else {
        system.remove(POLICY)?;
        system.remove(COUNTERS)?;
        return Ok(());
    };
    let mut counters = read_counters(system)?;
    counters.retain_services(policy);
    system.write(POLICY, policy.source().as_bytes())?;
    if counters == Counters::new() {
        system.remove(COUNTERS)?;
    } else {
        system.write(COUNTERS, &encode_counters(&counters))?;
    }
    Ok(())
}

impl Card {
    /// The stored policy's text, verbatim, if the card has a policy.
    pub fn policy_text(&self) -> Result<Option<&str>, PolicyLoadError> {
        let Some(bytes) = self.store.read(ObjectKey { owner: SYSTEM, id: POLICY }) else { return Ok(None) };
        std::str::from_utf8(bytes).map(Some).map_err(|_| PolicyLoadError::NotText)
    }

    /// The stored policy, parsed again and checked against the card's applets, as the gate loads
    /// it. `Ok(None)`: the card has no policy and gates nothing.
    pub fn policy(&self) -> Result<Option<Policy>, PolicyLoadError> {
        let Some(text) = self.policy_text()? else { return Ok(None) };
        load(text, ORIGIN, self.declared_services()).map(Some)
    }

    /// The stored velocity counters (all zero when nothing was recorded).
    pub fn counters(&self) -> Result<Counters, PolicyLoadError> {
        self.store
            .read(ObjectKey { owner: SYSTEM, id: COUNTERS })
            .map_or_else(|| Ok(Counters::new()), decode_counters)
    }

    /// Stores `policy` in the card (`None`: removes it), after checking its bindings against the
    /// card's applets. For the issuer making a card (`cardgate card init --policy`): on an issued
    /// card a policy is replaced through the policy administration applet
    /// ([`apps::admin`](crate::apps::admin)), which asks for the admin PIN. All or nothing; call
    /// between commands.
    pub fn install_policy(&mut self, policy: Option<&Policy>) -> Result<(), PolicyLoadError> {
        if let Some(policy) = policy {
            check_bindings(policy, self.declared_services())?;
        }
        self.store.begin(TxOwner::Runtime)?;
        let result = write(&mut SystemMemory { store: &mut self.store }, policy);
        let result = result.and_then(|()| self.store.commit(TxOwner::Runtime).map_err(PolicyLoadError::from));
        if result.is_err() {
            self.store.abort_all_of(TxOwner::Runtime);
        }
        result
    }
}
