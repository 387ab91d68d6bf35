//! Infonet/2 payload schema: the one set of rules the relay and the browser both call.
//!
//! Mirrors Shadowbroker's schema registry: per-type required fields and value checks, the
//! "payload must already be normalised" rule, public-ledger forbidden fields, the private-lane
//! allow-lists for `gate_message` / `dm_message`, plaintext tripwires, sealed-bytes shape checks
//! and size caps. Error texts follow the reference wording so callers can match on substrings.

mod rules;
mod sealed;
mod types;

#[cfg(all(test, not(target_arch = "wasm32")))]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;

use rules::{inv, str_of, str_or_empty};
pub use rules::{
    SchemaError, ACTIVE_PUBLIC_LEDGER_EVENT_TYPES, DH_ALGOS, DM_DELIVERY_CLASSES, DM_FORMATS,
    DM_PLAINTEXT_TRIPWIRES, DM_TRANSPORT_LOCK, GATE_FORMATS, GATE_PLAINTEXT_TRIPWIRES,
    GATE_TRANSPORT_LOCKS, LEGACY_PUBLIC_LEDGER_EVENT_TYPES, MAX_DM_CIPHERTEXT_CHARS,
    MAX_PAYLOAD_BYTES, MAX_PUBLIC_MESSAGE_BYTES, MESSAGE_PRIORITIES, PRIVATE_DM_ALLOWED_FIELDS,
    PRIVATE_GATE_ALLOWED_FIELDS, PUBLIC_LEDGER_FORBIDDEN_FIELDS, SCHEMA_EVENT_TYPES,
    SEALED_ENTROPY_FLOOR, SEALED_HEURISTIC_MIN_BYTES, SEALED_MAX_PRINTABLE_RATIO, SEALED_MIN_BYTES,
};
pub use sealed::{byte_entropy, decode_base64ish, validate_sealed_bytes_field};
pub use types::validate_type_rules;

use crate::canonical::{normalize_payload, NETWORK_ID, PROTOCOL_VERSION};
use crate::json::{py_lower, py_strip, Value};

/// The reference's `validate_event_payload`: known type, payload already normalised, no stray
/// `ephemeral`, then the per-type rules.
pub fn validate_event_payload(event_type: &str, p: &Value) -> Result<(), SchemaError> {
    if !SCHEMA_EVENT_TYPES.contains(&event_type) {
        return Err(SchemaError::UnknownEventType);
    }
    if !matches!(p, Value::Object(_)) {
        return Err(SchemaError::NotAnObject);
    }
    if !normalize_payload(event_type, p).py_eq(p) {
        return Err(SchemaError::NotNormalized);
    }
    if event_type != "message" && event_type != "gate_message" && p.contains_key("ephemeral") {
        return Err(SchemaError::EphemeralNotAllowed);
    }
    validate_type_rules(event_type, p)
}

fn key_norm(k: &str) -> String {
    py_lower(py_strip(k))
}

/// Public-ledger lane rules only (type allowed, forbidden fields, broadcast destination).
/// `gate_message` is delegated to the private gate lane by [`validate_public_ledger_payload`].
pub fn public_ledger_rules(event_type: &str, p: &Value) -> Result<(), SchemaError> {
    if !ACTIVE_PUBLIC_LEDGER_EVENT_TYPES.contains(&event_type)
        && !LEGACY_PUBLIC_LEDGER_EVENT_TYPES.contains(&event_type)
    {
        return Err(SchemaError::NotPublicLedgerType(event_type.to_string()));
    }
    let members = p.as_object().ok_or(SchemaError::NotAnObject)?;
    let mut forbidden: Vec<&str> = members
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| PUBLIC_LEDGER_FORBIDDEN_FIELDS.contains(&key_norm(k).as_str()))
        .collect();
    forbidden.sort();
    if !forbidden.is_empty() {
        return Err(SchemaError::ForbiddenFields(forbidden.join(", ")));
    }
    if event_type == "message" {
        let dest = py_lower(py_strip(&str_or_empty(p, "destination")));
        if !dest.is_empty() && dest != "broadcast" {
            return Err(SchemaError::NonBroadcastDestination);
        }
    }
    Ok(())
}

