//! `ferry sync` left to cron (issue 13): the default sees every change,
//! one run applies every table consistently, a table that cannot be
//! applied is reported and retried, and a seeded random workload always
//! converges on an independent reading of SQLite.

use crate::sync::{counts, sync, table, verify_full, write};
use crate::util::{command_json, ferry, TempSqlite, TestDb};

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
            .contains("-- users: append\n--   misses updates and deletes (repaired by the full comparison every 1d): run ferry sync --check"),
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
fn issue_13_a_cursor_value_in_the_future_is_reported_and_does_not_freeze_the_watermark() {
    let app = TempSqlite::new(
        "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT,
                            updated_at DATETIME NOT NULL);
         INSERT INTO items VALUES (1, 'a', '2024-01-01 00:00:00'),
                                  (2, 'placeholder', '2999-12-31 00:00:00');",
    );
    let db = TestDb::new();
    let config = std::env::temp_dir().join(format!("ferry-future-{}.toml", db.name));
    std::fs::write(&config, "[tables.items.sync]\ncursor = \"updated_at\"\n").unwrap();
    let config_arg = ["--config", config.to_str().unwrap()];
    for round in 0..2 {
        let report = sync(&app, &db, &config_arg).assert_ok().json();
        let items = table(&report, "items");
        assert_eq!(
            items["watermark"], "2024-01-01T00:00:00.000000Z",
            "round {round}: {report}"
        );
        let notes = items["notes"].to_string();
        assert!(
            notes.contains("1 row has updated_at values past now (up to 2999-12-31"),
            "round {round}: {notes}"
        );
    }
    // A write stamped now is still caught, the future row kept.
    write(
        &app,
        "UPDATE items SET name = 'b', updated_at = '2025-06-01 00:00:00' WHERE id = 1;",
    );
    let report = sync(&app, &db, &config_arg).assert_ok().json();
    assert_eq!(counts(&report, "items"), [0, 1, 0], "{report}");
    assert_eq!(
        table(&report, "items")["watermark"],
        "2025-06-01T00:00:00.000000Z"
    );
    verify_full(&app, &db);
    std::fs::remove_file(&config).unwrap();
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

/// A small deterministic generator (splitmix64), so a failing seed can be
/// replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// One of the values `sql` returns, if any.
    fn pick(&mut self, conn: &rusqlite::Connection, sql: &str) -> Option<i64> {
        let ids: Vec<i64> = conn
            .prepare(sql)
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        (!ids.is_empty()).then(|| ids[self.below(ids.len() as u64) as usize])
    }
}

/// Messages (declared before their accounts) follow a configured cursor
/// that every write moves; accounts and tags get the default, and take
/// updates that move no cursor, key changes and unique swaps.
const RANDOM_SCHEMA: &str = "
CREATE TABLE messages(id INTEGER PRIMARY KEY,
                      account_id INTEGER NOT NULL REFERENCES accounts(id),
                      body TEXT, updated_at DATETIME NOT NULL);
CREATE TABLE accounts(id INTEGER PRIMARY KEY, email TEXT UNIQUE, name TEXT,
                      updated_at DATETIME NOT NULL);
CREATE TABLE tags(k TEXT PRIMARY KEY, v INTEGER);
";

/// Every row of the three tables as text, sorted, read from SQLite.
fn sqlite_rows(path: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut rows = Vec::new();
    for sql in [
        "SELECT 'm|' || id || '|' || account_id || '|' || ifnull(body, '~') || '|' || updated_at \
         FROM messages",
        "SELECT 'a|' || id || '|' || ifnull(email, '~') || '|' || ifnull(name, '~') || '|' \
         || updated_at FROM accounts",
        "SELECT 't|' || k || '|' || ifnull(v, '~') FROM tags",
    ] {
        let mut stmt = conn.prepare(sql).unwrap();
        let found = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
        rows.extend(found.map(Result::unwrap));
    }
    rows.sort();
    rows
}

