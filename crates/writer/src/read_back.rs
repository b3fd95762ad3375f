//! Reading rows back from the target, for verification.
//!
//! Rows are fetched in Postgres's binary format and decoded by
//! [`decode_value`], so what comes back is exactly what the server stores,
//! with no text formatting in between (no `DateStyle`, `extra_float_digits`
//! or time zone). Key filters travel as binary parameters written by the
//! same field encoding as COPY: values never appear in SQL text.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::pin::pin;

use bytes::BytesMut;
use ferry_copy_codec::{decode_value, encode_value, Payload};
use ferry_model::{
    quote_ident, quote_qualified, ColumnPlan, GeometryTypmod, PgType, PgValue, TablePlan,
};
use futures_util::TryStreamExt;
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};
use tokio_postgres::Client;

use crate::WriteError;

/// Ranges per statement for [`RowFilter::KeyRanges`]: about 300 kB of SQL.
const MAX_RANGES_PER_QUERY: usize = 10_000;

/// Keys per statement for [`RowFilter::Keys`]: small enough to plan fast,
/// large enough to keep round trips few.
const MAX_KEYS_PER_QUERY: usize = 1000;
/// The protocol counts bind parameters in 16 bits.
const MAX_PARAMS: usize = u16::MAX as usize;

/// The raw bytes of one result field in binary format. It accepts every
/// type, so rows are fetched as they are stored and decoded by
/// [`decode_value`] rather than by the client's own conversions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawField<'a>(pub &'a [u8]);

impl<'a> FromSql<'a> for RawField<'a> {
    fn from_sql(_ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(RawField(raw))
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }
}

/// A [`PgValue`] as a bind parameter, written in the same binary form as a
/// COPY field. Pair it with a cast to the value's own type
/// ([`param_type`]) so the server reads the bytes as that type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PgParam<'a>(pub &'a PgValue<'a>);

impl ToSql for PgParam<'_> {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match encode_value(out, self.0)? {
            Payload::Null => Ok(IsNull::Yes),
            Payload::Written => Ok(IsNull::No),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// The SQL type a parameter holding `value` is cast to, so its bytes are
/// read as what they are; `None` for NULL, which has no type of its own.
pub fn param_type(value: &PgValue<'_>) -> Option<&'static str> {
    Some(match value {
        PgValue::Null => return None,
        PgValue::Bool(_) => "boolean",
        PgValue::Int2(_) => "int2",
        PgValue::Int4(_) => "int4",
        PgValue::Int8(_) => "int8",
        PgValue::Float4(_) => "float4",
        PgValue::Float8(_) => "float8",
        PgValue::Numeric(_) => "numeric",
        PgValue::Text(_) => "text",
        PgValue::Bytea(_) => "bytea",
        PgValue::Date(_) => "date",
        PgValue::Timestamp(_) => "timestamp",
        PgValue::Timestamptz(_) => "timestamptz",
        PgValue::Jsonb(_) => "jsonb",
        PgValue::Uuid(_) => "uuid",
        PgValue::Geometry(_) => "geometry",
    })
}

/// Which rows of a table to read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RowFilter<'a> {
    /// Every row.
    All,
    /// Rows whose single integer key column lies in one of the inclusive
    /// `(first, last)` ranges; overlapping ranges read a row once.
    KeyRanges {
        /// Target column name.
        column: &'a str,
        /// The ranges sought.
        ranges: &'a [(i64, i64)],
    },
    /// Rows whose key equals one of `keys`, each holding one value per
    /// column of `columns`, in that order.
    Keys {
        /// Target key column names.
        columns: &'a [String],
        /// The keys sought.
        keys: &'a [Vec<PgValue<'a>>],
    },
}

/// The statements that read a table's rows matching a filter: one for
/// [`RowFilter::All`], one per batch of at most 10,000 ranges for
/// [`RowFilter::KeyRanges`], one per batch of at most 1000 keys for
/// [`RowFilter::Keys`]. Columns come in plan order; rows in no particular
/// order.
#[derive(Debug)]
pub struct TargetRows<'a> {
    statements: Vec<(String, Vec<PgParam<'a>>)>,
}

