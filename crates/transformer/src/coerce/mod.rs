//! Source value → Postgres value of the column's type: exact, or an error
//! saying why not. Never silently lossy; lossy repairs (`strip_nul`,
//! `invalid_utf8 = "replace"`) happen only when configured.
//!
//! This is the copy's hot path: values that need no conversion are borrowed
//! from the source row, and nothing allocates unless the value changes form
//! or is bad.

mod datetime;
mod geometry;
mod julian;
mod number;
mod text;
mod typmod;

use std::borrow::Cow;

use ferry_model::{
    ColumnPlan, GeometryTypmod, NaiveZone, PgType, PgValue, SkippedTime, SourceValueRef, SridMap,
    Typmod, END_DATE, END_TIMESTAMP, MICROS_PER_DAY, MICROS_PER_SECOND, MIN_DATE, MIN_TIMESTAMP,
    PG_EPOCH_UNIX_SECONDS, SECONDS_PER_DAY,
};

use crate::error::CoerceError;
use geometry::{GeometryError, SourceSrid};

pub(crate) use datetime::{scan as scan_datetime, shape};

/// The hint for values that are simply wrong for the type.
const FIX_OR_TEXT: &str = "fix the value or map the column to text in ferry.toml";
/// The hint for values that are text-like but not representable as text.
const FIX_OR_BYTEA: &str = "fix the value or map the column to bytea in ferry.toml";
/// The hint for values that carry a time of day into a date column.
const TIMESTAMPTZ: &str = "map the column to timestamptz in ferry.toml";
/// The hint for values a numeric(p,s) column would round or cannot hold.
const WIDEN_NUMERIC: &str =
    "fix the value or map the column to a wider numeric(p,s), numeric or text in ferry.toml";
/// The hint for values a PostGIS geometry column's typmod refuses.
const ANY_GEOMETRY: &str =
    "fix the value or map the column to geometry (any shape and SRID) or bytea in ferry.toml";
/// PostGIS's largest SRID (`SRID_MAXIMUM`); it changes larger ones.
pub(crate) const MAX_SRID: i32 = 999_999;
/// The hint for a naive time that its zone skips.
const NAIVE_GAP: &str = "fix the value or write it with its UTC offset (e.g. +01:00) in SQLite";
/// The hint for integers a float column would round.
const EXACT_NUMBER: &str = "map the column to bigint or numeric in ferry.toml";
/// The hint for doubles a float4 column would round.
const WIDER_FLOAT: &str = "map the column to double precision in ferry.toml";

/// A bad value, with advice that works for it: a blob cannot go in a text
/// column unless it happens to be UTF-8, so it is pointed to bytea.
fn bad(value: SourceValueRef<'_>, reason: impl Into<String>, hint: &'static str) -> CoerceError {
    let hint = match (value, hint) {
        (SourceValueRef::Blob(_), FIX_OR_TEXT) => FIX_OR_BYTEA,
        _ => hint,
    };
    CoerceError {
        value: value.preview(60),
        reason: reason.into(),
        hint,
    }
}

/// Converts one source value to the column's Postgres type.
///
/// NULL is NULL for every type. Everything else converts only when the
/// result means exactly what the source held; the crate docs list what each
/// type accepts. The one rounding allowed is a julian-day REAL to the
/// nearest microsecond (a tie to the later one), computed on the double's
/// exact value, because such reals hold no more precision than that.
///
/// ```
/// use ferry_model::{ColumnPlan, PgType, PgValue, SourceValueRef};
/// let column = ColumnPlan::new("n", "INTEGER", PgType::BigInt);
/// assert_eq!(ferry_transformer::coerce(&column, SourceValueRef::Text(b"42")), Ok(PgValue::Int8(42)));
/// let err = ferry_transformer::coerce(&column, SourceValueRef::Text(b"4x")).unwrap_err();
/// assert_eq!(err.to_string(), "'4x' is not an integer; fix the value or map the column to text in ferry.toml");
/// ```
pub fn coerce<'a>(
    column: &ColumnPlan,
    value: SourceValueRef<'a>,
) -> Result<PgValue<'a>, CoerceError> {
    if let SourceValueRef::Null = value {
        // SQLite lets NULL into a primary key that is not the rowid (a
        // documented quirk); Postgres never does.
        if column.not_null {
            return Err(bad(
                value,
                "cannot go in a NOT NULL column (SQLite allows NULL in a primary key that is \
                 not an INTEGER PRIMARY KEY)"
                    .to_owned(),
                "give the row a key in SQLite, or copy without --types declared (the key then \
                 becomes a UNIQUE constraint)",
            ));
        }
        return Ok(PgValue::Null);
    }
    let coerced = to_pg_type(column, value)?;
    match column.coercion.typmod {
        Typmod::None => Ok(coerced),
        typmod => typmod::narrow(coerced, typmod, column.column_type())
            .map_err(|reason| bad(value, reason, typmod::WIDER)),
    }
}

