//! What a copy that stopped leaves in the target: each table it created
//! or loaded, with the rows its committed chunks wrote. Attached to the
//! copy's error, so whoever reports the error can say what is left and
//! how to go on (resume, start over, or drop what was created).

use std::fmt;

use ferry_model::quote_qualified;

/// The state of the target after a copy stopped with an error.
#[derive(Debug)]
pub struct LeftBehind {
    /// The tables the copy created or wrote rows into.
    pub tables: Vec<TableState>,
    /// The copy stopped for a reason outside the source and the plan (a
    /// lost connection, a full disk), so `--if-exists resume` can take it
    /// on; a bad value or a plan to change needs a fresh start, since the
    /// fixed source or plan no longer matches the recorded copy.
    pub resumable: bool,
    /// The target, its password hidden.
    pub target: String,
}

/// One table of the stopped copy.
#[derive(Debug, Clone)]
pub struct TableState {
    pub schema: String,
    pub name: String,
    /// This copy created it (so dropping it loses nothing of the user's).
    pub created: bool,
    /// Rows its committed chunks wrote; `None` when the ledger could not
    /// be read.
    pub committed: Option<u64>,
    /// Rows the source holds.
    pub expected: u64,
}

impl LeftBehind {
    /// `None` when the copy left nothing behind (it stopped before creating
    /// or loading any table).
    pub fn new(tables: Vec<TableState>, resumable: bool, target: &str) -> Option<LeftBehind> {
        let tables: Vec<TableState> = tables
            .into_iter()
            .filter(|t| t.created || t.committed.unwrap_or(0) > 0)
            .collect();
        (!tables.is_empty()).then(|| LeftBehind {
            tables,
            resumable,
            target: ferry_writer::redact_url(target),
        })
    }

    /// The tables the copy created, quoted and qualified, for a `DROP TABLE`.
    pub fn created(&self) -> Vec<String> {
        self.tables
            .iter()
            .filter(|t| t.created)
            .map(|t| quote_qualified(&t.schema, &t.name))
            .collect()
    }
}

impl fmt::Display for LeftBehind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let states: Vec<String> = self
            .tables
            .iter()
            .map(|t| {
                let committed = t.committed.map_or("?".to_owned(), |n| n.to_string());
                let origin = if t.created { "" } else { ", existed before" };
                let expected = ferry_model::plural(t.expected, "row", "rows");
                format!("{} ({committed} of {expected}{origin})", t.name)
            })
            .collect();
        write!(
            f,
            "the target keeps what this copy did: {}; keys, indexes and foreign keys are not \
             built.",
            states.join(", ")
        )
    }
}

impl std::error::Error for LeftBehind {}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, created: bool, committed: Option<u64>, expected: u64) -> TableState {
        TableState {
            schema: "app".to_owned(),
            name: name.to_owned(),
            created,
            committed,
            expected,
        }
    }

    #[test]
    fn names_the_tables_touched_and_their_rows() {
        let left = LeftBehind::new(
            vec![
                table("a", true, Some(0), 3),
                table("it's", true, Some(100), 100),
                table("old", false, Some(2), 5),
                table("unread", false, None, 5),
                table("untouched", false, Some(0), 5),
            ],
            true,
            "postgres://u:secret@h/db",
        )
        .expect("tables were created");
        assert_eq!(
            left.to_string(),
            "the target keeps what this copy did: a (0 of 3 rows), it's (100 of 100 rows), \
             old (2 of 5 rows, existed before); keys, indexes and foreign keys are not built."
        );
        assert_eq!(left.created(), ["\"app\".\"a\"", "\"app\".\"it's\""]);
        assert_eq!(left.target, "postgres://u:***@h/db");
    }

    #[test]
    fn nothing_created_nothing_said() {
        assert!(LeftBehind::new(vec![table("a", false, Some(0), 3)], false, "db").is_none());
    }
}
