//! Reading a script: choosing the dialect from the first line, gathering continuation lines and
//! blocks, resolving `include`. Works line by line, so standard input runs as it is typed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::ast::{Dialect, Stmt, StmtKind};
use super::extended::{self, Line};
use super::scriptor::{Note, ScriptorReader};
use super::source::{Logical, ScriptError, Span};

/// How deep `include` may nest.
pub const MAX_INCLUDE_DEPTH: usize = 16;

/// Whether a first line opts into the extended dialect: `#!` followed by text containing `cardgate`
/// (`#!cardgate`, `#!/usr/bin/env -S cardgate run`). scriptor reads it as a comment.
pub fn is_extended_marker(first_line: &[u8]) -> bool {
    first_line.starts_with(b"#!") && first_line.windows(8).any(|w| w.eq_ignore_ascii_case(b"cardgate"))
}

#[derive(Debug)]
struct Block {
    count: u32,
    var: Option<String>,
    span: Span,
    body: Vec<Stmt>,
}

#[derive(Debug)]
enum State {
    /// No line read yet.
    Start,
    Scriptor(ScriptorReader),
    Extended {
        pending: Option<Logical>,
        blocks: Vec<Block>,
    },
}

/// A script being read, line by line.
#[derive(Debug)]
pub struct Parser {
    file: Arc<str>,
    dir: PathBuf,
    echo: bool,
    /// Canonical paths of the files that include this one, outermost first (for cycles).
    stack: Vec<PathBuf>,
    line: usize,
    state: State,
    notes: Vec<Note>,
}

/// A whole script: its dialect, statements, and lint notes.
#[derive(Debug, Clone)]
pub struct Script {
    /// The file as named.
    pub file: Arc<str>,
    /// The dialect its first line chose.
    pub dialect: Dialect,
    /// The statements.
    pub body: Vec<Stmt>,
    /// Where scriptor would read it differently (lint).
    pub notes: Vec<Note>,
}

impl Script {
    /// The script as one statement (what the engine runs).
    pub fn into_stmt(self) -> Stmt {
        Stmt {
            span: Span::line(&self.file, 1),
            kind: StmtKind::File { dialect: self.dialect, body: self.body },
        }
    }
}

impl Parser {
    /// A parser for the file named `file`; includes resolve against `dir`. `echo` prints each line
    /// of a scriptor-dialect file before acting on it, as scriptor does for files (not stdin).
    pub fn new(file: &str, dir: &Path, echo: bool) -> Self {
        Self {
            file: file.into(),
            dir: dir.to_path_buf(),
            echo,
            stack: Vec::new(),
            line: 0,
            state: State::Start,
            notes: Vec::new(),
        }
    }

    /// The dialect, once the first line was read.
    pub fn dialect(&self) -> Option<Dialect> {
        match self.state {
            State::Start => None,
            State::Scriptor(_) => Some(Dialect::Scriptor),
            State::Extended { .. } => Some(Dialect::Extended),
        }
    }

    /// Whether the script has ended (scriptor reads nothing after an `exit` line).
    pub fn done(&self) -> bool {
        matches!(&self.state, State::Scriptor(r) if r.done())
    }

    /// Reads one physical line (raw bytes, with its newline if it had one) and returns the statements
    /// it completes.
    pub fn push_line(&mut self, raw: &[u8]) -> Result<Vec<Stmt>, ScriptError> {
        self.line += 1;
        if matches!(self.state, State::Start) {
            self.state = if is_extended_marker(raw) {
                State::Extended { pending: None, blocks: Vec::new() }
            } else {
                State::Scriptor(ScriptorReader::new(self.file.clone(), self.echo))
            };
        }
        let mut out = Vec::new();
        let line = self.line;
        match &mut self.state {
            State::Start => {}
            State::Scriptor(reader) => reader.line(line, raw, &mut out)?,
            State::Extended { .. } => self.extended_line(raw, &mut out)?,
        }
        Ok(out)
    }

