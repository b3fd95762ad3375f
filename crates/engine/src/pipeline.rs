//! The parallel load: `jobs` pairs of a writer task and a reader thread.
//!
//! Each writer task owns a Postgres connection. It claims the next pending
//! chunk from the ledger inside a new transaction, hands the chunk to its
//! reader thread with a fresh bounded channel, streams what comes back into
//! COPY, and commits the rows and the ledger entry together. Each reader
//! thread owns a read-only SQLite connection; it coerces every value and
//! encodes rows straight into binary COPY buffers. Bounded channels keep
//! memory bounded whatever the database size.
//!
//! A reader waits for its next chunk in a crossbeam `select!` over its
//! task channel and the run's [`Stop`], so the first failure or a signal
//! wakes every idle reader at once. The rows travel back on a bounded tokio
//! channel instead: the writer is an async task, which must await its
//! rows without tying up a runtime thread, and a crossbeam channel cannot
//! be awaited.
//!
//! A writer free for work first looks for a table whose chunks have all
//! committed and whose keys and indexes nobody builds yet, and builds them
//! ([`crate::post_load::build_table`]); only then does it claim a chunk.
//! So a finished table's keys are built on the first free connection while
//! other tables still load, and the run never uses more connections than
//! `--jobs`.
//!
//! When a connection drops or the server restarts, the chunk in flight
//! rolls back (its ledger row stays pending), the writer reconnects with
//! backoff and claims again; the reader abandons the chunk as soon as its
//! channel closes.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use bytes::Bytes;
use crossbeam_channel::{select, Receiver, Sender, TrySendError};
use ferry_model::{ChunkRange, ColumnPlan, Reject, SourceValueRef, TablePlan, TableSchema};
use ferry_reader::{ReadOrRow, SourceDb};
use ferry_writer::{ChunkCopy, ClaimedChunk, CopyEncoder, WriteError};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::events::{ChunkStats, Progress};
use crate::exit::{BadValue, RefusedValue};
use crate::options::OnError;
use crate::prepare::PlannedTable;
use crate::retry::{is_transient, RetryPolicy};
use crate::row_key::KeyColumns;
use crate::snapshot::SourceSnapshot;
use crate::stop::Stop;

/// Encoded bytes a reader gathers before handing them to its writer.
const FLUSH_BYTES: usize = 1 << 20;
/// Room past FLUSH_BYTES for the row that crosses it, so that a buffer is
/// allocated once at its full size instead of grown (and copied) from small.
const ROW_SLACK: usize = 64 << 10;
/// Buffers in flight per reader/writer pair: with FLUSH_BYTES, the memory a
/// pair can hold is about this many MiB.
const CHANNEL_BUFFERS: usize = 4;

/// One table being loaded: its source, its plan, the rows it holds, and
/// counters.
pub struct TableLoad {
    pub source: TableSchema,
    pub plan: TablePlan,
    /// Rows the source held when the copy started.
    pub expected_rows: u64,
    pub stats: TableStats,
    key: KeyColumns,
}

impl TableLoad {
    pub fn new(table: PlannedTable, expected_rows: u64) -> TableLoad {
        let PlannedTable { source, plan } = table;
        TableLoad {
            key: KeyColumns::of(&source),
            source,
            plan,
            expected_rows,
            stats: TableStats::default(),
        }
    }
}

/// Counters a table's chunks add to as they commit.
#[derive(Default)]
pub struct TableStats {
    pub rows_read: AtomicU64,
    pub rows_written: AtomicU64,
    pub rejected: AtomicU64,
    pub bytes: AtomicU64,
    pub busy: Mutex<Option<(Instant, Instant)>>,
}

impl TableStats {
    fn record(&self, chunk: &ChunkDone, started: Instant) {
        self.rows_read.fetch_add(chunk.rows_read, Ordering::Relaxed);
        self.rows_written
            .fetch_add(chunk.rows_written, Ordering::Relaxed);
        self.rejected
            .fetch_add(chunk.rejected_rows, Ordering::Relaxed);
        self.bytes.fetch_add(chunk.bytes, Ordering::Relaxed);
        let mut busy = self.busy.lock().expect("stats lock poisoned");
        let now = Instant::now();
        *busy = Some(match *busy {
            Some((first, _)) => (first.min(started), now),
            None => (started, now),
        });
    }

    /// Seconds from the first chunk's start to the last chunk's commit.
    pub fn seconds(&self) -> f64 {
        let busy = self.busy.lock().expect("stats lock poisoned");
        busy.map_or(0.0, |(first, last)| (last - first).as_secs_f64())
    }
}

/// A piece of work: one chunk of one table.
#[derive(Clone, Copy)]
pub struct ChunkTask {
    pub table: usize,
    pub range: ChunkRange,
    /// Send each row on its own, with its key and values (see
    /// [`Message::Row`]), because the server refused one of the chunk's.
    pub one_by_one: bool,
}

/// What a reader tells its writer about the chunk it is reading.
enum Message {
    /// Encoded rows.
    Data(Bytes),
    /// One encoded row, when reading [`ChunkTask::one_by_one`].
    Row(RowData),
    End(ChunkDone, Vec<Reject>),
}

/// A row read one by one: enough to COPY it alone and, if the server
/// refuses it, to name or quarantine it.
struct RowData {
    data: Bytes,
    key: ferry_model::RowKey,
    values: Vec<ferry_model::SourceValue>,
}

