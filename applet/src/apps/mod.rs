//! The applets cardgate ships, and [`catalog`], the catalog every card is made with.
//!
//! To add an applet: write `apps/<name>.rs` with a `CLASS: AppletClass`, and add it to
//! [`catalog`] (the state file names classes, so a card can only be loaded by a build whose
//! catalog has all of its classes).

pub mod diag;

use crate::applet::Catalog;

/// Every applet class built into cardgate.
pub fn catalog() -> Catalog {
    Catalog::new().with(diag::CLASS)
}
