//! Decimal numbers as written, and the one scanner that splits them.
//!
//! The transformer reads stored text as integers, floats and numerics, and
//! the verifier reduces numerics and JSON numbers to one canonical spelling;
//! both start from the same split of `[+-]digits[.digits][e[+-]digits]`
//! into its parts. What each then does with the parts differs (the
//! transformer keeps the written scale as Postgres stores it, the verifier
//! drops it as Postgres compares), so only the split lives here.

/// A decimal number as written: `[+-]digits[.digits][e[+-]digits]`, with at
/// least one digit before or after the point. The parts borrow from the
/// scanned text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decimal<'a> {
    /// A `-` sign was written.
    pub negative: bool,
    /// A `+` sign was written.
    pub plus: bool,
    /// ASCII digits before the point (possibly empty: `.5`).
    pub int_digits: &'a str,
    /// A decimal point was written.
    pub point: bool,
    /// ASCII digits after the point (possibly empty: `5.`).
    pub frac_digits: &'a str,
    /// The power of ten written after `e`, if any. A magnitude past
    /// `i64::MAX` saturates there: an exponent that large is out of every
    /// range anyway, and the verifier still tells such values apart by
    /// their digits.
    pub exponent: Option<i64>,
}

impl Decimal<'_> {
    /// Whether any digit is not zero.
    pub fn is_nonzero(&self) -> bool {
        self.int_digits
            .bytes()
            .chain(self.frac_digits.bytes())
            .any(|b| b != b'0')
    }
}

/// Scans a decimal number; `None` when `text` is anything else, surrounding
/// spaces included: callers that allow them trim first.
///
/// ```
/// use ferry_model::scan_decimal;
/// let d = scan_decimal("-12.50e+3").unwrap();
/// assert_eq!((d.negative, d.int_digits, d.frac_digits, d.exponent), (true, "12", "50", Some(3)));
/// assert!(scan_decimal("1.2.3").is_none());
/// ```
pub fn scan_decimal(text: &str) -> Option<Decimal<'_>> {
    let bytes = text.as_bytes();
    let (negative, plus) = match bytes.first() {
        Some(b'-') => (true, false),
        Some(b'+') => (false, true),
        _ => (false, false),
    };
    let mut pos = usize::from(negative || plus);
    // Only ASCII bytes are stepped over, so every slice below starts and
    // ends on a char boundary.
    let int_end = digit_run(bytes, pos);
    let int_digits = &text[pos..int_end];
    pos = int_end;
    let point = bytes.get(pos) == Some(&b'.');
    let mut frac_digits = "";
    if point {
        let frac_end = digit_run(bytes, pos + 1);
        frac_digits = &text[pos + 1..frac_end];
        pos = frac_end;
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return None;
    }
    let mut exponent = None;
    if matches!(bytes.get(pos), Some(b'e' | b'E')) {
        pos += 1;
        let exp_negative = match bytes.get(pos) {
            Some(b'-') => {
                pos += 1;
                true
            }
            Some(b'+') => {
                pos += 1;
                false
            }
            _ => false,
        };
        let exp_end = digit_run(bytes, pos);
        if exp_end == pos {
            return None;
        }
        let magnitude = bytes[pos..exp_end].iter().fold(0i64, |acc, d| {
            acc.saturating_mul(10).saturating_add(i64::from(d - b'0'))
        });
        exponent = Some(if exp_negative { -magnitude } else { magnitude });
        pos = exp_end;
    }
    (pos == bytes.len()).then_some(Decimal {
        negative,
        plus,
        int_digits,
        point,
        frac_digits,
        exponent,
    })
}

/// The end of the run of ASCII digits starting at `from`.
fn digit_run(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|b| !b.is_ascii_digit())
        .map_or(bytes.len(), |n| from + n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_decimals_strictly() {
        for ok in ["0", "-1", "+1", ".5", "5.", "1e5", "1.5E-3", "007"] {
            assert!(scan_decimal(ok).is_some(), "{ok}");
        }
        for bad in [
            "", "-", ".", "e5", "1e", "1e+", " 1", "1 ", "1.2.3", "0x10", "1_000", "abc", "-NaN",
            "inf", "--1", "+-1", "1e5e5", ".e5", "١",
        ] {
            assert!(scan_decimal(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn splits_into_parts() {
        let parts = |text| {
            let d = scan_decimal(text).unwrap();
            (
                d.negative,
                d.plus,
                d.int_digits,
                d.point,
                d.frac_digits,
                d.exponent,
            )
        };
        assert_eq!(parts("42"), (false, false, "42", false, "", None));
        assert_eq!(parts("+.5"), (false, true, "", true, "5", None));
        assert_eq!(parts("-5."), (true, false, "5", true, "", None));
        assert_eq!(parts("0.0e5"), (false, false, "0", true, "0", Some(5)));
        assert_eq!(parts("1E-07"), (false, false, "1", false, "", Some(-7)));
        // Exponents saturate rather than overflow.
        assert_eq!(parts("1e99999999999999999999").5, Some(i64::MAX));
        assert_eq!(parts("1e-99999999999999999999").5, Some(-i64::MAX));
        assert!(!scan_decimal("-0.000").unwrap().is_nonzero());
        assert!(scan_decimal("0.001").unwrap().is_nonzero());
    }

    /// The grammar read another way: split at the first `e`, then at the
    /// first `.`, and check each piece is digits.
    fn by_splitting(text: &str) -> Option<(bool, &str, &str, Option<&str>)> {
        let (negative, body) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exp) = match body.find(['e', 'E']) {
            Some(at) => {
                let written = &body[at + 1..];
                let digits = written.strip_prefix(['-', '+']).unwrap_or(written);
                let digits_ok = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
                (&body[..at], Some(digits_ok.then_some(written)?))
            }
            None => (body, None),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        (digits(int) && digits(frac) && !(int.is_empty() && frac.is_empty()))
            .then_some((negative, int, frac, exp))
    }

    #[test]
    fn agrees_with_splitting_on_every_short_text() {
        const ALPHABET: &[u8] = b"09.eE+-x";
        let mut texts = vec![String::new()];
        let mut longest = vec![String::new()];
        for _ in 0..5 {
            longest = longest
                .iter()
                .flat_map(|t| {
                    ALPHABET
                        .iter()
                        .map(move |&c| format!("{t}{}", char::from(c)))
                })
                .collect();
            texts.extend(longest.iter().cloned());
        }
        for text in &texts {
            let scanned = scan_decimal(text);
            let split = by_splitting(text);
            assert_eq!(scanned.is_some(), split.is_some(), "{text:?}");
            if let (Some(d), Some((negative, int, frac, exp))) = (scanned, split) {
                assert_eq!(
                    (d.negative, d.int_digits, d.frac_digits),
                    (negative, int, frac),
                    "{text:?}"
                );
                let written = exp.map(|e| e.parse::<i64>().unwrap());
                assert_eq!(d.exponent, written, "{text:?}");
            }
        }
    }
}
