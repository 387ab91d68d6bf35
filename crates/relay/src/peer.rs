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
    codes as pcodes, PeerPushRejection, PeerPushResponse, ReplicateAckRequest,
    ReplicateAckResponse, ReplicateEnvelopeRequest, ReplicateEnvelopeResponse, PATH_PEER_PUSH,
    PATH_REPLICATE_ACK, PATH_REPLICATE_ENVELOPE, PEER_PUSH_MAX_EVENTS,
};
use postern_core::dm::DmEnvelope;
use postern_core::identity::is_valid_node_id;
use postern_core::json::{self, Value};
use postern_core::peer::{
    normalize_peer_url, peer_key, sign_body, verify_body, HEADER_PEER_HMAC, HEADER_PEER_URL,
    PEER_KEY_BYTES,
};
use zeroize::Zeroizing;

use crate::chain::PushOutcome;
use crate::server::{ApiError, ApiJson, AppState};
use crate::store::Deposit;

/// Nesting allowed in a peer-push body.
const PUSH_MAX_DEPTH: usize = 40;
/// Backoff base and cap (seconds) between outbound attempts (`sync::failure_backoff_seconds`).
const BACKOFF_BASE_S: u64 = 1;
const BACKOFF_CAP_S: u64 = 30;
/// Longest idle wait of a worker between looks at its outbox (a wake-up normally comes first).
const IDLE_RECHECK: Duration = Duration::from_secs(30);
/// Timeout of one outbound HTTP request.
const OUTBOUND_TIMEOUT: Duration = Duration::from_secs(10);

/// TLS client configuration of outbound peer requests when `--peer-ca` is given (set once at
/// startup); without it, https peers are verified against the Web PKI roots (webpki-roots).
static PEER_TLS: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();

