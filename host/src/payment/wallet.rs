//! The host side of the credit wallet applet: its commands over any reader (`reader_bridge`), for
//! `cardgate issue` (personalization) and `cardgate present` (a payment code as a QR payload).
//!
//! The command set is `applet::credit::apdu` (table in `docs/payment.md`).

use applet::credit::apdu::{self, CLA_ISO, CLA_PROPRIETARY, WalletState, command, p1p2};
use applet::credit::{CreditError, CreditPaymentCode, IssuerPublicKey, Presentation, presentation, tags};
use applet::gate::{diagnostic, service_data};
use applet::tlv::{self, Writer};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use policies::{DecisionRecord, ServiceData};
use reader_bridge::{Exchanger, Transport, TransportError};
use zeroize::Zeroizing;

use super::cpm::PaymentPayload;

/// A wallet command failed.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// The reader or the card went away.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The card refused a command.
    #[error("the card answered {sw:04X} ({}) to {what}{}", applet::sw::meaning(*sw), decision_text(.decision))]
    Refused {
        /// What was asked.
        what: &'static str,
        /// The status word.
        sw: u16,
        /// The policy gate's last decision, when the card has one for this command.
        decision: Option<DecisionRecord>,
    },
    /// The card's answer is not what the wallet sends.
    #[error("the card's answer to {what} is malformed: {why}")]
    Malformed {
        /// What was asked.
        what: &'static str,
        /// What is wrong.
        why: String,
    },
    /// The wallet is not in the state the operation needs.
    #[error("{0}")]
    State(String),
}

fn decision_text(d: &Option<DecisionRecord>) -> String {
    match d {
        Some(d) if !d.reasons.is_empty() => {
            let reasons: Vec<String> =
                d.reasons.iter().map(|r| format!("{}: {}", r.code.name(), r.message)).collect();
            format!("; the card's policy (service {}) says: {}", d.service, reasons.join("; "))
        }
        _ => String::new(),
    }
}

/// The name the cardholder PIN goes by in an emitted script (`${pin}`, `cardgate run -D pin=...`).
pub const PIN_SECRET: &str = "pin";

/// The wallet's status (GET DATA `E7`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletStatus {
    /// Life-cycle state.
    pub state: WalletState,
    /// Transaction counter: presentations made.
    pub counter: u16,
    /// The token the wallet holds, when active.
    pub token_id: Option<[u8; 8]>,
    /// The card says it is an insecure test card (`DF2F`): its keys come from a seeded DRBG.
    pub insecure_test_card: bool,
}

/// What one GENERATE PAYMENT CODE produced.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The QR payload.
    pub payload: PaymentPayload,
    /// The gate's decision, when it advised going online.
    pub go_online: bool,
}

/// The wallet on a card, selected.
pub struct Wallet<T: Transport> {
    ex: Exchanger<T>,
}

impl<T: Transport> std::fmt::Debug for Wallet<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wallet").finish_non_exhaustive()
    }
}

impl<T: Transport> Wallet<T> {
    /// Selects the credit wallet (SELECT by DF name, ISO 7816-4 §11.2.2).
    pub fn select(transport: T) -> Result<Self, WalletError> {
        let mut ex = Exchanger::new(transport);
        let out = ex.exchange(&command(CLA_ISO, 0xA4, 0x04, 0x00, &applet::credit::AID, Some(0)))?;
        match out.sw {
            0x9000 => Ok(Self { ex }),
            0x6A82 => Err(WalletError::State(
                "this card has no credit wallet (SELECT A0000008580101 answered 6A82: not found)".into(),
            )),
            sw => Err(WalletError::Refused { what: "SELECT of the credit wallet", sw, decision: None }),
        }
    }

    fn run(&mut self, what: &'static str, apdu: &[u8]) -> Result<Vec<u8>, WalletError> {
        let out = self.ex.exchange(apdu)?;
        if out.sw == 0x9000 {
            Ok(out.data)
        } else {
            Err(WalletError::Refused { what, sw: out.sw, decision: None })
        }
    }

    fn get_data(&mut self, what: &'static str, tag: tlv::Tag) -> Result<Vec<u8>, WalletError> {
        let (p1, p2) = p1p2(tag);
        self.run(what, &command(CLA_ISO, apdu::INS_GET_DATA, p1, p2, &[], Some(0)))
    }

