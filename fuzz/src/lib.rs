//! ferry-fuzz: one property, checked on arbitrary bytes, for value
//! coercion and binary COPY encoding.
//!
//! [`check`] reads an input as a column and a source value: the first byte
//! picks the column's [`PgType`] (and, for `numeric(p,s)`, the next two its
//! precision and scale), the next one the value's storage class, its
//! `NOT NULL` flag and its lossy repairs, and the rest is the value's
//! payload. It then asserts what the copy relies on:
//!
//! 1. [`ferry_transformer::coerce`] never panics, whatever the bytes;
//! 2. every value it accepts has a binary COPY form
//!    ([`ferry_copy_codec::CopyEncoder::try_push`] succeeds);
//! 3. that form decodes ([`ferry_copy_codec::decode_value`]) back to the very
//!    same value: floats bit for bit (any NaN matching any NaN, since
//!    Postgres keeps one), numeric zero with or without its sign.
//!
//! `cargo fuzz run coerce_and_encode` drives it with libFuzzer on nightly;
//! the `seeded` binary and the `corpus` test drive it with pseudo-random
//! inputs from a fixed seed on any toolchain ([`SeededInputs`]).
//!
//! ```
//! // bigint column, TEXT storage class, payload "42": accepted
//! assert!(ferry_fuzz::check(&[3, 3, b'4', b'2']));
//! // ... payload "4x": refused by the coercion, nothing to encode
//! assert!(!ferry_fuzz::check(&[3, 3, b'4', b'x']));
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod seeded;

use ferry_copy_codec::CopyEncoder;
use ferry_model::{Coercion, ColumnPlan, InvalidUtf8, PgType, PgValue, SourceValueRef, SridMap};

pub use seeded::SeededInputs;

/// The column and value an input describes.
#[derive(Debug)]
pub struct Case<'a> {
    /// The column the value goes into.
    pub column: ColumnPlan,
    /// The value as the reader would hand it over.
    pub value: SourceValueRef<'a>,
}

/// Reads an input as a column and a value (see the crate docs); `None`
/// when it is too short to say which.
pub fn parse(data: &[u8]) -> Option<Case<'_>> {
    let (&type_byte, rest) = data.split_first()?;
    // Every type ferry creates; numeric(p,s) gets its modifiers from the input.
    let mut pg_type = PgType::ALL[usize::from(type_byte) % PgType::ALL.len()];
    let rest = if let PgType::Numeric(Some(_)) = pg_type {
        let (&[p, s], rest) = rest.split_first_chunk::<2>()?;
        // Postgres allows precision 1..=1000 and scale 0..=precision.
        let precision = 1 + u16::from(p) % 40;
        let scale = u16::from(s) % (precision + 1);
        pg_type = PgType::Numeric(Some((precision, scale)));
        rest
    } else {
        rest
    };
    let (&class_byte, payload) = rest.split_first()?;
    let value = match class_byte % 5 {
        0 => SourceValueRef::Null,
        1 => SourceValueRef::Integer(i64::from_le_bytes(padded(payload))),
        2 => SourceValueRef::Real(f64::from_bits(u64::from_le_bytes(padded(payload)))),
        3 => SourceValueRef::Text(payload),
        _ => SourceValueRef::Blob(payload),
    };
    let flags = class_byte / 5;
    let coercion = Coercion {
        strip_nul: flags & 1 != 0,
        invalid_utf8: if flags & 2 != 0 {
            InvalidUtf8::Replace
        } else {
            InvalidUtf8::Reject
        },
        // A few offsets, within Postgres's ±15:59.
        naive_utc_offset_seconds: [0, 3600, -5 * 3600 - 1800, 15 * 3600 + 59 * 60]
            [usize::from((flags >> 2) & 3)],
        srids: SridMap::default(),
    };
    let mut column = ColumnPlan::new("c", "", pg_type).with_coercion(coercion);
    column.not_null = flags & 16 != 0;
    Some(Case { column, value })
}

/// The first 8 bytes of `bytes`, zero-padded.
fn padded(bytes: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    let n = bytes.len().min(8);
    out[..n].copy_from_slice(&bytes[..n]);
    out
}

