//! The schema's shared vocabulary: size caps, type and field lists, [`SchemaError`] and the small
//! payload accessors every rule file uses.

use thiserror::Error;

use crate::canonical::safe_int_value;
use crate::json::{BigInt, Value};

/// Max canonical payload size on the ledger (bytes of UTF-8).
pub const MAX_PAYLOAD_BYTES: usize = 4096;
/// Max DM ciphertext length accepted for new appends (characters).
pub const MAX_DM_CIPHERTEXT_CHARS: usize = 8192;
/// Max public `message` text accepted for new appends (bytes of UTF-8).
pub const MAX_PUBLIC_MESSAGE_BYTES: usize = 200;
/// Minimum decoded size of a sealed-bytes field.
pub const SEALED_MIN_BYTES: usize = 8;
/// Size from which the plaintext/entropy heuristics apply.
pub const SEALED_HEURISTIC_MIN_BYTES: usize = 32;
/// Printable-byte ratio above which decoded UTF-8 is treated as encoded plaintext.
pub const SEALED_MAX_PRINTABLE_RATIO: f64 = 0.9;
/// Shannon-entropy floor (bits per byte) of sealed bytes.
pub const SEALED_ENTROPY_FLOOR: f64 = 2.5;

/// Every event type with a schema.
pub const SCHEMA_EVENT_TYPES: &[&str] = &[
    "message",
    "gate_message",
    "vote",
    "gate_create",
    "prediction",
    "stake",
    "dm_block",
    "dm_key",
    "dm_message",
    "dm_poll",
    "dm_count",
    "key_rotate",
    "key_revoke",
    "abuse_report",
];
/// Types that may be newly appended to the public chain.
pub const ACTIVE_PUBLIC_LEDGER_EVENT_TYPES: &[&str] = &[
    "message",
    "vote",
    "gate_create",
    "prediction",
    "stake",
    "key_rotate",
    "key_revoke",
    "abuse_report",
];
/// Types that exist historically on the chain: ingestable, never newly appended publicly.
pub const LEGACY_PUBLIC_LEDGER_EVENT_TYPES: &[&str] = &["gate_message", "dm_message"];
/// Payload keys that may never appear in a public-ledger payload (compared trimmed, lower-case).
pub const PUBLIC_LEDGER_FORBIDDEN_FIELDS: &[&str] = &[
    "ip",
    "ip_address",
    "origin_ip",
    "source_ip",
    "client_ip",
    "host",
    "hostname",
    "origin",
    "originator",
    "originator_hint",
    "routing_hint",
    "route",
    "route_hint",
    "route_reason",
    "routed_via",
    "transport",
    "transport_handle",
    "transport_lock",
    "recipient_id",
    "recipient_token",
    "delivery_class",
    "mailbox_claims",
    "dh_pub_key",
    "sender_token",
    // Secrets never belong on a public ledger either.
    "session_key",
    "private_key",
    "secret_key",
    "shared_secret",
];
/// Keys a private gate-ledger payload may carry.
pub const PRIVATE_GATE_ALLOWED_FIELDS: &[&str] = &[
    "gate",
    "ciphertext",
    "nonce",
    "sender_ref",
    "format",
    "epoch",
    "gate_envelope",
    "envelope_hash",
    "reply_to",
    "transport_lock",
    "signed_context",
];
/// Keys a private DM-ledger payload may carry.
pub const PRIVATE_DM_ALLOWED_FIELDS: &[&str] = &[
    "recipient_id",
    "delivery_class",
    "recipient_token",
    "ciphertext",
    "msg_id",
    "timestamp",
    "format",
    "session_welcome",
    "sender_seal",
    "relay_salt",
    "transport_lock",
    "signed_context",
];
/// Plaintext tripwire keys for gate payloads.
pub const GATE_PLAINTEXT_TRIPWIRES: &[&str] = &["message", "_local_plaintext", "_local_reply_to"];
/// Plaintext tripwire keys for DM payloads.
pub const DM_PLAINTEXT_TRIPWIRES: &[&str] = &["message", "plaintext", "_local_plaintext"];
/// `transport_lock` values accepted on gate payloads.
pub const GATE_TRANSPORT_LOCKS: &[&str] = &["private", "private_strong", "rns", "onion"];
/// The only `transport_lock` accepted on DM ledger payloads.
pub const DM_TRANSPORT_LOCK: &str = "private_strong";
/// Accepted gate message formats: the reference's `mls1`, and Postern's own sealed-gate format
/// (`crate::gate::MESSAGE_FORMAT`; Shadowbroker nodes refuse it until they accept that label).
pub const GATE_FORMATS: &[&str] = &["mls1", crate::gate::MESSAGE_FORMAT];
/// Accepted DM formats.
pub const DM_FORMATS: &[&str] = &["mls1", "dm1"];
/// Accepted DM delivery classes.
pub const DM_DELIVERY_CLASSES: &[&str] = &["request", "shared"];
/// Accepted `dh_algo` values.
pub const DH_ALGOS: &[&str] = &["X25519", "ECDH", "ECDH_P256"];
/// Accepted message priorities.
pub const MESSAGE_PRIORITIES: &[&str] = &["normal", "high", "emergency", "low"];

