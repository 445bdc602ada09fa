//! Offline credit payment benchmarks (`cargo bench -p cardgate --bench payment`; `make bench`).
//!
//! Each figure is printed beside `openssl speed` for the same primitive, measured in the same run:
//! - issuance: `POST /v1/tokens` on a real server (HTTP, ECIES, ECDSA sign, SQLite `synchronous=FULL`)
//!   against OpenSSL's ECDSA P-256 signs per second;
//! - accept: one payment from a PNG file: QR decode, both signature checks, the security content, the
//!   durable append to the queue; against the time OpenSSL needs for its two ECDSA verifications;
//! - settlement: payments verified per second by `POST /v1/settlements` (two ECDSA verifications and
//!   one ECDH each, on all cores, then the database pass), against OpenSSL's single-core bound for
//!   the same three operations.
//!
//! `BENCH_QUICK=1` runs smaller batches. Output lines starting with `result` are machine-readable.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark that cannot run should stop loudly")]

use std::time::{Duration, Instant};

use applet::credit::{CreditPaymentCode, IssuerPublicKey, KeyAlgorithm, Money};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, UnparsedPublicKey};
use cardgate::payment::api::{
    CreateAccount, IssueRequest, PayeesJson, RegisterMerchant, SettlementRequest, UploadedPayment,
};
use cardgate::payment::client::IssuerClient;
use cardgate::payment::cpm::PaymentPayload;
use cardgate::payment::merchant;
use cardgate::payment::server::{PaymentConfig, now};
use cardgate::payment::softcard::SoftCard;
use cardgate::payment::{qr, verify};
use cardgate::server::{ServerConfig, build};
use zeroize::Zeroizing;

/// GENERATE PAYMENT CODE per second on a personalized in-process card.
fn card_presentations(n: usize) -> f64 {
    use applet::credit::apdu::command;
    use applet::credit::{emv, tags};
    let mut card = applet::apps::new_card(&applet::apps::CardOptions::default()).unwrap();
    card.power_on();
    let ok = |r: Vec<u8>| {
        assert_eq!(&r[r.len() - 2..], &[0x90, 0x00]);
        r[..r.len() - 2].to_vec()
    };
    ok(card.process(&command(0, 0xA4, 4, 0, &applet::credit::AID, Some(0))));
    let key = ok(card.process(&command(0, 0x46, 0, 0, &[], Some(0))));
    let key: [u8; 33] = applet::tlv::parse_single(&key).unwrap().value.try_into().unwrap();
    let issuer = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let issuer_pub =
        IssuerPublicKey::new(KeyAlgorithm::EcdsaP256Sha256, issuer.public_key().as_ref().to_vec()).unwrap();
    let token = applet::credit::CreditToken {
        token_id: [1; 8],
        generated_at: 1_795_860_000,
        valid_for: 86_400,
        allowed_uses: 5,
        threshold: Money { minor: 20_000, currency: 156 },
        payees: applet::credit::Payees::default(),
        random: [2; 8],
        card_public_key: key,
        issuer_key_id: issuer_pub.key_id,
        encrypted_identity: [3; 57],
    };
    let tlv = token.encode().unwrap();
    let sig = issuer.sign(&SystemRandom::new(), &applet::credit::code::token_signed_message(&tlv)).unwrap();
    let code = CreditPaymentCode::assemble(tlv, sig.as_ref().to_vec()).unwrap();
    ok(card.process(&command(0, 0xDA, 0, 0xE6, &issuer_pub.encode(), None)));
    ok(card.process(&command(0, 0xDA, 0, 0xE2, &code.encoded, None)));
    let (date, time) = emv::emv_date_time(1_795_860_100).unwrap();
    let mut w = applet::tlv::Writer::new();
    w.primitive(tags::DATE, &date)
        .primitive(tags::TIME, &time)
        .primitive(tags::UNPREDICTABLE_NUMBER, &[1, 2, 3, 4]);
    let apdu = command(0x80, 0x50, 0, 0, w.as_bytes(), Some(0));
    let t = Instant::now();
    for _ in 0..n {
        ok(card.process(&apdu));
    }
    rate(n, t.elapsed())
}

/// Single-row durable commits per second (WAL, synchronous=FULL) in `dir`.
fn sqlite_commits(dir: &std::path::Path, n: usize) -> f64 {
    let conn = rusqlite::Connection::open(dir.join("commits.db")).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.execute_batch("CREATE TABLE t (x BLOB)").unwrap();
    let t = Instant::now();
    for i in 0..n {
        conn.execute("INSERT INTO t VALUES (?1)", [i.to_be_bytes().to_vec()]).unwrap();
    }
    rate(n, t.elapsed())
}

