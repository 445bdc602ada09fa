//! `cardgate hotspot ...`: the Wi-Fi sharer (register), the third-party client (listen), the owner's
//! information (push), and the mappings. The protocol is in `docs/hotspot.md`.

use std::fs;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use cardgate::hotspot::api::ErrorCode;
use cardgate::hotspot::client::{Client, ClientError};
use cardgate::hotspot::listen::{self, ListenEvent, ListenOptions};
use cardgate::hotspot::nmcli::Nmcli;
use cardgate::hotspot::register::{self, NetworkKey, RegisterOptions};
use cardgate::hotspot::rules::{Mac, SecondRule};
use cardgate::hotspot::scan::Scanner;
use cardgate::hotspot::server::TOKEN_PREFIX;
use clap::Subcommand;
use zeroize::Zeroizing;

/// Wi-Fi sharer proof of control and information push.
#[derive(Debug, Subcommand)]
pub enum HotspotCommand {
    /// Prove control of a Wi-Fi network to the server and register its access points (the sharer).
    Register(RegisterArgs),
    /// Match registered networks' MACs in scans, connect (or report) and print pushed information.
    Listen(ListenArgs),
    /// Set the information pushed to clients that meet one of your networks (the owner).
    Push(PushArgs),
    /// Print the server's MAC -> SSID mappings as JSON.
    Mappings(ServerArg),
}

/// The server to talk to.
#[derive(Debug, clap::Args)]
pub struct ServerArg {
    /// The cardgate server, http://host:port.
    #[arg(long, env = "CARDGATE_SERVER")]
    pub server: String,
}

/// Where scans come from.
#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Read scans from this file (JSON or `nmcli -t -f SSID,BSSID device wifi list` output), re-read at
    /// every scan. Without it NetworkManager is used.
    #[arg(long, value_name = "FILE")]
    pub scan_file: Option<PathBuf>,
    /// The nmcli program.
    #[arg(long, value_name = "PATH", default_value = "nmcli")]
    pub nmcli: PathBuf,
}

/// `cardgate hotspot register`.
#[derive(Debug, clap::Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    server: ServerArg,
    #[command(flatten)]
    scan: ScanArgs,
    /// The network's current SSID.
    #[arg(long)]
    ssid: String,
    /// Only this access point (repeatable); default: every access point broadcasting the SSID.
    #[arg(long = "bssid", value_name = "MAC")]
    bssids: Vec<Mac>,
    /// How the server makes the new name: hash (of the SSID, keyed) or random.
    #[arg(long, value_parser = parse_rule)]
    rule: Option<SecondRule>,
    /// The sharer token: read if the file exists, written (0600) when the server issues a new one. It
    /// owns the registered network (`cardgate hotspot push` needs it).
    #[arg(long, value_name = "FILE", default_value = "cardgate-hotspot.token")]
    token_file: PathBuf,
    /// Store this network key (WPA passphrase or 64-hex PSK, first line of the file) encrypted.
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// Let third-party clients receive the stored key with the mappings.
    #[arg(long, requires = "key_file")]
    share_key: bool,
    /// Rescan interval while waiting for the new name.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    poll: Duration,
    /// Longest wait for the new name (the proof's expiry bounds it too).
    #[arg(long, value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
    /// Leave a hotspot renamed through NetworkManager under the proof name.
    #[arg(long)]
    no_restore: bool,
}

/// `cardgate hotspot listen`.
#[derive(Debug, clap::Args)]
pub struct ListenArgs {
    #[command(flatten)]
    server: ServerArg,
    #[command(flatten)]
    scan: ScanArgs,
    /// Common MACs with one registered network needed to connect.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    threshold: u16,
    /// Rescan interval.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// Mapping refresh interval.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    refresh: Duration,
    /// Really connect through NetworkManager (default: report that it would).
    #[arg(long)]
    connect: bool,
    /// Exit after this many pieces of information.
    #[arg(long)]
    count: Option<usize>,
    /// Exit after this long (with an error if --count was not reached).
    #[arg(long, value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
}

/// `cardgate hotspot push`.
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    #[command(flatten)]
    server: ServerArg,
    /// The network (its id, from `register`).
    #[arg(long)]
    network: String,
    /// The sharer token that registered the network.
    #[arg(long, value_name = "FILE", default_value = "cardgate-hotspot.token")]
    token_file: PathBuf,
    /// A text message: pushed as {"message": TEXT}.
    #[arg(long, group = "what")]
    message: Option<String>,
    /// Any JSON value.
    #[arg(long, group = "what")]
    info: Option<String>,
    /// A file holding any JSON value.
    #[arg(long, group = "what", value_name = "FILE")]
    info_file: Option<PathBuf>,
}

fn parse_rule(s: &str) -> Result<SecondRule, String> {
    s.parse().map_err(|e: cardgate::hotspot::rules::RuleError| e.to_string())
}

