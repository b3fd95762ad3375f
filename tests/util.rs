//! Test support: a fresh database per test, the `ferry` command, and an
//! independent look at SQLite files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// The Postgres to test against: `DATABASE_URL`, else the local server.
pub fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A uniquely named database, created for one test and dropped after it.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub fn new() -> TestDb {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "ferry_test_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = postgres::Client::connect(&admin_url(), postgres::NoTls)
            .expect("connect to the test Postgres (set DATABASE_URL or run scripts/test)");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create test database");
        let url = with_database(&admin_url(), &name);
        TestDb { name, url }
    }

    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).expect("connect to test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&admin_url(), postgres::NoTls) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// Replaces the database name in a libpq URL.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    format!("{base}/{database}{query}")
}

/// What a `ferry` run printed and how it exited.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\n{}",
                self.stdout, self.stderr
            )
        })
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Run {
        assert_eq!(
            self.code, 0,
            "ferry failed:\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Runs `ferry` with `args`, checking that it left every SQLite file it was
/// given byte-for-byte unchanged.
pub fn ferry(args: &[&str]) -> Run {
    ferry_with_env(args, &[])
}

/// [`ferry`] with the environment variables `env` set.
pub fn ferry_with_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let sources: Vec<PathBuf> = args
        .windows(2)
        .filter(|w| w[0] == "--source")
        .map(|w| PathBuf::from(w[1]))
        .filter(|p| p.is_file())
        .collect();
    let before: Vec<Vec<u8>> = sources.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let output: Output = ferry_command(args, env).output().expect("run ferry");
    for (path, bytes) in sources.iter().zip(before) {
        assert!(
            std::fs::read(path).unwrap() == bytes,
            "ferry modified its source {}",
            path.display()
        );
    }
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The `ferry` command with `args`, without the `DATABASE_URL` and `PG*`
/// variables the tests run with (ferry reads them as libpq does), and with
/// `env` set.
pub fn ferry_command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferry"));
    command.args(args).env_remove("DATABASE_URL");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PG") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    command
}

/// `ferry copy --source SOURCE --target DB --format json` plus `extra`.
pub fn copy(source: &Path, db: &TestDb, extra: &[&str]) -> Run {
    command_json("copy", source, db, extra)
}

/// `ferry COMMAND --source SOURCE --target DB --format json` plus `extra`.
pub fn command_json(command: &str, source: &Path, db: &TestDb, extra: &[&str]) -> Run {
    let mut args = vec![
        command,
        "--source",
        source.to_str().unwrap(),
        "--target",
        &db.url,
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    ferry(&args)
}

/// The result of table `name` in a JSON report (`tables[]`).
pub fn table<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == name)
        .unwrap_or_else(|| panic!("{name} missing from {report}"))
}

/// `ferry verify --full` (plus `extra`) of `source` against `db` passes.
#[track_caller]
pub fn verified(source: &Path, db: &TestDb, extra: &[&str]) {
    let run = command_json("verify", source, db, &[&["--full"], extra].concat());
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
}

/// Registers a `unicase` collation like Anki's (case-insensitive), without
/// which SQLite cannot read the tables that declare it.
pub fn with_unicase(conn: rusqlite::Connection) -> rusqlite::Connection {
    conn.create_collation("unicase", |a: &str, b: &str| {
        a.to_lowercase().cmp(&b.to_lowercase())
    })
    .unwrap();
    conn
}

/// A committed fixture file.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/data")
        .join(name)
}

/// A scratch SQLite file built by `sql`, removed when dropped.
pub struct TempSqlite {
    pub path: PathBuf,
}

impl TempSqlite {
    pub fn new(sql: &str) -> TempSqlite {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "ferry-test-{}-{}.sqlite",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&path);
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(sql)
            .unwrap_or_else(|e| panic!("{e}\n{sql}"));
        TempSqlite { path }
    }
}

impl Drop for TempSqlite {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        // A WAL-mode file leaves its log and shared-memory index beside it.
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut side = self.path.clone().into_os_string();
            side.push(suffix);
            let _ = std::fs::remove_file(side);
        }
    }
}

/// Postgres's `data_type`-style name of each column of a table, as
/// `format_type` prints it, in column order.
pub fn pg_column_types(
    client: &mut postgres::Client,
    schema: &str,
    table: &str,
) -> Vec<(String, String)> {
    client
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod)
               FROM pg_attribute a
              WHERE a.attrelid = (quote_ident($1) || '.' || quote_ident($2))::regclass
                AND a.attnum > 0 AND NOT a.attisdropped
              ORDER BY a.attnum",
            &[&schema, &table],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// `name type` of each column of `public.table`, in column order.
pub fn types(db: &TestDb, table: &str) -> Vec<String> {
    pg_column_types(&mut db.client(), "public", table)
        .into_iter()
        .map(|(name, ty)| format!("{name} {ty}"))
        .collect()
}

/// The first column of the rows `sql` returns, as text.
pub fn pg_texts(pg: &mut postgres::Client, sql: &str) -> Vec<String> {
    pg.query(sql, &[])
        .unwrap_or_else(|e| panic!("{e}: {sql}"))
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// A fresh database with PostGIS created in it; `None`, with a line
/// saying so, when the server has no PostGIS to create.
pub fn postgis_db() -> Option<TestDb> {
    extension_db(
        "postgis",
        "CREATE EXTENSION postgis",
        "postgresql-15-postgis-3",
    )
}

/// A fresh database where `create` made `extension`; `None`, with a line
/// saying so, when the server has no such extension (Debian's `package`
/// brings it; scripts/test installs it as root).
pub fn extension_db(extension: &str, create: &str, package: &str) -> Option<TestDb> {
    let db = TestDb::new();
    let mut client = db.client();
    let available: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = $1)",
            &[&extension],
        )
        .unwrap()
        .get(0);
    if !available {
        eprintln!(
            "skipped: {extension} not available on this server (install {package}; scripts/test \
             does as root)"
        );
        return None;
    }
    client.batch_execute(create).unwrap();
    Some(db)
}

/// The published JSON schemas of the reports.
pub const COPY_SCHEMA: &str = include_str!("../crates/engine/copy-report.schema.json");
pub const SYNC_SCHEMA: &str = include_str!("../crates/engine/sync-report.schema.json");
pub const VERIFY_SCHEMA: &str = include_str!("../crates/verifier/verify-report.schema.json");

/// The report follows its published JSON schema.
#[track_caller]
pub fn assert_matches_schema(schema: &str, report: &serde_json::Value) {
    let schema: serde_json::Value = serde_json::from_str(schema).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "report does not match its schema: {errors:?}\n{report}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_database_in_urls() {
        assert_eq!(
            with_database("postgres://u@h:5/db", "x"),
            "postgres://u@h:5/x"
        );
        assert_eq!(with_database("postgres://u@h:5", "x"), "postgres://u@h:5/x");
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
    }
}
