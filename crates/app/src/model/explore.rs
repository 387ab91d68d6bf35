//! The event explorer's detail of one stored event: canonical fields and recomputed hash for a
//! public event; for a private event (stored as its redaction stub) a sealed entry with the
//! stub's fields only (type, author node, time, event id, link, sequence), never a payload.
use postern_core::event::ChainEvent;
use postern_core::json::{self, Value};
use postern_core::public_view::{is_private_type, redact, STUB_FIELDS};

use crate::model::chain::EventSummary;

/// The detail of one event, read back from IndexedDB.
#[derive(Debug, Clone, PartialEq)]
pub struct Detail {
    pub summary: EventSummary,
    /// (field, value) in canonical order (the stub's members for a sealed event).
    pub fields: Vec<(&'static str, String)>,
    /// The recomputed event id equals the stored one (always `false` for a sealed event: its
    /// id cannot be recomputed without the payload; its link was verified).
    pub hash_ok: bool,
    /// A private event: only its stub is held and shown.
    pub sealed: bool,
}

/// Describe one stored event text.
pub fn describe(summary: EventSummary, text: &str) -> Result<Detail, String> {
    let v = json::parse(text.as_bytes()).map_err(|e| e.to_string())?;
    let private = v
        .get("event_type")
        .and_then(Value::as_str)
        .is_some_and(is_private_type);
    if private {
        // Whatever was stored, show the stub's members only.
        let stub = redact(&v);
        let fields = STUB_FIELDS
            .iter()
            .map(|k| {
                let val = stub.get(k).cloned().unwrap_or(Value::Null);
                let shown = match val.as_str() {
                    Some(s) => s.to_string(),
                    None => val.to_json_ordered(),
                };
                (*k, shown)
            })
            .collect();
        return Ok(Detail {
            summary,
            fields,
            hash_ok: false,
            sealed: true,
        });
    }
    let e = ChainEvent::from_value(&v).map_err(|e| e.to_string())?;
    let hash_ok = e.computed_event_id() == e.event_id;
    let fields = vec![
        ("event_id", e.event_id.clone()),
        ("prev_hash", e.prev_hash.clone()),
        ("event_type", e.event_type.clone()),
        ("node_id", e.node_id.clone()),
        ("sequence", e.sequence_value().to_string()),
        ("timestamp", e.timestamp.to_json_ordered()),
        ("network_id", e.network_id.clone()),
        ("protocol_version", e.protocol_version.clone()),
        ("public_key_algo", e.public_key_algo.clone()),
        ("public_key", e.public_key.clone()),
        ("signature", e.signature.clone()),
        ("payload", e.payload.to_canonical()),
    ];
    Ok(Detail {
        summary,
        fields,
        hash_ok,
        sealed: false,
    })
}
