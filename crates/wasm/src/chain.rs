//! Infonet/2 events: signing with a key handle, chain verification (full chains and public views).
use ed25519_dalek::SigningKey;
use postern_core::canonical::node_id_from_public_key;
use postern_core::json::{self, Value};
use postern_core::{b64, event, public_view, verify};
use rand_core::OsRng;
use wasm_bindgen::prelude::*;
use zeroize::Zeroizing;

use crate::error::{js_error, json_error, to_u64};
use crate::results::{
    crypto_failure_js, to_js, ChainReport, ChainReportJs, CryptoFailure, PublicViewReport,
    PublicViewReportJs,
};

/// An Ed25519 key for signing Infonet/2 events, held inside wasm memory (zeroized when freed).
/// Keep one handle per author: re-creating the key from its seed on every signature halves
/// signing throughput.
#[wasm_bindgen]
pub struct EventSigner {
    key: SigningKey,
}

#[wasm_bindgen]
impl EventSigner {
    /// A fresh random key (`crypto.getRandomValues`).
    #[wasm_bindgen]
    pub fn generate() -> EventSigner {
        EventSigner {
            key: SigningKey::generate(&mut OsRng),
        }
    }

    /// Restore from a 32-byte Ed25519 seed. Throws `invalid_argument`.
    #[wasm_bindgen(js_name = fromSeed)]
    pub fn from_seed(seed: &[u8]) -> Result<EventSigner, JsValue> {
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
            seed.try_into()
                .map_err(|_| js_error("invalid_argument", "seed must be 32 bytes"))?,
        );
        Ok(EventSigner {
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// The 32-byte seed. Handle with care.
    #[wasm_bindgen(js_name = exportSeed)]
    pub fn export_seed(&self) -> Vec<u8> {
        self.key.to_bytes().to_vec()
    }

    /// The Infonet node id bound to this key.
    #[wasm_bindgen(getter, js_name = nodeId)]
    pub fn node_id(&self) -> String {
        node_id_from_public_key(self.key.verifying_key().as_bytes())
    }

    /// The public key as it appears in events (standard base64).
    #[wasm_bindgen(getter, js_name = publicKey)]
    pub fn public_key(&self) -> String {
        b64::encode_std(self.key.verifying_key().as_bytes())
    }

    /// Same as the free function [`sign_event`] (`signEvent(this, …)`).
    #[wasm_bindgen(js_name = signEvent)]
    pub fn sign(
        &self,
        prev_hash: &str,
        event_type: &str,
        payload_json: &str,
        timestamp: f64,
        sequence: f64,
    ) -> Result<String, JsValue> {
        sign_event(
            self,
            prev_hash,
            event_type,
            payload_json,
            timestamp,
            sequence,
        )
    }
}

/// Sign an Infonet/2 event: core normalises `payload` for `eventType`, derives `node_id`, signs
/// the signature string and computes `event_id`. `prevHash` may be `""` when the relay fills it
/// in. `timestamp` (UNIX seconds) is written as a JSON float, as the reference node does;
/// `sequence` is the author's per-domain counter (≥ 1). Returns the event as JSON text.
/// Throws `json_invalid`, `invalid_argument`. The payload is not schema-checked: see
/// `checkPayload`.
///
/// Keep the returned JSON *text* as is: event ids hash Python-style values, and a JS
/// `JSON.parse` → `JSON.stringify` round trip turns `1780000000.0` into `1780000000`, which
/// changes the id (`verifyChain` then reports `event_id_mismatch`).
#[wasm_bindgen(js_name = signEvent)]
pub fn sign_event(
    signer: &EventSigner,
    prev_hash: &str,
    event_type: &str,
    payload_json: &str,
    timestamp: f64,
    sequence: f64,
) -> Result<String, JsValue> {
    let payload = json::parse(payload_json.as_bytes()).map_err(json_error)?;
    if !timestamp.is_finite() {
        return Err(js_error(
            "invalid_argument",
            "timestamp must be a finite number",
        ));
    }
    let sequence = to_u64(sequence, "sequence")?;
    let evt = event::sign_event(
        &signer.key,
        prev_hash,
        event_type,
        &payload,
        Value::Float(timestamp),
        sequence,
    );
    Ok(evt.to_value().to_json_ordered())
}

/// Verify a whole Infonet/2 chain given as a JSON array of events (genesis first) with core's
/// `verify_chain` at clock `nowSeconds` (UNIX seconds). `maxEventAgeSeconds` overrides the
/// freshness window (default 86400; 0 disables it). Never throws for invalid chains: the
/// result's `valid`/`error` say why. Throws `json_invalid` if `eventsJson` is not JSON and
/// `invalid_argument` if it is not an array.
#[wasm_bindgen(js_name = verifyChain)]
pub fn verify_chain(
    events_json: &str,
    now_seconds: f64,
    max_event_age_seconds: Option<f64>,
) -> Result<ChainReportJs, JsValue> {
    let now = to_u64(now_seconds.floor(), "nowSeconds")?;
    let mut opts = verify::VerifyOptions::at(now);
    if let Some(age) = max_event_age_seconds {
        opts.max_event_age_s = to_u64(age, "maxEventAgeSeconds")?;
    }
    let parsed = json::parse(events_json.as_bytes()).map_err(json_error)?;
    let events = parsed
        .as_array()
        .ok_or_else(|| js_error("invalid_argument", "eventsJson must be a JSON array"))?;
    report_js(&verify::verify_chain_values(events, &opts))
}

fn report_js(report: &verify::ChainReport) -> Result<ChainReportJs, JsValue> {
    to_js(&ChainReport::from(report))
}

/// `verifyChain` for a chain given in consecutive parts, each a JSON array text (genesis first in
/// the first part). Use it when the whole chain text would exceed the JSON parser's 64 MiB input
/// limit (~95k typical events): the result is what `verifyChain` gives for the concatenation.
#[wasm_bindgen(js_name = verifyChainParts)]
pub fn verify_chain_parts(
    parts: Vec<String>,
    now_seconds: f64,
    max_event_age_seconds: Option<f64>,
) -> Result<ChainReportJs, JsValue> {
    let opts = options(now_seconds, max_event_age_seconds)?;
    let events = parse_parts(&parts)?;
    report_js(&verify::verify_chain_values(&events, &opts))
}

fn options(
    now_seconds: f64,
    max_event_age_seconds: Option<f64>,
) -> Result<verify::VerifyOptions, JsValue> {
    let now = to_u64(now_seconds.floor(), "nowSeconds")?;
    let mut opts = verify::VerifyOptions::at(now);
    if let Some(age) = max_event_age_seconds {
        opts.max_event_age_s = to_u64(age, "maxEventAgeSeconds")?;
    }
    Ok(opts)
}

/// The events of a chain given in consecutive parts, each a JSON array text.
fn parse_parts(parts: &[String]) -> Result<Vec<Value>, JsValue> {
    let mut events = Vec::new();
    for p in parts {
        events.extend(parse_events(p)?);
    }
    Ok(events)
}

fn parse_events(events_json: &str) -> Result<Vec<Value>, JsValue> {
    match json::parse(events_json.as_bytes()).map_err(json_error)? {
        Value::Array(a) => Ok(a),
        _ => Err(js_error(
            "invalid_argument",
            "eventsJson must be a JSON array",
        )),
    }
}

/// Verify a public view of the Infonet chain (what a relay serves a reader without peer
/// credentials: private `gate_message` / `dm_message` events replaced by redaction stubs
/// `{event_id, prev_hash, event_type, node_id, sequence, timestamp}`) with core's
/// `verify_public_view`: full events with every rule of `verifyChain`, stubs link-only. The
/// Merkle root is over every id, so it equals the full chain's. Same arguments, errors and
/// freshness default as `verifyChain`; a chain without stubs gives `verifyChain`'s verdict.
#[wasm_bindgen(js_name = verifyPublicView)]
pub fn verify_public_view(
    events_json: &str,
    now_seconds: f64,
    max_event_age_seconds: Option<f64>,
) -> Result<PublicViewReportJs, JsValue> {
    let opts = options(now_seconds, max_event_age_seconds)?;
    let values = parse_events(events_json)?;
    let report = public_view::verify_public_view(&values, &opts);
    to_js(&PublicViewReport::from(&report))
}

/// Building block of `verifyChainParallel` (postern_wasm_parallel.js): every rule of
/// `verifyChain` except signatures and event-id recomputation (core's
/// `verify_chain_structure`). Same arguments and result shape as `verifyChain`. An invalid result
/// may name a later index than `verifyChain` would; `verifyChainParallel` then re-runs
/// `verifyChain` for the exact first failure.
#[wasm_bindgen(js_name = verifyChainStructure)]
pub fn verify_chain_structure(
    events_json: &str,
    now_seconds: f64,
    max_event_age_seconds: Option<f64>,
) -> Result<ChainReportJs, JsValue> {
    verify_chain_structure_parts(
        vec![events_json.to_string()],
        now_seconds,
        max_event_age_seconds,
    )
}

/// `verifyChainStructure` for a chain given in parts (see `verifyChainParts`).
#[wasm_bindgen(js_name = verifyChainStructureParts)]
pub fn verify_chain_structure_parts(
    parts: Vec<String>,
    now_seconds: f64,
    max_event_age_seconds: Option<f64>,
) -> Result<ChainReportJs, JsValue> {
    let opts = options(now_seconds, max_event_age_seconds)?;
    let values = parse_parts(&parts)?;
    let mut events = Vec::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        match event::ChainEvent::from_value(v) {
            Ok(e) => events.push(e),
            Err(_) => {
                return report_js(&verify::ChainReport {
                    valid: false,
                    count: values.len(),
                    head: None,
                    merkle_root: None,
                    error: Some(verify::ChainFailure {
                        index: i,
                        event_id: String::new(),
                        reason: verify::FailReason::NotAnObject,
                        detail: "Event is not an object".into(),
                    }),
                })
            }
        }
    }
    report_js(&verify::verify_chain_structure(&events, &opts))
}

/// Building block of `verifyChainParallel`: checks the signatures (Ed25519 batched) and event
/// ids of a JSON array of events that is a slice of a chain (core's `first_crypto_failure`).
/// Returns `null` when all pass, else `{ index, reason }` with `index` relative to the slice.
/// Elements that are not event objects are skipped (the structural half reports them).
#[wasm_bindgen(js_name = verifyChainCrypto)]
pub fn verify_chain_crypto(events_json: &str) -> Result<JsValue, JsValue> {
    let values = parse_events(events_json)?;
    let mut events = Vec::with_capacity(values.len());
    let mut index_of = Vec::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        if let Ok(e) = event::ChainEvent::from_value(v) {
            events.push(e);
            index_of.push(i);
        }
    }
    crypto_failure_js(
        verify::first_crypto_failure(&events).map(|(k, reason)| CryptoFailure {
            index: index_of[k] as f64,
            reason: reason.as_str(),
        }),
    )
}
