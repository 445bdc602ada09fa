//! The hotspot proof over real HTTP: every refusal has its stable code and documented status, a
//! refusal changes nothing it should not, and success registers the network.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod hotspot_common;

use cardgate::hotspot::api::{ErrorCode, StartRequest};
use cardgate::hotspot::server::{HotspotConfig, MAX_BODY};
use hotspot_common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_registers_network_and_macs_and_proof_is_single_use() {
    let s = TestServer::start(config()).await;
    let c = s.client();
    let started = c.start(None, &start_req("Shop", &[AP1, AP2])).await.unwrap();
    assert_eq!(started.rule, "hash");
    assert!(started.second.starts_with("CG-") && started.second.len() == 16);
    assert_eq!(started.rename_to, started.second, "documented rule: third = second");
    assert_eq!(started.expires_in, 300);
    assert_eq!(started.expires_at, s.clock.now() + 300);
    let token = started.sharer_token.clone().unwrap();

    // The fresh scan shows AP1 and a new AP3 carrying the new name; AP2 is out of range.
    let mut req = complete_req(&started.rename_to, &[AP1, AP3]);
    req.key = Some("correct horse battery".into());
    req.share_key = true;
    let reg = c.complete(&token, &started.proof_id, &req).await.unwrap();
    assert_eq!(reg.ssid, "Shop");
    assert_eq!(reg.proven_ssid, started.rename_to);
    assert_eq!(reg.macs, [AP1, AP3], "the access points seen carrying the new name are registered");
    assert!(reg.key_stored);

    let m = c.mappings().await.unwrap();
    assert_eq!(m.networks.len(), 1);
    assert_eq!(m.networks[0].macs, [AP1, AP3]);
    assert_eq!(m.networks[0].key.as_deref(), Some("correct horse battery"), "shared key is delivered");
    let db = std::fs::read(s.db_path()).unwrap();
    let wal = std::fs::read(s.db_path().with_extension("db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(!bytes.windows(14).any(|w| w == b"correct horse "), "the key is stored encrypted");
    }

    // Single use: the same proof again is refused, and nothing changes.
    let again = call(
        "POST",
        &format!("{}/v1/hotspot/proofs/{}/complete", s.url, started.proof_id),
        Some(&token),
        Some(&serde_json::to_string(&complete_req(&started.rename_to, &[AP2])).unwrap()),
    )
    .await;
    again.assert_error(ErrorCode::ProofUsed);
    assert_eq!(c.mappings().await.unwrap().networks[0].macs, [AP1, AP3]);

    // The same sharer proves again with its token (new APs): same network, MACs updated, key kept.
    let second = c.start(Some(&token), &start_req("Shop", &[AP1, AP2])).await.unwrap();
    assert!(second.sharer_token.is_none(), "a known sharer gets no new token");
    assert_ne!(second.second, started.second, "a new proof never reuses an identifier");
    let reg2 =
        c.complete(&token, &second.proof_id, &complete_req(&second.rename_to, &[AP1, AP2])).await.unwrap();
    assert_eq!(reg2.network_id, reg.network_id);
    assert!(reg2.key_stored);
    assert_eq!(c.mappings().await.unwrap().networks[0].macs, [AP1, AP2, AP3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_rule_and_unknown_rule() {
    let s = TestServer::start(config()).await;
    let mut req = start_req("Shop", &[AP1]);
    req.rule = Some("random".into());
    let a = s.client().start(None, &req).await.unwrap();
    let b = s.client().start(None, &req).await.unwrap();
    assert_eq!(a.rule, "random");
    assert!(a.second.starts_with("CG-") && a.second.len() == 16);
    assert_ne!(a.second, b.second);
    req.rule = Some("md5".into());
    let ans = call(
        "POST",
        &format!("{}/v1/hotspot/proofs", s.url),
        None,
        Some(&serde_json::to_string(&req).unwrap()),
    )
    .await;
    ans.assert_error(ErrorCode::RuleUnknown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_identifier_is_refused_and_does_not_register() {
    let s = TestServer::start(config()).await;
    let c = s.client();
    let started = c.start(None, &start_req("Shop", &[AP1])).await.unwrap();
    let token = started.sharer_token.unwrap();
    s.clock.advance(300); // exactly at the expiry: still valid
    s.clock.advance(1);
    let err =
        c.complete(&token, &started.proof_id, &complete_req(&started.rename_to, &[AP1])).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::ProofExpired));
    assert!(c.mappings().await.unwrap().networks.is_empty());

    let on_time = c.start(Some(&token), &start_req("Shop", &[AP1])).await.unwrap();
    s.clock.advance(300);
    c.complete(&token, &on_time.proof_id, &complete_req(&on_time.rename_to, &[AP1])).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mismatched_identifier_or_bssids_spend_the_proof() {
    let s = TestServer::start(config()).await;
    let c = s.client();
    let started = c.start(None, &start_req("Shop", &[AP1, AP2])).await.unwrap();
    let token = started.sharer_token.unwrap();
    // Case differs: SSIDs are octet strings.
    let wrong = started.rename_to.to_lowercase();
    let err = c.complete(&token, &started.proof_id, &complete_req(&wrong, &[AP1])).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::SsidMismatch));
    let err =
        c.complete(&token, &started.proof_id, &complete_req(&started.rename_to, &[AP1])).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::ProofUsed), "a mismatch spends the proof");

    let p = c.start(Some(&token), &start_req("Shop", &[AP1, AP2])).await.unwrap();
    let err = c.complete(&token, &p.proof_id, &complete_req(&p.rename_to, &[AP3])).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::BssidMismatch), "the name must appear on a selected AP");
    let err = c.complete(&token, &p.proof_id, &complete_req(&p.rename_to, &[AP1])).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::ProofUsed));
    assert!(c.mappings().await.unwrap().networks.is_empty(), "nothing registered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_sharer_is_refused_without_spending_the_proof() {
    let s = TestServer::start(config()).await;
    let c = s.client();
    let mine = c.start(None, &start_req("Shop", &[AP1])).await.unwrap();
    let theirs = c.start(None, &start_req("Elsewhere", &[AP2])).await.unwrap();
    let my_token = mine.sharer_token.unwrap();
    let their_token = theirs.sharer_token.unwrap();
    assert_ne!(my_token, their_token);
    let url = format!("{}/v1/hotspot/proofs/{}/complete", s.url, mine.proof_id);
    let body = serde_json::to_string(&complete_req(&mine.rename_to, &[AP1])).unwrap();
    call("POST", &url, Some(&their_token), Some(&body)).await.assert_error(ErrorCode::WrongSharer);
    // A well-formed token the server never issued is another sharer too.
    let forged = format!("cgs_{}", "ab".repeat(32));
    call("POST", &url, Some(&forged), Some(&body)).await.assert_error(ErrorCode::WrongSharer);
    call("POST", &url, None, Some(&body)).await.assert_error(ErrorCode::Unauthorized);
    call("POST", &url, Some("cgs_short"), Some(&body)).await.assert_error(ErrorCode::Unauthorized);
    // The owner still completes it.
    let reg = c.complete(&my_token, &mine.proof_id, &complete_req(&mine.rename_to, &[AP1])).await.unwrap();
    assert_eq!(reg.macs, [AP1]);
    // Starting with a token the server did not issue.
    let ans = call(
        "POST",
        &format!("{}/v1/hotspot/proofs", s.url),
        Some(&forged),
        Some(&serde_json::to_string(&start_req("Shop", &[AP1])).unwrap()),
    )
    .await;
    ans.assert_error(ErrorCode::SharerUnknown);
    let ans = call(
        "POST",
        &format!("{}/v1/hotspot/proofs/{}/complete", s.url, "00".repeat(16)),
        Some(&my_token),
        Some(&body),
    )
    .await;
    ans.assert_error(ErrorCode::ProofUnknown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssid_lengths_bssids_and_keys_are_checked() {
    let s = TestServer::start(config()).await;
    let start_url = format!("{}/v1/hotspot/proofs", s.url);
    let start = |ssid: String, bssids: Vec<String>| {
        serde_json::to_string(&StartRequest { ssid, bssids, rule: None }).unwrap()
    };
    let ap = || vec![AP1.to_owned()];
    for bad in [String::new(), "x".repeat(33), "€".repeat(11), "tab\there".into()] {
        call("POST", &start_url, None, Some(&start(bad, ap()))).await.assert_error(ErrorCode::SsidInvalid);
    }
    for ok in ["x".repeat(32), "€".repeat(10), "a".into()] {
        assert_eq!(call("POST", &start_url, None, Some(&start(ok, ap()))).await.status, 201);
    }
    let many: Vec<String> = (0..65).map(|i| format!("02:00:00:00:01:{i:02X}")).collect();
    for bad in [vec![], vec!["FF:FF:FF:FF:FF:FF".to_owned()], vec!["nope".to_owned()], many] {
        call("POST", &start_url, None, Some(&start("Shop".into(), bad)))
            .await
            .assert_error(ErrorCode::BssidInvalid);
    }

    // A malformed third identifier is refused before comparison and does not spend the proof.
    let c = s.client();
    let p = c.start(None, &start_req("Shop", &[AP1])).await.unwrap();
    let token = p.sharer_token.unwrap();
    let url = format!("{}/v1/hotspot/proofs/{}/complete", s.url, p.proof_id);
    for bad in [String::new(), "y".repeat(33), "CG-\u{7f}".into()] {
        let body = serde_json::to_string(&complete_req(&bad, &[AP1])).unwrap();
        call("POST", &url, Some(&token), Some(&body)).await.assert_error(ErrorCode::SsidInvalid);
    }
    for key in ["short", &"z".repeat(64)] {
        let mut req = complete_req(&p.rename_to, &[AP1]);
        req.key = Some(key.to_owned());
        let body = serde_json::to_string(&req).unwrap();
        call("POST", &url, Some(&token), Some(&body)).await.assert_error(ErrorCode::KeyInvalid);
    }
    c.complete(&token, &p.proof_id, &complete_req(&p.rename_to, &[AP1])).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversize_requests_get_json_errors() {
    let s = TestServer::start(config()).await;
    let url = format!("{}/v1/hotspot/proofs", s.url);
    call("POST", &url, None, Some("{not json")).await.assert_error(ErrorCode::BadRequest);
    call("POST", &url, None, Some(r#"{"ssid": 5, "bssids": []}"#)).await.assert_error(ErrorCode::BadRequest);
    call("POST", &url, None, Some(r#"{"ssid": "a", "bssids": ["02:00:00:00:00:01"], "extra": 1}"#))
        .await
        .assert_error(ErrorCode::BadRequest);
    let huge = serde_json::to_string(&StartRequest {
        ssid: "Shop".into(),
        bssids: vec![AP1.into()],
        rule: Some("x".repeat(MAX_BODY)),
    })
    .unwrap();
    call("POST", &url, None, Some(&huge)).await.assert_error(ErrorCode::RequestTooLarge);
    // No JSON content type.
    let resp = reqwest::Client::new().post(&url).body("{}").send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 415);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unsupported_media_type");
    call("GET", &format!("{}/v1/nothing", s.url), None, None).await.assert_error(ErrorCode::NotFound);
    call("DELETE", &format!("{}/v1/hotspot/mappings", s.url), None, None)
        .await
        .assert_error(ErrorCode::MethodNotAllowed);
    let events = format!("{}/v1/hotspot/networks/{}/events", s.url, "11".repeat(16));
    call("GET", &events, None, None).await.assert_error(ErrorCode::NetworkUnknown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_are_rate_limited_per_client() {
    let s = TestServer::start(HotspotConfig { attempts_per_minute: 3, ..config() }).await;
    let url = format!("{}/v1/hotspot/proofs", s.url);
    let body = serde_json::to_string(&start_req("Shop", &[AP1])).unwrap();
    let mut token = None;
    for _ in 0..2 {
        let a = call("POST", &url, None, Some(&body)).await;
        assert_eq!(a.status, 201);
        token = a.body["sharer_token"].as_str().map(str::to_owned);
    }
    // A malformed attempt counts too.
    call("POST", &url, None, Some("{")).await.assert_error(ErrorCode::BadRequest);
    let limited = call("POST", &url, None, Some(&body)).await;
    limited.assert_error(ErrorCode::RateLimited);
    let retry: u64 = limited.retry_after.as_deref().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    // Ends of proofs are attempts as well.
    let complete = format!("{url}/{}/complete", "00".repeat(16));
    let cbody = serde_json::to_string(&complete_req("CG-AAAAAAAAAAAAA", &[AP1])).unwrap();
    call("POST", &complete, token.as_deref(), Some(&cbody)).await.assert_error(ErrorCode::RateLimited);
    // Reading mappings is not a proof attempt.
    assert_eq!(call("GET", &format!("{}/v1/hotspot/mappings", s.url), None, None).await.status, 200);
    s.clock.advance(60);
    assert_eq!(call("POST", &url, None, Some(&body)).await.status, 201, "a new window");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_is_set_by_the_owner_only() {
    let s = TestServer::start(config()).await;
    let (token, reg) = register_via_api(&s, "Shop", &[AP1]).await;
    let (other_token, _) = register_via_api(&s, "Cafe", &[AP2]).await;
    let url = format!("{}/v1/hotspot/networks/{}/push", s.url, reg.network_id);
    let body = json!({"info": {"message": "hello"}}).to_string();
    call("PUT", &url, None, Some(&body)).await.assert_error(ErrorCode::Unauthorized);
    call("PUT", &url, Some(&other_token), Some(&body)).await.assert_error(ErrorCode::NotOwner);
    let unknown = format!("{}/v1/hotspot/networks/{}/push", s.url, "22".repeat(16));
    call("PUT", &unknown, Some(&token), Some(&body)).await.assert_error(ErrorCode::NetworkUnknown);
    let big = json!({"info": "x".repeat(5000)}).to_string();
    call("PUT", &url, Some(&token), Some(&big)).await.assert_error(ErrorCode::InfoTooLarge);

    let before = call("GET", &url, None, None).await;
    assert_eq!((before.status, before.body["version"].as_u64()), (200, Some(0)));
    let set = call("PUT", &url, Some(&token), Some(&body)).await;
    assert_eq!(set.status, 200);
    assert_eq!(set.body["version"], 1);
    let set = call("PUT", &url, Some(&token), Some(&json!({"info": [1, 2]}).to_string())).await;
    assert_eq!(set.body["version"], 2);
    let now = call("GET", &url, None, None).await;
    assert_eq!(now.body["info"], json!([1, 2]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_proof_of_a_bssid_takes_it_over() {
    let s = TestServer::start(config()).await;
    let (_, a) = register_via_api(&s, "Shop", &[AP1, AP2]).await;
    let (_, b) = register_via_api(&s, "Rogue", &[AP2]).await;
    assert_ne!(a.network_id, b.network_id);
    let m = s.client().mappings().await.unwrap();
    let macs_of = |id: &str| m.networks.iter().find(|n| n.network_id == id).unwrap().macs.clone();
    assert_eq!(macs_of(&a.network_id), [AP1]);
    assert_eq!(macs_of(&b.network_id), [AP2]);
}
