//! ferry.toml `type` overrides naming types only the target knows (issue
//! 17): domains, domains over domains, `citext`, enums. Each is looked up
//! on the server before any DDL; the values are checked against the
//! SQLite file and Postgres independently, and verify and sync read them
//! back.

use crate::overrides::Config;
use crate::util::{command_json, copy, ferry, pg_texts, verified, TempSqlite, TestDb};

/// The target's own types: a domain over an extension type, a domain over
/// bigint and one over that, a domain with a typmod, an enum, in a schema
/// off the search path too.
const TARGET_TYPES: &str = "
    CREATE EXTENSION citext;
    CREATE SCHEMA app;
    CREATE DOMAIN app.email AS citext CHECK (VALUE LIKE '%_@_%');
    CREATE DOMAIN cents AS bigint;
    CREATE DOMAIN \"Paid\" AS cents NOT NULL CHECK (VALUE >= 0);
    CREATE DOMAIN code AS varchar(5);
    CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
";

const SOURCE: &str = "
    CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT, price INTEGER, paid INTEGER,
                    code TEXT, name TEXT, mood TEXT);
    INSERT INTO t VALUES
      (1, 'Ann@Example.com', 1999, 0, 'AB-12', 'Ann', 'happy'),
      (2, 'bjørn@例え.jp', -9223372036854775808, 9223372036854775807, '', 'Bjørn Ø', 'sad'),
      (3, NULL, NULL, 5, NULL, NULL, NULL),
      (4, 'x@y', 0, 1, 'héllo', '  spaced  ', 'ok');
";

const OVERRIDES: &str = "
[tables.t.columns.email]
type = \"app.email\"
[tables.t.columns.price]
type = \"cents\"
[tables.t.columns.paid]
type = '\"Paid\"'
[tables.t.columns.code]
type = \"code\"
[tables.t.columns.name]
type = \"citext\"
[tables.t.columns.mood]
type = \"public.mood\"
";

