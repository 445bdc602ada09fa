//! Power cut at every persistent write of a command (the tear hook): afterwards the card is always
//! in the state before or after the command, never between, and PIN tries cannot be won back.

// Test helpers: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

/// Write events of a command, counted by running it on a copy of the card.
fn writes_of(setup: impl Fn() -> applet::Card, cmd: &str) -> u64 {
    let mut card = setup();
    card.power_on();
    let before = card.store().writes();
    let _ = card.process(&h(cmd));
    card.store().writes() - before
}

#[test]
fn a_torn_service_leaves_the_counter_before_or_after_never_between() {
    let n = writes_of(card, "8022000004 00000005 04");
    assert!(n >= 3, "write, applet commit, runtime commit: {n}");
    for tear in 1..=n + 1 {
        let mut card = card();
        card.power_on();
        card.store_mut().tear_after(tear);
        let r = card.process(&h("8022000004 00000005 04"));
        let torn = card.last_command_torn();
        assert_eq!(torn, tear <= n, "tear at {tear}");
        assert!(!card.is_powered() || !torn, "a torn card is powered off");
        let value = card.process(&h("8020000004"));
        if torn {
            assert_eq!(r, h("6F00"));
            assert_eq!(value, h("00000000 9000"), "tear at write {tear}: rolled back");
        } else {
            assert_eq!(value, h("00000005 9000"));
        }
    }
}

#[test]
fn a_torn_transaction_over_two_objects_is_all_or_nothing() {
    let setup = || {
        let mut card = card();
        card.process(&h(&format!("00A4040C06 {PROBE1}")));
        card.process(&h("80020100 02 0000"));
        card.process(&h("80020200 02 0000"));
        card
    };
    let n = writes_of(setup, "80100102 02 FFFF");
    for tear in 1..=n {
        let mut card = setup();
        card.store_mut().tear_after(tear);
        card.process(&h("80100102 02 FFFF"));
        assert!(card.last_command_torn());
        card.process(&h(&format!("00A4040C06 {PROBE1}")));
        let a = card.process(&h("8003010000"));
        let b = card.process(&h("8003020000"));
        assert_eq!((a, b), (h("0000 9000"), h("0000 9000")), "tear at {tear} of {n}");
    }
}

#[test]
fn tearing_a_wrong_verify_never_gives_a_try_back() {
    for tear in 1..=3 {
        let mut card = card();
        card.power_on();
        card.store_mut().tear_after(tear);
        let r = card.process(&h("0020008104 39393939"));
        let tries = card.process(&h("00200081"));
        if card.stats().tears == 1 {
            // The card went mute: the host learnt nothing, so an unspent try is no gain.
            assert_eq!(r, h("6F00"));
            assert!(tries == h("63C3") || tries == h("63C2"), "tear at {tear}: {tries:02X?}");
        } else {
            assert_eq!(r, h("63C2"), "the answer came, so the try is spent");
            assert_eq!(tries, h("63C2"));
        }
    }
}

#[test]
fn tearing_a_right_verify_after_the_comparison_costs_a_try() {
    // Write 1 spends the try, write 2 gives it back after a match. Tearing at 2 is what an attacker
    // would do to learn the comparison's outcome (from power consumption) without paying for it.
    let mut card = card();
    card.power_on();
    card.store_mut().tear_after(2);
    let r = card.process(&h("0020008104 31323334"));
    assert_eq!(r, h("6F00"));
    assert!(card.last_command_torn());
    run(&mut card, &[("00200081", "63C2", "the try is spent, and the PIN is not validated")]);
}

#[test]
fn pin_counters_are_not_rolled_back_by_a_service_abort() {
    // A wrong PIN inside nothing: the decrement is non-atomic and stays. Here the try is spent by
    // VERIFY, then a torn service runs; the power-up rollback must not touch the PIN counter.
    let mut card = card();
    run(&mut card, &[("0020008104 39393939", "63C2", "spend one try")]);
    card.store_mut().tear_after(2);
    card.process(&h("8022000004"));
    assert!(card.last_command_torn());
    run(&mut card, &[("00200081", "63C2", "still 2 tries after the rollback")]);
}

#[test]
fn the_next_command_after_a_tear_powers_the_card_up_with_the_default_applet() {
    let mut card = card();
    card.power_on();
    card.store_mut().tear_after(1);
    card.process(&h("8022000004"));
    assert!(!card.is_powered());
    let r = card.process(&h("80100000 01 AA 00"));
    assert_eq!(r, h("AA 9000"));
    assert_eq!(card.stats().tears, 1);
}

/// Objects of the instance number a new install would get (the next after the probes and tripwire).
fn objects_of(card: &applet::Card, owner: u16) -> Vec<u16> {
    card.store().list().filter(|(k, _, _)| k.owner == owner).map(|(k, _, _)| k.id).collect()
}

#[test]
fn a_torn_install_leaves_no_object_behind_not_even_its_pin_counters() {
    // Regression (tearing campaign): the wallet's install writes its PIN and PUK outside the
    // transaction (try counters are non-atomic); a tear after them used to leave both as orphans.
    let params = applet::apps::diag::install_params(b"1234", b"12345678", 3, 5);
    let owner = 5; // diag, two probes and the tripwire are 1 to 4
    let mut n = 0;
    loop {
        n += 1;
        let mut card = card();
        let used = card.store().used();
        card.store_mut().tear_after(n);
        match card.install("credit", aid("A0000008580101"), &params) {
            Ok(()) => break,
            Err(e) => {
                card.power_on();
                assert_eq!(objects_of(&card, owner), Vec::<u16>::new(), "tear at write {n}: {e}");
                assert_eq!(card.store().used(), used, "tear at write {n}: the quota is given back");
                card.install("credit", aid("A0000008580101"), &params).unwrap();
                assert!(card.applets().any(|(_, class)| class == "credit"));
            }
        }
    }
    assert!(n > 3, "PIN, PUK, state, counter, commit: the loop tore them all ({n})");
}

#[test]
fn a_refused_install_leaves_no_object_behind() {
    // The PIN is valid and written; the PUK's try limit (0) is not, so install refuses after it.
    let params = applet::apps::diag::install_params(b"1234", b"12345678", 3, 0);
    let mut card = card();
    let used = card.store().used();
    assert!(card.install("credit", aid("A0000008580101"), &params).is_err());
    assert_eq!(objects_of(&card, 5), Vec::<u16>::new());
    assert_eq!(card.store().used(), used);
}
