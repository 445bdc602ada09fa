//! JSON Lines: one object per event, each with `"v": 1` and `"event"`. Bytes are upper-case hex
//! strings; times are whole microseconds (`t_us`). The schema is in `docs/scripts.md`.

use std::io::{self, Write};

use serde_json::{Map, Value, json};

use super::{Event, Output};
use crate::hexfmt::packed;
use crate::script::source::Span;
use crate::tlv_view;

/// Prints JSON Lines.
pub struct JsonOutput<'w> {
    out: Box<dyn Write + 'w>,
}

impl<'w> JsonOutput<'w> {
    /// A printer writing to `out`.
    pub fn new(out: Box<dyn Write + 'w>) -> Self {
        Self { out }
    }
}

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn place(obj: &mut Map<String, Value>, span: &Span) {
    obj.insert("file".into(), json!(span.file.as_ref()));
    obj.insert("line".into(), json!(span.line));
}

fn object(event: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("v".into(), json!(1));
    m.insert("event".into(), json!(event));
    m
}

impl Output for JsonOutput<'_> {
    fn event(&mut self, event: &Event<'_>) -> io::Result<()> {
        let obj = match event {
            Event::Line(_) | Event::Unanswered { .. } => return Ok(()),
            Event::Session(s) => {
                let mut o = object("session");
                o.insert("reader".into(), json!(s.reader));
                o.insert("protocol".into(), json!(s.protocol.map(|p| p.to_string())));
                o.insert("atr".into(), json!(packed(&s.atr)));
                o
            }
            Event::Reset(r) => {
                let mut o = object("reset");
                place(&mut o, &r.span);
                o.insert("kind".into(), json!(format!("{:?}", r.kind).to_lowercase()));
                match &r.result {
                    Ok(atr) => o.insert("atr".into(), json!(packed(atr))),
                    Err(e) => o.insert("error".into(), json!(e)),
                };
                o.insert("t_us".into(), json!(micros(r.elapsed)));
                o
            }
            Event::Apdu(a) => {
                let mut o = object("apdu");
                o.insert("n".into(), json!(a.n));
                place(&mut o, &a.span);
                let mut resp = a.data.clone();
                resp.extend(a.sw.to_be_bytes());
                o.insert("cmd".into(), json!(packed(&a.command)));
                o.insert("resp".into(), json!(packed(&resp)));
                o.insert("data".into(), json!(packed(&a.data)));
                o.insert("sw".into(), json!(format!("{:04X}", a.sw)));
                o.insert("sw_text".into(), json!(applet::sw::meaning(a.sw)));
                o.insert("t_us".into(), json!(micros(a.elapsed)));
                if a.exchanges.len() > 1 {
                    let chain: Vec<Value> = a
                        .exchanges
                        .iter()
                        .map(|x| {
                            json!({"cmd": packed(&x.command), "resp": packed(&x.response), "t_us": micros(x.elapsed)})
                        })
                        .collect();
                    o.insert("chain".into(), Value::Array(chain));
                }
                if let Some(c) = &a.check {
                    let mut e = Map::new();
                    e.insert("pattern".into(), json!(c.pattern));
                    e.insert("ok".into(), json!(c.failure.is_none()));
                    if let Some(why) = &c.failure {
                        e.insert("reason".into(), json!(why));
                    }
                    o.insert("expect".into(), Value::Object(e));
                }
                if !a.captures.is_empty() {
                    let mut caps = Map::new();
                    for c in &a.captures {
                        let v = match &c.value {
                            Ok(v) => json!(packed(v)),
                            Err(e) => json!({"error": e}),
                        };
                        caps.insert(c.name.clone(), v);
                    }
                    o.insert("captures".into(), Value::Object(caps));
                }
                if a.tlv
                    && !a.data.is_empty()
                    && let Ok(rows) = tlv_view::rows(&a.data)
                {
                    let rows: Vec<Value> = rows
                            .iter()
                            .map(|r| json!({"depth": r.depth, "tag": r.tag, "name": r.name, "len": r.len, "value": r.value}))
                            .collect();
                    o.insert("tlv".into(), Value::Array(rows));
                }
                o
            }
            Event::Echo { span, text } => {
                let mut o = object("echo");
                place(&mut o, span);
                o.insert("text".into(), json!(text));
                o
            }
            Event::Check(c) => {
                let mut o = object("expect");
                place(&mut o, &c.span);
                o.insert("pattern".into(), json!(c.pattern));
                o.insert("ok".into(), json!(c.failure.is_none()));
                if let Some(why) = &c.failure {
                    o.insert("reason".into(), json!(why));
                }
                o
            }
            Event::Error { span, message, exit } => {
                let mut o = object("error");
                if let Some(span) = span {
                    place(&mut o, span);
                    o.insert("col".into(), json!(span.col));
                }
                o.insert("message".into(), json!(message));
                o.insert("exit".into(), json!(exit));
                o
            }
            Event::Summary(s) => {
                let mut o = object("summary");
                o.insert("apdus".into(), json!(s.apdus));
                o.insert("checks".into(), json!(s.checks));
                o.insert("failed".into(), json!(s.failed));
                o.insert("exit".into(), json!(s.exit));
                o.insert("t_us".into(), json!(micros(s.elapsed)));
                o
            }
        };
        serde_json::to_writer(&mut self.out, &Value::Object(obj))?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}
