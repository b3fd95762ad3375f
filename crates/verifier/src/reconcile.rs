//! Exact comparison of two sides reduced to fixed-size row records.
//!
//! A full verification cannot keep two tables' rows in memory, and must not
//! depend on how many rows differ. Each row is therefore reduced to a
//! [`RowRecord`]: a 128-bit hash of its key, 128 bits of its row digest and
//! a locator to read it again. Records are spread over partitions by key
//! hash (a row's partition depends only on its key, so both sides agree),
//! each partition small enough to sort in memory; [`reconcile`] then
//! sorts one partition of each side and walks them together, which names
//! every missing, extra and changed row exactly, in time linear in the rows
//! (plus the sort) and memory bounded by one partition.

use ferry_model::PgValue;

use crate::digest::{row_digest, RowDigest};
use crate::encode::encode_value;

/// One row reduced to what an exact comparison needs.
///
/// Records order by key, then digest, then locator, which is the order
/// [`reconcile`] sorts them in: rows sharing a key sit together and equal
/// rows pair up first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RowRecord {
    /// The first 16 bytes of blake3 over the key's canonical bytes
    /// ([`key_bytes`](crate::key_bytes)); for a table without a primary
    /// key, whose key is the whole row, the first half of the row digest.
    pub key: [u8; 16],
    /// 16 bytes of the row digest ([`row_digest`]): the second half.
    pub digest: [u8; 16],
    /// Where to read the row again (a rowid, a tuple id…), chosen by the
    /// side that made the record; it takes no part in the comparison.
    pub locator: u64,
}

