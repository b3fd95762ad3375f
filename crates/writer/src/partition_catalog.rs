//! The leaves a partitioned table has in the target, read from the
//! catalogs, for `ferry partitions ensure` and `prune`.

use tokio_postgres::Client;

use crate::WriteError;

/// One partition of a parent table, as the catalogs describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetLeaf {
    /// Table name (same schema as the parent).
    pub name: String,
    /// `pg_get_expr(relpartbound)`: `FOR VALUES FROM (…) TO (…)`,
    /// `DEFAULT`… Literals are printed in the session's `TimeZone` and
    /// `DateStyle`; set them to `UTC` and `ISO` to compare with the bounds
    /// ferry writes.
    pub bound: String,
    /// The table's comment, if any; ferry's start with
    /// [`LEAF_COMMENT_PREFIX`](crate::LEAF_COMMENT_PREFIX).
    pub comment: Option<String>,
    /// Rows Postgres estimates the leaf holds (`reltuples`, -1 before the
    /// first `ANALYZE`), cheap to read for every leaf.
    pub estimated_rows: i64,
}

impl TargetLeaf {
    /// The `DEFAULT` partition.
    pub fn is_default(&self) -> bool {
        self.bound == "DEFAULT"
    }

    /// Carries ferry's comment, so ferry may maintain it.
    pub fn is_ferrys(&self) -> bool {
        self.comment
            .as_deref()
            .is_some_and(|c| c.starts_with(crate::LEAF_COMMENT_PREFIX))
    }
}

/// The direct partitions of `schema.parent`, by name; `None` when there is
/// no such table or it is not partitioned.
///
/// # Errors
///
/// A [`WriteError`] from the server.
pub async fn list_leaves(
    client: &Client,
    schema: &str,
    parent: &str,
) -> Result<Option<Vec<TargetLeaf>>, WriteError> {
    let display = format!("{schema}.{parent}");
    let fail = |e| WriteError::from_pg(&display, "list the partitions", e);
    let found = client
        .query_opt(
            "SELECT c.oid FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind = 'p'",
            &[&schema, &parent],
        )
        .await
        .map_err(fail)?;
    let Some(found) = found else {
        return Ok(None);
    };
    let oid: u32 = found.get(0);
    let rows = client
        .query(
            "SELECT c.relname::text, pg_catalog.pg_get_expr(c.relpartbound, c.oid), \
             pg_catalog.obj_description(c.oid, 'pg_class'), c.reltuples::bigint \
             FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = $1 ORDER BY 1",
            &[&oid],
        )
        .await
        .map_err(fail)?;
    Ok(Some(
        rows.iter()
            .map(|row| TargetLeaf {
                name: row.get(0),
                bound: row.get(1),
                comment: row.get(2),
                estimated_rows: row.get(3),
            })
            .collect(),
    ))
}

/// How a partitioned table is partitioned, as the catalogs say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionKey {
    /// `r` (range), `l` (list) or `h` (hash): `pg_partitioned_table.partstrat`.
    pub strategy: char,
    /// The key's columns, in order; `None` for an expression.
    pub columns: Vec<Option<String>>,
    /// Each key column's type name (`pg_type.typname`: `timestamptz`,
    /// `date`, `int8`…); `None` for an expression.
    pub types: Vec<Option<String>>,
}

/// The partition key of `schema.table`; `None` when there is no such
/// table or it is not partitioned.
///
/// # Errors
///
/// A [`WriteError`] from the server.
pub async fn partition_key(
    client: &Client,
    schema: &str,
    table: &str,
) -> Result<Option<PartitionKey>, WriteError> {
    let display = format!("{schema}.{table}");
    let rows = client
        .query(
            "SELECT p.partstrat::text, a.attname::text, t.typname::text \
             FROM pg_catalog.pg_partitioned_table p \
             JOIN pg_catalog.pg_class c ON c.oid = p.partrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             CROSS JOIN LATERAL unnest(p.partattrs::int2[]) WITH ORDINALITY AS k(attnum, i) \
             LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum \
             LEFT JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
             WHERE n.nspname = $1 AND c.relname = $2 ORDER BY k.i",
            &[&schema, &table],
        )
        .await
        .map_err(|e| WriteError::from_pg(&display, "read the partition key", e))?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let strategy: String = first.get(0);
    Ok(Some(PartitionKey {
        strategy: strategy.chars().next().unwrap_or('?'),
        columns: rows.iter().map(|r| r.get(1)).collect(),
        types: rows.iter().map(|r| r.get(2)).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_default_and_ferrys_leaves() {
        let mut leaf = TargetLeaf {
            name: "t_default".to_owned(),
            bound: "DEFAULT".to_owned(),
            comment: Some("ferry partition: range month DEFAULT".to_owned()),
            estimated_rows: 0,
        };
        assert!(leaf.is_default() && leaf.is_ferrys());
        leaf.comment = Some("mine".to_owned());
        assert!(!leaf.is_ferrys());
        leaf.comment = None;
        assert!(!leaf.is_ferrys());
    }
}
