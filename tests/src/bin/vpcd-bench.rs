//! The PC/SC path through pcscd + vpcd, measured for cardgate's served card beside its floor and
//! its peer in the same run (`scripts/bench/sections/30-bridge.sh` runs it):
//!
//! - **round trip** of one APDU, median and p99, for ECHO of 8, 255 and extended-length data
//!   (1024 and 4096 bytes): `cardgate card serve`; the **floor**, a minimal card on the vpcd
//!   protocol that does no work (this program, `vpcd-bench floor-card`: the same socket options as
//!   ours, TCP_NODELAY, TCP_QUICKACK re-armed after every read and the receive timeout, answering
//!   each APDU with its data and `9000`); the peer, Debian's `vicc` (GET CHALLENGE of 8 bytes: it has no echo); the
//!   in-process transport (no PC/SC); and ours with QUICKACK off (the delayed-ACK stall);
//! - **power-up and reset** through pcscd, what every new client connection costs: `SCardConnect`
//!   on a powered card, `SCardConnect` on an unpowered card (after `SCardDisconnect` with
//!   `SCARD_UNPOWER_CARD`: pcscd powers it up), `SCardReconnect` with `SCARD_RESET_CARD` and with
//!   `SCARD_UNPOWER_CARD`.
//!
//! Ours and the floor sit in the two readers at once and are measured in alternating chunks (then
//! with the slots swapped), so that both see the same machine load; the CPU time each card process
//! spends per APDU (`/proc/PID/task/*/schedstat`) is reported beside the latencies.
//! Prints Markdown (tables with the ratios) on stdout, and `summary |...|` rows for BENCHMARKS.md's
//! summary table.
//!
//! usage: vpcd-bench [N]                      N round trips per case for ours and the floor
//!                                            (default 5000; the slow cards get 100)
//!        vpcd-bench floor-card --vpcd HOST:PORT --ready-file FILE

use std::ffi::CString;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use cardgate_tests::{
    CardProcess, SLOT0, SLOT1, VpcdLock, cardgate, ensure_pcscd, wait_for_empty, wait_until,
};
use pcsc::{Disposition, Protocols, Scope, ShareMode};
use reader_bridge::Transport;
use reader_bridge::pcsc::PcscTransport;

/// What was measured, in µs.
#[derive(Clone)]
struct Figures {
    n: usize,
    median: f64,
    p99: f64,
}

fn figures(mut samples: Vec<Duration>) -> Figures {
    samples.sort();
    let n = samples.len();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    Figures { n, median: us(samples[n / 2]), p99: us(samples[(n * 99).div_ceil(100).saturating_sub(1)]) }
}

fn fmt_us(us: f64) -> String {
    if us >= 1000.0 { format!("{:.2} ms", us / 1000.0) } else { format!("{us:.1} µs") }
}

/// ECHO of the diagnostic applet with `n` data bytes (short up to 255, extended beyond; ISO 7816-4
/// §5.1), answered with the same bytes and `9000`.
fn echo(n: usize) -> Vec<u8> {
    let data = (0..n).map(|i| i as u8);
    if n <= 255 {
        [0x80, 0x10, 0x00, 0x00, n as u8].into_iter().chain(data).chain([0x00]).collect()
    } else {
        let [hi, lo] = (n as u16).to_be_bytes();
        [0x80, 0x10, 0x00, 0x00, 0x00, hi, lo].into_iter().chain(data).chain([0x00, 0x00]).collect()
    }
}

const SELECT_DIAG: &str = "00A404000AF043415244474154450100";
/// vicc's closest command to an 8-byte echo: GET CHALLENGE of 8 bytes (its SELECT crashes on FCI).
const VICC_CHALLENGE: &str = "0084000008";

