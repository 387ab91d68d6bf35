//! Signed requests to a relay (mailbox poll, ack, DH key registration).
//!
//! The requester signs `RELAY_AUTH_V2 ‖ 0 ‖ action ‖ 0 ‖ origin ‖ 0 ‖ node_id ‖ 0 ‖ timestamp ‖
//! 0 ‖ nonce ‖ 0 ‖ sha256(params)` with its Ed25519 key, where `origin` is the relay's normalised
//! public URL, so a relay cannot replay a client's request to another relay. The relay checks the
//! origin against its own, the node binding, the timestamp window, the signature (strict) and —
//! with its own store — that the nonce was never used before. v1 (`RELAY_AUTH`, no origin) is
//! still verified inside replicated owner acks ([`verify_owner_ack`]) made by older clients.
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
    /// Replace the requester's contact list (params: [`contacts_params`]).
    DmContacts,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::DmRegister => "dm.register",
            Action::DmPoll => "dm.poll",
            Action::DmAck => "dm.ack",
            Action::GateRead => "gate.read",
            Action::GateList => "gate.list",
            Action::DmContacts => "dm.contacts",
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
    /// The relay this request was signed for (normalised URL, `peer::normalize_peer_url`);
    /// absent in v1 requests, which relays no longer accept directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
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
    #[error("the request was signed for another relay (origin {0:?}); sign it for this relay")]
    WrongOrigin(Option<String>),
}

/// Until when a relay must remember a request's nonce: past this instant the timestamp check
/// alone refuses a replay, so the nonce can be forgotten.
pub fn nonce_retention_until(auth: &RequestAuth) -> u64 {
    auth.timestamp.saturating_add(TIMESTAMP_WINDOW_SECS)
}

/// The bytes that are signed for a request: v2 with an `origin`, v1 without.
pub fn signing_bytes(
    action: Action,
    origin: Option<&str>,
    node_id: &str,
    timestamp: u64,
    nonce: &str,
    params: &[u8],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(160);
    let ts = timestamp.to_string();
    let head: &[&[u8]] = match origin {
        Some(o) => &[
            labels::RELAY_AUTH_V2,
            action.as_str().as_bytes(),
            o.as_bytes(),
        ],
        None => &[labels::RELAY_AUTH, action.as_str().as_bytes()],
    };
    for part in head
        .iter()
        .copied()
        .chain([node_id.as_bytes(), ts.as_bytes(), nonce.as_bytes()])
    {
        m.extend_from_slice(part);
        m.push(0);
    }
    m.extend_from_slice(&Sha256::digest(params));
    m
}

/// Normalise a relay origin for signing and comparison (`peer::normalize_peer_url`), e.g.
/// `HTTP://Relay.example:443/` under https → `https://relay.example`.
pub fn normalize_origin(url: &str) -> Option<String> {
    crate::peer::normalize_peer_url(url).ok()
}

/// Canonical parameter bytes for an ack: the msg_ids joined with `\n`.
pub fn ack_params(msg_ids: &[String]) -> Vec<u8> {
    msg_ids.join("\n").into_bytes()
}

/// Canonical parameter bytes of a contact list (`dm.contacts`): the sorted sender_refs joined
/// with `\n` (`caps::validate_contact_list` is checked separately).
pub fn contacts_params(sender_refs: &[String]) -> Vec<u8> {
    let mut p = b"contacts".to_vec();
    for r in sender_refs {
        p.push(b'\n');
        p.extend_from_slice(r.as_bytes());
    }
    p
}

/// Sign a v1 request (no origin, not bound to a relay). Superseded by [`sign_request_for`];
/// relays refuse v1 requests once they check origins ([`verify_request_for`]).
pub fn sign_request(
    id: &Identity,
    action: Action,
    params: &[u8],
    timestamp: u64,
    rng: &mut impl CryptoRngCore,
) -> RequestAuth {
    sign_inner(id, None, action, params, timestamp, rng)
}

/// Sign a request for `action` over `params` at `timestamp`, for the relay at `origin` (its
/// public URL; normalised here, so `https://relay.example/` and `https://relay.example` sign
/// the same bytes; an unparsable origin is signed as given and will be refused).
pub fn sign_request_for(
    id: &Identity,
    origin: &str,
    action: Action,
    params: &[u8],
    timestamp: u64,
    rng: &mut impl CryptoRngCore,
) -> RequestAuth {
    let origin = normalize_origin(origin).unwrap_or_else(|| origin.to_string());
    sign_inner(id, Some(origin), action, params, timestamp, rng)
}

