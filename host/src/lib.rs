//! The host side of cardgate, as a library: everything the `cardgate` binary does, by area.
//!
//! The binary (`src/main.rs`, `src/cli/`) only parses arguments and prints; the work is here.

pub mod hotspot;
pub mod serve;
pub mod server;
