//! `--emit-script` on the card flows, as a user runs them: `cardgate issue` recorded on one insecure
//! test card replays with `cardgate run` on a fresh card made with the same seed and leaves it with
//! the same key and code; `cardgate present` replays against a copy of the card taken before the
//! presentation; the PIN never reaches the file; a flow that fails still writes what it sent.
//! In-process (`-r emu:PATH`), and once through pcscd + vpcd.

// Test code: a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use cardgate::payment::wallet::{Wallet, WalletStatus};
use cardgate_tests::{CardProcess, IssuerServer, Output, SLOT0, SLOT1, VpcdLock, cardgate, run};

/// The cardholder PIN of every card here: letters that never occur in hex, so a search for it in a
/// script full of hex cannot match by chance.
const PIN: &str = "pq7x";
const SEED: &str = "5eed5eed";

fn cg(args: &[&str]) -> Output {
    run(cardgate(), args)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `cardgate card init PATH --pin PIN [--insecure-seed SEED]`.
fn init(dir: &Path, name: &str, seed: Option<&str>) -> PathBuf {
    let path = dir.join(name);
    let mut args = vec!["card", "init", s(&path), "--pin", PIN];
    if let Some(seed) = seed {
        args.extend(["--insecure-seed", seed]);
    }
    let out = cg(&args);
    out.success();
    if seed.is_some() {
        out.stdout_has("INSECURE TEST CARD").stderr_has("INSECURE TEST CARD");
    }
    path
}

fn server_with_account(dir: &Path) -> IssuerServer {
    let server = IssuerServer::start(dir).unwrap();
    let mut args = vec!["issuer".to_string(), "create-account".into()];
    args.extend(server.admin_args());
    args.extend(["--account", "alice", "--credit-limit", "500.00"].map(String::from));
    cg(&args.iter().map(String::as_str).collect::<Vec<_>>()).success();
    server
}

/// `cardgate issue -r READER --pin PIN ... [--emit-script FILE]`.
fn issue(server: &IssuerServer, reader: &str, script: Option<&Path>) -> Output {
    let mut args: Vec<String> =
        ["issue", "-r", reader, "--account", "alice", "--pin", PIN, "--valid-for", "1h"]
            .map(String::from)
            .to_vec();
    args.extend(server.admin_args());
    if let Some(script) = script {
        args.extend(["--emit-script".into(), s(script).into()]);
    }
    cg(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// What the wallet on the card at `state` holds: status, public key, credit payment code.
fn wallet(state: &Path) -> (WalletStatus, [u8; 33], Vec<u8>) {
    let transport = reader_bridge::emu::EmuTransport::open(state).unwrap();
    let mut wallet = Wallet::select(transport).unwrap();
    (wallet.status().unwrap(), wallet.public_key().unwrap(), wallet.code().unwrap().encoded)
}

/// The script holds no trace of the PIN: not as text, not as hex, packed or spaced.
#[track_caller]
fn assert_no_pin(script: &Path) {
    let bytes = std::fs::read(script).unwrap();
    let hex_packed = hex::encode_upper(PIN);
    let hex_spaced: Vec<String> = PIN.bytes().map(|b| format!("{b:02X}")).collect();
    for needle in [PIN.to_string(), hex_packed.clone(), hex_packed.to_lowercase(), hex_spaced.join(" ")] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{needle:?} is in {}:\n{}",
            script.display(),
            String::from_utf8_lossy(&bytes)
        );
    }
}

/// The status words a script expects, in order (`=> XXXX` on each command line).
fn expected_sws(script: &Path) -> Vec<String> {
    std::fs::read_to_string(script)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(" => ").map(|(_, sw)| sw[..4].to_string()))
        .collect()
}

/// `cardgate run -r READER -D pin="PIN" --json SCRIPT`: the exit code and the status words the card
/// answered, in order.
fn replay(reader: &str, script: &Path) -> (Option<i32>, Vec<String>, Output) {
    let define = format!("pin=\"{PIN}\"");
    let out = cg(&["run", "-r", reader, "-D", &define, "--json", s(script)]);
    let sws = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event"] == "apdu")
        .map(|v| v["sw"].as_str().unwrap().to_string())
        .collect();
    (out.code, sws, out)
}

