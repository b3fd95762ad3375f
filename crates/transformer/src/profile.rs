//! What each column really holds, for `ferry plan --profile`: storage
//! classes, datetime text formats, and the values that would be refused.

use std::collections::BTreeMap;
use std::fmt;

use ferry_model::{ColumnPlan, PgType, RowKey, SourceValueRef, TablePlan};

use crate::coerce::{coerce, scan_datetime, shape};

/// How many refused values each column keeps as examples.
const MAX_EXAMPLES: usize = 3;

/// Counts of values per SQLite storage class (what `typeof()` reports).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct StorageCounts {
    /// NULLs.
    pub null: u64,
    /// INTEGER values.
    pub integer: u64,
    /// REAL values.
    pub real: u64,
    /// TEXT values.
    pub text: u64,
    /// BLOB values.
    pub blob: u64,
}

/// A value that will not fit its column's Postgres type.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct BadExample {
    /// The row's key (`id=1842`).
    pub row: String,
    /// The value, previewed.
    pub value: String,
    /// Why it does not fit, and what to do.
    pub reason: String,
}

/// One column's profile.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ColumnProfile {
    /// Source column name.
    pub name: String,
    /// Target column name.
    pub target: String,
    /// Declared SQLite type.
    pub declared_type: String,
    /// Mapped Postgres type.
    pub pg_type: String,
    /// Values per storage class; `storage.null` is the null count.
    pub storage: StorageCounts,
    /// For date and time targets: how values are written (`YYYY-MM-DD
    /// HH:MM:SS`, `unix epoch integer`, `julian day real`…) and how often.
    pub formats: BTreeMap<String, u64>,
    /// Values that will not fit the mapped type.
    pub bad: u64,
    /// Up to three of them.
    pub examples: Vec<BadExample>,
}

/// A table's profile: what [`TableProfiler`] saw.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct TableProfile {
    /// Source table name.
    pub table: String,
    /// Target table, `schema.name`.
    pub target: String,
    /// Rows observed.
    pub rows: u64,
    /// Columns in plan order.
    pub columns: Vec<ColumnProfile>,
}

/// Accumulates a [`TableProfile`] row by row, converting each value exactly
/// as the copy would, without writing anything.
#[derive(Debug)]
pub struct TableProfiler {
    plans: Vec<ColumnPlan>,
    profile: TableProfile,
}

impl TableProfiler {
    /// A profiler for the table `plan` describes.
    pub fn new(plan: &TablePlan) -> Self {
        let columns = plan
            .columns
            .iter()
            .map(|c| ColumnProfile {
                name: c.source_name.clone(),
                target: c.name.clone(),
                declared_type: c.declared_type.clone(),
                pg_type: c.pg_type.to_string(),
                storage: StorageCounts::default(),
                formats: BTreeMap::new(),
                bad: 0,
                examples: Vec::new(),
            })
            .collect();
        TableProfiler {
            plans: plan.columns.clone(),
            profile: TableProfile {
                table: plan.source_name.clone(),
                target: format!("{}.{}", plan.schema, plan.name),
                rows: 0,
                columns,
            },
        }
    }

