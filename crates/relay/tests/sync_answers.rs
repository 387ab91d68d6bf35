//! Sync answers as Shadowbroker gives them (docs/protocol.md § "Sync answers"): an unknown
//! `after_hash`, a locator sharing nothing (or only genesis) with the chain, the 409/426 bodies,
//! and how this relay's pull replication treats a peer whose chain shares nothing with ours.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod spy;

use common::{wait_for, Relay, Resp};
use postern_core::api::infonet::{SyncGetResponse, PATH_APPEND, PATH_STATUS, PATH_SYNC};
use postern_core::canonical::GENESIS_HASH;
use postern_core::chaingen::{author_key, generate_chain, sample_payload, GenOptions};
use postern_core::event::sign_event;
use postern_core::json::Value as CV;
use postern_core::merkle::merkle_root;
use postern_core::verify::build_locator;
use serde_json::{json, Value};
use spy::Spy;

const PATH_SYNC_STATUS: &str = "/api/mesh/infonet/sync-status";

/// Append `n` public messages by one author; their ids in chain order.
fn append_messages(relay: &Relay, n: u64) -> Vec<String> {
    (1..=n)
        .map(|seq| {
            let payload = sample_payload("message", seq);
            let e = sign_event(&author_key(31), "", "message", &payload, CV::Null, seq);
            let member = |k: &str, v: CV| (k.to_string(), v);
            let body = CV::Object(
                vec![
                    member("event_type", CV::from(e.event_type.as_str())),
                    member("node_id", CV::from(e.node_id.as_str())),
                    member("payload", e.payload.clone()),
                    member("signature", CV::from(e.signature.as_str())),
                    member("sequence", e.sequence.clone()),
                    member("public_key", CV::from(e.public_key.as_str())),
                    member("public_key_algo", CV::from(e.public_key_algo.as_str())),
                    member("protocol_version", CV::from(e.protocol_version.as_str())),
                ]
                .into_iter()
                .collect(),
            );
            let r = relay.post_raw(
                PATH_APPEND,
                Some("application/json"),
                body.to_json_ordered().as_bytes(),
            );
            assert_eq!(r.status, 200, "{}", r.body);
            r.json()["event"]["event_id"].as_str().unwrap().to_string()
        })
        .collect()
}

fn total(relay: &Relay) -> u64 {
    relay.get(PATH_STATUS).json()["total_events"]
        .as_u64()
        .unwrap()
}

fn ids_of(v: &Value) -> Vec<String> {
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_string())
        .collect()
}

