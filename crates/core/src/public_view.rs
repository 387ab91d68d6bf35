//! The public view of the one Infonet chain: every private event (`gate_message`, `dm_message`)
//! replaced by a link-preserving **redaction stub**, so that a reader without peer credentials
//! can verify every link, every public event in full, and the Merkle root of the whole chain,
//! without ever receiving a private payload, ciphertext, key or signature.
//!
//! A stub is a JSON object with exactly the members of [`STUB_FIELDS`], in that order, copied
//! unchanged from the stored event:
//! `{"event_id","prev_hash","event_type","node_id","sequence","timestamp"}`.
//! Verification of a stub is **link-only** (`verify::ChainState::ingest_link_only`): the type is
//! private, `event_id`/`prev_hash` are 64 lower-case hex, the stub extends the head, its id is
//! not already on the chain, its sequence is positive and above the author's last one in that
//! type's sequence domain, and (when a freshness window is applied) its timestamp is fresh. Its
//! signature and the recomputation of its id are not checkable without the payload; the next
//! full event's `prev_hash` and the Merkle root (over all ids) commit to the stub's id.

use crate::canonical::{GENESIS_HASH, NETWORK_ID};
use crate::event::ChainEvent;
use crate::json::Value;
use crate::merkle::merkle_root;
use crate::verify::{
    ChainFailure, ChainReport, ChainState, EventRejection, FailReason, VerifyOptions,
};

/// Types served as stubs to public readers.
pub const PRIVATE_EVENT_TYPES: &[&str] = &["gate_message", "dm_message"];
/// The members of a redaction stub, in order.
pub const STUB_FIELDS: [&str; 6] = [
    "event_id",
    "prev_hash",
    "event_type",
    "node_id",
    "sequence",
    "timestamp",
];

/// Is `event_type` one of the private ledger types?
pub fn is_private_type(event_type: &str) -> bool {
    PRIVATE_EVENT_TYPES.contains(&event_type)
}

/// The public form of a stored event: a stub for a private event, the event itself otherwise
/// (and for anything that is not an object).
pub fn redact(event: &Value) -> Value {
    let private = event
        .get("event_type")
        .and_then(Value::as_str)
        .is_some_and(is_private_type);
    if !private {
        return event.clone();
    }
    Value::Object(
        STUB_FIELDS
            .iter()
            .map(|k| {
                (
                    (*k).to_string(),
                    event.get(k).cloned().unwrap_or(Value::Null),
                )
            })
            .collect(),
    )
}

/// Is `v` a redaction stub (a private-type object whose members are exactly [`STUB_FIELDS`])?
pub fn is_stub(v: &Value) -> bool {
    let Some(members) = v.as_object() else {
        return false;
    };
    members.len() == STUB_FIELDS.len()
        && STUB_FIELDS.iter().all(|k| v.contains_key(k))
        && v.get("event_type")
            .and_then(Value::as_str)
            .is_some_and(is_private_type)
}

/// Does a served event carry anything of a private event beyond the stub (payload, signature,
/// key…)? A public view must answer `false` for every element.
pub fn leaks_private_material(v: &Value) -> bool {
    let private = v
        .get("event_type")
        .and_then(Value::as_str)
        .is_some_and(is_private_type);
    private && !is_stub(v)
}

/// A stub as a [`ChainEvent`] (no payload, signature or key; network implied).
pub fn stub_event(v: &Value) -> ChainEvent {
    let s = |k: &str| v.get(k).map(Value::py_str).unwrap_or_default();
    ChainEvent {
        event_id: s("event_id"),
        prev_hash: s("prev_hash"),
        event_type: s("event_type"),
        node_id: s("node_id"),
        payload: Value::object(),
        timestamp: v.get("timestamp").cloned().unwrap_or(Value::Null),
        sequence: v
            .get("sequence")
            .cloned()
            .unwrap_or_else(|| Value::from(0i64)),
        signature: String::new(),
        network_id: NETWORK_ID.into(),
        public_key: String::new(),
        public_key_algo: String::new(),
        protocol_version: String::new(),
    }
}

