//! What the target really has for a table, read from the catalogs, and how
//! it differs from what the plan would create.
//!
//! Verification compares data; this compares structure, so a table that
//! holds the right rows but lost its primary key, an index or a column type
//! on the way is still reported.

use ferry_model::TablePlan;
use tokio_postgres::Client;

use crate::WriteError;

/// Postgres keeps `NAMEDATALEN - 1` bytes of an identifier.
const MAX_IDENT_BYTES: usize = 63;

/// A table as the target's catalogs describe it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetTable {
    /// Schema name.
    pub schema: String,
    /// Table name.
    pub name: String,
    /// Columns in their order in the table (dropped ones left out).
    pub columns: Vec<TargetColumn>,
    /// Primary-key column names in key order; empty when there is none.
    pub primary_key: Vec<String>,
    /// Column lists of the `UNIQUE` constraints (not unique indexes), by
    /// constraint name.
    pub unique_constraints: Vec<Vec<String>>,
    /// Names of all indexes, those backing constraints included, sorted.
    pub indexes: Vec<String>,
    /// Names of the foreign-key constraints, sorted.
    pub foreign_keys: Vec<String>,
    /// Identity columns (`GENERATED … AS IDENTITY`).
    pub identity_columns: Vec<String>,
    /// How a partitioned table is partitioned: the strategy (`RANGE`,
    /// `LIST`, `HASH`) and its key columns; `None` for a plain table.
    pub partition: Option<(String, Vec<String>)>,
}

/// A column as the target's catalogs describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetColumn {
    /// Column name.
    pub name: String,
    /// The type as `format_type()` prints it (`numeric(10,2)`,
    /// `timestamp with time zone`).
    pub pg_type: String,
    /// `NOT NULL`.
    pub not_null: bool,
}

/// Reads what the target has for `schema.table`: columns, keys, indexes
/// and foreign keys, in four catalog queries. `None` when there is no such
/// table.
///
/// # Errors
///
/// A [`WriteError`] from the server.
pub async fn inspect_table(
    client: &Client,
    schema: &str,
    table: &str,
) -> Result<Option<TargetTable>, WriteError> {
    let display = format!("{schema}.{table}");
    let fail = |e| WriteError::from_pg(&display, "inspect the table in the target", e);
    let found = client
        .query_opt(
            "SELECT c.oid FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
            &[&schema, &table],
        )
        .await
        .map_err(fail)?;
    let Some(found) = found else {
        return Ok(None);
    };
    let oid: u32 = found.get(0);

    let mut target = TargetTable {
        schema: schema.to_owned(),
        name: table.to_owned(),
        ..TargetTable::default()
    };
    for row in client
        .query(
            "SELECT attname::text, format_type(atttypid, atttypmod), attnotnull, \
             attidentity <> '' \
             FROM pg_catalog.pg_attribute \
             WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            &[&oid],
        )
        .await
        .map_err(fail)?
    {
        let name: String = row.get(0);
        if row.get::<_, bool>(3) {
            target.identity_columns.push(name.clone());
        }
        target.columns.push(TargetColumn {
            name,
            pg_type: row.get(1),
            not_null: row.get(2),
        });
    }

    // Key columns in key order, read through conkey's ordinality.
    for row in client
        .query(
            "SELECT con.conname::text, con.contype::text, \
             ARRAY(SELECT a.attname::text \
                   FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord) \
                   JOIN pg_catalog.pg_attribute a \
                     ON a.attrelid = con.conrelid AND a.attnum = k.attnum \
                   ORDER BY k.ord) \
             FROM pg_catalog.pg_constraint con \
             WHERE con.conrelid = $1 AND con.contype IN ('p', 'u', 'f') \
             ORDER BY con.conname",
            &[&oid],
        )
        .await
        .map_err(fail)?
    {
        let name: String = row.get(0);
        let kind: String = row.get(1);
        let columns: Vec<String> = row.get(2);
        match kind.as_str() {
            "p" => target.primary_key = columns,
            "u" => target.unique_constraints.push(columns),
            _ => target.foreign_keys.push(name),
        }
    }

    target.partition = client
        .query_opt(
            "SELECT CASE p.partstrat WHEN 'r' THEN 'RANGE' WHEN 'l' THEN 'LIST' ELSE 'HASH' END, \
             ARRAY(SELECT a.attname::text \
                   FROM unnest(p.partattrs::int2[]) WITH ORDINALITY AS k(attnum, ord) \
                   JOIN pg_catalog.pg_attribute a \
                     ON a.attrelid = p.partrelid AND a.attnum = k.attnum \
                   ORDER BY k.ord) \
             FROM pg_catalog.pg_partitioned_table p WHERE p.partrelid = $1",
            &[&oid],
        )
        .await
        .map_err(fail)?
        .map(|row| (row.get(0), row.get(1)));

    target.indexes = client
        .query(
            "SELECT c.relname::text FROM pg_catalog.pg_index i \
             JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid \
             WHERE i.indrelid = $1 ORDER BY 1",
            &[&oid],
        )
        .await
        .map_err(fail)?
        .iter()
        .map(|row| row.get(0))
        .collect();
    Ok(Some(target))
}

