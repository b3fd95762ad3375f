//! The canonical byte encoding of values and rows (specified in the crate
//! docs).

use ferry_model::PgValue;

use crate::json::write_jsonb;
use crate::numeric::write_numeric;

/// Type tags, the first byte of every encoded value. The values are part of
/// the format: changing one changes every digest.
mod tag {
    pub(super) const NULL: u8 = 0x00;
    pub(super) const BOOL: u8 = 0x01;
    pub(super) const INTEGER: u8 = 0x02;
    pub(super) const FLOAT: u8 = 0x03;
    pub(super) const NUMERIC: u8 = 0x04;
    pub(super) const TEXT: u8 = 0x05;
    pub(super) const BYTEA: u8 = 0x06;
    pub(super) const DATE: u8 = 0x07;
    pub(super) const TIMESTAMP: u8 = 0x08;
    pub(super) const TIMESTAMPTZ: u8 = 0x09;
    pub(super) const JSONB: u8 = 0x0A;
    pub(super) const UUID: u8 = 0x0B;
    pub(super) const GEOMETRY: u8 = 0x0C;
}

/// The one NaN every NaN becomes: Postgres treats all NaNs as equal, and
/// their payload bits are an accident of how they were computed.
const CANONICAL_NAN: u64 = 0x7FF8_0000_0000_0000;

/// Appends the canonical encoding of one value to `out`.
///
/// Never fails and never panics: text that should be a number or JSON but is
/// not is encoded as marked raw text (see the crate docs), so it can only
/// equal the same malformed text on the other side.
pub fn encode_value(value: &PgValue<'_>, out: &mut Vec<u8>) {
    match value {
        PgValue::Null => out.push(tag::NULL),
        PgValue::Bool(b) => out.extend_from_slice(&[tag::BOOL, u8::from(*b)]),
        PgValue::Int2(i) => encode_integer(i64::from(*i), out),
        PgValue::Int4(i) => encode_integer(i64::from(*i), out),
        PgValue::Int8(i) => encode_integer(*i, out),
        // Widening f32 to f64 is exact, so a real equals the same double.
        PgValue::Float4(f) => encode_float(f64::from(*f), out),
        PgValue::Float8(f) => encode_float(*f, out),
        PgValue::Numeric(n) => {
            out.push(tag::NUMERIC);
            with_length(out, |out| write_numeric(n, out));
        }
        PgValue::Text(t) => {
            out.push(tag::TEXT);
            with_length(out, |out| out.extend_from_slice(t.as_bytes()));
        }
        PgValue::Bytea(b) => {
            out.push(tag::BYTEA);
            with_length(out, |out| out.extend_from_slice(b));
        }
        PgValue::Date(d) => {
            out.push(tag::DATE);
            out.extend_from_slice(&d.to_le_bytes());
        }
        PgValue::Timestamp(t) => {
            out.push(tag::TIMESTAMP);
            out.extend_from_slice(&t.to_le_bytes());
        }
        PgValue::Timestamptz(t) => {
            out.push(tag::TIMESTAMPTZ);
            out.extend_from_slice(&t.to_le_bytes());
        }
        PgValue::Jsonb(j) => {
            out.push(tag::JSONB);
            with_length(out, |out| write_jsonb(j, out));
        }
        PgValue::Uuid(u) => {
            out.push(tag::UUID);
            out.extend_from_slice(u);
        }
        PgValue::Geometry(g) => {
            out.push(tag::GEOMETRY);
            with_length(out, |out| out.extend_from_slice(g));
        }
    }
}

