//! Cursor values in the target type's terms, and the SQL filter that lets
//! SQLite skip rows far behind the watermark.
//!
//! A cursor is compared as what it becomes in Postgres (microseconds for a
//! timestamp, days for a date, the integer itself), after ferry's own
//! coercion, so text timestamps written in any accepted format compare
//! correctly. SQLite compares raw stored values, so it is only asked to
//! filter when [`ColumnShape`] says every stored value sorts the way its
//! meaning does; the bound it is given is rounded down, so its result is a
//! superset, and each returned row is checked again here.

use ferry_model::{
    ColumnPlan, NaiveZone, PgType, PgValue, SourceValue, MICROS_PER_SECOND, PG_EPOCH_UNIX_SECONDS,
    SECONDS_PER_DAY,
};
use ferry_reader::ColumnShape;

/// The julian day of 2000-01-01 00:00 UTC.
const PG_EPOCH_JULIAN: f64 = 2_451_544.5;

/// A coerced cursor value as one comparable integer; `None` for NULL.
pub fn ordinal(value: &PgValue<'_>) -> Option<i64> {
    match value {
        PgValue::Timestamp(t) | PgValue::Timestamptz(t) => Some(*t),
        PgValue::Date(d) => Some(i64::from(*d)),
        PgValue::Int2(i) => Some(i64::from(*i)),
        PgValue::Int4(i) => Some(i64::from(*i)),
        PgValue::Int8(i) => Some(*i),
        _ => None,
    }
}

/// The lag in the cursor's own units: microseconds for timestamps, whole
/// days (rounded up) for dates, nothing for integers, which have no clock.
pub fn lag_units(column: &ColumnPlan, lag_seconds: i64) -> i64 {
    match column.pg_type {
        PgType::Timestamp | PgType::Timestamptz => lag_seconds.saturating_mul(MICROS_PER_SECOND),
        PgType::Date => (lag_seconds + SECONDS_PER_DAY - 1) / SECONDS_PER_DAY,
        _ => 0,
    }
}

/// The largest cursor a watermark may take at `now_unix`: now plus the
/// lag, in the cursor's units (a `timestamp` holds local times, so any
/// zone's now, up to 14 hours ahead, counts as now). `None` for integers,
/// which have no clock. A value past it (a clock set years ahead, a
/// placeholder date) would freeze the watermark: every later write would
/// fall behind it.
pub fn ceiling(column: &ColumnPlan, lag_seconds: i64, now_unix: i64) -> Option<i64> {
    const AHEAD_SECONDS: i64 = 14 * 3600;
    let seconds = now_unix - PG_EPOCH_UNIX_SECONDS + lag_seconds.max(0);
    match column.pg_type {
        PgType::Timestamptz => Some(seconds.saturating_mul(MICROS_PER_SECOND)),
        PgType::Timestamp => Some((seconds + AHEAD_SECONDS).saturating_mul(MICROS_PER_SECOND)),
        PgType::Date => Some((seconds + AHEAD_SECONDS).div_euclid(SECONDS_PER_DAY)),
        _ => None,
    }
}

/// The ordinal as a value of the column's type, for messages and reports.
pub fn value_of(column: &ColumnPlan, ordinal: i64) -> PgValue<'static> {
    match column.pg_type {
        PgType::Timestamp => PgValue::Timestamp(ordinal),
        PgType::Timestamptz => PgValue::Timestamptz(ordinal),
        PgType::Date => PgValue::Date(i32::try_from(ordinal).unwrap_or(i32::MAX)),
        _ => PgValue::Int8(ordinal),
    }
}

/// The raw SQLite bound below which no stored value can coerce to
/// `threshold` or more, for a column of `shape`; `None` when SQLite cannot
/// filter this column and every row must be read.
pub fn sql_bound(column: &ColumnPlan, shape: ColumnShape, threshold: i64) -> Option<SourceValue> {
    let time = matches!(column.pg_type, PgType::Timestamp | PgType::Timestamptz);
    match (column.pg_type, shape) {
        (_, ColumnShape::Empty | ColumnShape::Mixed) => None,
        (PgType::SmallInt | PgType::Integer | PgType::BigInt, ColumnShape::Integer) => {
            Some(SourceValue::Integer(threshold))
        }
        // Integers in a timestamp column are Unix seconds.
        (_, ColumnShape::Integer) if time => Some(SourceValue::Integer(
            threshold.div_euclid(MICROS_PER_SECOND) + PG_EPOCH_UNIX_SECONDS,
        )),
        (PgType::Date, ColumnShape::Integer) => Some(SourceValue::Integer(
            threshold * SECONDS_PER_DAY + PG_EPOCH_UNIX_SECONDS,
        )),
        // Reals are julian days; a day's margin covers their rounding.
        (_, ColumnShape::Real) if time => Some(SourceValue::Real(
            threshold as f64 / (SECONDS_PER_DAY * MICROS_PER_SECOND) as f64 + PG_EPOCH_JULIAN - 1.0,
        )),
        (_, ColumnShape::SortableText { separator }) if time => {
            // Naive text means local time in the column's zone for a
            // timestamptz; a timestamp keeps it as written. A named zone's
            // offset varies, so the bound takes the lowest any zone has.
            let offset = match (column.pg_type, &column.coercion.naive_timezone) {
                (PgType::Timestamptz, NaiveZone::Offset(seconds)) => i64::from(*seconds),
                (PgType::Timestamptz, NaiveZone::Named(_)) => LOWEST_OFFSET_SECONDS,
                _ => 0,
            };
            let local = threshold.div_euclid(MICROS_PER_SECOND) + offset;
            Some(SourceValue::Text(text_at(local, separator).into_bytes()))
        }
        _ => None,
    }
}

