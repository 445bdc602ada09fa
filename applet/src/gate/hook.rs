//! How the runtime consults a policy gate (US 11,127,019 B2; issue 3): the [`ServiceGate`] trait.
//! [`check`](super::check) decides; an implementation of this trait holds the policy, reads the
//! counters, and lets the runtime run the decision.
//!
//! Every card has the policy gate [`PolicyGate`](super::policy_gate::PolicyGate) from
//! [`Card::new`](crate::Card::new): it reads the policy the card stores and does nothing while
//! there is none. [`Card::set_gate`](crate::Card::set_gate) replaces it (tests do, with gates of
//! their own). The runtime does this for
//! **every** command it routes to an applet's `process` (`Card::invoke` in `runtime.rs`, the one
//! place where commands reach applets):
//! 1. **[`ServiceGate::check`]**, with read-only access to the runtime's own persistent objects
//!    (owner [`SYSTEM`]: the policy, the counters):
//!    - `Err(sw)`: the service is refused. The card answers `sw`, the applet never sees the
//!      command, nothing persistent changes;
//!    - `Ok(Verdict::NotAService)`: the policy binds nothing to this command; it runs as usual;
//!    - `Ok(Verdict::Allow)`: the service may run;
//! 2. an allowed service, or one the applet declared itself ([`Applet::services`]), runs inside a
//!    transaction the runtime opens (`TxOwner::Runtime`); the applet's own transactions nest
//!    inside it;
//! 3. if the applet returned `Ok(())` and the gate allowed the service, **[`ServiceGate::record`]**
//!    writes the counters (through [`SystemMemory`]) in that same transaction; then the runtime
//!    commits. If the applet fails, or `record` fails, or power is cut, the applet's writes and the
//!    gate's are rolled back together.
//!
//! A panic in the gate is caught and answered `6F00`, like a panic in an applet. The runtime also
//! answers GET DATA `FF60` from the gate ([`ServiceGate::last_decision`]) and tells it when the
//! card loses power ([`ServiceGate::power_off`]).
//!
//! [`Applet::services`]: crate::Applet::services

use policies::Aid;

use crate::apdu::Command;
use crate::applet::Service;
use crate::pin;
use crate::store::{ObjectKey, SYSTEM, Store, StoreError};
use crate::sw::{self, Sw};

/// A command on its way to an applet, as the gate sees it.
#[derive(Debug, Clone, Copy)]
pub struct ServiceCall<'a> {
    /// The AID of the applet the command goes to (the one selected on its channel).
    pub aid: Aid,
    /// The service the applet declared for this command, if any.
    pub declared: Option<&'a Service>,
    /// The complete command (chained parts joined; the data field is the service data).
    pub command: &'a Command<'a>,
    /// The channel's PIN validation bits for this applet (bit n: PIN slot n validated; see
    /// [`OwnerPin::slot`](crate::pin::OwnerPin)).
    pub validated: u32,
}

impl ServiceCall<'_> {
    /// Whether the applet's cardholder PIN ([`pin::CARDHOLDER_SLOT`]) is validated on the
    /// command's channel: the security state a policy's CVM limit asks for.
    pub fn cardholder_verified(&self) -> bool {
        self.validated & (1 << pin::CARDHOLDER_SLOT) != 0
    }
}

/// What the gate says about a command it does not refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No service is bound to this command: dispatch it as usual.
    NotAService,
    /// A bound service, allowed: run it atomically, then call [`ServiceGate::record`].
    Allow,
}

/// The runtime's own persistent objects (owner [`SYSTEM`]): where a gate keeps the policy and its
/// counters. Read-only in [`ServiceGate::check`]; writes in [`ServiceGate::record`] belong to the
/// service's transaction.
#[derive(Debug)]
pub struct SystemMemory<'a> {
    pub(crate) store: &'a mut Store,
}

impl SystemMemory<'_> {
    /// System object `id`.
    pub fn read(&self, id: u16) -> Option<&[u8]> {
        self.store.read(ObjectKey { owner: SYSTEM, id })
    }
    /// Replaces (or creates) system object `id`, inside the service's transaction.
    pub fn write(&mut self, id: u16, data: &[u8]) -> Result<(), StoreError> {
        self.store.write(ObjectKey { owner: SYSTEM, id }, data, false)
    }
    /// Deletes system object `id`, inside the service's transaction.
    pub fn remove(&mut self, id: u16) -> Result<bool, StoreError> {
        self.store.remove(ObjectKey { owner: SYSTEM, id })
    }
}

/// Decides whether a command may run as a service, and records the services that ran. Implemented
/// by the policy engine around [`check`](super::check).
pub trait ServiceGate: Send {
    /// Before the applet sees `call.command`: refuse it (`Err(sw)`), or say whether it is a bound
    /// service. Must not change persistent state (it has read access only).
    fn check(&mut self, call: &ServiceCall<'_>, system: &SystemMemory<'_>) -> Result<Verdict, Sw>;

    /// After a service this gate allowed returned `Ok(())`: update counters, inside the service's
    /// transaction. `Err(sw)` rolls the whole service back and answers `sw`.
    fn record(&mut self, call: &ServiceCall<'_>, system: &mut SystemMemory<'_>) -> Result<(), Sw>;

    /// GET DATA `FF60` (the runtime answers it on any channel, whatever applet is selected):
    /// append the last decision, as [`diagnostic::encode`](super::diagnostic::encode) writes it,
    /// to `reply`. `6A88` when there is none (the default).
    fn last_decision(&self, reply: &mut Vec<u8>) -> Result<(), Sw> {
        let _ = reply;
        Err(sw::REFERENCED_DATA_NOT_FOUND)
    }

    /// The card loses power (power-off, reset, a tear): forget what is kept in RAM.
    fn power_off(&mut self) {}
}
