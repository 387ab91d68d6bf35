//! Peer push with several batches in flight (issue 16): batches pushed concurrently and out of
//! order end as the chain a sequential push stores; every batch answered 2xx survives `kill -9`
//! (pushed batches share transactions and fsyncs); our own push worker sends its outbox rows
//! several at a time, loses none behind a refused one, and drains a 2,500-event outbox.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::chain::*;
use common::*;
use postern_core::api::infonet::{PATH_PEER_PUSH, PATH_STATUS};
use postern_core::event::ChainEvent;

const PEER_URL: &str = "http://pusher.test:7001";
const PEER_SECRET: &str = "window-secret";
const BATCH: usize = 50;

fn push(relay: &Relay, body: &str) -> Resp {
    peer_post(
        relay,
        PATH_PEER_PUSH,
        PEER_URL,
        PEER_SECRET,
        body.as_bytes(),
    )
}

/// `(head, count)` of a relay's chain.
fn head(relay: &Relay) -> (String, u64) {
    let v = relay.get(PATH_STATUS).json();
    (
        v["head_hash_full"].as_str().unwrap().to_string(),
        v["total_events"].as_u64().unwrap(),
    )
}

fn receiver(data: &std::path::Path) -> Relay {
    Relay::start(data, &[&format!("--peer={PEER_URL}={PEER_SECRET}")])
}

