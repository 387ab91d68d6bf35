//! Request/response types of the relay's Infonet endpoints (JSON field names as in the
//! reference relay). Events travel as [`ChainEvent`]s.

use serde::{Deserialize, Serialize};

use crate::api::ErrorBody;
use crate::canonical::{NETWORK_ID, PROTOCOL_VERSION};
use crate::event::ChainEvent;
use crate::json::Value;

/// Smallest locator size a client may ask for.
pub const LOCATOR_LIMIT_MIN: usize = 4;
/// Largest locator size a client may ask for.
pub const LOCATOR_LIMIT_MAX: usize = 128;
/// Default locator size.
pub const LOCATOR_LIMIT_DEFAULT: usize = 32;
/// Smallest sync page.
pub const SYNC_LIMIT_MIN: usize = 1;
/// Largest sync page.
pub const SYNC_LIMIT_MAX: usize = 500;
/// Default sync page.
pub const SYNC_LIMIT_DEFAULT: usize = 100;
/// Most events one peer push may carry.
pub const PEER_PUSH_MAX_EVENTS: usize = 50;
/// Label in the status `protocol` field.
pub const STATUS_PROTOCOL_LABEL: &str = "infonet";
/// Relay paths.
pub const PATH_STATUS: &str = "/api/mesh/infonet/status";
pub const PATH_MERKLE: &str = "/api/mesh/infonet/merkle";
pub const PATH_LOCATOR: &str = "/api/mesh/infonet/locator";
pub const PATH_SYNC: &str = "/api/mesh/infonet/sync";
pub const PATH_APPEND: &str = "/api/infonet/append";
pub const PATH_PEER_PUSH: &str = "/api/mesh/infonet/peer-push";
/// Head and count of the relay's private lane (gate/DM ciphertext events).
pub const PATH_PRIVATE_STATUS: &str = "/api/mesh/infonet/private/status";
/// Largest `POST /api/infonet/append` body a relay accepts.
pub const MAX_APPEND_BODY_BYTES: usize = 64 * 1024;

/// Error codes of the Infonet endpoints (in an [`crate::api::ErrorBody`]), in addition to the
/// shared [`crate::api::codes`]. A refused append uses the verifier's
/// [`crate::verify::FailReason`] name (`invalid_signature`, `sequence_replay`, …) as its code.
pub mod codes {
    /// `expected_head` of a sync request is not this relay's head.
    pub const HEAD_MISMATCH: &str = "head_mismatch";
    /// `protocol_version` of a request is not Infonet/2.
    pub const UNSUPPORTED_PROTOCOL: &str = "unsupported_protocol_version";
    /// The append payload breaks the append schema (`schema::validate_for_append`).
    pub const INVALID_PAYLOAD: &str = "invalid_payload";
    /// The canonical payload is over `schema::MAX_PAYLOAD_BYTES`.
    pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
    /// The signed event's `network_id` is not this network.
    pub const NETWORK_MISMATCH: &str = "network_mismatch";
}

/// Clamp a requested locator size into `4..=128` (absent → 32).
pub fn clamp_locator_limit(requested: Option<i64>) -> usize {
    match requested {
        None => LOCATOR_LIMIT_DEFAULT,
        Some(v) => usize::try_from(v.max(0))
            .unwrap_or(0)
            .clamp(LOCATOR_LIMIT_MIN, LOCATOR_LIMIT_MAX),
    }
}

/// Clamp a requested sync page into `1..=500` (absent → 100).
pub fn clamp_sync_limit(requested: Option<i64>) -> usize {
    match requested {
        None => SYNC_LIMIT_DEFAULT,
        Some(v) => usize::try_from(v.max(0))
            .unwrap_or(0)
            .clamp(SYNC_LIMIT_MIN, SYNC_LIMIT_MAX),
    }
}

/// Critical-event confirmation lock (`chain_lock` in the status).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainLock {
    pub depth: u64,
    pub event_id: String,
    pub active: bool,
}

/// `GET /api/mesh/infonet/status`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusResponse {
    pub protocol: String,
    pub network_id: String,
    pub total_events: u64,
    #[serde(default)]
    pub active_events: u64,
    /// First 16 hex chars + `...`.
    #[serde(default)]
    pub head_hash: String,
    pub head_hash_full: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_lock: Option<ChainLock>,
    #[serde(default)]
    pub known_nodes: u64,
    #[serde(default)]
    pub event_types: std::collections::BTreeMap<String, u64>,
    #[serde(default)]
    pub valid: bool,
    #[serde(default)]
    pub validation: String,
}

