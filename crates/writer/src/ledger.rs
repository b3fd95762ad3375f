//! The chunk ledger: which chunks of a copy exist and which have committed,
//! kept in the target so a copy survives the process that started it.
//!
//! Every chunk of a copy is a row of `ferry.chunks`, written `pending` when
//! the copy starts. A worker claims one inside the transaction that will
//! COPY it (`FOR UPDATE SKIP LOCKED`, so concurrent workers, in one process
//! or several, never take the same chunk) and marks it `done` in that same
//! transaction. A chunk's rows and its ledger row therefore commit
//! together or not at all: a crash, a kill or a lost connection leaves the
//! chunk `pending` with none of its rows, and the next worker redoes it.
//! That is what makes a copy resumable without duplicating a row.
//!
//! Every table of a copy is also a row of `ferry.builds`: its keys,
//! indexes and statistics, built once its last chunk has committed, by the
//! one session that holds the table's advisory lock ([`claim_build`]).

use tokio_postgres::Client;

use crate::trust::OwnTable;
use crate::WriteError;

const WHERE: &str = "ferry ledger";

/// The ledger's tables, created if missing.
pub fn ledger_sql() -> String {
    format!(
        "{};
     CREATE TABLE IF NOT EXISTS \"ferry\".\"copies\" (
         copy_id text PRIMARY KEY,
         target_schema text NOT NULL,
         source_fingerprint text NOT NULL,
         chunk_rows bigint NOT NULL,
         created_tables text[] NOT NULL,
         status text NOT NULL CHECK (status IN ('loading', 'indexing', 'done')),
         started_at timestamptz NOT NULL DEFAULT now(),
         finished_at timestamptz,
         plan_fingerprint text
     );
     DO $ferry$ BEGIN
         IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
                         WHERE attrelid = '\"ferry\".\"copies\"'::regclass
                           AND attname = 'plan_fingerprint' AND NOT attisdropped) THEN
             ALTER TABLE \"ferry\".\"copies\" ADD COLUMN plan_fingerprint text;
         END IF;
     END $ferry$;
     CREATE TABLE IF NOT EXISTS \"ferry\".\"chunks\" (
         copy_id text NOT NULL REFERENCES \"ferry\".\"copies\" ON DELETE CASCADE,
         target_table text NOT NULL,
         chunk_index integer NOT NULL,
         claim_order integer NOT NULL,
         rowid_start bigint,
         rowid_end bigint,
         status text NOT NULL CHECK (status IN ('pending', 'done')),
         rows_read bigint,
         rows_written bigint,
         rows_rejected bigint,
         committed_at timestamptz,
         PRIMARY KEY (copy_id, target_table, chunk_index)
     );
     CREATE TABLE IF NOT EXISTS \"ferry\".\"builds\" (
         copy_id text NOT NULL REFERENCES \"ferry\".\"copies\" ON DELETE CASCADE,
         target_table text NOT NULL,
         claim_order integer NOT NULL,
         status text NOT NULL CHECK (status IN ('pending', 'building', 'done')),
         builder_pid integer,
         started_at timestamptz,
         finished_at timestamptz,
         PRIMARY KEY (copy_id, target_table)
     );",
        crate::ddl::create_schema_sql("ferry")
    )
}

/// `ferry.copies` as [`ledger_sql`] creates it (see [`crate::trust`]).
pub(crate) const COPIES: OwnTable = OwnTable {
    name: "copies",
    columns: &[
        ("copy_id", "text", true),
        ("target_schema", "text", true),
        ("source_fingerprint", "text", true),
        ("chunk_rows", "bigint", true),
        ("created_tables", "text[]", true),
        ("status", "text", true),
        ("started_at", "timestamp with time zone", true),
        ("finished_at", "timestamp with time zone", false),
        ("plan_fingerprint", "text", false),
    ],
    constraints: &[("copies_pkey", "p"), ("copies_status_check", "c")],
};

