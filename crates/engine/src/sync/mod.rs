//! `ferry sync`: keep a Postgres copy following a SQLite file that is
//! still being written, run after run, from cron.
//!
//! Each run reads one snapshot of the source, takes a session advisory
//! lock so that no two runs of the same source and schema overlap, and
//! then, table by table:
//!
//! 1. a table never synced whose target is missing or empty is copied by
//!    the copy pipeline (reading the same snapshot);
//! 2. a table never synced that already holds rows (an earlier `ferry
//!    copy`), or whose strategy or columns changed, is reconciled: one full
//!    comparison, its differences applied;
//! 3. any other table moves only what changed, by its strategy (cursor,
//!    append or full, see `strategy.rs`); full compares the source with the
//!    digests the last run stored in `ferry.sync_digests`.
//!
//! Every table's changes, its row of `ferry.sync_state` (watermark,
//! counts) and its stored digests commit in one transaction, so a run
//! killed at any instant leaves each table as it was before the run or as
//! it is after it.

mod apply;
mod changes;
mod check;
mod cursor;
mod report;
mod strategy;

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use ferry_model::{PgType, TablePlan};
use ferry_verifier::{BucketDigests, Bucketing};
use ferry_writer::{ChangeSet, DigestsUpdate, SyncRecord, SyncState, TableState, TargetColumn};
use tracing::Instrument;

pub use report::{SyncReport, TableOutcome};
pub use strategy::SyncConfig;

use crate::events::{Changes, Event, Observer, Phase, Progress};
use crate::exit::{self, SyncInterrupted, UsageError};
use crate::lock_watch::LockWatch;
use crate::options::{
    CopyOptions, OnError, SnapshotMode, SourceOptions, StorageOptions, SyncOptions,
};
use crate::prepare::PlannedTable;
use crate::retry::{RetryPolicy, CONNECT_RETRIES};
use crate::snapshot::is_busy;
use crate::stop::Stop;
use changes::{Baseline, TableJob};
use strategy::{Deletes, Mode, Strategy};

/// Another sync of the same source into the same schema holds the lock.
#[derive(Debug)]
pub struct Locked {
    pub source: String,
    pub schema: String,
    pub pid: Option<i32>,
    pub waited: Option<u64>,
}

impl fmt::Display for Locked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "another ferry sync of {} into {} is running",
            self.source, self.schema
        )?;
        if let Some(pid) = self.pid {
            write!(f, " (pid {pid} on the server)")?;
        }
        match self.waited {
            Some(seconds) => write!(f, "; still running after waiting {seconds}s"),
            None => f.write_str(
                "; this run did nothing: the next one catches up, or pass --wait SECONDS to wait \
                 for it",
            ),
        }
    }
}

impl std::error::Error for Locked {}

/// What a sync did, and the exit code it ends with (0, or the worst of
/// its tables' failures).
pub struct SyncOutcome {
    pub report: SyncReport,
    pub code: u8,
}

/// Runs one sync; `observer` hears of each failure and warning as it
/// happens, and of the first copy of new tables.
///
/// SIGINT, SIGTERM or SIGHUP stops the run wherever it is (issue 13): the
/// run is dropped, which removes its snapshot, and its session on the
/// target is ended from a second connection, which rolls the apply in
/// flight back and releases the lock even when a statement is blocked
/// on a lock held elsewhere. Nothing is half-applied, since every table
/// commits with its state, and the run exits 130.
pub async fn run(args: &SyncOptions, observer: Arc<dyn Observer>) -> Result<SyncOutcome> {
    let span = tracing::info_span!("sync", source = %args.source.source.display());
    run_traced(args, observer).instrument(span).await
}

async fn run_traced(args: &SyncOptions, observer: Arc<dyn Observer>) -> Result<SyncOutcome> {
    let progress = Progress::new(observer);
    crate::interrupt::set_message(exit::SYNC_INTERRUPTED);
    let stop = Arc::new(Stop::default());
    crate::interrupt::set_stop(&stop);
    let session = OnceLock::new();
    let synced = tokio::select! {
        synced = sync(args, &stop, &session, &progress) => synced,
        () = crate::copy::interrupt_on_signal(Arc::clone(&stop)) => {
            if let Some(pid) = session.get() {
                end_session(&args.target, *pid).await;
            }
            Err(SyncInterrupted.into())
        }
    };
    let (report, code) = synced?;
    Ok(SyncOutcome { report, code })
}

/// Ends the interrupted run's session, so its transaction is rolled back
/// before the process exits. Best effort: should the target not answer,
/// the server rolls the transaction back when it notices the connection
/// is gone.
async fn end_session(target: &str, pid: i32) {
    let ended = async {
        let client = ferry_writer::connect(target).await?;
        ferry_writer::end_session(&client, pid, Duration::from_secs(10)).await
    };
    if let Err(err) = ended.await {
        tracing::warn!("ending the interrupted session {pid} on the target: {err}");
    }
}

/// Every table's strategy, as `ferry plan` shows them.
pub fn plan_comments(prepared: &crate::prepare::Prepared) -> Result<String> {
    let mut out = String::from("\n-- ferry sync strategies ([tables.NAME.sync] in ferry.toml)\n");
    for PlannedTable { source, plan } in &prepared.tables {
        let strategy = strategy::strategy(source, plan, sync_config(prepared, &source.name))?;
        out.push_str(&format!("-- {}: {strategy}\n", plan.name));
        if let Some(note) = blind_note(&strategy) {
            out.push_str(&format!("--   {note}\n"));
        }
    }
    Ok(out)
}

/// The notes of a table's outcome: what its strategy misses, and cursor
/// values past now that it met.
fn notes(job: &TableJob) -> Vec<String> {
    blind_note(&job.strategy)
        .into_iter()
        .chain(job.future_note())
        .collect()
}

