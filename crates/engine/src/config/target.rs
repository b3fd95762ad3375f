//! `[target]` in ferry.toml: the target database as `url = "…"` (a libpq
//! URL or key=value string), as libpq keywords (`host`, `port`, `user`,
//! `dbname`, `password`, `sslmode`…), or both, the keywords set over the
//! URL. It becomes one connection string, resolved like `--target`: what
//! it leaves unset comes from the service file, the `PG*` variables,
//! `~/.pgpass` and libpq's defaults.

use std::collections::BTreeMap;

use toml::Value;

use crate::exit::UsageError;

/// `[target]` as written: `url` and libpq keywords, each a string or a
/// whole number (`port = 5432`).
pub type TargetConfig = BTreeMap<String, Value>;

/// The connection string `[target]` stands for, and the passwords it
/// holds (the `password` field as given, and whatever may be one in the
/// `url`), for a front end to scrub from text it does not control.
pub fn target_text(section: TargetConfig) -> Result<(String, Vec<String>), UsageError> {
    if section.is_empty() {
        return Err(UsageError::new(
            "[target] is empty: give url = \"postgres://…\" or libpq keywords (host, port, user, \
             dbname, password, sslmode…), or remove it",
        ));
    }
    let mut url = String::new();
    let mut fields = Vec::new();
    for (key, value) in section {
        let text = match value {
            Value::String(text) => text,
            Value::Integer(n) => n.to_string(),
            other => {
                return Err(UsageError::new(format!(
                    "[target] {key}: a {}; write a string (or a whole number for port and \
                     timeouts)",
                    other.type_str()
                )))
            }
        };
        if key == "url" {
            url = text;
        } else {
            fields.push((key, text));
        }
    }
    let text = ferry_writer::target_with(&url, &fields)
        .map_err(|reason| UsageError::new(format!("[target]: {reason}")))?;
    let mut secrets = ferry_writer::secrets(&url);
    secrets.extend(
        fields
            .into_iter()
            .filter(|(key, _)| key == "password")
            .map(|(_, value)| value),
    );
    Ok((text, secrets))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(toml: &str) -> Result<String, String> {
        let section: TargetConfig = toml::from_str(toml).unwrap();
        target_text(section)
            .map(|(text, _)| text)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_url_alone_is_kept_as_written() {
        assert_eq!(
            text("url = 'postgres://app@db/app'").unwrap(),
            "postgres://app@db/app"
        );
    }

    #[test]
    fn fields_become_key_values() {
        assert_eq!(
            text("host = 'db'\nport = 6432\nuser = 'app'\npassword = \"it's\"").unwrap(),
            "host='db' password='it\\'s' port='6432' user='app'"
        );
        let both = text("url = 'postgres://app@db/app'\npassword = 'pw'").unwrap();
        assert!(
            both.contains("password='pw'") && both.contains("host='db'"),
            "{both}"
        );
    }

    #[test]
    fn finds_the_passwords() {
        let section: TargetConfig =
            toml::from_str("url = 'postgres://u:a%20b@db/x'\npassword = \"it's\"").unwrap();
        let (_, secrets) = target_text(section).unwrap();
        assert!(secrets.contains(&"a b".to_owned()), "{secrets:?}");
        assert!(secrets.contains(&"it's".to_owned()), "{secrets:?}");
    }

    #[test]
    fn refuses_unknown_keywords_and_odd_values() {
        assert!(text("hots = 'db'")
            .unwrap_err()
            .contains("\"hots\" is not a libpq"));
        assert!(text("port = true")
            .unwrap_err()
            .starts_with("[target] port: a boolean"));
        assert!(text("").unwrap_err().starts_with("[target] is empty"));
        assert!(text("url = 'postgres://[::1/db'")
            .unwrap_err()
            .contains("no closing"));
    }
}
