//! `ferry sync`: a live application's SQLite file followed run after run,
//! each run proven by `ferry verify --full`; the lock, kills, schema
//! changes and metrics.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::{command_json, copy, ferry, Run, TempSqlite, TestDb};

const APP: &str = "
CREATE TABLE accounts(id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE,
                      updated_at DATETIME NOT NULL);
CREATE TABLE emails(id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts(id),
                    subject TEXT, body TEXT, updated_at DATETIME NOT NULL);
CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE events(id INTEGER PRIMARY KEY, kind TEXT NOT NULL, at DATETIME);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
INSERT INTO accounts SELECT i, 'user' || i || '@example.com', '2024-05-01 08:00:00' FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
INSERT INTO emails SELECT i, 1 + i % 50, 'subject ' || i, 'body ' || i,
       strftime('%Y-%m-%d %H:%M:%S', '2024-05-01 08:00:00', '+' || i || ' seconds') FROM n;
INSERT INTO settings VALUES ('theme', 'dark'), ('lang', 'en'), ('beta', NULL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
INSERT INTO events SELECT i, 'login', '2024-05-01 08:00:00' FROM n;
";

pub(crate) fn sync(source: &TempSqlite, db: &TestDb, extra: &[&str]) -> Run {
    command_json("sync", &source.path, db, extra)
}

pub(crate) fn verify_full(source: &TempSqlite, db: &TestDb) {
    let run = command_json("verify", &source.path, db, &["--full"]);
    assert_eq!(
        run.code, 0,
        "verify --full:\n{}\n{}",
        run.stdout, run.stderr
    );
}

pub(crate) fn write(source: &TempSqlite, sql: &str) {
    rusqlite::Connection::open(&source.path)
        .unwrap()
        .execute_batch(sql)
        .unwrap_or_else(|e| panic!("{e}\n{sql}"));
}

pub(crate) use crate::util::table;

pub(crate) fn counts(report: &serde_json::Value, name: &str) -> [u64; 3] {
    let t = table(report, name);
    ["inserted", "updated", "deleted"].map(|k| t[k].as_u64().unwrap())
}

/// The strategies the application's tables are configured with; the
/// other tables get the default.
const STRATEGIES: &str = "
[tables.emails.sync]
cursor = \"updated_at\"
[tables.events.sync]
mode = \"append\"
";

#[test]
fn a_live_application_is_followed_through_three_rounds_of_writes() {
    let app = TempSqlite::new(APP);
    let db = TestDb::new();
    copy(&app.path, &db, &[]).assert_ok();
    let config = std::env::temp_dir().join(format!("ferry-sync-{}.toml", db.name));
    std::fs::write(&config, STRATEGIES).unwrap();
    let config_path = config.to_str().unwrap().to_owned();
    let sync = |app: &TempSqlite, db: &TestDb, extra: &[&str]| {
        let mut args = vec!["--config", config_path.as_str()];
        args.extend_from_slice(extra);
        sync(app, db, &args)
    };

    // Already copied, never synced: reconciled once, without a second copy.
    let first = sync(&app, &db, &[]);
    first.assert_ok();
    let report = first.json();
    for name in ["accounts", "emails", "settings", "events"] {
        assert_eq!(table(&report, name)["action"], "reconciled", "{report}");
        assert_eq!(counts(&report, name), [0, 0, 0], "{report}");
    }
    assert_eq!(table(&report, "emails")["mode"], "cursor");
    assert_eq!(table(&report, "accounts")["mode"], "full");
    assert_eq!(table(&report, "settings")["mode"], "full");
    assert_eq!(table(&report, "events")["mode"], "append");
    // A configured strategy says what it cannot see; the default sees all.
    let notes = table(&report, "events")["notes"].to_string();
    assert!(notes.contains("misses updates and deletes"), "{report}");
    assert!(notes.contains("ferry sync --check"), "{report}");
    assert!(
        table(&report, "settings").get("notes").is_none(),
        "{report}"
    );
    verify_full(&app, &db);

    // Round 1: new rows, updates that bump updated_at (one in another
    // accepted text format), deletes.
    write(
        &app,
        "INSERT INTO accounts VALUES (51, 'new@example.com', '2024-05-02 09:00:00');
         INSERT INTO emails VALUES (501, 51, 'welcome', 'hello', '2024-05-02 09:00:01');
         UPDATE emails SET subject = 'edited', updated_at = '2024-05-02T09:05:00Z' WHERE id = 7;
         DELETE FROM emails WHERE id IN (3, 4);
         UPDATE settings SET value = 'light' WHERE key = 'theme';
         INSERT INTO events VALUES (201, 'logout', '2024-05-02 09:00:00');",
    );
    let run = sync(&app, &db, &[]);
    run.assert_ok();
    let report = run.json();
    assert_eq!(counts(&report, "emails"), [1, 1, 2], "{report}");
    assert_eq!(counts(&report, "accounts"), [1, 0, 0], "{report}");
    assert_eq!(counts(&report, "settings"), [0, 1, 0], "{report}");
    assert_eq!(counts(&report, "events"), [1, 0, 0], "{report}");
    assert_eq!(
        table(&report, "emails")["watermark"],
        "2024-05-02T09:05:00.000000Z"
    );
    verify_full(&app, &db);

    // Round 2: a column added in the source stops the run until allowed;
    // then existing rows get its values.
    write(
        &app,
        "ALTER TABLE accounts ADD COLUMN plan TEXT;
         UPDATE accounts SET plan = 'pro' WHERE id % 2 = 0;
         DELETE FROM settings WHERE key = 'beta';
         INSERT INTO settings VALUES ('tz', 'UTC');",
    );
    let refused = sync(&app, &db, &[]);
    assert_eq!(refused.code, 2, "{}\n{}", refused.stdout, refused.stderr);
    assert!(refused.stderr.contains("column plan"), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("--allow-schema-changes"),
        "{}",
        refused.stderr
    );
    let run = sync(&app, &db, &["--allow-schema-changes"]);
    run.assert_ok();
    let report = run.json();
    assert_eq!(table(&report, "accounts")["action"], "reconciled");
    assert_eq!(counts(&report, "accounts"), [0, 25, 0], "{report}");
    assert_eq!(counts(&report, "settings"), [1, 0, 1], "{report}");
    verify_full(&app, &db);

    // Round 3: a row whose clock stepped back within the lag, and a burst
    // of new rows.
    write(
        &app,
        "UPDATE emails SET body = 'late', updated_at = '2024-05-02 09:01:00' WHERE id = 10;
         WITH RECURSIVE n(i) AS (SELECT 502 UNION ALL SELECT i + 1 FROM n WHERE i < 600)
         INSERT INTO emails SELECT i, 51, 's' || i, 'b', '2024-05-02 10:00:00' FROM n;
         WITH RECURSIVE n(i) AS (SELECT 202 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
         INSERT INTO events SELECT i, 'view', NULL FROM n;",
    );
    let run = sync(&app, &db, &[]);
    run.assert_ok();
    let report = run.json();
    assert_eq!(counts(&report, "emails"), [99, 1, 0], "{report}");
    assert_eq!(counts(&report, "events"), [99, 0, 0], "{report}");
    verify_full(&app, &db);

    // Nothing changed: nothing moves, and the metrics say so.
    let metrics = std::env::temp_dir().join(format!("ferry-sync-{}.prom", db.name));
    let run = sync(
        &app,
        &db,
        &["--metrics-textfile", metrics.to_str().unwrap()],
    );
    run.assert_ok();
    let report = run.json();
    for name in ["accounts", "emails", "settings", "events"] {
        assert_eq!(counts(&report, name), [0, 0, 0], "{name}: {report}");
        assert_eq!(table(&report, name)["success"], true);
    }
    let text = std::fs::read_to_string(&metrics).unwrap();
    std::fs::remove_file(&metrics).unwrap();
    for line in text.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        value.parse::<f64>().unwrap_or_else(|_| panic!("{line}"));
        let name_end = series.find('{').unwrap_or(series.len());
        assert!(
            series[..name_end]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "{line}");
        }
    }
    for series in [
        "ferry_sync_last_success_timestamp_seconds{schema=\"public\",table=\"emails\"}",
        "ferry_sync_rows{schema=\"public\",table=\"emails\",kind=\"inserted\"} 0",
        "ferry_sync_rows{schema=\"public\",table=\"settings\",kind=\"deleted\"} 0",
        "ferry_sync_duration_seconds{schema=\"public\",table=\"events\"}",
        "ferry_sync_success{schema=\"public\",table=\"accounts\"} 1",
        "# TYPE ferry_start_time_seconds gauge",
        "ferry_start_time_seconds ",
    ] {
        assert!(text.contains(series), "{series} missing from\n{text}");
    }

    // The state lives in the target, next to the data.
    let mut client = db.client();
    let row = client
        .query_one(
            "SELECT mode, cursor_column, watermark_text FROM ferry.sync_state
              WHERE target_schema = 'public' AND target_table = 'emails'",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "cursor");
    assert_eq!(row.get::<_, String>(1), "updated_at");
    assert_eq!(row.get::<_, String>(2), "2024-05-02T10:00:00.000000Z");
    std::fs::remove_file(&config).unwrap();
}

#[test]
fn a_first_sync_copies_tables_never_copied_and_is_quiet_without_a_terminal() {
    let app = TempSqlite::new(APP);
    let db = TestDb::new();
    let run = ferry(&[
        "sync",
        "--source",
        app.path.to_str().unwrap(),
        "--target",
        &db.url,
    ]);
    run.assert_ok();
    assert_eq!(
        run.stdout, "",
        "no terminal, no --format: nothing on stdout"
    );
    verify_full(&app, &db);

    write(&app, "INSERT INTO events VALUES (201, 'later', NULL);");
    let report = sync(&app, &db, &[]).assert_ok().json();
    assert_eq!(table(&report, "events")["action"], "incremental");
    assert_eq!(counts(&report, "events"), [1, 0, 0], "{report}");

    // A table added to the source later is copied by the next run.
    write(
        &app,
        "CREATE TABLE tags(id INTEGER PRIMARY KEY, name TEXT);
         INSERT INTO tags VALUES (1, 'work'), (2, 'home');",
    );
    let report = sync(&app, &db, &[]).assert_ok().json();
    assert_eq!(table(&report, "tags")["action"], "copied");
    assert_eq!(counts(&report, "tags"), [2, 0, 0], "{report}");
    verify_full(&app, &db);
}

#[test]
fn a_second_sync_exits_4_at_once_while_one_holds_the_lock() {
    let app = TempSqlite::new(APP);
    let db = TestDb::new();
    sync(&app, &db, &[]).assert_ok();

    let identity = std::fs::canonicalize(&app.path)
        .unwrap()
        .display()
        .to_string();
    let mut holder = db.client();
    holder
        .execute(
            "SELECT pg_advisory_lock(hashtextextended('ferry sync ' || 'public' || ' ' || $1, 0))",
            &[&identity],
        )
        .unwrap();
    let pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);

    let run = sync(&app, &db, &[]);
    assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
    let line = run.stderr.trim();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.contains(&format!(
            "another ferry sync of {identity} into public is running (pid {pid} on the server)"
        )),
        "{line}"
    );
    let run = sync(&app, &db, &["--wait", "1"]);
    assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("after waiting 1s"), "{}", run.stderr);

    holder
        .execute("SELECT pg_advisory_unlock_all()", &[])
        .unwrap();
    sync(&app, &db, &["--wait", "5"]).assert_ok();
}

