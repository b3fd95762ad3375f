//! Everything that can go wrong reading a SQLite file, each with what to do.

use std::convert::Infallible;
use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

/// Why the source database could not be opened or read.
///
/// Every variant names the file or table involved, and its message ends with
/// what the user can do about it. The underlying SQLite or I/O error is kept
/// as the `source`, never reworded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The path does not exist.
    #[error("{}: no such file; check the path (ferry never creates the source database)", path.display())]
    NotFound {
        /// The path given.
        path: PathBuf,
    },

    /// The path is a directory.
    #[error("{} is a directory, not a SQLite database file; point ferry at the database file itself", path.display())]
    IsDirectory {
        /// The path given.
        path: PathBuf,
    },

    /// The file is empty (0 bytes). SQLite would read it as a database
    /// without tables, but as a source it is almost always a wrong path or
    /// a file some tool created by opening a misspelt name.
    #[error("{} is an empty file (0 bytes), not a SQLite database; check the path", path.display())]
    EmptyFile {
        /// The path given.
        path: PathBuf,
    },

    /// The operating system refused to let ferry read the file.
    #[error("{}: permission denied; grant read access to the file (and its directory) or run ferry as a user who can read it", path.display())]
    PermissionDenied {
        /// The path given.
        path: PathBuf,
        /// The I/O error reported by the operating system.
        #[source]
        source: std::io::Error,
    },

    /// The operating system could not look at the path for another reason.
    #[error("{}: cannot access the file; check the path and that the disk or network share holding it is available", path.display())]
    Io {
        /// The path given.
        path: PathBuf,
        /// The I/O error reported by the operating system.
        #[source]
        source: std::io::Error,
    },

    /// SQLite could not open the file for another reason.
    #[error("{}: SQLite cannot open the file; check that it is a readable SQLite database and that its directory is accessible", path.display())]
    Open {
        /// The path given.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },

    /// The file exists but is not a SQLite database.
    #[error("{} is not a SQLite database (no `SQLite format 3` header); is it a SQLite database? check the path, and decrypt or decompress the file first if it is encrypted or archived", path.display())]
    NotADatabase {
        /// The path given.
        path: PathBuf,
    },

    /// The file is a SQLite database, but damaged (truncated, overwritten…).
    #[error("{}{}: the file is corrupt; run `sqlite3 {} .recover | sqlite3 repaired.db` and point ferry at repaired.db", path.display(), table.as_deref().map(|t| format!(", table {t}")).unwrap_or_default(), path.display())]
    Corrupt {
        /// The path given.
        path: PathBuf,
        /// The table being read when the damage was found, if any.
        table: Option<String>,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },

    /// Another process holds a lock that prevents reading.
    #[error("{}: the database is locked by another process; wait for its write to finish, or copy the file and read the copy", path.display())]
    Busy {
        /// The path given.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },

    /// Reading the schema (`sqlite_schema`, pragmas) failed.
    #[error("{}: cannot read the schema; check the file with `sqlite3 {} 'PRAGMA integrity_check'` and that no extension its schema needs is missing", path.display(), path.display())]
    Schema {
        /// The path given.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },

    /// A query on one table failed.
    #[error("table {table}: query failed; check the table with `PRAGMA integrity_check` and that no extension it needs (collation, function) is missing")]
    Query {
        /// The table being read.
        table: String,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },

    /// A `CREATE` statement in `sqlite_schema` could not be taken apart.
    #[error("table {table}: cannot parse the SQL of {object} ({detail}): {sql}; drop or simplify {object} in a copy of the file and retry")]
    UnparsedSql {
        /// The table the object belongs to.
        table: String,
        /// The index or table whose SQL was being read.
        object: String,
        /// The SQL text, shortened.
        sql: String,
        /// What was expected and not found.
        detail: String,
    },

    /// The table has user columns named `rowid`, `_rowid_` and `oid`, so
    /// SQL cannot reach the real rowid to chunk or order by.
    #[error("table {table}: columns named rowid, _rowid_ and oid hide the table's rowid; rename one of them in a copy of the file and retry")]
    RowidHidden {
        /// The table.
        table: String,
    },

    /// The file a snapshot was asked to go to already exists.
    #[error("{}: the snapshot file already exists; remove it or choose another path (ferry never overwrites a file)", dest.display())]
    SnapshotExists {
        /// The snapshot path given.
        dest: PathBuf,
    },

    /// Creating or writing the snapshot file failed.
    #[error("{}: cannot write the snapshot of {}; check the free space and permissions of its directory", dest.display(), path.display())]
    SnapshotIo {
        /// The source database.
        path: PathBuf,
        /// The snapshot path.
        dest: PathBuf,
        /// The I/O error reported by the operating system.
        #[source]
        source: std::io::Error,
    },

    /// SQLite's backup of the source into the snapshot file failed.
    #[error("{}: cannot copy {} into this snapshot file; check the free space and permissions of its directory", dest.display(), path.display())]
    Snapshot {
        /// The source database.
        path: PathBuf,
        /// The snapshot path.
        dest: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },

    /// A rowid range was asked of a `WITHOUT ROWID` table.
    #[error("table {table} is WITHOUT ROWID and has no rowid ranges; read it as ChunkRange::Whole (as chunk_ranges returns)")]
    NoRowid {
        /// The table.
        table: String,
    },
}

/// Why streaming rows ([`SourceDb::read_chunk`],
/// [`SourceDb::read_selected`]) ended before the last row: reading failed,
/// or the caller's callback returned an error of its own type `E`, handed
/// back as it was.
///
/// [`SourceDb::read_chunk`]: crate::SourceDb::read_chunk
/// [`SourceDb::read_selected`]: crate::SourceDb::read_selected
#[derive(Debug, thiserror::Error)]
pub enum ReadOrRow<E> {
    /// Reading the source failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The callback failed on a row.
    #[error(transparent)]
    Row(E),
}

/// A read whose callback cannot fail can only fail reading.
impl From<ReadOrRow<Infallible>> for ReadError {
    fn from(stopped: ReadOrRow<Infallible>) -> ReadError {
        match stopped {
            ReadOrRow::Read(err) => err,
            ReadOrRow::Row(never) => match never {},
        }
    }
}

impl ReadError {
    /// Whether the source file itself is unusable as given (wrong path, not
    /// a database, damaged, unreadable, a schema ferry cannot take apart):
    /// the user must fix the input, and retrying the same run cannot help.
    /// Locks, I/O trouble and failed queries are not input errors.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            ReadError::NotFound { .. }
                | ReadError::IsDirectory { .. }
                | ReadError::EmptyFile { .. }
                | ReadError::PermissionDenied { .. }
                | ReadError::Open { .. }
                | ReadError::NotADatabase { .. }
                | ReadError::Corrupt { .. }
                | ReadError::UnparsedSql { .. }
                | ReadError::RowidHidden { .. }
        )
    }
}

