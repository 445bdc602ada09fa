//! Splits one logical line of the extended dialect into tokens, each with its byte offset.
//!
//! Whitespace (spaces, tabs, a trailing CR) separates tokens; `#` outside a string starts a comment
//! that runs to the end of the line. Words are runs of anything else up to whitespace or one of
//! `{ } [ ] | , " # $ =` or the arrow `->`.

use super::ast::{Slice, VarRef};
use super::source::{Logical, ScriptError};

/// A token's kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// Hex, a keyword, a pattern, a number: the parser decides.
    Word(String),
    /// A quoted string, escapes resolved, as bytes (UTF-8 for non-ASCII characters).
    Str(Vec<u8>),
    /// `$name`, `${name}`, `${name[a:b]}`.
    Var(VarRef),
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// `[`
    LBrack,
    /// `]`
    RBrack,
    /// `|`
    Pipe,
    /// `,`
    Comma,
    /// `=`
    Eq,
    /// `=>`: an expectation follows.
    FatArrow,
    /// `->`: captures follow.
    Arrow,
}

/// A token and where it starts and ends in the logical line (byte offsets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The kind.
    pub tok: Tok,
    /// Start offset.
    pub start: usize,
    /// End offset (exclusive).
    pub end: usize,
}

const BREAK: &[char] = &['{', '}', '[', ']', '|', ',', '"', '#', '$', '='];

/// Whether `name` is a valid variable name: a letter or `_`, then letters, digits, `_`.
pub fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses a slice's inside, `a:b`, `a:`, `:b` or `a`, with decimal (possibly negative) indices.
pub fn parse_slice(text: &str) -> Option<Slice> {
    let num = |s: &str| -> Option<Option<i64>> {
        let s = s.trim();
        if s.is_empty() { Some(None) } else { s.parse::<i64>().ok().map(Some) }
    };
    match text.split_once(':') {
        Some((a, b)) => Some(Slice { start: num(a)?, end: num(b)?, single: false }),
        None => {
            let a = num(text)??;
            Some(Slice { start: Some(a), end: None, single: true })
        }
    }
}

/// Tokenizes `line.text`. The comment, if any, is dropped.
pub fn tokenize(line: &Logical) -> Result<Vec<Token>, ScriptError> {
    let text = line.text.as_str();
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    let err = |at: usize, msg: String| ScriptError::new(line.span_at(at), msg);
    while i < bytes.len() {
        let c = bytes[i];
        if let Some(ch) = text[i..].chars().next().filter(|ch| ch.is_whitespace()) {
            i += ch.len_utf8();
            continue;
        }
        let start = i;
        let simple = match c {
            b'{' => Some(Tok::LBrace),
            b'}' => Some(Tok::RBrace),
            b'[' => Some(Tok::LBrack),
            b']' => Some(Tok::RBrack),
            b'|' => Some(Tok::Pipe),
            b',' => Some(Tok::Comma),
            _ => None,
        };
        if let Some(tok) = simple {
            i += 1;
            tokens.push(Token { tok, start, end: i });
            continue;
        }
        match c {
            b'#' => break,
            b'=' if bytes.get(i + 1) == Some(&b'>') => {
                i += 2;
                tokens.push(Token { tok: Tok::FatArrow, start, end: i });
            }
            b'=' => {
                i += 1;
                tokens.push(Token { tok: Tok::Eq, start, end: i });
            }
            b'-' if bytes.get(i + 1) == Some(&b'>') => {
                i += 2;
                tokens.push(Token { tok: Tok::Arrow, start, end: i });
            }
            b'"' => {
                let (value, next) = string(line, i)?;
                i = next;
                tokens.push(Token { tok: Tok::Str(value), start, end: i });
            }
            b'$' => {
                let (var, next) = variable(line, i)?;
                i = next;
                tokens.push(Token { tok: Tok::Var(var), start, end: i });
            }
            _ => {
                let rest = &text[i..];
                let mut len = rest.len();
                for (k, ch) in rest.char_indices() {
                    if ch.is_whitespace() || BREAK.contains(&ch) || rest[k..].starts_with("->") {
                        len = k;
                        break;
                    }
                }
                if len == 0 {
                    let ch = rest.chars().next().unwrap_or(' ');
                    return Err(err(i, format!("unexpected character {ch:?}")));
                }
                i += len;
                tokens.push(Token { tok: Tok::Word(rest[..len].to_string()), start, end: i });
            }
        }
    }
    Ok(tokens)
}

