//! Shared harness for the end-to-end and interop tests in `tests/tests/`.
//!
//! - [`VpcdLock`]: the machine-wide lock on vpcd's virtual readers (`/tmp/cardgate-vpcd.lock`), so
//!   that tests and helpers never put two cards into one slot;
//! - [`ensure_pcscd`]: starts pcscd with vpcd (`scripts/pcscd.sh start`) unless it runs, then waits
//!   for vpcd's reader to be listed; never a fixed sleep;
//! - [`cardgate`]: the `cardgate` binary under test, built on first use;
//! - [`init_card`]: a card state file made by `cardgate card init`;
//! - [`CardProcess`]: a served card ([`CardProcess::serve`] for `cardgate card serve` in the first
//!   slot); started, waited for (ready file, then the reader showing the card's ATR), stopped or
//!   killed;
//! - [`run`] and [`Output`]: a client program's exit status and output, with assertions that show
//!   everything on failure;
//! - [`IssuerServer`]: `cardgate server` on a free port with SQLite in a temporary directory;
//! - [`payments`]: an admin client on that server, and presentations signed with any key;
//! - [`load`]: the settlement load campaign (many merchants at once, the ledger checked exactly);
//! - [`hammer`]: random valid and invalid APDUs through pcscd to a served card (no hang, no leak);
//! - [`fuzzing`]: the bodies of the fuzz targets in `fuzz/`, also run on their corpora by
//!   `tests/fuzz_corpus.rs`.

pub mod fuzzing;
pub mod hammer;
pub mod load;
pub mod payments;
pub mod rng;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use reader_bridge::pcsc;

/// vpcd's first slot: port and the name pcsc-lite gives the reader.
pub const SLOT0: (&str, &str) = ("127.0.0.1:35963", "Virtual PCD 00 00");
/// vpcd's second slot.
pub const SLOT1: (&str, &str) = ("127.0.0.1:35964", "Virtual PCD 00 01");

/// How long anything may take to appear before a test gives up with a message.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Exclusive use of vpcd's virtual readers for as long as it is held.
#[derive(Debug)]
pub struct VpcdLock {
    file: File,
}

impl VpcdLock {
    /// Waits for the lock (`flock /tmp/cardgate-vpcd.lock`, the same lock scripts take).
    pub fn acquire() -> anyhow::Result<Self> {
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open("/tmp/cardgate-vpcd.lock")
            .context("open /tmp/cardgate-vpcd.lock")?;
        file.lock().context("flock /tmp/cardgate-vpcd.lock")?;
        Ok(Self { file })
    }
}

impl Drop for VpcdLock {
    fn drop(&mut self) {
        let _ignored = self.file.unlock();
    }
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from(".."), Path::to_path_buf)
}

/// Makes sure pcscd runs with vpcd's readers: starts it with `scripts/pcscd.sh start` if needed,
/// then waits until `reader` is listed.
pub fn ensure_pcscd(reader: &str) -> anyhow::Result<()> {
    let listed = || pcsc::readers().map(|rs| rs.iter().any(|r| r.name == reader)).unwrap_or(false);
    if listed() {
        return Ok(());
    }
    let status = Command::new(workspace().join("scripts/pcscd.sh"))
        .arg("start")
        .status()
        .context("run scripts/pcscd.sh start")?;
    if !status.success() {
        bail!("scripts/pcscd.sh start failed ({status})");
    }
    wait_until(PATIENCE, listed).with_context(|| {
        format!(
            "pcscd runs but {reader:?} is not listed: is vsmartcard-vpcd installed (/etc/reader.conf.d/vpcd)?"
        )
    })
}

