//! Relay-to-relay replication: peer configuration, the authenticated inbound endpoints
//! (`peer-push`, `replicate-envelope`, `replicate-ack`) and the outbound push workers.
//!
//! Authentication is `postern_core::peer`: the sender names its own public URL in
//! `X-Peer-Url`; we look the (normalised) URL up among the configured peers and check
//! `X-Peer-HMAC` over the exact raw body with `peer_key(secret, that URL)`. The body size is
//! checked first (413), then the HMAC (403 `peer_unauthorized`), and only then is it parsed.
//! Every rule on the content is core's: `ChainState::ingest` (freshness disabled),
//! `DmEnvelope::validate`, `caps::check_deposit`.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use postern_core::api::codes;
use postern_core::api::dm::MAX_ACK_IDS;
use postern_core::api::peer::{
    codes as pcodes, PeerPushRejection, PeerPushResponse, ReplicateAckRequest, ReplicateAckResponse,
    ReplicateEnvelopeRequest, ReplicateEnvelopeResponse, PATH_PEER_PUSH, PATH_REPLICATE_ACK,
    PATH_REPLICATE_ENVELOPE, PEER_PUSH_MAX_EVENTS,
};
use postern_core::dm::DmEnvelope;
use postern_core::identity::is_valid_node_id;
use postern_core::json::{self, Value};
use postern_core::peer::{
    normalize_peer_url, peer_key, sign_body, verify_body, HEADER_PEER_HMAC, HEADER_PEER_URL, PEER_KEY_BYTES,
};
use zeroize::Zeroizing;

use crate::chain::PushOutcome;
use crate::server::{ApiError, ApiJson, AppState};
use crate::store::Deposit;

/// Nesting allowed in a peer-push body.
const PUSH_MAX_DEPTH: usize = 40;
/// Attempts per outbound job (the first is immediate).
const MAX_ATTEMPTS: u64 = 6;
/// Backoff base and cap (seconds) between outbound attempts (`sync::failure_backoff_seconds`).
const BACKOFF_BASE_S: u64 = 1;
const BACKOFF_CAP_S: u64 = 30;
/// Queued outbound jobs per peer; beyond this a job is dropped and counted as `error`.
const QUEUE_DEPTH: usize = 1024;
/// Timeout of one outbound HTTP request.
const OUTBOUND_TIMEOUT: Duration = Duration::from_secs(10);

/// `--peer URL=SECRET`.
#[derive(Clone)]
pub struct PeerSpec {
    /// Normalised URL.
    pub url: String,
    pub secret: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for PeerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PeerSpec({} = <secret>)", self.url)
    }
}

/// clap parser of `URL=SECRET` (split at the first `=`; the URL is normalised).
pub fn parse_peer_spec(s: &str) -> Result<PeerSpec, String> {
    let (url, secret) = s
        .split_once('=')
        .ok_or_else(|| "expected URL=SECRET".to_string())?;
    let url = normalize_peer_url(url).map_err(|e| e.to_string())?;
    if secret.is_empty() {
        return Err("the peer secret must not be empty".into());
    }
    Ok(PeerSpec { url, secret: Zeroizing::new(secret.as_bytes().to_vec()) })
}

/// clap parser of `--public-url`.
pub fn parse_public_url(s: &str) -> Result<String, String> {
    normalize_peer_url(s).map_err(|e| e.to_string())
}

/// One outbound replication job.
#[derive(Debug, Clone)]
pub enum Job {
    Envelope { envelope: DmEnvelope, expires_at: u64 },
    Ack { recipient_id: String, msg_ids: Vec<String> },
    Events { events: Vec<String> },
}

impl Job {
    fn path_and_body(&self) -> (&'static str, Vec<u8>) {
        match self {
            Job::Envelope { envelope, expires_at } => {
                let req = ReplicateEnvelopeRequest { envelope: envelope.clone(), expires_at: *expires_at };
                (PATH_REPLICATE_ENVELOPE, serde_json::to_vec(&req).unwrap_or_default())
            }
            Job::Ack { recipient_id, msg_ids } => {
                let req = ReplicateAckRequest { msg_ids: msg_ids.clone(), recipient_id: recipient_id.clone() };
                (PATH_REPLICATE_ACK, serde_json::to_vec(&req).unwrap_or_default())
            }
            // Exact stored JSON of verified events, spliced (never re-encoded lossily).
            Job::Events { events } => (PATH_PEER_PUSH, format!("{{\"events\":[{}]}}", events.join(",")).into_bytes()),
        }
    }
}

