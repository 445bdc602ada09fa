//! `card-hammer`: the card-hammering client at any length, for `scripts/reliability/hammer.sh`.
//! Serves a fresh card through pcscd + vpcd, hammers it, prints the figures as a Markdown table, and
//! exits 1 on any answer without a status word, hang, transmit error or leak.
//!
//! `card-hammer [--secs N] [--seed N]`

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use cardgate_tests::hammer::{HammerConfig, run};

fn main() -> anyhow::Result<ExitCode> {
    let mut cfg = HammerConfig {
        duration: Duration::from_secs(300),
        seed: 0x5EC_0A7D,
        apdu_deadline: Duration::from_secs(5),
        warmup: 2_000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().with_context(|| format!("{flag} needs a value"))?;
        let n: u64 = value.parse().with_context(|| format!("{flag} {value}: not a number"))?;
        match flag.as_str() {
            "--secs" => cfg.duration = Duration::from_secs(n),
            "--seed" => cfg.seed = n,
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    let dir = tempfile::tempdir()?;
    let report = run(dir.path(), &cfg, 8 * 1024)?;
    println!("| figure | value |\n|---|---|\n{}", report.markdown());
    Ok(if report.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
