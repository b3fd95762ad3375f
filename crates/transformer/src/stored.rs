//! Types from stored values: SQLite keeps any value in any column, and
//! real applications use that (an Anki `sfld INTEGER` holding text, dates
//! and user names in `INTEGER` columns). A column whose stored values do
//! not all become its mapped type is given the narrowest wider type that
//! holds every one of them exactly, with a warning, rather than refusing
//! the copy (issue 15).
//!
//! Finding those values must not cost a copy's worth of work, so SQLite
//! itself filters the rows: [`certainly_fits_sql`] is a cheap test, on the
//! stored value's class and shape, that a value certainly becomes the
//! type; only the values it does not vouch for come back, and
//! [`StoredValues`] coerces them with ferry's own rules.

use std::collections::BTreeSet;

use ferry_model::{ColumnPlan, PgType, SourceValueRef};

use crate::coerce::coerce;

/// An SQLite expression, true for a non-NULL stored value of the column
/// `column_sql` (a quoted identifier) that certainly becomes `pg_type`;
/// `None` for a type whose values are not checked this way (a type set in
/// ferry.toml, whose values are then the user's choice).
///
/// It errs towards false: a value it does not vouch for is coerced, which
/// decides. Text is tested on its class and a character or two, never
/// parsed (a `GLOB` costs SQLite ten times a `typeof`).
pub fn certainly_fits_sql(pg_type: PgType, column_sql: &str) -> Option<String> {
    let c = column_sql;
    Some(match pg_type {
        PgType::BigInt => format!("typeof({c}) = 'integer'"),
        PgType::DoublePrecision => format!("typeof({c}) = 'real'"),
        PgType::Numeric(None) => format!("typeof({c}) IN ('integer', 'real')"),
        PgType::Boolean => format!("typeof({c}) = 'integer' AND {c} IN (0, 1)"),
        PgType::Timestamptz => format!(
            "typeof({c}) IN ('integer', 'real') OR typeof({c}) = 'text' AND substr({c}, 5, 1) = '-'"
        ),
        PgType::Date => {
            format!("typeof({c}) = 'text' AND length({c}) = 10 AND substr({c}, 5, 1) = '-'")
        }
        PgType::Jsonb => format!("typeof({c}) = 'text'"),
        PgType::Uuid => format!("typeof({c}) = 'text' AND length({c}) = 36"),
        PgType::Text => format!("typeof({c}) = 'text'"),
        _ => return None,
    })
}

/// The types a column of `pg_type` may widen to, narrowest first. Each
/// takes every value of the classes [`certainly_fits_sql`] vouches for,
/// exactly, so only the values it did not vouch for need trying.
fn wider_types(pg_type: PgType) -> &'static [PgType] {
    match pg_type {
        PgType::Boolean => &[PgType::BigInt, PgType::Numeric(None), PgType::Text],
        PgType::BigInt | PgType::DoublePrecision => &[PgType::Numeric(None), PgType::Text],
        PgType::Text => &[PgType::Bytea],
        PgType::Numeric(None)
        | PgType::Timestamptz
        | PgType::Date
        | PgType::Jsonb
        | PgType::Uuid => &[PgType::Text],
        _ => &[],
    }
}

