//! Private gate handlers (`/api/mesh/gate/*` for clients): publish an epoch record, deposit a
//! message, signed reads of epochs and messages, and the signed list of the caller's gates.
use axum::extract::State;
use postern_core::api::gate::{
    epochs_params, messages_params, mine_params, EpochRequest, EpochResponse, EpochsRequest,
    EpochsResponse, MessageRequest, MessageResponse, MessagesRequest, MessagesResponse,
    MineRequest, MineResponse,
};
use postern_core::auth::{Action, RequestAuth};

use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, Signed, SignedRequest};
use crate::http::state::AppState;
use crate::service::gate::{check_gate_id, check_messages_limit};

impl SignedRequest for EpochsRequest {
    const ACTION: Action = Action::GateRead;
    fn auth(&self) -> &RequestAuth {
        &self.auth
    }
    fn signed_params(&self) -> Result<Vec<u8>, ApiError> {
        check_gate_id(&self.gate)?;
        Ok(epochs_params(&self.gate))
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
        Ok(mine_params())
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

/// `POST /api/mesh/gate/epochs`.
pub async fn read_epochs(
    State(st): State<AppState>,
    Signed { req, now }: Signed<EpochsRequest>,
) -> Result<ApiJson<EpochsResponse>, ApiError> {
    let records = st
        .services()
        .read_epochs(&req.auth, req.gate.clone(), now)
        .await?;
    let head = records.last().map_or(0, |r| r.epoch);
    Ok(ApiJson(EpochsResponse {
        ok: true,
        gate: req.gate,
        records,
        more: false,
        head,
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

/// `POST /api/mesh/gate/mine`: the gates whose roster, in any epoch, holds the signed requester.
pub async fn list_mine(
    State(st): State<AppState>,
    Signed { req, now }: Signed<MineRequest>,
) -> Result<ApiJson<MineResponse>, ApiError> {
    let gates = st.services().gates_of(&req.auth, now).await?;
    Ok(ApiJson(MineResponse {
        ok: true,
        gates,
        next_after: None,
    }))
}
