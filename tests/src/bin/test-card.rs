//! A small file-backed card for exercising the vpcd path on its own: `test-card STATE [serve flags]`.
//!
//! Commands (CLA 00; the test AID `F0 43 47 54 45 53 54` must be selected first):
//! - `EE` echo: returns the command data; longer than Le (256 for short Le 00) → `61xx` + GET RESPONSE;
//! - `D0` answer P1P2 bytes (`00 01 02 ...`), same follow-up rules;
//! - `10` increment the persistent counter (written to STATE before the answer) and return it (4 bytes);
//! - `12` read the counter.
//!
//! Anything else: `6D00`; unknown AID: `6A82`. It exists so that the harness and the vpcd loop can be
//! tested independently of the card runtime.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cardgate::serve::{self, ServeConfig};
use reader_bridge::vpcd::{FlushError, VirtualCard};

const AID: [u8; 7] = [0xF0, 0x43, 0x47, 0x54, 0x45, 0x53, 0x54];

#[derive(Debug)]
struct TestCard {
    path: PathBuf,
    counter: u32,
    selected: bool,
    pending: Vec<u8>,
}

impl TestCard {
    fn open(path: &Path) -> std::io::Result<Self> {
        let counter = match std::fs::read_to_string(path) {
            Ok(s) => {
                s.trim().parse().map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        Ok(Self { path: path.into(), counter, selected: false, pending: Vec::new() })
    }

    fn save(&self) -> std::io::Result<()> {
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, format!("{}\n", self.counter))?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &self.path)
    }

    fn respond(&mut self, mut data: Vec<u8>, le: usize) -> Vec<u8> {
        let le = if le == 0 { usize::MAX } else { le };
        if data.len() > le {
            self.pending = data.split_off(le);
            let left = self.pending.len().min(256);
            data.extend_from_slice(&[0x61, if left == 256 { 0 } else { left as u8 }]);
            return data;
        }
        data.extend_from_slice(&[0x90, 0x00]);
        data
    }
}

impl VirtualCard for TestCard {
    fn atr(&self) -> Vec<u8> {
        // T0=8A: TD1, 10 historical bytes; TD1=81: T=1, TD2; TD2=01: T=1; then TCK.
        let mut atr = vec![0x3B, 0x8A, 0x81, 0x01];
        atr.extend_from_slice(b"CARDGATE-T");
        let tck = atr[1..].iter().fold(0, |a, b| a ^ b);
        atr.push(tck);
        atr
    }
    fn power_on(&mut self) {
        self.selected = false;
        self.pending.clear();
    }
    fn power_off(&mut self) {
        self.power_on();
    }
    fn reset(&mut self) {
        self.power_on();
    }
    fn process(&mut self, command: &[u8]) -> Vec<u8> {
        let Ok(view) = iso7816::command::CommandView::try_from(command) else {
            return vec![0x67, 0x00];
        };
        let ins: u8 = view.instruction().into();
        let le = view.expected();
        let short_max = if view.extended { 65536 } else { 256 };
        let le = if le == 0 { 0 } else { le.min(short_max) };
        if ins != 0xC0 {
            self.pending.clear();
        }
        match ins {
            0xA4 if view.p1 == 0x04 => {
                if AID.starts_with(view.data()) && !view.data().is_empty() {
                    self.selected = true;
                    vec![0x90, 0x00]
                } else {
                    vec![0x6A, 0x82]
                }
            }
            0xC0 if !self.pending.is_empty() => {
                let rest = std::mem::take(&mut self.pending);
                self.respond(rest, if le == 0 { 256 } else { le })
            }
            _ if !self.selected => vec![0x69, 0x85],
            0xEE => self.respond(view.data().to_vec(), if le == 0 { short_max } else { le }),
            0xD0 => {
                let n = usize::from(u16::from_be_bytes([view.p1, view.p2]));
                let data = (0..n).map(|i| i as u8).collect();
                self.respond(data, if le == 0 { short_max } else { le })
            }
            0x10 => {
                self.counter = self.counter.wrapping_add(1);
                if self.save().is_err() {
                    self.counter = self.counter.wrapping_sub(1);
                    return vec![0x65, 0x81];
                }
                self.respond(self.counter.to_be_bytes().to_vec(), 0)
            }
            0x12 => self.respond(self.counter.to_be_bytes().to_vec(), 0),
            _ => vec![0x6D, 0x00],
        }
    }
    fn flush(&mut self) -> Result<(), FlushError> {
        self.save().map_err(|e| FlushError(e.to_string()))
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_ansi(false).with_env_filter("info").init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: test-card STATE [--vpcd HOST:PORT] [--ready-file PATH] [--no-quickack]");
        return ExitCode::from(2);
    };
    let mut config = ServeConfig::default();
    let mut it = args[1..].iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--no-quickack" => config.quickack = false,
            "--vpcd" | "--ready-file" => {
                let Some(value) = it.next() else {
                    eprintln!("test-card: {flag} needs a value");
                    return ExitCode::from(2);
                };
                if flag == "--vpcd" {
                    config.vpcd = value.clone();
                } else {
                    config.ready_file = Some(value.into());
                }
            }
            other => {
                eprintln!("test-card: unknown argument {other:?}");
                return ExitCode::from(2);
            }
        }
    }
    config.control = Some(serve::default_control_path(Path::new(path)));
    let card = match TestCard::open(Path::new(path)) {
        Ok(card) => card,
        Err(e) => {
            eprintln!("test-card: {e}");
            return ExitCode::FAILURE;
        }
    };
    match serve::run(card, &config) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("test-card: {e}");
            ExitCode::FAILURE
        }
    }
}
