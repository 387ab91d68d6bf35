//! The shortcuts a relay takes when it prepares pulled or pushed events give exactly the
//! long way's answers: `ChainEvent::to_json_ordered` is `to_value().to_json_ordered()` byte for
//! byte, `into_canonical` is `canonical`, and `first_crypto_failure_known_ids` (ids compared
//! once by the caller) is `first_crypto_failure_with` on every fault.
//! Native only (proptest).
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use postern_core::chaingen::{generate_chain, GenOptions};
use postern_core::event::ChainEvent;
use postern_core::json::{parse, Value};
use postern_core::verify::{
    first_crypto_failure_known_ids, first_crypto_failure_with, FailReason, KeyCache,
};
use proptest::prelude::*;

fn chain(n: usize) -> Vec<ChainEvent> {
    generate_chain(
        n,
        GenOptions {
            authors: 3,
            include_gate_messages: true,
            ..GenOptions::default()
        },
    )
}

fn flip(h: &str) -> String {
    let first = if h.starts_with('0') { '1' } else { '0' };
    format!("{first}{}", h.get(1..).unwrap_or(""))
}

fn ids_ok(events: &[ChainEvent]) -> Vec<bool> {
    events
        .iter()
        .map(|e| e.computed_event_id() == e.event_id)
        .collect()
}

/// Both ways, with a cache kept across calls and a fresh one.
fn assert_same_crypto(events: &[ChainEvent], label: &str) -> Option<(usize, FailReason)> {
    let long = first_crypto_failure_with(events, &mut KeyCache::default());
    let mut cache = KeyCache::default();
    for _ in 0..2 {
        let short = first_crypto_failure_known_ids(events, &ids_ok(events), &mut cache);
        assert_eq!(short, long, "{label}");
    }
    long
}

#[test]
fn generated_events_render_and_canonicalise_the_same() {
    for e in chain(300) {
        assert_eq!(e.to_json_ordered(), e.to_value().to_json_ordered());
        let canon = e.canonical().unwrap();
        assert_eq!(e.clone().into_canonical().unwrap(), canon);
        assert_eq!(canon.to_json_ordered(), e.canonical_json().unwrap());
    }
}

/// An edit of one event.
type Fault = Box<dyn Fn(&mut ChainEvent)>;

#[test]
fn known_ids_give_the_same_first_failure_on_every_fault() {
    let events = chain(400);
    assert_eq!(assert_same_crypto(&events, "valid"), None);
    for at in [0usize, 1, 199, 200, 399] {
        let faults: Vec<(&str, Fault)> = vec![
            (
                "bad signature",
                Box::new(|e| e.signature = flip(&e.signature)),
            ),
            ("bad id", Box::new(|e| e.event_id = flip(&e.event_id))),
            (
                "falsy timestamp",
                Box::new(|e| e.timestamp = Value::from(0u64)),
            ),
            ("null timestamp", Box::new(|e| e.timestamp = Value::Null)),
            (
                "unknown algo",
                Box::new(|e| e.public_key_algo = "RSA".into()),
            ),
            ("bad key", Box::new(|e| e.public_key = "AAAA".into())),
            (
                "payload changed",
                Box::new(|e| e.payload.insert("x", Value::from(1u64))),
            ),
            ("short signature", Box::new(|e| e.signature = "00".into())),
        ];
        for (label, f) in &faults {
            let mut bad = events.clone();
            f(&mut bad[at]);
            let got = assert_same_crypto(&bad, label);
            if *label != "unknown algo" {
                assert!(
                    got.is_some_and(|(i, _)| i <= at),
                    "{label} at {at}: {got:?}"
                );
            }
            // Two faults: the first one is reported, both ways.
            let mut two = bad.clone();
            let later = (at + 57).min(two.len() - 1);
            two[later].signature = flip(&two[later].signature);
            assert_same_crypto(&two, label);
        }
    }
}

fn json_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("\"".to_string()),
            Just("\\".to_string()),
            Just("\n".to_string()),
            Just("\u{1}".to_string()),
            Just("\u{7f}".to_string()),
            Just("é".to_string()),
            Just("\u{2028}".to_string()),
            Just("😀".to_string()),
            "[a-z0-9 ]{0,4}",
        ],
        0..6,
    )
    .prop_map(|parts| parts.concat())
}

fn json_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e300f64..1e300).prop_map(|f| parse(format!("{f:?}").as_bytes()).unwrap()),
        json_text().prop_map(Value::Str),
        Just(parse(b"123456789012345678901234567890").unwrap()),
        Just(parse(b"1e-7").unwrap()),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((json_text(), inner), 0..4).prop_map(|m| {
                let mut o = Value::object();
                for (k, v) in m {
                    o.insert(&k, v);
                }
                o
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any field contents (escapes, control characters, non-ASCII, big and float numbers,
    /// nested payloads): the direct rendering is the `Value` rendering.
    #[test]
    fn any_event_renders_the_same(
        strs in prop::collection::vec(json_text(), 9),
        payload in json_value(),
        timestamp in json_scalar(),
        sequence in json_scalar(),
    ) {
        let e = ChainEvent {
            event_id: strs[0].clone(),
            prev_hash: strs[1].clone(),
            event_type: strs[2].clone(),
            node_id: strs[3].clone(),
            payload,
            timestamp,
            sequence,
            signature: strs[4].clone(),
            network_id: strs[5].clone(),
            public_key: strs[6].clone(),
            public_key_algo: strs[7].clone(),
            protocol_version: strs[8].clone(),
        };
        prop_assert_eq!(e.to_json_ordered(), e.to_value().to_json_ordered());
        prop_assert_eq!(e.clone().into_canonical(), e.canonical());
    }
}