impl StatusResponse {
    /// Minimal status for a head and count.
    pub fn new(head_hash_full: &str, total_events: u64, valid: bool) -> Self {
        let short: String = head_hash_full.chars().take(16).collect();
        StatusResponse {
            protocol: STATUS_PROTOCOL_LABEL.into(),
            network_id: NETWORK_ID.into(),
            total_events,
            active_events: total_events,
            head_hash: format!("{short}..."),
            head_hash_full: head_hash_full.into(),
            chain_lock: None,
            known_nodes: 0,
            event_types: Default::default(),
            valid,
            validation: String::new(),
        }
    }
}

/// `GET /api/mesh/infonet/merkle`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerkleResponse {
    pub merkle_root: String,
    pub head_hash: String,
    pub count: u64,
    pub network_id: String,
}

/// Query of `GET /api/mesh/infonet/locator?limit=4..128`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LocatorQuery {
    #[serde(default)]
    pub limit: Option<i64>,
}

/// `GET /api/mesh/infonet/locator`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocatorResponse {
    pub locator: Vec<String>,
    pub head_hash: String,
    pub count: u64,
    pub network_id: String,
}

/// Query of `GET /api/mesh/infonet/sync?after_hash&limit=1..500`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SyncQuery {
    #[serde(default)]
    pub after_hash: Option<String>,
    #[serde(default)]
    pub limit: Option<i64>,
    #[serde(default)]
    pub expected_head: Option<String>,
    #[serde(default)]
    pub protocol_version: Option<String>,
}

/// `GET /api/mesh/infonet/sync`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncGetResponse {
    pub events: Vec<ChainEvent>,
    pub after_hash: String,
    pub count: u64,
    pub protocol_version: String,
    /// Postern's addition to Shadowbroker's answer: `after_hash` is not on the relay's chain
    /// (answered 200 with no events, as Shadowbroker does). The client's head is not on the
    /// relay's chain: resync with a locator (`POST` sync), never take the empty page as
    /// "caught up". Absent (false) on every other answer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unknown_after_hash: bool,
}

/// Member of a `GET` sync answer that marks an unknown `after_hash` (see
/// [`SyncGetResponse::unknown_after_hash`]).
pub const FIELD_UNKNOWN_AFTER_HASH: &str = "unknown_after_hash";

/// `POST /api/mesh/infonet/sync` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncPostRequest {
    #[serde(default = "default_protocol")]
    pub protocol_version: String,
    #[serde(default)]
    pub locator: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_head: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub include_proofs: bool,
}

fn default_protocol() -> String {
    PROTOCOL_VERSION.into()
}

/// `POST /api/mesh/infonet/sync` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncPostResponse {
    pub events: Vec<ChainEvent>,
    /// Common ancestor; empty string when nothing matched.
    pub matched_hash: String,
    pub forked: bool,
    pub head_hash: String,
    pub count: u64,
    pub protocol_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merkle_root: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merkle_total: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merkle_start: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merkle_proofs: Option<Vec<MerkleProofEntry>>,
}

/// One proof in a sync response with `include_proofs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerkleProofEntry {
    pub index: u64,
    pub leaf: String,
    pub proof: Vec<crate::merkle::ProofStep>,
}

/// Shadowbroker's `detail` of a 409 sync refusal.
pub const DETAIL_HEAD_MISMATCH: &str = "head_hash mismatch";
/// Shadowbroker's `detail` of a 426 refusal.
pub const DETAIL_UNSUPPORTED_PROTOCOL: &str = "Unsupported protocol_version";

/// Body of a refused sync request, Postern's [`ErrorBody`] members (`ok`, `code`, `detail`)
/// with Shadowbroker's beside them: 409 `head_mismatch` carries `head_hash` (the relay's) and
/// `expected_head` (the client's), 426 `unsupported_protocol_version` the `protocol_version`
/// the relay speaks. With no extra member it is exactly an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    #[serde(flatten)]
    pub error: ErrorBody,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_head: Option<String>,
}

impl ErrorResponse {
    /// `{ok, code, detail}` and no Shadowbroker member.
    pub fn plain(error: ErrorBody) -> Self {
        ErrorResponse {
            error,
            protocol_version: None,
            head_hash: None,
            expected_head: None,
        }
    }

