//! Issue 14, the process's side: a resumed copy that would mix two states
//! of the source, passwords in messages, snapshot copies left behind,
//! hangs on a silent server or a held lock, values only Postgres refuses,
//! and closed pipes.

use std::ffi::OsStr;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::util::{copy, ferry, TempSqlite, TestDb};

/// A generous bound against a hang, so a regression fails instead of
/// blocking the suite; no test asserts on how fast anything is.
const HANG_GUARD: Duration = Duration::from_secs(120);

/// Waits for `child`, killing it and failing if it outlives [`HANG_GUARD`].
pub(crate) fn wait(mut child: Child, what: &str) -> (i32, String, String) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stdout = String::new();
            let mut stderr = String::new();
            if let Some(mut out) = child.stdout.take() {
                let _ = out.read_to_string(&mut stdout);
            }
            if let Some(mut err) = child.stderr.take() {
                let _ = err.read_to_string(&mut stderr);
            }
            return (status.code().unwrap_or(-1), stdout, stderr);
        }
        if started.elapsed() > HANG_GUARD {
            let _ = child.kill();
            panic!("{what}: ferry hung");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts `ferry args…` with `env` set (and no inherited DATABASE_URL),
/// its output piped.
pub(crate) fn spawn(args: &[&str], env: &[(&str, &OsStr)]) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferry"));
    command.env_remove("DATABASE_URL");
    for (key, value) in env {
        command.env(key, value);
    }
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// A directory of its own, for TMPDIR; removed when dropped.
pub(crate) struct ScratchDir(pub(crate) PathBuf);

impl ScratchDir {
    pub(crate) fn new() -> ScratchDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ferry-process-safety-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        ScratchDir(dir)
    }

    pub(crate) fn snapshots(&self) -> Vec<PathBuf> {
        std::fs::read_dir(&self.0)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("ferry-snapshot-"))
            })
            .collect()
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A local TCP port that accepts connections and never says a word.
fn silent_server() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// [`source_rows`] with an impossible date in its last row, and a copy of
/// it in chunks of 10 that stopped there (exit 2), leaving chunks pending.
fn stopped_copy(db: &TestDb) -> TempSqlite {
    let source = source_rows(100);
    let conn = rusqlite::Connection::open(&source.path).unwrap();
    conn.execute("UPDATE t SET day = '2024-02-30' WHERE id = 100", [])
        .unwrap();
    drop(conn);
    let stopped = copy(&source.path, db, &["--chunk-rows", "10", "--jobs", "1"]);
    assert_eq!(stopped.code, 2, "{}", stopped.stderr);
    source
}

fn source_rows(rows: u32) -> TempSqlite {
    TempSqlite::new(&format!(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, day DATE);
         INSERT INTO t (n, day)
              WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {rows})
              SELECT i, '2024-01-01' FROM s;"
    ))
}

