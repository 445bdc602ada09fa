//! Arbitrary bytes as a card state file: never a panic; whatever loads saves and loads back the same.
#![no_main]

use applet::{Card, apps};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(card) = Card::from_state_bytes(data, apps::catalog()) {
        let bytes = card.to_state_bytes();
        let again = Card::from_state_bytes(&bytes, apps::catalog()).expect("a saved state loads");
        assert_eq!(again.to_state_bytes(), bytes);
    }
});