    fn extended_line(&mut self, raw: &[u8], out: &mut Vec<Stmt>) -> Result<(), ScriptError> {
        let text = String::from_utf8_lossy(raw);
        let text = text.trim_end_matches('\n').trim_end_matches('\r');
        let State::Extended { pending, .. } = &mut self.state else { return Ok(()) };
        let continues = text.trim_end().ends_with('\\');
        let logical = if continues || pending.is_some() {
            let piece = if continues { text.trim_end().trim_end_matches('\\') } else { text };
            let logical = pending.get_or_insert_with(|| Logical::new(self.file.clone()));
            logical.push(piece, self.line, 1);
            if continues {
                logical.push(" ", self.line, 1 + piece.chars().count());
                return Ok(());
            }
            pending.take().unwrap_or_else(|| Logical::new(self.file.clone()))
        } else {
            let mut logical = Logical::new(self.file.clone());
            logical.push(text, self.line, 1);
            logical
        };
        let parsed = extended::parse_line(&logical)?;
        let State::Extended { blocks, .. } = &mut self.state else { return Ok(()) };
        let stmt = match parsed {
            Line::Nothing => return Ok(()),
            Line::Stmt(stmt) => stmt,
            Line::Repeat { count, var, span } => {
                blocks.push(Block { count, var, span, body: Vec::new() });
                return Ok(());
            }
            Line::End(span) => {
                let block = blocks.pop().ok_or_else(|| ScriptError::new(span, "end without repeat"))?;
                Stmt {
                    kind: StmtKind::Repeat { count: block.count, var: block.var, body: block.body },
                    span: block.span,
                }
            }
            Line::Include(path, span) => self.include(&path, span)?,
        };
        let State::Extended { blocks, .. } = &mut self.state else { return Ok(()) };
        match blocks.last_mut() {
            Some(block) => block.body.push(stmt),
            None => out.push(stmt),
        }
        Ok(())
    }

    fn include(&mut self, path: &str, span: Span) -> Result<Stmt, ScriptError> {
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            return Err(ScriptError::new(
                span,
                format!("includes nest deeper than {MAX_INCLUDE_DEPTH} files"),
            ));
        }
        let full = self.dir.join(path);
        let canonical = full
            .canonicalize()
            .map_err(|e| ScriptError::new(span.clone(), format!("cannot include {}: {e}", full.display())))?;
        if self.stack.contains(&canonical) {
            return Err(ScriptError::new(span, format!("{} includes itself", full.display())));
        }
        let mut stack = self.stack.clone();
        stack.push(canonical);
        let name = full.to_string_lossy().into_owned();
        let script = read_file(&full, &name, stack, false)?;
        self.notes.extend(script.notes.iter().cloned());
        Ok(Stmt { kind: StmtKind::File { dialect: script.dialect, body: script.body }, span })
    }

    /// Ends the input; returns the statements it completes and the lint notes.
    pub fn finish(mut self) -> Result<(Vec<Stmt>, Vec<Note>, Dialect), ScriptError> {
        let dialect = self.dialect().unwrap_or(Dialect::Scriptor);
        match &mut self.state {
            State::Start => {}
            State::Scriptor(reader) => {
                reader.finish();
                self.notes.append(&mut reader.notes);
            }
            State::Extended { pending, blocks } => {
                if let Some(logical) = pending.take() {
                    return Err(ScriptError::new(
                        logical.start(),
                        "the last line ends with \\ but nothing follows",
                    ));
                }
                if let Some(block) = blocks.pop() {
                    return Err(ScriptError::new(block.span, "repeat without end"));
                }
            }
        }
        Ok((Vec::new(), self.notes, dialect))
    }

    fn with_stack(mut self, stack: Vec<PathBuf>) -> Self {
        self.stack = stack;
        self
    }
}

/// Splits text into physical lines, each with its newline.
pub fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split_inclusive(|&b| b == b'\n')
}

fn read_file(path: &Path, name: &str, stack: Vec<PathBuf>, echo: bool) -> Result<Script, ScriptError> {
    let bytes = std::fs::read(path).map_err(|e| {
        ScriptError::new(Span { file: name.into(), line: 0, col: 0 }, format!("cannot read: {e}"))
    })?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    parse_bytes(name, &dir, &bytes, echo, stack)
}

fn parse_bytes(
    name: &str,
    dir: &Path,
    bytes: &[u8],
    echo: bool,
    stack: Vec<PathBuf>,
) -> Result<Script, ScriptError> {
    let mut parser = Parser::new(name, dir, echo).with_stack(stack);
    let mut body = Vec::new();
    for line in lines(bytes) {
        body.extend(parser.push_line(line)?);
        if parser.done() {
            break;
        }
    }
    let file = parser.file.clone();
    let (rest, notes, dialect) = parser.finish()?;
    body.extend(rest);
    Ok(Script { file, dialect, body, notes })
}

