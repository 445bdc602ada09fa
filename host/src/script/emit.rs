//! `--emit-script`: turn whatever a flow sends to a card into an extended-dialect script that
//! `cardgate run` replays with the same result.
//!
//! Wrap the transport a flow uses in a [`ScriptRecorder`], keep its [`ScriptLog`] handle, hand the
//! recorder to the flow (anything that takes a `T: Transport`, such as an [`reader_bridge::Exchanger`]
//! or a wallet that keeps its transport), run the flow, then write the script from the handle:
//!
//! ```no_run
//! use cardgate::script::ScriptRecorder;
//! use reader_bridge::Exchanger;
//!
//! # fn flow() -> Result<(), Box<dyn std::error::Error>> {
//! let recorder = ScriptRecorder::new(reader_bridge::open(Some("emu:card.state"))?);
//! let script = recorder.log();
//! let mut card = Exchanger::new(recorder);
//! script.echo("select the wallet");
//! card.expect_ok(&[0x00, 0xA4, 0x04, 0x00, 0x05, 0xA0, 0x00, 0x00, 0x00, 0x01, 0x00])?;
//! // ... the rest of the flow, through `card` ...
//! script.write_to(std::path::Path::new("issue.cg"))?;
//! # Ok(()) }
//! ```
//!
//! What the script contains:
//! - one line per *logical* command, as the flow asked for it: GET RESPONSE rounds after `61xx`
//!   and the resend after `6Cxx` (whether [`reader_bridge::Exchanger`] or the flow sent them) fold
//!   into the command they complete, since `cardgate run` follows up the same way;
//! - `=> SW`: the status word the card answered, so a replay fails where the card disagrees;
//! - captures and variables where a later command carries bytes the card sent earlier (8 bytes or
//!   more, such as a challenge or a key handle): `-> $r3` on the third command's response and
//!   `${r3[4:12]}` in a later command, so a replay against a card that answers differently sends
//!   what that card expects;
//! - each response's data as a comment (`#   <= ...`), for the reader;
//! - resets, and the [`comment`](ScriptRecorder::comment)s and [`echo`](ScriptRecorder::echo)es the
//!   flow adds to label its steps;
//! - secrets as variables: a command sent with [`Transport::transmit_secret`] (what
//!   [`reader_bridge::Exchanger::exchange_secret`] does, for a VERIFY with a PIN) is written as its
//!   header, `{${name}}` and its Le, and a comment at the top says to give `-D name=...` when
//!   replaying. The recorder never keeps the secret's bytes, only the header and Le.
//!
//! What it cannot do: bytes the host computed from a response (a signature over a challenge, a
//! MAC) are recorded as they were sent, so a card that answers with a different challenge rejects
//! them on replay. Against the same card state (or a card whose answers do not vary), the replay
//! gets the same status words.

use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use reader_bridge::transport::split_sw;
use reader_bridge::{Protocol, ResetKind, Transport, TransportError};

use crate::hexfmt::{packed, spaced};

/// Shortest run of response bytes worth turning into a variable: shorter runs (a counter, `00 00`)
/// match by coincidence too often.
pub const MIN_CAPTURE: usize = 8;

#[derive(Debug, Clone)]
struct Step {
    /// The command as first sent; for a secret command, its header and Le only (the data is never
    /// kept).
    command: Vec<u8>,
    /// A secret command's name: the script sends `{${name}}` as its data.
    secret: Option<&'static str>,
    /// The last command sent for it (the resend after `6Cxx` has another Le).
    last_sent: Vec<u8>,
    /// Data assembled across follow-ups.
    data: Vec<u8>,
    /// The final status word.
    sw: u16,
}

#[derive(Debug, Clone)]
enum Entry {
    Command(Step),
    Reset(ResetKind),
    Comment(String),
    Echo(String),
    /// A command the transport could not deliver, and why; a secret one without its data.
    Failed(Vec<u8>, String, Option<&'static str>),
}

/// A [`Transport`] that passes everything through and remembers it as a script.
#[derive(Debug)]
pub struct ScriptRecorder<T> {
    inner: T,
    log: ScriptLog,
}

/// The script a [`ScriptRecorder`] is writing, as a handle that stays usable after the recorder
/// moved into code that keeps it (a wallet holding its transport, an [`reader_bridge::Exchanger`]):
/// take it with [`ScriptRecorder::log`] before handing the recorder over, and write the script
/// from it at the end. Clones share the same script.
#[derive(Debug, Clone, Default)]
pub struct ScriptLog {
    entries: Arc<Mutex<Vec<Entry>>>,
}

impl ScriptLog {
    fn with<R>(&self, f: impl FnOnce(&mut Vec<Entry>) -> R) -> R {
        // A panic while holding the lock leaves whole entries behind: the data stays usable.
        let mut entries = self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut entries)
    }

