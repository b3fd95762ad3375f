//! Connection strings as libpq reads them, before anything is filled in: a
//! `postgresql://` or `postgres://` URI, or `key=value` pairs, into the
//! keywords they set. A port of libpq's `conninfo_parse` and
//! `conninfo_uri_parse_options`
//! (<https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING>):
//! same syntax, same keywords, a later keyword replacing an earlier one.
//!
//! Error messages quote what they refer to through [`redact_url`]: a
//! malformed target is often a URL with a password in it.

use std::collections::BTreeMap;

use crate::redact::redact_url;

/// A keyword libpq knows, and the environment variable that supplies its
/// value when neither the target nor a service file does.
pub(crate) struct Keyword {
    /// The keyword (`host`).
    pub name: &'static str,
    /// Its environment variable (`PGHOST`), if it has one.
    pub env: Option<&'static str>,
}

const fn keyword(name: &'static str, env: Option<&'static str>) -> Keyword {
    Keyword { name, env }
}

/// libpq's keywords (PostgreSQL 17), in libpq's order. What ferry does with
/// each is decided in [`crate::libpq`]; a keyword missing here is refused
/// as libpq refuses it.
pub(crate) const KEYWORDS: &[Keyword] = &[
    keyword("service", Some("PGSERVICE")),
    keyword("user", Some("PGUSER")),
    keyword("password", Some("PGPASSWORD")),
    keyword("passfile", Some("PGPASSFILE")),
    keyword("channel_binding", Some("PGCHANNELBINDING")),
    keyword("connect_timeout", Some("PGCONNECT_TIMEOUT")),
    keyword("dbname", Some("PGDATABASE")),
    keyword("host", Some("PGHOST")),
    keyword("hostaddr", Some("PGHOSTADDR")),
    keyword("port", Some("PGPORT")),
    keyword("client_encoding", Some("PGCLIENTENCODING")),
    keyword("options", Some("PGOPTIONS")),
    keyword("application_name", Some("PGAPPNAME")),
    keyword("fallback_application_name", None),
    keyword("keepalives", None),
    keyword("keepalives_idle", None),
    keyword("keepalives_interval", None),
    keyword("keepalives_count", None),
    keyword("tcp_user_timeout", None),
    keyword("sslmode", Some("PGSSLMODE")),
    keyword("sslnegotiation", Some("PGSSLNEGOTIATION")),
    keyword("sslcompression", Some("PGSSLCOMPRESSION")),
    keyword("sslcert", Some("PGSSLCERT")),
    keyword("sslkey", Some("PGSSLKEY")),
    keyword("sslcertmode", Some("PGSSLCERTMODE")),
    keyword("sslpassword", None),
    keyword("sslrootcert", Some("PGSSLROOTCERT")),
    keyword("sslcrl", Some("PGSSLCRL")),
    keyword("sslcrldir", Some("PGSSLCRLDIR")),
    keyword("sslsni", Some("PGSSLSNI")),
    keyword("requirepeer", Some("PGREQUIREPEER")),
    keyword("require_auth", Some("PGREQUIREAUTH")),
    keyword("ssl_min_protocol_version", Some("PGSSLMINPROTOCOLVERSION")),
    keyword("ssl_max_protocol_version", Some("PGSSLMAXPROTOCOLVERSION")),
    keyword("gssencmode", Some("PGGSSENCMODE")),
    keyword("krbsrvname", Some("PGKRBSRVNAME")),
    keyword("gsslib", Some("PGGSSLIB")),
    keyword("gssdelegation", Some("PGGSSDELEGATION")),
    keyword("replication", None),
    keyword("target_session_attrs", Some("PGTARGETSESSIONATTRS")),
    keyword("load_balance_hosts", Some("PGLOADBALANCEHOSTS")),
];

/// The keyword spelled `name`. `keepalives_retries`, tokio-postgres's
/// spelling of `keepalives_count` that ferry accepted before it read
/// targets as libpq does, still names it.
pub(crate) fn find_keyword(name: &str) -> Option<&'static str> {
    let name = if name == "keepalives_retries" {
        "keepalives_count"
    } else {
        name
    };
    KEYWORDS.iter().find(|k| k.name == name).map(|k| k.name)
}

