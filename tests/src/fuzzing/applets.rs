//! `diag_applet`, `credit_applet`, `admin_applet`: each applet on its own, selected, under
//! structured sessions of its own commands, with a property per applet.

use std::sync::OnceLock;

use applet::apps::{self, CardOptions};
use applet::credit::presentation::verify_presentation;
use applet::credit::{self, CreditPaymentCode, CreditToken, KeyAlgorithm, Money, Payees, Presentation, tags};
use applet::gate::service_data;
use applet::{Card, apps::admin, sw};
use arbitrary::{Arbitrary, Unstructured};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair};
use zeroize::Zeroizing;

use super::status_word;

/// A command to the selected applet: a class from the ones the applets use (or any), the
/// applet's instructions more often than others, any P1-P2, data, Le.
#[derive(Arbitrary, Debug)]
struct Cmd {
    cla: u8,
    ins: u8,
    p1: u8,
    p2: u8,
    data: Vec<u8>,
    le: Option<u8>,
}

impl Cmd {
    fn bytes(&self, instructions: &[u8]) -> Vec<u8> {
        const CLASSES: [u8; 6] = [0x00, 0x80, 0x01, 0x81, 0x84, 0x0C];
        let cla = if self.cla < 0xF0 { CLASSES[usize::from(self.cla) % CLASSES.len()] } else { self.cla };
        let ins =
            if self.ins < 0xE0 { instructions[usize::from(self.ins) % instructions.len()] } else { self.ins };
        apdu(cla, ins, self.p1, self.p2, &self.data, self.le)
    }
}

/// A short APDU (extended when the data needs it).
fn apdu(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8], le: Option<u8>) -> Vec<u8> {
    credit::apdu::command(cla, ins, p1, p2, data, le.map(usize::from))
}

fn select(card: &mut Card, aid: &[u8]) {
    let sw = status_word(&card.process(&apdu(0x00, 0xA4, 0x04, 0x00, aid, Some(0))));
    assert_eq!(sw, sw::OK, "SELECT {aid:02X?}");
}

/// Sends `bytes`; checks the answer ends in a status word and no applet panicked.
fn send(card: &mut Card, bytes: &[u8]) -> (Vec<u8>, u16) {
    let resp = card.process(bytes);
    let sw = status_word(&resp);
    assert_eq!(card.stats().applet_panics, 0, "an applet panicked on {bytes:02X?}");
    assert_eq!(card.store().depth(), 0, "a transaction outlived {bytes:02X?}");
    (resp[..resp.len() - 2].to_vec(), sw)
}

#[derive(Arbitrary, Debug)]
enum DiagOp {
    Cmd(Cmd),
    Verify(bool),
    Reset,
}

fn diag_counter(card: &mut Card) -> u32 {
    let (data, sw) = send(card, &[0x80, 0x20, 0x00, 0x00, 0x04]);
    assert_eq!(sw, sw::OK);
    u32::from_be_bytes(data.try_into().expect("READ COUNTER answers 4 bytes"))
}