/// A non-NULL value as the column's [`PgType`], before its typmod.
fn to_pg_type<'a>(
    column: &ColumnPlan,
    value: SourceValueRef<'a>,
) -> Result<PgValue<'a>, CoerceError> {
    match column.pg_type {
        // The most common case of all, kept clear of `to_integer`'s call.
        PgType::BigInt => match value {
            SourceValueRef::Integer(i) => Ok(PgValue::Int8(i)),
            _ => to_integer(value, "bigint").map(PgValue::Int8),
        },
        PgType::Integer => to_integer(value, "integer")
            .and_then(|i| i32::try_from(i).map_err(|_| out_of_range(value, "integer")))
            .map(PgValue::Int4),
        PgType::SmallInt => to_integer(value, "smallint")
            .and_then(|i| i16::try_from(i).map_err(|_| out_of_range(value, "smallint")))
            .map(PgValue::Int2),
        PgType::DoublePrecision => to_f64(value).map(PgValue::Float8),
        PgType::Real => to_f32(value).map(PgValue::Float4),
        PgType::Numeric(typmod) => to_numeric(value, typmod).map(PgValue::Numeric),
        PgType::Text => text::to_text(value, &column.coercion).map(PgValue::Text),
        PgType::Bytea => text::to_bytea(value).map(PgValue::Bytea),
        PgType::Boolean => text::to_bool(value).map(PgValue::Bool),
        PgType::Jsonb => text::to_jsonb(value).map(PgValue::Jsonb),
        PgType::Uuid => text::to_uuid(value).map(PgValue::Uuid),
        PgType::Date => to_date(value).map(PgValue::Date),
        PgType::Timestamptz => {
            let naive = &column.coercion.naive_timezone;
            to_timestamp(value, "timestamptz", naive).map(PgValue::Timestamptz)
        }
        PgType::Timestamp => {
            to_timestamp(value, "timestamp", &NaiveZone::default()).map(PgValue::Timestamp)
        }
        PgType::Geometry(typmod) => to_geometry(value, typmod, &column.coercion.srids)
            .map(|ewkb| PgValue::Geometry(Cow::Owned(ewkb))),
    }
}

/// A GeoPackage, SpatiaLite or WKB blob as PostGIS EWKB, refused when
/// PostGIS would refuse it or the column's typmod does not allow it.
fn to_geometry(
    value: SourceValueRef<'_>,
    typmod: GeometryTypmod,
    srids: &SridMap,
) -> Result<Vec<u8>, CoerceError> {
    let SourceValueRef::Blob(blob) = value else {
        return Err(not_a(value, "a geometry blob", FIX_OR_BYTEA));
    };
    // PostGIS gives a value without SRID its column's typmod SRID.
    let unknown = match typmod.srid {
        0 => srids.column_srid,
        srid => srid,
    };
    let ewkb = geometry::to_ewkb(blob, |named| postgis_srid(named, srids, unknown))
        .map_err(|e| bad(value, e.to_string(), FIX_OR_BYTEA))?;
    let kind = ewkb.kind;
    let column = PgType::Geometry(typmod);
    if typmod.srid != 0 && ewkb.srid != typmod.srid {
        let reason = format!("has SRID {}, but the column is {column}", ewkb.srid);
        return Err(bad(value, reason, ANY_GEOMETRY));
    }
    let wrong_shape = typmod.shape.is_some_and(|shape| shape != kind.shape);
    let wrong_dims =
        !typmod.is_unconstrained() && (typmod.z, typmod.m) != (kind.dims.z, kind.dims.m);
    if wrong_shape || wrong_dims {
        let reason = format!(
            "is a {}{}, but the column is {column}",
            kind.shape, kind.dims
        );
        return Err(bad(value, reason, ANY_GEOMETRY));
    }
    Ok(ewkb.bytes)
}

