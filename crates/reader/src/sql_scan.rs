//! Just enough of SQLite's lexer to take `CREATE` statements apart.
//!
//! SQLite's pragmas describe tables and indexes, but two things are only in
//! the statement text stored in `sqlite_schema.sql`: the expressions of
//! expression indexes and the `WHERE` of partial indexes (plus the
//! `AUTOINCREMENT` keyword, `CHECK` constraints and a virtual table's
//! module). Finding them needs
//! a scanner that knows where strings, quoted identifiers and comments begin
//! and end, so that a `(`, `,` or `WHERE` inside `'it''s'`, `"a,b"`,
//! `[x(y]` or `` `where` `` is never mistaken for structure.
//!
//! ferry-transformer's `predicate` module has a tokenizer of its own, and
//! the two stay apart on purpose (issue 16). This one finds structure in
//! any statement SQLite accepted: it never fails, its tokens are byte
//! spans so that text is cut out exactly as written, and words follow
//! SQLite's identifier rules (digits, `$` and every non-ASCII byte
//! included; a point or a sign is punctuation, so `1.5e-3` is five
//! tokens). The predicate tokenizer translates a small subset of
//! expressions: it refuses anything else, reads a signed number with its
//! exponent as one token, unquotes strings and resolves column names as it
//! goes. Sharing one lexer would make the translator glue numbers back
//! together and re-check what it must refuse, or this scanner learn values
//! it only has to step over.

use ferry_model::CheckSchema;

/// What a token is, as far as structure goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A bare word: keyword, unquoted identifier or number.
    Word,
    /// `'string'`, `"ident"`, `[ident]` or `` `ident` ``.
    Quoted,
    /// Any other single character (`(`, `)`, `,`, operators…).
    Punct(u8),
}

/// One token, as a byte span of the statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

impl Token {
    fn is_word(&self, sql: &str, word: &str) -> bool {
        self.kind == Kind::Word && sql[self.start..self.end].eq_ignore_ascii_case(word)
    }
}

/// Splits SQL into tokens, dropping whitespace and comments. An unterminated
/// string or comment runs to the end of the text (SQLite would have refused
/// such a statement, so this only has to not panic).
fn tokenize(sql: &str) -> Vec<Token> {
    let bytes = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let start = i;
        match b {
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => {
                i += 1;
                continue;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i = (i + 2).min(bytes.len());
                continue;
            }
            b'\'' | b'"' | b'`' | b'[' => {
                let close = if b == b'[' { b']' } else { b };
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => break,
                        // A doubled quote is an escaped quote; brackets have no escape.
                        Some(&c)
                            if c == close && close != b']' && bytes.get(i + 1) == Some(&close) =>
                        {
                            i += 2
                        }
                        Some(&c) if c == close => {
                            i += 1;
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
                tokens.push(Token {
                    kind: Kind::Quoted,
                    start,
                    end: i,
                });
                continue;
            }
            _ => {}
        }
        if is_word_byte(b) {
            while i < bytes.len() && is_word_byte(bytes[i]) {
                i += 1;
            }
            tokens.push(Token {
                kind: Kind::Word,
                start,
                end: i,
            });
        } else {
            // Non-word bytes are ASCII here (every byte >= 0x80 is a word
            // byte), so a one-byte span always ends on a char boundary.
            i += 1;
            tokens.push(Token {
                kind: Kind::Punct(b),
                start,
                end: i,
            });
        }
    }
    tokens
}

/// SQLite treats every non-ASCII character as an identifier character.
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// The parts of a `CREATE INDEX` statement the pragmas do not give.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IndexSql {
    /// Each key entry as written, without a trailing `ASC`/`DESC`.
    pub items: Vec<String>,
    /// The predicate after `WHERE`, as written.
    pub where_sql: Option<String>,
}

