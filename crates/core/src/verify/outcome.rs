//! Verification vocabulary: limits, [`VerifyOptions`], and the verdict types ([`FailReason`],
//! [`EventRejection`], [`ChainFailure`], [`ChainReport`]).

use serde::{Deserialize, Serialize};

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
    pub(super) fn new(reason: FailReason, detail: impl Into<String>) -> Self {
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
