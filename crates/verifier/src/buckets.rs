//! Order-independent digests of a table, split into buckets by row key.
//!
//! Comparing one digest per table says only *whether* a table differs.
//! Splitting rows into buckets by a hash of their key says *where*: only the
//! rows of buckets whose digests disagree have to be fetched again and
//! diffed row by row. A row's bucket depends on its key alone, so the source
//! and target sides put the same row in the same bucket however they read
//! it.

use std::collections::BTreeMap;

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

/// How rows are placed in buckets: what two runs, and the two sides of one
/// comparison, must agree on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bucketing {
    /// `count` buckets by a hash of the key ([`bucket_of`]): keys spread
    /// evenly whatever their distribution, but a bucket's rows can only be
    /// found by reading every key.
    Hash {
        /// Buckets (at least one).
        count: u32,
    },
    /// Ranges of a single integer key, `width` keys each: bucket `b` holds
    /// the keys `b * width ..= b * width + width - 1`, so either side reads
    /// a bucket's rows by a range of its key (SQLite's rowid, Postgres's
    /// primary key index) instead of reading every row.
    Range {
        /// Keys per bucket (at least one).
        width: u64,
    },
}

impl Bucketing {
    /// The bucket of a key, given its values and its [`key_bytes`]; `None`
    /// under [`Bucketing::Range`] for a key that is not one integer.
    pub fn bucket(&self, key: &[PgValue<'_>], key_bytes: &[u8]) -> Option<i64> {
        match *self {
            Bucketing::Hash { count } => Some(i64::from(bucket_of(key_bytes, count))),
            Bucketing::Range { width } => {
                let value = match key {
                    [PgValue::Int2(v)] => i64::from(*v),
                    [PgValue::Int4(v)] => i64::from(*v),
                    [PgValue::Int8(v)] => *v,
                    _ => return None,
                };
                Some(value.div_euclid(Self::width_i64(width)))
            }
        }
    }

    /// The first and last key of a bucket under [`Bucketing::Range`].
    pub fn key_range(&self, bucket: i64) -> Option<(i64, i64)> {
        match *self {
            Bucketing::Hash { .. } => None,
            Bucketing::Range { width } => {
                let width = Self::width_i64(width);
                let first = bucket.saturating_mul(width);
                Some((first, first.saturating_add(width - 1)))
            }
        }
    }

    /// The name and parameter that store it: `("hash", count)` or
    /// `("range", width)`.
    pub fn to_parts(&self) -> (&'static str, i64) {
        match *self {
            Bucketing::Hash { count } => ("hash", i64::from(count.max(1))),
            Bucketing::Range { width } => ("range", Self::width_i64(width)),
        }
    }

    /// The bucketing [`to_parts`](Self::to_parts) stored; `None` for
    /// anything else.
    pub fn from_parts(name: &str, parameter: i64) -> Option<Bucketing> {
        match name {
            "hash" => Some(Bucketing::Hash {
                count: u32::try_from(parameter).ok().filter(|&c| c > 0)?,
            }),
            "range" => Some(Bucketing::Range {
                width: u64::try_from(parameter).ok().filter(|&w| w > 0)?,
            }),
            _ => None,
        }
    }

    fn width_i64(width: u64) -> i64 {
        i64::try_from(width.max(1)).unwrap_or(i64::MAX)
    }
}

/// One [`SetDigest`] per non-empty bucket of a table.
///
/// Rows are fed one at a time in any order, and digests built by separate
/// threads over separate chunks are [merged](Self::merge); the result only
/// depends on which rows were added. They can be [stored](Self::to_bytes)
/// and [read back](Self::from_bytes), so that a later run compares the
/// source with what an earlier one saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketDigests {
    bucketing: Bucketing,
    buckets: BTreeMap<i64, SetDigest>,
}

/// Bytes per bucket in [`BucketDigests::to_bytes`]: bucket, lane sums, rows.
const STORED_BUCKET: usize = 8 + 32 + 8;

impl BucketDigests {
    /// No rows yet, placed by `bucketing`.
    pub fn new(bucketing: Bucketing) -> Self {
        BucketDigests {
            bucketing,
            buckets: BTreeMap::new(),
        }
    }

    /// How rows are placed.
    pub fn bucketing(&self) -> Bucketing {
        self.bucketing
    }

    /// Adds one row to its bucket (see [`Bucketing::bucket`]).
    pub fn add(&mut self, bucket: i64, row: &RowDigest) {
        self.buckets.entry(bucket).or_default().add(row);
    }

    /// Adds a row that is its key alone, as a keys-only comparison does:
    /// the same as `add(bucket, &row_digest(key))`, with the key's hash as
    /// its digest.
    pub fn add_key(&mut self, bucket: i64, key_bytes: &[u8]) {
        self.add(bucket, &RowDigest(*blake3::hash(key_bytes).as_bytes()));
    }