/// `ferry.chunks` as [`ledger_sql`] creates it.
pub(crate) const CHUNKS: OwnTable = OwnTable {
    name: "chunks",
    columns: &[
        ("copy_id", "text", true),
        ("target_table", "text", true),
        ("chunk_index", "integer", true),
        ("claim_order", "integer", true),
        ("rowid_start", "bigint", false),
        ("rowid_end", "bigint", false),
        ("status", "text", true),
        ("rows_read", "bigint", false),
        ("rows_written", "bigint", false),
        ("rows_rejected", "bigint", false),
        ("committed_at", "timestamp with time zone", false),
    ],
    constraints: &[
        ("chunks_pkey", "p"),
        ("chunks_copy_id_fkey", "f"),
        ("chunks_status_check", "c"),
    ],
};

/// `ferry.builds` as [`ledger_sql`] creates it.
pub(crate) const BUILDS: OwnTable = OwnTable {
    name: "builds",
    columns: &[
        ("copy_id", "text", true),
        ("target_table", "text", true),
        ("claim_order", "integer", true),
        ("status", "text", true),
        ("builder_pid", "integer", false),
        ("started_at", "timestamp with time zone", false),
        ("finished_at", "timestamp with time zone", false),
    ],
    constraints: &[
        ("builds_pkey", "p"),
        ("builds_copy_id_fkey", "f"),
        ("builds_status_check", "c"),
    ],
};

/// Creates the ledger's schema and tables if they are missing, after
/// checking that whatever exists of them is ferry's own (see
/// the `trust` module): ferry writes to them as whoever runs it.
///
/// Processes started together all run this: concurrent `CREATE … IF NOT
/// EXISTS` of one object can still fail on the catalog's unique index, so
/// the DDL runs in one transaction behind a transaction-scoped advisory
/// lock, and later arrivals find the objects committed.
///
/// # Errors
///
/// [`WriteError::Untrusted`] naming the object when schema `ferry` or a
/// ledger table is not provably ferry's; another [`WriteError`] if the DDL
/// fails (for example, no CREATE privilege on the database for schema
/// `ferry`).
pub async fn ensure_ledger(client: &mut Client) -> Result<(), WriteError> {
    crate::trust::ensure_own_tables(
        client,
        &[&COPIES, &CHUNKS, &BUILDS],
        &ledger_sql(),
        "create the ledger",
    )
    .await
}

/// A copy as the ledger remembers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyRecord {
    /// What the source looked like when the copy started.
    pub source_fingerprint: String,
    /// The chunk size the copy was planned with.
    pub chunk_rows: u64,
    /// What the target was planned to look like (types, overrides,
    /// chunking); `None` for a copy recorded before ferry kept it.
    pub plan_fingerprint: Option<String>,
    /// Tables the copy created, and so builds keys and indexes for.
    pub created_tables: Vec<String>,
    /// `loading`, `indexing` or `done`.
    pub status: String,
}

/// One chunk of a copy, as planned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedChunk {
    /// Target table name (in the copy's schema).
    pub table: String,
    /// Position of the chunk within its table.
    pub index: i32,
    /// Inclusive rowid range; `None` for a table read whole.
    pub rowids: Option<(i64, i64)>,
}

/// The ledger's record of `copy_id`, if any.
///
/// # Errors
///
/// A [`WriteError`] if the query fails.
pub async fn copy_record(client: &Client, copy_id: &str) -> Result<Option<CopyRecord>, WriteError> {
    let row = client
        .query_opt(
            "SELECT source_fingerprint, chunk_rows, created_tables, status, plan_fingerprint
               FROM \"ferry\".\"copies\" WHERE copy_id = $1",
            &[&copy_id],
        )
        .await
        .map_err(|e| WriteError::from_pg(WHERE, "read the copy's record", e))?;
    Ok(row.map(|row| CopyRecord {
        source_fingerprint: row.get(0),
        chunk_rows: u64::try_from(row.get::<_, i64>(1)).unwrap_or(0),
        created_tables: row.get(2),
        status: row.get(3),
        plan_fingerprint: row.get(4),
    }))
}

