//! The credit wallet applet: offline credit payment on the card (US 11,587,056 B2; `docs/payment.md`,
//! "The card: credit wallet applet", is the command table).
//!
//! AID `A0 00 00 08 58 01 01`. The card generates its own ECDSA P-256 key (the private key never
//! leaves it), keeps the issuer's public key and the credit payment code the issuer signed for the
//! card's key (checked before it is stored), a cardholder PIN and PUK, and a transaction counter.
//! GENERATE PAYMENT CODE (`80 50`) is a declared service, so the policy gate decides on it first; it
//! increments the counter and signs the presentation in the runtime's transaction, together with the
//! gate's counters.

use policies::Aid;

use crate::apdu::Command;
use crate::applet::{Applet, AppletClass, Context, EcdsaFormat, Service};
use crate::credit::apdu::{self as cmds, WalletState};
use crate::credit::presentation::presentation_signed_message;
use crate::credit::{self, CreditPaymentCode, IssuerPublicKey, Money, Presentation, tags};
use crate::gate::service_data;
use crate::pin::{self, OwnerPin};
use crate::sw::{self, Sw};
use crate::tlv::{self, Tag, Writer};

/// The wallet's AID as an [`Aid`].
pub const fn aid() -> Aid {
    Aid::from_array(credit::AID)
}

/// The class to put in a [`Catalog`](crate::Catalog).
pub const CLASS: AppletClass = AppletClass {
    name: "credit",
    about: "offline credit wallet: card key, issuer-signed payment code, signed presentations",
    create: || Box::new(CreditWallet),
};

/// Install parameter tags (BER-TLV, all optional), as the diagnostic applet's.
pub mod params {
    pub use crate::apps::diag::params::{PIN, PIN_TRIES, PUK, PUK_TRIES};
}

const STATE: u16 = 1;
const COUNTER: u16 = 2;
const CARD_KEY: u16 = 3;
const ISSUER_KEY: u16 = 4;
const CODE: u16 = 5;
/// The cardholder PIN (P2 `81`).
pub const PIN: OwnerPin = OwnerPin::new(6, 0);
/// The PUK that unblocks it.
pub const PUK: OwnerPin = OwnerPin::new(7, 1);

/// The wallet (all its state is persistent).
#[derive(Debug, Default)]
pub struct CreditWallet;

fn state(ctx: &Context<'_>) -> Result<WalletState, Sw> {
    match ctx.read(STATE) {
        Some([b]) => WalletState::from_code(*b).ok_or(sw::UNKNOWN),
        _ => Err(sw::UNKNOWN),
    }
}

fn set_state(ctx: &mut Context<'_>, s: WalletState) -> Result<(), Sw> {
    ctx.write(STATE, &[s.code()])
}

fn counter(ctx: &Context<'_>) -> Result<u16, Sw> {
    match ctx.read(COUNTER) {
        Some([a, b]) => Ok(u16::from_be_bytes([*a, *b])),
        _ => Err(sw::UNKNOWN),
    }
}

/// SEC 1 §2.3.3 point compression of an uncompressed P-256 public key (`04 || X || Y`).
fn compress(uncompressed: &[u8]) -> Result<[u8; 33], Sw> {
    let [0x04, xy @ ..] = uncompressed else { return Err(sw::UNKNOWN) };
    if xy.len() != 64 {
        return Err(sw::UNKNOWN);
    }
    let mut out = [0u8; 33];
    out[0] = 0x02 | (xy[63] & 1);
    out[1..].copy_from_slice(&xy[..32]);
    Ok(out)
}

fn tlv_one(tag: Tag, value: &[u8], reply: &mut Vec<u8>) {
    let mut w = Writer::new();
    w.primitive(tag, value);
    reply.extend_from_slice(w.as_bytes());
}

fn stored_code(ctx: &Context<'_>) -> Result<CreditPaymentCode, Sw> {
    let bytes = ctx.read(CODE).ok_or(sw::CONDITIONS_NOT_SATISFIED)?;
    CreditPaymentCode::decode(bytes).map_err(|_| sw::UNKNOWN)
}

