//! How a row is named in errors, rejects and reports.

use std::fmt;

use crate::value::SourceValueRef;

/// The key of a source row: its primary-key values, or its rowid where the
/// table has no primary key. Built only when a row must be named.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RowKey {
    /// `(column, rendered value)` pairs, in key order.
    pub parts: Vec<(String, String)>,
}

impl RowKey {
    /// A key made of the rowid alone.
    pub fn rowid(rowid: i64) -> Self {
        RowKey {
            parts: vec![("rowid".to_owned(), rowid.to_string())],
        }
    }

    /// A key from named values; each value is shown as in error previews.
    pub fn from_values<'a>(parts: impl IntoIterator<Item = (&'a str, SourceValueRef<'a>)>) -> Self {
        RowKey {
            parts: parts
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value.preview(40)))
                .collect(),
        }
    }
}

impl fmt::Display for RowKey {
    /// `id=1842`, or `account=7, folder='inbox'` for a composite key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, value)) in self.parts.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{name}={value}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_keys() {
        assert_eq!(RowKey::rowid(5).to_string(), "rowid=5");
        let key = RowKey::from_values([
            ("account", SourceValueRef::Integer(7)),
            ("folder", SourceValueRef::Text(b"inbox")),
        ]);
        assert_eq!(key.to_string(), "account=7, folder='inbox'");
    }
}
