//! Forks heal (issue 13): peered relays that accept appends at the same moment converge on one
//! chain holding every appended event exactly once, by core's fork rule (the branch whose first
//! event has the smaller id wins; the loser re-links its pending events onto it). 10 trials on
//! 2 relays and 10 on 3, every relay appending at once in each trial.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{Mesh, Relay};
use postern_core::api::infonet::{PATH_APPEND, PATH_STATUS, PATH_SYNC};
use postern_core::chaingen::{author_key, sample_payload};
use postern_core::event::sign_event;
use postern_core::json::{self, Value as CV};
use postern_core::verify::{verify_chain_values, VerifyOptions};

/// Append a `message` by author `key` with sequence `seq` (the relay links and stamps it).
fn append(relay: &Relay, key: usize, seq: u64) {
    let e = sign_event(
        &author_key(key),
        "",
        "message",
        &sample_payload("message", seq * 10 + key as u64),
        CV::Null,
        seq,
    );
    let body = serde_json::json!({
        "event_type": e.event_type, "node_id": e.node_id,
        "payload": serde_json::Value::from(&e.payload),
        "signature": e.signature, "sequence": seq, "public_key": e.public_key,
        "public_key_algo": e.public_key_algo, "protocol_version": e.protocol_version,
    });
    let r = relay.post(PATH_APPEND, &body);
    assert_eq!(r.status, 200, "{}", r.body);
}

fn head(relay: &Relay) -> (String, u64) {
    let s = relay.get(PATH_STATUS).json();
    (
        s["head_hash_full"].as_str().unwrap().to_string(),
        s["total_events"].as_u64().unwrap(),
    )
}

/// Every event as anyone reads it.
fn chain(relay: &Relay) -> Vec<CV> {
    let mut out = Vec::new();
    let mut after = "0".repeat(64);
    loop {
        let r = relay.get(&format!("{PATH_SYNC}?after_hash={after}&limit=500"));
        assert_eq!(r.status, 200, "{}", r.body);
        let v = json::parse(r.body.as_bytes()).unwrap();
        let page = v.get("events").unwrap().as_array().unwrap().to_vec();
        let Some(last) = page.last() else { return out };
        after = last.get("event_id").unwrap().py_str();
        out.extend(page);
    }
}

/// (node, sequence) of every event: what the authors signed, wherever it is linked.
fn statements(events: &[CV]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e.get("node_id").unwrap().py_str(),
                e.get("sequence").unwrap().py_str(),
            )
        })
        .collect()
}

fn trials(n: usize, edges: &[(usize, usize)]) {
    let (_mesh, relays) = Mesh::start(n, edges, &["--sync-interval-secs=1"]);
    let mut expected = BTreeSet::new();
    for trial in 0..10u64 {
        // Every relay accepts an append at the same moment (one author per relay).
        std::thread::scope(|s| {
            for (i, r) in relays.iter().enumerate() {
                s.spawn(move || append(r, i + 1, trial + 1));
            }
        });
        for i in 0..n {
            let e = sign_event(
                &author_key(i + 1),
                "",
                "message",
                &CV::object(),
                CV::Null,
                1,
            );
            expected.insert((e.node_id, (trial + 1).to_string()));
        }
        let want = expected.len() as u64;
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            let heads: Vec<(String, u64)> = relays.iter().map(head).collect();
            if heads.iter().all(|h| h == &heads[0]) && heads[0].1 == want {
                break;
            }
            assert!(
                Instant::now() < end,
                "trial {trial} on {n} relays did not converge: {heads:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // One chain everywhere, valid, every appended event on it exactly once.
    let first = chain(&relays[0]);
    let report = verify_chain_values(
        &first,
        &VerifyOptions {
            now: common::now(),
            max_event_age_s: 0,
            batch: false,
        },
    );
    assert!(report.valid, "{:?}", report.error);
    let got = statements(&first);
    let set: BTreeSet<(String, String)> = got.iter().cloned().collect();
    assert_eq!(set.len(), got.len(), "an event is on the chain twice");
    assert_eq!(set, expected, "an appended event is missing");
    for r in &relays[1..] {
        assert_eq!(chain(r), first);
    }
    let healed: u64 = relays
        .iter()
        .map(|r| {
            r.get("/metrics")
                .body
                .lines()
                .find_map(|l| l.strip_prefix("postern_forks_total{result=\"adopted\"} "))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum();
    eprintln!("{n} relays: 10 trials converged; forks adopted across relays: {healed}");
}

#[test]
fn two_relays_appending_at_once_converge_in_every_trial() {
    trials(2, &[(0, 1)]);
}

#[test]
fn three_relays_appending_at_once_converge_in_every_trial() {
    trials(3, &[(0, 1), (1, 2), (0, 2)]);
}
