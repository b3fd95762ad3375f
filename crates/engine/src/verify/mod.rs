//! `ferry verify`: prove the target holds exactly what the source becomes
//! through ferry's own coercion, and name every row and column that does
//! not.
//!
//! Checks run cheapest first: the target schema against the plan, then row
//! counts, then rows. Rows are reduced on both sides to canonical blake3
//! digests (ferry-verifier). `--full` compares every row exactly (see
//! `full.rs`); `--sample N` (the default) checks a reproducible random
//! sample of keys.

mod full;
mod spill;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use ferry_model::{ChunkRange, PgValue, SourceValueRef, TablePlan, TableSchema};
use ferry_reader::SourceDb;
use ferry_verifier::{
    diff_rows, Difference, DifferenceKind, Mode, RowEntry, TableDiff, TableResult, VerifyReport,
};
use ferry_writer::RowFilter;
use rayon::prelude::*;
use tracing::Instrument;

/// What [`crate::events::Event::TableVerified`] carries.
pub use ferry_verifier::{Status, TableResult as TableVerdict};

use crate::connections::SourceConnections;
use crate::events::{thousands, Event, Observer, Phase, Progress};
use crate::lock_watch::LockWatch;
use crate::options::VerifyOptions;
use crate::prepare::PlannedTable;
use crate::reading::ReadResult;
use crate::retry::{RetryPolicy, CONNECT_RETRIES};
use crate::row_key::KeyColumns;

/// Keys looked up in the target per query in sampled mode.
const LOOKUP_BATCH: usize = 1_000;

/// Compares the target with the source; `observer` hears of each table's
/// phases (schema, counts, digests, drill-down), its rows read and its
/// result, and of waits.
pub async fn verify(args: &VerifyOptions, observer: Arc<dyn Observer>) -> Result<VerifyReport> {
    let span = tracing::info_span!("verify", source = %args.source.source.display());
    verify_traced(args, observer).instrument(span).await
}