    /// 409: the client's `expected_head` is not the relay's `head_hash`.
    pub fn head_mismatch(head_hash: &str, expected_head: &str) -> Self {
        ErrorResponse {
            head_hash: Some(head_hash.into()),
            expected_head: Some(expected_head.into()),
            ..Self::plain(ErrorBody::new(codes::HEAD_MISMATCH, DETAIL_HEAD_MISMATCH))
        }
    }

    /// 426: the request's `protocol_version` is not the one this relay speaks.
    pub fn unsupported_protocol() -> Self {
        ErrorResponse {
            protocol_version: Some(PROTOCOL_VERSION.into()),
            ..Self::plain(ErrorBody::new(
                codes::UNSUPPORTED_PROTOCOL,
                DETAIL_UNSUPPORTED_PROTOCOL,
            ))
        }
    }
}

/// `POST /api/infonet/append` body: an author-signed event to append at the relay's head.
///
/// In Infonet/2 the signature covers `network_id|event_type|node_id|sequence|payload` only, so
/// the client signs those (e.g. with [`crate::event::sign_event`], whose `prev_hash` and
/// `timestamp` it may leave empty) and sends the fields below; `payload` must already be
/// normalised (as `sign_event` leaves it). The relay fills `prev_hash` (its current head of the
/// lane the type belongs to), `timestamp` (its clock, a float like the reference's
/// `time.time()`) and `network_id` (an optional `"network_id"` member of the body, default
/// [`NETWORK_ID`]), recomputes `event_id`, and then verifies the whole event with
/// [`crate::verify::ChainState::ingest`] against its chain (plus
/// [`crate::schema::validate_for_append`]). `gate_message`/`dm_message` go to the private lane.
/// Answer: [`AppendResponse`] with the stored event, or an `ErrorBody`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppendRequest {
    pub event_type: String,
    pub node_id: String,
    pub payload: Value,
    pub signature: String,
    pub sequence: u64,
    pub public_key: String,
    pub public_key_algo: String,
    #[serde(default = "default_protocol")]
    pub protocol_version: String,
    /// Network the event is signed for; absent on the wire = [`NETWORK_ID`] (older clients).
    #[serde(default = "default_network_id")]
    pub network_id: String,
}

impl AppendRequest {
    /// The append statement of an event signed by its author (e.g. with
    /// [`crate::event::sign_event`]): its signed fields, with `sequence` as the integer it was
    /// signed with (the event carries it as a JSON value).
    pub fn for_signed(e: ChainEvent, sequence: u64) -> Self {
        AppendRequest {
            event_type: e.event_type,
            node_id: e.node_id,
            payload: e.payload,
            signature: e.signature,
            sequence,
            public_key: e.public_key,
            public_key_algo: e.public_key_algo,
            protocol_version: e.protocol_version,
            network_id: e.network_id,
        }
    }

    /// The request body in core's exact JSON (the payload exactly as signed, no serde
    /// number rendering in between).
    pub fn to_json(&self) -> String {
        let st = |x: &str| Value::Str(x.to_string());
        Value::Object(vec![
            ("event_type".into(), st(&self.event_type)),
            ("node_id".into(), st(&self.node_id)),
            ("payload".into(), self.payload.clone()),
            ("signature".into(), st(&self.signature)),
            ("sequence".into(), Value::from(self.sequence)),
            ("public_key".into(), st(&self.public_key)),
            ("public_key_algo".into(), st(&self.public_key_algo)),
            ("protocol_version".into(), st(&self.protocol_version)),
            ("network_id".into(), st(&self.network_id)),
        ])
        .to_json_ordered()
    }
}

fn default_network_id() -> String {
    NETWORK_ID.into()
}

/// `POST /api/infonet/append` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppendResponse {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<ChainEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// `GET /api/mesh/infonet/private/status`: head and size of the private lane only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivateStatusResponse {
    pub head_hash: String,
    pub count: u64,
}

/// `POST /api/mesh/infonet/peer-push` body (at most [`PEER_PUSH_MAX_EVENTS`] events).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerPushRequest {
    pub events: Vec<ChainEvent>,
}

impl PeerPushRequest {
    /// Does the push respect the size limit?
    pub fn within_limit(&self) -> bool {
        self.events.len() <= PEER_PUSH_MAX_EVENTS
    }
}

