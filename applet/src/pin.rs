//! PINs with Java Card `OwnerPIN` semantics ([`OwnerPin`]), and the three ISO 7816-4 commands that
//! use them: VERIFY (`20`), CHANGE REFERENCE DATA (`24`) and RESET RETRY COUNTER (`2C`).
//!
//! # Why the counter goes down before the comparison
//! [`OwnerPin::check`] first writes the try counter minus one, then compares, then (on a match)
//! writes it back to the limit. Both writes are non-atomic: no transaction abort can undo them. If
//! power is cut after the comparison, the try is already spent; if it is cut before, the host
//! learns nothing, because the card never answered. So tearing cannot buy free tries (tested in
//! `tests/tearing.rs`).
//!
//! # Wire format of PINs
//! A PIN is 1 to [`PIN_MAX`] bytes (usually ASCII digits). A PIN field may be padded on the right
//! with `FF` to [`PIN_MAX`] bytes (the PIV format, NIST SP 800-73-4 §2.4.3); padding is ignored.
//! Commands carrying two values (old and new PIN, PUK and new PIN) carry two padded 8-byte fields.
//! A new PIN must have at least [`NEW_PIN_MIN`] bytes.
//!
//! # Security state
//! Validation is held per logical channel by the runtime (see [`Context::is_validated`]), so it is
//! cleared when the applet is deselected on that channel and at reset, and a PIN verified on one
//! channel does not open another.

use crate::apdu::Command;
use crate::applet::Context;
use crate::sw::{self, Sw};

/// Longest PIN, and the length of a padded PIN field.
pub const PIN_MAX: usize = 8;
/// Shortest PIN that CHANGE REFERENCE DATA and RESET RETRY COUNTER accept as a new value.
pub const NEW_PIN_MIN: usize = 4;
/// Most tries a PIN can have (the count must fit in the low nibble of `63Cx`).
pub const MAX_TRIES: u8 = 15;
/// The validation slot of an applet's **cardholder PIN**: the PIN a policy's CVM limit asks for
/// (`amount.cvm_limit`). An applet whose services can be gated by amount keeps its cardholder PIN
/// in this slot; the gate reads it from the channel's security state
/// ([`ServiceCall::cardholder_verified`](crate::ServiceCall::cardholder_verified)).
pub const CARDHOLDER_SLOT: u8 = 0;

/// A PIN kept in one of its applet's persistent objects: tries left, try limit, length, value.
///
/// `slot` (0 to 31) is the bit that records validation in the channel's security state; give each
/// PIN of an applet its own slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnerPin {
    /// The persistent object that holds the PIN.
    pub object: u16,
    /// The validation bit in the channel's security state.
    pub slot: u8,
}

struct Record {
    tries: u8,
    limit: u8,
    len: usize,
    value: [u8; PIN_MAX],
}

impl Record {
    fn decode(bytes: &[u8]) -> Result<Record, Sw> {
        let [tries, limit, len, rest @ ..] = bytes else { return Err(sw::UNKNOWN) };
        let len = usize::from(*len);
        if len > PIN_MAX || rest.len() != len {
            return Err(sw::UNKNOWN);
        }
        let mut value = [0; PIN_MAX];
        value[..len].copy_from_slice(rest);
        Ok(Record { tries: *tries, limit: *limit, len, value })
    }

    fn encode(&self) -> ([u8; 3 + PIN_MAX], usize) {
        let mut out = [0; 3 + PIN_MAX];
        out[0] = self.tries;
        out[1] = self.limit;
        out[2] = self.len as u8;
        out[3..3 + self.len].copy_from_slice(&self.value[..self.len]);
        (out, 3 + self.len)
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.value);
    }
}

/// Compares in time that depends only on the lengths, not on where the bytes differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..PIN_MAX {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

/// A PIN field without its `FF` padding.
pub fn unpad(field: &[u8]) -> &[u8] {
    let end = field.iter().rposition(|&b| b != 0xFF).map_or(0, |i| i + 1);
    &field[..end]
}

impl OwnerPin {
    /// A PIN handle: persistent object `object`, validation bit `slot`.
    pub const fn new(object: u16, slot: u8) -> OwnerPin {
        OwnerPin { object, slot }
    }

    fn load(&self, ctx: &Context<'_>) -> Result<Record, Sw> {
        Record::decode(ctx.read(self.object).ok_or(sw::REFERENCED_DATA_NOT_FOUND)?)
    }

