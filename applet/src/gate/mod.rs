//! The policy gate in the card: before an applet runs a command that a policy binds as a service,
//! read the service data from the command, decide with [`policies::decide`], and either let the
//! service run (with the counters to commit alongside it) or answer the denial's status word and
//! change nothing (US 11,127,019 B2: "the particular service is terminated").
//!
//! - [`service_data`]: the command data field (BER-TLV) ↔ [`policies::ServiceData`];
//! - [`diagnostic`]: the last decision as a BER-TLV object for GET DATA;
//! - [`check`]: the whole gate step for one command, for the runtime's dispatch path;
//! - [`hook`]: the [`hook::ServiceGate`] trait through which the runtime consults a gate;
//! - [`stored`]: the policy and its counters in the card's persistent state, and the load-time
//!   checks;
//! - [`policy_gate`]: [`PolicyGate`], the gate every card has: it enforces the stored policy and
//!   keeps the last decision for GET DATA `FF60`.

pub mod diagnostic;
pub mod hook;
pub mod policy_gate;
pub mod service_data;
pub mod stored;

pub use policy_gate::PolicyGate;
pub use stored::PolicyLoadError;

use policies::{
    Counters, Decision, DecisionRecord, Policy, SecurityState, Service, ServiceCounters, decide, record_use,
};

use crate::sw::Sw;

/// What the runtime does with one command, after the gate.
#[derive(Debug)]
pub enum Gate<'p> {
    /// The policy binds no service to this command: dispatch it as usual, record nothing.
    NotAService,
    /// The service may run. Dispatch the command to the applet inside a transaction; if the applet
    /// succeeds, commit `counters` (when `Some`) under the service's name in that same transaction,
    /// so a failed or torn service changes neither. Keep `record` as the last decision.
    Allow {
        /// The service.
        service: &'p Service,
        /// The decision (its outcome says whether to advise going online; its reasons hold the
        /// advice).
        decision: Decision,
        /// The service's counters after this use, or `None` if the service keeps none.
        counters: Option<ServiceCounters>,
        /// The record for the GET DATA diagnostic object.
        record: DecisionRecord,
    },
    /// The service is terminated: answer `status_word`, run nothing, write nothing persistent. Keep
    /// `record` as the last decision.
    Deny {
        /// The status word to answer (see `docs/policies.md`).
        status_word: Sw,
        /// The record for the GET DATA diagnostic object.
        record: DecisionRecord,
    },
}

/// The parts of a command the gate looks at.
#[derive(Clone, Copy, Debug)]
pub struct ServiceCommand<'a> {
    /// The full AID of the applet the command goes to (the selected applet on its channel).
    pub aid: &'a [u8],
    /// The instruction byte.
    pub ins: u8,
    /// P1.
    pub p1: u8,
    /// P2.
    pub p2: u8,
    /// The command data field (after chaining is reassembled).
    pub data: &'a [u8],
}

/// The gate step for one command: finds the service the policy binds to it, reads its service
/// data from the data field, and decides with the card's `counters` and `security` state.
pub fn check<'p>(
    policy: &'p Policy,
    command: ServiceCommand<'_>,
    counters: &Counters,
    security: SecurityState,
) -> Gate<'p> {
    let ServiceCommand { aid, ins, p1, p2, data: data_field } = command;
    let Some(service) = policy.service_for(aid, ins, p1, p2) else {
        return Gate::NotAService;
    };
    let data = match service_data::from_tlv(data_field) {
        Ok(data) => data,
        Err(e) => {
            return Gate::Deny {
                status_word: e.status_word(),
                record: DecisionRecord::malformed_data(service, e.to_string()),
            };
        }
    };
    let before = counters.get(service.name());
    let decision = decide(service, &data, before, security);
    let record = decision.record(service);
    if !decision.is_allowed() {
        return Gate::Deny { status_word: decision.status_word(), record };
    }
    let counters = service.keeps_counters().then(|| record_use(service, &data, before));
    Gate::Allow { service, decision, counters, record }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"
version = 1
[service.pay]
applet = "A0 00 00 08 58 01 01"
ins = 0x50
[service.pay.amount]
currency = "CNY"
max = "100.00"
[[service.pay.limit]]
period = "day"
max_uses = 1
[service.open]
applet = "A0 00 00 08 58 03 01"
ins = 0x40
"#;

    const AID: [u8; 7] = [0xA0, 0x00, 0x00, 0x08, 0x58, 0x01, 0x01];

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    fn cmd<'a>(aid: &'a [u8], ins: u8, data: &'a [u8]) -> ServiceCommand<'a> {
        ServiceCommand { aid, ins, p1: 0, p2: 0, data }
    }

    #[test]
    fn unbound_commands_pass_untouched() {
        let policy = Policy::parse(POLICY, "p.toml").unwrap();
        let gate =
            check(&policy, cmd(&AID, 0x52, b"not tlv at all"), &Counters::new(), SecurityState::default());
        assert!(matches!(gate, Gate::NotAService));
    }

    #[test]
    fn allowed_then_denied_by_the_counters_it_produced() {
        let policy = Policy::parse(POLICY, "p.toml").unwrap();
        let data = h("9F02 06 000000001000 5F2A 02 0156 9A 03 261128 9F21 03 100000");
        let mut counters = Counters::new();
        let Gate::Allow { service, counters: Some(after), record, .. } =
            check(&policy, cmd(&AID, 0x50, &data), &counters, SecurityState::default())
        else {
            panic!("expected the first use to be allowed");
        };
        assert_eq!(record.status_word, 0x9000);
        counters.set(service.name(), after);
        let Gate::Deny { status_word, record } =
            check(&policy, cmd(&AID, 0x50, &data), &counters, SecurityState::default())
        else {
            panic!("expected the second use on the same day to be denied");
        };
        assert_eq!(status_word, 0x6985);
        assert_eq!(record.reasons[0].code, policies::ReasonCode::UsesExceeded);
    }

    #[test]
    fn malformed_service_data_is_6a80_with_a_reason() {
        let policy = Policy::parse(POLICY, "p.toml").unwrap();
        let gate =
            check(&policy, cmd(&AID, 0x50, &h("9F02 06 0000")), &Counters::new(), SecurityState::default());
        let Gate::Deny { status_word, record } = gate else { panic!("expected a denial") };
        assert_eq!(status_word, 0x6A80);
        assert_eq!(record.reasons[0].code, policies::ReasonCode::MalformedData);
        assert!(record.reasons[0].message.contains("not valid BER-TLV"), "{}", record.reasons[0].message);
    }

    #[test]
    fn services_without_counters_need_no_write() {
        let policy = Policy::parse(POLICY, "p.toml").unwrap();
        let aid = [0xA0, 0x00, 0x00, 0x08, 0x58, 0x03, 0x01];
        let gate = check(&policy, cmd(&aid, 0x40, &[]), &Counters::new(), SecurityState::default());
        assert!(matches!(gate, Gate::Allow { counters: None, .. }));
    }
}