/// A schema rejection; `Display` follows the reference wording.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SchemaError {
    #[error("Unknown event_type")]
    UnknownEventType,
    #[error("payload must be an object")]
    NotAnObject,
    #[error("Missing field: {0}")]
    MissingField(String),
    #[error("Payload is not normalized")]
    NotNormalized,
    #[error("ephemeral not allowed for this event type")]
    EphemeralNotAllowed,
    /// Any other per-type value rule (reference text verbatim).
    #[error("{0}")]
    Invalid(String),
    #[error("{0} is not allowed on the public ledger")]
    NotPublicLedgerType(String),
    #[error("public ledger payload contains forbidden fields: {0}")]
    ForbiddenFields(String),
    #[error("public ledger message destination must be broadcast")]
    NonBroadcastDestination,
    #[error("private {0} ledger payload contains unsupported fields: {1}")]
    UnsupportedPrivateFields(&'static str, String),
    #[error("private {0} ledger payload must not contain plaintext")]
    PlaintextPresent(&'static str),
    #[error("{0}")]
    TransportLock(&'static str),
    #[error("{0} must be base64-encoded sealed bytes")]
    NotSealedBytes(String),
    #[error("{0} is too short")]
    SealedTooShort(String),
    #[error("{0} looks like encoded plaintext")]
    EncodedPlaintext(String),
    #[error("{0} entropy is too low for sealed bytes")]
    LowEntropy(String),
    #[error("Payload too large")]
    PayloadTooLarge,
    #[error("message text exceeds {MAX_PUBLIC_MESSAGE_BYTES} bytes")]
    MessageTooLong,
    #[error("ciphertext exceeds {MAX_DM_CIPHERTEXT_CHARS} characters")]
    CiphertextTooLong,
    #[error("{0} may not be newly appended")]
    NotAppendable(String),
    #[error("DM format dm1 is not allowed while the MLS lock is active")]
    FormatDowngrade,
    #[error("Unsupported protocol_version")]
    ProtocolVersion,
    #[error("network_id mismatch")]
    NetworkId,
}

pub(super) fn inv(s: &str) -> SchemaError {
    SchemaError::Invalid(s.to_string())
}

pub(super) fn require(p: &Value, fields: &[&str]) -> Result<(), SchemaError> {
    for f in fields {
        if !p.contains_key(f) {
            return Err(SchemaError::MissingField((*f).to_string()));
        }
    }
    Ok(())
}

pub(super) fn str_of(p: &Value, k: &str) -> String {
    p.get(k).map(Value::py_str).unwrap_or_default()
}
pub(super) fn str_or_empty(p: &Value, k: &str) -> String {
    match p.get(k) {
        Some(v) if v.py_truthy() => v.py_str(),
        _ => String::new(),
    }
}
pub(super) fn safe_int_or_zero(p: &Value, k: &str) -> BigInt {
    match p.get(k) {
        Some(v) if v.py_truthy() => safe_int_value(v),
        _ => BigInt::zero(),
    }
}
pub(super) fn in_str_set(v: Option<&Value>, set: &[&str]) -> bool {
    matches!(v, Some(Value::Str(s)) if set.contains(&s.as_str()))
}
