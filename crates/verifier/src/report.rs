//! The verification report and its four renderings: text for a terminal,
//! JSON for programs, JUnit XML for CI dashboards and Markdown for a pull
//! request comment.
//!
//! # JSON (stable)
//!
//! [`VerifyReport::to_json`] writes one object. Fields are only ever added,
//! never renamed or removed. The schema is in verify-report.schema.json
//! beside this crate's Cargo.toml (JSON Schema draft 2020-12); it is strict,
//! rejecting unknown fields, so a field added here is added there too, and
//! the tests check every rendering against it.
//!
//! ```text
//! {
//!   "mode": "full" | "schema_only" | "sample",
//!   "sample": 1000, "seed": 42,        // only when mode is "sample": rows per table, and the seed
//!   "passed": true,                    // every table has status "pass" (true for no tables)
//!   "seconds": 1.25,                   // never negative; 0 if the clock gave nonsense
//!   "tables": [{
//!     "table": "orders",               // the source table
//!     "target": "public.orders",       // schema.table in Postgres
//!     "status": "pass" | "fail" | "error",
//!     "source_rows": 1500, "target_rows": 1500, "checked_rows": 1500,   // counts are integers ≥ 0
//!     "missing": 0, "extra": 0, "changed": 0,
//!     "quarantined": 0,                // rows the copy put in ferry.rejects; not counted as missing
//!     "schema": ["…"],                 // schema differences, one sentence each
//!     "differences": [{                // capped: the counts above are the totals
//!       "kind": "missing" | "extra" | "changed" | "quarantined",
//!       "key": "id=5",
//!       "columns": [{"column": "price", "source": "1.5", "target": null}]   // null = SQL NULL
//!     }],                              // columns: what changed, or why a row could not be converted; often empty
//!     "error": null,                   // a string, what went wrong, exactly when status is "error"
//!     "seconds": 0.5                   // as the top-level seconds
//!   }]
//! }
//! ```

use std::fmt::Write as _;

use serde::Serialize;

use crate::diff::ColumnDiff;
use crate::escape::{html_escape, md_escape, one_line, xml_cdata, xml_escape};
use crate::render::truncate;

/// How much of the data a verification compared.
///
/// In JSON the variant is the top-level `mode` field (`"schema_only"`,
/// `"sample"`, `"full"`); a sample adds `sample` (rows per table) and
/// `seed` beside it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Mode {
    /// Only the schemas were compared.
    SchemaOnly,
    /// Row counts, and a random sample of rows per table compared in full.
    Sample {
        /// Rows sampled per table.
        #[serde(rename = "sample")]
        rows: u64,
        /// The seed that chose them, so a run can be repeated.
        seed: u64,
    },
    /// Every row of every table.
    Full,
}

/// The verdict on one table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Both sides hold the same data.
    Pass,
    /// The sides differ.
    Fail,
    /// The table could not be compared.
    Error,
}

/// What kind of difference one listed row is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DifferenceKind {
    /// In the source, not in the target.
    Missing,
    /// In the target, not in the source.
    Extra,
    /// On both sides with different values.
    Changed,
    /// Absent from the target because the copy rejected it into
    /// `ferry.rejects`, as expected; listed so it is not forgotten.
    Quarantined,
}

impl DifferenceKind {
    fn as_str(self) -> &'static str {
        match self {
            DifferenceKind::Missing => "missing",
            DifferenceKind::Extra => "extra",
            DifferenceKind::Changed => "changed",
            DifferenceKind::Quarantined => "quarantined",
        }
    }
}

/// One listed row difference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// What kind of difference it is.
    pub kind: DifferenceKind,
    /// The row's key text, e.g. `id=5`.
    pub key: String,
    /// For a changed row, the columns that differ; for a row that could not
    /// be converted (missing or quarantined), the column and the reason in
    /// `source`; otherwise empty.
    pub columns: Vec<ColumnDiff>,
}

