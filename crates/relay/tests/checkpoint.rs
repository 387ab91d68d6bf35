//! Start-up from the chain-state checkpoint (issue 16): a restart replays only the events
//! above the checkpoint and builds the same state as a full replay; a checkpoint whose bytes,
//! version, height hash or covered rows do not match the stored chain is refused (full replay,
//! WARN); a relay killed with SIGKILL while appending restarts consistent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;

use common::*;
use postern_core::api::infonet::{AppendRequest, PATH_APPEND, PATH_STATUS};
use postern_core::chaingen::{author_key, generate_chain, sample_payload, GenOptions};
use postern_core::event::sign_event;
use postern_core::json::Value as CV;
use postern_relay::service::chain::{Chain, PushOutcome};
use postern_relay::store::{CheckpointRow, Store, DB_FILE};

const T0: u64 = 1_780_000_000;

fn chain_values(n: usize, authors: usize) -> Vec<CV> {
    let opts = GenOptions {
        authors,
        start_timestamp: T0,
        include_gate_messages: true,
    };
    generate_chain(n, opts)
        .iter()
        .map(|e| e.to_value())
        .collect()
}

fn open(dir: &Path) -> Chain {
    Chain::open(Store::open(dir).unwrap()).unwrap()
}

/// Push `values` in pages of `page`, checkpointing every `every` events.
fn seed(dir: &Path, values: &[CV], page: usize, every: u64) -> Chain {
    let mut c = open(dir);
    c.set_checkpoint_every(every);
    for chunk in values.chunks(page) {
        match c.peer_push(chunk, T0 + values.len() as u64).unwrap() {
            PushOutcome::Done { .. } => {}
            PushOutcome::Refused(r) => panic!("{r:?}"),
        }
    }
    c
}

/// The state a replay of every stored event builds (the checkpoint is dropped first).
fn full_replay(dir: &Path) -> (Vec<u8>, String, u64, u64) {
    let mut store = Store::open(dir).unwrap();
    store.chain_checkpoint_clear().unwrap();
    let c = Chain::open(store).unwrap();
    assert_eq!(c.startup().checkpoint, None);
    let (head, n) = c.head();
    (c.state_snapshot(), head, n, c.private_count())
}

fn state(c: &Chain) -> (Vec<u8>, String, u64, u64) {
    let (head, n) = c.head();
    (c.state_snapshot(), head, n, c.private_count())
}

fn sql(dir: &Path, stmt: &str, p: impl rusqlite::Params) {
    let conn = rusqlite::Connection::open(dir.join(DB_FILE)).unwrap();
    conn.execute(stmt, p).unwrap();
}

#[test]
fn a_restart_replays_only_the_events_above_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let values = chain_values(47, 4);
    // Pages of 10, a checkpoint every 20 events: written at 20 and 40; 41..47 are above it.
    let c = seed(dir.path(), &values, 10, 20);
    assert_eq!(c.checkpoint_height(), 40);
    let before = state(&c);
    drop(c);
    let c = open(dir.path());
    assert_eq!(c.startup().checkpoint, Some(40));
    assert_eq!(c.startup().replayed, 7);
    assert_eq!(c.startup().refused, None);
    assert_eq!(state(&c), before);
    drop(c);
    assert_eq!(
        full_replay(dir.path()),
        before,
        "same state as a full replay"
    );
}

#[test]
fn a_checkpoint_with_changed_bytes_or_another_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let values = chain_values(30, 3);
    let c = seed(dir.path(), &values, 30, 10);
    let before = state(&c);
    let good = c.store().chain_checkpoint().unwrap().unwrap();
    assert_eq!(good.height, 30);
    drop(c);
    let mut flipped = good.snapshot.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 1;
    let mut v2 = good.snapshot.clone();
    v2[9] = 2;
    let cases: [(&[u8], &str); 4] = [
        (&flipped, "digest"),
        (&v2, "version 2"),
        (b"not a snapshot", "not a chain-state snapshot"),
        (&good.snapshot[..good.snapshot.len() - 5], "digest"),
    ];
    for (bytes, why) in cases {
        sql(
            dir.path(),
            "UPDATE chain_checkpoint SET snapshot = ?1",
            [bytes],
        );
        let c = open(dir.path());
        assert_eq!(c.startup().checkpoint, None, "{why}");
        assert_eq!(c.startup().replayed, 30, "{why}");
        let refused = c.startup().refused.clone().unwrap();
        assert!(refused.contains(why), "{why}: {refused}");
        assert_eq!(state(&c), before, "{why}");
    }
}

