//! Shared harness of the hotspot tests: a real HTTP server (the hotspot router on 127.0.0.1:0 over a
//! temporary data directory and SQLite file), raw HTTP calls, and the real `cardgate` binary.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use cardgate::hotspot::api::{CompleteRequest, ErrorCode, Registered, StartRequest, StartResponse};
use cardgate::hotspot::client::Client;
use cardgate::hotspot::clock::Clock;
use cardgate::hotspot::rules::SecondRule;
use cardgate::hotspot::server::{self, HotspotConfig, HotspotState};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, ChildStdout, Command};

/// The settings most tests run with: a 5-minute proof, the hash rule, no practical rate limit.
pub fn config() -> HotspotConfig {
    HotspotConfig { proof_ttl_secs: 300, default_rule: SecondRule::Hash, attempts_per_minute: 1000 }
}

/// A running server.
pub struct TestServer {
    pub url: String,
    pub clock: Clock,
    pub state: HotspotState,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start(config: HotspotConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::manual(Clock::system().now());
        let state =
            HotspotState::open(dir.path(), &dir.path().join("cardgate.db"), config, clock.clone()).unwrap();
        let app = server::app(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
        });
        Self { url: format!("http://{addr}"), clock, state, dir }
    }

    pub fn client(&self) -> Client {
        Client::new(&self.url).unwrap()
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("cardgate.db")
    }
}

/// A raw call: (status, JSON body, content-type, retry-after).
pub struct Answer {
    pub status: u16,
    pub body: serde_json::Value,
    pub content_type: String,
    pub retry_after: Option<String>,
}

impl Answer {
    /// Asserts a JSON error with this code and the status documented for it.
    pub fn assert_error(&self, code: ErrorCode) {
        assert_eq!(self.body["error"]["code"], code.as_str(), "body: {}", self.body);
        assert_eq!(self.status, code.status(), "status for {code}; body: {}", self.body);
        assert!(self.content_type.starts_with("application/json"), "content-type {}", self.content_type);
        assert!(self.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

pub async fn call(method: &str, url: &str, token: Option<&str>, body: Option<&str>) -> Answer {
    let http = reqwest::Client::new();
    let mut req = http.request(method.parse().unwrap(), url);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b.to_owned());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let content_type =
        resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let retry_after = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text:?}"));
    Answer { status, body, content_type, retry_after }
}

pub fn start_req(ssid: &str, bssids: &[&str]) -> StartRequest {
    StartRequest { ssid: ssid.into(), bssids: bssids.iter().map(|s| (*s).to_owned()).collect(), rule: None }
}

pub fn complete_req(third: &str, bssids: &[&str]) -> CompleteRequest {
    CompleteRequest {
        ssid: third.into(),
        bssids: bssids.iter().map(|s| (*s).to_owned()).collect(),
        key: None,
        share_key: false,
    }
}

pub const AP1: &str = "02:00:00:00:00:01";
pub const AP2: &str = "02:00:00:00:00:02";
pub const AP3: &str = "02:00:00:00:00:03";

/// Registers a network through the API (the proof done right); returns the token and the network.
pub async fn register_via_api(s: &TestServer, ssid: &str, bssids: &[&str]) -> (String, Registered) {
    let c = s.client();
    let started: StartResponse = c.start(None, &start_req(ssid, bssids)).await.unwrap();
    let token = started.sharer_token.unwrap();
    let reg = c.complete(&token, &started.proof_id, &complete_req(&started.rename_to, bssids)).await.unwrap();
    (token, reg)
}

/// Writes a JSON scan file.
pub fn write_scan(path: &Path, entries: &[(&str, &str)]) {
    let list: Vec<serde_json::Value> =
        entries.iter().map(|(s, b)| serde_json::json!({"ssid": s, "bssid": b, "signal": 60})).collect();
    // Write then rename, so a scanner never reads half a file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(&list).unwrap()).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// The real `cardgate` binary.
pub fn cardgate() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cardgate"));
    c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    c
}

/// A running `cardgate` process with line readers on both outputs.
pub struct Proc {
    pub child: Child,
    pub stdout: Lines<BufReader<ChildStdout>>,
    pub stderr: Lines<BufReader<ChildStderr>>,
}

impl Proc {
    pub fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd.spawn().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        Self { child, stdout, stderr }
    }

    /// The next stdout line satisfying `pred`, waiting at most `within` (a bound, not a speed test).
    pub async fn stdout_line(&mut self, within: Duration, pred: impl Fn(&str) -> bool) -> String {
        next_line(&mut self.stdout, within, pred).await
    }

    pub async fn stderr_line(&mut self, within: Duration, pred: impl Fn(&str) -> bool) -> String {
        next_line(&mut self.stderr, within, pred).await
    }
}

async fn next_line<R: tokio::io::AsyncBufRead + Unpin>(
    lines: &mut Lines<R>,
    within: Duration,
    pred: impl Fn(&str) -> bool,
) -> String {
    tokio::time::timeout(within, async {
        loop {
            match lines.next_line().await.unwrap() {
                Some(l) if pred(&l) => return l,
                Some(_) => {}
                None => panic!("process closed its output before the expected line"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no expected line within {within:?}"))
}

/// A generous bound for waits on processes and events on a loaded 2-core machine.
pub const BOUND: Duration = Duration::from_secs(20);