    /// Counts one row, given in plan column order. `key` is called at most
    /// once, and only when the row holds a value worth keeping as an
    /// example.
    pub fn observe(&mut self, key: impl FnOnce() -> RowKey, row: &[SourceValueRef<'_>]) {
        self.profile.rows += 1;
        let mut key = Some(key);
        let mut rendered: Option<String> = None;
        for ((plan, stats), value) in self
            .plans
            .iter()
            .zip(self.profile.columns.iter_mut())
            .zip(row)
        {
            let counts = &mut stats.storage;
            match value {
                SourceValueRef::Null => counts.null += 1,
                SourceValueRef::Integer(_) => counts.integer += 1,
                SourceValueRef::Real(_) => counts.real += 1,
                SourceValueRef::Text(_) => counts.text += 1,
                SourceValueRef::Blob(_) => counts.blob += 1,
            }
            if matches!(
                plan.pg_type,
                PgType::Date | PgType::Timestamp | PgType::Timestamptz
            ) {
                if let Some(format) = format_of(value) {
                    match stats.formats.get_mut(format.as_ref()) {
                        Some(n) => *n += 1,
                        None => {
                            stats.formats.insert(format.into_owned(), 1);
                        }
                    }
                }
            }
            if let Err(error) = coerce(plan, *value) {
                stats.bad += 1;
                if stats.examples.len() < MAX_EXAMPLES {
                    let row = rendered.get_or_insert_with(|| match key.take() {
                        Some(key) => key().to_string(),
                        None => String::new(),
                    });
                    stats.examples.push(BadExample {
                        row: row.clone(),
                        value: error.value.clone(),
                        reason: format!("{}; {}", error.reason, error.hint),
                    });
                }
            }
        }
    }

    /// The profile of every row observed.
    pub fn finish(self) -> TableProfile {
        self.profile
    }
}

/// How a value of a date or time column is written.
fn format_of(value: &SourceValueRef<'_>) -> Option<std::borrow::Cow<'static, str>> {
    use std::borrow::Cow;
    Some(match value {
        SourceValueRef::Null => return None,
        SourceValueRef::Integer(_) => Cow::Borrowed("unix epoch integer"),
        SourceValueRef::Real(_) => Cow::Borrowed("julian day real"),
        SourceValueRef::Blob(_) => Cow::Borrowed("blob"),
        SourceValueRef::Text(t) => match scan_datetime(t) {
            Some(fields) => Cow::Owned(shape(&fields)),
            None => Cow::Borrowed("other text"),
        },
    })
}

impl fmt::Display for TableProfile {
    /// A compact table: one line per column with its counts, then the
    /// formats and refused examples of the columns that have any.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows = ferry_model::plural(self.rows, "row", "rows");
        writeln!(f, "{} → {}: {rows}", self.table, self.target)?;
        let header = [
            "column", "declared", "type", "null", "integer", "real", "text", "blob", "bad",
        ];
        let rows: Vec<[String; 9]> = self
            .columns
            .iter()
            .map(|c| {
                let s = &c.storage;
                [
                    c.name.clone(),
                    c.declared_type.clone(),
                    c.pg_type.clone(),
                    s.null.to_string(),
                    s.integer.to_string(),
                    s.real.to_string(),
                    s.text.to_string(),
                    s.blob.to_string(),
                    c.bad.to_string(),
                ]
            })
            .collect();
        let mut widths = header.map(|h| h.chars().count());
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut line = |cells: &[&str]| -> fmt::Result {
            let mut text = String::new();
            for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                let pad = w - cell.chars().count();
                text.push_str("  ");
                let spaces = " ".repeat(pad);
                if i < 3 {
                    text.push_str(cell);
                    text.push_str(&spaces);
                } else {
                    text.push_str(&spaces);
                    text.push_str(cell);
                }
            }
            writeln!(f, "{}", text.trim_end())
        };
        line(&header)?;
        for row in &rows {
            line(&row.each_ref().map(String::as_str))?;
        }
        for c in &self.columns {
            if !c.formats.is_empty() {
                let formats: Vec<String> =
                    c.formats.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
                writeln!(f, "  {} formats: {}", c.name, formats.join(", "))?;
            }
            for e in &c.examples {
                writeln!(f, "  {} bad: {} {} {}", c.name, e.row, e.value, e.reason)?;
            }
            if c.bad > c.examples.len() as u64 {
                writeln!(
                    f,
                    "  {} bad: … and {} more",
                    c.name,
                    c.bad - c.examples.len() as u64
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> TablePlan {
        let columns = vec![
            ColumnPlan::new("id", "INTEGER", PgType::BigInt),
            ColumnPlan::new("at", "DATETIME", PgType::Timestamptz),
        ];
        let mut plan = TablePlan::new("public", "events", columns);
        plan.primary_key = vec!["id".into()];
        plan
    }

    #[test]
    fn counts_classes_formats_and_bad_values() {
        let mut profiler = TableProfiler::new(&plan());
        let rows: Vec<[SourceValueRef<'static>; 2]> = vec![
            [
                SourceValueRef::Integer(1),
                SourceValueRef::Text(b"2024-01-01 10:00:00"),
            ],
            [
                SourceValueRef::Integer(2),
                SourceValueRef::Text(b"2024-01-02 10:00:00"),
            ],
            [
                SourceValueRef::Integer(3),
                SourceValueRef::Integer(1_700_000_000),
            ],
            [
                SourceValueRef::Integer(4),
                SourceValueRef::Real(2_460_000.5),
            ],
            [SourceValueRef::Integer(5), SourceValueRef::Null],
            [
                SourceValueRef::Text(b"x6"),
                SourceValueRef::Text(b"2023-02-30"),
            ],
            [SourceValueRef::Integer(7), SourceValueRef::Text(b"soon")],
            [
                SourceValueRef::Integer(8),
                SourceValueRef::Text(b"2023-02-31"),
            ],
            [
                SourceValueRef::Integer(9),
                SourceValueRef::Text(b"2023-04-31T00:00Z"),
            ],
        ];
        let mut keys_built = 0;
        for (i, row) in rows.iter().enumerate() {
            profiler.observe(
                || {
                    keys_built += 1;
                    RowKey::rowid(i as i64 + 1)
                },
                row,
            );
        }
        // Rows 6, 7 and 8 give examples; row 9 is bad too but past the three kept.
        assert_eq!(keys_built, 3, "keys are built only for examples kept");
        let profile = profiler.finish();
        assert_eq!(profile.rows, 9);
        let id = &profile.columns[0];
        assert_eq!((id.storage.integer, id.storage.text, id.bad), (8, 1, 1));
        assert_eq!(id.examples[0].row, "rowid=6");
        assert!(id.formats.is_empty());
        let at = &profile.columns[1];
        assert_eq!(at.storage.null, 1);
        assert_eq!(at.storage.text, 6);
        assert_eq!(at.bad, 4);
        assert_eq!(at.examples.len(), 3);
        assert_eq!(at.examples[0].value, "'2023-02-30'");
        assert!(at.examples[0]
            .reason
            .starts_with("is not a valid date (February has 28 days in 2023)"));
        let formats: Vec<(&str, u64)> = at.formats.iter().map(|(k, n)| (k.as_str(), *n)).collect();
        assert_eq!(
            formats,
            vec![
                ("YYYY-MM-DD", 2),
                ("YYYY-MM-DD HH:MM:SS", 2),
                ("YYYY-MM-DDTHH:MMZ", 1),
                ("julian day real", 1),
                ("other text", 1),
                ("unix epoch integer", 1),
            ]
        );
        let text = profile.to_string();
        assert!(
            text.starts_with("events → public.events: 9 rows\n"),
            "{text}"
        );
        assert!(
            text.contains("  column  declared  type         null  integer  real  text  blob  bad"),
            "{text}"
        );
        assert!(
            text.contains("  at      DATETIME  timestamptz     1        1     1     6     0    4"),
            "{text}"
        );
        assert!(
            text.contains("  at bad: rowid=6 '2023-02-30' is not a valid date"),
            "{text}"
        );
        assert!(text.contains("  at bad: … and 1 more"), "{text}");
        let json = serde_json::to_value(&profile).unwrap();
        assert_eq!(json["columns"][1]["storage"]["text"], 6);
    }
}