impl CreditWallet {
    fn get_data(ctx: &Context<'_>, cmd: &Command<'_>, reply: &mut Vec<u8>) -> Result<(), Sw> {
        if !cmd.data().is_empty() {
            return Err(sw::WRONG_LENGTH);
        }
        match Tag(u32::from(cmd.p1p2())) {
            t if t == tags::WALLET_STATUS => {
                let state = state(ctx)?;
                let mut w = Writer::new();
                w.constructed(tags::WALLET_STATUS, |w| {
                    w.primitive(tags::WALLET_STATE, &[state.code()]);
                    w.primitive(tags::COUNTER, &counter(ctx).unwrap_or(0).to_be_bytes());
                    if let Ok(code) = stored_code(ctx) {
                        w.primitive(tags::TOKEN_ID, &code.token.token_id);
                    }
                    if ctx.is_insecure_test_card() {
                        w.primitive(tags::INSECURE_TEST_CARD, &[0x01]);
                    }
                });
                reply.extend_from_slice(w.as_bytes());
                Ok(())
            }
            t if t == tags::COUNTER => {
                tlv_one(tags::COUNTER, &counter(ctx)?.to_be_bytes(), reply);
                Ok(())
            }
            t if t == tags::CARD_PUBLIC_KEY => {
                if ctx.read(CARD_KEY).is_none() {
                    return Err(sw::REFERENCED_DATA_NOT_FOUND);
                }
                let key = compress(&ctx.p256_public_key(CARD_KEY)?)?;
                tlv_one(tags::CARD_PUBLIC_KEY, &key, reply);
                Ok(())
            }
            t if t == tags::PAYMENT_CODE || t == tags::ISSUER_KEY => {
                let id = if t == tags::PAYMENT_CODE { CODE } else { ISSUER_KEY };
                reply.extend_from_slice(ctx.read(id).ok_or(sw::REFERENCED_DATA_NOT_FOUND)?);
                Ok(())
            }
            _ => Err(sw::REFERENCED_DATA_NOT_FOUND),
        }
    }

    fn generate_key_pair(ctx: &mut Context<'_>, cmd: &Command<'_>, reply: &mut Vec<u8>) -> Result<(), Sw> {
        if cmd.p2() != 0 || !cmd.data().is_empty() {
            return Err(if cmd.data().is_empty() { sw::INCORRECT_P1P2 } else { sw::WRONG_LENGTH });
        }
        let state = state(ctx)?;
        match (state, cmd.p1()) {
            (WalletState::Empty | WalletState::KeyGenerated, 0x00) => {}
            (WalletState::Active, cmds::P1_REPLACE_KEY) if PIN.is_validated(ctx) => {}
            (WalletState::Active, cmds::P1_REPLACE_KEY) => return Err(sw::SECURITY_STATUS_NOT_SATISFIED),
            (WalletState::Active, 0x00) => return Err(sw::CONDITIONS_NOT_SATISFIED),
            _ => return Err(sw::INCORRECT_P1P2),
        }
        let public = ctx.transaction(|ctx| {
            let public = ctx.generate_p256(CARD_KEY)?;
            // A new key makes the old code useless: it names the old key.
            ctx.remove(CODE)?;
            set_state(ctx, WalletState::KeyGenerated)?;
            Ok(public)
        })?;
        tlv_one(tags::CARD_PUBLIC_KEY, &compress(&public)?, reply);
        Ok(())
    }

    fn put_data(ctx: &mut Context<'_>, cmd: &Command<'_>) -> Result<(), Sw> {
        let state = state(ctx)?;
        if state == WalletState::Active && !PIN.is_validated(ctx) {
            // Re-issuance: only the cardholder may replace what an active wallet holds.
            return Err(sw::SECURITY_STATUS_NOT_SATISFIED);
        }
        match Tag(u32::from(cmd.p1p2())) {
            t if t == tags::ISSUER_KEY => {
                IssuerPublicKey::decode(cmd.data()).map_err(|_| sw::WRONG_DATA)?;
                ctx.write(ISSUER_KEY, cmd.data())
            }
            t if t == tags::PAYMENT_CODE => {
                if state == WalletState::Empty {
                    return Err(sw::CONDITIONS_NOT_SATISFIED);
                }
                let issuer = ctx
                    .read(ISSUER_KEY)
                    .ok_or(sw::CONDITIONS_NOT_SATISFIED)
                    .and_then(|k| IssuerPublicKey::decode(k).map_err(|_| sw::UNKNOWN))?;
                let code = CreditPaymentCode::decode(cmd.data()).map_err(|_| sw::WRONG_DATA)?;
                let own = compress(&ctx.p256_public_key(CARD_KEY)?)?;
                if code.token.card_public_key != own {
                    return Err(sw::WRONG_DATA);
                }
                code.verify(&issuer).map_err(|_| sw::SECURITY_STATUS_NOT_SATISFIED)?;
                ctx.transaction(|ctx| {
                    ctx.write(CODE, &code.encoded)?;
                    set_state(ctx, WalletState::Active)
                })
            }
            _ => Err(sw::REFERENCED_DATA_NOT_FOUND),
        }
    }

