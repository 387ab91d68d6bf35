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
    /// Forks of the chain met with this peer's events since this relay started (absent from
    /// older relays' answers: zero).
    #[serde(default)]
    pub forks: PeerForks,
    /// Equivocations this relay holds evidence of against the peer: two different roots the
    /// peer signed for one size (kept in the database; absent from older answers: zero).
    #[serde(default)]
    pub equivocations: u64,
}

/// Forks of the one chain met with one peer's events (pushed by it or pulled from it), counted
/// in memory since the relay started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct PeerForks {
    /// The peer's branch won and this relay adopted it.
    pub adopted: u64,
    /// This relay's branch won (the peer was told `forked` and adopts ours).
    pub kept: u64,
    /// Splits below this relay's signed tree head: refused, never healed.
    pub split: u64,
    /// This relay's pending events re-linked (rebased) onto the peer's winning branch.
    pub rebased: u64,
    /// This relay's events dropped because they no longer fit the peer's winning branch.
    pub dropped: u64,
}

impl PeerForks {
    /// Forks resolved with the peer: adopted theirs or kept ours.
    pub fn resolved(&self) -> u64 {
        self.adopted.saturating_add(self.kept)
    }
}

/// Answer of `GET` [`PATH_HEADS_STATUS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HeadsStatusResponse {
    /// This relay's newest signed head.
    pub own: Option<TreeHeadWire>,
    pub peers: Vec<PeerHeadStatus>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_older_relays_peer_status_without_fork_counts_still_parses() {
        let old = r#"{"own":null,"peers":[{"peer":"https://b.example","last_head":null,
            "consistent":true,"checked_at":1780000000,"matches_our_chain":null,
            "evidence":["equivocation"],"last_error":""}]}"#;
        let r: HeadsStatusResponse = serde_json::from_str(old).unwrap();
        let p = &r.peers[0];
        assert_eq!(p.forks, PeerForks::default());
        assert_eq!((p.equivocations, p.forks.resolved()), (0, 0));
        assert_eq!(p.evidence, vec![EvidenceKind::Equivocation]);
    }

    #[test]
    fn peer_fork_counts_round_trip_and_a_partial_object_fills_zeros() {
        let p = PeerHeadStatus {
            peer: "https://b.example".into(),
            forks: PeerForks {
                adopted: 1,
                kept: 2,
                split: 0,
                rebased: 3,
                dropped: 0,
            },
            equivocations: 1,
            ..Default::default()
        };
        let text = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<PeerHeadStatus>(&text).unwrap(), p);
        assert_eq!(p.forks.resolved(), 3);
        let partial: PeerForks = serde_json::from_str(r#"{"adopted":4}"#).unwrap();
        assert_eq!((partial.adopted, partial.rebased), (4, 0));
    }
}
