//! One point-in-time state of the source for the whole copy, even while
//! another process keeps writing it.
//!
//! Several reader threads each use their own connection, so without care
//! each could see a different state of a live file. `--snapshot auto` (the
//! default) reads the file in place, without copying it:
//!
//! - A WAL-mode file: every connection the run will read through (the one
//!   that plans, one per reader thread, and enough for the stored-type
//!   scans) is opened first; then each begins a read transaction that it
//!   keeps for the whole run. A separate watcher reads SQLite's
//!   `PRAGMA data_version` before the first of those transactions began
//!   and after the last: equal readings prove no writer committed in
//!   between, so every connection sees one state. When a writer did, the
//!   connections are opened again, a few times; a file whose writers never
//!   pause is read from a backup. WAL writers are never blocked by
//!   readers, whatever they hold.
//! - A rollback-journal file (or one opened `immutable`): a long read
//!   transaction would keep its writers from committing, and a writer
//!   waiting to commit takes the PENDING lock, which keeps every new
//!   reader out. So the file is read optimistically: the watcher's data
//!   version is read before the run reads anything, and again after every
//!   chunk, before the chunk commits. When it moved, the run fails with
//!   [`SourceChanged`]: a copy then undoes what it loaded and starts over
//!   from a backup. A run that could not undo its rows (`--if-exists
//!   append` or `resume`) takes the backup up front instead.
//!
//! `--snapshot backup` always copies the file first, with SQLite's online
//! backup API, in one step, into a temporary file that the run then reads
//! and removes. `--snapshot none` reads the file as it is, for a file
//! nothing writes during the run. Sync's `--snapshot auto` reads in place,
//! proves at the end that no writer committed, and reads again from a
//! backup when one did (it has applied nothing yet).
//!
//! The backup holds the whole source, so it must never be more readable
//! than the source nor outlive the process (issue 14): it is written
//! owner-only (0600) into a private directory (0700) of its own, removed
//! when the run ends, on an error and on SIGINT, SIGTERM or SIGHUP at any
//! moment (see [`crate::signals`]). A process killed outright (SIGKILL,
//! the OOM killer) cannot clean up, so every run first removes the
//! directories of dead runs: each holds a lock file that its process keeps
//! `flock`ed, which the kernel releases when the process dies.

use std::fs::{self, File};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use ferry_reader::{JournalMode, SourceDb};

use crate::connections::SourceConnections;
use crate::options::SnapshotMode;

/// Names of snapshot directories (and of the plain files older versions
/// left) in the temporary directory.
const PREFIX: &str = "ferry-snapshot-";

/// The lock file inside a snapshot directory.
const LOCK: &str = "lock";

/// A directory whose lock is free is removed only if its process is gone
/// or it is older than this, so one being created right now (before its
/// owner took the lock) is left alone.
const CREATION_GRACE: Duration = Duration::from_secs(60);

/// Times the read transactions of a WAL-mode file are opened again after
/// a writer committed while they began, before a backup is taken instead.
const PIN_ATTEMPTS: u32 = 5;

/// A writer committed to a file read in place while the run read it: the
/// rows read so far mix two states.
#[derive(Debug)]
pub struct SourceChanged {
    pub path: PathBuf,
}

impl std::fmt::Display for SourceChanged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "another process committed to {} while ferry read it in place",
            self.path.display()
        )
    }
}

impl std::error::Error for SourceChanged {}

/// Whether an error comes from SQLite's lock on the source (a writer
/// committing).
pub(crate) fn is_busy(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<ferry_reader::ReadError>(),
            Some(ferry_reader::ReadError::Busy { .. })
        )
    })
}

/// Whether `err` says a writer changed a file read in place: a
/// [`SourceChanged`], or the lock of a writer committing met while reading
/// in place (`in_place`).
pub(crate) fn moved_on(err: &anyhow::Error, in_place: bool) -> bool {
    err.chain().any(|c| c.is::<SourceChanged>()) || (in_place && is_busy(err))
}

