//! The card-hammering client: random valid and invalid APDUs through pcscd + vpcd to a served card,
//! for a set time, watching for the three ways a card fails a hostile reader: an answer without a
//! status word, an APDU that never comes back (each one has a deadline), and a card process that grows
//! (its RSS and open file descriptors are sampled at the start and at the end).
//!
//! The mix (weights in [`Kind`]): random bytes of any length; random CLA/INS/P1/P2 with short and
//! extended Lc/Le; SELECTs of the card's applets and of random AIDs; command chaining, finished and
//! broken off; logical channels opened, used (basic and extended CLA encodings) and closed; the
//! applets' own commands (VERIFY, GET DATA, GET RESPONSE, PUT DATA) with random data; and warm
//! resets. The generator is a seeded PRNG: a run is reproduced by its seed.

use crate::rng::Rng;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use reader_bridge::pcsc::PcscTransport;
use reader_bridge::transport::{ResetKind, Transport};

use crate::{CardProcess, SLOT0, VpcdLock, init_card};

/// The card's applets (credit wallet, admin) and the diagnostic applet's AID prefix.
const AIDS: [&str; 3] = ["A0000008580101", "F0434152444741544500", "F043415244474154"];

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct HammerConfig {
    /// How long to hammer.
    pub duration: Duration,
    /// The PRNG seed.
    pub seed: u64,
    /// The longest any one APDU may take before the run counts a hang and stops.
    pub apdu_deadline: Duration,
    /// APDUs sent before the first RSS/fd sample (allocators and caches settle).
    pub warmup: u64,
}

/// A process's memory and descriptors, from `/proc`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcSample {
    /// Resident set size, KiB.
    pub rss_kib: u64,
    /// Open file descriptors.
    pub fds: u64,
}

/// Reads `/proc/PID/status` (VmRSS) and counts `/proc/PID/fd`.
pub fn sample(pid: u32) -> anyhow::Result<ProcSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("read /proc/PID/status")?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .context("no VmRSS")?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).context("read /proc/PID/fd")?.count() as u64;
    Ok(ProcSample { rss_kib, fds })
}

/// What a run did and saw.
#[derive(Debug, Default)]
pub struct HammerReport {
    /// The seed.
    pub seed: u64,
    /// Seconds hammered.
    pub secs: f64,
    /// APDUs sent.
    pub apdus: u64,
    /// Answers that ended in a status word.
    pub with_sw: u64,
    /// Answers without one (must be 0).
    pub without_sw: u64,
    /// Commands pcsc-lite refused before the card saw them (shorter than 4 bytes, too long).
    pub refused_by_pcsc: u64,
    /// Other transmit errors (must be 0: the card went away or stopped answering).
    pub transmit_errors: u64,
    /// Warm resets done.
    pub resets: u64,
    /// The slowest APDU.
    pub slowest: Duration,
    /// Hung APDUs (must be 0).
    pub hangs: u64,
    /// Status words by first byte.
    pub sw_classes: std::collections::BTreeMap<String, u64>,
    /// The card process after the warm-up.
    pub start: ProcSample,
    /// The card process at the end.
    pub end: ProcSample,
    /// What went wrong (empty: nothing).
    pub problems: Vec<String>,
}

impl HammerReport {
    /// Markdown lines for RELIABILITY.md.
    pub fn markdown(&self) -> String {
        let classes: Vec<String> = self.sw_classes.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        format!(
            "| seed | {seed} |\n| time | {secs:.0} s |\n| APDUs sent | {apdus} ({rate:.0}/s) |\n\
             | answers ending in a status word | {sw} |\n| answers without one | {nosw} |\n\
             | refused by pcsc-lite before the card (< 4 bytes) | {pc} |\n| other transmit errors | {te} |\n\
             | hung APDUs (deadline {dl}) | {hangs} |\n| slowest APDU | {slow:.1} ms |\n| warm resets | {resets} |\n\
             | status words by class | {classes} |\n| card process RSS, start → end | {r0} → {r1} KiB |\n\
             | card process open fds, start → end | {f0} → {f1} |\n| result | {result} |\n",
            seed = self.seed,
            secs = self.secs,
            apdus = self.apdus,
            rate = self.apdus as f64 / self.secs.max(1e-9),
            sw = self.with_sw,
            nosw = self.without_sw,
            pc = self.refused_by_pcsc,
            te = self.transmit_errors,
            dl = "5 s",
            hangs = self.hangs,
            slow = self.slowest.as_secs_f64() * 1e3,
            resets = self.resets,
            classes = classes.join(", "),
            r0 = self.start.rss_kib,
            r1 = self.end.rss_kib,
            f0 = self.start.fds,
            f1 = self.end.fds,
            result = if self.problems.is_empty() {
                "no hang, no leak, a status word every time".to_owned()
            } else {
                self.problems.join("; ")
            },
        )
    }
}

