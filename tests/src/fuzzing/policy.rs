//! `policy_file`: the TOML policy file parser ([`policies::Policy::parse`]) and what the card does
//! with a policy it accepts.

use applet::apps::{self, CardOptions};
use applet::{Card, gate};
use policies::{SecurityState, ServiceCounters, ServiceData, decide};

/// Any bytes as a policy file (as UTF-8, invalid sequences replaced). Never a panic; a policy that
/// parses keeps its source text, every service in it gets a decision on empty and on full service
/// data, and, when the card takes it ([`Card::install_policy`], bindings checked against the
/// applets of `cardgate card init --admin-pin`), it survives the state file: the card loads back
/// with the same policy text.
pub fn policy_file(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(policy) = policies::Policy::parse(&text, "fuzz.toml") else { return };
    assert_eq!(policy.source(), text);
    let full = service_data::full();
    for service in policy.services() {
        for (data, pin) in [(ServiceData::default(), false), (full, true)] {
            let _ = decide(service, &data, &ServiceCounters::default(), SecurityState { pin_verified: pin });
        }
    }
    let options = CardOptions {
        admin_pin: Some(zeroize::Zeroizing::new(b"87654321".to_vec())),
        ..CardOptions::default()
    };
    let mut card = apps::new_card(&options).unwrap();
    let loaded = gate::stored::load(&text, "fuzz.toml", card.declared_services());
    let installed = card.install_policy(Some(&policy));
    assert_eq!(loaded.is_ok(), installed.is_ok(), "load and install disagree: {loaded:?} / {installed:?}");
    if installed.is_ok() {
        let bytes = card.to_state_bytes();
        let again =
            Card::from_state_bytes(&bytes, apps::catalog()).expect("a card with an accepted policy loads");
        assert_eq!(again.policy_text().unwrap(), Some(&*text));
        assert!(again.policy().unwrap().is_some());
    }
}

mod service_data {
    use policies::ServiceData;

    /// Service data with every field, at 2026-11-28 10:00 UTC.
    pub(super) fn full() -> ServiceData {
        let bytes = [
            0x9F, 0x02, 0x06, 0x00, 0x00, 0x00, 0x00, 0x12, 0x50, // amount 12.50
            0x5F, 0x2A, 0x02, 0x01, 0x56, // CNY
            0x9A, 0x03, 0x26, 0x11, 0x28, 0x9F, 0x21, 0x03, 0x10, 0x00, 0x00, // date, time
            0x9F, 0x15, 0x02, 0x54, 0x11, // MCC 5411
            0xDF, 0x51, 0x08, 0x12, 0x9D, 0x6B, 0x40, 0x44, 0x8B, 0x4A, 0x60, // location
            0xDF, 0x52, 0x01, 0x00, // offline
        ];
        applet::gate::service_data::from_tlv(&bytes).expect("the fixed service data parses")
    }
}
