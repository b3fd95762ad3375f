//! Every command's JSON summary (issue 18): `status`, `ferry_version` (as
//! `ferry --version` says it) and timings, in the shape its published
//! schema gives, whatever the outcome.

use crate::util::{
    assert_matches_schema, command_json, ferry, TempSqlite, TestDb, COPY_SCHEMA, SYNC_SCHEMA,
    VERIFY_SCHEMA,
};

#[test]
fn issue_18_every_json_summary_has_status_version_and_its_schema() {
    let version = ferry(&["--version"])
        .stdout
        .trim()
        .replacen("ferry ", "", 1);
    let source = TempSqlite::new(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
         INSERT INTO t VALUES (1, 'a'), (2, 'b');",
    );
    let db = TestDb::new();
    let checks = [
        ("copy", vec![], COPY_SCHEMA, "ok"),
        (
            "copy",
            vec!["--if-exists", "resume"],
            COPY_SCHEMA,
            "already done",
        ),
        ("sync", vec![], SYNC_SCHEMA, "ok"),
        ("sync", vec!["--check"], SYNC_SCHEMA, "ok"),
        ("verify", vec!["--full"], VERIFY_SCHEMA, "pass"),
    ];
    for (command, extra, schema, status) in checks {
        let run = command_json(command, &source.path, &db, &extra);
        assert_eq!(run.code, 0, "{command} {extra:?}: {}", run.stderr);
        let json = run.json();
        assert_matches_schema(schema, &json);
        assert_eq!(json["status"], status, "{command} {extra:?}");
        assert_eq!(json["ferry_version"], version.as_str());
    }
    db.client()
        .batch_execute("UPDATE t SET v = 'changed' WHERE id = 2")
        .unwrap();
    let differs = command_json("sync", &source.path, &db, &["--check"]);
    assert_eq!(differs.code, 1, "{}", differs.stderr);
    assert_matches_schema(SYNC_SCHEMA, &differs.json());
    assert_eq!(differs.json()["status"], "differences");
    let fails = command_json("verify", &source.path, &db, &["--full"]);
    assert_eq!(fails.code, 1);
    assert_matches_schema(VERIFY_SCHEMA, &fails.json());
    assert_eq!(fails.json()["status"], "fail");
}
