//! Primary keys, unique constraints, indexes, CHECK constraints and foreign
//! keys, planned once every table has its target names (a foreign key needs
//! the other side's).

use ferry_model::{
    quote_ident, CheckPlan, CheckSchema, ColumnPlan, ForeignKeyPlan, ForeignKeySchema, IndexOrigin,
    IndexPlan, IndexSchema, IndexedColumn, PgType, TablePlan, TableSchema, UniquePlan,
};

use crate::error::TransformError;
use crate::names::{fold, truncate, Namespace, MAX_IDENTIFIER_BYTES};
use crate::options::IdentifierCase;
use crate::predicate::translate_predicate;

/// The plan of a source column, matched as SQLite matches names.
fn column<'p>(table: &TableSchema, plan: &'p TablePlan, source: &str) -> Option<&'p ColumnPlan> {
    table.column_index(source).map(|i| &plan.columns[i])
}

/// Fills keys, constraints and indexes of every plan. Index names are
/// claimed first (a clash between two of them is the user's to resolve);
/// generated constraint names then step around whatever is taken. A
/// table whose key holds NULLs (`key_with_nulls`, by position, says
/// where) gets a UNIQUE constraint instead of its primary key.
pub(crate) fn add_constraints(
    tables: &[&TableSchema],
    plans: &mut [TablePlan],
    relations: &mut Namespace,
    case: IdentifierCase,
    key_with_nulls: &[Option<&str>],
) -> Result<(), TransformError> {
    for (table, plan) in tables.iter().zip(plans.iter_mut()) {
        plan.primary_key = table
            .primary_key
            .iter()
            .filter_map(|source| column(table, plan, source).map(|c| c.name.clone()))
            .collect();
        for index in &table.indexes {
            if index.origin != IndexOrigin::CreateIndex {
                continue;
            }
            match plan_index(table, plan, index) {
                Ok(mut index_plan) => {
                    index_plan.name =
                        truncate(&fold(&index.name, case), MAX_IDENTIFIER_BYTES).to_owned();
                    relations.claim(&index_plan.name, format!("index {}", index.name))?;
                    if index.unique && index_plan.key_sql.iter().any(|k| k.starts_with("lower(")) {
                        plan.warnings.push(format!(
                            "unique index {} compares with COLLATE NOCASE in SQLite: its text \
                             columns are indexed as lower(…) (which also folds non-ASCII letters, \
                             which NOCASE does not)",
                            index.name
                        ));
                    }
                    plan.indexes.push(index_plan);
                }
                Err(warning) => plan.warnings.push(warning),
            }
        }
    }
    for (table, plan) in tables.iter().zip(plans.iter_mut()) {
        for index in &table.indexes {
            if index.origin == IndexOrigin::CreateIndex {
                continue;
            }
            if let Some((mut index_plan, columns)) = case_insensitive_key(table, plan, index) {
                let base = format!("{}_{}_lower_key", plan.name, columns.join("_"));
                index_plan.name = relations.claim_generated(
                    &base,
                    format!(
                        "case-insensitive key ({}) of {}",
                        columns.join(", "),
                        table.name
                    ),
                );
                plan.warnings.push(format!(
                    "({}) is unique under COLLATE NOCASE in SQLite: unique index {} on lower() \
                     keeps it so (lower() also folds non-ASCII letters, which NOCASE does not)",
                    columns.join(", "),
                    index_plan.name
                ));
                plan.indexes.push(index_plan);
            }
        }
    }
    for (i, (table, plan)) in tables.iter().zip(plans.iter_mut()).enumerate() {
        if let (Some(rows), false) = (key_with_nulls[i], plan.primary_key.is_empty()) {
            let columns = std::mem::take(&mut plan.primary_key);
            let base = format!("{}_{}_key", plan.name, columns.join("_"));
            let name = relations.claim_generated(&base, format!("primary key of {}", table.name));
            plan.warnings.push(format!(
                "the primary key ({}) holds NULLs in {rows}, which no Postgres key can: it \
                 becomes UNIQUE constraint {name}, which treats NULLs as distinct as SQLite's \
                 key does, over columns left nullable",
                columns.join(", ")
            ));
            plan.uniques.push(UniquePlan {
                name,
                columns,
                deferrable: true,
            });
        }
        for index in &table.indexes {
            if index.origin != IndexOrigin::UniqueConstraint {
                continue;
            }
            let columns: Option<Vec<String>> = index
                .columns
                .iter()
                .map(|entry| match entry {
                    IndexedColumn::Column { name, .. } => {
                        column(table, plan, name).map(|c| c.name.clone())
                    }
                    IndexedColumn::Expression(_) => None,
                })
                .collect();
            let Some(columns) = columns else {
                plan.warnings.push(format!(
                    "unique constraint {} on {} not translated; add it by hand",
                    index.name, table.name
                ));
                continue;
            };
            let base = format!("{}_{}_key", plan.name, columns.join("_"));
            let name =
                relations.claim_generated(&base, format!("unique constraint {}", index.name));
            plan.uniques.push(UniquePlan {
                name,
                columns,
                deferrable: true,
            });
        }
        for check in &table.checks {
            match plan_check(table, plan, check) {
                Some(sql) => {
                    let base = match (&check.name, &check.column) {
                        (Some(name), _) => fold(name, case),
                        (None, Some(source)) => match column(table, plan, source) {
                            Some(c) => format!("{}_{}_check", plan.name, c.name),
                            None => format!("{}_check", plan.name),
                        },
                        (None, None) => format!("{}_check", plan.name),
                    };
                    let name = relations.claim_generated(
                        &base,
                        format!("CHECK ({}) of {}", check.expr, table.name),
                    );
                    plan.checks.push(CheckPlan { name, sql });
                }
                None => plan.warnings.push(format!(
                    "CHECK ({}) of {} not translated; add it by hand",
                    check.expr, table.name
                )),
            }
        }
    }
    for i in 0..plans.len() {
        let table = tables[i];
        let mut planned = Vec::new();
        let mut warnings = Vec::new();
        for fk in &table.foreign_keys {
            match plan_foreign_key(tables, plans, i, fk) {
                Ok(fk_plan) => planned.push(fk_plan),
                Err(warning) => warnings.push(warning),
            }
        }
        for mut fk_plan in planned {
            let base = format!("{}_{}_fkey", plans[i].name, fk_plan.columns.join("_"));
            fk_plan.name = relations.claim_generated(
                &base,
                format!(
                    "foreign key ({}) of {}",
                    fk_plan.columns.join(", "),
                    table.name
                ),
            );
            plans[i].foreign_keys.push(fk_plan);
        }
        plans[i].warnings.extend(warnings);
    }
    keep_referenced_uniques_immediate(plans);
    Ok(())
}

