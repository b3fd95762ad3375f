//! `verify --full`: every row of both sides, compared exactly, in memory
//! bounded whatever the table's size and however many rows differ.
//!
//! 1. Both sides are streamed at once: the source over `--jobs` threads,
//!    the target in one scan. Each row becomes a
//!    [`RowRecord`] (key hash, row digest, and
//!    where to find the row again: its rowid, or its tuple id in the
//!    target), spread over partitions by key hash and spilled to unlinked
//!    temporary files past a memory budget ([`RecordSpill`]).
//! 2. Partitions whose order-independent digests agree hold the same rows
//!    and are skipped: an all-equal table costs the two scans alone.
//! 3. Each other partition is sorted on both sides and merged by
//!    [`reconcile`], which counts every missing, extra and changed row
//!    exactly. No count is ever a lower bound.
//! 4. The rows kept for the listing (`--max-listed`, fairly across kinds)
//!    are read again by locator on both sides, to name their keys and the
//!    columns that differ.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use ferry_model::{ChunkRange, PgValue};
use ferry_reader::{ReadOrRow, SourceDb};
use ferry_verifier::{diff_rows, reconcile, Difference, DifferenceKind, Pairing, RowRecord};
use ferry_writer::TargetLocator;

use super::spill::{partitions_for, RecordSpill};
use super::{fair_shares, kind_groups, RowsOutcome, TableCheck, Unconvertible};
use crate::events::{Event, Phase, Progress};
use crate::reading::ReadResult;

/// Records of both sides that one partition may hold while it is sorted.
const PARTITION_BUDGET: usize = 64 << 20;
/// Records each side keeps in memory before spilling.
const SIDE_MEMORY: usize = 16 << 20;
/// Records a source thread gathers before adding them to the spill.
const BATCH: usize = 4096;

/// The differences the merge found: exact counts, and the first ones of
/// each kind kept for the listing.
struct Found {
    cap: usize,
    missing: (u64, Vec<RowRecord>),
    extra: (u64, Vec<RowRecord>),
    changed: (u64, Vec<(RowRecord, RowRecord)>),
}

impl Found {
    fn new(cap: usize) -> Found {
        Found {
            cap,
            missing: (0, Vec::new()),
            extra: (0, Vec::new()),
            changed: (0, Vec::new()),
        }
    }

    fn add(&mut self, pairing: Pairing) {
        fn keep<T>(cap: usize, kind: &mut (u64, Vec<T>), item: T) {
            kind.0 += 1;
            if kind.1.len() < cap {
                kind.1.push(item);
            }
        }
        match pairing {
            Pairing::Missing(row) => keep(self.cap, &mut self.missing, row),
            Pairing::Extra(row) => keep(self.cap, &mut self.extra, row),
            Pairing::Changed(from, to) => keep(self.cap, &mut self.changed, (from, to)),
        }
    }
}

/// Target tables seen while streaming (the leaves of a partitioned
/// table), so a record's locator fits in 64 bits: table index (16 bits),
/// block (32), line pointer (16).
#[derive(Default)]
struct TargetTables(Vec<u32>);

impl TargetTables {
    fn pack(&mut self, at: TargetLocator) -> Option<u64> {
        let index = match self.0.iter().position(|&oid| oid == at.table_oid) {
            Some(index) => index,
            None => {
                self.0.push(at.table_oid);
                self.0.len() - 1
            }
        };
        let index = u16::try_from(index).ok()?;
        Some(u64::from(index) << 48 | u64::from(at.block) << 16 | u64::from(at.offset))
    }

    fn unpack(&self, locator: u64) -> TargetLocator {
        TargetLocator {
            table_oid: self.0.get((locator >> 48) as usize).copied().unwrap_or(0),
            block: (locator >> 16) as u32,
            offset: locator as u16,
        }
    }
}

impl TableCheck {
    /// Full mode over a table of about `rows` rows per side.
    pub(super) async fn full(
        self: &Arc<Self>,
        client: &tokio_postgres::Client,
        jobs: usize,
        rows: u64,
        rejected: &Arc<HashSet<String>>,
        progress: &Progress,
    ) -> Result<RowsOutcome> {
        let partitions = partitions_for(rows, PARTITION_BUDGET);
        let check = Arc::clone(self);
        let rejected = Arc::clone(rejected);
        let source_progress = progress.clone();
        let source_pass = tokio::task::spawn_blocking(move || {
            check.source_records(partitions, jobs, &rejected, &source_progress)
        });
        let target_pass = self.target_records(client, partitions).await;
        let (source, unconvertible) = source_pass.await.context("the source pass panicked")??;
        let (target, tables) = target_pass?;

        let checked = source.rows().max(target.rows());
        let cap = self.max_listed;
        let name = Some(self.table.name.as_str());
        let (found, differences) = progress
            .phase(Phase::DrillDown, name, async {
                let (found, differing) =
                    tokio::task::spawn_blocking(move || merge(source, target, cap))
                        .await
                        .context("the merge panicked")??;
                let differences = self
                    .listing(client, &found, &tables, unconvertible.listed)
                    .await?;
                let outcome = format!("{differing} differing buckets compared row by row");
                Ok(((found, differences), outcome))
            })
            .await?;
        Ok(RowsOutcome {
            missing: unconvertible.missing + found.missing.0,
            extra: found.extra.0,
            changed: found.changed.0,
            checked,
            differences,
        })
    }

