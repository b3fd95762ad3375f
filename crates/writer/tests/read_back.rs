//! Reading the target back against a real PostgreSQL: each test works in a
//! fresh, uniquely named database (from `DATABASE_URL`, or the local
//! server) and drops it afterwards, so tests run in parallel.

use std::borrow::Cow;
use std::convert::Infallible;

use ferry_model::{
    ColumnPlan, ForeignKeyPlan, IndexPlan, PgType, PgValue, Reject, RowKey, SourceValue, TablePlan,
    UniquePlan,
};
use ferry_writer::{
    constraint_steps, count_rows, create_table, ensure_ledger, ensure_rejects_table, fetch_located,
    fetch_rejects, inspect_table, post_load_steps, register_copy, run_step, schema_differences,
    stream_located_rows, stream_rows, ChunkCopy, CopyEncoder, NewCopy, PlannedChunk, RowFilter,
    Storage, WriteError, WriteOrRow,
};
use tokio_postgres::Client;

mod common;
use common::{column, TestDb};

/// The shared plan builder, in this file's own schema.
fn plan(name: &str, columns: Vec<ColumnPlan>) -> TablePlan {
    TablePlan {
        schema: "Read Back".to_owned(),
        ..common::plan(name, columns)
    }
}

/// Creates the table and COPYs `rows` in one chunk with `rejects`.
async fn load(
    client: &mut Client,
    plan: &TablePlan,
    rows: &[Vec<PgValue<'_>>],
    rejects: &[Reject],
) {
    create_table(client, plan, &Storage::default())
        .await
        .unwrap();
    let mut encoder = CopyEncoder::new();
    for row in rows {
        encoder.begin_row(row.len() as i16);
        for value in row {
            encoder.try_push(value).unwrap();
        }
    }
    let mut copy = ChunkCopy::begin(client, plan).await.unwrap();
    copy.send(encoder.take()).await.unwrap();
    copy.commit(rows.len() as u64, "run-1", rejects)
        .await
        .unwrap();
}

async fn read_all(
    client: &Client,
    plan: &TablePlan,
    filter: RowFilter<'_>,
) -> Vec<Vec<PgValue<'static>>> {
    let mut rows = Vec::new();
    let count = stream_rows(client, plan, filter, &mut |row| {
        rows.push(row);
        Ok::<_, Infallible>(())
    })
    .await
    .unwrap();
    assert_eq!(count, rows.len() as u64);
    rows.sort_by_key(|row| match row[0] {
        PgValue::Int4(id) => id,
        _ => i32::MAX,
    });
    rows
}

fn every_type() -> TablePlan {
    let id = column("id", PgType::Integer).not_null();
    plan(
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
            column("Label", PgType::Text),
            column("by", PgType::Bytea),
            column("dt", PgType::Date),
            column("ts", PgType::Timestamp),
            column("tz", PgType::Timestamptz),
            column("j", PgType::Jsonb),
            column("u", PgType::Uuid),
        ],
    )
}

/// Floats compare by bits, so NaN equals itself and -0.0 differs from 0.0.
fn same_rows(a: &[Vec<PgValue<'_>>], b: &[Vec<PgValue<'_>>]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.len() == y.len()
                && x.iter().zip(y).all(|pair| match pair {
                    (PgValue::Float4(p), PgValue::Float4(q)) => p.to_bits() == q.to_bits(),
                    (PgValue::Float8(p), PgValue::Float8(q)) => p.to_bits() == q.to_bits(),
                    (p, q) => p == q,
                })
        })
}

