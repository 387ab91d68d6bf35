//! Storage side of healing a fork of the one chain: reading the chain prefix up to a fork point
//! (with each event's received time) and replacing the suffix after it by the adopted branch in
//! one transaction, queueing the re-linked events for the peers.
use rusqlite::{params, TransactionBehavior};

use super::chain::{insert_linked, NewChainEvent};
use super::error::{to_i64, to_u64};
use super::outbox::Job;
use super::{Store, StoreError};

impl Store {
    /// Visit chain events `0..limit` in order: `(idx, json, received_at)`.
    pub fn chain_prefix_for_each(
        &self,
        limit: u64,
        mut f: impl FnMut(u64, &str, u64) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT idx, event, received_at FROM infonet_chain WHERE idx < ?1 ORDER BY idx ASC",
        )?;
        let mut rows = stmt.query(params![to_i64(limit)])?;
        while let Some(row) = rows.next()? {
            let idx: i64 = row.get(0)?;
            let json: String = row.get(1)?;
            let received_at: i64 = row.get(2)?;
            f(to_u64(idx), &json, to_u64(received_at))?;
        }
        Ok(())
    }

    /// Replace every chain event from index `fork_at` on by `evts` (which must start at
    /// `fork_at` and extend the event before it), in one transaction; `evts[replicate_from..]`
    /// are queued for every outbound peer. Nothing changes if any check fails.
    pub fn chain_replace_suffix(
        &mut self,
        fork_at: u64,
        evts: &[NewChainEvent<'_>],
        replicate_from: usize,
        genesis: &str,
        now: u64,
    ) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let before: String = if fork_at == 0 {
            genesis.to_string()
        } else {
            tx.query_row(
                "SELECT event_id FROM infonet_chain WHERE idx = ?1",
                params![to_i64(fork_at - 1)],
                |r| r.get(0),
            )?
        };
        tx.execute(
            "DELETE FROM infonet_chain WHERE idx >= ?1",
            params![to_i64(fork_at)],
        )?;
        let mut head = before;
        insert_linked(&tx, evts, fork_at, &mut head, now, |next| {
            format!("adopted branch does not link at position {next}")
        })?;
        let relinked: Vec<String> = evts
            .get(replicate_from..)
            .unwrap_or_default()
            .iter()
            .map(|e| e.json.to_string())
            .collect();
        let wake = if relinked.is_empty() {
            Vec::new()
        } else {
            Self::enqueue(
                &tx,
                &self.outbox,
                &Job::Events { events: relinked },
                None,
                now,
            )?
        };
        tx.commit()?;
        self.wake(&wake);
        Ok(())
    }
}
