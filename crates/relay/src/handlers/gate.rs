//! Private gate handlers (`/api/mesh/gate/*` for clients): publish an epoch record, deposit a
//! message, signed reads of epochs and messages, and the signed list of the caller's gates.
use axum::extract::State;
use postern_core::api::gate::page_limit;
use postern_core::api::gate::{
    epochs_page_params, messages_params, mine_page_params, EpochRequest, EpochResponse,
    EpochsRequest, EpochsResponse, MessageRequest, MessageResponse, MessagesRequest,
    MessagesResponse, MineRequest, MineResponse,
};
use postern_core::auth::{Action, RequestAuth};
use postern_core::gate::{MAX_EPOCHS_PAGE, MAX_GATES_PAGE};

use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, Signed, SignedRequest};
use crate::http::state::AppState;
use crate::service::gate::{check_gate_id, check_messages_limit, check_page_limit};

impl SignedRequest for EpochsRequest {
    const ACTION: Action = Action::GateRead;
    fn auth(&self) -> &RequestAuth {
        &self.auth
    }
    fn signed_params(&self) -> Result<Vec<u8>, ApiError> {
        check_gate_id(&self.gate)?;
        check_page_limit(self.limit, MAX_EPOCHS_PAGE)?;
        Ok(epochs_page_params(&self.gate, self.after, self.limit))
    }
}

impl SignedRequest for MessagesRequest {
    const ACTION: Action = Action::GateRead;
    fn auth(&self) -> &RequestAuth {
        &self.auth
    }
    fn signed_params(&self) -> Result<Vec<u8>, ApiError> {
        check_gate_id(&self.gate)?;
        check_messages_limit(self.limit)?;
        Ok(messages_params(&self.gate, self.after, self.limit))
    }
}

impl SignedRequest for MineRequest {
    const ACTION: Action = Action::GateList;
    fn auth(&self) -> &RequestAuth {
        &self.auth
    }
    fn signed_params(&self) -> Result<Vec<u8>, ApiError> {
        check_page_limit(self.limit, MAX_GATES_PAGE)?;
        if let Some(after) = &self.after {
            check_gate_id(after)?;
        }
        Ok(mine_page_params(self.after.as_deref(), self.limit))
    }
}

/// `POST /api/mesh/gate/epoch` (unsigned: the record is signed by its rotator).
pub async fn publish_epoch(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<EpochRequest>,
) -> Result<ApiJson<EpochResponse>, ApiError> {
    let a = st.services().publish_epoch(req.record).await?;
    Ok(ApiJson(EpochResponse {
        ok: true,
        gate: a.gate,
        epoch: a.epoch,
        hash: a.hash,
        genesis_hash: a.genesis_hash,
    }))
}

/// `POST /api/mesh/gate/message` (unsigned: the author is inside the ciphertext).
pub async fn deposit_message(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<MessageRequest>,
) -> Result<ApiJson<MessageResponse>, ApiError> {
    let (seq, duplicate) = st.services().deposit_gate_message(&req.message).await?;
    Ok(ApiJson(MessageResponse {
        ok: true,
        seq,
        duplicate,
    }))
}

/// `POST /api/mesh/gate/epochs`: one page of the records after epoch `after`.
pub async fn read_epochs(
    State(st): State<AppState>,
    Signed { req, now }: Signed<EpochsRequest>,
) -> Result<ApiJson<EpochsResponse>, ApiError> {
    let limit = page_limit(req.limit, MAX_EPOCHS_PAGE);
    let page = st
        .services()
        .read_epochs(
            &req.auth,
            req.gate.clone(),
            req.after.unwrap_or(0),
            limit,
            now,
        )
        .await?;
    Ok(ApiJson(EpochsResponse {
        ok: true,
        gate: req.gate,
        records: page.records,
        more: page.more,
        head: page.head,
    }))
}

/// `POST /api/mesh/gate/messages`.
pub async fn read_messages(
    State(st): State<AppState>,
    Signed { req, now }: Signed<MessagesRequest>,
) -> Result<ApiJson<MessagesResponse>, ApiError> {
    let after = req.after.unwrap_or(0);
    let messages = st
        .services()
        .read_messages(&req.auth, req.gate, after, req.limit, now)
        .await?;
    let next_after = messages.last().map_or(after, |m| m.seq);
    Ok(ApiJson(MessagesResponse {
        ok: true,
        messages,
        next_after,
    }))
}

/// `POST /api/mesh/gate/mine`: one page (by gate id, after `after`) of the gates whose roster,
/// in any epoch, holds the signed requester.
pub async fn list_mine(
    State(st): State<AppState>,
    Signed { req, now }: Signed<MineRequest>,
) -> Result<ApiJson<MineResponse>, ApiError> {
    let limit = page_limit(req.limit, MAX_GATES_PAGE);
    let (gates, next_after) = st
        .services()
        .gates_of(&req.auth, req.after.clone(), limit, now)
        .await?;
    Ok(ApiJson(MineResponse {
        ok: true,
        gates,
        next_after,
    }))
}
