//! Splitting tables into rowid ranges and streaming the rows of one range.

use ferry_model::{ChunkRange, SourceValueRef, TableSchema};
use rusqlite::types::ValueRef;

use crate::db::SourceDb;
use crate::error::{ReadError, ReadOrRow};
use crate::ident::quote_sqlite_ident;

/// The callback [`SourceDb::read_chunk`] hands each row to: the rowid (`None`
/// for a `WITHOUT ROWID` table) and the row's values, borrowed for the call
/// only. An error of the caller's type `E` stops the read, which returns it
/// as [`ReadOrRow::Row`]; a callback that cannot fail names
/// [`Infallible`](std::convert::Infallible).
pub type OnRow<'a, E> = dyn FnMut(Option<i64>, &[SourceValueRef<'_>]) -> Result<(), E> + 'a;

/// Places in a table [`SourceDb::sample_row_bytes`] reads rows from.
const SAMPLE_WINDOWS: u64 = 16;
/// Consecutive rows read at each place.
const SAMPLE_ROWS: u64 = 64;

impl SourceDb {
    /// Splits a table into chunks of about `rows_per_chunk` rows.
    ///
    /// A rowid table is cut into equal-width rowid ranges between its
    /// smallest and largest rowid, as many as `count / rows_per_chunk`
    /// (rounded up): bounds are inclusive, consecutive ranges touch, and
    /// together they cover `min..=max` exactly, so every row lands in exactly
    /// one chunk however sparse the rowids are. Ranges never hold fewer than
    /// one rowid, so a `rows_per_chunk` of 0 counts as 1. An empty table
    /// gives no chunks; a `WITHOUT ROWID` table gives one
    /// [`ChunkRange::Whole`].
    pub fn chunk_ranges(
        &self,
        table: &TableSchema,
        rows_per_chunk: u64,
    ) -> Result<Vec<ChunkRange>, ReadError> {
        if table.without_rowid {
            return Ok(vec![ChunkRange::Whole]);
        }
        let rowid = rowid_expr(table)?;
        let from = format!("FROM main.{}", quote_sqlite_ident(&table.name));
        // Three subqueries, not one `SELECT min(), max(), count(*)`: alone,
        // min and max each read one end of the b-tree and count(*) counts
        // cells without decoding rows, where together they would step
        // through every row (<https://www.sqlite.org/optoverview.html#minmax>).
        let sql = format!(
            "SELECT (SELECT min({rowid}) {from}), (SELECT max({rowid}) {from}), \
             (SELECT count(*) {from})"
        );
        let (min, max, count): (Option<i64>, Option<i64>, i64) = self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut stmt| stmt.query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))))
            .map_err(|e| self.table_error(&table.name, e))?;
        Ok(match (min, max) {
            (Some(min), Some(max)) => split_rowids(min, max, count.unsigned_abs(), rows_per_chunk),
            _ => Vec::new(),
        })
    }

    /// Estimates the bytes one row of a table holds, from a sample: the
    /// average over up to 16 × 64 rows (`SAMPLE_WINDOWS` × `SAMPLE_ROWS`), taken
    /// as runs of consecutive rows starting at evenly spread rowids between
    /// `min` and `max` (a `WITHOUT ROWID` table: its first rows), of the
    /// sum of `octet_length` over the row's columns (text and blobs as
    /// stored, numbers as their text), plus the 4-byte length word binary
    /// COPY sends per field. `None` for an empty table.
    ///
    /// Cheap however large the values: SQLite answers `octet_length` from
    /// the record header, without reading a large value's overflow pages,
    /// and each run is found through the rowid b-tree.
    ///
    /// # Errors
    ///
    /// A [`ReadError`] naming the table when SQLite fails.
    pub fn sample_row_bytes(&self, table: &TableSchema) -> Result<Option<f64>, ReadError> {
        let per_field = 4 * table.columns.len();
        let lengths: Vec<String> = table
            .columns
            .iter()
            .map(|c| format!("coalesce(octet_length({}), 0)", quote_sqlite_ident(&c.name)))
            .collect();
        let lengths = if lengths.is_empty() {
            "0".to_owned()
        } else {
            // One result column each, summed below: a `+` chain over a
            // thousand columns is deeper than SQLite's expression limit.
            lengths.join(", ")
        };
        let name = format!("main.{}", quote_sqlite_ident(&table.name));
        let fail = |e| self.table_error(&table.name, e);
        // Each value is summed here, not by SQLite: wrapping the row in a
        // subquery could make SQLite materialise the values themselves.
        let sum = |sql: &str, start: Option<i64>| -> Result<(u64, u64), ReadError> {
            let mut stmt = self.conn.prepare_cached(sql).map_err(fail)?;
            let mut rows = match start {
                Some(start) => stmt.query([start]),
                None => stmt.query([]),
            }
            .map_err(fail)?;
            let (mut count, mut bytes) = (0u64, 0u64);
            while let Some(row) = rows.next().map_err(fail)? {
                count += 1;
                for i in 0..row.as_ref().column_count() {
                    bytes += row.get::<_, i64>(i).map_err(fail)?.unsigned_abs();
                }
            }
            Ok((count, bytes))
        };
        let (mut rows, mut bytes) = (0u64, 0u64);
        if table.without_rowid {
            let sql = format!(
                "SELECT {lengths} FROM {name} LIMIT {}",
                SAMPLE_WINDOWS * SAMPLE_ROWS
            );
            (rows, bytes) = sum(&sql, None)?;
        } else {
            let rowid = rowid_expr(table)?;
            let bounds = format!(
                "SELECT (SELECT min({rowid}) FROM {name}), (SELECT max({rowid}) FROM {name})"
            );
            let (min, max): (Option<i64>, Option<i64>) = self
                .conn
                .prepare_cached(&bounds)
                .and_then(|mut stmt| stmt.query_row([], |r| Ok((r.get(0)?, r.get(1)?))))
                .map_err(fail)?;
            let (Some(min), Some(max)) = (min, max) else {
                return Ok(None);
            };
            let sql = format!(
                "SELECT {lengths} FROM {name} WHERE {rowid} >= ?1 ORDER BY {rowid} LIMIT {SAMPLE_ROWS}"
            );
            let span = i128::from(max) - i128::from(min) + 1;
            let windows = i128::from(SAMPLE_WINDOWS);
            for window in 0..windows {
                // Within min..=max, which came from i64: the cast is exact.
                let start = (i128::from(min) + span * window / windows) as i64;
                let (n, b) = sum(&sql, Some(start))?;
                rows += n;
                bytes += b;
            }
        }
        Ok((rows > 0).then(|| (bytes as f64 / rows as f64) + per_field as f64))
    }

    /// Streams the rows of one chunk, in rowid order (primary-key order for
    /// a `WITHOUT ROWID` table read [`ChunkRange::Whole`]).
    ///
    /// `on_row` receives the row's rowid (`None` without one) and its values
    /// in [`TableSchema::columns`] order, borrowed from SQLite's row buffer:
    /// each value keeps the storage class it has in the file, whatever the
    /// column's declared type, and text is passed as the exact bytes stored
    /// (SQLite does not enforce UTF-8). Returns the number of rows handed
    /// to `on_row`.
    ///
    /// The statement is prepared once per table and range kind and reused
    /// for every later chunk.
    ///
    /// # Errors
    ///
    /// [`ReadOrRow::Read`] when SQLite fails (a [`ReadError`] naming the
    /// table), [`ReadError::NoRowid`] among them for a rowid range of a
    /// `WITHOUT ROWID` table; [`ReadOrRow::Row`] with the first error
    /// `on_row` returns, which ends the read there.
    pub fn read_chunk<E>(
        &self,
        table: &TableSchema,
        range: ChunkRange,
        on_row: &mut OnRow<'_, E>,
    ) -> Result<u64, ReadOrRow<E>> {
        let rowid = if table.without_rowid {
            None
        } else {
            Some(rowid_expr(table)?)
        };
        let mut select: Vec<String> = rowid.iter().cloned().collect();
        select.extend(table.columns.iter().map(|c| quote_sqlite_ident(&c.name)));
        let from = format!(
            "{} FROM main.{}",
            select.join(", "),
            quote_sqlite_ident(&table.name)
        );
        let (sql, bounds) = match (range, &rowid) {
            (ChunkRange::Rowid { start, end }, Some(rowid)) => (
                format!("SELECT {from} WHERE {rowid} BETWEEN ?1 AND ?2 ORDER BY {rowid}"),
                Some([start, end]),
            ),
            (ChunkRange::Rowid { .. }, None) => {
                return Err(ReadError::NoRowid {
                    table: table.name.clone(),
                }
                .into())
            }
            (ChunkRange::Whole, Some(rowid)) => (format!("SELECT {from} ORDER BY {rowid}"), None),
            // Ordering by the key keeps the planner on the table's own
            // b-tree rather than a smaller covering index.
            (ChunkRange::Whole, None) if !table.primary_key.is_empty() => {
                let key: Vec<String> = table
                    .primary_key
                    .iter()
                    .map(|k| quote_sqlite_ident(k))
                    .collect();
                (format!("SELECT {from} ORDER BY {}", key.join(", ")), None)
            }
            (ChunkRange::Whole, None) => (format!("SELECT {from}"), None),
        };

        let fail = |e| self.table_error(&table.name, e);
        let mut stmt = self.conn.prepare_cached(&sql).map_err(fail)?;
        let mut rows = match bounds {
            Some(bounds) => stmt.query(bounds),
            None => stmt.query([]),
        }
        .map_err(fail)?;
        let first_value = usize::from(rowid.is_some());
        // One buffer for the whole chunk, refilled with each row's borrowed
        // values: reading allocates nothing per row or per value.
        let mut buffer: Vec<SourceValueRef<'static>> = Vec::with_capacity(table.columns.len());
        let mut visited = 0u64;
        while let Some(row) = rows.next().map_err(fail)? {
            let mut values = recycle(std::mem::take(&mut buffer));
            let rowid = match rowid {
                Some(_) => Some(row.get::<_, i64>(0).map_err(fail)?),
                None => None,
            };
            for i in 0..table.columns.len() {
                values.push(source_value(row.get_ref(first_value + i).map_err(fail)?));
            }
            visited += 1;
            let done = on_row(rowid, &values);
            buffer = recycle(values);
            done.map_err(ReadOrRow::Row)?;
        }
        Ok(visited)
    }
}

