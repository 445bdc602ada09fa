//! The settlement load campaign: many merchants upload settlement batches to the real
//! `cardgate server` (SQLite on disk) at once, with lost answers and retries, duplicate uploads and
//! cross-merchant replays mixed in; then the ledger is checked exactly, through the API and in the
//! database.
//!
//! Every payment is real: one P-256 card key per token, tokens issued by the server, presentations
//! signed as the card signs them (in parallel, in-process). What is expected, exactly:
//! - every payment id a merchant uploaded has one verdict, and a re-upload returns the same one;
//! - every presentation (token, counter) is accepted once; each replay of it at a second merchant is
//!   rejected as a double spend and flagged; nothing else is rejected;
//! - the accounts are debited by exactly the sum of the accepted amounts, which is the sum of the
//!   amounts of the distinct payments.

use crate::rng::mix;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use applet::credit::CreditPaymentCode;
use aws_lc_rs::signature::EcdsaKeyPair;
use cardgate::payment::api::{Outcome, SettlementRequest, UploadedPayment, Verdict};
use cardgate::payment::client::IssuerClient;
use cardgate::payment::verify::Reason;
use zeroize::Zeroizing;

use crate::payments::{Issuer, compressed, new_key, now, present_with};

/// How big a campaign is.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Merchants uploading at the same time.
    pub merchants: usize,
    /// Distinct payments each merchant accepted (before replays).
    pub payments_per_merchant: usize,
    /// Payments per upload (at most the server's 1000).
    pub batch: usize,
    /// Presentations per token (each token allows exactly that many uses).
    pub payments_per_token: usize,
    /// Per mille of payments also accepted (replayed) at a second merchant.
    pub replay_per_mille: u64,
    /// Per mille of uploads whose answer is lost (client timeout while the server works); retried.
    pub lost_answer_per_mille: u64,
    /// Per mille of batches uploaded again after the run (a merchant retrying a settled batch).
    pub duplicate_per_mille: u64,
    /// Accounts the tokens are spread over.
    pub accounts: usize,
}

impl LoadConfig {
    /// The short campaign of `make test`: 10 merchants × 1,000 payments.
    pub fn short() -> Self {
        LoadConfig {
            merchants: 10,
            payments_per_merchant: 1_000,
            batch: 250,
            payments_per_token: 500,
            replay_per_mille: 20,
            lost_answer_per_mille: 100,
            duplicate_per_mille: 200,
            accounts: 4,
        }
    }
}

/// What a campaign did and found.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Merchants.
    pub merchants: usize,
    /// Distinct payments (token, counter).
    pub distinct: u64,
    /// Replays of them at a second merchant.
    pub replays: u64,
    /// Tokens issued.
    pub tokens: u64,
    /// Settlement requests sent, all kinds.
    pub requests: u64,
    /// Uploads whose answer was lost on purpose.
    pub lost_answers: u64,
    /// Uploads retried after an error (lost answers included).
    pub retries: u64,
    /// Batches uploaded again after settling.
    pub duplicate_uploads: u64,
    /// Payments in those duplicate uploads.
    pub duplicate_payments: u64,
    /// Accepted verdicts.
    pub accepted: u64,
    /// Double spends flagged.
    pub double_spends: u64,
    /// Sum of accepted amounts (minor units).
    pub accepted_total: u64,
    /// Sum of what the accounts were debited.
    pub debited_total: u64,
    /// Verdict rows in the server's database.
    pub db_rows: u64,
    /// Seconds spent signing the presentations.
    pub sign_secs: f64,
    /// Seconds from the first upload to the last answer.
    pub upload_secs: f64,
    /// Every way the ledger differs from what is expected (empty: exact).
    pub problems: Vec<String>,
}