/// Reads and parses the script at `path` (named `path` in messages). `echo`: see [`Parser::new`].
pub fn parse_file(path: &Path, echo: bool) -> Result<Script, ScriptError> {
    let name = path.to_string_lossy().into_owned();
    let stack = path.canonicalize().map(|p| vec![p]).unwrap_or_default();
    read_file(path, &name, stack, echo)
}

/// Parses script text named `name`; includes resolve against `dir`.
pub fn parse_str(name: &str, dir: &Path, text: &str, echo: bool) -> Result<Script, ScriptError> {
    parse_bytes(name, dir, text.as_bytes(), echo, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::ast::Setting;

    #[test]
    fn the_first_line_chooses_the_dialect() {
        assert!(is_extended_marker(b"#!cardgate\n"));
        assert!(is_extended_marker(b"#!/usr/bin/env -S cardgate run\n"));
        assert!(!is_extended_marker(b"# cardgate\n"));
        let s = parse_str("a", Path::new("."), "#!cardgate\ngetresponse off\n", false).unwrap();
        assert_eq!(s.dialect, Dialect::Extended);
        assert!(matches!(s.body[..], [Stmt { kind: StmtKind::Set(Setting::GetResponse(false)), .. }]));
        let s = parse_str("a", Path::new("."), "00A4040000\n", true).unwrap();
        assert_eq!(s.dialect, Dialect::Scriptor);
        assert_eq!(s.body.len(), 2, "echoed line + APDU");
    }

    #[test]
    fn blocks_and_continuations() {
        let text = "#!cardgate\nrepeat 2 $i\n  00 B2 \\\n   ${i} 0C 00 => 9000\nend\n";
        let s = parse_str("b.cg", Path::new("."), text, false).unwrap();
        let [Stmt { kind: StmtKind::Repeat { count: 2, body, .. }, span }] = &s.body[..] else {
            panic!("{s:?}")
        };
        assert_eq!(span.line, 2);
        assert_eq!(body.len(), 1);
        assert_eq!(body[0].span.to_string(), "b.cg:3:3");
        let err = parse_str("b.cg", Path::new("."), "#!cardgate\n00 B2 \\\n  zz\n", false).unwrap_err();
        assert_eq!(err.to_string(), "b.cg:3:3: \"zz\" is not hex (unexpected 'z')");
        let err = parse_str("b.cg", Path::new("."), "#!cardgate\nrepeat 2\n00\n", false).unwrap_err();
        assert_eq!(err.to_string(), "b.cg:2:1: repeat without end");
        let err = parse_str("b.cg", Path::new("."), "#!cardgate\nend\n", false).unwrap_err();
        assert_eq!(err.to_string(), "b.cg:2:1: end without repeat");
    }

    #[test]
    fn includes_resolve_relative_to_the_including_file_and_refuse_cycles() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("lib")).unwrap();
        std::fs::write(dir.path().join("main.cg"), "#!cardgate\ninclude lib/a.cg\n").unwrap();
        std::fs::write(dir.path().join("lib/a.cg"), "00A4040000\nReset here\n").unwrap();
        let s = parse_file(&dir.path().join("main.cg"), false).unwrap();
        let [Stmt { kind: StmtKind::File { dialect: Dialect::Scriptor, body }, .. }] = &s.body[..] else {
            panic!("{s:?}")
        };
        assert_eq!(body.len(), 2);
        assert_eq!(s.notes.len(), 1, "the included file's lint notes come along");
        assert!(body[1].span.file.ends_with("lib/a.cg"));

        std::fs::write(dir.path().join("loop.cg"), "#!cardgate\ninclude loop.cg\n").unwrap();
        let err = parse_file(&dir.path().join("loop.cg"), false).unwrap_err();
        assert!(err.message.contains("includes itself"), "{err}");
        std::fs::write(dir.path().join("missing.cg"), "#!cardgate\n\ninclude nope.cg\n").unwrap();
        let err = parse_file(&dir.path().join("missing.cg"), false).unwrap_err();
        assert_eq!(err.span.line, 3);
        assert!(err.message.contains("cannot include"));
    }
}
