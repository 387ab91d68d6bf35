//! Group commit of pushed batches on the chain's connection: a **round** applies several
//! prepared batches in order under the chain's lock (each exactly as [`Chain::push_prepared_from`]
//! applies one, core's rules unchanged) inside one database transaction, committed once (one
//! fsync) by [`Chain::commit_round`]. Each batch's rows are written in a savepoint of the round,
//! so the round sees its own writes (duplicate checks, fork heal) as a lone batch would. A
//! failed round is rolled back whole and the in-memory chain reloaded from the database, so
//! memory never runs ahead of disk and nothing of the round is reported stored.
use super::push::Prepared;
use super::{load, Chain};
use crate::store::StoreError;

impl Chain {
    /// Open a round: the batches pushed until [`Chain::commit_round`] share one transaction.
    pub fn begin_round(&mut self) -> Result<(), StoreError> {
        self.store.begin_round()
    }

    /// Commit the open round (one fsync). On an error nothing of the round is stored and the
    /// in-memory chain is reloaded from the database.
    pub fn commit_round(&mut self) -> Result<(), StoreError> {
        let committed = self.store.commit_round();
        if committed.is_err() {
            self.reload();
        }
        committed
    }

    /// Run `f` (one batch of the open round) in a savepoint of its own. When `f` fails, only
    /// what it wrote is undone and the in-memory chain is reloaded from the round's
    /// transaction, so the round's other batches keep their writes and verdicts (`Ok(Err)`).
    /// `Err`: the batch could not be undone alone; the round must be rolled back whole.
    pub fn in_batch<R>(
        &mut self,
        f: impl FnOnce(&mut Chain) -> Result<R, StoreError>,
    ) -> Result<Result<R, StoreError>, StoreError> {
        self.store.begin_batch()?;
        let failed = match f(self) {
            Ok(r) => match self.store.release_batch() {
                Ok(()) => return Ok(Ok(r)),
                Err(e) => e,
            },
            Err(e) => e,
        };
        self.store.undo_batch()?;
        self.reload();
        Ok(Err(failed))
    }

    /// Give the open round up: nothing of it is stored; the in-memory chain is reloaded.
    pub fn rollback_round(&mut self) {
        self.store.rollback_round();
        self.reload();
    }

    /// Rebuild the in-memory chain from what is stored (after a failed write).
    fn reload(&mut self) {
        match load(&self.store) {
            Ok(fresh) => self.loaded = fresh,
            Err(e) => tracing::error!(error = %e, "reloading the chain failed"),
        }
        self.merkle = None;
        // A checkpoint written in the rolled-back round is gone: write the next one soon.
        self.checkpoint_height = 0;
    }

    /// Whether [`Chain::push_prepared_from`] would refuse `p` right now only because its first
    /// new event extends an event this relay does not hold (a gap: 409 `forked`, "extends an
    /// event this relay does not hold"). A batch pushed while its predecessor is still on its
    /// way may wait for it instead (`service::push_commit`).
    pub fn waits_for_predecessor(&self, p: &Prepared) -> Result<bool, StoreError> {
        match p.first_new(|id| self.store.chain_index_of(id).map(|i| i.is_some()))? {
            Some(prev) => Ok(prev != self.loaded.state.head() && !self.holds(prev)?),
            None => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests;
