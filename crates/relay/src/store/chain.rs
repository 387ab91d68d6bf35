//! Infonet chain storage: the one chain (`infonet_chain`), public and private ledger types
//! interleaved on one prev_hash chain as Shadowbroker stores it, each event as its exact JSON.
//! The separate private lane of earlier relays is kept, never loaded or served, as
//! `infonet_private_legacy` (see `migrations`).
use rusqlite::{params, OptionalExtension};

use super::error::{to_i64, to_u64};
use super::outbox::Job;
use super::round::write_tx;
use super::{Store, StoreError};

/// One event to store at the end of the chain.
#[derive(Debug, Clone, Copy)]
pub struct NewChainEvent<'a> {
    pub idx: u64,
    pub event_id: &'a str,
    pub prev_hash: &'a str,
    pub event_type: &'a str,
    pub node_id: &'a str,
    /// Exact JSON text of the event.
    pub json: &'a str,
}

impl Store {
    /// Store `evt` as event `idx` of the chain (see [`Store::chain_append_many`]).
    pub fn chain_append(
        &mut self,
        evt: NewChainEvent<'_>,
        genesis: &str,
        now: u64,
        replicate: bool,
    ) -> Result<(), StoreError> {
        self.chain_append_many(&[evt], genesis, now, replicate)
    }

    /// Store `evts`, consecutive events from position `evts[0].idx` on, at the end of the chain
    /// in one transaction that also checks they extend the stored chain and each other
    /// (position and prev_hash), so a stale in-memory view can never write a fork.
    /// Returns once the transaction is committed (one fsync: `synchronous=FULL`). With
    /// `replicate`, the events are queued for every outbound peer in the same transaction.
    pub fn chain_append_many(
        &mut self,
        evts: &[NewChainEvent<'_>],
        genesis: &str,
        now: u64,
        replicate: bool,
    ) -> Result<(), StoreError> {
        if evts.is_empty() {
            return Ok(());
        }
        let tx = write_tx(&mut self.conn)?;
        let head: Option<(i64, String)> = tx
            .query_row(
                "SELECT idx, event_id FROM infonet_chain ORDER BY idx DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (next, mut head_id) = match head {
            Some((i, id)) => (to_u64(i) + 1, id),
            None => (0, genesis.to_string()),
        };
        insert_linked(&tx, evts, next, &mut head_id, now, |next| {
            format!("chain moved under the relay (stored {next} events)")
        })?;
        let wake = if replicate {
            let job = Job::Events {
                events: evts.iter().map(|e| e.json.to_string()).collect(),
            };
            Self::enqueue(&tx, &self.outbox, &job, None, now)?
        } else {
            Vec::new()
        };
        tx.commit()?;
        self.wake(&wake);
        Ok(())
    }

    /// Position of `event_id` on the chain.
    pub fn chain_index_of(&self, event_id: &str) -> Result<Option<u64>, StoreError> {
        // Asked once per event of every pushed or pulled batch: prepared once, not per call.
        Ok(self
            .conn
            .prepare_cached("SELECT idx FROM infonet_chain WHERE event_id = ?1")?
            .query_row(params![event_id], |r| r.get::<_, i64>(0))
            .optional()?
            .map(to_u64))
    }

    /// Exact JSON of chain events `start..start+limit`, in order.
    pub fn chain_range(&self, start: u64, limit: u64) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT event FROM infonet_chain WHERE idx >= ?1 ORDER BY idx ASC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![to_i64(start), to_i64(limit)], |r| {
            r.get::<_, String>(0)
        })?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r?);
        }
        Ok(out)
    }

    /// Exact JSON of the newest `limit` chain events of `node_id`, newest first.
    pub fn chain_recent_by_node(
        &self,
        node_id: &str,
        limit: u64,
    ) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT event FROM infonet_chain WHERE node_id = ?1 ORDER BY idx DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![node_id, to_i64(limit)], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r?);
        }
        Ok(out)
    }

    /// Events of the separate private lane kept from before the one-chain migration (never
    /// loaded, served or merged).
    pub fn legacy_private_count(&self) -> Result<u64, StoreError> {
        let n: i64 =
            self.conn
                .query_row("SELECT COUNT(*) FROM infonet_private_legacy", [], |r| {
                    r.get(0)
                })?;
        Ok(to_u64(n))
    }

    /// Registered nodes and spooled (unexpired and expired-but-unpruned) DM messages.
    pub fn spool_sizes(&self) -> Result<(u64, u64), StoreError> {
        let nodes: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM nodes", [], |r| r.get(0))?;
        let msgs: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))?;
        Ok((to_u64(nodes), to_u64(msgs)))
    }
}

/// Insert `evts` at positions `next..` of the chain in `tx`, each checked to sit at its position
/// and to extend `head` (the id before it, updated as events are inserted); `on_gap(position)`
/// is the `Corrupt` detail when one does not.
pub(super) fn insert_linked(
    tx: &rusqlite::Connection,
    evts: &[NewChainEvent<'_>],
    mut next: u64,
    head: &mut String,
    now: u64,
    on_gap: impl Fn(u64) -> String,
) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO infonet_chain (idx, event_id, prev_hash, event_type, node_id, event, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for evt in evts {
        if next != evt.idx || *head != evt.prev_hash {
            return Err(StoreError::Corrupt(on_gap(next)));
        }
        insert.execute(params![
            to_i64(evt.idx),
            evt.event_id,
            evt.prev_hash,
            evt.event_type,
            evt.node_id,
            evt.json,
            to_i64(now)
        ])?;
        next += 1;
        evt.event_id.clone_into(head);
    }
    Ok(())
}
