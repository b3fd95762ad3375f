//! One point-in-time state of the source for the whole copy, even while
//! another process keeps writing it.
//!
//! Several reader threads each open their own connection, so without care
//! each could see a different state of a live file. With `--snapshot
//! backup` (the default) SQLite's online backup API first copies the file,
//! in one step, into a temporary file that the copy then reads and removes.
//! In WAL mode writers are never blocked; in rollback-journal mode they
//! wait while the backup runs. `--snapshot none` reads the file as it is,
//! for a file nothing writes during the copy. `--snapshot auto` (sync's
//! default) reads the file in place, then proves with SQLite's data
//! version that no writer committed meanwhile, so that every read saw one
//! state; when one did, the caller reads again from a backup. A copy,
//! which commits rows as it reads them, cannot read again: it takes a
//! backup.
//!
//! Holding one long read transaction instead does not work for a
//! rollback-journal file: a writer waiting to commit takes the PENDING
//! lock, which keeps every new reader connection out until it gives up.
//!
//! The copy holds the whole source, so it must never be more readable
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
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use ferry_reader::SourceDb;

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

/// The file the copy reads; a temporary backup is removed when dropped.
pub struct SourceSnapshot {
    path: PathBuf,
    /// The private directory of a backup, and its held lock.
    private: Option<(PathBuf, File)>,
    /// A file read in place, and its data version when the snapshot was
    /// taken.
    watch: Option<(SourceDb, i64)>,
}

impl SourceSnapshot {
    /// The file to read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How the file is read, as summaries say it: `in place`, `backup` or
    /// `as is`.
    pub fn kind(&self) -> &'static str {
        match (&self.private, &self.watch) {
            (Some(_), _) => "backup",
            (None, Some(_)) => "in place",
            (None, None) => "as is",
        }
    }

    /// Whether the file is read in place, watched for writers (see
    /// [`still_current`](Self::still_current)).
    pub fn in_place(&self) -> bool {
        self.watch.is_some()
    }

    /// Whether every read made so far saw the state the snapshot was
    /// taken at: always for a backup (and, by the user's word, for a file
    /// read as is); for a file read in place, when no writer committed
    /// since (its data version did not move).
    ///
    /// # Errors
    ///
    /// The file cannot be read (a writer holds its lock, say).
    pub fn still_current(&self) -> Result<bool> {
        match &self.watch {
            Some((db, version)) => {
                Ok(db.data_version().context("watching the source")? == *version)
            }
            None => Ok(true),
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

/// Takes the snapshot `mode` asks for of `source`.
///
/// [`SnapshotMode::Auto`] reads the file in place: its caller must ask
/// [`SourceSnapshot::still_current`] once it read everything, and take a
/// [`SnapshotMode::Backup`] to read again when it is not.
/// [`take`], shown as the snapshot phase (a backup can take a while).
pub(crate) async fn take_shown(
    source: &Path,
    mode: SnapshotMode,
    progress: &crate::events::Progress,
) -> Result<SourceSnapshot> {
    if mode == SnapshotMode::None {
        return take(source, mode);
    }
    progress
        .phase(crate::events::Phase::Snapshot, None, async {
            let snapshot = take(source, mode)?;
            let outcome = match snapshot.kind() {
                "backup" => "backup taken".to_owned(),
                kind => format!("reading the file {kind}"),
            };
            Ok((snapshot, outcome))
        })
        .await
}

pub fn take(source: &Path, mode: SnapshotMode) -> Result<SourceSnapshot> {
    match mode {
        SnapshotMode::None => {
            return Ok(SourceSnapshot {
                path: source.to_owned(),
                private: None,
                watch: None,
            })
        }
        SnapshotMode::Auto => {
            let watched = SourceDb::open(source).and_then(|db| {
                let version = db.data_version()?;
                Ok((db, version))
            });
            match watched {
                Ok(watch) => {
                    return Ok(SourceSnapshot {
                        path: source.to_owned(),
                        private: None,
                        watch: Some(watch),
                    })
                }
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
    let snapshot = SourceSnapshot {
        path,
        private: Some((dir, lock)),
        watch: None,
    };
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
