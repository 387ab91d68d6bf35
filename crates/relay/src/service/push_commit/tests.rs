//! The push queue: a batch that arrives before its predecessor waits for it while a push of the
//! same peer is on its way, and is answered as before (409 `forked`) when none is.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use postern_core::api::peer::codes as pcodes;
use postern_core::chaingen::{generate_chain, GenOptions};
use postern_core::json::Value;

use super::*;
use crate::store::Store;

const NOW: u64 = 1_780_100_000;
const PEER: &str = "http://peer.example";

fn batches(n: usize, size: usize) -> Vec<Prepared> {
    let opts = GenOptions {
        authors: 4,
        start_timestamp: NOW - 50_000,
        include_gate_messages: false,
    };
    let values: Vec<Value> = generate_chain(n, opts)
        .iter()
        .map(|e| e.to_value())
        .collect();
    values
        .chunks(size)
        .map(|b| Prepared::new(b.to_vec(), 1))
        .collect()
}

fn open(dir: &std::path::Path) -> PushCommit {
    PushCommit::new(Shared::new(Chain::open(Store::open(dir).unwrap()).unwrap()))
}

/// Wait (polling, no fixed sleep) until `n` batches wait for a predecessor.
async fn until_waiting(pc: &PushCommit, n: usize) {
    until(&format!("{n} batches waiting"), || pc.waiting() == n).await;
}

/// Poll (no fixed sleep) until `cond`; fail the test naming `what`.
pub(super) async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..20_000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("timed out waiting for {what}");
}

fn done(o: Result<PushOutcome, Internal>) -> u64 {
    match o.unwrap() {
        PushOutcome::Done { accepted, .. } => accepted,
        PushOutcome::Refused(r) => panic!("refused: {r:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_ahead_of_its_predecessor_waits_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let pc = open(dir.path());
    let mut bs = batches(150, 50).into_iter();
    let (b0, b1, b2) = (bs.next().unwrap(), bs.next().unwrap(), bs.next().unwrap());
    // b0 is on its way (received, being prepared); b2 and b1 arrive first.
    let first = pc.arrive(PEER).unwrap();
    let late: Vec<_> = [b2, b1]
        .into_iter()
        .map(|b| {
            let pc = pc.clone();
            let a = pc.arrive(PEER).unwrap();
            tokio::spawn(async move { pc.push(a, b, NOW).await })
        })
        .collect();
    until_waiting(&pc, 2).await;
    assert_eq!(done(pc.push(first, b0, NOW).await), 50);
    for h in late {
        assert_eq!(done(h.await.unwrap()), 50);
    }
    assert_eq!(pc.waiting(), 0);
    let c = Chain::open(Store::open(dir.path()).unwrap()).unwrap();
    assert_eq!(c.head().1, 150);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_batch_with_a_gap_is_refused_at_once_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let pc = open(dir.path());
    let b1 = batches(100, 50).pop().unwrap();
    let a = pc.arrive(PEER).unwrap();
    match pc.push(a, b1, NOW).await.unwrap() {
        PushOutcome::Refused(r) => {
            assert_eq!((r.index, r.refusal.code), (0, pcodes::FORKED));
            assert!(r.refusal.detail.contains("does not hold"), "{r:?}");
        }
        o => panic!("{o:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_batch_is_refused_once_its_peer_has_nothing_on_the_way() {
    let dir = tempfile::tempdir().unwrap();
    let pc = open(dir.path());
    let b1 = batches(100, 50).pop().unwrap();
    let lost = pc.arrive(PEER).unwrap();
    let a = pc.arrive(PEER).unwrap();
    let pc2 = pc.clone();
    let h = tokio::spawn(async move { pc2.push(a, b1, NOW).await });
    until_waiting(&pc, 1).await;
    // The predecessor's request fails before it is queued.
    drop(lost);
    match h.await.unwrap().unwrap() {
        PushOutcome::Refused(r) => assert_eq!(r.refusal.code, pcodes::FORKED),
        o => panic!("{o:?}"),
    }
    assert_eq!(pc.waiting(), 0);
}
