//! The leaves of a partitioned target, computed from the data before the
//! table is created.
//!
//! The partition column is read from the source and coerced exactly as the
//! copy will store it (so a text timestamp with an offset lands in the
//! month of its UTC instant). Then:
//!
//! - **range over time**: one leaf per UTC interval from the smallest value
//!   to the largest: `emails_2024_10` (month), `emails_2024_10_05` (day),
//!   `emails_2024_w41` (ISO week, Monday to Monday, named by ISO year),
//!   `emails_2024` (year), plus `emails_default`, where Postgres routes NULL
//!   keys and anything later;
//! - **range over integers**: `events_p0`, `events_p1`… holding
//!   `[p × width, (p + 1) × width)`, negative p written `m1`, `m2`…, plus
//!   `events_default`;
//! - **hash**: `accounts_p0` … `accounts_p{modulus-1}`; Postgres sends a
//!   NULL key to remainder 0 (a NULL contributes nothing to the row's
//!   hash, which stays 0), so no default is needed;
//! - **list**: one leaf per distinct value, `orders_<slug>` (lower-case
//!   ASCII letters and digits, anything else `_`; a collision, an empty
//!   slug or a name past 63 bytes gets a short hash suffix), `orders_null`
//!   for NULL, and `orders_default` for values that come later.
//!
//! Values that cannot be coerced are skipped here: the copy rejects them.

use std::collections::BTreeMap;

use anyhow::Result;
use ferry_model::{
    civil_from_days, days_from_civil, format_date, format_timestamp, format_uuid, quote_literal,
    Leaf, LeafBound, PartitionManager, PartitionPlan, PartitionScheme, PgType, PgValue, TablePlan,
    TableSchema, TimeInterval, MICROS_PER_DAY, PG_EPOCH_UNIX_DAYS,
};
use ferry_reader::SourceDb;

use crate::exit::UsageError;
use crate::prepare::PlannedTable;
use crate::reading::ReadResult;

/// Most leaves ferry creates for one table; Postgres plans and locks slow
/// down with thousands of partitions.
pub const MAX_LEAVES: usize = 1000;
/// Postgres keeps 63 bytes of a name.
const MAX_NAME_BYTES: usize = 63;

/// Fills the leaves of every partitioned plan that has none yet, reading
/// each partition column once.
pub fn add_leaves(source: &SourceDb, tables: &mut [PlannedTable]) -> Result<()> {
    for PlannedTable {
        source: table,
        plan,
    } in tables.iter_mut()
    {
        let Some(partition) = &plan.partition else {
            continue;
        };
        if !partition.leaves.is_empty() {
            continue;
        }
        let leaves = match partition.scheme {
            PartitionScheme::Hash { modulus } => hash_leaves(&plan.name, modulus),
            _ => {
                let keys = scan_keys(source, table, plan, partition)?;
                leaves_for(plan, partition, &keys)?
            }
        };
        if let Some(partition) = &mut plan.partition {
            partition.leaves = leaves;
        }
    }
    check_leaf_names(tables.iter().map(|t| &t.plan))
}

/// A leaf must not take the name of another table ferry creates.
fn check_leaf_names<'a>(plans: impl IntoIterator<Item = &'a TablePlan> + Clone) -> Result<()> {
    for plan in plans.clone() {
        let Some(partition) = &plan.partition else {
            continue;
        };
        for leaf in &partition.leaves {
            let clash = plans
                .clone()
                .into_iter()
                .find(|other| other.schema == plan.schema && other.name == leaf.name);
            if let Some(other) = clash {
                return Err(UsageError::new(format!(
                    "partition {} of {} would have the name of table {} (from SQLite table {}); \
                     rename one of them with rename = \"...\" in ferry.toml",
                    leaf.name, plan.name, other.name, other.source_name
                ))
                .into());
            }
        }
    }
    Ok(())
}

/// What the partition column holds, reduced to what leaves depend on.
#[derive(Debug, Default, PartialEq)]
pub struct Keys {
    /// Smallest and largest key: unix days for time columns, the value for
    /// integers.
    pub range: Option<(i64, i64)>,
    /// Distinct values, as SQL literal → text for the leaf's name.
    pub values: BTreeMap<String, String>,
    /// Some key is NULL.
    pub has_null: bool,
}

