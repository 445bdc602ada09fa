//! `--emit-script`: a flow run through [`ScriptRecorder`] prints a script that `cardgate run`
//! replays against another card with the same result, even where that card's answers differ (a
//! fresh challenge).

// Test helpers outside #[test] functions: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use cardgate::script::engine::{EXIT_FAILED, EXIT_OK};
use cardgate::script::output::Collect;
use cardgate::script::{Engine, Options, ScriptRecorder, parse_str};
use reader_bridge::{ExchangeOptions, Exchanger, ResetKind, Transport, TransportError};

/// A small card with a challenge-response step, long responses (61xx) and a strict Le (6Cxx).
struct ChallengeCard {
    seed: u64,
    challenge: Option<[u8; 8]>,
    authenticated: bool,
    counter: u32,
    pending: Vec<u8>,
    sent: Vec<Vec<u8>>,
}

impl ChallengeCard {
    fn new(seed: u64) -> Self {
        Self {
            seed,
            challenge: None,
            authenticated: false,
            counter: 0,
            pending: Vec::new(),
            sent: Vec::new(),
        }
    }

    fn random(&mut self) -> [u8; 8] {
        // xorshift64: different seeds, different challenges.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        self.seed.to_be_bytes()
    }

    fn answer(&mut self, c: &[u8]) -> Vec<u8> {
        let ok = |mut d: Vec<u8>| {
            d.extend([0x90, 0x00]);
            d
        };
        match (c[0], c[1], c.len()) {
            // SELECT by name
            (0x00, 0xA4, _) if c[5..c.len() - 1] == [0xF0, 1, 2, 3, 4] => ok(vec![]),
            (0x00, 0xA4, _) => vec![0x6A, 0x82],
            // GET CHALLENGE
            (0x00, 0x84, 5) => {
                let r = self.random();
                self.challenge = Some(r);
                ok(r.to_vec())
            }
            // EXTERNAL AUTHENTICATE with the challenge itself (a stand-in for a cryptogram)
            (0x00, 0x82, 13) => {
                if self.challenge.is_some_and(|ch| c[5..13] == ch) {
                    self.authenticated = true;
                    ok(vec![])
                } else {
                    vec![0x69, 0x82]
                }
            }
            // INCREMENT: needs authentication; answers the counter
            (0x80, 0x22, 4 | 5) if self.authenticated => {
                self.counter += 1;
                ok(self.counter.to_be_bytes().to_vec())
            }
            (0x80, 0x22, _) => vec![0x69, 0x82],
            // READ LOG: 40 bytes through GET RESPONSE
            (0x80, 0xCA, 5) => {
                self.pending = (0..40).collect();
                vec![0x61, 40]
            }
            (_, 0xC0, 5) => {
                let n = usize::from(c[4]).min(self.pending.len());
                let out: Vec<u8> = self.pending.drain(..n).collect();
                ok(out)
            }
            // READ ID: exactly Le = 10 or 6C10
            (0x80, 0xCB, 5) if c[4] == 0x10 => ok((0x30..0x40).collect()),
            (0x80, 0xCB, 5) => vec![0x6C, 0x10],
            // VERIFY: the PIN is "2468"
            (0x00, 0x20, _) if c[4..] == [0x04, b'2', b'4', b'6', b'8'] => {
                self.authenticated = true;
                ok(vec![])
            }
            (0x00, 0x20, _) => vec![0x63, 0xC2],
            // READ STATE: 61 01 that the flow leaves unfollowed
            (0x80, 0xCC, 5) => vec![0x61, 0x01],
            _ => vec![0x6D, 0x00],
        }
    }
}

impl Transport for ChallengeCard {
    fn name(&self) -> String {
        format!("challenge-card:{}", self.seed)
    }
    fn atr(&mut self) -> Result<Vec<u8>, TransportError> {
        Ok(vec![0x3B, 0x80, 0x01, 0x81])
    }
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.sent.push(command.to_vec());
        Ok(self.answer(command))
    }
    fn reset(&mut self, _: ResetKind) -> Result<Vec<u8>, TransportError> {
        self.challenge = None;
        self.authenticated = false;
        self.atr()
    }
}

