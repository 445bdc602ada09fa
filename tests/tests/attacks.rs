//! Attacks across the parts, each refused: forged and re-signed credit payment codes, key
//! confusion, one code replayed at many merchants, merchants' keys crossing, hostile HTTP against
//! the real `cardgate server`, PIN and admin-PIN brute force through pcscd + vpcd, and path tricks in
//! the CLI's file arguments. SECURITY.md maps each attack to its test here (or elsewhere).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use applet::credit::code::token_signed_message;
use applet::credit::keys::key_id;
use applet::credit::{CreditPaymentCode, KeyAlgorithm, Money};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::KeyPair;
use cardgate::payment::api::{Outcome, SettlementRequest, UploadedPayment, Verdict};
use cardgate::payment::cpm::PaymentPayload;
use cardgate::payment::merchant::{AcceptError, MerchantStore};
use cardgate::payment::settle::{SettleOptions, settle_pending};
use cardgate::payment::verify::Reason;
use cardgate_tests::payments::{Issuer, compressed, new_key, now, present_with};
use cardgate_tests::{CardProcess, SLOT0, VpcdLock, cardgate, init_card, run};
use reader_bridge::pcsc::PcscTransport;
use reader_bridge::transport::Transport;

fn cny(minor: u64) -> Money {
    Money { minor, currency: 156 }
}

fn accept(store: &mut MerchantStore, p: &PaymentPayload, amount: u64) -> Result<String, AcceptError> {
    store.accept(None, &p.to_text(), p, cny(amount), now(), 600).map(|r| r.payment_id)
}

