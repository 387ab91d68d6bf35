//! Same-origin HTTP client for the relay's DM spool API. Only sealed envelopes and signed
//! requests leave the browser; plaintext and secret keys never do.
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

/// Health endpoint.
pub const PATH_HEALTH: &str = "/api/health";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayError {
    /// The request never got an answer from the relay (network down, relay stopped, gateway
    /// error in front of it).
    Unreachable(String),
    /// The relay answered with an error body.
    Api {
        status: u16,
        code: String,
        detail: String,
    },
    /// The relay answered with something we could not understand.
    BadResponse(String),
}

impl RelayError {
    pub fn is_unreachable(&self) -> bool {
        matches!(self, RelayError::Unreachable(_))
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            RelayError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

impl std::fmt::Display for RelayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RelayError::Unreachable(e) => write!(f, "relay unreachable ({e})"),
            RelayError::Api {
                status,
                code,
                detail,
            } => write!(f, "relay refused ({status} {code}): {detail}"),
            RelayError::BadResponse(e) => write!(f, "unexpected relay response: {e}"),
        }
    }
}

/// Current time in milliseconds (browser clock).
pub fn now_millis() -> u64 {
    js_sys::Date::now() as u64
}

/// Current time in whole seconds (browser clock).
pub fn now_secs() -> u64 {
    (js_sys::Date::now() / 1000.0) as u64
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
    let auth = auth::sign_request(
        id,
        Action::DmRegister,
        dh.as_bytes(),
        now_secs(),
        &mut OsRng,
    );
    let body = RegisterRequest {
        auth,
        dh_pub_key: b64::encode_std(dh.as_bytes()),
    };
    post(PATH_REGISTER, &body).await
}

/// Deposit a sealed envelope.
pub async fn send(envelope: DmEnvelope) -> Result<SendResponse, RelayError> {
    post(PATH_SEND, &SendRequest { envelope }).await
}

/// Non-destructive listing of our mailbox.
pub async fn poll(id: &Identity, limit: u32) -> Result<PollResponse, RelayError> {
    let limit = limit.min(api::dm::MAX_POLL_LIMIT);
    let auth = auth::sign_request(
        id,
        Action::DmPoll,
        &api::dm::poll_params(limit),
        now_secs(),
        &mut OsRng,
    );
    post(PATH_POLL, &PollRequest { auth, limit }).await
}

/// Remove messages we have stored locally from our mailbox (chunked to the relay's maximum).
pub async fn ack(id: &Identity, msg_ids: &[String]) -> Result<u64, RelayError> {
    let mut removed = 0;
    for chunk in msg_ids.chunks(api::dm::MAX_ACK_IDS) {
        let ids = chunk.to_vec();
        let auth = auth::sign_request(
            id,
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
