//! pg_partman as the manager of a range-partitioned target (issue 18):
//! `manager = "pg_partman"` in a table's `partition = { … }`.
//!
//! ferry creates the parent (`PARTITION BY RANGE`, no leaves) and, in the
//! same transaction, hands it to partman: `partman.create_parent` (native
//! partitioning, `p_start_partition` at the first interval of the source's
//! data, so partman makes every leaf from there to `premake` past today and
//! its `<table>_default`), then `partman.create_partition_time` (or
//! `_id`) for the data's later intervals, and the retention in
//! `part_config`. Every leaf the data needs then exists before a row moves,
//! named as partman names them; ferry checks that they do. After the load,
//! rows that still landed in the default leaf (NULL keys) are counted and
//! reported.
//!
//! Afterwards partman's maintenance (its background worker or pg_cron
//! calling `partman.run_maintenance`) creates and drops leaves. `ferry
//! partitions ensure` and `prune` leave such a table alone and say so; rows
//! a sync puts in the default leaf are moved out by partman's own
//! `partition_data_time` / `partition_data_id`.
//!
//! ferry never creates the extension: like PostGIS, it is the DBA's
//! (`CREATE SCHEMA partman; CREATE EXTENSION pg_partman SCHEMA partman;`).
//! Partman works in the session's time zone: ferry's sessions use UTC, and
//! a warning says when the database's default time zone would make
//! partman's later leaves start at another hour than ferry's.

use anyhow::{Context, Result};
use ferry_model::{
    quote_ident, quote_literal, quote_qualified, LeafBound, PartitionManager, PartitionScheme,
    PartmanSettings, PgType, TablePlan, TimeInterval,
};
use tokio_postgres::Client;

use crate::exit::UsageError;
use crate::partitioning::{interval_start, next_start, MAX_LEAVES};

/// The pg_partman settings of a plan, when partman manages it.
pub(crate) fn settings(plan: &TablePlan) -> Option<&PartmanSettings> {
    match &plan.partition.as_ref()?.manager {
        PartitionManager::PgPartman(settings) => Some(settings),
        PartitionManager::Ferry => None,
    }
}

/// `schema.table` as pg_partman names a parent in `part_config`: unquoted
/// (partman splits it at the dot).
fn parent_name(plan: &TablePlan) -> String {
    format!("{}.{}", plan.schema, plan.name)
}

/// The schema pg_partman is installed in, if it is.
pub(crate) async fn installed_schema(client: &Client) -> Result<Option<String>> {
    let row = client
        .query_opt(
            "SELECT n.nspname::text FROM pg_catalog.pg_extension e \
             JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace \
             WHERE e.extname = 'pg_partman'",
            &[],
        )
        .await
        .context("looking for the pg_partman extension in the target")?;
    Ok(row.map(|r| r.get(0)))
}

/// The schema of pg_partman, or an error saying what the DBA runs to
/// install it.
pub(crate) async fn require(client: &Client, plans: &[&TablePlan]) -> Result<String> {
    if let Some(schema) = installed_schema(client).await? {
        return Ok(schema);
    }
    let tables: Vec<String> = plans.iter().map(|p| parent_name(p)).collect();
    let available = client
        .query_opt(
            "SELECT default_version FROM pg_catalog.pg_available_extensions \
             WHERE name = 'pg_partman'",
            &[],
        )
        .await
        .context("looking for the pg_partman extension in the target")?
        .is_some();
    let install = if available {
        String::new()
    } else {
        let major: i32 = client
            .query_one(
                "SELECT current_setting('server_version_num')::int / 10000",
                &[],
            )
            .await
            .context("reading the server's version")?
            .get(0);
        format!(
            "the server has no pg_partman to offer: install it on the server (Debian and Ubuntu: \
             apt-get install postgresql-{major}-partman), then "
        )
    };
    Err(UsageError::new(format!(
        "{}: partition.manager = \"pg_partman\", but the target database has no pg_partman \
         extension; {install}have a DBA run in it: CREATE SCHEMA partman; CREATE EXTENSION \
         pg_partman SCHEMA partman; (ferry does not create extensions itself), or remove \
         manager to let ferry keep the partitions",
        tables.join(", ")
    ))
    .into())
}

