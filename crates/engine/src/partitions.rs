//! `ferry partitions ensure` and `ferry partitions prune`: keep the range
//! leaves of partitioned targets in step with time, from cron.
//!
//! `ensure` creates the leaves of the interval holding `--now` and the
//! `--ahead` intervals after it, and the leaf of every row sitting in the
//! DEFAULT partition whose key now has one: in one transaction per leaf it
//! creates a standalone table shaped like the parent, moves those rows out
//! of DEFAULT into it, attaches it and comments it as ferry's. `prune`
//! detaches and drops the time-range leaves whose upper bound is at or
//! before `--now` minus the retention, and only those that carry ferry's
//! comment and ferry's name and bounds for their interval: never DEFAULT,
//! never a partition a user made.
//!
//! A table pg_partman manages (registered in its `part_config`, whatever
//! the config says) is left to partman: both commands say so, and
//! `ensure` only has partman move rows out of its default leaf.
//!
//! Each change takes a transaction-level advisory lock on its parent
//! (`hashtextextended('ferry partitions schema.table', 0)`), so concurrent
//! runs take turns; both commands are idempotent.

use anyhow::{Context, Result};
use ferry_model::{
    civil_from_days, days_from_civil, quote_qualified, Leaf, LeafBound, PartitionScheme, PgType,
    TablePlan,
};
use ferry_writer::TargetLeaf;
use tokio_postgres::Client;

use crate::exit::UsageError;
use crate::options::{EnsureOptions, PartitionsOptions, PruneOptions, SourceOptions};
use crate::partition_targets::plans_from_config;
use crate::partitioning::{interval_start, next_start, time_leaf, width_leaf};
use crate::prepare::{prepare, PlannedTable};

/// Runs the subcommand; returns one line per action.
pub async fn partitions(args: &PartitionsOptions) -> Result<String> {
    let lines = match args {
        PartitionsOptions::Ensure(args) => ensure(args).await?,
        PartitionsOptions::Prune(args) => prune(args).await?,
    };
    Ok(lines.iter().map(|l| format!("{l}\n")).collect())
}

/// The plans ferry maintains: range-partitioned ones.
pub(crate) fn ranged(tables: &[PlannedTable]) -> impl Iterator<Item = &TablePlan> {
    tables.iter().map(|t| &t.plan).filter(|p| {
        p.partition.as_ref().is_some_and(|p| {
            matches!(
                p.scheme,
                PartitionScheme::Range { .. } | PartitionScheme::RangeWidth { .. }
            )
        })
    })
}

/// The range-partitioned plans to maintain, and a line for each table
/// skipped: planned from the SQLite file as the copy did when `--source`
/// is given, else from the config and the target's catalog alone.
async fn maintained(
    client: &Client,
    args: &SourceOptions,
) -> Result<(Vec<TablePlan>, Vec<String>)> {
    if args.source.as_os_str().is_empty() {
        let found = plans_from_config(client, args).await?;
        return Ok((found.plans, found.skipped));
    }
    let prepared = prepare(args)?;
    let plans: Vec<TablePlan> = ranged(&prepared.tables).cloned().collect();
    if plans.is_empty() {
        return Err(UsageError::new(
            "no table is range-partitioned: give the same --config or --partition as the copy",
        )
        .into());
    }
    Ok((plans, Vec::new()))
}

/// Bounds are compared as Postgres prints them back, which depends on
/// these session settings.
async fn connect(target: &str) -> Result<Client> {
    let client = ferry_writer::connect(target)
        .await
        .context("connecting to the target")?;
    client
        .batch_execute("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'")
        .await
        .context("setting the session's time zone to UTC")?;
    Ok(client)
}

async fn leaves_of(client: &Client, plan: &TablePlan) -> Result<Option<Vec<TargetLeaf>>> {
    ferry_writer::list_leaves(client, &plan.schema, &plan.name)
        .await
        .with_context(|| format!("listing the partitions of {}.{}", plan.schema, plan.name))
}

fn column_type(plan: &TablePlan, column: &str) -> PgType {
    plan.columns
        .iter()
        .find(|c| c.name == column)
        .map_or(PgType::BigInt, |c| c.pg_type)
}

async fn ensure(args: &EnsureOptions) -> Result<Vec<String>> {
    let today = today(args.now.as_deref())?;
    let mut client = connect(&args.target).await?;
    let (plans, mut lines) = maintained(&client, &args.source).await?;
    lines.extend(ensure_leaves(&mut client, plans.iter(), today, args.ahead).await?);
    Ok(lines)
}

