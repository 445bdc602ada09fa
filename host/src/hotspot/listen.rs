//! The third-party client (`cardgate hotspot listen`), after US 11,063,934 B2 claim 1: it holds the
//! server's MAC → SSID mappings, compares them with the MACs broadcast around it, and when the number
//! of common MACs of one registered network reaches the threshold it connects to that network (or
//! reports that it would) and receives the information pushed for it, as it is set.
//!
//! Common MACs are counted per registered network (claim 1 counts them over the whole list; per
//! network, two half-visible networks cannot add up to a match). The SSID in the scan does not matter:
//! a network is recognised by its access points, whatever it is called right now.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;

use super::api::{Mappings, PushInfo};
use super::client::{Client, ClientError};
use super::nmcli::Nmcli;
use super::rules::Mac;
use super::scan::{ScanEntry, ScanError, Scanner};

/// A registered network seen around the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Match {
    /// The network.
    pub network_id: String,
    /// Its SSID per the server.
    pub ssid: String,
    /// Its registered MACs that the scan shows.
    pub matched: Vec<String>,
    /// The shared key, if any (never printed).
    #[serde(skip)]
    pub key: Option<String>,
}

/// The networks whose common-MAC count reaches `threshold`, most matched first.
pub fn match_networks(mappings: &Mappings, scan: &[ScanEntry], threshold: usize) -> Vec<Match> {
    let seen: BTreeSet<Mac> = scan.iter().map(|e| e.bssid).collect();
    let mut out: Vec<Match> = mappings
        .networks
        .iter()
        .filter_map(|n| {
            let matched: Vec<String> = n
                .macs
                .iter()
                .filter(|m| m.parse::<Mac>().is_ok_and(|mac| seen.contains(&mac)))
                .cloned()
                .collect();
            (matched.len() >= threshold.max(1)).then(|| Match {
                network_id: n.network_id.clone(),
                ssid: n.ssid.clone(),
                matched,
                key: n.key.clone(),
            })
        })
        .collect();
    out.sort_by(|a, b| b.matched.len().cmp(&a.matched.len()).then_with(|| a.network_id.cmp(&b.network_id)));
    out
}

/// What the listener reports, one JSON line each on stdout.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ListenEvent {
    /// Mappings loaded from the server.
    Mappings {
        /// Networks known.
        networks: usize,
    },
    /// A network matched: connected (`connected: true`, through NetworkManager) or would connect.
    Connected {
        /// The network.
        network_id: String,
        /// Its SSID.
        ssid: String,
        /// Common MACs.
        matched: Vec<String>,
        /// The threshold.
        threshold: usize,
        /// Whether a connection was made (`--connect` with NetworkManager) or only reported.
        connected: bool,
        /// Whether the server shared a key for it.
        key_shared: bool,
    },
    /// Information pushed for the connected network.
    Info(PushInfo),
    /// The network's MACs fell below the threshold.
    Disconnected {
        /// The network.
        network_id: String,
    },
}

/// How to listen.
#[derive(Debug, Clone)]
pub struct ListenOptions {
    /// Common MACs needed.
    pub threshold: usize,
    /// Rescan interval.
    pub interval: Duration,
    /// Mapping refresh interval.
    pub refresh: Duration,
    /// Connect through NetworkManager when matched.
    pub connect: Option<Nmcli>,
    /// Stop after this many `info` events.
    pub count: Option<usize>,
    /// Stop after this long (an error if `count` was not reached).
    pub timeout: Option<Duration>,
}

/// Why listening stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// Scanning failed.
    #[error(transparent)]
    Scan(#[from] ScanError),
    /// The server could not be reached for the mappings.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// `--count` information events did not arrive within `--timeout`.
    #[error("{got} of {want} information events arrived within {after:?}")]
    Timeout {
        /// Received.
        got: usize,
        /// Wanted.
        want: usize,
        /// The timeout.
        after: Duration,
    },
}

