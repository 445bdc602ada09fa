//! The process-kill campaign (RELIABILITY.md, "Process kills"): `kill -9` (SIGKILL) of the real
//! `cardgate` processes at random moments of their work, then checks that nothing was lost or
//! counted twice and that a retry completes the work.
//!
//! - **The card process**, two ways: the card in-process in a client (`cardgate apdu -r emu:PATH`
//!   sending a hundred INCREMENTs, each saved to the state file before it is answered), and the
//!   card served to pcscd through vpcd (`cardgate card serve`) while a PC/SC client sends the
//!   same. Afterwards the state file loads, the counter is the last answered value (or one more:
//!   saved, then killed before the answer left), it never goes back, and a restarted card answers
//!   from it.
//! - **`cardgate present`** (the card in the wallet's process): the wallet counter in the state
//!   file never goes back and the retry presents the next counter.
//! - **`cardgate accept`**: a payment reported ACCEPTED is in the queue; the queue holds a code at
//!   most once; the retry either accepts it or says it was already accepted here, and then the
//!   queue holds it exactly once.
//! - **`cardgate settle`** and **`cardgate server`** (killed while a settle uploads small batches;
//!   restarted on its data and port): the queue and the server's ledger agree on every verdict,
//!   the account's used amount is the sum of the accepted payments, and after the retry every
//!   payment accepted by the merchant is settled exactly once.
//!
//! `make test` runs a short campaign; `scripts/reliability/kills.sh` sets `KILL_RUNS` (kills of the
//! in-process card; the other targets scale with it). `KILL_SEED` replays the random delays; the
//! seed is printed. Figures are printed as Markdown (with `--nocapture`).

// Test code: a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use cardgate_tests::rng::Rng;
use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use applet::FileCard;
use applet::store::ObjectKey;
use cardgate_tests::{CardProcess, Output, PATIENCE, SLOT0, VpcdLock, cardgate, init_card, run, wait_until};

/// The diagnostic applet's counter, and the wallet's sequence counter (the applets' own numbering).
const DIAG_COUNTER: ObjectKey = ObjectKey { owner: 1, id: 1 };
const WALLET_COUNTER: ObjectKey = ObjectKey { owner: 2, id: 2 };
/// INCREMENTs sent by one client run.
const INCREMENTS: usize = 100;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn seed(var: &str) -> u64 {
    std::env::var(var).ok().map(|v| v.parse().expect("a number")).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    })
}

fn runs() -> Option<u64> {
    std::env::var("KILL_RUNS").ok().map(|v| v.parse().expect("KILL_RUNS is a number"))
}

/// Figures of one kind of kill.
#[derive(Debug, Default, Clone)]
struct Tally {
    runs: u64,
    /// SIGKILLs sent while the process was still working.
    landed: u64,
    /// Work reported done (or stored) that was missing afterwards.
    losses: u64,
    /// Work counted twice.
    duplicates: u64,
    /// Retries that did not complete the work.
    failed_retries: u64,
    /// Uninterrupted runs timed, and their total time: kills are spread over 0 to 1.25 times
    /// their mean duration.
    timed: u32,
    total: Duration,
}

impl Tally {
    fn window(&self) -> Duration {
        if self.timed == 0 { Duration::from_millis(150) } else { (self.total / self.timed).mul_f64(1.25) }
    }
}

/// The campaign's figures, and its violations (each also counted in a tally).
#[derive(Default)]
struct Campaign {
    tallies: BTreeMap<&'static str, Tally>,
    violations: Vec<String>,
}

impl Campaign {
    fn tally(&mut self, what: &'static str) -> &mut Tally {
        self.tallies.entry(what).or_default()
    }

    fn violation(&mut self, what: &'static str, kind: fn(&mut Tally) -> &mut u64, message: String) {
        eprintln!("VIOLATION ({what}): {message}");
        *kind(self.tally(what)) += 1;
        self.violations.push(format!("{what}: {message}"));
    }

    /// Records an uninterrupted run that took `took`, for the kill window.
    fn observe(&mut self, what: &'static str, took: Duration) {
        let t = self.tally(what);
        t.timed += 1;
        t.total += took;
    }

