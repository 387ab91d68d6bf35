//! HTTP surface of the relay: the one route table, the state, errors, extractors, middleware
//! and the static UI. Every failure is a JSON `ErrorBody` with a 4xx status (500 `internal` only
//! for genuine storage failures). Logs carry method, path, status and timing, never bodies.
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state, map_response};
use axum::routing::{get, post};
use axum::Router;
use postern_core::api::dm::{
    PATH_ACK, PATH_CONTACTS, PATH_DM_STATUS, PATH_POLL, PATH_PUBKEY, PATH_REGISTER, PATH_SEND,
};
use postern_core::api::gate as gate_api;
use postern_core::api::heads as heads_api;
use postern_core::api::infonet::{
    PATH_APPEND, PATH_LOCATOR, PATH_MERKLE, PATH_PRIVATE_STATUS, PATH_STATUS, PATH_SYNC,
};
use postern_core::api::peer as peer_api;
use postern_core::api::MAX_BODY_BYTES;
pub use postern_core::api::PATH_HEALTH;
use tower_http::catch_panic::CatchPanicLayer;

use crate::handlers::{dm, gate, heads, infonet, peer};

pub mod error;
pub mod extract;
pub mod listen;
mod middleware;
pub mod peer_auth;
pub mod state;
pub mod static_files;

pub use error::ApiError;
pub use state::{
    AppState, DEFAULT_READ_RATE_PER_MIN, DEFAULT_REQUEST_TIMEOUT_SECS, DEFAULT_WRITE_RATE_PER_MIN,
};

/// Path of the Prometheus metrics.
pub const PATH_METRICS: &str = "/metrics";
/// Relay path of the per-peer chain pull-sync state.
pub const PATH_SYNC_STATUS: &str = "/api/mesh/infonet/sync-status";
/// Relay path of the per-peer DM pull state.
pub const PATH_DM_PULL_STATUS: &str = "/api/mesh/dm/pull-status";

/// The whole application: every route of the relay.
pub fn router(state: AppState) -> Router {
    use self::middleware as mw;
    Router::new()
        .route(PATH_HEALTH, get(crate::handlers::health))
        // DM spool (clients).
        .route(PATH_REGISTER, post(dm::register))
        .route(PATH_PUBKEY, get(dm::pubkey))
        .route(PATH_CONTACTS, post(dm::contacts))
        .route(PATH_SEND, post(dm::send))
        .route(PATH_POLL, post(dm::poll))
        .route(PATH_ACK, post(dm::ack))
        .route(PATH_DM_STATUS, post(dm::status))
        // Infonet chain.
        .route(PATH_STATUS, get(infonet::status))
        .route(PATH_MERKLE, get(infonet::merkle))
        .route(PATH_LOCATOR, get(infonet::locator))
        .route(PATH_SYNC, get(infonet::sync_get).post(infonet::sync_post))
        .route(PATH_APPEND, post(infonet::append))
        .route(PATH_PRIVATE_STATUS, get(infonet::private_status))
        .route(heads_api::PATH_TREE_HEAD, get(heads::tree_head))
        .route(heads_api::PATH_CONSISTENCY, get(heads::consistency))
        .route(
            heads_api::PATH_HEADS_STATUS,
            get(heads::heads_status).layer(from_fn_with_state(state.clone(), mw::status_gate)),
        )
        .route(
            PATH_METRICS,
            get(infonet::metrics).layer(from_fn_with_state(state.clone(), mw::status_gate)),
        )
        // Private gates (clients).
        .route(gate_api::PATH_EPOCH, post(gate::publish_epoch))
        .route(gate_api::PATH_MESSAGE, post(gate::deposit_message))
        .route(gate_api::PATH_EPOCHS, post(gate::read_epochs))
        .route(gate_api::PATH_MESSAGES, post(gate::read_messages))
        .route(gate_api::PATH_MINE, post(gate::list_mine))
        // Relay to relay (HMAC-authenticated) and replication status.
        .route(
            peer_api::PATH_PEER_PUSH,
            post(peer::chain_push).layer(DefaultBodyLimit::max(peer_api::MAX_PEER_PUSH_BODY_BYTES)),
        )
        .route(
            peer_api::PATH_REPLICATE_ENVELOPE,
            post(peer::replicate_envelope),
        )
        .route(peer_api::PATH_REPLICATE_ACK, post(peer::replicate_ack))
        .route(peer_api::PATH_DM_PEER_PULL, post(peer::dm_pull))
        .route(
            gate_api::PATH_PEER_PUSH,
            post(peer::gate_push).layer(DefaultBodyLimit::max(gate_api::MAX_PEER_PUSH_BODY_BYTES)),
        )
        .route(gate_api::PATH_PEER_PULL, post(peer::gate_pull))
        .route(
            PATH_SYNC_STATUS,
            get(peer::sync_status).layer(from_fn_with_state(state.clone(), mw::status_gate)),
        )
        .route(
            PATH_DM_PULL_STATUS,
            get(peer::dm_pull_status).layer(from_fn_with_state(state.clone(), mw::status_gate)),
        )
        .method_not_allowed_fallback(static_files::method_not_allowed)
        .fallback(static_files::fallback)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(mw::panic_response))
        .layer(from_fn_with_state(state.clone(), mw::deadline))
        .layer(from_fn_with_state(state.clone(), mw::rate_limit))
        .layer(from_fn(mw::log_requests))
        .layer(from_fn_with_state(state.clone(), mw::count_requests))
        .layer(map_response(mw::security_headers))
        .with_state(state)
}