/// Polls `done` every 20 ms until it holds, or fails after `limit`.
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> anyhow::Result<()> {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > limit {
            bail!("gave up after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// The state of one reader now, if pcscd lists it.
pub fn reader_state(reader: &str) -> Option<pcsc::ReaderInfo> {
    pcsc::readers().ok()?.into_iter().find(|r| r.name == reader)
}

/// Waits until `reader` is empty (or gone).
pub fn wait_for_empty(reader: &str) -> anyhow::Result<()> {
    wait_until(PATIENCE, || reader_state(reader).is_none_or(|r| !r.card_present))
        .with_context(|| format!("{reader:?} still shows a card"))
}

fn built_binary(name: &str, package: &str) -> anyhow::Result<PathBuf> {
    // target/<profile>/deps/<test> (a test) or target/<profile>/<bin> -> target/<profile>/<name>
    let exe = std::env::current_exe()?;
    let mut profile_dir = exe.parent().context("cannot find the target directory from the executable")?;
    if profile_dir.file_name().is_some_and(|n| n == "deps") {
        profile_dir = profile_dir.parent().context("cannot find the target directory")?;
    }
    let profile_dir = profile_dir.to_path_buf();
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(["build", "--quiet", "-p", package, "--bin", name]).current_dir(workspace());
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().with_context(|| format!("cargo build --bin {name}"))?;
    if !status.success() {
        bail!("cargo build --bin {name} failed");
    }
    Ok(profile_dir.join(name))
}

/// The `cardgate` binary, built (incrementally, same profile as the tests) on first use.
pub fn cardgate() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        built_binary("cardgate", "cardgate").unwrap_or_else(|e| panic!("building cardgate: {e:#}"))
    })
    .clone()
}

/// A client's exit status and output.
#[derive(Debug)]
pub struct Output {
    /// The command line, for messages.
    pub command: String,
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// Fails the test unless the program exited 0.
    #[track_caller]
    pub fn success(&self) -> &Self {
        assert_eq!(self.code, Some(0), "{self}");
        self
    }

    /// Fails the test unless the program exited with a non-zero code.
    #[track_caller]
    pub fn failure(&self) -> &Self {
        assert!(self.code.is_some_and(|c| c != 0), "expected a failure: {self}");
        self
    }

    /// Fails the test unless stdout contains `needle`.
    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Self {
        assert!(self.stdout.contains(needle), "stdout lacks {needle:?}: {self}");
        self
    }

