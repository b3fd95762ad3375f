//! What is not copied, and the sentence that tells the user why.

use ferry_model::SkippedObject;

use crate::sql_scan::{shorten, virtual_table_module};

/// How much of a view's or trigger's SQL a skip reason quotes.
const SQL_PREVIEW_CHARS: usize = 200;

/// One row of `sqlite_schema`.
pub(crate) struct SchemaEntry {
    /// `table`, `index`, `view` or `trigger`.
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) sql: Option<String>,
}

/// What `PRAGMA table_list` says about a table.
pub(crate) struct TableKind {
    /// `table`, `view`, `shadow` or `virtual`.
    pub(crate) kind: String,
    pub(crate) without_rowid: bool,
}

/// Decides whether a `sqlite_schema` entry is left behind, and why: views,
/// triggers, and internal, virtual and shadow tables. `virtual_tables`
/// names every virtual table, to say which one a shadow table serves.
pub(crate) fn skipped_object(
    entry: &SchemaEntry,
    kind: Option<&TableKind>,
    virtual_tables: &[&str],
) -> Option<SkippedObject> {
    let sql = entry.sql.as_deref().unwrap_or_default();
    match entry.kind.as_str() {
        "table" => skip_table(entry, kind, virtual_tables),
        "view" => Some(SkippedObject {
            name: entry.name.clone(),
            kind: "view".into(),
            reason: format!(
                "view: recreate it in Postgres; its SQL is {}",
                shorten(sql, SQL_PREVIEW_CHARS)
            ),
        }),
        "trigger" => Some(SkippedObject {
            name: entry.name.clone(),
            kind: "trigger".into(),
            reason: format!(
                "trigger: not translated; recreate it in Postgres as a trigger function if \
                 still needed; its SQL is {}",
                shorten(sql, SQL_PREVIEW_CHARS)
            ),
        }),
        _ => None,
    }
}

/// Decides whether a `table` row of `sqlite_schema` is left behind, and why.
fn skip_table(
    entry: &SchemaEntry,
    kind: Option<&TableKind>,
    virtual_tables: &[&str],
) -> Option<SkippedObject> {
    let name = &entry.name;
    let sql = entry.sql.as_deref().unwrap_or_default();
    let skipped = |kind: &str, reason: String| SkippedObject {
        name: name.clone(),
        kind: kind.to_owned(),
        reason,
    };
    // Bytes, not str slicing: the name may have a multi-byte char there.
    if name
        .as_bytes()
        .get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"sqlite_"))
    {
        return Some(skipped(
            "internal table",
            "internal table: SQLite's own bookkeeping (AUTOINCREMENT counters, planner \
             statistics); Postgres keeps its own, nothing to do"
                .to_owned(),
        ));
    }
    let kind = kind.map(|k| k.kind.as_str());
    let module = virtual_table_module(sql);
    if kind == Some("virtual") || (kind.is_none() && module.is_some()) {
        return Some(skipped("virtual table", virtual_reason(module.as_deref())));
    }
    if kind == Some("shadow") {
        let owner = virtual_tables
            .iter()
            .filter(|v| {
                name.len() > v.len() + 1
                    && name.as_bytes()[..v.len()].eq_ignore_ascii_case(v.as_bytes())
                    && name.as_bytes()[v.len()] == b'_'
            })
            .max_by_key(|v| v.len());
        let reason = match owner {
            Some(owner) => format!(
                "shadow table: holds the internal data of virtual table {owner}; rebuild {owner} \
                 in Postgres instead"
            ),
            None => "shadow table: holds the internal data of a virtual table; rebuild that \
                     virtual table in Postgres instead"
                .to_owned(),
        };
        return Some(skipped("shadow table", reason));
    }
    None
}

