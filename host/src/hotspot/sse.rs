//! A server-sent events parser (WHATWG HTML §9.2.6 "Interpreting an event stream"), fed with the
//! response body's chunks as they arrive.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// `event:` field, `message` when absent.
    pub event: String,
    /// `data:` lines joined with `\n`.
    pub data: String,
    /// The last `id:` seen so far on the stream.
    pub id: Option<String>,
}

/// Incremental parser.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    event: String,
    data: Option<String>,
    last_id: Option<String>,
}

impl SseParser {
    /// Feeds bytes; returns the events completed by them.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        // Lines end in CRLF, LF or CR (§9.2.5); a CR at the very end may be half a CRLF, so wait.
        while let Some(pos) = self.buf.iter().position(|&b| b == b'\n' || b == b'\r') {
            let crlf = self.buf[pos] == b'\r' && self.buf.get(pos + 1) == Some(&b'\n');
            if self.buf[pos] == b'\r' && pos + 1 == self.buf.len() {
                break;
            }
            let line: Vec<u8> = self.buf.drain(..pos).collect();
            self.buf.drain(..if crlf { 2 } else { 1 });
            if let Some(ev) = self.line(&String::from_utf8_lossy(&line)) {
                out.push(ev);
            }
        }
        out
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            let data = self.data.take()?;
            let event = std::mem::take(&mut self.event);
            let event = if event.is_empty() { "message".to_owned() } else { event };
            return Some(SseEvent { event, data, id: self.last_id.clone() });
        }
        if line.starts_with(':') {
            return None; // a comment (the server's keep-alive)
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_owned(),
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            "id" if !value.contains('\0') => self.last_id = Some(value.to_owned()),
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_and_line_endings() {
        let mut p = SseParser::default();
        assert!(p.feed(b": keep-alive\n\nevent: in").is_empty());
        assert!(p.feed(b"fo\r\nid: 3\r").is_empty());
        let evs = p.feed(b"\ndata: {\"a\":\ndata:1}\n\n");
        assert_eq!(
            evs,
            vec![SseEvent { event: "info".into(), data: "{\"a\":\n1}".into(), id: Some("3".into()) }]
        );
        let evs = p.feed(b"data: x\r\rdata\n\n");
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].event, "message");
        assert_eq!(evs[0].data, "x");
        assert_eq!(evs[1].data, "");
        assert_eq!(evs[1].id.as_deref(), Some("3"), "the last id carries over");
    }
}
