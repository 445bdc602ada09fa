//! The card holder's side of offline credit payment: `cardgate issue` (personalize a card's credit
//! wallet with a code from the issuer) and `cardgate present` (show a payment code as a QR code).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use applet::credit::apdu::WalletState;
use applet::credit::{CreditPaymentCode, IssuerPublicKey, Money};
use cardgate::payment::api::{IssueRequest, PayeesJson};
use cardgate::payment::money::{Currency, format_money, parse_amount};
use cardgate::payment::qr;
use cardgate::payment::verify::utc;
use cardgate::payment::wallet::{Wallet, WalletStatus};
use policies::{Mcc, MerchantId, Point, ServiceData};
use zeroize::Zeroizing;

use super::emit_script::{self, Emit};
use super::issuer::AdminAuth;

/// `cardgate issue`.
#[derive(Debug, clap::Args)]
pub struct IssueArgs {
    /// Reader: `emu:PATH`, a PC/SC reader name, a substring of one, or an index.
    #[arg(short, long, env = "CARDGATE_READER")]
    pub reader: Option<String>,
    /// Server and admin token.
    #[command(flatten)]
    pub auth: AdminAuth,
    /// The account the card pays from.
    #[arg(long)]
    pub account: String,
    /// How long the code is valid.
    #[arg(long, default_value = "30days", value_parser = humantime::parse_duration)]
    pub valid_for: Duration,
    /// How many payments the code allows in all.
    #[arg(long, default_value_t = 10)]
    pub uses: u16,
    /// The largest single payment, in the account's currency.
    #[arg(long, default_value = "200.00")]
    pub threshold: String,
    /// The account's currency (for --threshold).
    #[arg(long, default_value = "CNY")]
    pub currency: String,
    /// An allowed payee merchant id (repeatable). No --payee and no --payee-mcc: any payee.
    #[arg(long = "payee")]
    pub payees: Vec<String>,
    /// An allowed payee merchant category code (repeatable).
    #[arg(long = "payee-mcc")]
    pub payee_mccs: Vec<u16>,
    /// The cardholder PIN: needed to re-issue an active wallet (with --reissue).
    #[arg(long, env = "CARDGATE_PIN", hide_env_values = true)]
    pub pin: Option<String>,
    /// Replace the code of an active wallet (keeps the card's key unless --new-key).
    #[arg(long)]
    pub reissue: bool,
    /// Generate a new card key even if the wallet has one.
    #[arg(long)]
    pub new_key: bool,
    /// Also write the APDUs sent to the card as a script that `cardgate run` replays (the PIN as
    /// the variable `${pin}`, never its value). Written even when the flow fails.
    #[arg(long, value_name = "FILE")]
    pub emit_script: Option<PathBuf>,
}

/// Runs `cardgate issue`.
pub fn run_issue(args: IssueArgs) -> anyhow::Result<ExitCode> {
    let currency = cardgate::payment::money::parse_currency(&args.currency)?;
    let threshold = parse_amount(&args.threshold, currency)?;
    let valid_for = u32::try_from(args.valid_for.as_secs()).context("--valid-for is too long")?;
    let transport = reader_bridge::open(args.reader.as_deref())?;
    let (transport, emit) = emit_script::wrap(transport, args.emit_script.as_deref(), "cardgate issue")?;
    let result = issue(&args, transport, &emit, threshold, valid_for);
    emit.finish(result)
}

/// Says so when the card reports that its keys come from a seeded DRBG.
fn warn_if_insecure(status: &WalletStatus) {
    if status.insecure_test_card {
        eprintln!(
            "warning: this is an INSECURE TEST CARD (card init --insecure-seed): its keys come from a \
             seeded DRBG and anyone who knows the seed knows them"
        );
    }
}

