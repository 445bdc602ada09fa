//! The diagnostic applet: a fixed target for testing readers, hosts and the runtime itself.
//! Echo, "answer N bytes" (61xx / GET RESPONSE / extended length), a chaining probe, a persistent
//! counter in transactions, a service for policy gates (USE), a memory filler for the quota, and a PIN with a PUK.
//!
//! AID `F0 43 41 52 44 47 41 54 45 01` (`F0` + "CARDGATE" + `01`). The command table is in
//! `docs/runtime.md`; in short (CLA `80` for the applet's own commands, `00` for the ISO PIN
//! commands; channel bits allowed in both):
//!
//! | command | what it does |
//! |---|---|
//! | `80 10 00 00 Lc data [Le]` | ECHO: answers `data` |
//! | `80 12 P1 P2 [Le]` | ANSWER N: answers N = P1P2 bytes `00 01 02 ..` |
//! | `80 14 00 00 Lc data [Le]` | CHAIN INFO: answers Nc (2 bytes) and SHA-256(data) |
//! | `80 20 00 00 [Le]` | READ COUNTER: 4 bytes, big-endian |
//! | `80 22 P1 00 [Lc amount] [Le]` | INCREMENT by amount (4 bytes, default 1) in a transaction: P1 `00` commit, `01` abort, `02` leave open (the runtime aborts). Answers the new value. Service `diag.increment` (P1 `00`) |
//! | `80 24 00 00` | RESET COUNTER to 0; needs the PIN verified on this channel |
//! | `80 26 00 00 [Lc service-data] [Le]` | USE: the service `diag.use`, for policy gates: adds 1 to the counter (in a transaction of its own, inside the runtime's) and answers the new value. The data field is the service data (BER-TLV, `docs/policies.md`); the applet only checks it is well-formed |
//! | `80 30 P1 P2` | ALLOCATE: keeps P1P2 bytes (≤ 7FFF) in persistent memory (0 frees); `6A84` over quota |
//! | `80 32 00 00 [Le]` | MEMORY: quota, used, available (4 bytes each) |
//! | `00 20 P1 81/82 [Lc PIN]` | VERIFY the PIN (`81`) or the PUK (`82`) |
//! | `00 24 P1 81 Lc data` | CHANGE REFERENCE DATA of the PIN |
//! | `00 2C P1 81 Lc data` | RESET RETRY COUNTER of the PIN with the PUK |

use policies::Aid;

use crate::apdu::Command;
use crate::applet::{Applet, AppletClass, Context, Service};
use crate::pin::{self, OwnerPin};
use crate::sw::{self, Sw};
use crate::tlv;

/// The diagnostic applet's AID: `F0` + "CARDGATE" + `01`.
pub const AID: [u8; 10] = [0xF0, 0x43, 0x41, 0x52, 0x44, 0x47, 0x41, 0x54, 0x45, 0x01];

/// The diagnostic applet's AID as an [`Aid`].
pub const fn aid() -> Aid {
    Aid::from_array(AID)
}

/// The class to put in a [`Catalog`](crate::Catalog).
pub const CLASS: AppletClass = AppletClass {
    name: "diag",
    about: "diagnostics: echo, N bytes, chaining, counter, PIN",
    create: || Box::new(Diag),
};

/// Install parameter tags (BER-TLV, all optional).
pub mod params {
    use crate::tlv::Tag;
    /// The PIN, 1 to 8 bytes (default "1234").
    pub const PIN: Tag = Tag(0x81);
    /// The PUK, 1 to 8 bytes (default "12345678").
    pub const PUK: Tag = Tag(0x82);
    /// PIN tries, one byte, 1 to 15 (default 3).
    pub const PIN_TRIES: Tag = Tag(0x83);
    /// PUK tries, one byte, 1 to 15 (default 5).
    pub const PUK_TRIES: Tag = Tag(0x84);
}

/// Default PIN when the install parameters give none.
pub const DEFAULT_PIN: &[u8] = b"1234";
/// Default PUK when the install parameters give none.
pub const DEFAULT_PUK: &[u8] = b"12345678";
/// Default PIN tries.
pub const DEFAULT_PIN_TRIES: u8 = 3;
/// Default PUK tries.
pub const DEFAULT_PUK_TRIES: u8 = 5;

