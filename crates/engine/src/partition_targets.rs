//! The range-partitioned tables `ferry partitions` maintains, found
//! without the SQLite file: the config (and `--partition`) says which
//! tables are partitioned and by what interval or width, the naming rules
//! say what they are called in Postgres, and the target's catalog gives
//! the key column's type and confirms the table is partitioned by it.

use anyhow::Result;
use ferry_model::{ColumnPlan, PartitionPlan, PartitionScheme, PgType, TablePlan};
use ferry_transformer::{target_name, IdentifierCase, PartitionSpec};
use tokio_postgres::Client;

use crate::config::Config;
use crate::exit::UsageError;
use crate::options::{IdentifierMode, SourceOptions};
use crate::partition_config::parse_partition_flag;

/// What the config asks `ferry partitions` to maintain: a plan for each
/// range-partitioned table the target holds, and a line for each it does
/// not hold yet.
pub(crate) struct FromConfig {
    pub plans: Vec<TablePlan>,
    pub skipped: Vec<String>,
}

/// Plans the range-partitioned tables of the config and `--partition`
/// flags, selected by `--tables`/`--exclude` (or `include`/`exclude`),
/// against the target's catalog.
pub(crate) async fn plans_from_config(client: &Client, args: &SourceOptions) -> Result<FromConfig> {
    let config = Config::load(args.config.as_deref())?;
    let specs = range_specs(&config, args)?;
    let schema = args
        .schema
        .clone()
        .or_else(|| config.schema.clone())
        .unwrap_or_else(|| "public".to_owned());
    let case = match args.identifiers.or(config.identifiers) {
        Some(IdentifierMode::Preserve) => IdentifierCase::Preserve,
        Some(IdentifierMode::Lower) | None => IdentifierCase::Lower,
    };
    let mut found = FromConfig {
        plans: Vec::new(),
        skipped: Vec::new(),
    };
    for (table, spec) in specs {
        let section = lookup(&config.overrides, &table);
        let name = target_name(&table, section.and_then(|s| s.rename.as_deref()), case);
        let column_rename = section
            .and_then(|s| lookup(&s.columns, &spec.column))
            .and_then(|c| c.rename.as_deref());
        let column = target_name(&spec.column, column_rename, case);
        let Some(key) = ferry_writer::partition_key(client, &schema, &name).await? else {
            found.skipped.push(format!(
                "skipped {schema}.{name}: not a partitioned table in the target; create it with \
                 ferry copy first"
            ));
            continue;
        };
        let pg_type = match (key.strategy, key.columns.as_slice(), key.types.as_slice()) {
            ('r', [Some(actual)], [Some(type_name)]) if *actual == column => range_type(type_name)
                .ok_or_else(|| {
                    UsageError::new(format!(
                        "{schema}.{name} is partitioned by {column} of type {type_name}, which \
                         ferry does not keep ranges of (date, timestamp, timestamptz, smallint, \
                         integer or bigint)"
                    ))
                })?,
            _ => {
                return Err(UsageError::new(format!(
                    "{}: the target's {schema}.{name} is not range-partitioned by {column} \
                     alone; give the settings the copy was made with, or --source to plan from \
                     the SQLite file",
                    spec.location(&table, "column")
                ))
                .into())
            }
        };
        let mut plan = TablePlan::new(&schema, &name, vec![ColumnPlan::new(&column, "", pg_type)]);
        plan.source_name = table;
        plan.partition = Some(PartitionPlan {
            column,
            scheme: spec.scheme,
            leaves: Vec::new(),
            unique: spec.unique,
            manager: spec.manager,
        });
        found.plans.push(plan);
    }
    Ok(found)
}

/// The range specs of the selected tables: the config's, each replaced by
/// a `--partition` flag naming the same table (in any case).
fn range_specs(config: &Config, args: &SourceOptions) -> Result<Vec<(String, PartitionSpec)>> {
    let mut specs: Vec<(String, PartitionSpec)> = config
        .overrides
        .iter()
        .filter_map(|(table, o)| Some((table.clone(), o.partition.clone()?)))
        .collect();
    for flag in &args.partition {
        let (table, spec) = parse_partition_flag(flag)?;
        specs.retain(|(name, _)| !name.eq_ignore_ascii_case(&table));
        specs.push((table, spec));
    }
    let only = if args.tables.is_empty() {
        &config.include
    } else {
        &args.tables
    };
    let exclude = if args.exclude.is_empty() {
        &config.exclude
    } else {
        &args.exclude
    };
    let listed = |list: &[String], name: &str| list.iter().any(|t| t.eq_ignore_ascii_case(name));
    specs.retain(|(table, spec)| {
        matches!(
            spec.scheme,
            PartitionScheme::Range { .. } | PartitionScheme::RangeWidth { .. }
        ) && (only.is_empty() || listed(only, table))
            && !listed(exclude, table)
    });
    if specs.is_empty() {
        return Err(UsageError::new(
            "no table is range-partitioned: give the --config (or --partition) the copy was made \
             with",
        )
        .into());
    }
    Ok(specs)
}

/// A section of the config by source name, in any case, as the planner
/// finds it.
fn lookup<'a, T>(map: &'a std::collections::BTreeMap<String, T>, name: &str) -> Option<&'a T> {
    map.iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

/// The type of a range key ferry maintains, from its `pg_type.typname`.
fn range_type(type_name: &str) -> Option<PgType> {
    Some(match type_name {
        "date" => PgType::Date,
        "timestamp" => PgType::Timestamp,
        "timestamptz" => PgType::Timestamptz,
        "int2" => PgType::SmallInt,
        "int4" => PgType::Integer,
        "int8" => PgType::BigInt,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_the_range_key_types() {
        assert_eq!(range_type("timestamptz"), Some(PgType::Timestamptz));
        assert_eq!(range_type("int8"), Some(PgType::BigInt));
        assert_eq!(range_type("text"), None);
    }
}
