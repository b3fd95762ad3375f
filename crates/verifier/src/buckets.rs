//! Order-independent digests of a table, split into buckets by row key.
//!
//! Comparing one digest per table says only *whether* a table differs.
//! Splitting rows into buckets by a hash of their key says *where*: only the
//! rows of buckets whose digests disagree have to be fetched again and
//! diffed row by row. A row's bucket depends on its key alone, so the source
//! and target sides put the same row in the same bucket however they read
//! it.

use ferry_model::PgValue;

use crate::digest::{RowDigest, SetDigest};
use crate::encode::encode_row;

/// The canonical bytes of a row key: [`encode_row`] of the key values. Keys
/// compare by these bytes, so a `bigint` 5 on one side matches an `integer`
/// 5 on the other.
///
/// A table without a primary key uses the whole row as its key, which makes
/// its rows a multiset: identical rows share a key and are counted, not
/// collapsed.
pub fn key_bytes(key: &[PgValue<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_row(key, &mut out);
    out
}

/// Which of `buckets` buckets a key falls in: the first 8 bytes of
/// blake3(`key_bytes`) as a little-endian u64, modulo `buckets`.
///
/// blake3 rather than the row's position spreads keys evenly whatever their
/// distribution (sequential ids, clustered text). The result is part of what
/// two runs must agree on, so it never depends on the platform. Zero buckets
/// is treated as one.
pub fn bucket_of(key_bytes: &[u8], buckets: u32) -> u32 {
    bucket_of_hash(&blake3::hash(key_bytes), buckets)
}

/// [`bucket_of`] for a key whose blake3 hash is already known.
fn bucket_of_hash(hash: &blake3::Hash, buckets: u32) -> u32 {
    let mut first = [0; 8];
    first.copy_from_slice(&hash.as_bytes()[..8]);
    // The remainder is below `buckets`, so it fits in a u32.
    (u64::from_le_bytes(first) % u64::from(buckets.max(1))) as u32
}

/// One [`SetDigest`] per bucket of a table.
///
/// Rows are fed one at a time in any order, and digests built by separate
/// threads over separate chunks are [merged](Self::merge); the result only
/// depends on which rows were added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketDigests {
    buckets: Vec<SetDigest>,
}

impl BucketDigests {
    /// Empty digests for `buckets` buckets (at least one).
    pub fn new(buckets: u32) -> Self {
        BucketDigests {
            buckets: vec![SetDigest::new(); buckets.max(1) as usize],
        }
    }

    /// Adds one row, placed by its key (see [`key_bytes`]).
    pub fn add(&mut self, key_bytes: &[u8], row: &RowDigest) {
        let at = bucket_of(key_bytes, self.bucket_count());
        self.buckets[at as usize].add(row);
    }

    /// Adds a row that is its key alone, as a keys-only comparison does:
    /// the same as `add(key_bytes, &row_digest(key))`, with one hash of
    /// the key serving as both its bucket and its digest.
    pub fn add_key(&mut self, key_bytes: &[u8]) {
        let hash = blake3::hash(key_bytes);
        let at = bucket_of_hash(&hash, self.bucket_count());
        self.buckets[at as usize].add(&RowDigest(*hash.as_bytes()));
    }