/// The flow: what an issuance step would do, through an [`Exchanger`] with default options.
fn flow(card: ChallengeCard) -> (String, ChallengeCard) {
    let recorder = ScriptRecorder::new(card);
    let log = recorder.log();
    let mut ex = Exchanger::new(recorder);
    log.comment("select, then prove we saw the challenge");
    ex.transport().echo("selecting \"the\" applet");
    ex.expect_ok(&[0x00, 0xA4, 0x04, 0x00, 0x05, 0xF0, 1, 2, 3, 4, 0x00]).unwrap();
    let challenge = ex.expect_ok(&[0x00, 0x84, 0x00, 0x00, 0x08]).unwrap();
    let mut auth = vec![0x00, 0x82, 0x00, 0x00, 0x08];
    auth.extend(&challenge);
    ex.expect_ok(&auth).unwrap();
    assert_eq!(ex.expect_ok(&[0x80, 0x22, 0x00, 0x00, 0x04]).unwrap(), [0, 0, 0, 1]);
    assert_eq!(ex.expect_ok(&[0x80, 0xCA, 0x00, 0x00, 0x00]).unwrap().len(), 40, "61xx followed");
    assert_eq!(ex.expect_ok(&[0x80, 0xCB, 0x00, 0x00, 0x00]).unwrap().len(), 16, "6Cxx followed");
    // A status the flow chooses not to follow up.
    ex.options = ExchangeOptions::RAW;
    assert_eq!(ex.exchange(&[0x80, 0xCC, 0x00, 0x00, 0x00]).unwrap().sw, 0x6101);
    ex.options = ExchangeOptions::default();
    ex.transport().reset(ResetKind::Warm).unwrap();
    assert_eq!(ex.exchange(&[0x80, 0x22, 0x00, 0x00, 0x04]).unwrap().sw, 0x6982, "reset forgets the auth");
    // The handle and the recorder see the same script.
    let recorder = ex.into_inner();
    assert_eq!(log.script(), recorder.script());
    (log.script(), recorder.into_inner())
}

fn replay(script: &str, card: ChallengeCard) -> (u8, ChallengeCard, Collect) {
    replay_with(script, card, &[])
}

/// Replays with variables set as `-D name=value` sets them.
fn replay_with(script: &str, card: ChallengeCard, defines: &[(&str, &[u8])]) -> (u8, ChallengeCard, Collect) {
    let parsed = parse_str("emitted.cg", Path::new("."), script, false).unwrap();
    let mut out = Collect::default();
    let mut diag = Vec::new();
    let mut engine = Engine::new(card, &mut out, &mut diag, Options::default());
    engine.start().unwrap();
    for (name, value) in defines {
        engine.vars_mut().set(name, value.to_vec());
    }
    let _ = engine.run(&[parsed.into_stmt()]);
    let (code, card) = engine.finish();
    (code, card, out)
}

#[test]
fn an_emitted_script_replays_against_another_card_with_the_same_result() {
    let (script, first) = flow(ChallengeCard::new(0x1234_5678));
    // What the script says, line by line.
    assert!(script.starts_with("#!cardgate\n"), "{script}");
    assert!(script.contains("# select, then prove we saw the challenge\n"));
    assert!(script.contains("echo \"selecting \\\"the\\\" applet\"\n"));
    assert!(script.contains("00 84 00 00 08 => 9000 -> $r2\n"), "the challenge is captured:\n{script}");
    assert!(script.contains("00 82 00 00 08 ${r2} => 9000\n"), "and sent back as a variable:\n{script}");
    assert!(script.contains("80 CA 00 00 00 => 9000\n"), "GET RESPONSE folded into its command:\n{script}");
    assert!(script.contains("80 CB 00 00 00 => 9000\n"), "the Le retry folded too:\n{script}");
    assert!(script.contains("getresponse off\nfixle off\n80 CC 00 00 00 => 6101\n"), "{script}");
    assert!(script.contains("reset warm\n80 22 00 00 04 => 6982\n"), "{script}");

    // Another card, another challenge: the replay still authenticates.
    let (code, second, out) = replay(&script, ChallengeCard::new(0x9999_0001));
    assert_eq!(code, EXIT_OK, "errors: {:?}\nscript:\n{script}", out.errors);
    assert_ne!(first.sent[2], second.sent[2], "the challenges differed, so the replay adapted");
    // Same physical traffic apart from the challenge: GET RESPONSE and the Le retry happened again.
    let strip = |sent: &[Vec<u8>]| -> Vec<Vec<u8>> {
        sent.iter().map(|c| if c[1] == 0x82 { c[..5].to_vec() } else { c.clone() }).collect()
    };
    assert_eq!(strip(&first.sent), strip(&second.sent));
    assert_eq!(second.counter, 1);
    assert_eq!(out.echoes, ["selecting \"the\" applet"]);
}

