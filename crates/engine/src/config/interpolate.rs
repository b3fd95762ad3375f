//! `${NAME}` in ferry.toml's string values: the environment variable
//! `NAME`, so that a secret (`password = "${PGPASSWORD_PROD}"`) stays out
//! of the file. `$${` is a literal `${`; any other `$` is itself. An unset
//! variable is an error naming the key and the variable, never an empty
//! string that would connect somewhere else or with no password.

use toml::Value;

use crate::exit::UsageError;

/// Replaces every `${NAME}` in the string values of `table` (nested tables
/// and arrays included; keys are left as written), reading variables
/// through `lookup`.
pub fn interpolate(
    table: &mut toml::Table,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), UsageError> {
    for (key, value) in table.iter_mut() {
        interpolate_value(value, key, lookup)?;
    }
    Ok(())
}

fn interpolate_value(
    value: &mut Value,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), UsageError> {
    match value {
        Value::String(text) => *text = expand(text, path, lookup)?,
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate_value(item, &format!("{path}[{i}]"), lookup)?;
            }
        }
        Value::Table(table) => {
            for (key, item) in table.iter_mut() {
                interpolate_value(item, &format!("{path}.{key}"), lookup)?;
            }
        }
        Value::Integer(_) | Value::Float(_) | Value::Boolean(_) | Value::Datetime(_) => {}
    }
    Ok(())
}

/// `text` with its references expanded; `key` names it in errors.
fn expand(
    text: &str,
    key: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, UsageError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let Some(end) = tail.find('}') else {
                return Err(UsageError::new(format!(
                    "{key}: '${{' without a closing '}}'; write ${{NAME}} for a variable or $${{ \
                     for a literal ${{"
                )));
            };
            let name = &tail[..end];
            if !is_variable_name(name) {
                return Err(UsageError::new(format!(
                    "{key}: '${{{name}}}' is not a variable name (letters, digits and _, not \
                     starting with a digit); write $${{ for a literal ${{"
                )));
            }
            let value = lookup(name).ok_or_else(|| {
                UsageError::new(format!(
                    "{key}: ${{{name}}} is not set; export {name} (or write $${{ for a literal \
                     ${{)"
                ))
            })?;
            out.push_str(&value);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The process environment, for [`interpolate`]: a variable that is unset
/// or not valid Unicode is missing.
pub fn from_process(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PW" => Some("s3cr$t}".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn run(text: &str) -> Result<String, String> {
        expand(text, "target.password", &env).map_err(|e| e.to_string())
    }

    #[test]
    fn expands_references() {
        assert_eq!(run("${PW}").unwrap(), "s3cr$t}");
        assert_eq!(run("a${PW}b${EMPTY}c").unwrap(), "as3cr$t}bc");
        assert_eq!(run("no refs").unwrap(), "no refs");
        // A value is never expanded again.
        assert_eq!(run("${PW}${PW}").unwrap(), "s3cr$t}s3cr$t}");
    }

    #[test]
    fn escapes_and_lone_dollars_stay_literal() {
        assert_eq!(run("$${PW}").unwrap(), "${PW}");
        assert_eq!(run("pa$$word $x $").unwrap(), "pa$$word $x $");
        // Read left to right: `$`, then the escape `$${`.
        assert_eq!(run("$$${PW}").unwrap(), "$${PW}");
    }

    #[test]
    fn errors_name_the_key_and_variable() {
        assert_eq!(
            run("${NOPE}").unwrap_err(),
            "target.password: ${NOPE} is not set; export NOPE (or write $${ for a literal ${)"
        );
        assert!(run("${PW").unwrap_err().contains("without a closing"));
        assert!(run("${1X}").unwrap_err().contains("not a variable name"));
        assert!(run("${}").unwrap_err().contains("not a variable name"));
    }

    #[test]
    fn walks_tables_and_arrays() {
        let mut table: toml::Table =
            toml::from_str("include = ['a', '${PW}']\n[target]\npassword = '${PW}'\nport = 5")
                .unwrap();
        interpolate(&mut table, &env).unwrap();
        assert_eq!(table["include"][1].as_str(), Some("s3cr$t}"));
        assert_eq!(table["target"]["password"].as_str(), Some("s3cr$t}"));
        let mut table: toml::Table = toml::from_str("exclude = ['${NOPE}']").unwrap();
        let err = interpolate(&mut table, &env).unwrap_err();
        assert!(err.to_string().starts_with("exclude[0]: ${NOPE}"), "{err}");
    }
}
