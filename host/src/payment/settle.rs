//! Settlement from the merchant's side: upload the queue's pending payments to the issuer at the
//! predetermined time, retrying with backoff while the server is unreachable or answers nonsense, and
//! store the verdicts.
//!
//! Nothing is lost or duplicated: a payment leaves "pending" only when a verdict for exactly its
//! payment id has been stored; the server keys uploads by (merchant, payment id), so a batch that is
//! sent again after a lost answer changes nothing there and returns the same verdicts.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use zeroize::Zeroizing;

use super::api::{MAX_BATCH, Outcome, SettlementRequest, UploadedPayment, Verdict};
use super::client::{ClientError, IssuerClient};
use super::merchant::{MerchantStore, StoreError, StoredVerdict};

/// How to settle.
#[derive(Debug, Clone)]
pub struct SettleOptions {
    /// Payments per upload (at most the server's [`MAX_BATCH`]).
    pub batch: usize,
    /// Give up retrying after this long.
    pub retry_for: Duration,
    /// Timeout of one request.
    pub timeout: Duration,
    /// First retry delay; it doubles up to `max_delay`.
    pub first_delay: Duration,
    /// Longest delay between retries.
    pub max_delay: Duration,
    /// Draw a progress bar (on stderr).
    pub progress: bool,
}

impl Default for SettleOptions {
    fn default() -> Self {
        Self {
            batch: 500,
            retry_for: Duration::from_secs(600),
            timeout: Duration::from_secs(30),
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            progress: true,
        }
    }
}

/// A settlement that did not complete. Payments without verdicts stay pending.
#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The server refused the upload or stayed unreachable; `settled` payments got verdicts first.
    #[error("{source} ({settled} payments settled, {pending} still pending in the queue)")]
    Server {
        /// The last error.
        source: ClientError,
        /// Payments that got verdicts before the failure.
        settled: usize,
        /// Payments still pending.
        pending: usize,
    },
}

/// The verdicts one settlement run stored.
#[derive(Debug, Clone, Default)]
pub struct SettleReport {
    /// Every verdict received, with the merchant it belongs to.
    pub verdicts: Vec<(String, Verdict)>,
    /// Retries made.
    pub retries: u32,
}

impl SettleReport {
    /// (accepted, rejected, flagged).
    pub fn counts(&self) -> (usize, usize, usize) {
        let accepted = self.verdicts.iter().filter(|(_, v)| v.verdict == Outcome::Accepted).count();
        let flagged = self.verdicts.iter().filter(|(_, v)| v.flagged).count();
        (accepted, self.verdicts.len() - accepted, flagged)
    }
}

/// Checks that the answer has one verdict per uploaded payment, and nothing else.
fn match_verdicts(
    sent: &[UploadedPayment],
    got: Vec<Verdict>,
    url: &str,
) -> Result<Vec<Verdict>, ClientError> {
    let garbage = |why: String| ClientError::Garbage { url: url.to_owned(), why };
    if got.len() != sent.len() {
        return Err(garbage(format!("{} verdicts for {} payments", got.len(), sent.len())));
    }
    let mut by_id: HashMap<&str, &Verdict> = HashMap::new();
    for v in &got {
        if by_id.insert(v.payment_id.as_str(), v).is_some() {
            return Err(garbage(format!("two verdicts for payment {}", v.payment_id)));
        }
    }
    if let Some(missing) = sent.iter().find(|p| !by_id.contains_key(p.payment_id.as_str())) {
        return Err(garbage(format!("no verdict for payment {}", missing.payment_id)));
    }
    Ok(got)
}

