//! `cardgate server`: run the issuer server.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use applet::credit::KeyAlgorithm;
use cardgate::hotspot::rules::SecondRule;
use cardgate::hotspot::server::HotspotConfig;
use cardgate::payment::server::PaymentConfig;
use cardgate::server::{self, ServerConfig};

/// `cardgate server`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data directory: the database (cardgate.db) and the server keys.
    #[arg(long, value_name = "DIR", env = "CARDGATE_DATA")]
    pub data: PathBuf,
    /// Address to listen on (port 0: any free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Lifetime of a hotspot proof's second identifier.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub hotspot_proof_ttl: Duration,
    /// Default rule for the second identifier: hash or random.
    #[arg(long, default_value = "hash", value_parser = parse_rule)]
    pub hotspot_rule: SecondRule,
    /// Hotspot proof attempts per client address and minute.
    #[arg(long, default_value_t = 30)]
    pub hotspot_attempts: u32,
    /// Algorithm of the first issuer key, generated at first start: ecdsa-p256 or rsa-2048.
    #[arg(long, default_value = "ecdsa-p256", value_parser = parse_algorithm)]
    pub key_algorithm: KeyAlgorithm,
    /// How far apart a payment's presentation time and the merchant's payment time may be.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub max_skew: Duration,
    /// Also write the server's URL to this file once it listens (for scripts).
    #[arg(long, value_name = "FILE")]
    pub ready_file: Option<PathBuf>,
}

fn parse_algorithm(s: &str) -> Result<KeyAlgorithm, String> {
    KeyAlgorithm::from_name(s).ok_or_else(|| format!("unknown algorithm {s:?}: ecdsa-p256 or rsa-2048"))
}

fn parse_rule(s: &str) -> Result<SecondRule, String> {
    s.parse().map_err(|e: cardgate::hotspot::rules::RuleError| e.to_string())
}

/// Runs the server until Ctrl-C or SIGTERM.
pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let cfg = ServerConfig {
        data_dir: a.data,
        listen: a.listen,
        hotspot: HotspotConfig {
            proof_ttl_secs: a.hotspot_proof_ttl.as_secs().max(1),
            default_rule: a.hotspot_rule,
            attempts_per_minute: a.hotspot_attempts,
        },
        payment: PaymentConfig { key_algorithm: a.key_algorithm, max_skew: a.max_skew.as_secs() },
    };
    let ready_file = a.ready_file;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(server::serve(
        &cfg,
        |addr| {
            // The first stdout line names the bound address (useful with port 0).
            let mut out = std::io::stdout();
            let _ = writeln!(out, "listening on http://{addr}").and_then(|()| out.flush());
            if let Some(path) = &ready_file {
                // Written under a temporary name and renamed: a watcher never reads half a line.
                let tmp = path.with_extension("tmp");
                let written = std::fs::write(&tmp, format!("http://{addr}\n"))
                    .and_then(|()| std::fs::rename(&tmp, path));
                if let Err(e) = written {
                    tracing::error!("--ready-file {}: {e}", path.display());
                }
            }
        },
        shutdown_signal(),
    ))?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}
