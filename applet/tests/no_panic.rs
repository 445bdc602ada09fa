//! Property tests: no byte string, and no sequence of commands, makes the card panic, hang, leave a
//! transaction open, or answer without a status word; the state file reader survives any bytes.

// Test helpers: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use applet::Card;
use common::*;
use proptest::prelude::*;

/// A card without the tripwire (which panics by design when selected).
fn fuzz_card() -> Card {
    let mut card =
        Card::new(applet::CardConfig { quota: 4096, ..applet::CardConfig::default() }, catalog()).unwrap();
    card.install("diag", aid(DIAG), &[]).unwrap();
    card.install("probe", aid(PROBE1), &[]).unwrap();
    card.install("probe", aid(PROBE2), &[]).unwrap();
    card.set_default_applet(Some(aid(DIAG))).unwrap();
    card
}

fn check_response(card: &Card, r: &[u8]) -> Result<(), TestCaseError> {
    prop_assert!(r.len() >= 2, "a response has SW1 SW2");
    let sw1 = r[r.len() - 2];
    prop_assert!(matches!(sw1, 0x61..=0x6F | 0x90..=0x9F), "SW1 {sw1:02X} is a status word");
    prop_assert!(r.len() <= 65_538);
    prop_assert_eq!(card.store().depth(), 0, "no transaction outlives a command");
    prop_assert_eq!(card.stats().applet_panics, 0);
    Ok(())
}

/// Commands that look like what hosts send, so the generator reaches deep paths (channels,
/// chains, GET RESPONSE, PINs, transactions), plus pure noise.
fn command() -> impl Strategy<Value = Vec<u8>> {
    let cla = prop::sample::select(vec![
        0x00u8, 0x01, 0x03, 0x10, 0x11, 0x40, 0x41, 0x4F, 0x50, 0x80, 0x81, 0x90, 0xC1, 0x84, 0x0C, 0xFF,
        0x20,
    ]);
    let ins = prop_oneof![
        prop::sample::select(vec![
            0xA4u8, 0x70, 0xC0, 0x10, 0x12, 0x14, 0x20, 0x22, 0x24, 0x2C, 0x30, 0x32, 0x01, 0x02, 0x03, 0x04,
            0x05, 0x06, 0x07, 0x09, 0x0E, 0x0F
        ]),
        any::<u8>(),
    ];
    let p = prop_oneof![
        Just(0u8),
        Just(0x80),
        Just(0x81),
        Just(0x04),
        Just(0x02),
        Just(0x01),
        Just(0xFF),
        any::<u8>()
    ];
    let data = prop::collection::vec(any::<u8>(), 0..24);
    let body = prop_oneof![
        Just(Vec::new()),
        any::<u8>().prop_map(|le| vec![le]),
        data.clone().prop_map(|d| {
            let mut v = vec![d.len() as u8];
            v.extend(d);
            v
        }),
        (data.clone(), any::<u8>()).prop_map(|(d, le)| {
            let mut v = vec![d.len() as u8];
            v.extend(d);
            v.push(le);
            v
        }),
        (data.clone(), any::<u16>()).prop_map(|(d, le)| {
            let mut v = vec![0, 0, d.len() as u8];
            v.extend(d);
            v.extend(le.to_be_bytes());
            v
        }),
        prop::collection::vec(any::<u8>(), 0..12),
    ];
    let structured = (cla, ins, p.clone(), p, body).prop_map(|(c, i, p1, p2, b)| {
        let mut v = vec![c, i, p1, p2];
        v.extend(b);
        v
    });
    prop_oneof![
        4 => structured,
        1 => prop::collection::vec(any::<u8>(), 0..300),
        1 => Just(h(&format!("00A4040006 {PROBE1} 00"))),
        1 => Just(h(&format!("00A4040006 {PROBE2} 00"))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_get_a_status_word(apdu in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut card = fuzz_card();
        let r = card.process(&apdu);
        check_response(&card, &r)?;
    }

    #[test]
    fn any_session_keeps_the_card_sound(cmds in prop::collection::vec(command(), 1..40), tear in 0u64..30, reset_at in 0usize..40) {
        let mut card = fuzz_card();
        card.store_mut().tear_after(tear);
        for (i, cmd) in cmds.iter().enumerate() {
            if i == reset_at {
                card.reset();
            }
            let r = card.process(cmd);
            check_response(&card, &r)?;
        }
        // Whatever happened, the card's state saves and loads back to the same bytes.
        let bytes = card.to_state_bytes();
        let again = Card::from_state_bytes(&bytes, catalog()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(again.to_state_bytes(), bytes);
        prop_assert!(card.store().used() <= card.store().quota());
    }

    #[test]
    fn the_state_reader_survives_any_bytes(mut bytes in prop::collection::vec(any::<u8>(), 0..400), header in any::<bool>()) {
        if header {
            // Most random inputs fail at the magic; give half of them a valid-looking header.
            let mut with = b"CARDGATE\x00\x01".to_vec();
            with.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            with.append(&mut bytes);
            bytes = with;
        }
        let _ = Card::from_state_bytes(&bytes, catalog());
    }

    #[test]
    fn damaging_any_byte_of_a_state_file_is_detected(pos in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let mut card = fuzz_card();
        card.process(&h("8022000004"));
        let mut bytes = card.to_state_bytes();
        let i = pos.index(bytes.len());
        bytes[i] ^= flip;
        prop_assert!(Card::from_state_bytes(&bytes, catalog()).is_err());
    }
}
