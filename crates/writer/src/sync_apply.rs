//! Applying one table's changes in one transaction, with its sync state.
//!
//! The changed rows are COPYed (binary, like a chunk of a copy) into a
//! temporary stage table shaped like the target, then merged with one
//! `INSERT … ON CONFLICT (key) DO UPDATE … WHERE … IS DISTINCT FROM …`:
//! rows that did not really change are left alone (no dead tuple, no
//! trigger), and the stage rows whose key was absent before are the
//! inserted ones. Deleted keys go through a second stage table. Schema changes,
//! deletes, the merge and the row of `ferry.sync_state` all commit
//! together, or none of them does.

use std::pin::pin;

use bytes::Bytes;
use ferry_model::{quote_ident, quote_qualified, ColumnPlan, PgValue, TablePlan};
use futures_util::SinkExt;
use tokio_postgres::{Client, Transaction};

use crate::ddl::identity_reset_sql;
use crate::{CopyEncoder, WriteError};

/// The rows to write and the keys to delete for one table, encoded for
/// binary COPY as they are added.
#[derive(Debug)]
pub struct ChangeSet {
    upserts: CopyEncoder,
    upsert_rows: u64,
    deletes: CopyEncoder,
    delete_rows: u64,
    replace_all: bool,
    /// The encoded rows and keys, once taken out of the encoders to be
    /// sent: kept, so that a failed apply can be run again.
    frozen: (Bytes, Bytes),
}

impl ChangeSet {
    /// An empty change set: rows are merged by primary key.
    pub fn new() -> ChangeSet {
        ChangeSet {
            upserts: CopyEncoder::new(),
            upsert_rows: 0,
            deletes: CopyEncoder::new(),
            delete_rows: 0,
            replace_all: false,
            frozen: (Bytes::new(), Bytes::new()),
        }
    }

    /// A change set whose rows replace every row of the table: for a table
    /// without a primary key, whose rows cannot be matched one by one.
    pub fn replacing_all() -> ChangeSet {
        ChangeSet {
            replace_all: true,
            ..ChangeSet::new()
        }
    }

    /// Adds a row to write, its values in the plan's column order.
    ///
    /// # Errors
    ///
    /// [`WriteError::Codec`] when a value has no binary form; the row is
    /// then left out.
    pub fn upsert(&mut self, row: &[PgValue<'_>]) -> Result<(), WriteError> {
        push_row(&mut self.upserts, row)?;
        self.upsert_rows += 1;
        Ok(())
    }

    /// Adds a key to delete, its values in the primary key's order.
    ///
    /// # Errors
    ///
    /// [`WriteError::Codec`] when a value has no binary form.
    pub fn delete(&mut self, key: &[PgValue<'_>]) -> Result<(), WriteError> {
        push_row(&mut self.deletes, key)?;
        self.delete_rows += 1;
        Ok(())
    }

    /// Rows to write.
    pub fn upserts(&self) -> u64 {
        self.upsert_rows
    }

    /// Keys to delete.
    pub fn deletes(&self) -> u64 {
        self.delete_rows
    }

    /// Moves what the encoders hold to the rows and keys to send.
    fn freeze(&mut self) {
        for (encoder, frozen) in [
            (&mut self.upserts, &mut self.frozen.0),
            (&mut self.deletes, &mut self.frozen.1),
        ] {
            if !encoder.is_empty() {
                let mut all = bytes::BytesMut::from(&frozen[..]);
                all.extend_from_slice(&encoder.take());
                *frozen = all.freeze();
            }
        }
    }

    /// Whether the rows replace the whole table.
    pub fn replaces_all(&self) -> bool {
        self.replace_all
    }
}

impl Default for ChangeSet {
    fn default() -> Self {
        ChangeSet::new()
    }
}

fn push_row(encoder: &mut CopyEncoder, row: &[PgValue<'_>]) -> Result<(), WriteError> {
    let fields = i16::try_from(row.len()).unwrap_or(i16::MAX);
    encoder.begin_row(fields);
    for value in row {
        encoder.try_push(value)?;
    }
    Ok(())
}

/// What the run records in `ferry.sync_state` with its changes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SyncRecord<'a> {
    /// Source table name.
    pub source_table: &'a str,
    /// The source file's identity (its canonical path).
    pub source: &'a str,
    /// `cursor`, `append` or `full`.
    pub mode: &'a str,
    /// The cursor column (target name) in cursor mode.
    pub cursor_column: Option<&'a str>,
    /// The new watermark (see [`SyncState`](crate::SyncState)).
    pub watermark: Option<i64>,
    /// The new watermark as people read it.
    pub watermark_text: Option<&'a str>,
    /// When the table's run started, as Unix seconds: the duration stored
    /// runs from it to the commit.
    pub started_unix: f64,
    /// Rows written by other means in this run (a first full copy), added
    /// to the inserted count.
    pub copied: u64,
    /// What becomes of the table's row of `ferry.sync_digests`.
    pub digests: DigestsUpdate<'a>,
    /// The run compared both sides in full (or copied the table): its
    /// time is recorded as `reconciled_at`.
    pub reconciled: bool,
}

/// What a run does to a table's stored source digests (see
/// [`read_sync_digests`](crate::read_sync_digests)), in the transaction
/// of its changes, so they always describe what the table holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigestsUpdate<'a> {
    /// Left as they are: the source did not change.
    Keep,
    /// Replaced by these.
    Replace {
        /// The bucketing's name.
        bucketing: &'a str,
        /// The bucketing's parameter.
        parameter: i64,
        /// The digests.
        digests: &'a [u8],
    },
    /// Removed: the table is not synced by digests.
    Forget,
}

/// What one apply did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Rows that were not in the target.
    pub inserted: u64,
    /// Rows whose values changed.
    pub updated: u64,
    /// Rows removed.
    pub deleted: u64,
    /// Rows staged whose values were already in the target.
    pub unchanged: u64,
}

