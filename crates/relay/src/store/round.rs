//! Group commit on one connection: a **round** is one `BEGIN IMMEDIATE` transaction in which
//! several writes run, each in a savepoint of its own ([`write_tx`]), and which is committed
//! (one fsync, `synchronous=FULL`) by [`Store::commit_round`]. Outside a round every write is its
//! own `BEGIN IMMEDIATE` transaction, as before. Outbound senders woken by a write inside a round
//! are woken only after the round committed (they read the outbox on another connection).
use std::ops::Deref;

use rusqlite::{Connection, Savepoint, Transaction, TransactionBehavior};

use super::{Store, StoreError};

/// A write transaction: a top-level `BEGIN IMMEDIATE` one, or a savepoint inside a round.
pub(super) enum WriteTx<'c> {
    Top(Transaction<'c>),
    Nested(Savepoint<'c>),
}

impl Deref for WriteTx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        match self {
            WriteTx::Top(t) => t,
            WriteTx::Nested(s) => s,
        }
    }
}

impl WriteTx<'_> {
    /// Commit (a top-level transaction: fsynced) or release the savepoint (committed with the
    /// round).
    pub(super) fn commit(self) -> Result<(), StoreError> {
        match self {
            WriteTx::Top(t) => t.commit()?,
            WriteTx::Nested(s) => s.commit()?,
        }
        Ok(())
    }
}

/// Start a write on `conn`: its own immediate transaction, or a savepoint in the open round.
pub(super) fn write_tx(conn: &mut Connection) -> Result<WriteTx<'_>, StoreError> {
    if conn.is_autocommit() {
        Ok(WriteTx::Top(conn.transaction_with_behavior(
            TransactionBehavior::Immediate,
        )?))
    } else {
        Ok(WriteTx::Nested(conn.savepoint()?))
    }
}

impl Store {
    /// Open a round: the writes until [`Store::commit_round`] share one transaction.
    pub fn begin_round(&mut self) -> Result<(), StoreError> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        self.round_open = true;
        Ok(())
    }

    /// Whether a round is open.
    pub fn in_round(&self) -> bool {
        self.round_open
    }

    /// Commit the open round (one fsync) and wake the senders its writes queued jobs for. On
    /// an error nothing of the round is stored (it is rolled back).
    pub fn commit_round(&mut self) -> Result<(), StoreError> {
        if let Err(e) = self.conn.execute_batch("COMMIT") {
            self.rollback_round();
            return Err(e.into());
        }
        self.round_open = false;
        let woken = std::mem::take(&mut *self.lock_deferred());
        self.wake(&woken);
        Ok(())
    }

    /// Start one batch of the open round (a savepoint named apart from those of [`write_tx`]):
    /// [`Store::release_batch`] keeps its writes in the round, [`Store::undo_batch`] drops
    /// only them.
    pub fn begin_batch(&mut self) -> Result<(), StoreError> {
        self.conn.execute_batch("SAVEPOINT round_batch")?;
        Ok(())
    }

    /// Keep the writes of the batch begun by [`Store::begin_batch`] in the round.
    pub fn release_batch(&mut self) -> Result<(), StoreError> {
        self.conn.execute_batch("RELEASE round_batch")?;
        Ok(())
    }

    /// Drop the writes of the batch begun by [`Store::begin_batch`]; the round's earlier
    /// writes stay. The senders its writes would have woken are woken after the round all the
    /// same (a wake-up finds nothing new: harmless).
    pub fn undo_batch(&mut self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("ROLLBACK TO round_batch; RELEASE round_batch")?;
        Ok(())
    }

    /// Roll the open round back (if one is open): none of its writes is stored.
    pub fn rollback_round(&mut self) {
        self.round_open = false;
        if !self.conn.is_autocommit() {
            if let Err(e) = self.conn.execute_batch("ROLLBACK") {
                tracing::error!(error = %e, "rolling back a write round failed");
            }
        }
        self.lock_deferred().clear();
    }

    fn lock_deferred(&self) -> std::sync::MutexGuard<'_, Vec<usize>> {
        self.deferred_wake.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wake the senders of `peers` now, or once the open round is committed.
    pub(super) fn wake(&self, peers: &[usize]) {
        if peers.is_empty() {
            return;
        }
        if self.in_round() {
            let mut d = self.lock_deferred();
            for &i in peers {
                if !d.contains(&i) {
                    d.push(i);
                }
            }
            return;
        }
        for &i in peers {
            if let Some(p) = self.outbox.peers.get(i) {
                (p.wake)(());
            }
        }
    }
}
