//! `runtime_channels`: logical channels, command chaining and GET RESPONSE, driven by structured
//! steps so that the fuzzer reaches them (random bytes rarely open a channel and then chain on it).

use applet::apdu::{CHANNELS, Command};
use applet::apps::{self, CardOptions};
use applet::{Aid, Card, sw};
use arbitrary::{Arbitrary, Unstructured};
use zeroize::Zeroizing;

use super::status_word;

/// How a command ends: no Le, a short Le (`00` = 256) or an extended one (`0000` = 65536).
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Le {
    Absent,
    Short(u8),
    Extended(u16),
}

#[derive(Arbitrary, Debug)]
enum Step {
    /// MANAGE CHANNEL open (`00 70 00 P2`, P2 `00`: the card chooses) from channel `on`.
    Open { on: u8, p2: u8 },
    /// MANAGE CHANNEL close (`00 70 80 P2`) from channel `on`.
    Close { on: u8, p2: u8 },
    /// SELECT by name of one of the card's applets (or a prefix of the diag AID) on channel `on`.
    Select { on: u8, applet: u8, p2: u8 },
    /// diag ECHO of `len` bytes: the answer, fetched with GET RESPONSE, must be the data.
    Echo { on: u8, len: u16, le: Le, proprietary_get_response: bool },
    /// diag ANSWER N: `00 01 02 ..`, through `6Cxx` and `61xx`.
    Answer { on: u8, n: u16, le: Le },
    /// A chain (CLA bit 5) of up to 30 segments of `8 × parts[i]` bytes of an instruction, ended by an unchained segment;
    /// `break_at` sends another header in the middle (`6883`, the chain is dropped).
    Chain { on: u8, ins: u8, parts: Vec<u8>, le: Le, break_at: Option<u8> },
    /// GET RESPONSE with no response pending, or any P1-P2.
    GetResponse { on: u8, p1p2: u16, le: Le, proprietary: bool },
    /// diag USE, the gated service, with an amount, date and time.
    Use { on: u8, cents: u32, day: u8, second: u32 },
    /// diag VERIFY with the right PIN or a wrong one.
    Verify { on: u8, right: bool },
    /// Any bytes (chaining bit cleared, MANAGE CHANNEL left to the steps above).
    Raw(Vec<u8>),
    /// Warm reset.
    Reset,
}

/// The class byte for channel `ch` (ISO 7816-4 §5.4.1; proprietary classes as Java Card codes them).
fn cla(ch: usize, proprietary: bool) -> u8 {
    let base = if ch < 4 { ch as u8 } else { 0x40 | (ch as u8 - 4) };
    if proprietary { base | 0x80 } else { base }
}

