//! Indexes and unique constraints, from `index_list`/`index_xinfo` plus the
//! `CREATE INDEX` text for expressions and partial-index predicates.

use ferry_model::{IndexOrigin, IndexSchema, IndexedColumn, SourceColumn};

use crate::db::SourceDb;
use crate::error::ReadError;
use crate::sql_scan::{parse_create_index, shorten};

/// How much of an index's SQL a parse error quotes.
const SQL_PREVIEW_CHARS: usize = 200;

/// A row of `pragma_index_list`.
pub(crate) struct IndexEntry {
    pub(crate) name: String,
    pub(crate) unique: bool,
    /// `c` (CREATE INDEX), `u` (UNIQUE constraint) or `pk`.
    pub(crate) origin: String,
    pub(crate) partial: bool,
}

/// A key row of `pragma_index_xinfo`.
struct IndexKeyColumn {
    cid: i64,
    name: Option<String>,
    descending: bool,
    /// The collation in effect is `NOCASE`.
    nocase: bool,
}

impl SourceDb {
    /// Every index of a table, including those behind UNIQUE and
    /// non-rowid PRIMARY KEY constraints.
    pub(crate) fn index_entries(&self, table: &str) -> Result<Vec<IndexEntry>, ReadError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT name, \"unique\", origin, partial FROM pragma_index_list(?1, 'main')",
            )
            .map_err(|e| self.table_error(table, e))?;
        let rows = stmt
            .query_map([table], |row| {
                Ok(IndexEntry {
                    name: row.get(0)?,
                    unique: row.get(1)?,
                    origin: row.get(2)?,
                    partial: row.get(3)?,
                })
            })
            .and_then(|rows| rows.collect());
        rows.map_err(|e| self.table_error(table, e))
    }

    /// Describes one index; `sql` is its `CREATE INDEX` text, needed only
    /// for expressions and partial-index predicates.
    pub(crate) fn index_schema(
        &self,
        table: &str,
        columns: &[SourceColumn],
        rowid_alias: Option<&str>,
        entry: IndexEntry,
        sql: Option<&str>,
    ) -> Result<IndexSchema, ReadError> {
        let key = self.index_key(table, &entry.name)?;
        let needs_sql = entry.partial || key.iter().any(|k| k.cid == -2);
        let parsed = if needs_sql {
            let sql = sql.unwrap_or_default();
            let unparsed = |detail: &str| ReadError::UnparsedSql {
                table: table.to_owned(),
                object: format!("index {}", entry.name),
                sql: shorten(sql, SQL_PREVIEW_CHARS),
                detail: detail.to_owned(),
            };
            let parsed = parse_create_index(sql)
                .ok_or_else(|| unparsed("expected CREATE INDEX … ON table(…) [WHERE …]"))?;
            if parsed.items.len() != key.len() {
                return Err(unparsed(&format!(
                    "found {} key entries, SQLite reports {}",
                    parsed.items.len(),
                    key.len()
                )));
            }
            if entry.partial && parsed.where_sql.is_none() {
                return Err(unparsed("partial index without a WHERE clause"));
            }
            Some(parsed)
        } else {
            None
        };

        let mut indexed = Vec::with_capacity(key.len());
        for (i, k) in key.into_iter().enumerate() {
            indexed.push(match k.cid {
                -2 => IndexedColumn::Expression(
                    parsed
                        .as_ref()
                        .map(|p| p.items[i].clone())
                        .unwrap_or_default(),
                ),
                -1 => IndexedColumn::Column {
                    name: rowid_alias.unwrap_or("rowid").to_owned(),
                    descending: k.descending,
                    nocase: false,
                },
                cid => IndexedColumn::Column {
                    name: k.name.unwrap_or_else(|| {
                        usize::try_from(cid)
                            .ok()
                            .and_then(|cid| columns.get(cid))
                            .map(|c| c.name.clone())
                            .unwrap_or_default()
                    }),
                    descending: k.descending,
                    nocase: k.nocase,
                },
            });
        }
        Ok(IndexSchema {
            name: entry.name,
            unique: entry.unique,
            origin: match entry.origin.as_str() {
                "u" => IndexOrigin::UniqueConstraint,
                "pk" => IndexOrigin::PrimaryKey,
                _ => IndexOrigin::CreateIndex,
            },
            columns: indexed,
            where_sql: parsed.and_then(|p| p.where_sql),
        })
    }

    fn index_key(&self, table: &str, index: &str) -> Result<Vec<IndexKeyColumn>, ReadError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT cid, name, \"desc\", coll = 'NOCASE' COLLATE NOCASE \
                 FROM pragma_index_xinfo(?1, 'main') \
                 WHERE key ORDER BY seqno",
            )
            .map_err(|e| self.table_error(table, e))?;
        let rows = stmt
            .query_map([index], |row| {
                Ok(IndexKeyColumn {
                    cid: row.get(0)?,
                    name: row.get(1)?,
                    descending: row.get(2)?,
                    nocase: row.get(3)?,
                })
            })
            .and_then(|rows| rows.collect());
        rows.map_err(|e| self.table_error(table, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{col, discover};

    #[test]
    fn unique_constraints_and_indexes() {
        let schema = discover(
            "CREATE TABLE t(id INTEGER PRIMARY KEY, email TEXT UNIQUE, a, b, \"order\" INT, UNIQUE(a, b));
             CREATE INDEX t_a_desc ON t(a DESC, b);
             CREATE UNIQUE INDEX t_lower ON t(lower(email) DESC, \"order\");
             CREATE INDEX t_partial ON t(b) WHERE b IS NOT NULL AND \"order\" > 3;",
        );
        let t = schema.table("t").unwrap();
        let names: Vec<_> = t.indexes.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "sqlite_autoindex_t_1",
                "sqlite_autoindex_t_2",
                "t_a_desc",
                "t_lower",
                "t_partial"
            ]
        );
        assert_eq!(t.indexes[0].origin, IndexOrigin::UniqueConstraint);
        assert!(t.indexes[0].unique);
        assert_eq!(t.indexes[0].columns, [col("email", false)]);
        assert_eq!(t.indexes[1].columns, [col("a", false), col("b", false)]);
        assert_eq!(t.indexes[2].origin, IndexOrigin::CreateIndex);
        assert!(!t.indexes[2].unique);
        assert_eq!(t.indexes[2].columns, [col("a", true), col("b", false)]);
        assert!(t.indexes[3].unique);
        assert_eq!(
            t.indexes[3].columns,
            [
                IndexedColumn::Expression("lower(email)".into()),
                col("order", false)
            ]
        );
        assert_eq!(t.indexes[3].where_sql, None);
        assert_eq!(t.indexes[4].columns, [col("b", false)]);
        assert_eq!(
            t.indexes[4].where_sql.as_deref(),
            Some("b IS NOT NULL AND \"order\" > 3")
        );
    }

    #[test]
    fn nocase_from_the_column_or_the_index() {
        let schema = discover(
            "CREATE TABLE t(a TEXT COLLATE NOCASE UNIQUE, b TEXT, c TEXT COLLATE nocase);
             CREATE UNIQUE INDEX t_b ON t(b COLLATE NOCASE, c COLLATE BINARY);
             CREATE INDEX t_c ON t(c DESC);",
        );
        let keys: Vec<Vec<(String, bool)>> = schema
            .table("t")
            .unwrap()
            .indexes
            .iter()
            .map(|i| {
                i.columns
                    .iter()
                    .map(|c| match c {
                        IndexedColumn::Column { name, nocase, .. } => (name.clone(), *nocase),
                        IndexedColumn::Expression(e) => (e.clone(), false),
                    })
                    .collect()
            })
            .collect();
        let key = |pairs: &[(&str, bool)]| -> Vec<(String, bool)> {
            pairs.iter().map(|(n, f)| (n.to_string(), *f)).collect()
        };
        assert_eq!(
            keys,
            [
                key(&[("a", true)]),
                key(&[("b", true), ("c", false)]),
                key(&[("c", true)])
            ]
        );
    }
}
