//! Postgres column types ferry creates.

use std::fmt;
use std::str::FromStr;

/// A Postgres column type ferry knows how to create, fill and verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PgType {
    /// `boolean`
    Boolean,
    /// `smallint`
    SmallInt,
    /// `integer`
    Integer,
    /// `bigint`
    BigInt,
    /// `real` (float4)
    Real,
    /// `double precision` (float8)
    DoublePrecision,
    /// `numeric`, optionally `numeric(precision, scale)`.
    Numeric(Option<(u16, u16)>),
    /// `text`
    Text,
    /// `bytea`
    Bytea,
    /// `date`
    Date,
    /// `timestamp` (without time zone)
    Timestamp,
    /// `timestamptz`
    Timestamptz,
    /// `jsonb`
    Jsonb,
    /// `uuid`
    Uuid,
}

impl fmt::Display for PgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PgType::Boolean => f.write_str("boolean"),
            PgType::SmallInt => f.write_str("smallint"),
            PgType::Integer => f.write_str("integer"),
            PgType::BigInt => f.write_str("bigint"),
            PgType::Real => f.write_str("real"),
            PgType::DoublePrecision => f.write_str("double precision"),
            PgType::Numeric(None) => f.write_str("numeric"),
            PgType::Numeric(Some((p, s))) => write!(f, "numeric({p},{s})"),
            PgType::Text => f.write_str("text"),
            PgType::Bytea => f.write_str("bytea"),
            PgType::Date => f.write_str("date"),
            PgType::Timestamp => f.write_str("timestamp"),
            PgType::Timestamptz => f.write_str("timestamptz"),
            PgType::Jsonb => f.write_str("jsonb"),
            PgType::Uuid => f.write_str("uuid"),
        }
    }
}

/// A type name in a config file that ferry cannot create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsePgTypeError(pub String);

impl fmt::Display for ParsePgTypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown Postgres type '{}'; use one of boolean, smallint, integer, bigint, real, \
             double precision, numeric, numeric(p,s), text, bytea, date, timestamp, timestamptz, \
             jsonb, uuid",
            self.0
        )
    }
}

impl std::error::Error for ParsePgTypeError {}

impl FromStr for PgType {
    type Err = ParsePgTypeError;

    /// Accepts the names Postgres prints and their common aliases
    /// (`int8`, `float8`, `bool`, `timestamp with time zone`, `decimal`…).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let normalized = s.trim().to_ascii_lowercase();
        let normalized = normalized.split_whitespace().collect::<Vec<_>>().join(" ");
        let err = || ParsePgTypeError(s.to_owned());
        if let Some(args) = normalized
            .strip_prefix("numeric")
            .or_else(|| normalized.strip_prefix("decimal"))
        {
            let args = args.trim();
            if args.is_empty() {
                return Ok(PgType::Numeric(None));
            }
            let inner = args
                .strip_prefix('(')
                .and_then(|a| a.strip_suffix(')'))
                .ok_or_else(err)?;
            let mut parts = inner.split(',').map(|p| p.trim().parse::<u16>());
            let precision = parts.next().ok_or_else(err)?.map_err(|_| err())?;
            let scale = match parts.next() {
                Some(scale) => scale.map_err(|_| err())?,
                None => 0,
            };
            if parts.next().is_some() || precision == 0 || precision > 1000 || scale > precision {
                return Err(err());
            }
            return Ok(PgType::Numeric(Some((precision, scale))));
        }
        Ok(match normalized.as_str() {
            "boolean" | "bool" => PgType::Boolean,
            "smallint" | "int2" => PgType::SmallInt,
            "integer" | "int" | "int4" => PgType::Integer,
            "bigint" | "int8" => PgType::BigInt,
            "real" | "float4" => PgType::Real,
            "double precision" | "float8" | "double" => PgType::DoublePrecision,
            "text" => PgType::Text,
            "bytea" => PgType::Bytea,
            "date" => PgType::Date,
            "timestamp" | "timestamp without time zone" => PgType::Timestamp,
            "timestamptz" | "timestamp with time zone" => PgType::Timestamptz,
            "jsonb" => PgType::Jsonb,
            "uuid" => PgType::Uuid,
            _ => return Err(err()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_parses_back() {
        let all = [
            PgType::Boolean,
            PgType::SmallInt,
            PgType::Integer,
            PgType::BigInt,
            PgType::Real,
            PgType::DoublePrecision,
            PgType::Numeric(None),
            PgType::Numeric(Some((12, 4))),
            PgType::Text,
            PgType::Bytea,
            PgType::Date,
            PgType::Timestamp,
            PgType::Timestamptz,
            PgType::Jsonb,
            PgType::Uuid,
        ];
        for t in all {
            assert_eq!(t.to_string().parse::<PgType>(), Ok(t));
        }
    }

    #[test]
    fn parses_aliases_and_rejects_nonsense() {
        assert_eq!("DECIMAL(10, 2)".parse(), Ok(PgType::Numeric(Some((10, 2)))));
        assert_eq!("Timestamp With  Time Zone".parse(), Ok(PgType::Timestamptz));
        assert!("varchar(3)".parse::<PgType>().is_err());
        assert!("numeric(2,3)".parse::<PgType>().is_err());
    }
}
