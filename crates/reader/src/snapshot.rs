//! One consistent state of a source that other processes may be writing:
//! its journal mode, a fingerprint of its content, a held read lock, and a
//! point-in-time copy made with SQLite's online backup API.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use crate::db::SourceDb;
use crate::error::ReadError;

/// How long [`SourceDb::backup_to`] keeps retrying while a writer holds the
/// lock it needs, before giving up with [`ReadError::Busy`].
const BACKUP_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Pause between two backup attempts while the source is locked.
const BACKUP_RETRY_PAUSE: Duration = Duration::from_millis(20);

/// Bytes of the SQLite file header (<https://www.sqlite.org/fileformat.html#the_database_header>).
const HEADER_BYTES: usize = 100;

/// How the source keeps its journal, which decides what a reader's lock
/// does to writers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JournalMode {
    /// Write-ahead log: readers see a snapshot and never block writers, so
    /// holding a read lock does not stop other processes from committing.
    Wal,
    /// A rollback journal (`delete`, `truncate`, `persist`, `memory`,
    /// `off`): a reader's shared lock keeps every writer from committing.
    Rollback,
}

impl JournalMode {
    /// Reads the answer of `PRAGMA journal_mode`.
    fn from_pragma(mode: &str) -> JournalMode {
        if mode.eq_ignore_ascii_case("wal") {
            JournalMode::Wal
        } else {
            JournalMode::Rollback
        }
    }
}

/// Facts about a source file that change when its content does, to tell
/// whether the file a run resumes from is still the one it started on.
///
/// In rollback mode every commit moves `change_counter`. In WAL mode SQLite
/// does not keep that counter up to date (the write-ahead log's index
/// detects changes instead), so a commit that neither grows the file nor
/// touches the schema leaves the identity unchanged: copy from a
/// [`SourceDb::backup_to`] snapshot when a WAL source may be written during
/// a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceIdentity {
    /// The header's file change counter (bytes 24..28), as in the main file.
    pub change_counter: u32,
    /// Pages in the database, write-ahead log included.
    pub page_count: u32,
    /// The schema cookie (header bytes 40..44), moved by every schema change.
    pub schema_cookie: u32,
    /// The journal mode.
    pub journal_mode: JournalMode,
    /// Every `sqlite_schema.sql`, in rowid order, each followed by `;\n`.
    pub schema_sql: String,
}

/// A read transaction on a [`SourceDb`], held until dropped.
///
/// Every read through the same `SourceDb` while the guard lives sees one
/// state of the file. In [`JournalMode::Rollback`] the shared lock also
/// stops every writer from committing, so other connections see that same
/// state too; in [`JournalMode::Wal`] writers go on and only this
/// connection keeps its snapshot.
#[derive(Debug)]
#[must_use = "the read lock is released as soon as the guard is dropped"]
pub struct ReadGuard<'a> {
    db: &'a SourceDb,
}

impl ReadGuard<'_> {
    /// Ends the read transaction, reporting a failure that dropping the
    /// guard would have to ignore.
    pub fn release(self) -> Result<(), ReadError> {
        let result = self
            .db
            .conn
            .execute_batch("COMMIT")
            .map_err(|source| self.db.schema_error(source));
        std::mem::forget(self);
        result
    }
}

impl Drop for ReadGuard<'_> {
    fn drop(&mut self) {
        // A read-only transaction has nothing to lose: a failed COMMIT only
        // means the transaction had already ended.
        let _ = self.db.conn.execute_batch("COMMIT");
    }
}

impl SourceDb {
    /// The source's journal mode, as `PRAGMA journal_mode` reports it.
    pub fn journal_mode(&self) -> Result<JournalMode, ReadError> {
        let mode: String = self
            .conn
            .query_row("PRAGMA main.journal_mode", [], |row| row.get(0))
            .map_err(|source| self.schema_error(source))?;
        Ok(JournalMode::from_pragma(&mode))
    }

