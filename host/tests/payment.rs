//! The offline credit payment flow in-process: a real issuer server on SQLite in a temporary
//! directory, merchant stores on disk, real signatures, QR codes rendered and decoded. The card is
//! the software signer here; the card applet's own tests and the end-to-end tests use the applet.

// Helpers outside #[test] functions: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use applet::credit::{CreditPaymentCode, IssuerPublicKey, KeyAlgorithm, Money};
use cardgate::payment::api::{
    CreateAccount, IssueRequest, Outcome, PayeesJson, RegisterMerchant, SettlementRequest, UploadedPayment,
    decode_issuer_keys,
};
use cardgate::payment::client::{ClientError, IssuerClient};
use cardgate::payment::cpm::PaymentPayload;
use cardgate::payment::merchant::{self, AcceptError, MerchantStore, StoreError};
use cardgate::payment::qr;
use cardgate::payment::server::{PaymentConfig, now};
use cardgate::payment::settle::{SettleError, SettleOptions, settle_pending, settle_pending_with};
use cardgate::payment::softcard::SoftCard;
use cardgate::payment::verify::Reason;
use cardgate::server::{ServerConfig, build};
use tempfile::TempDir;
use zeroize::Zeroizing;

/// The whole `cardgate server` (every area), as the binary composes it.
fn config(dir: &Path, algorithm: KeyAlgorithm, listen: &str) -> ServerConfig {
    ServerConfig {
        data_dir: dir.join("data"),
        listen: listen.parse().unwrap(),
        hotspot: Default::default(),
        payment: PaymentConfig { key_algorithm: algorithm, max_skew: 600 },
    }
}

struct Server {
    url: String,
    dir: TempDir,
    admin: IssuerClient,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(algorithm: KeyAlgorithm) -> Server {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, algorithm, "127.0.0.1:0").await
    }

    async fn start_in(dir: TempDir, algorithm: KeyAlgorithm, listen: &str) -> Server {
        let config = config(dir.path(), algorithm, listen);
        let (router, _areas) = build(&config).unwrap();
        let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>())
                .await
                .unwrap();
        });
        let token = std::fs::read_to_string(dir.path().join("data/admin.token")).unwrap();
        let admin =
            IssuerClient::new(&url, Some(Zeroizing::new(token.trim().into())), Duration::from_secs(10))
                .unwrap();
        Server { url, dir, admin, task }
    }

    async fn account(&self, name: &str, limit: u64) {
        self.admin
            .create_account(&CreateAccount { account: name.into(), credit_limit: limit, currency: 156 })
            .await
            .unwrap();
    }

    async fn issue(
        &self,
        card: &SoftCard,
        account: &str,
        uses: u16,
        threshold: u64,
        payees: PayeesJson,
    ) -> CreditPaymentCode {
        let r = self
            .admin
            .issue(&IssueRequest {
                account: account.into(),
                card_public_key: hex::encode(card.public_key()),
                valid_for: 3600,
                allowed_uses: uses,
                threshold,
                payees,
            })
            .await
            .unwrap();
        CreditPaymentCode::decode(&hex::decode(r.code).unwrap()).unwrap()
    }

    /// Registers a merchant and creates its store in the server's temp dir.
    async fn merchant(&self, id: &str, mcc: Option<u16>) -> MerchantStore {
        let req = RegisterMerchant { merchant_id: id.into(), name: id.into(), category: mcc };
        let queue = self.dir.path().join(format!("{id}.db"));
        let registered = merchant::register(&self.admin, &req, &queue).await.unwrap();
        assert_eq!(registered.merchant_id, id);
        let m = registered.store.merchant(Some(id)).unwrap();
        assert_eq!((m.category, m.server.as_str()), (mcc, self.url.as_str()));
        registered.store
    }
}

fn cny(minor: u64) -> Money {
    Money { minor, currency: 156 }
}

fn now32() -> u32 {
    now() as u32
}

fn accept(store: &mut MerchantStore, p: &PaymentPayload, amount: u64) -> Result<String, AcceptError> {
    store.accept(None, &p.to_text(), p, cny(amount), now(), 600).map(|r| r.payment_id)
}

