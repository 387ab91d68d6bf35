//! HTTP surface of the relay: the DM spool endpoints, the Infonet chain (see [`crate::infonet`]),
//! health, `/metrics`, and the static UI. Per-client rate limits guard every `/api` route.
//!
//! Every failure is a JSON [`ErrorBody`] with a 4xx status (500 `internal` only for genuine
//! storage failures). Logs carry method, path, status and timing, never bodies.
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::extract::{
    ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, MatchedPath, Request, State,
};
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use postern_core::api::dm::{
    poll_params, AckRequest, AckResponse, MsgStatus, PollRequest, PollResponse, PubkeyQuery,
    PubkeyResponse, RegisterRequest, RegisterResponse, SendRequest, SendResponse, StatusRequest,
    StatusResponse, MAX_ACK_IDS, MAX_POLL_LIMIT, PATH_ACK, PATH_DM_STATUS, PATH_POLL, PATH_PUBKEY,
    PATH_REGISTER, PATH_SEND,
};
use postern_core::api::gate as gate_api;
use postern_core::api::{codes, ErrorBody, MAX_BODY_BYTES};
use postern_core::auth::{self, Action, RequestAuth};
use postern_core::b64;
use postern_core::caps::SpoolLimits;
use postern_core::identity::{is_valid_node_id, parse_dh_key};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tower::ServiceExt;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::services::{ServeDir, ServeFile};

use postern_core::api::infonet::{
    PATH_APPEND, PATH_LOCATOR, PATH_MERKLE, PATH_PRIVATE_STATUS, PATH_STATUS, PATH_SYNC,
};

use crate::chain::Chain;
use crate::metrics::Metrics;
use crate::ratelimit::{retry_after_secs, RateLimiter};
use crate::store::{Deposit, NonceUse, Replayed, Store, StoreError};

/// Path of the Prometheus metrics.
pub const PATH_METRICS: &str = "/metrics";
/// Default write requests per minute per client (append, DM send/register).
pub const DEFAULT_WRITE_RATE_PER_MIN: u32 = 60;
/// Default read requests per minute per client (every other `/api` route).
pub const DEFAULT_READ_RATE_PER_MIN: u32 = 1200;

use postern_core::api::HealthResponse;
pub use postern_core::api::PATH_HEALTH;

/// Seconds since the Unix epoch; the only place the relay reads the clock.
pub fn system_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[derive(Clone)]
pub struct AppState {
    store: Arc<Mutex<Store>>,
    /// The Infonet chain, on a database connection of its own.
    chain: Arc<Mutex<Chain>>,
    limits: SpoolLimits,
    web: PathBuf,
    clock: fn() -> u64,
    request_timeout: std::time::Duration,
    write_limit: Arc<RateLimiter>,
    read_limit: Arc<RateLimiter>,
    metrics: Arc<Metrics>,
    peers: Arc<crate::peer::Peers>,
    /// Pull-sync state per peer (memory only).
    sync_status: Arc<crate::sync::SyncStatus>,
    /// DM pull state per peer (cursors are persisted; this is the memory view).
    dm_pull_status: Arc<crate::dm_pull::PullStatus>,
}

impl AppState {
    pub fn new(
        store: Store,
        chain: Chain,
        limits: SpoolLimits,
        web: PathBuf,
        clock: fn() -> u64,
    ) -> Self {
        AppState {
            store: Arc::new(Mutex::new(store)),
            chain: Arc::new(Mutex::new(chain)),
            limits,
            web,
            clock,
            request_timeout: std::time::Duration::from_secs(DEFAULT_REQUEST_TIMEOUT_SECS),
            write_limit: Arc::new(RateLimiter::new(DEFAULT_WRITE_RATE_PER_MIN)),
            read_limit: Arc::new(RateLimiter::new(DEFAULT_READ_RATE_PER_MIN)),
            metrics: Arc::new(Metrics::default()),
            peers: Arc::new(crate::peer::Peers::default()),
            sync_status: Arc::new(crate::sync::SyncStatus::default()),
            dm_pull_status: Arc::new(crate::dm_pull::PullStatus::default()),
        }
    }

    /// Configure peer relays (inbound keys; outbound workers when `public_url` is set). Must
    /// be called inside the tokio runtime.
    pub fn with_peers(mut self, public_url: Option<&str>, specs: &[crate::peer::PeerSpec]) -> Self {
        let env = crate::peer::WorkerEnv {
            store: Arc::clone(&self.store),
            clock: self.clock,
            metrics: Arc::clone(&self.metrics),
        };
        let (peers, outbox) = crate::peer::Peers::start(public_url, specs, &env);
        self.store
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .set_outbox(outbox.clone());
        self.chain
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .set_outbox(outbox);
        self.peers = Arc::new(peers);
        self
    }

