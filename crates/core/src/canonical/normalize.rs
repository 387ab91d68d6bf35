//! Per-event-type payload normalisation (Python coercions) and the gate-message signed variants.

use crate::json::{py_lower, py_strip, py_truncate, BigInt, Value};

/// Payload member carrying the optional signed request context.
pub const SIGNED_CONTEXT_FIELD: &str = "signed_context";
/// Gate payload member that rides alongside the signature (bound by `envelope_hash` instead).
pub const GATE_ENVELOPE_FIELD: &str = "gate_envelope";
/// Default gate/DM ciphertext format.
pub const DEFAULT_GATE_FORMAT: &str = "mls1";
/// Default DM format label used by normalisation.
pub const DEFAULT_DM_FORMAT: &str = "dm1";

fn get<'a>(p: &'a Value, key: &str) -> Option<&'a Value> {
    p.get(key)
}

/// `str(payload.get(key, default))`
fn s(p: &Value, key: &str, default: &str) -> String {
    get(p, key)
        .map(Value::py_str)
        .unwrap_or_else(|| default.to_string())
}

/// `str(payload.get(key, "") or "")`
fn s_or_empty(p: &Value, key: &str) -> String {
    match get(p, key) {
        Some(v) if v.py_truthy() => v.py_str(),
        _ => String::new(),
    }
}

/// `str(payload.get(key, "") or "").strip().lower()`
fn lock_like(p: &Value, key: &str) -> String {
    py_lower(py_strip(&s_or_empty(p, key)))
}

/// `_safe_int(payload.get(key, 0), 0)`
fn safe_int(p: &Value, key: &str) -> Value {
    Value::Int(get(p, key).map(safe_int_value).unwrap_or_else(BigInt::zero))
}

/// Python `_safe_int(v, 0)`.
pub fn safe_int_value(v: &Value) -> BigInt {
    v.py_int().unwrap_or_else(BigInt::zero)
}

/// `_normalize_number`: float(), then int if integral; 0 when float() fails.
fn normalize_number(p: &Value, key: &str) -> Value {
    let v = match get(p, key) {
        Some(v) => v,
        None => return Value::Int(BigInt::zero()),
    };
    match v.py_float() {
        None => Value::Int(BigInt::zero()),
        Some(f) if f.is_finite() && f.fract() == 0.0 => {
            Value::Int(BigInt::from_f64_trunc(f).unwrap_or_else(BigInt::zero))
        }
        Some(f) => Value::Float(f),
    }
}

fn obj(pairs: Vec<(&str, Value)>) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn put_lock(n: &mut Value, p: &Value) {
    let lock = lock_like(p, "transport_lock");
    if !lock.is_empty() {
        n.insert("transport_lock", Value::Str(lock));
    }
}

fn normalize_signed_context(v: &Value) -> Option<Value> {
    if !matches!(v, Value::Object(_)) {
        return None;
    }
    let sv = |k: &str| Value::Str(s_or_empty(v, k));
    let mut n = obj(vec![
        ("protocol", sv("protocol")),
        ("version", safe_int(v, "version")),
        ("event_type", sv("event_type")),
        ("kind", sv("kind")),
        ("endpoint", sv("endpoint")),
        ("lane_floor", Value::Str(lock_like(v, "lane_floor"))),
        ("sequence_domain", sv("sequence_domain")),
        ("node_id", sv("node_id")),
        ("sequence", safe_int(v, "sequence")),
        ("body_hash", Value::Str(lock_like(v, "body_hash"))),
    ]);
    let gate_id = lock_like(v, "gate_id");
    if !gate_id.is_empty() {
        n.insert("gate_id", Value::Str(gate_id));
    }
    for key in ["recipient_id", "target_id"] {
        let val = py_strip(&s_or_empty(v, key)).to_string();
        if !val.is_empty() {
            n.insert(key, Value::Str(val));
        }
    }
    Some(n)
}

fn put_signed_context(n: &mut Value, p: &Value) {
    if let Some(ctx) = get(p, SIGNED_CONTEXT_FIELD).and_then(normalize_signed_context) {
        // An empty dict is falsy in Python and is not copied; ours always has members.
        n.insert(SIGNED_CONTEXT_FIELD, ctx);
    }
}

