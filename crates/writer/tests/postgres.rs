//! ferry-writer against a real PostgreSQL: each test works in a fresh,
//! uniquely named database (from `DATABASE_URL`, or the local server) and
//! drops it afterwards, so tests run in parallel.

use std::borrow::Cow;

use ferry_model::{ForeignKeyPlan, PgType, PgValue, Reject, RowKey, SourceValue, TablePlan};
use ferry_writer::{
    connect, constraint_steps, create_table, ensure_rejects_table, post_load_steps, run_step,
    server_has_lz4, table_state, ChunkCopy, Compression, CopyEncoder, StepKind, Storage,
    TableState, WriteError,
};
use tokio_postgres::Client;

mod common;
use common::{column, plan, TestDb};

/// Creates the table, COPYs `rows` in one chunk and returns the rows written.
async fn load(client: &mut Client, plan: &TablePlan, rows: &[Vec<PgValue<'_>>]) -> u64 {
    let mut copy = ChunkCopy::begin(client, plan).await.unwrap();
    copy.send(encode(rows)).await.unwrap();
    copy.commit(rows.len() as u64, "run-1", &[]).await.unwrap()
}

fn encode(rows: &[Vec<PgValue<'_>>]) -> bytes::Bytes {
    let mut encoder = CopyEncoder::new();
    for row in rows {
        encoder.begin_row(row.len() as i16);
        for value in row {
            encoder.push(value);
        }
    }
    encoder.take()
}

async fn count(client: &Client, table: &str) -> i64 {
    client
        .query_one(
            &format!("SELECT count(*) FROM \"Target Schema\".\"{table}\""),
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

fn every_type() -> TablePlan {
    let id = column("id", PgType::Integer).not_null();
    let mut label = column("Label", PgType::Text);
    label.default_sql = Some("'none'".to_owned());
    let mut plan = plan(
        "every type",
        vec![
            id,
            column("b", PgType::Boolean),
            column("s", PgType::SmallInt),
            column("l", PgType::BigInt),
            column("r", PgType::Real),
            column("d", PgType::DoublePrecision),
            column("n", PgType::Numeric(None)),
            column("n4", PgType::Numeric(Some((24, 4)))),
            label,
            column("by", PgType::Bytea),
            column("dt", PgType::Date),
            column("ts", PgType::Timestamp),
            column("tz", PgType::Timestamptz),
            column("j", PgType::Jsonb),
            column("u", PgType::Uuid),
        ],
    );
    plan.primary_key = vec!["id".to_owned()];
    plan.uniques = vec![ferry_model::UniquePlan {
        name: "every_type_label_key".to_owned(),
        columns: vec!["Label".to_owned(), "id".to_owned()],
        deferrable: true,
    }];
    plan.indexes = vec![ferry_model::IndexPlan {
        name: "every_type_ts".to_owned(),
        unique: false,
        key_sql: vec!["\"ts\" DESC".to_owned()],
        where_sql: Some("\"b\"".to_owned()),
    }];
    plan
}

#[tokio::test]
async fn every_type_round_trips_through_binary_copy() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let plan = every_type();
    create_table(&client, &plan, &Storage::default())
        .await
        .unwrap();
    assert_eq!(
        table_state(&client, &plan.schema, &plan.name)
            .await
            .unwrap(),
        TableState::Empty
    );

    let text = |s: &'static str| Cow::Borrowed(s);
    let uuid = [
        0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40,
        0x00,
    ];
    let rows = vec![
        vec![
            PgValue::Int4(1),
            PgValue::Bool(true),
            PgValue::Int2(i16::MIN),
            PgValue::Int8(i64::MIN),
            PgValue::Float4(-0.0),
            PgValue::Float8(-0.0),
            PgValue::Numeric(text("0")),
            PgValue::Numeric(text("12.50")),
            PgValue::Text(text("héllo ✓ \"quoted\"\ttab")),
            PgValue::Bytea(Cow::Borrowed(&[0, 1, 0, 255])),
            PgValue::Date(-1),
            PgValue::Timestamp(1_234_567_890_123_456),
            PgValue::Timestamptz(-86_400_000_001),
            PgValue::Jsonb(text(r#"{"k": "é ✓ \u00e9", "n": [1, 2.50]}"#)),
            PgValue::Uuid(uuid),
        ],
        vec![
            PgValue::Int4(2),
            PgValue::Bool(false),
            PgValue::Int2(i16::MAX),
            PgValue::Int8(i64::MAX),
            PgValue::Float4(1.5),
            PgValue::Float8(0.1),
            PgValue::Numeric(text("-0.0001")),
            PgValue::Numeric(text("-1234.5678")),
            PgValue::Text(text("")),
            PgValue::Bytea(Cow::Borrowed(&[])),
            PgValue::Date(9000),
            PgValue::Timestamp(-1),
            PgValue::Timestamptz(1),
            PgValue::Jsonb(text("null")),
            PgValue::Uuid([0; 16]),
        ],
        vec![
            PgValue::Int4(3),
            PgValue::Null,
            PgValue::Null,
            PgValue::Null,
            PgValue::Float4(f32::MAX),
            PgValue::Float8(f64::from_bits(1)),
            PgValue::Numeric(text("12345678901234567890.5")),
            PgValue::Numeric(text("100000000.0001")),
            PgValue::Null,
            PgValue::Null,
            PgValue::Null,
            PgValue::Null,
            PgValue::Null,
            PgValue::Null,
            PgValue::Null,
        ],
        vec![
            PgValue::Int4(4),
            PgValue::Null,
            PgValue::Null,
            PgValue::Null,
            PgValue::Float4(f32::NEG_INFINITY),
            PgValue::Float8(f64::NAN),
            PgValue::Numeric(text("NaN")),
            PgValue::Numeric(text("-0.00")),
            PgValue::Null,
            PgValue::Null,
            PgValue::Null,
            PgValue::Null,
            PgValue::Null,
            PgValue::Null,
            PgValue::Null,
        ],
    ];
    assert_eq!(load(&mut client, &plan, &rows).await, 4);
    for step in post_load_steps(&plan) {
        run_step(&client, &step).await.unwrap();
    }
    assert_eq!(
        table_state(&client, &plan.schema, &plan.name)
            .await
            .unwrap(),
        TableState::NotEmpty
    );

    let read = client
        .query(
            "SELECT b::text, s::text, l::text, r::text, d::text, n::text, n4::text, \"Label\"::text, \
             by::text, dt::text, ts::text, tz::text, j::text, u::text \
             FROM \"Target Schema\".\"every type\" ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    let got: Vec<Vec<Option<String>>> = read
        .iter()
        .map(|row| (0..row.len()).map(|i| row.get(i)).collect())
        .collect();
    let some = |values: &[&str]| -> Vec<Option<String>> {
        values
            .iter()
            .map(|v| (*v != "NULL").then(|| v.to_string()))
            .collect()
    };
    assert_eq!(
        got[0],
        some(&[
            "true",
            "-32768",
            "-9223372036854775808",
            "-0",
            "-0",
            "0",
            "12.5000",
            "héllo ✓ \"quoted\"\ttab",
            "\\x000100ff",
            "1999-12-31",
            "2039-02-13 23:31:30.123456",
            "1999-12-30 23:59:59.999999+00",
            r#"{"k": "é ✓ é", "n": [1, 2.50]}"#,
            "123e4567-e89b-12d3-a456-426614174000",
        ])
    );
    assert_eq!(
        got[1],
        some(&[
            "false",
            "32767",
            "9223372036854775807",
            "1.5",
            "0.1",
            "-0.0001",
            "-1234.5678",
            "",
            "\\x",
            "2024-08-22",
            "1999-12-31 23:59:59.999999",
            "2000-01-01 00:00:00.000001+00",
            "null",
            "00000000-0000-0000-0000-000000000000",
        ])
    );
    assert_eq!(
        got[2],
        some(&[
            "NULL",
            "NULL",
            "NULL",
            "3.4028235e+38",
            "5e-324",
            "12345678901234567890.5",
            "100000000.0001",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
            "NULL",
        ])
    );
    assert_eq!(
        got[3][3..7],
        some(&["-Infinity", "NaN", "NaN", "0.0000"])[..]
    );

    // The post-load steps built what the plan describes.
    let constraints: Vec<String> = client
        .query(
            "SELECT conname::text FROM pg_constraint WHERE conrelid = '\"Target Schema\".\"every type\"'::regclass ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(constraints, ["every type_pkey", "every_type_label_key"]);
    let index: String = client
        .query_one(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'every_type_ts'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(index.ends_with("USING btree (ts DESC) WHERE b"), "{index}");
}

#[tokio::test]
async fn lz4_storage_compresses_large_values_and_keeps_them_exact() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    if !server_has_lz4(&client).await.unwrap() {
        eprintln!("skipped: this server has no lz4");
        return;
    }
    let plan = plan(
        "compressed",
        vec![
            column("t", PgType::Text),
            column("b", PgType::Bytea),
            column("j", PgType::Jsonb),
        ],
    );
    let storage = Storage {
        compression: Some(Compression::Lz4),
        unlogged: false,
    };
    create_table(&client, &plan, &storage).await.unwrap();
    let text = "lz4 ✓ ".repeat(20_000);
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 7) as u8).collect();
    let json = format!("{{\"k\": \"{text}\"}}");
    let rows = vec![vec![
        PgValue::Text(Cow::Borrowed(&text)),
        PgValue::Bytea(Cow::Borrowed(&bytes)),
        PgValue::Jsonb(Cow::Borrowed(&json)),
    ]];
    assert_eq!(load(&mut client, &plan, &rows).await, 1);
    let row = client
        .query_one(
            "SELECT t, b, j->>'k', pg_column_compression(t), pg_column_compression(b), \
             pg_column_compression(j) FROM \"Target Schema\".\"compressed\"",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), text);
    assert_eq!(row.get::<_, Vec<u8>>(1), bytes);
    assert_eq!(row.get::<_, String>(2), text);
    for i in 3..6 {
        assert_eq!(
            row.get::<_, Option<String>>(i).as_deref(),
            Some("lz4"),
            "column {i}"
        );
    }
}

#[tokio::test]
async fn numeric_text_survives_the_binary_encoding() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let plan = plan("numerics", vec![column("n", PgType::Numeric(None))]);
    create_table(&client, &plan, &Storage::default())
        .await
        .unwrap();
    let cases = [
        "0",
        "1",
        "-1",
        "0.1",
        "9999",
        "10000",
        "-99999999",
        "100000000",
        "0.00000001",
        "123.456",
        "-98765.4321000",
        "1.0000",
        "0.0",
        "0.5",
        "-0.5",
        "1e",
        "10000.0001",
        "3.14159265358979323846264338327950288419716939937510",
        "-123456789012345678901234567890123456789",
    ];
    let mut expected = Vec::new();
    let mut encoder = CopyEncoder::new();
    for case in cases {
        encoder.begin_row(1);
        if encoder
            .try_push(&PgValue::Numeric(Cow::Borrowed(case)))
            .is_ok()
        {
            expected.push(case.to_owned());
        }
    }
    assert_eq!(expected.len(), cases.len() - 1, "only '1e' is refused");
    let mut copy = ChunkCopy::begin(&mut client, &plan).await.unwrap();
    copy.send(encoder.take()).await.unwrap();
    copy.commit(expected.len() as u64, "run", &[])
        .await
        .unwrap();
    let got: Vec<String> = client
        .query("SELECT n::text FROM \"Target Schema\".numerics", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn copy_errors_name_the_table_and_column() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let plan = plan("strict", vec![column("id", PgType::Integer).not_null()]);
    create_table(&client, &plan, &Storage::default())
        .await
        .unwrap();
    let mut copy = ChunkCopy::begin(&mut client, &plan).await.unwrap();
    copy.send(encode(&[vec![PgValue::Null]])).await.unwrap();
    let err = copy.commit(1, "run", &[]).await.unwrap_err();
    let WriteError::Server(server) = &err else {
        panic!("unexpected error {err:?}");
    };
    assert_eq!(server.code, "23502");
    assert_eq!(server.table, "Target Schema.strict");
    assert_eq!(server.server_column.as_deref(), Some("id"));
    assert!(err.to_string().contains("column id"), "{err}");
    assert_eq!(count(&client, "strict").await, 0);

    // A value with no binary form fails the chunk instead of vanishing.
    let plan = self::plan("poisoned", vec![column("n", PgType::Numeric(None))]);
    create_table(&client, &plan, &Storage::default())
        .await
        .unwrap();
    let mut copy = ChunkCopy::begin(&mut client, &plan).await.unwrap();
    copy.send(encode(&[vec![PgValue::Numeric(Cow::Borrowed("1e5"))]]))
        .await
        .unwrap();
    let err = copy.commit(1, "run", &[]).await.unwrap_err();
    assert_eq!(err.sqlstate(), Some("22P04"), "{err}");
    assert_eq!(count(&client, "poisoned").await, 0);
}

#[tokio::test]
async fn identity_continues_past_the_largest_loaded_value() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let id = column("Id", PgType::BigInt).identity();
    let mut plan = plan("with identity", vec![id, column("name", PgType::Text)]);
    plan.primary_key = vec!["Id".to_owned()];
    create_table(&client, &plan, &Storage::default())
        .await
        .unwrap();
    let rows: Vec<Vec<PgValue>> = [1, 42, 5]
        .into_iter()
        .map(|i| vec![PgValue::Int8(i), PgValue::Text(Cow::Borrowed("x"))])
        .collect();
    load(&mut client, &plan, &rows).await;
    let steps = post_load_steps(&plan);
    assert!(steps.iter().any(|s| s.kind == StepKind::IdentityReset));
    for step in &steps {
        run_step(&client, step).await.unwrap();
    }
    let next: i64 = client
        .query_one(
            "INSERT INTO \"Target Schema\".\"with identity\" (name) VALUES ('new') RETURNING \"Id\"",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(next, 43);
}

#[tokio::test]
async fn identity_of_an_empty_table_starts_at_one() {
    let db = TestDb::new().await;
    let client = db.client().await;
    let mut id = column("id", PgType::Integer);
    id.identity = true;
    let plan = plan("empty identity", vec![id]);
    create_table(&client, &plan, &Storage::default())
        .await
        .unwrap();
    for step in post_load_steps(&plan) {
        run_step(&client, &step).await.unwrap();
    }
    let next: i32 = client
        .query_one(
            "INSERT INTO \"Target Schema\".\"empty identity\" DEFAULT VALUES RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(next, 1);
}

fn small_plan(name: &str) -> TablePlan {
    plan(
        name,
        vec![column("id", PgType::Integer), column("v", PgType::Text)],
    )
}

fn small_rows(ids: &[i32]) -> Vec<Vec<PgValue<'static>>> {
    ids.iter()
        .map(|&i| {
            vec![
                PgValue::Int4(i),
                PgValue::Text(Cow::Owned(format!("row {i}"))),
            ]
        })
        .collect()
}

#[tokio::test]
async fn dropping_a_chunk_rolls_it_back_and_the_client_stays_usable() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let plan = small_plan("rollback");
    create_table(&client, &plan, &Storage::default())
        .await
        .unwrap();

    let mut copy = ChunkCopy::begin(&mut client, &plan).await.unwrap();
    copy.send(encode(&small_rows(&[1, 2]))).await.unwrap();
    drop(copy);
    assert_eq!(count(&client, "rollback").await, 0);

    // Dropped before anything was sent, too.
    drop(ChunkCopy::begin(&mut client, &plan).await.unwrap());
    assert_eq!(load(&mut client, &plan, &small_rows(&[3])).await, 1);
    assert_eq!(count(&client, "rollback").await, 1);
}

#[tokio::test]
async fn row_count_mismatch_fails_and_rolls_back() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let plan = small_plan("mismatch");
    create_table(&client, &plan, &Storage::default())
        .await
        .unwrap();

    let mut copy = ChunkCopy::begin(&mut client, &plan).await.unwrap();
    copy.send(encode(&small_rows(&[1, 2]))).await.unwrap();
    let err = copy.commit(3, "run-1", &[]).await.unwrap_err();
    match &err {
        WriteError::RowCountMismatch {
            table,
            sent,
            written,
        } => {
            assert_eq!(table, "Target Schema.mismatch");
            assert_eq!((*sent, *written), (3, 2));
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert_eq!(count(&client, "mismatch").await, 0);
}

#[tokio::test]
async fn rejects_are_recorded_with_the_chunk() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    ensure_rejects_table(&mut client).await.unwrap();
    ensure_rejects_table(&mut client).await.unwrap();
    let plan = small_plan("with rejects");
    create_table(&client, &plan, &Storage::default())
        .await
        .unwrap();

    let reject = |key: i64, value: SourceValue| Reject {
        table: "src_with rejects".to_owned(),
        key: RowKey::rowid(key),
        column: "id".to_owned(),
        reason: "not an integer".to_owned(),
        value,
    };
    let rejects = [
        reject(7, SourceValue::Text("é\"x".into())),
        reject(8, SourceValue::Blob(vec![0, 0xff])),
        reject(9, SourceValue::Real(f64::INFINITY)),
    ];
    let mut copy = ChunkCopy::begin(&mut client, &plan).await.unwrap();
    copy.send(encode(&small_rows(&[1]))).await.unwrap();
    assert_eq!(copy.commit(1, "run-42", &rejects).await.unwrap(), 1);

    let rows = client
        .query(
            "SELECT run_id, source_table, target_schema, target_table, row_key, column_name, \
             reason, raw_value::text, raw_value->>'storage_class' FROM ferry.rejects ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    let first: Vec<String> = (0..9).map(|i| rows[0].get(i)).collect();
    assert_eq!(
        first,
        [
            "run-42",
            "src_with rejects",
            "Target Schema",
            "with rejects",
            "rowid=7",
            "id",
            "not an integer",
            r#"{"value": "é\"x", "storage_class": "text"}"#,
            "text",
        ]
    );
    let raw: Vec<String> = rows.iter().map(|r| r.get(7)).collect();
    assert_eq!(raw[1], r#"{"hex": "00ff", "storage_class": "blob"}"#);
    assert_eq!(raw[2], r#"{"value": "Infinity", "storage_class": "real"}"#);
}

#[tokio::test]
async fn a_failed_chunk_leaves_no_rejects_behind() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    ensure_rejects_table(&mut client).await.unwrap();
    let plan = small_plan("failed");
    create_table(&client, &plan, &Storage::default())
        .await
        .unwrap();
    let rejects = [Reject {
        table: "failed".to_owned(),
        key: RowKey::rowid(1),
        column: "v".to_owned(),
        reason: "bad".to_owned(),
        value: SourceValue::Integer(1),
    }];
    let mut copy = ChunkCopy::begin(&mut client, &plan).await.unwrap();
    copy.send(encode(&small_rows(&[1]))).await.unwrap();
    assert!(copy.commit(2, "run", &rejects).await.is_err());
    let n: i64 = client
        .query_one("SELECT count(*) FROM ferry.rejects", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
}

#[tokio::test]
async fn server_errors_keep_sqlstate_and_constraint() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let mut plan = small_plan("dupes");
    plan.primary_key = vec!["id".to_owned()];
    create_table(&client, &plan, &Storage::default())
        .await
        .unwrap();
    load(&mut client, &plan, &small_rows(&[1, 1])).await;
    // The key's unique index is built first; that is where duplicates fail.
    let pk = &post_load_steps(&plan)[0];
    assert_eq!(pk.kind, StepKind::Index);
    let err = run_step(&client, pk).await.unwrap_err();
    match &err {
        WriteError::Server(server) => {
            assert_eq!(server.table, "Target Schema.dupes");
            assert_eq!(server.code, "23505");
            assert_eq!(server.server_table.as_deref(), Some("dupes"));
            assert_eq!(server.server_constraint.as_deref(), Some("dupes_pkey"));
            let detail = server.detail.as_deref().unwrap_or("");
            assert!(detail.contains("(id)=(1)"), "{detail}");
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert_eq!(err.sqlstate(), Some("23505"));
    assert!(!err.is_connection_error());
    let message = err.to_string();
    assert!(
        message.starts_with(
            "Target Schema.dupes: index of the primary key dupes_pkey on Target Schema.dupes (id) failed:"
        ),
        "{message}"
    );
    assert!(message.contains("fix the rows"), "{message}");

    // Creating it again says it exists.
    let err = create_table(&client, &plan, &Storage::default())
        .await
        .unwrap_err();
    assert_eq!(err.sqlstate(), Some("42P07"));
}

#[tokio::test]
async fn foreign_keys_are_added_and_validation_reports_violations() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let mut parent = small_plan("parent");
    parent.primary_key = vec!["id".to_owned()];
    let mut child = small_plan("child");
    child.foreign_keys = vec![ForeignKeyPlan {
        name: "child_parent_fk".to_owned(),
        columns: vec!["id".to_owned()],
        referenced_table: "parent".to_owned(),
        referenced_columns: vec!["id".to_owned()],
        on_update: "NO ACTION".to_owned(),
        on_delete: "CASCADE".to_owned(),
        initially_deferred: false,
    }];
    for (plan, ids) in [(&parent, &[1][..]), (&child, &[1, 2][..])] {
        create_table(&client, plan, &Storage::default())
            .await
            .unwrap();
        load(&mut client, plan, &small_rows(ids)).await;
        for step in post_load_steps(plan) {
            run_step(&client, &step).await.unwrap();
        }
    }
    let steps = constraint_steps(&child);
    run_step(&client, &steps[0]).await.unwrap();
    let err = run_step(&client, &steps[1]).await.unwrap_err();
    assert_eq!(steps[1].kind, StepKind::Validate);
    assert_eq!(err.sqlstate(), Some("23503"));
    // The constraint stays, NOT VALID, and guards new rows.
    let validated: bool = client
        .query_one(
            "SELECT convalidated FROM pg_constraint WHERE conname = 'child_parent_fk'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!validated);
}

#[tokio::test]
async fn table_state_sees_missing_tables() {
    let db = TestDb::new().await;
    let client = db.client().await;
    assert_eq!(
        table_state(&client, "public", "nope").await.unwrap(),
        TableState::Missing
    );
    assert_eq!(
        table_state(&client, "no schema", "x\"y").await.unwrap(),
        TableState::Missing
    );
}

#[tokio::test]
async fn tls_modes_connect_or_fail_cleanly() {
    let db = TestDb::new().await;
    for mode in ["disable", "prefer", "require"] {
        let url = with_param(&db.url, "sslmode", mode);
        let client = connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{mode}: {e}"));
        let one: i32 = client.query_one("SELECT 1", &[]).await.unwrap().get(0);
        assert_eq!(one, 1);
    }
    // A CA that did not sign the server's certificate (or a server without
    // TLS) must fail, as a connection error.
    let dir = std::env::temp_dir().join(format!("ferry-writer-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("other-ca.pem");
    std::fs::write(&ca, OTHER_CA).unwrap();
    let url = with_param(&db.url, "sslmode", "verify-ca");
    let url = with_param(&url, "sslrootcert", &ca.display().to_string());
    let err = connect(&url).await.unwrap_err();
    assert!(err.is_connection_error(), "{err}");
    assert!(matches!(err, WriteError::Connect { .. }), "{err}");
    let _ = std::fs::remove_dir_all(dir);

    // Where the server's own self-signed certificate is readable (a stock
    // Debian server), trusting it verifies the chain.
    let admin = connect(&db.url).await.unwrap();
    let ssl: String = admin.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    let cert: String = admin
        .query_one("SHOW ssl_cert_file", &[])
        .await
        .unwrap()
        .get(0);
    let self_signed = std::fs::read_to_string(&cert)
        .map(|pem| pem.matches("BEGIN CERTIFICATE").count() == 1)
        .unwrap_or(false);
    if ssl == "on" && self_signed && cert.contains("snakeoil") {
        let url = with_param(&db.url, "sslmode", "verify-ca");
        let url = with_param(&url, "sslrootcert", &cert);
        let client = connect(&url).await.unwrap_or_else(|e| panic!("{e}"));
        client.batch_execute("SELECT 1").await.unwrap();
    }
}

/// Adds `key=value` to a URL or key=value connection string.
fn with_param(url: &str, key: &str, value: &str) -> String {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        format!("{url} {key}={value}")
    } else if url.contains('?') {
        format!("{url}&{key}={value}")
    } else {
        format!("{url}?{key}={value}")
    }
}

/// A self-signed CA that signed nothing the test server uses.
const OTHER_CA: &str = include_str!("other-ca.pem");