    /// GET DATA `E7`.
    pub fn status(&mut self) -> Result<WalletStatus, WalletError> {
        let data = self.get_data("GET DATA (status)", tags::WALLET_STATUS)?;
        let bad = |why: &str| WalletError::Malformed { what: "GET DATA (status)", why: why.into() };
        let value = tlv::parse_single(&data)
            .ok()
            .filter(|t| t.tag == tags::WALLET_STATUS)
            .ok_or_else(|| bad("not an E7 template"))?
            .value;
        let state = tlv::find(value, tags::WALLET_STATE)
            .ok()
            .flatten()
            .and_then(|v| v.first().copied())
            .and_then(WalletState::from_code)
            .ok_or_else(|| bad("no valid DF2E state"))?;
        let counter = tlv::find(value, tags::COUNTER)
            .ok()
            .flatten()
            .and_then(|v| <[u8; 2]>::try_from(v).ok())
            .map(u16::from_be_bytes)
            .ok_or_else(|| bad("no 9F36 counter"))?;
        let token_id =
            tlv::find(value, tags::TOKEN_ID).ok().flatten().and_then(|v| <[u8; 8]>::try_from(v).ok());
        let insecure_test_card = tlv::find(value, tags::INSECURE_TEST_CARD).ok().flatten().is_some();
        Ok(WalletStatus { state, counter, token_id, insecure_test_card })
    }

    /// VERIFY with the cardholder PIN. The command goes as a secret named `pin`
    /// ([`Exchanger::exchange_secret`]): a script recorder writes `${pin}` for it, and the exchange
    /// record keeps no copy.
    pub fn verify_pin(&mut self, pin: &[u8]) -> Result<(), WalletError> {
        let verify = Zeroizing::new(command(CLA_ISO, apdu::INS_VERIFY, 0x00, apdu::PIN_REFERENCE, pin, None));
        let out = self.ex.exchange_secret(&verify, PIN_SECRET)?;
        match out.sw {
            0x9000 => Ok(()),
            sw if sw & 0xFFF0 == 0x63C0 => {
                Err(WalletError::State(format!("wrong PIN: {} tries left", sw & 0x0F)))
            }
            0x6983 => Err(WalletError::State("the PIN is blocked (6983); unblock it with the PUK".into())),
            sw => Err(WalletError::Refused { what: "VERIFY", sw, decision: None }),
        }
    }

    /// GENERATE KEY PAIR: the card makes a new P-256 key and returns the public key (compressed).
    pub fn generate_key(&mut self, replace: bool) -> Result<[u8; 33], WalletError> {
        let p1 = if replace { apdu::P1_REPLACE_KEY } else { 0 };
        let data = self
            .run("GENERATE KEY PAIR", &command(CLA_ISO, apdu::INS_GENERATE_KEY_PAIR, p1, 0, &[], Some(0)))?;
        card_key(&data, "GENERATE KEY PAIR")
    }

    /// GET DATA `DF26`: the card's current public key.
    pub fn public_key(&mut self) -> Result<[u8; 33], WalletError> {
        let data = self.get_data("GET DATA (card public key)", tags::CARD_PUBLIC_KEY)?;
        card_key(&data, "GET DATA (card public key)")
    }

    /// PUT DATA `E6`: the issuer key the card will check codes with.
    pub fn put_issuer_key(&mut self, key: &IssuerPublicKey) -> Result<(), WalletError> {
        let (p1, p2) = p1p2(tags::ISSUER_KEY);
        self.run("PUT DATA (issuer key)", &command(CLA_ISO, apdu::INS_PUT_DATA, p1, p2, &key.encode(), None))
            .map(drop)
    }

    /// PUT DATA `E2`: the credit payment code. The card checks it is for its key and signed by the
    /// issuer key it holds.
    pub fn put_code(&mut self, code: &CreditPaymentCode) -> Result<(), WalletError> {
        let (p1, p2) = p1p2(tags::PAYMENT_CODE);
        self.run(
            "PUT DATA (credit payment code)",
            &command(CLA_ISO, apdu::INS_PUT_DATA, p1, p2, &code.encoded, None),
        )
        .map(drop)
    }

