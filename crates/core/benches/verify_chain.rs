//! verify_chain throughput on a generated 10k-event Ed25519 chain: batched vs single signature
//! verification. Run: `cargo bench -p postern-core --bench verify_chain`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use postern_core::chaingen::{generate_chain, GenOptions};
use postern_core::verify::{verify_chain, VerifyOptions};

const EVENTS: usize = 10_000;

fn bench(c: &mut Criterion) {
    let opts = GenOptions {
        authors: 16,
        ..GenOptions::default()
    };
    let chain = generate_chain(EVENTS, opts);
    let now = opts.start_timestamp + EVENTS as u64;
    assert!(verify_chain(&chain, &VerifyOptions::at(now)).valid);
    let mut g = c.benchmark_group("verify_chain_10k");
    g.throughput(Throughput::Elements(EVENTS as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.warm_up_time(Duration::from_secs(1));
    g.bench_function("batched", |b| {
        b.iter(|| {
            verify_chain(
                &chain,
                &VerifyOptions {
                    batch: true,
                    ..VerifyOptions::at(now)
                },
            )
        })
    });
    g.bench_function("single", |b| {
        b.iter(|| {
            verify_chain(
                &chain,
                &VerifyOptions {
                    batch: false,
                    ..VerifyOptions::at(now)
                },
            )
        })
    });
    // Everything except signature arithmetic: schema, normalisation, hashing, signed strings.
    g.bench_function("non_signature_work", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for e in &chain {
                let ok =
                    postern_core::schema::validate_event_payload(&e.event_type, &e.payload).is_ok();
                let id = e.computed_event_id();
                let msgs = postern_core::verify::signed_messages(e, &e.sequence_value());
                n += usize::from(ok) + id.len() + msgs.len();
            }
            n
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
