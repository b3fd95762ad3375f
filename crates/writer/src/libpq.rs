//! Connection settings resolved as libpq resolves them
//! (<https://www.postgresql.org/docs/current/libpq-connect.html>,
//! `conninfo_add_defaults` and `connectOptions2` in libpq's
//! `fe-connect.c`):
//!
//! 1. what the target sets ([`crate::conninfo`]);
//! 2. for anything it leaves unset, the service named by `service` or
//!    `PGSERVICE`, from `PGSERVICEFILE` or `~/.pg_service.conf`, else
//!    `PGSYSCONFDIR/pg_service.conf` ([`crate::service_file`]);
//! 3. then each keyword's environment variable (`PGHOST`, `PGPORT`,
//!    `PGUSER`, `PGPASSWORD`, …), even when set to the empty string;
//! 4. then the defaults: the Unix socket directory `/var/run/postgresql`
//!    when it exists, else `localhost` (Debian's libpq, which always takes
//!    the socket directory); port 5432; the OS user (`geteuid`'s name); the
//!    user's name as the database; and for each host without a password,
//!    the first matching line of `passfile`, `PGPASSFILE` or `~/.pgpass`
//!    ([`crate::pgpass`]).
//!
//! `~` is `$HOME`. Client certificates default to
//! `~/.postgresql/postgresql.crt` and `.key`, and the CA to
//! `~/.postgresql/root.crt`, each only when the file exists.
//!
//! Everything here is pure but for reading those files: the environment
//! comes in as an [`Environment`], so tests choose it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_postgres::config::{
    ChannelBinding, LoadBalanceHosts, SslNegotiation, TargetSessionAttrs,
};

use crate::conninfo::{self, Given, KEYWORDS};
pub(crate) use crate::resolved::{ConnectTimeout, Endpoint, HostKind, Origin, Password, Resolved};
use crate::service_file;
use crate::tls::{ClientCert, SslMode, TlsSettings, TlsVersions};

/// Where libpq looks for a server when no host is given (Debian's build).
pub(crate) const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";
/// Where libpq looks for `pg_service.conf` when `PGSYSCONFDIR` is unset
/// (Debian's build).
pub(crate) const SYSCONFDIR: &str = "/etc/postgresql-common";
/// The port when none is given.
const DEFAULT_PORT: u16 = 5432;

/// What libpq reads from the process: the `PG*` variables, the home
/// directory and the OS user.
#[derive(Clone, Debug, Default)]
pub(crate) struct Environment {
    /// The environment variables whose names start with `PG`.
    pub vars: HashMap<String, String>,
    /// `$HOME`, for `~/.pgpass`, `~/.pg_service.conf` and `~/.postgresql/`.
    pub home: Option<PathBuf>,
    /// The name of the effective user, the default user name.
    pub os_user: Option<String>,
    /// [`DEFAULT_SOCKET_DIR`] when it exists.
    pub socket_dir: Option<PathBuf>,
}

impl Environment {
    /// This process's environment.
    pub fn from_process() -> Environment {
        Environment {
            vars: std::env::vars_os()
                .filter_map(|(name, value)| {
                    Some((name.into_string().ok()?, value.into_string().ok()?))
                })
                .filter(|(name, _)| name.starts_with("PG"))
                .collect(),
            home: std::env::var_os("HOME")
                .filter(|home| !home.is_empty())
                .map(PathBuf::from),
            os_user: whoami::username().ok(),
            socket_dir: Path::new(DEFAULT_SOCKET_DIR)
                .is_dir()
                .then(|| PathBuf::from(DEFAULT_SOCKET_DIR)),
        }
    }

    /// The variable `name`, when set.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// `relative` in the home directory, when there is one.
    pub fn in_home(&self, relative: &str) -> Option<PathBuf> {
        self.home.as_ref().map(|home| home.join(relative))
    }
}

/// One setting and where it came from.
#[derive(Clone, Debug)]
pub(crate) struct Setting {
    /// The value, as written.
    pub value: String,
    /// Where it came from.
    pub origin: Origin,
}

/// What is wrong with the settings, before any connection is tried.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Problem {
    /// The target text itself does not parse.
    Syntax(String),
    /// A value (from wherever it came) cannot be used.
    Settings(String),
}

/// Resolves `text` in `env` as libpq would.
///
/// # Errors
///
/// [`Problem::Syntax`] when the text does not parse, [`Problem::Settings`]
/// when a service cannot be found or a value (wherever it came from)
/// cannot be used; each says what to change.
pub(crate) fn resolve(text: &str, env: &Environment) -> Result<Resolved, Problem> {
    let given = conninfo::parse(text).map_err(Problem::Syntax)?;
    let settings = Settings::collect(given, env)?;
    settings.derive(env)
}

