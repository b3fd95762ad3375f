//! The one place identifiers are quoted for SQLite.

/// Quotes an identifier for SQLite SQL: double quotes, embedded quotes
/// doubled.
///
/// Every table and column name the reader puts into SQL goes through here,
/// so keywords (`order`), spaces, quotes and unicode all reach SQLite
/// unchanged. Only names that exist are quoted: SQLite reads a double-quoted
/// word that names nothing as a string literal, so a misspelt name would not
/// fail loudly.
///
/// ```
/// assert_eq!(ferry_reader::quote_sqlite_ident("my \"odd\" table"), "\"my \"\"odd\"\" table\"");
/// ```
pub fn quote_sqlite_ident(name: &str) -> String {
    // SQLite quotes identifiers the SQL-standard way, as Postgres does.
    ferry_model::quote_ident(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_hostile_names() {
        assert_eq!(quote_sqlite_ident("order"), "\"order\"");
        assert_eq!(quote_sqlite_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_sqlite_ident(""), "\"\"");
        assert_eq!(quote_sqlite_ident("名前 x"), "\"名前 x\"");
    }
}
