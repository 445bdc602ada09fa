//! The credit token: the security content the issuer signs (US 11,587,056 claims 1–5; `docs/payment.md`).

use super::emv::{self, Money};
use super::fields::Fields;
use super::keys::KeyId;
use super::{CreditError, tags};
use crate::tlv::Writer;

/// The size of the encrypted account identity: an ephemeral P-256 point (33 bytes, compressed), then
/// AES-256-GCM over the 8-byte account number (8 bytes of ciphertext, 16 of tag).
pub const ENCRYPTED_IDENTITY_LEN: usize = 33 + 8 + 16;

/// The longest merchant id `9F16` can hold (EMV: ans15).
pub const MAX_MERCHANT_ID_LEN: usize = 15;

/// Who may be paid with a token. Both lists empty: anyone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Payees {
    /// Allowed merchant ids (`9F16`).
    pub merchant_ids: Vec<String>,
    /// Allowed merchant category codes (`9F15`, ISO 18245).
    pub categories: Vec<u16>,
}

impl Payees {
    /// Whether a merchant with this id and category may be paid: it is listed by id, or its category is
    /// listed, or both lists are empty.
    pub fn allows(&self, merchant_id: &str, category: Option<u16>) -> bool {
        (self.merchant_ids.is_empty() && self.categories.is_empty())
            || self.merchant_ids.iter().any(|m| m == merchant_id)
            || category.is_some_and(|c| self.categories.contains(&c))
    }
}

/// Checks a merchant id: 1 to 15 printable ASCII characters (EMV ans15, without control characters).
pub fn check_merchant_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_MERCHANT_ID_LEN {
        return Err(format!(
            "a merchant id has 1 to {MAX_MERCHANT_ID_LEN} characters, {id:?} has {}",
            id.len()
        ));
    }
    if !id.bytes().all(|b| (0x20..0x7F).contains(&b)) {
        return Err(format!("a merchant id is printable ASCII, {id:?} is not"));
    }
    if id.ends_with(' ') {
        return Err(format!("a merchant id cannot end with a space (EMV pads with spaces), {id:?} does"));
    }
    Ok(())
}

/// A merchant id as EMV writes `9F16` (ans 15): exactly 15 bytes, right-padded with spaces.
pub fn merchant_id_ans15(id: &str) -> Result<[u8; MAX_MERCHANT_ID_LEN], CreditError> {
    check_merchant_id(id).map_err(|why| CreditError::Unencodable { name: "merchant id", why })?;
    let mut out = [b' '; MAX_MERCHANT_ID_LEN];
    out[..id.len()].copy_from_slice(id.as_bytes());
    Ok(out)
}

/// Reads a `9F16` value: 15 printable ASCII bytes, trailing spaces removed, at least one left.
pub fn merchant_id_from_ans15(value: &[u8]) -> Result<String, String> {
    if value.len() != MAX_MERCHANT_ID_LEN {
        return Err(format!("{} bytes, expected {MAX_MERCHANT_ID_LEN} (ans 15, space-padded)", value.len()));
    }
    let text = std::str::from_utf8(value).map_err(|_| "not ASCII".to_owned())?.trim_end_matches(' ');
    check_merchant_id(text)?;
    Ok(text.to_owned())
}

/// A credit token: what the issuer signs for one card.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CreditToken {
    /// Token id, unique per issuer.
    pub token_id: [u8; 8],
    /// Generation time, UTC seconds.
    pub generated_at: u32,
    /// Validity duration in seconds, from `generated_at`.
    pub valid_for: u32,
    /// How many payments the token may make in all.
    pub allowed_uses: u16,
    /// The largest amount of one payment, and the token's currency.
    pub threshold: Money,
    /// Who may be paid.
    pub payees: Payees,
    /// A random number chosen by the issuer.
    pub random: [u8; 8],
    /// The card's ECDSA P-256 public key, compressed.
    pub card_public_key: [u8; 33],
    /// The issuer key that signs the token and whose identity key encrypts the account.
    pub issuer_key_id: KeyId,
    /// The account identity, encrypted to the issuer (merchants cannot read it).
    pub encrypted_identity: [u8; ENCRYPTED_IDENTITY_LEN],
}

impl CreditToken {
    /// The last second at which the token can pay (inclusive).
    pub fn expires_at(&self) -> u64 {
        u64::from(self.generated_at) + u64::from(self.valid_for)
    }

    /// Whether `unix` lies in the validity window `[generated_at, generated_at + valid_for]`.
    pub fn is_valid_at(&self, unix: u64) -> bool {
        (u64::from(self.generated_at)..=self.expires_at()).contains(&unix)
    }

