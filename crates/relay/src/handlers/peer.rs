//! Relay-to-relay handlers (HMAC-authenticated by the [`PeerBytes`] / [`PeerJson`] extractors):
//! chain `peer-push`, DM `replicate-envelope` / `replicate-ack` / `peer-pull`, gate
//! `peer-push` / `peer-pull`; and the unauthenticated replication status views.
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use postern_core::api::gate::{self as gate_api, PeerPushOutcome};
use postern_core::api::peer::{
    codes as pcodes, PeerPullRequest, PeerPullResponse, PeerPushRejection, PeerPushResponse,
    ReplicateAckRequest, ReplicateAckResponse, ReplicateEnvelopeRequest, ReplicateEnvelopeResponse,
    PEER_PUSH_MAX_EVENTS,
};
use postern_core::json::{self, Value};
use postern_core::peer::PeerScheme;

use crate::http::error::refusal_status;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, PeerBytes, PeerJson};
use crate::http::state::AppState;
use crate::replication::status::{PullStatusResponse, SyncStatusResponse};
use crate::service::chain::PushOutcome;
use crate::service::dm::Origin;

/// Nesting allowed in a peer-push body.
const PUSH_MAX_DEPTH: usize = 40;

/// `POST /api/mesh/infonet/peer-push {events: [...]}`: each event into its lane through
/// `ChainState::ingest` with freshness disabled; the first bad event stops the push.
pub async fn chain_push(
    State(st): State<AppState>,
    PeerBytes { peer, body }: PeerBytes,
) -> Result<Response, ApiError> {
    let limits = json::Limits {
        max_depth: PUSH_MAX_DEPTH,
        max_input_bytes: body.len(),
    };
    let mut v = json::parse_with_limits(&body, limits)
        .map_err(|e| ApiError::bad_request(format!("request body is not valid JSON: {e}")))?;
    // Taken out of the body, not copied.
    let events = match v.remove("events") {
        Some(Value::Array(a)) => a,
        _ => return Err(ApiError::bad_request("expected {\"events\": [...]}")),
    };
    if events.len() > PEER_PUSH_MAX_EVENTS {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            pcodes::TOO_MANY_EVENTS,
            format!("at most {PEER_PUSH_MAX_EVENTS} events per push"),
        ));
    }
    // Counted as on its way before it is prepared: a batch of this peer that arrived ahead
    // of it may wait for it (`service::push_commit`).
    let pushes = st.services().pushes();
    let arrival = pushes.arrive(&peer)?;
    // Parsing and signature checks off the chain's lock, in arrival order.
    let prepared = pushes.prepare(&arrival, events).await?;
    // Applied in order with the batches queued beside it, answered once committed.
    let outcome = pushes.push(arrival, prepared, st.services().now()).await?;
    match outcome {
        PushOutcome::Done {
            accepted,
            duplicates,
            head_hash,
        } => {
            tracing::info!(peer = %peer, accepted, duplicates, "peer push");
            Ok(ApiJson(PeerPushResponse {
                ok: true,
                accepted,
                duplicates,
                head_hash,
            })
            .into_response())
        }
        PushOutcome::Refused(r) => {
            tracing::info!(peer = %peer, index = r.index, code = r.refusal.code, "peer push refused");
            let status = refusal_status(r.refusal.kind);
            // A Shadowbroker node gets exactly the members it always got.
            let postern = st.peer_keys().scheme(&peer) == Some(PeerScheme::Postern);
            let body = PeerPushRejection {
                ok: false,
                code: r.refusal.code.to_string(),
                detail: r.refusal.detail,
                index: r.index,
                accepted: r.accepted,
                duplicates: r.duplicates,
                missing: r.missing.filter(|_| postern),
            };
            Ok((status, axum::Json(body)).into_response())
        }
    }
}

/// `POST /api/mesh/dm/replicate-envelope {envelope, expires_at}`: the local deposit path.
pub async fn replicate_envelope(
    State(st): State<AppState>,
    PeerJson { peer, req }: PeerJson<ReplicateEnvelopeRequest>,
) -> Result<ApiJson<ReplicateEnvelopeResponse>, ApiError> {
    let origin = Origin::Peer {
        peer: &peer,
        expires_at: req.expires_at,
    };
    let d = st.services().deposit(req.envelope, origin).await?;
    Ok(ApiJson(ReplicateEnvelopeResponse {
        ok: true,
        msg_id: d.msg_id,
        duplicate: d.duplicate,
        expires_at: d.expires_at,
    }))
}

/// `POST /api/mesh/dm/replicate-ack {msg_ids, recipient_id, owner_ack}`.
pub async fn replicate_ack(
    State(st): State<AppState>,
    PeerJson { peer, req }: PeerJson<ReplicateAckRequest>,
) -> Result<ApiJson<ReplicateAckResponse>, ApiError> {
    let removed = st.services().ingest_ack(req, &peer).await?;
    Ok(ApiJson(ReplicateAckResponse { ok: true, removed }))
}

/// `POST /api/mesh/dm/peer-pull {after, limit}`: this relay's DM feed after `after`.
pub async fn dm_pull(
    State(st): State<AppState>,
    PeerJson { peer, req }: PeerJson<PeerPullRequest>,
) -> Result<ApiJson<PeerPullResponse>, ApiError> {
    let page = st.services().dm_feed_page(req.after, req.limit).await?;
    tracing::debug!(peer = %peer, after = req.after, served = page.items.len(), more = page.more, "DM peer pull");
    Ok(ApiJson(page))
}

/// `POST /api/mesh/gate/peer-push {record} | {message}`: 200 accepted / duplicate, 202 parked.
pub async fn gate_push(
    State(st): State<AppState>,
    PeerJson { peer, req }: PeerJson<gate_api::PeerPushRequest>,
) -> Result<Response, ApiError> {
    let resp = st.services().gate_peer_item(&peer, req).await?;
    let status = if resp.outcome == PeerPushOutcome::Parked {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(resp)).into_response())
}

/// `POST /api/mesh/gate/peer-pull {after, limit}`: this relay's gate feed after `after`.
pub async fn gate_pull(
    State(st): State<AppState>,
    PeerJson { peer, req }: PeerJson<gate_api::PeerPullRequest>,
) -> Result<Response, ApiError> {
    let (json, items) = st.services().gate_feed_page(req.after, req.limit).await?;
    tracing::debug!(peer = %peer, after = req.after, items, "gate feed pulled");
    Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response())
}

/// `GET /api/mesh/infonet/sync-status`.
pub async fn sync_status(State(st): State<AppState>) -> ApiJson<SyncStatusResponse> {
    ApiJson(st.sync_status().response())
}

/// `GET /api/mesh/dm/pull-status`: per peer, the cursor and counters (no message data).
pub async fn dm_pull_status(State(st): State<AppState>) -> ApiJson<PullStatusResponse> {
    ApiJson(st.dm_pull_status().response())
}
