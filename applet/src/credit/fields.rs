//! Strict reading of a template's children: each tag known, single unless declared repeatable, every
//! mandatory one present. Signed content must be understood in full, so nothing unknown is skipped.

use super::CreditError;
use crate::tlv::{self, Tag};

/// The children of one template, consumed field by field; [`Fields::finish`] rejects leftovers.
pub(crate) struct Fields<'a> {
    what: &'static str,
    items: Vec<(Tag, &'a [u8], bool)>,
}

impl<'a> Fields<'a> {
    /// Parses `bytes` as exactly one object with tag `template` and collects its children.
    pub(crate) fn single(what: &'static str, template: Tag, bytes: &'a [u8]) -> Result<Self, CreditError> {
        let outer = tlv::parse_single(bytes).map_err(|source| CreditError::Tlv { what, source })?;
        if outer.tag != template {
            return Err(CreditError::WrongTemplate { what, expected: template, found: outer.tag });
        }
        Self::children(what, outer.value)
    }

    /// Collects the objects of `value` (the value field of a template).
    pub(crate) fn children(what: &'static str, value: &'a [u8]) -> Result<Self, CreditError> {
        let mut items = Vec::new();
        for child in tlv::iter(value) {
            let child = child.map_err(|source| CreditError::Tlv { what, source })?;
            items.push((child.tag, child.value, false));
        }
        Ok(Self { what, items })
    }

    /// The value of a tag that may appear at most once.
    pub(crate) fn optional(&mut self, tag: Tag) -> Result<Option<&'a [u8]>, CreditError> {
        let mut found = None;
        for item in self.items.iter_mut().filter(|i| i.0 == tag) {
            if found.is_some() {
                return Err(CreditError::Duplicate { what: self.what, tag });
            }
            item.2 = true;
            found = Some(item.1);
        }
        Ok(found)
    }

    /// The value of a tag that must appear exactly once.
    pub(crate) fn required(&mut self, tag: Tag, name: &'static str) -> Result<&'a [u8], CreditError> {
        self.optional(tag)?.ok_or(CreditError::Missing { what: self.what, tag, name })
    }

    /// A mandatory value of exactly `N` bytes.
    pub(crate) fn fixed<const N: usize>(
        &mut self,
        tag: Tag,
        name: &'static str,
    ) -> Result<[u8; N], CreditError> {
        let value = self.required(tag, name)?;
        self.exact(tag, name, value)
    }

    /// An optional value of exactly `N` bytes.
    pub(crate) fn optional_fixed<const N: usize>(
        &mut self,
        tag: Tag,
        name: &'static str,
    ) -> Result<Option<[u8; N]>, CreditError> {
        self.optional(tag)?.map(|v| self.exact(tag, name, v)).transpose()
    }

    fn exact<const N: usize>(
        &self,
        tag: Tag,
        name: &'static str,
        value: &[u8],
    ) -> Result<[u8; N], CreditError> {
        value.try_into().map_err(|_| CreditError::BadLength {
            what: self.what,
            tag,
            name,
            expected: fixed_len_text(N),
            got: value.len(),
        })
    }

    /// Every value of a repeatable tag, in order.
    pub(crate) fn repeated(&mut self, tag: Tag) -> Vec<&'a [u8]> {
        self.items
            .iter_mut()
            .filter(|i| i.0 == tag)
            .map(|i| {
                i.2 = true;
                i.1
            })
            .collect()
    }

    /// An error about the value of `tag`, in this template.
    pub(crate) fn bad_value(&self, tag: Tag, name: &'static str, why: impl Into<String>) -> CreditError {
        CreditError::BadValue { what: self.what, tag, name, why: why.into() }
    }

    /// Fails on the first child no field asked for.
    pub(crate) fn finish(self) -> Result<(), CreditError> {
        match self.items.iter().find(|i| !i.2) {
            Some(item) => Err(CreditError::Unexpected { what: self.what, tag: item.0 }),
            None => Ok(()),
        }
    }
}

fn fixed_len_text(n: usize) -> &'static str {
    match n {
        1 => "1",
        2 => "2",
        3 => "3",
        4 => "4",
        6 => "6",
        8 => "8",
        33 => "33",
        _ => "a fixed size",
    }
}