/// Sorts a SQLite error into the variant that tells the user what to do,
/// by SQLite's result code (never by message text). `fallback` builds the
/// error for everything that is not a property of the file itself.
pub(crate) fn classify(
    path: &Path,
    table: Option<&str>,
    source: rusqlite::Error,
    fallback: impl FnOnce(rusqlite::Error) -> ReadError,
) -> ReadError {
    match source.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => ReadError::NotADatabase {
            path: path.to_owned(),
        },
        Some(ErrorCode::DatabaseCorrupt) => ReadError::Corrupt {
            path: path.to_owned(),
            table: table.map(str::to_owned),
            source,
        },
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => ReadError::Busy {
            path: path.to_owned(),
            source,
        },
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => ReadError::Open {
            path: path.to_owned(),
            source,
        },
        _ => fallback(source),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    #[test]
    fn classifies_by_result_code() {
        let path = Path::new("/data/app.db");
        let fallback = |source| ReadError::Query {
            table: "t".into(),
            source,
        };
        let err = classify(
            path,
            Some("t"),
            failure(rusqlite::ffi::SQLITE_NOTADB),
            fallback,
        );
        assert!(matches!(err, ReadError::NotADatabase { .. }));
        let err = classify(
            path,
            Some("t"),
            failure(rusqlite::ffi::SQLITE_CORRUPT),
            fallback,
        );
        assert!(matches!(err, ReadError::Corrupt { table: Some(ref t), .. } if t == "t"));
        let err = classify(path, None, failure(rusqlite::ffi::SQLITE_BUSY), fallback);
        assert!(matches!(err, ReadError::Busy { .. }));
        let err = classify(path, None, failure(rusqlite::ffi::SQLITE_ERROR), fallback);
        assert!(matches!(err, ReadError::Query { .. }));
    }

    #[test]
    fn input_errors_are_the_files_fault() {
        assert!(ReadError::NotADatabase { path: "x".into() }.is_input_error());
        assert!(ReadError::RowidHidden { table: "t".into() }.is_input_error());
        let busy = ReadError::Busy {
            path: "x".into(),
            source: failure(rusqlite::ffi::SQLITE_BUSY),
        };
        assert!(!busy.is_input_error());
        assert!(!ReadError::NoRowid { table: "t".into() }.is_input_error());
    }

    #[test]
    fn messages_name_the_place_and_the_fix() {
        let err = ReadError::Corrupt {
            path: "/data/app.db".into(),
            table: Some("orders".into()),
            source: failure(rusqlite::ffi::SQLITE_CORRUPT),
        };
        assert_eq!(
            err.to_string(),
            "/data/app.db, table orders: the file is corrupt; run \
             `sqlite3 /data/app.db .recover | sqlite3 repaired.db` and point ferry at repaired.db"
        );
        let err = ReadError::NotADatabase {
            path: "notes.txt".into(),
        };
        assert!(err
            .to_string()
            .starts_with("notes.txt is not a SQLite database"));
    }
}