fn ok_json(r: &Resp) -> Value {
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

#[test]
fn get_sync_after_an_unknown_hash_is_an_empty_page_that_says_so() {
    let data = tempfile::tempdir().unwrap();
    let relay = Relay::start(data.path(), &[]);
    let ids = append_messages(&relay, 3);

    // Shadowbroker's answer (200, no events) plus Postern's flag, members in this order.
    let unknown = "ab".repeat(32);
    let r = relay.get(&format!("{PATH_SYNC}?after_hash={unknown}"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        format!(
            r#"{{"events":[],"after_hash":"{unknown}","count":0,"protocol_version":"infonet/2","unknown_after_hash":true}}"#
        )
    );
    let typed: SyncGetResponse = r.json_as();
    assert!(typed.unknown_after_hash && typed.events.is_empty());

    // At the head: the same empty page, without the flag (caught up, not lost).
    let r = relay.get(&format!("{PATH_SYNC}?after_hash={}", ids[2]));
    assert_eq!(
        r.body,
        format!(
            r#"{{"events":[],"after_hash":"{}","count":0,"protocol_version":"infonet/2"}}"#,
            ids[2]
        )
    );
    assert!(!r.json_as::<SyncGetResponse>().unknown_after_hash);
    // A known hash still pages on; no flag.
    let v = ok_json(&relay.get(&format!("{PATH_SYNC}?after_hash={}", ids[0])));
    assert_eq!(ids_of(&v), ids[1..]);
    assert!(v.get("unknown_after_hash").is_none(), "{v}");

    // Garbage and over-long hashes are unknown too, never a 404.
    for after in ["%00zz".to_string(), "c".repeat(200)] {
        let v = ok_json(&relay.get(&format!("{PATH_SYNC}?after_hash={after}")));
        assert_eq!(v["unknown_after_hash"], true, "{v}");
        assert_eq!((v["count"].as_u64(), ids_of(&v).len()), (Some(0), 0));
    }
}

#[test]
fn post_sync_with_a_locator_that_shares_nothing_gets_no_events() {
    let data = tempfile::tempdir().unwrap();
    let relay = Relay::start(data.path(), &[]);
    let ids = append_messages(&relay, 3);
    let head = ids[2].clone();
    let other: Vec<String> = generate_chain(5, GenOptions::default())
        .into_iter()
        .map(|e| e.event_id)
        .collect();

    // Nothing shared (no genesis in the locator either).
    let mut nothing = build_locator(&other, 32);
    nothing.pop();
    let v = ok_json(&relay.post(PATH_SYNC, &json!({ "locator": nothing })));
    assert_eq!(
        v,
        json!({"events": [], "matched_hash": "", "forked": true, "head_hash": head,
               "count": 0, "protocol_version": "infonet/2"})
    );
    // With proofs: the current root and total, from 0, no proofs.
    let v = ok_json(&relay.post(
        PATH_SYNC,
        &json!({ "locator": nothing, "include_proofs": true }),
    ));
    assert_eq!(ids_of(&v).len(), 0);
    assert_eq!(v["merkle_root"], merkle_root(&ids));
    assert_eq!(v["merkle_total"], 3);
    assert_eq!(v["merkle_start"], 0);
    assert_eq!(v["merkle_proofs"], json!([]));

    // Only genesis shared, and a longer locator: the events from the start, forked.
    let v = ok_json(&relay.post(
        PATH_SYNC,
        &json!({ "locator": build_locator(&other, 32), "include_proofs": true }),
    ));
    assert_eq!(
        (v["matched_hash"].as_str(), &v["forked"]),
        (Some(GENESIS_HASH), &json!(true))
    );
    assert_eq!(ids_of(&v), ids);
    assert_eq!(
        (v["count"].as_u64(), v["merkle_start"].as_u64()),
        (Some(3), Some(0))
    );
    assert_eq!(v["merkle_proofs"].as_array().unwrap().len(), 3);

    // Genesis alone (an empty peer): from the start, not forked.
    let v = ok_json(&relay.post(PATH_SYNC, &json!({ "locator": [GENESIS_HASH] })));
    assert_eq!(
        (v["forked"].as_bool(), ids_of(&v)),
        (Some(false), ids.clone())
    );
}

#[test]
fn refused_syncs_carry_shadowbrokers_members_beside_posterns() {
    let data = tempfile::tempdir().unwrap();
    let relay = Relay::start(data.path(), &[]);
    let head = append_messages(&relay, 2).pop().unwrap();
    let other = "cd".repeat(32);

    let mismatch = |expected: &str| {
        json!({"ok": false, "code": "head_mismatch", "detail": "head_hash mismatch",
               "head_hash": head, "expected_head": expected})
    };
    let r = relay.get(&format!("{PATH_SYNC}?expected_head={other}"));
    r.assert_error(409, "head_mismatch");
    assert_eq!(r.json(), mismatch(&other));
    let r = relay.post(PATH_SYNC, &json!({"locator": [], "expected_head": "00"}));
    r.assert_error(409, "head_mismatch");
    assert_eq!(r.json(), mismatch("00"));

    let upgrade = json!({"ok": false, "code": "unsupported_protocol_version",
                         "detail": "Unsupported protocol_version", "protocol_version": "infonet/2"});
    let r = relay.get(&format!("{PATH_SYNC}?protocol_version=infonet/1"));
    r.assert_error(426, "unsupported_protocol_version");
    assert_eq!(r.json(), upgrade);
    let r = relay.post(
        PATH_SYNC,
        &json!({"protocol_version": "infonet/1", "locator": []}),
    );
    r.assert_error(426, "unsupported_protocol_version");
    assert_eq!(r.json(), upgrade);

    // Every other refusal keeps exactly Postern's three members.
    for r in [
        relay.get(&format!("{PATH_SYNC}?limit=abc")),
        relay.post(PATH_SYNC, &json!({ "locator": "x" })),
        relay.get("/api/mesh/infonet/nope"),
    ] {
        r.assert_error_body();
        let v = r.json();
        let mut keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["code", "detail", "ok"], "{}", r.body);
    }
}

// ---- pull replication ----

fn peer_state(r: &Relay, peer: &str) -> Option<Value> {
    let v = r.get(PATH_SYNC_STATUS).json();
    v["peers"]
        .as_array()?
        .iter()
        .find(|p| p["peer_url"] == peer)
        .cloned()
}

/// A relay with two events of its own pulling from a fake peer that answers every sync with
/// `answer`: it reports the fork (twice, one request per round), stores nothing, and says why.
/// Its two events are signed into its tree head first, so a fork with them is never healed by
/// re-linking (`tests/fork_heal.rs` covers forks of pending events).
fn pull_from_forked_peer(answer: String, why: &str) {
    let spy = Spy::start("200 OK", "", Box::leak(answer.into_boxed_str()));
    let data = tempfile::tempdir().unwrap();
    let settle = ["--settle-secs=0", "--tree-head-interval-secs=1"];
    let relay = Relay::start(data.path(), &settle);
    let ids = append_messages(&relay, 2);
    wait_for("a signed head over our two events", || {
        relay.get("/api/mesh/infonet/tree-head").json()["tree_head"]["size"] == 2
    });
    assert_eq!(relay.terminate().code(), Some(0));
    let args = [
        format!("--peer={}=secret", spy.url),
        "--sync-interval-secs=1".to_string(),
        settle[0].to_string(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let relay = Relay::start(data.path(), &args);
    wait_for("two fork reports", || {
        peer_state(&relay, &spy.url).is_some_and(|p| p["fork_reports"].as_u64() >= Some(2))
    });
    let p = peer_state(&relay, &spy.url).unwrap();
    assert_eq!(p["last_outcome"], "fork", "{p}");
    assert_eq!(p["fork_detected"], true, "{p}");
    assert!(p["last_error"].as_str().unwrap().contains(why), "{p}");
    assert_eq!(relay.get(PATH_SYNC_STATUS).json()["fork_detected"], true);
    // One request per round: no page loop on a forked answer.
    let reports = peer_state(&relay, &spy.url).unwrap()["fork_reports"]
        .as_u64()
        .unwrap();
    let asked = spy.bodies(PATH_SYNC).len() as u64;
    assert!(
        asked <= reports + 1,
        "{asked} requests for {reports} rounds"
    );
    // Nothing of the peer's was stored.
    assert_eq!(total(&relay), 2);
    let v = ok_json(&relay.get(PATH_SYNC));
    assert_eq!(ids_of(&v), ids);
}

#[test]
fn a_peer_sharing_nothing_with_our_chain_is_a_fork_and_nothing_is_stored() {
    let head = "ee".repeat(32);
    pull_from_forked_peer(
        format!(
            r#"{{"events":[],"matched_hash":"","forked":true,"head_hash":"{head}","count":0,"protocol_version":"infonet/2"}}"#
        ),
        "not even genesis",
    );
}

#[test]
fn a_peer_sharing_only_genesis_is_a_fork_and_its_events_are_not_stored() {
    // Valid events of another chain, from the start (what the answer carries in that case).
    let other = generate_chain(3, GenOptions::default());
    let texts: Vec<String> = other
        .iter()
        .map(|e| e.to_value().to_json_ordered())
        .collect();
    let head = &other[2].event_id;
    pull_from_forked_peer(
        format!(
            r#"{{"events":[{}],"matched_hash":"{GENESIS_HASH}","forked":true,"head_hash":"{head}","count":3,"protocol_version":"infonet/2"}}"#,
            texts.join(",")
        ),
        "diverge from ours",
    );
}
