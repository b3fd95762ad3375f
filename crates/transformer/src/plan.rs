//! Source schema + options → one [`TablePlan`] per table: names, types,
//! defaults and identity. Keys, indexes and foreign keys are added by
//! [`crate::constraints`] once every table has its target names.

use std::collections::HashSet;

use ferry_model::{
    Coercion, ColumnPlan, NaiveZone, PgType, SourceSchema, SpatialMetadata, SridMap, TablePlan,
    TableSchema, Typmod,
};

use crate::constraints;
use crate::defaults::translate_default;
use crate::error::TransformError;
use crate::mapping::map_type;
use crate::names::{fold, truncate, Namespace, MAX_IDENTIFIER_BYTES};
use crate::options::{ColumnOverride, PlanOptions, TableOverride};
use crate::partition;
use crate::spatial::{self, GeometryMode};

/// Postgres's largest UTC offset is 15:59:59.
const MAX_OFFSET_SECONDS: i32 = 15 * 3600 + 59 * 60 + 59;

/// Plans the target tables: one [`TablePlan`] per name in
/// `options.tables`, in that order.
///
/// Fails when ferry.toml names a table or column that does not exist, or
/// when two source objects would get the same Postgres name. Everything
/// that is planned but not carried over exactly (a default, an expression
/// index, a foreign key to a table left out) is a sentence in
/// [`TablePlan::warnings`].
pub fn plan_tables(
    schema: &SourceSchema,
    options: &PlanOptions,
) -> Result<Vec<TablePlan>, TransformError> {
    check_offset(&options.naive_timezone, "ferry.toml: naive_timezone")?;
    check_overrides(schema, options)?;
    let tables = select_tables(schema, options)?;
    let mut relations = Namespace::new(format!("schema {}", options.schema));
    let mut plans = Vec::with_capacity(tables.len());
    for table in &tables {
        let table_override = find_override(options, &table.name);
        plans.push(plan_columns(
            table,
            table_override,
            options,
            &schema.spatial,
            &mut relations,
        )?);
    }
    let key_with_nulls: Vec<Option<&str>> = tables
        .iter()
        .map(|t| find_override(options, &t.name).and_then(|o| o.key_with_nulls.as_deref()))
        .collect();
    constraints::add_constraints(
        &tables,
        &mut plans,
        &mut relations,
        options.identifiers,
        &key_with_nulls,
    )?;
    partition::apply_partitions(&tables, &mut plans, options)?;
    Ok(plans)
}

/// A fixed offset must be one Postgres can hold; a named zone's offsets
/// come from the database and always are.
fn check_offset(zone: &NaiveZone, location: &str) -> Result<(), TransformError> {
    let NaiveZone::Offset(seconds) = *zone else {
        return Ok(());
    };
    if seconds.abs() > MAX_OFFSET_SECONDS {
        return Err(TransformError::InvalidOffset {
            location: location.to_owned(),
            seconds,
        });
    }
    Ok(())
}

/// A name as a TOML key: bare when it can be, quoted otherwise.
pub(crate) fn toml_key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn table_names(schema: &SourceSchema) -> Vec<String> {
    schema.tables.iter().map(|t| t.name.clone()).collect()
}

/// Every table and column ferry.toml names must exist, planned or not: a
/// typo must not silently leave a column with the wrong type.
fn check_overrides(schema: &SourceSchema, options: &PlanOptions) -> Result<(), TransformError> {
    for (table_name, table_override) in &options.overrides {
        let table_key = format!("tables.{}", toml_key(table_name));
        let table = schema
            .table(table_name)
            .ok_or_else(|| TransformError::UnknownTable {
                location: format!("ferry.toml: [{table_key}]"),
                table: table_name.clone(),
                available: table_names(schema),
            })?;
        for (column_name, column_override) in &table_override.columns {
            let location = format!(
                "ferry.toml: [{table_key}.columns.{}]",
                toml_key(column_name)
            );
            if table.column_index(column_name).is_none() {
                return Err(TransformError::UnknownColumn {
                    location,
                    table: table.name.clone(),
                    column: column_name.clone(),
                    available: table.columns.iter().map(|c| c.name.clone()).collect(),
                });
            }
            if let Some(zone) = &column_override.naive_timezone {
                check_offset(zone, &format!("{location} naive_timezone"))?;
            }
        }
    }
    Ok(())
}

