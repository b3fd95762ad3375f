//! Opening a SQLite file read-only and proving it is readable.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use ferry_model::TableSchema;
use rusqlite::{Connection, OpenFlags};

use crate::error::{classify, ReadError};
use crate::ident::quote_sqlite_ident;

/// Prepared statements kept per connection: a few per table being read, so
/// repeated chunks of the same table reuse theirs.
const STATEMENT_CACHE_CAPACITY: usize = 64;

/// A SQLite database opened read-only.
///
/// One connection, used from one thread at a time; open one `SourceDb` per
/// reading thread to read tables in parallel. Nothing done through it can
/// change the file: it is opened with `SQLITE_OPEN_READONLY`, as a
/// `mode=ro` URI, and with `PRAGMA query_only` on.
#[derive(Debug)]
pub struct SourceDb {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
    /// The file errors name: `path` itself, or the file `path` is a
    /// snapshot of.
    pub(crate) shown: PathBuf,
    /// Opened `immutable` (see [`SourceDb::open_as`]): the size and
    /// modification time the file had then, which stand in for SQLite's
    /// data version.
    pub(crate) immutable: Option<FileState>,
}

/// What tells that a file changed when SQLite cannot watch it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileState {
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl FileState {
    fn of(path: &Path) -> Option<FileState> {
        let metadata = fs::metadata(path).ok()?;
        Some(FileState {
            len: metadata.len(),
            modified: metadata.modified().ok(),
        })
    }
}

/// Registers a collation SQLite asks for and does not know (an
/// application's own, such as Anki's `unicase`) in binary order, so that
/// its tables can be read at all: ferry reads every row whatever their
/// order and never relies on SQLite comparing by it. The plan warns about
/// such columns (see `ferry_model::TableSchema::custom_collations`).
fn fallback_collation(conn: &Connection, name: &str) -> rusqlite::Result<()> {
    conn.create_collation(name, |a: &str, b: &str| a.cmp(b))
}

impl SourceDb {
    /// Opens the database at `path` read-only; never creates or modifies it.
    ///
    /// The file is checked straight away (its schema is read) so that a
    /// wrong path fails here, with a precise error, rather than in the
    /// middle of a copy: a missing file, a directory, a permission problem,
    /// a file that is not SQLite and a damaged file each have their own
    /// [`ReadError`] variant.
    pub fn open(path: &Path) -> Result<SourceDb, ReadError> {
        SourceDb::open_as(path, path)
    }

    /// Opens `path`, a snapshot of `shown`, naming `shown` in every error so
    /// that messages point at the file the user gave.
    ///
    /// A WAL-mode file in a directory ferry cannot write to (a read-only
    /// volume, as deployments mount sources) cannot be opened the usual
    /// way when its `-shm` index is missing, which is how a cleanly closed
    /// WAL database is left: SQLite would have to create it. When the file
    /// also has no `-wal` content, every committed page is in the main file,
    /// so it is opened `immutable` (no locks, no index) instead, and changes
    /// to it are noticed from its size and modification time.
    pub fn open_as(path: &Path, shown: &Path) -> Result<SourceDb, ReadError> {
        check_file(path)?;
        match SourceDb::open_with(path, shown, false) {
            Err(err) if needs_shared_memory(&err) && wal_mode(path) && !has_wal_content(path) => {
                SourceDb::open_with(path, shown, true)
            }
            opened => opened,
        }
    }

