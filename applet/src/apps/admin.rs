//! The policy administration applet: how the issuer replaces the card's policy on an issued card,
//! through any reader, after proving who it is with the **admin PIN** set when the card was made
//! (`cardgate card init --admin-pin`). A card-manager-style applet of the runtime: it is built into
//! this crate and is the only applet that may write the runtime's own objects (the policy and its
//! counters, [`gate::stored`](crate::gate::stored)).
//!
//! AID `F0 43 41 52 44 47 41 54 45 00` (`F0` + "CARDGATE" + `00`). Interindustry class `00`
//! (channel bits allowed; chaining for PUT DATA). The command table is in `docs/policies.md`:
//!
//! | command | what it does |
//! |---|---|
//! | `00 20 00 01 Lc PIN` | VERIFY the admin PIN: `9000`, `63Cx` (tries left), `6983` blocked |
//! | `00 20 00 01` | the admin PIN's state, without spending a try; `00 20 FF 01` clears it |
//! | `00 24 00 01 10 old‖new` / `00 24 01 01 Lc new` | CHANGE REFERENCE DATA of the admin PIN |
//! | `00 DA DF 6A Lc policy` | PUT DATA: replace the policy (TOML text, chained or extended for long policies); needs the admin PIN verified on this channel (`6982`); `6A80` if it does not load |
//! | `00 DA DF 6A` (no data) | PUT DATA: remove the policy (the card gates nothing) |
//! | `00 CA DF 6A 00` | GET DATA: the stored policy text (`6A88` if none); no PIN needed |
//!
//! The admin PIN is a Java Card `OwnerPIN` ([`OwnerPin`]): the try counter goes down before the
//! comparison and cannot be rolled back, and a blocked admin PIN stays blocked (there is no
//! resetting code: the card's policy is then fixed for good).

use policies::{Aid, Policy};

use crate::apdu::Command;
use crate::applet::{Applet, AppletClass, Context};
use crate::gate::stored;
use crate::pin::{self, OwnerPin};
use crate::runtime::Card;
use crate::store::ObjectKey;
use crate::sw::{self, Sw};
use crate::tlv;

/// The administration applet's AID: `F0` + "CARDGATE" + `00`.
pub const AID: [u8; 10] = [0xF0, 0x43, 0x41, 0x52, 0x44, 0x47, 0x41, 0x54, 0x45, 0x00];

/// The administration applet's AID as an [`Aid`].
pub const fn aid() -> Aid {
    Aid::from_array(AID)
}

/// The class to put in a [`Catalog`](crate::Catalog).
pub const CLASS: AppletClass = AppletClass {
    name: "admin",
    about: "policy administration: admin PIN, replace the policy (PUT DATA DF6A)",
    create: || Box::new(Admin),
};

/// Install parameter tags (BER-TLV).
pub mod params {
    use crate::tlv::Tag;
    /// The admin PIN, 4 to 8 bytes (required).
    pub const PIN: Tag = Tag(0x81);
    /// Its tries, one byte, 1 to 15 (default 3).
    pub const TRIES: Tag = Tag(0x83);
}

/// The data object of the policy text, for PUT DATA and GET DATA (P1-P2).
pub const POLICY_TAG: u16 = 0xDF6A;
/// VERIFY / CHANGE REFERENCE DATA P2 of the admin PIN: global reference data 1 (ISO 7816-4
/// §7.5.1: a card-wide secret, not one applet's).
pub const PIN_REFERENCE: u8 = 0x01;
/// The admin PIN: object 1, validation slot 1 (not the cardholder slot: it never satisfies a
/// policy's CVM limit).
pub const ADMIN_PIN: OwnerPin = OwnerPin::new(1, 1);
/// Default number of tries.
pub const DEFAULT_TRIES: u8 = 3;

/// The install parameters `cardgate card init --admin-pin` passes.
pub fn install_params(pin: &[u8], tries: u8) -> Vec<u8> {
    let mut w = tlv::Writer::new();
    w.primitive(params::PIN, pin).primitive(params::TRIES, &[tries]);
    w.into_bytes()
}

