//! Opening a connection to the target, with TLS chosen by `sslmode` as
//! libpq chooses it, and connection strings shown only with the password
//! hidden.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, Config, NoTls};

use crate::tls::{self, TlsMode};
use crate::WriteError;

/// How long connecting may take, TLS and authentication included, when
/// the target names no `connect_timeout` (libpq waits forever by default,
/// which turns a server that accepts TCP and never answers into a hang).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// TCP keepalive: the first probe after this much silence, then one every
/// [`KEEPALIVE_INTERVAL`], [`KEEPALIVE_RETRIES`] times, so a target host
/// that vanished mid-run ends the connection in about a minute instead of
/// the kernel's two hours. Set `keepalives_idle` in the target to change it.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_RETRIES: u32 = 3;

/// `lock_timeout` of every session [`connect`] opens, in milliseconds; 0
/// leaves the server's setting.
static LOCK_TIMEOUT_MS: AtomicU64 = AtomicU64::new(0);

/// Makes every session opened afterwards give up waiting for a lock (a
/// table another session holds, `TRUNCATE` or DDL behind a long query)
/// after `timeout`, with SQLSTATE 55P03, instead of waiting silently
/// forever. Process-wide because every connection, reconnections
/// included, must carry it; `None` leaves the server's `lock_timeout`.
pub fn set_lock_timeout(timeout: Option<Duration>) {
    let ms = timeout.map_or(0, |t| {
        u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1)
    });
    LOCK_TIMEOUT_MS.store(ms, Ordering::Relaxed);
}

/// Connects to `url`, a libpq URL (`postgres://user:pw@host:5432/db?sslmode=require`)
/// or key=value string (`host=localhost dbname=app`), and drives the
/// connection on a tokio task.
///
/// `sslmode` works as in libpq: `disable` never uses TLS; `prefer` (the
/// default) and `require` encrypt without checking the certificate (but
/// `require` with `sslrootcert` checks the chain, as libpq does);
/// `verify-ca` checks it against the CA certificates in `sslrootcert` (or
/// the system's when none is named), and `verify-full` also checks the host
/// name.
///
/// # Errors
///
/// [`WriteError::InvalidTarget`], [`WriteError::Tls`] or
/// [`WriteError::Connect`]; all show the target with its password
/// replaced by `***`.
pub async fn connect(url: &str) -> Result<Client, WriteError> {
    let target = redact_url(url);
    let options = TlsOptions::extract(url).map_err(|reason| WriteError::InvalidTarget {
        target: target.clone(),
        reason,
    })?;
    let mut config =
        Config::from_str(&options.conninfo).map_err(|err| WriteError::InvalidTarget {
            target: target.clone(),
            reason: err.to_string(),
        })?;
    let timeout = session_settings(&mut config, &options.conninfo);
    let mode = match options.verify {
        Some(mode) => {
            config.ssl_mode(SslMode::Require);
            mode
        }
        None => match config.get_ssl_mode() {
            SslMode::Disable => TlsMode::Disable,
            // As libpq does: `require` with a root certificate named
            // verifies the chain, like `verify-ca`.
            SslMode::Require if options.root_cert.is_some() => TlsMode::VerifyCa,
            _ => TlsMode::NoVerify,
        },
    };

    let handshake = async {
        match mode {
            TlsMode::Disable => config.connect(NoTls).await.map(|(client, connection)| {
                spawn_connection(connection);
                client
            }),
            mode => {
                let connector =
                    tls::connector(mode, options.root_cert.as_deref()).map_err(|reason| {
                        WriteError::Tls {
                            target: target.clone(),
                            reason,
                        }
                    })?;
                config.connect(connector).await.map(|(client, connection)| {
                    spawn_connection(connection);
                    client
                })
            }
        }
        .map_err(|source| WriteError::Connect {
            target: target.clone(),
            source,
        })
    };
    // tokio-postgres bounds only the TCP connect by `connect_timeout`; the
    // startup, TLS and authentication exchange is bounded here.
    match tokio::time::timeout(timeout, handshake).await {
        Ok(connected) => connected,
        Err(_) => Err(WriteError::ConnectTimeout {
            target,
            seconds: timeout.as_secs_f64(),
        }),
    }
}

/// Applies ferry's defaults where the target says nothing: a connect
/// timeout, TCP keepalives, and the process's `lock_timeout`. Returns how
/// long the whole connection may take: the connect timeout for each host.
fn session_settings(config: &mut Config, conninfo: &str) -> Duration {
    let per_host = match config.get_connect_timeout() {
        Some(timeout) => *timeout,
        None => {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
            DEFAULT_CONNECT_TIMEOUT
        }
    };
    let named = |key: &str| conninfo.contains(key);
    config.keepalives(true);
    if !named("keepalives_idle") {
        config.keepalives_idle(KEEPALIVE_IDLE);
    }
    if !named("keepalives_interval") {
        config.keepalives_interval(KEEPALIVE_INTERVAL);
    }
    if !named("keepalives_retries") {
        config.keepalives_retries(KEEPALIVE_RETRIES);
    }
    let lock_ms = LOCK_TIMEOUT_MS.load(Ordering::Relaxed);
    if lock_ms > 0 {
        let setting = format!("-c lock_timeout={lock_ms}");
        let options = match config.get_options() {
            Some(given) if !given.is_empty() => format!("{given} {setting}"),
            _ => setting,
        };
        config.options(&options);
    }
    let hosts = u32::try_from(config.get_hosts().len().max(1)).unwrap_or(u32::MAX);
    per_host.saturating_mul(hosts)
}

/// The connection future does the socket I/O; when it ends with an error,
/// the client's next call fails with a closed-connection error, which is
/// where ferry reports it.
fn spawn_connection<F>(connection: F)
where
    F: std::future::Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        let _ = connection.await;
    });
}

