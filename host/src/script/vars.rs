//! Variables, and building command bytes from templates (`{ }` computes Lc).

use std::collections::BTreeMap;

use super::ast::{Item, Slice, Template, VarRef};
use super::source::ScriptError;

/// The variables of a run: name to bytes.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    map: BTreeMap<String, Vec<u8>>,
}

/// Takes `slice` of `bytes`, Python style: negative indices count from the end.
pub fn apply_slice(bytes: &[u8], slice: Slice) -> Result<&[u8], String> {
    let len = bytes.len() as i64;
    let resolve = |i: i64| if i < 0 { len.saturating_add(i) } else { i };
    let start = resolve(slice.start.unwrap_or(0));
    let end = if slice.single { start.saturating_add(1) } else { slice.end.map_or(len, resolve) };
    if start < 0 || end > len || start > end {
        return Err(format!("byte range {} is outside the {len} bytes there are", show_slice(slice)));
    }
    Ok(&bytes[start as usize..end as usize])
}

/// A slice as written: `[2:10]`.
pub fn show_slice(slice: Slice) -> String {
    let n = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    if slice.single {
        format!("[{}]", n(slice.start))
    } else {
        format!("[{}:{}]", n(slice.start), n(slice.end))
    }
}

impl Vars {
    /// Sets a variable.
    pub fn set(&mut self, name: &str, value: Vec<u8>) {
        match self.map.get_mut(name) {
            Some(slot) => *slot = value,
            None => {
                self.map.insert(name.to_string(), value);
            }
        }
    }

    /// A variable's value.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.map.get(name).map(Vec::as_slice)
    }

    /// Removes a variable.
    pub fn remove(&mut self, name: &str) {
        self.map.remove(name);
    }

    /// The bytes a reference stands for.
    pub fn resolve(&self, var: &VarRef) -> Result<Vec<u8>, ScriptError> {
        let value = self.get(&var.name).ok_or_else(|| {
            ScriptError::new(
                var.span.clone(),
                format!("${} is not set (set it with let, a capture or -D)", var.name),
            )
        })?;
        match var.slice {
            None => Ok(value.to_vec()),
            Some(slice) => apply_slice(value, slice)
                .map(<[u8]>::to_vec)
                .map_err(|m| ScriptError::new(var.span.clone(), format!("${}: {m}", var.name))),
        }
    }

    /// Builds a template's bytes.
    ///
    /// `{ data }` becomes Lc followed by the data: one byte up to 255 bytes, `00 HH LL` (extended,
    /// ISO 7816-4 §5.1) above; nothing at all when the data is empty. After an extended Lc a one-byte
    /// Le that ends the command is widened to the two bytes extended Le needs (`00` → `00 00`,
    /// `XX` → `00 XX`), because a short Le after an extended Lc is not a valid APDU.
    pub fn build(&self, template: &Template) -> Result<Vec<u8>, ScriptError> {
        let mut out = Vec::new();
        let mut extended_at = None;
        for item in &template.items {
            self.build_item(item, &mut out, &mut extended_at)?;
        }
        if let Some(end) = extended_at
            && out.len() == end + 1
        {
            let le = out[end];
            out[end] = 0x00;
            out.push(le);
        }
        Ok(out)
    }

    fn build_item(
        &self,
        item: &Item,
        out: &mut Vec<u8>,
        extended_at: &mut Option<usize>,
    ) -> Result<(), ScriptError> {
        match item {
            Item::Hex(b) | Item::Text(b) => out.extend_from_slice(b),
            Item::Var(v) => out.extend(self.resolve(v)?),
            Item::Data(inner, span) => {
                let mut data = Vec::new();
                let mut nested = None;
                for i in inner {
                    self.build_item(i, &mut data, &mut nested)?;
                }
                match data.len() {
                    0 => {}
                    n @ 1..=255 => {
                        out.push(n as u8);
                        out.extend(data);
                        *extended_at = None;
                    }
                    n @ 256..=65535 => {
                        out.extend([0x00, (n >> 8) as u8, n as u8]);
                        out.extend(data);
                        *extended_at = Some(out.len());
                    }
                    n => {
                        return Err(ScriptError::new(
                            span.clone(),
                            format!("{n} bytes of data: a command carries at most 65535"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::source::Span;

    fn span() -> Span {
        Span { file: "t".into(), line: 1, col: 1 }
    }

    fn data(items: Vec<Item>) -> Item {
        Item::Data(items, span())
    }

    fn build(items: Vec<Item>, vars: &Vars) -> Result<Vec<u8>, ScriptError> {
        vars.build(&Template { items, span: span() })
    }

    #[test]
    fn lc_is_computed_short_or_extended() {
        let v = Vars::default();
        let head = Item::Hex(vec![0x00, 0xDA, 0x01, 0x00]);
        assert_eq!(
            build(vec![head.clone(), data(vec![Item::Text(b"ab".to_vec())])], &v).unwrap(),
            [0x00, 0xDA, 0x01, 0x00, 0x02, b'a', b'b']
        );
        assert_eq!(
            build(vec![head.clone(), data(vec![]), Item::Hex(vec![0x10])], &v).unwrap(),
            [0x00, 0xDA, 0x01, 0x00, 0x10]
        );
        let big = build(vec![head.clone(), data(vec![Item::Hex(vec![7; 300])]), Item::Hex(vec![0x00])], &v)
            .unwrap();
        assert_eq!(&big[4..7], &[0x00, 0x01, 0x2C]);
        assert_eq!(big.len(), 4 + 3 + 300 + 2, "Le widened to two bytes");
        assert_eq!(&big[big.len() - 2..], &[0x00, 0x00]);
        let exact = build(vec![head.clone(), data(vec![Item::Hex(vec![7; 255])])], &v).unwrap();
        assert_eq!(exact[4], 0xFF);
        let err = build(vec![head, data(vec![Item::Hex(vec![0; 65536])])], &v).unwrap_err();
        assert!(err.message.contains("at most 65535"));
    }

    #[test]
    fn variables_and_slices() {
        let mut v = Vars::default();
        v.set("r", vec![1, 2, 3, 4, 5]);
        let r = |slice| Item::Var(VarRef { name: "r".into(), slice, span: span() });
        let s = |a, b, single| Some(Slice { start: a, end: b, single });
        assert_eq!(build(vec![r(None)], &v).unwrap(), [1, 2, 3, 4, 5]);
        assert_eq!(build(vec![r(s(Some(1), Some(3), false))], &v).unwrap(), [2, 3]);
        assert_eq!(build(vec![r(s(Some(-2), None, false))], &v).unwrap(), [4, 5]);
        assert_eq!(build(vec![r(s(Some(-1), None, true))], &v).unwrap(), [5]);
        assert_eq!(build(vec![r(s(None, Some(5), false))], &v).unwrap(), [1, 2, 3, 4, 5]);
        let err = build(vec![r(s(Some(2), Some(9), false))], &v).unwrap_err();
        assert_eq!(err.message, "$r: byte range [2:9] is outside the 5 bytes there are");
        let err = build(vec![Item::Var(VarRef { name: "nope".into(), slice: None, span: span() })], &v)
            .unwrap_err();
        assert!(err.message.starts_with("$nope is not set"));
    }
}
