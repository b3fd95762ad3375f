//! `ferry verify`: prove the target holds exactly what the source becomes
//! through ferry's own coercion, and name every row and column that does
//! not.
//!
//! Checks run cheapest first: the target schema against the plan, then row
//! counts, then rows. Rows are reduced on both sides to canonical blake3
//! digests (ferry-verifier). `--full` compares order-independent digests
//! per key bucket, computed on both sides at once in one streaming pass
//! each, then re-reads only the buckets that differ to name their rows.
//! `--sample N` (the default) checks a reproducible random sample of keys.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result};
use ferry_model::{ChunkRange, PgValue, SourceValueRef, TablePlan, TableSchema};
use ferry_reader::SourceDb;
use ferry_verifier::{
    bucket_of, diff_rows, key_bytes, row_digest, BucketDigests, Difference, DifferenceKind, Mode,
    RowEntry, Status, TableDiff, TableResult, VerifyReport,
};
use ferry_writer::RowFilter;

use crate::args::VerifyArgs;
use crate::prepare::prepare;
use crate::row_key::KeyColumns;

/// Differences listed per table; the counts are always complete.
const LISTED_DIFFERENCES: usize = 100;
/// Rows per side kept in memory while naming the rows of differing
/// buckets; past it the counts are lower bounds and the report says so.
const DRILL_DOWN_ROWS: usize = 500_000;
/// Keys looked up in the target per query in sampled mode.
const LOOKUP_BATCH: usize = 1_000;

