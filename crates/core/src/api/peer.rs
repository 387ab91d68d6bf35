//! Relay-to-relay (peer) replication endpoints. Every request is authenticated with
//! [`crate::peer`]: `X-Peer-Url` (the sender's own public URL) and `X-Peer-HMAC` (hex
//! HMAC-SHA256 of the exact raw body under the per-peer key). The Infonet push path and its
//! request type are [`crate::api::infonet::PATH_PEER_PUSH`] / [`crate::api::infonet::PeerPushRequest`].
use serde::{Deserialize, Serialize};

use crate::auth::{OwnerAckError, RequestAuth};
use crate::dm::DmEnvelope;

pub use crate::api::infonet::{PATH_PEER_PUSH, PEER_PUSH_MAX_EVENTS};
pub use crate::peer::{HEADER_PEER_HMAC, HEADER_PEER_URL};

pub const PATH_REPLICATE_ENVELOPE: &str = "/api/mesh/dm/replicate-envelope";
pub const PATH_REPLICATE_ACK: &str = "/api/mesh/dm/replicate-ack";
pub const PATH_DM_PEER_PULL: &str = "/api/mesh/dm/peer-pull";

/// Largest peer-push body (50 events of at most a 4 KiB payload each, plus envelope fields).
pub const MAX_PEER_PUSH_BODY_BYTES: usize = 512 * 1024;

/// Error codes of the peer endpoints (in an [`crate::api::ErrorBody`]).
pub mod codes {
    /// Unknown `X-Peer-Url`, missing header, or wrong/missing `X-Peer-HMAC` (403).
    pub const PEER_UNAUTHORIZED: &str = "peer_unauthorized";
    /// A pushed event extends neither our head nor an event we hold (409); never merged.
    pub const FORKED: &str = "forked";
    /// The receiver holds as many requests of this peer (or of all peers) as it allows, or its
    /// replay cache is full (503; the sender retries).
    pub const PEER_BUSY: &str = "peer_busy";
    /// More than [`super::PEER_PUSH_MAX_EVENTS`] events in one push (400).
    pub const TOO_MANY_EVENTS: &str = "too_many_events";
    /// A replicated envelope whose `expires_at` is already past (422).
    pub const EXPIRED: &str = "expired";
    /// A replicated ack without the mailbox owner's signed ack (`owner_ack`) (403).
    pub const ACK_UNSIGNED: &str = "ack_unsigned";
    /// `owner_ack` is signed by another node than `recipient_id` (403).
    pub const ACK_OWNER_MISMATCH: &str = "ack_owner_mismatch";
    /// `owner_ack` does not verify over these msg_ids (bad key, node binding or signature) (403).
    pub const INVALID_ACK_SIGNATURE: &str = "invalid_ack_signature";
}

/// Check the owner proof of a replicated ack with [`crate::auth::verify_owner_ack`]; on refusal
/// the error code ([`codes`]) to answer with (`bad_request` for a malformed id list).
pub fn check_replicated_ack(req: &ReplicateAckRequest) -> Result<(), (&'static str, String)> {
    let proof = req.owner_ack.as_ref().ok_or((
        codes::ACK_UNSIGNED,
        "a replicated ack must carry the owner's signed ack (owner_ack)".to_string(),
    ))?;
    crate::auth::verify_owner_ack(proof, &req.recipient_id, &req.msg_ids).map_err(|e| {
        let code = match e {
            OwnerAckError::BadMsgIds => crate::api::codes::BAD_REQUEST,
            OwnerAckError::OwnerMismatch => codes::ACK_OWNER_MISMATCH,
            OwnerAckError::Signature(_) => codes::INVALID_ACK_SIGNATURE,
        };
        (code, e.to_string())
    })
}

/// `POST /api/mesh/infonet/peer-push` success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerPushResponse {
    pub ok: bool,
    /// Events newly stored.
    pub accepted: u64,
    /// Events already held (skipped).
    pub duplicates: u64,
    /// Head of the public lane after the push.
    pub head_hash: String,
}

