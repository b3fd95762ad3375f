//! Counts in messages: `1 row`, `2 rows`, never `1 rows`.

use std::fmt;

/// `n` followed by `one` when `n` is 1 and by `many` otherwise (`0 rows`,
/// `1 row`, `3 leaves`): every message that counts something says it
/// through this, so none reads "1 rows".
///
/// ```
/// use ferry_model::plural;
/// assert_eq!(plural(1, "row", "rows"), "1 row");
/// assert_eq!(plural(0_u64, "chunk", "chunks"), "0 chunks");
/// assert_eq!(plural(2_usize, "leaf", "leaves"), "2 leaves");
/// ```
pub fn plural<N>(n: N, one: &str, many: &str) -> String
where
    N: fmt::Display + PartialEq + From<u8>,
{
    let noun = noun(&n, one, many);
    format!("{n} {noun}")
}

/// `one` when `n` is 1, `many` otherwise: the noun of [`plural`] alone,
/// for a count written another way (`1,024 rows`).
///
/// ```
/// assert_eq!(ferry_model::noun(&1_u64, "row", "rows"), "row");
/// ```
pub fn noun<'a, N>(n: &N, one: &'a str, many: &'a str) -> &'a str
where
    N: PartialEq + From<u8>,
{
    if *n == N::from(1) {
        one
    } else {
        many
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular_and_everything_else_plural() {
        assert_eq!(plural(1_i64, "row", "rows"), "1 row");
        assert_eq!(plural(-1_i64, "row", "rows"), "-1 rows");
        assert_eq!(plural(0_u32, "table", "tables"), "0 tables");
        assert_eq!(plural(11_usize, "table", "tables"), "11 tables");
    }
}