/// Event types with a reference normaliser.
pub const NORMALIZED_EVENT_TYPES: &[&str] = &[
    "message",
    "gate_message",
    "vote",
    "gate_create",
    "prediction",
    "stake",
    "dm_key",
    "dm_message",
    "dm_poll",
    "dm_count",
    "dm_block",
    "dm_key_witness",
    "trust_vouch",
    "key_rotate",
    "key_revoke",
    "abuse_report",
    "sar_anomaly",
];

/// Normalise `payload` for `event_type` exactly as the reference does. A non-object payload is
/// treated as an empty object for known types (the reference would raise); unknown event types
/// return the payload unchanged.
pub fn normalize_payload(event_type: &str, payload: &Value) -> Value {
    let empty = Value::object();
    let p = if matches!(payload, Value::Object(_)) {
        payload
    } else {
        &empty
    };
    let str_v = |k: &str, d: &str| Value::Str(s(p, k, d));
    match event_type {
        "message" => {
            let mut n = obj(vec![
                ("message", str_v("message", "")),
                ("destination", str_v("destination", "")),
                ("channel", str_v("channel", "LongFast")),
                ("priority", str_v("priority", "normal")),
                (
                    "ephemeral",
                    Value::Bool(get(p, "ephemeral").is_some_and(Value::py_truthy)),
                ),
            ]);
            put_lock(&mut n, p);
            put_signed_context(&mut n, p);
            n
        }
        "gate_message" => {
            let nonce = match get(p, "nonce").or_else(|| get(p, "iv")) {
                Some(v) => v.py_str(),
                None => String::new(),
            };
            let format = {
                let f = s_or_empty(p, "format");
                let f = if f.is_empty() {
                    DEFAULT_GATE_FORMAT.to_string()
                } else {
                    f
                };
                py_lower(py_strip(&f))
            };
            let mut n = obj(vec![
                ("gate", Value::Str(py_lower(py_strip(&s(p, "gate", ""))))),
                ("ciphertext", str_v("ciphertext", "")),
                ("nonce", Value::Str(nonce)),
                ("sender_ref", str_v("sender_ref", "")),
                ("format", Value::Str(format)),
            ]);
            let epoch = get(p, "epoch")
                .map(safe_int_value)
                .unwrap_or_else(BigInt::zero);
            if epoch > BigInt::zero() {
                n.insert("epoch", Value::Int(epoch));
            }
            for key in [GATE_ENVELOPE_FIELD, "envelope_hash", "reply_to"] {
                let v = py_strip(&s_or_empty(p, key)).to_string();
                if !v.is_empty() {
                    n.insert(key, Value::Str(v));
                }
            }
            put_lock(&mut n, p);
            put_signed_context(&mut n, p);
            n
        }
        "vote" => {
            let mut n = obj(vec![
                ("target_id", str_v("target_id", "")),
                ("vote", safe_int(p, "vote")),
                ("gate", str_v("gate", "")),
            ]);
            put_signed_context(&mut n, p);
            n
        }
        "gate_create" => {
            let rules = match get(p, "rules") {
                Some(r @ Value::Object(_)) => r.clone(),
                _ => Value::object(),
            };
            let mut n = obj(vec![
                ("gate_id", Value::Str(py_lower(&s(p, "gate_id", "")))),
                (
                    "display_name",
                    Value::Str(py_truncate(&s(p, "display_name", ""), 64)),
                ),
                ("rules", rules),
            ]);
            put_signed_context(&mut n, p);
            n
        }
        "prediction" => obj(vec![
            ("market_title", str_v("market_title", "")),
            ("side", str_v("side", "")),
            ("stake_amount", normalize_number(p, "stake_amount")),
        ]),
        "stake" => obj(vec![
            ("message_id", str_v("message_id", "")),
            ("poster_id", str_v("poster_id", "")),
            ("side", str_v("side", "")),
            ("amount", normalize_number(p, "amount")),
            ("duration_days", safe_int(p, "duration_days")),
        ]),
        "dm_key" => {
            let mut n = obj(vec![
                ("dh_pub_key", str_v("dh_pub_key", "")),
                ("dh_algo", str_v("dh_algo", "")),
                ("timestamp", safe_int(p, "timestamp")),
            ]);
            put_lock(&mut n, p);
            put_signed_context(&mut n, p);
            n
        }
        "dm_message" => {
            let mut n = normalize_dm_message_legacy(p);
            let format = {
                let f = s_or_empty(p, "format");
                let f = if f.is_empty() {
                    DEFAULT_DM_FORMAT.to_string()
                } else {
                    f
                };
                py_lower(py_strip(&f))
            };
            n.insert("format", Value::Str(format));
            if let Some(w) = get(p, "session_welcome").filter(|v| v.py_truthy()) {
                n.insert("session_welcome", Value::Str(w.py_str()));
            }
            let seal = s_or_empty(p, "sender_seal");
            if !seal.is_empty() {
                n.insert("sender_seal", Value::Str(seal));
            }
            let salt = lock_like(p, "relay_salt");
            if !salt.is_empty() {
                n.insert("relay_salt", Value::Str(salt));
            }
            put_lock(&mut n, p);
            put_signed_context(&mut n, p);
            n
        }
        "dm_poll" | "dm_count" => {
            let claims = match get(p, "mailbox_claims") {
                Some(Value::Array(items)) => Value::Array(
                    items
                        .iter()
                        .filter(|c| matches!(c, Value::Object(_)))
                        .map(|c| {
                            obj(vec![
                                ("type", Value::Str(py_lower(&s(c, "type", "")))),
                                ("token", Value::Str(s(c, "token", ""))),
                            ])
                        })
                        .collect(),
                ),
                _ => Value::Array(vec![]),
            };
            let mut n = obj(vec![
                ("mailbox_claims", claims),
                ("timestamp", safe_int(p, "timestamp")),
                ("nonce", str_v("nonce", "")),
            ]);
            put_lock(&mut n, p);
            put_signed_context(&mut n, p);
            n
        }
        "dm_block" => {
            let mut n = obj(vec![
                ("blocked_id", str_v("blocked_id", "")),
                ("action", Value::Str(py_lower(&s(p, "action", "block")))),
            ]);
            put_lock(&mut n, p);
            put_signed_context(&mut n, p);
            n
        }
        "dm_key_witness" => {
            let mut n = obj(vec![
                ("target_id", str_v("target_id", "")),
                ("dh_pub_key", str_v("dh_pub_key", "")),
                ("timestamp", safe_int(p, "timestamp")),
            ]);
            put_lock(&mut n, p);
            put_signed_context(&mut n, p);
            n
        }
        "trust_vouch" => {
            let mut n = obj(vec![
                ("target_id", str_v("target_id", "")),
                ("note", Value::Str(py_truncate(&s(p, "note", ""), 140))),
                ("timestamp", safe_int(p, "timestamp")),
            ]);
            put_lock(&mut n, p);
            put_signed_context(&mut n, p);
            n
        }
        "key_rotate" => {
            let mut n = obj(vec![
                ("old_node_id", str_v("old_node_id", "")),
                ("old_public_key", str_v("old_public_key", "")),
                ("old_public_key_algo", str_v("old_public_key_algo", "")),
                ("new_public_key", str_v("new_public_key", "")),
                ("new_public_key_algo", str_v("new_public_key_algo", "")),
                ("timestamp", safe_int(p, "timestamp")),
                ("old_signature", str_v("old_signature", "")),
            ]);
            put_lock(&mut n, p);
            put_signed_context(&mut n, p);
            n
        }
        "key_revoke" => {
            let mut n = obj(vec![
                ("revoked_public_key", str_v("revoked_public_key", "")),
                (
                    "revoked_public_key_algo",
                    str_v("revoked_public_key_algo", ""),
                ),
                ("revoked_at", safe_int(p, "revoked_at")),
                ("grace_until", safe_int(p, "grace_until")),
                ("reason", Value::Str(py_truncate(&s(p, "reason", ""), 140))),
            ]);
            put_lock(&mut n, p);
            put_signed_context(&mut n, p);
            n
        }
        "abuse_report" => obj(vec![
            ("target_id", str_v("target_id", "")),
            ("reason", Value::Str(py_truncate(&s(p, "reason", ""), 280))),
            ("gate", str_v("gate", "")),
            (
                "evidence",
                Value::Str(py_truncate(&s(p, "evidence", ""), 256)),
            ),
        ]),
        "sar_anomaly" => {
            let f = |k: &str| {
                let v = get(p, k).filter(|v| v.py_truthy());
                Value::Float(v.and_then(Value::py_float).unwrap_or(0.0))
            };
            let i = |k: &str| {
                let v = get(p, k).filter(|v| v.py_truthy());
                Value::Int(v.and_then(Value::py_int).unwrap_or_else(BigInt::zero))
            };
            let t = |k: &str, n: usize| Value::Str(py_truncate(&s(p, k, ""), n));
            obj(vec![
                ("anomaly_id", t("anomaly_id", 128)),
                ("kind", t("kind", 48)),
                ("lat", f("lat")),
                ("lon", f("lon")),
                ("magnitude", f("magnitude")),
                ("magnitude_unit", t("magnitude_unit", 32)),
                ("confidence", f("confidence")),
                ("first_seen", t("first_seen", 32)),
                ("last_seen", t("last_seen", 32)),
                ("stack_id", t("stack_id", 64)),
                ("scene_count", i("scene_count")),
                ("evidence_hash", t("evidence_hash", 128)),
                ("solver", t("solver", 64)),
                ("source_constellation", t("source_constellation", 64)),
            ])
        }
        _ => payload.clone(),
    }
}

