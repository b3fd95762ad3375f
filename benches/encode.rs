//! Stage 2: coercing source values and encoding them as binary COPY rows.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferry_copy_codec::CopyEncoder;

mod common;

fn coerce_and_encode(c: &mut Criterion) {
    let emails = common::emails();
    let fields = emails.plan.columns.len() as i16;
    let mut encoder = CopyEncoder::new();
    let mut group = c.benchmark_group("encode");
    for (name, throughput) in [
        (
            "emails_rows",
            Throughput::Elements(emails.rows.len() as u64),
        ),
        ("emails_bytes", Throughput::Bytes(emails.bytes)),
    ] {
        group.throughput(throughput);
        group.bench_function(name, |b| {
            b.iter(|| {
                for row in &emails.rows {
                    encoder.begin_row(fields);
                    for (column, value) in emails.plan.columns.iter().zip(row) {
                        let pg = ferry_transformer::coerce(column, value.as_ref()).unwrap();
                        encoder.push(&pg);
                    }
                }
                encoder.take().len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, coerce_and_encode);
criterion_main!(benches);