#[test]
fn a_dropped_column_stops_the_run_with_exit_2_naming_it() {
    let app = TempSqlite::new(APP);
    let db = TestDb::new();
    sync(&app, &db, &[]).assert_ok();
    write(
        &app,
        "CREATE TABLE emails_new(id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL,
                                 subject TEXT, updated_at DATETIME NOT NULL);
         INSERT INTO emails_new SELECT id, account_id, subject, updated_at FROM emails;
         DROP TABLE emails;
         ALTER TABLE emails_new RENAME TO emails;
         INSERT INTO settings VALUES ('x', 'y');",
    );
    for extra in [&[][..], &["--allow-schema-changes"][..]] {
        let run = sync(&app, &db, extra);
        assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
        assert!(
            run.stderr
                .contains("public.emails: column body was dropped"),
            "{}",
            run.stderr
        );
    }
    // Nothing was applied, not even to the tables that did not change.
    let mut client = db.client();
    let settings: i64 = client
        .query_one("SELECT count(*) FROM settings", &[])
        .unwrap()
        .get(0);
    assert_eq!(settings, 3);
}

#[test]
fn a_sync_killed_during_its_apply_leaves_the_table_before_or_after() {
    let app = TempSqlite::new(
        "CREATE TABLE items(id INTEGER PRIMARY KEY, n INTEGER NOT NULL, pad TEXT,
                            updated_at DATETIME NOT NULL);
         WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 200000)
         INSERT INTO items SELECT i, 0, printf('%080d', i), '2024-05-01 08:00:00' FROM s;",
    );
    let db = TestDb::new();
    sync(&app, &db, &[]).assert_ok();
    write(
        &app,
        "UPDATE items SET n = 1, updated_at = '2024-05-02 08:00:00';",
    );

    let child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args([
            "sync",
            "--source",
            app.path.to_str().unwrap(),
            "--target",
            &db.url,
        ])
        .env_remove("DATABASE_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut child = scopeguard(child);
    let mut watcher = db.client();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut killed_in_apply = false;
    while Instant::now() < deadline {
        if child.0.try_wait().unwrap().is_some() {
            break;
        }
        let applying: bool = watcher
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                  WHERE datname = current_database() AND query LIKE '%ferry_sync_stage%'
                    AND pid <> pg_backend_pid())",
                &[],
            )
            .unwrap()
            .get(0);
        if applying {
            child.0.kill().unwrap();
            killed_in_apply = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.0.wait().unwrap();
    // Let the server notice the dead connection and roll it back.
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        let busy: bool = watcher
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                  WHERE datname = current_database() AND pid <> pg_backend_pid()
                    AND backend_type = 'client backend')",
                &[],
            )
            .unwrap()
            .get(0);
        if !busy {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let row = watcher
        .query_one("SELECT count(*), sum(n)::int8 FROM items", &[])
        .unwrap();
    let (rows, sum): (i64, i64) = (row.get(0), row.get(1));
    assert_eq!(rows, 200_000);
    assert!(
        sum == 0 || sum == 200_000,
        "half-applied sync: {sum} rows updated (killed in apply: {killed_in_apply})"
    );
    let report = sync(&app, &db, &[]).assert_ok().json();
    let expected = if sum == 0 { 200_000 } else { 0 };
    assert_eq!(counts(&report, "items")[1], expected, "{report}");
    verify_full(&app, &db);
}

