//! Loading rows: inspecting the target table, one transaction per chunk,
//! and running DDL steps.
//!
//! A chunk is done only when COPY's `finish()` reports every row sent and
//! the transaction, rejects included, commits; anything less leaves the
//! table as it was, so a chunk can simply be retried.

use std::pin::Pin;

use bytes::Bytes;
use ferry_model::{quote_ident, quote_qualified, Reject, SourceValue, TablePlan};
use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_postgres::{Client, CopyInSink, Transaction};

use crate::ddl::{
    create_schema_sql, create_table_sql, rejects_table_sql, truncate_ident, Leaves, Step,
};
use crate::storage::Storage;
use crate::trust::OwnTable;
use crate::WriteError;

/// What the target holds under a table's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableState {
    /// No table by that name.
    Missing,
    /// A table without rows.
    Empty,
    /// A table with at least one row.
    NotEmpty,
}

/// Whether `schema.table` exists in the target and holds rows.
///
/// # Errors
///
/// A [`WriteError`] from the catalog or table query.
pub async fn table_state(
    client: &Client,
    schema: &str,
    table: &str,
) -> Result<TableState, WriteError> {
    let display = format!("{schema}.{table}");
    let exists = client
        .query_opt(
            "SELECT 1 FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
            &[&schema, &table],
        )
        .await
        .map_err(|e| WriteError::from_pg(&display, "look up the table", e))?;
    if exists.is_none() {
        return Ok(TableState::Missing);
    }
    let row = client
        .query_one(
            &format!(
                "SELECT EXISTS (SELECT 1 FROM {})",
                quote_qualified(schema, table)
            ),
            &[],
        )
        .await
        .map_err(|e| WriteError::from_pg(&display, "check whether the table is empty", e))?;
    Ok(if row.get::<_, bool>(0) {
        TableState::NotEmpty
    } else {
        TableState::Empty
    })
}

/// Creates the plan's schema (if needed) and its bare table, stored as
/// `storage` says.
///
/// # Errors
///
/// A [`WriteError::Server`] if the table already exists or the DDL is
/// refused.
pub async fn create_table(
    client: &Client,
    plan: &TablePlan,
    storage: &Storage,
) -> Result<(), WriteError> {
    let display = format!("{}.{}", plan.schema, plan.name);
    client
        .batch_execute(&create_schema_sql(&plan.schema))
        .await
        .map_err(|e| WriteError::from_pg(&display, "create the schema", e))?;
    client
        .batch_execute(&create_table_sql(plan, storage))
        .await
        .map_err(|e| WriteError::from_pg(&display, "create the table", e))
}

/// `ferry.rejects` as [`rejects_table_sql`] creates it (see
/// [`crate::trust`]).
pub(crate) const REJECTS: OwnTable = OwnTable {
    name: "rejects",
    columns: &[
        ("id", "bigint", true),
        ("run_id", "text", true),
        ("source_table", "text", true),
        ("target_schema", "text", true),
        ("target_table", "text", true),
        ("row_key", "text", true),
        ("column_name", "text", true),
        ("reason", "text", true),
        ("raw_value", "jsonb", true),
        ("created_at", "timestamp with time zone", true),
    ],
    constraints: &[("rejects_pkey", "p")],
};

/// Creates `"ferry"."rejects"` if it does not exist, after checking that
/// schema `ferry` and any existing rejects table are ferry's own. Call it
/// once, before the chunks that may reject rows start: concurrent `CREATE
/// … IF NOT EXISTS` of the same table can still collide in the catalog.
///
/// # Errors
///
/// [`WriteError::Untrusted`] naming the object ferry will not trust, or a
/// [`WriteError`] if the schema or table cannot be created.
pub async fn ensure_rejects_table(client: &mut Client) -> Result<(), WriteError> {
    crate::trust::ensure_own_tables(
        client,
        &[&REJECTS],
        &format!("{};\n{}", create_schema_sql("ferry"), rejects_table_sql()),
        "create the rejects table",
    )
    .await
}

/// Whether `ferry.rejects` exists, checked like [`ensure_rejects_table`]
/// checks it: ferry reads it (`ferry verify`), and a policy or a view's
/// function would run as the reader.
///
/// # Errors
///
/// [`WriteError::Untrusted`] or a catalog error.
pub async fn trusted_rejects_table(client: &Client) -> Result<bool, WriteError> {
    crate::trust::check_before_reading(client, &REJECTS).await
}

