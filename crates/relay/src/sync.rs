//! Pull sync of the public chain from the configured peers: one background task per peer
//! POSTs our locator to the peer's `/api/mesh/infonet/sync` every `--sync-interval-secs` and
//! ingests the returned events with core verification (freshness disabled: history of any
//! age), page by page until caught up. A peer that answers `forked: true` is reported (log,
//! `postern_sync_forks_total`, `fork_detected` in `GET /api/mesh/infonet/sync-status`) and
//! never merged. Failures back off with `postern_core::sync` (`SyncWorkerState::finish_err`,
//! i.e. `failure_backoff_seconds`, honouring a 429's `Retry-After` via `parse_retry_after`).
//! The per-peer scheduler state (core's `SyncWorkerState`: last success, consecutive failures,
//! next attempt / backoff, the peer head last matched, fork flag; plus the last `Retry-After`
//! and a fork report count) is stored in SQLite (`sync_peer_state`) after every transition and
//! loaded when the worker starts, so a restarted relay keeps its backoff and shows the same
//! `sync-status`. The chain cursor itself is the chain head.
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::State;
use postern_core::api::infonet::{
    SyncPostRequest, LOCATOR_LIMIT_DEFAULT, PATH_SYNC, SYNC_LIMIT_DEFAULT,
};
use postern_core::canonical::{GENESIS_HASH, PROTOCOL_VERSION};
use postern_core::json::{self, Value};
use postern_core::sync::{
    SyncConfig, SyncWorkerState, DEFAULT_FAILURE_BACKOFF_CAP_S, DEFAULT_FAILURE_BACKOFF_S,
};
use serde::{Deserialize, Serialize};

use crate::chain::PushOutcome;
use crate::server::{ApiError, ApiJson, AppState};
use crate::store::Lane;

/// Default `--sync-interval-secs`.
pub const DEFAULT_SYNC_INTERVAL_SECS: u64 = postern_core::sync::DEFAULT_INTERVAL_S;
/// Relay path of the per-peer sync state.
pub const PATH_SYNC_STATUS: &str = "/api/mesh/infonet/sync-status";
/// Events asked for per page.
const PAGE: usize = SYNC_LIMIT_DEFAULT;
/// Pages per round at most (a round resumes from the new head next time).
const MAX_PAGES_PER_ROUND: usize = 1_000;
/// Timeout of one sync request.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Largest sync response read.
const MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;
/// Nesting allowed in a sync response.
const MAX_DEPTH: usize = 40;

/// Scheduler configuration for an interval: the failure ladder starts at the interval (at most
/// core's default base) and is capped at 8 intervals (at most core's default cap).
pub fn config(interval_s: u64) -> SyncConfig {
    let interval_s = interval_s.max(1);
    let base = interval_s.min(DEFAULT_FAILURE_BACKOFF_S);
    SyncConfig {
        interval_s,
        failure_backoff_s: base,
        failure_backoff_cap_s: interval_s
            .saturating_mul(8)
            .clamp(base, DEFAULT_FAILURE_BACKOFF_CAP_S.max(base)),
    }
}

/// Everything kept about one peer's pull sync (persisted in `sync_peer_state`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerSync {
    /// Core's scheduler state.
    #[serde(flatten)]
    pub state: SyncWorkerState,
    /// `Retry-After` (seconds) of the last failed round, 0 if it had none.
    pub last_retry_after_s: u64,
    /// The peer's head as of the last answer (the hash our locator matched up to).
    pub peer_head: String,
    /// Rounds that found a fork with this peer, ever.
    pub fork_reports: u64,
}

/// Latest sync state per peer (a mirror of what is persisted).
#[derive(Debug, Default)]
pub struct SyncStatus {
    peers: Mutex<BTreeMap<String, PeerSync>>,
}

impl SyncStatus {
    fn set(&self, peer: &str, state: &PeerSync) {
        let mut g = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        g.insert(peer.to_string(), state.clone());
    }

