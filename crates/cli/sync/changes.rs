//! What changed in one table since the last run, as a [`ChangeSet`]: rows
//! past a cursor or a key, the exact difference of a full comparison, and
//! keys gone from the source.
//!
//! Both sides are compared in the target's terms: source values go through
//! ferry's coercion, target values are decoded from Postgres's binary
//! form, and rows are matched by the canonical bytes of their keys
//! (ferry-verifier), exactly as `ferry verify --full` matches them, so a
//! sync converges on what verify accepts.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Context, Result};
use ferry_model::{PgValue, Reject, SourceValueRef, TablePlan, TableSchema};
use ferry_reader::{RowSelection, SourceDb};
use ferry_verifier::{bucket_of, key_bytes, row_digest, BucketDigests, RowDigest};
use ferry_writer::{ChangeSet, RowFilter};

use super::cursor;
use super::strategy::{Mode, Strategy};
use crate::args::OnError;
use crate::exit::BadValue;
use crate::row_key::KeyColumns;

/// Rows per bucket of a comparison: a differing bucket costs holding about
/// this many rows per side in memory, and 1 % of rows changed at random
/// touches a bucket in six of ten at 100 rows per bucket but one in seven
/// at 16, so small buckets keep a few-percent change cheap. A bucket's
/// digest is 40 bytes: 2.5 MB per side for a million rows.
const ROWS_PER_BUCKET: u64 = 16;
/// At most this many buckets (40 MB of digests per side).
const MAX_BUCKETS: u64 = 1 << 20;

/// One table being synced: its source, its plan and its strategy.
pub struct TableJob {
    pub source_path: PathBuf,
    pub shown: PathBuf,
    pub table: TableSchema,
    pub plan: TablePlan,
    pub strategy: Strategy,
    /// Positions of the primary key in the plan's columns (which are the
    /// source's columns, in the same order).
    key_positions: Vec<usize>,
    key_namer: KeyColumns,
    on_error: OnError,
    /// Rows left out under `--on-error quarantine`.
    quarantine: Mutex<Quarantine>,
}

/// The rows of one table left out of a run for a value that cannot
/// become its column's type, each listed once however often the run
/// reads it.
#[derive(Default)]
pub struct Quarantine {
    /// One per bad value, in the order found.
    pub rejects: Vec<Reject>,
    /// (row key, column) of each entry of `rejects`.
    listed: HashSet<(String, String)>,
    /// The rows' keys in the target's terms, where their key columns
    /// coerce: their rows in the target are left as they are, not
    /// deleted as gone from the source.
    keys: HashSet<Vec<u8>>,
    /// Distinct rows.
    rows: HashSet<String>,
}

impl Quarantine {
    /// Rows left out.
    pub fn row_count(&self) -> u64 {
        self.rows.len() as u64
    }
}

/// Where the keys of the two sides differ: the bucket count of the
/// comparison and the buckets whose digests disagree.
pub struct KeyMismatch {
    buckets: u32,
    bad: HashSet<u32>,
}

/// How the target differs from the source, in rows.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Drift {
    /// In the source only.
    pub missing: u64,
    /// Same key, other values.
    pub changed: u64,
    /// In the target only.
    pub extra: u64,
}

impl Drift {
    /// Whether both sides hold the same rows.
    pub fn is_empty(&self) -> bool {
        *self == Drift::default()
    }
}

/// A key's canonical bytes and its values, as the target stores them.
type Keys = HashMap<Vec<u8>, Vec<PgValue<'static>>>;

impl TableJob {
    pub fn new(
        source_path: PathBuf,
        shown: PathBuf,
        table: TableSchema,
        plan: TablePlan,
        strategy: Strategy,
        on_error: OnError,
    ) -> Result<TableJob> {
        if table.columns.len() != plan.columns.len() {
            return Err(anyhow!(
                "{}: the plan has {} columns for {} source columns",
                table.name,
                plan.columns.len(),
                table.columns.len()
            ));
        }
        let key_positions = plan
            .primary_key
            .iter()
            .map(|key| {
                plan.columns
                    .iter()
                    .position(|c| &c.name == key)
                    .ok_or_else(|| anyhow!("{}: key column {key} is not planned", table.name))
            })
            .collect::<Result<_>>()?;
        Ok(TableJob {
            source_path,
            shown,
            key_namer: KeyColumns::of(&table),
            table,
            plan,
            strategy,
            key_positions,
            on_error,
            quarantine: Mutex::default(),
        })
    }

