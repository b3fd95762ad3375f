//! An independent check that a Postgres table holds exactly what a SQLite
//! table holds: SQLite's own date functions and Postgres's own output
//! functions, never ferry's code.

use std::path::Path;

use rusqlite::types::ValueRef;

use crate::util::{pg_column_types, with_unicase};

/// Compares every value of every row of `sqlite_table` with
/// `schema.pg_table`, rows matched in `order_by` order (a SQLite expression
/// and the matching Postgres one). Returns the number of rows compared.
pub fn assert_same_rows(
    source: &Path,
    sqlite_table: &str,
    pg: &mut postgres::Client,
    schema: &str,
    pg_table: &str,
    order_by: (&str, &str),
) -> usize {
    // Anki's own collation, without which SQLite cannot read the tables
    // that declare it; unused elsewhere.
    let sqlite = with_unicase(
        rusqlite::Connection::open_with_flags(source, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap(),
    );
    let pg_columns = pg_column_types(pg, schema, pg_table);
    let source_columns: Vec<String> = sqlite
        .prepare(&format!(
            "SELECT name FROM pragma_table_xinfo({})",
            sqlite_literal(sqlite_table)
        ))
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        source_columns.len(),
        pg_columns.len(),
        "{sqlite_table}: column count differs: {source_columns:?} vs {pg_columns:?}"
    );

    // Postgres side: each value rendered by Postgres itself.
    let select: Vec<String> = pg_columns
        .iter()
        .enumerate()
        .map(|(i, (name, ty))| format!("{} AS c{i}", pg_render(&quote(name), ty)))
        .collect();
    let pg_rows = pg
        .query(
            &format!(
                "SELECT {} FROM {}.{} ORDER BY {}",
                select.join(", "),
                quote(schema),
                quote(pg_table),
                order_by.1
            ),
            &[],
        )
        .unwrap();

    // SQLite side: raw values plus SQLite's own normalisation of dates.
    let mut sqlite_select = Vec::new();
    for (name, (_, ty)) in source_columns.iter().zip(&pg_columns) {
        let col = quote(name);
        sqlite_select.push(col.clone());
        sqlite_select.push(match ty.as_str() {
            "timestamp with time zone" | "timestamp without time zone" => format!(
                "CASE typeof({col}) WHEN 'integer' THEN strftime('%Y-%m-%d %H:%M:%S', {col}, 'unixepoch') \
                 ELSE strftime('%Y-%m-%d %H:%M:%S', {}) END",
                colon_offset(&col)
            ),
            "date" => format!(
                "CASE typeof({col}) WHEN 'integer' THEN date({col}, 'unixepoch') ELSE date({col}) END"
            ),
            _ => "NULL".to_owned(),
        });
    }
    let mut stmt = sqlite
        .prepare(&format!(
            "SELECT {} FROM {} ORDER BY {}",
            sqlite_select.join(", "),
            quote(sqlite_table),
            order_by.0
        ))
        .unwrap();
    let mut rows = stmt.query([]).unwrap();
    let mut compared = 0;
    while let Some(row) = rows.next().unwrap() {
        let pg_row = pg_rows.get(compared).unwrap_or_else(|| {
            panic!("{pg_table}: Postgres has fewer rows than SQLite ({compared})")
        });
        for (i, (name, ty)) in pg_columns.iter().enumerate() {
            let raw = row.get_ref(2 * i).unwrap();
            let normalised: Option<String> = row.get(2 * i + 1).unwrap();
            let actual: Option<String> = pg_row.get(i);
            let expected = expected_text(raw, normalised.as_deref(), ty);
            assert!(
                same(&expected, &actual, ty),
                "{sqlite_table} row {compared} column {name} ({ty}): SQLite {raw:?} should be {expected:?}, Postgres has {actual:?}"
            );
        }
        compared += 1;
    }
    assert_eq!(
        compared,
        pg_rows.len(),
        "{pg_table}: Postgres has more rows than SQLite"
    );
    compared
}

/// SQLite's date functions read `±HH:MM` offsets but not `±HHMM`: insert
/// the colon, in SQL, so SQLite can still be the judge.
fn colon_offset(col: &str) -> String {
    format!(
        "CASE WHEN {col} GLOB '*[0-9][+-][0-9][0-9][0-9][0-9]' \
         THEN substr({col}, 1, length({col}) - 2) || ':' || substr({col}, -2) ELSE {col} END"
    )
}

