//! The durable replication outbox: jobs queued in the transaction of the write that creates
//! them, one row per outbound peer, and the reads and updates of the per-peer senders.
//!
//! Plain data only: how a queued peer is woken and how dropped rows are counted are hooks set by
//! whoever runs the senders, so the store depends on no runtime.

use postern_core::api::peer::{
    ReplicateAckRequest, ReplicateEnvelopeRequest, PATH_PEER_PUSH, PATH_REPLICATE_ACK,
    PATH_REPLICATE_ENVELOPE,
};
use postern_core::dm::DmEnvelope;
use rusqlite::{params, OptionalExtension};

use super::error::{to_i64, to_u64, StoreError};
use super::wake::{Outbox, OutboxPeer};
use super::Store;

/// One outbound replication job: plain data, encoded as the exact request a peer receives.
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
    /// The peer endpoint and the exact request body of this job.
    pub fn path_and_body(&self) -> (&'static str, Vec<u8>) {
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

    /// The request body as text (what an outbox row and the DM feed hold).
    pub(super) fn body_text(&self) -> Result<(&'static str, String), StoreError> {
        let (path, body) = self.path_and_body();
        let body = String::from_utf8(body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok((path, body))
    }
}

/// One pending outbound job of one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub path: String,
    pub body: String,
    pub attempts: u64,
    pub next_attempt_at: u64,
}

impl Store {
    /// Configure where replication jobs are queued (see [`Outbox`]).
    pub fn set_outbox(&mut self, outbox: Outbox) {
        self.outbox = outbox;
    }

    /// Queue `job` for every outbound peer except `from`, inside `tx`. Returns the indices of
    /// the peers to wake once `tx` is committed. A peer holding more than the bound loses its
    /// oldest rows (counted as replication `error`).
    pub(super) fn enqueue(
        tx: &rusqlite::Connection,
        outbox: &Outbox,
        job: &Job,
        from: Option<&str>,
        now: u64,
    ) -> Result<Vec<usize>, StoreError> {
        if outbox.peers.is_empty() {
            return Ok(Vec::new());
        }
        let (path, body) = job.body_text()?;
        Self::enqueue_raw(tx, outbox, path, &body, from, now)
    }

    /// Queue the request `path`/`body` for every outbound peer except `from`, inside `tx`
    /// (same bound and drop accounting as [`Store::enqueue`]).
    pub(super) fn enqueue_raw(
        tx: &rusqlite::Connection,
        outbox: &Outbox,
        path: &str,
        body: &str,
        from: Option<&str>,
        now: u64,
    ) -> Result<Vec<usize>, StoreError> {
        let mut woken = Vec::new();
        for (i, OutboxPeer { url: peer, .. }) in outbox.peers.iter().enumerate() {
            if Some(peer.as_str()) == from {
                continue;
            }
            tx.prepare_cached(
                "INSERT INTO replication_outbox (peer, path, body, attempts, next_attempt_at, created_at)
                 VALUES (?1, ?2, ?3, 0, ?4, ?4)",
            )?
            .execute(params![peer, path, body, to_i64(now)])?;
            let len = peer_len(tx, peer)?;
            let excess = to_u64(len).saturating_sub(outbox.cap_per_peer);
            if excess > 0 {
                let dropped = tx.execute(
                    "DELETE FROM replication_outbox WHERE id IN
                     (SELECT id FROM replication_outbox WHERE peer = ?1 ORDER BY id ASC LIMIT ?2)",
                    params![peer, to_i64(excess)],
                )?;
                tracing::warn!(peer = %peer, dropped, "replication outbox full; dropped the oldest jobs");
                if let Some(count) = &outbox.on_dropped {
                    count(dropped as u64);
                }
            }
            woken.push(i);
        }
        Ok(woken)
    }

    /// Oldest pending job of `peer`.
    pub fn outbox_head(&self, peer: &str) -> Result<Option<OutboxRow>, StoreError> {
        Ok(self.outbox_window(peer, 1)?.into_iter().next())
    }

    /// The `n` oldest pending jobs of `peer`, oldest first.
    pub fn outbox_window(&self, peer: &str, n: usize) -> Result<Vec<OutboxRow>, StoreError> {
        self.outbox_after(peer, i64::MIN, n)
    }

    /// The `n` oldest pending jobs of `peer` queued after the job `after` (its id), oldest
    /// first: the rows a sender starts behind the ones it has in flight.
    pub fn outbox_after(
        &self,
        peer: &str,
        after: i64,
        n: usize,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, path, body, attempts, next_attempt_at FROM replication_outbox
             WHERE peer = ?1 AND id > ?2 ORDER BY id ASC LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![peer, after, to_i64(n as u64)], |r| {
            Ok(OutboxRow {
                id: r.get(0)?,
                path: r.get(1)?,
                body: r.get(2)?,
                attempts: to_u64(r.get(3)?),
                next_attempt_at: to_u64(r.get(4)?),
            })
        })?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r?);
        }
        Ok(out)
    }

    /// The job was delivered (or finally refused): forget it.
    pub fn outbox_done(&mut self, id: i64) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM replication_outbox WHERE id = ?1", params![id])?;
        Ok(())
    }

    /// The job failed retryably: record the attempt and when to try again.
    pub fn outbox_retry(
        &mut self,
        id: i64,
        attempts: u64,
        next_attempt_at: u64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE replication_outbox SET attempts = ?2, next_attempt_at = ?3 WHERE id = ?1",
            params![id, to_i64(attempts), to_i64(next_attempt_at)],
        )?;
        Ok(())
    }

    /// On startup: every pending job of `peer` is due now. Returns how many are pending.
    pub fn outbox_resume(&mut self, peer: &str, now: u64) -> Result<u64, StoreError> {
        self.conn.execute(
            "UPDATE replication_outbox SET next_attempt_at = ?2 WHERE peer = ?1 AND next_attempt_at > ?2",
            params![peer, to_i64(now)],
        )?;
        Ok(to_u64(peer_len(&self.conn, peer)?))
    }

    /// Pending outbound jobs over all peers.
    pub fn outbox_len(&self) -> Result<u64, StoreError> {
        let n: i64 = self.conn.query_row(
            "SELECT COALESCE(SUM(n), 0) FROM replication_outbox_counts",
            [],
            |r| r.get(0),
        )?;
        Ok(to_u64(n))
    }
}

/// Pending jobs of `peer`: one row of the trigger-maintained `replication_outbox_counts`
/// (migration 12), not a count of the peer's jobs.
fn peer_len(conn: &rusqlite::Connection, peer: &str) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT n FROM replication_outbox_counts WHERE peer = ?1")?
        .query_row(params![peer], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}