struct OpensslSpeed {
    sign: f64,
    verify: f64,
    ecdh: f64,
}

fn openssl_speed(seconds: u32) -> OpensslSpeed {
    let out = std::process::Command::new("openssl")
        .args(["speed", "-seconds", &seconds.to_string(), "ecdsap256", "ecdhp256"])
        .output()
        .expect("openssl speed (install openssl)");
    let text = String::from_utf8_lossy(&out.stdout);
    let last = |needle: &str, from_end: usize| -> f64 {
        let line =
            text.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("no {needle} in:\n{text}"));
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields[fields.len() - 1 - from_end].parse().unwrap()
    };
    OpensslSpeed {
        sign: last("ecdsa (nistp256)", 1),
        verify: last("ecdsa (nistp256)", 0),
        ecdh: last("ecdh (nistp256)", 0),
    }
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn main() {
    // `cargo bench` passes --bench; nothing else to parse.
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let (n_issue, n_accept, cards, per_card) = if quick { (100, 40, 10, 20) } else { (1000, 300, 50, 100) };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("machine: {threads} cores; openssl: {}", {
        let v = std::process::Command::new("openssl").arg("version").output().expect("openssl");
        String::from_utf8_lossy(&v.stdout).trim().to_owned()
    });

    let ossl = openssl_speed(if quick { 1 } else { 3 });
    println!(
        "openssl speed ecdsap256: sign {:.0}/s, verify {:.0}/s; ecdhp256 {:.0}/s",
        ossl.sign, ossl.verify, ossl.ecdh
    );

    // The same primitives through aws-lc-rs, for reference.
    let key = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let rng = SystemRandom::new();
    let msg = [7u8; 300];
    let n = if quick { 2000 } else { 20_000 };
    let t = Instant::now();
    let mut sig = key.sign(&rng, &msg).unwrap();
    for _ in 0..n {
        sig = key.sign(&rng, &msg).unwrap();
    }
    let our_sign = rate(n, t.elapsed());
    let public =
        UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, key.public_key().as_ref().to_vec());
    let t = Instant::now();
    for _ in 0..n {
        public.verify(&msg, sig.as_ref()).unwrap();
    }
    let our_verify = rate(n, t.elapsed());
    println!("aws-lc-rs ecdsa p256: sign {our_sign:.0}/s, verify {our_verify:.0}/s");
    println!("result primitive-sign {our_sign:.0} {:.0} {:.2}", ossl.sign, our_sign / ossl.sign);
    println!("result primitive-verify {our_verify:.0} {:.0} {:.2}", ossl.verify, our_verify / ossl.verify);

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        data_dir: dir.path().join("data"),
        listen: "127.0.0.1:0".parse().unwrap(),
        hotspot: Default::default(),
        payment: PaymentConfig { key_algorithm: KeyAlgorithm::EcdsaP256Sha256, max_skew: 3600 },
    };
    let (router, areas) = {
        let _guard = rt.enter();
        build(&config).unwrap()
    };
    let listener = rt.block_on(tokio::net::TcpListener::bind(config.listen)).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    rt.spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>())
            .await
            .unwrap()
    });
    let token = std::fs::read_to_string(dir.path().join("data/admin.token")).unwrap();
    let admin =
        IssuerClient::new(&url, Some(Zeroizing::new(token.trim().into())), Duration::from_secs(60)).unwrap();
    rt.block_on(admin.create_account(&CreateAccount {
        account: "bench".into(),
        credit_limit: 999_999_999_999,
        currency: 156,
    }))
    .unwrap();

    // ---- Issuance: POST /v1/tokens, 4 clients in parallel.
    let card_keys: Vec<SoftCard> = (0..cards).map(|_| SoftCard::generate()).collect();
    let request = |card: &SoftCard| IssueRequest {
        account: "bench".into(),
        card_public_key: hex::encode(card.public_key()),
        valid_for: 86_400,
        allowed_uses: u16::MAX,
        threshold: 100_000,
        payees: PayeesJson::default(),
    };
    let probe = SoftCard::generate();
    let t = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for w in 0..4 {
            let admin = admin.clone();
            let req = request(&probe);
            tasks.push(tokio::spawn(async move {
                for _ in (w..n_issue).step_by(4) {
                    admin.issue(&req).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    let issued = rate(n_issue, t.elapsed());
    println!("issuance: {n_issue} tokens over HTTP in {:.2?}: {issued:.0} tokens/s", t.elapsed());
    println!("result issuance-http {issued:.0} {:.0} {:.3}", ossl.sign, issued / ossl.sign);
    // The cryptographic core of one issuance (identity encryption: an ECDH and a key generation;
    // token signature), without HTTP and SQLite, on one core.
    let identity_key = aws_lc_rs::agreement::PrivateKey::generate(&aws_lc_rs::agreement::ECDH_P256).unwrap();
    let identity_public: aws_lc_rs::encoding::EcPublicKeyUncompressedBin =
        aws_lc_rs::encoding::AsBigEndian::as_be_bytes(&identity_key.compute_public_key().unwrap()).unwrap();
    let issuer_pair = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let n_core = if quick { 500 } else { 5000 };
    let t = Instant::now();
    for i in 0..n_core {
        let token_id = (i as u64).to_be_bytes();
        let sealed =
            cardgate::payment::identity::seal(identity_public.as_ref(), &[1, 2, 3, 4], &token_id, 7).unwrap();
        let token = applet::credit::CreditToken {
            token_id,
            generated_at: 1_795_860_000,
            valid_for: 3600,
            allowed_uses: 5,
            threshold: Money { minor: 20_000, currency: 156 },
            payees: applet::credit::Payees::default(),
            random: [2; 8],
            card_public_key: probe.public_key(),
            issuer_key_id: [1, 2, 3, 4],
            encrypted_identity: sealed,
        };
        let tlv = token.encode().unwrap();
        let sig = issuer_pair.sign(&rng, &applet::credit::code::token_signed_message(&tlv)).unwrap();
        CreditPaymentCode::assemble(tlv, sig.as_ref().to_vec()).unwrap();
    }
    let core = rate(n_core, t.elapsed());
    // One issuance is an ECDSA signature, an ephemeral P-256 key generation (costed as a signature)
    // and an ECDH.
    let core_bound = 1.0 / (2.0 / ossl.sign + 1.0 / ossl.ecdh);
    println!(
        "issuance core (ECIES + ECDSA sign + encoding, 1 core): {core:.0} tokens/s; openssl bound for 2 sign + 1 ECDH: {core_bound:.0}/s"
    );
    println!("result issuance-core {core:.0} {core_bound:.0} {:.2}", core / core_bound);

    // Codes for the accept and settlement runs.
    let codes: Vec<CreditPaymentCode> = rt.block_on(async {
        let mut out = Vec::new();
        for c in &card_keys {
            let r = admin.issue(&request(c)).await.unwrap();
            out.push(CreditPaymentCode::decode(&hex::decode(r.code).unwrap()).unwrap());
        }
        out
    });
    let req = RegisterMerchant { merchant_id: "BENCH".into(), name: "bench".into(), category: None };
    let mut store =
        rt.block_on(merchant::register(&admin, &req, &dir.path().join("queue.db"))).unwrap().store;
    let keys = store.issuer_keys().unwrap();
    let api_key = store.merchant(None).unwrap().api_key;

    // ---- Accept: PNG decode + checks + durable append, one payment at a time.
    let mut card_keys = card_keys;
    let at = now() as u32;
    let mut pngs = Vec::new();
    for i in 0..n_accept {
        let c = i % cards;
        let p = card_keys[c].present(&codes[c], at, Some(Money { minor: 1250, currency: 156 }));
        let path = dir.path().join(format!("qr{i}.png"));
        qr::write_png(&qr::encode(&p.to_text(), qrcode::EcLevel::M).unwrap(), &path).unwrap();
        pngs.push(path);
    }
    let (mut t_decode, mut t_check, mut t_total) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for path in &pngs {
        let start = Instant::now();
        let text = String::from_utf8(qr::decode_file(path).unwrap()).unwrap();
        let decoded = start.elapsed();
        let payload = PaymentPayload::from_text(&text).unwrap();
        let c0 = Instant::now();
        let terms = verify::Terms {
            merchant_id: "BENCH",
            category: None,
            amount: Money { minor: 1250, currency: 156 },
            at: u64::from(at),
            max_skew: 3600,
        };
        verify::check_payment(&payload, &keys, &terms).unwrap();
        t_check += c0.elapsed();
        // The store runs the same checks again, then its replay/use queries and the durable insert.
        store
            .accept(None, &text, &payload, Money { minor: 1250, currency: 156 }, u64::from(at), 3600)
            .unwrap();
        t_decode += decoded;
        t_total += start.elapsed();
    }
    let per = |d: Duration| d.as_secs_f64() * 1000.0 / n_accept as f64;
    let accept_ms = per(t_total) - per(t_check); // the extra check_payment above is not part of accept
    let crypto_floor_ms = 2000.0 / ossl.verify;
    println!(
        "accept: {n_accept} payments from PNG: {accept_ms:.2} ms each (QR decode {:.2} ms, checks {:.2} ms, queue append {:.2} ms)",
        per(t_decode),
        per(t_check),
        accept_ms - per(t_decode) - per(t_check)
    );
    println!("accept: openssl needs {crypto_floor_ms:.3} ms for the two ECDSA verifications");
    println!("result accept-ms {accept_ms:.3} {crypto_floor_ms:.3} {:.1}", accept_ms / crypto_floor_ms);
    // The decoding step beside ZBar (zbarimg, C), on the same PNG files, one process for all.
    let ours_decode_ms = per(t_decode);
    match std::process::Command::new("zbarimg").args(["-q", "--raw", "--nodbus"]).args(&pngs).output() {
        Ok(out) if out.status.success() => {
            let t = Instant::now();
            let again = std::process::Command::new("zbarimg")
                .args(["-q", "--raw", "--nodbus"])
                .args(&pngs)
                .output()
                .unwrap();
            let zbar_ms = t.elapsed().as_secs_f64() * 1000.0 / n_accept as f64;
            let decoded = String::from_utf8_lossy(&again.stdout)
                .lines()
                .filter(|l| l.starts_with("hQVDUFYwMW"))
                .count();
            assert_eq!(decoded, n_accept, "zbarimg decodes every code");
            println!("qr decode: rqrr {ours_decode_ms:.2} ms, zbarimg {zbar_ms:.2} ms per PNG");
            println!("result qr-decode-ms {ours_decode_ms:.3} {zbar_ms:.3} {:.2}", ours_decode_ms / zbar_ms);
        }
        _ => {
            println!("qr decode: zbarimg not installed (scripts/deps.sh installs zbar-tools); no peer figure")
        }
    }

    // ---- The card: GENERATE PAYMENT CODE in-process (gate-free card, P-256 signature on the card).
    let n_card = if quick { 300 } else { 3000 };
    let card_rate = card_presentations(n_card);
    println!(
        "card: {n_card} GENERATE PAYMENT CODE in-process: {card_rate:.0}/s; openssl ecdsa sign {:.0}/s",
        ossl.sign
    );
    println!("result card-present {card_rate:.0} {:.0} {:.3}", ossl.sign, card_rate / ossl.sign);

    // ---- SQLite durable commits on this disk, for reading the figures above (WAL, synchronous=FULL).
    let commits = sqlite_commits(dir.path(), if quick { 200 } else { 2000 });
    println!("sqlite: {commits:.0} single-row commits/s (WAL, synchronous=FULL) on this disk");

    // ---- Settlement: batches of 1000 to the server.
    let mut payments = Vec::new();
    for (c, card) in card_keys.iter_mut().enumerate() {
        for _ in 0..per_card {
            let p = card.present(&codes[c], at, None);
            payments.push(UploadedPayment {
                payment_id: format!("s{}", payments.len()),
                payload: p.to_text(),
                amount: 100,
                currency: 156,
                accepted_at: u64::from(at),
            });
        }
    }
    // Verification alone (signatures, security content, identity), on every core, as settlement does it
    // before the database pass.
    let merchant =
        cardgate::payment::server::auth::MerchantAuth { merchant_id: "BENCH".into(), category: None };
    let t = Instant::now();
    let checked = {
        let ring = areas.payment.keys.read().unwrap();
        cardgate::payment::server::settlement::check_all(&payments, &merchant, &ring, 3600)
    };
    let verified = rate(payments.len(), t.elapsed());
    assert!(checked.iter().all(|c| c.rejection().is_none()));
    let bound = 1.0 / (2.0 / ossl.verify + 1.0 / ossl.ecdh);
    println!(
        "settlement verification: {} payments in {:.2?}: {verified:.0}/s ({threads} cores); openssl single-core bound for 2 verify + 1 ECDH: {bound:.0}/s",
        payments.len(),
        t.elapsed()
    );
    println!("result settlement-verify {verified:.0} {bound:.0} {:.2}", verified / bound);

    let client = IssuerClient::new(&url, Some(api_key), Duration::from_secs(300)).unwrap();
    let t = Instant::now();
    let mut accepted = 0;
    rt.block_on(async {
        for batch in payments.chunks(1000) {
            let v = client.settle(&SettlementRequest { payments: batch.to_vec() }).await.unwrap();
            accepted += v.verdicts.iter().filter(|v| v.reason_code.is_none()).count();
        }
    });
    let settled = rate(payments.len(), t.elapsed());
    assert_eq!(accepted, payments.len(), "every benchmark payment is valid");
    println!(
        "settlement upload (HTTP + verification + database): {} payments in {:.2?}: {settled:.0} payments/s",
        payments.len(),
        t.elapsed()
    );
    println!("result settlement-upload {settled:.0} {bound:.0} {:.2}", settled / bound);
}
