//! Shared by the runtime's integration tests: a transcript runner, and two test applets — `Probe`,
//! which exposes runtime behaviour through commands, and `Tripwire`, which panics whenever the
//! runtime hands it anything, to prove commands are routed only where they belong.

#![allow(dead_code)]
// Test helpers: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use applet::sw::{self, Sw};
use applet::{Aid, Applet, AppletClass, Card, CardConfig, Catalog, Clear, Command, Context, Service, apps};

/// Hex (spaces allowed) to bytes.
pub fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}"))
}

/// Runs command/response pairs (hex) against `card`, each with the reason it must hold.
pub fn run(card: &mut Card, steps: &[(&str, &str, &str)]) {
    for (i, (cmd, expected, why)) in steps.iter().enumerate() {
        let got = card.process(&h(cmd));
        assert_eq!(
            hex::encode_upper(&got),
            hex::encode_upper(h(expected)),
            "step {i} ({why}): command {cmd}"
        );
    }
    assert_eq!(card.stats().applet_panics, 0, "no applet may panic in a transcript");
}

/// The response's status word.
pub fn sw_of(r: &[u8]) -> Sw {
    u16::from_be_bytes([r[r.len() - 2], r[r.len() - 1]])
}

pub const PROBE1: &str = "A00000099901";
pub const PROBE2: &str = "A00000099902";
pub const TRIPWIRE: &str = "A00000096601";
pub const DIAG: &str = "F0434152444741544501";

pub fn aid(s: &str) -> Aid {
    Aid::from_hex(s).unwrap()
}

/// Objects the probe uses.
pub const OBJ_DESELECTS: u16 = 0x0D;
pub const OBJ_REFUSE: u16 = 0x0F;

/// A test applet whose commands (CLA 80) expose what the runtime does:
///
/// | INS | |
/// |---|---|
/// | 01 | WHO: its AID and the channel |
/// | 02 P1=id | WRITE object id := data (outside any transaction) |
/// | 03 P1=id | READ object id |
/// | 04 P1=id | begin; object id := data; fail with 6A80 (no commit) |
/// | 05 P1=id | begin; object id := data; return 9000 with the transaction open |
/// | 06 P1=00/01 P2=id | READ transient area id (8 bytes), 00 clear-on-reset, 01 clear-on-deselect |
/// | 07 P1=00/01 P2=id | WRITE transient area id := data (8 bytes) |
/// | 08 | begin twice: the second begin's status word |
/// | 09 P1=00/01 | SERVICE probe.svc: object 9 := data, then 9000 (P1 00) or 6985 (P1 01) |
/// | 0A | answers 6100, a status word applets may not use |
/// | 0B | answers 70000 bytes |
/// | 0C | answers 2 bytes with warning 6282 |
/// | 0D | answers 2 bytes with error 6A80 |
/// | 0E | READ how many times deselect ran (persistent) |
/// | 0F | from now on, refuse selection (6999) |
/// | 10 P1=a P2=b | begin; object a := data; object b := data; commit |
#[derive(Debug, Default)]
pub struct Probe;

pub const PROBE_CLASS: AppletClass =
    AppletClass { name: "probe", about: "test probe", create: || Box::new(Probe) };

impl Applet for Probe {
    fn install(&mut self, ctx: &mut Context<'_>, params: &[u8]) -> Result<(), Sw> {
        if params == b"refuse" {
            ctx.write(1, b"written by a refused install")?;
            return Err(sw::CONDITIONS_NOT_SATISFIED);
        }
        ctx.write(OBJ_DESELECTS, &[0])
    }

    fn select(&mut self, ctx: &mut Context<'_>, _fci: &mut Vec<u8>) -> Result<(), Sw> {
        if ctx.read(OBJ_REFUSE).is_some() { Err(0x6999) } else { Ok(()) }
    }

    fn deselect(&mut self, ctx: &mut Context<'_>) {
        let n = ctx.read(OBJ_DESELECTS).map_or(0, |v| v.first().copied().unwrap_or(0));
        let _ = ctx.write_non_atomic(OBJ_DESELECTS, &[n.wrapping_add(1)], false);
    }

