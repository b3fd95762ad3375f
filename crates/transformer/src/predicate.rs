//! The `WHERE` of a partial index or a `CHECK` constraint, SQLite →
//! Postgres.
//!
//! A small tokenizer accepts the predicates such constraints are made of
//! (comparisons, `IS [NOT] NULL`, `IN` lists, `BETWEEN`, `AND`/`OR`/`NOT`,
//! `length(column)` of text or bytes) over columns and literals. Anything
//! else (other function calls, operators on values, unknown words) makes
//! the translation fail, and the index or constraint is left out with a
//! warning rather than created with a different meaning.
//!
//! The reader's `sql_scan` also tokenizes SQL, to take `CREATE` statements
//! apart; it is kept separate on purpose (issue 16). That scanner must
//! accept every statement and return spans of the text as written; this
//! tokenizer refuses what it cannot translate (comments, operators and
//! words outside the subset), reads a signed number with its exponent as
//! one token checked by [`ferry_model::scan_decimal`], and hands back
//! unquoted strings and resolved columns: a different token model for a
//! different job.

use ferry_model::{quote_ident, quote_literal, scan_decimal, PgType};

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Column(String, PgType),
    Number(String),
    Str(String),
    LParen,
    RParen,
    Comma,
    /// `=`, `<>`, `<`, `<=`, `>`, `>=` as Postgres spells them.
    Op(&'static str),
    Null,
    True,
    False,
    Is,
    Not,
    And,
    Or,
    In,
    Between,
    /// `length(`: the only function call translated.
    Length,
}

/// Translates a predicate; `column` resolves a source column name to its
/// target name and type. `None` when the predicate uses anything outside
/// the supported subset.
pub(crate) fn translate_predicate(
    sql: &str,
    column: impl Fn(&str) -> Option<(String, PgType)>,
) -> Option<String> {
    let tokens = tokenize(sql, &column)?;
    let mut out = String::new();
    let mut i = 0;
    while i < tokens.len() {
        let piece: String = match &tokens[i] {
            Token::Length => {
                // `length(column)` counts characters of text and bytes of a
                // blob in both databases; of anything else SQLite measures
                // the value's text, which Postgres has no function for.
                let Some([Token::LParen, Token::Column(name, pg_type), Token::RParen]) =
                    tokens.get(i + 1..i + 4)
                else {
                    return None;
                };
                if !matches!(pg_type, PgType::Text | PgType::Bytea) {
                    return None;
                }
                i += 3;
                format!("length({})", quote_ident(name))
            }
            Token::Column(name, pg_type) => {
                if matches!(tokens.get(i + 1), Some(Token::LParen)) {
                    return None;
                }
                let alone = matches!(
                    i.checked_sub(1).map(|p| &tokens[p]),
                    None | Some(Token::And | Token::Or | Token::Not | Token::LParen)
                ) && matches!(
                    tokens.get(i + 1),
                    None | Some(Token::And | Token::Or | Token::RParen)
                );
                // Postgres wants a boolean where SQLite takes any value as
                // a truth value.
                if alone && *pg_type != PgType::Boolean {
                    return None;
                }
                quote_ident(name)
            }
            Token::Number(n) => {
                if compared_with_boolean(&tokens, i) {
                    match n.as_str() {
                        "0" => "false".to_owned(),
                        "1" => "true".to_owned(),
                        _ => return None,
                    }
                } else {
                    n.clone()
                }
            }
            Token::Str(s) => quote_literal(s),
            Token::LParen => "(".to_owned(),
            Token::RParen => ")".to_owned(),
            Token::Comma => ",".to_owned(),
            Token::Op(op) => (*op).to_owned(),
            Token::Null => "NULL".to_owned(),
            Token::True => "true".to_owned(),
            Token::False => "false".to_owned(),
            Token::Is => {
                let negated = tokens.get(i + 1) == Some(&Token::Not);
                let operand = tokens.get(i + 1 + usize::from(negated));
                let plain = matches!(operand, Some(Token::Null | Token::True | Token::False));
                i += usize::from(negated);
                // SQLite's `a IS b` is null-safe equality.
                match (plain, negated) {
                    (true, false) => "IS",
                    (true, true) => "IS NOT",
                    (false, false) => "IS NOT DISTINCT FROM",
                    (false, true) => "IS DISTINCT FROM",
                }
                .to_owned()
            }
            Token::Not => "NOT".to_owned(),
            Token::And => "AND".to_owned(),
            Token::Or => "OR".to_owned(),
            Token::In => "IN".to_owned(),
            Token::Between => "BETWEEN".to_owned(),
        };
        let glue = !out.is_empty() && !out.ends_with('(') && piece != ")" && piece != ",";
        if glue {
            out.push(' ');
        }
        out.push_str(&piece);
        i += 1;
    }
    (!out.is_empty()).then_some(out)
}