/// The same, read from Postgres.
fn postgres_rows(db: &TestDb) -> Vec<String> {
    let mut pg = db.client();
    let time = |c: &str| format!("to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')");
    let mut rows = Vec::new();
    for sql in [
        format!(
            "SELECT 'm|' || id || '|' || account_id || '|' || coalesce(body, '~') || '|' || {} \
             FROM messages",
            time("updated_at")
        ),
        format!(
            "SELECT 'a|' || id || '|' || coalesce(email, '~') || '|' || coalesce(name, '~') \
             || '|' || {} FROM accounts",
            time("updated_at")
        ),
        "SELECT 't|' || k || '|' || coalesce(v::text, '~') FROM tags".to_owned(),
    ] {
        rows.extend(
            pg.query(&sql, &[])
                .unwrap()
                .iter()
                .map(|r| r.get::<_, String>(0)),
        );
    }
    rows.sort();
    rows
}

/// One round of an application's writes, in one SQLite transaction.
fn random_round(conn: &rusqlite::Connection, rng: &mut Rng, round: u32, next_id: &mut i64) {
    // The application's clock: every round is a minute later, so a cursor
    // moved in this round is past the lag of the last sync.
    let now = format!("2024-06-01 {:02}:{:02}:00", 1 + round / 60, round % 60);
    let tx = conn.unchecked_transaction().unwrap();
    for _ in 0..1 + rng.below(12) {
        match rng.below(11) {
            0 | 1 => {
                *next_id += 1;
                let email = format!("u{}@x", *next_id);
                tx.execute(
                    "INSERT INTO accounts VALUES (?1, ?2, 'new', ?3)",
                    rusqlite::params![*next_id, email, now],
                )
                .unwrap();
            }
            2 => {
                // An update that moves no cursor.
                if let Some(id) = rng.pick(&tx, "SELECT id FROM accounts") {
                    tx.execute(
                        "UPDATE accounts SET name = ?1 WHERE id = ?2",
                        rusqlite::params![format!("n{}", rng.below(1000)), id],
                    )
                    .unwrap();
                }
            }
            3 => {
                // An account deleted with its messages.
                if let Some(id) = rng.pick(&tx, "SELECT id FROM accounts") {
                    tx.execute("DELETE FROM messages WHERE account_id = ?1", [id])
                        .unwrap();
                    tx.execute("DELETE FROM accounts WHERE id = ?1", [id])
                        .unwrap();
                }
            }
            4 => {
                // A key change, on an account no message references.
                let free = "SELECT id FROM accounts WHERE id NOT IN \
                            (SELECT account_id FROM messages)";
                if let Some(id) = rng.pick(&tx, free) {
                    *next_id += 1;
                    tx.execute("UPDATE accounts SET id = ?1 WHERE id = ?2", [*next_id, id])
                        .unwrap();
                }
            }
            5 => {
                // Two accounts swap their emails, through a NULL.
                let a = rng.pick(&tx, "SELECT id FROM accounts WHERE email IS NOT NULL");
                let b = rng.pick(&tx, "SELECT id FROM accounts WHERE email IS NOT NULL");
                if let (Some(a), Some(b)) = (a, b) {
                    let email = |id: i64| -> String {
                        tx.query_row("SELECT email FROM accounts WHERE id = ?1", [id], |r| {
                            r.get(0)
                        })
                        .unwrap()
                    };
                    let (ea, eb) = (email(a), email(b));
                    for (id, value) in [(a, None), (b, Some(&ea)), (a, Some(&eb))] {
                        tx.execute(
                            "UPDATE accounts SET email = ?1 WHERE id = ?2",
                            rusqlite::params![value, id],
                        )
                        .unwrap();
                    }
                }
            }
            6 | 7 => {
                // A new message, of a new or an existing account.
                if let Some(account) = rng.pick(&tx, "SELECT id FROM accounts") {
                    *next_id += 1;
                    tx.execute(
                        "INSERT INTO messages VALUES (?1, ?2, 'hello', ?3)",
                        rusqlite::params![*next_id, account, now],
                    )
                    .unwrap();
                }
            }
            8 => {
                // A message edited: its cursor moves.
                if let Some(id) = rng.pick(&tx, "SELECT id FROM messages") {
                    tx.execute(
                        "UPDATE messages SET body = ?1, updated_at = ?2 WHERE id = ?3",
                        rusqlite::params![format!("edit {}", rng.below(1000)), now, id],
                    )
                    .unwrap();
                }
            }
            9 => {
                if let Some(id) = rng.pick(&tx, "SELECT id FROM messages") {
                    tx.execute("DELETE FROM messages WHERE id = ?1", [id])
                        .unwrap();
                }
            }
            _ => {
                // Tags: inserts, deletes, reinserts and key changes.
                let k = format!("t{}", rng.below(8));
                match rng.below(3) {
                    0 => tx
                        .execute(
                            "INSERT OR REPLACE INTO tags VALUES (?1, ?2)",
                            rusqlite::params![k, rng.below(100) as i64],
                        )
                        .unwrap(),
                    1 => tx.execute("DELETE FROM tags WHERE k = ?1", [&k]).unwrap(),
                    _ => tx
                        .execute(
                            "UPDATE OR REPLACE tags SET k = ?1 WHERE k = (SELECT min(k) FROM tags)",
                            [&k],
                        )
                        .unwrap(),
                };
            }
        }
    }
    tx.commit().unwrap();
}