/// Runs one post-load or foreign-key step.
///
/// # Errors
///
/// A [`WriteError::Server`] naming the step's table and description (a
/// duplicate key when adding a primary key, a violation when validating a
/// foreign key…).
pub async fn run_step(client: &Client, step: &Step) -> Result<(), WriteError> {
    client
        .batch_execute(&step.sql)
        .await
        .map_err(|e| WriteError::from_pg(&step.table, &step.description, e))
}

/// Whether `step` already ran to completion, for a resumed run that must
/// not build or attach anything twice (issue 14: a kill between attaching
/// a primary key and the next step left every later resume failing on
/// `index … is already associated with a constraint`). A constraint is
/// done when it exists on its table; an index when it exists and is valid.
/// An invalid index (a build that never finished, a partitioned parent
/// whose leaves were not all attached) is dropped here, so the step builds
/// it again.
///
/// # Errors
///
/// A [`WriteError`] from the catalog query or the drop.
pub async fn step_done(client: &Client, step: &Step) -> Result<bool, WriteError> {
    let fail = |e| WriteError::from_pg(&step.table, &step.description, e);
    match &step.leaves {
        Leaves::Nothing => Ok(false),
        Leaves::Constraint { relation, name } => Ok(client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint
                                 WHERE conrelid = to_regclass($1) AND conname = $2)",
                &[relation, &truncate_ident(name)],
            )
            .await
            .map_err(fail)?
            .get(0)),
        Leaves::Index { schema, name } => {
            let index = quote_qualified(schema, &truncate_ident(name));
            let valid: Option<bool> = client
                .query_opt(
                    "SELECT indisvalid FROM pg_catalog.pg_index WHERE indexrelid = to_regclass($1)",
                    &[&index],
                )
                .await
                .map_err(fail)?
                .map(|row| row.get(0));
            match valid {
                Some(true) => Ok(true),
                Some(false) => {
                    client
                        .batch_execute(&format!("DROP INDEX IF EXISTS {index}"))
                        .await
                        .map_err(fail)?;
                    Ok(false)
                }
                None => Ok(false),
            }
        }
    }
}

/// Inserts `rejects` into `"ferry"."rejects"` under `run_id`, for the
/// target table `(source table, schema, table)`; a reject naming no table
/// is the source table's.
async fn insert_rejects(
    client: &impl tokio_postgres::GenericClient,
    display: &str,
    run_id: &str,
    (source_table, schema, table): (&str, &str, &str),
    rejects: &[Reject],
) -> Result<(), WriteError> {
    if rejects.is_empty() {
        return Ok(());
    }
    let fail = |e| WriteError::from_pg(display, "record rejected rows", e);
    let insert = client
        .prepare(
            "INSERT INTO \"ferry\".\"rejects\" (run_id, source_table, target_schema, \
             target_table, row_key, column_name, reason, raw_value) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::jsonb)",
        )
        .await
        .map_err(fail)?;
    for reject in rejects {
        let source = if reject.table.is_empty() {
            source_table
        } else {
            &reject.table
        };
        let raw = reject_json(&reject.value).to_string();
        client
            .execute(
                &insert,
                &[
                    &run_id,
                    &source,
                    &schema,
                    &table,
                    &reject.key.to_string(),
                    &reject.column,
                    &reject.reason,
                    &raw,
                ],
            )
            .await
            .map_err(fail)?;
    }
    Ok(())
}

/// Records the rows a `ferry sync` run left out of `plan`'s table, in one
/// transaction. With `replace` (a run that read every row of the table)
/// the table's earlier sync rejects (`run_id` starting with `sync-`) are
/// replaced, so that `"ferry"."rejects"` lists what is bad in the source
/// now rather than one row per run that met it. Call
/// [`ensure_rejects_table`] first.
///
/// # Errors
///
/// A [`WriteError::Server`] naming the table; nothing is recorded.
pub async fn record_sync_rejects(
    client: &mut Client,
    run_id: &str,
    plan: &TablePlan,
    rejects: &[Reject],
    replace: bool,
) -> Result<(), WriteError> {
    let display = format!("{}.{}", plan.schema, plan.name);
    let fail = |e| WriteError::from_pg(&display, "record rejected rows", e);
    let transaction = client.transaction().await.map_err(fail)?;
    if replace {
        transaction
            .execute(
                "DELETE FROM \"ferry\".\"rejects\" WHERE run_id LIKE 'sync-%' \
                   AND target_schema = $1 AND target_table = $2",
                &[&plan.schema, &plan.name],
            )
            .await
            .map_err(fail)?;
    }
    insert_rejects(
        &transaction,
        &display,
        run_id,
        (&plan.source_name, &plan.schema, &plan.name),
        rejects,
    )
    .await?;
    transaction.commit().await.map_err(fail)
}

