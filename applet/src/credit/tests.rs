//! Round trips, strict decoding and signatures of the credit formats.

use aws_lc_rs::encoding::{AsBigEndian, EcPublicKeyCompressedBin};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair};
use proptest::prelude::*;

use super::code::token_signed_message;
use super::presentation::{presentation_signed_message, verify_presentation};
use super::*;
use crate::tlv::{Tag, Writer};

fn card_key() -> (EcdsaKeyPair, [u8; 33]) {
    let pair = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let compressed: EcPublicKeyCompressedBin = pair.public_key().as_be_bytes().unwrap();
    (pair, compressed.as_ref().try_into().unwrap())
}

fn issuer() -> (EcdsaKeyPair, IssuerPublicKey) {
    let pair = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let key =
        IssuerPublicKey::new(KeyAlgorithm::EcdsaP256Sha256, pair.public_key().as_ref().to_vec()).unwrap();
    (pair, key)
}

fn token(card: [u8; 33], key_id: KeyId) -> CreditToken {
    CreditToken {
        token_id: [1, 2, 3, 4, 5, 6, 7, 8],
        generated_at: 1_795_860_000,
        valid_for: 86_400,
        allowed_uses: 5,
        threshold: Money { minor: 50_000, currency: 156 },
        payees: Payees { merchant_ids: vec!["SHOP-A".into(), "SHOP-B".into()], categories: vec![5411] },
        random: [9; 8],
        card_public_key: card,
        issuer_key_id: key_id,
        encrypted_identity: [0x5A; token::ENCRYPTED_IDENTITY_LEN],
    }
}

fn signed_code(issuer_pair: &EcdsaKeyPair, t: &CreditToken) -> CreditPaymentCode {
    let tlv = t.encode().unwrap();
    let sig = issuer_pair.sign(&SystemRandom::new(), &token_signed_message(&tlv)).unwrap();
    CreditPaymentCode::assemble(tlv, sig.as_ref().to_vec()).unwrap()
}

/// The example token of docs/payment.md ("Example"), field by field.
const EXAMPLE_TOKEN_HEX: &str = "
    E1 81 C9
       DF20 08 0102030405060708
       DF21 04 6B0AA620
       DF22 04 00015180
       DF23 02 0005
       DF24 06 000000050000
       5F2A 02 0156
       E5 29 9F16 0F 53484F502D41202020202020202020
             9F16 0F 53484F502D42202020202020202020
             9F15 02 5411
       DF25 08 0909090909090909
       DF26 21 02 0000000000000000000000000000000000000000000000000000000000000000
       DF27 04 AABBCCDD
       DF28 39 5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A
               5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A";

#[test]
fn a_token_encodes_to_the_documented_bytes() {
    let mut t = token([0; 33], [0xAA, 0xBB, 0xCC, 0xDD]);
    t.card_public_key[0] = 0x02;
    let want: String = EXAMPLE_TOKEN_HEX.split_whitespace().collect();
    let got: String = t.encode().unwrap().iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(got, want);
}

#[test]
fn token_round_trips_and_signature_verifies() {
    let (card, card_pub) = card_key();
    let (issuer_pair, issuer_pub) = issuer();
    let t = token(card_pub, issuer_pub.key_id);
    let code = signed_code(&issuer_pair, &t);
    assert_eq!(code.token, t);
    code.verify(&issuer_pub).unwrap();
    let reread = CreditPaymentCode::decode(&code.encoded).unwrap();
    assert_eq!(reread, code);

    let p = Presentation {
        counter: 7,
        date: [0x26, 0x11, 0x28],
        time: [0x10, 0x00, 0x05],
        unpredictable_number: [1, 2, 3, 4],
        amount: Some(Money { minor: 1250, currency: 156 }),
    };
    let ptlv = p.encode().unwrap();
    assert_eq!(Presentation::decode(&ptlv).unwrap(), p);
    assert_eq!(p.unix_time().unwrap(), 1_795_860_005);
    let sig = card.sign(&SystemRandom::new(), &presentation_signed_message(&ptlv, &code.hash())).unwrap();
    verify_presentation(&code.token.card_public_key, &ptlv, &code.hash(), sig.as_ref()).unwrap();

    // The card's signature binds the code: a presentation moved onto another code fails.
    let other = signed_code(&issuer_pair, &CreditToken { token_id: [0xEE; 8], ..t.clone() });
    assert!(verify_presentation(&card_pub, &ptlv, &other.hash(), sig.as_ref()).is_err());
}

#[test]
fn any_flipped_bit_in_a_signed_token_is_caught() {
    let (_, card_pub) = card_key();
    let (issuer_pair, issuer_pub) = issuer();
    let code = signed_code(&issuer_pair, &token(card_pub, issuer_pub.key_id));
    for i in 0..code.encoded.len() {
        let mut bytes = code.encoded.clone();
        bytes[i] ^= 0x10;
        let ok = CreditPaymentCode::decode(&bytes).and_then(|c| c.verify(&issuer_pub));
        assert!(ok.is_err(), "flipping a bit of byte {i} went unnoticed");
    }
}

#[test]
fn another_issuer_key_is_refused_by_id_and_by_signature() {
    let (_, card_pub) = card_key();
    let (issuer_pair, issuer_pub) = issuer();
    let (_, other) = issuer();
    let code = signed_code(&issuer_pair, &token(card_pub, issuer_pub.key_id));
    assert_eq!(code.verify(&other), Err(CreditError::BadSignature("the token names another issuer key")));
    let forged = IssuerPublicKey { key_id: issuer_pub.key_id, ..other };
    assert_eq!(
        code.verify(&forged),
        Err(CreditError::BadSignature("the issuer's signature does not verify"))
    );
}

