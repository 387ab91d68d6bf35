//! `ChainState::ingest_all` (shared key cache) agrees with event-by-event `ingest` and with
//! `verify_chain`: same accepted prefix, same first rejection.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use postern_core::chaingen::{generate_chain, GenOptions};
use postern_core::verify::{verify_chain, ChainState, FailReason, VerifyOptions};

const NOW: u64 = 1_780_000_100;

#[test]
fn ingest_all_matches_ingest_and_verify_chain() {
    let events = generate_chain(60, GenOptions::default());
    let opts = VerifyOptions {
        now: NOW,
        max_event_age_s: 0,
        batch: true,
    };
    let mut a = ChainState::new();
    assert_eq!(a.ingest_all(&events[..25], &opts), (25, None));
    assert_eq!(a.ingest_all(&events[25..], &opts), (35, None));
    let report = verify_chain(&events, &opts);
    assert_eq!(Some(a.head().to_string()), report.head);
    assert_eq!(a.len(), 60);

    // A bad signature at 40 and a broken link: the same first failure as one by one.
    let mut bad = events.clone();
    let sig = &mut bad[40].signature;
    let last = if sig.ends_with('0') { "1" } else { "0" };
    sig.replace_range(sig.len() - 1.., last);
    bad.remove(50);
    let mut b = ChainState::new();
    let (n, rej) = b.ingest_all(&bad, &opts);
    let mut c = ChainState::new();
    let one_by_one = bad
        .iter()
        .position(|e| c.ingest(e, &opts).is_err())
        .unwrap();
    assert_eq!(
        (n, rej.unwrap().reason),
        (one_by_one, FailReason::InvalidSignature)
    );
    assert_eq!(b.len(), 40);
    assert_eq!(b.head(), c.head());
}

/// One corruption of a generated chain, by kind.
fn corrupt(events: &mut Vec<postern_core::event::ChainEvent>, kind: usize, at: usize) {
    let at = at % events.len();
    match kind {
        // Bad signature (last hex digit flipped).
        0 => {
            let sig = &mut events[at].signature;
            let last = if sig.ends_with('0') { "1" } else { "0" };
            sig.replace_range(sig.len() - 1.., last);
        }
        // Bad event id (payload changed after signing: signature fails first).
        1 => events[at].payload.insert("message", "tampered".into()),
        // Broken link.
        2 => {
            events.remove(at);
        }
        // Replayed sequence: an earlier event of the chain again.
        3 => {
            let dup = events[at / 2].clone();
            events.insert(at.max(1), dup);
        }
        // Recomputed id of a tampered event whose signature still verifies? No: a wrong id.
        4 => events[at].event_id = events[(at + 1) % events.len()].event_id.clone(),
        // Unsupported algorithm.
        _ => events[at].public_key_algo = "RSA".into(),
    }
}

/// `ingest_batch` (signatures and ids first, batched, then the sequential rules) gives exactly
/// `ingest_all`'s accepted prefix, first rejection (reason and detail) and resulting head, on
/// valid chains and on every kind of single and double corruption, across call boundaries.
#[test]
fn ingest_batch_matches_ingest_all() {
    let opts = VerifyOptions {
        now: NOW,
        max_event_age_s: 0,
        batch: true,
    };
    let events = generate_chain(90, GenOptions::default());
    let mut cases = vec![events.clone()];
    for k1 in 0..6 {
        for (at1, at2, k2) in [
            (7usize, 61usize, 5usize),
            (33, 12, 0),
            (80, 80, 1),
            (2, 45, 3),
        ] {
            let mut e = events.clone();
            corrupt(&mut e, k1, at1);
            cases.push(e.clone());
            corrupt(&mut e, k2, at2);
            cases.push(e);
        }
    }
    for case in &cases {
        for split in [0usize, 1, 40] {
            let split = split.min(case.len());
            let mut a = ChainState::new();
            let mut b = ChainState::new();
            let ra = a.ingest_all(&case[..split], &opts);
            let rb = b.ingest_batch(&case[..split], &opts);
            assert_eq!(ra, rb);
            if ra.1.is_none() {
                assert_eq!(
                    a.ingest_all(&case[split..], &opts),
                    b.ingest_batch(&case[split..], &opts)
                );
            }
            assert_eq!((a.head(), a.len()), (b.head(), b.len()));
        }
    }
}