/// Trust exactly the CA certificates in the PEM file `path` (a private CA) for outbound https
/// peer requests (pushes, DM pulls). Call once, before the peers start.
pub fn set_peer_ca(path: &std::path::Path) -> Result<(), String> {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("--peer-ca {}: {e}", path.display()))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("--peer-ca {}: {e}", path.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("--peer-ca {}: {e}", path.display()))?;
    }
    if roots.is_empty() {
        return Err(format!(
            "--peer-ca {}: no certificate found",
            path.display()
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    PEER_TLS
        .set(Arc::new(config))
        .map_err(|_| "--peer-ca was already configured".to_string())
}

/// The HTTP(S) agent of outbound peer requests (`--peer-ca` applied when given).
pub fn outbound_agent(timeout: Duration) -> ureq::Agent {
    let b = ureq::AgentBuilder::new().timeout(timeout);
    match PEER_TLS.get() {
        Some(cfg) => b.tls_config(Arc::clone(cfg)).build(),
        None => b.build(),
    }
}

/// POST `body` (JSON) to `url` with `headers`; the response bytes (at most `max_bytes`), or the
/// error and, for a 429, its `Retry-After` in seconds (0 otherwise). Shared by every puller.
pub fn post_json(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    max_bytes: u64,
    now: u64,
) -> Result<Vec<u8>, (String, u64)> {
    use std::io::Read;
    let mut req = agent.post(url).set("Content-Type", "application/json");
    for (k, v) in headers {
        req = req.set(k, v);
    }
    match req.send_bytes(body) {
        Ok(r) => {
            let mut buf = Vec::new();
            r.into_reader()
                .take(max_bytes + 1)
                .read_to_end(&mut buf)
                .map_err(|e| (format!("reading the response failed: {e}"), 0))?;
            if buf.len() as u64 > max_bytes {
                return Err(("response too large".into(), 0));
            }
            Ok(buf)
        }
        Err(ureq::Error::Status(code, r)) => {
            let retry_after = match code {
                429 => r
                    .header("retry-after")
                    .map_or(0, |v| postern_core::sync::parse_retry_after(v, now)),
                _ => 0,
            };
            Err((format!("status {code}"), retry_after))
        }
        Err(e) => Err((e.to_string(), 0)),
    }
}

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
    Ok(PeerSpec {
        url,
        secret: Zeroizing::new(secret.as_bytes().to_vec()),
    })
}

/// clap parser of `--public-url`.
pub fn parse_public_url(s: &str) -> Result<String, String> {
    normalize_peer_url(s).map_err(|e| e.to_string())
}

/// One outbound replication job.
#[derive(Debug, Clone)]
pub enum Job {
    Envelope {
        envelope: DmEnvelope,
        expires_at: u64,
    },
    /// The mailbox owner's signed ack (its `dm.ack` request auth over exactly `msg_ids`).
    Ack {
        recipient_id: String,
        msg_ids: Vec<String>,
        owner_ack: postern_core::auth::RequestAuth,
    },
    Events {
        events: Vec<String>,
    },
}

impl Job {
    pub(crate) fn path_and_body(&self) -> (&'static str, Vec<u8>) {
        match self {
            Job::Envelope {
                envelope,
                expires_at,
            } => {
                let req = ReplicateEnvelopeRequest {
                    envelope: envelope.clone(),
                    expires_at: *expires_at,
                };
                (
                    PATH_REPLICATE_ENVELOPE,
                    serde_json::to_vec(&req).unwrap_or_default(),
                )
            }
            Job::Ack {
                recipient_id,
                msg_ids,
                owner_ack,
            } => {
                let req = ReplicateAckRequest {
                    msg_ids: msg_ids.clone(),
                    recipient_id: recipient_id.clone(),
                    owner_ack: Some(owner_ack.clone()),
                };
                (
                    PATH_REPLICATE_ACK,
                    serde_json::to_vec(&req).unwrap_or_default(),
                )
            }
            // Exact stored JSON of verified events, spliced (never re-encoded lossily).
            Job::Events { events } => (
                PATH_PEER_PUSH,
                format!("{{\"events\":[{}]}}", events.join(",")).into_bytes(),
            ),
        }
    }
}

/// Configured peers: inbound keys by peer URL and the outbound peers (whose jobs are rows of
/// the durable `replication_outbox`, see [`crate::store::Outbox`]).
#[derive(Default)]
pub struct Peers {
    inbound: HashMap<String, Zeroizing<[u8; PEER_KEY_BYTES]>>,
}

/// What an outbound worker needs from the relay.
pub struct WorkerEnv {
    pub store: Arc<std::sync::Mutex<crate::store::Store>>,
    pub clock: fn() -> u64,
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl Peers {
    pub fn is_empty(&self) -> bool {
        self.inbound.is_empty()
    }

    /// Inbound keys for every peer; when `public_url` is known, one outbound worker per peer
    /// (spawned, so call this inside the runtime) draining that peer's outbox rows. Returns
    /// the outbox configuration to install on every store connection that creates jobs.
    pub fn start(
        public_url: Option<&str>,
        specs: &[PeerSpec],
        env: &WorkerEnv,
    ) -> (Peers, crate::store::Outbox) {
        let mut p = Peers::default();
        let mut outbox = crate::store::Outbox {
            metrics: Some(Arc::clone(&env.metrics)),
            ..Default::default()
        };
        for spec in specs {
            p.inbound.insert(
                spec.url.clone(),
                Zeroizing::new(peer_key(&spec.secret, &spec.url)),
            );
            let Some(own) = public_url else { continue };
            let key = Zeroizing::new(peer_key(&spec.secret, own));
            let notify = Arc::new(tokio::sync::Notify::new());
            let w = Worker {
                peer: spec.url.clone(),
                own: own.to_string(),
                key,
                notify: Arc::clone(&notify),
                store: Arc::clone(&env.store),
                clock: env.clock,
                metrics: Arc::clone(&env.metrics),
            };
            tokio::spawn(w.run());
            outbox.peers.push((spec.url.clone(), notify));
        }
        if public_url.is_none() && !specs.is_empty() {
            tracing::warn!(
                "peers configured without --public-url: accepting pushes, not sending any"
            );
        }
        (p, outbox)
    }

    pub(crate) fn authenticate(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<String, ApiError> {
        let deny =
            |detail: &str| ApiError::new(StatusCode::FORBIDDEN, pcodes::PEER_UNAUTHORIZED, detail);
        let url = headers
            .get(HEADER_PEER_URL)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| deny("missing X-Peer-Url"))?;
        let url =
            normalize_peer_url(url).map_err(|_| deny("X-Peer-Url is not a valid peer URL"))?;
        let key = self
            .inbound
            .get(&url)
            .ok_or_else(|| deny("X-Peer-Url is not a configured peer"))?;
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
            let retry_after = r
                .header("retry-after")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let text = r.into_string().unwrap_or_default();
            let rate_limited =
                code == 429 && text.contains(&format!("\"{}\"", codes::RATE_LIMITED));
            if code >= 500 || code == 408 || rate_limited {
                Attempt::Retry(format!("status {code}"), retry_after)
            } else {
                Attempt::Rejected(code, text.chars().take(200).collect())
            }
        }
        Err(e) => Attempt::Retry(e.to_string(), 0),
    }
}

/// One peer's outbound worker.
struct Worker {
    peer: String,
    own: String,
    key: Zeroizing<[u8; PEER_KEY_BYTES]>,
    notify: Arc<tokio::sync::Notify>,
    store: Arc<std::sync::Mutex<crate::store::Store>>,
    clock: fn() -> u64,
    metrics: Arc<crate::metrics::Metrics>,
}

impl Worker {
    async fn with_store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut crate::store::Store) -> Result<T, crate::store::StoreError> + Send + 'static,
    ) -> Option<T> {
        let store = Arc::clone(&self.store);
        let r = tokio::task::spawn_blocking(move || {
            let mut g = store.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut g)
        })
        .await;
        match r {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                tracing::error!(peer = %self.peer, error = %e, "replication outbox storage error");
                None
            }
            Err(e) => {
                tracing::error!(peer = %self.peer, error = %e, "replication outbox task failed");
                None
            }
        }
    }

    /// Drain the peer's outbox rows oldest first: delete on success or a final refusal,
    /// reschedule with core's backoff on a retryable failure (the row stays at the head, so the
    /// order is kept). Pending rows from before a restart are due at once.
    async fn run(self) {
        let agent = outbound_agent(OUTBOUND_TIMEOUT);
        let (peer, now) = (self.peer.clone(), (self.clock)());
        if let Some(n) = self.with_store(move |s| s.outbox_resume(&peer, now)).await {
            if n > 0 {
                tracing::info!(peer = %self.peer, pending = n, "resuming replication");
            }
        }
        loop {
            let peer = self.peer.clone();
            let Some(head) = self.with_store(move |s| s.outbox_head(&peer)).await else {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            };
            let Some(row) = head else {
                let _ = tokio::time::timeout(IDLE_RECHECK, self.notify.notified()).await;
                continue;
            };
            let now = (self.clock)();
            if row.next_attempt_at > now {
                let wait = Duration::from_secs(row.next_attempt_at - now);
                let _ = tokio::time::timeout(wait, self.notify.notified()).await;
                continue;
            }
            let body = row.body.into_bytes();
            let mac = sign_body(&self.key, &body);
            let url = format!("{}{}", self.peer, row.path);
            let (a, own) = (agent.clone(), self.own.clone());
            let attempt =
                tokio::task::spawn_blocking(move || send_once(&a, &url, &own, &mac, &body))
                    .await
                    .unwrap_or_else(|e| Attempt::Retry(e.to_string(), 0));
            let id = row.id;
            match attempt {
                Attempt::Ok => {
                    self.metrics.replication("ok");
                    self.with_store(move |s| s.outbox_done(id)).await;
                }
                Attempt::Rejected(code, text) => {
                    tracing::warn!(peer = %self.peer, path = %row.path, status = code, body = %text, "peer refused replication");
                    self.metrics.replication("rejected");
                    self.with_store(move |s| s.outbox_done(id)).await;
                }
                Attempt::Retry(why, retry_after) => {
                    let failures = row.attempts + 1;
                    let wait = postern_core::sync::failure_backoff_seconds(
                        BACKOFF_BASE_S,
                        failures,
                        retry_after.min(BACKOFF_CAP_S),
                        BACKOFF_CAP_S,
                    );
                    tracing::debug!(peer = %self.peer, path = %row.path, error = %why, attempts = failures, wait, "replication failed; retrying");
                    let next = (self.clock)().saturating_add(wait);
                    self.with_store(move |s| s.outbox_retry(id, failures, next))
                        .await;
                }
            }
        }
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
    let limits = json::Limits {
        max_depth: PUSH_MAX_DEPTH,
        max_input_bytes: body.len(),
    };
    let bad = |d: String| ApiError::new(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, d);
    let v = json::parse_with_limits(&body, limits)
        .map_err(|e| bad(format!("request body is not valid JSON: {e}")))?;
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
    let outcome = st
        .with_chain("peer_push", move |c| c.peer_push(&events, now))
        .await?;
    match outcome {
        PushOutcome::Done {
            accepted,
            duplicates,
            head_hash,
        } => {
            tracing::info!(peer = %peer, accepted, duplicates, "peer push");
            Ok(ApiJson(PeerPushResponse {
                ok: true,
                accepted,
                duplicates,
                head_hash,
            })
            .into_response())
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

/// A peer request with a typed JSON body: read the body, check the peer's HMAC over the exact
/// bytes (403 before anything is parsed), then parse it (422 on a wrong shape). Returns the
/// authenticated peer URL and the request.
pub(crate) fn authenticated<T: serde::de::DeserializeOwned>(
    st: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(String, T), ApiError> {
    let body = read_body(body)?;
    let peer = st.peers().authenticate(headers, &body)?;
    Ok((peer, parse_json(&body)?))
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
    let (peer, req): (String, ReplicateEnvelopeRequest) = authenticated(&st, &headers, body)?;
    let now = st.now();
    ingest_envelope(&st, req, &peer, now).await.map(ApiJson)
}

/// Spool an envelope relayed by `peer` (pushed or pulled) with exactly a local deposit's
/// rules: `DmEnvelope::validate`, then `caps::check_deposit` in the store.
pub(crate) async fn ingest_envelope(
    st: &AppState,
    req: ReplicateEnvelopeRequest,
    peer: &str,
    now: u64,
) -> Result<ReplicateEnvelopeResponse, ApiError> {
    let peer = peer.to_string();
    req.envelope
        .validate()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, e.to_string()))?;
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
    let from = peer.clone();
    let outcome = st
        .with_store("replicate_envelope", move |s| {
            s.deposit_replica(&env, &limits, expires_at, now, Some(&from))
        })
        .await?;
    match outcome {
        Deposit::Stored { expires_at } => {
            // New here: the store queued it for every other peer in the same transaction (a
            // duplicate or tombstoned msg_id is never forwarded).
            tracing::info!(peer = %peer, "replica spooled");
            Ok(ReplicateEnvelopeResponse {
                ok: true,
                msg_id,
                duplicate: false,
                expires_at,
            })
        }
        Deposit::Duplicate { expires_at } => Ok(ReplicateEnvelopeResponse {
            ok: true,
            msg_id,
            duplicate: true,
            expires_at,
        }),
        Deposit::Refused(cap) => {
            tracing::info!(code = cap.code(), "replica refused by cap");
            Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                cap.code(),
                cap.to_string(),
            ))
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
    let (peer, req): (String, ReplicateAckRequest) = authenticated(&st, &headers, body)?;
    let now = st.now();
    let removed = ingest_ack(&st, req, &peer, now).await?;
    Ok(ApiJson(ReplicateAckResponse { ok: true, removed }))
}

/// Apply an ack relayed by `peer` (pushed or pulled): core checks the mailbox owner's signed
/// ack ([`postern_core::api::peer::check_replicated_ack`]) before anything is removed; a
/// missing, forged or other-owner proof is refused (403) and nothing changes.
pub(crate) async fn ingest_ack(
    st: &AppState,
    req: ReplicateAckRequest,
    peer: &str,
    now: u64,
) -> Result<u64, ApiError> {
    if req.msg_ids.len() > MAX_ACK_IDS {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::BAD_REQUEST,
            format!("at most {MAX_ACK_IDS} msg_ids per ack"),
        ));
    }
    if !is_valid_node_id(&req.recipient_id) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::BAD_REQUEST,
            "recipient_id is not a node id",
        ));
    }
    if let Err((code, detail)) = postern_core::api::peer::check_replicated_ack(&req) {
        tracing::warn!(peer = %peer, code, "replicated ack refused");
        let status = if code == codes::BAD_REQUEST {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::FORBIDDEN
        };
        return Err(ApiError::new(status, code, detail));
    }
    let Some(proof) = req.owner_ack else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            pcodes::ACK_UNSIGNED,
            "missing owner_ack",
        ));
    };
    let (rid, ids) = (req.recipient_id, req.msg_ids);
    let ttl = st.limits().ttl_secs;
    let from = peer.to_string();
    // Tombstones every id; when that changed anything here, forwards (durably, same
    // transaction) the owner's statement unchanged: an ack that comes back changes nothing.
    let removed = st
        .with_store("replicate_ack", move |s| {
            s.remove_messages(&rid, &ids, &proof, Some(&from), ttl, now)
        })
        .await?;
    Ok(removed.len() as u64)
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
        assert_eq!(
            parse_public_url("http://127.0.0.1:80/").unwrap(),
            "http://127.0.0.1"
        );
    }

    #[test]
    fn push_body_splices_exact_events() {
        let (path, body) = Job::Events {
            events: vec!["{\"a\":1.0}".into(), "{}".into()],
        }
        .path_and_body();
        assert_eq!(path, PATH_PEER_PUSH);
        assert_eq!(body, b"{\"events\":[{\"a\":1.0},{}]}");
    }
}