fn rejected(r: Result<String, AcceptError>) -> Reason {
    match r {
        Err(AcceptError::Rejected(r)) => r.reason,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn upload(id: &str, p: &PaymentPayload, amount: u64) -> UploadedPayment {
    UploadedPayment { payment_id: id.into(), payload: p.to_text(), amount, currency: 156, accepted_at: now() }
}

/// A merchant that skips the offline checks and uploads straight to the server: what the server
/// decides on its own.
async fn server_verdicts(issuer: &Issuer, key: &str, payments: Vec<UploadedPayment>) -> Vec<Verdict> {
    issuer.client(key).unwrap().settle(&SettlementRequest { payments }).await.unwrap().verdicts
}

fn fast() -> SettleOptions {
    SettleOptions {
        retry_for: Duration::from_secs(5),
        first_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(400),
        timeout: Duration::from_secs(20),
        progress: false,
        ..SettleOptions::default()
    }
}

fn now32() -> u32 {
    now() as u32
}

/// Re-signs a token after changing it, with `key` posing as the issuer key `key_id`.
fn resign(
    code: &CreditPaymentCode,
    key: &aws_lc_rs::signature::EcdsaKeyPair,
    id: [u8; 4],
    change: impl FnOnce(&mut applet::credit::CreditToken),
) -> CreditPaymentCode {
    let mut token = code.token.clone();
    token.issuer_key_id = id;
    change(&mut token);
    let tlv = token.encode().unwrap();
    let sig = key.sign(&SystemRandom::new(), &token_signed_message(&tlv)).unwrap();
    CreditPaymentCode::assemble(tlv, sig.as_ref().to_vec()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_and_resigned_codes_are_refused_offline_and_at_settlement() {
    let dir = tempfile::tempdir().unwrap();
    let issuer = Issuer::start(dir.path()).unwrap();
    issuer.account("alice", 1_000_000).await.unwrap();
    let card = new_key();
    let code = issuer.issue(&compressed(&card), "alice", 2, 1_000).await.unwrap();
    let mut shop = issuer.merchant("SHOP-A", &dir.path().join("a.db")).await.unwrap();
    let key = shop.merchant(None).unwrap().api_key.to_string();
    let thief = new_key();

    // The token raised (threshold, uses) and re-signed by another key under the issuer's key id.
    let raised = resign(&code, &thief, code.token.issuer_key_id, |t| {
        t.threshold.minor = 900_000;
        t.allowed_uses = 500;
    });
    let p1 = present_with(&card, &raised, 1, now32(), None).unwrap();
    assert_eq!(rejected(accept(&mut shop, &p1, 50_000)), Reason::BadIssuerSignature);
    // The same under the thief's own key id: a key no merchant was given.
    let own_id = key_id(KeyAlgorithm::EcdsaP256Sha256, thief.public_key().as_ref());
    let own = resign(&code, &thief, own_id, |t| t.threshold.minor = 900_000);
    let p2 = present_with(&card, &own, 2, now32(), None).unwrap();
    assert_eq!(rejected(accept(&mut shop, &p2, 50_000)), Reason::UnknownIssuerKey);
    // A genuine code presented by a thief's key (a cloned QR, a card that is not the one certified).
    let p3 = present_with(&thief, &code, 3, now32(), None).unwrap();
    assert_eq!(rejected(accept(&mut shop, &p3, 100)), Reason::BadCardSignature);
    // A genuine presentation whose signed amount is changed after signing.
    let mut p4 = present_with(&card, &code, 4, now32(), Some(cny(100))).unwrap();
    p4.presentation.amount = Some(cny(999));
    p4.presentation_tlv = p4.presentation.encode().unwrap();
    assert_eq!(rejected(accept(&mut shop, &p4, 999)), Reason::BadCardSignature);
    assert_eq!(shop.counts().unwrap(), (0, 0), "nothing queued");

    // A merchant that skips its checks gains nothing: the server makes the same checks.
    let v = server_verdicts(
        &issuer,
        &key,
        vec![
            upload("f1", &p1, 50_000),
            upload("f2", &p2, 50_000),
            upload("f3", &p3, 100),
            upload("f4", &p4, 999),
        ],
    )
    .await;
    let reasons: Vec<_> = v.iter().map(|v| (v.verdict, v.reason_code)).collect();
    assert_eq!(
        reasons,
        [
            (Outcome::Rejected, Some(Reason::BadIssuerSignature)),
            (Outcome::Rejected, Some(Reason::UnknownIssuerKey)),
            (Outcome::Rejected, Some(Reason::BadCardSignature)),
            (Outcome::Rejected, Some(Reason::BadCardSignature)),
        ]
    );
    assert_eq!(issuer.admin.account("alice").await.unwrap().used, 0, "nothing debited");
    // The genuine payment still goes through.
    let good = present_with(&card, &code, 5, now32(), None).unwrap();
    let v = server_verdicts(&issuer, &key, vec![upload("g1", &good, 100)]).await;
    assert_eq!(v[0].verdict, Outcome::Accepted, "{v:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn key_confusion_card_keys_as_issuer_keys_and_the_reverse_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let issuer = Issuer::start(dir.path()).unwrap();
    issuer.account("bob", 1_000_000).await.unwrap();
    let card = new_key();
    let code = issuer.issue(&compressed(&card), "bob", 5, 1_000).await.unwrap();
    let mut shop = issuer.merchant("SHOP-A", &dir.path().join("a.db")).await.unwrap();
    let key = shop.merchant(None).unwrap().api_key.to_string();

    // A card key presented as an issuer key: the cardholder (who may extract a software card's key)
    // certifies their own card, naming their card key as the issuer key, or the real issuer's id.
    let as_issuer = key_id(KeyAlgorithm::EcdsaP256Sha256, card.public_key().as_ref());
    let self_certified = resign(&code, &card, as_issuer, |t| t.allowed_uses = 60_000);
    let p1 = present_with(&card, &self_certified, 1, now32(), None).unwrap();
    assert_eq!(rejected(accept(&mut shop, &p1, 100)), Reason::UnknownIssuerKey);
    let under_real_id = resign(&code, &card, code.token.issuer_key_id, |t| t.allowed_uses = 60_000);
    let p2 = present_with(&card, &under_real_id, 2, now32(), None).unwrap();
    assert_eq!(rejected(accept(&mut shop, &p2, 100)), Reason::BadIssuerSignature);
    // The card's presentation signature is no issuer signature either (separate signing domains).
    let p3 = present_with(&card, &code, 3, now32(), None).unwrap();
    let swapped = CreditPaymentCode::assemble(code.token_tlv.clone(), p3.card_signature.clone()).unwrap();
    let p4 = present_with(&card, &swapped, 4, now32(), None).unwrap();
    assert_eq!(rejected(accept(&mut shop, &p4, 100)), Reason::BadIssuerSignature);

    // The reverse: the issuer's signature offered as the card's.
    let mut p5 = present_with(&card, &code, 5, now32(), None).unwrap();
    p5.card_signature = code.issuer_signature.clone();
    assert_eq!(rejected(accept(&mut shop, &p5, 100)), Reason::BadCardSignature);
    // And the issuer never certifies its own key as a card key.
    let keys = issuer.admin.issuer_keys().await.unwrap();
    let issuer_point = keys.keys[0].decode().unwrap().public_key;
    assert_eq!(issuer_point.len(), 65);
    let mut as_card = [0u8; 33];
    as_card[0] = 0x02 | (issuer_point[64] & 1);
    as_card[1..].copy_from_slice(&issuer_point[1..33]);
    let err = issuer.issue(&as_card, "bob", 5, 1_000).await.unwrap_err().to_string();
    assert!(err.contains("one of this issuer's own keys"), "{err}");

    let v = server_verdicts(
        &issuer,
        &key,
        vec![upload("k1", &p1, 100), upload("k2", &p2, 100), upload("k4", &p4, 100), upload("k5", &p5, 100)],
    )
    .await;
    let reasons: Vec<_> = v.iter().map(|v| v.reason_code).collect();
    assert_eq!(
        reasons,
        [
            Some(Reason::UnknownIssuerKey),
            Some(Reason::BadIssuerSignature),
            Some(Reason::BadIssuerSignature),
            Some(Reason::BadCardSignature)
        ]
    );
    assert_eq!(shop.counts().unwrap(), (0, 0));
    assert_eq!(issuer.admin.account("bob").await.unwrap().used, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_code_replayed_at_ten_merchants_is_accepted_once_and_flagged_nine_times() {
    let dir = tempfile::tempdir().unwrap();
    let issuer = Issuer::start(dir.path()).unwrap();
    issuer.account("carol", 1_000_000).await.unwrap();
    let card = new_key();
    let code = issuer.issue(&compressed(&card), "carol", 50, 5_000).await.unwrap();
    let payment = present_with(&card, &code, 1, now32(), None).unwrap();
    let mut stores = Vec::new();
    for i in 0..10 {
        let mut s = issuer.merchant(&format!("M{i:02}"), &dir.path().join(format!("m{i}.db"))).await.unwrap();
        accept(&mut s, &payment, 1_234).unwrap();
        if i == 0 {
            // At one merchant, the second scan is refused at accept, offline.
            assert_eq!(rejected(accept(&mut s, &payment, 1_234)), Reason::Replayed);
        }
        stores.push(s);
    }
    // All ten settle at once.
    let url = issuer.server.url.clone();
    let tasks: Vec<_> = stores
        .into_iter()
        .map(|mut s| {
            let url = url.clone();
            tokio::spawn(async move { settle_pending(&mut s, &url, &fast()).await.unwrap().verdicts })
        })
        .collect();
    let mut verdicts = Vec::new();
    for t in tasks {
        verdicts.extend(t.await.unwrap().into_iter().map(|(_, v)| v));
    }
    assert_eq!(verdicts.len(), 10);
    let accepted = verdicts.iter().filter(|v| v.verdict == Outcome::Accepted).count();
    let flagged: Vec<_> =
        verdicts.iter().filter(|v| v.flagged && v.reason_code == Some(Reason::DoubleSpend)).collect();
    assert_eq!((accepted, flagged.len()), (1, 9), "{verdicts:?}");
    assert_eq!(issuer.admin.account("carol").await.unwrap().used, 1_234, "debited once");
}

#[tokio::test(flavor = "multi_thread")]
async fn merchant_keys_do_not_cross() {
    let dir = tempfile::tempdir().unwrap();
    let issuer = Issuer::start(dir.path()).unwrap();
    issuer.account("dan", 1_000_000).await.unwrap();
    let card = new_key();
    let code = issuer.issue(&compressed(&card), "dan", 50, 5_000).await.unwrap();
    let key_a = issuer.merchant_key("SHOP-A").await.unwrap();
    let key_b = issuer.merchant_key("SHOP-B").await.unwrap();
    let p = present_with(&card, &code, 1, now32(), None).unwrap();
    assert_eq!(
        server_verdicts(&issuer, &key_a, vec![upload("pay-1", &p, 500)]).await[0].verdict,
        Outcome::Accepted
    );

    let base = &issuer.server.url;
    let body = serde_json::to_vec(&SettlementRequest { payments: vec![upload("x", &p, 1)] }).unwrap();
    // No key, an admin token where a merchant key belongs, A's key id with B's secret, garbage.
    let admin = std::fs::read_to_string(&issuer.server.token_file).unwrap().trim().to_owned();
    let (a_id, _) = key_a.trim_start_matches("cgm_").split_once('_').unwrap();
    let (_, b_secret) = key_b.trim_start_matches("cgm_").split_once('_').unwrap();
    let spliced = format!("cgm_{a_id}_{b_secret}");
    for auth in [None, Some(admin.as_str()), Some(spliced.as_str()), Some("cgm_x_y"), Some("")] {
        let (status, json) = http(base, "POST", "/v1/settlements", auth, &body);
        assert_eq!(status, 401, "{auth:?}: {json}");
        assert_eq!(json["error"]["code"], "unauthorized");
    }
    // A merchant key where the admin token belongs.
    let (status, _) = http(
        base,
        "POST",
        "/v1/accounts",
        Some(&key_a),
        br#"{"account":"x","credit_limit":1,"currency":156}"#,
    );
    assert_eq!(status, 401);
    let (status, _) =
        http(base, "POST", "/v1/merchants", Some(&key_a), br#"{"merchant_id":"EVIL","name":"e"}"#);
    assert_eq!(status, 401);

    // B cannot read A's verdicts, and B's upload under A's payment id is B's own payment: A's
    // record is untouched, and the same presentation from B is a double spend.
    let (status, _) = http(base, "GET", "/v1/settlements/pay-1", Some(&key_b), b"");
    assert_eq!(status, 404);
    let vb = server_verdicts(&issuer, &key_b, vec![upload("pay-1", &p, 500)]).await;
    assert_eq!((vb[0].verdict, vb[0].reason_code), (Outcome::Rejected, Some(Reason::DoubleSpend)));
    assert!(!vb[0].reason.contains("pay-1") && vb[0].reason.contains("another merchant"), "{}", vb[0].reason);
    let (status, json) = http(base, "GET", "/v1/settlements/pay-1", Some(&key_a), b"");
    assert_eq!((status, json["verdict"].as_str()), (200, Some("accepted")));
    assert_eq!(issuer.admin.account("dan").await.unwrap().used, 500);
}

/// One HTTP/1.1 request over a plain socket; the status and the JSON body.
fn http(base: &str, method: &str, path: &str, auth: Option<&str>, body: &[u8]) -> (u16, serde_json::Value) {
    let auth = auth.map(|a| format!("Authorization: Bearer {a}\r\n")).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let (status, body) = raw(base, &[head.as_bytes(), body].concat());
    (status, serde_json::from_str(&body).unwrap_or(serde_json::Value::Null))
}

/// Sends raw bytes, reads the whole answer (the server closes), returns the status and the body.
fn raw(base: &str, bytes: &[u8]) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // The server may answer and close before it has read everything we send (a 413 on the header).
    // (No half-close: hyper takes a closed read side for a client that left.)
    let _ignored = s.write_all(bytes);
    let mut answer = Vec::new();
    let _ignored = s.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_http_is_refused_with_a_clear_status_and_the_server_stays_up() {
    let dir = tempfile::tempdir().unwrap();
    let issuer = Issuer::start(dir.path()).unwrap();
    let key = issuer.merchant_key("SHOP-A").await.unwrap();
    let base = issuer.server.url.clone();
    let auth = format!("Authorization: Bearer {key}\r\n");
    let code = |body: &str| serde_json::from_str::<serde_json::Value>(body).unwrap()["error"]["code"].clone();

    // A body that claims 1 GB: refused from the header, without reading or waiting for it.
    let head = format!(
        "POST /v1/settlements HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n{{"
    );
    let (status, body) = raw(&base, head.as_bytes());
    assert_eq!((status, code(&body)), (413, "payload_too_large".into()), "{body}");
    // A chunked body that grows past the 2 MiB settlement limit without ever saying its length.
    let mut chunked = format!(
        "POST /v1/settlements HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for _ in 0..40 {
        chunked.extend_from_slice(format!("{:x}\r\n{}\r\n", 65_536, " ".repeat(65_536)).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let (status, body) = raw(&base, &chunked);
    assert_eq!((status, code(&body)), (413, "payload_too_large".into()), "{body}");
    // The hotspot area refuses a declared gigabyte at once too, without the body (and without auth).
    let head = "POST /v1/hotspot/proofs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n{";
    let (status, body) = raw(&base, head.as_bytes());
    assert_eq!((status, code(&body)), (413, "request_too_large".into()), "{body}");
    // The hotspot area's limit too (16 KiB).
    let big = format!("{{\"ssid\":\"{}\",\"bssids\":[]}}", "a".repeat(100_000));
    let (status, _) = http(&base, "POST", "/v1/hotspot/proofs", None, big.as_bytes());
    assert_eq!(status, 413);
    // JSON nested far deeper than any request (in a field nobody reads): no stack overflow, and
    // nothing stored.
    let deep = format!("{{\"payments\":[],\"x\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    let (status, json) = http(&base, "POST", "/v1/settlements", Some(&key), deep.as_bytes());
    assert!(status == 200 && json["verdicts"] == serde_json::json!([]), "{status} {json}");
    // Wrong shapes, wrong types, numbers out of range, NUL bytes, invalid UTF-8.
    for bad in [
        &br#"{"payments": {}}"#[..],
        br#"{"payments": [{"payment_id": "a", "payload": "x", "amount": -1, "currency": 156, "accepted_at": 0}]}"#,
        br#"{"payments": [{"payment_id": "a", "payload": "x", "amount": 1e400, "currency": 156, "accepted_at": 0}]}"#,
        b"{\"payments\": [\x00]}",
        b"{\"payments\": \"\xff\xfe\"}",
        b"",
    ] {
        let (status, json) = http(&base, "POST", "/v1/settlements", Some(&key), bad);
        assert!(matches!(status, 400 | 422), "{:?}: {status} {json}", String::from_utf8_lossy(bad));
        assert!(json["error"]["message"].is_string(), "{json}");
    }
    // A path-like payment id is refused before anything is stored.
    let (status, json) = http(
        &base,
        "POST",
        "/v1/settlements",
        Some(&key),
        br#"{"payments": [{"payment_id": "../../etc/passwd", "payload": "x", "amount": 1, "currency": 156, "accepted_at": 0}]}"#,
    );
    assert_eq!(status, 400, "{json}");
    // Not HTTP at all, and a header block too large to be one.
    let (status, _) = raw(&base, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 garbage\r\n\r\n");
    assert_eq!(status, 400, "a TLS hello (or any garbage) is a bad request, and the connection closes");
    let huge_header = format!("GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(1 << 20));
    let (status, _) = raw(&base, huge_header.as_bytes());
    assert_eq!(status, 431);
    // The server is still there and answers.
    let (status, json) = http(&base, "GET", "/v1/health", None, b"");
    assert_eq!((status, json["status"].as_str()), (200, Some("ok")));
}

/// Sends one APDU through PC/SC and returns the status word.
fn sw(t: &mut PcscTransport, apdu: &str) -> u16 {
    let r = t.transmit(&hex::decode(apdu.replace(' ', "")).unwrap()).unwrap();
    u16::from_be_bytes([r[r.len() - 2], r[r.len() - 1]])
}

const SELECT_WALLET: &str = "00A4040007A0000008580101";

#[test]
fn pin_brute_force_through_pcscd_blocks_and_no_try_comes_back_across_power_cycles_and_restarts() {
    let _lock = VpcdLock::acquire().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("card");
    init_card(&state, &["--pin", "2468", "--pin-tries", "3"]);
    let mut card = CardProcess::serve(&state, dir.path()).unwrap();
    let mut t = PcscTransport::open(Some(SLOT0.1)).unwrap();
    assert_eq!(sw(&mut t, SELECT_WALLET) >> 8, 0x61);
    assert_eq!(sw(&mut t, "0020008104 30303030"), 0x63C2);
    // A warm reset (SCardReconnect with SCARD_RESET_CARD) gives no try back.
    t.reset(reader_bridge::transport::ResetKind::Warm).unwrap();
    assert_eq!(sw(&mut t, SELECT_WALLET) >> 8, 0x61);
    assert_eq!(sw(&mut t, "00200081"), 0x63C2, "still 2 after a reset");
    assert_eq!(sw(&mut t, "0020008104 30303031"), 0x63C1);
    drop(t);
    // A killed card process (power cut) and a new one on the same state: still 1 try.
    card.kill().unwrap();
    let mut card = CardProcess::serve(&state, dir.path()).unwrap();
    let mut t = PcscTransport::open(Some(SLOT0.1)).unwrap();
    assert_eq!(sw(&mut t, SELECT_WALLET) >> 8, 0x61);
    assert_eq!(sw(&mut t, "00200081"), 0x63C1, "no refund across a power cut");
    assert_eq!(sw(&mut t, "0020008104 30303032"), 0x63C0);
    assert_eq!(sw(&mut t, "0020008104 32343638"), 0x6983, "blocked: even the right PIN");
    t.reset(reader_bridge::transport::ResetKind::Cold).unwrap();
    assert_eq!(sw(&mut t, SELECT_WALLET) >> 8, 0x61);
    assert_eq!(sw(&mut t, "0020008104 32343638"), 0x6983, "blocked after a cold reset");
    drop(t);
    assert_eq!(card.terminate().unwrap(), Some(0));
    // The blocked PIN is in the state file: the card in-process says the same.
    let out =
        run(cardgate(), &["apdu", "-r", &format!("emu:{}", state.display()), SELECT_WALLET, "00200081"]);
    out.success().stdout_has("6983");
}

#[test]
fn one_byte_commands_through_pcscd_get_6700_and_the_reader_keeps_working() {
    let _lock = VpcdLock::acquire().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("card");
    init_card(&state, &[]);
    let _card = CardProcess::serve(&state, dir.path()).unwrap();
    let mut t = PcscTransport::open(Some(SLOT0.1)).unwrap();
    // vpcd frames a 1-byte command like a control code; unanswered, it would hang the reader.
    for one in ["49", "03", "FF"] {
        assert_eq!(sw(&mut t, one), 0x6700, "{one}");
    }
    assert_eq!(sw(&mut t, SELECT_WALLET) >> 8, 0x61, "the reader still works");
}

const SELECT_ADMIN: &str = "00A4040C0A F0434152444741544500";
/// PUT DATA DF6A with no data: remove the policy.
const REMOVE_POLICY: &str = "00DADF6A";

#[test]
fn policy_replacement_needs_the_admin_pin_through_pcscd_and_a_blocked_pin_stays_blocked() {
    let _lock = VpcdLock::acquire().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("card");
    let policy = cardgate_tests::workspace().join("policies/examples/offline-payment.toml");
    init_card(&state, &["--policy", s(&policy), "--admin-pin", "24681357", "--admin-tries", "3"]);
    let policy_text = std::fs::read_to_string(&policy).unwrap();
    let mut card = CardProcess::serve(&state, dir.path()).unwrap();
    let mut t = PcscTransport::open(Some(SLOT0.1)).unwrap();
    assert_eq!(sw(&mut t, SELECT_ADMIN), 0x9000);
    assert_eq!(sw(&mut t, REMOVE_POLICY), 0x6982, "not without the admin PIN");
    assert_eq!(sw(&mut t, "0020000108 3131313131313131"), 0x63C2, "a wrong admin PIN");
    assert_eq!(sw(&mut t, REMOVE_POLICY), 0x6982, "nor with a wrong one");
    drop(t);
    // The CLI with a wrong PIN: refused, one more try spent.
    let out = run(cardgate(), &["card", "policy", "-r", SLOT0.1, "--remove", "--admin-pin", "13572468"]);
    out.failure();
    // A power cut and a new card process: the spent tries stay spent.
    card.kill().unwrap();
    let card = CardProcess::serve(&state, dir.path()).unwrap();
    let mut t = PcscTransport::open(Some(SLOT0.1)).unwrap();
    assert_eq!(sw(&mut t, SELECT_ADMIN), 0x9000);
    assert_eq!(sw(&mut t, "00200001"), 0x63C1, "no refund across a power cut");
    assert_eq!(sw(&mut t, "0020000108 3232323232323232"), 0x63C0);
    assert_eq!(sw(&mut t, "0020000108 3234363831333537"), 0x6983, "blocked: even the right PIN");
    assert_eq!(sw(&mut t, REMOVE_POLICY), 0x6982);
    drop(t);
    run(cardgate(), &["card", "policy", "-r", SLOT0.1, "--remove", "--admin-pin", "24681357"]).failure();
    drop(card);
    // The policy is the one the card was made with.
    let out = run(cardgate(), &["apdu", "-r", &format!("emu:{}", s(&state)), SELECT_ADMIN, "00CADF6A000000"]);
    out.success();
    let first_line = policy_text.lines().find(|l| !l.trim().is_empty() && !l.starts_with('#')).unwrap();
    assert!(out.stdout.contains(&hex::encode_upper(first_line.as_bytes())), "{out}");
}

fn cg(args: &[&str]) -> cardgate_tests::Output {
    run(cardgate(), args)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn path_tricks_in_file_arguments_get_clear_errors_and_overwrite_nothing() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let victim = d.join("victim");
    std::fs::write(&victim, "keep me\n").unwrap();
    let unchanged = || assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me\n");

    // A state file that is a symbolic link (to an existing file, or dangling), or a directory.
    symlink(&victim, d.join("link.card")).unwrap();
    cg(&["card", "init", s(&d.join("link.card"))]).failure().stderr_has("is a symbolic link");
    symlink(d.join("nowhere"), d.join("dangling.card")).unwrap();
    cg(&["card", "init", s(&d.join("dangling.card"))]).failure().stderr_has("is a symbolic link");
    assert!(!d.join("nowhere").exists());
    std::fs::create_dir(d.join("dir.card")).unwrap();
    cg(&["card", "init", s(&d.join("dir.card"))]).failure().stderr_has("is a directory");
    cg(&["card", "serve", s(&d.join("dir.card")), "--vpcd", "127.0.0.1:9"])
        .failure()
        .stderr_has("is a directory");
    cg(&["apdu", "-r", &format!("emu:{}", d.join("link.card").display()), "00A4040000"])
        .failure()
        .stderr_has("is a symbolic link");
    // An existing state file is never overwritten by init.
    let card = d.join("good.card");
    cg(&["card", "init", s(&card)]).success();
    let saved = std::fs::read(&card).unwrap();
    cg(&["card", "init", s(&card)]).failure().stderr_has("already exists");
    assert_eq!(std::fs::read(&card).unwrap(), saved);
    // Links planted where the card writes its lock and its temporary file are not followed.
    symlink(&victim, d.join(".good.card.tmp")).unwrap();
    cg(&["apdu", "-r", &format!("emu:{}", s(&card)), SELECT_WALLET, "0020008104 39393939"])
        .success()
        .stdout_has("63C2");
    unchanged();
    symlink(&victim, d.join(".other.card.lock")).unwrap();
    cg(&["card", "init", s(&d.join("other.card"))]).failure().stderr_has("is a symbolic link");
    unchanged();
    // `..` walks: a queue that does not exist is not created by accept, nor a file outside.
    let far = format!("{}/../../../../../../nonexistent-dir/q.db", d.display());
    cg(&["accept", "--payload", "x", "--amount", "1", "--queue", &far])
        .failure()
        .stderr_has("no such merchant queue");
    // A queue that is not a queue (the victim, a directory): refused, untouched.
    cg(&["accept", "--payload", "x", "--amount", "1", "--queue", s(&victim)])
        .failure()
        .stderr_has("not a cardgate merchant queue");
    cg(&["settle", "--queue", s(&victim), "--server", "http://127.0.0.1:9"])
        .failure()
        .stderr_has("left untouched");
    cg(&[
        "merchant",
        "register",
        "--server",
        "http://127.0.0.1:9",
        "--admin-token-file",
        s(&victim),
        "--id",
        "A",
        "--queue",
        s(&victim),
    ])
    .failure()
    .stderr_has("not a cardgate merchant queue");
    cg(&["accept", "--payload", "x", "--amount", "1", "--queue", s(&d.join("dir.card"))]).failure();
    unchanged();
    // A server data directory that is a file.
    cg(&["server", "--data", s(&victim), "--listen", "127.0.0.1:0"]).failure().stderr_has("not a directory");
    unchanged();
}