/// The tables to plan, in the caller's order, each once.
fn select_tables<'s>(
    schema: &'s SourceSchema,
    options: &PlanOptions,
) -> Result<Vec<&'s TableSchema>, TransformError> {
    let mut seen = HashSet::new();
    let mut tables = Vec::with_capacity(options.tables.len());
    for name in &options.tables {
        let table = schema
            .table(name)
            .ok_or_else(|| TransformError::UnknownTable {
                location: "table list".to_owned(),
                table: name.clone(),
                available: table_names(schema),
            })?;
        if seen.insert(table.name.to_ascii_lowercase()) {
            tables.push(table);
        }
    }
    Ok(tables)
}

/// The override section of a table, matched as SQLite matches names.
fn find_override<'o>(options: &'o PlanOptions, table: &str) -> Option<&'o TableOverride> {
    options
        .overrides
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(table))
        .map(|(_, o)| o)
}

fn find_column_override<'o>(
    table_override: Option<&'o TableOverride>,
    column: &str,
) -> Option<&'o ColumnOverride> {
    table_override?
        .columns
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(column))
        .map(|(_, o)| o)
}

/// Folds or renames, then truncates to 63 bytes with a warning.
fn target_name(
    source: &str,
    rename: Option<&String>,
    options: &PlanOptions,
    what: &str,
    warnings: &mut Vec<String>,
) -> String {
    let name = match rename {
        Some(given) => given.clone(),
        None => fold(source, options.identifiers),
    };
    let cut = truncate(&name, MAX_IDENTIFIER_BYTES);
    if cut.len() < name.len() {
        warnings.push(format!(
            "{what} {source}: its name is longer than Postgres's 63 bytes and is cut to {cut}"
        ));
    }
    cut.to_owned()
}

/// Names Postgres gives every table's system columns: a user column can
/// have none of them.
const SYSTEM_COLUMNS: &[&str] = &["tableoid", "xmin", "cmin", "xmax", "cmax", "ctid", "oid"];

/// A column name Postgres accepts: a system column's name gets a `_`
/// appended (`xmin` becomes `xmin_`), an empty name becomes `column_N`
/// (its position), each with a warning, so that the plan, not a `CREATE
/// TABLE` halfway through a copy, says so.
fn usable_column_name(
    name: String,
    source: &str,
    position: usize,
    warnings: &mut Vec<String>,
) -> String {
    let usable = if name.is_empty() {
        format!("column_{}", position + 1)
    } else if SYSTEM_COLUMNS.contains(&name.as_str()) {
        format!("{name}_")
    } else {
        return name;
    };
    warnings.push(format!(
        "column {source:?}: Postgres reserves {name:?} (a system column or an empty name), so it \
         becomes {usable}; set rename in ferry.toml to choose another"
    ));
    usable
}