/// Whether the number at `i` sits on one side of a comparison whose other
/// side is a boolean column, or in an `IN` list tested against one.
fn compared_with_boolean(tokens: &[Token], i: usize) -> bool {
    let is_bool = |t: Option<&Token>| matches!(t, Some(Token::Column(_, PgType::Boolean)));
    // In a list: `col [NOT] IN (0, 1)`.
    let open = tokens[..i]
        .iter()
        .rposition(|t| !matches!(t, Token::Number(_) | Token::Comma));
    if let Some(open) = open.filter(|&o| tokens[o] == Token::LParen) {
        let mut j = open;
        if j >= 1 && tokens[j - 1] == Token::In {
            j -= 1;
            if j >= 1 && tokens[j - 1] == Token::Not {
                j -= 1;
            }
            return j >= 1 && is_bool(tokens.get(j - 1));
        }
    }
    let is_cmp = |t: Option<&Token>| matches!(t, Some(Token::Op(_) | Token::Is));
    // Looking left: `col = 1`, `col IS 1`, `col IS NOT 1`.
    let mut j = i;
    if j >= 1 && tokens[j - 1] == Token::Not && j >= 2 && tokens[j - 2] == Token::Is {
        j -= 1;
    }
    if j >= 2 && is_cmp(tokens.get(j - 1)) && is_bool(tokens.get(j - 2)) {
        return true;
    }
    // Looking right: `1 = col`.
    matches!(tokens.get(i + 1), Some(Token::Op(_))) && is_bool(tokens.get(i + 2))
}

fn tokenize(sql: &str, column: &impl Fn(&str) -> Option<(String, PgType)>) -> Option<Vec<Token>> {
    let chars: Vec<char> = sql.chars().collect();
    let mut tokens: Vec<Token> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let sign_allowed = matches!(
            tokens.last(),
            None | Some(
                Token::Op(_)
                    | Token::LParen
                    | Token::Comma
                    | Token::And
                    | Token::Or
                    | Token::Not
                    | Token::Is
                    | Token::In
                    | Token::Between
            )
        );
        let starts_number = |at: usize| {
            chars.get(at).is_some_and(char::is_ascii_digit)
                || (chars.get(at) == Some(&'.')
                    && chars.get(at + 1).is_some_and(char::is_ascii_digit))
        };
        let token = match c {
            '(' => Token::LParen,
            ')' => Token::RParen,
            ',' => Token::Comma,
            '=' => {
                if next == Some('=') {
                    i += 1;
                }
                Token::Op("=")
            }
            '!' if next == Some('=') => {
                i += 1;
                Token::Op("<>")
            }
            '<' => match next {
                Some('=') => {
                    i += 1;
                    Token::Op("<=")
                }
                Some('>') => {
                    i += 1;
                    Token::Op("<>")
                }
                _ => Token::Op("<"),
            },
            '>' if next == Some('=') => {
                i += 1;
                Token::Op(">=")
            }
            '>' => Token::Op(">"),
            '\'' => {
                let (text, end) = quoted(&chars, i, '\'')?;
                i = end;
                Token::Str(text)
            }
            '"' | '`' | '[' => {
                let close = match c {
                    '[' => ']',
                    other => other,
                };
                let (name, end) = quoted(&chars, i, close)?;
                i = end;
                let (target, pg_type) = column(&name)?;
                Token::Column(target, pg_type)
            }
            _ if starts_number(i)
                || ((c == '-' || c == '+') && sign_allowed && starts_number(i + 1)) =>
            {
                let start = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || chars[i] == '.'
                        || ((chars[i] == '-' || chars[i] == '+')
                            && matches!(chars[i - 1], 'e' | 'E')))
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                scan_decimal(&text)?;
                let text = text.strip_prefix('+').unwrap_or(&text).to_owned();
                tokens.push(Token::Number(text));
                continue;
            }
            _ if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let keyword = match word.to_ascii_uppercase().as_str() {
                    "NULL" => Some(Token::Null),
                    "TRUE" => Some(Token::True),
                    "FALSE" => Some(Token::False),
                    "IS" => Some(Token::Is),
                    "NOT" => Some(Token::Not),
                    "AND" => Some(Token::And),
                    "OR" => Some(Token::Or),
                    "IN" => Some(Token::In),
                    "BETWEEN" => Some(Token::Between),
                    "LENGTH" if chars[i..].iter().find(|c| !c.is_whitespace()) == Some(&'(') => {
                        Some(Token::Length)
                    }
                    _ => None,
                };
                let token = match keyword {
                    Some(k) => k,
                    None => {
                        let (target, pg_type) = column(&word)?;
                        Token::Column(target, pg_type)
                    }
                };
                tokens.push(token);
                continue;
            }
            _ => return None,
        };
        tokens.push(token);
        i += 1;
    }
    Some(tokens)
}

