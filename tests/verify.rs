//! `ferry verify`: equal copies pass, and every kind of difference is
//! found, named and reported in each format with the documented exit code.

use crate::util::{
    assert_matches_schema, command_json, copy, ferry, fixture, table, TestDb, VERIFY_SCHEMA,
};

/// `ferry verify` of the edge fixture, its bad values kept bad (`--types
/// declared`) as in [`copied_edge`].
fn verify(db: &TestDb, extra: &[&str]) -> crate::util::Run {
    let args: Vec<&str> = ["--types", "declared"]
        .iter()
        .chain(extra)
        .copied()
        .collect();
    command_json("verify", &fixture("edge.sqlite"), db, &args)
}

/// The edge fixture copied with its bad rows quarantined.
fn copied_edge() -> TestDb {
    let db = TestDb::new();
    copy(
        &fixture("edge.sqlite"),
        &db,
        &["--on-error", "quarantine", "--types", "declared"],
    )
    .assert_ok();
    db
}

#[test]
fn a_faithful_copy_passes_full_verification_of_every_value() {
    let db = copied_edge();
    let run = verify(&db, &["--full"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(report["mode"], "full");
    assert_eq!(report["passed"], true);
    for t in report["tables"].as_array().unwrap() {
        assert_eq!(t["status"], "pass", "{t}");
        assert_eq!(t["checked_rows"], t["target_rows"], "{t}");
    }
    // Quarantined rows are reported as such, not as missing.
    let bad = table(&report, "bad_values");
    assert_eq!(bad["quarantined"], 10);
    assert_eq!(bad["missing"], 0);
}

#[test]
fn full_verification_names_missing_extra_and_changed_rows() {
    let db = copied_edge();
    db.client()
        .batch_execute(
            "UPDATE types_exact SET c_text = 'tampered' WHERE id = 3;
             DELETE FROM child WHERE id = 4;
             INSERT INTO no_pk VALUES ('ghost', 1, 'extra');",
        )
        .unwrap();
    let run = verify(&db, &["--full"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(report["passed"], false);

    let changed = table(&report, "types_exact");
    assert_eq!(changed["changed"], 1);
    let difference = &changed["differences"][0];
    assert_eq!(difference["kind"], "changed");
    assert_eq!(difference["key"], "id=3");
    assert_eq!(difference["columns"][0]["column"], "c_text");
    assert_eq!(difference["columns"][0]["target"], "'tampered'");

    let missing = table(&report, "child");
    assert_eq!(missing["missing"], 1);
    assert_eq!(missing["differences"][0]["key"], "id=4");

    let extra = table(&report, "no_pk");
    assert_eq!(extra["extra"], 1);
    assert_eq!(extra["differences"][0]["kind"], "extra");

    assert_eq!(table(&report, "parent")["status"], "pass");
}

#[test]
fn sampled_verification_is_reproducible_and_finds_changed_rows() {
    let db = copied_edge();
    let first = verify(&db, &["--sample", "10", "--seed", "7"]);
    first.assert_ok();
    let second = verify(&db, &["--sample", "10", "--seed", "7"]);
    let checked =
        |run: &crate::util::Run| table(&run.json(), "types_exact")["checked_rows"].clone();
    assert_eq!(checked(&first), 10);
    assert_eq!(checked(&first), checked(&second));

    db.client()
        .batch_execute("UPDATE types_exact SET c_text = c_text || '!' WHERE c_text IS NOT NULL")
        .unwrap();
    let run = verify(&db, &["--sample", "1000", "--tables", "types_exact"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let report = run.json();
    assert!(table(&report, "types_exact")["changed"].as_u64().unwrap() > 0);

    // With every text changed, the rows a sample names show which keys it
    // drew: the same seed draws the same keys.
    let sampled_keys = |seed: &str| {
        let run = verify(
            &db,
            &["--sample", "10", "--seed", seed, "--tables", "types_exact"],
        );
        differences(&run.json(), "types_exact")
    };
    let drawn = sampled_keys("7");
    assert!(!drawn.is_empty());
    assert_eq!(drawn, sampled_keys("7"));
}

#[test]
fn schema_only_checks_readiness_without_reading_rows() {
    let db = copied_edge();
    let run = verify(&db, &["--schema-only"]);
    run.assert_ok();
    assert_matches_schema(VERIFY_SCHEMA, &run.json());
    assert_eq!(table(&run.json(), "types_exact")["checked_rows"], 0);

    db.client()
        .batch_execute(
            "ALTER TABLE types_exact ALTER COLUMN c_real TYPE real; DROP TABLE empty_table;",
        )
        .unwrap();
    let run = verify(&db, &["--schema-only"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let report = run.json();
    let schema = table(&report, "types_exact")["schema"].to_string();
    assert!(
        schema.contains("c_real") && schema.contains("double precision"),
        "{schema}"
    );
    assert!(
        table(&report, "empty_table")["schema"]
            .to_string()
            .contains("missing"),
        "{report}"
    );
}

#[test]
fn reports_for_ci_go_to_a_file_in_junit_and_markdown() {
    let db = copied_edge();
    db.client()
        .batch_execute("DELETE FROM parent WHERE id = 3")
        .unwrap();
    let source = fixture("edge.sqlite");
    let dir = std::env::temp_dir();
    for (format, marker) in [("junit", "<testcase"), ("markdown", "| parent |")] {
        let output = dir.join(format!("ferry-verify-{}-{format}", std::process::id()));
        let run = ferry(&[
            "verify",
            "--source",
            source.to_str().unwrap(),
            "--target",
            &db.url,
            "--full",
            "--format",
            format,
            "--output",
            output.to_str().unwrap(),
        ]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(
            run.stdout.contains("differ"),
            "stdout keeps a verdict: {}",
            run.stdout
        );
        let report = std::fs::read_to_string(&output).unwrap();
        assert!(report.contains(marker), "{format}: {report}");
        assert!(report.contains("id=3"), "{format}: {report}");
        let _ = std::fs::remove_file(output);
    }
}

#[test]
fn verify_of_an_unreachable_target_exits_3() {
    let source = fixture("edge.sqlite");
    let run = ferry(&[
        "verify",
        "--source",
        source.to_str().unwrap(),
        "--target",
        "postgres://u:hunter2@127.0.0.1:1/x?connect_timeout=2",
    ]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(!run.stderr.contains("hunter2"), "{}", run.stderr);
}

/// (kind, key, columns) of every difference of a table in a JSON report.
fn differences(report: &serde_json::Value, name: &str) -> Vec<(String, String, Vec<String>)> {
    let mut found: Vec<(String, String, Vec<String>)> = table(report, name)["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let columns = d["columns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["column"].as_str().unwrap().to_owned())
                .collect();
            (
                d["kind"].as_str().unwrap().to_owned(),
                d["key"].as_str().unwrap().to_owned(),
                columns,
            )
        })
        .collect();
    found.sort();
    found
}

fn expected(rows: &[(&str, &str, &[&str])]) -> Vec<(String, String, Vec<String>)> {
    let mut rows: Vec<_> = rows
        .iter()
        .map(|(kind, key, columns)| {
            (
                kind.to_string(),
                key.to_string(),
                columns.iter().map(|c| c.to_string()).collect(),
            )
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn issue_4_finds_exactly_the_rows_and_columns_that_were_changed() {
    let source = fixture("mail-1k.sqlite");
    let db = TestDb::new();
    copy(&source, &db, &[]).assert_ok();
    let clean = command_json("verify", &source, &db, &["--full"]);
    assert_eq!(clean.code, 0, "{}", clean.stdout);
    let clean = command_json("verify", &source, &db, &[]);
    assert_eq!(clean.code, 0, "{}", clean.stdout);

    let mut pg = db.client();
    let score: f64 = pg
        .query_one("SELECT spam_score FROM emails WHERE id = 21", &[])
        .unwrap()
        .get(0);
    let last_bit = f64::from_bits(score.to_bits() ^ 1);
    pg.execute(
        "UPDATE emails SET spam_score = $1 WHERE id = 21",
        &[&last_bit],
    )
    .unwrap();
    pg.batch_execute(
        "UPDATE emails SET subject = subject || ' (edited)' WHERE id IN (5, 6, 7);
         DELETE FROM emails WHERE id IN (10, 11);
         CREATE TEMP TABLE extra AS SELECT * FROM emails WHERE id = 1;
         UPDATE extra SET id = 100000, message_id = '<extra@example.com>';
         INSERT INTO emails SELECT * FROM extra;
         UPDATE emails SET received_at = received_at + interval '1 microsecond' WHERE id = 20;
         UPDATE emails SET is_read = NOT is_read WHERE id = 22;
         UPDATE accounts SET password_hash = set_byte(password_hash, 0, (get_byte(password_hash, 0) + 1) % 256) WHERE id = 2;
         UPDATE accounts SET settings = jsonb_set(settings, '{theme}', '\"solarized\"') WHERE id = 3;",
    )
    .unwrap();

    let emails = expected(&[
        ("changed", "id=5", &["subject"]),
        ("changed", "id=6", &["subject"]),
        ("changed", "id=7", &["subject"]),
        ("changed", "id=20", &["received_at"]),
        ("changed", "id=21", &["spam_score"]),
        ("changed", "id=22", &["is_read"]),
        ("missing", "id=10", &[]),
        ("missing", "id=11", &[]),
        ("extra", "id=100000", &[]),
    ]);
    let accounts = expected(&[
        ("changed", "id=2", &["password_hash"]),
        ("changed", "id=3", &["settings"]),
    ]);

    let full = command_json("verify", &source, &db, &["--full"]);
    assert_eq!(full.code, 1, "{}", full.stdout);
    let report = full.json();
    assert_matches_schema(VERIFY_SCHEMA, &report);
    assert_eq!(differences(&report, "emails"), emails);
    assert_eq!(differences(&report, "accounts"), accounts);
    assert_eq!(table(&report, "events")["status"], "pass");

    // A sample covering every row finds the same changed and missing rows
    // (extra rows show in the counts: a sample is drawn from the source).
    let sampled = command_json("verify", &source, &db, &["--sample", "5000", "--seed", "1"]);
    assert_eq!(sampled.code, 1, "{}", sampled.stdout);
    let report = sampled.json();
    assert_matches_schema(VERIFY_SCHEMA, &report);
    let without_extra: Vec<_> = emails.into_iter().filter(|d| d.0 != "extra").collect();
    assert_eq!(differences(&report, "emails"), without_extra);
    assert_eq!(differences(&report, "accounts"), accounts);
}