fn sign_inner(
    id: &Identity,
    origin: Option<String>,
    action: Action,
    params: &[u8],
    timestamp: u64,
    rng: &mut impl CryptoRngCore,
) -> RequestAuth {
    let mut raw = [0u8; NONCE_BYTES];
    rng.fill_bytes(&mut raw);
    let nonce = hex::encode(raw);
    let node_id = id.node_id();
    let msg = signing_bytes(
        action,
        origin.as_deref(),
        &node_id,
        timestamp,
        &nonce,
        params,
    );
    let sig = id.sign(&msg);
    RequestAuth {
        node_id,
        public_key: b64::encode_std(id.verifying_key().as_bytes()),
        timestamp,
        nonce,
        signature: hex::encode(sig.to_bytes()),
        origin,
    }
}

/// Verify everything but nonce freshness, without an origin check (v1 or v2 bytes, whichever
/// the request carries). Superseded by [`verify_request_for`].
pub fn verify_request(
    auth: &RequestAuth,
    action: Action,
    params: &[u8],
    now: u64,
) -> Result<(), AuthError> {
    let key = verified_key(auth)?;
    if auth.timestamp.abs_diff(now) > TIMESTAMP_WINDOW_SECS {
        return Err(AuthError::Stale);
    }
    verify_signature(auth, &key, action, params)
}

/// Verify everything but nonce freshness (which needs the relay's store). `origin` is this
/// relay's own normalised public URL (the caller normalises it once, [`normalize_origin`]); a
/// request signed for another relay, or without an origin (v1), is [`AuthError::WrongOrigin`].
pub fn verify_request_for(
    auth: &RequestAuth,
    origin: &str,
    action: Action,
    params: &[u8],
    now: u64,
) -> Result<(), AuthError> {
    let key = verified_key(auth)?;
    if auth.origin.as_deref() != Some(origin) {
        return Err(AuthError::WrongOrigin(auth.origin.clone()));
    }
    if auth.timestamp.abs_diff(now) > TIMESTAMP_WINDOW_SECS {
        return Err(AuthError::Stale);
    }
    verify_signature(auth, &key, action, params)
}

/// The Ed25519 key of `auth`, checked to be valid and bound to `auth.node_id` (node ids are
/// derived from the key, so a signed statement is self-certifying).
fn verified_key(auth: &RequestAuth) -> Result<ed25519_dalek::VerifyingKey, AuthError> {
    let pk = b64::decode_std_array::<32>(&auth.public_key).map_err(|_| AuthError::BadPublicKey)?;
    let key = parse_verifying_key(&pk).map_err(|_| AuthError::BadPublicKey)?;
    if node_id_for_public_key(&pk) != auth.node_id {
        return Err(AuthError::NodeIdMismatch);
    }
    Ok(key)
}

fn verify_signature(
    auth: &RequestAuth,
    key: &ed25519_dalek::VerifyingKey,
    action: Action,
    params: &[u8],
) -> Result<(), AuthError> {
    if auth.nonce.len() != NONCE_BYTES * 2 || !auth.nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AuthError::BadNonce);
    }
    let mut sig = [0u8; 64];
    hex::decode_to_slice(&auth.signature, &mut sig).map_err(|_| AuthError::BadSignature)?;
    let msg = signing_bytes(
        action,
        auth.origin.as_deref(),
        &auth.node_id,
        auth.timestamp,
        &auth.nonce,
        params,
    );
    key.verify_strict(&msg, &Signature::from_bytes(&sig))
        .map_err(|_| AuthError::BadSignature)
}

/// Most msg_ids in one owner-signed ack (same bound as a client ack).
pub const MAX_OWNER_ACK_IDS: usize = 100;

/// Why an owner-signed ack ([`verify_owner_ack`]) is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OwnerAckError {
    #[error("the ack names no msg_ids, more than {MAX_OWNER_ACK_IDS}, or an invalid msg_id")]
    BadMsgIds,
    #[error("the ack is signed by another node than the mailbox owner")]
    OwnerMismatch,
    #[error("the owner's ack signature does not verify: {0}")]
    Signature(AuthError),
}

