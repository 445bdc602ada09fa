//! Per-service security parameters (US 11,127,019 B2): the model, the TOML policy file, and the one
//! decision function the card runtime calls before an applet runs a service.
//!
//! This crate is pure: no I/O beyond parsing a string it is given, and no APDU bytes.
