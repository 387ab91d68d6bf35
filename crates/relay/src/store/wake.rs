//! How the store reaches replication without depending on it: the outbound peers, their wake-up
//! hooks and the per-peer bound ([`Outbox`]), set once by the relay at start-up.
use std::sync::Arc;

/// Default bound of the outbox rows kept per peer; beyond it the oldest are dropped.
pub const DEFAULT_OUTBOX_CAP_PER_PEER: u64 = 10_000;

/// A hook called by the store: wake a peer's sender, count dropped rows.
pub type Hook<A> = Arc<dyn Fn(A) + Send + Sync>;

/// One outbound peer of the outbox and how to wake its sender once a job is committed.
#[derive(Clone)]
pub struct OutboxPeer {
    /// Normalised peer URL (the `peer` column).
    pub url: String,
    pub wake: Hook<()>,
}

/// Where this store connection queues outbound replication jobs: the outbound peers (with the
/// wake-up of each peer's sender), the per-peer row bound and the hook counting dropped rows.
#[derive(Clone)]
pub struct Outbox {
    pub peers: Vec<OutboxPeer>,
    pub cap_per_peer: u64,
    /// Called with the number of rows dropped at the per-peer bound.
    pub on_dropped: Option<Hook<u64>>,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox {
            peers: Vec::new(),
            cap_per_peer: DEFAULT_OUTBOX_CAP_PER_PEER,
            on_dropped: None,
        }
    }
}
