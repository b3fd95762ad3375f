//! The default `ferry sync` (mode full) compares the source with the
//! digests its last run stored in `ferry.sync_digests` (issue 13): only the
//! source is read in full, and only the rows of the buckets that changed
//! are read on both sides. Key ranges for a rowid key, hashed buckets for
//! any other key (a WITHOUT ROWID table included).

use crate::sync::{counts, sync, table, verify_full, write};
use crate::util::{TempSqlite, TestDb};

/// A rowid-keyed table, a text-keyed one and a WITHOUT ROWID one.
fn source() -> TempSqlite {
    TempSqlite::new(
        "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL, n REAL);
         CREATE TABLE tags(code TEXT PRIMARY KEY, label TEXT);
         CREATE TABLE pairs(a INTEGER, b INTEGER, v TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID;
         WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < 2000)
         INSERT INTO items SELECT x, 'item ' || x, x / 7.0 FROM i;
         WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < 300)
         INSERT INTO tags SELECT 'tag-' || x, 'label ' || x FROM i;
         WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < 300)
         INSERT INTO pairs SELECT x % 17, x, 'v' || x FROM i;",
    )
}

/// Each table's stored bucketing and the transaction that last wrote its
/// digests, by table name.
fn stored(db: &TestDb) -> Vec<(String, String, String)> {
    db.client()
        .query(
            "SELECT target_table, bucketing, xmin::text FROM ferry.sync_digests \
              ORDER BY target_table",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

fn bucketings(db: &TestDb) -> Vec<(String, String)> {
    stored(db).into_iter().map(|(t, b, _)| (t, b)).collect()
}

#[test]
fn issue_13_full_sync_compares_the_source_with_the_digests_of_its_last_run() {
    let app = source();
    let db = TestDb::new();
    sync(&app, &db, &[]).assert_ok();
    assert!(stored(&db).is_empty(), "a first copy stores no digests");
    // The first sync after the copy compares both sides and stores them.
    let report = sync(&app, &db, &[]).assert_ok().json();
    assert_eq!(counts(&report, "items"), [0, 0, 0], "{report}");
    let expected = |t: &str, b: &str| (t.to_owned(), b.to_owned());
    assert_eq!(
        bucketings(&db),
        [
            expected("items", "range"),
            expected("pairs", "hash"),
            expected("tags", "hash")
        ]
    );

    // Updates, deletes, inserts far past the last key and below the first,
    // a key deleted and inserted again with other values.
    write(
        &app,
        "UPDATE items SET name = 'edited' WHERE id IN (5, 500, 1999);
         DELETE FROM items WHERE id IN (7, 1000);
         INSERT INTO items VALUES (1000000, 'far', NULL), (-5, 'negative', 1.5);
         DELETE FROM items WHERE id = 42; INSERT INTO items VALUES (42, 'again', 0);
         UPDATE tags SET label = NULL WHERE code IN ('tag-3', 'tag-30');
         DELETE FROM tags WHERE code = 'tag-300';
         INSERT INTO tags VALUES ('new', 'tag');
         UPDATE pairs SET v = 'changed' WHERE b = 17;
         DELETE FROM pairs WHERE b IN (1, 2);
         INSERT INTO pairs VALUES (-1, -1, 'first');",
    );
    let report = sync(&app, &db, &[]).assert_ok().json();
    assert_eq!(counts(&report, "items"), [2, 4, 2], "{report}");
    assert_eq!(counts(&report, "tags"), [1, 2, 1], "{report}");
    assert_eq!(counts(&report, "pairs"), [1, 1, 2], "{report}");
    verify_full(&app, &db);

    // Nothing changed: nothing applied, and the stored digests are not
    // even rewritten.
    let before = stored(&db);
    let report = sync(&app, &db, &[]).assert_ok().json();
    for name in ["items", "tags", "pairs"] {
        assert_eq!(counts(&report, name), [0, 0, 0], "{report}");
    }
    assert_eq!(stored(&db), before);
}

#[test]
fn issue_13_a_target_changed_behind_ferrys_back_is_found_by_check_and_repaired_by_reset() {
    let app = source();
    let db = TestDb::new();
    sync(&app, &db, &[]).assert_ok();
    sync(&app, &db, &[]).assert_ok();
    db.client()
        .batch_execute("UPDATE items SET name = 'tampered' WHERE id = 9")
        .unwrap();

    // A sync compares the source with what it applied last: the source
    // did not change, so it changes nothing (as documented).
    let report = sync(&app, &db, &[]).assert_ok().json();
    assert_eq!(counts(&report, "items"), [0, 0, 0], "{report}");
    // --check compares both sides and says so (exit 1) …
    let check = sync(&app, &db, &["--check"]);
    assert_eq!(check.code, 1, "{}\n{}", check.stdout, check.stderr);
    assert_eq!(counts(&check.json(), "items"), [0, 1, 0]);
    // … and --reset compares both sides again and repairs it.
    let report = sync(&app, &db, &["--reset", "items"]).assert_ok().json();
    assert_eq!(table(&report, "items")["action"], "reconciled");
    assert_eq!(counts(&report, "items"), [0, 1, 0], "{report}");
    verify_full(&app, &db);

    // Unattended, the full comparison every reconcile_every (1d by
    // default) repairs it too.
    db.client()
        .batch_execute(
            "DELETE FROM items WHERE id = 10;
             UPDATE ferry.sync_state SET reconciled_at = now() - interval '25 hours'
              WHERE target_table = 'items';",
        )
        .unwrap();
    let report = sync(&app, &db, &[]).assert_ok().json();
    assert_eq!(table(&report, "items")["action"], "reconciled");
    assert_eq!(table(&report, "tags")["action"], "incremental");
    assert_eq!(counts(&report, "items"), [1, 0, 0], "{report}");
    let report = sync(&app, &db, &[]).assert_ok().json();
    assert_eq!(table(&report, "items")["action"], "incremental");
    verify_full(&app, &db);
}

#[test]
fn issue_13_reconcile_every_repairs_what_a_cursor_missed() {
    let app = TempSqlite::new(
        "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, updated_at DATETIME NOT NULL);
         INSERT INTO items VALUES (1, 'a', '2024-01-01 00:00:00');",
    );
    let db = TestDb::new();
    let config = std::env::temp_dir().join(format!("ferry-reconcile-{}.toml", db.name));
    std::fs::write(
        &config,
        "[tables.items.sync]\ncursor = \"updated_at\"\nreconcile_every = \"0\"\n",
    )
    .unwrap();
    let config_arg = ["--config", config.to_str().unwrap()];
    sync(&app, &db, &config_arg).assert_ok();
    // An update that forgets the cursor: a cursor cannot see it, the full
    // comparison (every run, here) does.
    write(&app, "UPDATE items SET name = 'b' WHERE id = 1;");
    let report = sync(&app, &db, &config_arg).assert_ok().json();
    assert_eq!(table(&report, "items")["action"], "reconciled");
    assert_eq!(counts(&report, "items"), [0, 1, 0], "{report}");
    verify_full(&app, &db);

    std::fs::write(
        &config,
        "[tables.items.sync]\ncursor = \"updated_at\"\nreconcile_every = \"sometimes\"\n",
    )
    .unwrap();
    let run = sync(&app, &db, &config_arg);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("reconcile_every: 'sometimes' is not a duration"),
        "{}",
        run.stderr
    );
    std::fs::remove_file(&config).unwrap();
}

#[test]
fn issue_13_unreadable_stored_digests_fall_back_to_comparing_both_sides() {
    let app = source();
    let db = TestDb::new();
    sync(&app, &db, &[]).assert_ok();
    sync(&app, &db, &[]).assert_ok();
    db.client()
        .batch_execute(
            "UPDATE ferry.sync_digests SET digests = '\\x0102' WHERE target_table = 'items';
             UPDATE ferry.sync_digests SET bucketing = 'range' WHERE target_table = 'tags';
             UPDATE ferry.sync_digests SET parameter = 0 WHERE target_table = 'pairs';",
        )
        .unwrap();
    write(
        &app,
        "UPDATE items SET n = NULL WHERE id = 3;
         DELETE FROM tags WHERE code = 'tag-1';
         INSERT INTO pairs VALUES (99, 99, 'x');",
    );
    let report = sync(&app, &db, &[]).assert_ok().json();
    assert_eq!(counts(&report, "items"), [0, 1, 0], "{report}");
    assert_eq!(counts(&report, "tags"), [0, 0, 1], "{report}");
    assert_eq!(counts(&report, "pairs"), [1, 0, 0], "{report}");
    verify_full(&app, &db);
    assert_eq!(
        bucketings(&db),
        [
            ("items".to_owned(), "range".to_owned()),
            ("pairs".to_owned(), "hash".to_owned()),
            ("tags".to_owned(), "hash".to_owned())
        ]
    );
}