    /// Adds every row another set of digests has seen.
    ///
    /// # Panics
    ///
    /// If the two were built with different bucketings: rows would land in
    /// different buckets, so the merge would be meaningless. This is a bug
    /// in the caller, never a property of the data.
    pub fn merge(&mut self, other: &BucketDigests) {
        assert_eq!(
            self.bucketing, other.bucketing,
            "merging bucket digests with different bucketings"
        );
        for (bucket, theirs) in &other.buckets {
            self.buckets.entry(*bucket).or_default().merge(theirs);
        }
    }

    /// How many buckets hold rows.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// The digest of one bucket, or `None` when it holds no row.
    pub fn bucket(&self, bucket: i64) -> Option<&SetDigest> {
        self.buckets.get(&bucket)
    }

    /// How many rows were added, over all buckets.
    pub fn rows(&self) -> u64 {
        self.buckets
            .values()
            .fold(0u64, |rows, bucket| rows.wrapping_add(bucket.rows()))
    }

    /// The buckets whose digests differ between the two sides (a bucket
    /// empty on one side included), in ascending order: only their rows
    /// need to be diffed.
    ///
    /// # Panics
    ///
    /// If the two were built with different bucketings (see
    /// [`merge`](Self::merge)).
    pub fn mismatched(&self, other: &BucketDigests) -> Vec<i64> {
        assert_eq!(
            self.bucketing, other.bucketing,
            "comparing bucket digests with different bucketings"
        );
        let mut buckets: Vec<i64> = self
            .buckets
            .iter()
            .filter(|(bucket, mine)| other.buckets.get(bucket) != Some(mine))
            .map(|(bucket, _)| *bucket)
            .chain(
                other
                    .buckets
                    .keys()
                    .filter(|bucket| !self.buckets.contains_key(bucket))
                    .copied(),
            )
            .collect();
        buckets.sort_unstable();
        buckets
    }

