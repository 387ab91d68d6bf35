//! Event and chain verification with the Infonet/2 ingest rules.
//!
//! Checks run per event in the reference's ingest order, so the *first* failure and its reason
//! match what a Shadowbroker node reports when ingesting the chain from genesis:
//! event type → required ids → duplicate id → `prev_hash` link → network → sequence (per-node,
//! separate domains for `gate_message` and `dm_message`) → freshness window → payload schema and
//! lane rules → size cap → protocol → signature fields → algorithm → revocation rules → node-id
//! binding → key binding → signature → recomputed event id.
//!
//! Ed25519 signatures are checked in batches with `verify_strict`'s verdict
//! ([`crate::strict_batch`]: keys decoded and checked once per author, the `R`s' prime-order
//! check batched); keys that could make the batch equation disagree with `verify_strict` are
//! checked singly, and a failed batch is re-checked one by one to locate the first bad signature.

mod ingest;
mod locator;
mod rotation;

pub use ingest::{signed_messages, ChainState};
pub use locator::{build_locator, match_locator, LocatorMatch};
pub use rotation::verify_key_rotation_claim;

use serde::{Deserialize, Serialize};

use crate::event::ChainEvent;
use crate::json::Value;
use crate::merkle::merkle_root;

use crate::signature::parse_public_key_algo;
use ingest::{check_signature, first_bad_signature, KeyCache, SigJob, SigOutcome};

/// Default freshness window for ingested events (seconds either side of `now`; 0 disables).
pub const DEFAULT_MAX_EVENT_AGE_S: u64 = 86_400;
/// Max live DM spool entries per mailbox target on the chain.
pub const DM_SPOOL_LIMIT: usize = 2;
/// Max live DM spool entries per (sender, mailbox target).
pub const DM_SPOOL_SENDER_LIMIT: usize = 1;
/// Lifetime of a DM spool entry (seconds).
pub const DM_SPOOL_TTL_S: u64 = 3_600;
/// Ed25519 signatures per batch (large enough for `strict_batch`'s subset-sum check of the
/// `R`s to pay off; a failed batch is re-checked one by one).
pub const BATCH_SIZE: usize = 1024;
/// Number of most-recent ids in a locator before the step starts doubling.
pub const LOCATOR_DENSE_ENTRIES: usize = 10;
/// Default locator size.
pub const DEFAULT_LOCATOR_ENTRIES: usize = 32;
/// Sequence domain label of gate messages.
pub const SEQUENCE_DOMAIN_GATE: &str = "gate_message";
/// Sequence domain label of DM messages.
pub const SEQUENCE_DOMAIN_DM: &str = "dm_message";

/// Verification options (the clock is injected).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Current time, UNIX seconds: revocation grace, freshness and DM spool expiry use it.
    pub now: u64,
    /// Freshness window; 0 disables the check.
    pub max_event_age_s: u64,
    /// Verify Ed25519 signatures in batches.
    pub batch: bool,
}

impl VerifyOptions {
    /// Defaults with the given clock.
    pub fn at(now: u64) -> Self {
        VerifyOptions {
            now,
            max_event_age_s: DEFAULT_MAX_EVENT_AGE_S,
            batch: true,
        }
    }
}

/// Why an event was rejected. The snake_case string form is stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailReason {
    NotAnObject,
    UnsupportedEventType,
    MissingFields,
    DuplicateEventId,
    PrevHashMismatch,
    NetworkMismatch,
    InvalidSequence,
    SequenceReplay,
    StaleTimestamp,
    InvalidPayload,
    DmSpoolFull,
    PayloadTooLarge,
    UnsupportedProtocolVersion,
    MissingSignatureFields,
    UnsupportedPublicKeyAlgo,
    RevokedKeyMismatch,
    KeyRevoked,
    NodeIdMismatch,
    PublicKeyBindingConflict,
    InvalidSignature,
    EventIdMismatch,
}