/// Postgres refuses a foreign key whose referenced columns are only
/// unique through a deferrable constraint, so such constraints stay
/// immediate.
fn keep_referenced_uniques_immediate(plans: &mut [TablePlan]) {
    let sorted = |columns: &[String]| {
        let mut columns = columns.to_vec();
        columns.sort();
        columns
    };
    let referenced: Vec<(String, Vec<String>)> = plans
        .iter()
        .flat_map(|p| &p.foreign_keys)
        .map(|fk| (fk.referenced_table.clone(), sorted(&fk.referenced_columns)))
        .collect();
    for plan in plans.iter_mut() {
        for unique in &mut plan.uniques {
            let key = (plan.name.clone(), sorted(&unique.columns));
            if referenced.contains(&key) {
                unique.deferrable = false;
            }
        }
    }
}

/// A CHECK expression in Postgres's words, when it means the same there.
fn plan_check(table: &TableSchema, plan: &TablePlan, check: &CheckSchema) -> Option<String> {
    translate_predicate(&check.expr, |n| {
        column(table, plan, n).map(|c| (c.name.clone(), c.pg_type))
    })
}

fn plan_index(
    table: &TableSchema,
    plan: &TablePlan,
    index: &IndexSchema,
) -> Result<IndexPlan, String> {
    let skip = |why: String| {
        format!(
            "index {} on {} not created: {why}; create it by hand",
            index.name, table.name
        )
    };
    let mut key_sql = Vec::with_capacity(index.columns.len());
    for entry in &index.columns {
        match entry {
            IndexedColumn::Column {
                name,
                descending,
                nocase,
            } => {
                let c =
                    column(table, plan, name).ok_or_else(|| skip(format!("no column {name}")))?;
                let desc = if *descending { " DESC" } else { "" };
                // Only uniqueness changes meaning with the collation; a
                // plain index serves Postgres's own comparisons.
                let key = match index.unique && *nocase && c.pg_type == PgType::Text {
                    true => format!("lower({})", quote_ident(&c.name)),
                    false => quote_ident(&c.name),
                };
                key_sql.push(format!("{key}{desc}"));
            }
            IndexedColumn::Expression(expr) => {
                let translated = case_expression(expr, |n| column(table, plan, n))
                    .ok_or_else(|| skip(format!("expression {expr} is not translated")))?;
                key_sql.push(translated);
            }
        }
    }
    let where_sql = match &index.where_sql {
        None => None,
        Some(predicate) => Some(
            translate_predicate(predicate, |n| {
                column(table, plan, n).map(|c| (c.name.clone(), c.pg_type))
            })
            .ok_or_else(|| skip(format!("predicate WHERE {predicate} is not translated")))?,
        ),
    };
    Ok(IndexPlan {
        name: String::new(),
        unique: index.unique,
        key_sql,
        where_sql,
    })
}