/// Every row of `t`, as text, read from the SQLite file.
fn sqlite_rows(path: &std::path::Path) -> Vec<Vec<Option<String>>> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut statement = conn
        .prepare(
            "SELECT CAST(id AS TEXT), email, CAST(price AS TEXT), CAST(paid AS TEXT), code, \
             name, mood FROM t ORDER BY id",
        )
        .unwrap();
    let rows = statement
        .query_map([], |r| {
            (0..7)
                .map(|i| r.get::<_, Option<String>>(i))
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

/// Every row of `t`, as text, read from Postgres.
fn pg_rows(pg: &mut postgres::Client) -> Vec<Vec<Option<String>>> {
    pg.query(
        "SELECT id::text, email::text, price::text, paid::text, code::text, name::text, \
         mood::text FROM t ORDER BY id",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| (0..7).map(|i| r.get::<_, Option<String>>(i)).collect())
    .collect()
}

#[test]
fn issue_17_domains_citext_and_enums_copy_verify_and_sync() {
    let source = TempSqlite::new(SOURCE);
    let config = Config::new("domains", OVERRIDES);
    let db = TestDb::new();
    let mut pg = db.client();
    pg.batch_execute(TARGET_TYPES).unwrap();

    copy(&source.path, &db, &["--config", config.arg()]).assert_ok();
    assert_eq!(
        crate::util::pg_column_types(&mut pg, "public", "t"),
        [
            ("id", "bigint"),
            ("email", "app.email"),
            ("price", "cents"),
            ("paid", "\"Paid\""),
            ("code", "code"),
            ("name", "citext"),
            ("mood", "mood"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    assert_eq!(pg_rows(&mut pg), sqlite_rows(&source.path));
    // citext compares without case, as the column's type says.
    let found: i64 = pg
        .query_one("SELECT id FROM t WHERE email = 'ANN@EXAMPLE.COM'", &[])
        .unwrap()
        .get(0);
    assert_eq!(found, 1);
    verified(&source.path, &db, &["--config", config.arg()]);

    // A changed value in each kind of column is a difference.
    for (set, column) in [
        ("email = 'ann@example.com'", "email"),
        ("price = 2000", "price"),
        ("name = 'ANN'", "name"),
        ("mood = 'ok'", "mood"),
    ] {
        pg.batch_execute(&format!(
            "CREATE TEMP TABLE keep AS SELECT * FROM t WHERE id = 1; UPDATE t SET {set} WHERE id = 1"
        ))
        .unwrap();
        let run = command_json(
            "verify",
            &source.path,
            &db,
            &["--full", "--config", config.arg()],
        );
        assert_eq!(run.code, 1, "{column}: {}\n{}", run.stdout, run.stderr);
        assert!(run.stdout.contains(column), "{column}: {}", run.stdout);
        pg.batch_execute(
            "DELETE FROM t WHERE id = 1; INSERT INTO t SELECT * FROM keep; DROP TABLE keep",
        )
        .unwrap();
    }
    verified(&source.path, &db, &["--config", config.arg()]);

    // sync applies an update, an insert and a delete through the same types.
    rusqlite::Connection::open(&source.path)
        .unwrap()
        .execute_batch(
            "UPDATE t SET email = 'new@Example.org', price = 42, name = 'NEW', mood = 'ok', \
             code = 'zz' WHERE id = 2;
             INSERT INTO t VALUES (5, 'five@5.example', 5, 5, 'five', 'Five', 'sad');
             DELETE FROM t WHERE id = 3;",
        )
        .unwrap();
    let run = command_json("sync", &source.path, &db, &["--config", config.arg()]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(pg_rows(&mut pg), sqlite_rows(&source.path));
    verified(&source.path, &db, &["--config", config.arg()]);
}

/// A value a domain refuses (its CHECK, its NOT NULL) is Postgres's to
/// refuse; ferry does not send it around the domain, and says where.
#[test]
fn issue_17_a_value_the_domain_refuses_fails_the_copy() {
    let source = TempSqlite::new(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT);
         INSERT INTO t VALUES (1, 'a@b.c'), (2, 'not an address');",
    );
    let config = Config::new(
        "refused-value",
        "[tables.t.columns.email]\ntype = \"app.email\"\n",
    );
    let db = TestDb::new();
    db.client().batch_execute(TARGET_TYPES).unwrap();
    let run = copy(&source.path, &db, &["--config", config.arg()]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("email_check"), "{}", run.stderr);
}

/// A domain over varchar(5) is checked as varchar(5): a sixth character
/// is a bad value (quarantined here), not cut by Postgres.
#[test]
fn issue_17_a_domain_typmod_is_checked_as_ferry_checks_typmods() {
    let source = TempSqlite::new(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, code TEXT);
         INSERT INTO t VALUES (1, 'abcde'), (2, 'abcde '), (3, 'abc');",
    );
    let config = Config::new(
        "domain-typmod",
        "[tables.t.columns.code]\ntype = \"code\"\n",
    );
    let db = TestDb::new();
    let mut pg = db.client();
    pg.batch_execute(TARGET_TYPES).unwrap();
    let run = copy(
        &source.path,
        &db,
        &["--config", config.arg(), "--on-error", "quarantine"],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        pg_texts(&mut pg, "SELECT code FROM t ORDER BY id"),
        ["abcde", "abc"]
    );
    let rejects = pg_texts(&mut pg, "SELECT row_key FROM ferry.rejects");
    assert_eq!(rejects, ["id=2"]);
}

/// No table created, before copy or sync: the tables, ferry's ledger
/// included, in `db`.
fn user_tables(db: &TestDb) -> i64 {
    db.client()
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', \
             'information_schema')",
            &[],
        )
        .unwrap()
        .get(0)
}

/// A type without a binary format ferry writes (tsvector, a composite, a
/// range, hstore) or one the target lacks is refused by copy and by sync
/// before anything is created, naming the config key and what to do.
#[test]
fn issue_17_a_type_ferry_cannot_send_is_refused_before_any_ddl() {
    let source = TempSqlite::new(
        "CREATE TABLE a (id INTEGER PRIMARY KEY);
         CREATE TABLE t (id INTEGER PRIMARY KEY, c TEXT);
         INSERT INTO t VALUES (1, 'x');",
    );
    let db = TestDb::new();
    db.client()
        .batch_execute(
            "CREATE TYPE pair AS (a int, b int);
             CREATE DOMAIN words AS tsvector;
             CREATE EXTENSION hstore;",
        )
        .unwrap();
    for (name, said) in [
        ("tsvector", "ferry cannot send its binary format"),
        ("words", "words (over tsvector)"),
        ("pair", "a composite type"),
        ("int4range", "a range type"),
        ("hstore", "ferry cannot send its binary format"),
        ("interval", "ferry cannot send its binary format"),
        (
            "text[]",
            "text[] is an array, which ferry does not send yet",
        ),
        ("nosuchtype", "the target has no type nosuchtype"),
        ("two words here", "not a type name the target reads"),
    ] {
        let config = Config::new(
            "refused-type",
            &format!("[tables.t.columns.c]\ntype = \"{name}\"\n"),
        );
        for command in ["copy", "sync"] {
            let run = command_json(command, &source.path, &db, &["--config", config.arg()]);
            assert_eq!(
                run.code, 2,
                "{command} {name}: {}\n{}",
                run.stdout, run.stderr
            );
            for part in ["[tables.t.columns.c] type", said] {
                assert!(
                    run.stderr.contains(part),
                    "{command} {name}: {part}: {}",
                    run.stderr
                );
            }
            if said.contains("cannot send") {
                assert!(
                    run.stderr.contains("Map the column to text"),
                    "{}",
                    run.stderr
                );
            }
            assert_eq!(user_tables(&db), 0, "{command} {name}");
        }
    }
}

/// Offline, `ferry plan` and `ferry config check` accept the name and say
/// the target will be asked.
#[test]
fn issue_17_plan_offline_says_named_types_are_checked_against_the_target() {
    let source = TempSqlite::new(SOURCE);
    let config = Config::new("offline", OVERRIDES);
    let source_arg = source.path.to_str().unwrap();
    let run = ferry(&["plan", "--source", source_arg, "--config", config.arg()]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("\"email\" app.email"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("type app.email is checked against the target"),
        "{}",
        run.stdout
    );
    let run = ferry(&[
        "config",
        "check",
        "--source",
        source_arg,
        "--config",
        config.arg(),
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("# tables.t.columns.email type app.email: checked against the target"),
        "{}",
        run.stdout
    );
}
