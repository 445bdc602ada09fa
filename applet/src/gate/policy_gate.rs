//! [`PolicyGate`]: the [`ServiceGate`] every card has. It enforces the policy the card stores
//! ([`stored::POLICY`]) with [`check`](super::check), keeps the velocity counters in
//! [`stored::COUNTERS`], and the last decision in RAM for GET DATA `FF60`.
//!
//! - **Loading.** The gate reads the stored policy text at each command and parses it again only
//!   when it differs from the text it parsed last, so a card opened from a state file, and a policy
//!   replaced through the administration applet, are enforced from the next command on, with no
//!   caller having to rebuild anything. A card without a policy gates nothing.
//! - **Security state.** The cardholder PIN counts as verified when the applet's PIN in
//!   [`pin::CARDHOLDER_SLOT`](crate::pin::CARDHOLDER_SLOT) is validated on the command's channel.
//! - **Denial.** The runtime answers the status word; the gate writes nothing persistent, and keeps
//!   the decision (with every reason) in RAM.
//! - **Allowed.** The gate keeps the service's counters after this use; the runtime runs the
//!   applet in its transaction and, if it succeeds, calls [`ServiceGate::record`], which writes the
//!   counters in that same transaction. A failing or torn service changes neither.
//! - **Damaged state.** A stored policy that no longer parses, or damaged counters, fail closed:
//!   every service an applet declares (or the policy binds) is refused with `6F00`, and logged;
//!   other commands run. ([`Card::policy`](crate::Card::policy) says what is wrong.)

use policies::{Counters, DecisionRecord, Policy, SecurityState, ServiceCounters};

use super::hook::{ServiceCall, ServiceGate, SystemMemory, Verdict};
use super::{Gate, ServiceCommand, diagnostic, stored};
use crate::sw::{self, Sw};

/// The policy as last parsed, keyed by the stored text.
enum Loaded {
    /// No policy stored.
    None,
    /// The stored text and its policy.
    Valid { text: Vec<u8>, policy: Box<Policy> },
    /// The stored text, which does not load; why.
    Broken { text: Vec<u8>, why: String },
}

/// The policy gate. See the [module documentation](self).
pub struct PolicyGate {
    loaded: Loaded,
    /// The counters as last decoded, keyed by their stored bytes.
    counters: Option<(Vec<u8>, Counters)>,
    /// From an allowed `check` to its `record`: the service and its counters after this use.
    pending: Option<(String, ServiceCounters)>,
    /// The last decision (RAM: cleared at power-off).
    last: Option<DecisionRecord>,
}

impl Default for PolicyGate {
    fn default() -> Self {
        PolicyGate { loaded: Loaded::None, counters: None, pending: None, last: None }
    }
}

impl std::fmt::Debug for PolicyGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let policy = match &self.loaded {
            Loaded::None => "none",
            Loaded::Valid { .. } => "valid",
            Loaded::Broken { .. } => "broken",
        };
        f.debug_struct("PolicyGate").field("policy", &policy).field("last", &self.last).finish()
    }
}

impl PolicyGate {
    /// Brings the parsed policy up to date with the stored text.
    fn sync_policy(&mut self, system: &SystemMemory<'_>, call: &ServiceCall<'_>) {
        let stored = system.read(stored::POLICY);
        let current = match &self.loaded {
            Loaded::None => None,
            Loaded::Valid { text, .. } | Loaded::Broken { text, .. } => Some(text.as_slice()),
        };
        if stored == current {
            return;
        }
        self.loaded = match stored {
            None => Loaded::None,
            Some(text) => {
                let parsed = std::str::from_utf8(text)
                    .map_err(|_| stored::PolicyLoadError::NotText)
                    .and_then(|t| Policy::parse(t, stored::ORIGIN).map_err(stored::PolicyLoadError::Invalid));
                match parsed {
                    Ok(policy) => Loaded::Valid { text: text.to_vec(), policy: Box::new(policy) },
                    Err(e) => {
                        tracing::error!(
                            "the card's policy does not load; its services are refused: {e} (at {})",
                            call.aid
                        );
                        Loaded::Broken { text: text.to_vec(), why: e.to_string() }
                    }
                }
            }
        };
    }

