//! The relay holds the Infonet as one chain, exactly as Shadowbroker does (issue 12), checked
//! with the shared interleaved chain written by Shadowbroker's own code
//! (`shadowbroker/sb-interleaved-chain.json`): peer-pushed in Shadowbroker's batches of 50 it
//! is accepted whole with the same head and Merkle root; its public view verifies with
//! `postern verify-chain` and holds no private byte; an authenticated peer gets every event; a
//! second relay pull-syncing from the first ends identical; a relay pulling Shadowbroker's
//! gapped clearnet view keeps the verified prefix and says why it stops.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod spy;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{wait_within, Mesh, Relay, Resp, MESH_SECRET};
use postern_core::api::infonet::{PATH_MERKLE, PATH_PRIVATE_STATUS, PATH_STATUS, PATH_SYNC};
use postern_core::api::peer::{HEADER_PEER_HMAC, HEADER_PEER_URL, PATH_PEER_PUSH};
use postern_core::event::ChainEvent;
use postern_core::json::{self, Value as CV};
use postern_core::peer::{normalize_peer_url, peer_key, sign_body};
use postern_core::public_view::{is_private_type, is_stub, leaks_private_material};
use postern_core::verify::{ChainState, VerifyOptions};

const PEER_URL: &str = "http://sb-node.test:8000";
const PEER_SECRET: &str = "sb-node-secret";

fn vector() -> CV {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vectors/shadowbroker/sb-interleaved-chain.json"
    );
    json::parse(&std::fs::read(path).unwrap()).unwrap()
}

fn meta(v: &CV, k: &str) -> String {
    v.get("meta").unwrap().get(k).unwrap().py_str()
}

fn events(v: &CV) -> Vec<CV> {
    v.get("events").unwrap().as_array().unwrap().to_vec()
}

fn text(v: &CV, k: &str) -> String {
    v.get(k).map(CV::py_str).unwrap_or_default()
}

fn peer_flag() -> String {
    format!("--sb-peer={PEER_URL}={PEER_SECRET}")
}

/// POST `body` signed as the Shadowbroker node `PEER_URL`.
fn post_signed(relay: &Relay, path: &str, body: &[u8]) -> Resp {
    let key = peer_key(
        PEER_SECRET.as_bytes(),
        &normalize_peer_url(PEER_URL).unwrap(),
    );
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();
    let req = agent
        .post(&relay.url(path))
        .set("Content-Type", "application/json")
        .set(HEADER_PEER_URL, PEER_URL)
        .set(HEADER_PEER_HMAC, &sign_body(&key, body));
    Relay::finish(req.send_bytes(body))
}

/// Peer-push the whole vector in Shadowbroker's batches of 50; returns (accepted, duplicates).
fn push_all(relay: &Relay, evs: &[CV]) -> (u64, u64) {
    let (mut accepted, mut duplicates) = (0, 0);
    for batch in evs.chunks(50) {
        let texts: Vec<String> = batch.iter().map(CV::to_json_ordered).collect();
        let body = format!("{{\"events\":[{}]}}", texts.join(","));
        let r = post_signed(relay, PATH_PEER_PUSH, body.as_bytes());
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        accepted += v["accepted"].as_u64().unwrap();
        duplicates += v["duplicates"].as_u64().unwrap();
    }
    (accepted, duplicates)
}

fn head_and_root(relay: &Relay) -> (String, u64, String) {
    let s = relay.get(PATH_STATUS).json();
    let m = relay.get(PATH_MERKLE).json();
    (
        s["head_hash_full"].as_str().unwrap().to_string(),
        s["total_events"].as_u64().unwrap(),
        m["merkle_root"].as_str().unwrap().to_string(),
    )
}

/// Every event of the public view, paged with `GET sync` (anyone's view).
fn public_view(relay: &Relay) -> (Vec<CV>, String) {
    let (mut out, mut raw) = (Vec::new(), String::new());
    let mut after = "0".repeat(64);
    loop {
        let r = relay.get(&format!("{PATH_SYNC}?after_hash={after}&limit=500"));
        assert_eq!(r.status, 200, "{}", r.body);
        raw.push_str(&r.body);
        let v = json::parse(r.body.as_bytes()).unwrap();
        let page = v.get("events").unwrap().as_array().unwrap().to_vec();
        let Some(last) = page.last() else { break };
        after = text(last, "event_id");
        out.extend(page);
    }
    (out, raw)
}

