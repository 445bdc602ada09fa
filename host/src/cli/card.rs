//! `cardgate card ...`: emulated cards.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use applet::apps::{self, CardOptions};
use applet::{Aid, FileCard};
use clap::Subcommand;
use zeroize::Zeroizing;

/// What to do with an emulated card.
#[derive(Debug, Subcommand)]
pub enum CardCommand {
    /// Create a card state file with the default applets.
    Init(InitArgs),
    /// Show a card: ATR, applets, memory, its policy and counters (never secrets).
    Show(ShowArgs),
    /// Replace (or remove) the policy of an existing card, with its admin PIN.
    Policy(PolicyArgs),
    /// Put the card into vsmartcard's virtual reader (vpcd), for every PC/SC program to use.
    Serve(super::card_serve::ServeArgs),
    /// Take a served card out of the reader (the serve process keeps running).
    Eject(super::card_serve::ControlArgs),
    /// Put an ejected card back into the reader.
    Insert(super::card_serve::ControlArgs),
}

/// `cardgate card init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Where to write the card state (refused if the file exists).
    pub path: PathBuf,
    /// PIN of the diagnostic applet and the credit wallet (1 to 8 characters).
    #[arg(long, default_value = "1234")]
    pub pin: String,
    /// PUK (resetting code) of the diagnostic applet and the credit wallet (1 to 8 characters).
    #[arg(long, default_value = "12345678")]
    pub puk: String,
    /// PIN tries before it blocks (1 to 15).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=15))]
    pub pin_tries: u8,
    /// PUK tries before it blocks (1 to 15).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(1..=15))]
    pub puk_tries: u8,
    /// Persistent-memory quota in bytes (1 KiB to 16 MiB).
    #[arg(long, default_value_t = applet::runtime::DEFAULT_QUOTA as u64,
          value_parser = clap::value_parser!(u64).range(1024..=16 * 1024 * 1024))]
    pub quota: u64,
    /// Applet selected at power-up: `diag`, an installed AID in hex, or `none`.
    #[arg(long, default_value = "diag")]
    pub default_applet: String,
    /// Card name in the ATR's historical bytes (1 to 8 printable ASCII characters).
    #[arg(long, default_value = applet::atr::DEFAULT_NAME)]
    pub name: String,
    /// Policy file (TOML, docs/policies.md) the card enforces before its applets run services.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// The issuer's admin PIN (4 to 8 characters): needed later to replace the policy
    /// (`cardgate card policy`). Without it the card's policy can never be replaced.
    #[arg(long, env = "CARDGATE_ADMIN_PIN", hide_env_values = true)]
    pub admin_pin: Option<String>,
    /// Admin PIN tries before it blocks for good (1 to 15).
    #[arg(long, default_value_t = applet::apps::admin::DEFAULT_TRIES,
          value_parser = clap::value_parser!(u8).range(1..=15))]
    pub admin_tries: u8,
    /// INSECURE test card: every random number and key the card makes comes from a DRBG seeded with
    /// these bytes (hex, 1 to 64 bytes), so two cards made with one seed make the same keys and a
    /// recorded issuance replays on a fresh card. Anyone who knows the seed knows the card's keys.
    #[arg(long, value_name = "HEX")]
    pub insecure_seed: Option<String>,
}

/// `cardgate card policy`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("card").required(true).args(["path", "reader"])))]
#[command(group(clap::ArgGroup::new("what").required(true).args(["policy", "remove"])))]
pub struct PolicyArgs {
    /// The card state file (the card in-process, as `-r emu:PATH`).
    pub path: Option<PathBuf>,
    /// Or a reader with the card in it: `emu:PATH`, a PC/SC reader name, a substring, an index.
    #[arg(short, long, env = "CARDGATE_READER")]
    pub reader: Option<String>,
    /// The new policy file.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Remove the policy: the card then gates nothing.
    #[arg(long)]
    pub remove: bool,
    /// The admin PIN set with `card init --admin-pin`. A wrong one costs a try.
    #[arg(long, env = "CARDGATE_ADMIN_PIN", hide_env_values = true)]
    pub admin_pin: String,
    /// Also write the APDUs sent to the card as a script that `cardgate run` replays (the admin PIN
    /// as the variable `${admin_pin}`, never its value). Written even when the flow fails.
    #[arg(long, value_name = "FILE")]
    pub emit_script: Option<PathBuf>,
}

/// `cardgate card show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The card state file.
    pub path: PathBuf,
}

