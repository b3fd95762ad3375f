//! Keys, indexes, sequences, statistics and foreign keys.
//!
//! A table's keys, indexes, identity reset and `ANALYZE` are built as soon
//! as its last chunk commits, by whichever writer is free first
//! ([`build_table`], claimed through the ledger so that exactly one
//! session of all processes builds each table), while other tables are
//! still loading. Foreign keys and CHECK constraints need both sides
//! built: exactly one process adds them once every table is
//! ([`add_constraints`]). A copy resumed from its post-load phase, or
//! recorded by an older ferry, checks and builds everything at the end
//! ([`build`]).

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Mutex;

use anyhow::{Context, Result};
use ferry_model::TablePlan;
use ferry_writer::{Step, StepKind, WriteError};
use tracing::Instrument;

use crate::events::{Event, Phase, Progress};
use crate::pipeline::TableLoad;
use crate::stop::Stop;

/// SQLSTATEs of "already exists": a resumed copy may find the indexes and
/// constraints a stopped run had built.
const ALREADY_EXISTS: [&str; 2] = ["42P07", "42710"];

/// Makes this process the one building the copy's keys and indexes, and
/// ends the backends a killed run left still building them (issue 14: an
/// orphan finishing an index under the retry's own build): it takes the
/// copy's post-load lock, names its sessions after the copy, and ends
/// every other session of that name. Run it before [`build`].
pub async fn take_over(
    session: &mut crate::setup::Session,
    clients: &[tokio_postgres::Client],
    warnings: &mut Vec<String>,
) -> Result<()> {
    let name = session.lead_post_load().await?;
    let mut own = Vec::new();
    for client in clients {
        ferry_writer::set_application_name(client, &name).await?;
        own.push(ferry_writer::backend_pid(client).await?);
    }
    let ended = ferry_writer::end_orphans(&clients[0], &name, &own)
        .await
        .context("ending the sessions a stopped run left building")?;
    if ended > 0 {
        warnings.push(format!(
            "ended {} a stopped run of this copy left building keys and indexes",
            ferry_model::plural(ended, "session", "sessions")
        ));
    }
    Ok(())
}

/// Builds what the tables' plans ask for, every table at once (index
/// builds spread over all `clients`, biggest tables first), for a copy
/// whose tables were not built one by one as they loaded: one resumed
/// from its post-load phase, or recorded by an older ferry. `created`
/// says, per table, whether the copy created it. `resumed`: some of it
/// may exist already. Every step is safe to run again: it first looks for
/// what it would create ([`ferry_writer::step_done`]).
pub async fn build(
    clients: &[tokio_postgres::Client],
    tables: &[TableLoad],
    created: &[bool],
    how: &Steps<'_>,
) -> Result<()> {
    let mut plans = Vec::with_capacity(tables.len());
    for (table, &created) in tables.iter().zip(created) {
        plans.push(plan_to_build(&clients[0], &table.plan, created).await?);
    }
    let (builds, finishing) = post_load_waves(tables, &plans, created);
    run_in_parallel(
        clients,
        set_logged(&clients[0], tables, created).await?,
        how,
    )
    .await?;
    for client in clients {
        // What pgloader does too: index builds sort in memory, not on disk.
        client
            .batch_execute("SET maintenance_work_mem = '128MB'")
            .await
            .context("configuring index builds")?;
    }
    run_in_parallel(clients, builds, how).await?;
    run_in_parallel(clients, finishing, how).await
}

/// Builds one table's keys, indexes, identity reset and statistics on
/// `client`: `SET LOGGED` first for a table an `--unlogged` copy created,
/// then [`ferry_writer::post_load_steps`] in order (for a table the copy
/// did not create, only the identity reset and `ANALYZE`: its structure is
/// the user's). Every step is safe to run again. The caller holds the
/// table's build claim ([`ferry_writer::claim_build`]).
pub async fn build_table(
    client: &tokio_postgres::Client,
    table: &TableLoad,
    created: bool,
    how: &Steps<'_>,
) -> Result<()> {
    let mut steps = Vec::new();
    if created {
        steps.extend(
            set_logged(client, std::slice::from_ref(table), &[true])
                .await?
                .into_iter()
                .flatten(),
        );
    }
    // What pgloader does too: index builds sort in memory, not on disk.
    client
        .batch_execute("SET maintenance_work_mem = '128MB'")
        .await
        .context("configuring index builds")?;
    let plan = plan_to_build(client, &table.plan, created).await?;
    steps.extend(
        ferry_writer::post_load_steps(&plan)
            .into_iter()
            .filter(|s| created || matches!(s.kind, StepKind::IdentityReset | StepKind::Analyze)),
    );
    run_steps(client, &steps, how).await
}

/// What to build for a table: its plan as made when the copy created it;
/// for a table the copy kept, the plan with only the planned leaves the
/// target has. A kept table may lack some (`ferry partitions prune` dropped
/// them, or the user never made them; their rows went to DEFAULT), and
/// `ANALYZE` of a missing leaf would fail the copy after its rows
/// committed.
async fn plan_to_build<'a>(
    client: &tokio_postgres::Client,
    plan: &'a TablePlan,
    created: bool,
) -> Result<Cow<'a, TablePlan>> {
    if created || plan.partition.is_none() {
        return Ok(Cow::Borrowed(plan));
    }
    let mut plan = plan.clone();
    if let Some(partition) = &mut plan.partition {
        let existing = ferry_writer::list_leaves(client, &plan.schema, &plan.name)
            .await?
            .unwrap_or_default();
        partition
            .leaves
            .retain(|leaf| existing.iter().any(|e| e.name == leaf.name));
    }
    Ok(Cow::Owned(plan))
}