/// Runs a `hotspot` subcommand.
pub fn run(cmd: HotspotCommand) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        match cmd {
            HotspotCommand::Register(a) => run_register(a).await,
            HotspotCommand::Listen(a) => run_listen(a).await,
            HotspotCommand::Push(a) => run_push(a).await,
            HotspotCommand::Mappings(a) => {
                let m = Client::new(&a.server)?.mappings().await?;
                println!("{}", serde_json::to_string_pretty(&m)?);
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}

async fn scanner(args: &ScanArgs) -> anyhow::Result<Scanner> {
    if let Some(f) = &args.scan_file {
        return Ok(Scanner::File(f.clone()));
    }
    let nm = Nmcli::new(&args.nmcli);
    if nm.available().await {
        return Ok(Scanner::Nmcli(nm));
    }
    bail!(
        "no scanner: NetworkManager is not running here ({} -t -f RUNNING general); pass --scan-file FILE",
        args.nmcli.display()
    )
}

/// Reads a sharer token file; `None` when it does not exist.
fn read_token(path: &Path) -> anyhow::Result<Option<Zeroizing<String>>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => Zeroizing::new(t),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("{}", path.display())),
    };
    let token = Zeroizing::new(text.trim().to_owned());
    if !token.starts_with(TOKEN_PREFIX) || token.len() != TOKEN_PREFIX.len() + 64 {
        bail!("{}: not a sharer token (want {TOKEN_PREFIX} and 64 hex digits)", path.display());
    }
    let mode = fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), "sharer token file is readable by others; chmod 600 it");
    }
    Ok(Some(token))
}

/// Writes a new sharer token, 0600, refusing to overwrite.
fn write_token(path: &Path, token: &str) -> anyhow::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot save the sharer token to {}", path.display()))?;
    f.write_all(token.as_bytes()).and_then(|()| f.write_all(b"\n")).and_then(|()| f.sync_all())?;
    Ok(())
}

async fn run_register(a: RegisterArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&a.server.server)?;
    let scanner = scanner(&a.scan).await?;
    let key = match &a.key_file {
        Some(p) => {
            let text = Zeroizing::new(fs::read_to_string(p).with_context(|| format!("{}", p.display()))?);
            let line = text.lines().next().unwrap_or("");
            cardgate::hotspot::rules::validate_key(line).with_context(|| format!("{}", p.display()))?;
            Some(NetworkKey { key: Zeroizing::new(line.to_owned()), share: a.share_key })
        }
        None => None,
    };
    let token = read_token(&a.token_file)?;
    let opts = RegisterOptions {
        ssid: a.ssid.clone(),
        bssids: a.bssids.clone(),
        rule: a.rule,
        poll: a.poll,
        timeout: a.timeout,
        restore: !a.no_restore,
    };
    let started = match register::start(&client, &scanner, token.as_ref().map(|t| t.as_str()), &opts).await {
        Err(register::RegisterError::Client(e)) if e.code() == Some(ErrorCode::SharerUnknown) => {
            bail!(
                "{e}\n{} holds a token this server did not issue; use another --token-file",
                a.token_file.display()
            )
        }
        other => other?,
    };
    let token = match (&started.proof.sharer_token, token) {
        (Some(new), _) => {
            write_token(&a.token_file, new)?;
            eprintln!("New sharer token saved to {} (keep it: it owns the network).", a.token_file.display());
            Zeroizing::new(new.clone())
        }
        (None, Some(t)) => t,
        (None, None) => bail!("the server issued no sharer token"),
    };
    let registered =
        register::finish(&client, &scanner, &token, &started, key, &opts, &mut |m| eprintln!("{m}")).await?;
    println!("{}", serde_json::to_string_pretty(&registered)?);
    Ok(ExitCode::SUCCESS)
}

async fn run_listen(a: ListenArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(&a.server.server)?;
    let scanner = scanner(&a.scan).await?;
    let connect = if a.connect {
        let nm = Nmcli::new(&a.scan.nmcli);
        if !nm.available().await {
            bail!("--connect needs NetworkManager, which is not running here");
        }
        Some(nm)
    } else {
        None
    };
    let opts = ListenOptions {
        threshold: usize::from(a.threshold),
        interval: a.interval,
        refresh: a.refresh,
        connect,
        count: a.count,
        timeout: a.timeout,
    };
    let mut out = std::io::stdout();
    let mut emit = |ev: &ListenEvent| {
        // One JSON object per line, flushed, so a pipe reader sees each event as it happens.
        if let Ok(line) = serde_json::to_string(ev) {
            let _ = writeln!(out, "{line}").and_then(|()| out.flush());
        }
    };
    listen::listen(&client, &scanner, &opts, &mut emit).await?;
    Ok(ExitCode::SUCCESS)
}

async fn run_push(a: PushArgs) -> anyhow::Result<ExitCode> {
    let info: serde_json::Value = match (&a.message, &a.info, &a.info_file) {
        (Some(m), _, _) => serde_json::json!({ "message": m }),
        (_, Some(j), _) => serde_json::from_str(j).context("--info is not JSON")?,
        (_, _, Some(p)) => {
            let text = fs::read_to_string(p).with_context(|| format!("{}", p.display()))?;
            serde_json::from_str(&text).with_context(|| format!("{}: not JSON", p.display()))?
        }
        (None, None, None) => bail!("say what to push: --message TEXT, --info JSON or --info-file FILE"),
    };
    let token = read_token(&a.token_file)?.with_context(|| {
        format!("{}: no sharer token (it is written by `hotspot register`)", a.token_file.display())
    })?;
    let client = Client::new(&a.server.server)?;
    let pushed =
        client.set_push(&token, &a.network, info).await.map_err(|e: ClientError| anyhow::anyhow!(e))?;
    println!("{}", serde_json::to_string(&pushed)?);
    Ok(ExitCode::SUCCESS)
}