/// Rows COPYed together while looking for the rows the server refuses; a
/// refused batch is halved until the row is found.
const ISOLATION_BATCH_ROWS: usize = 1000;

/// Server refusals one chunk may quarantine before the copy stops: past
/// this the cause is rarely one bad value per row (a whole column of the
/// wrong type, rows already in the target) and finding each would take a
/// COPY per row.
const MAX_REFUSED_PER_CHUNK: usize = 1000;

/// A chunk handed to a reader, with the channel for its rows.
type ReadTask = (ChunkTask, mpsc::Sender<Message>);

/// Tasks waiting for a reader: one at most, since a writer waits for each
/// chunk's end before handing over the next.
const TASKS_IN_FLIGHT: usize = 1;

struct ChunkDone {
    rows_read: u64,
    rows_written: u64,
    rejected_rows: u64,
    bytes: u64,
}

/// Everything a run needs that does not change while it runs.
pub struct Load<'a> {
    /// The state of the source to read, and its readers' connections.
    pub snapshot: Arc<SourceSnapshot>,
    /// The file the user named, for messages.
    pub source_shown: &'a Path,
    pub tables: Arc<Vec<TableLoad>>,
    pub on_error: OnError,
    pub run_id: String,
    pub copy_id: String,
    /// Per table: whether the copy created it (and so builds its keys and
    /// indexes, not only its statistics).
    pub created: Vec<bool>,
    /// The run continues a copy: some keys may exist already.
    pub resumed: bool,
    /// Where to reconnect after a lost connection.
    pub target: String,
    /// How a writer retries after a lost connection before it gives up.
    pub retry: RetryPolicy,
    pub stop: Arc<Stop>,
    pub progress: Arc<Progress>,
}

/// Shared by the writer tasks of a run.
struct WriterShared {
    tables: Arc<Vec<TableLoad>>,
    on_error: OnError,
    plans: Vec<TablePlan>,
    run_id: String,
    copy_id: String,
    created: Vec<bool>,
    resumed: bool,
    target: String,
    retry: RetryPolicy,
    stop: Arc<Stop>,
    progress: Arc<Progress>,
}

/// Copies every pending chunk of the copy through one reader/writer pair
/// per client, and returns the clients still connected for the post-load
/// steps.
pub async fn run(
    load: &Load<'_>,
    clients: Vec<tokio_postgres::Client>,
) -> Result<Vec<tokio_postgres::Client>> {
    crate::interrupt::set_stop(&load.stop);
    let shared = Arc::new(WriterShared {
        tables: Arc::clone(&load.tables),
        on_error: load.on_error,
        plans: load.tables.iter().map(|t| t.plan.clone()).collect(),
        run_id: load.run_id.clone(),
        copy_id: load.copy_id.clone(),
        created: load.created.clone(),
        resumed: load.resumed,
        target: load.target.clone(),
        retry: load.retry,
        stop: Arc::clone(&load.stop),
        progress: Arc::clone(&load.progress),
    });
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for client in clients {
        let (task_tx, task_rx) = crossbeam_channel::bounded::<ReadTask>(TASKS_IN_FLIGHT);
        let reader = ReaderJob {
            snapshot: Arc::clone(&load.snapshot),
            source_shown: load.source_shown.to_owned(),
            tables: Arc::clone(&load.tables),
            on_error: load.on_error,
            stop: Arc::clone(&load.stop),
        };
        let stop = Arc::clone(&load.stop);
        readers.push(std::thread::spawn(move || {
            if let Err(err) = reader.run(&task_rx) {
                stop.fail(err);
            }
        }));
        writers.push(tokio::spawn(
            write_chunks(client, task_tx, Arc::clone(&shared)).in_current_span(),
        ));
    }

    let mut returned = Vec::new();
    for writer in writers {
        match writer.await {
            Ok(Some(client)) => returned.push(client),
            Ok(None) => {}
            Err(join) => load.stop.fail(anyhow!("a writer task panicked: {join}")),
        }
    }
    for reader in readers {
        if reader.join().is_err() {
            load.stop.fail(anyhow!("a reader thread panicked"));
        }
    }
    match load.stop.take_error() {
        Some(err) => Err(err),
        None => Ok(returned),
    }
}

struct ReaderJob {
    snapshot: Arc<SourceSnapshot>,
    source_shown: std::path::PathBuf,
    tables: Arc<Vec<TableLoad>>,
    on_error: OnError,
    stop: Arc<Stop>,
}

impl ReaderJob {
    /// Reads the chunks its writer hands over until the writer is done or
    /// the run stops.
    fn run(&self, tasks: &Receiver<ReadTask>) -> Result<()> {
        // A connection of a WAL snapshot goes back to it for the run's
        // next pass.
        let db = self.snapshot.connections().lease()?;
        let mut encoder = CopyEncoder::with_capacity(FLUSH_BYTES + ROW_SLACK);
        loop {
            let (task, tx) = select! {
                recv(tasks) -> task => match task {
                    Ok(task) => task,
                    // The writer is done.
                    Err(_) => return Ok(()),
                },
                recv(self.stop.stopped()) -> _ => return Ok(()),
            };
            // Both may be ready at once, and select! picks either.
            if self.stop.is_stopped() {
                return Ok(());
            }
            let table = &self.tables[task.table];
            if let Some((done, rejects)) = self.read_chunk(&db, table, task, &mut encoder, &tx)? {
                // Read in place: the chunk commits only if every read so
                // far saw the state the run started from.
                self.snapshot.check_current(&self.source_shown)?;
                // A closed channel means the writer gave the chunk up: it
                // stays pending in the ledger.
                let _ = tx.blocking_send(Message::End(done, rejects));
            }
        }
    }

