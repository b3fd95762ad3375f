//! ferry-reader: reads a SQLite database without ever changing it.
//!
//! [`SourceDb::open`] opens the file read-only and checks straight away that
//! it is a readable SQLite database, so that a wrong path or a damaged file
//! fails with a precise [`ReadError`] before anything else starts.
//! [`SourceDb::schema`] then describes every user table as a
//! [`ferry_model::TableSchema`] (columns, keys, rowid alias, indexes, foreign
//! keys) and lists what is not copied (views, triggers, virtual and internal
//! tables) with a reason the user can act on.
//!
//! Rows flow out chunk by chunk: [`SourceDb::chunk_ranges`] cuts a table into
//! rowid ranges, and [`SourceDb::read_chunk`] streams one range to a
//! callback as borrowed [`ferry_model::SourceValueRef`]s, each in the storage
//! class SQLite actually holds, text as its raw bytes; an error the callback
//! returns ends the read and comes back as [`ReadOrRow::Row`], in the
//! caller's own type. [`SourceDb::read_selected`] reads only the rows a [`RowSelection`] picks
//! (past a rowid, or at or above a cursor value, filtered by SQLite) and
//! only some columns; [`SourceDb::column_shape`] says whether a column's
//! stored values sort in SQL the way their meaning does ([`ColumnShape`]). One `SourceDb` is one
//! connection; open one per reading thread.
//!
//! A source that another process may be writing is read from one state:
//! [`SourceDb::backup_to`] copies it, as one point in time, into a private
//! snapshot file with SQLite's online backup API;
//! [`SourceDb::hold_read_lock`] keeps one read transaction open (which, in
//! rollback [`JournalMode`], also holds writers off); and
//! [`SourceDb::identity`] fingerprints the file ([`SourceIdentity`]) so a
//! later run can tell whether it changed.
//!
//! ```
//! use std::convert::Infallible;
//! use ferry_model::ChunkRange;
//! use ferry_reader::{ReadOrRow, SourceDb};
//!
//! # let path = std::env::temp_dir().join(format!("ferry-reader-doc-{}.db", std::process::id()));
//! # rusqlite::Connection::open(&path).unwrap().execute_batch(
//! #     "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT);
//! #      INSERT INTO notes VALUES (1, 'hello'), (2, 'world');").unwrap();
//! let db = SourceDb::open(&path)?;
//! let schema = db.schema()?;
//! let notes = schema.table("notes").unwrap();
//! assert_eq!(notes.rowid_alias.as_deref(), Some("id"));
//!
//! let mut bodies = Vec::new();
//! for range in db.chunk_ranges(notes, 1000)? {
//!     db.read_chunk(notes, range, &mut |_rowid, values| {
//!         bodies.push(values[1].to_owned_value());
//!         Ok::<_, Infallible>(())
//!     })?;
//! }
//! assert_eq!(bodies.len(), 2);
//!
//! // The callback's error ends the read and comes back as it was.
//! let stopped = db.read_chunk(notes, ChunkRange::Whole, &mut |rowid, _| match rowid {
//!     Some(2) => Err("no row 2 wanted"),
//!     _ => Ok(()),
//! });
//! assert!(matches!(stopped, Err(ReadOrRow::Row("no row 2 wanted"))));
//! # drop(db);
//! # std::fs::remove_file(&path).unwrap();
//! # Ok::<(), ferry_reader::ReadError>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod chunk;
mod db;
mod discover;
mod error;
mod foreign_keys;
mod ident;
mod indexes;
mod select;
mod skip;
mod snapshot;
mod spatial;
mod sql_scan;
#[cfg(test)]
mod testing;

pub use chunk::OnRow;
pub use db::SourceDb;
pub use error::{ReadError, ReadOrRow};
pub use ident::quote_sqlite_ident;
pub use select::{ColumnShape, RowSelection};
pub use snapshot::{JournalMode, ReadGuard, SourceIdentity};
