//! Integers, floats and decimals: exact conversions or a reason why not.

use std::borrow::Cow;

use ferry_model::{scan_decimal, Decimal};

/// Postgres keeps at most this many digits before the decimal point.
const NUMERIC_MAX_INTEGER_DIGITS: i64 = 131_072;
/// Postgres keeps at most this many digits after the decimal point.
const NUMERIC_MAX_SCALE: i64 = 16_383;
/// Exponents are clamped to this magnitude before any arithmetic: far
/// beyond every Postgres limit, and far from overflowing an i64.
const EXPONENT_LIMIT: i64 = 1_000_000_000;

/// Why a value is not a number of the target type; the caller previews the
/// value in front of it.
pub(crate) type Reason = String;

/// Parses text that is exactly `[+-]?[0-9]+` into an i64.
pub(crate) fn parse_integer_text(text: &[u8]) -> Result<i64, Reason> {
    let digits = match text.first() {
        Some(b'+' | b'-') => &text[1..],
        _ => text,
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err("is not an integer".to_owned());
    }
    // Only ASCII digits and a sign: valid UTF-8, and the only parse failure
    // left is overflow.
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse::<i64>().ok())
        .ok_or_else(|| "is out of range for bigint".to_owned())
}

/// A REAL that holds an integral value an i64 can hold exactly.
pub(crate) fn integral_real(r: f64) -> Result<i64, Reason> {
    // 2^63 is exactly representable; every integral double below it fits.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if r.fract() != 0.0 || r.is_nan() {
        return Err("is not an integer (it has a fractional part)".to_owned());
    }
    if !(-TWO_63..TWO_63).contains(&r) {
        return Err("is out of range for bigint".to_owned());
    }
    Ok(r as i64)
}

/// An i64 as a double, only when the double is the same number.
pub(crate) fn exact_f64(i: i64) -> Option<f64> {
    let f = i as f64;
    // i64::MAX rounds up to 2^63, which `as i64` would saturate back to MAX.
    (f < 9_223_372_036_854_775_808.0 && f as i64 == i).then_some(f)
}

/// The names Postgres's float input accepts besides numbers.
fn special_float(text: &str) -> Option<f64> {
    const NAMES: [(&str, f64); 7] = [
        ("NaN", f64::NAN),
        ("Infinity", f64::INFINITY),
        ("+Infinity", f64::INFINITY),
        ("-Infinity", f64::NEG_INFINITY),
        ("inf", f64::INFINITY),
        ("+inf", f64::INFINITY),
        ("-inf", f64::NEG_INFINITY),
    ];
    NAMES
        .iter()
        .find(|(name, _)| text.eq_ignore_ascii_case(name))
        .map(|&(_, value)| value)
}

/// Parses float text to the nearest double, as Postgres's `float8in` does,
/// but refusing what it refuses: overflow and underflow to zero.
pub(crate) fn parse_f64_text(text: &str) -> Result<f64, Reason> {
    if let Some(special) = special_float(text) {
        return Ok(special);
    }
    let decimal = scan_decimal(text).ok_or_else(|| "is not a number".to_owned())?;
    let value: f64 = text.parse().map_err(|_| "is not a number".to_owned())?;
    check_parsed_float(
        value.is_infinite(),
        value == 0.0,
        &decimal,
        "double precision",
    )?;
    Ok(value)
}

/// Like [`parse_f64_text`], to the nearest float4 (what `float4in` stores).
pub(crate) fn parse_f32_text(text: &str) -> Result<f32, Reason> {
    if let Some(special) = special_float(text) {
        return Ok(special as f32);
    }
    let decimal = scan_decimal(text).ok_or_else(|| "is not a number".to_owned())?;
    let value: f32 = text.parse().map_err(|_| "is not a number".to_owned())?;
    check_parsed_float(value.is_infinite(), value == 0.0, &decimal, "real")?;
    Ok(value)
}

fn check_parsed_float(
    infinite: bool,
    zero: bool,
    decimal: &Decimal<'_>,
    type_name: &str,
) -> Result<(), Reason> {
    if infinite {
        return Err(format!("is out of range for {type_name}"));
    }
    if zero && decimal.is_nonzero() {
        return Err(format!(
            "is out of range for {type_name} (it underflows to 0)"
        ));
    }
    Ok(())
}