    /// The source side: every row's record, over `jobs` threads; rows that
    /// cannot be converted are counted instead.
    fn source_records(
        &self,
        partitions: u32,
        jobs: usize,
        rejected: &HashSet<String>,
        progress: &Progress,
    ) -> Result<(RecordSpill, Unconvertible)> {
        let spill = Mutex::new(RecordSpill::new(partitions, SIDE_MEMORY));
        let unconvertible = Mutex::new(Unconvertible::default());
        self.for_each_chunk(jobs, |db, range| {
            let mut batch = Vec::with_capacity(BATCH);
            let add = |batch: &mut Vec<RowRecord>| {
                let result = spill.lock().expect("spill lock poisoned").extend(batch);
                progress.emit(Event::RowsRead {
                    table: &self.table.name,
                    rows: batch.len() as u64,
                });
                batch.clear();
                result.context("spilling row digests to a temporary file")
            };
            // A table without rowid is read whole in key order: its
            // position in that order finds the row again.
            let mut ordinal = 0u64;
            db.read_chunk(&self.table, range, &mut |rowid, row| {
                let locator = rowid.map_or(ordinal, |rowid| rowid as u64);
                ordinal += 1;
                match self.convert_expected(rowid, row, rejected) {
                    Ok(values) => {
                        batch.push(RowRecord::of_row(&values, &self.key_positions, locator))
                    }
                    Err(bad) => unconvertible
                        .lock()
                        .expect("unconvertible lock poisoned")
                        .add(bad, rejected, self.max_listed),
                }
                if batch.len() == BATCH {
                    add(&mut batch)?;
                }
                Ok(())
            })
            .read_result()?;
            add(&mut batch)
        })?;
        Ok((
            spill.into_inner().expect("spill lock poisoned"),
            unconvertible
                .into_inner()
                .expect("unconvertible lock poisoned"),
        ))
    }

    /// The target side: every row's record, located by tuple id.
    async fn target_records(
        &self,
        client: &tokio_postgres::Client,
        partitions: u32,
    ) -> Result<(RecordSpill, TargetTables)> {
        let mut spill = RecordSpill::new(partitions, SIDE_MEMORY);
        let mut tables = TargetTables::default();
        ferry_writer::stream_located_rows(client, &self.plan, &mut |at, values| {
            let locator = tables.pack(at).ok_or_else(|| {
                anyhow::anyhow!(
                    "{}.{} has more than 65536 partitions; ferry verify --full cannot locate its rows",
                    self.plan.schema,
                    self.plan.name
                )
            })?;
            let record = RowRecord::of_row(values, &self.key_positions, locator);
            spill
                .extend(&[record])
                .context("spilling row digests to a temporary file")
        })
        .await
        .read_context(|| format!("reading {}.{} from the target", self.plan.schema, self.plan.name))?;
        Ok((spill, tables))
    }

