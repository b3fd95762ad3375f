//! Postgres's binary COPY format, written into a reusable buffer.
//!
//! The layout is the one in
//! <https://www.postgresql.org/docs/15/sql-copy.html#id-1.9.3.55.9.4>; each
//! field is what the column type's `send` function produces. Binary COPY
//! skips the server's text parsing, and every value is written straight
//! into one growing buffer: nothing is allocated per value.

use bytes::{BufMut, Bytes, BytesMut};
use ferry_model::PgValue;

use crate::WriteError;

/// The 11-byte signature that opens every binary COPY stream.
const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// `numeric` sign words (`src/backend/utils/adt/numeric.c`).
const NUMERIC_POS: u16 = 0x0000;
const NUMERIC_NEG: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;
const NUMERIC_PINF: u16 = 0xD000;
const NUMERIC_NINF: u16 = 0xF000;
/// The largest display scale the server accepts (`NUMERIC_DSCALE_MAX`).
const NUMERIC_DSCALE_MAX: usize = 0x3FFF;
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
    /// Where the open row starts, so a value that cannot be encoded removes
    /// its whole row instead of leaving half a row in the stream.
    row_start: usize,
}

impl CopyEncoder {
    /// An empty encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty encoder with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        CopyEncoder {
            buf: BytesMut::with_capacity(capacity),
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
    /// [`WriteError::Encode`] when the value has no binary form (a
    /// malformed numeric string, a field over 2 GiB). The open row is then
    /// removed from the buffer: reject it and start the next row with
    /// [`begin_row`](Self::begin_row).
    pub fn try_push(&mut self, value: &PgValue<'_>) -> Result<(), WriteError> {
        self.encode(value)
            .inspect_err(|_| self.buf.truncate(self.row_start))
    }

    /// Writes one field, or nothing at all when the value has no binary
    /// form: every check happens before the first byte is written.
    fn encode(&mut self, value: &PgValue<'_>) -> Result<(), WriteError> {
        let buf = &mut self.buf;
        match value {
            PgValue::Null => buf.put_i32(-1),
            PgValue::Bool(b) => {
                buf.put_i32(1);
                buf.put_u8(u8::from(*b));
            }
            PgValue::Int2(i) => {
                buf.put_i32(2);
                buf.put_i16(*i);
            }
            PgValue::Int4(i) => {
                buf.put_i32(4);
                buf.put_i32(*i);
            }
            PgValue::Int8(i) => {
                buf.put_i32(8);
                buf.put_i64(*i);
            }
            PgValue::Float4(f) => {
                buf.put_i32(4);
                buf.put_u32(f.to_bits());
            }
            PgValue::Float8(f) => {
                buf.put_i32(8);
                buf.put_u64(f.to_bits());
            }
            PgValue::Numeric(n) => {
                if let Err(reason) = put_numeric(buf, n) {
                    return Err(encode_error("numeric", preview(n), reason));
                }
            }
            PgValue::Text(t) => {
                if let Err(reason) = put_bytes(buf, &[], t.as_bytes()) {
                    return Err(encode_error("text", preview(t), reason));
                }
            }
            PgValue::Jsonb(j) => {
                // jsonb's binary form is a version byte, then the JSON text.
                if let Err(reason) = put_bytes(buf, &[1], j.as_bytes()) {
                    return Err(encode_error("jsonb", preview(j), reason));
                }
            }
            PgValue::Bytea(b) => {
                if let Err(reason) = put_bytes(buf, &[], b) {
                    let shown = format!("{} bytes", b.len());
                    return Err(encode_error("bytea", shown, reason));
                }
            }
            PgValue::Date(d) => {
                buf.put_i32(4);
                buf.put_i32(*d);
            }
            PgValue::Timestamp(t) | PgValue::Timestamptz(t) => {
                buf.put_i32(8);
                buf.put_i64(*t);
            }
            PgValue::Uuid(u) => {
                buf.put_i32(16);
                buf.put_slice(u);
            }
        }
        Ok(())
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
    /// stays with the encoder, and once the returned bytes are dropped the
    /// next writes can reclaim their allocation. Call it between rows.
    pub fn take(&mut self) -> Bytes {
        self.row_start = 0;
        self.buf.split().freeze()
    }
}

fn encode_error(pg_type: &'static str, value: String, reason: &'static str) -> WriteError {
    WriteError::Encode {
        pg_type,
        value,
        reason,
    }
}

fn preview(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("'{}…'", &text[..cut]),
        None => format!("'{text}'"),
    }
}

/// A length-prefixed field made of `prefix` then `data`.
fn put_bytes(buf: &mut BytesMut, prefix: &[u8], data: &[u8]) -> Result<(), &'static str> {
    let len = i32::try_from(prefix.len() + data.len())
        .map_err(|_| "a field cannot exceed 2 GiB in binary COPY")?;
    buf.put_i32(len);
    buf.put_slice(prefix);
    buf.put_slice(data);
    Ok(())
}

