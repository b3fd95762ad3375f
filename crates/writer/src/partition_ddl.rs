//! The SQL of partitioned targets: the parent's `PARTITION BY`, its leaves
//! with their bounds and ferry's comment on each, and the statements that
//! maintain range leaves later (`ferry partitions ensure` and `prune`).
//!
//! Every leaf ferry creates carries a comment starting with
//! [`LEAF_COMMENT_PREFIX`], so maintenance only ever touches ferry's own
//! partitions, never one a user attached by hand.

use std::fmt::Write as _;

use ferry_model::{
    quote_ident, quote_literal, quote_qualified, Leaf, LeafBound, PartitionPlan, PartitionScheme,
    TablePlan,
};

/// How every comment ferry puts on its partitions starts.
pub const LEAF_COMMENT_PREFIX: &str = "ferry partition: ";

/// What follows the column list of a partitioned parent, then each leaf
/// and its comment, as further `;`-separated statements:
/// ` PARTITION BY RANGE ("received_at");\nCREATE TABLE … PARTITION OF …`.
pub fn partitioned_suffix(plan: &TablePlan, partition: &PartitionPlan) -> String {
    let mut sql = format!(
        " PARTITION BY {} ({})",
        partition.scheme.strategy(),
        quote_ident(&partition.column)
    );
    for leaf in &partition.leaves {
        let _ = write!(
            sql,
            ";\n{};\n{}",
            create_leaf_sql(plan, &partition.scheme, leaf),
            comment_leaf_sql(&plan.schema, &leaf.name, &partition.scheme, &leaf.bound)
        );
    }
    sql
}

/// `FOR VALUES FROM (…) TO (…)`, `FOR VALUES IN (…)`,
/// `FOR VALUES WITH (MODULUS m, REMAINDER r)` or `DEFAULT`.
pub fn bound_sql(scheme: &PartitionScheme, bound: &LeafBound) -> String {
    match bound {
        LeafBound::Range { from_sql, to_sql } => {
            format!("FOR VALUES FROM ({from_sql}) TO ({to_sql})")
        }
        LeafBound::List {
            values_sql,
            includes_null,
        } => {
            let mut values = values_sql.clone();
            if *includes_null {
                values.push("NULL".to_owned());
            }
            format!("FOR VALUES IN ({})", values.join(", "))
        }
        LeafBound::Hash { remainder } => {
            let modulus = match scheme {
                PartitionScheme::Hash { modulus } => *modulus,
                _ => 0,
            };
            format!("FOR VALUES WITH (MODULUS {modulus}, REMAINDER {remainder})")
        }
        LeafBound::Default => "DEFAULT".to_owned(),
    }
}

/// `CREATE TABLE leaf PARTITION OF parent FOR VALUES …`.
pub fn create_leaf_sql(plan: &TablePlan, scheme: &PartitionScheme, leaf: &Leaf) -> String {
    format!(
        "CREATE TABLE {} PARTITION OF {} {}",
        quote_qualified(&plan.schema, &leaf.name),
        quote_qualified(&plan.schema, &plan.name),
        bound_sql(scheme, &leaf.bound)
    )
}

/// The comment ferry puts on a leaf: `ferry partition: range month FROM
/// ('2024-10-01 00:00:00+00') TO ('2024-11-01 00:00:00+00')`.
pub fn leaf_comment(scheme: &PartitionScheme, bound: &LeafBound) -> String {
    let bound = bound_sql(scheme, bound);
    let bound = bound.strip_prefix("FOR VALUES ").unwrap_or(&bound);
    format!("{LEAF_COMMENT_PREFIX}{scheme} {bound}")
}

/// `COMMENT ON TABLE leaf IS 'ferry partition: …'`.
pub fn comment_leaf_sql(
    schema: &str,
    leaf: &str,
    scheme: &PartitionScheme,
    bound: &LeafBound,
) -> String {
    format!(
        "COMMENT ON TABLE {} IS {}",
        quote_qualified(schema, leaf),
        quote_literal(&leaf_comment(scheme, bound))
    )
}

