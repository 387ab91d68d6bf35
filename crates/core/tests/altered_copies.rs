//! Issue 14 item 9: a peer can alter the unsigned representation of an event (junk after the
//! key's base64 padding, `public_key_algo` case, empty `protocol_version`, timestamp as a JSON
//! string, …) without changing its event id, and the verifier accepts every variant. The rule
//! that closes it: `ChainEvent::canonical_json` gives every accepted variant one byte form
//! (or refuses the variant), so every relay stores and serves one form per event id.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ed25519_dalek::SigningKey;
use postern_core::canonical::GENESIS_HASH;
use postern_core::event::{sign_event, ChainEvent, NonCanonical};
use postern_core::json::{parse, Value};
use postern_core::verify::{verify_event, VerifyOptions};

const TS: f64 = 1_780_000_073.0;

fn original() -> ChainEvent {
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let p = parse(br#"{"message":"hi","destination":"broadcast","channel":"LongFast","priority":"normal","ephemeral":false}"#).unwrap();
    sign_event(&key, GENESIS_HASH, "message", &p, Value::Float(TS), 1)
}

fn opts() -> VerifyOptions {
    VerifyOptions {
        max_event_age_s: 0,
        ..VerifyOptions::at(TS as u64)
    }
}

/// Edit the wire JSON of the original event.
fn variant(edit: impl FnOnce(&mut Value)) -> ChainEvent {
    let mut v = original().to_value();
    edit(&mut v);
    ChainEvent::from_value(&v).unwrap()
}

fn set(v: &mut Value, k: &str, x: Value) {
    v.insert(k, x);
}

#[test]
fn every_accepted_variant_has_one_byte_form() {
    let orig = original();
    let want = orig.canonical_json().unwrap();
    // The canonical form is a fixed point and keeps the id.
    let canon = orig.canonical().unwrap();
    assert_eq!(canon.canonical_json().unwrap(), want);
    assert_eq!(canon.computed_event_id(), orig.event_id);
    let pk = orig.public_key.clone();
    let variants: Vec<(&str, ChainEvent)> = vec![
        (
            "junk after the key's base64 padding",
            variant(|v| {
                set(
                    v,
                    "public_key",
                    Value::from(format!("{pk}!!junk==").as_str()),
                )
            }),
        ),
        (
            "public_key_algo case",
            variant(|v| set(v, "public_key_algo", Value::from("ed25519"))),
        ),
        (
            "public_key_algo alias",
            variant(|v| set(v, "public_key_algo", Value::from(" EdDSA "))),
        ),
        (
            "empty protocol_version",
            variant(|v| set(v, "protocol_version", Value::from(""))),
        ),
        (
            "upper-case signature hex",
            variant(|v| {
                let s = v
                    .get("signature")
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_ascii_uppercase();
                set(v, "signature", Value::from(s.as_str()))
            }),
        ),
        (
            "payload keys reordered",
            variant(|v| {
                let p = parse(br#"{"priority":"normal","ephemeral":false,"message":"hi","destination":"broadcast","channel":"LongFast"}"#).unwrap();
                set(v, "payload", p)
            }),
        ),
        (
            "an extra top-level field",
            variant(|v| set(v, "x_note", Value::from("hello"))),
        ),
    ];
    for (what, evt) in &variants {
        // The problem: the verifier accepts the variant under the same event id ...
        assert_eq!(evt.event_id, orig.event_id, "{what}");
        verify_event(evt, &opts()).unwrap_or_else(|e| panic!("{what}: {e:?}"));
        assert_ne!(
            evt.to_value().to_json_ordered(),
            want,
            "{what}: the variant is a different byte form"
        );
        // ... the rule: one byte form, which still verifies with the same id.
        assert_eq!(evt.canonical_json().unwrap(), want, "{what}");
        let canon = evt.canonical().unwrap();
        assert_eq!(canon.computed_event_id(), orig.event_id, "{what}");
        verify_event(&canon, &opts()).unwrap();
    }
}

#[test]
fn type_confused_variants_are_refused() {
    let orig = original();
    // A timestamp as a JSON string renders the same Python str() (same id): refused.
    let ts = variant(|v| set(v, "timestamp", Value::from("1780000073.0")));
    assert_eq!(ts.event_id, orig.event_id);
    assert_eq!(ts.computed_event_id(), orig.event_id);
    assert_eq!(ts.canonical_json(), Err(NonCanonical::TimestampNotNumber));
    let seq = variant(|v| set(v, "sequence", Value::from("1")));
    assert_eq!(seq.computed_event_id(), orig.event_id);
    assert_eq!(seq.canonical_json(), Err(NonCanonical::SequenceNotInteger));
    let proto = variant(|v| set(v, "protocol_version", Value::from("infonet/3")));
    assert_eq!(proto.canonical_json(), Err(NonCanonical::ProtocolVersion));
    let algo = variant(|v| set(v, "public_key_algo", Value::from("rsa")));
    assert_eq!(algo.canonical_json(), Err(NonCanonical::UnknownAlgo));
}

/// Shadowbroker's own chain: every event's canonical form keeps its id and still verifies
/// (its spellings of public_key_algo are rewritten to the canonical labels).
#[test]
fn shadowbroker_chain_canonicalises_without_changing_ids() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vectors/shadowbroker/sb-interleaved-chain.json"
    );
    let text = std::fs::read(path).expect("shared vectors");
    let doc = parse(&text).unwrap();
    let events = doc.get("events").unwrap().as_array().unwrap();
    assert_eq!(events.len(), 400);
    for v in events {
        let e = ChainEvent::from_value(v).unwrap();
        let c = e.canonical().unwrap();
        assert_eq!(c.computed_event_id(), e.event_id);
        assert_eq!(c.canonical().unwrap(), c, "canonical form is a fixed point");
    }
}
