//! A whole policy: the services of one card, looked up by name or by the command they bind.

use crate::service::{Binding, Service};

/// A validated policy. Built by [`Policy::parse`] from the TOML text, which it keeps so that the
/// card can store the policy verbatim and parse it again when it starts.
#[derive(Clone, Debug)]
pub struct Policy {
    pub(crate) origin: String,
    pub(crate) source: String,
    pub(crate) services: Vec<Service>,
}

impl Policy {
    /// The name the text was parsed under (a file name), used in messages.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The TOML text the policy was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The services, in file order.
    pub fn services(&self) -> &[Service] {
        &self.services
    }

    /// The service with this name.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    /// The service a command to applet `aid` with `ins`, `p1`, `p2` requests, if the policy binds
    /// it. At most one matches: validation rejects overlapping bindings. Does not allocate.
    pub fn service_for(&self, aid: &[u8], ins: u8, p1: u8, p2: u8) -> Option<&Service> {
        self.services.iter().find(|s| s.bindings.iter().any(|b| b.matches(aid, ins, p1, p2)))
    }

    /// Every binding with its service: what the runtime checks against the instructions each applet
    /// declares as services when it loads the policy.
    pub fn bindings(&self) -> impl Iterator<Item = (&Service, &Binding)> {
        self.services.iter().flat_map(|s| s.bindings.iter().map(move |b| (s, b)))
    }

    /// The bindings that `is_declared` says fall outside every service the bound applet declares
    /// (or name an applet the card does not have). An applet declares a service as an instruction,
    /// optionally narrowed to one P1 and/or P2; a binding is declared when every command it matches
    /// is one of a declared service's ([`Binding::within`]), so a policy cannot gate an applet's
    /// commands beyond the services it declares. The runtime refuses a policy for which this is not
    /// empty; [`UndeclaredBinding`]'s message names the file and line.
    pub fn undeclared_bindings(
        &self,
        mut is_declared: impl FnMut(&Binding) -> bool,
    ) -> Vec<UndeclaredBinding> {
        self.bindings()
            .filter(|(_, b)| !is_declared(b))
            .map(|(s, b)| UndeclaredBinding {
                origin: self.origin.clone(),
                line: s.line,
                service: s.name.clone(),
                binding: *b,
            })
            .collect()
    }
}

/// A policy binding outside every service the bound applet declares: a policy error found at load.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{origin}:{line}: service `{service}` binds {binding}, which is not a service that applet declares")]
pub struct UndeclaredBinding {
    /// The policy's origin (file name).
    pub origin: String,
    /// The line of the service.
    pub line: usize,
    /// The service's name.
    pub service: String,
    /// The binding.
    pub binding: Binding,
}