/// The TLS settings tokio-postgres does not parse, taken out of the
/// connection string so the rest can be parsed as usual.
#[derive(Debug, PartialEq)]
struct TlsOptions {
    /// The connection string without them.
    conninfo: String,
    /// `verify-ca` or `verify-full`, if asked for.
    verify: Option<TlsMode>,
    /// `sslrootcert`.
    root_cert: Option<String>,
}

impl TlsOptions {
    fn extract(url: &str) -> Result<TlsOptions, String> {
        let mut verify = None;
        let mut root_cert = None;
        let mut take = |key: &str, value: &str| -> Result<bool, String> {
            match key {
                "sslmode" => match value {
                    "verify-ca" => verify = Some(TlsMode::VerifyCa),
                    "verify-full" => verify = Some(TlsMode::VerifyFull),
                    "allow" => {
                        return Err("sslmode=allow is not supported; use prefer or disable".into())
                    }
                    _ => return Ok(false),
                },
                "sslrootcert" => root_cert = Some(value.to_owned()),
                _ => return Ok(false),
            }
            Ok(true)
        };
        let conninfo = if let Some((head, query)) = url_query(url) {
            let mut kept = Vec::new();
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                if !take(&percent_decode(key), &percent_decode(value))? {
                    kept.push(pair);
                }
            }
            if kept.is_empty() {
                head.to_owned()
            } else {
                format!("{head}?{}", kept.join("&"))
            }
        } else if is_url(url) {
            url.to_owned()
        } else {
            let mut kept = Vec::new();
            for pair in key_values(url) {
                if !take(pair.key, &pair.value)? {
                    kept.push(pair.raw);
                }
            }
            kept.join(" ")
        };
        Ok(TlsOptions {
            conninfo,
            verify,
            root_cert,
        })
    }
}

fn is_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// `(everything before '?', query)` of a URL that has a query.
fn url_query(url: &str) -> Option<(&str, &str)> {
    if !is_url(url) {
        return None;
    }
    url.split_once('?')
}

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

/// One `key=value` of a libpq key=value string.
struct KeyValue<'a> {
    key: &'a str,
    /// Unquoted and unescaped.
    value: String,
    /// As written, for rebuilding the string.
    raw: &'a str,
}

/// Splits a key=value string the way libpq does: spaces around `=` are
/// allowed, values may be single-quoted, and `\` escapes the next character.
/// A malformed tail is returned as far as it can be read.
fn key_values(text: &str) -> Vec<KeyValue<'_>> {
    let bytes = text.as_bytes();
    let mut pairs = Vec::new();
    let mut i = 0;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let start = i;
        while i < bytes.len() && bytes[i] != b'=' && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = &text[start..i];
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] != b'=' {
            // A key without a value: keep it for the parser to complain about.
            pairs.push(KeyValue {
                key,
                value: String::new(),
                raw: &text[start..i],
            });
            continue;
        }
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = Vec::new();
        if i < bytes.len() && bytes[i] == b'\'' {
            i += 1;
            while i < bytes.len() && bytes[i] != b'\'' {
                if bytes[i] == b'\\' && i + 1 < bytes.len() {
                    i += 1;
                }
                value.push(bytes[i]);
                i += 1;
            }
            i = (i + 1).min(bytes.len());
        } else {
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                if bytes[i] == b'\\' && i + 1 < bytes.len() {
                    i += 1;
                }
                value.push(bytes[i]);
                i += 1;
            }
        }
        pairs.push(KeyValue {
            key,
            value: String::from_utf8_lossy(&value).into_owned(),
            raw: &text[start..i],
        });
    }
    pairs
}

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
    fn takes_out_what_tokio_postgres_does_not_parse() {
        let options = TlsOptions::extract(
            "postgres://u@h/d?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem&application_name=x",
        )
        .unwrap();
        assert_eq!(options.conninfo, "postgres://u@h/d?application_name=x");
        assert_eq!(options.verify, Some(TlsMode::VerifyFull));
        assert_eq!(options.root_cert.as_deref(), Some("/tmp/ca.pem"));

        let options = TlsOptions::extract("postgres://u@h/d?sslmode=verify-ca").unwrap();
        assert_eq!(options.conninfo, "postgres://u@h/d");
        assert_eq!(options.verify, Some(TlsMode::VerifyCa));

        let options =
            TlsOptions::extract("host=h sslmode=verify-ca sslrootcert='/a b/ca.pem' dbname=d")
                .unwrap();
        assert_eq!(options.conninfo, "host=h dbname=d");
        assert_eq!(options.root_cert.as_deref(), Some("/a b/ca.pem"));

        let options = TlsOptions::extract("host=h sslmode=require").unwrap();
        assert_eq!(options.conninfo, "host=h sslmode=require");
        assert_eq!(options.verify, None);

        assert!(TlsOptions::extract("host=h sslmode=allow").is_err());
    }

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(percent_decode("a%20b%2"), "a b%2");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%41"), "A");
    }

    #[tokio::test]
    async fn connect_errors_hide_the_password() {
        let err =
            connect("postgres://app:s3cret@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
                .await
                .unwrap_err();
        let message = err.to_string();
        assert!(!message.contains("s3cret"), "{message}");
        assert!(message.contains("app:***@127.0.0.1:1"), "{message}");
        assert!(err.is_connection_error());

        let err = connect("host=h password=s3cret bogus=1").await.unwrap_err();
        assert!(matches!(err, WriteError::InvalidTarget { .. }));
        assert!(!err.to_string().contains("s3cret"));
        assert!(!err.is_connection_error());
    }
}
