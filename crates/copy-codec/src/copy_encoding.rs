//! Postgres's binary COPY format, written into a reusable buffer.
//!
//! The layout is the one in
//! <https://www.postgresql.org/docs/15/sql-copy.html#id-1.9.3.55.9.4>; each
//! field is what the column type's `send` function produces. Binary COPY
//! skips the server's text parsing, and every value is written straight
//! into one growing buffer: nothing is allocated per value.

use bytes::{BufMut, Bytes, BytesMut};
use ferry_model::PgValue;

use crate::field::put_field;
use crate::CodecError;

/// The 11-byte signature that opens every binary COPY stream.
const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// A field length the server refuses ("invalid field size"), written in
/// place of a value that has no binary form.
const POISON_LENGTH: i32 = -2;

/// Encodes rows into binary COPY data.
///
/// Use it as: [`header`](Self::header) once per COPY, then per row
/// [`begin_row`](Self::begin_row) and one [`push`](Self::push) per column,
/// [`take`](Self::take) whole rows whenever the buffer is big enough to send,
/// and [`trailer`](Self::trailer) once at the end.
#[derive(Debug, Default)]
pub struct CopyEncoder {
    buf: BytesMut,
    /// The room [`take`](Self::take) makes after splitting the buffer off.
    capacity: usize,
    /// Where the open row starts, so a value that cannot be encoded removes
    /// its whole row instead of leaving half a row in the stream.
    row_start: usize,
}

impl CopyEncoder {
    /// An empty encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty encoder with room for `capacity` bytes, and again after
    /// every [`take`](Self::take).
    ///
    /// Size it to what is written between two takes: a buffer that has to
    /// grow copies everything written so far at every doubling.
    pub fn with_capacity(capacity: usize) -> Self {
        CopyEncoder {
            buf: BytesMut::with_capacity(capacity),
            capacity,
            row_start: 0,
        }
    }

    /// Writes the stream header: signature, flags (no OIDs) and an empty
    /// header extension.
    pub fn header(&mut self) {
        self.buf.put_slice(SIGNATURE);
        self.buf.put_i32(0);
        self.buf.put_i32(0);
    }

    /// Starts a row of `fields` values.
    pub fn begin_row(&mut self, fields: i16) {
        self.row_start = self.buf.len();
        self.buf.put_i16(fields);
    }

    /// Appends one value to the open row.
    ///
    /// The value must keep [`PgValue`]'s documented invariants (a plain
    /// decimal `Numeric`, fields under 2 GiB), as the transformer's values
    /// do. One that does not cannot be written; rather than drop it
    /// silently, `push` writes an invalid field length, so the server
    /// refuses the chunk (SQLSTATE 22P04, naming the line and column) and
    /// it rolls back. Use [`try_push`](Self::try_push) to catch such a
    /// value before sending.
    pub fn push(&mut self, value: &PgValue<'_>) {
        if self.encode(value).is_err() {
            self.buf.put_i32(POISON_LENGTH);
        }
    }

    /// Appends one value to the open row, or explains why it has no binary
    /// form.
    ///
    /// # Errors
    ///
    /// [`CodecError::Encode`] when the value has no binary form (a
    /// malformed numeric string, a field over 2 GiB). The open row is then
    /// removed from the buffer: reject it and start the next row with
    /// [`begin_row`](Self::begin_row).
    pub fn try_push(&mut self, value: &PgValue<'_>) -> Result<(), CodecError> {
        self.encode(value)
            .inspect_err(|_| self.buf.truncate(self.row_start))
    }

    /// Writes one field, or nothing at all when the value has no binary
    /// form.
    fn encode(&mut self, value: &PgValue<'_>) -> Result<(), CodecError> {
        put_field(&mut self.buf, value)
    }

    /// Cuts the buffer back to `len` bytes (a length taken from
    /// [`len`](Self::len) earlier), dropping a row that will not be sent.
    pub fn truncate(&mut self, len: usize) {
        self.buf.truncate(len);
        self.row_start = self.row_start.min(len);
    }

    /// Writes the end-of-data marker.
    pub fn trailer(&mut self) {
        self.buf.put_i16(-1);
    }

