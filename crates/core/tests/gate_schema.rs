//! Cross-module rule: what the gate module seals must pass the Infonet schema rules that the
//! relay and the browser apply to `gate_message` payloads (private lane), at every size bucket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use postern_core::gate::{self, create_genesis, EpochKey, GateId, GateState};
use postern_core::identity::Identity;
use postern_core::{json, schema};
use rand_core::OsRng;

#[test]
fn sealed_gate_messages_pass_core_schema() {
    let founder = Identity::generate(&mut OsRng);
    let gate_id = GateId::generate(&mut OsRng);
    let genesis = create_genesis(&founder, &gate_id, 1_780_000_000, &mut OsRng).unwrap();
    let state = GateState::from_genesis(&genesis).unwrap();
    let key = EpochKey::unlock(&founder, state.head()).unwrap();
    for len in [0usize, 1, 100, 500, 1500, 2000, gate::MAX_BODY_LEN] {
        let body = vec![b'x'; len];
        let msg = gate::seal(&founder, &key, &body, 1_780_000_001, &mut OsRng).unwrap();
        let payload = json::parse(msg.to_json().unwrap().as_bytes()).unwrap();
        schema::check_payload("gate_message", &payload)
            .unwrap_or_else(|e| panic!("len {len}: {e}"));
        schema::validate_for_append("gate_message", &payload, true)
            .unwrap_or_else(|e| panic!("len {len}: {e}"));
    }
}