/// `lower(col)` / `upper(col)` over a text column, the one expression
/// index that means the same in both databases.
fn case_expression<'p>(
    expr: &str,
    column: impl Fn(&str) -> Option<&'p ColumnPlan>,
) -> Option<String> {
    let expr = expr.trim();
    let open = expr.find('(')?;
    let function = expr[..open].trim().to_ascii_lowercase();
    if function != "lower" && function != "upper" {
        return None;
    }
    let inner = expr[open + 1..].strip_suffix(')')?.trim();
    let name = match inner.chars().next()? {
        '"' => inner
            .strip_prefix('"')?
            .strip_suffix('"')?
            .replace("\"\"", "\""),
        '`' => inner
            .strip_prefix('`')?
            .strip_suffix('`')?
            .replace("``", "`"),
        '[' => inner.strip_prefix('[')?.strip_suffix(']')?.to_owned(),
        _ if inner
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '$') =>
        {
            inner.to_owned()
        }
        _ => return None,
    };
    let c = column(&name)?;
    (c.pg_type == PgType::Text).then(|| format!("{function}({})", quote_ident(&c.name)))
}

fn is_integer(t: PgType) -> bool {
    matches!(t, PgType::SmallInt | PgType::Integer | PgType::BigInt)
}

/// Whether `columns` (source names) are the primary key or a unique,
/// non-partial, plain-column index of `table`: Postgres requires one.
fn is_unique_key(table: &TableSchema, columns: &[String]) -> bool {
    let same = |candidate: &mut dyn Iterator<Item = &str>| {
        let mut candidate: Vec<String> = candidate.map(str::to_ascii_lowercase).collect();
        let mut wanted: Vec<String> = columns.iter().map(|c| c.to_ascii_lowercase()).collect();
        candidate.sort();
        wanted.sort();
        candidate == wanted
    };
    if !table.primary_key.is_empty() && same(&mut table.primary_key.iter().map(String::as_str)) {
        return true;
    }
    table.indexes.iter().any(|index| {
        index.unique
            && index.where_sql.is_none()
            && !(index.origin == IndexOrigin::CreateIndex && has_nocase(index))
            && index
                .columns
                .iter()
                .all(|c| matches!(c, IndexedColumn::Column { .. }))
            && same(&mut index.columns.iter().filter_map(|c| match c {
                IndexedColumn::Column { name, .. } => Some(name.as_str()),
                IndexedColumn::Expression(_) => None,
            }))
    })
}

/// Whether an index compares one of its columns with `NOCASE`.
fn has_nocase(index: &IndexSchema) -> bool {
    index
        .columns
        .iter()
        .any(|c| matches!(c, IndexedColumn::Column { nocase: true, .. }))
}

