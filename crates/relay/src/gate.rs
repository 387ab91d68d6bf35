//! Private gates (`/api/mesh/gate/*`): the relay side of `postern-gate/1`.
//!
//! Every rule is `postern-core`'s. An epoch record is accepted only if
//! `GateState::from_genesis` (unknown gate) or `GateState::apply` against the stored chain accepts
//! it; a message must pass `GateMessage::validate` and the `gate_message` schema
//! (`schema::validate_for_append`, private lane). The relay accepts messages only for epochs it
//! holds (epoch ≤ the gate's current epoch): a client that sees a message for a future epoch
//! buffers it locally, and an author publishes the epoch record before messages sealed under it.
//! Reads are signed (`gate.read`) by a node in the roster of at least one epoch of the gate, and
//! return only the messages of the epochs whose roster holds the requester.
//! A signed `gate.list` (`/api/mesh/gate/mine`) names the gates whose rosters, in any epoch,
//! hold the requester; core's `api::gate::mine_entry` re-verifies each chain and decides.
use axum::extract::State;
use axum::http::StatusCode;
use postern_core::api::gate::{
    codes as gcodes, epochs_params, messages_params, EpochRequest, EpochResponse, EpochsRequest,
    EpochsResponse, MessageRequest, MessageResponse, MessagesRequest, MessagesResponse,
    MAX_MESSAGES_LIMIT,
};
use postern_core::api::gate::{mine_entry, mine_params, MineRequest, MineResponse};
use postern_core::api::infonet::codes as icodes;
use postern_core::auth::Action;
use postern_core::gate::{is_valid_gate_id, GateError, GateMessage};
use postern_core::schema;

use crate::server::{authenticate, nonce_of, nonce_use, ApiError, ApiJson, AppState, SignedJson};
use crate::store::{EpochOutcome, GateDeposit, GateRead};

fn refusal(e: GateError) -> ApiError {
    match e {
        GateError::ReplayedEpoch { .. } => {
            ApiError::new(StatusCode::CONFLICT, gcodes::REPLAYED_EPOCH, e.to_string())
        }
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

fn not_a_member() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        gcodes::NOT_A_MEMBER,
        "the requester is in no roster of this gate",
    )
}

fn check_gate_id(gate: &str) -> Result<(), ApiError> {
    if is_valid_gate_id(gate) {
        Ok(())
    } else {
        Err(ApiError::bad_request(GateError::BadGateId.to_string()))
    }
}

/// `POST /api/mesh/gate/epoch`
pub async fn publish_epoch(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<EpochRequest>,
) -> Result<ApiJson<EpochResponse>, ApiError> {
    let now = st.now();
    let record = req.record;
    let gate = record.gate.clone();
    let outcome = st
        .with_store("gate_epoch", move |s| s.gate_add_epoch(&record, now))
        .await?;
    match outcome {
        EpochOutcome::Accepted {
            epoch,
            hash,
            genesis_hash,
        } => {
            tracing::info!(epoch, "gate epoch accepted");
            Ok(ApiJson(EpochResponse {
                ok: true,
                gate,
                epoch,
                hash,
                genesis_hash,
            }))
        }
        EpochOutcome::Refused(e) => {
            tracing::info!(error = %e, "gate epoch refused");
            Err(refusal(e))
        }
    }
}

/// `POST /api/mesh/gate/message`
pub async fn deposit_message(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<MessageRequest>,
) -> Result<ApiJson<MessageResponse>, ApiError> {
    let now = st.now();
    let (msg, stored) = validate_message(&req.message)?;
    let (gate, epoch, nonce) = (msg.gate.clone(), msg.epoch, msg.nonce.clone());
    let outcome = st
        .with_store("gate_message", move |s| {
            s.gate_deposit(&gate, epoch, &nonce, &stored, now)
        })
        .await?;
    match outcome {
        GateDeposit::Stored { seq } => Ok(ApiJson(MessageResponse { ok: true, seq, duplicate: false })),
        GateDeposit::Duplicate { seq } => Ok(ApiJson(MessageResponse { ok: true, seq, duplicate: true })),
        GateDeposit::UnknownGate => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            gcodes::UNKNOWN_GATE,
            "no epoch of this gate is known to this relay; publish the genesis record first",
        )),
        GateDeposit::UnknownEpoch { head } => Err(ApiError::new(
            StatusCode::CONFLICT,
            gcodes::UNKNOWN_EPOCH,
            format!("epoch {epoch} is not on this relay (current epoch {head}); publish its record first"),
        )),
    }
}

