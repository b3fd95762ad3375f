//! The deployment examples in `examples/` (issue 18) run as written: the
//! Kubernetes Job's copy by as many processes as it has pods, the
//! CronJobs' sync and partition maintenance, and the CI workflow's verify
//! with its JUnit file and Markdown summary. Each command runs with the
//! exact arguments of the example; only what differs between a pod and
//! this machine is swapped: mount paths for scratch directories, the
//! target for a fresh database, `0.0.0.0:9187` for a free local port.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_yaml_ng::Value;

use crate::util::{ferry, ferry_command, Run, TestDb};

/// The longest one command of an example may take.
const TIMEOUT: Duration = Duration::from_secs(180);
/// The variables the Kubernetes examples give the target through, as
/// libpq reads them; only the password comes from a Secret.
const TARGET_VARIABLES: [&str; 7] = [
    "PGHOST",
    "PGPORT",
    "PGDATABASE",
    "PGUSER",
    "PGSSLMODE",
    "PGSSLROOTCERT",
    "PGPASSWORD",
];
/// The tables of the mail fixture.
const TABLES: [&str; 3] = ["accounts", "emails", "events"];

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// Every document of a YAML file under `examples/`.
fn documents(name: &str) -> Vec<Value> {
    let path = examples().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|document| {
            Value::deserialize(document).unwrap_or_else(|e| panic!("{name} does not parse: {e}"))
        })
        .collect()
}

/// `value[key]` for a path of mapping keys, failing with the path.
#[track_caller]
fn at<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(value, |v, key| {
        v.get(key)
            .unwrap_or_else(|| panic!("no {} in {value:?}", path.join(".")))
    })
}

#[track_caller]
fn text(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{value:?} is not a string"))
}

#[track_caller]
fn list(value: &Value) -> &[Value] {
    value
        .as_sequence()
        .unwrap_or_else(|| panic!("{value:?} is not a list"))
}

/// A container of an example, as far as running it goes.
#[derive(Debug)]
struct Container {
    name: String,
    args: Vec<String>,
    /// `(name, Some(value))`, or `None` for a value from a Secret.
    env: Vec<(String, Option<String>)>,
    /// `(volume, mountPath, readOnly)`.
    mounts: Vec<(String, String, bool)>,
    spec: Value,
}

impl Container {
    fn new(spec: &Value) -> Container {
        // Kubernetes takes args as strings only: a YAML number (`--jobs, 2`)
        // is refused when the object is created.
        let args = list(at(spec, &["args"]))
            .iter()
            .map(|a| text(a).to_owned())
            .collect();
        let env = spec
            .get("env")
            .map(list)
            .unwrap_or_default()
            .iter()
            .map(|e| {
                let name = text(at(e, &["name"])).to_owned();
                match e.get("value") {
                    Some(value) => (name, Some(text(value).to_owned())),
                    None => {
                        at(e, &["valueFrom", "secretKeyRef", "key"]);
                        (name, None)
                    }
                }
            })
            .collect();
        let mounts = spec
            .get("volumeMounts")
            .map(list)
            .unwrap_or_default()
            .iter()
            .map(|m| {
                (
                    text(at(m, &["name"])).to_owned(),
                    text(at(m, &["mountPath"])).to_owned(),
                    m.get("readOnly").and_then(Value::as_bool).unwrap_or(false),
                )
            })
            .collect();
        Container {
            name: text(at(spec, &["name"])).to_owned(),
            args,
            env,
            mounts,
            spec: spec.clone(),
        }
    }

    fn image(&self) -> &str {
        text(at(&self.spec, &["image"]))
    }

    /// The value of `--flag` in the args.
    fn flag(&self, flag: &str) -> &str {
        let i = self
            .args
            .iter()
            .position(|a| a == flag)
            .unwrap_or_else(|| panic!("{}: no {flag} in {:?}", self.name, self.args));
        &self.args[i + 1]
    }
}

/// The pod of a Job or CronJob: its init containers, in order, then its
/// containers.
struct Pod {
    name: String,
    spec: Value,
    containers: Vec<Container>,
}