/// Configured peers: inbound keys by peer URL, outbound queues.
#[derive(Default)]
pub struct Peers {
    inbound: HashMap<String, Zeroizing<[u8; PEER_KEY_BYTES]>>,
    /// (peer URL, queue) of every outbound worker.
    outbound: Vec<(String, tokio::sync::mpsc::Sender<Job>)>,
}

impl Peers {
    pub fn is_empty(&self) -> bool {
        self.inbound.is_empty()
    }

    /// Inbound keys for every peer; outbound workers too when `public_url` is known (they must
    /// be started inside the runtime). `metrics` counts the outbound results.
    pub fn start(public_url: Option<&str>, specs: &[PeerSpec], metrics: Arc<crate::metrics::Metrics>) -> Peers {
        let mut p = Peers::default();
        for spec in specs {
            p.inbound.insert(spec.url.clone(), Zeroizing::new(peer_key(&spec.secret, &spec.url)));
            let Some(own) = public_url else { continue };
            if spec.url.starts_with("https://") {
                tracing::warn!(peer = %spec.url, "outbound pushes speak plain HTTP only; an https peer needs a TLS-terminating proxy in front of a local http URL");
            }
            let key = Zeroizing::new(peer_key(&spec.secret, own));
            let (tx, rx) = tokio::sync::mpsc::channel(QUEUE_DEPTH);
            tokio::spawn(worker(spec.url.clone(), own.to_string(), key, rx, Arc::clone(&metrics)));
            p.outbound.push((spec.url.clone(), tx));
        }
        if public_url.is_none() && !specs.is_empty() {
            tracing::warn!("peers configured without --public-url: accepting pushes, not sending any");
        }
        p
    }

    /// Queue `job` for every peer; never blocks (a full queue drops the job, counted `error`).
    pub fn replicate(&self, job: Job, metrics: &crate::metrics::Metrics) {
        self.forward(job, None, metrics);
    }

    /// Queue `job` for every peer except `from` (the peer it came from, if any): onward
    /// forwarding through a partial mesh. Callers forward only what was new here (a stored
    /// replica, acked ids that were present), which keeps forwarding loop-free: a job that
    /// comes back is a duplicate / removes nothing, and stops.
    pub fn forward(&self, job: Job, from: Option<&str>, metrics: &crate::metrics::Metrics) {
        for (url, tx) in &self.outbound {
            if Some(url.as_str()) == from {
                continue;
            }
            if tx.try_send(job.clone()).is_err() {
                metrics.replication("error");
            }
        }
    }

    fn authenticate(&self, headers: &HeaderMap, body: &[u8]) -> Result<String, ApiError> {
        let deny = |detail: &str| ApiError::new(StatusCode::FORBIDDEN, pcodes::PEER_UNAUTHORIZED, detail);
        let url = headers
            .get(HEADER_PEER_URL)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| deny("missing X-Peer-Url"))?;
        let url = normalize_peer_url(url).map_err(|_| deny("X-Peer-Url is not a valid peer URL"))?;
        let key = self.inbound.get(&url).ok_or_else(|| deny("X-Peer-Url is not a configured peer"))?;
        let mac = headers
            .get(HEADER_PEER_HMAC)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| deny("missing X-Peer-HMAC"))?;
        verify_body(key, body, mac).map_err(|_| deny("X-Peer-HMAC does not match the body"))?;
        Ok(url)
    }
}

/// How an outbound attempt ended.
enum Attempt {
    Ok,
    /// The peer refused it (4xx other than a rate limit): do not retry.
    Rejected(u16, String),
    /// Transport failure, 5xx or rate limit: retry after at least `retry_after` seconds.
    Retry(String, u64),
}

