//! Checking a response against an expectation (`=> [data] SW|SW`), and captures (`-> $x = ...`).

use applet::tlv;

use super::ast::{Capture, Expect, PatItem, Source};
use super::source::ScriptError;
use super::vars::{Vars, apply_slice};
use crate::hexfmt::packed;

/// One element of a pattern once variables are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Atom {
    Byte(u8),
    Any,
    Star,
}

/// Whether `data` matches `atoms` (`*` matches any run). Iterative, with one backtrack point per
/// star, so the cost stays O(len(data) × len(atoms)).
fn glob(atoms: &[Atom], data: &[u8]) -> bool {
    let (mut a, mut d) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while d < data.len() {
        match atoms.get(a) {
            Some(Atom::Star) => {
                star = Some((a, d));
                a += 1;
            }
            Some(Atom::Any) => {
                a += 1;
                d += 1;
            }
            Some(Atom::Byte(b)) if *b == data[d] => {
                a += 1;
                d += 1;
            }
            _ => match star {
                Some((sa, sd)) => {
                    a = sa + 1;
                    d = sd + 1;
                    star = Some((sa, sd + 1));
                }
                None => return false,
            },
        }
    }
    atoms[a..].iter().all(|&x| x == Atom::Star)
}

/// Checks `data` and `sw` against `expect`. `Ok(None)`: it matches; `Ok(Some(reason))`: it does not.
pub fn check(expect: &Expect, data: &[u8], sw: u16, vars: &Vars) -> Result<Option<String>, ScriptError> {
    if !expect.sw.iter().any(|p| p.matches(sw)) {
        return Ok(Some(format!("expected {}, got SW {sw:04X} ({})", expect.text, applet::sw::meaning(sw))));
    }
    let Some(pattern) = &expect.data else { return Ok(None) };
    let mut atoms = Vec::new();
    for item in pattern {
        match item {
            PatItem::Byte(b) => atoms.push(Atom::Byte(*b)),
            PatItem::Any => atoms.push(Atom::Any),
            PatItem::Rest => atoms.push(Atom::Star),
            PatItem::Bytes(bytes) => atoms.extend(bytes.iter().map(|&b| Atom::Byte(b))),
            PatItem::Var(v) => atoms.extend(vars.resolve(v)?.into_iter().map(Atom::Byte)),
        }
    }
    if glob(&atoms, data) {
        Ok(None)
    } else {
        let shown = if data.is_empty() { "no data".to_string() } else { packed(data) };
        Ok(Some(format!("expected {}, got data {shown}", expect.text)))
    }
}

/// The value a capture takes from a response, or why it cannot.
pub fn capture(capture: &Capture, data: &[u8], sw: u16) -> Result<Vec<u8>, String> {
    let [sw1, sw2] = sw.to_be_bytes();
    match &capture.source {
        Source::Data => Ok(data.to_vec()),
        Source::DataSlice(slice) => {
            apply_slice(data, *slice).map(<[u8]>::to_vec).map_err(|m| format!("data: {m}"))
        }
        Source::Sw => Ok(vec![sw1, sw2]),
        Source::Sw1 => Ok(vec![sw1]),
        Source::Sw2 => Ok(vec![sw2]),
        Source::Resp => Ok([data, &[sw1, sw2]].concat()),
        Source::Tlv(path) => {
            let show = path.iter().map(ToString::to_string).collect::<Vec<_>>().join("/");
            match tlv::find_path(data, path) {
                Ok(Some(value)) => Ok(value.to_vec()),
                Ok(None) => Err(format!("no {show} in the response")),
                Err(e) => Err(format!("the response is not BER-TLV ({e}), so it has no {show}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::ast::{SwPattern, VarRef};
    use crate::script::source::Span;

    fn span() -> Span {
        Span { file: "t".into(), line: 1, col: 1 }
    }

    fn expect(data: Option<Vec<PatItem>>) -> Expect {
        Expect { data, sw: vec![SwPattern { value: 0x9000, mask: 0xFFFF }], text: "P".into(), span: span() }
    }

    #[test]
    fn glob_handles_stars_anywhere() {
        use Atom::*;
        assert!(glob(&[Byte(1), Star], &[1, 2, 3]));
        assert!(glob(&[Star, Byte(3)], &[1, 2, 3]));
        assert!(glob(&[Byte(1), Star, Byte(2), Star, Byte(2)], &[1, 2, 9, 2]));
        assert!(!glob(&[Byte(1), Star, Byte(4)], &[1, 2, 3]));
        assert!(glob(&[Any, Any], &[7, 8]));
        assert!(!glob(&[Any], &[7, 8]));
        assert!(glob(&[], &[]));
        assert!(!glob(&[], &[1]));
        assert!(glob(&[Star, Star], &[]));
        // Many stars over a long input: finishes quickly (no exponential backtracking).
        let atoms: Vec<Atom> = (0..50).flat_map(|_| [Star, Byte(1)]).chain([Byte(2)]).collect();
        assert!(!glob(&atoms, &[1; 4000]));
    }

    #[test]
    fn checks_status_then_data_with_variables() {
        let mut vars = Vars::default();
        vars.set("c", vec![0xAB, 0xCD]);
        let e = expect(Some(vec![
            PatItem::Byte(0x9F),
            PatItem::Any,
            PatItem::Var(VarRef { name: "c".into(), slice: None, span: span() }),
        ]));
        assert_eq!(check(&e, &[0x9F, 0x00, 0xAB, 0xCD], 0x9000, &vars).unwrap(), None);
        assert_eq!(
            check(&e, &[0x9F, 0x00, 0xAB], 0x9000, &vars).unwrap().unwrap(),
            "expected P, got data 9F00AB"
        );
        let why = check(&e, &[], 0x6A82, &vars).unwrap().unwrap();
        assert_eq!(why, "expected P, got SW 6A82 (File or application not found)");
        assert_eq!(check(&expect(Some(vec![])), &[], 0x9000, &vars).unwrap(), None, "[] means no data");
    }

    #[test]
    fn captures_take_parts_of_the_response() {
        let fci = [0x6F, 0x07, 0x84, 0x02, 0xA0, 0x01, 0xA5, 0x01, 0x00];
        let cap = |source| Capture { name: "x".into(), source, span: span() };
        let tlv_path = |p: &[u32]| Source::Tlv(p.iter().map(|&t| tlv::Tag(t)).collect());
        assert_eq!(capture(&cap(tlv_path(&[0x6F, 0x84])), &fci, 0x9000).unwrap(), [0xA0, 0x01]);
        assert_eq!(capture(&cap(Source::Sw2), &fci, 0x6110).unwrap(), [0x10]);
        assert_eq!(capture(&cap(Source::Resp), &[1], 0x9000).unwrap(), [1, 0x90, 0]);
        assert_eq!(
            capture(&cap(tlv_path(&[0x6F, 0x50])), &fci, 0x9000).unwrap_err(),
            "no 6F/50 in the response"
        );
        assert!(capture(&cap(tlv_path(&[0x6F])), &[0x6F, 0x05], 0x9000).unwrap_err().contains("not BER-TLV"));
    }
}
