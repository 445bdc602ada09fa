//! `cardgate card ...`: emulated cards.

use std::process::ExitCode;

use clap::Subcommand;

/// What to do with an emulated card.
#[derive(Debug, Subcommand)]
pub enum CardCommand {
    /// Create a card state file with the default applets.
    Init(InitArgs),
}

/// `cardgate card init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Where to write the card state.
    pub path: std::path::PathBuf,
}

/// Runs a `card` subcommand.
pub fn run(cmd: CardCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        CardCommand::Init(args) => anyhow::bail!("card init {}: not built yet", args.path.display()),
    }
}