/// The canonical numeric text of a decimal as Postgres would store it
/// unconstrained: no exponent, no `+`, one leading zero at most, no `-0`,
/// the input's scale kept (`1.50e1` → `15.0`). Borrows when `text` already
/// is canonical.
pub(crate) fn normalize_decimal<'a>(
    text: &'a str,
    d: &Decimal<'a>,
) -> Result<Cow<'a, str>, Reason> {
    let canonical_int = d.int_digits.len() == 1 || !d.int_digits.starts_with('0');
    let negative_zero = d.negative && !d.is_nonzero();
    if !d.plus
        && d.exponent.is_none()
        && !d.int_digits.is_empty()
        && canonical_int
        && (!d.point || !d.frac_digits.is_empty())
        && !negative_zero
    {
        return Ok(Cow::Borrowed(text));
    }
    let exponent = d
        .exponent
        .map_or(0, |e| e.clamp(-EXPONENT_LIMIT, EXPONENT_LIMIT));
    let scale = (d.frac_digits.len() as i64 - exponent).max(0);
    if scale > NUMERIC_MAX_SCALE {
        return Err("is out of range for numeric (too many digits after the point)".to_owned());
    }
    if !d.is_nonzero() {
        let mut zero = String::from("0");
        if scale > 0 {
            zero.push('.');
            push_zeros(&mut zero, scale);
        }
        return Ok(Cow::Owned(zero));
    }
    let all: Vec<u8> = d.int_digits.bytes().chain(d.frac_digits.bytes()).collect();
    let n = all.len() as i64;
    let point = d.int_digits.len() as i64 + exponent;
    let leading_zeros = all.iter().take_while(|&&b| b == b'0').count() as i64;
    if point - leading_zeros > NUMERIC_MAX_INTEGER_DIGITS {
        return Err("is out of range for numeric (too many digits before the point)".to_owned());
    }
    let mut out = String::with_capacity((point.max(1) + scale + 2) as usize);
    if d.negative {
        out.push('-');
    }
    // Integer part: digits before the point, zero-padded when the exponent
    // moves the point past the last digit.
    let mut int_part = String::new();
    if point > 0 {
        let take = point.min(n) as usize;
        int_part.extend(all[..take].iter().map(|&b| b as char));
        push_zeros(&mut int_part, point - n);
    }
    let int_trimmed = int_part.trim_start_matches('0');
    out.push_str(if int_trimmed.is_empty() {
        "0"
    } else {
        int_trimmed
    });
    if scale > 0 {
        out.push('.');
        push_zeros(&mut out, -point);
        out.extend(all[point.max(0) as usize..].iter().map(|&b| b as char));
    }
    Ok(Cow::Owned(out))
}

/// Appends `count` zeros (none when `count` is not positive).
fn push_zeros(out: &mut String, count: i64) {
    for _ in 0..count.max(0) {
        out.push('0');
    }
}

/// Checks a canonical decimal against `numeric(p,s)` and pads it to scale
/// `s`, the form Postgres stores. Refuses rounding and overflow.
pub(crate) fn fit_typmod<'a>(
    canonical: Cow<'a, str>,
    precision: u16,
    scale: u16,
) -> Result<Cow<'a, str>, Reason> {
    if canonical == "NaN" {
        return Ok(canonical);
    }
    let unsigned = canonical.strip_prefix('-').unwrap_or(&canonical);
    let (int_part, frac_part) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let int_digits = if int_part == "0" { 0 } else { int_part.len() };
    let frac_significant = frac_part.trim_end_matches('0').len();
    let scale = usize::from(scale);
    if frac_significant > scale {
        return Err(format!(
            "would be rounded to numeric({precision},{scale}) ({frac_significant} digits after \
             the point, at most {scale} kept)"
        ));
    }
    let max_int_digits = usize::from(precision) - scale;
    if int_digits > max_int_digits {
        return Err(format!(
            "does not fit numeric({precision},{scale}) (at most {max_int_digits} digits before \
             the point)"
        ));
    }
    if frac_part.len() == scale {
        return Ok(canonical);
    }
    let mut out = String::with_capacity(canonical.len() + scale + 1);
    out.push_str(&canonical[..canonical.len() - unsigned.len()]);
    out.push_str(int_part);
    if scale > 0 {
        out.push('.');
        let kept = frac_part.len().min(scale);
        out.push_str(&frac_part[..kept]);
        push_zeros(&mut out, (scale - kept) as i64);
    }
    Ok(Cow::Owned(out))
}

