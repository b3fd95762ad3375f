//! Logs for operators (issue 16): `-v --log-format json` writes one JSON
//! object per line on stderr, inside the command's span, with a line per
//! key and index built naming its table and duration.

use crate::util::{ferry, TempSqlite, TestDb};

#[test]
fn issue_16_json_logs_carry_the_command_span_and_each_build_step() {
    let source = TempSqlite::new(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT UNIQUE);
         INSERT INTO t VALUES (1, 'a@x'), (2, 'b@x');",
    );
    let db = TestDb::new();
    let run = ferry(&[
        "copy",
        "--source",
        source.path.to_str().unwrap(),
        "--target",
        &db.url,
        "-v",
        "--log-format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let logs: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let built: Vec<&serde_json::Value> = logs
        .iter()
        .filter(|l| l["fields"]["kind"] == "Unique")
        .collect();
    assert_eq!(built.len(), 1, "{}", run.stderr);
    let line = built[0];
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["span"]["name"], "copy");
    assert_eq!(line["fields"]["table"], "public.t");
    assert!(line["fields"]["seconds"].as_f64().is_some(), "{line}");
    // The password-free target never shows, and no escape codes off a terminal.
    assert!(!run.stderr.contains('\u{1b}'), "{}", run.stderr);
}

/// Off a terminal, a finished table is one line with human numbers;
/// `--quiet` leaves stderr empty when nothing fails (issue 18).
#[test]
fn issue_18_plain_lines_off_a_terminal_and_quiet_means_quiet() {
    let source = TempSqlite::new(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
         INSERT INTO t VALUES (1, 'a'), (2, 'b');",
    );
    let db = TestDb::new();
    let source_arg = source.path.to_str().unwrap();
    let run = ferry(&["copy", "--source", source_arg, "--target", &db.url]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("ferry: t: 2 rows loaded in ") && run.stderr.contains(" rows/s)"),
        "{}",
        run.stderr
    );
    let quiet = ferry(&[
        "copy",
        "--source",
        source_arg,
        "--target",
        &db.url,
        "--if-exists",
        "truncate",
        "-q",
    ]);
    assert_eq!(quiet.code, 0, "{}", quiet.stderr);
    assert_eq!(quiet.stderr, "");
}