impl Pod {
    fn of(document: &Value) -> Pod {
        assert_eq!(text(at(document, &["apiVersion"])), "batch/v1");
        let template = match text(at(document, &["kind"])) {
            "Job" => at(document, &["spec", "template"]),
            "CronJob" => at(document, &["spec", "jobTemplate", "spec", "template"]),
            other => panic!("unexpected kind {other}"),
        };
        let spec = at(template, &["spec"]).clone();
        let containers = ["initContainers", "containers"]
            .iter()
            .filter_map(|key| spec.get(key))
            .flat_map(list)
            .map(Container::new)
            .collect();
        Pod {
            name: text(at(document, &["metadata", "name"])).to_owned(),
            spec,
            containers,
        }
    }

    fn volume(&self, name: &str) -> &Value {
        list(at(&self.spec, &["volumes"]))
            .iter()
            .find(|v| v.get("name").and_then(Value::as_str) == Some(name))
            .unwrap_or_else(|| panic!("{}: no volume {name}", self.name))
    }
}

/// The pods of a Kubernetes example, by name.
fn pods(name: &str) -> BTreeMap<String, Pod> {
    documents(name)
        .iter()
        .map(Pod::of)
        .map(|pod| (pod.name.clone(), pod))
        .collect()
}

/// The mail fixture and a working directory, removed when dropped.
struct Scratch {
    dir: tempfile::TempDir,
    source: PathBuf,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("fixture/app.db");
        std::fs::create_dir_all(source.parent().unwrap()).unwrap();
        let options = ferry_fixtures::MailOptions {
            emails: 3000,
            seed: 18,
        };
        ferry_fixtures::write_mail(&source, options, true).unwrap();
        Scratch { dir, source }
    }

    fn path(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(&path).unwrap();
        path
    }

    fn sqlite_count(&self, table: &str) -> i64 {
        rusqlite::Connection::open_with_flags(
            &self.source,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap()
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
    }
}

/// The test database as libpq variables, in place of the examples'
/// production target (whose `verify-full` needs TLS the test server lacks).
fn target_variables(db: &TestDb) -> BTreeMap<&'static str, String> {
    let config: postgres::Config = db.url.parse().unwrap();
    let host = match &config.get_hosts()[0] {
        postgres::config::Host::Tcp(host) => host.clone(),
        postgres::config::Host::Unix(dir) => dir.display().to_string(),
    };
    let password = config
        .get_password()
        .map(|p| String::from_utf8(p.to_vec()).unwrap())
        .unwrap_or_else(|| "unused".to_owned());
    BTreeMap::from([
        ("PGHOST", host),
        ("PGPORT", config.get_ports()[0].to_string()),
        ("PGDATABASE", db.name.clone()),
        ("PGUSER", config.get_user().unwrap().to_owned()),
        ("PGSSLMODE", "prefer".to_owned()),
        ("PGPASSWORD", password),
    ])
}

/// A container run on this machine: each of its mounts is a directory of
/// the scratch space (the config map holding the example's ferry.toml with
/// its paths mapped the same way), and any other absolute path is one that
/// does not exist here, as it does not in the pod.
struct Machine<'a> {
    scratch: &'a Scratch,
    db: &'a TestDb,
    mounts: Vec<(String, PathBuf)>,
}

