//! One ferry.toml for every command (issue 17): the file alone drives
//! copy, verify, sync and partition maintenance; flags win over it, it
//! wins over `DATABASE_URL`; `${NAME}` brings secrets in from the
//! environment; `ferry config check` shows the outcome without a password.

use std::path::PathBuf;

use crate::libpq::{Server, PASSWORD, ROLE};
use crate::util::{ferry_with_env, table, Run, TestDb};

/// A directory holding a generated mail database (`app.db`: accounts,
/// emails from January to June 2024, events) and the config written
/// beside it; removed when dropped.
struct Project {
    dir: PathBuf,
}

impl Project {
    fn new(config: &str) -> Project {
        let dir = std::env::temp_dir().join(format!(
            "ferry-config-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let options = ferry_fixtures::MailOptions {
            emails: 600,
            seed: 5,
        };
        ferry_fixtures::write_mail(&dir.join("app.db"), options, true).unwrap();
        let project = Project { dir };
        project.write_config(config);
        project
    }

    fn write_config(&self, text: &str) {
        std::fs::write(self.config_path(), text).unwrap();
    }

    fn config_path(&self) -> PathBuf {
        self.dir.join("ferry.toml")
    }

    fn config(&self) -> String {
        self.config_path().display().to_string()
    }

    fn source(&self) -> PathBuf {
        self.dir.join("app.db")
    }

    /// `ferry ARGS… --config ferry.toml`, nothing else.
    fn ferry(&self, args: &[&str]) -> Run {
        self.ferry_with_env(args, &[])
    }

    fn ferry_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let config = self.config();
        ferry_with_env(&[args, &["--config", &config]].concat(), env)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn count(pg: &mut postgres::Client, sql: &str) -> i64 {
    pg.query_one(sql, &[]).unwrap().get(0)
}

fn tables_in(pg: &mut postgres::Client, schema: &str) -> Vec<String> {
    pg.query(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
          ORDER BY 1",
        &[&schema],
    )
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

fn lines(run: &Run) -> Vec<&str> {
    run.assert_ok();
    run.stdout.lines().collect()
}

/// The whole life of a target from one file: no flag repeated, the
/// partitioned table verified without a schema difference, and partition
/// maintenance with the SQLite file gone.
#[test]
fn issue_17_one_file_drives_copy_verify_sync_and_partitions() {
    let db = TestDb::new();
    let project = Project::new(&format!(
        r#"source = "app.db"
schema = "mail"
exclude = ["events"]
jobs = 2
if_exists = "truncate"

[target]
url = "{}"

[tables.emails]
partition = {{ by = "range", column = "received_at", interval = "month" }}
[tables.emails.sync]
mode = "full"
[tables.accounts.sync]
mode = "full"
"#,
        db.url
    ));
    let mut pg = db.client();

    let copied = project.ferry(&["copy", "--format", "json"]);
    copied.assert_ok();
    let report = copied.json();
    assert_eq!(table(&report, "emails")["rows_written"], 600, "{report}");
    assert_eq!(tables_in(&mut pg, "mail"), ["accounts", "emails"]);
    assert_eq!(
        count(&mut pg, "SELECT count(*) FROM pg_partitioned_table"),
        1
    );
    // if_exists = "truncate" lets the same command run again.
    project.ferry(&["copy"]).assert_ok();

    let checked = project.ferry(&["verify", "--schema-only", "--format", "json"]);
    assert_eq!(checked.code, 0, "{}\n{}", checked.stdout, checked.stderr);
    assert!(
        !checked.stdout.contains("schema_differences\":[{"),
        "{}",
        checked.stdout
    );
    let full = project.ferry(&["verify", "--full"]);
    assert_eq!(full.code, 0, "{}\n{}", full.stdout, full.stderr);

    rusqlite::Connection::open(project.source())
        .unwrap()
        .execute_batch(
            "INSERT INTO emails (account_id, message_id, from_addr, received_at)
               SELECT account_id, 'new-1', from_addr, received_at FROM emails ORDER BY id LIMIT 1;
             UPDATE accounts SET display_name = 'renamed' WHERE id = 1;",
        )
        .unwrap();
    let synced = project.ferry(&["sync", "--format", "json"]);
    synced.assert_ok();
    assert_eq!(count(&mut pg, "SELECT count(*) FROM mail.emails"), 601);
    let renamed = count(
        &mut pg,
        "SELECT count(*) FROM mail.accounts WHERE display_name = 'renamed'",
    );
    assert_eq!(renamed, 1);
    let full = project.ferry(&["verify", "--full"]);
    assert_eq!(full.code, 0, "{}\n{}", full.stdout, full.stderr);

    // Planned from the SQLite file and from the config alone, prune sees
    // the same leaves.
    let source = project.source().display().to_string();
    let prune = [
        "partitions",
        "prune",
        "--now",
        "2024-07-15",
        "--older-than",
        "90d",
    ];
    let with_source = project.ferry(&[&prune[..], &["--dry-run", "--source", &source]].concat());
    std::fs::remove_file(project.source()).unwrap();
    let dry = project.ferry(&[&prune[..], &["--dry-run"]].concat());
    assert_eq!(lines(&dry), lines(&with_source));
    assert_eq!(
        lines(&dry),
        [
            "would drop mail.emails_2024_01 (rows before 2024-02-01)",
            "would drop mail.emails_2024_02 (rows before 2024-03-01)",
            "would drop mail.emails_2024_03 (rows before 2024-04-01)",
        ]
    );

    let ensure = [
        "partitions",
        "ensure",
        "--now",
        "2024-07-15",
        "--ahead",
        "1",
    ];
    let created = project.ferry(&ensure);
    let created = lines(&created);
    assert_eq!(created.len(), 2, "{created:?}");
    assert!(created[0].starts_with("created mail.emails_2024_07 FOR VALUES FROM ('2024-07-01"));
    assert!(created[1].starts_with("created mail.emails_2024_08"));
    assert_eq!(
        lines(&project.ferry(&ensure)),
        ["mail.emails: nothing to do"]
    );

    let pruned = project.ferry(&prune);
    assert_eq!(lines(&pruned).len(), 3, "{}", pruned.stdout);
    assert!(pruned.stdout.starts_with("dropped mail.emails_2024_01"));
    let leaves: Vec<String> = pg
        .query(
            "SELECT inhrelid::regclass::text FROM pg_inherits
              WHERE inhparent = 'mail.emails'::regclass ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    // April to August, the current month's (which sync creates) and DEFAULT.
    let expected = ["04", "05", "06", "07", "08"].map(|m| format!("mail.emails_2024_{m}"));
    assert_eq!(leaves[..5], expected, "{leaves:?}");
    assert_eq!(leaves.last().unwrap(), "mail.emails_default");
    assert!(leaves.len() <= 7, "{leaves:?}");
}

#[test]
fn issue_17_partitions_without_a_source_say_what_they_cannot_find() {
    let db = TestDb::new();
    let project = Project::new(&format!(
        "[target]\nurl = \"{}\"\n[tables.emails]\n\
         partition = {{ by = \"range\", column = \"received_at\", interval = \"month\" }}\n",
        db.url
    ));
    // Not copied yet: said, not an error.
    let run = project.ferry(&["partitions", "ensure"]);
    assert_eq!(
        lines(&run),
        ["skipped public.emails: not a partitioned table in the target; create it with ferry copy first"]
    );
    // A config that disagrees with the target is refused before any change.
    let source = project.source().display().to_string();
    project.ferry(&["copy", "--source", &source]).assert_ok();
    project.write_config(&format!(
        "[target]\nurl = \"{}\"\n[tables.emails]\n\
         partition = {{ by = \"range\", column = \"id\", width = 100 }}\n",
        db.url
    ));
    let run = project.ferry(&["partitions", "ensure"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("[tables.emails] partition.column: the target's public.emails is not range-partitioned by id"),
        "{}",
        run.stderr
    );
    // No partition in the config at all.
    project.write_config(&format!("[target]\nurl = \"{}\"\n", db.url));
    let run = project.ferry(&["partitions", "prune", "--older-than", "1y"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("no table is range-partitioned"),
        "{}",
        run.stderr
    );
}

/// Flags win over the file; the file's `[target]` wins over DATABASE_URL.
#[test]
fn issue_17_flags_override_the_file() {
    let db = TestDb::new();
    let unreachable = "postgres://nobody@127.0.0.1:1/nowhere?connect_timeout=2";
    let project = Project::new(&format!(
        "schema = \"from_file\"\ninclude = [\"accounts\"]\n[target]\nurl = \"{unreachable}\"\n"
    ));
    let source = project.source().display().to_string();
    let run = project.ferry(&[
        "copy",
        "--source",
        &source,
        "--target",
        &db.url,
        "--schema",
        "from_flag",
        "--tables",
        "events, emails",
        "--jobs",
        "1",
    ]);
    run.assert_ok();
    let mut pg = db.client();
    assert_eq!(tables_in(&mut pg, "from_flag"), ["emails", "events"]);
    assert!(tables_in(&mut pg, "from_file").is_empty());

    // The file's target, not DATABASE_URL's.
    project.write_config(&format!(
        "schema = \"from_file\"\ninclude = [\"accounts\"]\n[target]\nurl = \"{}\"\n",
        db.url
    ));
    let run = project.ferry_with_env(
        &["copy", "--source", &source],
        &[("DATABASE_URL", unreachable)],
    );
    run.assert_ok();
    assert_eq!(tables_in(&mut pg, "from_file"), ["accounts"]);
    // A flag list replaces the file's list, and --exclude works alone.
    let run = project.ferry(&[
        "verify",
        "--source",
        &source,
        "--exclude",
        "events",
        "--tables",
        "accounts",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    // Without [target] the file leaves DATABASE_URL in charge.
    project.write_config("schema = \"from_env\"\n");
    let run = project.ferry_with_env(
        &["copy", "--source", &source, "--tables", "accounts"],
        &[("DATABASE_URL", &db.url)],
    );
    run.assert_ok();
    assert_eq!(tables_in(&mut pg, "from_env"), ["accounts"]);
}

#[test]
fn issue_17_variables_fill_in_the_file() {
    let db = TestDb::new();
    let project = Project::new(
        "source = \"${FERRY_TEST_DIR}/app.db\"\nschema = \"s_$${literal}\"\n\
         include = [\"accounts\"]\n[target]\nurl = \"${FERRY_TEST_URL}\"\n",
    );
    let dir = project.dir.display().to_string();
    let env = [
        ("FERRY_TEST_URL", db.url.as_str()),
        ("FERRY_TEST_DIR", &dir),
    ];
    project.ferry_with_env(&["copy"], &env).assert_ok();
    let mut pg = db.client();
    assert_eq!(tables_in(&mut pg, "s_${literal}"), ["accounts"]);

    let run = project.ferry_with_env(&["copy"], &env[1..]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "target.url: ${FERRY_TEST_URL} is not set; export FERRY_TEST_URL (or write $${ for a \
             literal ${)"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("ferry.toml"),
        "names the file: {}",
        run.stderr
    );
}

#[test]
fn issue_17_config_check_validates_and_hides_the_password() {
    let project = Project::new(
        "schema = \"app\"\njobs = 3\nexclude = [\"events\"]\n\
         [target]\nhost = \"db.internal\"\nport = 6432\nuser = \"app\"\ndbname = \"prod\"\n\
         password = \"${FERRY_TEST_PW}\"\n\
         [tables.emails]\npartition = { by = \"range\", column = \"received_at\", interval = \"month\" }\n",
    );
    let secret = "hunter2-sw0rdfish";
    let env = [("FERRY_TEST_PW", secret)];
    let run = project.ferry_with_env(&["config", "check", "--jobs", "5"], &env);
    run.assert_ok();
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains(secret) && !text.contains("sw0rd"), "{text}");
    }
    let out = &run.stdout;
    assert!(out.contains("password=***"), "{out}");
    assert!(
        out.contains(
            "connects to host=db.internal port=6432 user=app dbname=prod; password in the target"
        ),
        "{out}"
    );
    for line in [
        "schema = \"app\"",
        "jobs = 5",
        "exclude = [\"events\"]",
        "on_error = \"abort\"",
        "interval = \"month\"",
    ] {
        assert!(out.contains(line), "{line}: {out}");
    }
    assert!(
        out.lines()
            .any(|l| l.starts_with("jobs = 5") && l.ends_with("# command line")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("schema = ") && l.ends_with("# config")),
        "{out}"
    );

    // With the source at hand, the partition column is checked too.
    let source = project.source().display().to_string();
    let run = project.ferry_with_env(&["config", "check", "--source", &source], &env);
    run.assert_ok();
    assert!(
        run.stdout.contains("planned from the source, touching no database: accounts → app.accounts, emails → app.emails"),
        "{}",
        run.stdout
    );
    std::fs::write(
        project.config_path(),
        "[tables.emails]\npartition = { by = \"range\", column = \"subject\", interval = \"month\" }\n",
    )
    .unwrap();
    let run = project.ferry(&["config", "check", "--source", &source]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("[tables.emails] partition.interval"),
        "{}",
        run.stderr
    );

    // Invalid files exit 2, naming the key, without quoting the line.
    for (text, says) in [
        ("shema = \"app\"", "shema: unknown field `shema`"),
        ("[target]\nhots = \"db\"", "\"hots\" is not a libpq connection option"),
        ("[tables.emails.sync]\nmode = \"sometimes\"", "tables.emails.sync.mode: unknown variant"),
        ("jobs = 0", "jobs: must be 1 or more"),
        ("[target]\npassword = \"hunter2-sw0rdfish", "line 2, column"),
        ("exclude = [\"emails\"]\n[tables.emails]\npartition = { by = \"list\", column = \"x\" }", "emails is in exclude"),
    ] {
        project.write_config(text);
        let run = project.ferry(&["config", "check"]);
        assert_eq!(run.code, 2, "{text}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{text}: {}", run.stderr);
        assert!(!run.stderr.contains("sw0rd"), "{}", run.stderr);
    }
}

/// `[target]` as libpq keywords, the password from the environment,
/// against a server that insists on it.
#[test]
fn issue_17_target_as_libpq_fields_with_a_password_from_the_environment() {
    let Some(server) = Server::start() else {
        return;
    };
    let database = server.database("from_config");
    let source = crate::libpq::source();
    let config = source.path.with_extension("toml");
    std::fs::write(
        &config,
        format!(
            "[target]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"{ROLE}\"\ndbname = \"{database}\"\n\
             password = \"${{FERRY_TEST_PW}}\"\n",
            server.port()
        ),
    )
    .unwrap();
    let run_with = |command: &[&str], env: &[(&str, &str)]| {
        let args = [
            command,
            &[
                "--source",
                source.path.to_str().unwrap(),
                "--config",
                config.to_str().unwrap(),
            ],
        ]
        .concat();
        let run = ferry_with_env(&args, env);
        for text in [&run.stdout, &run.stderr] {
            assert!(
                !text.contains(PASSWORD) && !text.contains("s3cret"),
                "{text}"
            );
        }
        run
    };
    run_with(&["copy"], &[("FERRY_TEST_PW", PASSWORD)]).assert_ok();
    run_with(&["verify", "--full"], &[("FERRY_TEST_PW", PASSWORD)]).assert_ok();
    assert_eq!(server.rows(&database), 3);

    // A wrong password is the server's refusal (exit 3), still hidden.
    let run = run_with(&["verify"], &[("FERRY_TEST_PW", "wrong-s3cret")]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(!run.stderr.contains("wrong-s3cret"), "{}", run.stderr);
    let _ = std::fs::remove_file(&config);
}
