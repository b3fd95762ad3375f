//! pg_partman as the manager of a partitioned target (issue 18): the copy
//! registers the parent with `partman.create_parent`, every row lands in a
//! real partition, partman's maintenance creates the next partition and
//! applies the retention, and `ferry partitions` leaves the table to it.
//!
//! Needs the pg_partman extension on the server (Debian's
//! `postgresql-15-partman`, which scripts/test installs as root); without
//! it each test says "skipped" and passes.

use std::collections::BTreeMap;
use std::path::Path;

use crate::util::{command_json, copy, ferry, TempSqlite, TestDb};

/// A fresh database with pg_partman created in schema `partman`, as a DBA
/// would; `None`, with a line saying so, when the server has none.
fn partman_db() -> Option<TestDb> {
    crate::util::extension_db(
        "pg_partman",
        "CREATE SCHEMA partman; CREATE EXTENSION pg_partman SCHEMA partman",
        "postgresql-15-partman",
    )
}

/// Unix days of today (UTC).
fn today() -> i64 {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    i64::try_from(seconds / 86_400).unwrap()
}

/// `YYYY-MM-DD` of unix day `day` (Howard Hinnant's civil_from_days).
fn date(day: i64) -> String {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// An `events` table with a timestamptz key: one row every 3 days from
/// about ten months ago to about two months ahead, at varying times of
/// day, plus `extra` rows (`(id, at)`).
fn events(extra: &[(i64, &str)]) -> TempSqlite {
    let mut sql = String::from(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, at TIMESTAMPTZ NOT NULL, note TEXT);\n",
    );
    let start = today() - 300;
    for (i, day) in (start..today() + 60).step_by(3).enumerate() {
        let seconds = (i * 7919) % 86_400;
        sql.push_str(&format!(
            "INSERT INTO events VALUES ({}, '{} {:02}:{:02}:{:02}+00:00', 'note {i} é');\n",
            i + 1,
            date(day),
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        ));
    }
    for (id, at) in extra {
        sql.push_str(&format!(
            "INSERT INTO events VALUES ({id}, '{at}', 'extra');\n"
        ));
    }
    TempSqlite::new(&sql)
}

fn config(dir_name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "ferry-partman-{}-{dir_name}.toml",
        std::process::id()
    ));
    std::fs::write(&path, text).unwrap();
    path
}

const MONTHLY: &str = "[tables.events]\n\
    partition = { by = \"range\", column = \"at\", interval = \"month\", manager = \
    \"pg_partman\", premake = 2, retention = \"180 days\" }\n";

fn count(pg: &mut postgres::Client, sql: &str) -> i64 {
    value(pg, sql, &[])
}

/// The first column of the one row `sql` returns.
fn value<T: postgres::types::FromSqlOwned>(
    pg: &mut postgres::Client,
    sql: &str,
    params: &[&(dyn postgres::types::ToSql + Sync)],
) -> T {
    pg.query_one(sql, params)
        .unwrap_or_else(|e| panic!("{e}: {sql}"))
        .get(0)
}