/// `ALTER TABLE … ADD COLUMN` for a column the source gained, with the
/// source's default, which Postgres gives every existing row (as SQLite
/// did when the column was added), and then its `NOT NULL`, so that the
/// column ends as the source declares it and `ferry verify
/// --schema-only` agrees (issue 13). A `NOT NULL` column without a
/// default (a table rebuilt in SQLite) is added nullable, since existing
/// rows have no value yet: the reconciliation fills it in, and
/// [`set_not_null_sql`] tightens it afterwards.
pub fn add_column_sql(plan: &TablePlan, column: &ColumnPlan) -> String {
    let mut sql = format!(
        "ALTER TABLE {} ADD COLUMN {} {}",
        quote_qualified(&plan.schema, &plan.name),
        quote_ident(&column.name),
        column.type_sql()
    );
    if let Some(default) = &column.default_sql {
        sql.push_str(&format!(" DEFAULT {default}"));
        if column.not_null {
            sql.push_str(" NOT NULL");
        }
    }
    sql
}

/// `ALTER TABLE … ALTER COLUMN … SET NOT NULL` for a column
/// [`add_column_sql`] had to add nullable; `None` when nothing is left to
/// tighten.
pub fn set_not_null_sql(plan: &TablePlan, column: &ColumnPlan) -> Option<String> {
    (column.not_null && column.default_sql.is_none()).then(|| {
        format!(
            "ALTER TABLE {} ALTER COLUMN {} SET NOT NULL",
            quote_qualified(&plan.schema, &plan.name),
            quote_ident(&column.name)
        )
    })
}

/// Applies `changes` to `plan`'s table in one transaction: first the `ddl`
/// statements (columns added to follow the source), then the deletes, then
/// the merge of the staged rows, then the identity reset and the table's
/// row of `ferry.sync_state` (see [`ensure_sync_state`](crate::ensure_sync_state)).
/// [`apply_all`] with one table.
///
/// # Errors
///
/// As [`apply_all`].
pub async fn apply_changes(
    client: &mut Client,
    plan: &TablePlan,
    changes: ChangeSet,
    ddl: &[String],
    record: &SyncRecord<'_>,
) -> Result<Applied, WriteError> {
    let mut tables = [TableChanges {
        plan,
        changes,
        ddl,
        record: *record,
    }];
    let mut applied = apply_all(client, &mut tables).await.map_err(|f| f.error)?;
    Ok(applied.remove(0))
}