fn issue(
    args: &IssueArgs,
    transport: Box<dyn reader_bridge::Transport>,
    emit: &Emit,
    threshold: Money,
    valid_for: u32,
) -> anyhow::Result<ExitCode> {
    emit.comment("SELECT the credit wallet, then its status (GET DATA E7)");
    let mut wallet = Wallet::select(transport)?;
    let status = wallet.status()?;
    warn_if_insecure(&status);
    if let Some(pin) = &args.pin {
        emit.comment("VERIFY the cardholder PIN: its value is the variable $pin, not recorded");
        wallet.verify_pin(Zeroizing::new(pin.clone().into_bytes()).as_slice())?;
    }
    if status.state == WalletState::Active && !args.reissue {
        anyhow::bail!(
            "the card's wallet is already active (token {}); use --reissue --pin PIN to replace its code",
            status.token_id.map_or("?".into(), hex::encode)
        );
    }
    let card_key = match status.state {
        WalletState::Empty => {
            emit.comment("GENERATE KEY PAIR: the card makes its key and answers the public key");
            wallet.generate_key(false)?
        }
        WalletState::KeyGenerated if args.new_key => {
            emit.comment("GENERATE KEY PAIR: a new card key");
            wallet.generate_key(false)?
        }
        WalletState::Active if args.new_key => {
            emit.comment("GENERATE KEY PAIR (replace): a new card key");
            wallet.generate_key(true)?
        }
        _ => {
            emit.comment("GET DATA DF26: the card's public key");
            wallet.public_key()?
        }
    };
    eprintln!("card key {}", hex::encode(card_key));
    let client = args.auth.client()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let issued = runtime.block_on(client.issue(&IssueRequest {
        account: args.account.clone(),
        card_public_key: hex::encode(card_key),
        valid_for,
        allowed_uses: args.uses,
        threshold: threshold.minor,
        payees: PayeesJson { merchant_ids: args.payees.clone(), categories: args.payee_mccs.clone() },
    }))?;
    let code = CreditPaymentCode::decode(&hex::decode(&issued.code)?).context("the server's payment code")?;
    let key =
        IssuerPublicKey::decode(&hex::decode(&issued.issuer_key)?).context("the server's issuer key")?;
    // Check before writing to the card: a code the card would refuse is better caught here.
    code.verify(&key).context("the server's code does not verify with its own key")?;
    anyhow::ensure!(
        code.token.card_public_key == card_key,
        "the server issued the code for another card key"
    );
    emit.comment(&format!(
        "(the issuer server issued token {} for that key: not card traffic)",
        issued.token_id
    ));
    emit.comment("PUT DATA E6: the issuer's public key");
    wallet.put_issuer_key(&key)?;
    emit.comment(
        "PUT DATA E2: the credit payment code; the card checks it names its key and the issuer signed it",
    );
    wallet.put_code(&code)?;
    emit.comment("GET DATA E7: the wallet is active");
    let after = wallet.status()?;
    anyhow::ensure!(
        after.state == WalletState::Active,
        "the card did not become active ({})",
        after.state.name()
    );
    let token = &code.token;
    println!("issued token {} to the card for account {}", issued.token_id, args.account);
    println!("  valid     {} to {}", utc(u64::from(token.generated_at)), utc(token.expires_at()));
    println!("  uses      {}", token.allowed_uses);
    println!("  threshold {}", format_money(token.threshold));
    if token.payees.merchant_ids.is_empty() && token.payees.categories.is_empty() {
        println!("  payees    any");
    } else {
        println!(
            "  payees    merchants {:?}, categories {:?}",
            token.payees.merchant_ids, token.payees.categories
        );
    }
    println!("  issuer key {} ({})", hex::encode(key.key_id), key.algorithm.name());
    Ok(ExitCode::SUCCESS)
}

/// `cardgate present`.
#[derive(Debug, clap::Args)]
pub struct PresentArgs {
    /// Reader: `emu:PATH`, a PC/SC reader name, a substring of one, or an index.
    #[arg(short, long, env = "CARDGATE_READER")]
    pub reader: Option<String>,
    /// The amount, if the payment is for a known amount: the card signs it and the merchant must charge
    /// exactly that. In the token's currency.
    #[arg(long)]
    pub amount: Option<String>,
    /// The payee's merchant id, sent to the card for its policy.
    #[arg(long)]
    pub merchant: Option<String>,
    /// The payee's category code, sent to the card for its policy.
    #[arg(long)]
    pub mcc: Option<u16>,
    /// Where the terminal is, `LAT,LON` in degrees, for the card's policy.
    #[arg(long, value_parser = parse_location)]
    pub location: Option<Point>,
    /// The cardholder PIN (the card's policy may want it above an amount).
    #[arg(long, env = "CARDGATE_PIN", hide_env_values = true)]
    pub pin: Option<String>,
    /// Write the QR code as a PNG.
    #[arg(long)]
    pub png: Option<PathBuf>,
    /// Write the QR code as an SVG.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// Print the payload text (base64) instead of the QR code in the terminal.
    #[arg(long)]
    pub text: bool,
    /// The presentation time (RFC 3339); default now.
    #[arg(long)]
    pub time: Option<String>,
    /// Also write the APDUs sent to the card as a script that `cardgate run` replays (the PIN as
    /// the variable `${pin}`, never its value). Written even when the flow fails.
    #[arg(long, value_name = "FILE")]
    pub emit_script: Option<PathBuf>,
}

