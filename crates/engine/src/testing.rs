//! Sources for the unit tests: SQLite files built from SQL, prepared the
//! way every job prepares them.

use crate::options::{SourceOptions, TypesFrom};
use crate::prepare::{prepare, PlannedTable, Prepared};

/// A source database in a directory of its own, removed when dropped.
pub(crate) struct TestSource {
    /// Declared before the directory, so the file is closed first.
    pub prepared: Prepared,
    _dir: tempfile::TempDir,
}

impl TestSource {
    /// A database built by `sql`, prepared with the declared types, so
    /// that a value its column's type cannot hold stays a bad value.
    pub(crate) fn new(sql: &str) -> TestSource {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("source.db");
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch(sql)
            .unwrap();
        let prepared = prepare(&SourceOptions {
            source: path,
            types: Some(TypesFrom::Declared),
            ..SourceOptions::default()
        })
        .unwrap();
        TestSource {
            prepared,
            _dir: dir,
        }
    }

    /// The table `name` with its plan.
    pub(crate) fn table(&self, name: &str) -> PlannedTable {
        self.prepared
            .tables
            .iter()
            .find(|t| t.source.name == name)
            .unwrap()
            .clone()
    }
}
