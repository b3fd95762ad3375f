//! How each table is synced: `[tables.NAME.sync]` in ferry.toml, or a
//! default read off the table's shape.
//!
//! ```toml
//! [tables.emails.sync]
//! mode = "cursor"        # cursor | append | full
//! cursor = "updated_at"  # cursor mode: a timestamp, date or integer column
//! lag = "5m"             # re-read this far behind the watermark
//! deletes = "detect"     # detect | ignore
//! reconcile_every = "1d" # compare both sides in full this often, or "never"
//! ```
//!
//! Default: full, for every table. A cursor misses an update that leaves
//! it unchanged and append misses every update and delete, and nothing in
//! a schema proves that an application never writes such a change (a
//! `users(id, name)` table, or an `updated_at` some code path forgets), so
//! they are used only when the config asks for them; what each one cannot
//! see is then said by `ferry plan` and the sync summary
//! ([`Strategy::blind_spots`]), and `ferry sync --check` finds the drift.
//! See issue 13.

use std::fmt;

use anyhow::Result;
use ferry_model::{PgType, TablePlan, TableSchema};
use serde::Deserialize;

use crate::exit::UsageError;

/// The default lag of a cursor: writes committed this long after their
/// timestamp was taken, or by a clock this far behind, are still caught.
const DEFAULT_LAG_SECONDS: i64 = 300;

/// How often a table is compared with the target in full by default,
/// reading both sides: what a strategy misses, and rows changed in
/// Postgres by anyone but ferry, are repaired at least this often.
const DEFAULT_RECONCILE_SECONDS: i64 = 86_400;

/// `[tables.NAME.sync]` as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    mode: Option<ModeConfig>,
    cursor: Option<String>,
    lag: Option<String>,
    deletes: Option<Deletes>,
    reconcile_every: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ModeConfig {
    Cursor,
    Append,
    Full,
}

/// Whether rows gone from the source are removed from the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Deletes {
    /// Compare the keys of both sides each run and delete the missing.
    Detect,
    /// Leave them.
    Ignore,
}

/// How one table is synced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Rows whose cursor is at or past the watermark minus `lag`.
    Cursor {
        /// Position of the cursor column in the plan's (and source's)
        /// columns.
        column: usize,
        /// Target name of the cursor column.
        name: String,
        /// Seconds re-read behind the watermark.
        lag_seconds: i64,
    },
    /// Rows whose `INTEGER PRIMARY KEY` is past the target's largest.
    Append,
    /// Both sides compared in full each run.
    Full,
}

/// A table's strategy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Strategy {
    pub mode: Mode,
    pub deletes: Deletes,
    /// Picked by ferry rather than configured.
    pub default: bool,
    /// Seconds between full comparisons of both sides; `None` for never.
    pub reconcile_every: Option<i64>,
}

impl Strategy {
    /// The word stored in ferry.sync_state.
    pub fn mode_name(&self) -> &'static str {
        match self.mode {
            Mode::Cursor { .. } => "cursor",
            Mode::Append => "append",
            Mode::Full => "full",
        }
    }

    /// The kinds of change this strategy cannot see, as a phrase
    /// (`updates that leave updated_at unchanged`), or `None` when it sees
    /// every change.
    pub fn blind_spots(&self) -> Option<String> {
        let deletes = self.deletes == Deletes::Ignore;
        match &self.mode {
            Mode::Full => None,
            Mode::Cursor { name, .. } if deletes => {
                Some(format!("updates that leave {name} unchanged, and deletes"))
            }
            Mode::Cursor { name, .. } => Some(format!("updates that leave {name} unchanged")),
            Mode::Append if deletes => Some("updates and deletes".to_owned()),
            Mode::Append => Some("updates".to_owned()),
        }
    }

    /// The cursor's target column name, in cursor mode.
    pub fn cursor_name(&self) -> Option<&str> {
        match &self.mode {
            Mode::Cursor { name, .. } => Some(name),
            _ => None,
        }
    }
}

impl fmt::Display for Strategy {
    /// `cursor on updated_at, lag 5m, deletes detect`, `append`, `full`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.mode {
            Mode::Cursor {
                name, lag_seconds, ..
            } => write!(f, "cursor on {name}, lag {}", show_lag(*lag_seconds))?,
            Mode::Append => f.write_str("append")?,
            Mode::Full => f.write_str("full")?,
        }
        if self.deletes == Deletes::Detect && self.mode != Mode::Full {
            f.write_str(", deletes detect")?;
        }
        if self.default {
            f.write_str(" (default)")?;
        }
        Ok(())
    }
}

