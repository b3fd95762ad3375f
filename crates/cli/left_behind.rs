//! What a copy that stopped leaves in the target, and the commands that go
//! on from there: resume once the source is fixed, recreate once the plan
//! changed, or drop what the copy created.

use std::fmt;

use ferry_model::{quote_qualified, TablePlan};

/// The state of the target after a copy stopped with an error, added to
/// that error so the user reads both together.
#[derive(Debug)]
pub struct LeftBehind(String);

impl fmt::Display for LeftBehind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LeftBehind {}

/// One table of the stopped copy.
pub struct TableState<'p> {
    pub plan: &'p TablePlan,
    /// This copy created it (so dropping it loses nothing of the user's).
    pub created: bool,
    /// Rows its committed chunks wrote; `None` when the ledger could not
    /// be read.
    pub committed: Option<u64>,
    /// Rows the source holds.
    pub expected: u64,
}

/// Describes the tables and the next commands; `None` when the copy left
/// nothing behind (it stopped before creating or loading any table).
/// `resumable`: the copy stopped for a reason outside the source and the
/// plan (a lost connection, a full disk), so `--if-exists resume` can take
/// it on; a bad value or a plan to change needs a fresh start, since the
/// fixed source or plan no longer matches the recorded copy.
pub fn describe(
    tables: &[TableState<'_>],
    command: &[String],
    target: &str,
    resumable: bool,
) -> Option<LeftBehind> {
    let touched: Vec<&TableState> = tables
        .iter()
        .filter(|t| t.created || t.committed.unwrap_or(0) > 0)
        .collect();
    if touched.is_empty() {
        return None;
    }
    let states: Vec<String> = touched
        .iter()
        .map(|t| {
            let rows = match t.committed {
                Some(n) => format!("{n} of {} rows", t.expected),
                None => format!("? of {} rows", t.expected),
            };
            let origin = if t.created { "" } else { ", existed before" };
            format!("{} ({rows}{origin})", t.plan.name)
        })
        .collect();
    let mut note = format!(
        "the target keeps what this copy did: {}; keys, indexes and foreign keys are not built.",
        states.join(", ")
    );
    if resumable {
        note.push_str(&next_step(
            "to continue where it stopped:",
            &rerun(command, "resume"),
        ));
    }
    note.push_str(&next_step(
        "to start over once fixed:",
        &rerun(command, "drop"),
    ));
    let created: Vec<String> = touched
        .iter()
        .filter(|t| t.created)
        .map(|t| quote_qualified(&t.plan.schema, &t.plan.name))
        .collect();
    if !created.is_empty() {
        let drop = format!(
            "psql {} -c {}",
            shell_word(&ferry_writer::redact_url(target)),
            shell_word(&format!("DROP TABLE {}", created.join(", ")))
        );
        note.push_str(&next_step("to remove the tables it created:", &drop));
    }
    Some(LeftBehind(note))
}

/// One indented line: what for, then the command, aligned.
fn next_step(what: &str, command: &str) -> String {
    format!("\n  {what:<33}{command}")
}

/// The command as the user ran it (the target's password hidden), with
/// `--if-exists action` in place of any it had.
fn rerun(command: &[String], action: &str) -> String {
    let mut words: Vec<String> = Vec::with_capacity(command.len() + 2);
    let mut args = command.iter();
    while let Some(arg) = args.next() {
        if arg == "--if-exists" {
            args.next();
            continue;
        }
        if arg.starts_with("--if-exists=") {
            continue;
        }
        if arg == "--target" {
            words.push(arg.clone());
            if let Some(url) = args.next() {
                words.push(shell_word(&ferry_writer::redact_url(url)));
            }
            continue;
        }
        match arg.strip_prefix("--target=") {
            Some(url) => words.push(format!(
                "--target={}",
                shell_word(&ferry_writer::redact_url(url))
            )),
            None => words.push(shell_word(arg)),
        }
    }
    words.push("--if-exists".to_owned());
    words.push(action.to_owned());
    words.join(" ")
}

/// A word as a POSIX shell reads it back: bare when it is plainly safe,
/// else in single quotes.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_model::{ColumnPlan, PgType};

    fn plan(name: &str) -> TablePlan {
        let id = ColumnPlan::new("id", "INTEGER", PgType::BigInt);
        TablePlan::new("app", name, vec![id])
    }

    fn words(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn names_tables_rows_and_the_commands_that_go_on() {
        let (a, b, old) = (plan("a"), plan("it's"), plan("old"));
        let tables = [
            TableState {
                plan: &a,
                created: true,
                committed: Some(0),
                expected: 3,
            },
            TableState {
                plan: &b,
                created: true,
                committed: Some(100),
                expected: 100,
            },
            TableState {
                plan: &old,
                created: false,
                committed: None,
                expected: 5,
            },
        ];
        let command = words(
            "ferry copy --source my app.db --target postgres://u:secret@h/db --if-exists truncate",
        );
        let note = describe(&tables, &command, "postgres://u:secret@h/db", true)
            .expect("tables were created")
            .to_string();
        assert_eq!(
            note,
            "the target keeps what this copy did: a (0 of 3 rows), it's (100 of 100 rows); keys, \
             indexes and foreign keys are not built.\n  \
             to continue where it stopped:    ferry copy --source my app.db --target \
             'postgres://u:***@h/db' --if-exists resume\n  \
             to start over once fixed:        ferry copy --source my app.db --target \
             'postgres://u:***@h/db' --if-exists drop\n  \
             to remove the tables it created: psql 'postgres://u:***@h/db' -c 'DROP TABLE \
             \"app\".\"a\", \"app\".\"it'\\''s\"'"
        );
    }

    #[test]
    fn nothing_created_nothing_said() {
        let a = plan("a");
        let tables = [TableState {
            plan: &a,
            created: false,
            committed: Some(0),
            expected: 3,
        }];
        assert!(describe(&tables, &words("ferry copy"), "db", false).is_none());
    }

    #[test]
    fn quotes_words_the_shell_would_split() {
        assert_eq!(shell_word("app.db"), "app.db");
        assert_eq!(shell_word("my app.db"), "'my app.db'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
