//! Serving a card to pcscd through vpcd as a long-running process (`cardgate card serve`): signals,
//! the ready file, the control socket (eject/insert) and the log lines around
//! [`reader_bridge::vpcd::serve`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use reader_bridge::control::ControlServer;
use reader_bridge::vpcd::{self, Event, ServeHandle, ServeOptions, VirtualCard};

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// vpcd's `HOST:PORT`.
    pub vpcd: String,
    /// Written (atomically) once the card is in the reader, removed when it leaves.
    pub ready_file: Option<PathBuf>,
    /// The control socket for `cardgate card eject/insert`.
    pub control: Option<PathBuf>,
    /// Re-arm TCP_QUICKACK after every read (off only to measure the 44 ms trap).
    pub quickack: bool,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self { vpcd: vpcd::DEFAULT_ADDR.into(), ready_file: None, control: None, quickack: true }
    }
}

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The serve loop could not start or could not save at the end.
    #[error(transparent)]
    Vpcd(#[from] vpcd::VpcdError),
    /// The control socket could not be set up.
    #[error(transparent)]
    Control(#[from] reader_bridge::control::ControlError),
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    /// The ready file could not be removed before starting.
    #[error("cannot remove the old ready file {path}")]
    ReadyFile {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// The control socket that belongs to a card state file: `PATH.sock` beside it.
pub fn default_control_path(state: &Path) -> PathBuf {
    let mut name = state.as_os_str().to_owned();
    name.push(".sock");
    PathBuf::from(name)
}

/// Serves `card` until SIGINT or SIGTERM, then finishes the message in flight, ends the session,
/// flushes the card and returns it. A second signal kills the process at once.
pub fn run<C: VirtualCard>(card: C, config: &ServeConfig) -> Result<C, ServeError> {
    let handle = Arc::new(ServeHandle::new());
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // The documented two-step pattern: the first signal sets the flag, a second one (flag already
        // set) exits with status 1.
        signal_hook::flag::register_conditional_shutdown(signal, 1, handle.stop_flag())
            .map_err(ServeError::Signals)?;
        signal_hook::flag::register(signal, handle.stop_flag()).map_err(ServeError::Signals)?;
    }
    if let Some(path) = &config.ready_file {
        remove_ready(path).map_err(|source| ServeError::ReadyFile { path: path.clone(), source })?;
    }
    let _control = match &config.control {
        Some(path) => Some(ControlServer::bind(path, Arc::clone(&handle))?),
        None => None,
    };
    let options =
        ServeOptions { addr: config.vpcd.clone(), quickack: config.quickack, ..ServeOptions::default() };
    if !config.quickack {
        tracing::warn!("TCP_QUICKACK disabled: expect ~44 ms per message with Debian's vpcd");
    }
    let atr = card.atr();
    tracing::info!(vpcd = %config.vpcd, "serving the card to vpcd");
    let result = vpcd::serve(card, &options, &handle, |event| on_event(event, config, &atr));
    if let Some(path) = &config.ready_file {
        let _ignored = remove_ready(path);
    }
    let card = result?;
    tracing::info!("card saved; stopped");
    Ok(card)
}

fn on_event(event: &Event, config: &ServeConfig, atr: &[u8]) {
    match event {
        Event::Unreachable { addr, error, retry_in, attempt } => {
            if *attempt == 1 {
                tracing::warn!(
                    "vpcd at {addr} is not reachable ({error}): is pcscd running with vsmartcard-vpcd? \
                     Start it with `pcscd -f &` (or `scripts/pcscd.sh start`); retrying with backoff"
                );
            } else if attempt % 30 == 0 {
                tracing::warn!("still waiting for vpcd at {addr} ({attempt} attempts, {error})");
            } else {
                tracing::debug!("vpcd at {addr} unreachable ({error}); next try in {retry_in:?}");
            }
        }
        Event::Connected { addr } => {
            tracing::info!("connected to vpcd at {addr}; waiting for pcscd to power the card")
        }
        Event::Ready => {
            tracing::info!("card is in the reader (ATR {})", hex::encode_upper(atr));
            if let Some(path) = &config.ready_file
                && let Err(err) = write_ready(path, config, atr)
            {
                tracing::error!("cannot write the ready file {}: {err}", path.display());
            }
        }
        Event::Disconnected { reason } => {
            tracing::warn!("card out of the reader: {reason}; reconnecting (pcscd stopped or restarting?)");
            if let Some(path) = &config.ready_file {
                let _ignored = remove_ready(path);
            }
        }
        Event::Ejected => {
            tracing::info!("card ejected");
            if let Some(path) = &config.ready_file {
                let _ignored = remove_ready(path);
            }
        }
        Event::Inserted => tracing::info!("card inserted again"),
        Event::Stopping => tracing::info!("stopping: taking the card out and saving it"),
    }
}

fn write_ready(path: &Path, config: &ServeConfig, atr: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp)?;
    writeln!(f, "pid={}\nvpcd={}\natr={}", std::process::id(), config.vpcd, hex::encode_upper(atr))?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn remove_ready(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