#[tokio::test]
async fn every_type_reads_back_as_written() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let plan = every_type();
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
            PgValue::Float8(f64::from_bits(1)),
            PgValue::Numeric(text("12.50")),
            PgValue::Numeric(text("-1234.5678")),
            PgValue::Text(text("héllo ✓ \"quoted\"\ttab")),
            PgValue::Bytea(Cow::Borrowed(&[0, 1, 0, 255])),
            PgValue::Date(-1),
            PgValue::Timestamp(1_234_567_890_123_456),
            PgValue::Timestamptz(-86_400_000_001),
            PgValue::Jsonb(text(r#"{"k": "é ✓", "n": [1, 2.50]}"#)),
            PgValue::Uuid(uuid),
        ],
        vec![
            PgValue::Int4(2),
            PgValue::Bool(false),
            PgValue::Int2(i16::MAX),
            PgValue::Int8(i64::MAX),
            PgValue::Float4(f32::NEG_INFINITY),
            PgValue::Float8(f64::NAN),
            PgValue::Numeric(text("NaN")),
            PgValue::Numeric(text("0.0000")),
            PgValue::Text(text("")),
            PgValue::Bytea(Cow::Borrowed(&[])),
            PgValue::Date(i32::MAX),
            PgValue::Timestamp(i64::MIN),
            PgValue::Timestamptz(i64::MAX),
            PgValue::Jsonb(text("null")),
            PgValue::Uuid([0; 16]),
        ],
        std::iter::once(PgValue::Int4(3))
            .chain(std::iter::repeat_n(PgValue::Null, 14))
            .collect(),
    ];
    load(&mut client, &plan, &rows, &[]).await;

    let back = read_all(&client, &plan, RowFilter::All).await;
    assert!(same_rows(&back, &rows), "{back:#?}");
    assert_eq!(
        count_rows(&client, &plan.schema, &plan.name).await.unwrap(),
        3
    );
}

#[tokio::test]
async fn values_written_as_sql_text_decode_to_the_same_pg_values() {
    // An independent path in: the server parses these literals itself.
    let db = TestDb::new().await;
    let client = db.client().await;
    let plan = every_type();
    create_table(&client, &plan, &Storage::default())
        .await
        .unwrap();
    client
        .batch_execute(
            "SET TimeZone = 'America/New_York';
             INSERT INTO \"Read Back\".\"every type\" VALUES (
               7, true, -2, 5000000000, 1.5, 0.1, '1.50', '12.5', 'é', '\\x00ff',
               '2000-01-02', '2000-01-01 00:00:01.5', '2000-01-01 00:00:00+00',
               '{\"b\": 1, \"a\": [true]}', '00000000-0000-0000-0000-0000000000ff'),
             (8, NULL, NULL, NULL, 'NaN', '-Infinity', '-0.000100', 'NaN', NULL, NULL,
               '1999-12-31', 'infinity', '-infinity', '\"x\"', NULL),
             (9, NULL, NULL, NULL, NULL, NULL, '-Infinity', NULL, NULL, NULL, NULL, NULL, NULL,
               NULL, NULL)",
        )
        .await
        .unwrap();
    let back = read_all(&client, &plan, RowFilter::All).await;
    let text = |s: &'static str| Cow::Borrowed(s);
    let mut uuid = [0; 16];
    uuid[15] = 0xff;
    let expected = vec![
        vec![
            PgValue::Int4(7),
            PgValue::Bool(true),
            PgValue::Int2(-2),
            PgValue::Int8(5_000_000_000),
            PgValue::Float4(1.5),
            PgValue::Float8(0.1),
            PgValue::Numeric(text("1.50")),
            PgValue::Numeric(text("12.5000")),
            PgValue::Text(text("é")),
            PgValue::Bytea(Cow::Borrowed(&[0, 255])),
            PgValue::Date(1),
            PgValue::Timestamp(1_500_000),
            PgValue::Timestamptz(0),
            PgValue::Jsonb(text(r#"{"a": [true], "b": 1}"#)),
            PgValue::Uuid(uuid),
        ],
        vec![
            PgValue::Int4(8),
            PgValue::Null,
            PgValue::Null,
            PgValue::Null,
            PgValue::Float4(f32::NAN),
            PgValue::Float8(f64::NEG_INFINITY),
            PgValue::Numeric(text("-0.000100")),
            PgValue::Numeric(text("NaN")),
            PgValue::Null,
            PgValue::Null,
            PgValue::Date(-1),
            PgValue::Timestamp(i64::MAX),
            PgValue::Timestamptz(i64::MIN),
            PgValue::Jsonb(text("\"x\"")),
            PgValue::Null,
        ],
        [PgValue::Int4(9), PgValue::Null]
            .into_iter()
            .chain(std::iter::repeat_n(PgValue::Null, 4))
            .chain([PgValue::Numeric(text("-Infinity"))])
            .chain(std::iter::repeat_n(PgValue::Null, 8))
            .collect(),
    ];
    assert!(same_rows(&back, &expected), "{back:#?}");
}

fn keyed() -> TablePlan {
    let mut plan = plan(
        "keyed",
        vec![
            column("id", PgType::Integer),
            column("Folder", PgType::Text),
            column("n", PgType::Numeric(None)),
        ],
    );
    plan.primary_key = vec!["id".to_owned(), "Folder".to_owned()];
    plan
}

fn keyed_rows(ids: std::ops::Range<i32>) -> Vec<Vec<PgValue<'static>>> {
    ids.map(|id| {
        vec![
            PgValue::Int4(id),
            PgValue::Text(Cow::Owned(format!("f'{}", id % 3))),
            PgValue::Numeric(Cow::Owned(format!("{id}.5"))),
        ]
    })
    .collect()
}

