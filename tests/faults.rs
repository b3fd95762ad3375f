//! Faults during a copy: the process killed at the worst moments, its
//! connections terminated, the server restarted under it, a polite stop,
//! several processes sharing one copy, and a source that changed before a
//! resume. Every case ends with the target exact (`ferry verify --full`),
//! every row present once, every ledger chunk done and every table recorded
//! built.
//!
//! The source is a generated mail database of 20,000 emails copied in
//! chunks of 500 rows over two connections: about 120 chunks and a second
//! or two of work, long enough to strike in the middle. Each test watches
//! the target's ledger every 20 ms to pick its moment, and every wait is
//! bounded so a hung copy fails the test instead of hanging the suite.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::cluster::Cluster;
use crate::util::{ferry, Run, TestDb};

/// The longest any copy, or any moment a test waits for, may take.
const TIMEOUT: Duration = Duration::from_secs(60);
/// How often the ledger is polled.
const POLL: Duration = Duration::from_millis(20);
/// The tables of the mail fixture; each has an `id` key.
const TABLES: [&str; 3] = ["accounts", "emails", "events"];

/// The mail database every test copies, generated once per test process.
///
/// It is written to a scratch name and renamed into place: the generator
/// is deterministic, so a concurrent test process replacing the file
/// replaces it with the same bytes.
fn mail_source() -> &'static Path {
    static SOURCE: OnceLock<PathBuf> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let path = dir.join("faults-mail-20000-seed7.sqlite");
        let scratch = dir.join(format!("faults-mail-{}.sqlite", std::process::id()));
        ferry_fixtures::write_mail(
            &scratch,
            ferry_fixtures::MailOptions {
                emails: 20_000,
                seed: 7,
            },
            true,
        )
        .expect("generate the mail fixture");
        std::fs::rename(&scratch, &path).expect("move the mail fixture into place");
        path
    })
}

/// `ferry copy` of `source` into `url` in small chunks over two
/// connections, plus `extra`.
fn copy_args(source: &Path, url: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "copy",
        "--source",
        source.to_str().unwrap(),
        "--target",
        url,
        "--format",
        "json",
        "--chunk-rows",
        "500",
    ]
    .map(str::to_owned)
    .to_vec();
    if !extra.contains(&"--jobs") {
        args.extend(["--jobs".to_owned(), "2".to_owned()]);
    }
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    args
}

/// A `ferry` process the test can signal. Dropping it kills the process,
/// so a failing test leaves nothing running.
struct Running {
    child: Child,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

impl Running {
    fn spawn(args: &[String]) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(args)
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ferry");
        // Drained on threads so a chatty process never blocks on a full
        // pipe.
        let drain = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                String::from_utf8_lossy(&bytes).into_owned()
            })
        };
        let stdout = Some(drain(Box::new(child.stdout.take().unwrap())));
        let stderr = Some(drain(Box::new(child.stderr.take().unwrap())));
        Running {
            child,
            stdout,
            stderr,
        }
    }

    fn copy(source: &Path, url: &str, extra: &[&str]) -> Running {
        Running::spawn(&copy_args(source, url, extra))
    }

    fn has_exited(&mut self) -> bool {
        self.child.try_wait().expect("poll ferry").is_some()
    }

    /// Sends `signal` (`KILL`, `TERM`…) to the process.
    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the process to exit; kills it and fails after [`TIMEOUT`].
    fn finish(mut self) -> Run {
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("poll ferry") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let stderr = self.stderr.take().unwrap().join().unwrap();
                panic!("ferry did not finish within {TIMEOUT:?}; stderr:\n{stderr}");
            }
            std::thread::sleep(POLL);
        };
        Run {
            code: status.code().unwrap_or(-1),
            stdout: self.stdout.take().unwrap().join().unwrap(),
            stderr: self.stderr.take().unwrap().join().unwrap(),
        }
    }

    /// Waits until `ready` holds, failing if the process exits first (the
    /// moment was missed) or after [`TIMEOUT`].
    fn wait_until(&mut self, what: &str, mut ready: impl FnMut() -> bool) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if ready() {
                return;
            }
            if self.has_exited() {
                let stderr = self.stderr.take().unwrap().join().unwrap();
                panic!("ferry exited before {what}; stderr:\n{stderr}");
            }
            assert!(Instant::now() < deadline, "waited {TIMEOUT:?} for {what}");
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn connect(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).expect("connect to the target")
}

/// A count from the target; `None` while the query fails (the ledger does
/// not exist yet, or the server is restarting).
fn count(client: &mut postgres::Client, sql: &str) -> Option<i64> {
    client.query_one(sql, &[]).ok().map(|row| row.get(0))
}