/// What to send next.
#[derive(Debug)]
enum Step {
    /// One APDU.
    Apdu(Vec<u8>),
    /// A warm reset.
    Reset,
}

/// A short APDU: header, optional data, optional Le.
fn short(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8], le: Option<u8>) -> Vec<u8> {
    let mut a = vec![cla, ins, p1, p2];
    if !data.is_empty() {
        a.push(data.len().min(255) as u8);
        a.extend_from_slice(&data[..data.len().min(255)]);
    }
    a.extend(le);
    a
}

/// An extended APDU (ISO 7816-4 §5.1: 00 then two length bytes for Lc, two for Le).
fn extended(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8], le: Option<u16>) -> Vec<u8> {
    let mut a = vec![cla, ins, p1, p2, 0];
    if !data.is_empty() {
        a.extend_from_slice(&(data.len() as u16).to_be_bytes());
        a.extend_from_slice(data);
    }
    if let Some(le) = le {
        a.extend_from_slice(&le.to_be_bytes());
    }
    a
}

/// A CLA byte for logical channel `ch` (ISO 7816-4 §5.4.1: 0-3 in the first interindustry
/// encoding, 4-19 in the further one).
fn cla_for_channel(ch: u8) -> u8 {
    if ch < 4 { ch } else { 0x40 | ((ch - 4) & 0x0F) }
}

