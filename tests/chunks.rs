//! Chunks sized by bytes and claimed largest first, and keys built as soon
//! as a table's last chunk commits (issue 19), read from the ledger and
//! the target, not from timings.

use crate::target_safety::constraints;
use crate::util::{copy, TempSqlite, TestDb};

/// `wide`: 36 rows of 2 MiB (72 MiB, more than two chunks of 32 MiB);
/// `many`: 2,000 small rows.
fn source() -> TempSqlite {
    TempSqlite::new(
        "CREATE TABLE wide (id INTEGER PRIMARY KEY, body BLOB NOT NULL);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 36)
         INSERT INTO wide SELECT i, zeroblob(2097152) FROM n;
         CREATE TABLE many (id INTEGER PRIMARY KEY, v TEXT NOT NULL);
         CREATE INDEX many_v ON many (v);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
         INSERT INTO many SELECT i, 'row ' || i FROM n;",
    )
}

/// The ledger's chunks of `table`: (chunk index, claim order, rows written).
fn chunks(db: &TestDb, table: &str) -> Vec<(i32, i32, i64)> {
    db.client()
        .query(
            "SELECT chunk_index, claim_order, rows_written FROM ferry.chunks
              WHERE target_table = $1 AND status = 'done' ORDER BY chunk_index",
            &[&table],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

fn indexes(db: &TestDb, table: &str) -> Vec<String> {
    db.client()
        .query(
            "SELECT indexname::text FROM pg_indexes WHERE tablename = $1 ORDER BY 1",
            &[&table],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[test]
fn issue_19_large_rows_make_more_chunks_claimed_first() {
    let source = source();
    let db = TestDb::new();
    copy(&source.path, &db, &["--chunk-rows", "500"]).assert_ok();
    // 36 rows would be one chunk of at most 500 rows; 72 MiB make three of
    // 32 MiB at most.
    let wide = chunks(&db, "wide");
    assert_eq!(wide.len(), 3, "{wide:?}");
    assert_eq!(wide.iter().map(|c| c.2).sum::<i64>(), 36);
    assert!(wide.iter().all(|c| c.2 <= 12), "{wide:?}");
    // `many` is cut by the row cap: four chunks of 500 rows.
    let many = chunks(&db, "many");
    assert_eq!(many.len(), 4, "{many:?}");
    assert!(many.iter().all(|c| c.2 == 500), "{many:?}");
    // Largest first: every chunk of `wide` before any of `many`.
    let last_wide = wide.iter().map(|c| c.1).max().unwrap();
    let first_many = many.iter().map(|c| c.1).min().unwrap();
    assert!(last_wide < first_many, "{wide:?} {many:?}");
    let rows: i64 = db
        .client()
        .query_one(
            "SELECT count(*) FROM wide WHERE length(body) = 2097152",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(rows, 36);
}

/// One job: after the last chunk of `wide` (claimed first, being the
/// largest) commits, the writer builds `wide`'s key before it claims a
/// chunk of `many`, so the ledger records `wide` built before any chunk of
/// `many` committed.
#[test]
fn issue_19_a_finished_tables_keys_are_built_while_others_load() {
    let source = source();
    let db = TestDb::new();
    let run = copy(&source.path, &db, &["--chunk-rows", "500", "--jobs", "1"]);
    run.assert_ok();
    let mut pg = db.client();
    let row = pg
        .query_one(
            "SELECT b.status, b.finished_at < (SELECT min(committed_at) FROM ferry.chunks
                                               WHERE target_table = 'many'),
                    b.builder_pid IS NOT NULL
               FROM ferry.builds b WHERE b.target_table = 'wide'",
            &[],
        )
        .unwrap();
    let (status, before, named): (String, bool, bool) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(status, "done");
    assert!(before, "wide's keys were built after many's first chunk");
    assert!(named, "the ledger names no builder");
    let pending: i64 = pg
        .query_one(
            "SELECT count(*) FROM ferry.builds WHERE status <> 'done'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(pending, 0);
    // Progress says so too: wide's key line comes before many's table line.
    let key = run.stderr.find("primary key wide_pkey").expect(&run.stderr);
    let many = run.stderr.find("many: 2,000 rows").expect(&run.stderr);
    assert!(key < many, "{}", run.stderr);
    assert_eq!(constraints(&db, "wide"), ["wide_pkey"]);
    assert_eq!(indexes(&db, "many"), ["many_pkey", "many_v"]);
}

/// A process killed after a table's last chunk committed but before its
/// keys were built (here: the ledger put back in that state, the key
/// dropped and the build left `building` by a builder that is gone)
/// resumes by building them; so does a copy an older ferry recorded,
/// without builds in its ledger.
#[test]
fn issue_19_resume_after_a_kill_between_chunk_commit_and_key_build() {
    let source = source();
    let db = TestDb::new();
    copy(&source.path, &db, &["--chunk-rows", "500"]).assert_ok();
    let mut pg = db.client();
    pg.batch_execute(
        "ALTER TABLE many DROP CONSTRAINT many_pkey;
         DROP INDEX many_v;
         UPDATE ferry.builds SET status = 'building', finished_at = NULL
          WHERE target_table = 'many';
         UPDATE ferry.copies SET status = 'loading', finished_at = NULL;",
    )
    .unwrap();
    copy(&source.path, &db, &["--if-exists", "resume"]).assert_ok();
    assert_eq!(constraints(&db, "many"), ["many_pkey"]);
    assert_eq!(indexes(&db, "many"), ["many_pkey", "many_v"]);
    let statuses: Vec<String> = pg
        .query(
            "SELECT status FROM ferry.builds UNION ALL SELECT status FROM ferry.copies",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(statuses, ["done", "done", "done"]);

    pg.batch_execute(
        "ALTER TABLE wide DROP CONSTRAINT wide_pkey;
         DELETE FROM ferry.builds;
         UPDATE ferry.copies SET status = 'loading', finished_at = NULL;",
    )
    .unwrap();
    copy(&source.path, &db, &["--if-exists", "resume"]).assert_ok();
    assert_eq!(constraints(&db, "wide"), ["wide_pkey"]);
    let status: String = pg
        .query_one("SELECT status FROM ferry.copies", &[])
        .unwrap()
        .get(0);
    assert_eq!(status, "done");
}
