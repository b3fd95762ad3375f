//! SQLite column defaults → Postgres `DEFAULT` expressions.
//!
//! Only defaults whose meaning is certain are translated: the current
//! date/time functions, NULL, booleans, and literals that convert exactly to
//! the column's type (checked with the same [`coerce`] the copy uses).
//! Anything else is left for the user, with a warning.

use ferry_model::{
    format_date, format_timestamp, format_uuid, quote_literal, scan_decimal, ColumnPlan, PgType,
    PgValue, SourceValueRef,
};

use crate::coerce::coerce;

/// SQLite's `CURRENT_TIMESTAMP` is UTC wall-clock time.
const NOW_UTC: &str = "(now() AT TIME ZONE 'UTC')";

/// The Postgres expression for a SQLite default; `Ok(None)` when no
/// `DEFAULT` clause is needed, `Err(())` when it cannot be translated.
pub(crate) fn translate_default(raw: &str, column: &ColumnPlan) -> Result<Option<String>, ()> {
    let expr = strip_parens(raw.trim());
    let lower = expr.to_ascii_lowercase();
    let compact: String = lower.chars().filter(|c| !c.is_whitespace()).collect();
    let t = column.pg_type;
    let is_int = matches!(t, PgType::SmallInt | PgType::Integer | PgType::BigInt);
    let sql = match compact.as_str() {
        "null" => return Ok(None),
        "current_timestamp" | "datetime('now')" | "datetime(\"now\")" => match t {
            PgType::Timestamptz => "CURRENT_TIMESTAMP".to_owned(),
            PgType::Timestamp => NOW_UTC.to_owned(),
            PgType::Text => format!("to_char({NOW_UTC}, 'YYYY-MM-DD HH24:MI:SS')"),
            _ => return Err(()),
        },
        "datetime('now','localtime')" => match t {
            PgType::Timestamptz => "CURRENT_TIMESTAMP".to_owned(),
            PgType::Timestamp => "LOCALTIMESTAMP".to_owned(),
            PgType::Text => "to_char(LOCALTIMESTAMP, 'YYYY-MM-DD HH24:MI:SS')".to_owned(),
            _ => return Err(()),
        },
        "current_date" | "date('now')" => match t {
            PgType::Date | PgType::Timestamp | PgType::Timestamptz => "CURRENT_DATE".to_owned(),
            PgType::Text => format!("to_char({NOW_UTC}, 'YYYY-MM-DD')"),
            _ => return Err(()),
        },
        "current_time" | "time('now')" => match t {
            PgType::Text => format!("to_char({NOW_UTC}, 'HH24:MI:SS')"),
            _ => return Err(()),
        },
        "strftime('%s','now')" | "unixepoch()" | "unixepoch('now')" => match t {
            _ if is_int => "(extract(epoch from now()))::bigint".to_owned(),
            PgType::Numeric(None) | PgType::DoublePrecision => {
                "(extract(epoch from now()))::bigint".to_owned()
            }
            PgType::Text => "((extract(epoch from now()))::bigint)::text".to_owned(),
            _ => return Err(()),
        },
        "true" | "false" => {
            let truth = compact == "true";
            match t {
                PgType::Boolean => truth.to_string(),
                _ if is_int => u8::from(truth).to_string(),
                PgType::Numeric(_) | PgType::DoublePrecision | PgType::Real => {
                    u8::from(truth).to_string()
                }
                _ => return Err(()),
            }
        }
        _ if compact.starts_with("strftime(") => strftime_now(expr, t).ok_or(())?,
        _ => return literal(expr, column).map(Some),
    };
    Ok(Some(sql))
}