/// Takes a `CREATE [UNIQUE] INDEX … ON table(items) [WHERE expr]` statement
/// apart. The first top-level `(` opens the key list: names before it cannot
/// contain one unless quoted, and quoted text is a single token.
///
/// Returns `None` when the statement does not have that shape.
pub(crate) fn parse_create_index(sql: &str) -> Option<IndexSql> {
    let tokens = tokenize(sql);
    let open = tokens.iter().position(|t| t.kind == Kind::Punct(b'('))?;
    let mut depth = 0usize;
    let mut items = Vec::new();
    let mut item_start = open + 1;
    let mut close = None;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        match token.kind {
            Kind::Punct(b'(') => depth += 1,
            Kind::Punct(b')') => {
                depth -= 1;
                if depth == 0 {
                    items.push(item_text(sql, &tokens[item_start..i])?);
                    close = Some(i);
                    break;
                }
            }
            Kind::Punct(b',') if depth == 1 => {
                items.push(item_text(sql, &tokens[item_start..i])?);
                item_start = i + 1;
            }
            _ => {}
        }
    }
    let rest = &tokens[close? + 1..];
    let where_sql = match rest.first() {
        None => None,
        Some(t) if t.is_word(sql, "WHERE") => {
            let predicate = rest.get(1)?;
            let end = rest.last()?;
            let end = if end.kind == Kind::Punct(b';') {
                rest[rest.len() - 2].end
            } else {
                end.end
            };
            Some(sql[predicate.start..end].trim().to_owned())
        }
        Some(t) if t.kind == Kind::Punct(b';') => None,
        Some(_) => return None,
    };
    Some(IndexSql { items, where_sql })
}

/// The text of one key entry, its sort order dropped (the pragmas report it).
fn item_text(sql: &str, tokens: &[Token]) -> Option<String> {
    let (first, mut last) = (tokens.first()?, tokens.last()?);
    if tokens.len() > 1 && (last.is_word(sql, "ASC") || last.is_word(sql, "DESC")) {
        last = &tokens[tokens.len() - 2];
    }
    Some(sql[first.start..last.end].to_owned())
}

/// Whether a `CREATE TABLE` statement declares `AUTOINCREMENT`: the keyword
/// as a bare word, not where a column name would stand (after `(` or `,`).
pub(crate) fn declares_autoincrement(sql: &str) -> bool {
    let tokens = tokenize(sql);
    tokens.iter().enumerate().any(|(i, t)| {
        t.is_word(sql, "AUTOINCREMENT")
            && i > 0
            && !matches!(tokens[i - 1].kind, Kind::Punct(b'(' | b','))
    })
}

/// For each `REFERENCES` clause of a `CREATE TABLE` statement, in the
/// order written (SQLite's own order of the table's foreign keys), whether
/// it is declared `DEFERRABLE INITIALLY DEFERRED`: checked when the
/// transaction commits, not at each statement. `NOT DEFERRABLE …` and
/// `DEFERRABLE` alone or `INITIALLY IMMEDIATE` are checked at once.
pub(crate) fn deferred_foreign_keys(sql: &str) -> Vec<bool> {
    let tokens = tokenize(sql);
    let mut keys = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        if !token.is_word(sql, "REFERENCES") {
            continue;
        }
        // The clause runs to the end of its column or constraint: a `,`
        // or `)` outside any parentheses of its own, or the next key.
        let mut depth = 0usize;
        let mut deferred = false;
        for (j, t) in tokens.iter().enumerate().skip(i + 1) {
            match t.kind {
                Kind::Punct(b'(') => depth += 1,
                Kind::Punct(b')') if depth == 0 => break,
                Kind::Punct(b')') => depth -= 1,
                Kind::Punct(b',') if depth == 0 => break,
                Kind::Word if t.is_word(sql, "REFERENCES") => break,
                Kind::Word if depth == 0 && t.is_word(sql, "DEFERRABLE") => {
                    let negated = j > 0 && tokens[j - 1].is_word(sql, "NOT");
                    let initially_deferred = tokens.get(j + 1..j + 3).is_some_and(|n| {
                        n[0].is_word(sql, "INITIALLY") && n[1].is_word(sql, "DEFERRED")
                    });
                    deferred = !negated && initially_deferred;
                }
                _ => {}
            }
        }
        keys.push(deferred);
    }
    keys
}