/// The exact decimal value of a double: Rust's `Display` prints the
/// shortest text that reads back as the same double, without an exponent.
pub(crate) fn real_to_numeric(r: f64) -> Cow<'static, str> {
    if r.is_nan() {
        Cow::Borrowed("NaN")
    } else if r == f64::INFINITY {
        Cow::Borrowed("Infinity")
    } else if r == f64::NEG_INFINITY {
        Cow::Borrowed("-Infinity")
    } else if r == 0.0 {
        // Postgres numeric has no negative zero.
        Cow::Borrowed("0")
    } else {
        Cow::Owned(few_decimals(r).unwrap_or_else(|| r.to_string()))
    }
}

/// Digits after the point [`few_decimals`] tries before leaving a double
/// to the general formatter: amounts, prices and measurements stored as
/// REAL rarely carry more.
const FEW_DECIMALS: u32 = 9;

/// `r.to_string()` for a double that reads back from at most
/// [`FEW_DECIMALS`] digits after the point, found without the general
/// shortest-digits formatter, which cost about ten times as much.
///
/// For `k` = 0, 1, 2… it looks for an integer `c` with `c / 10^k`, parsed,
/// giving `r` back; the first found is what `Display` prints. While
/// `|r| * 10^k < 2^52`, a double's rounding interval is narrower than
/// `10^-k` and holds at most one such `c`, which lies within 1 of
/// `|r| * 10^k` rounded; `c` and `10^k` are exact doubles, so one IEEE
/// division is the correctly rounded parse of `c / 10^k`. The smallest
/// `k` that reads back gives the fewest significant digits, which is
/// exactly the shortest text `Display` picks. `None` past that bound.
fn few_decimals(r: f64) -> Option<String> {
    const TWO_52: f64 = 4_503_599_627_370_496.0;
    let magnitude = r.abs();
    let mut power = 1.0;
    for k in 0..=FEW_DECIMALS {
        let scaled = magnitude * power;
        // r is finite (its callers handle NaN and the infinities).
        if scaled >= TWO_52 {
            return None;
        }
        let nearest = scaled.round();
        for c in [nearest, nearest - 1.0, nearest + 1.0] {
            if c >= 0.0 && c / power == magnitude {
                // c < 2^52 + 2: the cast is exact.
                return Some(fixed_point(r < 0.0, c as u64, k as usize));
            }
        }
        power *= 10.0;
    }
    None
}

/// `units / 10^scale` written out, as `Display` writes a double: no
/// exponent, a `0` before a leading point, no trailing point.
fn fixed_point(negative: bool, units: u64, scale: usize) -> String {
    // u64 has at most 20 digits; scale is at most FEW_DECIMALS.
    let mut digits = [b'0'; 24];
    let mut len = 0;
    let mut rest = units;
    while rest > 0 || len <= scale {
        digits[digits.len() - 1 - len] = b'0' + (rest % 10) as u8;
        rest /= 10;
        len += 1;
    }
    let digits = &digits[digits.len() - len..];
    let (int_part, frac_part) = digits.split_at(len - scale);
    let mut out = String::with_capacity(len + 2);
    if negative {
        out.push('-');
    }
    // Only ASCII digits were written.
    out.extend(int_part.iter().map(|&d| char::from(d)));
    if scale > 0 {
        out.push('.');
        out.extend(frac_part.iter().map(|&d| char::from(d)));
    }
    out
}

