//! The Infonet/2 chain event and the signing helper.

use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::canonical::{
    compute_event_id, node_id_from_public_key, normalize_payload, signature_string_with_network,
    NETWORK_ID, PROTOCOL_VERSION,
};
use crate::json::Value;
use crate::signature::ALGO_ED25519;

/// One event on the Infonet chain, with the reference's field names. `payload`, `timestamp` and
/// `sequence` keep the exact JSON values (the event id hashes their Python renderings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainEvent {
    #[serde(default)]
    pub event_id: String,
    #[serde(default)]
    pub prev_hash: String,
    #[serde(default)]
    pub event_type: String,
    #[serde(default)]
    pub node_id: String,
    #[serde(default = "Value::object")]
    pub payload: Value,
    #[serde(default = "null_value")]
    pub timestamp: Value,
    #[serde(default = "zero_value")]
    pub sequence: Value,
    #[serde(default)]
    pub signature: String,
    #[serde(default)]
    pub network_id: String,
    #[serde(default)]
    pub public_key: String,
    #[serde(default)]
    pub public_key_algo: String,
    #[serde(default)]
    pub protocol_version: String,
}

fn null_value() -> Value {
    Value::Null
}
fn zero_value() -> Value {
    Value::from(0i64)
}

/// Errors converting JSON into a [`ChainEvent`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EventError {
    #[error("event is not a JSON object")]
    NotAnObject,
}

/// The twelve wire field names, in the reference's order.
pub const EVENT_FIELDS: [&str; 12] = [
    "event_id",
    "prev_hash",
    "event_type",
    "node_id",
    "payload",
    "timestamp",
    "sequence",
    "signature",
    "network_id",
    "public_key",
    "public_key_algo",
    "protocol_version",
];

impl ChainEvent {
    /// Build from an exact JSON object. Missing string fields become `""` (the reference reads
    /// them with `.get(key, "")`); non-string values are kept as their Python `str()`; a missing
    /// `timestamp` becomes `null` and a missing `sequence` becomes `0`.
    pub fn from_value(v: &Value) -> Result<ChainEvent, EventError> {
        if !matches!(v, Value::Object(_)) {
            return Err(EventError::NotAnObject);
        }
        let s = |k: &str| v.get(k).map(Value::py_str).unwrap_or_default();
        Ok(ChainEvent {
            event_id: s("event_id"),
            prev_hash: s("prev_hash"),
            event_type: s("event_type"),
            node_id: s("node_id"),
            payload: v.get("payload").cloned().unwrap_or_else(Value::object),
            timestamp: v.get("timestamp").cloned().unwrap_or(Value::Null),
            sequence: v.get("sequence").cloned().unwrap_or_else(zero_value),
            signature: s("signature"),
            network_id: s("network_id"),
            public_key: s("public_key"),
            public_key_algo: s("public_key_algo"),
            protocol_version: s("protocol_version"),
        })
    }

    /// [`Self::from_value`] taking the object by value: string fields and the payload are moved,
    /// not copied (same event for every input, repeated keys included: the first one counts).
    pub fn from_value_owned(v: Value) -> Result<ChainEvent, EventError> {
        let Value::Object(members) = v else {
            return Err(EventError::NotAnObject);
        };
        let mut e = ChainEvent {
            event_id: String::new(),
            prev_hash: String::new(),
            event_type: String::new(),
            node_id: String::new(),
            payload: Value::object(),
            timestamp: Value::Null,
            sequence: zero_value(),
            signature: String::new(),
            network_id: String::new(),
            public_key: String::new(),
            public_key_algo: String::new(),
            protocol_version: String::new(),
        };
        let mut seen = [false; EVENT_FIELDS.len()];
        for (k, val) in members {
            let Some(f) = EVENT_FIELDS.iter().position(|n| *n == k) else {
                continue;
            };
            match seen.get_mut(f) {
                Some(s) if !*s => *s = true,
                _ => continue,
            }
            let text = |val: Value| match val {
                Value::Str(s) => s,
                other => other.py_str(),
            };
            match f {
                0 => e.event_id = text(val),
                1 => e.prev_hash = text(val),
                2 => e.event_type = text(val),
                3 => e.node_id = text(val),
                4 => e.payload = val,
                5 => e.timestamp = val,
                6 => e.sequence = val,
                7 => e.signature = text(val),
                8 => e.network_id = text(val),
                9 => e.public_key = text(val),
                10 => e.public_key_algo = text(val),
                _ => e.protocol_version = text(val),
            }
        }
        Ok(e)
    }

