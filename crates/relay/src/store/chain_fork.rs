//! Storage side of healing a fork of the one chain: replacing the suffix after a fork point by
//! the adopted branch in one transaction (dropping a checkpoint above the fork point), queueing
//! the re-linked events for the peers.
use rusqlite::params;

use super::chain::{insert_linked, NewChainEvent};
use super::error::to_i64;
use super::outbox::Job;
use super::round::write_tx;
use super::{Store, StoreError};

impl Store {
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
        let tx = write_tx(&mut self.conn)?;
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
        // A checkpoint above the fork point covers events replaced here.
        tx.execute(
            "DELETE FROM chain_checkpoint WHERE height > ?1",
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
