//! In-process APDU dispatch: echo, SELECT, a committed counter update (in memory, and saved to a
//! state file with fsync), a service with and without the policy gate, on one core. Not a test: figures go to BENCHMARKS.md.
//!
//! `cargo bench -p applet --bench dispatch` (`BENCH_QUICK=1` for a short run). Prints a table for
//! people and `result <name> <ops/s>` lines for `scripts/bench.sh`.
//!
//! Allocations per command are counted with a counting global allocator, to back the claim that the
//! echo path allocates nothing.

// The counting allocator is the one place that needs `unsafe`: `GlobalAlloc` is an unsafe trait.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use applet::apps::{self, CardOptions};
use applet::{Card, FileCard};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

struct Figure {
    key: &'static str,
    name: &'static str,
    ns_per_op: f64,
    ops_per_s: f64,
    allocs_per_op: f64,
}

/// Median of `samples` timed batches, each about `sample_time` long.
fn measure(key: &'static str, name: &'static str, mut op: impl FnMut()) -> Figure {
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let sample_time = if quick { Duration::from_millis(100) } else { Duration::from_millis(600) };
    let samples = if quick { 3 } else { 7 };
    // Warm up and size a batch.
    let mut batch = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..batch {
            op();
        }
        if start.elapsed() >= sample_time / 4 || batch >= 1 << 30 {
            let per_op = start.elapsed().as_secs_f64() / batch as f64;
            batch = ((sample_time.as_secs_f64() / per_op) as u64).max(1);
            break;
        }
        batch *= 2;
    }
    let mut per_op = Vec::with_capacity(samples);
    let mut allocs = 0;
    for _ in 0..samples {
        let a0 = ALLOCATIONS.load(Ordering::Relaxed);
        let start = Instant::now();
        for _ in 0..batch {
            op();
        }
        per_op.push(start.elapsed().as_secs_f64() / batch as f64);
        allocs = ALLOCATIONS.load(Ordering::Relaxed) - a0;
    }
    per_op.sort_by(f64::total_cmp);
    let median = per_op[per_op.len() / 2];
    Figure {
        key,
        name,
        ns_per_op: median * 1e9,
        ops_per_s: 1.0 / median,
        allocs_per_op: allocs as f64 / batch as f64,
    }
}

/// The policy of the gated rows: every rule kind that keeps state, limits that never run out.
const GATE_POLICY: &str = r#"
version = 1
zone = "Asia/Shanghai"
[service.use]
applet = "F0 43 41 52 44 47 41 54 45 01"
ins = 0x26
[service.use.time]
hours = ["06:00-23:00"]
[service.use.amount]
currency = "CNY"
max = "100.00"
cvm_limit = "50.00"
[[service.use.limit]]
period = "day"
max_uses = 4000000000
[service.use.offline]
lower = 3
"#;

fn card() -> Card {
    let mut card = apps::new_card(&CardOptions::default()).unwrap();
    // A second instance of the same class, so SELECT can alternate between two applets.
    card.install("diag", applet::Aid::from_hex("F0434152444741544502").unwrap(), &[]).unwrap();
    card.power_on();
    card
}

fn expect_ok(r: &[u8]) {
    assert_eq!(&r[r.len() - 2..], [0x90, 0x00], "{r:02X?}");
}

