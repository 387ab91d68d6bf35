//! Pull cursors and scheduler state per peer: the DM feed cursor, the gate feed cursor and the
//! persisted chain pull-sync state.
use postern_core::public_view::IncompleteReason;
use postern_core::sync::SyncWorkerState;
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::error::{to_i64, to_u64};
use super::{Store, StoreError};

/// Everything kept about one peer's chain pull sync (persisted in `sync_peer_state`).
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
    /// Why the last round stopped at the peer's *view* of its chain (its verified prefix
    /// kept), if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete_view: Option<IncompleteView>,
}

/// A pull that kept the verified prefix of what a peer served and stopped there: core's
/// reason (`gap`, `redacted`, `stub`) and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncompleteView {
    pub reason: IncompleteReason,
    pub detail: String,
}

impl Store {
    /// The last feed `seq` pulled from `peer` (0 if never) and how many items were pulled from
    /// it in total.
    pub fn pull_cursor(&self, peer: &str) -> Result<(u64, u64), StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT after, pulled FROM dm_pull_cursors WHERE peer = ?1",
                params![peer],
                |r| Ok((to_u64(r.get(0)?), to_u64(r.get(1)?))),
            )
            .optional()?
            .unwrap_or((0, 0)))
    }

    /// Persist the cursor of `peer` after ingesting `items` more items (committed, fsynced).
    pub fn set_pull_cursor(
        &mut self,
        peer: &str,
        after: u64,
        items: u64,
        now: u64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO dm_pull_cursors (peer, after, pulled, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (peer) DO UPDATE SET after = excluded.after,
               pulled = dm_pull_cursors.pulled + excluded.pulled, updated_at = excluded.updated_at",
            params![peer, to_i64(after), to_i64(items), to_i64(now)],
        )?;
        Ok(())
    }

    /// How far this relay has pulled the gate feed of `peer` (0: from the start).
    pub fn gate_pull_cursor(&self, peer: &str) -> Result<u64, StoreError> {
        let v: Option<i64> = self
            .conn
            .query_row(
                "SELECT after_seq FROM gate_pull_cursor WHERE peer = ?1",
                params![peer],
                |r| r.get(0),
            )
            .optional()?;
        Ok(v.map_or(0, to_u64))
    }

    pub fn set_gate_pull_cursor(
        &mut self,
        peer: &str,
        after: u64,
        now: u64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO gate_pull_cursor (peer, after_seq, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (peer) DO UPDATE SET after_seq = excluded.after_seq, updated_at = excluded.updated_at",
            params![peer, to_i64(after), to_i64(now)],
        )?;
        Ok(())
    }

    /// The stored pull-sync state of `peer`, if any.
    pub fn sync_state_load(&self, peer: &str) -> Result<Option<PeerSync>, StoreError> {
        let row: Option<(String, i64, String, i64, String)> = self
            .conn
            .query_row(
                "SELECT state, last_retry_after, peer_head, fork_reports, incomplete_view
                 FROM sync_peer_state WHERE peer = ?1",
                params![peer],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        let Some((state, retry_after, peer_head, forks, incomplete)) = row else {
            return Ok(None);
        };
        let state = serde_json::from_str(&state)
            .map_err(|e| StoreError::Corrupt(format!("stored sync state of {peer}: {e}")))?;
        Ok(Some(PeerSync {
            state,
            last_retry_after_s: to_u64(retry_after),
            peer_head,
            fork_reports: to_u64(forks),
            // An unreadable note is only a status line: drop it rather than fail the worker.
            incomplete_view: serde_json::from_str(&incomplete).ok(),
        }))
    }

    /// Store (replace) the pull-sync state of `peer`.
    pub fn sync_state_save(
        &mut self,
        peer: &str,
        s: &PeerSync,
        now: u64,
    ) -> Result<(), StoreError> {
        let state =
            serde_json::to_string(&s.state).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let incomplete = match &s.incomplete_view {
            Some(v) => serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            None => String::new(),
        };
        self.conn.execute(
            "INSERT INTO sync_peer_state (peer, state, last_retry_after, peer_head, fork_reports, incomplete_view, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (peer) DO UPDATE SET state = excluded.state, last_retry_after = excluded.last_retry_after,
               peer_head = excluded.peer_head, fork_reports = excluded.fork_reports,
               incomplete_view = excluded.incomplete_view, updated_at = excluded.updated_at",
            params![peer, state, to_i64(s.last_retry_after_s), s.peer_head, to_i64(s.fork_reports), incomplete, to_i64(now)],
        )?;
        Ok(())
    }
}
