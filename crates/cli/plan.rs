//! `ferry plan`: the DDL a copy would run and, with `--profile`, what each
//! column really holds. Touches no database.

use std::ops::ControlFlow;

use anyhow::{Context, Result};
use ferry_transformer::TableProfiler;

use crate::args::PlanArgs;
use crate::prepare::prepare;
use crate::row_key::KeyColumns;

pub fn plan(args: &PlanArgs) -> Result<String> {
    let mut prepared = prepare(&args.source)?;
    crate::partitioning::add_leaves(&prepared.source, &prepared.schema, &mut prepared.plans)?;
    let mut out = String::new();
    for skipped in &prepared.schema.skipped {
        out.push_str(&format!(
            "-- skipped {} {}: {}\n",
            skipped.kind, skipped.name, skipped.reason
        ));
    }
    let storage = crate::storage::planned(&args.storage, &prepared.config);
    out.push_str(&ferry_writer::plan_script(&prepared.plans, &storage));
    out.push_str(&crate::sync::plan_comments(&prepared)?);
    if let Some(path) = &args.emit_config {
        // Under --types declared the plan did not look at the stored values.
        let found;
        let widenings = match &prepared.widened {
            Some(widened) => widened.as_slice(),
            None => {
                found = crate::stored_types::findings(
                    &prepared.source,
                    &prepared.schema,
                    &prepared.plans,
                    &prepared.config.overrides,
                )?
                .widenings;
                found.as_slice()
            }
        };
        crate::emit_config::write(
            path,
            &crate::emit_config::render(&args.source.source, widenings),
        )?;
        crate::scrub::say!(
            "ferry: wrote {} with the types of {} column{}",
            path.display(),
            widenings.len(),
            if widenings.len() == 1 { "" } else { "s" }
        );
    }
    if !args.profile {
        return Ok(out);
    }
    for plan in &prepared.plans {
        let table = prepared
            .schema
            .table(&plan.source_name)
            .expect("plans are made from the source's tables");
        let mut profiler = TableProfiler::new(plan);
        let key_columns = KeyColumns::of(table);
        for range in prepared.source.chunk_ranges(table, u64::MAX)? {
            prepared
                .source
                .read_chunk(table, range, &mut |rowid, row| {
                    let key = || key_columns.key(rowid, row);
                    profiler.observe(key, row);
                    ControlFlow::Continue(())
                })
                .with_context(|| format!("profiling {}", table.name))?;
        }
        out.push('\n');
        out.push_str(&profiler.finish().to_string());
    }
    Ok(out)
}