/// The strategy of a table: its config, else the default.
pub fn strategy(
    table: &TableSchema,
    plan: &TablePlan,
    config: Option<&SyncConfig>,
) -> Result<Strategy> {
    let config = config.cloned().unwrap_or_default();
    let key = format!("[tables.{}.sync]", table.name);
    let has_key = !plan.primary_key.is_empty();
    let lag_seconds = match &config.lag {
        Some(lag) => parse_lag(lag).map_err(|e| UsageError::new(format!("{key} lag: {e}")))?,
        None => DEFAULT_LAG_SECONDS,
    };
    // `cursor = "COLUMN"` alone asks for a cursor as plainly as `mode`.
    let mode = match config
        .mode
        .or(config.cursor.as_ref().map(|_| ModeConfig::Cursor))
    {
        None => Mode::Full,
        Some(ModeConfig::Full) => Mode::Full,
        Some(ModeConfig::Append) => {
            if table.rowid_alias.is_none() || plan.primary_key.len() != 1 {
                return Err(UsageError::new(format!(
                    "{key} mode = \"append\" needs an INTEGER PRIMARY KEY, which {} lacks; use \
                     mode = \"cursor\" or \"full\"",
                    table.name
                ))
                .into());
            }
            Mode::Append
        }
        Some(ModeConfig::Cursor) => {
            let Some(cursor) = &config.cursor else {
                return Err(UsageError::new(format!(
                    "{key} mode = \"cursor\" needs cursor = \"COLUMN\", a timestamp, date or \
                     integer column that every write moves forward"
                ))
                .into());
            };
            if !has_key {
                return Err(UsageError::new(format!(
                    "{key} mode = \"cursor\" needs a primary key to match rows by, which {} \
                     lacks; use mode = \"full\"",
                    table.name
                ))
                .into());
            }
            cursor_mode(table, plan, cursor, lag_seconds).map_err(|reason| {
                UsageError::new(format!("{key} cursor = \"{cursor}\": {reason}"))
            })?
        }
    };
    let reconcile_every = match config.reconcile_every.as_deref().map(str::trim) {
        None => Some(DEFAULT_RECONCILE_SECONDS),
        Some("never") => None,
        Some(every) => Some(
            parse_lag(every)
                .map_err(|e| UsageError::new(format!("{key} reconcile_every: {e}, or never")))?,
        ),
    };
    let deletes = config.deletes.unwrap_or(match mode {
        Mode::Cursor { .. } | Mode::Full => Deletes::Detect,
        Mode::Append => Deletes::Ignore,
    });
    Ok(Strategy {
        mode,
        deletes,
        default: config.mode.is_none() && config.cursor.is_none(),
        reconcile_every,
    })
}

fn cursor_mode(
    table: &TableSchema,
    plan: &TablePlan,
    cursor: &str,
    lag_seconds: i64,
) -> Result<Mode, String> {
    let column = plan
        .columns
        .iter()
        .position(|c| c.source_name.eq_ignore_ascii_case(cursor) || c.name == cursor)
        .ok_or_else(|| format!("no such column in {}", table.name))?;
    let pg_type = plan.columns[column].pg_type;
    if !matches!(
        pg_type,
        PgType::Timestamp
            | PgType::Timestamptz
            | PgType::Date
            | PgType::SmallInt
            | PgType::Integer
            | PgType::BigInt
    ) {
        return Err(format!(
            "the column maps to {pg_type}; a cursor must be a timestamp, date or integer column \
             (set its type in [tables.{}.columns.{cursor}])",
            table.name
        ));
    }
    Ok(Mode::Cursor {
        column,
        name: plan.columns[column].name.clone(),
        lag_seconds,
    })
}

/// `0`, `90s`, `5m`, `2h`, `1d` to seconds.
pub fn parse_lag(text: &str) -> Result<i64, String> {
    let bad = || format!("'{text}' is not a duration; write 30s, 5m, 2h or 1d");
    let text = text.trim();
    if text == "0" {
        return Ok(0);
    }
    let split = text.len().checked_sub(1).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.trim().parse().map_err(|_| bad())?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(bad()),
    };
    if number < 0 {
        return Err(bad());
    }
    number.checked_mul(unit).ok_or_else(bad)
}