#[tokio::test]
async fn filters_select_ranges_and_keys() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let plan = keyed();
    let rows = keyed_rows(0..2500);
    load(&mut client, &plan, &rows, &[]).await;

    // Overlapping ranges read each row once, through the key's index.
    let mut range = read_all(
        &client,
        &plan,
        RowFilter::KeyRanges {
            column: "id",
            ranges: &[(10, 19), (2400, 9999), (15, 16), (-5, 1)],
        },
    )
    .await;
    range.sort_by_key(|row| match row[0] {
        PgValue::Int4(id) => id,
        _ => unreachable!("the key is an integer"),
    });
    let expected: Vec<_> = rows[0..2]
        .iter()
        .chain(&rows[10..20])
        .chain(&rows[2400..])
        .cloned()
        .collect();
    assert_eq!(range, expected);

    // Composite keys, more than one batch, one key missing and a NULL
    // that matches nothing; key values of another integer width still
    // match.
    let columns = plan.primary_key.clone();
    let mut keys: Vec<Vec<PgValue<'_>>> = (0..2200)
        .map(|id| vec![PgValue::Int8(id), rows[id as usize][1].clone()])
        .collect();
    keys.push(vec![PgValue::Int4(1), PgValue::Text(Cow::Borrowed("nope"))]);
    keys.push(vec![PgValue::Int4(2), PgValue::Null]);
    let found = read_all(
        &client,
        &plan,
        RowFilter::Keys {
            columns: &columns,
            keys: &keys,
        },
    )
    .await;
    assert_eq!(found, rows[..2200]);

    let one_column = ["id".to_owned()];
    let keys = [vec![PgValue::Int4(7)], vec![PgValue::Int4(9)]];
    let found = read_all(
        &client,
        &plan,
        RowFilter::Keys {
            columns: &one_column,
            keys: &keys,
        },
    )
    .await;
    assert_eq!(found, [rows[7].clone(), rows[9].clone()]);

    // The callback's error stops the stream and comes back as it was; the
    // connection stays usable.
    let mut seen = 0;
    let stopped = stream_rows(&client, &plan, RowFilter::All, &mut |_| {
        seen += 1;
        if seen == 5 {
            Err(format!("enough at row {seen}"))
        } else {
            Ok(())
        }
    })
    .await;
    match stopped {
        Err(WriteOrRow::Row(message)) => assert_eq!(message, "enough at row 5"),
        other => panic!("the callback's error, not {other:?}"),
    }
    assert_eq!(seen, 5);
    assert_eq!(
        count_rows(&client, &plan.schema, &plan.name).await.unwrap(),
        2500
    );
}

#[tokio::test]
async fn read_errors_name_the_table_and_column() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let plan = keyed();
    load(&mut client, &plan, &keyed_rows(0..3), &[]).await;

    let missing = plan_named(&plan, "absent");
    let err = stream_rows(&client, &missing, RowFilter::All, &mut |_| {
        Ok::<_, Infallible>(())
    })
    .await
    .map_err(WriteError::from)
    .unwrap_err();
    assert_eq!(err.sqlstate(), Some("42P01"), "{err}");
    assert!(count_rows(&client, &plan.schema, "absent").await.is_err());

    client
        .batch_execute(
            "ALTER TABLE \"Read Back\".keyed ALTER COLUMN n TYPE interval USING '1 day'::interval",
        )
        .await
        .unwrap();
    let err = stream_rows(&client, &plan, RowFilter::All, &mut |_| {
        Ok::<_, Infallible>(())
    })
    .await
    .map_err(WriteError::from)
    .unwrap_err();
    match &err {
        WriteError::UnsupportedType {
            table,
            column,
            type_name,
        } => {
            assert_eq!(
                (table.as_str(), column.as_str(), type_name.as_str()),
                ("Read Back.keyed", "n", "interval")
            );
        }
        other => panic!("{other:?}"),
    }

    // A column changed to text reads as what it holds.
    client
        .batch_execute("ALTER TABLE \"Read Back\".keyed ALTER COLUMN n TYPE varchar(10)")
        .await
        .unwrap();
    let back = read_all(&client, &plan, RowFilter::All).await;
    assert_eq!(back[0][2], PgValue::Text(Cow::Borrowed("1 day")));
}

