//! Private gate endpoints of a relay (`/api/mesh/gate/*`). See `docs/protocol.md` § Private gates.
//!
//! Writes are not authenticated by the transport: an epoch record is signed by its rotator and
//! checked against the stored chain ([`crate::gate::GateState`]); a message is ciphertext whose
//! author is only known to members. Reads are signed requests (action
//! [`crate::auth::Action::GateRead`]) from a node that is in the roster of at least one epoch of
//! the gate; a member receives only the messages of the epochs they were a member of.
use serde::{Deserialize, Serialize};

use crate::auth::RequestAuth;
use crate::gate::{EpochRecord, GateMessage};
use crate::json::Value;

pub const PATH_EPOCH: &str = "/api/mesh/gate/epoch";
pub const PATH_MESSAGE: &str = "/api/mesh/gate/message";
pub const PATH_EPOCHS: &str = "/api/mesh/gate/epochs";
pub const PATH_MESSAGES: &str = "/api/mesh/gate/messages";
pub const PATH_MINE: &str = "/api/mesh/gate/mine";

/// Largest `limit` of a messages read.
pub const MAX_MESSAGES_LIMIT: u32 = 100;

/// Gate-specific error codes (in addition to [`crate::api::codes`]).
pub mod codes {
    /// The record is an epoch the relay already holds, byte for byte.
    pub const REPLAYED_EPOCH: &str = "replayed_epoch";
    /// A different record for an epoch the relay already holds (admin equivocation).
    pub const FORKED_EPOCH: &str = "forked_epoch";
    /// Any other refusal of an epoch record by core (text in `detail`).
    pub const INVALID_EPOCH: &str = "invalid_epoch";
    /// The message failed core's shape checks or the `gate_message` schema.
    pub const INVALID_MESSAGE: &str = "invalid_message";
    /// No epoch of this gate is known to the relay.
    pub const UNKNOWN_GATE: &str = "unknown_gate";
    /// The message's epoch is not (yet) on the relay: publish the epoch record first.
    pub const UNKNOWN_EPOCH: &str = "unknown_epoch";
    /// The signed requester is in no roster of this gate.
    pub const NOT_A_MEMBER: &str = "not_a_member";
    /// The message is sealed for an epoch older than the gate's current epoch (409): re-seal
    /// it under the current epoch ([`crate::gate::check_message_epoch`]).
    pub const STALE_EPOCH: &str = "stale_epoch";
    /// The gate has [`crate::gate::MAX_EPOCHS_PER_GATE`] epochs (409).
    pub const TOO_MANY_EPOCHS: &str = "gate_too_many_epochs";
    /// The roster is larger than [`crate::gate::MAX_MEMBERS_PER_GATE`] (400).
    pub const TOO_MANY_MEMBERS: &str = "gate_too_many_members";
    /// The epoch adds a member who is already in [`crate::gate::MAX_GATES_PER_MEMBER`] gates (409).
    pub const MEMBER_TOO_MANY_GATES: &str = "member_too_many_gates";
}

/// `POST /api/mesh/gate/epoch`: publish an epoch record (genesis for a new gate, else exactly
/// the next epoch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochRequest {
    pub record: EpochRecord,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochResponse {
    pub ok: bool,
    pub gate: String,
    /// Number of the accepted epoch (now the gate's current epoch).
    pub epoch: u64,
    /// Hex hash of the accepted epoch.
    pub hash: String,
    /// Hex hash of the gate's genesis epoch.
    pub genesis_hash: String,
}

/// `POST /api/mesh/gate/message`: deposit a sealed message (`gate_message` payload). The body
/// is kept as raw JSON so the relay can run core's schema check on exactly what was sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageRequest {
    pub message: Value,
}

