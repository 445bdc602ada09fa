//! The sharer client: proves control of a network and registers it (`cardgate hotspot register`).
//!
//! 1. Scan; the selected network's access points are the scan entries carrying its SSID (optionally
//!    narrowed to given BSSIDs).
//! 2. Start the proof with the SSID and those BSSIDs; the server answers the name to rename to.
//! 3. Rename: through NetworkManager when it runs the hotspot on this machine, otherwise by telling
//!    the person exactly what to type, then rescan until one of the selected BSSIDs broadcasts the new
//!    name, or the timeout (at most the proof's expiry) passes.
//! 4. End the proof with the name seen and the BSSIDs seen carrying it; restore the old name through
//!    NetworkManager if it renamed.

use std::time::Duration;

use zeroize::Zeroizing;

use super::api::{CompleteRequest, Registered, StartRequest, StartResponse};
use super::client::{Client, ClientError};
use super::clock::Clock;
use super::nmcli::{Hotspot, Nmcli, NmcliError};
use super::rules::{Mac, SecondRule};
use super::scan::{ScanError, Scanner};

/// Why registration stopped.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// Scanning failed.
    #[error(transparent)]
    Scan(#[from] ScanError),
    /// The server refused or could not be reached.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// NetworkManager failed to rename the hotspot.
    #[error(transparent)]
    Nmcli(#[from] NmcliError),
    /// The selected network is not in the scan.
    #[error("no access point broadcasting {ssid:?}{filter} in the scan (seen: {seen})")]
    NotInScan {
        /// The SSID asked for.
        ssid: String,
        /// The BSSID filter, described.
        filter: String,
        /// SSIDs that were seen.
        seen: String,
    },
    /// The new name did not appear in time.
    #[error("{rename_to:?} did not appear on {bssids} within {waited:?}; the proof was not completed")]
    Timeout {
        /// The name the network should have had.
        rename_to: String,
        /// The BSSIDs watched.
        bssids: String,
        /// How long it waited.
        waited: Duration,
    },
}

/// What to register and how.
#[derive(Debug, Clone)]
pub struct RegisterOptions {
    /// The network's current SSID (the first identifier).
    pub ssid: String,
    /// Only these access points (all that carry the SSID when empty).
    pub bssids: Vec<Mac>,
    /// The rule to ask for (the server's default when `None`).
    pub rule: Option<SecondRule>,
    /// Rescan interval while waiting for the new name.
    pub poll: Duration,
    /// Longest wait for the new name (the proof's expiry bounds it anyway).
    pub timeout: Option<Duration>,
    /// Rename back to the first SSID after the proof, when NetworkManager renamed it.
    pub restore: bool,
}

/// The network key to store with the registration.
pub struct NetworkKey {
    /// WPA passphrase or 64-hex PSK.
    pub key: Zeroizing<String>,
    /// Whether third-party clients may receive it.
    pub share: bool,
}

impl std::fmt::Debug for NetworkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkKey").field("key", &"***").field("share", &self.share).finish()
    }
}

/// A proof in progress.
#[derive(Debug, Clone)]
pub struct Started {
    /// The server's answer.
    pub proof: StartResponse,
    /// The access points selected.
    pub bssids: Vec<Mac>,
    /// The first SSID.
    pub first: String,
}

/// Scans, selects the network and starts the proof. A new sharer token, if the server issued one, is in
/// `proof.sharer_token`: keep it before finishing.
pub async fn start(
    client: &Client,
    scanner: &Scanner,
    token: Option<&str>,
    opts: &RegisterOptions,
) -> Result<Started, RegisterError> {
    let scan = scanner.scan().await?;
    let mut bssids: Vec<Mac> = scan
        .iter()
        .filter(|e| e.ssid == opts.ssid && (opts.bssids.is_empty() || opts.bssids.contains(&e.bssid)))
        .map(|e| e.bssid)
        .collect();
    bssids.sort();
    bssids.dedup();
    if bssids.is_empty() {
        let mut seen: Vec<&str> = scan.iter().map(|e| e.ssid.as_str()).filter(|s| !s.is_empty()).collect();
        seen.sort_unstable();
        seen.dedup();
        return Err(RegisterError::NotInScan {
            ssid: opts.ssid.clone(),
            filter: if opts.bssids.is_empty() {
                String::new()
            } else {
                format!(" on {}", join(&opts.bssids))
            },
            seen: if seen.is_empty() { "nothing".to_owned() } else { seen.join(", ") },
        });
    }
    let req = StartRequest {
        ssid: opts.ssid.clone(),
        bssids: bssids.iter().map(ToString::to_string).collect(),
        rule: opts.rule.map(|r| r.name().to_owned()),
    };
    let proof = client.start(token, &req).await?;
    Ok(Started { proof, bssids, first: opts.ssid.clone() })
}