/// What a strategy cannot see and how to catch it, for the plan and the
/// summary; `None` for one that sees every change.
fn blind_note(strategy: &Strategy) -> Option<String> {
    strategy.blind_spots().map(|missed| {
        let repaired = match strategy.reconcile_every {
            Some(every) => format!(
                " (repaired by the full comparison every {})",
                strategy::show_lag(every)
            ),
            None => String::new(),
        };
        format!(
            "misses {missed}{repaired}: run ferry sync --check now and then to find the drift, \
             or use mode = \"full\""
        )
    })
}

fn sync_config<'a>(prepared: &'a crate::prepare::Prepared, table: &str) -> Option<&'a SyncConfig> {
    prepared
        .config
        .sync
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(table))
        .map(|(_, config)| config)
}

/// What a table needs this run.
enum Action {
    Copy,
    Reconcile,
    Incremental(SyncState),
}

/// One table, its job and what to do.
struct Planned {
    job: Arc<TableJob>,
    action: Action,
    /// Columns to add first, to follow the source.
    added: Vec<String>,
    /// `SET NOT NULL` for the added columns that could not take it at
    /// once, run once the run's changes filled them in.
    tighten: Vec<String>,
    last_success_unix: Option<f64>,
}

/// One run; `stop` is the run's, given back the signals after the first
/// copy borrowed them, and `session` receives the backend pid of the
/// connection that applies.
async fn sync(
    args: &SyncOptions,
    stop: &Arc<Stop>,
    session: &OnceLock<i32>,
    progress: &Progress,
) -> Result<(SyncReport, u8)> {
    let started = Instant::now();
    let identity = identity_of(&args.source.source).display().to_string();
    // The lock comes first, so a run that must wait or give up does so
    // before it spends anything on a snapshot.
    let schema = match &args.source.schema {
        Some(schema) => schema.clone(),
        None => crate::config::Config::load(args.source.config.as_deref())?
            .schema
            .unwrap_or_else(|| "public".to_owned()),
    };
    let mut client = RetryPolicy::new(CONNECT_RETRIES)
        .connect(&args.target, progress)
        .await
        .context("connecting to the target")?;
    let lock_watch = LockWatch::start(&args.target, progress.clone());
    lock_watch.add(&client).await;
    // ferry.toml's types are the target's to check before anything is
    // created there, ferry's own tables included.
    let config = crate::config::Config::load(args.source.config.as_deref())?;
    let target_types = crate::override_types::resolve(&client, &config).await?;
    crate::override_types::check(&client, &config).await?;
    ferry_writer::ensure_sync_state(&mut client)
        .await
        .context("creating ferry.sync_state")?;
    let _ = session.set(ferry_writer::backend_pid(&client).await?);
    lock(&client, &schema, &identity, args.wait).await?;

    // Read the file in place when it stays still meanwhile; from a backup
    // when a writer moved it on.
    let run = RunInfo {
        identity: identity.clone(),
        schema: schema.clone(),
        started,
        progress: progress.clone(),
    };
    let mut mode = args.snapshot;
    let ReadDone {
        snapshot,
        prepared,
        planned,
        pending,
        mut outcomes,
        mut code,
    } = loop {
        match read_source(args, &mut client, &target_types, mode, stop, &run).await? {
            Read::Done(done) => break *done,
            Read::Checked(report, code) => return Ok((report, code)),
            Read::Again => {
                tracing::info!(
                    "{} changed while it was read: reading it again from a backup",
                    args.source.source.display()
                );
                mode = SnapshotMode::Backup;
            }
        }
    };
    // Everything is read: a backup goes now rather than after the apply.
    let source_read = snapshot.kind();
    drop(snapshot);
    let tables = pending.len();
    let (applied, apply_code) = progress
        .phase(Phase::Apply, None, async {
            let applied = apply::apply_run(&mut client, &planned, pending, &identity).await;
            let tables = ferry_model::plural(tables, "table", "tables");
            Ok((applied, format!("{tables} in one transaction")))
        })
        .await?;
    outcomes.extend(applied);
    code = code.max(apply_code);
    if let Err(err) = link_copied(&client, &planned, &mut outcomes, progress).await {
        progress.error(&format!("{err:#}"));
        code = code.max(exit::exit_code(&err));
    }
    code = code.max(tighten(&client, &planned, &mut outcomes, progress).await);
    if let Err(err) = record_rejects(&mut client, &planned, &mut outcomes).await {
        progress.error(&format!("{err:#}"));
        code = code.max(exit::exit_code(&err));
    }
    // Rows for a range that has no leaf yet landed in DEFAULT: give them
    // their leaf, as `ferry partitions ensure` would.
    let mut partitions = Vec::new();
    if prepared.tables.iter().any(|t| t.plan.partition.is_some()) {
        let today = crate::partitions::today(None)?;
        match crate::partitions::ensure_leaves(
            &mut client,
            crate::partitions::ranged(&prepared.tables),
            today,
            0,
        )
        .await
        {
            Ok(lines) => partitions = lines,
            Err(err) => {
                progress.error(&format!("ensuring partitions: {err:#}"));
                code = code.max(exit::exit_code(&err));
            }
        }
    }
    in_source_order(&mut outcomes, &planned);
    let report = SyncReport {
        partitions,
        source_read,
        ..SyncReport::new(schema, outcomes, started)
    };
    for outcome in &report.tables {
        progress.emit(Event::TableSynced {
            schema: &report.schema,
            outcome,
        });
    }
    Ok((report, code))
}

/// Sorts outcomes into the source's order of `planned` tables, whatever
/// order they ran in; outcomes of no planned table go last.
fn in_source_order(outcomes: &mut [TableOutcome], planned: &[Planned]) {
    outcomes.sort_by_key(|o| {
        planned
            .iter()
            .position(|p| p.job.table.name == o.table)
            .unwrap_or(usize::MAX)
    });
}

/// What every table of a run needs, known before reading the source.
struct RunInfo {
    identity: String,
    schema: String,
    started: Instant,
    progress: Progress,
}

/// How reading the source for a run ended.
enum Read {
    /// Every table's changes found, from one state of the source.
    Done(Box<ReadDone>),
    /// A `--check` done.
    Checked(SyncReport, u8),
    /// The file, read in place, moved on meanwhile (or a table must be
    /// copied, which cannot be read twice): read it from a backup.
    Again,
}