/// The diagnostic applet alone (no policy), up to 32 commands. Property: its persistent counter
/// moves only as the commands that answered `9000` say (INCREMENT with P1 `00` adds, USE adds one,
/// RESET COUNTER zeroes it); INCREMENT that aborts or leaves its transaction open, and every
/// refused command, leave it as it was.
pub fn diag_applet(data: &[u8]) {
    let Ok(ops) = Vec::<DiagOp>::arbitrary_take_rest(Unstructured::new(data)) else { return };
    let mut card = apps::new_card(&CardOptions::default()).unwrap();
    select(&mut card, &apps::diag::AID);
    let mut expected = diag_counter(&mut card);
    const INS: [u8; 14] =
        [0x10, 0x12, 0x14, 0x20, 0x22, 0x24, 0x26, 0x30, 0x32, 0x20, 0x24, 0x2C, 0xC0, 0xCA];
    for op in ops.iter().take(32) {
        match op {
            DiagOp::Cmd(c) => {
                let bytes = c.bytes(&INS);
                let (_, sw) = send(&mut card, &bytes);
                let cmd = applet::Command::parse(&bytes);
                // 61xx: done, the answer waits for GET RESPONSE.
                if let Ok(cmd) = cmd
                    && (sw == sw::OK || sw >> 8 == 0x61)
                    && !cmd.class().is_interindustry()
                    && !cmd.class().is_chained()
                {
                    match (cmd.ins(), cmd.p1()) {
                        (0x22, 0x00) => {
                            let by = match cmd.data() {
                                [a, b, c, d] => u32::from_be_bytes([*a, *b, *c, *d]),
                                _ => 1,
                            };
                            expected += by;
                        }
                        (0x26, _) => expected += 1,
                        (0x24, _) => expected = 0,
                        _ => {}
                    }
                }
            }
            DiagOp::Verify(right) => {
                let pin: &[u8] = if *right { b"1234" } else { b"0000" };
                send(&mut card, &apdu(0x00, 0x20, 0x00, 0x81, pin, None));
            }
            DiagOp::Reset => {
                card.reset();
                select(&mut card, &apps::diag::AID);
            }
        }
        assert_eq!(diag_counter(&mut card), expected, "after {op:?}");
    }
}

/// What the credit target starts from: an active wallet and its issuer.
struct Wallet {
    state: Zeroizing<Vec<u8>>,
    issuer: EcdsaKeyPair,
    issuer_key: credit::IssuerPublicKey,
    card_key: [u8; 33],
}

/// The offline payment example policy, which gates GENERATE PAYMENT CODE.
const PAYMENT_POLICY: &str = include_str!("../../../policies/examples/offline-payment.toml");
const GENERATED_AT: u32 = 1_795_860_000; // 2026-11-28 08:00 UTC

fn token(card_key: [u8; 33], issuer: &credit::IssuerPublicKey) -> CreditToken {
    CreditToken {
        token_id: [1, 2, 3, 4, 5, 6, 7, 8],
        generated_at: GENERATED_AT,
        valid_for: 30 * 86_400,
        allowed_uses: 50,
        threshold: Money { minor: 500_000, currency: 156 },
        payees: Payees { merchant_ids: vec!["SHOP-A".into()], categories: vec![5411] },
        random: [9; 8],
        card_public_key: card_key,
        issuer_key_id: issuer.key_id,
        encrypted_identity: [0x5A; credit::token::ENCRYPTED_IDENTITY_LEN],
    }
}

fn sign(issuer: &EcdsaKeyPair, t: &CreditToken) -> Option<CreditPaymentCode> {
    let tlv = t.encode().ok()?;
    let sig = issuer.sign(&SystemRandom::new(), &credit::code::token_signed_message(&tlv)).ok()?;
    CreditPaymentCode::assemble(tlv, sig.as_ref().to_vec()).ok()
}

fn wallet() -> &'static Wallet {
    static WALLET: OnceLock<Wallet> = OnceLock::new();
    WALLET.get_or_init(|| {
        let options =
            CardOptions { insecure_seed: Some(Zeroizing::new(b"fuzz".to_vec())), ..CardOptions::default() };
        let mut card = apps::new_card(&options).unwrap();
        card.install_policy(Some(&policies::Policy::parse(PAYMENT_POLICY, "offline-payment.toml").unwrap()))
            .unwrap();
        select(&mut card, &credit::AID);
        let (key, sw) = send(&mut card, &apdu(0x00, 0x46, 0x00, 0x00, &[], Some(0)));
        assert_eq!(sw, sw::OK);
        let card_key: [u8; 33] = tlv_value(&key, tags::CARD_PUBLIC_KEY).try_into().unwrap();
        let issuer = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let issuer_key = credit::IssuerPublicKey::new(
            KeyAlgorithm::EcdsaP256Sha256,
            issuer.public_key().as_ref().to_vec(),
        )
        .unwrap();
        let (p1, p2) = credit::apdu::p1p2(tags::ISSUER_KEY);
        assert_eq!(send(&mut card, &apdu(0x00, 0xDA, p1, p2, &issuer_key.encode(), None)).1, sw::OK);
        let code = sign(&issuer, &token(card_key, &issuer_key)).unwrap();
        let (p1, p2) = credit::apdu::p1p2(tags::PAYMENT_CODE);
        assert_eq!(send(&mut card, &apdu(0x00, 0xDA, p1, p2, &code.encoded, None)).1, sw::OK);
        Wallet { state: card.to_state_bytes(), issuer, issuer_key, card_key }
    })
}