/// One table's part of a sync run.
#[derive(Debug)]
pub struct TableChanges<'a> {
    /// The table.
    pub plan: &'a TablePlan,
    /// Its rows to write and keys to delete.
    pub changes: ChangeSet,
    /// Statements run first (columns added to follow the source).
    pub ddl: &'a [String],
    /// Its new row of `ferry.sync_state`.
    pub record: SyncRecord<'a>,
}

/// Why [`apply_all`] rolled back: the error, and the position of the table
/// whose statement failed when one did. A violation of a deferred
/// constraint is found after every table's statements ran, so it names no
/// position; the server's table and constraint in `error` say where.
#[derive(Debug)]
pub struct ApplyFailure {
    /// Position in the tables given of the table being applied.
    pub table: Option<usize>,
    /// What failed.
    pub error: WriteError,
}

/// Applies every table's changes in one transaction, so the target moves
/// from one snapshot of the source to the next as a whole, as a reader of
/// a replica expects (issue 13).
///
/// Constraints declared `DEFERRABLE` (ferry creates its foreign keys and
/// unique constraints so) are checked once, after every change: a row
/// deleted and another inserted in one interval, a child declared before
/// its parent, or two rows swapping a unique value all land together.
/// Deletes run children first and writes parents first anyway (by the
/// plans' foreign keys), so constraints that are not deferrable are met
/// where an order can meet them. Then each table's identity is moved past
/// its keys and its row of `ferry.sync_state` written.
///
/// Rows are merged on each plan's primary key. A table without one must be
/// given a [`ChangeSet::replacing_all`]. The change sets can be applied
/// again after a failure (without the table at fault, say): their rows are
/// kept.
///
/// # Errors
///
/// An [`ApplyFailure`]: any statement, a COPY that did not stage every
/// row ([`WriteError::RowCountMismatch`]), a merge on a table without a
/// key ([`WriteError::InvalidFilter`]) or a deferred constraint violated
/// at the end. The transaction then rolls back and nothing of the run
/// remains.
pub async fn apply_all(
    client: &mut Client,
    tables: &mut [TableChanges<'_>],
) -> Result<Vec<Applied>, ApplyFailure> {
    for (i, t) in tables.iter_mut().enumerate() {
        if t.plan.primary_key.is_empty() && !t.changes.replace_all && t.changes.upsert_rows > 0 {
            return Err(ApplyFailure {
                table: Some(i),
                error: WriteError::InvalidFilter {
                    table: display(t.plan),
                    reason: "rows of a table without a primary key can only replace the whole \
                             table"
                        .to_owned(),
                },
            });
        }
        t.changes.freeze();
    }
    let run = tables
        .iter()
        .map(|t| display(t.plan))
        .collect::<Vec<_>>()
        .join(", ");
    let fail_run = |action: &'static str| {
        let run = run.clone();
        move |e| ApplyFailure {
            table: None,
            error: WriteError::from_pg(&run, action, e),
        }
    };
    let plans: Vec<&TablePlan> = tables.iter().map(|t| t.plan).collect();
    let at = |i: usize| {
        let display = display(plans[i]);
        move |action: &'static str| {
            move |e| ApplyFailure {
                table: Some(i),
                error: WriteError::from_pg(&display, action, e),
            }
        }
    };

    let order = dependency_order(&plans);
    let transaction = client
        .transaction()
        .await
        .map_err(fail_run("begin the sync's transaction"))?;
    transaction
        .batch_execute("SET CONSTRAINTS ALL DEFERRED")
        .await
        .map_err(fail_run("defer the constraints"))?;
    let mut applied = vec![Applied::default(); tables.len()];
    for (i, t) in tables.iter().enumerate() {
        for sql in t.ddl {
            transaction
                .batch_execute(sql)
                .await
                .map_err(at(i)("change the table to follow the source"))?;
        }
    }
    // Children's deletes before their parents'.
    for &i in order.iter().rev() {
        applied[i].deleted = apply_deletes(&transaction, i, &tables[i])
            .await
            .map_err(|error| ApplyFailure {
                table: Some(i),
                error,
            })?;
    }
    // Parents' rows before their children's.
    for &i in &order {
        let (inserted, updated) =
            apply_upserts(&transaction, i, &tables[i])
                .await
                .map_err(|error| ApplyFailure {
                    table: Some(i),
                    error,
                })?;
        let a = &mut applied[i];
        a.inserted = inserted;
        a.updated = updated;
        a.unchanged = tables[i]
            .changes
            .upsert_rows
            .saturating_sub(inserted + updated);
    }
    for (i, t) in tables.iter().enumerate() {
        record_state(&transaction, t.plan, &t.record, &applied[i])
            .await
            .map_err(at(i)("record the sync state"))?;
    }
    // Checked here rather than by COMMIT, so that the error carries the
    // server's table and constraint like any other statement's.
    transaction
        .batch_execute("SET CONSTRAINTS ALL IMMEDIATE")
        .await
        .map_err(fail_run("check the deferred constraints"))?;
    transaction
        .commit()
        .await
        .map_err(fail_run("commit the sync's transaction"))?;
    Ok(applied)
}