/// The JSON kept in `rejects.raw_value`: the storage class and the value as
/// read, losslessly. Text that is valid UTF-8 without NUL (which jsonb
/// cannot hold) is shown as a string; other text and blobs as hex.
/// Non-finite reals become strings, since JSON has no NaN or infinity.
pub fn reject_json(value: &SourceValue) -> Value {
    let class = value.as_ref().storage_class().to_string();
    match value {
        SourceValue::Null => json!({ "storage_class": class, "value": null }),
        SourceValue::Integer(i) => json!({ "storage_class": class, "value": i }),
        SourceValue::Real(r) => match serde_json::Number::from_f64(*r) {
            Some(number) => json!({ "storage_class": class, "value": number }),
            None => json!({ "storage_class": class, "value": non_finite(*r) }),
        },
        SourceValue::Text(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) if !text.contains('\0') => json!({ "storage_class": class, "value": text }),
            _ => json!({ "storage_class": class, "hex": hex(bytes) }),
        },
        SourceValue::Blob(bytes) => json!({ "storage_class": class, "hex": hex(bytes) }),
    }
}

fn non_finite(r: f64) -> &'static str {
    if r.is_nan() {
        "NaN"
    } else if r > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    out
}

/// One chunk of one table, in one transaction: `BEGIN`, `COPY … FROM STDIN
/// (FORMAT binary)`, the chunk's rejects, `COMMIT`.
///
/// Dropping a `ChunkCopy` without [`commit`](Self::commit) rolls the chunk
/// back: the COPY sink is dropped first, which sends `CopyFail` so the
/// server abandons the COPY (no partial row is ever applied), then the
/// transaction is dropped, which sends `ROLLBACK`. Both are queued on the
/// connection without waiting, so the connection is usable right after.
pub struct ChunkCopy<'a> {
    // Field order matters: the sink must drop (CopyFail) before the
    // transaction (ROLLBACK).
    /// The COPY in progress; `None` once finished or abandoned.
    sink: Option<Pin<Box<CopyInSink<Bytes>>>>,
    transaction: Transaction<'a>,
    /// `COPY … FROM STDIN` without FREEZE, for [`copy_rows`](Self::copy_rows).
    copy_sql: String,
    /// Rows the finished COPYs of this chunk wrote.
    rows_copied: u64,
    /// A savepoint `ferry_rows` was taken before the rows (see
    /// [`restart_rows`](Self::restart_rows)).
    savepoint: bool,
    schema: String,
    table: String,
    source_table: String,
    /// The ledger row this chunk marks done when it commits.
    claimed: Option<(String, ClaimedChunk)>,
}

/// A chunk claimed from the ledger (see [`ChunkCopy::claim`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimedChunk {
    /// Target table name.
    pub table: String,
    /// Position of the chunk within its table.
    pub index: i32,
    /// Inclusive rowid range; `None` for a table read whole.
    pub rowids: Option<(i64, i64)>,
}

impl<'a> ChunkCopy<'a> {
    /// Opens a transaction, claims the next pending chunk of `copy_id` from
    /// the ledger (skipping chunks other transactions hold) and starts COPY
    /// into its table, whose plan must be among `plans`. `None` when no
    /// chunk is left to claim. Committing marks the chunk done in the same
    /// transaction as its rows; dropping the copy leaves it pending.
    ///
    /// # Errors
    ///
    /// A [`WriteError`] if a statement fails or the claimed chunk's table
    /// has no plan.
    pub async fn claim(
        client: &'a mut Client,
        copy_id: &str,
        plans: &[TablePlan],
    ) -> Result<Option<(ChunkCopy<'a>, ClaimedChunk)>, WriteError> {
        let ledger = "ferry ledger";
        let transaction = client
            .transaction()
            .await
            .map_err(|e| WriteError::from_pg(ledger, "begin the chunk's transaction", e))?;
        let row = transaction
            .query_opt(crate::ledger::claim_sql(), &[&copy_id])
            .await
            .map_err(|e| WriteError::from_pg(ledger, "claim a chunk", e))?;
        let Some(row) = row else {
            return Ok(None);
        };
        // Rows go after a savepoint, so a row the server refuses costs the
        // rows, not the claim (see `restart_rows`). Taken before the
        // truncate: COPY FREEZE needs the table emptied in its own
        // subtransaction.
        transaction
            .batch_execute("SAVEPOINT ferry_rows")
            .await
            .map_err(|e| WriteError::from_pg(ledger, "take a savepoint", e))?;
        let start: Option<i64> = row.get(2);
        let end: Option<i64> = row.get(3);
        let chunk = ClaimedChunk {
            table: row.get(0),
            index: row.get(1),
            rowids: start.zip(end),
        };
        let plan = plans
            .iter()
            .find(|p| p.name == chunk.table)
            .ok_or_else(|| WriteError::UnplannedChunk {
                table: chunk.table.clone(),
            })?;
        let only_chunk: bool = row.get(4);
        let freeze =
            only_chunk && plan.partition.is_none() && truncate_if_empty(&transaction, plan).await?;
        let mut copy = ChunkCopy::start(transaction, plan, freeze).await?;
        copy.claimed = Some((copy_id.to_owned(), chunk.clone()));
        copy.savepoint = true;
        Ok(Some((copy, chunk)))
    }