#[test]
fn issue_13_random_writes_converge_after_every_sync() {
    for seed in 1..=6u64 {
        let app = TempSqlite::new(RANDOM_SCHEMA);
        let db = TestDb::new();
        let config = std::env::temp_dir().join(format!("ferry-random-{}.toml", db.name));
        std::fs::write(
            &config,
            "[tables.messages.sync]\ncursor = \"updated_at\"\nlag = \"30s\"\n",
        )
        .unwrap();
        let mut rng = Rng(seed);
        let mut next_id = 0;
        let conn = rusqlite::Connection::open(&app.path).unwrap();
        for round in 0..12 {
            random_round(&conn, &mut rng, round, &mut next_id);
            let run = sync(&app, &db, &["--config", config.to_str().unwrap()]);
            assert_eq!(
                run.code, 0,
                "seed {seed}, round {round}:\n{}\n{}",
                run.stdout, run.stderr
            );
            assert_eq!(
                postgres_rows(&db),
                sqlite_rows(&app.path),
                "seed {seed}, round {round}: the target differs from the source"
            );
        }
        std::fs::remove_file(&config).unwrap();
    }
}

/// `id|n` of every row of `items`, read from SQLite.
fn sqlite_items(path: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT id || '|' || n FROM items ORDER BY id")
        .unwrap();
    let rows = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
    rows.map(Result::unwrap).collect()
}

