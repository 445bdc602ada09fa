//! `qr_payload`: the QR payload a merchant decodes from a consumer's QR code
//! ([`cardgate::payment::cpm`]), and the offline checks it then runs ([`cardgate::payment::verify`]).

use std::sync::OnceLock;

use applet::credit::{IssuerPublicKey, KeyAlgorithm, Money};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair};
use cardgate::payment::cpm::PaymentPayload;
use cardgate::payment::verify::{self, Terms};

/// The fuzz issuer's private key: a fixed P-256 scalar (RFC 5915 ECPrivateKey, public key omitted),
/// so that payloads in the corpus carry issuer signatures the target can verify. A test key: it
/// signs nothing but fuzz seeds.
const ISSUER_KEY_DER: [u8; 51] = [
    0x30, 0x31, 0x02, 0x01, 0x01, 0x04, 0x20, // version 1, privateKey OCTET STRING (32)
    0x1F, 0x2E, 0x3D, 0x4C, 0x5B, 0x6A, 0x79, 0x88, 0x97, 0xA6, 0xB5, 0xC4, 0xD3, 0xE2, 0xF1, 0x00, 0x0F,
    0x1E, 0x2D, 0x3C, 0x4B, 0x5A, 0x69, 0x78, 0x87, 0x96, 0xA5, 0xB4, 0xC3, 0xD2, 0xE1, 0xF0, 0xA0, 0x0A,
    0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07, // prime256v1
];

/// The fuzz issuer's key pair (for writing seeds) and public key (for checking payloads).
pub fn issuer() -> &'static (EcdsaKeyPair, IssuerPublicKey) {
    static ISSUER: OnceLock<(EcdsaKeyPair, IssuerPublicKey)> = OnceLock::new();
    ISSUER.get_or_init(|| {
        let pair =
            EcdsaKeyPair::from_private_key_der(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &ISSUER_KEY_DER)
                .expect("the fuzz issuer key parses");
        let public = IssuerPublicKey::new(KeyAlgorithm::EcdsaP256Sha256, pair.public_key().as_ref().to_vec())
            .expect("a P-256 public key");
        (pair, public)
    })
}

/// Any bytes as a QR code's content, both as text ([`PaymentPayload::from_text`], base64) and as
/// the CPM TLV itself ([`PaymentPayload::from_bytes`]). Property: a payload that decodes
/// re-encodes (bytes and text) to a payload equal to it. Each one then goes through the
/// merchant's offline checks ([`verify::check_payment`]) against the fuzz issuer's key at the
/// presentation's own time: never a panic, and an accepted payment is within its token's
/// threshold and currency.
pub fn qr_payload(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let decoded = [PaymentPayload::from_text(&text), PaymentPayload::from_bytes(data)];
    for payload in decoded.into_iter().flatten() {
        let bytes = payload.to_bytes();
        assert_eq!(PaymentPayload::from_bytes(&bytes).as_ref(), Ok(&payload), "bytes round trip");
        assert_eq!(PaymentPayload::from_text(&payload.to_text()).as_ref(), Ok(&payload), "text round trip");
        let token = &payload.code.token;
        let amount =
            payload.presentation.amount.unwrap_or(Money { minor: 1, currency: token.threshold.currency });
        let at = payload.presentation.unix_time().map_or(0, u64::from);
        let terms = Terms {
            merchant_id: token.payees.merchant_ids.first().map_or("SHOP-A", String::as_str),
            category: token.payees.categories.first().copied(),
            amount,
            at,
            max_skew: verify::DEFAULT_MAX_SKEW,
        };
        if verify::check_payment(&payload, &[issuer().1.clone()], &terms).is_ok() {
            assert!(amount.minor <= token.threshold.minor && amount.currency == token.threshold.currency);
        }
    }
}