#[test]
fn an_issuance_recorded_on_a_seeded_card_replays_on_a_fresh_card_with_that_seed() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_account(dir.path());
    let (a, b) = (init(dir.path(), "a.state", Some(SEED)), init(dir.path(), "b.state", Some(SEED)));
    let script = dir.path().join("issue.cg");
    issue(&server, &format!("emu:{}", a.display()), Some(&script))
        .success()
        .stdout_has("issued token")
        .stderr_has("INSECURE TEST CARD")
        .stderr_has("commands written to");
    assert_no_pin(&script);
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.contains("00 20 00 81 {${pin}} => 9000\n"), "{text}");
    assert!(text.contains("\n00 46 00 00 00 => 9000"), "GENERATE KEY PAIR:\n{text}");

    // B has never seen the issuer: the script alone personalizes it, every status word as on A.
    let (code, sws, out) = replay(&format!("emu:{}", b.display()), &script);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(sws, expected_sws(&script), "{out}");
    assert_eq!(sws.len(), 7, "SELECT, E7, VERIFY, GENERATE KEY PAIR, E6, E2, E7: {sws:?}");
    let (status_a, key_a, code_a) = wallet(&a);
    let (status_b, key_b, code_b) = wallet(&b);
    assert_eq!(status_a, status_b);
    assert!(status_b.insecure_test_card && status_b.token_id.is_some());
    assert_eq!(key_a, key_b, "the same key, from the same seed");
    assert_eq!(code_a, code_b, "and the code the issuer signed for it");

    // A card with another seed makes another key. The script captures the key GENERATE KEY PAIR
    // answers and puts it in the code it sends, but the issuer's signature covers A's key: the
    // card refuses the code (6982).
    let c = init(dir.path(), "c.state", Some("0badc0de"));
    let (code, sws, out) = replay(&format!("emu:{}", c.display()), &script);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(sws.last().map(String::as_str), Some("6982"), "PUT DATA E2 refused: {out}");
    // And so does a normal card.
    let d = init(dir.path(), "d.state", None);
    let (code, _, out) = replay(&format!("emu:{}", d.display()), &script);
    assert_eq!(code, Some(1), "{out}");
}

#[test]
fn a_presentation_replays_against_a_copy_of_the_card_taken_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_account(dir.path());
    let a = init(dir.path(), "a.state", Some(SEED));
    issue(&server, &format!("emu:{}", a.display()), None).success();
    let before = dir.path().join("before.state");
    std::fs::copy(&a, &before).unwrap();

    let script = dir.path().join("present.cg");
    let reader = format!("emu:{}", a.display());
    cg(&["present", "-r", &reader, "--pin", PIN, "--amount", "12.00", "--text", "--emit-script", s(&script)])
        .success()
        .stderr_has("counter 1");
    assert_no_pin(&script);
    let (code, sws, out) = replay(&format!("emu:{}", before.display()), &script);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(sws, expected_sws(&script));
    assert!(sws.len() >= 5, "SELECT, E7, VERIFY, E2, GENERATE PAYMENT CODE: {sws:?}");
    let (after_a, _, _) = wallet(&a);
    let (after_copy, _, _) = wallet(&before);
    assert_eq!((after_a.counter, after_copy.counter), (1, 1), "the counter advanced the same");

    // A wrong PIN stops the flow at VERIFY: the script of what was sent is still written, with the
    // status word the card gave and without the PIN that was tried.
    let failed = dir.path().join("wrong-pin.cg");
    cg(&["present", "-r", &reader, "--pin", "zzzz", "--text", "--emit-script", s(&failed)])
        .failure()
        .stderr_has("wrong PIN")
        .stderr_has("partial script");
    let text = std::fs::read_to_string(&failed).unwrap();
    assert!(text.contains("00 20 00 81 {${pin}} => 63C2\n"), "{text}");
    assert!(text.contains("# cardgate present stopped here: wrong PIN"), "{text}");
    assert!(!text.contains("zzzz") && !text.contains("7A7A7A7A") && !text.contains("7A 7A"), "{text}");
    assert_eq!(expected_sws(&failed).len(), 3, "SELECT, E7, VERIFY and nothing after: {text}");
}