/// The reference's `validate_public_ledger_payload`.
pub fn validate_public_ledger_payload(event_type: &str, p: &Value) -> Result<(), SchemaError> {
    if event_type == "gate_message" {
        return validate_private_gate_ledger_payload(p);
    }
    public_ledger_rules(event_type, p)
}

fn unexpected(p: &Value, allowed: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = p
        .as_object()
        .unwrap_or(&[])
        .iter()
        .map(|(k, _)| k.clone())
        .filter(|k| !allowed.contains(&key_norm(k).as_str()))
        .collect();
    out.sort();
    out
}

/// Private gate lane rules alone: allow-list, plaintext tripwires, transport lock, sealed bytes.
pub fn private_gate_rules(p: &Value) -> Result<(), SchemaError> {
    let bad = unexpected(p, PRIVATE_GATE_ALLOWED_FIELDS);
    if !bad.is_empty() {
        return Err(SchemaError::UnsupportedPrivateFields(
            "gate",
            bad.join(", "),
        ));
    }
    if GATE_PLAINTEXT_TRIPWIRES.iter().any(|k| p.contains_key(k)) {
        return Err(SchemaError::PlaintextPresent("gate"));
    }
    let lock = py_lower(py_strip(&str_or_empty(p, "transport_lock")));
    if !lock.is_empty() && !GATE_TRANSPORT_LOCKS.contains(&lock.as_str()) {
        return Err(SchemaError::TransportLock(
            "gate messages require private transport_lock",
        ));
    }
    validate_sealed_bytes_field(p, "ciphertext")?;
    validate_sealed_bytes_field(p, "nonce")
}

/// The reference's `validate_private_gate_ledger_payload`.
pub fn validate_private_gate_ledger_payload(p: &Value) -> Result<(), SchemaError> {
    validate_event_payload("gate_message", p)?;
    private_gate_rules(p)
}

/// Private DM lane rules alone.
pub fn private_dm_rules(p: &Value) -> Result<(), SchemaError> {
    let bad = unexpected(p, PRIVATE_DM_ALLOWED_FIELDS);
    if !bad.is_empty() {
        return Err(SchemaError::UnsupportedPrivateFields("DM", bad.join(", ")));
    }
    if DM_PLAINTEXT_TRIPWIRES.iter().any(|k| p.contains_key(k)) {
        return Err(SchemaError::PlaintextPresent("DM"));
    }
    if py_lower(py_strip(&str_or_empty(p, "transport_lock"))) != DM_TRANSPORT_LOCK {
        return Err(SchemaError::TransportLock(
            "DM hashchain spool requires private_strong transport_lock",
        ));
    }
    if py_strip(&str_or_empty(p, "ciphertext")).is_empty() {
        return Err(inv("ciphertext cannot be empty"));
    }
    validate_sealed_bytes_field(p, "ciphertext")
}

/// The reference's `validate_private_dm_ledger_payload`.
pub fn validate_private_dm_ledger_payload(p: &Value) -> Result<(), SchemaError> {
    validate_event_payload("dm_message", p)?;
    private_dm_rules(p)
}

/// The reference's `validate_protocol_fields`.
pub fn validate_protocol_fields(
    protocol_version: &str,
    network_id: &str,
) -> Result<(), SchemaError> {
    if protocol_version != PROTOCOL_VERSION {
        return Err(SchemaError::ProtocolVersion);
    }
    if network_id != NETWORK_ID {
        return Err(SchemaError::NetworkId);
    }
    Ok(())
}

/// Canonical payload size cap.
pub fn check_payload_size(p: &Value) -> Result<(), SchemaError> {
    if p.to_canonical().len() > MAX_PAYLOAD_BYTES {
        return Err(SchemaError::PayloadTooLarge);
    }
    Ok(())
}

