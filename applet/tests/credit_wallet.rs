//! The credit wallet applet, APDU by APDU, on an in-process card made as `cardgate card init` makes
//! it: personalization, the card's own checks of what it stores, GENERATE PAYMENT CODE with real
//! signatures checked by the host-side format code, refusals with their status words, tearing, and
//! arbitrary commands.

// Test helpers: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use applet::apps::{self, CardOptions};
use applet::credit::code::token_signed_message;
use applet::credit::presentation::verify_presentation;
use applet::credit::{
    CreditPaymentCode, CreditToken, IssuerPublicKey, KeyAlgorithm, Money, Payees, Presentation, emv, tags,
};
use applet::tlv::{self, Tag, Writer};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair};
use proptest::prelude::*;

const NOW: u32 = 1_795_860_000; // 2026-11-28T10:00:00Z

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

fn card() -> applet::Card {
    let mut card = apps::new_card(&CardOptions::default()).unwrap();
    card.power_on();
    card
}

/// Sends a command; returns (data, status word).
fn send(card: &mut applet::Card, apdu: &[u8]) -> (Vec<u8>, u16) {
    let r = card.process(apdu);
    let n = r.len();
    (r[..n - 2].to_vec(), u16::from_be_bytes([r[n - 2], r[n - 1]]))
}

fn cmd(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8]) -> Vec<u8> {
    applet::credit::apdu::command(cla, ins, p1, p2, data, Some(0))
}

fn select(card: &mut applet::Card) -> Vec<u8> {
    let (fci, sw) = send(card, &cmd(0x00, 0xA4, 0x04, 0x00, &applet::credit::AID));
    assert_eq!(sw, 0x9000);
    fci
}

fn issuer() -> (EcdsaKeyPair, IssuerPublicKey) {
    let pair = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let key =
        IssuerPublicKey::new(KeyAlgorithm::EcdsaP256Sha256, pair.public_key().as_ref().to_vec()).unwrap();
    (pair, key)
}

fn code_for(card_key: [u8; 33], pair: &EcdsaKeyPair, key: &IssuerPublicKey) -> CreditPaymentCode {
    let token = CreditToken {
        token_id: [0x11; 8],
        generated_at: NOW,
        valid_for: 3600,
        allowed_uses: 5,
        threshold: Money { minor: 20_000, currency: 156 },
        payees: Payees::default(),
        random: [0x22; 8],
        card_public_key: card_key,
        issuer_key_id: key.key_id,
        encrypted_identity: [0x33; 57],
    };
    let tlv = token.encode().unwrap();
    let sig = pair.sign(&SystemRandom::new(), &token_signed_message(&tlv)).unwrap();
    CreditPaymentCode::assemble(tlv, sig.as_ref().to_vec()).unwrap()
}

fn generate_key(card: &mut applet::Card, p1: u8) -> ([u8; 33], u16) {
    let (data, sw) = send(card, &cmd(0x00, 0x46, p1, 0x00, &[]));
    if sw != 0x9000 {
        return ([0; 33], sw);
    }
    let t = tlv::parse_single(&data).unwrap();
    assert_eq!(t.tag, tags::CARD_PUBLIC_KEY);
    (t.value.try_into().unwrap(), sw)
}

fn put(card: &mut applet::Card, tag: Tag, data: &[u8]) -> u16 {
    let (p1, p2) = applet::credit::apdu::p1p2(tag);
    send(card, &applet::credit::apdu::command(0x00, 0xDA, p1, p2, data, None)).1
}

fn state(card: &mut applet::Card) -> (u8, u16) {
    let (data, sw) = send(card, &cmd(0x00, 0xCA, 0x00, 0xE7, &[]));
    assert_eq!(sw, 0x9000);
    let v = tlv::parse_single(&data).unwrap().value;
    let s = tlv::find(v, tags::WALLET_STATE).unwrap().unwrap()[0];
    let c = tlv::find(v, tags::COUNTER).unwrap().unwrap();
    (s, u16::from_be_bytes([c[0], c[1]]))
}

/// A personalized wallet: its key, the issuer, the code.
fn personalized() -> (applet::Card, CreditPaymentCode) {
    let mut card = card();
    select(&mut card);
    let (key, _) = generate_key(&mut card, 0);
    let (pair, issuer) = issuer();
    assert_eq!(put(&mut card, tags::ISSUER_KEY, &issuer.encode()), 0x9000);
    let code = code_for(key, &pair, &issuer);
    assert_eq!(put(&mut card, tags::PAYMENT_CODE, &code.encoded), 0x9000);
    (card, code)
}

