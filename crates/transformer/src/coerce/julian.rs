//! Julian-day REALs to Postgres dates and timestamps, computed on the
//! double's exact value.
//!
//! A double is exactly `±m × 2^e`, so `(jd - 2451544.5) × 86 400 000 000`
//! is an exact rational with a power-of-two denominator. Computing it in
//! floating point instead rounds twice (the subtraction and the product)
//! before the final rounding to a microsecond, which put 2-3% of ordinary
//! julian days 1 µs off (issue 12). Here the product is an exact integer
//! and only the last step rounds: to the nearest microsecond, a tie going
//! to the later one.

use ferry_model::{MICROS_PER_DAY, PG_EPOCH_JULIAN_DAY};

/// Julian days below this or above [`MAX_JULIAN`] are far outside
/// Postgres's range (julian day -0.5 to about 1.09e8) whatever the rounding,
/// so they are refused before any arithmetic.
const MIN_JULIAN: f64 = -1.0;
/// See [`MIN_JULIAN`]; 2^28 days.
const MAX_JULIAN: f64 = 268_435_456.0;

/// Microseconds from julian day 0.0 (noon) to 2000-01-01 00:00, julian day
/// 2451544.5.
const PG_EPOCH_FROM_JULIAN_ZERO: i128 =
    (PG_EPOCH_JULIAN_DAY as i128) * MICROS_PER_DAY as i128 - MICROS_PER_DAY as i128 / 2;

/// A finite double as `(negative, mantissa, exponent)` with
/// `value = ±mantissa × 2^exponent` exactly.
fn decompose(r: f64) -> (bool, u64, i32) {
    let bits = r.to_bits();
    let negative = bits >> 63 == 1;
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    if biased == 0 {
        // Subnormal (or zero): no implicit leading bit.
        (negative, fraction, -1074)
    } else {
        (negative, fraction | (1 << 52), biased - 1075)
    }
}

/// Microseconds since 2000-01-01 00:00 of a julian day, rounded to the
/// nearest microsecond (a tie goes to the later one: `floor(x + 1/2)`).
/// `None` for NaN, the infinities and values far outside Postgres's range;
/// the caller checks the exact range.
pub(crate) fn julian_to_micros(julian: f64) -> Option<i64> {
    if !(MIN_JULIAN..=MAX_JULIAN).contains(&julian) {
        return None;
    }
    let (negative, mantissa, exponent) = decompose(julian);
    // |julian| <= 2^28 and the mantissa has 53 bits: the product is below
    // 2^90, and when the exponent is positive it is at most 2^(28 - 52).
    let product = i128::from(mantissa) * i128::from(MICROS_PER_DAY);
    let product = if negative { -product } else { product };
    let from_julian_zero = if exponent >= 0 {
        product << exponent
    } else {
        let shift = exponent.unsigned_abs();
        if shift > 100 {
            // |product × 2^exponent| < 2^-10: rounds to 0 either way.
            0
        } else {
            // floor(product / 2^shift + 1/2) = floor((2 × product + 2^shift) / 2^(shift + 1)).
            (2 * product + (1i128 << shift)) >> (shift + 1)
        }
    };
    i64::try_from(from_julian_zero - PG_EPOCH_FROM_JULIAN_ZERO).ok()
}

/// Days since 2000-01-01 of a julian day that is exactly midnight (ends in
/// `.5`); `None` for any other value (a time of day, NaN, the infinities).
pub(crate) fn julian_to_midnight_days(julian: f64) -> Option<i64> {
    if !julian.is_finite() || julian.abs() >= 2f64.powi(62) {
        return None;
    }
    let (negative, mantissa, exponent) = decompose(julian);
    if mantissa == 0 {
        return None;
    }
    // Midnight is an odd number of half days: 2 × julian odd, that is the
    // mantissa with its trailing zeros removed is odd and weighs 2^-1.
    let zeros = mantissa.trailing_zeros();
    if exponent + zeros as i32 != -1 {
        return None;
    }
    let halves = (mantissa >> zeros) as i64;
    let halves = if negative { -halves } else { halves };
    // julian = halves / 2 = (day number) - 1/2, so the day number, counted
    // as Postgres's date2j does, is (halves + 1) / 2.
    Some((halves + 1) / 2 - PG_EPOCH_JULIAN_DAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decomposes_exactly() {
        for r in [1.0, 0.5, -3.25, 2_451_544.5, 5e-324, f64::MAX, 0.1] {
            let (negative, mantissa, exponent) = decompose(r);
            // Two steps, so that neither power of two over- or underflows.
            let half = exponent / 2;
            let back = mantissa as f64 * 2f64.powi(half) * 2f64.powi(exponent - half);
            assert_eq!(if negative { -back } else { back }, r);
        }
    }

    #[test]
    fn midnights() {
        assert_eq!(julian_to_midnight_days(2_451_544.5), Some(0));
        assert_eq!(julian_to_midnight_days(2_451_545.5), Some(1));
        assert_eq!(julian_to_midnight_days(-0.5), Some(-2_451_545));
        assert_eq!(julian_to_midnight_days(0.5), Some(-2_451_544));
        assert_eq!(julian_to_midnight_days(-1.5), Some(-2_451_546));
        assert_eq!(julian_to_midnight_days(2_451_545.0), None);
        assert_eq!(julian_to_midnight_days(2_451_544.75), None);
        assert_eq!(julian_to_midnight_days(0.5 + f64::EPSILON), None);
        assert_eq!(julian_to_midnight_days(0.0), None);
        assert_eq!(julian_to_midnight_days(f64::NAN), None);
    }
}
