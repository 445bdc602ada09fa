//! The short card-hammering run (`make test`): ~20 s of random valid and invalid APDUs through pcscd +
//! vpcd to `cardgate card serve`; every answer ends in a status word, none hangs, the card process
//! keeps its descriptors and does not grow. The long run is `scripts/reliability/hammer.sh`.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cardgate_tests::hammer::{HammerConfig, run};

#[test]
fn a_hammered_card_answers_every_apdu_with_a_status_word_and_does_not_leak() {
    let dir = tempfile::tempdir().unwrap();
    let seed = std::env::var("HAMMER_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5EC_0A7D);
    let cfg = HammerConfig {
        duration: Duration::from_secs(20),
        seed,
        apdu_deadline: Duration::from_secs(5),
        warmup: 500,
    };
    let report = run(dir.path(), &cfg, 4 * 1024).unwrap();
    eprintln!("{}", report.markdown());
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
    assert!(report.apdus > 1_000, "the hammer ran: {} APDUs", report.apdus);
    assert_eq!((report.without_sw, report.hangs, report.transmit_errors), (0, 0, 0));
    assert_eq!(report.with_sw + report.refused_by_pcsc, report.apdus);
    // The mix reached the card's applets, not only its parser.
    assert!(
        report.sw_classes.contains_key("90xx") && report.sw_classes.contains_key("6Axx"),
        "{:?}",
        report.sw_classes
    );
}
