//! Files real applications write, copied with no flags (issue 15): columns
//! holding other values than their declared type, an application's own
//! collation, GeoPackage geometry. Each is compared value by value with an
//! independent reading of SQLite, and verified.

use crate::compare::assert_same_rows;
use crate::util::{copy, ferry, pg_texts, types, verified, with_unicase, TempSqlite, TestDb};

/// The table, copied under its own name into `public`, holds the same
/// rows as SQLite, read independently, in `order`.
fn same_rows(source: &TempSqlite, pg: &mut postgres::Client, table: &str, order: (&str, &str)) {
    assert_same_rows(&source.path, table, pg, "public", table, order);
}

/// Like Anki's collection: a sort field declared INTEGER that holds text,
/// and WITHOUT ROWID tables keyed on a column with the application's own
/// `unicase` collation, which SQLite cannot even read without it.
fn anki_like() -> TempSqlite {
    let source = TempSqlite::new("");
    with_unicase(rusqlite::Connection::open(&source.path).unwrap())
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
    same_rows(&source, &mut pg, "notes", ("id", "id"));
    // The unicase tables, which assert_same_rows reads with the
    // application's collation.
    for (table, order_by) in [("tags", "usn"), ("fields", "ntid, ord")] {
        let rows = assert_same_rows(
            &source.path,
            table,
            &mut pg,
            "public",
            table,
            (order_by, order_by),
        );
        assert!(rows > 0);
    }
    verified(&source.path, &db, &[]);
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
    verified(&source.path, &db, &[]);

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
    same_rows(&source, &mut pg, "places", ("fid", "fid"));
    same_rows(&source, &mut pg, "areas", ("fid", "fid"));
    verified(&source.path, &db, &[]);
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
    verified(&source.path, &db, &[]);
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
    let constraints: Vec<String> = pg_texts(
        &mut pg,
        "SELECT contype::text || ' ' || conname::text FROM pg_constraint
              WHERE conrelid = 'public.links'::regclass ORDER BY 1",
    );
    assert_eq!(constraints, ["u links_a_b_key"]);
    same_rows(&source, &mut pg, "links", ("note", "note"));
    verified(&source.path, &db, &[]);
}

