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
    /// Show a card: ATR, applets, memory (never secrets).
    Show(ShowArgs),
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

fn init(args: InitArgs) -> anyhow::Result<ExitCode> {
    let options = CardOptions {
        name: args.name,
        quota: args.quota as usize,
        pin: Zeroizing::new(args.pin.into_bytes()),
        puk: Zeroizing::new(args.puk.into_bytes()),
        pin_tries: args.pin_tries,
        puk_tries: args.puk_tries,
        default_applet: default_applet(&args.default_applet)?,
    };
    for (what, value) in [("--pin", &options.pin), ("--puk", &options.puk)] {
        anyhow::ensure!(
            (1..=applet::pin::PIN_MAX).contains(&value.len()),
            "{what} must have 1 to {} characters",
            applet::pin::PIN_MAX
        );
    }
    let card = apps::new_card(&options).context("cannot make the card")?;
    let file = FileCard::create(&args.path, card)?;
    println!("created card {}", args.path.display());
    print_card(file.card());
    Ok(ExitCode::SUCCESS)
}

fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let card = FileCard::read(&args.path, apps::catalog())?;
    println!("card {}", args.path.display());
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
