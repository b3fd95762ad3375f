//! The report's outputs checked against what their consumers accept: the
//! JSON against verify-report.schema.json, the JUnit XML through a JUnit
//! parser of the kind CI dashboards use.

use jsonschema::Validator;
use junit_parser::TestStatus;
use serde_json::{json, Value};

use super::*;

const SCHEMA: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/verify-report.schema.json"
));

/// The name that proves escaping: every character XML treats specially in
/// an attribute.
const AWKWARD: &str = "a<b&\"c\"";

fn schema() -> Value {
    serde_json::from_str(SCHEMA).expect("the schema is JSON")
}

fn validator() -> Validator {
    jsonschema::draft202012::new(&schema()).expect("the schema compiles")
}

/// Every schema violation of `document`, one per line, for assert messages.
fn violations(validator: &Validator, document: &Value) -> String {
    validator
        .iter_errors(document)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn passing_table() -> TableResult {
    let mut table = TableResult::new("orders", "public.orders");
    table.source_rows = 1500;
    table.target_rows = 1500;
    table.checked_rows = 1500;
    table.seconds = 0.25;
    table
}

fn failing_table() -> TableResult {
    let mut table = TableResult::new(AWKWARD, format!("public.{AWKWARD}"));
    table.status = Status::Fail;
    table.source_rows = 10;
    table.target_rows = 10;
    table.checked_rows = 10;
    table.missing = 2;
    table.extra = 1;
    table.changed = 1;
    table.quarantined = 1;
    table.schema = vec!["column note is text in the plan but varchar(5) in Postgres".into()];
    table.differences = vec![
        Difference {
            kind: DifferenceKind::Missing,
            key: "id=5".into(),
            columns: Vec::new(),
        },
        Difference {
            kind: DifferenceKind::Extra,
            key: "id=11".into(),
            columns: Vec::new(),
        },
        Difference {
            kind: DifferenceKind::Changed,
            key: "id=7".into(),
            columns: vec![
                ColumnDiff {
                    column: "price".into(),
                    source: Some("1.5".into()),
                    target: Some("1.6".into()),
                },
                ColumnDiff {
                    column: "note".into(),
                    source: None,
                    target: Some("<&>".into()),
                },
            ],
        },
        Difference {
            kind: DifferenceKind::Quarantined,
            key: "id=9".into(),
            columns: vec![ColumnDiff {
                column: "born".into(),
                source: Some("'2023-02-30' is not a date".into()),
                target: None,
            }],
        },
    ];
    table.unlisted = table.count_unlisted();
    table.seconds = 0.5;
    table
}

fn errored_table() -> TableResult {
    let mut table = TableResult::new("logs", "public.logs");
    table.status = Status::Error;
    table.error = Some("reading logs failed: database is locked; retry".into());
    table
}

fn modes() -> [Mode; 3] {
    [
        Mode::SchemaOnly,
        Mode::Sample {
            rows: 1000,
            seed: u64::MAX,
        },
        Mode::Full,
    ]
}

/// For each mode: a report with a passing, a failing and an errored table.
fn mixed_reports() -> Vec<VerifyReport> {
    modes()
        .into_iter()
        .map(|mode| VerifyReport {
            mode,
            tables: vec![passing_table(), failing_table(), errored_table()],
            seconds: 1.25,
            ferry_version: "0.1.0".to_owned(),
        })
        .collect()
}

/// For each mode: a report where everything passed, and one with no tables.
fn passing_reports() -> Vec<VerifyReport> {
    modes()
        .into_iter()
        .flat_map(|mode| {
            [
                VerifyReport {
                    mode: mode.clone(),
                    tables: vec![passing_table()],
                    seconds: 0.25,
                    ferry_version: "0.1.0".to_owned(),
                },
                VerifyReport {
                    mode,
                    tables: Vec::new(),
                    seconds: 0.0,
                    ferry_version: "0.1.0".to_owned(),
                },
            ]
        })
        .collect()
}

fn document(report: &VerifyReport) -> Value {
    serde_json::from_str(&report.to_json()).expect("to_json writes JSON")
}

#[test]
fn schema_is_valid_draft_2020_12() {
    let schema = schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    if let Err(error) = jsonschema::draft202012::meta::validate(&schema) {
        panic!("the schema breaks the 2020-12 meta-schema: {error}");
    }
}

#[test]
fn every_mode_validates() {
    let validator = validator();
    for report in mixed_reports().iter().chain(&passing_reports()) {
        let document = document(report);
        assert!(
            validator.is_valid(&document),
            "{}\n{document:#}",
            violations(&validator, &document)
        );
    }
}

#[test]
fn sample_fields_appear_only_in_sample_mode() {
    for report in mixed_reports() {
        let document = document(&report);
        let sampled = matches!(report.mode, Mode::Sample { .. });
        assert_eq!(document.get("sample").is_some(), sampled, "{document}");
        assert_eq!(document.get("seed").is_some(), sampled, "{document}");
        if sampled {
            assert_eq!(document["sample"], 1000);
            assert_eq!(document["seed"], u64::MAX);
        }
    }
}

#[test]
fn nonsense_durations_still_validate() {
    let validator = validator();
    for seconds in [f64::NAN, f64::INFINITY, -1.0] {
        let mut report = mixed_reports().remove(2);
        report.seconds = seconds;
        report.tables[0].seconds = seconds;
        let document = document(&report);
        assert!(
            validator.is_valid(&document),
            "{seconds}: {}",
            violations(&validator, &document)
        );
        assert_eq!(document["seconds"], 0.0);
        assert_eq!(document["tables"][0]["seconds"], 0.0);
    }
}

#[test]
fn schema_rejects_broken_documents() {
    let validator = validator();
    type Break = fn(&mut Value);
    let breaks: [(&str, Break); 16] = [
        ("no mode", |d| {
            d.as_object_mut().unwrap().remove("mode");
        }),
        ("no tables", |d| {
            d.as_object_mut().unwrap().remove("tables");
        }),
        ("a table without missing", |d| {
            d["tables"][1].as_object_mut().unwrap().remove("missing");
        }),
        ("a difference without key", |d| {
            d["tables"][1]["differences"][0]
                .as_object_mut()
                .unwrap()
                .remove("key");
        }),
        ("an unknown status", |d| {
            d["tables"][0]["status"] = json!("skipped")
        }),
        ("an unknown mode", |d| d["mode"] = json!("partial")),
        ("an unknown kind", |d| {
            d["tables"][1]["differences"][0]["kind"] = json!("moved")
        }),
        ("an extra top-level property", |d| {
            d["verdict"] = json!("ok")
        }),
        ("an extra table property", |d| {
            d["tables"][0]["rows"] = json!(1)
        }),
        ("an extra column property", |d| {
            d["tables"][1]["differences"][2]["columns"][0]["type"] = json!("numeric")
        }),
        ("a negative count", |d| d["tables"][0]["extra"] = json!(-1)),
        ("a count as text", |d| {
            d["tables"][0]["source_rows"] = json!("1500")
        }),
        ("sample fields outside sample mode", |d| {
            d["mode"] = json!("full");
        }),
        ("sample mode without a seed", |d| {
            d.as_object_mut().unwrap().remove("seed");
        }),
        ("passed with a failing table", |d| d["passed"] = json!(true)),
        ("an error on a passing table", |d| {
            d["tables"][0]["error"] = json!("boom")
        }),
    ];
    let sampled = mixed_reports().remove(1);
    assert!(matches!(sampled.mode, Mode::Sample { .. }));
    let valid = document(&sampled);
    assert!(validator.is_valid(&valid));
    for (what, break_it) in breaks {
        let mut broken = valid.clone();
        break_it(&mut broken);
        assert_ne!(broken, valid, "{what} changed nothing");
        assert!(!validator.is_valid(&broken), "{what} was accepted");
    }

    // And the other way round: a passing report may not claim to fail, nor
    // an errored table lack its error.
    let mut passing = document(&passing_reports().remove(0));
    passing["passed"] = json!(false);
    assert!(!validator.is_valid(&passing));
    let mut errored = valid.clone();
    errored["tables"][2]["error"] = Value::Null;
    assert!(!validator.is_valid(&errored));
}

#[test]
fn junit_parses_with_one_case_per_table() {
    for report in mixed_reports() {
        let xml = report.to_junit();
        let parsed = junit_parser::from_reader(xml.as_bytes())
            .unwrap_or_else(|error| panic!("{error}\n{xml}"));
        assert_eq!(parsed.tests, 3);
        assert_eq!(parsed.failures, 1);
        assert_eq!(parsed.errors, 1);
        assert_eq!(parsed.suites.len(), 1);
        let suite = &parsed.suites[0];
        assert_eq!(suite.name, "ferry verify");
        assert_eq!((suite.tests, suite.failures, suite.errors), (3, 1, 1));
        assert_eq!(suite.skipped, 0);
        assert!(suite.suites.is_empty());

        // The parser reports `name` as `classname::name`, the way dashboards
        // show it, and the attribute itself as `original_name`.
        let names: Vec<&str> = suite
            .cases
            .iter()
            .map(|c| c.original_name.as_str())
            .collect();
        assert_eq!(names, ["orders", AWKWARD, "logs"]);
        for case in &suite.cases {
            assert_eq!(case.classname.as_deref(), Some("ferry.verify"));
            assert_eq!(case.name, format!("ferry.verify::{}", case.original_name));
        }

        assert!(suite.cases[0].status.is_success());

        let TestStatus::Failure(failure) = &suite.cases[1].status else {
            panic!("{AWKWARD} should fail: {:?}", suite.cases[1].status);
        };
        let summary = report.tables[1].summary();
        assert_eq!(
            summary,
            "2 missing, 1 extra, 1 changed, 1 schema difference"
        );
        assert_eq!(failure.message, summary);
        assert_eq!(failure.failure_type, "mismatch");
        for line in [
            "schema: column note is text in the plan but varchar(5) in Postgres",
            "missing id=5",
            "extra id=11",
            "changed id=7: price: 1.5 → 1.6; note: NULL → <&>",
            "quarantined id=9: born: '2023-02-30' is not a date → NULL",
            "… and 1 more",
        ] {
            assert!(failure.text.contains(line), "{line} in {}", failure.text);
        }

        let TestStatus::Error(error) = &suite.cases[2].status else {
            panic!("logs should be an error: {:?}", suite.cases[2].status);
        };
        assert_eq!(
            error.message,
            "reading logs failed: database is locked; retry"
        );
        assert_eq!(error.text, error.message);
    }
}

#[test]
fn junit_of_a_passing_run_has_no_failures() {
    for report in passing_reports() {
        let parsed = junit_parser::from_reader(report.to_junit().as_bytes()).unwrap();
        let suite = &parsed.suites[0];
        assert_eq!(suite.tests, report.tables.len() as u64);
        assert_eq!((suite.failures, suite.errors), (0, 0));
        assert!(suite.cases.iter().all(|c| c.status.is_success()));
    }
}
