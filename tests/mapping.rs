//! The type-mapping table, row by row, end to end: a SQLite column of each
//! declared type, copied, gets the Postgres type and value the README
//! promises.

use crate::util::{copy, pg_column_types, TempSqlite, TestDb};

/// (declared SQLite type, SQL literal stored, Postgres type, Postgres text).
const MAPPING: &[(&str, &str, &str, &str)] = &[
    (
        "INTEGER",
        "9223372036854775807",
        "bigint",
        "9223372036854775807",
    ),
    (
        "INT",
        "-9223372036854775808",
        "bigint",
        "-9223372036854775808",
    ),
    ("BIGINT", "'42'", "bigint", "42"),
    ("TINYINT", "7", "bigint", "7"),
    (
        "REAL",
        "0.30000000000000004",
        "double precision",
        "0.30000000000000004",
    ),
    ("FLOAT", "5e-324", "double precision", "5e-324"),
    (
        "DOUBLE",
        "1.7976931348623157e308",
        "double precision",
        "1.7976931348623157e+308",
    ),
    (
        "DOUBLE PRECISION",
        "-2.5e-300",
        "double precision",
        "-2.5e-300",
    ),
    (
        "NUMERIC",
        "-9007199254740993",
        "numeric",
        "-9007199254740993",
    ),
    ("DECIMAL(10,2)", "'12.50'", "numeric(10,2)", "12.50"),
    ("NUMERIC(12,4)", "0.1", "numeric(12,4)", "0.1000"),
    ("TEXT", "'héllo 🌍'", "text", "héllo 🌍"),
    ("VARCHAR(20)", "'varchar'", "text", "varchar"),
    ("CHAR(3)", "'abc'", "text", "abc"),
    ("CLOB", "'clob'", "text", "clob"),
    ("NVARCHAR(10)", "'日本語'", "text", "日本語"),
    ("BLOB", "X'00FF10'", "bytea", "\\x00ff10"),
    ("BOOLEAN", "1", "boolean", "true"),
    ("BOOL", "'f'", "boolean", "false"),
    ("DATE", "'2024-02-29'", "date", "2024-02-29"),
    (
        "DATETIME",
        "'2024-02-29 23:59:59.123456'",
        "timestamp with time zone",
        "2024-02-29 23:59:59.123456+00",
    ),
    (
        "TIMESTAMP",
        "'2024-03-01T01:02:03+05:30'",
        "timestamp with time zone",
        "2024-02-29 19:32:03+00",
    ),
    (
        "JSON",
        "'{\"b\": [1, 2], \"a\": null}'",
        "jsonb",
        "{\"a\": null, \"b\": [1, 2]}",
    ),
    (
        "UUID",
        "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'",
        "uuid",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
    ),
    ("", "'anything'", "text", "anything"),
];

#[test]
fn every_row_of_the_mapping_table_lands_with_its_type_and_value() {
    let columns: Vec<String> = MAPPING
        .iter()
        .enumerate()
        .map(|(i, (declared, ..))| format!("c{i} {declared}"))
        .collect();
    let values: Vec<&str> = MAPPING.iter().map(|(_, value, ..)| *value).collect();
    let source = TempSqlite::new(&format!(
        "CREATE TABLE mapped (id INTEGER PRIMARY KEY, {});
         INSERT INTO mapped VALUES (1, {});
         INSERT INTO mapped (id) VALUES (2);",
        columns.join(", "),
        values.join(", ")
    ));
    let db = TestDb::new();
    copy(&source.path, &db, &[]).assert_ok();

    let mut pg = db.client();
    pg.batch_execute("SET TIME ZONE 'UTC'").unwrap();
    let types = pg_column_types(&mut pg, "public", "mapped");
    for (i, (declared, value, pg_type, pg_text)) in MAPPING.iter().enumerate() {
        let column = format!("c{i}");
        assert_eq!(
            types[i + 1],
            (column.clone(), pg_type.to_string()),
            "declared {declared:?}"
        );
        let row = pg
            .query_one(
                &format!("SELECT {column}::text FROM mapped WHERE id = 1"),
                &[],
            )
            .unwrap();
        let text: String = row.get(0);
        assert_eq!(&text, pg_text, "declared {declared:?}, stored {value}");
        let null = pg
            .query_one(
                &format!("SELECT {column} IS NULL FROM mapped WHERE id = 2"),
                &[],
            )
            .unwrap();
        assert!(
            null.get::<_, bool>(0),
            "declared {declared:?}: NULL must stay NULL"
        );
    }
}

#[test]
fn config_overrides_the_mapping_per_column() {
    let source = TempSqlite::new(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, score REAL, body BLOB, note TEXT);
         INSERT INTO t VALUES (1, 1.5, CAST('text in blob' AS BLOB), 'a' || char(0) || 'b');",
    );
    let config = std::env::temp_dir().join(format!("ferry-config-{}.toml", std::process::id()));
    std::fs::write(
        &config,
        "[tables.t]\nrename = \"renamed\"\n\
         [tables.t.columns.score]\ntype = \"numeric(4,2)\"\n\
         [tables.t.columns.body]\ntype = \"text\"\nrename = \"content\"\n\
         [tables.t.columns.note]\nstrip_nul = true\n",
    )
    .unwrap();
    let db = TestDb::new();
    copy(&source.path, &db, &["--config", config.to_str().unwrap()]).assert_ok();
    let mut pg = db.client();
    assert_eq!(
        pg_column_types(&mut pg, "public", "renamed"),
        [
            ("id", "bigint"),
            ("score", "numeric(4,2)"),
            ("content", "text"),
            ("note", "text")
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let row = pg
        .query_one("SELECT score::text, content, note FROM renamed", &[])
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "1.50");
    assert_eq!(row.get::<_, String>(1), "text in blob");
    assert_eq!(row.get::<_, String>(2), "ab");

    // verify plans through the same config, so renamed tables and columns,
    // overridden types and lossy repairs all compare equal.
    let verify = crate::util::command_json(
        "verify",
        &source.path,
        &db,
        &["--config", config.to_str().unwrap(), "--full"],
    );
    assert_eq!(verify.code, 0, "{}", verify.stdout);
    let _ = std::fs::remove_file(config);
}
