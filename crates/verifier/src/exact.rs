//! Exact decimal expansions of doubles, in decimal digit arithmetic.
//!
//! Every finite double is a dyadic rational, so it has a finite decimal
//! expansion (at most 767 significant digits). [`ExactDecimal::of`] writes
//! it out digit by digit, found only by doubling and halving the double
//! (both exact) and multiplying decimal digit strings, never by reading the
//! double's bits or formatting it: the [`independent`](crate::independent)
//! routes build on it so that they share nothing with the transformer's
//! binary arithmetic.

/// The base of the limbs [`ExactDecimal::of`] multiplies in: nine decimal
/// digits each.
const LIMB: u64 = 1_000_000_000;

/// Multiplies a little-endian base-10^9 number by `factor` (below 2^31, so
/// that a limb times it plus the carry stays in a u64).
fn mul_limbs(limbs: &mut Vec<u64>, factor: u64) {
    let mut carry = 0;
    for limb in limbs.iter_mut() {
        let product = *limb * factor + carry;
        *limb = product % LIMB;
        carry = product / LIMB;
    }
    while carry > 0 {
        limbs.push(carry % LIMB);
        carry /= LIMB;
    }
}

/// `±digits × 10^-scale`, exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ExactDecimal {
    /// The sign of a non-zero value (never set for zero).
    pub(crate) negative: bool,
    /// Decimal digits, 0-9, most significant first, without leading zeros
    /// (empty for zero).
    pub(crate) digits: Vec<u8>,
    /// How many of the digits, counted from the right, lie after the point
    /// (may exceed `digits.len()`: `0.005` is `[5]`, scale 3).
    pub(crate) scale: usize,
}

impl ExactDecimal {
    /// The exact value of a finite double; `None` for NaN and the infinities.
    pub(crate) fn of(r: f64) -> Option<ExactDecimal> {
        if !r.is_finite() {
            return None;
        }
        let mut x = r.abs();
        // x = n × 2^twos / 2^halves, with n an integer below 2^53.
        let mut halves = 0usize;
        while x.fract() != 0.0 {
            x *= 2.0;
            halves += 1;
        }
        let mut twos = 0u32;
        while x >= 9_007_199_254_740_992.0 {
            // An integral double of 2^53 or more is even: halving is exact.
            x /= 2.0;
            twos += 1;
        }
        // x is now an integer below 2^53: the cast is exact.
        let mut limbs = vec![x as u64 % LIMB, x as u64 / LIMB];
        for _ in 0..twos / 30 {
            mul_limbs(&mut limbs, 1 << 30);
        }
        mul_limbs(&mut limbs, 1 << (twos % 30));
        // n / 2^halves = n × 5^halves / 10^halves.
        for _ in 0..halves / 13 {
            mul_limbs(&mut limbs, 1_220_703_125); // 5^13
        }
        mul_limbs(&mut limbs, 5u64.pow((halves % 13) as u32));
        let mut value = ExactDecimal::from_limbs(&limbs);
        value.scale = halves;
        value.negative = r < 0.0 && !value.digits.is_empty();
        Some(value)
    }

    fn from_limbs(limbs: &[u64]) -> ExactDecimal {
        let mut digits = Vec::with_capacity(limbs.len() * 9);
        for &limb in limbs.iter().rev() {
            let mut rest = limb;
            for place in (0..9).rev() {
                let power = 10u64.pow(place);
                digits.push((rest / power) as u8);
                rest %= power;
            }
        }
        let zeros = digits.iter().take_while(|&&d| d == 0).count();
        digits.drain(..zeros);
        ExactDecimal {
            negative: false,
            digits,
            scale: 0,
        }
    }

    /// Multiplies the magnitude by `factor` (at most 10^17, so that a digit
    /// times it plus the carry stays in a u64), by long multiplication.
    pub(crate) fn mul_small(&mut self, factor: u64) {
        debug_assert!(factor <= 100_000_000_000_000_000);
        let mut carry = 0u64;
        for digit in self.digits.iter_mut().rev() {
            let product = u64::from(*digit) * factor + carry;
            *digit = (product % 10) as u8;
            carry = product / 10;
        }
        let mut head = Vec::new();
        while carry > 0 {
            head.push((carry % 10) as u8);
            carry /= 10;
        }
        head.reverse();
        self.digits.splice(..0, head);
        let zeros = self.digits.iter().take_while(|&&d| d == 0).count();
        self.digits.drain(..zeros);
        if self.digits.is_empty() {
            self.negative = false;
        }
    }

