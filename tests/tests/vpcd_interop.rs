//! Interop: a card served through pcscd + vpcd, used by real PC/SC clients (opensc-tool, pcsc_scan,
//! scriptor, pyscard) and by cardgate itself. Every test holds the vpcd lock for its whole run.

// Test code: a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use cardgate_tests::{
    CardProcess, SLOT0, SLOT1, VpcdLock, cardgate, init_card, reader_state, run, wait_for_empty,
};
use reader_bridge::Transport;
use reader_bridge::pcsc::{PcscOptions, PcscTransport, Share};
use reader_bridge::transport::TransportError;

/// The runtime's diagnostic applet (docs/runtime.md), in one place.
mod diag {
    /// SELECT the diagnostic applet by AID (`F0` "CARDGATE" `01`), Le 00: the FCI comes back.
    pub const SELECT: &str = "00A404000AF043415244474154450100";
    /// The start of the FCI: template 6F, DF name 84 = the AID.
    pub const FCI_START: &str = "6F1D840AF0434152444741544501";
    /// ECHO `data` (short case 4, Le 00).
    pub fn echo(data: &[u8]) -> String {
        format!("80100000{:02X}{}00", data.len(), hex::encode_upper(data))
    }
    /// ECHO `data` as an extended-length case 4 command (Lc on 3 bytes, Le on 2).
    pub fn echo_extended(data: &[u8]) -> String {
        format!("8010000000{:04X}{}0000", data.len(), hex::encode_upper(data))
    }
    /// CHAIN INFO as one extended command: the card answers Nc (2 bytes) and SHA-256 of the data.
    pub fn chain_info_extended(data: &[u8]) -> String {
        format!("8014000000{:04X}{}0000", data.len(), hex::encode_upper(data))
    }
    /// ANSWER N bytes 00 01 02 ... (short Le 00: more than 256 comes back through 61xx).
    pub fn answer(n: u16) -> String {
        format!("8012{n:04X}00")
    }
    /// INCREMENT the persistent counter by 1 and commit; answers the new value (4 bytes).
    pub const INCREMENT: &str = "8022000004";
    /// READ COUNTER (4 bytes, big-endian).
    pub const READ_COUNTER: &str = "8020000004";
    /// The bytes `answer(n)` returns.
    pub fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| i as u8).collect()
    }
}

/// A card in "Virtual PCD 00 00", with the vpcd lock held. Fields drop in order: card, then lock.
struct Served {
    card: CardProcess,
    state: PathBuf,
    dir: tempfile::TempDir,
    _lock: VpcdLock,
}

/// A fresh card state file made by `cardgate card init`.
fn new_card(dir: &Path) -> PathBuf {
    let state = dir.join("card.state");
    init_card(&state, &[]);
    state
}

fn served() -> Served {
    let lock = VpcdLock::acquire().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = new_card(dir.path());
    let card = CardProcess::serve(&state, dir.path()).unwrap();
    Served { card, state, dir, _lock: lock }
}

fn spaced(hex_upper: &str) -> String {
    hex_upper.as_bytes().chunks(2).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(" ")
}

#[test]
fn opensc_tool_lists_the_reader_reads_the_atr_and_sends_apdus() {
    let s = served();
    let out = run("opensc-tool", &["-l"]);
    out.success();
    assert!(
        out.stdout.lines().any(|l| l.contains("Yes") && l.ends_with(SLOT0.1)),
        "the reader shows a card: {out}"
    );
    let atr = s.card.atr.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
    run("opensc-tool", &["-r", SLOT0.1, "-a"]).success().stdout_has(&atr);
    let out = run("opensc-tool", &["-r", SLOT0.1, "-s", diag::SELECT, "-s", &diag::echo(b"\x01\x02\x03")]);
    out.success().stdout_has("01 02 03");
    assert_eq!(out.stdout.matches("Received (SW1=0x90, SW2=0x00)").count(), 2, "{out}");
    // An AID the card does not have: 6A82, not a blanket 9000 (OpenSC would mistake the card).
    run("opensc-tool", &["-r", SLOT0.1, "-s", "00A4040006A00000000101"])
        .success()
        .stdout_has("SW1=0x6A, SW2=0x82");
}

#[test]
fn pcsc_scan_lists_the_reader_and_the_card_non_interactively() {
    let s = served();
    run("pcsc_scan", &["-r"]).success().stdout_has(&format!(": {}", SLOT0.1));
    let out = run("pcsc_scan", &["-c"]);
    out.success();
    let block = out.stdout.split(" Reader ").find(|b| b.contains(SLOT0.1)).unwrap_or_default().to_string();
    assert!(block.contains("Card inserted"), "{out}");
    assert!(block.contains(&format!("ATR: {}", spaced(&hex::encode_upper(&s.card.atr)))), "{out}");
}

