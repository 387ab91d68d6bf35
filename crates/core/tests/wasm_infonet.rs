#![cfg(all(target_arch = "wasm32", target_os = "unknown"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The canonical / verify / Merkle / RFC 9162 checks, in headless Chromium.

use postern_core::canonical::{signature_string_with_network, NETWORK_ID};
use postern_core::chaingen::{generate_chain, GenOptions};
use postern_core::cli::{merkle_root_json, schema_check_json, sig_string_json, verify_chain_json};
use postern_core::json::{parse, Value};
use postern_core::merkle::{merkle_proof, merkle_root, verify_proof, ProofStep};
use postern_core::verify::{verify_chain, FailReason, VerifyOptions};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const CANONICAL: &str =
    include_str!("../../../../shared/vectors/shadowbroker/mesh-canonical-fixtures.json");
const MERKLE: &str =
    include_str!("../../../../shared/vectors/shadowbroker/mesh-merkle-fixtures.json");
const SCHEMA: &str =
    include_str!("../../../../shared/vectors/shadowbroker/schema_rejection_vectors.json");
const INCLUSION_HAPPY: &str = include_str!(
    "../../../../shared/vectors/transparency-dev/testdata/inclusion/3/happy-path.json"
);
const INCLUSION_BAD: &str = include_str!("../../../../shared/vectors/transparency-dev/testdata/inclusion/3/modified-proof[0]-bit-@3.json");
const CONSISTENCY_HAPPY: &str = include_str!(
    "../../../../shared/vectors/transparency-dev/testdata/consistency/3/happy-path.json"
);
const CONSISTENCY_BAD: &str = include_str!(
    "../../../../shared/vectors/transparency-dev/testdata/consistency/3/swapped-roots.json"
);

#[wasm_bindgen_test]
fn canonical_fixtures_in_browser() {
    let f = parse(CANONICAL.as_bytes()).unwrap();
    let cases = f.as_array().unwrap();
    assert_eq!(cases.len(), 11);
    for c in cases {
        let got = signature_string_with_network(
            NETWORK_ID,
            c.get("event_type").unwrap().as_str().unwrap(),
            c.get("node_id").unwrap().as_str().unwrap(),
            &c.get("sequence").unwrap().py_str(),
            c.get("payload").unwrap(),
        );
        assert_eq!(got, c.get("expected").unwrap().as_str().unwrap());
    }
    let r = sig_string_json(CANONICAL.as_bytes());
    assert_eq!(r.exit_code, 0);
}

#[wasm_bindgen_test]
fn merkle_fixtures_in_browser() {
    let f = parse(MERKLE.as_bytes()).unwrap();
    let leaves: Vec<String> = f
        .get("leaves")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(Value::py_str)
        .collect();
    let root = f.get("root").unwrap().as_str().unwrap();
    assert_eq!(merkle_root(&leaves), root);
    for (idx, steps) in f.get("proofs").unwrap().as_object().unwrap() {
        let i: usize = idx.parse().unwrap();
        let want: Vec<ProofStep> = serde_json::from_value(serde_json::Value::from(steps)).unwrap();
        assert_eq!(merkle_proof(&leaves, i).unwrap(), want);
        assert!(verify_proof(&leaves[i], &want, root));
    }
    let r = merkle_root_json(br#"["a","b","c","d","e"]"#);
    assert!(r.stdout.contains(root));
}

#[wasm_bindgen_test]
fn schema_vectors_in_browser() {
    let v = parse(SCHEMA.as_bytes()).unwrap();
    let cases: Vec<&Value> = v
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .map(|(_, c)| c)
        .collect();
    assert_eq!(cases.len(), 16);
    for c in &cases {
        let err = postern_core::schema::check_case(c).unwrap_err().to_string();
        assert!(
            err.contains(c.get("expected_reason_contains").unwrap().as_str().unwrap()),
            "{err}"
        );
    }
    let input = Value::Array(cases.into_iter().cloned().collect()).to_json_ordered();
    assert!(!schema_check_json(input.as_bytes())
        .stdout
        .contains("\"ok\":true"));
}

#[wasm_bindgen_test]
fn chain_verification_in_browser() {
    let chain = generate_chain(64, GenOptions::default());
    let opts = VerifyOptions::at(1_780_000_100);
    let r = verify_chain(&chain, &opts);
    assert!(r.valid, "{:?}", r.error);
    let mut bad = chain.clone();
    bad[40].signature = "00".repeat(64);
    let r = verify_chain(&bad, &opts);
    let e = r.error.unwrap();
    assert_eq!((e.index, e.reason), (40, FailReason::InvalidSignature));
    let arr = Value::Array(chain.iter().map(|e| e.to_value()).collect()).to_json_ordered();
    assert_eq!(
        verify_chain_json(arr.as_bytes(), Some(1_780_000_100)).exit_code,
        0
    );
    assert_eq!(verify_chain_json(b"[", Some(0)).exit_code, 2);
}

fn b64(v: &Value) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap()
}

fn proof(v: &Value) -> Vec<Vec<u8>> {
    v.get("proof")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(b64).collect())
        .unwrap_or_default()
}

fn n(v: &Value, k: &str) -> u64 {
    v.get(k).unwrap().py_int().unwrap().to_u64().unwrap()
}

#[wasm_bindgen_test]
fn rfc9162_vectors_in_browser() {
    use postern_core::rfc9162::{verify_consistency, verify_inclusion};
    for (text, want_ok) in [(INCLUSION_HAPPY, true), (INCLUSION_BAD, false)] {
        let v = parse(text.as_bytes()).unwrap();
        let r = verify_inclusion(
            n(&v, "leafIdx"),
            n(&v, "treeSize"),
            &b64(v.get("leafHash").unwrap()),
            &proof(&v),
            &b64(v.get("root").unwrap()),
        );
        assert_eq!(r.is_ok(), want_ok);
    }
    for (text, want_ok) in [(CONSISTENCY_HAPPY, true), (CONSISTENCY_BAD, false)] {
        let v = parse(text.as_bytes()).unwrap();
        let r = verify_consistency(
            n(&v, "size1"),
            n(&v, "size2"),
            &proof(&v),
            &b64(v.get("root1").unwrap()),
            &b64(v.get("root2").unwrap()),
        );
        assert_eq!(r.is_ok(), want_ok);
    }
}