    /// GET DATA `E2`.
    pub fn code(&mut self) -> Result<CreditPaymentCode, WalletError> {
        let data = self.get_data("GET DATA (credit payment code)", tags::PAYMENT_CODE)?;
        CreditPaymentCode::decode(&data).map_err(|e| WalletError::Malformed {
            what: "GET DATA (credit payment code)",
            why: e.to_string(),
        })
    }

    /// The policy gate's last decision (GET DATA `FF60`), if the card keeps one.
    pub fn last_decision(&mut self) -> Option<DecisionRecord> {
        let (p1, p2) = p1p2(diagnostic::LAST_DECISION);
        let out = self.ex.exchange(&command(CLA_ISO, apdu::INS_GET_DATA, p1, p2, &[], Some(0))).ok()?;
        (out.sw == 0x9000).then(|| diagnostic::decode(&out.data).ok()).flatten()
    }

    /// GENERATE PAYMENT CODE with `data` (the time in it is mandatory) and a fresh unpredictable
    /// number; returns the QR payload after checking the card's signature. A refusal carries the
    /// gate's reasons.
    #[allow(
        clippy::expect_used,
        reason = "AWS-LC's RNG aborts rather than fail; an error here is unreachable"
    )]
    pub fn generate(
        &mut self,
        code: &CreditPaymentCode,
        data: &ServiceData,
    ) -> Result<Generated, WalletError> {
        let what = "GENERATE PAYMENT CODE";
        let mut un = [0u8; 4];
        SystemRandom::new().fill(&mut un).expect("system randomness");
        let mut w = Writer::new();
        service_data::write(data, &mut w)
            .map_err(|e| WalletError::State(format!("cannot send this service data: {e}")))?;
        w.primitive(tags::UNPREDICTABLE_NUMBER, &un);
        let out = self.ex.exchange(&command(
            CLA_PROPRIETARY,
            apdu::INS_GENERATE_PAYMENT_CODE,
            0,
            0,
            w.as_bytes(),
            Some(0),
        ))?;
        if out.sw != 0x9000 {
            let decision = self.last_decision().filter(|d| d.status_word == out.sw);
            return Err(WalletError::Refused { what, sw: out.sw, decision });
        }
        let bad = |why: String| WalletError::Malformed { what, why };
        let parts = applet::credit::raw_children(&out.data).map_err(|e| bad(e.to_string()))?;
        let (Some((_, ptlv)), Some((_, sig))) = (
            parts.iter().find(|(t, _)| *t == tags::PRESENTATION),
            parts.iter().find(|(t, _)| *t == tags::CARD_SIGNATURE),
        ) else {
            return Err(bad("expected E3 and DF2A".into()));
        };
        let presentation = Presentation::decode(ptlv).map_err(|e: CreditError| bad(e.to_string()))?;
        if presentation.unpredictable_number != un {
            return Err(bad("the presentation does not carry this terminal's unpredictable number".into()));
        }
        let signature = tlv::parse_single(sig).map_err(|e| bad(e.to_string()))?.value.to_vec();
        presentation::verify_presentation(&code.token.card_public_key, ptlv, &code.hash(), &signature)
            .map_err(|e| bad(e.to_string()))?;
        let go_online = self.last_decision().is_some_and(|d| d.outcome == policies::Outcome::AllowGoOnline);
        Ok(Generated {
            payload: PaymentPayload {
                code: code.clone(),
                presentation,
                presentation_tlv: ptlv.to_vec(),
                card_signature: signature,
            },
            go_online,
        })
    }
}

fn card_key(data: &[u8], what: &'static str) -> Result<[u8; 33], WalletError> {
    let bad = |why: &str| WalletError::Malformed { what, why: why.into() };
    let t = tlv::parse_single(data).map_err(|e| bad(&e.to_string()))?;
    if t.tag != tags::CARD_PUBLIC_KEY {
        return Err(bad("not a DF26 object"));
    }
    let key: [u8; 33] = t.value.try_into().map_err(|_| bad("DF26 is not 33 bytes"))?;
    if !applet::credit::keys::is_valid_card_key(&key) {
        return Err(bad("DF26 is not a compressed P-256 point"));
    }
    Ok(key)
}
