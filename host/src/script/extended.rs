//! The extended dialect, one logical line at a time (the grammar is in `docs/scripts.md`).
//!
//! ```text
//! line      := apdu-line | directive | comment | blank
//! apdu-line := bytes [ "=>" expect ] [ "->" capture { "," capture } ]
//! bytes     := { HEX | "string" | $var | ${var[a:b]} | "{" bytes "}" }
//! expect    := [ data-pattern ] SW { "|" SW }          SW: 4 nibbles, x/X/? wildcards
//! capture   := $name [ "=" ( data | data[a:b] | sw | sw1 | sw2 | resp | tlv PATH ) ]
//! ```

use std::sync::Arc;

use applet::tlv::Tag;
use reader_bridge::ResetKind;

use super::ast::{
    Capture, EchoPart, Expect, Item, PatItem, Setting, Source, Stmt, StmtKind, SwPattern, Template,
};
use super::lexer::{Tok, Token, is_name, parse_slice, tokenize};
use super::source::{Logical, ScriptError, Span};

/// What one logical line of the extended dialect says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// Nothing: blank or comment.
    Nothing,
    /// A complete statement.
    Stmt(Stmt),
    /// `repeat N [$var]`: a block opens.
    Repeat {
        /// How many rounds.
        count: u32,
        /// The round counter's name.
        var: Option<String>,
        /// Where.
        span: Span,
    },
    /// `end`: the innermost block closes.
    End(Span),
    /// `include PATH`.
    Include(String, Span),
}

/// The directive keywords (first word of a line, any case).
pub const KEYWORDS: &[&str] = &[
    "reset",
    "exit",
    "echo",
    "let",
    "select",
    "expect",
    "getresponse",
    "fixle",
    "tlv",
    "timing",
    "repeat",
    "end",
    "include",
];

struct Cursor<'a> {
    line: &'a Logical,
    toks: &'a [Token],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<&'a Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }
    fn next(&mut self) -> Option<&'a Token> {
        let t = self.toks.get(self.pos);
        self.pos += 1;
        t
    }
    /// Span of the current token, or of the end of the line.
    fn span(&self) -> Span {
        match self.toks.get(self.pos) {
            Some(t) => self.line.span_at(t.start),
            None => self.line.span_at(self.line.text.trim_end().len()),
        }
    }
    fn span_of(&self, t: &Token) -> Span {
        self.line.span_at(t.start)
    }
    fn err(&self, msg: impl Into<String>) -> ScriptError {
        ScriptError::new(self.span(), msg)
    }
    fn text(&self, from: usize, to: usize) -> String {
        let start = self.toks.get(from).map_or(self.line.text.len(), |t| t.start);
        let end = if to == 0 { start } else { self.toks.get(to - 1).map_or(start, |t| t.end) };
        self.line.text.get(start..end).unwrap_or("").to_string()
    }
}

/// Decodes a hex word: `00A4`, `00:A4`, `0x00A4`. Errors name what is wrong.
pub fn hex_word(word: &str) -> Result<Vec<u8>, String> {
    let body = word.strip_prefix("0x").or_else(|| word.strip_prefix("0X")).unwrap_or(word);
    let digits: String = body.chars().filter(|&c| c != ':').collect();
    if let Some(bad) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!("{word:?} is not hex (unexpected {bad:?})"));
    }
    if digits.is_empty() {
        return Err(format!("{word:?} has no hex digits"));
    }
    if !digits.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits in {word:?} (each byte needs two)"));
    }
    Ok((0..digits.len()).step_by(2).filter_map(|i| u8::from_str_radix(&digits[i..i + 2], 16).ok()).collect())
}

/// Parses a status-word pattern: four nibbles, each hex or `x`/`X`/`?`.
pub fn sw_pattern(word: &str) -> Option<SwPattern> {
    if word.chars().count() != 4 {
        return None;
    }
    let (mut value, mut mask) = (0u16, 0u16);
    for c in word.chars() {
        value <<= 4;
        mask <<= 4;
        match c {
            'x' | 'X' | '?' => {}
            c => {
                value |= c.to_digit(16)? as u16;
                mask |= 0xF;
            }
        }
    }
    Some(SwPattern { value, mask })
}

