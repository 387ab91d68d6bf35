//! In-memory status views of the pullers, served by `GET /api/mesh/infonet/sync-status` and
//! `GET /api/mesh/dm/pull-status` (no message data). The persisted state lives in the store.
use std::collections::BTreeMap;
use std::sync::Mutex;

use postern_core::sync::SyncWorkerState;
use serde::Serialize;

use crate::store::PeerSync;

/// Latest chain pull-sync state per peer (a mirror of what is persisted).
#[derive(Debug, Default)]
pub struct SyncStatus {
    peers: Mutex<BTreeMap<String, PeerSync>>,
}

impl SyncStatus {
    pub fn set(&self, peer: &str, state: &PeerSync) {
        let mut g = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        g.insert(peer.to_string(), state.clone());
    }

    fn snapshot(&self) -> BTreeMap<String, PeerSync> {
        self.peers.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The `sync-status` answer.
    pub fn response(&self) -> SyncStatusResponse {
        let peers: Vec<PeerSyncStatus> = self
            .snapshot()
            .into_iter()
            .map(|(peer_url, state)| PeerSyncStatus { peer_url, state })
            .collect();
        let fork_detected = peers.iter().any(|p| p.state.state.fork_detected);
        SyncStatusResponse {
            peers,
            fork_detected,
        }
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

/// One peer's DM pull state: core's scheduler state, the persisted cursor and counters.
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

/// Latest DM pull state per peer (memory; cursors live in SQLite).
#[derive(Debug, Default)]
pub struct PullStatus {
    peers: Mutex<BTreeMap<String, PeerPullStatus>>,
}

impl PullStatus {
    pub fn update(&self, peer: &str, f: impl FnOnce(&mut PeerPullStatus)) {
        let mut g = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        let e = g.entry(peer.to_string()).or_insert_with(|| PeerPullStatus {
            peer_url: peer.to_string(),
            ..Default::default()
        });
        f(e);
    }

    /// The `pull-status` answer.
    pub fn response(&self) -> PullStatusResponse {
        PullStatusResponse {
            peers: self
                .peers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .values()
                .cloned()
                .collect(),
        }
    }
}

#[derive(Serialize)]
pub struct PullStatusResponse {
    pub peers: Vec<PeerPullStatus>,
}