fn scan_keys(
    source: &SourceDb,
    table: &TableSchema,
    plan: &TablePlan,
    partition: &PartitionPlan,
) -> Result<Keys> {
    let index = plan
        .columns
        .iter()
        .position(|c| c.name == partition.column)
        .expect("the partition column is one of the plan's columns");
    let column = &plan.columns[index];
    // Reading only the partition column: the rest of the row is not needed.
    let mut narrow = table.clone();
    narrow.columns = vec![table.columns[index].clone()];
    let list = partition.scheme == PartitionScheme::List;
    let mut keys = Keys::default();
    for range in source.chunk_ranges(&narrow, u64::MAX)? {
        source
            .read_chunk(&narrow, range, &mut |_, row| {
                let Ok(value) = ferry_transformer::coerce(column, row[0]) else {
                    return Ok(());
                };
                if value == PgValue::Null {
                    keys.has_null = true;
                } else if list {
                    if let Some((literal, text)) = list_value(&value) {
                        if !keys.values.contains_key(&literal) {
                            if keys.values.len() == MAX_LEAVES {
                                return Err(UsageError::new(format!(
                                    "{}.{} holds more than {MAX_LEAVES} distinct values, too \
                                     many for one leaf each; partition it by hash instead (by = \
                                     \"hash\", modulus = N)",
                                    table.name, column.source_name
                                ))
                                .into());
                            }
                            keys.values.insert(literal, text);
                        }
                    }
                } else if let Some(key) = range_key(&value) {
                    keys.range = Some(match keys.range {
                        Some((low, high)) => (low.min(key), high.max(key)),
                        None => (key, key),
                    });
                }
                Ok(())
            })
            .read_context(|| format!("reading {}.{}", table.name, column.source_name))?;
    }
    Ok(keys)
}

/// The key a range leaf is chosen by: unix days for dates and timestamps
/// (UTC), the value itself for integers.
fn range_key(value: &PgValue<'_>) -> Option<i64> {
    Some(match *value {
        PgValue::Date(days) => i64::from(days) + PG_EPOCH_UNIX_DAYS,
        PgValue::Timestamp(micros) | PgValue::Timestamptz(micros) => {
            micros.div_euclid(MICROS_PER_DAY) + PG_EPOCH_UNIX_DAYS
        }
        PgValue::Int2(i) => i64::from(i),
        PgValue::Int4(i) => i64::from(i),
        PgValue::Int8(i) => i,
        _ => return None,
    })
}

/// A list value as an SQL literal, and as text to name its leaf.
fn list_value(value: &PgValue<'_>) -> Option<(String, String)> {
    let text = match value {
        PgValue::Bool(b) => return Some((b.to_string(), b.to_string())),
        PgValue::Int2(i) => return Some((i.to_string(), i.to_string())),
        PgValue::Int4(i) => return Some((i.to_string(), i.to_string())),
        PgValue::Int8(i) => return Some((i.to_string(), i.to_string())),
        PgValue::Numeric(n) => return Some((quote_literal(n), n.to_string())),
        PgValue::Text(t) => t.to_string(),
        PgValue::Date(days) => format_date(i64::from(*days)),
        PgValue::Timestamp(micros) => format_timestamp(*micros),
        PgValue::Timestamptz(micros) => format!("{}+00", format_timestamp(*micros)),
        PgValue::Uuid(bytes) => format_uuid(bytes),
        _ => return None,
    };
    Some((quote_literal(&text), text))
}

/// The leaves of a range or list plan for the keys found.
pub fn leaves_for(plan: &TablePlan, partition: &PartitionPlan, keys: &Keys) -> Result<Vec<Leaf>> {
    let pg_type = plan
        .columns
        .iter()
        .find(|c| c.name == partition.column)
        .map_or(PgType::BigInt, |c| c.pg_type);
    let mut leaves = match partition.scheme {
        PartitionScheme::Range { interval } => match keys.range {
            Some((low, high)) => time_leaves(&plan.name, pg_type, interval, low, high)?,
            None => Vec::new(),
        },
        PartitionScheme::RangeWidth { width } => match keys.range {
            Some((low, high)) => width_leaves(&plan.name, pg_type, width, low, high)?,
            None => Vec::new(),
        },
        PartitionScheme::List => list_leaves(&plan.name, keys),
        PartitionScheme::Hash { modulus } => return Ok(hash_leaves(&plan.name, modulus)),
    };
    leaves.push(Leaf {
        name: leaf_name(&plan.name, "default"),
        bound: LeafBound::Default,
    });
    if partition.manager != PartitionManager::Ferry {
        rename_for_partman(&plan.name, partition.scheme, &mut leaves)?;
    }
    Ok(leaves)
}