fn tlv_value(bytes: &[u8], tag: applet::tlv::Tag) -> &[u8] {
    applet::tlv::find(bytes, tag).unwrap().unwrap_or_else(|| panic!("no {tag} in {bytes:02X?}"))
}

#[derive(Arbitrary, Debug)]
enum CreditOp {
    Cmd(Cmd),
    /// GET DATA / PUT DATA of one of the wallet's objects.
    Data {
        put: bool,
        which: u8,
        data: Vec<u8>,
    },
    /// GENERATE PAYMENT CODE with well-formed service data.
    Pay {
        cents: u32,
        minutes: u32,
        mcc: u16,
        online: bool,
    },
    /// PUT DATA of a payment code the issuer signs, with fields the fuzzer chooses.
    Reissue {
        valid_for: u32,
        uses: u16,
        threshold: u32,
        for_this_card: bool,
    },
    Verify(bool),
    Reset,
}

fn bcd(v: u64, n: usize) -> Vec<u8> {
    (0..n)
        .rev()
        .map(|k| {
            let two = (v / 100u64.pow(k as u32)) % 100;
            (((two / 10) << 4) | (two % 10)) as u8
        })
        .collect()
}

/// The credit wallet, active, behind the offline payment example policy, up to 24 commands.
/// Properties: every presentation the card answers `9000` with verifies against the card's key
/// and the stored code (`verify_presentation`), with a counter one above the last; a refused
/// GENERATE PAYMENT CODE leaves the persistent state as it was (the runtime's service
/// transaction, with the gate's counters); the counter never goes back.
pub fn credit_applet(data: &[u8]) {
    let Ok(ops) = Vec::<CreditOp>::arbitrary_take_rest(Unstructured::new(data)) else { return };
    let w = wallet();
    let mut card = Card::from_state_bytes(&w.state, apps::catalog()).unwrap();
    select(&mut card, &credit::AID);
    let mut counter = 0u16;
    const INS: [u8; 8] = [0x20, 0x24, 0x2C, 0x46, 0xCA, 0xDA, 0x50, 0xC0];
    for op in ops.iter().take(24) {
        let bytes = match op {
            CreditOp::Cmd(c) => c.bytes(&INS),
            CreditOp::Data { put, which, data } => {
                let (p1, p2) = credit::apdu::p1p2(credit::apdu::GET_DATA_TAGS[usize::from(*which) % 5]);
                if *put {
                    apdu(0x00, 0xDA, p1, p2, data, None)
                } else {
                    apdu(0x00, 0xCA, p1, p2, &[], Some(0))
                }
            }
            CreditOp::Pay { cents, minutes, mcc, online } => {
                let at = GENERATED_AT + minutes % (40 * 24 * 60) * 60;
                let (date, time) = credit::emv::emv_date_time(at).unwrap();
                let mut f = applet::tlv::Writer::new();
                f.primitive(service_data::AMOUNT, &bcd(u64::from(*cents), 6));
                f.primitive(service_data::CURRENCY, &[0x01, 0x56]);
                f.primitive(service_data::DATE, &date).primitive(service_data::TIME, &time);
                f.primitive(service_data::MCC, &bcd(u64::from(*mcc % 10_000), 2));
                f.primitive(service_data::MERCHANT, b"SHOP-A         ");
                f.primitive(service_data::ONLINE, &[u8::from(*online)]);
                f.primitive(tags::UNPREDICTABLE_NUMBER, &cents.to_be_bytes());
                apdu(0x80, 0x50, 0x00, 0x00, f.as_bytes(), Some(0))
            }
            CreditOp::Reissue { valid_for, uses, threshold, for_this_card } => {
                let mut t = token(w.card_key, &w.issuer_key);
                t.valid_for = *valid_for;
                t.allowed_uses = *uses;
                t.threshold.minor = u64::from(*threshold);
                if !for_this_card {
                    t.card_public_key[1] ^= 1;
                }
                let Some(code) = sign(&w.issuer, &t) else { continue };
                let (p1, p2) = credit::apdu::p1p2(tags::PAYMENT_CODE);
                apdu(0x00, 0xDA, p1, p2, &code.encoded, None)
            }
            CreditOp::Verify(right) => {
                let pin: &[u8] = if *right { b"1234" } else { b"0000" };
                apdu(0x00, 0x20, 0x00, 0x81, pin, None)
            }
            CreditOp::Reset => {
                card.reset();
                select(&mut card, &credit::AID);
                continue;
            }
        };
        let before = card.to_state_bytes();
        let (resp, sw) = send(&mut card, &bytes);
        let Ok(cmd) = applet::Command::parse(&bytes) else { continue };
        if cmd.ins() != 0x50 || cmd.class().is_interindustry() || cmd.class().is_chained() {
            continue;
        }
        if sw == sw::OK {
            let code = CreditPaymentCode::decode(&w_code(&mut card)).expect("the wallet's code decodes");
            let parts = credit::raw_children(&resp).expect("a presentation is TLV");
            let (_, presentation_tlv) = parts.iter().find(|(t, _)| *t == tags::PRESENTATION).expect("E3");
            let signature = tlv_value(&resp, tags::CARD_SIGNATURE);
            verify_presentation(&code.token.card_public_key, presentation_tlv, &code.hash(), signature)
                .expect("the card's presentation verifies");
            let p = Presentation::decode(presentation_tlv).expect("the card's presentation decodes");
            assert!(p.counter > counter, "counter went from {counter} to {}", p.counter);
            counter = p.counter;
        } else if sw >> 8 != 0x61 {
            assert!(
                card.to_state_bytes() == before,
                "GENERATE PAYMENT CODE refused with {sw:04X} changed the card"
            );
        }
    }
}

