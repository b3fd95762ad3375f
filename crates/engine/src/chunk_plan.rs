//! How a copy is cut into chunks, and the order they are claimed in.
//!
//! A chunk is sized by bytes, not rows (issue 19): with a fixed row count
//! a table of large rows became a few huge chunks that finished long after
//! everything else, one core busy and the others idle. Each table is cut
//! into as many chunks as its estimated bytes need to hold about
//! [`CHUNK_BYTES`] each, never more than `--chunk-rows` rows, and chunks
//! are claimed largest first, so the big pieces start early and the small
//! ones fill the gaps at the end (longest-processing-time-first
//! scheduling). These are pure functions; `setup` samples the sizes and
//! records the result in the ledger.

/// The bytes of COPY data a chunk aims at: 32 MiB.
///
/// Small enough that the last chunks leave little tail (at the 60-200 MB/s
/// one connection loads, a chunk is 0.2-0.5 s of work, and a stopped run
/// loses at most that much per connection), large enough that a chunk's
/// fixed costs (a claim, a transaction, a ledger update, a reader handed a
/// new range) stay far below 1% of it. Memory does not depend on it: a
/// chunk streams through bounded buffers.
pub const CHUNK_BYTES: u64 = 32 << 20;

/// A table as the planner sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TableSize {
    /// Rows the source holds.
    pub rows: u64,
    /// Estimated bytes of the whole table (rows × sampled bytes per row).
    pub bytes: u64,
}

impl TableSize {
    /// A table of `rows` rows of about `bytes_per_row` bytes.
    pub fn new(rows: u64, bytes_per_row: f64) -> TableSize {
        TableSize {
            rows,
            // Saturates; a negative or NaN estimate counts as 0.
            bytes: (rows as f64 * bytes_per_row) as u64,
        }
    }
}

/// Rows per chunk for a table: enough chunks for each to hold about
/// `chunk_bytes`, and no chunk more than `max_rows` rows. At least 1.
pub fn rows_per_chunk(size: TableSize, chunk_bytes: u64, max_rows: u64) -> u64 {
    let chunks = size.bytes.div_ceil(chunk_bytes.max(1)).max(1);
    size.rows.div_ceil(chunks).clamp(1, max_rows.max(1))
}

/// The order chunks are claimed in, given each chunk's estimated bytes:
/// indexes into `chunk_bytes`, largest first; chunks of equal size keep
/// the order they were listed in.
pub fn claim_order(chunk_bytes: &[u64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..chunk_bytes.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(chunk_bytes[i]));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn large_rows_make_more_chunks_than_the_row_cap_alone() {
        // 750,000 emails of about 1.7 KB: 1.3 GB, 38 chunks of 32 MiB
        // instead of 8 of 100,000 rows.
        let emails = TableSize::new(750_000, 1_700.0);
        let rows = rows_per_chunk(emails, CHUNK_BYTES, 100_000);
        assert_eq!(rows, 19_737);
        assert_eq!(750_000u64.div_ceil(rows), 38);
        // 100 rows of 1 MiB: four chunks of 25 rows.
        let blobs = TableSize::new(100, MIB as f64);
        assert_eq!(rows_per_chunk(blobs, CHUNK_BYTES, 100_000), 25);
    }

    #[test]
    fn small_rows_are_capped_by_the_row_limit() {
        // 1.5M events of 60 bytes: 86 MiB would make 3 chunks of 500,000
        // rows, but no chunk holds more than --chunk-rows.
        let events = TableSize::new(1_500_000, 60.0);
        assert_eq!(rows_per_chunk(events, CHUNK_BYTES, 100_000), 100_000);
        assert_eq!(rows_per_chunk(events, CHUNK_BYTES, 1_000_000), 500_000);
    }

    #[test]
    fn a_small_table_is_one_chunk() {
        let accounts = TableSize::new(760, 300.0);
        assert_eq!(rows_per_chunk(accounts, CHUNK_BYTES, 100_000), 760);
        // A row cap below the table still splits it.
        assert_eq!(rows_per_chunk(accounts, CHUNK_BYTES, 500), 500);
    }

    #[test]
    fn degenerate_inputs_give_at_least_one_row() {
        for size in [
            TableSize::new(0, 0.0),
            TableSize::new(0, 1e9),
            TableSize::new(10, f64::NAN),
            TableSize::new(10, -5.0),
            TableSize::new(u64::MAX, f64::MAX),
        ] {
            for (bytes, rows) in [(0, 0), (1, 1), (CHUNK_BYTES, u64::MAX)] {
                assert!(rows_per_chunk(size, bytes, rows) >= 1, "{size:?}");
            }
        }
        // Every row its own chunk when each row is larger than a chunk.
        let huge = TableSize::new(5, (64 * MIB) as f64);
        assert_eq!(rows_per_chunk(huge, CHUNK_BYTES, 100_000), 1);
    }

    #[test]
    fn largest_chunks_are_claimed_first_ties_in_listed_order() {
        // events 0-2 (10 MB each), emails 3-5 (32 MB), accounts 6 (0.2 MB),
        // a second 32 MB table 7.
        let sizes = [10, 10, 10, 32, 32, 32, 0, 32];
        assert_eq!(claim_order(&sizes), [3, 4, 5, 7, 0, 1, 2, 6]);
        assert_eq!(claim_order(&[]), Vec::<usize>::new());
    }
}