fn service_data(at: u32, amount: Option<u64>, un: [u8; 4]) -> Vec<u8> {
    let (date, time) = emv::emv_date_time(at).unwrap();
    let mut w = Writer::new();
    if let Some(a) = amount {
        w.primitive(tags::AMOUNT, &emv::amount_n12(a).unwrap());
        w.primitive(tags::CURRENCY, &emv::currency_n3(156).unwrap());
    }
    w.primitive(tags::DATE, &date);
    w.primitive(tags::TIME, &time);
    w.primitive(tags::UNPREDICTABLE_NUMBER, &un);
    w.into_bytes()
}

fn generate(card: &mut applet::Card, data: &[u8]) -> (Vec<u8>, u16) {
    send(card, &cmd(0x80, 0x50, 0x00, 0x00, data))
}

#[test]
fn personalization_then_signed_presentations_with_a_counter() {
    let mut card = card();
    let fci = select(&mut card);
    assert!(fci.windows(15).any(|w| w == b"CARDGATE CREDIT"), "label in the FCI");
    assert_eq!(state(&mut card), (0x01, 0), "empty");
    assert_eq!(send(&mut card, &cmd(0x00, 0xCA, 0xDF, 0x26, &[])).1, 0x6A88, "no key yet");

    let (key, sw) = generate_key(&mut card, 0);
    assert_eq!(sw, 0x9000);
    assert!(applet::credit::keys::is_valid_card_key(&key));
    let (again, _) = send(&mut card, &cmd(0x00, 0xCA, 0xDF, 0x26, &[]));
    assert_eq!(tlv::parse_single(&again).unwrap().value, key, "GET DATA DF26 answers the same key");
    assert_eq!(state(&mut card).0, 0x02);

    let (pair, issuer) = issuer();
    let code = code_for(key, &pair, &issuer);
    assert_eq!(put(&mut card, tags::PAYMENT_CODE, &code.encoded), 0x6985, "no issuer key to check it with");
    assert_eq!(put(&mut card, tags::ISSUER_KEY, b"\xE6\x03\x01\x02\x03"), 0x6A80);
    assert_eq!(put(&mut card, tags::ISSUER_KEY, &issuer.encode()), 0x9000);
    // A code for another card's key, and one signed by another issuer: refused, state unchanged.
    let other_card = {
        let k = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let c: aws_lc_rs::encoding::EcPublicKeyCompressedBin =
            aws_lc_rs::encoding::AsBigEndian::as_be_bytes(k.public_key()).unwrap();
        <[u8; 33]>::try_from(c.as_ref()).unwrap()
    };
    assert_eq!(put(&mut card, tags::PAYMENT_CODE, &code_for(other_card, &pair, &issuer).encoded), 0x6A80);
    let (thief, _) = self::issuer();
    let forged = code_for(key, &thief, &issuer);
    assert_eq!(put(&mut card, tags::PAYMENT_CODE, &forged.encoded), 0x6982);
    assert_eq!(put(&mut card, tags::PAYMENT_CODE, b"\xE2\x01\x00"), 0x6A80);
    assert_eq!(state(&mut card).0, 0x02);
    assert_eq!(put(&mut card, tags::PAYMENT_CODE, &code.encoded), 0x9000);
    assert_eq!(state(&mut card), (0x03, 0));
    let (stored, _) = send(&mut card, &cmd(0x00, 0xCA, 0x00, 0xE2, &[]));
    assert_eq!(stored, code.encoded);
    let (stored_key, _) = send(&mut card, &cmd(0x00, 0xCA, 0x00, 0xE6, &[]));
    assert_eq!(IssuerPublicKey::decode(&stored_key).unwrap(), issuer);

    for (n, amount) in [(1u16, None), (2, Some(1250))] {
        let un = [n as u8, 2, 3, 4];
        let (r, sw) = generate(&mut card, &service_data(NOW + 60, amount, un));
        assert_eq!(sw, 0x9000);
        let parts = applet::credit::raw_children(&r).unwrap();
        assert_eq!(parts.len(), 2);
        let p = Presentation::decode(parts[0].1).unwrap();
        assert_eq!(p.counter, n);
        assert_eq!(p.unpredictable_number, un);
        assert_eq!(p.unix_time().unwrap(), NOW + 60);
        assert_eq!(p.amount, amount.map(|minor| Money { minor, currency: 156 }));
        let sig = tlv::parse_single(parts[1].1).unwrap();
        assert_eq!(sig.tag, tags::CARD_SIGNATURE);
        verify_presentation(&key, parts[0].1, &code.hash(), sig.value).unwrap();
    }
    assert_eq!(send(&mut card, &cmd(0x00, 0xCA, 0x9F, 0x36, &[])), (h("9F3602 0002"), 0x9000));
}

