//! What a hostile peer can make the push queue do: a batch that fails inside a round costs the
//! round's other batches nothing, a round answers as the same batches pushed one after another
//! (forks, duplicates and forged events in the middle), and waiting batches, held pushes and
//! the queue are bounded per peer and in all.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::mpsc;

use postern_core::api::peer::codes as pcodes;
use postern_core::event::ChainEvent;

use super::tests::{events, until};
use super::*;
use crate::store::Store;

const NOW: u64 = 1_780_100_000;

fn prepared(evts: &[ChainEvent]) -> Prepared {
    Prepared::new(evts.iter().map(ChainEvent::to_value).collect(), 1)
}

fn open_chain(dir: &std::path::Path) -> Shared<Chain> {
    Shared::new(Chain::open(Store::open(dir).unwrap()).unwrap())
}

/// Make every insert of `event_id` into the chain fail (a storage failure of one batch).
fn fail_insert_of(dir: &std::path::Path, event_id: &str) {
    let db = rusqlite::Connection::open(dir.join("postern.sqlite3")).unwrap();
    db.execute_batch(&format!(
        "CREATE TRIGGER fail_one BEFORE INSERT ON infonet_chain WHEN NEW.event_id = '{event_id}'
         BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
    ))
    .unwrap();
}

fn stored_ids(dir: &std::path::Path) -> Vec<String> {
    let db = rusqlite::Connection::open(dir.join("postern.sqlite3")).unwrap();
    let mut stmt = db
        .prepare("SELECT event_id FROM infonet_chain ORDER BY idx")
        .unwrap();
    let ids = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    ids
}

/// The chain's lock, held on another thread until the returned sender is dropped.
fn hold_chain(chain: &Shared<Chain>) -> (mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (locked_tx, locked) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let chain = chain.clone();
    let holder = std::thread::spawn(move || {
        let _guard = chain.lock();
        locked_tx.send(()).unwrap();
        let _ = released.recv();
    });
    locked.recv().unwrap();
    (release, holder)
}

type Answer = tokio::task::JoinHandle<Result<PushOutcome, Internal>>;

fn spawn_push(pc: &PushCommit, peer: &str, p: Prepared) -> Answer {
    let pc = pc.clone();
    let a = pc.arrive(peer).unwrap();
    tokio::spawn(async move { pc.push(a, p, NOW).await })
}

/// `(peer, batch)` pushed in this order into one round (the chain's lock is held until all are
/// queued): their answers.
async fn in_one_round(
    pc: &PushCommit,
    chain: &Shared<Chain>,
    pushes: &[(&str, Prepared)],
) -> Vec<String> {
    let (release, holder) = hold_chain(chain);
    let mut answers = Vec::new();
    for (k, (peer, p)) in pushes.iter().enumerate() {
        answers.push(spawn_push(pc, peer, p.clone()));
        until("the push to be queued", || pc.queued() == k + 1).await;
    }
    drop(release);
    holder.join().unwrap();
    let mut out = Vec::new();
    for a in answers {
        out.push(format!("{:?}", a.await.unwrap()));
    }
    out
}