    fn snapshot(&self) -> BTreeMap<String, PeerSync> {
        self.peers.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[derive(Serialize)]
pub struct PeerSyncStatus {
    pub peer_url: String,
    #[serde(flatten)]
    pub state: PeerSync,
}

#[derive(Serialize)]
pub struct SyncStatusResponse {
    pub peers: Vec<PeerSyncStatus>,
    /// Any peer whose last round found a fork.
    pub fork_detected: bool,
}

/// `GET /api/mesh/infonet/sync-status`.
pub(crate) async fn sync_status(
    State(st): State<AppState>,
) -> Result<ApiJson<SyncStatusResponse>, ApiError> {
    let peers: Vec<PeerSyncStatus> = st
        .sync_status()
        .snapshot()
        .into_iter()
        .map(|(peer_url, state)| PeerSyncStatus { peer_url, state })
        .collect();
    let fork_detected = peers.iter().any(|p| p.state.state.fork_detected);
    Ok(ApiJson(SyncStatusResponse {
        peers,
        fork_detected,
    }))
}

/// Start one pull-sync task per peer URL (inside the runtime).
pub fn start(state: &AppState, peers: &[String], interval_s: u64) {
    let cfg = config(interval_s);
    for peer in peers {
        tokio::spawn(worker(state.clone(), peer.clone(), cfg));
    }
}

/// How one round ended (with the peer head last seen, empty if none).
enum Round {
    Ok(u64, String),
    Fork(String, String),
    Err(String, u64),
}

/// Show `s` in the status and persist it (a storage failure is logged, the round goes on).
async fn publish(st: &AppState, peer: &str, s: &PeerSync) {
    st.sync_status().set(peer, s);
    let (p, rec, now) = (peer.to_string(), s.clone(), st.now());
    let _ = st
        .with_store("sync_state_save", move |store| {
            store.sync_state_save(&p, &rec, now)
        })
        .await;
}

async fn head(st: &AppState) -> String {
    st.with_chain("sync_head", |c| Ok(c.head(Lane::Public).0))
        .await
        .unwrap_or_default()
}

async fn worker(st: AppState, peer: String, cfg: SyncConfig) {
    let agent = crate::peer::outbound_agent(TIMEOUT);
    // Resume from the persisted state (backoff, failures, last success) if there is one.
    let p = peer.clone();
    let mut rec = match st
        .with_store("sync_state_load", move |s| s.sync_state_load(&p))
        .await
    {
        Ok(Some(r)) => {
            tracing::info!(peer = %peer, failures = r.state.consecutive_failures, next = r.state.next_sync_due_at, "resuming pull-sync state");
            r
        }
        _ => PeerSync::default(),
    };
    st.sync_status().set(&peer, &rec);
    loop {
        let wait = rec.state.next_sync_due_at.saturating_sub(st.now());
        if wait > 0 {
            tokio::time::sleep(Duration::from_secs(wait)).await;
            continue;
        }
        rec.state = rec.state.begin(&peer, &head(&st).await, st.now());
        publish(&st, &peer, &rec).await;
        let round = run_round(&st, &agent, &peer).await;
        let (now, current) = (st.now(), head(&st).await);
        rec = match round {
            Round::Ok(pulled, peer_head) => {
                if pulled > 0 {
                    tracing::info!(peer = %peer, pulled, head = %current, "pulled chain events");
                }
                st.metrics().sync_round("ok", pulled);
                PeerSync {
                    state: rec.state.finish_ok(&cfg, &peer, &current, false, now),
                    last_retry_after_s: 0,
                    peer_head: if peer_head.is_empty() {
                        rec.peer_head
                    } else {
                        peer_head
                    },
                    fork_reports: rec.fork_reports,
                }
            }
            Round::Fork(detail, peer_head) => {
                tracing::warn!(peer = %peer, detail = %detail, "peer chain forked from ours; not merging");
                st.metrics().sync_round("fork", 0);
                PeerSync {
                    state: rec.state.finish_err(&cfg, &peer, &detail, true, 0, now),
                    last_retry_after_s: 0,
                    peer_head: if peer_head.is_empty() {
                        rec.peer_head
                    } else {
                        peer_head
                    },
                    fork_reports: rec.fork_reports.saturating_add(1),
                }
            }
            Round::Err(error, retry_after) => {
                tracing::debug!(peer = %peer, error = %error, retry_after, "chain sync failed");
                st.metrics().sync_round("error", 0);
                PeerSync {
                    state: rec
                        .state
                        .finish_err(&cfg, &peer, &error, false, retry_after, now),
                    last_retry_after_s: retry_after,
                    ..rec
                }
            }
        };
        publish(&st, &peer, &rec).await;
    }
}

fn fetch(agent: &ureq::Agent, url: &str, body: &[u8], now: u64) -> Result<Vec<u8>, (String, u64)> {
    crate::peer::post_json(agent, url, &[], body, MAX_RESPONSE_BYTES, now)
}

async fn run_round(st: &AppState, agent: &ureq::Agent, peer: &str) -> Round {
    let local = |_| Round::Err("local storage error".into(), 0);
    let mut pulled = 0u64;
    let mut last_head = String::new();
    for _ in 0..MAX_PAGES_PER_ROUND {
        let locator = match st
            .with_chain("sync_locator", |c| Ok(c.locator(LOCATOR_LIMIT_DEFAULT)))
            .await
        {
            Ok(l) => l,
            Err(e) => return local(e),
        };
        let req = SyncPostRequest {
            protocol_version: PROTOCOL_VERSION.into(),
            locator,
            limit: Some(PAGE as i64),
            expected_head: None,
            include_proofs: false,
        };
        let body = match serde_json::to_vec(&req) {
            Ok(b) => b,
            Err(e) => return Round::Err(e.to_string(), 0),
        };
        let (agent, url, now) = (agent.clone(), format!("{peer}{PATH_SYNC}"), st.now());
        let bytes = match tokio::task::spawn_blocking(move || fetch(&agent, &url, &body, now)).await
        {
            Ok(Ok(b)) => b,
            Ok(Err((e, retry_after))) => return Round::Err(e, retry_after),
            Err(e) => return Round::Err(e.to_string(), 0),
        };
        let limits = json::Limits {
            max_depth: MAX_DEPTH,
            max_input_bytes: bytes.len(),
        };
        let v = match json::parse_with_limits(&bytes, limits) {
            Ok(v) => v,
            Err(e) => return Round::Err(format!("sync response is not JSON: {e}"), 0),
        };
        let forked = matches!(v.get("forked"), Some(Value::Bool(true)));
        let peer_head = v
            .get("head_hash")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        last_head.clone_from(&peer_head);
        let Some(events) = v
            .get("events")
            .and_then(Value::as_array)
            .map(<[Value]>::to_vec)
        else {
            return Round::Err("sync response has no events array".into(), 0);
        };
        if forked {
            // Only genesis (or nothing) is shared. A peer that is merely behind us (empty, or
            // its head is one of our events) has nothing to give; anything else is a fork.
            let h = peer_head.clone();
            let behind = match st
                .with_chain("sync_fork_check", move |c| {
                    Ok(h == GENESIS_HASH
                        || c.store()
                            .chain_index_of(Lane::Public, &h)
                            .ok()
                            .flatten()
                            .is_some())
                })
                .await
            {
                Ok(b) => b,
                Err(e) => return local(e),
            };
            if behind {
                return Round::Ok(pulled, last_head);
            }
            return Round::Fork(
                format!("peer head {peer_head} shares no history with ours beyond genesis"),
                last_head,
            );
        }
        if events.is_empty() {
            return Round::Ok(pulled, last_head);
        }
        let n = events.len();
        let now = st.now();
        match st
            .with_chain("sync_ingest", move |c| c.peer_push(&events, now))
            .await
        {
            Ok(PushOutcome::Done { accepted, .. }) => {
                pulled += accepted;
                // All known already (we are ahead of the peer's match) or the last page.
                if accepted == 0 || n < PAGE {
                    return Round::Ok(pulled, last_head);
                }
            }
            Ok(PushOutcome::Refused(r))
                if r.refusal.code == postern_core::api::peer::codes::FORKED =>
            {
                return Round::Fork(
                    format!("peer's events diverge from ours: {}", r.refusal.detail),
                    last_head,
                );
            }
            Ok(PushOutcome::Refused(r)) => {
                return Round::Err(
                    format!(
                        "peer sent an invalid event ({}): {}",
                        r.refusal.code, r.refusal.detail
                    ),
                    0,
                );
            }
            Err(e) => return local(e),
        }
    }
    Round::Ok(pulled, last_head)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::{Read as _, Write as _};

    #[test]
    fn config_scales_with_the_interval() {
        let c = config(1);
        assert_eq!(
            (c.interval_s, c.failure_backoff_s, c.failure_backoff_cap_s),
            (1, 1, 8)
        );
        let c = config(DEFAULT_SYNC_INTERVAL_SECS);
        assert_eq!((c.failure_backoff_s, c.failure_backoff_cap_s), (60, 1800));
        assert_eq!(config(0).interval_s, 1);
    }

    /// A one-shot HTTP server answering `response`; returns its URL.
    fn serve_once(response: &'static str) -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", l.local_addr().unwrap());
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(response.as_bytes());
        });
        url
    }

    #[test]
    fn a_429_retry_after_is_honoured() {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(5))
            .build();
        let url = serve_once("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        assert_eq!(
            fetch(&agent, &url, b"{}", 0),
            Err(("status 429".to_string(), 7))
        );
        // Retry-After only counts on a 429.
        let url = serve_once("HTTP/1.1 503 Unavailable\r\nRetry-After: 7\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        assert_eq!(
            fetch(&agent, &url, b"{}", 0),
            Err(("status 503".to_string(), 0))
        );
        // The scheduler waits at least that long after the failure.
        let s = SyncWorkerState::default().finish_err(&config(1), "p", "status 429", false, 7, 100);
        assert_eq!(s.next_sync_due_at, 107);
    }
}