/// Gives the leaves the names pg_partman 4.7 gives them (`emails_p2024_10`,
/// `emails_p2024w41`, `events_p3000000`, `emails_default`), since partman
/// creates them: `to_char` of the leaf's start in its `datetime_string`, or
/// the integer start, after `_p`, the table name cut to fit 63 characters
/// as its `check_name_length` does.
fn rename_for_partman(table: &str, scheme: PartitionScheme, leaves: &mut [Leaf]) -> Result<()> {
    for leaf in leaves.iter_mut() {
        let LeafBound::Range { from_sql, .. } = &leaf.bound else {
            leaf.name = partman_name(table, "_default", 63);
            continue;
        };
        let suffix = match scheme {
            PartitionScheme::Range { interval } => {
                let digits: String = from_sql.chars().filter(char::is_ascii_digit).collect();
                let (y, m, d) = (&digits[..4], &digits[4..6], &digits[6..8]);
                match interval {
                    TimeInterval::Day => format!("{y}_{m}_{d}"),
                    TimeInterval::Week => {
                        let day = days_from_civil(
                            y.parse().unwrap_or_default(),
                            m.parse().unwrap_or(1),
                            d.parse().unwrap_or(1),
                        );
                        let (year, week) = iso_week(day);
                        format!("{year:04}w{week:02}")
                    }
                    TimeInterval::Month => format!("{y}_{m}"),
                    TimeInterval::Year => y.to_owned(),
                }
            }
            _ => {
                let start: i64 = from_sql.parse().map_err(|_| {
                    UsageError::new(format!(
                        "{table}: a key falls at {from_sql}, below the smallest value pg_partman \
                         names id partitions for; let ferry manage this table (remove manager \
                         = \"pg_partman\")"
                    ))
                })?;
                if start < 0 {
                    return Err(UsageError::new(format!(
                        "{table}: some keys are negative, and pg_partman partitions ids from 0 up; \
                         let ferry manage this table (remove manager = \"pg_partman\")"
                    ))
                    .into());
                }
                start.to_string()
            }
        };
        leaf.name = partman_name(table, &format!("_p{suffix}"), 63);
    }
    Ok(())
}

/// `table` followed by `suffix`, the table cut (in characters, as
/// pg_partman's `check_name_length` does) so the whole fits `max`.
fn partman_name(table: &str, suffix: &str, max: usize) -> String {
    let room = max.saturating_sub(suffix.chars().count());
    let cut: String = table.chars().take(room).collect();
    format!("{cut}{suffix}")
}

fn too_many(table: &str, count: usize, fix: &str) -> anyhow::Error {
    UsageError::new(format!(
        "{table}: its data would need {count} leaves, more than {MAX_LEAVES}; {fix}"
    ))
    .into()
}

/// One leaf per interval from the one holding `low` to the one holding
/// `high` (unix days).
pub fn time_leaves(
    table: &str,
    pg_type: PgType,
    interval: TimeInterval,
    low: i64,
    high: i64,
) -> Result<Vec<Leaf>> {
    let mut leaves = Vec::new();
    let mut start = interval_start(low, interval);
    while start <= high {
        if leaves.len() == MAX_LEAVES {
            let count = leaves.len() + 1;
            return Err(too_many(table, count, "choose a longer interval"));
        }
        leaves.push(time_leaf(table, pg_type, interval, start)?);
        start = next_start(start, interval);
    }
    Ok(leaves)
}