/// The payment code the wallet holds (GET DATA `E2`).
fn w_code(card: &mut Card) -> Vec<u8> {
    let (p1, p2) = credit::apdu::p1p2(tags::PAYMENT_CODE);
    let (data, sw) = send(card, &apdu(0x00, 0xCA, p1, p2, &[], Some(0)));
    assert_eq!(sw, sw::OK);
    data
}

#[derive(Arbitrary, Debug)]
enum AdminOp {
    Cmd(Cmd),
    /// VERIFY the admin PIN, right or wrong.
    Verify(bool),
    /// PUT DATA DF6A of policy text: one of the examples with bytes the fuzzer changes, chained
    /// in `chunk`-byte parts when non-zero.
    Put {
        example: u8,
        edits: Vec<(u16, u8)>,
        chunk: u8,
    },
    /// PUT DATA DF6A of any bytes.
    PutRaw(Vec<u8>),
    Reset,
}

const EXAMPLES: [&str; 4] = [
    super::card::DIAG_POLICY,
    PAYMENT_POLICY,
    include_str!("../../../policies/examples/door-access.toml"),
    include_str!("../../../policies/examples/transit.toml"),
];

/// The stored policy text, read with GET DATA DF6A (`None`: no policy).
fn stored_policy(card: &mut Card) -> Option<Vec<u8>> {
    let (text, sw) = send(card, &[0x00, 0xCA, 0xDF, 0x6A, 0x00]);
    let (text, sw) = if sw >> 8 == 0x61 {
        let mut all = text;
        let mut sw = sw;
        while sw >> 8 == 0x61 {
            let (more, next) = send(card, &[0x00, 0xC0, 0x00, 0x00, 0x00]);
            all.extend_from_slice(&more);
            sw = next;
        }
        (all, sw)
    } else {
        (text, sw)
    };
    match sw {
        sw::OK => Some(text),
        sw::REFERENCED_DATA_NOT_FOUND => None,
        other => panic!("GET DATA DF6A answered {other:04X}"),
    }
}

