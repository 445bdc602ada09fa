//! `runtime` and `state_file`: the card runtime under arbitrary sessions, and the state file.

use applet::sw::{self, Sw};
use applet::{Aid, Applet, AppletClass, Card, CardConfig, Command, Context, Service, apps};
use arbitrary::{Arbitrary, Unstructured};

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

/// The storage applet's class (only in the fuzz cards' catalog).
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

/// The example policy of the diagnostic applet, which gates USE and INCREMENT.
pub(crate) const DIAG_POLICY: &str = include_str!("../../../policies/examples/diag.toml");

fn card() -> Card {
    let catalog = apps::catalog().with(STORAGE);
    let mut card = Card::new(CardConfig { quota: 2048, ..CardConfig::default() }, catalog).unwrap();
    card.install("diag", apps::diag::aid(), &[]).unwrap();
    let storage = Aid::from_hex("A0000009990F").unwrap();
    card.install("storage", storage, &[]).unwrap();
    card.install("admin", apps::admin::aid(), &apps::admin::install_params(b"87654321", 3)).unwrap();
    card.install_policy(Some(&policies::Policy::parse(DIAG_POLICY, "diag.toml").unwrap())).unwrap();
    card.set_default_applet(Some(apps::diag::aid())).unwrap();
    card
}

/// Sessions of up to 64 arbitrary commands, resets, power cuts and tears against a card with the
/// diagnostic applet, the policy administration applet, the policy of
/// `policies/examples/diag.toml` (so diag USE and INCREMENT go through the gate), and an applet
/// that drives persistent memory and transactions from the command bytes.
///
/// Invariants after every step: an answer of at least SW1 SW2 with a real SW1, no transaction
/// outliving a command, the quota respected, no applet panic; at the end the state file
/// round-trips and the gate's counters decode.
pub fn runtime(data: &[u8]) {
    let Ok(ops) = Vec::<Op>::arbitrary_take_rest(Unstructured::new(data)) else { return };
    let mut card = card();
    let mut out = Vec::new();
    for op in ops.iter().take(64) {
        match op {
            Op::Apdu(apdu) => card.process_into(apdu, &mut out),
            Op::SelectStorage(cla) => {
                let cla = cla & 0x03;
                card.process_into(
                    &[cla, 0xA4, 0x04, 0x00, 0x06, 0xA0, 0x00, 0x00, 0x09, 0x99, 0x0F, 0x00],
                    &mut out,
                )
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
        super::status_word(&out);
        assert_eq!(card.store().depth(), 0, "a transaction outlived its command");
        assert!(card.store().used() <= card.store().quota());
        assert_eq!(card.stats().applet_panics, 0);
    }
    let bytes = card.to_state_bytes();
    let again = Card::from_state_bytes(&bytes, apps::catalog().with(STORAGE)).expect("a saved state loads");
    assert_eq!(again.to_state_bytes(), bytes);
    assert!(card.counters().is_ok(), "the gate's counters always decode");
}

/// Any bytes as a card state file ([`Card::from_state_bytes`]): never a panic; whatever loads
/// saves and loads back the same, and answers a SELECT with a status word.
pub fn state_file(data: &[u8]) {
    if let Ok(mut card) = Card::from_state_bytes(data, apps::catalog()) {
        let bytes = card.to_state_bytes();
        let again = Card::from_state_bytes(&bytes, apps::catalog()).expect("a saved state loads");
        assert_eq!(again.to_state_bytes(), bytes);
        let mut select = vec![0x00, 0xA4, 0x04, 0x00, 0x0A];
        select.extend_from_slice(&apps::diag::AID);
        super::status_word(&card.process(&select));
    }
}
