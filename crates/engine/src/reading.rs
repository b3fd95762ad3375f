//! Reads of the source, and of the target back, in the engine's error
//! terms.

use std::fmt::Display;

use anyhow::Result;
use ferry_reader::ReadOrRow;
use ferry_writer::WriteOrRow;

/// The result of a read whose callback fails with an [`anyhow::Error`].
/// The callback's error stays as the callback made it: it names the row
/// and column already (a [`BadValue`](crate::exit::BadValue)), and the exit
/// code is read from its type.
pub trait ReadResult<T> {
    /// The read's own error (SQLite's or the server's) with `context`, what
    /// was being read.
    fn read_context<C>(self, context: impl FnOnce() -> C) -> Result<T>
    where
        C: Display + Send + Sync + 'static;

    /// The read's own error as it is.
    fn read_result(self) -> Result<T>;
}

/// Why a read with a callback ended early: the source's [`ReadOrRow`] or
/// the target's [`WriteOrRow`], told apart.
pub trait ReadEnded {
    /// The read's own error, or the callback's.
    fn cause(self) -> Cause;
}

/// Who ended a read early.
pub enum Cause {
    /// The read itself failed.
    Read(anyhow::Error),
    /// The callback returned this error.
    Callback(anyhow::Error),
}

impl ReadEnded for ReadOrRow<anyhow::Error> {
    fn cause(self) -> Cause {
        match self {
            ReadOrRow::Read(err) => Cause::Read(err.into()),
            ReadOrRow::Row(err) => Cause::Callback(err),
        }
    }
}

impl ReadEnded for WriteOrRow<anyhow::Error> {
    fn cause(self) -> Cause {
        match self {
            WriteOrRow::Write(err) => Cause::Read(err.into()),
            WriteOrRow::Row(err) => Cause::Callback(err),
        }
    }
}

impl<T, E: ReadEnded> ReadResult<T> for std::result::Result<T, E> {
    fn read_context<C>(self, context: impl FnOnce() -> C) -> Result<T>
    where
        C: Display + Send + Sync + 'static,
    {
        self.map_err(|ended| match ended.cause() {
            Cause::Read(err) => err.context(context()),
            Cause::Callback(err) => err,
        })
    }

    fn read_result(self) -> Result<T> {
        self.map_err(|ended| match ended.cause() {
            Cause::Read(err) | Cause::Callback(err) => err,
        })
    }
}