/// Creates an applet's cardholder PIN and its PUK from the install parameters in [`params`] (the
/// credit wallet takes the same ones), with the defaults where one is absent.
pub(crate) fn create_pin_and_puk(
    ctx: &mut Context<'_>,
    install: &[u8],
    pin: OwnerPin,
    puk: OwnerPin,
) -> Result<(), Sw> {
    let pin_value = super::param(install, params::PIN)?.unwrap_or(DEFAULT_PIN);
    let puk_value = super::param(install, params::PUK)?.unwrap_or(DEFAULT_PUK);
    pin.create(ctx, pin_value, super::tries_param(install, params::PIN_TRIES, DEFAULT_PIN_TRIES)?)?;
    puk.create(ctx, puk_value, super::tries_param(install, params::PUK_TRIES, DEFAULT_PUK_TRIES)?)
}

const COUNTER: u16 = 1;
const SCRATCH: u16 = 4;
/// The PIN (P2 `81`).
pub const PIN: OwnerPin = OwnerPin::new(2, 0);
/// The PUK (P2 `82`).
pub const PUK: OwnerPin = OwnerPin::new(3, 1);

/// Largest ALLOCATE.
pub const MAX_ALLOCATE: usize = 0x7FFF;

/// The diagnostic applet (no volatile state of its own).
#[derive(Debug, Default)]
pub struct Diag;

/// The install parameters for a PIN, a PUK and their tries, as `card init` passes them.
pub fn install_params(pin: &[u8], puk: &[u8], pin_tries: u8, puk_tries: u8) -> Vec<u8> {
    let mut w = tlv::Writer::new();
    w.primitive(params::PIN, pin).primitive(params::PUK, puk);
    w.primitive(params::PIN_TRIES, &[pin_tries]).primitive(params::PUK_TRIES, &[puk_tries]);
    w.into_bytes()
}

impl Diag {
    fn pin_for(p2: u8) -> Result<OwnerPin, Sw> {
        match p2 {
            0x81 => Ok(PIN),
            0x82 => Ok(PUK),
            _ => Err(sw::REFERENCED_DATA_NOT_FOUND),
        }
    }

    fn increment(ctx: &mut Context<'_>, cmd: &Command<'_>, reply: &mut Vec<u8>) -> Result<(), Sw> {
        if cmd.p2() != 0 {
            return Err(sw::INCORRECT_P1P2);
        }
        let amount = match cmd.data() {
            [] => 1,
            [a, b, c, d] => u32::from_be_bytes([*a, *b, *c, *d]),
            _ => return Err(sw::WRONG_LENGTH),
        };
        let mode = cmd.p1();
        if mode > 2 {
            return Err(sw::INCORRECT_P1P2);
        }
        ctx.begin_transaction()?;
        let value = ctx.read_u32(COUNTER)?.checked_add(amount).ok_or(sw::WRONG_DATA)?;
        ctx.write(COUNTER, &value.to_be_bytes())?;
        match mode {
            0 => ctx.commit_transaction()?,
            1 => ctx.abort_transaction()?,
            // Mode 2 leaves the transaction open: the runtime must abort it when process returns.
            _ => {}
        }
        reply.extend_from_slice(&value.to_be_bytes());
        Ok(())
    }

    /// USE: the gated service of the diagnostic applet. The runtime's gate has read the service
    /// data already; the applet checks it is BER-TLV and counts the use.
    fn use_service(ctx: &mut Context<'_>, cmd: &Command<'_>, reply: &mut Vec<u8>) -> Result<(), Sw> {
        if cmd.p1p2() != 0 {
            return Err(sw::INCORRECT_P1P2);
        }
        if tlv::iter(cmd.data()).any(|object| object.is_err()) {
            return Err(sw::WRONG_DATA);
        }
        ctx.transaction(|ctx| {
            let value = ctx.read_u32(COUNTER)?.checked_add(1).ok_or(sw::WRONG_DATA)?;
            ctx.write(COUNTER, &value.to_be_bytes())?;
            reply.extend_from_slice(&value.to_be_bytes());
            Ok(())
        })
    }

