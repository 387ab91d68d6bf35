//! Schema rule tests against the reference wording and property tests.

use super::*;
use crate::json::parse;
use base64::Engine as _;
use proptest::prelude::*;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vectors/shadowbroker/schema_rejection_vectors.json"
    );
    parse(&std::fs::read(path).unwrap()).unwrap()
}

fn run_vector(case: &Value) -> Result<(), SchemaError> {
    check_case(case)
}

#[test]
fn all_rejection_vectors() {
    let v = vectors();
    let mut n = 0;
    for (name, case) in v.as_object().unwrap() {
        if name.starts_with('_') {
            continue;
        }
        n += 1;
        let err = run_vector(case).expect_err(name);
        let want = case
            .get("expected_reason_contains")
            .unwrap()
            .as_str()
            .unwrap();
        assert!(err.to_string().contains(want), "{name}: {err}");
    }
    assert_eq!(n, 16);
}

fn sealed(len: usize) -> String {
    let bytes: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(151).wrapping_add(17))
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn gate(extra: &[(&str, Value)]) -> Value {
    let mut p = parse(br#"{"gate":"finance","ciphertext":"","nonce":"","sender_ref":"r","format":"mls1","epoch":2}"#).unwrap();
    p.insert("ciphertext", Value::Str(sealed(48)));
    p.insert("nonce", Value::Str(sealed(12)));
    for (k, v) in extra {
        p.insert(k, v.clone());
    }
    p
}

#[test]
fn valid_gate_payload_passes() {
    check_payload("gate_message", &gate(&[])).unwrap();
    check_payload("gate_message", &gate(&[("transport_lock", "rns".into())])).unwrap();
}

// Fault-injection checklist (the scenarios that apply to payload rules).
#[test]
fn fault_empty_ciphertext() {
    let e = check_payload("gate_message", &gate(&[("ciphertext", "".into())])).unwrap_err();
    assert!(e.to_string().contains("ciphertext"));
}
#[test]
fn fault_truncated_and_corrupted_ciphertext_shapes() {
    // Truncated to 16 bytes: still shaped like sealed bytes (decryption is what fails).
    check_payload(
        "gate_message",
        &gate(&[("ciphertext", Value::Str(sealed(16)))]),
    )
    .unwrap();
    let e = check_payload(
        "gate_message",
        &gate(&[("ciphertext", Value::Str(sealed(4)))]),
    )
    .unwrap_err();
    assert_eq!(e, SchemaError::SealedTooShort("ciphertext".into()));
    let e = check_payload(
        "gate_message",
        &gate(&[("ciphertext", "not base64!".into())]),
    )
    .unwrap_err();
    assert_eq!(e, SchemaError::NotSealedBytes("ciphertext".into()));
}
#[test]
fn fault_oversized_ciphertext() {
    let big = sealed(1 << 20);
    let e = check_payload(
        "gate_message",
        &gate(&[("ciphertext", Value::Str(big.clone()))]),
    )
    .unwrap_err();
    assert_eq!(e, SchemaError::PayloadTooLarge);
    let mut dm = parse(br#"{"recipient_id":"!sb_x","delivery_class":"shared","recipient_token":"t","msg_id":"m","timestamp":1,"format":"mls1","transport_lock":"private_strong"}"#).unwrap();
    dm.insert("ciphertext", Value::Str(sealed(7000)));
    assert_eq!(
        check_payload("dm_message", &dm).unwrap_err(),
        SchemaError::PayloadTooLarge
    );
    assert_eq!(
        validate_for_append("dm_message", &dm, true).unwrap_err(),
        SchemaError::CiphertextTooLong
    );
}
#[test]
fn fault_format_downgrades() {
    let e = check_payload(
        "gate_message",
        &gate(&[("format", "legacy_cleartext".into())]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("format"));
    let dm = parse(br#"{"format":"dm1"}"#).unwrap();
    assert_eq!(
        check_dm_format_lock(&dm, true),
        Err(SchemaError::FormatDowngrade)
    );
    assert!(check_dm_format_lock(&dm, false).is_ok());
}
#[test]
fn fault_tier_spoof_is_clamped() {
    let c = PrivacyTier::parse("private_strong").unwrap();
    assert_eq!(
        clamp_tier(c, PrivacyTier::PublicDegraded),
        PrivacyTier::PublicDegraded
    );
    assert_eq!(
        clamp_tier(c, PrivacyTier::PrivateTransitional).as_str(),
        "private_transitional"
    );
}
#[test]
fn fault_forbidden_field_injection() {
    let base = br#"{"message":"hi","destination":"broadcast","channel":"LongFast","priority":"normal","ephemeral":false}"#;
    for (k, v) in [
        ("ip_address", "10.0.0.1"),
        ("transport_lock", "meshtastic"),
        ("session_key", "s3cret"),
    ] {
        let mut p = parse(base).unwrap();
        p.insert(k, v.into());
        let e = validate_public_ledger_payload("message", &p).unwrap_err();
        assert!(e.to_string().contains("forbidden"), "{k}");
        assert!(check_payload("message", &p).is_err());
    }
    check_payload("message", &parse(base).unwrap()).unwrap();
}
#[test]
fn plaintext_tripwires_and_encoded_plaintext() {
    for k in GATE_PLAINTEXT_TRIPWIRES {
        assert!(check_payload("gate_message", &gate(&[(k, "x".into())])).is_err());
    }
    let text = base64::engine::general_purpose::STANDARD
        .encode("this is clearly a plaintext sentence, not ciphertext");
    let e = check_payload("gate_message", &gate(&[("ciphertext", Value::Str(text))])).unwrap_err();
    assert_eq!(e, SchemaError::EncodedPlaintext("ciphertext".into()));
    let low = base64::engine::general_purpose::STANDARD.encode([0u8, 1, 0xff, 0xfe].repeat(10));
    let e = check_payload("gate_message", &gate(&[("ciphertext", Value::Str(low))])).unwrap_err();
    assert_eq!(e, SchemaError::LowEntropy("ciphertext".into()));
}
#[test]
fn base64ish_forms() {
    assert_eq!(decode_base64ish("ZmFrZQ").unwrap(), b"fake");
    assert_eq!(decode_base64ish("ZmFrZQ==").unwrap(), b"fake");
    assert_eq!(
        decode_base64ish("-_-_").unwrap(),
        decode_base64ish("+/+/").unwrap()
    );
    assert!(decode_base64ish("Zm Fr").is_none());
    assert!(decode_base64ish("Z").is_none());
    assert!(decode_base64ish("ZmFrZQ===").is_none());
    assert!(decode_base64ish("Zm=rZQ==").is_none());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn schema_never_panics(s in "[ -~]{0,200}", et in prop::sample::select(SCHEMA_EVENT_TYPES)) {
        if let Ok(v) = parse(s.as_bytes()) {
            let _ = check_payload(et, &v);
            let _ = validate_for_append(et, &v, true);
        }
        let _ = decode_base64ish(&s);
    }
}