/// Django's SQLite schema: CHECKs on columns and named table CHECKs are
/// kept as Postgres CHECK constraints, validated against the loaded rows;
/// a row SQLite let in past its CHECK (`ignore_check_constraints`) leaves
/// the constraint NOT VALID with a warning, and a CHECK outside what ferry
/// translates is named in the warnings.
#[test]
fn issue_15_check_constraints_are_kept_validated_or_reported() {
    let source = TempSqlite::new(
        "CREATE TABLE django_admin_log (
             id integer NOT NULL PRIMARY KEY AUTOINCREMENT,
             action_flag smallint unsigned NOT NULL CHECK (\"action_flag\" >= 0),
             status varchar(10) NOT NULL,
             data text NULL CHECK ((JSON_VALID(\"data\") OR \"data\" IS NULL)),
             CONSTRAINT status_known CHECK (status IN ('draft', 'published')));
         INSERT INTO django_admin_log (action_flag, status, data)
             VALUES (1, 'draft', '{}'), (3, 'published', NULL);
         CREATE TABLE legacy (qty INTEGER CHECK (qty BETWEEN 1 AND 9));
         PRAGMA ignore_check_constraints = 1;
         INSERT INTO legacy VALUES (5), (12);",
    );
    let db = TestDb::new();
    let run = copy(&source.path, &db, &[]);
    run.assert_ok();
    let warnings = run.json()["warnings"].to_string();
    assert!(
        warnings.contains(
            "CHECK ((JSON_VALID(\\\"data\\\") OR \\\"data\\\" IS NULL)) of django_admin_log not \
             translated; add it by hand"
        ),
        "{warnings}"
    );
    assert!(
        warnings.contains("legacy: validate CHECK legacy_qty_check on public.legacy"),
        "{warnings}"
    );
    let mut pg = db.client();
    let checks: Vec<String> = pg_texts(
        &mut pg,
        "SELECT conrelid::regclass::text || ' ' || conname::text || ' ' || convalidated::text
                    || ' ' || pg_get_constraintdef(oid)
               FROM pg_constraint
              WHERE contype = 'c' AND connamespace = 'public'::regnamespace ORDER BY 1",
    );
    assert_eq!(
        checks,
        [
            "django_admin_log django_admin_log_action_flag_check true \
             CHECK ((action_flag >= 0))",
            "django_admin_log status_known true \
             CHECK ((status = ANY (ARRAY['draft'::text, 'published'::text])))",
            "legacy legacy_qty_check false CHECK (((qty >= 1) AND (qty <= 9))) NOT VALID",
        ]
    );
    let refused = pg.execute(
        "INSERT INTO django_admin_log (action_flag, status) VALUES (-1, 'draft')",
        &[],
    );
    assert!(refused.is_err(), "a negative action_flag must be refused");
    same_rows(&source, &mut pg, "legacy", ("rowid", "qty"));
    verified(&source.path, &db, &[]);
}

/// `COLLATE NOCASE` uniqueness, on a column, a UNIQUE constraint, a
/// WITHOUT ROWID key and a unique index, is enforced in Postgres by unique
/// indexes on `lower()`; the plain constraints stay for foreign keys.
#[test]
fn issue_15_nocase_uniqueness_is_enforced_case_insensitively() {
    let source = TempSqlite::new(
        "CREATE TABLE auth_user (id integer PRIMARY KEY, username TEXT COLLATE NOCASE UNIQUE,
                                 email TEXT NOT NULL, code TEXT);
         CREATE UNIQUE INDEX auth_user_email ON auth_user (email COLLATE NOCASE, code);
         CREATE INDEX auth_user_code ON auth_user (code COLLATE NOCASE);
         INSERT INTO auth_user VALUES (1, 'alice', 'a@x.org', 'A'), (2, 'Bob', 'B@x.org', 'a'),
                                      (3, 'ÉVE', 'éve@x.org', 'a');
         CREATE TABLE tags (tag TEXT COLLATE NOCASE PRIMARY KEY, n INTEGER) WITHOUT ROWID;
         INSERT INTO tags VALUES ('Leech', 1), ('marked', 2);",
    );
    let db = TestDb::new();
    let run = copy(&source.path, &db, &[]);
    run.assert_ok();
    let warnings = run.json()["warnings"].to_string();
    assert!(
        warnings.contains(
            "auth_user: (username) is unique under COLLATE NOCASE in SQLite: unique index \
             auth_user_username_lower_key on lower()"
        ),
        "{warnings}"
    );
    let mut pg = db.client();
    let indexes: Vec<String> = pg_texts(
        &mut pg,
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname",
    );
    assert_eq!(
        indexes,
        [
            "CREATE INDEX auth_user_code ON public.auth_user USING btree (code)",
            "CREATE UNIQUE INDEX auth_user_email ON public.auth_user USING btree (lower(email), code)",
            "CREATE UNIQUE INDEX auth_user_pkey ON public.auth_user USING btree (id)",
            "CREATE UNIQUE INDEX auth_user_username_key ON public.auth_user USING btree (username)",
            "CREATE UNIQUE INDEX auth_user_username_lower_key ON public.auth_user USING btree (lower(username))",
            "CREATE UNIQUE INDEX tags_pkey ON public.tags USING btree (tag)",
            "CREATE UNIQUE INDEX tags_tag_lower_key ON public.tags USING btree (lower(tag))",
        ]
    );
    same_rows(&source, &mut pg, "tags", ("tag", "tag"));
    verified(&source.path, &db, &[]);
    for refused in [
        "INSERT INTO auth_user (username, email) VALUES ('ALICE', 'new@x.org')",
        "INSERT INTO auth_user (username, email, code) VALUES ('carol', 'A@X.ORG', 'A')",
        "INSERT INTO tags VALUES ('LEECH', 3)",
    ] {
        assert!(
            pg.execute(refused, &[]).is_err(),
            "{refused} must be refused"
        );
    }
    pg.execute(
        "INSERT INTO auth_user (username, email, code) VALUES ('carol', 'A@X.ORG', 'b')",
        &[],
    )
    .expect("another code makes another key");
}

/// A copy refused for a bad value says what it left in the target and
/// offers commands that work: the one to start over, once the value is
/// fixed, succeeds; the DROP removes exactly what the copy created.
#[test]
fn issue_15_a_refused_copy_says_what_it_left_and_how_to_go_on() {
    let source = TempSqlite::new(
        "CREATE TABLE a (id INTEGER PRIMARY KEY, n INTEGER);
         INSERT INTO a VALUES (1, 1), (2, 'abc'), (3, 3);
         CREATE TABLE b (id INTEGER PRIMARY KEY, t TEXT);
         INSERT INTO b VALUES (1, 'x');",
    );
    let db = TestDb::new();
    let run = copy(&source.path, &db, &["--types", "declared"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(
        run.stderr.matches("--on-error quarantine").count(),
        1,
        "{}",
        run.stderr
    );
    // Progress lines of tables that finished first may come before.
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .skip_while(|l| !l.starts_with("ferry: error: "))
        .collect();
    assert!(
        lines[0].starts_with("ferry: error: a, id=2, column n: 'abc' is not an integer"),
        "{}",
        run.stderr
    );
    assert!(
        lines[1].starts_with("ferry: the target keeps what this copy did: a (0 of 3 rows), b ("),
        "{}",
        run.stderr
    );
    let start_over = lines[2]
        .strip_prefix("  to start over once fixed:        ")
        .expect("a command to start over");
    assert!(
        start_over.ends_with(" --types declared --if-exists drop"),
        "{start_over}"
    );
    let drop = lines[3]
        .strip_prefix("  to remove the tables it created: ")
        .expect("a command to drop");
    assert_eq!(
        drop,
        format!(
            "psql {} -c 'DROP TABLE \"public\".\"a\", \"public\".\"b\"'",
            db.url
        )
    );
    let mut pg = db.client();
    pg.batch_execute("DROP TABLE \"public\".\"a\", \"public\".\"b\"")
        .unwrap();
    let again = copy(&source.path, &db, &["--types", "declared"]);
    assert_eq!(
        again.code, 2,
        "a fresh copy meets the same value: {}",
        again.stderr
    );
    assert!(again
        .stderr
        .contains("fix the value or map the column to text"));
    let fixed = copy(&source.path, &db, &["--if-exists", "drop"]);
    fixed.assert_ok();
    assert_eq!(types(&db, "a"), ["id bigint", "n text"]);
}

/// `plan --emit-config` writes the types the stored values call for as a
/// ferry.toml; with it, even `--types declared` copies the file, into the
/// same types the default copy chooses. An existing file is never
/// overwritten.
#[test]
fn issue_15_plan_emit_config_writes_the_stored_types_as_a_config() {
    let source = anki_like();
    let config = source.path.with_extension("toml");
    let _ = std::fs::remove_file(&config);
    let config_arg = config.to_str().unwrap();
    let source_arg = source.path.to_str().unwrap();
    for types in ["stored", "declared"] {
        let run = ferry(&[
            "plan",
            "--source",
            source_arg,
            "--types",
            types,
            "--emit-config",
            config_arg,
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            run.stderr.contains("with the types of 1 column"),
            "{}",
            run.stderr
        );
        let text = std::fs::read_to_string(&config).unwrap();
        assert!(
            text.contains(
                "\n[tables.notes.columns.sfld]\n# column sfld: declared INTEGER but 3 \
                           stored values"
            ),
            "{text}"
        );
        assert!(text.contains("\ntype = \"text\"\n"), "{text}");
        let again = ferry(&["plan", "--source", source_arg, "--emit-config", config_arg]);
        assert_eq!(
            again.code, 2,
            "an existing config is kept: {}",
            again.stderr
        );
        assert!(again.stderr.contains("the file exists"), "{}", again.stderr);
        if types == "stored" {
            std::fs::remove_file(&config).unwrap();
        }
    }
    let db = TestDb::new();
    copy(
        &source.path,
        &db,
        &["--types", "declared", "--config", config_arg],
    )
    .assert_ok();
    assert_eq!(
        types(&db, "notes"),
        ["id bigint", "guid text", "sfld text", "csum bigint"]
    );
    verified(&source.path, &db, &["--config", config_arg]);
    std::fs::remove_file(&config).unwrap();
}