    fn print(&self, title: &str, seed: u64, started: Instant) {
        println!("#### {title} (seed `{seed}`, {:.0} s)", started.elapsed().as_secs_f64());
        println!(
            "| Process killed | Runs | Kills during work | Losses | Counted twice | Failed retries | Kill window |"
        );
        println!("|---|---|---|---|---|---|---|");
        for (what, t) in &self.tallies {
            println!(
                "| {what} | {} | {} | {} | {} | {} | 0–{} ms |",
                t.runs,
                t.landed,
                t.losses,
                t.duplicates,
                t.failed_retries,
                t.window().as_millis()
            );
        }
    }

    fn assert_clean(&self, seed: u64) {
        assert!(
            self.violations.is_empty(),
            "{} violations (seed {seed}): {:#?}",
            self.violations.len(),
            self.violations
        );
    }
}

/// Starts `cardgate ARGS` and kills it (SIGKILL) at a random moment of `what`'s kill window, recording in its tally whether the
/// kill landed, and how long the process took when it finished first (so that the window follows
/// the machine's speed).
fn kill_run(c: &mut Campaign, what: &'static str, args: &[&str], rng: &mut Rng) -> Output {
    let delay = rng.delay(c.tally(what).window());
    let (out, landed, took) = sigkill_after(spawn(args), args, delay);
    let t = c.tally(what);
    t.runs += 1;
    t.landed += u64::from(landed);
    if let Some(took) = took {
        c.observe(what, took);
    }
    out
}

fn spawn(args: &[&str]) -> Child {
    Command::new(cardgate())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start cardgate {args:?}: {e}"))
}

/// Kills `child` after `delay` unless it exits first; returns its output, whether the kill landed
/// while it was working, and (if it exited first) about how long it took.
fn sigkill_after(mut child: Child, args: &[&str], delay: Duration) -> (Output, bool, Option<Duration>) {
    let start = Instant::now();
    let deadline = start + delay;
    let mut took = None;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            took = Some(start.elapsed());
            break;
        }
        std::thread::sleep(
            Duration::from_micros(500).min(deadline.saturating_duration_since(Instant::now())),
        );
    }
    let landed = took.is_none() && child.try_wait().unwrap().is_none();
    if landed {
        child.kill().unwrap();
    }
    (collect(child, args), landed, took)
}

fn collect(mut child: Child, args: &[&str]) -> Output {
    let (mut stdout, mut stderr) = (String::new(), String::new());
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = child.wait().unwrap();
    Output { command: format!("cardgate {}", args.join(" ")), code: status.code(), stdout, stderr }
}

/// Runs `cardgate ARGS` to completion, timing it.
fn timed(args: &[&str]) -> (Output, Duration) {
    let start = Instant::now();
    let out = run(cardgate(), args);
    (out, start.elapsed())
}

/// A counter object of the card in `state`, read from the file as the next process would.
fn counter(state: &Path, key: ObjectKey) -> Result<u64, String> {
    let card = FileCard::read(state, applet::apps::catalog()).map_err(|e| e.to_string())?;
    Ok(card.store().read(key).map_or(0, |b| b.iter().fold(0, |acc, &x| (acc << 8) | u64::from(x))))
}

/// The last counter value a client printed for an INCREMENT (`< 0000002A 9000 ...`).
fn last_answered(out: &Output) -> Option<u64> {
    out.stdout.lines().rev().filter_map(|l| l.strip_prefix("< ")).find_map(|l| {
        let mut words = l.split_whitespace();
        let (value, sw) = (words.next()?, words.next()?);
        (sw == "9000" && value.len() == 8).then(|| u64::from_str_radix(value, 16).ok()).flatten()
    })
}

fn increments() -> Vec<&'static str> {
    vec!["8022000000"; INCREMENTS]
}

/// One kill of a card process running INCREMENTs, checked against the state file.
fn check_card_kill(
    c: &mut Campaign,
    what: &'static str,
    state: &Path,
    before: u64,
    out: &Output,
    landed: bool,
) -> u64 {
    let answered = last_answered(out).unwrap_or(before);
    match counter(state, DIAG_COUNTER) {
        Err(e) => {
            c.violation(what, |t| &mut t.losses, format!("the state file does not load after the kill: {e}"));
            before
        }
        Ok(now) => {
            // Saved before answered: the file holds the last answered value, or the next one if the
            // kill came between the save and the answer.
            if now < answered {
                c.violation(what, |t| &mut t.losses, format!("answered {answered}, the file holds {now}"));
            }
            if now > answered + u64::from(landed) {
                c.violation(
                    what,
                    |t| &mut t.duplicates,
                    format!("answered {answered}, the file holds {now}"),
                );
            }
            now
        }
    }
}

