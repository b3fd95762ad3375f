//! What the target must hold for the source values whose coercion does
//! arithmetic, computed without ferry-transformer.
//!
//! `verify` normally compares the target with the source as the copy's own
//! coercion converts it, so a bug in that conversion converts both sides the
//! same way and stays invisible: julian days that landed 1 µs off went
//! unnoticed (issue 12). These routes recompute the expected value by other
//! means: julian days and numerics from the double's exact decimal
//! expansion ([`ExactDecimal`]) in decimal digit arithmetic, where the
//! transformer works on its binary mantissa in i128 or with a float
//! formatter; shortest round-trip numerics by rounding that expansion and
//! asking the standard library's float *parser*, where the transformer
//! searches short decimals in float arithmetic and falls back to the
//! formatter. [`independent_value`] lists the routes.

use std::borrow::Cow;

use ferry_model::{
    ColumnPlan, PgType, PgValue, SourceValueRef, END_DATE, END_TIMESTAMP, MICROS_PER_DAY,
    MICROS_PER_SECOND, MIN_DATE, MIN_TIMESTAMP, PG_EPOCH_JULIAN_DAY, PG_EPOCH_UNIX_SECONDS,
    SECONDS_PER_DAY,
};

use crate::encode::encode_value;
use crate::exact::ExactDecimal;

/// For a source value whose coercion does arithmetic, the value the target must hold,
/// computed by a route independent of ferry-transformer; None when the column's coercion
/// does no arithmetic on this value, or the value is not one the copy accepts.
///
/// Each route follows the mapping table's rule, not the transformer's code:
///
/// | Postgres type | Source | The target holds |
/// |---|---|---|
/// | `timestamptz`, `timestamp` | REAL julian day `jd` | `floor((jd - 2451544.5) × 86400000000 + 1/2)` µs since 2000-01-01, from `jd`'s exact value |
/// | `timestamptz`, `timestamp` | INTEGER unix seconds `s` | `(s - 946684800) × 1000000` µs since 2000-01-01 |
/// | `date` | REAL julian day ending in exactly `.5` | the day starting at that midnight |
/// | `date` | INTEGER unix seconds, a multiple of 86400 | `s / 86400 - 10957` days since 2000-01-01 |
/// | `numeric` | REAL | the shortest decimal that reads back as the same double (of those, the nearest; of two as near, the larger in magnitude, as Rust's `Display` picks: `2^-25` is `0.000000029802322387695313`), `NaN`, `Infinity`, `-Infinity`; `-0.0` is `0` |
/// | `numeric(p,s)` | REAL | the same decimal padded to scale `s`, if it has at most `s` fraction digits and `p - s` integer digits; `NaN` |
///
/// Values outside Postgres's ranges (julian day -0.5 to 294277-01-01 for
/// timestamps, julian day numbers 0 to 2147483493 for dates) are not ones
/// the copy accepts. NULL, TEXT and BLOB values, and every other type, give
/// `None`: compare those with the copy's coercion as usual.
///
/// ```
/// use ferry_model::{ColumnPlan, PgType, PgValue, SourceValueRef};
/// use ferry_verifier::independent_value;
/// let column = ColumnPlan::new("at", "DATETIME", PgType::Timestamptz);
/// // Julian day 2451545.0 is 2000-01-01 12:00 UTC.
/// let noon = independent_value(&column, SourceValueRef::Real(2_451_545.0));
/// assert_eq!(noon, Some(PgValue::Timestamptz(43_200_000_000)));
/// assert_eq!(independent_value(&column, SourceValueRef::Real(-1.0)), None);
/// assert_eq!(independent_value(&column, SourceValueRef::Text(b"2000-01-01")), None);
/// ```
pub fn independent_value(
    column: &ColumnPlan,
    source: SourceValueRef<'_>,
) -> Option<PgValue<'static>> {
    match (column.pg_type, source) {
        (PgType::Timestamptz, SourceValueRef::Real(jd)) => {
            julian_micros(jd).map(PgValue::Timestamptz)
        }
        (PgType::Timestamp, SourceValueRef::Real(jd)) => julian_micros(jd).map(PgValue::Timestamp),
        (PgType::Timestamptz, SourceValueRef::Integer(s)) => {
            unix_micros(s).map(PgValue::Timestamptz)
        }
        (PgType::Timestamp, SourceValueRef::Integer(s)) => unix_micros(s).map(PgValue::Timestamp),
        (PgType::Date, SourceValueRef::Real(jd)) => julian_date(jd).map(PgValue::Date),
        (PgType::Date, SourceValueRef::Integer(s)) => unix_date(s).map(PgValue::Date),
        (PgType::Numeric(typmod), SourceValueRef::Real(r)) => {
            real_numeric(r, typmod).map(|text| PgValue::Numeric(Cow::Owned(text)))
        }
        _ => None,
    }
}

