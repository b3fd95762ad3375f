//! The crate's errors: planning problems the user fixes in ferry.toml, and
//! values that cannot become their column's type.

use std::fmt;

/// A problem found while planning the target; the message names the config
/// key (or flag) to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransformError {
    /// A table named in ferry.toml or in the table list does not exist.
    #[error(
        "{location}: no such table {table} in the SQLite file; tables are: {}",
        list(available)
    )]
    UnknownTable {
        /// Where the name came from (`ferry.toml: [tables.emailz]`).
        location: String,
        /// The name as written.
        table: String,
        /// The tables that do exist.
        available: Vec<String>,
    },
    /// A column named in ferry.toml does not exist in its table.
    #[error(
        "{location}: no such column in {table}; columns are: {}",
        list(available)
    )]
    UnknownColumn {
        /// Where the name came from (`ferry.toml: [tables.emails.columns.craeted_at]`).
        location: String,
        /// Source table name.
        table: String,
        /// The column name as written.
        column: String,
        /// The columns that do exist.
        available: Vec<String>,
    },
    /// Two source objects end up with the same Postgres name after case
    /// folding, renaming or truncation to 63 bytes.
    #[error(
        "{first} and {second} would both be named \"{target}\" in {scope} (Postgres keeps \
         63 bytes of a name); rename one of them with `rename = \"...\"` in ferry.toml \
         (indexes: rename in SQLite), or, if only their case differs, keep it with \
         --identifiers preserve"
    )]
    NameCollision {
        /// The Postgres namespace (`schema public`, `table emails`).
        scope: String,
        /// The colliding target name.
        target: String,
        /// The first source object (`table Emails`).
        first: String,
        /// The second source object (`table EMAILS`).
        second: String,
    },
    /// A partition setting that cannot work: the column's type does not
    /// suit the scheme, or a number is out of range.
    #[error("{location}: {reason}")]
    InvalidPartition {
        /// The config key or flag (`ferry.toml: [tables.emails] partition.interval`).
        location: String,
        /// Source table name.
        table: String,
        /// Source column name.
        column: String,
        /// What is wrong and what to write instead.
        reason: String,
    },
    /// A UTC offset for naive datetimes that Postgres cannot represent.
    #[error(
        "{location}: UTC offset of {seconds} seconds is out of range; use an offset between \
         -15:59 and +15:59"
    )]
    InvalidOffset {
        /// Where the offset came from.
        location: String,
        /// The offset as given.
        seconds: i32,
    },
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "(none)".to_owned()
    } else {
        names.join(", ")
    }
}

/// A source value that cannot become its column's Postgres type without
/// losing information.
///
/// Displays as one sentence: `'2023-02-30' is not a valid date (February has
/// 28 days in 2023); fix the value or map the column to text in ferry.toml`.
/// The caller adds the table, row and column.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CoerceError {
    /// The value, previewed (quoted, escaped, at most 60 characters).
    pub value: String,
    /// What is wrong with it, starting with a verb (`is not an integer`).
    pub reason: String,
    /// What to do next.
    pub hint: &'static str,
}

impl fmt::Display for CoerceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}; {}", self.value, self.reason, self.hint)
    }
}

impl std::error::Error for CoerceError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_to_do() {
        let e = TransformError::UnknownColumn {
            location: "ferry.toml: [tables.emails.columns.craeted_at]".into(),
            table: "emails".into(),
            column: "craeted_at".into(),
            available: vec!["id".into(), "created_at".into()],
        };
        assert_eq!(
            e.to_string(),
            "ferry.toml: [tables.emails.columns.craeted_at]: no such column in emails; \
             columns are: id, created_at"
        );
        let c = CoerceError {
            value: "'x'".into(),
            reason: "is not an integer".into(),
            hint: "fix it",
        };
        assert_eq!(c.to_string(), "'x' is not an integer; fix it");
    }
}