async fn verify_traced(args: &VerifyOptions, observer: Arc<dyn Observer>) -> Result<VerifyReport> {
    let started = Instant::now();
    let target_types = crate::override_types::resolve_for(&args.source, &args.target).await?;
    let prepared = crate::prepare::prepare_typed(
        &args.source,
        &SourceConnections::open_each(&args.source.source, &args.source.source),
        &target_types,
    )?;
    let progress = Progress::new(observer);
    let client = RetryPolicy::new(CONNECT_RETRIES)
        .connect(&args.target, &progress)
        .await
        .context("connecting to the target")?;
    let lock_watch = LockWatch::start(&args.target, progress.clone());
    lock_watch.add(&client).await;
    crate::override_types::check(&client, &prepared.config).await?;
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
    progress.emit(Event::TablesStarted {
        count: prepared.tables.len(),
    });
    for table in prepared.tables {
        let check = Arc::new(TableCheck::new(
            prepared.source.path().to_owned(),
            table,
            args.max_listed,
        ));
        let table_started = Instant::now();
        let mut result = check
            .verify(&client, &prepared.source, &mode, args.jobs, &progress)
            .await?;
        result.seconds = table_started.elapsed().as_secs_f64();
        progress.emit(Event::TableVerified(&result));
        tables.push(result);
    }
    Ok(VerifyReport {
        mode,
        tables,
        seconds: started.elapsed().as_secs_f64(),
        ferry_version: env!("CARGO_PKG_VERSION").to_owned(),
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
    /// Rows listed per table; counts are always complete.
    max_listed: usize,
}

/// Source rows that cannot be converted: quarantined by the copy (their
/// key is in `ferry.rejects`) or missing from the target.
#[derive(Default)]
struct Unconvertible {
    missing: u64,
    /// Up to the listing cap, as differences.
    listed: Vec<Difference>,
}

impl Unconvertible {
    /// Counts one unconvertible row `(key, column, reason)`.
    fn add(&mut self, row: (String, String, String), rejected: &HashSet<String>, cap: usize) {
        let (key, column, reason) = row;
        let kind = if rejected.contains(&key) {
            DifferenceKind::Quarantined
        } else {
            self.missing += 1;
            DifferenceKind::Missing
        };
        if self.listed.len() < cap {
            self.listed.push(Difference {
                kind,
                key,
                columns: vec![ferry_verifier::ColumnDiff {
                    column,
                    source: Some(reason),
                    target: None,
                }],
            });
        }
    }
}

/// What a comparison of rows found: exact counts, and the differences
/// listed (at most the cap, fairly across kinds).
struct RowsOutcome {
    missing: u64,
    extra: u64,
    changed: u64,
    checked: u64,
    differences: Vec<Difference>,
}

impl TableCheck {
    fn new(source_path: PathBuf, planned: PlannedTable, max_listed: usize) -> TableCheck {
        let PlannedTable {
            source: table,
            plan,
        } = planned;
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
            max_listed,
        }
    }

    async fn verify(
        self: &Arc<Self>,
        client: &tokio_postgres::Client,
        source: &SourceDb,
        mode: &Mode,
        jobs: usize,
        progress: &Progress,
    ) -> Result<TableResult> {
        let plan = &self.plan;
        let name = Some(self.table.name.as_str());
        let mut result = TableResult::new(
            self.table.name.clone(),
            format!("{}.{}", plan.schema, plan.name),
        );
        let actual = progress
            .phase(Phase::Schema, name, async {
                let actual = ferry_writer::inspect_table(client, &plan.schema, &plan.name)
                    .await
                    .with_context(|| format!("inspecting {}.{}", plan.schema, plan.name))?;
                let differences = actual
                    .as_ref()
                    .map(|actual| ferry_writer::schema_differences(plan, actual));
                let outcome = match &differences {
                    None => "missing in the target".to_owned(),
                    Some(d) if d.is_empty() => "as planned".to_owned(),
                    Some(d) => format!("{} differences", d.len()),
                };
                Ok((actual.zip(differences), outcome))
            })
            .await?;
        let Some((actual, differences)) = actual else {
            result
                .schema
                .push("table is missing in the target".to_owned());
            result.status = Status::Fail;
            return Ok(result);
        };
        result.schema = differences;
        if matches!(mode, Mode::SchemaOnly) || self.columns_differ(&actual) {
            result.status = if result.schema.is_empty() {
                Status::Pass
            } else {
                Status::Fail
            };
            return Ok(result);
        }

        (result.source_rows, result.target_rows) = progress
            .phase(Phase::Count, name, async {
                let source_rows = source.row_count(&self.table)?;
                let target_rows =
                    ferry_writer::count_rows(client, &plan.schema, &plan.name).await?;
                let outcome = format!(
                    "{} {} in the source, {} in the target",
                    thousands(source_rows),
                    ferry_model::noun(&source_rows, "row", "rows"),
                    thousands(target_rows)
                );
                Ok(((source_rows, target_rows), outcome))
            })
            .await?;
        let rejected: Arc<HashSet<String>> =
            ferry_writer::fetch_rejects(client, &plan.schema, &plan.name)
                .await?
                .into_iter()
                .map(|(key, _, _)| key)
                .collect::<HashSet<String>>()
                .into();
        // Every row the copy put in ferry.rejects, sampled or not: the
        // target is expected to lack exactly these.
        result.quarantined = rejected.len() as u64;

        let outcome = progress
            .phase(Phase::Digest, name, async {
                let outcome = match mode {
                    Mode::Sample { rows, seed } if !self.key_positions.is_empty() => {
                        self.sampled(client, source, *rows, *seed, &rejected)
                            .await?
                    }
                    _ => {
                        let rows = result.source_rows.max(result.target_rows);
                        self.full(client, jobs, rows, &rejected, progress).await?
                    }
                };
                let differ = outcome.missing + outcome.extra + outcome.changed;
                let said = format!(
                    "{} {} compared, {} differ",
                    thousands(outcome.checked),
                    ferry_model::noun(&outcome.checked, "row", "rows"),
                    thousands(differ)
                );
                Ok((outcome, said))
            })
            .await?;
        result.checked_rows = outcome.checked;
        result.missing = outcome.missing;
        result.extra = outcome.extra;
        result.changed = outcome.changed;
        result.differences = outcome.differences;
        result.unlisted = result.count_unlisted();

        let expected_target = result.source_rows.saturating_sub(result.quarantined);
        if result.target_rows != expected_target && result.missing + result.extra == 0 {
            result.schema.push(format!(
                "row counts differ: the source has {} ({} quarantined), the target {}",
                ferry_model::plural(result.source_rows, "row", "rows"),
                result.quarantined,
                result.target_rows
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
                .any(|(a, p)| a.name != p.name || !p.has_type(&a.pg_type))
    }

    /// Reduces a source row to borrowed target values, or says why it
    /// cannot be: `(key text, column, reason)`.
    ///
    /// A value whose conversion does arithmetic (julian days, unix epochs,
    /// REAL to numeric) is cross-checked by an independent route; where the
    /// two disagree the independent value stands for the source, so a
    /// conversion bug the copy made shows as a changed row instead of
    /// hiding behind the same conversion on both sides.
    fn convert<'a>(
        &self,
        rowid: Option<i64>,
        row: &[SourceValueRef<'a>],
    ) -> Result<Vec<PgValue<'a>>, (String, String, String)> {
        let mut values = Vec::with_capacity(row.len());
        for (column, value) in self.plan.columns.iter().zip(row) {
            match ferry_transformer::coerce(column, *value) {
                Ok(pg) => {
                    values.push(ferry_verifier::cross_check(column, *value, &pg).unwrap_or(pg))
                }
                Err(error) => {
                    let key = self.key_namer.key(rowid, row).to_string();
                    return Err((key, column.source_name.clone(), error.to_string()));
                }
            }
        }
        Ok(values)
    }

    /// [`convert`](Self::convert), also turning away a row the copy
    /// quarantined although it converts: Postgres refused it (issue 14),
    /// so only `ferry.rejects` says the target is expected to lack it.
    fn convert_expected<'a>(
        &self,
        rowid: Option<i64>,
        row: &[SourceValueRef<'a>],
        rejected: &HashSet<String>,
    ) -> Result<Vec<PgValue<'a>>, (String, String, String)> {
        let values = self.convert(rowid, row)?;
        if !rejected.is_empty() {
            let key = self.key_namer.key(rowid, row).to_string();
            if rejected.contains(&key) {
                let reason = "refused by Postgres when copied (see ferry.rejects)".to_owned();
                return Err((key, String::new(), reason));
            }
        }
        Ok(values)
    }

    fn entry(&self, values: Vec<PgValue<'static>>) -> RowEntry {
        RowEntry::new(&self.names, &self.key_positions, values)
    }

    /// Runs `work` on every chunk of the table, over `jobs` threads of a
    /// rayon pool of its own (the caller is an async task on tokio's
    /// blocking pool, not a rayon worker); each thread reads through its
    /// own connection, opened on its first chunk.
    fn for_each_chunk(
        &self,
        jobs: usize,
        work: impl Fn(&SourceDb, ChunkRange) -> Result<()> + Sync,
    ) -> Result<()> {
        let ranges = SourceDb::open(&self.source_path)?.chunk_ranges(&self.table, 100_000)?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(jobs.max(1))
            .thread_name(|i| format!("ferry-verify-{i}"))
            .build()
            .context("starting the verify threads")?;
        pool.install(|| {
            ranges.into_par_iter().try_for_each_init(
                || None,
                |db: &mut Option<SourceDb>, range| {
                    let db = match db {
                        Some(db) => db,
                        None => db.insert(SourceDb::open(&self.source_path)?),
                    };
                    work(db, range)
                },
            )
        })
    }

    /// Sampled mode: a reproducible sample of source keys, looked up on
    /// both sides.
    async fn sampled(
        &self,
        client: &tokio_postgres::Client,
        source: &SourceDb,
        rows: u64,
        seed: u64,
        rejected: &HashSet<String>,
    ) -> Result<RowsOutcome> {
        let mut unconvertible = Unconvertible::default();
        let mut unconvertible_rows = 0u64;
        let mut entries = Vec::new();
        let mut collect = |rowid: Option<i64>, row: &[SourceValueRef<'_>]| match self
            .convert_expected(rowid, row, rejected)
        {
            Ok(values) => {
                entries.push(self.entry(values.into_iter().map(PgValue::into_owned).collect()))
            }
            Err(bad) => {
                unconvertible_rows += 1;
                unconvertible.add(bad, rejected, self.max_listed);
            }
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
                    source
                        .read_chunk(
                            &self.table,
                            ChunkRange::Rowid {
                                start: rowid,
                                end: rowid,
                            },
                            &mut |id, row| {
                                collect(id, row);
                                Ok(())
                            },
                        )
                        .read_result()?;
                }
            }
            _ => {
                // Reservoir sampling (algorithm R) over one pass of the source.
                let mut reservoir: Vec<(Option<i64>, Vec<ferry_model::SourceValue>)> = Vec::new();
                let mut index = 0u64;
                for range in ranges {
                    source
                        .read_chunk(&self.table, range, &mut |id, row| {
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
                            Ok(())
                        })
                        .read_result()?;
                }
                for (id, row) in &reservoir {
                    let refs: Vec<SourceValueRef<'_>> = row.iter().map(|v| v.as_ref()).collect();
                    collect(*id, &refs);
                }
            }
        }
        let checked = entries.len() as u64 + unconvertible_rows;

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
                    Ok(())
                },
            )
            .await
            .read_result()?;
        }
        let diff = diff_rows(&self.names, entries, target);
        Ok(RowsOutcome {
            missing: unconvertible.missing + diff.missing.len() as u64,
            extra: diff.extra.len() as u64,
            changed: diff.changed.len() as u64,
            checked,
            differences: list_fairly(
                self.max_listed,
                std::iter::once(unconvertible.listed)
                    .chain(kind_groups(diff))
                    .collect(),
            ),
        })
    }
}

