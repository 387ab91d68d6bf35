//! Infonet/2 canonical forms: per-type payload normalisation, the signed string, event ids and
//! node-id binding.
//!
//! Rules (from Shadowbroker's public mesh protocol):
//! * `normalize_payload` rebuilds the payload of each known event type from a fixed list of
//!   fields, coercing values the way the Python reference does (`str()`, `int()`, `bool()`,
//!   float-or-int for amounts, lower-casing of ids and enums). Unknown event types pass through.
//! * signed string: `infonet/2|{network}|{event_type}|{node_id}|{sequence}|{canonical(normalized)}`
//!   (for `gate_message` the `gate_envelope` is never signed).
//! * event id: `sha256("{prev_hash}:{event_type}:{node_id}:{canonical(raw payload)}:{str(timestamp)}:{str(sequence)}:{network_id}")`
//!   over the payload *as stored* (not re-normalised), timestamp rendered as Python `str()`.
//! * node id: `"!sb_"` + first 32 hex chars of `sha256(raw public key)`.

mod normalize;

pub use normalize::{
    gate_signature_payload_variants, normalize_dm_message_legacy, normalize_payload,
    safe_int_value, DEFAULT_DM_FORMAT, DEFAULT_GATE_FORMAT, GATE_ENVELOPE_FIELD,
    NORMALIZED_EVENT_TYPES, SIGNED_CONTEXT_FIELD,
};

use sha2::{Digest, Sha256};

use crate::json::{py_strip, Value};

/// Protocol version label.
pub const PROTOCOL_VERSION: &str = "infonet/2";
/// Network id of the public test network.
pub const NETWORK_ID: &str = "sb-testnet-0";
/// `prev_hash` of the first event (and the locator's terminal entry / empty-chain root).
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Prefix of every node id.
pub const NODE_ID_PREFIX: &str = "!sb_";
/// Number of hex digits of the key digest in a node id.
pub const NODE_ID_HEX_LEN: usize = 32;
/// Separator of the signed string.
pub const SIGNATURE_FIELD_SEPARATOR: char = '|';

/// The string an author signs, over an already-rendered sequence (`str(sequence)`).
pub fn signature_string_with_network(
    network_id: &str,
    event_type: &str,
    node_id: &str,
    sequence: &str,
    payload: &Value,
) -> String {
    let mut normalized = normalize_payload(event_type, payload);
    if event_type == "gate_message" {
        normalized.remove(GATE_ENVELOPE_FIELD);
    }
    format!(
        "{PROTOCOL_VERSION}|{network_id}|{event_type}|{node_id}|{sequence}|{}",
        normalized.to_canonical()
    )
}

/// `infonet/2|sb-testnet-0|{event_type}|{node_id}|{sequence}|{canonical(normalized payload)}`.
pub fn signature_string(event_type: &str, node_id: &str, sequence: u64, payload: &Value) -> String {
    signature_string_with_network(
        NETWORK_ID,
        event_type,
        node_id,
        &sequence.to_string(),
        payload,
    )
}

/// Event id over the fields exactly as stored (timestamp and sequence rendered with Python `str()`).
pub fn compute_event_id(
    prev_hash: &str,
    event_type: &str,
    node_id: &str,
    payload: &Value,
    timestamp: &Value,
    sequence: &Value,
    network_id: &str,
) -> String {
    let material = format!(
        "{prev_hash}:{event_type}:{node_id}:{}:{}:{}:{network_id}",
        payload.to_canonical(),
        timestamp.py_str(),
        sequence.py_str()
    );
    hex::encode(Sha256::digest(material.as_bytes()))
}

/// `"!sb_"` + first 32 hex of sha256(raw public key).
pub fn node_id_from_public_key(raw_public_key: &[u8]) -> String {
    let digest = hex::encode(Sha256::digest(raw_public_key));
    format!("{NODE_ID_PREFIX}{}", &digest[..NODE_ID_HEX_LEN])
}

