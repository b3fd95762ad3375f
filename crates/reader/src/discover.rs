//! Schema discovery: which tables to copy, what they hold, what is skipped.
//!
//! The pragmas (`table_list`, `table_xinfo`, `index_list`, `index_xinfo`,
//! `foreign_key_list`) are SQLite's own reading of the schema and are used
//! for everything they report; the stored `CREATE` text is scanned only for
//! what they leave out (see [`crate::sql_scan`]). Each pragma is queried in
//! its table-valued form so that names are bound as parameters, never
//! spliced into SQL.

use std::collections::HashMap;

use ferry_model::{Affinity, SourceColumn, SourceSchema, TableSchema};

use crate::db::SourceDb;
use crate::error::ReadError;
use crate::skip::{skipped_object, SchemaEntry, TableKind};
use crate::sql_scan::declares_autoincrement;

impl SourceDb {
    /// Discovers every user table, in `sqlite_schema` order, and lists what
    /// is not copied (internal, virtual and shadow tables, views, triggers)
    /// with a reason the user can act on.
    pub fn schema(&self) -> Result<SourceSchema, ReadError> {
        let entries = self.schema_entries()?;
        let kinds = self.table_kinds()?;
        // Index name -> (position in sqlite_schema, CREATE INDEX text).
        let indexes: HashMap<&str, (usize, Option<&str>)> = entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.kind == "index")
            .map(|(pos, e)| (e.name.as_str(), (pos, e.sql.as_deref())))
            .collect();
        let virtual_tables: Vec<&str> = entries
            .iter()
            .filter(|e| kinds.get(&e.name).is_some_and(|k| k.kind == "virtual"))
            .map(|e| e.name.as_str())
            .collect();