/// A standalone table shaped like the parent, to be filled and then
/// attached. Identity is left out: it belongs to the parent, whose
/// sequence numbers rows routed through it (and Postgres 17 refuses to
/// attach a table with an identity of its own). Indexes are left out too:
/// attaching creates them, once the rows are in.
pub fn create_detached_leaf_sql(schema: &str, parent: &str, leaf: &str) -> String {
    format!(
        "CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED \
         INCLUDING STORAGE INCLUDING COMPRESSION)",
        quote_qualified(schema, leaf),
        quote_qualified(schema, parent)
    )
}

/// Moves the rows of `from_leaf` whose key lies in `[from_sql, to_sql)`
/// into `to_leaf`, in one statement.
pub fn move_rows_sql(
    schema: &str,
    from_leaf: &str,
    to_leaf: &str,
    column: &str,
    from_sql: &str,
    to_sql: &str,
) -> String {
    let column = quote_ident(column);
    format!(
        "WITH moved AS (DELETE FROM {} WHERE {column} >= {from_sql} AND {column} < {to_sql} \
         RETURNING *) INSERT INTO {} SELECT * FROM moved",
        quote_qualified(schema, from_leaf),
        quote_qualified(schema, to_leaf)
    )
}

/// `ALTER TABLE parent ATTACH PARTITION leaf FOR VALUES …`.
pub fn attach_leaf_sql(
    schema: &str,
    parent: &str,
    scheme: &PartitionScheme,
    leaf: &Leaf,
) -> String {
    format!(
        "ALTER TABLE {} ATTACH PARTITION {} {}",
        quote_qualified(schema, parent),
        quote_qualified(schema, &leaf.name),
        bound_sql(scheme, &leaf.bound)
    )
}

/// `ALTER TABLE parent DETACH PARTITION leaf`.
pub fn detach_leaf_sql(schema: &str, parent: &str, leaf: &str) -> String {
    format!(
        "ALTER TABLE {} DETACH PARTITION {}",
        quote_qualified(schema, parent),
        quote_qualified(schema, leaf)
    )
}

/// Serialises maintenance of one parent table within a transaction:
/// concurrent `ferry partitions` runs (and anything else taking the same
/// lock) take turns. Bind the result of [`partitions_lock_key`] as `$1`.
pub const PARTITIONS_LOCK_SQL: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))";

/// The text hashed into the advisory lock of a parent table:
/// `ferry partitions schema.table`.
pub fn partitions_lock_key(schema: &str, parent: &str) -> String {
    format!("ferry partitions {schema}.{parent}")
}

#[cfg(test)]
mod tests {
    use ferry_model::{PgType, TimeInterval};

    use super::*;
    use crate::ddl::tests::{column, plan};
    use crate::{create_table_sql, post_load_steps, StepKind};

    fn emails() -> TablePlan {
        let mut plan = plan(
            "public",
            "emails",
            vec![
                column("id", PgType::BigInt),
                column("received_at", PgType::Timestamptz),
            ],
        );
        plan.primary_key = vec!["id".to_owned(), "received_at".to_owned()];
        plan.partition = Some(PartitionPlan {
            column: "received_at".to_owned(),
            scheme: PartitionScheme::Range {
                interval: TimeInterval::Month,
            },
            leaves: vec![
                Leaf {
                    name: "emails_2024_10".to_owned(),
                    bound: LeafBound::Range {
                        from_sql: "'2024-10-01 00:00:00+00'".to_owned(),
                        to_sql: "'2024-11-01 00:00:00+00'".to_owned(),
                    },
                },
                Leaf {
                    name: "emails_default".to_owned(),
                    bound: LeafBound::Default,
                },
            ],
            unique: Default::default(),
        });
        plan
    }

