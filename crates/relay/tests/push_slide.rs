//! Our push worker's sliding window (issue 16): relay `S` pushes its outbox to relay `R`
//! through a proxy that can refuse a push `peer_busy`, drop a connection before or after `R`
//! answered, or hold a push until another has started. A long outbox arrives whole and in
//! order through refusals, dropped connections and a restart of `S`, no batch is sent twice
//! while in flight, and a new push starts while an older one is still unanswered.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod spy;

use std::collections::HashMap;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::chain::*;
use common::*;
use postern_core::api::infonet::{PATH_PEER_PUSH, PATH_STATUS};
use spy::{read_request, Request};

/// `S`'s public URL (`R` accepts pushes signed for it; nothing listens there).
const S_URL: &str = "http://127.0.0.1:9";
const SECRET: &str = "slide-secret";
const BATCH: usize = 50;

/// What the proxy does with one push (the batch index, how many times it arrived before).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Act {
    Forward,
    /// Answer 503 `peer_busy` without forwarding.
    Busy,
    /// Close the connection without forwarding or answering.
    DropBefore,
    /// Forward, then close the connection without answering (`R` stored it).
    DropAfter,
    /// Forward once the proxy has seen batch `n` start (or after a minute at most).
    HoldUntil(usize),
}

/// What the proxy saw.
#[derive(Default)]
struct Seen {
    /// Batch indices of pushes in the order they arrived.
    started: Vec<usize>,
    /// Batches whose push is being handled now.
    open: Vec<usize>,
    /// A batch arrived while a push of it was still being handled.
    twice_in_flight: bool,
}

struct Proxy {
    url: String,
    seen: Arc<(Mutex<Seen>, Condvar)>,
    /// Every `HoldUntil` was released because the batch it waited for had started while the
    /// held push was the only one of its batch.
    held_released_by_start: Arc<AtomicBool>,
}

/// Send the request on to `target`: status, `Retry-After` and body of its answer.
fn forward(target: &str, req: &Request) -> (u16, Option<String>, String) {
    let (method, path, headers, body) = req;
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .max_idle_connections(0)
        .build();
    let mut r = agent.request(method, &format!("{target}{path}"));
    for (k, v) in headers {
        if !matches!(k.as_str(), "host" | "content-length" | "connection") {
            r = r.set(k, v);
        }
    }
    match r.send_bytes(body) {
        Ok(a) | Err(ureq::Error::Status(_, a)) => {
            let retry = a.header("retry-after").map(str::to_string);
            (a.status(), retry, a.into_string().unwrap_or_default())
        }
        Err(e) => (502, None, format!("{{\"error\":\"{e}\"}}")),
    }
}

fn answer(s: &mut TcpStream, status: u16, retry_after: Option<String>, body: &str) {
    let retry = retry_after.map_or(String::new(), |v| format!("Retry-After: {v}\r\n"));
    let _ = s.write_all(
        format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{retry}Content-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
}

impl Proxy {
    /// A proxy to `target` (`R`) that knows the push `bodies` by index and applies `act`.
    fn start(
        target: String,
        bodies: &[String],
        act: impl Fn(usize, usize) -> Act + Send + Sync + 'static,
    ) -> Proxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let index: Arc<HashMap<Vec<u8>, usize>> = Arc::new(
            bodies
                .iter()
                .enumerate()
                .map(|(i, b)| (b.as_bytes().to_vec(), i))
                .collect(),
        );
        let seen = Arc::new((Mutex::new(Seen::default()), Condvar::new()));
        let released = Arc::new(AtomicBool::new(true));
        let (seen2, released2, act) = (Arc::clone(&seen), Arc::clone(&released), Arc::new(act));
        std::thread::spawn(move || {
            for stream in l.incoming() {
                let Ok(mut s) = stream else { continue };
                let (target, index, seen, released, act) = (
                    target.clone(),
                    Arc::clone(&index),
                    Arc::clone(&seen2),
                    Arc::clone(&released2),
                    Arc::clone(&act),
                );
                std::thread::spawn(move || {
                    let Some(req) = read_request(&s) else { return };
                    let batch = (req.1 == PATH_PEER_PUSH)
                        .then(|| index.get(&req.3).copied())
                        .flatten();
                    let Some(i) = batch else {
                        let (status, retry, body) = forward(&target, &req);
                        return answer(&mut s, status, retry, &body);
                    };
                    let (list, signal) = &*seen;
                    let before = {
                        let mut g = list.lock().unwrap();
                        let before = g.started.iter().filter(|&&j| j == i).count();
                        if g.open.contains(&i) {
                            g.twice_in_flight = true;
                        }
                        g.started.push(i);
                        g.open.push(i);
                        signal.notify_all();
                        before
                    };
                    let done = |seen: &Arc<(Mutex<Seen>, Condvar)>| {
                        let mut g = seen.0.lock().unwrap();
                        if let Some(k) = g.open.iter().position(|&j| j == i) {
                            g.open.remove(k);
                        }
                    };
                    match act(i, before) {
                        Act::Busy => {
                            done(&seen);
                            let body = "{\"error\":\"busy\",\"code\":\"peer_busy\"}";
                            answer(&mut s, 503, None, body);
                        }
                        Act::DropBefore => done(&seen),
                        Act::DropAfter => {
                            forward(&target, &req);
                            done(&seen);
                        }
                        a @ (Act::Forward | Act::HoldUntil(_)) => {
                            if let Act::HoldUntil(n) = a {
                                let g = list.lock().unwrap();
                                let (g, t) = signal
                                    .wait_timeout_while(g, Duration::from_secs(60), |g| {
                                        !g.started.contains(&n)
                                    })
                                    .unwrap();
                                // Released by that start while this push is the only one
                                // of batch `i` (the sender neither gave up on it nor resent
                                // it).
                                let once = g.started.iter().filter(|&&j| j == i).count() == 1;
                                if t.timed_out() || !once {
                                    released.store(false, Ordering::SeqCst);
                                }
                                drop(g);
                            }
                            let (status, retry, body) = forward(&target, &req);
                            done(&seen);
                            answer(&mut s, status, retry, &body);
                        }
                    }
                });
            }
        });
        Proxy {
            url,
            seen,
            held_released_by_start: released,
        }
    }
}