/// What `part_config` says about a parent.
#[derive(Debug)]
pub(crate) struct Registered {
    pub control: String,
    pub interval: String,
    pub premake: i32,
    pub retention: Option<String>,
    pub keep_table: bool,
    pub template: Option<String>,
}

impl Registered {
    /// `premake 4, retention 90 days`, for the lines ferry prints.
    pub fn describe(&self) -> String {
        let mut text = format!("interval {}, premake {}", self.interval, self.premake);
        match &self.retention {
            Some(retention) => {
                text.push_str(&format!(", retention {retention}"));
                if self.keep_table {
                    text.push_str(" (tables kept)");
                }
            }
            None => text.push_str(", no retention"),
        }
        text
    }
}

/// The `part_config` row of `schema.table`, when pg_partman (installed in
/// `partman`) has one.
pub(crate) async fn registered(
    client: &Client,
    partman: &str,
    schema: &str,
    table: &str,
) -> Result<Option<Registered>> {
    let sql = format!(
        "SELECT control, partition_interval, premake, retention, retention_keep_table, \
         template_table FROM {}.part_config WHERE parent_table = $1",
        quote_ident(partman)
    );
    let row = client
        .query_opt(&sql, &[&format!("{schema}.{table}")])
        .await
        .with_context(|| format!("reading {partman}.part_config for {schema}.{table}"))?;
    Ok(row.map(|r| Registered {
        control: r.get(0),
        interval: r.get(1),
        premake: r.get(2),
        retention: r.get(3),
        keep_table: r.get(4),
        template: r.get(5),
    }))
}

/// `daily`, `weekly`, `monthly`, `yearly` (the words that make partman
/// align leaves as ferry does: ISO weeks from Monday), or the width.
fn partman_interval(scheme: PartitionScheme) -> String {
    match scheme {
        PartitionScheme::Range { interval } => match interval {
            TimeInterval::Day => "daily",
            TimeInterval::Week => "weekly",
            TimeInterval::Month => "monthly",
            TimeInterval::Year => "yearly",
        }
        .to_owned(),
        PartitionScheme::RangeWidth { width } => width.to_string(),
        _ => unreachable!("pg_partman plans are range plans"),
    }
}

/// Creates (when `create`) and registers one partman-managed table, in one
/// transaction: the parent, `create_parent`, the leaves the data needs
/// beyond what it makes, the retention. Returns notes for the report.
///
/// # Panics
///
/// When `plan` is not managed by pg_partman.
pub(crate) async fn create_and_register(
    client: &Client,
    partman: &str,
    plan: &TablePlan,
    create_sql: Option<&str>,
) -> Result<Vec<String>> {
    let display = parent_name(plan);
    client
        .batch_execute("BEGIN; SET LOCAL TimeZone = 'UTC'")
        .await
        .with_context(|| format!("registering {display} with pg_partman"))?;
    let outcome = register_in_transaction(client, partman, plan, create_sql).await;
    let end = if outcome.is_ok() {
        "COMMIT"
    } else {
        "ROLLBACK"
    };
    let ended = client.batch_execute(end).await;
    let notes = outcome?;
    ended.with_context(|| format!("registering {display} with pg_partman"))?;
    Ok(notes)
}

