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
//! ```

use std::collections::BTreeMap;

use anyhow::Result;
use ferry_model::{PartitionScheme, SourceSchema, TimeInterval, UniquePolicy};
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
        Ok(PartitionSpec {
            column: self.column,
            scheme,
            unique: match self.unique {
                Some(UniqueMode::Drop) => UniquePolicy::Drop,
                Some(UniqueMode::Widen) | None => UniquePolicy::Widen,
            },
            origin: SpecOrigin::Config,
        })
    }
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
