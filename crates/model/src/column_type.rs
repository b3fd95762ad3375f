//! Column types a ferry.toml `type` may name: a [`PgType`] ferry sends, and
//! the typmod the column is created with when it narrows that type.

use std::fmt;
use std::str::FromStr;

use crate::types::{ParsePgTypeError, PgType};

/// Postgres's largest `varchar(n)` and `char(n)` length.
const MAX_CHARS: u32 = 10_485_760;

/// A typmod that narrows a type whose binary COPY format it does not
/// change: `varchar(n)` and `char(n)` travel as text, `timestamp(p)` as a
/// timestamp. Postgres applies it on the way in (cutting trailing spaces,
/// padding, rounding), so ferry checks it first and refuses a value it
/// would change. `numeric(p,s)` is a [`PgType`] of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Typmod {
    /// None: the type as [`PgType`] names it.
    #[default]
    None,
    /// `character varying`, at most `n` characters when given.
    Varchar(Option<u32>),
    /// `character(n)`: exactly `n` characters, shorter values padded with
    /// spaces.
    Char(u32),
    /// `timestamp(p)`, `timestamptz(p)`: `p` (0 to 6) fractional digits.
    Precision(u8),
}

/// A column type as a config names it: what ferry sends and how the
/// column is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ColumnType {
    /// The type whose binary format ferry sends.
    pub pg_type: PgType,
    /// What the column's declaration adds.
    pub typmod: Typmod,
}

impl fmt::Display for ColumnType {
    /// As Postgres's `format_type` prints it (`character varying(5)`,
    /// `timestamp(0) with time zone`), so a column read back from the
    /// catalog compares equal as text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.typmod, self.pg_type) {
            (Typmod::Varchar(None), _) => f.write_str("character varying"),
            (Typmod::Varchar(Some(n)), _) => write!(f, "character varying({n})"),
            (Typmod::Char(n), _) => write!(f, "character({n})"),
            (Typmod::Precision(p), PgType::Timestamptz) => {
                write!(f, "timestamp({p}) with time zone")
            }
            (Typmod::Precision(p), _) => write!(f, "timestamp({p}) without time zone"),
            (Typmod::None, pg_type) => pg_type.fmt(f),
        }
    }
}

impl FromStr for ColumnType {
    type Err = ParsePgTypeError;

    /// Every name [`PgType`] reads, and `varchar[(n)]`, `character
    /// varying[(n)]`, `char[(n)]`, `character[(n)]`, `timestamp(p)`,
    /// `timestamp(p) with[out] time zone` and `timestamptz(p)`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(pg_type) = s.parse::<PgType>() {
            return Ok(ColumnType {
                pg_type,
                typmod: Typmod::None,
            });
        }
        let err = || ParsePgTypeError(s.to_owned());
        let normalized = s.trim().to_ascii_lowercase();
        let normalized = normalized.split_whitespace().collect::<Vec<_>>().join(" ");
        // `name(args) rest`: the arguments and what follows them.
        let (name, args, rest) = match normalized.split_once('(') {
            Some((name, after)) => {
                let (args, rest) = after.split_once(')').ok_or_else(err)?;
                (name.trim(), Some(args.trim()), rest.trim())
            }
            None => (normalized.as_str(), None, ""),
        };
        let number = |max: u32| -> Result<Option<u32>, ParsePgTypeError> {
            args.map(|a| match a.parse::<u32>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(err()),
            })
            .transpose()
        };
        let text = |typmod| ColumnType {
            pg_type: PgType::Text,
            typmod,
        };
        match (name, rest) {
            ("varchar" | "character varying", "") => Ok(text(Typmod::Varchar(number(MAX_CHARS)?))),
            ("char" | "character", "") => Ok(text(Typmod::Char(number(MAX_CHARS)?.unwrap_or(1)))),
            ("timestamp", "" | "without time zone")
            | ("timestamptz", "")
            | ("timestamp", "with time zone")
                if args.is_some() =>
            {
                let precision = match args.and_then(|a| a.parse::<u8>().ok()) {
                    Some(p) if p <= 6 => p,
                    _ => return Err(err()),
                };
                let pg_type = if name == "timestamptz" || rest == "with time zone" {
                    PgType::Timestamptz
                } else {
                    PgType::Timestamp
                };
                Ok(ColumnType {
                    pg_type,
                    typmod: Typmod::Precision(precision),
                })
            }
            _ => Err(err()),
        }
    }
}