/// The SQL that names a table's rowid. A user column may be called `rowid`,
/// `_rowid_` or `oid` and then hides that name; the first name not taken
/// still means the rowid (<https://www.sqlite.org/lang_createtable.html#rowid>).
pub(crate) fn rowid_expr(table: &TableSchema) -> Result<String, ReadError> {
    if let Some(free) = ["rowid", "_rowid_", "oid"]
        .into_iter()
        .find(|name| table.column_index(name).is_none())
    {
        return Ok(free.to_owned());
    }
    // All three are taken, but an INTEGER PRIMARY KEY is the rowid itself.
    match &table.rowid_alias {
        Some(alias) => Ok(quote_sqlite_ident(alias)),
        None => Err(ReadError::RowidHidden {
            table: table.name.clone(),
        }),
    }
}

/// The value as SQLite stores it, borrowed.
pub(crate) fn source_value(value: ValueRef<'_>) -> SourceValueRef<'_> {
    match value {
        ValueRef::Null => SourceValueRef::Null,
        ValueRef::Integer(i) => SourceValueRef::Integer(i),
        ValueRef::Real(r) => SourceValueRef::Real(r),
        ValueRef::Text(t) => SourceValueRef::Text(t),
        ValueRef::Blob(b) => SourceValueRef::Blob(b),
    }
}

/// Empties a row buffer and frees it from the row it borrowed from, keeping
/// its allocation (an in-place `collect` of an emptied vector reuses it).
pub(crate) fn recycle<'b>(mut values: Vec<SourceValueRef<'_>>) -> Vec<SourceValueRef<'b>> {
    values.clear();
    values.into_iter().map(|_| SourceValueRef::Null).collect()
}

