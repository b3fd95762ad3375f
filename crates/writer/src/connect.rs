//! Opening a connection to the target: settings resolved as libpq
//! resolves them ([`crate::libpq`]), each host tried in turn with its own
//! password, TLS chosen by `sslmode` as libpq chooses it (`allow` included,
//! which tokio-postgres lacks), and the target shown only with its
//! password hidden.

use std::future::poll_fn;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres::config::{LoadBalanceHosts, SslMode as PgSslMode};
use tokio_postgres::error::DbError;
use tokio_postgres::{AsyncMessage, Client, Config, Connection, NoTls};
use tracing::Instrument;

use crate::libpq::{
    self, ConnectTimeout, Endpoint, Environment, HostKind, Origin, Problem, Resolved,
};
use crate::redact::redact_url;
use crate::tls::{self, SslMode};
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

/// `application_name` of every session whose target (or `PGAPPNAME`)
/// names none; `None` is `ferry`.
static APPLICATION_NAME: RwLock<Option<String>> = RwLock::new(None);

/// The `application_name` sessions opened afterwards show in
/// `pg_stat_activity` when neither the target nor `PGAPPNAME` sets one, as
/// libpq's `fallback_application_name`: the binary passes its command
/// (`ferry copy`). Process-wide, like [`set_lock_timeout`]. Postgres keeps
/// the first 63 bytes.
pub fn set_default_application_name(name: &str) {
    if let Ok(mut current) = APPLICATION_NAME.write() {
        *current = Some(name.to_owned());
    }
}

fn default_application_name() -> String {
    APPLICATION_NAME
        .read()
        .ok()
        .and_then(|name| name.clone())
        .unwrap_or_else(|| "ferry".to_owned())
}

/// Connects to `target`, resolved as libpq resolves a connection string,
/// and drives the connection on a tokio task.
///
/// `target` is a libpq URL (`postgres://user:pw@host:5432/db?sslmode=require`,
/// `postgres:///db`) or key=value string (`host=/var/run/postgresql
/// dbname=app`); what it leaves out comes from the service it names (or
/// `PGSERVICE`), then from the `PG*` environment variables (`PGHOST`,
/// `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGSSLMODE`, …), then
/// from libpq's defaults; a password still missing is looked up in
/// `~/.pgpass` (or `PGPASSFILE`). The empty string takes everything from
/// there, as `psql` with no arguments does. Hosts are tried in order, each
/// bounded by `connect_timeout` (default [`DEFAULT_CONNECT_TIMEOUT`]).
///
/// `sslmode` works as in libpq: `disable` never uses TLS; `allow` tries
/// without, then with TLS if the server refuses; `prefer` (the default)
/// and `require` encrypt without checking the certificate (but `require`
/// with `sslrootcert`, or `~/.postgresql/root.crt`, checks the chain, as
/// libpq does); `verify-ca` checks it against the CA certificates in
/// `sslrootcert` (else `~/.postgresql/root.crt`, else the system's), and
/// `verify-full` also checks the host name. `sslcert` and `sslkey` (by
/// default `~/.postgresql/postgresql.crt` and `.key`, when present) are
/// presented to a server that asks for a client certificate.
///
/// # Errors
///
/// [`WriteError::InvalidTarget`], [`WriteError::Settings`],
/// [`WriteError::Tls`], [`WriteError::Connect`] or
/// [`WriteError::ConnectTimeout`]; none shows a password, wherever it came
/// from.
pub async fn connect(target: &str) -> Result<Client, WriteError> {
    let resolved = libpq::resolve(target, &Environment::from_process()).map_err(|problem| {
        let shown = redact_url(target);
        match problem {
            Problem::Syntax(reason) => WriteError::InvalidTarget {
                target: shown,
                reason,
            },
            Problem::Settings(reason) => WriteError::Settings {
                target: if target.trim().is_empty() {
                    "the target from the environment".to_owned()
                } else {
                    shown
                },
                reason,
            },
        }
    })?;
    let shown = shown_target(target, &resolved);
    let tls = match resolved.tls.mode {
        SslMode::Disable | SslMode::Allow => None,
        _ => Some(connector(&resolved, &shown)?),
    };
    let mut last = None;
    for endpoint in ordered(&resolved) {
        match connect_endpoint(&resolved, endpoint, tls.clone(), &shown).await {
            Ok(client) => return Ok(client),
            Err(err @ WriteError::Tls { .. }) => return Err(err),
            Err(err) => last = Some(err),
        }
    }
    Err(last.unwrap_or_else(|| WriteError::Settings {
        target: shown,
        reason: "no host to connect to; set host or PGHOST".to_owned(),
    }))
}

