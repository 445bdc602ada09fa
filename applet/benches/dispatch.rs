//! In-process APDU dispatch on one core: echo, SELECT, PIN verify, a committed counter update (in
//! memory, and saved to a state file with fsync), a service with and without the policy gate, a
//! policy-gated GENERATE PAYMENT CODE beside the bare signature; and tables over sizes (echo of
//! 4/255/4096 bytes, SELECT among 2/16/64 applets, writes of 4/256/2048 bytes, policies of 1/4/16
//! services). Not a test: figures go to BENCHMARKS.md (`scripts/bench/sections/10-runtime.sh`).
//!
//! `cargo bench -p applet --bench dispatch` (`BENCH_QUICK=1` for a short run). Prints a table for
//! people and `result <name> <ops/s> <ns/op> <allocations/op>` lines for the section script.
//!
//! Allocations per command are counted with a counting global allocator, to back the claim that the
//! echo path allocates nothing.

// The counting allocator is the one place that needs `unsafe`: `GlobalAlloc` is an unsafe trait.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use applet::apps::{self, CardOptions};
use applet::{Aid, Card, FileCard};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

struct Figure {
    key: &'static str,
    name: &'static str,
    ns_per_op: f64,
    ops_per_s: f64,
    allocs_per_op: f64,
}

/// Median of `samples` timed batches, each about `sample_time` long. `None` when `DISPATCH_ONLY`
/// is set (to profile one row) and `key` does not start with it (`op` then runs once, for the
/// checks that follow).
fn measure(key: &'static str, name: &'static str, mut op: impl FnMut()) -> Option<Figure> {
    measure_together(vec![(key, name, &mut op)]).pop()
}

/// Like [`measure`] for several operations at once: each sample times a batch of every operation
/// in turn, so that all of them see the same machine load (for rows compared with each other).
fn measure_together(rows: Vec<(&'static str, &'static str, &mut dyn FnMut())>) -> Vec<Figure> {
    let only = std::env::var("DISPATCH_ONLY").ok();
    let mut rows: Vec<_> = rows
        .into_iter()
        .filter_map(|(key, name, op)| {
            if only.as_ref().is_some_and(|only| !key.starts_with(only.as_str())) {
                op();
                return None;
            }
            Some((key, name, op))
        })
        .collect();
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let sample_time = if quick { Duration::from_millis(100) } else { Duration::from_millis(600) };
    let samples = if quick { 3 } else { 7 };
    // Warm up and size a batch for each.
    let batches: Vec<u64> = rows
        .iter_mut()
        .map(|(_, _, op)| {
            let mut batch = 1u64;
            loop {
                let start = Instant::now();
                for _ in 0..batch {
                    op();
                }
                if start.elapsed() >= sample_time / 4 || batch >= 1 << 30 {
                    let per_op = start.elapsed().as_secs_f64() / batch as f64;
                    return ((sample_time.as_secs_f64() / per_op) as u64).max(1);
                }
                batch *= 2;
            }
        })
        .collect();
    let mut per_op = vec![Vec::with_capacity(samples); rows.len()];
    let mut allocs = vec![0; rows.len()];
    for _ in 0..samples {
        for (i, (_, _, op)) in rows.iter_mut().enumerate() {
            let a0 = ALLOCATIONS.load(Ordering::Relaxed);
            let start = Instant::now();
            for _ in 0..batches[i] {
                op();
            }
            per_op[i].push(start.elapsed().as_secs_f64() / batches[i] as f64);
            allocs[i] = ALLOCATIONS.load(Ordering::Relaxed) - a0;
        }
    }
    rows.iter()
        .enumerate()
        .map(|(i, (key, name, _))| {
            per_op[i].sort_by(f64::total_cmp);
            let median = per_op[i][per_op[i].len() / 2];
            Figure {
                key,
                name,
                ns_per_op: median * 1e9,
                ops_per_s: 1.0 / median,
                allocs_per_op: allocs[i] as f64 / batches[i] as f64,
            }
        })
        .collect()
}

/// The policy of the gated rows: every rule kind that keeps state, limits that never run out.
const GATE_RULES: &str = r#"
[service.NAME.time]
hours = ["06:00-23:00"]
[service.NAME.amount]
currency = "CNY"
max = "100.00"
cvm_limit = "50.00"
[[service.NAME.limit]]
period = "day"
max_uses = 4000000000
[service.NAME.offline]
lower = 3
"#;

