//! The one place identifiers and literals are quoted for SQL.

/// Quotes an identifier for Postgres, always, doubling embedded quotes.
///
/// Quoting every identifier means keywords (`order`), spaces, dots and mixed
/// case all survive unchanged; the caller decides the case beforehand.
pub fn quote_ident(name: &str) -> String {
    let mut quoted = String::with_capacity(name.len() + 2);
    quoted.push('"');
    for c in name.chars() {
        if c == '"' {
            quoted.push('"');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// Quotes `schema.name` with [`quote_ident`] on each part.
pub fn quote_qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

/// Quotes a string literal for SQL text that cannot take parameters (DDL
/// defaults, comments), doubling embedded quotes. Values never go through
/// this: they travel as COPY data or bind parameters.
pub fn quote_literal(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('\'');
    for c in text.chars() {
        if c == '\'' {
            quoted.push('\'');
        }
        quoted.push(c);
    }
    quoted.push('\'');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_hostile_identifiers() {
        assert_eq!(quote_ident("order"), "\"order\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_ident("é.x y"), "\"é.x y\"");
        assert_eq!(quote_qualified("public", "T"), "\"public\".\"T\"");
    }

    #[test]
    fn quotes_literals() {
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