/// Byte template items until `=>`, `->`, `}` or the end of the line.
fn items(c: &mut Cursor, nested: bool) -> Result<Vec<Item>, ScriptError> {
    let mut out = Vec::new();
    while let Some(tok) = c.peek() {
        match tok {
            Tok::FatArrow | Tok::Arrow if !nested => break,
            Tok::RBrace if nested => break,
            Tok::Word(w) => {
                let bytes = hex_word(w).map_err(|m| c.err(m))?;
                out.push(Item::Hex(bytes));
                c.pos += 1;
            }
            Tok::Str(s) => {
                out.push(Item::Text(s.clone()));
                c.pos += 1;
            }
            Tok::Var(v) => {
                out.push(Item::Var(v.clone()));
                c.pos += 1;
            }
            Tok::LBrace => {
                let span = c.span();
                c.pos += 1;
                let inner = items(c, true)?;
                match c.next() {
                    Some(Token { tok: Tok::RBrace, .. }) => out.push(Item::Data(inner, span)),
                    _ => return Err(ScriptError::new(span, "{ not closed (missing })")),
                }
            }
            other => return Err(c.err(format!("unexpected {} in command bytes", describe(other)))),
        }
    }
    Ok(out)
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Word(w) => format!("{w:?}"),
        Tok::Str(_) => "string".into(),
        Tok::Var(v) => format!("${}", v.name),
        Tok::LBrace => "{".into(),
        Tok::RBrace => "}".into(),
        Tok::LBrack => "[".into(),
        Tok::RBrack => "]".into(),
        Tok::Pipe => "|".into(),
        Tok::Comma => ",".into(),
        Tok::Eq => "=".into(),
        Tok::FatArrow => "=>".into(),
        Tok::Arrow => "->".into(),
    }
}

/// A data-pattern word: pairs of hex digits or `..`/`??`, and `*` anywhere.
fn pattern_word(word: &str) -> Result<Vec<PatItem>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = word.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '*' {
            out.push(PatItem::Rest);
            i += 1;
            continue;
        }
        if chars[i] == ':' {
            i += 1;
            continue;
        }
        let Some(&second) = chars.get(i + 1) else {
            return Err(format!("odd number of digits in pattern {word:?}"));
        };
        let pair: String = [chars[i], second].iter().collect();
        match pair.as_str() {
            ".." | "??" => out.push(PatItem::Any),
            _ => out.push(PatItem::Byte(
                u8::from_str_radix(&pair, 16)
                    .map_err(|_| format!("{pair:?} in {word:?} is neither a hex byte nor .. (any byte)"))?,
            )),
        }
        i += 2;
    }
    Ok(out)
}

fn pattern_items(c: &mut Cursor, end: usize) -> Result<Vec<PatItem>, ScriptError> {
    let mut out = Vec::new();
    while c.pos < end {
        let Some(t) = c.next() else { break };
        match &t.tok {
            Tok::Word(w) => out.extend(pattern_word(w).map_err(|m| ScriptError::new(c.span_of(t), m))?),
            Tok::Str(s) => out.push(PatItem::Bytes(s.clone())),
            Tok::Var(v) => out.push(PatItem::Var(v.clone())),
            other => {
                return Err(ScriptError::new(
                    c.span_of(t),
                    format!("unexpected {} in a data pattern", describe(other)),
                ));
            }
        }
    }
    Ok(out)
}

/// Parses an expectation from the cursor up to `->` or the end.
fn expect(c: &mut Cursor) -> Result<Expect, ScriptError> {
    let first = c.pos;
    let span = c.span();
    let mut end = first;
    while end < c.toks.len() && c.toks[end].tok != Tok::Arrow {
        end += 1;
    }
    if end == first {
        return Err(c.err("=> needs a status word to expect, such as 9000 or 61xx"));
    }
    // The status words: the last word, and words before it joined by `|`.
    let mut sw = Vec::new();
    let mut k = end;
    loop {
        let t = &c.toks[k - 1];
        let Tok::Word(w) = &t.tok else {
            return Err(ScriptError::new(
                c.span_of(t),
                "an expectation ends with a status word pattern such as 9000, 61xx or 6A8?",
            ));
        };
        let p = sw_pattern(w).ok_or_else(|| {
            ScriptError::new(
                c.span_of(t),
                format!("{w:?} is not a status word pattern (four hex digits, x for any nibble)"),
            )
        })?;
        sw.push(p);
        k -= 1;
        if k >= first + 2 && c.toks[k - 1].tok == Tok::Pipe {
            k -= 1;
            continue;
        }
        break;
    }
    sw.reverse();
    let data = if k == first {
        None
    } else if c.toks[first].tok == Tok::LBrack {
        if c.toks[k - 1].tok != Tok::RBrack {
            return Err(ScriptError::new(c.span_of(&c.toks[first]), "[ not closed before the status word"));
        }
        c.pos = first + 1;
        Some(pattern_items(c, k - 1)?)
    } else {
        c.pos = first;
        Some(pattern_items(c, k)?)
    };
    let text = c.text(first, end);
    c.pos = end;
    Ok(Expect { data, sw, text, span })
}