    /// The `E1` template (tag order as in docs/payment.md).
    pub fn encode(&self) -> Result<Vec<u8>, CreditError> {
        let unencodable = |name: &'static str| {
            move |e: emv::BcdError| CreditError::Unencodable { name, why: e.to_string() }
        };
        let threshold = emv::amount_n12(self.threshold.minor).map_err(unencodable("amount threshold"))?;
        let currency = emv::currency_n3(self.threshold.currency).map_err(unencodable("currency"))?;
        let mut categories = Vec::new();
        for &mcc in &self.payees.categories {
            categories.push(emv::mcc_n4(mcc).map_err(unencodable("merchant category"))?);
        }
        let merchant_ids =
            self.payees.merchant_ids.iter().map(|id| merchant_id_ans15(id)).collect::<Result<Vec<_>, _>>()?;
        let mut w = Writer::new();
        w.constructed(tags::TOKEN, |w| {
            w.primitive(tags::TOKEN_ID, &self.token_id);
            w.primitive(tags::GENERATED_AT, &self.generated_at.to_be_bytes());
            w.primitive(tags::VALID_FOR, &self.valid_for.to_be_bytes());
            w.primitive(tags::ALLOWED_USES, &self.allowed_uses.to_be_bytes());
            w.primitive(tags::AMOUNT_THRESHOLD, &threshold);
            w.primitive(tags::CURRENCY, &currency);
            if !merchant_ids.is_empty() || !categories.is_empty() {
                w.constructed(tags::PAYEES, |w| {
                    for id in &merchant_ids {
                        w.primitive(tags::MERCHANT_ID, id);
                    }
                    for mcc in &categories {
                        w.primitive(tags::MERCHANT_CATEGORY, mcc);
                    }
                });
            }
            w.primitive(tags::TOKEN_RANDOM, &self.random);
            w.primitive(tags::CARD_PUBLIC_KEY, &self.card_public_key);
            w.primitive(tags::ISSUER_KEY_ID, &self.issuer_key_id);
            w.primitive(tags::ENCRYPTED_IDENTITY, &self.encrypted_identity);
        });
        Ok(w.into_bytes())
    }

    /// Reads an `E1` template strictly: every mandatory object, nothing unknown, no duplicates.
    pub fn decode(bytes: &[u8]) -> Result<Self, CreditError> {
        let mut f = Fields::single("credit token", tags::TOKEN, bytes)?;
        let token_id = f.fixed::<8>(tags::TOKEN_ID, "token id")?;
        let generated_at = u32::from_be_bytes(f.fixed(tags::GENERATED_AT, "generation time")?);
        let valid_for = u32::from_be_bytes(f.fixed(tags::VALID_FOR, "validity duration")?);
        let allowed_uses = u16::from_be_bytes(f.fixed(tags::ALLOWED_USES, "allowed uses")?);
        let threshold = f.fixed::<6>(tags::AMOUNT_THRESHOLD, "amount threshold")?;
        let threshold = emv::from_bcd(&threshold)
            .map_err(|e| f.bad_value(tags::AMOUNT_THRESHOLD, "amount threshold", e.to_string()))?;
        let currency = f.fixed::<2>(tags::CURRENCY, "currency")?;
        let currency = emv::currency_from_n3(currency)
            .map_err(|e| f.bad_value(tags::CURRENCY, "currency", e.to_string()))?;
        let payees = match f.optional(tags::PAYEES)? {
            Some(value) => decode_payees(value)?,
            None => Payees::default(),
        };
        let random = f.fixed::<8>(tags::TOKEN_RANDOM, "token random number")?;
        // Only the form is checked here: whether the point is on the curve costs a square root
        // (~45 µs) and every use of the key (a signature check) finds out anyway.
        let card_public_key = f.fixed::<33>(tags::CARD_PUBLIC_KEY, "card public key")?;
        if !matches!(card_public_key[0], 0x02 | 0x03) {
            return Err(f.bad_value(
                tags::CARD_PUBLIC_KEY,
                "card public key",
                "not a compressed point (02 or 03 first)",
            ));
        }
        let issuer_key_id = f.fixed::<4>(tags::ISSUER_KEY_ID, "issuer key id")?;
        let identity = f.required(tags::ENCRYPTED_IDENTITY, "encrypted account identity")?;
        let encrypted_identity = identity.try_into().map_err(|_| CreditError::BadLength {
            what: "credit token",
            tag: tags::ENCRYPTED_IDENTITY,
            name: "encrypted account identity",
            expected: "57",
            got: identity.len(),
        })?;
        f.finish()?;
        Ok(Self {
            token_id,
            generated_at,
            valid_for,
            allowed_uses,
            threshold: Money { minor: threshold, currency },
            payees,
            random,
            card_public_key,
            issuer_key_id,
            encrypted_identity,
        })
    }
}

fn decode_payees(value: &[u8]) -> Result<Payees, CreditError> {
    let mut f = Fields::children("allowed payees", value)?;
    let mut payees = Payees::default();
    for id in f.repeated(tags::MERCHANT_ID) {
        let id =
            merchant_id_from_ans15(id).map_err(|why| f.bad_value(tags::MERCHANT_ID, "merchant id", why))?;
        payees.merchant_ids.push(id);
    }
    for mcc in f.repeated(tags::MERCHANT_CATEGORY) {
        let mcc: [u8; 2] = mcc.try_into().map_err(|_| CreditError::BadLength {
            what: "allowed payees",
            tag: tags::MERCHANT_CATEGORY,
            name: "merchant category",
            expected: "2",
            got: mcc.len(),
        })?;
        let mcc = emv::mcc_from_n4(mcc)
            .map_err(|e| f.bad_value(tags::MERCHANT_CATEGORY, "merchant category", e.to_string()))?;
        payees.categories.push(mcc);
    }
    f.finish()?;
    if payees.merchant_ids.is_empty() && payees.categories.is_empty() {
        // An absent template means "anyone"; an empty one would be a second encoding of the same thing.
        return Err(CreditError::BadValue {
            what: "credit token",
            tag: tags::PAYEES,
            name: "allowed payees",
            why: "empty template (omit it to allow any payee)".into(),
        });
    }
    Ok(payees)
}
