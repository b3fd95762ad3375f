//! Partitioned targets: every row in the leaf whose bounds hold it, keys
//! widened, NULL keys where the README says, verify passing, and
//! `ferry partitions ensure` / `prune` across a simulated clock.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::util::{command_json, copy, ferry, TempSqlite, TestDb};

/// A generated mail database and a config file, removed when dropped.
struct Mail {
    path: PathBuf,
    config: PathBuf,
}

impl Mail {
    /// About 5,000 emails from January to June 2024, partitioned by month.
    fn new(config: &str) -> Mail {
        let dir = std::env::temp_dir();
        let unique = format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let path = dir.join(format!("ferry-partitions-{unique}.sqlite"));
        let options = ferry_fixtures::MailOptions {
            emails: 5_000,
            seed: 11,
        };
        ferry_fixtures::write_mail(&path, options, true).unwrap();
        let config_path = dir.join(format!("ferry-partitions-{unique}.toml"));
        std::fs::write(&config_path, config).unwrap();
        Mail {
            path,
            config: config_path,
        }
    }

    fn source(&self) -> &str {
        self.path.to_str().unwrap()
    }

    fn config(&self) -> &str {
        self.config.to_str().unwrap()
    }
}

impl Drop for Mail {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_file(&self.config);
    }
}

const MONTHLY: &str = "[tables.emails]\n\
    partition = { by = \"range\", column = \"received_at\", interval = \"month\" }\n";

