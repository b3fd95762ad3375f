//! What a running job tells whoever runs it: tables starting, chunks
//! committed, phases beginning and ending, warnings. The engine never
//! prints; a command line turns events into bars and lines, and
//! [`crate::metrics::Metrics`] into Prometheus series, from the same
//! stream ([`Observers`] hands each event to both).

use std::sync::Arc;

use ferry_verifier::TableResult;

use crate::sync::TableOutcome;

/// One thing that happened during a job.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A load begins: each table's target name and the rows expected, in
    /// the order later events index them.
    LoadStarted { tables: &'a [(String, u64)] },
    /// A chunk of table `table` (an index into `LoadStarted`) committed.
    ChunkCommitted { table: usize, chunk: ChunkStats },
    /// The load is over, finished or not; what shows it can go.
    LoadFinished,
    /// A job over `count` tables begins (sync, verify); each ends with
    /// [`Event::TableSynced`] or [`Event::TableVerified`].
    TablesStarted { count: usize },
    /// A phase begins on `subject` (a table, an index; none for the whole
    /// job).
    PhaseStarted {
        phase: Phase,
        subject: Option<&'a str>,
    },
    /// The phase begun on `subject` ended; `outcome` says what it found
    /// or did, in a few words (`3 inserts, 1 delete found`).
    PhaseFinished {
        phase: Phase,
        subject: Option<&'a str>,
        outcome: &'a str,
    },
    /// `rows` more rows of source table `table` were read outside a load
    /// (verify's digests).
    RowsRead { table: &'a str, rows: u64 },
    /// A sync found a table's changes, before applying them.
    ChangesFound { table: &'a str, changes: Changes },
    /// A sync is done with a table (applied, copied or failed).
    TableSynced {
        schema: &'a str,
        outcome: &'a TableOutcome,
    },
    /// A verify is done with a table.
    TableVerified(&'a TableResult),
    /// A lost or refused connection is tried again; says why and when.
    Retry(&'a str),
    /// A note outside the rows that is no progress (a lock wait, waiting
    /// for other processes).
    Step(&'a str),
    /// Something the user should know that does not stop the job.
    Warning(&'a str),
    /// A failure of one part (a table of a sync) that the job carries past;
    /// the job's result still reports it.
    Error(&'a str),
}

impl Event<'_> {
    /// Whether the event shows the job moving on, as `/health` counts it:
    /// a lock wait, a retry or a warning is no progress.
    pub fn is_progress(&self) -> bool {
        !matches!(
            self,
            Event::Retry(_) | Event::Step(_) | Event::Warning(_) | Event::Error(_)
        )
    }
}

/// What one committed chunk moved.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ChunkStats {
    pub rows_read: u64,
    pub rows_written: u64,
    /// Rows quarantined into `ferry.rejects`.
    pub rejected: u64,
    /// Bytes of COPY data sent.
    pub bytes: u64,
    /// From the claim to the commit.
    pub seconds: f64,
}

/// The changes a sync found in one table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changes {
    /// Rows to insert or update.
    pub upserts: u64,
    pub deletes: u64,
}

/// The phases of the jobs, in about the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Taking a backup of the source (`--snapshot backup`).
    Snapshot,
    /// Creating or emptying the target's tables.
    Setup,
    /// Loading rows (copy's chunks).
    Load,
    /// Building one key, index or constraint after the load.
    Indexes,
    /// Finding a table's changes in the source (sync).
    Changes,
    /// Applying the changes of every table, in one transaction (sync).
    Apply,
    /// Checking a table's columns, types, keys and indexes (verify).
    Schema,
    /// Counting a table's rows on both sides (verify).
    Count,
    /// Reading and digesting a table's rows on both sides (verify).
    Digest,
    /// Comparing the buckets whose digests differ, row by row (verify).
    DrillDown,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Phase; 10] = [
        Phase::Snapshot,
        Phase::Setup,
        Phase::Load,
        Phase::Indexes,
        Phase::Changes,
        Phase::Apply,
        Phase::Schema,
        Phase::Count,
        Phase::Digest,
        Phase::DrillDown,
    ];

    /// Its name in metrics' `phase` label.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Snapshot => "snapshot",
            Phase::Setup => "setup",
            Phase::Load => "load",
            Phase::Indexes => "indexes",
            Phase::Changes => "changes",
            Phase::Apply => "apply",
            Phase::Schema => "schema",
            Phase::Count => "count",
            Phase::Digest => "digest",
            Phase::DrillDown => "drill_down",
        }
    }

    /// What a person reads while it runs.
    pub fn doing(self) -> &'static str {
        match self {
            Phase::Snapshot => "taking a snapshot of the source",
            Phase::Setup => "creating the tables",
            Phase::Load => "loading rows",
            Phase::Indexes => "building",
            Phase::Changes => "reading changes",
            Phase::Apply => "applying the changes",
            Phase::Schema => "checking the schema",
            Phase::Count => "counting rows",
            Phase::Digest => "digesting rows",
            Phase::DrillDown => "comparing differing buckets",
        }
    }
}

