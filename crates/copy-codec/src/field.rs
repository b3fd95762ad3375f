//! One value in Postgres's binary wire form: what each type's `send`
//! function produces, which is also what its `recv` function reads.
//!
//! Binary COPY fields ([`CopyEncoder`](crate::CopyEncoder)) and bind
//! parameters (ferry-writer's `PgParam`) carry the same bytes, so both come
//! from [`encode_value`]; [`decode_value`](crate::decode_value) is its
//! mirror. <https://www.postgresql.org/docs/15/protocol-overview.html#PROTOCOL-FORMAT-CODES>

use bytes::{BufMut, BytesMut};
use ferry_model::PgValue;

use crate::CodecError;

/// `numeric` sign words (`src/backend/utils/adt/numeric.c`).
pub(crate) const NUMERIC_POS: u16 = 0x0000;
pub(crate) const NUMERIC_NEG: u16 = 0x4000;
pub(crate) const NUMERIC_NAN: u16 = 0xC000;
pub(crate) const NUMERIC_PINF: u16 = 0xD000;
pub(crate) const NUMERIC_NINF: u16 = 0xF000;
/// The largest display scale the server accepts (`NUMERIC_DSCALE_MAX`).
pub(crate) const NUMERIC_DSCALE_MAX: usize = 0x3FFF;

/// Writes `value` as a length-prefixed field (length `-1` for NULL), or
/// nothing at all when it has no binary form.
pub(crate) fn put_field(buf: &mut BytesMut, value: &PgValue<'_>) -> Result<(), CodecError> {
    let start = buf.len();
    buf.put_i32(0);
    match encode_value(buf, value) {
        Ok(Payload::Null) => {
            buf[start..start + 4].copy_from_slice(&(-1i32).to_be_bytes());
            Ok(())
        }
        Ok(Payload::Written) => {
            // encode_value refuses anything over i32::MAX bytes up front.
            let len = (buf.len() - start - 4) as i32;
            buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
            Ok(())
        }
        Err(err) => {
            buf.truncate(start);
            Err(err)
        }
    }
}

/// What [`encode_value`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    /// The value is NULL: nothing was written, the caller marks the field.
    Null,
    /// The value's bytes were written.
    Written,
}

/// Writes the bytes of `value` without a length, or nothing at all when it
/// has no binary form: a value that fails leaves `buf` as it was.
///
/// These are the bytes of a COPY field without its length word, and of a
/// bind parameter in binary format.
///
/// # Errors
///
/// [`CodecError::Encode`] when the value has no binary form (a malformed
/// numeric string, a field over 2 GiB).
pub fn encode_value(buf: &mut BytesMut, value: &PgValue<'_>) -> Result<Payload, CodecError> {
    match value {
        PgValue::Null => return Ok(Payload::Null),
        PgValue::Bool(b) => buf.put_u8(u8::from(*b)),
        PgValue::Int2(i) => buf.put_i16(*i),
        PgValue::Int4(i) => buf.put_i32(*i),
        PgValue::Int8(i) => buf.put_i64(*i),
        PgValue::Float4(f) => buf.put_u32(f.to_bits()),
        PgValue::Float8(f) => buf.put_u64(f.to_bits()),
        PgValue::Numeric(n) => {
            put_numeric(buf, n).map_err(|reason| encode_error("numeric", preview(n), reason))?;
        }
        PgValue::Text(t) => {
            put_bytes(buf, &[], t.as_bytes())
                .map_err(|reason| encode_error("text", preview(t), reason))?;
        }
        PgValue::Jsonb(j) => {
            // jsonb's binary form is a version byte, then the JSON text.
            put_bytes(buf, &[1], j.as_bytes())
                .map_err(|reason| encode_error("jsonb", preview(j), reason))?;
        }
        PgValue::Bytea(b) => {
            put_bytes(buf, &[], b)
                .map_err(|reason| encode_error("bytea", format!("{} bytes", b.len()), reason))?;
        }
        // PostGIS's geometry_recv reads EWKB.
        PgValue::Geometry(g) => {
            put_bytes(buf, &[], g)
                .map_err(|reason| encode_error("geometry", format!("{} bytes", g.len()), reason))?;
        }
        PgValue::Date(d) => buf.put_i32(*d),
        PgValue::Timestamp(t) | PgValue::Timestamptz(t) => buf.put_i64(*t),
        PgValue::Uuid(u) => buf.put_slice(u),
    }
    Ok(Payload::Written)
}