fn done_chunks(client: &mut postgres::Client) -> Option<i64> {
    count(
        client,
        "SELECT count(*) FROM ferry.chunks WHERE status = 'done'",
    )
}

fn all_chunks(client: &mut postgres::Client) -> Option<i64> {
    count(client, "SELECT count(*) FROM ferry.chunks")
}

/// True once at least `share` of the copy's chunks have committed.
fn committed_share(client: &mut postgres::Client, share: f64) -> bool {
    match (done_chunks(client), all_chunks(client)) {
        (Some(done), Some(all)) if all > 0 => done >= 1 && done as f64 >= all as f64 * share,
        _ => false,
    }
}

fn copy_status(client: &mut postgres::Client) -> Option<String> {
    client
        .query_opt("SELECT status FROM ferry.copies", &[])
        .ok()
        .flatten()
        .map(|row| row.get(0))
}

/// Waits until the server has ended every session of a stopped ferry on
/// `database`. A killed client's backend can outlive it for a moment,
/// still holding its chunk's lock; a resume started then would skip that
/// chunk as another process's work.
fn wait_for_sessions_to_end(watch: &mut postgres::Client, database: &str) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let others: i64 = watch
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                  WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&database],
            )
            .unwrap()
            .get(0);
        if others == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "ferry's sessions still open after {TIMEOUT:?}"
        );
        std::thread::sleep(POLL);
    }
}

/// `ferry copy --if-exists resume` with the test's chunking, run to the
/// end.
fn resume(source: &Path, url: &str, extra: &[&str]) -> Run {
    let mut more = vec!["--if-exists", "resume"];
    more.extend_from_slice(extra);
    Running::copy(source, url, &more).finish()
}

/// The target is exact and complete: `ferry verify --full` passes, every
/// table holds as many rows as the source and each key once, and every
/// chunk of the ledger committed.
#[track_caller]
/// `ferry verify --full` of `url` against `source`, as JSON.
fn verify_full(source: &Path, url: &str) -> Run {
    ferry(&[
        "verify",
        "--source",
        source.to_str().unwrap(),
        "--target",
        url,
        "--full",
        "--format",
        "json",
        // The bad rows some tests plant must stay bad values, not widen
        // their columns: the same types as those tests' copies.
        "--types",
        "declared",
    ])
}

fn assert_intact(source: &Path, url: &str) {
    verify_full(source, url).assert_ok();
    let sqlite =
        rusqlite::Connection::open_with_flags(source, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut pg = connect(url);
    for table in TABLES {
        let row = pg
            .query_one(
                &format!("SELECT count(*), count(DISTINCT id) FROM public.{table}"),
                &[],
            )
            .unwrap();
        let (rows, keys): (i64, i64) = (row.get(0), row.get(1));
        assert_eq!(rows, keys, "{table}: a key appears more than once");
        let expected: i64 = sqlite
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, expected, "{table}: row count");
    }
    let unfinished = count(
        &mut pg,
        "SELECT count(*) FROM ferry.chunks WHERE status <> 'done'",
    );
    assert_eq!(unfinished, Some(0), "chunks left pending in the ledger");
    // Every table's keys recorded built, each by one builder.
    let unbuilt = count(
        &mut pg,
        "SELECT count(*) FROM ferry.builds WHERE status <> 'done' OR builder_pid IS NULL",
    );
    assert_eq!(unbuilt, Some(0), "tables left unbuilt in the ledger");
    let builds = count(&mut pg, "SELECT count(*) FROM ferry.builds");
    assert_eq!(builds, Some(TABLES.len() as i64), "builds in the ledger");
    let statuses: Vec<String> = pg
        .query("SELECT status FROM ferry.copies", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(statuses, ["done"], "the copy's status");
}

/// Kills ferry with SIGKILL once `moment` holds, then resumes.
fn killed_then_resumed(moment: &str, mut ready: impl FnMut(&mut postgres::Client) -> bool) {
    let source = mail_source();
    let db = TestDb::new();
    let mut watch = db.client();
    let mut copying = Running::copy(source, &db.url, &[]);
    copying.wait_until(moment, || ready(&mut watch));
    copying.signal("KILL");
    let killed = copying.finish();
    assert_eq!(killed.code, -1, "ferry should have died of SIGKILL");
    assert!(
        count(
            &mut watch,
            "SELECT count(*) FROM ferry.copies WHERE status <> 'done'"
        ) == Some(1),
        "the killed copy should be unfinished"
    );
    wait_for_sessions_to_end(&mut watch, &db.name);

    resume(source, &db.url, &[]).assert_ok();
    assert_intact(source, &db.url);
}

#[test]
fn sigkill_after_the_first_chunk_then_resume() {
    killed_then_resumed("the first chunk to commit", |pg| {
        done_chunks(pg).is_some_and(|done| done >= 1)
    });
}

#[test]
fn sigkill_halfway_then_resume() {
    killed_then_resumed("half the chunks to commit", |pg| committed_share(pg, 0.5));
}

#[test]
fn sigkill_while_building_keys_then_resume() {
    killed_then_resumed("the copy to build keys and indexes", |pg| {
        copy_status(pg).as_deref() == Some("indexing")
    });
}

#[test]
fn terminated_connections_are_reopened_without_a_resume() {
    let source = mail_source();
    let db = TestDb::new();
    let mut watch = db.client();
    let mut copying = Running::copy(source, &db.url, &[]);
    copying.wait_until("a quarter of the chunks to commit", || {
        committed_share(&mut watch, 0.25)
    });
    let terminated = watch
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db.name],
        )
        .unwrap()
        .iter()
        .filter(|r| r.get::<_, bool>(0))
        .count();
    assert!(terminated >= 1, "no connection of ferry was terminated");

    let run = copying.finish();
    run.assert_ok();
    assert!(
        run.stderr.contains("connection lost"),
        "ferry should report the lost connections: {}",
        run.stderr
    );
    assert_intact(source, &db.url);
}

