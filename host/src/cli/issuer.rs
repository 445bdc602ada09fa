//! `cardgate issuer ...`: administer a running issuer server over HTTP (accounts, keys).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use cardgate::payment::api::CreateAccount;
use cardgate::payment::client::IssuerClient;
use cardgate::payment::money::{format_money, parse_amount, parse_currency};
use clap::Subcommand;
use zeroize::Zeroizing;

/// Where the admin token comes from.
#[derive(Debug, clap::Args)]
pub struct AdminAuth {
    /// The issuer server's URL.
    #[arg(long, env = "CARDGATE_SERVER")]
    pub server: String,
    /// File holding the admin token (the server writes DATA/admin.token). CARDGATE_ADMIN_TOKEN also works.
    #[arg(long, env = "CARDGATE_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
}

impl AdminAuth {
    /// A client carrying the admin token.
    pub fn client(&self) -> anyhow::Result<IssuerClient> {
        let token = match (&self.admin_token_file, std::env::var("CARDGATE_ADMIN_TOKEN")) {
            (Some(path), _) => Zeroizing::new(
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading the admin token from {}", path.display()))?
                    .trim()
                    .to_owned(),
            ),
            (None, Ok(t)) => Zeroizing::new(t.trim().to_owned()),
            (None, Err(_)) => anyhow::bail!(
                "this command needs the issuer's admin token: --admin-token-file DATA/admin.token or CARDGATE_ADMIN_TOKEN"
            ),
        };
        Ok(IssuerClient::new(&self.server, Some(token), Duration::from_secs(30))?)
    }
}

/// `cardgate issuer ...`: administer a running issuer server.
#[derive(Debug, Subcommand)]
pub enum IssuerCommand {
    /// Create an account with a credit line.
    CreateAccount {
        /// Server and admin token.
        #[command(flatten)]
        auth: AdminAuth,
        /// Account name.
        #[arg(long)]
        account: String,
        /// Credit line, in the currency (e.g. 500.00).
        #[arg(long)]
        credit_limit: String,
        /// ISO 4217 currency (CNY, EUR, 156...).
        #[arg(long, default_value = "CNY")]
        currency: String,
    },
    /// Show an account: credit line, used, tokens issued.
    Account {
        /// Server and admin token.
        #[command(flatten)]
        auth: AdminAuth,
        /// Account name.
        account: String,
    },
    /// List the issuer's public keys.
    Keys {
        /// The issuer server's URL.
        #[arg(long, env = "CARDGATE_SERVER")]
        server: String,
    },
    /// Generate a new issuer key and make it the one that signs new tokens (old keys keep verifying).
    RotateKey {
        /// Server and admin token.
        #[command(flatten)]
        auth: AdminAuth,
        /// ecdsa-p256 or rsa-2048.
        #[arg(long, default_value = "ecdsa-p256")]
        algorithm: String,
    },
}

/// Runs an `issuer` subcommand.
pub fn run_issuer(cmd: IssuerCommand) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        match cmd {
            IssuerCommand::CreateAccount { auth, account, credit_limit, currency } => {
                let currency = parse_currency(&currency)?;
                let limit = parse_amount(&credit_limit, currency)?;
                let info = auth
                    .client()?
                    .create_account(&CreateAccount {
                        account,
                        credit_limit: limit.minor,
                        currency: currency.numeric(),
                    })
                    .await?;
                println!("account {} created: credit line {}", info.account, format_money(limit));
            }
            IssuerCommand::Account { auth, account } => {
                let info = auth.client()?.account(&account).await?;
                let m = |minor| format_money(applet::credit::Money { minor, currency: info.currency });
                println!(
                    "account {}: credit line {}, used {}, available {}, {} tokens issued",
                    info.account,
                    m(info.credit_limit),
                    m(info.used),
                    m(info.credit_limit.saturating_sub(info.used)),
                    info.tokens
                );
            }
            IssuerCommand::Keys { server } => {
                let keys = IssuerClient::new(&server, None, Duration::from_secs(30))?.issuer_keys().await?;
                for k in keys.keys {
                    println!(
                        "{} {} {}",
                        k.key_id,
                        k.algorithm,
                        if k.active { "active" } else { "verify-only" }
                    );
                }
            }
            IssuerCommand::RotateKey { auth, algorithm } => {
                let k = auth.client()?.rotate_key(Some(algorithm)).await?;
                println!("new issuer key {} ({}) is active", k.key_id, k.algorithm);
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
