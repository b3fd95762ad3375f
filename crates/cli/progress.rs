//! Progress: the engine's events on stderr. On a terminal, one overall bar
//! (rows, rate, ETA) above a bar per table, rates in human numbers
//! (`1.9M rows/s`), a table that has not started shown as waiting and a
//! finished one collapsed into its summary line; off a terminal, one line
//! per finished table and phase. `--quiet` shows errors only.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use ferry_engine::events::{Event, Observer};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::scrub::say;

/// Shows the events of one command on stderr.
pub struct Progress {
    quiet: bool,
    load: Mutex<Option<Load>>,
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

impl Progress {
    /// `quiet`: errors only.
    pub fn new(quiet: bool) -> Progress {
        Progress {
            quiet,
            load: Mutex::new(None),
        }
    }
}

impl Observer for Progress {
    fn event(&self, event: Event<'_>) {
        let mut load = self.load.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::Error(message) => say!("ferry: error: {message}"),
            _ if self.quiet => {}
            Event::LoadStarted { tables } => *load = Some(Load::new(tables)),
            Event::RowsCommitted { table, rows } => {
                if let Some(load) = load.as_ref() {
                    load.advance(table, rows);
                }
            }
            Event::Step(message) => match load.as_ref().and_then(|l| l.overall.as_ref()) {
                Some(bar) => bar.println(format!("ferry: {message}")),
                None => say!("ferry: {message}"),
            },
            Event::Warning(message) => say!("ferry: warning: {message}"),
            Event::LoadFinished => {
                if let Some(load) = load.take() {
                    load.finish();
                }
            }
        }
    }
}

impl Load {
    /// Bars when stderr is a terminal, else one line per finished table.
    fn new(tables: &[(String, u64)]) -> Load {
        let multi = std::io::stderr()
            .is_terminal()
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        let total: u64 = tables.iter().map(|(_, rows)| rows).sum();
        let overall = multi.as_ref().map(|m| {
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
                bar: multi.as_ref().map(|m| {
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
    let rate = if seconds > 0.0 {
        rows as f64 / seconds
    } else {
        0.0
    };
    format!(
        "{} rows loaded in {seconds:.1}s ({})",
        indicatif::HumanCount(rows),
        rows_per_second(rate)
    )
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
}