    /// Reads, coerces and encodes one chunk. `None` when the run is
    /// stopping (the writer then rolls the chunk back).
    fn read_chunk(
        &self,
        db: &SourceDb,
        table: &TableLoad,
        task: ChunkTask,
        encoder: &mut CopyEncoder,
        tx: &mpsc::Sender<Message>,
    ) -> Result<Option<(ChunkDone, Vec<Reject>)>> {
        let (range, one_by_one) = (task.range, task.one_by_one);
        let columns = &table.plan.columns;
        let fields = i16::try_from(columns.len()).context("a table has more than 32767 columns")?;
        let mut done = ChunkDone {
            rows_read: 0,
            rows_written: 0,
            rejected_rows: 0,
            bytes: 0,
        };
        let mut rejects = Vec::new();

        let read = db.read_chunk(&table.source, range, &mut |rowid, row| {
            done.rows_read += 1;
            let row_start = encoder.len();
            encoder.begin_row(fields);
            let mut bad_row = false;
            for (column, value) in columns.iter().zip(row) {
                let error = match ferry_transformer::coerce(column, *value) {
                    Ok(pg) => {
                        if !bad_row {
                            encoder.push(&pg);
                        }
                        continue;
                    }
                    Err(error) => error,
                };
                if self.on_error == OnError::Abort {
                    return Err(Halt::Bad(Box::new(BadValue {
                        table: table.source.name.clone(),
                        key: table.key.key(rowid, row),
                        column: column.source_name.clone(),
                        error,
                    })));
                }
                if !bad_row {
                    // Drop the half-encoded row, but keep checking so every
                    // bad value of the row is listed.
                    encoder.truncate(row_start);
                    bad_row = true;
                }
                rejects.push(reject(
                    table,
                    rowid,
                    row,
                    &column.source_name,
                    *value,
                    error,
                ));
            }
            if bad_row {
                done.rejected_rows += 1;
            } else {
                done.rows_written += 1;
            }
            if one_by_one && !bad_row {
                done.bytes += (encoder.len() - row_start) as u64;
                let row_data = RowData {
                    data: encoder.take(),
                    key: table.key.key(rowid, row),
                    values: row.iter().map(|v| v.to_owned_value()).collect(),
                };
                if tx.blocking_send(Message::Row(row_data)).is_err() || self.stop.is_stopped() {
                    return Err(Halt::Abandoned);
                }
                return Ok(());
            }
            if encoder.len() >= FLUSH_BYTES {
                done.bytes += encoder.len() as u64;
                if tx.blocking_send(Message::Data(encoder.take())).is_err() {
                    return Err(Halt::Abandoned);
                }
                if self.stop.is_stopped() {
                    return Err(Halt::Abandoned);
                }
            }
            Ok(())
        });
        match read {
            Ok(_) => {}
            Err(ReadOrRow::Read(err)) => {
                return Err(
                    anyhow::Error::new(err).context(format!("reading table {}", table.source.name))
                )
            }
            Err(ReadOrRow::Row(halt)) => {
                encoder.take();
                return match halt {
                    Halt::Bad(err) => Err((*err).into()),
                    Halt::Abandoned => Ok(None),
                };
            }
        }
        if self.stop.is_stopped() {
            encoder.take();
            return Ok(None);
        }
        if !encoder.is_empty() {
            done.bytes += encoder.len() as u64;
            if tx.blocking_send(Message::Data(encoder.take())).is_err() {
                return Ok(None);
            }
        }
        Ok(Some((done, rejects)))
    }
}

/// Why a reader stops reading a chunk before its end.
enum Halt {
    /// A value that cannot be coerced, under `--on-error abort`.
    Bad(Box<BadValue>),
    /// The writer gave the chunk up, or the run is stopping: the chunk
    /// rolls back and stays pending.
    Abandoned,
}

