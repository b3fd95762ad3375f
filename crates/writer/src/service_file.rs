//! Connection service files (`pg_service.conf`), read as libpq's
//! `parseServiceFile` reads them
//! (<https://www.postgresql.org/docs/current/libpq-pgservice.html>): INI
//! groups named `[service]`, each a list of `keyword=value` lines; and
//! where libpq looks for them (`PGSERVICEFILE` or `~/.pg_service.conf`,
//! then `PGSYSCONFDIR/pg_service.conf`).
//!
//! Leading and trailing whitespace of a line is ignored, and so are empty
//! lines and lines starting with `#`; a value runs from the first `=` to
//! the end of the line, unquoted and unescaped, and the keyword is
//! everything before it (so `host = db` is the unknown keyword `host `, a
//! syntax error, as in libpq). The first setting of a keyword in a group
//! wins.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::conninfo::find_keyword;
use crate::libpq::{Environment, Origin, Problem, Setting, SYSCONFDIR};

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

/// Fills in, from the service the target or `PGSERVICE` names, every
/// keyword the target left unset (libpq's `parseServiceInfo`).
pub(crate) fn apply_service(
    map: &mut HashMap<&'static str, Setting>,
    env: &Environment,
) -> Result<(), Problem> {
    let service = match map.get("service") {
        Some(setting) => setting.value.clone(),
        None => match env.var("PGSERVICE") {
            Some(name) => name.to_owned(),
            None => return Ok(()),
        },
    };
    let mut files = Vec::new();
    match env.var("PGSERVICEFILE") {
        // Named explicitly, it must exist.
        Some(file) => {
            let file = PathBuf::from(file);
            if !file.exists() {
                return Err(Problem::Settings(format!(
                    "service file {} (from PGSERVICEFILE) not found; fix PGSERVICEFILE or unset \
                     it",
                    file.display()
                )));
            }
            files.push(file);
        }
        None => files.extend(env.in_home(".pg_service.conf").filter(|f| f.exists())),
    }
    let sysconfdir = env.var("PGSYSCONFDIR").unwrap_or(SYSCONFDIR);
    files.extend(Some(Path::new(sysconfdir).join("pg_service.conf")).filter(|f| f.exists()));
    for file in &files {
        let text = std::fs::read_to_string(file).map_err(|e| {
            Problem::Settings(format!(
                "cannot read service file {}: {e}; make it readable or set PGSERVICEFILE",
                file.display()
            ))
        })?;
        let Some(settings) = find_service(&text, &service, file).map_err(Problem::Settings)? else {
            continue;
        };
        for (key, value) in settings {
            map.entry(key).or_insert_with(|| Setting {
                value,
                origin: Origin::Service {
                    name: service.clone(),
                    file: file.clone(),
                },
            });
        }
        return Ok(());
    }
    let searched: Vec<String> = match env.var("PGSERVICEFILE") {
        Some(file) => vec![file.to_owned()],
        None => vec!["~/.pg_service.conf".to_owned()],
    }
    .into_iter()
    .chain(Some(format!("{sysconfdir}/pg_service.conf")))
    .collect();
    Err(Problem::Settings(format!(
        "definition of service \"{service}\" not found in {}; add a [{service}] group to one \
         of them or set PGSERVICEFILE",
        searched.join(" or ")
    )))
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