impl<'a> Machine<'a> {
    fn new(scratch: &'a Scratch, db: &'a TestDb, pod: &Pod, container: &Container) -> Machine<'a> {
        let mounts = container
            .mounts
            .iter()
            .map(|(volume, path, _)| {
                let local = scratch.path(&format!("{}/{}/{volume}", pod.name, container.name));
                (path.clone(), local)
            })
            .collect();
        let machine = Machine {
            scratch,
            db,
            mounts,
        };
        for (volume, path, _) in &container.mounts {
            let spec = pod.volume(volume);
            let local = machine.local(path);
            if spec.get("configMap").is_some() {
                machine.write_config(&local.join("ferry.toml"));
            } else if spec.get("persistentVolumeClaim").is_some() {
                // The SQLite file the config names, where the volume holds it.
                let source = machine.local(&config_source());
                if source.starts_with(&local) {
                    std::fs::copy(&scratch.source, &source).unwrap();
                }
            }
        }
        machine
    }

    /// Where `path` of the pod's filesystem is on this machine.
    fn local(&self, path: &str) -> PathBuf {
        let mount = self
            .mounts
            .iter()
            .filter(|(mount, _)| path == mount || path.starts_with(&format!("{mount}/")))
            .max_by_key(|(mount, _)| mount.len());
        match mount {
            Some((mount, local)) => local.join(path[mount.len()..].trim_start_matches('/')),
            None => self
                .scratch
                .dir
                .path()
                .join("not-in-the-pod")
                .join(path.trim_start_matches('/')),
        }
    }

    /// examples/ferry.toml with its source mapped onto this machine.
    fn write_config(&self, to: &Path) {
        let mut config = example_config();
        let source = self.local(&config_source());
        config.insert("source".into(), source.display().to_string().into());
        std::fs::write(to, toml::to_string(&config).unwrap()).unwrap();
    }

    /// The container's command: its args with absolute paths mapped and
    /// the metrics address on a free local port (the pods each have a
    /// network of their own; the test's processes share one).
    fn command(&self, container: &Container) -> Command {
        let args: Vec<String> = container
            .args
            .iter()
            .map(|arg| {
                if arg == "0.0.0.0:9187" {
                    "127.0.0.1:0".to_owned()
                } else if arg.starts_with('/') {
                    self.local(arg).display().to_string()
                } else {
                    arg.clone()
                }
            })
            .collect();
        let names: Vec<&str> = container.env.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, TARGET_VARIABLES, "{}: env", container.name);
        let secret: Vec<&str> = container
            .env
            .iter()
            .filter(|(_, value)| value.is_none())
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(
            secret,
            ["PGPASSWORD"],
            "{}: only the password is secret",
            container.name
        );
        let target = target_variables(self.db);
        let env: Vec<(&str, &str)> = target.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut command = ferry_command(&args, &env);
        // $TMPDIR is the pod's /tmp volume.
        command.env("TMPDIR", self.local("/tmp"));
        command
    }
}

fn example_config() -> toml::Table {
    let text = std::fs::read_to_string(examples().join("ferry.toml")).unwrap();
    text.parse().unwrap()
}

fn config_source() -> String {
    example_config()["source"].as_str().unwrap().to_owned()
}