/// Appends the canonical encoding of a row: its column count, then each
/// value. Nothing already in `out` is cleared.
pub fn encode_row(values: &[PgValue<'_>], out: &mut Vec<u8>) {
    match u16::try_from(values.len()) {
        Ok(count) if count != u16::MAX => out.extend_from_slice(&count.to_le_bytes()),
        // Neither SQLite nor Postgres allows this many columns; the escape
        // only keeps the encoding unambiguous if one ever appears.
        _ => {
            out.extend_from_slice(&u16::MAX.to_le_bytes());
            out.extend_from_slice(&(values.len() as u64).to_le_bytes());
        }
    }
    for value in values {
        encode_value(value, out);
    }
}

fn encode_integer(i: i64, out: &mut Vec<u8>) {
    out.push(tag::INTEGER);
    out.extend_from_slice(&i.to_le_bytes());
}

fn encode_float(f: f64, out: &mut Vec<u8>) {
    let bits = if f.is_nan() {
        CANONICAL_NAN
    } else {
        f.to_bits()
    };
    out.push(tag::FLOAT);
    out.extend_from_slice(&bits.to_le_bytes());
}

/// Runs `write` and puts the length of what it wrote in front of it, so
/// canonical text can be produced straight into `out` without a scratch
/// buffer.
fn with_length(out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    write(out);
    let (prefix, prefix_len) = length_prefix(out.len() - at - 4);
    out[at..at + 4].copy_from_slice(&prefix[..4]);
    if prefix_len > 4 {
        out.splice(at + 4..at + 4, prefix[4..prefix_len].iter().copied());
    }
}

/// The length prefix for a payload of `len` bytes: u32 LE, or for payloads
/// of 4 GiB and more (larger than any Postgres value) `u32::MAX` followed by
/// the length as u64 LE. Returns the bytes and how many of them to use.
fn length_prefix(len: usize) -> ([u8; 12], usize) {
    let mut prefix = [0; 12];
    match u32::try_from(len) {
        Ok(short) if short != u32::MAX => {
            prefix[..4].copy_from_slice(&short.to_le_bytes());
            (prefix, 4)
        }
        _ => {
            prefix[..4].copy_from_slice(&u32::MAX.to_le_bytes());
            prefix[4..].copy_from_slice(&(len as u64).to_le_bytes());
            (prefix, 12)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn encoded(value: PgValue<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        encode_value(&value, &mut out);
        out
    }

    fn row(values: &[PgValue<'_>]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_row(values, &mut out);
        out
    }

    #[test]
    fn exact_bytes_per_variant() {
        let uuid: [u8; 16] = core::array::from_fn(|i| i as u8);
        let mut uuid_bytes = vec![0x0B];
        uuid_bytes.extend_from_slice(&uuid);
        let cases: Vec<(PgValue<'_>, Vec<u8>)> = vec![
            (PgValue::Null, vec![0x00]),
            (PgValue::Bool(false), vec![0x01, 0]),
            (PgValue::Bool(true), vec![0x01, 1]),
            (
                PgValue::Int2(-2),
                vec![0x02, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
            ),
            (PgValue::Int4(258), vec![0x02, 2, 1, 0, 0, 0, 0, 0, 0]),
            (
                PgValue::Int8(i64::MIN),
                vec![0x02, 0, 0, 0, 0, 0, 0, 0, 0x80],
            ),
            (
                PgValue::Float8(1.0),
                vec![0x03, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F],
            ),
            (PgValue::Float4(-2.0), vec![0x03, 0, 0, 0, 0, 0, 0, 0, 0xC0]),
            (
                PgValue::Float8(f64::NAN),
                vec![0x03, 0, 0, 0, 0, 0, 0, 0xF8, 0x7F],
            ),
            (
                PgValue::Numeric("1.50".into()),
                vec![0x04, 3, 0, 0, 0, b'1', b'.', b'5'],
            ),
            (
                PgValue::Text("hé".into()),
                vec![0x05, 3, 0, 0, 0, b'h', 0xC3, 0xA9],
            ),
            (PgValue::Text("".into()), vec![0x05, 0, 0, 0, 0]),
            (
                PgValue::Bytea(Cow::Borrowed(&[0, 0xFF])),
                vec![0x06, 2, 0, 0, 0, 0, 0xFF],
            ),
            (PgValue::Date(-1), vec![0x07, 0xFF, 0xFF, 0xFF, 0xFF]),
            (PgValue::Timestamp(1), vec![0x08, 1, 0, 0, 0, 0, 0, 0, 0]),
            (PgValue::Timestamptz(1), vec![0x09, 1, 0, 0, 0, 0, 0, 0, 0]),
            (
                PgValue::Jsonb("{\"b\": 1.0}".into()),
                [&[0x0A, 7, 0, 0, 0][..], b"{\"b\":1}"].concat(),
            ),
            (
                PgValue::Jsonb("{".into()),
                vec![0x0A, 2, 0, 0, 0, 0xFF, b'{'],
            ),
            (PgValue::Uuid(uuid), uuid_bytes),
            (
                PgValue::Geometry(Cow::Borrowed(&[1, 4, 0, 0, 0, 0, 0, 0, 0])),
                vec![0x0C, 9, 0, 0, 0, 1, 4, 0, 0, 0, 0, 0, 0, 0],
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(encoded(value.clone()), expected, "{value:?}");
        }
        assert_eq!(row(&[]), vec![0, 0]);
        assert_eq!(
            row(&[PgValue::Null, PgValue::Bool(true)]),
            vec![2, 0, 0x00, 0x01, 1]
        );
    }

    #[test]
    fn equal_values_encode_equally() {
        let pairs = [
            (PgValue::Int2(5), PgValue::Int8(5)),
            (PgValue::Int4(-7), PgValue::Int8(-7)),
            (PgValue::Int2(i16::MIN), PgValue::Int4(i32::from(i16::MIN))),
            (PgValue::Float4(1.5), PgValue::Float8(1.5)),
            (PgValue::Float4(0.1), PgValue::Float8(f64::from(0.1f32))),
            (PgValue::Float4(f32::NAN), PgValue::Float8(-f64::NAN)),
            (
                PgValue::Float8(f64::from_bits(0x7FF0_0000_0000_0001)),
                PgValue::Float8(f64::NAN),
            ),
            (
                PgValue::Float4(f32::INFINITY),
                PgValue::Float8(f64::INFINITY),
            ),
            (
                PgValue::Numeric("1.50".into()),
                PgValue::Numeric("1.5".into()),
            ),
            (
                PgValue::Numeric("-0".into()),
                PgValue::Numeric("0.00".into()),
            ),
            (
                PgValue::Jsonb("[1.0, {\"a\":1,\"b\":2}]".into()),
                PgValue::Jsonb("[1,{\"b\":2,\"a\":1}]".into()),
            ),
        ];
        for (a, b) in pairs {
            assert_eq!(encoded(a.clone()), encoded(b.clone()), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn different_values_encode_differently() {
        let pairs = [
            (PgValue::Float8(0.0), PgValue::Float8(-0.0)),
            (PgValue::Float4(0.1), PgValue::Float8(0.1)),
            (
                PgValue::Text("ab".into()),
                PgValue::Bytea(Cow::Borrowed(b"ab")),
            ),
            (PgValue::Text("1".into()), PgValue::Numeric("1".into())),
            (
                PgValue::Jsonb("\"a\"".into()),
                PgValue::Text("\"a\"".into()),
            ),
            (PgValue::Timestamp(0), PgValue::Timestamptz(0)),
            (PgValue::Int8(0), PgValue::Null),
            (PgValue::Int8(1), PgValue::Numeric("1".into())),
            (PgValue::Bool(false), PgValue::Null),
            (PgValue::Text("".into()), PgValue::Null),
        ];
        for (a, b) in pairs {
            assert_ne!(encoded(a.clone()), encoded(b.clone()), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn rows_are_self_delimiting() {
        let text = |s: &'static str| PgValue::Text(s.into());
        assert_ne!(row(&[text("ab"), text("c")]), row(&[text("a"), text("bc")]));
        assert_ne!(row(&[text("")]), row(&[text(""), text("")]));
        assert_ne!(row(&[PgValue::Null]), row(&[PgValue::Null, PgValue::Null]));
        let mut appended = b"x".to_vec();
        encode_row(&[text("a")], &mut appended);
        assert_eq!(appended, [&b"x"[..], &row(&[text("a")])].concat());
    }

    #[test]
    fn length_prefix_escapes_huge_payloads() {
        let cases: [(usize, &[u8]); 4] = [
            (0, &[0, 0, 0, 0]),
            (0x0102_0304, &[4, 3, 2, 1]),
            (u32::MAX as usize - 1, &[0xFE, 0xFF, 0xFF, 0xFF]),
            (
                u32::MAX as usize,
                &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0],
            ),
        ];
        for (len, expected) in cases {
            let (prefix, used) = length_prefix(len);
            assert_eq!(&prefix[..used], expected, "length {len}");
        }
    }
}
