//! The tearing campaign (RELIABILITY.md, "Tearing"): power is cut at **every** persistent write of
//! a card's life — creation as `cardgate card init` makes it (seeded DRBG, the three applets, a
//! policy), credit wallet personalization, PIN verification (right and wrong, PIN and PUK), gated
//! services and payment code generation — and then at random points of random command sequences
//! on a card kept in a state file ([`FileCard`]).
//!
//! After every tear the card is powered up again and checked:
//! - its persistent state is the state before the torn step or the state after it (computed on an
//!   untorn copy), never between; PIN objects are compared without their try counters, which
//!   are checked on their own;
//! - no PIN or PUK try counter is ever higher than before the torn step (a try is never refunded);
//! - the policy's counters equal the applet counters of the services they gate (diag `USE`, the
//!   wallet's GENERATE PAYMENT CODE), and both equal the number of services answered `9000`;
//! - the wallet's sequence counter never goes back; its key is a whole P-256 key, and its code
//!   decodes, carries the issuer's valid signature and names the card's key;
//! - the state survives a round trip through the state file (and, for the random runs, the card
//!   reopened from the file it saved holds exactly the powered-up state).
//!
//! `make test` runs every tear point and [`DEFAULT_RUNS`] random runs (a few seconds); the long
//! campaign (`scripts/reliability/tearing.sh`) sets `TEAR_RUNS`. `TEAR_SEED` replays a run; the
//! seed is printed. Figures are printed as Markdown (with `--nocapture`).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use applet::apps::{self, admin, credit, diag};
use applet::credit::code::{raw_children, token_signed_message};
use applet::credit::presentation::verify_presentation;
use applet::credit::{
    CreditPaymentCode, CreditToken, IssuerPublicKey, KeyAlgorithm, Money, Payees, Presentation,
};
use applet::credit::{emv, tags};
use applet::gate::service_data;
use applet::store::ObjectKey;
use applet::tlv::Writer;
use applet::{Card, CardConfig, FileCard, drbg};
use aws_lc_rs::encoding::{AsBigEndian, EcPublicKeyCompressedBin};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair};
use policies::counters::WindowCounter;
use policies::{Policy, ServiceData};
use zeroize::Zeroizing;

/// Random runs in `make test`.
const DEFAULT_RUNS: u64 = 200;
/// 2026-11-28T10:00:00Z: every command of the campaign happens on this day.
const NOW: u32 = 1_795_860_000;
const PIN: &[u8] = b"1234";
const PUK: &[u8] = b"12345678";
const ADMIN_PIN: &[u8] = b"87654321";
const PIN_TRIES: u8 = 3;
const PUK_TRIES: u8 = 5;
const SEED: &[u8] = b"tearing campaign";

/// Instance numbers, in install order (`apps::new_card`).
const DIAG_OWNER: u16 = 1;
const WALLET_OWNER: u16 = 2;
const ADMIN_OWNER: u16 = 3;
/// The applets' objects the campaign reads (the applets' own numbering).
const DIAG_COUNTER: ObjectKey = ObjectKey { owner: DIAG_OWNER, id: 1 };
const WALLET_STATE: ObjectKey = ObjectKey { owner: WALLET_OWNER, id: 1 };
const WALLET_COUNTER: ObjectKey = ObjectKey { owner: WALLET_OWNER, id: 2 };
const WALLET_KEY: ObjectKey = ObjectKey { owner: WALLET_OWNER, id: 3 };
const WALLET_CODE: ObjectKey = ObjectKey { owner: WALLET_OWNER, id: 5 };
/// Every PIN and PUK record: written outside transactions, so compared on their own. The try
/// limits are [`PIN_TRIES`] for PINs and [`PUK_TRIES`] for PUKs (the admin PIN: its default).
const PINS: [(ObjectKey, &str); 5] = [
    (ObjectKey { owner: DIAG_OWNER, id: diag::PIN.object }, "diag PIN"),
    (ObjectKey { owner: DIAG_OWNER, id: diag::PUK.object }, "diag PUK"),
    (ObjectKey { owner: WALLET_OWNER, id: credit::PIN.object }, "wallet PIN"),
    (ObjectKey { owner: WALLET_OWNER, id: credit::PUK.object }, "wallet PUK"),
    (ObjectKey { owner: ADMIN_OWNER, id: admin::ADMIN_PIN.object }, "admin PIN"),
];

