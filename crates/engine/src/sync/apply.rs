//! Applying a run's changes: every table's in one transaction, so the
//! target is always at one snapshot of the source (issue 13).
//!
//! A table whose changes the server refuses is left out and the others
//! are applied again without it: it is reported with the server's cause
//! (constraint, keys), the run exits 3, and since its sync state did not
//! move, the next run retries it from the same watermark. Nothing wedges
//! the other tables.

use std::time::Instant;

use ferry_model::TablePlan;
use ferry_writer::{ServerError, SyncRecord, TableChanges, WriteError};

use super::report::TableOutcome;
use super::{failed, notes, unix_now, watermark_text, Found, NewDigests, Planned};
use crate::exit;

/// A table whose changes were found, waiting to be applied.
pub struct Pending {
    /// Its position in the run's planned tables.
    pub index: usize,
    pub found: Found,
    pub started: Instant,
    pub started_unix: f64,
}

/// Applies every pending table's changes in one transaction, leaving out
/// the tables the server refuses one at a time; returns their outcomes
/// and the exit code (3 when a table failed).
pub async fn apply_run(
    client: &mut tokio_postgres::Client,
    planned: &[Planned],
    pending: Vec<Pending>,
    identity: &str,
) -> (Vec<TableOutcome>, u8) {
    let texts: Vec<Option<String>> = pending
        .iter()
        .map(|x| watermark_text(&planned[x.index].job, x.found.watermark))
        .collect();
    let mut pending = pending;
    let digests: Vec<NewDigests> = pending
        .iter_mut()
        .map(|x| std::mem::replace(&mut x.found.digests, NewDigests::Keep))
        .collect();
    let mut meta = Vec::with_capacity(pending.len());
    let mut tables = Vec::with_capacity(pending.len());
    for ((x, text), digests) in pending.into_iter().zip(&texts).zip(&digests) {
        let job = &planned[x.index].job;
        tables.push(TableChanges {
            plan: &job.plan,
            changes: x.found.changes,
            ddl: &[],
            record: SyncRecord {
                source_table: &job.table.name,
                source: identity,
                mode: job.strategy.mode_name(),
                cursor_column: job.strategy.cursor_name(),
                watermark: x.found.watermark,
                watermark_text: text.as_deref(),
                started_unix: x.started_unix,
                copied: 0,
                digests: digests.update(),
                reconciled: x.found.action == "reconciled",
            },
        });
        meta.push((x.index, x.found.action, x.started));
    }
    let mut outcomes = Vec::new();
    let mut code = exit::OK;
    while !tables.is_empty() {
        let failure = match ferry_writer::apply_all(client, &mut tables).await {
            Ok(applied) => {
                for (((index, action, started), t), a) in meta.iter().zip(&tables).zip(applied) {
                    let job = &planned[*index].job;
                    outcomes.push(TableOutcome {
                        table: job.table.name.clone(),
                        target: format!("{}.{}", job.plan.schema, job.plan.name),
                        mode: job.strategy.mode_name().to_owned(),
                        action: (*action).to_owned(),
                        inserted: a.inserted,
                        updated: a.updated,
                        deleted: a.deleted,
                        unchanged: a.unchanged,
                        rejected: 0,
                        seconds: started.elapsed().as_secs_f64(),
                        watermark: t.record.watermark_text.map(str::to_owned),
                        success: true,
                        error: None,
                        notes: notes(job),
                        last_success_unix: Some(unix_now()),
                    });
                }
                break;
            }
            Err(failure) => failure,
        };
        code = exit::FAILURE;
        let blamed = failure
            .table
            .or_else(|| blame(&tables, planned, &failure.error))
            .filter(|_| !failure.error.is_connection_error());
        let Some(i) = blamed else {
            // Nothing to leave out: every table of the run failed with it.
            let message = format!("{:#}", anyhow::Error::new(failure.error));
            eprintln!("ferry: error: {message}");
            for (index, _, started) in &meta {
                outcomes.push(failed(
                    &planned[*index],
                    &message,
                    started.elapsed().as_secs_f64(),
                ));
            }
            break;
        };
        let (index, _, started) = meta.remove(i);
        let table = tables.remove(i);
        let message = describe(client, table.plan, failure.error).await;
        eprintln!("ferry: error: {message}");
        outcomes.push(failed(
            &planned[index],
            &message,
            started.elapsed().as_secs_f64(),
        ));
    }
    (outcomes, code)
}

/// The table at fault for a violation found at the end of the apply: the
/// table the server names, else (when that table is not part of the
/// run's changes) the table its foreign key references, among the run's
/// `planned` tables.
fn blame(tables: &[TableChanges<'_>], planned: &[Planned], error: &WriteError) -> Option<usize> {
    let WriteError::Server(server) = error else {
        return None;
    };
    let position = |name: &str| tables.iter().position(|t| t.plan.name == name);
    if let Some(i) = server.server_table.as_deref().and_then(position) {
        return Some(i);
    }
    let constraint = server.server_constraint.as_deref()?;
    let fk = planned
        .iter()
        .flat_map(|p| &p.job.plan.foreign_keys)
        .find(|fk| fk.name == constraint)?;
    position(&fk.referenced_table)
}

/// The failure of one table's changes, said for the person reading cron's
/// mail: the server's cause, what became of the table, and what to do. A
/// constraint violation gets advice of its own: the server's generic
/// advice assumes a copy, where the rows themselves are at fault.
async fn describe(client: &tokio_postgres::Client, plan: &TablePlan, error: WriteError) -> String {
    let display = format!("{}.{}", plan.schema, plan.name);
    let kept = format!(
        "nothing of this run was applied to {display}, and the next run retries it from the \
         same watermark"
    );
    let server: &ServerError = match &error {
        WriteError::Server(server) if server.code.starts_with("23") => server,
        _ => return format!("{:#}; {kept}", anyhow::Error::new(error)),
    };
    let mut out = format!(
        "{display}: applying the changes failed: {} (SQLSTATE {}",
        server.message, server.code
    );
    if let Some(constraint) = &server.server_constraint {
        out.push_str(&format!(", constraint {constraint}"));
    }
    out.push(')');
    if let Some(detail) = &server.detail {
        out.push_str(&format!("; {detail}"));
    }
    out.push_str(&format!("; {kept}; "));
    let deferrable = match &server.server_constraint {
        Some(name) => ferry_writer::constraint_is_deferrable(client, &plan.schema, name)
            .await
            .ok()
            .flatten(),
        None => None,
    };
    let table = &plan.source_name;
    match (deferrable, &server.server_constraint) {
        (Some(false), Some(name)) => out.push_str(&format!(
            "constraint {name} is not DEFERRABLE (made by an older ferry or by hand), so rows \
             that agree in the source can still collide while they are applied one by one: \
             recreate it DEFERRABLE INITIALLY IMMEDIATE (for a foreign key, ALTER TABLE … \
             ALTER CONSTRAINT {name} DEFERRABLE), then rerun, or resync the table with ferry \
             sync --reset {table}"
        )),
        _ => out.push_str(
            "the source's rows at this snapshot violate it even with every change of the run \
             applied together (SQLite checks foreign keys only under PRAGMA foreign_keys = ON): \
             correct them in SQLite, or drop the constraint in Postgres",
        ),
    }
    out
}