/// Creates the range leaves the range-partitioned `plans` need as of
/// `today` (unix days) and `ahead` intervals after, and moves rows out of
/// DEFAULT into the leaves that now exist for them; `ferry sync` calls it
/// after applying its changes. One line per action.
pub(crate) async fn ensure_leaves<'a>(
    client: &mut Client,
    plans: impl Iterator<Item = &'a TablePlan>,
    today: i64,
    ahead: u32,
) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    let partman = crate::partman::installed_schema(client).await?;
    for plan in plans {
        let partition = plan
            .partition
            .as_ref()
            .expect("range plans are partitioned");
        let display = format!("{}.{}", plan.schema, plan.name);
        match partman_state(client, partman.as_deref(), plan).await? {
            Partman::Manages(partman, found) => {
                lines.extend(crate::partman::ensure(client, &partman, plan, &found).await?);
                continue;
            }
            Partman::Unregistered(line) => {
                lines.push(line);
                continue;
            }
            Partman::No => {}
        }
        let Some(existing) = leaves_of(client, plan).await? else {
            lines.push(format!(
                "skipped {display}: not a partitioned table in the target; create it with ferry \
                 copy first"
            ));
            continue;
        };
        let pg_type = column_type(plan, &partition.column);
        let default = existing
            .iter()
            .find(|l| l.is_default())
            .map(|l| l.name.clone());
        let mut wanted: Vec<Leaf> = Vec::new();
        let mut add = |leaf: Leaf| {
            if !wanted.iter().any(|w| w.name == leaf.name) {
                wanted.push(leaf);
            }
        };
        match partition.scheme {
            PartitionScheme::Range { interval } => {
                let mut start = interval_start(today, interval);
                for _ in 0..=ahead {
                    add(time_leaf(&plan.name, pg_type, interval, start)?);
                    start = next_start(start, interval);
                }
                if let Some(default) = &default {
                    for day in default_days(client, plan, default, pg_type).await? {
                        let start = interval_start(day, interval);
                        add(time_leaf(&plan.name, pg_type, interval, start)?);
                    }
                }
            }
            PartitionScheme::RangeWidth { width } => {
                if let Some(default) = &default {
                    for p in default_slots(client, plan, default, width).await? {
                        add(width_leaf(&plan.name, pg_type, width, p));
                    }
                }
            }
            _ => continue,
        }
        wanted.sort_by(|a, b| a.name.cmp(&b.name));
        let before = lines.len();
        for leaf in wanted {
            if existing.iter().any(|e| e.name == leaf.name) {
                continue;
            }
            if let Some(line) = create_leaf(client, plan, &leaf, default.as_deref()).await? {
                lines.push(line);
            }
        }
        if lines.len() == before {
            lines.push(format!("{display}: nothing to do"));
        }
    }
    Ok(lines)
}

/// Whether pg_partman manages a parent: ferry then creates and drops none
/// of its leaves, whatever the config says.
enum Partman {
    /// Registered in `part_config` (pg_partman's schema, its row).
    Manages(String, crate::partman::Registered),
    /// The config says `manager = "pg_partman"`, but partman has no row
    /// for it: the line saying so.
    Unregistered(String),
    No,
}

async fn partman_state(
    client: &Client,
    partman: Option<&str>,
    plan: &TablePlan,
) -> Result<Partman> {
    let found = match partman {
        Some(partman) => {
            crate::partman::registered(client, partman, &plan.schema, &plan.name).await?
        }
        None => None,
    };
    Ok(match (partman, found) {
        (Some(partman), Some(found)) => Partman::Manages(partman.to_owned(), found),
        _ if crate::partman::settings(plan).is_some() => Partman::Unregistered(format!(
            "skipped {}.{}: manager = \"pg_partman\", but pg_partman has no part_config row for \
             it; ferry copy registers it",
            plan.schema, plan.name
        )),
        _ => Partman::No,
    })
}