/// Uploads one batch, retrying transient failures with exponential backoff until `deadline`.
async fn upload_with_retry(
    client: &IssuerClient,
    batch: &[UploadedPayment],
    opts: &SettleOptions,
    deadline: Instant,
    retries: &mut u32,
) -> Result<Vec<Verdict>, ClientError> {
    let req = SettlementRequest { payments: batch.to_vec() };
    let mut delay = opts.first_delay;
    loop {
        let result = match client.settle(&req).await {
            Ok(v) => match_verdicts(batch, v.verdicts, client.base()),
            Err(e) => Err(e),
        };
        match result {
            Ok(v) => return Ok(v),
            Err(e) if e.is_transient() && Instant::now() + delay < deadline => {
                tracing::warn!("{e}; retrying in {delay:?}");
                eprintln!("settle: {e}; retrying in {}", humantime::format_duration(delay));
                tokio::time::sleep(delay).await;
                *retries += 1;
                delay = (delay * 2).min(opts.max_delay);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Uploads every pending payment of every merchant in the store (one API key each) and stores the
/// verdicts batch by batch; returns them all. For queues of any size, [`settle_pending_with`] keeps
/// only one batch in memory.
pub async fn settle_pending(
    store: &mut MerchantStore,
    server: &str,
    opts: &SettleOptions,
) -> Result<SettleReport, SettleError> {
    let mut verdicts = Vec::new();
    let summary = settle_pending_with(store, server, opts, |merchant, batch| {
        verdicts.extend(batch.iter().map(|v| (merchant.to_owned(), v.clone())));
    })
    .await?;
    Ok(SettleReport { verdicts, retries: summary.retries })
}

/// What one settlement run did, in counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SettleSummary {
    /// Verdicts received and stored.
    pub settled: usize,
    /// Of which accepted.
    pub accepted: usize,
    /// Of which flagged (double spends).
    pub flagged: usize,
    /// Retries made.
    pub retries: u32,
}

/// Uploads every pending payment of every merchant in the store (one API key each), one batch at a
/// time: reads a batch from the queue, uploads it, stores its verdicts, hands them to `on_batch`
/// (with the merchant id), then reads the next. Memory stays that of one batch whatever the size of
/// the queue.
pub async fn settle_pending_with(
    store: &mut MerchantStore,
    server: &str,
    opts: &SettleOptions,
    mut on_batch: impl FnMut(&str, &[Verdict]),
) -> Result<SettleSummary, SettleError> {
    let deadline = Instant::now() + opts.retry_for;
    let mut work = Vec::new();
    let mut total = 0;
    for m in store.merchants()? {
        let pending = store.pending_count(&m.id)? as usize;
        if pending > 0 {
            total += pending;
            work.push(m);
        }
    }
    let bar = if opts.progress && total > 0 {
        let bar = ProgressBar::new(total as u64);
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:40}] {pos}/{len} payments ({per_sec}, eta {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix("settling");
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut summary = SettleSummary::default();
    let batch_size = opts.batch.clamp(1, MAX_BATCH);
    for merchant in work {
        let failed = |source, summary: &SettleSummary| SettleError::Server {
            source,
            settled: summary.settled,
            pending: total.saturating_sub(summary.settled),
        };
        let key = Zeroizing::new(merchant.api_key.to_string());
        let client =
            IssuerClient::new(server, Some(key), opts.timeout).map_err(|source| failed(source, &summary))?;
        let mut after = 0;
        loop {
            let page = store.pending_page(&merchant.id, after, batch_size as u32)?;
            let Some((last, _)) = page.last() else { break };
            after = *last;
            let batch: Vec<UploadedPayment> = page
                .into_iter()
                .map(|(_, p)| UploadedPayment {
                    payment_id: p.payment_id,
                    payload: p.payload,
                    amount: p.amount.minor,
                    currency: p.amount.currency,
                    accepted_at: p.accepted_at,
                })
                .collect();
            let verdicts = upload_with_retry(&client, &batch, opts, deadline, &mut summary.retries)
                .await
                .map_err(|source| {
                    bar.abandon();
                    failed(source, &summary)
                })?;
            drop(batch);
            store.record_verdicts(
                &verdicts
                    .iter()
                    .map(|v| StoredVerdict {
                        payment_id: v.payment_id.clone(),
                        verdict: v.verdict.as_str().into(),
                        reason_code: v.reason_code.map_or(String::new(), |r| r.code().into()),
                        reason: v.reason.clone(),
                        flagged: v.flagged,
                    })
                    .collect::<Vec<_>>(),
            )?;
            bar.inc(verdicts.len() as u64);
            summary.settled += verdicts.len();
            summary.accepted += verdicts.iter().filter(|v| v.verdict == Outcome::Accepted).count();
            summary.flagged += verdicts.iter().filter(|v| v.flagged).count();
            on_batch(&merchant.id, &verdicts);
        }
    }
    bar.finish_and_clear();
    Ok(summary)
}

/// The next time matching `spec` after `now`: `HH:MM` or `HH:MM:SS` in `now`'s offset (today if still
/// ahead, else tomorrow), or an RFC 3339 timestamp.
pub fn next_at(spec: &str, now: time::OffsetDateTime) -> Result<time::OffsetDateTime, String> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(spec, &Rfc3339) {
        return Ok(t);
    }
    let parts: Vec<&str> = spec.split(':').collect();
    let num = |s: &str, max: u8| s.parse::<u8>().ok().filter(|&v| v <= max && s.len() == 2);
    let (h, m, s) = match parts.as_slice() {
        [h, m] => (num(h, 23), num(m, 59), Some(0)),
        [h, m, s] => (num(h, 23), num(m, 59), num(s, 59)),
        _ => (None, None, None),
    };
    let (Some(h), Some(m), Some(s)) = (h, m, s) else {
        return Err(format!("{spec:?} is not a time: write HH:MM, HH:MM:SS or an RFC 3339 timestamp"));
    };
    let time = time::Time::from_hms(h, m, s).map_err(|e| e.to_string())?;
    let today = now.replace_time(time);
    Ok(if today > now { today } else { today + time::Duration::days(1) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_next_occurrence_of_a_time_of_day() {
        let now = datetime!(2026-11-28 10:00:00 +08:00);
        assert_eq!(next_at("10:00:05", now).unwrap(), datetime!(2026-11-28 10:00:05 +08:00));
        assert_eq!(next_at("09:30", now).unwrap(), datetime!(2026-11-29 09:30:00 +08:00));
        assert_eq!(next_at("10:00", now).unwrap(), datetime!(2026-11-29 10:00:00 +08:00), "now is not ahead");
        assert_eq!(next_at("2026-12-01T00:00:00Z", now).unwrap(), datetime!(2026-12-01 00:00:00 UTC));
        for bad in ["24:00", "7:00", "10:60", "noon", "10:00:00:00"] {
            assert!(next_at(bad, now).is_err(), "{bad}");
        }
    }

    fn payment(id: &str) -> UploadedPayment {
        UploadedPayment {
            payment_id: id.into(),
            payload: String::new(),
            amount: 1,
            currency: 156,
            accepted_at: 0,
        }
    }

    fn verdict(id: &str) -> Verdict {
        Verdict {
            payment_id: id.into(),
            verdict: Outcome::Accepted,
            reason_code: None,
            reason: "accepted".into(),
            flagged: false,
            amount: 1,
            currency: 156,
        }
    }

    #[test]
    fn answers_that_do_not_match_the_upload_are_garbage() {
        let sent = [payment("a"), payment("b")];
        assert!(match_verdicts(&sent, vec![verdict("b"), verdict("a")], "u").is_ok());
        for got in [vec![verdict("a")], vec![verdict("a"), verdict("a")], vec![verdict("a"), verdict("c")]] {
            let err = match_verdicts(&sent, got, "u").unwrap_err();
            assert!(matches!(err, ClientError::Garbage { .. }) && err.is_transient(), "{err}");
        }
    }
}
