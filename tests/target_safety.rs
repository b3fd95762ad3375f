//! Issue 14: ferry trusts only what it owns in the target, lets one plain
//! loader at a time at a set of tables, refuses existing tables whose
//! columns are not the plan's before writing a row, and finishes a copy
//! whatever a killed run left half done.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::util::{copy, ferry, TempSqlite, TestDb};

/// A login role made for one test, dropped (with what it owns and the
/// privileges it holds in `db`) when the test ends, even on failure.
/// Declare it after the [`TestDb`] so it drops first.
struct Role {
    name: String,
    db_url: String,
}

impl Role {
    fn new(kind: &str, db: &TestDb) -> Role {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "ferry_{kind}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        db.client()
            .batch_execute(&format!("CREATE ROLE {name} LOGIN"))
            .unwrap();
        Role {
            name,
            db_url: db.url.clone(),
        }
    }

    /// `url` with this role in place of its user name and password.
    fn url(&self) -> String {
        let (scheme, rest) = self.db_url.split_once("://").unwrap();
        let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        format!("{scheme}://{}@{host}", self.name)
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.db_url, postgres::NoTls) {
            let _ = client.batch_execute(&format!(
                "DROP OWNED BY {name}; DROP ROLE IF EXISTS {name}",
                name = self.name
            ));
        }
    }
}

fn source() -> TempSqlite {
    TempSqlite::new(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL, at INTEGER);
         INSERT INTO items VALUES (1, 'one', 1.5, 1700000000), (2, 'two', 2.25, 1700000001),
                                  (3, 'three', NULL, NULL);",
    )
}

fn count(db: &TestDb, table: &str) -> i64 {
    db.client()
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .unwrap()
        .get(0)
}

