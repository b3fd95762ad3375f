//! The target is only changed as the user said: non-empty tables are
//! refused unless `--if-exists` says what to do.

use crate::util::{copy, TempSqlite, TestDb};

fn source() -> TempSqlite {
    TempSqlite::new(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         INSERT INTO items VALUES (1, 'one'), (2, 'two'), (3, 'three');
         CREATE TABLE log (at TEXT, line TEXT);
         INSERT INTO log VALUES ('a', 'x'), ('b', 'y');",
    )
}

fn count(db: &TestDb, table: &str) -> i64 {
    db.client()
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .unwrap()
        .get(0)
}

#[test]
fn refuses_non_empty_tables_without_if_exists() {
    let source = source();
    let db = TestDb::new();
    copy(&source.path, &db, &[]).assert_ok();
    let again = copy(&source.path, &db, &[]);
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(
        again.stderr.contains("already hold rows"),
        "{}",
        again.stderr
    );
    assert!(again.stderr.contains("--if-exists"), "{}", again.stderr);
    assert_eq!(
        count(&db, "items"),
        3,
        "a refused run must not change anything"
    );
}

#[test]
fn truncate_replaces_and_drop_recreates() {
    let source = source();
    let db = TestDb::new();
    copy(&source.path, &db, &[]).assert_ok();
    db.client()
        .batch_execute("INSERT INTO items VALUES (99, 'extra')")
        .unwrap();
    copy(&source.path, &db, &["--if-exists", "truncate"]).assert_ok();
    assert_eq!(count(&db, "items"), 3);

    db.client()
        .batch_execute("ALTER TABLE items ADD COLUMN added_by_hand int")
        .unwrap();
    copy(&source.path, &db, &["--if-exists", "drop"]).assert_ok();
    let columns: i64 = db
        .client()
        .query_one(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(columns, 2, "drop recreates the table from the plan");
}

#[test]
fn append_adds_rows_and_leaves_other_tables_alone() {
    let source = source();
    let db = TestDb::new();
    db.client()
        .batch_execute("CREATE TABLE unrelated (x int); INSERT INTO unrelated VALUES (1);")
        .unwrap();
    copy(&source.path, &db, &["--tables", "log"]).assert_ok();
    copy(
        &source.path,
        &db,
        &["--tables", "log", "--if-exists", "append"],
    )
    .assert_ok();
    assert_eq!(count(&db, "log"), 4);
    assert_eq!(count(&db, "unrelated"), 1);
    let items: i64 = db
        .client()
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'items'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(items, 0, "--tables log must not create items");
}

#[test]
fn copies_into_a_named_schema_created_on_demand() {
    let source = source();
    let db = TestDb::new();
    copy(&source.path, &db, &["--schema", "Legacy Data"]).assert_ok();
    assert_eq!(count(&db, "\"Legacy Data\".items"), 3);
}
