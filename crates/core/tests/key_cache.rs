//! A key cache kept across batches (a relay's pushed and pulled batches) holds only what
//! decoding a key gives: a key refused once stays refused in every later batch, and a batch
//! that fails (a forged signature, a bad id) leaves nothing behind that changes a later verdict.
use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::CompressedEdwardsY;
use postern_core::b64::{decode_std_array, encode_std};
use postern_core::chaingen::{generate_chain, GenOptions};
use postern_core::event::ChainEvent;
use postern_core::verify::{first_crypto_failure, first_crypto_failure_with, FailReason, KeyCache};

fn flip(h: &str) -> String {
    let first = if h.starts_with('0') { '1' } else { '0' };
    format!("{first}{}", &h[1..])
}

/// `key` plus a point of order 8: decodes, not small order, but not in the prime-order group.
fn mixed_order(key: &str) -> String {
    let bytes: [u8; 32] = decode_std_array(key).unwrap_or([0; 32]);
    let point = CompressedEdwardsY(bytes).decompress();
    let mixed = point.map(|p| (p + EIGHT_TORSION[1]).compress().to_bytes());
    encode_std(&mixed.unwrap_or([0; 32]))
}

fn chain() -> Vec<ChainEvent> {
    generate_chain(
        200,
        GenOptions {
            authors: 4,
            ..GenOptions::default()
        },
    )
}

#[test]
fn a_key_refused_once_stays_refused_in_later_batches() {
    let chain = chain();
    let small_order = "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_string();
    let mixed = mixed_order(&chain[0].public_key);
    let not_a_key = "not base64 at all".to_string();
    let mut cache = KeyCache::default();
    for bad_key in [small_order, mixed, not_a_key] {
        // The same bad key text in three later batches: refused every time, at that event.
        for (start, at) in [(0usize, 10usize), (50, 23), (150, 49)] {
            let mut batch = chain[start..start + 50].to_vec();
            batch[at].public_key = bad_key.clone();
            let fresh = first_crypto_failure(&batch);
            assert_eq!(
                fresh,
                Some((at, FailReason::InvalidSignature)),
                "{bad_key} at {start}+{at}"
            );
            assert_eq!(first_crypto_failure_with(&batch, &mut cache), fresh);
        }
        // And the valid batches around it still pass with the same cache.
        for batch in chain.chunks(50) {
            assert_eq!(first_crypto_failure_with(batch, &mut cache), None);
        }
    }
}

#[test]
fn a_failing_batch_does_not_poison_the_cache() {
    let chain = chain();
    let author = chain[5].public_key.clone();
    // First sight of every key is a batch where one author's signatures are all forged and
    // another event's id is wrong: the batch fails at the first forged signature.
    let mut forged = chain[..50].to_vec();
    for e in forged.iter_mut().filter(|e| e.public_key == author) {
        e.signature = flip(&e.signature);
    }
    let first_forged = forged.iter().position(|e| e.public_key == author);
    let mut cache = KeyCache::default();
    for _ in 0..2 {
        assert_eq!(
            first_crypto_failure_with(&forged, &mut cache),
            first_forged.map(|i| (i, FailReason::InvalidSignature))
        );
        // The genuine events of the same authors pass afterwards, in every batch.
        for batch in chain.chunks(50) {
            assert_eq!(first_crypto_failure_with(batch, &mut cache), None);
        }
    }
    // A bad id with a good signature fails, and leaves the author's later events passing.
    let mut bad_id = chain[50..100].to_vec();
    bad_id[7].event_id = flip(&bad_id[7].event_id);
    assert_eq!(
        first_crypto_failure_with(&bad_id, &mut cache),
        Some((7, FailReason::EventIdMismatch))
    );
    assert_eq!(first_crypto_failure_with(&chain[50..100], &mut cache), None);
    // A forged signature after the cache has held the author's key for a while: still caught.
    let mut late = chain[150..].to_vec();
    let at = late.iter().rposition(|e| e.public_key == author);
    if let Some(i) = at {
        late[i].signature = flip(&late[i].signature);
    }
    assert_eq!(
        first_crypto_failure_with(&late, &mut cache),
        at.map(|i| (i, FailReason::InvalidSignature))
    );
    assert_eq!(
        first_crypto_failure_with(&late, &mut cache),
        first_crypto_failure(&late)
    );
}