#[test]
fn a_card_that_answers_differently_fails_the_replay() {
    let (script, _) = flow(ChallengeCard::new(7));
    // A script edited to send a wrong challenge: the card refuses and the replay says where.
    let broken = script.replace("${r2}", "0000000000000000");
    let (code, card, out) = replay(&broken, ChallengeCard::new(8));
    assert_eq!(code, EXIT_FAILED);
    let failed = out.apdus.iter().find(|a| !a.ok()).unwrap();
    assert_eq!(failed.sw, 0x6982);
    assert!(failed.check.as_ref().unwrap().failure.as_ref().unwrap().contains("expected 9000, got SW 6982"));
    assert_eq!(card.sent.len(), 3, "the replay stops at the first mismatch");
}

#[test]
fn the_script_is_written_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let mut rec = ScriptRecorder::new(ChallengeCard::new(1));
    rec.transmit(&[0x00, 0x84, 0x00, 0x00, 0x08]).unwrap();
    let path = dir.path().join("flow.cg");
    rec.write_to(&path).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), rec.script());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left behind");
    let missing = dir.path().join("no/such/dir/flow.cg");
    assert!(rec.write_to(&missing).is_err());
}

/// The same, against the emulated card with the diagnostic applet: a flow recorded on one card
/// replays on a fresh one, and leaves it in the same state.
#[test]
fn an_emitted_script_replays_on_a_fresh_emulated_card() {
    let dir = tempfile::tempdir().unwrap();
    let init = |name: &str| {
        let status = std::process::Command::new(assert_cmd::cargo::cargo_bin("cardgate"))
            .current_dir(dir.path())
            .args(["card", "init", name])
            .output()
            .unwrap()
            .status;
        assert!(status.success());
    };
    init("a.state");
    init("b.state");
    let diag = [0xF0, 0x43, 0x41, 0x52, 0x44, 0x47, 0x41, 0x54, 0x45, 0x01];
    {
        let card = reader_bridge::emu::EmuTransport::open(&dir.path().join("a.state")).unwrap();
        let mut ex = Exchanger::new(ScriptRecorder::new(card));
        ex.transport().echo("select the diagnostic applet");
        let mut select = vec![0x00, 0xA4, 0x04, 0x00, 0x0A];
        select.extend(diag);
        select.push(0x00);
        ex.expect_ok(&select).unwrap();
        ex.expect_ok(&[0x00, 0x20, 0x00, 0x81, 0x04, b'1', b'2', b'3', b'4']).unwrap();
        for _ in 0..2 {
            ex.expect_ok(&[0x80, 0x22, 0x00, 0x00, 0x00]).unwrap();
        }
        assert_eq!(ex.expect_ok(&[0x80, 0x12, 0x01, 0x2C, 0x00]).unwrap().len(), 300);
        let script = ex.transport().script();
        std::fs::write(dir.path().join("flow.cg"), &script).unwrap();
        assert!(script.contains("80 12 01 2C 00 => 9000\n"), "GET RESPONSE rounds folded:\n{script}");
    }
    assert_cmd::Command::cargo_bin("cardgate")
        .unwrap()
        .current_dir(dir.path())
        .env_remove("CARDGATE_READER")
        .args(["run", "-r", "emu:b.state", "flow.cg"])
        .assert()
        .success();
    // Both cards' counters say 2.
    for state in ["a.state", "b.state"] {
        let mut card = reader_bridge::emu::EmuTransport::open(&dir.path().join(state)).unwrap();
        assert_eq!(
            card.transmit(&[0x80, 0x20, 0x00, 0x00, 0x04]).unwrap(),
            [0, 0, 0, 2, 0x90, 0x00],
            "{state}"
        );
    }
}