/// Runs the listener until `count` info events, the timeout, or an error.
pub async fn listen(
    client: &Client,
    scanner: &Scanner,
    opts: &ListenOptions,
    emit: &mut dyn FnMut(&ListenEvent),
) -> Result<(), ListenError> {
    let mut mappings = client.mappings().await?;
    emit(&ListenEvent::Mappings { networks: mappings.networks.len() });
    let (tx, mut rx) = mpsc::channel::<PushInfo>(16);
    let mut current: Option<(String, tokio::task::JoinHandle<()>)> = None;
    let mut scan_tick = tokio::time::interval(opts.interval);
    let mut refresh_tick = tokio::time::interval(opts.refresh);
    refresh_tick.reset();
    let deadline = opts.timeout.map(|t| tokio::time::Instant::now() + t);
    let mut infos = 0usize;
    let result = loop {
        tokio::select! {
            _ = scan_tick.tick() => {
                let scan = scanner.scan().await?;
                let matches = match_networks(&mappings, &scan, opts.threshold);
                if let Some((id, task)) = &current
                    && !matches.iter().any(|m| &m.network_id == id)
                {
                    task.abort();
                    emit(&ListenEvent::Disconnected { network_id: id.clone() });
                    current = None;
                }
                if current.is_none()
                    && let Some(best) = matches.into_iter().next()
                {
                    let connected = connect(opts, &best).await;
                    emit(&ListenEvent::Connected {
                        network_id: best.network_id.clone(),
                        ssid: best.ssid.clone(),
                        matched: best.matched.clone(),
                        threshold: opts.threshold,
                        connected,
                        key_shared: best.key.is_some(),
                    });
                    let task = tokio::spawn(follow(client.clone(), best.network_id.clone(), tx.clone()));
                    current = Some((best.network_id, task));
                }
            }
            _ = refresh_tick.tick() => match client.mappings().await {
                Ok(m) => mappings = m,
                Err(err) => tracing::warn!(%err, "hotspot listen: mapping refresh failed; keeping the old ones"),
            },
            Some(info) = rx.recv() => {
                if current.as_ref().is_some_and(|(id, _)| *id == info.network_id) {
                    emit(&ListenEvent::Info(info));
                    infos += 1;
                    if opts.count.is_some_and(|c| infos >= c) {
                        break Ok(());
                    }
                }
            }
            () = sleep_until(deadline) => {
                break match opts.count {
                    Some(want) => Err(ListenError::Timeout { got: infos, want, after: opts.timeout.unwrap_or_default() }),
                    None => Ok(()),
                };
            }
        }
    };
    if let Some((_, task)) = current {
        task.abort();
    }
    result
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

async fn connect(opts: &ListenOptions, m: &Match) -> bool {
    let Some(nm) = &opts.connect else { return false };
    let Some(bssid) = m.matched.first().and_then(|s| s.parse::<Mac>().ok()) else { return false };
    match nm.connect(&m.ssid, bssid, m.key.as_deref()).await {
        Ok(()) => true,
        Err(err) => {
            tracing::warn!(%err, network = %m.network_id, "hotspot listen: connecting failed; reporting only");
            false
        }
    }
}

/// Follows a network's event stream, reconnecting (resuming after the last version) when it drops.
async fn follow(client: Client, network_id: String, tx: mpsc::Sender<PushInfo>) {
    let mut last = 0u64;
    loop {
        match client.events(&network_id, last).await {
            Ok(mut stream) => loop {
                match stream.next().await {
                    Ok(Some(ev)) if ev.event == "info" => match serde_json::from_str::<PushInfo>(&ev.data) {
                        Ok(info) => {
                            last = last.max(info.version);
                            if tx.send(info).await.is_err() {
                                return;
                            }
                        }
                        Err(err) => tracing::warn!(%err, "hotspot listen: malformed info event"),
                    },
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(err) => {
                        tracing::warn!(%err, "hotspot listen: event stream broke");
                        break;
                    }
                }
            },
            Err(err) => {
                tracing::warn!(%err, network = %network_id, "hotspot listen: cannot open the event stream")
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hotspot::api::Mapping;

    fn entry(ssid: &str, mac: &str) -> ScanEntry {
        ScanEntry { ssid: ssid.into(), bssid: mac.parse().unwrap() }
    }

    fn mappings() -> Mappings {
        Mappings {
            networks: vec![
                Mapping {
                    network_id: "a".into(),
                    ssid: "Shop".into(),
                    macs: vec![
                        "02:00:00:00:00:01".into(),
                        "02:00:00:00:00:02".into(),
                        "02:00:00:00:00:03".into(),
                    ],
                    key: None,
                },
                Mapping {
                    network_id: "b".into(),
                    ssid: "Cafe".into(),
                    macs: vec!["02:00:00:00:00:11".into()],
                    key: Some("secret-key".into()),
                },
            ],
        }
    }

    #[test]
    fn threshold_counts_common_macs_per_network() {
        let m = mappings();
        let scan = vec![entry("Shop", "02:00:00:00:00:01"), entry("Other", "02:00:00:00:00:99")];
        assert_eq!(match_networks(&m, &scan, 2), vec![], "one common MAC is below a threshold of 2");
        let scan = vec![
            entry("Shop", "02:00:00:00:00:01"),
            entry("renamed", "02:00:00:00:00:03"),
            entry("Cafe", "02:00:00:00:00:11"),
        ];
        let got = match_networks(&m, &scan, 2);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].network_id, "a");
        assert_eq!(
            got[0].matched,
            ["02:00:00:00:00:01", "02:00:00:00:00:03"],
            "the SSID in the scan is not used"
        );
        let got = match_networks(&m, &scan, 1);
        assert_eq!(
            got.iter().map(|g| g.network_id.as_str()).collect::<Vec<_>>(),
            ["a", "b"],
            "most matched first"
        );
        assert_eq!(got[1].key.as_deref(), Some("secret-key"));
        assert_eq!(match_networks(&m, &scan, 0).len(), 2, "a threshold of 0 means 1");
        assert!(match_networks(&m, &scan, 4).is_empty());
    }
}