/// Reads a quoted string or identifier starting at `open`, with the
/// closing character doubled to escape it; returns the text and the index
/// of the closing character.
fn quoted(chars: &[char], open: usize, close: char) -> Option<(String, usize)> {
    let mut text = String::new();
    let mut i = open + 1;
    loop {
        let c = *chars.get(i)?;
        if c == close {
            if close != ']' && chars.get(i + 1) == Some(&close) {
                text.push(c);
                i += 2;
                continue;
            }
            return Some((text, i));
        }
        text.push(c);
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(name: &str) -> Option<(String, PgType)> {
        match name.to_ascii_lowercase().as_str() {
            "deleted_at" => Some(("deleted_at".into(), PgType::Timestamptz)),
            "active" => Some(("active".into(), PgType::Boolean)),
            "status" => Some(("status".into(), PgType::Text)),
            "qty" => Some(("qty".into(), PgType::BigInt)),
            "my col" => Some(("my col".into(), PgType::BigInt)),
            _ => None,
        }
    }

    #[test]
    fn translates_the_supported_subset() {
        let cases = [
            ("deleted_at IS NULL", "\"deleted_at\" IS NULL"),
            ("Deleted_At is not null", "\"deleted_at\" IS NOT NULL"),
            ("active = 1", "\"active\" = true"),
            (
                "active == 0 AND qty > -5",
                "\"active\" = false AND \"qty\" > -5",
            ),
            ("1 = active", "true = \"active\""),
            ("active IS NOT 1", "\"active\" IS DISTINCT FROM true"),
            ("active", "\"active\""),
            ("NOT active", "NOT \"active\""),
            ("status != 'it''s'", "\"status\" <> 'it''s'"),
            ("status IN ('a', 'b')", "\"status\" IN ('a', 'b')"),
            (
                "(qty >= 1.5e2 OR qty <> 0) AND status IS 'x'",
                "(\"qty\" >= 1.5e2 OR \"qty\" <> 0) AND \"status\" IS NOT DISTINCT FROM 'x'",
            ),
            ("\"my col\" < 3", "\"my col\" < 3"),
            ("active IN (0, 1)", "\"active\" IN (false, true)"),
            ("active NOT IN (1)", "\"active\" NOT IN (true)"),
            ("qty IN (0, 1)", "\"qty\" IN (0, 1)"),
            ("qty BETWEEN -1 AND 10", "\"qty\" BETWEEN -1 AND 10"),
            ("LENGTH( status ) <= 8", "length(\"status\") <= 8"),
            ("[my col] <= +3", "\"my col\" <= 3"),
        ];
        for (sqlite, pg) in cases {
            assert_eq!(
                translate_predicate(sqlite, columns).as_deref(),
                Some(pg),
                "{sqlite}"
            );
        }
    }

    #[test]
    fn refuses_everything_else() {
        for sqlite in [
            "length(qty) > 0",
            "length(status, 2) > 0",
            "length > 0",
            "active IN (2)",
            "unknown_col IS NULL",
            "qty",
            "active = 2",
            "qty + 1 > 2",
            "status LIKE 'a%'",
            "status = 'open",
            "qty > 0x10",
            "",
        ] {
            assert_eq!(translate_predicate(sqlite, columns), None, "{sqlite}");
        }
    }
}