/// The source read: its snapshot, its tables and their changes, and the
/// outcomes of the tables copied or failed so far.
struct ReadDone {
    snapshot: crate::snapshot::SourceSnapshot,
    prepared: crate::prepare::Prepared,
    planned: Vec<Planned>,
    pending: Vec<apply::Pending>,
    outcomes: Vec<TableOutcome>,
    code: u8,
}

/// Reads the source as `mode` says: plans every table, copies the new
/// ones and finds every other table's changes, applying nothing else.
async fn read_source(
    args: &SyncOptions,
    client: &mut tokio_postgres::Client,
    target_types: &crate::override_types::TargetTypes,
    mode: SnapshotMode,
    stop: &Arc<Stop>,
    run: &RunInfo,
) -> Result<Read> {
    let snapshot = crate::snapshot::take_shown(&args.source.source, mode, &run.progress).await?;
    let in_place = snapshot.in_place();
    let prepared =
        match crate::prepare::prepare_typed(&args.source, snapshot.connections(), target_types) {
            Err(err) if in_place && is_busy(&err) => return Ok(Read::Again),
            prepared => prepared?,
        };
    let on_error = args
        .on_error
        .or(prepared.config.on_error)
        .unwrap_or(OnError::Abort);

    for name in &args.reset {
        let plan = prepared
            .tables
            .iter()
            .map(|t| &t.plan)
            .find(|p| p.source_name.eq_ignore_ascii_case(name) || p.name == *name)
            .ok_or_else(|| {
                UsageError::new(format!(
                    "--reset {name}: the source has no such table (or --tables/--exclude leave \
                     it out)"
                ))
            })?;
        ferry_writer::forget_sync_state(client, &plan.schema, &plan.name)
            .await
            .with_context(|| format!("forgetting the sync state of {}", plan.name))?;
    }

    run.progress.emit(Event::TablesStarted {
        count: prepared.tables.len(),
    });
    let mut planned = Vec::new();
    let mut drift = Vec::new();
    for table in &prepared.tables {
        let strategy = strategy::strategy(
            &table.source,
            &table.plan,
            sync_config(&prepared, &table.source.name),
        )?;
        let job = TableJob::new(
            snapshot.path().to_owned(),
            args.source.source.clone(),
            table.clone(),
            strategy,
            on_error,
            args.jobs,
        )?;
        let (action, added, tighten, last_success_unix) = decide(
            client,
            &table.plan,
            &job.strategy,
            // A check changes nothing, columns included.
            args.allow_schema_changes && !args.check,
            &mut drift,
        )
        .await?;
        planned.push(Planned {
            job: Arc::new(job),
            action,
            added,
            tighten,
            last_success_unix,
        });
    }
    if !drift.is_empty() {
        let message = format!(
            "the source's schema changed: {}; ferry sync stopped before changing anything",
            drift.join("; ")
        );
        // Monitoring hears of every table failing, as of a run that ended.
        for p in &planned {
            run.progress.emit(Event::TableSynced {
                schema: &run.schema,
                outcome: &failed(p, &message, 0.0),
            });
        }
        return Err(UsageError::new(message).into());
    }

    if args.check {
        let (outcomes, code) = check::check(client, &planned).await;
        if !snapshot.still_current().unwrap_or(false) {
            return Ok(Read::Again);
        }
        let report = SyncReport {
            check: true,
            source_read: snapshot.kind(),
            ..SyncReport::new(run.schema.clone(), outcomes, run.started)
        };
        let report = SyncReport {
            status: match code {
                exit::OK => "ok",
                exit::DIFFERENCES => "differences",
                _ => "failed",
            },
            ..report
        };
        return Ok(Read::Checked(report, code));
    }

    let mut outcomes = Vec::new();
    let mut code = exit::OK;
    let copies: Vec<&Planned> = planned
        .iter()
        .filter(|p| matches!(p.action, Action::Copy))
        .collect();
    if !copies.is_empty() {
        // A copy commits as it reads, so it must read a state that stays.
        if in_place {
            return Ok(Read::Again);
        }
        let copied = first_copy(
            client,
            args,
            on_error,
            snapshot.path(),
            &run.identity,
            &copies,
            &run.progress,
        )
        .await;
        crate::interrupt::set_stop(stop);
        match copied {
            Ok(done) => outcomes.extend(done),
            Err(err) => {
                let message = format!("{err:#}");
                run.progress.error(&message);
                code = code.max(exit::exit_code(&err));
                outcomes.extend(copies.iter().map(|p| failed(p, &message, 0.0)));
            }
        }
    }
    // Every table's changes are found first, then applied together in
    // one transaction (see `apply`).
    let mut pending = Vec::new();
    for (index, p) in planned.iter().enumerate() {
        if matches!(p.action, Action::Copy) {
            continue;
        }
        let table_started = Instant::now();
        let name = p.job.table.name.as_str();
        let found = run
            .progress
            .phase(Phase::Changes, Some(name), async {
                let found = find_changes(client, p).await?;
                let changes = Changes {
                    upserts: found.changes.upserts(),
                    deletes: found.changes.deletes(),
                };
                run.progress.emit(Event::ChangesFound {
                    table: name,
                    changes,
                });
                let outcome = format!(
                    "{} upserts and {} deletes found",
                    changes.upserts, changes.deletes
                );
                Ok((found, outcome))
            })
            .await;
        match found {
            Ok(found) => pending.push(apply::Pending {
                index,
                found,
                started: table_started,
                started_unix: unix_now(),
            }),
            // A writer holding the file's lock: read again from a backup.
            Err(err) if in_place && is_busy(&err) => return Ok(Read::Again),
            Err(err) => {
                run.progress
                    .error(&format!("{}: {err:#}", p.job.table.name));
                code = code.max(exit::exit_code(&err));
                outcomes.push(failed(
                    p,
                    &format!("{err:#}"),
                    table_started.elapsed().as_secs_f64(),
                ));
            }
        }
    }
    // An error here (the file locked by a writer) is a change too: the
    // backup read next says what is wrong, if anything.
    if !snapshot.still_current().unwrap_or(false) {
        return Ok(Read::Again);
    }
    Ok(Read::Done(Box::new(ReadDone {
        snapshot,
        prepared,
        planned,
        pending,
        outcomes,
        code,
    })))
}

