//! The merchant's commands: `cardgate merchant register|show`, `cardgate accept`, `cardgate settle`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use cardgate::payment::api::{Outcome, RegisterMerchant};
use cardgate::payment::cpm::PaymentPayload;
use cardgate::payment::merchant::{self, AcceptError, MerchantStore};
use cardgate::payment::money::{Currency, format_money, parse_amount, parse_currency};
use cardgate::payment::settle::{SettleOptions, next_at, settle_pending_with};
use cardgate::payment::verify::{DEFAULT_MAX_SKEW, Reason, utc};
use cardgate::payment::{api, qr};
use clap::Subcommand;

use super::issuer::AdminAuth;

/// Exit code of `accept` when the payment is refused (1: an error; 2: a bad command line), as
/// `cardgate policy explain` uses 3 for a denial.
pub const EXIT_REJECTED: u8 = 3;

/// `cardgate merchant ...`.
#[derive(Debug, Subcommand)]
pub enum MerchantCommand {
    /// Register a merchant with the issuer (online, once): stores its API key and the issuer's public
    /// keys in the queue file (created 0600 if missing).
    Register {
        /// Server and admin token.
        #[command(flatten)]
        auth: AdminAuth,
        /// Merchant id: 1 to 15 printable ASCII characters (EMV 9F16).
        #[arg(long)]
        id: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Merchant category code (ISO 18245, EMV 9F15), e.g. 5411.
        #[arg(long)]
        mcc: Option<u16>,
        /// The merchant's store and payment queue (SQLite).
        #[arg(long)]
        queue: PathBuf,
    },
    /// Show a queue: merchants, issuer keys, pending and settled payments with their verdicts.
    Show {
        /// The queue file.
        #[arg(long)]
        queue: PathBuf,
    },
    /// Fetch the issuer's current public keys into the queue (after a key rotation).
    RefreshKeys {
        /// The queue file.
        #[arg(long)]
        queue: PathBuf,
        /// The issuer server's URL (default: the one the merchant registered with).
        #[arg(long)]
        server: Option<String>,
    },
}

