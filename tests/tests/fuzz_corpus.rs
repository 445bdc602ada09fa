//! The fuzz targets' short run in `make test` (stable toolchain, no libFuzzer): every committed
//! corpus file of every target in `fuzz/` (seeds, inputs the fuzzer found, and the inputs of
//! crashes it found, kept as regressions) goes through the same function the fuzz target calls,
//! `cardgate_tests::fuzzing::<target>`. Local crash artifacts (`fuzz/artifacts/<target>/`, not
//! committed) are replayed too when present.
//!
//! `cargo test -p cardgate-tests --test fuzz_corpus -- --ignored write_seeds` (re)writes the
//! seed files made from the tests' own inputs (`seed-*` in each corpus directory).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use applet::apps::{self, CardOptions};
use applet::credit::{self, CreditPaymentCode, CreditToken, Money, Payees};
use aws_lc_rs::rand::SystemRandom;
use cardgate::payment::softcard::SoftCard;
use cardgate_tests::fuzzing::{self, TARGETS};
use cardgate_tests::workspace;

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn every_corpus_file_replays_without_a_failure() {
    let mut failures = Vec::new();
    for &(name, target) in TARGETS {
        let corpus = workspace().join("fuzz/corpus").join(name);
        let inputs = files(&corpus);
        assert!(!inputs.is_empty(), "{} has no committed corpus", corpus.display());
        let artifacts = files(&workspace().join("fuzz/artifacts").join(name));
        for path in inputs.iter().chain(&artifacts) {
            let bytes = fs::read(path).unwrap();
            if panic::catch_unwind(AssertUnwindSafe(|| target(&bytes))).is_err() {
                failures.push(path.display().to_string());
            }
        }
    }
    assert!(
        failures.is_empty(),
        "fuzz inputs that fail (replay with `cargo +nightly fuzz run <target> <file>`):\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_fuzz_target_has_a_body_here_and_no_body_lacks_a_target() {
    let manifest = fs::read_to_string(workspace().join("fuzz/Cargo.toml")).unwrap();
    let mut bins: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("name = \"")?.strip_suffix('"'))
        .filter(|n| *n != "cardgate-fuzz")
        .collect();
    let mut names: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
    bins.sort_unstable();
    names.sort_unstable();
    assert_eq!(bins, names);
    for name in names {
        let src = fs::read_to_string(workspace().join(format!("fuzz/fuzz_targets/{name}.rs"))).unwrap();
        assert!(
            src.contains(&format!("cardgate_tests::fuzzing::{name}(data)")),
            "{name}.rs calls another body"
        );
    }
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = workspace().join("fuzz/corpus").join(target);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).unwrap()
}

/// A QR payload the existing code makes: a token signed by the fuzz issuer, presented by a
/// software card.
fn payload(amount: Option<u64>, at: u32) -> cardgate::payment::cpm::PaymentPayload {
    let (issuer, issuer_key) = fuzzing::qr_issuer();
    let mut card = SoftCard::generate();
    let token = CreditToken {
        token_id: [1, 2, 3, 4, 5, 6, 7, 8],
        generated_at: 1_795_860_000,
        valid_for: 86_400,
        allowed_uses: 5,
        threshold: Money { minor: 50_000, currency: 156 },
        payees: Payees { merchant_ids: vec!["SHOP-A".into()], categories: vec![5411] },
        random: [9; 8],
        card_public_key: card.public_key(),
        issuer_key_id: issuer_key.key_id,
        encrypted_identity: [0x5A; credit::token::ENCRYPTED_IDENTITY_LEN],
    };
    let tlv = token.encode().unwrap();
    let sig = issuer.sign(&SystemRandom::new(), &credit::code::token_signed_message(&tlv)).unwrap();
    let code = CreditPaymentCode::assemble(tlv, sig.as_ref().to_vec()).unwrap();
    card.present(&code, at, amount.map(|minor| Money { minor, currency: 156 }))
}