/// Checks the crate's property on one input. Returns whether the value
/// was accepted by the coercion (and so also encoded and decoded), which
/// tells a runner how much of its input reached the encoder.
///
/// # Panics
///
/// When the property does not hold: that is the bug the fuzzer reports.
pub fn check(data: &[u8]) -> bool {
    let Some(Case { column, value }) = parse(data) else {
        return false;
    };
    let Ok(coerced) = ferry_transformer::coerce(&column, value) else {
        return false;
    };
    let mut encoder = CopyEncoder::new();
    encoder.header();
    encoder.begin_row(1);
    if let Err(e) = encoder.try_push(&coerced) {
        panic!(
            "{value:?} as {}: coerced to {coerced:?}, which cannot be encoded: {e}",
            column.pg_type
        );
    }
    let bytes = encoder.take();
    let field = read_single_field(&bytes);
    let decoded = ferry_copy_codec::decode_value(column.pg_type, field).unwrap_or_else(|e| {
        panic!(
            "{value:?} as {}: {coerced:?} encodes to bytes that do not decode: {e}",
            column.pg_type
        )
    });
    assert!(
        same(&coerced, &decoded),
        "{value:?} as {}: {coerced:?} comes back as {decoded:?}",
        column.pg_type
    );
    true
}

/// The one field of a one-row binary COPY stream: the 19-byte header, the
/// field count, then the length (-1 for NULL) and the bytes.
fn read_single_field(stream: &[u8]) -> Option<&[u8]> {
    const HEADER: usize = 11 + 4 + 4;
    let count = i16::from_be_bytes([stream[HEADER], stream[HEADER + 1]]);
    assert_eq!(count, 1, "one field per row");
    let at = HEADER + 2;
    let length = i32::from_be_bytes([stream[at], stream[at + 1], stream[at + 2], stream[at + 3]]);
    let body = &stream[at + 4..];
    if length < 0 {
        assert_eq!(length, -1, "NULL is length -1");
        assert!(body.is_empty(), "nothing after a NULL");
        return None;
    }
    assert_eq!(
        body.len(),
        length as usize,
        "the length covers the field exactly"
    );
    Some(body)
}

/// Equality as Postgres keeps values: floats bit for bit except that all
/// NaNs are one, numeric zero without a sign.
fn same(sent: &PgValue<'_>, back: &PgValue<'_>) -> bool {
    match (sent, back) {
        (PgValue::Float4(a), PgValue::Float4(b)) => {
            (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
        }
        (PgValue::Float8(a), PgValue::Float8(b)) => {
            (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
        }
        (PgValue::Numeric(a), PgValue::Numeric(b)) => {
            let unsigned_zero = |n: &str| {
                n.strip_prefix('-')
                    .filter(|digits| digits.bytes().all(|c| c == b'0' || c == b'.'))
                    .map(str::to_owned)
                    .unwrap_or_else(|| n.to_owned())
            };
            unsigned_zero(a) == unsigned_zero(b)
        }
        _ => sent == back,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_type_class_and_flags() {
        let case = parse(&[3, 3, b'4', b'2']).unwrap();
        assert_eq!(case.column.pg_type, PgType::BigInt);
        assert_eq!(case.value, SourceValueRef::Text(b"42"));
        assert!(!case.column.not_null);

        let case = parse(&[7, 42, 5, 1]).unwrap();
        assert_eq!(case.column.pg_type, PgType::Numeric(Some((3, 1))));
        assert_eq!(case.value, SourceValueRef::Integer(0));
        assert!(parse(&[7, 1]).is_none());
        assert!(parse(&[]).is_none());

        let case = parse(&[0, 5 * 16]).unwrap();
        assert!(case.column.not_null);
        assert_eq!(case.value, SourceValueRef::Null);
    }

    #[test]
    fn known_values_round_trip() {
        assert!(check(&[3, 3, b'4', b'2']));
        assert!(check(&[6, 3, b'-', b'0', b'.', b'0']));
        assert!(check(b"\x0c\x032024-02-29"));
        assert!(check(&[5, 2, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f])); // a NaN
        assert!(check(&[13, 3, b'{', b'}']));
        assert!(check(&[0, 0]), "NULL is accepted in a nullable column");
        assert!(!check(&[0, 80]), "and refused in a NOT NULL one");
    }

    #[test]
    fn negative_zero_numeric_equals_zero() {
        assert!(same(
            &PgValue::Numeric("-0.00".into()),
            &PgValue::Numeric("0.00".into())
        ));
        assert!(!same(
            &PgValue::Numeric("-1.0".into()),
            &PgValue::Numeric("1.0".into())
        ));
    }
}
