//! `cardgate readers`, `cardgate atr`, `cardgate watch`: what is in which reader.

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use reader_bridge::pcsc::{self, ReaderEvent, ReaderInfo};

/// `cardgate readers [--json]`.
#[derive(Debug, clap::Args)]
pub struct ReadersArgs {
    /// One JSON array on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `cardgate atr [-r READER] [--json]`.
#[derive(Debug, clap::Args)]
pub struct AtrArgs {
    /// Reader: `emu:PATH`, a PC/SC reader name, a substring of one, or an index.
    #[arg(short, long, env = "CARDGATE_READER")]
    pub reader: Option<String>,
    /// The decoded ATR as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `cardgate watch [-t SECS] [--json]`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// Stop after this many seconds (default: until interrupted).
    #[arg(short, long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// One JSON object per line, per event.
    #[arg(long)]
    pub json: bool,
}

fn reader_json(r: &ReaderInfo) -> serde_json::Value {
    serde_json::json!({
        "index": r.index,
        "name": r.name,
        "card": r.card_present,
        "atr": r.atr.as_ref().map(hex::encode_upper),
        "in_use": r.in_use,
        "exclusive": r.exclusive,
        "mute": r.mute,
    })
}

/// Runs `cardgate readers`.
pub fn readers(args: ReadersArgs) -> anyhow::Result<ExitCode> {
    let readers = pcsc::readers()?;
    if args.json {
        let list: Vec<serde_json::Value> = readers.iter().map(reader_json).collect();
        println!("{}", serde_json::Value::Array(list));
        return Ok(ExitCode::SUCCESS);
    }
    if readers.is_empty() {
        println!("no readers (is a reader plugged in, or vpcd installed?)");
        return Ok(ExitCode::SUCCESS);
    }
    println!("Nr.  Card  Name");
    for r in &readers {
        let card = if r.mute {
            "Mute"
        } else if r.card_present {
            "Yes"
        } else {
            "No"
        };
        let mut line = format!("{:<4} {card:<5} {}", r.index, r.name);
        if let Some(atr) = &r.atr {
            line.push_str(&format!("  ATR {}", hex::encode_upper(atr)));
        }
        if r.exclusive {
            line.push_str("  (exclusive)");
        } else if r.in_use {
            line.push_str("  (in use)");
        }
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `cardgate atr`.
pub fn atr(args: AtrArgs) -> anyhow::Result<ExitCode> {
    let mut transport = reader_bridge::open(args.reader.as_deref())?;
    let raw = transport.atr()?;
    let decoded = reader_bridge::atr::parse(&raw);
    if args.json {
        let value = match &decoded {
            Ok(atr) => serde_json::json!({
                "reader": transport.name(),
                "atr": hex::encode_upper(&raw),
                "convention": format!("{:?}", atr.convention).to_lowercase(),
                "interface": atr.interface.iter().map(|b| serde_json::json!({
                    "name": b.name, "value": format!("{:02X}", b.value), "meaning": b.meaning,
                })).collect::<Vec<_>>(),
                "protocols": atr.protocols.iter().map(|t| format!("T={t}")).collect::<Vec<_>>(),
                "historical": hex::encode_upper(&atr.historical),
                "tck": atr.tck.map(|t| serde_json::json!({"value": format!("{:02X}", t.value), "valid": t.valid})),
            }),
            Err(err) => serde_json::json!({
                "reader": transport.name(), "atr": hex::encode_upper(&raw), "error": err.to_string(),
            }),
        };
        println!("{value}");
    } else {
        println!("Reader: {}", transport.name());
        match &decoded {
            Ok(atr) => println!("{atr}"),
            Err(err) => println!("ATR: {}\n  cannot decode: {err}", hex::encode_upper(&raw)),
        }
    }
    Ok(match decoded {
        Ok(atr) if atr.tck.is_none_or(|t| t.valid) => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
}

/// Runs `cardgate watch`.
pub fn watch(args: WatchArgs) -> anyhow::Result<ExitCode> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, std::sync::Arc::clone(&stop))?;
    }
    let deadline = args.timeout.map(|secs| Instant::now() + Duration::from_secs_f64(secs.max(0.0)));
    let mut monitor = pcsc::Monitor::new()?;
    if !args.json {
        println!("Waiting for reader and card events (Ctrl-C to stop)");
    }
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let mut wait = Duration::from_millis(250);
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            wait = wait.min(left);
        }
        for event in monitor.next_events(wait)? {
            print_event(&event, args.json);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_event(event: &ReaderEvent, json: bool) {
    let now = humantime::format_rfc3339_millis(SystemTime::now());
    let (kind, name, info) = match event {
        ReaderEvent::ReaderAdded(r) => ("reader-added", r.name.as_str(), Some(r)),
        ReaderEvent::ReaderRemoved { name } => ("reader-removed", name.as_str(), None),
        ReaderEvent::CardInserted(r) => ("card-inserted", r.name.as_str(), Some(r)),
        ReaderEvent::CardRemoved(r) => ("card-removed", r.name.as_str(), Some(r)),
        ReaderEvent::Changed(r) => ("changed", r.name.as_str(), Some(r)),
    };
    if json {
        let mut value = serde_json::json!({"time": now.to_string(), "event": kind, "reader": name});
        if let Some(r) = info {
            value["state"] = reader_json(r);
        }
        println!("{value}");
        return;
    }
    let detail = match event {
        ReaderEvent::CardInserted(r) => {
            format!(" ATR {}", r.atr.as_ref().map(hex::encode_upper).unwrap_or_else(|| "(none)".into()))
        }
        ReaderEvent::Changed(r) => {
            let mut flags = Vec::new();
            if r.in_use {
                flags.push("in use");
            }
            if r.exclusive {
                flags.push("exclusive");
            }
            if r.mute {
                flags.push("mute");
            }
            if flags.is_empty() {
                flags.push("idle");
            }
            format!(" ({})", flags.join(", "))
        }
        _ => String::new(),
    };
    let what = match event {
        ReaderEvent::ReaderAdded(_) => "reader added",
        ReaderEvent::ReaderRemoved { .. } => "reader removed",
        ReaderEvent::CardInserted(_) => "card inserted",
        ReaderEvent::CardRemoved(_) => "card removed",
        ReaderEvent::Changed(_) => "state changed",
    };
    println!("{now}  {name}: {what}{detail}");
}
