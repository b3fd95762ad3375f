//! The real-world corpus (issue 15): files shaped like what applications
//! write, built by `ferry-fixtures real-world` and committed under
//! `fixtures/data/real-world/`. Each is copied with no flags, compared
//! table by table with an independent reading of SQLite, and verified;
//! then what each application relies on is checked in Postgres.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use serde_json::Value;

use crate::compare::assert_same_rows;
use crate::util::{command_json, copy, fixture, pg_texts, postgis_db, types, verified, TestDb};

/// A corpus file and a read-only connection to it.
fn open(name: &str) -> (PathBuf, Connection) {
    let path = fixture(&format!("real-world/{name}"));
    let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    (path, conn)
}

fn query<T: rusqlite::types::FromSql>(sqlite: &Connection, sql: &str) -> T {
    sqlite
        .query_row(sql, [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{e}: {sql}"))
}

/// Copies `source` with no flags, compares every table in the row orders
/// given (table, SQLite `ORDER BY`, Postgres `ORDER BY`), which must name
/// every ordinary table of the file, and verifies the copy. Returns the
/// database and the copy's JSON report.
fn copy_compare_verify(
    source: &Path,
    sqlite: &Connection,
    orders: &[(&str, &str, &str)],
) -> (TestDb, Value) {
    let db = TestDb::new();
    let run = copy(source, &db, &[]);
    run.assert_ok();
    let report = run.json();

    let tables = sqlite_texts(
        sqlite,
        "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' \
         AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
    );
    let mut listed: Vec<&str> = orders.iter().map(|(table, _, _)| *table).collect();
    listed.sort_unstable();
    assert_eq!(
        listed,
        tables,
        "every table of {} is compared",
        source.display()
    );
    let mut copied: Vec<&str> = report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["table"].as_str().unwrap())
        .collect();
    copied.sort_unstable();
    assert_eq!(
        copied,
        tables,
        "every table of {} is copied",
        source.display()
    );

    let mut pg = db.client();
    for (table, sqlite_order, pg_order) in orders {
        assert_same_rows(
            source,
            table,
            &mut pg,
            "public",
            table,
            (sqlite_order, pg_order),
        );
    }
    let run = command_json("verify", source, &db, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    verified(source, &db, &[]);
    (db, report)
}

/// Checks `id`, a key Postgres just gave a new row of `table`, is above
/// the table's `sqlite_sequence` value: an AUTOINCREMENT key is never
/// handed out twice, even one whose row SQLite has deleted.
fn assert_above_sequence(sqlite: &Connection, table: &str, id: i64) {
    let seq: i64 = query(
        sqlite,
        &format!("SELECT seq FROM sqlite_sequence WHERE name = '{table}'"),
    );
    assert!(
        id > seq,
        "{table}: new key {id} reuses SQLite's {seq} or below"
    );
}

/// The first column of the rows `sql` returns, as text.
fn sqlite_texts(sqlite: &Connection, sql: &str) -> Vec<String> {
    sqlite
        .prepare(sql)
        .unwrap_or_else(|e| panic!("{e}: {sql}"))
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The first column of the one row `sql` returns.
fn one<T: for<'a> postgres::types::FromSql<'a>>(pg: &mut postgres::Client, sql: &str) -> T {
    pg.query_one(sql, &[])
        .unwrap_or_else(|e| panic!("{e}: {sql}"))
        .get(0)
}

/// The warnings of a copy report, as one string to search.
fn warnings(report: &Value) -> String {
    report["warnings"].to_string()
}

#[test]
fn issue_15_corpus_geopackage_copies_with_no_flags() {
    let (source, sqlite) = open("geopackage.sqlite");
    let c = r#"COLLATE "C""#;
    let (db, report) = copy_compare_verify(
        &source,
        &sqlite,
        &[
            ("gpkg_spatial_ref_sys", "srs_id", "srs_id"),
            ("gpkg_contents", "table_name", &format!("table_name {c}")),
            (
                "gpkg_geometry_columns",
                "table_name, column_name",
                &format!("table_name {c}, column_name {c}"),
            ),
            (
                "gpkg_tile_matrix_set",
                "table_name",
                &format!("table_name {c}"),
            ),
            (
                "gpkg_tile_matrix",
                "table_name, zoom_level",
                &format!("table_name {c}, zoom_level"),
            ),
            (
                "gpkg_extensions",
                "extension_name",
                &format!("extension_name {c}"),
            ),
            (
                "gpkg_ogr_contents",
                "table_name",
                &format!("table_name {c}"),
            ),
            ("places", "fid", "fid"),
            ("shapes", "fid", "fid"),
            ("trails", "fid", "fid"),
        ],
    );
    assert_eq!(
        types(&db, "places"),
        [
            "fid bigint",
            "geom bytea",
            "name text",
            "kind text",
            "elevation double precision",
            "visited date"
        ]
    );
    assert_eq!(types(&db, "shapes")[1], "geom bytea");
    assert_eq!(types(&db, "trails")[1], "geom bytea");
    let mut pg = db.client();
    // The headers the standard defines, byte for byte: an empty point
    // (flags 0x11), a big-endian point (0x00, srs_id 4326 big-endian) and
    // one with an envelope (0x03).
    let headers = pg_texts(
        &mut pg,
        "SELECT encode(substr(geom, 1, 8), 'hex') FROM places WHERE fid IN (13, 21, 29) \
         ORDER BY fid",
    );
    assert_eq!(
        headers,
        ["47500011e6100000", "47500000000010e6", "47500003e6100000"]
    );
    assert_eq!(
        one::<i64>(&mut pg, "SELECT count(*) FROM places WHERE geom IS NULL"),
        1
    );
    // The R-tree and the triggers that call GeoPackage functions are
    // reported, not copied.
    let mut skipped: Vec<String> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                s["kind"].as_str().unwrap(),
                s["name"].as_str().unwrap()
            )
        })
        .collect();
    skipped.sort_unstable();
    assert_eq!(
        skipped,
        [
            "internal table sqlite_sequence",
            "shadow table rtree_places_geom_node",
            "shadow table rtree_places_geom_parent",
            "shadow table rtree_places_geom_rowid",
            "trigger rtree_places_geom_delete",
            "trigger rtree_places_geom_insert",
            "trigger trigger_delete_feature_count_places",
            "trigger trigger_insert_feature_count_places",
            "virtual table rtree_places_geom",
        ]
    );
    assert!(
        warnings(&report).contains("places: column geom: POINT is a geometry"),
        "{report}"
    );
    let fid = one(
        &mut pg,
        "INSERT INTO places (name) VALUES ('new place') RETURNING fid",
    );
    assert_above_sequence(&sqlite, "places", fid);
    // gpkg_contents.last_change's strftime default, on a DATETIME column.
    assert!(one::<bool>(
        &mut pg,
        "INSERT INTO gpkg_contents (table_name, data_type) VALUES ('notes', 'attributes') \
         RETURNING last_change IS NOT NULL",
    ));
}

