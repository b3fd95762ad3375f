//! Postgres's binary wire form back into [`PgValue`]s: the mirror of the
//! field encoding COPY and bind parameters use.
//!
//! Decoding borrows text, bytea and jsonb from the received bytes, so a row
//! costs no copy until the caller keeps it. Values come back in the same
//! representation the transformer produces, which is what lets the
//! verifier compare both sides byte for byte.

use std::borrow::Cow;

use ferry_model::{PgType, PgValue};

use crate::field::{
    NUMERIC_DSCALE_MAX, NUMERIC_NAN, NUMERIC_NEG, NUMERIC_NINF, NUMERIC_PINF, NUMERIC_POS,
};
use crate::CodecError;

/// Reads one value of `pg_type` in Postgres's binary send format; `None`
/// (a NULL field) is [`PgValue::Null`].
///
/// Numeric comes back as the plain decimal string [`PgValue::Numeric`]
/// documents, with exactly the display scale Postgres keeps (`1.50` stays
/// `1.50`, as `numeric_out` prints it), and without a minus sign on zero,
/// since Postgres has no negative zero. Text and jsonb must be valid UTF-8.
///
/// # Errors
///
/// [`CodecError::Decode`] (without table or column, which the caller adds)
/// when the bytes have the wrong length or are not a valid value.
pub fn decode_value<'a>(pg_type: PgType, raw: Option<&'a [u8]>) -> Result<PgValue<'a>, CodecError> {
    let Some(raw) = raw else {
        return Ok(PgValue::Null);
    };
    let fail = |reason: &'static str| decode_error(pg_type, raw, reason);
    Ok(match pg_type {
        PgType::Boolean => PgValue::Bool(fixed::<1>(raw).ok_or_else(|| fail(LENGTH))?[0] != 0),
        PgType::SmallInt => {
            PgValue::Int2(i16::from_be_bytes(fixed(raw).ok_or_else(|| fail(LENGTH))?))
        }
        PgType::Integer => {
            PgValue::Int4(i32::from_be_bytes(fixed(raw).ok_or_else(|| fail(LENGTH))?))
        }
        PgType::BigInt => {
            PgValue::Int8(i64::from_be_bytes(fixed(raw).ok_or_else(|| fail(LENGTH))?))
        }
        PgType::Real => PgValue::Float4(f32::from_bits(u32::from_be_bytes(
            fixed(raw).ok_or_else(|| fail(LENGTH))?,
        ))),
        PgType::DoublePrecision => PgValue::Float8(f64::from_bits(u64::from_be_bytes(
            fixed(raw).ok_or_else(|| fail(LENGTH))?,
        ))),
        PgType::Numeric(_) => PgValue::Numeric(Cow::Owned(numeric_text(raw).map_err(fail)?)),
        PgType::Text => PgValue::Text(Cow::Borrowed(
            std::str::from_utf8(raw).map_err(|_| fail(NOT_UTF8))?,
        )),
        PgType::Bytea => PgValue::Bytea(Cow::Borrowed(raw)),
        PgType::Date => PgValue::Date(i32::from_be_bytes(fixed(raw).ok_or_else(|| fail(LENGTH))?)),
        PgType::Timestamp => {
            PgValue::Timestamp(i64::from_be_bytes(fixed(raw).ok_or_else(|| fail(LENGTH))?))
        }
        PgType::Timestamptz => {
            PgValue::Timestamptz(i64::from_be_bytes(fixed(raw).ok_or_else(|| fail(LENGTH))?))
        }
        PgType::Jsonb => {
            // jsonb_send writes a format version byte, always 1 so far.
            let text = match raw.split_first() {
                Some((1, text)) => text,
                _ => return Err(fail("unknown jsonb format version")),
            };
            PgValue::Jsonb(Cow::Borrowed(
                std::str::from_utf8(text).map_err(|_| fail(NOT_UTF8))?,
            ))
        }
        PgType::Uuid => PgValue::Uuid(fixed(raw).ok_or_else(|| fail(LENGTH))?),
        // PostGIS's geometry_send writes EWKB, which is what the
        // transformer makes of a source blob: compared as bytes.
        PgType::Geometry(_) => PgValue::Geometry(Cow::Borrowed(raw)),
    })
}