#[test]
fn kill_9_of_a_card_in_a_client_process_keeps_the_last_answered_state() {
    let started = Instant::now();
    let seed = seed("KILL_SEED");
    let n = runs().unwrap_or(10);
    println!("card kills: seed {seed} (KILL_SEED={seed} replays the delays), {n} runs");
    let mut rng = Rng::new(seed);
    let mut c = Campaign::default();
    let dir = tempfile::tempdir().unwrap();

    // The card in the client's process (`-r emu:PATH`): the state file is the card.
    const EMU: &str = "card in a client (`apdu -r emu:`)";
    let state = dir.path().join("card");
    init_card(&state, &[]);
    let reader = format!("emu:{}", state.display());
    let mut args = vec!["apdu", "-r", &reader];
    args.extend(increments());
    let (out, took) = timed(&args);
    out.success();
    c.observe(EMU, took);
    let mut value = counter(&state, DIAG_COUNTER).unwrap();
    assert_eq!(value, INCREMENTS as u64);
    for _ in 0..n {
        let out = kill_run(&mut c, EMU, &args, &mut rng);
        let landed = out.code.is_none();
        let now = check_card_kill(&mut c, EMU, &state, value, &out, landed);
        // The retry: the card opens (the dead process's lock is gone) and counts on from the file.
        let out = run(cardgate(), &["apdu", "-r", &reader, "8022000000"]);
        if out.code != Some(0) || last_answered(&out) != Some(now + 1) {
            c.violation(EMU, |t| &mut t.failed_retries, format!("retry after {now}: {out}"));
        }
        value = counter(&state, DIAG_COUNTER).unwrap_or(value);
    }

    c.print("Card process kills: the card in a client's process", seed, started);
    c.assert_clean(seed);
}

#[test]
fn kill_9_of_card_serve_keeps_the_last_answered_state() {
    let seed = seed("KILL_SEED");
    let served_runs = runs().map_or(3, |r| (r / 10).max(3));
    let mut rng = Rng::new(seed ^ 0x5E4E);
    let mut c = Campaign::default();
    let dir = tempfile::tempdir().unwrap();
    // The card served to pcscd through vpcd; the client is a PC/SC program.
    const SERVED: &str = "`card serve` (pcscd + vpcd)";
    let waited = Instant::now();
    let _lock = VpcdLock::acquire().unwrap();
    let started = Instant::now();
    println!(
        "served card kills: seed {seed} (KILL_SEED={seed} replays the delays), {served_runs} runs, {:.0} s waited for the vpcd lock",
        waited.elapsed().as_secs_f64()
    );
    let state = dir.path().join("served");
    init_card(&state, &[]);
    let mut args = vec!["apdu", "-r", SLOT0.1];
    args.extend(increments());
    let mut served = CardProcess::serve(&state, dir.path()).unwrap();
    let (out, took) = timed(&args);
    out.success();
    c.observe(SERVED, took);
    let mut value = counter(&state, DIAG_COUNTER).unwrap();
    for _ in 0..served_runs {
        let delay = rng.delay(c.tally(SERVED).window());
        let mut client = spawn(&args);
        std::thread::sleep(delay);
        let client_running = client.try_wait().unwrap().is_none();
        served.kill().unwrap();
        // The client sees the card go; it must not hang.
        let (out, client_landed, _) = sigkill_after(client, &args, PATIENCE);
        if client_landed {
            c.violation(SERVED, |t| &mut t.failed_retries, "the client hung after the card died".into());
        }
        let t = c.tally(SERVED);
        t.runs += 1;
        t.landed += u64::from(client_running);
        let now = check_card_kill(&mut c, SERVED, &state, value, &out, true);
        // Restart the card: it answers from its file, and counts on.
        served = CardProcess::serve(&state, dir.path()).unwrap();
        let out = run(cardgate(), &["apdu", "-r", SLOT0.1, "8022000000"]);
        if out.code != Some(0) || last_answered(&out) != Some(now + 1) {
            c.violation(SERVED, |t| &mut t.failed_retries, format!("retry after {now}: {out}"));
        }
        value = counter(&state, DIAG_COUNTER).unwrap_or(value);
    }
    drop(served);

    c.print("Card process kills: `card serve` through pcscd + vpcd", seed, started);
    c.assert_clean(seed);
}

