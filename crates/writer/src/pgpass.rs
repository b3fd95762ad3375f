//! The password file (`~/.pgpass`, `PGPASSFILE`, `passfile`), read as
//! libpq's `passwordFromFile` reads it
//! (<https://www.postgresql.org/docs/current/libpq-pgpass.html>).
//!
//! Each line is `hostname:port:database:username:password`; the first line
//! whose four fields match is used. A field of just `*` matches anything;
//! `\` escapes a `:` or `\` in a field; lines starting with `#` are
//! comments. A file that group or others may read, or that is not a plain
//! file, is ignored with a warning, as libpq ignores it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The password of the first line of `text` that matches.
pub(crate) fn find_password(
    text: &str,
    host: &str,
    port: &str,
    dbname: &str,
    user: &str,
) -> Option<String> {
    text.split('\n')
        .map(|line| line.trim_end_matches(['\r', '\n']))
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .find_map(|line| {
            let rest = match_field(line, host)?;
            let rest = match_field(rest, port)?;
            let rest = match_field(rest, dbname)?;
            let rest = match_field(rest, user)?;
            Some(unescape_password(rest))
        })
}

/// What follows the field at the start of `line` (after its `:`) when the
/// field is `*` or, unescaped, exactly `token`. libpq's
/// `pwdfMatchesString`.
fn match_field<'a>(line: &'a str, token: &str) -> Option<&'a str> {
    if let Some(rest) = line.strip_prefix("*:") {
        return Some(rest);
    }
    let mut chars = line.char_indices();
    let mut wanted = token.chars();
    loop {
        let (at, c) = chars.next()?;
        let (escaped, c) = if c == '\\' {
            (true, chars.next()?.1)
        } else {
            (false, c)
        };
        let next_wanted = wanted.clone().next();
        if c == ':' && !escaped && next_wanted.is_none() {
            return Some(&line[at + 1..]);
        }
        if next_wanted != Some(c) {
            return None;
        }
        wanted.next();
    }
}

/// The password field: up to an unescaped `:` or the end, `\` dropped
/// before the character it escapes.
fn unescape_password(field: &str) -> String {
    let mut password = String::new();
    let mut chars = field.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ':' => break,
            '\\' if chars.peek().is_some() => password.extend(chars.next()),
            c => password.push(c),
        }
    }
    password
}

/// The text of the password file at `path`, or `None` when there is none
/// to use: missing, unreadable, not a plain file, or readable by group or
/// others (the last two with a warning, once per file per process).
pub(crate) fn read(path: &Path) -> Option<String> {
    let metadata = std::fs::metadata(path).ok()?;
    if !metadata.is_file() {
        warn_once(
            path,
            format!(
                "password file \"{}\" is not a plain file; ignoring it",
                path.display()
            ),
        );
        return None;
    }
    if let Some(mode) = group_or_world_access(&metadata) {
        warn_once(
            path,
            format!(
                "password file \"{}\" has group or world access (mode {mode:04o}); \
                 permissions should be u=rw (0600) or less: ignoring it (chmod 600 it)",
                path.display()
            ),
        );
        return None;
    }
    std::fs::read_to_string(path).ok()
}

/// The file's permission bits when group or others have any access.
#[cfg(unix)]
fn group_or_world_access(metadata: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o7777;
    (mode & 0o077 != 0).then_some(mode)
}

/// Elsewhere the file's directory protects it, as libpq assumes on Windows.
#[cfg(not(unix))]
fn group_or_world_access(_metadata: &std::fs::Metadata) -> Option<u32> {
    None
}

/// Logs `message` as a warning the first time `path` is warned about: every
/// connection (and ferry opens many) reads the file again.
fn warn_once(path: &Path, message: String) {
    static WARNED: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
    let first = WARNED
        .lock()
        .map_or(true, |mut warned| warned.insert(path.to_owned()));
    if first {
        tracing::warn!("{message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# host:port:db:user:password
db.internal:5432:app:loader:first
db.internal:5432:app:loader:shadowed
*:*:reports:*:any-user
localhost:5432:*:root:local
/tmp/sock:5433:*:*:from-socket
h\\:colon:5432:*:*:escaped-host
*:*:*:quoting:a\\:b\\\\c:ignored\r
";

    fn find(host: &str, port: &str, dbname: &str, user: &str) -> Option<String> {
        find_password(FILE, host, port, dbname, user)
    }

    #[test]
    fn the_first_matching_line_wins() {
        assert_eq!(
            find("db.internal", "5432", "app", "loader").as_deref(),
            Some("first")
        );
        assert_eq!(find("db.internal", "5433", "app", "loader"), None);
        assert_eq!(find("db.internal", "5432", "app", "other"), None);
        assert_eq!(find("db", "5432", "app", "loader"), None);
        assert_eq!(find("db.internal.x", "5432", "app", "loader"), None);
    }

    #[test]
    fn star_matches_a_whole_field_only() {
        assert_eq!(
            find("any", "1", "reports", "u").as_deref(),
            Some("any-user")
        );
        assert_eq!(
            find("localhost", "5432", "x", "root").as_deref(),
            Some("local")
        );
        assert_eq!(
            find("/tmp/sock", "5433", "x", "y").as_deref(),
            Some("from-socket")
        );
        assert_eq!(find_password("d*:*:*:*:pw", "db", "1", "d", "u"), None);
        assert_eq!(
            find_password("*x:*:*:*:pw", "*x", "1", "d", "u").as_deref(),
            Some("pw")
        );
    }

    #[test]
    fn backslash_escapes_colons_and_backslashes() {
        assert_eq!(
            find("h:colon", "5432", "d", "u").as_deref(),
            Some("escaped-host")
        );
        // The password ends at an unescaped ':'; a CR before the newline
        // is not part of it.
        assert_eq!(find("h", "1", "d", "quoting").as_deref(), Some("a:b\\c"));
        assert_eq!(
            find_password("*:*:*:*:trailing\\", "h", "1", "d", "u").as_deref(),
            Some("trailing\\")
        );
        assert_eq!(
            find_password("*:*:*:*:", "h", "1", "d", "u").as_deref(),
            Some("")
        );
        // A line with too few fields matches nothing.
        assert_eq!(find_password("h:1:d:u", "h", "1", "d", "u"), None);
        assert_eq!(find_password("h:1:d", "h", "1", "d", "u"), None);
        // A comment only when '#' starts the line.
        assert_eq!(
            find_password("#h:1:d:u:no\n#x:1:d:u:x", "#h", "1", "d", "u"),
            None
        );
    }

    #[cfg(unix)]
    #[test]
    fn an_open_file_is_ignored_and_a_private_one_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("ferry-pgpass-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pgpass");
        std::fs::write(&path, "*:*:*:*:pw\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read(&path).as_deref(), Some("*:*:*:*:pw\n"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(read(&path), None);
        assert_eq!(read(&dir), None);
        assert_eq!(read(&dir.join("missing")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