/// The admin PIN's tries left and its try limit on `card`, if the card has the administration
/// applet (for `cardgate card show`; the PIN itself is never read out).
pub fn pin_tries(card: &Card) -> Option<(u8, u8)> {
    let admin = aid();
    let owner = card.instances.iter().find(|i| i.aid == admin && i.class.name == CLASS.name)?.owner;
    match card.store().read(ObjectKey { owner, id: ADMIN_PIN.object })? {
        [tries, limit, ..] => Some((*tries, *limit)),
        _ => None,
    }
}

/// The policy administration applet (no volatile state of its own).
#[derive(Debug, Default)]
pub struct Admin;

impl Admin {
    fn pin_for(p2: u8) -> Result<OwnerPin, Sw> {
        if p2 == PIN_REFERENCE { Ok(ADMIN_PIN) } else { Err(sw::REFERENCED_DATA_NOT_FOUND) }
    }

    /// PUT DATA DF6A: replace (or, with no data, remove) the policy.
    fn put_policy(ctx: &mut Context<'_>, cmd: &Command<'_>) -> Result<(), Sw> {
        if !ADMIN_PIN.is_validated(ctx) {
            return Err(sw::SECURITY_STATUS_NOT_SATISFIED);
        }
        let policy = match cmd.data() {
            [] => None,
            data => {
                let text = std::str::from_utf8(data).map_err(|_| sw::WRONG_DATA)?;
                match stored::load(text, stored::ORIGIN, ctx.card_services()) {
                    Ok(policy) => Some(policy),
                    Err(e) => {
                        tracing::warn!("PUT DATA: the new policy is refused:\n{e}");
                        return Err(sw::WRONG_DATA);
                    }
                }
            }
        };
        ctx.transaction(|ctx| {
            stored::write(&mut ctx.system(), policy.as_ref()).map_err(|e| match e {
                stored::PolicyLoadError::Store(e) => e.sw(),
                _ => sw::UNKNOWN,
            })
        })?;
        let summary = policy.as_ref().map_or_else(|| "removed".to_owned(), describe);
        tracing::info!("the card's policy was replaced: {summary}");
        Ok(())
    }

    fn get_policy(ctx: &mut Context<'_>, cmd: &Command<'_>, reply: &mut Vec<u8>) -> Result<(), Sw> {
        if !cmd.data().is_empty() {
            return Err(sw::WRONG_LENGTH);
        }
        let text = ctx.system().read(stored::POLICY).ok_or(sw::REFERENCED_DATA_NOT_FOUND)?.to_vec();
        reply.extend_from_slice(&text);
        Ok(())
    }
}

fn describe(policy: &Policy) -> String {
    let names: Vec<&str> = policy.services().iter().map(|s| s.name()).collect();
    format!("{} service(s): {}", names.len(), names.join(", "))
}

impl Applet for Admin {
    fn install(&mut self, ctx: &mut Context<'_>, params: &[u8]) -> Result<(), Sw> {
        let pin = super::param(params, params::PIN)?.ok_or(sw::WRONG_DATA)?;
        if pin.len() < pin::NEW_PIN_MIN {
            return Err(sw::WRONG_DATA);
        }
        ADMIN_PIN.create(ctx, pin, super::tries_param(params, params::TRIES, DEFAULT_TRIES)?)
    }

    fn process(&mut self, ctx: &mut Context<'_>, cmd: &Command<'_>, reply: &mut Vec<u8>) -> Result<(), Sw> {
        let class = cmd.class();
        if class.has_secure_messaging() {
            return Err(sw::SECURE_MESSAGING_NOT_SUPPORTED);
        }
        if !class.is_interindustry() {
            return Err(sw::CLA_NOT_SUPPORTED);
        }
        match cmd.ins() {
            0x20 => pin::verify(ctx, Self::pin_for(cmd.p2())?, cmd),
            0x24 => pin::change_reference_data(ctx, Self::pin_for(cmd.p2())?, cmd),
            0xDA if cmd.p1p2() == POLICY_TAG => Self::put_policy(ctx, cmd),
            0xCA if cmd.p1p2() == POLICY_TAG => Self::get_policy(ctx, cmd, reply),
            0xDA | 0xCA => Err(sw::REFERENCED_DATA_NOT_FOUND),
            _ => Err(sw::INS_NOT_SUPPORTED),
        }
    }
}