/// Receives events, from any thread.
pub trait Observer: Send + Sync {
    /// Called for every event, in order per thread.
    fn event(&self, event: Event<'_>);
}

/// Ignores every event.
pub struct Silent;

impl Observer for Silent {
    fn event(&self, _: Event<'_>) {}
}

/// Hands every event to each of several observers, in order.
pub struct Observers(pub Vec<Arc<dyn Observer>>);

impl Observer for Observers {
    fn event(&self, event: Event<'_>) {
        for observer in &self.0 {
            observer.event(event);
        }
    }
}

/// The engine's handle on the observer of one job.
#[derive(Clone)]
pub(crate) struct Progress {
    observer: Arc<dyn Observer>,
}

impl Progress {
    pub(crate) fn new(observer: Arc<dyn Observer>) -> Progress {
        Progress { observer }
    }

    /// The observer, for a job run within this one.
    pub(crate) fn observer(&self) -> Arc<dyn Observer> {
        Arc::clone(&self.observer)
    }

    pub(crate) fn emit(&self, event: Event<'_>) {
        self.observer.event(event);
    }

    /// Announces a load of `tables` (target name, rows expected).
    pub(crate) fn load_started(&self, tables: &[(String, u64)]) {
        self.emit(Event::LoadStarted { tables });
    }

    /// Records a committed chunk of table `index`.
    pub(crate) fn chunk(&self, index: usize, chunk: ChunkStats) {
        self.emit(Event::ChunkCommitted {
            table: index,
            chunk,
        });
    }

    /// Runs `work` as `phase` on `subject`, announcing its start and its
    /// end with the outcome `work` returns (a failure ends it too, as
    /// `failed`).
    pub(crate) async fn phase<T, F>(
        &self,
        phase: Phase,
        subject: Option<&str>,
        work: F,
    ) -> anyhow::Result<T>
    where
        F: std::future::Future<Output = anyhow::Result<(T, String)>>,
    {
        self.emit(Event::PhaseStarted { phase, subject });
        let (value, outcome) = work.await.inspect_err(|_| {
            self.emit(Event::PhaseFinished {
                phase,
                subject,
                outcome: "failed",
            })
        })?;
        self.emit(Event::PhaseFinished {
            phase,
            subject,
            outcome: &outcome,
        });
        Ok(value)
    }

    pub(crate) fn retry(&self, message: &str) {
        self.emit(Event::Retry(message));
    }

    pub(crate) fn step(&self, message: &str) {
        self.emit(Event::Step(message));
    }

    pub(crate) fn warning(&self, message: &str) {
        self.emit(Event::Warning(message));
    }

    pub(crate) fn error(&self, message: &str) {
        self.emit(Event::Error(message));
    }

    pub(crate) fn finish(&self) {
        self.emit(Event::LoadFinished);
    }
}

/// `1234567` as `1,234,567`, for outcomes people read.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
    }
}
