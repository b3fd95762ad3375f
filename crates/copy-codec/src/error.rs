//! The one error type of ferry-copy-codec.

/// A value that has no binary form, or bytes that are not one.
///
/// Neither knows the table, row or column: the caller adds them, making a
/// reject of the row or naming the column a value was read back from.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// A value cannot be written in Postgres's binary format.
    /// The caller knows the row and column and turns this into a reject.
    #[error("cannot encode {value} as {pg_type}: {reason}; the row was left out of the chunk, reject it or map the column to text in ferry.toml")]
    Encode {
        /// The Postgres type.
        pg_type: &'static str,
        /// The value, truncated.
        value: String,
        /// Why it cannot be encoded.
        reason: &'static str,
    },
    /// Bytes read from the target are not what their type's binary format
    /// allows (or not valid UTF-8 for text).
    #[error("cannot decode {value} as {pg_type}: {reason}; check that the column's type in the target is the one ferry created, and report it if it is")]
    Decode {
        /// The Postgres type the bytes were read as.
        pg_type: String,
        /// The raw bytes, as truncated hex.
        value: String,
        /// What is wrong with them.
        reason: &'static str,
    },
}