/// Takes the sync's advisory lock, waiting up to `wait` seconds if asked.
async fn lock(
    client: &tokio_postgres::Client,
    schema: &str,
    identity: &str,
    wait: Option<u64>,
) -> Result<()> {
    let deadline = wait.map(|s| Instant::now() + Duration::from_secs(s));
    loop {
        if ferry_writer::try_lock_sync(client, schema, identity).await? {
            return Ok(());
        }
        match deadline {
            Some(deadline) if Instant::now() < deadline => {
                let left = deadline.saturating_duration_since(Instant::now());
                tokio::time::sleep(left.min(Duration::from_millis(500))).await;
            }
            _ => {
                let pid = ferry_writer::sync_lock_holder(client, schema, identity).await?;
                return Err(Locked {
                    source: identity.to_owned(),
                    schema: schema.to_owned(),
                    pid,
                    waited: wait,
                }
                .into());
            }
        }
    }
}

/// Inspects the target table and the sync state: what this run must do,
/// which columns it adds, and any schema change it cannot follow (pushed
/// to `drift`).
async fn decide(
    client: &tokio_postgres::Client,
    plan: &TablePlan,
    strategy: &Strategy,
    allow_schema_changes: bool,
    drift: &mut Vec<String>,
) -> Result<(Action, Vec<String>, Vec<String>, Option<f64>)> {
    let display = format!("{}.{}", plan.schema, plan.name);
    let actual = ferry_writer::inspect_table(client, &plan.schema, &plan.name)
        .await
        .with_context(|| format!("inspecting {display}"))?;
    let Some(actual) = actual else {
        return Ok((Action::Copy, Vec::new(), Vec::new(), None));
    };
    let (added, tighten) = follow_columns(plan, &actual.columns, allow_schema_changes, drift);
    let state = ferry_writer::read_sync_state(client, &plan.schema, &plan.name)
        .await
        .with_context(|| format!("reading the sync state of {display}"))?;
    let last_success = state.as_ref().map(|s| s.last_success_unix);
    let Some(state) = state else {
        let empty =
            ferry_writer::table_state(client, &plan.schema, &plan.name).await? == TableState::Empty;
        let action = if empty && added.is_empty() {
            Action::Copy
        } else {
            Action::Reconcile
        };
        return Ok((action, added, tighten, None));
    };
    let action = incremental_or_reconcile(plan, strategy, state, !added.is_empty(), unix_now());
    Ok((action, added, tighten, last_success))
}

/// The statements that add the source's new columns to the target table
/// under `allow_schema_changes`, and those that make them `NOT NULL` once
/// filled in; every other way the target's `actual` columns differ from
/// the plan is said in `drift`.
fn follow_columns(
    plan: &TablePlan,
    actual: &[TargetColumn],
    allow_schema_changes: bool,
    drift: &mut Vec<String>,
) -> (Vec<String>, Vec<String>) {
    let display = format!("{}.{}", plan.schema, plan.name);
    let mut added = Vec::new();
    let mut tighten = Vec::new();
    for column in &plan.columns {
        match actual.iter().find(|a| a.name == column.name) {
            None if allow_schema_changes => {
                added.push(ferry_writer::add_column_sql(plan, column));
                tighten.extend(ferry_writer::set_not_null_sql(plan, column));
            }
            None => drift.push(format!(
                "{display}: column {} ({}) was added in the source; rerun with \
                 --allow-schema-changes to add it in Postgres and fill it in",
                column.name, column.pg_type
            )),
            Some(a) => {
                let differs = match column.named_type {
                    Some(_) => !column.has_type(&a.pg_type),
                    None => a.pg_type.parse::<PgType>() != Ok(column.pg_type),
                };
                if differs {
                    drift.push(format!(
                        "{display}: column {} is {} in Postgres but the source now maps it to \
                         {}; change the column in Postgres (or its type in ferry.toml), then \
                         rerun",
                        column.name,
                        a.pg_type,
                        column.type_shown()
                    ));
                }
            }
        }
    }
    for a in actual {
        if !plan.columns.iter().any(|c| c.name == a.name) {
            drift.push(format!(
                "{display}: column {} was dropped or renamed in the source; drop or rename it in \
                 Postgres (or map it in ferry.toml), then rerun",
                a.name
            ));
        }
    }
    (added, tighten)
}

/// A table synced before, as of `now` (Unix seconds): only its changes
/// since its last run, unless its strategy or columns changed since
/// (`columns_added` by this run included) or it is due its full
/// comparison; then a reconciliation.
fn incremental_or_reconcile(
    plan: &TablePlan,
    strategy: &Strategy,
    state: SyncState,
    columns_added: bool,
    now: f64,
) -> Action {
    let columns: Vec<&str> = plan.columns.iter().map(|c| c.name.as_str()).collect();
    // Compared in full within `reconcile_every`: what the strategy missed
    // and what someone else changed in Postgres are repaired that often.
    let reconciled_lately = match (strategy.reconcile_every, state.reconciled_unix) {
        (None, _) => true,
        (Some(every), Some(at)) => now - at < every as f64,
        (Some(_), None) => false,
    };
    let same = state.mode == strategy.mode_name()
        && state.cursor_column.as_deref() == strategy.cursor_name()
        && state.columns == columns
        && !columns_added
        && reconciled_lately;
    if same {
        Action::Incremental(state)
    } else {
        Action::Reconcile
    }
}