/// Every event as an authenticated peer gets it (`POST sync`, HMAC over the body).
fn full_chain(relay: &Relay) -> Vec<CV> {
    let mut out: Vec<CV> = Vec::new();
    loop {
        let locator: Vec<String> = out
            .last()
            .map(|e| text(e, "event_id"))
            .into_iter()
            .collect();
        let body = serde_json::to_vec(&serde_json::json!({
            "protocol_version": "infonet/2", "locator": locator, "limit": 500
        }))
        .unwrap();
        let r = post_signed(relay, PATH_SYNC, &body);
        assert_eq!(r.status, 200, "{}", r.body);
        let v = json::parse(r.body.as_bytes()).unwrap();
        let page = v.get("events").unwrap().as_array().unwrap().to_vec();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

fn verify_chain_cli(events: &[CV]) -> serde_json::Value {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("postern-one-chain");
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join(format!("view-{}.json", std::process::id()));
    std::fs::write(&f, CV::Array(events.to_vec()).to_json_ordered()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_postern"))
        .arg("verify-chain")
        .arg(&f)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    serde_json::from_str(&stdout).unwrap()
}

/// The `sync-status` entry of `peer` at `relay`.
fn peer_state(relay: &Relay, peer: &str) -> serde_json::Value {
    let st = relay.get("/api/mesh/infonet/sync-status").json();
    st["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["peer_url"] == peer)
        .cloned()
        .unwrap_or_default()
}

fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn the_interleaved_chain_is_one_chain_here_too() {
    let v = vector();
    let evs = events(&v);
    assert_eq!(evs.len(), 400);
    let (head, root) = (meta(&v, "head_hash"), meta(&v, "merkle_root"));
    // A (node 0) is peered with the Shadowbroker node and with B (node 1), which pulls from A
    // signed as itself (so A serves it the full chain).
    let sb_peer = peer_flag();
    let (mesh, relays) = Mesh::start_with(
        2,
        &[(0, 1)],
        &[sb_peer.as_str(), "--sync-interval-secs", "1"],
        true,
    );
    let (a, b) = (&relays[0], &relays[1]);

    assert_eq!(push_all(a, &evs), (400, 0));
    assert_eq!(head_and_root(a), (head.clone(), 400, root.clone()));
    let private = evs
        .iter()
        .filter(|e| is_private_type(&text(e, "event_type")))
        .count() as u64;
    let p = a.get(PATH_PRIVATE_STATUS).json();
    assert_eq!(
        (p["head_hash"].as_str(), p["count"].as_u64()),
        (Some(head.as_str()), Some(private))
    );
    // Pushing it again stores nothing.
    assert_eq!(push_all(a, &evs), (0, 400));

    // The public view: every id in place, private events as stubs, no private byte.
    let (view, raw) = public_view(a);
    assert_eq!(view.len(), 400);
    // What public events carry anyway (an author's key, a recipient that also posts).
    let public_text: String = evs
        .iter()
        .filter(|e| !is_private_type(&text(e, "event_type")))
        .map(CV::to_json_ordered)
        .collect();
    let leaked = |s: &str| !public_text.contains(s) && raw.contains(s);
    for (served, orig) in view.iter().zip(&evs) {
        assert_eq!(text(served, "event_id"), text(orig, "event_id"));
        if is_private_type(&text(orig, "event_type")) {
            assert!(is_stub(served), "{}", served.to_json_ordered());
            assert!(!leaks_private_material(served));
            for k in ["signature", "public_key"] {
                assert!(!leaked(&text(orig, k)), "private {k} served");
            }
            for field in ["ciphertext", "nonce", "sender_ref", "gate_envelope"] {
                if let Some(val) = orig.get("payload").unwrap().get(field) {
                    let s = val.py_str();
                    if s.len() >= 12 {
                        assert!(!leaked(&s), "private {field} served");
                    }
                }
            }
        } else {
            // Served in its one canonical byte form (issue 14: payload keys sorted, the algo
            // label `Ed25519`): the same signed content and event id as the node's copy.
            let canonical = ChainEvent::from_value(orig)
                .unwrap()
                .canonical()
                .unwrap()
                .to_value();
            assert_eq!(served, &canonical);
        }
    }
    // ...and verifies end to end with the CLI (no clock: history of any age).
    let report = verify_chain_cli(&view);
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["head"], head.as_str());
    assert_eq!(report["merkle_root"], root.as_str());

    // An authenticated peer receives all 400 events, exactly.
    let canonical: Vec<CV> = evs
        .iter()
        .map(|e| {
            ChainEvent::from_value(e)
                .unwrap()
                .canonical()
                .unwrap()
                .to_value()
        })
        .collect();
    assert_eq!(full_chain(a), canonical);

    // B pull-syncs from A and ends with the same head and root.
    wait_within(
        "B to pull the whole chain",
        Duration::from_secs(120),
        || head_and_root(b).0 == head,
    );
    assert_eq!(head_and_root(b), (head, 400, root));
    let st = peer_state(b, &mesh.url(0));
    assert!(st.get("incomplete_view").is_none(), "{st}");
}

/// The longest prefix of `view` that verifies from genesis (history of any age).
fn verified_prefix(view: &[CV]) -> usize {
    let mut state = ChainState::new();
    let opts = VerifyOptions {
        now: 0,
        max_event_age_s: 0,
        batch: false,
    };
    for (i, v) in view.iter().enumerate() {
        let Ok(e) = ChainEvent::from_value(v) else {
            return i;
        };
        if state.ingest(&e, &opts).is_err() {
            return i;
        }
    }
    view.len()
}

#[test]
fn pulling_a_gapped_clearnet_view_keeps_the_verified_prefix_and_says_why() {
    let v = vector();
    let view = v
        .get("public_sync_view")
        .unwrap()
        .get("events")
        .unwrap()
        .as_array()
        .unwrap()
        .to_vec();
    let k = verified_prefix(&view);
    assert!(k > 0 && k < view.len(), "prefix {k} of {}", view.len());
    // A Shadowbroker node serving its clearnet view to a sync reader (every request answered
    // with the view from genesis, as it answers a reader it shares nothing with).
    let body = format!(
        "{{\"events\":{},\"matched_hash\":\"\",\"forked\":false,\"head_hash\":\"{}\",\"count\":{},\"protocol_version\":\"infonet/2\"}}",
        CV::Array(view.clone()).to_json_ordered(),
        meta(&v, "head_hash"),
        view.len()
    );
    let node = spy::Spy::start("200 OK", "", Box::leak(body.into_boxed_str()));
    let data = tempfile::tempdir().unwrap();
    let peer = format!("--peer={}={MESH_SECRET}", node.url);
    let r = Relay::start(data.path(), &[peer.as_str(), "--sync-interval-secs", "1"]);

    wait_within("the incomplete round", Duration::from_secs(60), || {
        peer_state(&r, &node.url).get("incomplete_view").is_some()
    });
    // Only the verified prefix is stored, whatever the number of rounds.
    let (head, count, _) = head_and_root(&r);
    assert_eq!(count, k as u64);
    assert_eq!(head, text(&view[k - 1], "event_id"));
    let st = r.get("/api/mesh/infonet/sync-status").json();
    let inc = &peer_state(&r, &node.url)["incomplete_view"];
    let reason = inc["reason"].as_str().unwrap().to_string();
    assert!(reason == "gap" || reason == "redacted", "{st}");
    let refused = text(&view[k], "event_id");
    assert!(inc["detail"].as_str().unwrap().contains(&refused), "{st}");
    assert_eq!(st["fork_detected"], false, "{st}");
    let m = r.get("/metrics").body;
    assert!(
        metric(
            &m,
            &format!("postern_sync_incomplete_total{{reason=\"{reason}\"}}")
        ) >= 1,
        "{m}"
    );
    assert_eq!(metric(&m, "postern_sync_forks_total"), 0);
    // A second round pulls nothing more and stops at the same event.
    let rounds = metric(&m, "postern_sync_rounds_total{result=\"incomplete\"}");
    wait_within("another incomplete round", Duration::from_secs(60), || {
        metric(
            &r.get("/metrics").body,
            "postern_sync_rounds_total{result=\"incomplete\"}",
        ) > rounds
    });
    assert_eq!(head_and_root(&r).1, k as u64);
}

#[test]
fn an_unauthenticated_pull_gets_stubs_and_stores_only_what_verifies() {
    let v = vector();
    let evs = events(&v);
    let first_private = evs
        .iter()
        .position(|e| is_private_type(&text(e, "event_type")))
        .unwrap();
    let sb_peer = peer_flag();
    // No --public-url: B's pulls are unsigned, so A serves B its public view.
    let (mesh, relays) = Mesh::start_with(
        2,
        &[(0, 1)],
        &[sb_peer.as_str(), "--sync-interval-secs", "1"],
        false,
    );
    let (a, b) = (&relays[0], &relays[1]);
    assert_eq!(push_all(a, &evs), (400, 0));
    wait_within(
        "B to stop at the first stub",
        Duration::from_secs(60),
        || peer_state(b, &mesh.url(0))["incomplete_view"]["reason"] == "stub",
    );
    let (head, count, _) = head_and_root(b);
    assert_eq!(count, first_private as u64);
    assert_eq!(head, text(&evs[first_private - 1], "event_id"));
}
