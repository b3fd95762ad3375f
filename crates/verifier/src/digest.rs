//! blake3 digests of rows and order-independent digests of sets of rows.

use std::cell::RefCell;
use std::fmt;

use ferry_model::PgValue;

use crate::encode::encode_row;

/// The blake3 hash of one row's canonical encoding.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowDigest(pub [u8; 32]);

impl fmt::Display for RowDigest {
    /// Lowercase hex, 64 characters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(&self.0, f)
    }
}

impl fmt::Debug for RowDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RowDigest({self})")
    }
}

/// A thread's encoding buffer is dropped rather than kept once a row has
/// grown it past this, so one huge row does not pin its memory for the life
/// of a worker thread.
const KEPT_CAPACITY: usize = 1 << 20;

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The digest of a row: blake3 of [`encode_row`]'s output.
///
/// Encodes into a buffer kept per thread, so hashing millions of rows does
/// not allocate per row.
pub fn row_digest(values: &[PgValue<'_>]) -> RowDigest {
    let hash = |buffer: &mut Vec<u8>| {
        buffer.clear();
        encode_row(values, buffer);
        RowDigest(*blake3::hash(buffer).as_bytes())
    };
    BUFFER
        .try_with(|cell| match cell.try_borrow_mut() {
            Ok(mut buffer) => {
                let digest = hash(&mut buffer);
                if buffer.capacity() > KEPT_CAPACITY {
                    *buffer = Vec::new();
                }
                digest
            }
            Err(_) => hash(&mut Vec::new()),
        })
        // The thread-local is gone while the thread shuts down.
        .unwrap_or_else(|_| hash(&mut Vec::new()))
}

/// An order-independent digest of a multiset of rows, such as one bucket of
/// a table.
///
/// The 32 digest bytes of each row are read as four little-endian u64 lanes
/// and added lane by lane with wrapping (no carry between lanes), and the
/// rows are counted. Addition is commutative and associative, so rows can
/// arrive in any order and partial digests computed in parallel can be
/// [merged](Self::merge). A duplicated row counts twice.
///
/// The sum detects accidental differences (a missing, extra or altered row)
/// with the strength of a 256-bit checksum; it is not meant to resist
/// someone crafting rows to collide, which sums of hashes do not.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SetDigest {
    sum: [u64; 4],
    rows: u64,
}

impl SetDigest {
    /// The digest of no rows.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one row.
    pub fn add(&mut self, row: &RowDigest) {
        for (lane, chunk) in self.sum.iter_mut().zip(row.0.chunks_exact(8)) {
            let mut bytes = [0; 8];
            bytes.copy_from_slice(chunk);
            *lane = lane.wrapping_add(u64::from_le_bytes(bytes));
        }
        self.rows = self.rows.wrapping_add(1);
    }

    /// Adds every row another digest has seen.
    pub fn merge(&mut self, other: &SetDigest) {
        for (lane, theirs) in self.sum.iter_mut().zip(other.sum) {
            *lane = lane.wrapping_add(theirs);
        }
        self.rows = self.rows.wrapping_add(other.rows);
    }

    /// How many rows were added.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The digest whose [`sum_bytes`](Self::sum_bytes) and
    /// [`rows`](Self::rows) are these, as stored.
    pub fn from_parts(sum_bytes: [u8; 32], rows: u64) -> Self {
        let mut sum = [0; 4];
        for (lane, chunk) in sum.iter_mut().zip(sum_bytes.chunks_exact(8)) {
            let mut bytes = [0; 8];
            bytes.copy_from_slice(chunk);
            *lane = u64::from_le_bytes(bytes);
        }
        SetDigest { sum, rows }
    }

    /// The lane sums as 32 bytes (each lane little-endian), for storing
    /// alongside [`rows`](Self::rows).
    pub fn sum_bytes(&self) -> [u8; 32] {
        let mut bytes = [0; 32];
        for (chunk, lane) in bytes.chunks_exact_mut(8).zip(self.sum) {
            chunk.copy_from_slice(&lane.to_le_bytes());
        }
        bytes
    }
}

impl FromIterator<RowDigest> for SetDigest {
    fn from_iter<I: IntoIterator<Item = RowDigest>>(rows: I) -> Self {
        let mut set = SetDigest::new();
        rows.into_iter().for_each(|row| set.add(&row));
        set
    }
}