#[test]
fn scriptor_runs_a_script_file() {
    let s = served();
    let script = s.dir.path().join("session.script");
    std::fs::write(
        &script,
        format!(
            "# a session\n{}\n{}\nreset\n{}\n",
            diag::SELECT,
            diag::echo(b"\xCA\xFE"),
            diag::echo(b"\x00")
        ),
    )
    .unwrap();
    let out = run("scriptor", &["-r", SLOT0.1, script.to_str().unwrap()]);
    out.success().stdout_has("Using T=1 protocol");
    out.stdout_has(&format!("< {}", spaced(diag::FCI_START)));
    out.stdout_has("< CA FE 90 00 : Normal processing.");
    out.stdout_has(&format!("< OK: {} ", spaced(&hex::encode_upper(&s.card.atr))));
    // After the reset the default applet (diag) is selected again and answers.
    out.stdout_has("< 00 90 00 : Normal processing.");
}

#[test]
fn pyscard_selects_sends_an_extended_apdu_and_follows_61xx() {
    let s = served();
    let long: Vec<u8> = (0..300u16).map(|i| (i * 7) as u8).collect();
    let out = run(
        "/usr/bin/python3",
        &[
            cardgate_tests::workspace().join("tests/py/pyscard_session.py").to_str().unwrap(),
            s.card.reader,
            diag::SELECT,
            &diag::echo_extended(&long),
            &diag::answer(300),
        ],
    );
    out.success();
    let lines: Vec<serde_json::Value> =
        out.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0]["sw"], "9000", "SELECT: {out}");
    assert_eq!(lines[1]["sw"], "9000", "extended echo: {out}");
    assert_eq!(lines[1]["data"], hex::encode_upper(&long), "300 bytes back in one extended response");
    assert_eq!(lines[1]["exchanges"].as_array().unwrap().len(), 1);
    // 300 bytes for a short Le 00: 256 bytes + 612C, then GET RESPONSE for the last 44.
    let exchanges = lines[2]["exchanges"].as_array().unwrap();
    assert_eq!(exchanges.len(), 2, "{out}");
    assert!(exchanges[0][1].as_str().unwrap().ends_with("612C"), "{out}");
    assert_eq!(exchanges[1][0], "00C000002C");
    assert_eq!(lines[2]["data"], hex::encode_upper(diag::pattern(300)));
    assert_eq!(lines[2]["sw"], "9000");
}

#[test]
fn cardgate_lists_readers_and_decodes_the_atr() {
    let s = served();
    let out = run(cardgate(), &["readers", "--json"]);
    out.success();
    let readers: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let ours =
        readers.as_array().unwrap().iter().find(|r| r["name"] == SLOT0.1).expect("our reader is listed");
    assert_eq!(ours["card"], true);
    assert_eq!(ours["atr"], hex::encode_upper(&s.card.atr));
    run(cardgate(), &["readers"]).success().stdout_has(&format!("Yes   {}", SLOT0.1));

    let out = run(cardgate(), &["atr", "-r", "PCD 00 00"]);
    out.success().stdout_has("protocols: T=1").stdout_has("TCK").stdout_has("correct");
    let out = run(cardgate(), &["atr", "-r", "0", "--json"]);
    out.success();
    let atr: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(atr["atr"], hex::encode_upper(&s.card.atr));
    assert_eq!(atr["tck"]["valid"], true);
}

#[test]
fn the_host_transport_follows_up_61xx_and_sees_the_card_removed_when_it_is_killed() {
    let mut s = served();
    let mut ex = reader_bridge::Exchanger::new(PcscTransport::open(Some(SLOT0.1)).unwrap());
    assert_eq!(ex.exchange(&hex::decode(diag::SELECT).unwrap()).unwrap().sw, 0x9000);
    let out = ex.exchange(&hex::decode(diag::answer(600)).unwrap()).unwrap();
    assert_eq!((out.data, out.sw), (diag::pattern(600), 0x9000));
    assert_eq!(out.exchanges.len(), 3, "256 + 256 + 88 bytes");
    let committed = ex.expect_ok(&hex::decode(diag::INCREMENT).unwrap()).unwrap();
    assert_eq!(committed, 1u32.to_be_bytes());

    s.card.kill().unwrap(); // SIGKILL mid-session
    let err = ex.exchange(&hex::decode(diag::READ_COUNTER).unwrap()).unwrap_err();
    assert!(matches!(err, TransportError::CardRemoved { .. }), "{err}");
    assert!(err.to_string().contains("removed"), "{err}");
    drop(ex);

    // Back in, with everything committed before the kill.
    s.card = CardProcess::serve(&s.state, s.dir.path()).unwrap();
    let mut ex = reader_bridge::Exchanger::new(PcscTransport::open(Some(SLOT0.1)).unwrap());
    ex.expect_ok(&hex::decode(diag::SELECT).unwrap()).unwrap();
    assert_eq!(ex.expect_ok(&hex::decode(diag::READ_COUNTER).unwrap()).unwrap(), 1u32.to_be_bytes());
}