/// Numeric text: a decimal, or one of the names Postgres's numeric input
/// accepts (`NaN`, `Infinity`, `-Infinity`).
pub(crate) fn parse_numeric_text(text: &str) -> Result<Cow<'_, str>, Reason> {
    for (name, canonical) in [
        ("NaN", "NaN"),
        ("Infinity", "Infinity"),
        ("+Infinity", "Infinity"),
        ("-Infinity", "-Infinity"),
    ] {
        if text.eq_ignore_ascii_case(name) {
            return Ok(if text == canonical {
                Cow::Borrowed(text)
            } else {
                Cow::Borrowed(canonical)
            });
        }
    }
    let decimal = scan_decimal(text).ok_or_else(|| "is not a number".to_owned())?;
    normalize_decimal(text, &decimal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(text: &str) -> Result<String, String> {
        parse_numeric_text(text).map(Cow::into_owned)
    }

    #[test]
    fn normalizes_like_postgres() {
        let cases = [
            ("12.50", "12.50"),
            ("+5", "5"),
            ("007", "7"),
            ("-0", "0"),
            ("-0.00", "0.00"),
            (".5", "0.5"),
            ("5.", "5"),
            ("1.50e1", "15.0"),
            ("1e3", "1000"),
            ("1.5e-3", "0.0015"),
            ("-12e-1", "-1.2"),
            ("0e5", "0"),
            ("00.10", "0.10"),
            ("nan", "NaN"),
            ("-infinity", "-Infinity"),
        ];
        for (input, expected) in cases {
            assert_eq!(norm(input).as_deref(), Ok(expected), "{input}");
        }
        assert!(matches!(parse_numeric_text("12.50"), Ok(Cow::Borrowed(_))));
        assert!(norm("1e200000").unwrap_err().contains("out of range"));
        assert!(norm("1e-20000").unwrap_err().contains("out of range"));
        assert!(norm("abc").unwrap_err().contains("not a number"));
    }

    #[test]
    fn fits_typmods() {
        let fit = |t: &str, p, s| fit_typmod(Cow::Borrowed(t), p, s).map(Cow::into_owned);
        assert_eq!(fit("1.5", 10, 2).as_deref(), Ok("1.50"));
        assert_eq!(fit("-1.500", 10, 2).as_deref(), Ok("-1.50"));
        assert_eq!(fit("12", 4, 2).as_deref(), Ok("12.00"));
        assert_eq!(fit("0.001", 3, 3).as_deref(), Ok("0.001"));
        assert_eq!(fit("NaN", 3, 1).as_deref(), Ok("NaN"));
        assert!(fit("1.234", 10, 2)
            .unwrap_err()
            .contains("would be rounded"));
        assert!(fit("123", 4, 2)
            .unwrap_err()
            .contains("does not fit numeric(4,2)"));
    }

    /// Doubles near short decimals, at the ends of `few_decimals`'s range
    /// and from every part of the bit space, from a fixed-seed generator.
    fn sample_doubles() -> Vec<f64> {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut out = Vec::new();
        for _ in 0..30_000 {
            let bits = next();
            out.push(f64::from_bits(bits));
            // A short decimal and its neighbours one and two ulps away.
            let scale = 10f64.powi((bits % 12) as i32);
            let units = (next() % 10u64.pow((next() % 17) as u32 + 1)) as f64;
            let short = units / scale;
            for ulps in [-2i64, -1, 0, 1, 2] {
                out.push(f64::from_bits(short.to_bits().wrapping_add_signed(ulps)));
            }
            // Around 2^52 / 10^k, where few_decimals gives up.
            let edge = 4_503_599_627_370_496.0 / scale;
            for ulps in [-3i64, -1, 0, 1, 3] {
                out.push(f64::from_bits(edge.to_bits().wrapping_add_signed(ulps)));
            }
        }
        out.extend([
            0.1,
            0.2,
            0.3,
            1.0,
            10.0,
            1e15,
            123456.5,
            0.000_000_001,
            9.999_999_999,
        ]);
        out
    }

    #[test]
    fn few_decimals_prints_what_display_prints() {
        let mut found = 0;
        for r in sample_doubles() {
            for r in [r, -r] {
                if !r.is_finite() || r == 0.0 {
                    continue;
                }
                if let Some(text) = few_decimals(r) {
                    assert_eq!(text, r.to_string(), "{:#x}", r.to_bits());
                    found += 1;
                }
                assert_eq!(real_to_numeric(r), r.to_string(), "{:#x}", r.to_bits());
            }
        }
        assert!(found > 30_000, "{found}");
    }

    #[test]
    fn integers_and_floats() {
        assert_eq!(parse_integer_text(b"-42"), Ok(-42));
        assert_eq!(parse_integer_text(b"+7"), Ok(7));
        assert!(parse_integer_text(b"4 2").is_err());
        assert!(parse_integer_text(b"9223372036854775808")
            .unwrap_err()
            .contains("out of range"));
        assert_eq!(integral_real(3.0), Ok(3));
        assert!(integral_real(3.5).is_err());
        assert!(integral_real(9.3e18).is_err());
        assert_eq!(exact_f64(i64::MAX), None);
        assert_eq!(exact_f64(1 << 53), Some(9_007_199_254_740_992.0));
        assert_eq!(exact_f64((1 << 53) + 1), None);
        assert_eq!(parse_f64_text("-Infinity"), Ok(f64::NEG_INFINITY));
        assert!(parse_f64_text("1e400").is_err());
        assert!(parse_f64_text("1e-400").is_err());
        assert_eq!(parse_f64_text("5e-324"), Ok(5e-324));
        assert_eq!(parse_f64_text("0e-400"), Ok(0.0));
        assert!(parse_f64_text("infinityx").is_err());
        assert_eq!(parse_f32_text("0.1"), Ok(0.1f32));
    }
}