#[test]
#[ignore = "writes the seed corpora: run by hand"]
fn write_seeds() {
    // APDUs: every ISO 7816-3 case, short and extended, and the APDU lines of the golden scripts.
    for (i, apdu) in [
        "00A4040000",
        "00A404000AF043415244474154450100",
        "8010000003CAFEBA",
        "801000000003CAFEBA00",
        "80120100",
        "8012010000",
        "0012010000000100",
        "00DADF6A000003414243",
        "00DADF6A00000341424300FF",
        "107000",
        "0070000001",
        "C1C00000",
        "FF000000",
        "2000000000",
    ]
    .iter()
    .enumerate()
    {
        write("apdu", &format!("case-{i:02}"), &h(apdu));
    }
    for path in files(&workspace().join("host/tests/golden")) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.ends_with(".script") || name.ends_with(".cg")) {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap();
        write("script", &name, text.as_bytes());
        for (n, line) in text.lines().enumerate() {
            let hex: String =
                line.chars().take_while(|c| *c != '#').filter(char::is_ascii_hexdigit).collect();
            if let Ok(bytes) = hex::decode(&hex)
                && bytes.len() >= 4
            {
                write("apdu", &format!("{name}-{n}"), &bytes);
            }
        }
    }
    for path in files(&workspace().join("policies/examples")) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        write("policy_file", &name, &fs::read(&path).unwrap());
    }
    // Service data: the diag policy's example, the same with every field, malformed variants.
    let diag_use = h("9F0206000000001000 5F2A020156 9A03261128 9F2103100000");
    write("service_data", "diag-use", &diag_use);
    write(
        "service_data",
        "full",
        &h(
            "9F0206000000001250 5F2A020156 9A03261128 9F2103100000 9F15025411 9F160F53484F502D41202020202020202020 9F1C085445524D2D303031 DF5108129D6B40448B4A60 DF520100",
        ),
    );
    write("service_data", "duplicate", &h("9A03261128 9A03261128"));
    write("service_data", "bad-bcd", &h("9F020600000000100A"));
    // TLV: the documented token, service data, an FCI, a QR payload, deep nesting, long lengths.
    let p = payload(Some(1250), 1_795_860_300);
    write("tlv", "qr-payload", &p.to_bytes());
    write("tlv", "payment-code", &p.code.encoded);
    write("tlv", "presentation", &p.presentation_tlv);
    write("tlv", "service-data", &diag_use);
    write("tlv", "fci", &h("6F1A840AF0434152444741544501A50C500A636172646761746520646961"));
    write("tlv", "nested", &h("E10AE208E306E404E502DF01"));
    write("tlv", "long-forms", &h("DF218200025AA5 9F02810212 34 5F2A840000000101"));
    // QR payloads: text (base64, as decoded from the QR code) and the TLV bytes.
    for (i, (amount, at)) in
        [(Some(1250), 1_795_860_300), (None, 1_795_860_100), (Some(60_000), 1_795_950_000)]
            .into_iter()
            .enumerate()
    {
        let p = payload(amount, at);
        write("qr_payload", &format!("text-{i}"), p.to_text().as_bytes());
        write("qr_payload", &format!("bytes-{i}"), &p.to_bytes());
    }
    // A state file of a card as `cardgate card init --admin-pin` makes it.
    let options = CardOptions {
        admin_pin: Some(zeroize::Zeroizing::new(b"87654321".to_vec())),
        insecure_seed: Some(zeroize::Zeroizing::new(b"seed".to_vec())),
        ..CardOptions::default()
    };
    let card = apps::new_card(&options).unwrap();
    write("state_file", "card-init", &card.to_state_bytes());
}

#[test]
#[ignore = "a quick random-input pass over every target without libFuzzer: run by hand"]
fn random_inputs() {
    let n: usize = std::env::var("FUZZ_RANDOM_INPUTS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for &(name, target) in TARGETS {
        for i in 0..n {
            let len = (next() % 512) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if panic::catch_unwind(AssertUnwindSafe(|| target(&bytes))).is_err() {
                let dir = workspace().join("fuzz/artifacts").join(name);
                fs::create_dir_all(&dir).unwrap();
                fs::write(dir.join(format!("random-{i}")), &bytes).unwrap();
                panic!("{name} failed on random input {i}, saved in {}", dir.display());
            }
        }
    }
}