    /// Fails the test unless stderr contains `needle`.
    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(self.stderr.contains(needle), "stderr lacks {needle:?}: {self}");
        self
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` exited {:?}\n--- stdout\n{}--- stderr\n{}",
            self.command, self.code, self.stdout, self.stderr
        )
    }
}

/// Makes the card state file `state` with `cardgate card init STATE EXTRA...`, which must succeed.
pub fn init_card(state: &Path, extra: &[&str]) {
    let state = state.to_str().unwrap_or_else(|| panic!("{} is not UTF-8", state.display()));
    run(cardgate(), &[&["card", "init", state][..], extra].concat()).success();
}

/// Runs a program to completion (stdin closed) and captures its output.
pub fn run(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Output {
    let program = program.as_ref();
    let command = format!("{} {}", program.to_string_lossy(), args.join(" "));
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{command}`: {e}"));
    Output {
        command,
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A card served to vpcd by a child process.
#[derive(Debug)]
pub struct CardProcess {
    child: Option<Child>,
    /// The reader it sits in.
    pub reader: &'static str,
    /// Its ready file.
    pub ready_file: PathBuf,
    /// Its stderr log.
    pub log: PathBuf,
    /// The ATR it answers (from the ready file).
    pub atr: Vec<u8>,
}

impl CardProcess {
    /// Starts `program args... --vpcd SLOT --ready-file F` and waits until pcscd shows the card in
    /// the slot's reader with the ATR the card announced.
    pub fn start(
        program: &Path,
        args: &[&str],
        slot: (&str, &'static str),
        dir: &Path,
    ) -> anyhow::Result<CardProcess> {
        ensure_pcscd(slot.1)?;
        // A card left in the slot by someone else would keep ours waiting in vpcd's backlog.
        wait_for_empty(slot.1).context("the virtual reader is occupied by another card")?;
        let ready_file = dir.join(format!("ready-{}", std::process::id()));
        let log = dir.join(format!("card-{}.log", std::process::id()));
        let _ignored = std::fs::remove_file(&ready_file);
        let child = Command::new(program)
            .args(args)
            .args(["--vpcd", slot.0, "--ready-file"])
            .arg(&ready_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log)?)
            .spawn()
            .with_context(|| format!("start {}", program.display()))?;
        let mut card = CardProcess { child: Some(child), reader: slot.1, ready_file, log, atr: Vec::new() };
        card.wait_ready()?;
        Ok(card)
    }

    /// `cardgate card serve STATE` in the first slot ([`SLOT0`]), waited for; `dir` holds its ready
    /// file and log.
    pub fn serve(state: &Path, dir: &Path) -> anyhow::Result<CardProcess> {
        let state = state.to_str().context("a state path that is not UTF-8")?;
        CardProcess::start(&cardgate(), &["card", "serve", state], SLOT0, dir)
    }

    /// Waits for the ready file, then for the reader to show the card with its ATR.
    pub fn wait_ready(&mut self) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!("the card process exited ({status}) before it was ready:\n{}", self.log_text());
            }
            if let Ok(text) = std::fs::read_to_string(&self.ready_file)
                && let Some(atr) = text.lines().find_map(|l| l.strip_prefix("atr="))
            {
                self.atr = hex::decode(atr.trim())?;
                break;
            }
            if start.elapsed() > PATIENCE {
                bail!("no ready file after {PATIENCE:?}:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let atr = self.atr.clone();
        wait_until(PATIENCE, || reader_state(self.reader).is_some_and(|r| r.atr.as_deref() == Some(&atr)))
            .with_context(|| format!("{:?} does not show the card:\n{}", self.reader, self.log_text()))
    }

    /// The card process's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Kills the process at once (SIGKILL: a torn card) and waits until the reader is empty.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        wait_for_empty(self.reader)
    }

    /// Sends SIGTERM and returns the exit code.
    pub fn terminate(&mut self) -> anyhow::Result<Option<i32>> {
        let Some(mut child) = self.child.take() else { bail!("the card process is not running") };
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status()?;
        if !status.success() {
            bail!("kill -TERM failed");
        }
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status.code());
            }
            if start.elapsed() > PATIENCE {
                child.kill()?;
                bail!("the card process ignored SIGTERM:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for CardProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ignored = child.kill();
            let _ignored = child.wait();
            let _ignored = wait_for_empty(self.reader);
        }
    }
}

/// `cardgate server` on a free port, its data (SQLite, keys, admin token) in a directory; killed
/// when dropped.
#[derive(Debug)]
pub struct IssuerServer {
    child: Child,
    /// Where it listens (`http://127.0.0.1:PORT`).
    pub url: String,
    /// The admin token file (for `--admin-token-file`).
    pub token_file: PathBuf,
}

impl IssuerServer {
    /// Starts it with its data in `dir/issuer` and waits for its ready file.
    pub fn start(dir: &Path) -> anyhow::Result<IssuerServer> {
        let data = dir.join("issuer");
        let ready = dir.join("issuer.ready");
        let child = Command::new(cardgate())
            .args(["server", "--listen", "127.0.0.1:0", "--data"])
            .arg(&data)
            .arg("--ready-file")
            .arg(&ready)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start cardgate server")?;
        let mut server = IssuerServer { child, url: String::new(), token_file: data.join("admin.token") };
        wait_until(PATIENCE, || ready.exists()).context("the issuer server did not start")?;
        server.url = std::fs::read_to_string(&ready)?.trim().to_owned();
        Ok(server)
    }

    /// `--server URL --admin-token-file FILE`.
    pub fn admin_args(&self) -> Vec<String> {
        vec![
            "--server".into(),
            self.url.clone(),
            "--admin-token-file".into(),
            self.token_file.display().to_string(),
        ]
    }
}

impl Drop for IssuerServer {
    fn drop(&mut self) {
        let _ignored = self.child.kill();
        let _ignored = self.child.wait();
    }
}

/// Uppercase hex with no spaces.
pub fn hex_upper(bytes: &[u8]) -> String {
    hex::encode_upper(bytes)
}