/// The distinct UTC days of the keys sitting in DEFAULT, as unix days.
async fn default_days(
    client: &Client,
    plan: &TablePlan,
    default: &str,
    pg_type: PgType,
) -> Result<Vec<i64>> {
    let column = ferry_model::quote_ident(&plan.partition.as_ref().expect("partitioned").column);
    // The session's time zone is UTC, so a timestamptz casts to its UTC day.
    let day = match pg_type {
        PgType::Date => column.clone(),
        _ => format!("{column}::date"),
    };
    let sql = format!(
        "SELECT DISTINCT ({day} - DATE '1970-01-01')::bigint FROM {} WHERE {column} IS NOT NULL \
         AND isfinite({column})",
        quote_qualified(&plan.schema, default)
    );
    let rows = client
        .query(&sql, &[])
        .await
        .with_context(|| format!("reading the keys in {}.{default}", plan.schema))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The distinct `floor(key / width)` of the keys sitting in DEFAULT.
async fn default_slots(
    client: &Client,
    plan: &TablePlan,
    default: &str,
    width: i64,
) -> Result<Vec<i64>> {
    let column = ferry_model::quote_ident(&plan.partition.as_ref().expect("partitioned").column);
    let sql = format!(
        "SELECT DISTINCT floor({column}::numeric / {width})::bigint FROM {} WHERE {column} IS \
         NOT NULL",
        quote_qualified(&plan.schema, default)
    );
    let rows = client
        .query(&sql, &[])
        .await
        .with_context(|| format!("reading the keys in {}.{default}", plan.schema))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Creates one leaf in its own transaction, under the parent's lock, moving
/// its rows out of DEFAULT first. `None` when a concurrent run created it
/// meanwhile.
async fn create_leaf(
    client: &mut Client,
    plan: &TablePlan,
    leaf: &Leaf,
    default: Option<&str>,
) -> Result<Option<String>> {
    let partition = plan.partition.as_ref().expect("partitioned");
    let (schema, parent) = (plan.schema.as_str(), plan.name.as_str());
    let qualified = format!("{schema}.{}", leaf.name);
    let context = || format!("creating partition {qualified}");
    let tx = client.transaction().await.with_context(context)?;
    lock(&tx, schema, parent).await?;
    let exists = tx
        .query_opt(
            "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n \
             ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
            &[&schema, &leaf.name],
        )
        .await
        .with_context(context)?;
    if exists.is_some() {
        return Ok(None);
    }
    tx.batch_execute(&ferry_writer::create_detached_leaf_sql(
        schema, parent, &leaf.name,
    ))
    .await
    .with_context(context)?;
    let mut moved = 0;
    if let (Some(default), LeafBound::Range { from_sql, to_sql }) = (default, &leaf.bound) {
        let sql = ferry_writer::move_rows_sql(
            schema,
            default,
            &leaf.name,
            &partition.column,
            &bound_value(from_sql),
            &bound_value(to_sql),
        );
        moved = tx.execute(&sql, &[]).await.with_context(context)?;
    }
    let bound = ferry_writer::bound_sql(&partition.scheme, &leaf.bound);
    tx.batch_execute(&format!(
        "{};\n{}",
        ferry_writer::attach_leaf_sql(schema, parent, &partition.scheme, leaf),
        ferry_writer::comment_leaf_sql(schema, &leaf.name, &partition.scheme, &leaf.bound)
    ))
    .await
    .with_context(context)?;
    tx.commit().await.with_context(context)?;
    let mut line = format!("created {qualified} {bound}");
    if moved > 0 {
        line.push_str(&format!(
            ", moved {moved} row{} from {schema}.{}",
            if moved == 1 { "" } else { "s" },
            default.unwrap_or_default()
        ));
    }
    Ok(Some(line))
}

/// A bound as a value in a WHERE clause: open ends compare with nothing.
fn bound_value(bound: &str) -> String {
    match bound {
        "MINVALUE" => "'-infinity'::numeric".to_owned(),
        "MAXVALUE" => "'infinity'::numeric".to_owned(),
        literal => literal.to_owned(),
    }
}

async fn lock(tx: &tokio_postgres::Transaction<'_>, schema: &str, parent: &str) -> Result<()> {
    tx.execute(
        ferry_writer::PARTITIONS_LOCK_SQL,
        &[&ferry_writer::partitions_lock_key(schema, parent)],
    )
    .await
    .with_context(|| format!("locking {schema}.{parent} for partition maintenance"))?;
    Ok(())
}

async fn prune(args: &PruneOptions) -> Result<Vec<String>> {
    let retention = Retention::parse(&args.older_than)?;
    let today = today(args.now.as_deref())?;
    let cutoff = retention.before(today);
    let mut client = connect(&args.target).await?;
    let (plans, mut lines) = maintained(&client, &args.source).await?;
    let partman = crate::partman::installed_schema(&client).await?;
    for plan in &plans {
        let partition = plan
            .partition
            .as_ref()
            .expect("range plans are partitioned");
        let PartitionScheme::Range { interval } = partition.scheme else {
            continue;
        };
        let display = format!("{}.{}", plan.schema, plan.name);
        match partman_state(&client, partman.as_deref(), plan).await? {
            Partman::Manages(partman, found) => {
                lines.push(format!(
                    "{display}: managed by pg_partman ({}); its maintenance \
                     ({partman}.run_maintenance, from its background worker or pg_cron) drops \
                     the partitions past its retention, ferry drops none",
                    found.describe()
                ));
                continue;
            }
            Partman::Unregistered(line) => {
                lines.push(line);
                continue;
            }
            Partman::No => {}
        }
        let Some(existing) = leaves_of(&client, plan).await? else {
            lines.push(format!(
                "skipped {display}: not a partitioned table in the target"
            ));
            continue;
        };
        let pg_type = column_type(plan, &partition.column);
        let before = lines.len();
        for leaf in &existing {
            let Some(end) = ferrys_leaf_end(plan, pg_type, interval, leaf) else {
                continue;
            };
            if end > cutoff {
                continue;
            }
            let (y, m, d) = civil_from_days(end);
            let qualified = format!("{}.{}", plan.schema, leaf.name);
            if args.dry_run {
                lines.push(format!(
                    "would drop {qualified} (rows before {y:04}-{m:02}-{d:02})"
                ));
                continue;
            }
            let context = || format!("dropping partition {qualified}");
            let tx = client.transaction().await.with_context(context)?;
            lock(&tx, &plan.schema, &plan.name).await?;
            tx.batch_execute(&format!(
                "{};\n{}",
                ferry_writer::detach_leaf_sql(&plan.schema, &plan.name, &leaf.name),
                ferry_writer::drop_table_sql(&plan.schema, &leaf.name)
            ))
            .await
            .with_context(context)?;
            tx.commit().await.with_context(context)?;
            lines.push(format!(
                "dropped {qualified} (rows before {y:04}-{m:02}-{d:02})"
            ));
        }
        if lines.len() == before {
            lines.push(format!("{display}: nothing to do"));
        }
    }
    Ok(lines)
}

/// The unix day a leaf ends on, when it is one of ferry's time leaves: it
/// carries ferry's comment, and its name and bounds are exactly those ferry
/// gives the interval its lower bound starts.
fn ferrys_leaf_end(
    plan: &TablePlan,
    pg_type: PgType,
    interval: ferry_model::TimeInterval,
    leaf: &TargetLeaf,
) -> Option<i64> {
    if leaf.is_default() || !leaf.is_ferrys() {
        return None;
    }
    let from = leaf.bound.strip_prefix("FOR VALUES FROM ('")?;
    let date = from.get(..10)?;
    let year: i64 = date.get(..4)?.parse().ok()?;
    let month: u32 = date.get(5..7)?.parse().ok()?;
    let day: u32 = date.get(8..10)?.parse().ok()?;
    let start = days_from_civil(year, month, day);
    if civil_from_days(start) != (year, month, day) || interval_start(start, interval) != start {
        return None;
    }
    let expected = time_leaf(&plan.name, pg_type, interval, start).ok()?;
    let scheme = PartitionScheme::Range { interval };
    let same = expected.name == leaf.name
        && ferry_writer::bound_sql(&scheme, &expected.bound) == leaf.bound;
    same.then(|| next_start(start, interval))
}

/// `--now YYYY-MM-DD` (or today, UTC) as a unix day.
pub fn today(now: Option<&str>) -> Result<i64> {
    match now {
        Some(text) => parse_date(text).ok_or_else(|| {
            UsageError::new(format!(
                "--now {text}: not a date; write YYYY-MM-DD (e.g. 2024-10-05)"
            ))
            .into()
        }),
        None => {
            let seconds = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .context("the system clock is before 1970")?
                .as_secs();
            Ok(i64::try_from(seconds / 86_400).unwrap_or(i64::MAX))
        }
    }
}

fn parse_date(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let year: i64 = text[..4].parse().ok()?;
    let month: u32 = text[5..7].parse().ok()?;
    let day: u32 = text[8..].parse().ok()?;
    let days = days_from_civil(year, month, day);
    (civil_from_days(days) == (year, month, day)).then_some(days)
}

/// How long leaves are kept: `90d`, `12w`, `6m` (calendar months), `1y`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retention {
    Days(i64),
    Months(i64),
}

impl Retention {
    fn parse(text: &str) -> Result<Retention> {
        let bad = || {
            UsageError::new(format!(
                "--older-than {text}: not a duration; write a whole number and a unit, d (days), \
                 w (weeks), m (months) or y (years), e.g. 90d"
            ))
        };
        let unit = text.chars().last().ok_or_else(bad)?;
        let number: i64 = text[..text.len() - unit.len_utf8()]
            .parse()
            .map_err(|_| bad())?;
        if !(0..=100_000).contains(&number) {
            return Err(bad().into());
        }
        Ok(match unit {
            'd' => Retention::Days(number),
            'w' => Retention::Days(number * 7),
            'm' => Retention::Months(number),
            'y' => Retention::Months(number * 12),
            _ => return Err(bad().into()),
        })
    }

    /// The unix day `self` before `today`; a month back from the 31st is
    /// the last day of the shorter month.
    fn before(self, today: i64) -> i64 {
        match self {
            Retention::Days(days) => today - days,
            Retention::Months(months) => {
                let (y, m, d) = civil_from_days(today);
                let index = y * 12 + i64::from(m) - 1 - months;
                let (year, month) = (index.div_euclid(12), index.rem_euclid(12) as u32 + 1);
                let next = if month == 12 {
                    days_from_civil(year + 1, 1, 1)
                } else {
                    days_from_civil(year, month + 1, 1)
                };
                let last_day = (next - days_from_civil(year, month, 1)) as u32;
                days_from_civil(year, month, d.min(last_day))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use ferry_model::{ColumnPlan, PartitionPlan, TimeInterval};

    use super::*;

    #[test]
    fn durations_and_dates() {
        assert_eq!(Retention::parse("90d").unwrap(), Retention::Days(90));
        assert_eq!(Retention::parse("12w").unwrap(), Retention::Days(84));
        assert_eq!(Retention::parse("6m").unwrap(), Retention::Months(6));
        assert_eq!(Retention::parse("1y").unwrap(), Retention::Months(12));
        assert!(Retention::parse("90").is_err());
        assert!(Retention::parse("d").is_err());
        assert!(Retention::parse("-1d").is_err());
        let day = |y, m, d| days_from_civil(y, m, d);
        assert_eq!(parse_date("2024-02-29"), Some(day(2024, 2, 29)));
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("2024-2-29"), None);
        assert_eq!(
            Retention::Months(1).before(day(2024, 3, 31)),
            day(2024, 2, 29)
        );
        assert_eq!(
            Retention::Months(12).before(day(2024, 1, 15)),
            day(2023, 1, 15)
        );
        assert_eq!(Retention::Days(90).before(day(2024, 4, 1)), day(2024, 1, 2));
    }

    fn plan() -> TablePlan {
        let at = ColumnPlan::new("at", "", PgType::Timestamptz).not_null();
        let mut plan = TablePlan::new("public", "emails", vec![at]);
        plan.partition = Some(PartitionPlan {
            column: "at".to_owned(),
            scheme: PartitionScheme::Range {
                interval: TimeInterval::Month,
            },
            leaves: Vec::new(),
            unique: Default::default(),
            manager: Default::default(),
        });
        plan
    }

    #[test]
    fn only_ferrys_own_leaves_are_prunable() {
        let leaf = |name: &str, bound: &str, comment: Option<&str>| TargetLeaf {
            name: name.to_owned(),
            bound: bound.to_owned(),
            comment: comment.map(str::to_owned),
            estimated_rows: 0,
        };
        let month = TimeInterval::Month;
        let bound = "FOR VALUES FROM ('2024-01-01 00:00:00+00') TO ('2024-02-01 00:00:00+00')";
        let ours = leaf(
            "emails_2024_01",
            bound,
            Some("ferry partition: range month"),
        );
        assert_eq!(
            ferrys_leaf_end(&plan(), PgType::Timestamptz, month, &ours),
            Some(days_from_civil(2024, 2, 1))
        );
        let unmarked = leaf("emails_2024_01", bound, Some("archive"));
        assert_eq!(
            ferrys_leaf_end(&plan(), PgType::Timestamptz, month, &unmarked),
            None
        );
        let renamed = leaf("emails_jan", bound, Some("ferry partition: range month"));
        assert_eq!(
            ferrys_leaf_end(&plan(), PgType::Timestamptz, month, &renamed),
            None
        );
        let odd = leaf(
            "emails_2024_01",
            "FOR VALUES FROM ('2024-01-01 00:00:00+00') TO ('2024-03-01 00:00:00+00')",
            Some("ferry partition: range month"),
        );
        assert_eq!(
            ferrys_leaf_end(&plan(), PgType::Timestamptz, month, &odd),
            None
        );
        let default = leaf(
            "emails_default",
            "DEFAULT",
            Some("ferry partition: range month"),
        );
        assert_eq!(
            ferrys_leaf_end(&plan(), PgType::Timestamptz, month, &default),
            None
        );
    }
}
