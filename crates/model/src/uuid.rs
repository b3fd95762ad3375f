//! The text form of a uuid, shared by everything that shows one or writes
//! it into SQL.

/// `bytes` as Postgres prints a uuid: 32 lowercase hex digits, hyphenated
/// 8-4-4-4-12.
///
/// ```
/// let bytes: [u8; 16] = std::array::from_fn(|i| i as u8 * 17);
/// assert_eq!(
///     ferry_model::format_uuid(&bytes),
///     "00112233-4455-6677-8899-aabbccddeeff"
/// );
/// ```
pub fn format_uuid(bytes: &[u8; 16]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_8_4_4_4_12_lowercase() {
        let bytes: [u8; 16] = std::array::from_fn(|i| i as u8);
        assert_eq!(format_uuid(&bytes), "00010203-0405-0607-0809-0a0b0c0d0e0f");
        assert_eq!(
            format_uuid(&[0xff; 16]),
            "ffffffff-ffff-ffff-ffff-ffffffffffff"
        );
        assert_eq!(
            format_uuid(&[0; 16]),
            "00000000-0000-0000-0000-000000000000"
        );
    }
}
