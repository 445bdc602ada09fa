//! Runs statements against a card and reports each step to an [`Output`].
//!
//! Exit codes (`cardgate run`): 0 every expectation passed; 1 an expectation or capture failed (the
//! run stops at the first unless `keep_going`); 2 the script is wrong (syntax, unset variable); 3 the
//! reader or card failed (no card, transmit error, a replay that does not match).

use std::io::Write;
use std::time::{Duration, Instant};

use reader_bridge::{Exchange, ExchangeOptions, Exchanger, Outcome, Protocol, Transport, TransportError};

use super::ast::{Dialect, EchoPart, Expect, Setting, Stmt, StmtKind, Template};
use super::expect;
use super::output::{
    ApduReport, CaptureReport, CheckReport, Event, Output, ResetReport, SessionInfo, Summary,
};
use super::source::{ScriptError, Span};
use super::vars::Vars;
use crate::hexfmt::packed;

/// Exit code: every expectation passed.
pub const EXIT_OK: u8 = 0;
/// Exit code: an expectation or capture failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: the script is wrong.
pub const EXIT_SCRIPT: u8 = 2;
/// Exit code: the reader or card failed.
pub const EXIT_CARD: u8 = 3;

/// Choices made on the command line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Go on after a failed expectation (the exit code is still 1).
    pub keep_going: bool,
    /// Decode every response as BER-TLV (scripts can also say `tlv on`).
    pub tlv: bool,
    /// Show every exchange's time (scripts can also say `timing on`).
    pub timing: bool,
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    dialect: Dialect,
    get_response: bool,
    fix_le: bool,
    tlv: bool,
    timing: bool,
}

/// Why the run stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// `exit`.
    Exit,
    /// An expectation failed and `keep_going` is off.
    Failed,
    /// An error with this exit code.
    Error(u8),
}

/// Runs scripts over a transport.
pub struct Engine<'o, T: Transport> {
    ex: Exchanger<T>,
    out: &'o mut dyn Output,
    diag: &'o mut dyn Write,
    vars: Vars,
    opts: Options,
    settings: Settings,
    last: Option<(Vec<u8>, u16)>,
    apdus: usize,
    checks: usize,
    failed: usize,
    reset_failed: bool,
    stopped: Option<Stop>,
    started: Instant,
}

impl<'o, T: Transport> Engine<'o, T> {
    /// An engine over `transport`, reporting to `out`; human-readable problems also go to `diag`
    /// (stderr in the CLI).
    pub fn new(transport: T, out: &'o mut dyn Output, diag: &'o mut dyn Write, opts: Options) -> Self {
        let settings = Settings {
            dialect: Dialect::Extended,
            get_response: true,
            fix_le: true,
            tlv: opts.tlv,
            timing: opts.timing,
        };
        Self {
            ex: Exchanger::new(transport),
            out,
            diag,
            vars: Vars::default(),
            opts,
            settings,
            last: None,
            apdus: 0,
            checks: 0,
            failed: 0,
            reset_failed: false,
            stopped: None,
            started: Instant::now(),
        }
    }

    /// The variables (to set `-D` values before running).
    pub fn vars_mut(&mut self) -> &mut Vars {
        &mut self.vars
    }

    /// The transport.
    pub fn transport(&mut self) -> &mut T {
        self.ex.transport()
    }

    /// Reads the ATR and reports the session. Fails (exit 3) when the card cannot be reached.
    pub fn start(&mut self) -> Result<(), Stop> {
        let reader = self.ex.transport().name();
        let atr = match self.ex.transport().atr() {
            Ok(atr) => atr,
            Err(e) => return Err(self.error(None, &format!("{reader}: {e}"), EXIT_CARD)),
        };
        let protocol = self.ex.transport().protocol().or_else(|| Protocol::from_atr(&atr));
        self.vars.set("atr", atr.clone());
        let info = SessionInfo { reader, protocol, atr };
        self.emit(&Event::Session(&info))
    }

    /// Applies a dialect's defaults: GET RESPONSE and Le correction off for scriptor (its scripts send
    /// GET RESPONSE themselves), on for the extended dialect. For input read line by line.
    pub fn set_dialect(&mut self, dialect: Dialect) {
        let auto = dialect == Dialect::Extended;
        self.settings.dialect = dialect;
        self.settings.get_response = auto;
        self.settings.fix_le = auto;
    }

    /// Whether the run has stopped (then nothing more runs).
    pub fn stopped(&self) -> Option<Stop> {
        self.stopped
    }

