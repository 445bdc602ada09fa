//! The QR payload: EMVCo *QR Code Specification for Payment Systems, Consumer-Presented Mode* (EMV QRCPS
//! CPM v1.0 §4): BER-TLV, base64-encoded (RFC 4648 §4, with padding) into the QR code's byte mode.
//!
//! ```text
//! 85 05 "CPV01"                        payload format indicator (§4.2, mandatory, first)
//! 61 ..                                application template (§4.2)
//!    4F 07 A0000008580101              ADF name: the credit wallet
//!    63 ..                             application specific transparent template: for the issuer
//!       E2 ..  credit payment code     (token + issuer signature)
//!       E3 ..  presentation            (what the card signed)
//!       DF2A   card signature
//! ```

use applet::credit::{self, CreditError, CreditPaymentCode, Presentation, tags};
use applet::tlv::{self, Writer};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The CPM payload format indicator value (§4.2).
pub const FORMAT_INDICATOR: &[u8] = b"CPV01";

/// Why a QR payload is not a cardgate credit payment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The text is not base64.
    #[error("the QR code is not an EMV consumer-presented payload: its text is not base64")]
    NotBase64,
    /// The decoded bytes are not BER-TLV.
    #[error("the QR code is not an EMV consumer-presented payload: {0}")]
    NotTlv(tlv::TlvError),
    /// Well-formed TLV, but not the CPM envelope.
    #[error("the QR code is not an EMV consumer-presented payload: {0}")]
    NotCpm(String),
    /// A CPM payload for another application.
    #[error(
        "the QR code is a consumer-presented payload for application {0}, not the cardgate credit wallet"
    )]
    OtherApplication(String),
    /// The credit data inside is malformed.
    #[error("the QR code's credit data is malformed: {0}")]
    Credit(#[from] CreditError),
}

/// A payment as the QR code carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentPayload {
    /// The issuer-signed credit payment code.
    pub code: CreditPaymentCode,
    /// The presentation, decoded.
    pub presentation: Presentation,
    /// The `E3` bytes exactly as the card signed them.
    pub presentation_tlv: Vec<u8>,
    /// The card's signature.
    pub card_signature: Vec<u8>,
}

impl PaymentPayload {
    /// The CPM TLV bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.primitive(tags::PAYLOAD_FORMAT_INDICATOR, FORMAT_INDICATOR);
        w.constructed(tags::APPLICATION_TEMPLATE, |w| {
            w.primitive(tags::ADF_NAME, &credit::AID);
            // The code and the presentation go in as already encoded: the signatures cover these bytes.
            let mut inner = self.code.encoded.clone();
            inner.extend_from_slice(&self.presentation_tlv);
            let mut sig = Writer::new();
            sig.primitive(tags::CARD_SIGNATURE, &self.card_signature);
            inner.extend_from_slice(sig.as_bytes());
            w.primitive(tags::APPLICATION_SPECIFIC_TRANSPARENT_TEMPLATE, &inner);
        });
        w.into_bytes()
    }

    /// The text to put in the QR code: base64 of the TLV (CPM §4.1).
    pub fn to_text(&self) -> String {
        STANDARD.encode(self.to_bytes())
    }

    /// Reads a QR code's text (surrounding whitespace is ignored).
    pub fn from_text(text: &str) -> Result<Self, PayloadError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| PayloadError::NotBase64)?;
        Self::from_bytes(&bytes)
    }

    /// Reads the CPM TLV bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PayloadError> {
        let top: Vec<tlv::Tlv<'_>> =
            tlv::iter(bytes).collect::<Result<_, _>>().map_err(PayloadError::NotTlv)?;
        let not = |why: &str| PayloadError::NotCpm(why.to_owned());
        match top.first() {
            Some(first) if first.tag == tags::PAYLOAD_FORMAT_INDICATOR && first.value == FORMAT_INDICATOR => {
            }
            Some(first) if first.tag == tags::PAYLOAD_FORMAT_INDICATOR => {
                return Err(not(&format!(
                    "payload format indicator {:?}, expected \"CPV01\"",
                    String::from_utf8_lossy(first.value)
                )));
            }
            _ => return Err(not("it does not start with the payload format indicator 85 \"CPV01\"")),
        }
        let apps: Vec<_> = top.iter().filter(|t| t.tag == tags::APPLICATION_TEMPLATE).collect();
        if apps.is_empty() {
            return Err(not("it has no application template 61"));
        }
        // A payload may offer several applications (CPM §4.2); use the cardgate one.
        let mut other = None;
        for app in apps {
            let aid = tlv::find(app.value, tags::ADF_NAME).map_err(PayloadError::NotTlv)?;
            match aid {
                Some(aid) if aid == credit::AID => return Self::from_application(app.value),
                Some(aid) => other = Some(hex::encode_upper(aid)),
                None => other = other.or(Some("(no ADF name)".to_owned())),
            }
        }
        Err(PayloadError::OtherApplication(other.unwrap_or_default()))
    }

    fn from_application(app: &[u8]) -> Result<Self, PayloadError> {
        let transparent = tlv::find(app, tags::APPLICATION_SPECIFIC_TRANSPARENT_TEMPLATE)
            .map_err(PayloadError::NotTlv)?
            .ok_or_else(|| {
                PayloadError::NotCpm("the application template has no transparent template 63".into())
            })?;
        let children = credit::raw_children(transparent).map_err(PayloadError::NotTlv)?;
        let (mut code, mut presentation, mut signature) = (None, None, None);
        for (tag, raw) in children {
            let slot = match tag {
                t if t == tags::PAYMENT_CODE => &mut code,
                t if t == tags::PRESENTATION => &mut presentation,
                t if t == tags::CARD_SIGNATURE => &mut signature,
                other => {
                    return Err(PayloadError::NotCpm(format!(
                        "unexpected data object {other} in template 63"
                    )));
                }
            };
            if slot.replace(raw).is_some() {
                return Err(PayloadError::NotCpm(format!("data object {tag} appears twice in template 63")));
            }
        }
        let missing = |what: &str| PayloadError::NotCpm(format!("template 63 has no {what}"));
        let code = CreditPaymentCode::decode(code.ok_or_else(|| missing("credit payment code E2"))?)?;
        let presentation_tlv = presentation.ok_or_else(|| missing("presentation E3"))?.to_vec();
        let presentation = Presentation::decode(&presentation_tlv)?;
        let signature = tlv::parse_single(signature.ok_or_else(|| missing("card signature DF2A"))?)
            .map_err(PayloadError::NotTlv)?
            .value
            .to_vec();
        Ok(Self { code, presentation, presentation_tlv, card_signature: signature })
    }
}