/// Reads a quoted string starting at `start` (the `"`); returns its bytes and the offset after it.
/// Escapes: `\"`, `\\`, `\n`, `\r`, `\t`, `\0`, `\xHH`.
pub fn string(line: &Logical, start: usize) -> Result<(Vec<u8>, usize), ScriptError> {
    let text = &line.text;
    let mut out = Vec::new();
    let mut chars = text[start + 1..].char_indices();
    while let Some((k, ch)) = chars.next() {
        let at = start + 1 + k;
        match ch {
            '"' => return Ok((out, at + 1)),
            '\\' => {
                let Some((_, e)) = chars.next() else { break };
                match e {
                    '"' => out.push(b'"'),
                    '\\' => out.push(b'\\'),
                    'n' => out.push(b'\n'),
                    'r' => out.push(b'\r'),
                    't' => out.push(b'\t'),
                    '0' => out.push(0),
                    'x' => {
                        let hex: String = chars.by_ref().take(2).map(|(_, c)| c).collect();
                        let b = u8::from_str_radix(&hex, 16)
                            .ok()
                            .filter(|_| hex.len() == 2)
                            .ok_or_else(|| ScriptError::new(line.span_at(at), "\\x needs two hex digits"))?;
                        out.push(b);
                    }
                    other => {
                        return Err(ScriptError::new(line.span_at(at), format!("unknown escape \\{other}")));
                    }
                }
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    Err(ScriptError::new(line.span_at(start), "string not closed (missing \")"))
}

/// Reads `$name` or `${name[slice]}` at `start`; returns it and the offset after it.
pub fn variable(line: &Logical, start: usize) -> Result<(VarRef, usize), ScriptError> {
    let text = &line.text;
    let span = line.span_at(start);
    let rest = &text[start + 1..];
    if let Some(inner) = rest.strip_prefix('{') {
        let close = inner
            .find('}')
            .ok_or_else(|| ScriptError::new(span.clone(), "variable reference not closed (missing })"))?;
        let body = &inner[..close];
        let (name, slice) = match body.split_once('[') {
            Some((name, tail)) => {
                let inside = tail.strip_suffix(']').ok_or_else(|| {
                    ScriptError::new(span.clone(), format!("bad range in ${{{body}}}: missing ]"))
                })?;
                let slice = parse_slice(inside).ok_or_else(|| {
                    ScriptError::new(
                        span.clone(),
                        format!("bad range [{inside}]: write [a:b], [a:], [:b] or [a] with byte indices"),
                    )
                })?;
                (name.trim(), Some(slice))
            }
            None => (body.trim(), None),
        };
        if !is_name(name) {
            return Err(ScriptError::new(span, format!("{name:?} is not a variable name")));
        }
        let end = start + 2 + close + 1;
        return Ok((VarRef { name: name.to_string(), slice, span }, end));
    }
    let len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
    let name = &rest[..len];
    if !is_name(name) {
        return Err(ScriptError::new(span, "$ must be followed by a variable name, or {name}"));
    }
    Ok((VarRef { name: name.to_string(), slice: None, span }, start + 1 + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        let mut l = Logical::new("t".into());
        l.push(s, 1, 1);
        tokenize(&l).unwrap().into_iter().map(|t| t.tok).collect()
    }

    fn word(s: &str) -> Tok {
        Tok::Word(s.into())
    }

    #[test]
    fn splits_words_operators_and_drops_comments() {
        assert_eq!(
            toks("00A4 {A000} => 6F * 9000|61xx -> $x = data[-2:] # c => ignored"),
            [
                word("00A4"),
                Tok::LBrace,
                word("A000"),
                Tok::RBrace,
                Tok::FatArrow,
                word("6F"),
                word("*"),
                word("9000"),
                Tok::Pipe,
                word("61xx"),
                Tok::Arrow,
                Tok::Var(VarRef {
                    name: "x".into(),
                    slice: None,
                    span: crate::script::source::Span { file: "t".into(), line: 1, col: 34 }
                }),
                Tok::Eq,
                word("data"),
                Tok::LBrack,
                word("-2:"),
                Tok::RBrack,
            ]
        );
    }

    #[test]
    fn strings_keep_hash_and_resolve_escapes() {
        assert_eq!(toks(r#""a#b\"\x41é""#), [Tok::Str(b"a#b\"A\xC3\xA9".to_vec())]);
    }

    #[test]
    fn variables_with_ranges() {
        let [Tok::Var(v)] = &toks("${fci[2:10]}")[..] else { panic!() };
        assert_eq!(v.name, "fci");
        assert_eq!(v.slice, Some(Slice { start: Some(2), end: Some(10), single: false }));
        let [Tok::Var(v), w] = &toks("$sw1,")[..2] else { panic!() };
        assert_eq!((v.name.as_str(), w), ("sw1", &Tok::Comma));
        assert_eq!(parse_slice("-1"), Some(Slice { start: Some(-1), end: None, single: true }));
        assert_eq!(parse_slice(":4"), Some(Slice { start: None, end: Some(4), single: false }));
        assert_eq!(parse_slice("x"), None);
    }

    #[test]
    fn errors_point_at_the_column() {
        let mut l = Logical::new("f.cg".into());
        l.push("00 A4 \"open", 7, 1);
        assert_eq!(tokenize(&l).unwrap_err().to_string(), "f.cg:7:7: string not closed (missing \")");
        let mut l = Logical::new("f.cg".into());
        l.push("00 $ 01", 2, 1);
        assert_eq!(tokenize(&l).unwrap_err().span.col, 4);
    }
}