/// The value the target must hold when the copy's coercion of `source`
/// (`coerced`) disagrees with an independent route; `None` when they agree
/// or no route applies. `verify` puts this value on the source side, so a
/// conversion bug shows as a changed row naming the column.
///
/// Shortest round-trip numerics are first compared with Rust's float
/// `Display`, which the mapping table's rule names and which costs a
/// fraction of [`independent_value`]'s exact expansion; only a value on
/// which the two disagree is decided by [`independent_value`]. Every other
/// route is [`independent_value`] itself. Values compare by their
/// canonical encoding, so `12.30` equals `12.3`.
pub fn cross_check(
    column: &ColumnPlan,
    source: SourceValueRef<'_>,
    coerced: &PgValue<'_>,
) -> Option<PgValue<'static>> {
    if let (PgType::Numeric(_), SourceValueRef::Real(r), PgValue::Numeric(text)) =
        (column.pg_type, source, coerced)
    {
        if r.is_finite() && (short_round_trip(r, text) || same_decimal(&r.to_string(), text)) {
            return None;
        }
    }
    let expected = independent_value(column, source)?;
    let agrees = match (&expected, coerced) {
        (PgValue::Numeric(_), _) | (_, PgValue::Numeric(_)) => {
            let (mut left, mut right) = (Vec::new(), Vec::new());
            encode_value(&expected, &mut left);
            encode_value(coerced, &mut right);
            left == right
        }
        _ => expected == *coerced,
    };
    (!agrees).then_some(expected)
}

/// Whether `text` is, by value, the shortest decimal that reads back as
/// `r`, proven without formatting `r`: it has at most 15 significant
/// digits and parses to `r`. Distinct decimals of at most 15 significant
/// digits are distinct doubles (a double carries 15.95 digits), so the
/// shortest one, no longer than `text`, is `text` itself. Longer texts are
/// left to the formatter.
fn short_round_trip(r: f64, text: &str) -> bool {
    let digits = text.trim_start_matches('-');
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if !whole
        .bytes()
        .chain(fraction.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return false;
    }
    let count = whole.len() + fraction.len();
    let digit = |at: usize| match at.checked_sub(whole.len()) {
        None => whole.as_bytes()[at],
        Some(at) => fraction.as_bytes()[at],
    };
    let first = (0..count).find(|&at| digit(at) != b'0');
    let last = (0..count).rev().find(|&at| digit(at) != b'0');
    let significant = match (first, last) {
        (Some(first), Some(last)) => last - first + 1,
        _ => 0,
    };
    significant <= 15 && text.parse::<f64>() == Ok(r)
}

/// Whether `padded` spells the decimal `short` the way a scaled numeric
/// does: the same text, or with zeros added to its fraction (`12.3` and
/// `12.30`, `12` and `12.00`). Anything else is left to the canonical
/// comparison.
fn same_decimal(short: &str, padded: &str) -> bool {
    let Some(rest) = padded.strip_prefix(short) else {
        return false;
    };
    let zeros = if rest.is_empty() || short.contains('.') {
        rest
    } else {
        match rest.strip_prefix('.') {
            Some(zeros) if !zeros.is_empty() => zeros,
            _ => return false,
        }
    };
    zeros.bytes().all(|b| b == b'0')
}