/// `schema.table` as messages name it.
fn display(plan: &TablePlan) -> String {
    format!("{}.{}", plan.schema, plan.name)
}

/// The tables in an order where each comes after the tables its foreign
/// keys reference (in the same schema), as far as cycles allow; otherwise
/// in the order given.
pub fn dependency_order(plans: &[&TablePlan]) -> Vec<usize> {
    let parents = |i: usize| -> Vec<usize> {
        plans[i]
            .foreign_keys
            .iter()
            .filter_map(|fk| {
                plans
                    .iter()
                    .position(|p| p.name == fk.referenced_table && p.schema == plans[i].schema)
            })
            .filter(|&j| j != i)
            .collect()
    };
    let mut order = Vec::with_capacity(plans.len());
    let mut state = vec![0u8; plans.len()]; // 0 new, 1 visiting, 2 done
    fn visit(
        i: usize,
        parents: &dyn Fn(usize) -> Vec<usize>,
        state: &mut [u8],
        order: &mut Vec<usize>,
    ) {
        if state[i] != 0 {
            return; // done, or a cycle: its order is left as found
        }
        state[i] = 1;
        for j in parents(i) {
            visit(j, parents, state, order);
        }
        state[i] = 2;
        order.push(i);
    }
    for i in 0..plans.len() {
        visit(i, &parents, &mut state, &mut order);
    }
    order
}

/// The deletes of one table (the whole table for a replacing change set);
/// returns the rows deleted.
async fn apply_deletes(
    transaction: &Transaction<'_>,
    i: usize,
    t: &TableChanges<'_>,
) -> Result<u64, WriteError> {
    let plan = t.plan;
    let display = display(plan);
    let fail = |action: &'static str| {
        let display = display.clone();
        move |e| WriteError::from_pg(&display, action, e)
    };
    let target = quote_qualified(&plan.schema, &plan.name);
    let mut deleted = 0;
    if t.changes.replace_all {
        deleted = transaction
            .execute(&format!("DELETE FROM {target}"), &[])
            .await
            .map_err(fail("empty the table"))?;
    }
    if t.changes.delete_rows > 0 {
        let stage_name = format!("ferry_sync_deletes_{i}");
        let keys = column_list(&plan.primary_key);
        transaction
            .batch_execute(&format!(
                "CREATE TEMP TABLE {stage_name} ON COMMIT DROP AS \
                 SELECT {keys} FROM {target} WITH NO DATA"
            ))
            .await
            .map_err(fail("create the stage of deleted keys"))?;
        stage(
            transaction,
            &display,
            &format!("COPY {stage_name} ({keys}) FROM STDIN (FORMAT binary)"),
            t.changes.frozen.1.clone(),
            t.changes.delete_rows,
        )
        .await?;
        let matches = plan
            .primary_key
            .iter()
            .map(|k| format!("t.{k} = d.{k}", k = quote_ident(k)))
            .collect::<Vec<_>>()
            .join(" AND ");
        deleted += transaction
            .execute(
                &format!("DELETE FROM {target} AS t USING {stage_name} AS d WHERE {matches}"),
                &[],
            )
            .await
            .map_err(fail("delete the rows gone from the source"))?;
    }
    Ok(deleted)
}