    /// The listed differences, with keys and changed columns read again
    /// from both sides.
    async fn listing(
        self: &Arc<Self>,
        client: &tokio_postgres::Client,
        found: &Found,
        tables: &TargetTables,
        unconvertible: Vec<Difference>,
    ) -> Result<Vec<Difference>> {
        // Only what the cap will show is read back.
        let shares = fair_shares(
            self.max_listed,
            &[
                unconvertible.len(),
                found.missing.1.len(),
                found.extra.1.len(),
                found.changed.1.len(),
            ],
        );
        let mut listed: Vec<Difference> = unconvertible.into_iter().take(shares[0]).collect();
        let missing = &found.missing.1[..shares[1]];
        let extra = &found.extra.1[..shares[2]];
        let changed = &found.changed.1[..shares[3]];

        let source_locators: Vec<u64> = missing
            .iter()
            .map(|r| r.locator)
            .chain(changed.iter().map(|(from, _)| from.locator))
            .collect();
        let target_locators: Vec<TargetLocator> = extra
            .iter()
            .map(|r| tables.unpack(r.locator))
            .chain(changed.iter().map(|(_, to)| tables.unpack(to.locator)))
            .collect();
        let check = Arc::clone(self);
        let source_rows =
            tokio::task::spawn_blocking(move || check.source_rows_at(&source_locators))
                .await
                .context("reading listed rows panicked")??;
        let target_rows: HashMap<TargetLocator, Vec<PgValue<'static>>> =
            ferry_writer::fetch_located(client, &self.plan, &target_locators)
                .await?
                .into_iter()
                .collect();
        // A listed row can be gone when read back if the application
        // wrote it meanwhile: it still counts, under its kind.
        let gone = |kind, side: &str| Difference {
            kind,
            key: format!("(a row that changed in the {side} while verify ran)"),
            columns: Vec::new(),
        };

        let mut missing_rows = Vec::new();
        for record in missing {
            missing_rows.push(match source_rows.get(&record.locator) {
                Some(values) => self.difference(DifferenceKind::Missing, values.clone()),
                None => gone(DifferenceKind::Missing, "source"),
            });
        }
        let mut extra_rows = Vec::new();
        for record in extra {
            extra_rows.push(match target_rows.get(&tables.unpack(record.locator)) {
                Some(values) => self.difference(DifferenceKind::Extra, values.clone()),
                None => gone(DifferenceKind::Extra, "target"),
            });
        }
        let mut changed_rows = Vec::new();
        for (from, to) in changed {
            let source = source_rows.get(&from.locator);
            let target = target_rows.get(&tables.unpack(to.locator));
            changed_rows.push(match (source, target) {
                (Some(source), Some(target)) => {
                    let diff = diff_rows(
                        &self.names,
                        vec![self.entry(source.clone())],
                        vec![self.entry(target.clone())],
                    );
                    let [_, _, mut changed] = kind_groups(diff);
                    changed.pop().unwrap_or_else(|| {
                        // Equal again when read back: it changed meanwhile.
                        Difference {
                            columns: Vec::new(),
                            ..self.difference(DifferenceKind::Changed, source.clone())
                        }
                    })
                }
                (Some(source), None) => self.difference(DifferenceKind::Changed, source.clone()),
                _ => gone(DifferenceKind::Changed, "source"),
            });
        }
        listed.extend(missing_rows);
        listed.extend(extra_rows);
        listed.extend(changed_rows);
        Ok(listed)
    }

    /// A listed row with its key named and no columns.
    fn difference(&self, kind: DifferenceKind, values: Vec<PgValue<'static>>) -> Difference {
        Difference {
            kind,
            key: self.entry(values).key_text,
            columns: Vec::new(),
        }
    }

    /// The converted source rows at `locators` (rowids, or positions in key
    /// order for a table without rowid).
    fn source_rows_at(&self, locators: &[u64]) -> Result<HashMap<u64, Vec<PgValue<'static>>>> {
        let mut rows = HashMap::new();
        if locators.is_empty() {
            return Ok(rows);
        }
        let db = SourceDb::open(&self.source_path)?;
        let mut keep =
            |locator: u64, rowid: Option<i64>, row: &[ferry_model::SourceValueRef<'_>]| {
                if let Ok(values) = self.convert(rowid, row) {
                    rows.insert(
                        locator,
                        values.into_iter().map(PgValue::into_owned).collect(),
                    );
                }
            };
        if self.table.without_rowid {
            let wanted: HashSet<u64> = locators.iter().copied().collect();
            let last = locators.iter().copied().max().unwrap_or(0);
            let mut ordinal = 0u64;
            let read = db.read_chunk(&self.table, ChunkRange::Whole, &mut |rowid, row| {
                if wanted.contains(&ordinal) {
                    keep(ordinal, rowid, row);
                }
                ordinal += 1;
                if ordinal > last {
                    Err(PastLast)
                } else {
                    Ok(())
                }
            });
            if let Err(ReadOrRow::Read(err)) = read {
                return Err(err.into());
            }
        } else {
            for &locator in locators {
                let rowid = locator as i64;
                db.read_chunk(
                    &self.table,
                    ChunkRange::Rowid {
                        start: rowid,
                        end: rowid,
                    },
                    &mut |rowid, row| {
                        keep(locator, rowid, row);
                        Ok(())
                    },
                )
                .read_result()?;
            }
        }
        Ok(rows)
    }
}

/// Ends a read in key order once it is past the last row wanted.
struct PastLast;

/// Sorts and merges the partitions whose digests differ, one at a time;
/// also says how many did.
fn merge(mut source: RecordSpill, mut target: RecordSpill, cap: usize) -> Result<(Found, u32)> {
    let mut found = Found::new(cap);
    let mut differing = 0;
    if source.partition_count() != target.partition_count() {
        bail!("both sides must be split into the same partitions");
    }
    for partition in 0..source.partition_count() {
        if source.digest(partition) == target.digest(partition) {
            continue;
        }
        differing += 1;
        let mut from = source
            .take(partition)
            .context("reading spilled row digests")?;
        let mut to = target
            .take(partition)
            .context("reading spilled row digests")?;
        reconcile(&mut from, &mut to, &mut |pairing| found.add(pairing));
    }
    Ok((found, differing))
}