/// The target as messages show it: as given, password hidden, followed by
/// what the environment and defaults filled in unless the target names it
/// all; the resolved settings alone for an empty target.
fn shown_target(target: &str, resolved: &Resolved) -> String {
    if target.trim().is_empty() {
        resolved.summary()
    } else if resolved.self_contained {
        redact_url(target)
    } else {
        format!("{} ({})", redact_url(target), resolved.summary())
    }
}

/// The hosts in the order to try them: as given, or shuffled for
/// `load_balance_hosts=random`.
fn ordered(resolved: &Resolved) -> Vec<&Endpoint> {
    let mut endpoints: Vec<&Endpoint> = resolved.endpoints.iter().collect();
    if resolved.load_balance == LoadBalanceHosts::Random {
        use std::hash::{BuildHasher, Hasher};
        // Fisher-Yates, seeded by the standard library's per-process
        // random hash keys.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        for i in (1..endpoints.len()).rev() {
            hasher.write_usize(i);
            let j = usize::try_from(hasher.finish() % (i as u64 + 1)).unwrap_or(0);
            endpoints.swap(i, j);
        }
    }
    endpoints
}

fn connector(
    resolved: &Resolved,
    shown: &str,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, WriteError> {
    tls::connector(&resolved.tls).map_err(|reason| WriteError::Tls {
        target: shown.to_owned(),
        reason,
    })
}

/// Connects to one host: without TLS, with it, or (for `allow`) without
/// and then with it when the server refused the plain session, all within
/// the host's connect timeout.
async fn connect_endpoint(
    resolved: &Resolved,
    endpoint: &Endpoint,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    shown: &str,
) -> Result<Client, WriteError> {
    let mut config = session_config(resolved, endpoint);
    let timeout = match resolved.connect_timeout {
        ConnectTimeout::Unset => Some(DEFAULT_CONNECT_TIMEOUT),
        ConnectTimeout::Never => None,
        ConnectTimeout::After(timeout) => Some(timeout),
    };
    if let Some(timeout) = timeout {
        config.connect_timeout(timeout);
    }
    let attempt = async {
        let failed = |source| connect_error(shown, endpoint, source);
        match (resolved.tls.mode, tls) {
            (SslMode::Allow, _) => match plain(&config).await {
                // The server turned the plain session away (pg_hba.conf
                // wants hostssl, say): try again with TLS, as libpq does.
                Err(err) if err.as_db_error().is_some() => {
                    let tls = connector(resolved, shown)?;
                    config.ssl_mode(PgSslMode::Require);
                    encrypted(&config, tls).await.map_err(failed)
                }
                other => other.map_err(failed),
            },
            (_, Some(tls)) => {
                let mode = match resolved.tls.mode {
                    SslMode::Prefer => PgSslMode::Prefer,
                    _ => PgSslMode::Require,
                };
                config.ssl_mode(mode);
                encrypted(&config, tls).await.map_err(failed)
            }
            (_, None) => plain(&config).await.map_err(failed),
        }
    };
    // tokio-postgres bounds only the TCP connect by `connect_timeout`; the
    // startup, TLS and authentication exchange is bounded here.
    match timeout {
        None => attempt.await,
        Some(timeout) => match tokio::time::timeout(timeout, attempt).await {
            Ok(connected) => connected,
            Err(_) => Err(WriteError::ConnectTimeout {
                target: shown.to_owned(),
                seconds: timeout.as_secs_f64(),
            }),
        },
    }
}

async fn plain(config: &Config) -> Result<Client, tokio_postgres::Error> {
    let mut config = config.clone();
    config.ssl_mode(PgSslMode::Disable);
    let (client, connection) = config.connect(NoTls).await?;
    spawn_connection(connection);
    Ok(client)
}

async fn encrypted(
    config: &Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(tls).await?;
    spawn_connection(connection);
    Ok(client)
}

/// A failed connection, saying where a rejected password came from (as
/// libpq's "password retrieved from file").
fn connect_error(shown: &str, endpoint: &Endpoint, source: tokio_postgres::Error) -> WriteError {
    let rejected = source
        .as_db_error()
        .is_some_and(|db| db.code().code() == "28P01");
    let target = match (&endpoint.password, rejected) {
        (Some(password), true) if password.origin != Origin::Target => {
            format!("{shown} (password {})", password.origin)
        }
        _ => shown.to_owned(),
    };
    WriteError::Connect { target, source }
}

/// The tokio-postgres configuration of one host, with ferry's defaults
/// where the target says nothing: TCP keepalives, the process's
/// `lock_timeout` and its default `application_name`.
fn session_config(resolved: &Resolved, endpoint: &Endpoint) -> Config {
    let mut config = Config::new();
    match &endpoint.host {
        HostKind::Tcp(name) => {
            config.host(name);
        }
        HostKind::Socket(dir) => {
            config.host_path(dir);
        }
        HostKind::AddressOnly => {}
    }
    if let Some(addr) = endpoint.hostaddr {
        config.hostaddr(addr);
    }
    config
        .port(endpoint.port)
        .user(&resolved.user)
        .dbname(&resolved.dbname)
        .application_name(
            resolved
                .application_name
                .clone()
                .unwrap_or_else(default_application_name),
        )
        .target_session_attrs(resolved.target_session_attrs)
        .channel_binding(resolved.channel_binding)
        .load_balance_hosts(resolved.load_balance)
        .ssl_negotiation(resolved.tls.negotiation)
        .keepalives(resolved.keepalives)
        .keepalives_idle(resolved.keepalives_idle.unwrap_or(KEEPALIVE_IDLE))
        .keepalives_interval(resolved.keepalives_interval.unwrap_or(KEEPALIVE_INTERVAL))
        .keepalives_retries(resolved.keepalives_count.unwrap_or(KEEPALIVE_RETRIES));
    if let Some(password) = &endpoint.password {
        config.password(password.value.as_bytes());
    }
    if let Some(timeout) = resolved.tcp_user_timeout {
        config.tcp_user_timeout(timeout);
    }
    let lock_ms = LOCK_TIMEOUT_MS.load(Ordering::Relaxed);
    let lock = (lock_ms > 0).then(|| format!("-c lock_timeout={lock_ms}"));
    let options: Vec<&str> = resolved
        .options
        .as_deref()
        .into_iter()
        .chain(lock.as_deref())
        .collect();
    if !options.is_empty() {
        config.options(options.join(" "));
    }
    config
}

/// Drives the connection (its socket I/O) on a task of its own, passing
/// the server's NOTICEs and WARNINGs to the debug log (`-vv`). When the
/// connection ends with an error, the client's next call fails with a
/// closed-connection error, which is where ferry reports it.
fn spawn_connection<S, T>(mut connection: Connection<S, T>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // In the span that opened it (the command's), so that its notices
    // carry that span too.
    let driven = async move {
        while let Some(message) = poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notice(notice)) => log_notice(&notice),
                // ferry LISTENs to nothing; a notification is dropped.
                Ok(_) => {}
                Err(_) => break,
            }
        }
    };
    tokio::spawn(driven.in_current_span());
}

