//! What a running job tells whoever runs it: tables starting, rows
//! committed, phases, warnings. The engine never prints; a command line
//! turns events into bars and lines, a service into metrics or logs.

use std::sync::Arc;

/// One thing that happened during a job.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A load begins: each table's target name and the rows expected, in
    /// the order later events index them.
    LoadStarted { tables: &'a [(String, u64)] },
    /// `rows` more rows of table `table` (an index into `LoadStarted`)
    /// were committed.
    RowsCommitted { table: usize, rows: u64 },
    /// A phase or step outside the rows (snapshot, index builds, waits).
    Step(&'a str),
    /// Something the user should know that does not stop the job.
    Warning(&'a str),
    /// A failure of one part (a table of a sync) that the job carries past;
    /// the job's result still reports it.
    Error(&'a str),
    /// The load is over, finished or not; what shows it can go.
    LoadFinished,
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

    /// Announces a load of `tables` (target name, rows expected).
    pub(crate) fn load_started(&self, tables: &[(String, u64)]) {
        self.observer.event(Event::LoadStarted { tables });
    }

    /// Records `rows` more committed rows of table `index`.
    pub(crate) fn advance(&self, index: usize, rows: u64) {
        self.observer
            .event(Event::RowsCommitted { table: index, rows });
    }

    pub(crate) fn step(&self, message: &str) {
        self.observer.event(Event::Step(message));
    }

    pub(crate) fn warning(&self, message: &str) {
        self.observer.event(Event::Warning(message));
    }

    pub(crate) fn error(&self, message: &str) {
        self.observer.event(Event::Error(message));
    }

    pub(crate) fn finish(&self) {
        self.observer.event(Event::LoadFinished);
    }
}
