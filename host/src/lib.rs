//! The host side of cardgate, as a library: everything the `cardgate` binary does, by area.
//!
//! The binary (`src/main.rs`, `src/cli/`) only parses arguments and prints; the work is here.
//!
//! - [`db`]: the one SQLite layer (0600 files, pragmas, per-area migrations, the shared handle) under
//!   the server's database and the merchant's queue;
//! - [`hotspot`]: Wi-Fi sharer proof of control and information push;
//! - [`payment`]: offline credit payment (QR payload, merchant store, settlement, the issuer server's
//!   payment area);
//! - [`policy_admin`]: `cardgate card policy`, replacing a card's policy with its admin PIN;
//! - [`serve`]: `cardgate card serve`, an emulated card behind vpcd;
//! - [`server`]: `cardgate server`, the composition of the areas' routes;
//! - [`script`]: scripted APDU sessions (scriptor's format and the extended dialect), and the
//!   recorder that turns any session into a script;
//! - [`tlv_view`], [`emv_tags`]: BER-TLV shown as a tree with EMV tag names;
//! - [`hexfmt`]: hex as this tool prints and reads it.

pub mod db;
pub mod emv_tags;
pub mod hexfmt;
pub mod hotspot;
pub mod payment;
pub mod policy_admin;
pub mod script;
pub mod serve;
pub mod server;
pub mod tlv_view;