/// How the steps of one build run.
pub struct Steps<'a> {
    /// Some steps may have run already.
    pub resumed: bool,
    pub stop: &'a Stop,
    pub progress: &'a Progress,
}

/// `SET LOGGED` for every created table still `UNLOGGED` (an `--unlogged`
/// copy, whichever process started it), before any index is built so the
/// rewrite does not rebuild them too.
async fn set_logged(
    client: &tokio_postgres::Client,
    tables: &[TableLoad],
    created: &[bool],
) -> Result<Vec<Vec<Step>>> {
    let Some(schema) = tables.first().map(|t| t.plan.schema.as_str()) else {
        return Ok(Vec::new());
    };
    let names: Vec<String> = tables
        .iter()
        .zip(created)
        .filter(|(_, created)| **created)
        .map(|(t, _)| t.plan.name.clone())
        .collect();
    let unlogged = ferry_writer::unlogged_tables(client, schema, &names)
        .await
        .context("looking for unlogged tables")?;
    Ok(unlogged
        .iter()
        .map(|table| vec![ferry_writer::set_logged_step(schema, table)])
        .collect())
}

/// Runs one step, showing it as the indexes phase and logging what it
/// built and how long it took.
async fn run_step(
    client: &tokio_postgres::Client,
    step: &Step,
    progress: &Progress,
) -> Result<(), WriteError> {
    let started = std::time::Instant::now();
    let subject = Some(step.description.as_str());
    progress.emit(Event::PhaseStarted {
        phase: Phase::Indexes,
        subject,
    });
    let result = ferry_writer::run_step(client, step)
        .instrument(tracing::info_span!("table", table = %step.table))
        .await;
    let seconds = started.elapsed().as_secs_f64();
    progress.emit(Event::PhaseFinished {
        phase: Phase::Indexes,
        subject,
        outcome: if result.is_ok() { "done" } else { "failed" },
    });
    match &result {
        Ok(()) => {
            tracing::info!(table = %step.table, kind = ?step.kind, seconds, "{}", step.description)
        }
        Err(err) => {
            tracing::info!(table = %step.table, kind = ?step.kind, seconds, "{} failed: {err}", step.description)
        }
    }
    result
}

fn already_exists(err: &WriteError) -> bool {
    err.sqlstate()
        .is_some_and(|code| ALREADY_EXISTS.contains(&code))
}

/// The post-load work in two waves. First every index build (key indexes
/// included), each on its own so the builds of one big table spread over
/// all connections, biggest tables first. Then, per table, attaching the
/// keys to their indexes, resetting sequences and `ANALYZE`. Tables that
/// already existed only get their sequences reset and statistics updated:
/// their structure is the user's.
fn post_load_waves(
    tables: &[TableLoad],
    plans: &[Cow<'_, TablePlan>],
    created: &[bool],
) -> (Vec<Vec<Step>>, Vec<Vec<Step>>) {
    let mut order: Vec<usize> = (0..tables.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(tables[i].expected_rows));
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
    how: &Steps<'_>,
) -> Result<()> {
    let queue = Mutex::new(steps.into_iter().collect::<VecDeque<_>>());
    let work = clients.iter().map(|client| async {
        loop {
            let next = queue.lock().expect("queue lock poisoned").pop_front();
            let Some(table_steps) = next else {
                return Ok(());
            };
            run_steps(client, &table_steps, how).await?;
        }
    });
    let results: Vec<Result<()>> = futures_util::future::join_all(work).await;
    results.into_iter().collect()
}

/// Runs `steps` in order on `client`, skipping those done already.
async fn run_steps(client: &tokio_postgres::Client, steps: &[Step], how: &Steps<'_>) -> Result<()> {
    let Steps {
        resumed,
        stop,
        progress,
    } = *how;
    for step in steps {
        // The stop's cause stays with it, for whoever ends the run.
        if stop.is_stopped() {
            return Err(crate::exit::Interrupted.into());
        }
        if ferry_writer::step_done(client, step)
            .await
            .with_context(|| step.description.clone())?
        {
            continue;
        }
        match run_step(client, step, progress).await {
            Err(err) if resumed && already_exists(&err) => {}
            result => result.with_context(|| step.description.clone())?,
        }
    }
    Ok(())
}

/// SQLite does not enforce foreign keys by default, and checks a CHECK
/// added later only against new rows, so a source can hold rows that
/// violate its own constraints. Each constraint is added `NOT VALID`
/// (enforced for new rows) and then validated; a failed validation is a
/// warning naming the constraint, not a failed copy, and so is a CHECK
/// that Postgres refuses to add. `plans` are those of the tables the copy
/// created; the others' constraints are the user's.
pub async fn add_constraints<'a>(
    client: &tokio_postgres::Client,
    plans: impl IntoIterator<Item = &'a TablePlan>,
    resumed: bool,
    progress: &Progress,
    warnings: &mut Vec<String>,
) -> Result<()> {
    for plan in plans {
        for step in ferry_writer::constraint_steps(plan) {
            if ferry_writer::step_done(client, &step)
                .await
                .with_context(|| step.description.clone())?
            {
                continue;
            }
            let result = run_step(client, &step, progress).await;
            match (step.kind, result) {
                (_, Ok(())) => {}
                (_, Err(err)) if resumed && already_exists(&err) => {}
                (StepKind::Validate, Err(err)) if plan.partition.is_some() => {
                    warnings.push(format!(
                        "{}: {} failed: {err}; the constraint was not created (a partitioned \
                         table cannot keep it NOT VALID); fix the rows and add it by hand",
                        plan.name, step.description
                    ))
                }
                (StepKind::Check, Err(err)) => warnings.push(format!(
                    "{}: {} failed: {err}; the constraint was not created; add it by hand",
                    plan.name, step.description
                )),
                (StepKind::Validate, Err(err)) => warnings.push(format!(
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