/// A TLV path: tags separated by `/`, such as `6F/A5/50`.
fn tlv_path(text: &str) -> Result<Vec<Tag>, String> {
    let path: Result<Vec<Tag>, String> = text
        .split('/')
        .map(|t| Tag::from_hex(t).map_err(|_| format!("{t:?} is not a BER-TLV tag (such as 6F or 9F36)")))
        .collect();
    let path = path?;
    if path.is_empty() {
        return Err("empty TLV path".into());
    }
    Ok(path)
}

/// Parses captures after `->`.
fn captures(c: &mut Cursor) -> Result<Vec<Capture>, ScriptError> {
    let mut out = Vec::new();
    loop {
        let span = c.span();
        let name = match c.next().map(|t| &t.tok) {
            Some(Tok::Var(v)) if v.slice.is_none() => v.name.clone(),
            _ => return Err(ScriptError::new(span, "-> must be followed by a variable ($name)")),
        };
        let mut source = Source::Data;
        if c.peek() == Some(&Tok::Eq) {
            c.pos += 1;
            let at = c.span();
            let word = match c.next().map(|t| &t.tok) {
                Some(Tok::Word(w)) => w.clone(),
                _ => {
                    return Err(ScriptError::new(
                        at,
                        "after = write data, data[a:b], sw, sw1, sw2, resp or tlv PATH",
                    ));
                }
            };
            let lower = word.to_ascii_lowercase();
            source = match lower.as_str() {
                "data" if c.peek() == Some(&Tok::LBrack) => {
                    c.pos += 1;
                    let inside = match c.next().map(|t| &t.tok) {
                        Some(Tok::Word(w)) => w.clone(),
                        _ => return Err(c.err("expected a byte range such as 2:10")),
                    };
                    if c.next().map(|t| &t.tok) != Some(&Tok::RBrack) {
                        return Err(c.err("range not closed (missing ])"));
                    }
                    Source::DataSlice(parse_slice(&inside).ok_or_else(|| {
                        ScriptError::new(
                            at.clone(),
                            format!("bad range [{inside}]: write [a:b], [a:], [:b] or [a]"),
                        )
                    })?)
                }
                "data" => Source::Data,
                "sw" => Source::Sw,
                "sw1" => Source::Sw1,
                "sw2" => Source::Sw2,
                "resp" => Source::Resp,
                "tlv" => {
                    let at = c.span();
                    let path = match c.next().map(|t| &t.tok) {
                        Some(Tok::Word(w)) => w.clone(),
                        _ => return Err(ScriptError::new(at, "tlv needs a path of tags, such as tlv 6F/84")),
                    };
                    Source::Tlv(tlv_path(&path).map_err(|m| ScriptError::new(at, m))?)
                }
                _ if lower.starts_with("tlv(") && lower.ends_with(')') => Source::Tlv(
                    tlv_path(&word[4..word.len() - 1]).map_err(|m| ScriptError::new(at.clone(), m))?,
                ),
                _ => {
                    return Err(ScriptError::new(
                        at,
                        format!("{word:?}: capture data, data[a:b], sw, sw1, sw2, resp or tlv PATH"),
                    ));
                }
            };
        }
        out.push(Capture { name, source, span });
        match c.peek() {
            None => return Ok(out),
            Some(Tok::Comma) => c.pos += 1,
            Some(other) => return Err(c.err(format!("unexpected {} after a capture", describe(other)))),
        }
    }
}

/// `bytes [=> expect] [-> captures]` from the cursor to the end of the line.
fn apdu_rest(c: &mut Cursor, prefix: Vec<Item>, suffix: Vec<Item>, span: Span) -> Result<Stmt, ScriptError> {
    let mut all = prefix;
    let body = items(c, false)?;
    if body.is_empty() && all.is_empty() {
        return Err(c.err("expected command bytes"));
    }
    all.extend(body);
    all.extend(suffix);
    let mut exp = None;
    if c.peek() == Some(&Tok::FatArrow) {
        c.pos += 1;
        exp = Some(expect(c)?);
    }
    let mut caps = Vec::new();
    if c.peek() == Some(&Tok::Arrow) {
        c.pos += 1;
        caps = captures(c)?;
    }
    if let Some(t) = c.peek() {
        return Err(c.err(format!("unexpected {}", describe(t))));
    }
    let command = Template { items: all, span: span.clone() };
    Ok(Stmt { kind: StmtKind::Apdu { command, shown: None, expect: exp, captures: caps }, span })
}

