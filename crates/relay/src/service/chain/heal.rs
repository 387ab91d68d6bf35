//! Healing a fork of the one chain with core's rule (`postern_core::fork`): when a peer's
//! events extend an event behind our head, the branch whose first event has the smaller id
//! wins; if theirs wins, our pending events after the fork point (never anything we signed in a
//! tree head) are re-linked onto it, the result verified from the chain state at the fork point
//! and stored in one transaction; if ours wins, the peer is told `forked` and adopts ours when
//! it pulls.
use std::collections::BTreeMap;

use postern_core::canonical::GENESIS_HASH;
use postern_core::event::ChainEvent;
use postern_core::fork::{self, ForkError, Resolution};
use postern_core::json;
use postern_core::verify::{EventRejection, VerifyOptions};

use super::{replay, Chain, ForkStats};
use crate::store::{NewChainEvent, StoreError};

/// Stored events read per page when collecting our branch.
const PAGE: u64 = 1_000;

/// What meeting a fork did.
#[derive(Debug, Clone, PartialEq)]
pub enum Healed {
    /// Their branch won: the first `taken` events of the run are now on our chain, followed by
    /// `relinked` of our own events.
    Adopted { taken: usize, relinked: usize },
    /// Our branch won: nothing changed.
    Kept,
    /// Not resolvable (a split below our signed head, or an unlinked branch).
    Refused(String),
    /// Their branch failed verification at `index` (within the run).
    Invalid {
        index: usize,
        rejection: EventRejection,
    },
}

impl ForkStats {
    /// What `self` counted beyond `before` (counters only grow).
    fn since(self, before: ForkStats) -> ForkStats {
        ForkStats {
            adopted: self.adopted.saturating_sub(before.adopted),
            kept: self.kept.saturating_sub(before.kept),
            relinked: self.relinked.saturating_sub(before.relinked),
            dropped: self.dropped.saturating_sub(before.dropped),
            splits: self.splits.saturating_sub(before.splits),
        }
    }

    /// Add `d` to the counters.
    fn add(&mut self, d: ForkStats) {
        self.adopted += d.adopted;
        self.kept += d.kept;
        self.relinked += d.relinked;
        self.dropped += d.dropped;
        self.splits += d.splits;
    }
}

/// The longest prefix of `events` in which each event extends the one before it.
fn linked_run(events: &[ChainEvent]) -> &[ChainEvent] {
    let n = events
        .windows(2)
        .position(|w| w[1].prev_hash != w[0].event_id)
        .map_or(events.len(), |i| i + 1);
    events.get(..n).unwrap_or(events)
}

impl Chain {
    /// Up to `n` stored events from index `from` (not past `total`), parsed, in pages.
    fn read_events(&self, from: u64, n: u64, total: u64) -> Result<Vec<ChainEvent>, StoreError> {
        let end = from.saturating_add(n).min(total);
        let mut out = Vec::new();
        let mut at = from;
        while at < end {
            let texts = self.store.chain_range(at, PAGE.min(end - at))?;
            if texts.is_empty() {
                break;
            }
            at += texts.len() as u64;
            for t in texts {
                let v = json::parse(t.as_bytes())
                    .map_err(|e| StoreError::Corrupt(format!("stored event: {e}")))?;
                out.push(
                    ChainEvent::from_value(&v)
                        .map_err(|e| StoreError::Corrupt(format!("stored event: {e}")))?,
                );
            }
        }
        Ok(out)
    }

    /// The fork counters.
    pub fn fork_stats(&self) -> ForkStats {
        self.forks
    }

    /// The fork counters per peer whose events met the fork, since start.
    pub fn peer_fork_stats(&self) -> &BTreeMap<String, ForkStats> {
        &self.peer_forks
    }

    /// [`Chain::meet_fork`], counted for `peer` as well (pushed by it or pulled from it).
    pub(super) fn heal(
        &mut self,
        theirs: &[ChainEvent],
        now: u64,
        peer: Option<&str>,
    ) -> Result<Healed, StoreError> {
        let before = self.forks;
        let healed = self.meet_fork(theirs, now);
        if let Some(peer) = peer {
            let d = self.forks.since(before);
            if d != ForkStats::default() {
                self.peer_forks.entry(peer.to_string()).or_default().add(d);
            }
        }
        healed
    }

