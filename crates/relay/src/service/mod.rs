//! Domain operations of the relay, between the handlers and the store: every rule is core's,
//! every refusal a domain type ([`dm::DmError`], [`gate::GateFailure`], [`chain::Refusal`])
//! that `http::error` maps to HTTP in one place. Local and replicated items take the same path.
//!
//! [`Services`] is the handle the HTTP state and the background workers share: the store and the
//! chain (each on a connection of its own, behind a mutex, run on the blocking pool by
//! [`Shared::run`]; DM deposits through the group commit of [`commit`]), the spool limits and
//! the clock.
use std::sync::{Arc, Mutex, MutexGuard};

use postern_core::caps::SpoolLimits;

use crate::store::{Outbox, Store, StoreError};

pub mod chain;
pub mod commit;
pub mod dm;
pub mod gate;
pub mod heads;
pub mod pulled;

pub use chain::Chain;

/// A storage failure, already logged where it happened (answered 500 `internal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("internal storage error")]
pub struct Internal;

/// A value used from async code behind a mutex: the one place that moves blocking storage
/// work to the blocking pool.
pub struct Shared<T>(Arc<Mutex<T>>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(Arc::clone(&self.0))
    }
}

impl<T: Send + 'static> Shared<T> {
    pub fn new(value: T) -> Self {
        Shared(Arc::new(Mutex::new(value)))
    }

    /// Lock on the current thread (startup configuration only).
    pub fn lock(&self) -> MutexGuard<'_, T> {
        // A panic while holding the lock would poison it; the connection itself stays
        // consistent (an unfinished transaction rolls back on drop), so keep going.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run `f` on the blocking pool; a storage error or a failed task is logged under `op`.
    pub async fn run<R, F>(&self, op: &'static str, f: F) -> Result<R, Internal>
    where
        R: Send + 'static,
        F: FnOnce(&mut T) -> Result<R, StoreError> + Send + 'static,
    {
        let shared = self.clone();
        let joined = tokio::task::spawn_blocking(move || f(&mut shared.lock())).await;
        match joined {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                tracing::error!(op, error = %e, "storage error");
                Err(Internal)
            }
            Err(e) => {
                tracing::error!(op, error = %e, "storage task failed");
                Err(Internal)
            }
        }
    }
}

/// The relay's domain handle: store, chain, spool limits and clock.
#[derive(Clone)]
pub struct Services {
    store: Shared<Store>,
    /// The Infonet chain, on a database connection of its own.
    chain: Shared<Chain>,
    /// DM deposits, committed in groups on `store`.
    deposits: commit::GroupCommit,
    limits: SpoolLimits,
    clock: fn() -> u64,
}

impl Services {
    pub fn new(store: Store, chain: Chain, limits: SpoolLimits, clock: fn() -> u64) -> Self {
        let store = Shared::new(store);
        Services {
            deposits: commit::GroupCommit::new(store.clone(), limits),
            store,
            chain: Shared::new(chain),
            limits,
            clock,
        }
    }

    /// Queue replication jobs of both connections in `outbox` (see [`Outbox`]).
    pub fn set_outbox(&self, outbox: Outbox) {
        self.store.lock().set_outbox(outbox.clone());
        self.chain.lock().set_outbox(outbox);
    }

    pub fn now(&self) -> u64 {
        (self.clock)()
    }

    pub fn limits(&self) -> SpoolLimits {
        self.limits
    }

    pub fn store(&self) -> &Shared<Store> {
        &self.store
    }

    pub fn chain(&self) -> &Shared<Chain> {
        &self.chain
    }
}