/// The next step of the mix.
fn next_step(rng: &mut Rng) -> Step {
    let ch = if rng.below(4) == 0 { rng.below(20) as u8 } else { 0 };
    let cla = cla_for_channel(ch);
    match rng.below(100) {
        // Random bytes of any length, the card's parser against anything.
        0..=14 => {
            let n = match rng.below(10) {
                // Not 0 bytes: pcscd + vpcd block on an empty command without passing it to the
                // card (SECURITY.md), which would stop the run, not test the card.
                0 => 1 + rng.below(3) as usize,
                1..=6 => 4 + rng.below(12) as usize,
                7 | 8 => 1 + rng.below(300) as usize,
                _ => 1 + rng.below(3000) as usize,
            };
            let mut bytes = rng.bytes(n);
            // vpcd frames a 1-byte command 00, 01 or 02 exactly like its power controls, which get no
            // answer, and then waits for one: a limit of the protocol (SECURITY.md), not of the card.
            if let [b @ 0x00..=0x02] = bytes.as_mut_slice() {
                *b |= 0x80;
            }
            Step::Apdu(bytes)
        }
        // Random header, short lengths.
        15..=34 => {
            let n = rng.below(40) as usize;
            let data = rng.bytes(n);
            let le = (rng.below(2) == 0).then(|| rng.byte());
            Step::Apdu(short(rng.byte(), rng.byte(), rng.byte(), rng.byte(), &data, le))
        }
        // Random header with a proprietary or interindustry CLA, extended lengths.
        35..=44 => {
            let n = match rng.below(4) {
                0 => 0,
                1 => 256 + rng.below(256) as usize,
                _ => rng.below(2000) as usize,
            };
            let data = rng.bytes(n);
            let le = (rng.below(2) == 0).then(|| rng.next_u64() as u16);
            let cla = *rng.pick(&[0x00, 0x80, cla, 0x84, 0x0C]);
            Step::Apdu(extended(cla, rng.byte(), rng.byte(), rng.byte(), &data, le))
        }
        // SELECT: the card's applets, prefixes, random AIDs, odd P1/P2.
        45..=59 => {
            let aid = if rng.below(3) == 0 {
                let n = rng.below(17) as usize;
                rng.bytes(n)
            } else {
                hex::decode(rng.pick(&AIDS)).unwrap_or_default()
            };
            let any = rng.byte();
            let p1 = *rng.pick(&[0x04, 0x04, 0x04, 0x00, 0x02, 0x08, any]);
            let any = rng.byte();
            let p2 = *rng.pick(&[0x00, 0x0C, 0x02, any]);
            let le = (rng.below(2) == 0).then_some(0);
            Step::Apdu(short(cla, 0xA4, p1, p2, &aid, le))
        }
        // Command chaining (CLA bit 5): a chain of random length, sometimes broken by another CLA.
        60..=69 => {
            let n = rng.below(250) as usize;
            let data = rng.bytes(n);
            let chain = if rng.below(3) == 0 { 0x00 } else { 0x10 };
            let any = rng.byte();
            Step::Apdu(short(
                cla | chain,
                *rng.pick(&[0xDA, 0xDB, 0x50, 0x20, any]),
                rng.byte(),
                rng.byte(),
                &data,
                None,
            ))
        }
        // MANAGE CHANNEL: open (with or without a number), close any.
        70..=77 => {
            let apdu = match rng.below(3) {
                0 => short(cla, 0x70, 0x00, 0x00, &[], Some(1)),
                1 => short(cla, 0x70, 0x00, rng.below(20) as u8, &[], None),
                _ => short(cla, 0x70, 0x80, rng.below(20) as u8, &[], None),
            };
            Step::Apdu(apdu)
        }
        // The applets' commands with random data: VERIFY, GET DATA, GET RESPONSE, PUT DATA, GENERATE.
        78..=97 => {
            let apdu = match rng.below(6) {
                0 => {
                    let n = rng.below(10) as usize;
                    let pin = rng.bytes(n);
                    {
                        let any = rng.byte();
                        short(cla, 0x20, 0x00, *rng.pick(&[0x81, 0x01, 0x82, any]), &pin, None)
                    }
                }
                1 => short(cla, 0xCA, *rng.pick(&[0xDF, 0x9F, 0xFF, 0x00]), rng.byte(), &[], Some(0)),
                2 => short(cla, 0xC0, 0, 0, &[], Some(rng.byte())),
                3 => {
                    let n = rng.below(200) as usize;
                    let data = rng.bytes(n);
                    short(cla, 0xDA, rng.byte(), rng.byte(), &data, None)
                }
                4 => {
                    let n = rng.below(60) as usize;
                    let data = rng.bytes(n);
                    short(cla | 0x80, 0x50, 0, 0, &data, Some(0))
                }
                _ => short(cla, 0x46, rng.below(3) as u8, 0, &[], Some(0)),
            };
            Step::Apdu(apdu)
        }
        _ => Step::Reset,
    }
}

