//! A copy of a file that another process keeps writing equals one state of
//! it: never half of one transaction and half of the next.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::process_safety::ScratchDir;
use crate::util::{TempSqlite, TestDb};

/// Every transaction of the writer adds a batch of 100 entries and its
/// row in `batches`, and moves amounts inside the previous batch, keeping
/// `batches.total` equal to the sum of its entries. A consistent copy
/// keeps all of that true.
fn live_source(journal_mode: &str) -> TempSqlite {
    let source = TempSqlite::new(&format!(
        "PRAGMA journal_mode = {journal_mode};
         CREATE TABLE entries (id INTEGER PRIMARY KEY, batch INTEGER NOT NULL, amount INTEGER NOT NULL);
         CREATE TABLE batches (batch INTEGER PRIMARY KEY, rows INTEGER NOT NULL, total INTEGER NOT NULL);"
    ));
    let conn = rusqlite::Connection::open(&source.path).unwrap();
    for batch in 0..200 {
        write_batch(&conn, batch);
    }
    source
}

fn write_batch(conn: &rusqlite::Connection, batch: i64) {
    conn.execute_batch(&format!(
        "BEGIN IMMEDIATE;
         INSERT INTO entries (batch, amount)
              WITH RECURSIVE n(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM n WHERE value < 100)
              SELECT {batch}, value FROM n;
         INSERT INTO batches VALUES ({batch}, 100, 5050);
         UPDATE entries SET amount = amount + 1 WHERE batch = {prev} AND amount % 2 = 0;
         UPDATE entries SET amount = amount - 1 WHERE batch = {prev} AND amount % 2 = 1 AND amount > 1;
         UPDATE batches SET total = (SELECT sum(amount) FROM entries WHERE batch = {prev}) WHERE batch = {prev};
         COMMIT;",
        prev = batch - 1
    ))
    .unwrap();
}

/// Copies `source` with `extra` arguments, TMPDIR set to a scratch
/// directory watched meanwhile; returns the report and the largest file
/// seen in that directory.
fn copy_watching_tmp(source: &TempSqlite, db: &TestDb, extra: &[&str]) -> (Output, u64) {
    let tmp = ScratchDir::new();
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (dir, done) = (tmp.0.clone(), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut largest = 0;
            loop {
                let finished = done.load(Ordering::Relaxed);
                largest = largest.max(largest_file(&dir));
                if finished {
                    return largest;
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        })
    };
    let output = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args([
            "copy",
            "--source",
            source.path.to_str().unwrap(),
            "--target",
            &db.url,
        ])
        .args(["--chunk-rows", "700", "--jobs", "2", "--format", "json"])
        .args(extra)
        .env("TMPDIR", &tmp.0)
        .output()
        .unwrap();
    done.store(true, Ordering::Relaxed);
    (output, watcher.join().unwrap())
}

/// The size of the largest file under `dir`, at any depth.
fn largest_file(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => largest_file(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .max()
        .unwrap_or(0)
}

/// Copies a file a writer commits to throughout; returns the report.
fn copy_while_writing(journal_mode: &str, extra: &[&str]) -> serde_json::Value {
    let source = live_source(journal_mode);
    let db = TestDb::new();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = start_writer(source.path.clone(), &stop);
    std::thread::sleep(std::time::Duration::from_millis(100));
    let (output, largest_tmp) = copy_watching_tmp(&source, &db, extra);
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        written > 200,
        "the writer must have committed during the copy"
    );

    assert_eq!(
        broken_batches(&db),
        0,
        "the copy mixes two states of the source ({journal_mode})"
    );
    let mut report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    report["largest_tmp_file"] = largest_tmp.into();
    report["batches"] = db
        .client()
        .query_one("SELECT count(*) FROM batches", &[])
        .unwrap()
        .get::<_, i64>(0)
        .into();
    report
}

/// Batches whose row in `batches` disagrees with their entries in the
/// target: any means the target holds parts of two states of the source.
fn broken_batches(db: &TestDb) -> i64 {
    db.client()
        .query_one(
            "SELECT count(*) FROM batches b
              FULL JOIN (SELECT batch, count(*) AS n, sum(amount) AS s FROM entries GROUP BY batch) e
                USING (batch)
             WHERE b.rows IS DISTINCT FROM e.n OR b.total IS DISTINCT FROM e.s",
            &[],
        )
        .unwrap()
        .get(0)
}

/// A writer that commits batches to `path` until stopped; returns the
/// next batch number.
fn start_writer(path: std::path::PathBuf, stop: &Arc<AtomicBool>) -> std::thread::JoinHandle<i64> {
    let stop = Arc::clone(stop);
    std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.busy_timeout(std::time::Duration::from_secs(60))
            .unwrap();
        let mut batch = 200;
        while !stop.load(Ordering::Relaxed) {
            write_batch(&conn, batch);
            batch += 1;
        }
        batch
    })
}