/// `POST /api/mesh/gate/epochs`
pub async fn read_epochs(
    State(st): State<AppState>,
    SignedJson(req): SignedJson<EpochsRequest>,
) -> Result<ApiJson<EpochsResponse>, ApiError> {
    let now = st.now();
    check_gate_id(&req.gate)?;
    authenticate(&req.auth, Action::GateRead, &epochs_params(&req.gate), now)?;
    let n = nonce_of(&req.auth);
    let gate = req.gate.clone();
    let outcome = st
        .with_store("gate_epochs", move |s| {
            s.gate_epochs(nonce_use(&n), &gate, now)
        })
        .await?;
    match outcome {
        GateRead::Ok(records) => Ok(ApiJson(EpochsResponse {
            ok: true,
            gate: req.gate,
            records,
        })),
        GateRead::Replayed => Err(ApiError::replayed()),
        GateRead::NotAMember => Err(not_a_member()),
    }
}

/// `POST /api/mesh/gate/messages`
pub async fn read_messages(
    State(st): State<AppState>,
    SignedJson(req): SignedJson<MessagesRequest>,
) -> Result<ApiJson<MessagesResponse>, ApiError> {
    let now = st.now();
    check_gate_id(&req.gate)?;
    if !(1..=MAX_MESSAGES_LIMIT).contains(&req.limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be 1..={MAX_MESSAGES_LIMIT}"
        )));
    }
    authenticate(
        &req.auth,
        Action::GateRead,
        &messages_params(&req.gate, req.after, req.limit),
        now,
    )?;
    let n = nonce_of(&req.auth);
    let gate = req.gate.clone();
    let after = req.after.unwrap_or(0);
    let limit = req.limit;
    let outcome = st
        .with_store("gate_messages", move |s| {
            s.gate_messages(nonce_use(&n), &gate, after, limit, now)
        })
        .await?;
    match outcome {
        GateRead::Ok(messages) => {
            let next_after = messages.last().map_or(after, |m| m.seq);
            Ok(ApiJson(MessagesResponse {
                ok: true,
                messages,
                next_after,
            }))
        }
        GateRead::Replayed => Err(ApiError::replayed()),
        GateRead::NotAMember => Err(not_a_member()),
    }
}

/// Every check a gate message gets, from a client or a peer relay: core's `gate_message`
/// schema (plaintext tripwires, sealed bytes, transport lock), then `GateMessage::validate`.
/// Returns the message and its typed re-encoding (exactly the validated fields), which is
/// what is stored and replicated.
pub(crate) fn validate_message(
    message: &postern_core::json::Value,
) -> Result<(GateMessage, String), ApiError> {
    let invalid =
        |d: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, gcodes::INVALID_MESSAGE, d);
    schema::validate_for_append("gate_message", message, true).map_err(|e| {
        let code = if matches!(e, schema::SchemaError::PayloadTooLarge) {
            icodes::PAYLOAD_TOO_LARGE
        } else {
            gcodes::INVALID_MESSAGE
        };
        let status = if code == icodes::PAYLOAD_TOO_LARGE {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        ApiError::new(status, code, e.to_string())
    })?;
    let json = serde_json::to_string(message).map_err(|e| invalid(e.to_string()))?;
    let msg = GateMessage::from_json(&json).map_err(|e| invalid(e.to_string()))?;
    msg.validate().map_err(|e| invalid(e.to_string()))?;
    let stored = msg.to_json().map_err(|e| invalid(e.to_string()))?;
    Ok((msg, stored))
}

/// `POST /api/mesh/gate/mine`: the gates whose roster, in any epoch, holds the signed requester.
/// The store's member index only proposes candidates; core's `mine_entry` re-verifies each
/// stored chain and decides.
pub async fn list_mine(
    State(st): State<AppState>,
    SignedJson(req): SignedJson<MineRequest>,
) -> Result<ApiJson<MineResponse>, ApiError> {
    let now = st.now();
    authenticate(&req.auth, Action::GateList, &mine_params(), now)?;
    let n = nonce_of(&req.auth);
    let chains = st
        .with_store("gate_mine", move |s| s.gate_chains_of(nonce_use(&n), now))
        .await?;
    let Some(chains) = chains else {
        return Err(ApiError::replayed());
    };
    let mut gates = Vec::with_capacity(chains.len());
    for chain in &chains {
        match mine_entry(chain, &req.auth.node_id) {
            Ok(Some(g)) => gates.push(g),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "stored gate chain does not verify; not listed"),
        }
    }
    Ok(ApiJson(MineResponse { ok: true, gates }))
}
