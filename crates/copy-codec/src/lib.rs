//! ferry-copy-codec: Postgres's binary COPY format, as pure functions on
//! buffers. No I/O: bytes in, bytes out, so the fuzz target and the
//! benchmarks build it without tokio or TLS.
//!
//! - [`CopyEncoder`] writes [`PgValue`](ferry_model::PgValue)s in the binary
//!   COPY format into a reusable buffer: [`header`](CopyEncoder::header),
//!   then per row [`begin_row`](CopyEncoder::begin_row) and one
//!   [`push`](CopyEncoder::push) per column, [`take`](CopyEncoder::take)
//!   whenever there is enough to send, and [`trailer`](CopyEncoder::trailer).
//! - [`encode_value`] writes one value's binary form without its length
//!   word: a COPY field's bytes, which are also a binary bind parameter's.
//! - [`decode_value`] is its mirror: Postgres's binary form of each type
//!   back into a [`PgValue`](ferry_model::PgValue), borrowing what it can.
//!
//! A value without a binary form (a malformed numeric string, a field over
//! 2 GiB) and bytes that are not a value are a [`CodecError`]; bad data
//! never panics. ferry-writer sends what the encoder writes and decodes
//! what it reads back; the fuzz target checks both on arbitrary input.
//!
//! ```
//! use std::borrow::Cow;
//! use ferry_copy_codec::{decode_value, CopyEncoder};
//! use ferry_model::{PgType, PgValue};
//!
//! let mut encoder = CopyEncoder::new();
//! encoder.header();
//! encoder.begin_row(2);
//! encoder.push(&PgValue::Int4(7));
//! encoder.push(&PgValue::Numeric(Cow::Borrowed("-0.0001")));
//! // A malformed value is caught, and its row removed, by `try_push`.
//! encoder.begin_row(1);
//! assert!(encoder.try_push(&PgValue::Numeric(Cow::Borrowed("1e3"))).is_err());
//! encoder.trailer();
//! let stream = encoder.take();
//!
//! // After the 19-byte header: the field count, then each field's length
//! // and bytes.
//! let row = &stream[19..];
//! assert_eq!(&row[..10], &[0, 2, 0, 0, 0, 4, 0, 0, 0, 7]);
//! // Decoding reads a field without its length word.
//! assert_eq!(decode_value(PgType::Integer, Some(&row[6..10])).unwrap(), PgValue::Int4(7));
//! let numeric_len = i32::from_be_bytes(row[10..14].try_into().unwrap()) as usize;
//! let numeric = &row[14..14 + numeric_len];
//! assert_eq!(
//!     decode_value(PgType::Numeric(None), Some(numeric)).unwrap(),
//!     PgValue::Numeric(Cow::Borrowed("-0.0001"))
//! );
//! // The rejected row left nothing behind: the trailer follows at once.
//! assert_eq!(&row[14 + numeric_len..], &[0xff, 0xff]);
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod copy_encoding;
mod decode;
mod error;
mod field;

pub use copy_encoding::CopyEncoder;
pub use decode::decode_value;
pub use error::CodecError;
pub use field::{encode_value, Payload};
