//! Reading only some rows and some columns of a table, filtered by SQLite
//! itself, for incremental syncs that must not read a whole table on every
//! run.
//!
//! A cursor filter (`"col" >= ?`) compares raw stored values the way SQLite
//! does: integers and reals before text, text by its bytes. That order only
//! matches the order of the values' meaning when every stored value of the
//! column has the same storage class and, for text, one fixed-width
//! sortable format. [`SourceDb::column_shape`] finds out which, in one pass
//! over that column alone; callers filter in SQL only for a shape
//! other than [`ColumnShape::Mixed`], and re-check each returned row in
//! their own terms, since the SQL filter is only ever a superset.

use std::convert::Infallible;

use ferry_model::{SourceValueRef, TableSchema};
use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::ToSql;

use crate::chunk::{recycle, rowid_expr, source_value};
use crate::db::SourceDb;
use crate::error::{ReadError, ReadOrRow};
use crate::ident::quote_sqlite_ident;

/// Which rows [`SourceDb::read_selected`] returns.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RowSelection<'a> {
    /// Every row.
    All,
    /// Rows whose rowid is greater than this (tables with a rowid only).
    RowidAbove(i64),
    /// Rows for which an SQLite expression over the table's columns is
    /// true, within an inclusive rowid range when one is given (tables
    /// with a rowid only). The connection is read-only, so the expression
    /// can change nothing; it is the caller's SQL, quoted by the caller.
    Where {
        /// The expression.
        predicate: &'a str,
        /// First and last rowid.
        rowids: Option<(i64, i64)>,
    },
    /// Rows whose `column` compares `>=` to `bound` in SQLite's terms, and
    /// rows where it is NULL (they have no place in the order, so a caller
    /// keeping a watermark sees them on every run).
    AtLeast {
        /// Source column name.
        column: &'a str,
        /// The lower bound, in the storage class of the column's values.
        bound: SourceValueRef<'a>,
    },
}

/// What one column of a table holds, as far as ordering it in SQL goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnShape {
    /// Only NULLs (or no rows).
    Empty,
    /// Only integers (and NULLs).
    Integer,
    /// Only reals (and NULLs).
    Real,
    /// Only text of the form `YYYY-MM-DD?HH:MM:SS[.digits]`, no offset,
    /// with `separator` at the `?` in every value: such text sorts
    /// bytewise in time order.
    SortableText {
        /// The byte between date and time, `b' '` or `b'T'`.
        separator: u8,
    },
    /// Anything else: SQL order is not the values' order.
    Mixed,
}