/// Where `text` would connect, resolved in this process's environment as
/// [`crate::connect`] resolves it, without connecting: `host=… port=…
/// user=… dbname=…` and where the password comes from (never the
/// password), for `ferry config check`.
///
/// # Errors
///
/// What is wrong with the target or the settings it gathers, as
/// [`crate::connect`] would report it.
pub fn describe_target(text: &str) -> Result<String, String> {
    let resolved =
        resolve(text, &Environment::from_process()).map_err(|problem| match problem {
            Problem::Syntax(reason) | Problem::Settings(reason) => reason,
        })?;
    let password = resolved
        .endpoints
        .first()
        .and_then(|e| e.password.as_ref())
        .map_or_else(
            || "no password".to_owned(),
            |p| format!("password {}", p.origin),
        );
    Ok(format!("{}; {password}", resolved.summary()))
}

/// Keyword → setting, after the target, the service and the environment.
struct Settings {
    map: HashMap<&'static str, Setting>,
    /// Whether `sslmode` came from the default (libpq makes it verify-full
    /// when `sslrootcert=system`).
    default_sslmode: bool,
}

impl Settings {
    fn collect(given: Given, env: &Environment) -> Result<Settings, Problem> {
        let mut map: HashMap<&'static str, Setting> = given
            .into_iter()
            .map(|(key, value)| {
                let origin = Origin::Target;
                (key, Setting { value, origin })
            })
            .collect();
        service_file::apply_service(&mut map, env)?;
        for keyword in KEYWORDS {
            if map.contains_key(keyword.name) {
                continue;
            }
            if let Some((name, value)) = keyword.env.and_then(|n| Some((n, env.var(n)?))) {
                let origin = Origin::Env(name);
                map.insert(
                    keyword.name,
                    Setting {
                        value: value.to_owned(),
                        origin,
                    },
                );
            }
        }
        let mut default_sslmode = false;
        if !map.contains_key("sslmode") {
            // The deprecated PGREQUIRESSL: "1…" is require.
            match env.var("PGREQUIRESSL") {
                Some(value) if value.starts_with('1') => {
                    let origin = Origin::Env("PGREQUIRESSL");
                    let value = "require".to_owned();
                    map.insert("sslmode", Setting { value, origin });
                }
                _ => default_sslmode = true,
            }
        }
        Ok(Settings {
            map,
            default_sslmode,
        })
    }

    /// The value of `key` when set and not empty (libpq treats an empty
    /// value as unset once defaults are in).
    fn get(&self, key: &str) -> Option<&str> {
        self.map
            .get(key)
            .map(|s| s.value.as_str())
            .filter(|v| !v.is_empty())
    }

    fn origin(&self, key: &str) -> Option<&Origin> {
        self.map.get(key).map(|s| &s.origin)
    }

    /// "host \"x\" (from PGHOST)", for messages.
    fn shown(&self, key: &str) -> String {
        match self.map.get(key) {
            Some(setting) => format!("{key} \"{}\" ({})", setting.value, setting.origin),
            None => key.to_owned(),
        }
    }

    /// An error about `key`'s value, ending with what to do.
    fn invalid(&self, key: &str, what_to_do: &str) -> Problem {
        Problem::Settings(format!("{} is not valid; {what_to_do}", self.shown(key)))
    }

    /// An error about a setting ferry cannot honour.
    fn unsupported(&self, key: &str, why: &str) -> Problem {
        Problem::Settings(format!("{} is not supported: {why}", self.shown(key)))
    }

    /// `key` as an integer, as libpq's `parse_int_param` reads it
    /// (surrounding whitespace allowed).
    fn int(&self, key: &str) -> Result<Option<i64>, Problem> {
        self.get(key)
            .map(|value| {
                value
                    .trim()
                    .parse::<i32>()
                    .map(i64::from)
                    .map_err(|_| self.invalid(key, "write a whole number"))
            })
            .transpose()
    }

    /// `key` as a number of seconds; 0 or less is unset.
    fn seconds(&self, key: &str) -> Result<Option<Duration>, Problem> {
        Ok(self
            .int(key)?
            .and_then(|n| u64::try_from(n).ok())
            .filter(|n| *n > 0)
            .map(Duration::from_secs))
    }

    /// `key`'s value when it is one of `allowed`, else `default`.
    fn choice(
        &self,
        key: &str,
        allowed: &[&str],
        default: &'static str,
    ) -> Result<String, Problem> {
        match self.get(key) {
            None => Ok(default.to_owned()),
            Some(value) if allowed.contains(&value) => Ok(value.to_owned()),
            Some(_) => Err(self.invalid(key, &format!("use one of {}", allowed.join(", ")))),
        }
    }