/// `S` under `dir` with `bodies` as outbox rows for `peer` (written before it starts; its chain
/// stays empty, so the events reach `R` only from those rows).
fn sender_with_outbox(dir: &std::path::Path, peer: &str, bodies: &[String]) -> Relay {
    let s = sender(dir, peer);
    s.kill();
    let db = rusqlite::Connection::open(dir.join("postern.sqlite3")).unwrap();
    for b in bodies {
        db.execute(
            "INSERT INTO replication_outbox (peer, path, body, attempts, next_attempt_at, created_at)
             VALUES (?1, ?2, ?3, 0, 0, 0)",
            rusqlite::params![peer, PATH_PEER_PUSH, b],
        )
        .unwrap();
    }
    drop(db);
    sender(dir, peer)
}

fn sender(dir: &std::path::Path, peer: &str) -> Relay {
    Relay::start(
        dir,
        &[
            &format!("--public-url={S_URL}"),
            &format!("--peer={peer}={SECRET}"),
            "--sync-interval-secs=1",
        ],
    )
}

fn head(relay: &Relay) -> (String, u64) {
    let v = relay.get(PATH_STATUS).json();
    (
        v["head_hash_full"].as_str().unwrap().to_string(),
        v["total_events"].as_u64().unwrap(),
    )
}

#[test]
fn a_sliding_sender_delivers_a_long_outbox_in_order_through_refusals_drops_and_a_restart() {
    let events = gen_chain(2_000, 8);
    let bodies: Vec<String> = events.chunks(BATCH).map(push_body).collect();
    let (r_dir, s_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let r = Relay::start(r_dir.path(), &[&format!("--peer={S_URL}={SECRET}")]);
    // The first arrival of some batches is refused or its connection dropped.
    let proxy = Proxy::start(r.base.clone(), &bodies, |i, before| match (i, before) {
        (0, 0) => Act::Busy,
        (i, 0) if i % 6 == 3 => Act::Busy,
        (i, 0) if i % 7 == 5 => Act::DropAfter,
        (i, 0) if i % 11 == 8 => Act::DropBefore,
        _ => Act::Forward,
    });
    let s = sender_with_outbox(s_dir.path(), &proxy.url, &bodies);
    wait_for("R to hold part of the chain", || head(&r).1 >= 600);
    // S restarts with rows in flight: it resends from its outbox's head.
    s.kill();
    // What the killed S had in flight may still be on its way to R.
    proxy.seen.0.lock().unwrap().open.clear();
    let s = sender(s_dir.path(), &proxy.url);
    wait_for("R to hold the whole chain", || head(&r).1 == 2_000);
    wait_for("S's outbox to drain", || outbox_len(s_dir.path()) == 0);
    assert_eq!(head(&r).0, events.last().unwrap().event_id);
    // S pulls it back from R (through the proxy): both relays on one chain.
    wait_for("S to converge", || head(&s) == head(&r));
    let seen = proxy.seen.0.lock().unwrap();
    assert!(
        !seen.twice_in_flight,
        "a batch was sent twice while in flight"
    );
    // Every refused or dropped push was sent again.
    assert!(seen.started.len() > bodies.len());
    drop(seen);
    drop((s, r));
    let want: Vec<String> = events.iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(stored_ids(r_dir.path()), want);
    assert_eq!(stored_ids(s_dir.path()), want);
}

#[test]
fn a_new_push_starts_while_an_older_one_is_unanswered() {
    let events = gen_chain(1_000, 8);
    let bodies: Vec<String> = events.chunks(BATCH).map(push_body).collect();
    let (r_dir, s_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let r = Relay::start(r_dir.path(), &[&format!("--peer={S_URL}={SECRET}")]);
    // Batch 1 is answered only once batch 8 (the window's ninth) has started: a lockstep
    // window would start batch 8 only after batch 1's answer.
    let proxy = Proxy::start(r.base.clone(), &bodies, |i, before| match (i, before) {
        (1, 0) => Act::HoldUntil(8),
        _ => Act::Forward,
    });
    let s = sender_with_outbox(s_dir.path(), &proxy.url, &bodies);
    wait_for("R to hold the whole chain", || head(&r).1 == 1_000);
    wait_for("S's outbox to drain", || outbox_len(s_dir.path()) == 0);
    assert!(
        proxy.held_released_by_start.load(Ordering::SeqCst),
        "batch 8 did not start while batch 1 was unanswered"
    );
    let seen = proxy.seen.0.lock().unwrap();
    let pos = |b: usize| seen.started.iter().position(|&j| j == b).unwrap();
    assert!(pos(8) > pos(1), "{:?}", seen.started);
    assert!(!seen.twice_in_flight);
    drop(seen);
    drop((s, r));
    let want: Vec<String> = events.iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(stored_ids(r_dir.path()), want);
}