thread_local! {
    /// Encoding buffer for keys, kept per thread so hashing millions of
    /// keys allocates nothing per row.
    static KEY_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A 128-bit truncation keeps accidental collisions out of reach: with
/// 10^10 rows the chance that two keys share a hash is below 10^-18.
const HALF: usize = 16;

impl RowRecord {
    /// Bytes of one record in [`to_bytes`](Self::to_bytes) form.
    pub const BYTES: usize = 2 * HALF + 8;

    /// The record of a row keyed by the values at `key_positions`, or by
    /// the whole row when `key_positions` is empty (a multiset of rows).
    /// Positions past the row are skipped, as in
    /// [`RowEntry::new`](crate::RowEntry::new).
    pub fn of_row(values: &[PgValue<'_>], key_positions: &[usize], locator: u64) -> RowRecord {
        let digest = row_digest(values);
        if key_positions.is_empty() {
            return RowRecord::keyless(&digest, locator);
        }
        let hash = KEY_BUFFER.with_borrow_mut(|bytes| {
            bytes.clear();
            // The same bytes as `key_bytes` of the key's values: the
            // count, then each value.
            let count = key_positions
                .iter()
                .filter(|&&at| at < values.len())
                .count();
            bytes.extend_from_slice(&(count as u16).to_le_bytes());
            for value in key_positions.iter().filter_map(|&at| values.get(at)) {
                encode_value(value, bytes);
            }
            let hash = blake3::hash(bytes);
            if bytes.capacity() > 1 << 16 {
                *bytes = Vec::new();
            }
            hash
        });
        RowRecord {
            key: first_half(hash.as_bytes()),
            digest: second_half(&digest.0),
            locator,
        }
    }

    /// The record of a row that is its own key: one digest serves as both.
    pub fn keyless(digest: &RowDigest, locator: u64) -> RowRecord {
        RowRecord {
            key: first_half(&digest.0),
            digest: second_half(&digest.0),
            locator,
        }
    }

    /// Which of `partitions` partitions the record belongs to, by its key
    /// alone (at least one partition).
    pub fn partition(&self, partitions: u32) -> u32 {
        let mut low = [0; 8];
        low.copy_from_slice(&self.key[8..]);
        // The remainder is below `partitions`, so it fits in a u32.
        (u64::from_le_bytes(low) % u64::from(partitions.max(1))) as u32
    }

    /// Key and digest as one [`RowDigest`], for an order-independent
    /// [`SetDigest`](crate::SetDigest) of a partition: two partitions with
    /// equal set digests hold the same records, locators aside.
    pub fn member(&self) -> RowDigest {
        let mut bytes = [0; 32];
        bytes[..HALF].copy_from_slice(&self.key);
        bytes[HALF..].copy_from_slice(&self.digest);
        RowDigest(bytes)
    }

    /// The record as [`BYTES`](Self::BYTES) bytes: key, digest, locator
    /// (little-endian).
    pub fn to_bytes(&self) -> [u8; Self::BYTES] {
        let mut out = [0; Self::BYTES];
        out[..HALF].copy_from_slice(&self.key);
        out[HALF..2 * HALF].copy_from_slice(&self.digest);
        out[2 * HALF..].copy_from_slice(&self.locator.to_le_bytes());
        out
    }

    /// The record [`to_bytes`](Self::to_bytes) wrote.
    pub fn from_bytes(bytes: &[u8; Self::BYTES]) -> RowRecord {
        let mut locator = [0; 8];
        locator.copy_from_slice(&bytes[2 * HALF..]);
        RowRecord {
            key: first_half(bytes),
            digest: second_half(&bytes[..2 * HALF]),
            locator: u64::from_le_bytes(locator),
        }
    }
}

fn first_half(bytes: &[u8]) -> [u8; HALF] {
    let mut out = [0; HALF];
    out.copy_from_slice(&bytes[..HALF]);
    out
}

fn second_half(bytes: &[u8]) -> [u8; HALF] {
    let mut out = [0; HALF];
    out.copy_from_slice(&bytes[HALF..2 * HALF]);
    out
}

/// One difference [`reconcile`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pairing {
    /// A source row with no equal row in the target.
    Missing(RowRecord),
    /// A target row with no equal row in the source.
    Extra(RowRecord),
    /// A source and a target row sharing a key with different values:
    /// `(source, target)`.
    Changed(RowRecord, RowRecord),
}

/// Compares one partition of each side: sorts both in place, then calls
/// `on_difference` for every row that does not pair with an equal row.
///
/// Keys are a multiset, as in [`diff_rows`](crate::diff_rows): within a
/// key, rows with equal digests pair up first and are equal; the remaining
/// rows pair up in digest order as changed rows, and what is left on one
/// side is missing or extra. A keyless table (key and digest from the same
/// row) therefore only ever has missing and extra rows, counted with their
/// multiplicity.
pub fn reconcile(
    source: &mut [RowRecord],
    target: &mut [RowRecord],
    on_difference: &mut dyn FnMut(Pairing),
) {
    source.sort_unstable();
    target.sort_unstable();
    let (mut s, mut t) = (0, 0);
    let mut unpaired_source = Vec::new();
    let mut unpaired_target = Vec::new();
    while s < source.len() || t < target.len() {
        let key = match (source.get(s), target.get(t)) {
            (Some(a), Some(b)) => a.key.min(b.key),
            (Some(a), None) => a.key,
            (None, Some(b)) => b.key,
            (None, None) => break,
        };
        let s_end = s + source[s..].iter().take_while(|r| r.key == key).count();
        let t_end = t + target[t..].iter().take_while(|r| r.key == key).count();
        // The common case: one row on each side, equal.
        if s_end - s == 1 && t_end - t == 1 && source[s].digest == target[t].digest {
            s = s_end;
            t = t_end;
            continue;
        }
        unpaired_source.clear();
        unpaired_target.clear();
        let (mut i, mut j) = (s, t);
        while i < s_end || j < t_end {
            match (source[i..s_end].first(), target[j..t_end].first()) {
                (Some(a), Some(b)) if a.digest == b.digest => {
                    i += 1;
                    j += 1;
                }
                (Some(a), Some(b)) if a.digest < b.digest => {
                    unpaired_source.push(*a);
                    i += 1;
                }
                (Some(_), Some(b)) => {
                    unpaired_target.push(*b);
                    j += 1;
                }
                (Some(a), None) => {
                    unpaired_source.push(*a);
                    i += 1;
                }
                (None, Some(b)) => {
                    unpaired_target.push(*b);
                    j += 1;
                }
                (None, None) => break,
            }
        }
        let paired = unpaired_source.len().min(unpaired_target.len());
        for (from, to) in unpaired_source.iter().zip(&unpaired_target) {
            on_difference(Pairing::Changed(*from, *to));
        }
        for row in &unpaired_source[paired..] {
            on_difference(Pairing::Missing(*row));
        }
        for row in &unpaired_target[paired..] {
            on_difference(Pairing::Extra(*row));
        }
        s = s_end;
        t = t_end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buckets::key_bytes;

    fn row(id: i64, name: &str) -> Vec<PgValue<'static>> {
        vec![PgValue::Int8(id), PgValue::Text(name.to_owned().into())]
    }

    fn keyed(id: i64, name: &str, locator: u64) -> RowRecord {
        RowRecord::of_row(&row(id, name), &[0], locator)
    }

    fn keyless(id: i64, name: &str, locator: u64) -> RowRecord {
        RowRecord::of_row(&row(id, name), &[], locator)
    }

    /// `(kind, source locator, target locator)` of every difference, sorted.
    fn run(mut source: Vec<RowRecord>, mut target: Vec<RowRecord>) -> Vec<(char, u64, u64)> {
        let mut out = Vec::new();
        reconcile(&mut source, &mut target, &mut |pairing| {
            out.push(match pairing {
                Pairing::Missing(r) => ('m', r.locator, 0),
                Pairing::Extra(r) => ('e', 0, r.locator),
                Pairing::Changed(a, b) => ('c', a.locator, b.locator),
            })
        });
        out.sort();
        out
    }

    #[test]
    fn records_hash_the_key_bytes_and_round_trip() {
        let record = keyed(5, "a", 77);
        let hash = blake3::hash(&key_bytes(&[PgValue::Int8(5)]));
        assert_eq!(record.key, hash.as_bytes()[..16]);
        assert_eq!(record.digest, row_digest(&row(5, "a")).0[16..]);
        assert_eq!(RowRecord::from_bytes(&record.to_bytes()), record);
        // The key is width-independent, like key_bytes.
        let narrow = RowRecord::of_row(&[PgValue::Int4(5), PgValue::Text("a".into())], &[0], 1);
        assert_eq!(narrow.key, record.key);

        let whole = keyless(5, "a", 3);
        assert_eq!(whole.key, row_digest(&row(5, "a")).0[..16]);
        assert!(whole.partition(7) < 7);
        assert_eq!(whole.partition(0), 0);
    }

    #[test]
    fn missing_extra_and_changed_whatever_the_order() {
        let source = vec![
            keyed(1, "a", 1),
            keyed(2, "b", 2),
            keyed(3, "c", 3),
            keyed(4, "d", 4),
        ];
        let target = vec![
            keyed(4, "d", 14),
            keyed(3, "C", 13),
            keyed(1, "a", 11),
            keyed(5, "e", 15),
        ];
        assert_eq!(
            run(source, target),
            [('c', 3, 13), ('e', 0, 15), ('m', 2, 0)]
        );
    }

    #[test]
    fn every_row_differing_is_counted_exactly() {
        let source: Vec<_> = (0..10_000).map(|i| keyed(i, "same", i as u64)).collect();
        let target: Vec<_> = (0..10_000)
            .map(|i| keyed(i, if i % 3 == 0 { "new" } else { "same" }, i as u64))
            .collect();
        let diff = run(source, target);
        assert_eq!(diff.len(), 3334);
        assert!(diff
            .iter()
            .all(|(kind, s, t)| *kind == 'c' && s == t && s % 3 == 0));
    }

    #[test]
    fn keyless_rows_are_a_multiset() {
        let source = vec![
            keyless(1, "a", 1),
            keyless(1, "a", 2),
            keyless(1, "a", 3),
            keyless(2, "b", 4),
        ];
        let target = vec![
            keyless(2, "b", 11),
            keyless(1, "a", 12),
            keyless(2, "b", 13),
            keyless(1, "a", 14),
        ];
        let diff = run(source, target);
        assert_eq!(diff.len(), 2);
        assert_eq!(diff[0].0, 'e');
        assert_eq!(diff[1].0, 'm');
    }

    #[test]
    fn shared_keys_pair_equal_rows_first() {
        let source = vec![keyed(1, "old", 1), keyed(1, "same", 2)];
        let target = vec![keyed(1, "same", 11), keyed(1, "new", 12), keyed(1, "x", 13)];
        let diff = run(source, target);
        let kinds: Vec<char> = diff.iter().map(|d| d.0).collect();
        assert_eq!(kinds, ['c', 'e']);
        assert_eq!(
            diff[0].1, 1,
            "the changed source row is the one left unpaired"
        );
    }

    #[test]
    fn empty_sides() {
        assert!(run(Vec::new(), Vec::new()).is_empty());
        assert_eq!(run(vec![keyed(1, "a", 1)], Vec::new()), [('m', 1, 0)]);
        assert_eq!(run(Vec::new(), vec![keyed(1, "a", 9)]), [('e', 0, 9)]);
    }
}