async fn register_in_transaction(
    client: &Client,
    partman: &str,
    plan: &TablePlan,
    create_sql: Option<&str>,
) -> Result<Vec<String>> {
    let settings = settings(plan).expect("a pg_partman plan");
    let partition = plan.partition.as_ref().expect("partitioned");
    let display = parent_name(plan);
    let context = || format!("registering {display} with pg_partman");
    let ns = quote_ident(partman);
    let mut notes = Vec::new();
    if display.matches('.').count() != 1 {
        return Err(UsageError::new(format!(
            "{display}: pg_partman cannot manage a table whose schema or name holds a dot; \
             rename it (rename = \"...\" in ferry.toml) or let ferry manage its partitions"
        ))
        .into());
    }
    if let Some(sql) = create_sql {
        client
            .batch_execute(sql)
            .await
            .with_context(|| format!("creating {display}: {sql}"))?;
    }
    let found = registered(client, partman, &plan.schema, &plan.name).await?;
    let found = match found {
        // A part_config row for a table just created is left from one
        // dropped (`--if-exists drop`, an undone copy): partman keeps it,
        // and its template table, after the parent is gone.
        Some(stale) if create_sql.is_some() => {
            client
                .execute(
                    &format!("DELETE FROM {ns}.part_config WHERE parent_table = $1"),
                    &[&display],
                )
                .await
                .with_context(context)?;
            if let Some((schema, table)) = stale.template.as_deref().and_then(|t| t.split_once('.'))
            {
                client
                    .batch_execute(&format!(
                        "DROP TABLE IF EXISTS {}",
                        quote_qualified(schema, table)
                    ))
                    .await
                    .with_context(context)?;
            }
            None
        }
        found => found,
    };
    let starts: Vec<String> = partition
        .leaves
        .iter()
        .filter_map(|leaf| match &leaf.bound {
            LeafBound::Range { from_sql, .. } => Some(from_sql.clone()),
            _ => None,
        })
        .collect();
    match &found {
        Some(existing) => {
            if existing.control != partition.column {
                return Err(UsageError::new(format!(
                    "{display} is registered with pg_partman on column {}, not {}; give the \
                     settings it was registered with, or unregister it (DELETE FROM \
                     {partman}.part_config WHERE parent_table = '{display}')",
                    existing.control, partition.column
                ))
                .into());
            }
            notes.push(format!(
                "{display} was already registered with pg_partman ({}); its part_config was \
                 left as it is",
                existing.describe()
            ));
        }
        None => {
            check_leaf_count(plan, settings)?;
            let interval = partman_interval(partition.scheme);
            let start = starts.first().map(|s| unquote(s));
            client
                .execute(
                    &format!(
                        "SELECT {ns}.create_parent(p_parent_table := $1, p_control := $2, \
                         p_type := 'native', p_interval := $3, p_premake := $4, \
                         p_start_partition := $5)"
                    ),
                    &[
                        &display,
                        &partition.column,
                        &interval,
                        &i32::try_from(settings.premake).unwrap_or(4),
                        &start,
                    ],
                )
                .await
                .with_context(context)?;
            client
                .execute(
                    &format!(
                        "UPDATE {ns}.part_config SET retention = $2, retention_keep_table = $3 \
                         WHERE parent_table = $1"
                    ),
                    &[&display, &settings.retention, &settings.keep_table],
                )
                .await
                .with_context(context)?;
        }
    }
    // Leaves for the data past what create_parent made (later than premake
    // ahead of today, or an integer range's later ids); partman skips
    // those that exist.
    if !starts.is_empty() {
        let sql = match partition.scheme {
            PartitionScheme::RangeWidth { width } => {
                let mut ids: Vec<String> = starts.iter().map(|s| unquote(s)).collect();
                if let Some(last) = ids.last().and_then(|l| l.parse::<i64>().ok()) {
                    ids.extend(
                        (1..=i64::from(settings.premake)).map(|k| (last + k * width).to_string()),
                    );
                }
                format!(
                    "SELECT {ns}.create_partition_id($1, ARRAY[{}]::bigint[], false)",
                    ids.join(", ")
                )
            }
            _ => format!(
                "SELECT {ns}.create_partition_time($1, ARRAY[{}]::timestamptz[], false)",
                starts.join(", ")
            ),
        };
        client
            .execute(&sql, &[&display])
            .await
            .with_context(context)?;
    }
    check_leaves(client, plan).await?;
    notes.extend(time_zone_warning(client, plan).await?);
    notes.extend(maintenance_warning(client, partman).await);
    Ok(notes)
}