    /// Runs statements in order until the end or a stop.
    pub fn run(&mut self, stmts: &[Stmt]) -> Result<(), Stop> {
        if let Some(stop) = self.stopped {
            return Err(stop);
        }
        for stmt in stmts {
            if let Err(stop) = self.stmt(stmt) {
                self.stopped = Some(stop);
                return Err(stop);
            }
        }
        Ok(())
    }

    /// Reports a script error found before running (a parse error) and stops with exit code 2.
    pub fn script_error(&mut self, err: &ScriptError) -> Stop {
        let stop = self.error(Some(&err.span), &err.message, EXIT_SCRIPT);
        self.stopped = Some(stop);
        stop
    }

    /// Ends the run: reports the summary and returns the exit code.
    pub fn finish(self) -> (u8, T) {
        let exit = match self.stopped {
            Some(Stop::Error(code)) => code,
            _ if self.failed > 0 => EXIT_FAILED,
            _ if self.reset_failed => EXIT_CARD,
            _ => EXIT_OK,
        };
        if self.failed > 0 {
            let _ = writeln!(self.diag, "cardgate: {} of {} checks failed", self.failed, self.checks);
        }
        let summary = Summary {
            apdus: self.apdus,
            checks: self.checks,
            failed: self.failed,
            exit,
            elapsed: self.started.elapsed(),
        };
        let _ = self.out.event(&Event::Summary(&summary));
        (exit, self.ex.into_inner())
    }

    fn emit(&mut self, event: &Event<'_>) -> Result<(), Stop> {
        self.out.event(event).map_err(|e| {
            let _ = writeln!(self.diag, "cardgate: cannot write the output: {e}");
            Stop::Error(EXIT_SCRIPT)
        })
    }

    fn error(&mut self, span: Option<&Span>, message: &str, exit: u8) -> Stop {
        match span {
            Some(span) => {
                let _ = writeln!(self.diag, "cardgate: {span}: {message}");
            }
            None => {
                let _ = writeln!(self.diag, "cardgate: {message}");
            }
        }
        let _ = self.out.event(&Event::Error { span, message, exit });
        Stop::Error(exit)
    }

    fn script(&mut self, err: ScriptError) -> Stop {
        self.error(Some(&err.span), &err.message, EXIT_SCRIPT)
    }

    fn failure(&mut self, span: &Span, why: &str) -> Result<(), Stop> {
        self.failed += 1;
        let _ = writeln!(self.diag, "cardgate: {span}: {why}");
        if self.opts.keep_going { Ok(()) } else { Err(Stop::Failed) }
    }

    fn build(&mut self, template: &Template) -> Result<Vec<u8>, Stop> {
        self.vars.build(template).map_err(|e| self.script(e))
    }

    fn stmt(&mut self, stmt: &Stmt) -> Result<(), Stop> {
        match &stmt.kind {
            StmtKind::Line(raw) => self.emit(&Event::Line(raw)),
            StmtKind::Reset(kind) => {
                let start = Instant::now();
                let result = self.ex.transport().reset(*kind).map_err(|e| e.to_string());
                let report =
                    ResetReport { span: stmt.span.clone(), kind: *kind, result, elapsed: start.elapsed() };
                self.emit(&Event::Reset(&report))?;
                match report.result {
                    Ok(atr) => {
                        self.vars.set("atr", atr);
                        Ok(())
                    }
                    // scriptor prints `< KO: ...` and carries on; so does its dialect here.
                    Err(_) if self.settings.dialect == Dialect::Scriptor => {
                        self.reset_failed = true;
                        Ok(())
                    }
                    Err(e) => Err(self.error(Some(&stmt.span), &format!("reset failed: {e}"), EXIT_CARD)),
                }
            }
            StmtKind::Apdu { command, shown, expect, captures } => {
                let bytes = self.build(command)?;
                self.apdu(&stmt.span, bytes, shown.clone(), expect.as_ref(), captures)
            }
            StmtKind::Echo(parts) => {
                let mut text = String::new();
                for part in parts {
                    match part {
                        EchoPart::Text(t) => text.push_str(t),
                        EchoPart::Var(v) => {
                            text.push_str(&packed(&self.vars.resolve(v).map_err(|e| self.script(e))?))
                        }
                    }
                }
                self.emit(&Event::Echo { span: &stmt.span, text: &text })
            }
            StmtKind::Let { name, value } => {
                let bytes = self.build(value)?;
                self.vars.set(name, bytes);
                Ok(())
            }
            StmtKind::Expect(e) => {
                let Some((data, sw)) = self.last.clone() else {
                    return Err(self.script(ScriptError::new(stmt.span.clone(), "expect before any command")));
                };
                let report = self.check(e, &data, sw)?;
                self.emit(&Event::Check(&report))?;
                match &report.failure {
                    Some(why) => self.failure(&report.span, why),
                    None => Ok(()),
                }
            }
            StmtKind::Set(setting) => {
                match *setting {
                    Setting::GetResponse(on) => self.settings.get_response = on,
                    Setting::FixLe(on) => self.settings.fix_le = on,
                    Setting::Tlv(on) => self.settings.tlv = on,
                    Setting::Timing(on) => self.settings.timing = on,
                }
                Ok(())
            }
            StmtKind::Repeat { count, var, body } => {
                for round in 1..=*count {
                    if let Some(name) = var {
                        let value = if *count <= 255 {
                            vec![round as u8]
                        } else {
                            (round as u16).to_be_bytes().to_vec()
                        };
                        self.vars.set(name, value);
                    }
                    for s in body {
                        self.stmt(s)?;
                    }
                }
                Ok(())
            }
            StmtKind::File { dialect, body } => {
                let saved = self.settings;
                self.set_dialect(*dialect);
                let result = body.iter().try_for_each(|s| self.stmt(s));
                self.settings = saved;
                result
            }
            StmtKind::Exit => Err(Stop::Exit),
        }
    }

