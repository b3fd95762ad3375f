//! ferry-verifier: one canonical byte encoding for rows, and blake3 digests
//! over it.
//!
//! `ferry verify` proves that what ferry copied into Postgres equals what the
//! SQLite source becomes after ferry's coercion. Both sides are reduced to
//! [`PgValue`](ferry_model::PgValue)s, each row is encoded with
//! [`encode_row`] and hashed into a [`RowDigest`] by [`row_digest`], and the
//! rows of a bucket are folded into a [`SetDigest`], whose value does not
//! depend on row order, so buckets can be hashed in parallel and merged.
//! Nothing here does I/O and nothing panics on bad data.
//!
//! A full comparison of a table reduces each side's rows to fixed-size
//! [`RowRecord`]s (a hash of the key, of the row, and a locator), split
//! into partitions by key; [`reconcile`] sorts one partition of each side
//! and merges them, counting every missing, extra and changed row exactly,
//! in memory bounded by one partition however many rows differ. The rows
//! it names are read again as [`RowEntry`]s and [`diff_rows`] names their
//! changed columns, with values shown by [`render_value`]; [`diff_rows`]
//! alone compares small sets of rows, such as a sample.
//!
//! [`BucketDigests`] place rows in buckets by a [`Bucketing`] of their key:
//! the hash of its [`key_bytes`] (the whole row for a table without a
//! primary key), or ranges of a single integer key, in any order and on any
//! number of threads; [`BucketDigests::mismatched`] names the buckets whose
//! digests differ, so a sync reads again only those.
//!
//! For the source values whose coercion does arithmetic (julian-day and
//! unix-epoch timestamps and dates, REALs into numerics),
//! [`independent_value`] recomputes what the target must hold by a route
//! that shares no code with ferry-transformer (exact decimal expansion of
//! the double, decimal digit arithmetic), so that a bug in the copy's
//! coercion cannot hide by converting both sides the same way.
//!
//! The results of all tables make a [`VerifyReport`], rendered as text,
//! JSON, JUnit XML or Markdown (the JSON shape is documented in
//! [`report`]).
//!
//! # The canonical encoding (version 1, [`ENCODING_VERSION`])
//!
//! Two values encode to the same bytes exactly when Postgres would consider
//! them the same value of the same kind; a digest therefore changes if and
//! only if the data does, not when a column is merely declared differently.
//!
//! A **row** is its column count as u16 little-endian, then each value's
//! encoding in column order. (A count of `0xFFFF` or more, which neither
//! SQLite nor Postgres allows, is written as `FF FF` and the count as u64 LE.)
//!
//! A **value** is a one-byte type tag followed by its payload. Every payload
//! is either fixed-size for its tag or starts with its length as u32 LE
//! (`len` below), so encodings are self-delimiting: `("ab", "c")` and
//! `("a", "bc")` differ. (A payload of 4 GiB or more, larger than any Postgres
//! value, has length `FF FF FF FF` then the length as u64 LE.) All integers
//! are little-endian.
//!
//! | Tag    | `PgValue` variants        | Payload |
//! |--------|---------------------------|---------|
//! | `0x00` | `Null`                    | none |
//! | `0x01` | `Bool`                    | one byte: `0` false, `1` true |
//! | `0x02` | `Int2`, `Int4`, `Int8`    | the value as i64 (8 bytes): a smallint 5 equals a bigint 5 |
//! | `0x03` | `Float4`, `Float8`        | IEEE 754 binary64 bits as u64 (8 bytes); `Float4` is widened to f64 first (exact), so a real 1.5 equals a double 1.5; every NaN becomes `0x7FF8000000000000`; `-0.0` keeps its sign bit and differs from `0.0`, as Postgres stores and returns it |
//! | `0x04` | `Numeric`                 | `len` + canonical decimal text (below) |
//! | `0x05` | `Text`                    | `len` + UTF-8 bytes |
//! | `0x06` | `Bytea`                   | `len` + bytes (a distinct tag: text and bytea with the same bytes differ) |
//! | `0x07` | `Date`                    | days since 2000-01-01 as i32 (4 bytes) |
//! | `0x08` | `Timestamp`               | microseconds since 2000-01-01 00:00 as i64 (8 bytes) |
//! | `0x09` | `Timestamptz`             | microseconds since 2000-01-01 00:00 UTC as i64 (8 bytes) |
//! | `0x0A` | `Jsonb`                   | `len` + canonical JSON text (below) |
//! | `0x0B` | `Uuid`                    | the 16 bytes |
//! | `0x0C` | `Geometry`                | `len` + EWKB as PostGIS's binary send writes it (little-endian; SRID only on the outer geometry, only when not 0; an empty point as NaN coordinates), compared byte for byte |
//!
//! **Canonical decimal text** (numeric, and numbers inside jsonb): optional
//! `-`, the integer digits without leading zeros (a single `0` if there are
//! none), and, only if a non-zero fraction remains, `.` and the fraction
//! without trailing zeros. Negative zero is `0`. The input may carry spaces,
//! a `+`, or an exponent (`1.5e3` → `1500`), as Postgres's numeric input
//! allows. Special values are `NaN`, `Infinity` and `-Infinity`. Numeric
//! compares by value, so **scale is not part of the comparison**: a
//! `numeric(10,2)` holding `1.50` equals a `numeric` holding `1.5`. A
//! number whose decimal point lies more than 2^18 digits away from its first
//! significant digit (beyond anything Postgres stores) is written
//! `[-]0.<digits>e<point>` instead of being expanded.
//!
//! **Canonical JSON text** follows what jsonb keeps, not how its input was
//! written: no whitespace; object keys sorted by their UTF-8 bytes, and of
//! duplicate keys only the last one kept (as jsonb does); numbers as
//! canonical decimal text, so `1`, `1.0`, `1.00` and `1e0` are equal (jsonb
//! compares its numbers as numerics); strings decoded, then re-escaped the way
//! `serde_json` writes them (`"\u0041"` equals `"A"`). Nesting deeper than
//! 1024 levels is treated as invalid.
//!
//! **Invalid input**: a `Numeric` or `Jsonb` whose text cannot be parsed is
//! encoded under its own tag with a payload of the byte `0xFF` followed by
//! the raw text. Canonical text never contains `0xFF`, so such a value only
//! ever equals the same malformed text.
//!
//! # Example
//!
//! ```
//! use ferry_model::PgValue;
//! use ferry_verifier::{encode_row, row_digest, SetDigest};
//!
//! // What the source becomes after coercion, and what Postgres returns.
//! let source = [PgValue::Int8(7), PgValue::Numeric("1.50".into()), PgValue::Jsonb("{\"b\":1,\"a\":2.0}".into())];
//! let target = [PgValue::Int4(7), PgValue::Numeric("1.5".into()), PgValue::Jsonb("{\"a\": 2, \"b\": 1}".into())];
//! assert_eq!(row_digest(&source), row_digest(&target));
//!
//! let mut bytes = Vec::new();
//! encode_row(&[PgValue::Int2(1), PgValue::Null], &mut bytes);
//! assert_eq!(bytes, [2, 0, 0x02, 1, 0, 0, 0, 0, 0, 0, 0, 0x00]);
//!
//! // Bucket digests do not depend on row order and merge like sums.
//! let rows = [row_digest(&source), row_digest(&[PgValue::Int8(8)])];
//! let mut forward = SetDigest::new();
//! rows.iter().for_each(|row| forward.add(row));
//! let mut backward = SetDigest::new();
//! rows.iter().rev().for_each(|row| backward.add(row));
//! assert_eq!(forward, backward);
//! assert_eq!(forward.rows(), 2);
//!
//! // Bucket the rows by key, find the bucket that differs, and diff it.
//! use ferry_verifier::{diff_rows, BucketDigests, Bucketing, RowEntry};
//! let columns = ["id".to_owned(), "name".to_owned()];
//! let source = vec![RowEntry::new(&columns, &[0], vec![PgValue::Int8(1), PgValue::Text("Ann".into())])];
//! let target = vec![RowEntry::new(&columns, &[0], vec![PgValue::Int4(1), PgValue::Text("Anne".into())])];
//! let bucketing = Bucketing::Hash { count: 16 };
//! let digests = |rows: &[RowEntry]| {
//!     let mut digests = BucketDigests::new(bucketing);
//!     for row in rows {
//!         let bucket = bucketing.bucket(&row.values[..1], &row.key).unwrap();
//!         digests.add(bucket, &row.digest);
//!     }
//!     digests
//! };
//! let bucket = bucketing.bucket(&[PgValue::Int8(1)], &source[0].key).unwrap();
//! assert_eq!(digests(&source).mismatched(&digests(&target)), [bucket]);
//! let diff = diff_rows(&columns, source, target);
//! assert_eq!(diff.changed[0].key, "id=1");
//! assert_eq!(diff.changed[0].columns[0].source.as_deref(), Some("'Ann'"));
//! assert_eq!(diff.changed[0].columns[0].target.as_deref(), Some("'Anne'"));
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod buckets;
mod diff;
mod digest;
mod encode;
mod escape;
mod exact;
mod independent;
mod json;
mod numeric;
mod reconcile;
mod render;
pub mod report;

pub use buckets::{bucket_of, key_bytes, BucketDigests, Bucketing};
pub use diff::{diff_rows, ColumnDiff, RowDiff, RowEntry, TableDiff, MAX_RENDERED_CHARS};
pub use digest::{row_digest, RowDigest, SetDigest};
pub use encode::{encode_row, encode_value};
pub use independent::{cross_check, independent_value};
pub use reconcile::{reconcile, Pairing, RowRecord};
pub use render::render_value;
pub use report::{Difference, DifferenceKind, Mode, Status, TableResult, VerifyReport};

/// The version of the canonical encoding specified above. Digests computed
/// under different versions are not comparable; store it next to any digest
/// kept between runs.
pub const ENCODING_VERSION: u32 = 1;