/// A rejected event in an ingest/push result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedEvent {
    pub index: u64,
    pub reason: String,
}

/// Ingest / peer-push result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestResponse {
    pub ok: bool,
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: Vec<RejectedEvent>,
}

#[cfg(all(test, not(target_arch = "wasm32")))]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert_eq!(clamp_locator_limit(None), 32);
        assert_eq!(clamp_locator_limit(Some(1)), 4);
        assert_eq!(clamp_locator_limit(Some(1000)), 128);
        assert_eq!(clamp_sync_limit(Some(-5)), 1);
        assert_eq!(clamp_sync_limit(Some(501)), 500);
    }

    #[test]
    fn field_names() {
        let r = SyncPostResponse {
            events: vec![],
            matched_hash: String::new(),
            forked: true,
            head_hash: "h".into(),
            count: 0,
            protocol_version: PROTOCOL_VERSION.into(),
            merkle_root: None,
            merkle_total: None,
            merkle_start: None,
            merkle_proofs: None,
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"events":[],"matched_hash":"","forked":true,"head_hash":"h","count":0,"protocol_version":"infonet/2"}"#
        );
        let req: SyncPostRequest = serde_json::from_str(r#"{"locator":["a"],"limit":5}"#).unwrap();
        assert_eq!(req.protocol_version, "infonet/2");
        let g = SyncGetResponse {
            events: vec![],
            after_hash: "ab".into(),
            count: 0,
            protocol_version: PROTOCOL_VERSION.into(),
            unknown_after_hash: true,
        };
        assert_eq!(
            serde_json::to_string(&g).unwrap(),
            r#"{"events":[],"after_hash":"ab","count":0,"protocol_version":"infonet/2","unknown_after_hash":true}"#
        );
        let known = SyncGetResponse {
            unknown_after_hash: false,
            ..g
        };
        let text = serde_json::to_string(&known).unwrap();
        assert!(!text.contains(FIELD_UNKNOWN_AFTER_HASH), "{text}");
        assert_eq!(
            serde_json::from_str::<SyncGetResponse>(&text).unwrap(),
            known
        );
        let s = StatusResponse::new(&"ab".repeat(32), 3, true);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["head_hash"], "abababababababab...");
        assert_eq!(v["head_hash_full"], "ab".repeat(32));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod error_response_tests {
    use super::*;

    #[test]
    fn refusals_carry_shadowbrokers_members_beside_posterns() {
        let h = ErrorResponse::head_mismatch("aa", "bb");
        assert_eq!(
            serde_json::to_string(&h).unwrap(),
            r#"{"ok":false,"code":"head_mismatch","detail":"head_hash mismatch","head_hash":"aa","expected_head":"bb"}"#
        );
        let p = ErrorResponse::unsupported_protocol();
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"ok":false,"code":"unsupported_protocol_version","detail":"Unsupported protocol_version","protocol_version":"infonet/2"}"#
        );
        let text = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<ErrorResponse>(&text).unwrap(), h);
        // Still an ErrorBody for a client that knows only Postern's members.
        let b: ErrorBody = serde_json::from_str(&text).unwrap();
        assert_eq!(b.code, codes::HEAD_MISMATCH);
        // Without extras it is exactly an ErrorBody.
        let plain = ErrorResponse::plain(ErrorBody::new("x", "y"));
        assert_eq!(
            serde_json::to_string(&plain).unwrap(),
            serde_json::to_string(&ErrorBody::new("x", "y")).unwrap()
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod append_request_tests {
    use super::*;

    #[test]
    fn network_id_is_optional_on_the_wire() {
        let body = r#"{"event_type":"message","node_id":"!sb_x","payload":{},"signature":"s","sequence":1,"public_key":"k","public_key_algo":"Ed25519"}"#;
        let req: AppendRequest = serde_json::from_str(body).unwrap();
        assert_eq!(req.network_id, NETWORK_ID);
        assert_eq!(req.protocol_version, PROTOCOL_VERSION);
        let mut v: serde_json::Value = serde_json::from_str(body).unwrap();
        v["network_id"] = "other-net".into();
        let req: AppendRequest = serde_json::from_value(v).unwrap();
        assert_eq!(req.network_id, "other-net");
        let back: AppendRequest =
            serde_json::from_slice(&serde_json::to_vec(&req).unwrap()).unwrap();
        assert_eq!(back, req);
    }
}
