//! Errors a user can act on, with the documented exit codes.

use crate::util::{copy, ferry, TempSqlite, TestDb};

#[test]
fn bad_value_aborts_naming_table_row_column_and_value() {
    let source = TempSqlite::new(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, created_at DATETIME);
         INSERT INTO orders VALUES (1, '2023-02-01 10:00:00'), (1842, '2023-02-30');",
    );
    let db = TestDb::new();
    let run = copy(&source.path, &db, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    for part in [
        "orders",
        "id=1842",
        "created_at",
        "'2023-02-30'",
        "--on-error quarantine",
    ] {
        assert!(
            run.stderr.contains(part),
            "missing {part:?} in: {}",
            run.stderr
        );
    }
}

#[test]
fn quarantine_loads_good_rows_and_records_bad_ones() {
    let source = TempSqlite::new(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, flag BOOLEAN, note TEXT);
         INSERT INTO t VALUES (1, 10, 1, 'ok'), (2, 'abc', 0, 'bad int'), (3, 30, 2, 'bad bool'),
                              (4, 40, 1, CAST(X'61FF62' AS TEXT)), (5, 50, 0, 'ok');",
    );
    let db = TestDb::new();
    let run = copy(
        &source.path,
        &db,
        &["--on-error", "quarantine", "--types", "declared"],
    );
    run.assert_ok();
    let report = run.json();
    assert_eq!(report["tables"][0]["rows_read"], 5);
    assert_eq!(report["tables"][0]["rows_written"], 2);
    assert_eq!(report["tables"][0]["rejected"], 3);

    let mut pg = db.client();
    let ids: Vec<i64> = pg
        .query("SELECT id FROM t ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids, [1, 5]);
    let rejects: Vec<(String, String, String)> = pg
        .query(
            "SELECT row_key, column_name, raw_value::text FROM ferry.rejects ORDER BY row_key",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(rejects.len(), 3, "{rejects:?}");
    assert_eq!(rejects[0].0, "id=2");
    assert_eq!(rejects[0].1, "n");
    assert!(rejects[0].2.contains("abc"), "{rejects:?}");
    assert_eq!(rejects[1].1, "flag");
    assert_eq!(rejects[2].1, "note");
    assert!(
        rejects[2].2.contains("61ff62"),
        "raw bytes kept as hex: {rejects:?}"
    );
}

#[test]
fn missing_or_foreign_source_is_a_usage_error() {
    let db = TestDb::new();
    let missing = copy(std::path::Path::new("/nonexistent/app.db"), &db, &[]);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("/nonexistent/app.db"),
        "{}",
        missing.stderr
    );

    let not_sqlite = std::env::temp_dir().join(format!("ferry-not-sqlite-{}", std::process::id()));
    std::fs::write(
        &not_sqlite,
        "this is a text file, not a database, padded out to some length",
    )
    .unwrap();
    let run = copy(&not_sqlite, &db, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.to_lowercase().contains("not a sqlite database"),
        "{}",
        run.stderr
    );
    let _ = std::fs::remove_file(not_sqlite);
}

#[test]
fn unreachable_target_exits_3_without_printing_the_password() {
    let source = TempSqlite::new("CREATE TABLE t (id INTEGER PRIMARY KEY);");
    let run = ferry(&[
        "copy",
        "--source",
        source.path.to_str().unwrap(),
        "--target",
        "postgres://app:s3cret-pw@127.0.0.1:1/app?connect_timeout=2",
    ]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        !run.stderr.contains("s3cret-pw"),
        "password leaked: {}",
        run.stderr
    );
    assert!(!run.stdout.contains("s3cret-pw"));
}

#[test]
fn unknown_table_and_bad_config_are_usage_errors() {
    let source = TempSqlite::new("CREATE TABLE t (id INTEGER PRIMARY KEY);");
    let db = TestDb::new();
    let run = copy(&source.path, &db, &["--tables", "nope"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("no table 'nope'"), "{}", run.stderr);

    let config = std::env::temp_dir().join(format!("ferry-bad-config-{}.toml", std::process::id()));
    std::fs::write(&config, "[tables.t.columns.missing]\ntype = \"text\"\n").unwrap();
    let run = copy(&source.path, &db, &["--config", config.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("missing"), "{}", run.stderr);
    let _ = std::fs::remove_file(config);
}

#[test]
fn plan_prints_ddl_without_a_database() {
    let source = TempSqlite::new(
        "CREATE TABLE \"Order Details\" (id INTEGER PRIMARY KEY AUTOINCREMENT, \"Unit Price\" DECIMAL(10,2) NOT NULL DEFAULT 0);
         CREATE VIEW v AS SELECT 1;",
    );
    let run = ferry(&["plan", "--source", source.path.to_str().unwrap()]);
    run.assert_ok();
    assert!(
        run.stdout
            .contains("CREATE TABLE \"public\".\"order details\""),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("\"unit price\" numeric(10,2) NOT NULL DEFAULT 0"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("GENERATED BY DEFAULT AS IDENTITY"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("skipped view v"), "{}", run.stdout);
}