/// A duration as `parse_lag` reads it: `5m`, `1d`, `90s`.
pub fn show_lag(seconds: i64) -> String {
    match seconds {
        0 => "0".to_owned(),
        s if s % 86400 == 0 => format!("{}d", s / 86400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_model::SourceColumn;
    use ferry_transformer::{plan_tables, PlanOptions};

    fn table(sql_columns: &[(&str, &str, u32)], alias: Option<&str>) -> (TableSchema, TablePlan) {
        let columns: Vec<SourceColumn> = sql_columns
            .iter()
            .map(|(name, declared, pk)| SourceColumn {
                primary_key_position: *pk,
                ..SourceColumn::new(name, declared)
            })
            .collect();
        let mut table = TableSchema::new("t", columns);
        table.primary_key = sql_columns
            .iter()
            .filter(|c| c.2 > 0)
            .map(|c| c.0.to_owned())
            .collect();
        table.rowid_alias = alias.map(str::to_owned);
        let schema = ferry_model::SourceSchema {
            tables: vec![table.clone()],
            skipped: vec![],
            spatial: Default::default(),
        };
        let options = PlanOptions {
            schema: "public".into(),
            tables: vec!["t".into()],
            ..PlanOptions::default()
        };
        let plan = plan_tables(&schema, &options).unwrap().remove(0);
        (table, plan)
    }

    #[test]
    fn the_default_sees_every_change() {
        // A cursor-looking column and an INTEGER PRIMARY KEY do not prove
        // that every write moves the cursor or that rows never change.
        for (columns, alias) in [
            (
                &[("id", "INTEGER", 1), ("Updated_At", "DATETIME", 0)][..],
                Some("id"),
            ),
            (&[("id", "INTEGER", 1), ("name", "TEXT", 0)][..], Some("id")),
            (&[("k", "TEXT", 1), ("v", "TEXT", 0)][..], None),
            (&[("k", "TEXT", 0), ("mtime", "TIMESTAMP", 0)][..], None),
        ] {
            let (t, p) = table(columns, alias);
            let s = strategy(&t, &p, None).unwrap();
            assert_eq!(s.to_string(), "full (default)");
            assert_eq!(s.blind_spots(), None);
        }
    }

    #[test]
    fn configured_strategies_name_what_they_miss() {
        let (t, p) = table(
            &[("id", "INTEGER", 1), ("updated_at", "DATETIME", 0)],
            Some("id"),
        );
        let config = |text: &str| toml::from_str::<SyncConfig>(text).unwrap();
        let cursor = strategy(&t, &p, Some(&config("cursor = 'updated_at'"))).unwrap();
        assert_eq!(
            cursor.to_string(),
            "cursor on updated_at, lag 5m, deletes detect"
        );
        assert_eq!(
            cursor.blind_spots().as_deref(),
            Some("updates that leave updated_at unchanged")
        );
        let cursor = strategy(
            &t,
            &p,
            Some(&config(
                "mode = 'cursor'\ncursor = 'updated_at'\ndeletes = 'ignore'",
            )),
        )
        .unwrap();
        assert_eq!(
            cursor.blind_spots().as_deref(),
            Some("updates that leave updated_at unchanged, and deletes")
        );
        let append = strategy(&t, &p, Some(&config("mode = 'append'"))).unwrap();
        assert_eq!(append.blind_spots().as_deref(), Some("updates and deletes"));
        let append =
            strategy(&t, &p, Some(&config("mode = 'append'\ndeletes = 'detect'"))).unwrap();
        assert_eq!(append.blind_spots().as_deref(), Some("updates"));
        let full = strategy(&t, &p, Some(&config("mode = 'full'"))).unwrap();
        assert_eq!(full.blind_spots(), None);
    }

    #[test]
    fn config_wins_and_is_checked() {
        let (t, p) = table(
            &[
                ("id", "INTEGER", 1),
                ("version", "INTEGER", 0),
                ("body", "TEXT", 0),
            ],
            Some("id"),
        );
        let config: SyncConfig =
            toml::from_str("mode = 'cursor'\ncursor = 'version'\nlag = '0'\ndeletes = 'ignore'")
                .unwrap();
        let s = strategy(&t, &p, Some(&config)).unwrap();
        assert_eq!(s.to_string(), "cursor on version, lag 0");
        assert_eq!(s.mode_name(), "cursor");
        assert_eq!(s.cursor_name(), Some("version"));

        let bad: SyncConfig = toml::from_str("mode = 'cursor'\ncursor = 'body'").unwrap();
        let err = strategy(&t, &p, Some(&bad)).unwrap_err().to_string();
        assert!(err.contains("maps to text"), "{err}");
        let bad: SyncConfig = toml::from_str("mode = 'cursor'").unwrap();
        assert!(strategy(&t, &p, Some(&bad)).is_err());
        let bad: SyncConfig = toml::from_str("mode = 'full'\nlag = 'soon'").unwrap();
        let err = strategy(&t, &p, Some(&bad)).unwrap_err().to_string();
        assert!(err.contains("not a duration"), "{err}");
        assert!(toml::from_str::<SyncConfig>("mode = 'sometimes'").is_err());

        let (t, p) = table(&[("k", "TEXT", 1)], None);
        let append: SyncConfig = toml::from_str("mode = 'append'").unwrap();
        let err = strategy(&t, &p, Some(&append)).unwrap_err().to_string();
        assert!(err.contains("INTEGER PRIMARY KEY"), "{err}");
    }

    #[test]
    fn lags_parse_and_print() {
        assert_eq!(parse_lag("5m"), Ok(300));
        assert_eq!(parse_lag("90s"), Ok(90));
        assert_eq!(parse_lag("2h"), Ok(7200));
        assert_eq!(parse_lag("1d"), Ok(86400));
        assert_eq!(parse_lag("0"), Ok(0));
        assert!(parse_lag("").is_err());
        assert!(parse_lag("-5m").is_err());
        assert!(parse_lag("5 minutes").is_err());
        assert_eq!(show_lag(300), "5m");
        assert_eq!(show_lag(90), "90s");
    }
}
