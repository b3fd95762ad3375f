//! Text-like targets: text, bytea, boolean, jsonb and uuid.

use std::borrow::Cow;

use ferry_model::{Coercion, InvalidUtf8, SourceValueRef};

use super::{bad, not_a, FIX_OR_BYTEA, FIX_OR_TEXT};
use crate::error::CoerceError;

const NUL_HINT: &str = "set strip_nul = true for the column in ferry.toml to drop NUL bytes, or \
                        map it to bytea";
const UTF8_HINT: &str = "set invalid_utf8 = \"replace\" for the column in ferry.toml to replace \
                         bad bytes with U+FFFD, or map it to bytea";

pub(super) fn to_text<'a>(
    value: SourceValueRef<'a>,
    coercion: &Coercion,
) -> Result<Cow<'a, str>, CoerceError> {
    match value {
        SourceValueRef::Text(bytes) => {
            let text: Cow<'a, str> = match std::str::from_utf8(bytes) {
                Ok(text) => Cow::Borrowed(text),
                Err(_) if coercion.invalid_utf8 == InvalidUtf8::Replace => {
                    String::from_utf8_lossy(bytes)
                }
                Err(e) => {
                    let reason = format!(
                        "is not valid UTF-8 (bad byte 0x{:02x} at offset {})",
                        bytes[e.valid_up_to()],
                        e.valid_up_to()
                    );
                    return Err(bad(value, reason, UTF8_HINT));
                }
            };
            if memchr::memchr(0, text.as_bytes()).is_none() {
                return Ok(text);
            }
            if coercion.strip_nul {
                return Ok(Cow::Owned(text.replace('\0', "")));
            }
            Err(bad(
                value,
                "contains a NUL byte, which Postgres text cannot store",
                NUL_HINT,
            ))
        }
        SourceValueRef::Integer(i) => Ok(Cow::Owned(i.to_string())),
        SourceValueRef::Real(r) => Ok(Cow::Owned(format!("{r:?}"))),
        SourceValueRef::Blob(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) if memchr::memchr(0, bytes).is_none() => Ok(Cow::Borrowed(text)),
            Ok(_) => Err(bad(
                value,
                "is a blob containing a NUL byte, which Postgres text cannot store",
                FIX_OR_BYTEA,
            )),
            Err(_) => Err(bad(
                value,
                "is a blob that is not valid UTF-8",
                FIX_OR_BYTEA,
            )),
        },
        SourceValueRef::Null => Err(not_a(value, "text", FIX_OR_TEXT)),
    }
}

