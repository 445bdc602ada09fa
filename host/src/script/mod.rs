//! Scripted APDU sessions: `cardgate run`, `cardgate lint`, and the script recorder that payment
//! flows use for `--emit-script`.
//!
//! A script is read by [`parse`] in one of two [dialects](ast::Dialect): pcsc-tools' `scriptor`
//! format, quirks included ([`scriptor`]), or cardgate's extended dialect ([`extended`]), chosen by a
//! first line `#!cardgate`. Both produce [statements](ast::Stmt) that the [`engine`] runs over a
//! [`reader_bridge::Transport`], reporting each step to an [`output`] format. [`emit`] goes the
//! other way: it watches a transport and writes the extended-dialect script that replays it.
//!
//! The dialect reference is `docs/scripts.md`.

pub mod ast;
pub mod emit;
pub mod engine;
pub mod expect;
pub mod extended;
pub mod lexer;
pub mod lint;
pub mod output;
pub mod parse;
pub mod scriptor;
pub mod source;
pub mod vars;

pub use emit::{ScriptLog, ScriptRecorder};
pub use engine::{Engine, Options, Stop};
pub use parse::{Parser, Script, parse_file, parse_str};
pub use source::{ScriptError, Span};