/// Says how to carry a virtual table over, by module.
fn virtual_reason(module: Option<&str>) -> String {
    let module = module.unwrap_or("unknown-module");
    match module.to_ascii_lowercase().as_str() {
        "fts3" | "fts4" | "fts5" => format!(
            "{} virtual table: rebuild it in Postgres with a tsvector column and a GIN index",
            module.to_ascii_uppercase()
        ),
        "rtree" | "rtree_i32" | "geopoly" => format!(
            "{module} virtual table: rebuild it in Postgres with a GiST index (PostGIS geometry \
             or a box column)"
        ),
        _ => format!(
            "{module} virtual table: its rows come from a SQLite extension; to copy them, \
             materialize it in a copy of the file (CREATE TABLE t_copy AS SELECT * FROM …)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::testing::discover;

    #[test]
    fn views_triggers_and_virtual_tables_are_skipped_with_reasons() {
        let schema = discover(
            "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT);
             CREATE VIRTUAL TABLE notes_fts USING fts5(body, content='notes', content_rowid='id');
             CREATE VIEW recent AS SELECT id, body
                 FROM notes WHERE id > 10;
             CREATE TRIGGER notes_ai AFTER INSERT ON notes BEGIN
                 INSERT INTO notes_fts(rowid, body) VALUES (new.id, new.body);
             END;
             CREATE VIRTUAL TABLE boxes USING rtree(id, x0, x1);
             CREATE TABLE after(x);",
        );
        let tables: Vec<_> = schema.tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(tables, ["notes", "after"]);
        let kinds: HashMap<&str, (&str, &str)> = schema
            .skipped
            .iter()
            .map(|s| (s.name.as_str(), (s.kind.as_str(), s.reason.as_str())))
            .collect();
        assert_eq!(
            kinds["notes_fts"],
            (
                "virtual table",
                "FTS5 virtual table: rebuild it in Postgres with a tsvector column and a GIN index"
            )
        );
        for shadow in [
            "notes_fts_data",
            "notes_fts_idx",
            "notes_fts_docsize",
            "notes_fts_config",
        ] {
            let (kind, reason) = kinds[shadow];
            assert_eq!(kind, "shadow table", "{shadow}");
            assert!(reason.contains("virtual table notes_fts"), "{reason}");
        }
        assert_eq!(kinds["boxes"].0, "virtual table");
        assert!(kinds["boxes"].1.contains("GiST"));
        assert_eq!(kinds["boxes_node"].0, "shadow table");
        assert_eq!(
            kinds["recent"],
            ("view", "view: recreate it in Postgres; its SQL is CREATE VIEW recent AS SELECT id, body FROM notes WHERE id > 10")
        );
        assert_eq!(kinds["notes_ai"].0, "trigger");
        assert!(kinds["notes_ai"].1.starts_with("trigger: not translated"));
        assert!(kinds["notes_ai"]
            .1
            .contains("CREATE TRIGGER notes_ai AFTER INSERT ON notes BEGIN INSERT"));
    }

    #[test]
    fn internal_prefix_check_is_unicode_safe() {
        let entry = |name: &str| SchemaEntry {
            kind: "table".into(),
            name: name.into(),
            sql: Some(format!("CREATE TABLE \"{name}\"(a)")),
        };
        assert_eq!(skipped_object(&entry("abcdefé"), None, &[]), None);
        assert_eq!(skipped_object(&entry("sqlit"), None, &[]), None);
        let internal = skipped_object(&entry("SQLITE_stat1"), None, &[]).unwrap();
        assert_eq!(internal.kind, "internal table");
    }

    #[test]
    fn shadow_owner_prefers_longest_name() {
        let entry = SchemaEntry {
            kind: "table".into(),
            name: "a_b_data".into(),
            sql: None,
        };
        let kind = TableKind {
            kind: "shadow".into(),
            without_rowid: false,
        };
        let skipped = skip_table(&entry, Some(&kind), &["a", "a_b"]).unwrap();
        assert!(
            skipped.reason.contains("virtual table a_b;"),
            "{}",
            skipped.reason
        );
    }
}
