//! Forks heal (issue 13): peered relays that accept appends at the same moment converge on one
//! chain holding every appended event exactly once, by core's fork rule (the branch whose first
//! event has the smaller id wins; the loser re-links its pending events onto it). 10 trials on
//! 2 relays and 10 on 3, every relay appending at once in each trial. Each relay counts the
//! forks it met per peer (heads/status, /metrics).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{wait_for, Mesh, Relay};
use postern_core::api::heads::{HeadsStatusResponse, PeerHeadStatus, PATH_HEADS_STATUS};
use postern_core::api::infonet::{PATH_APPEND, PATH_STATUS, PATH_SYNC};
use postern_core::chaingen::{author_key, sample_payload};
use postern_core::event::sign_event;
use postern_core::fork::{self, Winner};
use postern_core::json::{self, Value as CV};
use postern_core::peer::normalize_peer_url;
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

/// What `relay` reports of `peer` in heads/status.
fn peer_status(relay: &Relay, peer: &str) -> Option<PeerHeadStatus> {
    let r = relay.get(PATH_HEADS_STATUS);
    assert_eq!(r.status, 200, "{}", r.body);
    let s: HeadsStatusResponse = r.json_as();
    s.peers.into_iter().find(|p| p.peer == peer)
}

/// The value of the `/metrics` line `name{labels}`.
fn metric(relay: &Relay, line: &str) -> Option<u64> {
    relay
        .get("/metrics")
        .body
        .lines()
        .find_map(|l| l.strip_prefix(line)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn each_relay_counts_the_fork_it_met_with_the_other_per_peer() {
    // Long settling: nothing gets signed, so the loser's events stay pending and re-linkable.
    let flags = ["--sync-interval-secs=1", "--settle-secs=3600"];
    let (mesh, relays) = Mesh::start(2, &[(0, 1)], &flags);
    for r in relays {
        r.terminate();
    }
    // Alone, each relay takes one append: two branches from genesis.
    let first_id = |r: &Relay| chain(r)[0].get("event_id").unwrap().py_str();
    let a = mesh.start_node(0).unwrap();
    append(&a, 1, 1);
    let a_first = first_id(&a);
    a.terminate();
    let b = mesh.start_node(1).unwrap();
    append(&b, 2, 1);
    let b_first = first_id(&b);
    // Core's rule picks the winner; the loser takes two more appends while still alone, so
    // three of its events are re-linked when it adopts the winner's one-event branch.
    let (winner, loser, loser_key) = match fork::winner(&a_first, &b_first) {
        Winner::Ours => (0, 1, 2),
        Winner::Theirs => (1, 0, 1),
    };
    let b = if loser == 1 {
        Some(b)
    } else {
        b.terminate();
        None
    };
    let l = b.unwrap_or_else(|| mesh.start_node(0).unwrap());
    append(&l, loser_key, 2);
    append(&l, loser_key, 3);
    l.terminate();
    let relays: Vec<Relay> = (0..2).map(|i| mesh.start_node(i).unwrap()).collect();
    wait_for("the two relays to converge on 4 events", || {
        let (ha, hb) = (head(&relays[0]), head(&relays[1]));
        ha == hb && ha.1 == 4
    });
    let url = |i: usize| normalize_peer_url(&mesh.url(i)).unwrap();
    let (w_url, l_url) = (url(winner), url(loser));
    let (w, l) = (&relays[winner], &relays[loser]);
    let at_loser = peer_status(l, &w_url).expect("the loser reports the winner");
    assert!(at_loser.forks.adopted >= 1, "{at_loser:?}");
    assert!(at_loser.forks.resolved() >= 1, "{at_loser:?}");
    assert_eq!(at_loser.forks.rebased, 3, "{at_loser:?}");
    assert_eq!(at_loser.forks.dropped, 0, "{at_loser:?}");
    assert_eq!(at_loser.equivocations, 0);
    // The winner met the loser's original branch (pushed from its outbox or pulled) and kept
    // its own; nothing of its own was rebased.
    wait_for(
        "the winner to count the fork kept against the loser",
        || peer_status(w, &l_url).is_some_and(|s| s.forks.kept >= 1),
    );
    let at_winner = peer_status(w, &l_url).unwrap();
    assert!(at_winner.forks.resolved() >= 1, "{at_winner:?}");
    assert_eq!(
        (at_winner.forks.adopted, at_winner.forks.rebased),
        (0, 0),
        "{at_winner:?}"
    );
    // /metrics carries the same per peer.
    let peer_line = |name: &str, peer: &str, result: Option<&str>| match result {
        Some(r) => format!("{name}{{peer=\"{peer}\",result=\"{r}\"}}"),
        None => format!("{name}{{peer=\"{peer}\"}}"),
    };
    let forks = "postern_peer_forks_total";
    assert_eq!(
        metric(l, &peer_line(forks, &w_url, Some("adopted"))),
        Some(at_loser.forks.adopted)
    );
    assert_eq!(
        metric(
            l,
            &peer_line("postern_peer_rebased_events_total", &w_url, None)
        ),
        Some(3)
    );
    assert!(metric(w, &peer_line(forks, &l_url, Some("kept"))).is_some_and(|n| n >= 1));
    assert_eq!(
        metric(
            w,
            &peer_line("postern_peer_rebased_events_total", &l_url, None)
        ),
        Some(0)
    );
    assert_eq!(
        metric(
            w,
            &peer_line("postern_peer_equivocations_total", &l_url, None)
        ),
        Some(0)
    );
}
