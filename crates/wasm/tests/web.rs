#![cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use postern_wasm::Identity;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn dm_round_trip_through_js_api() {
    let alice = Identity::generate();
    let bob = Identity::generate();
    let env = alice.seal_dm(&bob.public_identity(), b"hi bob", 1_780_000_000.0).unwrap();
    let opened = bob.open_dm(&env).unwrap();
    assert_eq!(opened.body, b"hi bob");
    assert_eq!(opened.sender, alice.public_identity());
    let again = Identity::import_secret(&bob.export_secret()).unwrap();
    assert_eq!(again.node_id(), bob.node_id());
}

#[wasm_bindgen_test]
fn errors_carry_stable_codes() {
    let alice = Identity::generate();
    let err = alice.open_dm("{}").err().unwrap();
    let code = js_sys::Reflect::get(&err, &JsValue::from_str("code")).unwrap();
    assert_eq!(code.as_string().as_deref(), Some("dm_envelope_invalid"));
    let err = alice.seal_dm("nope", b"x", 0.0).err().unwrap();
    let code = js_sys::Reflect::get(&err, &JsValue::from_str("code")).unwrap();
    assert_eq!(code.as_string().as_deref(), Some("identity_invalid"));
}
