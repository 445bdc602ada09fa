//! `cardgate server` as a child process on a free port, killed when dropped, for the host's CLI
//! tests. (The workspace's tests have the same in their harness, `cardgate_tests::IssuerServer`:
//! that crate depends on this one, so neither can use the other's test helpers.)

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `cardgate server`.
pub struct ServerProcess {
    child: Child,
    /// Its base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    /// Its data directory (`DIR/data`).
    pub data: PathBuf,
}

impl ServerProcess {
    /// Starts `cardgate server --listen 127.0.0.1:0` with its data in `dir/data`, and waits for its
    /// ready file.
    pub fn start(dir: &Path) -> ServerProcess {
        let data = dir.join("data");
        let ready = dir.join("server.ready");
        let child = Command::new(assert_cmd::cargo::cargo_bin("cardgate"))
            .args(["server", "--listen", "127.0.0.1:0", "--data"])
            .arg(&data)
            .arg("--ready-file")
            .arg(&ready)
            .env_remove("CARDGATE_READER")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while !ready.exists() {
            assert!(start.elapsed() < Duration::from_secs(30), "the server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        let url = std::fs::read_to_string(&ready).unwrap().trim().to_owned();
        ServerProcess { child, url, data }
    }

    /// The admin token file the server wrote at its first start.
    pub fn token_file(&self) -> PathBuf {
        self.data.join("admin.token")
    }

    /// `--server URL --admin-token-file FILE`, for the admin commands.
    pub fn admin_args(&self) -> [String; 4] {
        [
            "--server".into(),
            self.url.clone(),
            "--admin-token-file".into(),
            self.token_file().display().to_string(),
        ]
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
