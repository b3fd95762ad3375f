//! Progress: the engine's events on stderr. On a terminal, one overall bar
//! (a copy's rows, rate and ETA; a sync's or verify's tables) above a bar
//! per table being loaded and a line per phase under way (snapshot,
//! setup, each index built, a sync's changes and apply, a verify's schema,
//! counts, digests with rows/s and drill-down), rates in human numbers
//! (`1.9M rows/s`); a table not started shows as waiting, and a finished
//! table collapses into its summary line. Off a terminal, one line per
//! finished phase and table. `--quiet` shows errors only.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ferry_engine::events::{thousands, Event, Observer, Phase};
use ferry_engine::sync::TableOutcome;
use ferry_engine::verify::{Status, TableVerdict};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::scrub::say;

/// Shows the events of one command on stderr.
pub struct Progress {
    quiet: bool,
    /// Where bars go; `None` off a terminal.
    multi: Option<MultiProgress>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    load: Option<Load>,
    /// A sync's or verify's tables: done of all.
    tables: Option<ProgressBar>,
    phases: HashMap<(Phase, Option<String>), PhaseLine>,
}

/// The tables of the load under way.
struct Load {
    tables: Vec<TableProgress>,
    overall: Option<ProgressBar>,
    started: Instant,
}

struct TableProgress {
    name: String,
    total: u64,
    done: AtomicU64,
    bar: Option<ProgressBar>,
}

/// A phase under way.
struct PhaseLine {
    started: Instant,
    rows: u64,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// `quiet`: errors only.
    pub fn new(quiet: bool) -> Progress {
        Progress {
            quiet,
            multi: (!quiet && std::io::stderr().is_terminal())
                .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            state: Mutex::new(State::default()),
        }
    }

    /// A line above the bars, or on its own off a terminal.
    fn line(&self, text: String) {
        match &self.multi {
            Some(multi) => {
                let _ = multi.println(text);
            }
            None => say!("{text}"),
        }
    }
}

impl Observer for Progress {
    fn event(&self, event: Event<'_>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::Error(message) => say!("ferry: error: {message}"),
            _ if self.quiet => {}
            Event::LoadStarted { tables } => {
                state.load = Some(Load::new(self.multi.as_ref(), tables));
            }
            Event::ChunkCommitted { table, chunk } => {
                if let Some(load) = state.load.as_ref() {
                    load.advance(table, chunk.rows_read);
                }
            }
            Event::LoadFinished => {
                if let Some(load) = state.load.take() {
                    load.finish();
                }
            }
            Event::TablesStarted { count } => {
                if let Some(old) = state.tables.take() {
                    old.finish_and_clear();
                }
                state.tables = self.multi.as_ref().map(|multi| {
                    let bar = multi.insert(0, ProgressBar::new(count as u64));
                    bar.set_style(style(
                        "{prefix:>20} [{bar:30}] {pos}/{len} tables, {elapsed} elapsed",
                    ));
                    bar.set_prefix("all tables");
                    bar
                });
            }
            Event::PhaseStarted { phase, subject } => {
                let bar = self.multi.as_ref().map(|multi| {
                    let bar = multi.add(ProgressBar::new_spinner());
                    bar.set_style(style("{spinner} {msg} {elapsed}"));
                    bar.set_message(format!("{}: {}…", label(phase, subject), phase.doing()));
                    bar.enable_steady_tick(Duration::from_millis(200));
                    bar
                });
                let line = PhaseLine {
                    started: Instant::now(),
                    rows: 0,
                    bar,
                };
                state
                    .phases
                    .insert((phase, subject.map(str::to_owned)), line);
            }
            Event::RowsRead { table, rows } => {
                let key = (Phase::Digest, Some(table.to_owned()));
                if let Some(line) = state.phases.get_mut(&key) {
                    line.rows += rows;
                    if let Some(bar) = &line.bar {
                        if bar.position() == 0 {
                            bar.set_style(style(
                                "{spinner} {msg} {human_pos} rows, {rate}, {elapsed}",
                            ));
                        }
                        bar.inc(rows);
                    }
                }
            }
            Event::PhaseFinished {
                phase,
                subject,
                outcome,
            } => {
                let Some(line) = state.phases.remove(&(phase, subject.map(str::to_owned))) else {
                    return;
                };
                let seconds = line.started.elapsed().as_secs_f64();
                let mut text = format!(
                    "ferry: {}: {outcome} in {seconds:.1}s",
                    label(phase, subject)
                );
                if line.rows > 0 {
                    text.push_str(&format!(" ({})", rows_per_second(rate(line.rows, seconds))));
                }
                match line.bar {
                    // A table's phases collapse into its summary line.
                    Some(bar) if subject.is_some() => bar.finish_and_clear(),
                    Some(bar) => {
                        bar.set_style(style("{msg}"));
                        bar.finish_with_message(text);
                    }
                    None => say!("{text}"),
                }
            }
            Event::TableSynced { outcome, .. } => {
                self.line(format!("ferry: {}: {}", outcome.table, synced(outcome)));
                table_done(&state);
            }
            Event::TableVerified(result) => {
                self.line(format!("ferry: {}: {}", result.table, verified(result)));
                table_done(&state);
            }
            Event::ChangesFound { .. } => {}
            Event::Retry(message) | Event::Step(message) => self.line(format!("ferry: {message}")),
            Event::Warning(message) => self.line(format!("ferry: warning: {message}")),
        }
    }
}