impl FailReason {
    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        use FailReason::*;
        match self {
            NotAnObject => "not_an_object",
            UnsupportedEventType => "unsupported_event_type",
            MissingFields => "missing_fields",
            DuplicateEventId => "duplicate_event_id",
            PrevHashMismatch => "prev_hash_mismatch",
            NetworkMismatch => "network_mismatch",
            InvalidSequence => "invalid_sequence",
            SequenceReplay => "sequence_replay",
            StaleTimestamp => "stale_timestamp",
            InvalidPayload => "invalid_payload",
            DmSpoolFull => "dm_spool_full",
            PayloadTooLarge => "payload_too_large",
            UnsupportedProtocolVersion => "unsupported_protocol_version",
            MissingSignatureFields => "missing_signature_fields",
            UnsupportedPublicKeyAlgo => "unsupported_public_key_algo",
            RevokedKeyMismatch => "revoked_key_mismatch",
            KeyRevoked => "key_revoked",
            NodeIdMismatch => "node_id_mismatch",
            PublicKeyBindingConflict => "public_key_binding_conflict",
            InvalidSignature => "invalid_signature",
            EventIdMismatch => "event_id_mismatch",
        }
    }
}

impl std::fmt::Display for FailReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event-level rejection with a human-readable detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRejection {
    pub reason: FailReason,
    pub detail: String,
}

impl EventRejection {
    fn new(reason: FailReason, detail: impl Into<String>) -> Self {
        EventRejection {
            reason,
            detail: detail.into(),
        }
    }
}

/// The first failure of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainFailure {
    pub index: usize,
    pub event_id: String,
    pub reason: FailReason,
    pub detail: String,
}

/// Result of [`verify_chain`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub valid: bool,
    pub count: usize,
    /// Head event id (genesis hash for an empty chain); `None` when invalid.
    pub head: Option<String>,
    /// Infonet Merkle root; `None` when invalid.
    pub merkle_root: Option<String>,
    pub error: Option<ChainFailure>,
}

/// Verify a single event on its own (no chain context: link, duplicates, sequences and
/// revocations are not considered).
pub fn verify_event(evt: &ChainEvent, opts: &VerifyOptions) -> Result<(), EventRejection> {
    ChainState::new()
        .check(evt, opts, false, false, true, &mut KeyCache::default())
        .map(|_| ())
        .map_err(|f| f.0)
}

/// Verify a whole chain from genesis and report the first failure.
pub fn verify_chain(events: &[ChainEvent], opts: &VerifyOptions) -> ChainReport {
    let mut state = ChainState::new();
    let mut jobs: Vec<(usize, Box<SigJob>)> = Vec::new();
    let mut failure: Option<(usize, EventRejection)> = None;
    let mut cache = KeyCache::default();
    for (i, evt) in events.iter().enumerate() {
        match state.check(evt, opts, opts.batch, true, true, &mut cache) {
            Ok(SigOutcome::Deferred(job)) => {
                jobs.push((i, job));
                state.apply(evt);
            }
            Ok(SigOutcome::Done) => state.apply(evt),
            Err(f) => {
                let (rej, job) = *f;
                if let Some(job) = job {
                    jobs.push((i, job));
                }
                failure = Some((i, rej));
                break;
            }
        }
    }
    if let Some(bad) = first_bad_signature(&jobs) {
        failure = Some((
            bad,
            EventRejection::new(FailReason::InvalidSignature, "Invalid signature"),
        ));
    }
    match failure {
        Some((index, rej)) => ChainReport {
            valid: false,
            count: events.len(),
            head: None,
            merkle_root: None,
            error: Some(ChainFailure {
                index,
                event_id: events
                    .get(index)
                    .map(|e| e.event_id.clone())
                    .unwrap_or_default(),
                reason: rej.reason,
                detail: rej.detail,
            }),
        },
        None => ChainReport {
            valid: true,
            count: events.len(),
            head: Some(state.head().to_string()),
            merkle_root: Some(merkle_root(state.event_ids())),
            error: None,
        },
    }
}

