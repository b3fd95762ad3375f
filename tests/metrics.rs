//! Metrics while running (issue 18): `--metrics-addr` serves `/metrics`
//! and `/health` during a copy, a sync and a verify, each held up by
//! another session's lock so it is still running when scraped; what it
//! serves and what `--metrics-textfile` writes pass `promtool check
//! metrics` (Debian's `prometheus` package, which scripts/test installs).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::util::{ferry, ferry_command, TempSqlite, TestDb};

/// How long a scrape may wait for the run to get where the test needs it.
const PATIENCE: Duration = Duration::from_secs(60);

/// A `ferry` process serving metrics, its stderr collected as it comes.
struct Serving {
    child: Child,
    addr: String,
    /// Its stderr so far, line by line, gathered by a thread of its own so
    /// ferry never blocks writing it.
    stderr: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Serving {
    /// Starts `ferry ARGS --metrics-addr 127.0.0.1:0` and waits for the
    /// address it says it serves.
    fn start(args: &[&str]) -> Serving {
        let mut all = args.to_vec();
        all.extend(["--metrics-addr", "127.0.0.1:0"]);
        let mut child = ferry_command(&all, &[])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run ferry");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let gathered = Arc::clone(&lines);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                gathered.lock().unwrap().push(line);
            }
        });
        let deadline = Instant::now() + PATIENCE;
        let addr = loop {
            let said = lines.lock().unwrap().iter().find_map(|line| {
                let rest = line.strip_prefix("ferry: metrics on http://")?;
                Some(rest.split('/').next()?.to_owned())
            });
            if let Some(addr) = said {
                break addr;
            }
            assert!(
                Instant::now() < deadline && !reader.is_finished(),
                "no metrics address on stderr: {:?}",
                lines.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        Serving {
            child,
            addr,
            stderr: lines,
            reader: Some(reader),
        }
    }

    /// `GET path`: the status code and body.
    fn get(&self, path: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.addr).expect("connect to /metrics");
        write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
        assert!(
            head.contains("\r\nContent-Type: text/plain; version=0.0.4"),
            "{head}"
        );
        assert!(head.contains("\r\nConnection: close"), "{head}");
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, body.to_owned())
    }

    /// Scrapes `path` until `done` holds for its answer.
    fn until(&self, path: &str, done: impl Fn(u16, &str) -> bool) -> (u16, String) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let (status, body) = self.get(path);
            if done(status, &body) {
                return (status, body);
            }
            assert!(
                Instant::now() < deadline,
                "{path} never got there: {status} {body}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits for the process to end: its exit code and whole stderr.
    fn wait(mut self) -> (i32, String) {
        let status = self.child.wait().unwrap();
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        let stderr = self.stderr.lock().unwrap().join("\n");
        (status.code().unwrap_or(-1), stderr)
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `promtool check metrics` accepts `text`; skipped, saying so, only
/// where promtool is not installed.
pub fn promtool_accepts(text: &str) {
    let child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "SKIPPED promtool check metrics: promtool is not installed (Debian: apt-get \
                 install prometheus; scripts/test does so as root)"
            );
            return;
        }
        Err(err) => panic!("running promtool: {err}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success() && output.stdout.is_empty() && output.stderr.is_empty(),
        "promtool check metrics refused it:\n{}{}\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The value of the sample `series` (name and labels, exactly) in `text`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().unwrap())
}

/// A source of `rows` rows in table `t`, for the tests below.
fn source(rows: u32) -> TempSqlite {
    TempSqlite::new(&format!(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
         INSERT INTO t SELECT i, 'row ' || i FROM n;"
    ))
}

/// Holds `LOCK TABLE t IN mode MODE` in `db` until dropped.
fn lock_t(db: &TestDb, mode: &str) -> postgres::Client {
    let mut holder = db.client();
    holder
        .batch_execute(&format!("BEGIN; LOCK TABLE t IN {mode} MODE"))
        .unwrap();
    holder
}

/// A copy held up by a lock serves its phase and series, /health turns
/// 503 past --stall-after and says why (the lock wait), and once the lock
/// goes the copy ends and writes its textfile.
#[test]
fn issue_18_copy_scraped_while_blocked_and_stalled() {
    let source = source(2_000);
    let db = TestDb::new();
    db.client()
        .batch_execute("CREATE TABLE t (id bigint PRIMARY KEY, v text)")
        .unwrap();
    let holder = lock_t(&db, "ACCESS EXCLUSIVE");
    let dir = tempfile::tempdir().unwrap();
    let textfile = dir.path().join("ferry.prom");
    let copy = Serving::start(&[
        "copy",
        "--source",
        source.path.to_str().unwrap(),
        "--target",
        &db.url,
        "--if-exists",
        "truncate",
        "--lock-timeout",
        "0",
        "--stall-after",
        "1s",
        "--metrics-textfile",
        textfile.to_str().unwrap(),
    ]);
    let (_, metrics) = copy.until("/metrics", |_, body| {
        body.contains("ferry_phase{phase=\"setup\"} 1\n")
    });
    assert!(
        metrics.contains("ferry_info{command=\"copy\",version=\""),
        "{metrics}"
    );
    assert!(
        metrics.contains("# TYPE ferry_retries_total counter\n"),
        "{metrics}"
    );
    assert!(!metrics.contains("ferry_success"), "{metrics}");
    promtool_accepts(&metrics);

    // Stalled behind the lock: 503, naming the phase and the wait.
    let (_, health) = copy.until("/health", |status, body| {
        status == 503 && body.contains("for a lock on public.t")
    });
    assert!(health.starts_with("stalled: no progress for "), "{health}");
    assert!(health.contains("in phase setup"), "{health}");
    assert_eq!(copy.get("/nothing").0, 404);

    drop(holder);
    let (code, stderr) = copy.wait();
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(&textfile).unwrap();
    promtool_accepts(&text);
    assert_eq!(sample(&text, "ferry_success"), Some(1.0), "{text}");
    assert_eq!(
        sample(&text, "ferry_rows_written_total{table=\"t\"}"),
        Some(2_000.0)
    );
    assert_eq!(
        sample(&text, "ferry_rows_expected{table=\"t\"}"),
        Some(2_000.0)
    );
    assert_eq!(
        sample(&text, "ferry_chunk_duration_seconds_count"),
        Some(1.0)
    );
    assert!(sample(&text, "ferry_written_bytes_total{table=\"t\"}").unwrap() > 0.0);
    assert!(!Path::new(&format!("{}.tmp", textfile.display())).exists());
}

/// A sync held up by a lock on its table serves its phase and is healthy
/// within --stall-after; afterwards its textfile holds the per-table
/// series monitoring alerts on.
#[test]
fn issue_18_sync_scraped_while_running() {
    let source = source(100);
    let db = TestDb::new();
    let source_arg = source.path.to_str().unwrap();
    let first = ferry(&["sync", "--source", source_arg, "--target", &db.url]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    rusqlite::Connection::open(&source.path)
        .unwrap()
        .execute_batch("INSERT INTO t VALUES (101, 'new'); DELETE FROM t WHERE id = 1;")
        .unwrap();
    // Reads go on, writes wait: the run finds its changes, then waits to
    // apply them.
    let holder = lock_t(&db, "SHARE");
    let dir = tempfile::tempdir().unwrap();
    let textfile = dir.path().join("sync.prom");
    let sync = Serving::start(&[
        "sync",
        "--source",
        source_arg,
        "--target",
        &db.url,
        "--lock-timeout",
        "0",
        "--metrics-textfile",
        textfile.to_str().unwrap(),
    ]);
    let (_, metrics) = sync.until("/metrics", |_, body| {
        body.contains("ferry_phase{phase=\"apply\"} 1\n")
    });
    assert!(metrics.contains("ferry_info{command=\"sync\""), "{metrics}");
    assert_eq!(
        sample(&metrics, "ferry_sync_changes{table=\"t\",kind=\"delete\"}"),
        Some(1.0),
        "{metrics}"
    );
    promtool_accepts(&metrics);
    assert_eq!(sync.get("/health"), (200, "ok\n".to_owned()));

    drop(holder);
    let (code, stderr) = sync.wait();
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(&textfile).unwrap();
    promtool_accepts(&text);
    let t = "{schema=\"public\",table=\"t\"";
    assert_eq!(
        sample(&text, &format!("ferry_sync_success{t}}}")),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, &format!("ferry_sync_rows{t},kind=\"inserted\"}}")),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, &format!("ferry_sync_rows{t},kind=\"deleted\"}}")),
        Some(1.0)
    );
    assert!(sample(
        &text,
        &format!("ferry_sync_last_success_timestamp_seconds{t}}}")
    )
    .is_some());
}

