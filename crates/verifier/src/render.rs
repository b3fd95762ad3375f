//! Human renderings of values for diffs and reports.
//!
//! A rendering is for reading, not for parsing back: it looks like what
//! `psql` would print, on one line, cut to a length a report can hold.

use std::fmt::Write as _;

use ferry_model::{format_date, format_uuid, CivilDateTime, PgValue};

/// A human rendering of a value, cut to `max_chars` characters and marked
/// with `…` where it was cut.
///
/// - `NULL` for SQL NULL; `true` / `false`; integers in decimal.
/// - Floats in the shortest text that reads back as the same number, as
///   Postgres prints them: `0.1`, `-0`, `1e+300`, `NaN`, `Infinity`.
/// - Numeric and jsonb as they are.
/// - Text in single quotes, a quote doubled as in SQL, control characters
///   escaped (`\n`, `\u{0}`) so a diff stays on one line; the cut is inside
///   the quotes: `'abc…'`.
/// - Bytea as `\x` and lowercase hex.
/// - Dates as `YYYY-MM-DD`; timestamps as ISO 8601 with microseconds,
///   `2000-01-01T00:00:00.000000`, and `Z` for timestamptz (always shown in
///   UTC, so both sides render alike whatever the server's time zone). Years
///   before 1 carry Postgres's ` BC` suffix; Postgres's infinite dates and
///   timestamps are `infinity` and `-infinity`.
/// - Uuids hyphenated, lowercase.
/// - Geometries as PostGIS prints them: hex EWKB, uppercase.
pub fn render_value(value: &PgValue<'_>, max_chars: usize) -> String {
    let rendered = match value {
        PgValue::Null => "NULL".to_owned(),
        PgValue::Bool(b) => b.to_string(),
        PgValue::Int2(i) => i.to_string(),
        PgValue::Int4(i) => i.to_string(),
        PgValue::Int8(i) => i.to_string(),
        PgValue::Float4(f) => render_float(f64::from(*f), f.to_string(), format!("{f:e}"), 1e6),
        PgValue::Float8(f) => render_float(*f, f.to_string(), format!("{f:e}"), 1e15),
        PgValue::Numeric(n) => n.to_string(),
        PgValue::Text(t) => return format!("'{}'", truncate(&escape_text(t), max_chars)),
        PgValue::Bytea(b) => format!("\\x{}", hex(b, false)),
        PgValue::Geometry(g) => hex(g, true),
        PgValue::Date(d) => render_date(*d),
        PgValue::Timestamp(t) => render_timestamp(*t, ""),
        PgValue::Timestamptz(t) => render_timestamp(*t, "Z"),
        PgValue::Jsonb(j) => j.to_string(),
        PgValue::Uuid(u) => format_uuid(u),
    };
    truncate(&rendered, max_chars)
}

fn hex(bytes: &[u8], upper: bool) -> String {
    let mut hex = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = match upper {
            true => write!(hex, "{byte:02X}"),
            false => write!(hex, "{byte:02x}"),
        };
    }
    hex
}