/// `strftime(format, 'now')`: the current UTC time, as the column's type
/// holds it. A text column gets `to_char` with the same layout (Django and
/// many ORMs write `strftime('%Y-%m-%dT%H:%M:%fZ','now')`); a date or
/// timestamp column gets the current date or time when the format spells
/// one out in full. `None` for modifiers other than `'now'` and for format
/// directives without an exact `to_char` equivalent.
fn strftime_now(expr: &str, t: PgType) -> Option<String> {
    let args = expr.get("strftime".len()..)?.trim_start();
    let args = args.strip_prefix('(')?.strip_suffix(')')?;
    let (format, rest) = string_literal(args.trim_start())?;
    let (now, rest) = string_literal(rest.trim_start().strip_prefix(',')?.trim_start())?;
    if !now.eq_ignore_ascii_case("now") || !rest.trim().is_empty() {
        return None;
    }
    let mut pattern = String::new();
    let mut literal_run = String::new();
    let mut fields = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        let field = match c {
            '%' => match chars.next()? {
                '%' => None,
                d @ ('Y' | 'm' | 'd' | 'H' | 'M' | 'S' | 'f' | 'j') => Some(d),
                _ => return None,
            },
            _ => None,
        };
        let Some(field) = field else {
            literal_run.push(if c == '%' { '%' } else { c });
            continue;
        };
        flush_literal(&mut pattern, &mut literal_run);
        fields.push(field);
        pattern.push_str(match field {
            'Y' => "YYYY",
            'm' => "MM",
            'd' => "DD",
            'H' => "HH24",
            'M' => "MI",
            'S' => "SS",
            'f' => "SS.MS",
            _ => "DDD",
        });
    }
    flush_literal(&mut pattern, &mut literal_run);
    let has = |set: &str| set.chars().all(|f| fields.contains(f));
    let full_time = has("YmdHM") && (fields.contains('S') || fields.contains('f'));
    let date_only = has("Ymd") && !fields.contains(['H', 'M', 'S', 'f']);
    match t {
        PgType::Text => Some(format!("to_char({NOW_UTC}, {})", quote_literal(&pattern))),
        PgType::Timestamptz if full_time => Some("CURRENT_TIMESTAMP".to_owned()),
        PgType::Timestamp if full_time => Some(NOW_UTC.to_owned()),
        PgType::Date if date_only => Some("CURRENT_DATE".to_owned()),
        _ => None,
    }
}

/// Appends literal text to a `to_char` pattern, double-quoted so that no
/// letter in it is taken for a field.
fn flush_literal(pattern: &mut String, literal: &mut String) {
    if !literal.is_empty() {
        let escaped = literal.replace('\\', "\\\\").replace('"', "\\\"");
        pattern.push_str(&format!("\"{escaped}\""));
        literal.clear();
    }
}

/// A leading `'…'` (or SQLite's fallback `"…"`) string literal, unescaped,
/// and what follows it.
fn string_literal(text: &str) -> Option<(String, &str)> {
    let quote = text.chars().next().filter(|q| *q == '\'' || *q == '"')?;
    let mut value = String::new();
    let mut rest = text[1..].char_indices().peekable();
    while let Some((i, c)) = rest.next() {
        if c == quote {
            if rest.peek().is_some_and(|(_, next)| *next == quote) {
                rest.next();
                value.push(quote);
                continue;
            }
            return Some((value, &text[i + 2..]));
        }
        value.push(c);
    }
    None
}

/// Removes parentheses around the whole expression: `((0))` → `0`.
fn strip_parens(mut expr: &str) -> &str {
    while let Some(inner) = expr.strip_prefix('(').and_then(|e| e.strip_suffix(')')) {
        // `(a)+(b)` starts and ends with parentheses that do not pair up.
        let mut depth = 0i32;
        let balanced = inner.chars().all(|c| {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            depth >= 0
        });
        if !balanced || depth != 0 {
            break;
        }
        expr = inner.trim();
    }
    expr
}