/// Runs a `card` subcommand.
pub fn run(cmd: CardCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        CardCommand::Init(args) => init(args),
        CardCommand::Show(args) => show(args),
        CardCommand::Policy(args) => replace_policy(args),
        CardCommand::Serve(args) => super::card_serve::serve(args),
        CardCommand::Eject(args) => super::card_serve::control(args, false),
        CardCommand::Insert(args) => super::card_serve::control(args, true),
    }
}

fn default_applet(text: &str) -> anyhow::Result<Option<Aid>> {
    Ok(match text {
        "none" => None,
        "diag" => Some(apps::diag::aid()),
        hex => Some(Aid::from_hex(hex).with_context(|| format!("--default-applet {hex:?}"))?),
    })
}

/// Prints every binding the card's applets do not declare, and the error to fail with.
fn undeclared(file: &std::path::Path, e: applet::gate::PolicyLoadError) -> anyhow::Error {
    match e {
        applet::gate::PolicyLoadError::Undeclared(list) => {
            for item in &list {
                eprintln!("{item}");
            }
            anyhow::anyhow!(
                "{} binds {} instruction{} that no applet on the card declares as a service",
                file.display(),
                list.len(),
                if list.len() == 1 { "" } else { "s" }
            )
        }
        other => anyhow::Error::new(other).context(format!("cannot load the policy {}", file.display())),
    }
}

fn check_admin_pin(pin: &[u8]) -> anyhow::Result<()> {
    anyhow::ensure!(
        (applet::pin::NEW_PIN_MIN..=applet::pin::PIN_MAX).contains(&pin.len()),
        "--admin-pin must have {} to {} characters",
        applet::pin::NEW_PIN_MIN,
        applet::pin::PIN_MAX
    );
    Ok(())
}

/// The `--insecure-seed` bytes.
fn insecure_seed(text: &str) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let seed = Zeroizing::new(
        hex::decode(text.trim()).with_context(|| format!("--insecure-seed {text:?} is not hex"))?,
    );
    anyhow::ensure!(
        (1..=applet::drbg::MAX_SEED).contains(&seed.len()),
        "--insecure-seed takes 1 to {} bytes of hex, not {}",
        applet::drbg::MAX_SEED,
        seed.len()
    );
    Ok(seed)
}

/// What `card init` and `card show` print about an insecure test card, on stdout and stderr.
fn warn_insecure(card: &applet::Card) {
    if card.is_insecure_test_card() {
        let text = "INSECURE TEST CARD: its random numbers and keys come from a DRBG seeded with \
                    --insecure-seed; anyone who knows the seed knows its keys. Never personalize it for \
                    real use.";
        println!("  WARNING  {text}");
        eprintln!("warning: {text}");
    }
}

fn init(args: InitArgs) -> anyhow::Result<ExitCode> {
    let policy = match &args.policy {
        Some(file) => match super::policy::load(file)? {
            Ok(policy) => Some(policy),
            Err(code) => return Ok(code),
        },
        None => None,
    };
    let admin_pin = args.admin_pin.map(|p| Zeroizing::new(p.into_bytes()));
    if let Some(pin) = &admin_pin {
        check_admin_pin(pin)?;
    }
    let options = CardOptions {
        name: args.name,
        quota: args.quota as usize,
        pin: Zeroizing::new(args.pin.into_bytes()),
        puk: Zeroizing::new(args.puk.into_bytes()),
        pin_tries: args.pin_tries,
        puk_tries: args.puk_tries,
        default_applet: default_applet(&args.default_applet)?,
        admin_pin,
        admin_tries: args.admin_tries,
        insecure_seed: args.insecure_seed.as_deref().map(insecure_seed).transpose()?,
    };
    for (what, value) in [("--pin", &options.pin), ("--puk", &options.puk)] {
        anyhow::ensure!(
            (1..=applet::pin::PIN_MAX).contains(&value.len()),
            "{what} must have 1 to {} characters",
            applet::pin::PIN_MAX
        );
    }
    let mut card = apps::new_card(&options).context("cannot make the card")?;
    if let (Some(policy), Some(file)) = (&policy, &args.policy) {
        card.install_policy(Some(policy)).map_err(|e| undeclared(file, e))?;
    }
    let file = FileCard::create(&args.path, card)?;
    println!("created card {}", args.path.display());
    warn_insecure(file.card());
    print_card(file.card());
    if policy.is_some() && options.admin_pin.is_none() {
        eprintln!("note: no --admin-pin, so this card's policy can never be replaced");
    }
    Ok(ExitCode::SUCCESS)
}