    /// Exact JSON object with the wire field names.
    pub fn to_value(&self) -> Value {
        let st = |x: &str| Value::Str(x.to_string());
        Value::Object(vec![
            ("event_id".into(), st(&self.event_id)),
            ("prev_hash".into(), st(&self.prev_hash)),
            ("event_type".into(), st(&self.event_type)),
            ("node_id".into(), st(&self.node_id)),
            ("payload".into(), self.payload.clone()),
            ("timestamp".into(), self.timestamp.clone()),
            ("sequence".into(), self.sequence.clone()),
            ("signature".into(), st(&self.signature)),
            ("network_id".into(), st(&self.network_id)),
            ("public_key".into(), st(&self.public_key)),
            ("public_key_algo".into(), st(&self.public_key_algo)),
            ("protocol_version".into(), st(&self.protocol_version)),
        ])
    }

    /// Recompute the event id from the stored fields.
    pub fn computed_event_id(&self) -> String {
        compute_event_id(
            &self.prev_hash,
            &self.event_type,
            &self.node_id,
            &self.payload,
            &self.timestamp,
            &self.sequence,
            &self.network_id,
        )
    }

    /// The sequence as Python `_safe_int(sequence or 0, 0)`.
    pub fn sequence_value(&self) -> crate::json::BigInt {
        if !self.sequence.py_truthy() {
            return crate::json::BigInt::zero();
        }
        self.sequence
            .py_int()
            .unwrap_or_else(crate::json::BigInt::zero)
    }

    /// [`Self::sequence_value`] as `i128` (0 when it does not fit).
    pub fn sequence_int(&self) -> i128 {
        self.sequence_value().to_i128().unwrap_or(0)
    }
}

/// Why an event's unsigned representation has no canonical form (see [`ChainEvent::canonical`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NonCanonical {
    #[error("timestamp must be a JSON number")]
    TimestampNotNumber,
    #[error("sequence must be a JSON integer")]
    SequenceNotInteger,
    #[error("public_key is not base64")]
    PublicKeyEncoding,
    #[error("public_key_algo is not a supported algorithm")]
    UnknownAlgo,
    #[error("protocol_version must be {PROTOCOL_VERSION}")]
    ProtocolVersion,
    #[error("signature is not hex")]
    SignatureEncoding,
    #[error("payload does not re-parse from its canonical JSON")]
    Payload,
}

impl NonCanonical {
    /// Stable machine-readable code (the relay answers it like a verifier reason).
    pub fn code(&self) -> &'static str {
        "non_canonical_event"
    }
}

impl ChainEvent {
    /// The one representation relays store and serve for this event id.
    ///
    /// The event id pins `prev_hash`, `event_type`, `node_id`, `network_id`, the canonical
    /// payload and the Python `str()` of `timestamp` and `sequence`; the signature covers less.
    /// Everything else could differ between copies of one event — a peer could otherwise make
    /// relays serve variants under the same id. So: `timestamp` must be a JSON number and
    /// `sequence` a JSON integer (a string renders the same `str()`: refused); `public_key` is
    /// re-encoded as standard padded base64 of the bytes the lenient decoder reads (junk after
    /// the padding dropped); `public_key_algo` becomes its canonical label (`Ed25519`,
    /// `ECDSA_P256`); an empty `protocol_version` becomes `infonet/2`; `signature` becomes
    /// lower-case hex without spaces; the payload is re-rendered with sorted keys (its
    /// canonical JSON, which the id hashes). Unknown top-level fields are not kept
    /// ([`ChainEvent::to_value`] has the twelve wire fields only).
    pub fn canonical(&self) -> Result<ChainEvent, NonCanonical> {
        self.clone().into_canonical()
    }

    /// [`Self::canonical`] taking the event by value (its fields are moved, not copied).
    pub fn into_canonical(self) -> Result<ChainEvent, NonCanonical> {
        use base64::Engine as _;
        if !matches!(self.timestamp, Value::Int(_) | Value::Float(_)) {
            return Err(NonCanonical::TimestampNotNumber);
        }
        if !matches!(self.sequence, Value::Int(_)) {
            return Err(NonCanonical::SequenceNotInteger);
        }
        let key = crate::canonical::py_b64decode_lenient(&self.public_key)
            .ok_or(NonCanonical::PublicKeyEncoding)?;
        let algo = crate::signature::parse_public_key_algo(&self.public_key_algo)
            .ok_or(NonCanonical::UnknownAlgo)?;
        let protocol_version = match self.protocol_version.as_str() {
            "" | PROTOCOL_VERSION => PROTOCOL_VERSION,
            _ => return Err(NonCanonical::ProtocolVersion),
        };
        let sig =
            crate::signature::py_fromhex(&self.signature).ok_or(NonCanonical::SignatureEncoding)?;
        let payload = crate::json::parse(self.payload.to_canonical().as_bytes())
            .map_err(|_| NonCanonical::Payload)?;
        Ok(ChainEvent {
            payload,
            signature: hex::encode(sig),
            public_key: base64::engine::general_purpose::STANDARD.encode(key),
            public_key_algo: algo.label().to_string(),
            protocol_version: protocol_version.to_string(),
            ..self
        })
    }