    fn derive(&self, env: &Environment) -> Result<Resolved, Problem> {
        self.refuse_unsupported()?;
        let user = match self.get("user") {
            Some(user) => user.to_owned(),
            None => env.os_user.clone().ok_or_else(|| {
                Problem::Settings(
                    "no user name: the OS user's name cannot be read; set user in the target or \
                     PGUSER"
                        .into(),
                )
            })?,
        };
        let dbname = self.get("dbname").unwrap_or(&user).to_owned();
        let mut endpoints = self.endpoints(env)?;
        self.passwords(env, &mut endpoints, &dbname, &user);

        let connect_timeout = match self.int("connect_timeout")? {
            None => ConnectTimeout::Unset,
            Some(n) if n <= 0 => ConnectTimeout::Never,
            // libpq raises 1 second to 2, which it finds too short.
            Some(n) => ConnectTimeout::After(Duration::from_secs(n.max(2).unsigned_abs())),
        };
        let keepalives_count = self
            .int("keepalives_count")?
            .map(|n| u32::try_from(n.max(0)).unwrap_or_default());
        let target_session_attrs = match self
            .choice(
                "target_session_attrs",
                &[
                    "any",
                    "read-write",
                    "read-only",
                    "primary",
                    "standby",
                    "prefer-standby",
                ],
                "any",
            )?
            .as_str()
        {
            "read-write" => TargetSessionAttrs::ReadWrite,
            "read-only" => TargetSessionAttrs::ReadOnly,
            "any" => TargetSessionAttrs::Any,
            _ => {
                return Err(self.unsupported(
                    "target_session_attrs",
                    "ferry checks for any, read-write or read-only only; use read-write to \
                     find the primary",
                ))
            }
        };
        let channel_binding = match self
            .choice(
                "channel_binding",
                &["disable", "prefer", "require"],
                "prefer",
            )?
            .as_str()
        {
            "disable" => ChannelBinding::Disable,
            "require" => ChannelBinding::Require,
            _ => ChannelBinding::Prefer,
        };
        let load_balance = match self
            .choice("load_balance_hosts", &["disable", "random"], "disable")?
            .as_str()
        {
            "random" => LoadBalanceHosts::Random,
            _ => LoadBalanceHosts::Disable,
        };
        let self_contained = ["host", "port", "user", "dbname"]
            .iter()
            .all(|key| self.origin(key) == Some(&Origin::Target))
            || ["hostaddr", "port", "user", "dbname"]
                .iter()
                .all(|key| self.origin(key) == Some(&Origin::Target));
        Ok(Resolved {
            endpoints,
            user,
            dbname,
            options: self.get("options").map(str::to_owned),
            application_name: self
                .get("application_name")
                .or_else(|| self.get("fallback_application_name"))
                .map(str::to_owned),
            connect_timeout,
            tcp_user_timeout: self
                .int("tcp_user_timeout")?
                .and_then(|ms| u64::try_from(ms).ok())
                .filter(|ms| *ms > 0)
                .map(Duration::from_millis),
            keepalives: self.int("keepalives")? != Some(0),
            keepalives_idle: self.seconds("keepalives_idle")?,
            keepalives_interval: self.seconds("keepalives_interval")?,
            keepalives_count,
            target_session_attrs,
            channel_binding,
            load_balance,
            tls: self.tls(env)?,
            self_contained,
        })
    }

    /// Settings ferry cannot honour, refused rather than ignored: each
    /// would otherwise weaken what the user asked for.
    fn refuse_unsupported(&self) -> Result<(), Problem> {
        let refusals = [
            (
                "requirepeer",
                "remove it, or connect over TCP with a password or certificate",
            ),
            (
                "require_auth",
                "remove it; ferry uses whatever authentication the server asks for",
            ),
            (
                "sslcrl",
                "ferry does not check certificate revocation lists; remove it",
            ),
            (
                "sslcrldir",
                "ferry does not check certificate revocation lists; remove it",
            ),
        ];
        for (key, why) in refusals {
            if self.get(key).is_some() {
                return Err(self.unsupported(key, why));
            }
        }
        if let Some(value) = self.get("replication") {
            if !matches!(value, "0" | "false" | "off" | "no") {
                return Err(self.unsupported(
                    "replication",
                    "ferry opens ordinary sessions only; remove it",
                ));
            }
        }
        if self.choice("gssencmode", &["disable", "prefer", "require"], "prefer")? == "require" {
            return Err(self.unsupported(
                "gssencmode",
                "ferry has no GSSAPI encryption; use sslmode for encryption and gssencmode=prefer",
            ));
        }
        if self.choice("sslcertmode", &["disable", "allow", "require"], "allow")? == "require" {
            return Err(self.unsupported(
                "sslcertmode",
                "ferry cannot tell whether the server asked for the certificate; use allow",
            ));
        }
        Ok(())
    }