impl<'a> TargetRows<'a> {
    /// Builds the `SELECT`s for `plan`'s table.
    ///
    /// # Errors
    ///
    /// [`WriteError::InvalidFilter`] when a key has a different number of
    /// values than there are key columns, or no key columns are named.
    pub fn new(plan: &TablePlan, filter: RowFilter<'a>) -> Result<TargetRows<'a>, WriteError> {
        let select = format!(
            "SELECT {} FROM {}",
            select_list(plan),
            quote_qualified(&plan.schema, &plan.name)
        );
        let invalid = |reason: String| WriteError::InvalidFilter {
            table: format!("{}.{}", plan.schema, plan.name),
            reason,
        };
        let statements = match filter {
            RowFilter::All => vec![(select, Vec::new())],
            RowFilter::KeyRanges { column, ranges } => merged(ranges)
                .chunks(MAX_RANGES_PER_QUERY)
                .map(|batch| (ranges_statement(plan, column, batch), Vec::new()))
                .collect(),
            RowFilter::Keys { columns, keys } => {
                if columns.is_empty() {
                    return Err(invalid("a key filter names no key columns".to_owned()));
                }
                if let Some(key) = keys.iter().find(|k| k.len() != columns.len()) {
                    return Err(invalid(format!(
                        "a key has {} for {} ({})",
                        ferry_model::plural(key.len(), "value", "values"),
                        ferry_model::plural(columns.len(), "key column", "key columns"),
                        columns.join(", ")
                    )));
                }
                let batch = MAX_KEYS_PER_QUERY.min(MAX_PARAMS / columns.len()).max(1);
                keys.chunks(batch)
                    .map(|chunk| keys_statement(plan, &select, columns, chunk))
                    .collect()
            }
        };
        Ok(TargetRows { statements })
    }

    /// The statements and their parameters, in order.
    pub fn statements(&self) -> impl Iterator<Item = (&str, &[PgParam<'a>])> {
        self.statements
            .iter()
            .map(|(sql, params)| (sql.as_str(), params.as_slice()))
    }
}

/// The ranges sorted, with overlapping and touching ones joined.
fn merged(ranges: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut sorted: Vec<(i64, i64)> = ranges.iter().copied().filter(|(a, b)| a <= b).collect();
    sorted.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(sorted.len());
    for (first, last) in sorted {
        match out.last_mut() {
            Some(previous) if first <= previous.1.saturating_add(1) => {
                previous.1 = previous.1.max(last);
            }
            _ => out.push((first, last)),
        }
    }
    out
}

/// The rows of one batch of ranges, found through the key's index: the
/// ranges are a literal array joined to the table (integers only, so
/// nothing needs quoting), and the select list is qualified so that no
/// column name can clash with the range's.
fn ranges_statement(plan: &TablePlan, column: &str, ranges: &[(i64, i64)]) -> String {
    let list = |pick: fn(&(i64, i64)) -> i64| {
        ranges
            .iter()
            .map(|r| pick(r).to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let columns = plan
        .columns
        .iter()
        .map(|c| read_as(c, "t."))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT {columns} FROM {} AS t JOIN unnest('{{{}}}'::int8[], '{{{}}}'::int8[]) AS r(lo, hi) \
         ON t.{} BETWEEN r.lo AND r.hi",
        quote_qualified(&plan.schema, &plan.name),
        list(|r| r.0),
        list(|r| r.1),
        quote_ident(column)
    )
}

/// The plan's columns, quoted, in plan order, as a `SELECT` list.
pub(crate) fn select_list(plan: &TablePlan) -> String {
    plan.columns
        .iter()
        .map(|c| read_as(c, ""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A column as a `SELECT` reads it, after `prefix` (`t.`): a column of a
/// [`NamedType`](ferry_model::NamedType) (a domain, `citext`, an enum)
/// is cast to the type its values travel as, whose binary form it shares,
/// so that it decodes as that type (a no-op on the bytes: the engine
/// accepted the type only for that reason).
fn read_as(column: &ColumnPlan, prefix: &str) -> String {
    let name = quote_ident(&column.name);
    match (&column.named_type, column.pg_type) {
        (None, _) => format!("{prefix}{name}"),
        // Cast without the typmod, which could change the value.
        (Some(_), PgType::Numeric(_)) => format!("{prefix}{name}::numeric"),
        (Some(_), pg_type) => format!("{prefix}{name}::{pg_type}"),
    }
}

/// `WHERE "k" IN ($1::int4, …)` for one column, `WHERE ("a", "b") IN
/// (($1::int4, $2::text), …)` for several. Each parameter is cast to its
/// value's type; a NULL is cast to the column's planned type, and matches
/// nothing, as in SQL.
fn keys_statement<'a>(
    plan: &TablePlan,
    select: &str,
    columns: &[String],
    keys: &'a [Vec<PgValue<'a>>],
) -> (String, Vec<PgParam<'a>>) {
    let planned = |column: &str| -> String {
        plan.columns
            .iter()
            .find(|c| c.name == column)
            .map_or_else(|| "text".to_owned(), |c| c.pg_type.to_string())
    };
    let mut params = Vec::with_capacity(keys.len() * columns.len());
    let mut tuples = Vec::with_capacity(keys.len());
    for key in keys {
        let mut tuple = Vec::with_capacity(columns.len());
        for (value, column) in key.iter().zip(columns) {
            params.push(PgParam(value));
            let cast = param_type(value).map_or_else(|| planned(column), str::to_owned);
            tuple.push(format!("${}::{cast}", params.len()));
        }
        tuples.push(if columns.len() == 1 {
            tuple.remove(0)
        } else {
            format!("({})", tuple.join(", "))
        });
    }
    let target = if columns.len() == 1 {
        quote_ident(&columns[0])
    } else {
        format!(
            "({})",
            columns
                .iter()
                .map(|c| quote_ident(c))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let sql = format!("{select} WHERE {target} IN ({})", tuples.join(", "));
    (sql, params)
}

/// The callback [`stream_rows`] hands each target row to, columns in plan
/// order. An error of the caller's type `E` stops the stream, which
/// returns it as [`WriteOrRow::Row`]; a callback that cannot fail names
/// [`Infallible`].
pub type OnTargetRow<'a, E> = dyn FnMut(Vec<PgValue<'static>>) -> Result<(), E> + Send + 'a;

/// Why streaming target rows ([`stream_rows`],
/// [`stream_located_rows`](crate::stream_located_rows)) ended before the
/// last row: reading failed, or the caller's callback returned an error of
/// its own type `E`, handed back as it was.
#[derive(Debug, thiserror::Error)]
pub enum WriteOrRow<E> {
    /// Reading the target failed.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// The callback failed on a row.
    #[error(transparent)]
    Row(E),
}

/// A stream whose callback cannot fail can only fail reading.
impl From<WriteOrRow<Infallible>> for WriteError {
    fn from(stopped: WriteOrRow<Infallible>) -> WriteError {
        match stopped {
            WriteOrRow::Write(err) => err,
            WriteOrRow::Row(never) => match never {},
        }
    }
}

/// Streams the rows of `plan`'s table matching `filter`, columns in plan
/// order, decoded to [`PgValue`]s, calling `on_row` for each. Returns the
/// rows passed to `on_row`.
///
/// Rows are decoded by the column types the server reports, not the plan's,
/// so a column whose type was changed in the target reads as what it holds
/// (and then differs from the source) instead of being misread. Rows
/// arrive as the server sends them (the client applies backpressure), so
/// the table is never held in memory.
///
/// # Errors
///
/// [`WriteOrRow::Row`] with the first error `on_row` returns (the stream
/// stops there), or [`WriteOrRow::Write`] with a [`WriteError`] from the
/// server (missing table or column), [`WriteError::UnsupportedType`] for a
/// column type ferry cannot read, [`WriteError::Decode`] naming the table
/// and column of a bad value, or [`WriteError::InvalidFilter`].
pub async fn stream_rows<E>(
    client: &Client,
    plan: &TablePlan,
    filter: RowFilter<'_>,
    on_row: &mut OnTargetRow<'_, E>,
) -> Result<u64, WriteOrRow<E>> {
    let display = format!("{}.{}", plan.schema, plan.name);
    let rows = TargetRows::new(plan, filter)?;
    let mut count = 0u64;
    for (sql, params) in rows.statements() {
        let stream = client
            .query_raw(sql, params.iter())
            .await
            .map_err(|e| WriteError::from_pg(&display, "read the table's rows", e))?;
        let mut stream = pin!(stream);
        let mut decoder = RowDecoder::new(&display, 0);
        while let Some(row) = stream
            .try_next()
            .await
            .map_err(|e| WriteError::from_pg(&display, "read the table's rows", e))?
        {
            count += 1;
            on_row(decoder.decode(&row)?).map_err(WriteOrRow::Row)?;
        }
    }
    Ok(count)
}

/// Decodes result rows into [`PgValue`]s by the column types the server
/// reports, learnt from the first row.
pub(crate) struct RowDecoder<'a> {
    display: &'a str,
    /// Leading result columns that are not table columns (a row locator).
    skip: usize,
    types: Option<Vec<PgType>>,
}

impl<'a> RowDecoder<'a> {
    /// A decoder for rows of the table shown as `display`, whose first
    /// `skip` result columns are left to the caller.
    pub(crate) fn new(display: &'a str, skip: usize) -> Self {
        RowDecoder {
            display,
            skip,
            types: None,
        }
    }

    /// The table columns of one row, in result order.
    pub(crate) fn decode(
        &mut self,
        row: &tokio_postgres::Row,
    ) -> Result<Vec<PgValue<'static>>, WriteError> {
        Ok(self
            .decode_borrowed(row)?
            .into_iter()
            .map(PgValue::into_owned)
            .collect())
    }

    /// [`decode`](Self::decode) without copying: text, bytea and the like
    /// borrow the row's buffer, which a caller that only hashes the row
    /// never needs to own.
    pub(crate) fn decode_borrowed<'r>(
        &mut self,
        row: &'r tokio_postgres::Row,
    ) -> Result<Vec<PgValue<'r>>, WriteError> {
        let display = self.display;
        let skip = self.skip;
        let types = match &mut self.types {
            Some(types) => types,
            None => self
                .types
                .insert(column_types(display, &row.columns()[skip..])?),
        };
        let mut values = Vec::with_capacity(types.len());
        for (i, pg_type) in types.iter().enumerate() {
            let raw: Option<RawField<'_>> = row
                .try_get(skip + i)
                .map_err(|e| WriteError::from_pg(display, "read a field", e))?;
            let value =
                decode_value(*pg_type, raw.map(|r| r.0)).map_err(|source| WriteError::Decode {
                    table: display.to_owned(),
                    column: row.columns()[skip + i].name().to_owned(),
                    source,
                })?;
            values.push(value);
        }
        Ok(values)
    }
}

/// The [`PgType`] to decode each result column as, from the types the
/// server reports.
fn column_types(
    table: &str,
    columns: &[tokio_postgres::Column],
) -> Result<Vec<PgType>, WriteError> {
    columns
        .iter()
        .map(|column| {
            pg_type_of(column.type_()).ok_or_else(|| WriteError::UnsupportedType {
                table: table.to_owned(),
                column: column.name().to_owned(),
                type_name: column.type_().name().to_owned(),
            })
        })
        .collect()
}

/// The ferry type whose binary form a server type shares. `varchar` and
/// `bpchar` send their text as `text` does.
fn pg_type_of(ty: &Type) -> Option<PgType> {
    Some(match *ty {
        Type::BOOL => PgType::Boolean,
        Type::INT2 => PgType::SmallInt,
        Type::INT4 => PgType::Integer,
        Type::INT8 => PgType::BigInt,
        Type::FLOAT4 => PgType::Real,
        Type::FLOAT8 => PgType::DoublePrecision,
        Type::NUMERIC => PgType::Numeric(None),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR => PgType::Text,
        Type::BYTEA => PgType::Bytea,
        Type::DATE => PgType::Date,
        Type::TIMESTAMP => PgType::Timestamp,
        Type::TIMESTAMPTZ => PgType::Timestamptz,
        Type::JSONB => PgType::Jsonb,
        Type::UUID => PgType::Uuid,
        // An extension's type, known by name: its OID differs per database.
        _ if ty.name() == "geometry" => PgType::Geometry(GeometryTypmod::default()),
        _ => return None,
    })
}

/// The exact number of rows in `schema.table` (`count(*)`, a full scan).
///
/// # Errors
///
/// A [`WriteError`] from the server (missing table, lost connection).
pub async fn count_rows(client: &Client, schema: &str, table: &str) -> Result<u64, WriteError> {
    let display = format!("{schema}.{table}");
    let row = client
        .query_one(
            &format!("SELECT count(*) FROM {}", quote_qualified(schema, table)),
            &[],
        )
        .await
        .map_err(|e| WriteError::from_pg(&display, "count the table's rows", e))?;
    // count(*) is never negative.
    Ok(row.get::<_, i64>(0).unsigned_abs())
}

/// The rejected rows the last copy into `schema.table` recorded in
/// `"ferry"."rejects"`, oldest first, as `(row key, column, reason)`; empty
/// when nothing was ever rejected (the table does not exist).
///
/// Only that copy's rejects describe what the target lacks: rows rejected
/// by an earlier copy that was fixed and run again, or by a copy of a
/// same-named table into another schema, do not. The last copy is the one
/// the ledger (`"ferry"."copies"`) started last with a chunk of the table;
/// without a ledger every reject recorded for the table counts.
///
/// # Errors
///
/// A [`WriteError`] from the server.
pub async fn fetch_rejects(
    client: &Client,
    schema: &str,
    table: &str,
) -> Result<Vec<(String, String, String)>, WriteError> {
    const TABLE: &str = "ferry.rejects";
    let exists = client
        .query_one(
            "SELECT to_regclass('\"ferry\".\"rejects\"') IS NOT NULL,
                    to_regclass('\"ferry\".\"chunks\"') IS NOT NULL
                    AND to_regclass('\"ferry\".\"copies\"') IS NOT NULL",
            &[],
        )
        .await
        .map_err(|e| WriteError::from_pg(TABLE, "look up the rejects table", e))?;
    // ferry reads these as whichever role verifies: each must be ferry's
    // definition with nothing that runs code on a SELECT (issue 14).
    if !exists.get::<_, bool>(0) || !crate::trusted_rejects_table(client).await? {
        return Ok(Vec::new());
    }
    let ledger = exists.get::<_, bool>(1)
        && crate::trust::check_before_reading(client, &crate::ledger::COPIES).await?
        && crate::trust::check_before_reading(client, &crate::ledger::CHUNKS).await?;
    let since = if ledger {
        "(SELECT max(c.started_at) FROM \"ferry\".\"copies\" c
           JOIN \"ferry\".\"chunks\" k ON k.copy_id = c.copy_id
          WHERE c.target_schema = $1 AND k.target_table = $2)"
    } else {
        "NULL::timestamptz"
    };
    let rows = client
        .query(
            &format!(
                "SELECT row_key, column_name, reason FROM \"ferry\".\"rejects\"
                  WHERE target_schema = $1 AND target_table = $2
                    AND created_at >= coalesce({since}, '-infinity')
                  ORDER BY id"
            ),
            &[&schema, &table],
        )
        .await
        .map_err(|e| WriteError::from_pg(TABLE, "read the rejected rows", e))?;
    Ok(rows
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect())
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use ferry_model::ColumnPlan;