    pub(crate) fn sync_status(&self) -> &crate::sync::SyncStatus {
        &self.sync_status
    }

    pub(crate) fn dm_pull_status(&self) -> &crate::dm_pull::PullStatus {
        &self.dm_pull_status
    }

    pub(crate) fn peers(&self) -> &crate::peer::Peers {
        &self.peers
    }

    pub(crate) fn limits(&self) -> SpoolLimits {
        self.limits
    }

    /// Per-client requests per minute on write and read routes (0 disables).
    pub fn with_rate_limits(mut self, write_per_min: u32, read_per_min: u32) -> Self {
        self.write_limit = Arc::new(RateLimiter::new(write_per_min));
        self.read_limit = Arc::new(RateLimiter::new(read_per_min));
        self
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub(crate) fn storage_error(&self, op: &'static str, e: StoreError) -> ApiError {
        tracing::error!(op, error = %e, "storage error");
        ApiError::internal()
    }

    /// Run an operation on the chain on the blocking pool.
    pub(crate) async fn with_chain<T, F>(&self, op: &'static str, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Chain) -> Result<T, StoreError> + Send + 'static,
    {
        let chain = Arc::clone(&self.chain);
        let joined = tokio::task::spawn_blocking(move || {
            let mut guard = chain.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await;
        match joined {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.storage_error(op, e)),
            Err(e) => {
                tracing::error!(op, error = %e, "chain task failed");
                Err(ApiError::internal())
            }
        }
    }

    /// Change the per-request timeout.
    pub fn with_request_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    pub(crate) fn now(&self) -> u64 {
        (self.clock)()
    }

    /// Run a storage operation on the blocking pool.
    pub(crate) async fn with_store<T, F>(&self, op: &'static str, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = Arc::clone(&self.store);
        let joined = tokio::task::spawn_blocking(move || {
            // A panic while holding the lock would poison it; the connection itself stays
            // consistent (an unfinished transaction rolls back on drop), so keep going.
            let mut guard = store.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await;
        match joined {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                tracing::error!(op, error = %e, "storage error");
                Err(ApiError::internal())
            }
            Err(e) => {
                tracing::error!(op, error = %e, "storage task failed");
                Err(ApiError::internal())
            }
        }
    }
}

/// An error answered as `{ok:false, code, detail}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ErrorBody::new(code, detail),
        }
    }

    pub(crate) fn code(&self) -> &str {
        &self.body.code
    }

    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, detail)
    }

    fn unauthorized(e: auth::AuthError) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED, e.to_string())
    }

    pub(crate) fn replayed() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            codes::REPLAYED_NONCE,
            "this request nonce was already used; sign a fresh request",
        )
    }

    fn recipient_unknown() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            codes::RECIPIENT_UNKNOWN,
            "no DH key is registered for this node id on this relay",
        )
    }

    fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, "no such endpoint")
    }

    fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL,
            "internal storage error",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

/// Map a status from an extractor rejection to a stable code.
fn rejection(status: StatusCode, detail: String) -> ApiError {
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => codes::PAYLOAD_TOO_LARGE,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => codes::UNSUPPORTED_MEDIA_TYPE,
        _ => codes::BAD_REQUEST,
    };
    // Anything else an extractor can produce is the client's fault: keep it a 4xx.
    let status = if status.is_client_error() {
        status
    } else {
        StatusCode::BAD_REQUEST
    };
    let detail = if status == StatusCode::PAYLOAD_TOO_LARGE {
        format!("request body exceeds {MAX_BODY_BYTES} bytes")
    } else {
        detail
    };
    ApiError::new(status, code, detail)
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        rejection(r.status(), r.body_text())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> Self {
        rejection(r.status(), r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        rejection(r.status(), r.body_text())
    }
}

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

/// JSON body of a signed request. A JSON object without an `auth` member is answered
/// 401 `unauthorized` (the request is not signed), any other shape problem 422 `bad_request`.
pub struct SignedJson<T>(pub T);

impl<S, T> FromRequest<S> for SignedJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
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
        serde_json::from_value(value).map(SignedJson).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                codes::BAD_REQUEST,
                format!("request body does not match the expected shape: {e}"),
            )
        })
    }
}