fn encode_error(pg_type: &'static str, value: String, reason: &'static str) -> CodecError {
    CodecError::Encode {
        pg_type,
        value,
        reason,
    }
}

/// A value quoted and cut to 40 characters for messages.
pub(crate) fn preview(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("'{}…'", &text[..cut]),
        None => format!("'{text}'"),
    }
}

/// `prefix` then `data`, if together they fit a field.
fn put_bytes(buf: &mut BytesMut, prefix: &[u8], data: &[u8]) -> Result<(), &'static str> {
    if i32::try_from(prefix.len() + data.len()).is_err() {
        return Err("a field cannot exceed 2 GiB in Postgres's binary format");
    }
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

    // One pass over the groups: the header's ndigits and weight are known
    // only once the first and last non-zero groups are, so it is written
    // last. Zero groups before the first non-zero one are skipped; those
    // after the last one are cut off at the end (a group of zeros can end
    // the integer part when there is no fraction: 1_0000).
    let header = buf.len();
    buf.put_u64(0);
    let mut first = None;
    let mut end = 0;
    for (g, group) in groups(int_digits, frac_digits).enumerate() {
        if group == 0 && first.is_none() {
            continue;
        }
        let first = *first.get_or_insert(g);
        buf.put_u16(group);
        if group != 0 {
            end = g + 1 - first;
        }
    }
    buf.truncate(header + 8 + 2 * end);
    let Some(first) = first else {
        // Zero, whatever its sign or scale: Postgres has no negative zero.
        write_header(&mut buf[header..], 0, 0, NUMERIC_POS, dscale);
        return Ok(());
    };
    let weight = int_digits.len().div_ceil(4) as i64 - 1 - first as i64;
    let (Ok(ndigits), Ok(weight)) = (i16::try_from(end), i16::try_from(weight)) else {
        buf.truncate(header);
        return Err("too many digits for numeric");
    };
    let sign = if negative { NUMERIC_NEG } else { NUMERIC_POS };
    write_header(&mut buf[header..], ndigits, weight, sign, dscale);
    Ok(())
}

/// Fills in the four words that open a numeric: ndigits, weight, sign and
/// display scale.
fn write_header(out: &mut [u8], ndigits: i16, weight: i16, sign: u16, dscale: u16) {
    out[0..2].copy_from_slice(&ndigits.to_be_bytes());
    out[2..4].copy_from_slice(&weight.to_be_bytes());
    out[4..6].copy_from_slice(&sign.to_be_bytes());
    out[6..8].copy_from_slice(&dscale.to_be_bytes());
}

