//! Signed requests to a relay (mailbox poll, ack, DH key registration).
//!
//! The requester signs `RELAY_AUTH ‖ 0 ‖ action ‖ 0 ‖ node_id ‖ 0 ‖ timestamp ‖ 0 ‖ nonce ‖ 0 ‖
//! sha256(params)` with its Ed25519 key. The relay checks the node binding, the timestamp window,
//! the signature (strict) and — with its own store — that the nonce was never used before.
use ed25519_dalek::Signature;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::identity::{node_id_for_public_key, parse_verifying_key, Identity};
use crate::{b64, labels};

/// How far a request timestamp may be from the relay's clock, either way.
pub const TIMESTAMP_WINDOW_SECS: u64 = 300;
/// Random bytes in a request nonce (hex on the wire).
pub const NONCE_BYTES: usize = 16;

/// Actions a signed request can authorise. The string form is what gets signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    DmRegister,
    DmPoll,
    DmAck,
    /// Read a private gate's epochs or messages (params: `api::gate::epochs_params` /
    /// `api::gate::messages_params`).
    GateRead,
    /// List the gates whose rosters (any epoch) hold the requester (params:
    /// `api::gate::mine_params`).
    GateList,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::DmRegister => "dm.register",
            Action::DmPoll => "dm.poll",
            Action::DmAck => "dm.ack",
            Action::GateRead => "gate.read",
            Action::GateList => "gate.list",
        }
    }
}

/// Authentication block carried in a signed request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestAuth {
    pub node_id: String,
    /// Standard base64 of the raw Ed25519 public key.
    pub public_key: String,
    pub timestamp: u64,
    /// Hex, single use.
    pub nonce: String,
    /// Hex Ed25519 signature.
    pub signature: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    #[error("public_key is not a valid Ed25519 key")]
    BadPublicKey,
    #[error("node_id does not match public_key")]
    NodeIdMismatch,
    #[error("request timestamp is outside the allowed window of {TIMESTAMP_WINDOW_SECS} s")]
    Stale,
    #[error("nonce must be {} hex characters", NONCE_BYTES * 2)]
    BadNonce,
    #[error("signature is malformed or does not verify")]
    BadSignature,
}

/// Until when a relay must remember a request's nonce: past this instant the timestamp check
/// alone refuses a replay, so the nonce can be forgotten.
pub fn nonce_retention_until(auth: &RequestAuth) -> u64 {
    auth.timestamp.saturating_add(TIMESTAMP_WINDOW_SECS)
}

/// The bytes that are signed for a request.
pub fn signing_bytes(action: Action, node_id: &str, timestamp: u64, nonce: &str, params: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(128);
    for part in [
        labels::RELAY_AUTH,
        action.as_str().as_bytes(),
        node_id.as_bytes(),
        timestamp.to_string().as_bytes(),
        nonce.as_bytes(),
    ] {
        m.extend_from_slice(part);
        m.push(0);
    }
    m.extend_from_slice(&Sha256::digest(params));
    m
}

/// Canonical parameter bytes for an ack: the msg_ids joined with `\n`.
pub fn ack_params(msg_ids: &[String]) -> Vec<u8> {
    msg_ids.join("\n").into_bytes()
}

/// Sign a request for `action` over `params` at `timestamp`.
pub fn sign_request(
    id: &Identity,
    action: Action,
    params: &[u8],
    timestamp: u64,
    rng: &mut impl CryptoRngCore,
) -> RequestAuth {
    let mut raw = [0u8; NONCE_BYTES];
    rng.fill_bytes(&mut raw);
    let nonce = hex::encode(raw);
    let node_id = id.node_id();
    let sig = id.sign(&signing_bytes(action, &node_id, timestamp, &nonce, params));
    RequestAuth {
        node_id,
        public_key: b64::encode_std(id.verifying_key().as_bytes()),
        timestamp,
        nonce,
        signature: hex::encode(sig.to_bytes()),
    }
}

/// Verify everything but nonce freshness (which needs the relay's store).
pub fn verify_request(auth: &RequestAuth, action: Action, params: &[u8], now: u64) -> Result<(), AuthError> {
    let pk = b64::decode_std_array::<32>(&auth.public_key).map_err(|_| AuthError::BadPublicKey)?;
    let key = parse_verifying_key(&pk).map_err(|_| AuthError::BadPublicKey)?;
    if node_id_for_public_key(&pk) != auth.node_id {
        return Err(AuthError::NodeIdMismatch);
    }
    if auth.timestamp.abs_diff(now) > TIMESTAMP_WINDOW_SECS {
        return Err(AuthError::Stale);
    }
    if auth.nonce.len() != NONCE_BYTES * 2 || !auth.nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AuthError::BadNonce);
    }
    let mut sig = [0u8; 64];
    hex::decode_to_slice(&auth.signature, &mut sig).map_err(|_| AuthError::BadSignature)?;
    key.verify_strict(
        &signing_bytes(action, &auth.node_id, auth.timestamp, &auth.nonce, params),
        &Signature::from_bytes(&sig),
    )
    .map_err(|_| AuthError::BadSignature)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    #[test]
    fn sign_verify_and_reject() {
        let id = Identity::generate(&mut OsRng);
        let a = sign_request(&id, Action::DmPoll, b"", 1000, &mut OsRng);
        verify_request(&a, Action::DmPoll, b"", 1000).unwrap();
        verify_request(&a, Action::DmPoll, b"", 1000 + TIMESTAMP_WINDOW_SECS).unwrap();
        assert_eq!(verify_request(&a, Action::DmPoll, b"", 1000 + TIMESTAMP_WINDOW_SECS + 1), Err(AuthError::Stale));
        assert_eq!(verify_request(&a, Action::DmAck, b"", 1000), Err(AuthError::BadSignature));
        assert_eq!(verify_request(&a, Action::DmPoll, b"x", 1000), Err(AuthError::BadSignature));
        let other = Identity::generate(&mut OsRng);
        let mut b = a.clone();
        b.node_id = other.node_id();
        assert_eq!(verify_request(&b, Action::DmPoll, b"", 1000), Err(AuthError::NodeIdMismatch));
        let mut c = a.clone();
        c.nonce = "zz".into();
        assert_eq!(verify_request(&c, Action::DmPoll, b"", 1000), Err(AuthError::BadNonce));
        let mut d = a;
        d.public_key = "not base64".into();
        assert_eq!(verify_request(&d, Action::DmPoll, b"", 1000), Err(AuthError::BadPublicKey));
    }
}