/// Verify a signed request (everything but nonce freshness) and describe its nonce.
pub(crate) fn authenticate(
    auth: &RequestAuth,
    action: Action,
    params: &[u8],
    now: u64,
) -> Result<(), ApiError> {
    auth::verify_request(auth, action, params, now).map_err(ApiError::unauthorized)
}

pub(crate) fn nonce_of(auth: &RequestAuth) -> (String, String, u64) {
    (
        auth.node_id.clone(),
        auth.nonce.clone(),
        auth::nonce_retention_until(auth),
    )
}

pub(crate) fn nonce_use<'a>(n: &'a (String, String, u64)) -> NonceUse<'a> {
    NonceUse {
        node_id: &n.0,
        nonce: &n.1,
        expires_at: n.2,
    }
}

async fn health() -> ApiJson<HealthResponse> {
    ApiJson(HealthResponse {
        ok: true,
        version: env!("CARGO_PKG_VERSION").to_string(),
    })
}

async fn register(
    State(st): State<AppState>,
    SignedJson(req): SignedJson<RegisterRequest>,
) -> Result<ApiJson<RegisterResponse>, ApiError> {
    let now = st.now();
    let dh = b64::decode_std_array::<32>(&req.dh_pub_key)
        .map_err(|_| ApiError::bad_request("dh_pub_key must be 32 bytes of standard base64"))?;
    authenticate(&req.auth, Action::DmRegister, &dh, now)?;
    parse_dh_key(dh).map_err(|e| ApiError::bad_request(e.to_string()))?;
    // verify_request decoded the same key; re-decode only to store the canonical encoding.
    let pk = b64::decode_std(&req.auth.public_key)
        .map_err(|_| ApiError::bad_request("public_key is not base64"))?;
    let public_key = b64::encode_std(&pk);
    let dh_pub_key = b64::encode_std(&dh);
    let n = nonce_of(&req.auth);
    let node_id = n.0.clone();
    let outcome = st
        .with_store("register", move |s| {
            s.register(nonce_use(&n), &public_key, &dh_pub_key, now)
        })
        .await?;
    outcome.map_err(|Replayed| ApiError::replayed())?;
    tracing::info!(node = %short(&node_id), "node registered");
    Ok(ApiJson(RegisterResponse { ok: true, node_id }))
}

async fn pubkey(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<PubkeyQuery>,
) -> Result<ApiJson<PubkeyResponse>, ApiError> {
    if !is_valid_node_id(&q.node_id) {
        return Err(ApiError::bad_request(
            "node_id must be !sb_ followed by 32 lower-case hex characters",
        ));
    }
    let node_id = q.node_id;
    let rec = st.with_store("pubkey", move |s| s.node(&node_id)).await?;
    let rec = rec.ok_or_else(ApiError::recipient_unknown)?;
    Ok(ApiJson(PubkeyResponse {
        ok: true,
        node_id: rec.node_id,
        public_key: rec.public_key,
        dh_pub_key: rec.dh_pub_key,
        registered_at: rec.registered_at,
    }))
}

async fn send(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<SendRequest>,
) -> Result<ApiJson<SendResponse>, ApiError> {
    let now = st.now();
    req.envelope
        .validate()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let limits = st.limits;
    let env = req.envelope;
    let msg_id = env.msg_id.clone();
    let outcome = st
        .with_store("send", move |s| s.deposit(&env, &limits, now))
        .await?;
    match outcome {
        Deposit::Stored { expires_at } => {
            // Queued for the peers by the store, in the deposit's transaction.
            tracing::info!("message spooled");
            Ok(ApiJson(SendResponse {
                ok: true,
                msg_id,
                duplicate: false,
                expires_at,
            }))
        }
        Deposit::Duplicate { expires_at } => Ok(ApiJson(SendResponse {
            ok: true,
            msg_id,
            duplicate: true,
            expires_at,
        })),
        Deposit::RecipientUnknown => Err(ApiError::recipient_unknown()),
        Deposit::Refused(cap) => {
            tracing::info!(code = cap.code(), "deposit refused by cap");
            Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                cap.code(),
                cap.to_string(),
            ))
        }
    }
}

async fn poll(
    State(st): State<AppState>,
    SignedJson(req): SignedJson<PollRequest>,
) -> Result<ApiJson<PollResponse>, ApiError> {
    let now = st.now();
    if !(1..=MAX_POLL_LIMIT).contains(&req.limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be 1..={MAX_POLL_LIMIT}"
        )));
    }
    authenticate(&req.auth, Action::DmPoll, &poll_params(req.limit), now)?;
    let n = nonce_of(&req.auth);
    let limit = req.limit;
    let outcome = st
        .with_store("poll", move |s| s.poll(nonce_use(&n), limit, now))
        .await?;
    let (messages, total) = outcome.map_err(|Replayed| ApiError::replayed())?;
    Ok(ApiJson(PollResponse {
        ok: true,
        messages,
        total,
    }))
}

