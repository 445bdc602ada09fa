//! The control socket of a served card: a Unix socket on which `cardgate card eject` and
//! `cardgate card insert` ask a running serve loop to take the card out of vpcd's reader or put it
//! back, without stopping the process.
//!
//! Protocol: one request line (`eject`, `insert` or `status`), one answer line: `ok STATE` (STATE is
//! `connecting`, `connected`, `in-reader`, `ejected` or `stopped`) or `error SENTENCE`.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::vpcd::{CardState, ServeHandle};

/// How long a request waits for the serve loop to reach the asked state.
const SETTLE: Duration = Duration::from_secs(5);

/// A control-socket failure.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Another serve process owns the socket.
    #[error("{0}: another `cardgate card serve` is already running for this card")]
    InUse(PathBuf),
    /// Nobody listens on the socket.
    #[error("{path}: no `cardgate card serve` is running for this card")]
    NotServing {
        /// The socket path.
        path: PathBuf,
        /// The connect error.
        source: io::Error,
    },
    /// The serve loop refused or failed the request.
    #[error("the card server answered: {0}")]
    Refused(String),
    /// Socket I/O failed.
    #[error("control socket {path}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// The name used on the wire for a state.
pub fn state_name(state: CardState) -> &'static str {
    match state {
        CardState::Connecting => "connecting",
        CardState::Connected => "connected",
        CardState::InReader => "in-reader",
        CardState::Ejected => "ejected",
        CardState::Stopped => "stopped",
    }
}

/// A listening control socket; the socket file is removed when this is dropped.
#[derive(Debug)]
pub struct ControlServer {
    path: PathBuf,
}

impl ControlServer {
    /// Binds `path` and answers requests on a background thread, acting on `handle`.
    ///
    /// A stale socket file (left by a killed process) is replaced; a live one is an error.
    pub fn bind(path: &Path, handle: Arc<ServeHandle>) -> Result<Self, ControlError> {
        let io_err = |source| ControlError::Io { path: path.to_path_buf(), source };
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                return Err(ControlError::InUse(path.to_path_buf()));
            }
            std::fs::remove_file(path).map_err(io_err)?;
        }
        let listener = UnixListener::bind(path).map_err(io_err)?;
        std::thread::Builder::new()
            .name("card-control".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    match conn {
                        Ok(conn) => {
                            if let Err(err) = answer(conn, &handle) {
                                tracing::warn!("control socket: {err}");
                            }
                        }
                        Err(err) => tracing::warn!("control socket: {err}"),
                    }
                }
            })
            .map_err(io_err)?;
        Ok(Self { path: path.to_path_buf() })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ignored = std::fs::remove_file(&self.path);
    }
}

fn answer(conn: UnixStream, handle: &ServeHandle) -> io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut line = String::new();
    BufReader::new(&conn).read_line(&mut line)?;
    let reply = match line.trim() {
        "eject" => {
            tracing::info!("eject requested on the control socket");
            handle.eject();
            settle(handle, |s| matches!(s, CardState::Ejected | CardState::Stopped))
        }
        "insert" => {
            tracing::info!("insert requested on the control socket");
            handle.insert();
            settle(handle, |s| !matches!(s, CardState::Ejected))
        }
        "status" => format!("ok {}", state_name(handle.state())),
        other => format!("error unknown request {other:?} (expected eject, insert or status)"),
    };
    (&conn).write_all(format!("{reply}\n").as_bytes())
}

fn settle(handle: &ServeHandle, done: impl Fn(CardState) -> bool) -> String {
    let state = handle.wait_for(SETTLE, &done);
    if done(state) {
        format!("ok {}", state_name(state))
    } else {
        format!("error the card is still {} after {}s", state_name(state), SETTLE.as_secs())
    }
}

/// Sends one request (`eject`, `insert`, `status`) to the serve process listening on `path` and
/// returns the state it reports.
pub fn request(path: &Path, what: &str) -> Result<String, ControlError> {
    let conn = UnixStream::connect(path)
        .map_err(|source| ControlError::NotServing { path: path.to_path_buf(), source })?;
    let io_err = |source| ControlError::Io { path: path.to_path_buf(), source };
    conn.set_read_timeout(Some(SETTLE + Duration::from_secs(2))).map_err(io_err)?;
    (&conn).write_all(format!("{what}\n").as_bytes()).map_err(io_err)?;
    let mut line = String::new();
    BufReader::new(&conn).read_line(&mut line).map_err(io_err)?;
    let line = line.trim();
    match line.strip_prefix("ok ") {
        Some(state) => Ok(state.to_string()),
        None => Err(ControlError::Refused(line.strip_prefix("error ").unwrap_or(line).to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_flip_the_switches_and_report_the_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("card.sock");
        let handle = Arc::new(ServeHandle::new());
        let server = ControlServer::bind(&path, Arc::clone(&handle)).unwrap();
        assert_eq!(request(&path, "status").unwrap(), "connecting");
        // No serve loop runs here, so the state never becomes "ejected": the request says so.
        let err = request(&path, "bogus").unwrap_err();
        assert!(err.to_string().contains("unknown request"), "{err}");
        assert!(ControlServer::bind(&path, Arc::clone(&handle)).is_err(), "a live socket is not taken over");
        drop(server);
        assert!(!path.exists(), "the socket file goes with the server");
        let err = request(&path, "status").unwrap_err();
        assert!(matches!(err, ControlError::NotServing { .. }), "{err}");
    }

    #[test]
    fn a_stale_socket_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("card.sock");
        drop(UnixListener::bind(&path).unwrap()); // leaves the file, nobody listening
        let _server = ControlServer::bind(&path, Arc::new(ServeHandle::new())).unwrap();
        assert_eq!(request(&path, "status").unwrap(), "connecting");
    }
}
