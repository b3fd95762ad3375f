//! The edge-case fixture: every oddity a real SQLite file holds.

use crate::compare::assert_same_rows;
use crate::util::{copy, fixture, TestDb};

/// (SQLite table, Postgres table, SQLite ORDER BY, Postgres ORDER BY).
const EXACT_TABLES: &[(&str, &str, &str, &str)] = &[
    ("types_exact", "types_exact", "id", "id"),
    (
        "Order Details",
        "order details",
        "\"Order ID\"",
        "\"order id\"",
    ),
    ("select", "select", "\"from\"", "\"from\""),
    ("a\"quote", "a\"quote", "id", "id"),
    ("ünïcødé", "ünïcødé", "id", "id"),
    ("dots.in.name", "dots.in.name", "id", "id"),
    ("MixedCase", "mixedcase", "id", "id"),
    ("composite_pk", "composite_pk", "a, b", "a, b COLLATE \"C\""),
    (
        "no_pk",
        "no_pk",
        "name, qty, note",
        "name COLLATE \"C\" NULLS FIRST, qty NULLS FIRST, note COLLATE \"C\" NULLS FIRST",
    ),
    ("empty_table", "empty_table", "id", "id"),
    ("with_generated", "with_generated", "id", "id"),
    ("parent", "parent", "id", "id"),
    ("child", "child", "id", "id"),
];

#[test]
fn copies_every_exact_value_of_the_edge_fixture() {
    let source = fixture("edge.sqlite");
    let db = TestDb::new();
    let run = copy(
        &source,
        &db,
        &["--exclude", "bad_values", "--chunk-rows", "7"],
    );
    run.assert_ok();
    let mut pg = db.client();
    for (sqlite_table, pg_table, sqlite_order, pg_order) in EXACT_TABLES {
        assert_same_rows(
            &source,
            sqlite_table,
            &mut pg,
            "public",
            pg_table,
            (sqlite_order, pg_order),
        );
    }

    let report = run.json();
    let skipped: Vec<(String, String)> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["kind"].as_str().unwrap().to_owned(),
                s["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (kind, name) in [
        ("view", "positive_parents"),
        ("trigger", "child_touches_parent"),
        ("virtual table", "notes_fts"),
        ("shadow table", "notes_fts_data"),
    ] {
        assert!(
            skipped.contains(&(kind.to_owned(), name.to_owned())),
            "{kind} {name} not reported as skipped: {skipped:?}"
        );
    }
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("child_parent_id_fkey") && warnings.contains("NOT VALID"),
        "the violated foreign key must be reported: {warnings}"
    );
}

#[test]
fn odd_identifiers_keep_their_meaning() {
    let source = fixture("edge.sqlite");
    let db = TestDb::new();
    copy(&source, &db, &["--exclude", "bad_values"]).assert_ok();
    let mut pg = db.client();
    let long: String = pg
        .query_one(
            "SELECT attname::text FROM pg_attribute
              WHERE attrelid = '\"order details\"'::regclass AND attname LIKE 'this_column%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(long.len(), 63, "names are cut to Postgres's 63-byte limit");
    // A key the data violates stays NOT VALID; the valid one is validated.
    let validated: Vec<(String, bool)> = pg
        .query(
            "SELECT conname::text, convalidated FROM pg_constraint WHERE contype = 'f' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(
        validated.contains(&("child_parent_id_fkey".to_owned(), false)),
        "{validated:?}"
    );
    assert!(
        validated.contains(&("child_other_parent_fkey".to_owned(), true)),
        "{validated:?}"
    );

    let preserved = TestDb::new();
    copy(
        &source,
        &preserved,
        &[
            "--tables",
            "MixedCase,Order Details",
            "--identifiers",
            "preserve",
        ],
    )
    .assert_ok();
    let columns = crate::util::pg_column_types(&mut preserved.client(), "public", "MixedCase");
    let names: Vec<&str> = columns.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["id", "MixedCase", "UPPER", "lower"]);
}

#[test]
fn quarantine_rejects_exactly_the_bad_values() {
    let source = fixture("edge.sqlite");
    let db = TestDb::new();
    let run = copy(
        &source,
        &db,
        &[
            "--tables",
            "bad_values",
            "--on-error",
            "quarantine",
            "--types",
            "declared",
        ],
    );
    run.assert_ok();
    let sqlite =
        rusqlite::Connection::open_with_flags(&source, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    // Independent expectation: the fixture says which column of each row is bad.
    let mut expected: Vec<(String, String)> = sqlite
        .prepare("SELECT 'id=' || id, kind FROM bad_values WHERE kind <> 'good' ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let good: i64 = sqlite
        .query_row(
            "SELECT count(*) FROM bad_values WHERE kind = 'good'",
            [],
            |r| r.get(0),
        )
        .unwrap();

    let report = run.json();
    assert_eq!(report["tables"][0]["rejected"], expected.len());
    assert_eq!(report["tables"][0]["rows_written"], good);

    let mut pg = db.client();
    let mut rejected: Vec<(String, String)> = pg
        .query("SELECT row_key, column_name FROM ferry.rejects", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    rejected.sort_by_key(|(key, _)| key[3..].parse::<i64>().unwrap());
    expected.sort_by_key(|(key, _)| key[3..].parse::<i64>().unwrap());
    assert_eq!(rejected, expected);
    let loaded: i64 = pg
        .query_one("SELECT count(*) FROM bad_values", &[])
        .unwrap()
        .get(0);
    assert_eq!(loaded, good);
}

#[test]
fn abort_stops_at_the_first_bad_value_and_loads_nothing_of_that_chunk() {
    let source = fixture("edge.sqlite");
    let db = TestDb::new();
    let run = copy(&source, &db, &["--tables", "bad_values"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("bad_values, id=4, column int_col"),
        "{}",
        run.stderr
    );
    let loaded: i64 = db
        .client()
        .query_one("SELECT count(*) FROM bad_values", &[])
        .unwrap()
        .get(0);
    assert_eq!(loaded, 0, "the failing chunk is rolled back");
}

#[test]
fn plan_profile_shows_what_columns_hold_and_what_will_not_fit() {
    let source = fixture("edge.sqlite");
    let run = crate::util::ferry(&[
        "plan",
        "--source",
        source.to_str().unwrap(),
        "--tables",
        "bad_values",
        "--profile",
    ]);
    run.assert_ok();
    for expected in [
        "CREATE TABLE \"public\".\"bad_values\"",
        "int_col bad: id=4 'abc' is not an integer",
        "date_col bad: id=9 '2023-02-30' is not a valid date",
        "text_col bad: id=7",
    ] {
        assert!(
            run.stdout.contains(expected),
            "missing {expected:?}:\n{}",
            run.stdout
        );
    }
}