/// What a target sets: keyword → value, unquoted, unescaped and
/// percent-decoded. An empty value is kept: it stops the environment from
/// supplying one, as in libpq.
pub(crate) type Given = BTreeMap<&'static str, String>;

/// Parses a target. The empty string sets nothing.
///
/// # Errors
///
/// What is wrong with it and how to write it instead.
pub(crate) fn parse(text: &str) -> Result<Given, String> {
    match uri_prefix(text) {
        Some(prefix) => parse_uri(&text[prefix..]),
        None => parse_key_values(text),
    }
}

/// `text` (a URL or key=value string, possibly empty) with `extra`
/// keywords set over it, as one key=value string; `text` itself when
/// there is nothing to add. This is how ferry.toml's `[target]` becomes a
/// target: `url` plus libpq fields, a later keyword replacing an earlier
/// one as in libpq.
///
/// # Errors
///
/// What is wrong with `text`, or an unknown keyword in `extra`, with how
/// to write it instead; a password is never quoted.
pub fn target_with(text: &str, extra: &[(String, String)]) -> Result<String, String> {
    let mut given = parse(text)?;
    if extra.is_empty() {
        return Ok(text.to_owned());
    }
    for (name, value) in extra {
        store(&mut given, name, value.clone())?;
    }
    Ok(given
        .iter()
        .map(|(name, value)| {
            format!(
                "{name}='{}'",
                value.replace('\\', "\\\\").replace('\'', "\\'")
            )
        })
        .collect::<Vec<_>>()
        .join(" "))
}

/// The length of the `postgresql://` or `postgres://` that starts `text`.
fn uri_prefix(text: &str) -> Option<usize> {
    ["postgresql://", "postgres://"]
        .iter()
        .find(|prefix| text.starts_with(*prefix))
        .map(|prefix| prefix.len())
}

/// Stores `value` for `name`, as libpq's `conninfo_storeval`: the legacy
/// `requiressl` becomes `sslmode`.
fn store(given: &mut Given, name: &str, value: String) -> Result<(), String> {
    let (name, value) = if name == "requiressl" {
        let mode = if value.starts_with('1') {
            "require"
        } else {
            "prefer"
        };
        ("sslmode", mode.to_owned())
    } else {
        (name, value)
    };
    let Some(keyword) = find_keyword(name) else {
        return Err(format!(
            "\"{}\" is not a libpq connection option; see the keywords of \
             https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-PARAMKEYWORDS",
            redact_url(name)
        ));
    };
    given.insert(keyword, value);
    Ok(())
}

/// `key=value` pairs separated by whitespace; spaces around `=` are
/// allowed; a value may be single-quoted; `\` escapes the next character.
fn parse_key_values(text: &str) -> Result<Given, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut given = Given::new();
    let mut i = 0;
    loop {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        if i >= chars.len() {
            return Ok(given);
        }
        let start = i;
        while i < chars.len() && chars[i] != '=' && !chars[i].is_whitespace() {
            i += 1;
        }
        let name: String = chars[start..i].iter().collect();
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        if i >= chars.len() || chars[i] != '=' {
            return Err(format!(
                "missing \"=\" after \"{}\"; write key=value pairs such as host=db \
                 dbname=app, or a URL starting with postgres://",
                redact_url(&name)
            ));
        }
        i += 1;
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < chars.len() && chars[i] == '\'' {
            i += 1;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(format!(
                            "the quoted value of {} has no closing quote; end it with ', \
                             and write a quote inside it as \\'",
                            redact_url(&name)
                        ))
                    }
                    Some('\\') => {
                        if let Some(c) = chars.get(i + 1) {
                            value.push(*c);
                        }
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(c) => {
                        value.push(*c);
                        i += 1;
                    }
                }
            }
        } else {
            while i < chars.len() && !chars[i].is_whitespace() {
                if chars[i] == '\\' {
                    i += 1;
                    if let Some(c) = chars.get(i) {
                        value.push(*c);
                        i += 1;
                    }
                } else {
                    value.push(chars[i]);
                    i += 1;
                }
            }
        }
        store(&mut given, &name, value)?;
    }
}