/// What [`register_copy`] records about a new copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCopy<'a> {
    /// The copy's name (its target schema and table set).
    pub copy_id: &'a str,
    /// The target schema.
    pub target_schema: &'a str,
    /// What the source looked like.
    pub source_fingerprint: &'a str,
    /// What the target was planned to look like.
    pub plan_fingerprint: &'a str,
    /// The chunk size.
    pub chunk_rows: u64,
    /// Tables the copy created.
    pub created_tables: &'a [String],
    /// Every table of the copy, in the order their keys and indexes are
    /// to be built when several can be (see [`claim_build`]).
    pub tables: &'a [String],
}

/// Starts a copy anew: forgets any earlier record of it and writes every
/// chunk, and every table's build, as pending, in one transaction. Chunks
/// are claimed in the order given.
///
/// # Errors
///
/// A [`WriteError`] if a statement fails; nothing is then recorded.
pub async fn register_copy(
    client: &mut Client,
    copy: &NewCopy<'_>,
    chunks: &[PlannedChunk],
) -> Result<(), WriteError> {
    let NewCopy {
        copy_id,
        target_schema,
        source_fingerprint,
        plan_fingerprint,
        chunk_rows,
        created_tables,
        tables,
    } = *copy;
    let fail = |action| move |e| WriteError::from_pg(WHERE, action, e);
    let transaction = client.transaction().await.map_err(fail("begin"))?;
    transaction
        .execute(
            "DELETE FROM \"ferry\".\"copies\" WHERE copy_id = $1",
            &[&copy_id],
        )
        .await
        .map_err(fail("forget the earlier copy"))?;
    let chunk_rows = i64::try_from(chunk_rows).unwrap_or(i64::MAX);
    transaction
        .execute(
            "INSERT INTO \"ferry\".\"copies\"
                 (copy_id, target_schema, source_fingerprint, chunk_rows, created_tables, status,
                  plan_fingerprint)
             VALUES ($1, $2, $3, $4, $5, 'loading', $6)",
            &[
                &copy_id,
                &target_schema,
                &source_fingerprint,
                &chunk_rows,
                &created_tables,
                &plan_fingerprint,
            ],
        )
        .await
        .map_err(fail("record the copy"))?;
    let insert = transaction
        .prepare(
            "INSERT INTO \"ferry\".\"chunks\"
                 (copy_id, target_table, chunk_index, claim_order, rowid_start, rowid_end, status)
             VALUES ($1, $2, $3, $4, $5, $6, 'pending')",
        )
        .await
        .map_err(fail("record the chunks"))?;
    for (order, chunk) in chunks.iter().enumerate() {
        let order = i32::try_from(order).unwrap_or(i32::MAX);
        let (start, end) = match chunk.rowids {
            Some((start, end)) => (Some(start), Some(end)),
            None => (None, None),
        };
        transaction
            .execute(
                &insert,
                &[&copy_id, &chunk.table, &chunk.index, &order, &start, &end],
            )
            .await
            .map_err(fail("record the chunks"))?;
    }
    let insert = transaction
        .prepare(
            "INSERT INTO \"ferry\".\"builds\" (copy_id, target_table, claim_order, status)
             VALUES ($1, $2, $3, 'pending')",
        )
        .await
        .map_err(fail("record the builds"))?;
    for (order, table) in tables.iter().enumerate() {
        let order = i32::try_from(order).unwrap_or(i32::MAX);
        transaction
            .execute(&insert, &[&copy_id, table, &order])
            .await
            .map_err(fail("record the builds"))?;
    }
    transaction.commit().await.map_err(fail("commit the plan"))
}

/// Moves the copy to `to` if it is in `from`; `true` when this call made
/// the move, so exactly one of several processes wins it.
///
/// # Errors
///
/// A [`WriteError`] if the update fails.
pub async fn advance_copy(
    client: &Client,
    copy_id: &str,
    from: &str,
    to: &str,
) -> Result<bool, WriteError> {
    let finished = if to == "done" { "now()" } else { "NULL" };
    let moved = client
        .execute(
            &format!(
                "UPDATE \"ferry\".\"copies\" SET status = $3, finished_at = {finished}
                  WHERE copy_id = $1 AND status = $2"
            ),
            &[&copy_id, &from, &to],
        )
        .await
        .map_err(|e| WriteError::from_pg(WHERE, "update the copy's status", e))?;
    Ok(moved == 1)
}

