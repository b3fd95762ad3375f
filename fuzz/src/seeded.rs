//! Pseudo-random inputs from a fixed seed, for toolchains without
//! libFuzzer: the same seed gives the same inputs on every machine.

/// Bytes the coercion rules care about, so that random text often looks
/// like a number, a date, JSON or a UUID and reaches deep into each parser.
const INTERESTING: &[u8] = b"0123456789+-.:eETZ tfyn{}[]\",x\\u\0\xff\xc3\xa9-abcdef";

/// Texts that already parse as something, mutated by the generator.
const SEEDS: &[&[u8]] = &[
    b"2024-02-29 23:59:59.999999+14:00",
    b"2000-01-01T00:00:00Z",
    b"0001-01-01",
    b"9999-12-31 23:59:59",
    b"123e4567-e89b-12d3-a456-426614174000",
    b"{123E4567E89B12D3A456426614174000}",
    b"-9223372036854775808",
    b"1.5e308",
    b"-0.000",
    b"NaN",
    b"-Infinity",
    b"{\"a\": [1, 2.50, null, true]}",
    b"\"\\u00e9\"",
    b"yes",
];

/// An endless stream of inputs for [`crate::check`], from a xorshift
/// generator with a fixed seed.
#[derive(Clone, Debug)]
pub struct SeededInputs {
    state: u64,
}

impl SeededInputs {
    /// The stream for `seed` (0 is replaced, xorshift never leaves it).
    pub fn new(seed: u64) -> SeededInputs {
        SeededInputs {
            state: if seed == 0 {
                0x9e37_79b9_7f4a_7c15
            } else {
                seed
            },
        }
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn payload(&mut self) -> Vec<u8> {
        match self.below(4) {
            // Raw bytes: integers and reals by their bits, anything as text.
            0 => (0..self.below(17)).map(|_| self.next_u64() as u8).collect(),
            // Text made of the characters parsers look at.
            1 => (0..self.below(40))
                .map(|_| INTERESTING[self.below(INTERESTING.len())])
                .collect(),
            // A valid value, with a few bytes changed, cut or added.
            _ => {
                let mut text = SEEDS[self.below(SEEDS.len())].to_vec();
                for _ in 0..self.below(4) {
                    let byte = INTERESTING[self.below(INTERESTING.len())];
                    match self.below(3) {
                        0 if !text.is_empty() => {
                            let at = self.below(text.len());
                            text[at] = byte;
                        }
                        1 if !text.is_empty() => {
                            let at = self.below(text.len());
                            text.truncate(at);
                        }
                        _ => {
                            let at = self.below(text.len() + 1);
                            text.insert(at, byte);
                        }
                    }
                }
                text
            }
        }
    }
}

impl Iterator for SeededInputs {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        let mut input = vec![self.next_u64() as u8];
        input.extend((self.next_u64() as u16).to_le_bytes());
        // Half the time a TEXT value, which has the most rules.
        let class = if self.below(2) == 0 {
            3 + 5 * (self.below(32) as u8)
        } else {
            self.next_u64() as u8
        };
        let all = ferry_model::PgType::ALL;
        let numeric_modifiers = matches!(
            all[usize::from(input[0]) % all.len()],
            ferry_model::PgType::Numeric(Some(_))
        );
        if !numeric_modifiers {
            input.truncate(1);
        }
        input.push(class);
        input.extend(self.payload());
        Some(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_inputs() {
        let a: Vec<_> = SeededInputs::new(7).take(50).collect();
        let b: Vec<_> = SeededInputs::new(7).take(50).collect();
        assert_eq!(a, b);
        assert_ne!(a, SeededInputs::new(8).take(50).collect::<Vec<_>>());
        assert!(a.iter().all(|input| crate::parse(input).is_some()));
    }
}