/// `[user[:password]@][host][:port][,host[:port]…][/dbname][?key=value&…]`,
/// after the scheme; every part may be percent-encoded.
fn parse_uri(rest: &str) -> Result<Given, String> {
    let mut given = Given::new();
    let mut p = rest;
    // Credentials: an '@' before any '/'.
    if let Some(at) = rest
        .find(['@', '/'])
        .filter(|&i| rest.as_bytes()[i] == b'@')
    {
        let credentials = &rest[..at];
        let (user, password) = match credentials.split_once(':') {
            Some((user, password)) => (user, Some(password)),
            None => (credentials, None),
        };
        if !user.is_empty() {
            given.insert("user", decode(user, "user name")?);
        }
        if let Some(password) = password.filter(|p| !p.is_empty()) {
            given.insert("password", decode(password, "password")?);
        }
        p = &rest[at + 1..];
    }

    // Hosts and ports, comma-separated; an IPv6 address in brackets.
    let mut hosts = String::new();
    let mut ports = String::new();
    let terminator = loop {
        let host;
        if let Some(inside) = p.strip_prefix('[') {
            let Some(close) = inside.find(']') else {
                return Err(
                    "an IPv6 address in the URL has no closing \"]\"; write it as [::1]".into(),
                );
            };
            if close == 0 {
                return Err("an IPv6 address in the URL is empty; write it as [::1]".into());
            }
            host = &inside[..close];
            p = &inside[close + 1..];
            if !p.is_empty() && !p.starts_with([':', '/', '?', ',']) {
                return Err(format!(
                    "unexpected \"{}\" after the IPv6 address [{host}] in the URL; a port \
                     follows as :5432, the database as /name",
                    p.chars().next().unwrap_or_default()
                ));
            }
        } else {
            let end = p.find([':', '/', '?', ',']).unwrap_or(p.len());
            host = &p[..end];
            p = &p[end..];
        }
        hosts.push_str(host);
        let mut next = p.chars().next();
        if next == Some(':') {
            let port_end = p[1..].find(['/', '?', ',']).map_or(p.len(), |i| i + 1);
            ports.push_str(&p[1..port_end]);
            p = &p[port_end..];
            next = p.chars().next();
        }
        if next != Some(',') {
            break next;
        }
        p = &p[1..];
        hosts.push(',');
        ports.push(',');
    };
    if !hosts.is_empty() {
        given.insert("host", decode(&hosts, "host")?);
    }
    if !ports.is_empty() {
        given.insert("port", decode(&ports, "port")?);
    }

    let mut terminator = terminator;
    if terminator == Some('/') {
        p = &p[1..];
        let end = p.find('?').unwrap_or(p.len());
        // An empty database name is not set at all, so that PGDATABASE
        // still applies (as libpq does).
        if end > 0 {
            given.insert("dbname", decode(&p[..end], "database name")?);
        }
        p = &p[end..];
        terminator = p.chars().next();
    }
    if terminator == Some('?') {
        parse_query(&p[1..], &mut given)?;
    }
    Ok(given)
}

/// `key=value&…` of a URL; `ssl=true` is `sslmode=require`, as in JDBC.
fn parse_query(query: &str, given: &mut Given) -> Result<(), String> {
    if query.is_empty() {
        return Ok(());
    }
    for pair in query.split('&') {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(format!(
                "the URL parameter \"{}\" has no \"=\"; write parameters as ?key=value&key=value",
                redact_url(pair)
            ));
        };
        let key = decode(key, "parameter name")?;
        if value.contains('=') {
            return Err(format!(
                "the URL parameter {key} holds a second \"=\"; percent-encode it as %3D"
            ));
        }
        let value = decode(value, &format!("value of {key}"))?;
        if key == "ssl" && value == "true" {
            given.insert("sslmode", "require".to_owned());
            continue;
        }
        store(given, &key, value).map_err(|_| {
            format!(
                "\"{}\" is not a libpq connection option (URL parameter); see the keywords of \
                 https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-PARAMKEYWORDS",
                redact_url(&key)
            )
        })?;
    }
    Ok(())
}

