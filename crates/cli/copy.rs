//! `ferry copy`: prepare the target, run the parallel load, then build keys,
//! indexes and foreign keys and reset sequences.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result};
use ferry_model::{quote_qualified, TablePlan};
use ferry_writer::{Step, StepKind, TableState};

use crate::args::{CopyArgs, IfExists, OnError};
use crate::exit::UsageError;
use crate::pipeline::{self, ChunkTask, Load, Stop, TableLoad};
use crate::prepare::prepare;
use crate::progress::Progress;
use crate::report::{rate, CopyReport, TableReport};

pub async fn copy(args: &CopyArgs) -> Result<CopyReport> {
    let started = Instant::now();
    if args.jobs == 0 || args.chunk_rows == 0 {
        return Err(UsageError::new("--jobs and --chunk-rows must be at least 1").into());
    }
    let prepared = prepare(&args.source)?;
    let on_error = args
        .on_error
        .or(prepared.config.on_error)
        .unwrap_or(OnError::Abort);
    let mut warnings: Vec<String> = prepared
        .plans
        .iter()
        .flat_map(|p| p.warnings.iter().map(move |w| format!("{}: {w}", p.name)))
        .collect();

    let client = ferry_writer::connect(&args.target)
        .await
        .context("connecting to the target")?;
    let created = prepare_target(&client, &prepared.plans, args.if_exists).await?;
    if on_error == OnError::Quarantine {
        ferry_writer::ensure_rejects_table(&client)
            .await
            .context("creating ferry.rejects")?;
    }

    let mut tables = Vec::new();
    let mut chunks = Vec::new();
    let mut expected_rows = Vec::new();
    for (index, plan) in prepared.plans.iter().enumerate() {
        let source = prepared
            .schema
            .table(&plan.source_name)
            .expect("plans are made from the source's tables")
            .clone();
        let rows = prepared.source.row_count(&source)?;
        let ranges = prepared.source.chunk_ranges(&source, args.chunk_rows)?;
        chunks.extend(ranges.into_iter().map(|range| ChunkTask {
            table: index,
            range,
        }));
        expected_rows.push(rows);
        tables.push(TableLoad::new(source, plan.clone()));
    }
    // Biggest tables first, so the small ones fill the gaps at the end.
    chunks.sort_by_key(|c| std::cmp::Reverse(expected_rows[c.table]));

    let progress = Arc::new(Progress::new(
        &tables
            .iter()
            .zip(&expected_rows)
            .map(|(t, rows)| (t.plan.name.clone(), *rows))
            .collect::<Vec<_>>(),
    ));
    let mut clients = vec![client];
    for _ in 1..args.jobs.min(chunks.len().max(1)) {
        clients.push(
            ferry_writer::connect(&args.target)
                .await
                .context("opening another connection to the target")?,
        );
    }

    let stop = Arc::new(Stop::default());
    let signals = tokio::spawn(interrupt_on_signal(Arc::clone(&stop)));
    let tables = Arc::new(tables);
    let load = Load {
        source_path: prepared.source.path(),
        tables: Arc::clone(&tables),
        on_error,
        run_id: run_id(),
        stop: Arc::clone(&stop),
        progress: Arc::clone(&progress),
    };
    let result = pipeline::run(&load, chunks, clients).await;
    let clients = result.inspect_err(|_| progress.finish())?;

    for (table, expected) in tables.iter().zip(&expected_rows) {
        check_counts(table, *expected, &mut warnings)?;
    }

    let load_seconds = started.elapsed().as_secs_f64();
    progress.step("building keys and indexes");
    let (builds, finishing) = post_load_waves(&prepared.plans, &created, &expected_rows);
    for client in &clients {
        // What pgloader does too: index builds sort in memory, not on disk.
        run_sql(
            client,
            "SET maintenance_work_mem = '128MB'",
            "configuring index builds",
        )
        .await?;
    }
    run_in_parallel(&clients, builds, &stop).await?;
    run_in_parallel(&clients, finishing, &stop).await?;
    progress.step("adding foreign keys");
    add_foreign_keys(&clients[0], &prepared.plans, &created, &mut warnings).await?;
    signals.abort();
    progress.finish();

    let reports = tables
        .iter()
        .map(|t| {
            let s = &t.stats;
            let rows_read = s.rows_read.load(std::sync::atomic::Ordering::Relaxed);
            let seconds = s.seconds();
            TableReport {
                table: t.source.name.clone(),
                target: format!("{}.{}", t.plan.schema, t.plan.name),
                rows_read,
                rows_written: s.rows_written.load(std::sync::atomic::Ordering::Relaxed),
                rejected: s.rejected.load(std::sync::atomic::Ordering::Relaxed),
                bytes: s.bytes.load(std::sync::atomic::Ordering::Relaxed),
                seconds,
                rows_per_second: rate(rows_read, seconds),
            }
        })
        .collect();
    Ok(CopyReport::new(
        reports,
        load_seconds,
        started.elapsed().as_secs_f64(),
        prepared.schema.skipped.clone(),
        warnings,
    ))
}