/// The partitions of `public.events`, by name.
fn partitions(pg: &mut postgres::Client) -> Vec<String> {
    pg.query(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          WHERE i.inhparent = 'public.events'::regclass ORDER BY 1",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// `(id, at as UTC text, note)` of every row, read straight from SQLite.
fn source_rows(path: &Path) -> Vec<(i64, String, Option<String>)> {
    let sqlite = rusqlite::Connection::open(path).unwrap();
    let mut stmt = sqlite
        .prepare("SELECT id, at, note FROM events ORDER BY id")
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            let at: String = r.get(1)?;
            Ok((
                r.get(0)?,
                at.trim_end_matches("+00:00").to_owned(),
                r.get(2)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows
}

/// The same rows from Postgres, read through the parent.
fn target_rows(pg: &mut postgres::Client) -> Vec<(i64, String, Option<String>)> {
    pg.query(
        "SELECT id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), note
           FROM events ORDER BY id",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

/// Rows per partition, through `tableoid`.
fn rows_per_partition(pg: &mut postgres::Client) -> BTreeMap<String, i64> {
    pg.query(
        "SELECT tableoid::regclass::text, count(*) FROM events GROUP BY 1",
        &[],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

/// Rows per month read from SQLite, named as pg_partman names partitions.
fn source_months(path: &Path) -> BTreeMap<String, i64> {
    let sqlite = rusqlite::Connection::open(path).unwrap();
    let mut stmt = sqlite
        .prepare("SELECT 'events_p' || strftime('%Y_%m', at), count(*) FROM events GROUP BY 1")
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows
}

fn partitions_command(action: &[&str], db: &TestDb, config: &Path) -> String {
    let mut args = vec![
        "partitions",
        action[0],
        "--target",
        &db.url,
        "--config",
        config.to_str().unwrap(),
    ];
    args.extend_from_slice(&action[1..]);
    let run = ferry(&args);
    run.assert_ok();
    run.stdout
}

#[test]
fn issue_18_copy_registers_with_pg_partman_and_every_row_has_its_partition() {
    let Some(db) = partman_db() else { return };
    // One row far past premake: its partition must exist before the load.
    let far = date(today() + 400);
    let source = events(&[(100_000, &format!("{far} 08:00:00+00:00"))]);
    let config = config("register", MONTHLY);
    let run = copy(&source.path, &db, &["--config", config.to_str().unwrap()]);
    run.assert_ok();
    let warnings = run.json()["warnings"].to_string();
    assert!(
        warnings.contains("older than the retention (180 days)"),
        "{warnings}"
    );
    let mut pg = db.client();

    // Registered with partman: native, monthly, premake and retention.
    let config_row = pg
        .query_one(
            "SELECT control, partition_type, partition_interval::interval = '1 month',
                    premake, retention, retention_keep_table
               FROM partman.part_config WHERE parent_table = 'public.events'",
            &[],
        )
        .unwrap();
    assert_eq!(config_row.get::<_, String>(0), "at");
    assert_eq!(config_row.get::<_, String>(1), "native");
    assert!(config_row.get::<_, bool>(2), "interval one month");
    assert_eq!(config_row.get::<_, i32>(3), 2);
    assert_eq!(
        config_row.get::<_, Option<String>>(4).as_deref(),
        Some("180 days")
    );
    assert!(!config_row.get::<_, bool>(5), "old partitions are dropped");

    // Every row, with its values, as SQLite holds them.
    let expected = source_rows(&source.path);
    assert_eq!(
        expected.len() as i64,
        count(&mut pg, "SELECT count(*) FROM events")
    );
    assert_eq!(target_rows(&mut pg), expected);
    // Each in the partition of its UTC month, none in the default.
    assert_eq!(
        count(&mut pg, "SELECT count(*) FROM ONLY events_default"),
        0
    );
    assert_eq!(rows_per_partition(&mut pg), source_months(&source.path));
    let names = partitions(&mut pg);
    let far_month = format!("events_p{}_{}", &far[..4], &far[5..7]);
    assert!(names.contains(&far_month), "{far_month} in {names:?}");
    assert!(names.contains(&"events_default".to_owned()), "{names:?}");
    // partman's own premake, two months past now, came with create_parent.
    let ahead: String = value(
        &mut pg,
        "SELECT 'events_p' || to_char(now() AT TIME ZONE 'UTC' + interval '2 months', 'YYYY_MM')",
        &[],
    );
    assert!(names.contains(&ahead), "{ahead} in {names:?}");
    // The primary key holds on every partition, premade ones included.
    assert_eq!(
        count(
            &mut pg,
            "SELECT count(*) FROM pg_inherits i
              WHERE i.inhparent = 'public.events'::regclass
                AND NOT EXISTS (SELECT 1 FROM pg_index x
                                 WHERE x.indrelid = i.inhrelid AND x.indisprimary)"
        ),
        0
    );

    crate::util::verified(&source.path, &db, &["--config", config.to_str().unwrap()]);

    // ferry's maintenance defers to partman, and changes nothing.
    let before = partitions(&mut pg);
    let ensure = partitions_command(&["ensure", "--ahead", "6"], &db, &config);
    assert_eq!(
        ensure,
        "public.events: managed by pg_partman (interval 1 mon, premake 2, retention 180 days); \
         its maintenance (partman.run_maintenance, from its background worker or pg_cron) \
         creates the partitions, ferry creates none\n"
    );
    let prune = partitions_command(&["prune", "--older-than", "30d"], &db, &config);
    assert_eq!(
        prune,
        "public.events: managed by pg_partman (interval 1 mon, premake 2, retention 180 days); \
         its maintenance (partman.run_maintenance, from its background worker or pg_cron) drops \
         the partitions past its retention, ferry drops none\n"
    );
    assert_eq!(partitions(&mut pg), before);
    assert_eq!(
        expected.len() as i64,
        count(&mut pg, "SELECT count(*) FROM events")
    );
    std::fs::remove_file(config).unwrap();
}

#[test]
fn issue_18_partman_maintenance_makes_the_next_partition_and_drops_old_ones() {
    let Some(db) = partman_db() else { return };
    let source = events(&[]);
    let config = config("maintenance", MONTHLY);
    copy(&source.path, &db, &["--config", config.to_str().unwrap()]).assert_ok();
    let mut pg = db.client();
    pg.batch_execute("SET TimeZone = 'UTC'").unwrap();
    let total = count(&mut pg, "SELECT count(*) FROM events");
    assert_eq!(total, source_rows(&source.path).len() as i64);

    // New data in the newest partition: partman keeps premake (2) past it.
    let newest: String = value(
        &mut pg,
        "SELECT partition_tablename FROM partman.show_partitions('public.events', 'DESC')
              LIMIT 1",
        &[],
    );
    let newest_start: String = value(
        &mut pg,
        "SELECT child_start_time::date::text FROM partman.show_partition_info($1)",
        &[&format!("public.{newest}")],
    );
    pg.execute(
        "INSERT INTO events (id, at, note) VALUES (200000, $1::text::date + interval '1 day 3 hours', 'new')",
        &[&newest_start],
    )
    .unwrap();
    let mut next = |months: i32| -> String {
        pg_text_one(
            &mut pg,
            &format!(
                "SELECT 'events_p' || to_char($1::text::date + interval '{months} months', 'YYYY_MM')"
            ),
            &newest_start,
        )
    };
    let (next1, next2, next3) = (next(1), next(2), next(3));
    let oldest = partitions(&mut pg)
        .into_iter()
        .find(|n| n.starts_with("events_p"))
        .unwrap();
    assert!(!partitions(&mut pg).contains(&next1));

    pg.batch_execute("SELECT partman.run_maintenance('public.events')")
        .unwrap();
    let after = partitions(&mut pg);
    assert!(after.contains(&next1), "{next1} made: {after:?}");
    assert!(after.contains(&next2), "{next2} made: {after:?}");
    assert!(!after.contains(&next3), "premake is 2: {after:?}");
    assert!(
        !after.contains(&oldest),
        "{oldest} is past the retention: {after:?}"
    );
    // Dropped, not only detached (retention_keep_table = false).
    assert_eq!(
        count(
            &mut pg,
            &format!("SELECT count(*) FROM pg_class WHERE relname = '{oldest}'")
        ),
        0
    );
    // What is left is exactly SQLite's rows from the oldest partition kept
    // on, plus the one inserted; nothing younger than the retention went.
    let kept_from: String = value(
        &mut pg,
        "SELECT min(child_start_time)::text FROM partman.show_partitions('public.events') p,
                    partman.show_partition_info(p.partition_schemaname || '.' ||
                                                p.partition_tablename)",
        &[],
    );
    assert!(
        count(
            &mut pg,
            &format!(
                "SELECT (timestamptz '{kept_from}' <= now() - interval '180 days')::int::int8"
            )
        ) == 1,
        "partitions younger than the retention are kept ({kept_from})"
    );
    let kept_day = &kept_from[..10];
    let expected_left = source_rows(&source.path)
        .iter()
        .filter(|(_, at, _)| at.as_str() >= kept_day)
        .count() as i64;
    assert!(expected_left < total, "something was dropped");
    assert_eq!(
        count(&mut pg, "SELECT count(*) FROM events"),
        expected_left + 1
    );
    std::fs::remove_file(config).unwrap();
}

fn pg_text_one(pg: &mut postgres::Client, sql: &str, arg: &str) -> String {
    value(pg, sql, &[&arg])
}

#[test]
fn issue_18_integer_ranges_resume_sync_and_refusals() {
    let Some(db) = partman_db() else { return };
    let source = TempSqlite::new(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 950)
         INSERT INTO items SELECT i, 'item ' || i FROM n;",
    );
    let config = config(
        "ids",
        "[tables.items]\n\
         partition = { by = \"range\", column = \"id\", width = 100, manager = \"pg_partman\", \
         premake = 3 }\n",
    );
    let config_arg = config.to_str().unwrap();
    copy(&source.path, &db, &["--config", config_arg]).assert_ok();
    let mut pg = db.client();
    let interval: String = value(
        &mut pg,
        "SELECT partition_interval FROM partman.part_config WHERE parent_table = 'public.items'",
        &[],
    );
    assert_eq!(interval, "100");
    let per_leaf: BTreeMap<String, i64> = pg
        .query(
            "SELECT tableoid::regclass::text, count(*) FROM items GROUP BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for id in 1..=950 {
        *expected
            .entry(format!("items_p{}", id / 100 * 100))
            .or_default() += 1;
    }
    assert_eq!(per_leaf, expected);
    // premake 3 past the data's last partition (900).
    for ahead in ["items_p1000", "items_p1100", "items_p1200"] {
        assert_eq!(
            count(
                &mut pg,
                &format!("SELECT count(*) FROM pg_class WHERE relname = '{ahead}'")
            ),
            1,
            "{ahead}"
        );
    }

    // Run again over the registered table: `--if-exists drop` recreates
    // it and registers it afresh (partman kept the old part_config row).
    let again = copy(
        &source.path,
        &db,
        &["--config", config_arg, "--if-exists", "drop"],
    );
    again.assert_ok();
    assert_eq!(count(&mut pg, "SELECT count(*) FROM items"), 950);
    assert_eq!(
        count(&mut pg, "SELECT count(*) FROM partman.part_config"),
        1
    );
    // A resume of the finished copy has nothing to do, and verify passes.
    let resumed = copy(
        &source.path,
        &db,
        &["--config", config_arg, "--if-exists", "resume"],
    );
    resumed.assert_ok();
    assert_eq!(resumed.json()["status"], "already done");
    crate::util::verified(&source.path, &db, &["--config", config_arg]);

    // A sync adds ids past every partition: they go to the default, then
    // partman's partition_data_id moves them into partitions of their own.
    let sqlite = rusqlite::Connection::open(&source.path).unwrap();
    sqlite
        .execute_batch(
            "INSERT INTO items VALUES (5005, 'late'), (5010, 'later');
             UPDATE items SET name = 'renamed' WHERE id = 7;",
        )
        .unwrap();
    drop(sqlite);
    let sync = command_json("sync", &source.path, &db, &["--config", config_arg]);
    assert_eq!(sync.code, 0, "{}\n{}", sync.stdout, sync.stderr);
    let said = sync.json()["partitions"].to_string();
    assert!(
        said.contains(
            "moved 2 rows from public.items_default into pg_partman's partitions \
             (partman.partition_data_id)"
        ),
        "{said}"
    );
    assert_eq!(count(&mut pg, "SELECT count(*) FROM ONLY items_default"), 0);
    assert_eq!(count(&mut pg, "SELECT count(*) FROM items_p5000"), 2);
    assert_eq!(
        pg_text_one(
            &mut pg,
            "SELECT name FROM items WHERE id = $1::text::bigint",
            "7"
        ),
        "renamed"
    );
    crate::util::verified(&source.path, &db, &["--config", config_arg]);

    // pg_partman manages range partitions only.
    let list = crate::util::TempSqlite::new("CREATE TABLE t (id INTEGER PRIMARY KEY, c TEXT);");
    let bad = self::config(
        "list",
        "[tables.t]\npartition = { by = \"list\", column = \"c\", manager = \"pg_partman\" }\n",
    );
    let run = copy(&list.path, &db, &["--config", bad.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "partition.manager: pg_partman manages range partitions only (by time with \
             interval, or by integer id with width), not by = \"list\""
        ),
        "{}",
        run.stderr
    );
    std::fs::remove_file(config).unwrap();
    std::fs::remove_file(bad).unwrap();
}

#[test]
fn issue_18_without_the_extension_the_copy_says_what_to_run() {
    let db = TestDb::new();
    let source = events(&[]);
    let config = config("missing", MONTHLY);
    let run = copy(&source.path, &db, &["--config", config.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "public.events: partition.manager = \"pg_partman\", but the target database has no \
             pg_partman extension;"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("CREATE SCHEMA partman; CREATE EXTENSION pg_partman SCHEMA partman;"),
        "{}",
        run.stderr
    );
    // Nothing was created.
    let mut pg = db.client();
    assert_eq!(
        count(
            &mut pg,
            "SELECT count(*) FROM pg_class WHERE relname = 'events'"
        ),
        0
    );
    std::fs::remove_file(config).unwrap();
}

#[test]
fn issue_18_a_killed_partman_copy_resumes_into_the_same_partitions() {
    let Some(db) = partman_db() else { return };
    let source = TempSqlite::new(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, at TIMESTAMPTZ NOT NULL, note TEXT);",
    );
    {
        let mut sqlite = rusqlite::Connection::open(&source.path).unwrap();
        let tx = sqlite.transaction().unwrap();
        let start = today() - 120;
        for i in 0..60_000_i64 {
            tx.execute(
                "INSERT INTO events VALUES (?1, ?2, ?3)",
                rusqlite::params![
                    i + 1,
                    format!("{} 12:00:00+00:00", date(start + i % 150)),
                    "x".repeat(100)
                ],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    let config = config("resume", MONTHLY);
    let config_arg = config.to_str().unwrap();
    let source_arg = source.path.to_str().unwrap();
    let args = [
        "copy",
        "--source",
        source_arg,
        "--target",
        &db.url,
        "--config",
        config_arg,
        "--chunk-rows",
        "1000",
        "--jobs",
        "1",
    ];
    let mut child = crate::util::ferry_command(&args, &[])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut watch = db.client();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let done = watch
            .query_one(
                "SELECT count(*) FROM ferry.chunks WHERE status = 'done'",
                &[],
            )
            .map(|r| r.get::<_, i64>(0))
            .unwrap_or(0);
        if done >= 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no chunk committed");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The killed session's backend may outlive it a moment, holding its
    // chunk's lock.
    while count(
        &mut watch,
        &format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' \
             AND pid <> pg_backend_pid()",
            db.name
        ),
    ) > 0
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pending = count(
        &mut watch,
        "SELECT count(*) FROM ferry.chunks WHERE status <> 'done'",
    );
    if pending == 0 {
        eprintln!("skipped: the copy finished before it could be killed");
        return;
    }
    let before = partitions(&mut watch);
    let resumed = copy(
        &source.path,
        &db,
        &["--config", config_arg, "--if-exists", "resume"],
    );
    resumed.assert_ok();
    assert_eq!(
        partitions(&mut watch),
        before,
        "the resume made no partition"
    );
    assert_eq!(count(&mut watch, "SELECT count(*) FROM events"), 60_000);
    assert_eq!(
        count(&mut watch, "SELECT count(*) FROM ONLY events_default"),
        0
    );
    assert_eq!(rows_per_partition(&mut watch), source_months(&source.path));
    crate::util::verified(&source.path, &db, &["--config", config_arg]);
    std::fs::remove_file(config).unwrap();
}

#[test]
fn issue_18_null_keys_and_a_local_time_zone_are_reported() {
    let Some(db) = partman_db() else { return };
    db.client()
        .batch_execute(&format!(
            "ALTER DATABASE {} SET TimeZone = 'Europe/Paris'",
            db.name
        ))
        .unwrap();
    // No primary key, so the key column stays nullable.
    let source = TempSqlite::new(
        "CREATE TABLE logs (at TIMESTAMPTZ, msg TEXT);
         INSERT INTO logs VALUES ('2026-11-02 10:00:00+00:00', 'a'), (NULL, 'b'),
                                 ('2026-12-01 00:00:00+00:00', 'c');",
    );
    let config = config(
        "nulls",
        "[tables.logs]\n\
         partition = { by = \"range\", column = \"at\", interval = \"month\", manager = \
         \"pg_partman\" }\n",
    );
    let config_arg = config.to_str().unwrap();
    let run = copy(&source.path, &db, &["--config", config_arg]);
    run.assert_ok();
    let warnings = run.json()["warnings"].to_string();
    assert!(
        warnings.contains(
            "public.logs: 1 row landed in the default partition public.logs_default (NULL keys)"
        ),
        "{warnings}"
    );
    assert!(
        warnings.contains("the database's default time zone is Europe/Paris"),
        "{warnings}"
    );
    let mut pg = db.client();
    assert_eq!(
        count(
            &mut pg,
            "SELECT count(*) FROM ONLY logs_default WHERE at IS NULL"
        ),
        1
    );
    assert_eq!(count(&mut pg, "SELECT count(*) FROM logs"), 3);
    crate::util::verified(&source.path, &db, &["--config", config_arg]);
    std::fs::remove_file(config).unwrap();
}
