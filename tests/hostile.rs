//! Hostile input: extreme shapes and sizes, names that collide in
//! Postgres, names that look like Postgres's own, damaged or foreign source
//! files, and the least privileges a copy and a verify need. Every case
//! exits with its documented code and a message naming the problem, never
//! a panic.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::compare::assert_same_rows;
use crate::util::{command_json, copy, ferry, fixture, Run, TempSqlite, TestDb};

/// Asserts the exit code, that stderr says every one of `needles`, and
/// that nothing panicked.
#[track_caller]
fn assert_fails(run: &Run, code: i32, needles: &[&str]) {
    assert_eq!(
        run.code, code,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    for needle in needles {
        assert!(
            run.stderr.contains(needle),
            "missing {needle:?} in: {}",
            run.stderr
        );
    }
}

/// `ferry verify --full` passes.
#[track_caller]
fn assert_verifies(source: &Path, db: &TestDb, extra: &[&str]) {
    let mut args = vec!["--full"];
    args.extend_from_slice(extra);
    let run = command_json("verify", source, db, &args);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.json()["passed"], true, "{}", run.stdout);
}

/// User tables in the target database, in every schema.
fn user_tables(db: &TestDb) -> Vec<String> {
    db.client()
        .query(
            "SELECT schemaname || '.' || tablename FROM pg_tables
              WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// A scratch file of any content, removed when dropped.
struct ScratchFile(PathBuf);

impl ScratchFile {
    fn new(bytes: &[u8]) -> ScratchFile {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "ferry-hostile-{}-{}.db",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, bytes).unwrap();
        ScratchFile(path)
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        if self.0.is_dir() {
            let _ = std::fs::remove_dir_all(&self.0);
        } else {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

#[test]
fn a_thousand_column_table_copies_and_verifies() {
    // 1,000 columns of ten kinds. Postgres cannot move fixed-width or short
    // values out of line, and a row must fit its 8 kB page, so each row
    // fills half of them.
    let kinds = [
        ("INTEGER", "{i} * 7"),
        ("TEXT", "'v' || {i}"),
        ("REAL", "{i} + 0.25"),
        ("BLOB", "x'00ff'"),
        ("BOOLEAN", "{i} % 2"),
        ("DATETIME", "'2024-02-29 12:34:56.789'"),
        ("NUMERIC(10,2)", "'{i}.5'"),
        ("JSON", "'{\"k\": {i}}'"),
        ("UUID", "'123e4567-e89b-12d3-a456-426614174000'"),
        ("VARCHAR(3)", "NULL"),
    ];
    let mut columns = vec!["id INTEGER PRIMARY KEY".to_owned()];
    let mut values = vec!["{row}".to_owned()];
    for i in 1..1000 {
        let (declared, value) = kinds[i % kinds.len()];
        columns.push(format!("c{i} {declared}"));
        values.push(value.replace("{i}", &i.to_string()));
    }
    let mut sql = format!("CREATE TABLE wide ({});\n", columns.join(", "));
    for row in 1..=5 {
        // Each row fills every other column, and the rows alternate.
        let row_values: Vec<&str> = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                if i == 0 || (i + row) % 2 == 0 {
                    v.as_str()
                } else {
                    "NULL"
                }
            })
            .collect();
        sql.push_str(&format!(
            "INSERT INTO wide VALUES ({});\n",
            row_values.join(", ").replace("{row}", &row.to_string())
        ));
    }
    sql.push_str("INSERT INTO wide (id) VALUES (6);\n");
    let source = TempSqlite::new(&sql);
    let db = TestDb::new();
    let run = copy(&source.path, &db, &[]);
    run.assert_ok();
    assert_eq!(run.json()["tables"][0]["rows_written"], 6);
    let columns = crate::util::pg_column_types(&mut db.client(), "public", "wide");
    assert_eq!(columns.len(), 1000);
    assert_same_rows(
        &source.path,
        "wide",
        &mut db.client(),
        "public",
        "wide",
        ("id", "id"),
    );
    assert_verifies(&source.path, &db, &[]);
}

// SQLite folds only ASCII letters, so `Ünit` and `ünit` are two names
// there, and one once lowered for Postgres.

#[test]
fn columns_colliding_after_lowercasing_are_refused_before_any_change() {
    let source = TempSqlite::new(
        "CREATE TABLE people (id INTEGER PRIMARY KEY, \"Ünit\" TEXT, \"ünit\" TEXT);
         INSERT INTO people VALUES (1, 'A', 'a');",
    );
    let db = TestDb::new();
    let run = copy(&source.path, &db, &[]);
    assert_fails(&run, 2, &["people", "Ünit", "ünit", "preserve"]);
    assert_eq!(user_tables(&db), Vec::<String>::new());

    // Kept as written, the two names are distinct and copy fine.
    copy(&source.path, &db, &["--identifiers", "preserve"]).assert_ok();
    assert_verifies(&source.path, &db, &["--identifiers", "preserve"]);
}

#[test]
fn tables_colliding_after_lowercasing_are_refused_before_any_change() {
    let source = TempSqlite::new(
        "CREATE TABLE other (id INTEGER PRIMARY KEY);
         CREATE TABLE \"Ärger\" (id INTEGER PRIMARY KEY);
         CREATE TABLE \"ärger\" (id INTEGER PRIMARY KEY);",
    );
    let db = TestDb::new();
    let run = copy(&source.path, &db, &[]);
    assert_fails(&run, 2, &["Ärger", "ärger"]);
    assert_eq!(user_tables(&db), Vec::<String>::new());
    copy(&source.path, &db, &["--identifiers", "preserve"]).assert_ok();
    assert_verifies(&source.path, &db, &["--identifiers", "preserve"]);
}

#[test]
fn names_colliding_after_truncation_to_63_bytes_are_refused_in_both_modes() {
    let stem = "a_column_name_that_is_much_too_long_for_postgres_to_keep_it_all";
    assert_eq!(stem.len(), 63);
    let table_stem = format!("T{}", &stem[1..]);
    let source = TempSqlite::new(&format!(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, {stem}_first TEXT, {stem}_second TEXT);
         CREATE TABLE \"{table_stem}_one\" (id INTEGER PRIMARY KEY);
         CREATE TABLE \"{table_stem}_two\" (id INTEGER PRIMARY KEY);"
    ));
    let db = TestDb::new();
    for identifiers in ["lower", "preserve"] {
        let columns = copy(
            &source.path,
            &db,
            &["--tables", "t", "--identifiers", identifiers],
        );
        assert_fails(
            &columns,
            2,
            &[&format!("{stem}_first"), &format!("{stem}_second")],
        );
        let tables = copy(
            &source.path,
            &db,
            &["--exclude", "t", "--identifiers", identifiers],
        );
        assert_fails(
            &tables,
            2,
            &[&format!("{table_stem}_one"), &format!("{table_stem}_two")],
        );
    }
    assert_eq!(user_tables(&db), Vec::<String>::new());
}

#[test]
fn names_that_look_like_postgres_own_copy_and_verify() {
    let source = TempSqlite::new(
        "CREATE TABLE ferry (id INTEGER PRIMARY KEY, rejects TEXT);
         CREATE TABLE pg_class (id INTEGER PRIMARY KEY, relname TEXT, oid INTEGER);
         CREATE TABLE \"\"\"User\"\".\"\"Name\"\"\" (id INTEGER PRIMARY KEY, \"\"\"a\"\".\"\"b\"\"\" TEXT);
         CREATE TABLE \"information_schema.tables\" (id INTEGER PRIMARY KEY, \"table\" TEXT);
         INSERT INTO ferry VALUES (1, 'x'), (2, NULL);
         INSERT INTO pg_class VALUES (1, 'not the catalog', 42), (2, 'pg_class', 1259);
         INSERT INTO \"\"\"User\"\".\"\"Name\"\"\" VALUES (1, 'quoted'), (2, 'dotted');
         INSERT INTO \"information_schema.tables\" VALUES (1, 't');",
    );
    let db = TestDb::new();
    let run = copy(&source.path, &db, &["--chunk-rows", "1"]);
    run.assert_ok();
    let mut pg = db.client();
    for (sqlite_table, pg_table) in [
        ("ferry", "ferry"),
        ("pg_class", "pg_class"),
        ("\"User\".\"Name\"", "\"user\".\"name\""),
        ("information_schema.tables", "information_schema.tables"),
    ] {
        let order = ("id", "id");
        assert_same_rows(
            &source.path,
            sqlite_table,
            &mut pg,
            "public",
            pg_table,
            order,
        );
    }
    assert_verifies(&source.path, &db, &[]);
}

#[test]
fn sixty_four_mib_text_and_blob_copy_and_verify() {
    const SIZE: i64 = 64 * 1024 * 1024;
    let source = TempSqlite::new(&format!(
        "CREATE TABLE big (id INTEGER PRIMARY KEY, body TEXT, data BLOB);
         INSERT INTO big VALUES (1, hex(randomblob({half})), randomblob({SIZE}));
         INSERT INTO big VALUES (2, 'small', x'00');",
        half = SIZE / 2
    ));
    let db = TestDb::new();
    copy(&source.path, &db, &[]).assert_ok();
    let row = db
        .client()
        .query_one(
            "SELECT octet_length(body)::bigint, octet_length(data)::bigint FROM big WHERE id = 1",
            &[],
        )
        .unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (SIZE, SIZE));
    assert_verifies(&source.path, &db, &[]);
}

