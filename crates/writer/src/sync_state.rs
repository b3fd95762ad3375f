//! What `ferry sync` remembers between runs, and the lock that keeps two
//! runs apart, both kept in the target so that nothing lives on the host
//! that runs cron.
//!
//! `ferry.sync_state` holds one row per target table: the strategy it was
//! synced with, its watermark and the counts of its last run. The row is
//! written in the same transaction as the table's changes (see
//! [`apply_changes`](crate::apply_changes)), so a run killed at any instant
//! leaves the table and its watermark as they were before that run, or as
//! they are after it, never a mix.

use ferry_model::{quote_ident, quote_qualified};
use tokio_postgres::Client;

use crate::trust::OwnTable;
use crate::WriteError;

const WHERE: &str = "ferry.sync_state";
const DIGESTS: &str = "ferry.sync_digests";

/// The sync state table, created if missing.
pub fn sync_state_sql() -> String {
    format!(
        "{};
     CREATE TABLE IF NOT EXISTS \"ferry\".\"sync_state\" (
         target_schema text NOT NULL,
         target_table text NOT NULL,
         source_table text NOT NULL,
         source text NOT NULL,
         mode text NOT NULL,
         cursor_column text,
         watermark bigint,
         watermark_text text,
         columns text[] NOT NULL,
         last_success_at timestamptz NOT NULL,
         seconds double precision NOT NULL,
         inserted bigint NOT NULL,
         updated bigint NOT NULL,
         deleted bigint NOT NULL,
         unchanged bigint NOT NULL,
         reconciled_at timestamptz,
         PRIMARY KEY (target_schema, target_table)
     );
     ALTER TABLE \"ferry\".\"sync_state\" ADD COLUMN IF NOT EXISTS reconciled_at timestamptz;
     CREATE TABLE IF NOT EXISTS \"ferry\".\"sync_digests\" (
         target_schema text NOT NULL,
         target_table text NOT NULL,
         bucketing text NOT NULL,
         parameter bigint NOT NULL,
         digests bytea NOT NULL,
         PRIMARY KEY (target_schema, target_table)
     );",
        crate::ddl::create_schema_sql("ferry")
    )
}

/// `ferry.sync_state` as [`sync_state_sql`] creates it (see
/// [`crate::trust`]).
pub(crate) const SYNC_STATE: OwnTable = OwnTable {
    name: "sync_state",
    columns: &[
        ("target_schema", "text", true),
        ("target_table", "text", true),
        ("source_table", "text", true),
        ("source", "text", true),
        ("mode", "text", true),
        ("cursor_column", "text", false),
        ("watermark", "bigint", false),
        ("watermark_text", "text", false),
        ("columns", "text[]", true),
        ("last_success_at", "timestamp with time zone", true),
        ("seconds", "double precision", true),
        ("inserted", "bigint", true),
        ("updated", "bigint", true),
        ("deleted", "bigint", true),
        ("unchanged", "bigint", true),
        ("reconciled_at", "timestamp with time zone", false),
    ],
    constraints: &[("sync_state_pkey", "p")],
};

/// `ferry.sync_digests` as [`sync_state_sql`] creates it: the source's
/// bucket digests as of a full-mode table's last run, which the next run
/// compares the source with instead of reading the whole target.
pub(crate) const SYNC_DIGESTS: OwnTable = OwnTable {
    name: "sync_digests",
    columns: &[
        ("target_schema", "text", true),
        ("target_table", "text", true),
        ("bucketing", "text", true),
        ("parameter", "bigint", true),
        ("digests", "bytea", true),
    ],
    constraints: &[("sync_digests_pkey", "p")],
};

/// Creates `ferry.sync_state` and `ferry.sync_digests` if they are
/// missing, after checking that schema
/// `ferry` and any existing state table are ferry's own, behind the
/// ledger's advisory lock like [`ensure_ledger`](crate::ensure_ledger), so
/// runs started together do not collide in the catalog.
///
/// # Errors
///
/// [`WriteError::Untrusted`] naming the object ferry will not trust, or a
/// [`WriteError`] if the DDL fails (no CREATE privilege for schema
/// `ferry`, for example).
pub async fn ensure_sync_state(client: &mut Client) -> Result<(), WriteError> {
    crate::trust::ensure_own_tables(
        client,
        &[&SYNC_STATE, &SYNC_DIGESTS],
        &sync_state_sql(),
        "create the sync state table",
    )
    .await
}

/// One table's row of `ferry.sync_state`.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncState {
    /// Source table name.
    pub source_table: String,
    /// The source file the table was synced from (its canonical path).
    pub source: String,
    /// `cursor`, `append` or `full`.
    pub mode: String,
    /// The cursor column (target name) in cursor mode.
    pub cursor_column: Option<String>,
    /// The watermark: for a cursor, its value in the target type's terms
    /// (microseconds since 2000-01-01 for timestamps, days for dates, the
    /// integer itself otherwise); for append, the largest key.
    pub watermark: Option<i64>,
    /// The watermark as people read it.
    pub watermark_text: Option<String>,
    /// The target columns the table had at the last run.
    pub columns: Vec<String>,
    /// When the last successful run committed, as Unix seconds.
    pub last_success_unix: f64,
    /// When a run last compared both sides in full (a copy, a
    /// reconciliation), as Unix seconds; `None` if none recorded it.
    pub reconciled_unix: Option<f64>,
}

