//! Shadowbroker's append order for a client-signed payload: lane checks on the payload as sent,
//! then `normalize_payload`, then validation of the normalised payload (which is what is signed,
//! stored and hashed). `POST /api/infonet/append` and `postern schema-check` use it.
//!
//! Order (the reference's `Infonet.append` / `append_private_gate_message` /
//! `append_private_dm_message`): appendable type → (private types) plaintext tripwires and
//! `transport_lock == "private_strong"` on the raw payload → normalise → per-type and lane rules
//! on the normalised payload → append caps → canonical size. The caller then verifies the
//! signature over the normalised payload (core's `ChainState::ingest`).

use crate::canonical::normalize_payload;
use crate::json::{py_lower, py_strip, Value};
use crate::schema::{
    self, SchemaError, ACTIVE_PUBLIC_LEDGER_EVENT_TYPES, DM_PLAINTEXT_TRIPWIRES,
    GATE_PLAINTEXT_TRIPWIRES, MAX_DM_CIPHERTEXT_CHARS, MAX_PUBLIC_MESSAGE_BYTES,
    SCHEMA_EVENT_TYPES,
};

/// Private types a client may append (each through its own reference entry point).
pub const PRIVATE_APPEND_EVENT_TYPES: &[&str] = &["gate_message", "dm_message"];
/// The `transport_lock` every private append must carry (gate and DM alike).
pub const PRIVATE_APPEND_TRANSPORT_LOCK: &str = "private_strong";
/// Refusal text for a gate message without the strong lock (reference wording).
pub const GATE_LOCK_REQUIRED: &str = "gate messages require private_strong transport_lock";
/// Refusal text for a DM without the strong lock (reference wording).
pub const DM_LOCK_REQUIRED: &str = "DM hashchain spool requires private_strong transport_lock";

/// May `event_type` be newly appended? The public ledger types plus the two private types;
/// everything else with a schema (`dm_key`, `dm_poll`, …) is not.
pub fn is_appendable(event_type: &str) -> bool {
    ACTIVE_PUBLIC_LEDGER_EVENT_TYPES.contains(&event_type)
        || PRIVATE_APPEND_EVENT_TYPES.contains(&event_type)
}

fn raw_lock(p: &Value) -> String {
    match p.get("transport_lock") {
        Some(v) if v.py_truthy() => py_lower(py_strip(&v.py_str())),
        _ => String::new(),
    }
}

fn tripwires(event_type: &str, raw: &Value) -> Result<(), SchemaError> {
    let (wires, lane) = match event_type {
        "gate_message" => (GATE_PLAINTEXT_TRIPWIRES, "gate"),
        "dm_message" => (DM_PLAINTEXT_TRIPWIRES, "DM"),
        _ => return Ok(()),
    };
    if wires.iter().any(|k| raw.contains_key(k)) {
        return Err(SchemaError::PlaintextPresent(lane));
    }
    Ok(())
}

/// Normalise and validate a client's payload for a new append, in the reference's order.
/// Returns the normalised payload: the one the signature must cover and the event will carry.
pub fn normalize_for_append(event_type: &str, raw: &Value) -> Result<Value, SchemaError> {
    if !is_appendable(event_type) {
        return Err(if SCHEMA_EVENT_TYPES.contains(&event_type) {
            SchemaError::NotAppendable(event_type.to_string())
        } else {
            SchemaError::UnknownEventType
        });
    }
    if !matches!(raw, Value::Object(_)) {
        return Err(SchemaError::NotAnObject);
    }
    tripwires(event_type, raw)?;
    let lock_error = match event_type {
        "gate_message" => Some(GATE_LOCK_REQUIRED),
        "dm_message" => Some(DM_LOCK_REQUIRED),
        _ => None,
    };
    if let Some(msg) = lock_error {
        if raw_lock(raw) != PRIVATE_APPEND_TRANSPORT_LOCK {
            return Err(SchemaError::TransportLock(msg));
        }
    }
    let n = normalize_payload(event_type, raw);
    match event_type {
        "gate_message" => schema::validate_private_gate_ledger_payload(&n)?,
        "dm_message" => schema::validate_private_dm_ledger_payload(&n)?,
        t => {
            schema::validate_event_payload(t, &n)?;
            schema::validate_public_ledger_payload(t, &n)?;
        }
    }
    let text = |k: &str| n.get(k).map(Value::py_str).unwrap_or_default();
    if event_type == "message" && text("message").len() > MAX_PUBLIC_MESSAGE_BYTES {
        return Err(SchemaError::MessageTooLong);
    }
    if event_type == "dm_message" && text("ciphertext").chars().count() > MAX_DM_CIPHERTEXT_CHARS {
        return Err(SchemaError::CiphertextTooLong);
    }
    schema::check_payload_size(&n)?;
    Ok(n)
}

/// `postern schema-check` without a `check` mode: normalise, then validate with the most
/// specific reason first (`schema::check_payload`). Two things normalisation would silently
/// repair are refused on the payload as sent, as the reference's schema registry does:
/// plaintext tripwires on private types, and an explicit gate `epoch` ≤ 0.
pub fn check_normalized(event_type: &str, raw: &Value) -> Result<(), SchemaError> {
    if !SCHEMA_EVENT_TYPES.contains(&event_type) {
        return Err(SchemaError::UnknownEventType);
    }
    if !matches!(raw, Value::Object(_)) {
        return Err(SchemaError::NotAnObject);
    }
    tripwires(event_type, raw)?;
    if event_type == "gate_message" {
        if let Some(epoch) = raw.get("epoch") {
            let positive = epoch
                .py_int()
                .is_some_and(|e| e > crate::json::BigInt::zero());
            if !positive {
                return Err(SchemaError::Invalid(
                    "epoch must be a positive integer".into(),
                ));
            }
        }
    }
    schema::check_payload(event_type, &normalize_payload(event_type, raw))
}

