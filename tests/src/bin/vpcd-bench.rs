//! Round-trip time of one APDU through pcscd + vpcd, for cardgate's served card and for the peer
//! (Debian's `vicc`), in the same run; plus the in-process transport and the served card with
//! TCP_QUICKACK off (the ~44 ms delayed-ACK stall it avoids). `scripts/bench.sh` runs it.
//!
//! usage: vpcd-bench [N]   (N APDUs for the fast cases; default 5000)

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use cardgate_tests::{CardProcess, SLOT0, VpcdLock, cardgate, ensure_pcscd, wait_for_empty, wait_until};
use reader_bridge::Transport;
use reader_bridge::pcsc::PcscTransport;

/// What was measured for one card.
struct Figures {
    name: String,
    n: usize,
    median: Duration,
    p99: Duration,
    mean: Duration,
}

fn figures(name: &str, mut samples: Vec<Duration>) -> Figures {
    samples.sort();
    let n = samples.len();
    let total: Duration = samples.iter().sum();
    Figures {
        name: name.into(),
        n,
        median: samples[n / 2],
        p99: samples[(n * 99).div_ceil(100).saturating_sub(1)],
        mean: total / u32::try_from(n).unwrap_or(u32::MAX),
    }
}

/// Sends `setup` once, then `apdu` `n` times (after 20 warm-up rounds), timing each round trip.
fn measure(t: &mut dyn Transport, setup: &[&str], apdu: &str, n: usize) -> anyhow::Result<Vec<Duration>> {
    for cmd in setup {
        let r = t.transmit(&hex::decode(cmd)?)?;
        if r[r.len() - 2..] != [0x90, 0x00] {
            bail!("{cmd} answered {}", hex::encode_upper(&r));
        }
    }
    let apdu = hex::decode(apdu)?;
    let mut samples = Vec::with_capacity(n);
    for i in 0..n + 20 {
        let start = Instant::now();
        let r = t.transmit(&apdu)?;
        let elapsed = start.elapsed();
        if r.len() < 2 || r[r.len() - 2..] != [0x90, 0x00] {
            bail!("APDU answered {}", hex::encode_upper(&r));
        }
        if i >= 20 {
            samples.push(elapsed);
        }
    }
    Ok(samples)
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 1.0 { format!("{:.2} µs", ms * 1e3) } else { format!("{ms:.3} ms") }
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

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(5000);
    let slow_n = 100;
    let _lock = VpcdLock::acquire()?;
    ensure_pcscd(SLOT0.1)?;
    wait_for_empty(SLOT0.1)?;
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("bench.card");
    let state_arg = state.to_str().context("temp path")?.to_string();
    let init = Command::new(cardgate()).args(["card", "init", &state_arg]).stdout(Stdio::null()).status()?;
    if !init.success() {
        bail!("cardgate card init failed");
    }
    // The diagnostic applet: SELECT, then ECHO of 8 bytes (8 bytes + 9000 back).
    let select = "00A404000AF043415244474154450100";
    let echo8 = "80100000080102030405060708 00".replace(' ', "");
    let mut results = Vec::new();

    // In-process: the same card file, no PC/SC, no sockets.
    {
        let mut t = reader_bridge::open(Some(&format!("emu:{state_arg}")))?;
        results.push(figures("in-process transport (emu:)", measure(&mut *t, &[select], &echo8, n * 10)?));
    }
    // cardgate's card through pcscd + vpcd, QUICKACK on.
    let serve = ["card", "serve", state_arg.as_str()];
    {
        let _card = CardProcess::start(&cardgate(), &serve, SLOT0, dir.path())?;
        let mut t = PcscTransport::open(Some(SLOT0.1))?;
        results.push(figures("cardgate card serve (QUICKACK)", measure(&mut t, &[select], &echo8, n)?));
    }
    wait_for_empty(SLOT0.1)?;
    // The same with QUICKACK off: the delayed-ACK trap.
    {
        let args = [&serve[..], &["--no-quickack"]].concat();
        let _card = CardProcess::start(&cardgate(), &args, SLOT0, dir.path())?;
        let mut t = PcscTransport::open(Some(SLOT0.1))?;
        results
            .push(figures("cardgate card serve, QUICKACK off", measure(&mut t, &[select], &echo8, slow_n)?));
    }
    wait_for_empty(SLOT0.1)?;
    // The peer: Debian's vicc (iso7816 card), GET CHALLENGE of 8 bytes (its SELECT crashes on FCI).
    {
        let mut vicc = start_vicc(dir.path())?;
        let measured = (|| -> anyhow::Result<Vec<Duration>> {
            let mut t = PcscTransport::open(Some(SLOT0.1))?;
            measure(&mut t, &[], "0084000008", slow_n)
        })();
        vicc.kill()?;
        vicc.wait()?;
        results.push(figures("vicc -t iso7816 (Debian 0.8)", measured?));
    }
    wait_for_empty(SLOT0.1)?;

    println!("| card | APDUs | median | p99 | mean |");
    println!("|---|---|---|---|---|");
    for f in &results {
        println!("| {} | {} | {} | {} | {} |", f.name, f.n, ms(f.median), ms(f.p99), ms(f.mean));
    }
    if let [emu, ours, off, vicc] = results.as_slice() {
        let ratio = |a: &Figures, b: &Figures| a.median.as_secs_f64() / b.median.as_secs_f64();
        println!();
        println!("median ratios: vicc / cardgate card serve = {:.0}x", ratio(vicc, ours));
        println!("               QUICKACK off / on = {:.0}x", ratio(off, ours));
        println!("               pcscd + vpcd / in-process = {:.0}x", ratio(ours, emu));
    }
    Ok(())
}
