//! `script`: the script parser of `cardgate run` and `cardgate lint` ([`cardgate::script`]).

use std::path::Path;

use cardgate::script::{lint, parse};

/// Any bytes as a script (as UTF-8, invalid sequences replaced), in either dialect; includes
/// resolve against a directory that does not exist. Never a panic or a hang; a script parses the
/// same whether it is given whole or line by line ([`parse::Parser::push_line`], how standard
/// input is read), and every command APDU line goes through the length lint.
pub fn script(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let dir = Path::new("/nonexistent/cardgate-fuzz");
    let whole = parse::parse_str("fuzz.script", dir, &text, false);
    let mut parser = parse::Parser::new("fuzz.script", dir, false);
    let mut body = Vec::new();
    let mut failed = false;
    for line in parse::lines(text.as_bytes()) {
        match parser.push_line(line) {
            Ok(stmts) => body.extend(stmts),
            Err(_) => {
                failed = true;
                break;
            }
        }
        if parser.done() {
            break;
        }
    }
    let by_line =
        if failed { None } else { parser.finish().ok().map(|(rest, _, d)| (body.len() + rest.len(), d)) };
    match (&whole, by_line) {
        (Ok(s), Some((n, d))) => {
            assert_eq!((s.body.len(), s.dialect), (n, d), "whole and line by line differ")
        }
        (Err(_), None) => {}
        (w, l) => panic!("whole: {:?}, line by line: {l:?}", w.as_ref().map(|s| s.body.len())),
    }
    for line in text.lines() {
        let hex: String = line.chars().filter(char::is_ascii_hexdigit).collect();
        if let Ok(bytes) = cardgate::hexfmt::parse(&hex) {
            let _ = lint::check_lengths(&bytes);
        }
    }
}
