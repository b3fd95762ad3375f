//! Stage 1: reading a SQLite chunk, values borrowed from the statement.

use std::convert::Infallible;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferry_reader::SourceDb;

mod common;

fn read_chunk(c: &mut Criterion) {
    let emails = common::emails();
    let db = SourceDb::open(&common::mail_fixture()).unwrap();
    let schema = db.schema().unwrap();
    let source = schema.table("emails").unwrap();
    let ranges = db.chunk_ranges(source, u64::MAX).unwrap();
    let mut group = c.benchmark_group("read");
    group.throughput(Throughput::Elements(emails.rows.len() as u64));
    group.bench_function("emails_rows", |b| {
        b.iter(|| {
            let mut seen = 0u64;
            for range in &ranges {
                db.read_chunk(source, *range, &mut |_, row| {
                    seen += row.len() as u64;
                    Ok::<_, Infallible>(())
                })
                .unwrap();
            }
            seen
        })
    });
    group.throughput(Throughput::Bytes(emails.bytes));
    group.bench_function("emails_bytes", |b| {
        b.iter(|| {
            for range in &ranges {
                db.read_chunk(source, *range, &mut |_, _| Ok::<_, Infallible>(()))
                    .unwrap();
            }
        })
    });
    group.finish();
}

criterion_group!(benches, read_chunk);
criterion_main!(benches);
