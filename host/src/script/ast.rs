//! What a parsed script is made of. Both dialects parse to these statements; the engine runs them.

use applet::tlv::Tag;
use reader_bridge::ResetKind;

use super::source::Span;

/// Which grammar a file is read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// pcsc-tools' `scriptor`, quirks included (`docs/scripts.md`, "The scriptor dialect").
    Scriptor,
    /// cardgate's extended dialect, opted into by a first line `#!...cardgate...`.
    Extended,
}

/// A byte range of a value: `[a:b]`, `[a:]`, `[:b]` or `[a]`; negative indices count from the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    /// First byte (inclusive); `None` means 0.
    pub start: Option<i64>,
    /// Last byte (exclusive); `None` means the end. Ignored when `single`.
    pub end: Option<i64>,
    /// `[a]`: the single byte at `a`.
    pub single: bool,
}

/// `$name`, `${name}` or `${name[a:b]}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarRef {
    /// The variable's name.
    pub name: String,
    /// The bytes taken, when not all.
    pub slice: Option<Slice>,
    /// Where the reference is.
    pub span: Span,
}

/// One piece of a byte template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// Literal bytes written in hex.
    Hex(Vec<u8>),
    /// A quoted string's bytes.
    Text(Vec<u8>),
    /// A variable's bytes.
    Var(VarRef),
    /// `{ ... }`: data preceded by its length Lc, short or extended as the length needs.
    Data(Vec<Item>, Span),
}

/// Bytes to send, built when the statement runs (variables are read then).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The pieces, in order.
    pub items: Vec<Item>,
    /// Where the template starts.
    pub span: Span,
}

impl Template {
    /// A template of literal bytes.
    pub fn bytes(bytes: Vec<u8>, span: Span) -> Self {
        Self { items: vec![Item::Hex(bytes)], span }
    }
}

/// One element of a data pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatItem {
    /// This byte.
    Byte(u8),
    /// `..`: any one byte.
    Any,
    /// `*`: any number of bytes, including none.
    Rest,
    /// Exactly these bytes (a string).
    Bytes(Vec<u8>),
    /// Exactly the variable's bytes.
    Var(VarRef),
}

/// A status-word pattern: four nibbles, each a hex digit or a wildcard (`x`, `X`, `?`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwPattern {
    /// The nibbles that must match.
    pub value: u16,
    /// Bits set where a nibble is not a wildcard.
    pub mask: u16,
}

impl SwPattern {
    /// Whether `sw` matches.
    pub fn matches(self, sw: u16) -> bool {
        sw & self.mask == self.value & self.mask
    }
}

/// What a response must look like: `=> [data] SW|SW...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    /// The data pattern, when the data is checked.
    pub data: Option<Vec<PatItem>>,
    /// Acceptable status words (any one).
    pub sw: Vec<SwPattern>,
    /// The pattern as written, for messages.
    pub text: String,
    /// Where the pattern is.
    pub span: Span,
}

/// Which part of a response a capture takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The response data (without the status word).
    Data,
    /// A byte range of the data.
    DataSlice(Slice),
    /// The status word (two bytes).
    Sw,
    /// SW1.
    Sw1,
    /// SW2.
    Sw2,
    /// Data and status word.
    Resp,
    /// The value at a path of BER-TLV tags in the data (`tlv 6F/84`).
    Tlv(Vec<Tag>),
}

/// `-> $name = source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// The variable set.
    pub name: String,
    /// What it is set to.
    pub source: Source,
    /// Where the capture is written.
    pub span: Span,
}

/// A per-script switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// Follow `61xx` with GET RESPONSE.
    GetResponse(bool),
    /// Resend with the right Le after `6Cxx`.
    FixLe(bool),
    /// Decode responses as BER-TLV in the output.
    Tlv(bool),
    /// Show each exchange's time in the output.
    Timing(bool),
}

/// A piece of `echo` text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EchoPart {
    /// Printed as written.
    Text(String),
    /// Printed as the variable's value in hex.
    Var(VarRef),
}

/// What a statement does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StmtKind {
    /// An input line that scriptor prints before acting on it (file mode only), bytes as read.
    Line(Vec<u8>),
    /// Reset the card.
    Reset(ResetKind),
    /// Send a command.
    Apdu {
        /// The command.
        command: Template,
        /// The command as scriptor prints it (`> 00 A4 ...`, as typed), for scriptor-dialect lines.
        shown: Option<String>,
        /// What the response must be.
        expect: Option<Expect>,
        /// Variables set from the response.
        captures: Vec<Capture>,
    },
    /// Print a line.
    Echo(Vec<EchoPart>),
    /// Set a variable.
    Let {
        /// The variable.
        name: String,
        /// Its new value.
        value: Template,
    },
    /// Check the last response again.
    Expect(Expect),
    /// Change a per-script switch.
    Set(Setting),
    /// Run `body` `count` times, with `var` (when given) set to the round number, from 1.
    Repeat {
        /// How many times.
        count: u32,
        /// The counter variable.
        var: Option<String>,
        /// The statements repeated.
        body: Vec<Stmt>,
    },
    /// A file's statements (the script itself, or an `include`), run with its dialect's defaults.
    File {
        /// The file's dialect.
        dialect: Dialect,
        /// Its statements.
        body: Vec<Stmt>,
    },
    /// Stop the run.
    Exit,
}

/// A statement and where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stmt {
    /// What it does.
    pub kind: StmtKind,
    /// Where it starts.
    pub span: Span,
}
