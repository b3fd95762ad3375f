//! How ferry stores the tables it creates: choices that change how fast
//! rows land and how much room they take, never a value.

use std::fmt;

use ferry_model::PgType;
use tokio_postgres::Client;

use crate::WriteError;

/// TOAST compression of the columns that hold large values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Postgres's historical method: compresses a little better, and costs
    /// the server several times lz4's CPU while a copy loads.
    Pglz,
    /// LZ4 (Postgres 14 and later, when built with it).
    Lz4,
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::Pglz => "pglz",
            Compression::Lz4 => "lz4",
        })
    }
}

/// Storage settings for the tables ferry creates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Storage {
    /// `COMPRESSION` of the `text`, `bytea` and `jsonb` columns; `None`
    /// keeps the server's `default_toast_compression`.
    pub compression: Option<Compression>,
    /// Create the tables `UNLOGGED` (no WAL while loading) and set them
    /// `LOGGED` after the load, which writes them to the WAL whole then.
    /// A server crash meanwhile empties them (see
    /// [`requeue_lost_unlogged`](crate::requeue_lost_unlogged)).
    pub unlogged: bool,
}

impl Storage {
    /// The `COMPRESSION …` clause for a column of this type, if any. Only
    /// the types whose values can be large enough to compress take one
    /// (Postgres refuses the clause on fixed-size types).
    pub(crate) fn compression_clause(&self, pg_type: PgType) -> Option<String> {
        let method = self.compression?;
        matches!(pg_type, PgType::Text | PgType::Bytea | PgType::Jsonb)
            .then(|| format!(" COMPRESSION {method}"))
    }
}

/// Whether the server can compress with lz4: Postgres 14 or later, built
/// with lz4 (Debian's, Red Hat's and the official images are).
///
/// # Errors
///
/// A [`WriteError`] if the settings cannot be read.
pub async fn server_has_lz4(client: &Client) -> Result<bool, WriteError> {
    let row = client
        .query_opt(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_catalog.pg_settings \
             WHERE name = 'default_toast_compression'",
            &[],
        )
        .await
        .map_err(|e| WriteError::from_pg("the server", "read default_toast_compression", e))?;
    Ok(row.is_some_and(|row| row.get::<_, bool>(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_large_value_types_take_a_clause() {
        let lz4 = Storage {
            compression: Some(Compression::Lz4),
            unlogged: false,
        };
        for pg_type in [PgType::Text, PgType::Bytea, PgType::Jsonb] {
            assert_eq!(
                lz4.compression_clause(pg_type).as_deref(),
                Some(" COMPRESSION lz4")
            );
        }
        for pg_type in [
            PgType::BigInt,
            PgType::Timestamptz,
            PgType::Numeric(None),
            PgType::Uuid,
        ] {
            assert_eq!(lz4.compression_clause(pg_type), None, "{pg_type}");
        }
        assert_eq!(Storage::default().compression_clause(PgType::Text), None);
    }
}
