//! `cardgate lint`: check scripts without a card.

use std::path::PathBuf;
use std::process::ExitCode;

use cardgate::script::lint::{Severity, lint_file};

/// `cardgate lint SCRIPT...`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Script files.
    #[arg(required = true)]
    pub scripts: Vec<PathBuf>,
}

/// Runs `cardgate lint`: prints `file:line:col: warning|error: message` per finding. Exit code 0 when
/// there is nothing to report, 1 for warnings only, 2 when a script does not parse.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut worst = None;
    for path in &args.scripts {
        for finding in lint_file(path) {
            println!("{finding}");
            worst = worst.max(Some(finding.severity));
        }
    }
    Ok(match worst {
        None => ExitCode::SUCCESS,
        Some(Severity::Warning) => ExitCode::from(1),
        Some(Severity::Error) => ExitCode::from(2),
    })
}