#[test]
fn a_flow_that_fails_midway_writes_the_partial_script_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = init(dir.path(), "fresh.state", None);
    let script = dir.path().join("partial.cg");
    let out = cg(&["present", "-r", &format!("emu:{}", fresh.display()), "--emit-script", s(&script)]);
    out.failure().stderr_has("holds no payment code").stderr_has("the 2 commands sent before it stopped");
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.starts_with("#!cardgate\n"), "{text}");
    assert_eq!(expected_sws(&script), ["9000", "9000"], "SELECT and GET DATA E7: {text}");
    assert!(text.contains("# cardgate present stopped here: the card's wallet holds no payment code"));
    // What was sent replays.
    let (code, _, out) = replay(&format!("emu:{}", fresh.display()), &script);
    assert_eq!(code, Some(0), "{out}");

    // A script that cannot be written is refused before the card is touched.
    let out = cg(&[
        "present",
        "-r",
        &format!("emu:{}", fresh.display()),
        "--emit-script",
        s(&dir.path().join("no/such/dir/x.cg")),
    ]);
    out.failure().stderr_has("does not exist");
}

#[test]
fn a_policy_replacement_replays_on_a_card_made_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let make = |name: &str| {
        let path = dir.path().join(name);
        cg(&["card", "init", s(&path), "--admin-pin", "87654321"]).success();
        path
    };
    let (a, b) = (make("a.state"), make("b.state"));
    let policy = cardgate_tests::workspace().join("policies/examples/offline-payment.toml");
    let script = dir.path().join("policy.cg");
    cg(&[
        "card",
        "policy",
        s(&a),
        "--policy",
        s(&policy),
        "--admin-pin",
        "87654321",
        "--emit-script",
        s(&script),
    ])
    .success();
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.contains("{${admin_pin}} => 9000"), "{text}");
    assert!(!text.contains("87654321") && !text.contains("3837363534333231"), "{text}");
    let out = cg(&["run", "-r", &format!("emu:{}", b.display()), "-D", "admin_pin=\"87654321\"", s(&script)]);
    assert_eq!(out.code, Some(0), "{out}");
    let shown = cg(&["card", "show", s(&b)]);
    assert!(shown.stdout.contains("policy   ") && !shown.stdout.contains("policy   none"), "{shown}");
    let show = |p: &Path| cg(&["card", "show", s(p)]).stdout.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(show(&a), show(&b), "both cards hold the same policy");
}

/// Through pcscd + vpcd: a presentation emitted through one virtual reader replays through the
/// other against a copy of the card taken before it.
#[test]
fn a_presentation_emitted_through_pcscd_replays_through_pcscd() {
    let _lock = VpcdLock::acquire().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_account(dir.path());
    let a = init(dir.path(), "a.state", Some(SEED));
    issue(&server, &format!("emu:{}", a.display()), None).success();
    let before = dir.path().join("before.state");
    std::fs::copy(&a, &before).unwrap();

    let script = dir.path().join("present.cg");
    {
        let _served = CardProcess::start(&cardgate(), &["card", "serve", s(&a)], SLOT0, dir.path()).unwrap();
        cg(&["present", "-r", SLOT0.1, "--pin", PIN, "--text", "--emit-script", s(&script)])
            .success()
            .stderr_has("counter 1")
            .stderr_has("INSECURE TEST CARD");
    }
    assert_no_pin(&script);
    {
        let _served =
            CardProcess::start(&cardgate(), &["card", "serve", s(&before)], SLOT1, dir.path()).unwrap();
        let (code, sws, out) = replay(SLOT1.1, &script);
        assert_eq!(code, Some(0), "{out}");
        assert_eq!(sws, expected_sws(&script));
    }
    assert_eq!(wallet(&a).0.counter, 1);
    assert_eq!(wallet(&before).0.counter, 1, "the replay advanced the copy's counter the same");
}
