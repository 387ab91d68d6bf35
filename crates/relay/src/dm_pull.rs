//! DM pull-from-peers: the HMAC-authenticated `POST /api/mesh/dm/peer-pull` feed and one
//! background puller per configured peer.
//!
//! Pushes (the durable outbox, [`crate::peer`]) only reach the peers configured when a message
//! was deposited. So that a recipient polling *any* relay of a partial mesh still gets it —
//! including a relay that joined later — every relay also lists, in a local strictly
//! increasing sequence (`dm_feed`, migration 6), the envelopes it spools and the owner-signed
//! acks it applies, and periodically pulls each peer's feed after the last sequence it saw.
//! Pulled items are ingested exactly like pushed ones ([`crate::peer::ingest_envelope`]:
//! `DmEnvelope::validate` + `caps::check_deposit`; [`crate::peer::ingest_ack`]: core's owner-ack
//! verification), and the per-peer cursor is persisted in `dm_pull_cursors` after each page,
//! so a restart resumes where it stopped instead of downloading everything again. Scheduling
//! and failure backoff are core's `sync::SyncWorkerState` (`failure_backoff_seconds`, a 429's
//! `Retry-After` via `parse_retry_after`).
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use postern_core::api::codes;
use postern_core::api::peer::{
    PeerPullItem, PeerPullRequest, PeerPullResponse, ReplicateAckRequest, ReplicateEnvelopeRequest,
    MAX_PEER_PULL_LIMIT, PATH_DM_PEER_PULL,
};
use postern_core::peer::{peer_key, sign_body, HEADER_PEER_HMAC, HEADER_PEER_URL, PEER_KEY_BYTES};
use postern_core::sync::{SyncConfig, SyncWorkerState};

// The DM pullers use the chain pull's scheduler configuration (same ladder per interval).
use crate::sync::config;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::server::{ApiError, ApiJson, AppState};

/// Default `--dm-pull-interval-secs`.
pub const DEFAULT_DM_PULL_INTERVAL_SECS: u64 = 30;
/// Relay path of the per-peer DM pull state.
pub const PATH_DM_PULL_STATUS: &str = "/api/mesh/dm/pull-status";
/// Items asked for per page.
const PAGE: u32 = 100;
/// Pages per round at most (the next round resumes from the persisted cursor).
const MAX_PAGES_PER_ROUND: usize = 1_000;
/// Bodies served per page beyond the first item (a page always holds at least one).
const MAX_PAGE_BYTES: usize = 1024 * 1024;
/// Largest page read (a page of the largest envelopes plus framing).
const MAX_RESPONSE_BYTES: u64 = 4 * 1024 * 1024;
/// Timeout of one pull request.
const TIMEOUT: Duration = Duration::from_secs(30);

/// One peer's pull state: core's scheduler state, the persisted cursor and counters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PeerPullStatus {
    pub peer_url: String,
    /// Last feed sequence of the peer ingested (persisted).
    pub cursor: u64,
    /// Items ingested from this peer since this process started.
    pub pulled_since_start: u64,
    /// Items ingested from this peer over the relay's lifetime (persisted).
    pub pulled_total: u64,
    /// Items refused by the ingestion rules (caps, validation, owner-ack) since start.
    pub refused_since_start: u64,
    /// Successful rounds since start.
    pub rounds_ok: u64,
    #[serde(flatten)]
    pub state: SyncWorkerState,
}

/// Latest pull state per peer (memory; cursors live in SQLite).
#[derive(Debug, Default)]
pub struct PullStatus {
    peers: Mutex<BTreeMap<String, PeerPullStatus>>,
}

impl PullStatus {
    fn update(&self, peer: &str, f: impl FnOnce(&mut PeerPullStatus)) {
        let mut g = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        let e = g.entry(peer.to_string()).or_insert_with(|| PeerPullStatus {
            peer_url: peer.to_string(),
            ..Default::default()
        });
        f(e);
    }

