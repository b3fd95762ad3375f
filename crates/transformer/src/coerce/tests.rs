//! One case per rule of the type-mapping table, both ways: what converts
//! (and to exactly what) and what is refused (and with which message).

use std::borrow::Cow;

use ferry_model::{
    Coercion, ColumnPlan, GeometryShape, GeometryTypmod, InvalidUtf8, NaiveZone, PgType, PgValue,
    SourceValueRef, SridMap, Typmod,
};
use proptest::prelude::*;

use super::coerce;

const NO_SRIDS: SridMap = SridMap {
    column_srid: 0,
    file_srids: Vec::new(),
};
const STRICT: Coercion = Coercion {
    strip_nul: false,
    invalid_utf8: InvalidUtf8::Reject,
    naive_timezone: NaiveZone::Offset(0),
    srids: NO_SRIDS,
    typmod: Typmod::None,
};
const STRIP_NUL: Coercion = Coercion {
    strip_nul: true,
    invalid_utf8: InvalidUtf8::Reject,
    naive_timezone: NaiveZone::Offset(0),
    srids: NO_SRIDS,
    typmod: Typmod::None,
};
const REPLACE: Coercion = Coercion {
    strip_nul: false,
    invalid_utf8: InvalidUtf8::Replace,
    naive_timezone: NaiveZone::Offset(0),
    srids: NO_SRIDS,
    typmod: Typmod::None,
};
const PLUS_TWO: Coercion = Coercion {
    strip_nul: false,
    invalid_utf8: InvalidUtf8::Reject,
    naive_timezone: NaiveZone::Offset(7200),
    srids: NO_SRIDS,
    typmod: Typmod::None,
};
/// Plain PostGIS `geometry`, and `geometry(Point,4326)`.
const ANY_GEOMETRY: PgType = PgType::Geometry(GeometryTypmod {
    shape: None,
    z: false,
    m: false,
    srid: 0,
});
const POINT_4326: PgType = PgType::Geometry(GeometryTypmod {
    shape: Some(GeometryShape::Point),
    z: false,
    m: false,
    srid: 4326,
});
/// A GeoPackage POINT(1 2) of srs_id 4326, and the EWKB PostGIS sends for it.
const GPKG_POINT: &[u8] = b"GP\x00\x01\xe6\x10\x00\x00\x01\x01\x00\x00\x00\
    \x00\x00\x00\x00\x00\x00\xf0\x3f\x00\x00\x00\x00\x00\x00\x00\x40";
const EWKB_POINT: &[u8] = b"\x01\x01\x00\x00\x20\xe6\x10\x00\x00\
    \x00\x00\x00\x00\x00\x00\xf0\x3f\x00\x00\x00\x00\x00\x00\x00\x40";
/// WKB LINESTRING EMPTY, POINT Z (1 2 3), and SRID=3857;POINT(1 2).
const WKB_LINE: &[u8] = b"\x01\x02\x00\x00\x00\x00\x00\x00\x00";
const WKB_POINT_Z: &[u8] = b"\x01\xe9\x03\x00\x00\x00\x00\x00\x00\x00\x00\xf0\x3f\
    \x00\x00\x00\x00\x00\x00\x00\x40\x00\x00\x00\x00\x00\x00\x08\x40";
const EWKB_3857: &[u8] = b"\x01\x01\x00\x00\x20\x11\x0f\x00\x00\
    \x00\x00\x00\x00\x00\x00\xf0\x3f\x00\x00\x00\x00\x00\x00\x00\x40";