/// Result of [`verify_public_view`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicViewReport {
    /// Head, Merkle root (over every id, stubs included) and the first failure.
    pub report: ChainReport,
    /// Events verified in full.
    pub full: usize,
    /// Stubs verified link-only.
    pub link_only: usize,
}

impl ChainState {
    /// Ingest one element of a public view: a stub link-only, anything else with every rule
    /// ([`ChainState::ingest`]). Returns whether it was a stub.
    pub fn ingest_view_entry(
        &mut self,
        v: &Value,
        opts: &VerifyOptions,
    ) -> Result<bool, EventRejection> {
        if is_stub(v) {
            return self.ingest_link_only(&stub_event(v), opts).map(|()| true);
        }
        let evt = ChainEvent::from_value(v).map_err(|_| EventRejection {
            reason: FailReason::NotAnObject,
            detail: "Event is not an object".into(),
        })?;
        self.ingest(&evt, opts).map(|()| false)
    }
}

/// Verify a chain that may contain redaction stubs, from genesis: full events with every rule,
/// stubs link-only. The Merkle root is over all ids, so it equals the full chain's root.
pub fn verify_public_view(events: &[Value], opts: &VerifyOptions) -> PublicViewReport {
    let mut state = ChainState::new();
    let (mut full, mut link_only) = (0usize, 0usize);
    for (i, v) in events.iter().enumerate() {
        match state.ingest_view_entry(v, opts) {
            Ok(true) => link_only += 1,
            Ok(false) => full += 1,
            Err(rej) => {
                return PublicViewReport {
                    report: ChainReport {
                        valid: false,
                        count: events.len(),
                        head: None,
                        merkle_root: None,
                        error: Some(ChainFailure {
                            index: i,
                            event_id: v.get("event_id").map(Value::py_str).unwrap_or_default(),
                            reason: rej.reason,
                            detail: rej.detail,
                        }),
                    },
                    full,
                    link_only,
                }
            }
        }
    }
    let head = if state.is_empty() {
        GENESIS_HASH.to_string()
    } else {
        state.head().to_string()
    };
    PublicViewReport {
        report: ChainReport {
            valid: true,
            count: events.len(),
            head: Some(head),
            merkle_root: Some(merkle_root(state.event_ids())),
            error: None,
        },
        full,
        link_only,
    }
}

/// The public form of one stored event text (core's exact JSON in, exact JSON out): private
/// events become stubs, any other text is returned unchanged.
pub fn redact_text(text: &str) -> Result<String, crate::json::JsonError> {
    let v = crate::json::parse(text.as_bytes())?;
    if v.get("event_type")
        .and_then(Value::as_str)
        .is_some_and(is_private_type)
    {
        Ok(redact(&v).to_json_ordered())
    } else {
        Ok(text.to_string())
    }
}

/// Why events pulled from a peer stopped verifying although the peer is not forked from us:
/// the peer served a *view* of its chain, not the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncompleteReason {
    /// An event names a `prev_hash` the peer did not serve (a dropped private event).
    Gap,
    /// An event's payload was redacted: it is not normalised, its signature or its id no
    /// longer verifies.
    Redacted,
    /// The peer served redaction stubs (its public view).
    Stub,
}

impl IncompleteReason {
    /// Stable snake_case name (status and metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            IncompleteReason::Gap => "gap",
            IncompleteReason::Redacted => "redacted",
            IncompleteReason::Stub => "stub",
        }
    }
}

/// Classify the first refused event of a pulled page. `prev_known` says whether the local chain
/// (or the page before the event) holds the event's `prev_hash`. `None`: an ordinary invalid
/// event or a fork, not a view.
pub fn classify_pulled_refusal(
    event: &Value,
    reason: FailReason,
    prev_known: bool,
) -> Option<IncompleteReason> {
    if is_stub(event) {
        return Some(IncompleteReason::Stub);
    }
    match reason {
        FailReason::PrevHashMismatch if !prev_known => Some(IncompleteReason::Gap),
        FailReason::InvalidPayload | FailReason::InvalidSignature | FailReason::EventIdMismatch => {
            Some(IncompleteReason::Redacted)
        }
        _ => None,
    }
}
