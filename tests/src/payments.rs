//! Payment helpers for the attack and load tests: the real `cardgate server` with an admin client,
//! and presentations signed with any P-256 key exactly as the card signs them (a card's, a thief's,
//! one that poses as the issuer's).

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use applet::credit::presentation::presentation_signed_message;
use applet::credit::{CreditPaymentCode, Money, Presentation, emv};
use aws_lc_rs::encoding::{AsBigEndian, EcPublicKeyCompressedBin};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair};
use cardgate::payment::api::{CreateAccount, IssueRequest, PayeesJson, RegisterMerchant};
use cardgate::payment::client::IssuerClient;
use cardgate::payment::cpm::PaymentPayload;
use cardgate::payment::merchant::{self, MerchantStore};
use zeroize::Zeroizing;

use crate::IssuerServer;

/// `cardgate server` (the binary, SQLite on disk) with a client holding its admin token.
#[derive(Debug)]
pub struct Issuer {
    /// The server process.
    pub server: IssuerServer,
    /// A client with the admin token.
    pub admin: IssuerClient,
}

impl Issuer {
    /// Starts the server with its data in `dir/issuer`.
    pub fn start(dir: &Path) -> anyhow::Result<Issuer> {
        let server = IssuerServer::start(dir)?;
        let token = std::fs::read_to_string(&server.token_file).context("read the admin token")?;
        let admin = IssuerClient::new(
            &server.url,
            Some(Zeroizing::new(token.trim().into())),
            Duration::from_secs(60),
        )?;
        Ok(Issuer { server, admin })
    }

    /// A client with a merchant's API key (or any string posing as one).
    pub fn client(&self, key: &str) -> anyhow::Result<IssuerClient> {
        Ok(IssuerClient::new(&self.server.url, Some(Zeroizing::new(key.into())), Duration::from_secs(120))?)
    }

    /// Opens an account with a credit line in CNY minor units.
    pub async fn account(&self, name: &str, limit: u64) -> anyhow::Result<()> {
        self.admin
            .create_account(&CreateAccount { account: name.into(), credit_limit: limit, currency: 156 })
            .await?;
        Ok(())
    }

    /// Issues a credit payment code for a card key, valid for an hour, any payee.
    pub async fn issue(
        &self,
        card_public_key: &[u8; 33],
        account: &str,
        uses: u16,
        threshold: u64,
    ) -> anyhow::Result<CreditPaymentCode> {
        let r = self
            .admin
            .issue(&IssueRequest {
                account: account.into(),
                card_public_key: hex::encode(card_public_key),
                valid_for: 3600,
                allowed_uses: uses,
                threshold,
                payees: PayeesJson::default(),
            })
            .await?;
        Ok(CreditPaymentCode::decode(&hex::decode(r.code)?)?)
    }

    /// Registers a merchant with its local store at `queue` (as `cardgate merchant register`).
    pub async fn merchant(&self, id: &str, queue: &Path) -> anyhow::Result<MerchantStore> {
        let req = RegisterMerchant { merchant_id: id.into(), name: id.into(), category: None };
        Ok(merchant::register(&self.admin, &req, queue).await?.store)
    }

    /// Registers a merchant and returns only its API key (uploads made directly, no local store).
    pub async fn merchant_key(&self, id: &str) -> anyhow::Result<String> {
        let req = RegisterMerchant { merchant_id: id.into(), name: id.into(), category: None };
        Ok(self.admin.register_merchant(&req).await?.api_key)
    }
}

/// A fresh P-256 key pair (a card key, a thief's key).
pub fn new_key() -> EcdsaKeyPair {
    #[allow(clippy::expect_used, reason = "P-256 key generation only fails if the RNG is broken")]
    EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 keygen")
}

/// The compressed public key (what a token certifies as the card key).
pub fn compressed(key: &EcdsaKeyPair) -> [u8; 33] {
    #[allow(clippy::expect_used, reason = "a P-256 public key always has a 33-byte compressed form")]
    let c: EcPublicKeyCompressedBin = key.public_key().as_be_bytes().expect("compressed point");
    #[allow(clippy::expect_used, reason = "the compressed form is 33 bytes")]
    c.as_ref().try_into().expect("33 bytes")
}

/// A presentation of `code` with `counter` at `unix`, signed by `key` as GENERATE PAYMENT CODE signs.
pub fn present_with(
    key: &EcdsaKeyPair,
    code: &CreditPaymentCode,
    counter: u16,
    unix: u32,
    amount: Option<Money>,
) -> anyhow::Result<PaymentPayload> {
    let (date, time) = emv::emv_date_time(unix).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let mut un = [0u8; 4];
    SystemRandom::new().fill(&mut un).map_err(|_| anyhow::anyhow!("randomness"))?;
    let presentation = Presentation { counter, date, time, unpredictable_number: un, amount };
    let tlv = presentation.encode()?;
    let sig = key
        .sign(&SystemRandom::new(), &presentation_signed_message(&tlv, &code.hash()))
        .map_err(|_| anyhow::anyhow!("signing failed"))?;
    Ok(PaymentPayload {
        code: code.clone(),
        presentation,
        presentation_tlv: tlv,
        card_signature: sig.as_ref().to_vec(),
    })
}

/// UTC seconds now.
pub fn now() -> u64 {
    cardgate::payment::server::now()
}
