//! The seam for per-service security parameters (US 11,127,019 B2; issue 3): a [`ServiceGate`] the
//! runtime consults before an applet runs one of its declared [`Service`]s.
//!
//! The runtime does this, in `Card::run_service` (`runtime.rs`), for every command that matches a
//! service of the selected applet:
//! 1. opens a transaction of its own (`TxOwner::Runtime`);
//! 2. **[`ServiceGate::check`]**: the gate reads the policy and counters from the card's
//!    [`SYSTEM`](crate::store::SYSTEM) objects and either lets the service run or returns a status
//!    word. On refusal the transaction is rolled back and the applet never sees the command;
//! 3. the applet's `process` runs (its own transaction nests inside);
//! 4. if `process` returned `Ok(())`, **[`ServiceGate::record`]** updates the velocity counters in
//!    the same transaction, then the runtime commits. Otherwise, or if `record` fails, everything
//!    the service and the gate wrote is rolled back together.
//!
//! With no gate installed, services still run atomically (steps 1, 3 and 4 without the gate).

use crate::aid::Aid;
use crate::apdu::Command;
use crate::applet::Service;
use crate::store::{ObjectKey, SYSTEM, Store, StoreError};
use crate::sw::Sw;

/// One service about to run (or just run).
#[derive(Debug, Clone, Copy)]
pub struct ServiceCall<'a> {
    /// The applet instance.
    pub aid: Aid,
    /// The service, as the applet declared it.
    pub service: &'a Service,
    /// The complete command (chains joined).
    pub command: &'a Command<'a>,
    /// The channel's PIN validation bits for this applet (bit n: slot n validated).
    pub validated: u32,
}

/// The runtime's own persistent objects (owner [`SYSTEM`]), for a gate: the policy, counters.
/// Writes are part of the service's transaction.
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
    /// Deletes system object `id`.
    pub fn remove(&mut self, id: u16) -> Result<bool, StoreError> {
        self.store.remove(ObjectKey { owner: SYSTEM, id })
    }
}

/// Decides whether a service may run, and records that it ran. Implemented by the policy engine.
pub trait ServiceGate: Send {
    /// Before the applet runs: `Err(sw)` refuses the service with `sw`, and nothing changes.
    fn check(&mut self, call: &ServiceCall<'_>, system: &mut SystemMemory<'_>) -> Result<(), Sw>;

    /// After the applet returned `Ok(())`: update counters. `Err(sw)` rolls the whole service back
    /// and answers `sw`.
    fn record(&mut self, call: &ServiceCall<'_>, system: &mut SystemMemory<'_>) -> Result<(), Sw>;
}
