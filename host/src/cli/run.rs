//! `cardgate run`: run APDU scripts (scriptor's format, or the extended dialect) against a card.

use std::fs::File;
use std::io::{self, BufRead, BufWriter};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cardgate::script::ast::{Dialect, Stmt};
use cardgate::script::engine::{EXIT_CARD, EXIT_SCRIPT};
use cardgate::script::output::{self, Format, Output};
use cardgate::script::{Engine, Options, Parser, ScriptError, extended, parse_file};

use super::apdu::ProtocolArg;
use reader_bridge::Transport;
use reader_bridge::record::Recorder;
use reader_bridge::replay::ReplayTransport;

/// `cardgate run [-r READER] [SCRIPT...]`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Reader: `emu:PATH`, `replay:FILE`, a PC/SC reader name, a substring of one, or an index.
    #[arg(short, long, env = "CARDGATE_READER")]
    pub reader: Option<String>,
    /// Transmission protocol (PC/SC readers), as scriptor's -p.
    #[arg(short, long, value_enum, default_value_t = ProtocolArg::Any)]
    pub protocol: ProtocolArg,
    /// Hold the card exclusively (PC/SC readers).
    #[arg(long)]
    pub exclusive: bool,
    /// Play a recorded session (from --record) back as the card: no reader needed.
    #[arg(long, value_name = "FILE")]
    pub replay: Option<PathBuf>,
    /// Record every exchange to FILE (apdu4j's dump format) for --replay.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Output format; default: scriptor for scriptor-format scripts, trace for the extended dialect.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// JSON Lines output (the same as --format json).
    #[arg(long)]
    pub json: bool,
    /// Set a variable before the scripts run: -D name=value (hex or "string").
    #[arg(short = 'D', value_name = "NAME=VALUE")]
    pub define: Vec<String>,
    /// Go on after a failed expectation; the exit code is still 1.
    #[arg(short = 'k', long)]
    pub keep_going: bool,
    /// Decode responses as BER-TLV, with EMV tag names.
    #[arg(long)]
    pub tlv: bool,
    /// Show the time of every exchange (the trace always does).
    #[arg(long)]
    pub timing: bool,
    /// Script files, run in order in one session; none (or `-`) reads standard input.
    pub scripts: Vec<PathBuf>,
}

/// A script to run: parsed up front, or standard input read as it comes.
enum Input {
    Parsed(Box<Stmt>, Dialect, PathBuf),
    Stdin,
}

fn script_error(err: &ScriptError) -> ExitCode {
    eprintln!("cardgate: {err}");
    ExitCode::from(EXIT_SCRIPT)
}

/// Runs `cardgate run`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // Everything that can be wrong with the scripts is found before the card is touched.
    let mut defines = Vec::new();
    for d in &args.define {
        let Some((name, value)) = d.split_once('=') else {
            eprintln!("cardgate: -D {d}: write -D name=value");
            return Ok(ExitCode::from(EXIT_SCRIPT));
        };
        if !cardgate::script::lexer::is_name(name) {
            eprintln!("cardgate: -D {d}: {name:?} is not a variable name");
            return Ok(ExitCode::from(EXIT_SCRIPT));
        }
        match extended::parse_value(value) {
            Ok(t) => defines.push((name.to_string(), t)),
            Err(e) => return Ok(script_error(&e)),
        }
    }
    let mut inputs = Vec::new();
    let paths = if args.scripts.is_empty() { vec![PathBuf::from("-")] } else { args.scripts.clone() };
    if paths.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        eprintln!("cardgate: standard input (-) can be given only once");
        return Ok(ExitCode::from(EXIT_SCRIPT));
    }
    for path in &paths {
        if path.as_os_str() == "-" {
            inputs.push(Input::Stdin);
            continue;
        }
        match parse_file(path, true) {
            Ok(script) => {
                let dialect = script.dialect;
                inputs.push(Input::Parsed(Box::new(script.into_stmt()), dialect, path.clone()));
            }
            Err(e) => return Ok(script_error(&e)),
        }
    }

    // Standard input: its first line decides the dialect, which decides the default format.
    let stdin = io::stdin();
    let mut stdin = stdin.lock();
    let mut first_stdin_line = Vec::new();
    let mut stdin_dialect = None;
    if inputs.iter().any(|i| matches!(i, Input::Stdin)) {
        stdin.read_until(b'\n', &mut first_stdin_line)?;
        stdin_dialect = Some(if cardgate::script::parse::is_extended_marker(&first_stdin_line) {
            Dialect::Extended
        } else {
            Dialect::Scriptor
        });
    }
    let first_dialect = match inputs.first() {
        Some(Input::Parsed(_, d, _)) => *d,
        _ => stdin_dialect.unwrap_or(Dialect::Scriptor),
    };
    let format = match (args.json, args.format) {
        (true, _) => Format::Json,
        (false, Some(f)) => f,
        (false, None) if first_dialect == Dialect::Scriptor => Format::Scriptor,
        (false, None) => Format::Trace,
    };

    let reader = match &args.replay {
        Some(path) => format!("replay:{}", path.display()),
        None => args.reader.clone().unwrap_or_default(),
    };
    let pcsc_options = args.protocol.pcsc_options(args.exclusive);
    if format == Format::Scriptor {
        match args.protocol {
            ProtocolArg::Any => {}
            ProtocolArg::T0 => eprintln!("Trying T=0 protocol"),
            ProtocolArg::T1 => eprintln!("Trying T=1 protocol"),
        }
    }
    let transport: Box<dyn Transport> = match &args.replay {
        Some(path) => match ReplayTransport::open(path) {
            Ok(t) => Box::new(t),
            Err(e) => {
                eprintln!("cardgate: {e}");
                return Ok(ExitCode::from(EXIT_CARD));
            }
        },
        None => match reader_bridge::open_with(args.reader.as_deref(), pcsc_options) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("cardgate: {e}");
                return Ok(ExitCode::from(EXIT_CARD));
            }
        },
    };
    if format == Format::Scriptor {
        // scriptor's own stderr lines.
        if reader.is_empty() {
            eprintln!("No reader given: using {}", transport.name());
        } else {
            eprintln!("Using given card reader: {reader}");
        }
    }

    let stdout = io::stdout();
    // Buffered, and flushed by the printer after every event: one write per event, not per line.
    let mut printer = output::printer(format, Box::new(BufWriter::new(stdout.lock())));
    let opts = Options { keep_going: args.keep_going, tlv: args.tlv, timing: args.timing };
    let session = Session { inputs, defines, stdin: &mut stdin, first_stdin_line, format };

    let code = match &args.record {
        None => session.drive(transport, printer.as_mut(), opts),
        Some(path) => {
            let tmp = temp_beside(path);
            let file = match File::create(&tmp) {
                Ok(f) => BufWriter::new(f),
                Err(e) => {
                    eprintln!("cardgate: cannot write {}: {e}", tmp.display());
                    return Ok(ExitCode::from(EXIT_SCRIPT));
                }
            };
            let recorder = match Recorder::new(transport, file) {
                Ok(r) => r,
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    eprintln!("cardgate: {e}");
                    return Ok(ExitCode::from(EXIT_CARD));
                }
            };
            let (code, recorder) = session.drive_generic(recorder, printer.as_mut(), opts);
            match recorder.finish().and_then(|_| std::fs::rename(&tmp, path)) {
                Ok(()) => code,
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    eprintln!("cardgate: cannot write the recording {}: {e}", path.display());
                    code.max(EXIT_SCRIPT)
                }
            }
        }
    };
    Ok(ExitCode::from(code))
}