/// A type a ferry.toml `type` names that ferry does not create itself: a
/// domain (`app.email`), an extension's type (`citext`), an enum. Only
/// the target knows what it is: the engine looks it up there before any
/// DDL and decides which of its own types' binary COPY format the values
/// travel in (the column's [`ColumnType`]), or refuses it (an array,
/// `tsvector`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NamedType {
    /// The name as ferry.toml writes it, used as written in the DDL.
    pub name: String,
    /// The name as the target's `format_type` prints it (`app.email`,
    /// `citext[]`), to compare with a column read from its catalog;
    /// `None` until the target was asked.
    pub shown: Option<String>,
    /// Whether Postgres can compress its values (`typstorage` extended or
    /// main: a text domain, `citext`, not an enum); false until
    /// the target was asked.
    pub compressible: bool,
}

impl NamedType {
    /// Whether `name` could be a type the target has that [`ColumnType`]
    /// does not read: an identifier, optionally schema-qualified and
    /// double-quoted, optionally followed by `[]`. Typmods (`(…)`) are
    /// ferry's own types' alone: a domain carries its own.
    pub fn is_plausible(name: &str) -> bool {
        let name = name.trim();
        let base = name.strip_suffix("[]").unwrap_or(name).trim_end();
        let mut quoted = false;
        let mut empty = true;
        for c in base.chars() {
            match c {
                '"' => quoted = !quoted,
                _ if quoted => {}
                '(' | ')' | '[' | ']' | ';' | '\'' | '\\' => return false,
                _ if c.is_control() => return false,
                _ => {}
            }
            empty = false;
        }
        !quoted && !empty
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_typmods_and_prints_them_as_postgres_does() {
        let cases = [
            ("varchar(200)", "character varying(200)"),
            ("VARCHAR ( 5 )", "character varying(5)"),
            ("character varying", "character varying"),
            ("char(3)", "character(3)"),
            ("character", "character(1)"),
            ("timestamptz(0)", "timestamp(0) with time zone"),
            ("timestamp(3) with time zone", "timestamp(3) with time zone"),
            (
                "timestamp(6) without time zone",
                "timestamp(6) without time zone",
            ),
            ("timestamp(2)", "timestamp(2) without time zone"),
            ("numeric(12,2)", "numeric(12,2)"),
            ("text", "text"),
            ("timestamp with time zone", "timestamptz"),
        ];
        for (text, shown) in cases {
            let parsed = text.parse::<ColumnType>();
            assert_eq!(
                parsed.map(|t| t.to_string()),
                Ok(shown.to_owned()),
                "{text}"
            );
            assert_eq!(
                shown.parse::<ColumnType>(),
                text.parse::<ColumnType>(),
                "{shown}"
            );
        }
        assert_eq!(
            "varchar(5)".parse(),
            Ok(ColumnType {
                pg_type: PgType::Text,
                typmod: Typmod::Varchar(Some(5))
            })
        );
    }

    #[test]
    fn refuses_what_postgres_or_ferry_cannot_take() {
        for bad in [
            "varchar(0)",
            "varchar(10485761)",
            "varchar(x)",
            "varchar(5",
            "char(3) extra",
            "timestamp(7)",
            "timestamptz(3) with time zone",
            "citext",
            "text[]",
            "interval",
        ] {
            let err = bad.parse::<ColumnType>().unwrap_err();
            assert!(err.to_string().contains("varchar(n)"), "{bad}: {err}");
        }
    }
}

#[cfg(test)]
mod named_tests {
    use super::NamedType;

    #[test]
    fn plausible_names_are_identifiers_and_arrays_of_them() {
        for good in [
            "citext",
            "app.email",
            "\"App\".\"E-mail\"",
            "text[]",
            "double precision[]",
            "\"odd(name)\"",
        ] {
            assert!(NamedType::is_plausible(good), "{good}");
        }
        for bad in [
            "",
            "[]",
            "text[][]",
            "email(5)",
            "varchar(5)[]",
            "text; DROP TABLE x",
            "\"unclosed",
            "a'b",
        ] {
            assert!(!NamedType::is_plausible(bad), "{bad}");
        }
    }
}