/// Applies `--if-exists` and creates what is missing. Returns, per plan,
/// whether ferry created the table (and so owns its keys and indexes).
async fn prepare_target(
    client: &tokio_postgres::Client,
    plans: &[TablePlan],
    if_exists: Option<IfExists>,
) -> Result<Vec<bool>> {
    let mut states = Vec::new();
    for plan in plans {
        let state = ferry_writer::table_state(client, &plan.schema, &plan.name)
            .await
            .with_context(|| format!("inspecting {}.{}", plan.schema, plan.name))?;
        states.push(state);
    }
    let names = |wanted: &dyn Fn(&TableState) -> bool| -> Vec<String> {
        plans
            .iter()
            .zip(&states)
            .filter(|(_, s)| wanted(s))
            .map(|(p, _)| quote_qualified(&p.schema, &p.name))
            .collect()
    };
    let not_empty = names(&|s| *s == TableState::NotEmpty);
    if if_exists.is_none() && !not_empty.is_empty() {
        return Err(UsageError::new(format!(
            "target tables already hold rows: {}; rerun with --if-exists truncate (empty them), \
             append (add to them) or drop (recreate them)",
            not_empty.join(", ")
        ))
        .into());
    }
    let existing = names(&|s| *s != TableState::Missing);
    let mut created: Vec<bool> = states.iter().map(|s| *s == TableState::Missing).collect();
    if !existing.is_empty() {
        match if_exists {
            Some(IfExists::Drop) => {
                run_sql(
                    client,
                    &format!("DROP TABLE {}", existing.join(", ")),
                    "dropping tables",
                )
                .await?;
                created = vec![true; plans.len()];
            }
            Some(IfExists::Truncate) => {
                run_sql(
                    client,
                    &format!("TRUNCATE {}", existing.join(", ")),
                    "truncating tables",
                )
                .await?;
            }
            Some(IfExists::Append) | None => {}
        }
    }
    let mut schemas: Vec<&str> = plans.iter().map(|p| p.schema.as_str()).collect();
    schemas.dedup();
    for schema in schemas {
        run_sql(
            client,
            &ferry_writer::create_schema_sql(schema),
            "creating the schema",
        )
        .await?;
    }
    for (plan, create) in plans.iter().zip(&created) {
        if *create {
            run_sql(
                client,
                &ferry_writer::create_table_sql(plan),
                &format!("creating {}.{}", plan.schema, plan.name),
            )
            .await?;
        }
    }
    Ok(created)
}

async fn run_sql(client: &tokio_postgres::Client, sql: &str, what: &str) -> Result<()> {
    client
        .batch_execute(sql)
        .await
        .with_context(|| format!("{what}: {sql}"))
}