    /// Meet a fork: `theirs` starts with an event whose `prev_hash` is a stored event behind our
    /// head (or genesis). Only its linked run is considered.
    fn meet_fork(&mut self, theirs: &[ChainEvent], now: u64) -> Result<Healed, StoreError> {
        let theirs = linked_run(theirs);
        let Some(first) = theirs.first() else {
            return Ok(Healed::Refused("no events".into()));
        };
        let fork_at = if first.prev_hash == GENESIS_HASH {
            0
        } else {
            match self.store.chain_index_of(&first.prev_hash)? {
                Some(i) => i + 1,
                None => return Ok(Healed::Refused("fork point not held".into())),
            }
        };
        let total = self.loaded.state.len() as u64;
        // Decide from our first event after the fork point before reading the rest: a peer
        // sending losing branches costs one indexed read each, not a read of our whole suffix.
        let our_first = self.read_events(fork_at, 1, total)?;
        if let (Some(o), Some(t)) = (our_first.first(), theirs.first()) {
            if o.event_id != t.event_id
                && fork::winner(&o.event_id, &t.event_id) == fork::Winner::Ours
            {
                self.forks.kept += 1;
                return Ok(Healed::Kept);
            }
        }
        let ours = self.read_events(fork_at, total.saturating_sub(fork_at), total)?;
        let settled = self.latest_tree_head()?.map_or(0, |h| h.head.size);
        let keep = match fork::resolve(fork_at, settled, &ours, theirs) {
            Ok(Resolution::Keep) => {
                self.forks.kept += 1;
                return Ok(Healed::Kept);
            }
            Ok(Resolution::Adopt { keep, .. }) => keep,
            Err(e @ ForkError::BelowSettled { .. }) => {
                self.forks.splits += 1;
                tracing::warn!(fork_at, settled, "fork below our signed tree head refused");
                return Ok(Healed::Refused(e.to_string()));
            }
            Err(e) => return Ok(Healed::Refused(e.to_string())),
        };
        let (mut scratch, _) = replay(&self.store, fork_at)?;
        let opts = VerifyOptions {
            now,
            max_event_age_s: 0,
            batch: false,
        };
        let adopted = match fork::adopt(&mut scratch.state, theirs, &keep, &opts) {
            Ok(a) => a,
            Err(e) => {
                return Ok(Healed::Invalid {
                    index: e.index,
                    rejection: e.rejection,
                })
            }
        };
        let texts: Vec<String> = adopted
            .events
            .iter()
            .map(|e| e.to_value().to_json_ordered())
            .collect();
        let rows: Vec<NewChainEvent<'_>> = adopted
            .events
            .iter()
            .zip(&texts)
            .zip(fork_at..)
            .map(|((evt, json), idx)| NewChainEvent {
                idx,
                event_id: &evt.event_id,
                prev_hash: &evt.prev_hash,
                event_type: &evt.event_type,
                node_id: &evt.node_id,
                json,
            })
            .collect();
        self.store
            .chain_replace_suffix(fork_at, &rows, theirs.len(), GENESIS_HASH, now)?;
        for r in &rows {
            scratch.stored(r.event_type, r.json);
        }
        self.loaded = scratch;
        self.merkle = None;
        // The store dropped a checkpoint above the fork point with the replaced events.
        if self.checkpoint_height > fork_at {
            self.checkpoint_height = 0;
        }
        self.maybe_checkpoint(now);
        self.forks.adopted += 1;
        self.forks.relinked += adopted.relinked as u64;
        self.forks.dropped += adopted.dropped.len() as u64;
        for (evt, why) in &adopted.dropped {
            tracing::warn!(
                event_id = %evt.event_id, node = %evt.node_id, reason = %why.reason,
                "our event no longer fits the winning branch of a fork; dropped"
            );
        }
        tracing::info!(
            fork_at,
            taken = theirs.len(),
            relinked = adopted.relinked,
            "fork healed: adopted the peer's branch"
        );
        Ok(Healed::Adopted {
            taken: theirs.len(),
            relinked: adopted.relinked,
        })
    }
}

#[cfg(test)]
mod tests;