/// A policy binding diag USE on each of `aids`, with the rules of [`GATE_RULES`] for every one.
fn gate_policy(aids: &[Aid]) -> policies::Policy {
    let mut text = String::from("version = 1\nzone = \"Asia/Shanghai\"\n");
    for (i, aid) in aids.iter().enumerate() {
        let name = format!("use{i}");
        text.push_str(&format!(
            "[service.{name}]\napplet = \"{}\"\nins = 0x26\n",
            spaced_hex(aid.as_bytes())
        ));
        text.push_str(&GATE_RULES.replace("NAME", &name));
    }
    policies::Policy::parse(&text, "bench").unwrap()
}

/// The policy of the payment-code rows: the example policy's rules (`policies/examples/offline-payment.toml`)
/// with limits that never run out in a benchmark.
const PAYMENT_POLICY: &str = r#"
version = 1
zone = "Asia/Shanghai"
[service.payment-code]
applet = "A0 00 00 08 58 01 01"
ins = 0x50
[service.payment-code.time]
until = 2027-12-31
[service.payment-code.amount]
currency = "CNY"
min = "0.01"
max = "200.00"
cvm_limit = "300.00"
[[service.payment-code.limit]]
period = "day"
max_uses = 4000000000
max_amount = "100000000.00"
[service.payment-code.offline]
lower = 3
[service.payment-code.payee]
deny_mcc = ["7995", "6051", "4829"]
"#;

fn spaced_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(" ")
}

/// The AID of the `n`th extra diag instance: the diag AID with its last byte replaced.
fn diag_aid(n: u8) -> Aid {
    let mut aid = apps::diag::AID;
    aid[9] = n;
    Aid::from_array(aid)
}

/// A card with the default applets and `extra` more diag instances (AIDs `…02`, `…03`, …).
fn card_with(extra: u8) -> Card {
    let options = CardOptions { quota: 1 << 20, ..CardOptions::default() };
    let mut card = apps::new_card(&options).unwrap();
    for n in 0..extra {
        card.install("diag", diag_aid(n + 2), &[]).unwrap();
    }
    card.power_on();
    card
}

fn card() -> Card {
    // A second instance of the same class, so SELECT can alternate between two applets.
    card_with(1)
}

fn select_apdu(aid: &Aid) -> Vec<u8> {
    let aid = aid.as_bytes();
    [&[0x00, 0xA4, 0x04, 0x00, aid.len() as u8][..], aid, &[0x00]].concat()
}

fn expect_ok(r: &[u8]) {
    assert_eq!(&r[r.len() - 2..], [0x90, 0x00], "{r:02X?}");
}

/// ECHO of `n` bytes: short (Lc, Le `00`) up to 255 bytes, extended (ISO 7816-4 §5.1) beyond.
fn echo_apdu(n: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..n).map(|i| i as u8).collect();
    applet::credit::apdu::command(0x80, 0x10, 0x00, 0x00, &data, Some(if n > 255 { 65536 } else { 256 }))
}

const NOW: u32 = 1_795_860_000; // 2026-11-28T10:00:00Z