#[test]
fn strict_decoding_names_what_is_wrong() {
    let (_, card_pub) = card_key();
    let t = token(card_pub, [1, 2, 3, 4]);
    let bytes = t.encode().unwrap();
    // Remove the token id: the first child of E1.
    let mut w = Writer::new();
    w.primitive(tags::TOKEN, &bytes[3 + 11..]);
    assert!(matches!(
        CreditToken::decode(w.as_bytes()),
        Err(CreditError::Missing { tag: tags::TOKEN_ID, .. })
    ));
    // Append an unknown object, then a duplicate one.
    for (extra, want_unexpected) in [(Tag(0xDF3F), true), (tags::TOKEN_RANDOM, false)] {
        let mut inner = bytes[3..].to_vec();
        let mut x = Writer::new();
        x.primitive(extra, &[0; 8]);
        inner.extend_from_slice(x.as_bytes());
        let mut w = Writer::new();
        w.primitive(tags::TOKEN, &inner);
        let err = CreditToken::decode(w.as_bytes()).unwrap_err();
        if want_unexpected {
            assert_eq!(err, CreditError::Unexpected { what: "credit token", tag: extra });
        } else {
            assert_eq!(err, CreditError::Duplicate { what: "credit token", tag: extra });
        }
    }
    // A card key that is not in compressed form.
    let mut bad = t.clone();
    bad.card_public_key = [0x04; 33];
    assert!(matches!(
        CreditToken::decode(&bad.encode().unwrap()),
        Err(CreditError::BadValue { tag: tags::CARD_PUBLIC_KEY, .. })
    ));
    // A compressed form that is not a point: decodes, and no signature can verify with it.
    let mut bad = t.clone();
    bad.card_public_key = [0x02; 33];
    bad.card_public_key[1..].fill(0xFF);
    let decoded = CreditToken::decode(&bad.encode().unwrap()).unwrap();
    assert!(!keys::is_valid_card_key(&decoded.card_public_key));
    assert_eq!(
        verify_presentation(&decoded.card_public_key, b"E3", &[0; 32], &[0; 64]),
        Err(CreditError::BadSignature("the card's signature does not verify"))
    );
    // A presentation with an amount but no currency.
    let mut w = Writer::new();
    w.constructed(tags::PRESENTATION, |w| {
        w.primitive(tags::COUNTER, &[0, 1]);
        w.primitive(tags::DATE, &[0x26, 0x11, 0x28]);
        w.primitive(tags::TIME, &[0x10, 0, 0]);
        w.primitive(tags::UNPREDICTABLE_NUMBER, &[0; 4]);
        w.primitive(tags::AMOUNT, &[0, 0, 0, 0, 0x12, 0x50]);
    });
    assert!(matches!(
        Presentation::decode(w.as_bytes()),
        Err(CreditError::Missing { tag: tags::CURRENCY, .. })
    ));
    // Garbage is a TLV error, not a panic.
    assert!(matches!(CreditPaymentCode::decode(&[0xE2, 0x05, 0x01]), Err(CreditError::Tlv { .. })));
}

#[test]
fn issuer_keys_round_trip_and_ids_are_checked() {
    let (_, key) = issuer();
    assert_eq!(IssuerPublicKey::decode(&key.encode()).unwrap(), key);
    let wrong_id = IssuerPublicKey { key_id: [0; 4], ..key.clone() };
    assert!(matches!(IssuerPublicKey::decode(&wrong_id.encode()), Err(CreditError::BadKey { .. })));
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let rsa_pub =
        IssuerPublicKey::new(KeyAlgorithm::Rsa2048Sha256, rsa.public_key().as_ref().to_vec()).unwrap();
    assert_eq!(IssuerPublicKey::decode(&rsa_pub.encode()).unwrap(), rsa_pub);
    assert!(IssuerPublicKey::new(KeyAlgorithm::Rsa2048Sha256, key.public_key.clone()).is_err());
}

#[test]
fn rsa_issuer_signatures_verify() {
    let (_, card_pub) = card_key();
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let key = IssuerPublicKey::new(KeyAlgorithm::Rsa2048Sha256, rsa.public_key().as_ref().to_vec()).unwrap();
    let tlv = token(card_pub, key.key_id).encode().unwrap();
    let mut sig = vec![0; rsa.public_modulus_len()];
    rsa.sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), &token_signed_message(&tlv), &mut sig)
        .unwrap();
    let code = CreditPaymentCode::assemble(tlv, sig).unwrap();
    code.verify(&key).unwrap();
}

proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = CreditPaymentCode::decode(&bytes);
        let _ = CreditToken::decode(&bytes);
        let _ = Presentation::decode(&bytes);
        let _ = IssuerPublicKey::decode(&bytes);
    }

    #[test]
    fn tokens_round_trip(
        uses in any::<u16>(),
        valid_for in any::<u32>(),
        minor in 0u64..=emv::MAX_AMOUNT,
        currency in 0u16..=999,
        ids in proptest::collection::vec("[!-~][ -~]{0,13}[!-~]|[!-~]", 0..4),
        mccs in proptest::collection::vec(0u16..=9999, 0..4),
    ) {
        let mut t = token([0; 33], [1, 2, 3, 4]);
        t.card_public_key = card_key().1;
        t.allowed_uses = uses;
        t.valid_for = valid_for;
        t.threshold = Money { minor, currency };
        t.payees = Payees { merchant_ids: ids, categories: mccs };
        prop_assert_eq!(CreditToken::decode(&t.encode().unwrap()).unwrap(), t);
    }
}
