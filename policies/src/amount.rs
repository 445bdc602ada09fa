//! Per-transaction amount rules: currency, minimum, maximum, and the CVM limit above which the
//! cardholder PIN must have been verified (EMV Book 3 §10.5 cardholder verification, as a card-side
//! rule).

use std::fmt;

use crate::currency::{Currency, Money};
use crate::data::{SecurityState, ServiceData};
use crate::decision::Reasons;
use crate::reason::ReasonCode;

/// The amount rule of a service. Amounts are in `currency`; bounds are inclusive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AmountRule {
    /// The only currency the service accepts.
    pub currency: Currency,
    /// The smallest amount per transaction.
    pub min: Option<Money>,
    /// The largest amount per transaction.
    pub max: Option<Money>,
    /// Amounts above this need the cardholder PIN verified.
    pub cvm_limit: Option<Money>,
}

impl AmountRule {
    pub(crate) fn check(&self, data: &ServiceData, security: SecurityState, out: &mut Reasons) {
        let Some(amount) = data.amount else {
            out.missing(ReasonCode::AmountMissing, "the terminal sent no amount (tags 9F02 and 5F2A)");
            return;
        };
        if amount.currency != self.currency {
            out.push(ReasonCode::WrongCurrency, || {
                format!(
                    "the amount is in {}, but this service accepts only {}",
                    amount.currency, self.currency
                )
            });
            return;
        }
        if let Some(min) = self.min.filter(|m| amount.minor_units < m.minor_units) {
            out.push(ReasonCode::BelowMinimum, || {
                format!("the amount {amount} is below the per-transaction minimum {min}")
            });
        }
        if let Some(max) = self.max.filter(|m| amount.minor_units > m.minor_units) {
            out.push(ReasonCode::AboveMaximum, || {
                format!("the amount {amount} is above the per-transaction maximum {max}")
            });
        }
        if let Some(cvm) = self.cvm_limit.filter(|c| amount.minor_units > c.minor_units)
            && !security.pin_verified
        {
            out.push(ReasonCode::PinRequired, || {
                format!("the amount {amount} is above the CVM limit {cvm}: verify the cardholder PIN first")
            });
        }
    }
}

impl fmt::Display for AmountRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "amount in {}", self.currency)?;
        match (self.min, self.max) {
            (Some(min), Some(max)) => write!(f, " from {} to {}", min.decimal(), max.decimal())?,
            (Some(min), None) => write!(f, " of at least {}", min.decimal())?,
            (None, Some(max)) => write!(f, " of at most {}", max.decimal())?,
            (None, None) => {}
        }
        if let Some(cvm) = self.cvm_limit {
            write!(f, "; PIN required above {}", cvm.decimal())?;
        }
        Ok(())
    }
}