    /// Takes the rows this run left out.
    pub fn take_quarantine(&self) -> Quarantine {
        std::mem::take(&mut *self.quarantine.lock().expect("not poisoned"))
    }

    fn is_quarantined(&self, key: &[u8]) -> bool {
        self.quarantine
            .lock()
            .expect("not poisoned")
            .keys
            .contains(key)
    }

    fn open(&self) -> Result<SourceDb> {
        SourceDb::open_as(&self.source_path, &self.shown).context("opening the source")
    }

    /// Buckets for a comparison of this table.
    fn buckets(&self, db: &SourceDb) -> Result<u32> {
        let rows = db.row_count(&self.table)?;
        Ok(u32::try_from((rows / ROWS_PER_BUCKET).clamp(1, MAX_BUCKETS)).expect("clamped"))
    }

    /// A source row in the target's terms. A value that cannot be is, under
    /// `--on-error abort`, an error naming it as the copy does; under
    /// `quarantine`, every bad value of the row is listed and the row is
    /// left out (`None`).
    fn convert<'a>(
        &self,
        rowid: Option<i64>,
        row: &[SourceValueRef<'a>],
    ) -> Result<Option<Vec<PgValue<'a>>>> {
        let mut values = Vec::with_capacity(row.len());
        let mut bad = Vec::new();
        for (at, (column, value)) in self.plan.columns.iter().zip(row).enumerate() {
            match ferry_transformer::coerce(column, *value) {
                Ok(pg) => values.push(pg),
                Err(error) if self.on_error == OnError::Abort => {
                    return Err(BadValue {
                        table: self.table.name.clone(),
                        key: self.key_namer.key(rowid, row),
                        column: column.source_name.clone(),
                        error,
                    }
                    .into())
                }
                Err(error) => {
                    values.push(PgValue::Null);
                    bad.push((at, column, *value, error));
                }
            }
        }
        if bad.is_empty() {
            return Ok(Some(values));
        }
        let key = self.key_namer.key(rowid, row);
        let shown = key.to_string();
        // Its key in the target's terms, when the key itself is good (a
        // table without a key is replaced whole, so it needs none).
        let key_is_good = self
            .key_positions
            .iter()
            .all(|i| bad.iter().all(|(at, ..)| at != i));
        let target_key =
            (!self.key_positions.is_empty() && key_is_good).then(|| self.key_of(&values));
        let mut quarantine = self.quarantine.lock().expect("not poisoned");
        quarantine.rows.insert(shown.clone());
        quarantine.keys.extend(target_key);
        for (_, column, value, error) in bad {
            if quarantine
                .listed
                .insert((shown.clone(), column.source_name.clone()))
            {
                quarantine.rejects.push(Reject {
                    table: self.table.name.clone(),
                    key: key.clone(),
                    column: column.source_name.clone(),
                    reason: error.to_string(),
                    value: value.to_owned_value(),
                });
            }
        }
        Ok(None)
    }

    /// The key values of a full row; the whole row for a table without a
    /// primary key.
    fn key_values<'a>(&self, values: &[PgValue<'a>]) -> Vec<PgValue<'a>> {
        if self.key_positions.is_empty() {
            values.to_vec()
        } else {
            self.key_positions
                .iter()
                .map(|&i| values[i].clone())
                .collect()
        }
    }

    fn key_of(&self, values: &[PgValue<'_>]) -> Vec<u8> {
        key_bytes(&self.key_values(values))
    }

    fn cursor_column(&self) -> Option<usize> {
        match self.strategy.mode {
            Mode::Cursor { column, .. } => Some(column),
            _ => None,
        }
    }

    /// Cursor mode: every row whose cursor is at or past `threshold` (all
    /// rows when there is none yet), and every row whose cursor is NULL,
    /// goes into `changes`. Returns the rows read and the largest cursor
    /// seen.
    pub fn cursor_pass(
        &self,
        threshold: Option<i64>,
        changes: &mut ChangeSet,
        seen: &mut HashSet<Vec<u8>>,
    ) -> Result<(u64, Option<i64>)> {
        let column = self
            .cursor_column()
            .ok_or_else(|| anyhow!("{}: not a cursor table", self.table.name))?;
        let db = self.open()?;
        let plan_column = &self.plan.columns[column];
        let source_name = &self.table.columns[column].name;
        let bound = match threshold {
            Some(threshold) => {
                let shape = db.column_shape(&self.table, source_name)?;
                cursor::sql_bound(plan_column, shape, threshold)
            }
            None => None,
        };
        let selection = match &bound {
            Some(bound) => RowSelection::AtLeast {
                column: source_name,
                bound: bound.as_ref(),
            },
            None => RowSelection::All,
        };
        let mut max = None;
        let mut read = 0;
        let mut failure = None;
        db.read_selected(&self.table, selection, None, &mut |rowid, row| {
            read += 1;
            let values = match self.convert(rowid, row) {
                Ok(Some(values)) => values,
                Ok(None) => return ControlFlow::Continue(()),
                Err(err) => {
                    failure = Some(err);
                    return ControlFlow::Break(());
                }
            };
            let at = cursor::ordinal(&values[column]);
            if let (Some(at), Some(threshold)) = (at, threshold) {
                if at < threshold {
                    return ControlFlow::Continue(());
                }
            }
            max = max.max(at);
            seen.insert(self.key_of(&values));
            if let Err(err) = changes.upsert(&values) {
                failure = Some(err.into());
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        })
        .with_context(|| format!("reading table {}", self.table.name))?;
        match failure {
            Some(err) => Err(err),
            None => Ok((read, max)),
        }
    }

    /// Append mode: every row whose rowid (its `INTEGER PRIMARY KEY`) is
    /// past `after`. Returns the rows read and the largest key read.
    pub fn append_pass(
        &self,
        after: Option<i64>,
        changes: &mut ChangeSet,
        seen: &mut HashSet<Vec<u8>>,
    ) -> Result<(u64, Option<i64>)> {
        let db = self.open()?;
        let selection = after.map_or(RowSelection::All, RowSelection::RowidAbove);
        let mut max = after;
        let mut read = 0;
        let mut failure = None;
        db.read_selected(&self.table, selection, None, &mut |rowid, row| {
            read += 1;
            max = max.max(rowid);
            let result = self.convert(rowid, row).and_then(|values| {
                let Some(values) = values else {
                    return Ok(());
                };
                seen.insert(self.key_of(&values));
                changes.upsert(&values).map_err(anyhow::Error::from)
            });
            match result {
                Ok(()) => ControlFlow::Continue(()),
                Err(err) => {
                    failure = Some(err);
                    ControlFlow::Break(())
                }
            }
        })
        .with_context(|| format!("reading table {}", self.table.name))?;
        match failure {
            Some(err) => Err(err),
            None => Ok((read, max)),
        }
    }

    /// The largest cursor value of the source, reading that column only.
    pub fn max_cursor(&self) -> Result<Option<i64>> {
        let Some(column) = self.cursor_column() else {
            return Ok(None);
        };
        let db = self.open()?;
        let plan_column = &self.plan.columns[column];
        let mut max = None;
        let mut failure = None;
        db.read_selected(
            &self.table,
            RowSelection::All,
            Some(&[column]),
            &mut |_, row| {
                match ferry_transformer::coerce(plan_column, row[0]) {
                    Ok(value) => max = max.max(cursor::ordinal(&value)),
                    // The copy lists the row in ferry.rejects.
                    Err(_) if self.on_error == OnError::Quarantine => {}
                    Err(error) => {
                        failure = Some(anyhow!(
                            "{}, column {}: {error}",
                            self.table.name,
                            plan_column.source_name
                        ));
                        return ControlFlow::Break(());
                    }
                }
                ControlFlow::Continue(())
            },
        )?;
        match failure {
            Some(err) => Err(err),
            None => Ok(max),
        }
    }

    /// Full comparison: bucket digests of whole rows on both sides, then
    /// the rows of the buckets that differ, turned into the exact changes
    /// that make the target equal the source. Returns the largest cursor
    /// value of the source, in cursor mode.
    pub async fn reconcile(
        self: &Arc<Self>,
        client: &tokio_postgres::Client,
        changes: &mut ChangeSet,
    ) -> Result<(Option<i64>, Drift)> {
        let buckets = self.source_buckets().await?;
        // Both sides at once: SQLite on a blocking thread, Postgres here.
        let job = Arc::clone(self);
        let source = tokio::task::spawn_blocking(move || job.source_digests(buckets));
        let mut target = BucketDigests::new(buckets);
        let mut target_rows = 0;
        let streamed =
            ferry_writer::stream_rows(client, &self.plan, RowFilter::All, &mut |values| {
                target_rows += 1;
                target.add(&self.key_of(&values), &row_digest(&values));
                ControlFlow::Continue(())
            })
            .await
            .with_context(|| format!("reading {} from the target", self.plan.name));
        let (source, max_cursor) = source.await.context("source pass panicked")??;
        streamed?;
        let bad: HashSet<u32> = source.mismatched(&target).into_iter().collect();
        if bad.is_empty() {
            return Ok((max_cursor, Drift::default()));
        }
        if self.key_positions.is_empty() {
            // Rows without a key cannot be matched one by one: the
            // source's rows replace the table's.
            let job = Arc::clone(self);
            let all = tokio::task::spawn_blocking(move || {
                let mut all = ChangeSet::replacing_all();
                job.source_rows(|_| true, &mut |values| {
                    all.upsert(&values).map_err(anyhow::Error::from)
                })?;
                Ok::<_, anyhow::Error>(all)
            });
            *changes = all.await.context("source pass panicked")??;
            let drift = Drift {
                missing: changes.upserts(),
                changed: 0,
                extra: target_rows,
            };
            return Ok((max_cursor, drift));
        }

        let in_bad = |key: &[u8]| bad.contains(&bucket_of(key, buckets));
        let mut theirs: HashMap<Vec<u8>, (RowDigest, Vec<PgValue<'static>>)> = HashMap::new();
        ferry_writer::stream_rows(client, &self.plan, RowFilter::All, &mut |values| {
            let key = self.key_of(&values);
            if in_bad(&key) {
                let key_values = self.key_values(&values);
                theirs.insert(key, (row_digest(&values), key_values));
            }
            ControlFlow::Continue(())
        })
        .await
        .with_context(|| format!("reading {} from the target", self.plan.name))?;

        let job = Arc::clone(self);
        let bad_buckets = bad.clone();
        let mut owned = std::mem::take(changes);
        let pass = tokio::task::spawn_blocking(move || {
            let mut mine = HashSet::new();
            let mut drift = Drift::default();
            job.source_rows(
                |key| bad_buckets.contains(&bucket_of(key, buckets)),
                &mut |values| {
                    let key = job.key_of(&values);
                    let same = theirs
                        .get(&key)
                        .is_some_and(|(digest, _)| *digest == row_digest(&values));
                    if !same {
                        match theirs.contains_key(&key) {
                            true => drift.changed += 1,
                            false => drift.missing += 1,
                        }
                        owned.upsert(&values)?;
                    }
                    mine.insert(key);
                    Ok(())
                },
            )?;
            for (key, (_, key_values)) in &theirs {
                if !mine.contains(key) && !job.is_quarantined(key) {
                    drift.extra += 1;
                    owned.delete(key_values)?;
                }
            }
            Ok::<_, anyhow::Error>((owned, drift))
        });
        let (owned, drift) = pass.await.context("source pass panicked")??;
        *changes = owned;
        Ok((max_cursor, drift))
    }

    /// The bucket count of a comparison, from the source's row count.
    async fn source_buckets(self: &Arc<Self>) -> Result<u32> {
        let job = Arc::clone(self);
        tokio::task::spawn_blocking(move || job.buckets(&job.open()?))
            .await
            .context("source pass panicked")?
    }

    /// One pass over the source: bucket digests of whole rows, and the
    /// largest cursor value.
    fn source_digests(&self, buckets: u32) -> Result<(BucketDigests, Option<i64>)> {
        let db = self.open()?;
        let mut digests = BucketDigests::new(buckets);
        let cursor_column = self.cursor_column();
        let mut max = None;
        let mut failure = None;
        db.read_selected(
            &self.table,
            RowSelection::All,
            None,
            &mut |rowid, row| match self.convert(rowid, row) {
                Ok(None) => ControlFlow::Continue(()),
                Ok(Some(values)) => {
                    digests.add(&self.key_of(&values), &row_digest(&values));
                    if let Some(column) = cursor_column {
                        max = max.max(cursor::ordinal(&values[column]));
                    }
                    ControlFlow::Continue(())
                }
                Err(err) => {
                    failure = Some(err);
                    ControlFlow::Break(())
                }
            },
        )
        .with_context(|| format!("reading table {}", self.table.name))?;
        match failure {
            Some(err) => Err(err),
            None => Ok((digests, max)),
        }
    }

    /// Hands every source row whose key passes `keep` to `on_row`.
    fn source_rows(
        &self,
        keep: impl Fn(&[u8]) -> bool,
        on_row: &mut dyn FnMut(Vec<PgValue<'_>>) -> Result<()>,
    ) -> Result<()> {
        let db = self.open()?;
        let mut failure = None;
        db.read_selected(&self.table, RowSelection::All, None, &mut |rowid, row| {
            let result = self.convert(rowid, row).and_then(|values| {
                let Some(values) = values else {
                    return Ok(());
                };
                if keep(&self.key_of(&values)) {
                    on_row(values)?;
                }
                Ok(())
            });
            match result {
                Ok(()) => ControlFlow::Continue(()),
                Err(err) => {
                    failure = Some(err);
                    ControlFlow::Break(())
                }
            }
        })
        .with_context(|| format!("reading table {}", self.table.name))?;
        failure.map_or(Ok(()), Err)
    }

    /// The plan of the key columns alone.
    fn key_plan(&self) -> TablePlan {
        TablePlan {
            columns: self
                .key_positions
                .iter()
                .map(|&i| self.plan.columns[i].clone())
                .collect(),
            partition: None,
            ..self.plan.clone()
        }
    }

    /// Keys-only comparison, first step: a digest of each key on both
    /// sides, in buckets; the buckets that differ hold the keys gone from
    /// the source or missing from the target. `None` for a table without
    /// a primary key. It reads no other column, so it can run while the
    /// source pass reads the changed rows.
    pub async fn compare_keys(
        self: &Arc<Self>,
        client: &tokio_postgres::Client,
    ) -> Result<Option<KeyMismatch>> {
        if self.key_positions.is_empty() {
            return Ok(None);
        }
        let key_plan = self.key_plan();
        let buckets = self.source_buckets().await?;
        // Both sides at once: SQLite on a blocking thread, Postgres here.
        let job = Arc::clone(self);
        let source = tokio::task::spawn_blocking(move || job.source_keys(buckets, None));
        let mut target = BucketDigests::new(buckets);
        let streamed = ferry_writer::stream_rows(client, &key_plan, RowFilter::All, &mut |key| {
            target.add_key(&key_bytes(&key));
            ControlFlow::Continue(())
        })
        .await
        .with_context(|| format!("reading the keys of {} from the target", self.plan.name));
        let (source, _) = source.await.context("source pass panicked")??;
        streamed?;
        let bad = source.mismatched(&target).into_iter().collect();
        Ok(Some(KeyMismatch { buckets, bad }))
    }

    /// Keys-only comparison, second step: the keys of the differing
    /// buckets on both sides; the keys gone from the source are deleted
    /// from the target, and the keys the target lacks that this run did
    /// not already pick up (`seen`) have their rows added (a row whose
    /// cursor never moved forward still arrives).
    pub async fn detect_deletes(
        self: &Arc<Self>,
        client: &tokio_postgres::Client,
        mismatch: KeyMismatch,
        changes: &mut ChangeSet,
        seen: HashSet<Vec<u8>>,
    ) -> Result<()> {
        let KeyMismatch { buckets, bad } = mismatch;
        if bad.is_empty() {
            return Ok(());
        }
        let key_plan = self.key_plan();
        let mut theirs: Keys = HashMap::new();
        ferry_writer::stream_rows(client, &key_plan, RowFilter::All, &mut |key| {
            let bytes = key_bytes(&key);
            if bad.contains(&bucket_of(&bytes, buckets)) {
                theirs.insert(bytes, key);
            }
            ControlFlow::Continue(())
        })
        .await
        .with_context(|| format!("reading the keys of {} from the target", self.plan.name))?;

        let job = Arc::clone(self);
        let mut owned = std::mem::take(changes);
        let pass = tokio::task::spawn_blocking(move || {
            let (_, mine) = job.source_keys(buckets, Some(&bad))?;
            for (key, values) in &theirs {
                if !mine.contains(key) {
                    owned.delete(values)?;
                }
            }
            let missing: HashSet<Vec<u8>> = mine
                .into_iter()
                .filter(|key| !theirs.contains_key(key) && !seen.contains(key))
                .collect();
            if !missing.is_empty() {
                job.source_rows(|key| missing.contains(key), &mut |values| {
                    owned.upsert(&values).map_err(anyhow::Error::from)
                })?;
            }
            Ok::<_, anyhow::Error>(owned)
        });
        *changes = pass.await.context("source pass panicked")??;
        Ok(())
    }

    /// One pass over the source's key columns: digests of the keys in
    /// `buckets` buckets, or, when `collect` names some of them, the keys
    /// that fall in those.
    fn source_keys(
        &self,
        buckets: u32,
        collect: Option<&HashSet<u32>>,
    ) -> Result<(BucketDigests, HashSet<Vec<u8>>)> {
        let db = self.open()?;
        let mut digests = BucketDigests::new(buckets);
        let mut keys = HashSet::new();
        let failure = Mutex::new(None);
        let columns: Vec<&ferry_model::ColumnPlan> = self
            .key_positions
            .iter()
            .map(|&i| &self.plan.columns[i])
            .collect();
        db.read_selected(
            &self.table,
            RowSelection::All,
            Some(&self.key_positions),
            &mut |_, row| {
                let mut key = Vec::with_capacity(row.len());
                for (column, value) in columns.iter().zip(row) {
                    match ferry_transformer::coerce(column, *value) {
                        Ok(pg) => key.push(pg),
                        // The full row pass lists the row in ferry.rejects.
                        Err(_) if self.on_error == OnError::Quarantine => {
                            return ControlFlow::Continue(());
                        }
                        Err(error) => {
                            *failure.lock().expect("not poisoned") = Some(anyhow!(
                                "{}, key column {}: {error}",
                                self.table.name,
                                column.source_name
                            ));
                            return ControlFlow::Break(());
                        }
                    }
                }
                let bytes = key_bytes(&key);
                match collect {
                    Some(bad) => {
                        if bad.contains(&bucket_of(&bytes, buckets)) {
                            keys.insert(bytes);
                        }
                    }
                    None => digests.add_key(&bytes),
                }
                ControlFlow::Continue(())
            },
        )
        .with_context(|| format!("reading the keys of table {}", self.table.name))?;
        match failure.into_inner().expect("not poisoned") {
            Some(err) => Err(err),
            None => Ok((digests, keys)),
        }
    }
}
