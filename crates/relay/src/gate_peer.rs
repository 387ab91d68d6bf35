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
//!
//! **Pull.** Every stored item also gets a position in `gate_feed` (existing data backfilled by
//! the migration). With `--public-url` set, one task per peer POSTs `/api/mesh/gate/peer-pull
//! {after, limit}` (same HMAC auth) every `--sync-interval-secs` and ingests the returned
//! items exactly like pushes; the cursor (`gate_pull_cursor`) is persisted after each page, so
//! a relay that joined late, or lost a peer's outbox rows, catches up. Failures back off with
//! core's `failure_backoff_seconds` (honouring a 429's `Retry-After`).
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use postern_core::api::gate::{
    codes as gcodes, peer_codes, PeerPullRequest, PeerPullResponse, PeerPushOutcome,
    PeerPushRequest, PeerPushResponse, PATH_PEER_PULL, PEER_PULL_MAX_LIMIT,
};
use postern_core::gate::GateError;
use postern_core::peer::{peer_key, sign_body, HEADER_PEER_HMAC, HEADER_PEER_URL, PEER_KEY_BYTES};
use postern_core::sync::{failure_backoff_seconds, DEFAULT_FAILURE_BACKOFF_S};
use zeroize::Zeroizing;

use crate::server::{ApiError, AppState};
use crate::store::PeerGateOutcome;

fn refusal(e: GateError) -> ApiError {
    match e {
        GateError::ForkedEpoch { .. } => {
            ApiError::new(StatusCode::CONFLICT, gcodes::FORKED_EPOCH, e.to_string())
        }
        _ => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            gcodes::INVALID_EPOCH,
            e.to_string(),
        ),
    }
}

/// Largest peer-pull response body this relay builds (at least one item is always sent).
const PULL_MAX_BYTES: usize = 4 * 1024 * 1024;
/// Largest peer-pull response read.
const PULL_MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;
/// Pages per pull round at most (the next round resumes from the persisted cursor).
const PULL_MAX_PAGES: usize = 100;
const PULL_TIMEOUT: Duration = Duration::from_secs(30);

/// Run one pushed or pulled item through the client checks and store it. `Err` is retryable
/// (storage failure, parking full); `Ok(Err)` is a final refusal of the item.
async fn ingest(
    st: &AppState,
    peer: &str,
    req: PeerPushRequest,
) -> Result<Result<(StatusCode, PeerPushResponse), ApiError>, ApiError> {
    let now = st.now();
    let (gate, outcome) = match (req.record, req.message) {
        (Some(record), None) => {
            let gate = record.gate.clone();
            let from = peer.to_string();
            let out = st
                .with_store("gate_peer_epoch", move |s| {
                    s.gate_peer_epoch(&record, now, &from)
                })
                .await?;
            (gate, out)
        }
        (None, Some(message)) => {
            let (msg, stored) = match crate::gate::validate_message(&message) {
                Ok(v) => v,
                Err(e) => return Ok(Err(e)),
            };
            let gate = msg.gate.clone();
            let (g, epoch, nonce, from) = (
                msg.gate.clone(),
                msg.epoch,
                msg.nonce.clone(),
                peer.to_string(),
            );
            let out = st
                .with_store("gate_peer_message", move |s| {
                    s.gate_peer_message(&g, epoch, &nonce, &stored, now, &from)
                })
                .await?;
            (gate, out)
        }
        _ => {
            return Ok(Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                peer_codes::ONE_ITEM,
                "expected exactly one of record or message",
            )))
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
            return Ok(Err(refusal(e)));
        }
    };
    tracing::info!(peer = %peer, epoch, outcome = ?outcome, "gate item from peer");
    Ok(Ok((
        status,
        PeerPushResponse {
            ok: true,
            outcome,
            gate,
            epoch,
        },
    )))
}

/// `POST /api/mesh/gate/peer-push {record} | {message}`.
pub(crate) async fn peer_push(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (peer, req): (String, PeerPushRequest) = crate::peer::authenticated(&st, &headers, body)?;
    let (status, resp) = ingest(&st, &peer, req).await??;
    Ok((status, axum::Json(resp)).into_response())
}

/// `POST /api/mesh/gate/peer-pull {after, limit}`: this relay's gate feed after `after`.
pub(crate) async fn peer_pull(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (peer, req): (String, PeerPullRequest) = crate::peer::authenticated(&st, &headers, body)?;
    if !(1..=PEER_PULL_MAX_LIMIT).contains(&req.limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be 1..={PEER_PULL_MAX_LIMIT}"
        )));
    }
    let (after, limit) = (req.after, req.limit);
    let page = st
        .with_store("gate_peer_pull", move |s| {
            s.gate_feed_page(after, limit, PULL_MAX_BYTES)
        })
        .await?;
    let next_after = page.last().map_or(after, |(seq, _)| *seq);
    tracing::debug!(peer = %peer, after, items = page.len(), "gate feed pulled");
    // The exact stored JSON, spliced.
    let items: Vec<String> = page.into_iter().map(|(_, b)| b).collect();
    let json = format!(
        "{{\"ok\":true,\"items\":[{}],\"next_after\":{next_after}}}",
        items.join(",")
    );
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        json,
    )
        .into_response())
}