/// How `actual` differs from what `plan` would create, one sentence per
/// difference; empty when they agree.
///
/// Types are compared as [`ColumnType`](ferry_model::ColumnType)s, so
/// `timestamp with time zone` equals `timestamptz` and `numeric(10,2)`
/// differs from `numeric`, `character varying(5)` from `text`. Names are
/// compared as Postgres stores them (cut to 63 bytes). Extra indexes and
/// constraints in the target are not differences; extra columns are, since
/// they hold data the source does not have.
pub fn schema_differences(plan: &TablePlan, actual: &TargetTable) -> Vec<String> {
    let mut out = Vec::new();
    for column in &plan.columns {
        let Some(found) = actual.columns.iter().find(|c| c.name == column.name) else {
            out.push(format!(
                "missing column {} ({})",
                column.name, column.pg_type
            ));
            continue;
        };
        if !column.has_type(&found.pg_type) {
            out.push(format!(
                "column {}: type differs: expected {} found {}",
                column.name,
                column.type_shown(),
                found.pg_type
            ));
        }
        if column.not_null && !found.not_null {
            out.push(format!(
                "column {}: expected NOT NULL, found nullable",
                column.name
            ));
        } else if !column.not_null && found.not_null {
            out.push(format!(
                "column {}: expected nullable, found NOT NULL",
                column.name
            ));
        }
        if column.identity && !actual.identity_columns.contains(&column.name) {
            out.push(format!(
                "column {}: expected an identity column, found a plain one",
                column.name
            ));
        }
    }
    for found in &actual.columns {
        if !plan.columns.iter().any(|c| c.name == found.name) {
            out.push(format!(
                "extra column {} ({}) not in the plan",
                found.name, found.pg_type
            ));
        }
    }

    let expected = plan
        .partition
        .as_ref()
        .map(|p| (p.scheme.strategy().to_owned(), vec![p.column.clone()]));
    if expected != actual.partition {
        let show = |p: &Option<(String, Vec<String>)>| match p {
            Some((strategy, columns)) => {
                format!("partitioned by {strategy} ({})", columns.join(", "))
            }
            None => "not partitioned".to_owned(),
        };
        out.push(format!(
            "partitioning differs: expected {} found {}",
            show(&expected),
            show(&actual.partition)
        ));
    }
    if plan.primary_key != actual.primary_key {
        out.push(
            match (plan.primary_key.is_empty(), actual.primary_key.is_empty()) {
                (false, true) => format!("missing primary key ({})", plan.primary_key.join(", ")),
                (true, false) => format!(
                    "unexpected primary key ({}) not in the plan",
                    actual.primary_key.join(", ")
                ),
                _ => format!(
                    "primary key differs: expected ({}) found ({})",
                    plan.primary_key.join(", "),
                    actual.primary_key.join(", ")
                ),
            },
        );
    }
    for unique in &plan.uniques {
        if !actual.unique_constraints.contains(&unique.columns) {
            out.push(format!(
                "missing unique constraint {} ({})",
                unique.name,
                unique.columns.join(", ")
            ));
        }
    }
    for index in &plan.indexes {
        if !actual.indexes.contains(&stored_name(&index.name)) {
            out.push(format!("missing index {}", index.name));
        }
    }
    for fk in &plan.foreign_keys {
        if !actual.foreign_keys.contains(&stored_name(&fk.name)) {
            out.push(format!(
                "missing foreign key {} ({}) referencing {}",
                fk.name,
                fk.columns.join(", "),
                fk.referenced_table
            ));
        }
    }
    out
}