/// Sends `setup` (unless empty), then `apdu` `warmup + n` times, timing the last `n` round trips.
fn round_trips(
    t: &mut dyn Transport,
    setup: &[u8],
    apdu: &[u8],
    warmup: usize,
    n: usize,
) -> anyhow::Result<Vec<Duration>> {
    if !setup.is_empty() {
        let r = t.transmit(setup)?;
        if r[r.len() - 2..] != [0x90, 0x00] {
            bail!("setup answered {}", hex::encode_upper(&r));
        }
    }
    let mut samples = Vec::with_capacity(n);
    for i in 0..n + warmup {
        let start = Instant::now();
        let r = t.transmit(apdu)?;
        let elapsed = start.elapsed();
        if r.len() < 2 || r[r.len() - 2..] != [0x90, 0x00] {
            bail!("APDU answered {}", hex::encode_upper(&r[r.len().saturating_sub(2)..]));
        }
        if i >= warmup {
            samples.push(elapsed);
        }
    }
    Ok(samples)
}

/// The connection operations timed through pcscd.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    /// SCardConnect while the card is powered (a new client of a card in use).
    ConnectWarm,
    /// SCardConnect after SCardDisconnect(SCARD_UNPOWER_CARD): pcscd powers the card up.
    ConnectCold,
    /// SCardReconnect(SCARD_RESET_CARD): warm reset.
    ReconnectReset,
    /// SCardReconnect(SCARD_UNPOWER_CARD): power cycle.
    ReconnectUnpower,
}

const OPS: [(Op, &str); 4] = [
    (Op::ConnectWarm, "`SCardConnect`, card powered"),
    (Op::ConnectCold, "`SCardConnect`, card unpowered (power-up: power on + ATR)"),
    (Op::ReconnectReset, "`SCardReconnect(SCARD_RESET_CARD)` (warm reset)"),
    (Op::ReconnectUnpower, "`SCardReconnect(SCARD_UNPOWER_CARD)` (power off, power on)"),
];

/// Times `op` `n` times (after `warmup` untimed rounds) on the reader `reader`.
fn connections(reader: &str, op: Op, warmup: usize, n: usize) -> anyhow::Result<Vec<Duration>> {
    let ctx = pcsc::Context::establish(Scope::User)?;
    let name = CString::new(reader)?;
    let connect = || ctx.connect(&name, ShareMode::Shared, Protocols::ANY);
    let disconnect = |card: pcsc::Card, d: Disposition| card.disconnect(d).map_err(|(_, e)| e);
    let mut samples = Vec::with_capacity(n);
    match op {
        Op::ConnectWarm | Op::ConnectCold => {
            let after = if op == Op::ConnectCold { Disposition::UnpowerCard } else { Disposition::LeaveCard };
            if op == Op::ConnectWarm {
                // Power the card up first; leaving it powered.
                disconnect(connect()?, Disposition::LeaveCard)?;
            } else {
                disconnect(connect()?, Disposition::UnpowerCard)?;
            }
            for i in 0..n + warmup {
                let start = Instant::now();
                let card = connect()?;
                let elapsed = start.elapsed();
                disconnect(card, after)?;
                if i >= warmup {
                    samples.push(elapsed);
                }
            }
        }
        Op::ReconnectReset | Op::ReconnectUnpower => {
            let d = if op == Op::ReconnectReset { Disposition::ResetCard } else { Disposition::UnpowerCard };
            let mut card = connect()?;
            for i in 0..n + warmup {
                let start = Instant::now();
                card.reconnect(ShareMode::Shared, Protocols::ANY, d)?;
                let elapsed = start.elapsed();
                if i >= warmup {
                    samples.push(elapsed);
                }
            }
            disconnect(card, Disposition::LeaveCard)?;
        }
    }
    Ok(samples)
}

