//! `cardgate`: talk to smart cards in any PC/SC reader (or the emulated card), run scripted APDU
//! sessions, and drive the offline credit payment system.

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Smart cards, scripted APDU sessions and offline credit payment.
#[derive(Debug, Parser)]
#[command(name = "cardgate", version, propagate_version = true)]
struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    // Cards and readers.
    /// Create, inspect and serve emulated cards.
    #[command(subcommand)]
    Card(cli::card::CardCommand),
    /// Send APDUs to a card and print the responses with their status words.
    Apdu(cli::apdu::Args),
    /// List PC/SC readers and what is in them.
    Readers(cli::readers::ReadersArgs),
    /// Show a card's answer to reset, decoded (ISO 7816-3 §8).
    Atr(cli::readers::AtrArgs),
    /// Show reader and card events as they happen (like pcsc_scan).
    Watch(cli::readers::WatchArgs),

    // Scripted sessions and decoders.
    /// Run APDU scripts (scriptor's format or the extended dialect) against a card.
    Run(cli::run::Args),
    /// Check scripts without a card: errors, and lines scriptor would read differently.
    Lint(cli::lint::Args),
    /// Decode BER-TLV, with EMV tag names.
    Tlv(cli::tlv::Args),
    /// Explain status words.
    Sw(cli::sw::Args),

    // The card's security parameters.
    /// Check policy files and explain the gate's decisions, without a card.
    #[command(subcommand)]
    Policy(cli::policy::PolicyCommand),

    // Offline credit payment.
    /// Run the issuer server (JSON over HTTP, SQLite in a data directory).
    Server(cli::server::Args),
    /// Administer a running issuer server: accounts, keys.
    #[command(subcommand)]
    Issuer(cli::issuer::IssuerCommand),
    /// Personalize a card's credit wallet with a payment code from the issuer.
    Issue(cli::wallet::IssueArgs),
    /// Ask the card for a payment code and show it as a QR code.
    Present(cli::wallet::PresentArgs),
    /// Merchant setup: register with the issuer, show the queue.
    #[command(subcommand)]
    Merchant(cli::merchant::MerchantCommand),
    /// Accept a customer's QR code offline and queue the payment.
    Accept(cli::merchant::AcceptArgs),
    /// Upload queued payments to the issuer at the set time and store the verdicts.
    Settle(cli::merchant::SettleArgs),

    // Wi-Fi sharer proof.
    /// Wi-Fi sharer proof of control, device registration and information push.
    #[command(subcommand)]
    Hotspot(cli::hotspot::HotspotCommand),
}

impl Command {
    /// Long-running services (a served card, the server, a reader watch, a hotspot listener, a
    /// scheduled settlement): a reader of their output that goes away must not end them. Every
    /// other command runs once and prints for whoever reads it: piped into `head`, it ends quietly
    /// as Unix filters do. (Their sockets are unaffected: Rust and libpcsclite send with
    /// `MSG_NOSIGNAL`, so a peer that goes away is an error, not a signal.)
    fn is_service(&self) -> bool {
        matches!(
            self,
            Command::Card(cli::card::CardCommand::Serve(_))
                | Command::Server(_)
                | Command::Watch(_)
                | Command::Settle(_)
                | Command::Hotspot(cli::hotspot::HotspotCommand::Listen(_))
        )
    }
}

/// Restores the default SIGPIPE action, which Rust replaces with "ignore" so that writes report
/// `EPIPE`; `println!` then panics when the reader of a pipe goes away. Not for services, which keep
/// "ignore" (see [`Command::is_service`]).
#[allow(unsafe_code)]
fn restore_default_sigpipe() {
    // SAFETY: called once at start-up, before any other thread exists; SIG_DFL is a valid action.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !cli.command.is_service() {
        restore_default_sigpipe();
    }
    // A card being served is a long-running service: its lifecycle lines (info) show by default.
    let serving = matches!(cli.command, Command::Card(cli::card::CardCommand::Serve(_)));
    cli::init_logging(if serving { cli.verbose.max(1) } else { cli.verbose });
    let result = match cli.command {
        Command::Card(cmd) => cli::card::run(cmd),
        Command::Apdu(args) => cli::apdu::run(args),
        Command::Policy(cmd) => cli::policy::run(cmd),
        Command::Hotspot(cmd) => cli::hotspot::run(cmd),
        Command::Server(args) => cli::server::run(args),
        Command::Readers(args) => cli::readers::readers(args),
        Command::Atr(args) => cli::readers::atr(args),
        Command::Watch(args) => cli::readers::watch(args),
        Command::Issuer(cmd) => cli::issuer::run_issuer(cmd),
        Command::Merchant(cmd) => cli::merchant::run_merchant(cmd),
        Command::Accept(args) => cli::merchant::run_accept(args),
        Command::Settle(args) => cli::merchant::run_settle(args),
        Command::Issue(args) => cli::wallet::run_issue(args),
        Command::Present(args) => cli::wallet::run_present(args),
        Command::Run(args) => cli::run::run(args),
        Command::Lint(args) => cli::lint::run(args),
        Command::Tlv(args) => cli::tlv::run(args),
        Command::Sw(args) => cli::sw::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("cardgate: {err:#}");
            ExitCode::FAILURE
        }
    }
}