    fn generate_payment_code(
        ctx: &mut Context<'_>,
        cmd: &Command<'_>,
        reply: &mut Vec<u8>,
    ) -> Result<(), Sw> {
        if cmd.p1p2() != 0 {
            return Err(sw::INCORRECT_P1P2);
        }
        if state(ctx)? != WalletState::Active {
            return Err(sw::CONDITIONS_NOT_SATISFIED);
        }
        // The gate has read the standard objects already when a policy binds the service; read them
        // again here, since a card without such a policy has no gate in front of this command.
        let data = service_data::from_tlv(cmd.data()).map_err(|e| e.status_word())?;
        let field = |tag: Tag| tlv::find(cmd.data(), tag).map_err(|_| sw::WRONG_DATA);
        let fixed = |tag: Tag, n: usize| -> Result<Vec<u8>, Sw> {
            match field(tag)? {
                Some(v) if v.len() == n => Ok(v.to_vec()),
                Some(_) => Err(sw::WRONG_DATA),
                None => Err(sw::WRONG_DATA),
            }
        };
        let (date, time, un) =
            (fixed(tags::DATE, 3)?, fixed(tags::TIME, 3)?, fixed(tags::UNPREDICTABLE_NUMBER, 4)?);
        let at = data.time.ok_or(sw::WRONG_DATA)?;
        let code = stored_code(ctx)?;
        let token = &code.token;
        // The card's own checks of its token, beside whatever the policy says.
        if !u64::try_from(at).is_ok_and(|t| token.is_valid_at(t)) {
            return Err(sw::CONDITIONS_NOT_SATISFIED);
        }
        let amount = data.amount.map(|m| Money { minor: m.minor_units, currency: m.currency.numeric() });
        if let Some(m) = amount
            && (m.currency != token.threshold.currency || m.minor > token.threshold.minor || m.minor == 0)
        {
            return Err(sw::CONDITIONS_NOT_SATISFIED);
        }
        let next = counter(ctx)?.checked_add(1).ok_or(sw::CONDITIONS_NOT_SATISFIED)?;
        let presentation = Presentation {
            counter: next,
            date: [date[0], date[1], date[2]],
            time: [time[0], time[1], time[2]],
            unpredictable_number: [un[0], un[1], un[2], un[3]],
            amount,
        };
        let encoded = presentation.encode().map_err(|_| sw::WRONG_DATA)?;
        let signature = ctx.sign_p256(
            CARD_KEY,
            &presentation_signed_message(&encoded, &code.hash()),
            EcdsaFormat::Fixed,
        )?;
        // The runtime runs a declared service in a transaction: the counter, and the gate's counters,
        // commit together when this returns Ok, or not at all.
        ctx.write(COUNTER, &next.to_be_bytes())?;
        reply.extend_from_slice(&encoded);
        tlv_one(tags::CARD_SIGNATURE, &signature, reply);
        Ok(())
    }
}

impl Applet for CreditWallet {
    fn install(&mut self, ctx: &mut Context<'_>, params: &[u8]) -> Result<(), Sw> {
        crate::apps::diag::create_pin_and_puk(ctx, params, PIN, PUK)?;
        set_state(ctx, WalletState::Empty)?;
        ctx.write(COUNTER, &0u16.to_be_bytes())
    }

    fn select(&mut self, _ctx: &mut Context<'_>, fci: &mut Vec<u8>) -> Result<(), Sw> {
        // Application label (ISO 7816-4 §8.2.1.1, tag 50).
        let mut w = Writer::new();
        w.primitive(Tag(0x50), b"CARDGATE CREDIT");
        fci.extend_from_slice(w.as_bytes());
        Ok(())
    }

    fn process(&mut self, ctx: &mut Context<'_>, cmd: &Command<'_>, reply: &mut Vec<u8>) -> Result<(), Sw> {
        if cmd.class().has_secure_messaging() {
            return Err(sw::SECURE_MESSAGING_NOT_SUPPORTED);
        }
        let iso = cmd.class().is_interindustry();
        let pin_only =
            || if cmd.p2() == cmds::PIN_REFERENCE { Ok(PIN) } else { Err(sw::REFERENCED_DATA_NOT_FOUND) };
        match (iso, cmd.ins()) {
            (true, cmds::INS_VERIFY) => pin::verify(ctx, pin_only()?, cmd),
            (true, cmds::INS_CHANGE_REFERENCE_DATA) => pin::change_reference_data(ctx, pin_only()?, cmd),
            (true, cmds::INS_RESET_RETRY_COUNTER) => pin::reset_retry_counter(ctx, pin_only()?, PUK, cmd),
            (true, cmds::INS_GENERATE_KEY_PAIR) => Self::generate_key_pair(ctx, cmd, reply),
            (true, cmds::INS_GET_DATA) => Self::get_data(ctx, cmd, reply),
            (true, cmds::INS_PUT_DATA) => Self::put_data(ctx, cmd),
            (false, cmds::INS_GENERATE_PAYMENT_CODE) => Self::generate_payment_code(ctx, cmd, reply),
            _ => Err(sw::INS_NOT_SUPPORTED),
        }
    }

    fn services(&self) -> &[Service] {
        const SERVICES: &[Service] = &[Service::new(cmds::SERVICE_NAME, cmds::INS_GENERATE_PAYMENT_CODE)];
        SERVICES
    }
}