#[track_caller]
fn assert_refused(run: &crate::util::Run, code: i32, needles: &[&str]) {
    assert_eq!(
        run.code, code,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    for needle in needles {
        assert!(
            run.stderr.contains(needle),
            "stderr lacks {needle:?}: {}",
            run.stderr
        );
    }
}

/// The issue's attack: a role with only `CREATE ON DATABASE` prepares
/// schema `ferry` with a trigger that makes it superuser; a superuser's
/// copy must refuse to touch it, and the role stays what it was.
#[test]
fn issue_14_a_ledger_planted_by_another_role_is_refused() {
    let source = source();
    let db = TestDb::new();
    let loader = Role::new("planter", &db);
    db.client()
        .batch_execute(&format!(
            "GRANT CONNECT, CREATE ON DATABASE {} TO {}",
            db.name, loader.name
        ))
        .unwrap();
    let mut planter = postgres::Client::connect(&loader.url(), postgres::NoTls).unwrap();
    planter
        .batch_execute(&format!(
            "CREATE SCHEMA ferry;
             CREATE TABLE ferry.copies (
                 copy_id text PRIMARY KEY, target_schema text NOT NULL,
                 source_fingerprint text NOT NULL, chunk_rows bigint NOT NULL,
                 created_tables text[] NOT NULL,
                 status text NOT NULL CHECK (status IN ('loading', 'indexing', 'done')),
                 started_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz,
                 plan_fingerprint text);
             CREATE FUNCTION ferry.escalate() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN ALTER ROLE {} SUPERUSER; RETURN NEW; END $$;
             CREATE TRIGGER escalate BEFORE INSERT ON ferry.copies
                 FOR EACH ROW EXECUTE FUNCTION ferry.escalate();",
            loader.name
        ))
        .unwrap();
    drop(planter);

    let run = copy(&source.path, &db, &[]);
    assert_refused(&run, 2, &["schema ferry", &loader.name, "does not trust"]);
    let superuser: bool = db
        .client()
        .query_one(
            "SELECT rolsuper FROM pg_roles WHERE rolname = $1",
            &[&loader.name],
        )
        .unwrap()
        .get(0);
    assert!(!superuser, "the planted trigger ran as the superuser");
    let items: i64 = db
        .client()
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'items'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(items, 0, "a refused copy must not create anything");
}

/// Even in a schema ferry owns, a trigger, rule or policy someone added
/// to its tables is refused, and so are columns that are not ferry's.
#[test]
fn issue_14_a_trigger_or_changed_definition_on_the_ledger_is_refused() {
    let source = source();
    let db = TestDb::new();
    copy(&source.path, &db, &[]).assert_ok();
    db.client()
        .batch_execute(
            "CREATE FUNCTION public.noop() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN RETURN NEW; END $$;
             CREATE TRIGGER noop BEFORE UPDATE ON ferry.chunks
                 FOR EACH ROW EXECUTE FUNCTION public.noop();",
        )
        .unwrap();
    let run = copy(&source.path, &db, &["--if-exists", "truncate"]);
    assert_refused(&run, 2, &["table ferry.chunks", "trigger noop"]);
    assert_eq!(count(&db, "items"), 3, "a refused copy must not truncate");

    db.client()
        .batch_execute(
            "DROP TRIGGER noop ON ferry.chunks;
             CREATE RULE quiet AS ON DELETE TO ferry.copies DO INSTEAD NOTHING;",
        )
        .unwrap();
    let run = copy(&source.path, &db, &["--if-exists", "truncate"]);
    assert_refused(&run, 2, &["table ferry.copies", "rule quiet"]);

    db.client()
        .batch_execute(
            "DROP RULE quiet ON ferry.copies;
             ALTER TABLE ferry.copies ADD COLUMN note text DEFAULT 'x';",
        )
        .unwrap();
    let run = copy(&source.path, &db, &["--if-exists", "truncate"]);
    assert_refused(&run, 2, &["table ferry.copies", "note text"]);

    db.client()
        .batch_execute("ALTER TABLE ferry.copies DROP COLUMN note")
        .unwrap();
    copy(&source.path, &db, &["--if-exists", "truncate"]).assert_ok();
}

/// `ferry sync` keeps its state, and the digests that steer what it
/// reads, in schema ferry too: same check.
#[test]
fn issue_14_sync_refuses_an_untrusted_state_table() {
    let source = source();
    for table in ["sync_state", "sync_digests"] {
        let db = TestDb::new();
        db.client()
            .batch_execute(&format!(
                "CREATE SCHEMA ferry;
                 CREATE TABLE ferry.{table} (target_schema text, target_table text);
                 CREATE POLICY everyone ON ferry.{table} USING (true);"
            ))
            .unwrap();
        let run = crate::util::command_json("sync", &source.path, &db, &[]);
        assert_refused(
            &run,
            2,
            &[&format!("table ferry.{table}"), "policy everyone"],
        );
    }
}

#[test]
fn issue_14_schema_ferry_is_reserved() {
    let source = TempSqlite::new(
        "CREATE TABLE chunks (id INTEGER PRIMARY KEY);
         CREATE TABLE copies (id INTEGER PRIMARY KEY);
         CREATE TABLE rejects (id INTEGER PRIMARY KEY);",
    );
    let db = TestDb::new();
    let other = self::source();
    copy(&other.path, &db, &[]).assert_ok();
    let run = copy(
        &source.path,
        &db,
        &["--schema", "ferry", "--if-exists", "drop"],
    );
    assert_refused(&run, 2, &["schema ferry is reserved", "--schema"]);
    assert_eq!(count(&db, "ferry.copies"), 1, "the ledger must survive");
}

/// The copy's name, as the ledger records it.
fn copy_id(db: &TestDb) -> String {
    db.client()
        .query_one("SELECT copy_id FROM ferry.copies", &[])
        .unwrap()
        .get(0)
}

/// A second plain copy of the same tables is refused at once while a
/// first holds them, naming the holder; a resume may still join.
#[test]
fn issue_14_a_second_plain_copy_is_refused_naming_the_holder() {
    let source = source();
    let db = TestDb::new();
    copy(&source.path, &db, &[]).assert_ok();
    let id = copy_id(&db);

    // A session standing in for a running plain copy.
    let mut holder = db.client();
    holder
        .batch_execute(&format!(
            "SET application_name = 'first loader';
             SELECT pg_advisory_lock(hashtextextended('ferry copy {id}', 0));"
        ))
        .unwrap();
    let pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    let run = copy(&source.path, &db, &["--if-exists", "truncate"]);
    assert_refused(
        &run,
        4,
        &[
            "another ferry copy is loading these tables",
            &format!("server pid {pid}"),
            "first loader",
        ],
    );
    assert_eq!(count(&db, "items"), 3, "the refused copy truncated");
    copy(&source.path, &db, &["--if-exists", "resume"]).assert_ok();
    drop(holder);

    // A session standing in for `--if-exists resume` processes.
    let mut joiner = db.client();
    joiner
        .batch_execute(&format!(
            "SELECT pg_advisory_lock_shared(hashtextextended('ferry copy joiners {id}', 0))"
        ))
        .unwrap();
    let run = copy(&source.path, &db, &["--if-exists", "truncate"]);
    assert_refused(&run, 4, &["--if-exists resume processes are loading"]);
    drop(joiner);
    copy(&source.path, &db, &["--if-exists", "truncate"]).assert_ok();
    assert_eq!(count(&db, "items"), 3);
}

/// An existing table whose column types differ from the plan used to be
/// loaded by binary COPY anyway (REAL 1.5 landed as a bigint bit pattern,
/// INTEGER seconds as a timestamp near 2000-01-01). Refused now, before
/// any row is written, whatever --if-exists says.
#[test]
fn issue_14_an_existing_table_with_other_types_is_refused_before_any_row() {
    let source = source();
    let db = TestDb::new();
    copy(&source.path, &db, &[]).assert_ok();
    db.client()
        .batch_execute(
            "TRUNCATE items;
             ALTER TABLE items ALTER COLUMN price TYPE bigint USING 0,
                               ALTER COLUMN at TYPE timestamp USING NULL;",
        )
        .unwrap();
    for extra in [
        &[][..],
        &["--if-exists", "append"],
        &["--if-exists", "truncate"],
    ] {
        let run = copy(&source.path, &db, extra);
        assert_refused(
            &run,
            2,
            &[
                "public.items: the existing table does not match the plan",
                "column price is bigint in the table but double precision in the plan",
                "column at is timestamp without time zone in the table but bigint in the plan",
                "--if-exists drop",
            ],
        );
        assert_eq!(count(&db, "items"), 0, "{extra:?} wrote rows");
    }
    db.client()
        .batch_execute("INSERT INTO items VALUES (9, 'kept', 1, NULL)")
        .unwrap();
    let run = copy(&source.path, &db, &["--if-exists", "truncate"]);
    assert_refused(&run, 2, &["column price"]);
    assert_eq!(
        count(&db, "items"),
        1,
        "a refused truncate emptied the table"
    );

    // Order and nullability count too.
    db.client()
        .batch_execute(
            "DROP TABLE items;
             CREATE TABLE items (name text NOT NULL, id bigint NOT NULL,
                                 price double precision, at bigint);",
        )
        .unwrap();
    let run = copy(&source.path, &db, &[]);
    assert_refused(
        &run,
        2,
        &["column 1 is column id of the plan but the table has name"],
    );

    copy(&source.path, &db, &["--if-exists", "drop"]).assert_ok();
    let price: f64 = db
        .client()
        .query_one("SELECT price FROM items WHERE id = 1", &[])
        .unwrap()
        .get(0);
    assert_eq!(price, 1.5);
}

/// A resume whose plan changed (here a `type =` override) is refused: its
/// committed chunks were encoded for the old plan.
#[test]
fn issue_14_a_resume_with_a_changed_plan_is_refused() {
    let source = source();
    let db = TestDb::new();
    copy(&source.path, &db, &[]).assert_ok();
    let config = TempConfig::new("[tables.items.columns.price]\ntype = \"text\"\n");
    let config_path = config.path.to_str().unwrap().to_owned();
    let run = copy(
        &source.path,
        &db,
        &["--if-exists", "resume", "--config", &config_path],
    );
    assert_refused(&run, 2, &["the plan changed since this copy started"]);
    // The chunks come from the ledger: another --chunk-rows changes no plan.
    copy(
        &source.path,
        &db,
        &["--if-exists", "resume", "--chunk-rows", "1"],
    )
    .assert_ok();
}

/// A scratch `ferry.toml`, removed when dropped.
struct TempConfig {
    path: std::path::PathBuf,
}

impl TempConfig {
    fn new(text: &str) -> TempConfig {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "ferry-test-{}-{}.toml",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, text).unwrap();
        TempConfig { path }
    }
}