fn reject(
    table: &TableLoad,
    rowid: Option<i64>,
    row: &[SourceValueRef<'_>],
    column: &str,
    value: SourceValueRef<'_>,
    error: ferry_transformer::CoerceError,
) -> Reject {
    Reject {
        table: table.source.name.clone(),
        key: table.key.key(rowid, row),
        column: column.to_owned(),
        reason: error.to_string(),
        value: value.to_owned_value(),
    }
}

/// What one claim led to.
enum Claimed {
    /// The chunk committed.
    Copied(usize, ChunkDone, Instant),
    /// No chunk is left to claim.
    NoneLeft,
    /// The reader gave up the chunk (the run is stopping); it rolled back.
    Abandoned,
}

/// Builds the keys of tables whose chunks have all committed, and claims
/// and copies chunks, until neither is left; reconnects after transient
/// failures. Returns the client when it ends cleanly.
async fn write_chunks(
    mut client: tokio_postgres::Client,
    tasks: Sender<ReadTask>,
    shared: Arc<WriterShared>,
) -> Option<tokio_postgres::Client> {
    let mut failures = 0;
    loop {
        if shared.stop.is_stopped() {
            return Some(client);
        }
        let err = match build_next(&client, &shared).await {
            Ok(true) => {
                failures = 0;
                continue;
            }
            // Stopped mid-build: the build stays pending, the stop keeps
            // its cause.
            Err(_) if shared.stop.is_stopped() => return Some(client),
            // A failed build is no chunk: resuming does not mend it.
            Err(err) if !is_transient(&err) => {
                shared.stop.fail(err);
                return None;
            }
            Err(err) => err,
            Ok(false) => match claim_and_copy(&mut client, &tasks, &shared).await {
                Ok(Claimed::Copied(table, done, started)) => {
                    failures = 0;
                    shared.tables[table].stats.record(&done, started);
                    shared.progress.chunk(
                        table,
                        ChunkStats {
                            rows_read: done.rows_read,
                            rows_written: done.rows_written,
                            rejected: done.rejected_rows,
                            bytes: done.bytes,
                            seconds: started.elapsed().as_secs_f64(),
                        },
                    );
                    continue;
                }
                Ok(Claimed::NoneLeft | Claimed::Abandoned) => return Some(client),
                Err(err) => err,
            },
        };
        if is_transient(&err) && failures < shared.retry.attempts {
            failures += 1;
            match reconnect(&shared, failures, &err).await {
                Some(fresh) => client = fresh,
                None => return None,
            }
            continue;
        }
        let resumable = err.context(
            "the copy stopped; committed chunks are kept: rerun the same command with \
             --if-exists resume to continue",
        );
        shared.stop.fail(resumable);
        return None;
    }
}

/// Builds the keys and indexes of the next table whose chunks have all
/// committed and that no session builds yet, if there is one; `true` when
/// it did.
async fn build_next(client: &tokio_postgres::Client, shared: &WriterShared) -> Result<bool> {
    let Some(name) = ferry_writer::claim_build(client, &shared.copy_id)
        .await
        .context("claiming a table's keys and indexes")?
    else {
        return Ok(false);
    };
    let Some(index) = shared.tables.iter().position(|t| t.plan.name == name) else {
        ferry_writer::release_build(client, &shared.copy_id, &name).await?;
        anyhow::bail!("the ledger names table {name}, which this run does not copy");
    };
    let how = crate::post_load::Steps {
        resumed: shared.resumed,
        stop: &shared.stop,
        progress: &shared.progress,
    };
    let table = &shared.tables[index];
    let built = crate::post_load::build_table(client, table, shared.created[index], &how).await;
    match built {
        Ok(()) => {
            ferry_writer::finish_build(client, &shared.copy_id, &name)
                .await
                .with_context(|| format!("recording the keys of {name} built"))?;
            tracing::debug!(table = %name, "keys, indexes and statistics built");
            Ok(true)
        }
        Err(err) => {
            // Another session may take the build over; on a lost
            // connection the claim went with it anyway.
            let _ = ferry_writer::release_build(client, &shared.copy_id, &name).await;
            Err(err)
        }
    }
}

/// Waits as the retry policy says (about 1 s, 2 s, 4 s… up to 30 s, with
/// jitter) and reconnects, for as many attempts as its budget leaves. `None` when the budget is spent or the run
/// is stopping; the failure is then recorded.
async fn reconnect(
    shared: &WriterShared,
    mut failures: u32,
    cause: &anyhow::Error,
) -> Option<tokio_postgres::Client> {
    let mut last = format!("{cause:#}");
    loop {
        let delay = shared.retry.delay(failures);
        tracing::info!(attempt = failures, delay_seconds = delay.as_secs_f64(), cause = %last, "reconnecting");
        shared.progress.retry(&format!(
            "connection lost ({last}); retrying in {:.1}s (attempt {failures} of {})",
            delay.as_secs_f64(),
            shared.retry.attempts
        ));
        tokio::time::sleep(delay).await;
        if shared.stop.is_stopped() {
            return None;
        }
        match ferry_writer::connect(&shared.target).await {
            Ok(client) => {
                // The first writer back after a crash requeues what the
                // crash emptied, before any new chunk commits.
                if let Err(err) =
                    crate::setup::requeue_lost_unlogged(&client, &shared.copy_id, &shared.tables)
                        .await
                {
                    shared.stop.fail(err);
                    return None;
                }
                return Some(client);
            }
            Err(err) if err.is_worth_retrying() && failures < shared.retry.attempts => {
                failures += 1;
                last = err.to_string();
            }
            Err(err) => {
                shared.stop.fail(anyhow::Error::new(err).context(format!(
                    "gave up after {} attempts; committed chunks are kept: rerun the same \
                     command with --if-exists resume to continue",
                    shared.retry.attempts
                )));
                return None;
            }
        }
    }
}

/// Claims one chunk, has the reader read it, COPYs it and commits it with
/// its ledger entry.
async fn claim_and_copy(
    client: &mut tokio_postgres::Client,
    tasks: &Sender<ReadTask>,
    shared: &WriterShared,
) -> Result<Claimed> {
    let claimed = ChunkCopy::claim(client, &shared.copy_id, &shared.plans)
        .await
        .context("claiming a chunk")?;
    let Some((copy, chunk)) = claimed else {
        return Ok(Claimed::NoneLeft);
    };
    let task = chunk_task(&shared.tables, &chunk)?;
    let span = tracing::info_span!(
        "chunk",
        table = %chunk.table,
        index = chunk.index,
        rowids = ?chunk.rowids,
    );
    copy_claimed(copy, task, tasks, shared)
        .instrument(span)
        .await
}

/// Copies a claimed chunk: hands it to the reader, streams its rows into
/// COPY and commits them with the ledger entry.
async fn copy_claimed(
    mut copy: ChunkCopy<'_>,
    task: ChunkTask,
    tasks: &Sender<ReadTask>,
    shared: &WriterShared,
) -> Result<Claimed> {
    let name = &shared.tables[task.table].plan.name;
    let started = Instant::now();
    let (tx, mut rx) = mpsc::channel(CHANNEL_BUFFERS);
    if !hand_over(tasks, (task, tx))? {
        return Ok(Claimed::Abandoned);
    }
    let mut ended = None;
    let mut refused = None;
    while let Some(message) = next_message(&mut rx, &shared.stop).await {
        match message {
            Message::Data(data) => {
                if let Err(err) = copy.send(data).await {
                    refused = Some(err);
                    break;
                }
            }
            Message::Row(_) => anyhow::bail!("a reader sent a single row unasked; this is a bug"),
            Message::End(done, rejects) => {
                match copy.finish_rows().await {
                    Ok(_) => ended = Some((done, rejects)),
                    Err(err) => refused = Some(err),
                }
                break;
            }
        }
    }
    // The reader stops reading this pass as soon as it sees the channel
    // closed.
    drop(rx);
    if let Some(err) = refused {
        if !err.is_row_refusal() {
            return Err(anyhow::Error::new(err).context(format!("sending rows to {name}")));
        }
        // The server refused a row but said nothing usable about which:
        // undo the chunk's rows (the claim stays) and send them again, a
        // batch at a time, halving a refused batch down to its row.
        copy.restart_rows()
            .await
            .with_context(|| format!("undoing the rows of a chunk of {name}"))?;
        let one_by_one = ChunkTask {
            one_by_one: true,
            ..task
        };
        ended = send_one_by_one(&mut copy, tasks, one_by_one, shared).await?;
    }
    let Some((mut done, rejects)) = ended else {
        return Ok(Claimed::Abandoned);
    };
    let written = copy
        .commit(done.rows_written, &shared.run_id, &rejects)
        .await
        .with_context(|| format!("committing a chunk of {name}"))?;
    done.rows_written = written;
    tracing::debug!(
        rows = done.rows_read,
        seconds = started.elapsed().as_secs_f64(),
        "chunk committed"
    );
    Ok(Claimed::Copied(task.table, done, started))
}

/// How often a writer waiting for its reader's rows looks at the run's
/// stop.
const STOP_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// The reader's next message, or `None` once its channel closes or the
/// run stops. A reader that stops before taking the chunk off its task
/// channel leaves the chunk, and the sender of its rows, in that channel
/// (crossbeam drops buffered messages only with the last sender), so the
/// channel of rows alone may never close.
async fn next_message(rx: &mut mpsc::Receiver<Message>, stop: &Stop) -> Option<Message> {
    tokio::select! {
        message = rx.recv() => message,
        () = async {
            while !stop.is_stopped() {
                tokio::time::sleep(STOP_POLL).await;
            }
        } => None,
    }
}

/// Hands a chunk to the writer's reader thread without blocking the
/// async side: the writer has waited for its previous chunk's end (the
/// reader took it off the channel before sending anything back), so the
/// channel has room. `false` when the reader has stopped.
fn hand_over(tasks: &Sender<ReadTask>, task: ReadTask) -> Result<bool> {
    match tasks.try_send(task) {
        Ok(()) => Ok(true),
        Err(TrySendError::Disconnected(_)) => Ok(false),
        Err(TrySendError::Full(_)) => {
            anyhow::bail!("a reader was handed a chunk while still holding one; this is a bug")
        }
    }
}

/// Has the reader read `task` again row by row and COPYs the rows in
/// batches, finding each row the server refuses: quarantined (added to
/// the chunk's rejects) under `--on-error quarantine`, or the copy's error,
/// naming the row, under `abort`. `None` when the run is stopping.
async fn send_one_by_one(
    copy: &mut ChunkCopy<'_>,
    tasks: &Sender<ReadTask>,
    task: ChunkTask,
    shared: &WriterShared,
) -> Result<Option<(ChunkDone, Vec<Reject>)>> {
    let (tx, mut rx) = mpsc::channel(CHANNEL_BUFFERS);
    if !hand_over(tasks, (task, tx))? {
        return Ok(None);
    }
    let table = &shared.tables[task.table];
    let mut batch: Vec<RowData> = Vec::new();
    let mut batch_bytes = 0;
    let mut refused = Vec::new();
    while let Some(message) = next_message(&mut rx, &shared.stop).await {
        match message {
            Message::Row(row) => {
                batch_bytes += row.data.len();
                batch.push(row);
                if batch.len() >= ISOLATION_BATCH_ROWS || batch_bytes >= FLUSH_BYTES {
                    copy_finding_refusals(copy, &batch, table, shared, &mut refused).await?;
                    batch.clear();
                    batch_bytes = 0;
                }
            }
            Message::Data(_) => {
                anyhow::bail!("a reader sent a buffer of rows unasked; this is a bug")
            }
            Message::End(mut done, mut rejects) => {
                copy_finding_refusals(copy, &batch, table, shared, &mut refused).await?;
                let count = refused.len() as u64;
                done.rows_written -= count;
                done.rejected_rows += count;
                rejects.extend(refused);
                return Ok(Some((done, rejects)));
            }
        }
    }
    Ok(None)
}

/// COPYs `rows` as one batch; when the server refuses it, halves it until
/// each refused row stands alone, and records that row in `refused`.
async fn copy_finding_refusals(
    copy: &mut ChunkCopy<'_>,
    rows: &[RowData],
    table: &TableLoad,
    shared: &WriterShared,
    refused: &mut Vec<Reject>,
) -> Result<()> {
    let name = &table.plan.name;
    let mut pending = Vec::new();
    pending.push(0..rows.len());
    while let Some(range) = pending.pop() {
        if range.is_empty() {
            continue;
        }
        let data: Vec<Bytes> = rows[range.clone()].iter().map(|r| r.data.clone()).collect();
        let err = match copy.copy_rows(&data).await {
            Ok(_) => continue,
            Err(err) if err.is_row_refusal() => err,
            Err(err) => {
                return Err(anyhow::Error::new(err).context(format!("sending rows to {name}")))
            }
        };
        if range.len() > 1 {
            let middle = range.start + range.len() / 2;
            pending.push(middle..range.end);
            pending.push(range.start..middle);
            continue;
        }
        let row = &rows[range.start];
        let (column, value) = refused_column(table, row, &err);
        if shared.on_error == OnError::Abort {
            return Err(RefusedValue {
                table: table.source.name.clone(),
                key: row.key.clone(),
                column,
                error: err,
            }
            .into());
        }
        if refused.len() >= MAX_REFUSED_PER_CHUNK {
            return Err(anyhow::Error::new(err).context(format!(
                "{}: the server refused more than {MAX_REFUSED_PER_CHUNK} rows of one chunk; \
                 fix the cause (a column's type in ferry.toml, rows already in the target) \
                 instead of quarantining them one by one",
                table.source.name
            )));
        }
        refused.push(Reject {
            table: table.source.name.clone(),
            key: row.key.clone(),
            column,
            reason: format!("refused by the server: {}", server_reason(&err)),
            value,
        });
    }
    Ok(())
}

/// The source column (and its value) of a refused row, as
/// [`named_column`] finds it in the server's error.
fn refused_column(
    table: &TableLoad,
    row: &RowData,
    err: &WriteError,
) -> (String, ferry_model::SourceValue) {
    let (named, context) = match err {
        WriteError::Server(server) => (
            server.server_column.as_deref(),
            server.server_where.as_deref(),
        ),
        _ => (None, None),
    };
    named_column(&table.plan.columns, &row.values, named, context)
}

/// The source column (and its value) the server names, in its error
/// fields (`named`) or in its CONTEXT (`COPY t, line 1, column doc: …`);
/// failing that, the row's biggest value, the usual culprit of a limit.
fn named_column(
    columns: &[ColumnPlan],
    values: &[ferry_model::SourceValue],
    named: Option<&str>,
    context: Option<&str>,
) -> (String, ferry_model::SourceValue) {
    let found = columns.iter().position(|c| {
        named == Some(c.name.as_str())
            || context.is_some_and(|w| w.contains(&format!("column {}:", c.name)))
    });
    let index = found.unwrap_or_else(|| {
        (0..values.len())
            .max_by_key(|&i| match &values[i] {
                ferry_model::SourceValue::Text(bytes) | ferry_model::SourceValue::Blob(bytes) => {
                    bytes.len()
                }
                _ => 0,
            })
            .unwrap_or(0)
    });
    match (columns.get(index), values.get(index)) {
        (Some(column), Some(value)) => (column.source_name.clone(), value.clone()),
        _ => (String::new(), ferry_model::SourceValue::Null),
    }
}

/// The server's message and SQLSTATE, without the advice meant for a
/// failed copy.
fn server_reason(err: &WriteError) -> String {
    match err {
        WriteError::Server(server) => format!("{} (SQLSTATE {})", server.message, server.code),
        other => other.to_string(),
    }
}

/// The reader's view of a chunk the ledger handed out.
fn chunk_task(tables: &[TableLoad], chunk: &ClaimedChunk) -> Result<ChunkTask> {
    let table = tables
        .iter()
        .position(|t| t.plan.name == chunk.table)
        .ok_or_else(|| {
            anyhow!(
                "the ledger names table {}, which this run does not copy",
                chunk.table
            )
        })?;
    let range = match chunk.rowids {
        Some((start, end)) => ChunkRange::Rowid { start, end },
        None => ChunkRange::Whole,
    };
    Ok(ChunkTask {
        table,
        range,
        one_by_one: false,
    })
}

#[cfg(test)]
mod tests {
    use ferry_model::SourceValue;

    use super::*;
    use crate::testing::TestSource;

    /// Row 2 holds two values its declared types cannot take.
    const SOURCE: &str = "CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER, at DATE);
         INSERT INTO t VALUES (1, 10, '2024-01-01'), (2, 'ten', 'soon'), (3, 30, '2024-01-03');
         CREATE TABLE u(k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID;";

    fn reader(source: &TestSource, on_error: OnError) -> ReaderJob {
        let path = source.prepared.source.path().to_owned();
        ReaderJob {
            snapshot: Arc::new(
                crate::snapshot::take(&path, crate::options::SnapshotMode::None).unwrap(),
            ),
            source_shown: path,
            tables: Arc::new(vec![TableLoad::new(source.table("t"), 3)]),
            on_error,
            stop: Arc::new(Stop::default()),
        }
    }

    fn task(start: i64, end: i64, one_by_one: bool) -> ChunkTask {
        ChunkTask {
            table: 0,
            range: ChunkRange::Rowid { start, end },
            one_by_one,
        }
    }

    /// What [`ReaderJob::read_chunk`] returns.
    type ChunkRead = Result<Option<(ChunkDone, Vec<Reject>)>>;

    /// Reads `task` through `job`, with room for every message it sends.
    fn read_task(
        source: &TestSource,
        job: &ReaderJob,
        task: ChunkTask,
    ) -> (ChunkRead, Vec<Message>) {
        let (tx, mut rx) = mpsc::channel(64);
        let mut encoder = CopyEncoder::with_capacity(0);
        let read = job.read_chunk(
            &source.prepared.source,
            &job.tables[0],
            task,
            &mut encoder,
            &tx,
        );
        assert!(encoder.is_empty(), "the chunk left bytes in the encoder");
        drop(tx);
        let mut messages = Vec::new();
        while let Ok(message) = rx.try_recv() {
            messages.push(message);
        }
        (read, messages)
    }

    fn data(messages: &[Message]) -> Vec<u8> {
        messages
            .iter()
            .flat_map(|m| match m {
                Message::Data(data) => data.to_vec(),
                _ => panic!("only buffers of rows expected"),
            })
            .collect()
    }

    #[test]
    fn quarantine_leaves_bad_rows_out_and_lists_each_bad_value() {
        let source = TestSource::new(SOURCE);
        let job = reader(&source, OnError::Quarantine);
        let (read, messages) = read_task(&source, &job, task(1, 3, false));
        let (done, rejects) = read.unwrap().unwrap();
        assert_eq!(
            (done.rows_read, done.rows_written, done.rejected_rows),
            (3, 2, 1)
        );
        let listed: Vec<(String, &str, &SourceValue)> = rejects
            .iter()
            .map(|r| (r.key.to_string(), r.column.as_str(), &r.value))
            .collect();
        assert_eq!(
            listed,
            [
                ("id=2".to_owned(), "n", &SourceValue::Text(b"ten".to_vec())),
                (
                    "id=2".to_owned(),
                    "at",
                    &SourceValue::Text(b"soon".to_vec())
                ),
            ]
        );
        // The bad row's half-encoded values are gone: the chunk's bytes are
        // exactly those of its good rows read alone.
        let sent = data(&messages);
        assert_eq!(done.bytes, sent.len() as u64);
        let mut alone = data(&read_task(&source, &job, task(1, 1, false)).1);
        alone.extend(data(&read_task(&source, &job, task(3, 3, false)).1));
        assert_eq!(sent, alone);
    }

    #[test]
    fn abort_stops_at_the_first_bad_value() {
        let source = TestSource::new(SOURCE);
        let job = reader(&source, OnError::Abort);
        let (read, messages) = read_task(&source, &job, task(1, 3, false));
        let err = read.err().expect("a bad value under abort");
        let bad = err.downcast_ref::<BadValue>().expect("a BadValue");
        assert_eq!(
            (bad.table.as_str(), bad.key.to_string(), bad.column.as_str()),
            ("t", "id=2".to_owned(), "n")
        );
        assert!(messages.is_empty(), "nothing of the chunk is sent");
    }

    #[test]
    fn one_by_one_sends_each_good_row_with_its_key_and_values() {
        let source = TestSource::new(SOURCE);
        let job = reader(&source, OnError::Quarantine);
        let (read, messages) = read_task(&source, &job, task(1, 3, true));
        let (done, rejects) = read.unwrap().unwrap();
        assert_eq!((done.rows_written, done.rejected_rows), (2, 1));
        assert_eq!(rejects.len(), 2);
        let rows: Vec<&RowData> = messages
            .iter()
            .map(|m| match m {
                Message::Row(row) => row,
                _ => panic!("only single rows expected"),
            })
            .collect();
        let keys: Vec<String> = rows.iter().map(|r| r.key.to_string()).collect();
        assert_eq!(keys, ["id=1", "id=3"]);
        assert_eq!(
            rows[1].values,
            [
                SourceValue::Integer(3),
                SourceValue::Integer(30),
                SourceValue::Text(b"2024-01-03".to_vec())
            ]
        );
        let bytes: usize = rows.iter().map(|r| r.data.len()).sum();
        assert_eq!(done.bytes, bytes as u64);
        // Each row is the bytes it has in a buffer of rows.
        assert_eq!(
            rows[0].data.to_vec(),
            data(&read_task(&source, &job, task(1, 1, false)).1)
        );
    }

    #[test]
    fn a_writer_gone_or_a_stop_abandons_the_chunk() {
        let source = TestSource::new(SOURCE);
        let job = reader(&source, OnError::Quarantine);
        for one_by_one in [false, true] {
            let (tx, rx) = mpsc::channel(64);
            drop(rx);
            let mut encoder = CopyEncoder::with_capacity(0);
            let read = job.read_chunk(
                &source.prepared.source,
                &job.tables[0],
                task(1, 3, one_by_one),
                &mut encoder,
                &tx,
            );
            assert!(read.unwrap().is_none(), "one by one: {one_by_one}");
            assert!(encoder.is_empty());
        }
        job.stop.interrupt();
        let (read, messages) = read_task(&source, &job, task(1, 3, false));
        assert!(read.unwrap().is_none());
        assert!(messages.is_empty());
    }

    /// A reader with no chunk to read wakes at the run's first failure,
    /// though its writer still holds the task channel open.
    #[test]
    fn a_stop_wakes_a_reader_waiting_for_its_next_chunk() {
        let source = TestSource::new(SOURCE);
        let job = reader(&source, OnError::Quarantine);
        let stop = Arc::clone(&job.stop);
        let (tasks, task_rx) = crossbeam_channel::bounded(TASKS_IN_FLIGHT);
        let (ended_tx, ended) = crossbeam_channel::bounded(1);
        let thread = std::thread::spawn(move || {
            ended_tx.send(job.run(&task_rx).is_ok()).unwrap();
        });
        stop.fail(anyhow!("another writer failed"));
        let ended = ended.recv_timeout(std::time::Duration::from_secs(60));
        assert_eq!(ended, Ok(true), "the reader returns cleanly");
        thread.join().unwrap();
        // Its task channel is gone: the writer's next hand-over says so.
        let (tx, _rx) = mpsc::channel(1);
        assert!(!hand_over(&tasks, (task(1, 3, false), tx)).unwrap());
    }

    /// A reader handed a chunk reads it and reports its end; one handed a
    /// second chunk before it took the first is a bug, reported as one.
    #[test]
    fn a_reader_reads_what_it_is_handed_until_its_writer_is_done() {
        let source = TestSource::new(SOURCE);
        let job = reader(&source, OnError::Quarantine);
        let (tasks, task_rx) = crossbeam_channel::bounded(TASKS_IN_FLIGHT);
        let (tx, mut rx) = mpsc::channel(CHANNEL_BUFFERS);
        assert!(hand_over(&tasks, (task(1, 3, false), tx)).unwrap());
        let (tx, _unread) = mpsc::channel(1);
        let err = hand_over(&tasks, (task(1, 3, false), tx)).unwrap_err();
        assert!(err.to_string().contains("this is a bug"), "{err}");
        drop(tasks);
        let thread = std::thread::spawn(move || job.run(&task_rx));
        let mut ends = Vec::new();
        while let Some(message) = rx.blocking_recv() {
            if let Message::End(done, rejects) = message {
                ends.push((done.rows_written, rejects.len()));
            }
        }
        assert_eq!(ends, [(2, 2)]);
        thread.join().unwrap().unwrap();
    }

    #[test]
    fn ledger_chunks_become_reader_tasks() {
        let source = TestSource::new(SOURCE);
        let tables = [
            TableLoad::new(source.table("t"), 3),
            TableLoad::new(source.table("u"), 0),
        ];
        let claimed = |table: &str, rowids| ClaimedChunk {
            table: table.to_owned(),
            index: 0,
            rowids,
        };
        let task = chunk_task(&tables, &claimed("t", Some((5, 9)))).unwrap();
        assert_eq!(
            (task.table, task.range, task.one_by_one),
            (0, ChunkRange::Rowid { start: 5, end: 9 }, false)
        );
        let task = chunk_task(&tables, &claimed("u", None)).unwrap();
        assert_eq!((task.table, task.range), (1, ChunkRange::Whole));
        let err = chunk_task(&tables, &claimed("gone", None)).err().unwrap();
        assert_eq!(
            err.to_string(),
            "the ledger names table gone, which this run does not copy"
        );
    }

    #[test]
    fn a_refused_row_is_blamed_on_the_column_the_server_names() {
        let source = TestSource::new(
            r#"CREATE TABLE "Docs"("Id" INTEGER PRIMARY KEY, "Title" TEXT, "Body" BLOB);"#,
        );
        let columns = source.table("Docs").plan.columns;
        let values = [
            SourceValue::Integer(1),
            SourceValue::Text(b"short".to_vec()),
            SourceValue::Blob(vec![0; 100]),
        ];
        // Named by its target name, reported by its source name.
        let named = |named, context| named_column(&columns, &values, named, context).0;
        assert_eq!(named(Some("title"), None), "Title");
        assert_eq!(
            named(None, Some("COPY docs, line 1, column title: \"short\"")),
            "Title"
        );
        // Nothing usable: the biggest value.
        assert_eq!(named(None, Some("COPY docs, line 1")), "Body");
        assert_eq!(
            named_column(&columns, &values, Some("id"), None),
            ("Id".to_owned(), SourceValue::Integer(1))
        );
    }

    #[test]
    fn only_lost_connections_are_retried() {
        let lost = WriteError::ConnectTimeout {
            target: "postgres://db".to_owned(),
            seconds: 10.0,
        };
        assert!(is_transient(
            &anyhow::Error::new(lost).context("claiming a chunk")
        ));
        assert!(!is_transient(&anyhow!("a chunk of t: refused")));
        let invalid = WriteError::InvalidTarget {
            target: "nope".to_owned(),
            reason: "not a URL".to_owned(),
        };
        assert!(!is_transient(&invalid.into()));
    }
}
