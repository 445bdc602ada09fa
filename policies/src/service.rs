//! A service: a name bound to an applet's instruction(s), and the security parameters that must
//! hold before the applet runs it.

use std::fmt;

use crate::aid::Aid;
use crate::amount::AmountRule;
use crate::frequency::{Limit, OfflineRule};
use crate::location::LocationRule;
use crate::payee::{PayeeRule, TerminalRule};
use crate::schedule::{TimeRule, Zone};

/// What a service is bound to: an applet's instruction, optionally narrowed by P1 and P2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Binding {
    /// The applet's full AID.
    pub aid: Aid,
    /// The instruction byte.
    pub ins: u8,
    /// P1, if the binding is narrowed to one value.
    pub p1: Option<u8>,
    /// P2, if the binding is narrowed to one value.
    pub p2: Option<u8>,
}

impl Binding {
    /// Whether a command to applet `aid` with `ins`, `p1`, `p2` falls under this binding.
    pub fn matches(&self, aid: &[u8], ins: u8, p1: u8, p2: u8) -> bool {
        self.aid.as_bytes() == aid
            && self.ins == ins
            && self.p1.is_none_or(|v| v == p1)
            && self.p2.is_none_or(|v| v == p2)
    }

    /// Whether every command this binding matches is one with `ins` and, where given, `p1` and
    /// `p2`: the binding lies within a service declared as (`ins`, `p1`, `p2`).
    pub fn within(&self, ins: u8, p1: Option<u8>, p2: Option<u8>) -> bool {
        self.ins == ins && p1.is_none_or(|v| self.p1 == Some(v)) && p2.is_none_or(|v| self.p2 == Some(v))
    }

    /// Whether some command would fall under both bindings.
    pub fn overlaps(&self, other: &Binding) -> bool {
        let compatible = |a: Option<u8>, b: Option<u8>| a.is_none() || b.is_none() || a == b;
        self.aid == other.aid
            && self.ins == other.ins
            && compatible(self.p1, other.p1)
            && compatible(self.p2, other.p2)
    }
}

impl fmt::Display for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "applet {} INS {:02X}", self.aid, self.ins)?;
        if let Some(p1) = self.p1 {
            write!(f, " P1 {p1:02X}")?;
        }
        if let Some(p2) = self.p2 {
            write!(f, " P2 {p2:02X}")?;
        }
        Ok(())
    }
}

/// One service of a policy, validated.
#[derive(Clone, Debug)]
pub struct Service {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) line: usize,
    pub(crate) bindings: Vec<Binding>,
    pub(crate) disabled: bool,
    pub(crate) zone: Zone,
    pub(crate) time: Option<TimeRule>,
    pub(crate) location: Option<LocationRule>,
    pub(crate) amount: Option<AmountRule>,
    pub(crate) limits: Vec<Limit>,
    pub(crate) offline: Option<OfflineRule>,
    pub(crate) payee: Option<PayeeRule>,
    pub(crate) terminal: Option<TerminalRule>,
}

impl Service {
    /// The service's name (the key in `[service.NAME]`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The description, if the policy gives one.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The line of the policy file where the service is declared (1-based).
    pub fn line(&self) -> usize {
        self.line
    }

    /// The instructions the service is bound to.
    pub fn bindings(&self) -> &[Binding] {
        &self.bindings
    }

    /// Whether the policy disables the service outright.
    pub fn is_disabled(&self) -> bool {
        self.disabled
    }

    /// The zone of its time rules and calendar periods.
    pub fn zone(&self) -> &Zone {
        &self.zone
    }

    /// The time rule.
    pub fn time(&self) -> Option<&TimeRule> {
        self.time.as_ref()
    }

    /// The geofences.
    pub fn location(&self) -> Option<&LocationRule> {
        self.location.as_ref()
    }

    /// The per-transaction amount rule.
    pub fn amount(&self) -> Option<&AmountRule> {
        self.amount.as_ref()
    }

    /// The frequency limits, in file order (the order of [`ServiceCounters::windows`](crate::ServiceCounters)).
    pub fn limits(&self) -> &[Limit] {
        &self.limits
    }

    /// The consecutive-offline limits.
    pub fn offline(&self) -> Option<&OfflineRule> {
        self.offline.as_ref()
    }

    /// The payee rule.
    pub fn payee(&self) -> Option<&PayeeRule> {
        self.payee.as_ref()
    }

    /// The terminal rule.
    pub fn terminal(&self) -> Option<&TerminalRule> {
        self.terminal.as_ref()
    }

    /// Whether uses of the service change its counters (it has limits or offline rules). If not,
    /// the runtime need not write counters after the service.
    pub fn keeps_counters(&self) -> bool {
        !self.limits.is_empty() || self.offline.is_some()
    }

    /// One line per rule, for people (`cardgate policy check`).
    pub fn rule_summaries(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.disabled {
            lines.push("disabled: every use is denied".to_owned());
        }
        if let Some(t) = &self.time {
            lines.push(format!("time ({}): {t}", self.zone));
        }
        if let Some(l) = &self.location {
            for fence in &l.fences {
                lines.push(format!("location: {fence}"));
            }
        }
        if let Some(a) = &self.amount {
            lines.push(format!("amount: {a}"));
        }
        for limit in &self.limits {
            let zone = if matches!(limit.period, crate::Period::Rolling { .. }) {
                String::new()
            } else {
                format!(" ({})", self.zone)
            };
            lines.push(format!("frequency{zone}: {limit}"));
        }
        if let Some(o) = &self.offline {
            lines.push(format!("offline: {o}"));
        }
        if let Some(p) = &self.payee {
            lines.push(format!("payee: {p}"));
        }
        if let Some(t) = &self.terminal {
            lines.push(format!("terminal: {t}"));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aids_and_bindings() {
        let aid = Aid::from_hex("A0 00 00 08 58 01 01").unwrap();
        assert_eq!(aid.to_string(), "A0000008580101");
        assert!(Aid::from_hex("A0 00 00 08").is_err(), "4 bytes is too short");
        assert!(Aid::from_hex(&"00".repeat(17)).is_err());
        assert!(Aid::from_hex("A0 00 00 08 5").is_err());
        assert!(Aid::from_hex("G0 00 00 08 58").is_err());
        let any = Binding { aid, ins: 0x50, p1: None, p2: None };
        let narrow = Binding { aid, ins: 0x50, p1: Some(1), p2: None };
        let other = Binding { aid, ins: 0x50, p1: Some(2), p2: None };
        assert!(any.matches(aid.as_bytes(), 0x50, 7, 9));
        assert!(!any.matches(aid.as_bytes(), 0x52, 7, 9));
        assert!(!any.matches(&aid.as_bytes()[..6], 0x50, 7, 9), "the full AID must match");
        assert!(narrow.matches(aid.as_bytes(), 0x50, 1, 0) && !narrow.matches(aid.as_bytes(), 0x50, 2, 0));
        assert!(any.overlaps(&narrow) && !narrow.overlaps(&other));
        assert_eq!(narrow.to_string(), "applet A0000008580101 INS 50 P1 01");
    }
}