/// Writes a plain decimal string (`-12.50`, `0.0001`, `NaN`, `Infinity`)
/// as `numeric_send` would: ndigits, weight, sign, dscale, then base-10000
/// digits, grouped on the decimal point, without leading or trailing zero
/// groups. The display scale is the number of fractional digits written,
/// so `12.50` keeps its trailing zero.
fn put_numeric(buf: &mut BytesMut, text: &str) -> Result<(), &'static str> {
    let special = match text {
        "NaN" => Some(NUMERIC_NAN),
        "Infinity" => Some(NUMERIC_PINF),
        "-Infinity" => Some(NUMERIC_NINF),
        _ => None,
    };
    if let Some(sign) = special {
        buf.put_i32(8);
        buf.put_i16(0);
        buf.put_i16(0);
        buf.put_u16(sign);
        buf.put_u16(0);
        return Ok(());
    }

    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int_part, frac_part) = match unsigned.split_once('.') {
        Some((i, f)) => (i.as_bytes(), f.as_bytes()),
        None => (unsigned.as_bytes(), &b""[..]),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return Err("not a decimal number");
    }
    if !int_part.iter().chain(frac_part).all(u8::is_ascii_digit) {
        return Err("not a plain decimal number (digits, one optional '.' and '-')");
    }
    if frac_part.len() > NUMERIC_DSCALE_MAX {
        return Err("more than 16383 digits after the decimal point");
    }
    let dscale = frac_part.len() as u16;

    // Significant digits only: leading zeros of the integer part and
    // trailing zeros of the fraction never make a group of their own.
    let first_int = int_part
        .iter()
        .position(|&d| d != b'0')
        .unwrap_or(int_part.len());
    let int_digits = &int_part[first_int..];
    let last_frac = frac_part
        .iter()
        .rposition(|&d| d != b'0')
        .map_or(0, |p| p + 1);
    let frac_digits = &frac_part[..last_frac];

    let int_groups = int_digits.len().div_ceil(4);
    let frac_groups = frac_digits.len().div_ceil(4);
    let digits = Digits {
        int_digits,
        frac_digits,
        int_groups,
    };
    let total = int_groups + frac_groups;
    let first = (0..total).find(|&g| digits.group(g) != 0);
    let Some(first) = first else {
        // Zero, whatever its sign or scale: Postgres has no negative zero.
        buf.put_i32(8);
        buf.put_i16(0);
        buf.put_i16(0);
        buf.put_u16(NUMERIC_POS);
        buf.put_u16(dscale);
        return Ok(());
    };
    // A group of zeros can only sit at the ends of the integer part, never
    // after the last non-zero fraction group, because trailing fraction
    // zeros were dropped; but a zero group can end the integer part when
    // there is no fraction (1_0000).
    let last = (first..total)
        .rev()
        .find(|&g| digits.group(g) != 0)
        .unwrap_or(first);
    let ndigits = last - first + 1;
    let weight = int_groups as i64 - 1 - first as i64;
    let ndigits = i16::try_from(ndigits).map_err(|_| "too many digits for numeric")?;
    let weight = i16::try_from(weight).map_err(|_| "too many digits for numeric")?;
    let len = 8 + 2 * i32::from(ndigits);

    buf.put_i32(len);
    buf.put_i16(ndigits);
    buf.put_i16(weight);
    buf.put_u16(if negative { NUMERIC_NEG } else { NUMERIC_POS });
    buf.put_u16(dscale);
    for g in first..=last {
        buf.put_u16(digits.group(g));
    }
    Ok(())
}

/// The base-10000 groups of a decimal, read from its digit strings without
/// copying them: the integer digits padded on the left and the fraction
/// digits padded on the right to a multiple of four.
struct Digits<'a> {
    int_digits: &'a [u8],
    frac_digits: &'a [u8],
    int_groups: usize,
}

impl Digits<'_> {
    fn group(&self, g: usize) -> u16 {
        (0..4).fold(0, |acc, i| acc * 10 + u16::from(self.digit(g * 4 + i)))
    }

    fn digit(&self, pos: usize) -> u8 {
        let int_width = self.int_groups * 4;
        if pos < int_width {
            let pad = int_width - self.int_digits.len();
            if pos < pad {
                0
            } else {
                self.int_digits[pos - pad] - b'0'
            }
        } else {
            self.frac_digits
                .get(pos - int_width)
                .map_or(0, |d| d - b'0')
        }
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

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
                    WriteError::Encode {
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
        drop(first);
        enc.begin_row(1);
        assert_eq!(enc.len(), 2);
    }
}
