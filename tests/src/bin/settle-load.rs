//! `settle-load`: the settlement load campaign at any size, for `scripts/reliability/load.sh`.
//! Prints the figures as a Markdown table and exits 1 unless the ledger is exact.
//!
//! `settle-load [--merchants N] [--payments PER_MERCHANT] [--batch N] [--per-token N]`

use std::process::ExitCode;

use anyhow::Context as _;
use cardgate_tests::load::{LoadConfig, run};

fn main() -> anyhow::Result<ExitCode> {
    let mut cfg = LoadConfig {
        merchants: 50,
        payments_per_merchant: 10_000,
        batch: 1_000,
        payments_per_token: 1_000,
        ..LoadConfig::short()
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().with_context(|| format!("{flag} needs a value"))?;
        let n: usize = value.parse().with_context(|| format!("{flag} {value}: not a number"))?;
        match flag.as_str() {
            "--merchants" => cfg.merchants = n,
            "--payments" => cfg.payments_per_merchant = n,
            "--batch" => cfg.batch = n,
            "--per-token" => cfg.payments_per_token = n,
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    let dir = tempfile::tempdir()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let report = runtime.block_on(run(dir.path(), &cfg))?;
    println!("| figure | value |\n|---|---|\n{}", report.markdown());
    Ok(if report.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