impl LoadReport {
    /// Markdown lines for RELIABILITY.md.
    pub fn markdown(&self) -> String {
        let verdicts = self.distinct + self.replays;
        format!(
            "| merchants | {m} |\n| distinct payments (token, counter) | {d} |\n| cross-merchant replays | {r} |\n\
             | tokens (card keys) | {t} |\n| settlement requests | {q} |\n| answers lost on purpose, then retried | {l} |\n\
             | retries (all) | {rt} |\n| duplicate batch uploads (payments) | {du} ({dp}) |\n\
             | verdicts: accepted / double spend flagged | {a} / {ds} |\n| verdict rows in SQLite | {rows} (expected {verdicts}) |\n\
             | accepted amount = debited | {at} = {dt} |\n| signing (in-process, parallel) | {s:.1} s |\n\
             | uploads, first to last answer | {u:.1} s ({rate:.0} payments/s) |\n| ledger | {ok} |\n",
            m = self.merchants,
            d = self.distinct,
            r = self.replays,
            t = self.tokens,
            q = self.requests,
            l = self.lost_answers,
            rt = self.retries,
            du = self.duplicate_uploads,
            dp = self.duplicate_payments,
            a = self.accepted,
            ds = self.double_spends,
            rows = self.db_rows,
            at = self.accepted_total,
            dt = self.debited_total,
            s = self.sign_secs,
            u = self.upload_secs,
            rate = verdicts as f64 / self.upload_secs.max(1e-9),
            ok = if self.problems.is_empty() {
                "exact: every payment once, every replay flagged, totals match".to_owned()
            } else {
                format!("{} problems: {}", self.problems.len(), self.problems.join("; "))
            },
        )
    }
}

fn per_mille(seed: u64, rate: u64) -> bool {
    mix(seed) % 1000 < rate
}

const THRESHOLD: u64 = 10_000;

fn amount(k: u64) -> u64 {
    1 + mix(k ^ 0xA5A5) % THRESHOLD
}

/// Signs presentation `k` of every token, on every core.
fn sign_all(
    cards: &[EcdsaKeyPair],
    codes: &[CreditPaymentCode],
    total: u64,
    per_token: u64,
) -> anyhow::Result<Vec<String>> {
    let at = now() as u32;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let chunk = total.div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                s.spawn(move || {
                    (i * chunk..((i + 1) * chunk).min(total))
                        .map(|k| {
                            let t = (k / per_token) as usize;
                            let counter = (k % per_token + 1) as u16;
                            present_with(&cards[t], &codes[t], counter, at, None).map(|p| p.to_text())
                        })
                        .collect::<anyhow::Result<Vec<_>>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(total as usize);
        for h in handles {
            out.extend(h.join().map_err(|_| anyhow::anyhow!("a signing thread panicked"))??);
        }
        Ok(out)
    })
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    lost: AtomicU64,
    retries: AtomicU64,
    duplicates: AtomicU64,
    duplicate_payments: AtomicU64,
}