#[test]
fn sigterm_rolls_back_chunks_in_flight_and_resumes() {
    let source = mail_source();
    let db = TestDb::new();
    let mut watch = db.client();
    let mut copying = Running::copy(source, &db.url, &[]);
    copying.wait_until("a third of the chunks to commit", || {
        committed_share(&mut watch, 1.0 / 3.0)
    });
    copying.signal("TERM");
    let stopped = copying.finish();
    assert_eq!(stopped.code, 130, "stderr: {}", stopped.stderr);
    assert!(
        stopped.stderr.contains("--if-exists resume"),
        "{}",
        stopped.stderr
    );
    wait_for_sessions_to_end(&mut watch, &db.name);
    let pending = count(
        &mut watch,
        "SELECT count(*) FROM ferry.chunks WHERE status = 'pending'",
    );
    assert!(
        pending.is_some_and(|p| p > 0),
        "pending chunks: {pending:?}"
    );
    // No chunk is half-loaded: the rows in each table are exactly those of
    // its committed chunks.
    for table in TABLES {
        let rows = count(&mut watch, &format!("SELECT count(*) FROM public.{table}"));
        let committed = watch
            .query_one(
                "SELECT coalesce(sum(rows_written), 0)::bigint FROM ferry.chunks
                  WHERE target_table = $1 AND status = 'done'",
                &[&table],
            )
            .unwrap()
            .get::<_, i64>(0);
        assert_eq!(rows, Some(committed), "{table}");
    }

    resume(source, &db.url, &[]).assert_ok();
    assert_intact(source, &db.url);
}

#[test]
fn three_processes_share_one_copy_exactly_once() {
    let source = mail_source();
    let db = TestDb::new();
    let runs: Vec<Running> = (0..3)
        .map(|_| Running::copy(source, &db.url, &["--if-exists", "resume", "--jobs", "1"]))
        .collect();
    let runs: Vec<Run> = runs.into_iter().map(Running::finish).collect();
    for run in &runs {
        run.assert_ok();
    }
    // Each process reports only the chunks it committed: together they
    // read every source row once.
    let sqlite =
        rusqlite::Connection::open_with_flags(source, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    for table in TABLES {
        let read: u64 = runs
            .iter()
            .filter_map(|run| {
                run.json()["tables"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|t| t["table"] == table)
                    .and_then(|t| t["rows_read"].as_u64())
            })
            .sum();
        let expected: i64 = sqlite
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            i64::try_from(read).unwrap(),
            expected,
            "{table}: rows read by the three processes"
        );
    }
    assert_intact(source, &db.url);
}

#[test]
fn resume_refuses_a_changed_source_unless_allowed() {
    let source = mail_source();
    let db = TestDb::new();
    let mut watch = db.client();
    let mut copying = Running::copy(source, &db.url, &[]);
    copying.wait_until("a quarter of the chunks to commit", || {
        committed_share(&mut watch, 0.25)
    });
    copying.signal("TERM");
    assert_eq!(copying.finish().code, 130);
    wait_for_sessions_to_end(&mut watch, &db.name);

    let changed = ScratchFile::copy_of(source);
    let conn = rusqlite::Connection::open(&changed.0).unwrap();
    conn.execute_batch(
        "INSERT INTO events (ts, kind, account_id, value, amount)
         SELECT ts, kind, account_id, value, amount FROM events WHERE id <= 10;",
    )
    .unwrap();
    drop(conn);

    let refused = resume(&changed.0, &db.url, &[]);
    assert_eq!(refused.code, 2, "stderr: {}", refused.stderr);
    assert!(
        refused.stderr.contains("--allow-changed-source"),
        "{}",
        refused.stderr
    );

    let allowed = resume(&changed.0, &db.url, &["--allow-changed-source"]);
    allowed.assert_ok();
    // The rows added after the copy started lie past every planned chunk:
    // the copy holds the source as it was, and says the source moved on.
    let warnings = allowed.json()["warnings"].to_string();
    assert!(warnings.contains("changed during the copy"), "{warnings}");
    assert_intact(source, &db.url);
}

