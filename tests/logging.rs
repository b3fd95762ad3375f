//! Logs for operators (issue 16): `-v --log-format json` writes one JSON
//! object per line on stderr, inside the command's span, with a line per
//! phase of a copy and per key and index built, each with its duration;
//! `-vv` adds the server's NOTICEs.

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
    let logs = json_logs(&run.stderr);
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
    // Each phase of the copy, in order, with its duration.
    let phases: Vec<&str> = logs
        .iter()
        .filter(|l| l["target"] == "ferry_engine::copy" && l["fields"]["seconds"].is_f64())
        .filter_map(|l| l["fields"]["phase"].as_str())
        .collect();
    assert_eq!(
        phases,
        ["snapshot", "plan", "setup", "load", "indexing", "copy"],
        "{}",
        run.stderr
    );
    // The password-free target never shows, and no escape codes off a terminal.
    assert!(!run.stderr.contains('\u{1b}'), "{}", run.stderr);
}

/// The lines of `stderr`, every one of which must be a JSON object.
fn json_logs(stderr: &str) -> Vec<serde_json::Value> {
    stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// With `--log-format json`, progress lines and errors are JSON objects
/// too, and `-vv` puts each chunk in its own span under the command's.
#[test]
fn issue_16_every_stderr_line_is_json_progress_and_errors_included() {
    let source = TempSqlite::new(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
         INSERT INTO t VALUES (1, 'a'), (2, 'b');",
    );
    let db = TestDb::new();
    let source_arg = source.path.to_str().unwrap();
    let run = ferry(&[
        "copy",
        "--source",
        source_arg,
        "--target",
        &db.url,
        "-vv",
        "--log-format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let logs = json_logs(&run.stderr);
    assert!(
        logs.iter().any(|l| l["target"] == "ferry::say"
            && l["level"] == "INFO"
            && l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("t: 2 rows loaded"))),
        "{}",
        run.stderr
    );
    let chunk = logs
        .iter()
        .find(|l| l["fields"]["message"] == "chunk committed")
        .unwrap_or_else(|| panic!("no chunk line: {}", run.stderr));
    assert_eq!(chunk["span"]["name"], "chunk", "{chunk}");
    assert_eq!(chunk["span"]["table"], "t", "{chunk}");
    assert_eq!(chunk["spans"][0]["name"], "copy", "{chunk}");

    let refused = ferry(&[
        "copy",
        "--source",
        source_arg,
        "--target",
        &db.url,
        "--log-format",
        "json",
    ]);
    assert_ne!(refused.code, 0, "{}", refused.stderr);
    let logs = json_logs(&refused.stderr);
    let errors: Vec<_> = logs.iter().filter(|l| l["level"] == "ERROR").collect();
    assert_eq!(errors.len(), 1, "{}", refused.stderr);
    assert!(
        errors[0]["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("already hold rows")),
        "{}",
        refused.stderr
    );
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

/// A copy blocked by another session's lock says, every few seconds, on
/// which relation it waits and behind which session, until
/// `--lock-timeout` ends the wait (issue 18).
#[test]
fn issue_18_lock_waits_name_the_relation_and_the_session_behind_them() {
    let source =
        TempSqlite::new("CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1);");
    let db = TestDb::new();
    let mut holder = db.client();
    holder
        .batch_execute("CREATE TABLE t (id bigint); INSERT INTO t VALUES (9);")
        .unwrap();
    let holder_pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    let mut transaction = holder.transaction().unwrap();
    transaction
        .batch_execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let run = ferry(&[
        "copy",
        "--source",
        source.path.to_str().unwrap(),
        "--target",
        &db.url,
        "--if-exists",
        "truncate",
        "--lock-timeout",
        "8",
    ]);
    transaction.rollback().unwrap();
    assert_eq!(run.code, 3, "{}", run.stderr);
    let wait = format!("for a lock on public.t behind pid {holder_pid} (user ");
    assert!(run.stderr.contains(&wait), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("idle in transaction, query 'LOCK TABLE t"),
        "{}",
        run.stderr
    );
}

/// The server's NOTICEs (here a row trigger's) reach the log at debug
/// level, `-vv`, with their severity and SQLSTATE, inside the command's
/// span; `-v` leaves them out.
#[test]
fn issue_16_server_notices_are_logged_at_debug_level() {
    let source = TempSqlite::new(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
         INSERT INTO t VALUES (1, 'a'), (2, 'b');",
    );
    let db = TestDb::new();
    db.client()
        .batch_execute(
            "CREATE TABLE t (id bigint PRIMARY KEY, v text);
             CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 RAISE NOTICE 'row % arrived', NEW.id USING ERRCODE = '01F16';
                 RETURN NEW;
             END $$;
             CREATE TRIGGER shout BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION shout();",
        )
        .unwrap();
    let copy = |verbosity: &str| {
        db.client().batch_execute("TRUNCATE t").unwrap();
        let run = ferry(&[
            "copy",
            "--source",
            source.path.to_str().unwrap(),
            "--target",
            &db.url,
            "--if-exists",
            "append",
            verbosity,
            "--log-format",
            "json",
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.stderr
    };

    let debug = copy("-vv");
    let logs = json_logs(&debug);
    let arrived: Vec<&serde_json::Value> = logs
        .iter()
        .filter(|l| l["target"] == "ferry_writer::connect" && l["fields"]["code"] == "01F16")
        .collect();
    for line in &arrived {
        assert_eq!(line["level"], "DEBUG");
        assert_eq!(line["fields"]["severity"], "NOTICE");
        assert_eq!(line["span"]["name"], "copy", "{line}");
    }
    let mut messages: Vec<&str> = arrived
        .iter()
        .filter_map(|l| l["fields"]["message"].as_str())
        .collect();
    messages.sort_unstable();
    assert_eq!(
        messages,
        [
            "server notice: row 1 arrived",
            "server notice: row 2 arrived"
        ],
        "{debug}"
    );

    let info = copy("-v");
    assert!(!info.contains("arrived"), "{info}");
}