    /// Starts a read transaction that lasts until the returned guard is
    /// dropped (see [`ReadGuard`] for what it does to writers).
    ///
    /// The lock is taken here, not at the first later read, so the state
    /// every later read sees is the one of this call. Fails with
    /// [`ReadError::Busy`] if a writer is committing for longer than the
    /// connection's busy timeout.
    pub fn hold_read_lock(&self) -> Result<ReadGuard<'_>, ReadError> {
        self.begin_read()?;
        Ok(ReadGuard { db: self })
    }

    /// Starts a read transaction that lasts as long as the connection:
    /// every later read through it sees the state of this call. Meant for
    /// a [`JournalMode::Wal`] file, where it never holds writers up; in
    /// rollback mode it would keep them from committing until the
    /// connection closes.
    ///
    /// # Errors
    ///
    /// [`ReadError::Busy`] if a writer is committing for longer than the
    /// connection's busy timeout.
    pub fn begin_read(&self) -> Result<(), ReadError> {
        self.conn
            .execute_batch("BEGIN DEFERRED; SELECT count(*) FROM main.sqlite_schema;")
            .map_err(|source| {
                let _ = self.conn.execute_batch("ROLLBACK");
                self.schema_error(source)
            })
    }

    /// Reads the facts of [`SourceIdentity`] in one read transaction, so
    /// that they describe one state of the file.
    pub fn identity(&self) -> Result<SourceIdentity, ReadError> {
        // Inside a caller's guard the transaction is already open; a nested
        // BEGIN would fail.
        let guard = if self.conn.is_autocommit() {
            Some(self.hold_read_lock()?)
        } else {
            None
        };
        let header = self.read_header()?;
        let field = |at: usize| {
            u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
        };
        let page_count: i64 = self
            .conn
            .query_row("PRAGMA main.page_count", [], |row| row.get(0))
            .map_err(|source| self.schema_error(source))?;
        let schema_cookie: i64 = self
            .conn
            .query_row("PRAGMA main.schema_version", [], |row| row.get(0))
            .map_err(|source| self.schema_error(source))?;
        let schema_sql = self.schema_sql()?;
        let journal_mode = self.journal_mode()?;
        if let Some(guard) = guard {
            guard.release()?;
        }
        Ok(SourceIdentity {
            change_counter: field(24),
            // Both are 32-bit fields in the file; SQLite reports them widened.
            page_count: u32::try_from(page_count).unwrap_or_else(|_| field(28)),
            schema_cookie: schema_cookie as u32,
            journal_mode,
            schema_sql,
        })
    }

    /// A digest of the database's bytes (blake3, 32 hex digits), to tell
    /// whether a source is still in the state a copy started from.
    ///
    /// Counts, rowid ranges and even SQLite's file change counter miss an
    /// in-place update in WAL mode (issue 14), and `PRAGMA data_version`
    /// only compares states within one connection; the pages themselves
    /// do not. It reads the main file and, if there is one, its
    /// write-ahead log, under one read transaction, leaving out the header
    /// fields that only count writes (change counter, version-valid-for,
    /// SQLite version), so two backups of one state agree. A change that
    /// leaves every row as it was (a checkpoint, a `VACUUM`) may still
    /// change it: that errs on the side of refusing to resume. Costs one
    /// read of the file, hashed on every core.
    pub fn content_digest(&self) -> Result<String, ReadError> {
        let guard = if self.conn.is_autocommit() {
            Some(self.hold_read_lock()?)
        } else {
            None
        };
        let mut hasher = blake3::Hasher::new();
        self.hash_file(&self.path, true, &mut hasher)?;
        let mut wal = self.path.clone();
        wal.as_mut_os_string().push("-wal");
        if wal.is_file() {
            hasher.update(b"\0wal\0");
            self.hash_file(&wal, false, &mut hasher)?;
        }
        if let Some(guard) = guard {
            guard.release()?;
        }
        Ok(hasher.finalize().to_hex()[..32].to_owned())
    }

    fn hash_file(
        &self,
        path: &Path,
        main: bool,
        hasher: &mut blake3::Hasher,
    ) -> Result<(), ReadError> {
        let io_error = |source: io::Error| ReadError::Io {
            path: self.shown.clone(),
            source,
        };
        let mut file = fs::File::open(path).map_err(io_error)?;
        // Large reads hashed on every core (blake3's tree hashing is
        // parallel within a buffer): the copy has not started yet, so the
        // cores are free, and the digest takes half the time it would.
        let mut buffer = vec![0u8; 16 << 20];
        let mut first = main;
        loop {
            let read = file.read(&mut buffer).map_err(io_error)?;
            if read == 0 {
                return Ok(());
            }
            if first && read >= HEADER_BYTES {
                // Change counter, version-valid-for, SQLite version.
                buffer[24..28].fill(0);
                buffer[92..100].fill(0);
            }
            first = false;
            hasher.update_rayon(&buffer[..read]);
        }
    }

    /// Copies the whole database into a new file at `dest`, as one
    /// point-in-time state, with SQLite's online backup API
    /// (<https://www.sqlite.org/backup.html>).
    ///
    /// All pages are copied in a single backup step, which holds one read
    /// transaction for the whole copy: in WAL mode writers go on unhindered
    /// and their commits are simply not in the copy; in rollback mode they
    /// wait until the copy is done. While a writer is committing the step
    /// is retried for up to 30 seconds before failing with
    /// [`ReadError::Busy`]. The source is only read.
    ///
    /// `dest` must not exist (it is never overwritten) and is removed again
    /// if the copy fails. The copy is left in rollback (`delete`) journal
    /// mode, so it can be opened read-only without `-wal` or `-shm` files.
    pub fn backup_to(&self, dest: &Path) -> Result<(), ReadError> {
        let io_error = |source: io::Error| ReadError::SnapshotIo {
            path: self.shown.clone(),
            dest: dest.to_owned(),
            source,
        };
        // create_new refuses an existing file atomically, so two runs
        // choosing the same name cannot overwrite each other. Owner-only,
        // so the copy is never more readable than the source (SQLite gives
        // its journal the same mode).
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(dest).map_err(|source| match source.kind() {
            io::ErrorKind::AlreadyExists => ReadError::SnapshotExists {
                dest: dest.to_owned(),
            },
            _ => io_error(source),
        })?;
        let result = self.backup_into(dest);
        if result.is_err() {
            remove_with_journals(dest);
        }
        result
    }

    fn backup_into(&self, dest: &Path) -> Result<(), ReadError> {
        let snapshot_error = |source: rusqlite::Error| ReadError::Snapshot {
            path: self.shown.clone(),
            dest: dest.to_owned(),
            source,
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut target = Connection::open_with_flags(dest, flags).map_err(snapshot_error)?;
        // The snapshot is scratch space: if the machine dies it is made again.
        target
            .execute_batch("PRAGMA synchronous = OFF")
            .map_err(snapshot_error)?;
        {
            let backup = Backup::new(&self.conn, &mut target).map_err(snapshot_error)?;
            let deadline = Instant::now() + BACKUP_BUSY_TIMEOUT;
            loop {
                // -1: every page in one step, under one read transaction.
                match backup
                    .step(-1)
                    .map_err(|source| self.backup_error(dest, source))?
                {
                    StepResult::Done => break,
                    StepResult::More => {}
                    StepResult::Busy | StepResult::Locked => {
                        if Instant::now() >= deadline {
                            return Err(ReadError::Busy {
                                path: self.shown.clone(),
                                source: rusqlite::Error::SqliteFailure(
                                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                                    Some(format!(
                                        "a writer held the lock for more than {}",
                                        ferry_model::plural(
                                            BACKUP_BUSY_TIMEOUT.as_secs(),
                                            "second",
                                            "seconds"
                                        )
                                    )),
                                ),
                            });
                        }
                        thread::sleep(BACKUP_RETRY_PAUSE);
                    }
                    // StepResult is non-exhaustive; anything new means retry.
                    _ => thread::sleep(BACKUP_RETRY_PAUSE),
                }
            }
        }
        let mode: String = target
            .query_row("PRAGMA journal_mode = DELETE", [], |row| row.get(0))
            .map_err(snapshot_error)?;
        debug_assert_eq!(mode, "delete");
        target.close().map_err(|(_, source)| snapshot_error(source))
    }

    /// Sorts a failed backup step: damage or a lock in the source is the
    /// source's error, anything else is the snapshot file's.
    fn backup_error(&self, dest: &Path, source: rusqlite::Error) -> ReadError {
        use rusqlite::ErrorCode;
        match source.sqlite_error_code() {
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => self.schema_error(source),
            _ => ReadError::Snapshot {
                path: self.shown.clone(),
                dest: dest.to_owned(),
                source,
            },
        }
    }

    /// The first 100 bytes of the main file.
    fn read_header(&self) -> Result<[u8; HEADER_BYTES], ReadError> {
        let io_error = |source: io::Error| ReadError::Io {
            path: self.shown.clone(),
            source,
        };
        let mut header = [0u8; HEADER_BYTES];
        let mut file = fs::File::open(&self.path).map_err(io_error)?;
        match file.read_exact(&mut header) {
            Ok(()) => Ok(header),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(ReadError::Corrupt {
                path: self.shown.clone(),
                table: None,
                source: rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                    Some("the file is shorter than SQLite's 100-byte header".to_owned()),
                ),
            }),
            Err(e) => Err(io_error(e)),
        }
    }

    /// Every `CREATE` statement of the schema, in rowid order.
    fn schema_sql(&self) -> Result<String, ReadError> {
        let mut stmt = self
            .conn
            .prepare("SELECT sql FROM main.sqlite_schema WHERE sql IS NOT NULL ORDER BY rowid")
            .map_err(|source| self.schema_error(source))?;
        let mut rows = stmt.query([]).map_err(|source| self.schema_error(source))?;
        let mut all = String::new();
        while let Some(row) = rows.next().map_err(|source| self.schema_error(source))? {
            let sql: String = row.get(0).map_err(|source| self.schema_error(source))?;
            all.push_str(&sql);
            all.push_str(";\n");
        }
        Ok(all)
    }
}