    fn store(&self, ctx: &mut Context<'_>, record: &Record) -> Result<(), Sw> {
        let (bytes, n) = record.encode();
        ctx.write_non_atomic(self.object, &bytes[..n], true)
    }

    /// Creates (or replaces) the PIN with `value` (1 to [`PIN_MAX`] bytes) and `limit` tries
    /// (1 to [`MAX_TRIES`]). For `install`. `6A80` for a value or limit out of range.
    pub fn create(&self, ctx: &mut Context<'_>, value: &[u8], limit: u8) -> Result<(), Sw> {
        if value.is_empty() || value.len() > PIN_MAX || limit == 0 || limit > MAX_TRIES {
            return Err(sw::WRONG_DATA);
        }
        let mut v = [0; PIN_MAX];
        v[..value.len()].copy_from_slice(value);
        self.store(ctx, &Record { tries: limit, limit, len: value.len(), value: v })
    }

    /// Tries left (Java Card `getTriesRemaining`); 0 means blocked.
    pub fn tries_remaining(&self, ctx: &Context<'_>) -> Result<u8, Sw> {
        Ok(self.load(ctx)?.tries)
    }

    /// Whether the PIN is validated on this channel (Java Card `isValidated`).
    pub fn is_validated(&self, ctx: &Context<'_>) -> bool {
        ctx.is_validated(self.slot)
    }

    /// Compares `candidate` with the PIN (Java Card `check`): when not blocked, spends a try
    /// *before* comparing, and on a match restores the tries and marks the PIN validated on this
    /// channel. Returns whether it matched. Neither counter write takes part in a transaction.
    pub fn check(&self, ctx: &mut Context<'_>, candidate: &[u8]) -> Result<bool, Sw> {
        let mut record = self.load(ctx)?;
        ctx.set_validated(self.slot, false);
        if record.tries == 0 {
            return Ok(false);
        }
        record.tries -= 1;
        self.store(ctx, &record)?;
        if !same(&record.value[..record.len], candidate) {
            return Ok(false);
        }
        record.tries = record.limit;
        self.store(ctx, &record)?;
        ctx.set_validated(self.slot, true);
        Ok(true)
    }

    /// Clears validation on this channel (Java Card `reset`).
    pub fn reset(&self, ctx: &mut Context<'_>) {
        ctx.set_validated(self.slot, false);
    }

    /// Sets a new value, restores the tries and clears validation (Java Card `update`).
    pub fn update(&self, ctx: &mut Context<'_>, value: &[u8]) -> Result<(), Sw> {
        let limit = self.load(ctx)?.limit;
        ctx.set_validated(self.slot, false);
        self.create(ctx, value, limit)
    }

    /// Restores the tries and clears validation (Java Card `resetAndUnblock`).
    pub fn reset_and_unblock(&self, ctx: &mut Context<'_>) -> Result<(), Sw> {
        let mut record = self.load(ctx)?;
        record.tries = record.limit;
        ctx.set_validated(self.slot, false);
        self.store(ctx, &record)
    }

    /// The status word for a failed check: `63Cx` with the tries left (`63C0` right after the
    /// last one), or `6983` if the PIN was already blocked.
    fn failed(&self, ctx: &Context<'_>, was_blocked: bool) -> Result<Sw, Sw> {
        if was_blocked {
            return Ok(sw::AUTH_METHOD_BLOCKED);
        }
        Ok(0x63C0 | Sw::from(self.tries_remaining(ctx)?))
    }
}

fn new_value(field: &[u8]) -> Result<&[u8], Sw> {
    let value = unpad(field);
    if value.len() < NEW_PIN_MIN || value.len() > PIN_MAX {
        return Err(sw::WRONG_DATA);
    }
    Ok(value)
}

fn single_field(data: &[u8]) -> Result<&[u8], Sw> {
    if data.is_empty() || data.len() > PIN_MAX {
        return Err(sw::WRONG_LENGTH);
    }
    Ok(data)
}

fn two_fields(data: &[u8]) -> Result<(&[u8], &[u8]), Sw> {
    if data.len() != 2 * PIN_MAX {
        return Err(sw::WRONG_LENGTH);
    }
    Ok(data.split_at(PIN_MAX))
}

