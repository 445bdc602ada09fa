//! Sessions of arbitrary commands, resets, power cuts and tears against a card with the diagnostic
//! applet, the policy administration applet, the policy of `policies/examples/diag.toml` (so diag
//! USE and INCREMENT go through the gate), and an applet that drives persistent memory and
//! transactions from the command bytes.
//! Invariants after every step: an answer of at least SW1 SW2 with a real SW1, no transaction
//! outliving a command, the quota respected, no applet panic; at the end the state file round-trips.
#![no_main]

use applet::sw::{self, Sw};
use applet::{Aid, Applet, AppletClass, Card, CardConfig, Command, Context, Service, apps};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

/// Persistent memory and transactions at the host's command: INS 01 write object P1, 02 begin,
/// 03 commit, 04 abort, 05 remove object P1, 06 answer SW P1P2 with the data, 07 read object P1.
/// INS 01 with P2=80 is a service.
struct Storage;

impl Applet for Storage {
    fn process(&mut self, ctx: &mut Context<'_>, cmd: &Command<'_>, reply: &mut Vec<u8>) -> Result<(), Sw> {
        let id = u16::from(cmd.p1());
        match cmd.ins() {
            0x01 => ctx.write(id, cmd.data()),
            0x02 => ctx.begin_transaction(),
            0x03 => ctx.commit_transaction(),
            0x04 => ctx.abort_transaction(),
            0x05 => ctx.remove(id).map(|_| ()),
            0x06 => {
                reply.extend_from_slice(cmd.data());
                Err(cmd.p1p2())
            }
            0x07 => {
                reply.extend_from_slice(ctx.read(id).unwrap_or(&[]));
                Ok(())
            }
            _ => Err(sw::INS_NOT_SUPPORTED),
        }
    }

    fn services(&self) -> &[Service] {
        const S: &[Service] = &[Service::new("storage.write", 0x01).with_p2(0x80)];
        S
    }

    fn multi_selectable(&self) -> bool {
        true
    }
}

const STORAGE: AppletClass = AppletClass { name: "storage", about: "fuzz", create: || Box::new(Storage) };

#[derive(Arbitrary, Debug)]
enum Op {
    Apdu(Vec<u8>),
    SelectStorage(u8),
    SelectAdmin(u8),
    Reset,
    PowerOff,
    TearAfter(u8),
}

fn card() -> Option<Card> {
    let catalog = apps::catalog().with(STORAGE);
    let mut card = Card::new(CardConfig { quota: 2048, ..CardConfig::default() }, catalog).ok()?;
    card.install("diag", apps::diag::aid(), &[]).ok()?;
    let storage = Aid::from_hex("A0000009990F").ok()?;
    card.install("storage", storage, &[]).ok()?;
    card.install("admin", apps::admin::aid(), &apps::admin::install_params(b"87654321", 3)).ok()?;
    let policy = include_str!("../../policies/examples/diag.toml");
    card.install_policy(Some(&policies::Policy::parse(policy, "diag.toml").ok()?)).ok()?;
    card.set_default_applet(Some(apps::diag::aid())).ok()?;
    Some(card)
}

fuzz_target!(|ops: Vec<Op>| {
    let Some(mut card) = card() else { return };
    let mut out = Vec::new();
    for op in ops.iter().take(64) {
        match op {
            Op::Apdu(apdu) => card.process_into(apdu, &mut out),
            Op::SelectStorage(cla) => {
                let cla = cla & 0x03;
                card.process_into(&[cla, 0xA4, 0x04, 0x00, 0x06, 0xA0, 0x00, 0x00, 0x09, 0x99, 0x0F, 0x00], &mut out)
            }
            Op::SelectAdmin(cla) => {
                let mut apdu = vec![cla & 0x03, 0xA4, 0x04, 0x0C, 0x0A];
                apdu.extend_from_slice(&apps::admin::AID);
                card.process_into(&apdu, &mut out)
            }
            Op::Reset => {
                card.reset();
                continue;
            }
            Op::PowerOff => {
                card.power_off();
                continue;
            }
            Op::TearAfter(n) => {
                card.store_mut().tear_after(u64::from(*n));
                continue;
            }
        }
        assert!(out.len() >= 2 && out.len() <= 65_538, "{out:02X?}");
        assert!(matches!(out[out.len() - 2], 0x61..=0x6F | 0x90..=0x9F), "{out:02X?}");
        assert_eq!(card.store().depth(), 0, "a transaction outlived its command");
        assert!(card.store().used() <= card.store().quota());
        assert_eq!(card.stats().applet_panics, 0);
    }
    let bytes = card.to_state_bytes();
    let again = Card::from_state_bytes(&bytes, apps::catalog().with(STORAGE)).expect("a saved state loads");
    assert_eq!(again.to_state_bytes(), bytes);
    assert!(card.counters().is_ok(), "the gate's counters always decode");
});