impl fmt::Display for SetDigest {
    /// The lane sums in hex, then the row count: `9f…e2 (1500 rows)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(&self.sum_bytes(), f)?;
        write!(f, " ({})", ferry_model::plural(self.rows, "row", "rows"))
    }
}

impl fmt::Debug for SetDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SetDigest({self})")
    }
}

fn write_hex(bytes: &[u8], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    bytes.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn digest_of(i: i64) -> RowDigest {
        row_digest(&[PgValue::Int8(i), PgValue::Text(format!("row {i}").into())])
    }

    #[test]
    fn row_digest_is_blake3_of_the_encoding() {
        let values = [PgValue::Int4(1), PgValue::Null];
        let mut encoded = Vec::new();
        encode_row(&values, &mut encoded);
        assert_eq!(row_digest(&values).0, *blake3::hash(&encoded).as_bytes());
        assert_eq!(
            row_digest(&values),
            row_digest(&[PgValue::Int2(1), PgValue::Null])
        );
        assert_ne!(
            row_digest(&values),
            row_digest(&[PgValue::Null, PgValue::Int2(1)])
        );
        // A large row must not disturb the rows after it.
        let big = "x".repeat(KEPT_CAPACITY * 2);
        row_digest(&[PgValue::Text(big.as_str().into())]);
        assert_eq!(row_digest(&values).0, *blake3::hash(&encoded).as_bytes());
    }

    #[test]
    fn display_is_hex() {
        let mut bytes = [0; 32];
        bytes[0] = 0xAB;
        bytes[31] = 0x01;
        let digest = RowDigest(bytes);
        let hex = format!("ab{}01", "00".repeat(30));
        assert_eq!(digest.to_string(), hex);
        assert_eq!(format!("{digest:?}"), format!("RowDigest({hex})"));

        let set: SetDigest = [digest, digest].into_iter().collect();
        assert_eq!(
            set.to_string(),
            format!("5601{}02 (2 rows)", "00".repeat(29))
        );
        assert_eq!(
            SetDigest::new().to_string(),
            format!("{} (0 rows)", "00".repeat(32))
        );
    }

    #[test]
    fn lanes_wrap_without_carrying() {
        let mut set = SetDigest::new();
        set.add(&RowDigest([0xFF; 32]));
        set.add(&RowDigest([0x01; 32]));
        let lane = 0xFFFF_FFFF_FFFF_FFFFu64.wrapping_add(0x0101_0101_0101_0101);
        assert_eq!(set.sum_bytes(), [lane.to_le_bytes(); 4].concat()[..]);
        assert_eq!(set.rows(), 2);
    }

    #[test]
    fn sets_differ_when_rows_do() {
        let base: SetDigest = (0..100).map(digest_of).collect();
        let missing: SetDigest = (1..100).map(digest_of).collect();
        let changed: SetDigest = (0..99).chain([1000]).map(digest_of).collect();
        let duplicated: SetDigest = (0..100).chain([5]).map(digest_of).collect();
        assert_ne!(base, missing);
        assert_ne!(base, changed);
        assert_ne!(base, duplicated);
        assert_eq!(changed.rows(), base.rows());
    }

    proptest! {
        #[test]
        fn order_and_grouping_do_not_matter(
            rows in proptest::collection::vec(any::<i64>(), 0..64),
            split in any::<prop::sample::Index>(),
            seed in any::<u64>(),
        ) {
            let digests: Vec<RowDigest> = rows.iter().map(|&i| digest_of(i)).collect();
            let whole: SetDigest = digests.iter().copied().collect();

            let mut shuffled = digests.clone();
            let len = shuffled.len();
            for i in (1..len).rev() {
                let j = (seed.wrapping_mul(i as u64 + 1).rotate_left(17) % (i as u64 + 1)) as usize;
                shuffled.swap(i, j);
            }
            prop_assert_eq!(shuffled.iter().copied().collect::<SetDigest>(), whole);

            let at = if len == 0 { 0 } else { split.index(len + 1) };
            let mut left: SetDigest = digests[..at].iter().copied().collect();
            let right: SetDigest = digests[at..].iter().copied().collect();
            let mut right_first = right;
            right_first.merge(&left);
            left.merge(&right);
            prop_assert_eq!(left, whole);
            prop_assert_eq!(right_first, whole);
            prop_assert_eq!(whole.rows(), rows.len() as u64);
        }
    }
}