/// `cardgate server` on a data directory, restartable on the same port.
struct Server {
    child: Option<Child>,
    data: PathBuf,
    ready: PathBuf,
    url: String,
}

impl Server {
    fn start(dir: &Path, listen: &str) -> anyhow::Result<Server> {
        let data = dir.join("issuer");
        let ready = dir.join("issuer.ready");
        let mut server = Server { child: None, data, ready, url: String::new() };
        server.spawn(listen)?;
        Ok(server)
    }

    fn spawn(&mut self, listen: &str) -> anyhow::Result<()> {
        let _ignored = std::fs::remove_file(&self.ready);
        let mut child = Command::new(cardgate())
            .args(["server", "--listen", listen, "--data", s(&self.data), "--ready-file", s(&self.ready)])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let ready = &self.ready;
        let mut exited = false;
        wait_until(PATIENCE, || {
            exited = matches!(child.try_wait(), Ok(Some(_)));
            exited || std::fs::read_to_string(ready).is_ok_and(|t| t.trim().starts_with("http"))
        })?;
        anyhow::ensure!(!exited, "the server exited at start (listening on {listen})");
        self.url = std::fs::read_to_string(ready)?.trim().to_owned();
        self.child = Some(child);
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ignored = child.kill();
            let _ignored = child.wait();
        }
    }

    /// Starts it again on its data, on the same port if it is free, otherwise on another.
    fn restart(&mut self) {
        let addr = self.url.trim_start_matches("http://").to_owned();
        if self.spawn(&addr).is_err() {
            self.spawn("127.0.0.1:0").unwrap();
        }
    }

    fn admin(&self) -> Vec<String> {
        let token = self.data.join("admin.token");
        vec!["--server".into(), self.url.clone(), "--admin-token-file".into(), token.display().to_string()]
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn open(db: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

/// The merchant queue's rows for a payload: (payment id, amount).
fn queued(queue: &Path, payload: &str) -> Vec<(String, i64)> {
    let db = open(queue);
    let mut st = db.prepare("SELECT payment_id, amount FROM payments WHERE payload = ?1").unwrap();
    st.query_map([payload], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
}

/// Checks the queue against the server's ledger; with `complete`, also that everything the model
/// says the merchant accepted is settled, accepted, once.
fn check_ledger(
    c: &mut Campaign,
    what: &'static str,
    queue: &Path,
    server_db: &Path,
    accepted: &BTreeMap<String, i64>,
    complete: bool,
) {
    let q = open(queue);
    let rows: Vec<(String, i64, Option<String>)> = q
        .prepare("SELECT payment_id, amount, verdict FROM payments")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let srv = open(server_db);
    let verdicts: BTreeMap<String, (i64, String, i64)> = srv
        .prepare("SELECT payment_id, amount, verdict, COUNT(*) FROM payment_verdicts WHERE merchant_id = 'SHOP-A' GROUP BY payment_id")
        .unwrap()
        .query_map([], |r| Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?, r.get(3)?))))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let used: i64 =
        srv.query_row("SELECT used FROM payment_accounts WHERE name = 'alice'", [], |r| r.get(0)).unwrap();
    let accepted_sum: i64 =
        verdicts.values().filter(|(_, v, _)| v == "accepted").map(|(amount, _, n)| amount * n).sum();
    if used != accepted_sum {
        c.violation(
            what,
            |t| &mut t.duplicates,
            format!("the account used {used}, accepted verdicts sum to {accepted_sum}"),
        );
    }
    for (id, (_, _, n)) in &verdicts {
        if *n != 1 {
            c.violation(what, |t| &mut t.duplicates, format!("payment {id} has {n} verdicts"));
        }
    }
    for (id, amount) in accepted {
        if !rows.iter().any(|(r, a, _)| r == id && a == amount) {
            c.violation(what, |t| &mut t.losses, format!("accepted payment {id} is not in the queue"));
        }
    }
    for (id, _, verdict) in &rows {
        match (verdict, verdicts.get(id)) {
            (Some(v), Some((_, sv, _))) if v.eq_ignore_ascii_case(sv) => {}
            (Some(v), other) => {
                c.violation(
                    what,
                    |t| &mut t.losses,
                    format!("payment {id}: queue says {v}, server {other:?}"),
                );
            }
            (None, _) if complete => {
                c.violation(
                    what,
                    |t| &mut t.failed_retries,
                    format!("payment {id} still pending after the retry"),
                );
            }
            (None, _) => {}
        }
    }
    if complete {
        let expected: i64 = accepted.values().sum();
        if used != expected || rows.len() != accepted.len() {
            c.violation(
                what,
                |t| &mut t.losses,
                format!(
                    "{} queued, {} accepted; used {used}, expected {expected}",
                    rows.len(),
                    accepted.len()
                ),
            );
        }
        if verdicts.values().any(|(_, v, _)| v != "accepted") {
            c.violation(
                what,
                |t| &mut t.duplicates,
                format!("a payment was refused at settlement: {verdicts:?}"),
            );
        }
    }
}

