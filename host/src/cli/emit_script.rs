//! `--emit-script FILE` on the flows that drive a card (`cardgate issue`, `cardgate present`,
//! `cardgate card policy`): the flow's transport goes through a [`ScriptRecorder`], and when the flow
//! ends the APDUs it sent are written to FILE as an extended-dialect script that `cardgate run`
//! replays (`docs/scripts.md`, "Turning a flow into a script"). A flow that fails still writes what
//! it sent, and says so. Secrets (PINs) are written as variables, never as their bytes.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use cardgate::script::{ScriptLog, ScriptRecorder};
use reader_bridge::Transport;

/// The script being recorded for one flow, if `--emit-script` asked for one.
#[derive(Debug)]
pub struct Emit {
    target: Option<(PathBuf, ScriptLog)>,
    flow: &'static str,
}

/// Wraps `transport` in a recorder when `path` is given. Checks first that the script can be
/// written there, so a flow with effects elsewhere (an issuer that issues a token) does not run for
/// a script that cannot be kept.
pub fn wrap(
    transport: Box<dyn Transport>,
    path: Option<&Path>,
    flow: &'static str,
) -> anyhow::Result<(Box<dyn Transport>, Emit)> {
    let Some(path) = path else { return Ok((transport, Emit { target: None, flow })) };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    anyhow::ensure!(
        dir.is_dir(),
        "--emit-script {}: the directory {} does not exist",
        path.display(),
        dir.display()
    );
    anyhow::ensure!(!path.is_dir(), "--emit-script {}: that is a directory", path.display());
    let reader = transport.name();
    let recorder = ScriptRecorder::new(transport);
    let log = recorder.log();
    log.comment(&format!("{flow}, through {reader}"));
    Ok((Box::new(recorder), Emit { target: Some((path.to_path_buf(), log)), flow }))
}

impl Emit {
    /// Adds `# text` to the script (nothing when no script is being recorded).
    pub fn comment(&self, text: &str) {
        if let Some((_, log)) = &self.target {
            log.comment(text);
        }
    }

    /// Writes the script (temporary file renamed into place), whether the flow succeeded or not,
    /// and passes the flow's result on. A failed flow's script ends with a comment saying where it
    /// stopped; a script that cannot be written fails a flow that succeeded.
    pub fn finish<T>(self, result: anyhow::Result<T>) -> anyhow::Result<T> {
        let Some((path, log)) = self.target else { return result };
        let flow = self.flow;
        if let Err(e) = &result {
            log.comment(&format!("{flow} stopped here: {e:#}"));
        }
        let written = log.write_to(&path);
        let n = log.commands();
        let defines: String = log.secrets().iter().map(|s| format!(" -D {s}=...")).collect();
        match (result, written) {
            (Ok(value), Ok(())) => {
                eprintln!(
                    "{flow}: {n} commands written to {} (replay: cardgate run -r READER{defines} {})",
                    path.display(),
                    path.display()
                );
                Ok(value)
            }
            (Ok(_), Err(e)) => Err(e).with_context(|| format!("cannot write the script {}", path.display())),
            (Err(e), Ok(())) => {
                eprintln!(
                    "{flow}: the flow failed; the {n} commands sent before it stopped are in {} (a partial script)",
                    path.display()
                );
                Err(e)
            }
            (Err(e), Err(w)) => {
                eprintln!("{flow}: cannot write the partial script {}: {w}", path.display());
                Err(e)
            }
        }
    }
}
