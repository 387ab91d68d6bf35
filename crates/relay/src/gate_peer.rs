//! Gate replication between relays: `POST /api/mesh/gate/peer-push`.
//!
//! Every epoch record and gate message a relay accepts (from a client or a peer) is queued, in
//! the transaction that stores it, as a row of the durable `replication_outbox` for every
//! outbound peer except the one it came from; the per-peer workers of [`crate::peer`] deliver
//! it (retry with core's backoff, never blocking the client). The receiver authenticates the
//! peer (`postern_core::peer` HMAC, 403 `peer_unauthorized`) after the size check (413) and
//! runs exactly the client checks: core's `GateState::from_genesis` / `GateState::apply` on the
//! stored chain for a record, [`crate::gate::validate_message`] (core schema +
//! `GateMessage::validate`) for a message. What it stores it forwards the same way, so a
//! partial mesh (A–B, B–C) converges; a duplicate is neither stored nor forwarded, so floods
//! stop even in cycles.
//!
//! **Ordering.** A record for a later epoch than the next one (or a non-genesis record of a gate
//! not held here), whose own signature verifies, and a message whose gate or epoch is not held
//! here are *parked* (202 `parked`): kept in `gate_parked`, never served or forwarded, and run
//! through the same core checks once the missing epoch is accepted (then forwarded if
//! accepted, dropped and logged if refused). Parking is bounded
//! ([`crate::store::GATE_PARK_MAX_PER_GATE`], [`crate::store::GATE_PARK_MAX_TOTAL`], 503
//! `parking_full` so the sender's outbox retries) and expires after
//! [`crate::store::GATE_PARK_TTL_SECS`].
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use postern_core::api::codes;
use postern_core::api::gate::{codes as gcodes, peer_codes, PeerPushOutcome, PeerPushRequest, PeerPushResponse};
use postern_core::gate::GateError;

use crate::server::{ApiError, AppState};
use crate::store::PeerGateOutcome;

fn refusal(e: GateError) -> ApiError {
    match e {
        GateError::ForkedEpoch { .. } => ApiError::new(StatusCode::CONFLICT, gcodes::FORKED_EPOCH, e.to_string()),
        _ => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, gcodes::INVALID_EPOCH, e.to_string()),
    }
}

/// `POST /api/mesh/gate/peer-push {record} | {message}`.
pub(crate) async fn peer_push(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(ApiError::from)?;
    let peer = st.peers().authenticate(&headers, &body)?;
    let req: PeerPushRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::BAD_REQUEST,
            format!("request body does not match the expected shape: {e}"),
        )
    })?;
    let now = st.now();
    let (gate, outcome) = match (req.record, req.message) {
        (Some(record), None) => {
            let gate = record.gate.clone();
            let from = peer.clone();
            let out = st.with_store("gate_peer_epoch", move |s| s.gate_peer_epoch(&record, now, &from)).await?;
            (gate, out)
        }
        (None, Some(message)) => {
            let (msg, stored) = crate::gate::validate_message(&message)?;
            let gate = msg.gate.clone();
            let (g, epoch, nonce, from) = (msg.gate.clone(), msg.epoch, msg.nonce.clone(), peer.clone());
            let out = st
                .with_store("gate_peer_message", move |s| s.gate_peer_message(&g, epoch, &nonce, &stored, now, &from))
                .await?;
            (gate, out)
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                peer_codes::ONE_ITEM,
                "expected exactly one of record or message",
            ))
        }
    };
    let (status, outcome, epoch) = match outcome {
        PeerGateOutcome::Accepted { epoch } => (StatusCode::OK, PeerPushOutcome::Accepted, epoch),
        PeerGateOutcome::Duplicate { epoch } => (StatusCode::OK, PeerPushOutcome::Duplicate, epoch),
        PeerGateOutcome::Parked { epoch } => (StatusCode::ACCEPTED, PeerPushOutcome::Parked, epoch),
        PeerGateOutcome::ParkingFull => {
            tracing::warn!(peer = %peer, "gate parking full; peer will retry");
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                peer_codes::PARKING_FULL,
                "too many out-of-order gate items waiting here; retry later",
            ));
        }
        PeerGateOutcome::Refused(e) => {
            tracing::info!(peer = %peer, error = %e, "peer gate epoch refused");
            return Err(refusal(e));
        }
    };
    tracing::info!(peer = %peer, epoch, outcome = ?outcome, "gate peer push");
    Ok((status, axum::Json(PeerPushResponse { ok: true, outcome, gate, epoch })).into_response())
}
