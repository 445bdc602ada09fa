//! `cardgate card serve | eject | insert`: put an emulated card into vpcd's virtual reader, and take
//! it out or put it back while it runs.

use std::path::PathBuf;
use std::process::ExitCode;

use cardgate::serve::{self, ServeConfig};

/// `cardgate card serve PATH`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The card state file (made by `cardgate card init`).
    pub path: PathBuf,
    /// vpcd's address: 127.0.0.1:35963 is "Virtual PCD 00 00", port 35964 is "Virtual PCD 00 01".
    #[arg(long, default_value = reader_bridge::vpcd::DEFAULT_ADDR, value_name = "HOST:PORT")]
    pub vpcd: String,
    /// Write this file once the card is in the reader (removed when it leaves), for scripts to wait on.
    #[arg(long, value_name = "PATH")]
    pub ready_file: Option<PathBuf>,
    /// Control socket for `card eject` / `card insert` [default: PATH.sock].
    #[arg(long, value_name = "SOCKET")]
    pub control: Option<PathBuf>,
    /// Do not re-arm TCP_QUICKACK (only to measure the ~44 ms delayed-ACK stall it avoids).
    #[arg(long, hide = true)]
    pub no_quickack: bool,
}

/// `cardgate card eject|insert PATH`.
#[derive(Debug, clap::Args)]
pub struct ControlArgs {
    /// The card state file being served.
    #[arg(required_unless_present = "control")]
    pub path: Option<PathBuf>,
    /// The serve process's control socket [default: PATH.sock].
    #[arg(long, value_name = "SOCKET")]
    pub control: Option<PathBuf>,
}

/// Runs `cardgate card serve`.
pub fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let card = load_card(&args.path)?;
    let config = ServeConfig {
        vpcd: args.vpcd,
        ready_file: args.ready_file,
        control: Some(args.control.unwrap_or_else(|| serve::default_control_path(&args.path))),
        quickack: !args.no_quickack,
    };
    serve::run(card, &config)?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `cardgate card eject` (`insert == false`) or `cardgate card insert`.
pub fn control(args: ControlArgs, insert: bool) -> anyhow::Result<ExitCode> {
    let socket = match (args.control, args.path) {
        (Some(socket), _) => socket,
        (None, Some(path)) => serve::default_control_path(&path),
        (None, None) => anyhow::bail!("name the card state file or its --control socket"),
    };
    let state = reader_bridge::control::request(&socket, if insert { "insert" } else { "eject" })?;
    println!("{state}");
    Ok(ExitCode::SUCCESS)
}

/// Opens the card state file (locked while served) with every applet class built into cardgate.
fn load_card(path: &std::path::Path) -> anyhow::Result<applet::FileCard> {
    Ok(applet::FileCard::open(path, applet::apps::catalog())?)
}