#[test]
fn a_checkpoint_of_another_chain_is_refused_and_the_full_replay_is_used() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ca = seed(a.path(), &chain_values(25, 2), 25, 5);
    let cb = seed(b.path(), &chain_values(25, 5), 25, 5);
    let before = state(&ca);
    let theirs = cb.store().chain_checkpoint().unwrap().unwrap();
    drop((ca, cb));
    // Their whole row (height hash and snapshot agree with each other, not with our chain).
    sql(
        a.path(),
        "UPDATE chain_checkpoint SET head = ?1, snapshot = ?2",
        rusqlite::params![theirs.head, theirs.snapshot],
    );
    let c = open(a.path());
    assert_eq!(c.startup().checkpoint, None);
    assert!(c.startup().refused.is_some());
    assert_eq!(state(&c), before);
    drop(c);
    // The height's hash alone changed: the row disagrees with its snapshot.
    let mut s = Store::open(a.path()).unwrap();
    let ours = s.chain_checkpoint().unwrap().unwrap();
    s.chain_checkpoint_clear().unwrap();
    drop(s);
    sql(
        a.path(),
        "INSERT INTO chain_checkpoint (id, height, head, snapshot, texts_digest, written_at)
         VALUES (1, ?1, ?2, ?3, ?4, 0)",
        rusqlite::params![
            ours.height as i64,
            theirs.head,
            ours.snapshot,
            ours.texts_digest
        ],
    );
    let c = open(a.path());
    assert_eq!(c.startup().checkpoint, None);
    assert!(c.startup().refused.is_some());
    assert_eq!(state(&c), before);
}

#[test]
fn changed_rows_below_the_checkpoint_refuse_it() {
    let dir = tempfile::tempdir().unwrap();
    let c = seed(dir.path(), &chain_values(20, 2), 20, 20);
    assert_eq!(c.checkpoint_height(), 20);
    let ids = c.event_ids().to_vec();
    drop(c);
    // An id below the height rewritten: the ids digest no longer matches (refused). The full
    // replay then finds the row's id column differs from its event, and refuses to load.
    let fake = "0".repeat(64);
    sql(
        dir.path(),
        "UPDATE infonet_chain SET event_id = ?1 WHERE idx = 3",
        [&fake],
    );
    let err = Chain::open(Store::open(dir.path()).unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("chain event 3"), "{err}");
    sql(
        dir.path(),
        "UPDATE infonet_chain SET event_id = ?1 WHERE idx = 3",
        [&ids[3]],
    );
    // A row's text below the height re-spaced (same canonical form, same id): the texts
    // digest catches it; the full replay accepts the row and builds the same state.
    let before = {
        let c = open(dir.path());
        assert_eq!(c.startup().checkpoint, Some(20));
        state(&c)
    };
    sql(
        dir.path(),
        "UPDATE infonet_chain SET event = replace(event, '\"sequence\":', '\"sequence\": ') WHERE idx = 5",
        [],
    );
    let c = open(dir.path());
    assert_eq!(c.startup().checkpoint, None);
    let why = c.startup().refused.clone().unwrap();
    assert!(why.contains("texts below the checkpoint changed"), "{why}");
    assert_eq!(state(&c), before);
    drop(c);
    // Rows below the height deleted (and the chain re-seeded shorter): refused, full replay.
    sql(dir.path(), "DELETE FROM infonet_chain WHERE idx >= 15", []);
    let c = open(dir.path());
    assert_eq!(c.startup().checkpoint, None);
    assert!(c.startup().refused.is_some());
    assert_eq!(c.head(), (ids[14].clone(), 15));
    // The event at the height with altered content (its id column unchanged): refused.
    drop(c);
    let c = seed(dir.path(), &chain_values(20, 2)[15..], 5, 1);
    assert_eq!(c.checkpoint_height(), 20);
    drop(c);
    sql(
        dir.path(),
        "UPDATE infonet_chain SET event = json_set(event, '$.timestamp', 1.5) WHERE idx = 19",
        [],
    );
    let err = Chain::open(Store::open(dir.path()).unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("chain event 19"),
        "the full replay finds it: {err}"
    );
}

