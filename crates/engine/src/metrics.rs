//! Metrics of a running job: an [`Observer`] that keeps Prometheus series
//! from the same events the progress output shows, rendered by
//! [`Metrics::render`] in the text exposition format for both an HTTP
//! `/metrics` and node_exporter's textfile collector
//! ([`write_textfile`]), and judging `/health` ([`Metrics::health`]).
//!
//! Names follow Prometheus's conventions
//! (<https://prometheus.io/docs/practices/naming/>): a `ferry_` prefix,
//! `_total` on counters, base units (`_seconds`, `_bytes`), labels
//! `table` and `phase`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use ferry_verifier::{Status, TableResult};

use crate::events::{Changes, ChunkStats, Event, Observer, Phase};
use crate::sync::TableOutcome;

/// Upper bounds of the chunk duration histogram's buckets, in seconds.
const CHUNK_BUCKETS: [f64; 11] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// The series of one job.
pub struct Metrics {
    command: &'static str,
    version: String,
    started_unix: f64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Target names of the load under way, by the index its events use.
    load: Vec<String>,
    tables: BTreeMap<String, TableSeries>,
    chunk_seconds: Histogram,
    retries: u64,
    warnings: u64,
    errors: u64,
    phase: Option<Phase>,
    /// A copy's rows are loading: keys built meanwhile (a finished table's)
    /// do not end the load phase.
    loading: bool,
    last_progress: Option<Instant>,
    /// The last note (a lock wait, a retry), for `/health`'s reason.
    last_note: Option<String>,
    changes: BTreeMap<String, Changes>,
    synced: BTreeMap<String, (String, TableOutcome)>,
    verified: BTreeMap<String, Verified>,
    /// `Some(success)` once the job ended.
    finished: Option<bool>,
}

/// A per-table family: name, help, type, and its value of a table.
type Family = (
    &'static str,
    &'static str,
    &'static str,
    fn(&TableSeries) -> Option<u64>,
);

#[derive(Default)]
struct TableSeries {
    expected: Option<u64>,
    rows_read: u64,
    rows_written: u64,
    rejected: u64,
    bytes: u64,
}

struct Verified {
    passed: bool,
    checked: u64,
    missing: u64,
    extra: u64,
    changed: u64,
}

#[derive(Default)]
struct Histogram {
    /// Observations at or below each bound of [`CHUNK_BUCKETS`].
    buckets: [u64; CHUNK_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, value: f64) {
        for (bucket, bound) in self.buckets.iter_mut().zip(CHUNK_BUCKETS) {
            if value <= bound {
                *bucket += 1;
            }
        }
        self.count += 1;
        self.sum += value;
    }
}