    #[test]
    fn creates_the_parent_then_each_leaf_with_its_comment() {
        let sql = create_table_sql(&emails());
        assert_eq!(
            sql,
            "CREATE TABLE \"public\".\"emails\" (\n    \"id\" bigint,\n    \"received_at\" \
             timestamptz\n) PARTITION BY RANGE (\"received_at\");\n\
             CREATE TABLE \"public\".\"emails_2024_10\" PARTITION OF \"public\".\"emails\" FOR \
             VALUES FROM ('2024-10-01 00:00:00+00') TO ('2024-11-01 00:00:00+00');\n\
             COMMENT ON TABLE \"public\".\"emails_2024_10\" IS 'ferry partition: range month FROM \
             (''2024-10-01 00:00:00+00'') TO (''2024-11-01 00:00:00+00'')';\n\
             CREATE TABLE \"public\".\"emails_default\" PARTITION OF \"public\".\"emails\" \
             DEFAULT;\n\
             COMMENT ON TABLE \"public\".\"emails_default\" IS 'ferry partition: range month \
             DEFAULT'"
        );
    }

    #[test]
    fn bounds_of_every_kind() {
        let hash = PartitionScheme::Hash { modulus: 8 };
        assert_eq!(
            bound_sql(&hash, &LeafBound::Hash { remainder: 3 }),
            "FOR VALUES WITH (MODULUS 8, REMAINDER 3)"
        );
        let list = LeafBound::List {
            values_sql: vec!["'fr'".to_owned()],
            includes_null: false,
        };
        assert_eq!(
            bound_sql(&PartitionScheme::List, &list),
            "FOR VALUES IN ('fr')"
        );
        let null = LeafBound::List {
            values_sql: Vec::new(),
            includes_null: true,
        };
        assert_eq!(
            bound_sql(&PartitionScheme::List, &null),
            "FOR VALUES IN (NULL)"
        );
        assert_eq!(
            leaf_comment(&hash, &LeafBound::Hash { remainder: 0 }),
            "ferry partition: hash modulus 8 WITH (MODULUS 8, REMAINDER 0)"
        );
    }

    #[test]
    fn keys_of_a_partitioned_table_are_added_directly() {
        let steps = post_load_steps(&emails());
        assert_eq!(steps[0].kind, StepKind::PrimaryKey);
        assert_eq!(
            steps[0].sql,
            "ALTER TABLE \"public\".\"emails\" ADD CONSTRAINT \"emails_pkey\" PRIMARY KEY \
             (\"id\", \"received_at\")"
        );
    }

    #[test]
    fn foreign_keys_of_a_partitioned_table_are_validated_at_once() {
        let mut plan = emails();
        plan.foreign_keys = vec![ferry_model::ForeignKeyPlan {
            name: "emails_account_fkey".to_owned(),
            columns: vec!["id".to_owned()],
            referenced_table: "accounts".to_owned(),
            referenced_columns: vec!["id".to_owned()],
            on_update: "NO ACTION".to_owned(),
            on_delete: "NO ACTION".to_owned(),
        }];
        let steps = crate::foreign_key_steps(&plan);
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].kind, StepKind::ValidateForeignKey);
        assert!(
            steps[0].sql.ends_with("ON DELETE NO ACTION"),
            "{}",
            steps[0].sql
        );
    }

    #[test]
    fn maintenance_statements() {
        assert_eq!(
            move_rows_sql("s", "t_default", "t_2024_01", "at", "'a'", "'b'"),
            "WITH moved AS (DELETE FROM \"s\".\"t_default\" WHERE \"at\" >= 'a' AND \"at\" < 'b' \
             RETURNING *) INSERT INTO \"s\".\"t_2024_01\" SELECT * FROM moved"
        );
        assert_eq!(
            detach_leaf_sql("s", "t", "t_2024_01"),
            "ALTER TABLE \"s\".\"t\" DETACH PARTITION \"s\".\"t_2024_01\""
        );
        assert!(create_detached_leaf_sql("s", "t", "l")
            .starts_with("CREATE TABLE \"s\".\"l\" (LIKE \"s\".\"t\" INCLUDING DEFAULTS"));
        assert_eq!(partitions_lock_key("s", "t"), "ferry partitions s.t");
    }
}
