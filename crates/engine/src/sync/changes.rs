//! What changed in one table since the last run, as a [`ChangeSet`]: rows
//! past a cursor or a key, the exact difference of a full comparison, and
//! keys gone from the source.
//!
//! A full comparison puts rows into buckets by key ([`Bucketing`]) and
//! compares the source's bucket digests with a [`Baseline`]: the target's,
//! read in full, or those the last run stored, which the target matches.
//! Only the rows of the buckets that differ are then read on both sides,
//! and only the source rows that really differ are read again whole.
//!
//! Both sides are compared in the target's terms: source values go through
//! ferry's coercion, target values are decoded from Postgres's binary
//! form, and rows are matched by the canonical bytes of their keys
//! (ferry-verifier), exactly as `ferry verify --full` matches them, so a
//! sync converges on what verify accepts.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Context, Result};
use ferry_model::{
    plural, ChunkRange, PgType, PgValue, Reject, SourceValueRef, TablePlan, TableSchema,
};
use ferry_reader::{RowSelection, SourceDb};
use ferry_verifier::{bucket_of, key_bytes, row_digest, BucketDigests, Bucketing, RowDigest};
use ferry_writer::{ChangeSet, RowFilter};

use super::cursor;
use super::strategy::{Mode, Strategy};
use crate::exit::BadValue;
use crate::options::OnError;
use crate::prepare::PlannedTable;
use crate::reading::ReadResult;
use crate::row_key::KeyColumns;

/// Rows per bucket of a comparison: a differing bucket costs reading its
/// rows on both sides, and 1 % of rows changed at random touches a bucket
/// in six of ten at 100 rows per bucket but one in twelve at 8, so small
/// buckets keep a few-percent change cheap. A bucket's digest is stored in
/// 48 bytes: 6 MB for a million rows, read and, when anything changed,
/// written by every run.
const ROWS_PER_BUCKET: u64 = 8;
/// At most this many buckets (48 MB of digests per side).
const MAX_BUCKETS: u64 = 1 << 20;
/// Rows per chunk of the source pass, which reads chunks on every core.
const SOURCE_CHUNK_ROWS: u64 = 65_536;

/// What a full comparison compares the source with.
pub enum Baseline {
    /// The target's rows, all read: a table's first comparison, `--check`,
    /// and whenever no stored digests fit.
    Target,
    /// The source's digests as the last run stored them with its changes
    /// (`ferry.sync_digests`): the target holds what they describe.
    Stored(BucketDigests),
}

/// What a full comparison found.
pub struct Reconciled {
    /// The largest cursor value of the source, in cursor mode.
    pub max_cursor: Option<i64>,
    /// How the target differed from the source.
    pub drift: Drift,
    /// The source's digests, which the target matches once the changes
    /// are applied: the next run's [`Baseline::Stored`].
    pub digests: BucketDigests,
    /// Whether they equal the baseline's: nothing to change.
    pub same: bool,
}

/// Hashed buckets for a table of `rows` rows.
fn hashed_buckets(rows: u64) -> u32 {
    u32::try_from((rows / ROWS_PER_BUCKET).clamp(1, MAX_BUCKETS)).expect("clamped")
}

/// Whether digests are neither too coarse for their rows (a changed row
/// would cost reading many) nor too many to store: otherwise the next run
/// compares both sides in full and places the rows anew.
pub fn well_sized(digests: &BucketDigests) -> bool {
    let (rows, buckets) = (digests.rows(), digests.len() as u64);
    match digests.bucketing() {
        Bucketing::Range { .. } => {
            buckets <= MAX_BUCKETS && rows <= ROWS_PER_BUCKET * 4 * buckets.max(1)
        }
        Bucketing::Hash { count } => {
            let (count, ideal) = (u64::from(count), u64::from(hashed_buckets(rows)));
            count <= ideal * 4 && ideal <= count * 4
        }
    }
}

/// The hashed bucket of a key.
fn hashed_bucket(key_bytes: &[u8], buckets: u32) -> i64 {
    i64::from(bucket_of(key_bytes, buckets))
}

/// The key ranges of sorted buckets under [`Bucketing::Range`], neighbours
/// joined; `None` for hashed buckets.
fn key_ranges(bucketing: Bucketing, buckets: &[i64]) -> Option<Vec<(i64, i64)>> {
    let ranges: Option<Vec<(i64, i64)>> = buckets.iter().map(|&b| bucketing.key_range(b)).collect();
    Some(join_touching(ranges?))
}