/// How Postgres should render the column for comparison.
fn pg_render(col: &str, ty: &str) -> String {
    match ty {
        "timestamp with time zone" => {
            format!("to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')")
        }
        "timestamp without time zone" => format!("to_char({col}, 'YYYY-MM-DD HH24:MI:SS.US')"),
        "date" => format!("to_char({col}, 'YYYY-MM-DD')"),
        "double precision" | "real" => {
            // Shortest round-trip text (extra_float_digits = 1, the default).
            format!("{col}::text")
        }
        "bytea" => format!("encode({col}, 'hex')"),
        _ => format!("{col}::text"),
    }
}

/// What Postgres's text should be for a SQLite value, worked out here.
fn expected_text(raw: ValueRef<'_>, normalised_date: Option<&str>, ty: &str) -> Option<String> {
    let text =
        |bytes: &[u8]| String::from_utf8(bytes.to_vec()).expect("valid UTF-8 in an exact fixture");
    Some(match (raw, ty) {
        (ValueRef::Null, _) => return None,
        (_, "timestamp with time zone" | "timestamp without time zone") => {
            let base = normalised_date.expect("SQLite understands this datetime");
            let fraction = match raw {
                ValueRef::Text(t) => fraction_micros(&text(t)),
                _ => "000000".to_owned(),
            };
            format!("{base}.{fraction}")
        }
        (_, "date") => normalised_date
            .expect("SQLite understands this date")
            .to_owned(),
        (ValueRef::Integer(i), "boolean") => (if i != 0 { "true" } else { "false" }).to_owned(),
        (ValueRef::Text(t), "boolean") => {
            let t = text(t).to_ascii_lowercase();
            (if ["t", "true", "1", "y", "yes", "on"].contains(&t.as_str()) {
                "true"
            } else {
                "false"
            })
            .to_owned()
        }
        (ValueRef::Integer(i), _) => i.to_string(),
        (ValueRef::Real(r), _) => format!("{r:?}"),
        (ValueRef::Text(t), "bytea") => hex(t),
        (ValueRef::Blob(b), "bytea") => hex(b),
        (ValueRef::Blob(b), "uuid") => hyphenated_uuid(&hex(b)),
        (ValueRef::Text(t), "uuid") => hyphenated_uuid(
            &text(t)
                .to_ascii_lowercase()
                .trim_start_matches("urn:uuid:")
                .chars()
                .filter(|c| c.is_ascii_hexdigit())
                .collect::<String>(),
        ),
        (ValueRef::Text(t), _) | (ValueRef::Blob(t), _) => text(t),
    })
}

/// The fractional seconds written in a datetime text, as 6 digits.
fn fraction_micros(text: &str) -> String {
    let after_seconds = text.get(19..).unwrap_or("");
    let digits: String = after_seconds
        .strip_prefix('.')
        .map(|rest| rest.chars().take_while(char::is_ascii_digit).collect())
        .unwrap_or_default();
    format!("{:0<6}", &digits[..digits.len().min(6)])
}

fn same(expected: &Option<String>, actual: &Option<String>, ty: &str) -> bool {
    match (expected, actual) {
        (Some(e), Some(a)) if ty == "jsonb" => {
            let e: serde_json::Value = serde_json::from_str(e).unwrap();
            let a: serde_json::Value = serde_json::from_str(a).unwrap();
            e == a
        }
        (Some(e), Some(a))
            if ty == "double precision" || ty.starts_with("numeric") || ty == "real" =>
        {
            // Compare as numbers: same double bits, or the same decimal.
            match (e.parse::<f64>(), a.parse::<f64>()) {
                (Ok(x), Ok(y)) if ty != "numeric" && !ty.starts_with("numeric(") => {
                    x.to_bits() == y.to_bits()
                }
                (Ok(x), Ok(y)) => x == y && same_decimal(e, a),
                _ => e == a,
            }
        }
        _ => expected == actual,
    }
}

/// Decimal strings equal up to trailing zeros of the fraction.
fn same_decimal(a: &str, b: &str) -> bool {
    let trim = |s: &str| {
        if s.contains('.') && !s.contains(['e', 'E']) {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s.to_owned()
        }
    };
    trim(a) == trim(b) || a.parse::<f64>().ok() == b.parse::<f64>().ok()
}

/// 32 hex digits in Postgres's 8-4-4-4-12 output form.
fn hyphenated_uuid(h: &str) -> String {
    let groups = [&h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]];
    groups.join("-")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn sqlite_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
