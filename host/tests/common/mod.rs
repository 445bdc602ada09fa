//! Helpers shared by the tests that run the `cardgate` binary as a user would. Each test file takes
//! what it needs (`mod common;`), so not every helper is used by every file.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod golden;
pub mod server_process;

use std::path::Path;

use assert_cmd::Command;

/// The `cardgate` binary under test, in a clean environment: no `CARDGATE_READER` from the caller's
/// shell, no log output on stderr (`RUST_LOG=off`; errors are still printed).
pub fn cardgate() -> Command {
    let mut cmd = Command::cargo_bin("cardgate").unwrap();
    cmd.env_remove("CARDGATE_READER").env("RUST_LOG", "off");
    cmd
}

/// The reader argument of the emulated card in the state file `path`.
pub fn emu(path: &Path) -> String {
    format!("emu:{}", path.display())
}

/// The path of an example policy (`policies/examples/NAME`).
pub fn example(name: &str) -> String {
    format!("{}/../policies/examples/{name}", env!("CARGO_MANIFEST_DIR"))
}