/// The same, read from Postgres.
fn postgres_items(db: &TestDb) -> Vec<String> {
    db.client()
        .query("SELECT id || '|' || n FROM items ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[test]
fn issue_13_sigterm_rolls_a_blocked_apply_back_and_the_next_run_converges() {
    use crate::process_safety::{spawn, wait, ScratchDir};
    use std::time::{Duration, Instant};

    let app = TempSqlite::new(
        "CREATE TABLE items(id INTEGER PRIMARY KEY, n INTEGER NOT NULL);
         WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 1000)
         INSERT INTO items SELECT i, 0 FROM s;",
    );
    let db = TestDb::new();
    sync(&app, &db, &[]).assert_ok();
    let before = postgres_items(&db);
    write(
        &app,
        "UPDATE items SET n = 1; DELETE FROM items WHERE id > 900;",
    );

    // The test holds a row the apply must update, so the run blocks in its
    // apply, inside its transaction, until it is stopped.
    let mut holder = db.client();
    let mut held = holder.transaction().unwrap();
    held.execute("SELECT 1 FROM items WHERE id = 1 FOR UPDATE", &[])
        .unwrap();
    let tmp = ScratchDir::new();
    let child = spawn(
        &[
            "sync",
            "--source",
            app.path.to_str().unwrap(),
            "--target",
            &db.url,
            "--lock-timeout",
            "0",
            "--snapshot",
            "backup",
        ],
        &[("TMPDIR", tmp.0.as_os_str())],
    );
    let mut watcher = db.client();
    let blocked_pid = |watcher: &mut postgres::Client| -> Option<i32> {
        watcher
            .query_opt(
                "SELECT pid FROM pg_stat_activity
                  WHERE datname = current_database() AND wait_event_type = 'Lock'
                    AND backend_type = 'client backend'",
                &[],
            )
            .unwrap()
            .map(|r| r.get(0))
    };
    let started = Instant::now();
    let pid = loop {
        if let Some(pid) = blocked_pid(&mut watcher) {
            break pid;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the sync never blocked on the held row"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        tmp.snapshots().is_empty(),
        "the backup is removed once read, before the apply: {:?}",
        tmp.snapshots()
    );
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (code, _, stderr) = wait(child, "terminated sync");
    assert_eq!(code, 130, "{stderr}");
    assert!(
        stderr.contains("the next ferry sync catches up"),
        "{stderr}"
    );
    assert!(!stderr.contains("--if-exists"), "{stderr}");
    assert!(tmp.snapshots().is_empty(), "{:?}", tmp.snapshots());
    // Its session is gone while the test still holds the row: the apply
    // was rolled back, not left waiting.
    let alive: bool = watcher
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)",
            &[&pid],
        )
        .unwrap()
        .get(0);
    assert!(!alive, "the interrupted session {pid} is still there");
    held.rollback().unwrap();
    assert_eq!(postgres_items(&db), before, "half-applied sync");

    let report = sync(&app, &db, &[]).assert_ok().json();
    assert_eq!(counts(&report, "items"), [0, 900, 100], "{report}");
    assert_eq!(postgres_items(&db), sqlite_items(&app.path));
}