/// Python `base64.b64decode(s)` in its default (non-validating) mode: characters outside the
/// alphabet are discarded, data ends at the first complete padding, padding must be correct.
pub fn py_b64decode_lenient(s: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    if !s.is_ascii() {
        // Python refuses non-ASCII text before decoding.
        return None;
    }
    let mut data = String::new();
    let mut pads = 0usize;
    for c in s.chars() {
        if c == '=' {
            pads += 1;
            let rem = data.len() % 4;
            if (rem == 2 && pads >= 2) || (rem == 3 && pads >= 1) {
                break;
            }
            continue;
        }
        if c.is_ascii_alphanumeric() || c == '+' || c == '/' {
            if pads > 0 && data.len() % 4 >= 2 {
                // Padding started mid-quantum and was not completed: Python reports bad padding.
                return None;
            }
            pads = 0;
            data.push(c);
        }
    }
    let rem = data.len() % 4;
    if rem == 1 {
        return None;
    }
    if rem == 2 && pads < 2 || rem == 3 && pads < 1 {
        return None;
    }
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(data.as_bytes())
        .ok()
        .or_else(|| {
            // Non-zero trailing bits are tolerated by Python: decode leniently.
            base64::engine::GeneralPurpose::new(
                &base64::alphabet::STANDARD,
                base64::engine::GeneralPurposeConfig::new()
                    .with_decode_allow_trailing_bits(true)
                    .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone),
            )
            .decode(data.as_bytes())
            .ok()
        })
}

/// Does `node_id` equal the id derived from `public_key_b64` (current 32-hex form only; the
/// legacy 16-hex compatibility form is blocked by default in the reference)?
pub fn verify_node_binding(node_id: &str, public_key_b64: &str) -> bool {
    match py_b64decode_lenient(public_key_b64) {
        Some(raw) => py_strip(node_id) == node_id_from_public_key(&raw),
        None => false,
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::json::parse;

    fn fixtures() -> Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/vectors/shadowbroker/mesh-canonical-fixtures.json"
        );
        parse(&std::fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn all_canonical_fixtures() {
        let f = fixtures();
        let cases = f.as_array().unwrap();
        assert_eq!(cases.len(), 11);
        for c in cases {
            let et = c.get("event_type").unwrap().as_str().unwrap();
            let node = c.get("node_id").unwrap().as_str().unwrap();
            let seq = c.get("sequence").unwrap().py_str();
            let got = signature_string_with_network(
                NETWORK_ID,
                et,
                node,
                &seq,
                c.get("payload").unwrap(),
            );
            assert_eq!(
                got,
                c.get("expected").unwrap().as_str().unwrap(),
                "{}",
                c.get("name").unwrap().py_str()
            );
        }
    }

    #[test]
    fn gate_variants_drop_envelope_and_context() {
        let p = parse(br#"{"gate":"G","ciphertext":"c","nonce":"n","sender_ref":"s","epoch":3,"reply_to":"r","gate_envelope":"e","signed_context":{"kind":"x"}}"#).unwrap();
        let v = gate_signature_payload_variants(&p);
        assert_eq!(v.len(), 4);
        for x in &v {
            assert!(!x.contains_key("gate_envelope"));
            assert!(!x.contains_key("signed_context"));
        }
        assert!(v[0].contains_key("reply_to") && v[0].contains_key("epoch"));
    }

    #[test]
    fn number_normalisation() {
        let p = parse(br#"{"market_title":"m","side":"yes","stake_amount":"1e20"}"#).unwrap();
        assert_eq!(
            normalize_payload("prediction", &p)
                .get("stake_amount")
                .unwrap()
                .to_canonical(),
            "100000000000000000000"
        );
        let p = parse(br#"{"market_title":"m","side":"yes","stake_amount":"abc"}"#).unwrap();
        assert_eq!(
            normalize_payload("prediction", &p)
                .get("stake_amount")
                .unwrap()
                .to_canonical(),
            "0"
        );
        let p = parse(br#"{"message":5,"destination":null,"ephemeral":"x"}"#).unwrap();
        assert_eq!(
            normalize_payload("message", &p).to_canonical(),
            r#"{"channel":"LongFast","destination":"None","ephemeral":true,"message":"5","priority":"normal"}"#
        );
    }

    #[test]
    fn lenient_b64() {
        assert_eq!(py_b64decode_lenient("QQ==").unwrap(), b"A");
        assert_eq!(py_b64decode_lenient("Q Q=\n=").unwrap(), b"A");
        assert!(py_b64decode_lenient("QQ").is_none());
        assert!(py_b64decode_lenient("QQQQQ").is_none());
        assert_eq!(py_b64decode_lenient("").unwrap(), b"");
        assert!(py_b64decode_lenient("QQ==é").is_none());
    }
}