/// The leaf of the interval starting on unix day `start`.
pub fn time_leaf(table: &str, pg_type: PgType, interval: TimeInterval, start: i64) -> Result<Leaf> {
    let end = next_start(start, interval);
    for day in [start, end] {
        let (year, ..) = civil_from_days(day);
        if !(1..=9999).contains(&year) {
            return Err(UsageError::new(format!(
                "{table}: a key falls in year {year}, outside the years 1-9999 ferry names \
                 partitions for; partition by width, list or hash instead"
            ))
            .into());
        }
    }
    Ok(Leaf {
        name: leaf_name(table, &interval_suffix(start, interval)),
        bound: LeafBound::Range {
            from_sql: time_literal(start, pg_type),
            to_sql: time_literal(end, pg_type),
        },
    })
}

/// The bound literal of midnight UTC on unix day `day`, as Postgres prints
/// it back for the column's type (with TimeZone UTC, DateStyle ISO).
pub fn time_literal(day: i64, pg_type: PgType) -> String {
    let (y, m, d) = civil_from_days(day);
    match pg_type {
        PgType::Date => format!("'{y:04}-{m:02}-{d:02}'"),
        PgType::Timestamp => format!("'{y:04}-{m:02}-{d:02} 00:00:00'"),
        _ => format!("'{y:04}-{m:02}-{d:02} 00:00:00+00'"),
    }
}

/// The first unix day of the interval holding `day`.
pub fn interval_start(day: i64, interval: TimeInterval) -> i64 {
    match interval {
        TimeInterval::Day => day,
        // 1970-01-01 was a Thursday: Monday is 3 days before.
        TimeInterval::Week => day - (day + 3).rem_euclid(7),
        TimeInterval::Month => {
            let (y, m, _) = civil_from_days(day);
            days_from_civil(y, m, 1)
        }
        TimeInterval::Year => days_from_civil(civil_from_days(day).0, 1, 1),
    }
}

/// The first unix day of the interval after the one starting on `start`.
pub fn next_start(start: i64, interval: TimeInterval) -> i64 {
    match interval {
        TimeInterval::Day => start + 1,
        TimeInterval::Week => start + 7,
        TimeInterval::Month => {
            let (y, m, _) = civil_from_days(start);
            if m == 12 {
                days_from_civil(y + 1, 1, 1)
            } else {
                days_from_civil(y, m + 1, 1)
            }
        }
        TimeInterval::Year => days_from_civil(civil_from_days(start).0 + 1, 1, 1),
    }
}

/// `2024_10_05`, `2024_w41`, `2024_10` or `2024` for the interval starting
/// on unix day `start`.
pub fn interval_suffix(start: i64, interval: TimeInterval) -> String {
    let (y, m, d) = civil_from_days(start);
    match interval {
        TimeInterval::Day => format!("{y:04}_{m:02}_{d:02}"),
        TimeInterval::Week => {
            let (year, week) = iso_week(start);
            format!("{year:04}_w{week:02}")
        }
        TimeInterval::Month => format!("{y:04}_{m:02}"),
        TimeInterval::Year => format!("{y:04}"),
    }
}

/// ISO 8601 year and week of unix day `day`: the week belongs to the year
/// of its Thursday.
pub fn iso_week(day: i64) -> (i64, i64) {
    let monday = interval_start(day, TimeInterval::Week);
    let thursday = monday + 3;
    let year = civil_from_days(thursday).0;
    let week = (thursday - days_from_civil(year, 1, 1)) / 7 + 1;
    (year, week)
}

/// The smallest and largest value a column of this type holds.
fn type_range(pg_type: PgType) -> (i64, i64) {
    match pg_type {
        PgType::SmallInt => (i64::from(i16::MIN), i64::from(i16::MAX)),
        PgType::Integer => (i64::from(i32::MIN), i64::from(i32::MAX)),
        _ => (i64::MIN, i64::MAX),
    }
}

/// One leaf per `width` values from the one holding `low` to the one
/// holding `high`.
pub fn width_leaves(
    table: &str,
    pg_type: PgType,
    width: i64,
    low: i64,
    high: i64,
) -> Result<Vec<Leaf>> {
    let (first, last) = (low.div_euclid(width), high.div_euclid(width));
    let count = i128::from(last) - i128::from(first) + 1;
    if count > MAX_LEAVES as i128 {
        return Err(too_many(
            table,
            usize::try_from(count).unwrap_or(usize::MAX),
            "choose a larger width",
        ));
    }
    Ok((first..=last)
        .map(|p| width_leaf(table, pg_type, width, p))
        .collect())
}