/// The base-10000 digits of a decimal, read from its digit strings without
/// copying them: the integer digits padded on the left and the fraction
/// digits padded on the right to a multiple of four, then cut into fours.
fn groups<'a>(int_digits: &'a [u8], frac_digits: &'a [u8]) -> impl Iterator<Item = u16> + 'a {
    let value = |digits: &[u8]| {
        digits
            .iter()
            .fold(0u16, |acc, &d| acc * 10 + u16::from(d - b'0'))
    };
    let (head, whole) = int_digits.split_at(int_digits.len() % 4);
    let head = (!head.is_empty()).then(|| value(head));
    let frac = frac_digits
        .chunks(4)
        .map(move |chunk| value(chunk) * 10u16.pow(4 - chunk.len() as u32));
    head.into_iter()
        .chain(whole.chunks_exact(4).map(value))
        .chain(frac)
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn payload(value: PgValue<'_>) -> (Payload, Vec<u8>) {
        let mut buf = BytesMut::new();
        let written = encode_value(&mut buf, &value).unwrap();
        (written, buf.to_vec())
    }

    #[test]
    fn payload_is_the_field_without_its_length() {
        assert_eq!(payload(PgValue::Null), (Payload::Null, vec![]));
        assert_eq!(
            payload(PgValue::Int4(258)),
            (Payload::Written, vec![0, 0, 1, 2])
        );
        assert_eq!(
            payload(PgValue::Jsonb(Cow::Borrowed("[]"))),
            (Payload::Written, b"\x01[]".to_vec())
        );
        let mut field = BytesMut::new();
        put_field(&mut field, &PgValue::Numeric(Cow::Borrowed("12.50"))).unwrap();
        let (_, numeric) = payload(PgValue::Numeric(Cow::Borrowed("12.50")));
        assert_eq!(&field[..4], &(numeric.len() as i32).to_be_bytes());
        assert_eq!(&field[4..], &numeric[..]);
    }

    #[test]
    fn a_value_without_binary_form_writes_nothing() {
        let mut buf = BytesMut::from(&b"kept"[..]);
        assert!(put_field(&mut buf, &PgValue::Numeric(Cow::Borrowed("1e3"))).is_err());
        assert!(encode_value(&mut buf, &PgValue::Numeric(Cow::Borrowed("x"))).is_err());
        // Refused only once its groups are written, and still leaves nothing.
        let wide = format!("1{}", "0".repeat(4 * 32_768));
        assert!(encode_value(&mut buf, &PgValue::Numeric(Cow::Owned(wide))).is_err());
        assert_eq!(&buf[..], b"kept");
    }

    /// What `put_numeric` writes, or its error, on a fresh buffer.
    fn numeric_bytes(
        put: fn(&mut BytesMut, &str) -> Result<(), &'static str>,
        text: &str,
    ) -> Result<Vec<u8>, &'static str> {
        let mut buf = BytesMut::from(&b"x"[..]);
        put(&mut buf, text).map(|()| buf[1..].to_vec())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(5000))]

        #[test]
        fn numeric_matches_the_reference_encoder(
            text in "-?0{0,5}[0-9]{0,12}(0000){0,3}[0-9]{0,3}(\\.(0{0,9}[0-9]{0,12}0{0,9})?)?"
        ) {
            proptest::prop_assert_eq!(
                numeric_bytes(put_numeric, &text),
                numeric_bytes(reference::reference, &text)
            );
        }
    }

    #[test]
    fn numeric_limits_match_the_reference_encoder() {
        for text in [
            format!("1{}", "0".repeat(4 * 32_767)),
            format!("1{}", "0".repeat(4 * 32_768)),
            "1".repeat(4 * 32_767),
            "1".repeat(4 * 32_768 + 1),
            format!("0.{}1", "0".repeat(16_382)),
            format!("{}.{}", "9".repeat(1000), "9".repeat(16_383)),
            "0.0000".to_owned(),
            "-0".to_owned(),
            ".".to_owned(),
            "1.2.3".to_owned(),
        ] {
            assert_eq!(
                numeric_bytes(put_numeric, &text),
                numeric_bytes(reference::reference, &text),
                "{}",
                &text[..text.len().min(20)]
            );
        }
    }

    /// The encoder `put_numeric` replaced, which recomputed each group up
    /// to three times, kept as the reference it must agree with byte for
    /// byte.
    mod reference {
        use bytes::{BufMut, BytesMut};

        use crate::field::{
            NUMERIC_DSCALE_MAX, NUMERIC_NAN, NUMERIC_NEG, NUMERIC_NINF, NUMERIC_PINF, NUMERIC_POS,
        };

        pub(super) fn reference(buf: &mut BytesMut, text: &str) -> Result<(), &'static str> {
            let special = match text {
                "NaN" => Some(NUMERIC_NAN),
                "Infinity" => Some(NUMERIC_PINF),
                "-Infinity" => Some(NUMERIC_NINF),
                _ => None,
            };
            if let Some(sign) = special {
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
    }
}
