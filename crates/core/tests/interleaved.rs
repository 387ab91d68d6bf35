#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The shared interleaved chain (`sb-interleaved-chain.json`, written by Shadowbroker's own code:
//! public and private events on one prev_hash chain): core accepts it as Shadowbroker does, its
//! public view (private events as stubs) verifies link-only with the same head and root, and
//! Shadowbroker's own clearnet view (gaps, redacted payloads) does not verify.

use postern_core::cli::verify_chain_json;
use postern_core::event::ChainEvent;
use postern_core::json::{parse, Value};
use postern_core::public_view::{
    is_stub, leaks_private_material, redact, verify_public_view, STUB_FIELDS,
};
use postern_core::verify::{verify_chain, ChainState, FailReason, VerifyOptions};

fn vector() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vectors/shadowbroker/sb-interleaved-chain.json"
    );
    parse(&std::fs::read(path).unwrap()).unwrap()
}

fn meta(v: &Value, k: &str) -> Value {
    v.get("meta").unwrap().get(k).unwrap().clone()
}

fn events(v: &Value) -> Vec<Value> {
    v.get("events").unwrap().as_array().unwrap().to_vec()
}

fn opts(v: &Value) -> VerifyOptions {
    VerifyOptions::at(meta(v, "verify_now").py_int().unwrap().to_u64().unwrap())
}

#[test]
fn the_one_chain_verifies_with_shadowbrokers_head_and_root() {
    let v = vector();
    let evs: Vec<ChainEvent> = events(&v)
        .iter()
        .map(|e| ChainEvent::from_value(e).unwrap())
        .collect();
    assert_eq!(evs.len(), 400);
    let r = verify_chain(&evs, &opts(&v));
    assert!(r.valid, "{:?}", r.error);
    assert_eq!(r.head.unwrap(), meta(&v, "head_hash").as_str().unwrap());
    assert_eq!(
        r.merkle_root.unwrap(),
        meta(&v, "merkle_root").as_str().unwrap()
    );
    // Incrementally, in Shadowbroker's push batches of 50.
    let mut state = ChainState::new();
    for batch in evs.chunks(50) {
        let (n, rej) = state.ingest_all(batch, &opts(&v));
        assert_eq!((n, rej), (batch.len(), None));
    }
    assert_eq!(state.head(), meta(&v, "head_hash").as_str().unwrap());
}

#[test]
fn the_public_view_verifies_link_only_and_holds_no_private_byte() {
    let v = vector();
    let all = events(&v);
    let view: Vec<Value> = all.iter().map(redact).collect();
    let private: Vec<&Value> = all
        .iter()
        .filter(|e| {
            matches!(
                e.get("event_type").and_then(Value::as_str),
                Some("gate_message" | "dm_message")
            )
        })
        .collect();
    assert_eq!(private.len(), 80);
    assert_eq!(view.iter().filter(|e| is_stub(e)).count(), 80);
    assert!(!view.iter().any(leaks_private_material));
    let text = Value::Array(view.clone()).to_json_ordered();
    // Every payload value of a private event that is not also public (a recipient's node id
    // can be an author elsewhere) must be absent, and so must its signature.
    // (nor a `reply_to` naming another event's id, nor a recipient that authors stubs).
    let public_text: String = all
        .iter()
        .filter(|e| !private.contains(e))
        .map(Value::to_json_ordered)
        .chain(all.iter().map(|e| e.get("event_id").unwrap().py_str()))
        .chain(all.iter().map(|e| e.get("node_id").unwrap().py_str()))
        .collect();
    let mut checked = 0;
    for e in &private {
        let p = e.get("payload").unwrap();
        for (_, field) in p.as_object().unwrap() {
            if let Some(s) = field.as_str().filter(|s| s.len() >= 8) {
                if !public_text.contains(s) {
                    checked += 1;
                    assert!(!text.contains(s), "private payload value served: {s}");
                }
            }
        }
        assert!(!text.contains(e.get("signature").unwrap().as_str().unwrap()));
    }
    assert!(checked > 300, "{checked}");
    for stub in view.iter().filter(|e| is_stub(e)) {
        let keys: Vec<&str> = stub
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(keys, STUB_FIELDS);
    }
    let r = verify_public_view(&view, &opts(&v));
    assert!(r.report.valid, "{:?}", r.report.error);
    assert_eq!((r.full, r.link_only), (320, 80));
    assert_eq!(r.report.head.as_deref(), meta(&v, "head_hash").as_str());
    assert_eq!(
        r.report.merkle_root.as_deref(),
        meta(&v, "merkle_root").as_str()
    );
    // The CLI: default (history of any age), and explicitly at Shadowbroker's clock.
    let doc = Value::Array(view.clone()).to_json_ordered();
    for now in [None, Some(opts(&v).now)] {
        let out = verify_chain_json(doc.as_bytes(), now);
        assert_eq!(out.exit_code, 0, "{}", out.stdout);
        let o = parse(out.stdout.as_bytes()).unwrap();
        assert_eq!(o.get("head"), Some(&meta(&v, "head_hash")));
        assert_eq!(o.get("link_only"), Some(&Value::from(80i64)));
    }
}