#[test]
fn issue_14_resume_refuses_a_source_updated_in_place() {
    let db = TestDb::new();
    let source = stopped_copy(&db);
    let conn = rusqlite::Connection::open(&source.path).unwrap();
    // Fix the bad value and change another row: same count, same rowids,
    // and in WAL mode SQLite's change counter does not move either.
    conn.execute_batch(
        "UPDATE t SET day = '2024-02-28' WHERE id = 100;
         UPDATE t SET n = -1 WHERE id = 1;",
    )
    .unwrap();
    drop(conn);
    let refused = copy(&source.path, &db, &["--if-exists", "resume", "--jobs", "1"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("the source changed since this copy started")
            && refused.stderr.contains("--allow-changed-source"),
        "{}",
        refused.stderr
    );

    copy(
        &source.path,
        &db,
        &[
            "--if-exists",
            "resume",
            "--allow-changed-source",
            "--jobs",
            "1",
        ],
    )
    .assert_ok();
}

#[test]
fn issue_14_resume_of_an_unchanged_source_is_allowed() {
    let db = TestDb::new();
    let source = stopped_copy(&db);
    // Unchanged: another snapshot of the same state fingerprints the same.
    let again = copy(
        &source.path,
        &db,
        &[
            "--if-exists",
            "resume",
            "--jobs",
            "1",
            "--on-error",
            "quarantine",
        ],
    );
    again.assert_ok();
    let mut client = db.client();
    let rows: i64 = client
        .query_one("SELECT count(*) FROM t", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 99);
}

const PASSWORD: &str = "Hunter2Secret";

#[test]
fn issue_14_no_message_shows_a_password_of_a_malformed_target() {
    let source = source_rows(3);
    let (_listener, port) = silent_server();
    let targets = [
        format!("postgress://app:{PASSWORD}@127.0.0.1:1/db"),
        format!("POSTGRES://app:{PASSWORD}@127.0.0.1:1/db"),
        format!("app:{PASSWORD}@127.0.0.1:1/db"),
        format!(" postgres://app:{PASSWORD}@127.0.0.1:1/db?sslmode=disable"),
        format!("postgres://app:Hun?ter{PASSWORD}@127.0.0.1:1/db"),
        format!("mysql://app:{PASSWORD}@127.0.0.1:1/db"),
        format!("host=127.0.0.1 port=1 PASSWORD={PASSWORD} bogus"),
        format!("host=127.0.0.1 port=1 user=app password={PASSWORD} sslmode=disable"),
        format!("postgres://app:{PASSWORD}@127.0.0.1:{port}/db?connect_timeout=1"),
    ];
    for target in &targets {
        for verbosity in ["-v", "-vv"] {
            for command in ["copy", "verify"] {
                let run = ferry(&[
                    command,
                    verbosity,
                    "--source",
                    source.path.to_str().unwrap(),
                    "--target",
                    target,
                ]);
                assert_ne!(run.code, 0, "{target}");
                for output in [&run.stdout, &run.stderr] {
                    assert!(
                        !output.contains(PASSWORD) && !output.contains("Hunter2"),
                        "{command} {verbosity} {target}:\n{output}"
                    );
                }
            }
        }
        // From the environment too.
        let child = spawn(
            &["copy", "-vv", "--source", source.path.to_str().unwrap()],
            &[("DATABASE_URL", OsStr::new(target))],
        );
        let (code, stdout, stderr) = wait(child, target);
        assert_ne!(code, 0);
        assert!(
            !stdout.contains(PASSWORD) && !stderr.contains(PASSWORD),
            "DATABASE_URL={target}:\n{stderr}"
        );
    }
    // A target given where clap does not expect it is quoted by clap.
    let run = ferry(&[
        "copy",
        "--source",
        source.path.to_str().unwrap(),
        &format!("postgres://app:{PASSWORD}@h/db"),
    ]);
    assert_eq!(run.code, 2);
    assert!(!run.stderr.contains(PASSWORD), "{}", run.stderr);
}

#[test]
fn issue_14_a_silent_server_ends_in_exit_3() {
    let source = source_rows(3);
    let (listener, port) = silent_server();
    // Accept and hold every connection, answering nothing.
    let held = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(8) {
            held.push(stream);
        }
        held
    });
    for (command, mode) in [("copy", "disable"), ("verify", "prefer")] {
        let target = format!("postgres://app@127.0.0.1:{port}/db?connect_timeout=2&sslmode={mode}");
        let child = spawn(
            &[
                command,
                "--source",
                source.path.to_str().unwrap(),
                "--target",
                &target,
            ],
            &[],
        );
        let (code, _, stderr) = wait(child, command);
        assert_eq!(code, 3, "{command}: {stderr}");
        assert!(stderr.contains("no answer within 2 seconds"), "{stderr}");
    }
    drop(held);
}

