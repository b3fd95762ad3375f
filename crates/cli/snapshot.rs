//! One point-in-time state of the source for the whole copy, even while
//! another process keeps writing it.
//!
//! Several reader threads each open their own connection, so without care
//! each could see a different state of a live file. With `--snapshot
//! backup` (the default) SQLite's online backup API first copies the file,
//! in one step, into a temporary file that the copy then reads and removes.
//! In WAL mode writers are never blocked; in rollback-journal mode they
//! wait while the backup runs. `--snapshot none` reads the file as it is,
//! for a file nothing writes during the copy.
//!
//! Holding one long read transaction instead does not work for a
//! rollback-journal file: a writer waiting to commit takes the PENDING
//! lock, which keeps every new reader connection out until it gives up.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ferry_reader::SourceDb;

use crate::args::SnapshotMode;

/// The file the copy reads; a temporary backup is removed when dropped.
pub struct SourceSnapshot {
    path: PathBuf,
    temporary: bool,
}

impl SourceSnapshot {
    /// The file to read.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SourceSnapshot {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Takes the snapshot `mode` asks for of `source`.
pub fn take(source: &Path, mode: SnapshotMode) -> Result<SourceSnapshot> {
    if mode == SnapshotMode::None {
        return Ok(SourceSnapshot {
            path: source.to_owned(),
            temporary: false,
        });
    }
    let name = source
        .file_name()
        .map_or_else(|| "source".into(), |n| n.to_string_lossy().into_owned());
    let path = std::env::temp_dir().join(format!("ferry-snapshot-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let db = SourceDb::open(source).context("opening the source")?;
    tracing::info!(
        "backing {} up to {} to read one state of it",
        source.display(),
        path.display()
    );
    db.backup_to(&path).with_context(|| {
        format!(
            "taking a snapshot of {} in {} (set TMPDIR to a roomier directory, or use \
             --snapshot none if nothing writes the file)",
            source.display(),
            std::env::temp_dir().display()
        )
    })?;
    Ok(SourceSnapshot {
        path,
        temporary: true,
    })
}
