//! Request/response types of the relay's signed tree head endpoints (docs/protocol.md
//! § Signed tree heads): the newest head, consistency proofs between two signed sizes, and the
//! per-peer head status a relay reports.

use serde::{Deserialize, Serialize};

use crate::head_pin::EvidenceKind;
use crate::tree_head::TreeHeadWire;

/// `GET`: the relay's newest signed tree head.
pub const PATH_TREE_HEAD: &str = "/api/mesh/infonet/tree-head";
/// `GET ?first=N&second=M`: the RFC 9162 consistency proof between two sizes.
pub const PATH_CONSISTENCY: &str = "/api/mesh/infonet/consistency";
/// `GET`: what this relay checked of each peer's heads (behind `--public-status`).
pub const PATH_HEADS_STATUS: &str = "/api/mesh/infonet/heads/status";

/// Answer of `GET` [`PATH_TREE_HEAD`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeHeadResponse {
    /// The newest signed head; `null` before the relay has signed one.
    pub tree_head: Option<TreeHeadWire>,
    /// Events on the chain now (signed and pending).
    pub chain_size: u64,
}

/// Query of `GET` [`PATH_CONSISTENCY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyQuery {
    pub first: u64,
    pub second: u64,
}

/// Answer of `GET` [`PATH_CONSISTENCY`]: the proof hashes, lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyResponse {
    pub first: u64,
    pub second: u64,
    pub proof: Vec<String>,
}

/// One peer's heads as this relay last checked them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PeerHeadStatus {
    pub peer: String,
    /// The peer's newest head this relay verified (its pin), if any.
    pub last_head: Option<TreeHeadWire>,
    /// Whether the last check found the new head consistent with the pin.
    pub consistent: Option<bool>,
    /// Unix seconds of the last check.
    pub checked_at: u64,
    /// Whether the pinned head's root equals the root of this relay's own chain prefix of that
    /// size (`None` when this relay holds fewer events).
    pub matches_our_chain: Option<bool>,
    /// Misbehaviour found so far, by kind.
    pub evidence: Vec<EvidenceKind>,
    /// The last error talking to the peer or checking its head.
    pub last_error: String,
}

/// Answer of `GET` [`PATH_HEADS_STATUS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HeadsStatusResponse {
    /// This relay's newest signed head.
    pub own: Option<TreeHeadWire>,
    pub peers: Vec<PeerHeadStatus>,
}