    /// The digests as bytes, to store: 48 per bucket (the bucket, the lane
    /// sums, the row count, integers little-endian), in bucket order. The
    /// bucketing is stored apart (see [`Bucketing::to_parts`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.buckets.len() * STORED_BUCKET);
        for (bucket, digest) in &self.buckets {
            out.extend_from_slice(&bucket.to_le_bytes());
            out.extend_from_slice(&digest.sum_bytes());
            out.extend_from_slice(&digest.rows().to_le_bytes());
        }
        out
    }

    /// Digests stored by [`to_bytes`](Self::to_bytes); `None` when the
    /// bytes are not such digests.
    pub fn from_bytes(bucketing: Bucketing, bytes: &[u8]) -> Option<BucketDigests> {
        let stored = bytes.chunks_exact(STORED_BUCKET);
        if !stored.remainder().is_empty() {
            return None;
        }
        let mut buckets = BTreeMap::new();
        for stored in stored {
            let bucket = i64::from_le_bytes(stored[..8].try_into().ok()?);
            let sum = stored[8..40].try_into().ok()?;
            let rows = u64::from_le_bytes(stored[40..].try_into().ok()?);
            buckets.insert(bucket, SetDigest::from_parts(sum, rows));
        }
        Some(BucketDigests { bucketing, buckets })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::row_digest;

    const HASH_64: Bucketing = Bucketing::Hash { count: 64 };

    fn row(id: i64) -> (Vec<PgValue<'static>>, RowDigest) {
        let values = vec![PgValue::Int8(id), PgValue::Text(format!("row {id}").into())];
        let digest = row_digest(&values);
        (values[..1].to_vec(), digest)
    }

    fn digests(ids: impl IntoIterator<Item = i64>, bucketing: Bucketing) -> BucketDigests {
        let mut digests = BucketDigests::new(bucketing);
        for id in ids {
            let (key, digest) = row(id);
            let bucket = bucketing.bucket(&key, &key_bytes(&key)).unwrap();
            digests.add(bucket, &digest);
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
    fn range_buckets_are_key_ranges() {
        let range = Bucketing::Range { width: 16 };
        let bucket = |v: PgValue<'static>| {
            range.bucket(
                std::slice::from_ref(&v),
                &key_bytes(std::slice::from_ref(&v)),
            )
        };
        assert_eq!(bucket(PgValue::Int8(0)), Some(0));
        assert_eq!(bucket(PgValue::Int8(15)), Some(0));
        assert_eq!(bucket(PgValue::Int4(16)), Some(1));
        assert_eq!(bucket(PgValue::Int2(-1)), Some(-1));
        assert_eq!(bucket(PgValue::Int8(i64::MIN)), Some(i64::MIN / 16));
        assert_eq!(bucket(PgValue::Text("1".into())), None);
        assert_eq!(range.key_range(1), Some((16, 31)));
        assert_eq!(range.key_range(-1), Some((-16, -1)));
        assert_eq!(
            range.key_range(i64::MAX / 16),
            Some((i64::MAX / 16 * 16, i64::MAX))
        );
        assert_eq!(HASH_64.key_range(0), None);
        // Every key lies in the range of its bucket.
        let wide = Bucketing::Range { width: 1000 };
        for v in [i64::MIN, -1001, -1, 0, 999, 1000, i64::MAX] {
            let key = [PgValue::Int8(v)];
            let (first, last) = wide
                .key_range(wide.bucket(&key, &key_bytes(&key)).unwrap())
                .unwrap();
            assert!(first <= v && v <= last, "{v} outside {first}..={last}");
        }
    }

    #[test]
    fn bucketings_are_stored_by_name_and_parameter() {
        for bucketing in [HASH_64, Bucketing::Range { width: 1 << 40 }] {
            let (name, parameter) = bucketing.to_parts();
            assert_eq!(Bucketing::from_parts(name, parameter), Some(bucketing));
        }
        assert_eq!(Bucketing::from_parts("hash", 0), None);
        assert_eq!(Bucketing::from_parts("range", -5), None);
        assert_eq!(Bucketing::from_parts("other", 5), None);
    }

    #[test]
    fn digests_round_trip_through_bytes() {
        for bucketing in [HASH_64, Bucketing::Range { width: 16 }] {
            let digests = digests(-50..500, bucketing);
            let bytes = digests.to_bytes();
            assert_eq!(bytes.len(), digests.len() * 48);
            assert_eq!(BucketDigests::from_bytes(bucketing, &bytes), Some(digests));
        }
        assert_eq!(BucketDigests::from_bytes(HASH_64, &[0; 47]), None);
    }

    #[test]
    fn a_key_alone_is_added_as_a_row_of_its_key() {
        let mut as_rows = BucketDigests::new(HASH_64);
        let mut as_keys = BucketDigests::new(HASH_64);
        for id in 0..100 {
            let key = [PgValue::Int8(id), PgValue::Text(format!("k{id}").into())];
            let bytes = key_bytes(&key);
            let bucket = HASH_64.bucket(&key, &bytes).unwrap();
            as_rows.add(bucket, &row_digest(&key));
            as_keys.add_key(bucket, &bytes);
        }
        assert_eq!(as_rows, as_keys);
    }

    #[test]
    fn order_and_merging_do_not_matter() {
        let forward = digests(0..500, HASH_64);
        let backward = digests((0..500).rev(), HASH_64);
        assert_eq!(forward, backward);
        assert_eq!(forward.rows(), 500);
        assert_eq!(forward.len(), 64);

        let mut evens = digests((0..500).filter(|i| i % 2 == 0), HASH_64);
        let odds = digests((0..500).filter(|i| i % 2 == 1), HASH_64);
        evens.merge(&odds);
        assert_eq!(evens, forward);
        assert!(forward.mismatched(&evens).is_empty());
    }

    #[test]
    fn mismatches_point_at_the_buckets_that_differ() {
        let bucket_of_id = |id: i64, bucketing: Bucketing| {
            let key = [PgValue::Int8(id)];
            bucketing.bucket(&key, &key_bytes(&key)).unwrap()
        };
        for bucketing in [HASH_64, Bucketing::Range { width: 16 }] {
            let source = digests(0..500, bucketing);
            let missing = digests((0..500).filter(|&i| i != 42), bucketing);
            let bucket = bucket_of_id(42, bucketing);
            assert_eq!(source.mismatched(&missing), vec![bucket]);
            assert_eq!(missing.mismatched(&source), vec![bucket]);
            assert_eq!(
                source.bucket(bucket).unwrap().rows(),
                missing.bucket(bucket).map_or(0, SetDigest::rows) + 1
            );

            // Same key, different content: the key's bucket differs.
            let mut changed = digests((0..500).filter(|&i| i != 7), bucketing);
            changed.add(
                bucket_of_id(7, bucketing),
                &row_digest(&[PgValue::Int8(7), PgValue::Text("x".into())]),
            );
            assert_eq!(
                source.mismatched(&changed),
                vec![bucket_of_id(7, bucketing)]
            );

            // A bucket only one side has rows in differs.
            let more = digests((0..500).chain([10_000]), bucketing);
            assert_eq!(
                source.mismatched(&more),
                vec![bucket_of_id(10_000, bucketing)]
            );
        }
        assert!(digests(0..0, HASH_64).is_empty());

        // A duplicated row in a keyless table is a difference too.
        let whole = |id: i64| [PgValue::Int8(id)];
        let hash_8 = Bucketing::Hash { count: 8 };
        let mut once = BucketDigests::new(hash_8);
        let mut twice = BucketDigests::new(hash_8);
        let bucket = |id: i64| hash_8.bucket(&whole(id), &key_bytes(&whole(id))).unwrap();
        for id in [1, 2, 3] {
            once.add(bucket(id), &row_digest(&whole(id)));
            twice.add(bucket(id), &row_digest(&whole(id)));
        }
        twice.add(bucket(2), &row_digest(&whole(2)));
        assert_eq!(once.mismatched(&twice), vec![bucket(2)]);
    }

    #[test]
    #[should_panic(expected = "different bucketings")]
    fn merging_different_bucketings_is_a_bug() {
        BucketDigests::new(Bucketing::Hash { count: 2 })
            .merge(&BucketDigests::new(Bucketing::Range { width: 2 }));
    }
}
