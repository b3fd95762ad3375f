//! A target resolved ([`crate::libpq`]): the hosts to try, each with its
//! port and password, and the session and TLS settings; and where each
//! setting came from, for messages that never show a password.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio_postgres::config::{ChannelBinding, LoadBalanceHosts, TargetSessionAttrs};

use crate::tls::TlsSettings;

/// Where a setting came from, for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The target itself.
    Target,
    /// A service file's group.
    Service {
        /// The service name.
        name: String,
        /// The file it was found in.
        file: PathBuf,
    },
    /// An environment variable.
    Env(&'static str),
    /// A password file.
    PassFile(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Target => f.write_str("in the target"),
            Origin::Service { name, file } => {
                write!(f, "in service {name} of {}", file.display())
            }
            Origin::Env(name) => write!(f, "from {name}"),
            Origin::PassFile(file) => write!(f, "from password file {}", file.display()),
        }
    }
}

/// A password, never shown.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Password {
    /// The password.
    pub value: String,
    /// Where it came from.
    pub origin: Origin,
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Password(*** {})", self.origin)
    }
}

/// Where to connect to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HostKind {
    /// A host name or address over TCP.
    Tcp(String),
    /// A directory holding the server's Unix socket.
    Socket(PathBuf),
    /// Only `hostaddr` was given.
    AddressOnly,
}

/// One host of the target, with its port and password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// The host (name, socket directory) or none.
    pub host: HostKind,
    /// `hostaddr`: the address to connect to instead of looking up `host`.
    pub hostaddr: Option<IpAddr>,
    /// The port.
    pub port: u16,
    /// The port as written (the password file matches it as text).
    pub port_text: String,
    /// The password for this host, if any.
    pub password: Option<Password>,
}

impl Endpoint {
    /// The host as a connection string would name it.
    pub fn host_text(&self) -> String {
        match (&self.host, &self.hostaddr) {
            (HostKind::Tcp(name), _) => name.clone(),
            (HostKind::Socket(dir), _) => dir.display().to_string(),
            (HostKind::AddressOnly, Some(addr)) => addr.to_string(),
            (HostKind::AddressOnly, None) => String::new(),
        }
    }
}

/// How long a connection to one host may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConnectTimeout {
    /// Not set: ferry's default applies.
    Unset,
    /// `connect_timeout` of 0 or less: wait forever, as libpq does.
    Never,
    /// This long.
    After(Duration),
}

/// Everything needed to connect, resolved.
#[derive(Clone, Debug)]
pub(crate) struct Resolved {
    /// The hosts, in the order to try them.
    pub endpoints: Vec<Endpoint>,
    /// The user name.
    pub user: String,
    /// The database.
    pub dbname: String,
    /// `options`: command-line options for the server.
    pub options: Option<String>,
    /// `application_name`, else `fallback_application_name`.
    pub application_name: Option<String>,
    /// `connect_timeout`, per host.
    pub connect_timeout: ConnectTimeout,
    /// `tcp_user_timeout`.
    pub tcp_user_timeout: Option<Duration>,
    /// `keepalives` (on unless 0).
    pub keepalives: bool,
    /// `keepalives_idle`, `keepalives_interval`, `keepalives_count`.
    pub keepalives_idle: Option<Duration>,
    /// See `keepalives_idle`.
    pub keepalives_interval: Option<Duration>,
    /// See `keepalives_idle`.
    pub keepalives_count: Option<u32>,
    /// `target_session_attrs`.
    pub target_session_attrs: TargetSessionAttrs,
    /// `channel_binding`.
    pub channel_binding: ChannelBinding,
    /// `load_balance_hosts=random`.
    pub load_balance: LoadBalanceHosts,
    /// TLS.
    pub tls: TlsSettings,
    /// Whether host, port, user and dbname all came from the target text,
    /// so that it says alone where ferry connects.
    pub self_contained: bool,
}

impl Resolved {
    /// `host=… port=… user=… dbname=…` of what was resolved, never with
    /// a password, for messages.
    pub fn summary(&self) -> String {
        let join = |part: &dyn Fn(&Endpoint) -> String| {
            self.endpoints
                .iter()
                .map(part)
                .collect::<Vec<_>>()
                .join(",")
        };
        format!(
            "host={} port={} user={} dbname={}",
            join(&Endpoint::host_text),
            join(&|e: &Endpoint| e.port.to_string()),
            self.user,
            self.dbname
        )
    }
}
