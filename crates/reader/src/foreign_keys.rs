//! Foreign keys, from `pragma_foreign_key_list`.

use ferry_model::ForeignKeySchema;

use crate::db::SourceDb;
use crate::error::ReadError;

/// A row of `pragma_foreign_key_list`.
struct ForeignKeyRow {
    id: i64,
    table: String,
    from: String,
    to: Option<String>,
    on_update: String,
    on_delete: String,
}

impl SourceDb {
    /// A table's foreign keys, in declaration order; `sql` is its `CREATE
    /// TABLE` statement, which alone says which are checked at commit.
    pub(crate) fn foreign_keys(
        &self,
        table: &str,
        sql: &str,
    ) -> Result<Vec<ForeignKeySchema>, ReadError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete \
                 FROM pragma_foreign_key_list(?1, 'main') ORDER BY id DESC, seq",
            )
            .map_err(|e| self.table_error(table, e))?;
        let rows: Vec<ForeignKeyRow> = stmt
            .query_map([table], |row| {
                Ok(ForeignKeyRow {
                    id: row.get(0)?,
                    table: row.get(1)?,
                    from: row.get(2)?,
                    to: row.get(3)?,
                    on_update: row.get(4)?,
                    on_delete: row.get(5)?,
                })
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| self.table_error(table, e))?;
        // SQLite numbers foreign keys last-declared first; descending id
        // restores declaration order, seq the column order within one key.
        let mut keys: Vec<(i64, ForeignKeySchema)> = Vec::new();
        for row in rows {
            let continues_last = matches!(keys.last(), Some((id, _)) if *id == row.id);
            if !continues_last {
                keys.push((
                    row.id,
                    ForeignKeySchema {
                        columns: Vec::new(),
                        referenced_table: row.table,
                        referenced_columns: Vec::new(),
                        on_update: row.on_update,
                        on_delete: row.on_delete,
                        initially_deferred: false,
                    },
                ));
            }
            if let Some((_, key)) = keys.last_mut() {
                key.columns.push(row.from);
                // `to` is NULL when the key references the parent's primary key.
                key.referenced_columns.extend(row.to);
            }
        }
        let mut keys: Vec<ForeignKeySchema> = keys.into_iter().map(|(_, k)| k).collect();
        // One REFERENCES clause per key, in the same order; should the two
        // ever disagree, every key is checked at once, as before.
        let deferred = crate::sql_scan::deferred_foreign_keys(sql);
        if deferred.len() == keys.len() {
            for (key, deferred) in keys.iter_mut().zip(deferred) {
                key.initially_deferred = deferred;
            }
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::discover;

    #[test]
    fn foreign_keys_in_declaration_order() {
        let schema = discover(
            "CREATE TABLE parent(id INTEGER PRIMARY KEY, u, v, UNIQUE(u, v));
             CREATE TABLE child(
                 id INTEGER PRIMARY KEY,
                 p INTEGER REFERENCES parent(id) ON DELETE CASCADE,
                 a, b,
                 q REFERENCES parent,
                 FOREIGN KEY (a, b) REFERENCES parent(u, v) ON UPDATE SET NULL
             );",
        );
        let fks = &schema.table("child").unwrap().foreign_keys;
        assert_eq!(fks.len(), 3);
        assert_eq!(fks[0].columns, ["p"]);
        assert_eq!(fks[0].referenced_table, "parent");
        assert_eq!(fks[0].referenced_columns, ["id"]);
        assert_eq!(fks[0].on_delete, "CASCADE");
        assert_eq!(fks[0].on_update, "NO ACTION");
        assert_eq!(fks[1].columns, ["q"]);
        assert!(fks[1].referenced_columns.is_empty());
        assert_eq!(fks[2].columns, ["a", "b"]);
        assert_eq!(fks[2].referenced_columns, ["u", "v"]);
        assert_eq!(fks[2].on_update, "SET NULL");
        assert!(fks.iter().all(|fk| !fk.initially_deferred));
    }

    #[test]
    fn foreign_keys_checked_at_commit_are_marked() {
        let schema = discover(
            "CREATE TABLE parent(id INTEGER PRIMARY KEY);
             CREATE TABLE child(
                 id INTEGER PRIMARY KEY,
                 p INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED,
                 q INTEGER REFERENCES parent(id)
             );",
        );
        let fks = &schema.table("child").unwrap().foreign_keys;
        assert_eq!(fks[0].columns, ["p"]);
        assert!(fks[0].initially_deferred);
        assert!(!fks[1].initially_deferred);
    }
}