/// Everything a ledger payload must satisfy, in an order that reports the most specific reason
/// first: per-type rules, lane rules (public forbidden fields / private allow-lists, tripwires,
/// transport lock, sealed bytes), normalisation, stray `ephemeral`, size cap.
pub fn check_payload(event_type: &str, p: &Value) -> Result<(), SchemaError> {
    validate_type_rules(event_type, p)?;
    match event_type {
        "gate_message" => private_gate_rules(p)?,
        "dm_message" => private_dm_rules(p)?,
        t if ACTIVE_PUBLIC_LEDGER_EVENT_TYPES.contains(&t) => public_ledger_rules(t, p)?,
        _ => {}
    }
    validate_event_payload(event_type, p)?;
    check_payload_size(p)
}

/// Relay policy for *new* appends: [`check_payload`] plus the append-only caps (public message
/// text ≤ 200 bytes, DM ciphertext ≤ 8192 chars); `gate_message`/`dm_message` only on the
/// private lane (`private_lane = true`), other types only on the public lane.
pub fn validate_for_append(
    event_type: &str,
    p: &Value,
    private_lane: bool,
) -> Result<(), SchemaError> {
    let private_type = LEGACY_PUBLIC_LEDGER_EVENT_TYPES.contains(&event_type);
    if private_type != private_lane && SCHEMA_EVENT_TYPES.contains(&event_type) {
        return Err(SchemaError::NotAppendable(event_type.to_string()));
    }
    if event_type == "message" && str_of(p, "message").len() > MAX_PUBLIC_MESSAGE_BYTES {
        return Err(SchemaError::MessageTooLong);
    }
    if event_type == "dm_message"
        && str_of(p, "ciphertext").chars().count() > MAX_DM_CIPHERTEXT_CHARS
    {
        return Err(SchemaError::CiphertextTooLong);
    }
    check_payload(event_type, p)
}

/// Reject a legacy `dm1` DM while the MLS lock is active (format downgrade).
pub fn check_dm_format_lock(p: &Value, mls_locked: bool) -> Result<(), SchemaError> {
    let f = py_lower(py_strip(&str_or_empty(p, "format")));
    if mls_locked && f == "dm1" {
        return Err(SchemaError::FormatDowngrade);
    }
    Ok(())
}

/// Privacy tier of a transport, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PrivacyTier {
    PublicDegraded,
    PrivateTransitional,
    PrivateStrong,
}

impl PrivacyTier {
    /// Parse a tier label.
    pub fn parse(s: &str) -> Option<PrivacyTier> {
        match py_lower(py_strip(s)).as_str() {
            "public_degraded" => Some(PrivacyTier::PublicDegraded),
            "private_transitional" => Some(PrivacyTier::PrivateTransitional),
            "private_strong" => Some(PrivacyTier::PrivateStrong),
            _ => None,
        }
    }
    /// Label.
    pub fn as_str(self) -> &'static str {
        match self {
            PrivacyTier::PublicDegraded => "public_degraded",
            PrivacyTier::PrivateTransitional => "private_transitional",
            PrivacyTier::PrivateStrong => "private_strong",
        }
    }
}

/// An envelope may never claim more privacy than the supervisor reports: clamp to the weaker.
pub fn clamp_tier(claimed: PrivacyTier, actual: PrivacyTier) -> PrivacyTier {
    claimed.min(actual)
}

/// Check one case object `{event_type, payload, check?, protocol_version?, network_id?}`:
/// `check: "protocol"` validates the protocol fields, `check: "public_ledger"` the per-type and
/// public-ledger rules; anything else runs [`check_payload`].
pub fn check_case(case: &Value) -> Result<(), SchemaError> {
    let text = |k: &str| case.get(k).map(Value::py_str).unwrap_or_default();
    match case.get("check").and_then(Value::as_str) {
        Some("protocol") => {
            validate_protocol_fields(&text("protocol_version"), &text("network_id"))
        }
        Some("public_ledger") => {
            let p = case.get("payload").cloned().unwrap_or_else(Value::object);
            validate_type_rules(&text("event_type"), &p)?;
            validate_public_ledger_payload(&text("event_type"), &p)
        }
        _ => check_payload(
            &text("event_type"),
            &case.get("payload").cloned().unwrap_or_else(Value::object),
        ),
    }
}