    /// The hosts, as `connectOptions2` lays them out: as many as
    /// `hostaddr` (else `host`) lists, each with its port.
    fn endpoints(&self, env: &Environment) -> Result<Vec<Endpoint>, Problem> {
        let split = |key: &str| -> Vec<String> {
            self.get(key)
                .map(|v| v.split(',').map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let hostaddrs = split("hostaddr");
        let hosts = split("host");
        let count = match (hostaddrs.len(), hosts.len()) {
            (0, 0) => 1,
            (0, n) => n,
            (n, 0) => n,
            (n, m) if n == m => n,
            (n, m) => {
                return Err(Problem::Settings(format!(
                    "{} names {m} hosts but {} names {n} addresses; give one address per host",
                    self.shown("host"),
                    self.shown("hostaddr")
                )))
            }
        };
        let ports = split("port");
        if !ports.is_empty() && ports.len() != 1 && ports.len() != count {
            return Err(Problem::Settings(format!(
                "{} lists {} ports for {count} hosts; give one port, or one per host",
                self.shown("port"),
                ports.len()
            )));
        }
        (0..count)
            .map(|i| {
                let hostaddr = match hostaddrs.get(i).filter(|a| !a.is_empty()) {
                    Some(addr) => Some(addr.parse::<IpAddr>().map_err(|_| {
                        self.invalid(
                            "hostaddr",
                            "give IP addresses (hostaddr=10.0.0.5), names go in host",
                        )
                    })?),
                    None => None,
                };
                let host = match hosts.get(i).filter(|h| !h.is_empty()) {
                    Some(host) if host.starts_with('/') => HostKind::Socket(PathBuf::from(host)),
                    Some(host) => HostKind::Tcp(host.clone()),
                    None if hostaddr.is_some() => HostKind::AddressOnly,
                    None => match &env.socket_dir {
                        Some(dir) => HostKind::Socket(dir.clone()),
                        None => HostKind::Tcp("localhost".to_owned()),
                    },
                };
                let port_text = ports
                    .get(i)
                    .or_else(|| ports.first().filter(|_| ports.len() == 1))
                    .filter(|p| !p.is_empty())
                    .cloned()
                    .unwrap_or_else(|| DEFAULT_PORT.to_string());
                let port = port_text
                    .trim()
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| self.invalid("port", "give a port number from 1 to 65535"))?;
                Ok(Endpoint {
                    host,
                    hostaddr,
                    port,
                    port_text,
                    password: None,
                })
            })
            .collect()
    }

    /// The password of each host: `password` (target, service or
    /// `PGPASSWORD`), else the host's line in the password file.
    fn passwords(&self, env: &Environment, endpoints: &mut [Endpoint], dbname: &str, user: &str) {
        if let Some(value) = self.get("password") {
            let origin = self.origin("password").cloned().unwrap_or(Origin::Target);
            for endpoint in endpoints.iter_mut() {
                endpoint.password = Some(Password {
                    value: value.to_owned(),
                    origin: origin.clone(),
                });
            }
            return;
        }
        let Some(file) = self
            .get("passfile")
            .map(PathBuf::from)
            .or_else(|| env.in_home(".pgpass"))
        else {
            return;
        };
        let Some(text) = crate::pgpass::read(&file) else {
            return;
        };
        for endpoint in endpoints.iter_mut() {
            // 'localhost' matches no host at all and the default socket
            // directory, as in libpq.
            let host = match &endpoint.host {
                HostKind::Socket(dir) if dir == Path::new(DEFAULT_SOCKET_DIR) => {
                    "localhost".to_owned()
                }
                _ => endpoint.host_text(),
            };
            let host = if host.is_empty() {
                "localhost".to_owned()
            } else {
                host
            };
            endpoint.password =
                crate::pgpass::find_password(&text, &host, &endpoint.port_text, dbname, user).map(
                    |value| Password {
                        value,
                        origin: Origin::PassFile(file.clone()),
                    },
                );
        }
    }

    /// `sslmode` and its companions.
    fn tls(&self, env: &Environment) -> Result<TlsSettings, Problem> {
        let root_cert = match self.get("sslrootcert") {
            Some(root) => Some(root.to_owned()),
            None => env
                .in_home(".postgresql/root.crt")
                .filter(|path| path.is_file())
                .map(|path| path.display().to_string()),
        };
        let system_roots = root_cert.as_deref() == Some("system");
        let mode = if self.default_sslmode && system_roots {
            // PostgreSQL 16: trusting the system's CAs means checking the
            // host name too.
            SslMode::VerifyFull
        } else {
            match self
                .choice(
                    "sslmode",
                    &[
                        "disable",
                        "allow",
                        "prefer",
                        "require",
                        "verify-ca",
                        "verify-full",
                    ],
                    "prefer",
                )?
                .as_str()
            {
                "disable" => SslMode::Disable,
                "allow" => SslMode::Allow,
                "require" => SslMode::Require,
                "verify-ca" => SslMode::VerifyCa,
                "verify-full" => SslMode::VerifyFull,
                _ => SslMode::Prefer,
            }
        };
        if system_roots && mode != SslMode::VerifyFull {
            return Err(Problem::Settings(format!(
                "{} may not be used with sslrootcert=system: any public CA could then vouch \
                 for the server; use sslmode=verify-full",
                self.shown("sslmode")
            )));
        }
        let client_cert = self.client_cert(env)?;
        Ok(TlsSettings {
            mode,
            root_cert,
            client_cert,
            sni: !matches!(self.get("sslsni"), Some(v) if !v.starts_with('1')),
            versions: self.tls_versions()?,
            negotiation: match self
                .choice("sslnegotiation", &["postgres", "direct"], "postgres")?
                .as_str()
            {
                "direct" => SslNegotiation::Direct,
                _ => SslNegotiation::Postgres,
            },
        })
    }

    /// The client certificate and key: `sslcert` and `sslkey`, else
    /// `~/.postgresql/postgresql.crt` and `.key`. As in libpq, a
    /// certificate file that does not exist means no certificate, but a
    /// certificate without its key is an error.
    fn client_cert(&self, env: &Environment) -> Result<Option<ClientCert>, Problem> {
        if self.get("sslcertmode") == Some("disable") {
            return Ok(None);
        }
        let cert = match self.get("sslcert") {
            Some(cert) => Some(PathBuf::from(cert)),
            None => env.in_home(".postgresql/postgresql.crt"),
        };
        let Some(cert) = cert.filter(|c| c.exists()) else {
            return Ok(None);
        };
        let key = match self.get("sslkey") {
            Some(key) => Some(PathBuf::from(key)),
            None => env.in_home(".postgresql/postgresql.key"),
        };
        match key.filter(|k| k.exists()) {
            Some(key) => Ok(Some(ClientCert { cert, key })),
            None => Err(Problem::Settings(format!(
                "client certificate {} is present, but not its private key file ({}); set \
                 sslkey to the key, or sslcertmode=disable to send no certificate",
                cert.display(),
                self.get("sslkey").unwrap_or("~/.postgresql/postgresql.key")
            ))),
        }
    }

    /// `ssl_min_protocol_version` and `ssl_max_protocol_version`, within
    /// what rustls speaks (TLS 1.2 and 1.3).
    fn tls_versions(&self) -> Result<TlsVersions, Problem> {
        const VERSIONS: [&str; 4] = ["tlsv1", "tlsv1.1", "tlsv1.2", "tlsv1.3"];
        let rank = |key: &str, default: Option<usize>| -> Result<Option<usize>, Problem> {
            match self.get(key) {
                None => Ok(default),
                Some(value) => VERSIONS
                    .iter()
                    .position(|v| v.eq_ignore_ascii_case(value))
                    .map(Some)
                    .ok_or_else(|| self.invalid(key, "use TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3")),
            }
        };
        // libpq's default minimum is TLSv1.2.
        let min = rank("ssl_min_protocol_version", Some(2))?.unwrap_or(0);
        let max = rank("ssl_max_protocol_version", None)?.unwrap_or(3);
        if min > max {
            let minimum = match self.get("ssl_min_protocol_version") {
                Some(_) => self.shown("ssl_min_protocol_version"),
                None => "ssl_min_protocol_version (by default TLSv1.2)".to_owned(),
            };
            return Err(Problem::Settings(format!(
                "{minimum} is above {}; raise the maximum or lower the minimum",
                self.shown("ssl_max_protocol_version")
            )));
        }
        if max < 2 {
            return Err(self.unsupported(
                "ssl_max_protocol_version",
                "ferry's TLS (rustls) speaks TLSv1.2 and TLSv1.3 only; raise it to TLSv1.2",
            ));
        }
        Ok(TlsVersions {
            tls12: min <= 2,
            tls13: max >= 3,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Environment {
        Environment {
            vars: vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            home: None,
            os_user: Some("osuser".to_owned()),
            socket_dir: None,
        }
    }

    fn resolved(text: &str, env: &Environment) -> Resolved {
        resolve(text, env).unwrap_or_else(|e| panic!("{text}: {e:?}"))
    }

    fn settings_error(text: &str, env: &Environment) -> String {
        match resolve(text, env) {
            Err(Problem::Settings(message)) => message,
            other => panic!("{text}: expected a settings error, got {other:?}"),
        }
    }

    /// A scratch directory, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir =
                std::env::temp_dir().join(format!("ferry-libpq-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn write(&self, name: &str, text: &str, mode: u32) -> PathBuf {
            let path = self.0.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).unwrap();
            }
            std::fs::write(&path, text).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            }
            #[cfg(not(unix))]
            let _ = mode;
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn nothing_given_means_the_socket_or_localhost_the_os_user_and_port_5432() {
        let mut env = env(&[]);
        let target = resolved("", &env);
        assert_eq!(target.endpoints.len(), 1);
        assert_eq!(target.endpoints[0].host, HostKind::Tcp("localhost".into()));
        assert_eq!(target.endpoints[0].port, 5432);
        assert_eq!(target.user, "osuser");
        assert_eq!(target.dbname, "osuser");
        assert_eq!(target.tls.mode, SslMode::Prefer);
        assert_eq!(target.connect_timeout, ConnectTimeout::Unset);
        assert!(!target.self_contained);

        env.socket_dir = Some(PathBuf::from(DEFAULT_SOCKET_DIR));
        let target = resolved("postgres:///db", &env);
        assert_eq!(
            target.endpoints[0].host,
            HostKind::Socket(PathBuf::from(DEFAULT_SOCKET_DIR))
        );
        assert_eq!(target.dbname, "db");
        assert_eq!(
            target.summary(),
            "host=/var/run/postgresql port=5432 user=osuser dbname=db"
        );
    }

    #[test]
    fn the_environment_fills_what_the_target_leaves_out() {
        let env = env(&[
            ("PGHOST", "envhost"),
            ("PGPORT", "6000"),
            ("PGUSER", "envuser"),
            ("PGDATABASE", "envdb"),
            ("PGPASSWORD", "envpw"),
            ("PGAPPNAME", "envapp"),
            ("PGSSLMODE", "require"),
            ("PGCONNECT_TIMEOUT", "7"),
            ("PGOPTIONS", "-c work_mem=64MB"),
        ]);
        let target = resolved("", &env);
        assert_eq!(target.endpoints[0].host, HostKind::Tcp("envhost".into()));
        assert_eq!(target.endpoints[0].port, 6000);
        assert_eq!(
            (target.user.as_str(), target.dbname.as_str()),
            ("envuser", "envdb")
        );
        let password = target.endpoints[0].password.as_ref().unwrap();
        assert_eq!(password.value, "envpw");
        assert_eq!(password.origin, Origin::Env("PGPASSWORD"));
        assert!(!format!("{password:?}").contains("envpw"));
        assert_eq!(target.application_name.as_deref(), Some("envapp"));
        assert_eq!(target.tls.mode, SslMode::Require);
        assert_eq!(
            target.connect_timeout,
            ConnectTimeout::After(Duration::from_secs(7))
        );
        assert_eq!(target.options.as_deref(), Some("-c work_mem=64MB"));

        // What the target says wins, URL or key=value.
        let target = resolved(
            "postgres://u:pw@h:1/d?sslmode=disable&application_name=x",
            &env,
        );
        assert_eq!(target.endpoints[0].host, HostKind::Tcp("h".into()));
        assert_eq!((target.user.as_str(), target.dbname.as_str()), ("u", "d"));
        assert_eq!(target.endpoints[0].password.as_ref().unwrap().value, "pw");
        assert_eq!(target.tls.mode, SslMode::Disable);
        assert_eq!(target.application_name.as_deref(), Some("x"));
        assert!(target.self_contained);
        let target = resolved("dbname=db host=/tmp/sockdir", &env);
        assert_eq!(
            target.endpoints[0].host,
            HostKind::Socket(PathBuf::from("/tmp/sockdir"))
        );
        assert_eq!(target.endpoints[0].port, 6000);
        assert_eq!(target.dbname, "db");
        assert!(!target.self_contained);
        // An empty value in the target keeps the variable out, and then
        // counts as unset.
        let target = resolved("host='' dbname=''", &env);
        assert_eq!(target.endpoints[0].host, HostKind::Tcp("localhost".into()));
        assert_eq!(target.dbname, "envuser");
        // An empty variable counts as unset too.
        let target = resolved("", &self::env(&[("PGHOST", ""), ("PGUSER", "")]));
        assert_eq!(target.endpoints[0].host, HostKind::Tcp("localhost".into()));
        assert_eq!(target.user, "osuser");
    }

    #[test]
    fn several_hosts_ports_and_addresses() {
        let env = env(&[]);
        let target = resolved("host=a,/tmp/s,c port=1,2,3 hostaddr=", &env);
        let hosts: Vec<_> = target
            .endpoints
            .iter()
            .map(|e| (e.host_text(), e.port))
            .collect();
        assert_eq!(
            hosts,
            vec![("a".into(), 1), ("/tmp/s".into(), 2), ("c".into(), 3)]
        );
        let target = resolved("postgres://a,b:7/db", &env);
        let ports: Vec<_> = target.endpoints.iter().map(|e| e.port).collect();
        assert_eq!(ports, vec![5432, 7]);
        let target = resolved("host=a,b port=9", &env);
        assert!(target.endpoints.iter().all(|e| e.port == 9));
        let target = resolved("hostaddr=127.0.0.1,::1", &env);
        assert_eq!(target.endpoints[1].host, HostKind::AddressOnly);
        assert_eq!(target.endpoints[1].host_text(), "::1");

        let err = settings_error("host=a,b port=1,2,3", &env);
        assert!(err.contains("3 ports for 2 hosts"), "{err}");
        let err = settings_error("host=a,b hostaddr=127.0.0.1", &env);
        assert!(err.contains("2 hosts but"), "{err}");
        let err = settings_error("hostaddr=db.example", &env);
        assert!(
            err.contains("hostaddr \"db.example\" (in the target)"),
            "{err}"
        );
        let err = settings_error("", &self::env(&[("PGPORT", "54x")]));
        assert!(
            err.contains("port \"54x\" (from PGPORT) is not valid"),
            "{err}"
        );
        let err = settings_error("port=0", &env);
        assert!(err.contains("from 1 to 65535"), "{err}");
    }

    #[test]
    fn values_are_checked_and_unsupported_ones_refused() {
        let env = env(&[]);
        let cases = [
            ("sslmode=strict", "use one of disable, allow, prefer"),
            ("connect_timeout=soon", "write a whole number"),
            ("target_session_attrs=standby", "use read-write"),
            ("gssencmode=require", "no GSSAPI"),
            (
                "requirepeer=postgres",
                "requirepeer \"postgres\" (in the target) is not supported",
            ),
            ("sslcrl=/crl.pem", "revocation lists"),
            ("replication=database", "ordinary sessions"),
            ("sslcertmode=require", "use allow"),
            (
                "ssl_min_protocol_version=TLSv1 ssl_max_protocol_version=TLSv1.1",
                "TLSv1.2 and TLSv1.3 only",
            ),
            (
                "ssl_max_protocol_version=TLSv1.1",
                "(by default TLSv1.2) is above",
            ),
            (
                "ssl_min_protocol_version=TLSv1.3 ssl_max_protocol_version=TLSv1.2",
                "is above",
            ),
            ("ssl_min_protocol_version=SSLv3", "use TLSv1"),
            (
                "sslmode=require sslrootcert=system",
                "use sslmode=verify-full",
            ),
        ];
        for (text, says) in cases {
            let err = settings_error(text, &env);
            assert!(err.contains(says), "{text}: {err}");
        }
        let err = settings_error("", &self::env(&[("PGSSLMODE", "bogus")]));
        assert!(err.contains("sslmode \"bogus\" (from PGSSLMODE)"), "{err}");
        assert!(matches!(resolve("nosuch=1", &env), Err(Problem::Syntax(_))));
        // Accepted and ignored: only for GSSAPI, compression, encodings.
        resolved(
            "krbsrvname=x gsslib=gssapi sslcompression=1 client_encoding=auto replication=false",
            &env,
        );
    }

    #[test]
    fn libpq_details() {
        let env = env(&[("PGREQUIRESSL", "1")]);
        assert_eq!(resolved("", &env).tls.mode, SslMode::Require);
        assert_eq!(resolved("sslmode=allow", &env).tls.mode, SslMode::Allow);
        let env = self::env(&[]);
        assert_eq!(
            resolved("sslrootcert=system", &env).tls.mode,
            SslMode::VerifyFull
        );
        assert_eq!(
            resolved("connect_timeout=1", &env).connect_timeout,
            ConnectTimeout::After(Duration::from_secs(2))
        );
        assert_eq!(
            resolved("connect_timeout=0", &env).connect_timeout,
            ConnectTimeout::Never
        );
        assert_eq!(
            resolved("connect_timeout=' 5 '", &env).connect_timeout,
            ConnectTimeout::After(Duration::from_secs(5))
        );
        let target = resolved("fallback_application_name=fb", &env);
        assert_eq!(target.application_name.as_deref(), Some("fb"));
        let target = resolved("fallback_application_name=fb application_name=app", &env);
        assert_eq!(target.application_name.as_deref(), Some("app"));
        let target = resolved("keepalives=0 keepalives_idle=5 keepalives_retries=2", &env);
        assert!(!target.keepalives);
        assert_eq!(target.keepalives_idle, Some(Duration::from_secs(5)));
        assert_eq!(target.keepalives_count, Some(2));
        let target = resolved("sslsni=0 ssl_min_protocol_version=TLSv1.3", &env);
        assert!(!target.tls.sni);
        assert_eq!(
            target.tls.versions,
            TlsVersions {
                tls12: false,
                tls13: true
            }
        );
        assert_eq!(
            resolved("", &env).tls.versions,
            TlsVersions {
                tls12: true,
                tls13: true
            }
        );
    }

    #[test]
    fn passwords_come_from_the_password_file_per_host() {
        let scratch = Scratch::new("pgpass");
        let file = scratch.write(
            "pgpass",
            "localhost:5432:*:loader:local-pw\n\
             /tmp/sockdir:5433:app:*:socket-pw\n\
             db.internal:*:app:loader:tcp-pw\n",
            0o600,
        );
        let passfile = file.display().to_string();
        let mut env = env(&[("PGPASSFILE", &passfile), ("PGUSER", "loader")]);
        let password = |target: &Resolved, i: usize| {
            target.endpoints[i]
                .password
                .as_ref()
                .map(|p| p.value.clone())
        };
        // 'localhost' matches no host, and the default socket directory.
        assert_eq!(
            password(&resolved("", &env), 0).as_deref(),
            Some("local-pw")
        );
        env.socket_dir = Some(PathBuf::from(DEFAULT_SOCKET_DIR));
        assert_eq!(
            password(&resolved("", &env), 0).as_deref(),
            Some("local-pw")
        );
        assert_eq!(
            password(&resolved("host=/var/run/postgresql", &env), 0).as_deref(),
            Some("local-pw")
        );
        let target = resolved(
            "host=db.internal,/tmp/sockdir,other port=1,5433,1 dbname=app",
            &env,
        );
        assert_eq!(password(&target, 0).as_deref(), Some("tcp-pw"));
        assert_eq!(password(&target, 1).as_deref(), Some("socket-pw"));
        assert_eq!(password(&target, 2), None);
        assert_eq!(
            target.endpoints[0].password.as_ref().unwrap().origin,
            Origin::PassFile(file.clone())
        );
        // A password given anywhere else wins over the file.
        let target = resolved("host=db.internal dbname=app password=given", &env);
        assert_eq!(password(&target, 0).as_deref(), Some("given"));
        // passfile in the target; ~/.pgpass by default.
        let target = resolved(
            &format!("passfile={passfile} host=db.internal dbname=app"),
            &self::env(&[("PGUSER", "loader")]),
        );
        assert_eq!(password(&target, 0).as_deref(), Some("tcp-pw"));
        let mut home = self::env(&[("PGUSER", "loader")]);
        home.home = Some(scratch.0.clone());
        scratch.write(".pgpass", "*:*:*:*:home-pw\n", 0o600);
        assert_eq!(
            password(&resolved("", &home), 0).as_deref(),
            Some("home-pw")
        );
        // Readable by others: ignored.
        scratch.write(".pgpass", "*:*:*:*:home-pw\n", 0o644);
        assert_eq!(password(&resolved("", &home), 0), None);
    }

    #[test]
    fn services_fill_in_before_the_environment() {
        let scratch = Scratch::new("service");
        let user_file = scratch.write(
            "user.conf",
            "[app]\nhost=svc-host\nport=7000\ndbname=svc-db\n[broken]\nhost = x\n",
            0o644,
        );
        scratch.write(
            "sysconf/pg_service.conf",
            "[app]\nhost=system-host\n[system-only]\nuser=sys-user\n",
            0o644,
        );
        let sysconf = scratch.0.join("sysconf").display().to_string();
        let user_path = user_file.display().to_string();
        let env = env(&[
            ("PGSERVICEFILE", &user_path),
            ("PGSYSCONFDIR", &sysconf),
            ("PGPORT", "9999"),
            ("PGUSER", "envuser"),
        ]);
        let target = resolved("service=app port=1", &env);
        assert_eq!(target.endpoints[0].host, HostKind::Tcp("svc-host".into()));
        assert_eq!(target.endpoints[0].port, 1);
        assert_eq!(target.dbname, "svc-db");
        assert_eq!(target.user, "envuser");
        // PGSERVICE names it too; the system file is read when the user's
        // file lacks the service.
        let mut with_service = env.clone();
        with_service
            .vars
            .insert("PGSERVICE".into(), "system-only".into());
        assert_eq!(resolved("", &with_service).user, "sys-user");
        let target = resolved(
            "service=system-only",
            &self::env(&[("PGSERVICEFILE", &user_path), ("PGSYSCONFDIR", &sysconf)]),
        );
        assert_eq!(target.user, "sys-user");

        let err = settings_error("service=nosuch", &env);
        assert!(
            err.contains("definition of service \"nosuch\" not found"),
            "{err}"
        );
        let err = settings_error("service=broken", &env);
        assert!(err.contains("syntax error in service file"), "{err}");
        let missing = self::env(&[("PGSERVICEFILE", "/nonexistent/pg_service.conf")]);
        let err = settings_error("service=app", &missing);
        assert!(err.contains("(from PGSERVICEFILE) not found"), "{err}");
        // ~/.pg_service.conf by default.
        let mut home = self::env(&[("PGSYSCONFDIR", "/nonexistent")]);
        home.home = Some(scratch.0.clone());
        scratch.write(".pg_service.conf", "[home]\ndbname=home-db\n", 0o644);
        assert_eq!(resolved("service=home", &home).dbname, "home-db");
    }

    #[test]
    fn client_certificates_and_roots_default_to_the_home_directory() {
        let scratch = Scratch::new("certs");
        let mut env = env(&[]);
        env.home = Some(scratch.0.clone());
        assert_eq!(resolved("", &env).tls.client_cert, None);
        assert_eq!(resolved("", &env).tls.root_cert, None);
        let cert = scratch.write(".postgresql/postgresql.crt", "cert", 0o644);
        let err = settings_error("", &env);
        assert!(err.contains("not its private key file"), "{err}");
        assert_eq!(resolved("sslcertmode=disable", &env).tls.client_cert, None);
        let key = scratch.write(".postgresql/postgresql.key", "key", 0o600);
        let root = scratch.write(".postgresql/root.crt", "root", 0o644);
        let tls = resolved("", &env).tls;
        assert_eq!(
            tls.client_cert,
            Some(ClientCert {
                cert,
                key: key.clone()
            })
        );
        assert_eq!(tls.root_cert, Some(root.display().to_string()));
        // Named explicitly; a certificate file that is missing means none.
        let other = scratch.write("other.crt", "cert", 0o644);
        let tls = resolved(
            &format!("sslcert={} sslrootcert=/ca.pem", other.display()),
            &env,
        )
        .tls;
        assert_eq!(tls.client_cert, Some(ClientCert { cert: other, key }));
        assert_eq!(tls.root_cert.as_deref(), Some("/ca.pem"));
        let tls = resolved("sslcert=/nonexistent.crt", &env).tls;
        assert_eq!(tls.client_cert, None);
    }
}
