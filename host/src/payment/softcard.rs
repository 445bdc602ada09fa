//! A credit wallet's signing done in software: an ECDSA P-256 key and a counter, presenting a credit
//! payment code exactly as the card applet does. It exists for tests and benchmarks that need many
//! presentations without a card; the card applet is the real thing.

use applet::credit::presentation::presentation_signed_message;
use applet::credit::{CreditPaymentCode, Money, Presentation, emv};
use aws_lc_rs::encoding::{AsBigEndian, EcPublicKeyCompressedBin};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair};

use super::cpm::PaymentPayload;

/// A software card key with its transaction counter.
#[derive(Debug)]
pub struct SoftCard {
    key: EcdsaKeyPair,
    /// The last counter value used (the next presentation uses `counter + 1`).
    pub counter: u16,
}

impl SoftCard {
    /// A fresh key pair.
    #[allow(clippy::expect_used, reason = "P-256 key generation only fails if the RNG is broken")]
    pub fn generate() -> Self {
        Self {
            key: EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 keygen"),
            counter: 0,
        }
    }

    /// The public key, compressed, as issuance wants it.
    #[allow(clippy::expect_used, reason = "a P-256 public key always has a 33-byte compressed form")]
    pub fn public_key(&self) -> [u8; 33] {
        let c: EcPublicKeyCompressedBin = self.key.public_key().as_be_bytes().expect("compressed point");
        c.as_ref().try_into().expect("33 bytes")
    }

    /// Signs a presentation at `unix` time, as GENERATE PAYMENT CODE does, and returns the QR payload.
    #[allow(clippy::expect_used, reason = "signing with a valid key only fails if the RNG is broken")]
    pub fn present(&mut self, code: &CreditPaymentCode, unix: u32, amount: Option<Money>) -> PaymentPayload {
        self.counter = self.counter.wrapping_add(1);
        let (date, time) = emv::emv_date_time(unix).expect("a time in 2000-2049");
        let mut un = [0u8; 4];
        SystemRandom::new().fill(&mut un).expect("randomness");
        let presentation =
            Presentation { counter: self.counter, date, time, unpredictable_number: un, amount };
        let tlv = presentation.encode().expect("encodable presentation");
        let sig = self
            .key
            .sign(&SystemRandom::new(), &presentation_signed_message(&tlv, &code.hash()))
            .expect("signature");
        PaymentPayload {
            code: code.clone(),
            presentation,
            presentation_tlv: tlv,
            card_signature: sig.as_ref().to_vec(),
        }
    }
}