        let mut schema = SourceSchema::default();
        for entry in &entries {
            let kind = kinds.get(&entry.name);
            if let Some(skipped) = skipped_object(entry, kind, &virtual_tables) {
                schema.skipped.push(skipped);
            } else if entry.kind == "table" {
                let without_rowid = kind.is_some_and(|k| k.without_rowid);
                let sql = entry.sql.as_deref().unwrap_or_default();
                schema
                    .tables
                    .push(self.table_schema(&entry.name, sql, without_rowid, &indexes)?);
            }
        }
        schema.spatial = self.spatial_metadata(&schema.tables)?;
        Ok(schema)
    }

    fn schema_entries(&self) -> Result<Vec<SchemaEntry>, ReadError> {
        let mut stmt = self
            .conn
            .prepare("SELECT type, name, sql FROM main.sqlite_schema ORDER BY rowid")
            .map_err(|e| self.schema_error(e))?;
        let rows = stmt
            .query_map([], |row| {
                Ok(SchemaEntry {
                    kind: row.get(0)?,
                    name: row.get(1)?,
                    sql: row.get(2)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        rows.map_err(|e| self.schema_error(e))
    }

    fn table_kinds(&self) -> Result<HashMap<String, TableKind>, ReadError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, type, wr FROM pragma_table_list WHERE schema = 'main'")
            .map_err(|e| self.schema_error(e))?;
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    TableKind {
                        kind: row.get(1)?,
                        without_rowid: row.get(2)?,
                    },
                ))
            })
            .and_then(|rows| rows.collect::<Result<HashMap<_, _>, _>>());
        rows.map_err(|e| self.schema_error(e))
    }

    fn table_schema(
        &self,
        name: &str,
        sql: &str,
        without_rowid: bool,
        schema_indexes: &HashMap<&str, (usize, Option<&str>)>,
    ) -> Result<TableSchema, ReadError> {
        let columns = self.columns(name)?;
        let mut primary_key: Vec<(u32, String)> = columns
            .iter()
            .filter(|c| c.primary_key_position > 0)
            .map(|c| (c.primary_key_position, c.name.clone()))
            .collect();
        primary_key.sort();
        let primary_key: Vec<String> = primary_key.into_iter().map(|(_, n)| n).collect();

        let index_entries = self.index_entries(name)?;
        // A rowid table whose key has its own index (`INTEGER PRIMARY KEY
        // DESC`, or a non-INTEGER key) does not alias the rowid, whatever
        // its declared type: https://www.sqlite.org/lang_createtable.html#rowid
        let has_pk_index = index_entries.iter().any(|i| i.origin == "pk");
        let rowid_alias = match (without_rowid, has_pk_index, primary_key.as_slice()) {
            (false, false, [only]) => columns
                .iter()
                .find(|c| &c.name == only && c.declared_type.eq_ignore_ascii_case("INTEGER"))
                .map(|c| c.name.clone()),
            _ => None,
        };
        let autoincrement = if rowid_alias.is_some() && declares_autoincrement(sql) {
            Some(self.autoincrement_high_water(name)?)
        } else {
            None
        };

        let mut indexes = Vec::with_capacity(index_entries.len());
        for entry in index_entries {
            let (position, index_sql) = schema_indexes
                .get(entry.name.as_str())
                .copied()
                .map_or((None, None), |(pos, sql)| (Some(pos), sql));
            let index =
                self.index_schema(name, &columns, rowid_alias.as_deref(), entry, index_sql)?;
            indexes.push((position, index));
        }
        // pragma_index_list lists newest first; sqlite_schema order is the
        // order they were declared. The key of a WITHOUT ROWID table is not
        // in sqlite_schema and comes first.
        indexes.sort_by_key(|(position, _)| *position);

        Ok(TableSchema {
            name: name.to_owned(),
            columns,
            primary_key,
            without_rowid,
            rowid_alias,
            autoincrement,
            indexes: indexes.into_iter().map(|(_, i)| i).collect(),
            foreign_keys: self.foreign_keys(name, sql)?,
            checks: crate::sql_scan::check_constraints(sql),
            sql: sql.to_owned(),
            custom_collations: crate::sql_scan::custom_collations(sql),
        })
    }

    /// The largest key SQLite has handed out to an `AUTOINCREMENT` table,
    /// from `sqlite_sequence` (0 when it has no row for the table yet).
    fn autoincrement_high_water(&self, table: &str) -> Result<i64, ReadError> {
        let exists: bool = self
            .conn
            .query_row(
                "SELECT count(*) > 0 FROM sqlite_schema WHERE name = 'sqlite_sequence'",
                [],
                |row| row.get(0),
            )
            .map_err(|e| self.schema_error(e))?;
        if !exists {
            return Ok(0);
        }
        let seq: Option<i64> = self
            .conn
            .query_row(
                "SELECT CAST(max(seq) AS INTEGER) FROM sqlite_sequence \
                 WHERE name = ?1 COLLATE NOCASE",
                [table],
                |row| row.get(0),
            )
            .map_err(|e| self.schema_error(e))?;
        Ok(seq.unwrap_or(0).max(0))
    }

    fn columns(&self, table: &str) -> Result<Vec<SourceColumn>, ReadError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT name, type, \"notnull\", dflt_value, pk, hidden \
                 FROM pragma_table_xinfo(?1, 'main') ORDER BY cid",
            )
            .map_err(|e| self.table_error(table, e))?;
        let rows = stmt
            .query_map([table], |row| {
                let declared_type: String = row.get(1)?;
                let hidden: i64 = row.get(5)?;
                let column = SourceColumn {
                    name: row.get(0)?,
                    affinity: Affinity::of_declared_type(&declared_type),
                    declared_type,
                    not_null: row.get(2)?,
                    default_sql: row.get(3)?,
                    primary_key_position: row.get(4)?,
                    // 2: VIRTUAL generated, 3: STORED generated.
                    generated: matches!(hidden, 2 | 3),
                };
                // 1 marks the hidden columns of virtual tables, never read.
                Ok((hidden != 1).then_some(column))
            })
            .and_then(|rows| rows.filter_map(Result::transpose).collect());
        rows.map_err(|e| self.table_error(table, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{col, discover};
    use ferry_model::{IndexOrigin, IndexedColumn};

    #[test]
    fn rowid_alias_and_autoincrement() {
        let schema = discover(
            "CREATE TABLE a(id integer PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL DEFAULT 'x');
             CREATE TABLE b(id INTEGER PRIMARY KEY, v);
             CREATE TABLE c(id INT PRIMARY KEY, v);
             CREATE TABLE d(id INTEGER PRIMARY KEY DESC, v);
             CREATE TABLE e(id BIGINT, v, PRIMARY KEY(id));",
        );
        let a = schema.table("a").unwrap();
        assert_eq!(a.rowid_alias.as_deref(), Some("id"));
        assert_eq!(a.autoincrement, Some(0));
        assert!(a.indexes.is_empty());
        assert_eq!(a.primary_key, ["id"]);
        assert_eq!(a.columns[1].default_sql.as_deref(), Some("'x'"));
        assert!(a.columns[1].not_null);
        assert_eq!(a.columns[1].affinity, Affinity::Text);
        let b = schema.table("b").unwrap();
        assert_eq!(b.rowid_alias.as_deref(), Some("id"));
        assert_eq!(b.autoincrement, None);
        // INT is not INTEGER, and INTEGER PRIMARY KEY DESC is SQLite's
        // documented exception: both keep a separate rowid and a pk index.
        for name in ["c", "d", "e"] {
            let t = schema.table(name).unwrap();
            assert_eq!(t.rowid_alias, None, "{name}");
            assert_eq!(t.primary_key, ["id"], "{name}");
            assert_eq!(t.indexes.len(), 1, "{name}");
            assert_eq!(t.indexes[0].origin, IndexOrigin::PrimaryKey, "{name}");
        }
        // sqlite_sequence exists because of AUTOINCREMENT, and is skipped.
        assert_eq!(schema.skipped.len(), 1);
        assert_eq!(schema.skipped[0].name, "sqlite_sequence");
        assert_eq!(schema.skipped[0].kind, "internal table");
        let names: Vec<_> = schema.tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "d", "e"]);
    }

    #[test]
    fn autoincrement_high_water_outlives_deleted_rows() {
        let schema = discover(
            "CREATE TABLE Jobs(id INTEGER PRIMARY KEY AUTOINCREMENT, v);
             INSERT INTO jobs(id, v) VALUES (100, 'x');
             DELETE FROM jobs;
             CREATE TABLE plain(id INTEGER PRIMARY KEY AUTOINCREMENT);",
        );
        assert_eq!(schema.table("jobs").unwrap().autoincrement, Some(100));
        assert_eq!(schema.table("plain").unwrap().autoincrement, Some(0));
    }

    #[test]
    fn composite_without_rowid_and_no_pk() {
        let schema = discover(
            "CREATE TABLE m(account INTEGER, folder TEXT, n, PRIMARY KEY(folder, account));
             CREATE TABLE w(k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID;
             CREATE TABLE loose(a, b);",
        );
        let m = schema.table("m").unwrap();
        assert_eq!(m.primary_key, ["folder", "account"]);
        assert_eq!(m.columns[1].primary_key_position, 1);
        assert_eq!(m.columns[0].primary_key_position, 2);
        assert_eq!(m.rowid_alias, None);
        assert!(!m.without_rowid);
        let w = schema.table("w").unwrap();
        assert!(w.without_rowid);
        assert_eq!(w.primary_key, ["k"]);
        assert_eq!(w.indexes[0].origin, IndexOrigin::PrimaryKey);
        assert_eq!(w.indexes[0].columns, [col("k", false)]);
        let loose = schema.table("loose").unwrap();
        assert!(loose.primary_key.is_empty());
        assert_eq!(loose.columns[0].declared_type, "");
        assert_eq!(loose.columns[0].affinity, Affinity::Blob);
        assert!(loose.indexes.is_empty() && loose.foreign_keys.is_empty());
    }

    #[test]
    fn generated_columns_are_listed_in_order() {
        let schema = discover(
            "CREATE TABLE g(a INT, b INT GENERATED ALWAYS AS (a * 2) VIRTUAL, c TEXT AS (a || 'x') STORED, d);",
        );
        let g = schema.table("g").unwrap();
        let cols: Vec<_> = g
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.declared_type.as_str(), c.generated))
            .collect();
        assert_eq!(
            cols,
            [
                ("a", "INT", false),
                ("b", "INT", true),
                ("c", "TEXT", true),
                ("d", "", false)
            ]
        );
    }

    #[test]
    fn odd_identifiers_survive() {
        let schema = discover(
            "CREATE TABLE \"order\"(\"select\" INTEGER PRIMARY KEY, \"a \"\"quoted\"\" col\" TEXT, [naïve café] TEXT, `group` INT);
             CREATE TABLE \"Line Items\"(\"order\" INTEGER REFERENCES \"order\"(\"select\"), \"名前\" TEXT);
             CREATE INDEX \"idx \"\"odd\"\"\" ON \"Line Items\"(\"名前\" DESC, (\"order\" + 1));",
        );
        let order = schema.table("ORDER").unwrap();
        assert_eq!(order.name, "order");
        let names: Vec<_> = order.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["select", "a \"quoted\" col", "naïve café", "group"]);
        assert_eq!(order.rowid_alias.as_deref(), Some("select"));
        let items = schema.table("Line Items").unwrap();
        assert_eq!(items.foreign_keys[0].referenced_table, "order");
        assert_eq!(items.foreign_keys[0].referenced_columns, ["select"]);
        assert_eq!(items.indexes[0].name, "idx \"odd\"");
        assert_eq!(
            items.indexes[0].columns,
            [
                col("名前", true),
                IndexedColumn::Expression("(\"order\" + 1)".into())
            ]
        );
    }
}