/// Chunks of the copy not committed yet (including those other workers
/// are copying right now).
///
/// # Errors
///
/// A [`WriteError`] if the query fails.
pub async fn pending_chunks(client: &Client, copy_id: &str) -> Result<u64, WriteError> {
    let row = client
        .query_one(
            "SELECT count(*) FROM \"ferry\".\"chunks\" WHERE copy_id = $1 AND status = 'pending'",
            &[&copy_id],
        )
        .await
        .map_err(|e| WriteError::from_pg(WHERE, "count pending chunks", e))?;
    Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}

/// The advisory lock a process holds while it builds `table`'s keys and
/// indexes.
fn build_lock(copy_id: &str, table: &str) -> String {
    format!("ferry build {copy_id} {}", ferry_model::quote_ident(table))
}

/// Claims the build of the next table whose chunks have all committed and
/// whose keys and indexes are not built yet, in the build order recorded
/// with the copy, for this session: `None` when no such table is free.
///
/// Exactly one session of all processes of a copy builds a table: it holds
/// the table's session advisory lock while it builds, and takes the build
/// only when, under that lock, the ledger still says it is not done. The
/// ledger then names the builder (`status = 'building'`, `builder_pid`).
/// A process that dies mid-build leaves the status `building`, but its
/// lock goes with its backend (once a statement in flight ends), so the
/// next claim takes the build over; each step looks for what it would
/// create first, so nothing is built twice. Release the claim with
/// [`finish_build`] or [`release_build`].
///
/// # Errors
///
/// A [`WriteError`] if a query fails.
pub async fn claim_build(client: &Client, copy_id: &str) -> Result<Option<String>, WriteError> {
    let fail = |action| move |e| WriteError::from_pg(WHERE, action, e);
    let ready: Vec<String> = client
        .query(
            "SELECT b.target_table FROM \"ferry\".\"builds\" b
              WHERE b.copy_id = $1 AND b.status <> 'done'
                AND NOT EXISTS (SELECT 1 FROM \"ferry\".\"chunks\" c
                                 WHERE c.copy_id = b.copy_id AND c.target_table = b.target_table
                                   AND c.status = 'pending')
              ORDER BY b.claim_order",
            &[&copy_id],
        )
        .await
        .map_err(fail("look for tables to build"))?
        .iter()
        .map(|row| row.get(0))
        .collect();
    for table in ready {
        let lock = build_lock(copy_id, &table);
        if !crate::try_advisory_lock(client, &lock, false).await? {
            continue;
        }
        // Under the lock: another session may have built it since the
        // list was read, or a requeued chunk made it pending again.
        let claimed = client
            .execute(
                "UPDATE \"ferry\".\"builds\" b
                    SET status = 'building', builder_pid = pg_backend_pid(), started_at = now(),
                        finished_at = NULL
                  WHERE b.copy_id = $1 AND b.target_table = $2 AND b.status <> 'done'
                    AND NOT EXISTS (SELECT 1 FROM \"ferry\".\"chunks\" c
                                     WHERE c.copy_id = b.copy_id
                                       AND c.target_table = b.target_table
                                       AND c.status = 'pending')",
                &[&copy_id, &table],
            )
            .await
            .map_err(fail("claim a table's build"))?;
        if claimed == 1 {
            return Ok(Some(table));
        }
        crate::advisory_unlock(client, &lock, false).await?;
    }
    Ok(None)
}

/// Records `table`'s build done and releases the claim of [`claim_build`].
///
/// # Errors
///
/// A [`WriteError`] if a query fails.
pub async fn finish_build(client: &Client, copy_id: &str, table: &str) -> Result<(), WriteError> {
    client
        .execute(
            "UPDATE \"ferry\".\"builds\" SET status = 'done', finished_at = now()
              WHERE copy_id = $1 AND target_table = $2",
            &[&copy_id, &table],
        )
        .await
        .map_err(|e| WriteError::from_pg(WHERE, "record a table's build done", e))?;
    release_build(client, copy_id, table).await
}

