//! SQLite storage of the relay, one file per concern behind one narrow interface.
//!
//! The interface a second backend would implement is the `pub` methods of [`Store`], grouped
//! per concern: [`nonce`] (single-use request nonces), [`dm`] (keys, spool, tombstones, DM
//! feed), [`gate`] (epoch chains, messages, parking, gate feed), [`chain`] (the one Infonet
//! chain) and [`checkpoint`] (its start-up checkpoint), [`heads`] (signed tree heads, peer pins, evidence), [`outbox`] (durable replication jobs) and [`cursors`] (per-peer pull state). Every
//! input and output is plain data; the store depends on no HTTP, replication or async runtime
//! code (replication jobs are queued as [`Job`] values, workers are woken through hooks).
//!
//! One connection, used behind a mutex, so every check-then-write runs inside a single
//! `BEGIN IMMEDIATE` transaction and is atomic. WAL mode with `synchronous=FULL`: a write is on
//! disk before the HTTP response that acknowledges it is sent. Every function takes `now`
//! (seconds since the Unix epoch) from the caller; the store never reads the clock itself.
pub mod chain;
mod chain_fork;
pub mod checkpoint;
pub mod cursors;
mod db;
pub mod dm;
mod error;
pub mod gate;
pub mod heads;
mod migrations;
mod nodes;
pub mod nonce;
pub mod outbox;
mod round;
#[cfg(test)]
mod tests;
mod wake;

pub use chain::NewChainEvent;
pub use checkpoint::CheckpointRow;
pub use cursors::{IncompleteView, PeerSync};
pub use db::{Store, DB_FILE};
pub use dm::{Deposit, DepositRequest, FeedRow};
pub use error::StoreError;
pub use gate::{
    EpochOutcome, EpochsPage, GateDeposit, GateRead, PeerGateOutcome, GATE_PARK_MAX_PER_GATE,
    GATE_PARK_MAX_TOTAL, GATE_PARK_TTL_SECS,
};
pub use heads::PeerHeadRow;
pub use nodes::NodeRecord;
pub use nonce::{Nonce, NonceUse, Replayed};
pub use outbox::{Job, OutboxRow};
pub use wake::{Hook, Outbox, OutboxPeer, DEFAULT_OUTBOX_CAP_PER_PEER};