/// Uploads one batch until an answer comes back (the retry loop `cardgate settle` runs).
async fn upload(
    client: &IssuerClient,
    batch: &SettlementRequest,
    c: &Counters,
) -> anyhow::Result<Vec<Verdict>> {
    let mut delay = Duration::from_millis(50);
    for _ in 0..20 {
        c.requests.fetch_add(1, Ordering::Relaxed);
        match client.settle(batch).await {
            Ok(v) => return Ok(v.verdicts),
            Err(e) if e.is_transient() => {
                c.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(e) => bail!("upload refused: {e}"),
        }
    }
    bail!("no answer after 20 tries")
}

/// One merchant's part: its batches, some answers lost and retried, some batches uploaded again.
async fn merchant(
    url: String,
    key: String,
    m: u64,
    payments: Vec<UploadedPayment>,
    cfg: LoadConfig,
    c: Arc<Counters>,
) -> anyhow::Result<HashMap<String, Verdict>> {
    let client = IssuerClient::new(&url, Some(Zeroizing::new(key.clone())), Duration::from_secs(300))?;
    // Short enough that the answer to a batch is lost, long enough that the batch was sent.
    let impatient = IssuerClient::new(&url, Some(Zeroizing::new(key)), Duration::from_millis(40))?;
    let batches: Vec<SettlementRequest> =
        payments.chunks(cfg.batch).map(|b| SettlementRequest { payments: b.to_vec() }).collect();
    let mut verdicts = HashMap::with_capacity(payments.len());
    for (b, batch) in batches.iter().enumerate() {
        let seed = (m << 32) | b as u64;
        if per_mille(seed, cfg.lost_answer_per_mille) {
            c.requests.fetch_add(1, Ordering::Relaxed);
            if impatient.settle(batch).await.is_err() {
                c.lost.fetch_add(1, Ordering::Relaxed);
                c.retries.fetch_add(1, Ordering::Relaxed);
            }
        }
        let got = upload(&client, batch, &c).await?;
        ensure!(
            got.len() == batch.payments.len(),
            "merchant {m}: {} verdicts for {} payments",
            got.len(),
            batch.payments.len()
        );
        for v in got {
            verdicts.insert(v.payment_id.clone(), v);
        }
    }
    for (b, batch) in batches.iter().enumerate() {
        if per_mille(((m << 32) | b as u64) ^ 0xD0D0, cfg.duplicate_per_mille) {
            c.duplicates.fetch_add(1, Ordering::Relaxed);
            c.duplicate_payments.fetch_add(batch.payments.len() as u64, Ordering::Relaxed);
            for v in upload(&client, batch, &c).await? {
                ensure!(
                    verdicts.get(&v.payment_id) == Some(&v),
                    "merchant {m}: a re-upload of {} changed its verdict",
                    v.payment_id
                );
            }
        }
    }
    Ok(verdicts)
}

/// Runs a campaign against a fresh `cardgate server` with its data in `dir`.
pub async fn run(dir: &Path, cfg: &LoadConfig) -> anyhow::Result<LoadReport> {
    ensure!(
        cfg.merchants >= 2 && cfg.batch >= 1 && cfg.batch <= 1000,
        "at least 2 merchants, batches of 1 to 1000"
    );
    ensure!(cfg.payments_per_token >= 1 && cfg.payments_per_token <= 60_000, "1 to 60000 payments per token");
    let issuer = Issuer::start(dir)?;
    let credit_line = 100_000_000_000;
    for a in 0..cfg.accounts.max(1) {
        issuer.account(&format!("acct-{a}"), credit_line).await?;
    }
    let total = (cfg.merchants * cfg.payments_per_merchant) as u64;
    let per_token = cfg.payments_per_token as u64;
    let tokens = total.div_ceil(per_token);
    let mut cards = Vec::new();
    let mut codes = Vec::new();
    for t in 0..tokens {
        let uses = (total - t * per_token).min(per_token) as u16;
        let card = new_key();
        let account = format!("acct-{}", t as usize % cfg.accounts.max(1));
        codes.push(issuer.issue(&compressed(&card), &account, uses, THRESHOLD).await?);
        cards.push(card);
    }
    let started = Instant::now();
    let texts = sign_all(&cards, &codes, total, per_token)?;
    let sign_secs = started.elapsed().as_secs_f64();

    let m_count = cfg.merchants as u64;
    let accepted_at = now();
    let mut per_merchant: Vec<Vec<UploadedPayment>> = vec![Vec::new(); cfg.merchants];
    let mut replays = 0;
    for (k, text) in texts.into_iter().enumerate() {
        let k = k as u64;
        let m = (k % m_count) as usize;
        let p = UploadedPayment {
            payment_id: format!("p{k}"),
            payload: text,
            amount: amount(k),
            currency: 156,
            accepted_at,
        };
        if per_mille(k, cfg.replay_per_mille) {
            replays += 1;
            let other = (m + 1 + (mix(k) % (m_count - 1)) as usize) % cfg.merchants;
            per_merchant[other].push(UploadedPayment { payment_id: format!("r{k}"), ..p.clone() });
        }
        per_merchant[m].push(p);
    }
    let mut keys = Vec::new();
    for m in 0..cfg.merchants {
        keys.push(issuer.merchant_key(&format!("LOAD-{m:03}")).await?);
    }

    let counters = Arc::new(Counters::default());
    let started = Instant::now();
    let tasks: Vec<_> = per_merchant
        .into_iter()
        .zip(keys)
        .enumerate()
        .map(|(m, (payments, key))| {
            tokio::spawn(merchant(
                issuer.server.url.clone(),
                key,
                m as u64,
                payments,
                cfg.clone(),
                counters.clone(),
            ))
        })
        .collect();
    let mut all: HashMap<(usize, String), Verdict> = HashMap::new();
    for (m, t) in tasks.into_iter().enumerate() {
        for (id, v) in t.await.context("a merchant task panicked")?? {
            all.insert((m, id), v);
        }
    }
    let upload_secs = started.elapsed().as_secs_f64();

    let mut r = LoadReport {
        merchants: cfg.merchants,
        distinct: total,
        replays,
        tokens,
        requests: counters.requests.load(Ordering::Relaxed),
        lost_answers: counters.lost.load(Ordering::Relaxed),
        retries: counters.retries.load(Ordering::Relaxed),
        duplicate_uploads: counters.duplicates.load(Ordering::Relaxed),
        duplicate_payments: counters.duplicate_payments.load(Ordering::Relaxed),
        sign_secs,
        upload_secs,
        ..LoadReport::default()
    };
    check(&issuer, dir, cfg, &all, &mut r).await?;
    Ok(r)
}

/// Compares the ledger with what the campaign must have produced.
async fn check(
    issuer: &Issuer,
    dir: &Path,
    cfg: &LoadConfig,
    all: &HashMap<(usize, String), Verdict>,
    r: &mut LoadReport,
) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    if all.len() as u64 != r.distinct + r.replays {
        problems.push(format!("{} verdicts for {} uploaded payments", all.len(), r.distinct + r.replays));
    }
    // Per distinct payment: its verdicts at every merchant that uploaded it.
    let mut by_k: HashMap<u64, Vec<&Verdict>> = HashMap::new();
    for ((_, id), v) in all {
        let k: u64 = id[1..].parse().context("payment id")?;
        by_k.entry(k).or_default().push(v);
        match (v.verdict, v.reason_code, v.flagged) {
            (Outcome::Accepted, None, false) => {
                r.accepted += 1;
                r.accepted_total += v.amount;
            }
            (Outcome::Rejected, Some(Reason::DoubleSpend), true) => r.double_spends += 1,
            other => problems.push(format!("{id}: unexpected verdict {other:?}: {}", v.reason)),
        }
    }
    let mut expected_total = 0;
    for k in 0..r.distinct {
        expected_total += amount(k);
        let vs = by_k.get(&k).map_or(&[][..], Vec::as_slice);
        let copies = if per_mille(k, cfg.replay_per_mille) { 2 } else { 1 };
        let accepted = vs.iter().filter(|v| v.verdict == Outcome::Accepted).count();
        if vs.len() != copies || accepted != 1 {
            problems.push(format!(
                "payment {k}: {} verdicts ({accepted} accepted), expected {copies} (1)",
                vs.len()
            ));
        }
    }
    if r.accepted_total != expected_total {
        problems
            .push(format!("accepted {} but the distinct payments sum to {expected_total}", r.accepted_total));
    }
    for a in 0..cfg.accounts.max(1) {
        r.debited_total += issuer.admin.account(&format!("acct-{a}")).await?.used;
    }
    if r.debited_total != expected_total {
        problems.push(format!("accounts debited {} instead of {expected_total}", r.debited_total));
    }
    // The database itself, read-only beside the running server.
    let db = rusqlite::Connection::open_with_flags(
        dir.join("issuer").join(cardgate::server::DB_FILE),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    let one = |sql: &str| db.query_row(sql, [], |row| row.get::<_, i64>(0));
    r.db_rows = one("SELECT count(*) FROM payment_verdicts")? as u64;
    let twice = one(
        "SELECT count(*) FROM (SELECT token_id, counter FROM payment_verdicts WHERE verdict = 'accepted'
         GROUP BY token_id, counter HAVING count(*) > 1)",
    )?;
    let flagged = one("SELECT count(*) FROM payment_verdicts WHERE flagged = 1")? as u64;
    let accepted_sum =
        one("SELECT coalesce(sum(amount), 0) FROM payment_verdicts WHERE verdict = 'accepted'")? as u64;
    let used = one("SELECT coalesce(sum(used), 0) FROM payment_accounts")? as u64;
    if r.db_rows != r.distinct + r.replays {
        problems.push(format!("{} verdict rows, expected {}", r.db_rows, r.distinct + r.replays));
    }
    if twice != 0 {
        problems.push(format!("{twice} presentations accepted more than once"));
    }
    if flagged != r.replays {
        problems.push(format!("{flagged} rows flagged, expected {}", r.replays));
    }
    if accepted_sum != expected_total || used != expected_total {
        problems
            .push(format!("database: accepted {accepted_sum}, debited {used}, expected {expected_total}"));
    }
    r.problems = problems;
    Ok(())
}
