//! How much the policy gate adds to a gated command: `cargo bench -p applet --bench gate`.
//!
//! Measures, on the transit example policy and a full set of service data:
//! - `tlv walk`: iterating the command data field with `applet::tlv` (the floor any reader pays);
//! - `from_tlv`: reading it into `ServiceData`;
//! - `decide allow` / `decide deny`: the decision function alone;
//! - `gate::check allow`: the whole gate step (lookup, TLV, decide, record, new counters).
//!
//! - `gate::check` on policies of 1, 16 and 256 services with the matching one bound last: how the
//!   lookup grows with the policy.
//!
//! No allocation-free external peer exists for a policy gate; the TLV walk in the same run is the
//! reference the ratios are taken against.

use std::hint::black_box;
use std::time::Instant;

use applet::gate::{self, ServiceCommand, service_data};
use applet::tlv;
use policies::{Counters, Policy, SecurityState, ServiceData, decide, record_use};

fn measure(name: &str, iterations: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..iterations / 10 {
        f();
    }
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        for _ in 0..iterations {
            f();
        }
        best = best.min(start.elapsed().as_secs_f64() * 1e9 / f64::from(iterations));
    }
    println!("{name:<22} {best:>9.1} ns");
    best
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../policies/examples/transit.toml");
    let policy = Policy::parse(&std::fs::read_to_string(path)?, path)?;
    let fare = policy.service("metro-fare").ok_or("no metro-fare service")?;
    let words = "amount=4.00 currency=CNY time=2026-11-28T00:00:00Z lat=31.2330 lon=121.4750 mcc=4111 terminal=GATE0001";
    let data = ServiceData::parse(words.split_whitespace())?;
    let field = service_data::to_tlv(&data)?;
    let late = ServiceData { time: data.time.map(|t| t + 16 * 3600), amount: None, ..data };
    let mut counters = Counters::new();
    let mut c = counters.get("metro-fare").clone();
    for _ in 0..10 {
        c = record_use(fare, &data, &c);
    }
    counters.set("metro-fare", c);
    let aid = [0xA0, 0x00, 0x00, 0x08, 0x58, 0x02, 0x01];
    let security = SecurityState::default();
    let n = 200_000;

    println!("policy gate, transit example, {} bytes of service data; best of 5 runs of {n}", field.len());
    let walk = measure("tlv walk", n, || {
        for object in tlv::iter(black_box(&field)) {
            black_box(object.ok());
        }
    });
    let parse = measure("from_tlv", n, || {
        black_box(service_data::from_tlv(black_box(&field)).ok());
    });
    let allow = measure("decide allow", n, || {
        black_box(decide(fare, black_box(&data), counters.get("metro-fare"), security).is_allowed());
    });
    let deny = measure("decide deny (2 reasons)", n, || {
        black_box(decide(fare, black_box(&late), counters.get("metro-fare"), security).is_allowed());
    });
    let command = ServiceCommand { aid: &aid, ins: 0x54, p1: 0, p2: 0, data: &field };
    let check = measure("gate::check allow", n, || {
        black_box(matches!(
            gate::check(&policy, black_box(command), &counters, security),
            gate::Gate::Allow { .. }
        ));
    });
    println!("gate::check allow by policy size (the matching service bound last):");
    for services in [1usize, 16, 256] {
        let text = with_decoys(&std::fs::read_to_string(path)?, services - 1);
        let policy = Policy::parse(&text, path)?;
        measure(&format!("services={services}"), n, || {
            black_box(matches!(
                gate::check(&policy, black_box(command), &counters, security),
                gate::Gate::Allow { .. }
            ));
        });
    }
    println!(
        "ratios to the tlv walk: from_tlv {:.1}x, decide allow {:.1}x, decide deny {:.1}x, gate::check {:.1}x",
        parse / walk,
        allow / walk,
        deny / walk,
        check / walk
    );
    Ok(())
}

/// The policy text with `n` more services bound to other applets, placed before the others so a
/// lookup for the transit applet walks past all of them.
fn with_decoys(text: &str, n: usize) -> String {
    let (head, rest) = text.split_once("[service.").unwrap_or((text, ""));
    let mut out = String::from(head);
    for i in 0..n {
        out.push_str(&format!(
            "[service.decoy-{i}]\napplet = \"A0 00 00 08 58 09 {:02X} {:02X}\"\nins = 0x54\n\n",
            i >> 8,
            i & 0xFF
        ));
    }
    out.push_str("[service.");
    out.push_str(rest);
    out
}