    use super::*;

    fn plan() -> TablePlan {
        let columns = vec![
            ColumnPlan::new("id", "", PgType::Integer),
            ColumnPlan::new("Name", "", PgType::Text),
            ColumnPlan::new("at", "", PgType::Timestamptz),
        ];
        let mut plan = TablePlan::new("s", "order", columns);
        plan.source_name = "t".to_owned();
        plan.primary_key = vec!["id".to_owned()];
        plan
    }

    fn sql(rows: &TargetRows<'_>) -> Vec<(String, usize)> {
        rows.statements()
            .map(|(sql, params)| (sql.to_owned(), params.len()))
            .collect()
    }

    #[test]
    fn selects_plan_columns_in_order() {
        let rows = TargetRows::new(&plan(), RowFilter::All).unwrap();
        assert_eq!(
            sql(&rows),
            [(
                "SELECT \"id\", \"Name\", \"at\" FROM \"s\".\"order\"".to_owned(),
                0
            )]
        );
        let ranges = [(20, 29), (1, 9), (5, 12), (13, 13), (40, 30)];
        let rows = TargetRows::new(
            &plan(),
            RowFilter::KeyRanges {
                column: "id",
                ranges: &ranges,
            },
        )
        .unwrap();
        assert_eq!(
            sql(&rows),
            [(
                "SELECT t.\"id\", t.\"Name\", t.\"at\" FROM \"s\".\"order\" AS t JOIN \
                 unnest('{1,20}'::int8[], '{13,29}'::int8[]) AS r(lo, hi) ON t.\"id\" BETWEEN \
                 r.lo AND r.hi"
                    .to_owned(),
                0
            )]
        );
        assert_eq!(
            merged(&[(i64::MAX, i64::MAX), (0, 0)]),
            [(0, 0), (i64::MAX, i64::MAX)]
        );
    }