/// How the run reads one state of the source, as summaries say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Every connection holds a read transaction on one state of a
    /// WAL-mode file: `wal snapshot`.
    WalSnapshot,
    /// Read in place, the data version checked after every chunk (copy) or
    /// at the end (sync): `in place`.
    InPlace,
    /// A private copy made with the online backup API: `backup`.
    Backup,
    /// The file as it is, nothing checked (`--snapshot none`): `as is`.
    AsIs,
}

impl Reading {
    pub fn as_str(self) -> &'static str {
        match self {
            Reading::WalSnapshot => "wal snapshot",
            Reading::InPlace => "in place",
            Reading::Backup => "backup",
            Reading::AsIs => "as is",
        }
    }
}

/// The file the copy reads; a temporary backup is removed when dropped.
pub struct SourceSnapshot {
    path: PathBuf,
    /// The private directory of a backup, and its held lock.
    private: Option<(PathBuf, File)>,
    /// A file read in place, and its data version when the snapshot was
    /// taken.
    watch: Option<Mutex<(SourceDb, i64)>>,
    connections: SourceConnections,
}

impl SourceSnapshot {
    /// The file to read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the run's threads get their connections to the file.
    pub fn connections(&self) -> &SourceConnections {
        &self.connections
    }

    /// How the file is read.
    pub fn reading(&self) -> Reading {
        match (&self.private, &self.watch) {
            (Some(_), _) => Reading::Backup,
            (None, Some(_)) => Reading::InPlace,
            (None, None) if self.connections.is_pinned() => Reading::WalSnapshot,
            (None, None) => Reading::AsIs,
        }
    }

    /// How the file is read, as summaries say it (see [`Reading`]).
    pub fn kind(&self) -> &'static str {
        self.reading().as_str()
    }

    /// Whether the file is read in place, watched for writers (see
    /// [`still_current`](Self::still_current)).
    pub fn in_place(&self) -> bool {
        self.watch.is_some()
    }

    /// Whether every read made so far saw the state the snapshot was
    /// taken at: always for a backup and for a WAL snapshot (and, by the
    /// user's word, for a file read as is); for a file read in place, when
    /// no writer committed since (its data version did not move).
    ///
    /// # Errors
    ///
    /// The file cannot be read (a writer holds its lock, say).
    pub fn still_current(&self) -> Result<bool> {
        match &self.watch {
            Some(watch) => {
                let watch = watch.lock().expect("source watch poisoned");
                Ok(watch.0.data_version().context("watching the source")? == watch.1)
            }
            None => Ok(true),
        }
    }

    /// [`SourceChanged`] unless [`still_current`](Self::still_current).
    ///
    /// # Errors
    ///
    /// A writer committed since the snapshot was taken, or the file cannot
    /// be read.
    pub fn check_current(&self, shown: &Path) -> Result<()> {
        if self.still_current()? {
            Ok(())
        } else {
            Err(SourceChanged {
                path: shown.to_owned(),
            }
            .into())
        }
    }

    /// `path` read with connections opened afresh, named `shown` in
    /// errors.
    fn read_as(
        path: &Path,
        shown: &Path,
        private: Option<(PathBuf, File)>,
        watch: Option<(SourceDb, i64)>,
    ) -> SourceSnapshot {
        SourceSnapshot {
            path: path.to_owned(),
            private,
            watch: watch.map(Mutex::new),
            connections: SourceConnections::open_each(path, shown),
        }
    }
}

impl Drop for SourceSnapshot {
    fn drop(&mut self) {
        if let Some((dir, _lock)) = &self.private {
            let _ = fs::remove_dir_all(dir);
            crate::interrupt::unregister_cleanup(dir);
        }
    }
}

