//! The payment commands as a user runs them: `cardgate server`, `issuer`, `merchant register`,
//! `accept` (from a PNG and from text), `settle --at`, with their exit codes and messages. The card is
//! the software signer; the end-to-end tests with the card applet are in `tests/`.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use applet::credit::CreditPaymentCode;
use assert_cmd::cargo::CommandCargoExt;
use cardgate::payment::api::{IssueRequest, PayeesJson};
use cardgate::payment::client::IssuerClient;
use cardgate::payment::qr;
use cardgate::payment::softcard::SoftCard;
use common::server_process::ServerProcess;
use zeroize::Zeroizing;

fn bin() -> Command {
    Command::cargo_bin("cardgate").unwrap()
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn issue(server: &ServerProcess, card: &SoftCard, account: &str) -> CreditPaymentCode {
    let token = std::fs::read_to_string(server.token_file()).unwrap();
    let client =
        IssuerClient::new(&server.url, Some(Zeroizing::new(token.trim().into())), Duration::from_secs(5))
            .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let r = rt
        .block_on(client.issue(&IssueRequest {
            account: account.into(),
            card_public_key: hex::encode(card.public_key()),
            valid_for: 3600,
            allowed_uses: 3,
            threshold: 20_000,
            payees: PayeesJson { merchant_ids: vec![], categories: vec![5411] },
        }))
        .unwrap();
    CreditPaymentCode::decode(&hex::decode(r.code).unwrap()).unwrap()
}

/// Account `account` with a 50.00 credit line, and merchant SHOP-A (with `extra` arguments)
/// registered into `queue`, through the CLI.
fn account_and_merchant(admin: &[&str], account: &str, extra: &[&str], queue: &Path) {
    let (code, _, err) = run(bin().args(["issuer", "create-account"]).args(admin).args([
        "--account",
        account,
        "--credit-limit",
        "50",
    ]));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(bin()
        .args(["merchant", "register"])
        .args(admin)
        .args(["--id", "SHOP-A"])
        .args(extra)
        .arg("--queue")
        .arg(queue));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn register_accept_from_a_png_replay_elsewhere_settle_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path());
    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    let token_file = server.token_file();
    let admin = ["--server", &server.url, "--admin-token-file", token_file.to_str().unwrap()];
    let (code, out, err) = run(bin().args(["issuer", "create-account"]).args(admin).args([
        "--account",
        "alice",
        "--credit-limit",
        "500.00",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("credit line 500.00 CNY"), "{out}");
    for (id, q) in [("SHOP-A", &a), ("SHOP-B", &b)] {
        let (code, out, err) = run(bin()
            .args(["merchant", "register"])
            .args(admin)
            .args(["--id", id, "--mcc", "5411", "--queue"])
            .arg(q));
        assert_eq!(code, 0, "{err}");
        assert!(out.contains(&format!("merchant {id} registered")), "{out}");
    }

    let mut card = SoftCard::generate();
    let code_ = issue(&server, &card, "alice");
    let payment = card.present(&code_, cardgate::payment::server::now() as u32, None);
    let png = dir.path().join("qr.png");
    qr::write_png(&qr::encode(&payment.to_text(), qrcode::EcLevel::M).unwrap(), &png).unwrap();

    let (code, out, err) =
        run(bin().args(["accept", "--qr"]).arg(&png).args(["--amount", "12.50", "--queue"]).arg(&a));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("ACCEPTED payment ") && out.contains("12.50 CNY") && out.contains("1 pending"),
        "{out}"
    );
    // The same QR again at A: refused offline, exit code 2.
    let (code, out, _) =
        run(bin().args(["accept", "--qr"]).arg(&png).args(["--amount", "12.50", "--queue"]).arg(&a));
    assert_eq!(code, 3);
    assert!(out.starts_with("REJECTED replayed:"), "{out}");
    // At B, from the text a scanner would deliver: B cannot know.
    let (code, out, err) =
        run(bin().args(["accept", "--payload", &payment.to_text(), "--amount", "12.50", "--queue"]).arg(&b));
    assert_eq!(code, 0, "{out}{err}");

    // Settle A now and B at a time two seconds ahead (local HH:MM:SS).
    let (code, out, err) = run(bin().args(["settle", "--queue"]).arg(&a).args(["--server", &server.url]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ACCEPTED") && out.contains("1 accepted, 0 rejected"), "{out}");
    let at = time::OffsetDateTime::now_local().unwrap_or_else(|_| time::OffsetDateTime::now_utc())
        + time::Duration::seconds(2);
    let at = format!("{:02}:{:02}:{:02}", at.hour(), at.minute(), at.second());
    let started = Instant::now();
    let (code, out, err) =
        run(bin().args(["settle", "--queue"]).arg(&b).args(["--server", &server.url, "--at", &at]));
    assert_eq!(code, 0, "{err}");
    assert!(started.elapsed() >= Duration::from_millis(900), "settle waited for {at}");
    assert!(err.contains("waiting until"), "{err}");
    assert!(
        out.contains("REJECTED double_spend (FLAGGED)") && out.contains("0 accepted, 1 rejected (1 flagged)"),
        "{out}"
    );
    // Nothing pending any more; the verdicts are in the queue.
    let (_, out, _) = run(bin().args(["merchant", "show", "--queue"]).arg(&b));
    assert!(out.contains("0 payments pending, 1 settled") && out.contains("double_spend"), "{out}");
    let (_, out, _) = run(bin().args(["settle", "--queue"]).arg(&b).args(["--server", &server.url]));
    assert!(out.contains("nothing to settle"), "{out}");
    let (_, out, _) = run(bin().args(["issuer", "account", "alice"]).args(admin));
    assert!(out.contains("used 12.50 CNY"), "{out}");
}

#[test]
fn bad_inputs_give_clear_errors_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path());
    let queue = dir.path().join("q.db");
    let token_file = server.token_file();
    let admin = ["--server", &server.url, "--admin-token-file", token_file.to_str().unwrap()];
    account_and_merchant(&admin, "bob", &[], &queue);

    // A wrong admin token.
    let wrong = dir.path().join("wrong.token");
    std::fs::write(&wrong, "cga_nope\n").unwrap();
    let (code, _, err) = run(bin()
        .args(["merchant", "register", "--server", &server.url, "--admin-token-file"])
        .arg(&wrong)
        .args(["--id", "SHOP-X", "--queue"])
        .arg(dir.path().join("x.db")));
    assert_eq!(code, 1);
    assert!(err.contains("401") && err.contains("wrong admin token"), "{err}");

    // A QR code of something else, and an image with no QR code.
    let url_png = dir.path().join("url.png");
    qr::write_png(&qr::encode("https://example.com/menu", qrcode::EcLevel::M).unwrap(), &url_png).unwrap();
    let (code, out, _) =
        run(bin().args(["accept", "--qr"]).arg(&url_png).args(["--amount", "1", "--queue"]).arg(&queue));
    assert_eq!(code, 3);
    assert!(out.contains("REJECTED malformed") && out.contains("not base64"), "{out}");
    let blank = dir.path().join("blank.png");
    image::GrayImage::from_pixel(200, 200, image::Luma([255])).save(&blank).unwrap();
    let (code, _, err) =
        run(bin().args(["accept", "--qr"]).arg(&blank).args(["--amount", "1", "--queue"]).arg(&queue));
    assert_eq!(code, 1);
    assert!(err.contains("no QR code found"), "{err}");
    let notpng = dir.path().join("notpng.png");
    std::fs::write(&notpng, b"GIF89a....").unwrap();
    let (code, _, err) =
        run(bin().args(["accept", "--qr"]).arg(&notpng).args(["--amount", "1", "--queue"]).arg(&queue));
    assert_eq!(code, 1);
    assert!(err.contains("cannot read the image"), "{err}");

    // A tampered QR: one flipped bit in the payload, rendered again.
    let mut card = SoftCard::generate();
    let account_code = {
        let token = std::fs::read_to_string(server.token_file()).unwrap();
        let client =
            IssuerClient::new(&server.url, Some(Zeroizing::new(token.trim().into())), Duration::from_secs(5))
                .unwrap();
        let r = tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(client.issue(&IssueRequest {
                account: "bob".into(),
                card_public_key: hex::encode(card.public_key()),
                valid_for: 60,
                allowed_uses: 3,
                threshold: 2_000,
                payees: PayeesJson::default(),
            }))
            .unwrap();
        CreditPaymentCode::decode(&hex::decode(r.code).unwrap()).unwrap()
    };
    let p = card.present(&account_code, cardgate::payment::server::now() as u32, None);
    let mut bytes = p.to_bytes();
    let n = bytes.len();
    bytes[n - 10] ^= 0x04; // inside the card signature
    use base64::Engine;
    let tampered = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let tampered_png = dir.path().join("tampered.png");
    qr::write_png(&qr::encode(&tampered, qrcode::EcLevel::M).unwrap(), &tampered_png).unwrap();
    let (code, out, _) =
        run(bin().args(["accept", "--qr"]).arg(&tampered_png).args(["--amount", "1", "--queue"]).arg(&queue));
    assert_eq!(code, 3);
    assert!(out.contains("REJECTED bad_card_signature"), "{out}");
    // Over the threshold; expired (the token lasts 60 s).
    let text = p.to_text();
    let (code, out, _) =
        run(bin().args(["accept", "--payload", &text, "--amount", "20.01", "--queue"]).arg(&queue));
    assert_eq!((code, out.contains("REJECTED amount_over_threshold")), (3, true), "{out}");
    let later = time::OffsetDateTime::now_utc() + time::Duration::seconds(120);
    let later = later.format(&time::format_description::well_known::Rfc3339).unwrap();
    let (code, out, _) = run(bin()
        .args([
            "accept",
            "--payload",
            &text,
            "--amount",
            "1",
            "--time",
            &later,
            "--max-skew",
            "1h",
            "--queue",
        ])
        .arg(&queue));
    assert_eq!((code, out.contains("REJECTED expired")), (3, true), "{out}");
    let (code, _, err) =
        run(bin().args(["accept", "--payload", &text, "--amount", "1.234", "--queue"]).arg(&queue));
    assert_eq!(code, 1);
    assert!(err.contains("more decimal places than CNY allows"), "{err}");
    // Nothing was queued by any of that.
    let (_, out, _) = run(bin().args(["merchant", "show", "--queue"]).arg(&queue));
    assert!(out.contains("0 payments pending, 0 settled"), "{out}");

    // A good payment, then a server that is down: settle fails, the payment stays pending.
    let (code, _, err) =
        run(bin().args(["accept", "--payload", &text, "--amount", "1", "--queue"]).arg(&queue));
    assert_eq!(code, 0, "{err}");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (code, out, err) = run(bin().args(["settle", "--queue"]).arg(&queue).args([
        "--server",
        &format!("http://{port}"),
        "--retry-for",
        "1s",
    ]));
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("cannot reach the issuer server") && err.contains("1 still pending"), "{err}");
    let (_, out, _) = run(bin().args(["merchant", "show", "--queue"]).arg(&queue));
    assert!(out.contains("1 payments pending, 0 settled"), "{out}");

    // A corrupt queue file: refused, left as it was.
    let corrupt = dir.path().join("corrupt.db");
    std::fs::write(&corrupt, b"garbage garbage garbage garbage").unwrap();
    let (code, _, err) =
        run(bin().args(["accept", "--payload", &text, "--amount", "1", "--queue"]).arg(&corrupt));
    assert_eq!(code, 1);
    assert!(err.contains("not a cardgate merchant queue") && err.contains("left untouched"), "{err}");
    assert_eq!(std::fs::read(&corrupt).unwrap(), b"garbage garbage garbage garbage");
    let (code, _, err) = run(bin().args(["settle", "--queue"]).arg(dir.path().join("missing.db")));
    assert_eq!(code, 1);
    assert!(err.contains("no such merchant queue"), "{err}");
}

#[test]
fn settle_every_keeps_settling_what_arrives_between_rounds() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path());
    let queue = dir.path().join("q.db");
    let token_file = server.token_file();
    let admin = ["--server", &server.url, "--admin-token-file", token_file.to_str().unwrap()];
    account_and_merchant(&admin, "cy", &["--mcc", "5411"], &queue);
    let mut child = bin()
        .args(["settle", "--every", "1s", "--queue"])
        .arg(&queue)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("nothing to settle"), "{first}");
    // A payment accepted while `settle --every` runs is settled at the next round.
    let mut card = SoftCard::generate();
    let c = issue(&server, &card, "cy");
    let p = card.present(&c, cardgate::payment::server::now() as u32, None);
    let (code, out, _) =
        run(bin().args(["accept", "--payload", &p.to_text(), "--amount", "1", "--queue"]).arg(&queue));
    assert_eq!(code, 0, "{out}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut settled = false;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.contains("1 accepted, 0 rejected") {
            settled = true;
            break;
        }
        assert!(Instant::now() < deadline, "no settlement round settled the payment");
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(settled);
}