/// The expected outcome of one case.
enum Expect {
    /// Converts to exactly this value.
    Is(PgValue<'static>),
    /// Is refused with a message containing this text.
    Fails(&'static str),
}

use Expect::{Fails, Is};
use PgType as T;
use SourceValueRef as S;

const fn t(s: &'static str) -> S<'static> {
    S::Text(s.as_bytes())
}
const fn txt(s: &'static str) -> PgValue<'static> {
    PgValue::Text(Cow::Borrowed(s))
}
const fn num(s: &'static str) -> PgValue<'static> {
    PgValue::Numeric(Cow::Borrowed(s))
}
const fn json(s: &'static str) -> PgValue<'static> {
    PgValue::Jsonb(Cow::Borrowed(s))
}

/// 2024-02-29 12:34:56.789012 UTC in microseconds since 2000-01-01.
const LEAP_DAY_NOON_ISH: i64 = 762_525_296_789_012;
const UNIX_EPOCH_MICROS: i64 = -946_684_800_000_000;
const UUID: [u8; 16] = [
    0x55, 0x0e, 0x84, 0x00, 0xe2, 0x9b, 0x41, 0xd4, 0xa7, 0x16, 0x44, 0x66, 0x55, 0x44, 0x00, 0x00,
];

const CASES: &[(PgType, Coercion, SourceValueRef<'static>, Expect)] = &[
    // NULL is NULL everywhere.
    (T::BigInt, STRICT, S::Null, Is(PgValue::Null)),
    (T::Text, STRICT, S::Null, Is(PgValue::Null)),
    (T::Timestamptz, STRICT, S::Null, Is(PgValue::Null)),
    (T::Uuid, STRICT, S::Null, Is(PgValue::Null)),
    // bigint / integer / smallint
    (T::BigInt, STRICT, S::Integer(i64::MIN), Is(PgValue::Int8(i64::MIN))),
    (T::BigInt, STRICT, S::Integer(i64::MAX), Is(PgValue::Int8(i64::MAX))),
    (T::BigInt, STRICT, S::Real(3.0), Is(PgValue::Int8(3))),
    (T::BigInt, STRICT, S::Real(-0.0), Is(PgValue::Int8(0))),
    (T::BigInt, STRICT, S::Real(3.5), Fails("3.5 is not an integer (it has a fractional part)")),
    (T::BigInt, STRICT, S::Real(1e19), Fails("1e19 is out of range for bigint")),
    (T::BigInt, STRICT, S::Real(f64::NAN), Fails("is not an integer")),
    (T::BigInt, STRICT, t("-9223372036854775808"), Is(PgValue::Int8(i64::MIN))),
    (T::BigInt, STRICT, t("+42"), Is(PgValue::Int8(42))),
    (T::BigInt, STRICT, t("007"), Is(PgValue::Int8(7))),
    (T::BigInt, STRICT, t("9223372036854775808"), Fails("'9223372036854775808' is out of range for bigint")),
    (T::BigInt, STRICT, t("abc"), Fails("'abc' is not an integer; fix the value or map the column to text in ferry.toml")),
    (T::BigInt, STRICT, S::Blob(&[0xff, 0x00]), Fails("x'ff00' is a blob value, not an integer; fix the value or map the column to bytea in ferry.toml")),
    (T::BigInt, STRICT, t(" 1"), Fails("is not an integer")),
    (T::BigInt, STRICT, t("1.0"), Fails("is not an integer")),
    (T::BigInt, STRICT, t(""), Fails("'' is not an integer")),
    (T::BigInt, STRICT, S::Blob(&[1]), Fails("x'01' is a blob value, not an integer")),
    (T::Integer, STRICT, S::Integer(2_147_483_647), Is(PgValue::Int4(i32::MAX))),
    (T::Integer, STRICT, S::Integer(2_147_483_648), Fails("2147483648 is out of range for integer")),
    (T::Integer, STRICT, t("99999999999999999999"), Fails("is out of range for integer")),
    (T::SmallInt, STRICT, S::Integer(-32768), Is(PgValue::Int2(i16::MIN))),
    (T::SmallInt, STRICT, t("32768"), Fails("'32768' is out of range for smallint")),
    // double precision
    (T::DoublePrecision, STRICT, S::Real(f64::MAX), Is(PgValue::Float8(f64::MAX))),
    (T::DoublePrecision, STRICT, S::Real(5e-324), Is(PgValue::Float8(5e-324))),
    (T::DoublePrecision, STRICT, S::Real(-0.0), Is(PgValue::Float8(-0.0))),
    (T::DoublePrecision, STRICT, S::Integer(9_007_199_254_740_992), Is(PgValue::Float8(9_007_199_254_740_992.0))),
    (T::DoublePrecision, STRICT, S::Integer(9_007_199_254_740_993), Fails("cannot be held exactly by double precision")),
    (T::DoublePrecision, STRICT, S::Integer(i64::MAX), Fails("cannot be held exactly")),
    (T::DoublePrecision, STRICT, t("0.30000000000000004"), Is(PgValue::Float8(0.1 + 0.2))),
    (T::DoublePrecision, STRICT, t("-1.5e3"), Is(PgValue::Float8(-1500.0))),
    (T::DoublePrecision, STRICT, t("-Infinity"), Is(PgValue::Float8(f64::NEG_INFINITY))),
    (T::DoublePrecision, STRICT, t("1e309"), Fails("'1e309' is out of range for double precision")),
    (T::DoublePrecision, STRICT, t("1e-400"), Fails("underflows to 0")),
    (T::DoublePrecision, STRICT, t("1,5"), Fails("'1,5' is not a number")),
    (T::DoublePrecision, STRICT, S::Blob(b"1"), Fails("is a blob value, not a number")),
    // real (float4)
    (T::Real, STRICT, S::Real(0.5), Is(PgValue::Float4(0.5))),
    (T::Real, STRICT, S::Real(0.1), Fails("0.1 cannot be held exactly by real (float4)")),
    (T::Real, STRICT, S::Integer(16_777_216), Is(PgValue::Float4(16_777_216.0))),
    (T::Real, STRICT, S::Integer(16_777_217), Fails("cannot be held exactly by real")),
    (T::Real, STRICT, t("0.1"), Is(PgValue::Float4(0.1))),
    (T::Real, STRICT, t("1e39"), Fails("is out of range for real")),
    // numeric
    (T::Numeric(None), STRICT, S::Integer(i64::MIN), Is(num("-9223372036854775808"))),
    (T::Numeric(None), STRICT, S::Real(0.1 + 0.2), Is(num("0.30000000000000004"))),
    (T::Numeric(None), STRICT, S::Real(1e21), Is(num("1000000000000000000000"))),
    (T::Numeric(None), STRICT, S::Real(-0.0), Is(num("0"))),
    (T::Numeric(None), STRICT, S::Real(f64::NEG_INFINITY), Is(num("-Infinity"))),
    (T::Numeric(None), STRICT, S::Real(f64::NAN), Is(num("NaN"))),
    (T::Numeric(None), STRICT, t("12.50"), Is(num("12.50"))),
    (T::Numeric(None), STRICT, t("+1.50e1"), Is(num("15.0"))),
    (T::Numeric(None), STRICT, t("-000.5"), Is(num("-0.5"))),
    (T::Numeric(None), STRICT, t("12,50"), Fails("'12,50' is not a number")),
    (T::Numeric(Some((10, 2))), STRICT, t("1.5"), Is(num("1.50"))),
    (T::Numeric(Some((10, 2))), STRICT, S::Real(19.99), Is(num("19.99"))),
    (T::Numeric(Some((10, 2))), STRICT, t("1.230"), Is(num("1.23"))),
    (T::Numeric(Some((10, 2))), STRICT, t("1.234"), Fails("'1.234' would be rounded to numeric(10,2)")),
    (T::Numeric(Some((10, 2))), STRICT, S::Real(0.1 + 0.2), Fails("would be rounded")),
    (T::Numeric(Some((4, 2))), STRICT, S::Integer(100), Fails("100 does not fit numeric(4,2) (at most 2 digits before the point)")),
    (T::Numeric(Some((4, 2))), STRICT, S::Real(f64::INFINITY), Fails("does not fit numeric(4,2)")),
    (T::Numeric(Some((4, 2))), STRICT, S::Real(f64::NAN), Is(num("NaN"))),
    // text
    (T::Text, STRICT, t("héllo wörld ✓ 🚀"), Is(txt("héllo wörld ✓ 🚀"))),
    (T::Text, STRICT, t(""), Is(txt(""))),
    (T::Text, STRICT, t("a\0b"), Fails("'a\\u{0}b' contains a NUL byte, which Postgres text cannot store; set strip_nul = true")),
    (T::Text, STRIP_NUL, t("a\0b\0"), Is(txt("ab"))),
    (T::Text, STRICT, S::Text(b"ab\xffc"), Fails("'ab\\xffc' is not valid UTF-8 (bad byte 0xff at offset 2); set invalid_utf8 = \"replace\"")),
    (T::Text, REPLACE, S::Text(b"ab\xffc"), Is(txt("ab\u{fffd}c"))),
    (T::Text, STRICT, S::Integer(i64::MIN), Is(txt("-9223372036854775808"))),
    (T::Text, STRICT, S::Real(3.0), Is(txt("3.0"))),
    (T::Text, STRICT, S::Real(1e300), Is(txt("1e300"))),
    (T::Text, STRICT, S::Real(0.1 + 0.2), Is(txt("0.30000000000000004"))),
    (T::Text, STRICT, S::Real(-0.0), Is(txt("-0.0"))),
    (T::Text, STRICT, S::Blob(b"plain"), Is(txt("plain"))),
    (T::Text, STRICT, S::Blob(&[0xff, 0x00]), Fails("x'ff00' is a blob that is not valid UTF-8; fix the value or map the column to bytea")),
    (T::Text, STRICT, S::Blob(b"a\0"), Fails("map the column to bytea")),
    // bytea
    (T::Bytea, STRICT, S::Blob(&[0, 255]), Is(PgValue::Bytea(Cow::Borrowed(&[0, 255])))),
    (T::Bytea, STRICT, t("hi"), Is(PgValue::Bytea(Cow::Borrowed(b"hi")))),
    (T::Bytea, STRICT, S::Integer(1), Fails("1 is a integer value, not bytes")),
    (T::Bytea, STRICT, S::Real(1.5), Fails("is a real value, not bytes")),
    // boolean
    (T::Boolean, STRICT, S::Integer(1), Is(PgValue::Bool(true))),
    (T::Boolean, STRICT, S::Integer(0), Is(PgValue::Bool(false))),
    (T::Boolean, STRICT, S::Real(1.0), Is(PgValue::Bool(true))),
    (T::Boolean, STRICT, S::Real(-0.0), Is(PgValue::Bool(false))),
    (T::Boolean, STRICT, t("TRUE"), Is(PgValue::Bool(true))),
    (T::Boolean, STRICT, t("Off"), Is(PgValue::Bool(false))),
    (T::Boolean, STRICT, t("y"), Is(PgValue::Bool(true))),
    (T::Boolean, STRICT, t("0"), Is(PgValue::Bool(false))),
    (T::Boolean, STRICT, S::Integer(2), Fails("2 is not a boolean (expected 0/1")),
    (T::Boolean, STRICT, t(" true"), Fails("is not a boolean")),
    (T::Boolean, STRICT, t("yess"), Fails("is not a boolean")),
    // date
    (T::Date, STRICT, t("2000-01-01"), Is(PgValue::Date(0))),
    (T::Date, STRICT, t("2024-02-29"), Is(PgValue::Date(8825))),
    (T::Date, STRICT, t("1999-12-31"), Is(PgValue::Date(-1))),
    (T::Date, STRICT, t("0001-01-01"), Is(PgValue::Date(-730_119))),
    (T::Date, STRICT, t("2024-02-29 00:00:00"), Is(PgValue::Date(8825))),
    (T::Date, STRICT, t("2024-02-29T00:00:00.000"), Is(PgValue::Date(8825))),
    (T::Date, STRICT, t("2023-02-30"), Fails("'2023-02-30' is not a valid date (February has 28 days in 2023); fix the value or map the column to text in ferry.toml")),
    (T::Date, STRICT, t("2023-02-29"), Fails("February has 28 days in 2023")),
    (T::Date, STRICT, t("2024-02-29 10:00"), Fails("'2024-02-29 10:00' has a time of day; map the column to timestamptz in ferry.toml")),
    (T::Date, STRICT, t("2024-02-29 00:00Z"), Fails("has a UTC offset")),
    (T::Date, STRICT, t("29/02/2024"), Fails("is not a date (expected YYYY-MM-DD)")),
    (T::Date, STRICT, S::Integer(86_400), Is(PgValue::Date(-10_956))),
    (T::Date, STRICT, S::Integer(86_401), Fails("has a time of day")),
    (T::Date, STRICT, S::Real(2_451_544.5), Is(PgValue::Date(0))),
    (T::Date, STRICT, S::Real(2_451_545.0), Fails("is not midnight as a julian day number")),
    (T::Date, STRICT, S::Integer(86_400 * 100_000_000_000_000), Fails("is out of range for date")),
    (T::Date, STRICT, S::Real(-0.5), Is(PgValue::Date(-2_451_545))),
    (T::Date, STRICT, S::Real(0.5), Is(PgValue::Date(-2_451_544))),
    (T::Date, STRICT, S::Real(-1.5), Fails("is out of range for date")),
    // Midnight of julian day number 2147483493, Postgres's last date.
    (T::Date, STRICT, S::Real(2_147_483_492.5), Is(PgValue::Date(2_147_483_493 - 2_451_545))),
    (T::Date, STRICT, S::Real(2_147_483_493.5), Fails("is out of range for date")),
    (T::Date, STRICT, S::Real(2_451_544.5000000005), Fails("is not midnight as a julian day number")),
    (T::Date, STRICT, S::Real(0.0), Fails("is not midnight as a julian day number")),
    (T::Date, STRICT, S::Real(1e300), Fails("is not midnight as a julian day number")),
    (T::Date, STRICT, S::Real(f64::NAN), Fails("is not midnight as a julian day number")),
    (T::Date, STRICT, S::Integer(-86_400), Is(PgValue::Date(-10_958))),
    (T::Date, STRICT, S::Integer(-1), Fails("has a time of day")),
    // timestamptz
    (T::Timestamptz, STRICT, t("2000-01-01"), Is(PgValue::Timestamptz(0))),
    (T::Timestamptz, STRICT, t("2000-01-01 00:01"), Is(PgValue::Timestamptz(60_000_000))),
    (T::Timestamptz, STRICT, t("2024-02-29T12:34:56.789012Z"), Is(PgValue::Timestamptz(LEAP_DAY_NOON_ISH))),
    (T::Timestamptz, STRICT, t("2024-02-29 12:34:56.789012"), Is(PgValue::Timestamptz(LEAP_DAY_NOON_ISH))),
    (T::Timestamptz, STRICT, t("2024-02-29 12:34:56.789012000"), Is(PgValue::Timestamptz(LEAP_DAY_NOON_ISH))),
    (T::Timestamptz, STRICT, t("2024-02-29 14:34:56.789012+02:00"), Is(PgValue::Timestamptz(LEAP_DAY_NOON_ISH))),
    (T::Timestamptz, STRICT, t("2024-02-29 14:34:56.789012+0200"), Is(PgValue::Timestamptz(LEAP_DAY_NOON_ISH))),
    (T::Timestamptz, STRICT, t("2024-02-29 14:34:56.789012+02"), Is(PgValue::Timestamptz(LEAP_DAY_NOON_ISH))),
    (T::Timestamptz, STRICT, t("2024-02-29 07:04:56.789012-05:30"), Is(PgValue::Timestamptz(LEAP_DAY_NOON_ISH))),
    (T::Timestamptz, PLUS_TWO, t("2024-02-29 14:34:56.789012"), Is(PgValue::Timestamptz(LEAP_DAY_NOON_ISH))),
    (T::Timestamptz, PLUS_TWO, t("2024-02-29 12:34:56.789012z"), Is(PgValue::Timestamptz(LEAP_DAY_NOON_ISH))),
    (T::Timestamptz, STRICT, t("2000-01-01 00:00:00.000001"), Is(PgValue::Timestamptz(1))),
    (T::Timestamptz, STRICT, t("2000-01-01 00:00:00.0000001"), Fails("has nanoseconds; Postgres keeps microseconds")),
    (T::Timestamptz, STRICT, t("2023-02-29 10:00"), Fails("is not a valid date (February has 28 days in 2023)")),
    (T::Timestamptz, STRICT, t("2024-01-01 24:00:00"), Fails("is not a valid time (hour 24 is out of range 00-23)")),
    (T::Timestamptz, STRICT, t("2024-01-01 23:59:60"), Fails("leap seconds")),
    (T::Timestamptz, STRICT, t("2024-01-01 10:00+16:00"), Fails("UTC offset 16:00 is out of range")),
    (T::Timestamptz, STRICT, t("10000-01-01"), Fails("is not a timestamptz (expected YYYY-MM-DD")),
    (T::Timestamptz, STRICT, t("yesterday"), Fails("'yesterday' is not a timestamptz")),
    (T::Timestamptz, STRICT, S::Integer(0), Is(PgValue::Timestamptz(UNIX_EPOCH_MICROS))),
    (T::Timestamptz, STRICT, S::Integer(946_684_801), Is(PgValue::Timestamptz(1_000_000))),
    (T::Timestamptz, STRICT, S::Integer(i64::MAX), Fails("is out of range for timestamptz")),
    (T::Timestamptz, STRICT, S::Real(2_440_587.5), Is(PgValue::Timestamptz(UNIX_EPOCH_MICROS))),
    (T::Timestamptz, STRICT, S::Real(2_451_545.0), Is(PgValue::Timestamptz(43_200_000_000))),
    (T::Timestamptz, STRICT, S::Real(-1.0), Fails("is out of range for timestamptz")),
    // Julian days are computed on the double's exact value and rounded once,
    // to the nearest microsecond, a tie to the later one (issue 12). The
    // expected values are floor((jd - 2451544.5) × 86400000000 + 1/2) done
    // in exact rational arithmetic; "old" is what float arithmetic gave.
    // A tie (jd = x + odd/16384 days) goes to the later microsecond…
    (T::Timestamptz, STRICT, S::Real(2451545.000061035), Is(PgValue::Timestamptz(43_205_273_438))),
    (T::Timestamptz, STRICT, S::Real(2451545.0000610347), Is(PgValue::Timestamptz(43_205_273_397))),
    (T::Timestamptz, STRICT, S::Real(2451545.0000610356), Is(PgValue::Timestamptz(43_205_273_478))),
    (T::Timestamptz, STRICT, S::Real(2460000.5001831055), Is(PgValue::Timestamptz(730_598_415_820_313))),
    // …before 2000 too, not away from zero (old: -43194726563).
    (T::Timestamptz, STRICT, S::Real(2451544.000061035), Is(PgValue::Timestamptz(-43_194_726_562))),
    (T::Timestamptz, STRICT, S::Real(2451544.0000610347), Is(PgValue::Timestamptz(-43_194_726_603))),
    // 3.8e-6 µs below and above a half microsecond (old: …142 and …267).
    (T::Timestamptz, STRICT, S::Real(2460310.500086969), Is(PgValue::Timestamptz(757_382_407_514_141))),
    (T::Timestamptz, STRICT, S::Real(2460310.500035101), Is(PgValue::Timestamptz(757_382_403_032_734))),
    (T::Timestamptz, STRICT, S::Real(2440000.250086969), Is(PgValue::Timestamptz(-997_423_192_485_859))),
    (T::Timestamptz, STRICT, S::Real(2440000.250035101), Is(PgValue::Timestamptz(-997_423_196_967_266))),
    // Ordinary julian days that float arithmetic put 1 µs off (old: one more).
    (T::Timestamptz, STRICT, S::Real(2442141.1127198115), Is(PgValue::Timestamptz(-812_452_661_008_286))),
    (T::Timestamptz, STRICT, S::Real(2444040.389465518), Is(PgValue::Timestamptz(-648_355_150_179_259))),
    (T::Timestamptz, STRICT, S::Real(2441918.0138748745), Is(PgValue::Timestamptz(-831_728_401_210_847))),
    (T::Timestamptz, STRICT, S::Real(2465099.792075176), Is(PgValue::Timestamptz(1_171_177_235_295_188))),
    (T::Timestamptz, STRICT, S::Real(2441198.3078861427), Is(PgValue::Timestamptz(-893_910_998_637_266))),
    (T::Timestamptz, STRICT, S::Real(2465182.6204816457), Is(PgValue::Timestamptz(1_178_333_609_614_187))),
    // Extremes: julian day -0.5 is Postgres's first microsecond, and the
    // double just below it rounds up to it; 0.0 is noon of that day.
    (T::Timestamptz, STRICT, S::Real(-0.5), Is(PgValue::Timestamptz(-211_813_488_000_000_000))),
    (T::Timestamptz, STRICT, S::Real(-0.5000000000000001), Is(PgValue::Timestamptz(-211_813_488_000_000_000))),
    (T::Timestamptz, STRICT, S::Real(-0.500_000_000_01), Fails("is out of range for timestamptz")),
    (T::Timestamptz, STRICT, S::Real(-0.25), Is(PgValue::Timestamptz(-211_813_466_400_000_000))),
    (T::Timestamptz, STRICT, S::Real(0.0), Is(PgValue::Timestamptz(-211_813_444_800_000_000))),
    (T::Timestamptz, STRICT, S::Real(-0.0), Is(PgValue::Timestamptz(-211_813_444_800_000_000))),
    (T::Timestamptz, STRICT, S::Real(5e-324), Is(PgValue::Timestamptz(-211_813_444_800_000_000))),
    (T::Timestamptz, STRICT, S::Real(-5e-324), Is(PgValue::Timestamptz(-211_813_444_800_000_000))),
    // The last double before 294277-01-01 (old: 9223371331199998976, 263 µs
    // off), and that day itself, one past Postgres's last microsecond.
    (T::Timestamptz, STRICT, S::Real(109203527.49999999), Is(PgValue::Timestamptz(9_223_371_331_199_998_713))),
    (T::Timestamptz, STRICT, S::Real(109203527.5), Fails("is out of range for timestamptz")),
    (T::Timestamptz, STRICT, S::Real(1e300), Fails("is out of range for timestamptz")),
    (T::Timestamptz, STRICT, S::Real(f64::INFINITY), Fails("is out of range for timestamptz")),
    (T::Timestamptz, STRICT, S::Real(f64::NEG_INFINITY), Fails("is out of range for timestamptz")),
    (T::Timestamp, STRICT, S::Real(2451545.000061035), Is(PgValue::Timestamp(43_205_273_438))),
    (T::Timestamp, STRICT, S::Real(109203527.5), Fails("is out of range for timestamp")),
    (T::Timestamptz, STRICT, S::Real(f64::NAN), Fails("is out of range")),
    (T::Timestamptz, STRICT, S::Blob(b"x"), Fails("is a blob value, not a timestamp")),
    // timestamp (without time zone)
    (T::Timestamp, STRICT, t("2024-02-29 12:34:56.789012"), Is(PgValue::Timestamp(LEAP_DAY_NOON_ISH))),
    (T::Timestamp, PLUS_TWO, t("2024-02-29 12:34:56.789012"), Is(PgValue::Timestamp(LEAP_DAY_NOON_ISH))),
    (T::Timestamp, STRICT, t("2024-02-29 14:34:56.789012+02:00"), Is(PgValue::Timestamp(LEAP_DAY_NOON_ISH))),
    (T::Timestamp, STRICT, S::Integer(0), Is(PgValue::Timestamp(UNIX_EPOCH_MICROS))),
    (T::Timestamp, STRICT, t("2024-13-01"), Fails("month 13 does not exist")),
    // jsonb
    (T::Jsonb, STRICT, t(r#"{"a": [1, "é", null]}"#), Is(json(r#"{"a": [1, "é", null]}"#))),
    (T::Jsonb, STRICT, t("null"), Is(json("null"))),
    (T::Jsonb, STRICT, t(r#""\\u0000""#), Is(json(r#""\\u0000""#))),
    (T::Jsonb, STRICT, t(r#""\ud83d\ude80""#), Is(json(r#""\ud83d\ude80""#))),
    (T::Jsonb, STRICT, t(r#"{"a":"\u0000"}"#), Fails("\\u0000 cannot be stored by Postgres")),
    (T::Jsonb, STRICT, t(r#""\ud83d""#), Fails("high surrogate")),
    (T::Jsonb, STRICT, t(r#"["\\u0000", "\u00e9\n", "\ud83d\ude80"]"#),
        Is(json(r#"["\\u0000", "\u00e9\n", "\ud83d\ude80"]"#))),
    (T::Jsonb, STRICT, t(r#"["\\", "\ud83d\ude80", "\udc00"]"#), Fails("low surrogate")),
    (T::Jsonb, STRICT, t(r#""\ude80""#), Fails("low surrogate")),
    (T::Jsonb, STRICT, t("{"), Fails("'{' is not valid JSON: EOF while parsing an object")),
    (T::Jsonb, STRICT, t("NaN"), Fails("is not valid JSON")),
    (T::Jsonb, STRICT, t(""), Fails("is not valid JSON")),
    (T::Jsonb, STRICT, S::Integer(-7), Is(PgValue::Jsonb(Cow::Borrowed("-7")))),
    (T::Jsonb, STRICT, S::Real(1e300), Is(PgValue::Jsonb(Cow::Borrowed("1e300")))),
    (T::Jsonb, STRICT, S::Real(f64::INFINITY), Fails("JSON has no NaN or Infinity")),
    (T::Jsonb, STRICT, S::Blob(b"[1]"), Is(json("[1]"))),
    (T::Jsonb, STRICT, S::Blob(&[0xff]), Fails("not valid UTF-8")),
    // uuid
    (T::Uuid, STRICT, t("550e8400-e29b-41d4-a716-446655440000"), Is(PgValue::Uuid(UUID))),
    (T::Uuid, STRICT, t("550E8400-E29B-41D4-A716-446655440000"), Is(PgValue::Uuid(UUID))),
    (T::Uuid, STRICT, t("{550e8400-e29b-41d4-a716-446655440000}"), Is(PgValue::Uuid(UUID))),
    (T::Uuid, STRICT, t("urn:uuid:550e8400-e29b-41d4-a716-446655440000"), Is(PgValue::Uuid(UUID))),
    (T::Uuid, STRICT, t("550e8400e29b41d4a716446655440000"), Is(PgValue::Uuid(UUID))),
    (T::Uuid, STRICT, S::Blob(&UUID), Is(PgValue::Uuid(UUID))),
    (T::Uuid, STRICT, t("550e8400-e29b-41d4-a716-44665544000g"), Fails("is not a UUID")),
    (T::Uuid, STRICT, t("550e8400-e29b41d4-a716-446655440000-"), Fails("is not a UUID")),
    (T::Uuid, STRICT, S::Blob(&[1, 2, 3]), Fails("x'010203' is not a UUID")),
    (T::Uuid, STRICT, S::Integer(1), Fails("is not a UUID")),
    // geometry (PostGIS): the codec's own cases are in coerce/geometry/tests.rs.
    (ANY_GEOMETRY, STRICT, S::Blob(GPKG_POINT), Is(PgValue::Geometry(Cow::Borrowed(EWKB_POINT)))),
    (POINT_4326, STRICT, S::Blob(GPKG_POINT), Is(PgValue::Geometry(Cow::Borrowed(EWKB_POINT)))),
    (ANY_GEOMETRY, STRICT, S::Blob(WKB_LINE), Is(PgValue::Geometry(Cow::Borrowed(WKB_LINE)))),
    (POINT_4326, STRICT, S::Blob(WKB_LINE), Fails("x'010200000000000000' is a LineString, but the column is geometry(Point,4326); fix the value or map the column to geometry (any shape and SRID) or bytea in ferry.toml")),
    (POINT_4326, STRICT, S::Blob(WKB_POINT_Z), Fails("is a Point Z, but the column is geometry(Point,4326)")),
    (POINT_4326, STRICT, S::Blob(EWKB_3857), Fails("has SRID 3857, but the column is geometry(Point,4326)")),
    (ANY_GEOMETRY, STRICT, t("POINT(1 2)"), Fails("'POINT(1 2)' is a text value, not a geometry blob; fix the value or map the column to bytea in ferry.toml")),
    (ANY_GEOMETRY, STRICT, S::Blob(b"GP"), Fails("x'4750' ends after 2 bytes, inside a GeoPackage header (the blob is truncated); fix the value or map the column to bytea")),
];

fn column(pg_type: PgType, coercion: Coercion) -> ColumnPlan {
    ColumnPlan::new("c", "", pg_type).with_coercion(coercion)
}

#[test]
fn every_rule_of_the_mapping_table() {
    let mut failures = Vec::new();
    for (pg_type, coercion, input, expect) in CASES {
        let got = coerce(&column(*pg_type, coercion.clone()), *input);
        let ok = match (expect, &got) {
            (Is(want), Ok(value)) => want == value || bits_equal(want, value),
            (Fails(text), Err(e)) => e.to_string().contains(text),
            _ => false,
        };
        if !ok {
            let want = match expect {
                Is(v) => format!("{v:?}"),
                Fails(text) => format!("error containing {text:?}"),
            };
            failures.push(format!("{pg_type} <- {input:?}: want {want}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Naive text in an IANA zone takes the offset in force at that local
/// time; text with its own offset ignores the zone; the hour clocks skip
/// is refused, naming the zone, and a `timestamp` is never shifted.
#[test]
fn naive_text_in_a_named_zone() {
    let berlin = Coercion {
        naive_timezone: "Europe/Berlin".parse().unwrap(),
        ..STRICT
    };
    let at = column(T::Timestamptz, berlin.clone());
    let micros = |text: &'static str| match coerce(&at, t(text)) {
        Ok(PgValue::Timestamptz(m)) => Ok(m),
        other => Err(format!("{other:?}")),
    };
    let utc = |text: &'static str| {
        micros(text).map(|m| {
            m - coerce(&column(T::Timestamptz, STRICT), t(text)).map_or(0, |v| match v {
                PgValue::Timestamptz(u) => u,
                _ => 0,
            })
        })
    };
    const HOUR: i64 = 3_600_000_000;
    assert_eq!(utc("2026-01-15 12:00"), Ok(-HOUR));
    assert_eq!(utc("2026-07-15 12:00:00.000001"), Ok(-2 * HOUR));
    assert_eq!(utc("2026-03-29 01:59:59.999999"), Ok(-HOUR));
    assert_eq!(utc("2026-03-29 03:00"), Ok(-2 * HOUR));
    assert_eq!(
        utc("2026-10-25 02:30"),
        Ok(-HOUR),
        "the second 02:30, as Postgres"
    );
    assert_eq!(utc("2026-07-15 12:00+00:00"), Ok(0));
    let err = coerce(&at, t("2026-03-29 02:30")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "'2026-03-29 02:30' does not exist in Europe/Berlin: clocks moved from +01:00 to \
         +02:00 over it; fix the value or write it with its UTC offset (e.g. +01:00) in SQLite"
    );
    let naive = coerce(&column(T::Timestamp, berlin), t("2026-03-29 02:30"));
    assert!(matches!(naive, Ok(PgValue::Timestamp(_))), "{naive:?}");
}

/// Floats compare by bits so that -0.0 and 0.0 are told apart.
fn bits_equal(a: &PgValue<'_>, b: &PgValue<'_>) -> bool {
    match (a, b) {
        (PgValue::Float8(x), PgValue::Float8(y)) => x.to_bits() == y.to_bits(),
        (PgValue::Float4(x), PgValue::Float4(y)) => x.to_bits() == y.to_bits(),
        _ => false,
    }
}

#[test]
fn negative_zero_and_nan_keep_their_bits() {
    let c = column(T::DoublePrecision, STRICT);
    let Ok(PgValue::Float8(z)) = coerce(&c, S::Real(-0.0)) else {
        panic!()
    };
    assert!(z.is_sign_negative());
    let Ok(PgValue::Float8(n)) = coerce(&c, t("NaN")) else {
        panic!()
    };
    assert!(n.is_nan());
}

#[test]
fn extremes_of_numeric() {
    let c = column(T::Numeric(None), STRICT);
    let Ok(PgValue::Numeric(max)) = coerce(&c, S::Real(f64::MAX)) else {
        panic!()
    };
    assert_eq!(max.len(), 309);
    assert!(max.starts_with("17976931348623157"));
    let Ok(PgValue::Numeric(tiny)) = coerce(&c, S::Real(5e-324)) else {
        panic!()
    };
    assert_eq!(tiny.len(), 2 + 323 + 1);
    assert!(tiny.ends_with("00005"));
}

#[test]
fn unchanged_values_are_borrowed() {
    let borrowed = |pg_type, input| {
        matches!(
            coerce(&column(pg_type, STRICT), input),
            Ok(PgValue::Text(Cow::Borrowed(_))
                | PgValue::Numeric(Cow::Borrowed(_))
                | PgValue::Jsonb(Cow::Borrowed(_))
                | PgValue::Bytea(Cow::Borrowed(_)))
        )
    };
    assert!(borrowed(T::Text, t("abc")));
    assert!(borrowed(T::Numeric(None), t("-12.50")));
    assert!(borrowed(T::Numeric(Some((4, 2))), t("12.50")));
    assert!(borrowed(T::Jsonb, t("[]")));
    assert!(borrowed(T::Bytea, S::Blob(b"x")));
}

proptest! {
    #[test]
    fn real_to_numeric_reads_back_the_same_double(bits in any::<u64>()) {
        let r = f64::from_bits(bits);
        prop_assume!(r.is_finite() && r != 0.0);
        let c = column(T::Numeric(None), STRICT);
        let Ok(PgValue::Numeric(text)) = coerce(&c, S::Real(r)) else {
            panic!("{r:?} did not convert")
        };
        prop_assert!(!text.contains('e'));
        let back: f64 = text.parse().unwrap();
        prop_assert_eq!(back.to_bits(), r.to_bits());
    }

    #[test]
    fn integer_text_bigint_round_trips(i in any::<i64>()) {
        let text = coerce(&column(T::Text, STRICT), S::Integer(i)).unwrap();
        let PgValue::Text(text) = text else { panic!() };
        let back = coerce(&column(T::BigInt, STRICT), S::Text(text.as_bytes())).unwrap();
        prop_assert_eq!(back, PgValue::Int8(i));
    }

    #[test]
    fn arbitrary_text_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
        for pg_type in T::ALL {
            let _ = coerce(&column(pg_type, STRICT), S::Text(&bytes));
        }
    }

    #[test]
    fn datetime_text_round_trips(micros in -63_082_281_600_000_000i64..252_455_615_999_999_999) {
        let text = ferry_model::format_timestamp(micros);
        let got = coerce(&column(T::Timestamptz, STRICT), S::Text(text.as_bytes())).unwrap();
        prop_assert_eq!(got, PgValue::Timestamptz(micros));
    }
}

#[test]
fn null_in_a_not_null_column_is_a_bad_value() {
    let mut key = column(PgType::Text, STRICT);
    assert_eq!(coerce(&key, S::Null), Ok(PgValue::Null));
    key.not_null = true;
    let err = coerce(&key, S::Null).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("NULL cannot go in a NOT NULL column"),
        "{err}"
    );
    assert!(
        err.to_string().ends_with(
            "; give the row a key in SQLite, or copy without --types declared (the key then \
             becomes a UNIQUE constraint)"
        ),
        "{err}"
    );
}
