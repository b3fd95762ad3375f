//! Partitioned targets: checks the partition column, and reshapes keys so
//! Postgres accepts them on a partitioned table.
//!
//! Postgres enforces a primary key or `UNIQUE` constraint of a partitioned
//! table leaf by leaf, so it requires every such key to contain the
//! partition column
//! (<https://www.postgresql.org/docs/current/ddl-partitioning.html#DDL-PARTITIONING-DECLARATIVE-LIMITATIONS>).
//! The primary key is widened with a warning; a unique constraint is
//! widened or turned into a plain index, as [`UniquePolicy`] says; a
//! foreign key that references a key which no longer exists in that shape
//! is dropped with a warning. Leaves are computed later, from the data.

use ferry_model::{
    quote_ident, IndexPlan, PartitionManager, PartitionPlan, PartitionScheme, PgType, TablePlan,
    TableSchema, UniquePolicy,
};

use crate::error::TransformError;
use crate::options::PlanOptions;
use crate::plan::toml_key;

/// Most leaves a hash-partitioned table may have: Postgres plans slow down
/// with thousands of partitions.
pub const MAX_HASH_LEAVES: u32 = 1000;

/// How one table is to be partitioned, as the user asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionSpec {
    /// Source column name (matched as SQLite matches names).
    pub column: String,
    /// Range, hash or list, and its parameters.
    pub scheme: PartitionScheme,
    /// What to do with unique constraints lacking the column.
    pub unique: UniquePolicy,
    /// Who maintains the leaves after the copy (range schemes only).
    pub manager: PartitionManager,
    /// Where the setting was written, so an error names it.
    pub origin: SpecOrigin,
}

/// Where a [`PartitionSpec`] came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpecOrigin {
    /// `partition = { … }` in `[tables.NAME]` of ferry.toml.
    Config,
    /// `--partition TEXT` on the command line.
    Flag(String),
}

impl PartitionSpec {
    /// The config key or flag an error about `key` should name.
    pub fn location(&self, table: &str, key: &str) -> String {
        match &self.origin {
            SpecOrigin::Config => {
                format!("ferry.toml: [tables.{}] partition.{key}", toml_key(table))
            }
            SpecOrigin::Flag(text) => format!("--partition {text}"),
        }
    }
}

/// Applies each table's partition spec to its plan. Runs after keys and
/// foreign keys are planned, since it reshapes them.
pub(crate) fn apply_partitions(
    tables: &[&TableSchema],
    plans: &mut [TablePlan],
    options: &PlanOptions,
) -> Result<(), TransformError> {
    for (table, plan) in tables.iter().zip(plans.iter_mut()) {
        let spec = options
            .overrides
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(&table.name))
            .and_then(|(_, o)| o.partition.as_ref());
        if let Some(spec) = spec {
            partition_table(table, plan, spec)?;
        }
    }
    drop_unreferenceable_foreign_keys(plans);
    Ok(())
}

fn partition_table(
    table: &TableSchema,
    plan: &mut TablePlan,
    spec: &PartitionSpec,
) -> Result<(), TransformError> {
    let index = table
        .column_index(&spec.column)
        .ok_or_else(|| TransformError::UnknownColumn {
            location: spec.location(&table.name, "column"),
            table: table.name.clone(),
            column: spec.column.clone(),
            available: table.columns.iter().map(|c| c.name.clone()).collect(),
        })?;
    let column = &plan.columns[index];
    check_scheme(table, spec, &column.source_name, column.pg_type)?;
    let name = column.name.clone();

    widen_primary_key(plan, index);
    reshape_uniques(plan, &name, spec.unique);
    plan.partition = Some(PartitionPlan {
        column: name,
        scheme: spec.scheme,
        leaves: Vec::new(),
        unique: spec.unique,
        manager: spec.manager.clone(),
    });
    Ok(())
}