/// The mail fixture with one page of the `emails` table overwritten.
fn damaged_fixture() -> ScratchFile {
    let original = fixture("mail-1k.sqlite");
    let conn = rusqlite::Connection::open_with_flags(
        &original,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let page_size: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    // A leaf page of the table itself, from the middle of the file: every
    // copy reads it, and the b-tree header garbage makes SQLite say
    // SQLITE_CORRUPT rather than return altered values.
    let page: i64 = conn
        .query_row(
            "SELECT pageno FROM dbstat WHERE name = 'emails' AND pagetype = 'leaf'
              ORDER BY pageno LIMIT 1
             OFFSET (SELECT count(*) / 2 FROM dbstat WHERE name = 'emails' AND pagetype = 'leaf')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    drop(conn);
    let mut bytes = std::fs::read(&original).unwrap();
    let start = usize::try_from((page - 1) * page_size).unwrap();
    bytes[start..start + 64].fill(0xee);
    ScratchFile::new(&bytes)
}

#[test]
fn damaged_or_foreign_sources_fail_naming_the_path() {
    let db = TestDb::new();
    let original = std::fs::read(fixture("mail-1k.sqlite")).unwrap();
    let truncated = ScratchFile::new(&original[..original.len() / 2]);
    let damaged = damaged_fixture();
    let empty = ScratchFile::new(b"");
    let png = ScratchFile::new(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0");
    let directory = ScratchFile::new(b"");
    std::fs::remove_file(&directory.0).unwrap();
    std::fs::create_dir(&directory.0).unwrap();
    let missing =
        std::env::temp_dir().join(format!("ferry-hostile-{}-missing.db", std::process::id()));

    let cases: [(&str, &Path, &str); 6] = [
        ("truncated", &truncated.0, "corrupt"),
        ("damaged page", &damaged.0, "corrupt"),
        ("empty", &empty.0, "empty file"),
        ("png", &png.0, "not a SQLite database"),
        ("directory", &directory.0, "is a directory"),
        ("missing", &missing, "no such file"),
    ];
    for (what, path, says) in cases {
        let shown = path.display().to_string();
        for command in ["copy", "verify", "plan"] {
            let run = if command == "plan" {
                ferry(&["plan", "--source", path.to_str().unwrap(), "--profile"])
            } else {
                command_json(
                    command,
                    path,
                    &db,
                    &["--full"][..usize::from(command == "verify")],
                )
            };
            assert!(
                run.code == 2,
                "{what}, ferry {command}: exit {}\n{}",
                run.code,
                run.stderr
            );
            assert_fails(&run, 2, &[&shown, says]);
        }
    }
    assert!(!missing.exists(), "the missing source must not be created");
    // The damaged page is only met while reading rows: nothing of that
    // table may be left behind as if it had been copied.
    let emails: i64 = db
        .client()
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'emails'",
            &[],
        )
        .unwrap()
        .get(0);
    if emails == 1 {
        let rows: i64 = db
            .client()
            .query_one("SELECT count(*) FROM emails", &[])
            .unwrap()
            .get(0);
        assert!(rows < 1000, "a damaged table cannot have been copied whole");
    }
}

/// Login roles made for one test, dropped after the databases they hold
/// privileges in (declare it before the [`TestDb`]).
struct Roles(Vec<String>);

impl Roles {
    fn new(kinds: &[&str]) -> Roles {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let names: Vec<String> = kinds
            .iter()
            .map(|kind| format!("ferry_{kind}_{}_{n}", std::process::id()))
            .collect();
        let mut admin =
            postgres::Client::connect(&crate::util::admin_url(), postgres::NoTls).unwrap();
        for name in &names {
            admin
                .batch_execute(&format!("CREATE ROLE {name} LOGIN"))
                .unwrap();
        }
        Roles(names)
    }
}

impl Drop for Roles {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&crate::util::admin_url(), postgres::NoTls)
        {
            for name in &self.0 {
                let _ = admin.batch_execute(&format!("DROP ROLE IF EXISTS {name}"));
            }
        }
    }
}