/// Cuts `min..=max` into equal-width inclusive ranges, about one per
/// `rows_per_chunk` rows. Arithmetic is done in `i128` so that spans up to
/// the whole `i64` range cannot overflow.
fn split_rowids(min: i64, max: i64, rows: u64, rows_per_chunk: u64) -> Vec<ChunkRange> {
    let (min, max) = (i128::from(min), i128::from(max));
    if max < min {
        return Vec::new();
    }
    let span = max - min + 1;
    let wanted = i128::from(rows.div_ceil(rows_per_chunk.max(1)).max(1));
    let width = div_ceil(span, wanted.min(span));
    let mut ranges = Vec::new();
    let mut start = min;
    while start <= max {
        let end = (start + width - 1).min(max);
        // Both bounds lie within min..=max, which came from i64: the casts
        // are exact.
        ranges.push(ChunkRange::Rowid {
            start: start as i64,
            end: end as i64,
        });
        start = end + 1;
    }
    ranges
}

/// Ceiling division of positive numbers (`i128::div_ceil` is not stable).
fn div_ceil(dividend: i128, divisor: i128) -> i128 {
    (dividend + divisor - 1) / divisor
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;
    use crate::testing::TempDb;
    use ferry_model::SourceValue;

    /// Checks ranges are ordered, touching, inclusive and cover min..=max.
    fn assert_covers(ranges: &[ChunkRange], min: i64, max: i64) {
        let mut next = i128::from(min);
        for range in ranges {
            let ChunkRange::Rowid { start, end } = *range else {
                panic!("{range:?}")
            };
            assert_eq!(i128::from(start), next, "{ranges:?}");
            assert!(start <= end, "{ranges:?}");
            next = i128::from(end) + 1;
        }
        assert_eq!(next, i128::from(max) + 1, "{ranges:?}");
    }

    #[test]
    fn splits_evenly_and_exactly() {
        assert_eq!(
            split_rowids(1, 10, 10, 3),
            [
                ChunkRange::Rowid { start: 1, end: 3 },
                ChunkRange::Rowid { start: 4, end: 6 },
                ChunkRange::Rowid { start: 7, end: 9 },
                ChunkRange::Rowid { start: 10, end: 10 },
            ]
        );
        assert_eq!(
            split_rowids(5, 5, 1, 1000),
            [ChunkRange::Rowid { start: 5, end: 5 }]
        );
        // More chunks wanted than rowids exist: one rowid each.
        assert_eq!(split_rowids(1, 2, 2, 0).len(), 2);
    }

    #[test]
    fn splits_extremes_without_overflow() {
        for (min, max, rows, per) in [
            (i64::MIN, i64::MAX, 3, 1),
            (i64::MIN, i64::MAX, 1000, 1),
            (i64::MIN, i64::MAX, 2, 1000),
            (i64::MAX - 2, i64::MAX, 3, 1),
            (i64::MIN, i64::MIN + 1, 2, 1),
            (-50, 50, 7, 2),
        ] {
            let ranges = split_rowids(min, max, rows, per);
            assert_covers(&ranges, min, max);
            let wanted = rows.div_ceil(per.max(1)).max(1);
            assert!(ranges.len() as u64 <= wanted, "{min} {max} {rows} {per}");
        }
    }

    fn collect(
        source: &SourceDb,
        table: &TableSchema,
        range: ChunkRange,
    ) -> Vec<(Option<i64>, Vec<SourceValue>)> {
        let mut rows = Vec::new();
        let n = source
            .read_chunk(table, range, &mut |rowid, values| {
                rows.push((
                    rowid,
                    values.iter().map(SourceValueRef::to_owned_value).collect(),
                ));
                Ok::<_, Infallible>(())
            })
            .unwrap();
        assert_eq!(n as usize, rows.len());
        rows
    }

    #[test]
    fn row_bytes_are_sampled_from_lengths() {
        let db = TempDb::new(
            "CREATE TABLE big(id INTEGER PRIMARY KEY, body BLOB, note TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
             INSERT INTO big SELECT i * 7, zeroblob(20000), NULL FROM n;
             CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID;
             INSERT INTO kv VALUES ('ab', 'héllo'), ('cd', 'wörld');
             CREATE TABLE empty(v);",
        );
        let source = SourceDb::open(db.path()).unwrap();
        let schema = source.schema().unwrap();
        let per_row = source
            .sample_row_bytes(schema.table("big").unwrap())
            .unwrap()
            .unwrap();
        // 20,000 bytes of blob, the id's digits (3 to 5), no note, and the
        // length word of each of the three fields.
        assert!((20_015.0..=20_017.0).contains(&per_row), "{per_row}");
        // Bytes, not characters.
        let kv = source.sample_row_bytes(schema.table("kv").unwrap());
        assert_eq!(kv.unwrap(), Some(2.0 + 6.0 + 8.0));
        let empty = source.sample_row_bytes(schema.table("empty").unwrap());
        assert_eq!(empty.unwrap(), None);
    }

    #[test]
    fn row_bytes_of_a_thousand_column_table() {
        let columns: Vec<String> = (0..1000).map(|i| format!("c{i} TEXT")).collect();
        let db = TempDb::new(&format!(
            "CREATE TABLE wide({}); INSERT INTO wide (c0, c999) VALUES ('abc', 'de');",
            columns.join(", ")
        ));
        let source = SourceDb::open(db.path()).unwrap();
        let schema = source.schema().unwrap();
        let per_row = source.sample_row_bytes(schema.table("wide").unwrap());
        assert_eq!(per_row.unwrap(), Some(5.0 + 4.0 * 1000.0));
    }

    #[test]
    fn chunks_cover_sparse_and_extreme_rowids() {
        let db = TempDb::new(&format!(
            "CREATE TABLE t(v);
             INSERT INTO t(rowid, v) VALUES ({}, 'min'), (-7, 'neg'), (0, 'zero'), (3, 'a'), (4, 'b'),
                 (1000000, 'far'), ({}, 'max');
             CREATE TABLE empty(v);",
            i64::MIN,
            i64::MAX
        ));
        let source = SourceDb::open(db.path()).unwrap();
        let schema = source.schema().unwrap();
        let t = schema.table("t").unwrap();
        for per in [0, 1, 2, 3, 7, 100] {
            let ranges = source.chunk_ranges(t, per).unwrap();
            assert_covers(&ranges, i64::MIN, i64::MAX);
            let rows: Vec<_> = ranges
                .into_iter()
                .flat_map(|r| collect(&source, t, r))
                .collect();
            let rowids: Vec<_> = rows.iter().map(|(rowid, _)| rowid.unwrap()).collect();
            assert_eq!(
                rowids,
                [i64::MIN, -7, 0, 3, 4, 1_000_000, i64::MAX],
                "{per}"
            );
        }
        assert_eq!(source.row_count(t).unwrap(), 7);
        let empty = schema.table("empty").unwrap();
        assert_eq!(source.chunk_ranges(empty, 10).unwrap(), []);
        assert_eq!(source.row_count(empty).unwrap(), 0);
    }

    #[test]
    fn reads_raw_storage_classes() {
        let db = TempDb::new(
            "CREATE TABLE t(id INTEGER PRIMARY KEY, i INTEGER, s TEXT, r REAL, n);
             INSERT INTO t VALUES (1, 'abc', x'00ff', 1.5, NULL);
             INSERT INTO t VALUES (2, 42, 5, 7, 0.1);
             INSERT INTO t VALUES (3, -9223372036854775808, CAST(x'61ff00fe62' AS TEXT), 'x', x'');
             INSERT INTO t VALUES (4, '12abc', CAST(x'610062' AS TEXT), NULL, 'naïve');",
        );
        let source = SourceDb::open(db.path()).unwrap();
        let schema = source.schema().unwrap();
        let rows = collect(
            &source,
            &schema.tables[0],
            ChunkRange::Rowid { start: 1, end: 4 },
        );
        use SourceValue::*;
        assert_eq!(
            rows,
            [
                (
                    Some(1),
                    vec![
                        Integer(1),
                        Text(b"abc".to_vec()),
                        Blob(vec![0, 0xff]),
                        Real(1.5),
                        Null
                    ]
                ),
                (
                    Some(2),
                    vec![
                        Integer(2),
                        Integer(42),
                        Text(b"5".to_vec()),
                        Real(7.0),
                        Real(0.1)
                    ]
                ),
                (
                    Some(3),
                    vec![
                        Integer(3),
                        Integer(i64::MIN),
                        Text(b"a\xff\0\xfeb".to_vec()),
                        Text(b"x".to_vec()),
                        Blob(vec![])
                    ]
                ),
                (
                    Some(4),
                    vec![
                        Integer(4),
                        Text(b"12abc".to_vec()),
                        Text(b"a\0b".to_vec()),
                        Null,
                        Text("naïve".as_bytes().to_vec())
                    ]
                ),
            ]
        );
    }

    #[test]
    fn shadowed_rowid_and_without_rowid() {
        let db = TempDb::new(
            "CREATE TABLE s(rowid TEXT, _rowid_ TEXT, v);
             INSERT INTO s(oid, rowid, _rowid_, v) VALUES (10, 'r', 'u', 1), (20, 'r2', 'u2', 2);
             CREATE TABLE all3(rowid, _rowid_, oid);
             INSERT INTO all3 VALUES (1, 2, 3);
             CREATE TABLE alias3(rowid, _rowid_, oid INTEGER PRIMARY KEY);
             INSERT INTO alias3 VALUES ('a', 'b', 99);
             CREATE TABLE w(k TEXT PRIMARY KEY, v) WITHOUT ROWID;
             CREATE INDEX w_v ON w(v, k);
             INSERT INTO w VALUES ('b', 1), ('a', 2), ('c', 0);",
        );
        let source = SourceDb::open(db.path()).unwrap();
        let schema = source.schema().unwrap();

        let s = schema.table("s").unwrap();
        let ranges = source.chunk_ranges(s, 1).unwrap();
        assert_eq!(
            ranges,
            [
                ChunkRange::Rowid { start: 10, end: 15 },
                ChunkRange::Rowid { start: 16, end: 20 }
            ]
        );
        let rows = collect(&source, s, ChunkRange::Whole);
        assert_eq!(rows[1].0, Some(20));
        assert_eq!(rows[1].1[0], SourceValue::Text(b"r2".to_vec()));

        let err = source
            .chunk_ranges(schema.table("all3").unwrap(), 1)
            .unwrap_err();
        assert!(matches!(err, ReadError::RowidHidden { .. }), "{err:?}");

        let alias3 = schema.table("alias3").unwrap();
        assert_eq!(
            source.chunk_ranges(alias3, 5).unwrap(),
            [ChunkRange::Rowid { start: 99, end: 99 }]
        );
        assert_eq!(collect(&source, alias3, ChunkRange::Whole)[0].0, Some(99));

        let w = schema.table("w").unwrap();
        assert_eq!(source.chunk_ranges(w, 1).unwrap(), [ChunkRange::Whole]);
        let keys: Vec<_> = collect(&source, w, ChunkRange::Whole)
            .into_iter()
            .map(|(rowid, values)| (rowid, values[0].clone()))
            .collect();
        assert_eq!(
            keys,
            [
                (None, SourceValue::Text(b"a".to_vec())),
                (None, SourceValue::Text(b"b".to_vec())),
                (None, SourceValue::Text(b"c".to_vec())),
            ]
        );
        let err = source
            .read_chunk(w, ChunkRange::Rowid { start: 1, end: 2 }, &mut |_, _| {
                Ok::<_, Infallible>(())
            })
            .unwrap_err();
        assert!(
            matches!(err, ReadOrRow::Read(ReadError::NoRowid { .. })),
            "{err:?}"
        );
    }

    #[test]
    fn reads_generated_columns() {
        let db = TempDb::new(
            "CREATE TABLE g(a INT, b INT AS (a * 2) VIRTUAL, c TEXT AS (a || 'x') STORED);
             INSERT INTO g(a) VALUES (3);",
        );
        let source = SourceDb::open(db.path()).unwrap();
        let g = &source.schema().unwrap().tables[0];
        let rows = collect(&source, g, ChunkRange::Whole);
        assert_eq!(
            rows,
            [(
                Some(1),
                vec![
                    SourceValue::Integer(3),
                    SourceValue::Integer(6),
                    SourceValue::Text(b"3x".to_vec())
                ]
            )]
        );
    }

    #[test]
    fn stops_at_the_callbacks_error() {
        let db = TempDb::new(
            "CREATE TABLE t(v);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) INSERT INTO t SELECT i FROM n;",
        );
        let source = SourceDb::open(db.path()).unwrap();
        let t = &source.schema().unwrap().tables[0];
        let mut seen = 0;
        let err = source
            .read_chunk(t, ChunkRange::Whole, &mut |rowid, _| {
                seen += 1;
                match rowid {
                    Some(3) => Err(format!("stopped at {rowid:?}")),
                    _ => Ok(()),
                }
            })
            .unwrap_err();
        // The callback's own error, untouched, and no row after it.
        assert!(
            matches!(&err, ReadOrRow::Row(message) if message == "stopped at Some(3)"),
            "{err:?}"
        );
        assert_eq!(seen, 3);
        // The cached statement is reset and reusable after an early stop.
        assert_eq!(
            collect(&source, t, ChunkRange::Rowid { start: 1, end: 100 }).len(),
            100
        );
        assert_eq!(
            collect(&source, t, ChunkRange::Rowid { start: 1, end: 100 }).len(),
            100
        );
    }

    #[test]
    fn recycling_keeps_the_allocation() {
        let mut values: Vec<SourceValueRef<'_>> = Vec::with_capacity(32);
        values.push(SourceValueRef::Integer(1));
        let recycled: Vec<SourceValueRef<'static>> = recycle(values);
        assert!(recycled.is_empty());
        assert!(recycled.capacity() >= 32);
    }

    #[test]
    fn file_bytes_unchanged_after_reading() {
        let db = TempDb::new(
            "CREATE TABLE t(id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT);
             CREATE INDEX t_v ON t(v) WHERE v IS NOT NULL;
             CREATE VIEW tv AS SELECT * FROM t;
             INSERT INTO t(v) VALUES ('a'), (NULL), ('c');",
        );
        let before = std::fs::read(db.path()).unwrap();
        {
            let source = SourceDb::open(db.path()).unwrap();
            let schema = source.schema().unwrap();
            for table in &schema.tables {
                source.row_count(table).unwrap();
                for range in source.chunk_ranges(table, 2).unwrap() {
                    collect(&source, table, range);
                }
            }
        }
        assert_eq!(std::fs::read(db.path()).unwrap(), before);
        for extra in ["-journal", "-wal", "-shm"] {
            let mut name = db.path().as_os_str().to_owned();
            name.push(extra);
            assert!(!std::path::Path::new(&name).exists(), "{extra} created");
        }
    }
}
