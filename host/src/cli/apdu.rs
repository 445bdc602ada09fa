//! `cardgate apdu`: send APDUs and print each response with its status word.

use std::process::ExitCode;

use anyhow::Context as _;
use reader_bridge::{ExchangeOptions, Exchanger};

/// `cardgate apdu [-r READER] HEX...`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Reader: `emu:PATH`, a PC/SC reader name, a substring of one, or an index.
    #[arg(short, long, env = "CARDGATE_READER")]
    pub reader: Option<String>,
    /// Do not follow up 61xx with GET RESPONSE nor resend after 6Cxx: show exactly what the card said.
    #[arg(long)]
    pub raw: bool,
    /// Command APDUs in hex (spaces and colons allowed inside one argument).
    #[arg(required = true)]
    pub apdus: Vec<String>,
}

/// Parses one hex argument.
fn parse_hex(n: usize, text: &str) -> anyhow::Result<Vec<u8>> {
    let digits: String = text.chars().filter(|c| !c.is_whitespace() && *c != ':').collect();
    let bytes = hex::decode(&digits).with_context(|| format!("APDU {n} ({text:?}) is not hex"))?;
    anyhow::ensure!(
        bytes.len() >= 4,
        "APDU {n} ({text:?}) has {} bytes; a command has at least CLA INS P1 P2",
        bytes.len()
    );
    Ok(bytes)
}

fn line(bytes: &[u8]) -> String {
    hex::encode_upper(bytes)
}

/// Runs `cardgate apdu`: every APDU is parsed before the card is opened, then sent in order. Each
/// physical exchange is printed (`>` command, `<` response, the status word's meaning).
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let apdus = args
        .apdus
        .iter()
        .enumerate()
        .map(|(i, a)| parse_hex(i + 1, a))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let transport = reader_bridge::open(args.reader.as_deref())?;
    let mut exchanger = Exchanger::new(transport);
    if args.raw {
        exchanger.options = ExchangeOptions::RAW;
    }
    for apdu in &apdus {
        let outcome = exchanger.exchange(apdu)?;
        for exchange in &outcome.exchanges {
            let (data, sw) = reader_bridge::transport::split_sw(&exchange.response);
            println!("> {}", line(&exchange.command));
            let data = if data.is_empty() { String::new() } else { format!("{} ", line(data)) };
            println!("< {data}{sw:04X}  {}", applet::sw::meaning(sw));
        }
    }
    Ok(ExitCode::SUCCESS)
}