/// A credit wallet personalized as the issuer does it (`applet/tests/credit_wallet.rs`): card key
/// generated on the card, the issuer's key, a payment code signed for the card's key; selected.
fn wallet(policy: Option<&policies::Policy>) -> Card {
    use applet::credit::code::token_signed_message;
    use applet::credit::{
        CreditPaymentCode, CreditToken, IssuerPublicKey, KeyAlgorithm, Money, Payees, tags,
    };
    use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair};
    let cmd = |cla, ins, p1, p2, data: &[u8], le| applet::credit::apdu::command(cla, ins, p1, p2, data, le);
    let put = |tag: applet::tlv::Tag, data: &[u8]| {
        let (p1, p2) = applet::credit::apdu::p1p2(tag);
        cmd(0x00, 0xDA, p1, p2, data, None)
    };
    let mut card = card_with(0);
    if let Some(policy) = policy {
        card.install_policy(Some(policy)).unwrap();
    }
    expect_ok(&card.process(&cmd(0x00, 0xA4, 0x04, 0x00, &applet::credit::AID, Some(0))));
    let r = card.process(&cmd(0x00, 0x46, 0x00, 0x00, &[], Some(0)));
    expect_ok(&r);
    let card_key: [u8; 33] = applet::tlv::parse_single(&r[..r.len() - 2]).unwrap().value.try_into().unwrap();
    let pair = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let issuer =
        IssuerPublicKey::new(KeyAlgorithm::EcdsaP256Sha256, pair.public_key().as_ref().to_vec()).unwrap();
    expect_ok(&card.process(&put(tags::ISSUER_KEY, &issuer.encode())));
    let token = CreditToken {
        token_id: [0x11; 8],
        generated_at: NOW,
        valid_for: 3600,
        allowed_uses: 5,
        threshold: Money { minor: 20_000, currency: 156 },
        payees: Payees::default(),
        random: [0x22; 8],
        card_public_key: card_key,
        issuer_key_id: issuer.key_id,
        encrypted_identity: [0x33; 57],
    };
    let tlv = token.encode().unwrap();
    let sig = pair.sign(&aws_lc_rs::rand::SystemRandom::new(), &token_signed_message(&tlv)).unwrap();
    let code = CreditPaymentCode::assemble(tlv, sig.as_ref().to_vec()).unwrap();
    expect_ok(&card.process(&put(tags::PAYMENT_CODE, &code.encoded)));
    card
}

/// GENERATE PAYMENT CODE for 12.50 CNY at `NOW + 60` in a grocery, as a terminal sends it.
fn payment_code_apdu() -> Vec<u8> {
    use applet::credit::{emv, tags};
    let (date, time) = emv::emv_date_time(NOW + 60).unwrap();
    let mut w = applet::tlv::Writer::new();
    w.primitive(tags::AMOUNT, &emv::amount_n12(1250).unwrap());
    w.primitive(tags::CURRENCY, &emv::currency_n3(156).unwrap());
    w.primitive(tags::DATE, &date);
    w.primitive(tags::TIME, &time);
    w.primitive(tags::UNPREDICTABLE_NUMBER, &[1, 2, 3, 4]);
    // Merchant category 5411 (grocery): the policy's payee rule needs one.
    w.primitive(applet::tlv::Tag(0x9F15), &[0x54, 0x11]);
    applet::credit::apdu::command(0x80, 0x50, 0x00, 0x00, w.as_bytes(), Some(0))
}

/// GENERATE PAYMENT CODE on `card`, one per call, checked. The wallet's transaction counter is 16
/// bits, so every 50,000 codes the card goes back to its personalized state (a few µs, once per
/// 50,000).
fn payment_codes(card: Card) -> impl FnMut() {
    let apdu = payment_code_apdu();
    let snapshot = card.to_state_bytes();
    let restore = move || {
        let mut c = Card::from_state_bytes(&snapshot, apps::catalog()).unwrap();
        c.power_on();
        expect_ok(&c.process(&select_apdu(&apps::credit::aid())));
        c
    };
    let mut card = restore();
    let mut out = Vec::with_capacity(1024);
    card.process_into(&apdu, &mut out);
    expect_ok(&out);
    let mut n = 0u32;
    move || {
        n += 1;
        if n == 50_000 {
            expect_ok(&out);
            n = 0;
            card = restore();
        }
        card.process_into(black_box(&apdu), &mut out)
    }
}