#[test]
fn the_card_refuses_what_its_token_does_not_allow_and_counts_nothing() {
    let (mut card, _) = personalized();
    let un = [9, 9, 9, 9];
    // Before the token was generated, and after it expired.
    assert_eq!(generate(&mut card, &service_data(NOW - 10, None, un)).1, 0x6985);
    assert_eq!(generate(&mut card, &service_data(NOW + 3601, None, un)).1, 0x6985);
    // Above the threshold (200.00), zero, another currency.
    assert_eq!(generate(&mut card, &service_data(NOW, Some(20_001), un)).1, 0x6985);
    assert_eq!(generate(&mut card, &service_data(NOW, Some(0), un)).1, 0x6985);
    let mut eur = service_data(NOW, None, un);
    let mut w = Writer::new();
    w.primitive(tags::AMOUNT, &emv::amount_n12(100).unwrap());
    w.primitive(tags::CURRENCY, &emv::currency_n3(978).unwrap());
    eur.extend_from_slice(w.as_bytes());
    assert_eq!(generate(&mut card, &eur).1, 0x6985);
    // Missing or malformed service data.
    let (date, time) = emv::emv_date_time(NOW).unwrap();
    let mut no_un = Writer::new();
    no_un.primitive(tags::DATE, &date).primitive(tags::TIME, &time);
    assert_eq!(generate(&mut card, no_un.as_bytes()).1, 0x6A80, "no unpredictable number");
    let mut no_time = Writer::new();
    no_time.primitive(tags::UNPREDICTABLE_NUMBER, &un);
    assert_eq!(generate(&mut card, no_time.as_bytes()).1, 0x6A80, "no time");
    assert_eq!(generate(&mut card, &h("9A03 261328 9F2103 100000 9F3704 01020304")).1, 0x6A80, "month 13");
    assert_eq!(generate(&mut card, &h("9A 05 0102")).1, 0x6A80, "not TLV");
    assert_eq!(send(&mut card, &cmd(0x80, 0x50, 0x01, 0x00, &service_data(NOW, None, un))).1, 0x6A86);
    assert_eq!(state(&mut card), (0x03, 0), "no refusal moved the counter");
    assert_eq!(generate(&mut card, &service_data(NOW, None, un)).1, 0x9000);
    assert_eq!(state(&mut card).1, 1);
}

#[test]
fn seeded_cards_make_the_same_wallet_key_and_say_they_are_insecure() {
    let seeded = |seed: &[u8]| {
        let options = CardOptions { insecure_seed: Some(seed.to_vec().into()), ..CardOptions::default() };
        let mut card = apps::new_card(&options).unwrap();
        card.power_on();
        select(&mut card);
        card
    };
    let status_flag = |card: &mut applet::Card| {
        let (data, sw) = send(card, &cmd(0x00, 0xCA, 0x00, 0xE7, &[]));
        assert_eq!(sw, 0x9000);
        let value = tlv::parse_single(&data).unwrap().value.to_vec();
        tlv::find(&value, tags::INSECURE_TEST_CARD).unwrap().map(<[u8]>::to_vec)
    };
    let (mut a, mut b, mut c) = (seeded(b"S"), seeded(b"S"), seeded(b"T"));
    let ka = generate_key(&mut a, 0).0;
    assert_eq!(ka, generate_key(&mut b, 0).0, "one seed, one key");
    assert_ne!(ka, generate_key(&mut c, 0).0, "another seed, another key");
    // A code issued for A's key is one B accepts: that is what lets an issuance replay.
    let (pair, key) = issuer();
    let code = code_for(ka, &pair, &key);
    for card in [&mut a, &mut b] {
        assert_eq!(put(card, tags::ISSUER_KEY, &key.encode()), 0x9000);
        assert_eq!(put(card, tags::PAYMENT_CODE, &code.encoded), 0x9000);
        assert_eq!(status_flag(card), Some(vec![0x01]), "E7 says: insecure test card");
    }
    assert_eq!(put(&mut c, tags::ISSUER_KEY, &key.encode()), 0x9000);
    assert_eq!(put(&mut c, tags::PAYMENT_CODE, &code.encoded), 0x6A80, "not C's key");
    let mut normal = card();
    select(&mut normal);
    assert_eq!(status_flag(&mut normal), None, "a normal card says nothing");
    assert_ne!(generate_key(&mut normal, 0).0, ka);
}