/// At most `cap` differences to list, taken from each group in turn (rows
/// that could not be converted, then missing, extra and changed rows), so
/// that thousands of one kind do not hide the others. Groups keep their
/// order and their rows' order.
fn list_fairly(cap: usize, groups: Vec<Vec<Difference>>) -> Vec<Difference> {
    let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
    groups
        .into_iter()
        .zip(fair_shares(cap, &sizes))
        .flat_map(|(group, taken)| group.into_iter().take(taken))
        .collect()
}

/// How many of each group's `sizes` to list within `cap`: one of each in
/// turn until the cap or every group is used up.
fn fair_shares(cap: usize, sizes: &[usize]) -> Vec<usize> {
    let mut shares = vec![0; sizes.len()];
    let mut left = cap;
    while left > 0 {
        let before = left;
        for (taken, size) in shares.iter_mut().zip(sizes) {
            if left > 0 && *taken < *size {
                *taken += 1;
                left -= 1;
            }
        }
        if left == before {
            break;
        }
    }
    shares
}

/// A diff's rows as listed differences, one group per kind.
fn kind_groups(diff: TableDiff) -> [Vec<Difference>; 3] {
    let group = |kind, rows: Vec<ferry_verifier::RowDiff>| {
        rows.into_iter()
            .map(|row| Difference {
                kind,
                key: row.key,
                columns: row.columns,
            })
            .collect()
    };
    [
        group(DifferenceKind::Missing, diff.missing),
        group(DifferenceKind::Extra, diff.extra),
        group(DifferenceKind::Changed, diff.changed),
    ]
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

#[cfg(test)]
mod tests {
    use super::*;

    fn group(kind: DifferenceKind, count: usize) -> Vec<Difference> {
        (0..count)
            .map(|i| Difference {
                kind,
                key: format!("id={i}"),
                columns: Vec::new(),
            })
            .collect()
    }

    #[test]
    fn listing_is_fair_across_kinds_and_capped() {
        let listed = list_fairly(
            5,
            vec![
                group(DifferenceKind::Missing, 1),
                group(DifferenceKind::Extra, 0),
                group(DifferenceKind::Changed, 100),
                group(DifferenceKind::Missing, 2),
            ],
        );
        let kinds: Vec<_> = listed.iter().map(|d| (d.kind, d.key.as_str())).collect();
        assert_eq!(
            kinds,
            [
                (DifferenceKind::Missing, "id=0"),
                (DifferenceKind::Changed, "id=0"),
                (DifferenceKind::Changed, "id=1"),
                (DifferenceKind::Missing, "id=0"),
                (DifferenceKind::Missing, "id=1"),
            ]
        );
        assert!(list_fairly(0, vec![group(DifferenceKind::Extra, 3)]).is_empty());
        assert_eq!(
            list_fairly(10, vec![group(DifferenceKind::Extra, 3)]).len(),
            3
        );
    }
}