    /// `self.to_value().to_json_ordered()` written directly (no copy of the fields).
    pub fn to_json_ordered(&self) -> String {
        use crate::json::write_json_string;
        let mut out = String::with_capacity(512 + self.signature.len());
        let strs = |out: &mut String, fields: &[(&str, &str)]| {
            for (k, v) in fields {
                out.push(',');
                write_json_string(k, out);
                out.push(':');
                write_json_string(v, out);
            }
        };
        out.push('{');
        write_json_string("event_id", &mut out);
        out.push(':');
        write_json_string(&self.event_id, &mut out);
        strs(
            &mut out,
            &[
                ("prev_hash", &self.prev_hash),
                ("event_type", &self.event_type),
                ("node_id", &self.node_id),
            ],
        );
        for (k, v) in [
            ("payload", &self.payload),
            ("timestamp", &self.timestamp),
            ("sequence", &self.sequence),
        ] {
            out.push(',');
            write_json_string(k, &mut out);
            out.push(':');
            v.write_ordered(&mut out);
        }
        strs(
            &mut out,
            &[
                ("signature", &self.signature),
                ("network_id", &self.network_id),
                ("public_key", &self.public_key),
                ("public_key_algo", &self.public_key_algo),
                ("protocol_version", &self.protocol_version),
            ],
        );
        out.push('}');
        out
    }

    /// [`Self::canonical`] rendered as the JSON text relays store and serve.
    pub fn canonical_json(&self) -> Result<String, NonCanonical> {
        Ok(self.canonical()?.to_value().to_json_ordered())
    }
}

/// Sign a new event with an Ed25519 key: normalises the payload (the reference only accepts
/// normalised payloads on the ledger), derives `node_id`, signs the Infonet/2 signature string
/// and computes the event id.
pub fn sign_event(
    key: &SigningKey,
    prev_hash: &str,
    event_type: &str,
    payload: &Value,
    timestamp: Value,
    sequence: u64,
) -> ChainEvent {
    use base64::Engine as _;
    let vk = key.verifying_key();
    let node_id = node_id_from_public_key(vk.as_bytes());
    let payload = normalize_payload(event_type, payload);
    let seq = sequence.to_string();
    let msg = signature_string_with_network(NETWORK_ID, event_type, &node_id, &seq, &payload);
    let signature = hex::encode(key.sign(msg.as_bytes()).to_bytes());
    let mut evt = ChainEvent {
        event_id: String::new(),
        prev_hash: prev_hash.to_string(),
        event_type: event_type.to_string(),
        node_id,
        payload,
        timestamp,
        sequence: Value::from(sequence),
        signature,
        network_id: NETWORK_ID.to_string(),
        public_key: base64::engine::general_purpose::STANDARD.encode(vk.as_bytes()),
        public_key_algo: ALGO_ED25519.to_string(),
        protocol_version: PROTOCOL_VERSION.to_string(),
    };
    evt.event_id = evt.computed_event_id();
    evt
}

#[cfg(all(test, not(target_arch = "wasm32")))]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::json::parse;

    #[test]
    fn value_and_serde_round_trip() {
        let key = SigningKey::from_bytes(&[1u8; 32]);
        let p = parse(br#"{"message":"hi","destination":"broadcast","channel":"LongFast","priority":"normal","ephemeral":false}"#).unwrap();
        let e = sign_event(
            &key,
            crate::canonical::GENESIS_HASH,
            "message",
            &p,
            Value::Float(1780000073.0),
            1,
        );
        assert_eq!(ChainEvent::from_value(&e.to_value()).unwrap(), e);
        let text = serde_json::to_string(&e).unwrap();
        let back: ChainEvent = serde_json::from_str(&text).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.computed_event_id(), e.event_id);
        assert!(text.contains("1780000073.0"));
        assert!(ChainEvent::from_value(&Value::from(1i64)).is_err());
    }
}
