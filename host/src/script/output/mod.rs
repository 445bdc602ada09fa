//! What a run reports, and the three ways to print it:
//! - [`scriptor`]: scriptor's layout (`> command`, `< response : status text`), extras as `#` lines;
//! - [`trace`]: an apdu4j-style trace (`>> 00A40400 07 ...`, `<< ... 9000 (0.12ms)`);
//! - [`json`]: JSON Lines, one object per event, schema version `v: 1`.

pub mod json;
pub mod scriptor;
pub mod trace;

use std::io::{self, Write};
use std::time::Duration;

use reader_bridge::{Exchange, Protocol, ResetKind};

use super::source::Span;

/// The session, before the first statement.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// The reader (or `emu:`/`replay:` source).
    pub reader: String,
    /// The protocol, when known.
    pub protocol: Option<Protocol>,
    /// The card's ATR.
    pub atr: Vec<u8>,
}

/// A reset and its outcome.
#[derive(Debug, Clone)]
pub struct ResetReport {
    /// The statement.
    pub span: Span,
    /// Cold or warm.
    pub kind: ResetKind,
    /// The new ATR, or why the reset failed.
    pub result: Result<Vec<u8>, String>,
    /// How long it took.
    pub elapsed: Duration,
}

/// The result of checking an expectation.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// The pattern as written.
    pub pattern: String,
    /// Where it is written.
    pub span: Span,
    /// Why it failed; `None` when it passed.
    pub failure: Option<String>,
}

/// A capture and its value, or why the response did not have it.
#[derive(Debug, Clone)]
pub struct CaptureReport {
    /// The variable.
    pub name: String,
    /// Its new value, or why it could not be taken.
    pub value: Result<Vec<u8>, String>,
    /// Where the capture is written.
    pub span: Span,
}

/// One command as the script wrote it, and everything that happened for it.
#[derive(Debug, Clone)]
pub struct ApduReport {
    /// The command's number in the run, from 1.
    pub n: usize,
    /// The statement.
    pub span: Span,
    /// The command as scriptor prints it, for scriptor-dialect lines.
    pub shown: Option<String>,
    /// The command as built.
    pub command: Vec<u8>,
    /// Every physical exchange (GET RESPONSE rounds and Le corrections included).
    pub exchanges: Vec<Exchange>,
    /// Response data, assembled across GET RESPONSE rounds.
    pub data: Vec<u8>,
    /// The final status word.
    pub sw: u16,
    /// Time for all exchanges.
    pub elapsed: Duration,
    /// The expectation, when there was one.
    pub check: Option<CheckReport>,
    /// The captures.
    pub captures: Vec<CaptureReport>,
    /// Whether to decode the data as BER-TLV.
    pub tlv: bool,
    /// Whether to show timing (scriptor layout; the trace always does).
    pub timing: bool,
}

impl ApduReport {
    /// Whether the expectation and every capture succeeded.
    pub fn ok(&self) -> bool {
        self.check.as_ref().is_none_or(|c| c.failure.is_none())
            && self.captures.iter().all(|c| c.value.is_ok())
    }
}

/// The end of a run.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Commands sent (logical, as written).
    pub apdus: usize,
    /// Expectations and captures checked.
    pub checks: usize,
    /// Expectations or captures that failed.
    pub failed: usize,
    /// The exit code.
    pub exit: u8,
    /// Wall time of the run.
    pub elapsed: Duration,
}

/// Something that happened.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// The session started.
    Session(&'a SessionInfo),
    /// scriptor prints this input line (file mode).
    Line(&'a [u8]),
    /// A reset.
    Reset(&'a ResetReport),
    /// A command.
    Apdu(&'a ApduReport),
    /// `echo`.
    Echo {
        /// Where.
        span: &'a Span,
        /// The text.
        text: &'a str,
    },
    /// A command that got no response (the transport failed); an `Error` follows.
    Unanswered {
        /// The statement.
        span: &'a Span,
        /// The command as scriptor prints it, for scriptor-dialect lines.
        shown: Option<&'a str>,
        /// The command as built.
        command: &'a [u8],
    },
    /// A standalone `expect`.
    Check(&'a CheckReport),
    /// The run stopped on an error.
    Error {
        /// Where, when a statement caused it.
        span: Option<&'a Span>,
        /// What happened.
        message: &'a str,
        /// The exit code it leads to.
        exit: u8,
    },
    /// The run ended.
    Summary(&'a Summary),
}

/// Where events go.
pub trait Output {
    /// Prints one event.
    fn event(&mut self, event: &Event<'_>) -> io::Result<()>;
}

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// scriptor's layout.
    Scriptor,
    /// apdu4j-style trace with timings.
    Trace,
    /// JSON Lines.
    Json,
}

/// A printer for `format` writing to `out`.
pub fn printer<'w>(format: Format, out: Box<dyn Write + 'w>) -> Box<dyn Output + 'w> {
    match format {
        Format::Scriptor => Box::new(scriptor::ScriptorOutput::new(out)),
        Format::Trace => Box::new(trace::TraceOutput::new(out)),
        Format::Json => Box::new(json::JsonOutput::new(out)),
    }
}

/// A duration the way people read APDU timings: `0.123ms`, `12.345ms`, `1.234s`.
pub fn duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1000.0 { format!("{ms:.3}ms") } else { format!("{:.3}s", ms / 1000.0) }
}

/// Collects events in memory (for tests and for callers that want to inspect a run).
#[derive(Debug, Default)]
pub struct Collect {
    /// APDU reports, in order.
    pub apdus: Vec<ApduReport>,
    /// Echoed texts, in order.
    pub echoes: Vec<String>,
    /// Error messages, in order.
    pub errors: Vec<String>,
}

impl Output for Collect {
    fn event(&mut self, event: &Event<'_>) -> io::Result<()> {
        match event {
            Event::Apdu(a) => self.apdus.push((*a).clone()),
            Event::Echo { text, .. } => self.echoes.push((*text).to_string()),
            Event::Error { message, .. } => self.errors.push((*message).to_string()),
            _ => {}
        }
        Ok(())
    }
}