/// Takes the snapshot of `source` a copy reads, whose threads will hold
/// at most `connections` connections at once (see the module doc):
/// [`SnapshotMode::Auto`] pins a WAL-mode file, and reads any other in
/// place when `may_restart` (the copy can undo what it loaded) or from a
/// backup when not. Other modes are as [`take`] takes them.
///
/// # Errors
///
/// The file cannot be opened, or the backup cannot be made.
pub fn take_for_copy(
    source: &Path,
    mode: SnapshotMode,
    connections: usize,
    may_restart: bool,
) -> Result<SourceSnapshot> {
    if mode != SnapshotMode::Auto {
        return take(source, mode);
    }
    let watcher = SourceDb::open(source).context("opening the source")?;
    let wal = !watcher.is_immutable()
        && watcher.journal_mode().context("opening the source")? == JournalMode::Wal;
    if wal {
        for attempt in 1..=PIN_ATTEMPTS {
            if let Some(snapshot) = pin(source, &watcher, connections)? {
                return Ok(snapshot);
            }
            tracing::info!(
                attempt,
                "a writer committed while the read transactions began; opening them again"
            );
            std::thread::sleep(Duration::from_millis(10 * u64::from(attempt)));
        }
        tracing::info!(
            "the writers of {} never paused: reading a backup",
            source.display()
        );
        return take(source, SnapshotMode::Backup);
    }
    if !may_restart {
        tracing::info!(
            "{} keeps a rollback journal and this copy cannot undo its rows: reading a backup",
            source.display()
        );
        return take(source, SnapshotMode::Backup);
    }
    drop(watcher);
    take(source, SnapshotMode::Auto)
}

/// Opens `count` connections to a WAL-mode `source`, each inside a read
/// transaction, and proves with `watcher` that they all began on one
/// state; `None` when a writer committed meanwhile.
fn pin(source: &Path, watcher: &SourceDb, count: usize) -> Result<Option<SourceSnapshot>> {
    let opened = (0..count)
        .map(|_| SourceDb::open(source))
        .collect::<Result<Vec<_>, _>>()
        .context("opening the source")?;
    let before = watcher.data_version().context("watching the source")?;
    for db in &opened {
        db.begin_read()
            .context("opening a read transaction on the source")?;
    }
    if watcher.data_version().context("watching the source")? != before {
        return Ok(None);
    }
    Ok(Some(SourceSnapshot {
        path: source.to_owned(),
        private: None,
        watch: None,
        connections: SourceConnections::pinned(source, source, opened),
    }))
}

/// [`take`], shown as the snapshot phase (a backup can take a while).
pub(crate) async fn take_shown(
    source: &Path,
    mode: SnapshotMode,
    progress: &crate::events::Progress,
) -> Result<SourceSnapshot> {
    show(mode, progress, || take(source, mode)).await
}

/// Runs `take` (for `mode`) as the snapshot phase of `progress`, unless
/// the file is read as is.
pub(crate) async fn show(
    mode: SnapshotMode,
    progress: &crate::events::Progress,
    take: impl FnOnce() -> Result<SourceSnapshot>,
) -> Result<SourceSnapshot> {
    if mode == SnapshotMode::None {
        return take();
    }
    progress
        .phase(crate::events::Phase::Snapshot, None, async {
            let snapshot = take()?;
            let outcome = match snapshot.reading() {
                Reading::Backup => "backup taken".to_owned(),
                Reading::WalSnapshot => "reading the file in place, on one WAL state".to_owned(),
                reading => format!("reading the file {}", reading.as_str()),
            };
            Ok((snapshot, outcome))
        })
        .await
}