/// One `postern schema-check` case `{event_type, payload, check?, …}`: `check: "append"` runs
/// [`normalize_for_append`]; `"protocol"` / `"public_ledger"` are the registry checks of
/// [`schema::check_case`] on the payload as sent; no `check` runs [`check_normalized`].
pub fn check_case(case: &Value) -> Result<(), SchemaError> {
    let text = |k: &str| case.get(k).map(Value::py_str).unwrap_or_default();
    let payload = case.get("payload").cloned().unwrap_or_else(Value::object);
    match case.get("check").and_then(Value::as_str) {
        Some("append") => normalize_for_append(&text("event_type"), &payload).map(|_| ()),
        Some("protocol" | "public_ledger") => schema::check_case(case),
        _ => check_normalized(&text("event_type"), &payload),
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::json::parse;

    fn p(s: &str) -> Value {
        parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn coercions_are_normalised_before_validation() {
        let n = normalize_for_append(
            "prediction",
            &p(r#"{"market_title":"x","side":"yes","stake_amount":"1_000"}"#),
        )
        .unwrap();
        assert_eq!(
            n.to_canonical(),
            r#"{"market_title":"x","side":"yes","stake_amount":1000}"#
        );
        let n = normalize_for_append(
            "stake",
            &p(r#"{"message_id":"m","poster_id":"p","side":"truth","amount":" 2.5 ","duration_days":"7"}"#),
        )
        .unwrap();
        assert_eq!(
            n.to_canonical(),
            r#"{"amount":2.5,"duration_days":7,"message_id":"m","poster_id":"p","side":"truth"}"#
        );
        // A message without `ephemeral`, or with a truthy string, is normalised, not refused.
        let n =
            normalize_for_append("message", &p(r#"{"message":"hi","ephemeral":"yes"}"#)).unwrap();
        assert_eq!(n.get("ephemeral"), Some(&Value::Bool(true)));
        assert!(normalize_for_append("message", &p(r#"{"message":"hi"}"#)).is_ok());
        // The vote string "1" signs as 1.
        let n = normalize_for_append("vote", &p(r#"{"target_id":"t","vote":"1"}"#)).unwrap();
        assert_eq!(n.get("vote"), Some(&Value::from(1i64)));
    }

    #[test]
    fn private_lane_rules() {
        let gate = r#"{"gate":"Infonet","ciphertext":"q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJ","nonce":"EjnbwadRTc4N/G0v","sender_ref":"abcd","epoch":2"#;
        let err = normalize_for_append("gate_message", &p(&format!("{gate}}}"))).unwrap_err();
        assert_eq!(err.to_string(), GATE_LOCK_REQUIRED);
        let err = normalize_for_append(
            "gate_message",
            &p(&format!(r#"{gate},"transport_lock":"private"}}"#)),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), GATE_LOCK_REQUIRED);
        let n = normalize_for_append(
            "gate_message",
            &p(&format!(r#"{gate},"transport_lock":" Private_Strong "}}"#)),
        )
        .unwrap();
        assert_eq!(n.get("gate").unwrap().as_str(), Some("infonet"));
        assert_eq!(
            n.get("transport_lock").unwrap().as_str(),
            Some("private_strong")
        );
        let err = normalize_for_append(
            "gate_message",
            &p(&format!(
                r#"{gate},"transport_lock":"private_strong","_local_plaintext":"x"}}"#
            )),
        )
        .unwrap_err();
        assert!(matches!(err, SchemaError::PlaintextPresent("gate")));
        let err = normalize_for_append(
            "dm_key",
            &p(r#"{"dh_pub_key":"AAAA","dh_algo":"X25519","timestamp":1}"#),
        )
        .unwrap_err();
        assert_eq!(err, SchemaError::NotAppendable("dm_key".into()));
        assert_eq!(
            normalize_for_append("nope", &p("{}")).unwrap_err(),
            SchemaError::UnknownEventType
        );
        let err =
            normalize_for_append("dm_message", &p(r#"{"recipient_id":"!sb_x"}"#)).unwrap_err();
        assert_eq!(err.to_string(), DM_LOCK_REQUIRED);
    }

    #[test]
    fn schema_check_modes() {
        let c = p(
            r#"{"event_type":"prediction","payload":{"market_title":"x","side":"y","stake_amount":"1_000"}}"#,
        );
        assert_eq!(check_case(&c), Ok(()));
        let c = p(
            r#"{"event_type":"gate_message","payload":{"gate":"g","ciphertext":"x","nonce":"n","sender_ref":"s","epoch":0}}"#,
        );
        assert!(check_case(&c).unwrap_err().to_string().contains("epoch"));
        let c = p(r#"{"event_type":"dm_key","check":"append","payload":{}}"#);
        assert!(matches!(check_case(&c), Err(SchemaError::NotAppendable(_))));
    }
}