/// The legacy (pre-`format`) DM payload shape.
pub fn normalize_dm_message_legacy(p: &Value) -> Value {
    obj(vec![
        ("recipient_id", Value::Str(s(p, "recipient_id", ""))),
        (
            "delivery_class",
            Value::Str(py_lower(&s(p, "delivery_class", ""))),
        ),
        ("recipient_token", Value::Str(s(p, "recipient_token", ""))),
        ("ciphertext", Value::Str(s(p, "ciphertext", ""))),
        ("msg_id", Value::Str(s(p, "msg_id", ""))),
        ("timestamp", safe_int(p, "timestamp")),
    ])
}

/// Gate-message payloads the reference accepts a signature over: the current shape plus legacy
/// variants without `reply_to` and/or without `epoch`. Never includes `gate_envelope` or
/// `signed_context`. Deduplicated, current shape first.
pub fn gate_signature_payload_variants(payload: &Value) -> Vec<Value> {
    let gate = s_or_empty(payload, "gate");
    let build = |include_reply_to: bool| -> Value {
        let format = s_or_empty(payload, "format");
        let mut n = obj(vec![
            ("gate", Value::Str(py_lower(py_strip(&gate)))),
            ("ciphertext", Value::Str(s_or_empty(payload, "ciphertext"))),
            ("nonce", Value::Str(s_or_empty(payload, "nonce"))),
            ("sender_ref", Value::Str(s_or_empty(payload, "sender_ref"))),
            (
                "format",
                Value::Str(if format.is_empty() {
                    DEFAULT_GATE_FORMAT.into()
                } else {
                    format
                }),
            ),
        ]);
        let epoch = match get(payload, "epoch") {
            Some(v) if v.py_truthy() => safe_int_value(v),
            _ => BigInt::zero(),
        };
        if epoch > BigInt::zero() {
            n.insert("epoch", Value::Int(epoch));
        }
        let eh = py_strip(&s_or_empty(payload, "envelope_hash")).to_string();
        if !eh.is_empty() {
            n.insert("envelope_hash", Value::Str(eh));
        }
        let lock = lock_like(payload, "transport_lock");
        if !lock.is_empty() {
            n.insert("transport_lock", Value::Str(lock));
        }
        let rt = py_strip(&s_or_empty(payload, "reply_to")).to_string();
        if include_reply_to && !rt.is_empty() {
            n.insert("reply_to", Value::Str(rt));
        }
        normalize_payload("gate_message", &n)
    };
    let full = build(true);
    let has_reply = !py_strip(&s_or_empty(payload, "reply_to")).is_empty();
    let mut variants = vec![full.clone()];
    if has_reply {
        variants.push(build(false));
    }
    if full.contains_key("epoch") {
        let mut no_epoch = full;
        no_epoch.remove("epoch");
        variants.push(no_epoch);
        if has_reply {
            let mut v = build(false);
            v.remove("epoch");
            variants.push(v);
        }
    }
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for v in variants {
        let c = v.to_canonical();
        if !seen.contains(&c) {
            seen.push(c);
            out.push(v);
        }
    }
    out
}