/// Leaf number `p`: `[p × width, (p + 1) × width)`, open-ended where that
/// passes the column type's range.
pub fn width_leaf(table: &str, pg_type: PgType, width: i64, p: i64) -> Leaf {
    let (min, max) = type_range(pg_type);
    let bound = |n: i64| -> String {
        let value = i128::from(n) * i128::from(width);
        if value <= i128::from(min) {
            "MINVALUE".to_owned()
        } else if value > i128::from(max) {
            "MAXVALUE".to_owned()
        } else {
            value.to_string()
        }
    };
    let suffix = if p < 0 {
        format!("pm{}", p.unsigned_abs())
    } else {
        format!("p{p}")
    };
    Leaf {
        name: leaf_name(table, &suffix),
        bound: LeafBound::Range {
            from_sql: bound(p),
            to_sql: bound(p + 1),
        },
    }
}

/// `table_p0` … `table_p{modulus-1}`.
pub fn hash_leaves(table: &str, modulus: u32) -> Vec<Leaf> {
    (0..modulus)
        .map(|remainder| Leaf {
            name: leaf_name(table, &format!("p{remainder}")),
            bound: LeafBound::Hash { remainder },
        })
        .collect()
}

/// One leaf per value, then `table_null` when some key is NULL.
pub fn list_leaves(table: &str, keys: &Keys) -> Vec<Leaf> {
    let mut taken: Vec<String> = vec![leaf_name(table, "null"), leaf_name(table, "default")];
    let mut leaves = Vec::with_capacity(keys.values.len() + 1);
    for (literal, text) in &keys.values {
        let slug = slug(text);
        let mut name = leaf_name(table, &slug);
        let fits = format!("{table}_{slug}").len() <= MAX_NAME_BYTES;
        if slug.is_empty() || !fits || taken.contains(&name) {
            let hash = blake3::hash(literal.as_bytes()).to_hex();
            let suffix = format!("_{}", &hash[..8]);
            let base = leaf_name(table, &slug);
            name = format!("{}{suffix}", cut(&base, MAX_NAME_BYTES - suffix.len()));
        }
        taken.push(name.clone());
        leaves.push(Leaf {
            name,
            bound: LeafBound::List {
                values_sql: vec![literal.clone()],
                includes_null: false,
            },
        });
    }
    if keys.has_null {
        leaves.push(Leaf {
            name: leaf_name(table, "null"),
            bound: LeafBound::List {
                values_sql: Vec::new(),
                includes_null: true,
            },
        });
    }
    leaves
}