/// A command APDU in the short form when it fits, else the extended form.
fn apdu(header: [u8; 4], data: &[u8], le: Le) -> Vec<u8> {
    let mut out = header.to_vec();
    let extended = data.len() > 255 || matches!(le, Le::Extended(_));
    match (extended, data.is_empty()) {
        (false, false) => out.push(data.len() as u8),
        (true, false) => {
            out.push(0);
            out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        }
        _ => {}
    }
    out.extend_from_slice(data);
    match (le, extended) {
        (Le::Absent, _) => {}
        (Le::Short(n), false) => out.push(n),
        (Le::Short(n), true) => {
            if data.is_empty() {
                out.push(0);
            }
            out.extend_from_slice(&u16::from(n).to_be_bytes());
        }
        (Le::Extended(n), _) => {
            if data.is_empty() {
                out.push(0);
            }
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
    out
}

struct Session {
    card: Card,
    /// Which channels are open, as the commands' answers say.
    open: [bool; CHANNELS],
    out: Vec<u8>,
}

impl Session {
    /// Sends one command and checks what every answer must be; returns the status word.
    fn send(&mut self, apdu: &[u8]) -> u16 {
        let before = self.card.to_state_bytes();
        self.card.process_into(apdu, &mut self.out);
        let sw = status_word(&self.out);
        assert_eq!(self.card.stats().applet_panics, 0);
        assert_eq!(self.card.store().depth(), 0, "a transaction outlived its command");
        match Command::parse(apdu) {
            // The runtime answers these before any applet runs: nothing may have changed.
            Err(_) => assert_eq!(self.card.to_state_bytes(), before, "a refused APDU changed the card"),
            Ok(cmd) if !self.open[usize::from(cmd.channel())] => {
                assert_eq!(sw, sw::LOGICAL_CHANNEL_NOT_SUPPORTED, "{apdu:02X?} on a closed channel");
                assert_eq!(
                    self.card.to_state_bytes(),
                    before,
                    "a command on a closed channel changed the card"
                );
            }
            Ok(_) => {
                assert_ne!(sw, sw::LOGICAL_CHANNEL_NOT_SUPPORTED, "{apdu:02X?}: channel open, answered 6881")
            }
        }
        sw
    }

    /// Fetches the rest of a `61xx` response with GET RESPONSE; returns all the data and the final SW.
    fn drain(&mut self, ch: usize, proprietary: bool, mut sw: u16) -> (Vec<u8>, u16) {
        let mut data = self.out[..self.out.len() - 2].to_vec();
        for _ in 0..300 {
            if sw >> 8 != 0x61 {
                break;
            }
            let want = if sw & 0xFF == 0 { 256 } else { usize::from(sw & 0xFF) };
            sw = self.send(&[cla(ch, proprietary), 0xC0, 0x00, 0x00, (want % 256) as u8]);
            let got = self.out.len() - 2;
            assert!(got <= want, "GET RESPONSE for {want} bytes answered {got}");
            data.extend_from_slice(&self.out[..got]);
        }
        assert_ne!(sw >> 8, 0x61, "GET RESPONSE never ends");
        (data, sw)
    }

    fn diag_on(&self, ch: usize) -> bool {
        self.open[ch] && self.card.selected(ch as u8) == Some(apps::diag::aid())
    }

    fn step(&mut self, step: &Step) {
        match *step {
            Step::Open { on, p2 } => {
                let ch = usize::from(on) % CHANNELS;
                let p2 = p2 % (CHANNELS as u8 + 2);
                let le = if p2 == 0 { Le::Short(1) } else { Le::Absent };
                let sw = self.send(&apdu([cla(ch, false), 0x70, 0x00, p2], &[], le));
                if sw == sw::OK && self.open[ch] {
                    let target = if p2 == 0 { usize::from(self.out[0]) } else { usize::from(p2) };
                    assert!(target > 0 && target < CHANNELS && !self.open[target], "opened {target}");
                    self.open[target] = true;
                }
            }
            Step::Close { on, p2 } => {
                let ch = usize::from(on) % CHANNELS;
                let p2 = p2 % (CHANNELS as u8 + 2);
                let sw = self.send(&[cla(ch, false), 0x70, 0x80, p2]);
                if sw == sw::OK && self.open[ch] {
                    assert!(self.open[usize::from(p2)], "closed channel {p2}, which was not open");
                    self.open[usize::from(p2)] = false;
                }
            }
            Step::Select { on, applet, p2 } => {
                let ch = usize::from(on) % CHANNELS;
                let aids = [
                    apps::diag::AID.as_slice(),
                    &apps::admin::AID,
                    &applet::credit::AID,
                    &apps::diag::AID[..5],
                ];
                let aid = aids[usize::from(applet) % aids.len()];
                let sw = self.send(&apdu([cla(ch, false), 0xA4, 0x04, p2 & 0x0F], aid, Le::Short(0)));
                if sw == sw::OK && p2 & 0x0F == 0 {
                    assert_eq!(
                        self.card.selected(ch as u8).map(|a: Aid| a.as_bytes()[..aid.len()] == *aid),
                        Some(true)
                    );
                }
            }
            Step::Echo { on, len, le, proprietary_get_response } => {
                let ch = usize::from(on) % CHANNELS;
                let data: Vec<u8> = (0..usize::from(len)).map(|i| (i * 7) as u8).collect();
                let diag = self.diag_on(ch);
                let sw = self.send(&apdu([cla(ch, true), 0x10, 0x00, 0x00], &data, le));
                let (got, sw) = self.drain(ch, proprietary_get_response, sw);
                if diag {
                    assert_eq!(sw, sw::OK);
                    assert!(got == data, "ECHO of {} bytes came back as {} bytes", data.len(), got.len());
                }
            }
            Step::Answer { on, n, le } => {
                let ch = usize::from(on) % CHANNELS;
                let diag = self.diag_on(ch);
                let [p1, p2] = n.to_be_bytes();
                let mut sw = self.send(&apdu([cla(ch, true), 0x12, p1, p2], &[], le));
                if sw >> 8 == 0x6C {
                    // ISO 7816-3 §12.2.2: only for a short case 2 command whose Le was too small.
                    let Le::Short(asked) = le else { panic!("6Cxx for {le:?}") };
                    let asked = if asked == 0 { 256 } else { usize::from(asked) };
                    assert!(usize::from(n) > asked && usize::from(n) <= 256 && sw & 0xFF == n & 0xFF);
                    sw = self.send(&apdu([cla(ch, true), 0x12, p1, p2], &[], Le::Short(sw as u8)));
                }
                let (got, sw) = self.drain(ch, false, sw);
                if diag {
                    assert_eq!(sw, sw::OK);
                    assert!(
                        got.len() == usize::from(n) && got.iter().enumerate().all(|(i, &b)| b == i as u8)
                    );
                }
            }
            Step::Chain { on, ins, ref parts, le, break_at } => {
                let ch = usize::from(on) % CHANNELS;
                let ins = if matches!(ins, 0xC0 | 0x60..=0x6F | 0x90..=0x9F) { 0x10 } else { ins };
                let diag = self.diag_on(ch);
                let mut all = Vec::new();
                let mut broken = false;
                for (i, &len) in parts.iter().take(30).enumerate() {
                    let seg: Vec<u8> = (0..usize::from(len) * 8).map(|j| (i + j) as u8).collect();
                    if break_at == Some(i as u8) {
                        // Another header in the middle of the chain.
                        let sw = self.send(&[cla(ch, true), ins ^ 0x01, 0x00, 0x00]);
                        if self.open[ch] && i > 0 {
                            assert_eq!(sw, sw::LAST_COMMAND_OF_CHAIN_EXPECTED);
                        }
                        broken = true;
                        all.clear();
                    }
                    let sw = self.send(&apdu([cla(ch, true) | 0x10, ins, 0x00, 0x00], &seg, Le::Absent));
                    if self.open[ch] {
                        assert_eq!(sw, sw::OK, "chained segment {i}");
                    }
                    all.extend_from_slice(&seg);
                }
                let last: Vec<u8> = (0..3).collect();
                all.extend_from_slice(&last);
                let sw = self.send(&apdu([cla(ch, true), ins, 0x00, 0x00], &last, le));
                let (got, sw) = self.drain(ch, false, sw);
                if diag && ins == 0x10 {
                    assert_eq!(sw, sw::OK, "chain broken: {broken}");
                    assert!(got == all, "a chain of {} bytes echoed as {} bytes", all.len(), got.len());
                }
                if diag && ins == 0x14 {
                    assert_eq!(sw, sw::OK);
                    assert_eq!(got[..2], (all.len() as u16).to_be_bytes(), "CHAIN INFO's Nc");
                }
            }
            Step::GetResponse { on, p1p2, le, proprietary } => {
                let ch = usize::from(on) % CHANNELS;
                let [p1, p2] = p1p2.to_be_bytes();
                self.send(&apdu([cla(ch, proprietary), 0xC0, p1, p2], &[], le));
            }
            Step::Use { on, cents, day, second } => {
                let ch = usize::from(on) % CHANNELS;
                let bcd = |v: u32| (((v / 10 % 10) << 4) | (v % 10)) as u8;
                let amount: Vec<u8> =
                    (0..6u32).rev().map(|k| bcd((u64::from(cents) / 100u64.pow(k) % 100) as u32)).collect();
                let day = u32::from(day % 28) + 1;
                let s = second % 86_400;
                let mut field = vec![0x9F, 0x02, 0x06];
                field.extend_from_slice(&amount);
                field.extend_from_slice(&[0x5F, 0x2A, 0x02, 0x01, 0x56, 0x9A, 0x03, 0x26, 0x11, bcd(day)]);
                field.extend_from_slice(&[0x9F, 0x21, 0x03, bcd(s / 3600), bcd(s / 60 % 60), bcd(s % 60)]);
                let before = self.card.to_state_bytes();
                let sw = self.send(&apdu([cla(ch, true), 0x26, 0x00, 0x00], &field, Le::Short(0)));
                if sw != sw::OK {
                    // A refused service leaves no trace (the runtime's transaction, US 11,127,019 B2).
                    assert!(
                        self.card.to_state_bytes() == before,
                        "USE refused with {sw:04X} changed the card"
                    );
                }
            }
            Step::Verify { on, right } => {
                let ch = usize::from(on) % CHANNELS;
                let pin: &[u8] = if right { b"1234" } else { b"9999" };
                self.send(&apdu([cla(ch, false), 0x20, 0x00, 0x81], pin, Le::Absent));
            }
            Step::Raw(ref bytes) => {
                let mut bytes = bytes.clone();
                if let Some(c) = bytes.first_mut() {
                    *c &= !0x10;
                }
                let manage =
                    Command::parse(&bytes).is_ok_and(|c| c.class().is_interindustry() && c.ins() == 0x70);
                if !manage {
                    self.send(&bytes);
                }
            }
            Step::Reset => {
                self.card.reset();
                self.open = [false; CHANNELS];
                self.open[0] = true;
            }
        }
    }
}

fn card() -> Card {
    let options = CardOptions {
        admin_pin: Some(Zeroizing::new(b"87654321".to_vec())),
        insecure_seed: Some(Zeroizing::new(b"fuzz".to_vec())),
        ..CardOptions::default()
    };
    let mut card = apps::new_card(&options).unwrap();
    let policy = policies::Policy::parse(super::card::DIAG_POLICY, "diag.toml").unwrap();
    card.install_policy(Some(&policy)).unwrap();
    card.power_on();
    card
}

/// Up to 48 steps of MANAGE CHANNEL, SELECT, chains, GET RESPONSE, the gated diag USE, PIN
/// verification and raw commands on a card made like `cardgate card init --admin-pin` with the
/// diag policy. Checks, after every command: a status word; `6881` exactly when the channel is
/// not open by the model the previous answers build (and then nothing changed); a channel opened
/// was closed before; a response cut into `61xx` parts reassembles into what diag answered (ECHO
/// of the data, ANSWER N's counting bytes, a chain's whole data), `6Cxx` only for a short case 2
/// command with too small an Le; a chain interrupted by another header gets `6883`; a refused USE
/// leaves the persistent state as it was.
pub fn runtime_channels(data: &[u8]) {
    let Ok(steps) = Vec::<Step>::arbitrary_take_rest(Unstructured::new(data)) else { return };
    let mut open = [false; CHANNELS];
    open[0] = true;
    let mut s = Session { card: card(), open, out: Vec::new() };
    for step in steps.iter().take(48) {
        s.step(step);
    }
}