/// Below every offset a time zone has had (Pacific/Honolulu's -10:30 and
/// LMT's down to about -15:56; Postgres's own limit is -15:59).
const LOWEST_OFFSET_SECONDS: i64 = -16 * 3600;

/// `YYYY-MM-DD?HH:MM:SS` for seconds since 2000-01-01 (whole seconds: a
/// stored fraction sorts after it, as it should).
fn text_at(seconds: i64, separator: u8) -> String {
    let days = seconds.div_euclid(SECONDS_PER_DAY);
    let in_day = seconds.rem_euclid(SECONDS_PER_DAY);
    let (y, m, d) = ferry_model::civil_from_days(days + ferry_model::PG_EPOCH_UNIX_DAYS);
    format!(
        "{y:04}-{m:02}-{d:02}{}{:02}:{:02}:{:02}",
        char::from(separator),
        in_day / 3600,
        in_day / 60 % 60,
        in_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_model::{Coercion, SourceValueRef};

    fn column(pg_type: PgType, offset: i32) -> ColumnPlan {
        zoned(pg_type, NaiveZone::Offset(offset))
    }

    fn zoned(pg_type: PgType, naive_timezone: NaiveZone) -> ColumnPlan {
        ColumnPlan::new("at", "DATETIME", pg_type).with_coercion(Coercion {
            naive_timezone,
            ..Coercion::default()
        })
    }

    /// Whatever the bound, a stored value that coerces to the threshold or
    /// later is never below it in SQLite's order.
    #[test]
    fn bounds_never_exclude_a_value_at_the_threshold() {
        let stored: [&[u8]; 3] = [
            b"2024-03-01 10:00:00",
            b"2024-03-01 10:00:00.000001",
            b"2024-03-01 09:59:59.999999",
        ];
        let zones = [
            "UTC",
            "+02:00",
            "-01:00",
            "Europe/Berlin",
            "Pacific/Kiritimati",
        ];
        for zone in zones {
            let at = zoned(PgType::Timestamptz, zone.parse().unwrap());
            for text in stored {
                let value = ferry_transformer::coerce(&at, SourceValueRef::Text(text)).unwrap();
                let threshold = ordinal(&value).unwrap();
                let bound = sql_bound(
                    &at,
                    ColumnShape::SortableText { separator: b' ' },
                    threshold,
                )
                .unwrap();
                let SourceValue::Text(bound) = bound else {
                    panic!()
                };
                assert!(text >= bound.as_slice(), "{zone} {text:?} {bound:?}");
            }
        }
        let at = column(PgType::Timestamptz, 0);
        let unix = 1_709_287_200; // 2024-03-01 10:00:00 UTC
        let value = ferry_transformer::coerce(&at, SourceValueRef::Integer(unix)).unwrap();
        assert_eq!(
            sql_bound(&at, ColumnShape::Integer, ordinal(&value).unwrap()),
            Some(SourceValue::Integer(unix))
        );
        let jd = 2_460_370.916_666_7;
        let value = ferry_transformer::coerce(&at, SourceValueRef::Real(jd)).unwrap();
        let Some(SourceValue::Real(bound)) =
            sql_bound(&at, ColumnShape::Real, ordinal(&value).unwrap())
        else {
            panic!()
        };
        assert!(bound <= jd);
        assert_eq!(sql_bound(&at, ColumnShape::Mixed, 0), None);
    }

    #[test]
    fn texts_and_lags() {
        assert_eq!(text_at(0, b' '), "2000-01-01 00:00:00");
        assert_eq!(text_at(-1, b'T'), "1999-12-31T23:59:59");
        assert_eq!(
            text_at(8_825 * 86_400 + 45_296, b' '),
            "2024-02-29 12:34:56"
        );
        assert_eq!(lag_units(&column(PgType::Timestamptz, 0), 300), 300_000_000);
        assert_eq!(lag_units(&column(PgType::Date, 0), 300), 1);
        assert_eq!(lag_units(&column(PgType::BigInt, 0), 300), 0);
        assert_eq!(ordinal(&PgValue::Null), None);
        assert_eq!(value_of(&column(PgType::Date, 0), 3), PgValue::Date(3));
    }
}
