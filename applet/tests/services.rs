//! Services and the policy-gate seam: a declared service runs atomically, the gate is asked before
//! it runs and records after it succeeded, in the same transaction.

// Test helpers: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use applet::sw::{self, Sw};
use applet::{ServiceCall, ServiceGate, SystemMemory, Verdict};
use common::*;

/// System object the test gate reads: `[1]` means "refuse".
const REFUSE: u16 = 1;
/// System object the test gate counts uses in (u32).
const USES: u16 = 2;
/// System object that makes `record` fail.
const FAIL_RECORD: u16 = 3;

/// A gate whose "policy" binds diag INCREMENT (P1 00, which diag also declares) and probe WRITE of
/// object 7 (which probe does not declare); it refuses when told to, and counts the services run.
struct CountingGate {
    checks: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

fn bound(call: &ServiceCall<'_>) -> bool {
    let c = call.command;
    (call.aid == aid(DIAG) && c.ins() == 0x22 && c.p1() == 0)
        || (call.aid == aid(PROBE1) && c.ins() == 0x02 && c.p1() == 7)
}

impl ServiceGate for CountingGate {
    fn check(&mut self, call: &ServiceCall<'_>, system: &SystemMemory<'_>) -> Result<Verdict, Sw> {
        self.checks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if !bound(call) {
            return Ok(Verdict::NotAService);
        }
        if system.read(REFUSE) == Some(&[1]) {
            return Err(sw::CONDITIONS_NOT_SATISFIED);
        }
        Ok(Verdict::Allow)
    }

    fn record(&mut self, call: &ServiceCall<'_>, system: &mut SystemMemory<'_>) -> Result<(), Sw> {
        assert!(bound(call), "record only follows an Allow");
        let n = system.read(USES).map_or(0, |v| u32::from_be_bytes(v.try_into().unwrap_or([0; 4])));
        system.write(USES, &(n + 1).to_be_bytes()).map_err(|e| e.sw())?;
        if system.read(FAIL_RECORD).is_some() {
            return Err(sw::NOT_ENOUGH_MEMORY);
        }
        Ok(())
    }
}

fn uses(card: &applet::Card) -> Option<u32> {
    card.store()
        .read(applet::store::ObjectKey { owner: applet::store::SYSTEM, id: USES })
        .map(|v| u32::from_be_bytes(v.try_into().unwrap()))
}

fn set_system(card: &mut applet::Card, id: u16, value: &[u8]) {
    let key = applet::store::ObjectKey { owner: applet::store::SYSTEM, id };
    card.store_mut().write(key, value, false).unwrap();
}

fn gated_card() -> (applet::Card, std::sync::Arc<std::sync::atomic::AtomicU32>) {
    let mut card = card();
    let checks = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    card.set_gate(Box::new(CountingGate { checks: checks.clone() }));
    (card, checks)
}

#[test]
fn the_gate_is_asked_for_every_command_and_records_only_its_services() {
    let (mut card, checks) = gated_card();
    run(
        &mut card,
        &[
            ("8022000004", "00000001 9000", "INCREMENT P1=00: a bound service"),
            ("8022010004", "00000002 9000", "INCREMENT P1=01: not bound"),
            ("8020000004", "00000001 9000", "READ COUNTER: not bound"),
            ("00A4040C06 A00000099901", "9000", "SELECT is the runtime's: the gate is not asked"),
        ],
    );
    assert_eq!(checks.load(std::sync::atomic::Ordering::SeqCst), 3, "asked for each command an applet got");
    assert_eq!(uses(&card), Some(1), "recorded once, for the service");
}

#[test]
fn the_policy_can_bind_an_instruction_the_applet_does_not_declare() {
    let (mut card, _) = gated_card();
    run(
        &mut card,
        &[
            (&format!("00A4040C06 {PROBE1}"), "9000", "probe 1"),
            ("80020700 02 AAAA", "9000", "WRITE object 7: bound by the gate, allowed"),
            ("80020600 02 AAAA", "9000", "WRITE object 6: not bound"),
        ],
    );
    assert_eq!(uses(&card), Some(1));
    set_system(&mut card, REFUSE, &[1]);
    run(
        &mut card,
        &[
            ("80020700 02 BBBB", "6985", "refused now"),
            ("8003070000", "AAAA 9000", "object 7 was not written"),
            ("80020600 02 BBBB", "9000", "unbound commands are not affected"),
        ],
    );
    assert_eq!(uses(&card), Some(1));
}

#[test]
fn a_refused_service_never_reaches_the_applet_and_changes_nothing() {
    let (mut card, _) = gated_card();
    run(&mut card, &[("8022000004", "00000001 9000", "allowed")]);
    set_system(&mut card, REFUSE, &[1]);
    run(
        &mut card,
        &[
            ("8022000004", "6985", "the gate refuses the service"),
            ("8020000004", "00000001 9000", "the counter did not move"),
        ],
    );
    assert_eq!(uses(&card), Some(1), "and neither did the gate's own write");
}

#[test]
fn a_declared_service_that_fails_is_rolled_back() {
    let (mut card, _) = gated_card();
    run(
        &mut card,
        &[
            (&format!("00A4040C06 {PROBE1}"), "9000", "probe 1"),
            ("80090000 02 AAAA", "9000", "the service writes object 9 and succeeds"),
            ("8003090000", "AAAA 9000", ""),
            ("80090100 02 BBBB", "6985", "the service writes object 9, then fails"),
            ("8003090000", "AAAA 9000", "its write was rolled back: a service fails without a trace"),
        ],
    );
    assert_eq!(uses(&card), None, "the gate binds nothing to probe.svc, so it recorded nothing");
}

#[test]
fn a_failing_record_rolls_back_the_applets_work() {
    let (mut card, _) = gated_card();
    set_system(&mut card, FAIL_RECORD, &[1]);
    run(
        &mut card,
        &[
            ("8022000004", "6A84", "record fails after the applet incremented"),
            ("8020000004", "00000000 9000", "so the increment is rolled back"),
        ],
    );
    assert_eq!(uses(&card), None);
}

#[test]
fn without_a_gate_services_are_still_atomic() {
    let mut card = card();
    run(
        &mut card,
        &[
            (&format!("00A4040C06 {PROBE1}"), "9000", ""),
            ("80090100 02 BBBB", "6985", "the service fails after writing"),
            ("8003090000", "6A88", "object 9 was never created"),
        ],
    );
}