    fn snapshot(&self) -> Vec<PeerPullStatus> {
        self.peers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

#[derive(Serialize)]
pub struct PullStatusResponse {
    pub peers: Vec<PeerPullStatus>,
}

/// `GET /api/mesh/dm/pull-status`: per peer, the cursor and counters (no message data).
pub(crate) async fn pull_status(State(st): State<AppState>) -> ApiJson<PullStatusResponse> {
    ApiJson(PullStatusResponse {
        peers: st.dm_pull_status().snapshot(),
    })
}

/// `POST /api/mesh/dm/peer-pull {after, limit}` (peer-authenticated): the feed after `after`.
pub(crate) async fn peer_pull(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<ApiJson<PeerPullResponse>, ApiError> {
    let (peer, req): (String, PeerPullRequest) = crate::peer::authenticated(&st, &headers, body)?;
    if !(1..=MAX_PEER_PULL_LIMIT).contains(&req.limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be 1..={MAX_PEER_PULL_LIMIT}"
        )));
    }
    let now = st.now();
    let (after, limit) = (req.after, req.limit);
    let (rows, more) = st
        .with_store("dm_peer_pull", move |s| {
            s.dm_feed_page(after, limit, MAX_PAGE_BYTES, now)
        })
        .await?;
    let mut items = Vec::with_capacity(rows.len());
    let mut next_after = after;
    for row in rows {
        next_after = row.seq;
        let item = match row.kind.as_str() {
            "envelope" => serde_json::from_str::<ReplicateEnvelopeRequest>(&row.body)
                .ok()
                .map(|e| PeerPullItem {
                    seq: row.seq,
                    envelope: Some(e),
                    ack: None,
                }),
            "ack" => serde_json::from_str::<ReplicateAckRequest>(&row.body)
                .ok()
                .map(|a| PeerPullItem {
                    seq: row.seq,
                    envelope: None,
                    ack: Some(a),
                }),
            _ => None,
        };
        match item {
            Some(i) => items.push(i),
            None => tracing::error!(seq = row.seq, "unreadable DM feed row skipped"),
        }
    }
    tracing::debug!(peer = %peer, after, served = items.len(), more, "DM peer pull");
    Ok(ApiJson(PeerPullResponse {
        ok: true,
        items,
        next_after,
        more,
    }))
}

/// Start one puller per peer (inside the runtime). Pulling signs as `public_url`, so without
/// it nothing is pulled.
pub fn start(
    state: &AppState,
    public_url: Option<&str>,
    specs: &[crate::peer::PeerSpec],
    interval_s: u64,
) {
    let Some(own) = public_url else { return };
    let cfg = config(interval_s);
    for spec in specs {
        let key = Zeroizing::new(peer_key(&spec.secret, own));
        tokio::spawn(worker(
            state.clone(),
            spec.url.clone(),
            own.to_string(),
            key,
            cfg,
        ));
    }
}

/// How one round ended.
enum Round {
    Ok { pulled: u64, refused: u64 },
    Err(String, u64),
}

async fn worker(
    st: AppState,
    peer: String,
    own: String,
    key: Zeroizing<[u8; PEER_KEY_BYTES]>,
    cfg: SyncConfig,
) {
    let agent = crate::peer::outbound_agent(TIMEOUT);
    let mut state = SyncWorkerState::default();
    let p = peer.clone();
    if let Ok((cursor, total)) = st
        .with_store("dm_pull_cursor", move |s| s.pull_cursor(&p))
        .await
    {
        st.dm_pull_status().update(&peer, |s| {
            s.cursor = cursor;
            s.pulled_total = total;
        });
    }
    loop {
        let wait = state.next_sync_due_at.saturating_sub(st.now());
        if wait > 0 {
            tokio::time::sleep(Duration::from_secs(wait)).await;
            continue;
        }
        state = state.begin(&peer, "", st.now());
        let round = run_round(&st, &agent, &peer, &own, &key).await;
        let now = st.now();
        state = match round {
            Round::Ok { pulled, refused } => {
                if pulled > 0 || refused > 0 {
                    tracing::info!(peer = %peer, pulled, refused, "pulled DM items");
                }
                st.dm_pull_status().update(&peer, |s| {
                    s.rounds_ok += 1;
                    s.refused_since_start += refused;
                });
                state.finish_ok(&cfg, &peer, "", false, now)
            }
            Round::Err(error, retry_after) => {
                tracing::debug!(peer = %peer, error = %error, retry_after, "DM pull failed");
                state.finish_err(&cfg, &peer, &error, false, retry_after, now)
            }
        };
        let snapshot = state.clone();
        st.dm_pull_status().update(&peer, |s| s.state = snapshot);
    }
}

fn fetch(
    agent: &ureq::Agent,
    url: &str,
    own: &str,
    mac: &str,
    body: &[u8],
    now: u64,
) -> Result<Vec<u8>, (String, u64)> {
    crate::peer::post_json(
        agent,
        url,
        &[(HEADER_PEER_URL, own), (HEADER_PEER_HMAC, mac)],
        body,
        MAX_RESPONSE_BYTES,
        now,
    )
}

