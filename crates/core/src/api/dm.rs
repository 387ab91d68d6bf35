//! DM spool endpoints (Infonet's `/api/mesh/dm/*` namespace).
use serde::{Deserialize, Serialize};

use crate::auth::RequestAuth;
use crate::dm::DmEnvelope;

pub const PATH_REGISTER: &str = "/api/mesh/dm/register";
pub const PATH_PUBKEY: &str = "/api/mesh/dm/pubkey";
pub const PATH_SEND: &str = "/api/mesh/dm/send";
pub const PATH_POLL: &str = "/api/mesh/dm/poll";
pub const PATH_ACK: &str = "/api/mesh/dm/ack";

/// `POST /api/mesh/dm/register`: publish the X25519 key of a node (signed, action `dm.register`,
/// params = the raw 32-byte DH key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub auth: RequestAuth,
    /// Standard base64 of the X25519 public key.
    pub dh_pub_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterResponse {
    pub ok: bool,
    pub node_id: String,
}

/// `GET /api/mesh/dm/pubkey?node_id=…`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PubkeyQuery {
    pub node_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PubkeyResponse {
    pub ok: bool,
    pub node_id: String,
    /// Standard base64 Ed25519 key.
    pub public_key: String,
    /// Standard base64 X25519 key.
    pub dh_pub_key: String,
    pub registered_at: u64,
}

/// `POST /api/mesh/dm/send`: deposit a sealed envelope (no sender authentication; the envelope
/// does not reveal the sender).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    pub envelope: DmEnvelope,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendResponse {
    pub ok: bool,
    pub msg_id: String,
    /// True when this msg_id was already stored (idempotent retry).
    pub duplicate: bool,
    pub expires_at: u64,
}

/// `POST /api/mesh/dm/poll`: list the caller's mailbox (signed, action `dm.poll`, params = the
/// decimal `limit`). Non-destructive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollRequest {
    pub auth: RequestAuth,
    pub limit: u32,
}

pub const MAX_POLL_LIMIT: u32 = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDm {
    pub envelope: DmEnvelope,
    pub received_at: u64,
    pub expires_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollResponse {
    pub ok: bool,
    pub messages: Vec<StoredDm>,
    /// Messages in the mailbox in total (may exceed `messages.len()`).
    pub total: u64,
}

/// `POST /api/mesh/dm/ack`: remove messages from the caller's mailbox (signed, action `dm.ack`,
/// params = [`crate::auth::ack_params`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    pub auth: RequestAuth,
    pub msg_ids: Vec<String>,
}

pub const MAX_ACK_IDS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckResponse {
    pub ok: bool,
    pub removed: u64,
}

/// Params signed for a poll request.
pub fn poll_params(limit: u32) -> Vec<u8> {
    limit.to_string().into_bytes()
}
