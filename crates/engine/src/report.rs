//! The summary printed at the end of a copy, for people or for scripts.

use serde::Serialize;

/// One table's figures.
#[derive(Debug, Clone, Serialize)]
pub struct TableReport {
    pub table: String,
    pub target: String,
    pub rows_read: u64,
    pub rows_written: u64,
    pub rejected: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub rows_per_second: f64,
}

/// The whole run. Its JSON shape is `copy-report.schema.json` beside this
/// crate's manifest: fields are only ever added.
#[derive(Debug, Serialize)]
pub struct CopyReport {
    /// `ok`: every row landed (a copy that fails reports an error instead),
    /// or `already done`: the recorded copy had finished, nothing was done.
    pub status: &'static str,
    /// The ferry that made the report.
    pub ferry_version: String,
    pub tables: Vec<TableReport>,
    pub totals: TableReport,
    /// Seconds until every row was loaded, before keys and indexes.
    pub load_seconds: f64,
    /// How one state of the source was read: `wal snapshot` (read
    /// transactions on one state of a WAL-mode file), `in place` (a
    /// rollback-journal file, proven unchanged after every chunk),
    /// `backup` (a private copy) or `as is` (`--snapshot none`).
    pub source_read: &'static str,
    /// Objects of the source that were not copied, and why.
    pub skipped: Vec<ferry_model::SkippedObject>,
    /// Things that could not be carried over faithfully.
    pub warnings: Vec<String>,
}

impl CopyReport {
    pub fn new(
        tables: Vec<TableReport>,
        load_seconds: f64,
        seconds: f64,
        skipped: Vec<ferry_model::SkippedObject>,
        warnings: Vec<String>,
    ) -> CopyReport {
        let sum = |f: fn(&TableReport) -> u64| tables.iter().map(f).sum::<u64>();
        let rows_read = sum(|t| t.rows_read);
        let totals = TableReport {
            table: "total".to_owned(),
            target: String::new(),
            rows_read,
            rows_written: sum(|t| t.rows_written),
            rejected: sum(|t| t.rejected),
            bytes: sum(|t| t.bytes),
            seconds,
            rows_per_second: rate(rows_read, seconds),
        };
        CopyReport {
            status: "ok",
            ferry_version: env!("CARGO_PKG_VERSION").to_owned(),
            tables,
            totals,
            load_seconds,
            source_read: "as is",
            skipped,
            warnings,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serialises")
    }

    pub fn to_text(&self) -> String {
        let header = [
            "table",
            "rows read",
            "rows written",
            "rejected",
            "MB",
            "seconds",
            "rows/s",
        ];
        let mut rows: Vec<[String; 7]> = Vec::new();
        for t in self.tables.iter().chain(std::iter::once(&self.totals)) {
            rows.push([
                t.table.clone(),
                t.rows_read.to_string(),
                t.rows_written.to_string(),
                t.rejected.to_string(),
                format!("{:.1}", t.bytes as f64 / 1e6),
                format!("{:.2}", t.seconds),
                format!("{:.0}", t.rows_per_second),
            ]);
        }
        let mut widths = header.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let line = |cells: &[String], out: &mut String| {
            for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                if i == 0 {
                    out.push_str(&format!("{cell:<w$}"));
                } else {
                    out.push_str(&format!("  {cell:>w$}"));
                }
            }
            out.push('\n');
        };
        line(&header.map(String::from), &mut out);
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        for (i, row) in rows.iter().enumerate() {
            if i + 1 == rows.len() {
                line(&rule, &mut out);
            }
            line(row, &mut out);
        }
        out.push_str(&format!(
            "rows loaded in {:.2}s; keys, indexes and foreign keys took {:.2}s more\n",
            self.load_seconds,
            self.totals.seconds - self.load_seconds
        ));
        out.push_str(&format!("source read: {}\n", self.source_read));
        for s in &self.skipped {
            out.push_str(&format!("skipped {} {}: {}\n", s.kind, s.name, s.reason));
        }
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        if self.totals.rejected > 0 {
            out.push_str(&format!(
                "{} rejected rows are listed in ferry.rejects\n",
                self.totals.rejected
            ));
        }
        out
    }
}

pub fn rate(rows: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        rows as f64 / seconds
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, rows: u64) -> TableReport {
        TableReport {
            table: name.to_owned(),
            target: format!("public.{name}"),
            rows_read: rows,
            rows_written: rows - 1,
            rejected: 1,
            bytes: 2_000_000,
            seconds: 2.0,
            rows_per_second: rate(rows, 2.0),
        }
    }

    #[test]
    fn totals_add_up() {
        let report = CopyReport::new(
            vec![table("a", 10), table("b", 30)],
            3.0,
            4.0,
            vec![],
            vec![],
        );
        assert_eq!(report.totals.rows_read, 40);
        assert_eq!(report.totals.rejected, 2);
        assert_eq!(report.totals.rows_per_second, 10.0);
        let text = report.to_text();
        assert!(text.contains("rows written"), "{text}");
        assert!(text.contains("2 rejected rows"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["tables"][1]["rows_read"], 30);
        assert_eq!(json["totals"]["rejected"], 2);
    }
}