fn replace_policy(args: PolicyArgs) -> anyhow::Result<ExitCode> {
    let text = match &args.policy {
        Some(file) => {
            let policy = match super::policy::load(file)? {
                Ok(policy) => policy,
                Err(code) => return Ok(code),
            };
            Some((file, policy))
        }
        None => None,
    };
    let pin = Zeroizing::new(args.admin_pin.into_bytes());
    check_admin_pin(&pin)?;
    let transport: Box<dyn reader_bridge::Transport> = match (&args.path, &args.reader) {
        (Some(path), _) => {
            let mut emu = reader_bridge::emu::EmuTransport::open(path)?;
            if let Some((file, policy)) = &text {
                // In-process: check the bindings here too, to name every one the card would refuse.
                applet::gate::stored::check_bindings(policy, emu.card().card().declared_services())
                    .map_err(|e| undeclared(file, e))?;
            }
            Box::new(emu)
        }
        (None, Some(reader)) => reader_bridge::open(Some(reader))?,
        (None, None) => anyhow::bail!("name the card state file or a reader (-r)"),
    };
    let (transport, emit) =
        super::emit_script::wrap(transport, args.emit_script.as_deref(), "cardgate card policy")?;
    let mut exchanger = reader_bridge::Exchanger::new(transport);
    let name = exchanger.transport().name();
    let source = text.as_ref().map(|(_, policy)| policy.source());
    emit.comment("SELECT the policy administration applet, VERIFY the admin PIN ($admin_pin, not recorded),");
    emit.comment("PUT DATA DF6A with the policy text (chained), GET DATA DF6A to read it back");
    let replaced = cardgate::policy_admin::replace_policy(&mut exchanger, source, &pin);
    emit.finish(replaced.map_err(anyhow::Error::from))?;
    match &text {
        Some((file, policy)) => {
            let n = policy.services().len();
            println!(
                "{name}: policy replaced by {} ({n} service{})",
                file.display(),
                if n == 1 { "" } else { "s" }
            );
        }
        None => println!("{name}: policy removed; the card gates nothing"),
    }
    Ok(ExitCode::SUCCESS)
}

fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let card = FileCard::read(&args.path, apps::catalog())?;
    println!("card {}", args.path.display());
    warn_insecure(&card);
    print_card(&card);
    let store = card.store();
    println!("objects (contents not shown):");
    for (key, len, secret) in store.list() {
        let owner = match key.owner {
            applet::store::SYSTEM => "system".to_string(),
            n => format!("applet #{n}"),
        };
        println!("  {owner:<10} id {:04X}  {len:>6} bytes{}", key.id, if secret { "  secret" } else { "" });
    }
    print_policy(&card)
}

/// The card's policy, its counters and whether it can be replaced.
fn print_policy(card: &applet::Card) -> anyhow::Result<ExitCode> {
    match apps::admin::pin_tries(card) {
        Some((0, _)) => println!("admin    PIN blocked: the policy can no longer be replaced"),
        Some((left, limit)) => {
            println!("admin    PIN set, {left} of {limit} tries left (`cardgate card policy`)")
        }
        None => println!("admin    none: the policy cannot be replaced"),
    }
    let policy = match card.policy() {
        Ok(Some(policy)) => policy,
        Ok(None) => {
            println!("policy   none: the card gates nothing");
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => {
            println!("policy   DOES NOT LOAD: its services are refused");
            for line in e.to_string().lines() {
                println!("  {line}");
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let n = policy.services().len();
    println!(
        "policy   {n} service{} ({} bytes, stored verbatim)",
        if n == 1 { "" } else { "s" },
        policy.source().len()
    );
    let counters = card.counters()?;
    for service in policy.services() {
        super::policy::print_service(service, "  ");
        for line in counters.get(service.name()).summaries(service) {
            println!("    counter: {line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_card(card: &applet::Card) {
    let config = card.config();
    println!("  ATR      {}", hex::encode_upper(card.atr()));
    println!("  name     {}", config.name);
    println!("  memory   {} of {} bytes used", card.store().used(), card.store().quota());
    for (aid, class) in card.applets() {
        let default = if config.default_applet == Some(aid) { "  (default)" } else { "" };
        let about = card.catalog().get(class).map_or("", |c| c.about);
        println!("  applet   {aid}  {class}: {about}{default}");
    }
    if config.default_applet.is_none() {
        println!("  default  none: SELECT an applet first");
    }
}
