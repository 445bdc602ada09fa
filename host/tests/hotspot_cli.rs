//! The hotspot commands as a user runs them: the real `cardgate` binary against a real HTTP server,
//! with scan files (and a stand-in `nmcli` for the NetworkManager path, which this machine lacks).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod hotspot_common;

use hotspot_common::*;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;

fn new_name(line: &str) -> Option<String> {
    let t = line.trim();
    (t.starts_with("CG-") && t.len() == 16).then(|| t.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_with_a_scan_file_waits_for_the_rename_and_registers() {
    let s = TestServer::start(config()).await;
    let work = tempfile::tempdir().unwrap();
    let scan = work.path().join("scan.json");
    write_scan(&scan, &[("Shop", AP1), ("Shop", AP2), ("Neighbour", AP3)]);
    let key = work.path().join("key");
    std::fs::write(&key, "correct horse battery\n").unwrap();
    let token_file = work.path().join("sharer.token");

    let mut cmd = cardgate();
    cmd.args(["hotspot", "register", "--server", &s.url, "--ssid", "Shop", "--rule", "random"])
        .arg("--scan-file")
        .arg(&scan)
        .arg("--token-file")
        .arg(&token_file)
        .arg("--key-file")
        .arg(&key)
        .args(["--share-key", "--poll", "100ms", "--timeout", "60s"]);
    let mut p = Proc::spawn(cmd);
    p.stderr_line(BOUND, |l| l.contains("New sharer token saved")).await;
    p.stderr_line(BOUND, |l| l.contains("Rename the network \"Shop\"")).await;
    let name = new_name(&p.stderr_line(BOUND, |l| new_name(l).is_some()).await).unwrap();
    // The person renames the network: both access points now broadcast the new name.
    write_scan(&scan, &[(&name, AP1), (&name, AP2), ("Neighbour", AP3)]);
    let status = tokio::time::timeout(BOUND, p.child.wait()).await.unwrap().unwrap();
    let mut out = String::new();
    while let Ok(Some(l)) = p.stdout.next_line().await {
        out.push_str(&l);
    }
    assert!(status.success(), "register failed; stdout {out}");
    let reg: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(reg["ssid"], "Shop");
    assert_eq!(reg["proven_ssid"], name.as_str());
    assert_eq!(reg["macs"], serde_json::json!([AP1, AP2]));
    assert_eq!(reg["key_stored"], true);
    assert_eq!(std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777, 0o600);
    let token = std::fs::read_to_string(&token_file).unwrap();
    assert!(token.starts_with("cgs_"));

    let m = s.client().mappings().await.unwrap();
    assert_eq!(m.networks[0].key.as_deref(), Some("correct horse battery"));

    // The owner sets the information with the same token file.
    let mut push = cardgate();
    push.args(["hotspot", "push", "--server", &s.url, "--network", reg["network_id"].as_str().unwrap()])
        .arg("--token-file")
        .arg(&token_file)
        .args(["--info", r#"{"offer": "2 for 1"}"#]);
    let o = push.output().await.unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pushed: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(pushed["version"], 1);

    // A second registration reuses the saved token (no new one) and the same network.
    write_scan(&scan, &[("Shop", AP1), ("Shop", AP2)]);
    let mut cmd = cardgate();
    cmd.args(["hotspot", "register", "--server", &s.url, "--ssid", "Shop", "--bssid", AP1])
        .arg("--scan-file")
        .arg(&scan)
        .arg("--token-file")
        .arg(&token_file)
        .args(["--poll", "100ms"]);
    let mut p = Proc::spawn(cmd);
    let line = p.stderr_line(BOUND, |l| new_name(l).is_some() || l.contains("New sharer token")).await;
    let name = new_name(&line).expect("no new token for a known sharer");
    write_scan(&scan, &[(&name, AP1), ("Shop", AP2)]);
    let status = tokio::time::timeout(BOUND, p.child.wait()).await.unwrap().unwrap();
    assert!(status.success());
    let mut out = String::new();
    while let Ok(Some(l)) = p.stdout.next_line().await {
        out.push_str(&l);
    }
    let reg2: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(reg2["network_id"], reg["network_id"]);
    assert_eq!(reg2["key_stored"], true, "the stored key is kept");
    let m = s.client().mappings().await.unwrap();
    assert_eq!(m.networks.len(), 1, "the same network");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_gives_up_when_the_name_never_appears() {
    let s = TestServer::start(config()).await;
    let work = tempfile::tempdir().unwrap();
    let scan = work.path().join("scan.txt");
    // nmcli terse format this time; the network is never renamed.
    std::fs::write(&scan, "Shop:02\\:00\\:00\\:00\\:00\\:01:70\n").unwrap();
    let o = cardgate()
        .args([
            "hotspot",
            "register",
            "--server",
            &s.url,
            "--ssid",
            "Shop",
            "--poll",
            "100ms",
            "--timeout",
            "1s",
        ])
        .arg("--scan-file")
        .arg(&scan)
        .arg("--token-file")
        .arg(work.path().join("t"))
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("did not appear on 02:00:00:00:00:01") && err.contains("not completed"), "{err}");
    assert!(s.client().mappings().await.unwrap().networks.is_empty());

    let o = cardgate()
        .args(["hotspot", "register", "--server", &s.url, "--ssid", "Nowhere"])
        .arg("--scan-file")
        .arg(&scan)
        .arg("--token-file")
        .arg(work.path().join("t2"))
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("no access point broadcasting \"Nowhere\"") && err.contains("seen: Shop"), "{err}");
    assert!(!work.path().join("t2").exists(), "no proof was started, so no token");

    // No scan file and no NetworkManager: a clear error.
    let o = cardgate()
        .args(["hotspot", "register", "--server", &s.url, "--ssid", "Shop", "--nmcli", "/nonexistent/nmcli"])
        .output()
        .await
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("pass --scan-file"));
}

/// A stand-in for `nmcli` that answers the calls cardgate makes, keeping the hotspot's SSID in a file
/// and logging every call. Unknown calls fail, so an unexpected use shows up.
const FAKE_NMCLI: &str = r#"#!/bin/sh
d="$FAKE_NMCLI_DIR"
echo "$*" >> "$d/log"
case "$*" in
  "-t -f RUNNING general") echo running ;;
  "-t -f SSID,BSSID device wifi list --rescan yes") cat "$d/scan" ;;
  "-t -f NAME,TYPE,DEVICE connection show --active")
     echo "Shop AP:802-11-wireless:wlan0"; echo "Wired:802-3-ethernet:eth0" ;;
  "-g 802-11-wireless.mode connection show Shop AP") echo ap ;;
  "-g 802-11-wireless.ssid connection show Shop AP") cat "$d/ssid" ;;
  "-g GENERAL.HWADDR device show wlan0") echo '02\:00\:00\:00\:00\:AA' ;;
  "connection modify Shop AP 802-11-wireless.ssid "*) echo "${*#connection modify Shop AP 802-11-wireless.ssid }" > "$d/ssid" ;;
  "connection up Shop AP") echo "Connection successfully activated" ;;
  *) echo "Error: unexpected call: $*" >&2; exit 2 ;;