const SELECT_WALLET: &str = "00A4040C07 A0000008580101";
const SELECT_DIAG: &str = "00A4040C0A F0434152444741544501";

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

fn sw_of(r: &[u8]) -> u16 {
    u16::from_be_bytes([r[r.len() - 2], r[r.len() - 1]])
}

/// The policy the campaign's card enforces: diag USE and GENERATE PAYMENT CODE, both counted per
/// day (with limits the campaign never reaches).
fn policy() -> Policy {
    let text = format!(
        "version = 1\nzone = \"UTC\"\n\n[service.use]\napplet = \"{}\"\nins = 0x26\n\n\
         [[service.use.limit]]\nperiod = \"day\"\nmax_uses = 1000000\n\n\
         [service.pay]\napplet = \"{}\"\nins = 0x50\n\n\
         [[service.pay.limit]]\nperiod = \"day\"\nmax_uses = 1000000\n",
        hex::encode_upper(diag::AID),
        hex::encode_upper(applet::credit::AID),
    );
    Policy::parse(&text, "tearing.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// A small deterministic generator (SplitMix64): the campaign is replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// The issuer: its key pair, and the codes it signed (one per card key, so that replays of a
/// seeded card see the same bytes).
struct Issuer {
    pair: EcdsaKeyPair,
    key: IssuerPublicKey,
    codes: HashMap<[u8; 33], Vec<u8>>,
}

impl Issuer {
    fn new() -> Issuer {
        let pair = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let key =
            IssuerPublicKey::new(KeyAlgorithm::EcdsaP256Sha256, pair.public_key().as_ref().to_vec()).unwrap();
        Issuer { pair, key, codes: HashMap::new() }
    }

    fn code_for(&mut self, card_key: [u8; 33]) -> Vec<u8> {
        let (pair, key_id) = (&self.pair, self.key.key_id);
        self.codes
            .entry(card_key)
            .or_insert_with(|| {
                let token = CreditToken {
                    token_id: [0x11; 8],
                    generated_at: NOW - 60,
                    valid_for: 86_400,
                    allowed_uses: u16::MAX,
                    threshold: Money { minor: 20_000, currency: 156 },
                    payees: Payees::default(),
                    random: [0x22; 8],
                    card_public_key: card_key,
                    issuer_key_id: key_id,
                    encrypted_identity: [0x33; 57],
                };
                let tlv = token.encode().unwrap();
                let sig = pair.sign(&SystemRandom::new(), &token_signed_message(&tlv)).unwrap();
                CreditPaymentCode::assemble(tlv, sig.as_ref().to_vec()).unwrap().encoded
            })
            .clone()
    }
}

/// The compressed public key of the PKCS#8 key pair the wallet stores, if it holds a whole one.
fn wallet_public_key(card: &Card) -> Option<Result<[u8; 33], String>> {
    let pkcs8 = card.store().read(WALLET_KEY)?;
    Some(
        EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
            .map_err(|e| format!("the wallet's key object is not a whole key: {e}"))
            .and_then(|pair| {
                let c: EcPublicKeyCompressedBin =
                    pair.public_key().as_be_bytes().map_err(|e| e.to_string())?;
                <[u8; 33]>::try_from(c.as_ref()).map_err(|e| e.to_string())
            }),
    )
}

fn put_data(tag: applet::tlv::Tag, data: &[u8]) -> Vec<u8> {
    let (p1, p2) = applet::credit::apdu::p1p2(tag);
    applet::credit::apdu::command(0x00, 0xDA, p1, p2, data, None)
}

fn verify(pin: &[u8]) -> Vec<u8> {
    [&[0x00, 0x20, 0x00, 0x81, pin.len() as u8][..], pin].concat()
}

/// RESET RETRY COUNTER with the PUK only: the PIN gets its tries back.
fn unblock() -> Vec<u8> {
    [&[0x00, 0x2C, 0x01, 0x81, PUK.len() as u8][..], PUK].concat()
}

fn diag_use(n: u64) -> Vec<u8> {
    let time = time_words(n);
    let data = service_data::to_tlv(&ServiceData::parse([time.as_str()]).unwrap()).unwrap();
    [&[0x80, 0x26, 0x00, 0x00, data.len() as u8][..], &data, &[0x00]].concat()
}

fn time_words(n: u64) -> String {
    // NOW is 10:00:00 UTC: within the same hour, the same day.
    let s = n % 3600;
    format!("time=2026-11-28T10:{:02}:{:02}Z", s / 60, s % 60)
}

/// GENERATE PAYMENT CODE for `n`: an amount on odd `n`, none on even.
fn pay(n: u64) -> Vec<u8> {
    let at = NOW + (n % 3600) as u32;
    let (date, time) = emv::emv_date_time(at).unwrap();
    let mut w = Writer::new();
    if n % 2 == 1 {
        w.primitive(tags::AMOUNT, &emv::amount_n12(100 + n % 10_000).unwrap());
        w.primitive(tags::CURRENCY, &emv::currency_n3(156).unwrap());
    }
    w.primitive(tags::DATE, &date);
    w.primitive(tags::TIME, &time);
    w.primitive(tags::UNPREDICTABLE_NUMBER, &(n as u32).to_be_bytes());
    let data = w.into_bytes();
    [&[0x80, 0x50, 0x00, 0x00, data.len() as u8][..], &data, &[0x00]].concat()
}

/// What the campaign compares: every object but the DRBG state (written outside transactions by
/// design), PIN records without their try counter, the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct View {
    applets: Vec<(applet::Aid, &'static str)>,
    default_applet: Option<applet::Aid>,
    objects: BTreeMap<ObjectKey, Vec<u8>>,
}

fn view(card: &Card) -> View {
    let objects = card
        .store()
        .list()
        .filter(|(k, _, _)| *k != drbg::STATE_OBJECT)
        .map(|(k, _, _)| {
            let mut bytes = card.store().read(k).unwrap().to_vec();
            if PINS.iter().any(|(p, _)| *p == k) && !bytes.is_empty() {
                bytes[0] = 0;
            }
            (k, bytes)
        })
        .collect();
    View { applets: card.applets().collect(), default_applet: card.config().default_applet, objects }
}

/// Where two views differ, without printing object contents (some are keys and PINs).
fn diff(a: &View, b: &View) -> String {
    if a.applets != b.applets || a.default_applet != b.default_applet {
        return format!("registry {:?} / {:?}", a.applets, b.applets);
    }
    let keys: std::collections::BTreeSet<_> = a.objects.keys().chain(b.objects.keys()).collect();
    let differing: Vec<String> = keys
        .into_iter()
        .filter(|k| a.objects.get(k) != b.objects.get(k))
        .map(|k| format!("object {:04X}/{:04X}", k.owner, k.id))
        .collect();
    differing.join(", ")
}

/// A try is never refunded: after a torn command each counter is at most what it was, except that
/// a PIN whose right value the command presented may be back at its limit (a match restores the
/// tries, after the decrement was written).
fn tries_ok(before: Option<u8>, now: Option<u8>, presented_right: bool) -> bool {
    match (before, now) {
        (Some(b), Some(n)) => n <= b || (presented_right && (n == PIN_TRIES || n == PUK_TRIES)),
        (None, _) => true,
        (Some(_), None) => false,
    }
}

/// The PIN records (indexes into [`PINS`]) whose right value a step or operation presents.
fn presents_right(name: &str) -> &'static [usize] {
    match name {
        "right diag PIN" | "DiagPin(true)" => &[0],
        "right wallet PIN" | "WalletPin(true)" => &[2],
        "unblock with the PUK" | "Unblock" => &[2, 3],
        _ => &[],
    }
}

fn tries(card: &Card) -> [Option<u8>; 5] {
    PINS.map(|(k, _)| card.store().read(k).and_then(|b| b.first().copied()))
}

fn uses(card: &Card, service: &str) -> u64 {
    match card.counters().unwrap().get(service).windows.first() {
        Some(WindowCounter::Calendar { uses, .. }) => u64::from(*uses),
        None => 0,
        Some(other) => panic!("unexpected counter {other:?}"),
    }
}

fn read_u(card: &Card, key: ObjectKey) -> u64 {
    card.store().read(key).map_or(0, |b| b.iter().fold(0, |acc, &x| (acc << 8) | u64::from(x)))
}

/// What the campaign saw.
#[derive(Default)]
struct Figures {
    tear_points: u64,
    tears: u64,
    runs: u64,
    commands: u64,
    reloads: u64,
    completed_services: u64,
    violations: Vec<String>,
}

impl Figures {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            let message = what();
            if self.violations.len() < 20 {
                eprintln!("VIOLATION: {message}");
            }
            self.violations.push(message);
        }
    }
}

