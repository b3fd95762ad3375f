//! Files real applications write, copied with no flags (issue 15): columns
//! holding other values than their declared type, an application's own
//! collation, GeoPackage geometry. Each is compared value by value with an
//! independent reading of SQLite, and verified.

use crate::compare::assert_same_rows;
use crate::util::{copy, pg_column_types, verified, TempSqlite, TestDb};

fn types(db: &TestDb, table: &str) -> Vec<String> {
    pg_column_types(&mut db.client(), "public", table)
        .into_iter()
        .map(|(name, ty)| format!("{name} {ty}"))
        .collect()
}

/// Like Anki's collection: a sort field declared INTEGER that holds text,
/// and WITHOUT ROWID tables keyed on a column with the application's own
/// `unicase` collation, which SQLite cannot even read without it.
fn anki_like() -> TempSqlite {
    let source = TempSqlite::new("");
    unicase_connection(&source)
        .execute_batch(
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, guid TEXT NOT NULL, sfld INTEGER NOT NULL,
                             csum INTEGER NOT NULL);
         INSERT INTO notes VALUES (1, 'a', 'Hello', 1), (2, 'b', 42, 2), (3, 'c', 'wörld ✓', 3),
                                  (4, 'd', '007', 4), (5, 'e', 1.5, 5);
         CREATE TABLE tags (tag TEXT NOT NULL PRIMARY KEY COLLATE unicase, usn INTEGER NOT NULL)
             WITHOUT ROWID;
         INSERT INTO tags VALUES ('Leech', -1), ('marked', 0), ('Zebra', 3);
         CREATE TABLE fields (ntid INTEGER NOT NULL, ord INTEGER NOT NULL,
                              name TEXT NOT NULL COLLATE unicase, PRIMARY KEY (ntid, ord))
             WITHOUT ROWID;
         CREATE UNIQUE INDEX idx_fields_name_ntid ON fields (name, ntid);
         INSERT INTO fields VALUES (1, 0, 'Front'), (1, 1, 'Back'), (2, 0, 'Text');",
        )
        .unwrap();
    source
}

#[test]
fn issue_15_an_anki_like_collection_copies_with_no_flags() {
    let source = anki_like();
    let db = TestDb::new();
    let run = copy(&source.path, &db, &[]);
    run.assert_ok();
    let warnings = run.json()["warnings"].to_string();
    assert!(
        warnings.contains(
            "notes: column sfld: declared INTEGER but 3 stored values (real, text, first at \
             id=1) do not become bigint; mapped to text"
        ),
        "{warnings}"
    );
    assert!(
        warnings.contains("tags: collation unicase is the application's own"),
        "{warnings}"
    );
    assert_eq!(
        types(&db, "notes"),
        ["id bigint", "guid text", "sfld text", "csum bigint"]
    );
    let mut pg = db.client();
    assert_same_rows(
        &source.path,
        "notes",
        &mut pg,
        "public",
        "notes",
        ("id", "id"),
    );
    // The unicase tables, read here with the application's collation.
    let sqlite = unicase_connection(&source);
    for (sql, pg_sql) in [
        (
            "SELECT tag || '|' || usn FROM tags ORDER BY usn",
            "SELECT tag || '|' || usn FROM tags ORDER BY usn",
        ),
        (
            "SELECT ntid || '|' || ord || '|' || name FROM fields ORDER BY ntid, ord",
            "SELECT ntid || '|' || ord || '|' || name FROM fields ORDER BY ntid, ord",
        ),
    ] {
        let expected: Vec<String> = sqlite
            .prepare(sql)
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let actual: Vec<String> = pg
            .query(pg_sql, &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(actual, expected);
        assert!(!expected.is_empty());
    }
    verified(&source, &db, &[]);
}

fn unicase_connection(source: &TempSqlite) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(&source.path).unwrap();
    conn.create_collation("unicase", |a: &str, b: &str| {
        a.to_lowercase().cmp(&b.to_lowercase())
    })
    .unwrap();
    conn
}

/// Like a clinic's app: dates and user names in INTEGER columns, a
/// BOOLEAN holding 2, a DATE holding a name.
#[test]
fn issue_15_columns_holding_other_values_than_declared_get_the_narrowest_exact_type() {
    let source = TempSqlite::new(
        "CREATE TABLE visits (id INTEGER PRIMARY KEY, visit_date INTEGER, created_by INTEGER,
                              done BOOLEAN, due DATE, weight REAL, fee NUMERIC);
         INSERT INTO visits VALUES
             (1, '2024-01-05', 'dr.smith', 1, '2024-02-01', 70.5, 10),
             (2, 20240106, 'nurse', 0, 'asap', 80, 12.5),
             (3, NULL, 7, 2, NULL, NULL, 'n/a'),
             (4, 1704067200, NULL, NULL, '2024-03-01', 1e300, 3);",
    );
    let db = TestDb::new();
    let plan = crate::util::ferry(&["plan", "--source", source.path.to_str().unwrap()]);
    plan.assert_ok();
    assert!(
        plan.stdout
            .contains("-- warning: column done: declared BOOLEAN but 1 stored value (integer, first at id=3) does not become boolean; mapped to bigint"),
        "{}",
        plan.stdout
    );
    copy(&source.path, &db, &[]).assert_ok();
    assert_eq!(
        types(&db, "visits"),
        [
            "id bigint",
            "visit_date text",
            "created_by text",
            "done bigint",
            "due text",
            "weight double precision",
            "fee text"
        ]
    );
    assert_same_rows(
        &source.path,
        "visits",
        &mut db.client(),
        "public",
        "visits",
        ("id", "id"),
    );
    verified(&source, &db, &[]);

    // Declared types enforced on request: the first bad value is named.
    let strict = TestDb::new();
    let run = copy(&source.path, &strict, &["--types", "declared"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("visits, id=1, column visit_date")
            || run.stderr.contains("visits, id=1, column created_by"),
        "{}",
        run.stderr
    );
}