#[test]
fn batches_pushed_concurrently_and_out_of_order_store_the_sequential_chain() {
    let events = gen_chain(1_000, 8);
    let bodies: Vec<String> = events.chunks(BATCH).map(push_body).collect();
    let (seq_dir, par_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let seq = receiver(seq_dir.path());
    for b in &bodies {
        let r = push(&seq, b);
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let par = receiver(par_dir.path());
    // Windows of 8, each started newest first; a batch refused while one before it was
    // unanswered is pushed again with the next window (as our push worker does).
    let mut unacked: Vec<usize> = (0..bodies.len()).collect();
    let mut windows = 0;
    while !unacked.is_empty() {
        windows += 1;
        assert!(windows <= 2 * bodies.len(), "no progress: {unacked:?}");
        let window: Vec<usize> = unacked.iter().take(8).copied().collect();
        let answers: Vec<(usize, Resp)> = std::thread::scope(|s| {
            let hs: Vec<_> = window
                .iter()
                .rev()
                .map(|&i| {
                    let (par, body) = (&par, &bodies[i]);
                    s.spawn(move || (i, push(par, body)))
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (i, r) in answers {
            if r.status == 200 {
                unacked.retain(|&j| j != i);
            } else {
                assert_eq!(r.status, 409, "{}", r.body);
                assert_ne!(i, window[0], "the oldest batch was refused: {}", r.body);
            }
        }
    }
    assert_eq!(head(&par), head(&seq));
    assert_eq!(head(&par).1, 1_000);
    drop((seq, par));
    assert_eq!(stored_ids(par_dir.path()), stored_ids(seq_dir.path()));
    let want: Vec<String> = events.iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(stored_ids(par_dir.path()), want);
}

#[test]
fn every_batch_answered_2xx_survives_kill_9() {
    const PUSHERS: usize = 4;
    const ACKED_BEFORE_KILL: usize = 24;
    let dir = tempfile::tempdir().unwrap();
    let relay = receiver(dir.path());
    // One independent chain per pusher would fork each other: one chain, dealt out in order to
    // the pushers in windows, each pusher pushing its share with its predecessors in flight.
    let events = gen_chain(6_000, 8);
    let bodies: Arc<Vec<String>> = Arc::new(events.chunks(BATCH).map(push_body).collect());
    let ids: Vec<Vec<String>> = events
        .chunks(BATCH)
        .map(|c| c.iter().map(|e| e.event_id.clone()).collect())
        .collect();
    // Batches answered 200 (their index), and a signal for each.
    let acked = Arc::new((Mutex::new(Vec::<usize>::new()), Condvar::new()));
    let next = Arc::new(Mutex::new(0usize));
    let stop = Arc::new(AtomicBool::new(false));
    let base = relay.base.clone();
    let pushers: Vec<_> = (0..PUSHERS)
        .map(|_| {
            let (bodies, acked, next, stop, base) = (
                Arc::clone(&bodies),
                Arc::clone(&acked),
                Arc::clone(&next),
                Arc::clone(&stop),
                base.clone(),
            );
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(30))
                    .build();
                let url = format!("{base}{PATH_PEER_PUSH}");
                while !stop.load(Ordering::SeqCst) {
                    let i = {
                        let mut n = next.lock().unwrap();
                        let i = *n;
                        *n += 1;
                        i
                    };
                    let Some(body) = bodies.get(i) else { return };
                    // Retry a batch refused while its predecessor was on its way.
                    while !stop.load(Ordering::SeqCst) {
                        let headers =
                            peer_headers(PEER_SECRET, PEER_URL, PATH_PEER_PUSH, body.as_bytes());
                        let mut req = agent.post(&url).set("Content-Type", "application/json");
                        for (k, v) in &headers {
                            req = req.set(k, v);
                        }
                        match req.send_string(body) {
                            Ok(r) if r.status() == 200 => {
                                acked.0.lock().unwrap().push(i);
                                acked.1.notify_all();
                                break;
                            }
                            Ok(_) | Err(ureq::Error::Status(..)) => {}
                            // The relay is gone.
                            Err(_) => return,
                        }
                    }
                }
            })
        })
        .collect();
    {
        let (list, signal) = &*acked;
        let mut seen = list.lock().unwrap();
        while seen.len() < ACKED_BEFORE_KILL {
            let (n, timeout) = signal.wait_timeout(seen, Duration::from_secs(120)).unwrap();
            seen = n;
            assert!(!timeout.timed_out(), "only {} batches answered", seen.len());
        }
    }
    relay.kill();
    stop.store(true, Ordering::SeqCst);
    for p in pushers {
        p.join().unwrap();
    }
    let acked: Vec<usize> = acked.0.lock().unwrap().clone();
    assert!(acked.len() >= ACKED_BEFORE_KILL);
    // The database recovers its log on open; every event of every answered batch is there.
    let relay = receiver(dir.path());
    assert_eq!(relay.get("/api/health").status, 200);
    drop(relay);
    let stored: HashSet<String> = stored_ids(dir.path()).into_iter().collect();
    for i in acked {
        let lost = ids[i].iter().filter(|id| !stored.contains(*id)).count();
        assert_eq!(
            lost, 0,
            "batch {i} was answered 200 but {lost} of its events are lost"
        );
    }
}

/// Relay `S` (index 0) with outbox rows for relay `R` (index 1) written into its database
/// before it starts (its chain stays empty, so `R` can get the events only from those rows);
/// `R` is started first.
fn outbox_to_peer(bodies: &[String]) -> (Mesh, Relay, Relay) {
    let dirs = vec![tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut mesh = Mesh {
        dirs,
        ports: vec![free_port(), free_port()],
        edges: vec![(0, 1)],
        extra: vec!["--sync-interval-secs=1".to_string()],
        push: true,
    };
    let r = loop {
        match mesh.start_node(1) {
            Ok(r) => break r,
            Err(_) => mesh.ports = vec![free_port(), free_port()],
        }
    };
    // S once, to create its database (it has no rows to push yet); its migrations are
    // committed before it listens.
    let s = mesh.start_node(0).expect("start S");
    s.kill();
    let db = rusqlite::Connection::open(mesh.dirs[0].path().join("postern.sqlite3")).unwrap();
    for b in bodies {
        db.execute(
            "INSERT INTO replication_outbox (peer, path, body, attempts, next_attempt_at, created_at)
             VALUES (?1, ?2, ?3, 0, 0, 0)",
            rusqlite::params![mesh.url(1), PATH_PEER_PUSH, b],
        )
        .unwrap();
    }
    drop(db);
    let s = mesh.start_node(0).expect("restart S");
    (mesh, s, r)
}

#[test]
fn a_refused_batch_in_the_window_loses_none_of_the_rows_behind_it() {
    let events = gen_chain(300, 8);
    let batches: Vec<&[ChainEvent]> = events.chunks(BATCH).collect();
    // A copy of batch 2 whose event 10 carries a forged signature, queued before the true one.
    let mut forged = batches[2].to_vec();
    let sig = &mut forged[10].signature;
    let flipped = if sig.starts_with('a') { "b" } else { "a" };
    sig.replace_range(..1, flipped);
    let mut bodies: Vec<String> = batches.iter().map(|b| push_body(b)).collect();
    bodies.insert(2, push_body(&forged));
    let (mesh, s, r) = outbox_to_peer(&bodies);
    wait_for("R to hold the whole chain", || head(&r).1 == 300);
    wait_for("S's outbox to drain", || {
        outbox_len(mesh.dirs[0].path()) == 0
    });
    let want: Vec<String> = events.iter().map(|e| e.event_id.clone()).collect();
    drop((s, r));
    assert_eq!(stored_ids(mesh.dirs[1].path()), want);
    // The event stored at the forged position is the true one.
    let db = rusqlite::Connection::open(mesh.dirs[1].path().join("postern.sqlite3")).unwrap();
    let text: String = db
        .query_row("SELECT event FROM infonet_chain WHERE idx = 110", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(text.contains(&events[110].signature), "{text}");
}

#[test]
fn two_relays_drain_a_2500_event_outbox_in_order() {
    let events = gen_chain(2_500, 8);
    let bodies: Vec<String> = events.chunks(BATCH).map(push_body).collect();
    let (mesh, s, r) = outbox_to_peer(&bodies);
    wait_for("R to hold the whole chain", || head(&r).1 == 2_500);
    wait_for("S's outbox to drain", || {
        outbox_len(mesh.dirs[0].path()) == 0
    });
    assert_eq!(head(&r).0, events.last().unwrap().event_id);
    // S pulls it back from R: both relays on one chain.
    wait_for("S to converge", || head(&s) == head(&r));
    drop((s, r));
    let want: Vec<String> = events.iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(stored_ids(mesh.dirs[1].path()), want);
}