/// A flow that sends the PIN as a secret: the script names it, never holds it, and replays with it
/// given as a variable.
#[test]
fn a_secret_command_is_a_variable_in_the_script_and_its_bytes_are_nowhere() {
    let recorder = ScriptRecorder::new(ChallengeCard::new(5));
    let log = recorder.log();
    let mut ex = Exchanger::new(recorder);
    ex.expect_ok(&[0x00, 0xA4, 0x04, 0x00, 0x05, 0xF0, 1, 2, 3, 4, 0x00]).unwrap();
    let verify = [0x00, 0x20, 0x00, 0x81, 0x04, b'2', b'4', b'6', b'8'];
    let out = ex.exchange_secret(&verify, "pin").unwrap();
    assert_eq!(out.sw, 0x9000);
    assert_eq!(out.exchanges[0].command, [0x00, 0x20, 0x00, 0x81], "the exchange record has no PIN");
    assert_eq!(ex.expect_ok(&[0x80, 0x22, 0x00, 0x00, 0x04]).unwrap(), [0, 0, 0, 1], "verified");
    // A wrong PIN, also secret: recorded with the status word it got.
    assert_eq!(ex.exchange_secret(&[0x00, 0x20, 0x00, 0x81, 0x02, b'9', b'9'], "pin").unwrap().sw, 0x63C2);
    let card = ex.into_inner().into_inner();
    assert_eq!(card.sent[1], verify, "the card got the PIN");

    let script = log.script();
    assert_eq!(log.secrets(), ["pin"]);
    assert!(script.contains("\n00 20 00 81 {${pin}} => 9000\n"), "{script}");
    assert!(script.contains("\n00 20 00 81 {${pin}} => 63C2\n"), "{script}");
    assert!(script.contains("replay with: cardgate run -r READER -D pin=VALUE FILE"), "{script}");
    for leak in ["2468", "32343638", "32 34 36 38", "39 39", "3939"] {
        assert!(!script.contains(leak), "{leak:?} is in the script:\n{script}");
    }

    // Replayed with the PIN: the same result, except that both VERIFYs now carry the given PIN, so
    // the second (recorded 63C2) answers 9000 and fails its expectation; that is the point of `=>`.
    let (code, card, out) = replay_with(&script, ChallengeCard::new(6), &[("pin", b"2468")]);
    assert_eq!(code, EXIT_FAILED, "{:?}", out.errors);
    assert_eq!(card.counter, 1);
    assert_eq!(card.sent[1], verify);
    // Without the PIN the script cannot run: an unset variable is a script error, found at the VERIFY.
    let (code, card, _) = replay_with(&script, ChallengeCard::new(6), &[]);
    assert_eq!(code, cardgate::script::engine::EXIT_SCRIPT);
    assert_eq!(card.sent.len(), 1, "stopped before the VERIFY");
}

/// A secret command the transport could not deliver is noted without its data.
#[test]
fn a_failed_secret_command_is_noted_without_its_data() {
    struct Gone;
    impl Transport for Gone {
        fn name(&self) -> String {
            "gone".into()
        }
        fn atr(&mut self) -> Result<Vec<u8>, TransportError> {
            Ok(vec![0x3B, 0x00])
        }
        fn transmit(&mut self, _: &[u8]) -> Result<Vec<u8>, TransportError> {
            Err(TransportError::CardRemoved { reader: "gone".into() })
        }
        fn reset(&mut self, _: ResetKind) -> Result<Vec<u8>, TransportError> {
            self.atr()
        }
    }
    let mut rec = ScriptRecorder::new(Gone);
    assert!(rec.transmit_secret(&[0x00, 0x20, 0x00, 0x81, 0x04, b'2', b'4', b'6', b'8'], "pin").is_err());
    let script = rec.script();
    assert!(
        script.contains("# not sent (the card was removed from reader \"gone\"): 00200081 with $pin"),
        "{script}"
    );
    assert!(!script.contains("32343638"), "{script}");
}