    fn open_with(path: &Path, shown: &Path, immutable: bool) -> Result<SourceDb, ReadError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let mut uri = read_only_uri(path);
        if immutable {
            uri.push_str("&immutable=1");
        }
        let conn = Connection::open_with_flags(uri, flags).map_err(|source| {
            classify(path, None, source, |source| ReadError::Open {
                path: path.to_owned(),
                source,
            })
        })?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        conn.collation_needed(fallback_collation)
            .map_err(|source| ReadError::Open {
                path: path.to_owned(),
                source,
            })?;
        let db = SourceDb {
            conn,
            path: path.to_owned(),
            shown: shown.to_owned(),
            immutable: immutable.then(|| FileState::of(path)).flatten(),
        };
        // Reading sqlite_schema makes SQLite read the header and page 1 and
        // parse every CREATE statement: a foreign file, a truncated one or a
        // broken schema all fail here.
        db.conn
            .execute_batch("PRAGMA query_only = ON; SELECT count(*) FROM main.sqlite_schema;")
            .map_err(|source| db.schema_error(source))?;
        Ok(db)
    }

    /// The file errors name: the path itself, or the file it is a
    /// snapshot of. With [`path`](Self::path), what another thread needs
    /// to open its own connection ([`SourceDb::open_as`]).
    pub fn shown(&self) -> &Path {
        &self.shown
    }

    /// Whether the file was opened `immutable` (see [`SourceDb::open_as`]):
    /// then SQLite takes no locks, and a read transaction does not keep a
    /// state of it.
    pub fn is_immutable(&self) -> bool {
        self.immutable.is_some()
    }

    /// The path the database was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Counts the rows of a table.
    pub fn row_count(&self, table: &TableSchema) -> Result<u64, ReadError> {
        let sql = format!(
            "SELECT count(*) FROM main.{}",
            quote_sqlite_ident(&table.name)
        );
        let count: i64 = self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
            .map_err(|source| self.table_error(&table.name, source))?;
        // count(*) is never negative.
        Ok(count.unsigned_abs())
    }

    /// SQLite's `PRAGMA data_version` on this connection: it changes when
    /// any other connection, of any process, commits to the file, so two
    /// equal readings prove that every read made in between, on any
    /// connection, saw one state of the file.
    ///
    /// # Errors
    ///
    /// [`ReadError::Busy`] and the like, as for reading the schema.
    ///
    /// A file opened `immutable` has no data version: its size and
    /// modification time (and the absence of `-wal` content) take its place,
    /// 0 while they are as they were at open, 1 once they are not.
    pub fn data_version(&self) -> Result<i64, ReadError> {
        if let Some(state) = &self.immutable {
            let same =
                FileState::of(&self.path).as_ref() == Some(state) && !has_wal_content(&self.path);
            return Ok(i64::from(!same));
        }
        self.conn
            .query_row("PRAGMA data_version", [], |row| row.get(0))
            .map_err(|source| self.schema_error(source))
    }

    /// Wraps an error met while reading the schema.
    pub(crate) fn schema_error(&self, source: rusqlite::Error) -> ReadError {
        classify(&self.shown, None, source, |source| ReadError::Schema {
            path: self.shown.clone(),
            source,
        })
    }

    /// Wraps an error met while reading one table.
    pub(crate) fn table_error(&self, table: &str, source: rusqlite::Error) -> ReadError {
        classify(&self.shown, Some(table), source, |source| {
            ReadError::Query {
                table: table.to_owned(),
                source,
            }
        })
    }
}

/// Checks the path with the operating system first, because SQLite reports
/// a missing file, a directory and a permission problem all as "unable to
/// open database file".
fn check_file(path: &Path) -> Result<(), ReadError> {
    let io_error = |source: io::Error| match source.kind() {
        io::ErrorKind::NotFound => ReadError::NotFound {
            path: path.to_owned(),
        },
        io::ErrorKind::PermissionDenied => ReadError::PermissionDenied {
            path: path.to_owned(),
            source,
        },
        _ => ReadError::Io {
            path: path.to_owned(),
            source,
        },
    };
    let metadata = fs::metadata(path).map_err(io_error)?;
    if metadata.is_dir() {
        return Err(ReadError::IsDirectory {
            path: path.to_owned(),
        });
    }
    fs::File::open(path).map_err(io_error)?;
    if metadata.len() == 0 && !has_wal_content(path) {
        return Err(ReadError::EmptyFile {
            path: path.to_owned(),
        });
    }
    Ok(())
}

