//! The parallel split of chain verification (verify_chain_structure + first_crypto_failure, used by
//! postern-wasm's verifyChainParallel) agrees with verify_chain.
use postern_core::chaingen::{generate_chain, GenOptions};
use postern_core::verify::{
    first_crypto_failure, first_crypto_failure_with, verify_chain, verify_chain_structure,
    FailReason, KeyCache, VerifyOptions,
};

fn flip(h: &str) -> String {
    let first = if h.starts_with('0') { '1' } else { '0' };
    format!("{first}{}", &h[1..])
}

#[test]
fn split_halves_agree_with_verify_chain() {
    let opts = GenOptions {
        authors: 5,
        ..GenOptions::default()
    };
    let chain = generate_chain(600, opts);
    let vo = VerifyOptions {
        max_event_age_s: 0,
        ..VerifyOptions::at(opts.start_timestamp + 600)
    };
    let full = verify_chain(&chain, &vo);
    assert!(full.valid);
    assert_eq!(verify_chain_structure(&chain, &vo), full);
    assert_eq!(first_crypto_failure(&chain), None);
    for chunk in chain.chunks(97) {
        assert_eq!(first_crypto_failure(chunk), None);
    }

    // Bad signature at 321: the crypto half finds it, the structural half does not look.
    let mut bad = chain.clone();
    bad[321].signature = flip(&bad[321].signature);
    assert_eq!(
        first_crypto_failure(&bad),
        Some((321, FailReason::InvalidSignature))
    );
    assert!(verify_chain_structure(&bad, &vo).valid);
    let r = verify_chain(&bad, &vo);
    assert_eq!(
        r.error.as_ref().map(|e| (e.index, e.reason)),
        Some((321, FailReason::InvalidSignature))
    );
    assert_eq!(
        first_crypto_failure(&bad[300..]),
        Some((21, FailReason::InvalidSignature))
    );

    // Bad event id at 40 (signature still valid): crypto half reports event_id_mismatch.
    let mut bad = chain.clone();
    bad[40].event_id = flip(&bad[40].event_id);
    bad[41].prev_hash = bad[40].event_id.clone();
    assert_eq!(
        first_crypto_failure(&bad),
        Some((40, FailReason::EventIdMismatch))
    );

    // Broken link at 100: prev_hash is hashed into the id, so both halves fail at 100; the
    // structural reason wins (its checks run first in verify_chain).
    let mut bad = chain.clone();
    bad[100].prev_hash = flip(&bad[100].prev_hash);
    assert_eq!(
        first_crypto_failure(&bad),
        Some((100, FailReason::EventIdMismatch))
    );
    let s = verify_chain_structure(&bad, &vo);
    let f = verify_chain(&bad, &vo);
    assert_eq!(
        s.error.as_ref().map(|e| (e.index, e.reason)),
        f.error.as_ref().map(|e| (e.index, e.reason))
    );
    assert_eq!(
        f.error.as_ref().map(|e| (e.index, e.reason)),
        Some((100, FailReason::PrevHashMismatch))
    );
}

/// A key cache kept across batches (a relay's pushed batches) gives every batch the verdict a
/// fresh cache gives, with bad signatures, bad ids and a small-order author key (the identity
/// point, which must never be batch-verified) spread over the batches.
#[test]
fn a_key_cache_kept_across_batches_keeps_every_verdict() {
    let opts = GenOptions {
        authors: 4,
        ..GenOptions::default()
    };
    let mut chain = generate_chain(400, opts);
    for i in [7usize, 123, 250] {
        chain[i].signature = flip(&chain[i].signature);
    }
    chain[61].event_id = flip(&chain[61].event_id);
    // The Ed25519 identity point (small order), standard base64.
    let small_order = "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_string();
    for i in [90usize, 300] {
        chain[i].public_key = small_order.clone();
    }
    let mut shared = KeyCache::default();
    let mut failures = 0;
    for (n, batch) in chain.chunks(50).enumerate() {
        let fresh = first_crypto_failure(batch);
        assert_eq!(
            first_crypto_failure_with(batch, &mut shared),
            fresh,
            "batch {n}"
        );
        failures += usize::from(fresh.is_some());
    }
    assert_eq!(failures, 5, "batches 0, 1 (two plants), 2, 5 and 6 fail");
}