fn main() {
    // The harness passes `--bench`; nothing to parse.
    let echo = [0x80, 0x10, 0x00, 0x00, 0x04, 0xDE, 0xAD, 0xBE, 0xEF, 0x00];
    let select_a =
        [0x00, 0xA4, 0x04, 0x00, 0x0A, 0xF0, 0x43, 0x41, 0x52, 0x44, 0x47, 0x41, 0x54, 0x45, 0x01, 0x00];
    let mut select_b = select_a;
    select_b[14] = 0x02;
    let increment = [0x80, 0x22, 0x00, 0x00, 0x04];
    let mut out = Vec::with_capacity(1024);
    let mut figures = Vec::new();

    let mut c = card();
    c.process_into(&echo, &mut out);
    assert_eq!(out, [0xDE, 0xAD, 0xBE, 0xEF, 0x90, 0x00]);
    figures.push(measure("echo", "echo, 4 bytes (case 4)", || c.process_into(black_box(&echo), &mut out)));

    figures.push(measure("echo_vec", "echo via Card::process (returns a new Vec)", || {
        black_box(c.process(black_box(&echo)));
    }));

    let mut flip = false;
    figures.push(measure("select", "SELECT by AID, two applets alternating, FCI", || {
        flip = !flip;
        c.process_into(black_box(if flip { &select_a } else { &select_b }), &mut out);
    }));
    expect_ok(&out);

    let mut c = card();
    figures.push(measure("counter_update", "counter update, committed (service + transaction)", || {
        c.process_into(black_box(&increment), &mut out)
    }));
    expect_ok(&out);

    // A service with and without the policy gate, same card, same command: diag USE with 10.00 CNY
    // and the time as service data (BER-TLV, 25 bytes).
    let use_ten = [
        &[0x80, 0x26, 0x00, 0x00, 0x19][..],
        &[0x9F, 0x02, 0x06, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x5F, 0x2A, 0x02, 0x01, 0x56],
        &[0x9A, 0x03, 0x26, 0x11, 0x28, 0x9F, 0x21, 0x03, 0x10, 0x00, 0x00, 0x00],
    ]
    .concat();
    let mut use_dear = use_ten.clone();
    // 2000.00 CNY (9F02 = 000000200000): above the maximum and the CVM limit.
    use_dear[11] = 0x20;
    use_dear[12] = 0x00;
    let mut c = card();
    figures.push(measure(
        "service_ungated",
        "service (diag USE, 25 bytes of service data), no policy",
        || c.process_into(black_box(&use_ten), &mut out),
    ));
    expect_ok(&out);
    let policy = policies::Policy::parse(GATE_POLICY, "bench").unwrap();
    let mut c = card();
    c.install_policy(Some(&policy)).unwrap();
    figures.push(measure(
        "service_gated",
        "the same service gated (time, amount + CVM limit, day limit, offline counter), allowed",
        || c.process_into(black_box(&use_ten), &mut out),
    ));
    expect_ok(&out);
    figures.push(measure("service_denied", "the same service denied by the gate (2 reasons, 6985)", || {
        c.process_into(black_box(&use_dear), &mut out)
    }));
    assert_eq!(out, [0x69, 0x85]);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card");
    let mut fc = FileCard::create(&path, card()).unwrap();
    figures.push(measure("echo_file", "echo on a file-backed card (nothing to save)", || {
        fc.process_into(black_box(&echo), &mut out).unwrap()
    }));
    figures.push(measure(
        "counter_update_file",
        "counter update, committed and saved (fsync + rename)",
        || fc.process_into(black_box(&increment), &mut out).unwrap(),
    ));
    expect_ok(&out);
    drop(fc);

    // The same on tmpfs, where fsync costs nothing: what encoding and writing the state costs.
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        let dir = tempfile::tempdir_in(shm).unwrap();
        let mut fc = FileCard::create(&dir.path().join("card"), card()).unwrap();
        figures.push(measure("counter_update_tmpfs", "counter update, committed and saved on tmpfs", || {
            fc.process_into(black_box(&increment), &mut out).unwrap()
        }));
        expect_ok(&out);
    }

    println!("| operation | ns/op | ops/s | allocations/op |");
    println!("|---|---:|---:|---:|");
    for f in &figures {
        println!("| {} | {:.0} | {:.0} | {:.2} |", f.name, f.ns_per_op, f.ops_per_s, f.allocs_per_op);
    }
    for f in &figures {
        println!("result {} {:.0}", f.key, f.ops_per_s);
    }
}