#[test]
fn issue_13_a_not_null_default_column_lands_as_not_null_default() {
    let app = TempSqlite::new(
        "CREATE TABLE items(id INTEGER PRIMARY KEY, n INTEGER NOT NULL);
         INSERT INTO items VALUES (1, 10), (2, 20), (3, 30);
         CREATE TABLE tags(id INTEGER PRIMARY KEY, name TEXT);
         INSERT INTO tags VALUES (1, 'a'), (2, 'b');",
    );
    let db = TestDb::new();
    sync(&app, &db, &[]).assert_ok();
    // An ADD COLUMN, and a table rebuilt with a NOT NULL column that has
    // no default (existing rows got their values from the rebuild).
    write(
        &app,
        "ALTER TABLE items ADD COLUMN qty INTEGER NOT NULL DEFAULT 7;
         UPDATE items SET qty = 9 WHERE id = 2;
         INSERT INTO items VALUES (4, 40, 1);
         CREATE TABLE tags_new(id INTEGER PRIMARY KEY, name TEXT, label TEXT NOT NULL);
         INSERT INTO tags_new SELECT id, name, upper(name) FROM tags;
         DROP TABLE tags;
         ALTER TABLE tags_new RENAME TO tags;",
    );
    sync(&app, &db, &["--allow-schema-changes"]).assert_ok();
    let column = db
        .client()
        .query_one(
            "SELECT is_nullable, column_default FROM information_schema.columns
              WHERE table_name = 'items' AND column_name = 'qty'",
            &[],
        )
        .unwrap();
    assert_eq!(column.get::<_, String>(0), "NO");
    assert_eq!(column.get::<_, Option<String>>(1).as_deref(), Some("7"));
    let qty: Vec<String> = db
        .client()
        .query("SELECT id || '|' || qty FROM items ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(qty, ["1|7", "2|9", "3|7", "4|1"]);
    let label: bool = db
        .client()
        .query_one(
            "SELECT attnotnull FROM pg_attribute
              WHERE attrelid = 'tags'::regclass AND attname = 'label'",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(label, "tags.label should be NOT NULL");
    let schema = command_json("verify", &app.path, &db, &["--schema-only"]);
    assert_eq!(schema.code, 0, "{}\n{}", schema.stdout, schema.stderr);
    verify_full(&app, &db);
    // And the next run has nothing left to do.
    let report = sync(&app, &db, &[]).assert_ok().json();
    assert_eq!(counts(&report, "items"), [0, 0, 0], "{report}");
}

#[test]
fn issue_13_a_table_added_to_the_source_is_copied_with_its_foreign_keys() {
    let app = TempSqlite::new(
        "CREATE TABLE accounts(id INTEGER PRIMARY KEY, email TEXT NOT NULL);
         INSERT INTO accounts VALUES (1, 'a@x'), (2, 'b@x');",
    );
    let db = TestDb::new();
    sync(&app, &db, &[]).assert_ok();
    write(
        &app,
        "CREATE TABLE notes(id INTEGER PRIMARY KEY,
                            account_id INTEGER NOT NULL REFERENCES accounts(id),
                            body TEXT);
         INSERT INTO notes VALUES (1, 1, 'hi'), (2, 2, 'yo');
         INSERT INTO accounts VALUES (3, 'c@x');",
    );
    let report = sync(&app, &db, &[]).assert_ok().json();
    assert_eq!(table(&report, "notes")["action"], "copied", "{report}");
    assert_eq!(counts(&report, "accounts"), [1, 0, 0], "{report}");
    let references: Vec<String> = db
        .client()
        .query(
            "SELECT confrelid::regclass::text FROM pg_constraint
              WHERE contype = 'f' AND conrelid = 'notes'::regclass",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(references, ["accounts"]);
    verify_full(&app, &db);
    let schema = command_json("verify", &app.path, &db, &["--schema-only"]);
    assert_eq!(schema.code, 0, "{}\n{}", schema.stdout, schema.stderr);
    // The key holds from now on: the next run carries a new note.
    write(&app, "INSERT INTO notes VALUES (3, 3, 'new');");
    let report = sync(&app, &db, &[]).assert_ok().json();
    assert_eq!(counts(&report, "notes"), [1, 0, 0], "{report}");
    verify_full(&app, &db);
}

/// `row_key|column_name|reason` of `ferry.rejects`, sorted.
fn rejects(db: &TestDb) -> Vec<String> {
    db.client()
        .query(
            "SELECT row_key || '|' || column_name || '|' || source_table || '|' || reason
               FROM ferry.rejects ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[test]
fn issue_13_bad_values_abort_naming_them_or_are_quarantined() {
    let app = TempSqlite::new(
        "CREATE TABLE orders(id INTEGER PRIMARY KEY, day DATE NOT NULL, qty INTEGER);
         INSERT INTO orders VALUES (1, '2024-01-01', 1), (2, '2024-01-02', 2),
                                   (3, '2024-01-03', 3);",
    );
    let db = TestDb::new();
    sync(&app, &db, &[]).assert_ok();
    write(
        &app,
        "UPDATE orders SET day = '2023-02-30', qty = 20 WHERE id = 2;
         INSERT INTO orders VALUES (4, '2024-13-01', 4), (5, '2024-01-05', 5);",
    );

    // The default aborts, naming the table, the row, the column and the
    // value, and suggests only what sync has.
    let aborted = sync(&app, &db, &[]);
    assert_eq!(aborted.code, 2, "{}\n{}", aborted.stdout, aborted.stderr);
    for part in [
        "orders",
        "id=2",
        "column day",
        "2023-02-30",
        "--on-error quarantine",
    ] {
        assert!(aborted.stderr.contains(part), "{part}: {}", aborted.stderr);
    }
    assert!(
        !aborted.stderr.contains("--if-exists"),
        "{}",
        aborted.stderr
    );
    let qty = |db: &TestDb| -> Vec<String> {
        db.client()
            .query(
                "SELECT id || '|' || day || '|' || qty FROM orders ORDER BY id",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    let before = qty(&db);

    // Quarantine leaves the bad rows out (the target keeps row 2 as it
    // was), applies the rest and lists them; a second run lists them once.
    for _ in 0..2 {
        let report = sync(&app, &db, &["--on-error", "quarantine"])
            .assert_ok()
            .json();
        assert_eq!(table(&report, "orders")["rejected"], 2, "{report}");
        assert_eq!(
            qty(&db),
            [&before[..], &["5|2024-01-05|5".to_owned()]].concat()
        );
        let listed = rejects(&db);
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert!(listed[0].starts_with("id=2|day|orders|"), "{listed:?}");
        assert!(listed[1].starts_with("id=4|day|orders|"), "{listed:?}");
    }
    // The config's on_error does the same.
    let config = std::env::temp_dir().join(format!("ferry-quarantine-{}.toml", db.name));
    std::fs::write(&config, "on_error = \"quarantine\"\n").unwrap();
    let report = sync(&app, &db, &["--config", config.to_str().unwrap()])
        .assert_ok()
        .json();
    assert_eq!(table(&report, "orders")["rejected"], 2, "{report}");
    std::fs::remove_file(&config).unwrap();

    // Fixed in SQLite: the rows arrive and the list empties.
    write(
        &app,
        "UPDATE orders SET day = '2023-02-28' WHERE id = 2;
         UPDATE orders SET day = '2024-12-01' WHERE id = 4;",
    );
    let report = sync(&app, &db, &["--on-error", "quarantine"])
        .assert_ok()
        .json();
    assert_eq!(table(&report, "orders")["rejected"], 0, "{report}");
    assert_eq!(counts(&report, "orders"), [1, 1, 0], "{report}");
    assert!(rejects(&db).is_empty(), "{:?}", rejects(&db));
    verify_full(&app, &db);
}

/// A foreign key SQLite checks at commit (`DEFERRABLE INITIALLY DEFERRED`,
/// as Django declares every one) is checked at commit in Postgres too;
/// the others at once, as in SQLite, yet deferrable for the sync.
#[test]
fn issue_13_foreign_keys_keep_when_sqlite_checks_them() {
    let app = TempSqlite::new(
        "CREATE TABLE author(id INTEGER PRIMARY KEY);
         CREATE TABLE book(id INTEGER PRIMARY KEY,
             author_id INTEGER REFERENCES author(id) DEFERRABLE INITIALLY DEFERRED,
             editor_id INTEGER REFERENCES author(id));
         INSERT INTO author VALUES (1);
         INSERT INTO book VALUES (1, 1, 1);",
    );
    let db = TestDb::new();
    sync(&app, &db, &[]).assert_ok();
    let mut client = db.client();
    let keys: Vec<(String, bool, bool)> = client
        .query(
            "SELECT a.attname::text, c.condeferrable, c.condeferred
               FROM pg_constraint c
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
              WHERE c.contype = 'f' AND c.conrelid = 'public.book'::regclass
              ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        keys,
        [
            ("author_id".to_owned(), true, true),
            ("editor_id".to_owned(), true, false)
        ]
    );
    // An application inserting the child first, as Django may, commits.
    client
        .batch_execute(
            "BEGIN;
             INSERT INTO book VALUES (2, 2, NULL);
             INSERT INTO author VALUES (2);
             COMMIT;",
        )
        .unwrap();
}
