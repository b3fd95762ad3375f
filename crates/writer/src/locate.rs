//! Reading target rows together with where they sit, and reading those
//! rows back by that position.
//!
//! A full comparison reduces every row to a fixed-size record and keeps,
//! instead of the row, its [`TargetLocator`]: the table it sits in (a leaf,
//! for a partitioned table) and its tuple id. The few rows a report lists
//! are then fetched by tuple id (a TID scan, no index needed) rather than
//! by key, whose values the records no longer hold.

use std::convert::Infallible;
use std::pin::pin;

use ferry_copy_codec::CodecError;
use ferry_model::{quote_qualified, PgValue, TablePlan};
use futures_util::TryStreamExt;
use tokio_postgres::Client;

use crate::read_back::{select_list, RawField, RowDecoder};
use crate::{WriteError, WriteOrRow};

/// Where one row sits in the target: `tableoid` and `ctid`. It stays valid
/// while the row is not updated or moved (`VACUUM FULL`, `CLUSTER`), which
/// is all a verification that reads it back seconds later needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetLocator {
    /// The table holding the row (the leaf of a partitioned table).
    pub table_oid: u32,
    /// The heap block.
    pub block: u32,
    /// The line pointer within the block.
    pub offset: u16,
}

/// The callback [`stream_located_rows`] hands each target row to, with
/// its locator; as [`OnTargetRow`](crate::OnTargetRow), except that the
/// values borrow the row as received (no copy of its text), for the
/// length of the call.
pub type OnLocatedRow<'a, E> =
    dyn for<'r> FnMut(TargetLocator, &[PgValue<'r>]) -> Result<(), E> + Send + 'a;

/// Streams every row of `plan`'s table with its [`TargetLocator`], columns
/// in plan order, as [`stream_rows`](crate::stream_rows) does. Returns the
/// rows passed to `on_row`.
///
/// # Errors
///
/// As [`stream_rows`](crate::stream_rows).
pub async fn stream_located_rows<E>(
    client: &Client,
    plan: &TablePlan,
    on_row: &mut OnLocatedRow<'_, E>,
) -> Result<u64, WriteOrRow<E>> {
    let sql = format!(
        "SELECT tableoid, ctid, {} FROM {}",
        select_list(plan),
        quote_qualified(&plan.schema, &plan.name)
    );
    read_located(client, plan, &sql, &mut |_| true, on_row).await
}

/// The rows at `locators`, with their locators, columns in plan order. A
/// locator whose row is gone (updated or deleted since it was read) is
/// left out.
///
/// # Errors
///
/// As [`stream_rows`](crate::stream_rows).
pub async fn fetch_located(
    client: &Client,
    plan: &TablePlan,
    locators: &[TargetLocator],
) -> Result<Vec<(TargetLocator, Vec<PgValue<'static>>)>, WriteError> {
    let mut found = Vec::with_capacity(locators.len());
    for batch in locators.chunks(1000) {
        // Tuple ids are numbers formatted here, never user text.
        let tids: Vec<String> = batch
            .iter()
            .map(|l| format!("'({},{})'", l.block, l.offset))
            .collect();
        let sql = format!(
            "SELECT tableoid, ctid, {} FROM {} WHERE ctid = ANY (ARRAY[{}]::tid[])",
            select_list(plan),
            quote_qualified(&plan.schema, &plan.name),
            tids.join(", ")
        );
        // Each leaf of a partitioned table has its own tuple ids: keep
        // only the exact (table, tid) pairs asked for.
        read_located(
            client,
            plan,
            &sql,
            &mut |at| batch.contains(at),
            &mut |at, values| {
                found.push((
                    at,
                    values.iter().cloned().map(PgValue::into_owned).collect(),
                ));
                Ok::<_, Infallible>(())
            },
        )
        .await
        .map_err(WriteError::from)?;
    }
    Ok(found)
}

async fn read_located<E>(
    client: &Client,
    plan: &TablePlan,
    sql: &str,
    keep: &mut (dyn FnMut(&TargetLocator) -> bool + Send),
    on_row: &mut OnLocatedRow<'_, E>,
) -> Result<u64, WriteOrRow<E>> {
    let display = format!("{}.{}", plan.schema, plan.name);
    let fail = |e| WriteError::from_pg(&display, "read the table's rows", e);
    let stream = client
        .query_raw(sql, std::iter::empty::<&str>())
        .await
        .map_err(fail)?;
    let mut stream = pin!(stream);
    let mut decoder = RowDecoder::new(&display, 2);
    let mut count = 0;
    while let Some(row) = stream.try_next().await.map_err(fail)? {
        let oid: RawField<'_> = row.try_get(0).map_err(fail)?;
        let tid: RawField<'_> = row.try_get(1).map_err(fail)?;
        let at = decode_locator(oid.0, tid.0).ok_or_else(|| WriteError::Decode {
            table: display.clone(),
            column: "ctid".to_owned(),
            source: CodecError::Decode {
                pg_type: "tid".to_owned(),
                value: format!("{:?} {:?}", oid.0, tid.0),
                reason: "is not an oid and a tuple id",
            },
        })?;
        if !keep(&at) {
            continue;
        }
        count += 1;
        on_row(at, &decoder.decode_borrowed(&row)?).map_err(WriteOrRow::Row)?;
    }
    Ok(count)
}

/// An `oid` (4 bytes) and a `tid` (block u32, offset u16) in binary
/// format, both big-endian.
fn decode_locator(oid: &[u8], tid: &[u8]) -> Option<TargetLocator> {
    let oid: [u8; 4] = oid.try_into().ok()?;
    let (block, offset) = tid.split_first_chunk::<4>()?;
    let offset: [u8; 2] = offset.try_into().ok()?;
    Some(TargetLocator {
        table_oid: u32::from_be_bytes(oid),
        block: u32::from_be_bytes(*block),
        offset: u16::from_be_bytes(offset),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locators_decode_from_binary() {
        assert_eq!(
            decode_locator(&[0, 0, 0x40, 0x01], &[0, 0, 1, 2, 0, 7]),
            Some(TargetLocator {
                table_oid: 0x4001,
                block: 0x0102,
                offset: 7
            })
        );
        assert_eq!(decode_locator(&[0, 0, 1], &[0, 0, 1, 2, 0, 7]), None);
        assert_eq!(decode_locator(&[0, 0, 0, 1], &[0, 0, 1, 2, 0]), None);
    }
}