/// Copies the tables that have nothing in the target yet with the copy
/// pipeline, reading the run's snapshot, then records their state. The
/// cursor watermarks come from that same snapshot, so nothing written
/// after it is skipped by the next run.
async fn first_copy(
    client: &mut tokio_postgres::Client,
    args: &SyncOptions,
    on_error: OnError,
    snapshot: &Path,
    identity: &str,
    copies: &[&Planned],
    progress: &Progress,
) -> Result<Vec<TableOutcome>> {
    let started = Instant::now();
    let started_unix = unix_now();
    let mut watermarks = Vec::new();
    for p in copies {
        let job = Arc::clone(&p.job);
        watermarks.push(
            tokio::task::spawn_blocking(move || job.max_cursor())
                .await
                .context("source pass panicked")??,
        );
    }
    let copy_args = CopyOptions {
        source: SourceOptions {
            source: snapshot.to_owned(),
            config: args.source.config.clone(),
            schema: args.source.schema.clone(),
            tables: copies.iter().map(|p| p.job.table.name.clone()).collect(),
            exclude: Vec::new(),
            identifiers: args.source.identifiers,
            partition: args.source.partition.clone(),
            types: args.source.types,
            geometry: args.source.geometry,
        },
        storage: StorageOptions {
            compression: args.storage.compression,
            unlogged: args.storage.unlogged,
        },
        target: args.target.clone(),
        jobs: args.jobs,
        if_exists: None,
        on_error: Some(on_error),
        allow_changed_source: false,
        snapshot: SnapshotMode::None,
        retries: 5,
        chunk_rows: 100_000,
    };
    let report = crate::copy::copy(&copy_args, progress.observer())
        .await
        .context("copying the tables not synced yet")?;
    let mut outcomes = Vec::new();
    for (p, cursor_max) in copies.iter().zip(watermarks) {
        let plan = &p.job.plan;
        let (copied, rejected) = report
            .tables
            .iter()
            .find(|t| t.table == p.job.table.name)
            .map_or((0, 0), |t| (t.rows_written, t.rejected));
        let watermark = match p.job.strategy.mode {
            Mode::Cursor { .. } => cursor_max,
            Mode::Append => {
                ferry_writer::max_key(client, &plan.schema, &plan.name, &plan.primary_key[0])
                    .await?
            }
            Mode::Full => None,
        };
        let text = watermark_text(&p.job, watermark);
        let record = SyncRecord {
            source_table: &p.job.table.name,
            source: identity,
            mode: p.job.strategy.mode_name(),
            cursor_column: p.job.strategy.cursor_name(),
            watermark,
            watermark_text: text.as_deref(),
            started_unix,
            copied,
            // The next run compares both sides in full, and stores them.
            digests: DigestsUpdate::Forget,
            reconciled: true,
        };
        let applied =
            ferry_writer::apply_changes(client, plan, ChangeSet::new(), &[], &record).await?;
        outcomes.push(TableOutcome {
            table: p.job.table.name.clone(),
            target: format!("{}.{}", plan.schema, plan.name),
            mode: p.job.strategy.mode_name().to_owned(),
            action: "copied".to_owned(),
            inserted: copied + applied.inserted,
            updated: 0,
            deleted: 0,
            unchanged: 0,
            rejected,
            seconds: started.elapsed().as_secs_f64(),
            watermark: text,
            success: true,
            error: None,
            notes: notes(&p.job),
            last_success_unix: Some(unix_now()),
        });
    }
    Ok(outcomes)
}

/// Adds the foreign keys of the tables this run copied that reference
/// tables it did not copy (a table added to the source, issue 13): the
/// copy saw only its own tables, so it could not. They are added after
/// the apply, so that parents' rows new in this run are there when the
/// keys are validated; a key the rows violate stays `NOT VALID` with a
/// note on its table, as in a copy.
async fn link_copied(
    client: &tokio_postgres::Client,
    planned: &[Planned],
    outcomes: &mut [TableOutcome],
    progress: &Progress,
) -> Result<()> {
    let copied: Vec<TablePlan> = planned
        .iter()
        .filter(|p| matches!(p.action, Action::Copy))
        .filter(|p| {
            outcomes
                .iter()
                .any(|o| o.table == p.job.table.name && o.success)
        })
        .map(|p| p.job.plan.clone())
        .collect();
    let mut warnings = Vec::new();
    crate::post_load::add_constraints(client, &copied, true, progress, &mut warnings)
        .await
        .context("adding the CHECK constraints and foreign keys of the tables copied")?;
    for warning in warnings {
        progress.warning(&warning);
        let table = copied.iter().find(|p| warning.starts_with(&p.name));
        if let Some(o) = table.and_then(|p| outcomes.iter_mut().find(|o| o.table == p.source_name))
        {
            o.notes.push(warning);
        }
    }
    Ok(())
}

/// Lists the rows each table's run left out under `--on-error
/// quarantine` in `ferry.rejects` (replacing what earlier syncs listed
/// for the table) and counts them in its outcome.
async fn record_rejects(
    client: &mut tokio_postgres::Client,
    planned: &[Planned],
    outcomes: &mut [TableOutcome],
) -> Result<()> {
    let run_id = format!("sync-{}-{}", unix_now() as u64, std::process::id());
    let mut ensured = false;
    for p in planned {
        let quarantine = p.job.take_quarantine();
        let Some(outcome) = outcomes
            .iter_mut()
            .find(|o| o.table == p.job.table.name && o.success)
        else {
            continue;
        };
        // A run that read every row lists the table's bad rows anew; an
        // incremental cursor or append run adds the ones it met.
        let replace = matches!(p.action, Action::Reconcile) || p.job.strategy.mode == Mode::Full;
        if quarantine.rejects.is_empty() {
            if matches!(p.action, Action::Copy) || !replace {
                continue;
            }
            if !ensured && !ferry_writer::trusted_rejects_table(client).await? {
                continue;
            }
        } else if !ensured {
            ferry_writer::ensure_rejects_table(client)
                .await
                .context("creating ferry.rejects")?;
        }
        ensured = true;
        ferry_writer::record_sync_rejects(
            client,
            &run_id,
            &p.job.plan,
            &quarantine.rejects,
            replace,
        )
        .await
        .with_context(|| format!("listing the rejected rows of {}", outcome.target))?;
        outcome.rejected = quarantine.row_count();
        if outcome.rejected > 0 {
            outcome.notes.push(format!(
                "{} left out for values that cannot become their column's type; listed in \
                 ferry.rejects",
                ferry_model::plural(outcome.rejected, "row", "rows")
            ));
        }
    }
    Ok(())
}