/// The result for one table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TableResult {
    /// The source table.
    pub table: String,
    /// The target, as `schema.table`.
    pub target: String,
    /// The verdict.
    pub status: Status,
    /// Rows in the source.
    pub source_rows: u64,
    /// Rows in the target.
    pub target_rows: u64,
    /// Rows compared value by value (all of them in full mode).
    pub checked_rows: u64,
    /// Rows in the source and not in the target.
    pub missing: u64,
    /// Rows in the target and not in the source.
    pub extra: u64,
    /// Rows on both sides whose values differ.
    pub changed: u64,
    /// Rows the copy put in `ferry.rejects`: expected to be absent, so not
    /// counted as missing.
    pub quarantined: u64,
    /// Schema differences, one sentence each.
    pub schema: Vec<String>,
    /// Listed differences; the caller caps the list, the counts above are
    /// the totals.
    pub differences: Vec<Difference>,
    /// Missing, extra and changed rows counted above but left out of
    /// `differences` by the cap ([`count_unlisted`](Self::count_unlisted)).
    pub unlisted: u64,
    /// Why the table could not be compared: `Some` exactly when `status` is
    /// `Error`, as the JSON schema requires.
    pub error: Option<String>,
    /// Time spent on this table.
    #[serde(serialize_with = "serialize_seconds")]
    pub seconds: f64,
}

impl TableResult {
    /// A passing result with nothing counted yet, to be filled in.
    pub fn new(table: impl Into<String>, target: impl Into<String>) -> Self {
        TableResult {
            table: table.into(),
            target: target.into(),
            status: Status::Pass,
            source_rows: 0,
            target_rows: 0,
            checked_rows: 0,
            missing: 0,
            extra: 0,
            changed: 0,
            quarantined: 0,
            schema: Vec::new(),
            differences: Vec::new(),
            unlisted: 0,
            error: None,
            seconds: 0.0,
        }
    }

    /// One line on what is wrong: `2 missing, 1 changed, 1 schema
    /// difference`, or the error. Empty for a passing table.
    pub fn summary(&self) -> String {
        if let Some(error) = &self.error {
            return error.clone();
        }
        let mut parts = Vec::new();
        for (count, what) in [
            (self.missing, "missing"),
            (self.extra, "extra"),
            (self.changed, "changed"),
        ] {
            if count > 0 {
                parts.push(format!("{count} {what}"));
            }
        }
        if self.source_rows != self.target_rows.saturating_add(self.quarantined) && parts.is_empty()
        {
            parts.push(format!(
                "{} source rows, {} target rows",
                self.source_rows, self.target_rows
            ));
        }
        match self.schema.len() {
            0 => {}
            1 => parts.push("1 schema difference".to_owned()),
            n => parts.push(format!("{n} schema differences")),
        }
        if parts.is_empty() && self.status != Status::Pass {
            parts.push("differs".to_owned());
        }
        parts.join(", ")
    }

    /// How many missing, extra and changed rows the counts hold beyond the
    /// ones listed in `differences`.
    pub fn count_unlisted(&self) -> u64 {
        let listed = |kind| self.differences.iter().filter(|d| d.kind == kind).count() as u64;
        self.missing.saturating_sub(listed(DifferenceKind::Missing))
            + self.extra.saturating_sub(listed(DifferenceKind::Extra))
            + self.changed.saturating_sub(listed(DifferenceKind::Changed))
    }
}

/// The outcome of `ferry verify`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VerifyReport {
    /// How much was compared.
    #[serde(flatten)]
    pub mode: Mode,
    /// One result per table, in the order to show them.
    pub tables: Vec<TableResult>,
    /// Time spent in all.
    pub seconds: f64,
    /// The ferry that made the report.
    pub ferry_version: String,
}

/// The JSON shape: the report with `status` and `passed` added.
#[derive(Serialize)]
struct JsonReport<'a> {
    /// `pass` or `fail`, as `passed` says.
    status: &'static str,
    ferry_version: &'a str,
    #[serde(flatten)]
    mode: &'a Mode,
    passed: bool,
    seconds: f64,
    tables: &'a [TableResult],
}

/// How many characters a table name or message may take in an XML
/// attribute or a Markdown heading.
const MAX_MESSAGE_CHARS: usize = 500;

impl VerifyReport {
    /// Whether every table passed (true for no tables).
    pub fn passed(&self) -> bool {
        self.tables.iter().all(|table| table.status == Status::Pass)
    }

