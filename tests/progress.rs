//! Progress output (issue 18) of copy, sync and verify: in a
//! pseudo-terminal (util-linux's `script`), bars and phase lines drawn
//! with escape codes; off a terminal, one plain line per finished phase
//! and table; `--quiet`, nothing unless something fails.

use std::process::Command;

use crate::util::{ferry, TempSqlite, TestDb};

/// Runs `ferry ARGS` with stdout and stderr on a pseudo-terminal: its
/// exit code and everything it drew.
fn in_terminal(args: &[&str]) -> (i32, String) {
    let mut line = env!("CARGO_BIN_EXE_ferry").to_owned();
    for arg in args {
        assert!(
            arg.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/:@._-=".contains(c)),
            "{arg} needs quoting"
        );
        line.push(' ');
        line.push_str(arg);
    }
    let mut command = Command::new("script");
    command
        .args(["-qefc", &line, "/dev/null"])
        .env("TERM", "xterm-256color")
        .env_remove("DATABASE_URL");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PG") {
            command.env_remove(name);
        }
    }
    let output = command.output().expect("run script (util-linux)");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[track_caller]
fn assert_contains(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{part:?} not in:\n{text}");
    }
}

fn source() -> TempSqlite {
    TempSqlite::new(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT UNIQUE);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
         INSERT INTO t SELECT i, 'u' || i || '@x' FROM n;",
    )
}

/// In a terminal: the overall bars, the phase lines (which index is being
/// built) and each table's summary, drawn with escape codes.
#[test]
fn issue_18_progress_in_a_terminal() {
    let source = source();
    let db = TestDb::new();
    let source_arg = source.path.to_str().unwrap();

    let (code, copy) = in_terminal(&["copy", "--source", source_arg, "--target", &db.url]);
    assert_eq!(code, 0, "{copy}");
    assert_contains(
        &copy,
        &[
            "\u{1b}[",
            "ferry: snapshot: reading the file in place in ",
            "ferry: setup: 1 of 1 table created in ",
            "2,000 rows loaded in ",
            "unique constraint t_email_key on public.t (email)",
            "rows/s",
        ],
    );

    let (code, sync) = in_terminal(&["sync", "--source", source_arg, "--target", &db.url]);
    assert_eq!(code, 0, "{sync}");
    assert_contains(
        &sync,
        &[
            "\u{1b}[",
            "all tables",
            "ferry: apply: 1 table in one transaction in ",
            "ferry: t: 0 inserted, 0 updated, 0 deleted (reconciled) in ",
        ],
    );

    let (code, verify) = in_terminal(&[
        "verify", "--full", "--source", source_arg, "--target", &db.url,
    ]);
    assert_eq!(code, 0, "{verify}");
    assert_contains(
        &verify,
        &[
            "\u{1b}[",
            "all tables",
            "ferry: t: pass, 2,000 rows compared in ",
            "rows/s",
        ],
    );
}

/// Off a terminal: one line per finished phase and table, no escape
/// codes; `--quiet` prints nothing when nothing fails.
#[test]
fn issue_18_progress_in_plain_lines() {
    let source = source();
    let db = TestDb::new();
    let source_arg = source.path.to_str().unwrap();

    let copy = ferry(&["copy", "--source", source_arg, "--target", &db.url]);
    assert_eq!(copy.code, 0, "{}", copy.stderr);
    assert_contains(
        &copy.stderr,
        &[
            "ferry: snapshot: reading the file in place in ",
            "ferry: setup: 1 of 1 table created in ",
            "ferry: t: 2,000 rows loaded in ",
            "ferry: index of the unique constraint t_email_key on public.t (email): done in ",
        ],
    );

    rusqlite::Connection::open(&source.path)
        .unwrap()
        .execute_batch("INSERT INTO t VALUES (5000, 'new@x'); DELETE FROM t WHERE id = 1;")
        .unwrap();
    let sync = ferry(&["sync", "--source", source_arg, "--target", &db.url]);
    assert_eq!(sync.code, 0, "{}", sync.stderr);
    // The first sync of a copied table reconciles it in full.
    assert_contains(
        &sync.stderr,
        &[
            "ferry: snapshot: reading the file in place in ",
            "ferry: t changes: 1 upserts and 1 deletes found in ",
            "ferry: apply: 1 table in one transaction in ",
            "ferry: t: 1 inserted, 0 updated, 1 deleted (reconciled) in ",
        ],
    );

    let verify = ferry(&[
        "verify", "--full", "--source", source_arg, "--target", &db.url,
    ]);
    assert_eq!(verify.code, 0, "{}", verify.stderr);
    assert_contains(
        &verify.stderr,
        &[
            "ferry: t schema: as planned in ",
            "ferry: t count: 2,000 rows in the source, 2,000 in the target in ",
            "ferry: t digest: 2,000 rows compared, 0 differ in ",
            "rows/s)",
            "ferry: t drill-down: 0 differing buckets compared row by row in ",
            "ferry: t: pass, 2,000 rows compared in ",
        ],
    );
    for run in [&copy, &sync, &verify] {
        assert!(!run.stderr.contains('\u{1b}'), "{}", run.stderr);
    }

    for args in [
        ["sync", "--source", source_arg, "--target", &db.url, "-q"],
        ["verify", "--source", source_arg, "--target", &db.url, "-q"],
    ] {
        let quiet = ferry(&args);
        assert_eq!(quiet.code, 0, "{}", quiet.stderr);
        assert_eq!(quiet.stderr, "", "{args:?}");
    }
}