impl Metrics {
    /// Series for a run of `command` (`copy`, `sync`, `verify`) by ferry
    /// `version`, starting now.
    pub fn new(command: &'static str, version: &str) -> Metrics {
        Metrics {
            command,
            version: version.to_owned(),
            started_unix: unix_now(),
            state: Mutex::new(State {
                last_progress: Some(Instant::now()),
                ..State::default()
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records how the job ended.
    pub fn finish(&self, success: bool) {
        let mut state = self.state();
        state.finished = Some(success);
        state.phase = None;
    }

    /// Whether the job got as far as its tables: a run that did not (a
    /// refused connection, another sync holding the lock) should leave a
    /// textfile of an earlier run alone.
    pub fn reached_tables(&self) -> bool {
        let state = self.state();
        !state.tables.is_empty() || !state.synced.is_empty() || !state.verified.is_empty()
    }

    /// `Ok` while the job makes progress; `Err` with the reason once no
    /// progress was seen for longer than `stall_after`.
    pub fn health(&self, stall_after: Duration) -> Result<(), String> {
        let state = self.state();
        let idle = state
            .last_progress
            .map_or(Duration::ZERO, |at| at.elapsed());
        if idle <= stall_after {
            return Ok(());
        }
        let mut reason = format!(
            "no progress for {}s (more than {}s)",
            idle.as_secs(),
            stall_after.as_secs()
        );
        if let Some(phase) = state.phase {
            let _ = write!(reason, " in phase {}", phase.name());
        }
        if let Some(note) = &state.last_note {
            let _ = write!(reason, "; last: {note}");
        }
        Err(reason)
    }

    /// The Prometheus text exposition of every series.
    pub fn render(&self) -> String {
        let state = self.state();
        let mut out = Exposition::default();
        out.family(
            "ferry_info",
            "The running command and ferry's version; always 1.",
            "gauge",
        );
        out.sample(
            "ferry_info",
            &[("command", self.command), ("version", &self.version)],
            1,
        );
        out.single(
            "ferry_start_time_seconds",
            "Unix time the run started.",
            "gauge",
            format!("{:.3}", self.started_unix),
        );
        out.family(
            "ferry_phase",
            "1 for the phase the run is in, 0 for the others.",
            "gauge",
        );
        for phase in Phase::ALL {
            out.sample(
                "ferry_phase",
                &[("phase", phase.name())],
                u8::from(state.phase == Some(phase)),
            );
        }
        let idle = state
            .last_progress
            .map_or(0.0, |at| at.elapsed().as_secs_f64());
        out.single(
            "ferry_last_progress_time_seconds",
            "Unix time the run last made progress (a chunk, a phase, a table).",
            "gauge",
            format!("{:.3}", unix_now() - idle),
        );
        if let Some(success) = state.finished {
            out.single(
                "ferry_success",
                "1 if the run ended without an error, 0 if not.",
                "gauge",
                u8::from(success),
            );
        }
        out.single(
            "ferry_retries_total",
            "Connections tried again after being lost or refused.",
            "counter",
            state.retries,
        );
        out.single(
            "ferry_warnings_total",
            "Warnings the run gave.",
            "counter",
            state.warnings,
        );
        out.single(
            "ferry_errors_total",
            "Errors of single tables the run carried past.",
            "counter",
            state.errors,
        );
        self.render_tables(&state, &mut out);
        render_chunks(&state.chunk_seconds, &mut out);
        render_sync(&state, &mut out);
        render_verify(&state, &mut out);
        out.text
    }

    fn render_tables(&self, state: &State, out: &mut Exposition) {
        let tables = &state.tables;
        let families: [Family; 5] = [
            (
                "ferry_rows_expected",
                "Rows the source table holds, to be loaded.",
                "gauge",
                |t| t.expected,
            ),
            (
                "ferry_rows_read_total",
                "Rows read from the source table.",
                "counter",
                |t| Some(t.rows_read),
            ),
            (
                "ferry_rows_written_total",
                "Rows committed into the target table.",
                "counter",
                |t| Some(t.rows_written),
            ),
            (
                "ferry_rows_rejected_total",
                "Rows quarantined into ferry.rejects.",
                "counter",
                |t| Some(t.rejected),
            ),
            (
                "ferry_written_bytes_total",
                "Bytes of COPY data sent for the table.",
                "counter",
                |t| Some(t.bytes),
            ),
        ];
        for (name, help, kind, value) in families {
            let samples: Vec<(&String, u64)> = tables
                .iter()
                .filter_map(|(table, series)| value(series).map(|v| (table, v)))
                .collect();
            if samples.is_empty() {
                continue;
            }
            out.family(name, help, kind);
            for (table, value) in samples {
                out.sample(name, &[("table", table)], value);
            }
        }
    }
}

fn render_chunks(histogram: &Histogram, out: &mut Exposition) {
    if histogram.count == 0 {
        return;
    }
    let name = "ferry_chunk_duration_seconds";
    out.family(
        name,
        "Seconds from claiming a chunk to its commit.",
        "histogram",
    );
    for (bound, count) in CHUNK_BUCKETS.iter().zip(histogram.buckets) {
        out.sample(
            &format!("{name}_bucket"),
            &[("le", &bound.to_string())],
            count,
        );
    }
    out.sample(
        &format!("{name}_bucket"),
        &[("le", "+Inf")],
        histogram.count,
    );
    out.sample(&format!("{name}_sum"), &[], format!("{:.6}", histogram.sum));
    out.sample(&format!("{name}_count"), &[], histogram.count);
}

/// The series of sync's tables: what it found and, per table done, the
/// outcome (the names `ferry sync --metrics-textfile` has always written).
fn render_sync(state: &State, out: &mut Exposition) {
    if !state.changes.is_empty() {
        out.family(
            "ferry_sync_changes",
            "Changes this run found in the source table, to apply.",
            "gauge",
        );
        for (table, changes) in &state.changes {
            for (kind, n) in [("upsert", changes.upserts), ("delete", changes.deletes)] {
                out.sample("ferry_sync_changes", &[("table", table), ("kind", kind)], n);
            }
        }
    }
    let synced = &state.synced;
    if synced.is_empty() {
        return;
    }
    let labels = |schema: &str, t: &TableOutcome| {
        [("schema", schema.to_owned()), ("table", t.table.clone())]
    };
    out.family(
        "ferry_sync_last_success_timestamp_seconds",
        "Unix time of the last successful sync of the table.",
        "gauge",
    );
    for (schema, t) in synced.values() {
        if let Some(at) = t.last_success_unix {
            out.sample_owned(
                "ferry_sync_last_success_timestamp_seconds",
                &labels(schema, t),
                format!("{at:.3}"),
            );
        }
    }
    out.family(
        "ferry_sync_lag_seconds",
        "Seconds since the table's last successful sync, as of this scrape or write.",
        "gauge",
    );
    let now = unix_now();
    for (schema, t) in synced.values() {
        if let Some(at) = t.last_success_unix {
            out.sample_owned(
                "ferry_sync_lag_seconds",
                &labels(schema, t),
                format!("{:.3}", (now - at).max(0.0)),
            );
        }
    }
    out.family(
        "ferry_sync_rows",
        "Rows the last run inserted, updated, deleted, found unchanged or quarantined.",
        "gauge",
    );
    for (schema, t) in synced.values() {
        for (kind, n) in [
            ("inserted", t.inserted),
            ("updated", t.updated),
            ("deleted", t.deleted),
            ("unchanged", t.unchanged),
            ("rejected", t.rejected),
        ] {
            let [schema, table] = labels(schema, t);
            out.sample_owned(
                "ferry_sync_rows",
                &[schema, table, ("kind", kind.to_owned())],
                n,
            );
        }
    }
    out.family(
        "ferry_sync_duration_seconds",
        "Seconds the last run spent on the table.",
        "gauge",
    );
    for (schema, t) in synced.values() {
        out.sample_owned(
            "ferry_sync_duration_seconds",
            &labels(schema, t),
            format!("{:.3}", t.seconds),
        );
    }
    out.family(
        "ferry_sync_success",
        "1 if the last run synced the table, 0 if it failed.",
        "gauge",
    );
    for (schema, t) in synced.values() {
        out.sample_owned(
            "ferry_sync_success",
            &labels(schema, t),
            u8::from(t.success),
        );
    }
}

fn render_verify(state: &State, out: &mut Exposition) {
    if state.verified.is_empty() {
        return;
    }
    out.family(
        "ferry_verify_passed",
        "1 if the table matched the source, 0 if it differed or could not be compared.",
        "gauge",
    );
    for (table, v) in &state.verified {
        out.sample(
            "ferry_verify_passed",
            &[("table", table)],
            u8::from(v.passed),
        );
    }
    out.family(
        "ferry_verify_rows",
        "Rows of the table compared, and those missing, extra or changed in the target.",
        "gauge",
    );
    for (table, v) in &state.verified {
        for (kind, n) in [
            ("checked", v.checked),
            ("missing", v.missing),
            ("extra", v.extra),
            ("changed", v.changed),
        ] {
            out.sample("ferry_verify_rows", &[("table", table), ("kind", kind)], n);
        }
    }
}

impl Observer for Metrics {
    fn event(&self, event: Event<'_>) {
        let mut state = self.state();
        if event.is_progress() {
            state.last_progress = Some(Instant::now());
            state.last_note = None;
        }
        match event {
            Event::LoadStarted { tables } => {
                state.phase = Some(Phase::Load);
                state.loading = true;
                state.load = tables.iter().map(|(name, _)| name.clone()).collect();
                for (name, rows) in tables {
                    state.tables.entry(name.clone()).or_default().expected = Some(*rows);
                }
            }
            Event::ChunkCommitted { table, chunk } => {
                let ChunkStats {
                    rows_read,
                    rows_written,
                    rejected,
                    bytes,
                    seconds,
                } = chunk;
                state.chunk_seconds.observe(seconds);
                if let Some(name) = state.load.get(table).cloned() {
                    let series = state.tables.entry(name).or_default();
                    series.rows_read += rows_read;
                    series.rows_written += rows_written;
                    series.rejected += rejected;
                    series.bytes += bytes;
                }
            }
            Event::RowsRead { table, rows } => {
                state.tables.entry(table.to_owned()).or_default().rows_read += rows;
            }
            Event::PhaseStarted {
                phase: Phase::Indexes,
                ..
            } if state.loading => {}
            Event::PhaseStarted { phase, .. } => state.phase = Some(phase),
            // Every chunk committed: what is left of a copy is keys,
            // indexes and constraints.
            Event::LoadFinished => {
                state.loading = false;
                if state.phase == Some(Phase::Load) {
                    state.phase = Some(Phase::Indexes);
                }
            }
            Event::ChangesFound { table, changes } => {
                state.changes.insert(table.to_owned(), changes);
            }
            Event::TableSynced { schema, outcome } => {
                state
                    .synced
                    .insert(outcome.table.clone(), (schema.to_owned(), outcome.clone()));
            }
            Event::TableVerified(result) => {
                state
                    .verified
                    .insert(result.table.clone(), Verified::of(result));
            }
            Event::Retry(note) => {
                state.retries += 1;
                state.last_note = Some(note.to_owned());
            }
            Event::Step(note) => state.last_note = Some(note.to_owned()),
            Event::Warning(_) => state.warnings += 1,
            Event::Error(_) => state.errors += 1,
            Event::TablesStarted { .. } | Event::PhaseFinished { .. } => {}
        }
    }
}

impl Verified {
    fn of(result: &TableResult) -> Verified {
        Verified {
            passed: result.status == Status::Pass,
            checked: result.checked_rows,
            missing: result.missing,
            extra: result.extra,
            changed: result.changed,
        }
    }
}

/// Text in the exposition format
/// (<https://prometheus.io/docs/instrumenting/exposition_formats/>).
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, help: &str, kind: &str) {
        let _ = write!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{label}=\"{}\"", escape_label(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    fn sample_owned(
        &mut self,
        name: &str,
        labels: &[(&str, String)],
        value: impl std::fmt::Display,
    ) {
        let labels: Vec<(&str, &str)> = labels.iter().map(|(l, v)| (*l, v.as_str())).collect();
        self.sample(name, &labels, value);
    }

    /// A family of one unlabelled sample.
    fn single(&mut self, name: &str, help: &str, kind: &str, value: impl std::fmt::Display) {
        self.family(name, help, kind);
        self.sample(name, &[], value);
    }
}

/// Label values escape `\`, `"` and newlines.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// Writes `text` to `path` so that a reader (node_exporter's textfile
/// collector) sees the old file or the new one, never half of one:
/// `PATH.tmp` beside it, fsync, rename.
pub fn write_textfile(path: &Path, text: &str) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().with_context(|| format!("writing the metrics file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(name: &str, success: bool) -> TableOutcome {
        TableOutcome {
            table: name.into(),
            target: format!("app.{name}"),
            mode: "cursor".into(),
            action: "incremental".into(),
            inserted: 3,
            updated: 2,
            deleted: 1,
            unchanged: 0,
            rejected: 0,
            seconds: 0.25,
            watermark: None,
            success,
            error: (!success).then(|| "boom".into()),
            notes: Vec::new(),
            last_success_unix: success.then_some(1_700_000_000.0),
        }
    }

    /// Every sample line is `name{labels} number`, under its family's
    /// `# TYPE`.
    fn assert_well_formed(text: &str) {
        let mut family = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                family = rest.split(' ').next().unwrap().to_owned();
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').unwrap();
            value.parse::<f64>().unwrap_or_else(|_| panic!("{line}"));
            assert!(series.starts_with(&family), "{line} outside {family}");
        }
    }

    #[test]
    fn a_copy_counts_rows_bytes_and_chunk_durations_per_table() {
        let metrics = Metrics::new("copy", "0.1.0");
        let tables = [("users".to_owned(), 10), ("we\"ird\n".to_owned(), 5)];
        metrics.event(Event::LoadStarted { tables: &tables });
        let chunk = ChunkStats {
            rows_read: 4,
            rows_written: 3,
            rejected: 1,
            bytes: 100,
            seconds: 0.3,
        };
        metrics.event(Event::ChunkCommitted { table: 0, chunk });
        metrics.event(Event::ChunkCommitted { table: 0, chunk });
        metrics.event(Event::Retry("connection lost"));
        // A finished table's keys, built while the others load.
        metrics.event(Event::PhaseStarted {
            phase: Phase::Indexes,
            subject: Some("index of the primary key users_pkey on public.users (id)"),
        });
        let text = metrics.render();
        assert_well_formed(&text);
        for expected in [
            "ferry_info{command=\"copy\",version=\"0.1.0\"} 1\n",
            "ferry_phase{phase=\"load\"} 1\n",
            "ferry_phase{phase=\"indexes\"} 0\n",
            "ferry_rows_expected{table=\"we\\\"ird\\n\"} 5\n",
            "ferry_rows_read_total{table=\"users\"} 8\n",
            "ferry_rows_written_total{table=\"users\"} 6\n",
            "ferry_rows_rejected_total{table=\"users\"} 2\n",
            "ferry_written_bytes_total{table=\"users\"} 200\n",
            "ferry_chunk_duration_seconds_bucket{le=\"0.25\"} 0\n",
            "ferry_chunk_duration_seconds_bucket{le=\"0.5\"} 2\n",
            "ferry_chunk_duration_seconds_bucket{le=\"+Inf\"} 2\n",
            "ferry_chunk_duration_seconds_count 2\n",
            "ferry_retries_total 1\n",
            "# TYPE ferry_rows_read_total counter\n",
        ] {
            assert!(text.contains(expected), "{expected} not in\n{text}");
        }
        assert!(!text.contains("ferry_success"), "{text}");
        metrics.event(Event::LoadFinished);
        let text = metrics.render();
        assert!(text.contains("ferry_phase{phase=\"load\"} 0\n"), "{text}");
        assert!(
            text.contains("ferry_phase{phase=\"indexes\"} 1\n"),
            "{text}"
        );
        metrics.finish(true);
        let text = metrics.render();
        assert!(text.contains("ferry_success 1\n"), "{text}");
        assert!(text.contains("ferry_phase{phase=\"load\"} 0\n"), "{text}");
    }

    #[test]
    fn a_sync_keeps_its_per_table_series() {
        let metrics = Metrics::new("sync", "0.1.0");
        assert!(!metrics.reached_tables());
        metrics.event(Event::ChangesFound {
            table: "emails",
            changes: Changes {
                upserts: 5,
                deletes: 1,
            },
        });
        for outcome in [outcome("emails", true), outcome("bad", false)] {
            metrics.event(Event::TableSynced {
                schema: "app",
                outcome: &outcome,
            });
        }
        assert!(metrics.reached_tables());
        let text = metrics.render();
        assert_well_formed(&text);
        for expected in [
            "ferry_sync_changes{table=\"emails\",kind=\"upsert\"} 5\n",
            "ferry_sync_rows{schema=\"app\",table=\"emails\",kind=\"inserted\"} 3\n",
            "ferry_sync_success{schema=\"app\",table=\"bad\"} 0\n",
            "ferry_sync_last_success_timestamp_seconds{schema=\"app\",table=\"emails\"} 1700000000.000\n",
            "ferry_sync_duration_seconds{schema=\"app\",table=\"emails\"} 0.250\n",
            "ferry_sync_lag_seconds{schema=\"app\",table=\"emails\"} ",
        ] {
            assert!(text.contains(expected), "{expected} not in\n{text}");
        }
        assert!(!text.contains("last_success_timestamp_seconds{schema=\"app\",table=\"bad\"}"));
    }

    #[test]
    fn a_verify_says_per_table_what_differs() {
        let metrics = Metrics::new("verify", "0.1.0");
        let mut result = TableResult::new("users", "public.users");
        result.status = Status::Fail;
        result.checked_rows = 10;
        result.missing = 2;
        metrics.event(Event::RowsRead {
            table: "users",
            rows: 10,
        });
        metrics.event(Event::TableVerified(&result));
        let text = metrics.render();
        assert_well_formed(&text);
        assert!(
            text.contains("ferry_verify_passed{table=\"users\"} 0\n"),
            "{text}"
        );
        assert!(text.contains("ferry_verify_rows{table=\"users\",kind=\"missing\"} 2\n"));
        assert!(text.contains("ferry_rows_read_total{table=\"users\"} 10\n"));
    }

    #[test]
    fn health_fails_after_the_threshold_with_the_last_note() {
        let metrics = Metrics::new("copy", "0.1.0");
        metrics.event(Event::PhaseStarted {
            phase: Phase::Setup,
            subject: None,
        });
        assert_eq!(metrics.health(Duration::from_secs(60)), Ok(()));
        // A lock wait is a note, not progress.
        metrics.event(Event::Step("waiting for a lock on public.t"));
        std::thread::sleep(Duration::from_millis(20));
        let reason = metrics.health(Duration::ZERO).unwrap_err();
        assert!(reason.contains("in phase setup"), "{reason}");
        assert!(
            reason.ends_with("last: waiting for a lock on public.t"),
            "{reason}"
        );
        metrics.event(Event::PhaseFinished {
            phase: Phase::Setup,
            subject: None,
            outcome: "done",
        });
        assert_eq!(metrics.health(Duration::from_secs(60)), Ok(()));
    }

    #[test]
    fn files_are_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ferry.prom");
        write_textfile(&path, "a 1\n").unwrap();
        write_textfile(&path, "a 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a 2\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