fn main() {
    // The harness passes `--bench`; nothing to parse.
    let echo = [0x80, 0x10, 0x00, 0x00, 0x04, 0xDE, 0xAD, 0xBE, 0xEF, 0x00];
    let select_a = select_apdu(&apps::diag::aid());
    let select_b = select_apdu(&diag_aid(2));
    let increment = [0x80, 0x22, 0x00, 0x00, 0x04];
    let mut out = Vec::with_capacity(8192);
    let mut figures = Vec::new();

    let mut c = card();
    c.process_into(&echo, &mut out);
    assert_eq!(out, [0xDE, 0xAD, 0xBE, 0xEF, 0x90, 0x00]);
    figures.extend(measure("echo", "echo, 4 bytes (case 4)", || c.process_into(black_box(&echo), &mut out)));

    figures.extend(measure("echo_vec", "echo via Card::process (returns a new Vec)", || {
        black_box(c.process(black_box(&echo)));
    }));

    let mut flip = false;
    figures.extend(measure("select", "SELECT by AID, two applets alternating, FCI", || {
        flip = !flip;
        c.process_into(black_box(if flip { &select_a } else { &select_b }), &mut out);
    }));
    expect_ok(&out);

    // PIN verify: diag's OwnerPIN (`00 20 00 81`, the right PIN: compare, try counter reset).
    let verify = [0x00, 0x20, 0x00, 0x81, 0x04, b'1', b'2', b'3', b'4'];
    let mut c = card();
    figures.extend(measure("pin_verify", "VERIFY, the right PIN (diag PIN, 4 digits)", || {
        c.process_into(black_box(&verify), &mut out)
    }));
    expect_ok(&out);

    let mut c = card();
    figures.extend(measure("counter_update", "counter update, committed (service + transaction)", || {
        c.process_into(black_box(&increment), &mut out)
    }));
    expect_ok(&out);

    // Sizes: echo of 4, 255 and 4096 bytes (extended length).
    for (key, name, n) in [
        ("echo_4", "echo, 4 bytes", 4),
        ("echo_255", "echo, 255 bytes", 255),
        ("echo_4096", "echo, 4096 bytes (extended length)", 4096),
    ] {
        let apdu = echo_apdu(n);
        let mut c = card();
        c.process_into(&apdu, &mut out);
        assert_eq!(out.len(), n + 2);
        figures.extend(measure(key, name, || c.process_into(black_box(&apdu), &mut out)));
        expect_ok(&out);
    }

    // Sizes: SELECT cycling through 2, 16 and 64 applets (a card with 64 diag instances).
    let mut c = card_with(63);
    for (key, name, k) in [
        ("select_2", "SELECT, cycling through 2 of 64 applets", 2u8),
        ("select_16", "SELECT, cycling through 16 of 64 applets", 16),
        ("select_64", "SELECT, cycling through 64 of 64 applets", 64),
    ] {
        // Diag's own AID ends in 01, the extra instances in 02, 03, ...: 01..=k.
        let apdus: Vec<Vec<u8>> = (1..=k).map(|n| select_apdu(&diag_aid(n))).collect();
        let mut i = 0;
        figures.extend(measure(key, name, || {
            i = (i + 1) % apdus.len();
            c.process_into(black_box(&apdus[i]), &mut out)
        }));
        expect_ok(&out);
    }

    // Sizes: a committed persistent write of 4, 256 and 2048 bytes (diag ALLOCATE `80 30 P1P2`:
    // one atomic write of P1P2 bytes into an applet object).
    let mut c = card();
    for (key, name, n) in [
        ("write_4", "persistent write, 4 bytes, committed", 4u16),
        ("write_256", "persistent write, 256 bytes, committed", 256),
        ("write_2048", "persistent write, 2048 bytes, committed", 2048),
    ] {
        let [p1, p2] = n.to_be_bytes();
        let apdu = [0x80, 0x30, p1, p2, 0x04];
        figures.extend(measure(key, name, || c.process_into(black_box(&apdu), &mut out)));
        expect_ok(&out);
    }

    // A service with and without the policy gate, same card, same command: diag USE with 10.00 CNY
    // and the time as service data (BER-TLV, 25 bytes).
    let use_ten = [
        &[0x80, 0x26, 0x00, 0x00, 0x19][..],
        &[0x9F, 0x02, 0x06, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x5F, 0x2A, 0x02, 0x01, 0x56],
        &[0x9A, 0x03, 0x26, 0x11, 0x28, 0x9F, 0x21, 0x03, 0x10, 0x00, 0x00, 0x00],
    ]
    .concat();
    let mut use_dear = use_ten.clone();
    // 2000.00 CNY (9F02 = 000000200000): above the maximum and the CVM limit.
    use_dear[11] = 0x20;
    use_dear[12] = 0x00;
    let mut c = card();
    figures.extend(measure(
        "service_ungated",
        "service (diag USE, 25 bytes of service data), no policy",
        || c.process_into(black_box(&use_ten), &mut out),
    ));
    expect_ok(&out);
    let mut c = card();
    c.install_policy(Some(&gate_policy(&[apps::diag::aid()]))).unwrap();
    figures.extend(measure(
        "service_gated",
        "the same service gated (time, amount + CVM limit, day limit, offline counter), allowed",
        || c.process_into(black_box(&use_ten), &mut out),
    ));
    expect_ok(&out);
    figures.extend(measure(
        "service_denied",
        "the same service denied by the gate (2 reasons, 6985)",
        || c.process_into(black_box(&use_dear), &mut out),
    ));
    assert_eq!(out, [0x69, 0x85]);

    // Sizes: the gated service when the policy binds 1, 4 or 16 services (16 diag instances, each
    // USE bound with the same rules); the command goes to the last one bound.
    for (key, name, k) in [
        ("gated_1", "gated service, policy of 1 service", 1u8),
        ("gated_4", "gated service, policy of 4 services", 4),
        ("gated_16", "gated service, policy of 16 services", 16),
    ] {
        let mut c = card_with(15);
        let aids: Vec<Aid> = (1..=k).map(diag_aid).collect();
        c.install_policy(Some(&gate_policy(&aids))).unwrap();
        expect_ok(&c.process(&select_apdu(&aids[aids.len() - 1])));
        figures.extend(measure(key, name, || c.process_into(black_box(&use_ten), &mut out)));
        expect_ok(&out);
    }

    // GENERATE PAYMENT CODE on a personalized credit wallet, gated by a policy (the example
    // policy's rules) and without a policy, measured together with the signature alone as the
    // card's library makes it (aws-lc-rs, ECDSA P-256 SHA-256, r||s, a 110-byte message like the
    // presentation's, the key pair parsed once), so that all three see the same load. Then the
    // signature with the key parsed from PKCS #8 for every one (what `Context::sign_p256` did
    // before it kept the parsed key).
    {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING as ALG, EcdsaKeyPair};
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate(&ALG).unwrap().to_pkcs8v1().unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ALG, pkcs8.as_ref()).unwrap();
        let message = [0x5Au8; 110];
        let policy = policies::Policy::parse(PAYMENT_POLICY, "bench").unwrap();
        let mut gated = payment_codes(wallet(Some(&policy)));
        let mut ungated = payment_codes(wallet(None));
        let mut sign = || {
            black_box(pair.sign(&rng, black_box(&message)).unwrap());
        };
        figures.extend(measure_together(vec![
            ("sign", "ECDSA P-256 signature alone (aws-lc-rs, key parsed once)", &mut sign),
            (
                "payment_code",
                "GENERATE PAYMENT CODE, policy-gated (parse, gate, token checks, signature, counters committed)",
                &mut gated,
            ),
            ("payment_code_ungated", "GENERATE PAYMENT CODE, no policy", &mut ungated),
        ]));
        figures.extend(measure(
            "sign_pkcs8",
            "the same signature, the key parsed from PKCS #8 for each signature",
            || {
                let pair = EcdsaKeyPair::from_pkcs8(&ALG, black_box(pkcs8.as_ref())).unwrap();
                black_box(pair.sign(&rng, black_box(&message)).unwrap());
            },
        ));
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card");
    let mut fc = FileCard::create(&path, card()).unwrap();
    figures.extend(measure("echo_file", "echo on a file-backed card (nothing to save)", || {
        fc.process_into(black_box(&echo), &mut out).unwrap()
    }));
    figures.extend(measure(
        "counter_update_file",
        "counter update, committed and saved (fsync + rename)",
        || fc.process_into(black_box(&increment), &mut out).unwrap(),
    ));
    expect_ok(&out);
    drop(fc);

    // The same on tmpfs, where fsync costs nothing: what encoding and writing the state costs.
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        let dir = tempfile::tempdir_in(shm).unwrap();
        let mut fc = FileCard::create(&dir.path().join("card"), card()).unwrap();
        figures.extend(measure(
            "counter_update_tmpfs",
            "counter update, committed and saved on tmpfs",
            || fc.process_into(black_box(&increment), &mut out).unwrap(),
        ));
        expect_ok(&out);
    }

    println!("| operation | ns/op | ops/s | allocations/op |");
    println!("|---|---:|---:|---:|");
    for f in &figures {
        println!("| {} | {:.0} | {:.0} | {:.2} |", f.name, f.ns_per_op, f.ops_per_s, f.allocs_per_op);
    }
    // For scripts/bench/sections/10-runtime.sh: key, ops/s, ns/op, allocations/op.
    for f in &figures {
        println!("result {} {:.0} {:.1} {:.2}", f.key, f.ops_per_s, f.ns_per_op, f.allocs_per_op);
    }
}