/// Every row the chunks read must have been written or rejected, and every
/// row counted at the start must have been read.
fn check_counts(table: &TableLoad, expected: u64, warnings: &mut Vec<String>) -> Result<()> {
    use std::sync::atomic::Ordering::Relaxed;
    let s = &table.stats;
    let (read, written, rejected) = (
        s.rows_read.load(Relaxed),
        s.rows_written.load(Relaxed),
        s.rejected.load(Relaxed),
    );
    if read != written + rejected {
        anyhow::bail!(
            "{}: {read} rows read but {written} written and {rejected} rejected; \
             the target is incomplete, rerun with --if-exists truncate",
            table.source.name
        );
    }
    if read != expected {
        warnings.push(format!(
            "{}: the source held {expected} rows when the copy started but {read} were read; \
             it changed during the copy, rerun when no one writes to it",
            table.source.name
        ));
    }
    Ok(())
}

/// The post-load work in two waves. First every index build (key indexes
/// included), each on its own so the builds of one big table spread over
/// all connections, biggest tables first. Then, per table, attaching the
/// keys to their indexes, resetting sequences and `ANALYZE`. Tables that
/// already existed only get their sequences reset and statistics updated:
/// their structure is the user's.
fn post_load_waves(
    plans: &[TablePlan],
    created: &[bool],
    rows: &[u64],
) -> (Vec<Vec<Step>>, Vec<Vec<Step>>) {
    let mut order: Vec<usize> = (0..plans.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(rows[i]));
    let mut builds = Vec::new();
    let mut finishing = Vec::new();
    for i in order {
        let (index_builds, rest): (Vec<Step>, Vec<Step>) = ferry_writer::post_load_steps(&plans[i])
            .into_iter()
            .filter(|s| created[i] || matches!(s.kind, StepKind::IdentityReset | StepKind::Analyze))
            .partition(|s| s.kind == StepKind::Index);
        builds.extend(index_builds.into_iter().map(|step| vec![step]));
        finishing.push(rest);
    }
    (builds, finishing)
}

/// Runs the steps of each group in order, groups in parallel over the
/// clients.
async fn run_in_parallel(
    clients: &[tokio_postgres::Client],
    steps: Vec<Vec<Step>>,
    stop: &Stop,
) -> Result<()> {
    let queue = Mutex::new(steps.into_iter().collect::<VecDeque<_>>());
    let work = clients.iter().map(|client| async {
        loop {
            let next = queue.lock().expect("queue lock poisoned").pop_front();
            let Some(table_steps) = next else {
                return Ok(());
            };
            for step in &table_steps {
                if stop.is_stopped() {
                    return Err(stop
                        .take_error()
                        .unwrap_or_else(|| crate::exit::Interrupted.into()));
                }
                ferry_writer::run_step(client, step)
                    .await
                    .with_context(|| step.description.clone())?;
            }
        }
    });
    let results: Vec<Result<()>> = futures_util::future::join_all(work).await;
    results.into_iter().collect()
}

/// SQLite does not enforce foreign keys by default, so a source can hold
/// rows that violate its own constraints. Each key is added `NOT VALID`
/// (enforced for new rows) and then validated; a failed validation is a
/// warning naming the constraint, not a failed copy.
async fn add_foreign_keys(
    client: &tokio_postgres::Client,
    plans: &[TablePlan],
    created: &[bool],
    warnings: &mut Vec<String>,
) -> Result<()> {
    for (plan, _) in plans.iter().zip(created).filter(|(_, c)| **c) {
        for step in ferry_writer::foreign_key_steps(plan) {
            let result = ferry_writer::run_step(client, &step).await;
            match (step.kind, result) {
                (_, Ok(())) => {}
                (StepKind::ValidateForeignKey, Err(err)) => warnings.push(format!(
                    "{}: {} failed: {err}; the constraint is kept NOT VALID (checked for new \
                     rows only); fix the rows and run ALTER TABLE … VALIDATE CONSTRAINT",
                    plan.name, step.description
                )),
                (_, Err(err)) => {
                    return Err(err).with_context(|| step.description.clone());
                }
            }
        }
    }
    Ok(())
}

/// SIGINT or SIGTERM: stop handing out chunks; in-flight ones roll back.
async fn interrupt_on_signal(stop: Arc<Stop>) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    stop.interrupt();
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    stop.interrupt();
}

/// Names this run in ferry.rejects.
fn run_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}-{}", now.as_secs(), std::process::id())
}
