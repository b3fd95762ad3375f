//! Connecting like a Postgres tool (issue 17): `ferry` with no `--target`
//! and no `DATABASE_URL` finds its server, user, database and password
//! where libpq would: the `PG*` variables, a password file, a service
//! file, a Unix socket. Against a throwaway cluster that wants a
//! scram-sha-256 password from role `loader`, over TCP and over its
//! socket alike.
//!
//! The password holds a `:` and a `\`, which a password file must escape,
//! and no run may print it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cluster::{Cluster, ClusterOptions};
use crate::util::{ferry_command, ferry_with_env, Run, TempSqlite};

pub(crate) const PASSWORD: &str = "lib:pq\\s3cret";
pub(crate) const ROLE: &str = "loader";

/// The cluster, and a home directory of the test's own (so that the
/// runner's `~/.pgpass` and `~/.postgresql` play no part).
pub(crate) struct Server {
    cluster: Cluster,
    home: PathBuf,
}

impl Server {
    /// Starts the server, or says why it cannot and returns `None`.
    pub(crate) fn start() -> Option<Server> {
        let hba = [
            format!("local all {ROLE} scram-sha-256"),
            format!("host all {ROLE} 127.0.0.1/32 scram-sha-256"),
        ]
        .join("\n");
        let cluster = Cluster::start_with(ClusterOptions {
            settings: vec![("password_encryption".into(), "scram-sha-256".into())],
            hba: Some(hba),
            ..ClusterOptions::default()
        })?;
        cluster
            .admin("postgres")
            .batch_execute(&format!(
                "CREATE ROLE {ROLE} LOGIN PASSWORD '{}'",
                PASSWORD.replace('\'', "''")
            ))
            .expect("create the role");
        let home = cluster.dir().join("home");
        std::fs::create_dir(&home).unwrap();
        Some(Server { cluster, home })
    }

    /// A new database owned by the role.
    pub(crate) fn database(&self, name: &str) -> String {
        self.cluster
            .admin("postgres")
            .batch_execute(&format!("CREATE DATABASE {name} OWNER {ROLE}"))
            .expect("create the database");
        name.to_owned()
    }

    pub(crate) fn port(&self) -> String {
        self.cluster.port().to_string()
    }

    /// The directory holding the server's Unix socket.
    fn socket_dir(&self) -> String {
        self.cluster.dir().display().to_string()
    }

    fn home(&self) -> String {
        self.home.display().to_string()
    }

