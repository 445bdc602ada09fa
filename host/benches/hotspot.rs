//! Hotspot server figures (`cargo bench -p cardgate --bench hotspot`): proof round trips per second,
//! how long information takes to reach a listener by push (SSE) versus by polling, in the same run,
//! and how the push grows with the number of listeners (1, 10, 100).
//! Real HTTP on 127.0.0.1 and SQLite on disk (WAL, synchronous=FULL).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cardgate::hotspot::api::{CompleteRequest, StartRequest};
use cardgate::hotspot::client::Client;
use cardgate::hotspot::clock::Clock;
use cardgate::hotspot::server::{self, HotspotConfig, HotspotState};

const PROOFS: usize = 300;
const PUSHES: usize = 200;
const FANOUT: [usize; 3] = [1, 10, 100];
const FANOUT_PUSHES: usize = 50;
const POLL_EVERY: Duration = Duration::from_millis(100);

fn median_p99(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[(v.len() * 99 / 100).min(v.len() - 1)])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let config = HotspotConfig { attempts_per_minute: u32::MAX, ..HotspotConfig::default() };
    let state = HotspotState::open(dir.path(), &dir.path().join("cardgate.db"), config, Clock::system())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let app = server::app(state);
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
    });
    let c = Client::new(&url)?;

    // Proof round trips: start + complete, sequential.
    let mut token: Option<String> = None;
    let mut network = String::new();
    let t = Instant::now();
    for i in 0..PROOFS {
        let mac = format!("02:00:00:00:{:02X}:{:02X}", i / 256, i % 256);
        let req = StartRequest { ssid: "Shop".into(), bssids: vec![mac.clone()], rule: None };
        let s = c.start(token.as_deref(), &req).await?;
        if token.is_none() {
            token = s.sharer_token.clone();
        }
        let tok = token.clone().ok_or("no token")?;
        let done = CompleteRequest { ssid: s.rename_to, bssids: vec![mac], key: None, share_key: false };
        network = c.complete(&tok, &s.proof_id, &done).await?.network_id;
    }
    let per_sec = PROOFS as f64 / t.elapsed().as_secs_f64();
    let token = token.ok_or("no token")?;

    // Push latency: PUT, then the event on an already open stream.
    let mut stream = c.events(&network, 0).await?;
    let mut push = Vec::with_capacity(PUSHES);
    let mut set_only = Vec::with_capacity(PUSHES);
    for i in 0..PUSHES {
        let t = Instant::now();
        c.set_push(&token, &network, serde_json::json!({ "n": i })).await?;
        set_only.push(t.elapsed());
        loop {
            let ev = stream.next().await?.ok_or("stream closed")?;
            if ev.event == "info" {
                break;
            }
        }
        push.push(t.elapsed());
    }

    // Fan-out: the same PUT reaching every one of `listeners` open streams (until the last has it).
    let mut fanout = Vec::new();
    let mut version = 0;
    for listeners in FANOUT {
        let mut streams = Vec::with_capacity(listeners);
        for _ in 0..listeners {
            streams.push(c.events(&network, version).await?);
        }
        let mut times = Vec::with_capacity(FANOUT_PUSHES);
        for i in 0..=FANOUT_PUSHES {
            let t = Instant::now();
            version = c.set_push(&token, &network, serde_json::json!({ "f": i })).await?.version;
            futures_util::future::try_join_all(streams.iter_mut().map(|s| next_info(s, version))).await?;
            if i > 0 {
                times.push(t.elapsed());
            }
        }
        fanout.push((listeners, median_p99(times)));
    }

    // Peer in the same run: an independent client polling GET .../push every 100 ms, as a client
    // without push would. Latency = when the poller first sees a version - when its PUT was sent.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::<u64, Instant>::new()));
    let poll_url = format!("{url}/v1/hotspot/networks/{network}/push");
    let seen_by_poller = std::sync::Arc::clone(&seen);
    let poller = tokio::spawn(async move {
        let http = reqwest::Client::new();
        loop {
            if let Ok(resp) = http.get(&poll_url).send().await
                && let Ok(got) = resp.json::<serde_json::Value>().await
                && let Some(v) = got["version"].as_u64()
            {
                seen_by_poller.lock().map(|mut m| m.entry(v).or_insert_with(Instant::now).to_owned()).ok();
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    });
    let mut sets = Vec::new();
    for i in 0..PUSHES / 4 {
        // Set at a spread of phases of the poll cycle, and leave the poller time to see each version.
        tokio::time::sleep(Duration::from_millis(150 + (i as u64 * 37) % 100)).await;
        let t = Instant::now();
        let set = c.set_push(&token, &network, serde_json::json!({ "p": i })).await?;
        sets.push((set.version, t));
    }
    tokio::time::sleep(POLL_EVERY * 2).await;
    poller.abort();
    let seen = seen.lock().map_err(|_| "poisoned")?.clone();
    let poll: Vec<Duration> =
        sets.iter().filter_map(|(v, t)| seen.get(v).map(|s| s.saturating_duration_since(*t))).collect();
    let version = sets.len();

    let (pm, pp) = median_p99(push);
    let (sm, _) = median_p99(set_only);
    let (qm, qp) = median_p99(poll);
    println!("proof round trips (start + complete): {per_sec:.0}/s over {PROOFS}");
    println!("set only (PUT round trip):            median {sm:?}");
    println!("push via SSE (PUT -> event):          median {pm:?}, p99 {pp:?}");
    println!("poll every {POLL_EVERY:?} (PUT -> seen): median {qm:?}, p99 {qp:?} ({version} versions)");
    for (listeners, (m, p)) in fanout {
        println!("fan-out to {listeners} listeners (PUT -> last event): median {m:?}, p99 {p:?}");
    }
    println!("ratio poll/push (median):             {:.0}x", qm.as_secs_f64() / pm.as_secs_f64());
    Ok(())
}

/// Reads `stream` until the `info` event of `version` (events of earlier versions are skipped).
async fn next_info(
    stream: &mut cardgate::hotspot::client::EventStream,
    version: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    loop {
        let ev = stream.next().await?.ok_or("stream closed")?;
        if ev.event == "info" && ev.id.as_deref().and_then(|id| id.parse::<u64>().ok()) >= Some(version) {
            return Ok(());
        }
    }
}
