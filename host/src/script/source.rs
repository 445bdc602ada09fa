//! Where things are in a script: file, line and column, and errors that name them.
//!
//! Columns count characters from 1, so that `file:line:col` points where an editor does. A logical
//! line joined from continuation lines (`\` at the end) keeps a map back to its physical lines, so an
//! error in the third physical line says so.

use std::fmt;
use std::sync::Arc;

/// A place in a script.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Span {
    /// The file as the user named it (`-` for standard input, `-D` for the command line).
    pub file: Arc<str>,
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub col: usize,
}

impl Span {
    /// A span at column 1 of `line`.
    pub fn line(file: &Arc<str>, line: usize) -> Span {
        Span { file: file.clone(), line, col: 1 }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// A script that cannot be read or run as written: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{span}: {message}")]
pub struct ScriptError {
    /// Where the problem is.
    pub span: Span,
    /// What is wrong, as a sentence fragment.
    pub message: String,
}

impl ScriptError {
    /// An error at `span`.
    pub fn new(span: Span, message: impl Into<String>) -> Self {
        Self { span, message: message.into() }
    }
}

/// One logical line: the text of one or more physical lines, and where each piece came from.
#[derive(Debug, Clone)]
pub struct Logical {
    /// The joined text.
    pub text: String,
    file: Arc<str>,
    /// (byte offset in `text`, physical line, column of that offset).
    pieces: Vec<(usize, usize, usize)>,
}

impl Logical {
    /// An empty logical line in `file`.
    pub fn new(file: Arc<str>) -> Self {
        Self { text: String::new(), file, pieces: Vec::new() }
    }

    /// Appends the part of physical line `line` that starts at column `col`.
    pub fn push(&mut self, piece: &str, line: usize, col: usize) {
        self.pieces.push((self.text.len(), line, col));
        self.text.push_str(piece);
    }

    /// Whether nothing was pushed yet.
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The span of byte offset `offset` of `text`.
    pub fn span_at(&self, offset: usize) -> Span {
        let index = self.pieces.partition_point(|&(start, _, _)| start <= offset).saturating_sub(1);
        match self.pieces.get(index) {
            Some(&(start, line, col)) => {
                let end = offset.min(self.text.len());
                let chars = self.text.get(start..end).map_or(0, |s| s.chars().count());
                Span { file: self.file.clone(), line, col: col + chars }
            }
            None => Span { file: self.file.clone(), line: 0, col: 1 },
        }
    }

    /// The span where the logical line starts.
    pub fn start(&self) -> Span {
        self.span_at(0)
    }

    /// The file this line belongs to.
    pub fn file(&self) -> &Arc<str> {
        &self.file
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_back_to_physical_lines_and_char_columns() {
        let mut l = Logical::new("a.cg".into());
        l.push("00 A4 ", 3, 1);
        l.push("\"é\" zz", 4, 3);
        assert_eq!(l.span_at(0).to_string(), "a.cg:3:1");
        assert_eq!(l.span_at(3).to_string(), "a.cg:3:4");
        let zz = l.text.find("zz").unwrap();
        // `"é" ` is four characters but five bytes: the column counts characters.
        assert_eq!(l.span_at(zz).to_string(), "a.cg:4:7");
    }
}