#[test]
fn a_tampered_stub_or_link_is_refused() {
    let v = vector();
    let mut view: Vec<Value> = events(&v).iter().map(redact).collect();
    let at = view.iter().position(is_stub).unwrap();
    // A stub with a different id breaks the next event's link.
    let mut bad = view.clone();
    bad[at].insert("event_id", Value::from("ab".repeat(32)));
    let r = verify_public_view(&bad, &opts(&v));
    assert_eq!(r.report.error.unwrap().index, at + 1);
    // A stub that does not extend the head.
    let mut bad = view.clone();
    bad[at].insert("prev_hash", Value::from("cd".repeat(32)));
    let e = verify_public_view(&bad, &opts(&v)).report.error.unwrap();
    assert_eq!((e.index, e.reason), (at, FailReason::PrevHashMismatch));
    // A stub replaying its author's sequence in its domain.
    let mut bad = view.clone();
    bad[at].insert("sequence", Value::from(0i64));
    let e = verify_public_view(&bad, &opts(&v)).report.error.unwrap();
    assert_eq!((e.index, e.reason), (at, FailReason::InvalidSequence));
    // A private event with one payload member is not a stub: verified in full, and refused.
    view[at].insert("payload", Value::object());
    assert!(!is_stub(&view[at]));
    assert!(leaks_private_material(&view[at]));
    let e = verify_public_view(&view, &opts(&v)).report.error.unwrap();
    assert_eq!(e.index, at);
}

#[test]
fn shadowbrokers_clearnet_view_does_not_verify() {
    let v = vector();
    let served = v
        .get("public_sync_view")
        .unwrap()
        .get("events")
        .unwrap()
        .as_array()
        .unwrap()
        .to_vec();
    assert_eq!(served.len(), 320);
    let evs: Vec<ChainEvent> = served
        .iter()
        .map(|e| ChainEvent::from_value(e).unwrap())
        .collect();
    let r = verify_chain(&evs, &opts(&v));
    // Shadowbroker's own ingest: first rejection at served index 2, "Payload is not normalized".
    let e = r.error.unwrap();
    assert_eq!((e.index, e.reason), (2, FailReason::InvalidPayload));
    assert!(e.detail.contains("not normalized"), "{}", e.detail);
}

#[test]
fn verify_chain_skips_exact_duplicates_and_refuses_reused_ids() {
    let v = vector();
    let mut all = events(&v);
    let dup = all[10].clone();
    all.insert(11, dup);
    let doc = Value::Array(all.clone()).to_json_ordered();
    let out = verify_chain_json(doc.as_bytes(), None);
    assert_eq!(out.exit_code, 0, "{}", out.stdout);
    let o = parse(out.stdout.as_bytes()).unwrap();
    assert_eq!(o.get("duplicates"), Some(&Value::from(1i64)));
    assert_eq!(o.get("count"), Some(&Value::from(401i64)));
    // A different event with a known id is an error, reported at its input position.
    let mut other = all[10].clone();
    other.insert("sequence", Value::from(999i64));
    all[11] = other;
    let doc = Value::Array(all).to_json_ordered();
    let out = verify_chain_json(doc.as_bytes(), None);
    assert_eq!(out.exit_code, 1);
    let o = parse(out.stdout.as_bytes()).unwrap();
    let err = o.get("error").unwrap();
    assert_eq!(err.get("index"), Some(&Value::from(11i64)));
    assert_eq!(
        err.get("reason").and_then(Value::as_str),
        Some("duplicate_event_id")
    );
}

#[test]
fn pulled_views_are_classified() {
    use postern_core::public_view::{classify_pulled_refusal, redact_text, IncompleteReason};
    let v = vector();
    let all = events(&v);
    // Shadowbroker's clearnet view: the first refusal is a redacted vote.
    let served = v.get("public_sync_view").unwrap().get("events").unwrap();
    let first_bad = served.as_array().unwrap()[2].clone();
    assert_eq!(
        classify_pulled_refusal(&first_bad, FailReason::InvalidPayload, true),
        Some(IncompleteReason::Redacted)
    );
    // Private events dropped, nothing redacted: the first refusal is a gap.
    let gapped: Vec<ChainEvent> = all
        .iter()
        .filter(|e| !is_stub(&redact(e)))
        .map(|e| ChainEvent::from_value(e).unwrap())
        .collect();
    let r = verify_chain(&gapped, &opts(&v));
    let e = r.error.unwrap();
    assert_eq!(e.reason, FailReason::PrevHashMismatch);
    let at = gapped[e.index].to_value();
    assert_eq!(
        classify_pulled_refusal(&at, e.reason, false),
        Some(IncompleteReason::Gap)
    );
    assert_eq!(classify_pulled_refusal(&at, e.reason, true), None);
    // A stub is a stub whatever the verifier said.
    let stub = redact(&all[4]);
    assert_eq!(
        classify_pulled_refusal(&stub, FailReason::NetworkMismatch, true),
        Some(IncompleteReason::Stub)
    );
    // Stored text in, stub text out; public events unchanged.
    let text = all[4].to_json_ordered();
    assert_eq!(redact_text(&text).unwrap(), stub.to_json_ordered());
    let text = all[0].to_json_ordered();
    assert_eq!(redact_text(&text).unwrap(), text);
}
