//! The push queue: a batch that arrives before its predecessor waits for it while a push of the
//! same peer is on its way, and is answered as before (409 `forked`) when none is.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use postern_core::api::peer::codes as pcodes;
use postern_core::chaingen::{generate_chain, GenOptions};
use postern_core::event::ChainEvent;
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

/// `n` generated chain events (4 authors, no gate messages) from timestamp `start`.
pub(super) fn events(n: usize, start: u64) -> Vec<ChainEvent> {
    let opts = GenOptions {
        authors: 4,
        start_timestamp: start,
        include_gate_messages: false,
    };
    generate_chain(n, opts)
}

fn chain_values(n: usize) -> Vec<Value> {
    events(n, NOW - 50_000)
        .iter()
        .map(ChainEvent::to_value)
        .collect()
}

/// `(accepted, refusal code and index)` of an answer.
fn verdict(o: Result<PushOutcome, Internal>) -> (u64, Option<(&'static str, u64)>) {
    match o.unwrap() {
        PushOutcome::Done { accepted, .. } => (accepted, None),
        PushOutcome::Refused(r) => (r.accepted, Some((r.refusal.code, r.index))),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_prepared_in_turn_gets_the_verdicts_of_pushes_one_at_a_time() {
    let mut values = chain_values(400);
    // A forged signature in batch 3 (event 170): batches 4.. extend an event never stored.
    let forged = values[169].get("signature").cloned().unwrap();
    values[170].insert("signature", forged);
    let windows: Vec<Vec<Value>> = values.chunks(50).map(<[Value]>::to_vec).collect();

    // One at a time.
    let dir = tempfile::tempdir().unwrap();
    let pc = open(dir.path());
    let mut alone = Vec::new();
    for w in &windows {
        let a = pc.arrive(PEER).unwrap();
        let p = pc.prepare(&a, w.clone()).await.unwrap();
        alone.push(verdict(pc.push(a, p, NOW).await));
    }
    assert_eq!(alone[3], (20, Some(("invalid_signature", 20))));

    // All at once, prepared through the gate in arrival order.
    let dir = tempfile::tempdir().unwrap();
    let pc = open(dir.path());
    let hs: Vec<_> = windows
        .into_iter()
        .map(|w| {
            let pc = pc.clone();
            let a = pc.arrive(PEER).unwrap();
            tokio::spawn(async move {
                let p = pc.prepare(&a, w).await?;
                pc.push(a, p, NOW).await
            })
        })
        .collect();
    let mut together = Vec::new();
    for h in hs {
        together.push(verdict(h.await.unwrap()));
    }
    assert_eq!(together, alone);
    assert_eq!((pc.turns.waiting(), pc.turns.free()), (0, pc.turns.cores()));
    let c = Chain::open(Store::open(dir.path()).unwrap()).unwrap();
    assert_eq!(c.head().1, 170);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_that_goes_away_while_waiting_for_its_turn_is_no_longer_counted() {
    let dir = tempfile::tempdir().unwrap();
    let pc = open(dir.path());
    let values = chain_values(50);
    // Every turn is taken: the push waits.
    let held = pc.turns.take("someone else").await;
    let pc2 = pc.clone();
    let v = values.clone();
    let h = tokio::spawn(async move {
        let a = pc2.arrive(PEER).unwrap();
        pc2.prepare(&a, v).await
    });
    until("a push waiting for its turn", || pc.turns.waiting() == 1).await;
    h.abort();
    assert!(h.await.unwrap_err().is_cancelled());
    drop(held);
    assert_eq!((pc.turns.waiting(), pc.turns.free()), (0, pc.turns.cores()));
    // The next push is alone: prepared at once, then applied.
    let a = pc.arrive(PEER).unwrap();
    let p = pc.prepare(&a, values).await.unwrap();
    assert_eq!(done(pc.push(a, p, NOW).await), 50);
    assert_eq!(pc.turns.free(), pc.turns.cores());
}