/// Whether SQLite refused because it could not create or use the WAL
/// index next to the file (a read-only directory or file).
fn needs_shared_memory(err: &ReadError) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cause {
        if let Some(rusqlite::Error::SqliteFailure(failure, _)) = e.downcast_ref() {
            return matches!(
                failure.extended_code,
                rusqlite::ffi::SQLITE_READONLY_DIRECTORY
                    | rusqlite::ffi::SQLITE_READONLY_CANTINIT
                    | rusqlite::ffi::SQLITE_CANTOPEN
            );
        }
        cause = e.source();
    }
    false
}

/// Whether the file's header says WAL mode (read and write versions 2).
fn wal_mode(path: &Path) -> bool {
    use std::io::Read as _;
    let mut header = [0u8; 20];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .is_ok()
        && header[18] == 2
        && header[19] == 2
}

/// Whether a non-empty `-wal` file sits next to `path`: then the pages of
/// an empty-looking main file may still be in the write-ahead log.
fn has_wal_content(path: &Path) -> bool {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    fs::metadata(wal).is_ok_and(|m| m.len() > 0)
}

/// A `file:` URI for `path` with `mode=ro`.
///
/// With `SQLITE_OPEN_URI` on, a plain path that happens to start with
/// `file:` would be read as a URI, and `?` or `#` in a path would cut it
/// short; percent-encoding every byte outside the unreserved set makes any
/// path mean exactly itself (<https://www.sqlite.org/uri.html>).
fn read_only_uri(path: &Path) -> String {
    let bytes = path_bytes(path);
    let mut uri = String::with_capacity(bytes.len() + 16);
    // An absolute path gets an empty authority, so that a path starting
    // with `//` is not read as a host name.
    uri.push_str(if bytes.first() == Some(&b'/') {
        "file://"
    } else {
        "file:"
    });
    for &b in bytes.iter() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'.' | b'_' | b'~') {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?mode=ro");
    uri
}

#[cfg(unix)]
fn path_bytes(path: &Path) -> std::borrow::Cow<'_, [u8]> {
    use std::os::unix::ffi::OsStrExt;
    std::borrow::Cow::Borrowed(path.as_os_str().as_bytes())
}