#[test]
fn issue_14_lock_timeout_names_the_session_holding_the_lock() {
    let source = source_rows(3);
    let db = TestDb::new();
    copy(&source.path, &db, &[]).assert_ok();
    let mut holder = db.client();
    let pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    let mut transaction = holder.transaction().unwrap();
    transaction
        .batch_execute("LOCK TABLE public.t IN ACCESS EXCLUSIVE MODE")
        .unwrap();

    let child = spawn(
        &[
            "copy",
            "--source",
            source.path.to_str().unwrap(),
            "--target",
            &db.url,
            "--if-exists",
            "truncate",
            "--lock-timeout",
            "1",
        ],
        &[],
    );
    let (code, _, stderr) = wait(child, "copy behind a lock");
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("gave up waiting for a lock")
            && stderr.contains(&format!("pid {pid}"))
            && stderr.contains("AccessExclusiveLock on public.t"),
        "{stderr}"
    );
    transaction.rollback().unwrap();
    copy(&source.path, &db, &["--if-exists", "truncate"]).assert_ok();
}

/// A snapshot directory of `child` appears in `tmp`; returns it.
fn wait_for_snapshot(tmp: &ScratchDir, child: &mut Child) -> PathBuf {
    let started = Instant::now();
    let prefix = format!("ferry-snapshot-{}-", child.id());
    loop {
        if let Some(dir) = tmp.snapshots().into_iter().find(|d| {
            d.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix))
                && std::fs::read_dir(d)
                    .map(|entries| entries.flatten().any(|e| e.file_name() == "source.sqlite"))
                    .unwrap_or(false)
        }) {
            return dir;
        }
        assert!(child.try_wait().unwrap().is_none(), "ferry ended early");
        assert!(started.elapsed() < HANG_GUARD, "no snapshot appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn issue_14_snapshots_are_private_and_never_left_behind() {
    use std::os::unix::fs::PermissionsExt;
    let source = source_rows(1000);
    let named = source.path.with_file_name(format!(
        "ferry-process-safety-{}-source",
        std::process::id()
    ));
    let _ = std::fs::create_dir(&named);
    let path = named.join("source.sqlite");
    std::fs::copy(&source.path, &path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let tmp = ScratchDir::new();
    let (listener, port) = silent_server();
    let held = std::thread::spawn(move || listener.incoming().take(4).collect::<Vec<_>>());
    let hanging = format!("postgres://app@127.0.0.1:{port}/db?connect_timeout=60&sslmode=disable");
    let tmpdir = [("TMPDIR", tmp.0.as_os_str())];
    let copy_to = |target: &str| {
        spawn(
            &[
                "copy",
                "--source",
                path.to_str().unwrap(),
                "--target",
                target,
                "--snapshot",
                "backup",
            ],
            &tmpdir,
        )
    };

    // While it runs (here: waits for the silent server), the copy is
    // owner-only in an owner-only directory.
    let mut killed = copy_to(&hanging);
    let dir = wait_for_snapshot(&tmp, &mut killed);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("source.sqlite")), 0o600);
    // SIGKILL leaves it; the next run removes it.
    killed.kill().unwrap();
    killed.wait().unwrap();
    assert!(dir.exists());

    // SIGTERM before any row moves: removed at once, exit 130.
    let mut terminated = copy_to(&hanging);
    let second = wait_for_snapshot(&tmp, &mut terminated);
    assert!(!dir.exists(), "the killed run's snapshot should be gone");
    let status = Command::new("kill")
        .args(["-TERM", &terminated.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (code, _, stderr) = wait(terminated, "terminated copy");
    assert_eq!(code, 130, "{stderr}");
    assert!(!second.exists(), "{stderr}");
    assert!(tmp.snapshots().is_empty(), "{:?}", tmp.snapshots());
    drop(held);

    // A run that ends normally or with an error leaves nothing either.
    let db = TestDb::new();
    let (code, _, stderr) = wait(copy_to(&db.url), "copy");
    assert_eq!(code, 0, "{stderr}");
    assert!(tmp.snapshots().is_empty(), "{:?}", tmp.snapshots());
    let _ = std::fs::remove_dir_all(&named);
}

/// JSON nested deeper than Postgres's stack allows: ferry's own checks let
/// it through, the server refuses it.
fn deep_json_source() -> TempSqlite {
    let depth = 100_000;
    let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let source = TempSqlite::new(
        "CREATE TABLE docs (id INTEGER PRIMARY KEY, doc JSON);
         INSERT INTO docs (doc)
              WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 50)
              SELECT '{\"n\": ' || i || '}' FROM s;",
    );
    let conn = rusqlite::Connection::open(&source.path).unwrap();
    conn.execute("UPDATE docs SET doc = ?1 WHERE id IN (7, 31)", [&deep])
        .unwrap();
    source
}

