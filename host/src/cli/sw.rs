//! `cardgate sw`: what a status word means.

use std::process::ExitCode;

use cardgate::hexfmt;

/// `cardgate sw SW...`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Status words in hex: `6A82`, `6A 82`, `0x6A82`.
    #[arg(required = true)]
    pub sw: Vec<String>,
}

/// Runs `cardgate sw`: one line per status word, `6A82: File or application not found`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // "6A 82" may arrive as two arguments: join pieces of one byte with the next.
    let mut words = Vec::new();
    let mut pending = String::new();
    for a in &args.sw {
        pending.push_str(a);
        if hexfmt::parse(&pending).map_or(true, |b| b.len() >= 2) {
            words.push(std::mem::take(&mut pending));
        }
    }
    if !pending.is_empty() {
        words.push(pending);
    }
    for w in words {
        let bytes = hexfmt::parse(&w).map_err(anyhow::Error::msg)?;
        let [sw1, sw2] = bytes[..] else {
            anyhow::bail!("{w:?} is not a status word: it has {} bytes, a status word has 2", bytes.len());
        };
        let sw = u16::from_be_bytes([sw1, sw2]);
        println!("{sw:04X}: {}", applet::sw::meaning(sw));
    }
    Ok(ExitCode::SUCCESS)
}