/// Sets `NOT NULL` on the columns added nullable this run, in the tables
/// whose changes (which filled those columns in) were applied; returns
/// the exit code. A failure marks the table failed; the column is left
/// nullable (`ferry verify --schema-only` shows it).
async fn tighten(
    client: &tokio_postgres::Client,
    planned: &[Planned],
    outcomes: &mut [TableOutcome],
    progress: &Progress,
) -> u8 {
    let mut code = exit::OK;
    for p in planned.iter().filter(|p| !p.tighten.is_empty()) {
        let Some(outcome) = outcomes
            .iter_mut()
            .find(|o| o.table == p.job.table.name && o.success)
        else {
            continue;
        };
        for sql in &p.tighten {
            if let Err(err) = client.batch_execute(sql).await {
                let message = format!(
                    "{}: {sql} failed: {err}; the column stays nullable: fix its NULLs in \
                     Postgres and run that statement by hand",
                    outcome.target
                );
                progress.error(&message);
                outcome.success = false;
                outcome.error = Some(message);
                code = exit::FAILURE;
            }
        }
    }
    code
}

/// What one table's run found: its changes and its new watermark.
struct Found {
    changes: ChangeSet,
    /// `reconciled` or `incremental`.
    action: &'static str,
    watermark: Option<i64>,
    digests: NewDigests,
}

/// What becomes of a table's stored source digests with its changes.
enum NewDigests {
    /// The source did not change: they still hold.
    Keep,
    /// The source's digests now, stored as bucketing name, parameter and
    /// bytes.
    Replace(&'static str, i64, Vec<u8>),
    /// Not synced by digests.
    Forget,
}

impl NewDigests {
    fn replace(digests: &BucketDigests) -> NewDigests {
        let (name, parameter) = digests.bucketing().to_parts();
        NewDigests::Replace(name, parameter, digests.to_bytes())
    }

    /// The update of `ferry.sync_digests` it asks for.
    fn update(&self) -> DigestsUpdate<'_> {
        match self {
            NewDigests::Keep => DigestsUpdate::Keep,
            NewDigests::Replace(bucketing, parameter, digests) => DigestsUpdate::Replace {
                bucketing,
                parameter: *parameter,
                digests,
            },
            NewDigests::Forget => DigestsUpdate::Forget,
        }
    }
}

/// The digests the table's last full-mode run stored, when they can serve
/// this run's comparison (see [`TableJob::fits`]).
async fn stored_digests(
    client: &tokio_postgres::Client,
    job: &Arc<TableJob>,
) -> Result<Option<BucketDigests>> {
    let plan = &job.plan;
    let stored = ferry_writer::read_sync_digests(client, &plan.schema, &plan.name)
        .await
        .with_context(|| {
            format!(
                "reading the stored digests of {}.{}",
                plan.schema, plan.name
            )
        })?;
    let Some(digests) = stored.and_then(|stored| {
        let bucketing = Bucketing::from_parts(&stored.bucketing, stored.parameter)?;
        BucketDigests::from_bytes(bucketing, &stored.digests)
    }) else {
        return Ok(None);
    };
    Ok(job.fits(&digests).then_some(digests))
}

/// Finds what changed in one table since its last run (everything, for a
/// reconciliation), reading both sides; applies nothing but the columns
/// the source gained.
async fn find_changes(client: &mut tokio_postgres::Client, p: &Planned) -> Result<Found> {
    let job = &p.job;
    let plan = &job.plan;
    let display = format!("{}.{}", plan.schema, plan.name);
    for sql in &p.added {
        // Its own statement, before the comparison reads the new column:
        // should the run stop right after, the sync state still lists the
        // old columns, so the next run reconciles again.
        client
            .batch_execute(sql)
            .await
            .with_context(|| format!("{display}: {sql}"))?;
    }
    let mut changes = ChangeSet::new();
    let mut digests = NewDigests::Forget;
    let (action, watermark) = match &p.action {
        Action::Copy => unreachable!("copies are run by first_copy"),
        Action::Reconcile => {
            let reconciled = job
                .reconcile(client, &mut changes, Baseline::Target)
                .await?;
            if job.strategy.mode == Mode::Full {
                digests = NewDigests::replace(&reconciled.digests);
            }
            let watermark = match job.strategy.mode {
                Mode::Cursor { .. } => reconciled.max_cursor,
                Mode::Append => {
                    let j = Arc::clone(job);
                    tokio::task::spawn_blocking(move || max_rowid(&j))
                        .await
                        .context("source pass panicked")??
                }
                Mode::Full => None,
            };
            ("reconciled", watermark)
        }
        Action::Incremental(_) if job.strategy.mode == Mode::Full => {
            let stored = stored_digests(client, job).await?;
            let had_stored = stored.is_some();
            let baseline = stored.map_or(Baseline::Target, Baseline::Stored);
            let reconciled = job.reconcile(client, &mut changes, baseline).await?;
            digests = if !changes::well_sized(&reconciled.digests) {
                NewDigests::Forget
            } else if had_stored && reconciled.same {
                NewDigests::Keep
            } else {
                NewDigests::replace(&reconciled.digests)
            };
            ("incremental", None)
        }
        Action::Incremental(state) => {
            let source_pass = match &job.strategy.mode {
                Mode::Cursor {
                    column,
                    lag_seconds,
                    ..
                } => {
                    let lag = cursor::lag_units(&plan.columns[*column], *lag_seconds);
                    let threshold = job
                        .present_watermark(state.watermark)
                        .map(|w| w.saturating_sub(lag));
                    let j = Arc::clone(job);
                    tokio::task::spawn_blocking(move || {
                        let mut seen = HashSet::new();
                        let mut c = ChangeSet::new();
                        let (_, max) = j.cursor_pass(threshold, &mut c, &mut seen)?;
                        Ok::<_, anyhow::Error>((c, seen, max))
                    })
                }
                _ => {
                    let after = ferry_writer::max_key(
                        client,
                        &plan.schema,
                        &plan.name,
                        &plan.primary_key[0],
                    )
                    .await?;
                    let j = Arc::clone(job);
                    tokio::task::spawn_blocking(move || {
                        let mut seen = HashSet::new();
                        let mut c = ChangeSet::new();
                        let (_, max) = j.append_pass(after, &mut c, &mut seen)?;
                        Ok::<_, anyhow::Error>((c, seen, max))
                    })
                }
            };
            // The key comparison for deletes runs while the source pass
            // reads the changed rows.
            let compare = async {
                match job.strategy.deletes {
                    Deletes::Detect => job.compare_keys(client).await,
                    Deletes::Ignore => Ok(None),
                }
            };
            let (pass, mismatch) = tokio::join!(source_pass, compare);
            let (c, seen, max) = pass.context("source pass panicked")??;
            changes = c;
            if let Some(mismatch) = mismatch? {
                job.detect_deletes(client, mismatch, &mut changes, seen)
                    .await?;
            }
            let watermark = match job.strategy.mode {
                Mode::Cursor { .. } => job.present_watermark(state.watermark).max(max),
                _ => max,
            };
            ("incremental", watermark)
        }
    };
    Ok(Found {
        changes,
        action,
        watermark,
        digests,
    })
}