impl SourceDb {
    /// Streams the rows `selection` picks, in rowid order (key order for a
    /// `WITHOUT ROWID` table), like [`SourceDb::read_chunk`]. With
    /// `columns`, `on_row` receives only the values at those positions of
    /// [`TableSchema::columns`], in that order: a key-only pass then reads
    /// no other column.
    ///
    /// # Errors
    ///
    /// [`ReadOrRow::Read`] with a [`ReadError`] naming the table:
    /// [`ReadError::NoRowid`] for [`RowSelection::RowidAbove`] on a table
    /// without a rowid, [`ReadError::Query`] for a column that is not in
    /// the table. [`ReadOrRow::Row`] with the first error `on_row` returns,
    /// which ends the read there.
    pub fn read_selected<E>(
        &self,
        table: &TableSchema,
        selection: RowSelection<'_>,
        columns: Option<&[usize]>,
        on_row: &mut crate::OnRow<'_, E>,
    ) -> Result<u64, ReadOrRow<E>> {
        let rowid = if table.without_rowid {
            None
        } else {
            Some(rowid_expr(table)?)
        };
        let all: Vec<usize> = (0..table.columns.len()).collect();
        let picked = columns.unwrap_or(&all);
        let mut select: Vec<String> = rowid.iter().cloned().collect();
        for &at in picked {
            let column = table.columns.get(at).ok_or_else(|| ReadError::Query {
                table: table.name.clone(),
                source: rusqlite::Error::InvalidColumnIndex(at),
            })?;
            select.push(quote_sqlite_ident(&column.name));
        }
        if select.is_empty() {
            // No rowid and no column asked for: still one value per row.
            select.push("1".to_owned());
        }
        let from = format!(
            "SELECT {} FROM main.{}",
            select.join(", "),
            quote_sqlite_ident(&table.name)
        );
        let order = match &rowid {
            Some(rowid) => format!(" ORDER BY {rowid}"),
            None if !table.primary_key.is_empty() => format!(
                " ORDER BY {}",
                table
                    .primary_key
                    .iter()
                    .map(|k| quote_sqlite_ident(k))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => String::new(),
        };
        let (sql, bound) = match selection {
            RowSelection::All => (format!("{from}{order}"), None),
            RowSelection::RowidAbove(after) => {
                let rowid = rowid.as_ref().ok_or_else(|| ReadError::NoRowid {
                    table: table.name.clone(),
                })?;
                (
                    format!("{from} WHERE {rowid} > ?1{order}"),
                    Some(Value::Integer(after)),
                )
            }
            RowSelection::Where { predicate, rowids } => match (rowids, &rowid) {
                (None, _) => (format!("{from} WHERE {predicate}{order}"), None),
                // Integers: safe to write into the statement.
                (Some((first, last)), Some(rowid)) => (
                    format!(
                        "{from} WHERE {rowid} BETWEEN {first} AND {last} AND ({predicate}){order}"
                    ),
                    None,
                ),
                (Some(_), None) => {
                    return Err(ReadError::NoRowid {
                        table: table.name.clone(),
                    }
                    .into())
                }
            },
            RowSelection::AtLeast { column, bound } => {
                if table.column_index(column).is_none() {
                    return Err(ReadError::Query {
                        table: table.name.clone(),
                        source: rusqlite::Error::InvalidColumnName(column.to_owned()),
                    }
                    .into());
                }
                let column = quote_sqlite_ident(column);
                (
                    format!("{from} WHERE {column} >= ?1 OR {column} IS NULL{order}"),
                    Some(owned_value(bound)),
                )
            }
        };

        let fail = |e| self.table_error(&table.name, e);
        let mut stmt = self.conn.prepare_cached(&sql).map_err(fail)?;
        let mut rows = match &bound {
            Some(bound) => stmt.query([Bound(bound)]),
            None => stmt.query([]),
        }
        .map_err(fail)?;
        let first_value = usize::from(rowid.is_some());
        let mut buffer: Vec<SourceValueRef<'static>> = Vec::with_capacity(picked.len());
        let mut visited = 0u64;
        while let Some(row) = rows.next().map_err(fail)? {
            let mut values = recycle(std::mem::take(&mut buffer));
            let rowid = match rowid {
                Some(_) => Some(row.get::<_, i64>(0).map_err(fail)?),
                None => None,
            };
            for i in 0..picked.len() {
                values.push(source_value(row.get_ref(first_value + i).map_err(fail)?));
            }
            visited += 1;
            let done = on_row(rowid, &values);
            buffer = recycle(values);
            done.map_err(ReadOrRow::Row)?;
        }
        Ok(visited)
    }

    /// The [`ColumnShape`] of `column`: one scan of that column alone,
    /// each stored value classified here (the same test as SQL `GLOB`
    /// patterns costs SQLite ten times as much per row), stopping at the
    /// first row that rules every ordered shape out.
    ///
    /// # Errors
    ///
    /// A [`ReadError`] naming the table (an unknown column included).
    pub fn column_shape(
        &self,
        table: &TableSchema,
        column: &str,
    ) -> Result<ColumnShape, ReadError> {
        let sql = format!(
            "SELECT {} FROM main.{}",
            quote_sqlite_ident(column),
            quote_sqlite_ident(&table.name)
        );
        let fail = |e| self.table_error(&table.name, e);
        let mut stmt = self.conn.prepare_cached(&sql).map_err(fail)?;
        let mut rows = stmt.query([]).map_err(fail)?;
        let mut counts = ShapeCounts::default();
        while let Some(row) = rows.next().map_err(fail)? {
            counts.add(row.get_ref(0).map_err(fail)?);
            if counts.shape() == ColumnShape::Mixed {
                break;
            }
        }
        Ok(counts.shape())
    }

    /// How many rows `selection` picks, reading no column.
    ///
    /// # Errors
    ///
    /// As [`SourceDb::read_selected`].
    pub fn count_selected(
        &self,
        table: &TableSchema,
        selection: RowSelection<'_>,
    ) -> Result<u64, ReadError> {
        Ok(
            self.read_selected(table, selection, Some(&[]), &mut |_, _| {
                Ok::<_, Infallible>(())
            })?,
        )
    }
}

/// How many stored values of a column have each ordered shape.
#[derive(Default)]
struct ShapeCounts {
    values: u64,
    integers: u64,
    reals: u64,
    spaced: u64,
    t_separated: u64,
}

impl ShapeCounts {
    fn add(&mut self, value: ValueRef<'_>) {
        match value {
            ValueRef::Null => return,
            ValueRef::Integer(_) => self.integers += 1,
            ValueRef::Real(_) => self.reals += 1,
            ValueRef::Text(text) => match sortable_separator(text) {
                Some(b' ') => self.spaced += 1,
                Some(_) => self.t_separated += 1,
                None => {}
            },
            ValueRef::Blob(_) => {}
        }
        self.values += 1;
    }

