//! Per-event-type required fields and value rules (the reference's schema registry).

use super::rules::{
    in_str_set, inv, require, safe_int_or_zero, str_of, str_or_empty, SchemaError, DH_ALGOS,
    DM_DELIVERY_CLASSES, DM_FORMATS, GATE_FORMATS, MESSAGE_PRIORITIES, SCHEMA_EVENT_TYPES,
};
use crate::json::{py_lower, py_strip, BigInt, Value};

/// The per-type validator alone (required fields and value rules), without the normalisation
/// check. Unknown types are rejected.
pub fn validate_type_rules(event_type: &str, p: &Value) -> Result<(), SchemaError> {
    if !SCHEMA_EVENT_TYPES.contains(&event_type) {
        return Err(SchemaError::UnknownEventType);
    }
    if !matches!(p, Value::Object(_)) {
        return Err(SchemaError::NotAnObject);
    }
    match event_type {
        "message" => {
            require(
                p,
                &["message", "destination", "channel", "priority", "ephemeral"],
            )?;
            if !in_str_set(p.get("priority"), MESSAGE_PRIORITIES) {
                return Err(inv("Invalid priority"));
            }
            if !p.get("ephemeral").is_some_and(Value::is_bool) {
                return Err(inv("ephemeral must be boolean"));
            }
        }
        "gate_message" => {
            require(p, &["gate", "ciphertext", "nonce", "sender_ref"])?;
            if p.contains_key("message") {
                return Err(inv("plaintext gate message field is not allowed"));
            }
            if py_lower(py_strip(&str_of(p, "gate"))).is_empty() {
                return Err(inv("gate cannot be empty"));
            }
            let blank = |k: &str| py_strip(&str_of(p, k)).is_empty();
            if p.contains_key("epoch") {
                if safe_int_or_zero(p, "epoch") <= BigInt::zero() {
                    return Err(inv("epoch must be a positive integer"));
                }
            } else if blank("ciphertext") && blank("nonce") && blank("sender_ref") {
                return Err(inv("epoch must be a positive integer"));
            }
            if blank("ciphertext") {
                return Err(inv("ciphertext cannot be empty"));
            }
            if blank("nonce") {
                return Err(inv("nonce cannot be empty"));
            }
            if blank("sender_ref") {
                return Err(inv("sender_ref cannot be empty"));
            }
            let f = str_or_empty(p, "format");
            let f = py_lower(py_strip(if f.is_empty() { "mls1" } else { &f }));
            if !GATE_FORMATS.contains(&f.as_str()) {
                return Err(inv("Unsupported gate message format"));
            }
        }
        "vote" => {
            require(p, &["target_id", "vote", "gate"])?;
            let ok = p
                .get("vote")
                .is_some_and(|v| v.py_eq(&Value::from(1i64)) || v.py_eq(&Value::from(-1i64)));
            if !ok {
                return Err(inv("Invalid vote"));
            }
        }
        "gate_create" => {
            require(p, &["gate_id", "display_name", "rules"])?;
            if !matches!(p.get("rules"), Some(Value::Object(_))) {
                return Err(inv("rules must be an object"));
            }
        }
        "prediction" => require(p, &["market_title", "side", "stake_amount"])?,
        "stake" => require(
            p,
            &["message_id", "poster_id", "side", "amount", "duration_days"],
        )?,
        "dm_block" => {
            require(p, &["blocked_id", "action"])?;
            if !in_str_set(p.get("action"), &["block", "unblock"]) {
                return Err(inv("Invalid action"));
            }
        }
        "dm_key" => {
            require(p, &["dh_pub_key", "dh_algo", "timestamp"])?;
            if !in_str_set(p.get("dh_algo"), DH_ALGOS) {
                return Err(inv("Invalid dh_algo"));
            }
        }
        "dm_message" => {
            require(
                p,
                &[
                    "recipient_id",
                    "delivery_class",
                    "recipient_token",
                    "ciphertext",
                    "msg_id",
                    "timestamp",
                ],
            )?;
            let dc = py_lower(&str_of(p, "delivery_class"));
            if !DM_DELIVERY_CLASSES.contains(&dc.as_str()) {
                return Err(inv("Invalid delivery_class"));
            }
            if dc == "shared" && py_strip(&str_of(p, "recipient_token")).is_empty() {
                return Err(inv("recipient_token required for shared delivery"));
            }
            let f = str_or_empty(p, "format");
            let f = py_lower(py_strip(if f.is_empty() { "mls1" } else { &f }));
            if !DM_FORMATS.contains(&f.as_str()) {
                return Err(SchemaError::Invalid(format!("Unknown DM format: {f}")));
            }
        }
        "dm_poll" | "dm_count" => {
            require(p, &["mailbox_claims", "timestamp", "nonce"])?;
            match p.get("mailbox_claims") {
                Some(Value::Array(claims)) if !claims.is_empty() => {
                    for c in claims {
                        if !matches!(c, Value::Object(_)) {
                            return Err(inv("mailbox_claims entries must be objects"));
                        }
                        let t = py_lower(&str_of(c, "type"));
                        if !["self", "requests", "shared"].contains(&t.as_str()) {
                            return Err(inv("Invalid mailbox claim type"));
                        }
                        if py_strip(&str_of(c, "token")).is_empty() {
                            return Err(SchemaError::Invalid(format!(
                                "{t} mailbox claims require token"
                            )));
                        }
                    }
                }
                _ => return Err(inv("mailbox_claims must be a non-empty list")),
            }
        }
        "key_rotate" => require(
            p,
            &[
                "old_node_id",
                "old_public_key",
                "old_public_key_algo",
                "new_public_key",
                "new_public_key_algo",
                "timestamp",
                "old_signature",
            ],
        )?,
        "key_revoke" => {
            require(
                p,
                &[
                    "revoked_public_key",
                    "revoked_public_key_algo",
                    "revoked_at",
                    "grace_until",
                    "reason",
                ],
            )?;
            let revoked_at = safe_int_or_zero(p, "revoked_at");
            let grace_until = safe_int_or_zero(p, "grace_until");
            if revoked_at <= BigInt::zero() {
                return Err(inv("revoked_at must be a positive timestamp"));
            }
            if grace_until < revoked_at {
                return Err(inv("grace_until must be >= revoked_at"));
            }
        }
        "abuse_report" => {
            require(p, &["target_id", "reason"])?;
            if py_strip(&str_of(p, "reason")).is_empty() {
                return Err(inv("reason cannot be empty"));
            }
        }
        _ => return Err(SchemaError::UnknownEventType),
    }
    Ok(())
}