/// `url` with `user` in place of its user name and password.
fn as_user(url: &str, user: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{user}@{host}")
}

#[test]
fn least_privilege_roles_can_copy_and_verify() {
    let source = TempSqlite::new(
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT UNIQUE, joined DATE);
         CREATE TABLE orders (id INTEGER PRIMARY KEY, account_id INTEGER REFERENCES accounts(id),
                              total NUMERIC(10,2), placed DATETIME);
         CREATE INDEX orders_placed ON orders(placed);
         INSERT INTO accounts VALUES (1, 'a@example.com', '2024-01-31'), (2, 'b@example.com', NULL);
         INSERT INTO orders VALUES (1, 1, 9.99, '2024-02-01 10:00:00'), (2, 2, 'lots', NULL),
                                   (3, 1, 0.5, '2024-02-02T08:30:00Z');",
    );
    let roles = Roles::new(&["loader", "checker"]);
    let (loader, checker) = (&roles.0[0], &roles.0[1]);
    let db = TestDb::new();
    // The README's "Least-privilege role" SQL, run by the database owner.
    db.client()
        .batch_execute(&format!(
            "REVOKE ALL ON DATABASE {db} FROM PUBLIC;
             GRANT CONNECT, CREATE ON DATABASE {db} TO {loader};
             GRANT CONNECT ON DATABASE {db} TO {checker};
             ALTER DEFAULT PRIVILEGES FOR ROLE {loader} GRANT USAGE ON SCHEMAS TO {checker};
             ALTER DEFAULT PRIVILEGES FOR ROLE {loader} GRANT SELECT ON TABLES TO {checker};",
            db = db.name
        ))
        .unwrap();
    let loader_url = as_user(&db.url, loader);
    let checker_url = as_user(&db.url, checker);
    let target = |url: &str, command: &str, extra: &[&str]| {
        let mut args = vec![
            command,
            "--source",
            source.path.to_str().unwrap(),
            "--target",
            url,
            "--schema",
            "app",
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        ferry(&args)
    };

    let run = target(&loader_url, "copy", &["--on-error", "quarantine"]);
    run.assert_ok();
    assert_eq!(run.json()["totals"]["rejected"], 1);
    for mode in ["--full", "--schema-only", "--sample"] {
        let mut extra = vec![mode];
        if mode == "--sample" {
            extra.push("10");
        }
        let run = target(&checker_url, "verify", &extra);
        assert_eq!(run.code, 0, "{mode}: {}\n{}", run.stdout, run.stderr);
    }
    // A second copy over the first, as the same role.
    target(
        &loader_url,
        "copy",
        &["--on-error", "quarantine", "--if-exists", "drop"],
    )
    .assert_ok();
    let run = target(&checker_url, "verify", &["--full"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);

    // The checker reads and cannot write; neither role can touch public.
    let mut as_checker = postgres::Client::connect(&checker_url, postgres::NoTls).unwrap();
    let err = as_checker
        .batch_execute("DELETE FROM app.orders")
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
    );
    // Schema ferry is the loader's: the checker is not a member of that
    // role, so it does not trust the ledger and touches nothing (issue 14).
    let run = target(&checker_url, "copy", &["--if-exists", "truncate"]);
    assert_fails(&run, 2, &["schema ferry", "does not trust"]);
    drop(as_checker);
    let run = ferry(&[
        "copy",
        "--source",
        source.path.to_str().unwrap(),
        "--target",
        &loader_url,
    ]);
    assert_fails(&run, 3, &["permission denied"]);
    drop(db);
}