impl MessageRequest {
    pub fn new(message: &GateMessage) -> Result<Self, crate::gate::FormatError> {
        let json = message.to_json()?;
        let message = crate::json::parse(json.as_bytes())
            .map_err(|_| crate::gate::FormatError::Malformed("gate message JSON"))?;
        Ok(MessageRequest { message })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageResponse {
    pub ok: bool,
    /// Position of the message in the gate's stream (use as `after` cursor).
    pub seq: u64,
    /// True when a message with this (gate, nonce) was already stored (idempotent retry).
    pub duplicate: bool,
}

/// `POST /api/mesh/gate/epochs`: the epoch records of a gate after epoch number `after` (0 or
/// absent: from genesis), oldest first, at most `limit` (1..=[`crate::gate::MAX_EPOCHS_PAGE`],
/// absent: the maximum); signed, action `gate.read`, params = [`epochs_page_params`]. A client
/// applies them to its pinned [`crate::gate::GateState`] (or verifies from genesis).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochsRequest {
    pub auth: RequestAuth,
    pub gate: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochsResponse {
    pub ok: bool,
    pub gate: String,
    pub records: Vec<EpochRecord>,
    /// True when records after the last one returned remain (read again with `after` = the
    /// last record's epoch).
    #[serde(default)]
    pub more: bool,
    /// The gate's current epoch on this relay.
    #[serde(default)]
    pub head: u64,
}

/// The effective page size of an epochs or gate-list read (`None` or out of range → clamped to
/// `1..=max`).
pub fn page_limit(limit: Option<u32>, max: u32) -> u32 {
    limit.unwrap_or(max).clamp(1, max)
}

/// `POST /api/mesh/gate/messages`: messages of a gate after cursor `after` (0 or absent = from
/// the start), oldest first, at most `limit` (1..=[`MAX_MESSAGES_LIMIT`]); signed, action
/// `gate.read`, params = [`messages_params`]. Only messages of epochs whose roster contains the
/// requester are returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagesRequest {
    pub auth: RequestAuth,
    pub gate: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredGateMessage {
    pub seq: u64,
    pub epoch: u64,
    pub received_at: u64,
    pub message: GateMessage,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagesResponse {
    pub ok: bool,
    pub messages: Vec<StoredGateMessage>,
    /// Cursor for the next read: the `seq` of the last message returned, else the request's
    /// `after`.
    pub next_after: u64,
}

/// Params signed for an epochs read: the gate id.
pub fn epochs_params(gate: &str) -> Vec<u8> {
    format!("epochs\n{gate}").into_bytes()
}

/// Params signed for a paginated epochs read: [`epochs_params`] when neither `after` nor `limit`
/// is given, else `epochs`, gate id, `after` (0 if absent), `limit` (0 if absent) joined by `\n`.
pub fn epochs_page_params(gate: &str, after: Option<u64>, limit: Option<u32>) -> Vec<u8> {
    if after.is_none() && limit.is_none() {
        return epochs_params(gate);
    }
    format!(
        "epochs\n{gate}\n{}\n{}",
        after.unwrap_or(0),
        limit.unwrap_or(0)
    )
    .into_bytes()
}

/// Params signed for a messages read: `messages`, gate id, `after` (0 if absent) and `limit`,
/// joined with `\n`.
pub fn messages_params(gate: &str, after: Option<u64>, limit: u32) -> Vec<u8> {
    format!("messages\n{gate}\n{}\n{limit}", after.unwrap_or(0)).into_bytes()
}

// ---------------------------------------------------------------------------------------------
// Relay-to-relay gate replication (peer endpoints, HMAC-authenticated with `crate::peer`).
// ---------------------------------------------------------------------------------------------

/// `POST /api/mesh/gate/peer-push`: one epoch record or one gate message accepted by the
/// sending relay. Authenticated like every peer endpoint (`X-Peer-Url`, `X-Peer-HMAC` over the
/// exact body, see [`crate::peer`]); the receiver runs exactly the checks of a client
/// submission ([`EpochRequest`] / [`MessageRequest`]).
pub const PATH_PEER_PUSH: &str = "/api/mesh/gate/peer-push";

/// Largest gate peer-push body: a client submission ([`crate::api::MAX_BODY_BYTES`]) plus the
/// wrapper.
pub const MAX_PEER_PUSH_BODY_BYTES: usize = crate::api::MAX_BODY_BYTES + 1024;

/// Exactly one of `record` / `message`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerPushRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<EpochRecord>,
    /// A `gate_message` payload, exactly as a client would send it in [`MessageRequest`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Value>,
}

/// What the receiving relay did with a pushed item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerPushOutcome {
    /// Newly stored (and queued for the receiver's other peers).
    Accepted,
    /// Already held: nothing stored, nothing forwarded.
    Duplicate,
    /// Its predecessor (previous epoch, or the message's epoch) is not on the receiver yet: kept
    /// aside, not served and not forwarded, and run through the same checks once the missing
    /// epoch arrives.
    Parked,
}

/// `POST /api/mesh/gate/peer-push` success (200 accepted/duplicate, 202 parked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerPushResponse {
    pub ok: bool,
    pub outcome: PeerPushOutcome,
    pub gate: String,
    /// The record's epoch, or the message's epoch.
    pub epoch: u64,
}