/// Removes a file and any journal SQLite left beside it.
fn remove_with_journals(path: &Path) {
    let _ = fs::remove_file(path);
    for extra in ["-journal", "-wal", "-shm"] {
        let mut name: PathBuf = path.to_owned();
        name.as_mut_os_string().push(extra);
        let _ = fs::remove_file(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TempDb;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// A path for a snapshot, removed with its journals when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Scratch {
            let owner = TempDb::raw(b"");
            let mut path = owner.path().to_owned();
            path.as_mut_os_string().push("-snapshot");
            Scratch(path)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            remove_with_journals(&self.0);
        }
    }

    fn count(path: &Path) -> i64 {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    fn integrity(path: &Path) -> String {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn detects_journal_modes() {
        let wal = TempDb::new("PRAGMA journal_mode = WAL; CREATE TABLE t(a);");
        assert_eq!(
            SourceDb::open(wal.path()).unwrap().journal_mode().unwrap(),
            JournalMode::Wal
        );
        for mode in ["DELETE", "TRUNCATE", "PERSIST"] {
            let db = TempDb::new(&format!("PRAGMA journal_mode = {mode}; CREATE TABLE t(a);"));
            let source = SourceDb::open(db.path()).unwrap();
            assert_eq!(
                source.journal_mode().unwrap(),
                JournalMode::Rollback,
                "{mode}"
            );
        }
        assert_eq!(JournalMode::from_pragma("memory"), JournalMode::Rollback);
        assert_eq!(JournalMode::from_pragma("off"), JournalMode::Rollback);
        assert_eq!(JournalMode::from_pragma("WAL"), JournalMode::Wal);
    }

    #[test]
    fn backup_while_a_writer_commits_is_one_committed_state() {
        let db = TempDb::new(
            "PRAGMA journal_mode = WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT);",
        );
        let stop = Arc::new(AtomicBool::new(false));
        let started = Arc::new(AtomicBool::new(false));
        let writer = {
            let (path, stop, started) = (db.path().to_owned(), stop.clone(), started.clone());
            thread::spawn(move || {
                let mut conn = Connection::open(&path).unwrap();
                let mut batches = 0u32;
                while !stop.load(Ordering::Relaxed) || batches < 3 {
                    let tx = conn.transaction().unwrap();
                    for _ in 0..100 {
                        tx.execute("INSERT INTO t(body) VALUES (printf('%.500c', 'x'))", [])
                            .unwrap();
                    }
                    tx.commit().unwrap();
                    batches += 1;
                    // Let the file grow first, so each backup takes a while.
                    started.store(batches >= 20, Ordering::Relaxed);
                }
                batches
            })
        };
        while !started.load(Ordering::Relaxed) {
            thread::yield_now();
        }
        let source = SourceDb::open(db.path()).unwrap();
        let snapshots: Vec<Scratch> = (0..5).map(|_| Scratch::new()).collect();
        for snapshot in &snapshots {
            source.backup_to(&snapshot.0).unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        let batches = writer.join().unwrap();
        for snapshot in &snapshots {
            let rows = count(&snapshot.0);
            assert_eq!(rows % 100, 0, "a half-committed state: {rows} rows");
            assert!(rows >= 2000, "{rows}");
            assert_eq!(integrity(&snapshot.0), "ok");
            let copy = SourceDb::open(&snapshot.0).unwrap();
            assert_eq!(copy.journal_mode().unwrap(), JournalMode::Rollback);
        }
        assert_eq!(count(db.path()), i64::from(batches) * 100);
    }

    #[test]
    fn backup_leaves_the_source_untouched_and_never_overwrites() {
        let db = TempDb::new(
            "CREATE TABLE t(a); INSERT INTO t VALUES (1), (2), (3);
             CREATE INDEX t_a ON t(a);",
        );
        let before = fs::read(db.path()).unwrap();
        let source = SourceDb::open(db.path()).unwrap();
        let snapshot = Scratch::new();
        source.backup_to(&snapshot.0).unwrap();
        assert_eq!(count(&snapshot.0), 3);
        assert_eq!(
            SourceDb::open(&snapshot.0)
                .unwrap()
                .identity()
                .unwrap()
                .schema_sql,
            source.identity().unwrap().schema_sql
        );

        let err = source.backup_to(&snapshot.0).unwrap_err();
        assert!(matches!(err, ReadError::SnapshotExists { .. }), "{err:?}");
        assert_eq!(count(&snapshot.0), 3, "the existing file is kept");

        let missing_dir = snapshot.0.join("nested/snapshot.db");
        let err = source.backup_to(&missing_dir).unwrap_err();
        assert!(matches!(err, ReadError::SnapshotIo { .. }), "{err:?}");
        drop(source);
        assert_eq!(fs::read(db.path()).unwrap(), before);
    }

    #[test]
    fn identity_moves_with_every_commit_in_rollback_mode() {
        let db = TempDb::new("CREATE TABLE t(a); INSERT INTO t VALUES (1);");
        let source = SourceDb::open(db.path()).unwrap();
        let first = source.identity().unwrap();
        assert_eq!(first.journal_mode, JournalMode::Rollback);
        assert!(first.schema_sql.contains("CREATE TABLE t(a)"));
        assert_eq!(source.identity().unwrap(), first, "reading changes nothing");

        let writer = Connection::open(db.path()).unwrap();
        writer.execute("UPDATE t SET a = 2", []).unwrap();
        let updated = source.identity().unwrap();
        assert_ne!(updated.change_counter, first.change_counter);
        assert_eq!(updated.schema_cookie, first.schema_cookie);

        writer.execute_batch("CREATE TABLE u(b);").unwrap();
        let altered = source.identity().unwrap();
        assert_ne!(altered.schema_cookie, updated.schema_cookie);
        assert!(altered.schema_sql.contains("CREATE TABLE u(b)"));
    }

    #[test]
    fn content_digest_sees_in_place_updates_and_agrees_across_backups() {
        for mode in ["WAL", "DELETE"] {
            let db = TempDb::new(&format!(
                "PRAGMA journal_mode = {mode}; CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT);
                 INSERT INTO t(a) VALUES ('one'), ('two'), ('six');"
            ));
            let source = SourceDb::open(db.path()).unwrap();
            let first = source.content_digest().unwrap();
            assert_eq!(source.content_digest().unwrap(), first, "{mode}");
            let (one, two) = (Scratch::new(), Scratch::new());
            source.backup_to(&one.0).unwrap();
            source.backup_to(&two.0).unwrap();
            let backup = SourceDb::open(&one.0).unwrap().content_digest().unwrap();
            assert_eq!(
                SourceDb::open(&two.0).unwrap().content_digest().unwrap(),
                backup,
                "{mode}: two backups of one state"
            );

            // Same row count, same rowids, same size: only the bytes move.
            let writer = Connection::open(db.path()).unwrap();
            writer
                .execute("UPDATE t SET a = 'ten' WHERE id = 3", [])
                .unwrap();
            assert_ne!(source.content_digest().unwrap(), first, "{mode}");
            let three = Scratch::new();
            source.backup_to(&three.0).unwrap();
            assert_ne!(
                SourceDb::open(&three.0).unwrap().content_digest().unwrap(),
                backup,
                "{mode}: a backup after the update"
            );
        }
    }

    #[test]
    fn read_lock_holds_writers_off_in_rollback_mode() {
        let db = TempDb::new("CREATE TABLE t(a); INSERT INTO t VALUES (1);");
        let source = SourceDb::open(db.path()).unwrap();
        let writer = Connection::open(db.path()).unwrap();
        writer.busy_timeout(Duration::ZERO).unwrap();

        let guard = source.hold_read_lock().unwrap();
        let held = source.identity().unwrap();
        let err = writer.execute("INSERT INTO t VALUES (2)", []).unwrap_err();
        assert_eq!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy)
        );
        assert_eq!(count(db.path()), 1);
        assert_eq!(source.identity().unwrap(), held);
        guard.release().unwrap();

        writer.execute("INSERT INTO t VALUES (2)", []).unwrap();
        assert_eq!(count(db.path()), 2);
        {
            let _guard = source.hold_read_lock().unwrap();
        }
        writer.execute("INSERT INTO t VALUES (3)", []).unwrap();
        assert_eq!(count(db.path()), 3);
    }

    #[test]
    fn read_lock_keeps_a_snapshot_in_wal_mode() {
        let db =
            TempDb::new("PRAGMA journal_mode = WAL; CREATE TABLE t(a); INSERT INTO t VALUES (1);");
        let source = SourceDb::open(db.path()).unwrap();
        let schema = source.schema().unwrap();
        let writer = Connection::open(db.path()).unwrap();
        let guard = source.hold_read_lock().unwrap();
        writer.execute("INSERT INTO t VALUES (2)", []).unwrap();
        assert_eq!(source.row_count(&schema.tables[0]).unwrap(), 1);
        drop(guard);
        assert_eq!(source.row_count(&schema.tables[0]).unwrap(), 2);
    }
}
