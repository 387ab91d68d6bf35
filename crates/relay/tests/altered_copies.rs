//! Altered copies (issue 14 item 9) against the real `postern` binary: two relays receive the
//! same events, one of them in an altered unsigned representation (same event ids, every
//! variant verifies); both must then serve one byte form per event id. A type-confused copy
//! (timestamp as a JSON string) is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{peer_post, Relay};
use postern_core::api::infonet::PATH_SYNC;
use postern_core::api::peer::PATH_PEER_PUSH;
use postern_core::chaingen::{generate_chain, GenOptions};
use postern_core::event::ChainEvent;
use postern_core::json::{self, Value};

const PEER_URL: &str = "http://peer-a.test:7001";
const PEER_SECRET: &str = "s3cret-a";

fn push_body(values: &[Value]) -> Vec<u8> {
    let texts: Vec<String> = values.iter().map(|v| v.to_json_ordered()).collect();
    format!("{{\"events\":[{}]}}", texts.join(",")).into_bytes()
}

/// The exact text of every served public event (split out of the sync answer as JSON values,
/// each re-rendered in its served key order).
fn served(relay: &Relay) -> Vec<String> {
    let r = relay.get(&format!("{PATH_SYNC}?limit=500"));
    assert_eq!(r.status, 200, "{}", r.body);
    let v = json::parse(r.body.as_bytes()).unwrap();
    v.get("events")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.to_json_ordered())
        .collect()
}

fn alter(v: &mut Value, i: usize) {
    let s = |x: &str| Value::from(x);
    match i % 4 {
        0 => {
            let pk = v.get("public_key").unwrap().as_str().unwrap().to_string();
            v.insert("public_key", s(&format!("{pk}!!junk")));
        }
        1 => {
            let algo = v
                .get("public_key_algo")
                .unwrap()
                .as_str()
                .unwrap()
                .to_lowercase();
            v.insert("public_key_algo", s(&algo));
        }
        2 => v.insert("protocol_version", s("")),
        _ => {
            let sig = v.get("signature").unwrap().as_str().unwrap().to_uppercase();
            v.insert("signature", s(&sig));
        }
    }
}

fn start() -> (Relay, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let flag = format!("--peer={PEER_URL}={PEER_SECRET}");
    (Relay::start(data.path(), &[flag.as_str()]), data)
}

#[test]
fn relays_serve_one_byte_form_per_event_id() {
    let chain = generate_chain(
        8,
        GenOptions {
            include_gate_messages: false,
            ..GenOptions::default()
        },
    );
    let originals: Vec<Value> = chain.iter().map(ChainEvent::to_value).collect();
    let altered: Vec<Value> = originals
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut v = v.clone();
            alter(&mut v, i);
            v
        })
        .collect();
    let (a, _da) = start();
    let (b, _db) = start();
    for (relay, events) in [(&a, &originals), (&b, &altered)] {
        let r = peer_post(
            relay,
            PATH_PEER_PUSH,
            PEER_URL,
            PEER_SECRET,
            &push_body(events),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let (sa, sb) = (served(&a), served(&b));
    assert_eq!(sa.len(), 8);
    assert_eq!(
        sa, sb,
        "the two relays serve different bytes for the same event ids"
    );
}

#[test]
fn a_string_timestamp_copy_is_refused() {
    let chain = generate_chain(
        1,
        GenOptions {
            include_gate_messages: false,
            ..GenOptions::default()
        },
    );
    let mut v = chain[0].to_value();
    let ts = v.get("timestamp").unwrap().py_str();
    v.insert("timestamp", Value::from(ts.as_str()));
    assert_eq!(
        ChainEvent::from_value(&v).unwrap().computed_event_id(),
        chain[0].event_id
    );
    let (a, _d) = start();
    let r = peer_post(&a, PATH_PEER_PUSH, PEER_URL, PEER_SECRET, &push_body(&[v]));
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("non_canonical_event"), "{}", r.body);
    assert!(served(&a).is_empty());
}
