//! Connection service files (`pg_service.conf`), read as libpq's
//! `parseServiceFile` reads them
//! (<https://www.postgresql.org/docs/current/libpq-pgservice.html>): INI
//! groups named `[service]`, each a list of `keyword=value` lines.
//!
//! Leading and trailing whitespace of a line is ignored, and so are empty
//! lines and lines starting with `#`; a value runs from the first `=` to
//! the end of the line, unquoted and unescaped, and the keyword is
//! everything before it (so `host = db` is the unknown keyword `host `, a
//! syntax error, as in libpq). The first setting of a keyword in a group
//! wins.

use std::path::Path;

use crate::conninfo::find_keyword;

/// The settings of group `[service]` in `text` (the file `file`), in the
/// order written, or `None` when the file has no such group.
///
/// # Errors
///
/// A line of the group that is not a `keyword=value` of a libpq keyword,
/// or that names another service, with its line number.
pub(crate) fn find_service(
    text: &str,
    service: &str,
    file: &Path,
) -> Result<Option<Vec<(&'static str, String)>>, String> {
    let mut found: Option<Vec<(&'static str, String)>> = None;
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(group) = line.strip_prefix('[') {
            if found.is_some() {
                break;
            }
            let named = group
                .strip_prefix(service)
                .is_some_and(|rest| rest.starts_with(']'));
            if named {
                found = Some(Vec::new());
            }
            continue;
        }
        let Some(settings) = found.as_mut() else {
            continue;
        };
        let at = || format!("{}, line {}", file.display(), number + 1);
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!(
                "syntax error in service file {}: expected keyword=value",
                at()
            ));
        };
        if key == "service" {
            return Err(format!(
                "service file {}: a service cannot name another service; copy its settings \
                 instead",
                at()
            ));
        }
        let Some(keyword) = find_keyword(key) else {
            return Err(format!(
                "syntax error in service file {}: \"{key}\" is not a libpq connection option \
                 (write keyword=value with no space before the =)",
                at()
            ));
        };
        if !settings.iter().any(|(k, _)| *k == keyword) {
            settings.push((keyword, value.to_owned()));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# ferry's services
[other]
host=elsewhere

  [app]   
host=db.internal
port=6543
  dbname=app  
password=p=w # not a comment
# host=ignored
user=loader
user=second

[app-ro]
user=reader
";

    fn find(service: &str) -> Result<Option<Vec<(&'static str, String)>>, String> {
        find_service(FILE, service, Path::new("/etc/pg_service.conf"))
    }

    #[test]
    fn reads_the_named_group_only() {
        let settings = find("app").unwrap().unwrap();
        assert_eq!(
            settings,
            vec![
                ("host", "db.internal".to_owned()),
                ("port", "6543".to_owned()),
                ("dbname", "app".to_owned()),
                ("password", "p=w # not a comment".to_owned()),
                ("user", "loader".to_owned()),
            ]
        );
        assert_eq!(
            find("app-ro").unwrap().unwrap(),
            vec![("user", "reader".to_owned())]
        );
        assert_eq!(find("ap").unwrap(), None);
        assert_eq!(find("missing").unwrap(), None);
        let empty = find_service("[app]\n", "app", Path::new("f")).unwrap();
        assert_eq!(empty, Some(Vec::new()));
    }

    #[test]
    fn refuses_what_libpq_refuses_with_the_line() {
        let path = Path::new("/home/u/.pg_service.conf");
        let err = find_service("[app]\nhost = db\n", "app", path).unwrap_err();
        assert!(err.contains(".pg_service.conf, line 2"), "{err}");
        assert!(err.contains("\"host \""), "{err}");
        let err = find_service("[app]\n\nhost\n", "app", path).unwrap_err();
        assert!(err.contains("line 3: expected keyword=value"), "{err}");
        let err = find_service("[app]\nservice=other\n", "app", path).unwrap_err();
        assert!(err.contains("cannot name another service"), "{err}");
        // Errors outside the group are not looked at.
        assert!(find_service("[x]\nbogus\n[app]\nport=1\n", "app", path).is_ok());
    }
}
