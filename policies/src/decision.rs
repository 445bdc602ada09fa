//! The one decision function: (service, service data, counters, security state) → allow, allow and
//! advise going online, or deny with every rule that failed.

use serde::{Deserialize, Serialize};

use crate::counters::ServiceCounters;
use crate::data::{SecurityState, ServiceData};
use crate::reason::{Reason, ReasonCode, sw};
use crate::service::Service;

/// Collects the reasons while rules are checked. Sentences are built only for failed rules, so the
/// allow path allocates nothing.
#[derive(Debug, Default)]
pub(crate) struct Reasons {
    list: Vec<Reason>,
}

impl Reasons {
    pub(crate) fn push(&mut self, code: ReasonCode, message: impl FnOnce() -> String) {
        self.list.push(Reason { code, message: message() });
    }

    /// A missing-data reason, reported once however many rules need the field.
    pub(crate) fn missing(&mut self, code: ReasonCode, message: &str) {
        if !self.list.iter().any(|r| r.code == code) {
            self.list.push(Reason { code, message: message.to_owned() });
        }
    }

    fn denies(&self) -> bool {
        self.list.iter().any(|r| r.code.denies())
    }
}

/// The outcome of a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Every rule holds: run the service.
    Allow,
    /// Every rule holds, but consecutive offline uses passed the lower limit: run the service and
    /// tell the terminal to go online (EMV: the card would ask for an ARQC).
    AllowGoOnline,
    /// At least one rule failed: terminate the service, change nothing.
    Deny,
}

/// What the gate decided, with every reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    outcome: Outcome,
    reasons: Vec<Reason>,
}

impl Decision {
    /// The outcome.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// Whether the service may run (with or without the go-online advice).
    pub fn is_allowed(&self) -> bool {
        self.outcome != Outcome::Deny
    }

    /// Every failed rule for a denial (in rule order: disabled, time, location, amount, payee,
    /// terminal, frequency, offline); the advice for [`Outcome::AllowGoOnline`]; nothing for
    /// [`Outcome::Allow`].
    pub fn reasons(&self) -> &[Reason] {
        &self.reasons
    }

    /// The status word the card answers a denial with: `6985` if any reason is a condition of use,
    /// else `6A80` if service data is missing, else `6982` (only the PIN is wanting). `9000` when
    /// allowed. See `docs/policies.md`.
    pub fn status_word(&self) -> u16 {
        if self.outcome != Outcome::Deny {
            return sw::OK;
        }
        let has = |word: u16| self.reasons.iter().any(|r| r.code.status_word() == word);
        [sw::CONDITIONS_NOT_SATISFIED, sw::WRONG_DATA, sw::SECURITY_STATUS_NOT_SATISFIED]
            .into_iter()
            .find(|&w| has(w))
            .unwrap_or(sw::CONDITIONS_NOT_SATISFIED)
    }

    /// The record the card keeps of its last decision, for the GET DATA diagnostic object.
    pub fn record(&self, service: &Service) -> DecisionRecord {
        DecisionRecord {
            service: service.name().to_owned(),
            outcome: self.outcome,
            status_word: self.status_word(),
            reasons: self.reasons.clone(),
        }
    }
}

/// The last decision as the card keeps it for diagnostics (`applet::gate` encodes it as BER-TLV).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// The service decided on.
    pub service: String,
    /// The outcome.
    pub outcome: Outcome,
    /// The status word answered (9000 when allowed); in JSON a hex string such as `"6985"`.
    #[serde(with = "hex_word")]
    pub status_word: u16,
    /// The reasons, as [`Decision::reasons`].
    pub reasons: Vec<Reason>,
}

impl DecisionRecord {
    /// The record of a service whose command data could not be read as service data: denied with
    /// [`ReasonCode::MalformedData`] and status word `6A80`, before any rule was checked.
    pub fn malformed_data(service: &Service, message: String) -> DecisionRecord {
        DecisionRecord {
            service: service.name().to_owned(),
            outcome: Outcome::Deny,
            status_word: sw::WRONG_DATA,
            reasons: vec![Reason { code: ReasonCode::MalformedData, message }],
        }
    }
}

mod hex_word {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(word: &u16, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{word:04X}"))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
        let text = String::deserialize(d)?;
        u16::from_str_radix(&text, 16)
            .ok()
            .filter(|_| text.len() == 4)
            .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not a status word such as 6985")))
    }
}

/// Decides whether `service` may run with `data`, given the card's `counters` for it and its
/// `security` state. Pure and cheap: on the allow path it allocates nothing.
///
/// All rules are checked and every failure reported; a rule that needs service data the terminal did
/// not send fails with a `*.missing` reason (reported once per field).
pub fn decide(
    service: &Service,
    data: &ServiceData,
    counters: &ServiceCounters,
    security: SecurityState,
) -> Decision {
    let mut out = Reasons::default();
    if service.disabled {
        out.push(ReasonCode::ServiceDisabled, || {
            format!("the service \"{}\" is disabled by the policy", service.name)
        });
    }
    let moment = data.time.and_then(|t| service.zone.civil(t).map(|local| (t, local)));
    let time_missing =
        |out: &mut Reasons| match data.time {
            None => out
                .missing(ReasonCode::TimeMissing, "the terminal sent no transaction time (tags 9A and 9F21)"),
            Some(_) => out
                .missing(ReasonCode::TimeMissing, "the transaction time is outside the years -9999 to 9999"),
        };
    if let Some(rule) = &service.time {
        match moment {
            Some((_, local)) => rule.check(local, &service.zone, &mut out),
            None => time_missing(&mut out),
        }
    }
    if let Some(rule) = &service.location {
        rule.check(data, &mut out);
    }
    if let Some(rule) = &service.amount {
        rule.check(data, security, &mut out);
    }
    if let Some(rule) = &service.payee {
        rule.check(data, &mut out);
    }
    if let Some(rule) = &service.terminal {
        rule.check(data, &mut out);
    }
    if !service.limits.is_empty() {
        match moment {
            Some((now, local)) => {
                for (i, limit) in service.limits.iter().enumerate() {
                    limit.check(counters.windows.get(i), data, now, local, &mut out);
                }
            }
            None => time_missing(&mut out),
        }
    }
    let go_online = service.offline.as_ref().is_some_and(|rule| rule.check(data, counters, &mut out));
    if out.denies() {
        return Decision { outcome: Outcome::Deny, reasons: out.list };
    }
    if go_online {
        if let Some(rule) = &service.offline {
            out.push(ReasonCode::GoOnline, || rule.advice(counters));
        }
        return Decision { outcome: Outcome::AllowGoOnline, reasons: out.list };
    }
    Decision { outcome: Outcome::Allow, reasons: out.list }
}