    /// Adds `# text` to the script (one comment line per line of text).
    pub fn comment(&self, text: &str) {
        self.with(|e| e.push(Entry::Comment(text.to_string())));
    }

    /// Adds `echo "text"`: the replay prints it when it gets there.
    pub fn echo(&self, text: &str) {
        self.with(|e| e.push(Entry::Echo(text.to_string())));
    }

    /// The script so far.
    pub fn script(&self) -> String {
        self.with(|e| render(e))
    }

    /// The names of the secrets the script needs (`-D name=...` when replaying), in order.
    pub fn secrets(&self) -> Vec<&'static str> {
        self.with(|e| secret_names(e))
    }

    /// How many commands the script has.
    pub fn commands(&self) -> usize {
        self.with(|e| e.iter().filter(|e| matches!(e, Entry::Command(_))).count())
    }

    /// Writes the script to `path`, through a temporary file renamed into place, so a failure never
    /// leaves half a script.
    pub fn write_to(&self, path: &Path) -> io::Result<()> {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, self.script())?;
        std::fs::rename(&tmp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }
}

/// Where a command's data field is (ISO 7816-3 §12.1.3): `(start, end)` byte offsets.
fn data_field(cmd: &[u8]) -> Option<(usize, usize)> {
    let lc = *cmd.get(4)?;
    if lc != 0 {
        let end = 5 + usize::from(lc);
        return (cmd.len() == end || cmd.len() == end + 1).then_some((5, end));
    }
    let lc = usize::from(u16::from_be_bytes([*cmd.get(5)?, *cmd.get(6)?]));
    let end = 7 + lc;
    (lc != 0 && (cmd.len() == end || cmd.len() == end + 2)).then_some((7, end))
}

/// Whether `cmd` is a GET RESPONSE (ISO 7816-4 §7.6.1: INS C0, P1 P2 00 00, Le only).
fn is_get_response(cmd: &[u8]) -> bool {
    cmd.len() == 5 && cmd[1] == 0xC0 && cmd[2] == 0 && cmd[3] == 0
}

/// A secret command without its data: header and Le. `None` when it has no data field (then
/// there is nothing to hide).
fn redact(cmd: &[u8]) -> Option<Vec<u8>> {
    let (_, end) = data_field(cmd)?;
    let mut out = cmd[..4].to_vec();
    out.extend_from_slice(&cmd[end..]);
    Some(out)
}

fn secret_names(entries: &[Entry]) -> Vec<&'static str> {
    let mut names = Vec::new();
    for e in entries {
        if let Entry::Command(Step { secret: Some(name), .. }) = e
            && !names.contains(name)
        {
            names.push(*name);
        }
    }
    names
}