/// SQLite's name of a value's storage class.
fn class(value: SourceValueRef<'_>) -> &'static str {
    match value {
        SourceValueRef::Null => "null",
        SourceValueRef::Integer(_) => "integer",
        SourceValueRef::Real(_) => "real",
        SourceValueRef::Text(_) => "text",
        SourceValueRef::Blob(_) => "blob",
    }
}

/// What one column's stored values say about its type: fed every value
/// [`certainly_fits_sql`] did not vouch for.
#[derive(Clone, Debug)]
pub struct StoredValues {
    column: ColumnPlan,
    /// Values that do not become the mapped type.
    misfits: u64,
    /// Their storage classes.
    classes: BTreeSet<&'static str>,
    /// The row key of the first, as errors name rows.
    example: Option<String>,
    /// The column as each wider type, and whether every value seen so far
    /// becomes it.
    candidates: Vec<(ColumnPlan, bool)>,
}

impl StoredValues {
    /// The checker of `column`, or `None` when its type is not checked
    /// (see [`certainly_fits_sql`]).
    pub fn new(column: &ColumnPlan) -> Option<StoredValues> {
        certainly_fits_sql(column.pg_type, "c")?;
        Some(StoredValues {
            column: column.clone(),
            misfits: 0,
            classes: BTreeSet::new(),
            example: None,
            candidates: wider_types(column.pg_type)
                .iter()
                .map(|&pg_type| {
                    let wider = ColumnPlan {
                        pg_type,
                        ..column.clone()
                    };
                    (wider, true)
                })
                .collect(),
        })
    }

    /// Looks at one stored value; `key` names its row.
    pub fn observe(&mut self, value: SourceValueRef<'_>, key: impl FnOnce() -> String) {
        if matches!(value, SourceValueRef::Null) {
            return;
        }
        for (wider, fits) in &mut self.candidates {
            if *fits {
                *fits = coerce(wider, value).is_ok();
            }
        }
        if coerce(&self.column, value).is_err() {
            self.misfits += 1;
            self.classes.insert(class(value));
            self.example.get_or_insert_with(key);
        }
    }

    /// Adds what another checker of the same column saw, over rows that
    /// come after this one's (its first misfit counts only when this one
    /// has none).
    pub fn merge(&mut self, later: StoredValues) {
        self.misfits += later.misfits;
        self.classes.extend(later.classes);
        if self.example.is_none() {
            self.example = later.example;
        }
        for ((_, fits), (_, later)) in self.candidates.iter_mut().zip(later.candidates) {
            *fits &= later;
        }
    }

    /// The wider type every stored value becomes exactly, and the warning
    /// that says why; `None` when every value fits the mapped type, or
    /// no wider type holds them all (the copy then names the bad values as
    /// before).
    ///
    /// Text holding non-UTF-8 or NUL bytes stays text (bad values, or
    /// `strip_nul`/`invalid_utf8` in ferry.toml): only blobs in a text
    /// column make it bytea.
    pub fn widened(&self) -> Option<(PgType, String)> {
        if self.misfits == 0 {
            return None;
        }
        if self.column.pg_type == PgType::Text && self.classes.iter().any(|&c| c != "blob") {
            return None;
        }
        let pg_type = self.candidates.iter().find(|(_, fits)| *fits)?.0.pg_type;
        let classes: Vec<&str> = self.classes.iter().copied().collect();
        Some((
            pg_type,
            format!(
                "column {}: declared {} but {} ({}, first at {}) {} not become {}; mapped to \
                 {pg_type}, which holds every stored value exactly (--types declared keeps {} \
                 and refuses them)",
                self.column.source_name,
                match self.column.declared_type.trim() {
                    "" => "without a type",
                    declared => declared,
                },
                match self.misfits {
                    1 => "1 stored value".to_owned(),
                    n => format!("{n} stored values"),
                },
                classes.join(", "),
                self.example.as_deref().unwrap_or("?"),
                if self.misfits == 1 { "does" } else { "do" },
                self.column.pg_type,
                self.column.pg_type
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(declared: &str, pg_type: PgType) -> ColumnPlan {
        ColumnPlan::new("c", declared, pg_type)
    }

    fn widened(declared: &str, pg_type: PgType, values: &[SourceValueRef<'_>]) -> Option<PgType> {
        let mut stored = StoredValues::new(&column(declared, pg_type)).unwrap();
        for (i, value) in values.iter().enumerate() {
            stored.observe(*value, || format!("id={i}"));
        }
        stored.widened().map(|(t, _)| t)
    }

    #[test]
    fn the_narrowest_type_holding_every_value_wins() {
        use SourceValueRef::*;
        // Digits in text still fit bigint; words do not.
        assert_eq!(
            widened("INTEGER", PgType::BigInt, &[Text(b"42"), Null]),
            None
        );
        assert_eq!(
            widened("INTEGER", PgType::BigInt, &[Text(b"42"), Text(b"hello")]),
            Some(PgType::Text)
        );
        assert_eq!(
            widened("INTEGER", PgType::BigInt, &[Real(1.5)]),
            Some(PgType::Numeric(None))
        );
        assert_eq!(
            widened("BOOLEAN", PgType::Boolean, &[Integer(2)]),
            Some(PgType::BigInt)
        );
        assert_eq!(
            widened("DATE", PgType::Date, &[Text(b"2024-01-01"), Text(b"alice")]),
            Some(PgType::Text)
        );
        assert_eq!(
            widened("TEXT", PgType::Text, &[Blob(&[0, 1, 2])]),
            Some(PgType::Bytea)
        );
        // Text that no type holds exactly stays a bad value.
        assert_eq!(widened("TEXT", PgType::Text, &[Text(b"a\0b")]), None);
        assert_eq!(
            widened("TEXT", PgType::Text, &[Blob(&[0]), Text(&[0xff])]),
            None
        );
        assert_eq!(
            widened("INTEGER", PgType::BigInt, &[Blob(&[0xff, 0])]),
            None
        );
    }

    #[test]
    fn the_warning_names_column_counts_classes_and_a_row() {
        let mut stored = StoredValues::new(&column("INTEGER", PgType::BigInt)).unwrap();
        stored.observe(SourceValueRef::Text(b"x"), || "id=7".into());
        stored.observe(SourceValueRef::Real(0.5), || "id=8".into());
        let (pg_type, warning) = stored.widened().unwrap();
        assert_eq!(pg_type, PgType::Text);
        assert_eq!(
            warning,
            "column c: declared INTEGER but 2 stored values (real, text, first at id=7) do not \
             become bigint; mapped to text, which holds every stored value exactly (--types \
             declared keeps bigint and refuses them)"
        );
    }

    #[test]
    fn checkers_of_separate_rows_merge() {
        let column = column("INTEGER", PgType::BigInt);
        let mut first = StoredValues::new(&column).unwrap();
        first.observe(SourceValueRef::Integer(1), || "id=1".into());
        let mut second = StoredValues::new(&column).unwrap();
        second.observe(SourceValueRef::Text(b"x"), || "id=9".into());
        second.observe(SourceValueRef::Blob(&[0xff]), || "id=10".into());
        first.merge(second);
        // The blob fits neither numeric nor text: nothing holds them all.
        assert_eq!(first.widened(), None);
        assert_eq!(first.misfits, 2);
        assert_eq!(first.example.as_deref(), Some("id=9"));
    }

    #[test]
    fn types_set_by_hand_are_not_checked() {
        assert!(StoredValues::new(&column("INTEGER", PgType::Integer)).is_none());
        assert!(certainly_fits_sql(PgType::Bytea, "\"c\"").is_none());
    }
}