#[test]
fn a_checkpoint_is_only_written_at_a_stored_height() {
    let dir = tempfile::tempdir().unwrap();
    let c = seed(dir.path(), &chain_values(6, 2), 6, 100);
    let mut store = Store::open(dir.path()).unwrap();
    let row = CheckpointRow {
        height: 6,
        head: "f".repeat(64),
        snapshot: c.state_snapshot(),
        texts_digest: vec![0; 32],
    };
    assert!(store.chain_checkpoint_write(&row, T0).is_err());
    let row = CheckpointRow { height: 7, ..row };
    assert!(store.chain_checkpoint_write(&row, T0).is_err());
    assert_eq!(store.chain_checkpoint().unwrap(), None);
}

/// Append a `message` by author `key` with sequence `seq` to the relay at `base`: the
/// status code, `None` once the relay is gone.
fn append_at(base: &str, key: usize, seq: u64) -> Option<u16> {
    let e = sign_event(
        &author_key(key),
        "",
        "message",
        &sample_payload("message", seq * 10 + key as u64),
        CV::Null,
        seq,
    );
    let body = AppendRequest::for_signed(e, seq).to_json();
    match ureq::post(&format!("{base}{PATH_APPEND}"))
        .set("content-type", "application/json")
        .send_string(&body)
    {
        Ok(r) => Some(r.status()),
        Err(ureq::Error::Status(code, _)) => Some(code),
        Err(_) => None,
    }
}

fn metric(relay: &Relay, name: &str) -> u64 {
    relay
        .get("/metrics")
        .body
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap()
}

/// Events on the relay's chain.
fn total(relay: &Relay) -> u64 {
    relay.get(PATH_STATUS).json()["total_events"]
        .as_u64()
        .unwrap()
}

#[test]
fn a_relay_killed_between_appends_and_checkpoints_restarts_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--checkpoint-every", "3", "--rate-limit-per-min", "0"];
    let acked_total = Arc::new(AtomicU64::new(0));
    // Each appender thread is one author; sequences only grow across rounds.
    let seqs: Vec<Arc<AtomicU64>> = (0..2).map(|_| Arc::new(AtomicU64::new(0))).collect();
    for round in 0..4u64 {
        let relay = Relay::start(dir.path(), &flags);
        // Every acknowledged append of the runs before is there, and the state came from a
        // checkpoint plus the events above it.
        let count = total(&relay);
        assert!(count >= acked_total.load(SeqCst), "round {round}");
        if round > 0 {
            let from = metric(&relay, "postern_chain_startup_checkpoint_height");
            let replayed = metric(&relay, "postern_chain_startup_replayed_events");
            assert!(from > 0, "round {round}: restarted without a checkpoint");
            assert_eq!(from + replayed, count, "round {round}");
        }
        let base = acked_total.load(SeqCst);
        let appenders: Vec<_> = seqs
            .iter()
            .enumerate()
            .map(|(key, seq)| {
                let (seq, acked, base_url) = (
                    Arc::clone(seq),
                    Arc::clone(&acked_total),
                    relay.base.clone(),
                );
                std::thread::spawn(move || loop {
                    let n = seq.fetch_add(1, SeqCst) + 1;
                    match append_at(&base_url, key, n) {
                        Some(200) => {
                            acked.fetch_add(1, SeqCst);
                        }
                        Some(_) => {}
                        None => return,
                    }
                })
            })
            .collect();
        // SIGKILL while both keep appending: lands between a commit and its checkpoint
        // write, or inside either, depending on the round's timing.
        let stop_after = base + 7 + 3 * round;
        wait_for("appends before the kill", || {
            acked_total.load(SeqCst) >= stop_after
        });
        relay.kill();
        for a in appenders {
            a.join().unwrap();
        }
    }
    // The database: the state from its checkpoint equals a full replay's.
    let c = open(dir.path());
    assert!(c.startup().checkpoint.is_some());
    assert!(c.head().1 >= acked_total.load(SeqCst));
    let with_checkpoint = state(&c);
    drop(c);
    assert_eq!(full_replay(dir.path()), with_checkpoint);
}