/// Parallel chain verification, sequential half: every rule of [`verify_chain`] (links,
/// duplicates, network, sequences and replay, freshness, schema, revocations, node and key
/// bindings, DM spool) **except** the signature check and the event-id recomputation, which
/// [`first_crypto_failure`] does on any number of threads. When both halves pass, the chain is
/// exactly as valid as under [`verify_chain`] and the report (head, Merkle root) is the same.
/// On a failure either half may report a later index than `verify_chain` would: callers that
/// need the exact first failure re-run [`verify_chain`] (postern-wasm's `verifyChainParallel` does).
pub fn verify_chain_structure(events: &[ChainEvent], opts: &VerifyOptions) -> ChainReport {
    let mut state = ChainState::new();
    let mut cache = KeyCache::default();
    for (i, evt) in events.iter().enumerate() {
        if let Err(f) = state.check(evt, opts, false, true, false, &mut cache) {
            let rej = f.0;
            return ChainReport {
                valid: false,
                count: events.len(),
                head: None,
                merkle_root: None,
                error: Some(ChainFailure {
                    index: i,
                    event_id: evt.event_id.clone(),
                    reason: rej.reason,
                    detail: rej.detail,
                }),
            };
        }
        state.apply(evt);
    }
    ChainReport {
        valid: true,
        count: events.len(),
        head: Some(state.head().to_string()),
        merkle_root: Some(merkle_root(state.event_ids())),
        error: None,
    }
}

/// Parallel chain verification, per-event half: for a slice of a chain, the first index (within
/// `events`) whose signature (Ed25519 in batches of [`BATCH_SIZE`], as [`verify_chain`]) or
/// recomputed event id fails, with the reason `verify_chain` gives (a bad signature wins over a
/// bad id of the same event). Events with an unsupported `public_key_algo` are skipped: the
/// structural half rejects them. Independent of chain state, so slices can be checked on
/// separate threads.
pub fn first_crypto_failure(events: &[ChainEvent]) -> Option<(usize, FailReason)> {
    let mut cache = KeyCache::default();
    let mut jobs: Vec<(usize, Box<SigJob>)> = Vec::new();
    let mut inline: Option<(usize, FailReason)> = None;
    for (i, evt) in events.iter().enumerate() {
        let Some(algo) = parse_public_key_algo(&evt.public_key_algo) else {
            continue;
        };
        match check_signature(evt, algo, &evt.sequence_value(), true, &mut cache) {
            Err(()) => {
                inline = Some((i, FailReason::InvalidSignature));
                break;
            }
            Ok(SigOutcome::Deferred(job)) => jobs.push((i, job)),
            Ok(SigOutcome::Done) => {}
        }
        if !evt.timestamp.py_truthy() || evt.computed_event_id() != evt.event_id {
            inline = Some((i, FailReason::EventIdMismatch));
            break;
        }
    }
    match (first_bad_signature(&jobs), inline) {
        (Some(b), Some((i, _))) if b <= i => Some((b, FailReason::InvalidSignature)),
        (Some(b), None) => Some((b, FailReason::InvalidSignature)),
        (_, inline) => inline,
    }
}

/// Verify a chain given as exact JSON values (non-objects fail with `not_an_object`).
pub fn verify_chain_values(events: &[Value], opts: &VerifyOptions) -> ChainReport {
    let mut parsed = Vec::with_capacity(events.len());
    for (i, v) in events.iter().enumerate() {
        match ChainEvent::from_value(v) {
            Ok(e) => parsed.push(e),
            Err(_) => {
                // Verify the prefix first: an earlier failure wins.
                let mut report = verify_chain(&parsed, opts);
                report.count = events.len();
                if report.valid {
                    report = ChainReport {
                        valid: false,
                        count: events.len(),
                        head: None,
                        merkle_root: None,
                        error: Some(ChainFailure {
                            index: i,
                            event_id: String::new(),
                            reason: FailReason::NotAnObject,
                            detail: "Event is not an object".into(),
                        }),
                    };
                }
                return report;
            }
        }
    }
    verify_chain(&parsed, opts)
}