/// Hammers the card in `reader`, whose process is `pid`, for `cfg.duration`.
///
/// An APDU that gets no answer within the deadline is a hang: the watchdog records it and kills the
/// card process, so that the blocked transmit returns and the run ends with the hang reported.
pub fn hammer(reader: &str, pid: u32, cfg: &HammerConfig) -> anyhow::Result<HammerReport> {
    let mut report = HammerReport { seed: cfg.seed, ..HammerReport::default() };
    // The APDU in flight and when it started (ms since `epoch`, 0: none), for the watchdog.
    let epoch = Instant::now();
    let in_flight = Arc::new(AtomicU64::new(0));
    let in_flight_apdu = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(AtomicBool::new(false));
    let hung = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let (in_flight, done, apdu, hung) =
            (in_flight.clone(), done.clone(), in_flight_apdu.clone(), hung.clone());
        let deadline = cfg.apdu_deadline;
        std::thread::spawn(move || -> Option<String> {
            while !done.load(Ordering::Relaxed) {
                let started = in_flight.load(Ordering::Relaxed);
                let now = epoch.elapsed().as_millis() as u64;
                if started != 0 && now.saturating_sub(started) > deadline.as_millis() as u64 {
                    let apdu = apdu.lock().map(|a| hex::encode_upper(&*a)).unwrap_or_default();
                    hung.store(true, Ordering::Relaxed);
                    let _ignored =
                        std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
                    return Some(format!("an APDU got no answer within {deadline:?}: {apdu}"));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            None
        })
    };
    let mut rng = Rng::new(cfg.seed);
    let mut t = PcscTransport::open(Some(reader))?;
    let started = Instant::now();
    let mut sampled = false;
    while started.elapsed() < cfg.duration && !hung.load(Ordering::Relaxed) {
        if !sampled && report.apdus >= cfg.warmup {
            report.start = sample(pid)?;
            sampled = true;
        }
        let step = next_step(&mut rng);
        in_flight.store(epoch.elapsed().as_millis().max(1) as u64, Ordering::Relaxed);
        let t0 = Instant::now();
        let result = match &step {
            Step::Apdu(apdu) => {
                if let Ok(mut a) = in_flight_apdu.lock() {
                    a.clone_from(apdu);
                }
                report.apdus += 1;
                t.transmit(apdu).map(Some)
            }
            Step::Reset => {
                report.resets += 1;
                t.reset(ResetKind::Warm).map(|_| None)
            }
        };
        in_flight.store(0, Ordering::Relaxed);
        report.slowest = report.slowest.max(t0.elapsed());
        match (result, &step) {
            (Ok(Some(r)), _) if r.len() >= 2 => {
                report.with_sw += 1;
                *report.sw_classes.entry(format!("{:02X}xx", r[r.len() - 2])).or_default() += 1;
            }
            (Ok(Some(r)), Step::Apdu(a)) => {
                report.without_sw += 1;
                report.problems.push(format!("{} got {:?}", hex::encode_upper(a), r));
            }
            (Ok(_), _) => {}
            (Err(_), Step::Apdu(a)) if a.len() < 4 => report.refused_by_pcsc += 1,
            (Err(e), _) => {
                report.transmit_errors += 1;
                if report.transmit_errors <= 5 {
                    let what = match &step {
                        Step::Apdu(a) => hex::encode_upper(a),
                        Step::Reset => "reset".into(),
                    };
                    report.problems.push(format!("{what}: {e}"));
                }
                if hung.load(Ordering::Relaxed) {
                    break;
                }
                // Start again on a fresh connection: is the card still there?
                t = PcscTransport::open(Some(reader)).context("the card is gone")?;
            }
        }
    }
    report.secs = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    if let Ok(Some(hang)) = watchdog.join() {
        report.hangs += 1;
        report.problems.push(hang);
    }
    drop(t);
    if report.hangs > 0 {
        return Ok(report);
    }
    report.end = sample(pid)?;
    if !sampled {
        report.start = report.end;
    }
    Ok(report)
}

/// Makes a card in `dir`, serves it in vpcd's first slot (taking the vpcd lock), hammers it, stops
/// it with SIGTERM (it must exit 0 and its state must open again), and judges the run: no answer
/// without a status word, no transmit error, no hang, fds unchanged, RSS grown by less than
/// `rss_slack_kib`.
pub fn run(dir: &Path, cfg: &HammerConfig, rss_slack_kib: u64) -> anyhow::Result<HammerReport> {
    let _lock = VpcdLock::acquire()?;
    let state = dir.join("hammered.card");
    init_card(&state, &[]);
    let mut card = CardProcess::serve(&state, dir)?;
    let mut report = hammer(SLOT0.1, card.pid(), cfg)?;
    if report.hangs > 0 {
        // The watchdog killed the card to end the blocked transmit; the rest cannot be judged.
        return Ok(report);
    }
    if report.transmit_errors > 0 {
        report.problems.push(format!("{} transmit errors", report.transmit_errors));
    }
    if report.end.fds != report.start.fds {
        report.problems.push(format!("open fds went from {} to {}", report.start.fds, report.end.fds));
    }
    if report.end.rss_kib > report.start.rss_kib + rss_slack_kib {
        report.problems.push(format!(
            "RSS grew from {} to {} KiB (more than {rss_slack_kib} KiB)",
            report.start.rss_kib, report.end.rss_kib
        ));
    }
    match card.terminate()? {
        Some(0) => {}
        other => bail!("the card process exited {other:?} after the run:\n{}", card.log_text()),
    }
    let log = card.log_text();
    if log.contains("panicked") {
        report.problems.push(format!("the card process log shows a panic:\n{log}"));
    }
    let state_str = state.to_str().context("state path")?;
    let show = crate::run(crate::cardgate(), &["card", "show", state_str]);
    if show.code != Some(0) {
        report.problems.push(format!("the state file does not open after the run: {show}"));
    }
    Ok(report)
}