pub async fn verify(args: &VerifyArgs) -> Result<VerifyReport> {
    let started = Instant::now();
    let prepared = prepare(&args.source)?;
    let client = ferry_writer::connect(&args.target)
        .await
        .context("connecting to the target")?;
    let mode = if args.schema_only {
        Mode::SchemaOnly
    } else if args.full {
        Mode::Full
    } else {
        Mode::Sample {
            rows: args.sample,
            seed: args.seed,
        }
    };
    let mut tables = Vec::new();
    for plan in &prepared.plans {
        let source = prepared
            .schema
            .table(&plan.source_name)
            .expect("plans are made from the source's tables")
            .clone();
        let check = Arc::new(TableCheck::new(
            prepared.source.path().to_owned(),
            source,
            plan.clone(),
        ));
        let table_started = Instant::now();
        let mut result = check
            .verify(&client, &prepared.source, &mode, args.jobs)
            .await?;
        result.seconds = table_started.elapsed().as_secs_f64();
        tables.push(result);
    }
    Ok(VerifyReport {
        mode,
        tables,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// One table under verification: what both sides are reduced to.
struct TableCheck {
    source_path: PathBuf,
    table: TableSchema,
    plan: TablePlan,
    /// Source column names, used to name columns and keys in the report
    /// the way the copy named them in ferry.rejects.
    names: Vec<String>,
    /// Positions of the primary key in the plan's columns; empty for a
    /// table without one (the whole row is then its key).
    key_positions: Vec<usize>,
    key_namer: KeyColumns,
}

/// What one pass over the source found besides digests: rows that cannot
/// be converted (quarantined by the copy, or never copied).
#[derive(Default)]
struct Unconvertible {
    rows: Vec<(String, String, String)>,
}

impl TableCheck {
    fn new(source_path: PathBuf, table: TableSchema, plan: TablePlan) -> TableCheck {
        let key_positions = plan
            .primary_key
            .iter()
            .filter_map(|key| plan.columns.iter().position(|c| &c.name == key))
            .collect();
        TableCheck {
            source_path,
            names: plan.columns.iter().map(|c| c.source_name.clone()).collect(),
            key_namer: KeyColumns::of(&table),
            key_positions,
            table,
            plan,
        }
    }

    async fn verify(
        self: &Arc<Self>,
        client: &tokio_postgres::Client,
        source: &SourceDb,
        mode: &Mode,
        jobs: usize,
    ) -> Result<TableResult> {
        let plan = &self.plan;
        let mut result = TableResult::new(
            self.table.name.clone(),
            format!("{}.{}", plan.schema, plan.name),
        );
        let actual = ferry_writer::inspect_table(client, &plan.schema, &plan.name)
            .await
            .with_context(|| format!("inspecting {}.{}", plan.schema, plan.name))?;
        let Some(actual) = actual else {
            result
                .schema
                .push("table is missing in the target".to_owned());
            result.status = Status::Fail;
            return Ok(result);
        };
        result.schema = ferry_writer::schema_differences(plan, &actual);
        if matches!(mode, Mode::SchemaOnly) || self.columns_differ(&actual) {
            result.status = if result.schema.is_empty() {
                Status::Pass
            } else {
                Status::Fail
            };
            return Ok(result);
        }

        result.source_rows = source.row_count(&self.table)?;
        result.target_rows = ferry_writer::count_rows(client, &plan.schema, &plan.name).await?;
        let rejected: HashSet<String> = ferry_writer::fetch_rejects(client, &self.table.name)
            .await?
            .into_iter()
            .map(|(key, _, _)| key)
            .collect();

        let (diff, unconvertible, checked, complete) = match mode {
            Mode::Sample { rows, seed } if !self.key_positions.is_empty() => {
                let (diff, unconvertible, checked) =
                    self.sampled(client, source, *rows, *seed).await?;
                (diff, unconvertible, checked, true)
            }
            _ => self.full(client, jobs, result.source_rows).await?,
        };
        result.checked_rows = checked;
        // Every row the copy put in ferry.rejects, sampled or not: the
        // target is expected to lack exactly these.
        result.quarantined = rejected.len() as u64;
        let mut differences = Vec::new();
        for (key, column, reason) in unconvertible.rows {
            let kind = if rejected.contains(&key) {
                DifferenceKind::Quarantined
            } else {
                result.missing += 1;
                DifferenceKind::Missing
            };
            differences.push(Difference {
                kind,
                key,
                columns: vec![ferry_verifier::ColumnDiff {
                    column,
                    source: Some(reason),
                    target: None,
                }],
            });
        }
        result.missing += diff.missing.len() as u64;
        result.extra += diff.extra.len() as u64;
        result.changed += diff.changed.len() as u64;
        differences.extend(diff.into_differences(LISTED_DIFFERENCES));
        differences.truncate(LISTED_DIFFERENCES);
        result.differences = differences;

        let expected_target = result.source_rows.saturating_sub(result.quarantined);
        if result.target_rows != expected_target && result.missing + result.extra == 0 {
            result.schema.push(format!(
                "row counts differ: the source has {} rows ({} quarantined), the target {}",
                result.source_rows, result.quarantined, result.target_rows
            ));
        }
        if !complete {
            result.schema.push(format!(
                "more than {DRILL_DOWN_ROWS} rows differ: the counts are lower bounds"
            ));
        }
        let differs = result.missing + result.extra + result.changed > 0;
        result.status = if differs || !result.schema.is_empty() {
            Status::Fail
        } else {
            Status::Pass
        };
        Ok(result)
    }

    /// Whether the target's columns are too different to read its rows
    /// as the plan's types.
    fn columns_differ(&self, actual: &ferry_writer::TargetTable) -> bool {
        actual.columns.len() != self.plan.columns.len()
            || actual
                .columns
                .iter()
                .zip(&self.plan.columns)
                .any(|(a, p)| a.name != p.name || a.pg_type.parse() != Ok(p.pg_type))
    }

    /// Reduces a source row to borrowed target values, or says why it
    /// cannot be: `(key text, column, reason)`.
    fn convert<'a>(
        &self,
        rowid: Option<i64>,
        row: &[SourceValueRef<'a>],
    ) -> Result<Vec<PgValue<'a>>, (String, String, String)> {
        let mut values = Vec::with_capacity(row.len());
        for (column, value) in self.plan.columns.iter().zip(row) {
            match ferry_transformer::coerce(column, *value) {
                Ok(pg) => values.push(pg),
                Err(error) => {
                    let key = self.key_namer.key(rowid, row).to_string();
                    return Err((key, column.source_name.clone(), error.to_string()));
                }
            }
        }
        Ok(values)
    }

    fn key_of(&self, values: &[PgValue<'_>]) -> Vec<u8> {
        if self.key_positions.is_empty() {
            key_bytes(values)
        } else {
            let key: Vec<PgValue<'_>> = self
                .key_positions
                .iter()
                .map(|&i| values[i].clone())
                .collect();
            key_bytes(&key)
        }
    }

    fn entry(&self, values: Vec<PgValue<'static>>) -> RowEntry {
        RowEntry::new(&self.names, &self.key_positions, values)
    }

    /// Full mode: bucket digests of both sides at once, then the rows of
    /// the buckets that differ. Returns the diff, the unconvertible source
    /// rows, the rows checked and whether the drill-down was complete.
    async fn full(
        self: &Arc<Self>,
        client: &tokio_postgres::Client,
        jobs: usize,
        source_rows: u64,
    ) -> Result<(TableDiff, Unconvertible, u64, bool)> {
        let buckets = u32::try_from((source_rows / 1_000).clamp(1, 1 << 16)).expect("clamped");

        let check = Arc::clone(self);
        let source_pass = tokio::task::spawn_blocking(move || check.source_buckets(buckets, jobs));
        let mut target = BucketDigests::new(buckets);
        ferry_writer::stream_rows(client, &self.plan, RowFilter::All, &mut |values| {
            target.add(&self.key_of(&values), &row_digest(&values));
            ControlFlow::Continue(())
        })
        .await
        .with_context(|| format!("reading {} from the target", self.plan.name))?;
        let (source, unconvertible) = source_pass.await.context("source pass panicked")??;
        let checked = source.rows().max(target.rows());

        let bad: HashSet<u32> = source.mismatched(&target).into_iter().collect();
        if bad.is_empty() {
            return Ok((TableDiff::default(), unconvertible, checked, true));
        }
        let in_bad = |key: &[u8]| bad.contains(&bucket_of(key, buckets));
        let check = Arc::clone(self);
        let bad_buckets = bad.clone();
        let source_rows = tokio::task::spawn_blocking(move || {
            check.source_entries(|key| bad_buckets.contains(&bucket_of(key, buckets)))
        });
        let mut target_rows = Vec::new();
        let mut complete = true;
        ferry_writer::stream_rows(client, &self.plan, RowFilter::All, &mut |values| {
            if in_bad(&self.key_of(&values)) {
                if target_rows.len() == DRILL_DOWN_ROWS {
                    complete = false;
                    return ControlFlow::Break(());
                }
                target_rows.push(self.entry(values));
            }
            ControlFlow::Continue(())
        })
        .await?;
        let (source_rows, source_complete) =
            source_rows.await.context("source pass panicked")??;
        let diff = diff_rows(&self.names, source_rows, target_rows);
        Ok((diff, unconvertible, checked, complete && source_complete))
    }

    /// One streaming pass over the source, chunks spread over `jobs`
    /// threads, each with its own read-only connection.
    fn source_buckets(&self, buckets: u32, jobs: usize) -> Result<(BucketDigests, Unconvertible)> {
        let total = Mutex::new((BucketDigests::new(buckets), Unconvertible::default()));
        self.for_each_chunk(jobs, |db, range| {
            let mut local = BucketDigests::new(buckets);
            let mut bad = Vec::new();
            db.read_chunk(&self.table, range, &mut |rowid, row| {
                match self.convert(rowid, row) {
                    Ok(values) => local.add(&self.key_of(&values), &row_digest(&values)),
                    Err(unconvertible) => bad.push(unconvertible),
                }
                ControlFlow::Continue(())
            })?;
            let mut total = total.lock().expect("digest lock poisoned");
            total.0.merge(&local);
            total.1.rows.extend(bad);
            Ok(())
        })?;
        Ok(total.into_inner().expect("digest lock poisoned"))
    }

    /// The source rows whose key passes `keep`, as diff entries; `false`
    /// when more than DRILL_DOWN_ROWS matched.
    fn source_entries(&self, keep: impl Fn(&[u8]) -> bool + Sync) -> Result<(Vec<RowEntry>, bool)> {
        let kept = Mutex::new((Vec::new(), true));
        self.for_each_chunk(1, |db, range| {
            db.read_chunk(&self.table, range, &mut |rowid, row| {
                let Ok(values) = self.convert(rowid, row) else {
                    return ControlFlow::Continue(());
                };
                if keep(&self.key_of(&values)) {
                    let mut kept = kept.lock().expect("entries lock poisoned");
                    if kept.0.len() == DRILL_DOWN_ROWS {
                        kept.1 = false;
                        return ControlFlow::Break(());
                    }
                    kept.0
                        .push(self.entry(values.into_iter().map(PgValue::into_owned).collect()));
                }
                ControlFlow::Continue(())
            })?;
            Ok(())
        })?;
        Ok(kept.into_inner().expect("entries lock poisoned"))
    }

    /// Runs `work` on every chunk of the table, over `jobs` threads.
    fn for_each_chunk(
        &self,
        jobs: usize,
        work: impl Fn(&SourceDb, ChunkRange) -> Result<()> + Sync,
    ) -> Result<()> {
        let db = SourceDb::open(&self.source_path)?;
        let ranges = db.chunk_ranges(&self.table, 100_000)?;
        let queue = Mutex::new(ranges.into_iter());
        let first_error = Mutex::new(None);
        std::thread::scope(|scope| {
            for _ in 0..jobs.max(1) {
                scope.spawn(|| {
                    let result = (|| -> Result<()> {
                        let db = SourceDb::open(&self.source_path)?;
                        loop {
                            let next = queue.lock().expect("queue lock poisoned").next();
                            let Some(range) = next else { return Ok(()) };
                            work(&db, range)?;
                        }
                    })();
                    if let Err(err) = result {
                        first_error
                            .lock()
                            .expect("error lock poisoned")
                            .get_or_insert(err);
                    }
                });
            }
        });
        match first_error.into_inner().expect("error lock poisoned") {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// Sampled mode: a reproducible sample of source keys, looked up on
    /// both sides.
    async fn sampled(
        &self,
        client: &tokio_postgres::Client,
        source: &SourceDb,
        rows: u64,
        seed: u64,
    ) -> Result<(TableDiff, Unconvertible, u64)> {
        let mut unconvertible = Unconvertible::default();
        let mut entries = Vec::new();
        let mut collect =
            |rowid: Option<i64>, row: &[SourceValueRef<'_>]| match self.convert(rowid, row) {
                Ok(values) => {
                    entries.push(self.entry(values.into_iter().map(PgValue::into_owned).collect()))
                }
                Err(bad) => unconvertible.rows.push(bad),
            };
        let ranges = source.chunk_ranges(&self.table, u64::MAX)?;
        match (
            self.table.rowid_alias.is_some(),
            ranges.first(),
            ranges.last(),
        ) {
            (true, Some(ChunkRange::Rowid { start, .. }), Some(ChunkRange::Rowid { end, .. })) => {
                // Random rowids in the table's range; gaps are skipped.
                let width = (*end as i128 - *start as i128 + 1) as u128;
                let mut seen = HashSet::new();
                let mut attempt = 0u64;
                while (seen.len() as u64) < rows && attempt < rows.saturating_mul(20).max(100) {
                    let offset =
                        (sample_draw(seed, &self.table.name, attempt) as u128 % width) as i128;
                    attempt += 1;
                    let rowid = (*start as i128 + offset) as i64;
                    if !seen.insert(rowid) {
                        continue;
                    }
                    source.read_chunk(
                        &self.table,
                        ChunkRange::Rowid {
                            start: rowid,
                            end: rowid,
                        },
                        &mut |id, row| {
                            collect(id, row);
                            ControlFlow::Continue(())
                        },
                    )?;
                }
            }
            _ => {
                // Reservoir sampling (algorithm R) over one pass of the source.
                let mut reservoir: Vec<(Option<i64>, Vec<ferry_model::SourceValue>)> = Vec::new();
                let mut index = 0u64;
                for range in ranges {
                    source.read_chunk(&self.table, range, &mut |id, row| {
                        let owned = || (id, row.iter().map(|v| v.to_owned_value()).collect());
                        if (reservoir.len() as u64) < rows {
                            reservoir.push(owned());
                        } else {
                            let slot = sample_draw(seed, &self.table.name, index) % (index + 1);
                            if slot < rows {
                                reservoir[slot as usize] = owned();
                            }
                        }
                        index += 1;
                        ControlFlow::Continue(())
                    })?;
                }
                for (id, row) in &reservoir {
                    let refs: Vec<SourceValueRef<'_>> = row.iter().map(|v| v.as_ref()).collect();
                    collect(*id, &refs);
                }
            }
        }
        let checked = (entries.len() + unconvertible.rows.len()) as u64;

        let key_columns: Vec<String> = self.plan.primary_key.clone();
        let mut target = Vec::new();
        for batch in entries.chunks(LOOKUP_BATCH) {
            let keys: Vec<Vec<PgValue<'_>>> = batch
                .iter()
                .map(|e| {
                    self.key_positions
                        .iter()
                        .map(|&i| e.values[i].clone())
                        .collect()
                })
                .collect();
            ferry_writer::stream_rows(
                client,
                &self.plan,
                RowFilter::Keys {
                    columns: &key_columns,
                    keys: &keys,
                },
                &mut |values| {
                    target.push(self.entry(values));
                    ControlFlow::Continue(())
                },
            )
            .await?;
        }
        Ok((
            diff_rows(&self.names, entries, target),
            unconvertible,
            checked,
        ))
    }
}

/// The `index`-th pseudo-random draw for a table: blake3 of seed, table
/// and index, so a sample depends only on `--seed`.
fn sample_draw(seed: u64, table: &str, index: u64) -> u64 {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&seed.to_le_bytes());
    hasher.update(table.as_bytes());
    hasher.update(&index.to_le_bytes());
    let bytes = hasher.finalize();
    u64::from_le_bytes(bytes.as_bytes()[..8].try_into().expect("8 bytes"))
}