fn on_off(c: &mut Cursor, what: &str) -> Result<bool, ScriptError> {
    let value = match c.next().map(|t| &t.tok) {
        Some(Tok::Word(w)) => match w.to_ascii_lowercase().as_str() {
            "on" | "auto" => true,
            "off" => false,
            _ => return Err(c.err(format!("{what} takes on or off"))),
        },
        _ => return Err(c.err(format!("{what} takes on or off"))),
    };
    end_of_line(c)?;
    Ok(value)
}

fn end_of_line(c: &Cursor) -> Result<(), ScriptError> {
    match c.peek() {
        None => Ok(()),
        Some(t) => Err(c.err(format!("unexpected {} at the end of the line", describe(t)))),
    }
}

/// The text of `echo`: one quoted string, printed as it is; or the rest of the line up to a comment,
/// with `$name` and `${...}` replaced by the variable's value in hex.
fn echo_parts(line: &Logical, from: usize) -> Result<Vec<EchoPart>, ScriptError> {
    let text = &line.text;
    let rest = text[from..].trim_start();
    let from = text.len() - rest.len();
    if rest.starts_with('"') {
        let (bytes, end) = super::lexer::string(line, from)?;
        let after = text[end..].trim();
        if !after.is_empty() && !after.starts_with('#') {
            return Err(ScriptError::new(line.span_at(end), "unexpected text after the quoted echo text"));
        }
        return Ok(vec![EchoPart::Text(String::from_utf8_lossy(&bytes).into_owned())]);
    }
    // A `#` at the start or after whitespace starts a comment.
    let b = rest.as_bytes();
    let end = (0..b.len())
        .find(|&i| b[i] == b'#' && (i == 0 || b[i - 1] == b' ' || b[i - 1] == b'\t'))
        .unwrap_or(b.len());
    let body = rest[..end].trim_end();
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut i = 0;
    while i < body.len() {
        let tail = &body[i..];
        let is_var = tail.starts_with("${")
            || (tail.starts_with('$')
                && tail[1..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'));
        if is_var {
            let (var, next) = super::lexer::variable(line, from + i)?;
            if !literal.is_empty() {
                parts.push(EchoPart::Text(std::mem::take(&mut literal)));
            }
            parts.push(EchoPart::Var(var));
            i = next - from;
        } else {
            let ch = tail.chars().next().unwrap_or(' ');
            literal.push(ch);
            i += ch.len_utf8();
        }
    }
    if !literal.is_empty() {
        parts.push(EchoPart::Text(literal));
    }
    Ok(parts)
}

/// Parses one logical line of the extended dialect.
pub fn parse_line(line: &Logical) -> Result<Line, ScriptError> {
    let toks = tokenize(line)?;
    let mut c = Cursor { line, toks: &toks, pos: 0 };
    let Some(first) = toks.first() else { return Ok(Line::Nothing) };
    let span = line.span_at(first.start);
    let keyword = match &first.tok {
        Tok::Word(w) => w.to_ascii_lowercase(),
        _ => String::new(),
    };
    if !KEYWORDS.contains(&keyword.as_str()) {
        return apdu_rest(&mut c, Vec::new(), Vec::new(), span).map(Line::Stmt);
    }
    c.pos = 1;
    let stmt = |kind| Ok(Line::Stmt(Stmt { kind, span: span.clone() }));
    match keyword.as_str() {
        "reset" => {
            let kind = match c.next().map(|t| &t.tok) {
                None => ResetKind::Warm,
                Some(Tok::Word(w)) if w.eq_ignore_ascii_case("warm") => ResetKind::Warm,
                Some(Tok::Word(w)) if w.eq_ignore_ascii_case("cold") => ResetKind::Cold,
                _ => return Err(ScriptError::new(span, "reset takes cold or warm (default warm)")),
            };
            end_of_line(&c)?;
            stmt(StmtKind::Reset(kind))
        }
        "exit" => {
            end_of_line(&c)?;
            stmt(StmtKind::Exit)
        }
        "echo" => stmt(StmtKind::Echo(echo_parts(line, first.end)?)),
        "let" => {
            let name = match c.next().map(|t| &t.tok) {
                Some(Tok::Var(v)) if v.slice.is_none() => v.name.clone(),
                Some(Tok::Word(w)) if is_name(w) => w.clone(),
                _ => return Err(c.err("let needs a variable name: let name = bytes")),
            };
            if c.next().map(|t| &t.tok) != Some(&Tok::Eq) {
                return Err(c.err("let needs = after the name: let name = bytes"));
            }
            let at = c.span();
            let value = items(&mut c, false)?;
            end_of_line(&c)?;
            stmt(StmtKind::Let { name, value: Template { items: value, span: at } })
        }
        "select" => {
            // ISO 7816-4 §11.2.2: SELECT by DF name (P1=04), first or only occurrence (P2=00), Le=00.
            let at = c.span();
            if matches!(c.peek(), None | Some(Tok::FatArrow) | Some(Tok::Arrow)) {
                return Err(c.err("select needs an AID, such as select A0000000031010"));
            }
            let aid = items(&mut c, false)?;
            let header = vec![Item::Hex(vec![0x00, 0xA4, 0x04, 0x00]), Item::Data(aid, at)];
            apdu_rest(&mut c, header, vec![Item::Hex(vec![0x00])], span).map(Line::Stmt)
        }
        "expect" => {
            let e = expect(&mut c)?;
            end_of_line(&c)?;
            stmt(StmtKind::Expect(e))
        }
        "getresponse" => stmt(StmtKind::Set(Setting::GetResponse(on_off(&mut c, "getresponse")?))),
        "fixle" => stmt(StmtKind::Set(Setting::FixLe(on_off(&mut c, "fixle")?))),
        "tlv" => stmt(StmtKind::Set(Setting::Tlv(on_off(&mut c, "tlv")?))),
        "timing" => stmt(StmtKind::Set(Setting::Timing(on_off(&mut c, "timing")?))),
        "repeat" => {
            let count = match c.next().map(|t| &t.tok) {
                Some(Tok::Word(w)) => w.parse::<u32>().ok(),
                _ => None,
            }
            .ok_or_else(|| ScriptError::new(span.clone(), "repeat needs a count: repeat N [$var]"))?;
            let var = match c.next().map(|t| &t.tok) {
                None => None,
                Some(Tok::Var(v)) if v.slice.is_none() => Some(v.name.clone()),
                _ => return Err(c.err("after repeat N, only a counter variable ($name) may follow")),
            };
            end_of_line(&c)?;
            Ok(Line::Repeat { count, var, span })
        }
        "end" => {
            end_of_line(&c)?;
            Ok(Line::End(span))
        }
        "include" => {
            let path = match c.next().map(|t| &t.tok) {
                Some(Tok::Word(w)) => w.clone(),
                Some(Tok::Str(s)) => String::from_utf8_lossy(s).into_owned(),
                _ => return Err(ScriptError::new(span, "include needs a file name")),
            };
            end_of_line(&c)?;
            Ok(Line::Include(path, span))
        }
        _ => Err(ScriptError::new(span, format!("unknown directive {keyword}"))),
    }
}

/// Parses a value given on the command line (`-D name=value`): hex, a quoted string, or both.
pub fn parse_value(text: &str) -> Result<Template, ScriptError> {
    let file: Arc<str> = "-D".into();
    let mut line = Logical::new(file);
    line.push(text, 1, 1);
    let toks = tokenize(&line)?;
    let mut c = Cursor { line: &line, toks: &toks, pos: 0 };
    let value = items(&mut c, false)?;
    end_of_line(&c)?;
    Ok(Template { items: value, span: line.start() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Line, ScriptError> {
        let mut l = Logical::new("t.cg".into());
        l.push(s, 1, 1);
        parse_line(&l)
    }

    fn apdu(s: &str) -> (Template, Option<Expect>, Vec<Capture>) {
        match parse(s).unwrap() {
            Line::Stmt(Stmt { kind: StmtKind::Apdu { command, expect, captures, .. }, .. }) => {
                (command, expect, captures)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hex_words_in_any_grouping() {
        let (t, _, _) = apdu("00A40400 07 A0:00:00:00:03:10:10 0x00");
        assert_eq!(
            t.items,
            [
                Item::Hex(vec![0, 0xA4, 4, 0]),
                Item::Hex(vec![7]),
                Item::Hex(vec![0xA0, 0, 0, 0, 3, 0x10, 0x10]),
                Item::Hex(vec![0])
            ]
        );
        assert_eq!(hex_word("ABC").unwrap_err(), "odd number of hex digits in \"ABC\" (each byte needs two)");
        assert_eq!(parse("00 A4 04 0").unwrap_err().span.col, 10);
    }

    #[test]
    fn expectations_split_data_pattern_and_status_words() {
        let (_, e, _) = apdu("00B2010C00 => 70 .. 5A * 9000 | 6A83");
        let e = e.unwrap();
        assert_eq!(e.text, "70 .. 5A * 9000 | 6A83");
        assert_eq!(e.data, Some(vec![PatItem::Byte(0x70), PatItem::Any, PatItem::Byte(0x5A), PatItem::Rest]));
        assert_eq!(e.sw.len(), 2);
        assert!(e.sw[0].matches(0x9000) && e.sw[1].matches(0x6A83) && !e.sw[1].matches(0x6A82));
        let (_, e, _) = apdu("00C0000000 => [] 61xx");
        let e = e.unwrap();
        assert_eq!(e.data, Some(vec![]));
        assert!(e.sw[0].matches(0x6110) && !e.sw[0].matches(0x6210));
        let (_, e, _) = apdu("00 => 63C?");
        assert!(e.unwrap().sw[0].matches(0x63C2));
        assert!(parse("00 => 90000").unwrap_err().message.contains("not a status word pattern"));
        assert!(parse("00 =>").unwrap_err().message.contains("needs a status word"));
    }

    #[test]
    fn captures_by_kind() {
        let (_, _, caps) = apdu("00 -> $a, $b = sw, $c = data[2:], $d = tlv 6F/84, $e = tlv(A5)");
        let sources: Vec<Source> = caps.into_iter().map(|c| c.source).collect();
        assert_eq!(sources[0], Source::Data);
        assert_eq!(sources[1], Source::Sw);
        assert!(matches!(sources[2], Source::DataSlice(_)));
        assert_eq!(sources[3], Source::Tlv(vec![Tag(0x6F), Tag(0x84)]));
        assert_eq!(sources[4], Source::Tlv(vec![Tag(0xA5)]));
        assert!(parse("00 -> $a = tlv 9F").unwrap_err().message.contains("not a BER-TLV tag"));
    }

    #[test]
    fn select_builds_the_iso_command() {
        let (t, e, _) = apdu("SELECT A0000000031010 => 9000");
        assert_eq!(t.items[0], Item::Hex(vec![0, 0xA4, 4, 0]));
        assert!(matches!(&t.items[1], Item::Data(inner, _) if inner.len() == 1));
        assert_eq!(t.items[2], Item::Hex(vec![0]));
        assert!(e.is_some());
    }

    #[test]
    fn directives() {
        assert!(matches!(
            parse("reset cold"),
            Ok(Line::Stmt(Stmt { kind: StmtKind::Reset(ResetKind::Cold), .. }))
        ));
        assert!(matches!(
            parse("Reset"),
            Ok(Line::Stmt(Stmt { kind: StmtKind::Reset(ResetKind::Warm), .. }))
        ));
        assert!(matches!(parse("repeat 3 $i"), Ok(Line::Repeat { count: 3, var: Some(_), .. })));
        assert!(matches!(
            parse("getresponse off"),
            Ok(Line::Stmt(Stmt { kind: StmtKind::Set(Setting::GetResponse(false)), .. }))
        ));
        assert!(matches!(parse("include \"a b.cg\""), Ok(Line::Include(p, _)) if p == "a b.cg"));
        assert!(parse("reset now").is_err());
        assert!(parse("   # only a comment").unwrap() == Line::Nothing);
        let Line::Stmt(Stmt { kind: StmtKind::Echo(parts), .. }) =
            parse("echo ATC is ${atc} # note").unwrap()
        else {
            panic!()
        };
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], EchoPart::Text("ATC is ".into()));
        assert!(matches!(&parts[1], EchoPart::Var(v) if v.name == "atc" && v.span.col == 13));
        let Line::Stmt(Stmt { kind: StmtKind::Echo(parts), .. }) =
            parse(r#"echo "costs $5 # not a comment""#).unwrap()
        else {
            panic!()
        };
        assert_eq!(parts, [EchoPart::Text("costs $5 # not a comment".into())]);
    }

    #[test]
    fn values_from_the_command_line() {
        let t = parse_value("\"PIN\" 3132").unwrap();
        assert_eq!(t.items, [Item::Text(b"PIN".to_vec()), Item::Hex(vec![0x31, 0x32])]);
        assert_eq!(parse_value("12 3").unwrap_err().span.to_string(), "-D:1:4");
    }
}