/// Runs `commands` at once and waits for all of them; kills them all and
/// fails after [`TIMEOUT`].
fn run_together(commands: Vec<Command>) -> Vec<Run> {
    struct Running(Child);
    impl Drop for Running {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut running: Vec<(Running, tempfile::NamedTempFile, tempfile::NamedTempFile)> = commands
        .into_iter()
        .map(|mut command| {
            // Files, not pipes: a chatty process never blocks on a full one.
            let stdout = tempfile::NamedTempFile::new().unwrap();
            let stderr = tempfile::NamedTempFile::new().unwrap();
            let child = command
                .stdin(Stdio::null())
                .stdout(stdout.reopen().unwrap())
                .stderr(stderr.reopen().unwrap())
                .spawn()
                .expect("start ferry");
            (Running(child), stdout, stderr)
        })
        .collect();
    let deadline = Instant::now() + TIMEOUT;
    let mut codes = vec![None; running.len()];
    while codes.iter().any(Option::is_none) {
        for (i, (child, _, _)) in running.iter_mut().enumerate() {
            if codes[i].is_none() {
                if let Some(status) = child.0.try_wait().unwrap() {
                    codes[i] = Some(status.code().unwrap_or(-1));
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "ferry did not finish within {TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    running
        .iter()
        .zip(codes)
        .map(|((_, stdout, stderr), code)| Run {
            code: code.unwrap(),
            stdout: std::fs::read_to_string(stdout.path()).unwrap(),
            stderr: std::fs::read_to_string(stderr.path()).unwrap(),
        })
        .collect()
}

fn run(command: Command) -> Run {
    run_together(vec![command]).pop().unwrap()
}

fn count(pg: &mut postgres::Client, sql: &str) -> i64 {
    pg.query_one(sql, &[])
        .unwrap_or_else(|e| panic!("{e}: {sql}"))
        .get(0)
}

/// The target holds every row of the source, once.
#[track_caller]
fn assert_rows_equal(scratch: &Scratch, pg: &mut postgres::Client) {
    for table in TABLES {
        let row = pg
            .query_one(
                &format!("SELECT count(*), count(DISTINCT id) FROM app.{table}"),
                &[],
            )
            .unwrap();
        let (rows, keys): (i64, i64) = (row.get(0), row.get(1));
        assert_eq!(rows, keys, "{table}: a key appears more than once");
        assert_eq!(rows, scratch.sqlite_count(table), "{table}: rows");
    }
}

/// `ferry ARGS --help`: clap reads every argument before the `--help` at
/// the end, so an unknown subcommand or flag, or a value it refuses (an
/// enum, a number, a duration), fails; the arguments are not acted on.
#[track_caller]
fn assert_parses(args: &[String]) {
    let mut with_help: Vec<&str> = args.iter().map(String::as_str).collect();
    with_help.push("--help");
    let parsed = ferry(&with_help);
    assert!(
        parsed.code == 0 && parsed.stdout.contains("Usage: ferry "),
        "ferry does not take {args:?}: {}",
        parsed.stderr
    );
}

/// A ferry command line in a workflow's shell script: a line starting with
/// `ferry`, up to a shell operator, with double quotes taken off.
fn ferry_lines(script: &str) -> Vec<Vec<String>> {
    script
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("ferry "))
        .map(|line| {
            line.split_whitespace()
                .skip(1)
                .take_while(|w| !["||", "&&", ";", "|", ">", ">>"].contains(w))
                .map(|w| w.trim_matches('"').to_owned())
                .collect()
        })
        .collect()
}

#[test]
fn issue_18_examples_parse_and_every_ferry_command_line_is_ferrys() {
    let job = pods("kubernetes/copy-job.yaml");
    let cron = pods("kubernetes/sync-cronjob.yaml");
    assert_eq!(job.keys().collect::<Vec<_>>(), ["ferry-copy"]);
    assert_eq!(
        cron.keys().collect::<Vec<_>>(),
        ["ferry-partitions", "ferry-sync"]
    );
    let dockerfile =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains("ENTRYPOINT [\"ferry\"]"),
        "{dockerfile}"
    );
    assert!(dockerfile.contains("USER 10001"), "{dockerfile}");

    let mut images = Vec::new();
    for pod in job.values().chain(cron.values()) {
        // The image's user, not root.
        let security = at(&pod.spec, &["securityContext"]);
        assert_eq!(at(security, &["runAsUser"]).as_u64(), Some(10001));
        assert_eq!(at(security, &["runAsNonRoot"]).as_bool(), Some(true));
        for container in &pod.containers {
            assert_parses(&container.args);
            images.push(container.image().to_owned());
            assert_eq!(
                container.flag("--config"),
                "/etc/ferry/ferry.toml",
                "{}",
                pod.name
            );
            for (volume, path, _) in &container.mounts {
                pod.volume(volume);
                if path == "/etc/ferry" {
                    assert_eq!(
                        text(at(pod.volume(volume), &["configMap", "name"])),
                        "ferry-config"
                    );
                }
            }
            let reads_source = ["copy", "sync"].contains(&container.args[0].as_str());
            let mounted = container
                .mounts
                .iter()
                .find(|(_, path, _)| config_source().starts_with(&format!("{path}/")));
            assert_eq!(
                mounted.is_some(),
                reads_source,
                "{}: the source volume is mounted where the SQLite file is read",
                container.name
            );
        }
    }
    // One image, the one the workflow takes the binary from.
    let workflow = documents("ci/verify.yml").remove(0);
    images.push(text(at(&workflow, &["env", "FERRY_IMAGE"])).to_owned());
    images.dedup();
    assert_eq!(images.len(), 1, "{images:?}");

    // The copy reads a read-only volume and answers its liveness probe.
    let copy = &job["ferry-copy"];
    let container = &copy.containers[0];
    let (volume, _, read_only) = container
        .mounts
        .iter()
        .find(|(_, path, _)| config_source().starts_with(&format!("{path}/")))
        .unwrap();
    assert!(read_only);
    assert_eq!(
        at(copy.volume(volume), &["persistentVolumeClaim", "readOnly"]).as_bool(),
        Some(true)
    );
    let probe = at(&container.spec, &["livenessProbe", "httpGet"]);
    assert_eq!(text(at(probe, &["path"])), "/health");
    let port = list(at(&container.spec, &["ports"]))
        .iter()
        .find(|p| p.get("name") == Some(at(probe, &["port"])))
        .expect("the probe's port is a named container port");
    let metrics_port = container.flag("--metrics-addr").rsplit(':').next().unwrap();
    assert_eq!(
        at(port, &["containerPort"]).as_u64().unwrap().to_string(),
        metrics_port
    );
    assert_eq!(
        text(at(&cron["ferry-sync"].spec, &["restartPolicy"])),
        "Never"
    );
    for document in documents("kubernetes/sync-cronjob.yaml") {
        assert_eq!(
            text(at(&document, &["spec", "concurrencyPolicy"])),
            "Forbid"
        );
    }

    // The workflow's ferry lines, as written.
    let mut lines = Vec::new();
    for step in list(at(&workflow, &["jobs", "verify", "steps"])) {
        if let Some(script) = step.get("run") {
            assert!(!text(script).contains("${{"), "scripts take no expressions");
            lines.extend(ferry_lines(text(script)));
        }
    }
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(lines[0], ["--version"]);
    for args in &lines[1..] {
        assert_parses(args);
    }

    // The config is valid and fits the mail database it is written for
    // (tables, partition column, sync modes), and the files the examples
    // name exist.
    let scratch = Scratch::new();
    let checked = ferry(&[
        "config",
        "check",
        "--config",
        examples().join("ferry.toml").to_str().unwrap(),
        "--source",
        scratch.source.to_str().unwrap(),
    ]);
    assert_eq!(checked.code, 0, "{}", checked.stderr);
    assert!(
        checked.stdout.contains("ferry.toml: valid"),
        "{}",
        checked.stdout
    );
    assert!(
        checked.stdout.contains("planned from the source"),
        "{}",
        checked.stdout
    );
    for name in [
        "README.md",
        "kubernetes/copy-job.yaml",
        "kubernetes/sync-cronjob.yaml",
        "ci/verify.yml",
    ] {
        let text = std::fs::read_to_string(examples().join(name)).unwrap();
        for word in text.split(|c: char| c.is_whitespace() || "=()`[],".contains(c)) {
            let word = word.trim_end_matches(['.', ':', ';']);
            if let Some(rest) = word.strip_prefix("examples/") {
                assert!(examples().join(rest).is_file(), "{name} names {word}");
            }
        }
    }
}

/// The copy Job's pods, as many processes as its `parallelism`, join one
/// copy; a pod started after it ended finds it done.
#[test]
fn issue_18_kubernetes_copy_job_runs_as_written() {
    let scratch = Scratch::new();
    let db = TestDb::new();
    let job = documents("kubernetes/copy-job.yaml").remove(0);
    let pods = at(&job, &["spec", "parallelism"]).as_u64().unwrap();
    assert!(pods >= 2, "parallelism {pods}");
    let pod = Pod::of(&job);
    let container = &pod.containers[0];
    let machine = Machine::new(&scratch, &db, &pod, container);
    let source = machine.local(&config_source());
    let before = std::fs::read(&source).unwrap();

    let runs = run_together((0..pods).map(|_| machine.command(container)).collect());
    for run in &runs {
        run.assert_ok();
        // --log-format json: every line on stderr is a JSON object.
        for line in run.stderr.lines() {
            serde_json::from_str::<serde_json::Value>(line)
                .unwrap_or_else(|e| panic!("{e}: {line}"));
        }
        assert!(
            run.stderr.contains("health on http://127.0.0.1:"),
            "{}",
            run.stderr
        );
    }
    assert_eq!(
        std::fs::read(&source).unwrap(),
        before,
        "the source changed"
    );

    let mut pg = db.client();
    assert_rows_equal(&scratch, &mut pg);
    assert_eq!(
        count(
            &mut pg,
            "SELECT count(*) FROM ferry.copies WHERE status = 'done'"
        ),
        1,
        "one copy, finished"
    );
    assert_eq!(count(&mut pg, "SELECT count(*) FROM ferry.copies"), 1);
    assert_eq!(
        count(
            &mut pg,
            "SELECT count(*) FROM ferry.chunks WHERE status <> 'done'"
        ),
        0
    );
    // ferry.toml's partitioning was followed.
    assert_eq!(
        count(
            &mut pg,
            "SELECT count(*) FROM pg_partitioned_table WHERE partrelid = 'app.emails'::regclass"
        ),
        1
    );

    // A replacement pod after the end changes nothing and succeeds.
    let late = run(machine.command(container));
    late.assert_ok();
    assert!(
        late.stdout
            .contains("this copy had already finished; nothing was done"),
        "{}",
        late.stdout
    );
    assert_rows_equal(&scratch, &mut pg);
}

/// After the copy, the sync CronJob brings the application's changes and
/// writes its textfile; the partitions CronJob's init container and
/// container, without the SQLite file, create the coming months' leaves
/// and drop those past a year.
#[test]
fn issue_18_kubernetes_cronjobs_run_as_written() {
    let scratch = Scratch::new();
    let db = TestDb::new();
    let mut pg = db.client();
    let months_before = this_month();
    let copy = Pod::of(&documents("kubernetes/copy-job.yaml").remove(0));
    let copy_machine = Machine::new(&scratch, &db, &copy, &copy.containers[0]);
    run(copy_machine.command(&copy.containers[0])).assert_ok();

    let cron = pods("kubernetes/sync-cronjob.yaml");
    let sync = &cron["ferry-sync"];
    let container = &sync.containers[0];
    // The application writes; the sync's volume holds what it wrote.
    rusqlite::Connection::open(&scratch.source)
        .unwrap()
        .execute_batch(
            "INSERT INTO emails (account_id, message_id, from_addr, received_at)
               SELECT account_id, 'new-1', from_addr, received_at FROM emails ORDER BY id LIMIT 1;
             INSERT INTO events (ts, kind, account_id) VALUES (1717200000, 1, 1);
             UPDATE accounts SET display_name = 'renamed' WHERE id = 1;
             DELETE FROM emails WHERE id = 2;",
        )
        .unwrap();
    let machine = Machine::new(&scratch, &db, sync, container);
    let synced = run(machine.command(container));
    synced.assert_ok();
    assert_rows_equal(&scratch, &mut pg);
    assert_eq!(
        count(
            &mut pg,
            "SELECT count(*) FROM app.accounts WHERE id = 1 AND display_name = 'renamed'"
        ),
        1
    );
    let textfile = machine.local(container.flag("--metrics-textfile"));
    let metrics = std::fs::read_to_string(&textfile)
        .unwrap_or_else(|e| panic!("{}: {e}", textfile.display()));
    assert!(metrics.contains("\nferry_success 1\n"), "{metrics}");
    for table in TABLES {
        let line = format!("ferry_sync_success{{schema=\"app\",table=\"{table}\"}} 1\n");
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }

    let partitions = &cron["ferry-partitions"];
    let [ensure, prune] = &partitions.containers[..] else {
        panic!("ensure, then prune");
    };
    assert_eq!(ensure.args[..2], ["partitions", "ensure"]);
    assert_eq!(prune.args[..2], ["partitions", "prune"]);
    let ensure_machine = Machine::new(&scratch, &db, partitions, ensure);
    // Neither step has the SQLite file: it is not on the pod's volumes.
    assert!(!ensure_machine.local(&config_source()).exists());
    let ensured = run(ensure_machine.command(ensure));
    ensured.assert_ok();
    let months_after = this_month();
    let ahead: usize = ensure.flag("--ahead").parse().unwrap();
    // The sync made this month's leaf; ensure makes the ones after it.
    let expected: Vec<String> = (1..=ahead)
        .map(|n| {
            let (year, month) = add_months(months_before, n);
            format!("created app.emails_{year}_{month:02} ")
        })
        .collect();
    let created: Vec<&str> = ensured.stdout.lines().collect();
    if months_before == months_after {
        assert_eq!(created.len(), expected.len(), "{}", ensured.stdout);
        for (line, start) in created.iter().zip(&expected) {
            assert!(line.starts_with(start.as_str()), "{line}, expected {start}");
        }
    }

    let prune_machine = Machine::new(&scratch, &db, partitions, prune);
    let pruned = run(prune_machine.command(prune));
    pruned.assert_ok();
    // Every month of the fixture (January to June 2024) is more than a
    // year old.
    let dropped: Vec<String> = (1..=6)
        .map(|m| {
            let (year, next) = add_months((2024, m), 1);
            format!("dropped app.emails_2024_{m:02} (rows before {year}-{next:02}-01)")
        })
        .collect();
    assert_eq!(pruned.stdout.lines().collect::<Vec<_>>(), dropped);
    assert_eq!(count(&mut pg, "SELECT count(*) FROM app.emails"), 0);
    assert_eq!(
        count(
            &mut pg,
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'app.emails'::regclass"
        ),
        i64::try_from(ahead).unwrap() + 2,
        "this month's leaf, the coming ones and DEFAULT"
    );

    // Both are idempotent: the next night changes nothing.
    for (step, machine) in [(ensure, &ensure_machine), (prune, &prune_machine)] {
        let again = run(machine.command(step));
        again.assert_ok();
        assert_eq!(
            again.stdout.trim(),
            "app.emails: nothing to do",
            "{}",
            step.name
        );
    }
}

/// The current month, UTC, as (year, month).
fn this_month() -> (i64, u32) {
    let out = Command::new("date")
        .args(["-u", "+%Y %m"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (year, month) = text.trim().split_once(' ').unwrap();
    (year.parse().unwrap(), month.parse().unwrap())
}

fn add_months((year, month): (i64, u32), n: usize) -> (i64, u32) {
    let index = year * 12 + i64::from(month) - 1 + i64::try_from(n).unwrap();
    (
        index.div_euclid(12),
        u32::try_from(index.rem_euclid(12)).unwrap() + 1,
    )
}

/// A GitHub Actions job's `run:` steps, run as the runner does (bash -eo
/// pipefail in the workspace, the workflow's and job's env), with the
/// target swapped for the test's. The install step (which copies the
/// binary out of the image) is stood in for by putting the built ferry
/// on PATH, behind a wrapper that records each command line.
struct Runner {
    workspace: PathBuf,
    bin: PathBuf,
    summary: PathBuf,
    argv_log: PathBuf,
    env: BTreeMap<String, String>,
    steps: BTreeMap<String, String>,
}

impl Runner {
    fn new(scratch: &Scratch, database_url: &str) -> Runner {
        let workflow = documents("ci/verify.yml").remove(0);
        let job = at(&workflow, &["jobs", "verify"]);
        let mut env = BTreeMap::new();
        for scope in [&workflow, job] {
            for (name, value) in at(scope, &["env"]).as_mapping().unwrap() {
                env.insert(text(name).to_owned(), text(value).to_owned());
            }
        }
        // The service container's URL, in place.
        assert!(env["DATABASE_URL"].contains("@localhost:5432/"));
        env.insert("DATABASE_URL".into(), database_url.to_owned());

        let workspace = scratch.path("workspace");
        std::fs::copy(examples().join("ferry.toml"), workspace.join("ferry.toml")).unwrap();
        let source = workspace.join(&env["FERRY_SOURCE"]);
        std::fs::create_dir_all(source.parent().unwrap()).unwrap();
        std::fs::copy(&scratch.source, &source).unwrap();

        let mut steps = BTreeMap::new();
        let mut installs = 0;
        for step in list(at(job, &["steps"])) {
            let Some(script) = step.get("run") else {
                continue;
            };
            let script = text(script);
            if script.contains("docker ") {
                assert!(script.contains("\"$FERRY_IMAGE\""), "{script}");
                assert!(script.contains(">> \"$GITHUB_PATH\""), "{script}");
                installs += 1;
                continue;
            }
            steps.insert(text(at(step, &["name"])).to_owned(), script.to_owned());
        }
        assert_eq!(installs, 1, "one step installs ferry");

        let bin = scratch.path("runner-bin");
        let argv_log = scratch.path("runner").join("argv");
        let wrapper = bin.join("ferry");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nprintf '%s\\037' \"$@\" >> '{}'\nprintf '\\n' >> '{}'\nexec '{}' \"$@\"\n",
                argv_log.display(),
                argv_log.display(),
                env!("CARGO_BIN_EXE_ferry")
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        Runner {
            summary: scratch.path("runner").join("summary.md"),
            workspace,
            bin,
            argv_log,
            env,
            steps,
        }
    }

    fn step(&self, name: &str) -> Run {
        let script = self
            .steps
            .get(name)
            .unwrap_or_else(|| panic!("no step {name} in {:?}", self.steps.keys()));
        let path = format!("{}:{}", self.bin.display(), std::env::var("PATH").unwrap());
        // The runner's shell, with only the runner's variables: none of the
        // test's PG* or DATABASE_URL.
        let mut bash = Command::new("bash");
        bash.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
            .env_clear()
            .env("PATH", path)
            .envs(&self.env)
            .env("GITHUB_STEP_SUMMARY", &self.summary)
            .current_dir(&self.workspace);
        run(bash)
    }

    /// The ferry command lines run so far, as the shell expanded them.
    fn argv(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(&self.argv_log)
            .unwrap_or_default()
            .lines()
            .map(|line| {
                line.split('\x1f')
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .collect()
    }

    fn summary(&self) -> String {
        std::fs::read_to_string(&self.summary).unwrap_or_default()
    }

    fn junit(&self) -> junit_parser::TestSuites {
        let path = self.workspace.join(self.junit_name());
        let xml =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        junit_parser::from_reader(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{xml}"))
    }

    /// The file the workflow uploads, which its verify writes.
    fn junit_name(&self) -> String {
        let workflow = documents("ci/verify.yml").remove(0);
        let upload = list(at(&workflow, &["jobs", "verify", "steps"]))
            .iter()
            .find(|s| {
                s.get("uses")
                    .and_then(Value::as_str)
                    .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
            })
            .expect("an upload step");
        assert_eq!(upload.get("if").and_then(Value::as_str), Some("always()"));
        text(at(upload, &["with", "path"])).to_owned()
    }
}

/// The workflow copies, verifies, publishes the Markdown report as the
/// job summary and leaves the JUnit file to upload; it fails with ferry's
/// exit code when rows differ (1) or the target is gone (3).
#[test]
fn issue_18_ci_workflow_verifies_and_publishes_its_reports() {
    let scratch = Scratch::new();
    let db = TestDb::new();
    let runner = Runner::new(&scratch, &db.url);

    let copied = runner.step("Copy");
    copied.assert_ok();
    let version = format!("ferry {} (", env!("CARGO_PKG_VERSION"));
    assert!(copied.stdout.starts_with(&version), "{}", copied.stdout);
    let mut pg = db.client();
    assert_rows_equal(&scratch, &mut pg);

    runner.step("Verify every row").assert_ok();
    let junit = runner.junit();
    assert_eq!((junit.tests, junit.failures, junit.errors), (3, 0, 0));
    let cases: Vec<&str> = junit.suites[0]
        .cases
        .iter()
        .map(|c| c.original_name.as_str())
        .collect();
    assert_eq!(cases, TABLES);
    let summary = runner.summary();
    for table in TABLES {
        let rows = scratch.sqlite_count(table);
        let line = format!("| {table} | ✅ pass | {rows} | {rows} | {rows} | 0 | 0 | 0 | 0 |");
        assert!(summary.contains(&line), "{line} in {summary}");
    }
    let argv = runner.argv();
    assert_eq!(
        argv.iter().map(|a| a[0].as_str()).collect::<Vec<_>>(),
        ["--version", "copy", "verify", "verify"]
    );
    for args in &argv[1..] {
        assert_parses(args);
    }

    // A row changed behind ferry's back: exit 1, both reports say where.
    pg.batch_execute("UPDATE app.accounts SET display_name = 'changed' WHERE id = 3")
        .unwrap();
    let differs = runner.step("Verify every row");
    assert_eq!(differs.code, 1, "{}", differs.stderr);
    let junit = runner.junit();
    assert_eq!((junit.tests, junit.failures, junit.errors), (3, 1, 0));
    let failed = &junit.suites[0].cases[0];
    assert_eq!(failed.original_name, "accounts");
    assert!(failed.status.is_failure(), "{:?}", failed.status);
    let summary = runner.summary();
    let second = summary.rsplit("## ").next().unwrap();
    assert!(second.contains("| accounts | ❌"), "{second}");
    assert!(second.contains("id=3"), "{second}");

    // No target: exit 3, and no report to add to the summary.
    let mut gone = Runner::new(&scratch, "postgres://u@127.0.0.1:1/x?connect_timeout=2");
    gone.summary = scratch.path("gone").join("summary.md");
    let failed = gone.step("Verify every row");
    assert_eq!(failed.code, 3, "{}", failed.stderr);
    assert_eq!(gone.summary(), "");
}

/// The README's Kubernetes excerpts are the copy Job's lines, in order
/// (indentation aside), so they cannot drift from the tested file.
#[test]
fn issue_18_readme_excerpts_are_the_tested_job() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let job = std::fs::read_to_string(examples().join("kubernetes/copy-job.yaml")).unwrap();
    let job: Vec<&str> = job.lines().map(str::trim).collect();
    let mut excerpts = 0;
    let mut lines = readme.lines().map(str::trim);
    while lines.any(|line| line == "```yaml") {
        excerpts += 1;
        let mut at = 0;
        for line in lines.by_ref().take_while(|line| *line != "```") {
            if line == "…" {
                continue;
            }
            match job[at..].iter().position(|l| *l == line) {
                Some(found) => at += found + 1,
                None => panic!("README's excerpt line {line:?} is not in copy-job.yaml (in order)"),
            }
        }
    }
    assert_eq!(excerpts, 2);
}
