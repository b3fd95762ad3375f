//! Declared SQLite type → Postgres type, by the rules in the crate docs.

use ferry_model::{Affinity, PgType};

/// The Postgres type chosen for a declared SQLite type, with a note when the
/// choice is a guess the user may want to override.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// The Postgres type.
    pub pg_type: PgType,
    /// Why the choice may need a look (`no declared type; …`).
    pub note: Option<String>,
}

impl Mapping {
    fn sure(pg_type: PgType) -> Self {
        Mapping {
            pg_type,
            note: None,
        }
    }
}

/// Postgres's limit on `numeric(p,s)` precision.
const MAX_NUMERIC_PRECISION: u32 = 1000;

/// Maps a declared SQLite column type to a Postgres type.
///
/// Names that say what the values mean (`BOOLEAN`, `DATETIME`, `DATE`,
/// `JSON`, `UUID`) win over SQLite's affinity rules, because SQLite itself
/// gives them numeric affinity, which says nothing about their content.
/// The table in the crate docs lists every rule.
pub fn map_type(declared: &str) -> Mapping {
    let upper = declared.trim().to_ascii_uppercase();
    if is_geometry(&upper) {
        return Mapping {
            pg_type: PgType::Bytea,
            note: Some(format!(
                "{} is a geometry (GeoPackage or SpatiaLite blob): kept as bytea, byte for byte",
                declared.trim()
            )),
        };
    }
    if upper.contains("BOOL") {
        return Mapping::sure(PgType::Boolean);
    }
    if upper.contains("DATETIME") || upper.contains("TIMESTAMP") {
        return Mapping::sure(PgType::Timestamptz);
    }
    if has_word(&upper, "DATE") {
        return Mapping::sure(PgType::Date);
    }
    if upper.contains("JSON") {
        return Mapping::sure(PgType::Jsonb);
    }
    if upper.contains("UUID") || upper.contains("GUID") {
        return Mapping::sure(PgType::Uuid);
    }
    match Affinity::of_declared_type(&upper) {
        Affinity::Integer => Mapping::sure(PgType::BigInt),
        Affinity::Real => Mapping::sure(PgType::DoublePrecision),
        Affinity::Text => Mapping::sure(PgType::Text),
        Affinity::Blob if upper.is_empty() => Mapping {
            pg_type: PgType::Text,
            note: Some(
                "no declared type; mapped to text, override in ferry.toml if it holds blobs"
                    .to_owned(),
            ),
        },
        Affinity::Blob => Mapping::sure(PgType::Bytea),
        Affinity::Numeric if upper.contains("NUMERIC") || upper.contains("DECIMAL") => {
            numeric(declared.trim(), &upper)
        }
        // `YEAR`, `LONG`, `MONEY`, even `STRING`: SQLite stores number-like
        // values in them as numbers, so numeric holds them exactly; stored
        // text widens the column when types come from stored values.
        Affinity::Numeric => Mapping {
            pg_type: PgType::Numeric(None),
            note: Some(format!(
                "declared type {} has NUMERIC affinity in SQLite (numbers are stored as \
                 numbers): mapped to numeric",
                declared.trim()
            )),
        },
    }
}

/// The geometry types of GeoPackage and SpatiaLite (OGC simple features),
/// whose values are binary blobs: `POINT` must not become a `bigint` for
/// the `INT` in its name, nor `POLYGON` text.
const GEOMETRY_TYPES: &[&str] = &[
    "GEOMETRY",
    "POINT",
    "LINESTRING",
    "POLYGON",
    "MULTIPOINT",
    "MULTILINESTRING",
    "MULTIPOLYGON",
    "GEOMETRYCOLLECTION",
    "CIRCULARSTRING",
    "COMPOUNDCURVE",
    "CURVEPOLYGON",
    "MULTICURVE",
    "MULTISURFACE",
    "CURVE",
    "SURFACE",
];

/// Whether an upper-cased declared type is a geometry type, alone or with
/// its dimensions (`POINT Z`, `POINTZM`, `MULTIPOLYGONM`).
pub(crate) fn is_geometry(upper: &str) -> bool {
    let compact: String = upper.split_whitespace().collect();
    ["", "Z", "M", "ZM"].iter().any(|dims| {
        compact
            .strip_suffix(dims)
            .is_some_and(|name| GEOMETRY_TYPES.contains(&name))
    })
}