fn parse_location(s: &str) -> Result<Point, String> {
    let (lat, lon) = s.split_once(',').ok_or("write LAT,LON, e.g. 31.2304,121.4737")?;
    let (lat, lon) = (lat.trim().parse::<f64>(), lon.trim().parse::<f64>());
    let (Ok(lat), Ok(lon)) = (lat, lon) else { return Err("write LAT,LON in decimal degrees".into()) };
    Point::from_degrees(lat, lon).map_err(|e| e.to_string())
}

/// Runs `cardgate present`.
pub fn run_present(args: PresentArgs) -> anyhow::Result<ExitCode> {
    let transport = reader_bridge::open(args.reader.as_deref())?;
    let (transport, emit) = emit_script::wrap(transport, args.emit_script.as_deref(), "cardgate present")?;
    let result = present(&args, transport, &emit);
    emit.finish(result)
}

fn present(
    args: &PresentArgs,
    transport: Box<dyn reader_bridge::Transport>,
    emit: &Emit,
) -> anyhow::Result<ExitCode> {
    emit.comment("SELECT the credit wallet, then its status (GET DATA E7)");
    let mut wallet = Wallet::select(transport)?;
    let status = wallet.status()?;
    warn_if_insecure(&status);
    anyhow::ensure!(
        status.state == WalletState::Active,
        "the card's wallet holds no payment code ({}); personalize it with `cardgate issue`",
        status.state.name()
    );
    if let Some(pin) = &args.pin {
        emit.comment("VERIFY the cardholder PIN: its value is the variable $pin, not recorded");
        wallet.verify_pin(Zeroizing::new(pin.clone().into_bytes()).as_slice())?;
    }
    emit.comment("GET DATA E2: the credit payment code");
    let code = wallet.code()?;
    let token_currency = code.token.threshold.currency;
    let time = match &args.time {
        Some(t) => time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .with_context(|| format!("--time {t:?} is not an RFC 3339 time"))?
            .unix_timestamp(),
        None => cardgate::payment::server::now() as i64,
    };
    let mut data = ServiceData { time: Some(time), location: args.location, ..ServiceData::default() };
    let mut amount = None;
    if let Some(text) = &args.amount {
        let currency = Currency::from_numeric(token_currency)
            .with_context(|| format!("the token's currency {token_currency:03} is unknown"))?;
        let m = parse_amount(text, currency)?;
        amount = Some(m);
        data.amount = Some(policies::Money { minor_units: m.minor, currency });
    }
    if let Some(id) = &args.merchant {
        data.merchant = Some(MerchantId::new(id).map_err(|e| anyhow::anyhow!("--merchant {id:?}: {e}"))?);
    }
    if let Some(mcc) = args.mcc {
        data.mcc =
            Some(Mcc::new(mcc).with_context(|| format!("--mcc {mcc}: a category code has four digits"))?);
    }
    emit.comment(
        "GENERATE PAYMENT CODE: time, place, amount and the terminal's random number in; the card's \
         signed presentation out (its signature differs on every run), then the gate's decision (FF60)",
    );
    let generated = wallet.generate(&code, &data)?;
    let payload = generated.payload;
    let text = payload.to_text();
    if let Some(path) = &args.png {
        qr::write_png(&qr::encode(&text, qrcode::EcLevel::M)?, path)?;
    }
    if let Some(path) = &args.svg {
        let svg = qr::svg(&qr::encode(&text, qrcode::EcLevel::M)?);
        std::fs::write(path, svg).with_context(|| format!("writing {}", path.display()))?;
    }
    if args.text {
        println!("{text}");
    } else {
        let code_l = qr::encode(&text, qrcode::EcLevel::L)?;
        let ansi = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let term = qr::terminal(&code_l, ansi);
        print!("{}", term.text);
        if term.columns > qr::TERMINAL_COLUMNS {
            eprintln!(
                "present: this QR code is {} columns wide, more than {}; scan the --png or --svg instead",
                term.columns,
                qr::TERMINAL_COLUMNS
            );
        }
    }
    let p = &payload.presentation;
    eprintln!(
        "payment code: token {} counter {}{}, valid until {}{}",
        hex::encode(code.token.token_id),
        p.counter,
        amount.map_or(String::new(), |m: Money| format!(", amount {}", format_money(m))),
        utc(code.token.expires_at()),
        if generated.go_online { " (the card advises going online soon)" } else { "" }
    );
    Ok(ExitCode::SUCCESS)
}