/// The policy administration applet, with the diag policy installed, up to 16 operations.
/// Property: the stored policy changes only with a PUT DATA that answered `9000`, which needs
/// the admin PIN verified first (since the last reset, when no raw command touched the PIN), and then it is exactly the text sent;
/// a refused PUT DATA (bad TOML, bad policy, no PIN) leaves the policy as it was.
pub fn admin_applet(data: &[u8]) {
    let Ok(ops) = Vec::<AdminOp>::arbitrary_take_rest(Unstructured::new(data)) else { return };
    let options =
        CardOptions { admin_pin: Some(Zeroizing::new(b"87654321".to_vec())), ..CardOptions::default() };
    let mut card = apps::new_card(&options).unwrap();
    card.install_policy(Some(&policies::Policy::parse(super::card::DIAG_POLICY, "diag.toml").unwrap()))
        .unwrap();
    select(&mut card, &admin::AID);
    let mut policy = stored_policy(&mut card);
    let mut verified = Some(false);
    const INS: [u8; 5] = [0x20, 0x24, 0xDA, 0xCA, 0xC0];
    for op in ops.iter().take(16) {
        let (sent, sw) = match op {
            AdminOp::Cmd(c) => {
                let bytes = c.bytes(&INS);
                send(&mut card, &bytes);
                let changing = applet::Command::parse(&bytes).is_ok_and(|c| {
                    c.ins() == 0x24 || c.ins() == 0x20 || (c.ins() == 0xDA && c.p1p2() == admin::POLICY_TAG)
                });
                if changing {
                    // The PIN's state is the fuzzer's now, until the next known VERIFY or reset;
                    // the policy is re-read.
                    verified = None;
                    policy = stored_policy(&mut card);
                }
                continue;
            }
            AdminOp::Verify(right) => {
                let pin: &[u8] = if *right { b"87654321" } else { b"00000000" };
                let (_, sw) = send(&mut card, &apdu(0x00, 0x20, 0x00, 0x01, pin, None));
                verified = Some(sw == sw::OK);
                continue;
            }
            AdminOp::Put { example, edits, chunk } => {
                let mut text = EXAMPLES[usize::from(*example) % EXAMPLES.len()].as_bytes().to_vec();
                for &(at, byte) in edits.iter().take(8) {
                    let at = usize::from(at) % text.len();
                    text[at] = byte;
                }
                let mut sw = sw::OK;
                if *chunk == 0 {
                    sw = send(&mut card, &apdu(0x00, 0xDA, 0xDF, 0x6A, &text, None)).1;
                } else {
                    let parts: Vec<&[u8]> = text.chunks(usize::from(*chunk)).collect();
                    for (i, part) in parts.iter().enumerate() {
                        let cla = if i + 1 < parts.len() { 0x10 } else { 0x00 };
                        sw = send(&mut card, &apdu(cla, 0xDA, 0xDF, 0x6A, part, None)).1;
                        if sw != sw::OK {
                            break;
                        }
                    }
                }
                (text, sw)
            }
            AdminOp::PutRaw(bytes) => {
                let sw = send(&mut card, &apdu(0x00, 0xDA, 0xDF, 0x6A, bytes, None)).1;
                (bytes.clone(), sw)
            }
            AdminOp::Reset => {
                card.reset();
                select(&mut card, &admin::AID);
                verified = Some(false);
                continue;
            }
        };
        let now = stored_policy(&mut card);
        if sw == sw::OK {
            assert_ne!(verified, Some(false), "PUT DATA DF6A succeeded without the admin PIN");
            let want = if sent.is_empty() { None } else { Some(sent) };
            assert!(now == want, "the stored policy is not the text sent");
        } else {
            assert!(now == policy, "PUT DATA refused with {sw:04X} changed the policy");
        }
        policy = now;
    }
}
