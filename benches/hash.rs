//! Stage 3: the verifier's canonical row encoding and blake3 digest.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferry_model::PgValue;
use ferry_verifier::{row_digest, SetDigest};

mod common;

fn hash_rows(c: &mut Criterion) {
    let emails = common::emails();
    let rows: Vec<Vec<PgValue<'static>>> = emails
        .rows
        .iter()
        .map(|row| {
            emails
                .plan
                .columns
                .iter()
                .zip(row)
                .map(|(column, value)| {
                    ferry_transformer::coerce(column, value.as_ref())
                        .unwrap()
                        .into_owned()
                })
                .collect()
        })
        .collect();
    let mut group = c.benchmark_group("hash");
    for (name, throughput) in [
        ("emails_rows", Throughput::Elements(rows.len() as u64)),
        ("emails_bytes", Throughput::Bytes(emails.bytes)),
    ] {
        group.throughput(throughput);
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut set = SetDigest::new();
                for row in &rows {
                    set.add(&row_digest(row));
                }
                set
            })
        });
    }
    group.finish();
}

criterion_group!(benches, hash_rows);
criterion_main!(benches);