/// The same GeoPackage with `--geometry postgis`: every feature layer
/// becomes typed PostGIS geometry, each point where SQLite's blob puts it,
/// and verify agrees.
#[test]
fn issue_15_corpus_geopackage_becomes_postgis_geometry() {
    let Some(db) = postgis_db() else {
        return;
    };
    let (source, sqlite) = open("geopackage.sqlite");
    copy(&source, &db, &["--geometry", "postgis"]).assert_ok();
    let mut pg = db.client();
    let layers = pg_texts(
        &mut pg,
        "SELECT f_table_name || ' ' || type || ' ' || srid FROM geometry_columns
          WHERE f_table_schema = 'public' ORDER BY 1",
    );
    assert_eq!(layers.len(), 3, "{layers:?}");
    assert!(layers.iter().all(|l| l.ends_with(" 4326")), "{layers:?}");
    // The big-endian point at fid 21, read from SQLite's own blob: its
    // WKB starts after the 8-byte header.
    let (x, y): (f64, f64) = pg
        .query_one(
            "SELECT ST_X(geom), ST_Y(geom) FROM places WHERE fid = 21",
            &[],
        )
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    let blob: Vec<u8> = sqlite
        .query_row("SELECT geom FROM places WHERE fid = 21", [], |r| r.get(0))
        .unwrap();
    let coordinate = |at: usize| f64::from_be_bytes(blob[at..at + 8].try_into().unwrap());
    assert_eq!((x, y), (coordinate(8 + 5), coordinate(8 + 13)));
    assert_eq!(
        one::<i64>(
            &mut pg,
            "SELECT count(*) FROM places WHERE ST_IsEmpty(geom)"
        ),
        1
    );
    verified(&source, &db, &["--geometry", "postgis"]);
}

