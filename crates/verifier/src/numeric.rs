//! Canonical decimal text, shared by `numeric` values and JSON numbers.
//!
//! Postgres compares numerics by value (`1.50 = 1.5`), and jsonb compares its
//! numbers the same way, so both reduce to one spelling: no leading zeros, no
//! trailing fraction zeros, no `-0`, no exponent.

use std::io::Write as _;

use ferry_model::{scan_decimal, Decimal};

/// First payload byte of a value that could not be canonicalised; the raw
/// text follows. Canonical text is ASCII or valid UTF-8, which never holds
/// `0xFF`, so such a payload can never equal a canonical one.
pub(crate) const INVALID_MARKER: u8 = 0xFF;

/// Decimal points further than this from the first significant digit are
/// written in exponent form rather than expanded, so a hostile exponent such
/// as `1e999999999` cannot allocate gigabytes. Postgres's numeric holds at
/// most 131072 digits before the point and 16383 after it, so every value
/// Postgres can store stays in plain form.
const PLAIN_LIMIT: u64 = 1 << 18;

/// Appends the canonical spelling of a finite decimal number.
pub(crate) fn write_decimal(decimal: &Decimal<'_>, out: &mut Vec<u8>) {
    let (int, frac) = (
        decimal.int_digits.as_bytes(),
        decimal.frac_digits.as_bytes(),
    );
    let n = int.len() + frac.len();
    let digit = |i: usize| {
        if i < int.len() {
            int[i]
        } else {
            frac[i - int.len()]
        }
    };
    let lead = (0..n).take_while(|&i| digit(i) == b'0').count();
    if lead == n {
        out.push(b'0');
        return;
    }
    let trail = (0..n).rev().take_while(|&i| digit(i) == b'0').count();
    let (first, end) = (lead, n - trail);
    // Where the decimal point sits, counted from the first significant
    // digit: 0 means `0.d…`, len means `d…` with no fraction.
    let point = (int.len() as i64)
        .saturating_sub(lead as i64)
        .saturating_add(decimal.exponent.unwrap_or(0));
    let len = (end - first) as i64;
    if decimal.negative {
        out.push(b'-');
    }
    if point.unsigned_abs() > PLAIN_LIMIT {
        out.extend_from_slice(b"0.");
        out.extend((first..end).map(digit));
        // Writing into a Vec cannot fail.
        let _ = write!(out, "e{point}");
    } else if point <= 0 {
        out.extend_from_slice(b"0.");
        out.resize(out.len() + point.unsigned_abs() as usize, b'0');
        out.extend((first..end).map(digit));
    } else if point >= len {
        out.extend((first..end).map(digit));
        out.resize(out.len() + (point - len) as usize, b'0');
    } else {
        let split = first + point as usize;
        out.extend((first..split).map(digit));
        out.push(b'.');
        out.extend((split..end).map(digit));
    }
}

/// Appends the canonical text of a `numeric` value.
///
/// Accepts what Postgres's `numeric_in` accepts, not only the plain form
/// [`ferry_model::PgValue::Numeric`] promises, so text read back from the
/// server and text built by the transformer meet in one spelling:
/// surrounding spaces, a `+` sign, a bare `.5` or `5.`, an exponent, and
/// `NaN` / `Infinity` / `inf` in any case. Anything else is written as
/// [`INVALID_MARKER`] followed by the raw text.
pub(crate) fn write_numeric(text: &str, out: &mut Vec<u8>) {
    let trimmed = text.trim_matches(|c: char| c.is_ascii_whitespace());
    if trimmed.eq_ignore_ascii_case("nan") {
        out.extend_from_slice(b"NaN");
        return;
    }
    let (negative, body) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    if body.eq_ignore_ascii_case("infinity") || body.eq_ignore_ascii_case("inf") {
        out.extend_from_slice(if negative { b"-Infinity" } else { b"Infinity" });
        return;
    }
    match scan_decimal(trimmed) {
        Some(decimal) => write_decimal(&decimal, out),
        None => {
            out.push(INVALID_MARKER);
            out.extend_from_slice(text.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn canonical(text: &str) -> String {
        let mut out = Vec::new();
        write_numeric(text, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn normalises_spellings() {
        let cases = [
            ("0", "0"),
            ("0.0", "0"),
            ("-0", "0"),
            ("-0.000", "0"),
            ("000", "0"),
            ("001.500", "1.5"),
            ("1.50", "1.5"),
            ("1.", "1"),
            (".5", "0.5"),
            ("-.50", "-0.5"),
            ("+12", "12"),
            ("100", "100"),
            ("100.00", "100"),
            ("0.000120", "0.00012"),
            ("-12.50", "-12.5"),
            ("  7.0 ", "7"),
            ("1e3", "1000"),
            ("1.5E-3", "0.0015"),
            ("12.34e1", "123.4"),
            ("12.34e+2", "1234"),
            ("0.0e5", "0"),
            (
                "123456789012345678901234567890.123456789",
                "123456789012345678901234567890.123456789",
            ),
            ("NaN", "NaN"),
            ("nan", "NaN"),
            ("Infinity", "Infinity"),
            ("-Infinity", "-Infinity"),
            ("+inf", "Infinity"),
            ("-INF", "-Infinity"),
            ("1e999999999", "0.1e1000000000"),
            (
                "-5e-99999999999999999999999",
                &format!("-0.5e{}", -i64::MAX + 1),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(canonical(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn marks_what_is_not_a_number() {
        for input in [
            "", "-", ".", "1.2.3", "1e", "1e+", "abc", "0x10", "1_000", "-NaN",
        ] {
            let mut expected = vec![INVALID_MARKER];
            expected.extend_from_slice(input.as_bytes());
            let mut out = Vec::new();
            write_numeric(input, &mut out);
            assert_eq!(out, expected, "input {input:?}");
        }
    }

    proptest! {
        #[test]
        fn padding_and_canonical_text_do_not_change_the_value(
            negative in any::<bool>(),
            int in "[0-9]{0,12}",
            frac in "[0-9]{0,12}",
            lead in 0usize..4,
            trail in 0usize..4,
        ) {
            prop_assume!(!(int.is_empty() && frac.is_empty()));
            let sign = if negative { "-" } else { "" };
            let plain = format!("{sign}{int}.{frac}");
            let padded = format!("{sign}{}{int}.{frac}{}", "0".repeat(lead), "0".repeat(trail));
            let once = canonical(&plain);
            prop_assert_eq!(&canonical(&padded), &once);
            prop_assert_eq!(canonical(&once), once);
        }
    }
}
