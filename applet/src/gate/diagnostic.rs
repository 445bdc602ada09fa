//! The last gate decision as a BER-TLV object, read with GET DATA (ISO 7816-4 §11.4.3, INS CA,
//! P1-P2 = `FF60`). The card keeps it in RAM: writing it to persistent memory on a denial would be a
//! state change, which a denied service must not cause.
//!
//! ```text
//! FF60                     last gate decision (template)
//!   DF61  service name     UTF-8
//!   DF62  outcome          1 byte: 00 allow, 01 allow and go online, 02 deny
//!   DF63  status word      2 bytes, as answered (9000 when allowed)
//!   FF64  reason           (template, one per reason, in decision order)
//!     DF65  reason number  2 bytes (policies::ReasonCode::number)
//!     DF66  sentence       UTF-8
//! ```

use policies::{DecisionRecord, Outcome, Reason, ReasonCode};

use crate::tlv::{self, Tag, TlvError, Writer};

/// The template; also the GET DATA P1-P2.
pub const LAST_DECISION: Tag = Tag(0xFF60);
/// The service name.
pub const SERVICE: Tag = Tag(0xDF61);
/// The outcome byte.
pub const OUTCOME: Tag = Tag(0xDF62);
/// The status word.
pub const STATUS_WORD: Tag = Tag(0xDF63);
/// One reason (template).
pub const REASON: Tag = Tag(0xFF64);
/// A reason's number.
pub const REASON_NUMBER: Tag = Tag(0xDF65);
/// A reason's sentence.
pub const REASON_TEXT: Tag = Tag(0xDF66);

fn outcome_byte(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Allow => 0x00,
        Outcome::AllowGoOnline => 0x01,
        Outcome::Deny => 0x02,
    }
}

/// Encodes a decision record as the `FF60` object.
pub fn encode(record: &DecisionRecord) -> Vec<u8> {
    let mut w = Writer::new();
    w.constructed(LAST_DECISION, |w| {
        w.primitive(SERVICE, record.service.as_bytes());
        w.primitive(OUTCOME, &[outcome_byte(record.outcome)]);
        w.primitive(STATUS_WORD, &record.status_word.to_be_bytes());
        for reason in &record.reasons {
            w.constructed(REASON, |w| {
                w.primitive(REASON_NUMBER, &reason.code.number().to_be_bytes());
                w.primitive(REASON_TEXT, reason.message.as_bytes());
            });
        }
    });
    w.into_bytes()
}

/// Why bytes are not a last-decision object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiagnosticError {
    /// Not well-formed BER-TLV.
    #[error("last-decision object is not valid BER-TLV: {0}")]
    Tlv(#[from] TlvError),
    /// Not an `FF60` template, or a required object missing or malformed.
    #[error("last-decision object: {0}")]
    Malformed(String),
}

/// Decodes the `FF60` object (for hosts reading GET DATA). Reason numbers this build does not know
/// are an error: the host and card should come from the same cardgate.
pub fn decode(bytes: &[u8]) -> Result<DecisionRecord, DiagnosticError> {
    let bad = |what: &str| DiagnosticError::Malformed(what.to_owned());
    let outer = tlv::parse_single(bytes)?;
    if outer.tag != LAST_DECISION {
        return Err(bad(&format!("expected tag FF60, found {}", outer.tag)));
    }
    let utf8 = |v: &[u8], what: &str| {
        String::from_utf8(v.to_vec()).map_err(|_| bad(&format!("{what} is not UTF-8")))
    };
    let mut service = None;
    let mut outcome = None;
    let mut status_word = None;
    let mut reasons = Vec::new();
    for object in tlv::iter(outer.value) {
        let object = object?;
        match object.tag {
            SERVICE => service = Some(utf8(object.value, "service name")?),
            OUTCOME => {
                outcome = Some(match object.value {
                    [0x00] => Outcome::Allow,
                    [0x01] => Outcome::AllowGoOnline,
                    [0x02] => Outcome::Deny,
                    _ => return Err(bad("outcome must be one byte 00, 01 or 02")),
                });
            }
            STATUS_WORD => {
                let [a, b] = object.value else { return Err(bad("status word must be 2 bytes")) };
                status_word = Some(u16::from_be_bytes([*a, *b]));
            }
            REASON => {
                let number =
                    tlv::find(object.value, REASON_NUMBER)?.ok_or_else(|| bad("reason without DF65"))?;
                let [a, b] = number else { return Err(bad("reason number must be 2 bytes")) };
                let number = u16::from_be_bytes([*a, *b]);
                let code = ReasonCode::from_number(number)
                    .ok_or_else(|| bad(&format!("unknown reason number {number:04X}")))?;
                let text = tlv::find(object.value, REASON_TEXT)?.ok_or_else(|| bad("reason without DF66"))?;
                reasons.push(Reason { code, message: utf8(text, "reason text")? });
            }
            _ => {}
        }
    }
    Ok(DecisionRecord {
        service: service.ok_or_else(|| bad("no service name (DF61)"))?,
        outcome: outcome.ok_or_else(|| bad("no outcome (DF62)"))?,
        status_word: status_word.ok_or_else(|| bad("no status word (DF63)"))?,
        reasons,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_have_the_documented_layout() {
        let record = DecisionRecord {
            service: "pay".into(),
            outcome: Outcome::Deny,
            status_word: 0x6985,
            reasons: vec![Reason { code: ReasonCode::AboveMaximum, message: "too much".into() }],
        };
        let bytes = encode(&record);
        assert_eq!(
            hex::encode_upper(&bytes),
            "FF6022DF6103706179DF620102DF63026985FF6410DF65020404DF6608746F6F206D756368"
        );
        assert_eq!(decode(&bytes).unwrap(), record);
        let allow = DecisionRecord {
            service: "s".into(),
            outcome: Outcome::Allow,
            status_word: 0x9000,
            reasons: vec![],
        };
        assert_eq!(decode(&encode(&allow)).unwrap(), allow);
    }

    #[test]
    fn bad_objects_are_named() {
        assert!(
            matches!(decode(&[0xFF, 0x61, 0x00]), Err(DiagnosticError::Malformed(m)) if m.contains("expected tag FF60"))
        );
        assert!(
            matches!(decode(&[0xFF, 0x60, 0x00]), Err(DiagnosticError::Malformed(m)) if m.contains("no service name"))
        );
        assert!(matches!(decode(&[0xFF, 0x60, 0x05]), Err(DiagnosticError::Tlv(_))));
    }
}
