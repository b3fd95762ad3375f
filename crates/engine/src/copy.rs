//! `ferry copy`: set the copy up (fresh, resumed or joined), run the
//! parallel load (which builds each table's keys and indexes as soon as
//! its last chunk commits), and let one process add the foreign keys once
//! every table is built.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use tracing::Instrument;

use crate::events::{Observer, Phase, Progress};
use crate::exit::UsageError;
use crate::left_behind::{LeftBehind, TableState};
use crate::lock_watch::LockWatch;
use crate::options::{CopyOptions, OnError, SnapshotMode};
use crate::pipeline::{self, Load, TableLoad};
use crate::prepare::{prepare_typed, Prepared};
use crate::report::{rate, CopyReport, TableReport};
use crate::retry::RetryPolicy;
use crate::setup::{self, copy_id};
use crate::snapshot::{moved_on, SourceSnapshot};
use crate::stop::Stop;

/// Copies the source's tables into the target; `observer` hears of
/// tables starting, rows committed and each phase.
pub async fn copy(args: &CopyOptions, observer: Arc<dyn Observer>) -> Result<CopyReport> {
    let span = tracing::info_span!("copy", source = %args.source.source.display());
    copy_traced(args, observer).instrument(span).await
}

async fn copy_traced(args: &CopyOptions, observer: Arc<dyn Observer>) -> Result<CopyReport> {
    let started = Instant::now();
    if args.jobs == 0 || args.chunk_rows == 0 {
        return Err(UsageError::new("--jobs and --chunk-rows must be at least 1").into());
    }
    // A file read in place that a writer changes mid-copy is loaded again
    // from a backup, after undoing what was loaded. A copy that appends
    // to rows it did not write cannot undo, and reads a backup of a
    // rollback-journal file from the start; one that resumes stops, its
    // committed chunks all of the state the copy started from.
    let append = args.if_exists == Some(crate::options::IfExists::Append);
    let may_restart = !append && args.if_exists != Some(crate::options::IfExists::Resume);
    // The planning connection, one per reader thread, and one per thread
    // of the stored-type scans.
    let connections = args.jobs.max(rayon::current_num_threads()) + 1;
    let progress = Arc::new(Progress::new(observer));
    let source = &args.source.source;
    let snapshot = crate::snapshot::show(args.snapshot, &progress, || {
        crate::snapshot::take_for_copy(source, args.snapshot, connections, !append)
    })
    .await?;
    let in_place = snapshot.in_place();
    match copy_from(args, &progress, snapshot, started).await {
        Err(err) if may_restart && moved_on(&err, in_place) => {
            tracing::info!("{err:#}; copying it again from a backup");
            progress.step(
                "the source changed while it was read in place; copying it again from a backup",
            );
            let snapshot =
                crate::snapshot::take_shown(source, SnapshotMode::Backup, &progress).await?;
            let mut report = copy_from(args, &progress, snapshot, started).await?;
            report.warnings.push(format!(
                "another process wrote to {} while ferry read it in place; what had been \
                 loaded was undone and the copy read a backup of the file instead",
                source.display()
            ));
            Ok(report)
        }
        outcome => outcome,
    }
}