/// `'2024-10-01 00:00:00+00'` → `2024-10-01 00:00:00+00`; numbers as they are.
fn unquote(literal: &str) -> String {
    literal.trim_matches('\'').to_owned()
}

/// create_parent makes every leaf from the data's first interval to
/// premake past today: refuse what would be more than ferry's own limit.
fn check_leaf_count(plan: &TablePlan, settings: &PartmanSettings) -> Result<()> {
    let partition = plan.partition.as_ref().expect("partitioned");
    let PartitionScheme::Range { interval } = partition.scheme else {
        return Ok(());
    };
    let Some(LeafBound::Range { from_sql, .. }) = partition.leaves.first().map(|l| &l.bound) else {
        return Ok(());
    };
    let digits: String = from_sql.chars().filter(char::is_ascii_digit).collect();
    let (Ok(y), Ok(m), Ok(d)) = (
        digits[..4].parse::<i64>(),
        digits[4..6].parse::<u32>(),
        digits[6..8].parse::<u32>(),
    ) else {
        return Ok(());
    };
    let today = crate::partitions::today(None)?;
    let mut start = ferry_model::days_from_civil(y, m, d);
    let mut count = settings.premake as usize;
    let last = interval_start(today, interval);
    while start <= last && count <= MAX_LEAVES {
        count += 1;
        start = next_start(start, interval);
    }
    if count > MAX_LEAVES {
        return Err(UsageError::new(format!(
            "{}: pg_partman would create more than {MAX_LEAVES} partitions (every {} from the \
             data's first to {} past today); choose a longer interval, or let ferry manage the \
             table (remove manager = \"pg_partman\")",
            plan.name,
            interval.as_str(),
            settings.premake
        ))
        .into());
    }
    Ok(())
}

/// Every leaf the plan expects (the data's, and the default) exists,
/// under the name ferry computed for it.
async fn check_leaves(client: &Client, plan: &TablePlan) -> Result<()> {
    let partition = plan.partition.as_ref().expect("partitioned");
    let existing = ferry_writer::list_leaves(client, &plan.schema, &plan.name)
        .await?
        .unwrap_or_default();
    let missing: Vec<&str> = partition
        .leaves
        .iter()
        .filter(|leaf| !existing.iter().any(|e| e.name == leaf.name))
        .map(|leaf| leaf.name.as_str())
        .collect();
    if let Some(first) = missing.first() {
        let have: Vec<&str> = existing.iter().map(|e| e.name.as_str()).collect();
        return Err(UsageError::new(format!(
            "{}.{}: after registering it, pg_partman has no partition {first} (of {} the data \
             needs) but {}; nothing was loaded. Check the parent's existing partitions and \
             partman.part_config, or let ferry manage the table",
            plan.schema,
            plan.name,
            missing.len(),
            if have.is_empty() {
                "none".to_owned()
            } else {
                have.join(", ")
            }
        ))
        .into());
    }
    Ok(())
}

const UTC_NAMES: [&str; 8] = [
    "UTC",
    "Etc/UTC",
    "GMT",
    "Etc/GMT",
    "UCT",
    "Etc/UCT",
    "Universal",
    "Zulu",
];

