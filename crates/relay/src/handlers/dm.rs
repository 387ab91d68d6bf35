//! DM spool handlers (`/api/mesh/dm/*` for clients): register, pubkey, contacts, send, poll,
//! ack, status.
use axum::extract::State;
use postern_core::api::dm::{
    poll_params, AckRequest, AckResponse, ContactsRequest, ContactsResponse, PollRequest,
    PollResponse, PubkeyQuery, PubkeyResponse, RegisterRequest, RegisterResponse, SendRequest,
    SendResponse, StatusRequest, StatusResponse, MAX_ACK_IDS, MAX_POLL_LIMIT,
};
use postern_core::auth::{self, Action, RequestAuth};
use postern_core::b64;
use postern_core::caps::validate_contact_list;

use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery, Signed, SignedRequest};
use crate::http::state::AppState;
use crate::service::dm::Origin;

fn dh_key(req: &RegisterRequest) -> Result<[u8; 32], ApiError> {
    b64::decode_std_array::<32>(&req.dh_pub_key)
        .map_err(|_| ApiError::bad_request("dh_pub_key must be 32 bytes of standard base64"))
}

impl SignedRequest for RegisterRequest {
    const ACTION: Action = Action::DmRegister;
    fn auth(&self) -> &RequestAuth {
        &self.auth
    }
    /// The raw DH key.
    fn signed_params(&self) -> Result<Vec<u8>, ApiError> {
        Ok(dh_key(self)?.to_vec())
    }
}

impl SignedRequest for PollRequest {
    const ACTION: Action = Action::DmPoll;
    fn auth(&self) -> &RequestAuth {
        &self.auth
    }
    fn signed_params(&self) -> Result<Vec<u8>, ApiError> {
        if !(1..=MAX_POLL_LIMIT).contains(&self.limit) {
            return Err(ApiError::bad_request(format!(
                "limit must be 1..={MAX_POLL_LIMIT}"
            )));
        }
        Ok(poll_params(self.limit))
    }
}

impl SignedRequest for ContactsRequest {
    const ACTION: Action = Action::DmContacts;
    fn auth(&self) -> &RequestAuth {
        &self.auth
    }
    /// The sorted sender_refs (`caps::validate_contact_list`).
    fn signed_params(&self) -> Result<Vec<u8>, ApiError> {
        validate_contact_list(&self.sender_refs)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        Ok(auth::contacts_params(&self.sender_refs))
    }
}

impl SignedRequest for AckRequest {
    const ACTION: Action = Action::DmAck;
    fn auth(&self) -> &RequestAuth {
        &self.auth
    }
    fn signed_params(&self) -> Result<Vec<u8>, ApiError> {
        if self.msg_ids.len() > MAX_ACK_IDS {
            return Err(ApiError::bad_request(format!(
                "at most {MAX_ACK_IDS} msg_ids per ack"
            )));
        }
        Ok(auth::ack_params(&self.msg_ids))
    }
}

/// `POST /api/mesh/dm/register`.
pub async fn register(
    State(st): State<AppState>,
    Signed { req, now }: Signed<RegisterRequest>,
) -> Result<ApiJson<RegisterResponse>, ApiError> {
    let node_id = st.services().register(&req, now).await?;
    Ok(ApiJson(RegisterResponse { ok: true, node_id }))
}

/// `GET /api/mesh/dm/pubkey?node_id=`.
pub async fn pubkey(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<PubkeyQuery>,
) -> Result<ApiJson<PubkeyResponse>, ApiError> {
    let rec = st.services().pubkey(q.node_id).await?;
    Ok(ApiJson(PubkeyResponse {
        ok: true,
        node_id: rec.node_id,
        public_key: rec.public_key,
        dh_pub_key: rec.dh_pub_key,
        registered_at: None,
        binding: rec.binding,
    }))
}

/// `POST /api/mesh/dm/contacts`: replace the caller's contact list (the sender_refs whose
/// deposits count against the contacts' budget of its mailbox).
pub async fn contacts(
    State(st): State<AppState>,
    Signed { req, now }: Signed<ContactsRequest>,
) -> Result<ApiJson<ContactsResponse>, ApiError> {
    let count = st
        .services()
        .set_contacts(&req.auth, req.sender_refs, now)
        .await?;
    Ok(ApiJson(ContactsResponse { ok: true, count }))
}

/// `POST /api/mesh/dm/send` (unsigned: the sender is inside the ciphertext).
pub async fn send(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<SendRequest>,
) -> Result<ApiJson<SendResponse>, ApiError> {
    let d = st.services().deposit(req.envelope, Origin::Local).await?;
    Ok(ApiJson(SendResponse {
        ok: true,
        msg_id: d.msg_id,
        duplicate: d.duplicate,
        expires_at: d.expires_at,
    }))
}

/// `POST /api/mesh/dm/poll`.
pub async fn poll(
    State(st): State<AppState>,
    Signed { req, now }: Signed<PollRequest>,
) -> Result<ApiJson<PollResponse>, ApiError> {
    let (messages, total) = st.services().poll(&req.auth, req.limit, now).await?;
    Ok(ApiJson(PollResponse {
        ok: true,
        messages,
        total,
    }))
}

/// `POST /api/mesh/dm/ack`.
pub async fn ack(
    State(st): State<AppState>,
    Signed { req, now }: Signed<AckRequest>,
) -> Result<ApiJson<AckResponse>, ApiError> {
    let removed = st.services().ack(&req.auth, req.msg_ids, now).await?;
    Ok(ApiJson(AckResponse { ok: true, removed }))
}

/// `POST /api/mesh/dm/status`. Unsigned read: knowing a (random, 128-bit) msg_id is the
/// capability; see docs/protocol.md.
pub async fn status(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<StatusRequest>,
) -> Result<ApiJson<StatusResponse>, ApiError> {
    let statuses = st.services().delivery_status(req).await?;
    Ok(ApiJson(StatusResponse { ok: true, statuses }))
}