/// `micros` since 2000-01-01, when Postgres's timestamps hold it.
fn timestamp_in_range(micros: i128) -> Option<i64> {
    (i128::from(MIN_TIMESTAMP)..i128::from(END_TIMESTAMP))
        .contains(&micros)
        .then_some(micros as i64)
}

/// `days` since 2000-01-01, when Postgres's dates hold it: julian day
/// numbers 0 to 2147483493 (`date2j`'s range, `DATETIME_MIN_JULIAN` to
/// `DATE_END_JULIAN - 1`).
fn date_in_range(days: i128) -> Option<i32> {
    (i128::from(MIN_DATE)..i128::from(END_DATE))
        .contains(&days)
        .then_some(days as i32)
}

/// `floor((jd - 2451544.5) × 86400000000 + 1/2)`, in decimal: the product
/// of `jd`'s exact expansion with the microseconds of a day, rounded, less
/// 2451544.5 days (an integer number of microseconds, so it can come after
/// the rounding).
fn julian_micros(jd: f64) -> Option<i64> {
    let mut micros = ExactDecimal::of(jd)?;
    micros.mul_small(MICROS_PER_DAY.unsigned_abs());
    // 2451544.5 days: 24515445 tenths of a day of 8640000000 µs each.
    let since_2000 = micros.round_half_up()? - 24_515_445 * 8_640_000_000;
    timestamp_in_range(since_2000)
}

fn unix_micros(seconds: i64) -> Option<i64> {
    timestamp_in_range(
        (i128::from(seconds) - i128::from(PG_EPOCH_UNIX_SECONDS)) * i128::from(MICROS_PER_SECOND),
    )
}

/// A julian day that is a midnight is `n - 0.5` for the day number `n`
/// that starts then: its exact expansion ends in `.5`.
fn julian_date(jd: f64) -> Option<i32> {
    let exact = ExactDecimal::of(jd)?;
    let (int, frac) = exact.split();
    if frac != [5] {
        return None;
    }
    let whole = int.iter().try_fold(0i128, |acc, &d| {
        acc.checked_mul(10)?.checked_add(i128::from(d))
    })?;
    // jd = whole + 0.5 starts day whole + 1; jd = -(whole + 0.5) starts day -whole.
    let day_number = if exact.negative { -whole } else { whole + 1 };
    date_in_range(day_number - i128::from(PG_EPOCH_JULIAN_DAY))
}

fn unix_date(seconds: i64) -> Option<i32> {
    if seconds % SECONDS_PER_DAY != 0 {
        return None;
    }
    date_in_range(
        (i128::from(seconds) - i128::from(PG_EPOCH_UNIX_SECONDS)) / i128::from(SECONDS_PER_DAY),
    )
}

/// A REAL as numeric text: the shortest round-trip decimal, then fitted to
/// `numeric(p,s)` if the column has a typmod.
fn real_numeric(r: f64, typmod: Option<(u16, u16)>) -> Option<String> {
    if r.is_nan() {
        return Some("NaN".to_owned());
    }
    if r.is_infinite() {
        // numeric(p,s) cannot hold infinity.
        return typmod.is_none().then(|| {
            if r > 0.0 {
                "Infinity".to_owned()
            } else {
                "-Infinity".to_owned()
            }
        });
    }
    let (negative, digits, exponent) = shortest(r)?;
    match typmod {
        None => Some(plain(negative, &digits, exponent, 0)),
        Some((precision, scale)) => {
            let frac_digits = usize::try_from(-exponent).unwrap_or(0);
            let int_digits = usize::try_from(digits.len() as i64 + exponent).unwrap_or(0);
            let scale = usize::from(scale);
            (frac_digits <= scale && int_digits <= usize::from(precision) - scale)
                .then(|| plain(negative, &digits, exponent, scale))
        }
    }
}