fn plan_named(plan: &TablePlan, name: &str) -> TablePlan {
    let mut plan = plan.clone();
    plan.name = name.to_owned();
    plan
}

async fn rejects(client: &Client, schema: &str, table: &str) -> Vec<(String, String, String)> {
    fetch_rejects(client, schema, table).await.unwrap()
}

#[tokio::test]
async fn rejects_are_read_for_the_last_copy_of_a_target_table() {
    let db = TestDb::new().await;
    let mut client = db.client().await;
    let plan = keyed();
    assert!(rejects(&client, &plan.schema, &plan.name).await.is_empty());

    ensure_rejects_table(&mut client).await.unwrap();
    let reject = |id: i64, reason: &str| Reject {
        table: String::new(),
        key: RowKey::rowid(id),
        column: "n".to_owned(),
        reason: reason.to_owned(),
        value: SourceValue::Text(b"abc".to_vec()),
    };
    load(
        &mut client,
        &plan,
        &keyed_rows(0..2),
        &[reject(5, "not a number"), reject(6, "too 'big'")],
    )
    .await;
    let both = [
        (
            "rowid=5".to_owned(),
            "n".to_owned(),
            "not a number".to_owned(),
        ),
        ("rowid=6".to_owned(), "n".to_owned(), "too 'big'".to_owned()),
    ];
    assert_eq!(rejects(&client, &plan.schema, &plan.name).await, both);
    // Same table name, another schema: not this table's rejects.
    assert!(rejects(&client, "public", &plan.name).await.is_empty());
    assert!(rejects(&client, &plan.schema, "other").await.is_empty());

    // A later copy of the table (fixed source, recopied) started after
    // those rejects: they no longer describe the target.
    ensure_ledger(&mut client).await.unwrap();
    let chunk = PlannedChunk {
        table: plan.name.clone(),
        index: 0,
        rowids: Some((1, 2)),
    };
    let new_copy = |copy_id, target_schema| NewCopy {
        copy_id,
        target_schema,
        source_fingerprint: "fingerprint",
        plan_fingerprint: "plan",
        chunk_rows: 10,
        created_tables: &[],
        tables: &[],
    };
    register_copy(
        &mut client,
        &new_copy("other-copy", "elsewhere"),
        std::slice::from_ref(&chunk),
    )
    .await
    .unwrap();
    assert_eq!(
        rejects(&client, &plan.schema, &plan.name).await,
        both,
        "a copy into another schema does not hide them"
    );
    register_copy(&mut client, &new_copy("recopy", &plan.schema), &[chunk])
        .await
        .unwrap();
    assert!(rejects(&client, &plan.schema, &plan.name).await.is_empty());
}

#[tokio::test]
async fn located_rows_are_read_back_by_locator_across_leaves() {
    let db = TestDb::new().await;
    let client = db.client().await;
    client
        .batch_execute(
            "CREATE TABLE parted (id int8, name text) PARTITION BY RANGE (id);
             CREATE TABLE parted_low PARTITION OF parted FOR VALUES FROM (0) TO (100);
             CREATE TABLE parted_high PARTITION OF parted FOR VALUES FROM (100) TO (200);
             INSERT INTO parted VALUES (1, 'a'), (2, 'b'), (101, 'c'), (102, 'd');",
        )
        .await
        .unwrap();
    let mut plan = common::plan(
        "parted",
        vec![column("id", PgType::BigInt), column("name", PgType::Text)],
    );
    plan.schema = "public".to_owned();
    let mut located = Vec::new();
    let count = stream_located_rows(&client, &plan, &mut |at, values| {
        located.push((
            at,
            values
                .iter()
                .cloned()
                .map(PgValue::into_owned)
                .collect::<Vec<_>>(),
        ));
        Ok::<_, Infallible>(())
    })
    .await
    .unwrap();
    assert_eq!(count, 4);
    // The first row of each leaf has the same tuple id in another table.
    let wanted: Vec<_> = located
        .iter()
        .filter(|(_, values)| values[0] == PgValue::Int8(1) || values[0] == PgValue::Int8(102))
        .map(|(at, _)| *at)
        .collect();
    let mut back = fetch_located(&client, &plan, &wanted).await.unwrap();
    back.sort_by_key(|(at, _)| wanted.iter().position(|w| w == at));
    let ids: Vec<_> = back.iter().map(|(_, values)| values[0].clone()).collect();
    assert_eq!(ids, [PgValue::Int8(1), PgValue::Int8(102)]);
    assert_eq!(back[1].1[1], PgValue::Text(Cow::Borrowed("d")));

    // A row updated since it was located is gone from its old place.
    client
        .batch_execute("UPDATE parted SET name = 'z' WHERE id = 1")
        .await
        .unwrap();
    let back = fetch_located(&client, &plan, &wanted[..1]).await.unwrap();
    assert!(back.is_empty(), "{back:?}");
}

