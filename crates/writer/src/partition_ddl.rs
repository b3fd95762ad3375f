//! The SQL of partitioned targets: the parent's `PARTITION BY`, its leaves
//! with their bounds and ferry's comment on each, and the statements that
//! maintain range leaves later (`ferry partitions ensure` and `prune`).
//!
//! Every leaf ferry creates carries a comment starting with
//! [`LEAF_COMMENT_PREFIX`], so maintenance only ever touches ferry's own
//! partitions, never one a user attached by hand.

use std::fmt::Write as _;

use ferry_model::{
    quote_ident, quote_literal, quote_qualified, Leaf, LeafBound, PartitionManager, PartitionPlan,
    PartitionScheme, TablePlan,
};

use crate::ddl::{column_list, display_name};
use crate::{Leaves, Step, StepKind};

/// How every comment ferry puts on its partitions starts.
pub const LEAF_COMMENT_PREFIX: &str = "ferry partition: ";

/// What follows the column list of a partitioned parent, then each leaf
/// and its comment, as further `;`-separated statements:
/// ` PARTITION BY RANGE ("received_at");\nCREATE TABLE … PARTITION OF …`.
/// A table pg_partman manages gets the `PARTITION BY` alone: partman
/// creates its leaves (`partman.create_parent`), named and owned its way.
pub fn partitioned_suffix(plan: &TablePlan, partition: &PartitionPlan) -> String {
    let mut sql = format!(
        " PARTITION BY {} ({})",
        partition.scheme.strategy(),
        quote_ident(&partition.column)
    );
    if partition.manager != PartitionManager::Ferry {
        return sql;
    }
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

/// The keys and indexes of a partitioned table, built the fast way: each
/// leaf's index is a step of its own (so the builds spread over every
/// connection), each leaf's key is attached to its index, and only then
/// is each key and index declared on the parent, where Postgres finds the
/// leaves' matching ones and attaches them instead of building again.
pub(crate) fn leaf_key_and_index_steps(
    plan: &TablePlan,
    partition: &PartitionPlan,
    keys: &[(StepKind, String, &[String])],
) -> Vec<Step> {
    let display = display_name(plan);
    let parent = quote_qualified(&plan.schema, &plan.name);
    let step = |kind, description: String, sql: String| Step {
        kind,
        table: display.clone(),
        description,
        sql,
        leaves: Leaves::Nothing,
    };
    let index_named = |name: &str| Leaves::Index {
        schema: plan.schema.clone(),
        name: name.to_owned(),
    };
    let constraint_on = |relation: &str, name: &str| Leaves::Constraint {
        relation: relation.to_owned(),
        name: name.to_owned(),
    };
    let mut builds = Vec::new();
    let mut finishing = Vec::new();
    for (kind, name, columns) in keys {
        let (constraint, what, suffix) = match kind {
            StepKind::PrimaryKey => ("PRIMARY KEY", "primary key", "pkey".to_owned()),
            _ => (
                "UNIQUE",
                "unique constraint",
                format!("{}_key", columns.join("_")),
            ),
        };
        for leaf in &partition.leaves {
            let leaf_table = quote_qualified(&plan.schema, &leaf.name);
            let index = leaf_object_name(&leaf.name, &suffix);
            builds.push(
                step(
                    StepKind::Index,
                    format!(
                        "index of the {what} {name} on leaf {}.{} ({})",
                        plan.schema,
                        leaf.name,
                        columns.join(", ")
                    ),
                    format!(
                        "CREATE UNIQUE INDEX {} ON {leaf_table} ({})",
                        quote_ident(&index),
                        column_list(columns)
                    ),
                )
                .leaving(index_named(&index)),
            );
            finishing.push(
                step(
                    *kind,
                    format!("{what} {index} on leaf {}.{}", plan.schema, leaf.name),
                    format!(
                        "ALTER TABLE {leaf_table} ADD CONSTRAINT {index} {constraint} USING INDEX \
                     {index}",
                        index = quote_ident(&index)
                    ),
                )
                .leaving(constraint_on(&leaf_table, &index)),
            );
        }
        finishing.push(
            step(
                *kind,
                format!("{what} {name} on {display} ({})", columns.join(", ")),
                format!(
                    "ALTER TABLE {parent} ADD CONSTRAINT {} {constraint} ({})",
                    quote_ident(name),
                    column_list(columns)
                ),
            )
            .leaving(constraint_on(&parent, name)),
        );
    }
    for index in &plan.indexes {
        let (unique, what) = if index.unique {
            ("UNIQUE ", "unique index")
        } else {
            ("", "index")
        };
        let predicate = index
            .where_sql
            .as_ref()
            .map(|p| format!(" WHERE {p}"))
            .unwrap_or_default();
        let keys = index.key_sql.join(", ");
        for leaf in &partition.leaves {
            builds.push(
                step(
                    StepKind::Index,
                    format!(
                        "{what} {} on leaf {}.{}",
                        index.name, plan.schema, leaf.name
                    ),
                    format!(
                        "CREATE {unique}INDEX IF NOT EXISTS {} ON {} ({keys}){predicate}",
                        quote_ident(&leaf_object_name(&leaf.name, &index.name)),
                        quote_qualified(&plan.schema, &leaf.name)
                    ),
                )
                .leaving(index_named(&leaf_object_name(&leaf.name, &index.name))),
            );
        }
        finishing.push(
            step(
                StepKind::AttachIndex,
                format!("{what} {} on {display}", index.name),
                format!(
                    "CREATE {unique}INDEX IF NOT EXISTS {} ON {parent} ({keys}){predicate}",
                    quote_ident(&index.name)
                ),
            )
            .leaving(index_named(&index.name)),
        );
    }
    builds.extend(finishing);
    builds
}

/// `leaf_suffix`, kept within 63 bytes: a longer one is cut and given a
/// short hash of the whole, so two long names cannot collide once cut.
fn leaf_object_name(leaf: &str, suffix: &str) -> String {
    const MAX: usize = 63;
    let full = format!("{leaf}_{suffix}");
    if full.len() <= MAX {
        return full;
    }
    // FNV-1a: stable across runs and platforms.
    let hash = full.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    let mut cut = MAX - 9;
    while !full.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}_{hash:08x}", &full[..cut])
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
    use ferry_model::{ColumnPlan, PgType, TimeInterval};

    use super::*;
    use crate::{create_table_sql, post_load_steps, StepKind};

    fn emails() -> TablePlan {
        let mut plan = TablePlan::new(
            "public",
            "emails",
            vec![
                ColumnPlan::new("id", "", PgType::BigInt),
                ColumnPlan::new("received_at", "", PgType::Timestamptz),
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
            manager: PartitionManager::Ferry,
            unique: Default::default(),
        });
        plan
    }

    #[test]
    fn creates_the_parent_then_each_leaf_with_its_comment() {
        let sql = create_table_sql(&emails(), &crate::Storage::default());
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
    fn keys_without_leaves_are_added_on_the_parent() {
        let mut plan = emails();
        if let Some(p) = plan.partition.as_mut() {
            p.leaves.clear();
        }
        let steps = post_load_steps(&plan);
        assert_eq!(steps[0].kind, StepKind::PrimaryKey);
        assert_eq!(
            steps[0].sql,
            "ALTER TABLE \"public\".\"emails\" ADD CONSTRAINT \"emails_pkey\" PRIMARY KEY \
             (\"id\", \"received_at\")"
        );
    }

    #[test]
    fn keys_and_indexes_are_built_per_leaf_then_attached() {
        let mut plan = emails();
        plan.indexes = vec![ferry_model::IndexPlan {
            name: "emails_recent".to_owned(),
            unique: false,
            key_sql: vec!["\"received_at\" DESC".to_owned()],
            where_sql: Some("\"id\" > 0".to_owned()),
        }];
        let steps = post_load_steps(&plan);
        let sql: Vec<(StepKind, &str)> = steps.iter().map(|s| (s.kind, s.sql.as_str())).collect();
        assert_eq!(
            sql,
            [
                (StepKind::Index, "CREATE UNIQUE INDEX \"emails_2024_10_pkey\" ON \"public\".\"emails_2024_10\" (\"id\", \"received_at\")"),
                (StepKind::Index, "CREATE UNIQUE INDEX \"emails_default_pkey\" ON \"public\".\"emails_default\" (\"id\", \"received_at\")"),
                (StepKind::Index, "CREATE INDEX IF NOT EXISTS \"emails_2024_10_emails_recent\" ON \"public\".\"emails_2024_10\" (\"received_at\" DESC) WHERE \"id\" > 0"),
                (StepKind::Index, "CREATE INDEX IF NOT EXISTS \"emails_default_emails_recent\" ON \"public\".\"emails_default\" (\"received_at\" DESC) WHERE \"id\" > 0"),
                (StepKind::PrimaryKey, "ALTER TABLE \"public\".\"emails_2024_10\" ADD CONSTRAINT \"emails_2024_10_pkey\" PRIMARY KEY USING INDEX \"emails_2024_10_pkey\""),
                (StepKind::PrimaryKey, "ALTER TABLE \"public\".\"emails_default\" ADD CONSTRAINT \"emails_default_pkey\" PRIMARY KEY USING INDEX \"emails_default_pkey\""),
                (StepKind::PrimaryKey, "ALTER TABLE \"public\".\"emails\" ADD CONSTRAINT \"emails_pkey\" PRIMARY KEY (\"id\", \"received_at\")"),
                (StepKind::AttachIndex, "CREATE INDEX IF NOT EXISTS \"emails_recent\" ON \"public\".\"emails\" (\"received_at\" DESC) WHERE \"id\" > 0"),
                (StepKind::Analyze, "ANALYZE \"public\".\"emails_2024_10\""),
                (StepKind::Analyze, "ANALYZE \"public\".\"emails_default\""),
            ]
        );
    }

    #[test]
    fn long_leaf_object_names_are_cut_with_a_hash() {
        let a = leaf_object_name(&"x".repeat(60), "first_index");
        let b = leaf_object_name(&"x".repeat(60), "second_index");
        assert_eq!((a.len(), b.len()), (63, 63));
        assert_ne!(a, b);
        assert_eq!(leaf_object_name("t_p0", "pkey"), "t_p0_pkey");
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
            initially_deferred: false,
        }];
        let steps = crate::constraint_steps(&plan);
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].kind, StepKind::Validate);
        assert!(
            steps[0]
                .sql
                .ends_with("ON DELETE NO ACTION DEFERRABLE INITIALLY IMMEDIATE"),
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
