//! The chain sync view's messages and scheduler settings: what a round reports to the view
//! (`super::round`) and what the view acts on.
use postern_core::sync::SyncConfig;

use super::fetch::RoundError;
use crate::model::chain::{EventSummary, FromWorker, MerkleCheck, SyncHead};
use crate::model::heads::{HeadRecord, HeadVerdict};

/// Scheduler settings of the browser: look for new events every 30 s; after failures back off
/// from 5 s up to 5 min (a longer `Retry-After` wins).
pub const SYNC_CONFIG: SyncConfig = SyncConfig {
    interval_s: 30,
    failure_backoff_s: 5,
    failure_backoff_cap_s: 300,
};
/// What the relay last told us.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RelayInfo {
    pub reachable: bool,
    pub total: u64,
    pub head: String,
    pub merkle_root: String,
}

pub enum Msg {
    Loaded(Result<SyncHead, String>),
    Tick,
    SyncNow,
    /// The verifier was reset (replay from genesis).
    Reset,
    /// The verifier was restored from the stored snapshot at this height (not re-verified).
    Resumed(u64),
    /// Explorer rows of stored events below the restored height (read back after the round,
    /// in key ranges from the top down), for the resume `epoch` they were read in.
    Backfill(u32, Vec<EventSummary>),
    Relay(RelayInfo),
    /// A verifier answer: accepted events (already stored when `stored`).
    Verified(FromWorker),
    Phase(&'static str),
    Done(Result<(SyncHead, MerkleCheck), (SyncHead, RoundError)>),
    /// The relay's signed tree head, checked against the pin and the verified ids.
    Head(HeadVerdict, HeadRecord),
    /// The copy followed a fork heal (the note in words; kept until the page reloads).
    Rewound(String),
}
