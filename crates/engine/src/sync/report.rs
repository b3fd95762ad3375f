//! What a sync tells people and scripts: a summary per table in text or
//! JSON (monitoring gets its series from [`crate::metrics`]).

use serde::Serialize;

/// One table's run.
#[derive(Debug, Clone, Serialize)]
pub struct TableOutcome {
    pub table: String,
    pub target: String,
    /// `cursor`, `append` or `full`.
    pub mode: String,
    /// `copied` (first full copy), `reconciled` (full comparison),
    /// `incremental`, or `skipped` (not reached after a failure).
    pub action: String,
    pub inserted: u64,
    pub updated: u64,
    pub deleted: u64,
    pub unchanged: u64,
    /// Rows left out for a value that cannot become its column's type,
    /// listed in `ferry.rejects` (`--on-error quarantine`).
    pub rejected: u64,
    pub seconds: f64,
    pub watermark: Option<String>,
    pub success: bool,
    pub error: Option<String>,
    /// What the table's strategy cannot see, and how to catch it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// When the table last synced successfully (this run or an earlier
    /// one), as Unix seconds.
    #[serde(skip)]
    pub last_success_unix: Option<f64>,
}

/// The whole run. Its JSON shape is `sync-report.schema.json` beside this
/// crate's manifest: fields are only ever added.
#[derive(Debug, Serialize)]
pub struct SyncReport {
    /// `ok` when every table synced (a check: matched), `failed` when any
    /// did not (a check: could not be compared), `differences` when a
    /// check found rows that differ.
    pub status: &'static str,
    /// The ferry that made the report.
    pub ferry_version: String,
    pub schema: String,
    pub tables: Vec<TableOutcome>,
    /// Partition leaves created and rows moved out of DEFAULT.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<String>,
    pub seconds: f64,
    /// A `--check`: the counts are the differences found, nothing was
    /// applied.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub check: bool,
    /// How the source was read: `in place` (nothing committed while it
    /// was read), `backup` or `as is` (`--snapshot none`).
    #[serde(skip_serializing_if = "str::is_empty")]
    pub source_read: &'static str,
}

impl SyncReport {
    /// A run's report, its seconds counted up to now.
    pub fn new(
        schema: String,
        tables: Vec<TableOutcome>,
        started: std::time::Instant,
    ) -> SyncReport {
        let failed = tables.iter().any(|t| !t.success);
        SyncReport {
            status: if failed { "failed" } else { "ok" },
            ferry_version: env!("CARGO_PKG_VERSION").to_owned(),
            schema,
            tables,
            partitions: Vec::new(),
            seconds: started.elapsed().as_secs_f64(),
            check: false,
            source_read: "",
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the report serializes")
    }

    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{:<24} {:<7} {:<11} {:>9} {:>9} {:>9} {:>10} {:>8}  watermark\n",
            "table", "mode", "action", "inserted", "updated", "deleted", "unchanged", "seconds"
        );
        for t in &self.tables {
            out.push_str(&format!(
                "{:<24} {:<7} {:<11} {:>9} {:>9} {:>9} {:>10} {:>8.2}  {}\n",
                t.target,
                t.mode,
                t.action,
                t.inserted,
                t.updated,
                t.deleted,
                t.unchanged,
                t.seconds,
                t.watermark.as_deref().unwrap_or("-")
            ));
            if let Some(error) = &t.error {
                out.push_str(&format!("  failed: {error}\n"));
            }
            for note in &t.notes {
                out.push_str(&format!("  note: {note}\n"));
            }
        }
        for line in &self.partitions {
            out.push_str(&format!("partitions: {line}\n"));
        }
        let failed = self.tables.iter().filter(|t| !t.success).count();
        if self.check {
            let differ = self
                .tables
                .iter()
                .filter(|t| !t.success || t.inserted + t.updated + t.deleted > 0)
                .count();
            out.push_str(&format!(
                "checked {} in {} in {:.2}s: {}\n",
                ferry_model::plural(self.tables.len(), "table", "tables"),
                self.schema,
                self.seconds,
                match differ {
                    0 => "the target matches the source".to_owned(),
                    n => format!("{n} differ (inserted, updated, deleted: what a sync would do)"),
                }
            ));
            return out;
        }
        out.push_str(&format!(
            "synced {} of {} into {} in {:.2}s",
            self.tables.len() - failed,
            ferry_model::plural(self.tables.len(), "table", "tables"),
            self.schema,
            self.seconds
        ));
        if !self.source_read.is_empty() {
            out.push_str(&format!(" (source read {})", self.source_read));
        }
        out.push('\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> SyncReport {
        let table = |name: &str, success: bool| TableOutcome {
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
            watermark: Some("2024-01-01T00:00:00.000000Z".into()),
            success,
            error: (!success).then(|| "boom".into()),
            notes: vec!["misses updates".into()],
            last_success_unix: success.then_some(1_700_000_000.0),
        };
        SyncReport {
            status: "failed",
            ferry_version: "0.1.0".into(),
            schema: "app".into(),
            tables: vec![table("emails", true), table("we\"ird", false)],
            partitions: Vec::new(),
            seconds: 1.5,
            check: false,
            source_read: "in place",
        }
    }

    #[test]
    fn text_and_json_summaries() {
        let report = report();
        let text = report.to_text();
        assert!(text.contains("synced 1 of 2 tables into app"), "{text}");
        assert!(text.contains("failed: boom"), "{text}");
        assert!(text.contains("  note: misses updates\n"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["tables"][0]["inserted"], 3);
        assert_eq!(json["tables"][1]["success"], false);
    }
}
