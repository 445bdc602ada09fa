//! The short settlement load campaign (`make test`): 10 merchants × 1,000 payments uploaded at once
//! to the real `cardgate server` on SQLite, with lost answers, retries, duplicate uploads and
//! cross-merchant replays; the ledger must come out exact. The long one is
//! `scripts/reliability/load.sh` (`settle-load --merchants 50 --payments 10000`).

#![allow(clippy::unwrap_used)]

use cardgate_tests::load::{LoadConfig, run};

#[tokio::test(flavor = "multi_thread")]
async fn ten_merchants_settle_at_once_and_the_ledger_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LoadConfig::short();
    let report = run(dir.path(), &cfg).await.unwrap();
    eprintln!("{}", report.markdown());
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
    assert_eq!(report.accepted, 10_000);
    assert!(report.replays > 100, "replays were mixed in: {}", report.replays);
    assert_eq!(report.double_spends, report.replays);
    assert!(report.duplicate_uploads > 0 && report.retries > 0, "{report:?}");
    assert_eq!(report.db_rows, report.accepted + report.double_spends);
}