/// A refused peer push: an [`crate::api::ErrorBody`] (`ok`, `code`, `detail`) plus the index of
/// the first refused event and how many events before it were stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerPushRejection {
    pub ok: bool,
    /// The verifier's reason (`invalid_signature`, `sequence_replay`, …) or [`codes::FORKED`].
    pub code: String,
    pub detail: String,
    /// Position in `events` of the first refused event.
    pub index: u64,
    /// Events before `index` that were newly stored (they stay stored).
    pub accepted: u64,
    pub duplicates: u64,
    /// With [`codes::FORKED`] when event `index` extends an event the receiver does not hold:
    /// that event's id (its `prev_hash`). The predecessor is missing; this is not a fork, and
    /// the push applies once the receiver holds it. Sent to Postern peers only (a Shadowbroker
    /// peer gets exactly the members above).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
}

/// `POST /api/mesh/dm/replicate-envelope`: a sealed envelope spooled on the sending relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicateEnvelopeRequest {
    pub envelope: DmEnvelope,
    /// When the origin relay drops it (UNIX seconds); the receiver keeps it no longer than
    /// this nor than its own TTL.
    pub expires_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicateEnvelopeResponse {
    pub ok: bool,
    pub msg_id: String,
    pub duplicate: bool,
    pub expires_at: u64,
}

/// `POST /api/mesh/dm/replicate-ack`: the recipient acknowledged these messages on a peer.
/// `owner_ack` is the recipient's own signed `dm.ack` request auth over exactly `msg_ids`
/// (see [`crate::auth::verify_owner_ack`]); every relay verifies it before removing anything,
/// so a peer cannot delete mail it was not told to by the mailbox owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicateAckRequest {
    pub msg_ids: Vec<String>,
    pub recipient_id: String,
    /// Optional on the wire only so that its absence is answered 403 [`codes::ACK_UNSIGNED`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_ack: Option<RequestAuth>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicateAckResponse {
    pub ok: bool,
    pub removed: u64,
}

/// `POST /api/mesh/dm/peer-pull`: the DM items (envelopes and owner-signed acks) a relay holds,
/// in its local, strictly increasing sequence order, after `after`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerPullRequest {
    /// Last sequence number already seen (0 = from the start).
    pub after: u64,
    /// 1..=[`MAX_PEER_PULL_LIMIT`].
    pub limit: u32,
}

pub const MAX_PEER_PULL_LIMIT: u32 = 200;

/// One item of a peer pull: exactly one of `envelope` / `ack` is set (each is the body a push
/// of the same item would carry, and is ingested with the same rules).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerPullItem {
    pub seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope: Option<ReplicateEnvelopeRequest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<ReplicateAckRequest>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerPullResponse {
    pub ok: bool,
    pub items: Vec<PeerPullItem>,
    /// Cursor to send next (the last item's `seq`, or `after` when there is none).
    pub next_after: u64,
    /// True when more items follow `next_after`.
    pub more: bool,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::auth::{ack_params, sign_request, Action};
    use crate::Identity;
    use rand_core::OsRng;

    #[test]
    fn replicated_ack_codes() {
        let owner = Identity::generate(&mut OsRng);
        let ids = vec!["0123456789abcdef".to_string()];
        let proof = sign_request(&owner, Action::DmAck, &ack_params(&ids), 5, &mut OsRng);
        let mut req = ReplicateAckRequest {
            msg_ids: ids.clone(),
            recipient_id: owner.node_id(),
            owner_ack: Some(proof),
        };
        assert_eq!(check_replicated_ack(&req), Ok(()));
        // Wire: the proof round-trips, and an old unsigned body still parses (to be refused).
        let back: ReplicateAckRequest =
            serde_json::from_slice(&serde_json::to_vec(&req).unwrap()).unwrap();
        assert_eq!(back, req);
        let old: ReplicateAckRequest =
            serde_json::from_str(r#"{"msg_ids":["0123456789abcdef"],"recipient_id":"x"}"#).unwrap();
        assert_eq!(
            check_replicated_ack(&old).unwrap_err().0,
            codes::ACK_UNSIGNED
        );
        let other = Identity::generate(&mut OsRng);
        req.recipient_id = other.node_id();
        assert_eq!(
            check_replicated_ack(&req).unwrap_err().0,
            codes::ACK_OWNER_MISMATCH
        );
        req.recipient_id = owner.node_id();
        req.msg_ids = vec!["fedcba9876543210".into()];
        assert_eq!(
            check_replicated_ack(&req).unwrap_err().0,
            codes::INVALID_ACK_SIGNATURE
        );
        req.msg_ids = vec![];
        assert_eq!(
            check_replicated_ack(&req).unwrap_err().0,
            crate::api::codes::BAD_REQUEST
        );
    }
}
