//! Reason codes: why the gate denied a service (or advised going online), each with a stable name,
//! a stable number, and the status word the card answers with. The table in `docs/policies.md` is
//! checked against [`ReasonCode::ALL`] by a test.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Status words the gate answers with (ISO 7816-4 §5.6, table 6). Plain numbers: this crate knows
/// no APDU bytes; the card runtime sends them.
pub mod sw {
    /// Normal processing: the service ran.
    pub const OK: u16 = 0x9000;
    /// Security status not satisfied: the cardholder PIN must be verified first.
    pub const SECURITY_STATUS_NOT_SATISFIED: u16 = 0x6982;
    /// Conditions of use not satisfied: the policy forbids this use.
    pub const CONDITIONS_NOT_SATISFIED: u16 = 0x6985;
    /// Incorrect parameters in the command data field: service data missing or malformed.
    pub const WRONG_DATA: u16 = 0x6A80;
}

macro_rules! reason_codes {
    ($($(#[$doc:meta])* $variant:ident = $number:literal, $name:literal, $sw:expr;)*) => {
        /// Why a rule failed. The name (`amount.above-maximum`) and number (`0x0404`) are stable:
        /// tools and the card's diagnostic object use them.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum ReasonCode {
            $($(#[$doc])* $variant,)*
        }

        impl ReasonCode {
            /// Every code, in number order.
            pub const ALL: &'static [ReasonCode] = &[$(ReasonCode::$variant),*];

            /// The stable name, such as `"amount.above-maximum"`.
            pub const fn name(self) -> &'static str {
                match self { $(ReasonCode::$variant => $name,)* }
            }

            /// The stable number: the high byte names the rule kind, the low byte the failure.
            pub const fn number(self) -> u16 {
                match self { $(ReasonCode::$variant => $number,)* }
            }

            /// The status word for this reason alone (`9000` for advice that does not deny).
            pub const fn status_word(self) -> u16 {
                match self { $(ReasonCode::$variant => $sw,)* }
            }
        }
    };
}

reason_codes! {
    /// The command's service data is malformed (bad BER-TLV, wrong length, bad BCD); found by the
    /// card runtime before the rules are checked.
    MalformedData = 0x0001, "data.malformed", sw::WRONG_DATA;
    /// The service is disabled in the policy.
    ServiceDisabled = 0x0101, "service.disabled", sw::CONDITIONS_NOT_SATISFIED;
    /// The terminal sent no (usable) transaction time, and a rule needs it.
    TimeMissing = 0x0201, "time.missing", sw::WRONG_DATA;
    /// The local date is before the first valid date.
    BeforeValidity = 0x0202, "time.before-validity", sw::CONDITIONS_NOT_SATISFIED;
    /// The local date is after the last valid date.
    AfterValidity = 0x0203, "time.after-validity", sw::CONDITIONS_NOT_SATISFIED;
    /// The local day of the week is not allowed.
    DayNotAllowed = 0x0204, "time.day-not-allowed", sw::CONDITIONS_NOT_SATISFIED;
    /// The local time of day is outside every allowed window.
    HourNotAllowed = 0x0205, "time.hour-not-allowed", sw::CONDITIONS_NOT_SATISFIED;
    /// The terminal sent no location, and a geofence needs it.
    LocationMissing = 0x0301, "location.missing", sw::WRONG_DATA;
    /// The location is outside every allowed geofence.
    OutsideAllowedArea = 0x0302, "location.outside-allowed", sw::CONDITIONS_NOT_SATISFIED;
    /// The location is inside a denied geofence.
    InsideDeniedArea = 0x0303, "location.inside-denied", sw::CONDITIONS_NOT_SATISFIED;
    /// The terminal sent no amount, and an amount rule or limit needs it.
    AmountMissing = 0x0401, "amount.missing", sw::WRONG_DATA;
    /// The amount is in another currency than the policy's.
    WrongCurrency = 0x0402, "amount.wrong-currency", sw::CONDITIONS_NOT_SATISFIED;
    /// The amount is below the per-transaction minimum.
    BelowMinimum = 0x0403, "amount.below-minimum", sw::CONDITIONS_NOT_SATISFIED;
    /// The amount is above the per-transaction maximum.
    AboveMaximum = 0x0404, "amount.above-maximum", sw::CONDITIONS_NOT_SATISFIED;
    /// The amount is above the CVM limit and the cardholder PIN has not been verified.
    PinRequired = 0x0405, "amount.pin-required", sw::SECURITY_STATUS_NOT_SATISFIED;
    /// The number of uses in a period would exceed its limit.
    UsesExceeded = 0x0501, "frequency.uses-exceeded", sw::CONDITIONS_NOT_SATISFIED;
    /// The cumulative amount in a period would exceed its limit.
    CumulativeAmountExceeded = 0x0502, "frequency.amount-exceeded", sw::CONDITIONS_NOT_SATISFIED;
    /// Consecutive offline uses would exceed the upper limit (EMV UCOL): go online first.
    OfflineLimitExceeded = 0x0503, "offline.limit-exceeded", sw::CONDITIONS_NOT_SATISFIED;
    /// Advice, not a denial: consecutive offline uses passed the lower limit (EMV LCOL).
    GoOnline = 0x0504, "offline.go-online", sw::OK;
    /// The terminal sent no merchant id, and a merchant list needs it.
    MerchantMissing = 0x0601, "payee.merchant-missing", sw::WRONG_DATA;
    /// The merchant is not in the allowed list.
    MerchantNotAllowed = 0x0602, "payee.merchant-not-allowed", sw::CONDITIONS_NOT_SATISFIED;
    /// The merchant is in the denied list.
    MerchantDenied = 0x0603, "payee.merchant-denied", sw::CONDITIONS_NOT_SATISFIED;
    /// The terminal sent no merchant category code, and an MCC list needs it.
    MccMissing = 0x0604, "payee.mcc-missing", sw::WRONG_DATA;
    /// The merchant category code is not in the allowed lists or ranges.
    MccNotAllowed = 0x0605, "payee.mcc-not-allowed", sw::CONDITIONS_NOT_SATISFIED;
    /// The merchant category code is in a denied list or range.
    MccDenied = 0x0606, "payee.mcc-denied", sw::CONDITIONS_NOT_SATISFIED;
    /// The terminal sent no terminal id, and a terminal list needs it.
    TerminalMissing = 0x0701, "terminal.missing", sw::WRONG_DATA;
    /// The terminal is not in the allowed list.
    TerminalNotAllowed = 0x0702, "terminal.not-allowed", sw::CONDITIONS_NOT_SATISFIED;
    /// The terminal is in the denied list.
    TerminalDenied = 0x0703, "terminal.denied", sw::CONDITIONS_NOT_SATISFIED;
}

impl ReasonCode {
    /// The code with this stable number.
    pub fn from_number(number: u16) -> Option<ReasonCode> {
        Self::ALL.iter().copied().find(|c| c.number() == number)
    }

    /// The code with this stable name.
    pub fn from_name(name: &str) -> Option<ReasonCode> {
        Self::ALL.iter().copied().find(|c| c.name() == name)
    }

    /// Whether the code denies the service (everything but the go-online advice).
    pub const fn denies(self) -> bool {
        !matches!(self, ReasonCode::GoOnline)
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for ReasonCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for ReasonCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        ReasonCode::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown reason code `{name}`")))
    }
}

/// One failed rule (or one piece of advice): its code and a sentence a person understands, naming
/// the values involved ("the amount 250.00 CNY is above the per-transaction maximum 200.00 CNY").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// The stable code.
    pub code: ReasonCode,
    /// The sentence.
    pub message: String,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names_are_unique_and_round_trip() {
        for (i, a) in ReasonCode::ALL.iter().enumerate() {
            for b in &ReasonCode::ALL[i + 1..] {
                assert_ne!(a.number(), b.number());
                assert_ne!(a.name(), b.name());
                assert!(a.number() < b.number(), "ALL is in number order");
            }
            assert_eq!(ReasonCode::from_number(a.number()), Some(*a));
            assert_eq!(ReasonCode::from_name(a.name()), Some(*a));
            let kind = a.name().split('.').next().unwrap();
            assert!(
                [
                    "data",
                    "service",
                    "time",
                    "location",
                    "amount",
                    "frequency",
                    "offline",
                    "payee",
                    "terminal"
                ]
                .contains(&kind)
            );
        }
        assert_eq!(ReasonCode::from_number(0x9999), None);
    }

    #[test]
    fn missing_data_is_6a80_pin_is_6982_advice_is_9000() {
        for c in ReasonCode::ALL {
            let expected = if c.name().ends_with("missing") || *c == ReasonCode::MalformedData {
                sw::WRONG_DATA
            } else if *c == ReasonCode::PinRequired {
                sw::SECURITY_STATUS_NOT_SATISFIED
            } else if *c == ReasonCode::GoOnline {
                sw::OK
            } else {
                sw::CONDITIONS_NOT_SATISFIED
            };
            assert_eq!(c.status_word(), expected, "{c}");
        }
    }

    #[test]
    fn docs_table_lists_every_code_with_its_number_and_status_word() {
        let doc = include_str!("../../docs/policies.md");
        for c in ReasonCode::ALL {
            let row = format!("| `{}` | `{:04X}` | `{:04X}` |", c.name(), c.number(), c.status_word());
            assert!(doc.contains(&row), "docs/policies.md lacks the row starting {row}");
        }
    }
}