    #[test]
    fn key_filters_bind_typed_parameters() {
        let columns = ["id".to_owned()];
        let keys = [vec![PgValue::Int4(1)], vec![PgValue::Int8(2)]];
        let rows = TargetRows::new(
            &plan(),
            RowFilter::Keys {
                columns: &columns,
                keys: &keys,
            },
        )
        .unwrap();
        assert!(sql(&rows)[0]
            .0
            .ends_with(" WHERE \"id\" IN ($1::int4, $2::int8)"));

        let columns = ["id".to_owned(), "Name".to_owned()];
        let keys = [
            vec![PgValue::Int4(1), PgValue::Text(Cow::Borrowed("a"))],
            vec![PgValue::Int4(2), PgValue::Null],
        ];
        let rows = TargetRows::new(
            &plan(),
            RowFilter::Keys {
                columns: &columns,
                keys: &keys,
            },
        )
        .unwrap();
        assert_eq!(sql(&rows)[0].1, 4);
        assert!(sql(&rows)[0].0.ends_with(
            " WHERE (\"id\", \"Name\") IN (($1::int4, $2::text), ($3::int4, $4::text))"
        ));
    }

    #[test]
    fn keys_are_batched() {
        let columns = ["id".to_owned()];
        let keys: Vec<_> = (0..2500).map(|i| vec![PgValue::Int4(i)]).collect();
        let rows = TargetRows::new(
            &plan(),
            RowFilter::Keys {
                columns: &columns,
                keys: &keys,
            },
        )
        .unwrap();
        let counts: Vec<_> = sql(&rows).into_iter().map(|(_, n)| n).collect();
        assert_eq!(counts, [1000, 1000, 500]);
        let none = TargetRows::new(
            &plan(),
            RowFilter::Keys {
                columns: &columns,
                keys: &[],
            },
        )
        .unwrap();
        assert_eq!(none.statements().count(), 0);
    }

    #[test]
    fn malformed_keys_are_errors() {
        let columns = ["id".to_owned(), "Name".to_owned()];
        let keys = [vec![PgValue::Int4(1)]];
        let err = TargetRows::new(
            &plan(),
            RowFilter::Keys {
                columns: &columns,
                keys: &keys,
            },
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "s.order: cannot filter rows: a key has 1 value for 2 key columns (id, Name); \
             this is a ferry bug, please report it"
        );
    }

    #[test]
    fn params_write_the_copy_field_bytes() {
        let mut out = BytesMut::new();
        let value = PgValue::Numeric(Cow::Borrowed("12.50"));
        assert!(matches!(
            PgParam(&value).to_sql(&Type::NUMERIC, &mut out).unwrap(),
            IsNull::No
        ));
        assert_eq!(&out[..], &[0, 2, 0, 0, 0, 0, 0, 2, 0, 12, 0x13, 0x88]);
        assert!(matches!(
            PgParam(&PgValue::Null)
                .to_sql(&Type::INT4, &mut out)
                .unwrap(),
            IsNull::Yes
        ));
    }
}
