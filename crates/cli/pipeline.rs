//! The parallel load: `jobs` pairs of a reader thread and a writer task.
//!
//! Each reader thread owns a read-only SQLite connection; it takes chunks
//! from a shared queue, coerces every value and encodes rows straight into
//! a binary COPY buffer, and hands full buffers to its writer through a
//! bounded channel, so memory stays bounded whatever the database size.
//! Each writer task owns a Postgres connection and copies one whole chunk
//! per transaction; a chunk counts only once COPY's row count matches and
//! the transaction has committed.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use bytes::Bytes;
use ferry_model::{ChunkRange, Reject, SourceValueRef, TablePlan, TableSchema};
use ferry_reader::SourceDb;
use ferry_writer::{ChunkCopy, CopyEncoder};
use tokio::sync::mpsc;

use crate::args::OnError;
use crate::exit::{BadValue, Interrupted};
use crate::progress::Progress;
use crate::row_key::KeyColumns;

/// Encoded bytes a reader gathers before handing them to its writer.
const FLUSH_BYTES: usize = 1 << 20;
/// Buffers in flight per reader/writer pair: with FLUSH_BYTES, the memory a
/// pair can hold is about this many MiB.
const CHANNEL_BUFFERS: usize = 4;

/// One table being loaded: its source, its plan, and counters.
pub struct TableLoad {
    pub source: TableSchema,
    pub plan: TablePlan,
    pub stats: TableStats,
    key: KeyColumns,
}

