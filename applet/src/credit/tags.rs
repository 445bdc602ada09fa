//! Every tag of the offline credit formats, as one table (`docs/payment.md`, "Tag table", says the same).
//!
//! EMV tags are used where EMV defines the data element (EMV Book 3, Annex A1); the proprietary data
//! objects use private-class tags: two-byte `DFxx` primitives (tag numbers from 0x20, so the encoding is
//! minimal per X.690 §8.1.2.4) and one-byte `Ex` templates (private class, constructed; ISO 7816-4
//! §5.2.2.1 table 8).

use crate::tlv::Tag;

/// CPM payload format indicator, value `"CPV01"` (EMV QRCPS Consumer-Presented Mode §4.2).
pub const PAYLOAD_FORMAT_INDICATOR: Tag = Tag(0x85);
/// CPM application template (EMV QRCPS CPM §4.2).
pub const APPLICATION_TEMPLATE: Tag = Tag(0x61);
/// CPM application specific transparent template: passed through to the issuer uninterpreted (§4.2).
pub const APPLICATION_SPECIFIC_TRANSPARENT_TEMPLATE: Tag = Tag(0x63);
/// ADF name: the credit wallet's AID (EMV Book 1 §12.2.1).
pub const ADF_NAME: Tag = Tag(0x4F);
/// Application label (EMV Book 1 §12.2.3), an1..16.
pub const APPLICATION_LABEL: Tag = Tag(0x50);

/// Amount, authorised (EMV tag 9F02), n12: minor units.
pub const AMOUNT: Tag = Tag(0x9F02);
/// Transaction currency code (EMV tag 5F2A), n3: ISO 4217 numeric.
pub const CURRENCY: Tag = Tag(0x5F2A);
/// Transaction date (EMV tag 9A), n6 YYMMDD, UTC in cardgate.
pub const DATE: Tag = Tag(0x9A);
/// Transaction time (EMV tag 9F21), n6 HHMMSS, UTC in cardgate.
pub const TIME: Tag = Tag(0x9F21);
/// Merchant category code (EMV tag 9F15), n4: ISO 18245.
pub const MERCHANT_CATEGORY: Tag = Tag(0x9F15);
/// Merchant identifier (EMV tag 9F16), ans 15: 1 to 15 printable ASCII characters, right-padded with spaces.
pub const MERCHANT_ID: Tag = Tag(0x9F16);
/// Terminal identification (EMV tag 9F1C), an8.
pub const TERMINAL_ID: Tag = Tag(0x9F1C);
/// Application transaction counter (EMV tag 9F36), 2 bytes: the card's presentation counter.
pub const COUNTER: Tag = Tag(0x9F36);
/// Unpredictable number (EMV tag 9F37), 4 bytes: the terminal's random number.
pub const UNPREDICTABLE_NUMBER: Tag = Tag(0x9F37);

/// Template: the credit token (its security content).
pub const TOKEN: Tag = Tag(0xE1);
/// Template: the credit payment code (the token and the issuer's signature).
pub const PAYMENT_CODE: Tag = Tag(0xE2);
/// Template: the card's presentation (what the card signs for one payment, less the code hash).
pub const PRESENTATION: Tag = Tag(0xE3);
/// Template inside the token: allowed payees (`9F16` and `9F15`, each repeatable).
pub const PAYEES: Tag = Tag(0xE5);
/// Template: an issuer public key (key id, algorithm, key).
pub const ISSUER_KEY: Tag = Tag(0xE6);
/// Template: the credit wallet's status (GET DATA).
pub const WALLET_STATUS: Tag = Tag(0xE7);

/// Token id, 8 bytes.
pub const TOKEN_ID: Tag = Tag(0xDF20);
/// Token generation time, 4 bytes: UTC seconds since 1970, unsigned big-endian.
pub const GENERATED_AT: Tag = Tag(0xDF21);
/// Validity duration, 4 bytes: seconds, unsigned big-endian.
pub const VALID_FOR: Tag = Tag(0xDF22);
/// Allowed number of uses, 2 bytes, unsigned big-endian.
pub const ALLOWED_USES: Tag = Tag(0xDF23);
/// Amount threshold, n12 like `9F02` (the currency is `5F2A` in the same template).
pub const AMOUNT_THRESHOLD: Tag = Tag(0xDF24);
/// Token random number, 8 bytes.
pub const TOKEN_RANDOM: Tag = Tag(0xDF25);
/// The card's public key: ECDSA P-256, SEC 1 §2.3.3 compressed point (33 bytes).
pub const CARD_PUBLIC_KEY: Tag = Tag(0xDF26);
/// Issuer key id, 4 bytes.
pub const ISSUER_KEY_ID: Tag = Tag(0xDF27);
/// Account identity encrypted to the issuer's identity key (57 bytes: see docs/payment.md).
pub const ENCRYPTED_IDENTITY: Tag = Tag(0xDF28);
/// The issuer's signature over the token.
pub const ISSUER_SIGNATURE: Tag = Tag(0xDF29);
/// The card's signature over the presentation.
pub const CARD_SIGNATURE: Tag = Tag(0xDF2A);
/// Issuer key algorithm, 1 byte (01 ECDSA P-256 SHA-256, 02 RSA-2048 PKCS #1 v1.5 SHA-256).
pub const KEY_ALGORITHM: Tag = Tag(0xDF2B);
/// Issuer public key: SEC 1 uncompressed point (65 bytes) or PKCS #1 RSAPublicKey DER.
pub const PUBLIC_KEY: Tag = Tag(0xDF2C);
/// Wallet life-cycle state, 1 byte (GET DATA, in the status template).
pub const WALLET_STATE: Tag = Tag(0xDF2E);
/// In the wallet status (`E7`), present only on an insecure test card: `01` (its keys come from a
/// seeded DRBG, `cardgate card init --insecure-seed`).
pub const INSECURE_TEST_CARD: Tag = Tag(0xDF2F);
