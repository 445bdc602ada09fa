//! `cardgate apdu`: send APDUs and print each response with its status word.

use std::process::ExitCode;

/// `cardgate apdu [-r READER] HEX...`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Reader: `emu:PATH`, a PC/SC reader name, a substring of one, or an index.
    #[arg(short, long, env = "CARDGATE_READER")]
    pub reader: Option<String>,
    /// Command APDUs in hex.
    #[arg(required = true)]
    pub apdus: Vec<String>,
}

/// Runs `cardgate apdu`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let _transport = reader_bridge::open(args.reader.as_deref())?;
    anyhow::bail!("apdu: not built yet")
}