#[test]
fn issue_15_corpus_anki_collection_copies_with_no_flags() {
    let (source, sqlite) = open("anki.sqlite");
    let c = r#"COLLATE "C""#;
    let (db, report) = copy_compare_verify(
        &source,
        &sqlite,
        &[
            ("col", "id", "id"),
            ("notes", "id", "id"),
            ("cards", "id", "id"),
            ("revlog", "id", "id"),
            ("graves", "oid, type", "oid_, type"),
            ("deck_config", "id", "id"),
            ("config", "KEY", &format!("key {c}")),
            ("fields", "ntid, ord", "ntid, ord"),
            ("templates", "ntid, ord", "ntid, ord"),
            ("notetypes", "id", "id"),
            ("decks", "id", "id"),
            // unicase order in SQLite, the database's in Postgres: compare
            // in binary order on both sides.
            ("tags", "tag COLLATE BINARY", &format!("tag {c}")),
        ],
    );
    let warnings = warnings(&report);
    assert!(
        warnings.contains("notes: column sfld: declared INTEGER but")
            && warnings.contains("mapped to text"),
        "{warnings}"
    );
    for table in [
        "deck_config",
        "fields",
        "templates",
        "notetypes",
        "decks",
        "tags",
    ] {
        assert!(
            warnings.contains(&format!(
                "{table}: collation unicase is the application's own"
            )),
            "{table}: {warnings}"
        );
    }
    assert_eq!(
        types(&db, "notes"),
        [
            "id bigint",
            "guid text",
            "mid bigint",
            "mod bigint",
            "usn bigint",
            "tags text",
            "flds text",
            "sfld text",
            "csum bigint",
            "flags bigint",
            "data text"
        ]
    );
    assert_eq!(types(&db, "graves")[1], "oid_ bigint");
    // The sort fields SQLite stored as numbers, as SQLite prints them.
    let mut numeric = sqlite_texts(
        &sqlite,
        "SELECT CAST(sfld AS TEXT) FROM notes WHERE typeof(sfld) <> 'text'",
    );
    numeric.sort_unstable();
    assert_eq!(numeric, ["1.5", "1000000", "42", "7"]);
    let mut pg = db.client();
    let found: i64 = pg
        .query_one(
            "SELECT count(*) FROM notes WHERE sfld = ANY($1)",
            &[&numeric],
        )
        .unwrap()
        .get(0);
    assert_eq!(found, 4);
    // A WITHOUT ROWID key on a unicase column is still the key.
    assert_eq!(
        one::<String>(
            &mut pg,
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint
              WHERE conrelid = 'public.tags'::regclass AND contype = 'p'",
        ),
        "PRIMARY KEY (tag)"
    );
}

