//! `ferry sync` left to cron (issue 13): the default sees every change,
//! one run applies every table consistently, a table that cannot be
//! applied is reported and retried, and a seeded random workload always
//! converges on an independent reading of SQLite.

use crate::util::{command_json, ferry, Run, TempSqlite, TestDb};

fn sync(source: &TempSqlite, db: &TestDb, extra: &[&str]) -> Run {
    command_json("sync", &source.path, db, extra)
}

fn write(source: &TempSqlite, sql: &str) {
    rusqlite::Connection::open(&source.path)
        .unwrap()
        .execute_batch(sql)
        .unwrap_or_else(|e| panic!("{e}\n{sql}"));
}

fn verify_full(source: &TempSqlite, db: &TestDb) {
    let run = command_json("verify", &source.path, db, &["--full"]);
    assert_eq!(
        run.code, 0,
        "verify --full:\n{}\n{}",
        run.stdout, run.stderr
    );
}

fn table<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == name)
        .unwrap_or_else(|| panic!("{name} missing from {report}"))
}

fn counts(report: &serde_json::Value, name: &str) -> [u64; 3] {
    let t = table(report, name);
    ["inserted", "updated", "deleted"].map(|k| t[k].as_u64().unwrap())
}

#[test]
fn issue_13_updates_and_deletes_on_a_key_only_table_are_synced_by_default() {
    let app = TempSqlite::new(
        "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         CREATE TABLE film(film_id INTEGER PRIMARY KEY, title TEXT,
                           last_update TIMESTAMP NOT NULL);
         INSERT INTO users VALUES (1, 'ann'), (2, 'bob'), (3, 'cy');
         INSERT INTO film VALUES (1, 'Alien', '2024-01-01 00:00:00'),
                                 (2, 'Brazil', '2024-01-01 00:00:00');",
    );
    let db = TestDb::new();
    let report = sync(&app, &db, &[]).assert_ok().json();
    assert_eq!(table(&report, "users")["mode"], "full");
    assert_eq!(table(&report, "film")["mode"], "full");

    // Updates that move no cursor, a delete and an insert.
    write(
        &app,
        "UPDATE users SET name = 'bea' WHERE id = 2;
         DELETE FROM users WHERE id = 3;
         INSERT INTO users VALUES (4, 'dee');
         UPDATE film SET title = 'Brazil (1985)' WHERE film_id = 2;",
    );
    let report = sync(&app, &db, &[]).assert_ok().json();
    assert_eq!(counts(&report, "users"), [1, 1, 1], "{report}");
    assert_eq!(counts(&report, "film"), [0, 1, 0], "{report}");
    verify_full(&app, &db);

    // The plan says which strategy each table gets and what a configured
    // one would miss.
    let config = std::env::temp_dir().join(format!("ferry-unattended-{}.toml", db.name));
    std::fs::write(
        &config,
        "[tables.users.sync]\nmode = \"append\"\n[tables.film.sync]\ncursor = \"last_update\"\n",
    )
    .unwrap();
    let plan = ferry(&[
        "plan",
        "--source",
        app.path.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    plan.assert_ok();
    assert!(
        plan.stdout
            .contains("-- users: append\n--   misses updates and deletes: run ferry sync --check"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains("misses updates that leave last_update unchanged"),
        "{}",
        plan.stdout
    );
    let default_plan = ferry(&["plan", "--source", app.path.to_str().unwrap()]);
    assert!(
        default_plan.stdout.contains("-- users: full (default)\n"),
        "{}",
        default_plan.stdout
    );
    assert!(
        !default_plan.stdout.contains("misses"),
        "{}",
        default_plan.stdout
    );
    std::fs::remove_file(&config).unwrap();
}

/// Accounts and their messages, the messages declared first (a child
/// before its parent), an email unique per account.
const MAIL: &str = "
CREATE TABLE messages(id INTEGER PRIMARY KEY,
                      account_id INTEGER NOT NULL REFERENCES accounts(id),
                      body TEXT);
CREATE TABLE accounts(id INTEGER PRIMARY KEY, email TEXT UNIQUE, name TEXT);
INSERT INTO accounts VALUES (1, 'a@x', 'ann'), (2, 'b@x', 'bob');
INSERT INTO messages VALUES (1, 1, 'hi'), (2, 1, 'again'), (3, 2, 'yo');
";

#[test]
fn issue_13_an_account_deleted_and_another_created_with_messages_converge_in_one_run() {
    let app = TempSqlite::new(MAIL);
    let db = TestDb::new();
    sync(&app, &db, &[]).assert_ok();
    write(
        &app,
        "DELETE FROM messages WHERE account_id = 1;
         DELETE FROM accounts WHERE id = 1;
         INSERT INTO accounts VALUES (3, 'c@x', 'cy');
         INSERT INTO messages VALUES (4, 3, 'new'), (5, 3, 'more');",
    );
    let report = sync(&app, &db, &[]).assert_ok().json();
    assert_eq!(counts(&report, "accounts"), [1, 0, 1], "{report}");
    assert_eq!(counts(&report, "messages"), [2, 0, 2], "{report}");
    verify_full(&app, &db);
}

#[test]
fn issue_13_a_child_declared_before_its_parent_gets_new_rows_with_it() {
    let app = TempSqlite::new(MAIL);
    let db = TestDb::new();
    sync(&app, &db, &[]).assert_ok();
    write(
        &app,
        "INSERT INTO accounts VALUES (7, 'g@x', 'gus');
         INSERT INTO messages VALUES (70, 7, 'first');",
    );
    let report = sync(&app, &db, &[]).assert_ok().json();
    assert_eq!(counts(&report, "accounts"), [1, 0, 0], "{report}");
    assert_eq!(counts(&report, "messages"), [1, 0, 0], "{report}");
    verify_full(&app, &db);
}

#[test]
fn issue_13_two_rows_swapping_a_unique_value_converge() {
    let app = TempSqlite::new(MAIL);
    let db = TestDb::new();
    sync(&app, &db, &[]).assert_ok();
    // As applications do it: through a NULL.
    write(
        &app,
        "UPDATE accounts SET email = NULL WHERE id = 1;
         UPDATE accounts SET email = 'a@x' WHERE id = 2;
         UPDATE accounts SET email = 'b@x' WHERE id = 1;",
    );
    let report = sync(&app, &db, &[]).assert_ok().json();
    assert_eq!(counts(&report, "accounts"), [0, 2, 0], "{report}");
    verify_full(&app, &db);
}

#[test]
fn issue_13_a_table_that_cannot_be_applied_fails_alone_with_its_cause_and_is_retried() {
    let app = TempSqlite::new(MAIL);
    let db = TestDb::new();
    sync(&app, &db, &[]).assert_ok();
    // SQLite does not enforce foreign keys by default: a message of an
    // account that does not exist, and an account change alongside.
    write(
        &app,
        "PRAGMA foreign_keys = OFF;
         INSERT INTO messages VALUES (9, 99, 'orphan');
         UPDATE accounts SET name = 'anna' WHERE id = 1;",
    );
    for _ in 0..2 {
        let run = sync(&app, &db, &[]);
        assert_eq!(run.code, 3, "{}\n{}", run.stdout, run.stderr);
        let report = run.json();
        let messages = table(&report, "messages");
        assert_eq!(messages["success"], false, "{report}");
        let error = messages["error"].as_str().unwrap();
        assert!(error.contains("messages_account_id_fkey"), "{error}");
        assert!(error.contains("(account_id)=(99)"), "{error}");
        assert!(error.contains("next run retries it"), "{error}");
        assert_eq!(table(&report, "accounts")["success"], true, "{report}");
    }
    let mut pg = db.client();
    let name: String = pg
        .query_one("SELECT name FROM accounts WHERE id = 1", &[])
        .unwrap()
        .get(0);
    assert_eq!(name, "anna");

    // Once the source is fixed, the next run applies what was held back.
    write(&app, "INSERT INTO accounts VALUES (99, 'z@x', 'zed');");
    let report = sync(&app, &db, &[]).assert_ok().json();
    assert_eq!(counts(&report, "messages"), [1, 0, 0], "{report}");
    verify_full(&app, &db);
}

#[test]
fn issue_13_check_finds_what_a_cursor_missed_and_reset_repairs_it() {
    let app = TempSqlite::new(
        "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT,
                            updated_at DATETIME NOT NULL);
         INSERT INTO items VALUES (1, 'a', '2023-01-01 00:00:00'),
                                  (2, 'b', '2024-01-01 00:00:00');",
    );
    let db = TestDb::new();
    let config = std::env::temp_dir().join(format!("ferry-unattended-{}.toml", db.name));
    std::fs::write(&config, "[tables.items.sync]\ncursor = \"updated_at\"\n").unwrap();
    let config_arg = ["--config", config.to_str().unwrap()];
    sync(&app, &db, &config_arg).assert_ok();

    // An update that forgets the cursor, and a delete.
    write(
        &app,
        "UPDATE items SET name = 'changed' WHERE id = 1; DELETE FROM items WHERE id = 2;",
    );
    let report = sync(&app, &db, &config_arg).assert_ok().json();
    assert_eq!(
        counts(&report, "items"),
        [0, 0, 1],
        "the cursor cannot see it"
    );
    let notes = table(&report, "items")["notes"].to_string();
    assert!(
        notes.contains("updates that leave updated_at unchanged"),
        "{notes}"
    );

    let run = sync(
        &app,
        &db,
        &["--config", config.to_str().unwrap(), "--check"],
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(report["check"], true, "{report}");
    assert_eq!(table(&report, "items")["action"], "checked");
    assert_eq!(counts(&report, "items"), [0, 1, 0], "{report}");
    // The check changed nothing.
    let name: String = db
        .client()
        .query_one("SELECT name FROM items WHERE id = 1", &[])
        .unwrap()
        .get(0);
    assert_eq!(name, "a");

    let report = sync(
        &app,
        &db,
        &["--config", config.to_str().unwrap(), "--reset", "items"],
    )
    .assert_ok()
    .json();
    assert_eq!(table(&report, "items")["action"], "reconciled", "{report}");
    assert_eq!(counts(&report, "items"), [0, 1, 0], "{report}");
    verify_full(&app, &db);
    let run = sync(
        &app,
        &db,
        &["--config", config.to_str().unwrap(), "--check"],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);

    let run = sync(&app, &db, &["--reset", "nope"]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("--reset nope"), "{}", run.stderr);
    std::fs::remove_file(&config).unwrap();
}
