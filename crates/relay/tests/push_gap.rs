//! Rows behind a row refused for good: the receiver tells a missing predecessor (409 `forked`
//! with `missing`, to Postern peers only) apart from a fork; our sender fills such a gap from
//! its chain and sends the row again, and drops the row with the reason logged when its
//! predecessor is not on its chain. Never loops, loses no row that can still apply.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod spy;

use common::chain::*;
use common::*;
use postern_core::api::infonet::PATH_PEER_PUSH;
use postern_core::event::ChainEvent;

const SECRET: &str = "gap-secret";
const BATCH: usize = 50;

/// A copy of `batch` whose event `i` carries a forged signature.
fn forged(batch: &[ChainEvent], i: usize) -> Vec<ChainEvent> {
    let mut b = batch.to_vec();
    let sig = &mut b[i].signature;
    let flipped = if sig.starts_with('a') { "b" } else { "a" };
    sig.replace_range(..1, flipped);
    b
}

/// Receiver `R` and sender `S`: `S`'s chain holds `held` (pushed to it as if by `R` before it
/// had any row to send) and its outbox to `R` the rows `bodies`. `R` knows `S` by a URL where
/// nothing listens, so it cannot pull from `S`: it gets `S`'s events by push only.
struct Pair {
    r: Relay,
    s: Relay,
    r_dir: tempfile::TempDir,
    s_dir: tempfile::TempDir,
}

fn pair(held: &[ChainEvent], bodies: &[String]) -> Pair {
    let (r_dir, s_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let s_url = format!("http://127.0.0.1:{}", free_port());
    let r = Relay::start(r_dir.path(), &[&format!("--peer={s_url}={SECRET}")]);
    let s_args = [
        format!("--peer={}={SECRET}", r.base),
        format!("--public-url={s_url}"),
    ];
    let s_args: Vec<&str> = s_args.iter().map(String::as_str).collect();
    let s = Relay::start(s_dir.path(), &s_args);
    for b in held.chunks(BATCH) {
        let resp = peer_post(&s, PATH_PEER_PUSH, &r.base, SECRET, push_body(b).as_bytes());
        assert_eq!(resp.status, 200, "{}", resp.body);
    }
    s.kill();
    let db = rusqlite::Connection::open(s_dir.path().join("postern.sqlite3")).unwrap();
    for b in bodies {
        db.execute(
            "INSERT INTO replication_outbox (peer, path, body, attempts, next_attempt_at, created_at)
             VALUES (?1, ?2, ?3, 0, 0, 0)",
            rusqlite::params![r.base, PATH_PEER_PUSH, b],
        )
        .unwrap();
    }
    drop(db);
    let s = Relay::start(s_dir.path(), &s_args);
    Pair { r, s, r_dir, s_dir }
}

#[test]
fn a_valid_row_behind_a_refused_one_is_delivered_once_its_gap_is_filled() {
    let events = gen_chain(300, 8);
    let batches: Vec<&[ChainEvent]> = events.chunks(BATCH).collect();
    // Row 2 is a forged copy (event 10 of it): refused for good, and the true batch 2 is in no
    // row. Rows 3..5 extend the true batch 2, which S's chain holds.
    let mut bodies: Vec<String> = batches.iter().map(|b| push_body(b)).collect();
    bodies[2] = push_body(&forged(batches[2], 10));
    let p = pair(&events, &bodies);
    wait_for("R to hold the whole chain", || total_events(&p.r) == 300);
    wait_for("S's outbox to drain", || outbox_len(p.s_dir.path()) == 0);
    assert!(
        p.s.log_text().contains("filled the peer's gap"),
        "{}",
        p.s.log_text()
    );
    let (r_dir, s_dir) = (p.r_dir, p.s_dir);
    drop((p.r, p.s));
    let want: Vec<String> = events.iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(stored_ids(r_dir.path()), want);
    assert_eq!(stored_ids(s_dir.path()), want);
}

#[test]
fn rows_whose_predecessor_is_on_no_chain_of_ours_are_dropped_with_the_reason() {
    let events = gen_chain(250, 8);
    let batches: Vec<&[ChainEvent]> = events.chunks(BATCH).collect();
    let mut bodies: Vec<String> = batches.iter().map(|b| push_body(b)).collect();
    bodies[2] = push_body(&forged(batches[2], 10));
    // S holds none of it: the rows behind the forged one can apply through nobody we know.
    let p = pair(&[], &bodies);
    wait_for("S's outbox to drain", || outbox_len(p.s_dir.path()) == 0);
    // Batches 0 and 1, and the forged copy's events before the forged one.
    assert_eq!(total_events(&p.r), 110);
    let log = p.s.log_text();
    assert_eq!(
        log.matches("its predecessor cannot reach the peer").count(),
        2,
        "{log}"
    );
}

#[test]
fn a_missing_predecessor_is_told_apart_for_postern_peers_only() {
    let dir = tempfile::tempdir().unwrap();
    let (postern, sb) = ("http://postern.test:7001", "http://sb.test:8000");
    let relay = Relay::start(
        dir.path(),
        &[
            &format!("--peer={postern}={SECRET}"),
            &format!("--sb-peer={sb}={SECRET}"),
        ],
    );
    let events = gen_chain(100, 8);
    let gapped = push_body(&events[50..]);
    let members = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let r = peer_post(&relay, PATH_PEER_PUSH, postern, SECRET, gapped.as_bytes());
    r.assert_error(409, "forked");
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["missing"], events[49].event_id.as_str());
    assert_eq!(v["index"], 0);
    // A Shadowbroker node gets exactly the members it always got.
    let r = peer_post(&relay, PATH_PEER_PUSH, sb, SECRET, gapped.as_bytes());
    r.assert_error(409, "forked");
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        members(&v),
        ["accepted", "code", "detail", "duplicates", "index", "ok"]
    );
}