async fn ack(
    State(st): State<AppState>,
    SignedJson(req): SignedJson<AckRequest>,
) -> Result<ApiJson<AckResponse>, ApiError> {
    let now = st.now();
    if req.msg_ids.len() > MAX_ACK_IDS {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_ACK_IDS} msg_ids per ack"
        )));
    }
    authenticate(
        &req.auth,
        Action::DmAck,
        &auth::ack_params(&req.msg_ids),
        now,
    )?;
    let n = nonce_of(&req.auth);
    let ids = req.msg_ids;
    // The caller's own signed ack is what peers verify before they remove anything.
    let proof = req.auth;
    let ttl = st.limits.ttl_secs;
    // The store tombstones the ids and queues the ack for every peer (even ids not present
    // here: the message may live only on a peer), in the ack's transaction.
    let outcome = st
        .with_store("ack", move |s| s.ack(nonce_use(&n), &ids, &proof, ttl, now))
        .await?;
    let removed = outcome.map_err(|Replayed| ApiError::replayed())?;
    Ok(ApiJson(AckResponse { ok: true, removed }))
}

/// Unsigned read: knowing a (random, 128-bit) msg_id is the capability; see docs/protocol.md.
async fn dm_status(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<StatusRequest>,
) -> Result<ApiJson<StatusResponse>, ApiError> {
    let now = st.now();
    req.validate()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let StatusRequest {
        recipient_id,
        msg_ids,
    } = req;
    let states = st
        .with_store("dm_status", move |s| {
            let states = s.delivery_states(&recipient_id, &msg_ids, now)?;
            Ok(msg_ids
                .into_iter()
                .zip(states)
                .map(|(msg_id, state)| MsgStatus { msg_id, state })
                .collect())
        })
        .await?;
    Ok(ApiJson(StatusResponse {
        ok: true,
        statuses: states,
    }))
}

const UI_NOT_BUILT: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Postern relay</title></head><body><h1>Postern relay</h1>\
<p>The relay is running, but the web UI is not built. Run <code>make build</code> \
(or point <code>--web</code> / <code>POSTERN_WEB</code> at the built UI directory).</p>\
</body></html>\n";

fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Unknown routes: JSON 404 under `/api`, otherwise the static UI with `index.html` fallback.
async fn fallback(State(st): State<AppState>, req: Request) -> Response {
    if is_api_path(req.uri().path()) {
        return ApiError::not_found().into_response();
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            codes::METHOD_NOT_ALLOWED,
            "method not allowed",
        )
        .into_response();
    }
    let index = st.web.join("index.html");
    let built = tokio::fs::metadata(&index)
        .await
        .map(|m| m.is_file())
        .unwrap_or(false);
    if !built {
        return Html(UI_NOT_BUILT).into_response();
    }
    let cache = cache_control_for(req.uri().path());
    let svc = ServeDir::new(&st.web).fallback(ServeFile::new(index));
    let mut resp = match svc.oneshot(req).await {
        Ok(resp) => resp.map(Body::new),
        Err(never) => match never {},
    };
    if resp.status().is_success() {
        resp.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static(cache),
        );
    }
    resp
}

/// Cache policy for the static UI. Files whose name carries Trunk's content hash
/// (`name-<16 hex>.ext` / `name-<16 hex>_bg.wasm`) never change: cache them for good. Everything
/// else — `index.html`, `sw.js`, `precache-manifest.json`, the manifest, icons, the SPA fallback —
/// must be revalidated on every load, so a new build is always picked up.
pub fn cache_control_for(path: &str) -> &'static str {
    if is_content_hashed(path.rsplit('/').next().unwrap_or("")) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    }
}

fn is_content_hashed(name: &str) -> bool {
    name.match_indices('-').any(|(i, _)| {
        let rest = &name[i + 1..];
        rest.len() > 16
            && rest.as_bytes()[..16].iter().all(|b| b.is_ascii_hexdigit())
            && matches!(rest.as_bytes()[16], b'.' | b'_')
    })
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::METHOD_NOT_ALLOWED,
        "method not allowed on this path",
    )
}

/// Default longest time a request (including reading its body) may take.
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 30;