/// Releases the claim of [`claim_build`] without recording the build done
/// (a step failed): another session may take it over.
///
/// # Errors
///
/// A [`WriteError`] if the unlock fails.
pub async fn release_build(client: &Client, copy_id: &str, table: &str) -> Result<(), WriteError> {
    crate::advisory_unlock(client, &build_lock(copy_id, table), false).await
}

/// Builds of the copy not done yet, and whether the copy records builds at
/// all (a copy an older ferry started does not: its keys and indexes are
/// all built at the end).
///
/// # Errors
///
/// A [`WriteError`] if the query fails.
pub async fn pending_builds(client: &Client, copy_id: &str) -> Result<(u64, bool), WriteError> {
    let row = client
        .query_one(
            "SELECT count(*) FILTER (WHERE status <> 'done'), count(*)
               FROM \"ferry\".\"builds\" WHERE copy_id = $1",
            &[&copy_id],
        )
        .await
        .map_err(|e| WriteError::from_pg(WHERE, "count pending builds", e))?;
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok((count(row.get(0)), row.get::<_, i64>(1) > 0))
}

/// Per target table: rows read, written and rejected by every committed
/// chunk of the copy, whichever process committed them.
///
/// # Errors
///
/// A [`WriteError`] if the query fails.
pub async fn committed_rows(
    client: &Client,
    copy_id: &str,
) -> Result<Vec<(String, u64, u64, u64)>, WriteError> {
    let rows = client
        .query(
            "SELECT target_table, sum(rows_read)::bigint, sum(rows_written)::bigint, sum(rows_rejected)::bigint
               FROM \"ferry\".\"chunks\" WHERE copy_id = $1 AND status = 'done'
              GROUP BY target_table",
            &[&copy_id],
        )
        .await
        .map_err(|e| WriteError::from_pg(WHERE, "sum committed chunks", e))?;
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(rows
        .iter()
        .map(|r| (r.get(0), count(r.get(1)), count(r.get(2)), count(r.get(3))))
        .collect())
}

/// Holds the copy's session advisory lock while `setup` decides who
/// creates tables and who builds indexes, so concurrent processes take
/// turns. The lock is released when `unlock_copy` runs or the session ends.
///
/// # Errors
///
/// A [`WriteError`] if the lock query fails.
pub async fn lock_copy(client: &Client, copy_id: &str) -> Result<(), WriteError> {
    client
        .execute(
            "SELECT pg_advisory_lock(hashtextextended($1, 0))",
            &[&copy_id],
        )
        .await
        .map_err(|e| WriteError::from_pg(WHERE, "take the copy's lock", e))?;
    Ok(())
}

/// Releases [`lock_copy`].
///
/// # Errors
///
/// A [`WriteError`] if the unlock query fails.
pub async fn unlock_copy(client: &Client, copy_id: &str) -> Result<(), WriteError> {
    client
        .execute(
            "SELECT pg_advisory_unlock(hashtextextended($1, 0))",
            &[&copy_id],
        )
        .await
        .map_err(|e| WriteError::from_pg(WHERE, "release the copy's lock", e))?;
    Ok(())
}