/// What the host knows of the card: services answered `9000`, the highest wallet counter seen.
#[derive(Debug, Clone, Copy, Default)]
struct Model {
    uses: u64,
    pays: u64,
    max_counter: u64,
}

/// The invariants that hold after every step, torn or not.
fn check_card(card: &Card, model: &mut Model, issuer: &Issuer, f: &mut Figures, at: &str) {
    let (diag_counter, wallet_counter) = (read_u(card, DIAG_COUNTER), read_u(card, WALLET_COUNTER));
    let policy = card.policy().ok().flatten().is_some();
    if policy {
        let (u, p) = (uses(card, "use"), uses(card, "pay"));
        f.check(u == diag_counter && u == model.uses, || {
            format!("{at}: policy counts {u} uses, the applet {diag_counter}, {} answered", model.uses)
        });
        f.check(p == wallet_counter && p == model.pays, || {
            format!(
                "{at}: policy counts {p} payment codes, the wallet {wallet_counter}, {} answered",
                model.pays
            )
        });
    }
    f.check(wallet_counter >= model.max_counter, || {
        format!("{at}: the wallet counter went back from {} to {wallet_counter}", model.max_counter)
    });
    model.max_counter = model.max_counter.max(wallet_counter);
    // The wallet: state 1 empty (no key), 2 key generated (no code), 3 active (key and code).
    let state = card.store().read(WALLET_STATE).map(<[u8]>::to_vec);
    let key = wallet_public_key(card);
    let code = card.store().read(WALLET_CODE);
    match (state.as_deref(), &key, code) {
        (None, None, None) | (Some([1]), None, None) => {}
        (Some([2]), Some(Ok(_)), None) => {}
        (Some([3]), Some(Ok(key)), Some(code)) => {
            let ok = CreditPaymentCode::decode(code)
                .map_err(|e| e.to_string())
                .and_then(|c| c.verify(&issuer.key).map(|()| c).map_err(|e| e.to_string()))
                .and_then(|c| {
                    if c.token.card_public_key == *key { Ok(()) } else { Err("names another key".into()) }
                });
            f.check(ok.is_ok(), || format!("{at}: the stored code is not whole: {ok:?}"));
        }
        _ => f.check(false, || {
            format!(
                "{at}: wallet state {state:?}, key {:?}, code present {}",
                key.as_ref().map(|k| k.as_ref().map(|_| "whole")),
                code.is_some()
            )
        }),
    }
    // The state file holds exactly this state.
    let bytes = card.to_state_bytes();
    let again = Card::from_state_bytes(&bytes, apps::catalog()).map(|c| view(&c));
    f.check(again.as_ref().is_ok_and(|v| *v == view(card)), || format!("{at}: state file round trip"));
}