/// A verify held up by a lock serves its phase while counting; its
/// textfile says per table what matched.
#[test]
fn issue_18_verify_scraped_while_running_and_its_textfile() {
    let source = source(500);
    let db = TestDb::new();
    let source_arg = source.path.to_str().unwrap();
    let copied = ferry(&["copy", "--source", source_arg, "--target", &db.url]);
    assert_eq!(copied.code, 0, "{}", copied.stderr);
    db.client()
        .batch_execute("DELETE FROM t WHERE id = 7")
        .unwrap();
    let holder = lock_t(&db, "ACCESS EXCLUSIVE");
    let dir = tempfile::tempdir().unwrap();
    let textfile = dir.path().join("verify.prom");
    let verify = Serving::start(&[
        "verify",
        "--full",
        "--source",
        source_arg,
        "--target",
        &db.url,
        "--lock-timeout",
        "0",
        "--metrics-textfile",
        textfile.to_str().unwrap(),
    ]);
    let (_, metrics) = verify.until("/metrics", |_, body| {
        body.contains("ferry_phase{phase=\"count\"} 1\n")
    });
    assert!(
        metrics.contains("ferry_info{command=\"verify\""),
        "{metrics}"
    );
    promtool_accepts(&metrics);

    drop(holder);
    let (code, stderr) = verify.wait();
    assert_eq!(code, 1, "{stderr}");
    let text = std::fs::read_to_string(&textfile).unwrap();
    promtool_accepts(&text);
    assert_eq!(sample(&text, "ferry_verify_passed{table=\"t\"}"), Some(0.0));
    assert_eq!(
        sample(&text, "ferry_verify_rows{table=\"t\",kind=\"missing\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "ferry_rows_read_total{table=\"t\"}"),
        Some(500.0)
    );
    // Differences are the verdict, not a failed run.
    assert_eq!(sample(&text, "ferry_success"), Some(1.0));
}

/// An address that cannot be served, or a textfile in no directory, is a
/// usage error before any work; a run that never reached a table leaves
/// an earlier textfile alone.
#[test]
fn issue_18_bad_metrics_flags_are_usage_errors_and_early_failures_keep_the_textfile() {
    let source = source(3);
    let db = TestDb::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let source_arg = source.path.to_str().unwrap();
    let run = ferry(&[
        "copy",
        "--source",
        source_arg,
        "--target",
        &db.url,
        "--metrics-addr",
        &addr,
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("--metrics-addr {addr}: cannot listen there")),
        "{}",
        run.stderr
    );
    let tables: i64 = db
        .client()
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 0, "nothing may be created before the bind fails");

    let dir = tempfile::tempdir().unwrap();
    let nowhere = dir.path().join("missing/ferry.prom");
    let run = ferry(&[
        "verify",
        "--source",
        source_arg,
        "--target",
        &db.url,
        "--metrics-textfile",
        nowhere.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("missing is not a directory"),
        "{}",
        run.stderr
    );

    let textfile = dir.path().join("sync.prom");
    std::fs::write(&textfile, "earlier 1\n").unwrap();
    let refused = ferry(&[
        "sync",
        "--source",
        source_arg,
        "--target",
        "postgres://postgres@127.0.0.1:1/none",
        "--metrics-textfile",
        textfile.to_str().unwrap(),
    ]);
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert_eq!(std::fs::read_to_string(&textfile).unwrap(), "earlier 1\n");
}
