//! Domain operations of the relay, between the handlers and the store: every rule is core's,
//! every refusal a domain type ([`dm::DmError`], [`gate::GateFailure`], [`chain::Refusal`])
//! that `http::error` maps to HTTP in one place. Local and replicated items take the same path.
//!
//! [`Services`] is the handle the HTTP state and the background workers share: the store and the
//! chain (each on a connection of its own, behind a mutex, run on the blocking pool by
//! [`Shared::run`]; DM deposits through the group commit of [`commit`], peer-pushed chain
//! batches through that of [`push_commit`]), the spool limits and the clock.
use postern_core::caps::SpoolLimits;

use crate::store::{Outbox, Store};

pub mod chain;
pub mod commit;
pub mod dm;
pub mod gate;
pub mod heads;
pub mod pulled;
pub mod push_commit;
mod shared;

pub use chain::Chain;
pub use shared::{Internal, Shared};

/// The relay's domain handle: store, chain, spool limits and clock.
#[derive(Clone)]
pub struct Services {
    store: Shared<Store>,
    /// The Infonet chain, on a database connection of its own.
    chain: Shared<Chain>,
    /// DM deposits, committed in groups on `store`.
    deposits: commit::GroupCommit,
    /// Peer-pushed chain batches, committed in groups on `chain`.
    pushes: push_commit::PushCommit,
    limits: SpoolLimits,
    clock: fn() -> u64,
}

impl Services {
    pub fn new(store: Store, chain: Chain, limits: SpoolLimits, clock: fn() -> u64) -> Self {
        let store = Shared::new(store);
        let chain = Shared::new(chain);
        Services {
            deposits: commit::GroupCommit::new(store.clone(), limits),
            pushes: push_commit::PushCommit::new(chain.clone()),
            store,
            chain,
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

    /// The group commit of peer-pushed chain batches.
    pub fn pushes(&self) -> &push_commit::PushCommit {
        &self.pushes
    }
}
