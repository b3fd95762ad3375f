//! Exit codes, the part of the interface scripts depend on, the error
//! types that decide them, and the one function that picks them.

use std::fmt;

use ferry_model::RowKey;
use ferry_reader::ReadError;
use ferry_transformer::TransformError;
use ferry_writer::WriteError;

/// Everything matched.
pub const OK: u8 = 0;
/// Verification found differences.
pub const DIFFERENCES: u8 = 1;
/// Usage, config or input error: the user must change something.
pub const USAGE: u8 = 2;
/// The source or target failed (I/O, connection, server error).
pub const FAILURE: u8 = 3;
/// Another `ferry sync` of the same source and schema, or another copy
/// into the same target tables, holds the lock.
pub const LOCKED: u8 = 4;
/// Interrupted by SIGINT or SIGTERM.
pub const INTERRUPTED: u8 = 130;

/// A mistake in how ferry was called or configured.
#[derive(Debug)]
pub struct UsageError(String);

impl UsageError {
    pub fn new(message: impl Into<String>) -> Self {
        UsageError(message.into())
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// A source value that cannot become its column's type exactly, under
/// `--on-error abort`.
#[derive(Debug)]
pub struct BadValue {
    pub table: String,
    pub key: RowKey,
    pub column: String,
    pub error: ferry_transformer::CoerceError,
}

impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, {}, column {}: {} (or rerun with --on-error quarantine to load the other rows \
             and list the bad ones in ferry.rejects)",
            self.table, self.key, self.column, self.error
        )
    }
}

impl std::error::Error for BadValue {}

/// A value the server refused (JSON nested deeper than its stack allows,
/// a constraint of an existing table…), found row by row, under
/// `--on-error abort`.
#[derive(Debug)]
pub struct RefusedValue {
    pub table: String,
    pub key: RowKey,
    pub column: String,
    pub error: WriteError,
}

impl fmt::Display for RefusedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, {}, column {}: Postgres refused the value (or rerun with --on-error quarantine \
             to load the other rows and list the refused ones in ferry.rejects)",
            self.table, self.key, self.column
        )
    }
}

impl std::error::Error for RefusedValue {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// The run was stopped by a signal before it finished.
#[derive(Debug)]
pub struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "interrupted: chunks in flight were rolled back, committed chunks are kept; \
             rerun the same command with --if-exists resume to continue",
        )
    }
}

impl std::error::Error for Interrupted {}

/// A `ferry sync` stopped by a signal: its apply was rolled back.
#[derive(Debug)]
pub struct SyncInterrupted;

impl fmt::Display for SyncInterrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SYNC_INTERRUPTED)
    }
}

impl std::error::Error for SyncInterrupted {}

/// What an interrupted sync says, also when a second signal ends it at
/// once.
pub const SYNC_INTERRUPTED: &str = "interrupted: the changes in flight were rolled back and no \
     table moved past its last finished sync; the next ferry sync catches up";

/// Maps an error to its documented exit code by looking at the types in its
/// chain, never at its text.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.is::<Interrupted>() || cause.is::<SyncInterrupted>() {
            return INTERRUPTED;
        }
        if cause.is::<crate::sync::Locked>() || cause.is::<crate::setup::LoaderBusy>() {
            return LOCKED;
        }
        if cause.is::<UsageError>()
            || cause.is::<BadValue>()
            || cause.is::<RefusedValue>()
            || cause.is::<TransformError>()
        {
            return USAGE;
        }
        if let Some(read) = cause.downcast_ref::<ReadError>() {
            return if read.is_input_error() {
                USAGE
            } else {
                FAILURE
            };
        }
        if let Some(write) = cause.downcast_ref::<WriteError>() {
            if write.is_input_error() {
                return USAGE;
            }
            // Data exceptions, constraint violations and program limits
            // (a row too big for a page) come from what the source holds:
            // the user must change the data or the plan.
            let from_data = write.sqlstate().is_some_and(|code| {
                ["22", "23", "54"]
                    .iter()
                    .any(|class| code.starts_with(class))
            });
            return if from_data { USAGE } else { FAILURE };
        }
    }
    FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn codes_follow_the_chain_not_the_text() {
        let usage = anyhow::Error::new(UsageError::new("bad flag")).context("step");
        assert_eq!(exit_code(&usage), USAGE);
        let interrupted: anyhow::Result<()> = Err(Interrupted.into());
        assert_eq!(
            exit_code(&interrupted.context("copy").unwrap_err()),
            INTERRUPTED
        );
        assert_eq!(exit_code(&anyhow::anyhow!("usage: something")), FAILURE);
    }
}
