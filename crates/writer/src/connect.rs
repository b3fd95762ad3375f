//! Opening a connection to the target, with TLS chosen by `sslmode` as
//! libpq chooses it, and connection strings shown only with the password
//! hidden.

use std::str::FromStr;

use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, Config, NoTls};

use crate::tls::{self, TlsMode};
use crate::WriteError;

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

    let connected = match mode {
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
    };
    connected.map_err(|source| WriteError::Connect { target, source })
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
    /// Byte range of the value as written.
    value_range: std::ops::Range<usize>,
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
                value_range: i..i,
            });
            continue;
        }
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let value_start = i;
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
            value_range: value_start..i,
        });
    }
    pairs
}

/// The connection string with its password replaced by `***`, for messages
/// and logs. Handles URL user info (`postgres://user:secret@host`), a
/// `password=` query parameter, and `password=` in key=value strings
/// (quoted or not).
pub fn redact_url(url: &str) -> String {
    if is_url(url) {
        let scheme_end = url.find("://").map_or(0, |p| p + 3);
        let (before_query, query) = match url.split_once('?') {
            Some((head, query)) => (head, Some(query)),
            None => (url, None),
        };
        let mut out = String::with_capacity(url.len());
        // The user info ends at the last '@' before the query, so a
        // password holding an unescaped '/' or '@' is still hidden whole.
        match before_query[scheme_end..].rfind('@') {
            Some(at) => {
                let at = scheme_end + at;
                let userinfo = &before_query[scheme_end..at];
                out.push_str(&before_query[..scheme_end]);
                match userinfo.split_once(':') {
                    Some((user, _)) => {
                        out.push_str(user);
                        out.push_str(":***");
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&before_query[at..]);
            }
            None => out.push_str(before_query),
        }
        if let Some(query) = query {
            out.push('?');
            let redacted: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if percent_decode(key) == "password" => format!("{key}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            out.push_str(&redacted.join("&"));
        }
        out
    } else {
        let mut out = url.to_owned();
        // Replace from the end so earlier ranges stay valid.
        for pair in key_values(url).iter().rev() {
            if pair.key == "password" {
                out.replace_range(pair.value_range.clone(), "***");
            }
        }
        out
    }
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