/// A hostile peer: every push whose first event extends `trap` is refused 409 `forked` with
/// `missing: trap` (whatever it was sent before); every other push is taken (200).
fn gap_liar(trap: String) -> spy::Spy {
    spy::Spy::answering(move |path, body| {
        if path != PATH_PEER_PUSH {
            return (
                "404 Not Found".into(),
                String::new(),
                r#"{"ok":false}"#.into(),
            );
        }
        if first_prev(body) == trap {
            let refusal = serde_json::json!({"ok": false, "code": "forked",
                "detail": "lacks it", "index": 0, "accepted": 0, "duplicates": 0,
                "missing": trap});
            ("409 Conflict".into(), String::new(), refusal.to_string())
        } else {
            ("200 OK".into(), String::new(), r#"{"ok":true}"#.into())
        }
    })
}

/// The `prev_hash` of a push body's first event (empty if none).
fn first_prev(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    v["events"][0]["prev_hash"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[test]
fn a_peer_that_keeps_saying_it_lacks_a_predecessor_gets_it_filled_three_times_then_the_row_is_dropped(
) {
    let events = gen_chain(300, 8);
    let batches: Vec<&[ChainEvent]> = events.chunks(BATCH).collect();
    // The peer says it lacks event 99 whenever batch 2 (events 100..150) is pushed, even right
    // after it took event 99 in a fill.
    let trap = events[99].event_id.clone();
    let liar = gap_liar(trap.clone());
    let peer = liar.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let args = [
        format!("--peer={peer}={SECRET}"),
        format!("--public-url=http://127.0.0.1:{}", free_port()),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let s = Relay::start(dir.path(), &args);
    for b in &batches {
        let resp = peer_post(&s, PATH_PEER_PUSH, &peer, SECRET, push_body(b).as_bytes());
        assert_eq!(resp.status, 200, "{}", resp.body);
    }
    s.kill();
    // S's outbox to the peer: batches 2..5 (the peer is taken to hold 0 and 1).
    let db = rusqlite::Connection::open(dir.path().join("postern.sqlite3")).unwrap();
    db.execute("DELETE FROM replication_outbox", []).unwrap();
    for b in &batches[2..] {
        db.execute(
            "INSERT INTO replication_outbox (peer, path, body, attempts, next_attempt_at, created_at)
             VALUES (?1, ?2, ?3, 0, 0, 0)",
            rusqlite::params![peer, PATH_PEER_PUSH, push_body(b)],
        )
        .unwrap();
    }
    drop(db);
    let s = Relay::start(dir.path(), &args);
    wait_for("S's outbox to drain", || outbox_len(dir.path()) == 0);
    let log = s.log_text();
    assert_eq!(log.matches("filled the peer's gap").count(), 3, "{log}");
    assert_eq!(
        log.matches("still lacks its predecessor after 3 fills")
            .count(),
        1,
        "{log}"
    );
    let firsts: Vec<String> = liar
        .bodies(PATH_PEER_PUSH)
        .iter()
        .map(|b| first_prev(b.as_bytes()))
        .collect();
    // Batch 2 pushed once and again after each of the three fills; then dropped for good.
    assert_eq!(
        firsts.iter().filter(|p| **p == trap).count(),
        4,
        "{firsts:?}"
    );
    // The rows behind it were delivered (each first event extends the batch before it).
    for b in &batches[3..] {
        assert!(firsts.contains(&b[0].prev_hash), "{firsts:?}");
    }
}