/// The same pushes one after another (each answered before the next is sent).
async fn one_by_one(pc: &PushCommit, pushes: &[(&str, Prepared)]) -> Vec<String> {
    let mut out = Vec::new();
    for (peer, p) in pushes {
        let a = pc.arrive(peer).unwrap();
        out.push(format!("{:?}", pc.push(a, p.clone(), NOW).await));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_fails_in_a_round_costs_the_other_batches_nothing() {
    let evts = events(150, NOW - 50_000);
    let (b0, b1, b2) = (
        prepared(&evts[..50]),
        prepared(&evts[50..100]),
        prepared(&evts[100..]),
    );
    // Peer B's batch fails when stored; A's and D's do not depend on it, C's extends it.
    let pushes = [
        ("http://a.example", b0.clone()),
        ("http://b.example", b1),
        ("http://c.example", b2),
        ("http://d.example", b0),
    ];
    let (round_dir, alone_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (round_chain, alone_chain) = (open_chain(round_dir.path()), open_chain(alone_dir.path()));
    fail_insert_of(round_dir.path(), &evts[60].event_id);
    fail_insert_of(alone_dir.path(), &evts[60].event_id);
    let round = in_one_round(&PushCommit::new(round_chain.clone()), &round_chain, &pushes).await;
    let alone = one_by_one(&PushCommit::new(alone_chain), &pushes).await;
    assert!(round[0].starts_with("Ok(Done { accepted: 50,"), "{round:?}");
    assert_eq!(round[1], "Err(Internal)");
    assert!(round[2].contains("does not hold"), "{round:?}");
    assert!(
        round[3].starts_with("Ok(Done { accepted: 0, duplicates: 50,"),
        "{round:?}"
    );
    assert_eq!(round, alone);
    let want: Vec<String> = evts[..50].iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(stored_ids(round_dir.path()), want);
    assert_eq!(stored_ids(alone_dir.path()), want);
    // The chain in memory is the stored one: the next batch extends it.
    let pc = PushCommit::new(round_chain);
    let a = pc.arrive("http://a.example").unwrap();
    let next = pc.push(a, prepared(&evts[50..60]), NOW).await;
    assert!(
        matches!(next, Ok(PushOutcome::Done { accepted: 10, .. })),
        "{next:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_answers_as_its_batches_pushed_one_after_another() {
    let ours = events(150, NOW - 50_000);
    let theirs = events(60, NOW - 40_000);
    let mut forged = ours[50..100].to_vec();
    let sig = &mut forged[10].signature;
    let flipped = if sig.starts_with('a') { "b" } else { "a" };
    sig.replace_range(..1, flipped);
    // Distinct peers, so no batch waits: a fork from genesis, a forged copy in the middle, the
    // true copy behind it, duplicates in the same round, a batch behind the head.
    let pushes = [
        ("http://p1.example", prepared(&ours[..50])),
        ("http://p2.example", prepared(&forged)),
        ("http://p3.example", prepared(&theirs[..50])),
        ("http://p4.example", prepared(&ours[50..100])),
        ("http://p5.example", prepared(&ours[..50])),
        ("http://p6.example", prepared(&ours[100..])),
        ("http://p7.example", prepared(&ours[100..])),
        ("http://p8.example", prepared(&ours[20..70])),
        ("http://p9.example", prepared(&theirs[50..])),
    ];
    let (round_dir, alone_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let round_chain = open_chain(round_dir.path());
    let round = in_one_round(&PushCommit::new(round_chain.clone()), &round_chain, &pushes).await;
    let alone = one_by_one(&PushCommit::new(open_chain(alone_dir.path())), &pushes).await;
    assert_eq!(round, alone);
    assert!(round[1].contains("Refused"), "{round:?}");
    assert_eq!(stored_ids(round_dir.path()), stored_ids(alone_dir.path()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_held_forever_does_not_hold_a_gapped_batch_beyond_the_wait() {
    let dir = tempfile::tempdir().unwrap();
    let pc = PushCommit::with_gap_wait(open_chain(dir.path()), Duration::from_millis(50));
    let evts = events(100, NOW - 50_000);
    // A push of this peer that never gets queued (a request that never ends).
    let _forever = pc.arrive("http://a.example").unwrap();
    let a = pc.arrive("http://a.example").unwrap();
    match pc.push(a, prepared(&evts[50..]), NOW).await.unwrap() {
        PushOutcome::Refused(r) => assert_eq!(r.refusal.code, pcodes::FORKED),
        o => panic!("{o:?}"),
    }
    assert_eq!(pc.waiting(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_waiting_for_one_peer_do_not_hold_back_another_peers_push() {
    let dir = tempfile::tempdir().unwrap();
    let pc = PushCommit::with_gap_wait(open_chain(dir.path()), Duration::from_secs(3_600));
    let evts = events(200, NOW - 50_000);
    let hold = pc.arrive("http://a.example").unwrap();
    let gapped = [
        spawn_push(&pc, "http://a.example", prepared(&evts[100..150])),
        spawn_push(&pc, "http://a.example", prepared(&evts[150..])),
    ];
    until("two batches to wait", || pc.waiting() == 2).await;
    // Waiting, they hold no transaction: the database's write lock is free at once (DM
    // deposits and appends write on other connections).
    let db = rusqlite::Connection::open(dir.path().join("postern.sqlite3")).unwrap();
    db.busy_timeout(Duration::ZERO).unwrap();
    db.execute_batch("BEGIN IMMEDIATE; COMMIT").unwrap();
    let b = pc.arrive("http://b.example").unwrap();
    let o = pc.push(b, prepared(&evts[..50]), NOW).await;
    assert!(
        matches!(o, Ok(PushOutcome::Done { accepted: 50, .. })),
        "{o:?}"
    );
    // Answered while A's batches still wait (their wait is an hour and A's push is on its way).
    assert_eq!(pc.waiting(), 2);
    drop(hold);
    for h in gapped {
        match h.await.unwrap().unwrap() {
            PushOutcome::Refused(r) => assert_eq!(r.refusal.code, pcodes::FORKED),
            o => panic!("{o:?}"),
        }
    }
}

/// `n` pushes of the same gapped batch from each of `peers`, each peer with a push held on its
/// way: how many wait, once the others were answered (all `forked`).
async fn gapped_flood(peers: usize, n: usize) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let pc = PushCommit::with_gap_wait(open_chain(dir.path()), Duration::from_secs(3_600));
    let evts = events(100, NOW - 50_000);
    let gapped = prepared(&evts[50..]);
    let names: Vec<String> = (0..peers).map(|i| format!("http://p{i}.example")).collect();
    let holds: Vec<Arrival> = names.iter().map(|p| pc.arrive(p).unwrap()).collect();
    let mut answers = Vec::new();
    for p in &names {
        for _ in 0..n {
            answers.push(spawn_push(&pc, p, gapped.clone()));
        }
    }
    until("the queue to settle", || {
        pc.queued() == 0
            && pc.waiting() + answers.iter().filter(|h| h.is_finished()).count() == answers.len()
    })
    .await;
    let waiting = pc.waiting();
    drop(holds);
    for h in answers {
        match h.await.unwrap().unwrap() {
            PushOutcome::Refused(r) => assert_eq!(r.refusal.code, pcodes::FORKED),
            o => panic!("{o:?}"),
        }
    }
    assert_eq!(pc.waiting(), 0);
    waiting
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_waiting_for_a_predecessor_are_bounded_per_peer() {
    assert_eq!(gapped_flood(1, 24).await, MAX_WAITING_PER_PEER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_waiting_for_a_predecessor_are_bounded_in_all() {
    assert_eq!(gapped_flood(6, 15).await, MAX_WAITING);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_held_are_bounded_per_peer_and_in_all() {
    let dir = tempfile::tempdir().unwrap();
    let pc = PushCommit::new(open_chain(dir.path()));
    let mut a: Vec<Arrival> = (0..MAX_PUSHES_PER_PEER)
        .map(|_| pc.arrive("http://a.example").unwrap())
        .collect();
    assert!(pc.arrive("http://a.example").is_err());
    // Another peer is not refused; a slot given back is usable again.
    let b = pc.arrive("http://b.example").unwrap();
    a.pop();
    a.push(pc.arrive("http://a.example").unwrap());
    drop(b);
    let mut others = Vec::new();
    for i in 0.. {
        match pc.arrive(&format!("http://p{}.example", i / 8)) {
            Ok(x) => others.push(x),
            Err(Busy) => break,
        }
    }
    assert_eq!(a.len() + others.len(), MAX_PUSHES);
    drop(a);
    assert!(pc.arrive("http://a.example").is_ok());
}