/// The column's type must suit the scheme, and the scheme's numbers must
/// make sense.
fn check_scheme(
    table: &TableSchema,
    spec: &PartitionSpec,
    column: &str,
    pg_type: PgType,
) -> Result<(), TransformError> {
    let invalid = |key: &str, reason: String| TransformError::InvalidPartition {
        location: spec.location(&table.name, key),
        table: table.name.clone(),
        column: column.to_owned(),
        reason,
    };
    match spec.scheme {
        PartitionScheme::Range { interval } => {
            if !matches!(
                pg_type,
                PgType::Date | PgType::Timestamp | PgType::Timestamptz
            ) {
                return Err(invalid(
                    "interval",
                    format!(
                        "column {column} is {pg_type}, but interval = \"{}\" needs a date, \
                         timestamp or timestamptz column; use width = N for an integer column, \
                         or by = \"list\" or \"hash\"",
                        interval.as_str()
                    ),
                ));
            }
        }
        PartitionScheme::RangeWidth { width } => {
            if !is_integer(pg_type) {
                return Err(invalid(
                    "width",
                    format!(
                        "column {column} is {pg_type}, but width needs an integer column; use \
                         interval = \"month\" (or day, week, year) for a date or timestamp \
                         column, or by = \"list\" or \"hash\""
                    ),
                ));
            }
            if width < 1 {
                return Err(invalid(
                    "width",
                    format!("width must be at least 1, not {width}"),
                ));
            }
        }
        PartitionScheme::Hash { modulus } => {
            if !(2..=MAX_HASH_LEAVES).contains(&modulus) {
                return Err(invalid(
                    "modulus",
                    format!(
                        "modulus must be between 2 and {MAX_HASH_LEAVES} (the number of leaves), \
                         not {modulus}"
                    ),
                ));
            }
        }
        PartitionScheme::List => {
            if matches!(
                pg_type,
                PgType::Jsonb | PgType::Bytea | PgType::Real | PgType::DoublePrecision
            ) {
                return Err(invalid(
                    "by",
                    format!(
                        "column {column} is {pg_type}, which cannot be listed value by value; \
                         use by = \"hash\" instead"
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn is_integer(t: PgType) -> bool {
    matches!(t, PgType::SmallInt | PgType::Integer | PgType::BigInt)
}

/// Appends the partition column to the primary key, which then makes the
/// column `NOT NULL`.
fn widen_primary_key(plan: &mut TablePlan, index: usize) {
    let name = plan.columns[index].name.clone();
    if plan.primary_key.is_empty() || plan.primary_key.contains(&name) {
        return;
    }
    plan.primary_key.push(name.clone());
    plan.warnings.push(format!(
        "primary key widened to ({}): Postgres requires the partition column in it",
        plan.primary_key.join(", ")
    ));
    let column = &mut plan.columns[index];
    if !column.not_null {
        column.not_null = true;
        plan.warnings.push(format!(
            "column {name} becomes NOT NULL, as part of the primary key; a row where it is NULL \
             is a bad value"
        ));
    }
}

/// Unique constraints and unique indexes without the partition column:
/// widened, or demoted to plain indexes.
fn reshape_uniques(plan: &mut TablePlan, column: &str, policy: UniquePolicy) {
    let quoted = quote_ident(column);
    let mut kept = Vec::with_capacity(plan.uniques.len());
    for mut unique in std::mem::take(&mut plan.uniques) {
        if unique.columns.iter().any(|c| c == column) {
            kept.push(unique);
            continue;
        }
        let before = unique.columns.join(", ");
        match policy {
            UniquePolicy::Widen => {
                unique.columns.push(column.to_owned());
                plan.warnings.push(format!(
                    "unique constraint {} widened to ({}): Postgres requires the partition column \
                     in it, so ({before}) is now unique per {column} only; set unique = \"drop\" \
                     in the partition setting to keep a plain index instead, or leave the table \
                     unpartitioned to keep ({before}) unique",
                    unique.name,
                    unique.columns.join(", ")
                ));
                kept.push(unique);
            }
            UniquePolicy::Drop => {
                plan.warnings.push(format!(
                    "unique constraint {} on ({before}) not kept: Postgres cannot enforce it on a \
                     table partitioned by {column}; a plain index takes its place \
                     (unique = \"drop\")",
                    unique.name
                ));
                plan.indexes.push(IndexPlan {
                    key_sql: unique.columns.iter().map(|c| quote_ident(c)).collect(),
                    name: unique.name,
                    unique: false,
                    where_sql: None,
                });
            }
        }
    }
    plan.uniques = kept;
    for index in plan.indexes.iter_mut().filter(|i| i.unique) {
        let has_column = index
            .key_sql
            .iter()
            .any(|k| k == &quoted || k.strip_suffix(" DESC") == Some(&quoted));
        if has_column {
            continue;
        }
        match policy {
            UniquePolicy::Widen => {
                index.key_sql.push(quoted.clone());
                plan.warnings.push(format!(
                    "unique index {} widened with {column}: Postgres requires the partition \
                     column in it, so its other columns are now unique per {column} only; set \
                     unique = \"drop\" to keep it as a plain index instead",
                    index.name
                ));
            }
            UniquePolicy::Drop => {
                index.unique = false;
                plan.warnings.push(format!(
                    "unique index {} is created as a plain index: Postgres cannot enforce it on a \
                     table partitioned by {column} (unique = \"drop\")",
                    index.name
                ));
            }
        }
    }
}

/// A foreign key must reference the whole primary key or a unique
/// constraint of its target; once a partitioned target's keys are widened,
/// one that references the old key cannot be created.
fn drop_unreferenceable_foreign_keys(plans: &mut [TablePlan]) {
    let keys: Vec<(String, String, Vec<Vec<String>>)> = plans
        .iter()
        .filter_map(|p| {
            let partition = p.partition.as_ref()?;
            let mut keys = vec![sorted(&p.primary_key)];
            keys.extend(p.uniques.iter().map(|u| sorted(&u.columns)));
            Some((p.name.clone(), partition.column.clone(), keys))
        })
        .collect();
    for plan in plans.iter_mut() {
        let mut warnings = Vec::new();
        plan.foreign_keys.retain(|fk| {
            let Some((table, column, table_keys)) =
                keys.iter().find(|(name, ..)| *name == fk.referenced_table)
            else {
                return true;
            };
            let referenced = sorted(&fk.referenced_columns);
            if table_keys.iter().any(|k| !k.is_empty() && *k == referenced) {
                return true;
            }
            warnings.push(format!(
                "foreign key {} ({}) referencing {table} ({}) not created: {table} is \
                 partitioned by {column}, and Postgres only lets a foreign key reference its \
                 whole primary key or a unique constraint, which now include {column}; check \
                 the reference in the application or with a trigger",
                fk.name,
                fk.columns.join(", "),
                fk.referenced_columns.join(", ")
            ));
            false
        });
        plan.warnings.extend(warnings);
    }
}

fn sorted(columns: &[String]) -> Vec<String> {
    let mut columns = columns.to_vec();
    columns.sort();
    columns
}

#[cfg(test)]
mod tests {
    use ferry_model::{ColumnPlan, ForeignKeyPlan, SourceColumn, TimeInterval, UniquePlan};

    use super::*;

    fn column(name: &str, pg_type: PgType) -> ColumnPlan {
        ColumnPlan::new(name, "", pg_type)
    }

    fn emails() -> TablePlan {
        let columns = vec![
            column("id", PgType::BigInt).identity(),
            column("message_id", PgType::Text),
            column("received_at", PgType::Timestamptz),
        ];
        let mut plan = TablePlan::new("public", "emails", columns);
        plan.primary_key = vec!["id".to_owned()];
        plan.uniques = vec![UniquePlan {
            name: "emails_message_id_key".to_owned(),
            columns: vec!["message_id".to_owned()],
            deferrable: true,
        }];
        plan.indexes = vec![IndexPlan {
            name: "emails_lower".to_owned(),
            unique: true,
            key_sql: vec!["lower(\"message_id\")".to_owned()],
            where_sql: None,
        }];
        plan
    }

    fn spec(scheme: PartitionScheme, unique: UniquePolicy) -> PartitionSpec {
        PartitionSpec {
            column: "Received_At".to_owned(),
            scheme,
            unique,
            manager: PartitionManager::Ferry,
            origin: SpecOrigin::Config,
        }
    }

    fn source() -> TableSchema {
        let columns = ["id", "message_id", "received_at"]
            .map(|name| SourceColumn::new(name, "TEXT"))
            .to_vec();
        let mut table = TableSchema::new("emails", columns);
        table.primary_key = vec!["id".to_owned()];
        table.rowid_alias = Some("id".to_owned());
        table
    }

    const MONTH: PartitionScheme = PartitionScheme::Range {
        interval: TimeInterval::Month,
    };

    #[test]
    fn widens_keys_and_makes_the_column_not_null() {
        let mut plan = emails();
        partition_table(&source(), &mut plan, &spec(MONTH, UniquePolicy::Widen)).unwrap();
        assert_eq!(plan.primary_key, ["id", "received_at"]);
        assert!(plan.columns[2].not_null);
        assert!(plan.columns[0].identity);
        assert_eq!(plan.uniques[0].columns, ["message_id", "received_at"]);
        assert_eq!(
            plan.indexes[0].key_sql,
            ["lower(\"message_id\")", "\"received_at\""]
        );
        assert_eq!(
            plan.warnings[0],
            "primary key widened to (id, received_at): Postgres requires the partition column in \
             it"
        );
        assert!(
            plan.warnings[2].contains("(message_id) is now unique per received_at only"),
            "{:?}",
            plan.warnings
        );
        let partition = plan.partition.unwrap();
        assert_eq!(partition.column, "received_at");
        assert_eq!(partition.scheme.to_string(), "range month");
    }

    #[test]
    fn drop_keeps_plain_indexes() {
        let mut plan = emails();
        partition_table(&source(), &mut plan, &spec(MONTH, UniquePolicy::Drop)).unwrap();
        assert!(plan.uniques.is_empty());
        assert!(plan.indexes.iter().all(|i| !i.unique));
        let replacement = plan
            .indexes
            .iter()
            .find(|i| i.name == "emails_message_id_key")
            .unwrap();
        assert_eq!(replacement.key_sql, ["\"message_id\""]);
    }

    #[test]
    fn column_types_and_numbers_are_checked_naming_the_key() {
        let mut wrong = spec(MONTH, UniquePolicy::Widen);
        wrong.column = "message_id".to_owned();
        let err = partition_table(&source(), &mut emails(), &wrong).unwrap_err();
        assert!(err.to_string().starts_with(
            "ferry.toml: [tables.emails] partition.interval: column message_id is text"
        ));
        let mut width = spec(
            PartitionScheme::RangeWidth { width: 10 },
            UniquePolicy::Widen,
        );
        width.origin = SpecOrigin::Flag("emails:received_at:width=10".to_owned());
        let err = partition_table(&source(), &mut emails(), &width).unwrap_err();
        assert!(err.to_string().starts_with(
            "--partition emails:received_at:width=10: column received_at is timestamptz"
        ));
        let hash = spec(PartitionScheme::Hash { modulus: 1 }, UniquePolicy::Widen);
        let err = partition_table(&source(), &mut emails(), &hash).unwrap_err();
        assert!(err
            .to_string()
            .contains("partition.modulus: modulus must be"));
        let mut missing = spec(MONTH, UniquePolicy::Widen);
        missing.column = "nope".to_owned();
        let err = partition_table(&source(), &mut emails(), &missing).unwrap_err();
        assert!(matches!(err, TransformError::UnknownColumn { .. }));
        assert!(err.to_string().contains("partition.column"), "{err}");
    }

    #[test]
    fn foreign_keys_to_a_widened_key_are_dropped() {
        let mut parent = emails();
        partition_table(&source(), &mut parent, &spec(MONTH, UniquePolicy::Widen)).unwrap();
        let mut child = emails();
        child.name = "replies".to_owned();
        child.foreign_keys = vec![
            ForeignKeyPlan {
                name: "replies_email_fkey".to_owned(),
                columns: vec!["id".to_owned()],
                referenced_table: "emails".to_owned(),
                referenced_columns: vec!["id".to_owned()],
                on_update: "NO ACTION".to_owned(),
                on_delete: "NO ACTION".to_owned(),
                initially_deferred: false,
            },
            ForeignKeyPlan {
                name: "replies_both_fkey".to_owned(),
                columns: vec!["id".to_owned(), "received_at".to_owned()],
                referenced_table: "emails".to_owned(),
                referenced_columns: vec!["received_at".to_owned(), "id".to_owned()],
                on_update: "NO ACTION".to_owned(),
                on_delete: "NO ACTION".to_owned(),
                initially_deferred: false,
            },
        ];
        let mut plans = vec![parent, child];
        drop_unreferenceable_foreign_keys(&mut plans);
        assert_eq!(plans[1].foreign_keys.len(), 1);
        assert_eq!(plans[1].foreign_keys[0].name, "replies_both_fkey");
        assert!(plans[1].warnings[0].starts_with(
            "foreign key replies_email_fkey (id) referencing emails (id) not created: emails is \
             partitioned by received_at"
        ));
    }
}