/// The largest rowid of the source table.
fn max_rowid(job: &TableJob) -> Result<Option<i64>> {
    let db = ferry_reader::SourceDb::open_as(&job.source_path, &job.shown)?;
    Ok(db
        .chunk_ranges(&job.table, u64::MAX)?
        .last()
        .and_then(|range| match range {
            ferry_model::ChunkRange::Rowid { end, .. } => Some(*end),
            ferry_model::ChunkRange::Whole => None,
        }))
}

fn watermark_text(job: &TableJob, watermark: Option<i64>) -> Option<String> {
    let watermark = watermark?;
    Some(match job.strategy.mode {
        Mode::Cursor { column, .. } => ferry_verifier::render_value(
            &cursor::value_of(&job.plan.columns[column], watermark),
            64,
        ),
        _ => watermark.to_string(),
    })
}

fn failed(p: &Planned, error: &str, seconds: f64) -> TableOutcome {
    let plan = &p.job.plan;
    TableOutcome {
        table: p.job.table.name.clone(),
        target: format!("{}.{}", plan.schema, plan.name),
        mode: p.job.strategy.mode_name().to_owned(),
        action: match p.action {
            Action::Copy => "copy",
            Action::Reconcile => "reconcile",
            Action::Incremental(_) => "incremental",
        }
        .to_owned(),
        inserted: 0,
        updated: 0,
        deleted: 0,
        unchanged: 0,
        rejected: 0,
        seconds,
        watermark: None,
        success: false,
        error: Some(error.to_owned()),
        notes: blind_note(&p.job.strategy).into_iter().collect(),
        last_success_unix: p.last_success_unix,
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The source file of a sync as the lock and the state name it: its
/// canonical path, so `./app.db` and `/srv/app.db` are one source.
fn identity_of(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

#[cfg(test)]
mod tests {
    use ferry_model::ColumnPlan;

    use super::*;
    use crate::sync::changes::tests::{date_cursor, job, SOURCE};
    use crate::testing::TestSource;

    fn planned(job: TableJob, action: Action) -> Planned {
        Planned {
            job: Arc::new(job),
            action,
            added: Vec::new(),
            tighten: Vec::new(),
            last_success_unix: Some(1.5),
        }
    }

    /// The target as the last run left it: `plan`'s columns, under
    /// `strategy`, compared in full at `reconciled_unix`.
    fn state(plan: &TablePlan, strategy: &Strategy, reconciled_unix: Option<f64>) -> SyncState {
        SyncState {
            source_table: plan.source_name.clone(),
            source: "/data/app.db".to_owned(),
            mode: strategy.mode_name().to_owned(),
            cursor_column: strategy.cursor_name().map(str::to_owned),
            watermark: None,
            watermark_text: None,
            columns: plan.columns.iter().map(|c| c.name.clone()).collect(),
            last_success_unix: 0.0,
            reconciled_unix,
        }
    }

    fn target(columns: &[ColumnPlan]) -> Vec<TargetColumn> {
        columns
            .iter()
            .map(|c| TargetColumn {
                name: c.name.clone(),
                pg_type: c.pg_type.to_string(),
                not_null: c.not_null,
            })
            .collect()
    }

    #[test]
    fn new_columns_are_added_only_when_allowed_and_other_drift_stops() {
        let source = TestSource::new(
            "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, added INTEGER NOT NULL DEFAULT 0);",
        );
        let plan = source.table("t").plan;
        let (added_column, kept) = (&plan.columns[2], &plan.columns[..2]);
        let mut drift = Vec::new();
        let (added, tighten) = follow_columns(&plan, &target(kept), true, &mut drift);
        assert_eq!(added, [ferry_writer::add_column_sql(&plan, added_column)]);
        assert_eq!(
            tighten,
            ferry_writer::set_not_null_sql(&plan, added_column)
                .into_iter()
                .collect::<Vec<_>>()
        );
        assert!(drift.is_empty());
        let (same, _) = follow_columns(&plan, &target(&plan.columns), false, &mut drift);
        assert!(same.is_empty() && drift.is_empty());

        let (added, tighten) = follow_columns(&plan, &target(kept), false, &mut drift);
        assert!(added.is_empty() && tighten.is_empty());
        assert_eq!(
            drift,
            [
                "public.t: column added (bigint) was added in the source; rerun with \
              --allow-schema-changes to add it in Postgres and fill it in"
            ]
        );

        let mut actual = target(&plan.columns);
        actual[1].pg_type = "integer".to_owned();
        actual.push(TargetColumn {
            name: "gone".to_owned(),
            pg_type: "text".to_owned(),
            not_null: false,
        });
        let mut drift = Vec::new();
        // Allowing schema changes adds columns, never changes or drops one.
        follow_columns(&plan, &actual, true, &mut drift);
        assert_eq!(drift.len(), 2, "{drift:?}");
        assert!(drift[0].starts_with(
            "public.t: column name is integer in Postgres but the source now maps it to text"
        ));
        assert!(drift[1].starts_with("public.t: column gone was dropped or renamed"));
    }

    #[test]
    fn a_table_runs_incrementally_until_its_sync_changes_or_is_due() {
        let source = TestSource::new(SOURCE);
        let plan = source.table("t").plan;
        let full = job(&source, "t", None, OnError::Abort).strategy;
        let day = 86_400.0;
        let now = 10.0 * day;
        let decide = |state, added| incremental_or_reconcile(&plan, &full, state, added, now);
        let incremental = |action| matches!(action, Action::Incremental(_));

        assert!(incremental(decide(
            state(&plan, &full, Some(now - 10.0)),
            false
        )));
        assert!(!incremental(decide(
            state(&plan, &full, Some(now - 10.0)),
            true
        )));
        // Due its daily full comparison, or never compared in full.
        assert!(!incremental(decide(
            state(&plan, &full, Some(now - day)),
            false
        )));
        assert!(!incremental(decide(state(&plan, &full, None), false)));
        let mut renamed = state(&plan, &full, Some(now));
        renamed.columns[1] = "name".to_owned();
        assert!(!incremental(decide(renamed, false)));

        let cursor = job(
            &source,
            "t",
            Some("mode = 'cursor'\ncursor = 'd'\nreconcile_every = 'never'"),
            OnError::Abort,
        )
        .strategy;
        // The mode or the cursor changed since the last run.
        assert!(!incremental(decide(
            state(&plan, &cursor, Some(now)),
            false
        )));
        let never = |state| incremental_or_reconcile(&plan, &cursor, state, false, now);
        assert!(incremental(never(state(&plan, &cursor, None))));
        let mut moved = state(&plan, &cursor, None);
        moved.cursor_column = Some("n".to_owned());
        assert!(!incremental(never(moved)));
    }

    #[test]
    fn outcomes_follow_the_source_order_and_say_what_failed() {
        let source = TestSource::new(SOURCE);
        let appended = job(&source, "t", Some("mode = 'append'"), OnError::Abort);
        let tables = [
            planned(appended, Action::Reconcile),
            planned(job(&source, "u", None, OnError::Abort), Action::Copy),
        ];
        let t = failed(&tables[0], "t: boom", 2.0);
        assert_eq!(
            (t.target.as_str(), t.mode.as_str(), t.action.as_str()),
            ("public.t", "append", "reconcile")
        );
        assert_eq!(
            (
                t.success,
                t.error.as_deref(),
                t.seconds,
                t.last_success_unix
            ),
            (false, Some("t: boom"), 2.0, Some(1.5))
        );
        assert_eq!(
            t.notes,
            [
                "misses updates and deletes (repaired by the full comparison every 1d): run \
                 ferry sync --check now and then to find the drift, or use mode = \"full\""
            ]
        );
        let u = failed(&tables[1], "u: boom", 0.0);
        assert_eq!((u.action.as_str(), u.notes.len()), ("copy", 0));

        let mut other = failed(&tables[0], "", 0.0);
        other.table = "not planned".to_owned();
        let mut outcomes = vec![other, u, t];
        in_source_order(&mut outcomes, &tables);
        let order: Vec<&str> = outcomes.iter().map(|o| o.table.as_str()).collect();
        assert_eq!(order, ["t", "u", "not planned"]);
    }

    #[test]
    fn watermarks_read_in_the_cursors_type() {
        let source = TestSource::new(SOURCE);
        let cursor = date_cursor(&source);
        assert_eq!(
            watermark_text(&cursor, Some(0)).as_deref(),
            Some("2000-01-01")
        );
        assert_eq!(watermark_text(&cursor, None), None);
        let append = job(&source, "t", Some("mode = 'append'"), OnError::Abort);
        assert_eq!(watermark_text(&append, Some(42)).as_deref(), Some("42"));
    }

    #[test]
    fn plans_list_each_tables_strategy() {
        let source = TestSource::new(SOURCE);
        let comments = plan_comments(&source.prepared).unwrap();
        assert_eq!(
            comments,
            "\n-- ferry sync strategies ([tables.NAME.sync] in ferry.toml)\n\
             -- t: full (default)\n-- u: full (default)\n-- k: full (default)\n"
        );
    }

    #[test]
    fn digests_are_kept_replaced_or_forgotten() {
        assert_eq!(NewDigests::Keep.update(), DigestsUpdate::Keep);
        assert_eq!(NewDigests::Forget.update(), DigestsUpdate::Forget);
        let mut digests = BucketDigests::new(Bucketing::Hash { count: 2 });
        digests.add_key(1, b"key");
        let replace = NewDigests::replace(&digests);
        assert_eq!(
            replace.update(),
            DigestsUpdate::Replace {
                bucketing: "hash",
                parameter: 2,
                digests: &digests.to_bytes()
            }
        );
    }

    #[test]
    fn a_locked_run_says_who_holds_the_lock_and_what_to_do() {
        let locked = Locked {
            source: "/data/app.db".to_owned(),
            schema: "public".to_owned(),
            pid: Some(4242),
            waited: None,
        };
        assert_eq!(
            locked.to_string(),
            "another ferry sync of /data/app.db into public is running (pid 4242 on the \
             server); this run did nothing: the next one catches up, or pass --wait SECONDS \
             to wait for it"
        );
        let waited = Locked {
            pid: None,
            waited: Some(30),
            ..locked
        };
        assert_eq!(
            waited.to_string(),
            "another ferry sync of /data/app.db into public is running; still running after \
             waiting 30s"
        );
    }

    #[test]
    fn only_a_busy_source_is_read_again() {
        let busy = ferry_reader::ReadError::Busy {
            path: "/data/app.db".into(),
            source: rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                None,
            ),
        };
        assert!(is_busy(
            &anyhow::Error::new(busy).context("reading table t")
        ));
        let missing = ferry_reader::ReadError::NotFound {
            path: "/data/app.db".into(),
        };
        assert!(!is_busy(&missing.into()));
    }
}