    fn own_command(ctx: &mut Context<'_>, cmd: &Command<'_>, reply: &mut Vec<u8>) -> Result<(), Sw> {
        let no_params = || if cmd.p1p2() == 0 { Ok(()) } else { Err(sw::INCORRECT_P1P2) };
        let no_data = || if cmd.data().is_empty() { Ok(()) } else { Err(sw::WRONG_LENGTH) };
        match cmd.ins() {
            0x10 => {
                no_params()?;
                reply.extend_from_slice(cmd.data());
                Ok(())
            }
            0x12 => {
                no_data()?;
                reply.extend((0..usize::from(cmd.p1p2())).map(|i| i as u8));
                Ok(())
            }
            0x14 => {
                no_params()?;
                reply.extend_from_slice(&(cmd.data().len() as u16).to_be_bytes());
                reply.extend_from_slice(
                    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cmd.data()).as_ref(),
                );
                Ok(())
            }
            0x20 => {
                no_params()?;
                no_data()?;
                reply.extend_from_slice(&ctx.read_u32(COUNTER)?.to_be_bytes());
                Ok(())
            }
            0x22 => Self::increment(ctx, cmd, reply),
            0x26 => Self::use_service(ctx, cmd, reply),
            0x24 => {
                no_params()?;
                no_data()?;
                if !PIN.is_validated(ctx) {
                    return Err(sw::SECURITY_STATUS_NOT_SATISFIED);
                }
                ctx.write(COUNTER, &0u32.to_be_bytes())
            }
            0x30 => {
                no_data()?;
                let n = usize::from(cmd.p1p2());
                if n > MAX_ALLOCATE {
                    return Err(sw::WRONG_P1P2);
                }
                if n == 0 {
                    ctx.remove(SCRATCH)?;
                } else {
                    let fill: Vec<u8> = (0..n).map(|i| i as u8).collect();
                    ctx.write(SCRATCH, &fill)?;
                }
                reply.extend_from_slice(&(ctx.available_memory() as u32).to_be_bytes());
                Ok(())
            }
            0x32 => {
                no_params()?;
                no_data()?;
                let (quota, used) = ctx.memory_usage();
                for n in [quota, used, quota.saturating_sub(used)] {
                    reply.extend_from_slice(&(n as u32).to_be_bytes());
                }
                Ok(())
            }
            _ => Err(sw::INS_NOT_SUPPORTED),
        }
    }
}

impl Applet for Diag {
    fn install(&mut self, ctx: &mut Context<'_>, params: &[u8]) -> Result<(), Sw> {
        create_pin_and_puk(ctx, params, PIN, PUK)?;
        ctx.write(COUNTER, &0u32.to_be_bytes())
    }

    fn select(&mut self, _ctx: &mut Context<'_>, fci: &mut Vec<u8>) -> Result<(), Sw> {
        // Application label (ISO 7816-4 §8.2.1.1, tag 50).
        let label = b"cardgate diag";
        fci.push(0x50);
        fci.push(label.len() as u8);
        fci.extend_from_slice(label);
        Ok(())
    }

    fn process(&mut self, ctx: &mut Context<'_>, cmd: &Command<'_>, reply: &mut Vec<u8>) -> Result<(), Sw> {
        if cmd.class().has_secure_messaging() {
            return Err(sw::SECURE_MESSAGING_NOT_SUPPORTED);
        }
        let iso = cmd.class().is_interindustry();
        match (iso, cmd.ins()) {
            (true, 0x20) => pin::verify(ctx, Self::pin_for(cmd.p2())?, cmd),
            (true, 0x24) => pin::change_reference_data(ctx, Self::pin_for(cmd.p2()).and_then(only_pin)?, cmd),
            (true, 0x2C) => {
                pin::reset_retry_counter(ctx, Self::pin_for(cmd.p2()).and_then(only_pin)?, PUK, cmd)
            }
            (false, 0x10 | 0x12 | 0x14 | 0x20 | 0x22 | 0x24 | 0x26 | 0x30 | 0x32) => {
                Self::own_command(ctx, cmd, reply)
            }
            // An instruction this applet has, in the wrong class (ISO 7816-4 §5.6, table 6).
            (true, 0x10 | 0x12 | 0x14 | 0x22 | 0x26 | 0x30 | 0x32) | (false, 0x2C) => {
                Err(sw::CLA_NOT_SUPPORTED)
            }
            _ => Err(sw::INS_NOT_SUPPORTED),
        }
    }

    fn services(&self) -> &[Service] {
        const SERVICES: &[Service] =
            &[Service::new("diag.increment", 0x22).with_p1(0x00), Service::new("diag.use", 0x26)];
        SERVICES
    }

    fn multi_selectable(&self) -> bool {
        true
    }
}

/// CHANGE REFERENCE DATA and RESET RETRY COUNTER apply to the PIN only.
fn only_pin(pin: OwnerPin) -> Result<OwnerPin, Sw> {
    if pin == PIN { Ok(pin) } else { Err(sw::REFERENCED_DATA_NOT_FOUND) }
}