pub(super) fn to_bytea(value: SourceValueRef<'_>) -> Result<Cow<'_, [u8]>, CoerceError> {
    match value {
        SourceValueRef::Blob(bytes) | SourceValueRef::Text(bytes) => Ok(Cow::Borrowed(bytes)),
        _ => Err(not_a(
            value,
            "bytes",
            "fix the value or map the column to a numeric type in ferry.toml",
        )),
    }
}

pub(super) fn to_bool(value: SourceValueRef<'_>) -> Result<bool, CoerceError> {
    const WORDS: [(&str, bool); 12] = [
        ("t", true),
        ("f", false),
        ("true", true),
        ("false", false),
        ("y", true),
        ("n", false),
        ("yes", true),
        ("no", false),
        ("on", true),
        ("off", false),
        ("1", true),
        ("0", false),
    ];
    let found = match value {
        SourceValueRef::Integer(0) => Some(false),
        SourceValueRef::Integer(1) => Some(true),
        // -0.0 matches 0.0: float patterns compare with ==.
        SourceValueRef::Real(0.0) => Some(false),
        SourceValueRef::Real(1.0) => Some(true),
        SourceValueRef::Text(t) => WORDS
            .iter()
            .find(|(word, _)| t.eq_ignore_ascii_case(word.as_bytes()))
            .map(|&(_, b)| b),
        _ => None,
    };
    found.ok_or_else(|| {
        bad(
            value,
            "is not a boolean (expected 0/1, true/false, t/f, yes/no, y/n or on/off)",
            FIX_OR_TEXT,
        )
    })
}

pub(super) fn to_jsonb(value: SourceValueRef<'_>) -> Result<Cow<'_, str>, CoerceError> {
    let bytes = match value {
        SourceValueRef::Text(bytes) | SourceValueRef::Blob(bytes) => bytes,
        SourceValueRef::Integer(i) => return Ok(Cow::Owned(i.to_string())),
        SourceValueRef::Real(r) if r.is_finite() => return Ok(Cow::Owned(format!("{r:?}"))),
        _ => {
            return Err(bad(
                value,
                "is not valid JSON (JSON has no NaN or Infinity)",
                FIX_OR_TEXT,
            ))
        }
    };
    let text = std::str::from_utf8(bytes).map_err(|_| {
        bad(
            value,
            "is not valid JSON: it is not valid UTF-8",
            FIX_OR_TEXT,
        )
    })?;
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map_err(|e| bad(value, format!("is not valid JSON: {e}"), FIX_OR_TEXT))?;
    check_json_escapes(bytes).map_err(|reason| bad(value, reason, FIX_OR_TEXT))?;
    Ok(Cow::Borrowed(text))
}

/// Refuses the `\u` escapes Postgres's jsonb input refuses and serde_json
/// lets through: `\u0000`, and surrogates that do not pair up.
/// The text is already valid JSON, so every backslash starts an escape.
/// Most JSON has none: `memchr` skips from one to the next at vector
/// speed, where a byte-at-a-time loop was the largest cost of coercing a
/// mail row.
fn check_json_escapes(bytes: &[u8]) -> Result<(), &'static str> {
    let hex = |at: usize| -> Option<u32> {
        let digits = std::str::from_utf8(bytes.get(at..at + 4)?).ok()?;
        u32::from_str_radix(digits, 16).ok()
    };
    let mut i = 0;
    while let Some(found) = bytes.get(i..).and_then(|rest| memchr::memchr(b'\\', rest)) {
        i += found;
        if bytes.get(i + 1) != Some(&b'u') {
            i += 2;
            continue;
        }
        let code = hex(i + 2).unwrap_or(0xFFFF);
        i += 6;
        match code {
            0 => return Err("is not valid jsonb: \\u0000 cannot be stored by Postgres"),
            0xD800..=0xDBFF => {
                let low = (bytes.get(i..i + 2) == Some(b"\\u"))
                    .then(|| hex(i + 2))
                    .flatten();
                if !matches!(low, Some(0xDC00..=0xDFFF)) {
                    return Err(
                        "is not valid jsonb: a \\u high surrogate is not followed by a low one",
                    );
                }
                i += 6;
            }
            0xDC00..=0xDFFF => {
                return Err(
                    "is not valid jsonb: a \\u low surrogate has no high surrogate before it",
                )
            }
            _ => {}
        }
    }
    Ok(())
}

pub(super) fn to_uuid(value: SourceValueRef<'_>) -> Result<[u8; 16], CoerceError> {
    let parsed = match value {
        SourceValueRef::Blob(bytes) => <[u8; 16]>::try_from(bytes).ok(),
        SourceValueRef::Text(text) => parse_uuid(text),
        _ => None,
    };
    parsed.ok_or_else(|| {
        bad(
            value,
            "is not a UUID (expected 32 hex digits, optionally hyphenated 8-4-4-4-12, in braces \
             or after urn:uuid:, or a 16-byte blob)",
            FIX_OR_TEXT,
        )
    })
}

fn parse_uuid(text: &[u8]) -> Option<[u8; 16]> {
    const URN: &[u8] = b"urn:uuid:";
    let body = if text.len() > URN.len() && text[..URN.len()].eq_ignore_ascii_case(URN) {
        &text[URN.len()..]
    } else if let Some(inner) = text.strip_prefix(b"{").and_then(|t| t.strip_suffix(b"}")) {
        inner
    } else {
        text
    };
    let hex_digits: &mut [u8; 32] = &mut [0; 32];
    match body.len() {
        32 => hex_digits.copy_from_slice(body),
        36 => {
            let mut n = 0;
            for (i, &b) in body.iter().enumerate() {
                if matches!(i, 8 | 13 | 18 | 23) {
                    if b != b'-' {
                        return None;
                    }
                } else {
                    hex_digits[n] = b;
                    n += 1;
                }
            }
        }
        _ => return None,
    }
    let nibble = |b: u8| char::from(b).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = nibble(hex_digits[2 * i])? << 4 | nibble(hex_digits[2 * i + 1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::check_json_escapes;

    const NUL: &str = "is not valid jsonb: \\u0000 cannot be stored by Postgres";
    const HIGH: &str = "is not valid jsonb: a \\u high surrogate is not followed by a low one";
    const LOW: &str = "is not valid jsonb: a \\u low surrogate has no high surrogate before it";

    /// The byte-at-a-time scan `check_json_escapes` replaced, kept as the
    /// reference it must agree with.
    fn reference(bytes: &[u8]) -> Result<(), &'static str> {
        let hex = |at: usize| -> Option<u32> {
            let digits = std::str::from_utf8(bytes.get(at..at + 4)?).ok()?;
            u32::from_str_radix(digits, 16).ok()
        };
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] != b'\\' {
                i += 1;
                continue;
            }
            if bytes.get(i + 1) != Some(&b'u') {
                i += 2;
                continue;
            }
            let code = hex(i + 2).unwrap_or(0xFFFF);
            i += 6;
            match code {
                0 => return Err(NUL),
                0xD800..=0xDBFF => {
                    let low = (bytes.get(i..i + 2) == Some(b"\\u"))
                        .then(|| hex(i + 2))
                        .flatten();
                    if !matches!(low, Some(0xDC00..=0xDFFF)) {
                        return Err(HIGH);
                    }
                    i += 6;
                }
                0xDC00..=0xDFFF => return Err(LOW),
                _ => {}
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn agrees_with_the_byte_scan(text in r#"([a\\u0DdcC8\"]|\\u[0Dd][08c][0-9a-f]{2}){0,12}"#) {
            let bytes = text.as_bytes();
            prop_assert_eq!(check_json_escapes(bytes), reference(bytes));
        }
    }

    #[test]
    fn escapes_at_the_very_end() {
        for (text, expected) in [
            ("\\", Ok(())),
            ("\\u", Ok(())),
            ("\\u00", Ok(())),
            ("x\\u0000", Err(NUL)),
            ("\\ud800", Err(HIGH)),
            ("\\ud800\\", Err(HIGH)),
            ("\\ud800\\udc00", Ok(())),
            ("\\\\u0000", Ok(())),
            ("\\udc00", Err(LOW)),
        ] {
            let got = check_json_escapes(text.as_bytes());
            assert_eq!(got, expected, "{text}");
            assert_eq!(got, reference(text.as_bytes()), "{text}");
        }
    }
}