/// How the columns of an existing table differ from the plan's, in the
/// terms binary COPY cares about: the same columns in the same order, each
/// of the planned type and typmod (COPY sends values in the planned type's
/// binary format, which Postgres reads without checking: a `double
/// precision` sent into a `bigint` column lands as its bit pattern), and
/// the planned nullability. One sentence per difference, naming the
/// column; empty when they agree.
pub fn column_differences(plan: &TablePlan, actual: &TargetTable) -> Vec<String> {
    let mut out = Vec::new();
    for (position, column) in plan.columns.iter().enumerate() {
        let Some(found) = actual.columns.get(position) else {
            out.push(format!(
                "column {} ({}) is missing",
                column.name, column.pg_type
            ));
            continue;
        };
        if found.name != column.name {
            out.push(format!(
                "column {} is column {} of the plan but the table has {} ({}) there",
                position + 1,
                column.name,
                found.name,
                found.pg_type
            ));
            continue;
        }
        if !column.has_type(&found.pg_type) {
            out.push(format!(
                "column {} is {} in the table but {} in the plan",
                column.name,
                found.pg_type,
                column.type_shown()
            ));
        }
        if column.not_null != found.not_null {
            out.push(format!(
                "column {} is {} in the table but {} in the plan",
                column.name,
                if found.not_null {
                    "NOT NULL"
                } else {
                    "nullable"
                },
                if column.not_null {
                    "NOT NULL"
                } else {
                    "nullable"
                },
            ));
        }
    }
    for found in actual.columns.iter().skip(plan.columns.len()) {
        out.push(format!(
            "column {} ({}) is not in the plan",
            found.name, found.pg_type
        ));
    }
    out
}

/// Refuses an existing table that ferry cannot trust (owned by another
/// role, or with a trigger running another role's function, which COPY
/// would fire with ferry's privileges) or whose columns differ from the
/// plan (see [`column_differences`]); `Ok` when it is trusted and matches,
/// or does not exist. Run it before any COPY into a table ferry did not
/// just create.
///
/// # Errors
///
/// [`WriteError::Untrusted`] naming the owner or trigger,
/// [`WriteError::TableMismatch`] listing every difference, or a catalog
/// error.
pub async fn check_columns_match(client: &Client, plan: &TablePlan) -> Result<(), WriteError> {
    let Some(actual) = inspect_table(client, &plan.schema, &plan.name).await? else {
        return Ok(());
    };
    crate::trust::check_target_table(client, &plan.schema, &plan.name).await?;
    let differences = column_differences(plan, &actual);
    if differences.is_empty() {
        return Ok(());
    }
    Err(WriteError::TableMismatch {
        table: format!("{}.{}", plan.schema, plan.name),
        differences,
    })
}

/// The name Postgres stores for `name`: its first 63 bytes, cut on a
/// character boundary.
fn stored_name(name: &str) -> String {
    let mut cut = name.len().min(MAX_IDENT_BYTES);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    name[..cut].to_owned()
}

#[cfg(test)]
mod tests {
    use ferry_model::{ColumnPlan, ForeignKeyPlan, IndexPlan, PgType, UniquePlan};

    use super::*;

    fn plan() -> TablePlan {
        let columns = vec![
            ColumnPlan::new("id", "", PgType::BigInt).identity(),
            ColumnPlan::new("total", "", PgType::Numeric(Some((10, 2)))),
            ColumnPlan::new("at", "", PgType::Timestamptz).not_null(),
        ];
        let mut plan = TablePlan::new("public", "orders", columns);
        plan.primary_key = vec!["id".to_owned()];
        plan.uniques = vec![UniquePlan {
            name: "orders_at_key".to_owned(),
            columns: vec!["at".to_owned(), "id".to_owned()],
            deferrable: true,
        }];
        plan.indexes = vec![IndexPlan {
            name: "orders_total".to_owned(),
            unique: false,
            key_sql: vec!["\"total\"".to_owned()],
            where_sql: None,
        }];
        plan.foreign_keys = vec![ForeignKeyPlan {
            name: "orders_customer_fk".to_owned(),
            columns: vec!["id".to_owned()],
            referenced_table: "customers".to_owned(),
            referenced_columns: Vec::new(),
            on_update: String::new(),
            on_delete: String::new(),
            initially_deferred: false,
        }];
        plan
    }

    fn target_column(name: &str, pg_type: &str, not_null: bool) -> TargetColumn {
        TargetColumn {
            name: name.to_owned(),
            pg_type: pg_type.to_owned(),
            not_null,
        }
    }

