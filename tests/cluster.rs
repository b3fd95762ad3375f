//! A throwaway Postgres cluster per test, for what the shared server must
//! not be put through: a restart under a running copy, or settings such as
//! TLS and a strict pg_hba.conf. Built with the newest installed `initdb`
//! and `pg_ctl`, run as the `postgres` user when the tests run as root
//! (the server refuses root), on a free port; stopped and removed when
//! dropped.
//!
//! The cluster's own connections (creating databases, setting passwords)
//! use its Unix socket, so they work whatever pg_hba.conf says about TCP.

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// What a test changes in a fresh cluster before it starts.
pub struct ClusterOptions {
    /// Settings appended to postgresql.conf as `name = 'value'`
    /// (`("ssl", "on")`, `("ssl_cert_file", "server.crt")`).
    pub settings: Vec<(String, String)>,
    /// Files written into the data directory, by name, readable by the
    /// server alone (as it requires of `ssl_key_file`).
    pub files: Vec<(String, Vec<u8>)>,
    /// Replaces pg_hba.conf. A line trusting the superuser `postgres` over
    /// the Unix socket is put first, for the cluster's own connections.
    pub hba: Option<String>,
    /// The server's `listen_addresses`.
    pub listen_addresses: String,
}

impl Default for ClusterOptions {
    fn default() -> ClusterOptions {
        ClusterOptions {
            settings: Vec::new(),
            files: Vec::new(),
            hba: None,
            listen_addresses: "127.0.0.1".to_owned(),
        }
    }
}

/// A running throwaway cluster. Stopped and removed when dropped.
pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    listen_addresses: String,
    /// Run the server's tools as the `postgres` user (they refuse root).
    as_postgres: bool,
}

impl Cluster {
    /// Starts a cluster with initdb's defaults (trust for everyone),
    /// listening on 127.0.0.1; or says why it cannot and returns `None`.
    pub fn start() -> Option<Cluster> {
        Cluster::start_with(ClusterOptions::default())
    }

    /// Starts a cluster changed by `options`, or says why it cannot and
    /// returns `None`.
    pub fn start_with(options: ClusterOptions) -> Option<Cluster> {
        let Some(bin) = postgres_bin() else {
            eprintln!("skipped: no initdb and pg_ctl under /usr/lib/postgresql/*/bin");
            return None;
        };
        let as_postgres = is_root();
        if as_postgres && !succeeds(Command::new("id").arg("postgres")) {
            eprintln!("skipped: running as root and there is no postgres user to run initdb");
            return None;
        }
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ferry-pg-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).expect("create the cluster directory");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("find a free port")
            .port();
        let cluster = Cluster {
            bin,
            dir,
            port,
            listen_addresses: options.listen_addresses,
            as_postgres,
        };
        cluster.give_to_server(&cluster.dir);
        let data = cluster.data();
        cluster.tool(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "-A".as_ref(),
                "trust".as_ref(),
            ],
        );
        for (name, contents) in &options.files {
            let path = data.join(name);
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .and_then(|mut file| file.write_all(contents))
                .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
            cluster.give_to_server(&path);
        }
        if !options.settings.is_empty() {
            let mut conf = std::fs::OpenOptions::new()
                .append(true)
                .open(data.join("postgresql.conf"))
                .expect("open postgresql.conf");
            for (name, value) in &options.settings {
                writeln!(conf, "{name} = '{}'", value.replace('\'', "''"))
                    .expect("write postgresql.conf");
            }
        }
        if let Some(hba) = &options.hba {
            std::fs::write(
                data.join("pg_hba.conf"),
                format!("local all postgres trust\n{hba}\n"),
            )
            .expect("write pg_hba.conf");
        }
        cluster.pg_ctl("start", "fast");
        Some(cluster)
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's working directory (the data directory is `data/`
    /// inside it), removed with the cluster.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A superuser connection to `database` over the Unix socket.
    pub fn admin(&self, database: &str) -> postgres::Client {
        postgres::Config::new()
            .host_path(&self.dir)
            .port(self.port)
            .user("postgres")
            .dbname(database)
            .connect(postgres::NoTls)
            .expect("connect to the cluster over its socket")
    }

    /// Creates `name` and returns its URL over TCP on 127.0.0.1, as the
    /// superuser without a password.
    pub fn create_database(&self, name: &str) -> String {
        self.admin("postgres")
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create the database");
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// A fast restart: connections are cut, transactions roll back.
    pub fn restart(&self) {
        self.pg_ctl("restart", "fast");
    }

    /// A crash: the server stops at once, without a checkpoint, and starts
    /// again through crash recovery, which empties unlogged tables.
    pub fn crash(&self) {
        self.pg_ctl("stop", "immediate");
        self.pg_ctl("start", "fast");
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Hands `path` to the user the server runs as.
    fn give_to_server(&self, path: &Path) {
        if self.as_postgres {
            let mut chown = Command::new("chown");
            chown.arg("postgres:").arg(path);
            assert!(succeeds(&mut chown), "chown {}", path.display());
        }
    }

    /// `pg_ctl ACTION` with the cluster's data directory, log, socket
    /// directory and port, stopping in `mode`; waits for the action to
    /// complete.
    fn pg_ctl(&self, action: &str, mode: &str) {
        let options = format!(
            "-k {} -p {} -c listen_addresses={} -c fsync=off",
            self.dir.display(),
            self.port,
            self.listen_addresses
        );
        let data = self.data();
        let log = self.dir.join("server.log");
        self.tool(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-m".as_ref(),
                mode.as_ref(),
                "-o".as_ref(),
                options.as_ref(),
                action.as_ref(),
            ],
        );
    }

    /// A command running one of the server's tools as the server's user.
    fn command(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        // The server inherits pg_ctl's descriptors: no pipes, or waiting
        // for their end would wait for the server.
        command
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    }

    /// Runs one of the server's tools, failing with the server log when it
    /// fails.
    fn tool(&self, name: &str, args: &[&std::ffi::OsStr]) {
        let status = self
            .command(name)
            .args(args)
            .status()
            .unwrap_or_else(|e| panic!("run {name}: {e}"));
        if !status.success() {
            let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
            panic!("{name} failed ({status}); server log:\n{log}");
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.data().join("postmaster.pid").exists() {
            let _ = self
                .command("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-w", "-m", "immediate", "stop"])
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The newest Postgres installation's `bin` directory holding `initdb` and
/// `pg_ctl`.
fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn succeeds(command: &mut Command) -> bool {
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
