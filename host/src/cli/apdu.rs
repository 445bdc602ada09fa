//! `cardgate apdu`: send APDUs and print each response with its status word.

use std::process::ExitCode;

use anyhow::Context as _;
use reader_bridge::pcsc::{PcscOptions, Protocol, Share};
use reader_bridge::{ExchangeOptions, Exchanger, LongCommands};

/// `cardgate apdu [-r READER] HEX...`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Reader: `emu:PATH`, a PC/SC reader name, a substring of one, or an index.
    #[arg(short, long, env = "CARDGATE_READER")]
    pub reader: Option<String>,
    /// Do not follow up 61xx with GET RESPONSE nor resend after 6Cxx: show exactly what the card said.
    #[arg(long)]
    pub raw: bool,
    /// Split data longer than N bytes into short commands with command chaining (ISO 7816-4 §5.3.3).
    #[arg(long, value_name = "N", conflicts_with = "extended", value_parser = clap::value_parser!(u8).range(1..))]
    pub chain: Option<u8>,
    /// Encode commands that need it as extended-length APDUs.
    #[arg(long)]
    pub extended: bool,
    /// Hold the card exclusively (PC/SC readers).
    #[arg(long)]
    pub exclusive: bool,
    /// Transmission protocol (PC/SC readers).
    #[arg(short, long, value_enum, default_value_t = ProtocolArg::Any)]
    pub protocol: ProtocolArg,
    /// Command APDUs in hex (spaces and colons allowed inside one argument).
    #[arg(required = true)]
    pub apdus: Vec<String>,
}

/// `-p`: which transmission protocol to accept.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ProtocolArg {
    /// T=0 or T=1, whichever the card offers.
    Any,
    /// T=0 only.
    #[value(name = "T=0", alias = "t0")]
    T0,
    /// T=1 only.
    #[value(name = "T=1", alias = "t1")]
    T1,
}

impl ProtocolArg {
    /// The PC/SC connection options for `-p` and `--exclusive` (`cardgate apdu`, `cardgate run`).
    pub fn pcsc_options(self, exclusive: bool) -> PcscOptions {
        PcscOptions {
            share: if exclusive { Share::Exclusive } else { Share::Shared },
            protocol: match self {
                ProtocolArg::Any => Protocol::Any,
                ProtocolArg::T0 => Protocol::T0,
                ProtocolArg::T1 => Protocol::T1,
            },
        }
    }
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
    let transport =
        reader_bridge::open_with(args.reader.as_deref(), args.protocol.pcsc_options(args.exclusive))?;
    let mut exchanger = Exchanger::new(transport);
    let mut options = if args.raw { ExchangeOptions::RAW } else { ExchangeOptions::default() };
    options.long_commands = match (args.chain, args.extended) {
        (Some(max_data), _) => LongCommands::Chain { max_data },
        (None, true) => LongCommands::Extended,
        (None, false) => LongCommands::AsGiven,
    };
    exchanger.options = options;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_and_exclusive_map_to_the_pcsc_options() {
        let options = |p: ProtocolArg, exclusive| p.pcsc_options(exclusive);
        assert_eq!(options(ProtocolArg::Any, false), PcscOptions::default());
        assert_eq!(
            options(ProtocolArg::T0, true),
            PcscOptions { share: Share::Exclusive, protocol: Protocol::T0 }
        );
        assert_eq!(
            options(ProtocolArg::T1, false),
            PcscOptions { share: Share::Shared, protocol: Protocol::T1 }
        );
    }
}
