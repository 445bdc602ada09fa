//! The decision function allocates nothing when it allows: the card runtime calls it on every gated
//! command. A counting global allocator (per thread, so parallel tests do not interfere) checks it.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers: a failed unwrap is a failed test")]
#![allow(unsafe_code, reason = "a counting GlobalAlloc must be an unsafe impl; it only forwards to System")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use policies::{Policy, SecurityState, ServiceCounters, ServiceData, decide, record_use};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every method forwards to the system allocator unchanged; the count is a side effect.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator, with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn allowing_a_service_allocates_nothing() {
    let path = format!("{}/examples/transit.toml", env!("CARGO_MANIFEST_DIR"));
    let policy = Policy::parse(&std::fs::read_to_string(&path).unwrap(), &path).unwrap();
    let fare = policy.service("metro-fare").unwrap();
    let ride = ServiceData::parse(
        "amount=4.00 currency=CNY time=2026-11-28T00:00:00Z lat=31.2330 lon=121.4750 mcc=4111 terminal=GATE0001"
            .split_whitespace(),
    )
    .unwrap();
    // Counters with history in both the calendar and the rolling window.
    let mut counters = ServiceCounters::default();
    for _ in 0..5 {
        counters = record_use(fare, &ride, &counters);
    }
    // Warm up lazily initialised state (the bundled time zone cache) outside the measurement.
    assert!(decide(fare, &ride, &counters, SecurityState::default()).is_allowed());
    let mut allowed = false;
    let n = allocations_during(|| {
        for _ in 0..100 {
            allowed = decide(fare, &ride, &counters, SecurityState::default()).is_allowed();
        }
    });
    assert!(allowed);
    assert_eq!(n, 0, "decide() allocated {n} times on the allow path");
    // The deny path may allocate (it writes sentences); make sure the counter would notice.
    let late = ServiceData { time: ride.time.map(|t| t + 16 * 3600), ..ride };
    let n = allocations_during(|| {
        assert!(!decide(fare, &late, &counters, SecurityState::default()).is_allowed());
    });
    assert!(n > 0, "the counting allocator must see the deny path's sentence");
}
