//! Native ceiling for the browser benchmark suite (bench/): the same Rust functions postern-wasm
//! runs, measured with criterion on this machine. `bench/native.mjs` reads
//! target/criterion/*/*/new/estimates.json into bench/native.json for BENCHMARKS.md.
//! Run: `cargo bench -p postern-core --bench primitives` (CHAIN_100K=0 skips the 100k chain).

use std::time::Duration;

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ed25519_dalek::{Signer, SigningKey, Verifier};
use postern_core::chaingen::{generate_chain, GenOptions};
use postern_core::dm;
use postern_core::gate::{self, EpochKey, GateId, GateState};
use postern_core::identity::Identity;
use postern_core::verify::{verify_chain, VerifyOptions};
use rand_core::OsRng;
use sha2::{Digest, Sha256};

fn fill(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 24) as u8
        })
        .collect()
}

fn short() -> (Duration, Duration) {
    (Duration::from_millis(500), Duration::from_secs(2))
}

fn primitives(c: &mut Criterion) {
    let (warm, meas) = short();
    let mut g = c.benchmark_group("native");
    g.warm_up_time(warm).measurement_time(meas).sample_size(20);

    let key = fill(32, 5);
    let nonce = fill(12, 6);
    let cipher = ChaCha20Poly1305::new(Key::from_slice(&key));
    for size in [64usize, 1024, 65536] {
        let pt = fill(size, 8);
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(BenchmarkId::new("aead_seal", size), |b| {
            b.iter(|| {
                let mut buf = Vec::with_capacity(size + 16);
                buf.extend_from_slice(&pt);
                let tag = cipher
                    .encrypt_in_place_detached(Nonce::from_slice(&nonce), &[], &mut buf)
                    .unwrap();
                buf.extend_from_slice(&tag);
                buf
            })
        });
        let mut sealed = pt.clone();
        let tag = cipher
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), &[], &mut sealed)
            .unwrap();
        sealed.extend_from_slice(&tag);
        g.bench_function(BenchmarkId::new("aead_open", size), |b| {
            b.iter(|| {
                let (ct, tag) = sealed.split_at(sealed.len() - 16);
                let mut buf = ct.to_vec();
                cipher
                    .decrypt_in_place_detached(
                        Nonce::from_slice(&nonce),
                        &[],
                        &mut buf,
                        Tag::from_slice(tag),
                    )
                    .unwrap();
                buf
            })
        });
    }

    g.throughput(Throughput::Elements(1));
    let seed: [u8; 32] = fill(32, 1).try_into().unwrap();
    let msg = fill(64, 2);
    let sk = SigningKey::from_bytes(&seed);
    let vk = sk.verifying_key();
    let sig = sk.sign(&msg);
    g.bench_function("ed25519_sign", |b| {
        b.iter(|| SigningKey::from_bytes(&seed).sign(&msg))
    });
    g.bench_function("ed25519_sign_expanded", |b| b.iter(|| sk.sign(&msg)));
    g.bench_function("ed25519_verify", |b| {
        b.iter(|| vk.verify(&msg, &sig).unwrap())
    });
    g.bench_function("ed25519_verify_strict", |b| {
        b.iter(|| vk.verify_strict(&msg, &sig).unwrap())
    });
    for n in [64usize, 256] {
        let keys: Vec<SigningKey> = (0..n)
            .map(|i| SigningKey::from_bytes(&fill(32, 100 + i as u32).try_into().unwrap()))
            .collect();
        let msgs: Vec<Vec<u8>> = (0..n).map(|i| fill(64, 1000 + i as u32)).collect();
        let sigs: Vec<_> = keys.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
        let vks: Vec<_> = keys.iter().map(|k| k.verifying_key()).collect();
        let mrefs: Vec<&[u8]> = msgs.iter().map(|m| m.as_slice()).collect();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("ed25519_verify_batch", n), |b| {
            b.iter(|| ed25519_dalek::verify_batch(&mrefs, &sigs, &vks).unwrap())
        });
    }

    g.throughput(Throughput::Elements(1));
    let a = x25519_dalek::StaticSecret::from(<[u8; 32]>::try_from(fill(32, 3)).unwrap());
    let bsec = x25519_dalek::StaticSecret::from(<[u8; 32]>::try_from(fill(32, 4)).unwrap());
    let bpub = x25519_dalek::PublicKey::from(&bsec);
    g.bench_function("x25519", |b| b.iter(|| a.diffie_hellman(&bpub)));

    let data = fill(1 << 20, 7);
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("sha256_1mib", |b| b.iter(|| Sha256::digest(&data)));

    // DM and gate message, 1 KiB body, end to end (incl. envelope JSON as postern-wasm does).
    g.throughput(Throughput::Elements(1));
    let body = fill(1024, 9);
    let alice = Identity::generate(&mut OsRng);
    let bob = Identity::generate(&mut OsRng);
    let now = 1_780_000_000u64;
    g.bench_function("dm_seal_1k", |b| {
        b.iter(|| {
            let id = dm::new_msg_id(&mut OsRng);
            let env = dm::seal(&alice, &bob.public(), &body, &id, now, &mut OsRng).unwrap();
            serde_json::to_string(&env).unwrap()
        })
    });
    let env = serde_json::to_string(
        &dm::seal(
            &alice,
            &bob.public(),
            &body,
            &dm::new_msg_id(&mut OsRng),
            now,
            &mut OsRng,
        )
        .unwrap(),
    )
    .unwrap();
    g.bench_function("dm_open_1k", |b| {
        b.iter(|| {
            let e: dm::DmEnvelope = serde_json::from_str(&env).unwrap();
            dm::open(&bob, &e).unwrap()
        })
    });
    let record =
        gate::create_genesis(&alice, &GateId::generate(&mut OsRng), now, &mut OsRng).unwrap();
    let state = GateState::from_genesis(&record).unwrap();
    let ekey = EpochKey::unlock(&alice, state.head()).unwrap();
    g.bench_function("gate_seal_1k", |b| {
        b.iter(|| gate::seal(&alice, &ekey, &body, now, &mut OsRng).unwrap())
    });
    let gm = gate::seal(&alice, &ekey, &body, now, &mut OsRng).unwrap();
    g.bench_function("gate_open_1k", |b| {
        b.iter(|| gate::open(&ekey, &gm).unwrap())
    });
    g.finish();
}

fn chain(c: &mut Criterion) {
    if std::env::var("CHAIN_100K").as_deref() == Ok("0") {
        return;
    }
    const N: usize = 100_000;
    let opts = GenOptions {
        authors: 16,
        include_gate_messages: false,
        ..GenOptions::default()
    };
    let chain = generate_chain(N, opts);
    let now = opts.start_timestamp + N as u64;
    let vo = VerifyOptions {
        max_event_age_s: 0,
        ..VerifyOptions::at(now)
    };
    assert!(verify_chain(&chain, &vo).valid);
    let mut g = c.benchmark_group("native");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_secs(10));
    g.bench_function("chain_100k_batched", |b| {
        b.iter(|| verify_chain(&chain, &vo))
    });
    g.finish();
}

criterion_group!(benches, primitives, chain);
criterion_main!(benches);