/// Renames (or has the person rename) the network, waits for the new name in a fresh scan, and ends
/// the proof. `say` receives the messages meant for the person (the CLI prints them on stderr).
pub async fn finish(
    client: &Client,
    scanner: &Scanner,
    token: &str,
    started: &Started,
    key: Option<NetworkKey>,
    opts: &RegisterOptions,
    say: &mut dyn FnMut(&str),
) -> Result<Registered, RegisterError> {
    let rename_to = &started.proof.rename_to;
    let managed = match scanner {
        Scanner::Nmcli(nm) => nm.hotspot_named(&started.first).await?.map(|hs| (nm.clone(), hs)),
        Scanner::File(_) => None,
    };
    match &managed {
        Some((nm, hs)) => {
            nm.rename(hs, rename_to).await?;
            say(&format!("Renamed NetworkManager hotspot {:?} to {rename_to:?}.", hs.connection));
        }
        None => say(&format!(
            "Rename the network {:?} (access points {}) to exactly:\n\n    {rename_to}\n\n\
             The proof expires in {} s. Waiting for the new name to appear in {}...",
            started.first,
            join(&started.bssids),
            started.proof.expires_in,
            scanner.describe(),
        )),
    }

    let result = wait_and_complete(client, scanner, token, started, key, opts).await;
    if let Some((nm, hs)) = &managed
        && opts.restore
    {
        restore(nm, hs, &started.first, say).await;
    } else if result.is_ok() {
        say(&format!("Proof complete. You may rename the network back to {:?}.", started.first));
    }
    result
}

async fn restore(nm: &Nmcli, hs: &Hotspot, first: &str, say: &mut dyn FnMut(&str)) {
    match nm.rename(hs, first).await {
        Ok(()) => say(&format!("Renamed NetworkManager hotspot {:?} back to {first:?}.", hs.connection)),
        Err(err) => say(&format!("Could not rename the hotspot back to {first:?}: {err}")),
    }
}

async fn wait_and_complete(
    client: &Client,
    scanner: &Scanner,
    token: &str,
    started: &Started,
    key: Option<NetworkKey>,
    opts: &RegisterOptions,
) -> Result<Registered, RegisterError> {
    let rename_to = &started.proof.rename_to;
    let until_expiry = started.proof.expires_at.saturating_sub(Clock::system().now());
    let mut budget = Duration::from_secs(u64::try_from(until_expiry).unwrap_or(0));
    if let Some(t) = opts.timeout {
        budget = budget.min(t);
    }
    let begin = tokio::time::Instant::now();
    let seen = loop {
        let scan = scanner.scan().await?;
        let carrying: Vec<Mac> = scan.iter().filter(|e| &e.ssid == rename_to).map(|e| e.bssid).collect();
        if carrying.iter().any(|m| started.bssids.contains(m)) {
            break carrying;
        }
        if begin.elapsed() + opts.poll > budget {
            return Err(RegisterError::Timeout {
                rename_to: rename_to.clone(),
                bssids: join(&started.bssids),
                waited: begin.elapsed(),
            });
        }
        tokio::time::sleep(opts.poll).await;
    };
    let mut bssids: Vec<String> = seen.iter().map(ToString::to_string).collect();
    bssids.sort();
    bssids.dedup();
    let req = CompleteRequest {
        ssid: rename_to.clone(),
        bssids,
        key: key.as_ref().map(|k| k.key.as_str().to_owned()),
        share_key: key.as_ref().is_some_and(|k| k.share),
    };
    let result = client.complete(token, &started.proof.proof_id, &req).await;
    if let Some(mut k) = req.key {
        zeroize::Zeroize::zeroize(&mut k);
    }
    Ok(result?)
}

fn join(macs: &[Mac]) -> String {
    macs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}