fn plan_columns(
    table: &TableSchema,
    table_override: Option<&TableOverride>,
    options: &PlanOptions,
    spatial: &SpatialMetadata,
    relations: &mut Namespace,
) -> Result<TablePlan, TransformError> {
    let mut warnings = Vec::new();
    let name = target_name(
        &table.name,
        table_override.and_then(|o| o.rename.as_ref()),
        options,
        "table",
        &mut warnings,
    );
    relations.claim(&name, format!("table {}", table.name))?;
    for collation in &table.custom_collations {
        warnings.push(format!(
            "collation {collation} is the application's own: ferry reads the table in binary \
             order instead (every row is copied), and Postgres compares its columns with the \
             database's collation"
        ));
    }
    let mut column_names = Namespace::new(format!("table {}", table.name));
    let mut columns = Vec::with_capacity(table.columns.len());
    for source in &table.columns {
        let column_override = find_column_override(table_override, &source.name);
        let postgis = spatial::postgis_column(spatial, &table.name, source);
        let named_type = column_override.and_then(|o| o.named_type.clone());
        let pg_type = match column_override.and_then(|o| o.pg_type) {
            Some(pg_type) => pg_type,
            None => {
                if let Some(named) = &named_type {
                    warnings.push(format!(
                        "column {}: type {} is checked against the target, which says what it \
                         is, before any table is created; planned here as the column's mapped \
                         type",
                        source.name, named.name
                    ));
                }
                let mapping = match (&postgis, options.geometry) {
                    (Some((mapping, _)), GeometryMode::Postgis) => mapping.clone(),
                    _ => map_type(&source.declared_type),
                };
                if let Some(note) = mapping.note {
                    warnings.push(format!("column {}: {note}", source.name));
                }
                mapping.pg_type
            }
        };
        let srids = match (pg_type, postgis) {
            (PgType::Geometry(_), Some((_, srids))) => {
                warnings.extend(spatial::non_epsg_warning(
                    spatial,
                    &table.name,
                    &source.name,
                ));
                srids
            }
            _ => SridMap::default(),
        };
        if source.generated {
            warnings.push(format!(
                "column {} is generated in SQLite; its values are copied but its expression is \
                 not kept",
                source.name
            ));
        }
        let name = usable_column_name(
            target_name(
                &source.name,
                column_override.and_then(|o| o.rename.as_ref()),
                options,
                "column",
                &mut warnings,
            ),
            &source.name,
            columns.len(),
            &mut warnings,
        );
        column_names.claim(&name, format!("column {}", source.name))?;
        let is_rowid_alias = table
            .rowid_alias
            .as_deref()
            .is_some_and(|alias| alias.eq_ignore_ascii_case(&source.name));
        // Postgres makes identities only of its own integer types, not of
        // a domain over one.
        let identity = is_rowid_alias
            && named_type.is_none()
            && matches!(pg_type, PgType::SmallInt | PgType::Integer | PgType::BigInt);
        let coercion = Coercion {
            strip_nul: column_override.and_then(|o| o.strip_nul).unwrap_or(false),
            invalid_utf8: column_override
                .and_then(|o| o.invalid_utf8)
                .unwrap_or_default(),
            naive_timezone: column_override
                .and_then(|o| o.naive_timezone.clone())
                .unwrap_or_else(|| options.naive_timezone.clone()),
            srids,
            typmod: column_override
                .filter(|o| o.pg_type.is_some())
                .map_or(Typmod::None, |o| o.typmod),
        };
        let mut column = ColumnPlan {
            source_name: source.name.clone(),
            name,
            declared_type: source.declared_type.clone(),
            pg_type,
            named_type,
            // Postgres makes every primary-key column NOT NULL; saying so in
            // the plan lets coercion catch SQLite's NULL keys as bad values.
            not_null: source.not_null
                || (source.primary_key_position > 0
                    && table_override.is_none_or(|o| o.key_with_nulls.is_none())),
            default_sql: None,
            identity,
            coercion,
        };
        if let Some(raw) = &source.default_sql {
            match translate_default(raw, &column) {
                Ok(Some(_)) if identity => warnings.push(format!(
                    "default {raw} of column {} not kept: an identity column takes its default \
                     from its sequence",
                    source.name
                )),
                Ok(sql) => column.default_sql = sql,
                Err(()) => warnings.push(format!(
                    "default {raw} of column {} not translated; set it by hand",
                    source.name
                )),
            }
        }
        columns.push(column);
    }
    let identity_floor = match columns.iter().any(|c| c.identity) {
        true => table.autoincrement.unwrap_or(0),
        false => 0,
    };
    Ok(TablePlan {
        source_name: table.name.clone(),
        schema: options.schema.clone(),
        name,
        columns,
        primary_key: Vec::new(),
        uniques: Vec::new(),
        indexes: Vec::new(),
        foreign_keys: Vec::new(),
        warnings,
        partition: None,
        identity_floor,
        checks: Vec::new(),
    })
}

#[cfg(test)]
mod tests;