#[test]
fn an_active_wallet_changes_only_with_the_cardholder_pin() {
    let (mut card, code) = personalized();
    assert_eq!(generate_key(&mut card, 0).1, 0x6985, "no silent key replacement");
    assert_eq!(generate_key(&mut card, 1).1, 0x6982, "replacement needs the PIN");
    assert_eq!(put(&mut card, tags::PAYMENT_CODE, &code.encoded), 0x6982, "re-issuance needs the PIN");
    assert_eq!(send(&mut card, &cmd(0x00, 0x20, 0x00, 0x81, b"0000")).1, 0x63C2);
    assert_eq!(send(&mut card, &cmd(0x00, 0x20, 0x00, 0x81, b"1234")).1, 0x9000);
    // The PIN is cleared on deselect: another applet selected in between, the wallet forgets it.
    assert_eq!(send(&mut card, &cmd(0x00, 0xA4, 0x04, 0x00, &apps::diag::AID)).1, 0x9000);
    select(&mut card);
    assert_eq!(put(&mut card, tags::PAYMENT_CODE, &code.encoded), 0x6982);
    assert_eq!(send(&mut card, &cmd(0x00, 0x20, 0x00, 0x81, b"1234")).1, 0x9000);
    assert_eq!(put(&mut card, tags::PAYMENT_CODE, &code.encoded), 0x9000, "same code again, with the PIN");
    let (new_key, sw) = generate_key(&mut card, 1);
    assert_eq!(sw, 0x9000);
    assert_ne!(new_key, code.token.card_public_key);
    assert_eq!(state(&mut card).0, 0x02, "back to key generated: the old code names the old key");
    assert_eq!(send(&mut card, &cmd(0x00, 0xCA, 0x00, 0xE2, &[])).1, 0x6A88);
    assert_eq!(generate(&mut card, &service_data(NOW, None, [1; 4])).1, 0x6985, "nothing to present");
    assert_eq!(generate_key(&mut card, 1).1, 0x6A86, "P1 01 is only for an active wallet");
}

#[test]
fn a_torn_payment_leaves_the_counter_before_or_after() {
    let (card0, _) = personalized();
    // The same card again and again: its saved state, powered up afresh (the wallet stays selected
    // only if selected again).
    let saved = card0.to_state_bytes();
    let fresh = || {
        let mut c = applet::Card::from_state_bytes(&saved, apps::catalog()).unwrap();
        c.power_on();
        select(&mut c);
        c
    };
    let data = service_data(NOW, Some(500), [5; 4]);
    let apdu = cmd(0x80, 0x50, 0x00, 0x00, &data);
    let writes = {
        let mut c = fresh();
        let before = c.store().writes();
        assert_eq!(send(&mut c, &apdu).1, 0x9000);
        c.store().writes() - before
    };
    assert!(writes >= 1);
    for tear in 1..=writes + 1 {
        let mut c = fresh();
        c.store_mut().tear_after(tear);
        let (_, sw) = send(&mut c, &apdu);
        let torn = c.last_command_torn();
        c.power_on();
        select(&mut c);
        let counter = state(&mut c).1;
        if torn {
            assert_eq!(sw, 0x6F00);
            assert_eq!(counter, 0, "tear at write {tear}: rolled back");
        } else {
            assert_eq!(counter, 1);
        }
    }
}

proptest! {
    #[test]
    fn any_command_to_the_wallet_gets_a_status_word(
        cla in prop::sample::select(vec![0x00u8, 0x80, 0x84, 0x10, 0x90]),
        ins in any::<u8>(),
        p1 in any::<u8>(),
        p2 in any::<u8>(),
        data in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let (mut card, _) = personalized();
        let r = card.process(&applet::credit::apdu::command(cla, ins, p1, p2, &data, Some(0)));
        prop_assert!(r.len() >= 2);
    }
}