    /// The digits before the point (possibly empty) and after it (exactly
    /// `scale` of them, leading zeros included).
    pub(crate) fn split(&self) -> (Vec<u8>, Vec<u8>) {
        let len = self.digits.len();
        if self.scale >= len {
            let mut frac = vec![0; self.scale - len];
            frac.extend_from_slice(&self.digits);
            (Vec::new(), frac)
        } else {
            let (int, frac) = self.digits.split_at(len - self.scale);
            (int.to_vec(), frac.to_vec())
        }
    }

    /// `floor(value + 1/2)`: the nearest integer, a tie going up (towards
    /// positive infinity); `None` past ±2^127.
    pub(crate) fn round_half_up(&self) -> Option<i128> {
        let (int, frac) = self.split();
        let mut magnitude: i128 = 0;
        for &d in &int {
            magnitude = magnitude.checked_mul(10)?.checked_add(i128::from(d))?;
        }
        let first = frac.first().copied().unwrap_or(0);
        let beyond_half = first > 5 || (first == 5 && frac[1..].iter().any(|&d| d != 0));
        // A positive value moves up from a half, a negative one only past it.
        let away = if self.negative {
            beyond_half
        } else {
            first >= 5
        };
        let magnitude = magnitude + i128::from(away);
        Some(if self.negative { -magnitude } else { magnitude })
    }

    /// The significant digits and the power of ten of the last one, trailing
    /// zeros dropped: `value = ±significand × 10^exponent`. Zero is `([], 0)`.
    pub(crate) fn significand(&self) -> (&[u8], i64) {
        let trailing = self.digits.iter().rev().take_while(|&&d| d == 0).count();
        let digits = &self.digits[..self.digits.len() - trailing];
        if digits.is_empty() {
            return (digits, 0);
        }
        (digits, trailing as i64 - self.scale as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(r: f64) -> String {
        let d = ExactDecimal::of(r).unwrap();
        let (int, frac) = d.split();
        let int: String = int.iter().map(|d| char::from(b'0' + d)).collect();
        let frac: String = frac.iter().map(|d| char::from(b'0' + d)).collect();
        let sign = if d.negative { "-" } else { "" };
        let int = if int.is_empty() { "0".to_owned() } else { int };
        if frac.is_empty() {
            format!("{sign}{int}")
        } else {
            format!("{sign}{int}.{frac}")
        }
    }

    #[test]
    fn expands_exactly() {
        assert_eq!(text(0.0), "0");
        assert_eq!(text(-0.0), "0");
        assert_eq!(text(1.0), "1");
        assert_eq!(text(-2.5), "-2.5");
        assert_eq!(
            text(0.1),
            "0.1000000000000000055511151231257827021181583404541015625"
        );
        assert_eq!(text(2_451_544.5), "2451544.5");
        assert_eq!(text(2f64.powi(64)), "18446744073709551616");
        assert_eq!(text(1e23), "99999999999999991611392");
        assert_eq!(text(f64::MAX).len(), 309);
        assert!(text(f64::MAX).starts_with("17976931348623157081"));
        let tiny = text(5e-324);
        assert_eq!(tiny.len(), 2 + 1074);
        assert!(tiny.starts_with("0.000000") && tiny.ends_with("65625"));
        assert_eq!(ExactDecimal::of(f64::NAN), None);
        assert_eq!(ExactDecimal::of(f64::INFINITY), None);
    }

    #[test]
    fn rounds_half_up() {
        let round = |r: f64| ExactDecimal::of(r).unwrap().round_half_up();
        assert_eq!(round(2.5), Some(3));
        assert_eq!(round(2.4999999999999996), Some(2));
        assert_eq!(round(-2.5), Some(-2));
        assert_eq!(round(-2.5000000000000004), Some(-3));
        assert_eq!(round(-0.25), Some(0));
        assert_eq!(round(0.0), Some(0));
        assert_eq!(round(1e300), None);
    }

    #[test]
    fn significands() {
        let sig = |r: f64| {
            let d = ExactDecimal::of(r).unwrap();
            let (digits, exponent) = d.significand();
            (digits.to_vec(), exponent)
        };
        assert_eq!(sig(1500.0), (vec![1, 5], 2));
        assert_eq!(sig(0.375), (vec![3, 7, 5], -3));
        assert_eq!(sig(0.0), (vec![], 0));
    }
}
