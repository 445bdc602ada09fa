//! The scriptor dialect: pcsc-tools' `scriptor` read loop, step for step, quirks included.
//!
//! Per input line, in this order (scriptor 1.6/1.7, the `while (<IN_FILEHANDLE>)` loop):
//! 1. in file mode the raw line is printed (comments and blank lines too);
//! 2. a line containing `exit` anywhere, in any case, ends the script, even inside a comment;
//! 3. a blank line is skipped; 4. a line starting with `#` in column 1 is skipped;
//! 5. a line containing `reset` anywhere, in any case, resets the card (PC/SC `SCARD_RESET_CARD`,
//!    a warm reset);
//! 6. the newline is removed (a CR stays); a line without a space is split into pairs (`00A4` →
//!    `00 A4 `);
//! 7. a trailing `\` continues the command on the next line (trailing spaces become one);
//! 8. the command is split on single spaces and every piece must be two hex digits.
//!
//! Where step 8 fails, scriptor dies. cardgate instead reads the same lines as an extended-dialect
//! command line (bytes, `=>` expectation, `->` captures, `#` comments); this changes nothing for a
//! script scriptor runs, and `cardgate lint` reports every such line.

use std::sync::Arc;

use reader_bridge::ResetKind;

use super::ast::{Stmt, StmtKind, Template};
use super::extended::{self, Line};
use super::source::{Logical, ScriptError, Span};

/// How scriptor reads one physical line on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class {
    /// Contains `exit`: the script ends here.
    Exit,
    /// Only whitespace.
    Blank,
    /// `#` in column 1.
    Comment,
    /// Contains `reset`: the card is reset.
    Reset,
    /// Ends with `\`: this piece of command text, and the command goes on.
    Continue(Vec<u8>),
    /// The last (or only) piece of command text.
    Command(Vec<u8>),
}

fn contains_ci(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
}

/// Perl's `\s` on bytes: space, tab, LF, VT, FF, CR.
fn is_perl_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}

/// Classifies a raw line (with its newline, if it had one) as scriptor does.
pub fn classify(raw: &[u8]) -> Class {
    if contains_ci(raw, b"exit") {
        return Class::Exit;
    }
    if raw.iter().all(|&b| is_perl_space(b)) {
        return Class::Blank;
    }
    if raw.first() == Some(&b'#') {
        return Class::Comment;
    }
    if contains_ci(raw, b"reset") {
        return Class::Reset;
    }
    // chomp: remove one trailing newline.
    let mut line = raw.strip_suffix(b"\n").unwrap_or(raw).to_vec();
    // s/(..)/$1 /g if (! m/ /): pairs of any two bytes, each followed by a space.
    if !line.contains(&b' ') {
        let mut split = Vec::with_capacity(line.len() * 3 / 2 + 1);
        let mut pairs = line.chunks_exact(2);
        for pair in pairs.by_ref() {
            split.extend_from_slice(pair);
            split.push(b' ');
        }
        split.extend_from_slice(pairs.remainder());
        line = split;
    }
    if line.last() == Some(&b'\\') {
        // chop; s/ *$/ /
        line.pop();
        while line.last() == Some(&b' ') {
            line.pop();
        }
        line.push(b' ');
        return Class::Continue(line);
    }
    Class::Command(line)
}

/// Chipcard::PCSC's `ascii_to_array`: split on single spaces (trailing empty pieces dropped, leading
/// ones kept), each piece exactly two hex digits. On failure, the piece scriptor rejects.
pub fn ascii_to_array(cmd: &[u8]) -> Result<Vec<u8>, String> {
    let mut pieces: Vec<&[u8]> = cmd.split(|&b| b == b' ').collect();
    while pieces.last().is_some_and(|p| p.is_empty()) {
        pieces.pop();
    }
    pieces
        .into_iter()
        .map(|p| {
            let s = std::str::from_utf8(p)
                .ok()
                .filter(|s| s.len() == 2 && s.bytes().all(|b| b.is_ascii_hexdigit()));
            s.and_then(|s| u8::from_str_radix(s, 16).ok())
                .ok_or_else(|| format!("wrong value ({})", String::from_utf8_lossy(p).escape_debug()))
        })
        .collect()
}

/// Something scriptor would do differently from what a reader of the script might expect, or from
/// what cardgate does. `cardgate lint` prints these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Where.
    pub span: Span,
    /// What, as a sentence.
    pub message: String,
}

/// Reads the scriptor dialect line by line.
#[derive(Debug)]
pub struct ScriptorReader {
    file: Arc<str>,
    echo: bool,
    cmd: Vec<u8>,
    /// The physical lines of the command being gathered: (line number, raw bytes).
    lines: Vec<(usize, Vec<u8>)>,
    done: bool,
    /// What lint reports.
    pub notes: Vec<Note>,
}

