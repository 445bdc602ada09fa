//! Keys generated on the card stay in its persistent memory as secrets, sign verifiably, and keep
//! working after the card is saved and loaded; random numbers come from the system generator.

// Test helpers: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use applet::sw::{self, Sw};
use applet::{Aid, Applet, AppletClass, Card, CardConfig, Command, Context, EcdsaFormat, apps};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

const KEY: u16 = 1;

/// INS 01 generate, 02 sign (r||s), 03 sign (DER), 04 public key, 05 16 random bytes, 06 generate
/// a new key and sign with it in a transaction that is then aborted.
struct Signer;

impl Applet for Signer {
    fn process(&mut self, ctx: &mut Context<'_>, cmd: &Command<'_>, reply: &mut Vec<u8>) -> Result<(), Sw> {
        match cmd.ins() {
            0x01 => reply.extend(ctx.generate_p256(KEY)?),
            0x02 => reply.extend(ctx.sign_p256(KEY, cmd.data(), EcdsaFormat::Fixed)?),
            0x03 => reply.extend(ctx.sign_p256(KEY, cmd.data(), EcdsaFormat::Der)?),
            0x04 => reply.extend(ctx.p256_public_key(KEY)?),
            0x05 => {
                let mut r = [0; 16];
                ctx.random(&mut r)?;
                reply.extend_from_slice(&r);
            }
            0x06 => {
                ctx.begin_transaction()?;
                ctx.generate_p256(KEY)?;
                ctx.sign_p256(KEY, cmd.data(), EcdsaFormat::Fixed)?;
                ctx.abort_transaction()?;
            }
            _ => return Err(sw::INS_NOT_SUPPORTED),
        }
        Ok(())
    }
}

const SIGNER: AppletClass = AppletClass { name: "signer", about: "test", create: || Box::new(Signer) };

fn data(r: &[u8]) -> &[u8] {
    assert_eq!(&r[r.len() - 2..], [0x90, 0x00], "{r:02X?}");
    &r[..r.len() - 2]
}

#[test]
fn keys_are_generated_on_the_card_kept_secret_and_sign() {
    let catalog = apps::catalog().with(SIGNER);
    let aid = Aid::from_hex("A000000999AA").unwrap();
    let mut card = Card::new(CardConfig::default(), catalog.clone()).unwrap();
    card.install("signer", aid, &[]).unwrap();
    card.set_default_applet(Some(aid)).unwrap();

    assert_eq!(card.process(&[0x80, 0x02, 0, 0, 1, 0x55, 0]), [0x6A, 0x88], "no key yet");
    let pk = data(&card.process(&[0x80, 0x01, 0, 0, 0])).to_vec();
    assert_eq!((pk.len(), pk[0]), (65, 0x04), "an uncompressed P-256 point");
    let secret = card.store().list().find(|(k, _, _)| k.id == KEY).unwrap();
    assert!(secret.2, "the private key is a secret object");

    let msg = b"pay 12.00 EUR";
    let mut cmd = vec![0x80, 0x02, 0, 0, msg.len() as u8];
    cmd.extend_from_slice(msg);
    cmd.push(0);
    let sig = data(&card.process(&cmd)).to_vec();
    assert_eq!(sig.len(), 64);
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &pk).verify(msg, &sig).unwrap();
    assert!(UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &pk).verify(b"pay 99.00 EUR", &sig).is_err());
    cmd[1] = 0x03;
    let der = data(&card.process(&cmd)).to_vec();
    assert_eq!(der[0], 0x30, "DER SEQUENCE");
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &pk).verify(msg, &der).unwrap();

    // Saved and loaded, the card still has the same key.
    let mut again = Card::from_state_bytes(&card.to_state_bytes(), catalog).unwrap();
    assert_eq!(data(&again.process(&[0x80, 0x04, 0, 0, 0])), pk);
    cmd[1] = 0x02;
    let sig = data(&again.process(&cmd)).to_vec();
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &pk).verify(msg, &sig).unwrap();

    let r1 = data(&card.process(&[0x80, 0x05, 0, 0, 0])).to_vec();
    let r2 = data(&card.process(&[0x80, 0x05, 0, 0, 0])).to_vec();
    assert_ne!(r1, r2);
    assert_ne!(r1, [0; 16]);
}

/// The card keeps a key parsed between signatures; whatever changes the key object (a new key, a
/// transaction rolled back, a reset), the signature is made with the key the object holds now.
#[test]
fn signatures_follow_the_key_object_through_replacement_and_rollback() {
    let aid = Aid::from_hex("A000000999AA").unwrap();
    let mut card = Card::new(CardConfig::default(), apps::catalog().with(SIGNER)).unwrap();
    card.install("signer", aid, &[]).unwrap();
    card.set_default_applet(Some(aid)).unwrap();
    let msg = b"counter 7";
    let sign = [&[0x80, 0x02, 0, 0, msg.len() as u8][..], msg, &[0]].concat();
    let verifies =
        |pk: &[u8], sig: &[u8]| UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, pk).verify(msg, sig).is_ok();

    let old = data(&card.process(&[0x80, 0x01, 0, 0, 0])).to_vec();
    assert!(verifies(&old, data(&card.process(&sign))));
    let new = data(&card.process(&[0x80, 0x01, 0, 0, 0])).to_vec();
    let sig = data(&card.process(&sign)).to_vec();
    assert!(verifies(&new, &sig) && !verifies(&old, &sig), "the replaced key no longer signs");

    // A third key, used to sign, then rolled back with its transaction: the second one is back.
    let mut abort = sign.clone();
    abort[1] = 0x06;
    abort.pop();
    assert_eq!(card.process(&abort), [0x90, 0x00]);
    assert_eq!(data(&card.process(&[0x80, 0x04, 0, 0, 0])), new);
    assert!(verifies(&new, data(&card.process(&sign))));
    card.reset();
    assert!(verifies(&new, data(&card.process(&sign))));
}