/// Kills the child if the test fails before it exits.
struct Guard(std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn scopeguard(child: std::process::Child) -> Guard {
    Guard(child)
}

#[test]
fn rows_for_a_month_without_a_partition_get_their_leaf() {
    let source = TempSqlite::new(
        "CREATE TABLE logins(id INTEGER PRIMARY KEY, at DATETIME NOT NULL);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)
         INSERT INTO logins SELECT i, strftime('%Y-%m-%d %H:%M:%S', '2024-05-01', '+' || i || ' hours') FROM n;",
    );
    let db = TestDb::new();
    let partition = ["--partition", "logins:at:month"];
    copy(&source.path, &db, &partition).assert_ok();
    write(
        &source,
        "INSERT INTO logins VALUES (1001, '2031-03-04 05:06:07'), (1002, '2031-03-05 00:00:00');",
    );
    let run = sync(&source, &db, &partition);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(counts(&report, "logins"), [2, 0, 0]);
    assert!(
        report["partitions"].to_string().contains("logins_2031_03"),
        "{report}"
    );
    let mut pg = db.client();
    let count = |pg: &mut postgres::Client, table: &str| -> i64 {
        pg.query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .unwrap()
            .get(0)
    };
    assert_eq!(
        count(&mut pg, "logins_default"),
        0,
        "DEFAULT must end empty"
    );
    assert_eq!(count(&mut pg, "logins_2031_03"), 2);
    let verify = command_json(
        "verify",
        &source.path,
        &db,
        &["--full", "--partition", "logins:at:month"],
    );
    assert_eq!(verify.code, 0, "{}\n{}", verify.stdout, verify.stderr);
}