#[test]
fn issue_14_values_the_server_refuses_are_quarantined_row_by_row() {
    let source = deep_json_source();
    let db = TestDb::new();
    let run = copy(
        &source.path,
        &db,
        &[
            "--on-error",
            "quarantine",
            "--chunk-rows",
            "20",
            "--jobs",
            "2",
        ],
    );
    run.assert_ok();
    let totals = &run.json()["totals"];
    assert_eq!(totals["rows_written"], 48, "{}", run.stdout);
    assert_eq!(totals["rejected"], 2, "{}", run.stdout);
    let mut client = db.client();
    let ids: Vec<i64> = client
        .query("SELECT id FROM docs ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let expected: Vec<i64> = (1..=50).filter(|i| *i != 7 && *i != 31).collect();
    assert_eq!(ids, expected);
    let rejects: Vec<(String, String, String)> = client
        .query(
            "SELECT row_key, column_name, reason FROM ferry.rejects ORDER BY row_key",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(rejects.len(), 2, "{rejects:?}");
    assert_eq!(rejects[0].0, "id=31");
    assert_eq!(rejects[1].0, "id=7");
    for (_, column, reason) in &rejects {
        assert_eq!(column, "doc");
        assert!(reason.contains("refused by the server"), "{reason}");
    }
    let verified = crate::util::command_json("verify", &source.path, &db, &["--full"]);
    verified.assert_ok();
    assert_eq!(
        verified.json()["tables"][0]["quarantined"],
        2,
        "{}",
        verified.stdout
    );
}

#[test]
fn issue_14_a_value_the_server_refuses_is_named_under_abort() {
    let source = deep_json_source();
    let db = TestDb::new();
    let run = copy(&source.path, &db, &["--chunk-rows", "20"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("docs, id=7, column doc: Postgres refused the value")
            || run
                .stderr
                .contains("docs, id=31, column doc: Postgres refused the value"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("--on-error quarantine"),
        "{}",
        run.stderr
    );
}

#[test]
fn issue_14_closed_pipes_end_quietly_and_the_copy_completes() {
    let source = source_rows(500);
    let db = TestDb::new();
    // stdout closed before the summary is written (ferry … | head -1 after
    // head has gone), and stderr closed under -v.
    for (closed, extra) in [("stdout", "--chunk-rows=100"), ("stderr", "-vv")] {
        let mut child = spawn(
            &[
                "copy",
                "--source",
                source.path.to_str().unwrap(),
                "--target",
                &db.url,
                "--if-exists",
                "truncate",
                extra,
            ],
            &[],
        );
        if closed == "stdout" {
            drop(child.stdout.take());
        } else {
            drop(child.stderr.take());
        }
        let (code, _, stderr) = wait(child, closed);
        assert_eq!(code, 0, "{closed} closed: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let mut client = db.client();
        let status: String = client
            .query_one("SELECT status FROM ferry.copies", &[])
            .unwrap()
            .get(0);
        assert_eq!(status, "done", "{closed}");
        let rows: i64 = client
            .query_one("SELECT count(*) FROM t", &[])
            .unwrap()
            .get(0);
        assert_eq!(rows, 500);
    }
}