/// A file in the temp directory, removed when dropped.
struct ScratchFile(PathBuf);

impl ScratchFile {
    fn copy_of(path: &Path) -> ScratchFile {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let scratch = std::env::temp_dir().join(format!(
            "ferry-faults-{}-{}.sqlite",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::copy(path, &scratch).expect("copy the source");
        ScratchFile(scratch)
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A copy of the mail database with a bad timestamp every 1,000 rows of
/// `emails` and `events` (20 and 40 rows), for quarantining copies.
fn mail_source_with_bad_rows(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("faults-{name}-{}.sqlite", std::process::id()));
    std::fs::copy(mail_source(), &path).expect("copy the mail fixture");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "UPDATE emails SET received_at = 'not a date' WHERE id % 1000 = 0;
             UPDATE events SET ts = 'not a date' WHERE id % 1000 = 0;",
        )
        .unwrap();
    path
}

#[test]
fn unlogged_copy_reloads_what_a_server_crash_emptied() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let source = mail_source_with_bad_rows("unlogged");
    let url = cluster.create_database("unlogged");
    let mut watch = connect(&url);
    let mut copying = Running::copy(
        &source,
        &url,
        &[
            "--retries",
            "10",
            "--unlogged",
            "--on-error",
            "quarantine",
            "--types",
            "declared",
        ],
    );
    copying.wait_until("a quarter of the chunks to commit", || {
        committed_share(&mut watch, 0.25)
    });
    drop(watch);
    cluster.crash();

    let run = copying.finish();
    run.assert_ok();
    assert!(
        run.stderr.contains("emptied unlogged tables"),
        "ferry should reload the chunks the crash emptied: {}",
        run.stderr
    );
    let verify = verify_full(&source, &url);
    verify.assert_ok();
    let report = verify.json();
    let quarantined = |table: &str| {
        report["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["table"] == table)
            .map(|t| t["quarantined"].clone())
    };
    assert_eq!(quarantined("emails"), Some(20.into()));
    assert_eq!(quarantined("events"), Some(40.into()));

    let mut pg = connect(&url);
    // Each bad row recorded once, though some were quarantined before
    // the crash and again after it.
    let rejects = pg
        .query_one(
            "SELECT count(*), count(DISTINCT (target_table, row_key)) FROM ferry.rejects",
            &[],
        )
        .unwrap();
    assert_eq!(
        (rejects.get::<_, i64>(0), rejects.get::<_, i64>(1)),
        (60, 60)
    );
    let sqlite = rusqlite::Connection::open(&source).unwrap();
    for (table, bad) in [("accounts", 0), ("emails", 20), ("events", 40)] {
        let sql = format!("SELECT count(*) FROM {table}");
        let rows: i64 = sqlite.query_row(&sql, [], |r| r.get(0)).unwrap();
        let sql = format!("SELECT count(*), count(DISTINCT id) FROM public.{table}");
        let row = pg.query_one(&sql, &[]).unwrap();
        let (count, keys): (i64, i64) = (row.get(0), row.get(1));
        assert_eq!((count, keys), (rows - bad, rows - bad), "{table}");
    }
    let unlogged = count(
        &mut pg,
        "SELECT count(*) FROM pg_class
          WHERE relnamespace = 'public'::regnamespace AND relpersistence = 'u'",
    );
    assert_eq!(
        unlogged,
        Some(0),
        "every table is LOGGED once the copy is done"
    );
    std::fs::remove_file(&source).ok();
}

#[test]
fn server_restart_mid_copy_is_survived_without_a_resume() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let source = mail_source();
    let url = cluster.create_database("faults");
    let mut watch = connect(&url);
    let mut copying = Running::copy(source, &url, &["--retries", "10"]);
    copying.wait_until("a quarter of the chunks to commit", || {
        committed_share(&mut watch, 0.25)
    });
    drop(watch);
    cluster.restart();

    let run = copying.finish();
    run.assert_ok();
    assert!(
        run.stderr.contains("connection lost"),
        "ferry should report the lost connections: {}",
        run.stderr
    );
    assert_intact(source, &url);
}
