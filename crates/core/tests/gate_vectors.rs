//! Known-answer vectors for private gates (`docs/vectors/gate-v1.json`).
//!
//! `vectors_regenerate_byte_identical` rebuilds the file from fixed keys and a fixed
//! deterministic RNG and compares it byte for byte with the committed copy; run it with
//! `POSTERN_WRITE_VECTORS=1` (natively) to rewrite the file after an intended format change.
//! `committed_vectors_verify_and_open` checks the committed file independently of the RNG.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

mod common;

use common::{TestRng, TEST_RNG_LABEL};
use postern_core::b64;
use postern_core::gate::{
    self, create_genesis, rotate, verify_epoch_chain, EpochKey, EpochRecord, GateId, GateMessage,
    GateState, Reason, Role, UnwrapError,
};
use postern_core::identity::Identity;
use serde_json::{json, Value};

const COMMITTED: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../docs/vectors/gate-v1.json"
));
const SEED: [u8; 32] = *b"postern/gate-v1 vectors seed 000";
const T0: u64 = 1_780_000_000;

/// (name, Ed25519 seed, X25519 secret)
const PEOPLE: [(&str, [u8; 32], [u8; 32]); 3] = [
    ("founder", [0x11; 32], [0x12; 32]),
    ("bob", [0x21; 32], [0x22; 32]),
    ("carol", [0x31; 32], [0x32; 32]),
];

fn identities() -> Vec<(&'static str, Identity)> {
    PEOPLE
        .iter()
        .map(|(n, ed, x)| (*n, Identity::from_secrets(ed, x)))
        .collect()
}

fn epoch_json(record: &EpochRecord, secret: &[u8; 32], members: &[&str]) -> Value {
    let e = record.verify().unwrap();
    json!({
        "record": record,
        "signed_bytes_hex": hex::encode(e.signed_bytes()),
        "signature_hex": hex::encode(e.signature()),
        "roster_hash_hex": hex::encode(e.roster().hash()),
        "epoch_hash_hex": hex::encode(e.hash()),
        "secret_hex": hex::encode(secret),
        "members": members,
    })
}

fn generate() -> String {
    let ids = identities();
    let (founder, bob, carol) = (&ids[0].1, &ids[1].1, &ids[2].1);
    let mut rng = TestRng::new(SEED);

    let gate = GateId::generate(&mut rng);
    let r1 = create_genesis(founder, &gate, T0, &mut rng).unwrap();
    let mut state = GateState::from_genesis(&r1).unwrap();
    let e1 = state.head().clone();
    let roster2 = e1.roster().with_member(bob.public(), Role::Member).unwrap();
    let r2 = rotate(founder, &e1, roster2, Reason::Join, T0 + 60, &mut rng).unwrap();
    let e2 = state.apply(&r2).unwrap();
    let roster3 = e2
        .roster()
        .with_member(carol.public(), Role::Admin)
        .unwrap()
        .without_member(&bob.node_id())
        .unwrap();
    let r3 = rotate(founder, &e2, roster3, Reason::Kick, T0 + 120, &mut rng).unwrap();
    let e3 = state.apply(&r3).unwrap();

    let k1 = EpochKey::unlock(founder, &e1).unwrap();
    let k2 = EpochKey::unlock(bob, &e2).unwrap();
    let k3 = EpochKey::unlock(carol, &e3).unwrap();
    let body2 = "hello gate, this is bob in epoch 2";
    let body3 = "carol here: bob was removed in epoch 3";
    let m2 = gate::seal(bob, &k2, body2.as_bytes(), T0 + 90, &mut rng).unwrap();
    let m3 = gate::seal(carol, &k3, body3.as_bytes(), T0 + 150, &mut rng).unwrap();

    let people: serde_json::Map<String, Value> = ids
        .iter()
        .zip(PEOPLE.iter())
        .map(|((name, id), (_, ed, x))| {
            (
                name.to_string(),
                json!({
                    "ed25519_seed_hex": hex::encode(ed),
                    "x25519_secret_hex": hex::encode(x),
                    "node_id": id.node_id(),
                    "ed25519_public_b64": b64::encode_std(id.verifying_key().as_bytes()),
                    "x25519_public_b64": b64::encode_std(id.dh_public().as_bytes()),
                }),
            )
        })
        .collect();
    let v = json!({
        "format": "postern-gate-vectors/1",
        "description": "Private gates (postern-gate/1): a founder creates a gate, adds bob (epoch 2), adds carol as admin and removes bob (epoch 3); bob posts in epoch 2, carol in epoch 3. See docs/protocol.md § Private gates.",
        "rng": {
            "construction": "block_i = sha256(label || seed || u64be(i)), i = 0, 1, ...; output = block_0 || block_1 || ... (test-only, not secure)",
            "label": String::from_utf8_lossy(TEST_RNG_LABEL),
            "seed_hex": hex::encode(SEED),
            "draw_order": "gate id (16 bytes); per epoch: secret (32), then one slot nonce (12) per roster member in roster order; per message: nonce (16)",
        },
        "identities": people,
        "gate": gate.as_str(),
        "epochs": [
            epoch_json(&r1, k1.secret().expose_secret(), &["founder"]),
            epoch_json(&r2, k2.secret().expose_secret(), &["founder", "bob"]),
            epoch_json(&r3, k3.secret().expose_secret(), &["founder", "carol"]),
        ],
        "unwrap_errors": [{"epoch": 3, "member": "bob", "error": "NotAMember"}],
        "messages": [
            {"author": "bob", "epoch": 2, "timestamp": T0 + 90, "plaintext": body2, "payload": m2},
            {"author": "carol", "epoch": 3, "timestamp": T0 + 150, "plaintext": body3, "payload": m3},
        ],
    });
    let mut out = serde_json::to_string_pretty(&v).unwrap();
    out.push('\n');
    out
}