    /// Opens the transaction, starts COPY into the plan's columns and sends
    /// the binary COPY header.
    ///
    /// # Errors
    ///
    /// A [`WriteError`] if the transaction or COPY cannot start (missing
    /// table or column, lost connection).
    pub async fn begin(
        client: &'a mut Client,
        plan: &TablePlan,
    ) -> Result<ChunkCopy<'a>, WriteError> {
        let display = format!("{}.{}", plan.schema, plan.name);
        let transaction = client
            .transaction()
            .await
            .map_err(|e| WriteError::from_pg(&display, "begin the chunk's transaction", e))?;
        ChunkCopy::start(transaction, plan, false).await
    }

    /// Starts COPY into the plan's columns inside `transaction` and sends
    /// the binary COPY header. `freeze` when the table was emptied in this
    /// transaction (see [`truncate_if_empty`]).
    async fn start(
        transaction: Transaction<'a>,
        plan: &TablePlan,
        freeze: bool,
    ) -> Result<ChunkCopy<'a>, WriteError> {
        let display = format!("{}.{}", plan.schema, plan.name);
        let columns = plan
            .columns
            .iter()
            .map(|c| quote_ident(&c.name))
            .collect::<Vec<_>>()
            .join(", ");
        let copy_sql = format!(
            "COPY {} ({columns}) FROM STDIN (FORMAT binary)",
            quote_qualified(&plan.schema, &plan.name),
        );
        let sql = if freeze {
            copy_sql.replace("(FORMAT binary)", "(FORMAT binary, FREEZE)")
        } else {
            copy_sql.clone()
        };
        let sink = transaction
            .copy_in::<_, Bytes>(&sql)
            .await
            .map_err(|e| WriteError::from_pg(&display, "start COPY", e))?;
        let mut copy = ChunkCopy {
            sink: Some(Box::pin(sink)),
            transaction,
            copy_sql,
            rows_copied: 0,
            savepoint: false,
            schema: plan.schema.clone(),
            table: plan.name.clone(),
            source_table: plan.source_name.clone(),
            claimed: None,
        };
        let mut header = crate::CopyEncoder::with_capacity(19);
        header.header();
        copy.send(header.take()).await?;
        Ok(copy)
    }

    /// Sends encoded rows (no header or trailer). Data is buffered by the
    /// client and flushed as the connection accepts it.
    ///
    /// # Errors
    ///
    /// A [`WriteError`] if the server has already refused the COPY or the
    /// connection is lost; drop the `ChunkCopy` to roll back.
    pub async fn send(&mut self, data: Bytes) -> Result<(), WriteError> {
        let display = self.display();
        let sink = self.sink.as_mut().ok_or_else(|| WriteError::CopyEnded {
            table: display.clone(),
            action: "send rows to COPY",
        })?;
        sink.as_mut()
            .feed(data)
            .await
            .map_err(|e| WriteError::from_pg(&display, "send rows to COPY", e))
    }

    /// Sends the trailer and finishes the COPY in progress (if any),
    /// adding the rows it wrote to the chunk's count. Returns that count.
    ///
    /// # Errors
    ///
    /// A [`WriteError`] if the server refuses a row or the connection is
    /// lost; [`restart_rows`](Self::restart_rows) can then undo the rows.
    pub async fn finish_rows(&mut self) -> Result<u64, WriteError> {
        if self.sink.is_some() {
            self.send(Bytes::from_static(&[0xff, 0xff])).await?;
            let display = self.display();
            if let Some(mut sink) = self.sink.take() {
                let written = sink
                    .as_mut()
                    .finish()
                    .await
                    .map_err(|e| WriteError::from_pg(&display, "finish COPY", e))?;
                self.rows_copied += written;
            }
        }
        Ok(self.rows_copied)
    }

    /// Undoes every row of the chunk sent so far (after the server refused
    /// one), keeping the transaction and the claim on the chunk, so the
    /// rows can be sent again with [`copy_rows`](Self::copy_rows).
    ///
    /// # Errors
    ///
    /// A [`WriteError`] if the connection is lost, or if the chunk was not
    /// claimed (only a claimed chunk has the savepoint).
    pub async fn restart_rows(&mut self) -> Result<(), WriteError> {
        let display = self.display();
        if !self.savepoint {
            return Err(WriteError::CopyEnded {
                table: display,
                action: "undo the rows of a chunk that was not claimed",
            });
        }
        // Dropping the sink ends the COPY (CopyFail) before the rollback.
        self.sink = None;
        self.rows_copied = 0;
        self.transaction
            .batch_execute("ROLLBACK TO SAVEPOINT ferry_rows")
            .await
            .map_err(|e| WriteError::from_pg(&display, "undo the chunk's rows", e))
    }

    /// COPYs `rows` (encoded rows, no header or trailer) as one unit inside
    /// the chunk's transaction: all of them land, or none do and the
    /// server's refusal is returned, with the transaction still usable. How
    /// one row the server refuses is found among many.
    ///
    /// # Errors
    ///
    /// The [`WriteError`] of the COPY (the rows were undone) or of the
    /// savepoint statements.
    pub async fn copy_rows(&mut self, rows: &[Bytes]) -> Result<u64, WriteError> {
        let display = self.display();
        self.transaction
            .batch_execute("SAVEPOINT ferry_batch")
            .await
            .map_err(|e| WriteError::from_pg(&display, "take a savepoint", e))?;
        let copied = self.copy_batch(rows).await;
        let end = if copied.is_ok() {
            "RELEASE SAVEPOINT ferry_batch"
        } else {
            self.sink = None;
            "ROLLBACK TO SAVEPOINT ferry_batch"
        };
        self.transaction
            .batch_execute(end)
            .await
            .map_err(|e| WriteError::from_pg(&display, "end a savepoint", e))?;
        let written = copied?;
        self.rows_copied += written;
        Ok(written)
    }

    async fn copy_batch(&mut self, rows: &[Bytes]) -> Result<u64, WriteError> {
        let display = self.display();
        let sink = self
            .transaction
            .copy_in::<_, Bytes>(&self.copy_sql)
            .await
            .map_err(|e| WriteError::from_pg(&display, "start COPY", e))?;
        let mut sink = Box::pin(sink);
        let mut header = crate::CopyEncoder::with_capacity(19);
        header.header();
        let trailer = Bytes::from_static(&[0xff, 0xff]);
        for data in std::iter::once(header.take())
            .chain(rows.iter().cloned())
            .chain(std::iter::once(trailer))
        {
            sink.as_mut()
                .feed(data)
                .await
                .map_err(|e| WriteError::from_pg(&display, "send rows to COPY", e))?;
        }
        sink.as_mut()
            .finish()
            .await
            .map_err(|e| WriteError::from_pg(&display, "finish COPY", e))
    }

    /// Sends the trailer, finishes the COPY and checks that the server
    /// wrote exactly `rows_sent` rows, inserts the chunk's `rejects` into
    /// `"ferry"."rejects"` (see [`ensure_rejects_table`] and
    /// [`reject_json`]), then commits. Returns the rows COPY wrote.
    ///
    /// # Errors
    ///
    /// [`WriteError::RowCountMismatch`] or any server error; the chunk is
    /// then rolled back and nothing of it remains.
    pub async fn commit(
        mut self,
        rows_sent: u64,
        run_id: &str,
        rejects: &[Reject],
    ) -> Result<u64, WriteError> {
        let display = self.display();
        let written = self.finish_rows().await?;
        let ChunkCopy {
            transaction,
            schema,
            table,
            source_table,
            claimed,
            ..
        } = self;
        if written != rows_sent {
            return Err(WriteError::RowCountMismatch {
                table: display,
                sent: rows_sent,
                written,
            });
        }
        insert_rejects(
            &transaction,
            &display,
            run_id,
            (&source_table, &schema, &table),
            rejects,
        )
        .await?;
        if let Some((copy_id, chunk)) = claimed {
            let rejected_rows = rejects
                .iter()
                .map(|r| r.key.to_string())
                .collect::<std::collections::HashSet<_>>()
                .len() as i64;
            let written_rows = i64::try_from(written).unwrap_or(i64::MAX);
            transaction
                .execute(
                    crate::ledger::done_sql(),
                    &[
                        &copy_id,
                        &chunk.table,
                        &chunk.index,
                        &(written_rows + rejected_rows),
                        &written_rows,
                        &rejected_rows,
                    ],
                )
                .await
                .map_err(|e| {
                    WriteError::from_pg(&display, "mark the chunk done in the ledger", e)
                })?;
        }
        transaction
            .commit()
            .await
            .map_err(|e| WriteError::from_pg(&display, "commit the chunk", e))?;
        Ok(written)
    }

    fn display(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }
}