/// Percent-decodes `text`, strictly as libpq does: `%` must start two hex
/// digits, and `%00` is refused. `what` names the part, for the message,
/// which never quotes the text (it may be a password).
fn decode(text: &str, what: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let digit = |at: usize| bytes.get(at).and_then(|b| char::from(*b).to_digit(16));
        let (Some(high), Some(low)) = (digit(i + 1), digit(i + 2)) else {
            return Err(format!(
                "the {what} in the URL holds a % that does not start a %XX escape; write % \
                 itself as %25"
            ));
        };
        let byte = u8::try_from(high * 16 + low).unwrap_or_default();
        if byte == 0 {
            return Err(format!(
                "the {what} in the URL holds %00, which libpq refuses"
            ));
        }
        out.push(byte);
        i += 3;
    }
    String::from_utf8(out)
        .map_err(|_| format!("the {what} in the URL is not UTF-8 once percent-decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Vec<(&'static str, String)> {
        parse(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .into_iter()
            .collect()
    }

    fn pairs(expected: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
        let mut pairs: Vec<_> = expected
            .iter()
            .map(|(k, v)| (*k, (*v).to_owned()))
            .collect();
        pairs.sort();
        pairs
    }

    #[test]
    fn fields_join_a_target_and_read_back_the_same() {
        let extra = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let text = target_with(
            "postgres://app@db:6432/prod?sslmode=require",
            &extra(&[("password", "it's a \\ pw"), ("sslmode", "verify-full")]),
        )
        .unwrap();
        assert_eq!(
            parsed(&text),
            pairs(&[
                ("user", "app"),
                ("host", "db"),
                ("port", "6432"),
                ("dbname", "prod"),
                ("password", "it's a \\ pw"),
                ("sslmode", "verify-full"),
            ])
        );
        assert_eq!(
            parsed(&target_with("", &extra(&[("host", "/tmp"), ("dbname", "a b")])).unwrap()),
            pairs(&[("host", "/tmp"), ("dbname", "a b")])
        );
        assert_eq!(target_with("postgres:///x", &[]).unwrap(), "postgres:///x");
        let err = target_with("", &extra(&[("hots", "db")])).unwrap_err();
        assert!(
            err.contains("\"hots\" is not a libpq connection option"),
            "{err}"
        );
    }

    #[test]
    fn key_values_as_libpq_reads_them() {
        assert_eq!(parsed(""), pairs(&[]));
        assert_eq!(parsed("  \t "), pairs(&[]));
        assert_eq!(parsed("dbname=db"), pairs(&[("dbname", "db")]));
        assert_eq!(
            parsed("host = /var/run/postgresql  port= 5433 user =u"),
            pairs(&[
                ("host", "/var/run/postgresql"),
                ("port", "5433"),
                ("user", "u")
            ])
        );
        assert_eq!(
            parsed(r"password='it\'s a \\secret' dbname=a\ b application_name=''"),
            pairs(&[
                ("password", r"it's a \secret"),
                ("dbname", "a b"),
                ("application_name", "")
            ])
        );
        // A later keyword replaces an earlier one; requiressl is sslmode.
        assert_eq!(
            parsed("dbname=a dbname=b requiressl=1"),
            pairs(&[("dbname", "b"), ("sslmode", "require")])
        );
        assert_eq!(
            parsed("keepalives_retries=3"),
            pairs(&[("keepalives_count", "3")])
        );
        // A quote inside an unquoted value is a quote.
        assert_eq!(parsed("user=o'brien"), pairs(&[("user", "o'brien")]));
    }

    #[test]
    fn malformed_key_values_say_how_to_write_them() {
        let err = parse("host=db bogus").unwrap_err();
        assert!(err.contains("missing \"=\" after \"bogus\""), "{err}");
        let err = parse("host=db nosuch=1").unwrap_err();
        assert!(
            err.contains("\"nosuch\" is not a libpq connection option"),
            "{err}"
        );
        let err = parse("password='unterminated").unwrap_err();
        assert!(err.contains("no closing quote"), "{err}");
        assert!(!err.contains("unterminated"), "{err}");
        // Not a URI (the scheme is misspelled or not at the start): the
        // whole word is a key without "=", and its password is hidden.
        for text in [
            "postgress://u:hunter22@db/x",
            " postgres://u:hunter22@db/x",
            "u:hunter22@db/x",
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains("missing \"=\""), "{err}");
            assert!(!err.contains("hunter22"), "{err}");
        }
        // Keywords are case-sensitive, as in libpq.
        let err = parse("PASSWORD=hunter22").unwrap_err();
        assert!(err.contains("\"PASSWORD\""), "{err}");
        assert!(!err.contains("hunter22"), "{err}");
    }

    #[test]
    fn uris_as_libpq_reads_them() {
        assert_eq!(parsed("postgres:///db"), pairs(&[("dbname", "db")]));
        assert_eq!(parsed("postgresql://"), pairs(&[]));
        assert_eq!(parsed("postgres://"), pairs(&[]));
        assert_eq!(parsed("postgres:///"), pairs(&[]));
        assert_eq!(
            parsed(
                "postgres://u:p%40ss@db.example:6543/app?sslmode=require&application_name=a%20b"
            ),
            pairs(&[
                ("user", "u"),
                ("password", "p@ss"),
                ("host", "db.example"),
                ("port", "6543"),
                ("dbname", "app"),
                ("sslmode", "require"),
                ("application_name", "a b"),
            ])
        );
        // A Unix socket directory, percent-encoded or as a parameter.
        assert_eq!(
            parsed("postgresql://%2Fvar%2Frun%2Fpostgresql/db"),
            pairs(&[("host", "/var/run/postgresql"), ("dbname", "db")])
        );
        assert_eq!(
            parsed("postgres:///db?host=/tmp/sock&port=5433"),
            pairs(&[("host", "/tmp/sock"), ("port", "5433"), ("dbname", "db")])
        );
        // Several hosts, IPv6, a port on only some of them.
        assert_eq!(
            parsed("postgres://a,[::1]:5433,b:5434/db"),
            pairs(&[
                ("host", "a,::1,b"),
                ("port", ",5433,5434"),
                ("dbname", "db")
            ])
        );
        // User without password, empty password, empty user.
        assert_eq!(
            parsed("postgres://u@h"),
            pairs(&[("user", "u"), ("host", "h")])
        );
        assert_eq!(
            parsed("postgres://u:@h"),
            pairs(&[("user", "u"), ("host", "h")])
        );
        assert_eq!(
            parsed("postgres://:pw@h"),
            pairs(&[("password", "pw"), ("host", "h")])
        );
        // The query overrides the URI's own parts; ssl=true is require.
        assert_eq!(
            parsed("postgres://h/db?dbname=other&ssl=true"),
            pairs(&[("host", "h"), ("dbname", "other"), ("sslmode", "require")])
        );
        assert_eq!(
            parsed("postgres://h/db?"),
            pairs(&[("host", "h"), ("dbname", "db")])
        );
        assert_eq!(
            parsed("postgres://h?dbname=d"),
            pairs(&[("host", "h"), ("dbname", "d")])
        );
    }

    #[test]
    fn malformed_uris_say_what_is_wrong_without_the_password() {
        let cases = [
            (
                "postgres://u:hunter22@h/db?nosuch=1",
                "\"nosuch\" is not a libpq connection option",
            ),
            ("postgres://u:hunter22@h/db?sslmode", "has no \"=\""),
            ("postgres://u:hunter22@h/db?a=b=c", "second \"=\""),
            ("postgres://u:hunter%2@h/db", "%25"),
            ("postgres://u:hunter%00@h/db", "%00"),
            ("postgres://u:hunter22@[::1/db", "no closing \"]\""),
            ("postgres://u:hunter22@[]/db", "empty"),
            ("postgres://u:hunter22@[::1]x/db", "unexpected \"x\""),
            ("postgres://h/db?password=hunter%zz22", "%25"),
        ];
        for (text, says) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
            assert!(!err.contains("hunter"), "{text}: {err}");
        }
    }

    #[test]
    fn every_keyword_with_a_variable_is_found() {
        for keyword in KEYWORDS {
            assert_eq!(find_keyword(keyword.name), Some(keyword.name));
            if let Some(env) = keyword.env {
                assert!(env.starts_with("PG"), "{env}");
            }
        }
        assert_eq!(find_keyword("nosuch"), None);
    }
}