fn send_once(agent: &ureq::Agent, url: &str, own: &str, mac: &str, body: &[u8]) -> Attempt {
    let resp = agent
        .post(url)
        .set("Content-Type", "application/json")
        .set(HEADER_PEER_URL, own)
        .set(HEADER_PEER_HMAC, mac)
        .send_bytes(body);
    match resp {
        Ok(_) => Attempt::Ok,
        Err(ureq::Error::Status(code, r)) => {
            let retry_after = r.header("retry-after").and_then(|v| v.parse().ok()).unwrap_or(0);
            let text = r.into_string().unwrap_or_default();
            let rate_limited = code == 429 && text.contains(&format!("\"{}\"", codes::RATE_LIMITED));
            if code >= 500 || code == 408 || rate_limited {
                Attempt::Retry(format!("status {code}"), retry_after)
            } else {
                Attempt::Rejected(code, text.chars().take(200).collect())
            }
        }
        Err(e) => Attempt::Retry(e.to_string(), 0),
    }
}

/// One peer's outbound queue, in order, each job retried with core's backoff.
async fn worker(
    peer: String,
    own: String,
    key: Zeroizing<[u8; PEER_KEY_BYTES]>,
    mut rx: tokio::sync::mpsc::Receiver<Job>,
    metrics: Arc<crate::metrics::Metrics>,
) {
    let agent = ureq::AgentBuilder::new().timeout(OUTBOUND_TIMEOUT).build();
    while let Some(job) = rx.recv().await {
        let (path, body) = job.path_and_body();
        let mac = sign_body(&key, &body);
        let url = format!("{peer}{path}");
        let mut failures = 0u64;
        let result = loop {
            let (agent, url, own, mac, body) = (agent.clone(), url.clone(), own.clone(), mac.clone(), body.clone());
            let attempt = tokio::task::spawn_blocking(move || send_once(&agent, &url, &own, &mac, &body))
                .await
                .unwrap_or_else(|e| Attempt::Retry(e.to_string(), 0));
            match attempt {
                Attempt::Ok => break "ok",
                Attempt::Rejected(code, text) => {
                    tracing::warn!(peer = %peer, path, status = code, body = %text, "peer refused replication");
                    break "rejected";
                }
                Attempt::Retry(why, retry_after) => {
                    failures += 1;
                    if failures >= MAX_ATTEMPTS {
                        tracing::warn!(peer = %peer, path, error = %why, "replication failed; giving up");
                        break "error";
                    }
                    let wait = postern_core::sync::failure_backoff_seconds(
                        BACKOFF_BASE_S,
                        failures,
                        retry_after.min(BACKOFF_CAP_S),
                        BACKOFF_CAP_S,
                    );
                    tracing::debug!(peer = %peer, path, error = %why, wait, "replication failed; retrying");
                    tokio::time::sleep(Duration::from_secs(wait)).await;
                }
            }
        };
        metrics.replication(result);
    }
}

fn read_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(ApiError::from)
}

/// `POST /api/mesh/infonet/peer-push {events: [...]}`.
pub(crate) async fn peer_push(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = read_body(body)?;
    let peer = st.peers().authenticate(&headers, &body)?;
    let limits = json::Limits { max_depth: PUSH_MAX_DEPTH, max_input_bytes: body.len() };
    let bad = |d: String| ApiError::new(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, d);
    let v = json::parse_with_limits(&body, limits).map_err(|e| bad(format!("request body is not valid JSON: {e}")))?;
    let events = match v.get("events") {
        Some(Value::Array(a)) => a.clone(),
        _ => return Err(bad("expected {\"events\": [...]}".into())),
    };
    if events.len() > PEER_PUSH_MAX_EVENTS {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            pcodes::TOO_MANY_EVENTS,
            format!("at most {PEER_PUSH_MAX_EVENTS} events per push"),
        ));
    }
    let now = st.now();
    let outcome = st.with_chain("peer_push", move |c| c.peer_push(&events, now)).await?;
    match outcome {
        PushOutcome::Done { accepted, duplicates, head_hash } => {
            tracing::info!(peer = %peer, accepted, duplicates, "peer push");
            Ok(ApiJson(PeerPushResponse { ok: true, accepted, duplicates, head_hash }).into_response())
        }
        PushOutcome::Refused(r) => {
            tracing::info!(peer = %peer, index = r.index, code = r.refusal.code, "peer push refused");
            let body = PeerPushRejection {
                ok: false,
                code: r.refusal.code.to_string(),
                detail: r.refusal.detail,
                index: r.index,
                accepted: r.accepted,
                duplicates: r.duplicates,
            };
            Ok((r.refusal.status, axum::Json(body)).into_response())
        }
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::BAD_REQUEST,
            format!("request body does not match the expected shape: {e}"),
        )
    })
}