/// The rows of one table, merged by key (or inserted, for a replacing
/// change set), and its identity moved past them; returns the rows
/// inserted and updated.
async fn apply_upserts(
    transaction: &Transaction<'_>,
    i: usize,
    t: &TableChanges<'_>,
) -> Result<(u64, u64), WriteError> {
    let plan = t.plan;
    let display = display(plan);
    let fail = |action: &'static str| {
        let display = display.clone();
        move |e| WriteError::from_pg(&display, action, e)
    };
    if t.changes.upsert_rows == 0 {
        return Ok((0, 0));
    }
    let target = quote_qualified(&plan.schema, &plan.name);
    let stage_name = format!("ferry_sync_stage_{i}");
    let names: Vec<String> = plan.columns.iter().map(|c| c.name.clone()).collect();
    let columns = column_list(&names);
    transaction
        .batch_execute(&format!(
            "CREATE TEMP TABLE {stage_name} (LIKE {target} INCLUDING DEFAULTS) ON COMMIT DROP"
        ))
        .await
        .map_err(fail("create the stage table"))?;
    stage(
        transaction,
        &display,
        &format!("COPY {stage_name} ({columns}) FROM STDIN (FORMAT binary)"),
        t.changes.frozen.0.clone(),
        t.changes.upsert_rows,
    )
    .await?;
    let counts = if t.changes.replace_all {
        let inserted = transaction
            .execute(
                &format!("INSERT INTO {target} ({columns}) SELECT {columns} FROM {stage_name}"),
                &[],
            )
            .await
            .map_err(fail("insert the source's rows"))?;
        (inserted, 0)
    } else {
        let row = transaction
            .query_one(&merge_sql(plan, &stage_name), &[])
            .await
            .map_err(fail("merge the changed rows"))?;
        (
            row.get::<_, i64>(0).unsigned_abs(),
            row.get::<_, i64>(1).unsigned_abs(),
        )
    };
    if let Some((_, sql)) = identity_reset_sql(plan, &target) {
        transaction
            .batch_execute(&sql)
            .await
            .map_err(fail("move the identity past the synced keys"))?;
    }
    Ok(counts)
}

/// Whether the constraint `name` of schema `schema` is `DEFERRABLE`;
/// `None` when there is no such constraint.
///
/// # Errors
///
/// A [`WriteError`] from the server.
pub async fn constraint_is_deferrable(
    client: &Client,
    schema: &str,
    name: &str,
) -> Result<Option<bool>, WriteError> {
    let row = client
        .query_opt(
            "SELECT c.condeferrable FROM pg_catalog.pg_constraint c \
               JOIN pg_catalog.pg_namespace n ON n.oid = c.connamespace \
              WHERE n.nspname = $1 AND c.conname = $2 LIMIT 1",
            &[&schema, &name],
        )
        .await
        .map_err(|e| WriteError::from_pg(schema, "look up a constraint", e))?;
    Ok(row.map(|r| r.get(0)))
}

/// COPYs encoded rows into a stage table and checks that all arrived.
async fn stage(
    transaction: &Transaction<'_>,
    display: &str,
    sql: &str,
    rows: Bytes,
    expected: u64,
) -> Result<(), WriteError> {
    let fail = |action| move |e| WriteError::from_pg(display, action, e);
    let sink = transaction
        .copy_in::<_, Bytes>(sql)
        .await
        .map_err(fail("start COPY into the stage"))?;
    let mut sink = pin!(sink);
    let mut header = CopyEncoder::with_capacity(19);
    header.header();
    sink.feed(header.take())
        .await
        .map_err(fail("send rows to the stage"))?;
    sink.feed(rows)
        .await
        .map_err(fail("send rows to the stage"))?;
    sink.feed(Bytes::from_static(&[0xff, 0xff]))
        .await
        .map_err(fail("send rows to the stage"))?;
    let written = sink
        .as_mut()
        .finish()
        .await
        .map_err(fail("finish COPY into the stage"))?;
    if written != expected {
        return Err(WriteError::RowCountMismatch {
            table: display.to_owned(),
            sent: expected,
            written,
        });
    }
    Ok(())
}