/// Partman's maintenance computes a timestamptz leaf's bounds in its
/// session's time zone: unless that is UTC, later leaves start at another
/// hour than the UTC midnights ferry and create_parent used.
async fn time_zone_warning(client: &Client, plan: &TablePlan) -> Result<Option<String>> {
    let partition = plan.partition.as_ref().expect("partitioned");
    let key_type = plan
        .columns
        .iter()
        .find(|c| c.name == partition.column)
        .map(|c| c.pg_type);
    if key_type != Some(PgType::Timestamptz) {
        return Ok(None);
    }
    let zone: String = client
        .query_one(
            "SELECT reset_val FROM pg_catalog.pg_settings WHERE name = 'TimeZone'",
            &[],
        )
        .await
        .context("reading the database's default time zone")?
        .get(0);
    if UTC_NAMES.iter().any(|u| u.eq_ignore_ascii_case(&zone)) {
        return Ok(None);
    }
    let database: String = client
        .query_one("SELECT current_database()::text", &[])
        .await
        .context("reading the database's name")?
        .get(0);
    Ok(Some(format!(
        "{}.{}: the database's default time zone is {zone}, and pg_partman's maintenance \
         computes the bounds of new timestamptz partitions in its session's zone, so they would \
         start at midnight {zone}, not UTC like the partitions made now; run ALTER DATABASE {} \
         SET TimeZone = 'UTC' (or set it for the role partman's maintenance runs as)",
        plan.schema,
        plan.name,
        quote_ident(&database)
    )))
}

/// Nothing runs partman's maintenance unless its background worker is
/// loaded or pg_cron calls it: say so when neither is visible (and the
/// setting is readable: it needs pg_read_all_settings).
async fn maintenance_warning(client: &Client, partman: &str) -> Option<String> {
    let row = client
        .query_opt(
            "SELECT current_setting('shared_preload_libraries', true), \
             EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron')",
            &[],
        )
        .await
        .ok()??;
    let libraries: Option<String> = row.get(0);
    let cron: bool = row.get(1);
    let libraries = libraries?;
    if cron || libraries.split(',').any(|l| l.trim() == "pg_partman_bgw") {
        return None;
    }
    Some(format!(
        "pg_partman is registered, but nothing seems to run its maintenance: shared_preload_libraries \
         has no pg_partman_bgw and this database no pg_cron; add pg_partman_bgw (with \
         pg_partman_bgw.dbname and pg_partman_bgw.interval) or schedule SELECT \
         {partman}.run_maintenance() with pg_cron, or new partitions will not be made"
    ))
}

/// After the load: rows that landed in a partman-managed table's default
/// leaf (NULL keys, since every other key has its leaf), and rows older
/// than the retention, which partman's next maintenance drops.
pub(crate) async fn after_load<'a>(
    client: &Client,
    plans: impl Iterator<Item = &'a TablePlan>,
) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    for plan in plans {
        let Some(settings) = settings(plan) else {
            continue;
        };
        let partition = plan.partition.as_ref().expect("partitioned");
        let Some(default) = partition
            .leaves
            .iter()
            .find(|l| l.bound == LeafBound::Default)
        else {
            continue;
        };
        let in_default = default_rows(client, &plan.schema, &default.name).await?;
        if in_default > 0 {
            warnings.push(format!(
                "{}.{}: {} landed in the default partition {}.{} (NULL keys); they are copied \
                 and verified like the others, but pg_partman's check_default() reports them \
                 and its maintenance does not move them",
                plan.schema,
                plan.name,
                ferry_model::plural(in_default, "row", "rows"),
                plan.schema,
                default.name
            ));
        }
        if let (Some(retention), PartitionScheme::Range { .. }) =
            (&settings.retention, partition.scheme)
        {
            let column = quote_ident(&partition.column);
            let sql = format!(
                "SELECT count(*) FROM {} WHERE {column} < now() - {}::interval",
                quote_qualified(&plan.schema, &plan.name),
                quote_literal(retention)
            );
            let old: i64 = client
                .query_one(&sql, &[])
                .await
                .with_context(|| format!("counting old rows of {}.{}", plan.schema, plan.name))?
                .get(0);
            if old > 0 {
                warnings.push(format!(
                    "{}.{}: {} older than the retention ({retention}); pg_partman's next \
                     maintenance {} the partitions that hold only such rows",
                    plan.schema,
                    plan.name,
                    ferry_model::plural(u64::try_from(old).unwrap_or(0), "row is", "rows are"),
                    if settings.keep_table {
                        "detaches"
                    } else {
                        "drops"
                    }
                ));
            }
        }
    }
    Ok(warnings)
}