/// Lower-case ASCII letters and digits; anything else becomes `_`.
pub fn slug(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// `table_suffix`, the table part cut so the whole fits 63 bytes.
pub fn leaf_name(table: &str, suffix: &str) -> String {
    let room = MAX_NAME_BYTES.saturating_sub(suffix.len() + 1);
    format!("{}_{suffix}", cut(table, room))
}

fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i64, m: u32, d: u32) -> i64 {
        days_from_civil(y, m, d)
    }

    fn range(leaf: &Leaf) -> (&str, &str, &str) {
        match &leaf.bound {
            LeafBound::Range { from_sql, to_sql } => (leaf.name.as_str(), from_sql, to_sql),
            other => panic!("not a range: {other:?}"),
        }
    }

    #[test]
    fn civil_days_round_trip() {
        assert_eq!(day(1970, 1, 1), 0);
        assert_eq!(day(2000, 1, 1), PG_EPOCH_UNIX_DAYS);
        for d in [-800_000, -1, 0, 19_782, 2_932_896] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }

    #[test]
    fn months_in_utc_across_a_leap_february() {
        let leaves = time_leaves(
            "emails",
            PgType::Timestamptz,
            TimeInterval::Month,
            day(2024, 1, 31),
            day(2024, 3, 1),
        )
        .unwrap();
        let ranges: Vec<_> = leaves.iter().map(range).collect();
        assert_eq!(
            ranges,
            [
                (
                    "emails_2024_01",
                    "'2024-01-01 00:00:00+00'",
                    "'2024-02-01 00:00:00+00'"
                ),
                (
                    "emails_2024_02",
                    "'2024-02-01 00:00:00+00'",
                    "'2024-03-01 00:00:00+00'"
                ),
                (
                    "emails_2024_03",
                    "'2024-03-01 00:00:00+00'",
                    "'2024-04-01 00:00:00+00'"
                ),
            ]
        );
        let december = time_leaf("t", PgType::Date, TimeInterval::Month, day(2023, 12, 1)).unwrap();
        assert_eq!(
            range(&december),
            ("t_2023_12", "'2023-12-01'", "'2024-01-01'")
        );
    }

    #[test]
    fn days_and_years() {
        let leap_day = time_leaf("t", PgType::Timestamp, TimeInterval::Day, day(2024, 2, 29));
        assert_eq!(
            range(&leap_day.unwrap()),
            (
                "t_2024_02_29",
                "'2024-02-29 00:00:00'",
                "'2024-03-01 00:00:00'"
            )
        );
        assert_eq!(
            next_start(day(2024, 2, 28), TimeInterval::Day),
            day(2024, 2, 29)
        );
        assert_eq!(
            next_start(day(2023, 2, 28), TimeInterval::Day),
            day(2023, 3, 1)
        );
        let year = time_leaf("t", PgType::Date, TimeInterval::Year, day(2024, 1, 1)).unwrap();
        assert_eq!(range(&year), ("t_2024", "'2024-01-01'", "'2025-01-01'"));
        assert_eq!(
            interval_start(day(2024, 12, 31), TimeInterval::Year),
            day(2024, 1, 1)
        );
    }

    #[test]
    fn iso_weeks_start_on_monday_and_can_be_53() {
        // 2024-10-09 is a Wednesday in ISO week 41.
        assert_eq!(
            interval_start(day(2024, 10, 9), TimeInterval::Week),
            day(2024, 10, 7)
        );
        assert_eq!(
            interval_suffix(day(2024, 10, 7), TimeInterval::Week),
            "2024_w41"
        );
        // 2020 has 53 ISO weeks; 2021-01-01 (a Friday) is in 2020-W53.
        assert_eq!(iso_week(day(2021, 1, 1)), (2020, 53));
        assert_eq!(
            interval_start(day(2021, 1, 3), TimeInterval::Week),
            day(2020, 12, 28)
        );
        let leaf = time_leaf("t", PgType::Date, TimeInterval::Week, day(2020, 12, 28)).unwrap();
        assert_eq!(range(&leaf), ("t_2020_w53", "'2020-12-28'", "'2021-01-04'"));
        // 2024-12-30 is a Monday in ISO week 1 of 2025.
        assert_eq!(iso_week(day(2024, 12, 30)), (2025, 1));
        assert_eq!(
            interval_suffix(day(2024, 12, 30), TimeInterval::Week),
            "2025_w01"
        );
        // Before 1970 too.
        assert_eq!(
            interval_start(day(1969, 12, 31), TimeInterval::Week),
            day(1969, 12, 29)
        );
    }

    #[test]
    fn widths_floor_negative_keys() {
        let leaves = width_leaves("events", PgType::BigInt, 1000, -1, 1000).unwrap();
        let ranges: Vec<_> = leaves.iter().map(range).collect();
        assert_eq!(
            ranges,
            [
                ("events_pm1", "-1000", "0"),
                ("events_p0", "0", "1000"),
                ("events_p1", "1000", "2000"),
            ]
        );
        let edge = width_leaf("t", PgType::Integer, 1_000_000_000, 2);
        assert_eq!(range(&edge), ("t_p2", "2000000000", "MAXVALUE"));
        let low = width_leaf("t", PgType::BigInt, i64::MAX, -2);
        assert_eq!(range(&low), ("t_pm2", "MINVALUE", "-9223372036854775807"));
        let err = width_leaves("t", PgType::BigInt, 1, 0, 5000).unwrap_err();
        assert!(err.to_string().contains("choose a larger width"), "{err}");
    }

    #[test]
    fn hash_and_list_names() {
        let hash = hash_leaves("accounts", 3);
        assert_eq!(
            hash.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
            ["accounts_p0", "accounts_p1", "accounts_p2"]
        );
        let mut keys = Keys {
            has_null: true,
            ..Keys::default()
        };
        for text in ["FR", "fr", "New Zealand", "", "null", &"x".repeat(70)] {
            let (literal, text) = list_value(&PgValue::Text(text.into())).unwrap();
            keys.values.insert(literal, text);
        }
        let leaves = list_leaves("orders", &keys);
        let names: Vec<&str> = leaves.iter().map(|l| l.name.as_str()).collect();
        assert!(names.contains(&"orders_fr"));
        assert!(names.contains(&"orders_new_zealand"));
        assert_eq!(names.last(), Some(&"orders_null"));
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert!(names.iter().all(|n| n.len() <= 63), "{names:?}");
        let hashed = names
            .iter()
            .filter(|n| n.len() == "orders_".len() + 9 + 2)
            .count();
        assert!(hashed >= 1, "{names:?}");
        assert_eq!(leaf_name(&"é".repeat(40), "default").len(), 62);
        assert_eq!(slug("São Paulo-1"), "s_o_paulo_1");
    }

    #[test]
    fn a_leaf_may_not_take_a_table_name() {
        let plan = |name: &str| TablePlan::new("public", name, Vec::new());
        let mut accounts = plan("accounts");
        accounts.partition = Some(PartitionPlan {
            column: "id".to_owned(),
            scheme: PartitionScheme::Hash { modulus: 2 },
            leaves: hash_leaves("accounts", 2),
            unique: Default::default(),
            manager: Default::default(),
        });
        assert!(check_leaf_names(&[accounts.clone(), plan("emails")]).is_ok());
        let err = check_leaf_names(&[accounts, plan("accounts_p1")]).unwrap_err();
        assert!(err.to_string().starts_with(
            "partition accounts_p1 of accounts would have the name of table accounts_p1"
        ));
    }

    #[test]
    fn leaves_take_pg_partmans_names() {
        let week = TimeInterval::Week;
        let mut leaves = time_leaves(
            "emails",
            PgType::Date,
            week,
            day(2020, 12, 30),
            day(2021, 1, 5),
        )
        .unwrap();
        leaves.push(Leaf {
            name: leaf_name("emails", "default"),
            bound: LeafBound::Default,
        });
        rename_for_partman(
            "emails",
            PartitionScheme::Range { interval: week },
            &mut leaves,
        )
        .unwrap();
        let names: Vec<&str> = leaves.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(
            names,
            ["emails_p2020w53", "emails_p2021w01", "emails_default"]
        );

        let month = PartitionScheme::Range {
            interval: TimeInterval::Month,
        };
        let long = "a".repeat(60);
        let mut leaves = vec![time_leaf(
            &long,
            PgType::Timestamptz,
            TimeInterval::Month,
            day(2024, 10, 1),
        )
        .unwrap()];
        rename_for_partman(&long, month, &mut leaves).unwrap();
        // check_name_length: 61 characters minus the suffix, then _p and it.
        assert_eq!(leaves[0].name, format!("{}_p2024_10", "a".repeat(54)));
        assert_eq!(
            partman_name(&long, "_default", 63),
            format!("{}_default", "a".repeat(55))
        );

        let width = PartitionScheme::RangeWidth { width: 1000 };
        let mut leaves = width_leaves("events", PgType::BigInt, 1000, 0, 2500).unwrap();
        rename_for_partman("events", width, &mut leaves).unwrap();
        let names: Vec<&str> = leaves.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["events_p0", "events_p1000", "events_p2000"]);
        let mut negative = width_leaves("events", PgType::BigInt, 1000, -5, 5).unwrap();
        let err = rename_for_partman("events", width, &mut negative).unwrap_err();
        assert!(
            err.to_string()
                .contains("pg_partman partitions ids from 0 up"),
            "{err}"
        );
    }

    #[test]
    fn list_literals_of_each_type() {
        assert_eq!(list_value(&PgValue::Int8(-3)).unwrap().0, "-3");
        assert_eq!(list_value(&PgValue::Bool(true)).unwrap().0, "true");
        assert_eq!(
            list_value(&PgValue::Text("it's".into())).unwrap().0,
            "'it''s'"
        );
        assert_eq!(list_value(&PgValue::Date(0)).unwrap().0, "'2000-01-01'");
        assert_eq!(
            list_value(&PgValue::Timestamptz(1)).unwrap().0,
            "'2000-01-01 00:00:00.000001+00'"
        );
        assert!(list_value(&PgValue::Float8(1.0)).is_none());
    }
}