/// A number, string or blob literal, stored the way SQLite would store it
/// and converted with the copy's own rules.
fn literal(expr: &str, column: &ColumnPlan) -> Result<String, ()> {
    if let Some(body) = expr.strip_prefix('\'').and_then(|e| e.strip_suffix('\'')) {
        if body.replace("''", "").contains('\'') {
            return Err(());
        }
        let text = body.replace("''", "'");
        return render(coerce(column, SourceValueRef::Text(text.as_bytes())));
    }
    if let Some(hex) = expr
        .strip_prefix("x'")
        .or_else(|| expr.strip_prefix("X'"))
        .and_then(|e| e.strip_suffix('\''))
    {
        let bytes = decode_hex(hex).ok_or(())?;
        return render(coerce(column, SourceValueRef::Blob(&bytes)));
    }
    let number: String = expr.chars().filter(|c| !c.is_whitespace()).collect();
    let decimal = scan_decimal(&number).ok_or(())?;
    let value = if !decimal.point && decimal.exponent.is_none() {
        match number.parse::<i64>() {
            Ok(i) => SourceValueRef::Integer(i),
            Err(_) => SourceValueRef::Real(number.parse().map_err(|_| ())?),
        }
    } else {
        SourceValueRef::Real(number.parse().map_err(|_| ())?)
    };
    render(coerce(column, value))
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

fn render<E>(value: Result<PgValue<'_>, E>) -> Result<String, ()> {
    value.map(|v| sql_literal(&v)).map_err(|_| ())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A Postgres value as SQL text, for DDL that cannot take parameters.
pub(crate) fn sql_literal(value: &PgValue<'_>) -> String {
    match value {
        PgValue::Null => "NULL".to_owned(),
        PgValue::Bool(b) => b.to_string(),
        PgValue::Int2(i) => i.to_string(),
        PgValue::Int4(i) => i.to_string(),
        PgValue::Int8(i) => i.to_string(),
        PgValue::Float4(f) => float_literal(f64::from(*f), format!("{f:?}")),
        PgValue::Float8(f) => float_literal(*f, format!("{f:?}")),
        PgValue::Numeric(n) if n.starts_with(|c: char| c == '-' || c.is_ascii_digit()) => {
            n.to_string()
        }
        PgValue::Numeric(n) => quote_literal(n),
        PgValue::Text(t) | PgValue::Jsonb(t) => quote_literal(t),
        PgValue::Bytea(b) => quote_literal(&format!("\\x{}", hex(b))),
        // PostGIS reads hex EWKB as a geometry's text form.
        PgValue::Geometry(g) => quote_literal(&hex(g)),
        PgValue::Date(days) => quote_literal(&format_date(i64::from(*days))),
        PgValue::Timestamp(micros) => quote_literal(&format_timestamp(*micros)),
        PgValue::Timestamptz(micros) => {
            let text = format_timestamp(*micros);
            match text.strip_suffix(" BC") {
                Some(ad) => quote_literal(&format!("{ad}+00 BC")),
                None => quote_literal(&format!("{text}+00")),
            }
        }
        PgValue::Uuid(u) => quote_literal(&format_uuid(u)),
    }
}

/// Finite floats are plain SQL numbers; the others must be quoted names.
fn float_literal(f: f64, debug: String) -> String {
    if f.is_nan() {
        "'NaN'".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 { "'Infinity'" } else { "'-Infinity'" }.to_owned()
    } else {
        debug
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_common_defaults() {
        type Case = (&'static str, PgType, Result<Option<&'static str>, ()>);
        let cases: &[Case] = &[
            (
                "CURRENT_TIMESTAMP",
                PgType::Timestamptz,
                Ok(Some("CURRENT_TIMESTAMP")),
            ),
            (
                "(datetime('now'))",
                PgType::Timestamptz,
                Ok(Some("CURRENT_TIMESTAMP")),
            ),
            (
                "(datetime('now', 'localtime'))",
                PgType::Timestamp,
                Ok(Some("LOCALTIMESTAMP")),
            ),
            ("current_timestamp", PgType::Timestamp, Ok(Some(NOW_UTC))),
            ("CURRENT_TIMESTAMP", PgType::BigInt, Err(())),
            ("CURRENT_DATE", PgType::Date, Ok(Some("CURRENT_DATE"))),
            ("(date('now'))", PgType::Date, Ok(Some("CURRENT_DATE"))),
            (
                "CURRENT_TIME",
                PgType::Text,
                Ok(Some("to_char((now() AT TIME ZONE 'UTC'), 'HH24:MI:SS')")),
            ),
            (
                "(strftime('%s','now'))",
                PgType::BigInt,
                Ok(Some("(extract(epoch from now()))::bigint")),
            ),
            (
                "(strftime('%Y-%m-%dT%H:%M:%fZ','now'))",
                PgType::Text,
                Ok(Some(
                    "to_char((now() AT TIME ZONE 'UTC'), 'YYYY\"-\"MM\"-\"DD\"T\"HH24\":\"MI\":\"SS.MS\"Z\"')",
                )),
            ),
            (
                "strftime('%Y-%m-%d %H:%M:%S', 'now')",
                PgType::Timestamptz,
                Ok(Some("CURRENT_TIMESTAMP")),
            ),
            ("strftime(\"%Y-%m-%d\", \"now\")", PgType::Date, Ok(Some("CURRENT_DATE"))),
            ("strftime('%H:%M', 'now')", PgType::Date, Err(())),
            ("strftime('%Y-%m-%d', 'now', '-1 day')", PgType::Text, Err(())),
            ("strftime('%W', 'now')", PgType::Text, Err(())),
            ("strftime('100%%', 'now')", PgType::Text, Ok(Some("to_char((now() AT TIME ZONE 'UTC'), '\"100%\"')"))),
            ("NULL", PgType::Text, Ok(None)),
            ("TRUE", PgType::Boolean, Ok(Some("true"))),
            ("FALSE", PgType::BigInt, Ok(Some("0"))),
            ("0", PgType::Boolean, Ok(Some("false"))),
            ("(1)", PgType::Boolean, Ok(Some("true"))),
            ("2", PgType::Boolean, Err(())),
            ("-1", PgType::BigInt, Ok(Some("-1"))),
            ("(- 1)", PgType::BigInt, Ok(Some("-1"))),
            ("+1.5", PgType::DoublePrecision, Ok(Some("1.5"))),
            ("0.1", PgType::Numeric(Some((10, 2))), Ok(Some("0.10"))),
            ("1.5", PgType::BigInt, Err(())),
            ("0", PgType::Text, Ok(Some("'0'"))),
            ("'it''s'", PgType::Text, Ok(Some("'it''s'"))),
            ("'active'", PgType::Boolean, Err(())),
            ("'yes'", PgType::Boolean, Ok(Some("true"))),
            ("'2024-02-29'", PgType::Date, Ok(Some("'2024-02-29'"))),
            ("'2024-02-30'", PgType::Date, Err(())),
            (
                "'2024-02-29 12:00:00'",
                PgType::Timestamptz,
                Ok(Some("'2024-02-29 12:00:00+00'")),
            ),
            ("'{}'", PgType::Jsonb, Ok(Some("'{}'"))),
            ("X'00ff'", PgType::Bytea, Ok(Some("'\\x00ff'"))),
            (
                "'550E8400E29B41D4A716446655440000'",
                PgType::Uuid,
                Ok(Some("'550e8400-e29b-41d4-a716-446655440000'")),
            ),
            ("(random())", PgType::BigInt, Err(())),
            ("'a' || 'b'", PgType::Text, Err(())),
            ("(1)+(2)", PgType::BigInt, Err(())),
        ];
        for (raw, pg_type, want) in cases {
            let got = translate_default(raw, &ColumnPlan::new("c", "", *pg_type));
            assert_eq!(
                got.as_ref().map(|o| o.as_deref()),
                want.as_ref().map(|o| *o),
                "{raw} on {pg_type}"
            );
        }
    }

    #[test]
    fn literals_for_every_value() {
        assert_eq!(sql_literal(&PgValue::Float8(f64::NAN)), "'NaN'");
        assert_eq!(sql_literal(&PgValue::Float8(1e300)), "1e300");
        assert_eq!(sql_literal(&PgValue::Numeric("NaN".into())), "'NaN'");
        assert_eq!(sql_literal(&PgValue::Timestamp(0)), "'2000-01-01 00:00:00'");
        assert_eq!(sql_literal(&PgValue::Date(-2_451_545)), "'4714-11-24 BC'");
    }
}