    fn check(&mut self, e: &Expect, data: &[u8], sw: u16) -> Result<CheckReport, Stop> {
        self.checks += 1;
        let failure = expect::check(e, data, sw, &self.vars).map_err(|err| self.script(err))?;
        Ok(CheckReport { pattern: e.text.clone(), span: e.span.clone(), failure })
    }

    fn transmit(&mut self, command: &[u8]) -> Result<Outcome, TransportError> {
        if command.len() >= 4 {
            self.ex.options = ExchangeOptions {
                get_response: self.settings.get_response,
                fix_le: self.settings.fix_le,
                ..ExchangeOptions::default()
            };
            return self.ex.exchange(command);
        }
        // Fewer than four bytes is not an APDU, but a card under test must answer it too: send it as is.
        let start = Instant::now();
        let response = self.ex.transport().transmit(command)?;
        if response.len() < 2 {
            return Err(TransportError::BadResponse(response.len()));
        }
        let (data, sw) = reader_bridge::transport::split_sw(&response);
        let exchange =
            Exchange { command: command.to_vec(), response: response.clone(), elapsed: start.elapsed() };
        Ok(Outcome { data: data.to_vec(), sw, exchanges: vec![exchange] })
    }

    fn apdu(
        &mut self,
        span: &Span,
        command: Vec<u8>,
        shown: Option<String>,
        expect: Option<&Expect>,
        captures: &[super::ast::Capture],
    ) -> Result<(), Stop> {
        let outcome = match self.transmit(&command) {
            Ok(o) => o,
            Err(e) => {
                let event = Event::Unanswered { span, shown: shown.as_deref(), command: &command };
                let _ = self.out.event(&event);
                let message = format!("cannot send {}: {e}", packed(&command));
                return Err(self.error(Some(span), &message, EXIT_CARD));
            }
        };
        self.apdus += 1;
        let Outcome { data, sw, exchanges } = outcome;
        let elapsed: Duration = exchanges.iter().map(|x| x.elapsed).sum();
        let [sw1, sw2] = sw.to_be_bytes();
        self.vars.set("data", data.clone());
        self.vars.set("sw", vec![sw1, sw2]);
        self.vars.set("sw1", vec![sw1]);
        self.vars.set("sw2", vec![sw2]);
        self.vars.set("resp", [&data[..], &[sw1, sw2]].concat());
        self.last = Some((data.clone(), sw));
        let check = match expect {
            Some(e) => Some(self.check(e, &data, sw)?),
            None => None,
        };
        let mut caps = Vec::new();
        for c in captures {
            self.checks += 1;
            let value = expect::capture(c, &data, sw);
            match &value {
                Ok(v) => self.vars.set(&c.name, v.clone()),
                Err(_) => self.vars.remove(&c.name),
            }
            caps.push(CaptureReport { name: c.name.clone(), value, span: c.span.clone() });
        }
        let report = ApduReport {
            n: self.apdus,
            span: span.clone(),
            shown,
            command,
            exchanges,
            data,
            sw,
            elapsed,
            check,
            captures: caps,
            tlv: self.settings.tlv,
            timing: self.settings.timing,
        };
        self.emit(&Event::Apdu(&report))?;
        if let Some(check) = &report.check
            && let Some(why) = &check.failure
        {
            self.failure(&check.span, why)?;
        }
        for c in &report.captures {
            if let Err(why) = &c.value {
                let why = format!("${}: {why}", c.name);
                self.failure(&c.span, &why)?;
            }
        }
        Ok(())
    }
}