/// Debian's vicc, started with the two fixes its package needs (research/vsmartcard.md §2):
/// its module directory is not on Python's path, and its fallback for a missing PyCrypto imports
/// the Python 2 module `sha`, for which a one-line stand-in is supplied.
fn start_vicc(dir: &Path) -> anyhow::Result<Child> {
    let shim = dir.join("vicc-shim");
    std::fs::create_dir_all(&shim)?;
    std::fs::write(shim.join("sha.py"), "import hashlib\nnew = hashlib.sha1\ndigest_size = 20\n")?;
    let path = format!("/usr/lib/python3/site-packages/virtualsmartcard:{}", shim.display());
    let child = Command::new("/usr/bin/python3")
        .args(["/usr/bin/vicc", "-t", "iso7816", "-H", "127.0.0.1", "-P", "35963"])
        .env("PYTHONPATH", path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("vicc.log"))?)
        .spawn()
        .context("start vicc")?;
    wait_until(Duration::from_secs(20), || {
        cardgate_tests::reader_state(SLOT0.1).is_some_and(|r| r.card_present)
    })
    .context("vicc did not show up in the reader")?;
    Ok(child)
}

/// The cards measured through pcscd + vpcd.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Who {
    Ours,
    Floor,
    Vicc,
    NoQuickack,
}

/// Everything measured, keyed by card, what, and size or operation.
#[derive(Default)]
struct Results {
    rows: Vec<(Who, String, Vec<Duration>)>,
    refused: Vec<(Who, String, String)>,
    /// CPU time the card process spent, and the APDUs it answered meanwhile, by card and size.
    cpu: Vec<(Who, String, u64, usize)>,
}

impl Results {
    fn add(&mut self, who: Who, what: &str, samples: Vec<Duration>) {
        match self.rows.iter_mut().find(|(w, k, _)| *w == who && k == what) {
            Some((_, _, all)) => all.extend(samples),
            None => self.rows.push((who, what.to_string(), samples)),
        }
    }
    fn add_cpu(&mut self, who: Who, what: &str, ns: u64, apdus: usize) {
        match self.cpu.iter_mut().find(|(w, k, _, _)| *w == who && k == what) {
            Some((_, _, t, n)) => {
                *t += ns;
                *n += apdus;
            }
            None => self.cpu.push((who, what.to_string(), ns, apdus)),
        }
    }
    /// CPU µs per APDU of the card process.
    fn cpu_per_apdu(&self, who: Who, what: &str) -> Option<f64> {
        let (_, _, ns, n) = self.cpu.iter().find(|(w, k, _, _)| *w == who && k == what)?;
        (*n > 0).then(|| *ns as f64 / 1e3 / *n as f64)
    }
    fn get(&self, who: Who, what: &str) -> Option<Figures> {
        self.rows.iter().find(|(w, k, _)| *w == who && k == what).map(|(_, _, s)| figures(s.clone()))
    }
}

/// Starts a card of kind `who` in the first slot; dropping the returned value takes it out.
enum Running {
    Process(CardProcess),
    Vicc(Child),
}