impl TableLoad {
    pub fn new(source: TableSchema, plan: TablePlan) -> TableLoad {
        let key = KeyColumns::of(&source);
        TableLoad {
            source,
            plan,
            stats: TableStats::default(),
            key,
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
}

/// What a reader tells its writer.
enum Message {
    Begin(ChunkTask, Instant),
    Data(Bytes),
    End(ChunkDone, Vec<Reject>),
}

struct ChunkDone {
    rows_read: u64,
    rows_written: u64,
    rejected_rows: u64,
    bytes: u64,
}

/// Shared by every thread and task of one run: stop as soon as anything
/// fails or a signal arrives, and remember the first cause.
#[derive(Default)]
pub struct Stop {
    stopped: AtomicBool,
    first_error: Mutex<Option<anyhow::Error>>,
}

impl Stop {
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    pub fn fail(&self, err: anyhow::Error) {
        let mut first = self.first_error.lock().expect("stop lock poisoned");
        if first.is_none() {
            *first = Some(err);
        }
        self.stopped.store(true, Ordering::Relaxed);
    }

    pub fn interrupt(&self) {
        self.fail(Interrupted.into());
    }

    pub fn take_error(&self) -> Option<anyhow::Error> {
        self.first_error.lock().expect("stop lock poisoned").take()
    }
}

/// Everything a run needs that does not change while it runs.
pub struct Load<'a> {
    pub source_path: &'a Path,
    pub tables: Arc<Vec<TableLoad>>,
    pub on_error: OnError,
    pub run_id: String,
    pub stop: Arc<Stop>,
    pub progress: Arc<Progress>,
}

/// Runs every chunk through `clients.len()` reader/writer pairs and returns
/// the clients for the post-load steps.
pub async fn run(
    load: &Load<'_>,
    chunks: Vec<ChunkTask>,
    clients: Vec<tokio_postgres::Client>,
) -> Result<Vec<tokio_postgres::Client>> {
    let (chunk_tx, chunk_rx) = crossbeam_channel::bounded(chunks.len().max(1));
    for chunk in chunks {
        chunk_tx
            .send(chunk)
            .expect("queue sized to hold every chunk");
    }
    drop(chunk_tx);

    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for client in clients {
        let (tx, rx) = mpsc::channel(CHANNEL_BUFFERS);
        let reader = ReaderJob {
            source_path: load.source_path.to_owned(),
            tables: Arc::clone(&load.tables),
            chunks: chunk_rx.clone(),
            on_error: load.on_error,
            stop: Arc::clone(&load.stop),
        };
        let stop = Arc::clone(&load.stop);
        readers.push(std::thread::spawn(move || {
            if let Err(err) = reader.run(&tx) {
                stop.fail(err);
            }
        }));
        writers.push(tokio::spawn(write_chunks(
            client,
            rx,
            Arc::clone(&load.tables),
            load.run_id.clone(),
            Arc::clone(&load.stop),
            Arc::clone(&load.progress),
        )));
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
    source_path: std::path::PathBuf,
    tables: Arc<Vec<TableLoad>>,
    chunks: crossbeam_channel::Receiver<ChunkTask>,
    on_error: OnError,
    stop: Arc<Stop>,
}

impl ReaderJob {
    fn run(&self, tx: &mpsc::Sender<Message>) -> Result<()> {
        let db = SourceDb::open(&self.source_path).context("opening the source")?;
        let mut encoder = CopyEncoder::new();
        while let Ok(task) = self.chunks.recv() {
            if self.stop.is_stopped() {
                return Ok(());
            }
            if tx
                .blocking_send(Message::Begin(task, Instant::now()))
                .is_err()
            {
                return Ok(()); // the writer stopped and has said why
            }
            let table = &self.tables[task.table];
            match self.read_chunk(&db, table, task.range, &mut encoder, tx)? {
                Some((done, rejects)) => {
                    if tx.blocking_send(Message::End(done, rejects)).is_err() {
                        return Ok(());
                    }
                }
                None => return Ok(()),
            }
        }
        Ok(())
    }

    /// Reads, coerces and encodes one chunk. `None` when the run is
    /// stopping (the writer then rolls the chunk back).
    fn read_chunk(
        &self,
        db: &SourceDb,
        table: &TableLoad,
        range: ChunkRange,
        encoder: &mut CopyEncoder,
        tx: &mpsc::Sender<Message>,
    ) -> Result<Option<(ChunkDone, Vec<Reject>)>> {
        let columns = &table.plan.columns;
        let fields = i16::try_from(columns.len()).context("a table has more than 32767 columns")?;
        let mut done = ChunkDone {
            rows_read: 0,
            rows_written: 0,
            rejected_rows: 0,
            bytes: 0,
        };
        let mut rejects = Vec::new();
        let mut failure: Option<anyhow::Error> = None;
        let mut halted = false;

        db.read_chunk(&table.source, range, &mut |rowid, row| {
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
                    failure = Some(
                        BadValue {
                            table: table.source.name.clone(),
                            key: table.key.key(rowid, row),
                            column: column.source_name.clone(),
                            error,
                        }
                        .into(),
                    );
                    return ControlFlow::Break(());
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
            if encoder.len() >= FLUSH_BYTES {
                done.bytes += encoder.len() as u64;
                if tx.blocking_send(Message::Data(encoder.take())).is_err() {
                    halted = true;
                    return ControlFlow::Break(());
                }
                if self.stop.is_stopped() {
                    halted = true;
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        })
        .with_context(|| format!("reading table {}", table.source.name))?;

        if let Some(err) = failure {
            encoder.take();
            return Err(err);
        }
        if halted || self.stop.is_stopped() {
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

/// Copies the chunks one reader sends, each in its own transaction. Returns
/// the client when it ends cleanly, so post-load steps can reuse it.
async fn write_chunks(
    mut client: tokio_postgres::Client,
    mut rx: mpsc::Receiver<Message>,
    tables: Arc<Vec<TableLoad>>,
    run_id: String,
    stop: Arc<Stop>,
    progress: Arc<Progress>,
) -> Option<tokio_postgres::Client> {
    while let Some(message) = rx.recv().await {
        let Message::Begin(task, started) = message else {
            stop.fail(anyhow!(
                "internal error: chunk data arrived before its start"
            ));
            return None;
        };
        let table = &tables[task.table];
        match copy_chunk(&mut client, &mut rx, table, &run_id).await {
            Ok(Some(done)) => {
                table.stats.record(&done, started);
                progress.advance(task.table, done.rows_read);
            }
            Ok(None) => return Some(client), // reader stopped mid-chunk: rolled back
            Err(err) => {
                stop.fail(err);
                return None;
            }
        }
    }
    Some(client)
}

async fn copy_chunk(
    client: &mut tokio_postgres::Client,
    rx: &mut mpsc::Receiver<Message>,
    table: &TableLoad,
    run_id: &str,
) -> Result<Option<ChunkDone>> {
    let name = &table.plan.name;
    let mut copy = ChunkCopy::begin(client, &table.plan)
        .await
        .with_context(|| format!("starting COPY into {name}"))?;
    while let Some(message) = rx.recv().await {
        match message {
            Message::Data(data) => copy
                .send(data)
                .await
                .with_context(|| format!("sending rows to {name}"))?,
            Message::End(mut done, rejects) => {
                let written = copy
                    .commit(done.rows_written, run_id, &rejects)
                    .await
                    .with_context(|| format!("committing a chunk of {name}"))?;
                done.rows_written = written;
                return Ok(Some(done));
            }
            Message::Begin(..) => return Err(anyhow!("internal error: chunk started twice")),
        }
    }
    Ok(None)
}