    fn failing(&self) -> impl Iterator<Item = &TableResult> {
        self.tables
            .iter()
            .filter(|table| table.status != Status::Pass)
    }

    /// The verdict line: `verify: 3 tables, all match` or `verify: 1 of 3
    /// tables differ`.
    pub fn verdict(&self) -> String {
        let total = self.tables.len();
        let plural = if total == 1 { "table" } else { "tables" };
        match self.failing().count() {
            0 => format!("verify: {total} {plural}, all match"),
            1 => format!("verify: 1 of {total} {plural} differs"),
            failing => format!("verify: {failing} of {total} {plural} differ"),
        }
    }

    /// A report for a terminal: an aligned table of every table's counts,
    /// then, for each table that did not pass, its schema differences, error
    /// and listed differences (`changed id=7` then `price: 1.5 → 1.6`), and
    /// last the [verdict](Self::verdict).
    pub fn to_text(&self) -> String {
        let header = [
            "table",
            "status",
            "source rows",
            "target rows",
            "checked",
            "missing",
            "extra",
            "changed",
            "quarantined",
        ];
        let rows: Vec<[String; 9]> = self
            .tables
            .iter()
            .map(|t| {
                [
                    one_line(&t.table),
                    match t.status {
                        Status::Pass => "pass",
                        Status::Fail => "FAIL",
                        Status::Error => "ERROR",
                    }
                    .to_owned(),
                    t.source_rows.to_string(),
                    t.target_rows.to_string(),
                    t.checked_rows.to_string(),
                    t.missing.to_string(),
                    t.extra.to_string(),
                    t.changed.to_string(),
                    t.quarantined.to_string(),
                ]
            })
            .collect();
        let mut widths = header.map(|h| h.chars().count());
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let mut line = |cells: &[&str]| {
            let mut text = String::new();
            for (at, (cell, width)) in cells.iter().zip(widths).enumerate() {
                let pad = " ".repeat(width - cell.chars().count());
                match at {
                    0 => text.push_str(&format!("{cell}{pad}")),
                    1 => text.push_str(&format!("  {cell}{pad}")),
                    _ => text.push_str(&format!("  {pad}{cell}")),
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(&header);
        for row in &rows {
            line(&row.each_ref().map(String::as_str));
        }

        for table in self.failing() {
            let _ = writeln!(
                out,
                "\n{} ({}): {}",
                one_line(&table.table),
                one_line(&table.target),
                one_line(&table.summary())
            );
            for sentence in &table.schema {
                let _ = writeln!(out, "  schema: {}", one_line(sentence));
            }
            for difference in &table.differences {
                let _ = writeln!(
                    out,
                    "  {:<11} {}",
                    difference.kind.as_str(),
                    one_line(&difference.key)
                );
                for column in &difference.columns {
                    let _ = writeln!(
                        out,
                        "      {}: {} → {}",
                        one_line(&column.column),
                        one_line(column.source.as_deref().unwrap_or("NULL")),
                        one_line(column.target.as_deref().unwrap_or("NULL")),
                    );
                }
            }
            match table.unlisted {
                0 => {}
                more => {
                    let _ = writeln!(out, "  … and {more} more");
                }
            }
        }
        if self.failing().next().is_some() {
            out.push('\n');
        }
        out.push_str(&self.verdict());
        out.push('\n');
        out
    }

    /// The report as JSON, in the stable shape the module docs describe.
    ///
    /// A `seconds` that is not a finite, non-negative number is written as
    /// `0`, as in the other renderings, so the field is always a number.
    ///
    /// # Panics
    ///
    /// Never: every field serialises.
    pub fn to_json(&self) -> String {
        let report = JsonReport {
            status: if self.passed() { "pass" } else { "fail" },
            ferry_version: &self.ferry_version,
            mode: &self.mode,
            passed: self.passed(),
            seconds: finite_seconds(self.seconds),
            tables: &self.tables,
        };
        serde_json::to_string_pretty(&report).expect("a verify report always serialises")
    }

    /// The report as JUnit XML: one `<testsuite name="ferry verify">` with a
    /// `<testcase classname="ferry.verify">` per table; a failing table
    /// holds a `<failure>` (message: the [summary](TableResult::summary),
    /// body: its differences) and an errored table an `<error>`. Text from
    /// the data is escaped in attributes and written as CDATA in element
    /// bodies (which XML readers take verbatim), and characters XML
    /// 1.0 forbids are dropped.
    pub fn to_junit(&self) -> String {
        let tests = self.tables.len();
        let failures = self
            .tables
            .iter()
            .filter(|t| t.status == Status::Fail)
            .count();
        let errors = self
            .tables
            .iter()
            .filter(|t| t.status == Status::Error)
            .count();
        let time = xml_seconds(self.seconds);
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuites name=\"ferry verify\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{time}\">"
        );
        let _ = writeln!(
            out,
            "  <testsuite name=\"ferry verify\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"{time}\">"
        );
        for table in &self.tables {
            let _ = write!(
                out,
                "    <testcase classname=\"ferry.verify\" name=\"{}\" time=\"{}\"",
                xml_escape(&truncate(&table.table, MAX_MESSAGE_CHARS)),
                xml_seconds(table.seconds)
            );
            let message = xml_escape(&truncate(&table.summary(), MAX_MESSAGE_CHARS));
            match table.status {
                Status::Pass => out.push_str("/>\n"),
                Status::Fail => {
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"{message}\" type=\"mismatch\">{}</failure>\n    </testcase>",
                        xml_cdata(&failure_details(table))
                    );
                }
                Status::Error => {
                    let _ = writeln!(
                        out,
                        ">\n      <error message=\"{message}\" type=\"error\">{}</error>\n    </testcase>",
                        xml_cdata(table.error.as_deref().unwrap_or_default())
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n</testsuites>\n");
        out
    }

    /// The report as Markdown for a pull request comment: a heading with ✅
    /// or ❌ and the verdict, a table of every table's counts, then a
    /// collapsed `<details>` block per table that did not pass, listing its
    /// schema differences, error and differences. Text from the data is
    /// escaped so it cannot break the table or start formatting.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let icon = if self.passed() { "✅" } else { "❌" };
        let _ = writeln!(out, "## {icon} ferry {}\n", self.verdict());
        let _ = writeln!(
            out,
            "Mode: {} · {:.2} s\n",
            mode_text(&self.mode),
            finite_seconds(self.seconds)
        );
        out.push_str("| Table | Status | Source rows | Target rows | Checked | Missing | Extra | Changed | Quarantined |\n");
        out.push_str("|---|---|--:|--:|--:|--:|--:|--:|--:|\n");
        for t in &self.tables {
            let status = match t.status {
                Status::Pass => "✅ pass",
                Status::Fail => "❌ fail",
                Status::Error => "⚠️ error",
            };
            let _ = writeln!(
                out,
                "| {} | {status} | {} | {} | {} | {} | {} | {} | {} |",
                md_escape(&truncate(&t.table, MAX_MESSAGE_CHARS)),
                t.source_rows,
                t.target_rows,
                t.checked_rows,
                t.missing,
                t.extra,
                t.changed,
                t.quarantined
            );
        }
        for table in self.failing() {
            // Inside an HTML block Markdown is not parsed, so the summary is
            // escaped as HTML rather than as Markdown.
            let _ = writeln!(
                out,
                "\n<details>\n<summary>{}: {}</summary>\n",
                html_escape(&truncate(&table.table, MAX_MESSAGE_CHARS)),
                html_escape(&truncate(&table.summary(), MAX_MESSAGE_CHARS))
            );
            for sentence in &table.schema {
                let _ = writeln!(out, "- schema: {}", md_escape(sentence));
            }
            if let Some(error) = &table.error {
                let _ = writeln!(out, "- error: {}", md_escape(error));
            }
            for difference in &table.differences {
                let _ = writeln!(
                    out,
                    "- {}: {}",
                    difference.kind.as_str(),
                    md_escape(&difference.key)
                );
                for column in &difference.columns {
                    let _ = writeln!(
                        out,
                        "  - {}: {} → {}",
                        md_escape(&column.column),
                        md_escape(column.source.as_deref().unwrap_or("NULL")),
                        md_escape(column.target.as_deref().unwrap_or("NULL")),
                    );
                }
            }
            match table.unlisted {
                0 => {}
                more => {
                    let _ = writeln!(out, "- … and {more} more");
                }
            }
            out.push_str("\n</details>\n");
        }
        out
    }
}

/// The body of a JUnit failure: schema differences, then one line per
/// listed difference.
fn failure_details(table: &TableResult) -> String {
    let mut out = String::new();
    for sentence in &table.schema {
        let _ = writeln!(out, "schema: {sentence}");
    }
    for difference in &table.differences {
        let _ = write!(out, "{} {}", difference.kind.as_str(), difference.key);
        for (at, column) in difference.columns.iter().enumerate() {
            let _ = write!(
                out,
                "{}{}: {} → {}",
                if at == 0 { ": " } else { "; " },
                column.column,
                column.source.as_deref().unwrap_or("NULL"),
                column.target.as_deref().unwrap_or("NULL"),
            );
        }
        out.push('\n');
    }
    match table.unlisted {
        0 => {}
        more => {
            let _ = writeln!(out, "… and {more} more");
        }
    }
    out
}

fn mode_text(mode: &Mode) -> String {
    match mode {
        Mode::SchemaOnly => "schema only".to_owned(),
        Mode::Sample { rows, seed } => format!(
            "sample of {} per table, seed {seed}",
            ferry_model::plural(*rows, "row", "rows")
        ),
        Mode::Full => "full".to_owned(),
    }
}

fn finite_seconds(seconds: f64) -> f64 {
    if seconds.is_finite() && seconds > 0.0 {
        seconds
    } else {
        0.0
    }
}

fn xml_seconds(seconds: f64) -> String {
    format!("{:.3}", finite_seconds(seconds))
}

/// Writes a duration as JSON: a NaN would otherwise become `null` and a
/// negative one break the schema's `minimum`.
fn serialize_seconds<S: serde::Serializer>(seconds: &f64, out: S) -> Result<S::Ok, S::Error> {
    out.serialize_f64(finite_seconds(*seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> VerifyReport {
        let mut pass = TableResult::new("orders", "public.orders");
        pass.source_rows = 1500;
        pass.target_rows = 1500;
        pass.checked_rows = 1500;
        pass.seconds = 0.25;

        let mut fail = TableResult::new("a<b&\"c\"", "public.a<b&\"c\"");
        fail.status = Status::Fail;
        fail.source_rows = 10;
        fail.target_rows = 9;
        fail.checked_rows = 10;
        fail.missing = 2;
        fail.changed = 1;
        fail.quarantined = 1;
        fail.schema = vec!["column note is text in the plan but varchar(5) in Postgres".into()];
        fail.differences = vec![
            Difference {
                kind: DifferenceKind::Missing,
                key: "id=5".into(),
                columns: Vec::new(),
            },
            Difference {
                kind: DifferenceKind::Changed,
                key: "id=7".into(),
                columns: vec![
                    ColumnDiff {
                        column: "price".into(),
                        source: Some("1.5".into()),
                        target: Some("1.6".into()),
                    },
                    ColumnDiff {
                        column: "note".into(),
                        source: Some("'a|b`c'\u{1}".into()),
                        target: None,
                    },
                ],
            },
            Difference {
                kind: DifferenceKind::Quarantined,
                key: "id=9".into(),
                columns: Vec::new(),
            },
        ];
        fail.unlisted = fail.count_unlisted();
        fail.seconds = 0.5;

        let mut error = TableResult::new("logs", "public.logs");
        error.status = Status::Error;
        error.error = Some("reading logs failed: database is locked; retry".into());

        VerifyReport {
            mode: Mode::Sample {
                rows: 1000,
                seed: 42,
            },
            tables: vec![pass, fail, error],
            seconds: 1.25,
            ferry_version: "0.1.0".to_owned(),
        }
    }

    #[test]
    fn passed_and_verdict() {
        let mut report = report();
        assert!(!report.passed());
        assert_eq!(report.verdict(), "verify: 2 of 3 tables differ");
        report.tables.truncate(1);
        assert!(report.passed());
        assert_eq!(report.verdict(), "verify: 1 table, all match");
        report.tables.clear();
        assert!(report.passed());
        assert_eq!(report.verdict(), "verify: 0 tables, all match");
    }

    #[test]
    fn summaries() {
        let report = report();
        assert_eq!(report.tables[0].summary(), "");
        assert_eq!(
            report.tables[1].summary(),
            "2 missing, 1 changed, 1 schema difference"
        );
        assert_eq!(
            report.tables[2].summary(),
            "reading logs failed: database is locked; retry"
        );
        let mut counts = TableResult::new("t", "public.t");
        counts.status = Status::Fail;
        counts.source_rows = 3;
        counts.target_rows = 1;
        counts.quarantined = 1;
        assert_eq!(counts.summary(), "3 source rows, 1 target rows");
    }

    #[test]
    fn text() {
        let text = report().to_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "table    status  source rows  target rows  checked  missing  extra  changed  quarantined"
        );
        assert_eq!(
            lines[1],
            "orders   pass           1500         1500     1500        0      0        0            0"
        );
        assert_eq!(
            lines[2],
            "a<b&\"c\"  FAIL             10            9       10        2      0        1            1"
        );
        assert!(lines[3].starts_with("logs     ERROR             0"));
        let details = lines[4..].join("\n");
        assert_eq!(
            details,
            "
a<b&\"c\" (public.a<b&\"c\"): 2 missing, 1 changed, 1 schema difference
  schema: column note is text in the plan but varchar(5) in Postgres
  missing     id=5
  changed     id=7
      price: 1.5 → 1.6
      note: 'a|b`c'  → NULL
  quarantined id=9
  … and 1 more

logs (public.logs): reading logs failed: database is locked; retry

verify: 2 of 3 tables differ"
        );
        assert!(text.ends_with("differ\n"));

        let mut passing = report();
        passing.tables.truncate(1);
        assert!(passing
            .to_text()
            .ends_with("0\nverify: 1 table, all match\n"));
    }

    #[test]
    fn json_has_the_documented_fields() {
        let json: serde_json::Value = serde_json::from_str(&report().to_json()).unwrap();
        assert_eq!(json["mode"], "sample");
        assert_eq!(json["sample"], 1000);
        assert_eq!(json["seed"], 42);
        assert_eq!(json["passed"], false);
        assert_eq!(json["seconds"], 1.25);
        let tables = json["tables"].as_array().unwrap();
        assert_eq!(tables.len(), 3);
        let fields = [
            "table",
            "target",
            "status",
            "source_rows",
            "target_rows",
            "checked_rows",
            "missing",
            "extra",
            "changed",
            "quarantined",
            "schema",
            "differences",
            "unlisted",
            "error",
            "seconds",
        ];
        for table in tables {
            let object = table.as_object().unwrap();
            assert_eq!(object.len(), fields.len());
            for field in fields {
                assert!(object.contains_key(field), "{field}");
            }
        }
        assert_eq!(tables[0]["status"], "pass");
        assert_eq!(tables[0]["error"], serde_json::Value::Null);
        assert_eq!(tables[1]["status"], "fail");
        assert_eq!(tables[1]["table"], "a<b&\"c\"");
        assert_eq!(tables[1]["missing"], 2);
        assert_eq!(tables[1]["quarantined"], 1);
        let changed = &tables[1]["differences"][1];
        assert_eq!(changed["kind"], "changed");
        assert_eq!(changed["key"], "id=7");
        assert_eq!(changed["columns"][0]["column"], "price");
        assert_eq!(changed["columns"][0]["source"], "1.5");
        assert_eq!(changed["columns"][1]["target"], serde_json::Value::Null);
        assert_eq!(tables[1]["differences"][2]["kind"], "quarantined");
        assert_eq!(tables[2]["status"], "error");
        assert_eq!(
            tables[2]["error"],
            "reading logs failed: database is locked; retry"
        );

        for (mode, expected) in [
            (Mode::Full, serde_json::json!({"mode": "full"})),
            (Mode::SchemaOnly, serde_json::json!({"mode": "schema_only"})),
        ] {
            let report = VerifyReport {
                mode,
                tables: Vec::new(),
                seconds: f64::NAN,
                ferry_version: "0.1.0".to_owned(),
            };
            let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
            assert_eq!(json["mode"], expected["mode"]);
            assert!(json.get("sample").is_none());
            assert_eq!(json["passed"], true);
            assert_eq!(json["seconds"], 0.0);
        }
    }

    #[test]
    fn junit_is_well_formed_and_escaped() {
        let xml = report().to_junit();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let suites = doc.root_element();
        assert_eq!(suites.tag_name().name(), "testsuites");
        let suite = suites.first_element_child().unwrap();
        assert_eq!(suite.attribute("name"), Some("ferry verify"));
        assert_eq!(suite.attribute("tests"), Some("3"));
        assert_eq!(suite.attribute("failures"), Some("1"));
        assert_eq!(suite.attribute("errors"), Some("1"));
        assert_eq!(suite.attribute("time"), Some("1.250"));
        let cases: Vec<_> = suite.children().filter(|n| n.is_element()).collect();
        assert_eq!(cases.len(), 3);
        assert!(cases
            .iter()
            .all(|c| c.attribute("classname") == Some("ferry.verify")));
        assert_eq!(cases[0].attribute("name"), Some("orders"));
        assert_eq!(cases[0].attribute("time"), Some("0.250"));
        assert!(cases[0].first_element_child().is_none());

        assert_eq!(cases[1].attribute("name"), Some("a<b&\"c\""));
        assert!(xml.contains("name=\"a&lt;b&amp;&quot;c&quot;\""));
        let failure = cases[1].first_element_child().unwrap();
        assert_eq!(failure.tag_name().name(), "failure");
        assert_eq!(
            failure.attribute("message"),
            Some("2 missing, 1 changed, 1 schema difference")
        );
        let body = failure.text().unwrap();
        assert!(body.contains("changed id=7: price: 1.5 → 1.6; note: 'a|b`c' → NULL"));
        assert!(body.contains("missing id=5\n"));
        assert!(body.ends_with("… and 1 more\n"));
        // U+0001 is not allowed in XML 1.0 and was dropped.
        assert!(!xml.contains('\u{1}'));

        let error = cases[2].first_element_child().unwrap();
        assert_eq!(error.tag_name().name(), "error");
        assert_eq!(
            error.text(),
            Some("reading logs failed: database is locked; retry")
        );
    }

    #[test]
    fn markdown() {
        let md = report().to_markdown();
        assert!(
            md.starts_with("## ❌ ferry verify: 2 of 3 tables differ\n"),
            "{md}"
        );
        assert!(md.contains("Mode: sample of 1000 rows per table, seed 42 · 1.25 s"));
        assert!(md.contains("| orders | ✅ pass | 1500 | 1500 | 1500 | 0 | 0 | 0 | 0 |"));
        assert!(md.contains("| a\\<b&amp;\"c\" | ❌ fail | 10 | 9 | 10 | 2 | 0 | 1 | 1 |"));
        assert!(md.contains("| logs | ⚠️ error |"));
        assert!(md.contains(
            "<details>\n<summary>a&lt;b&amp;\"c\": 2 missing, 1 changed, 1 schema difference</summary>"
        ));
        assert!(md.contains("  - note: 'a\\|b\\`c'  → NULL\n"));
        assert!(md.contains("- error: reading logs failed: database is locked; retry\n"));
        assert_eq!(md.matches("<details>").count(), 2);
        assert_eq!(md.matches("</details>").count(), 2);
        // Every table row has exactly ten unescaped pipes.
        for row in md.lines().filter(|l| l.starts_with("| ")) {
            assert_eq!(row.replace("\\|", "").matches('|').count(), 10, "{row}");
        }

        let mut passing = report();
        passing.tables.truncate(1);
        passing.tables[0].table = "x|y".into();
        let md = passing.to_markdown();
        assert!(md.starts_with("## ✅ ferry verify: 1 table, all match\n"));
        assert!(md.contains("| x\\|y | ✅ pass |"));
        assert!(!md.contains("<details>"));
    }
}

#[cfg(test)]
mod contract_tests;
