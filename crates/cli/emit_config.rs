//! `ferry plan --emit-config FILE`: the column types the stored values
//! call for, written as a ferry.toml to read, edit and pass with
//! `--config`, so the choice ferry made from the data becomes the user's.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};

use ferry_engine::exit::UsageError;
use ferry_engine::stored_types::Widening;

/// The config text: a header saying where it came from, then one
/// `[tables.T.columns.C]` table per widened column with its type and, as
/// a comment, why.
pub fn render(source: &Path, widenings: &[Widening]) -> String {
    let mut out = format!(
        "# ferry.toml written by `ferry plan --emit-config` from {}.\n\
         # Each column below holds values its declared type cannot take exactly;\n\
         # the type given is the narrowest that holds every value it stores now.\n\
         # Edit freely, then pass it with --config (a type set here is never widened).\n",
        source.display()
    );
    if widenings.is_empty() {
        out.push_str("# Every column's stored values fit its declared type: nothing to set.\n");
    }
    for w in widenings {
        let _ = write!(
            out,
            "\n[tables.{}.columns.{}]\n# {}\ntype = {}\n",
            toml_key(&w.table),
            toml_key(&w.column),
            w.warning.replace('\n', " "),
            toml_string(&w.pg_type.to_string()),
        );
    }
    out
}

/// Writes the config to `path`, which must not exist yet: an existing
/// ferry.toml holds the user's own settings.
pub fn write(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(UsageError::new(format!(
                "--emit-config {}: the file exists; ferry does not overwrite a config, so \
                 remove it or name another file",
                path.display()
            ))
            .into())
        }
        other => other.with_context(|| format!("creating {}", path.display()))?,
    };
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// A TOML key: bare when TOML allows it, else a quoted string.
fn toml_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_owned()
    } else {
        toml_string(key)
    }
}

/// A TOML basic string, escaping what TOML requires.
fn toml_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_model::PgType;

    #[test]
    fn quotes_keys_toml_cannot_take_bare() {
        assert_eq!(toml_key("notes"), "notes");
        assert_eq!(toml_key("my table"), "\"my table\"");
        assert_eq!(toml_key("a.b"), "\"a.b\"");
        assert_eq!(toml_key(""), "\"\"");
        assert_eq!(toml_string("q\"\\\u{1}"), "\"q\\\"\\\\\\u0001\"");
    }

    #[test]
    fn renders_a_table_per_column_that_toml_reads_back() {
        let widenings = [
            Widening {
                table: "notes".to_owned(),
                column: "sfld".to_owned(),
                pg_type: PgType::Text,
                warning: "column sfld: declared INTEGER but 3 stored values …".to_owned(),
            },
            Widening {
                table: "odd \"name\"".to_owned(),
                column: "a.b".to_owned(),
                pg_type: PgType::DoublePrecision,
                warning: "why".to_owned(),
            },
        ];
        let text = render(Path::new("app.db"), &widenings);
        let parsed: toml::Value = toml::from_str(&text).expect(&text);
        assert_eq!(
            parsed["tables"]["notes"]["columns"]["sfld"]["type"].as_str(),
            Some("text")
        );
        assert_eq!(
            parsed["tables"]["odd \"name\""]["columns"]["a.b"]["type"].as_str(),
            Some("double precision")
        );
        assert!(text.contains("# column sfld: declared INTEGER but 3 stored values …\n"));
    }
}