/// Gate peer-push error codes (in addition to [`codes`] and [`crate::api::peer::codes`]).
pub mod peer_codes {
    /// The body holds neither or both of `record` / `message` (400).
    pub const ONE_ITEM: &str = "one_item_expected";
    /// The receiver's parking area for out-of-order items is full (503, retry later).
    pub const PARKING_FULL: &str = "parking_full";
}

/// `POST /api/mesh/gate/peer-pull`: a peer relay reads this relay's gate feed (every stored
/// epoch record and gate message, in the order stored) after position `after`, so a relay
/// that joined late or missed pushes catches up. Authenticated like the push.
pub const PATH_PEER_PULL: &str = "/api/mesh/gate/peer-pull";
/// Largest `limit` of a peer pull.
pub const PEER_PULL_MAX_LIMIT: u32 = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerPullRequest {
    /// Feed position already pulled (0: from the start).
    pub after: u64,
    /// 1..=[`PEER_PULL_MAX_LIMIT`].
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerPullResponse {
    pub ok: bool,
    /// Items oldest first, each exactly a [`PeerPushRequest`] body.
    pub items: Vec<PeerPushRequest>,
    /// Feed position of the last item (the next `after`), else the request's `after`.
    pub next_after: u64,
}

/// `POST /api/mesh/gate/mine`: the gates whose roster, in any epoch, holds the signed requester
/// (signed, action `gate.list`, params = [`mine_params`]). A member removed at a later epoch still
/// sees the gate, so it learns of the removal. Each entry names the gate's current epoch and
/// genesis hash; fetch the records with [`EpochsRequest`] and verify them with
/// [`crate::gate::verify_epoch_chain`] before trusting anything.
///
/// Paginated by gate id: `after` (exclusive, absent = from the start), at most `limit`
/// (1..=[`crate::gate::MAX_GATES_PAGE`], absent = the maximum); `next_after` is set when more
/// gates remain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MineRequest {
    pub auth: RequestAuth,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MineGate {
    pub gate: String,
    /// The gate's current (latest) epoch number on this relay.
    pub epoch: u64,
    /// Hex hash of the gate's genesis epoch.
    pub genesis_hash: String,
    /// Whether the requester is in the roster of the current epoch (false: removed since).
    pub current_member: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MineResponse {
    pub ok: bool,
    /// Sorted by gate id.
    pub gates: Vec<MineGate>,
    /// Cursor of the next page (the last gate id returned) when more gates remain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// Params signed for a gate listing: the constant `mine` (the requester is the signer).
pub fn mine_params() -> Vec<u8> {
    b"mine".to_vec()
}

/// Params signed for a paginated gate listing: [`mine_params`] when neither `after` nor
/// `limit` is given, else `mine`, `after` (empty if absent), `limit` (0 if absent) joined by `\n`.
pub fn mine_page_params(after: Option<&str>, limit: Option<u32>) -> Vec<u8> {
    if after.is_none() && limit.is_none() {
        return mine_params();
    }
    format!("mine\n{}\n{}", after.unwrap_or(""), limit.unwrap_or(0)).into_bytes()
}

/// A gate-list entry from a relay's cached verified head (no chain re-verification):
/// `ever_member` says whether `member_id` was in any epoch's roster.
pub fn mine_entry_from_state(
    state: &crate::gate::GateState,
    member_id: &str,
    ever_member: bool,
) -> Option<MineGate> {
    let current_member = state.head().roster().contains(member_id);
    (ever_member || current_member).then(|| MineGate {
        gate: state.gate().as_str().to_string(),
        epoch: state.epoch(),
        genesis_hash: hex::encode(state.genesis_hash()),
        current_member,
    })
}

/// Core's answer for one gate of a listing: verify the whole chain (genesis first) and report it
/// if `member_id` is in the roster of any epoch, else `None`. A relay lists only what this
/// returns; a client re-verifies the chain itself after fetching it.
pub fn mine_entry(
    records: &[crate::gate::EpochRecord],
    member_id: &str,
) -> Result<Option<MineGate>, crate::gate::ChainError> {
    let (first, rest) = records
        .split_first()
        .ok_or(crate::gate::ChainError::BadGenesis("empty chain"))?;
    let mut state = crate::gate::GateState::from_genesis(first)?;
    let mut member = state.head().roster().contains(member_id);
    for record in rest {
        member |= state.apply(record)?.roster().contains(member_id);
    }
    if !member {
        return Ok(None);
    }
    Ok(Some(MineGate {
        gate: state.gate().as_str().to_string(),
        epoch: state.epoch(),
        genesis_hash: hex::encode(state.genesis_hash()),
        current_member: state.head().roster().contains(member_id),
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::gate::{create_genesis, rotate, GateId, Reason, Role};
    use crate::Identity;
    use rand_core::OsRng;

    #[test]
    fn mine_entry_reports_past_and_current_members_only() {
        let [alice, bob, eve] = [(); 3].map(|_| Identity::generate(&mut OsRng));
        let gid = GateId::generate(&mut OsRng);
        let r1 = create_genesis(&alice, &gid, 1, &mut OsRng).unwrap();
        let e1 = r1.verify().unwrap();
        let r2 = rotate(
            &alice,
            &e1,
            e1.roster().with_member(bob.public(), Role::Member).unwrap(),
            Reason::Join,
            2,
            &mut OsRng,
        )
        .unwrap();
        let e2 = r2.verify().unwrap();
        let r3 = rotate(
            &alice,
            &e2,
            e2.roster().without_member(&bob.node_id()).unwrap(),
            Reason::Kick,
            3,
            &mut OsRng,
        )
        .unwrap();
        let two = [r1.clone(), r2.clone()];
        let b = mine_entry(&two, &bob.node_id()).unwrap().unwrap();
        assert_eq!((b.epoch, b.current_member), (2, true));
        assert_eq!(b.genesis_hash, hex::encode(e1.hash()));
        let all = [r1.clone(), r2, r3];
        let b = mine_entry(&all, &bob.node_id()).unwrap().unwrap();
        assert_eq!((b.epoch, b.current_member), (3, false));
        assert!(
            mine_entry(&all, &alice.node_id())
                .unwrap()
                .unwrap()
                .current_member
        );
        assert_eq!(mine_entry(&all, &eve.node_id()).unwrap(), None);
        assert!(mine_entry(&[], &bob.node_id()).is_err());
        assert!(mine_entry(&[all[2].clone()], &bob.node_id()).is_err());
    }
}