/// The PostGIS SRID of what a blob names: a file's id through the
/// column's map, an EWKB SRID as it is. PostGIS reads an SRID of 0 or
/// below as unknown, which becomes `unknown`.
pub(crate) fn postgis_srid(
    named: SourceSrid,
    srids: &SridMap,
    unknown: i32,
) -> Result<i32, GeometryError> {
    let srid = match named {
        SourceSrid::File(id) => file_srid(srids, id),
        SourceSrid::Ewkb(srid) => srid,
        SourceSrid::None => 0,
    };
    match srid {
        ..=0 => Ok(unknown.max(0)),
        1..=MAX_SRID => Ok(srid),
        _ => Err(GeometryError::SridOutOfRange {
            srid,
            max: MAX_SRID,
        }),
    }
}

/// The PostGIS SRID of the file's reference system `id`: as the plan
/// mapped it, else the id itself.
pub(crate) fn file_srid(srids: &SridMap, id: i32) -> i32 {
    srids
        .file_srids
        .iter()
        .find(|(file, _)| *file == id)
        .map_or(id, |&(_, srid)| srid)
}

fn out_of_range(value: SourceValueRef<'_>, type_name: &str) -> CoerceError {
    bad(
        value,
        format!("is out of range for {type_name}"),
        FIX_OR_TEXT,
    )
}

fn not_a(value: SourceValueRef<'_>, what: &str, hint: &'static str) -> CoerceError {
    let class = value.storage_class();
    bad(value, format!("is a {class} value, not {what}"), hint)
}

fn to_integer(value: SourceValueRef<'_>, type_name: &str) -> Result<i64, CoerceError> {
    let result = match value {
        SourceValueRef::Integer(i) => Ok(i),
        SourceValueRef::Real(r) => number::integral_real(r),
        SourceValueRef::Text(t) => number::parse_integer_text(t),
        _ => return Err(not_a(value, "an integer", FIX_OR_TEXT)),
    };
    result.map_err(|reason| {
        let reason = reason.replace("bigint", type_name);
        bad(value, reason, FIX_OR_TEXT)
    })
}

fn utf8<'a>(value: SourceValueRef<'a>, bytes: &'a [u8]) -> Result<&'a str, CoerceError> {
    std::str::from_utf8(bytes).map_err(|_| bad(value, "is not valid UTF-8", FIX_OR_BYTEA))
}

fn to_f64(value: SourceValueRef<'_>) -> Result<f64, CoerceError> {
    match value {
        SourceValueRef::Real(r) => Ok(r),
        SourceValueRef::Integer(i) => number::exact_f64(i).ok_or_else(|| {
            bad(
                value,
                "cannot be held exactly by double precision (more than 53 significant bits)",
                EXACT_NUMBER,
            )
        }),
        SourceValueRef::Text(t) => {
            number::parse_f64_text(utf8(value, t)?).map_err(|r| bad(value, r, FIX_OR_TEXT))
        }
        _ => Err(not_a(value, "a number", FIX_OR_TEXT)),
    }
}

fn to_f32(value: SourceValueRef<'_>) -> Result<f32, CoerceError> {
    match value {
        SourceValueRef::Text(t) => {
            number::parse_f32_text(utf8(value, t)?).map_err(|r| bad(value, r, FIX_OR_TEXT))
        }
        _ => {
            let wide = to_f64(value)?;
            let narrow = wide as f32;
            if f64::from(narrow) == wide || wide.is_nan() {
                Ok(narrow)
            } else {
                Err(bad(
                    value,
                    "cannot be held exactly by real (float4)",
                    WIDER_FLOAT,
                ))
            }
        }
    }
}

fn to_numeric<'a>(
    value: SourceValueRef<'a>,
    typmod: Option<(u16, u16)>,
) -> Result<Cow<'a, str>, CoerceError> {
    let canonical = match value {
        SourceValueRef::Integer(i) => Cow::Owned(i.to_string()),
        SourceValueRef::Real(r) => number::real_to_numeric(r),
        SourceValueRef::Text(t) => {
            number::parse_numeric_text(utf8(value, t)?).map_err(|r| bad(value, r, FIX_OR_TEXT))?
        }
        _ => return Err(not_a(value, "a number", FIX_OR_TEXT)),
    };
    match typmod {
        None => Ok(canonical),
        Some((precision, scale)) => {
            if canonical.ends_with("Infinity") {
                return Err(bad(
                    value,
                    format!("does not fit numeric({precision},{scale}) (it is infinite)"),
                    WIDEN_NUMERIC,
                ));
            }
            number::fit_typmod(canonical, precision, scale)
                .map_err(|r| bad(value, r, WIDEN_NUMERIC))
        }
    }
}

