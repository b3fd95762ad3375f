//! Progress: the engine's events as a bar per table on a terminal, plain
//! lines otherwise; warnings and errors as `ferry: …` lines.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use ferry_engine::events::{Event, Observer};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::scrub::say;

/// Shows the events of one command on stderr.
#[derive(Default)]
pub struct Progress {
    load: Mutex<Option<Load>>,
}

/// The tables of the load under way.
struct Load {
    tables: Vec<TableProgress>,
    started: Instant,
}

struct TableProgress {
    name: String,
    total: u64,
    done: AtomicU64,
    bar: Option<ProgressBar>,
}

impl Observer for Progress {
    fn event(&self, event: Event<'_>) {
        let mut load = self.load.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::LoadStarted { tables } => *load = Some(Load::new(tables)),
            Event::RowsCommitted { table, rows } => {
                if let Some(load) = load.as_ref() {
                    load.advance(table, rows);
                }
            }
            Event::Step(message) => match load.as_ref().and_then(Load::any_bar) {
                Some(bar) => bar.println(format!("ferry: {message}")),
                None => say!("ferry: {message}"),
            },
            Event::Warning(message) => say!("ferry: warning: {message}"),
            Event::Error(message) => say!("ferry: error: {message}"),
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
        let style = ProgressStyle::with_template(
            "{prefix:>20} [{bar:30}] {human_pos}/{human_len} rows {per_sec} ETA {eta}",
        )
        .expect("valid progress template")
        .progress_chars("=> ");
        let tables = tables
            .iter()
            .map(|(name, total)| TableProgress {
                name: name.clone(),
                total: *total,
                done: AtomicU64::new(0),
                bar: multi.as_ref().map(|m| {
                    let bar = m.add(ProgressBar::new(*total));
                    bar.set_style(style.clone());
                    bar.set_prefix(name.clone());
                    bar
                }),
            })
            .collect();
        Load {
            tables,
            started: Instant::now(),
        }
    }

    fn advance(&self, index: usize, rows: u64) {
        let Some(table) = self.tables.get(index) else {
            return;
        };
        let done = table.done.fetch_add(rows, Ordering::Relaxed) + rows;
        match &table.bar {
            Some(bar) => {
                bar.inc(rows);
                if done >= table.total {
                    bar.finish();
                }
            }
            None if done >= table.total => say!(
                "ferry: {}: {} rows loaded ({:.1}s)",
                table.name,
                done,
                self.started.elapsed().as_secs_f64()
            ),
            None => {}
        }
    }

    fn any_bar(&self) -> Option<&ProgressBar> {
        self.tables.iter().find_map(|t| t.bar.as_ref())
    }

    /// Removes the bars before the summary is printed.
    fn finish(self) {
        for table in &self.tables {
            if let Some(bar) = &table.bar {
                bar.finish_and_clear();
            }
        }
    }
}
