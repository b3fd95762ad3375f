//! How an error reads on stderr: each cause after the one before, and,
//! when a copy stopped after creating tables, what it left and the
//! commands that go on from there, built from the user's own command
//! line with the target's password hidden.

use ferry_engine::left_behind::LeftBehind;

/// The error as one message (`{:#}`), with what a stopped copy left
/// behind last, after the reason it stopped.
pub fn message(err: &anyhow::Error, command: &[String]) -> String {
    let Some(left) = err.downcast_ref::<LeftBehind>() else {
        return format!("{err:#}");
    };
    let note = left.to_string();
    let causes: Vec<String> = err
        .chain()
        .map(ToString::to_string)
        .filter(|c| *c != note)
        .collect();
    format!(
        "{}\nferry: {left}{}",
        causes.join(": "),
        next_steps(left, command)
    )
}

/// One line per way on: resume (when the cause was outside the source
/// and the plan), start over, drop what the copy created.
fn next_steps(left: &LeftBehind, command: &[String]) -> String {
    let mut out = String::new();
    if left.resumable {
        out.push_str(&next_step(
            "to continue where it stopped:",
            &rerun(command, "resume"),
        ));
    }
    out.push_str(&next_step(
        "to start over once fixed:",
        &rerun(command, "drop"),
    ));
    let created = left.created();
    if !created.is_empty() {
        // No target: psql reads the same PG* variables ferry did.
        let target = match left.target.as_str() {
            "" => String::new(),
            target => format!(" {}", shell_word(target)),
        };
        let drop = format!(
            "psql{target} -c {}",
            shell_word(&format!("DROP TABLE {}", created.join(", ")))
        );
        out.push_str(&next_step("to remove the tables it created:", &drop));
    }
    out
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
    use ferry_engine::left_behind::TableState;

    fn words(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_owned).collect()
    }

    fn table(name: &str, committed: u64) -> TableState {
        TableState {
            schema: "app".to_owned(),
            name: name.to_owned(),
            created: true,
            committed: Some(committed),
            expected: 100,
        }
    }

    #[test]
    fn the_error_then_the_state_then_the_commands() {
        let left = LeftBehind::new(
            vec![table("a", 0), table("it's", 100)],
            true,
            "postgres://u:secret@h/db",
        )
        .unwrap();
        let err = anyhow::Error::from(std::io::Error::other("a, id=2: bad")).context(left);
        let command = words(
            "ferry copy --source my app.db --target postgres://u:secret@h/db --if-exists truncate",
        );
        assert_eq!(
            message(&err, &command),
            "a, id=2: bad\n\
             ferry: the target keeps what this copy did: a (0 of 100 rows), it's (100 of 100 \
             rows); keys, indexes and foreign keys are not built.\n  \
             to continue where it stopped:    ferry copy --source my app.db --target \
             'postgres://u:***@h/db' --if-exists resume\n  \
             to start over once fixed:        ferry copy --source my app.db --target \
             'postgres://u:***@h/db' --if-exists drop\n  \
             to remove the tables it created: psql 'postgres://u:***@h/db' -c 'DROP TABLE \
             \"app\".\"a\", \"app\".\"it'\\''s\"'"
        );
    }

    #[test]
    fn without_a_target_psql_reads_the_environment_too() {
        let left = LeftBehind::new(vec![table("a", 0)], false, "").unwrap();
        let err = anyhow::Error::from(std::io::Error::other("bad")).context(left);
        let message = message(&err, &words("ferry copy --source app.db"));
        assert!(
            message.ends_with("psql -c 'DROP TABLE \"app\".\"a\"'"),
            "{message}"
        );
    }

    #[test]
    fn other_errors_read_as_their_causes() {
        let err = anyhow::Error::from(std::io::Error::other("inner")).context("outer");
        assert_eq!(message(&err, &[]), "outer: inner");
    }

    #[test]
    fn quotes_words_the_shell_would_split() {
        assert_eq!(shell_word("app.db"), "app.db");
        assert_eq!(shell_word("my app.db"), "'my app.db'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
