//! `partition = { … }` in a `[tables.NAME]` section of ferry.toml, and its
//! command-line shorthand `--partition TABLE:COLUMN:SCHEME`, both turned
//! into the transformer's [`PartitionSpec`].
//!
//! ```toml
//! [tables.emails]
//! partition = { by = "range", column = "received_at", interval = "month" }
//! [tables.events]
//! partition = { by = "range", column = "id", width = 1000000 }
//! [tables.accounts]
//! partition = { by = "hash", column = "id", modulus = 8, unique = "drop" }
//! [tables.orders]
//! partition = { by = "list", column = "country" }
//! [tables.logs]
//! partition = { by = "range", column = "at", interval = "day", manager = "pg_partman", premake = 7, retention = "30 days" }
//! ```

use std::collections::BTreeMap;

use anyhow::Result;
use ferry_model::{
    PartitionManager, PartitionScheme, PartmanSettings, SourceSchema, TimeInterval, UniquePolicy,
};
use ferry_transformer::{PartitionSpec, SpecOrigin, TableOverride};
use serde::Deserialize;

use crate::exit::UsageError;

/// `partition = { … }` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionConfig {
    by: Strategy,
    column: String,
    interval: Option<Interval>,
    width: Option<i64>,
    modulus: Option<i64>,
    unique: Option<UniqueMode>,
    manager: Option<Manager>,
    premake: Option<i64>,
    retention: Option<String>,
    retention_keep_table: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Manager {
    Ferry,
    PgPartman,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Strategy {
    Range,
    List,
    Hash,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Interval {
    Day,
    Week,
    Month,
    Year,
}

impl From<Interval> for TimeInterval {
    fn from(interval: Interval) -> TimeInterval {
        match interval {
            Interval::Day => TimeInterval::Day,
            Interval::Week => TimeInterval::Week,
            Interval::Month => TimeInterval::Month,
            Interval::Year => TimeInterval::Year,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum UniqueMode {
    Widen,
    Drop,
}

impl PartitionConfig {
    /// Checks that the keys fit the strategy; the column and its type are
    /// checked against the source when the table is planned.
    pub fn validate(self, table: &str) -> Result<PartitionSpec> {
        let key = |name: &str| format!("[tables.{table}] partition.{name}");
        let unexpected = |name: &str, by: &str| {
            UsageError::new(format!(
                "{}: not used with by = \"{by}\"; remove it",
                key(name)
            ))
        };
        let scheme = match self.by {
            Strategy::Range => match (self.interval, self.width) {
                (Some(interval), None) => PartitionScheme::Range {
                    interval: interval.into(),
                },
                (None, Some(width)) => PartitionScheme::RangeWidth { width },
                _ => {
                    return Err(UsageError::new(format!(
                        "{}: by = \"range\" needs exactly one of interval = \"day\" | \"week\" | \
                         \"month\" | \"year\" (date and timestamp columns) or width = N (integer \
                         columns)",
                        key("by")
                    ))
                    .into())
                }
            },
            Strategy::Hash => {
                let Some(modulus) = self.modulus else {
                    return Err(UsageError::new(format!(
                        "{}: by = \"hash\" needs modulus = N, the number of leaves (2 or more)",
                        key("modulus")
                    ))
                    .into());
                };
                let modulus = u32::try_from(modulus)
                    .ok()
                    .filter(|m| *m >= 2)
                    .ok_or_else(|| {
                        UsageError::new(format!(
                            "{}: modulus must be 2 or more, not {modulus}",
                            key("modulus")
                        ))
                    })?;
                PartitionScheme::Hash { modulus }
            }
            Strategy::List => PartitionScheme::List,
        };
        let by = match self.by {
            Strategy::Range => "range",
            Strategy::List => "list",
            Strategy::Hash => "hash",
        };
        if self.modulus.is_some() && !matches!(scheme, PartitionScheme::Hash { .. }) {
            return Err(unexpected("modulus", by).into());
        }
        if !matches!(self.by, Strategy::Range) {
            if self.interval.is_some() {
                return Err(unexpected("interval", by).into());
            }
            if self.width.is_some() {
                return Err(unexpected("width", by).into());
            }
        }
        let manager = self.manager(table, &scheme, by)?;
        Ok(PartitionSpec {
            column: self.column,
            scheme,
            manager,
            unique: match self.unique {
                Some(UniqueMode::Drop) => UniquePolicy::Drop,
                Some(UniqueMode::Widen) | None => UniquePolicy::Widen,
            },
            origin: SpecOrigin::Config,
        })
    }
}

impl PartitionConfig {
    /// `manager`, and the pg_partman keys that only go with it.
    fn manager(&self, table: &str, scheme: &PartitionScheme, by: &str) -> Result<PartitionManager> {
        let key = |name: &str| format!("[tables.{table}] partition.{name}");
        if self.manager != Some(Manager::PgPartman) {
            let partman_only = [
                ("premake", self.premake.is_some()),
                ("retention", self.retention.is_some()),
                ("retention_keep_table", self.retention_keep_table.is_some()),
            ];
            if let Some((name, _)) = partman_only.iter().find(|(_, set)| *set) {
                return Err(UsageError::new(format!(
                    "{}: only used with manager = \"pg_partman\"; ferry's own partitions are kept \
                     with ferry partitions ensure --ahead N and prune --older-than D",
                    key(name)
                ))
                .into());
            }
            return Ok(PartitionManager::Ferry);
        }
        if !matches!(
            scheme,
            PartitionScheme::Range { .. } | PartitionScheme::RangeWidth { .. }
        ) {
            return Err(UsageError::new(format!(
                "{}: pg_partman manages range partitions only (by time with interval, or by \
                 integer id with width), not by = \"{by}\"; partition by range, or remove manager",
                key("manager")
            ))
            .into());
        }
        let premake = match self.premake {
            None => PartmanSettings::default().premake,
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| {
                    UsageError::new(format!(
                        "{}: premake must be between 1 and 1000 (leaves kept ahead), not {n}",
                        key("premake")
                    ))
                })?,
        };
        if let Some(retention) = &self.retention {
            let fits = match scheme {
                PartitionScheme::RangeWidth { .. } => {
                    retention.trim().parse::<i64>().is_ok_and(|n| n > 0)
                }
                _ => is_interval(retention),
            };
            if !fits {
                let want = match scheme {
                    PartitionScheme::RangeWidth { .. } => {
                        "a whole number of ids for an integer range (e.g. \"10000000\": leaves \
                         wholly below the largest id minus it are dropped)"
                    }
                    _ => {
                        "an interval for a time range, a number and a unit (e.g. \"90 days\", \
                         \"12 weeks\", \"6 months\", \"1 year\")"
                    }
                };
                return Err(UsageError::new(format!(
                    "{}: '{retention}' is not {want}",
                    key("retention")
                ))
                .into());
            }
        }
        Ok(PartitionManager::PgPartman(PartmanSettings {
            premake,
            retention: self.retention.as_ref().map(|r| r.trim().to_owned()),
            keep_table: self.retention_keep_table.unwrap_or(false),
        }))
    }
}

/// `90 days`, `1 year 6 months`: pairs of a whole number and a unit
/// Postgres reads as an interval.
fn is_interval(text: &str) -> bool {
    const UNITS: [&str; 8] = [
        "second", "minute", "hour", "day", "week", "month", "mon", "year",
    ];
    let words: Vec<&str> = text.split_whitespace().collect();
    !words.is_empty()
        && words.len() % 2 == 0
        && words.chunks(2).all(|pair| {
            let unit = pair[1].to_ascii_lowercase();
            let unit = unit.strip_suffix('s').unwrap_or(&unit);
            pair[0].parse::<u32>().is_ok() && UNITS.contains(&unit)
        })
}

/// Parses `--partition TABLE:COLUMN:SCHEME`, SCHEME being `day`, `week`,
/// `month`, `year`, `width=N`, `hash=N` or `list`. Returns the table and
/// its spec; unique constraints are widened, as in the config's default.
pub fn parse_partition_flag(text: &str) -> Result<(String, PartitionSpec)> {
    let bad = |why: &str| {
        UsageError::new(format!(
            "--partition {text}: {why}; write TABLE:COLUMN:SCHEME, SCHEME being day, week, month, \
             year, width=N, hash=N or list (e.g. emails:received_at:month)"
        ))
    };
    let (table, rest) = text.split_once(':').ok_or_else(|| bad("no column"))?;
    let (column, scheme) = rest.rsplit_once(':').ok_or_else(|| bad("no scheme"))?;
    if table.is_empty() || column.is_empty() {
        return Err(bad("empty table or column name").into());
    }
    let number = |value: &str| -> Result<i64> {
        value
            .parse::<i64>()
            .map_err(|_| bad(&format!("'{value}' is not a whole number")).into())
    };
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "day" => PartitionScheme::Range {
            interval: TimeInterval::Day,
        },
        "week" => PartitionScheme::Range {
            interval: TimeInterval::Week,
        },
        "month" => PartitionScheme::Range {
            interval: TimeInterval::Month,
        },
        "year" => PartitionScheme::Range {
            interval: TimeInterval::Year,
        },
        "list" => PartitionScheme::List,
        other => match other.split_once('=') {
            Some(("width", n)) => PartitionScheme::RangeWidth { width: number(n)? },
            Some(("hash", n)) => PartitionScheme::Hash {
                modulus: u32::try_from(number(n)?)
                    .map_err(|_| bad("the modulus must be between 2 and 1000"))?,
            },
            _ => return Err(bad(&format!("unknown scheme '{scheme}'")).into()),
        },
    };
    Ok((
        table.to_owned(),
        PartitionSpec {
            column: column.to_owned(),
            scheme,
            unique: UniquePolicy::Widen,
            manager: PartitionManager::Ferry,
            origin: SpecOrigin::Flag(text.to_owned()),
        },
    ))
}

/// Applies every `--partition` flag to the config's table sections (a flag
/// wins over the config). A flag naming no table of the source is an error.
pub fn apply_partition_flags(
    schema: &SourceSchema,
    flags: &[String],
    overrides: &mut BTreeMap<String, TableOverride>,
) -> Result<()> {
    for flag in flags {
        let (table, spec) = parse_partition_flag(flag)?;
        let Some(found) = schema.table(&table) else {
            let known: Vec<&str> = schema.tables.iter().map(|t| t.name.as_str()).collect();
            return Err(UsageError::new(format!(
                "--partition {flag}: no table '{table}' in the source; its tables are: {}",
                known.join(", ")
            ))
            .into());
        };
        let key = overrides
            .keys()
            .find(|name| name.eq_ignore_ascii_case(&found.name))
            .cloned()
            .unwrap_or_else(|| found.name.clone());
        overrides.entry(key).or_default().partition = Some(spec);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Result<PartitionSpec> {
        #[derive(Deserialize)]
        struct Wrapper {
            partition: PartitionConfig,
        }
        let wrapper: Wrapper = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        wrapper.partition.validate("emails")
    }

    #[test]
    fn reads_every_form() {
        let month = config(
            "partition = { by = \"range\", column = \"received_at\", interval = \"month\" }",
        )
        .unwrap();
        assert_eq!(
            month.scheme,
            PartitionScheme::Range {
                interval: TimeInterval::Month
            }
        );
        assert_eq!(month.unique, UniquePolicy::Widen);
        let width =
            config("partition = { by = \"range\", column = \"id\", width = 1000000 }").unwrap();
        assert_eq!(
            width.scheme,
            PartitionScheme::RangeWidth { width: 1_000_000 }
        );
        let hash = config(
            "partition = { by = \"hash\", column = \"id\", modulus = 8, unique = \"drop\" }",
        )
        .unwrap();
        assert_eq!(hash.scheme, PartitionScheme::Hash { modulus: 8 });
        assert_eq!(hash.unique, UniquePolicy::Drop);
        let list = config("partition = { by = \"list\", column = \"country\" }").unwrap();
        assert_eq!(list.scheme, PartitionScheme::List);
    }

    #[test]
    fn errors_name_the_key() {
        let err =
            config("partition = { by = \"hash\", column = \"id\", modulus = 1 }").unwrap_err();
        assert_eq!(
            err.to_string(),
            "[tables.emails] partition.modulus: modulus must be 2 or more, not 1"
        );
        let err = config("partition = { by = \"range\", column = \"id\" }").unwrap_err();
        assert!(err.to_string().starts_with("[tables.emails] partition.by:"));
        let err = config("partition = { by = \"list\", column = \"c\", width = 3 }").unwrap_err();
        assert!(err
            .to_string()
            .starts_with("[tables.emails] partition.width: not used"));
        assert!(config("partition = { by = \"range\", column = \"c\", every = 3 }").is_err());
    }

    #[test]
    fn reads_the_pg_partman_keys() {
        let spec = config(
            "partition = { by = \"range\", column = \"at\", interval = \"month\", manager = \
             \"pg_partman\", retention = \"90 days\" }",
        )
        .unwrap();
        assert_eq!(
            spec.manager,
            PartitionManager::PgPartman(PartmanSettings {
                premake: 4,
                retention: Some("90 days".to_owned()),
                keep_table: false,
            })
        );
        let spec = config(
            "partition = { by = \"range\", column = \"id\", width = 1000, manager = \
             \"pg_partman\", premake = 2, retention = \"5000\", retention_keep_table = true }",
        )
        .unwrap();
        assert_eq!(
            spec.manager,
            PartitionManager::PgPartman(PartmanSettings {
                premake: 2,
                retention: Some("5000".to_owned()),
                keep_table: true,
            })
        );
        let ferry = config("partition = { by = \"range\", column = \"at\", interval = \"day\", manager = \"ferry\" }");
        assert_eq!(ferry.unwrap().manager, PartitionManager::Ferry);
    }

    #[test]
    fn refuses_what_pg_partman_cannot_manage() {
        let err = config("partition = { by = \"list\", column = \"c\", manager = \"pg_partman\" }")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "[tables.emails] partition.manager: pg_partman manages range partitions only (by \
             time with interval, or by integer id with width), not by = \"list\"; partition by \
             range, or remove manager"
        );
        let hash = "partition = { by = \"hash\", column = \"c\", modulus = 4, manager = \
                    \"pg_partman\" }";
        assert!(config(hash)
            .unwrap_err()
            .to_string()
            .contains("not by = \"hash\""));
        let err = config(
            "partition = { by = \"range\", column = \"at\", interval = \"day\", retention = \
             \"30 days\" }",
        )
        .unwrap_err();
        assert!(err.to_string().starts_with(
            "[tables.emails] partition.retention: only used with manager = \"pg_partman\""
        ));
        let err = config(
            "partition = { by = \"range\", column = \"at\", interval = \"day\", manager = \
             \"pg_partman\", retention = \"90 dayz\" }",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("'90 dayz' is not an interval"),
            "{err}"
        );
        let err = config(
            "partition = { by = \"range\", column = \"id\", width = 10, manager = \
             \"pg_partman\", retention = \"90 days\" }",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("is not a whole number of ids"),
            "{err}"
        );
        let err = config(
            "partition = { by = \"range\", column = \"at\", interval = \"day\", manager = \
             \"pg_partman\", premake = 0 }",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("premake must be between 1 and 1000"),
            "{err}"
        );
        assert!(config("partition = { by = \"range\", column = \"at\", interval = \"day\", manager = \"cron\" }").is_err());
        assert!(is_interval("1 year 6 Months"));
        assert!(!is_interval("ninety days"));
    }

    #[test]
    fn parses_the_flag() {
        let (table, spec) = parse_partition_flag("emails:received_at:month").unwrap();
        assert_eq!(
            (table.as_str(), spec.column.as_str()),
            ("emails", "received_at")
        );
        assert_eq!(
            spec.origin,
            SpecOrigin::Flag("emails:received_at:month".to_owned())
        );
        let (_, spec) = parse_partition_flag("events:id:width=1000").unwrap();
        assert_eq!(spec.scheme, PartitionScheme::RangeWidth { width: 1000 });
        let (_, spec) = parse_partition_flag("accounts:id:hash=8").unwrap();
        assert_eq!(spec.scheme, PartitionScheme::Hash { modulus: 8 });
        let (_, spec) = parse_partition_flag("orders:a:b:list").unwrap();
        assert_eq!(spec.column, "a:b");
        assert!(parse_partition_flag("emails:month").is_err());
        assert!(parse_partition_flag("emails:x:fortnight").is_err());
        assert!(parse_partition_flag("emails:x:hash=-1").is_err());
    }
}