    /// The one shape every value counted so far has.
    fn shape(&self) -> ColumnShape {
        let all = |count| count == self.values;
        if self.values == 0 {
            ColumnShape::Empty
        } else if all(self.integers) {
            ColumnShape::Integer
        } else if all(self.reals) {
            ColumnShape::Real
        } else if all(self.spaced) {
            ColumnShape::SortableText { separator: b' ' }
        } else if all(self.t_separated) {
            ColumnShape::SortableText { separator: b'T' }
        } else {
            ColumnShape::Mixed
        }
    }
}

/// The byte between date and time (`b' '` or `b'T'`) of text shaped
/// `YYYY-MM-DD?HH:MM:SS[.digits]`, at most 26 bytes and no offset, which
/// sorts bytewise in time order; `None` for any other text.
fn sortable_separator(text: &[u8]) -> Option<u8> {
    if !(19..=26).contains(&text.len()) {
        return None;
    }
    let digits = |from: usize, to: usize| text[from..to].iter().all(u8::is_ascii_digit);
    let date_time = digits(0, 4)
        && text[4] == b'-'
        && digits(5, 7)
        && text[7] == b'-'
        && digits(8, 10)
        && digits(11, 13)
        && text[13] == b':'
        && digits(14, 16)
        && text[16] == b':'
        && digits(17, 19);
    let fraction =
        text.len() == 19 || (text[19] == b'.' && text.len() > 20 && digits(20, text.len()));
    (date_time && fraction && matches!(text[10], b' ' | b'T')).then_some(text[10])
}

fn owned_value(value: SourceValueRef<'_>) -> Value {
    match value {
        SourceValueRef::Null => Value::Null,
        SourceValueRef::Integer(i) => Value::Integer(i),
        SourceValueRef::Real(r) => Value::Real(r),
        // A bound is text the caller formatted; should it hold bytes that
        // are not UTF-8, their lossy form is bound instead.
        SourceValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        SourceValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

/// Binds a value exactly as its storage class.
struct Bound<'a>(&'a Value);

impl ToSql for Bound<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::from(self.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TempDb;

    fn ids(db: &SourceDb, table: &TableSchema, selection: RowSelection<'_>) -> Vec<i64> {
        let mut out = Vec::new();
        db.read_selected(table, selection, Some(&[0]), &mut |_, row| {
            if let SourceValueRef::Integer(i) = row[0] {
                out.push(i);
            }
            Ok::<_, Infallible>(())
        })
        .unwrap();
        out
    }

    #[test]
    fn filters_by_rowid_and_by_cursor() {
        let file = TempDb::new(
            "CREATE TABLE t(id INTEGER PRIMARY KEY, at DATETIME, body TEXT);
             INSERT INTO t VALUES (1, '2024-01-01 10:00:00', 'a'),
                                  (2, '2024-01-02 10:00:00.5', 'b'),
                                  (3, NULL, 'c'),
                                  (4, '2024-01-03 00:00:00', 'd');",
        );
        let db = SourceDb::open(file.path()).unwrap();
        let schema = db.schema().unwrap();
        let t = schema.table("t").unwrap();
        assert_eq!(ids(&db, t, RowSelection::All), [1, 2, 3, 4]);
        assert_eq!(ids(&db, t, RowSelection::RowidAbove(2)), [3, 4]);
        let bound = SourceValueRef::Text(b"2024-01-02 10:00:00");
        let selection = RowSelection::AtLeast {
            column: "at",
            bound,
        };
        assert_eq!(ids(&db, t, selection), [2, 3, 4]);
        assert_eq!(db.count_selected(t, selection).unwrap(), 3);

        // Only the asked-for columns, in the asked-for order.
        let mut rows = Vec::new();
        db.read_selected(
            t,
            RowSelection::RowidAbove(3),
            Some(&[2, 0]),
            &mut |rowid, row| {
                rows.push((
                    rowid,
                    row.iter().map(|v| v.to_owned_value()).collect::<Vec<_>>(),
                ));
                Ok::<_, Infallible>(())
            },
        )
        .unwrap();
        assert_eq!(
            rows,
            [(
                Some(4),
                vec![
                    ferry_model::SourceValue::Text(b"d".to_vec()),
                    ferry_model::SourceValue::Integer(4)
                ]
            )]
        );
        let err = db
            .read_selected(
                t,
                RowSelection::AtLeast {
                    column: "nope",
                    bound,
                },
                None,
                &mut |_, _| Ok::<_, Infallible>(()),
            )
            .unwrap_err();
        assert!(
            matches!(err, ReadOrRow::Read(ReadError::Query { .. })),
            "{err:?}"
        );
    }

    #[test]
    fn sortable_text_is_exactly_the_fixed_width_form() {
        for (text, separator) in [
            ("2024-01-01 10:00:00", Some(b' ')),
            ("2024-01-01T10:00:00.1", Some(b'T')),
            ("2024-01-01 10:00:00.123456", Some(b' ')),
            ("2024-01-01 10:00:00.1234567", None),
            ("2024-01-01 10:00:00.", None),
            ("2024-01-01 10:00:00Z", None),
            ("2024-01-01t10:00:00", None),
            ("2024-1-01 10:00:00.00", None),
            ("2024-01-01 10:00:0x", None),
            ("2024-01-01 10:00:00.1a", None),
            ("2024-01-01 10:00", None),
            ("2024-01-01 10:00:00\0", None),
        ] {
            assert_eq!(sortable_separator(text.as_bytes()), separator, "{text:?}");
        }
    }

    #[test]
    fn shapes_follow_every_stored_value() {
        let file = TempDb::new(
            "CREATE TABLE t(id INTEGER PRIMARY KEY, a DATETIME, b DATETIME, c DATETIME,
                            d DATETIME, e DATETIME, f DATETIME, g DATETIME);
             INSERT INTO t VALUES
               (1, '2024-01-01 10:00:00', '2024-01-01T10:00:00.123456', 1700000000, 2460000.5,
                NULL, '2024-01-01 10:00:00', '2024-01-01 10:00:00'),
               (2, '2024-01-01 10:00:01.5', NULL, 1700000001, 2460001.5,
                NULL, '2024-01-01T10:00:00', '2024-01-01 10:00:00+02:00');",
        );
        let db = SourceDb::open(file.path()).unwrap();
        let schema = db.schema().unwrap();
        let t = schema.table("t").unwrap();
        let shape = |c| db.column_shape(t, c).unwrap();
        assert_eq!(shape("a"), ColumnShape::SortableText { separator: b' ' });
        assert_eq!(shape("b"), ColumnShape::SortableText { separator: b'T' });
        assert_eq!(shape("c"), ColumnShape::Integer);
        assert_eq!(shape("d"), ColumnShape::Real);
        assert_eq!(shape("e"), ColumnShape::Empty);
        assert_eq!(shape("f"), ColumnShape::Mixed);
        assert_eq!(shape("g"), ColumnShape::Mixed);
    }

    #[test]
    fn tables_without_rowid_have_no_rowid_filter() {
        let file = TempDb::new(
            "CREATE TABLE k(a TEXT PRIMARY KEY, b INT) WITHOUT ROWID;
             INSERT INTO k VALUES ('x', 1), ('y', 2);",
        );
        let db = SourceDb::open(file.path()).unwrap();
        let schema = db.schema().unwrap();
        let k = schema.table("k").unwrap();
        assert_eq!(ids(&db, k, RowSelection::All), Vec::<i64>::new());
        assert_eq!(db.count_selected(k, RowSelection::All).unwrap(), 2);
        let err = db
            .read_selected(k, RowSelection::RowidAbove(0), None, &mut |_, _| {
                Ok::<_, Infallible>(())
            })
            .unwrap_err();
        assert!(
            matches!(err, ReadOrRow::Read(ReadError::NoRowid { .. })),
            "{err:?}"
        );
    }
}
