//! `cardgate policy ...`: check a policy file and explain a decision, without a card.
//!
//! Exit codes of `explain`: 0 the service would run (also when the card advises going online),
//! 3 it would be denied, 1 the file, data or flags are wrong, 2 the command line does not parse.
//! `check` exits 0 for a valid policy and 1 otherwise.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use applet::gate::service_data;
use clap::Subcommand;
use policies::{
    Decision, DecisionRecord, Outcome, Policy, SecurityState, Service, ServiceCounters, ServiceData, decide,
    record_use,
};

/// The exit code of `policy explain` when the service would be denied.
pub const EXIT_DENIED: u8 = 3;

/// What to do with a policy file.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy file and summarise its services and rules.
    Check(CheckArgs),
    /// Decide one use of a service, as the card would, and print every reason.
    Explain(ExplainArgs),
}

/// `cardgate policy check FILE`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The policy file (TOML; format in docs/policies.md).
    pub file: PathBuf,
}

/// `cardgate policy explain FILE --service NAME --data ...`.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// The policy file.
    pub file: PathBuf,
    /// The service to decide (may be left out when the policy has only one).
    #[arg(short, long)]
    pub service: Option<String>,
    /// The service data: key=value words (amount=12.50 currency=CNY time=2026-11-28T10:00:00Z
    /// lat=31.2304 lon=121.4737 merchant=SHOP-0001 mcc=5411 terminal=POS00017 online=no), or the
    /// command data field as BER-TLV in hex (tags in docs/policies.md).
    #[arg(short, long, num_args = 1.., required = true)]
    pub data: Vec<String>,
    /// The cardholder PIN has been verified in this session.
    #[arg(long)]
    pub pin_verified: bool,
    /// An earlier allowed use, as key=value words in one argument ("time=... amount=... currency=...
    /// online=no"); repeat for several, oldest first. They fill the card's counters.
    #[arg(long = "prior", value_name = "DATA")]
    pub prior: Vec<String>,
    /// Offline uses in a row before this one (overrides what --prior uses give).
    #[arg(long, value_name = "N")]
    pub offline_count: Option<u32>,
    /// Print the decision as JSON (the record the card keeps for GET DATA FF60).
    #[arg(long)]
    pub json: bool,
}

/// Runs a `policy` subcommand.
pub fn run(cmd: PolicyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCommand::Check(args) => check(&args),
        PolicyCommand::Explain(args) => explain(&args),
    }
}

/// Reads and validates a policy; on errors prints each (`FILE:LINE:COL: message`) to stderr.
pub(crate) fn load(file: &std::path::Path) -> anyhow::Result<Result<Policy, ExitCode>> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading policy {}", file.display()))?;
    match Policy::parse(&text, &file.display().to_string()) {
        Ok(policy) => Ok(Ok(policy)),
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("{e}");
            }
            let n = errors.0.len();
            eprintln!(
                "cardgate: {} is not a valid policy ({n} error{})",
                file.display(),
                if n == 1 { "" } else { "s" }
            );
            Ok(Err(ExitCode::FAILURE))
        }
    }
}

fn check(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let policy = match load(&args.file)? {
        Ok(policy) => policy,
        Err(code) => return Ok(code),
    };
    let n = policy.services().len();
    println!("{}: valid policy, {n} service{}", args.file.display(), if n == 1 { "" } else { "s" });
    for service in policy.services() {
        println!();
        print_service(service, "");
    }
    Ok(ExitCode::SUCCESS)
}

/// A service's name, description, bindings and rules, one per line, each line after `indent`.
pub(crate) fn print_service(service: &Service, indent: &str) {
    let disabled = if service.is_disabled() { " (disabled)" } else { "" };
    match service.description() {
        Some(d) => println!("{indent}service {}{disabled}: {d}", service.name()),
        None => println!("{indent}service {}{disabled}", service.name()),
    }
    for binding in service.bindings() {
        println!("{indent}  binds {binding}");
    }
    let rules = service.rule_summaries();
    if rules.is_empty() {
        println!("{indent}  no rules: every use is allowed");
    }
    for rule in rules {
        println!("{indent}  {rule}");
    }
}

/// Service data from `--data` words: key=value pairs, or hex TLV when no word has an `=`. TLV that
/// is not valid service data is what the card would deny with 6A80, so it is returned as such.
fn read_data(words: &[String]) -> anyhow::Result<Result<ServiceData, String>> {
    if words.iter().any(|w| w.contains('=')) {
        let data = ServiceData::parse(words.iter().map(String::as_str)).context("--data")?;
        return Ok(Ok(data));
    }
    let hex_text: String = words.concat().chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = hex::decode(&hex_text)
        .with_context(|| format!("--data: `{hex_text}` is neither key=value words nor hex"))?;
    Ok(service_data::from_tlv(&bytes).map_err(|e| e.to_string()))
}

fn pick_service<'p>(policy: &'p Policy, name: Option<&str>) -> anyhow::Result<&'p Service> {
    let names = || policy.services().iter().map(Service::name).collect::<Vec<_>>().join(", ");
    match name {
        Some(name) => policy
            .service(name)
            .with_context(|| format!("the policy has no service `{name}`; it has: {}", names())),
        None if policy.services().len() == 1 => Ok(&policy.services()[0]),
        None => bail!("the policy has several services; choose one with --service ({})", names()),
    }
}

fn explain(args: &ExplainArgs) -> anyhow::Result<ExitCode> {
    let policy = match load(&args.file)? {
        Ok(policy) => policy,
        Err(code) => return Ok(code),
    };
    let service = pick_service(&policy, args.service.as_deref())?;
    let mut counters = ServiceCounters::default();
    for (i, prior) in args.prior.iter().enumerate() {
        let data =
            ServiceData::parse(prior.split_whitespace()).with_context(|| format!("--prior #{}", i + 1))?;
        counters = record_use(service, &data, &counters);
    }
    if let Some(n) = args.offline_count {
        counters.consecutive_offline = n;
    }
    let security = SecurityState { pin_verified: args.pin_verified };
    let (data, record) = match read_data(&args.data)? {
        Ok(data) => {
            let decision: Decision = decide(service, &data, &counters, security);
            (Some(data), decision.record(service))
        }
        Err(message) => (None, DecisionRecord::malformed_data(service, message)),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&record)?);
    } else {
        print_decision(service, data.as_ref(), &record);
    }
    Ok(match record.outcome {
        Outcome::Deny => ExitCode::from(EXIT_DENIED),
        Outcome::Allow | Outcome::AllowGoOnline => ExitCode::SUCCESS,
    })
}

fn print_decision(service: &Service, data: Option<&ServiceData>, record: &DecisionRecord) {
    let bindings: Vec<String> = service.bindings().iter().map(ToString::to_string).collect();
    println!("service:  {} ({})", service.name(), bindings.join("; "));
    if let Some(data) = data {
        let text = data.to_string();
        println!("data:     {}", if text.is_empty() { "(none)" } else { &text });
    }
    let verdict = match record.outcome {
        Outcome::Allow => "ALLOW",
        Outcome::AllowGoOnline => "ALLOW, GO ONLINE",
        Outcome::Deny => "DENY",
    };
    let sw = record.status_word;
    println!("decision: {verdict} (status word {sw:04X}: {})", applet::sw::meaning(sw));
    for reason in &record.reasons {
        println!("  - {} [{:04X}]: {}", reason.code, reason.code.number(), reason.message);
    }
}
