//! Progress: a bar per table on a terminal, plain lines otherwise.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Reports rows committed per table.
pub struct Progress {
    tables: Vec<TableProgress>,
    started: Instant,
}

struct TableProgress {
    name: String,
    total: u64,
    done: AtomicU64,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Bars when stderr is a terminal, else one line per
    /// finished table.
    pub fn new(tables: &[(String, u64)]) -> Progress {
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
        Progress {
            tables,
            started: Instant::now(),
        }
    }

    /// Records `rows` more rows of table `index` as committed.
    pub fn advance(&self, index: usize, rows: u64) {
        let table = &self.tables[index];
        let done = table.done.fetch_add(rows, Ordering::Relaxed) + rows;
        match &table.bar {
            Some(bar) => {
                bar.inc(rows);
                if done >= table.total {
                    bar.finish();
                }
            }
            None if done >= table.total => crate::scrub::say!(
                "ferry: {}: {} rows loaded ({:.1}s)",
                table.name,
                done,
                self.started.elapsed().as_secs_f64()
            ),
            None => {}
        }
    }

    /// Prints a step outside the bars (index builds, foreign keys).
    pub fn step(&self, message: &str) {
        match self.tables.iter().find_map(|t| t.bar.as_ref()) {
            Some(bar) => bar.println(format!("ferry: {message}")),
            None => crate::scrub::say!("ferry: {message}"),
        }
    }

    /// Removes the bars before the summary is printed.
    pub fn finish(&self) {
        for table in &self.tables {
            if let Some(bar) = &table.bar {
                bar.finish_and_clear();
            }
        }
    }
}