impl Drop for Progress {
    /// Bars a failed run left are cleared before its error is printed.
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        for bar in state
            .tables
            .iter()
            .chain(state.phases.values().filter_map(|p| p.bar.as_ref()))
        {
            bar.finish_and_clear();
        }
        if let Some(load) = state.load.take() {
            load.finish();
        }
    }
}

/// One more table of a sync or verify is done.
fn table_done(state: &State) {
    if let Some(bar) = &state.tables {
        bar.inc(1);
        if bar.position() >= bar.length().unwrap_or(0) {
            bar.finish_and_clear();
        }
    }
}

/// What a phase line is about: `users count`, `snapshot`, or an index
/// step's own description.
fn label(phase: Phase, subject: Option<&str>) -> String {
    let name = phase.name().replace('_', "-");
    match (phase, subject) {
        (Phase::Indexes, Some(step)) => step.to_owned(),
        (_, Some(subject)) => format!("{subject} {name}"),
        (_, None) => name,
    }
}

/// `3 inserted, 1 updated, 0 deleted (incremental) in 0.1s`.
fn synced(t: &TableOutcome) -> String {
    if !t.success {
        return format!("failed after {:.1}s", t.seconds);
    }
    format!(
        "{} inserted, {} updated, {} deleted ({}) in {:.1}s",
        thousands(t.inserted),
        thousands(t.updated),
        thousands(t.deleted),
        t.action,
        t.seconds
    )
}

/// `pass, 1,000 rows compared in 0.2s (5.0k rows/s)`.
fn verified(t: &TableVerdict) -> String {
    let verdict = match t.status {
        Status::Pass => "pass",
        Status::Fail => "FAIL",
        Status::Error => "ERROR",
    };
    format!(
        "{verdict}, {} rows compared in {:.1}s ({})",
        thousands(t.checked_rows),
        t.seconds,
        rows_per_second(rate(t.checked_rows, t.seconds))
    )
}

