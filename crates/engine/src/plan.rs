//! `ferry plan`: the DDL a copy would run and, with `--profile`, what each
//! column really holds. Touches no database.

use anyhow::Result;
use ferry_model::TablePlan;
use ferry_transformer::TableProfiler;

use crate::options::PlanOptions;
use crate::prepare::{prepare, PlannedTable};
use crate::reading::ReadResult;
use crate::row_key::KeyColumns;
use crate::stored_types::Widening;

/// What `plan` found.
pub struct Plan {
    /// The DDL as a script, with every warning and skip as a comment, and
    /// the profile when asked for.
    pub text: String,
    /// With [`PlanOptions::stored_types`]: the columns whose stored values
    /// call for another type than the declared one's.
    pub widenings: Vec<Widening>,
    /// Each table planned, as `source → schema.target`.
    pub tables: Vec<String>,
}

/// Plans the copy of the source, touching no database.
pub fn plan(args: &PlanOptions) -> Result<Plan> {
    let mut prepared = prepare(&args.source)?;
    crate::partitioning::add_leaves(&prepared.source, &mut prepared.tables)?;
    let mut out = String::new();
    for skipped in &prepared.skipped {
        out.push_str(&format!(
            "-- skipped {} {}: {}\n",
            skipped.kind, skipped.name, skipped.reason
        ));
    }
    let storage = crate::storage::planned(&args.storage, &prepared.config);
    let plans: Vec<TablePlan> = prepared.tables.iter().map(|t| t.plan.clone()).collect();
    let tables = plans
        .iter()
        .map(|p| format!("{} → {}.{}", p.source_name, p.schema, p.name))
        .collect();
    out.push_str(&ferry_writer::plan_script(&plans, &storage));
    out.push_str(&crate::sync::plan_comments(&prepared)?);
    let widenings = if args.stored_types {
        match prepared.widened.take() {
            Some(widened) => widened,
            // Under --types declared the plan did not look at the values.
            None => {
                crate::stored_types::findings(
                    &prepared.source,
                    &crate::connections::SourceConnections::open_each(
                        prepared.source.path(),
                        prepared.source.shown(),
                    ),
                    &prepared.tables,
                    &prepared.config.overrides,
                )?
                .widenings
            }
        }
    } else {
        Vec::new()
    };
    if !args.profile {
        return Ok(Plan {
            text: out,
            widenings,
            tables,
        });
    }
    for PlannedTable {
        source: table,
        plan,
    } in &prepared.tables
    {
        let mut profiler = TableProfiler::new(plan);
        let key_columns = KeyColumns::of(table);
        for range in prepared.source.chunk_ranges(table, u64::MAX)? {
            prepared
                .source
                .read_chunk(table, range, &mut |rowid, row| {
                    let key = || key_columns.key(rowid, row);
                    profiler.observe(key, row);
                    Ok(())
                })
                .read_context(|| format!("profiling {}", table.name))?;
        }
        out.push('\n');
        out.push_str(&profiler.finish().to_string());
    }
    Ok(Plan {
        text: out,
        widenings,
        tables,
    })
}