fn temp_beside(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    dir.join(format!(".{name}.{}.tmp", std::process::id()))
}

struct Session<'s, R: BufRead> {
    inputs: Vec<Input>,
    defines: Vec<(String, cardgate::script::ast::Template)>,
    stdin: &'s mut R,
    first_stdin_line: Vec<u8>,
    format: Format,
}

impl<R: BufRead> Session<'_, R> {
    fn drive(self, transport: Box<dyn Transport>, out: &mut dyn Output, opts: Options) -> u8 {
        self.drive_generic(transport, out, opts).0
    }

    fn drive_generic<T: Transport>(self, transport: T, out: &mut dyn Output, opts: Options) -> (u8, T) {
        let mut stderr = io::stderr();
        let mut engine = Engine::new(transport, out, &mut stderr, opts);
        if engine.start().is_err() {
            return engine.finish();
        }
        for (name, template) in &self.defines {
            match engine.vars_mut().build(template) {
                Ok(bytes) => engine.vars_mut().set(name, bytes),
                Err(e) => {
                    engine.script_error(&e);
                    return engine.finish();
                }
            }
        }
        let Session { inputs, stdin, first_stdin_line, format, .. } = self;
        for input in inputs {
            let result = match input {
                Input::Parsed(stmt, _, path) => {
                    if format == Format::Scriptor {
                        eprintln!("Using given file: {}", path.display());
                    }
                    engine.run(std::slice::from_ref(stmt.as_ref()))
                }
                Input::Stdin => {
                    if format == Format::Scriptor {
                        eprintln!("Reading commands from STDIN");
                    }
                    run_stdin(&mut engine, stdin, first_stdin_line.clone())
                }
            };
            if result.is_err() {
                break;
            }
        }
        engine.finish()
    }
}

/// Runs standard input line by line, each statement as soon as it is complete.
fn run_stdin<T: Transport, R: BufRead>(
    engine: &mut Engine<'_, T>,
    stdin: &mut R,
    first: Vec<u8>,
) -> Result<(), cardgate::script::Stop> {
    let cwd = std::env::current_dir().unwrap_or_default();
    let mut parser = Parser::new("-", &cwd, false);
    let mut line = first;
    let mut first_line = true;
    loop {
        if !first_line {
            line.clear();
            match stdin.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    let err = ScriptError::new(
                        cardgate::script::Span::line(&"-".into(), 0),
                        format!("reading: {e}"),
                    );
                    return Err(engine.script_error(&err));
                }
            }
        } else if line.is_empty() {
            break;
        }
        let stmts = parser.push_line(&line).map_err(|e| engine.script_error(&e))?;
        if first_line {
            if let Some(d) = parser.dialect() {
                engine.set_dialect(d);
            }
            first_line = false;
        }
        engine.run(&stmts)?;
        if parser.done() {
            break;
        }
    }
    let (rest, _, _) = parser.finish().map_err(|e| engine.script_error(&e))?;
    engine.run(&rest)
}