/// Runs a `merchant` subcommand.
pub fn run_merchant(cmd: MerchantCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        MerchantCommand::Register { auth, id, name, mcc, queue } => {
            let runtime = tokio::runtime::Runtime::new()?;
            let client = auth.client()?;
            let req = RegisterMerchant {
                merchant_id: id.clone(),
                name: name.unwrap_or_else(|| id.clone()),
                category: mcc,
            };
            let registered = runtime.block_on(merchant::register(&client, &req, &queue))?;
            println!(
                "merchant {} registered with {}; API key and {} issuer key(s) stored in {}",
                registered.merchant_id,
                client.base(),
                registered.issuer_keys,
                queue.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        MerchantCommand::Show { queue } => {
            let store = MerchantStore::open(&queue)?;
            for m in store.merchants()? {
                println!(
                    "merchant {} ({}), category {}, server {}",
                    m.id,
                    m.name,
                    m.category.map_or("none".into(), |c| format!("{c:04}")),
                    m.server
                );
            }
            for k in store.issuer_keys()? {
                println!("issuer key {} ({})", hex::encode(k.key_id), k.algorithm.name());
            }
            let (pending, settled) = store.counts()?;
            println!("{pending} payments pending, {settled} settled");
            for (v, merchant, amount) in store.verdicts()? {
                print_verdict(
                    &merchant,
                    &v.payment_id,
                    &format_money(amount),
                    &v.verdict,
                    &v.reason_code,
                    &v.reason,
                    v.flagged,
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        MerchantCommand::RefreshKeys { queue, server } => {
            let mut store = MerchantStore::open(&queue)?;
            let server = match server {
                Some(s) => s,
                None => store
                    .merchants()?
                    .first()
                    .map(|m| m.server.clone())
                    .context("the queue has no merchant")?,
            };
            let client =
                cardgate::payment::client::IssuerClient::new(&server, None, Duration::from_secs(30))?;
            let keys = tokio::runtime::Runtime::new()?.block_on(client.issuer_keys())?;
            let keys = api::decode_issuer_keys(&keys.keys)?;
            store.add_issuer_keys(&keys)?;
            println!("{} issuer key(s) stored in {}", keys.len(), queue.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_verdict(
    merchant: &str,
    id: &str,
    amount: &str,
    verdict: &str,
    code: &str,
    reason: &str,
    flagged: bool,
) {
    if verdict == "accepted" {
        println!("{merchant:<15} payment {id}  {amount:>14}  ACCEPTED");
    } else {
        println!(
            "{merchant:<15} payment {id}  {amount:>14}  REJECTED {code}{}: {reason}",
            if flagged { " (FLAGGED)" } else { "" }
        );
    }
}

/// `cardgate accept`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["qr", "payload"])))]
pub struct AcceptArgs {
    /// A PNG image of the customer's QR code.
    #[arg(long)]
    pub qr: Option<PathBuf>,
    /// The QR code's text (base64), as a scanner would deliver it.
    #[arg(long)]
    pub payload: Option<String>,
    /// The amount to charge, in the token's currency (e.g. 12.50).
    #[arg(long)]
    pub amount: String,
    /// The currency of --amount (default: the token's); must be the token's.
    #[arg(long)]
    pub currency: Option<String>,
    /// The merchant being paid (optional when the queue holds one merchant).
    #[arg(long)]
    pub merchant: Option<String>,
    /// The merchant's queue file (from `merchant register`).
    #[arg(long)]
    pub queue: PathBuf,
    /// The payment time (RFC 3339); default now.
    #[arg(long)]
    pub time: Option<String>,
    /// How far the card's presentation time may be from the payment time.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub max_skew: Duration,
}

fn rejected(code: Reason, message: &str) -> ExitCode {
    println!("REJECTED {code}: {message}");
    ExitCode::from(EXIT_REJECTED)
}

/// Runs `cardgate accept`: fully offline.
pub fn run_accept(args: AcceptArgs) -> anyhow::Result<ExitCode> {
    let mut store = MerchantStore::open(&args.queue)?;
    let text = match (&args.qr, &args.payload) {
        (Some(path), _) => {
            let bytes = qr::decode_file(path)?;
            match String::from_utf8(bytes) {
                Ok(t) => t,
                Err(_) => {
                    return Ok(rejected(
                        Reason::Malformed,
                        "the QR code holds binary data, not an EMV consumer-presented payload",
                    ));
                }
            }
        }
        (None, Some(text)) => text.clone(),
        (None, None) => anyhow::bail!("give --qr IMAGE or --payload TEXT"),
    };
    let payload = match PaymentPayload::from_text(&text) {
        Ok(p) => p,
        Err(e) => return Ok(rejected(Reason::Malformed, &e.to_string())),
    };
    let token_currency = payload.code.token.threshold.currency;
    let currency = match &args.currency {
        Some(c) => parse_currency(c)?,
        None => Currency::from_numeric(token_currency).with_context(|| {
            format!("the token's currency {token_currency:03} is not one this host knows; give --currency")
        })?,
    };
    let amount = parse_amount(&args.amount, currency)?;
    let at = match &args.time {
        Some(t) => time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .with_context(|| format!("--time {t:?} is not an RFC 3339 time"))?
            .unix_timestamp()
            .try_into()
            .context("--time before 1970")?,
        None => cardgate::payment::server::now(),
    };
    let skew = if args.max_skew.is_zero() { DEFAULT_MAX_SKEW } else { args.max_skew.as_secs() };
    match store.accept(args.merchant.as_deref(), &text, &payload, amount, at, skew) {
        Ok(r) => {
            println!("ACCEPTED payment {}", r.payment_id);
            println!("  amount    {}", format_money(r.amount));
            println!("  merchant  {}", store.merchant(args.merchant.as_deref())?.id);
            println!("  time      {}", utc(at));
            println!(
                "  token     {} (counter {}, use {} of {})",
                r.token_id, r.counter, r.uses, r.allowed_uses
            );
            println!("  queued in {} ({} pending settlement)", args.queue.display(), r.pending);
            Ok(ExitCode::SUCCESS)
        }
        Err(AcceptError::Rejected(r)) => Ok(rejected(r.reason, &r.message)),
        Err(AcceptError::Store(e)) => Err(e.into()),
    }
}

/// `cardgate settle`.
#[derive(Debug, clap::Args)]
pub struct SettleArgs {
    /// The merchant's queue file.
    #[arg(long)]
    pub queue: PathBuf,
    /// The issuer server (default: the one each merchant registered with).
    #[arg(long, env = "CARDGATE_SERVER")]
    pub server: Option<String>,
    /// Settle at this time: HH:MM or HH:MM:SS (local time, next occurrence) or RFC 3339.
    #[arg(long)]
    pub at: Option<String>,
    /// Settle repeatedly, this long apart (e.g. 1h), until interrupted.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub every: Option<Duration>,
    /// Keep retrying an unreachable server for this long before giving up (payments stay queued).
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub retry_for: Duration,
    /// Payments per upload (1 to 1000).
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
}

/// Runs `cardgate settle`.
pub fn run_settle(args: SettleArgs) -> anyhow::Result<ExitCode> {
    // The local offset must be read before any thread starts (time's soundness rule on Unix).
    let now_local = time::OffsetDateTime::now_local().unwrap_or_else(|_| {
        tracing::warn!("local time zone unknown; --at is read as UTC");
        time::OffsetDateTime::now_utc()
    });
    let mut target =
        args.at.as_deref().map(|s| next_at(s, now_local)).transpose().map_err(anyhow::Error::msg)?;
    let mut store = MerchantStore::open(&args.queue)?;
    let opts = SettleOptions { batch: args.batch, retry_for: args.retry_for, ..SettleOptions::default() };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        loop {
            if let Some(t) = target {
                let wait = (t - time::OffsetDateTime::now_utc()).max(time::Duration::ZERO);
                let shown = t
                    .format(time::macros::format_description!(
                        "[year]-[month]-[day] [hour]:[minute]:[second] [offset_hour sign:mandatory]:[offset_minute]"
                    ))
                    .unwrap_or_else(|_| t.to_string());
                eprintln!(
                    "settle: waiting until {shown} ({} from now)",
                    humantime::format_duration(Duration::from_secs(wait.whole_seconds() as u64))
                );
                tokio::time::sleep(wait.try_into().unwrap_or_default()).await;
            }
            let result = settle_round(&mut store, args.server.as_deref(), &opts).await;
            match (&result, args.every) {
                (Err(e), Some(_)) => eprintln!("settle: {e:#}"),
                (Err(_), None) => return result,
                _ => {}
            }
            match args.every {
                Some(every) => {
                    target = Some(target.unwrap_or_else(time::OffsetDateTime::now_utc) + every);
                }
                None => return result,
            }
        }
    })
}

async fn settle_round(
    store: &mut MerchantStore,
    server: Option<&str>,
    opts: &SettleOptions,
) -> anyhow::Result<ExitCode> {
    let merchants = store.merchants()?;
    let server = match server {
        Some(s) => s.to_owned(),
        None => {
            merchants.first().map(|m| m.server.clone()).context("the queue has no registered merchant")?
        }
    };
    let (pending, _) = store.counts()?;
    if pending == 0 {
        println!("nothing to settle: no pending payments in {}", store.path().display());
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("settle: uploading {pending} payment(s) to {server}");
    // Verdicts are printed batch by batch as they are stored: a queue of any size settles in the
    // memory of one batch.
    let summary = settle_pending_with(store, &server, opts, |merchant, verdicts| {
        for v in verdicts {
            let amount = format_money(applet::credit::Money { minor: v.amount, currency: v.currency });
            let code = v.reason_code.map_or(String::new(), |r| r.code().to_owned());
            print_verdict(
                merchant,
                &v.payment_id,
                &amount,
                if v.verdict == Outcome::Accepted { "accepted" } else { "rejected" },
                &code,
                &v.reason,
                v.flagged,
            );
        }
    })
    .await?;
    let (left, _) = store.counts()?;
    println!(
        "settled {} payment(s): {} accepted, {} rejected ({} flagged); {left} pending",
        summary.settled,
        summary.accepted,
        summary.settled - summary.accepted,
        summary.flagged
    );
    Ok(ExitCode::SUCCESS)
}