/// A naive time its zone skips: Postgres would move it past the jump,
/// onto an instant another value may hold.
fn skipped_time(value: SourceValueRef<'_>, zone: &NaiveZone, skipped: SkippedTime) -> CoerceError {
    let shown = |offset: i32| NaiveZone::Offset(offset).to_string();
    bad(
        value,
        format!(
            "does not exist in {zone}: clocks moved from {} to {} over it",
            shown(skipped.before),
            shown(skipped.after)
        ),
        NAIVE_GAP,
    )
}

/// Text that looked like a date or timestamp but is not one.
fn datetime_error(value: SourceValueRef<'_>, invalid: datetime::Invalid) -> CoerceError {
    match invalid {
        datetime::Invalid::Calendar(reason) => bad(value, reason, FIX_OR_TEXT),
        datetime::Invalid::Nanoseconds => bad(
            value,
            "has nanoseconds; Postgres keeps microseconds",
            FIX_OR_TEXT,
        ),
    }
}

fn to_date(value: SourceValueRef<'_>) -> Result<i32, CoerceError> {
    let days = match value {
        SourceValueRef::Text(t) => {
            let fields = datetime::scan(t)
                .ok_or_else(|| bad(value, "is not a date (expected YYYY-MM-DD)", FIX_OR_TEXT))?;
            let parsed = datetime::validate(&fields).map_err(|e| datetime_error(value, e))?;
            if parsed.offset_seconds.is_some() {
                return Err(bad(value, "has a UTC offset", TIMESTAMPTZ));
            }
            if parsed.micros_of_day != 0 {
                return Err(bad(value, "has a time of day", TIMESTAMPTZ));
            }
            parsed.days
        }
        SourceValueRef::Integer(seconds) => {
            if seconds % SECONDS_PER_DAY != 0 {
                return Err(bad(
                    value,
                    "is not midnight UTC as unix epoch seconds (it has a time of day)",
                    TIMESTAMPTZ,
                ));
            }
            seconds / SECONDS_PER_DAY + datetime::UNIX_EPOCH_DAYS
        }
        SourceValueRef::Real(julian) => {
            julian::julian_to_midnight_days(julian).ok_or_else(|| {
                bad(
                    value,
                    "is not midnight as a julian day number (it has a time of day)",
                    TIMESTAMPTZ,
                )
            })?
        }
        SourceValueRef::Blob(_) | SourceValueRef::Null => {
            return Err(not_a(value, "a date", FIX_OR_TEXT))
        }
    };
    if !(MIN_DATE..END_DATE).contains(&days) {
        return Err(out_of_range(value, "date"));
    }
    Ok(days as i32)
}

/// A timestamp's microseconds since 2000-01-01 (UTC for a timestamptz);
/// text without an offset is local time in `naive`.
fn to_timestamp(
    value: SourceValueRef<'_>,
    type_name: &str,
    naive: &NaiveZone,
) -> Result<i64, CoerceError> {
    let micros = match value {
        SourceValueRef::Text(t) => {
            let fields = datetime::scan(t).ok_or_else(|| {
                bad(
                    value,
                    format!(
                        "is not a {type_name} (expected YYYY-MM-DD[ HH:MM[:SS[.ffffff]]][Z|±HH:MM])"
                    ),
                    FIX_OR_TEXT,
                )
            })?;
            let parsed = datetime::validate(&fields).map_err(|e| datetime_error(value, e))?;
            // Years 0001-9999 and offsets under a day stay far inside i64.
            let local = parsed.days * MICROS_PER_DAY + parsed.micros_of_day;
            match parsed.offset_seconds {
                Some(offset) => local - i64::from(offset) * MICROS_PER_SECOND,
                None => naive
                    .to_utc_micros(local)
                    .map_err(|skipped| skipped_time(value, naive, skipped))?,
            }
        }
        SourceValueRef::Integer(seconds) => seconds
            .checked_sub(PG_EPOCH_UNIX_SECONDS)
            .and_then(|s| s.checked_mul(MICROS_PER_SECOND))
            .ok_or_else(|| out_of_range(value, type_name))?,
        SourceValueRef::Real(julian) => {
            julian::julian_to_micros(julian).ok_or_else(|| out_of_range(value, type_name))?
        }
        SourceValueRef::Blob(_) | SourceValueRef::Null => {
            return Err(not_a(value, "a timestamp", FIX_OR_TEXT))
        }
    };
    if !(MIN_TIMESTAMP..END_TIMESTAMP).contains(&micros) {
        return Err(out_of_range(value, type_name));
    }
    Ok(micros)
}

#[cfg(test)]
mod tests;