#[test]
fn kill_9_of_present_accept_settle_and_the_server_loses_nothing_and_counts_nothing_twice() {
    let started = Instant::now();
    let seed = seed("KILL_SEED");
    let rounds = runs().map_or(4, |r| (r / 4).max(4));
    println!("payment kills: seed {seed} (KILL_SEED={seed} replays the delays), {rounds} rounds");
    let mut rng = Rng::new(seed ^ 0x5EED);
    let mut c = Campaign::default();
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), "127.0.0.1:0").unwrap();
    let server_db = server.data.join("cardgate.db");
    let queue = dir.path().join("shop-a.db");
    let card = dir.path().join("card");
    let reader = format!("emu:{}", card.display());
    let cg = |args: Vec<String>| run(cardgate(), &args.iter().map(String::as_str).collect::<Vec<_>>());
    let with = |server: &Server, base: &[&str], more: &[&str]| -> Vec<String> {
        let admin = server.admin();
        base.iter()
            .map(|s| (*s).to_owned())
            .chain(admin)
            .chain(more.iter().map(|s| (*s).to_owned()))
            .collect()
    };
    cg(with(&server, &["issuer", "create-account"], &["--account", "alice", "--credit-limit", "1000000.00"]))
        .success();
    cg(with(&server, &["merchant", "register"], &["--id", "SHOP-A", "--mcc", "5411", "--queue", s(&queue)]))
        .success();
    init_card(&card, &[]);
    cg(with(
        &server,
        &["issue", "-r", &reader],
        &["--account", "alice", "--valid-for", "1day", "--uses", "60000", "--threshold", "200.00"],
    ))
    .success();

    const PRESENT: &str = "`present` (card in process)";
    const ACCEPT: &str = "`accept`";
    const SETTLE: &str = "`settle`";
    const SERVER: &str = "`server` (during a settle)";
    let mut accepted: BTreeMap<String, i64> = BTreeMap::new();
    let mut wallet = 0;
    for round in 0..rounds {
        for _ in 0..3 {
            let minor = rng.range(100, 19_999) as i64;
            let amount = format!("{}.{:02}", minor / 100, minor % 100);
            // present, killed: the wallet counter in the file never goes back.
            let args = ["present", "-r", &reader, "--amount", &amount, "--text"];
            kill_run(&mut c, PRESENT, &args, &mut rng);
            match counter(&card, WALLET_COUNTER) {
                Ok(now) if now >= wallet => wallet = now,
                other => c.violation(
                    PRESENT,
                    |t| &mut t.losses,
                    format!("wallet counter {wallet}, then {other:?}"),
                ),
            }
            let (out, took) = timed(&args);
            c.observe(PRESENT, took);
            let expected = format!("counter {}", wallet + 1);
            if out.code != Some(0) || !out.stderr.contains(&expected) {
                c.violation(PRESENT, |t| &mut t.failed_retries, format!("retry, expected {expected}: {out}"));
                continue;
            }
            wallet += 1;
            let payload = out.stdout.trim().to_owned();

            // accept, killed: what it reported accepted is queued, at most once.
            let args = ["accept", "--payload", &payload, "--amount", &amount, "--queue", s(&queue)];
            let out = kill_run(&mut c, ACCEPT, &args, &mut rng);
            let rows = queued(&queue, &payload);
            if let Some(id) = out.stdout.lines().find_map(|l| l.strip_prefix("ACCEPTED payment "))
                && !rows.iter().any(|(r, _)| r == id.trim())
            {
                c.violation(ACCEPT, |t| &mut t.losses, format!("reported {id} accepted, queue has {rows:?}"));
            }
            if rows.len() > 1 {
                c.violation(ACCEPT, |t| &mut t.duplicates, format!("queued {} times", rows.len()));
            }
            let (out, took) = timed(&args);
            let retried_ok = match (rows.first(), out.code) {
                (None, Some(0)) => {
                    c.observe(ACCEPT, took);
                    out.stdout.contains("ACCEPTED")
                }
                (Some((id, _)), Some(3)) => {
                    out.stdout.contains(&format!("already accepted here as payment {id}"))
                }
                _ => false,
            };
            let rows = queued(&queue, &payload);
            if !retried_ok || rows.len() != 1 || rows[0].1 != minor {
                c.violation(ACCEPT, |t| &mut t.failed_retries, format!("retry: {out}, queue {rows:?}"));
            }
            if let Some((id, amount)) = rows.first() {
                accepted.insert(id.clone(), *amount);
            }
        }

        let batch = rng.range(1, 3).to_string();
        if round % 2 == 0 {
            // settle, killed in the middle of its uploads; the retry finishes.
            let args = ["settle", "--queue", s(&queue), "--server", &server.url, "--batch", &batch];
            kill_run(&mut c, SETTLE, &args, &mut rng);
            check_ledger(&mut c, SETTLE, &queue, &server_db, &accepted, false);
            let (out, took) = timed(&args);
            if out.code != Some(0) {
                c.violation(SETTLE, |t| &mut t.failed_retries, format!("retry: {out}"));
            }
            c.observe(SETTLE, took);
            // The server kills are spread over the time a settle takes, too.
            c.observe(SERVER, took);
            check_ledger(&mut c, SETTLE, &queue, &server_db, &accepted, true);
        } else {
            // The server, killed while a settle uploads to it; restarted on its data and port, the
            // settle's own retries finish the work (or a second settle does).
            let url = server.url.clone();
            let args =
                ["settle", "--queue", s(&queue), "--server", &url, "--batch", &batch, "--retry-for", "20s"];
            let settle = spawn(&args);
            // Spread over the time a settle takes (timed in the settle rounds).
            std::thread::sleep(rng.delay(c.tally(SERVER).window()));
            let landed = {
                let mut probe = settle;
                let running = probe.try_wait().unwrap().is_none();
                server.kill();
                let t = c.tally(SERVER);
                t.runs += 1;
                t.landed += u64::from(running);
                check_ledger(&mut c, SERVER, &queue, &server_db, &accepted, false);
                server.restart();
                let (out, _, _) = sigkill_after(probe, &args, PATIENCE * 2);
                (running, out)
            };
            let (_, out) = landed;
            if out.code != Some(0) || server.url != url {
                let retry = ["settle", "--queue", s(&queue), "--server", &server.url, "--batch", &batch];
                let out = run(cardgate(), &retry);
                if out.code != Some(0) {
                    c.violation(SERVER, |t| &mut t.failed_retries, format!("retry: {out}"));
                }
            }
            check_ledger(&mut c, SERVER, &queue, &server_db, &accepted, true);
        }
    }
    for db in [&queue, &server_db] {
        let ok: String = open(db).query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok", "{}", db.display());
    }
    let account = cg(with(&server, &["issuer", "account"], &["alice"]));
    account.success();
    let total: i64 = accepted.values().sum();
    account.stdout_has(&format!("used {}.{:02} CNY", total / 100, total % 100));
    println!(
        "{} payments accepted and settled once each, {}.{:02} CNY in all",
        accepted.len(),
        total / 100,
        total % 100
    );
    c.print("Payment process kills", seed, started);
    c.assert_clean(seed);
}
