//! Types from stored values (`--types stored`, the default): one filtered
//! scan of each table, on every core, finds the columns whose stored
//! values do not all become their mapped type, and the plan widens them
//! (see [`ferry_transformer::StoredValues`]).

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use anyhow::{Context, Result};
use ferry_model::{ChunkRange, PgType, SourceSchema, TablePlan, TableSchema};
use ferry_reader::{quote_sqlite_ident, RowSelection, SourceDb};
use ferry_transformer::{certainly_fits_sql, StoredValues, TableOverride};

use crate::row_key::KeyColumns;

/// Rows per chunk of the scan, which reads chunks in parallel.
const SCAN_CHUNK_ROWS: u64 = 200_000;

/// A column the stored values widen: source table and column, the new
/// type, and the warning that says why.
pub struct Widening {
    pub table: String,
    pub column: String,
    pub pg_type: PgType,
    pub warning: String,
}

/// The checkers of one table's columns, by position in its plan.
type Checks = Vec<(usize, StoredValues)>;

/// The widenings the source's stored values call for, in the plans'
/// order. Columns whose type ferry.toml sets are left as set.
pub fn widenings(
    source: &SourceDb,
    schema: &SourceSchema,
    plans: &[TablePlan],
    overrides: &BTreeMap<String, TableOverride>,
) -> Result<Vec<Widening>> {
    let mut out = Vec::new();
    for plan in plans {
        let table = schema
            .table(&plan.source_name)
            .expect("plans are made from the source's tables");
        let typed_by_hand = |column: &str| {
            overrides
                .get(&plan.source_name)
                .and_then(|t| t.columns.get(column))
                .is_some_and(|c| c.pg_type.is_some())
        };
        let mut checks: Checks = Vec::new();
        let mut misfits = Vec::new();
        for (at, column) in plan.columns.iter().enumerate() {
            if typed_by_hand(&column.source_name) {
                continue;
            }
            let quoted = quote_sqlite_ident(&column.source_name);
            if let (Some(stored), Some(fits)) = (
                StoredValues::new(column),
                certainly_fits_sql(column.pg_type, &quoted),
            ) {
                checks.push((at, stored));
                misfits.push(format!("({quoted} IS NOT NULL AND NOT ({fits}))"));
            }
        }
        if checks.is_empty() {
            continue;
        }
        let checks = scan(source, table, &misfits.join(" OR "), checks)
            .with_context(|| format!("reading what table {} stores", table.name))?;
        for (at, stored) in checks {
            if let Some((pg_type, warning)) = stored.widened() {
                out.push(Widening {
                    table: plan.source_name.clone(),
                    column: plan.columns[at].source_name.clone(),
                    pg_type,
                    warning,
                });
            }
        }
    }
    Ok(out)
}

/// Feeds the rows `predicate` selects to `checks`, reading chunks of the
/// table in parallel.
fn scan(source: &SourceDb, table: &TableSchema, predicate: &str, checks: Checks) -> Result<Checks> {
    let keys = KeyColumns::of(table);
    let chunks = source.chunk_ranges(table, SCAN_CHUNK_ROWS)?;
    crate::parallel::fold_chunks(
        source.path(),
        source.shown(),
        chunks,
        || checks.clone(),
        |db, range| {
            let mut checks = checks.clone();
            let rowids = match range {
                ChunkRange::Rowid { start, end } => Some((start, end)),
                ChunkRange::Whole => None,
            };
            let selection = RowSelection::Where { predicate, rowids };
            db.read_selected(table, selection, None, &mut |rowid, row| {
                for (at, stored) in &mut checks {
                    stored.observe(row[*at], || keys.key(rowid, row).to_string());
                }
                ControlFlow::Continue(())
            })?;
            Ok(checks)
        },
        |mut earlier, later| {
            for ((_, mine), (_, theirs)) in earlier.iter_mut().zip(later) {
                mine.merge(theirs);
            }
            earlier
        },
    )
}
