//! Same-origin HTTP client for the relay's DM spool and gate APIs (gloo-net). Only sealed envelopes and signed
//! requests (bound to this origin) leave the browser; plaintext and secret keys never do.
use gloo_net::http::{Request, Response};
use postern_core::api::dm::{
    AckRequest, AckResponse, PollRequest, PollResponse, RegisterRequest, RegisterResponse,
    SendRequest, SendResponse, PATH_ACK, PATH_POLL, PATH_REGISTER, PATH_SEND,
};
use postern_core::api::ErrorBody;
use postern_core::auth::{self, Action};
use postern_core::dm::DmEnvelope;
use postern_core::{api, b64, Identity};
use rand_core::OsRng;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use crate::model::delivery::RelayError;

use super::clock::now_secs;

/// Health endpoint.
pub const PATH_HEALTH: &str = "/api/health";

/// The origin the app was loaded from (the relay it talks to): signed requests name it, so
/// the relay refuses them if another relay replays them (`auth::sign_request_for`). Read from
/// the global `location`, so it works in a window and in a worker.
fn origin() -> String {
    let global = js_sys::global();
    js_sys::Reflect::get(&global, &"location".into())
        .and_then(|loc| js_sys::Reflect::get(&loc, &"origin".into()))
        .ok()
        .and_then(|o| o.as_string())
        .unwrap_or_default()
}

async fn decode<T: DeserializeOwned>(resp: Response) -> Result<T, RelayError> {
    let status = resp.status();
    if resp.ok() {
        return resp
            .json::<T>()
            .await
            .map_err(|e| RelayError::BadResponse(e.to_string()));
    }
    // Gateways in front of a stopped relay answer 502/503/504 without our error body.
    let text = resp.text().await.unwrap_or_default();
    match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => Err(RelayError::Api {
            status,
            code: body.code,
            detail: body.detail,
        }),
        Err(_) if matches!(status, 502..=504) => {
            Err(RelayError::Unreachable(format!("HTTP {status}")))
        }
        Err(_) => Err(RelayError::Api {
            status,
            code: format!("http_{status}"),
            detail: text.chars().take(200).collect(),
        }),
    }
}

async fn post<B: Serialize, T: DeserializeOwned>(path: &str, body: &B) -> Result<T, RelayError> {
    let req = Request::post(path)
        .json(body)
        .map_err(|e| RelayError::BadResponse(e.to_string()))?;
    let resp = req
        .send()
        .await
        .map_err(|e| RelayError::Unreachable(e.to_string()))?;
    decode(resp).await
}

/// `GET /api/health`.
pub async fn health() -> Result<(), RelayError> {
    let resp = Request::get(PATH_HEALTH)
        .send()
        .await
        .map_err(|e| RelayError::Unreachable(e.to_string()))?;
    if resp.ok() {
        Ok(())
    } else {
        decode::<serde_json::Value>(resp).await.map(|_| ())
    }
}

/// Publish our X25519 key (idempotent on the relay).
pub async fn register(id: &Identity) -> Result<RegisterResponse, RelayError> {
    let dh = id.dh_public();
    let auth = auth::sign_request_for(
        id,
        &origin(),
        Action::DmRegister,
        dh.as_bytes(),
        now_secs(),
        &mut OsRng,
    );
    let body = RegisterRequest {
        auth,
        dh_pub_key: b64::encode_std(dh.as_bytes()),
        // The relay checks it and serves it from `pubkey` (identity v2).
        binding: id.public().binding().map(|b| b64::encode_std(b)),
    };
    post(PATH_REGISTER, &body).await
}

/// Replace my contact list on the relay (the sender_refs my contacts deposit under, sorted);
/// answers how many the relay now lists.
pub async fn register_contacts(id: &Identity, sender_refs: Vec<String>) -> Result<u64, RelayError> {
    use postern_core::api::dm::{ContactsRequest, ContactsResponse, PATH_CONTACTS};
    let auth = auth::sign_request_for(
        id,
        &origin(),
        Action::DmContacts,
        &auth::contacts_params(&sender_refs),
        now_secs(),
        &mut OsRng,
    );
    let r: ContactsResponse = post(PATH_CONTACTS, &ContactsRequest { auth, sender_refs }).await?;
    Ok(r.count)
}

/// Deposit a sealed envelope.
pub async fn send(envelope: DmEnvelope) -> Result<SendResponse, RelayError> {
    post(PATH_SEND, &SendRequest { envelope }).await
}

/// Non-destructive listing of our mailbox.
pub async fn poll(id: &Identity, limit: u32) -> Result<PollResponse, RelayError> {
    let limit = limit.min(api::dm::MAX_POLL_LIMIT);
    let auth = auth::sign_request_for(
        id,
        &origin(),
        Action::DmPoll,
        &api::dm::poll_params(limit),
        now_secs(),
        &mut OsRng,
    );
    post(PATH_POLL, &PollRequest { auth, limit }).await
}

/// Delivery state of some of our sent messages (unsigned: the msg_ids are the capability).
pub async fn dm_status(
    query: &api::dm::StatusRequest,
) -> Result<api::dm::StatusResponse, RelayError> {
    post(api::dm::PATH_DM_STATUS, query).await
}

/// Remove messages we have stored locally from our mailbox (chunked to the relay's maximum).
pub async fn ack(id: &Identity, msg_ids: &[String]) -> Result<u64, RelayError> {
    let mut removed = 0;
    for chunk in msg_ids.chunks(api::dm::MAX_ACK_IDS) {
        let ids = chunk.to_vec();
        let auth = auth::sign_request_for(
            id,
            &origin(),
            Action::DmAck,
            &auth::ack_params(&ids),
            now_secs(),
            &mut OsRng,
        );
        let resp: AckResponse = post(PATH_ACK, &AckRequest { auth, msg_ids: ids }).await?;
        removed += resp.removed;
    }
    Ok(removed)
}

