//! The NetworkManager backend, through its command-line client `nmcli` (nmcli(1)): scanning, finding
//! the hotspot NetworkManager runs for the selected network, renaming it, and connecting.
//!
//! A hotspot this machine runs (a Wi-Fi connection in mode `ap`) does not show up in this machine's
//! own scan, so the scan adds one entry per active access-point connection: its SSID and the radio's
//! MAC, which is the BSSID others see.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::process::Command;

use super::rules::Mac;
use super::scan::{ScanEntry, ScanError, parse_nmcli_terse, split_terse};

/// `nmcli` failed.
#[derive(Debug, thiserror::Error)]
pub enum NmcliError {
    /// It could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The cause.
        source: std::io::Error,
    },
    /// It exited with an error.
    #[error("nmcli {args} failed ({status}): {stderr}")]
    Failed {
        /// The arguments (never a key: those are replaced by `***`).
        args: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it printed on stderr.
        stderr: String,
    },
}

/// A NetworkManager access-point connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hotspot {
    /// The connection's name (`nmcli connection show`).
    pub connection: String,
    /// The Wi-Fi device it runs on.
    pub device: String,
}

/// The `nmcli` program.
#[derive(Debug, Clone)]
pub struct Nmcli {
    program: PathBuf,
}

impl Nmcli {
    /// Uses `program` (normally `nmcli` from `PATH`).
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self { program: program.into() }
    }

    /// Whether the program runs and NetworkManager answers as running.
    pub async fn available(&self) -> bool {
        matches!(self.run(&["-t", "-f", "RUNNING", "general"], &[]).await, Ok(out) if out.trim() == "running")
    }

    async fn run(&self, args: &[&str], secret_args: &[usize]) -> Result<String, NmcliError> {
        let out = Command::new(&self.program)
            .args(args)
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|source| NmcliError::Spawn { program: self.program.display().to_string(), source })?;
        if !out.status.success() {
            let shown: Vec<&str> = args
                .iter()
                .enumerate()
                .map(|(i, a)| if secret_args.contains(&i) { "***" } else { a })
                .collect();
            return Err(NmcliError::Failed {
                args: shown.join(" "),
                status: out.status,
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A fresh scan (`device wifi list --rescan yes`; NetworkManager refuses rescans in quick
    /// succession, then the cached list is taken), plus this machine's own hotspots.
    pub async fn scan(&self) -> Result<Vec<ScanEntry>, ScanError> {
        let list = ["-t", "-f", "SSID,BSSID", "device", "wifi", "list", "--rescan"];
        let text = match self.run(&[&list[..], &["yes"]].concat(), &[]).await {
            Ok(t) => t,
            Err(err) => {
                tracing::debug!(%err, "nmcli: rescan refused, using the cached list");
                self.run(&[&list[..], &["no"]].concat(), &[]).await?
            }
        };
        let mut entries = parse_nmcli_terse(&text, "nmcli")?;
        for hs in self.hotspots().await? {
            let ssid = self.get(&["connection", "show", &hs.connection], "802-11-wireless.ssid").await?;
            let mac = self.get(&["device", "show", &hs.device], "GENERAL.HWADDR").await?;
            if let Ok(bssid) = mac.parse::<Mac>() {
                entries.push(ScanEntry { ssid, bssid });
            }
        }
        Ok(entries)
    }

    /// One value (`-g FIELD`), unescaped.
    async fn get(&self, what: &[&str], field: &str) -> Result<String, NmcliError> {
        let out = self.run(&[&["-g", field][..], what].concat(), &[]).await?;
        let line = out.lines().next().unwrap_or("");
        Ok(split_terse(line).join(":"))
    }

    /// Active Wi-Fi connections in access-point mode.
    pub async fn hotspots(&self) -> Result<Vec<Hotspot>, NmcliError> {
        let out = self.run(&["-t", "-f", "NAME,TYPE,DEVICE", "connection", "show", "--active"], &[]).await?;
        let mut found = Vec::new();
        for line in out.lines() {
            let f = split_terse(line);
            if f.len() < 3 || f[1] != "802-11-wireless" {
                continue;
            }
            if self.get(&["connection", "show", &f[0]], "802-11-wireless.mode").await? == "ap" {
                found.push(Hotspot { connection: f[0].clone(), device: f[2].clone() });
            }
        }
        Ok(found)
    }

    /// The hotspot NetworkManager runs under `ssid`, if any.
    pub async fn hotspot_named(&self, ssid: &str) -> Result<Option<Hotspot>, NmcliError> {
        for hs in self.hotspots().await? {
            if self.get(&["connection", "show", &hs.connection], "802-11-wireless.ssid").await? == ssid {
                return Ok(Some(hs));
            }
        }
        Ok(None)
    }

    /// Renames the hotspot's SSID and restarts the connection so the new name is broadcast.
    pub async fn rename(&self, hs: &Hotspot, ssid: &str) -> Result<(), NmcliError> {
        self.run(&["connection", "modify", &hs.connection, "802-11-wireless.ssid", ssid], &[]).await?;
        self.run(&["connection", "up", &hs.connection], &[]).await?;
        Ok(())
    }

    /// Connects this machine to `ssid` on the access point `bssid`. The key goes on nmcli's command
    /// line (`password`), the only form `device wifi connect` takes; it is never logged.
    pub async fn connect(&self, ssid: &str, bssid: Mac, key: Option<&str>) -> Result<(), NmcliError> {
        let bssid = bssid.to_string();
        let mut args = vec!["device", "wifi", "connect", ssid, "bssid", &bssid];
        if let Some(k) = key {
            args.extend(["password", k]);
        }
        self.run(&args, &[7]).await?;
        Ok(())
    }
}
