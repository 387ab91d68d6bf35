//! Signed tree head endpoints: the newest head, consistency proofs between signed sizes, and
//! what this relay checked of its peers' heads (behind `--public-status`).
use axum::extract::State;
use postern_core::api::heads::{
    ConsistencyQuery, ConsistencyResponse, HeadsStatusResponse, TreeHeadResponse,
};

use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::state::AppState;

/// `GET /api/mesh/infonet/tree-head`: the newest signed head (`null` before the first).
pub async fn tree_head(State(st): State<AppState>) -> Result<ApiJson<TreeHeadResponse>, ApiError> {
    let r = st
        .services()
        .chain()
        .run("tree_head", |c| c.tree_head_response())
        .await?;
    Ok(ApiJson(r))
}

/// `GET /api/mesh/infonet/consistency?first=N&second=M`: the RFC 9162 proof between two sizes
/// (`second` at most the newest signed size).
pub async fn consistency(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> Result<ApiJson<ConsistencyResponse>, ApiError> {
    let r = st
        .services()
        .chain()
        .run("consistency", move |c| {
            c.consistency_proof(q.first, q.second)
        })
        .await?;
    r.map(ApiJson)
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

/// `GET /api/mesh/infonet/heads/status`: this relay's newest head and, per peer, the pinned
/// head, whether it was consistent, whether it matches our chain, the evidence kinds, the
/// equivocations seen and the forks met with its events since start.
pub async fn heads_status(
    State(st): State<AppState>,
) -> Result<ApiJson<HeadsStatusResponse>, ApiError> {
    let r = st
        .services()
        .chain()
        .run("heads_status", |c| {
            let own = c.latest_tree_head()?.map(|h| h.to_wire());
            let peers = c.peer_head_statuses()?;
            Ok(HeadsStatusResponse { own, peers })
        })
        .await?;
    Ok(ApiJson(r))
}
