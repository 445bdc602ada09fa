//! The card's presentation of a credit payment code: the transaction data the card signs (`E3`) and the
//! card's signature over it together with the hash of the code.

use super::emv::{self, Money};
use super::fields::Fields;
use super::keys;
use super::{CreditError, tags};
use crate::tlv::Writer;

/// Domain separation for the card's signature.
pub const PRESENTATION_SIGNATURE_DOMAIN: &[u8] = b"cardgate/credit-presentation/v1";

/// One presentation: what the card signed for one payment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Presentation {
    /// The card's transaction counter after this presentation (`9F36`); the first is 1.
    pub counter: u16,
    /// Transaction date, YYMMDD BCD, UTC (`9A`).
    pub date: [u8; 3],
    /// Transaction time, HHMMSS BCD, UTC (`9F21`).
    pub time: [u8; 3],
    /// The terminal's random number (`9F37`).
    pub unpredictable_number: [u8; 4],
    /// The amount, if the terminal gave one (`9F02` and `5F2A`).
    pub amount: Option<Money>,
}

impl Presentation {
    /// The presentation time in UTC seconds.
    pub fn unix_time(&self) -> Result<u32, CreditError> {
        emv::unix_from_emv(self.date, self.time).map_err(|e| CreditError::BadValue {
            what: "presentation",
            tag: tags::DATE,
            name: "transaction date and time",
            why: e.to_string(),
        })
    }

    /// The `E3` template.
    pub fn encode(&self) -> Result<Vec<u8>, CreditError> {
        let bad = |name: &'static str| {
            move |e: emv::BcdError| CreditError::Unencodable { name, why: e.to_string() }
        };
        let amount = match self.amount {
            Some(m) => Some((
                emv::amount_n12(m.minor).map_err(bad("amount"))?,
                emv::currency_n3(m.currency).map_err(bad("currency"))?,
            )),
            None => None,
        };
        let mut w = Writer::new();
        w.constructed(tags::PRESENTATION, |w| {
            w.primitive(tags::COUNTER, &self.counter.to_be_bytes());
            w.primitive(tags::DATE, &self.date);
            w.primitive(tags::TIME, &self.time);
            w.primitive(tags::UNPREDICTABLE_NUMBER, &self.unpredictable_number);
            if let Some((amount, currency)) = amount {
                w.primitive(tags::AMOUNT, &amount);
                w.primitive(tags::CURRENCY, &currency);
            }
        });
        Ok(w.into_bytes())
    }

    /// Reads an `E3` template strictly.
    pub fn decode(bytes: &[u8]) -> Result<Self, CreditError> {
        let mut f = Fields::single("presentation", tags::PRESENTATION, bytes)?;
        let counter = u16::from_be_bytes(f.fixed(tags::COUNTER, "transaction counter")?);
        let date = f.fixed::<3>(tags::DATE, "transaction date")?;
        let time = f.fixed::<3>(tags::TIME, "transaction time")?;
        let unpredictable_number = f.fixed::<4>(tags::UNPREDICTABLE_NUMBER, "unpredictable number")?;
        let amount = f.optional_fixed::<6>(tags::AMOUNT, "amount")?;
        let currency = f.optional_fixed::<2>(tags::CURRENCY, "currency")?;
        let amount = match (amount, currency) {
            (None, None) => None,
            (Some(a), Some(c)) => Some(Money {
                minor: emv::from_bcd(&a).map_err(|e| f.bad_value(tags::AMOUNT, "amount", e.to_string()))?,
                currency: emv::currency_from_n3(c)
                    .map_err(|e| f.bad_value(tags::CURRENCY, "currency", e.to_string()))?,
            }),
            (Some(_), None) => {
                return Err(CreditError::Missing {
                    what: "presentation",
                    tag: tags::CURRENCY,
                    name: "currency",
                });
            }
            (None, Some(_)) => {
                return Err(CreditError::Missing { what: "presentation", tag: tags::AMOUNT, name: "amount" });
            }
        };
        f.finish()?;
        let p = Self { counter, date, time, unpredictable_number, amount };
        p.unix_time()?;
        Ok(p)
    }
}

/// The message the card signs: [`PRESENTATION_SIGNATURE_DOMAIN`], the `E3` bytes, then SHA-256 of the
/// credit payment code (`E2`) the card holds.
pub fn presentation_signed_message(presentation_tlv: &[u8], code_hash: &[u8; 32]) -> Vec<u8> {
    [PRESENTATION_SIGNATURE_DOMAIN, presentation_tlv, code_hash].concat()
}

/// Verifies a card signature over a presentation, for a code whose token names `card_public_key`.
pub fn verify_presentation(
    card_public_key: &[u8; 33],
    presentation_tlv: &[u8],
    code_hash: &[u8; 32],
    card_signature: &[u8],
) -> Result<(), CreditError> {
    keys::verify_card_signature(
        card_public_key,
        &presentation_signed_message(presentation_tlv, code_hash),
        card_signature,
    )
}
