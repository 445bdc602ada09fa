//! Payee and terminal rules: allowed and denied merchant ids, merchant category codes (lists and
//! ranges) and terminal ids. An empty list states nothing; a denied entry always wins.

use std::fmt;

use crate::data::{Mcc, MerchantId, ServiceData, TerminalId};
use crate::decision::Reasons;
use crate::reason::ReasonCode;

/// An inclusive range of merchant category codes (`4111-4131`); a single code is a range of one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MccRange {
    /// The first code.
    pub first: Mcc,
    /// The last code (inclusive).
    pub last: Mcc,
}

impl MccRange {
    /// Reads `"5411"` or `"4111-4131"`.
    pub fn parse(text: &str) -> Result<MccRange, String> {
        let code = |s: &str| {
            Mcc::parse(s)
                .ok_or_else(|| format!("`{s}` is not a merchant category code (four digits, such as 5411)"))
        };
        let (first, last) = match text.split_once('-') {
            Some((a, b)) => (code(a)?, code(b)?),
            None => (code(text)?, code(text)?),
        };
        if first > last {
            return Err(format!("`{text}` is an empty range: {first} is after {last}"));
        }
        Ok(MccRange { first, last })
    }

    /// Whether `mcc` is in the range.
    pub fn contains(&self, mcc: Mcc) -> bool {
        (self.first..=self.last).contains(&mcc)
    }

    /// Whether two ranges share a code.
    pub fn overlaps(&self, other: &MccRange) -> bool {
        self.first <= other.last && other.first <= self.last
    }
}

impl fmt::Display for MccRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

/// Who may be paid: merchant ids and merchant category codes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PayeeRule {
    /// If not empty, only these merchants.
    pub allow_merchants: Vec<MerchantId>,
    /// Never these merchants.
    pub deny_merchants: Vec<MerchantId>,
    /// If not empty, only these categories.
    pub allow_mcc: Vec<MccRange>,
    /// Never these categories.
    pub deny_mcc: Vec<MccRange>,
}

fn join<T: fmt::Display>(items: &[T]) -> String {
    items.iter().map(T::to_string).collect::<Vec<_>>().join(", ")
}

impl PayeeRule {
    pub(crate) fn check(&self, data: &ServiceData, out: &mut Reasons) {
        if !self.allow_merchants.is_empty() || !self.deny_merchants.is_empty() {
            match data.merchant {
                None => {
                    out.missing(ReasonCode::MerchantMissing, "the terminal sent no merchant id (tag 9F16)")
                }
                Some(m) => {
                    if !self.allow_merchants.is_empty() && !self.allow_merchants.contains(&m) {
                        out.push(ReasonCode::MerchantNotAllowed, || {
                            format!(
                                "merchant {m} is not one of the allowed merchants ({})",
                                join(&self.allow_merchants)
                            )
                        });
                    }
                    if self.deny_merchants.contains(&m) {
                        out.push(ReasonCode::MerchantDenied, || format!("merchant {m} is denied"));
                    }
                }
            }
        }
        if !self.allow_mcc.is_empty() || !self.deny_mcc.is_empty() {
            match data.mcc {
                None => out.missing(
                    ReasonCode::MccMissing,
                    "the terminal sent no merchant category code (tag 9F15)",
                ),
                Some(mcc) => {
                    if !self.allow_mcc.is_empty() && !self.allow_mcc.iter().any(|r| r.contains(mcc)) {
                        out.push(ReasonCode::MccNotAllowed, || {
                            format!(
                                "merchant category {mcc} is not among the allowed ({})",
                                join(&self.allow_mcc)
                            )
                        });
                    }
                    if let Some(range) = self.deny_mcc.iter().find(|r| r.contains(mcc)) {
                        out.push(ReasonCode::MccDenied, || {
                            format!("merchant category {mcc} is denied ({range})")
                        });
                    }
                }
            }
        }
    }
}

impl fmt::Display for PayeeRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.allow_merchants.is_empty() {
            parts.push(format!("merchants {}", join(&self.allow_merchants)));
        }
        if !self.deny_merchants.is_empty() {
            parts.push(format!("not merchants {}", join(&self.deny_merchants)));
        }
        if !self.allow_mcc.is_empty() {
            parts.push(format!("categories {}", join(&self.allow_mcc)));
        }
        if !self.deny_mcc.is_empty() {
            parts.push(format!("not categories {}", join(&self.deny_mcc)));
        }
        f.write_str(&parts.join("; "))
    }
}

/// Which terminals may request the service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TerminalRule {
    /// If not empty, only these terminals.
    pub allow: Vec<TerminalId>,
    /// Never these terminals.
    pub deny: Vec<TerminalId>,
}

impl TerminalRule {
    pub(crate) fn check(&self, data: &ServiceData, out: &mut Reasons) {
        let Some(t) = data.terminal else {
            out.missing(ReasonCode::TerminalMissing, "the terminal sent no terminal id (tag 9F1C)");
            return;
        };
        if !self.allow.is_empty() && !self.allow.contains(&t) {
            out.push(ReasonCode::TerminalNotAllowed, || {
                format!("terminal {t} is not one of the allowed terminals ({})", join(&self.allow))
            });
        }
        if self.deny.contains(&t) {
            out.push(ReasonCode::TerminalDenied, || format!("terminal {t} is denied"));
        }
    }
}

impl fmt::Display for TerminalRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.allow.is_empty() {
            parts.push(format!("terminals {}", join(&self.allow)));
        }
        if !self.deny.is_empty() {
            parts.push(format!("not terminals {}", join(&self.deny)));
        }
        f.write_str(&parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcc_ranges() {
        let r = MccRange::parse("4111-4131").unwrap();
        assert!(r.contains(Mcc::new(4111).unwrap()) && r.contains(Mcc::new(4131).unwrap()));
        assert!(!r.contains(Mcc::new(4132).unwrap()));
        assert_eq!(MccRange::parse("5411").unwrap().to_string(), "5411");
        assert!(MccRange::parse("4131-4111").unwrap_err().contains("empty range"));
        assert!(MccRange::parse("411").is_err());
        assert!(r.overlaps(&MccRange::parse("4131-5000").unwrap()));
        assert!(!r.overlaps(&MccRange::parse("4132").unwrap()));
    }
}