/// `(leaf, bound)` of each partition of `table`, bounds printed in UTC.
fn leaves(pg: &mut postgres::Client, table: &str) -> BTreeMap<String, String> {
    pg.batch_execute("SET TimeZone = 'UTC'").unwrap();
    pg.query(
        "SELECT c.relname::text, pg_get_expr(c.relpartbound, c.oid)
           FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          WHERE i.inhparent = $1::text::regclass",
        &[&table],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

/// Rows per leaf, through `tableoid`.
fn rows_per_leaf(pg: &mut postgres::Client, table: &str) -> BTreeMap<String, i64> {
    pg.query(
        &format!("SELECT tableoid::regclass::text, count(*) FROM {table} GROUP BY 1"),
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

/// `'from'` and `'to'` of `FOR VALUES FROM ('from') TO ('to')`.
fn range_bounds(bound: &str) -> (String, String) {
    let rest = bound.strip_prefix("FOR VALUES FROM (").unwrap();
    let (from, rest) = rest.split_once(") TO (").unwrap();
    (from.to_owned(), rest.strip_suffix(')').unwrap().to_owned())
}

fn primary_key(pg: &mut postgres::Client, table: &str) -> Vec<String> {
    pg.query(
        "SELECT a.attname::text
           FROM pg_constraint c
           JOIN unnest(c.conkey) WITH ORDINALITY k(attnum, ord) ON true
           JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
          WHERE c.conrelid = $1::text::regclass AND c.contype = 'p' ORDER BY k.ord",
        &[&table],
    )
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// `ferry partitions ARGS[0] … ARGS[1..]` against `db` with the mail
/// config; its standard output, after asserting success.
fn partitions(mail: &Mail, db: &TestDb, args: &[&str]) -> String {
    let mut all = vec![
        "partitions",
        args[0],
        "--source",
        mail.source(),
        "--target",
        &db.url,
        "--config",
        mail.config(),
    ];
    all.extend_from_slice(&args[1..]);
    let run = ferry(&all);
    run.assert_ok();
    run.stdout
}

fn count(pg: &mut postgres::Client, sql: &str) -> i64 {
    pg.query_one(sql, &[]).unwrap().get(0)
}

/// Per-month email counts read straight from SQLite (UTC months).
fn source_months(path: &Path) -> BTreeMap<String, i64> {
    let sqlite = rusqlite::Connection::open(path).unwrap();
    let mut stmt = sqlite
        .prepare("SELECT strftime('%Y_%m', received_at), count(*) FROM emails GROUP BY 1")
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok((format!("emails_{}", r.get::<_, String>(0)?), r.get(1)?))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

#[test]
fn monthly_range_puts_every_row_in_its_month_and_verifies() {
    let mail = Mail::new(MONTHLY);
    let db = TestDb::new();
    let run = copy(&mail.path, &db, &["--config", mail.config(), "--jobs", "2"]);
    run.assert_ok();
    let warnings = run.json()["warnings"].to_string();
    assert!(
        warnings.contains(
            "primary key widened to (id, received_at): Postgres requires the partition column in it"
        ),
        "{warnings}"
    );
    assert!(
        warnings.contains("(message_id) is now unique per received_at only"),
        "{warnings}"
    );

    let mut pg = db.client();
    let leaves = leaves(&mut pg, "emails");
    let months = source_months(&mail.path);
    assert_eq!(months.len(), 6, "{months:?}");
    let mut expected_leaves: Vec<&String> = months.keys().collect();
    let default = "emails_default".to_owned();
    expected_leaves.push(&default);
    assert_eq!(leaves.keys().collect::<Vec<_>>(), expected_leaves);
    assert_eq!(leaves["emails_default"], "DEFAULT");

    // Every row sits in the leaf whose bounds, as Postgres reports them,
    // hold its key.
    for (leaf, bound) in &leaves {
        if bound == "DEFAULT" {
            continue;
        }
        let (from, to) = range_bounds(bound);
        let outside = count(
            &mut pg,
            &format!(
                "SELECT count(*) FROM emails WHERE tableoid = '{leaf}'::regclass \
                 AND NOT (received_at >= {from} AND received_at < {to})"
            ),
        );
        assert_eq!(outside, 0, "{leaf} {bound}");
    }
    let per_leaf = rows_per_leaf(&mut pg, "emails");
    assert_eq!(per_leaf, months, "rows per leaf against SQLite's months");
    assert_eq!(
        count(&mut pg, "SELECT count(*) FROM emails_default"),
        0,
        "DEFAULT must be empty"
    );

    assert_eq!(primary_key(&mut pg, "emails"), ["id", "received_at"]);
    assert_eq!(
        primary_key(&mut pg, "emails_2024_03"),
        ["id", "received_at"]
    );
    let unique: Vec<String> = pg
        .query(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint
              WHERE conrelid = 'emails'::regclass AND contype = 'u'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(unique, ["UNIQUE (message_id, received_at)"]);
    // The identity sequence still numbers new rows past the copied ones.
    let next: i64 = pg
        .query_one(
            "INSERT INTO emails (account_id, message_id, from_addr, received_at)
             VALUES (1, 'new', 'a@b', '2024-02-02 00:00:00+00') RETURNING id",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(next, 5_001);
    pg.batch_execute("DELETE FROM emails WHERE message_id = 'new'")
        .unwrap();

    let verify = command_json(
        "verify",
        &mail.path,
        &db,
        &["--config", mail.config(), "--full"],
    );
    assert_eq!(verify.code, 0, "{}\n{}", verify.stdout, verify.stderr);
    assert_eq!(verify.json()["passed"], true);

    let plan = ferry(&["plan", "--source", mail.source(), "--config", mail.config()]);
    plan.assert_ok();
    assert!(plan
        .stdout
        .contains(") PARTITION BY RANGE (\"received_at\");\n"));
    assert!(plan.stdout.contains(
        "CREATE TABLE \"public\".\"emails_2024_01\" PARTITION OF \"public\".\"emails\" FOR \
         VALUES FROM ('2024-01-01 00:00:00+00') TO ('2024-02-01 00:00:00+00');"
    ));
    assert!(plan.stdout.contains(
        "COMMENT ON TABLE \"public\".\"emails_default\" IS 'ferry partition: range month DEFAULT';"
    ));
}

#[test]
fn integer_list_and_hash_partitions_with_null_keys() {
    let source = TempSqlite::new(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, v TEXT);
         INSERT INTO events VALUES (-5, 'a'), (0, 'b'), (999, 'c'), (1000, 'd'), (2500, 'e');
         CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT UNIQUE);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40)
         INSERT INTO accounts SELECT i, 'user' || i FROM n;
         CREATE TABLE orders (country TEXT, qty INTEGER);
         INSERT INTO orders VALUES ('FR', 1), ('fr', 2), ('New Zealand', 3), (NULL, 4), ('FR', 5);
         CREATE TABLE logs (at DATETIME, msg TEXT);
         INSERT INTO logs VALUES ('2024-03-05 10:00:00', 'x'), (NULL, 'no time'),
                                 ('2024-03-31T23:30:00-01:00', 'April in UTC');
         CREATE TABLE tags (k INTEGER, label TEXT);
         INSERT INTO tags VALUES (NULL, 'null key'), (1, 'one'), (2, 'two');",
    );
    let db = TestDb::new();
    let flags = [
        "--partition",
        "events:id:width=1000",
        "--partition",
        "accounts:id:hash=4",
        "--partition",
        "orders:country:list",
        "--partition",
        "logs:at:month",
        "--partition",
        "tags:k:hash=3",
    ];
    copy(&source.path, &db, &flags).assert_ok();
    let mut pg = db.client();

    // Integer width: floor(id / 1000), negative leaves named m1.
    let events: BTreeMap<i64, String> = pg
        .query("SELECT id, tableoid::regclass::text FROM events", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let expected: BTreeMap<i64, String> = [
        (-5, "events_pm1"),
        (0, "events_p0"),
        (999, "events_p0"),
        (1000, "events_p1"),
        (2500, "events_p2"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_owned()))
    .collect();
    assert_eq!(events, expected);
    assert_eq!(
        leaves(&mut pg, "events")["events_pm1"],
        "FOR VALUES FROM ('-1000') TO ('0')"
    );

    // Hash: four leaves, no default, every row in the leaf Postgres's own
    // hash picks; the key already holds the partition column.
    let accounts = leaves(&mut pg, "accounts");
    assert_eq!(
        accounts.keys().collect::<Vec<_>>(),
        ["accounts_p0", "accounts_p1", "accounts_p2", "accounts_p3"]
    );
    assert_eq!(count(&mut pg, "SELECT count(*) FROM accounts"), 40);
    for remainder in 0..4 {
        let misplaced = count(
            &mut pg,
            &format!(
                "SELECT count(*) FROM accounts_p{remainder} WHERE NOT \
                 satisfies_hash_partition('accounts'::regclass, 4, {remainder}, id)"
            ),
        );
        assert_eq!(misplaced, 0);
    }
    assert_eq!(primary_key(&mut pg, "accounts"), ["id"]);

    // List: one leaf per value, a hash suffix where slugs collide, NULL in
    // orders_null.
    let orders: Vec<(Option<String>, String)> = pg
        .query(
            "SELECT country, tableoid::regclass::text FROM orders ORDER BY qty",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(orders[0], (Some("FR".to_owned()), "orders_fr".to_owned()));
    assert!(orders[1].1.starts_with("orders_fr_"), "{orders:?}");
    assert_eq!(orders[2].1, "orders_new_zealand");
    assert_eq!(orders[3], (None, "orders_null".to_owned()));
    assert_eq!(orders[4].1, "orders_fr");
    assert_eq!(
        leaves(&mut pg, "orders")["orders_null"],
        "FOR VALUES IN (NULL)"
    );
    assert!(leaves(&mut pg, "orders").contains_key("orders_default"));

    // Range: a NULL key goes to DEFAULT; an offset moves a row into the
    // month of its UTC instant.
    let logs: BTreeMap<String, String> = pg
        .query("SELECT msg, tableoid::regclass::text FROM logs", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(logs["x"], "logs_2024_03");
    assert_eq!(logs["no time"], "logs_default");
    assert_eq!(logs["April in UTC"], "logs_2024_04");

    // Hash: a NULL key hashes to 0, remainder 0.
    let null_home: String = pg
        .query_one(
            "SELECT tableoid::regclass::text FROM tags WHERE k IS NULL",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(null_home, "tags_p0");

    let mut verify_args = flags.to_vec();
    verify_args.push("--full");
    let verify = command_json("verify", &source.path, &db, &verify_args);
    assert_eq!(verify.code, 0, "{}\n{}", verify.stdout, verify.stderr);
}

#[test]
fn bad_partition_settings_name_their_key_and_exit_2() {
    let source = TempSqlite::new(
        "CREATE TABLE emails (id INTEGER PRIMARY KEY, subject TEXT, at DATETIME,
                              message_id TEXT UNIQUE);",
    );
    let src = source.path.to_str().unwrap();
    let cases = [
        (
            "partition = { by = \"range\", column = \"subject\", interval = \"month\" }",
            "[tables.emails] partition.interval: column subject is text",
        ),
        (
            "partition = { by = \"range\", column = \"at\", width = 10 }",
            "[tables.emails] partition.width: column at is timestamptz",
        ),
        (
            "partition = { by = \"hash\", column = \"id\", modulus = 1 }",
            "[tables.emails] partition.modulus: modulus must be 2 or more",
        ),
        (
            "partition = { by = \"range\", column = \"sent_at\", interval = \"day\" }",
            "[tables.emails] partition.column: no such column in emails",
        ),
    ];
    let config =
        std::env::temp_dir().join(format!("ferry-partition-bad-{}.toml", std::process::id()));
    for (setting, message) in cases {
        std::fs::write(&config, format!("[tables.emails]\n{setting}\n")).unwrap();
        let run = ferry(&[
            "plan",
            "--source",
            src,
            "--config",
            config.to_str().unwrap(),
        ]);
        assert_eq!(run.code, 2, "{setting}: {}", run.stderr);
        assert!(run.stderr.contains(message), "{setting}: {}", run.stderr);
    }
    let run = ferry(&[
        "plan",
        "--source",
        src,
        "--partition",
        "emails:at:fortnight",
    ]);
    assert_eq!(run.code, 2);
    assert!(run
        .stderr
        .contains("--partition emails:at:fortnight: unknown scheme"));

    // unique = "drop": a plain index instead of the unique constraint.
    std::fs::write(
        &config,
        "[tables.emails]\npartition = { by = \"range\", column = \"at\", interval = \"year\", \
         unique = \"drop\" }\n",
    )
    .unwrap();
    let run = ferry(&[
        "plan",
        "--source",
        src,
        "--config",
        config.to_str().unwrap(),
    ]);
    run.assert_ok();
    assert!(
        !run.stdout
            .contains("CONSTRAINT \"emails_message_id_key\" UNIQUE"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(
        "CREATE INDEX IF NOT EXISTS \"emails_message_id_key\" ON \"public\".\"emails\" (\"message_id\")"
    ));
    let _ = std::fs::remove_file(&config);
}

#[test]
fn ensure_and_prune_follow_the_clock_and_leave_others_alone() {
    let mail = Mail::new(MONTHLY);
    let db = TestDb::new();
    copy(&mail.path, &db, &["--config", mail.config()]).assert_ok();
    let mut pg = db.client();
    let total = count(&mut pg, "SELECT count(*) FROM emails");

    // Rows dated after the copy's last month land in DEFAULT.
    pg.batch_execute(
        "INSERT INTO emails (account_id, message_id, from_addr, received_at) VALUES
           (1, 'late-1', 'a@b', '2024-09-10 12:00:00+00'),
           (1, 'late-2', 'a@b', '2024-11-20 12:00:00+00'),
           (1, 'late-3', 'a@b', '2024-11-21 12:00:00+00')",
    )
    .unwrap();
    assert_eq!(count(&mut pg, "SELECT count(*) FROM emails_default"), 3);

    let partitions = |args: &[&str]| partitions(&mail, &db, args);
    let out = partitions(&["ensure", "--now", "2024-07-15", "--ahead", "2"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0]
        .starts_with("created public.emails_2024_07 FOR VALUES FROM ('2024-07-01 00:00:00+00')"));
    assert!(lines[1].starts_with("created public.emails_2024_08"));
    assert!(lines[2].starts_with("created public.emails_2024_09"));
    assert!(lines[2].ends_with(", moved 1 row from public.emails_default"));
    assert!(lines[3].starts_with("created public.emails_2024_11"));
    assert!(lines[3].ends_with(", moved 2 rows from public.emails_default"));
    assert_eq!(count(&mut pg, "SELECT count(*) FROM emails_default"), 0);
    assert_eq!(count(&mut pg, "SELECT count(*) FROM emails"), total + 3);
    assert_eq!(count(&mut pg, "SELECT count(*) FROM emails_2024_11"), 2);
    let comment: String = pg
        .query_one(
            "SELECT obj_description('emails_2024_11'::regclass, 'pg_class')",
            &[],
        )
        .unwrap()
        .get(0);
    assert!(
        comment.starts_with("ferry partition: range month FROM"),
        "{comment}"
    );
    // The moved leaf has the parent's keys and indexes.
    assert_eq!(
        primary_key(&mut pg, "emails_2024_11"),
        ["id", "received_at"]
    );
    assert_eq!(
        partitions(&["ensure", "--now", "2024-07-15", "--ahead", "2"]),
        "public.emails: nothing to do\n"
    );

    // Partitions a user made: one without a comment that looks like
    // ferry's, one with another name.
    pg.batch_execute(
        "CREATE TABLE emails_2023_12 PARTITION OF emails
           FOR VALUES FROM ('2023-12-01 00:00:00+00') TO ('2024-01-01 00:00:00+00');
         CREATE TABLE emails_archive PARTITION OF emails
           FOR VALUES FROM ('2023-01-01 00:00:00+00') TO ('2023-02-01 00:00:00+00');
         COMMENT ON TABLE emails_archive IS 'kept forever'",
    )
    .unwrap();
    let before = leaves(&mut pg, "emails");
    let months = source_months(&mail.path);
    // 90 days before 2024-07-15 is 2024-04-16: January to March end before.
    let dry = partitions(&[
        "prune",
        "--older-than",
        "90d",
        "--now",
        "2024-07-15",
        "--dry-run",
    ]);
    assert_eq!(
        dry,
        "would drop public.emails_2024_01 (rows before 2024-02-01)\n\
         would drop public.emails_2024_02 (rows before 2024-03-01)\n\
         would drop public.emails_2024_03 (rows before 2024-04-01)\n"
    );
    assert_eq!(
        leaves(&mut pg, "emails"),
        before,
        "a dry run changes nothing"
    );

    let pruned = partitions(&["prune", "--older-than", "90d", "--now", "2024-07-15"]);
    assert_eq!(pruned, dry.replace("would drop", "dropped"));
    let after = leaves(&mut pg, "emails");
    for kept in [
        "emails_default",
        "emails_2023_12",
        "emails_archive",
        "emails_2024_04",
    ] {
        assert!(after.contains_key(kept), "{kept} must stay: {after:?}");
    }
    for gone in ["emails_2024_01", "emails_2024_02", "emails_2024_03"] {
        assert!(!after.contains_key(gone), "{gone}");
        let exists = count(
            &mut pg,
            &format!("SELECT count(*) FROM pg_class WHERE relname = '{gone}'"),
        );
        assert_eq!(exists, 0, "{gone} is dropped, not only detached");
    }
    let dropped: i64 = ["emails_2024_01", "emails_2024_02", "emails_2024_03"]
        .iter()
        .map(|m| months[*m])
        .sum();
    assert_eq!(
        count(&mut pg, "SELECT count(*) FROM emails"),
        total + 3 - dropped
    );
    assert_eq!(
        partitions(&["prune", "--older-than", "90d", "--now", "2024-07-15"]),
        "public.emails: nothing to do\n"
    );
}

/// A copy into a partitioned table whose old leaves `prune` dropped keeps
/// the leaves the table has: rows of the dropped months land in DEFAULT,
/// statistics are gathered for the leaves that exist, and nothing fails.
#[test]
fn issue_18_a_copy_into_a_pruned_table_keeps_its_leaves() {
    let mail = Mail::new(MONTHLY);
    let db = TestDb::new();
    copy(&mail.path, &db, &["--config", mail.config()]).assert_ok();
    partitions(
        &mail,
        &db,
        &["prune", "--older-than", "90d", "--now", "2024-07-15"],
    );
    let mut pg = db.client();
    let kept = leaves(&mut pg, "emails");
    assert!(!kept.contains_key("emails_2024_01"), "{kept:?}");

    copy(
        &mail.path,
        &db,
        &[
            "--config",
            mail.config(),
            "--if-exists",
            "truncate",
            "--tables",
            "emails",
        ],
    )
    .assert_ok();
    assert_eq!(leaves(&mut pg, "emails"), kept, "no leaf is created back");
    let months = source_months(&mail.path);
    let total: i64 = months.values().sum();
    let dropped: i64 = ["emails_2024_01", "emails_2024_02", "emails_2024_03"]
        .iter()
        .map(|m| months[*m])
        .sum();
    assert_eq!(count(&mut pg, "SELECT count(*) FROM emails"), total);
    assert_eq!(
        count(&mut pg, "SELECT count(*) FROM emails_default"),
        dropped
    );
    let analyzed = count(
        &mut pg,
        "SELECT count(*) FROM pg_stat_user_tables
          WHERE relname LIKE 'emails\\_%' AND last_analyze IS NULL AND n_live_tup > 0",
    );
    assert_eq!(analyzed, 0, "every leaf holding rows has statistics");
}