#[test]
fn issue_15_corpus_clinic_app_copies_with_no_flags() {
    let (source, sqlite) = open("clinic.sqlite");
    let c = r#"COLLATE "C""#;
    let (db, report) = copy_compare_verify(
        &source,
        &sqlite,
        &[
            ("users", "username", &format!("username {c}")),
            ("patients", "id", "id"),
            ("appointments", "id", "id"),
            (
                "tooth_chart",
                "patient_id, tooth, surface, condition",
                &format!("patient_id, tooth NULLS FIRST, surface {c} NULLS FIRST, condition {c}"),
            ),
        ],
    );
    assert_eq!(
        types(&db, "patients"),
        [
            "id bigint",
            "name text",
            "birth_date text",
            "phone text",
            "created_by text",
            "oid_ bigint",
            "notes text"
        ]
    );
    assert_eq!(
        types(&db, "appointments"),
        [
            "id bigint",
            "patient_id bigint",
            "appt_date text",
            "appt_time text",
            "chair bigint",
            "booked_by text",
            "status text",
            "xmin_ bigint",
            "fee text"
        ]
    );
    let warnings = warnings(&report);
    for expected in [
        "appointments: column \\\"xmin\\\": Postgres reserves \\\"xmin\\\"",
        "so it becomes xmin_",
        "patients: column \\\"oid\\\": Postgres reserves \\\"oid\\\"",
        "tooth_chart: the primary key (patient_id, tooth, surface) holds NULLs in",
    ] {
        assert!(warnings.contains(expected), "{expected}: {warnings}");
    }
    let mut pg = db.client();
    let constraints = pg_texts(
        &mut pg,
        "SELECT conrelid::regclass::text || ' ' || contype::text || ' ' || conname::text
                    || ' ' || condeferrable::text || ' ' || condeferred::text
               FROM pg_constraint
              WHERE conrelid IN ('public.tooth_chart'::regclass, 'public.appointments'::regclass)
              ORDER BY 1",
    );
    assert_eq!(
        constraints,
        [
            // A foreign key SQLite does not declare deferred stays immediate.
            "appointments f appointments_patient_id_fkey true false",
            "appointments p appointments_pkey false false",
            // NULLs in the key: a UNIQUE constraint instead of a primary key.
            "tooth_chart u tooth_chart_patient_id_tooth_surface_key true false",
        ]
    );
    // The last appointments were deleted: SQLite's counter is above them.
    assert!(
        query::<i64>(&sqlite, "SELECT max(id) FROM appointments")
            < query::<i64>(
                &sqlite,
                "SELECT seq FROM sqlite_sequence WHERE name = 'appointments'"
            )
    );
    let id = one(
        &mut pg,
        "INSERT INTO appointments (patient_id, appt_date) VALUES (1, '2024-07-01') RETURNING id",
    );
    assert_above_sequence(&sqlite, "appointments", id);
}