/// Rows in a leaf itself.
pub(crate) async fn default_rows(client: &Client, schema: &str, leaf: &str) -> Result<u64> {
    let count: i64 = client
        .query_one(
            &format!(
                "SELECT count(*) FROM ONLY {}",
                quote_qualified(schema, leaf)
            ),
            &[],
        )
        .await
        .with_context(|| format!("counting the rows in {schema}.{leaf}"))?
        .get(0);
    Ok(u64::try_from(count).unwrap_or(0))
}

/// The default leaf of a partman-managed parent: `<table>_default` cut as
/// partman cuts it, if it exists.
async fn default_leaf(client: &Client, schema: &str, table: &str) -> Result<Option<String>> {
    let leaves = ferry_writer::list_leaves(client, schema, table)
        .await?
        .unwrap_or_default();
    Ok(leaves.into_iter().find(|l| l.is_default()).map(|l| l.name))
}

/// What `ferry partitions ensure` (and a sync) does for a table pg_partman
/// manages: leaves are partman's, so none is created here; rows sitting in
/// the default leaf are moved into leaves of their own by partman's
/// `partition_data_time` / `partition_data_id`, as its docs prescribe.
pub(crate) async fn ensure(
    client: &Client,
    partman: &str,
    plan: &TablePlan,
    found: &Registered,
) -> Result<Vec<String>> {
    let display = parent_name(plan);
    let mut lines = vec![format!(
        "{display}: managed by pg_partman ({}); its maintenance ({}.run_maintenance, from its \
         background worker or pg_cron) creates the partitions, ferry creates none",
        found.describe(),
        partman
    )];
    let Some(default) = default_leaf(client, &plan.schema, &plan.name).await? else {
        return Ok(lines);
    };
    let keyed = format!(
        "SELECT count(*) FROM ONLY {} WHERE {} IS NOT NULL",
        quote_qualified(&plan.schema, &default),
        quote_ident(&found.control)
    );
    let waiting: i64 = client
        .query_one(&keyed, &[])
        .await
        .with_context(|| format!("counting the rows in {}.{default}", plan.schema))?
        .get(0);
    if waiting == 0 {
        return Ok(lines);
    }
    let is_time = found.interval.parse::<i64>().is_err();
    let function = if is_time {
        "partition_data_time"
    } else {
        "partition_data_id"
    };
    let sql = format!(
        "SELECT {}.{function}($1, p_batch_count := $2)",
        quote_ident(partman)
    );
    let batches = i32::try_from(MAX_LEAVES).unwrap_or(i32::MAX);
    let moved: i64 = client
        .query_one(&sql, &[&display, &batches])
        .await
        .with_context(|| {
            format!(
                "moving rows out of {}.{default} with {partman}.{function}",
                plan.schema
            )
        })?
        .get(0);
    lines.push(format!(
        "moved {} from {}.{default} into pg_partman's partitions ({partman}.{function})",
        ferry_model::plural(u64::try_from(moved).unwrap_or(0), "row", "rows"),
        plan.schema
    ));
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_words_align_leaves_like_ferry() {
        let month = PartitionScheme::Range {
            interval: TimeInterval::Month,
        };
        assert_eq!(partman_interval(month), "monthly");
        let week = PartitionScheme::Range {
            interval: TimeInterval::Week,
        };
        assert_eq!(partman_interval(week), "weekly");
        assert_eq!(
            partman_interval(PartitionScheme::RangeWidth { width: 1000 }),
            "1000"
        );
        assert_eq!(
            unquote("'2024-10-01 00:00:00+00'"),
            "2024-10-01 00:00:00+00"
        );
    }
}