/// Makes a step's APDU from the card as it is (the code to store names the card's key).
type MakeApdu = Box<dyn Fn(&mut Card, &mut Issuer) -> Vec<u8>>;
/// An operation's APDU, from a number that varies time, amount and unpredictable number.
type NumberedApdu = (&'static str, fn(u64) -> Vec<u8>);

/// One step of a card's life: an API call (creation) or an APDU built from the card as it is.
enum Step {
    Api(&'static str, fn(&mut Card) -> Result<(), String>),
    Apdu(&'static str, MakeApdu),
}

impl Step {
    fn name(&self) -> &'static str {
        match self {
            Step::Api(n, _) | Step::Apdu(n, _) => n,
        }
    }
}

fn install(card: &mut Card, class: &str, aid: applet::Aid, params: &[u8]) -> Result<(), String> {
    card.install(class, aid, params).map_err(|e| e.to_string())
}

fn diag_params() -> Zeroizing<Vec<u8>> {
    Zeroizing::new(diag::install_params(PIN, PUK, PIN_TRIES, PUK_TRIES))
}

/// A card's life, from `card init` (as `apps::new_card` makes a card, with a seed and a policy)
/// through personalization to PINs, services and payment codes.
fn life() -> Vec<Step> {
    let apdu =
        |name, text: &'static str| Step::Apdu(name, Box::new(move |_: &mut Card, _: &mut Issuer| h(text)));
    let mut steps = vec![
        Step::Api("seed the DRBG", |c| c.make_insecure_test_card(SEED).map_err(|e| e.to_string())),
        Step::Api("install diag", |c| install(c, diag::CLASS.name, diag::aid(), &diag_params())),
        Step::Api("install wallet", |c| install(c, credit::CLASS.name, credit::aid(), &diag_params())),
        Step::Api("install admin", |c| {
            install(
                c,
                admin::CLASS.name,
                admin::aid(),
                &admin::install_params(ADMIN_PIN, admin::DEFAULT_TRIES),
            )
        }),
        Step::Api("install the policy", |c| c.install_policy(Some(&policy())).map_err(|e| e.to_string())),
        Step::Api("default applet", |c| c.set_default_applet(Some(diag::aid())).map_err(|e| e.to_string())),
        apdu("select wallet", SELECT_WALLET),
        apdu("generate key", "0046000000"),
        Step::Apdu("put issuer key", Box::new(|_, i| put_data(tags::ISSUER_KEY, &i.key.encode()))),
        Step::Apdu(
            "put code",
            Box::new(|c, i| {
                let key = wallet_public_key(c).and_then(Result::ok).unwrap_or([2; 33]);
                put_data(tags::PAYMENT_CODE, &i.code_for(key))
            }),
        ),
    ];
    let ops: [NumberedApdu; 9] = [
        ("wrong wallet PIN", |_| verify(b"0000")),
        ("right wallet PIN", |_| verify(PIN)),
        ("payment code", pay),
        ("payment code", pay),
        ("wrong wallet PIN", |_| verify(b"9999")),
        ("wrong wallet PIN", |_| verify(b"9999")),
        ("wrong wallet PIN (blocks)", |_| verify(b"9999")),
        ("unblock with the PUK", |_| unblock()),
        ("payment code", pay),
    ];
    for (n, (name, make)) in ops.into_iter().enumerate() {
        steps.push(Step::Apdu(name, Box::new(move |_, _| make(n as u64))));
    }
    steps.push(apdu("select diag", SELECT_DIAG));
    let ops: [NumberedApdu; 5] = [
        ("diag use", diag_use),
        ("wrong diag PIN", |_| verify(b"0000")),
        ("right diag PIN", |_| verify(PIN)),
        ("diag use", diag_use),
        ("diag use", diag_use),
    ];
    for (n, (name, make)) in ops.into_iter().enumerate() {
        steps.push(Step::Apdu(name, Box::new(move |_, _| make(100 + n as u64))));
    }
    steps
}

fn new_card() -> Card {
    let config = CardConfig { name: "TEAR".into(), ..CardConfig::default() };
    Card::new(config, apps::catalog()).unwrap()
}

/// Runs a step; returns whether it completed (API call succeeded, or APDU answered), and the
/// response of an APDU.
fn run_step(card: &mut Card, step: &Step, issuer: &mut Issuer, tear: u64) -> (bool, Vec<u8>) {
    match step {
        Step::Api(_, f) => {
            card.store_mut().tear_after(tear);
            let r = f(card);
            card.store_mut().tear_after(0);
            if r.is_err() {
                // As after a power loss: the next use of the card powers it up.
                card.power_off();
            }
            (r.is_ok(), Vec::new())
        }
        Step::Apdu(_, make) => {
            let apdu = make(card, issuer);
            card.store_mut().tear_after(tear);
            let r = card.process(&apdu);
            card.store_mut().tear_after(0);
            (!card.last_command_torn(), r)
        }
    }
}

/// What an answered step tells the host: a service completed.
fn learn(model: &mut Model, step: &Step, response: &[u8], f: &mut Figures) {
    if response.len() >= 2 && sw_of(response) == 0x9000 {
        match step.name() {
            "diag use" => model.uses += 1,
            "payment code" => model.pays += 1,
            _ => return,
        }
        f.completed_services += 1;
    }
}

/// Replays `steps[..upto]` untorn on a new card.
fn replay(steps: &[Step], upto: usize, issuer: &mut Issuer, f: &mut Figures) -> (Card, Model) {
    let mut card = new_card();
    let mut model = Model::default();
    for step in &steps[..upto] {
        let (done, r) = run_step(&mut card, step, issuer, 0);
        assert!(done, "untorn step {} failed", step.name());
        learn(&mut model, step, &r, f);
        f.commands += 1;
    }
    model.max_counter = model.pays;
    (card, model)
}

/// Write events of step `i` on an untorn copy.
fn writes_of(steps: &[Step], i: usize, issuer: &mut Issuer, f: &mut Figures) -> u64 {
    let (mut card, _) = replay(steps, i, issuer, f);
    let before = card.store().writes();
    run_step(&mut card, &steps[i], issuer, 0);
    card.store().writes() - before
}

/// Tears step `i` at write `tear`, checks the card, retries the step and finishes the life,
/// checking after every step.
fn tear_one(steps: &[Step], i: usize, tear: u64, issuer: &mut Issuer, f: &mut Figures) {
    let at = format!("step {i} ({}) torn at write {tear}", steps[i].name());
    let (mut after_card, _) = replay(steps, i + 1, issuer, f);
    after_card.power_on();
    let after = view(&after_card);
    let (mut card, mut model) = replay(steps, i, issuer, f);
    let (before, tries_before) = (view(&card), tries(&card));
    let (done, _) = run_step(&mut card, &steps[i], issuer, tear);
    f.commands += 1;
    f.check(!done, || format!("{at}: the step completed"));
    f.tears += 1;
    card.power_on();
    let now = view(&card);
    f.check(now == before || now == after, || {
        format!("{at}: neither before ({}) nor after ({})", diff(&now, &before), diff(&now, &after))
    });
    let tries_now = tries(&card);
    for (p, (_, name)) in PINS.iter().enumerate() {
        let (b, n) = (tries_before[p], tries_now[p]);
        let right = presents_right(steps[i].name()).contains(&p);
        f.check(tries_ok(b, n, right), || format!("{at}: {name} tries went from {b:?} to {n:?}"));
    }
    check_card(&card, &mut model, issuer, f, &at);
    // Power is back: the host retries the step (after selecting again what power-up forgot), then
    // goes on with the card's life.
    if let Some(select) = steps[..i].iter().rev().find(|s| s.name().starts_with("select")) {
        run_step(&mut card, select, issuer, 0);
    }
    for (j, step) in steps.iter().enumerate().skip(i) {
        let (done, r) = run_step(&mut card, step, issuer, 0);
        f.commands += 1;
        f.check(done, || format!("{at}: retry of step {j} ({}) failed", step.name()));
        learn(&mut model, step, &r, f);
        check_card(&card, &mut model, issuer, f, &format!("{at}, then step {j} ({})", step.name()));
    }
    let wallet_active = card.store().read(WALLET_STATE) == Some(&[3][..]);
    f.check(wallet_active, || format!("{at}: the wallet is not active at the end of the life"));
}

/// The random operations of the second part, each starting with its SELECT.
#[derive(Debug, Clone, Copy)]
enum Op {
    Use,
    Pay,
    WalletPin(bool),
    DiagPin(bool),
    Unblock,
    PowerCycle,
}

impl Op {
    fn random(rng: &mut Rng) -> Op {
        match rng.range(0, 9) {
            0..=2 => Op::Pay,
            3..=4 => Op::Use,
            5 => Op::WalletPin(true),
            6 => Op::WalletPin(false),
            7 => Op::DiagPin(rng.chance(50)),
            8 => Op::Unblock,
            _ => Op::PowerCycle,
        }
    }

    fn apdus(self, n: u64) -> (&'static str, Vec<u8>) {
        match self {
            Op::Use => (SELECT_DIAG, diag_use(n)),
            Op::Pay => (SELECT_WALLET, pay(n)),
            Op::WalletPin(right) => (SELECT_WALLET, verify(if right { PIN } else { b"0000" })),
            Op::DiagPin(right) => (SELECT_DIAG, verify(if right { PIN } else { b"0000" })),
            Op::Unblock => (SELECT_WALLET, unblock()),
            Op::PowerCycle => unreachable!("no APDU"),
        }
    }
}

/// One random run on a card in a state file: random operations, some torn at a random write;
/// after each tear the card is reopened from its file.
fn random_run(rng: &mut Rng, start: &[u8], dir: &Path, issuer: &Issuer, base: &Model, f: &mut Figures) {
    let path = dir.join("card");
    std::fs::write(&path, start).unwrap();
    let mut file = FileCard::open(&path, apps::catalog()).unwrap();
    let mut model = *base;
    let ops = rng.range(3, 12);
    for k in 0..ops {
        let op = Op::random(rng);
        let at = format!("operation {k} ({op:?})");
        if let Op::PowerCycle = op {
            file.card_mut().reset();
            continue;
        }
        let n = rng.next() % 10_000;
        let (select, apdu) = op.apdus(n);
        file.process(&h(select)).unwrap();
        let tear = if rng.chance(60) { rng.range(1, 6) } else { 0 };
        let tries_before = tries(file.card());
        file.card_mut().store_mut().tear_after(tear);
        let r = file.process(&apdu).unwrap();
        file.card_mut().store_mut().tear_after(0);
        f.commands += 2;
        let torn = file.card().last_command_torn();
        if torn {
            f.tears += 1;
            let tries_now = tries(file.card());
            for (p, (_, name)) in PINS.iter().enumerate() {
                let (b, t) = (tries_before[p], tries_now[p]);
                let right = presents_right(&format!("{op:?}")).contains(&p);
                f.check(tries_ok(b, t, right), || {
                    format!("{at} torn at {tear}: {name} tries went from {b:?} to {t:?}")
                });
            }
            // Power is back: the card is what its file says.
            let state = file.card().to_state_bytes();
            drop(file);
            file = FileCard::open(&path, apps::catalog()).unwrap();
            f.reloads += 1;
            f.check(*file.card().to_state_bytes() == *state, || format!("{at}: the file is not the card"));
        } else {
            match op {
                Op::Use if sw_of(&r) == 0x9000 => {
                    model.uses += 1;
                    f.completed_services += 1;
                    let v = u32::from_be_bytes(r[..4].try_into().unwrap());
                    f.check(u64::from(v) == model.uses, || format!("{at}: USE answered {v}"));
                }
                Op::Pay if sw_of(&r) == 0x9000 => {
                    model.pays += 1;
                    f.completed_services += 1;
                    check_presentation(file.card(), &r[..r.len() - 2], &model, f, &at);
                }
                Op::Use | Op::Pay => f.check(false, || format!("{at}: answered {:04X}", sw_of(&r))),
                Op::WalletPin(_) | Op::DiagPin(_) | Op::Unblock => {
                    let slot = match op {
                        Op::DiagPin(_) => 0,
                        _ => 2,
                    };
                    let t = tries(file.card())[slot].unwrap();
                    let expected = match (op, sw_of(&r)) {
                        (_, 0x9000) => PIN_TRIES,
                        (Op::Unblock, _) => t,
                        (_, 0x6983) => 0,
                        (_, sw) if sw & 0xFFF0 == 0x63C0 => (sw & 0xF) as u8,
                        (_, sw) => {
                            f.check(false, || format!("{at}: answered {sw:04X}"));
                            t
                        }
                    };
                    f.check(t == expected, || format!("{at}: answered {:04X} with {t} tries", sw_of(&r)));
                }
                Op::PowerCycle => {}
            }
        }
        check_card(file.card(), &mut model, issuer, f, &at);
    }
}

/// A presentation the card answered: the next counter, signed with the card's key over the code.
fn check_presentation(card: &Card, data: &[u8], model: &Model, f: &mut Figures, at: &str) {
    let parts = raw_children(data).unwrap();
    let p = Presentation::decode(parts[0].1).unwrap();
    f.check(u64::from(p.counter) == model.pays, || {
        format!("{at}: counter {} after {} codes", p.counter, model.pays)
    });
    let key = wallet_public_key(card).unwrap().unwrap();
    let code = CreditPaymentCode::decode(card.store().read(WALLET_CODE).unwrap()).unwrap();
    let sig = applet::tlv::parse_single(parts[1].1).unwrap();
    let ok = verify_presentation(&key, parts[0].1, &code.hash(), sig.value);
    f.check(ok.is_ok(), || format!("{at}: the presentation's signature: {ok:?}"));
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| v.parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a number")))
}

#[test]
fn power_cut_at_every_write_and_at_random_points_leaves_a_consistent_card() {
    let started = std::time::Instant::now();
    let runs = env_u64("TEAR_RUNS").unwrap_or(DEFAULT_RUNS);
    let seed = env_u64("TEAR_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    println!("tearing campaign: seed {seed} (TEAR_SEED={seed} replays it), {runs} random runs");
    let mut f = Figures::default();
    let mut issuer = Issuer::new();
    let steps = life();

    // Part 1: every write of every step of a card's life.
    let mut points = Vec::new();
    for i in 0..steps.len() {
        let n = writes_of(&steps, i, &mut issuer, &mut f);
        points.push(n);
        for tear in 1..=n {
            tear_one(&steps, i, tear, &mut issuer, &mut f);
        }
    }
    f.tear_points = points.iter().sum();
    let personalization = 10;
    let creation_points: u64 = points[..6].iter().sum();
    let personalization_points: u64 = points[6..personalization].iter().sum();
    assert!(creation_points >= 8 && personalization_points >= 6, "writes: {points:?}");
    let exhaustive_tears = f.tears;

    // Part 2: random runs. Half tear a random step of the life at a random write; every run then
    // goes on with random operations on the personalized card in a state file.
    let mut rng = Rng(seed);
    let (mut personalized, base) = replay(&steps, personalization, &mut issuer, &mut f);
    personalized.power_off();
    let start = personalized.to_state_bytes();
    let dir = if Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm").unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    for _ in 0..runs {
        f.runs += 1;
        if rng.chance(50) {
            let weighted: Vec<usize> = (0..steps.len()).filter(|&i| points[i] > 0).collect();
            let i = weighted[rng.range(0, weighted.len() as u64 - 1) as usize];
            let tear = rng.range(1, points[i]);
            tear_one(&steps, i, tear, &mut issuer, &mut f);
        }
        random_run(&mut rng, &start, dir.path(), &issuer, &base, &mut f);
    }

    println!();
    println!("| Figure | Value |");
    println!("|---|---|");
    println!("| Seed | `{seed}` |");
    println!(
        "| Tear points of a card's life (every write event of {} steps) | {} (creation {}, personalization {}, PINs/services/payment codes {}) |",
        steps.len(),
        f.tear_points,
        creation_points,
        personalization_points,
        f.tear_points - creation_points - personalization_points
    );
    println!("| Random runs | {} |", f.runs);
    println!(
        "| Tears (exhaustive + random) | {} ({} + {}) |",
        f.tears,
        exhaustive_tears,
        f.tears - exhaustive_tears
    );
    println!("| Commands and API calls | {} |", f.commands);
    println!("| Services answered 9000 and counted | {} |", f.completed_services);
    println!("| Card reopened from its state file after a tear | {} |", f.reloads);
    println!("| Invariant violations | {} |", f.violations.len());
    println!("| Time | {:.1} s |", started.elapsed().as_secs_f64());
    assert!(
        f.violations.is_empty(),
        "{} violations (seed {seed}), first: {}",
        f.violations.len(),
        f.violations[0]
    );
}