/// The shortest decimal that parses back to `r` (of two as short, the
/// nearer; of two as near, the larger in magnitude), as sign,
/// significant digits without trailing zeros and the power of ten of the
/// last one. Zero is `(false, [], 0)`.
///
/// For a length n it rounds `r`'s exact expansion to n significant digits
/// and asks the float parser whether that, or a neighbour one unit away,
/// reads back as `r`: the rounded value is the nearest n-digit decimal, and
/// when it falls outside `r`'s rounding interval a neighbour can still fall
/// inside the wider side of an interval at a power of two (the interval is
/// one piece, so no decimal further away can be inside when both
/// neighbours are not).
fn shortest(r: f64) -> Option<(bool, Vec<u8>, i64)> {
    let exact = ExactDecimal::of(r)?;
    let (digits, exponent) = exact.significand();
    if digits.is_empty() {
        return Some((false, Vec::new(), 0));
    }
    // The n-digit decimal that reads back as `r`, if there is one.
    let with_digits = |n: usize| -> Option<(u64, i64)> {
        let (kept, unit) = if digits.len() <= n {
            (digits, exponent)
        } else {
            (&digits[..n], exponent + (digits.len() - n) as i64)
        };
        let truncated = kept.iter().fold(0u64, |acc, &d| acc * 10 + u64::from(d));
        let rounded = if digits.len() <= n {
            truncated
        } else {
            // A tie goes up: of two equally near, Rust's `Display`, which
            // the copy writes numerics with, picks the larger magnitude.
            truncated + u64::from(digits[n] >= 5)
        };
        let reads_back = |candidate: u64| {
            let text = format!("{candidate}e{unit}");
            text.parse::<f64>().ok() == Some(r.abs())
        };
        [rounded, rounded.wrapping_sub(1), rounded + 1]
            .into_iter()
            .find(|&c| c > 0 && reads_back(c))
            .map(|c| (c, unit))
    };
    // An n-digit decimal is also an (n+1)-digit one, so whether one reads
    // back is monotonic in n: search for the least n. 17 digits always do.
    let (mut too_few, mut enough) = (0usize, 17usize);
    while enough - too_few > 1 {
        let middle = (too_few + enough) / 2;
        if with_digits(middle).is_some() {
            enough = middle;
        } else {
            too_few = middle;
        }
    }
    let (candidate, mut unit) = with_digits(enough)?;
    let mut significand: Vec<u8> = candidate.to_string().bytes().map(|b| b - b'0').collect();
    while significand.last() == Some(&0) {
        significand.pop();
        unit += 1;
    }
    Some((exact.negative, significand, unit))
}