/// `ferry sync` reads a quiet file in place (no backup), and a file a
/// writer commits to meanwhile from a backup: every run leaves the target
/// at one state of the source (issue 13).
fn sync_while_writing(journal_mode: &str) {
    let source = live_source(journal_mode);
    let db = TestDb::new();
    let sync = |extra: &[&str]| crate::sync::sync(&source, &db, extra);
    sync(&[]).assert_ok();
    sync(&[]).assert_ok();
    let quiet = sync(&[]).assert_ok().json();
    assert_eq!(quiet["source_read"], "in place", "{quiet}");

    let stop = Arc::new(AtomicBool::new(false));
    let writer = start_writer(source.path.clone(), &stop);
    let mut backups = 0;
    for _ in 0..3 {
        // Not `sync`: it checks that the file did not change meanwhile.
        let output = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(["sync", "--source", source.path.to_str().unwrap()])
            .args(["--target", &db.url, "--format", "json"])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        backups += usize::from(report["source_read"] == "backup");
        assert_eq!(
            broken_batches(&db),
            0,
            "a sync mixes two states of the source ({journal_mode}): {report}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(written > 200, "the writer must have committed meanwhile");
    assert!(backups > 0, "no run noticed the writer ({journal_mode})");
    let report = sync(&[]).assert_ok().json();
    assert_eq!(report["source_read"], "in place", "{report}");
    crate::sync::verify_full(&source, &db);
}

#[test]
fn issue_13_sync_reads_a_quiet_wal_file_in_place_and_a_written_one_from_a_backup() {
    sync_while_writing("wal");
}

#[test]
fn issue_13_sync_reads_a_quiet_rollback_file_in_place_and_a_written_one_from_a_backup() {
    sync_while_writing("delete");
}

#[test]
fn a_live_wal_file_is_copied_from_one_backup() {
    let report = copy_while_writing("wal", &["--snapshot", "backup"]);
    assert_eq!(report["source_read"], "backup", "{report}");
}

#[test]
fn a_live_rollback_journal_file_is_copied_from_one_backup() {
    let report = copy_while_writing("delete", &["--snapshot", "backup"]);
    assert_eq!(report["source_read"], "backup", "{report}");
}

/// By default a WAL file is read in place, every connection inside a read
/// transaction on one state, while the writer keeps committing: the target
/// holds exactly one state (every batch whole, its total the sum of its
/// entries, none past the state), and nothing the size of the database
/// lands in TMPDIR.
#[test]
fn issue_19_a_live_wal_file_is_copied_from_one_state_without_a_backup() {
    let report = copy_while_writing("wal", &[]);
    assert_eq!(report["source_read"], "wal snapshot", "{report}");
    assert!(
        report["largest_tmp_file"].as_u64().unwrap() <= 1 << 20,
        "{report}"
    );
    assert!(report["batches"].as_i64().unwrap() >= 200, "{report}");
}

/// A rollback-journal file is read in place, checked after every chunk;
/// the writer commits mid-copy, so the copy undoes what it loaded and
/// starts over from a backup, landing one state and saying so.
#[test]
fn issue_19_a_rollback_file_written_mid_copy_is_copied_again_from_a_backup() {
    let report = copy_while_writing("delete", &[]);
    assert_eq!(report["source_read"], "backup", "{report}");
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("while ferry read it in place"),
        "{report}"
    );
    // The rows of the first attempt are gone: each batch once.
    assert!(report["batches"].as_i64().unwrap() >= 200, "{report}");
}

/// A file nothing writes is read in place whatever its journal, with no
/// temporary file larger than 1 MB, and the copy equals the file.
#[test]
fn issue_19_a_quiet_source_is_read_in_place_without_a_temporary_copy() {
    for (mode, read) in [("wal", "wal snapshot"), ("delete", "in place")] {
        let source = live_source(mode);
        let db = TestDb::new();
        let (output, largest) = copy_watching_tmp(&source, &db, &[]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(report["source_read"], read, "{report}");
        assert!(
            report["warnings"].as_array().unwrap().is_empty(),
            "{report}"
        );
        assert!(
            largest <= 1 << 20,
            "{mode}: a {largest}-byte temporary file"
        );
        assert_eq!(broken_batches(&db), 0, "{mode}");
        let conn = rusqlite::Connection::open(&source.path).unwrap();
        let entries: i64 = conn
            .query_row("SELECT count(*) FROM entries", [], |r| r.get(0))
            .unwrap();
        let copied: i64 = db
            .client()
            .query_one("SELECT count(*) FROM entries", &[])
            .unwrap()
            .get(0);
        assert_eq!(copied, entries, "{mode}");
    }
}

/// Runs ferry as a user who may not write the source's directory: nobody
/// when the tests run as root (root writes anywhere), else the test's
/// own user, for whom the directory is made read-only.
fn ferry_without_write_access(args: &[&str]) -> std::process::Output {
    let ferry = env!("CARGO_BIN_EXE_ferry");
    // Root writes anywhere: the check must run as someone else.
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n");
    let mut command = if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", ferry]);
        c
    } else {
        Command::new(ferry)
    };
    command
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run ferry")
}

/// A Kubernetes Job mounts the source read-only; a cleanly closed WAL
/// database there has no `-shm` index and SQLite cannot make one (issue
/// 18). ferry reads it (immutable, the file alone holding every commit)
/// and copies it exactly; a `-wal` with content is never read around.
#[test]
fn issue_18_a_wal_file_on_a_read_only_directory_copies() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("ferry-ro-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("app.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = wal; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
         INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c');",
    )
    .unwrap();
    drop(conn);
    let mut shm = path.as_os_str().to_owned();
    shm.push("-shm");
    assert!(!std::path::Path::new(&shm).exists(), "closed cleanly");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    let db = TestDb::new();
    let out = ferry_without_write_access(&[
        "copy",
        "--source",
        path.to_str().unwrap(),
        "--target",
        &db.url,
    ]);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<String> = db
        .client()
        .query("SELECT v FROM t ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(rows, ["a", "b", "c"]);
    assert!(
        !std::path::Path::new(&shm).exists(),
        "nothing written beside it"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