/// One attempt at the copy, reading `snapshot`.
async fn copy_from(
    args: &CopyOptions,
    progress: &Arc<Progress>,
    snapshot: SourceSnapshot,
    started: Instant,
) -> Result<CopyReport> {
    let snapshot = Arc::new(snapshot);
    let phase = phase_done("snapshot", "source snapshot taken", started);
    let target_types = crate::override_types::resolve_for(&args.source, &args.target).await?;
    let Prepared {
        source,
        tables: mut planned,
        skipped,
        config,
        ..
    } = prepare_typed(&args.source, snapshot.connections(), &target_types)?;
    crate::partitioning::add_leaves(&source, &mut planned)?;
    let on_error = args.on_error.or(config.on_error).unwrap_or(OnError::Abort);
    let mut warnings: Vec<String> = planned
        .iter()
        .flat_map(|t| {
            t.plan
                .warnings
                .iter()
                .map(move |w| format!("{}: {w}", t.plan.name))
        })
        .collect();
    let mut tables = Vec::with_capacity(planned.len());
    for table in planned {
        let rows = source.row_count(&table.source)?;
        tables.push(TableLoad::new(table, rows));
    }
    let tables = Arc::new(tables);
    let phase = phase_done("plan", "schema read, tables planned and counted", phase);

    let mut client = RetryPolicy::new(args.retries)
        .connect(&args.target, progress)
        .await
        .context("connecting to the target")?;
    let lock_watch = LockWatch::start(&args.target, (**progress).clone());
    lock_watch.add(&client).await;
    if args.storage.unlogged && tables.iter().any(|t| t.plan.partition.is_some()) {
        return Err(UsageError::new(
            "--unlogged cannot create partitioned tables (Postgres has no unlogged partitioned \
             tables); drop --unlogged or the partitioning",
        )
        .into());
    }
    crate::postgis::require_postgis(&client, tables.iter().map(|t| &t.plan)).await?;
    crate::override_types::check(&client, &config).await?;
    let (storage, storage_warning) =
        crate::storage::for_target(&client, &args.storage, &config).await?;
    warnings.extend(storage_warning);
    let copy_id = copy_id(&tables);
    let mut session = setup::Session::open(
        &args.target,
        &copy_id,
        args.if_exists == Some(crate::options::IfExists::Resume),
    )
    .await?;
    // Setup reads the source (to fingerprint it, to plan the chunks) after
    // creating tables: a file read in place is held still meanwhile, so a
    // writer's lock cannot fail the setup halfway. Writers of a rollback
    // journal wait that long; readers of a WAL file never hold them up.
    let held = if snapshot.in_place() {
        Some(source.hold_read_lock().context("reading the source")?)
    } else {
        None
    };
    let setup = progress
        .phase(Phase::Setup, None, async {
            let setup = setup::start(
                &mut client,
                args,
                &tables,
                &source,
                &setup::Choices { on_error, storage },
            )
            .await?;
            let created = setup.created.iter().filter(|c| **c).count();
            let outcome = format!(
                "{created} of {} created",
                ferry_model::plural(setup.created.len(), "table", "tables")
            );
            Ok((setup, outcome))
        })
        .await?;
    if let Some(held) = held {
        held.release().context("reading the source")?;
    }
    warnings.extend(setup.notes.iter().cloned());
    let phase = phase_done("setup", "target checked, tables and ledger set up", phase);

    let outcome: Result<CopyReport> = async {
        let stop = Arc::new(Stop::default());
        progress.load_started(
            &tables
                .iter()
                .map(|t| (t.plan.name.clone(), t.expected_rows))
                .collect::<Vec<_>>(),
        );
        if setup.finished {
            warnings.push("this copy had already finished; nothing was done".to_owned());
            let finished = report(&tables, 0.0, started, &skipped, warnings);
            return Ok(CopyReport {
                status: "already done",
                source_read: snapshot.kind(),
                ..finished
            });
        }

        let mut clients = vec![client];
        for _ in 1..args.jobs {
            let client = ferry_writer::connect(&args.target)
                .await
                .context("opening another connection to the target")?;
            lock_watch.add(&client).await;
            clients.push(client);
        }
        let signals = tokio::spawn(interrupt_on_signal(Arc::clone(&stop)));
        let load = Load {
            snapshot: Arc::clone(&snapshot),
            source_shown: &args.source.source,
            tables: Arc::clone(&tables),
            on_error,
            run_id: run_id(),
            copy_id: copy_id.clone(),
            created: setup.created.clone(),
            resumed: setup.resumed,
            target: args.target.clone(),
            retry: RetryPolicy::new(args.retries),
            stop: Arc::clone(&stop),
            progress: Arc::clone(progress),
        };
        let mut clients = pipeline::run(&load, clients)
            .await
            .inspect_err(|_| progress.finish())?;
        // Chunks still pending are being copied by other processes, or are
        // still locked by the session of a process that died: wait, and claim
        // them as soon as they are free, until every chunk has committed.
        let mut waited = false;
        loop {
            let pending = ferry_writer::pending_chunks(&clients[0], &copy_id).await?;
            if pending == 0 {
                break;
            }
            if !waited {
                progress.step(&format!(
                    "waiting for {} that other sessions are copying",
                    ferry_model::plural(pending, "chunk", "chunks")
                ));
                waited = true;
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            clients = pipeline::run(&load, clients)
                .await
                .inspect_err(|_| progress.finish())?;
        }
        // Every chunk was checked as it was read; this covers a copy with
        // no chunk left to read.
        snapshot.check_current(&args.source.source)?;
        let load_seconds = started.elapsed().as_secs_f64();
        progress.finish();
        let phase = phase_done("load", "every chunk committed", phase);

        // Every chunk has committed; exactly one process wins the right to
        // finish: the tables' keys all built, then the foreign keys.
        let finisher = ferry_writer::advance_copy(&clients[0], &copy_id, "loading", "indexing")
            .await?
            || setup.was_indexing;
        if finisher {
            check_counts(&clients[0], &copy_id, &tables, &mut warnings).await?;
            let plans = tables.iter().map(|t| &t.plan);
            warnings.extend(crate::partman::after_load(&clients[0], plans).await?);
            // Tables other sessions still build, or whose builder died
            // mid-statement: wait, and build any whose claim frees up.
            let mut waited = false;
            let recorded = loop {
                let (pending, recorded) =
                    ferry_writer::pending_builds(&clients[0], &copy_id).await?;
                if pending == 0 {
                    break recorded;
                }
                if !waited {
                    progress.step(&format!(
                        "waiting for the keys and indexes of {} that other sessions are building",
                        ferry_model::plural(pending, "table", "tables")
                    ));
                    waited = true;
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                clients = pipeline::run(&load, clients).await?;
            };
            crate::post_load::take_over(&mut session, &clients, &mut warnings).await?;
            let how = crate::post_load::Steps {
                resumed: setup.resumed,
                stop: &stop,
                progress,
            };
            // A copy stopped in this phase may have lost anything built
            // since (a key dropped by hand, an orphan's index); one an
            // older ferry recorded built nothing yet.
            if setup.was_indexing || !recorded {
                crate::post_load::build(&clients, &tables, &setup.created, &how).await?;
            }
            let created_plans = tables
                .iter()
                .zip(&setup.created)
                .filter(|(_, created)| **created)
                .map(|(t, _)| &t.plan);
            crate::post_load::add_constraints(
                &clients[0],
                created_plans,
                setup.resumed,
                progress,
                &mut warnings,
            )
            .await?;
            ferry_writer::advance_copy(&clients[0], &copy_id, "indexing", "done").await?;
            phase_done("indexing", "keys, indexes and constraints built", phase);
        }
        phase_done("copy", "copy finished", started);
        signals.abort();
        drop(session);
        Ok(CopyReport {
            source_read: snapshot.kind(),
            ..report(&tables, load_seconds, started, &skipped, warnings)
        })
    }
    .await;
    match outcome {
        // A resume cannot undo what earlier runs loaded: it stops, like
        // any failed copy, and says what it leaves.
        Err(err)
            if moved_on(&err, snapshot.in_place())
                && args.if_exists != Some(crate::options::IfExists::Resume) =>
        {
            undo(args, &tables, &setup.created).await.map_err(|undo| {
                undo.context(format!(
                    "{err}, and undoing what the copy had loaded failed: the target may hold \
                     rows of two states of it; rerun with --if-exists truncate"
                ))
            })?;
            Err(err)
        }
        Err(err) if !err.chain().any(|c| c.is::<crate::exit::Interrupted>()) => {
            let resumable = crate::exit::exit_code(&err) == crate::exit::FAILURE;
            let stopped = Stopped {
                tables: &tables,
                created: &setup.created,
                copy_id: &copy_id,
                resumable,
            };
            let note = left_behind(args, stopped).await;
            Err(match note {
                Some(note) => err.context(note),
                None => err,
            })
        }
        outcome => outcome,
    }
}

/// Puts the target back as the copy found it, after a writer changed a
/// file read in place: drops the tables the copy created and empties the
/// others (they were empty, or emptied by `--if-exists truncate`), in one
/// transaction, so the copy can start over.
async fn undo(args: &CopyOptions, tables: &[TableLoad], created: &[bool]) -> Result<()> {
    let mut client = ferry_writer::connect(&args.target)
        .await
        .context("connecting to the target to undo the copy")?;
    let name = |t: &TableLoad| ferry_model::quote_qualified(&t.plan.schema, &t.plan.name);
    let list = |want: bool| -> Vec<String> {
        tables
            .iter()
            .zip(created)
            .filter(|(_, c)| **c == want)
            .map(|(t, _)| name(t))
            .collect()
    };
    let (drop, empty) = (list(true), list(false));
    let transaction = client.transaction().await?;
    if !drop.is_empty() {
        let sql = format!("DROP TABLE IF EXISTS {}", drop.join(", "));
        transaction.batch_execute(&sql).await.context(sql)?;
    }
    if !empty.is_empty() {
        let sql = format!("TRUNCATE {}", empty.join(", "));
        transaction.batch_execute(&sql).await.context(sql)?;
    }
    transaction.commit().await.context("undoing the copy")?;
    Ok(())
}

/// A copy that stopped with an error, as far as the target goes.
struct Stopped<'a> {
    tables: &'a [TableLoad],
    created: &'a [bool],
    copy_id: &'a str,
    resumable: bool,
}

/// What the stopped copy leaves in the target, read from the ledger on a
/// connection of its own (the copy's may be what failed).
async fn left_behind(args: &CopyOptions, stopped: Stopped<'_>) -> Option<LeftBehind> {
    let Stopped {
        tables,
        created,
        copy_id,
        resumable,
    } = stopped;
    let committed = match ferry_writer::connect(&args.target).await {
        Ok(client) => ferry_writer::committed_rows(&client, copy_id).await.ok(),
        Err(_) => None,
    };
    let tables: Vec<TableState> = tables
        .iter()
        .zip(created)
        .map(|(table, created)| TableState {
            schema: table.plan.schema.clone(),
            name: table.plan.name.clone(),
            created: *created,
            committed: committed.as_ref().map(|rows| {
                rows.iter()
                    .find(|(name, ..)| *name == table.plan.name)
                    .map_or(0, |(_, _, written, _)| *written)
            }),
            expected: table.expected_rows,
        })
        .collect();
    LeftBehind::new(tables, resumable, &args.target)
}

/// Rows read by every committed chunk of the copy, whichever process
/// committed it, must be the rows the source held.
async fn check_counts(
    client: &tokio_postgres::Client,
    copy_id: &str,
    tables: &[TableLoad],
    warnings: &mut Vec<String>,
) -> Result<()> {
    let committed = ferry_writer::committed_rows(client, copy_id).await?;
    for table in tables {
        let expected = table.expected_rows;
        let (read, written, rejected) = committed
            .iter()
            .find(|(name, ..)| *name == table.plan.name)
            .map_or((0, 0, 0), |(_, r, w, j)| (*r, *w, *j));
        if read != written + rejected {
            anyhow::bail!(
                "{}: {} read but {written} written and {rejected} rejected; the target is \
                 incomplete, rerun with --if-exists truncate",
                table.source.name,
                ferry_model::plural(read, "row", "rows")
            );
        }
        if read != expected {
            warnings.push(format!(
                "{}: the source holds {} but the copy read {read}; it changed during the \
                 copy, rerun when no one writes to it",
                table.source.name,
                ferry_model::plural(expected, "row", "rows")
            ));
        }
    }
    Ok(())
}

/// This process's figures.
fn report(
    tables: &[TableLoad],
    load_seconds: f64,
    started: Instant,
    skipped: &[ferry_model::SkippedObject],
    warnings: Vec<String>,
) -> CopyReport {
    let reports = tables
        .iter()
        .map(|t| {
            let s = &t.stats;
            let rows_read = s.rows_read.load(Relaxed);
            let seconds = s.seconds();
            TableReport {
                table: t.source.name.clone(),
                target: format!("{}.{}", t.plan.schema, t.plan.name),
                rows_read,
                rows_written: s.rows_written.load(Relaxed),
                rejected: s.rejected.load(Relaxed),
                bytes: s.bytes.load(Relaxed),
                seconds,
                rows_per_second: rate(rows_read, seconds),
            }
        })
        .collect();
    CopyReport::new(
        reports,
        load_seconds,
        started.elapsed().as_secs_f64(),
        skipped.to_vec(),
        warnings,
    )
}

/// Logs the end of one phase of the copy with its duration (seen with
/// `-v`), and returns when the next phase starts.
fn phase_done(phase: &'static str, what: &str, since: Instant) -> Instant {
    let now = Instant::now();
    tracing::info!(phase, seconds = (now - since).as_secs_f64(), "{what}");
    now
}

/// SIGINT or SIGTERM: stop handing out chunks; in-flight ones roll back.
pub async fn interrupt_on_signal(stop: Arc<Stop>) {
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
