//! Offline credit payment, host side: everything around the formats in `applet::credit`.
//!
//! - [`cpm`]: the QR payload (EMVCo consumer-presented mode envelope);
//! - [`qr`]: QR codes as PNG, SVG and terminal text, and decoding them back from images;
//! - [`identity`]: the account identity encrypted to the issuer (ECIES on P-256);
//! - [`point`]: compressed P-256 public keys, decompressed before use;
//! - [`verify`]: the offline checks and their reason codes, shared by merchants and the server;
//! - [`merchant`]: the merchant's local store and offline acceptance;
//! - [`settle`]: uploading the queue to the issuer at the scheduled time;
//! - [`client`]: the issuer server's HTTP client;
//! - [`softcard`]: a card key in software, for tests and benchmarks;
//! - [`server`]: the payment area of the issuer server (`cardgate server`);
//! - [`api`]: its JSON types;
//! - [`money`]: amounts as typed and as stored;
//! - [`wallet`]: the credit wallet applet's commands, from the host.

pub mod api;
pub mod client;
pub mod cpm;
pub mod identity;
pub mod merchant;
pub mod money;
pub mod point;
pub mod qr;
pub mod server;
pub mod settle;
pub mod softcard;
pub mod verify;
pub mod wallet;
