//! Rounds: batches applied in one transaction give the chain a batch-by-batch push gives, and a
//! rolled-back round stores nothing and leaves memory as the database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use postern_core::chaingen::{generate_chain, GenOptions};
use postern_core::json::Value;

use super::super::{Chain, Prepared, PushOutcome};
use crate::store::Store;

const NOW: u64 = 1_780_100_000;

fn batches(n: usize, size: usize) -> Vec<Vec<Value>> {
    let opts = GenOptions {
        authors: 4,
        start_timestamp: NOW - 50_000,
        include_gate_messages: true,
    };
    let values: Vec<Value> = generate_chain(n, opts)
        .iter()
        .map(|e| e.to_value())
        .collect();
    values.chunks(size).map(<[Value]>::to_vec).collect()
}

fn open(dir: &std::path::Path) -> Chain {
    Chain::open(Store::open(dir).unwrap()).unwrap()
}

fn accepted(o: &PushOutcome) -> u64 {
    match o {
        PushOutcome::Done { accepted, .. } => *accepted,
        PushOutcome::Refused(r) => panic!("refused: {r:?}"),
    }
}

#[test]
fn a_round_stores_what_pushing_batch_by_batch_stores() {
    let bs = batches(160, 50);
    let (one, many) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = open(one.path());
    for b in &bs {
        accepted(&a.peer_push(b, NOW).unwrap());
    }
    let mut c = open(many.path());
    c.begin_round().unwrap();
    // The second batch first: it waits for its predecessor (a gap), the first does not.
    let p: Vec<Prepared> = bs.iter().map(|b| Prepared::new(b.clone(), 1)).collect();
    assert!(c.waits_for_predecessor(&p[1]).unwrap());
    assert!(!c.waits_for_predecessor(&p[0]).unwrap());
    for q in &p {
        accepted(&c.push_prepared_from(q, NOW, Some("http://peer")).unwrap());
    }
    // Within the round its own rows count: all duplicates now, nothing waits.
    assert!(!c.waits_for_predecessor(&p[1]).unwrap());
    c.commit_round().unwrap();
    assert_eq!(c.head(), a.head());
    assert_eq!(c.event_ids(), a.event_ids());
    drop(c);
    let mut c = open(many.path());
    assert_eq!(c.head(), a.head());
    assert_eq!(c.merkle_root(), a.merkle_root());
}

#[test]
fn a_rolled_back_round_stores_nothing_and_memory_follows_the_database() {
    let bs = batches(120, 40);
    let dir = tempfile::tempdir().unwrap();
    let mut c = open(dir.path());
    accepted(&c.peer_push(&bs[0], NOW).unwrap());
    let before = c.head();
    c.begin_round().unwrap();
    accepted(&c.peer_push(&bs[1], NOW).unwrap());
    accepted(&c.peer_push(&bs[2], NOW).unwrap());
    assert_eq!(c.head().1, 120);
    c.rollback_round();
    assert_eq!(c.head(), before);
    // The same batches again: stored as new, not as duplicates.
    assert_eq!(accepted(&c.peer_push(&bs[1], NOW).unwrap()), 40);
    drop(c);
    let c = open(dir.path());
    assert_eq!(c.head().1, 80);
}