/// `NUMERIC`, `DECIMAL(10,2)`, `NUMERIC(8)`: the arguments become the
/// Postgres typmod when Postgres can take them.
fn numeric(declared: &str, upper: &str) -> Mapping {
    let Some(open) = upper.find('(') else {
        return Mapping::sure(PgType::Numeric(None));
    };
    let args = upper[open + 1..].split(')').next().unwrap_or("");
    let mut parts = args.split(',').map(|p| p.trim().parse::<u32>());
    let precision = parts.next().and_then(Result::ok);
    let scale = match parts.next() {
        Some(s) => s.ok(),
        None => Some(0),
    };
    match (precision, scale, parts.next()) {
        (Some(p), Some(s), None) if (1..=MAX_NUMERIC_PRECISION).contains(&p) && s <= p => {
            // Both fit u16: p <= 1000 and s <= p.
            Mapping::sure(PgType::Numeric(Some((p as u16, s as u16))))
        }
        _ => Mapping {
            pg_type: PgType::Numeric(None),
            note: Some(format!(
                "precision and scale of {declared} are not valid for Postgres (precision 1-1000, \
                 scale 0-precision); mapped to unconstrained numeric"
            )),
        },
    }
}

/// Whether `word` appears in `text` delimited by non-identifier characters.
fn has_word(text: &str, word: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|w| w == word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_every_row_of_the_table() {
        let cases: &[(&str, PgType, bool)] = &[
            ("BOOLEAN", PgType::Boolean, false),
            ("bool", PgType::Boolean, false),
            ("DATETIME", PgType::Timestamptz, false),
            ("TIMESTAMP", PgType::Timestamptz, false),
            ("timestamp with time zone", PgType::Timestamptz, false),
            ("DATE", PgType::Date, false),
            ("date", PgType::Date, false),
            ("UPDATED", PgType::Numeric(None), true),
            ("JSON", PgType::Jsonb, false),
            ("jsonb", PgType::Jsonb, false),
            ("UUID", PgType::Uuid, false),
            ("GUID", PgType::Uuid, false),
            ("INTEGER", PgType::BigInt, false),
            ("int", PgType::BigInt, false),
            ("TINYINT", PgType::BigInt, false),
            ("BIGINT UNSIGNED", PgType::BigInt, false),
            ("REAL", PgType::DoublePrecision, false),
            ("DOUBLE PRECISION", PgType::DoublePrecision, false),
            ("FLOAT", PgType::DoublePrecision, false),
            ("TEXT", PgType::Text, false),
            ("VARCHAR(255)", PgType::Text, false),
            ("NCHAR(2)", PgType::Text, false),
            ("CLOB", PgType::Text, false),
            ("BLOB", PgType::Bytea, false),
            ("", PgType::Text, true),
            ("NUMERIC", PgType::Numeric(None), false),
            ("DECIMAL(10,2)", PgType::Numeric(Some((10, 2))), false),
            ("numeric( 8 )", PgType::Numeric(Some((8, 0))), false),
            ("DECIMAL(2000,2)", PgType::Numeric(None), true),
            ("DECIMAL(2,5)", PgType::Numeric(None), true),
            ("DECIMAL(x)", PgType::Numeric(None), true),
            ("STRING", PgType::Numeric(None), true),
            ("MONEY", PgType::Numeric(None), true),
            ("YEAR", PgType::Numeric(None), true),
            ("LONG", PgType::Numeric(None), true),
            ("POINT", PgType::Bytea, true),
            ("MultiPoint", PgType::Bytea, true),
            ("LINESTRING", PgType::Bytea, true),
            ("POLYGON Z", PgType::Bytea, true),
            ("GEOMETRYCOLLECTIONZM", PgType::Bytea, true),
            ("POINTER", PgType::BigInt, false),
            ("geometry_blob", PgType::Bytea, false),
        ];
        for &(declared, pg_type, noted) in cases {
            let m = map_type(declared);
            assert_eq!(m.pg_type, pg_type, "{declared}");
            assert_eq!(m.note.is_some(), noted, "{declared}: {:?}", m.note);
        }
    }

    #[test]
    fn notes_name_the_type() {
        assert_eq!(
            map_type("STRING").note.as_deref(),
            Some(
                "declared type STRING has NUMERIC affinity in SQLite (numbers are stored as \
                 numbers): mapped to numeric"
            )
        );
        assert_eq!(
            map_type("").note.as_deref(),
            Some("no declared type; mapped to text, override in ferry.toml if it holds blobs")
        );
    }
}
