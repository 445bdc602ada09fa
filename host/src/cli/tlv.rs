//! `cardgate tlv`: decode BER-TLV.

use std::io::Read;
use std::process::ExitCode;

use anyhow::Context;
use cardgate::{hexfmt, tlv_view};

/// `cardgate tlv [--json] [HEX...]`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// One JSON object per data object instead of the tree.
    #[arg(long)]
    pub json: bool,
    /// The bytes in hex (spaces and `:` allowed, several arguments are joined); none reads standard input.
    pub hex: Vec<String>,
}

/// Runs `cardgate tlv`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let text = if args.hex.is_empty() {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).context("reading standard input")?;
        s
    } else {
        args.hex.join(" ")
    };
    let bytes = hexfmt::parse(&text).map_err(anyhow::Error::msg)?;
    let rows = tlv_view::rows(&bytes).with_context(|| format!("not BER-TLV: {}", hexfmt::packed(&bytes)))?;
    if args.json {
        for r in rows {
            let obj = serde_json::json!({
                "depth": r.depth, "tag": r.tag, "name": r.name, "constructed": r.constructed,
                "len": r.len, "value": r.value, "text": r.text,
            });
            println!("{obj}");
        }
    } else {
        for line in tlv_view::lines(&rows, "") {
            println!("{line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
