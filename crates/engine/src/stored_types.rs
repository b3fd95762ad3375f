//! Types from stored values (`--types stored`, the default): one filtered
//! scan of each table, on every core, finds the columns whose stored
//! values do not all become their mapped type, and the plan widens them
//! (see [`ferry_transformer::StoredValues`]), and the primary keys that
//! hold NULLs, which the plan makes UNIQUE constraints.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use ferry_model::{ChunkRange, PgType, SourceValueRef, TableSchema};
use ferry_reader::{quote_sqlite_ident, RowSelection, SourceDb};

use crate::connections::SourceConnections;
use ferry_transformer::{certainly_fits_sql, StoredValues, TableOverride};

use crate::prepare::PlannedTable;
use crate::reading::ReadResult;
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

/// What one table's scan looks for: each checked column's stored values
/// (by position in its plan), and NULLs in its primary key.
#[derive(Clone)]
struct TableScan {
    checks: Vec<(usize, StoredValues)>,
    null_key: Option<NullKey>,
}

/// Rows whose primary key holds a NULL, which SQLite allows in a key that
/// is not the rowid.
#[derive(Clone)]
struct NullKey {
    /// Positions of the key's nullable columns.
    columns: Vec<usize>,
    rows: u64,
    first: Option<String>,
}

/// What the stored values call for: widened columns, and tables whose key
/// holds NULLs (with the rows, said for a warning).
#[derive(Default)]
pub struct Findings {
    pub widenings: Vec<Widening>,
    pub null_keys: Vec<(String, String)>,
}

/// What the source's stored values call for, in the tables' order.
/// Columns whose type ferry.toml sets are left as set.
pub(crate) fn findings(
    source: &SourceDb,
    connections: &SourceConnections,
    tables: &[PlannedTable],
    overrides: &BTreeMap<String, TableOverride>,
) -> Result<Findings> {
    let mut out = Findings::default();
    for PlannedTable {
        source: table,
        plan,
    } in tables
    {
        let typed_by_hand = |column: &str| {
            overrides
                .get(&plan.source_name)
                .and_then(|t| t.columns.get(column))
                .is_some_and(|c| c.pg_type.is_some() || c.named_type.is_some())
        };
        let mut checks = Vec::new();
        let mut wanted = Vec::new();
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
                wanted.push(format!("({quoted} IS NOT NULL AND NOT ({fits}))"));
            }
        }
        // Only a key that is not the rowid can hold a NULL.
        let nullable_key: Vec<usize> = match table.rowid_alias {
            Some(_) => Vec::new(),
            None => table
                .primary_key
                .iter()
                .filter_map(|k| table.column_index(k))
                .filter(|&i| !table.columns[i].not_null)
                .collect(),
        };
        for &i in &nullable_key {
            wanted.push(format!(
                "{} IS NULL",
                quote_sqlite_ident(&table.columns[i].name)
            ));
        }
        if wanted.is_empty() {
            continue;
        }
        let found = TableScan {
            checks,
            null_key: (!nullable_key.is_empty()).then_some(NullKey {
                columns: nullable_key,
                rows: 0,
                first: None,
            }),
        };
        let found = scan(source, connections, table, &wanted.join(" OR "), found)
            .with_context(|| format!("reading what table {} stores", table.name))?;
        if let Some(NullKey {
            rows,
            first: Some(first),
            ..
        }) = found.null_key
        {
            let rows = match rows {
                1 => format!("1 row ({first})"),
                n => format!("{n} rows, first at {first}"),
            };
            out.null_keys.push((plan.source_name.clone(), rows));
        }
        for (at, stored) in found.checks {
            if let Some((pg_type, warning)) = stored.widened() {
                out.widenings.push(Widening {
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

/// Feeds the rows `predicate` selects to `found`, reading chunks of the
/// table in parallel.
fn scan(
    source: &SourceDb,
    connections: &SourceConnections,
    table: &TableSchema,
    predicate: &str,
    found: TableScan,
) -> Result<TableScan> {
    let keys = KeyColumns::of(table);
    let chunks = source.chunk_ranges(table, SCAN_CHUNK_ROWS)?;
    crate::parallel::fold_chunks(
        connections,
        chunks,
        || found.clone(),
        |db, range| {
            let mut found = found.clone();
            let rowids = match range {
                ChunkRange::Rowid { start, end } => Some((start, end)),
                ChunkRange::Whole => None,
            };
            let selection = RowSelection::Where { predicate, rowids };
            db.read_selected(table, selection, None, &mut |rowid, row| {
                for (at, stored) in &mut found.checks {
                    stored.observe(row[*at], || keys.key(rowid, row).to_string());
                }
                if let Some(null_key) = &mut found.null_key {
                    if null_key
                        .columns
                        .iter()
                        .any(|&i| matches!(row[i], SourceValueRef::Null))
                    {
                        null_key.rows += 1;
                        null_key
                            .first
                            .get_or_insert_with(|| keys.key(rowid, row).to_string());
                    }
                }
                Ok(())
            })
            .read_result()?;
            Ok(found)
        },
        |mut earlier, later| {
            for ((_, mine), (_, theirs)) in earlier.checks.iter_mut().zip(later.checks) {
                mine.merge(theirs);
            }
            if let (Some(mine), Some(theirs)) = (&mut earlier.null_key, later.null_key) {
                mine.rows += theirs.rows;
                if mine.first.is_none() {
                    mine.first = theirs.first;
                }
            }
            earlier
        },
    )
}
