//! `ferry verify --full` counts exactly whatever share of rows differs:
//! a million-row table tampered with at 0 %, one row, 2 %, 30 % and 100 %,
//! a keyless table compared as a multiset, and the rejects verify expects.

use crate::util::{command_json, copy, table, TempSqlite, TestDb};

const ROWS: i64 = 1_000_000;

fn verify_full(source: &TempSqlite, db: &TestDb, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["--full"];
    args.extend_from_slice(extra);
    let run = command_json("verify", &source.path, db, &args);
    assert!(
        run.code == 0 || run.code == 1,
        "verify failed:\n{}\n{}",
        run.stdout,
        run.stderr
    );
    let report = run.json();
    assert_eq!(report["passed"], run.code == 0, "{report}");
    report
}

/// `(missing, extra, changed)` of a table.
fn counts(report: &serde_json::Value, name: &str) -> (u64, u64, u64) {
    let t = table(report, name);
    (
        t["missing"].as_u64().unwrap(),
        t["extra"].as_u64().unwrap(),
        t["changed"].as_u64().unwrap(),
    )
}

/// The listed differences of a table as `(kind, id, columns)`, ids parsed
/// from keys `id=N`.
fn listed(report: &serde_json::Value, name: &str) -> Vec<(String, i64, Vec<String>)> {
    table(report, name)["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let id = d["key"].as_str().unwrap().strip_prefix("id=").unwrap();
            (
                d["kind"].as_str().unwrap().to_owned(),
                id.parse().unwrap(),
                d["columns"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["column"].as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn issue_12_full_verify_counts_exactly_at_every_difference_rate() {
    let source = TempSqlite::new(&format!(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, amount REAL,
                              at DATETIME);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS})
         INSERT INTO events SELECT i, 'k' || (i % 7), i * 0.25,
                                   datetime(1600000000 + i, 'unixepoch') FROM n;"
    ));
    let db = TestDb::new();
    copy(&source.path, &db, &[]).assert_ok();
    let mut client = db.client();

    // 0 %: equal.
    let report = verify_full(&source, &db, &[]);
    assert_eq!(counts(&report, "events"), (0, 0, 0));
    assert_eq!(table(&report, "events")["checked_rows"], ROWS);

    // One row.
    client
        .batch_execute("UPDATE events SET amount = amount + 1 WHERE id = 500000")
        .unwrap();
    let report = verify_full(&source, &db, &[]);
    assert_eq!(counts(&report, "events"), (0, 0, 1));
    assert_eq!(
        listed(&report, "events"),
        [("changed".into(), 500000, vec!["amount".into()])]
    );

    // 2 % changed, 1,000 deleted, 500 inserted.
    client
        .batch_execute(&format!(
            "UPDATE events SET kind = 'tampered' WHERE id % 50 = 0;
             DELETE FROM events WHERE id % 1000 = 7;
             INSERT INTO events SELECT i, 'new', 0, now() FROM generate_series({ROWS} + 1, {ROWS} + 500) i;"
        ))
        .unwrap();
    let report = verify_full(&source, &db, &["--max-listed", "30"]);
    assert_eq!(counts(&report, "events"), (1000, 500, 20000));
    let rows = listed(&report, "events");
    assert_eq!(rows.len(), 30);
    assert_eq!(
        table(&report, "events")["unlisted"],
        1000 + 500 + 20000 - 30
    );
    for (kind, id, columns) in &rows {
        match kind.as_str() {
            // Row 500000 also has its amount changed.
            "changed" if *id == 500000 => assert_eq!(columns, &["kind", "amount"]),
            "changed" => assert!(id % 50 == 0 && columns == &["kind"], "{id} {columns:?}"),
            "missing" => assert!(id % 1000 == 7 && columns.is_empty(), "{id}"),
            "extra" => assert!(*id > ROWS && columns.is_empty(), "{id}"),
            other => panic!("unexpected kind {other}"),
        }
    }
    // Listed fairly: every kind shows.
    for kind in ["missing", "extra", "changed"] {
        assert_eq!(rows.iter().filter(|r| r.0 == kind).count(), 10, "{kind}");
    }

    // 30 % changed (a superset of the 2 %; the deleted ids end in 7).
    client
        .batch_execute("UPDATE events SET at = at + interval '1 microsecond' WHERE id % 10 < 3")
        .unwrap();
    let report = verify_full(&source, &db, &[]);
    assert_eq!(counts(&report, "events"), (1000, 500, 300_000));

    // 100 %: every row still in the target differs.
    client
        .batch_execute("UPDATE events SET amount = -1")
        .unwrap();
    let report = verify_full(&source, &db, &[]);
    assert_eq!(counts(&report, "events"), (1000, 500, ROWS as u64 - 1000));
    assert_eq!(
        table(&report, "events")["differences"]
            .as_array()
            .unwrap()
            .len(),
        100
    );
}

#[test]
fn issue_12_keyless_tables_are_compared_as_exact_multisets() {
    // Every row twice: 150,000 distinct rows, 300,000 in all.
    let source = TempSqlite::new(
        "CREATE TABLE log (at INTEGER, msg TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000)
         INSERT INTO log SELECT i % 150000, 'line ' || (i % 150000) FROM n;",
    );
    let db = TestDb::new();
    copy(&source.path, &db, &[]).assert_ok();
    let report = verify_full(&source, &db, &[]);
    assert_eq!(counts(&report, "log"), (0, 0, 0));

    db.client()
        .batch_execute(
            // 3,000 ats x 2 copies updated: each a missing and an extra row.
            "UPDATE log SET msg = 'edited' WHERE at % 50 = 0;
             -- one copy of each of 150 pairs deleted
             DELETE FROM log WHERE ctid IN
                 (SELECT min(ctid) FROM log WHERE at % 1000 = 1 GROUP BY at);
             -- a third copy of 150 rows
             INSERT INTO log SELECT DISTINCT at, msg FROM log WHERE at % 1000 = 2;",
        )
        .unwrap();
    let report = verify_full(&source, &db, &[]);
    assert_eq!(counts(&report, "log"), (6000 + 150, 6000 + 150, 0));
    let t = table(&report, "log");
    assert_eq!(t["target_rows"], 300_000);
    for difference in t["differences"].as_array().unwrap() {
        // Keys of a keyless table name the whole row: `at=5, msg='line 5'`.
        let key = difference["key"].as_str().unwrap();
        let (at, msg) = key.split_once(", msg=").unwrap();
        let at: i64 = at.strip_prefix("at=").unwrap().parse().unwrap();
        match difference["kind"].as_str().unwrap() {
            "missing" => {
                assert_eq!(msg, format!("'line {at}'"));
                assert!(at % 50 == 0 || at % 1000 == 1, "{key}");
            }
            "extra" if msg == "'edited'" => assert_eq!(at % 50, 0, "{key}"),
            "extra" => assert_eq!(at % 1000, 2, "{key}"),
            other => panic!("unexpected {other}: {difference}"),
        }
    }
}

#[test]
fn issue_12_verify_expects_only_the_rejects_of_the_last_copy_of_that_table() {
    let bad = TempSqlite::new(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, placed DATE);
         INSERT INTO orders VALUES (1, '2024-01-01'), (2, '2023-02-30'), (3, '2024-03-01');",
    );
    let db = TestDb::new();
    copy(&bad.path, &db, &["--on-error", "quarantine"]).assert_ok();
    let report = verify_full(&bad, &db, &[]);
    assert_eq!(table(&report, "orders")["quarantined"], 1);
    assert_eq!(report["passed"], true, "{report}");

    // The same table name copied into another schema from a clean file:
    // the first copy's reject is not expected there.
    let fixed = TempSqlite::new(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, placed DATE);
         INSERT INTO orders VALUES (1, '2024-01-01'), (2, '2023-02-28'), (3, '2024-03-01');",
    );
    copy(&fixed.path, &db, &["--schema", "other"]).assert_ok();
    let report = verify_full(&fixed, &db, &["--schema", "other"]);
    assert_eq!(table(&report, "orders")["quarantined"], 0, "{report}");
    assert_eq!(report["passed"], true, "{report}");

    // Fixed and copied again into the first schema: its old reject is
    // forgotten, and the row it stood for is now expected and present.
    copy(&fixed.path, &db, &["--if-exists", "truncate"]).assert_ok();
    let report = verify_full(&fixed, &db, &[]);
    assert_eq!(table(&report, "orders")["quarantined"], 0, "{report}");
    assert_eq!(report["passed"], true, "{report}");

    // A row deleted from that target is missing, not "quarantined".
    db.client()
        .batch_execute("DELETE FROM orders WHERE id = 2")
        .unwrap();
    let report = verify_full(&fixed, &db, &[]);
    assert_eq!(counts(&report, "orders"), (1, 0, 0));
}
