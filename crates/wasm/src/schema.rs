//! Infonet/2 payload rules (core's `schema`), shared by relay and browser.
use postern_core::{canonical, json, schema};
use wasm_bindgen::prelude::*;

use crate::error::{json_error, schema_error};

fn parse(payload_json: &str) -> Result<json::Value, JsValue> {
    json::parse(payload_json.as_bytes()).map_err(json_error)
}

/// Check a ledger payload (JSON text) for `eventType` with core's `check_payload`: per-type
/// rules, lane rules (public forbidden fields, private allow-lists, plaintext tripwires,
/// transport lock, sealed bytes), normalisation and the 4096-byte cap. Returns nothing when it
/// passes; throws `schema_<reason>` (e.g. `schema_plaintext_present`, `schema_missing_field`,
/// `schema_unknown_event_type`, `schema_not_normalized`) or `json_invalid`.
#[wasm_bindgen(js_name = checkPayload)]
pub fn check_payload(event_type: &str, payload_json: &str) -> Result<(), JsValue> {
    schema::check_payload(event_type, &parse(payload_json)?).map_err(schema_error)
}

/// The relay's rule for new appends (core's `validate_for_append`): `checkPayload` plus the
/// append-only caps; `gate_message`/`dm_message` only with `privateLane = true`.
#[wasm_bindgen(js_name = checkPayloadForAppend)]
pub fn check_payload_for_append(
    event_type: &str,
    payload_json: &str,
    private_lane: bool,
) -> Result<(), JsValue> {
    schema::validate_for_append(event_type, &parse(payload_json)?, private_lane)
        .map_err(schema_error)
}

/// Normalise a payload for `eventType` as `signEvent` does (core's `normalize_payload`);
/// returns canonical JSON text.
#[wasm_bindgen(js_name = normalizePayload)]
pub fn normalize_payload(event_type: &str, payload_json: &str) -> Result<String, JsValue> {
    Ok(canonical::normalize_payload(event_type, &parse(payload_json)?).to_json_ordered())
}