    fn process(&mut self, ctx: &mut Context<'_>, cmd: &Command<'_>, reply: &mut Vec<u8>) -> Result<(), Sw> {
        let id = u16::from(cmd.p1());
        let clear = |p1: u8| if p1 == 0 { Clear::OnReset } else { Clear::OnDeselect };
        match cmd.ins() {
            0x01 => {
                reply.extend_from_slice(ctx.aid().as_bytes());
                reply.push(ctx.channel());
                Ok(())
            }
            0x02 => ctx.write(id, cmd.data()),
            0x03 => {
                reply.extend_from_slice(ctx.read(id).ok_or(sw::REFERENCED_DATA_NOT_FOUND)?);
                Ok(())
            }
            0x04 => {
                ctx.begin_transaction()?;
                ctx.write(id, cmd.data())?;
                Err(sw::WRONG_DATA)
            }
            0x05 => {
                ctx.begin_transaction()?;
                ctx.write(id, cmd.data())
            }
            0x06 => {
                reply.extend_from_slice(ctx.transient(clear(cmd.p1()), u16::from(cmd.p2()), 8)?);
                Ok(())
            }
            0x07 => {
                let area = ctx.transient(clear(cmd.p1()), u16::from(cmd.p2()), 8)?;
                let n = cmd.data().len().min(8);
                area[..n].copy_from_slice(&cmd.data()[..n]);
                Ok(())
            }
            0x08 => {
                ctx.begin_transaction()?;
                ctx.begin_transaction()
            }
            0x09 => {
                ctx.write(9, cmd.data())?;
                if cmd.p1() == 0 { Ok(()) } else { Err(sw::CONDITIONS_NOT_SATISFIED) }
            }
            0x0A => Err(0x6100),
            0x0B => {
                reply.resize(70_000, 0xAB);
                Ok(())
            }
            0x0C => {
                reply.extend_from_slice(&[1, 2]);
                Err(sw::END_OF_FILE)
            }
            0x0D => {
                reply.extend_from_slice(&[1, 2]);
                Err(sw::WRONG_DATA)
            }
            0x0E => {
                reply.extend_from_slice(ctx.read(OBJ_DESELECTS).unwrap_or(&[]));
                Ok(())
            }
            0x0F => ctx.write(OBJ_REFUSE, &[1]),
            0x10 => ctx.transaction(|ctx| {
                ctx.write(u16::from(cmd.p1()), cmd.data())?;
                ctx.write(u16::from(cmd.p2()), cmd.data())
            }),
            _ => Err(sw::INS_NOT_SUPPORTED),
        }
    }

    fn services(&self) -> &[Service] {
        const S: &[Service] = &[Service::new("probe.svc", 0x09)];
        S
    }
}

/// Panics in every method the runtime calls after install: registered beside the real applets,
/// it proves that nothing is routed to an applet that is not selected.
#[derive(Debug, Default)]
pub struct Tripwire;

pub const TRIPWIRE_CLASS: AppletClass =
    AppletClass { name: "tripwire", about: "panics when routed to", create: || Box::new(Tripwire) };

impl Applet for Tripwire {
    fn select(&mut self, _: &mut Context<'_>, _: &mut Vec<u8>) -> Result<(), Sw> {
        panic!("tripwire: select must never reach this applet")
    }
    fn deselect(&mut self, _: &mut Context<'_>) {
        panic!("tripwire: deselect must never reach this applet")
    }
    fn process(&mut self, _: &mut Context<'_>, cmd: &Command<'_>, _: &mut Vec<u8>) -> Result<(), Sw> {
        panic!("tripwire: routed a command to the wrong applet: {cmd:?}")
    }
}

/// Every class the tests use.
pub fn catalog() -> Catalog {
    apps::catalog().with(PROBE_CLASS).with(TRIPWIRE_CLASS)
}

/// A card with, in registry order: diag (default), probe 1, probe 2, the tripwire. Quota 8 KiB.
pub fn card() -> Card {
    card_with_quota(8 * 1024)
}

pub fn card_with_quota(quota: usize) -> Card {
    let mut card = Card::new(CardConfig { quota, ..CardConfig::default() }, catalog()).unwrap();
    card.install("diag", aid(DIAG), &[]).unwrap();
    card.install("probe", aid(PROBE1), &[]).unwrap();
    card.install("probe", aid(PROBE2), &[]).unwrap();
    card.install("tripwire", aid(TRIPWIRE), &[]).unwrap();
    card.set_default_applet(Some(aid(DIAG))).unwrap();
    card
}

/// The diagnostic applet's FCI: 6F { 84 AID, A5 { 50 "cardgate diag" } }.
pub const DIAG_FCI: &str = "6F1D 840AF0434152444741544501 A50F 500D 636172646761746520646961 67";