/// Truncates the table inside the chunk's transaction when it holds no
/// rows, so the chunk can `COPY … FREEZE`: rows written frozen and their
/// pages marked all-visible, which spares the index builds, `ANALYZE` and
/// later vacuums a rewrite of every page to set hint bits. Postgres allows
/// FREEZE only when the table was created or truncated in the same
/// transaction. Only a table's single chunk does it: truncating while other
/// chunks of the table load would wait for them and then find rows.
///
/// Anything that stands in the way (rows already there, a foreign key
/// pointing at the table, no TRUNCATE privilege) rolls back to the
/// savepoint and the chunk loads without FREEZE. Returns whether the table
/// was truncated.
async fn truncate_if_empty(
    transaction: &Transaction<'_>,
    plan: &TablePlan,
) -> Result<bool, WriteError> {
    let display = format!("{}.{}", plan.schema, plan.name);
    let table = quote_qualified(&plan.schema, &plan.name);
    let savepoint = |sql: &'static str| {
        let display = &display;
        async move {
            transaction
                .batch_execute(sql)
                .await
                .map_err(|e| WriteError::from_pg(display, "prepare COPY FREEZE", e))
        }
    };
    savepoint("SAVEPOINT ferry_freeze").await?;
    let emptied = async {
        transaction
            .batch_execute(&format!("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
            .await?;
        let holds_rows: bool = transaction
            .query_one(&format!("SELECT EXISTS (SELECT 1 FROM {table})"), &[])
            .await?
            .get(0);
        if holds_rows {
            return Ok(false);
        }
        transaction
            .batch_execute(&format!("TRUNCATE TABLE {table}"))
            .await?;
        Ok::<_, tokio_postgres::Error>(true)
    }
    .await;
    match emptied {
        Ok(true) => {
            savepoint("RELEASE SAVEPOINT ferry_freeze").await?;
            Ok(true)
        }
        Ok(false) | Err(_) => {
            savepoint("ROLLBACK TO SAVEPOINT ferry_freeze").await?;
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reject_values_as_json() {
        let cases = [
            (
                SourceValue::Integer(42),
                r#"{"storage_class":"integer","value":42}"#,
            ),
            (
                SourceValue::Real(1.5),
                r#"{"storage_class":"real","value":1.5}"#,
            ),
            (
                SourceValue::Real(f64::NAN),
                r#"{"storage_class":"real","value":"NaN"}"#,
            ),
            (
                SourceValue::Real(f64::NEG_INFINITY),
                r#"{"storage_class":"real","value":"-Infinity"}"#,
            ),
            (
                SourceValue::Text("héllo".into()),
                r#"{"storage_class":"text","value":"héllo"}"#,
            ),
            (
                SourceValue::Text(b"a\0b".to_vec()),
                r#"{"storage_class":"text","hex":"610062"}"#,
            ),
            (
                SourceValue::Text(b"\xff".to_vec()),
                r#"{"storage_class":"text","hex":"ff"}"#,
            ),
            (
                SourceValue::Blob(vec![0xde, 0xad]),
                r#"{"storage_class":"blob","hex":"dead"}"#,
            ),
            (
                SourceValue::Null,
                r#"{"storage_class":"null","value":null}"#,
            ),
        ];
        for (value, expected) in cases {
            let json = reject_json(&value);
            let expected: Value = serde_json::from_str(expected).unwrap();
            assert_eq!(json, expected, "{value:?}");
        }
    }
}