    /// What Postgres reports for the plan, as format_type prints it.
    fn matching() -> TargetTable {
        TargetTable {
            schema: "public".to_owned(),
            name: "orders".to_owned(),
            columns: vec![
                target_column("id", "bigint", true),
                target_column("total", "numeric(10,2)", false),
                target_column("at", "timestamp with time zone", true),
            ],
            primary_key: vec!["id".to_owned()],
            unique_constraints: vec![vec!["at".to_owned(), "id".to_owned()]],
            indexes: vec![
                "orders_at_key".to_owned(),
                "orders_pkey".to_owned(),
                "orders_total".to_owned(),
            ],
            foreign_keys: vec!["orders_customer_fk".to_owned()],
            identity_columns: vec!["id".to_owned()],
            partition: None,
        }
    }

    #[test]
    fn a_faithful_table_has_no_differences() {
        assert_eq!(
            schema_differences(&plan(), &matching()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn every_kind_of_difference_is_one_sentence() {
        let mut actual = matching();
        actual.columns[1].pg_type = "text".to_owned();
        actual.columns[2].not_null = false;
        actual.columns.remove(0);
        actual
            .columns
            .push(target_column("extra", "integer", false));
        actual.primary_key.clear();
        actual.unique_constraints.clear();
        actual.indexes.clear();
        actual.foreign_keys.clear();
        actual.identity_columns.clear();
        assert_eq!(
            schema_differences(&plan(), &actual),
            [
                "missing column id (bigint)",
                "column total: type differs: expected numeric(10,2) found text",
                "column at: expected NOT NULL, found nullable",
                "extra column extra (integer) not in the plan",
                "missing primary key (id)",
                "missing unique constraint orders_at_key (at, id)",
                "missing index orders_total",
                "missing foreign key orders_customer_fk (id) referencing customers",
            ]
        );
    }

    #[test]
    fn types_compare_as_pg_types() {
        let mut actual = matching();
        actual.columns[1].pg_type = "numeric".to_owned();
        actual.columns[2].pg_type = "character varying(20)".to_owned();
        actual.identity_columns.clear();
        actual.primary_key = vec!["at".to_owned()];
        assert_eq!(
            schema_differences(&plan(), &actual),
            [
                "column id: expected an identity column, found a plain one",
                "column total: type differs: expected numeric(10,2) found numeric",
                "column at: type differs: expected timestamptz found character varying(20)",
                "primary key differs: expected (id) found (at)",
            ]
        );
    }

    #[test]
    fn columns_compare_in_order_with_types_and_nullability() {
        assert!(column_differences(&plan(), &matching()).is_empty());
        let mut actual = matching();
        actual.columns[1].pg_type = "bigint".to_owned();
        actual.columns[2].not_null = false;
        actual
            .columns
            .push(target_column("extra", "integer", false));
        assert_eq!(
            column_differences(&plan(), &actual),
            [
                "column total is bigint in the table but numeric(10,2) in the plan",
                "column at is nullable in the table but NOT NULL in the plan",
                "column extra (integer) is not in the plan",
            ]
        );
        let mut swapped = matching();
        swapped.columns.swap(1, 2);
        assert_eq!(
            column_differences(&plan(), &swapped),
            [
                "column 2 is column total of the plan but the table has at (timestamp with time zone) there",
                "column 3 is column at of the plan but the table has total (numeric(10,2)) there",
            ]
        );
        let mut typmod = matching();
        typmod.columns[1].pg_type = "numeric(12,2)".to_owned();
        typmod.columns.truncate(2);
        assert_eq!(
            column_differences(&plan(), &typmod),
            [
                "column total is numeric(12,2) in the table but numeric(10,2) in the plan",
                "column at (timestamptz) is missing",
            ]
        );
    }

    #[test]
    fn long_names_compare_as_stored() {
        let mut plan = plan();
        let long = "i".repeat(70);
        plan.indexes[0].name = long.clone();
        let mut actual = matching();
        actual.indexes.push("i".repeat(63));
        assert!(schema_differences(&plan, &actual).is_empty());
        assert_eq!(stored_name(&"é".repeat(40)).len(), 62);
    }

    #[test]
    fn partitioning_must_match() {
        let mut plan = plan();
        plan.partition = Some(ferry_model::PartitionPlan {
            column: "at".to_owned(),
            scheme: ferry_model::PartitionScheme::Range {
                interval: ferry_model::TimeInterval::Month,
            },
            leaves: Vec::new(),
            manager: Default::default(),
            unique: Default::default(),
        });
        assert_eq!(
            schema_differences(&plan, &matching()),
            ["partitioning differs: expected partitioned by RANGE (at) found not partitioned"]
        );
        let mut actual = matching();
        actual.partition = Some(("RANGE".to_owned(), vec!["at".to_owned()]));
        assert!(schema_differences(&plan, &actual).is_empty());
    }
}