#[tokio::test]
async fn inspect_sees_what_the_plan_created() {
    let db = TestDb::new().await;
    let client = db.client().await;
    let mut customer = plan("customer", vec![column("id", PgType::BigInt)]);
    customer.primary_key = vec!["id".to_owned()];
    let id = column("id", PgType::BigInt).identity();
    let at = column("at", PgType::Timestamptz).not_null();
    let mut order = plan(
        "Order",
        vec![
            id,
            column("customer_id", PgType::BigInt),
            column("total", PgType::Numeric(Some((10, 2)))),
            at,
            column("note", PgType::Text),
        ],
    );
    order.primary_key = vec!["id".to_owned()];
    order.uniques = vec![UniquePlan {
        name: "order_at_id_key".to_owned(),
        columns: vec!["at".to_owned(), "id".to_owned()],
        deferrable: true,
    }];
    order.indexes = vec![IndexPlan {
        name: "order_total".to_owned(),
        unique: false,
        key_sql: vec!["\"total\" DESC".to_owned()],
        where_sql: None,
    }];
    order.foreign_keys = vec![ForeignKeyPlan {
        name: "order_customer_fk".to_owned(),
        columns: vec!["customer_id".to_owned()],
        referenced_table: "customer".to_owned(),
        referenced_columns: vec!["id".to_owned()],
        on_update: "NO ACTION".to_owned(),
        on_delete: "CASCADE".to_owned(),
        initially_deferred: false,
    }];
    for plan in [&customer, &order] {
        create_table(&client, plan, &Storage::default())
            .await
            .unwrap();
        for step in post_load_steps(plan).iter().chain(&constraint_steps(plan)) {
            run_step(&client, step).await.unwrap();
        }
    }

    assert_eq!(
        inspect_table(&client, "Read Back", "absent").await.unwrap(),
        None
    );
    let actual = inspect_table(&client, "Read Back", "Order")
        .await
        .unwrap()
        .unwrap();
    let columns: Vec<_> = actual
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.pg_type.as_str(), c.not_null))
        .collect();
    assert_eq!(
        columns,
        [
            ("id", "bigint", true),
            ("customer_id", "bigint", false),
            ("total", "numeric(10,2)", false),
            ("at", "timestamp with time zone", true),
            ("note", "text", false),
        ]
    );
    assert_eq!(actual.primary_key, ["id"]);
    assert_eq!(actual.unique_constraints, [["at", "id"]]);
    assert_eq!(
        actual.indexes,
        ["Order_pkey", "order_at_id_key", "order_total"]
    );
    assert_eq!(actual.foreign_keys, ["order_customer_fk"]);
    assert_eq!(actual.identity_columns, ["id"]);
    assert_eq!(schema_differences(&order, &actual), Vec::<String>::new());

    client
        .batch_execute(
            "ALTER TABLE \"Read Back\".\"Order\" ALTER COLUMN total TYPE text;
             ALTER TABLE \"Read Back\".\"Order\" DROP COLUMN note;
             DROP INDEX \"Read Back\".order_total;
             ALTER TABLE \"Read Back\".\"Order\" DROP CONSTRAINT order_customer_fk;
             ALTER TABLE \"Read Back\".\"Order\" ADD COLUMN extra int",
        )
        .await
        .unwrap();
    let actual = inspect_table(&client, "Read Back", "Order")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        schema_differences(&order, &actual),
        [
            "column total: type differs: expected numeric(10,2) found text",
            "missing column note (text)",
            "extra column extra (integer) not in the plan",
            "missing index order_total",
            "missing foreign key order_customer_fk (customer_id) referencing customer",
        ]
    );
}