const LENGTH: &str = "wrong length for this type";
const NOT_UTF8: &str = "not valid UTF-8";

/// The bytes as an array, if there are exactly `N` of them.
fn fixed<const N: usize>(raw: &[u8]) -> Option<[u8; N]> {
    raw.try_into().ok()
}

fn decode_error(pg_type: PgType, raw: &[u8], reason: &'static str) -> CodecError {
    const MAX_BYTES: usize = 20;
    let mut value: String = raw
        .iter()
        .take(MAX_BYTES)
        .map(|b| format!("{b:02x}"))
        .collect();
    if raw.len() > MAX_BYTES {
        value.push('…');
    }
    CodecError::Decode {
        pg_type: pg_type.to_string(),
        value: format!("x'{value}' ({} bytes)", raw.len()),
        reason,
    }
}

/// `numeric_recv`'s input as decimal text: ndigits, weight, sign and
/// dscale (16 bits each), then ndigits base-10000 digits, the first of
/// which is worth 10000^weight.
fn numeric_text(raw: &[u8]) -> Result<String, &'static str> {
    let word = |i: usize| -> Option<u16> {
        raw.get(2 * i..2 * i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    let header = (word(0), word(1), word(2), word(3));
    let (Some(ndigits), Some(weight), Some(sign), Some(dscale)) = header else {
        return Err("shorter than a numeric header");
    };
    let ndigits = ndigits as i16;
    let weight = i32::from(weight as i16);
    if ndigits < 0 || raw.len() != 8 + 2 * ndigits as usize {
        return Err("the digit count does not match the length");
    }
    match sign {
        NUMERIC_NAN => return Ok("NaN".to_owned()),
        NUMERIC_PINF => return Ok("Infinity".to_owned()),
        NUMERIC_NINF => return Ok("-Infinity".to_owned()),
        NUMERIC_POS | NUMERIC_NEG => {}
        _ => return Err("unknown numeric sign"),
    }
    let dscale = usize::from(dscale);
    if dscale > NUMERIC_DSCALE_MAX {
        return Err("display scale out of range");
    }
    let digits: Vec<u16> = (4..4 + ndigits as usize).filter_map(word).collect();
    if digits.iter().any(|&d| d > 9999) {
        return Err("a base-10000 digit is out of range");
    }
    // Digit group `g` (0-based from the first digit) is worth
    // 10000^(weight - g); a group outside the digits is zero.
    let group = |power: i32| -> u16 {
        usize::try_from(weight - power)
            .ok()
            .and_then(|g| digits.get(g).copied())
            .unwrap_or(0)
    };

    let mut out = String::new();
    if sign == NUMERIC_NEG {
        out.push('-');
    }
    let sign_len = out.len();
    if weight < 0 {
        out.push('0');
    } else {
        for power in (0..=weight).rev() {
            let d = group(power);
            if out.len() == sign_len {
                if d != 0 || power == 0 {
                    out.push_str(&d.to_string());
                }
            } else {
                out.push_str(&format!("{d:04}"));
            }
        }
    }
    if dscale > 0 {
        out.push('.');
        let mut written = 0;
        let mut power = -1;
        while written < dscale {
            let text = format!("{:04}", group(power));
            let take = (dscale - written).min(4);
            out.push_str(&text[..take]);
            written += take;
            power -= 1;
        }
    }
    // Zero is printed without a sign: Postgres has no negative zero.
    if sign == NUMERIC_NEG && out[1..].bytes().all(|b| b == b'0' || b == b'.') {
        out.remove(0);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use proptest::prelude::*;

    use super::*;
    use crate::field::{encode_value, put_field};

    /// The field encoding COPY uses, without its length word.
    fn encoded(value: &PgValue<'_>) -> Option<Vec<u8>> {
        let mut buf = BytesMut::new();
        put_field(&mut buf, value).unwrap();
        let len = i32::from_be_bytes(buf[..4].try_into().unwrap());
        let mut payload = BytesMut::new();
        encode_value(&mut payload, value).unwrap();
        if len < 0 {
            None
        } else {
            assert_eq!(&buf[4..], &payload[..]);
            Some(buf[4..].to_vec())
        }
    }

    fn round_trip(pg_type: PgType, value: PgValue<'_>) -> PgValue<'static> {
        let bytes = encoded(&value);
        decode_value(pg_type, bytes.as_deref())
            .unwrap()
            .into_owned()
    }

    fn num(text: &str) -> PgValue<'_> {
        PgValue::Numeric(Cow::Borrowed(text))
    }

    #[test]
    fn numeric_keeps_scale_and_specials() {
        for text in [
            "0",
            "0.00",
            "1",
            "12.50",
            "-0.0001",
            "0.00001",
            "10000",
            "100000000.0001",
            "12345678901234567890.5",
            "-1234.5678",
            "NaN",
            "Infinity",
            "-Infinity",
        ] {
            assert_eq!(round_trip(PgType::Numeric(None), num(text)), num(text));
        }
        // Written forms Postgres normalises come back normalised.
        assert_eq!(round_trip(PgType::Numeric(None), num("-0.00")), num("0.00"));
        assert_eq!(round_trip(PgType::Numeric(None), num("007.5")), num("7.5"));
        assert_eq!(round_trip(PgType::Numeric(None), num(".5")), num("0.5"));
    }

    #[test]
    fn numeric_scale_below_the_digits_is_cut_as_numeric_out_does() {
        // 1.2345 sent with dscale 2 (not something Postgres sends, but
        // what numeric_out would print for it).
        let raw = [0, 2, 0, 0, 0, 0, 0, 2, 0, 1, 0x09, 0x29];
        assert_eq!(
            decode_value(PgType::Numeric(None), Some(&raw)).unwrap(),
            num("1.23")
        );
    }

    #[test]
    fn malformed_bytes_are_errors_not_panics() {
        let cases: [(PgType, &[u8], &str); 8] = [
            (PgType::Integer, &[0, 1], LENGTH),
            (PgType::Uuid, &[0; 15], LENGTH),
            (PgType::Text, b"\xff", NOT_UTF8),
            (PgType::Jsonb, b"{}", "unknown jsonb format version"),
            (PgType::Jsonb, b"", "unknown jsonb format version"),
            (
                PgType::Numeric(None),
                &[0, 1],
                "shorter than a numeric header",
            ),
            (
                PgType::Numeric(None),
                &[0, 2, 0, 0, 0, 0, 0, 0, 0, 1],
                "the digit count does not match the length",
            ),
            (
                PgType::Numeric(None),
                &[0, 1, 0, 0, 0, 0, 0, 0, 0x27, 0x10],
                "a base-10000 digit is out of range",
            ),
        ];
        for (pg_type, raw, reason) in cases {
            match decode_value(pg_type, Some(raw)) {
                Err(CodecError::Decode { reason: got, .. }) => assert_eq!(got, reason, "{raw:?}"),
                other => panic!("{pg_type} {raw:?}: {other:?}"),
            }
        }
        let err = decode_value(PgType::Text, Some(b"a\xffb")).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("cannot decode x'61ff62' (3 bytes) as text: not valid UTF-8;"));
    }

    #[test]
    fn null_is_null_for_every_type() {
        assert_eq!(decode_value(PgType::Uuid, None).unwrap(), PgValue::Null);
    }

    /// A plain decimal as `PgValue::Numeric` documents it: no leading zeros
    /// beyond one, no negative zero.
    fn decimal() -> impl Strategy<Value = String> {
        (
            any::<bool>(),
            "(0|[1-9][0-9]{0,40})",
            proptest::option::of("[0-9]{0,30}"),
        )
            .prop_map(|(negative, int, frac)| {
                let mut text = int;
                if let Some(frac) = frac {
                    text.push('.');
                    text.push_str(&frac);
                }
                let zero = text.bytes().all(|b| b == b'0' || b == b'.');
                if negative && !zero {
                    text.insert(0, '-');
                }
                text.trim_end_matches('.').to_owned()
            })
    }

    fn value_of(pg_type: PgType) -> BoxedStrategy<PgValue<'static>> {
        let owned = |s: String| Cow::<'static, str>::Owned(s);
        match pg_type {
            PgType::Boolean => any::<bool>().prop_map(PgValue::Bool).boxed(),
            PgType::SmallInt => any::<i16>().prop_map(PgValue::Int2).boxed(),
            PgType::Integer => any::<i32>().prop_map(PgValue::Int4).boxed(),
            PgType::BigInt => any::<i64>().prop_map(PgValue::Int8).boxed(),
            // Bits, not values: NaN payloads and -0.0 must survive too.
            PgType::Real => any::<u32>()
                .prop_map(|b| PgValue::Float4(f32::from_bits(b)))
                .boxed(),
            PgType::DoublePrecision => any::<u64>()
                .prop_map(|b| PgValue::Float8(f64::from_bits(b)))
                .boxed(),
            PgType::Numeric(_) => prop_oneof![
                decimal().prop_map(move |s| PgValue::Numeric(owned(s))),
                Just(PgValue::Numeric(Cow::Borrowed("NaN"))),
                Just(PgValue::Numeric(Cow::Borrowed("-Infinity"))),
            ]
            .boxed(),
            PgType::Text => "\\PC*"
                .prop_map(move |s: String| PgValue::Text(owned(s.replace('\0', ""))))
                .boxed(),
            PgType::Bytea => proptest::collection::vec(any::<u8>(), 0..64)
                .prop_map(|b| PgValue::Bytea(Cow::Owned(b)))
                .boxed(),
            PgType::Date => any::<i32>().prop_map(PgValue::Date).boxed(),
            PgType::Timestamp => any::<i64>().prop_map(PgValue::Timestamp).boxed(),
            PgType::Timestamptz => any::<i64>().prop_map(PgValue::Timestamptz).boxed(),
            PgType::Jsonb => "\\PC*"
                .prop_map(move |s: String| PgValue::Jsonb(owned(serde_json::json!(s).to_string())))
                .boxed(),
            PgType::Uuid => any::<[u8; 16]>().prop_map(PgValue::Uuid).boxed(),
            PgType::Geometry(_) => proptest::collection::vec(any::<u8>(), 0..64)
                .prop_map(|b| PgValue::Geometry(Cow::Owned(b)))
                .boxed(),
        }
    }

    fn typed_value() -> impl Strategy<Value = (PgType, Option<PgValue<'static>>)> {
        proptest::sample::select(&PgType::ALL[..]).prop_flat_map(|pg_type| {
            (
                Just(pg_type),
                proptest::option::weighted(0.95, value_of(pg_type)),
            )
        })
    }

    /// Floats compare by bits, so NaN equals itself.
    fn same(a: &PgValue<'_>, b: &PgValue<'_>) -> bool {
        match (a, b) {
            (PgValue::Float4(x), PgValue::Float4(y)) => x.to_bits() == y.to_bits(),
            (PgValue::Float8(x), PgValue::Float8(y)) => x.to_bits() == y.to_bits(),
            _ => a == b,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn decode_mirrors_the_field_encoding((pg_type, value) in typed_value()) {
            let value = value.unwrap_or(PgValue::Null);
            let back = round_trip(pg_type, value.clone());
            prop_assert!(same(&back, &value), "{pg_type}: {value:?} came back as {back:?}");
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            for pg_type in PgType::ALL {
                let _ = decode_value(pg_type, Some(&bytes));
            }
        }
    }
}