    /// Writes `text` to `name` in the home directory with `mode`.
    fn write(&self, name: &str, text: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.home.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    pub(crate) fn rows(&self, database: &str) -> i64 {
        self.cluster
            .admin(database)
            .query_one("SELECT count(*) FROM public.notes", &[])
            .unwrap()
            .get(0)
    }
}

pub(crate) fn source() -> TempSqlite {
    TempSqlite::new(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
         INSERT INTO notes VALUES (1, 'one'), (2, 'two ✓'), (3, '');",
    )
}

/// `ferry COMMAND --source SOURCE --format json` plus `extra`, with `env`
/// (and HOME) set, checked not to print the password or panic.
fn ferry_run(
    server: &Server,
    command: &str,
    source: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Run {
    let mut args = vec![
        command,
        "--source",
        source.to_str().unwrap(),
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let home = server.home();
    let mut env = env.to_vec();
    env.push(("HOME", &home));
    let run = ferry_with_env(&args, &env);
    assert_private(command, &run.stdout, &run.stderr);
    run
}

#[track_caller]
fn assert_private(command: &str, stdout: &str, stderr: &str) {
    for (stream, text) in [("stdout", stdout), ("stderr", stderr)] {
        for secret in [PASSWORD, "s3cret"] {
            assert!(
                !text.contains(secret),
                "ferry {command} printed the password on {stream}:\n{text}"
            );
        }
        assert!(
            !text.contains("panicked"),
            "ferry {command} panicked:\n{text}"
        );
    }
}

/// The run failed to connect (exit 3), saying `says`.
#[track_caller]
fn refused(run: &Run, says: &str) {
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains(says),
        "should say {says:?}: {}",
        run.stderr
    );
}

/// Copies and fully verifies `source` with `extra` and `env`; the rows
/// arrived in `database`.
#[track_caller]
fn copies_and_verifies(server: &Server, database: &str, extra: &[&str], env: &[(&str, &str)]) {
    let source = source();
    ferry_run(server, "copy", &source.path, extra, env).assert_ok();
    ferry_run(
        server,
        "verify",
        &source.path,
        &[&["--full"], extra].concat(),
        env,
    )
    .assert_ok();
    assert_eq!(server.rows(database), 3, "{extra:?} {env:?}");
}

/// A password file line for `host`, `port`, `database` and the role, the
/// password escaped.
fn pgpass_line(host: &str, port: &str, database: &str) -> String {
    let escaped = PASSWORD.replace('\\', "\\\\").replace(':', "\\:");
    format!("{host}:{port}:{database}:{ROLE}:{escaped}\n")
}

#[test]
fn issue_17_pg_variables_stand_in_for_the_target() {
    let Some(server) = Server::start() else {
        return;
    };
    let database = server.database("from_variables");
    let port = server.port();
    let env = [
        ("PGHOST", "127.0.0.1"),
        ("PGPORT", port.as_str()),
        ("PGUSER", ROLE),
        ("PGDATABASE", database.as_str()),
        ("PGPASSWORD", PASSWORD),
    ];
    copies_and_verifies(&server, &database, &[], &env);

    // Without the password the server turns ferry away: exit 3, saying so.
    let source = source();
    let run = ferry_run(&server, "copy", &source.path, &[], &env[..4]);
    refused(&run, "password");
    assert!(
        run.stderr
            .contains(&format!("host=127.0.0.1 port={port} user={ROLE}")),
        "the message names where ferry connected: {}",
        run.stderr
    );
}

#[test]
fn issue_17_passwords_from_a_private_pgpass_only() {
    let Some(server) = Server::start() else {
        return;
    };
    let database = server.database("from_pgpass");
    let port = server.port();
    let env = [
        ("PGHOST", "127.0.0.1"),
        ("PGPORT", port.as_str()),
        ("PGUSER", ROLE),
        ("PGDATABASE", database.as_str()),
    ];
    let text = format!(
        "# not this one\n127.0.0.1:{port}:other:{ROLE}:wrong\n{}",
        pgpass_line("127.0.0.1", &port, "*")
    );
    // ~/.pgpass, mode 0600.
    server.write(".pgpass", &text, 0o600);
    copies_and_verifies(&server, &database, &[], &env);

    // Readable by others: ignored, with libpq's warning, and the server
    // then asks for a password ferry does not have.
    server.write(".pgpass", &text, 0o644);
    let source = source();
    let run = ferry_run(
        &server,
        "copy",
        &source.path,
        &["--if-exists", "drop"],
        &env,
    );
    refused(&run, "has group or world access");

    // PGPASSFILE names another file; a wrong password says where it came
    // from.
    let wrong = server.write("wrong.pgpass", "*:*:*:*:nope\n", 0o600);
    let wrong = wrong.display().to_string();
    let with_file = [&env[..], &[("PGPASSFILE", wrong.as_str())]].concat();
    let run = ferry_run(
        &server,
        "copy",
        &source.path,
        &["--if-exists", "drop"],
        &with_file,
    );
    refused(&run, &format!("password from password file {wrong}"));
}

#[test]
fn issue_17_a_service_file_names_the_target() {
    let Some(server) = Server::start() else {
        return;
    };
    let from_variable = server.database("service_from_pgservice");
    let from_target = server.database("service_from_target");
    let port = server.port();
    let services = server.write(
        "services.conf",
        &format!(
            "# ferry's targets\n[other]\nhost=nowhere.invalid\n\n[ferrytest]\nhost=127.0.0.1\n\
             port={port}\nuser={ROLE}\ndbname={from_variable}\npassword={PASSWORD}\n"
        ),
        0o600,
    );
    let services = services.display().to_string();
    let env = [
        ("PGSERVICEFILE", services.as_str()),
        ("PGSERVICE", "ferrytest"),
    ];
    copies_and_verifies(&server, &from_variable, &[], &env);

    // The target names the service; what it sets itself wins.
    let target = format!("service=ferrytest dbname={from_target}");
    copies_and_verifies(&server, &from_target, &["--target", &target], &env[..1]);

    // A service nowhere to be found: the message says where ferry looked.
    let source = source();
    let run = ferry_run(
        &server,
        "copy",
        &source.path,
        &["--target", "service=nosuch"],
        &env[..1],
    );
    refused(&run, "definition of service \"nosuch\" not found");
}

#[test]
fn issue_17_unix_sockets_by_url_and_key_value() {
    let Some(server) = Server::start() else {
        return;
    };
    let by_url = server.database("socket_url");
    let by_key_value = server.database("socket_key_value");
    let port = server.port();
    let socket_dir = server.socket_dir();
    let env = [
        ("PGHOST", socket_dir.as_str()),
        ("PGPORT", port.as_str()),
        ("PGUSER", ROLE),
        ("PGPASSWORD", PASSWORD),
    ];
    copies_and_verifies(
        &server,
        &by_url,
        &["--target", &format!("postgres:///{by_url}")],
        &env,
    );

    // The socket directory in the target, the password from a password
    // file line naming that directory.
    server.write(
        ".pgpass",
        &pgpass_line(&socket_dir, &port, &by_key_value),
        0o600,
    );
    let target = format!("dbname={by_key_value} host={socket_dir}");
    copies_and_verifies(&server, &by_key_value, &["--target", &target], &env[1..3]);
}

#[test]
fn issue_17_sessions_are_named_after_the_command_unless_pgappname_says() {
    let Some(server) = Server::start() else {
        return;
    };
    let port = server.port();
    let home = server.home();
    for (appname, expected) in [(None, "ferry copy"), (Some("nightly load"), "nightly load")] {
        let database = server.database(if appname.is_some() {
            "named_by_pgappname"
        } else {
            "named_by_ferry"
        });
        // Hold the lock ferry takes before it creates its ledger, so that
        // its session waits where pg_stat_activity shows it.
        let mut admin = server.cluster.admin(&database);
        admin
            .batch_execute("SELECT pg_advisory_lock(hashtextextended('ferry ledger', 0))")
            .unwrap();
        let source = source();
        let mut env = vec![
            ("PGHOST", "127.0.0.1"),
            ("PGPORT", port.as_str()),
            ("PGUSER", ROLE),
            ("PGDATABASE", database.as_str()),
            ("PGPASSWORD", PASSWORD),
            ("HOME", home.as_str()),
        ];
        env.extend(appname.map(|name| ("PGAPPNAME", name)));
        let mut child = ferry_command(&["copy", "--source", source.path.to_str().unwrap()], &env)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let names: Vec<String> = loop {
            let waiting: Vec<String> = admin
                .query(
                    "SELECT application_name FROM pg_stat_activity
                      WHERE usename = $1 AND wait_event_type = 'Lock'",
                    &[&ROLE],
                )
                .unwrap()
                .iter()
                .map(|row| row.get(0))
                .collect();
            if !waiting.is_empty() {
                break waiting;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "ferry never waited for the ledger lock"
            );
            assert!(
                child.try_wait().unwrap().is_none(),
                "ferry ended before the lock"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(names.iter().all(|name| name == expected), "{names:?}");
        admin
            .batch_execute("SELECT pg_advisory_unlock(hashtextextended('ferry ledger', 0))")
            .unwrap();
        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_private("copy", &stdout, &stderr);
        assert!(output.status.success(), "{stderr}");
        assert_eq!(server.rows(&database), 3);
    }
}