fn reason(r: Result<String, AcceptError>) -> Reason {
    match r {
        Err(AcceptError::Rejected(r)) => r.reason,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn fast() -> SettleOptions {
    SettleOptions {
        retry_for: Duration::from_millis(1500),
        first_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(400),
        timeout: Duration::from_secs(2),
        progress: false,
        ..SettleOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replay_at_a_second_merchant_is_caught_at_settlement_and_the_line_debited_once() {
    let server = Server::start(KeyAlgorithm::EcdsaP256Sha256).await;
    server.account("alice", 50_000).await;
    let mut card = SoftCard::generate();
    let code = server
        .issue(&card, "alice", 5, 20_000, PayeesJson { merchant_ids: vec![], categories: vec![5411] })
        .await;
    let mut a = server.merchant("SHOP-A", Some(5411)).await;
    let mut b = server.merchant("SHOP-B", Some(5411)).await;

    let payment = card.present(&code, now32(), None);
    // Through a real QR image and back, as the merchant's scanner would read it.
    let png = server.dir.path().join("code.png");
    qr::write_png(&qr::encode(&payment.to_text(), qrcode::EcLevel::M).unwrap(), &png).unwrap();
    let scanned = String::from_utf8(qr::decode_file(&png).unwrap()).unwrap();
    assert_eq!(scanned, payment.to_text());
    let scanned = PaymentPayload::from_text(&scanned).unwrap();

    let first = accept(&mut a, &scanned, 1250).unwrap();
    // The same code at the same terminal is refused offline...
    assert_eq!(reason(accept(&mut a, &scanned, 1250)), Reason::Replayed);
    // ...but merchant B cannot know, and accepts it.
    let replay = accept(&mut b, &scanned, 1250).unwrap();

    let ra = settle_pending(&mut a, &server.url, &fast()).await.unwrap();
    let rb = settle_pending(&mut b, &server.url, &fast()).await.unwrap();
    assert_eq!(ra.verdicts.len(), 1);
    assert_eq!(ra.verdicts[0].1.payment_id, first);
    assert_eq!(ra.verdicts[0].1.verdict, Outcome::Accepted);
    let v = &rb.verdicts[0].1;
    assert_eq!(
        (v.payment_id.as_str(), v.verdict, v.reason_code, v.flagged),
        (replay.as_str(), Outcome::Rejected, Some(Reason::DoubleSpend), true)
    );
    assert!(v.reason.contains("at another merchant"), "{}", v.reason);
    assert_eq!(a.counts().unwrap(), (0, 1));
    assert_eq!(b.counts().unwrap(), (0, 1));
    assert_eq!(server.admin.account("alice").await.unwrap().used, 1250);

    // Uploading the same batch again (a lost answer, a retry) changes nothing and gives the same verdicts.
    let key = a.merchant(None).unwrap().api_key;
    let client = IssuerClient::new(&server.url, Some(key), Duration::from_secs(5)).unwrap();
    let again = UploadedPayment {
        payment_id: first.clone(),
        payload: scanned.to_text(),
        amount: 1250,
        currency: 156,
        accepted_at: a.verdicts().map(|_| 0).unwrap_or(0),
    };
    // The stored accepted_at differs from 0: same id, other content, refused and not applied.
    let conflict = client.settle(&SettlementRequest { payments: vec![again] }).await.unwrap();
    assert_eq!(conflict.verdicts[0].reason_code, Some(Reason::ConflictingPaymentId));
    assert_eq!(server.admin.account("alice").await.unwrap().used, 1250);
    server.task.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queue_larger_than_a_batch_settles_batch_by_batch_in_queue_order() {
    let server = Server::start(KeyAlgorithm::EcdsaP256Sha256).await;
    server.account("pat", 50_000).await;
    let mut card = SoftCard::generate();
    let code = server.issue(&card, "pat", 20, 2_000, PayeesJson::default()).await;
    let mut a = server.merchant("SHOP-A", None).await;
    let mut queued = Vec::new();
    for _ in 0..7 {
        queued.push(accept(&mut a, &card.present(&code, now32(), None), 100).unwrap());
    }
    // The store's pages: by position, bounded, and past the last position there is nothing.
    let page = a.pending_page("SHOP-A", 0, 3).unwrap();
    let ids: Vec<_> = page.iter().map(|(_, p)| p.payment_id.clone()).collect();
    assert_eq!(ids, queued[..3]);
    assert!(a.pending_page("SHOP-A", page[2].0, 10).unwrap().len() == 4);
    assert!(a.pending_page("SHOP-B", 0, 10).unwrap().is_empty());

    let opts = SettleOptions { batch: 3, ..fast() };
    let mut batches = Vec::new();
    let summary = settle_pending_with(&mut a, &server.url, &opts, |merchant, verdicts| {
        assert_eq!(merchant, "SHOP-A");
        batches.push(verdicts.iter().map(|v| v.payment_id.clone()).collect::<Vec<_>>());
    })
    .await
    .unwrap();
    // Three uploads of at most three, every payment once, in the order the queue took them.
    assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
    assert_eq!(batches.concat(), queued);
    assert_eq!((summary.settled, summary.accepted, summary.flagged), (7, 7, 0));
    assert_eq!(a.counts().unwrap(), (0, 7));
    assert!(a.pending_page("SHOP-A", 0, 10).unwrap().is_empty());
    assert_eq!(server.admin.account("pat").await.unwrap().used, 700);
    server.task.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn retried_uploads_are_idempotent() {
    let server = Server::start(KeyAlgorithm::EcdsaP256Sha256).await;
    server.account("bob", 50_000).await;
    let mut card = SoftCard::generate();
    let code = server.issue(&card, "bob", 5, 20_000, PayeesJson::default()).await;
    let a = server.merchant("SHOP-A", None).await;
    let key = a.merchant(None).unwrap().api_key;
    let client = IssuerClient::new(&server.url, Some(key), Duration::from_secs(5)).unwrap();
    let p = card.present(&code, now32(), Some(cny(700)));
    let upload = SettlementRequest {
        payments: vec![UploadedPayment {
            payment_id: "p1".into(),
            payload: p.to_text(),
            amount: 700,
            currency: 156,
            accepted_at: now(),
        }],
    };
    let first = client.settle(&upload).await.unwrap();
    let second = client.settle(&upload).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(first.verdicts[0].verdict, Outcome::Accepted);
    assert_eq!(server.admin.account("bob").await.unwrap().used, 700, "debited once");
    server.task.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn uses_and_credit_are_counted_across_all_merchants() {
    let server = Server::start(KeyAlgorithm::EcdsaP256Sha256).await;
    server.account("carol", 2_000).await;
    let mut card = SoftCard::generate();
    let code = server.issue(&card, "carol", 2, 1_500, PayeesJson::default()).await;
    let mut stores = Vec::new();
    for id in ["M1", "M2", "M3"] {
        stores.push(server.merchant(id, None).await);
    }
    // Three presentations (three counters), one per merchant: each terminal sees one use only.
    for s in &mut stores {
        let p = card.present(&code, now32(), None);
        accept(s, &p, 900).unwrap();
    }
    let mut verdicts = Vec::new();
    for s in &mut stores {
        verdicts.extend(settle_pending(s, &server.url, &fast()).await.unwrap().verdicts);
    }
    let reasons: Vec<_> = verdicts.iter().map(|(_, v)| v.reason_code).collect();
    // 900 accepted; 900 more exceeds the 2000 line by 1800 > 2000? No: 1800 <= 2000, accepted;
    // the third is the third use of a two-use token.
    assert_eq!(reasons, [None, None, Some(Reason::UsesExhausted)]);

    // Credit: a fresh token on the same account, 300 left on the line.
    let code2 = server.issue(&card, "carol", 5, 1_500, PayeesJson::default()).await;
    let mut m = server.merchant("M4", None).await;
    let p = card.present(&code2, now32(), None);
    accept(&mut m, &p, 301).unwrap();
    let v = settle_pending(&mut m, &server.url, &fast()).await.unwrap();
    assert_eq!(v.verdicts[0].1.reason_code, Some(Reason::CreditExceeded));
    assert_eq!(server.admin.account("carol").await.unwrap().used, 1_800);
    server.task.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_payments_are_refused_offline_with_their_reason_and_nothing_is_queued() {
    let server = Server::start(KeyAlgorithm::EcdsaP256Sha256).await;
    server.account("dave", 50_000).await;
    let mut card = SoftCard::generate();
    let code = server
        .issue(
            &card,
            "dave",
            3,
            2_000,
            PayeesJson { merchant_ids: vec!["SHOP-A".into()], categories: vec![] },
        )
        .await;
    let mut a = server.merchant("SHOP-A", Some(5411)).await;
    let mut z = server.merchant("SHOP-Z", Some(5411)).await;
    let p = card.present(&code, now32(), None);

    // Wrong payee: SHOP-Z is not on the token's list.
    assert_eq!(reason(accept(&mut z, &p, 100)), Reason::PayeeNotAllowed);
    // Amount over the threshold.
    assert_eq!(reason(accept(&mut a, &p, 2_001)), Reason::AmountOverThreshold);
    // Expired: the payment is two hours after generation, the token lasts one.
    let late = now() + 7200;
    let r = a.accept(None, &p.to_text(), &p, cny(100), late, 10_000).map(|r| r.payment_id);
    assert_eq!(reason(r), Reason::Expired);
    // The card signed an amount: the merchant cannot charge another.
    let signed = card.present(&code, now32(), Some(cny(500)));
    assert_eq!(reason(accept(&mut a, &signed, 600)), Reason::AmountMismatch);
    // A forged card signature: another key signs a presentation of this code.
    let mut thief = SoftCard::generate();
    let forged = thief.present(&code, now32(), None);
    assert_eq!(reason(accept(&mut a, &forged, 100)), Reason::BadCardSignature);
    // A token from another issuer (unknown key id).
    let other = Server::start(KeyAlgorithm::EcdsaP256Sha256).await;
    other.account("eve", 50_000).await;
    let foreign = other.issue(&card, "eve", 3, 2_000, PayeesJson::default()).await;
    let fp = card.present(&foreign, now32(), None);
    assert_eq!(reason(accept(&mut a, &fp, 100)), Reason::UnknownIssuerKey);
    // Stale presentation: presented half an hour before the payment (both inside the validity window).
    let stale = card.present(&code, now32(), None);
    let r = a.accept(None, &stale.to_text(), &stale, cny(100), now() + 1800, 600).map(|r| r.payment_id);
    assert_eq!(reason(r), Reason::StalePresentation);

    // A flipped bit anywhere in the payload: refused, whatever the bit.
    let bytes = p.to_bytes();
    for i in (0..bytes.len()).step_by(7) {
        let mut t = bytes.clone();
        t[i] ^= 0x01;
        match PaymentPayload::from_bytes(&t) {
            Err(_) => {}
            Ok(tp) => {
                let r = reason(accept(&mut a, &tp, 100));
                assert!(
                    matches!(
                        r,
                        Reason::BadIssuerSignature | Reason::BadCardSignature | Reason::UnknownIssuerKey
                    ),
                    "byte {i}: {r:?}"
                );
            }
        }
    }
    assert_eq!(a.counts().unwrap(), (0, 0), "nothing was queued");
    assert_eq!(z.counts().unwrap(), (0, 0));
    // And the good payment still goes through afterwards.
    accept(&mut a, &p, 100).unwrap();
    server.task.abort();
    other.task.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_local_use_count_stops_a_terminal_before_the_server_would() {
    let server = Server::start(KeyAlgorithm::EcdsaP256Sha256).await;
    server.account("fay", 50_000).await;
    let mut card = SoftCard::generate();
    let code = server.issue(&card, "fay", 1, 2_000, PayeesJson::default()).await;
    let mut a = server.merchant("SHOP-A", None).await;
    accept(&mut a, &card.present(&code, now32(), None), 100).unwrap();
    let second = card.present(&code, now32(), None);
    assert_eq!(reason(accept(&mut a, &second, 100)), Reason::UsesExhausted);
    server.task.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn rsa_issuer_keys_work_end_to_end() {
    let server = Server::start(KeyAlgorithm::Rsa2048Sha256).await;
    server.account("gus", 50_000).await;
    let mut card = SoftCard::generate();
    let code = server.issue(&card, "gus", 2, 2_000, PayeesJson::default()).await;
    assert_eq!(code.issuer_signature.len(), 256);
    let mut a = server.merchant("SHOP-A", None).await;
    let p = card.present(&code, now32(), None);
    let png = server.dir.path().join("rsa.png");
    qr::write_png(&qr::encode(&p.to_text(), qrcode::EcLevel::M).unwrap(), &png).unwrap();
    let scanned =
        PaymentPayload::from_text(std::str::from_utf8(&qr::decode_file(&png).unwrap()).unwrap()).unwrap();
    accept(&mut a, &scanned, 100).unwrap();
    let r = settle_pending(&mut a, &server.url, &fast()).await.unwrap();
    assert_eq!(r.verdicts[0].1.verdict, Outcome::Accepted);
    server.task.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn rotated_keys_sign_new_tokens_and_old_tokens_still_settle() {
    let server = Server::start(KeyAlgorithm::EcdsaP256Sha256).await;
    server.account("hal", 50_000).await;
    let mut card = SoftCard::generate();
    let old = server.issue(&card, "hal", 5, 2_000, PayeesJson::default()).await;
    let mut a = server.merchant("SHOP-A", None).await;
    let info = server.admin.rotate_key(None).await.unwrap();
    let new = server.issue(&card, "hal", 5, 2_000, PayeesJson::default()).await;
    assert_eq!(hex::encode(new.token.issuer_key_id), info.key_id);
    assert_ne!(old.token.issuer_key_id, new.token.issuer_key_id);
    accept(&mut a, &card.present(&old, now32(), None), 100).unwrap();
    // The merchant registered before the rotation: it does not know the new key yet.
    let p = card.present(&new, now32(), None);
    assert_eq!(reason(accept(&mut a, &p, 100)), Reason::UnknownIssuerKey);
    let keys =
        IssuerClient::new(&server.url, None, Duration::from_secs(5)).unwrap().issuer_keys().await.unwrap();
    assert_eq!(keys.keys.len(), 2);
    assert!(keys.keys[0].active && !keys.keys[1].active);
    let keys = decode_issuer_keys(&keys.keys).unwrap();
    a.add_issuer_keys(&keys).unwrap();
    accept(&mut a, &p, 100).unwrap();
    let r = settle_pending(&mut a, &server.url, &fast()).await.unwrap();
    assert!(r.verdicts.iter().all(|(_, v)| v.verdict == Outcome::Accepted), "{r:?}");
    server.task.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_survive_a_restart_and_key_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().to_owned();
    let server = Server::start_in(dir, KeyAlgorithm::EcdsaP256Sha256, "127.0.0.1:0").await;
    let first =
        IssuerClient::new(&server.url, None, Duration::from_secs(5)).unwrap().issuer_keys().await.unwrap();
    server.task.abort();
    for entry in std::fs::read_dir(keep.join("data/issuer-keys")).unwrap() {
        let mode = entry.unwrap().metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    for f in ["admin.token", "cardgate.db"] {
        assert_eq!(
            std::fs::metadata(keep.join("data").join(f)).unwrap().permissions().mode() & 0o777,
            0o600,
            "{f}"
        );
    }
    let dir = server.dir;
    let again = Server::start_in(dir, KeyAlgorithm::EcdsaP256Sha256, "127.0.0.1:0").await;
    let second =
        IssuerClient::new(&again.url, None, Duration::from_secs(5)).unwrap().issuer_keys().await.unwrap();
    assert_eq!(first, second, "the same keys, not new ones");
    // A key file others can read stops the server from starting.
    let key = std::fs::read_dir(keep.join("data/issuer-keys")).unwrap().next().unwrap().unwrap().path();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = build(&config(&keep, KeyAlgorithm::EcdsaP256Sha256, "127.0.0.1:0")).unwrap_err().to_string();
    assert!(err.contains("chmod 600"), "{err}");
    again.task.abort();
}

async fn raw(
    url: &str,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let client = reqwest::Client::new();
    let mut req = client
        .request(method.parse().unwrap(), format!("{url}{path}"))
        .header("content-type", "application/json");
    if let Some(a) = auth {
        req = req.bearer_auth(a);
    }
    let resp = req.body(body).send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}")))
}

/// A client that sends the whole of an oversize body before reading (as most do) gets the 413, not
/// a connection reset: the server reads and drops a modest oversize body (7 MiB here, more than the
/// socket buffers hold) before it answers.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_sending_an_oversize_body_in_full_reads_the_413() {
    use std::io::{Read, Write};
    let server = Server::start(KeyAlgorithm::EcdsaP256Sha256).await;
    let addr = server.url.trim_start_matches("http://").to_owned();
    let answer = tokio::task::spawn_blocking(move || {
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        let body = vec![b' '; 7 << 20];
        write!(
            tcp,
            "POST /v1/settlements HTTP/1.1\r\nhost: x\r\nauthorization: Bearer cgm_x_y\r\n\
             content-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .unwrap();
        tcp.write_all(&body).expect("the server reads the body it refuses");
        let mut head = [0u8; 12];
        tcp.read_exact(&mut head).unwrap();
        String::from_utf8_lossy(&head).into_owned()
    })
    .await
    .unwrap();
    assert_eq!(answer, "HTTP/1.1 413");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_error_is_json_and_merchants_see_only_their_own_payments() {
    let server = Server::start(KeyAlgorithm::EcdsaP256Sha256).await;
    let url = server.url.clone();
    let admin =
        std::fs::read_to_string(server.dir.path().join("data/admin.token")).unwrap().trim().to_owned();
    server.account("ivy", 50_000).await;
    let mut card = SoftCard::generate();
    let code = server.issue(&card, "ivy", 5, 2_000, PayeesJson::default()).await;
    let mut a = server.merchant("SHOP-A", None).await;
    let b = server.merchant("SHOP-B", None).await;
    let id = accept(&mut a, &card.present(&code, now32(), None), 100).unwrap();
    settle_pending(&mut a, &url, &fast()).await.unwrap();
    let key_a = a.merchant(None).unwrap().api_key.to_string();
    let key_b = b.merchant(None).unwrap().api_key.to_string();

    let code_of = |v: &serde_json::Value| v["error"]["code"].as_str().unwrap_or_default().to_owned();
    let (s, v) = raw(&url, "GET", &format!("/v1/settlements/{id}"), Some(&key_a), vec![]).await;
    assert_eq!((s, v["verdict"].as_str()), (200, Some("accepted")));
    let (s, v) = raw(&url, "GET", &format!("/v1/settlements/{id}"), Some(&key_b), vec![]).await;
    assert_eq!((s, code_of(&v)), (404, "not_found".into()), "B cannot see A's payment");
    let (s, v) = raw(&url, "GET", "/v1/settlements", Some(&key_b), vec![]).await;
    assert_eq!((s, v["verdicts"].as_array().map(Vec::len)), (200, Some(0)));

    // Wrong API key, wrong admin token, no token.
    let wrong = format!("{}x", &key_a[..key_a.len() - 1]);
    let (s, v) = raw(&url, "GET", "/v1/settlements", Some(&wrong), vec![]).await;
    assert_eq!((s, code_of(&v)), (401, "unauthorized".into()));
    let (s, v) = raw(&url, "POST", "/v1/accounts", Some("nope"), b"{}".to_vec()).await;
    assert_eq!((s, code_of(&v)), (401, "unauthorized".into()));
    let (s, _) = raw(&url, "POST", "/v1/accounts", None, b"{}".to_vec()).await;
    assert_eq!(s, 401);
    // Oversized bodies: 3 MB to settlement (limit 2 MiB), 100 kB elsewhere (limit 64 KiB).
    let (s, v) = raw(&url, "POST", "/v1/settlements", Some(&key_a), vec![b' '; 3 << 20]).await;
    assert_eq!((s, code_of(&v)), (413, "payload_too_large".into()));
    let (s, v) = raw(&url, "POST", "/v1/accounts", Some(&admin), vec![b' '; 100_000]).await;
    assert_eq!((s, code_of(&v)), (413, "payload_too_large".into()));
    // Too many payments in one upload.
    let many: Vec<_> = (0..1001)
        .map(|i| UploadedPayment {
            payment_id: format!("p{i}"),
            payload: String::new(),
            amount: 1,
            currency: 156,
            accepted_at: 0,
        })
        .collect();
    let body = serde_json::to_vec(&SettlementRequest { payments: many }).unwrap();
    let (s, v) = raw(&url, "POST", "/v1/settlements", Some(&key_a), body).await;
    assert_eq!((s, code_of(&v)), (413, "payload_too_large".into()));
    // Malformed JSON, wrong types, unknown routes and methods.
    let (s, v) = raw(&url, "POST", "/v1/settlements", Some(&key_a), b"{not json".to_vec()).await;
    assert_eq!((s, code_of(&v)), (400, "bad_request".into()));
    let (s, v) = raw(&url, "POST", "/v1/accounts", Some(&admin), br#"{"account": 5}"#.to_vec()).await;
    assert_eq!((s, code_of(&v)), (422, "invalid_json".into()));
    let (s, v) = raw(&url, "GET", "/v1/nothing", None, vec![]).await;
    assert_eq!((s, code_of(&v)), (404, "not_found".into()));
    let (s, v) = raw(&url, "DELETE", "/v1/health", None, vec![]).await;
    assert_eq!((s, code_of(&v)), (405, "method_not_allowed".into()));
    // Garbage payloads in a settlement get a verdict, not an error.
    let body = serde_json::to_vec(&SettlementRequest {
        payments: vec![UploadedPayment {
            payment_id: "junk".into(),
            payload: "aGVsbG8=".into(),
            amount: 1,
            currency: 156,
            accepted_at: now(),
        }],
    })
    .unwrap();
    let (s, v) = raw(&url, "POST", "/v1/settlements", Some(&key_a), body).await;
    assert_eq!((s, v["verdicts"][0]["reason_code"].as_str()), (200, Some("malformed")));
    server.task.abort();
}

/// A "server" that answers every request with a fixed HTTP response.
async fn fake_server(response: &'static [u8]) -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 1 << 16];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(response).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (url, task)
}

fn free_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", l.local_addr().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn settlement_survives_a_down_or_lying_server_without_losing_a_payment() {
    let server = Server::start(KeyAlgorithm::EcdsaP256Sha256).await;
    server.account("jo", 50_000).await;
    let mut card = SoftCard::generate();
    let code = server.issue(&card, "jo", 9, 2_000, PayeesJson::default()).await;
    let mut a = server.merchant("SHOP-A", None).await;
    for _ in 0..3 {
        accept(&mut a, &card.present(&code, now32(), None), 100).unwrap();
    }

    // Nobody listening.
    let down = free_port();
    match settle_pending(&mut a, &down, &fast()).await {
        Err(SettleError::Server { source: ClientError::Unreachable { .. }, settled: 0, pending: 3 }) => {}
        other => panic!("{other:?}"),
    }
    // A server answering garbage, 200 with non-JSON, and 200 with JSON that is not the verdicts.
    for answer in [
        &b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"[..],
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n{\"verdicts\":[]}",
        b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 3\r\n\r\nbad",
    ] {
        let (url, task) = fake_server(answer).await;
        match settle_pending(&mut a, &url, &fast()).await {
            Err(SettleError::Server { source: ClientError::Garbage { .. }, pending: 3, .. }) => {}
            other => panic!("{other:?}"),
        }
        task.abort();
    }
    assert_eq!(a.counts().unwrap(), (3, 0), "all three still pending");

    // The server comes back: everything settles, once.
    let r = settle_pending(&mut a, &server.url, &fast()).await.unwrap();
    assert_eq!(r.verdicts.len(), 3);
    assert_eq!(a.counts().unwrap(), (0, 3));
    assert_eq!(server.admin.account("jo").await.unwrap().used, 300);
    server.task.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_comes_up_during_the_retries_gets_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(KeyAlgorithm::EcdsaP256Sha256).await;
    server.account("kim", 50_000).await;
    let mut card = SoftCard::generate();
    let code = server.issue(&card, "kim", 9, 2_000, PayeesJson::default()).await;
    let mut a = server.merchant("SHOP-A", None).await;
    accept(&mut a, &card.present(&code, now32(), None), 100).unwrap();
    // A proxy port that starts forwarding after 600 ms: the first attempts fail, a retry succeeds.
    let port = free_port();
    let addr = port.trim_start_matches("http://").to_owned();
    let target = server.url.trim_start_matches("http://").to_owned();
    let proxy = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(600)).await;
        let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else { return };
            let target = target.clone();
            tokio::spawn(async move {
                if let Ok(mut out) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                }
            });
        }
    });
    let opts = SettleOptions { retry_for: Duration::from_secs(10), ..fast() };
    let r = settle_pending(&mut a, &port, &opts).await.unwrap();
    assert!(r.retries >= 1);
    assert_eq!(r.verdicts[0].1.verdict, Outcome::Accepted);
    proxy.abort();
    server.task.abort();
    drop(dir);
}

#[test]
fn a_corrupt_queue_file_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("queue.db");
    let garbage = b"this is not a database, and must not become one\n".repeat(100);
    std::fs::write(&path, &garbage).unwrap();
    match MerchantStore::open(&path) {
        Err(StoreError::NotAQueue { why, .. }) => assert!(why.contains("not a database"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read(&path).unwrap(), garbage);
    // Another program's SQLite database is refused too.
    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    assert!(matches!(MerchantStore::open(&other), Err(StoreError::NotAQueue { .. })));
    assert!(matches!(MerchantStore::open(Path::new("/nonexistent/queue.db")), Err(StoreError::Missing(_))));
}

#[test]
fn the_terminal_rendering_fits_80_columns_and_scans_on_light_and_dark_terminals() {
    let mut card = SoftCard::generate();
    // A realistic code: two payee categories, an amount signed.
    let pair =
        aws_lc_rs::signature::EcdsaKeyPair::generate(&aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING)
            .unwrap();
    use aws_lc_rs::signature::KeyPair;
    let issuer =
        IssuerPublicKey::new(KeyAlgorithm::EcdsaP256Sha256, pair.public_key().as_ref().to_vec()).unwrap();
    let token = applet::credit::CreditToken {
        token_id: [1; 8],
        generated_at: now32(),
        valid_for: 3600,
        allowed_uses: 5,
        threshold: cny(20_000),
        payees: applet::credit::Payees { merchant_ids: vec![], categories: vec![5411, 5812] },
        random: [2; 8],
        card_public_key: card.public_key(),
        issuer_key_id: issuer.key_id,
        encrypted_identity: [3; 57],
    };
    let tlv = token.encode().unwrap();
    let sig = pair
        .sign(&aws_lc_rs::rand::SystemRandom::new(), &applet::credit::code::token_signed_message(&tlv))
        .unwrap();
    let code = CreditPaymentCode::assemble(tlv, sig.as_ref().to_vec()).unwrap();
    let p = card.present(&code, now32(), Some(cny(1250)));
    let text = p.to_text();
    let qr_code = qr::encode(&text, qrcode::EcLevel::L).unwrap();
    let term = qr::terminal(&qr_code, false);
    assert!(term.columns <= 80, "{} columns", term.columns);
    assert!(term.text.lines().all(|l| l.chars().count() <= 80));
    for background in [255u8, 0u8] {
        let img = qr::terminal_to_image(&term.text, 4, 40, background);
        let decoded = qr::decode_luma(img, "terminal").unwrap();
        assert_eq!(decoded, text.as_bytes(), "background {background}");
    }
}