/// Sorted inclusive ranges, each one that starts right after the previous
/// one's end joined to it.
fn join_touching(ranges: impl IntoIterator<Item = (i64, i64)>) -> Vec<(i64, i64)> {
    let mut joined: Vec<(i64, i64)> = Vec::new();
    for (first, last) in ranges {
        match joined.last_mut() {
            Some(previous) if previous.1.checked_add(1) == Some(first) => previous.1 = last,
            _ => joined.push((first, last)),
        }
    }
    joined
}

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
    /// Threads of a pass over the whole source.
    jobs: usize,
    /// The largest cursor value a watermark may take (see
    /// [`cursor::ceiling`]).
    cursor_ceiling: Option<i64>,
    /// Cursor values read past the ceiling: how many, and the largest.
    future: Mutex<(u64, Option<i64>)>,
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

/// Where the keys of the two sides differ: the hashed bucket count of the
/// comparison and the buckets whose digests disagree.
pub struct KeyMismatch {
    buckets: u32,
    bad: HashSet<i64>,
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

/// Source rows by their key's canonical bytes: digest and rowid.
type SourceRecords = HashMap<Vec<u8>, (RowDigest, Option<i64>)>;

/// Target rows by their key's canonical bytes: digest and key values.
type TargetRecords = HashMap<Vec<u8>, (RowDigest, Vec<PgValue<'static>>)>;

/// How the rows of the buckets that differ compare, key by key.
struct Compared<'a> {
    drift: Drift,
    /// The rowids of the source rows missing or changed in the target…
    rowids: Vec<i64>,
    /// …and the keys of those without a rowid: they are read again whole.
    keys: HashSet<Vec<u8>>,
    /// The key values of the target rows gone from the source, to delete.
    gone: Vec<&'a [PgValue<'static>]>,
}

/// Compares the source's and the target's rows by key. A target row whose
/// key is `quarantined` (its source row holds a bad value) is not gone:
/// it is left as it is.
fn compare_rows<'a>(
    mine: &SourceRecords,
    theirs: &'a TargetRecords,
    quarantined: impl Fn(&[u8]) -> bool,
) -> Compared<'a> {
    let mut compared = Compared {
        drift: Drift::default(),
        rowids: Vec::new(),
        keys: HashSet::new(),
        gone: Vec::new(),
    };
    for (key, (digest, rowid)) in mine {
        match theirs.get(key) {
            Some((theirs, _)) if theirs == digest => continue,
            Some(_) => compared.drift.changed += 1,
            None => compared.drift.missing += 1,
        }
        match rowid {
            Some(rowid) => compared.rowids.push(*rowid),
            None => {
                compared.keys.insert(key.clone());
            }
        }
    }
    for (key, (_, key_values)) in theirs {
        if !mine.contains_key(key) && !quarantined(key) {
            compared.drift.extra += 1;
            compared.gone.push(key_values);
        }
    }
    compared
}

/// Receives a source row's rowid and its values in the target's terms.
type OnConverted<'a> = dyn FnMut(Option<i64>, Vec<PgValue<'_>>) -> Result<()> + 'a;

impl TableJob {
    pub fn new(
        source_path: PathBuf,
        shown: PathBuf,
        planned: PlannedTable,
        strategy: Strategy,
        on_error: OnError,
        jobs: usize,
    ) -> Result<TableJob> {
        let PlannedTable {
            source: table,
            plan,
        } = planned;
        if table.columns.len() != plan.columns.len() {
            return Err(anyhow!(
                "{}: the plan has {} for {}",
                table.name,
                plural(plan.columns.len(), "column", "columns"),
                plural(table.columns.len(), "source column", "source columns")
            ));
        }
        let cursor_ceiling = match strategy.mode {
            Mode::Cursor {
                column,
                lag_seconds,
                ..
            } => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
                cursor::ceiling(&plan.columns[column], lag_seconds, now)
            }
            _ => None,
        };
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
            jobs: jobs.max(1),
            cursor_ceiling,
            future: Mutex::default(),
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

