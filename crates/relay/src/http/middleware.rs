//! Middleware of every request: the request deadline, per-client rate limits, request counting,
//! the request log, panic answers, the status gate and the security headers (CSP, framing,
//! `nosniff`, referrer).
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use postern_core::api::codes;
use postern_core::api::dm::{PATH_REGISTER, PATH_SEND};
use postern_core::api::gate as gate_api;
use postern_core::api::infonet::PATH_APPEND;
use postern_core::api::PATH_HEALTH;

use super::error::ApiError;
use super::state::AppState;
use crate::ratelimit::retry_after_secs;

/// Is `path` under `/api` (JSON answers, rate limits)?
pub(super) fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Answer 408 (JSON) when a request takes longer than the configured timeout, e.g. a client
/// that trickles its body.
pub(super) async fn deadline(State(st): State<AppState>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(st.request_timeout(), next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            codes::REQUEST_TIMEOUT,
            "request timed out",
        )
        .into_response(),
    }
}

/// Which rate limit a request falls under: `None` for health, metrics and the static UI.
fn bucket_of(method: &Method, path: &str) -> Option<&'static str> {
    if !is_api_path(path) || path == PATH_HEALTH {
        return None;
    }
    let write = method == Method::POST
        && matches!(
            path,
            PATH_APPEND | PATH_SEND | PATH_REGISTER | gate_api::PATH_EPOCH | gate_api::PATH_MESSAGE
        );
    Some(if write { "write" } else { "read" })
}

/// Per-client (peer IP) token buckets: 429 `rate_limited` with `Retry-After` when empty.
/// Requests without a peer address (in-process tests) are not limited.
pub(super) async fn rate_limit(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let Some(bucket) = bucket_of(req.method(), req.uri().path()) else {
        return next.run(req).await;
    };
    let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<std::net::SocketAddr>>()
    else {
        return next.run(req).await;
    };
    let limiter = st.limiter(bucket);
    match limiter.check(peer.ip(), Instant::now()) {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            st.metrics().rate_limited(bucket);
            let secs = retry_after_secs(wait);
            let mut resp = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                codes::RATE_LIMITED,
                format!(
                    "too many {bucket} requests from this client (limit {} per minute); retry after {secs} s",
                    limiter.per_min()
                ),
            )
            .into_response();
            resp.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
            resp
        }
    }
}

/// Count every answered request by matched route and status class.
pub(super) async fn count_requests(
    State(st): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| {
            if is_api_path(req.uri().path()) {
                "unmatched_api"
            } else {
                "static"
            }
            .to_owned()
        });
    let resp = next.run(req).await;
    st.metrics().request(&route, resp.status().as_u16());
    resp
}

/// Request log: method, path (no query), status, duration. Never bodies or headers.
pub(super) async fn log_requests(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    let ms = started.elapsed().as_millis() as u64;
    if resp.status().is_server_error() {
        tracing::warn!(%method, path = %truncate(&path), status, ms, "request");
    } else {
        tracing::info!(%method, path = %truncate(&path), status, ms, "request");
    }
    resp
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(80) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

pub(super) fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        codes::INTERNAL,
        "internal error",
    )
    .into_response()
}

/// `/metrics` and the replication status name this relay's peers: 404 unless the relay runs
/// with `--public-status`.
pub(super) async fn status_gate(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if st.public_status() {
        next.run(req).await
    } else {
        ApiError::not_found().into_response()
    }
}

/// The Content-Security-Policy of every answer: scripts and wasm from the relay only (Trunk's
/// loader is a file, not inline), no framing.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; frame-ancestors 'none'";

/// Security headers on every answer: CSP, anti-framing, `nosniff`, no referrer, no opener.
pub(super) async fn security_headers(mut resp: Response) -> Response {
    use header::HeaderValue;
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    resp
}