impl ScriptorReader {
    /// A reader for `file`; `echo` prints every line first, as scriptor does for a file (not stdin).
    pub fn new(file: Arc<str>, echo: bool) -> Self {
        Self { file, echo, cmd: Vec::new(), lines: Vec::new(), done: false, notes: Vec::new() }
    }

    /// Whether an `exit` line was read: scriptor reads no further.
    pub fn done(&self) -> bool {
        self.done
    }

    fn note(&mut self, line: usize, message: impl Into<String>) {
        self.notes.push(Note { span: Span::line(&self.file, line), message: message.into() });
    }

    /// Reads physical line `number` (raw bytes, with its newline if it had one).
    pub fn line(&mut self, number: usize, raw: &[u8], out: &mut Vec<Stmt>) -> Result<(), ScriptError> {
        if self.done {
            return Ok(());
        }
        let span = Span::line(&self.file, number);
        if self.echo {
            out.push(Stmt { kind: StmtKind::Line(raw.to_vec()), span: span.clone() });
        }
        let bare = String::from_utf8_lossy(raw).trim().to_ascii_lowercase();
        match classify(raw) {
            Class::Exit => {
                if bare != "exit" {
                    self.note(number, "scriptor ends the script here: the line contains \"exit\"");
                }
                if !self.lines.is_empty() {
                    self.note(number, "the command continued with \\ before this line is never sent");
                }
                self.done = true;
                out.push(Stmt { kind: StmtKind::Exit, span });
            }
            Class::Blank | Class::Comment => {}
            Class::Reset => {
                if bare != "reset" {
                    self.note(number, "scriptor resets the card here: the line contains \"reset\"");
                }
                out.push(Stmt { kind: StmtKind::Reset(ResetKind::Warm), span });
            }
            Class::Continue(piece) => {
                self.cmd.extend_from_slice(&piece);
                self.lines.push((number, raw.to_vec()));
            }
            Class::Command(piece) => {
                self.cmd.extend_from_slice(&piece);
                self.lines.push((number, raw.to_vec()));
                let cmd = std::mem::take(&mut self.cmd);
                let lines = std::mem::take(&mut self.lines);
                let first = Span::line(&self.file, lines[0].0);
                match ascii_to_array(&cmd) {
                    Ok(bytes) => out.push(Stmt {
                        kind: StmtKind::Apdu {
                            command: Template::bytes(bytes, first.clone()),
                            shown: Some(String::from_utf8_lossy(&cmd).into_owned()),
                            expect: None,
                            captures: Vec::new(),
                        },
                        span: first,
                    }),
                    Err(reason) => {
                        if let Some(stmt) = self.fallback(&lines, &reason)? {
                            out.push(stmt);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads lines scriptor rejects as one extended-dialect command line.
    fn fallback(&mut self, lines: &[(usize, Vec<u8>)], reason: &str) -> Result<Option<Stmt>, ScriptError> {
        let mut logical = Logical::new(self.file.clone());
        for (i, (number, raw)) in lines.iter().enumerate() {
            let text = String::from_utf8_lossy(raw);
            let mut text = text.trim_end_matches(['\n', '\r']).to_string();
            if i + 1 < lines.len() {
                text = text.trim_end().trim_end_matches('\\').to_string();
                text.push(' ');
            }
            logical.push(&text, *number, 1);
        }
        let number = lines.first().map_or(0, |l| l.0);
        let first = logical.text.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
        if extended::KEYWORDS.contains(&first.as_str()) {
            return Err(ScriptError::new(
                logical.start(),
                format!(
                    "{first} is a directive, and directives need the extended dialect: make the first line #!cardgate"
                ),
            ));
        }
        let parsed = extended::parse_line(&logical)?;
        match parsed {
            Line::Nothing => {
                self.note(
                    number,
                    format!("scriptor stops with an error here ({reason}); cardgate skips the line"),
                );
                Ok(None)
            }
            Line::Stmt(stmt @ Stmt { kind: StmtKind::Apdu { .. }, .. }) => {
                self.note(
                    number,
                    format!(
                        "scriptor stops with an error here ({reason}); cardgate reads the line as an \
                         extended-dialect command"
                    ),
                );
                Ok(Some(stmt))
            }
            _ => Err(ScriptError::new(
                logical.start(),
                "directives need the extended dialect: make the first line #!cardgate",
            )),
        }
    }

    /// Ends the input. A command still waiting for its continuation is dropped, as scriptor does.
    pub fn finish(&mut self) {
        if let Some(&(number, _)) = self.lines.first()
            && !self.done
        {
            self.note(number, "this command ends with \\ at the end of the file and is never sent");
        }
        self.lines.clear();
        self.cmd.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_follows_scriptor_order() {
        assert_eq!(classify(b"# this mentions exit codes\n"), Class::Exit);
        assert_eq!(classify(b"EXIT\n"), Class::Exit);
        assert_eq!(classify(b" \t\r\n"), Class::Blank);
        assert_eq!(classify(b"# reset in a comment\n"), Class::Comment);
        assert_eq!(classify(b"Reset the card please\n"), Class::Reset);
        assert_eq!(classify(b"00A4040000\n"), Class::Command(b"00 A4 04 00 00 ".to_vec()));
        assert_eq!(classify(b"00A40\n"), Class::Command(b"00 A4 0".to_vec()));
        assert_eq!(classify(b"00 A4   \\\n"), Class::Continue(b"00 A4 ".to_vec()));
        // Packed hex ending in `\`: the pairs swallow it when the count is odd, so no continuation.
        assert_eq!(classify(b"00A40\\\n"), Class::Command(b"00 A4 0\\ ".to_vec()));
        assert_eq!(classify(b"00A4\\\n"), Class::Continue(b"00 A4 ".to_vec()));
        // CRLF: the CR stays (chomp removes LF only), which breaks the last byte.
        assert_eq!(classify(b"00 A4\r\n"), Class::Command(b"00 A4\r".to_vec()));
    }

    #[test]
    fn ascii_to_array_is_strict() {
        assert_eq!(ascii_to_array(b"00 a4 "), Ok(vec![0x00, 0xA4]));
        assert_eq!(ascii_to_array(b"00  A4"), Err("wrong value ()".into()));
        assert_eq!(ascii_to_array(b" 00"), Err("wrong value ()".into()));
        assert_eq!(ascii_to_array(b"00\tA4"), Err("wrong value (00\\tA4)".into()));
        assert_eq!(ascii_to_array(b"00 A4\r"), Err("wrong value (A4\\r)".into()));
        assert_eq!(ascii_to_array(b""), Ok(vec![]));
    }

    fn read(text: &str, echo: bool) -> (Vec<Stmt>, Vec<Note>) {
        let mut r = ScriptorReader::new("s".into(), echo);
        let mut out = Vec::new();
        for (i, line) in text.split_inclusive('\n').enumerate() {
            r.line(i + 1, line.as_bytes(), &mut out).unwrap();
        }
        r.finish();
        (out, r.notes)
    }

    #[test]
    fn continuation_skips_comments_and_keeps_the_text_as_typed() {
        let (stmts, notes) = read("00 a4 04 00 \\\n# note\n02 3F 00\n", false);
        assert!(notes.is_empty());
        let [Stmt { kind: StmtKind::Apdu { command, shown, .. }, span }] = &stmts[..] else {
            panic!("{stmts:?}")
        };
        assert_eq!(shown.as_deref(), Some("00 a4 04 00 02 3F 00"));
        assert_eq!(command.items, [super::super::ast::Item::Hex(vec![0, 0xA4, 4, 0, 2, 0x3F, 0])]);
        assert_eq!(span.line, 1);
    }

    #[test]
    fn lines_scriptor_rejects_fall_back_to_the_extended_reading_with_a_note() {
        let (stmts, notes) = read("80 CA 9F 7F 00 # inline comment\n   # indented\n", false);
        assert_eq!(stmts.len(), 1);
        assert!(matches!(&stmts[0].kind, StmtKind::Apdu { shown: None, .. }));
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].message.contains("wrong value (#)"));
        let mut r = ScriptorReader::new("s".into(), false);
        let err = r.line(4, b"00 A4 04 0\n", &mut Vec::new()).unwrap_err();
        assert_eq!(err.span.to_string(), "s:4:10");
        let err = r.line(5, b"select A000\n", &mut Vec::new()).unwrap_err();
        assert!(err.message.contains("#!cardgate"));
    }

    #[test]
    fn exit_stops_reading_and_drops_a_pending_continuation() {
        let (stmts, notes) = read("# file\n00 A4 \\\n# exit soon\n00 B0\n", true);
        // Echo of lines 1-3, then Exit; line 4 is never read, so not echoed either.
        assert_eq!(stmts.len(), 4);
        assert!(matches!(stmts[3].kind, StmtKind::Exit));
        assert_eq!(notes.len(), 2);
        let (_, notes) = read("00 A4 \\\n", false);
        assert!(notes[0].message.contains("never sent"));
    }
}