#[test]
fn issue_15_corpus_django_site_copies_with_no_flags() {
    let (source, sqlite) = open("django.sqlite");
    let (db, report) = copy_compare_verify(
        &source,
        &sqlite,
        &[
            ("django_migrations", "id", "id"),
            ("django_content_type", "id", "id"),
            ("auth_user", "id", "id"),
            ("django_admin_log", "id", "id"),
            (
                "django_session",
                "session_key",
                r#"session_key COLLATE "C""#,
            ),
            ("blog_tag", "id", "id"),
            ("blog_post", "id", "id"),
            ("blog_post_tags", "id", "id"),
        ],
    );
    assert!(
        warnings(&report)
            .contains("column published_year: declared type YEAR has NUMERIC affinity"),
        "{report}"
    );
    let blog_post = types(&db, "blog_post");
    for column in [
        "published_year numeric",
        "word_count numeric",
        "created timestamp with time zone",
        "revised text",
    ] {
        assert!(
            blog_post.contains(&column.to_owned()),
            "{column}: {blog_post:?}"
        );
    }
    let mut pg = db.client();
    // CHECKs kept and validated; the JSON_VALID one reported.
    assert_eq!(
        pg_texts(
            &mut pg,
            "SELECT conrelid::regclass::text || ' ' || conname || ' ' || convalidated::text
                    || ' ' || pg_get_constraintdef(oid)
               FROM pg_constraint
              WHERE contype = 'c' AND connamespace = 'public'::regnamespace ORDER BY 1"
        ),
        [
            "blog_post blog_post_status_valid true \
             CHECK ((status = ANY (ARRAY['draft'::text, 'published'::text])))",
            "django_admin_log django_admin_log_action_flag_check true CHECK ((action_flag >= 0))",
        ]
    );
    assert!(
        warnings(&report).contains(
            "blog_post: CHECK ((JSON_VALID(\\\"metadata\\\") OR \\\"metadata\\\" IS NULL)) of \
             blog_post not translated; add it by hand"
        ),
        "{report}"
    );
    // NOCASE uniqueness held by unique indexes on lower().
    assert_eq!(
        pg_texts(
            &mut pg,
            "SELECT pg_get_indexdef(indexrelid) FROM pg_index
              WHERE indrelid IN ('public.auth_user'::regclass, 'public.blog_tag'::regclass)
                AND pg_get_indexdef(indexrelid) LIKE '%lower(%' ORDER BY 1"
        ),
        [
            "CREATE UNIQUE INDEX auth_user_email_ci_uniq ON public.auth_user USING btree \
             (lower(email))",
            "CREATE UNIQUE INDEX blog_tag_name_lower_key ON public.blog_tag USING btree \
             (lower(name))",
        ]
    );
    for (refused, sqlstate) in [
        (
            "INSERT INTO django_admin_log (object_repr, action_flag, change_message, user_id,
                                           action_time) VALUES ('x', -1, '', 1, now())",
            "23514",
        ),
        (
            "UPDATE blog_post SET status = 'archived' WHERE id = 1",
            "23514",
        ),
        ("INSERT INTO blog_tag (name) VALUES ('DJANGO')", "23505"),
        (
            "INSERT INTO auth_user (password, is_superuser, username, last_name, email, is_staff,
                                    is_active, date_joined, first_name)
             SELECT '!', false, 'dup', 'x', upper(email), false, true, now(), 'x'
               FROM auth_user WHERE id = 1",
            "23505",
        ),
    ] {
        let err = pg.execute(refused, &[]).expect_err(refused);
        assert_eq!(
            err.code().map(|c| c.code()),
            Some(sqlstate),
            "{refused}: {err}"
        );
    }
    // Every foreign key SQLite declares, deferred as Django declares them.
    let declared: i64 = query(
        &sqlite,
        "SELECT count(*) FROM sqlite_schema s, pragma_foreign_key_list(s.name) \
         WHERE s.type = 'table'",
    );
    let deferred: Vec<(String, bool, bool)> = pg
        .query(
            "SELECT conname::text, condeferrable, condeferred FROM pg_constraint
              WHERE contype = 'f' AND connamespace = 'public'::regnamespace ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(deferred.len() as i64, declared, "{deferred:?}");
    assert!(
        deferred
            .iter()
            .all(|(_, deferrable, initially_deferred)| *deferrable && *initially_deferred),
        "{deferred:?}"
    );
    // Spam sign-ups deleted: the counter is at 100, the largest id 5.
    assert_eq!(
        query::<i64>(
            &sqlite,
            "SELECT seq FROM sqlite_sequence WHERE name = 'auth_user'"
        ),
        100
    );
    assert_eq!(query::<i64>(&sqlite, "SELECT max(id) FROM auth_user"), 5);
    let id = one(
        &mut pg,
        "INSERT INTO auth_user (password, is_superuser, username, last_name, email, is_staff,
                                is_active, date_joined, first_name)
         VALUES ('!', false, 'new', 'User', 'new@example.org', false, true, now(), 'New')
         RETURNING id",
    );
    assert_above_sequence(&sqlite, "auth_user", id);
    // The strftime default fills a text column in the very format SQLite
    // writes: SQLite reads it back and prints it unchanged.
    let row = pg
        .query_one(
            "INSERT INTO blog_post (title, slug, body, status, word_count, author_id)
             VALUES ('New', 'new', 'Body', 'draft', 1, 1)
             RETURNING id, revised, created IS NOT NULL",
            &[],
        )
        .unwrap();
    let (id, revised, created): (i64, String, bool) = (row.get(0), row.get(1), row.get(2));
    assert!(created);
    let reprinted: Option<String> = sqlite
        .query_row(
            "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', ?1)",
            [&revised],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(reprinted.as_deref(), Some(revised.as_str()));
    assert_above_sequence(&sqlite, "blog_post", id);
}