/// The merge of the stage into the table, returning how many rows it
/// inserted and how many it updated.
///
/// Every part of one statement sees the table as it was before it, so the
/// stage rows whose key was absent are the inserted ones; the merge
/// returns inserted and updated rows, not those its `WHERE` skipped
/// (<https://www.postgresql.org/docs/current/sql-insert.html>). Counting
/// this way, rather than by `xmax`, works on partitioned tables too.
/// `OFFSET 0` keeps the absence test a probe of the key index per staged
/// row, as the upsert does anyway: as a join, the planner (which has no
/// statistics for the stage) hashes the whole table once the stage holds
/// some thousands of rows, reading every page of it.
fn merge_sql(plan: &TablePlan, stage: &str) -> String {
    let target = quote_qualified(&plan.schema, &plan.name);
    let names: Vec<String> = plan.columns.iter().map(|c| c.name.clone()).collect();
    let columns = column_list(&names);
    let keys = column_list(&plan.primary_key);
    let others: Vec<String> = names
        .iter()
        .filter(|n| !plan.primary_key.contains(n))
        .map(|n| quote_ident(n))
        .collect();
    let action = if others.is_empty() {
        "DO NOTHING".to_owned()
    } else {
        let set = others
            .iter()
            .map(|c| format!("{c} = EXCLUDED.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mine = others
            .iter()
            .map(|c| format!("t.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let theirs = others
            .iter()
            .map(|c| format!("EXCLUDED.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!("DO UPDATE SET {set} WHERE ROW({mine}) IS DISTINCT FROM ROW({theirs})")
    };
    let key_match = plan
        .primary_key
        .iter()
        .map(|k| format!("t.{k} = s.{k}", k = quote_ident(k)))
        .collect::<Vec<_>>()
        .join(" AND ");
    format!(
        "WITH fresh AS (\
           SELECT count(*) AS n FROM {stage} s \
            WHERE NOT EXISTS (SELECT 1 FROM {target} t WHERE {key_match} OFFSET 0)), \
         merged AS (\
           INSERT INTO {target} AS t ({columns}) SELECT {columns} FROM {stage} \
           ON CONFLICT ({keys}) {action} RETURNING 1) \
         SELECT (SELECT n FROM fresh), (SELECT count(*) FROM merged) - (SELECT n FROM fresh)"
    )
}

async fn record_state(
    transaction: &Transaction<'_>,
    plan: &TablePlan,
    record: &SyncRecord<'_>,
    applied: &Applied,
) -> Result<(), tokio_postgres::Error> {
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let columns: Vec<String> = plan.columns.iter().map(|c| c.name.clone()).collect();
    transaction
        .execute(
            "INSERT INTO \"ferry\".\"sync_state\" AS s
                 (target_schema, target_table, source_table, source, mode, cursor_column,
                  watermark, watermark_text, columns, last_success_at, seconds,
                  inserted, updated, deleted, unchanged, reconciled_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now(),
                     extract(epoch FROM clock_timestamp()) - $10::float8,
                     $11, $12, $13, $14, CASE WHEN $15 THEN now() END)
             ON CONFLICT (target_schema, target_table) DO UPDATE SET
                 source_table = EXCLUDED.source_table, source = EXCLUDED.source,
                 mode = EXCLUDED.mode, cursor_column = EXCLUDED.cursor_column,
                 watermark = EXCLUDED.watermark, watermark_text = EXCLUDED.watermark_text,
                 columns = EXCLUDED.columns, last_success_at = EXCLUDED.last_success_at,
                 seconds = EXCLUDED.seconds, inserted = EXCLUDED.inserted,
                 updated = EXCLUDED.updated, deleted = EXCLUDED.deleted,
                 unchanged = EXCLUDED.unchanged,
                 reconciled_at = COALESCE(EXCLUDED.reconciled_at, s.reconciled_at)",
            &[
                &plan.schema,
                &plan.name,
                &record.source_table,
                &record.source,
                &record.mode,
                &record.cursor_column,
                &record.watermark,
                &record.watermark_text,
                &columns,
                &record.started_unix,
                &count(applied.inserted + record.copied),
                &count(applied.updated),
                &count(applied.deleted),
                &count(applied.unchanged),
                &record.reconciled,
            ],
        )
        .await?;
    let key: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&plan.schema, &plan.name];
    match record.digests {
        DigestsUpdate::Keep => {}
        DigestsUpdate::Forget => {
            transaction
                .execute(
                    "DELETE FROM \"ferry\".\"sync_digests\" \
                      WHERE target_schema = $1 AND target_table = $2",
                    &key,
                )
                .await?;
        }
        DigestsUpdate::Replace {
            bucketing,
            parameter,
            digests,
        } => {
            transaction
                .execute(
                    "INSERT INTO \"ferry\".\"sync_digests\" AS d
                         (target_schema, target_table, bucketing, parameter, digests)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (target_schema, target_table) DO UPDATE SET
                         bucketing = EXCLUDED.bucketing, parameter = EXCLUDED.parameter,
                         digests = EXCLUDED.digests",
                    &[key[0], key[1], &bucketing, &parameter, &digests],
                )
                .await?;
        }
    }
    Ok(())
}

fn column_list(columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use ferry_model::PgType;

    use super::*;

    fn plan(columns: &[&str], key: &[&str]) -> TablePlan {
        let columns = columns
            .iter()
            .map(|c| ColumnPlan::new(c, "TEXT", PgType::Text))
            .collect();
        let mut plan = TablePlan::new("app", "t", columns);
        plan.primary_key = key.iter().map(|k| (*k).to_owned()).collect();
        plan
    }

    #[test]
    fn merge_updates_only_rows_that_differ() {
        let sql = merge_sql(&plan(&["id", "Name", "at"], &["id"]), "ferry_sync_stage");
        assert!(sql.contains(
            "INSERT INTO \"app\".\"t\" AS t (\"id\", \"Name\", \"at\") SELECT \"id\", \"Name\", \"at\" FROM ferry_sync_stage"
        ), "{sql}");
        assert!(sql.contains(
            "ON CONFLICT (\"id\") DO UPDATE SET \"Name\" = EXCLUDED.\"Name\", \"at\" = EXCLUDED.\"at\" \
             WHERE ROW(t.\"Name\", t.\"at\") IS DISTINCT FROM ROW(EXCLUDED.\"Name\", EXCLUDED.\"at\")"
        ), "{sql}");
        assert!(
            sql.contains(
                "WHERE NOT EXISTS (SELECT 1 FROM \"app\".\"t\" t WHERE t.\"id\" = s.\"id\" OFFSET 0)"
            ),
            "{sql}"
        );
    }

    #[test]
    fn a_table_of_keys_only_merges_with_do_nothing() {
        let sql = merge_sql(&plan(&["a", "b"], &["a", "b"]), "ferry_sync_stage");
        assert!(
            sql.contains("ON CONFLICT (\"a\", \"b\") DO NOTHING"),
            "{sql}"
        );
    }

    #[test]
    fn change_sets_count_and_keep_bad_rows_out() {
        let mut changes = ChangeSet::new();
        changes
            .upsert(&[PgValue::Int8(1), PgValue::Text("a".into())])
            .unwrap();
        assert!(changes
            .upsert(&[PgValue::Int8(2), PgValue::Numeric("1e3".into())])
            .is_err());
        changes.delete(&[PgValue::Int8(3)]).unwrap();
        assert_eq!((changes.upserts(), changes.deletes()), (1, 1));
        assert!(!changes.replaces_all());
        assert!(ChangeSet::replacing_all().replaces_all());
    }

    #[test]
    fn added_columns_are_nullable() {
        let at = ColumnPlan::new("seen_at", "TEXT", PgType::Timestamptz).not_null();
        assert_eq!(
            add_column_sql(&plan(&["id"], &["id"]), &at),
            "ALTER TABLE \"app\".\"t\" ADD COLUMN \"seen_at\" timestamptz"
        );
    }
}