impl Running {
    fn pid(&self) -> u32 {
        match self {
            Running::Process(p) => p.pid(),
            Running::Vicc(c) => c.id(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Running::Vicc(child) = self {
            let _ignored = child.kill();
            let _ignored = child.wait();
        }
    }
}

type Slot = (&'static str, &'static str);

/// CPU time a process has run, all threads, in ns (`/proc/PID/task/*/schedstat`, first field).
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return 0 };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn start(who: Who, slot: Slot, state: &str, dir: &Path) -> anyhow::Result<Running> {
    wait_for_empty(slot.1)?;
    let serve = ["card", "serve", state];
    // Each card its own directory: CardProcess names its ready file after this process.
    let dir = dir.join(format!("{who:?}-{}", slot.0.replace([':', '.'], "-")));
    std::fs::create_dir_all(&dir)?;
    let dir = dir.as_path();
    Ok(match who {
        Who::Ours => Running::Process(CardProcess::start(&cardgate(), &serve, slot, dir)?),
        Who::NoQuickack => {
            let args = [&serve[..], &["--no-quickack"]].concat();
            Running::Process(CardProcess::start(&cardgate(), &args, slot, dir)?)
        }
        Who::Floor => {
            let me = std::env::current_exe()?;
            Running::Process(CardProcess::start(&me, &["floor-card"], slot, dir)?)
        }
        Who::Vicc => Running::Vicc(start_vicc(dir)?),
    })
}

/// Sizes of the round-trip table; extended lengths may be refused by the PC/SC stack.
const SIZES: [usize; 4] = [8, 255, 1024, 4096];

/// One round of ours beside the floor: ours in `ours_slot`, the floor in the other slot, both in
/// the readers at once, measured in alternating chunks (ours, floor, ours, ...) so that both see
/// the same machine load. Every size (`n` APDUs each, a quarter of that beyond 8 bytes) and every
/// connection operation (`ops_n` each). A size the stack refuses is recorded once, with the error.
fn measure_pair(
    ours_slot: Slot,
    state: &str,
    dir: &Path,
    n: usize,
    ops_n: usize,
    results: &mut Results,
) -> anyhow::Result<()> {
    let floor_slot = if ours_slot == SLOT0 { SLOT1 } else { SLOT0 };
    let ours = start(Who::Ours, ours_slot, state, dir)?;
    let floor = start(Who::Floor, floor_slot, state, dir)?;
    let pids = [ours.pid(), floor.pid()];
    let mut cards = [(Who::Ours, ours_slot), (Who::Floor, floor_slot)];
    let setup = hex::decode(SELECT_DIAG)?;
    let mut transports = Vec::new();
    for (_, slot) in cards {
        let mut t = PcscTransport::open(Some(slot.1))?;
        round_trips(&mut t, &setup, &echo(8), 20, 0)?;
        transports.push(t);
    }
    const CHUNK: usize = 50;
    for size in SIZES {
        let what = format!("rt{size}");
        let count = if size == 8 { n } else { n / 4 };
        let apdu = echo(size);
        let mut done = 0;
        while done < count {
            let k = CHUNK.min(count - done);
            for (((who, _), t), pid) in cards.iter().zip(transports.iter_mut()).zip(pids) {
                if results.refused.iter().any(|(w, key, _)| w == who && *key == what) {
                    continue;
                }
                let cpu = cpu_ns(pid);
                match round_trips(t, &[], &apdu, 2, k) {
                    Ok(samples) => {
                        results.add_cpu(*who, &what, cpu_ns(pid).saturating_sub(cpu), k + 2);
                        results.add(*who, &what, samples)
                    }
                    Err(e) if size > 255 => results.refused.push((*who, what.clone(), format!("{e:#}"))),
                    Err(e) => return Err(e),
                }
            }
            done += k;
        }
    }
    drop(transports);
    const OPS_CHUNK: usize = 10;
    for (op, _) in OPS {
        let mut done = 0;
        while done < ops_n {
            let k = OPS_CHUNK.min(ops_n - done);
            for (who, slot) in &mut cards {
                results.add(*who, &format!("op{}", op as u8), connections(slot.1, op, 1, k)?);
            }
            done += k;
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "floor-card") {
        return floor::run(&args[1..]);
    }
    let n: usize = args.first().map(|s| s.parse()).transpose()?.unwrap_or(5000);
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let slow_n = if quick { 20 } else { 100 };
    let ops_n = if quick { 50 } else { 200 };
    let slow_ops_n = if quick { 5 } else { 20 };
    let rounds = if quick { 2 } else { 4 };

    let _lock = VpcdLock::acquire()?;
    ensure_pcscd(SLOT0.1)?;
    wait_for_empty(SLOT0.1)?;
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("bench.card");
    let state = state.to_str().context("temp path")?.to_string();
    let init = Command::new(cardgate()).args(["card", "init", &state]).stdout(Stdio::null()).status()?;
    if !init.success() {
        bail!("cardgate card init failed");
    }
    let mut results = Results::default();

    // In-process: the same card file, no PC/SC, no sockets.
    let mut inproc = Vec::new();
    {
        let mut t = reader_bridge::open(Some(&format!("emu:{state}")))?;
        let setup = hex::decode(SELECT_DIAG)?;
        for size in SIZES {
            inproc.push((size, figures(round_trips(&mut *t, &setup, &echo(size), 20, n * 2)?)));
        }
    }
    // Ours and the floor side by side, in both slot assignments.
    for round in 0..rounds {
        let slot = if round % 2 == 0 { SLOT0 } else { SLOT1 };
        eprintln!(
            "round {}/{rounds}: cardgate card serve in {:?}, the floor card in the other slot",
            round + 1,
            slot.1
        );
        measure_pair(slot, &state, dir.path(), n / rounds, ops_n / rounds, &mut results)?;
        wait_for_empty(SLOT0.1)?;
        wait_for_empty(SLOT1.1)?;
    }
    // Ours with QUICKACK off: the delayed-ACK trap.
    eprintln!("cardgate card serve --no-quickack");
    {
        let _card = start(Who::NoQuickack, SLOT0, &state, dir.path())?;
        let mut t = PcscTransport::open(Some(SLOT0.1))?;
        let samples = round_trips(&mut t, &hex::decode(SELECT_DIAG)?, &echo(8), 5, slow_n)?;
        results.add(Who::NoQuickack, "rt8", samples);
    }
    // The peer.
    eprintln!("vicc");
    {
        let _card = start(Who::Vicc, SLOT0, &state, dir.path())?;
        {
            let mut t = PcscTransport::open(Some(SLOT0.1))?;
            let samples = round_trips(&mut t, &[], &hex::decode(VICC_CHALLENGE)?, 5, slow_n)?;
            results.add(Who::Vicc, "rt8", samples);
        }
        for (op, _) in OPS {
            results.add(Who::Vicc, &format!("op{}", op as u8), connections(SLOT0.1, op, 1, slow_ops_n)?);
        }
    }
    wait_for_empty(SLOT0.1)?;
    report(&results, &inproc);
    Ok(())
}

fn report(r: &Results, inproc: &[(usize, Figures)]) {
    let cell = |f: &Option<Figures>| match f {
        Some(f) => format!("{} / {}", fmt_us(f.median), fmt_us(f.p99)),
        None => "–".into(),
    };
    let ratio = |a: &Option<Figures>, b: &Option<Figures>, p99: bool| match (a, b) {
        (Some(a), Some(b)) if p99 => format!("{:.2}x", a.p99 / b.p99),
        (Some(a), Some(b)) => format!("{:.2}x", a.median / b.median),
        _ => "–".into(),
    };
    let (ours, floor, vicc, off) = (
        r.get(Who::Ours, "rt8"),
        r.get(Who::Floor, "rt8"),
        r.get(Who::Vicc, "rt8"),
        r.get(Who::NoQuickack, "rt8"),
    );
    let emu8 = inproc.iter().find(|(s, _)| *s == 8).map(|(_, f)| f.clone());
    println!("### One APDU through pcscd + vpcd (8 bytes echoed), median / p99");
    println!();
    println!("| card | APDUs | median / p99 | ratio to the floor (median / p99) |");
    println!("|---|---:|---:|---:|");
    let n = |f: &Option<Figures>| f.as_ref().map_or(0, |f| f.n);
    println!(
        "| floor: minimal echo card, no work (`vpcd-bench floor-card`, QUICKACK) | {} | {} | 1x |",
        n(&floor),
        cell(&floor)
    );
    println!(
        "| **`cardgate card serve`** (QUICKACK) | {} | **{}** | **{}** / {} |",
        n(&ours),
        cell(&ours),
        ratio(&ours, &floor, false),
        ratio(&ours, &floor, true)
    );
    println!(
        "| `cardgate card serve --no-quickack` | {} | {} | {} / {} |",
        n(&off),
        cell(&off),
        ratio(&off, &floor, false),
        ratio(&off, &floor, true)
    );
    println!(
        "| peer: Debian `vicc -t iso7816` 0.8 (GET CHALLENGE, 8 bytes) | {} | {} | {} / {} |",
        n(&vicc),
        cell(&vicc),
        ratio(&vicc, &floor, false),
        ratio(&vicc, &floor, true)
    );
    println!("| in-process transport (`emu:`, no PC/SC, no sockets) | {} | {} | – |", n(&emu8), cell(&emu8));
    println!();
    println!(
        "Ratios (medians): ours / floor = **{}** (aim ≤ 1.2x); vicc / ours = **{}** (aim > 100x); \
         QUICKACK off / on = {}.",
        ratio(&ours, &floor, false),
        ratio(&vicc, &ours, false),
        ratio(&off, &ours, false)
    );
    println!();

    println!("### Round trip by size (ECHO of N bytes, answered with N bytes + 9000), median / p99");
    println!();
    println!(
        "| N | floor | `cardgate card serve` | ours / floor (median) | card CPU per APDU, floor / ours | in-process |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for size in SIZES {
        let what = format!("rt{size}");
        let refused = r.refused.iter().find(|(w, k, _)| *w == Who::Ours && *k == what);
        let (o, f) = (r.get(Who::Ours, &what), r.get(Who::Floor, &what));
        let emu = inproc.iter().find(|(s, _)| *s == size).map(|(_, f)| f.clone());
        match refused {
            Some((_, _, err)) if o.is_none() => {
                println!("| {size} | refused | refused: {} | – | – | {} |", err.replace('|', "/"), cell(&emu))
            }
            _ => {
                let cpu = |who| r.cpu_per_apdu(who, &what).map_or("–".into(), |us| format!("{us:.1} µs"));
                println!(
                    "| {size} | {} | {} | {} | {} / {} | {} |",
                    cell(&f),
                    cell(&o),
                    ratio(&o, &f, false),
                    cpu(Who::Floor),
                    cpu(Who::Ours),
                    cell(&emu)
                )
            }
        }
    }
    println!();

    println!("### Power-up and reset through pcscd (what a new client connection costs), median / p99");
    println!();
    println!("| operation | floor | `cardgate card serve` | ours / floor | vicc | vicc / ours |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (op, name) in OPS {
        let what = format!("op{}", op as u8);
        let (o, f, v) = (r.get(Who::Ours, &what), r.get(Who::Floor, &what), r.get(Who::Vicc, &what));
        println!(
            "| {name} | {} | {} | {} | {} | {} |",
            cell(&f),
            cell(&o),
            ratio(&o, &f, false),
            cell(&v),
            ratio(&v, &o, false)
        );
    }
    let counts = |who| r.get(who, &format!("op{}", Op::ConnectCold as u8)).map_or(0, |f| f.n);
    println!();
    println!(
        "Operations timed: {} each for ours and the floor, {} each for vicc.",
        counts(Who::Ours),
        counts(Who::Vicc)
    );

    // Summary rows: | what | cardgate | peer or limit, same run | ratio | aim |
    let med = |f: &Option<Figures>| f.as_ref().map_or("–".into(), |f| fmt_us(f.median));
    let met = |ok: bool| if ok { "met" } else { "**not met**" };
    let q = |a: &Option<Figures>, b: &Option<Figures>| match (a, b) {
        (Some(a), Some(b)) => Some(a.median / b.median),
        _ => None,
    };
    if let Some(x) = q(&ours, &floor) {
        println!(
            "summary | one APDU through pcscd + vpcd, median | {} | floor (echo card doing no work): {} | {:.2}x the floor | ≤ 1.2x the floor: {} |",
            med(&ours),
            med(&floor),
            x,
            met(x <= 1.2)
        );
    }
    if let Some(x) = q(&vicc, &ours) {
        println!(
            "summary | one APDU through pcscd + vpcd, median | {} | Debian vicc: {} | {:.0}x faster | > 100x faster than vicc: {} |",
            med(&ours),
            med(&vicc),
            x,
            met(x > 100.0)
        );
    }
    if let (Some(o), Some(f)) = (r.cpu_per_apdu(Who::Ours, "rt8"), r.cpu_per_apdu(Who::Floor, "rt8")) {
        println!(
            "summary | card CPU per APDU through pcscd + vpcd (8 bytes) | {o:.1} µs | floor: {f:.1} µs | {:.2}x the floor | none set (the work behind the latency ratio) |",
            o / f
        );
    }
    let cold = format!("op{}", Op::ConnectCold as u8);
    let (oc, fc, vc) = (r.get(Who::Ours, &cold), r.get(Who::Floor, &cold), r.get(Who::Vicc, &cold));
    if let (Some(x), Some(y)) = (q(&oc, &fc), q(&vc, &oc)) {
        println!(
            "summary | power-up through pcscd (`SCardConnect`, card unpowered), median | {} | floor: {}; vicc: {} | {:.2}x the floor; vicc {:.0}x slower | none set (reported) |",
            med(&oc),
            med(&fc),
            med(&vc),
            x,
            y
        );
    }
}

/// The floor: the least a card on the vpcd protocol can do. It connects to vpcd with the socket
/// options cardgate's serve loop uses (TCP_NODELAY, TCP_QUICKACK re-armed after every read, the
/// same receive timeout), reads
/// the stream in one buffer, answers GET ATR with the ATR of a cardgate card, power and reset with
/// nothing, and each APDU with its data field and `9000`, without parsing anything else.
mod floor {
    use super::*;

    pub(super) fn run(args: &[String]) -> anyhow::Result<()> {
        let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
        let addr = value("--vpcd").unwrap_or_else(|| SLOT0.0.into());
        let ready = value("--ready-file");
        let atr = applet::apps::new_card(&applet::apps::CardOptions::default())?.atr().to_vec();
        let stream = TcpStream::connect(&addr).with_context(|| format!("connect to vpcd at {addr}"))?;
        stream.set_nodelay(true)?;
        // Ours reads with a timeout (to see stop and eject requests while idle); so does the floor.
        stream.set_read_timeout(Some(reader_bridge::vpcd::ServeOptions::default().poll))?;
        let sock = socket2::SockRef::from(&stream);
        if let Some(path) = ready {
            std::fs::write(
                &path,
                format!("pid={}\nvpcd={addr}\natr={}\n", std::process::id(), hex::encode_upper(&atr)),
            )?;
        }
        let mut buf = vec![0u8; 70 * 1024];
        let mut have = 0;
        let mut out = Vec::with_capacity(70 * 1024);
        loop {
            let n = match (&stream).read(&mut buf[have..]) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                r => r?,
            };
            if n == 0 {
                return Ok(());
            }
            sock.set_tcp_quickack(true)?;
            have += n;
            let mut at = 0;
            out.clear();
            while have - at >= 2 {
                let len = usize::from(u16::from_be_bytes([buf[at], buf[at + 1]]));
                if have - at < 2 + len {
                    break;
                }
                let msg = &buf[at + 2..at + 2 + len];
                at += 2 + len;
                let (body, status): (&[u8], &[u8]) = match msg {
                    [0x04] => (&atr, &[]),
                    // Power off, power on, reset: no reply.
                    [_] | [] => continue,
                    // Extended Lc (ISO 7816-4 §5.1): 00 HH LL.
                    [_, _, _, _, 0x00, hi, lo, rest @ ..]
                        if rest.len() >= usize::from(u16::from_be_bytes([*hi, *lo])) =>
                    {
                        (&rest[..usize::from(u16::from_be_bytes([*hi, *lo]))], &[0x90, 0x00])
                    }
                    [_, _, _, _, lc, rest @ ..] if rest.len() >= usize::from(*lc) => {
                        (&rest[..usize::from(*lc)], &[0x90, 0x00])
                    }
                    _ => (&[], &[0x90, 0x00]),
                };
                // One write per batch of replies, length and body together (like ours).
                out.extend_from_slice(&((body.len() + status.len()) as u16).to_be_bytes());
                out.extend_from_slice(body);
                out.extend_from_slice(status);
            }
            buf.copy_within(at..have, 0);
            have -= at;
            if !out.is_empty() {
                (&stream).write_all(&out)?;
            }
        }
    }
}