/// The `CHECK` constraints of a `CREATE TABLE` statement, in the order
/// written: each constraint's name (`CONSTRAINT name CHECK …`), the column
/// it is written on (`None` for a table constraint) and its expression as
/// written, without the enclosing parentheses.
pub(crate) fn check_constraints(sql: &str) -> Vec<CheckSchema> {
    let tokens = tokenize(sql);
    let mut checks = Vec::new();
    // The first token of the current column definition or table
    // constraint: the column's name, or a constraint keyword.
    let mut item_start: Option<usize> = None;
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i];
        match token.kind {
            Kind::Punct(b'(') => {
                depth += 1;
                if depth == 1 {
                    item_start = Some(i + 1);
                }
            }
            Kind::Punct(b')') => depth = depth.saturating_sub(1),
            Kind::Punct(b',') if depth == 1 => item_start = Some(i + 1),
            Kind::Word if depth == 1 && token.is_word(sql, "CHECK") => {
                if let Some((expr, close)) = parenthesized(sql, &tokens, i + 1) {
                    let name = (i >= 2 && tokens[i - 2].is_word(sql, "CONSTRAINT"))
                        .then(|| unquote(&sql[tokens[i - 1].start..tokens[i - 1].end]));
                    let column = item_start
                        .and_then(|s| tokens.get(s).filter(|_| s < i))
                        .filter(|t| !is_table_constraint_keyword(sql, t))
                        .map(|t| unquote(&sql[t.start..t.end]));
                    checks.push(CheckSchema { name, column, expr });
                    i = close + 1;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    checks
}

/// Whether a definition starting with `token` is a table constraint
/// rather than a column.
fn is_table_constraint_keyword(sql: &str, token: &Token) -> bool {
    ["CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"]
        .iter()
        .any(|k| token.is_word(sql, k))
}

/// The text between the `(` at `open` and its matching `)`, trimmed, and
/// the index of that `)`.
fn parenthesized(sql: &str, tokens: &[Token], open: usize) -> Option<(String, usize)> {
    (tokens.get(open)?.kind == Kind::Punct(b'(')).then_some(())?;
    let mut depth = 0usize;
    for (j, t) in tokens.iter().enumerate().skip(open) {
        match t.kind {
            Kind::Punct(b'(') => depth += 1,
            Kind::Punct(b')') => {
                depth -= 1;
                if depth == 0 {
                    let inner = &sql[tokens[open].end..t.start];
                    return Some((inner.trim().to_owned(), j));
                }
            }
            _ => {}
        }
    }
    None
}

/// The collations a statement names (`COLLATE name`) other than SQLite's
/// own `BINARY`, `NOCASE` and `RTRIM`, each once, in order.
pub(crate) fn custom_collations(sql: &str) -> Vec<String> {
    let tokens = tokenize(sql);
    let mut names: Vec<String> = Vec::new();
    for pair in tokens.windows(2) {
        if !pair[0].is_word(sql, "COLLATE") {
            continue;
        }
        let name = unquote(&sql[pair[1].start..pair[1].end]);
        let builtin = ["BINARY", "NOCASE", "RTRIM"]
            .iter()
            .any(|b| b.eq_ignore_ascii_case(&name));
        if !builtin && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// An identifier without its quotes (`"a""b"` is `a"b`).
fn unquote(token: &str) -> String {
    match token.as_bytes().first() {
        Some(b'"' | b'`' | b'\'') if token.len() >= 2 => {
            let quote = &token[..1];
            token[1..token.len() - 1].replace(&quote.repeat(2), quote)
        }
        Some(b'[') if token.len() >= 2 => token[1..token.len() - 1].to_owned(),
        _ => token.to_owned(),
    }
}

/// The module of a `CREATE VIRTUAL TABLE … USING module(…)` statement.
pub(crate) fn virtual_table_module(sql: &str) -> Option<String> {
    let tokens = tokenize(sql);
    let using = tokens.iter().position(|t| t.is_word(sql, "USING"))?;
    let module = tokens.get(using + 1)?;
    (module.kind == Kind::Word).then(|| sql[module.start..module.end].to_owned())
}

/// Collapses whitespace and cuts SQL to `max_chars` characters (marked with
/// `…`), so that a view's or trigger's text fits in one line of a report.
pub(crate) fn shorten(sql: &str, max_chars: usize) -> String {
    let collapsed = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    match collapsed.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &collapsed[..cut]),
        None => collapsed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_collations_sqlite_does_not_define() {
        let sql = "CREATE TABLE t(a TEXT COLLATE unicase, b COLLATE NOCASE, \
                   c COLLATE \"my \"\"coll\"\"\", d COLLATE unicase, e TEXT) WITHOUT ROWID";
        assert_eq!(custom_collations(sql), ["unicase", "my \"coll\""]);
        assert!(custom_collations("CREATE TABLE t(a COLLATE binary, b COLLATE RTRIM)").is_empty());
    }

    #[test]
    fn finds_foreign_keys_checked_at_commit() {
        let sql = "CREATE TABLE c(
            a INTEGER REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED NOT NULL,
            b REFERENCES p ON DELETE CASCADE,
            \"references\" TEXT, -- REFERENCES x DEFERRABLE INITIALLY DEFERRED
            d REFERENCES p NOT DEFERRABLE INITIALLY DEFERRED,
            e REFERENCES p DEFERRABLE INITIALLY IMMEDIATE,
            f REFERENCES p DEFERRABLE,
            FOREIGN KEY (g, h) REFERENCES q(x, y) MATCH SIMPLE deferrable initially deferred,
            CHECK (a > 0)
        )";
        assert_eq!(
            deferred_foreign_keys(sql),
            [true, false, false, false, false, true]
        );
        assert!(deferred_foreign_keys("CREATE TABLE t(a)").is_empty());
    }

    #[test]
    fn finds_check_constraints_with_their_names_and_columns() {
        let sql = "CREATE TABLE \"log\" (
            \"id\" integer NOT NULL PRIMARY KEY AUTOINCREMENT,
            \"action_flag\" smallint unsigned NOT NULL CHECK (\"action_flag\" >= 0),
            [status] text CONSTRAINT status_known CHECK(status IN ('a', 'b)')) DEFAULT 'a',
            \"check\" TEXT, -- CHECK (x)
            qty INT CHECK ((qty > 0) AND (qty < 10)),
            CONSTRAINT \"pair\" CHECK (qty <> \"check\"),
            CHECK (length(status) > 0),
            FOREIGN KEY (qty) REFERENCES p(id)
        )";
        let checks = check_constraints(sql);
        let view: Vec<(Option<&str>, Option<&str>, &str)> = checks
            .iter()
            .map(|c| (c.name.as_deref(), c.column.as_deref(), c.expr.as_str()))
            .collect();
        assert_eq!(
            view,
            [
                (None, Some("action_flag"), "\"action_flag\" >= 0"),
                (
                    Some("status_known"),
                    Some("status"),
                    "status IN ('a', 'b)')"
                ),
                (None, Some("qty"), "(qty > 0) AND (qty < 10)"),
                (Some("pair"), None, "qty <> \"check\""),
                (None, None, "length(status) > 0"),
            ]
        );
        assert!(check_constraints("CREATE TABLE t(a, b CHECK").is_empty());
        assert!(check_constraints("CREATE TABLE t(a)").is_empty());
    }

    fn parsed(sql: &str) -> (Vec<String>, Option<String>) {
        let index = parse_create_index(sql).unwrap_or_else(|| panic!("{sql}"));
        (index.items, index.where_sql)
    }

    #[test]
    fn splits_plain_and_expression_items() {
        let (items, predicate) =
            parsed("CREATE INDEX i ON t(a DESC, lower(\"b c\") ASC, x COLLATE NOCASE)");
        assert_eq!(items, ["a", "lower(\"b c\")", "x COLLATE NOCASE"]);
        assert_eq!(predicate, None);
    }

    #[test]
    fn extracts_partial_predicate() {
        let (items, predicate) =
            parsed("create unique index \"i(\" on [t(x] (a) where a > 3 and b <> ',' ;");
        assert_eq!(items, ["a"]);
        assert_eq!(predicate.as_deref(), Some("a > 3 and b <> ','"));
    }

    #[test]
    fn respects_quotes_brackets_backticks_and_comments() {
        let sql = "CREATE INDEX `we,ird` ON \"t\" ( substr(\"a,b\", 1, 2) /* , ) */ , [c,d] -- x)\n, 'it''s,' || `e)` ) WHERE \"where\" IS NOT NULL";
        let (items, predicate) = parsed(sql);
        assert_eq!(
            items,
            ["substr(\"a,b\", 1, 2)", "[c,d]", "'it''s,' || `e)`"]
        );
        assert_eq!(predicate.as_deref(), Some("\"where\" IS NOT NULL"));
    }

    #[test]
    fn nested_parentheses_and_unicode() {
        let (items, _) = parsed("CREATE INDEX i ON t((a + (b * 2)) DESC, naïve, coalesce(x, y))");
        assert_eq!(items, ["(a + (b * 2))", "naïve", "coalesce(x, y)"]);
    }

    #[test]
    fn rejects_unexpected_shapes_without_panicking() {
        assert_eq!(parse_create_index("CREATE INDEX i ON t"), None);
        assert_eq!(parse_create_index("CREATE INDEX i ON t(a"), None);
        assert_eq!(parse_create_index("CREATE INDEX i ON t(a) garbage"), None);
        assert_eq!(parse_create_index("CREATE INDEX i ON t(a) WHERE"), None);
        assert_eq!(parse_create_index("CREATE INDEX i ON t(,)"), None);
        assert_eq!(parse_create_index("'unterminated ("), None);
    }

    #[test]
    fn finds_autoincrement_keyword_only() {
        assert!(declares_autoincrement(
            "CREATE TABLE t(id INTEGER PRIMARY KEY AUTOINCREMENT)"
        ));
        assert!(declares_autoincrement(
            "create table t(id integer primary key desc on conflict abort autoincrement)"
        ));
        assert!(!declares_autoincrement(
            "CREATE TABLE t(id INTEGER PRIMARY KEY, \"AUTOINCREMENT\" TEXT)"
        ));
        assert!(!declares_autoincrement(
            "CREATE TABLE t(autoincrement TEXT, x DEFAULT 'AUTOINCREMENT')"
        ));
        assert!(!declares_autoincrement(
            "CREATE TABLE t(a, /* AUTOINCREMENT */ b)"
        ));
    }

    #[test]
    fn finds_virtual_table_module() {
        assert_eq!(
            virtual_table_module(
                "CREATE VIRTUAL TABLE \"using\" USING fts5(body, tokenize='porter')"
            )
            .as_deref(),
            Some("fts5")
        );
        assert_eq!(virtual_table_module("CREATE TABLE t(a)"), None);
    }

    #[test]
    fn shortens_on_char_boundaries() {
        assert_eq!(
            shorten("CREATE VIEW v\n  AS SELECT 1", 100),
            "CREATE VIEW v AS SELECT 1"
        );
        assert_eq!(shorten("ééééé", 3), "ééé…");
    }
}