#[cfg(not(unix))]
fn path_bytes(path: &Path) -> std::borrow::Cow<'_, [u8]> {
    let text = path.to_string_lossy().replace('\\', "/");
    // `C:/x` becomes `/C:/x`, the form SQLite expects for drive letters.
    let text = if text.as_bytes().get(1) == Some(&b':') {
        format!("/{text}")
    } else {
        text
    };
    std::borrow::Cow::Owned(text.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TempDb;

    #[test]
    fn uri_keeps_odd_paths_intact() {
        assert_eq!(
            read_only_uri(Path::new("/tmp/a b?#%.db")),
            "file:///tmp/a%20b%3F%23%25.db?mode=ro"
        );
        assert_eq!(
            read_only_uri(Path::new("file:x.db")),
            "file:file%3Ax.db?mode=ro"
        );
        assert_eq!(
            read_only_uri(Path::new("//srv/x.db")),
            "file:////srv/x.db?mode=ro"
        );
        assert_eq!(read_only_uri(Path::new("é.db")), "file:%C3%A9.db?mode=ro");
    }

    #[test]
    fn opens_paths_with_uri_characters() {
        let db = TempDb::with_suffix(
            "we?ird #name%20.db",
            "CREATE TABLE t(a); INSERT INTO t VALUES (1);",
        );
        let source = SourceDb::open(db.path()).unwrap();
        assert_eq!(source.path(), db.path());
        let schema = source.schema().unwrap();
        assert_eq!(source.row_count(&schema.tables[0]).unwrap(), 1);
    }

    #[test]
    fn data_version_moves_with_other_connections_commits() {
        for journal in ["delete", "wal"] {
            let db = TempDb::new(&format!(
                "PRAGMA journal_mode = {journal}; CREATE TABLE t(a); INSERT INTO t VALUES (1);"
            ));
            let source = SourceDb::open(db.path()).unwrap();
            let before = source.data_version().unwrap();
            assert_eq!(source.data_version().unwrap(), before, "{journal}");
            rusqlite::Connection::open(db.path())
                .unwrap()
                .execute_batch("INSERT INTO t VALUES (2)")
                .unwrap();
            assert_ne!(source.data_version().unwrap(), before, "{journal}");
        }
    }

    #[test]
    fn missing_file_is_not_created() {
        let path =
            std::env::temp_dir().join(format!("ferry-reader-missing-{}.db", std::process::id()));
        let err = SourceDb::open(&path).unwrap_err();
        assert!(matches!(err, ReadError::NotFound { .. }), "{err:?}");
        assert!(err.to_string().contains("check the path"));
        assert!(!path.exists());
    }

    #[test]
    fn empty_file_is_refused() {
        let file = TempDb::raw(b"");
        let err = SourceDb::open(file.path()).unwrap_err();
        assert!(matches!(err, ReadError::EmptyFile { .. }), "{err:?}");
        assert!(err.is_input_error());
        assert!(err.to_string().contains(&file.path().display().to_string()));
        assert_eq!(std::fs::metadata(file.path()).unwrap().len(), 0);
    }

    #[test]
    fn directory_is_refused() {
        let err = SourceDb::open(&std::env::temp_dir()).unwrap_err();
        assert!(matches!(err, ReadError::IsDirectory { .. }), "{err:?}");
    }

    #[test]
    fn non_sqlite_file_is_refused() {
        let file = TempDb::raw(b"id,name\n1,alice\n2,bob\n".repeat(100).as_slice());
        let err = SourceDb::open(file.path()).unwrap_err();
        assert!(matches!(err, ReadError::NotADatabase { .. }), "{err:?}");
        assert!(err.to_string().contains("is it a SQLite database?"));
    }

    #[test]
    fn truncated_file_is_refused() {
        let db = TempDb::new(
            "CREATE TABLE t(a TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
             INSERT INTO t SELECT printf('%0100d', i) FROM n;",
        );
        let bytes = std::fs::read(db.path()).unwrap();
        for keep in [bytes.len() / 2, 4096 + 10, 60] {
            let cut = TempDb::raw(&bytes[..keep]);
            let err = SourceDb::open(cut.path()).unwrap_err();
            assert!(
                matches!(err, ReadError::Corrupt { table: None, .. }),
                "{keep}: {err:?}"
            );
        }
    }

    #[test]
    fn damaged_page_names_the_table() {
        let db = TempDb::new(
            "PRAGMA page_size = 1024;
             CREATE TABLE t(a TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
             INSERT INTO t SELECT printf('%0100d', i) FROM n;",
        );
        let mut bytes = std::fs::read(db.path()).unwrap();
        // Page 2 is t's root; overwrite its b-tree header with garbage.
        bytes[1024..1040].fill(0xee);
        let damaged = TempDb::raw(&bytes);
        let source = SourceDb::open(damaged.path()).unwrap();
        let schema = source.schema().unwrap();
        let err = source.row_count(&schema.tables[0]).unwrap_err();
        assert!(
            matches!(err, ReadError::Corrupt { table: Some(ref t), .. } if t == "t"),
            "{err:?}"
        );
        assert!(err.to_string().contains(".recover"));
    }

    #[test]
    fn reads_wal_mode_databases() {
        let db = TempDb::new(
            "PRAGMA journal_mode = WAL; CREATE TABLE t(a); INSERT INTO t VALUES (1), (2);",
        );
        let before = std::fs::read(db.path()).unwrap();
        let source = SourceDb::open(db.path()).unwrap();
        let schema = source.schema().unwrap();
        assert_eq!(source.row_count(&schema.tables[0]).unwrap(), 2);
        drop(source);
        assert_eq!(std::fs::read(db.path()).unwrap(), before);
    }

    #[test]
    fn connection_cannot_write() {
        let db = TempDb::new("CREATE TABLE t(a);");
        let source = SourceDb::open(db.path()).unwrap();
        assert!(source.conn.execute("INSERT INTO t VALUES (1)", []).is_err());
    }
}