/// Start one gate pull task per peer (inside the runtime). Needs `public_url`: the pull is
/// authenticated as this relay.
pub fn start_pull(
    st: &AppState,
    public_url: Option<&str>,
    specs: &[crate::peer::PeerSpec],
    interval_s: u64,
) {
    let Some(own) = public_url else { return };
    for spec in specs {
        let key = Zeroizing::new(peer_key(&spec.secret, own));
        tokio::spawn(pull_worker(
            st.clone(),
            spec.url.clone(),
            own.to_string(),
            key,
            interval_s.max(1),
        ));
    }
}

async fn pull_worker(
    st: AppState,
    peer: String,
    own: String,
    key: Zeroizing<[u8; PEER_KEY_BYTES]>,
    interval_s: u64,
) {
    let agent = crate::peer::outbound_agent(PULL_TIMEOUT);
    let base = interval_s.min(DEFAULT_FAILURE_BACKOFF_S);
    let cap = interval_s.saturating_mul(8).max(base);
    let mut failures = 0u64;
    loop {
        let wait = match pull_round(&st, &agent, &peer, &own, &key).await {
            Ok(n) => {
                if n > 0 {
                    tracing::info!(peer = %peer, items = n, "pulled gate items");
                }
                failures = 0;
                interval_s
            }
            Err((e, retry_after)) => {
                failures = failures.saturating_add(1);
                tracing::debug!(peer = %peer, error = %e, failures, "gate pull failed");
                failure_backoff_seconds(base, failures, retry_after, cap)
            }
        };
        tokio::time::sleep(Duration::from_secs(wait)).await;
    }
}

fn fetch(
    agent: &ureq::Agent,
    url: &str,
    own: &str,
    mac: &str,
    body: &[u8],
    now: u64,
) -> Result<Vec<u8>, (String, u64)> {
    crate::peer::post_json(
        agent,
        url,
        &[(HEADER_PEER_URL, own), (HEADER_PEER_HMAC, mac)],
        body,
        PULL_MAX_RESPONSE_BYTES,
        now,
    )
}

/// Pull pages from `peer` until a short page; returns the items newly stored here.
async fn pull_round(
    st: &AppState,
    agent: &ureq::Agent,
    peer: &str,
    own: &str,
    key: &[u8; PEER_KEY_BYTES],
) -> Result<u64, (String, u64)> {
    let local = |_| ("local storage error".to_string(), 0);
    let p = peer.to_string();
    let mut after = st
        .with_store("gate_pull_cursor", move |s| s.gate_pull_cursor(&p))
        .await
        .map_err(local)?;
    let mut stored = 0u64;
    for _ in 0..PULL_MAX_PAGES {
        let body = serde_json::to_vec(&PeerPullRequest {
            after,
            limit: PEER_PULL_MAX_LIMIT,
        })
        .map_err(|e| (e.to_string(), 0))?;
        let mac = sign_body(key, &body);
        let (a, url, own_url, now) = (
            agent.clone(),
            format!("{peer}{PATH_PEER_PULL}"),
            own.to_string(),
            st.now(),
        );
        let bytes =
            tokio::task::spawn_blocking(move || fetch(&a, &url, &own_url, &mac, &body, now))
                .await
                .map_err(|e| (e.to_string(), 0))??;
        let page: PeerPullResponse = serde_json::from_slice(&bytes)
            .map_err(|e| (format!("gate pull response does not parse: {e}"), 0))?;
        let n = page.items.len();
        for item in page.items {
            match ingest(st, peer, item).await {
                Ok(Ok((_, r))) if r.outcome == PeerPushOutcome::Accepted => stored += 1,
                Ok(Ok(_)) => {}
                // A final refusal: this item will never be accepted from this peer; go on.
                Ok(Err(e)) => {
                    let status = e.into_response().status();
                    tracing::info!(peer = %peer, %status, "pulled gate item refused");
                }
                // Retryable: keep the cursor before this page.
                Err(e) => {
                    return Err((
                        format!(
                            "storing pulled gate items failed ({})",
                            e.into_response().status()
                        ),
                        0,
                    ))
                }
            }
        }
        if page.next_after > after {
            after = page.next_after;
            let (p, now) = (peer.to_string(), st.now());
            st.with_store("gate_pull_cursor_set", move |s| {
                s.set_gate_pull_cursor(&p, after, now)
            })
            .await
            .map_err(local)?;
        }
        if n < PEER_PULL_MAX_LIMIT as usize || n == 0 {
            break;
        }
    }
    Ok(stored)
}
