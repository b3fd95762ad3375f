//! A typmod's check on a value already of its base type: `varchar(n)`,
//! `char(n)` and `timestamp(p)` columns receive their base type's binary
//! format, and Postgres applies the typmod on the way in by cutting
//! trailing spaces, padding or rounding. ferry refuses every value the
//! typmod would change, and pads `char(n)` values itself so that what it
//! sends is what Postgres stores and returns.

use std::borrow::Cow;

use ferry_model::{ColumnType, PgValue, Typmod, MICROS_PER_SECOND};

/// The hint for values a typmod refuses.
pub(super) const WIDER: &str =
    "fix the value or map the column to a wider type (text, timestamptz) in ferry.toml";

/// `value` as the column of `column_type` stores it, or why it cannot be.
pub(super) fn narrow<'a>(
    value: PgValue<'a>,
    typmod: Typmod,
    column_type: ColumnType,
) -> Result<PgValue<'a>, String> {
    match (typmod, value) {
        (Typmod::Varchar(Some(n)), PgValue::Text(text)) => {
            let chars = text.chars().count();
            if chars > n as usize {
                return Err(too_long(chars, column_type));
            }
            Ok(PgValue::Text(text))
        }
        (Typmod::Char(n), PgValue::Text(text)) => {
            let chars = text.chars().count();
            if chars > n as usize {
                return Err(too_long(chars, column_type));
            }
            if chars == n as usize {
                return Ok(PgValue::Text(text));
            }
            if text.ends_with(' ') {
                return Err(format!(
                    "ends in spaces, which {column_type} does not tell from its padding"
                ));
            }
            let mut padded = text.into_owned();
            padded.extend(std::iter::repeat_n(' ', n as usize - chars));
            Ok(PgValue::Text(Cow::Owned(padded)))
        }
        (Typmod::Precision(p), value @ (PgValue::Timestamp(m) | PgValue::Timestamptz(m))) => {
            let unit = MICROS_PER_SECOND / 10_i64.pow(u32::from(p));
            if m.rem_euclid(unit) != 0 {
                return Err(format!(
                    "has more fractional digits than {column_type} keeps ({p}); Postgres \
                     would round it"
                ));
            }
            Ok(value)
        }
        (_, value) => Ok(value),
    }
}

fn too_long(chars: usize, column_type: ColumnType) -> String {
    format!(
        "is {}, longer than {column_type} holds",
        ferry_model::plural(chars, "character", "characters")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_model::PgType;

    fn text(typmod: Typmod, value: &str) -> Result<String, String> {
        let column_type = ColumnType {
            pg_type: PgType::Text,
            typmod,
        };
        match narrow(PgValue::Text(value.into()), typmod, column_type)? {
            PgValue::Text(t) => Ok(t.into_owned()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn varchar_refuses_what_is_too_long_counting_characters() {
        let five = Typmod::Varchar(Some(5));
        assert_eq!(text(five, "héllo"), Ok("héllo".to_owned()));
        assert_eq!(text(five, ""), Ok(String::new()));
        assert_eq!(
            text(five, "hello "),
            Err("is 6 characters, longer than character varying(5) holds".to_owned()),
            "Postgres would cut the space silently"
        );
        assert_eq!(
            text(Typmod::Varchar(None), "any length"),
            Ok("any length".into())
        );
    }

    #[test]
    fn char_pads_and_refuses_what_padding_would_hide() {
        let three = Typmod::Char(3);
        assert_eq!(text(three, "ab"), Ok("ab ".to_owned()));
        assert_eq!(text(three, "abc"), Ok("abc".to_owned()));
        assert_eq!(text(three, "a c"), Ok("a c".to_owned()));
        assert_eq!(text(three, "ab "), Ok("ab ".to_owned()));
        assert_eq!(
            text(three, "a "),
            Err("ends in spaces, which character(3) does not tell from its padding".into())
        );
        assert_eq!(
            text(three, "abcd"),
            Err("is 4 characters, longer than character(3) holds".into())
        );
    }

    #[test]
    fn precision_refuses_what_postgres_would_round() {
        let zero = ColumnType {
            pg_type: PgType::Timestamptz,
            typmod: Typmod::Precision(0),
        };
        let at = |m| narrow(PgValue::Timestamptz(m), zero.typmod, zero);
        assert_eq!(at(-5_000_000), Ok(PgValue::Timestamptz(-5_000_000)));
        assert_eq!(
            at(1_500_000),
            Err(
                "has more fractional digits than timestamp(0) with time zone keeps (0); \
                 Postgres would round it"
                    .into()
            )
        );
        let three = ColumnType {
            pg_type: PgType::Timestamp,
            typmod: Typmod::Precision(3),
        };
        let at = |m| narrow(PgValue::Timestamp(m), three.typmod, three).is_ok();
        assert!(at(1_001_000));
        assert!(at(-1_000));
        assert!(!at(1_000_100));
        assert!(!at(-1));
    }
}