    /// The last decision, if any (what GET DATA `FF60` answers).
    pub fn last(&self) -> Option<&DecisionRecord> {
        self.last.as_ref()
    }
}

/// Brings the decoded counters (`cache`) up to date with the stored bytes.
fn sync_counters<'c>(
    cache: &'c mut Option<(Vec<u8>, Counters)>,
    system: &SystemMemory<'_>,
) -> Result<&'c Counters, String> {
    let stored = system.read(stored::COUNTERS).unwrap_or_default();
    if cache.as_ref().is_none_or(|(bytes, _)| bytes.as_slice() != stored) {
        let counters = if stored.is_empty() {
            Counters::new()
        } else {
            stored::decode_counters(stored).map_err(|e| e.to_string())?
        };
        *cache = Some((stored.to_vec(), counters));
    }
    cache.as_ref().map(|(_, c)| c).ok_or_else(|| "no counters".to_owned())
}

impl ServiceGate for PolicyGate {
    fn check(&mut self, call: &ServiceCall<'_>, system: &SystemMemory<'_>) -> Result<Verdict, Sw> {
        self.pending = None;
        self.sync_policy(system, call);
        let policy = match &self.loaded {
            Loaded::None => return Ok(Verdict::NotAService),
            Loaded::Broken { why, .. } => {
                if call.declared.is_some() {
                    tracing::error!("refusing service {}: the card's policy does not load: {why}", call.aid);
                    return Err(sw::UNKNOWN);
                }
                return Ok(Verdict::NotAService);
            }
            Loaded::Valid { policy, .. } => policy,
        };
        let command = call.command;
        let Some(service) =
            policy.service_for(call.aid.as_bytes(), command.ins(), command.p1(), command.p2())
        else {
            return Ok(Verdict::NotAService);
        };
        let counters = match sync_counters(&mut self.counters, system) {
            Ok(counters) => counters,
            Err(why) => {
                tracing::error!("refusing service {}: {why}", service.name());
                return Err(sw::UNKNOWN);
            }
        };
        let gate = super::check(
            policy,
            ServiceCommand {
                aid: call.aid.as_bytes(),
                ins: command.ins(),
                p1: command.p1(),
                p2: command.p2(),
                data: command.data(),
            },
            counters,
            SecurityState { pin_verified: call.cardholder_verified() },
        );
        match gate {
            Gate::NotAService => Ok(Verdict::NotAService),
            Gate::Deny { status_word, record } => {
                self.last = Some(record);
                Err(status_word)
            }
            Gate::Allow { service, counters, record, .. } => {
                self.pending = counters.map(|after| (service.name().to_owned(), after));
                self.last = Some(record);
                Ok(Verdict::Allow)
            }
        }
    }

    fn record(&mut self, _call: &ServiceCall<'_>, system: &mut SystemMemory<'_>) -> Result<(), Sw> {
        let Some((service, after)) = self.pending.take() else { return Ok(()) };
        let mut counters = match self.counters.take() {
            Some((_, counters)) => counters,
            None => stored::read_counters(system).map_err(|_| sw::UNKNOWN)?,
        };
        counters.set(&service, after);
        let bytes = stored::encode_counters(&counters);
        let written = system.write(stored::COUNTERS, &bytes);
        // Cached by their bytes: if the transaction is rolled back, the next check sees other bytes
        // stored and decodes those.
        self.counters = Some((bytes, counters));
        written.map_err(|e| e.sw())
    }

    fn last_decision(&self, reply: &mut Vec<u8>) -> Result<(), Sw> {
        let record = self.last.as_ref().ok_or(sw::REFERENCED_DATA_NOT_FOUND)?;
        reply.extend_from_slice(&diagnostic::encode(record));
        Ok(())
    }

    fn power_off(&mut self) {
        self.pending = None;
        self.last = None;
    }
}