    /// Adds every row another set of digests has seen.
    ///
    /// # Panics
    ///
    /// If the two were built with different bucket counts: rows would land
    /// in different buckets, so the merge would be meaningless. This is a
    /// bug in the caller, never a property of the data.
    pub fn merge(&mut self, other: &BucketDigests) {
        assert_eq!(
            self.buckets.len(),
            other.buckets.len(),
            "merging bucket digests with different bucket counts"
        );
        for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            mine.merge(theirs);
        }
    }

    /// How many buckets there are.
    pub fn bucket_count(&self) -> u32 {
        // `new` takes the count as a u32, so the length fits.
        self.buckets.len() as u32
    }

    /// The digest of one bucket, or `None` past the last bucket.
    pub fn bucket(&self, bucket: u32) -> Option<&SetDigest> {
        self.buckets.get(bucket as usize)
    }

    /// How many rows were added, over all buckets.
    pub fn rows(&self) -> u64 {
        self.buckets
            .iter()
            .fold(0u64, |rows, bucket| rows.wrapping_add(bucket.rows()))
    }

    /// The buckets whose digests differ between the two sides, in ascending
    /// order: only their rows need to be diffed.
    ///
    /// # Panics
    ///
    /// If the two were built with different bucket counts (see
    /// [`merge`](Self::merge)).
    pub fn mismatched(&self, other: &BucketDigests) -> Vec<u32> {
        assert_eq!(
            self.buckets.len(),
            other.buckets.len(),
            "comparing bucket digests with different bucket counts"
        );
        self.buckets
            .iter()
            .zip(&other.buckets)
            .enumerate()
            .filter(|(_, (mine, theirs))| mine != theirs)
            .map(|(at, _)| at as u32)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::row_digest;

    fn row(id: i64) -> (Vec<u8>, RowDigest) {
        let values = [PgValue::Int8(id), PgValue::Text(format!("row {id}").into())];
        (key_bytes(&values[..1]), row_digest(&values))
    }

    fn digests(ids: impl IntoIterator<Item = i64>, buckets: u32) -> BucketDigests {
        let mut digests = BucketDigests::new(buckets);
        for id in ids {
            let (key, digest) = row(id);
            digests.add(&key, &digest);
        }
        digests
    }

    #[test]
    fn key_bytes_ignore_integer_width() {
        assert_eq!(
            key_bytes(&[PgValue::Int4(5)]),
            key_bytes(&[PgValue::Int8(5)])
        );
        assert_eq!(
            key_bytes(&[PgValue::Int2(1), PgValue::Null]),
            [2, 0, 0x02, 1, 0, 0, 0, 0, 0, 0, 0, 0x00]
        );
    }

    #[test]
    fn bucket_placement_is_stable() {
        // These values are part of what separate runs and machines must
        // agree on: if they change, stored bucket digests are invalid.
        let key = key_bytes(&[PgValue::Int8(1)]);
        let hash = blake3::hash(&key);
        let first = u64::from_le_bytes(hash.as_bytes()[..8].try_into().unwrap());
        assert_eq!(bucket_of(&key, 1024), (first % 1024) as u32);
        assert_eq!(bucket_of(&key, 1024), bucket_of(&key, 1024));
        assert_eq!(bucket_of(&key, 1), 0);
        assert_eq!(bucket_of(&key, 0), 0);
        assert_eq!(bucket_of(b"", 7), {
            let hash = blake3::hash(b"");
            (u64::from_le_bytes(hash.as_bytes()[..8].try_into().unwrap()) % 7) as u32
        });
        // Keys spread over the buckets rather than piling into a few.
        let mut used = [false; 16];
        for id in 0..256 {
            used[bucket_of(&key_bytes(&[PgValue::Int8(id)]), 16) as usize] = true;
        }
        assert!(used.iter().all(|&u| u));
    }

    #[test]
    fn a_key_alone_is_added_as_a_row_of_its_key() {
        let mut as_rows = BucketDigests::new(16);
        let mut as_keys = BucketDigests::new(16);
        for id in 0..100 {
            let key = [PgValue::Int8(id), PgValue::Text(format!("k{id}").into())];
            as_rows.add(&key_bytes(&key), &row_digest(&key));
            as_keys.add_key(&key_bytes(&key));
        }
        assert_eq!(as_rows, as_keys);
    }

    #[test]
    fn order_and_merging_do_not_matter() {
        let forward = digests(0..500, 64);
        let backward = digests((0..500).rev(), 64);
        assert_eq!(forward, backward);
        assert_eq!(forward.rows(), 500);
        assert_eq!(forward.bucket_count(), 64);

        let mut evens = digests((0..500).filter(|i| i % 2 == 0), 64);
        let odds = digests((0..500).filter(|i| i % 2 == 1), 64);
        evens.merge(&odds);
        assert_eq!(evens, forward);
        assert!(forward.mismatched(&evens).is_empty());
    }

    #[test]
    fn mismatches_point_at_the_buckets_that_differ() {
        let source = digests(0..500, 64);
        let missing = digests((0..500).filter(|&i| i != 42), 64);
        let bucket = bucket_of(&row(42).0, 64);
        assert_eq!(source.mismatched(&missing), vec![bucket]);
        assert_eq!(missing.mismatched(&source), vec![bucket]);
        assert_eq!(
            source.bucket(bucket).unwrap().rows(),
            missing.bucket(bucket).unwrap().rows() + 1
        );
        assert!(source.bucket(64).is_none());

        // Same key, different content: the key's bucket differs.
        let mut changed = digests((0..500).filter(|&i| i != 7), 64);
        let key = key_bytes(&[PgValue::Int8(7)]);
        changed.add(
            &key,
            &row_digest(&[PgValue::Int8(7), PgValue::Text("x".into())]),
        );
        assert_eq!(source.mismatched(&changed), vec![bucket_of(&key, 64)]);

        // A duplicated row in a keyless table is a difference too.
        let whole = |id: i64| [PgValue::Int8(id)];
        let mut once = BucketDigests::new(8);
        let mut twice = BucketDigests::new(8);
        for id in [1, 2, 3] {
            once.add(&key_bytes(&whole(id)), &row_digest(&whole(id)));
            twice.add(&key_bytes(&whole(id)), &row_digest(&whole(id)));
        }
        twice.add(&key_bytes(&whole(2)), &row_digest(&whole(2)));
        assert_eq!(
            once.mismatched(&twice),
            vec![bucket_of(&key_bytes(&whole(2)), 8)]
        );
    }

    #[test]
    fn zero_buckets_means_one() {
        let digests = digests(0..10, 0);
        assert_eq!(digests.bucket_count(), 1);
        assert_eq!(digests.bucket(0).unwrap().rows(), 10);
    }

    #[test]
    #[should_panic(expected = "different bucket counts")]
    fn merging_different_counts_is_a_bug() {
        BucketDigests::new(2).merge(&BucketDigests::new(3));
    }
}