/// Tables of `schema` that are still `UNLOGGED` (an `--unlogged` copy not
/// yet set logged), among `tables`.
///
/// # Errors
///
/// A [`WriteError`] if the catalog cannot be read.
pub async fn unlogged_tables(
    client: &Client,
    schema: &str,
    tables: &[String],
) -> Result<Vec<String>, WriteError> {
    let rows = client
        .query(
            "SELECT c.relname::text FROM pg_catalog.pg_class c
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = $1 AND c.relname = ANY($2) AND c.relpersistence = 'u'
              ORDER BY 1",
            &[&schema, &tables],
        )
        .await
        .map_err(|e| WriteError::from_pg(WHERE, "look for unlogged tables", e))?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// A server crash empties every `UNLOGGED` table, committed chunks and
/// all, while the ledger still says those chunks are done. For each
/// unlogged table of the copy that is empty although its committed chunks
/// wrote rows, marks those chunks pending again (and the copy `loading`),
/// so they are loaded anew instead of being lost. Returns the tables
/// requeued. Cheap and idempotent: run it whenever a connection came back
/// and when a copy resumes.
///
/// # Errors
///
/// A [`WriteError`] if a query fails.
pub async fn requeue_lost_unlogged(
    client: &Client,
    copy_id: &str,
    schema: &str,
    tables: &[String],
) -> Result<Vec<String>, WriteError> {
    let mut requeued = Vec::new();
    for table in unlogged_tables(client, schema, tables).await? {
        let display = format!("{schema}.{table}");
        let written: Option<i64> = client
            .query_one(
                "SELECT sum(rows_written)::bigint FROM \"ferry\".\"chunks\"
                  WHERE copy_id = $1 AND target_table = $2 AND status = 'done'",
                &[&copy_id, &table],
            )
            .await
            .map_err(|e| WriteError::from_pg(WHERE, "sum committed chunks", e))?
            .get(0);
        if written.unwrap_or(0) == 0 {
            continue;
        }
        let holds_rows: bool = client
            .query_one(
                &format!(
                    "SELECT EXISTS (SELECT 1 FROM {})",
                    ferry_model::quote_qualified(schema, &table)
                ),
                &[],
            )
            .await
            .map_err(|e| WriteError::from_pg(&display, "check whether the table is empty", e))?
            .get(0);
        if holds_rows {
            continue;
        }
        // The rows those chunks quarantined outlived the crash (ferry's own
        // tables are logged) and are recorded again when the chunks are
        // copied anew: they go with the chunks.
        let forget_rejects = if rejects_table_exists(client).await? {
            ", forgotten AS (
                 DELETE FROM \"ferry\".\"rejects\" r USING \"ferry\".\"copies\" c
                  WHERE c.copy_id = $1 AND r.target_schema = c.target_schema
                    AND r.target_table = $2 AND r.created_at >= c.started_at
                    AND EXISTS (SELECT 1 FROM requeued))"
        } else {
            ""
        };
        // One statement, so the chunks, their rejects and the copy's status
        // move together.
        client
            .execute(
                &format!(
                    "WITH requeued AS (
                         UPDATE \"ferry\".\"chunks\"
                            SET status = 'pending', rows_read = NULL, rows_written = NULL,
                                rows_rejected = NULL, committed_at = NULL
                          WHERE copy_id = $1 AND target_table = $2 AND status = 'done'
                         RETURNING 1){forget_rejects}
                     UPDATE \"ferry\".\"copies\" SET status = 'loading', finished_at = NULL
                      WHERE copy_id = $1 AND EXISTS (SELECT 1 FROM requeued)"
                ),
                &[&copy_id, &table],
            )
            .await
            .map_err(|e| WriteError::from_pg(WHERE, "requeue the chunks of an emptied table", e))?;
        requeued.push(table);
    }
    Ok(requeued)
}

/// Whether `"ferry"."rejects"` exists (a quarantining copy created it).
async fn rejects_table_exists(client: &Client) -> Result<bool, WriteError> {
    Ok(client
        .query_one(
            "SELECT to_regclass('\"ferry\".\"rejects\"') IS NOT NULL",
            &[],
        )
        .await
        .map_err(|e| WriteError::from_pg(WHERE, "look for the rejects table", e))?
        .get(0))
}

/// The statement that claims the next pending chunk of a copy for the
/// calling transaction, skipping chunks other transactions hold.
pub(crate) fn claim_sql() -> &'static str {
    "SELECT target_table, chunk_index, rowid_start, rowid_end,
            NOT EXISTS (SELECT 1 FROM \"ferry\".\"chunks\" o
                         WHERE o.copy_id = c.copy_id AND o.target_table = c.target_table
                           AND o.chunk_index <> c.chunk_index) AS only_chunk
       FROM \"ferry\".\"chunks\" c
      WHERE copy_id = $1 AND status = 'pending'
      ORDER BY claim_order
      LIMIT 1
      FOR UPDATE OF c SKIP LOCKED"
}

/// The statement that marks a claimed chunk done, with its counts.
pub(crate) fn done_sql() -> &'static str {
    "UPDATE \"ferry\".\"chunks\"
        SET status = 'done', rows_read = $4, rows_written = $5, rows_rejected = $6, committed_at = now()
      WHERE copy_id = $1 AND target_table = $2 AND chunk_index = $3"
}
