//! Location rules: geofences that allow or deny a service where the terminal is (US 11,127,019 B2
//! claim 2, "location information associated with the intelligent terminal").

use std::fmt;

use crate::data::ServiceData;
use crate::decision::Reasons;
use crate::geo::Shape;
use crate::reason::ReasonCode;

/// Whether a geofence allows or denies the service inside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FenceAction {
    /// The service may run inside (if any allow fence exists, it must run inside one of them).
    Allow,
    /// The service may not run inside.
    Deny,
}

/// A named area that allows or denies the service.
#[derive(Clone, Debug, PartialEq)]
pub struct Geofence {
    /// The name, used in reasons ("HQ campus").
    pub name: String,
    /// Allow or deny.
    pub action: FenceAction,
    /// The area.
    pub shape: Shape,
}

/// The location rule of a service: its geofences. Deny fences win over allow fences.
#[derive(Clone, Debug, PartialEq)]
pub struct LocationRule {
    /// The fences, in file order.
    pub fences: Vec<Geofence>,
}

impl LocationRule {
    pub(crate) fn check(&self, data: &ServiceData, out: &mut Reasons) {
        let Some(at) = data.location else {
            out.missing(ReasonCode::LocationMissing, "the terminal sent no location (tag DF51)");
            return;
        };
        let mut allows = self.fences.iter().filter(|f| f.action == FenceAction::Allow).peekable();
        if allows.peek().is_some() && !allows.clone().any(|f| f.shape.contains(at)) {
            out.push(ReasonCode::OutsideAllowedArea, || {
                let names: Vec<&str> = allows.map(|f| f.name.as_str()).collect();
                format!("the terminal at {at} is outside every allowed area ({})", names.join(", "))
            });
        }
        for fence in self.fences.iter().filter(|f| f.action == FenceAction::Deny) {
            if fence.shape.contains(at) {
                out.push(ReasonCode::InsideDeniedArea, || {
                    format!("the terminal at {at} is inside the denied area \"{}\"", fence.name)
                });
            }
        }
    }
}

impl fmt::Display for Geofence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self.action {
            FenceAction::Allow => "allow",
            FenceAction::Deny => "deny",
        };
        write!(f, "{verb} \"{}\": {}", self.name, self.shape)
    }
}
