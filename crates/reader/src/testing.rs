//! Temporary SQLite files for the unit tests.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use ferry_model::{IndexedColumn, SourceSchema};

use crate::SourceDb;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A uniquely named file under the system temp directory, removed (with
/// any journal files) when dropped.
pub(crate) struct TempDb {
    path: PathBuf,
}

impl TempDb {
    /// A database built by running `sql` through a separate read-write
    /// connection, closed before the test opens it.
    pub(crate) fn new(sql: &str) -> TempDb {
        TempDb::with_suffix("db", sql)
    }

    /// Like [`TempDb::new`], with a chosen end to the file name.
    pub(crate) fn with_suffix(suffix: &str, sql: &str) -> TempDb {
        let db = TempDb {
            path: unique_path(suffix),
        };
        let conn = rusqlite::Connection::open(&db.path).unwrap();
        conn.execute_batch(sql).unwrap();
        db
    }

    /// A file holding exactly `bytes`.
    pub(crate) fn raw(bytes: &[u8]) -> TempDb {
        let db = TempDb {
            path: unique_path("db"),
        };
        std::fs::write(&db.path, bytes).unwrap();
        db
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        for extra in ["-journal", "-wal", "-shm"] {
            let mut name = self.path.clone().into_os_string();
            name.push(extra);
            let _ = std::fs::remove_file(name);
        }
    }
}

fn unique_path(suffix: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!(
        "ferry-reader-{}-{}-{}-{suffix}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        nanos
    ))
}

/// The schema discovered in a database built by `sql`.
pub(crate) fn discover(sql: &str) -> SourceSchema {
    let db = TempDb::new(sql);
    SourceDb::open(db.path()).unwrap().schema().unwrap()
}

/// A plain index key entry.
pub(crate) fn col(name: &str, descending: bool) -> IndexedColumn {
    IndexedColumn::Column {
        name: name.into(),
        descending,
        nocase: false,
    }
}
