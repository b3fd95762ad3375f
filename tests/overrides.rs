//! ferry.toml's `naive_timezone` with IANA names and `type` overrides with
//! typmods and domains, checked against what Postgres itself computes.

use crate::util::{command_json, copy, verified, TempSqlite, TestDb};

/// A config file removed when dropped.
pub(crate) struct Config(std::path::PathBuf);

impl Config {
    pub(crate) fn new(name: &str, text: &str) -> Config {
        let path = std::env::temp_dir().join(format!(
            "ferry-overrides-{name}-{}.toml",
            std::process::id()
        ));
        std::fs::write(&path, text).unwrap();
        Config(path)
    }

    pub(crate) fn arg(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for Config {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Local times around both of 2026's clock changes in Berlin and New York
/// (none inside a skipped hour of either), each as Postgres reads
/// `'…'::timestamp AT TIME ZONE zone`: the second of two equal local
/// times, microseconds kept.
const LOCAL_TIMES: &[&str] = &[
    "2026-01-15 12:00:00",
    "2026-03-08 01:59:59.999999",
    "2026-03-08 03:00:00",
    "2026-03-29 01:59:59.999999",
    "2026-03-29 03:00:00",
    "2026-07-01 00:00:00.000001",
    "2026-10-25 01:59:59",
    "2026-10-25 02:00:00",
    "2026-10-25 02:30:00",
    "2026-10-25 02:59:59.999999",
    "2026-10-25 03:00:00",
    "2026-11-01 00:59:59",
    "2026-11-01 01:00:00",
    "2026-11-01 01:30:00",
    "2026-11-01 02:00:00",
    "1980-04-06 12:00:00",
    "1996-10-27 02:30:00",
    "2100-03-28 03:00:00",
];

#[test]
fn naive_times_in_named_zones_agree_with_postgres() {
    let inserts: Vec<String> = LOCAL_TIMES
        .iter()
        .enumerate()
        .map(|(i, t)| format!("({i}, '{t}', '{t}', '{t}')"))
        .collect();
    let source = TempSqlite::new(&format!(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, raw TEXT, berlin DATETIME, ny DATETIME);
         INSERT INTO t VALUES {};",
        inserts.join(", ")
    ));
    let config = Config::new(
        "zones",
        "naive_timezone = \"Europe/Berlin\"\n\
         [tables.t.columns.ny]\nnaive_timezone = \"America/New_York\"\n",
    );
    let db = TestDb::new();
    copy(&source.path, &db, &["--config", config.arg()]).assert_ok();
    let mut pg = db.client();
    let differ: Vec<String> = pg
        .query(
            "SELECT raw || ': ' || berlin::text || ' / ' || ny::text FROM t
             WHERE berlin IS DISTINCT FROM raw::timestamp AT TIME ZONE 'Europe/Berlin'
                OR ny IS DISTINCT FROM raw::timestamp AT TIME ZONE 'America/New_York'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(differ.is_empty(), "ferry and Postgres differ: {differ:?}");
    let rows: i64 = pg.query_one("SELECT count(*) FROM t", &[]).unwrap().get(0);
    assert_eq!(rows, LOCAL_TIMES.len() as i64);
    verified(&source.path, &db, &["--config", config.arg()]);
}

/// A local time the zone skips is refused, naming table, row, column and
/// value; quarantined, it is set aside and the rest verifies.
#[test]
fn a_skipped_local_time_is_refused_or_quarantined() {
    let source = TempSqlite::new(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, at DATETIME);
         INSERT INTO t VALUES (1, '2026-03-29 01:30'), (2, '2026-03-29 02:30'),
                              (3, '2026-03-29 03:30');",
    );
    let config = Config::new("gap", "naive_timezone = \"Europe/Berlin\"\n");
    let db = TestDb::new();
    let args = ["--config", config.arg(), "--types", "declared"];
    let run = copy(&source.path, &db, &args);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    for part in [
        "t",
        "id=2",
        "column at",
        "'2026-03-29 02:30' does not exist in Europe/Berlin",
    ] {
        assert!(run.stderr.contains(part), "{part}: {}", run.stderr);
    }

    let quarantine = [
        &args[..],
        &["--on-error", "quarantine", "--if-exists", "drop"],
    ]
    .concat();
    copy(&source.path, &db, &quarantine).assert_ok();
    let mut pg = db.client();
    let reject: (String, String) = pg
        .query_one("SELECT row_key, column_name FROM ferry.rejects", &[])
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!(reject, ("id=2".to_owned(), "at".to_owned()));
    let verify = command_json(
        "verify",
        &source.path,
        &db,
        &[&args[..], &["--full"]].concat(),
    );
    assert_eq!(verify.code, 0, "{}\n{}", verify.stdout, verify.stderr);
}

/// Typmod'd overrides create the columns as asked, take the values that
/// fit exactly, and copy → verify --full passes.
#[test]
fn typmod_overrides_create_narrow_columns_and_verify() {
    let source = TempSqlite::new(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, code TEXT, flag TEXT, price REAL, at DATETIME);
         INSERT INTO t VALUES
           (1, 'héllo', 'ab', 1234.5, '2026-01-01 10:00:00'),
           (2, '', 'xyz', -9999.99, '2026-01-01 10:00:01Z'),
           (3, NULL, NULL, NULL, NULL);",
    );
    let config = Config::new(
        "typmods",
        "[tables.t.columns.code]\ntype = \"varchar(5)\"\n\
         [tables.t.columns.flag]\ntype = \"char(3)\"\n\
         [tables.t.columns.price]\ntype = \"numeric(6,2)\"\n\
         [tables.t.columns.at]\ntype = \"timestamptz(0)\"\n",
    );
    let db = TestDb::new();
    copy(&source.path, &db, &["--config", config.arg()]).assert_ok();
    let mut pg = db.client();
    assert_eq!(
        crate::util::pg_column_types(&mut pg, "public", "t"),
        [
            ("id", "bigint"),
            ("code", "character varying(5)"),
            ("flag", "character(3)"),
            ("price", "numeric(6,2)"),
            ("at", "timestamp(0) with time zone"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let rows: Vec<String> = pg
        .query(
            "SELECT concat_ws('|', code, octet_length(flag), price, at AT TIME ZONE 'UTC')
             FROM t ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        rows,
        [
            "héllo|3|1234.50|2026-01-01 10:00:00",
            "|3|-9999.99|2026-01-01 10:00:01",
            ""
        ]
    );
    verified(&source.path, &db, &["--config", config.arg()]);
}

/// A value a typmod would change (a sixth character, a third decimal, a
/// fraction of a second) is refused naming table, row, column and value,
/// or quarantined; nothing is cut or rounded.
#[test]
fn values_a_typmod_would_change_are_refused() {
    let source = TempSqlite::new(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, code TEXT, price REAL, at DATETIME);
         INSERT INTO t VALUES (1, 'abcde', 1.25, '2026-01-01 10:00:00'),
                              (2, 'abcdef', 1.25, '2026-01-01 10:00:00'),
                              (3, 'abc', 1.255, '2026-01-01 10:00:00'),
                              (4, 'abc', 1.5, '2026-01-01 10:00:00.5');",
    );
    let config = Config::new(
        "refused",
        "[tables.t.columns.code]\ntype = \"varchar(5)\"\n\
         [tables.t.columns.price]\ntype = \"numeric(6,2)\"\n\
         [tables.t.columns.at]\ntype = \"timestamptz(0)\"\n",
    );
    let db = TestDb::new();
    let run = copy(&source.path, &db, &["--config", config.arg()]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    for part in [
        "id=2",
        "column code",
        "'abcdef' is 6 characters, longer than character varying(5) holds",
    ] {
        assert!(run.stderr.contains(part), "{part}: {}", run.stderr);
    }

    let quarantine = [
        "--config",
        config.arg(),
        "--on-error",
        "quarantine",
        "--if-exists",
        "drop",
    ];
    copy(&source.path, &db, &quarantine).assert_ok();
    let mut pg = db.client();
    let rejects: Vec<(String, String)> = pg
        .query(
            "SELECT row_key, column_name FROM ferry.rejects ORDER BY row_key",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        rejects,
        [("id=2", "code"), ("id=3", "price"), ("id=4", "at")]
            .map(|(k, c)| (k.to_owned(), c.to_owned()))
    );
    let kept: Vec<i64> = pg
        .query("SELECT id FROM t", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(kept, [1]);
    verified(&source.path, &db, &["--config", config.arg()]);
}

/// A type the target does not have (here `citext`, its extension not
/// created) is refused before anything is created, naming the config key
/// and what to do.
#[test]
fn an_unknown_override_type_is_refused_before_any_ddl() {
    let source = TempSqlite::new(
        "CREATE TABLE a (id INTEGER PRIMARY KEY); CREATE TABLE t (id INTEGER PRIMARY KEY, c TEXT);",
    );
    let config = Config::new("unknown", "[tables.t.columns.c]\ntype = \"citext\"\n");
    let db = TestDb::new();
    let run = copy(&source.path, &db, &["--config", config.arg()]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    for part in [
        "[tables.t.columns.c] type",
        "the target has no type citext",
        "CREATE EXTENSION",
    ] {
        assert!(run.stderr.contains(part), "{part}: {}", run.stderr);
    }
    let tables: i64 = db
        .client()
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', \
             'information_schema')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 0);
}
