//! Hiding passwords: the target as it may be shown in messages and logs,
//! and the secrets a front end scrubs from text it does not control.

/// The target text with everything that may be a password replaced by
/// `***`, for messages and logs.
///
/// It does not depend on the text being a valid connection string: a
/// mistyped scheme (`postgress://`, `POSTGRES://`, `mysql://`), a URL
/// without a scheme (`u:pw@host/db`), leading spaces, an unencoded `?`,
/// `/` or `@` in the password, and `password=` in any case, in a query or
/// in key=value pairs, are all hidden. When in doubt it hides too much (a
/// query value holding an `@` hides the host too), never too little.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    // Replace from the end so earlier ranges stay valid.
    for range in secret_ranges(url).into_iter().rev() {
        out.replace_range(range, "***");
    }
    out
}

/// Every substring of `text` that [`redact_url`] hides, and its
/// percent-decoded form, for scrubbing them from text that quotes them
/// (an error from a library, a log line).
pub fn secrets(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for range in secret_ranges(text) {
        let raw = &text[range];
        let unquoted = raw.trim_matches('\'');
        for candidate in [
            raw.to_owned(),
            unquoted.to_owned(),
            percent_decode(unquoted),
        ] {
            if !candidate.is_empty() && !found.contains(&candidate) {
                found.push(candidate);
            }
        }
    }
    found
}

/// Byte ranges of `text` that may hold a password, sorted and disjoint.
fn secret_ranges(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    if let Some(range) = userinfo_password(text) {
        ranges.push(range);
    }
    ranges.extend(password_values(text));
    ranges.sort_by_key(|r| r.start);
    // Merge overlaps so that replacing from the end stays valid.
    let mut merged: Vec<std::ops::Range<usize>> = Vec::new();
    for range in ranges {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    merged
}

/// The password of `scheme://user:password@host` (any scheme, any case)
/// or of `user:password@host`: from the first `:` of the user info to the
/// last `@` of the text, so a password holding `/`, `?`, `#` or `@` is
/// hidden whole.
fn userinfo_password(text: &str) -> Option<std::ops::Range<usize>> {
    let at = text.rfind('@')?;
    let start = match text.find("://") {
        Some(scheme) if scheme < at => scheme + 3,
        Some(_) => return None,
        None => {
            // Without a scheme, only `user:password@…` with nothing that
            // looks like key=value pairs before the `@`.
            let lead = text.len() - text.trim_start().len();
            let userinfo = &text[lead..at];
            if userinfo.contains('=') || userinfo.contains(char::is_whitespace) {
                return None;
            }
            lead
        }
    };
    let colon = start + text[start..at].find(':')?;
    Some(colon + 1..at)
}

/// The values of every `password=` (any case, spaces around `=`, quoted or
/// not), in a URL query or in key=value pairs. An unquoted value ends at
/// whitespace, or at an `&` that starts another `key=`.
fn password_values(text: &str) -> Vec<std::ops::Range<usize>> {
    let lower = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let mut ranges = Vec::new();
    let mut from = 0;
    while let Some(found) = lower[from..].find("password") {
        let mut i = from + found + "password".len();
        from = i;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] != b'=' {
            continue;
        }
        i += 1;
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        let start = i;
        if i < bytes.len() && bytes[i] == b'\'' {
            i += 1;
            while i < bytes.len() && bytes[i] != b'\'' {
                if bytes[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i = (i + 1).min(bytes.len());
        } else {
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                if bytes[i] == b'&' && starts_key(&bytes[i + 1..]) {
                    break;
                }
                i += 1;
            }
        }
        let end = i.min(bytes.len());
        ranges.push(start..end);
        from = end.max(from);
    }
    ranges
}

/// Whether `bytes` starts with `name=`.
fn starts_key(bytes: &[u8]) -> bool {
    let name = bytes
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
        .count();
    name > 0 && bytes.get(name) == Some(&b'=')
}

/// `text` percent-decoded leniently: a malformed escape stays as written,
/// since the text being searched for secrets may not parse at all.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let high = char::from(bytes[i + 1]).to_digit(16);
            let low = char::from(bytes[i + 2]).to_digit(16);
            if let (Some(high), Some(low)) = (high, low) {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_url_passwords() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db.example:5432/prod"),
            "postgres://app:***@db.example:5432/prod"
        );
        assert_eq!(
            redact_url("postgresql://app:p@ss/w0rd@db/prod?sslmode=require"),
            "postgresql://app:***@db/prod?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://db/prod?user=app&password=s3cret&sslmode=disable"),
            "postgres://db/prod?user=app&password=***&sslmode=disable"
        );
        assert_eq!(
            redact_url("postgres://app@db/prod"),
            "postgres://app@db/prod"
        );
        assert_eq!(redact_url("postgres://db/prod"), "postgres://db/prod");
    }

    #[test]
    fn redacts_key_value_passwords() {
        assert_eq!(
            redact_url("host=db password=s3cret user=app"),
            "host=db password=*** user=app"
        );
        assert_eq!(
            redact_url("host=db password = 'a b\\' c' user=app"),
            "host=db password = *** user=app"
        );
        assert_eq!(redact_url("password="), "password=***");
        assert_eq!(redact_url("host=db"), "host=db");
    }

    #[test]
    fn redacts_passwords_of_malformed_targets() {
        let cases = [
            "postgress://u:hunter22@db/app",
            "POSTGRES://u:hunter22@db/app",
            "u:hunter22@db/app",
            " postgres://u:hunter22@db/app",
            "postgres://u:hun?ter22@db/app?sslmode=disable",
            "postgres://u:hun#ter22@db/app",
            "mysql://u:hunter22@db/app",
            "host=db PASSWORD=hunter22 user=u",
            "host=db Password = 'hunter ter22' user=u",
            "postgres://db/app?PassWord=hunter22&sslmode=disable",
            "postgres://db/app?password=hunter22&x",
        ];
        for case in cases {
            let shown = redact_url(case);
            assert!(!shown.contains("hunter"), "{case} -> {shown}");
            assert!(!shown.contains("ter22"), "{case} -> {shown}");
            assert!(shown.contains("***"), "{case} -> {shown}");
            assert!(
                secrets(case).iter().any(|s| s.contains("ter22")),
                "{case}: {:?}",
                secrets(case)
            );
        }
        assert_eq!(redact_url("u:pw@db/app"), "u:***@db/app");
        assert_eq!(
            redact_url("postgres://db/app?password=a%20b&sslmode=disable"),
            "postgres://db/app?password=***&sslmode=disable"
        );
        assert!(secrets("postgres://db/app?password=a%20b").contains(&"a b".to_owned()));
        assert!(secrets("postgres://u@db/app").is_empty());
        assert!(secrets("host=db user=a@b").is_empty());
    }

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(percent_decode("a%20b%2"), "a b%2");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%41"), "A");
    }
}