/// Takes the snapshot `mode` asks for of `source`.
///
/// [`SnapshotMode::Auto`] reads the file in place: its caller must ask
/// [`SourceSnapshot::still_current`] once it read everything, and take a
/// [`SnapshotMode::Backup`] to read again when it is not.
pub fn take(source: &Path, mode: SnapshotMode) -> Result<SourceSnapshot> {
    match mode {
        SnapshotMode::None => return Ok(SourceSnapshot::read_as(source, source, None, None)),
        SnapshotMode::Auto => {
            let watched = SourceDb::open(source).and_then(|db| {
                let version = db.data_version()?;
                Ok((db, version))
            });
            match watched {
                Ok(watch) => return Ok(SourceSnapshot::read_as(source, source, None, Some(watch))),
                // Locked by a writer, say: the backup waits for it, or
                // says what is wrong.
                Err(err) => tracing::info!("reading {} in place: {err}", source.display()),
            }
        }
        SnapshotMode::Backup => {}
    }
    let temp = std::env::temp_dir();
    remove_stale(&temp);
    let db = SourceDb::open(source).context("opening the source")?;
    let advice = || {
        format!(
            "taking a snapshot of {} in {} (set TMPDIR to a roomier directory, or use \
             --snapshot none if nothing writes the file)",
            source.display(),
            temp.display()
        )
    };
    let (dir, lock) = private_dir(&temp).with_context(advice)?;
    let name = source
        .file_name()
        .map_or_else(|| "source".into(), |n| n.to_string_lossy().into_owned());
    let path = dir.join(name);
    // From here on the directory is removed whatever happens.
    let snapshot = SourceSnapshot::read_as(&path, source, Some((dir, lock)), None);
    tracing::info!(
        "backing {} up to {} to read one state of it",
        source.display(),
        snapshot.path.display()
    );
    db.backup_to(&snapshot.path).with_context(advice)?;
    Ok(snapshot)
}

/// Creates `ferry-snapshot-<pid>-<nanos>` (0700) in `temp`, registers it
/// for removal on a signal, and takes its lock.
fn private_dir(temp: &Path) -> Result<(PathBuf, File)> {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let dir = temp.join(format!("{PREFIX}{}-{nanos:x}", std::process::id()));
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    crate::interrupt::register_cleanup(&dir);
    let lock = File::create(dir.join(LOCK))
        .and_then(|file| try_lock(&file).map(|()| file))
        .with_context(|| format!("locking {}", dir.display()));
    match lock {
        Ok(lock) => Ok((dir, lock)),
        Err(err) => {
            let _ = fs::remove_dir_all(&dir);
            crate::interrupt::unregister_cleanup(&dir);
            Err(err)
        }
    }
}

/// An exclusive `flock` without waiting.
#[allow(unsafe_code)]
fn try_lock(file: &File) -> std::io::Result<()> {
    // SAFETY: flock on a descriptor the File owns.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Removes the snapshots of runs that are gone: directories whose lock no
/// process holds, and plain files of older versions whose process is
/// dead. Anything unreadable or not ours is left alone.
pub fn remove_stale(temp: &Path) {
    let Ok(entries) = fs::read_dir(temp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
            continue;
        };
        let pid = rest
            .split('-')
            .next()
            .and_then(|p| p.parse::<i32>().ok())
            .unwrap_or(0);
        if pid == i32::try_from(std::process::id()).unwrap_or(-1) {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            // No lock file: its run died between creating the directory
            // and the lock.
            let lock = File::open(path.join(LOCK));
            let free = match &lock {
                Ok(file) => try_lock(file).is_ok(),
                Err(err) => err.kind() == std::io::ErrorKind::NotFound,
            };
            let old = meta
                .modified()
                .ok()
                .and_then(|m| m.elapsed().ok())
                .is_some_and(|age| age > CREATION_GRACE);
            if free && (!alive(pid) || old) {
                tracing::info!(
                    "removing the snapshot of a run that is gone: {}",
                    path.display()
                );
                let _ = fs::remove_dir_all(&path);
            }
        } else if meta.is_file() && pid > 0 && !alive(pid) {
            tracing::info!(
                "removing the snapshot of a run that is gone: {}",
                path.display()
            );
            let _ = fs::remove_file(&path);
        }
    }
}

/// Whether a process with this id exists (in this PID namespace).
#[allow(unsafe_code)]
fn alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
