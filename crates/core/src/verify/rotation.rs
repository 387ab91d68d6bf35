//! The `key_rotate` claim check: the old key's signature over the rotation.

use crate::canonical::{signature_string_with_network, verify_node_binding, NETWORK_ID};
use crate::json::Value;
use crate::signature::{decode_public_key, parse_public_key_algo, py_fromhex, verify_signature};

use super::outcome::{EventRejection, FailReason};

/// Check the old key's signature inside a `key_rotate` payload: the old key signs the
/// Infonet/2 string for `key_rotate` with its own node id, sequence 0 and the rotation claim
/// (`old_node_id`, `old_public_key`, `old_public_key_algo`, `new_public_key`,
/// `new_public_key_algo`, `timestamp`; `old_signature` normalises to `""`).
///
/// The reference checks this when a rotation is submitted, not when a chain is ingested, so
/// [`verify_chain`] does not call it; relays should call it on new `key_rotate` appends.
pub fn verify_key_rotation_claim(payload: &Value) -> Result<(), EventRejection> {
    let text = |k: &str| payload.get(k).map(Value::py_str).unwrap_or_default();
    let old_node_id = text("old_node_id");
    let old_key = text("old_public_key");
    let old_algo = text("old_public_key_algo");
    if !verify_node_binding(&old_node_id, &old_key) {
        return Err(EventRejection::new(
            FailReason::NodeIdMismatch,
            "node_id does not match public key",
        ));
    }
    let Some(algo) = parse_public_key_algo(&old_algo) else {
        return Err(EventRejection::new(
            FailReason::UnsupportedPublicKeyAlgo,
            "Unsupported public_key_algo",
        ));
    };
    let mut claim = Value::object();
    for k in [
        "old_node_id",
        "old_public_key",
        "old_public_key_algo",
        "new_public_key",
        "new_public_key_algo",
        "timestamp",
    ] {
        if let Some(v) = payload.get(k) {
            claim.insert(k, v.clone());
        }
    }
    let msg = signature_string_with_network(NETWORK_ID, "key_rotate", &old_node_id, "0", &claim);
    let ok = py_fromhex(&text("old_signature"))
        .zip(decode_public_key(algo, &old_key).ok())
        .is_some_and(|(sig, key)| verify_signature(&key, &sig, msg.as_bytes()).is_ok());
    if ok {
        Ok(())
    } else {
        Err(EventRejection::new(
            FailReason::InvalidSignature,
            "Invalid old_signature",
        ))
    }
}
