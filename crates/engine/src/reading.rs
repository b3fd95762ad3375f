//! Reads of the source in the engine's error terms.

use std::fmt::Display;

use anyhow::Result;
use ferry_reader::ReadOrRow;

/// The result of a read whose callback fails with an [`anyhow::Error`].
/// Its error stays as the callback made it: it names the row and column
/// already (a [`BadValue`](crate::exit::BadValue)), and the exit code is
/// read from its type.
pub trait ReadResult<T> {
    /// SQLite's error with `context`, what was being read.
    fn read_context<C>(self, context: impl FnOnce() -> C) -> Result<T>
    where
        C: Display + Send + Sync + 'static;

    /// SQLite's error as it is.
    fn read_result(self) -> Result<T>;
}

impl<T> ReadResult<T> for std::result::Result<T, ReadOrRow<anyhow::Error>> {
    fn read_context<C>(self, context: impl FnOnce() -> C) -> Result<T>
    where
        C: Display + Send + Sync + 'static,
    {
        self.map_err(|stopped| match stopped {
            ReadOrRow::Read(err) => anyhow::Error::new(err).context(context()),
            ReadOrRow::Row(err) => err,
        })
    }

    fn read_result(self) -> Result<T> {
        self.map_err(|stopped| match stopped {
            ReadOrRow::Read(err) => err.into(),
            ReadOrRow::Row(err) => err,
        })
    }
}