/// A GeoPackage-like layer: geometry columns declared POINT, MULTIPOLYGON
/// and GEOMETRY holding the standard's binary blobs (a `GP` header, then
/// WKB, NUL bytes included).
#[test]
fn issue_15_geopackage_geometry_is_kept_as_bytea_byte_for_byte() {
    let source = TempSqlite::new(
        "CREATE TABLE places (fid INTEGER PRIMARY KEY AUTOINCREMENT, geom POINT, name TEXT);
         INSERT INTO places VALUES
             (1, X'47500001E610000001010000000000000000002440000000000000F03F', 'a'),
             (2, NULL, 'no geometry');
         CREATE TABLE areas (fid INTEGER PRIMARY KEY, shape MULTIPOLYGON, outline GEOMETRY);
         INSERT INTO areas VALUES (1, X'4750000300000000010600000000000000', X'00');",
    );
    let db = TestDb::new();
    let plan = crate::util::ferry(&["plan", "--source", source.path.to_str().unwrap()]);
    assert!(
        plan.stdout.contains(
            "column geom: POINT is a geometry (GeoPackage or SpatiaLite blob): kept as bytea"
        ),
        "{}",
        plan.stdout
    );
    copy(&source.path, &db, &[]).assert_ok();
    assert_eq!(
        types(&db, "places"),
        ["fid bigint", "geom bytea", "name text"]
    );
    assert_eq!(
        types(&db, "areas"),
        ["fid bigint", "shape bytea", "outline bytea"]
    );
    let mut pg = db.client();
    assert_same_rows(
        &source.path,
        "places",
        &mut pg,
        "public",
        "places",
        ("fid", "fid"),
    );
    assert_same_rows(
        &source.path,
        "areas",
        &mut pg,
        "public",
        "areas",
        ("fid", "fid"),
    );
    verified(&source, &db, &[]);
}

/// Column names Postgres keeps for itself (`xmin`, `ctid`…) and empty
/// names: renamed in the plan with a warning, not a failed CREATE TABLE.
#[test]
fn issue_15_system_column_names_are_renamed_before_any_ddl() {
    let source = TempSqlite::new(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, xmin INTEGER, ctid TEXT, \"\" TEXT);
         INSERT INTO t VALUES (1, 5, 'a', 'b'), (2, NULL, NULL, 'c');",
    );
    let db = TestDb::new();
    let run = copy(&source.path, &db, &[]);
    run.assert_ok();
    assert!(
        run.json()["warnings"]
            .to_string()
            .contains("so it becomes xmin_"),
        "{}",
        run.stdout
    );
    assert_eq!(
        types(&db, "t"),
        ["id bigint", "xmin_ bigint", "ctid_ text", "column_4 text"]
    );
    assert_same_rows(
        &source.path,
        "t",
        &mut db.client(),
        "public",
        "t",
        ("id", "id"),
    );
    verified(&source, &db, &[]);
}

/// SQLite lets NULL into a primary key that is not the rowid; Postgres
/// keys cannot hold one. The key becomes a UNIQUE constraint, which like
/// SQLite's key treats NULLs as distinct.
#[test]
fn issue_15_a_primary_key_holding_nulls_becomes_a_unique_constraint() {
    let source = TempSqlite::new(
        "CREATE TABLE links (a INTEGER, b TEXT, note TEXT, PRIMARY KEY (a, b));
         INSERT INTO links VALUES (1, 'x', 'ok'), (NULL, 'y', 'null a'), (NULL, 'y', 'again'),
                                  (2, NULL, 'null b');",
    );
    let db = TestDb::new();
    let run = copy(&source.path, &db, &[]);
    run.assert_ok();
    assert!(
        run.json()["warnings"].to_string().contains(
            "links: the primary key (a, b) holds NULLs in 3 rows, first at a=NULL, b='y'"
        ),
        "{}",
        run.stdout
    );
    let mut pg = db.client();
    let constraints: Vec<String> = pg
        .query(
            "SELECT contype::text || ' ' || conname::text FROM pg_constraint
              WHERE conrelid = 'public.links'::regclass ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(constraints, ["u links_a_b_key"]);
    assert_same_rows(
        &source.path,
        "links",
        &mut pg,
        "public",
        "links",
        ("note", "note"),
    );
    verified(&source, &db, &[]);
}