/// A key or UNIQUE constraint compares a text column with `NOCASE`:
/// Postgres compares text case-sensitively, so the constraint alone would
/// let `A@x` and `a@x` in. A unique index with `lower()` over those
/// columns enforces what SQLite enforced; the constraint stays, for
/// foreign keys and `ferry sync`, which need plain columns.
fn case_insensitive_key(
    table: &TableSchema,
    plan: &TablePlan,
    index: &IndexSchema,
) -> Option<(IndexPlan, Vec<String>)> {
    let mut key_sql = Vec::with_capacity(index.columns.len());
    let mut names = Vec::with_capacity(index.columns.len());
    let mut folded = false;
    for entry in &index.columns {
        let IndexedColumn::Column { name, nocase, .. } = entry else {
            return None;
        };
        let c = column(table, plan, name)?;
        names.push(c.name.clone());
        if *nocase && c.pg_type == PgType::Text {
            folded = true;
            key_sql.push(format!("lower({})", quote_ident(&c.name)));
        } else {
            key_sql.push(quote_ident(&c.name));
        }
    }
    let index_plan = IndexPlan {
        name: String::new(),
        unique: true,
        key_sql,
        where_sql: None,
    };
    folded.then_some((index_plan, names))
}

fn plan_foreign_key(
    tables: &[&TableSchema],
    plans: &[TablePlan],
    at: usize,
    fk: &ForeignKeySchema,
) -> Result<ForeignKeyPlan, String> {
    let table = tables[at];
    let plan = &plans[at];
    let skip = |why: String| {
        format!(
            "foreign key ({}) of {} referencing {} not created: {why}",
            fk.columns.join(", "),
            table.name,
            fk.referenced_table
        )
    };
    let target = tables
        .iter()
        .position(|t| t.name.eq_ignore_ascii_case(&fk.referenced_table))
        .ok_or_else(|| {
            skip(format!(
                "{} is not copied; add the key by hand once it is",
                fk.referenced_table
            ))
        })?;
    let (ref_table, ref_plan) = (tables[target], &plans[target]);
    let ref_sources = if fk.referenced_columns.is_empty() {
        ref_table.primary_key.clone()
    } else {
        fk.referenced_columns.clone()
    };
    if ref_sources.is_empty() {
        return Err(skip(format!(
            "{} has no primary key to reference",
            ref_table.name
        )));
    }
    if ref_sources.len() != fk.columns.len() {
        return Err(skip(format!(
            "{} reference {}",
            ferry_model::plural(fk.columns.len(), "column", "columns"),
            ref_sources.len()
        )));
    }
    let mut columns = Vec::with_capacity(fk.columns.len());
    let mut referenced_columns = Vec::with_capacity(fk.columns.len());
    for (local, remote) in fk.columns.iter().zip(&ref_sources) {
        let l = column(table, plan, local)
            .ok_or_else(|| skip(format!("{} has no column {local}", table.name)))?;
        let r = column(ref_table, ref_plan, remote)
            .ok_or_else(|| skip(format!("{} has no column {remote}", ref_table.name)))?;
        if l.pg_type != r.pg_type && !(is_integer(l.pg_type) && is_integer(r.pg_type)) {
            return Err(skip(format!(
                "{local} is {} but {}.{remote} is {}",
                l.pg_type, ref_table.name, r.pg_type
            )));
        }
        columns.push(l.name.clone());
        referenced_columns.push(r.name.clone());
    }
    if !is_unique_key(ref_table, &ref_sources) {
        return Err(skip(format!(
            "Postgres requires a primary key or unique constraint on {}({})",
            ref_table.name,
            ref_sources.join(", ")
        )));
    }
    Ok(ForeignKeyPlan {
        name: String::new(),
        columns,
        referenced_table: ref_plan.name.clone(),
        referenced_columns,
        on_update: action(&fk.on_update),
        on_delete: action(&fk.on_delete),
        initially_deferred: fk.initially_deferred,
    })
}

/// SQLite reports actions in Postgres's own words; an empty one is the
/// default, `NO ACTION`.
fn action(sqlite: &str) -> String {
    let action = sqlite.trim().to_ascii_uppercase();
    if action.is_empty() {
        "NO ACTION".to_owned()
    } else {
        action
    }
}
