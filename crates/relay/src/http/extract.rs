//! Request extractors: JSON and query bodies whose rejections are JSON errors, signed client
//! requests ([`Signed`]: shape, pre-checks, then `auth::verify_request_for` with this relay's
//! origin, so a request signed for another relay is refused), and peer requests
//! authenticated by peer auth ([`PeerJson`], [`PeerBytes`]; `super::peer_auth`).
//!
//! A peer names its own public URL in `X-Peer-Url`; we look the (normalised) URL up among the
//! configured peers and check its MAC (v2: method, path, timestamp, nonce and body, then the
//! replay cache; v1 body HMAC only for Shadowbroker peers on their endpoint). The body size is
//! checked first (413), then the MAC (403 `peer_unauthorized`, 401 `peer_stale`, 403
//! `peer_replayed`), and only then is the body parsed (422 on a wrong shape).
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use postern_core::api::codes;
use postern_core::auth::{self, Action, RequestAuth};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::ApiError;
use super::state::AppState;

/// `Json` whose rejections are JSON error bodies.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `Query` whose rejections are JSON error bodies.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// A signed client request body: the action it must be signed for, its `auth` block, and the
/// checks that come before the signature (each a 400) yielding the signed params.
pub trait SignedRequest: DeserializeOwned + Send {
    const ACTION: Action;
    fn auth(&self) -> &RequestAuth;
    /// Pre-checks (400 `bad_request`) and the exact params the signature covers.
    fn signed_params(&self) -> Result<Vec<u8>, ApiError>;
}

/// A verified signed request (everything but nonce freshness, which the store decides in the
/// operation's transaction) and the clock reading it was verified at.
pub struct Signed<T> {
    pub req: T,
    pub now: u64,
}

impl<T: SignedRequest> FromRequest<AppState> for Signed<T> {
    type Rejection = ApiError;

    /// A JSON object without an `auth` member is answered 401 `unauthorized` (the request is
    /// not signed), any other shape problem 422 `bad_request`.
    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let host = req
            .headers()
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned);
        let ApiJson(value) = ApiJson::<serde_json::Value>::from_request(req, state).await?;
        if let serde_json::Value::Object(map) = &value {
            if !map.contains_key("auth") {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    codes::UNAUTHORIZED,
                    "missing auth: this request must be signed",
                ));
            }
        }
        let req: T = serde_json::from_value(value).map_err(ApiError::wrong_shape)?;
        let now = state.services().now();
        let params = req.signed_params()?;
        let origin = own_origin(state, host.as_deref(), req.auth().origin.as_deref());
        auth::verify_request_for(req.auth(), &origin, T::ACTION, &params, now)?;
        Ok(Signed { req, now })
    }
}

/// The origin a signed request must name here: the configured public URL, else the `Host` the
/// request came in at, under whichever scheme the request claims (http or https; TLS may end
/// at a proxy). Empty (never matches) when there is neither.
fn own_origin(state: &AppState, host: Option<&str>, claimed: Option<&str>) -> String {
    if let Some(o) = state.origin() {
        return o.to_string();
    }
    let Some(host) = host else {
        return String::new();
    };
    let candidates = ["http", "https"]
        .map(|scheme| auth::normalize_origin(&format!("{scheme}://{host}")).unwrap_or_default());
    candidates
        .iter()
        .find(|c| !c.is_empty() && Some(c.as_str()) == claimed)
        .unwrap_or(&candidates[0])
        .clone()
}

/// A peer request's exact body, after the size check and the peer's HMAC over it.
pub struct PeerBytes {
    pub peer: String,
    pub body: Bytes,
}

impl FromRequest<AppState> for PeerBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let body = Bytes::from_request(req, state).await?;
        let now = state.services().now();
        let peer = state
            .peer_keys()
            .authenticate(&method, &path, &headers, &body, now)?;
        Ok(PeerBytes { peer, body })
    }
}

/// A peer request with a typed JSON body: 403 before anything is parsed, then 422 on a wrong
/// shape.
pub struct PeerJson<T> {
    pub peer: String,
    pub req: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for PeerJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let PeerBytes { peer, body } = PeerBytes::from_request(req, state).await?;
        let req = serde_json::from_slice(&body).map_err(ApiError::wrong_shape)?;
        Ok(PeerJson { peer, req })
    }
}