#[test]
fn sigterm_saves_removes_the_ready_file_and_exits_0() {
    let mut s = served();
    let mut t = PcscTransport::open(Some(SLOT0.1)).unwrap();
    t.transmit(&hex::decode(diag::SELECT).unwrap()).unwrap();
    t.transmit(&hex::decode(diag::INCREMENT).unwrap()).unwrap();
    drop(t);
    assert_eq!(s.card.terminate().unwrap(), Some(0), "{}", s.card.log_text());
    assert!(!s.card.ready_file.exists(), "the ready file goes when the card leaves");
    wait_for_empty(SLOT0.1).unwrap();
    let log = s.card.log_text();
    assert!(log.contains("card is in the reader") && log.contains("stopping"), "{log}");
    s.card = CardProcess::serve(&s.state, s.dir.path()).unwrap();
    let mut ex = reader_bridge::Exchanger::new(PcscTransport::open(Some(SLOT0.1)).unwrap());
    ex.expect_ok(&hex::decode(diag::SELECT).unwrap()).unwrap();
    assert_eq!(ex.expect_ok(&hex::decode(diag::READ_COUNTER).unwrap()).unwrap(), 1u32.to_be_bytes());
}

#[test]
fn eject_and_insert_without_stopping_and_watch_reports_both() {
    let mut s = served();
    let socket = cardgate::serve::default_control_path(&s.state);
    let mut watch = std::process::Command::new(cardgate())
        .args(["watch", "--json", "-t", "15"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The watcher's first line reports the card already in; wait for it before ejecting.
    let stdout = watch.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let mut next_event = |kind: &str| -> serde_json::Value {
        for line in lines.by_ref() {
            let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
            if v["event"] == kind && v["reader"] == SLOT0.1 {
                return v;
            }
        }
        panic!("watch ended without a {kind} event");
    };
    next_event("card-inserted");

    run(cardgate(), &["card", "eject", "--control", socket.to_str().unwrap()])
        .success()
        .stdout_has("ejected");
    wait_for_empty(SLOT0.1).unwrap();
    assert!(!s.card.ready_file.exists());
    next_event("card-removed");

    run(cardgate(), &["card", "insert", "--control", socket.to_str().unwrap()]).success();
    s.card.wait_ready().unwrap();
    let inserted = next_event("card-inserted");
    assert_eq!(inserted["state"]["atr"], hex::encode_upper(&s.card.atr));
    assert!(reader_state(SLOT0.1).unwrap().card_present);
    watch.kill().unwrap();
    watch.wait().unwrap();
}

#[test]
fn pcsc_failures_are_clear_sentences() {
    let s = served();
    // No card: the second slot is empty while we hold the lock.
    run(cardgate(), &["atr", "-r", SLOT1.1]).failure().stderr_has("no card in reader");
    // No such reader.
    run(cardgate(), &["atr", "-r", "no such reader"]).failure().stderr_has("no reader matches");
    // Sharing violation: someone holds the card exclusively.
    let exclusive = PcscTransport::open_with(
        Some(SLOT0.1),
        PcscOptions { share: Share::Exclusive, ..Default::default() },
    )
    .unwrap();
    run(cardgate(), &["atr", "-r", SLOT0.1]).failure().stderr_has("sharing violation");
    drop(exclusive);
    run(cardgate(), &["atr", "-r", SLOT0.1]).success();
    // A T=1-only card asked for T=0.
    run(cardgate(), &["apdu", "-p", "T=0", "-r", SLOT0.1, diag::SELECT])
        .failure()
        .stderr_has("does not speak the requested protocol");
    // No pcscd: point libpcsclite at a socket nobody serves.
    let out = std::process::Command::new(cardgate())
        .arg("readers")
        .env("PCSCLITE_CSOCK_NAME", s.dir.path().join("no-pcscd.comm"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("pcscd -f"), "names the command that starts pcscd: {stderr}");
}

#[test]
fn cardgate_apdu_goes_through_pcsc_follows_61xx_and_chains_long_data() {
    let _s = served();
    let out = run(
        cardgate(),
        &["apdu", "-r", SLOT0.1, diag::SELECT, &diag::echo(b"\x01\x02\x03"), &diag::answer(300)],
    );
    out.success();
    let answers: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with("< ")).collect();
    assert_eq!(answers.len(), 4, "SELECT, ECHO, ANSWER 300 and its GET RESPONSE: {out}");
    assert!(
        answers[0].starts_with(&format!("< {}", diag::FCI_START)) && answers[0].contains(" 9000 "),
        "{out}"
    );
    assert!(answers[1].starts_with("< 010203 9000"), "{out}");
    let first = format!("< {} 612C", hex::encode_upper(diag::pattern(256)));
    assert!(answers[2].starts_with(&first), "{out}");
    out.stdout_has("> 80C000002C");
    assert!(
        answers[3].starts_with(&format!("< {} 9000", hex::encode_upper(&diag::pattern(300)[256..]))),
        "{out}"
    );
    // --raw hands 61xx back untouched.
    let out = run(cardgate(), &["apdu", "--raw", "-r", SLOT0.1, diag::SELECT, &diag::answer(300)]);
    out.success().stdout_has(" 612C ");
    assert!(!out.stdout.contains("> 80C0"), "{out}");

    // 300 bytes of data: one extended APDU, or three chained short ones; the card sees the same.
    let data: Vec<u8> = (0..300u16).map(|i| (i * 13) as u8).collect();
    let command = diag::chain_info_extended(&data);
    let extended = run(cardgate(), &["apdu", "-r", SLOT0.1, diag::SELECT, &command]);
    extended.success();
    let chained = run(cardgate(), &["apdu", "--chain", "128", "-r", SLOT0.1, diag::SELECT, &command]);
    chained.success();
    let last =
        |o: &cardgate_tests::Output| o.stdout.lines().rfind(|l| l.starts_with("< ")).unwrap().to_string();
    assert!(last(&extended).starts_with("< 012C"), "Nc = 300: {extended}");
    assert_eq!(last(&chained), last(&extended), "same length and hash: {chained}");
    let parts: Vec<&str> =
        chained.stdout.lines().filter(|l| l.starts_with("> 9014") || l.starts_with("> 8014")).collect();
    assert_eq!(parts.len(), 3, "128 + 128 + 44 bytes: {chained}");
    assert!(parts[0].starts_with("> 9014000080") && parts[2].starts_with("> 801400002C"), "{chained}");
}

#[test]
fn the_card_waits_for_vpcd_says_so_and_connects_when_it_appears() {
    use std::io::{Read, Write};
    // No vpcd lock needed: this uses a port of its own, with a stand-in for vpcd.
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let log = dir.path().join("card.log");
    let state = new_card(dir.path());
    let mut child = std::process::Command::new(cardgate())
        .args(["card", "serve", state.to_str().unwrap()])
        .args(["--vpcd", &addr])
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    cardgate_tests::wait_until(cardgate_tests::PATIENCE, || {
        std::fs::read_to_string(&log).unwrap_or_default().contains("is not reachable")
    })
    .unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("pcscd -f"), "the log says how to start pcscd: {text}");

    let vpcd = std::net::TcpListener::bind(&addr).unwrap();
    let (mut conn, _) = vpcd.accept().unwrap();
    conn.write_all(&[0x00, 0x01, 0x04]).unwrap();
    let mut len = [0u8; 2];
    conn.read_exact(&mut len).unwrap();
    let mut atr = vec![0u8; usize::from(u16::from_be_bytes(len))];
    conn.read_exact(&mut atr).unwrap();
    assert_eq!(atr[0], 0x3B, "an ATR comes back once vpcd is there");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_reset_through_pcscd_ends_the_card_session() {
    let s = served();
    let mut t = PcscTransport::open(Some(SLOT0.1)).unwrap();
    let send = |t: &mut PcscTransport, apdu: &str| {
        let r = t.transmit(&hex::decode(apdu).unwrap()).unwrap();
        hex::encode_upper(&r[r.len() - 2..])
    };
    assert_eq!(send(&mut t, diag::SELECT), "9000");
    // RESET COUNTER needs the PIN: refused, then allowed once VERIFY succeeded in this session.
    assert_eq!(send(&mut t, "8024000000"), "6982");
    assert_eq!(send(&mut t, "002000810431323334"), "9000");
    assert_eq!(send(&mut t, "8024000000"), "9000");
    // SCardReconnect(SCARD_RESET_CARD): vpcd sends RESET; the PIN validation must not survive it.
    let atr = t.reset(reader_bridge::ResetKind::Warm).unwrap();
    assert_eq!(atr, s.card.atr);
    assert_eq!(send(&mut t, diag::SELECT), "9000");
    assert_eq!(send(&mut t, "8024000000"), "6982", "security state cleared by the reset");
}