    /// Hashed buckets for a comparison of this table's keys.
    fn key_buckets(&self) -> Result<u32> {
        Ok(hashed_buckets(self.open()?.row_count(&self.table)?))
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

    /// Moves `max` to a cursor value read, unless the value lies past the
    /// ceiling: then it is counted for [`future_note`](Self::future_note)
    /// and the watermark stays behind it, so the row is read again by
    /// every run rather than every later write being missed.
    fn track_cursor(&self, max: &mut Option<i64>, at: Option<i64>) {
        match (at, self.cursor_ceiling) {
            (Some(at), Some(ceiling)) if at > ceiling => {
                let mut future = self.future.lock().expect("not poisoned");
                future.0 += 1;
                future.1 = future.1.max(Some(at));
            }
            _ => *max = (*max).max(at),
        }
    }

    /// A stored watermark, unless it lies past the ceiling (an older ferry
    /// let a future value freeze it): then none, so the run reads every
    /// row again.
    pub fn present_watermark(&self, watermark: Option<i64>) -> Option<i64> {
        watermark.filter(|&w| match self.cursor_ceiling {
            Some(ceiling) => w <= ceiling,
            None => true,
        })
    }

    /// What the run said about cursor values past now, if it read any.
    pub fn future_note(&self) -> Option<String> {
        let (rows, Some(latest)) = *self.future.lock().expect("not poisoned") else {
            return None;
        };
        let column = self.cursor_column()?;
        let latest =
            ferry_verifier::render_value(&cursor::value_of(&self.plan.columns[column], latest), 64);
        Some(format!(
            "{} {} values past now (up to {latest}): they are synced by every run, and the \
             watermark stays at the latest value that is not in the future; correct them in \
             SQLite if they are wrong",
            plural(rows, "row has", "rows have"),
            self.table.columns[column].name
        ))
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
        db.read_selected(&self.table, selection, None, &mut |rowid, row| {
            read += 1;
            let Some(values) = self.convert(rowid, row)? else {
                return Ok(());
            };
            let at = cursor::ordinal(&values[column]);
            if let (Some(at), Some(threshold)) = (at, threshold) {
                if at < threshold {
                    return Ok(());
                }
            }
            self.track_cursor(&mut max, at);
            seen.insert(self.key_of(&values));
            changes.upsert(&values)?;
            Ok(())
        })
        .read_context(|| format!("reading table {}", self.table.name))?;
        Ok((read, max))
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
        db.read_selected(&self.table, selection, None, &mut |rowid, row| {
            read += 1;
            max = max.max(rowid);
            let Some(values) = self.convert(rowid, row)? else {
                return Ok(());
            };
            seen.insert(self.key_of(&values));
            changes.upsert(&values)?;
            Ok(())
        })
        .read_context(|| format!("reading table {}", self.table.name))?;
        Ok((read, max))
    }

    /// The largest cursor value of the source, reading that column only.
    pub fn max_cursor(&self) -> Result<Option<i64>> {
        let Some(column) = self.cursor_column() else {
            return Ok(None);
        };
        let db = self.open()?;
        let plan_column = &self.plan.columns[column];
        let mut max = None;
        db.read_selected(
            &self.table,
            RowSelection::All,
            Some(&[column]),
            &mut |_, row| {
                match ferry_transformer::coerce(plan_column, row[0]) {
                    Ok(value) => self.track_cursor(&mut max, cursor::ordinal(&value)),
                    // The copy lists the row in ferry.rejects.
                    Err(_) if self.on_error == OnError::Quarantine => {}
                    Err(error) => {
                        return Err(anyhow!(
                            "{}, column {}: {error}",
                            self.table.name,
                            plan_column.source_name
                        ))
                    }
                }
                Ok(())
            },
        )
        .read_result()?;
        Ok(max)
    }

    /// How this table's rows go into buckets for a fresh comparison:
    /// ranges of its key when the key is the rowid (so that a bucket's
    /// rows are read on either side through the key's b-tree), else a
    /// hash of the key; about [`ROWS_PER_BUCKET`] rows each, at most
    /// [`MAX_BUCKETS`] buckets.
    fn bucketing(&self, db: &SourceDb) -> Result<Bucketing> {
        let rows = db.row_count(&self.table)?;
        if self.range_key().is_some() {
            let span = match db.chunk_ranges(&self.table, u64::MAX)?.first() {
                Some(ChunkRange::Rowid { start, end }) => end.abs_diff(*start) + 1,
                _ => 1,
            };
            let dense = u64::try_from(
                (u128::from(span) * u128::from(ROWS_PER_BUCKET)).div_ceil(u128::from(rows.max(1))),
            )
            .unwrap_or(u64::MAX);
            let width = dense.max(span.div_ceil(MAX_BUCKETS)).max(1);
            return Ok(Bucketing::Range { width });
        }
        Ok(Bucketing::Hash {
            count: hashed_buckets(rows),
        })
    }

    /// The key column's target name when the primary key is the source's
    /// rowid, an integer column in the target too: then buckets can be
    /// key ranges.
    fn range_key(&self) -> Option<&str> {
        let [at] = self.key_positions[..] else {
            return None;
        };
        let column = &self.plan.columns[at];
        let integer = matches!(
            column.pg_type,
            PgType::SmallInt | PgType::Integer | PgType::BigInt
        );
        (integer
            && !self.table.without_rowid
            && self.table.rowid_alias.as_deref() == Some(self.table.columns[at].name.as_str()))
        .then_some(column.name.as_str())
    }

    /// Whether digests stored by an earlier run are placed the way this
    /// table's rows can be found now (key ranges need the rowid as key).
    pub fn fits(&self, stored: &BucketDigests) -> bool {
        matches!(stored.bucketing(), Bucketing::Range { .. }) == self.range_key().is_some()
    }

    /// The bucket of a row (its values in plan order) under `bucketing`.
    fn bucket_of_row(&self, bucketing: Bucketing, values: &[PgValue<'_>]) -> Result<i64> {
        let key = self.key_values(values);
        let bytes = match bucketing {
            Bucketing::Range { .. } => Vec::new(),
            Bucketing::Hash { .. } => key_bytes(&key),
        };
        bucketing.bucket(&key, &bytes).ok_or_else(|| {
            anyhow!(
                "{}: key {} is not an integer; run ferry sync --reset {} to compare it anew",
                self.table.name,
                key.iter()
                    .map(|v| ferry_verifier::render_value(v, 64))
                    .collect::<Vec<_>>()
                    .join(", "),
                self.table.name
            )
        })
    }

    /// Full comparison: the source's bucket digests against `baseline`,
    /// then the rows of the buckets that differ on both sides, turned into
    /// the exact changes that make the target equal the source.
    ///
    /// With [`Baseline::Stored`] only the source is read in full: the
    /// target holds what the stored digests describe (they are written
    /// with the changes that made it so), so nothing else can differ, and
    /// a run where nothing changed reads nothing of the target.
    pub async fn reconcile(
        self: &Arc<Self>,
        client: &tokio_postgres::Client,
        changes: &mut ChangeSet,
        baseline: Baseline,
    ) -> Result<Reconciled> {
        let bucketing = match &baseline {
            Baseline::Stored(stored) => stored.bucketing(),
            Baseline::Target => {
                let job = Arc::clone(self);
                tokio::task::spawn_blocking(move || job.bucketing(&job.open()?))
                    .await
                    .context("source pass panicked")??
            }
        };
        // Both sides at once: SQLite on blocking threads, Postgres here.
        let job = Arc::clone(self);
        let source = tokio::task::spawn_blocking(move || job.source_digests(bucketing));
        let (baseline, target_rows) = match baseline {
            Baseline::Stored(stored) => (Ok(stored), None),
            Baseline::Target => match self.target_digests(client, bucketing).await {
                Ok((digests, rows)) => (Ok(digests), Some(rows)),
                Err(err) => (Err(err), None),
            },
        };
        let (digests, max_cursor) = source.await.context("source pass panicked")??;
        let baseline = baseline?;
        let bad = digests.mismatched(&baseline);
        let mut reconciled = Reconciled {
            max_cursor,
            drift: Drift::default(),
            digests,
            same: bad.is_empty(),
        };
        if bad.is_empty() {
            return Ok(reconciled);
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
            let extra = match target_rows {
                Some(rows) => rows,
                None => {
                    ferry_writer::count_rows(client, &self.plan.schema, &self.plan.name).await?
                }
            };
            reconciled.drift = Drift {
                missing: changes.upserts(),
                changed: 0,
                extra,
            };
            return Ok(reconciled);
        }

        // The rows of those buckets on both sides at once; then only the
        // source rows that differ are read again, whole.
        let job = Arc::clone(self);
        let wanted = bad.clone();
        let source = tokio::task::spawn_blocking(move || job.source_records_in(bucketing, &wanted));
        let theirs = self.target_rows_in(client, bucketing, &bad).await;
        let mine = source.await.context("source pass panicked")??;
        let theirs = theirs?;
        let compared = compare_rows(&mine, &theirs, |key| self.is_quarantined(key));
        let mut owned = std::mem::take(changes);
        for key_values in &compared.gone {
            owned.delete(key_values)?;
        }
        let Compared {
            drift,
            rowids,
            keys,
            ..
        } = compared;
        let job = Arc::clone(self);
        let pass = tokio::task::spawn_blocking(move || {
            job.source_rows_by(rowids, &keys, &mut |values| {
                owned.upsert(&values).map_err(anyhow::Error::from)
            })?;
            Ok::<_, anyhow::Error>(owned)
        });
        let owned = pass.await.context("source pass panicked")??;
        *changes = owned;
        reconciled.drift = drift;
        Ok(reconciled)
    }

    /// The target's bucket digests and row count, reading every row.
    async fn target_digests(
        &self,
        client: &tokio_postgres::Client,
        bucketing: Bucketing,
    ) -> Result<(BucketDigests, u64)> {
        let mut digests = BucketDigests::new(bucketing);
        let rows = self
            .stream_target(client, bucketing, RowFilter::All, &mut |bucket, values| {
                digests.add(bucket, &row_digest(&values));
            })
            .await?;
        Ok((digests, rows))
    }

    /// The target's rows in the buckets `bad`, by key: their digests and
    /// key values. Key ranges are read through the key's index; hashed
    /// buckets need every row read.
    async fn target_rows_in(
        &self,
        client: &tokio_postgres::Client,
        bucketing: Bucketing,
        bad: &[i64],
    ) -> Result<TargetRecords> {
        let ranges = key_ranges(bucketing, bad);
        let filter = match (self.range_key(), &ranges) {
            (Some(column), Some(ranges)) => RowFilter::KeyRanges { column, ranges },
            _ => RowFilter::All,
        };
        let wanted: HashSet<i64> = bad.iter().copied().collect();
        let mut theirs = HashMap::new();
        self.stream_target(client, bucketing, filter, &mut |bucket, values| {
            if wanted.contains(&bucket) {
                let key = self.key_of(&values);
                theirs.insert(key, (row_digest(&values), self.key_values(&values)));
            }
        })
        .await?;
        Ok(theirs)
    }

    /// Hands each target row matching `filter` to `on_row` with its
    /// bucket; returns the rows read.
    async fn stream_target(
        &self,
        client: &tokio_postgres::Client,
        bucketing: Bucketing,
        filter: RowFilter<'_>,
        on_row: &mut (dyn FnMut(i64, Vec<PgValue<'static>>) + Send),
    ) -> Result<u64> {
        ferry_writer::stream_rows(client, &self.plan, filter, &mut |values| {
            on_row(self.bucket_of_row(bucketing, &values)?, values);
            Ok(())
        })
        .await
        .read_context(|| format!("reading {} from the target", self.plan.name))
    }

    /// One pass over the source, on `jobs` threads: bucket digests of
    /// whole rows, and the largest cursor value.
    fn source_digests(&self, bucketing: Bucketing) -> Result<(BucketDigests, Option<i64>)> {
        let chunks = self
            .open()?
            .chunk_ranges(&self.table, SOURCE_CHUNK_ROWS)
            .with_context(|| format!("reading table {}", self.table.name))?;
        let cursor_column = self.cursor_column();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.jobs)
            .build()
            .context("starting the source pass's threads")?;
        pool.install(|| self.digest_chunks(chunks, bucketing, cursor_column))
    }

    fn digest_chunks(
        &self,
        chunks: Vec<ChunkRange>,
        bucketing: Bucketing,
        cursor_column: Option<usize>,
    ) -> Result<(BucketDigests, Option<i64>)> {
        crate::parallel::fold_chunks(
            &crate::connections::SourceConnections::open_each(&self.source_path, &self.shown),
            chunks,
            || (BucketDigests::new(bucketing), None),
            |db, range| {
                let mut digests = BucketDigests::new(bucketing);
                let mut max = None;
                self.read_converted(db, range, &mut |_, values| {
                    digests.add(
                        self.bucket_of_row(bucketing, &values)?,
                        &row_digest(&values),
                    );
                    if let Some(column) = cursor_column {
                        self.track_cursor(&mut max, cursor::ordinal(&values[column]));
                    }
                    Ok(())
                })?;
                Ok((digests, max))
            },
            |(mut digests, max), (more, other)| {
                digests.merge(&more);
                (digests, max.max(other))
            },
        )
    }

    /// The source's rows in the buckets `bad`, by key: their digests and
    /// rowids. Key ranges are read as rowid ranges, hashed buckets need
    /// every row read.
    fn source_records_in(&self, bucketing: Bucketing, bad: &[i64]) -> Result<SourceRecords> {
        let mut mine = HashMap::new();
        let mut record = |rowid: Option<i64>, values: Vec<PgValue<'_>>| {
            mine.insert(self.key_of(&values), (row_digest(&values), rowid));
        };
        match key_ranges(bucketing, bad) {
            Some(ranges) if self.range_key().is_some() => {
                let db = self.open()?;
                for (start, end) in ranges {
                    self.read_converted(
                        &db,
                        ChunkRange::Rowid { start, end },
                        &mut |rowid, values| {
                            record(rowid, values);
                            Ok(())
                        },
                    )?;
                }
            }
            _ => {
                let wanted: HashSet<i64> = bad.iter().copied().collect();
                let db = self.open()?;
                for range in db.chunk_ranges(&self.table, u64::MAX)? {
                    self.read_converted(&db, range, &mut |rowid, values| {
                        if wanted.contains(&self.bucket_of_row(bucketing, &values)?) {
                            record(rowid, values);
                        }
                        Ok(())
                    })?;
                }
            }
        }
        Ok(mine)
    }

    /// The source rows with these rowids, and those with these keys (a
    /// table without rowids), handed to `on_row`.
    fn source_rows_by(
        &self,
        mut rowids: Vec<i64>,
        keys: &HashSet<Vec<u8>>,
        on_row: &mut dyn FnMut(Vec<PgValue<'_>>) -> Result<()>,
    ) -> Result<()> {
        if !rowids.is_empty() {
            rowids.sort_unstable();
            let db = self.open()?;
            for (start, end) in join_touching(rowids.into_iter().map(|r| (r, r))) {
                self.read_converted(&db, ChunkRange::Rowid { start, end }, &mut |_, values| {
                    on_row(values)
                })?;
            }
        }
        if !keys.is_empty() {
            self.source_rows(|key| keys.contains(key), on_row)?;
        }
        Ok(())
    }

    /// Hands every row of one chunk that converts to `on_row`.
    fn read_converted(
        &self,
        db: &SourceDb,
        range: ChunkRange,
        on_row: &mut OnConverted<'_>,
    ) -> Result<()> {
        db.read_chunk(
            &self.table,
            range,
            &mut |rowid, row| match self.convert(rowid, row)? {
                Some(values) => on_row(rowid, values),
                None => Ok(()),
            },
        )
        .read_context(|| format!("reading table {}", self.table.name))?;
        Ok(())
    }

    /// Hands every source row whose key passes `keep` to `on_row`.
    fn source_rows(
        &self,
        keep: impl Fn(&[u8]) -> bool,
        on_row: &mut dyn FnMut(Vec<PgValue<'_>>) -> Result<()>,
    ) -> Result<()> {
        let db = self.open()?;
        db.read_selected(&self.table, RowSelection::All, None, &mut |rowid, row| {
            let Some(values) = self.convert(rowid, row)? else {
                return Ok(());
            };
            if keep(&self.key_of(&values)) {
                on_row(values)?;
            }
            Ok(())
        })
        .read_context(|| format!("reading table {}", self.table.name))?;
        Ok(())
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
        let job = Arc::clone(self);
        let buckets = tokio::task::spawn_blocking(move || job.key_buckets())
            .await
            .context("source pass panicked")??;
        // Both sides at once: SQLite on a blocking thread, Postgres here.
        let job = Arc::clone(self);
        let source = tokio::task::spawn_blocking(move || job.source_keys(buckets, None));
        let mut target = BucketDigests::new(Bucketing::Hash { count: buckets });
        let streamed = ferry_writer::stream_rows(client, &key_plan, RowFilter::All, &mut |key| {
            let bytes = key_bytes(&key);
            target.add_key(hashed_bucket(&bytes, buckets), &bytes);
            Ok(())
        })
        .await
        .read_context(|| format!("reading the keys of {} from the target", self.plan.name));
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
            if bad.contains(&hashed_bucket(&bytes, buckets)) {
                theirs.insert(bytes, key);
            }
            Ok(())
        })
        .await
        .read_context(|| format!("reading the keys of {} from the target", self.plan.name))?;

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
        collect: Option<&HashSet<i64>>,
    ) -> Result<(BucketDigests, HashSet<Vec<u8>>)> {
        let db = self.open()?;
        let mut digests = BucketDigests::new(Bucketing::Hash { count: buckets });
        let mut keys = HashSet::new();
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
                            return Ok(());
                        }
                        Err(error) => {
                            return Err(anyhow!(
                                "{}, key column {}: {error}",
                                self.table.name,
                                column.source_name
                            ))
                        }
                    }
                }
                let bytes = key_bytes(&key);
                let bucket = hashed_bucket(&bytes, buckets);
                match collect {
                    Some(bad) => {
                        if bad.contains(&bucket) {
                            keys.insert(bytes);
                        }
                    }
                    None => digests.add_key(bucket, &bytes),
                }
                Ok(())
            },
        )
        .read_context(|| format!("reading the keys of table {}", self.table.name))?;
        Ok((digests, keys))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use ferry_model::SourceValue;
    use ferry_verifier::RowDigest;

    use super::*;
    use crate::sync::strategy::{strategy, SyncConfig};
    use crate::testing::TestSource;

    /// `t` is keyed by its rowid, `u` by text; `t`'s row 2 holds two bad
    /// values, `k`'s row holds a bad key.
    pub(in crate::sync) const SOURCE: &str =
        "CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER, d DATE);
         INSERT INTO t VALUES (1, 10, '2024-01-01'), (2, 'ten', 'soon');
         CREATE TABLE u(k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID;
         CREATE TABLE k(code INTEGER NOT NULL PRIMARY KEY, v INTEGER) WITHOUT ROWID;
         INSERT INTO k VALUES ('x', 'y');";

    /// The job syncing `table` of `source`, under `config` (ferry.toml's
    /// `[tables.NAME.sync]`, if any).
    pub(in crate::sync) fn job(
        source: &TestSource,
        table: &str,
        config: Option<&str>,
        on_error: OnError,
    ) -> TableJob {
        let planned = source.table(table);
        let config: Option<SyncConfig> = config.map(|c| toml::from_str(c).unwrap());
        let strategy = strategy(&planned.source, &planned.plan, config.as_ref()).unwrap();
        let path = source.prepared.source.path().to_owned();
        TableJob::new(path.clone(), path, planned, strategy, on_error, 1).unwrap()
    }

    /// The job syncing `t` of [`SOURCE`] by its date column `d`.
    pub(in crate::sync) fn date_cursor(source: &TestSource) -> TableJob {
        job(
            source,
            "t",
            Some("mode = 'cursor'\ncursor = 'd'"),
            OnError::Abort,
        )
    }

    fn row<'a>(values: &'a [SourceValue]) -> Vec<SourceValueRef<'a>> {
        values.iter().map(SourceValue::as_ref).collect()
    }

    #[test]
    fn rows_compare_by_key_into_drift_rereads_and_deletes() {
        let digest = |b: u8| RowDigest([b; 32]);
        let key_values = |k: i64| vec![PgValue::Int8(k)];
        let mine: SourceRecords = [
            (b"same".to_vec(), (digest(1), Some(1))),
            (b"changed".to_vec(), (digest(2), Some(2))),
            (b"missing".to_vec(), (digest(3), None)),
        ]
        .into();
        let theirs: TargetRecords = [
            (b"same".to_vec(), (digest(1), key_values(1))),
            (b"changed".to_vec(), (digest(9), key_values(2))),
            (b"extra".to_vec(), (digest(4), key_values(4))),
            (b"quarantined".to_vec(), (digest(5), key_values(5))),
        ]
        .into();
        let compared = compare_rows(&mine, &theirs, |key| key == b"quarantined");
        assert_eq!(
            compared.drift,
            Drift {
                missing: 1,
                changed: 1,
                extra: 1
            }
        );
        // Changed and missing rows are read again whole: by rowid where
        // they have one, else by key.
        assert_eq!(compared.rowids, [2]);
        assert_eq!(compared.keys, [b"missing".to_vec()].into());
        assert_eq!(compared.gone, [&key_values(4)[..]]);

        let empty = TargetRecords::new();
        let nothing = compare_rows(&mine, &empty, |_| false);
        assert_eq!(nothing.drift.missing, 3);
        assert!(nothing.gone.is_empty());
    }

    #[test]
    fn buckets_hold_about_eight_rows_within_bounds() {
        assert_eq!(hashed_buckets(0), 1);
        assert_eq!(hashed_buckets(80), 10);
        assert_eq!(hashed_buckets(u64::MAX), MAX_BUCKETS as u32);

        let hashed = |count, rows: u64| {
            let mut digests = BucketDigests::new(Bucketing::Hash { count });
            for row in 0..rows {
                digests.add(0, &RowDigest([row as u8; 32]));
            }
            well_sized(&digests)
        };
        assert!(hashed(10, 80));
        assert!(hashed(40, 80), "four times too many buckets still do");
        assert!(!hashed(41, 80));
        assert!(!hashed(2, 80), "too coarse: a change costs reading 40 rows");
        let mut ranged = BucketDigests::new(Bucketing::Range { width: 100 });
        for row in 0..32 {
            ranged.add(0, &RowDigest([row; 32]));
        }
        assert!(well_sized(&ranged));
        ranged.add(0, &RowDigest([99; 32]));
        assert!(!well_sized(&ranged));
    }

    #[test]
    fn touching_ranges_join() {
        assert_eq!(
            join_touching([(1, 3), (4, 6), (8, 9), (10, 10)]),
            [(1, 6), (8, 10)]
        );
        assert_eq!(
            join_touching([(0, i64::MAX), (i64::MIN, 0)]),
            [(0, i64::MAX), (i64::MIN, 0)],
            "no overflow past i64::MAX"
        );
        assert_eq!(key_ranges(Bucketing::Hash { count: 4 }, &[1, 2]), None);
        assert_eq!(
            key_ranges(Bucketing::Range { width: 10 }, &[0, 1, 3]),
            Some(vec![(0, 19), (30, 39)])
        );
    }

    #[test]
    fn a_job_needs_a_plan_that_fits_its_table() {
        let source = TestSource::new(SOURCE);
        let strategy = || strategy(&source.table("t").source, &source.table("t").plan, None);
        let path = std::path::PathBuf::from("unused.db");
        let new = |planned| {
            TableJob::new(
                path.clone(),
                path.clone(),
                planned,
                strategy().unwrap(),
                OnError::Abort,
                1,
            )
        };
        let mut short = source.table("t");
        short.plan.columns.pop();
        let err = new(short).err().unwrap().to_string();
        assert_eq!(err, "t: the plan has 2 columns for 3 source columns");
        let mut unkeyed = source.table("t");
        unkeyed.plan.primary_key = vec!["nope".to_owned()];
        let err = new(unkeyed).err().unwrap().to_string();
        assert_eq!(err, "t: key column nope is not planned");
    }

    #[test]
    fn quarantine_lists_each_bad_value_once_and_keeps_good_keys() {
        let source = TestSource::new(SOURCE);
        let t = job(&source, "t", None, OnError::Quarantine);
        let good = [
            SourceValue::Integer(1),
            SourceValue::Integer(10),
            SourceValue::Text(b"2024-01-01".to_vec()),
        ];
        assert_eq!(t.convert(Some(1), &row(&good)).unwrap().unwrap().len(), 3);
        let bad = [
            SourceValue::Integer(2),
            SourceValue::Text(b"ten".to_vec()),
            SourceValue::Text(b"soon".to_vec()),
        ];
        // Read twice (a cursor pass and a key comparison), listed once.
        for _ in 0..2 {
            assert!(t.convert(Some(2), &row(&bad)).unwrap().is_none());
        }
        let quarantine = t.take_quarantine();
        assert_eq!(quarantine.row_count(), 1);
        let listed: Vec<(String, &str)> = quarantine
            .rejects
            .iter()
            .map(|r| (r.key.to_string(), r.column.as_str()))
            .collect();
        assert_eq!(listed, [("id=2".to_owned(), "n"), ("id=2".to_owned(), "d")]);
        // Its row in the target is kept, found by its key.
        assert_eq!(quarantine.keys, [key_bytes(&[PgValue::Int8(2)])].into());

        // A bad key cannot find the row in the target: no key is kept.
        let k = job(&source, "k", None, OnError::Quarantine);
        let bad_key = [SourceValue::Text(b"x".to_vec()), SourceValue::Integer(1)];
        assert!(k.convert(None, &row(&bad_key)).unwrap().is_none());
        let quarantine = k.take_quarantine();
        assert_eq!(quarantine.row_count(), 1);
        assert!(quarantine.keys.is_empty());
    }

    #[test]
    fn abort_names_the_bad_value() {
        let source = TestSource::new(SOURCE);
        let t = job(&source, "t", None, OnError::Abort);
        let bad = [
            SourceValue::Integer(2),
            SourceValue::Text(b"ten".to_vec()),
            SourceValue::Integer(0),
        ];
        let err = t.convert(Some(2), &row(&bad)).err().unwrap();
        let bad = err.downcast_ref::<BadValue>().unwrap();
        assert_eq!(
            (bad.key.to_string(), bad.column.as_str()),
            ("id=2".to_owned(), "n")
        );
        assert!(t.take_quarantine().rejects.is_empty());
    }

    #[test]
    fn cursor_values_past_now_do_not_move_the_watermark() {
        let source = TestSource::new(SOURCE);
        let t = date_cursor(&source);
        // Days since 2000-01-01: 9999-01-01 lies past any now.
        let future = i64::from(days_from_2000(9999));
        let mut max = None;
        t.track_cursor(&mut max, Some(future));
        assert_eq!(max, None);
        t.track_cursor(&mut max, Some(100));
        t.track_cursor(&mut max, Some(50));
        assert_eq!(max, Some(100));
        assert_eq!(t.present_watermark(Some(100)), Some(100));
        assert_eq!(t.present_watermark(Some(future)), None);
        let note = t.future_note().unwrap();
        assert!(
            note.starts_with("1 row has d values past now (up to 9999-01-01)"),
            "{note}"
        );

        // An integer cursor has no clock: nothing is in its future.
        let n = job(
            &source,
            "t",
            Some("mode = 'cursor'\ncursor = 'n'"),
            OnError::Abort,
        );
        let mut max = None;
        n.track_cursor(&mut max, Some(i64::MAX));
        assert_eq!(max, Some(i64::MAX));
        assert_eq!(n.present_watermark(Some(i64::MAX)), Some(i64::MAX));
        assert_eq!(n.future_note(), None);
    }

    fn days_from_2000(year: i64) -> i32 {
        let days = ferry_model::days_from_civil(year, 1, 1) - ferry_model::PG_EPOCH_UNIX_DAYS;
        i32::try_from(days).unwrap()
    }

    #[test]
    fn only_a_rowid_key_buckets_by_range() {
        let source = TestSource::new(SOURCE);
        let t = job(&source, "t", None, OnError::Abort);
        let u = job(&source, "u", None, OnError::Abort);
        let range = BucketDigests::new(Bucketing::Range { width: 8 });
        let hash = BucketDigests::new(Bucketing::Hash { count: 8 });
        assert_eq!(t.range_key(), Some("id"));
        assert!(t.fits(&range) && !t.fits(&hash));
        assert_eq!(u.range_key(), None);
        assert!(u.fits(&hash) && !u.fits(&range));

        let row = [PgValue::Int8(17), PgValue::Null, PgValue::Null];
        assert_eq!(
            t.bucket_of_row(Bucketing::Range { width: 8 }, &row)
                .unwrap(),
            2
        );
        let text = [PgValue::Text("a".into()), PgValue::Null];
        let hashed = u
            .bucket_of_row(Bucketing::Hash { count: 8 }, &text)
            .unwrap();
        assert!((0..8).contains(&hashed));
        let err = u
            .bucket_of_row(Bucketing::Range { width: 8 }, &text)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "u: key 'a' is not an integer; run ferry sync --reset u to compare it anew"
        );
    }
}