/// Check a page: sequences strictly increasing, after the cursor, and `next_after` not behind.
fn check_page(page: &PeerPullResponse, after: u64) -> Result<(), String> {
    let mut last = after;
    for item in &page.items {
        if item.seq <= last {
            return Err("items out of sequence".into());
        }
        last = item.seq;
    }
    if page.next_after < last {
        return Err("next_after is behind the items".into());
    }
    Ok(())
}

async fn run_round(
    st: &AppState,
    agent: &ureq::Agent,
    peer: &str,
    own: &str,
    key: &[u8; PEER_KEY_BYTES],
) -> Round {
    let (mut pulled, mut refused) = (0u64, 0u64);
    for _ in 0..MAX_PAGES_PER_ROUND {
        let p = peer.to_string();
        let after = match st
            .with_store("dm_pull_cursor", move |s| s.pull_cursor(&p))
            .await
        {
            Ok((after, _)) => after,
            Err(_) => return Round::Err("local storage error".into(), 0),
        };
        let body = match serde_json::to_vec(&PeerPullRequest { after, limit: PAGE }) {
            Ok(b) => b,
            Err(e) => return Round::Err(e.to_string(), 0),
        };
        let mac = sign_body(key, &body);
        let (a, url, o, now) = (
            agent.clone(),
            format!("{peer}{PATH_DM_PEER_PULL}"),
            own.to_string(),
            st.now(),
        );
        let bytes = match tokio::task::spawn_blocking(move || fetch(&a, &url, &o, &mac, &body, now))
            .await
        {
            Ok(Ok(b)) => b,
            Ok(Err((e, retry_after))) => return Round::Err(e, retry_after),
            Err(e) => return Round::Err(e.to_string(), 0),
        };
        let page: PeerPullResponse = match serde_json::from_slice(&bytes) {
            Ok(p) => p,
            Err(e) => return Round::Err(format!("peer-pull answer does not parse: {e}"), 0),
        };
        if let Err(e) = check_page(&page, after) {
            return Round::Err(e, 0);
        }
        let mut ingested = 0u64;
        for item in page.items {
            let now = st.now();
            let outcome = match (item.envelope, item.ack) {
                (Some(env), None) => crate::peer::ingest_envelope(st, env, peer, now)
                    .await
                    .map(|_| ()),
                (None, Some(ack)) => crate::peer::ingest_ack(st, ack, peer, now)
                    .await
                    .map(|_| ()),
                _ => Err(ApiError::bad_request(
                    "a pulled item carries exactly one of envelope / ack",
                )),
            };
            match outcome {
                Ok(()) => ingested += 1,
                // Our own storage failed: stop without moving the cursor (retried later).
                Err(e) if e.code() == codes::INTERNAL => {
                    return Round::Err("local storage error".into(), 0);
                }
                // Refused by the same rules as a push (caps, validation, owner ack): skipped,
                // as a refused push is dropped.
                Err(e) => {
                    tracing::info!(peer = %peer, seq = item.seq, code = e.code(), "pulled DM item refused");
                    refused += 1;
                }
            }
        }
        pulled += ingested;
        let (p, next, now) = (peer.to_string(), page.next_after, st.now());
        if st
            .with_store("dm_pull_cursor_set", move |s| {
                s.set_pull_cursor(&p, next, ingested, now)
            })
            .await
            .is_err()
        {
            return Round::Err("local storage error".into(), 0);
        }
        st.dm_pull_status().update(peer, |s| {
            s.cursor = next;
            s.pulled_since_start += ingested;
            s.pulled_total += ingested;
        });
        if !page.more || next == after {
            break;
        }
    }
    Round::Ok { pulled, refused }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn page(seqs: &[u64], next_after: u64) -> PeerPullResponse {
        let items = seqs
            .iter()
            .map(|&seq| PeerPullItem {
                seq,
                envelope: None,
                ack: None,
            })
            .collect();
        PeerPullResponse {
            ok: true,
            items,
            next_after,
            more: false,
        }
    }

    #[test]
    fn pages_must_move_forward() {
        assert!(check_page(&page(&[3, 5, 9], 9), 2).is_ok());
        assert!(check_page(&page(&[], 2), 2).is_ok());
        assert!(check_page(&page(&[2], 2), 2).is_err());
        assert!(check_page(&page(&[5, 4], 5), 2).is_err());
        assert!(check_page(&page(&[5], 4), 2).is_err());
    }

    #[test]
    fn config_clamps() {
        let c = config(0);
        assert_eq!(
            (c.interval_s, c.failure_backoff_s, c.failure_backoff_cap_s),
            (1, 1, 8)
        );
        let c = config(30);
        assert!(c.failure_backoff_s <= 30 && c.failure_backoff_cap_s >= c.failure_backoff_s);
    }
}
