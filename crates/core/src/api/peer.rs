//! Relay-to-relay (peer) replication endpoints. Every request is authenticated with
//! [`crate::peer`]: `X-Peer-Url` (the sender's own public URL) and `X-Peer-HMAC` (hex
//! HMAC-SHA256 of the exact raw body under the per-peer key). The Infonet push path and its
//! request type are [`crate::api::infonet::PATH_PEER_PUSH`] / [`crate::api::infonet::PeerPushRequest`].
use serde::{Deserialize, Serialize};

use crate::dm::DmEnvelope;

pub use crate::api::infonet::{PATH_PEER_PUSH, PEER_PUSH_MAX_EVENTS};
pub use crate::peer::{HEADER_PEER_HMAC, HEADER_PEER_URL};

pub const PATH_REPLICATE_ENVELOPE: &str = "/api/mesh/dm/replicate-envelope";
pub const PATH_REPLICATE_ACK: &str = "/api/mesh/dm/replicate-ack";

/// Largest peer-push body (50 events of at most a 4 KiB payload each, plus envelope fields).
pub const MAX_PEER_PUSH_BODY_BYTES: usize = 512 * 1024;

/// Error codes of the peer endpoints (in an [`crate::api::ErrorBody`]).
pub mod codes {
    /// Unknown `X-Peer-Url`, missing header, or wrong/missing `X-Peer-HMAC` (403).
    pub const PEER_UNAUTHORIZED: &str = "peer_unauthorized";
    /// A pushed event extends neither our head nor an event we hold (409); never merged.
    pub const FORKED: &str = "forked";
    /// More than [`super::PEER_PUSH_MAX_EVENTS`] events in one push (400).
    pub const TOO_MANY_EVENTS: &str = "too_many_events";
    /// A replicated envelope whose `expires_at` is already past (422).
    pub const EXPIRED: &str = "expired";
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicateAckRequest {
    pub msg_ids: Vec<String>,
    pub recipient_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicateAckResponse {
    pub ok: bool,
    pub removed: u64,
}
