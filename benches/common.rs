//! Inputs shared by the stage benchmarks: the committed mail fixture from
//! the seeded generator, planned the way `ferry copy` plans it.

// Each bench binary uses a different part of these inputs.
#![allow(dead_code)]

use std::convert::Infallible;
use std::path::PathBuf;

use ferry_model::{SourceValue, TablePlan};
use ferry_reader::SourceDb;
use ferry_transformer::PlanOptions;

pub fn mail_fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/data/mail-1k.sqlite")
}

/// The `emails` table: its plan and its rows.
pub struct Emails {
    pub plan: TablePlan,
    pub rows: Vec<Vec<SourceValue>>,
    pub bytes: u64,
}

pub fn emails() -> Emails {
    let db = SourceDb::open(&mail_fixture()).expect("mail fixture");
    let schema = db.schema().expect("schema");
    let options = PlanOptions {
        schema: "public".to_owned(),
        tables: schema.tables.iter().map(|t| t.name.clone()).collect(),
        ..PlanOptions::default()
    };
    let plans = ferry_transformer::plan_tables(&schema, &options).expect("plan");
    let source = schema.table("emails").expect("emails").clone();
    let plan = plans
        .into_iter()
        .find(|p| p.source_name == "emails")
        .expect("emails plan");
    let mut rows = Vec::new();
    let mut bytes = 0u64;
    for range in db.chunk_ranges(&source, u64::MAX).expect("chunks") {
        db.read_chunk(&source, range, &mut |_, row| {
            bytes += row.iter().map(value_bytes).sum::<u64>();
            rows.push(row.iter().map(|v| v.to_owned_value()).collect());
            Ok::<_, Infallible>(())
        })
        .expect("read");
    }
    Emails { plan, rows, bytes }
}

/// Bytes a value occupies as data (its payload), for MB/s figures.
pub fn value_bytes(value: &ferry_model::SourceValueRef<'_>) -> u64 {
    use ferry_model::SourceValueRef::*;
    match value {
        Null => 0,
        Integer(_) | Real(_) => 8,
        Text(b) | Blob(b) => b.len() as u64,
    }
}
