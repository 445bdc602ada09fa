//! Wi-Fi sharer proof of control, device registration and information push (US 10,136,317 B2 and
//! US 11,063,934 B2; design.md "Wi-Fi sharer proof and information push"; the exact rules are in
//! `docs/hotspot.md`).
//!
//! - [`rules`]: what identifiers, MACs and keys may be; how the second and third identifiers are made.
//! - [`api`]: the JSON bodies and the stable error codes.
//! - [`store`], [`secret`], [`hub`], [`ratelimit`], [`clock`], [`server`]: the server side, an
//!   `axum::Router` that `cardgate server` merges with its other areas.
//! - [`scan`], [`nmcli`]: scanner backends (scan files, NetworkManager).
//! - [`client`], [`sse`], [`register`], [`listen`]: the sharer client and the third-party client.

pub mod api;
pub mod client;
pub mod clock;
pub mod hub;
pub mod listen;
pub mod nmcli;
pub mod ratelimit;
pub mod register;
pub mod rules;
pub mod scan;
pub mod secret;
pub mod server;
pub mod sse;
pub mod store;
