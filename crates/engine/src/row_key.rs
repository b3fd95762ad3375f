//! How source rows are named in errors, rejects, profiles and reports:
//! the same text everywhere, so a key printed by one command can be found
//! by another.

use ferry_model::{RowKey, SourceValueRef, TableSchema};

/// How a table's rows are named in errors and rejects.
pub enum KeyColumns {
    /// The rowid, shown under the name of the column that aliases it.
    Rowid(String),
    /// Primary-key columns (tables whose key is not the rowid).
    Columns(Vec<(String, usize)>),
}

impl KeyColumns {
    pub fn of(table: &TableSchema) -> KeyColumns {
        if let Some(alias) = &table.rowid_alias {
            return KeyColumns::Rowid(alias.clone());
        }
        let columns: Vec<(String, usize)> = table
            .primary_key
            .iter()
            .filter_map(|name| Some((name.clone(), table.column_index(name)?)))
            .collect();
        if columns.is_empty() || columns.len() != table.primary_key.len() {
            KeyColumns::Rowid("rowid".to_owned())
        } else {
            KeyColumns::Columns(columns)
        }
    }

    pub fn key(&self, rowid: Option<i64>, row: &[SourceValueRef<'_>]) -> RowKey {
        match (self, rowid) {
            (KeyColumns::Rowid(name), Some(rowid)) => RowKey {
                parts: vec![(name.clone(), rowid.to_string())],
            },
            (KeyColumns::Columns(columns), _) => {
                RowKey::from_values(columns.iter().map(|(name, i)| (name.as_str(), row[*i])))
            }
            (KeyColumns::Rowid(_), None) => RowKey { parts: Vec::new() },
        }
    }
}