#[test]
fn vectors_regenerate_byte_identical() {
    let fresh = generate();
    #[cfg(not(target_arch = "wasm32"))]
    if std::env::var("POSTERN_WRITE_VECTORS").as_deref() == Ok("1") {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/vectors/gate-v1.json"
        );
        std::fs::write(path, &fresh).unwrap();
        return;
    }
    assert!(
        fresh == COMMITTED,
        "docs/vectors/gate-v1.json is stale: rerun with POSTERN_WRITE_VECTORS=1"
    );
    // Generation is deterministic.
    assert_eq!(fresh, generate());
}

fn hexv(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

#[test]
fn committed_vectors_verify_and_open() {
    let v: Value = serde_json::from_str(COMMITTED).unwrap();
    let mut people = std::collections::BTreeMap::new();
    for (name, p) in v["identities"].as_object().unwrap() {
        let ed: [u8; 32] = hexv(&p["ed25519_seed_hex"]).try_into().unwrap();
        let x: [u8; 32] = hexv(&p["x25519_secret_hex"]).try_into().unwrap();
        let id = Identity::from_secrets(&ed, &x);
        assert_eq!(id.node_id(), p["node_id"].as_str().unwrap());
        assert_eq!(
            b64::encode_std(id.dh_public().as_bytes()),
            p["x25519_public_b64"].as_str().unwrap()
        );
        people.insert(name.clone(), id);
    }
    let epochs = v["epochs"].as_array().unwrap();
    let records: Vec<EpochRecord> = epochs
        .iter()
        .map(|e| serde_json::from_value(e["record"].clone()).unwrap())
        .collect();
    let state = verify_epoch_chain(&records).unwrap();
    assert_eq!(state.gate().as_str(), v["gate"].as_str().unwrap());
    let mut keys = Vec::new();
    for (i, (e, r)) in epochs.iter().zip(&records).enumerate() {
        let epoch = r.verify().unwrap();
        assert_eq!(epoch.number(), i as u64 + 1);
        assert_eq!(epoch.signed_bytes(), &hexv(&e["signed_bytes_hex"])[..]);
        assert_eq!(&epoch.signature()[..], &hexv(&e["signature_hex"])[..]);
        assert_eq!(&epoch.roster().hash()[..], &hexv(&e["roster_hash_hex"])[..]);
        assert_eq!(&epoch.hash()[..], &hexv(&e["epoch_hash_hex"])[..]);
        assert_eq!(state.epoch_hash(epoch.number()), Some(epoch.hash()));
        let secret = hexv(&e["secret_hex"]);
        let members: Vec<&str> = e["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        for (name, id) in &people {
            match epoch.open_secret(id) {
                Ok(s) => {
                    assert!(
                        members.contains(&name.as_str()),
                        "{name} unwrapped epoch {}",
                        i + 1
                    );
                    assert_eq!(&s.expose_secret()[..], &secret[..]);
                }
                Err(err) => {
                    assert!(
                        !members.contains(&name.as_str()),
                        "{name} failed epoch {}: {err}",
                        i + 1
                    );
                    assert_eq!(
                        err,
                        UnwrapError::NotAMember {
                            epoch: epoch.number()
                        }
                    );
                }
            }
        }
        keys.push(EpochKey::unlock(&people["founder"], &epoch).unwrap());
    }
    for m in v["messages"].as_array().unwrap() {
        let payload: GateMessage = serde_json::from_value(m["payload"].clone()).unwrap();
        payload.validate().unwrap();
        let key = &keys[(m["epoch"].as_u64().unwrap() - 1) as usize];
        let opened = gate::open(key, &payload).unwrap();
        assert_eq!(opened.text().unwrap(), m["plaintext"].as_str().unwrap());
        assert_eq!(opened.timestamp, m["timestamp"].as_u64().unwrap());
        assert_eq!(
            opened.member_id,
            people[m["author"].as_str().unwrap()].node_id()
        );
    }
}
