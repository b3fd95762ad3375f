//! `ferry sync --check`: the drift a sync would repair, found by the full
//! comparison and applied nowhere. Meant to run now and then next to a
//! cursor or append strategy, which cannot see every change (issue 13).

use std::sync::Arc;
use std::time::Instant;

use ferry_writer::ChangeSet;

use super::changes::Baseline;
use super::report::TableOutcome;
use super::{blind_note, failed, Planned};
use crate::exit;

/// Compares every table in full; the counts of each outcome are the rows
/// a sync would insert, update and delete. Exit 1 when any table differs
/// or is missing, 3 when one could not be read.
pub async fn check(
    client: &tokio_postgres::Client,
    planned: &[Planned],
) -> (Vec<TableOutcome>, u8) {
    let mut outcomes = Vec::new();
    let mut code = exit::OK;
    for p in planned {
        let started = Instant::now();
        let job = &p.job;
        let plan = &job.plan;
        let display = format!("{}.{}", plan.schema, plan.name);
        let exists = ferry_writer::inspect_table(client, &plan.schema, &plan.name).await;
        let result = match exists {
            Ok(None) => {
                code = code.max(exit::DIFFERENCES);
                outcomes.push(failed(
                    p,
                    &format!("{display} does not exist in the target; ferry sync copies it"),
                    0.0,
                ));
                continue;
            }
            Ok(Some(_)) => Arc::clone(job)
                .reconcile(client, &mut ChangeSet::new(), Baseline::Target)
                .await
                .map(|reconciled| reconciled.drift),
            Err(err) => Err(anyhow::Error::new(err)),
        };
        match result {
            Ok(drift) => {
                if !drift.is_empty() {
                    code = code.max(exit::DIFFERENCES);
                }
                outcomes.push(TableOutcome {
                    table: job.table.name.clone(),
                    target: display,
                    mode: job.strategy.mode_name().to_owned(),
                    action: "checked".to_owned(),
                    inserted: drift.missing,
                    updated: drift.changed,
                    deleted: drift.extra,
                    unchanged: 0,
                    rejected: 0,
                    seconds: started.elapsed().as_secs_f64(),
                    watermark: None,
                    success: true,
                    error: None,
                    notes: blind_note(&job.strategy).into_iter().collect(),
                    last_success_unix: p.last_success_unix,
                });
            }
            Err(err) => {
                eprintln!("ferry: error: {}: {err:#}", job.table.name);
                code = code.max(exit::FAILURE);
                outcomes.push(failed(
                    p,
                    &format!("{err:#}"),
                    started.elapsed().as_secs_f64(),
                ));
            }
        }
    }
    (outcomes, code)
}