/// Cuts `text` to `max_chars` characters, marking the cut with `…`.
pub(crate) fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Postgres's float output: the shortest round-trip digits, in positional
/// notation between 1e-4 and `exponent_from` (1e15 for double precision,
/// 1e6 for real, after their significant digits) and in exponent notation
/// with a signed two-digit exponent outside it. `display` and `exp` are
/// Rust's shortest renderings of the value in its own width, so a `real`
/// 0.1 prints as `0.1`, not as the f64 it widens to.
fn render_float(value: f64, display: String, exp: String, exponent_from: f64) -> String {
    if value.is_nan() {
        return "NaN".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    let magnitude = value.abs();
    if magnitude == 0.0 || (1e-4..exponent_from).contains(&magnitude) {
        return display;
    }
    match exp.split_once('e') {
        Some((mantissa, exponent)) => {
            let (sign, digits) = match exponent.strip_prefix('-') {
                Some(digits) => ('-', digits),
                None => ('+', exponent),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => display,
    }
}

fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\'' => out.push_str("''"),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

fn render_date(days: i32) -> String {
    match days {
        i32::MAX => "infinity".to_owned(),
        i32::MIN => "-infinity".to_owned(),
        _ => format_date(i64::from(days)),
    }
}

fn render_timestamp(micros: i64, zone: &str) -> String {
    match micros {
        i64::MAX => "infinity".to_owned(),
        i64::MIN => "-infinity".to_owned(),
        _ => {
            let t = CivilDateTime::from_micros(micros);
            let (year, era) = t.year_and_era();
            format!(
                "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}{zone}{era}",
                t.month, t.day, t.hour, t.minute, t.second, t.micros,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(value: PgValue<'_>) -> String {
        render_value(&value, 80)
    }

    #[test]
    fn scalars() {
        assert_eq!(render(PgValue::Null), "NULL");
        assert_eq!(render(PgValue::Bool(true)), "true");
        assert_eq!(render(PgValue::Bool(false)), "false");
        assert_eq!(render(PgValue::Int2(-32768)), "-32768");
        assert_eq!(render(PgValue::Int4(7)), "7");
        assert_eq!(render(PgValue::Int8(i64::MAX)), "9223372036854775807");
        assert_eq!(render(PgValue::Numeric("-12.50".into())), "-12.50");
        assert_eq!(render(PgValue::Numeric("NaN".into())), "NaN");
        assert_eq!(
            render(PgValue::Jsonb("{\"a\": [1, 2]}".into())),
            "{\"a\": [1, 2]}"
        );
        assert_eq!(
            render(PgValue::Uuid([
                0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
                0xcd, 0xef
            ])),
            "12345678-9abc-def0-0123-456789abcdef"
        );
        assert_eq!(
            render(PgValue::Bytea((&[0xde, 0xad, 0x00][..]).into())),
            "\\xdead00"
        );
        assert_eq!(render(PgValue::Bytea((&[][..]).into())), "\\x");
        assert_eq!(
            render(PgValue::Geometry((&[0x01, 0x0a, 0xff][..]).into())),
            "010AFF"
        );
    }

    #[test]
    fn floats_are_shortest_round_trip() {
        let cases = [
            (PgValue::Float8(0.1), "0.1"),
            (PgValue::Float8(1.0), "1"),
            (PgValue::Float8(-0.0), "-0"),
            (PgValue::Float8(0.1 + 0.2), "0.30000000000000004"),
            (PgValue::Float8(1e300), "1e+300"),
            (PgValue::Float8(1.5e-7), "1.5e-07"),
            (PgValue::Float8(123456789012345.0), "123456789012345"),
            (PgValue::Float8(1e15), "1e+15"),
            (PgValue::Float8(0.0001), "0.0001"),
            (
                PgValue::Float8(f64::MIN_POSITIVE),
                "2.2250738585072014e-308",
            ),
            (PgValue::Float8(f64::NAN), "NaN"),
            (PgValue::Float8(f64::INFINITY), "Infinity"),
            (PgValue::Float8(f64::NEG_INFINITY), "-Infinity"),
            (PgValue::Float4(0.1), "0.1"),
            (PgValue::Float4(1.5), "1.5"),
            (PgValue::Float4(1234567.0), "1.234567e+06"),
            (PgValue::Float4(f32::NAN), "NaN"),
        ];
        for (value, expected) in cases {
            assert_eq!(render(value.clone()), expected, "{value:?}");
        }
        // Every digit needed to read the value back, and no more.
        let x = 0.1 + 0.2;
        assert_eq!(render(PgValue::Float8(x)).parse::<f64>().unwrap(), x);
    }

    #[test]
    fn text_is_quoted_escaped_and_cut_inside_the_quotes() {
        assert_eq!(render(PgValue::Text("it's".into())), "'it''s'");
        assert_eq!(render(PgValue::Text("a\nb\0".into())), "'a\\nb\\u{0}'");
        assert_eq!(render(PgValue::Text("".into())), "''");
        assert_eq!(render_value(&PgValue::Text("héllo".into()), 2), "'hé…'");
        assert_eq!(render_value(&PgValue::Text("hé".into()), 2), "'hé'");
        assert_eq!(render_value(&PgValue::Int8(123456), 3), "123…");
        assert_eq!(
            render_value(&PgValue::Bytea((&[1, 2, 3][..]).into()), 4),
            "\\x01…"
        );
    }

    #[test]
    fn dates() {
        assert_eq!(render(PgValue::Date(0)), "2000-01-01");
        assert_eq!(render(PgValue::Date(-1)), "1999-12-31");
        assert_eq!(render(PgValue::Date(59)), "2000-02-29");
        assert_eq!(render(PgValue::Date(8825)), "2024-02-29");
        assert_eq!(render(PgValue::Date(-10957)), "1970-01-01");
        assert_eq!(render(PgValue::Date(-36465)), "1900-03-01"); // 1900 is not leap
        assert_eq!(render(PgValue::Date(-730119)), "0001-01-01");
        assert_eq!(render(PgValue::Date(-730120)), "0001-12-31 BC");
        assert_eq!(render(PgValue::Date(2921939)), "9999-12-31");
        assert_eq!(render(PgValue::Date(2921940)), "10000-01-01");
        assert_eq!(render(PgValue::Date(i32::MAX)), "infinity");
        assert_eq!(render(PgValue::Date(i32::MIN)), "-infinity");
    }

    #[test]
    fn timestamps() {
        const DAY: i64 = ferry_model::MICROS_PER_DAY;
        let cases = [
            (PgValue::Timestamptz(0), "2000-01-01T00:00:00.000000Z"),
            (PgValue::Timestamp(0), "2000-01-01T00:00:00.000000"),
            (PgValue::Timestamptz(1), "2000-01-01T00:00:00.000001Z"),
            (PgValue::Timestamptz(-1), "1999-12-31T23:59:59.999999Z"),
            (
                PgValue::Timestamptz(-DAY - 1_500_000),
                "1999-12-30T23:59:58.500000Z",
            ),
            (
                PgValue::Timestamptz(8825 * DAY + 45_296_789_012),
                "2024-02-29T12:34:56.789012Z",
            ),
            (
                PgValue::Timestamp(59 * DAY + DAY - 1),
                "2000-02-29T23:59:59.999999",
            ),
            (
                PgValue::Timestamptz(-730119 * DAY),
                "0001-01-01T00:00:00.000000Z",
            ),
            (
                PgValue::Timestamptz(-730119 * DAY - 1),
                "0001-12-31T23:59:59.999999Z BC",
            ),
            (
                PgValue::Timestamptz(2921940 * DAY - 1),
                "9999-12-31T23:59:59.999999Z",
            ),
            (PgValue::Timestamptz(i64::MAX), "infinity"),
            (PgValue::Timestamp(i64::MIN), "-infinity"),
        ];
        for (value, expected) in cases {
            assert_eq!(render(value.clone()), expected, "{value:?}");
        }
        // Extremes short of infinity render without overflowing.
        assert!(render(PgValue::Timestamptz(i64::MAX - 1)).ends_with(".775806Z"));
        assert!(render(PgValue::Timestamptz(i64::MIN + 1)).ends_with(" BC"));
    }
}
