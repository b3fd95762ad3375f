//! Where the threads reading a source get their SQLite connections.
//!
//! Usually each thread opens its own. When a copy reads a WAL-mode file in
//! place, the connections were opened together, each already inside a read
//! transaction on one state of the file (see [`crate::snapshot`]); a
//! connection opened later would see a later state, so threads borrow
//! those instead and give them back when done.

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use anyhow::{Context, Result};
use ferry_reader::SourceDb;

/// Opens or lends source connections.
pub struct SourceConnections {
    path: PathBuf,
    shown: PathBuf,
    pinned: Option<Pool>,
}

/// Connections that hold a read transaction on one state of the file.
struct Pool {
    idle: Mutex<Vec<SourceDb>>,
    returned: Condvar,
}

impl SourceConnections {
    /// Each connection opened afresh from `path`, named `shown` in errors.
    pub fn open_each(path: &Path, shown: &Path) -> SourceConnections {
        SourceConnections {
            path: path.to_owned(),
            shown: shown.to_owned(),
            pinned: None,
        }
    }

    /// Only these connections, each inside a read transaction on the same
    /// state of `path`.
    pub fn pinned(path: &Path, shown: &Path, connections: Vec<SourceDb>) -> SourceConnections {
        SourceConnections {
            path: path.to_owned(),
            shown: shown.to_owned(),
            pinned: Some(Pool {
                idle: Mutex::new(connections),
                returned: Condvar::new(),
            }),
        }
    }

    /// Whether the connections are the pinned ones.
    pub fn is_pinned(&self) -> bool {
        self.pinned.is_some()
    }

    /// A connection to keep: a pinned one leaves the pool for good.
    ///
    /// # Errors
    ///
    /// The file cannot be opened, or every pinned connection is taken.
    pub fn open(&self) -> Result<SourceDb> {
        match &self.pinned {
            Some(pool) => pool
                .idle
                .lock()
                .expect("source pool poisoned")
                .pop()
                .context("every source connection of the snapshot is taken; this is a bug"),
            None => SourceDb::open_as(&self.path, &self.shown).context("opening the source"),
        }
    }

    /// A connection to use for a while; a pinned one goes back to the
    /// pool when the lease is dropped. Waits while every pinned
    /// connection is lent out.
    ///
    /// # Errors
    ///
    /// The file cannot be opened.
    pub fn lease(&self) -> Result<Lease<'_>> {
        let db = match &self.pinned {
            Some(pool) => {
                let mut idle = pool.idle.lock().expect("source pool poisoned");
                loop {
                    if let Some(db) = idle.pop() {
                        break db;
                    }
                    idle = pool.returned.wait(idle).expect("source pool poisoned");
                }
            }
            None => SourceDb::open_as(&self.path, &self.shown).context("opening the source")?,
        };
        Ok(Lease {
            db: Some(db),
            pool: self.pinned.as_ref(),
        })
    }
}

/// A lent connection (see [`SourceConnections::lease`]).
pub struct Lease<'a> {
    db: Option<SourceDb>,
    pool: Option<&'a Pool>,
}

impl std::ops::Deref for Lease<'_> {
    type Target = SourceDb;

    fn deref(&self) -> &SourceDb {
        self.db
            .as_ref()
            .expect("a lease holds its connection until dropped")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let (Some(pool), Some(db)) = (self.pool, self.db.take()) {
            pool.idle.lock().expect("source pool poisoned").push(db);
            pool.returned.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t(a); INSERT INTO t VALUES (1);")
            .unwrap();
        (dir, path)
    }

    #[test]
    fn a_pinned_pool_lends_its_connections_and_takes_them_back() {
        let (_dir, path) = source();
        let dbs = vec![
            SourceDb::open(&path).unwrap(),
            SourceDb::open(&path).unwrap(),
        ];
        let connections = SourceConnections::pinned(&path, &path, dbs);
        assert!(connections.is_pinned());
        let kept = connections.open().unwrap();
        {
            let _lease = connections.lease().unwrap();
            let err = connections.open().err().unwrap();
            assert!(err.to_string().contains("this is a bug"), "{err}");
        }
        // The lease came back; a second thread waits for it.
        let lease = connections.lease().unwrap();
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| connections.lease().map(|_| ()).is_ok());
            drop(lease);
            assert!(waiter.join().unwrap());
        });
        drop(kept);
    }

    #[test]
    fn unpinned_connections_are_opened_each_time() {
        let (_dir, path) = source();
        let connections = SourceConnections::open_each(&path, &path);
        assert!(!connections.is_pinned());
        let (a, b) = (connections.lease().unwrap(), connections.open().unwrap());
        assert_eq!(a.path(), b.path());
    }
}