/// `POST /api/mesh/dm/replicate-envelope {envelope, expires_at}`.
pub(crate) async fn replicate_envelope(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<ApiJson<ReplicateEnvelopeResponse>, ApiError> {
    let body = read_body(body)?;
    let peer = st.peers().authenticate(&headers, &body)?;
    let req: ReplicateEnvelopeRequest = parse_json(&body)?;
    req.envelope
        .validate()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, e.to_string()))?;
    let now = st.now();
    if req.expires_at <= now {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            pcodes::EXPIRED,
            "expires_at is already past",
        ));
    }
    let limits = st.limits();
    let msg_id = req.envelope.msg_id.clone();
    let (env, expires_at) = (req.envelope, req.expires_at);
    let onward = env.clone();
    let outcome = st
        .with_store("replicate_envelope", move |s| s.deposit_replica(&env, &limits, expires_at, now))
        .await?;
    match outcome {
        Deposit::Stored { expires_at } => {
            tracing::info!("replica spooled");
            // New here: pass it on to every other peer (a duplicate is never forwarded).
            st.peers().forward(Job::Envelope { envelope: onward, expires_at }, Some(&peer), st.metrics());
            Ok(ApiJson(ReplicateEnvelopeResponse { ok: true, msg_id, duplicate: false, expires_at }))
        }
        Deposit::Duplicate { expires_at } => {
            Ok(ApiJson(ReplicateEnvelopeResponse { ok: true, msg_id, duplicate: true, expires_at }))
        }
        Deposit::Refused(cap) => {
            tracing::info!(code = cap.code(), "replica refused by cap");
            Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, cap.code(), cap.to_string()))
        }
        Deposit::RecipientUnknown => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            codes::RECIPIENT_UNKNOWN,
            "recipient unknown",
        )),
    }
}

/// `POST /api/mesh/dm/replicate-ack {msg_ids, recipient_id}`.
pub(crate) async fn replicate_ack(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<ApiJson<ReplicateAckResponse>, ApiError> {
    let body = read_body(body)?;
    let peer = st.peers().authenticate(&headers, &body)?;
    let req: ReplicateAckRequest = parse_json(&body)?;
    if req.msg_ids.len() > MAX_ACK_IDS {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::BAD_REQUEST,
            format!("at most {MAX_ACK_IDS} msg_ids per ack"),
        ));
    }
    if !is_valid_node_id(&req.recipient_id) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, "recipient_id is not a node id"));
    }
    let (rid, ids) = (req.recipient_id, req.msg_ids);
    let recipient_id = rid.clone();
    let removed = st.with_store("replicate_ack", move |s| s.remove_messages(&rid, &ids)).await?;
    let count = removed.len() as u64;
    // Forward only the ids that were present here: an ack that comes back removes nothing.
    if !removed.is_empty() {
        st.peers().forward(Job::Ack { recipient_id, msg_ids: removed }, Some(&peer), st.metrics());
    }
    Ok(ApiJson(ReplicateAckResponse { ok: true, removed: count }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn peer_specs() {
        let p = parse_peer_spec("HTTPS://Relay.Example:443/=a=b").unwrap();
        assert_eq!(p.url, "https://relay.example");
        assert_eq!(p.secret.as_slice(), b"a=b");
        assert!(!format!("{p:?}").contains("a=b"));
        assert!(parse_peer_spec("http://x").is_err());
        assert!(parse_peer_spec("http://x=").is_err());
        assert!(parse_peer_spec("ftp://x=s").is_err());
        assert_eq!(parse_public_url("http://127.0.0.1:80/").unwrap(), "http://127.0.0.1");
    }

    #[test]
    fn push_body_splices_exact_events() {
        let (path, body) = Job::Events { events: vec!["{\"a\":1.0}".into(), "{}".into()] }.path_and_body();
        assert_eq!(path, PATH_PEER_PUSH);
        assert_eq!(body, b"{\"events\":[{\"a\":1.0},{}]}");
    }
}