/// Answer 408 (JSON) when a request takes longer than the configured timeout, e.g. a client
/// that trickles its body.
async fn deadline(State(st): State<AppState>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(st.request_timeout, next.run(req)).await {
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
async fn rate_limit(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let Some(bucket) = bucket_of(req.method(), req.uri().path()) else {
        return next.run(req).await;
    };
    let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<std::net::SocketAddr>>()
    else {
        return next.run(req).await;
    };
    let limiter = if bucket == "write" {
        &st.write_limit
    } else {
        &st.read_limit
    };
    match limiter.check(peer.ip(), Instant::now()) {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            st.metrics.rate_limited(bucket);
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
async fn count_requests(State(st): State<AppState>, req: Request, next: Next) -> Response {
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
    st.metrics.request(&route, resp.status().as_u16());
    resp
}

/// Request log: method, path (no query), status, duration. Never bodies or headers.
async fn log_requests(req: Request, next: Next) -> Response {
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

fn short(node_id: &str) -> &str {
    node_id.get(..12).unwrap_or(node_id)
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        codes::INTERNAL,
        "internal error",
    )
    .into_response()
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(PATH_HEALTH, get(health))
        .route(PATH_REGISTER, post(register))
        .route(PATH_PUBKEY, get(pubkey))
        .route(PATH_SEND, post(send))
        .route(PATH_POLL, post(poll))
        .route(PATH_ACK, post(ack))
        .route(PATH_DM_STATUS, post(dm_status))
        .route(PATH_STATUS, get(crate::infonet::status))
        .route(PATH_MERKLE, get(crate::infonet::merkle))
        .route(PATH_LOCATOR, get(crate::infonet::locator))
        .route(
            PATH_SYNC,
            get(crate::infonet::sync_get).post(crate::infonet::sync_post),
        )
        .route(PATH_APPEND, post(crate::infonet::append))
        .route(PATH_PRIVATE_STATUS, get(crate::infonet::private_status))
        .route(crate::sync::PATH_SYNC_STATUS, get(crate::sync::sync_status))
        .route(
            postern_core::api::peer::PATH_PEER_PUSH,
            post(crate::peer::peer_push).layer(DefaultBodyLimit::max(
                postern_core::api::peer::MAX_PEER_PUSH_BODY_BYTES,
            )),
        )
        .route(
            postern_core::api::peer::PATH_REPLICATE_ENVELOPE,
            post(crate::peer::replicate_envelope),
        )
        .route(
            postern_core::api::peer::PATH_REPLICATE_ACK,
            post(crate::peer::replicate_ack),
        )
        .route(
            postern_core::api::peer::PATH_DM_PEER_PULL,
            post(crate::dm_pull::peer_pull),
        )
        .route(
            crate::dm_pull::PATH_DM_PULL_STATUS,
            get(crate::dm_pull::pull_status),
        )
        .route(gate_api::PATH_EPOCH, post(crate::gate::publish_epoch))
        .route(gate_api::PATH_MESSAGE, post(crate::gate::deposit_message))
        .route(gate_api::PATH_EPOCHS, post(crate::gate::read_epochs))
        .route(gate_api::PATH_MESSAGES, post(crate::gate::read_messages))
        .route(
            gate_api::PATH_PEER_PUSH,
            post(crate::gate_peer::peer_push)
                .layer(DefaultBodyLimit::max(gate_api::MAX_PEER_PUSH_BODY_BYTES)),
        )
        .route(gate_api::PATH_PEER_PULL, post(crate::gate_peer::peer_pull))
        .route(gate_api::PATH_MINE, post(crate::gate::list_mine))
        .route(PATH_METRICS, get(crate::infonet::metrics))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(state.clone(), deadline))
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .layer(middleware::from_fn(log_requests))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .layer(axum::middleware::map_response(no_sniff))
        .with_state(state)
}

async fn no_sniff(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    resp
}

#[cfg(test)]
mod cache_tests {
    use super::cache_control_for;

    #[test]
    fn hashed_assets_are_immutable_and_the_shell_revalidates() {
        for hashed in [
            "/postern-app-8a3f40826008bfc1_bg.wasm",
            "/postern-app-8a3f40826008bfc1.js",
            "/styles-0123456789abcdef.css",
        ] {
            assert!(cache_control_for(hashed).contains("immutable"), "{hashed}");
        }
        for shell in [
            "/",
            "/index.html",
            "/sw.js",
            "/precache-manifest.json",
            "/manifest.webmanifest",
            "/icon-192.png",
            "/some/route",
            "/x-0123.js",
            "/a-0123456789abcdefg.js",
        ] {
            assert_eq!(cache_control_for(shell), "no-cache", "{shell}");
        }
    }
}