impl Load {
    /// Bars when stderr is a terminal, else one line per finished table.
    fn new(multi: Option<&MultiProgress>, tables: &[(String, u64)]) -> Load {
        let total: u64 = tables.iter().map(|(_, rows)| rows).sum();
        let overall = multi.map(|m| {
            let bar = m.add(ProgressBar::new(total));
            bar.set_style(style(
                "{prefix:>20} [{bar:30}] {human_pos}/{human_len} rows {rate} ETA {eta}",
            ));
            bar.set_prefix("all tables");
            bar
        });
        let tables = tables
            .iter()
            .map(|(name, total)| TableProgress {
                name: name.clone(),
                total: *total,
                done: AtomicU64::new(0),
                bar: multi.map(|m| {
                    let bar = m.add(ProgressBar::new(*total));
                    bar.set_style(style("{prefix:>20} waiting ({human_len} rows)"));
                    bar.set_prefix(name.clone());
                    bar
                }),
            })
            .collect();
        Load {
            tables,
            overall,
            started: Instant::now(),
        }
    }

    fn advance(&self, index: usize, rows: u64) {
        let Some(table) = self.tables.get(index) else {
            return;
        };
        let before = table.done.fetch_add(rows, Ordering::Relaxed);
        let done = before + rows;
        if let Some(overall) = &self.overall {
            overall.inc(rows);
        }
        let finished = done >= table.total;
        match &table.bar {
            Some(bar) => {
                if before == 0 {
                    bar.reset_elapsed();
                    bar.set_style(style(
                        "{prefix:>20} [{bar:30}] {human_pos}/{human_len} rows {rate} ETA {eta}",
                    ));
                }
                bar.inc(rows);
                if finished {
                    bar.set_style(style("{prefix:>20} {msg}"));
                    bar.finish_with_message(summary(done, bar.elapsed().as_secs_f64()));
                }
            }
            None if finished => say!(
                "ferry: {}: {}",
                table.name,
                summary(done, self.started.elapsed().as_secs_f64())
            ),
            None => {}
        }
    }

    /// Removes the bars before the summary is printed.
    fn finish(self) {
        for bar in self
            .tables
            .iter()
            .filter_map(|t| t.bar.as_ref())
            .chain(&self.overall)
        {
            bar.finish_and_clear();
        }
    }
}

/// A bar style with `{rate}`: rows per second in human numbers.
fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("valid progress template")
        .progress_chars("=> ")
        .with_key(
            "rate",
            |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{}", rows_per_second(state.per_sec()));
            },
        )
}

/// `1,234 rows loaded in 0.5s (2.5k rows/s)`.
fn summary(rows: u64, seconds: f64) -> String {
    format!(
        "{} rows loaded in {seconds:.1}s ({})",
        indicatif::HumanCount(rows),
        rows_per_second(rate(rows, seconds))
    )
}

fn rate(rows: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        rows as f64 / seconds
    } else {
        0.0
    }
}

/// `950 rows/s`, `12.3k rows/s`, `1.9M rows/s`.
fn rows_per_second(rate: f64) -> String {
    let (value, unit) = if rate >= 1e9 {
        (rate / 1e9, "G")
    } else if rate >= 1e6 {
        (rate / 1e6, "M")
    } else if rate >= 1e3 {
        (rate / 1e3, "k")
    } else {
        return format!("{rate:.0} rows/s");
    };
    format!("{value:.1}{unit} rows/s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_as_people_say_them() {
        assert_eq!(rows_per_second(0.0), "0 rows/s");
        assert_eq!(rows_per_second(950.4), "950 rows/s");
        assert_eq!(rows_per_second(12_345.0), "12.3k rows/s");
        assert_eq!(rows_per_second(1_891_045.950_4), "1.9M rows/s");
        assert_eq!(
            summary(2_000_000, 1.0),
            "2,000,000 rows loaded in 1.0s (2.0M rows/s)"
        );
    }

    #[test]
    fn phase_lines_name_their_table_or_index() {
        assert_eq!(label(Phase::Snapshot, None), "snapshot");
        assert_eq!(label(Phase::DrillDown, Some("users")), "users drill-down");
        assert_eq!(
            label(Phase::Indexes, Some("unique index users_email_key")),
            "unique index users_email_key"
        );
    }
}