/// `±digits × 10^exponent` written without exponent, with at least `scale`
/// digits after the point (zeros appended), as Postgres prints a numeric.
fn plain(negative: bool, digits: &[u8], exponent: i64, scale: usize) -> String {
    let chars: String = digits.iter().map(|&d| char::from(b'0' + d)).collect();
    let (mut int, mut frac) = if exponent >= 0 {
        (chars + &"0".repeat(exponent as usize), String::new())
    } else {
        let after = exponent.unsigned_abs() as usize;
        if after >= chars.len() {
            (String::new(), "0".repeat(after - chars.len()) + &chars)
        } else {
            let (int, frac) = chars.split_at(chars.len() - after);
            (int.to_owned(), frac.to_owned())
        }
    };
    if int.is_empty() {
        int.push('0');
    }
    while frac.len() < scale {
        frac.push('0');
    }
    let sign = if negative && !digits.is_empty() {
        "-"
    } else {
        ""
    };
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(pg_type: PgType) -> ColumnPlan {
        ColumnPlan::new("c", "", pg_type)
    }

    fn value(pg_type: PgType, source: SourceValueRef<'_>) -> Option<PgValue<'static>> {
        independent_value(&column(pg_type), source)
    }

    fn micros(jd: f64) -> Option<PgValue<'static>> {
        value(PgType::Timestamptz, SourceValueRef::Real(jd))
    }

    #[test]
    fn short_decimals_that_read_back_are_the_shortest() {
        assert!(short_round_trip(12.3, "12.30"));
        assert!(short_round_trip(0.1, "0.1"));
        assert!(short_round_trip(-0.0, "0"));
        assert!(short_round_trip(1e15, "1000000000000000"));
        assert!(!short_round_trip(12.3, "12.29"));
        // Reads back as 0.1, but is another numeric value: not short.
        assert!(!short_round_trip(
            0.1,
            "0.1000000000000000055511151231257827"
        ));
        // 17 digits: left to the formatter.
        assert!(!short_round_trip(0.1 + 0.2, "0.30000000000000004"));
        assert!(!short_round_trip(1.0, "1e0"));
    }

    #[test]
    fn padded_decimals_are_recognised() {
        assert!(same_decimal("12.3", "12.3"));
        assert!(same_decimal("12.3", "12.30"));
        assert!(same_decimal("12", "12.00"));
        assert!(!same_decimal("12", "120"));
        assert!(!same_decimal("12", "12."));
        assert!(!same_decimal("12.3", "12.31"));
        assert!(!same_decimal("1", "12.0"));
    }

    #[test]
    fn cross_check_returns_the_true_value_only_on_disagreement() {
        let at = column(PgType::Timestamptz);
        let noon = SourceValueRef::Real(2_451_545.0);
        assert_eq!(
            cross_check(&at, noon, &PgValue::Timestamptz(43_200_000_000)),
            None
        );
        // A conversion 1 µs off is caught and corrected.
        assert_eq!(
            cross_check(&at, noon, &PgValue::Timestamptz(43_200_000_001)),
            Some(PgValue::Timestamptz(43_200_000_000))
        );
        let price = column(PgType::Numeric(Some((12, 2))));
        let coerced = |text: &'static str| PgValue::Numeric(Cow::Borrowed(text));
        assert_eq!(
            cross_check(&price, SourceValueRef::Real(12.3), &coerced("12.30")),
            None
        );
        assert_eq!(
            cross_check(&price, SourceValueRef::Real(12.3), &coerced("12.29")),
            Some(PgValue::Numeric(Cow::Owned("12.30".into())))
        );
        // Not the shortest spelling of the double: another numeric value.
        let any = column(PgType::Numeric(None));
        assert!(cross_check(
            &any,
            SourceValueRef::Real(0.1),
            &coerced("0.1000000000000000055511151231257827021181583404541015625")
        )
        .is_some());
        // No route: nothing to say.
        assert_eq!(
            cross_check(
                &column(PgType::Text),
                SourceValueRef::Real(1.5),
                &coerced("x")
            ),
            None
        );
    }

    /// Expected values are `floor((jd - 2451544.5) × 86400000000 + 1/2)` in
    /// Python's exact `fractions.Fraction`; the comments give what float
    /// arithmetic (the copy before issue 12) produced where it differed.
    #[test]
    fn julian_days_to_timestamps() {
        let cases: &[(f64, Option<i64>)] = &[
            (2_451_545.0, Some(43_200_000_000)),
            (2_440_587.5, Some(-946_684_800_000_000)),
            // Ties (x + odd/16384 days) go to the later microsecond.
            (2451545.000061035, Some(43_205_273_438)),
            (2451545.0000610347, Some(43_205_273_397)),
            (2451545.0000610356, Some(43_205_273_478)),
            (2451544.000061035, Some(-43_194_726_562)), // old: …563
            (2460000.5001831055, Some(730_598_415_820_313)),
            // 3.8e-6 µs either side of a half microsecond.
            (2460310.500086969, Some(757_382_407_514_141)), // old: …142
            (2460310.500035101, Some(757_382_403_032_734)),
            (2440000.250086969, Some(-997_423_192_485_859)),
            (2440000.250035101, Some(-997_423_196_967_266)), // old: …267
            // Ordinary days that float arithmetic put 1 µs off.
            (2442141.1127198115, Some(-812_452_661_008_286)),
            (2444040.389465518, Some(-648_355_150_179_259)),
            (2441918.0138748745, Some(-831_728_401_210_847)),
            (2465099.792075176, Some(1_171_177_235_295_188)),
            (2441198.3078861427, Some(-893_910_998_637_266)),
            (2465182.6204816457, Some(1_178_333_609_614_187)),
            // The ends of Postgres's range.
            (-0.5, Some(-211_813_488_000_000_000)),
            (-0.5000000000000001, Some(-211_813_488_000_000_000)),
            (-0.500_000_000_01, None),
            (-0.25, Some(-211_813_466_400_000_000)),
            (0.0, Some(-211_813_444_800_000_000)),
            (-0.0, Some(-211_813_444_800_000_000)),
            (5e-324, Some(-211_813_444_800_000_000)),
            (-5e-324, Some(-211_813_444_800_000_000)),
            (109203527.49999999, Some(9_223_371_331_199_998_713)), // old: …8976
            (109203527.5, None),
            (-1.0, None),
            (1e300, None),
            (f64::MAX, None),
            (f64::NAN, None),
            (f64::INFINITY, None),
            (f64::NEG_INFINITY, None),
        ];
        for &(jd, want) in cases {
            assert_eq!(micros(jd), want.map(PgValue::Timestamptz), "{jd:?}");
        }
        assert_eq!(
            value(PgType::Timestamp, SourceValueRef::Real(2451545.000061035)),
            Some(PgValue::Timestamp(43_205_273_438))
        );
    }

    /// Julian days of 1/16384 day steps are exact in a double and hit every
    /// residue of the rounding, ties included: `a/16384` days are
    /// `a × 5273437.5` µs, so the expected value is integer arithmetic.
    #[test]
    fn julian_days_in_sixteenth_thousandths() {
        for a in (-40_000_000i64..40_000_000).step_by(9_973) {
            let jd = 2_451_544.5 + a as f64 / 16_384.0;
            let half_micros = i128::from(a) * 10_546_875; // 2 × 5273437.5
            let want = (half_micros + 1).div_euclid(2) as i64;
            assert_eq!(micros(jd), Some(PgValue::Timestamptz(want)), "{a}");
        }
    }

    #[test]
    fn unix_seconds_to_timestamps() {
        let cases: &[(i64, Option<i64>)] = &[
            (0, Some(-946_684_800_000_000)),
            (946_684_801, Some(1_000_000)),
            (-210_866_803_200, Some(-211_813_488_000_000_000)),
            (-210_866_803_201, None),
            (9_224_318_015_999, Some(9_223_371_331_199_000_000)),
            (9_224_318_016_000, None),
            (i64::MAX, None),
            (i64::MIN, None),
        ];
        for &(seconds, want) in cases {
            let source = SourceValueRef::Integer(seconds);
            assert_eq!(
                value(PgType::Timestamptz, source),
                want.map(PgValue::Timestamptz),
                "{seconds}"
            );
            assert_eq!(
                value(PgType::Timestamp, source),
                want.map(PgValue::Timestamp),
                "{seconds}"
            );
        }
    }

    #[test]
    fn dates() {
        let julian: &[(f64, Option<i32>)] = &[
            (2_451_544.5, Some(0)),
            (2_451_545.5, Some(1)),
            (2_460_369.5, Some(8_825)),
            (-0.5, Some(-2_451_545)),
            (0.5, Some(-2_451_544)),
            (-1.5, None),
            (2_147_483_492.5, Some(2_147_483_493 - 2_451_545)),
            (2_147_483_493.5, None),
            (2_451_545.0, None),
            (2_451_544.75, None),
            (2_451_544.5000000005, None),
            (0.0, None),
            (1e300, None),
            (f64::NAN, None),
        ];
        for &(jd, want) in julian {
            let got = value(PgType::Date, SourceValueRef::Real(jd));
            assert_eq!(got, want.map(PgValue::Date), "{jd:?}");
        }
        let unix: &[(i64, Option<i32>)] = &[
            (0, Some(-10_957)),
            (86_400, Some(-10_956)),
            (-86_400, Some(-10_958)),
            (946_684_800, Some(0)),
            (-1, None),
            (86_401, None),
            (-210_866_803_200, Some(-2_451_545)),
            (-210_866_889_600, None),
            (i64::MAX, None),
        ];
        for &(seconds, want) in unix {
            let got = value(PgType::Date, SourceValueRef::Integer(seconds));
            assert_eq!(got, want.map(PgValue::Date), "{seconds}");
        }
    }

    fn numeric(typmod: Option<(u16, u16)>, r: f64) -> Option<String> {
        match value(PgType::Numeric(typmod), SourceValueRef::Real(r)) {
            Some(PgValue::Numeric(text)) => Some(text.into_owned()),
            None => None,
            Some(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn reals_to_numerics() {
        type Typmod = Option<(u16, u16)>;
        let cases: &[(Typmod, f64, Option<&str>)] = &[
            (None, 0.1 + 0.2, Some("0.30000000000000004")),
            (None, 0.1, Some("0.1")),
            (None, 3.0, Some("3")),
            (None, -2.5, Some("-2.5")),
            (None, 1e21, Some("1000000000000000000000")),
            (None, 1e-7, Some("0.0000001")),
            (None, 123_456.5, Some("123456.5")),
            (
                None,
                f64::from_bits(1),
                Some(&*format!("0.{}5", "0".repeat(323))),
            ),
            (None, -0.0, Some("0")),
            (None, f64::NAN, Some("NaN")),
            (None, f64::INFINITY, Some("Infinity")),
            (None, f64::NEG_INFINITY, Some("-Infinity")),
            (Some((10, 2)), 19.99, Some("19.99")),
            (Some((10, 2)), 1.5, Some("1.50")),
            (Some((10, 2)), -0.0, Some("0.00")),
            (Some((10, 2)), 12_345_678.9, Some("12345678.90")),
            (Some((10, 2)), 123_456_789.0, None),
            (Some((10, 2)), 0.1 + 0.2, None),
            (Some((10, 2)), f64::NAN, Some("NaN")),
            (Some((10, 2)), f64::INFINITY, None),
            (Some((1, 1)), -0.5, Some("-0.5")),
            (Some((3, 0)), 999.0, Some("999")),
            (Some((3, 0)), 1000.0, None),
        ];
        for &(typmod, r, want) in cases {
            assert_eq!(numeric(typmod, r).as_deref(), want, "{typmod:?} {r:?}");
        }
        let max = numeric(None, f64::MAX).unwrap();
        assert_eq!(max.len(), 309);
        assert!(max.starts_with("17976931348623157"));
    }

    /// Rust's `Display` prints the shortest round-trip decimal too, by a
    /// third algorithm (Grisu with a Dragon4 fallback), and the copy writes
    /// numerics with it: powers of two (whose rounding interval is lopsided,
    /// and where 2^-25 is a tie at 17 digits), 17-digit ties and doubles from
    /// the whole bit space must agree with it.
    #[test]
    fn shortest_agrees_with_display() {
        let power_of_two = |k: i64| match k {
            -1074..=-1023 => f64::from_bits(1 << (k + 1074)),
            _ => f64::from_bits(((k + 1023) as u64) << 52),
        };
        let mut doubles: Vec<f64> = (-1074..=1023).map(power_of_two).collect();
        doubles.extend((0..2_000).map(|i| 2f64.powi(50) + 0.25 + f64::from(i)));
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for i in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Far exponents expand to hundreds of digits: fewer of those.
            if i % 8 == 0 {
                doubles.push(f64::from_bits(state));
            }
            // 2^-8 to 2^56, and every mantissa.
            let exponent = 1015 + (state >> 58) % 64;
            doubles.push(f64::from_bits(exponent << 52 | state >> 12));
        }
        for r in doubles {
            for r in [r, -r] {
                // Display writes -0.0 as "-0"; numeric has no negative zero.
                if r.is_finite() && r != 0.0 {
                    assert_eq!(numeric(None, r), Some(r.to_string()), "{:#x}", r.to_bits());
                }
            }
        }
    }

    #[test]
    fn other_values_have_no_independent_route() {
        for (pg_type, source) in [
            (PgType::Timestamptz, SourceValueRef::Text(b"2000-01-01")),
            (PgType::Timestamptz, SourceValueRef::Null),
            (PgType::Date, SourceValueRef::Blob(b"x")),
            (PgType::Numeric(None), SourceValueRef::Integer(5)),
            (PgType::Numeric(None), SourceValueRef::Text(b"1.5")),
            (PgType::DoublePrecision, SourceValueRef::Real(1.5)),
            (PgType::BigInt, SourceValueRef::Integer(5)),
            (PgType::Text, SourceValueRef::Real(1.5)),
        ] {
            assert_eq!(value(pg_type, source), None, "{pg_type} {source:?}");
        }
    }
}