/// Answer of `POST /api/infonet/append` as the outbox needs it (the stored event is read
/// from the synced chain, not from here).
#[derive(serde::Deserialize)]
struct AppendAck {
    ok: bool,
    #[serde(default)]
    detail: Option<String>,
}

/// Append an author-signed public event (`body`: the request in core's exact JSON,
/// `AppendRequest::to_json`). A retry of a statement already on the chain is answered as a
/// duplicate with the stored event, never stored twice: both are `Ok`.
pub async fn infonet_append(body: &str) -> Result<(), RelayError> {
    let req = Request::post(api::infonet::PATH_APPEND)
        .header("content-type", "application/json")
        .body(body.to_string())
        .map_err(|e| RelayError::BadResponse(e.to_string()))?;
    let resp = req
        .send()
        .await
        .map_err(|e| RelayError::Unreachable(e.to_string()))?;
    let ack: AppendAck = decode(resp).await?;
    if ack.ok {
        Ok(())
    } else {
        Err(RelayError::BadResponse(ack.detail.unwrap_or_default()))
    }
}

/// Publish a signed epoch record (genesis or the next epoch).
pub async fn gate_publish_epoch(
    record: postern_core::gate::EpochRecord,
) -> Result<postern_core::api::gate::EpochResponse, RelayError> {
    use postern_core::api::gate::{EpochRequest, PATH_EPOCH};
    post(PATH_EPOCH, &EpochRequest { record }).await
}

/// Deposit a sealed gate message.
pub async fn gate_post_message(
    msg: &postern_core::gate::GateMessage,
) -> Result<postern_core::api::gate::MessageResponse, RelayError> {
    use postern_core::api::gate::{MessageRequest, PATH_MESSAGE};
    let req = MessageRequest::new(msg).map_err(|e| RelayError::BadResponse(e.to_string()))?;
    post(PATH_MESSAGE, &req).await
}

/// Signed read of every epoch record of a gate (genesis first), page by page (each page a
/// signed request for the records after the last one received, see docs/protocol.md).
pub async fn gate_epochs(
    id: &Identity,
    gate: &str,
) -> Result<postern_core::api::gate::EpochsResponse, RelayError> {
    use postern_core::api::gate::{epochs_page_params, EpochsRequest, PATH_EPOCHS};
    let mut after: Option<u64> = None;
    let mut all: Option<postern_core::api::gate::EpochsResponse> = None;
    loop {
        let auth = auth::sign_request_for(
            id,
            &origin(),
            Action::GateRead,
            &epochs_page_params(gate, after, None),
            now_secs(),
            &mut OsRng,
        );
        let page: postern_core::api::gate::EpochsResponse = post(
            PATH_EPOCHS,
            &EpochsRequest {
                auth,
                gate: gate.to_string(),
                after,
                limit: None,
            },
        )
        .await?;
        let last = page.records.last().map(|r| r.epoch);
        let more = page.more;
        match all.as_mut() {
            None => all = Some(page),
            Some(acc) => {
                acc.records.extend(page.records);
                acc.head = page.head;
                acc.more = page.more;
            }
        }
        // Stop when the relay says it is done, or does not advance (never loop forever).
        match last {
            Some(l) if more && Some(l) != after => after = Some(l),
            _ => break,
        }
    }
    all.ok_or(RelayError::BadResponse("empty epochs answer".into()))
}

/// Signed read of gate messages after cursor `after`.
pub async fn gate_messages(
    id: &Identity,
    gate: &str,
    after: u64,
    limit: u32,
) -> Result<postern_core::api::gate::MessagesResponse, RelayError> {
    use postern_core::api::gate::{messages_params, MessagesRequest, PATH_MESSAGES};
    let after = (after > 0).then_some(after);
    let auth = auth::sign_request_for(
        id,
        &origin(),
        Action::GateRead,
        &messages_params(gate, after, limit),
        now_secs(),
        &mut OsRng,
    );
    post(
        PATH_MESSAGES,
        &MessagesRequest {
            auth,
            gate: gate.to_string(),
            after,
            limit,
        },
    )
    .await
}

/// Signed listing of the gates whose rosters (any epoch) hold me, page by page.
pub async fn gate_mine(id: &Identity) -> Result<postern_core::api::gate::MineResponse, RelayError> {
    use postern_core::api::gate::{mine_page_params, MineRequest, PATH_MINE};
    let mut after: Option<String> = None;
    let mut all: Option<postern_core::api::gate::MineResponse> = None;
    loop {
        let auth = auth::sign_request_for(
            id,
            &origin(),
            Action::GateList,
            &mine_page_params(after.as_deref(), None),
            now_secs(),
            &mut OsRng,
        );
        let page: postern_core::api::gate::MineResponse = post(
            PATH_MINE,
            &MineRequest {
                auth,
                after: after.clone(),
                limit: None,
            },
        )
        .await?;
        let next = page.next_after.clone();
        match all.as_mut() {
            None => all = Some(page),
            Some(acc) => acc.gates.extend(page.gates),
        }
        match next {
            Some(n) if Some(&n) != after.as_ref() => after = Some(n),
            _ => break,
        }
    }
    let mut all = all.ok_or(RelayError::BadResponse("empty gate list".into()))?;
    all.next_after = None;
    Ok(all)
}