/// One server notice as a debug event: its severity, SQLSTATE and message,
/// with the detail and hint when the server sends them.
fn log_notice(notice: &DbError) {
    tracing::debug!(
        severity = notice.severity(),
        code = notice.code().code(),
        detail = notice.detail(),
        hint = notice.hint(),
        "server notice: {}",
        notice.message()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

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

        let err = connect("host=h password=s3cret sslmode=sometimes")
            .await
            .unwrap_err();
        assert!(matches!(err, WriteError::Settings { .. }), "{err}");
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }

    fn resolved(text: &str) -> Resolved {
        let env = Environment {
            os_user: Some("me".to_owned()),
            ..Environment::default()
        };
        libpq::resolve(text, &env).unwrap()
    }

    #[test]
    fn the_target_is_shown_with_what_the_environment_added() {
        let text = "postgres://u:pw@h:1/d";
        assert_eq!(
            shown_target(text, &resolved(text)),
            "postgres://u:***@h:1/d"
        );
        let text = "dbname=d password=pw";
        assert_eq!(
            shown_target(text, &resolved(text)),
            "dbname=d password=*** (host=localhost port=5432 user=me dbname=d)"
        );
        assert_eq!(
            shown_target("", &resolved("")),
            "host=localhost port=5432 user=me dbname=me"
        );
    }

    #[test]
    fn sessions_carry_ferrys_defaults_unless_the_target_sets_them() {
        let config = session_config(
            &resolved("host=/tmp/s port=6 options='-c x=1'"),
            &resolved("host=/tmp/s port=6").endpoints[0],
        );
        assert_eq!(config.get_application_name(), Some("ferry"));
        assert_eq!(config.get_keepalives_idle(), KEEPALIVE_IDLE);
        assert_eq!(config.get_ports(), &[6]);
        assert!(config.get_options().unwrap().starts_with("-c x=1"));
        let target = resolved("application_name=mine keepalives_idle=99");
        let config = session_config(&target, &target.endpoints[0]);
        assert_eq!(config.get_application_name(), Some("mine"));
        assert_eq!(config.get_keepalives_idle(), Duration::from_secs(99));
    }

    #[test]
    fn load_balancing_keeps_every_host() {
        let target = resolved("host=a,b,c,d load_balance_hosts=random");
        let mut hosts: Vec<String> = ordered(&target).iter().map(|e| e.host_text()).collect();
        hosts.sort();
        assert_eq!(hosts, ["a", "b", "c", "d"]);
    }
}