    /// Bytes written and not yet taken.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Nothing written since the last [`take`](Self::take).
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Splits off everything written so far. The buffer's spare capacity
    /// stays with the encoder, topped up to the capacity it was made with
    /// (reclaiming the allocation of bytes taken earlier and already
    /// dropped, when it can). Call it between rows.
    pub fn take(&mut self) -> Bytes {
        self.row_start = 0;
        let taken = self.buf.split().freeze();
        self.buf.reserve(self.capacity);
        taken
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::field::{NUMERIC_NAN, NUMERIC_NEG, NUMERIC_NINF, NUMERIC_PINF, NUMERIC_POS};

    fn encode(value: PgValue<'_>) -> Vec<u8> {
        let mut enc = CopyEncoder::new();
        enc.try_push(&value).unwrap();
        enc.take().to_vec()
    }

    /// Length word followed by the payload.
    fn field(payload: &[u8]) -> Vec<u8> {
        let mut out = (payload.len() as i32).to_be_bytes().to_vec();
        out.extend_from_slice(payload);
        out
    }

    /// ndigits, weight, sign, dscale, digits.
    fn numeric(weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut payload = Vec::new();
        payload.extend((digits.len() as i16).to_be_bytes());
        payload.extend(weight.to_be_bytes());
        payload.extend(sign.to_be_bytes());
        payload.extend(dscale.to_be_bytes());
        for d in digits {
            payload.extend(d.to_be_bytes());
        }
        field(&payload)
    }

    fn num(text: &str) -> Vec<u8> {
        encode(PgValue::Numeric(Cow::Borrowed(text)))
    }

    #[test]
    fn header_and_trailer() {
        let mut enc = CopyEncoder::new();
        enc.header();
        enc.trailer();
        assert_eq!(
            enc.take().as_ref(),
            b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0\xff\xff"
        );
        assert!(enc.is_empty());
    }

    #[test]
    fn fixed_width_types() {
        assert_eq!(encode(PgValue::Null), [0xff; 4]);
        assert_eq!(encode(PgValue::Bool(true)), field(&[1]));
        assert_eq!(encode(PgValue::Bool(false)), field(&[0]));
        assert_eq!(encode(PgValue::Int2(-2)), field(&[0xff, 0xfe]));
        assert_eq!(encode(PgValue::Int4(258)), field(&[0, 0, 1, 2]));
        assert_eq!(
            encode(PgValue::Int8(i64::MIN)),
            field(&[0x80, 0, 0, 0, 0, 0, 0, 0])
        );
        assert_eq!(encode(PgValue::Float4(1.0)), field(&[0x3f, 0x80, 0, 0]));
        assert_eq!(
            encode(PgValue::Float8(-0.0)),
            field(&[0x80, 0, 0, 0, 0, 0, 0, 0])
        );
        assert_eq!(
            encode(PgValue::Float8(f64::from_bits(1))),
            field(&[0, 0, 0, 0, 0, 0, 0, 1])
        );
        assert_eq!(encode(PgValue::Date(-1)), field(&[0xff; 4]));
        assert_eq!(
            encode(PgValue::Timestamp(1)),
            field(&[0, 0, 0, 0, 0, 0, 0, 1])
        );
        assert_eq!(encode(PgValue::Timestamptz(-1)), field(&[0xff; 8]));
        let uuid: [u8; 16] = std::array::from_fn(|i| i as u8);
        assert_eq!(encode(PgValue::Uuid(uuid)), field(&uuid));
    }

    #[test]
    fn variable_width_types() {
        assert_eq!(
            encode(PgValue::Text(Cow::Borrowed("é"))),
            field("é".as_bytes())
        );
        assert_eq!(encode(PgValue::Text(Cow::Borrowed(""))), field(b""));
        assert_eq!(
            encode(PgValue::Jsonb(Cow::Borrowed("{}"))),
            field(b"\x01{}")
        );
        assert_eq!(
            encode(PgValue::Bytea(Cow::Borrowed(&[0, 1, 0]))),
            field(&[0, 1, 0])
        );
    }

    #[test]
    fn numeric_groups_align_on_the_decimal_point() {
        assert_eq!(num("0"), numeric(0, NUMERIC_POS, 0, &[]));
        assert_eq!(num("0.00"), numeric(0, NUMERIC_POS, 2, &[]));
        assert_eq!(num("-0.0"), numeric(0, NUMERIC_POS, 1, &[]));
        assert_eq!(num("1"), numeric(0, NUMERIC_POS, 0, &[1]));
        assert_eq!(num("12.50"), numeric(0, NUMERIC_POS, 2, &[12, 5000]));
        assert_eq!(num("-0.0001"), numeric(-1, NUMERIC_NEG, 4, &[1]));
        assert_eq!(num("0.00001"), numeric(-2, NUMERIC_POS, 5, &[1000]));
        assert_eq!(num("10000"), numeric(1, NUMERIC_POS, 0, &[1]));
        assert_eq!(
            num("100000000.0001"),
            numeric(2, NUMERIC_POS, 4, &[1, 0, 0, 1])
        );
        assert_eq!(
            num("12345678901234567890.5"),
            numeric(4, NUMERIC_POS, 1, &[1234, 5678, 9012, 3456, 7890, 5000])
        );
        assert_eq!(num("007.5"), numeric(0, NUMERIC_POS, 1, &[7, 5000]));
        assert_eq!(num(".5"), numeric(-1, NUMERIC_POS, 1, &[5000]));
    }

    #[test]
    fn numeric_specials() {
        assert_eq!(num("NaN"), numeric(0, NUMERIC_NAN, 0, &[]));
        assert_eq!(num("Infinity"), numeric(0, NUMERIC_PINF, 0, &[]));
        assert_eq!(num("-Infinity"), numeric(0, NUMERIC_NINF, 0, &[]));
    }

    #[test]
    fn bad_numeric_removes_its_row() {
        let mut enc = CopyEncoder::new();
        enc.begin_row(1);
        enc.push(&PgValue::Int4(1));
        let kept = enc.len();
        enc.begin_row(2);
        enc.push(&PgValue::Int4(2));
        for bad in ["1e5", "", "-", "1.2.3", "+1", " 1", "nan"] {
            let err = enc
                .try_push(&PgValue::Numeric(Cow::Borrowed(bad)))
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    CodecError::Encode {
                        pg_type: "numeric",
                        ..
                    }
                ),
                "{bad}"
            );
            assert_eq!(enc.len(), kept, "{bad}");
        }
        let err = enc
            .try_push(&PgValue::Numeric(Cow::Borrowed("1e5")))
            .unwrap_err();
        assert!(err
            .to_string()
            .starts_with("cannot encode '1e5' as numeric"));
    }

    #[test]
    fn push_poisons_what_it_cannot_encode() {
        let mut enc = CopyEncoder::new();
        enc.begin_row(1);
        enc.push(&PgValue::Numeric(Cow::Borrowed("1e5")));
        assert_eq!(enc.take().as_ref(), [0, 1, 0xff, 0xff, 0xff, 0xfe]);
    }

    #[test]
    fn truncate_drops_a_row() {
        let mut enc = CopyEncoder::new();
        enc.header();
        let start = enc.len();
        enc.begin_row(1);
        enc.push(&PgValue::Bool(true));
        enc.truncate(start);
        assert_eq!(enc.len(), 19);
    }

    #[test]
    fn numeric_limits() {
        let huge_scale = format!("0.{}", "1".repeat(16_384));
        assert!(CopyEncoder::new()
            .try_push(&PgValue::Numeric(Cow::Owned(huge_scale)))
            .is_err());
        let max_scale = format!("0.{}", "1".repeat(16_383));
        assert!(CopyEncoder::new()
            .try_push(&PgValue::Numeric(Cow::Owned(max_scale)))
            .is_ok());
    }

    #[test]
    fn take_keeps_capacity_for_reuse() {
        let mut enc = CopyEncoder::with_capacity(64);
        enc.begin_row(1);
        enc.push(&PgValue::Int8(1));
        let first = enc.take();
        assert_eq!(first.len(), 2 + 4 + 8);
        assert!(enc.is_empty());
        // Room for the next rows even while the taken bytes are in flight.
        assert!(enc.buf.capacity() >= 64);
        drop(first);
        enc.begin_row(1);
        assert_eq!(enc.len(), 2);
    }
}