/// Escapes text for a quoted string in the extended dialect.
fn quote(text: &str) -> String {
    let mut s = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7F}' => {
                let _ = write!(s, "\\x{:02X}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

impl<T: Transport> ScriptRecorder<T> {
    /// Starts recording what goes through `inner`.
    pub fn new(inner: T) -> Self {
        Self { inner, log: ScriptLog::default() }
    }

    /// A handle on the script being written (see [`ScriptLog`]).
    pub fn log(&self) -> ScriptLog {
        self.log.clone()
    }

    /// Adds `# text` to the script (one comment line per line of text).
    pub fn comment(&mut self, text: &str) {
        self.log.comment(text);
    }

    /// Adds `echo "text"`: the replay prints it when it gets there.
    pub fn echo(&mut self, text: &str) {
        self.log.echo(text);
    }

    /// The wrapped transport.
    pub fn inner(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Stops recording and returns the wrapped transport.
    pub fn into_inner(self) -> T {
        self.inner
    }

    /// The script so far.
    pub fn script(&self) -> String {
        self.log.script()
    }

    /// Writes the script to `path` (see [`ScriptLog::write_to`]).
    pub fn write_to(&self, path: &Path) -> io::Result<()> {
        self.log.write_to(path)
    }
}

/// Renders the entries as an extended-dialect script.
fn render(entries: &[Entry]) -> String {
    let steps: Vec<Option<&Step>> = entries
        .iter()
        .map(|e| match e {
            Entry::Command(s) => Some(s),
            _ => None,
        })
        .collect();
    // Which steps later commands take bytes from, and each command's pieces.
    let mut captured = vec![false; steps.len()];
    let mut pieces: Vec<Vec<Piece>> = Vec::with_capacity(steps.len());
    for (i, step) in steps.iter().enumerate() {
        let Some(step) = step else {
            pieces.push(Vec::new());
            continue;
        };
        if let Some(name) = step.secret {
            // Header, the secret as a variable (with its Lc), then Le if any.
            let mut p = vec![Piece::Bytes(step.command[..4].to_vec()), Piece::Secret(name)];
            if step.command.len() > 4 {
                p.push(Piece::Bytes(step.command[4..].to_vec()));
            }
            pieces.push(p);
            continue;
        }
        let found = find_reuse(&step.command, &steps[..i]);
        for p in &found {
            if let Piece::Var { step, .. } = p {
                captured[*step] = true;
            }
        }
        pieces.push(found);
    }

    // Variables are named after the command's number in the script: `$r2` is the second command's.
    let mut numbers = vec![0; steps.len()];
    let mut n = 0;
    for (i, step) in steps.iter().enumerate() {
        if step.is_some() {
            n += 1;
            numbers[i] = n;
        }
    }
    let mut out = String::from("#!cardgate\n");
    let secrets = secret_names(entries);
    let defines: String = secrets.iter().map(|n| format!(" -D {n}=VALUE")).collect();
    let _ = writeln!(
        out,
        "# Recorded by cardgate {}; replay with: cardgate run -r READER{defines} FILE",
        env!("CARGO_PKG_VERSION")
    );
    for name in &secrets {
        let _ = writeln!(
            out,
            "# ${name} is a secret the flow sent (a PIN): it is not in this file; give it when replaying, \
             as text (-D {name}='\"NNNN\"') or as hex (-D {name}=HEX)"
        );
    }
    for (i, entry) in entries.iter().enumerate() {
        match entry {
            Entry::Comment(text) => {
                for line in text.lines() {
                    let _ = writeln!(out, "# {line}");
                }
            }
            Entry::Echo(text) => {
                for line in text.lines() {
                    let _ = writeln!(out, "echo {}", quote(line));
                }
            }
            Entry::Reset(kind) => {
                let _ = writeln!(out, "reset {}", if *kind == ResetKind::Cold { "cold" } else { "warm" });
            }
            Entry::Failed(cmd, why, secret) => match secret {
                Some(name) => {
                    let _ = writeln!(out, "# not sent ({why}): {} with ${name} (not recorded)", packed(cmd));
                }
                None => {
                    let _ = writeln!(out, "# not sent ({why}): {}", packed(cmd));
                }
            },
            Entry::Command(step) => {
                // A 61xx/6Cxx the flow did not follow up: replay it without following up either.
                let raw = matches!(step.sw >> 8, 0x61 | 0x6C);
                if raw {
                    out.push_str("getresponse off\nfixle off\n");
                }
                let mut line = String::new();
                for p in &pieces[i] {
                    if !line.is_empty() {
                        line.push(' ');
                    }
                    match p {
                        Piece::Bytes(b) => line.push_str(&spaced(b)),
                        Piece::Secret(name) => {
                            let _ = write!(line, "{{${{{name}}}}}");
                        }
                        Piece::Var { step, start, end } => {
                            let whole = steps[*step].is_some_and(|s| *start == 0 && *end == s.data.len());
                            let r = numbers[*step];
                            if whole {
                                let _ = write!(line, "${{r{r}}}");
                            } else {
                                let _ = write!(line, "${{r{r}[{start}:{end}]}}");
                            }
                        }
                    }
                }
                let _ = write!(line, " => {:04X}", step.sw);
                if captured[i] {
                    let _ = write!(line, " -> $r{}", numbers[i]);
                }
                let _ = writeln!(out, "{line}");
                if !step.data.is_empty() {
                    let _ = writeln!(out, "#   <= {}", packed(&step.data));
                }
                if raw {
                    out.push_str("getresponse on\nfixle on\n");
                }
            }
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Bytes(Vec<u8>),
    /// A secret command's data field: `{${name}}`.
    Secret(&'static str),
    Var {
        step: usize,
        start: usize,
        end: usize,
    },
}

/// Splits `cmd` into literal bytes and runs copied from earlier responses (in its data field only).
fn find_reuse(cmd: &[u8], earlier: &[Option<&Step>]) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut literal = Vec::new();
    let Some((start, end)) = data_field(cmd) else {
        return vec![Piece::Bytes(cmd.to_vec())];
    };
    literal.extend_from_slice(&cmd[..start]);
    let mut p = start;
    while p < end {
        // The longest run from p found in an earlier response; the latest response wins ties.
        let mut best: Option<(usize, usize, usize)> = None; // (step, offset, len)
        for (j, step) in earlier.iter().enumerate().rev() {
            let Some(step) = step else { continue };
            for off in 0..step.data.len() {
                let len = cmd[p..end].iter().zip(&step.data[off..]).take_while(|(a, b)| a == b).count();
                if len >= MIN_CAPTURE && best.is_none_or(|(_, _, l)| len > l) {
                    best = Some((j, off, len));
                }
            }
        }
        match best {
            Some((j, off, len)) => {
                if !literal.is_empty() {
                    pieces.push(Piece::Bytes(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Var { step: j, start: off, end: off + len });
                p += len;
            }
            None => {
                literal.push(cmd[p]);
                p += 1;
            }
        }
    }
    literal.extend_from_slice(&cmd[end..]);
    if !literal.is_empty() {
        pieces.push(Piece::Bytes(literal));
    }
    pieces
}

impl<T: Transport> Transport for ScriptRecorder<T> {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn atr(&mut self) -> Result<Vec<u8>, TransportError> {
        self.inner.atr()
    }

    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        let response = self.inner.transmit(command);
        self.note(command, None, response)
    }

    fn transmit_secret(&mut self, command: &[u8], name: &'static str) -> Result<Vec<u8>, TransportError> {
        let response = self.inner.transmit_secret(command, name);
        match redact(command) {
            Some(shown) => self.note(&shown, Some(name), response),
            None => self.note(command, None, response),
        }
    }

    fn reset(&mut self, kind: ResetKind) -> Result<Vec<u8>, TransportError> {
        let atr = self.inner.reset(kind)?;
        self.log.with(|e| e.push(Entry::Reset(kind)));
        Ok(atr)
    }

    fn protocol(&self) -> Option<Protocol> {
        self.inner.protocol()
    }
}

impl<T: Transport> ScriptRecorder<T> {
    /// Writes down one exchange: `command` as it goes in the script (a secret one redacted).
    fn note(
        &mut self,
        command: &[u8],
        secret: Option<&'static str>,
        response: Result<Vec<u8>, TransportError>,
    ) -> Result<Vec<u8>, TransportError> {
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                self.log.with(|entries| entries.push(Entry::Failed(command.to_vec(), e.to_string(), secret)));
                return Err(e);
            }
        };
        if response.len() < 2 {
            return Ok(response);
        }
        let (body, sw) = split_sw(&response);
        self.log.with(|entries| record(entries, command, secret, body, sw));
        Ok(response)
    }
}

/// Adds one physical exchange: folded into the last command when it follows it up, new otherwise.
fn record(entries: &mut Vec<Entry>, command: &[u8], secret: Option<&'static str>, body: &[u8], sw: u16) {
    if let Some(Entry::Command(step)) = entries.last_mut() {
        let [sw1, sw2] = step.sw.to_be_bytes();
        // ISO 7816-4 §7.6.1: GET RESPONSE after 61xx continues the same response.
        let more = sw1 == 0x61 && is_get_response(command);
        // ISO 7816-4 §5.6: after 6Cxx the same command comes again with Le = SW2.
        let retry = sw1 == 0x6C
            && command.len() >= 5
            && command[..4] == step.last_sent[..4.min(step.last_sent.len())]
            && command.last() == Some(&sw2);
        if more || retry {
            if retry {
                step.data.clear();
            }
            step.data.extend_from_slice(body);
            step.sw = sw;
            step.last_sent = command.to_vec();
            return;
        }
    }
    entries.push(Entry::Command(Step {
        command: command.to_vec(),
        secret,
        last_sent: command.to_vec(),
        data: body.to_vec(),
        sw,
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        crate::hexfmt::parse(s).unwrap()
    }

    #[test]
    fn data_fields_by_case() {
        assert_eq!(data_field(&h("00A4040000")), None);
        assert_eq!(data_field(&h("00A4040002AABB")), Some((5, 7)));
        assert_eq!(data_field(&h("00A4040002AABB00")), Some((5, 7)));
        assert_eq!(data_field(&h("00A4040002AA")), None);
        assert_eq!(data_field(&h("00DA0100000002ABCD0000")), Some((7, 9)));
    }

    #[test]
    fn reused_bytes_become_slices_of_earlier_responses() {
        let challenge = Step {
            command: h("0084000008"),
            secret: None,
            last_sent: h("0084000008"),
            data: h("1122334455667788"),
            sw: 0x9000,
        };
        let cmd = h("0082000009 00 1122334455667788");
        let pieces = find_reuse(&cmd, &[Some(&challenge)]);
        assert_eq!(pieces, [Piece::Bytes(h("008200000900")), Piece::Var { step: 0, start: 0, end: 8 }]);
        // Seven matching bytes are not enough.
        let cmd = h("0082000007 11223344556677");
        assert_eq!(find_reuse(&cmd, &[Some(&challenge)]), [Piece::Bytes(cmd.clone())]);
    }

    #[test]
    fn quoting_escapes_what_the_lexer_would_read() {
        assert_eq!(quote("a \"b\" \\ $x\t"), "\"a \\\"b\\\" \\\\ $x\\x09\"");
    }
}