/// The state of `schema.table`, or `None` when it was never synced.
///
/// # Errors
///
/// A [`WriteError`] from the server.
pub async fn read_sync_state(
    client: &Client,
    schema: &str,
    table: &str,
) -> Result<Option<SyncState>, WriteError> {
    let row = client
        .query_opt(
            "SELECT source_table, source, mode, cursor_column, watermark, watermark_text, \
                    columns, extract(epoch FROM last_success_at)::float8, \
                    extract(epoch FROM reconciled_at)::float8 \
               FROM \"ferry\".\"sync_state\" WHERE target_schema = $1 AND target_table = $2",
            &[&schema, &table],
        )
        .await
        .map_err(|e| WriteError::from_pg(WHERE, "read the sync state", e))?;
    Ok(row.map(|row| SyncState {
        source_table: row.get(0),
        source: row.get(1),
        mode: row.get(2),
        cursor_column: row.get(3),
        watermark: row.get(4),
        watermark_text: row.get(5),
        columns: row.get(6),
        last_success_unix: row.get(7),
        reconciled_unix: row.get(8),
    }))
}

/// The source's bucket digests a full-mode run of `schema.table` stored,
/// as `ferry.sync_digests` holds them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredDigests {
    /// How rows were placed in buckets: its name and parameter.
    pub bucketing: String,
    /// The bucketing's parameter (bucket count or key width).
    pub parameter: i64,
    /// The digests, as their owner serialized them.
    pub digests: Vec<u8>,
}

/// The digests the last full-mode run of `schema.table` stored, or `None`.
///
/// # Errors
///
/// A [`WriteError`] from the server.
pub async fn read_sync_digests(
    client: &Client,
    schema: &str,
    table: &str,
) -> Result<Option<StoredDigests>, WriteError> {
    let row = client
        .query_opt(
            "SELECT bucketing, parameter, digests FROM \"ferry\".\"sync_digests\" \
              WHERE target_schema = $1 AND target_table = $2",
            &[&schema, &table],
        )
        .await
        .map_err(|e| WriteError::from_pg(DIGESTS, "read the stored digests", e))?;
    Ok(row.map(|row| StoredDigests {
        bucketing: row.get(0),
        parameter: row.get(1),
        digests: row.get(2),
    }))
}

/// Forgets the sync state of `schema.table` and its stored digests
/// (`ferry sync --reset`): the next run reconciles it from scratch.
/// `true` when there was a state.
///
/// # Errors
///
/// A [`WriteError`] from the server.
pub async fn forget_sync_state(
    client: &Client,
    schema: &str,
    table: &str,
) -> Result<bool, WriteError> {
    let forget = |what: &str| {
        format!(
            "DELETE FROM \"ferry\".{} WHERE target_schema = $1 AND target_table = $2",
            quote_ident(what)
        )
    };
    client
        .execute(&forget("sync_digests"), &[&schema, &table])
        .await
        .map_err(|e| WriteError::from_pg(DIGESTS, "forget the stored digests", e))?;
    let deleted = client
        .execute(&forget("sync_state"), &[&schema, &table])
        .await
        .map_err(|e| WriteError::from_pg(WHERE, "forget the sync state", e))?;
    Ok(deleted > 0)
}

/// The advisory lock key of a sync of `source` into `schema`.
fn lock_key(schema: &str, source: &str) -> String {
    format!("ferry sync {schema} {source}")
}

/// Tries to take the session advisory lock of a sync of `source` into
/// `schema`, without waiting. `true` when this session now holds it; it is
/// released when the session ends, so a killed run never leaves it behind.
///
/// # Errors
///
/// A [`WriteError`] from the server.
pub async fn try_lock_sync(
    client: &Client,
    schema: &str,
    source: &str,
) -> Result<bool, WriteError> {
    crate::session::try_advisory_lock(client, &lock_key(schema, source), false).await
}

/// The server process id of the session holding the lock of
/// [`try_lock_sync`], if any is still holding it.
///
/// # Errors
///
/// A [`WriteError`] from the server.
pub async fn sync_lock_holder(
    client: &Client,
    schema: &str,
    source: &str,
) -> Result<Option<i32>, WriteError> {
    Ok(
        crate::session::advisory_lock_holder(client, &lock_key(schema, source))
            .await?
            .map(|holder| holder.pid),
    )
}

/// The largest value of an integer key column, `None` for an empty table:
/// the watermark of an append-only table is what the target already holds.
///
/// # Errors
///
/// A [`WriteError`] from the server.
pub async fn max_key(
    client: &Client,
    schema: &str,
    table: &str,
    column: &str,
) -> Result<Option<i64>, WriteError> {
    let display = format!("{schema}.{table}");
    let row = client
        .query_one(
            &format!(
                "SELECT max({})::int8 FROM {}",
                quote_ident(column),
                quote_qualified(schema, table)
            ),
            &[],
        )
        .await
        .map_err(|e| WriteError::from_pg(&display, "read the largest key", e))?;
    Ok(row.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_table_lives_in_schema_ferry() {
        let sql = sync_state_sql();
        assert!(sql.contains("CREATE TABLE IF NOT EXISTS \"ferry\".\"sync_state\""));
        assert!(sql.contains("PRIMARY KEY (target_schema, target_table)"));
    }
}