/// VERIFY (ISO 7816-4 §11.5.6), for the PIN the applet mapped P2 to.
///
/// - P1 `00`, data present: a try. `9000`, or `63Cx` with the tries left, or `6983` if blocked
///   (no try spent). More than [`PIN_MAX`] bytes of data: `6700`, no try spent (no PIN is that
///   long, so the answer cannot depend on the PIN).
/// - P1 `00`, no data: the state, without spending a try: `9000` if validated on this channel,
///   `63Cx` otherwise, `6983` if blocked.
/// - P1 `FF`, no data: clears validation on this channel (ISO 7816-4:2013 §11.5.6), `9000`.
/// - other P1: `6A86`.
pub fn verify(ctx: &mut Context<'_>, pin: OwnerPin, cmd: &Command<'_>) -> Result<(), Sw> {
    match (cmd.p1(), cmd.data()) {
        (0xFF, []) => {
            pin.reset(ctx);
            Ok(())
        }
        (0x00, []) => {
            if pin.is_validated(ctx) {
                return Ok(());
            }
            match pin.tries_remaining(ctx)? {
                0 => Err(sw::AUTH_METHOD_BLOCKED),
                n => Err(0x63C0 | Sw::from(n)),
            }
        }
        (0x00, data) => {
            // A field longer than PIN_MAX can hold no PIN: 6700 before the counter is touched.
            let data = single_field(data)?;
            let blocked = pin.tries_remaining(ctx)? == 0;
            if pin.check(ctx, unpad(data))? { Ok(()) } else { Err(pin.failed(ctx, blocked)?) }
        }
        (0xFF, _) => Err(sw::WRONG_LENGTH),
        _ => Err(sw::INCORRECT_P1P2),
    }
}

/// CHANGE REFERENCE DATA (ISO 7816-4 §11.5.7).
///
/// - P1 `00`: data = current PIN field || new PIN field (16 bytes). The current PIN is checked
///   (a try, as VERIFY); on a match the PIN is replaced.
/// - P1 `01`: data = new PIN (1 to 8 bytes): the PIN must already be validated on this channel
///   (`6982` otherwise).
///
/// A new PIN shorter than [`NEW_PIN_MIN`] gets `6A80` and spends no try. After a change the PIN
/// is not validated (Java Card `OwnerPIN.update`): VERIFY again.
pub fn change_reference_data(ctx: &mut Context<'_>, pin: OwnerPin, cmd: &Command<'_>) -> Result<(), Sw> {
    match cmd.p1() {
        0x00 => {
            let (old, new) = two_fields(cmd.data())?;
            let new = new_value(new)?;
            let blocked = pin.tries_remaining(ctx)? == 0;
            if !pin.check(ctx, unpad(old))? {
                return Err(pin.failed(ctx, blocked)?);
            }
            pin.update(ctx, new)
        }
        0x01 => {
            let new = new_value(single_field(cmd.data())?)?;
            if !pin.is_validated(ctx) {
                return Err(sw::SECURITY_STATUS_NOT_SATISFIED);
            }
            pin.update(ctx, new)
        }
        _ => Err(sw::INCORRECT_P1P2),
    }
}

/// RESET RETRY COUNTER (ISO 7816-4 §11.5.10) with a resetting code (`puk`).
///
/// - P1 `00`: data = PUK field || new PIN field (16 bytes): on a PUK match, the PIN gets the new
///   value and all its tries.
/// - P1 `01`: data = PUK (1 to 8 bytes): on a match the PIN gets all its tries back, same value.
///
/// The PUK has its own try counter, spent before comparing like the PIN's: `63Cx` gives the PUK's
/// tries left, `6983` when the PUK is blocked. Other P1 values (reset without a resetting code)
/// are refused with `6A86`.
pub fn reset_retry_counter(
    ctx: &mut Context<'_>,
    pin: OwnerPin,
    puk: OwnerPin,
    cmd: &Command<'_>,
) -> Result<(), Sw> {
    let (code, new) = match cmd.p1() {
        0x00 => {
            let (code, new) = two_fields(cmd.data())?;
            (code, Some(new_value(new)?))
        }
        0x01 => (single_field(cmd.data())?, None),
        _ => return Err(sw::INCORRECT_P1P2),
    };
    let blocked = puk.tries_remaining(ctx)? == 0;
    if !puk.check(ctx, unpad(code))? {
        return Err(puk.failed(ctx, blocked)?);
    }
    puk.reset(ctx);
    match new {
        Some(value) => pin.update(ctx, value),
        None => pin.reset_and_unblock(ctx),
    }
}
