//! Writing the chain-state checkpoint `load` starts from.
//!
//! **Checkpoint policy.** A checkpoint is written, in a transaction of its own after the
//! appends it covers are committed, whenever the chain has grown [`Chain::checkpoint_every`]
//! events past the last one (default `DEFAULT_CHECKPOINT_EVERY`), at start-up when events
//! had to be replayed, and on a clean shutdown. A crash between an append and the next
//! checkpoint leaves an older checkpoint: the next start replays the events above it. A fork
//! heal that replaces events below the checkpoint drops it in the same transaction.
use super::load::StartupReport;
use super::Chain;
use crate::store::CheckpointRow;

impl Chain {
    /// How the chain state was built when this chain was opened.
    pub fn startup(&self) -> &StartupReport {
        &self.startup
    }

    /// Core's snapshot of the chain state in memory (what a checkpoint stores).
    pub fn state_snapshot(&self) -> Vec<u8> {
        self.loaded.state.snapshot()
    }

    /// Write a checkpoint every `n` appended events (at least 1).
    pub fn set_checkpoint_every(&mut self, n: u64) {
        self.checkpoint_every = n.max(1);
    }

    /// Events appended between two checkpoints.
    pub fn checkpoint_every(&self) -> u64 {
        self.checkpoint_every
    }

    /// Height of the last checkpoint written or restored (0: none).
    pub fn checkpoint_height(&self) -> u64 {
        self.checkpoint_height
    }

    /// Write a checkpoint of the current state unless the stored one is already at its height.
    /// A failure is logged, never fatal (the next start replays more).
    pub fn write_checkpoint(&mut self, now: u64) {
        let state = &self.loaded.state;
        let height = state.len() as u64;
        if height == 0 || height == self.checkpoint_height {
            return;
        }
        let row = CheckpointRow {
            height,
            head: state.head().to_string(),
            snapshot: state.snapshot(),
            texts_digest: self.loaded.texts.finish().to_vec(),
        };
        match self.store.chain_checkpoint_write(&row, now) {
            Ok(()) => self.checkpoint_height = height,
            Err(e) => tracing::warn!(height, error = %e, "writing the chain checkpoint failed"),
        }
    }

    /// Write a checkpoint if the chain moved [`Chain::checkpoint_every`] events from the last.
    pub(super) fn maybe_checkpoint(&mut self, now: u64) {
        let len = self.loaded.state.len() as u64;
        if len.abs_diff(self.checkpoint_height) >= self.checkpoint_every {
            self.write_checkpoint(now);
        }
    }
}