/// Verify a mailbox owner's own signed `dm.ack` request (the `auth` block the recipient sent
/// with `POST /api/mesh/dm/ack`), as relayed by a peer relay: the signer's node id must be
/// derived from its key and equal `recipient_id` (so the statement is self-certifying even on a
/// relay the owner never registered with), and the signature must cover exactly `msg_ids`
/// ([`ack_params`], action `dm.ack`, label [`labels::RELAY_AUTH`]). Unlike
/// [`verify_request`] there is **no timestamp window** (a replicated ack may be forwarded long
/// after it was made) and no nonce bookkeeping: replaying the statement can only remove the same
/// messages of the same owner again, which is idempotent.
pub fn verify_owner_ack(
    proof: &RequestAuth,
    recipient_id: &str,
    msg_ids: &[String],
) -> Result<(), OwnerAckError> {
    // Valid msg_ids never contain the `\n` separator of ack_params, so the list is unambiguous.
    if msg_ids.is_empty()
        || msg_ids.len() > MAX_OWNER_ACK_IDS
        || !msg_ids.iter().all(|m| crate::ids::MsgId::parse(m).is_ok())
    {
        return Err(OwnerAckError::BadMsgIds);
    }
    let key = verified_key(proof).map_err(OwnerAckError::Signature)?;
    if proof.node_id != recipient_id {
        return Err(OwnerAckError::OwnerMismatch);
    }
    verify_signature(proof, &key, Action::DmAck, &ack_params(msg_ids))
        .map_err(OwnerAckError::Signature)
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
        assert_eq!(
            verify_request(&a, Action::DmPoll, b"", 1000 + TIMESTAMP_WINDOW_SECS + 1),
            Err(AuthError::Stale)
        );
        assert_eq!(
            verify_request(&a, Action::DmAck, b"", 1000),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            verify_request(&a, Action::DmPoll, b"x", 1000),
            Err(AuthError::BadSignature)
        );
        let other = Identity::generate(&mut OsRng);
        let mut b = a.clone();
        b.node_id = other.node_id();
        assert_eq!(
            verify_request(&b, Action::DmPoll, b"", 1000),
            Err(AuthError::NodeIdMismatch)
        );
        let mut c = a.clone();
        c.nonce = "zz".into();
        assert_eq!(
            verify_request(&c, Action::DmPoll, b"", 1000),
            Err(AuthError::BadNonce)
        );
        let mut d = a;
        d.public_key = "not base64".into();
        assert_eq!(
            verify_request(&d, Action::DmPoll, b"", 1000),
            Err(AuthError::BadPublicKey)
        );
    }

    #[test]
    fn request_is_bound_to_the_relay_origin() {
        let id = Identity::generate(&mut OsRng);
        let a_url = normalize_origin("https://relay-a.example/").unwrap();
        let b_url = normalize_origin("https://relay-b.example").unwrap();
        let a = sign_request_for(
            &id,
            "HTTPS://Relay-A.example:443",
            Action::DmPoll,
            b"10",
            1000,
            &mut OsRng,
        );
        assert_eq!(a.origin.as_deref(), Some(a_url.as_str()));
        verify_request_for(&a, &a_url, Action::DmPoll, b"10", 1000).unwrap();
        // Relay A replays the client's request to relay B: refused.
        assert_eq!(
            verify_request_for(&a, &b_url, Action::DmPoll, b"10", 1000),
            Err(AuthError::WrongOrigin(Some(a_url.clone())))
        );
        // Rewriting the origin field breaks the signature.
        let mut re = a.clone();
        re.origin = Some(b_url.clone());
        assert_eq!(
            verify_request_for(&re, &b_url, Action::DmPoll, b"10", 1000),
            Err(AuthError::BadSignature)
        );
        // Dropping it (a v1 request) is refused by an origin-checking relay.
        let mut v1 = a.clone();
        v1.origin = None;
        assert_eq!(
            verify_request_for(&v1, &a_url, Action::DmPoll, b"10", 1000),
            Err(AuthError::WrongOrigin(None))
        );
        let legacy = sign_request(&id, Action::DmPoll, b"10", 1000, &mut OsRng);
        assert_eq!(
            verify_request_for(&legacy, &a_url, Action::DmPoll, b"10", 1000),
            Err(AuthError::WrongOrigin(None))
        );
        // The wire form of a v1 auth block is unchanged (no `origin` key).
        assert!(!serde_json::to_string(&legacy).unwrap().contains("origin"));
        // v1 and v2 signing bytes never coincide.
        assert_ne!(
            signing_bytes(Action::DmPoll, None, "n", 1, "x", b""),
            signing_bytes(Action::DmPoll, Some(""), "n", 1, "x", b"")
        );
    }

    #[test]
    fn owner_ack_with_origin_verifies_on_any_relay() {
        let owner = Identity::generate(&mut OsRng);
        let list = ids(2);
        let proof = sign_request_for(
            &owner,
            "https://a.example",
            Action::DmAck,
            &ack_params(&list),
            5,
            &mut OsRng,
        );
        verify_owner_ack(&proof, &owner.node_id(), &list).unwrap();
        let mut moved = proof;
        moved.origin = Some("https://b.example".into());
        assert_eq!(
            verify_owner_ack(&moved, &owner.node_id(), &list),
            Err(OwnerAckError::Signature(AuthError::BadSignature))
        );
    }

    fn owner_ack(id: &Identity, ids: &[String], ts: u64) -> RequestAuth {
        sign_request(id, Action::DmAck, &ack_params(ids), ts, &mut OsRng)
    }

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("msg-{i:08}")).collect()
    }

    #[test]
    fn owner_ack_has_no_window_but_binds_owner_and_ids() {
        let owner = Identity::generate(&mut OsRng);
        let list = ids(3);
        let proof = owner_ack(&owner, &list, 1000);
        let rid = owner.node_id();
        // Any age, any clock: no window.
        verify_owner_ack(&proof, &rid, &list).unwrap();
        // Bound to the mailbox.
        let other = Identity::generate(&mut OsRng);
        assert_eq!(
            verify_owner_ack(&proof, &other.node_id(), &list),
            Err(OwnerAckError::OwnerMismatch)
        );
        // Another owner's signature for the victim's mailbox.
        let forged = owner_ack(&other, &list, 1000);
        assert_eq!(
            verify_owner_ack(&forged, &rid, &list),
            Err(OwnerAckError::OwnerMismatch)
        );
        // A re-labelled signer: node id no longer derived from the key.
        let mut relabel = forged.clone();
        relabel.node_id = rid.clone();
        assert_eq!(
            verify_owner_ack(&relabel, &rid, &list),
            Err(OwnerAckError::Signature(AuthError::NodeIdMismatch))
        );
        // Bound to the exact id list: subset, superset, reordering, a split id.
        let sig = |l: &[String]| verify_owner_ack(&proof, &rid, l);
        assert_eq!(
            sig(&list[..2]),
            Err(OwnerAckError::Signature(AuthError::BadSignature))
        );
        let mut more = list.clone();
        more.push("msg-extra-1".into());
        assert_eq!(
            sig(&more),
            Err(OwnerAckError::Signature(AuthError::BadSignature))
        );
        let mut rev = list.clone();
        rev.reverse();
        assert_eq!(
            sig(&rev),
            Err(OwnerAckError::Signature(AuthError::BadSignature))
        );
        assert_eq!(sig(&[]), Err(OwnerAckError::BadMsgIds));
        assert_eq!(
            sig(&["a\nbcdefghi".to_string()]),
            Err(OwnerAckError::BadMsgIds)
        );
        assert_eq!(
            sig(&ids(MAX_OWNER_ACK_IDS + 1)),
            Err(OwnerAckError::BadMsgIds)
        );
        // A poll signature is not an ack.
        let poll = sign_request(&owner, Action::DmPoll, &ack_params(&list), 1000, &mut OsRng);
        assert_eq!(
            verify_owner_ack(&poll, &rid, &list),
            Err(OwnerAckError::Signature(AuthError::BadSignature))
        );
    }

    #[cfg(not(target_arch = "wasm32"))]
    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Changing any single field of a valid owner ack (or a byte of a msg_id) refuses it.
        #[test]
        fn owner_ack_tamper_of_any_field_is_refused(field in 0usize..7, pos in 0usize..64, bit in 0u8..8) {
            let owner = Identity::generate(&mut OsRng);
            let mut list = ids(2);
            let mut proof = owner_ack(&owner, &list, 1_700_000_000);
            let mut rid = owner.node_id();
            let flip = |s: &mut String, hex: bool| {
                let mut b = s.clone().into_bytes();
                let i = pos % b.len();
                if hex {
                    b[i] = if b[i] == b'0' { b'1' } else { b'0' };
                } else {
                    b[i] = if b[i] == b'A' { b'B' } else { b'A' };
                }
                *s = String::from_utf8(b).unwrap();
            };
            match field {
                0 => flip(&mut proof.node_id, true),
                1 => {
                    let mut k = b64::decode_std(&proof.public_key).unwrap();
                    let i = pos % k.len();
                    k[i] ^= 1 << bit;
                    proof.public_key = b64::encode_std(&k);
                }
                2 => proof.timestamp ^= 1 << (pos % 63),
                3 => flip(&mut proof.nonce, true),
                4 => flip(&mut proof.signature, true),
                5 => flip(&mut rid, true),
                _ => flip(&mut list[pos % 2], false),
            }
            proptest::prop_assert!(verify_owner_ack(&proof, &rid, &list).is_err());
        }
    }
}