impl Drop for TempConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub(crate) fn constraints(db: &TestDb, table: &str) -> Vec<String> {
    db.client()
        .query(
            "SELECT conname::text FROM pg_constraint WHERE conrelid = $1::text::regclass ORDER BY 1",
            &[&table],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// A run killed after attaching a primary key but before recording the
/// copy done left every later resume failing on "index … is already
/// associated with a constraint". The ledger is put back in that state.
#[test]
fn issue_14_resume_after_a_kill_between_key_and_record_finishes() {
    let source = TempSqlite::new(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, code TEXT UNIQUE, parent INTEGER REFERENCES items(id));
         CREATE INDEX items_parent ON items(parent);
         INSERT INTO items VALUES (1, 'a', NULL), (2, 'b', 1);",
    );
    let db = TestDb::new();
    copy(&source.path, &db, &[]).assert_ok();
    let before = constraints(&db, "items");
    db.client()
        .batch_execute("UPDATE ferry.copies SET status = 'indexing', finished_at = NULL")
        .unwrap();
    copy(&source.path, &db, &["--if-exists", "resume"]).assert_ok();
    assert_eq!(constraints(&db, "items"), before);
    let status: String = db
        .client()
        .query_one("SELECT status FROM ferry.copies", &[])
        .unwrap()
        .get(0);
    assert_eq!(status, "done");
}

/// The identity reset used to compute max + 1, which overflows when the
/// key is i64::MAX; the copy failed after the load and so did every resume.
#[test]
fn issue_14_identity_reset_handles_the_largest_key() {
    let source = TempSqlite::new(
        "CREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT);
         INSERT INTO big VALUES (-5, 'low'), (9223372036854775807, 'max');",
    );
    let db = TestDb::new();
    copy(&source.path, &db, &[]).assert_ok();
    assert_eq!(count(&db, "big"), 2);
    db.client()
        .batch_execute("UPDATE ferry.copies SET status = 'indexing', finished_at = NULL")
        .unwrap();
    copy(&source.path, &db, &["--if-exists", "resume"]).assert_ok();
    // The sequence is used up: a new row must fail, not reuse a key.
    let err = db
        .client()
        .batch_execute("INSERT INTO big (v) VALUES ('new')")
        .unwrap_err();
    let message = err.as_db_error().map(|e| e.message().to_owned());
    assert!(
        message
            .as_deref()
            .is_some_and(|m| m.contains("maximum value")),
        "{err:?}"
    );

    let empty = TempSqlite::new("CREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT);");
    copy(&empty.path, &db, &["--if-exists", "drop"]).assert_ok();
    let id: i64 = db
        .client()
        .query_one("INSERT INTO big (v) VALUES ('first') RETURNING id", &[])
        .unwrap()
        .get(0);
    assert_eq!(id, 1);
}

/// A backend of a killed run still building a key index (here: a session
/// under the post-load's application_name, inside a transaction that
/// created the index and never ends) made the resume's own build fail or
/// wait forever. The resume ends it and finishes.
#[test]
fn issue_14_resume_ends_an_orphaned_post_load_backend() {
    let source = source();
    let db = TestDb::new();
    copy(&source.path, &db, &[]).assert_ok();
    let id = copy_id(&db);
    db.client()
        .batch_execute(
            "ALTER TABLE items DROP CONSTRAINT items_pkey;
             UPDATE ferry.copies SET status = 'indexing', finished_at = NULL;",
        )
        .unwrap();
    let name = format!(
        "ferry post-load {}",
        &blake3::hash(id.as_bytes()).to_hex()[..16]
    );
    let mut orphan = db.client();
    orphan
        .batch_execute(&format!(
            "SET application_name = '{name}';
             BEGIN;
             CREATE UNIQUE INDEX items_pkey ON items (id);"
        ))
        .unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args([
            "copy",
            "--source",
            source.path.to_str().unwrap(),
            "--target",
            &db.url,
            "--if-exists",
            "resume",
            "--format",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A generous bound, so a regression fails instead of hanging.
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the resume is still waiting on the orphaned backend");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}
{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("ended 1 session"), "{stdout}");
    assert!(
        orphan.batch_execute("SELECT 1").is_err(),
        "the orphan lives"
    );
    assert_eq!(constraints(&db, "items"), ["items_pkey"]);
}

/// The least-privilege loader of the README still works, and a superuser
/// run after it is refused: the ledger is the loader's, not the
/// superuser's to trust.
#[test]
fn issue_14_a_superuser_does_not_trust_the_loaders_ledger() {
    let source = source();
    let db = TestDb::new();
    let loader = Role::new("loader", &db);
    db.client()
        .batch_execute(&format!(
            "GRANT CONNECT, CREATE ON DATABASE {} TO {}",
            db.name, loader.name
        ))
        .unwrap();
    let loader_url = loader.url();
    let path = source.path.to_str().unwrap();
    let run = |url: &str, schema: &str, extra: &[&str]| {
        let mut args = vec![
            "copy", "--source", path, "--target", url, "--schema", schema,
        ];
        args.extend_from_slice(extra);
        ferry(&args)
    };
    run(&loader_url, "app", &["--on-error", "quarantine"]).assert_ok();
    run(
        &loader_url,
        "app",
        &["--on-error", "quarantine", "--if-exists", "truncate"],
    )
    .assert_ok();
    let run = run(&db.url, "other", &[]);
    assert_refused(&run, 2, &["schema ferry", &loader.name]);
}

/// The same attack through an existing target table: a role with `CREATE`
/// on the schema makes the empty table first, with a trigger that makes it
/// superuser when a superuser's copy fills the table.
#[test]
fn issue_14_an_existing_table_with_another_roles_trigger_is_refused() {
    let source = source();
    let db = TestDb::new();
    let planter = Role::new("tablebait", &db);
    db.client()
        .batch_execute(&format!(
            "GRANT CONNECT ON DATABASE {} TO {name}; GRANT CREATE ON SCHEMA public TO {name}",
            db.name,
            name = planter.name
        ))
        .unwrap();
    let mut as_planter = postgres::Client::connect(&planter.url(), postgres::NoTls).unwrap();
    as_planter
        .batch_execute(&format!(
            "CREATE TABLE public.items (id bigint NOT NULL, name text NOT NULL,
                                        price double precision, at bigint);
             CREATE FUNCTION public.escalate() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN ALTER ROLE {} SUPERUSER; RETURN NEW; END $$;
             CREATE TRIGGER escalate BEFORE INSERT ON public.items
                 FOR EACH ROW EXECUTE FUNCTION public.escalate();",
            planter.name
        ))
        .unwrap();
    drop(as_planter);

    let run = copy(&source.path, &db, &["--if-exists", "append"]);
    assert_refused(
        &run,
        2,
        &["table public.items", &planter.name, "does not trust"],
    );
    let superuser: bool = db
        .client()
        .query_one(
            "SELECT rolsuper FROM pg_roles WHERE rolname = $1",
            &[&planter.name],
        )
        .unwrap()
        .get(0);
    assert!(!superuser, "the planted trigger ran as the superuser");
    assert_eq!(count(&db, "items"), 0);

    // Owned by the runner, the table is trusted, but a trigger running
    // another role's function still is not.
    db.client()
        .batch_execute("ALTER TABLE public.items OWNER TO postgres")
        .unwrap();
    let run = copy(&source.path, &db, &["--if-exists", "append"]);
    assert_refused(&run, 2, &["trigger escalate", &planter.name]);
    assert_eq!(count(&db, "items"), 0);

    // Without the trigger, the runner's own table loads.
    db.client()
        .batch_execute("DROP TRIGGER escalate ON public.items")
        .unwrap();
    copy(&source.path, &db, &["--if-exists", "append"]).assert_ok();
    assert_eq!(count(&db, "items"), 3);
}
