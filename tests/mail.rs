//! The mail fixture copied whole, every value compared independently.

use crate::compare::assert_same_rows;
use crate::util::{copy, fixture, pg_column_types, TempSqlite, TestDb};

#[test]
fn copies_every_value_of_the_mail_fixture_with_faithful_types() {
    let source = fixture("mail-1k.sqlite");
    let db = TestDb::new();
    let run = copy(&source, &db, &["--jobs", "2", "--chunk-rows", "300"]);
    run.assert_ok();
    let report = run.json();

    let sqlite =
        rusqlite::Connection::open_with_flags(&source, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut pg = db.client();
    for table in ["accounts", "emails", "events"] {
        let rows: i64 = sqlite
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap();
        let entry = report["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["table"] == table)
            .unwrap_or_else(|| panic!("{table} missing from the report"));
        assert_eq!(entry["rows_read"], rows, "{table}");
        assert_eq!(entry["rows_written"], rows, "{table}");
        assert_eq!(entry["rejected"], 0, "{table}");
        let compared = assert_same_rows(&source, table, &mut pg, "public", table, ("id", "id"));
        assert_eq!(compared as i64, rows);
    }

    let types = |table: &str| pg_column_types(&mut db.client(), "public", table);
    assert_eq!(
        types("accounts"),
        [
            ("id", "bigint"),
            ("email", "text"),
            ("display_name", "text"),
            ("password_hash", "bytea"),
            ("settings", "jsonb"),
            ("created_at", "timestamp with time zone"),
            ("is_active", "boolean"),
            ("quota_mb", "bigint"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let emails = types("emails");
    for (column, ty) in [
        ("id", "bigint"),
        ("account_id", "bigint"),
        ("message_id", "text"),
        ("headers", "jsonb"),
        ("is_read", "boolean"),
        ("spam_score", "double precision"),
        ("received_at", "timestamp with time zone"),
    ] {
        assert!(
            emails.contains(&(column.to_owned(), ty.to_owned())),
            "emails.{column} should be {ty}: {emails:?}"
        );
    }
    let events = types("events");
    assert!(
        events.contains(&("amount".to_owned(), "numeric(12,2)".to_owned())),
        "{events:?}"
    );
}

#[test]
fn creates_keys_indexes_foreign_keys_and_identity_sequences() {
    let source = fixture("mail-1k.sqlite");
    let db = TestDb::new();
    copy(&source, &db, &[]).assert_ok();
    let mut pg = db.client();

    let constraints: Vec<(String, String)> = pg
        .query(
            "SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint
              WHERE connamespace = 'public'::regnamespace ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let has = |name: &str, def: &str| {
        constraints
            .iter()
            .any(|(n, d)| n == name && d.contains(def))
    };
    assert!(has("accounts_pkey", "PRIMARY KEY (id)"), "{constraints:?}");
    assert!(has("emails_pkey", "PRIMARY KEY (id)"), "{constraints:?}");
    assert!(
        has("accounts_email_key", "UNIQUE (email)"),
        "{constraints:?}"
    );
    assert!(
        has("emails_message_id_key", "UNIQUE (message_id)"),
        "{constraints:?}"
    );
    assert!(
        has(
            "emails_account_id_fkey",
            "FOREIGN KEY (account_id) REFERENCES accounts(id)"
        ),
        "{constraints:?}"
    );

    let indexes: Vec<String> = pg
        .query(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let index = |name: &str| {
        indexes
            .iter()
            .find(|d| d.contains(&format!("INDEX {name} ")))
            .unwrap_or_else(|| panic!("no index {name}: {indexes:?}"))
            .clone()
    };
    assert!(index("emails_account_received").contains("(account_id, received_at DESC)"));
    assert!(
        index("emails_unread").contains("WHERE (is_read = false)"),
        "{}",
        index("emails_unread")
    );

    // Identity: the next generated id is past every copied one.
    let max: i64 = pg
        .query_one("SELECT max(id) FROM accounts", &[])
        .unwrap()
        .get(0);
    let next: i64 = pg
        .query_one(
            "INSERT INTO accounts (email, password_hash, is_active) VALUES ('new@example.com', '\\x00', true) RETURNING id",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(next > max, "identity gave {next}, max was {max}");
    let identity: String = pg
        .query_one(
            "SELECT attidentity::text FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = 'id'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        identity, "d",
        "accounts.id should be GENERATED BY DEFAULT AS IDENTITY"
    );
}

#[test]
fn compression_flag_sets_the_toast_method_of_large_value_columns() {
    let source = fixture("mail-1k.sqlite");
    let methods = |db: &TestDb| -> Vec<(String, String)> {
        db.client()
            .query(
                "SELECT attname::text, attcompression::text FROM pg_attribute
                  WHERE attrelid = 'public.emails'::regclass
                    AND attname IN ('id', 'body', 'html', 'headers') ORDER BY 1",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    };
    let expect = |method: &str| -> Vec<(String, String)> {
        [
            ("body", method),
            ("headers", method),
            ("html", method),
            ("id", ""),
        ]
        .iter()
        .map(|(c, m)| ((*c).to_owned(), (*m).to_owned()))
        .collect()
    };
    // Debian's and the official Postgres builds have lz4; a server without
    // it falls back to its default with a warning.
    let db = TestDb::new();
    copy(&source, &db, &[]).assert_ok();
    let has_lz4: bool = db
        .client()
        .query_one(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(methods(&db), expect(if has_lz4 { "l" } else { "" }));

    for (flag, method) in [("pglz", "p"), ("default", "")] {
        let db = TestDb::new();
        copy(&source, &db, &["--compression", flag]).assert_ok();
        assert_eq!(methods(&db), expect(method), "--compression {flag}");
    }
}

#[test]
fn a_table_loaded_in_one_chunk_is_written_frozen() {
    let source = fixture("mail-1k.sqlite");
    let all_frozen = |db: &TestDb, table: &str| -> bool {
        let mut pg = db.client();
        pg.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_visibility")
            .unwrap();
        pg.query_one(
            &format!(
                "SELECT bool_and(all_visible AND all_frozen) FROM pg_visibility_map('{table}')"
            ),
            &[],
        )
        .unwrap()
        .get(0)
    };
    // Every table of the fixture fits one chunk: truncated and COPY FREEZE
    // in the chunk's transaction.
    let db = TestDb::new();
    copy(&source, &db, &[]).assert_ok();
    for table in ["accounts", "emails", "events"] {
        assert!(all_frozen(&db, table), "{table} should be frozen");
    }
    // Split into chunks, emails and events load concurrently, unfrozen.
    let db = TestDb::new();
    copy(&source, &db, &["--chunk-rows", "300"]).assert_ok();
    assert!(all_frozen(&db, "accounts"));
    assert!(!all_frozen(&db, "emails"));

    // Appending to a table that holds rows never truncates it.
    let log = TempSqlite::new("CREATE TABLE log (msg TEXT); INSERT INTO log VALUES ('a'), ('b');");
    let db = TestDb::new();
    copy(&log.path, &db, &[]).assert_ok();
    copy(&log.path, &db, &["--if-exists", "append"]).assert_ok();
    let rows: i64 = db
        .client()
        .query_one("SELECT count(*) FROM log", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 4);
    assert!(!all_frozen(&db, "log"));
}