esac
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_renames_and_restores_a_networkmanager_hotspot() {
    let s = TestServer::start(config()).await;
    let work = tempfile::tempdir().unwrap();
    let nmcli = work.path().join("nmcli");
    std::fs::write(&nmcli, FAKE_NMCLI).unwrap();
    std::fs::set_permissions(&nmcli, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(work.path().join("ssid"), "Shop\n").unwrap();
    std::fs::write(work.path().join("scan"), "Neighbour:02\\:00\\:00\\:00\\:00\\:03\n").unwrap();

    let o = cardgate()
        .args(["hotspot", "register", "--server", &s.url, "--ssid", "Shop", "--poll", "100ms"])
        .arg("--nmcli")
        .arg(&nmcli)
        .arg("--token-file")
        .arg(work.path().join("t"))
        .env("FAKE_NMCLI_DIR", work.path())
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let reg: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(reg["macs"], serde_json::json!(["02:00:00:00:00:AA"]), "this machine's own hotspot");
    let proven = reg["proven_ssid"].as_str().unwrap();
    let log = std::fs::read_to_string(work.path().join("log")).unwrap();
    assert!(log.contains(&format!("connection modify Shop AP 802-11-wireless.ssid {proven}")), "{log}");
    assert!(log.contains("connection modify Shop AP 802-11-wireless.ssid Shop"), "restored: {log}");
    assert_eq!(std::fs::read_to_string(work.path().join("ssid")).unwrap().trim(), "Shop");
    assert!(err.contains("back to \"Shop\""), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_connects_at_the_threshold_and_receives_pushes_as_they_are_set() {
    let s = TestServer::start(config()).await;
    let (token, reg) = register_via_api(&s, "Shop", &[AP1, AP2]).await;
    let (_, other) = register_via_api(&s, "Cafe", &[AP3]).await;
    let work = tempfile::tempdir().unwrap();
    let scan = work.path().join("scan.json");
    // Only one of Shop's two MACs in range: below a threshold of 2. The Cafe is in range but has one
    // MAC only.
    write_scan(&scan, &[("Shop", AP1), ("Cafe", AP3), ("Street", "02:00:00:00:00:77")]);

    let mut cmd = cardgate();
    cmd.args(["hotspot", "listen", "--server", &s.url, "--threshold", "2", "--interval", "100ms"])
        .arg("--scan-file")
        .arg(&scan)
        // Mappings are fetched once at start; a refresh an hour away rules out delivery by polling.
        .args(["--refresh", "1h", "--count", "2", "--timeout", "120s"]);
    let mut p = Proc::spawn(cmd);
    let first = p.stdout_line(BOUND, |_| true).await;
    assert_eq!(serde_json::from_str::<Value>(&first).unwrap()["networks"], 2);

    // Nothing matches yet; the owner sets information now, before the client meets the network.
    s.client().set_push(&token, &reg.network_id, serde_json::json!({"message": "welcome"})).await.unwrap();
    // Shop's second access point comes into range: 2 common MACs.
    write_scan(&scan, &[("Shop", AP1), ("Shop", AP2), ("Cafe", AP3)]);
    let connected: Value = serde_json::from_str(&p.stdout_line(BOUND, |_| true).await).unwrap();
    assert_eq!(connected["event"], "connected", "{connected}");
    assert_eq!(connected["network_id"], reg.network_id.as_str());
    assert_ne!(connected["network_id"], other.network_id.as_str());
    assert_eq!(connected["ssid"], "Shop");
    assert_eq!(connected["matched"], serde_json::json!([AP1, AP2]));
    assert_eq!(connected["connected"], false, "reports only without --connect");
    // On connecting, the information already set is pushed.
    let info: Value = serde_json::from_str(&p.stdout_line(BOUND, |_| true).await).unwrap();
    assert_eq!((info["event"].as_str(), info["version"].as_u64()), (Some("info"), Some(1)));
    assert_eq!(info["info"]["message"], "welcome");

    // Set while connected: it arrives by push (the client makes no request for it).
    let set_at = std::time::Instant::now();
    let mut push = cardgate();
    push.args(["hotspot", "push", "--server", &s.url, "--network", &reg.network_id, "--message", "2 for 1"])
        .arg("--token-file")
        .arg(work.path().join("token"));
    std::fs::write(work.path().join("token"), &token).unwrap();
    std::fs::set_permissions(work.path().join("token"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = push.output().await.unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let info: Value = serde_json::from_str(&p.stdout_line(BOUND, |_| true).await).unwrap();
    let latency = set_at.elapsed();
    assert_eq!((info["event"].as_str(), info["version"].as_u64()), (Some("info"), Some(2)));
    assert_eq!(info["info"]["message"], "2 for 1");
    eprintln!("push reached the listener {latency:?} after `hotspot push` started (incl. process start)");
    let status = tokio::time::timeout(BOUND, p.child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "exits after --count 2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_below_the_threshold_never_connects() {
    let s = TestServer::start(config()).await;
    let (token, reg) = register_via_api(&s, "Shop", &[AP1, AP2]).await;
    s.client().set_push(&token, &reg.network_id, serde_json::json!("hello")).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let scan = work.path().join("scan.txt");
    std::fs::write(&scan, "Shop:02\\:00\\:00\\:00\\:00\\:01\nShop:02\\:00\\:00\\:00\\:00\\:02\n").unwrap();
    let o = cardgate()
        .args(["hotspot", "listen", "--server", &s.url, "--threshold", "3", "--interval", "100ms"])
        .arg("--scan-file")
        .arg(&scan)
        .args(["--count", "1", "--timeout", "1500ms"])
        .output()
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!o.status.success(), "no information can arrive: {out}");
    assert!(!out.contains("connected"), "2 common MACs < threshold 3: {out}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("0 of 1 information events"));
    // The same scan with threshold 2 connects and gets the information.
    let o = cardgate()
        .args(["hotspot", "listen", "--server", &s.url, "--threshold", "2", "--interval", "100ms"])
        .arg("--scan-file")
        .arg(&scan)
        .args(["--count", "1", "--timeout", "20s"])
        .output()
        .await
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains(r#""info":"hello""#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cardgate_server_serves_the_hotspot_area_and_stops_with_open_streams() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let mut cmd = cardgate();
    cmd.args(["server", "--listen", "127.0.0.1:0", "--hotspot-proof-ttl", "1m"]).arg("--data").arg(&data);
    let mut p = Proc::spawn(cmd);
    let line = p.stdout_line(BOUND, |l| l.starts_with("listening on ")).await;
    let url = line.trim_start_matches("listening on ").to_owned();
    let key = data.join("hotspot.key");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(&data).unwrap().permissions().mode() & 0o777, 0o700);

    let c = cardgate::hotspot::client::Client::new(&url).unwrap();
    let started = c.start(None, &start_req("Shop", &[AP1])).await.unwrap();
    assert_eq!(started.expires_in, 60);
    let token = started.sharer_token.unwrap();
    let reg = c.complete(&token, &started.proof_id, &complete_req(&started.rename_to, &[AP1])).await.unwrap();
    let mut stream = c.events(&reg.network_id, 0).await.unwrap();
    c.set_push(&token, &reg.network_id, serde_json::json!({"m": 1})).await.unwrap();
    let ev = tokio::time::timeout(BOUND, stream.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(ev.event, "info");
    assert_eq!(ev.id.as_deref(), Some("1"));

    // SIGTERM: the server ends the open stream and exits cleanly.
    let pid = p.child.id().unwrap();
    std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    let status = tokio::time::timeout(BOUND, p.child.wait()).await.unwrap().unwrap();
    assert!(status.success());
    assert!(tokio::time::timeout(BOUND, stream.next()).await.unwrap().map_or(true, |e| e.is_none()));

    // The data survives a restart; a key file others can read stops the server.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = cardgate()
        .args(["server", "--listen", "127.0.0.1:0"])
        .arg("--data")
        .arg(&data)
        .output()
        .await
        .unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("chmod 600"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut cmd = cardgate();
    cmd.args(["server", "--listen", "127.0.0.1:0"]).arg("--data").arg(&data);
    let mut p = Proc::spawn(cmd);
    let url = p
        .stdout_line(BOUND, |l| l.starts_with("listening on "))
        .await
        .trim_start_matches("listening on ")
        .to_owned();
    let m = cardgate::hotspot::client::Client::new(&url).unwrap().mappings().await.unwrap();
    assert_eq!(m.networks[0].network_id, reg.network_id);
}
