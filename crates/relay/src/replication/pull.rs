//! The one pull loop every puller runs (chain sync, DM feed, gate feed): wait until due, begin,
//! run one round over the [`Feed`], finish with core's `SyncWorkerState` (`finish_ok`, or
//! `finish_err` with `failure_backoff_seconds` and a 429's `Retry-After`), publish, repeat.
use std::future::Future;
use std::time::Duration;

use crate::service::Services;
use postern_core::sync::{
    SyncConfig, SyncWorkerState, DEFAULT_FAILURE_BACKOFF_CAP_S, DEFAULT_FAILURE_BACKOFF_S,
};

/// Scheduler configuration for an interval: the failure ladder starts at the interval (at most
/// core's default base) and is capped at 8 intervals (at most core's default cap).
pub fn config(interval_s: u64) -> SyncConfig {
    let interval_s = interval_s.max(1);
    let base = interval_s.min(DEFAULT_FAILURE_BACKOFF_S);
    SyncConfig {
        interval_s,
        failure_backoff_s: base,
        failure_backoff_cap_s: interval_s
            .saturating_mul(8)
            .clamp(base, DEFAULT_FAILURE_BACKOFF_CAP_S.max(base)),
    }
}

/// How one round ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Round {
    /// Caught up (or at the page limit): `pulled` items stored here, `refused` skipped by the
    /// ingestion rules; `peer_head` is the peer's head as last seen (empty if none).
    Ok {
        pulled: u64,
        refused: u64,
        peer_head: String,
    },
    /// The peer's history diverges from ours: reported, never merged.
    Fork { detail: String, peer_head: String },
    /// Failed; retried after the backoff (at least `retry_after` seconds, from a 429).
    Err { error: String, retry_after: u64 },
}

impl Round {
    pub fn err(error: impl Into<String>) -> Round {
        Round::Err {
            error: error.into(),
            retry_after: 0,
        }
    }
}

/// What every feed of one peer shares: the services, the peer and the HTTP agent.
pub struct PeerLink {
    pub svc: Services,
    pub peer: String,
    pub agent: ureq::Agent,
}

/// One peer's pull feed: how to resume, run a round, and publish each state transition.
pub trait Feed: Send + 'static {
    /// The services, the peer pulled from and the agent.
    fn link(&self) -> &PeerLink;
    /// The scheduler state to start from (persisted, or the default).
    fn resume(&mut self) -> impl Future<Output = SyncWorkerState> + Send;
    /// Our own head shown in the state (empty when the feed has none).
    fn local_head(&self) -> impl Future<Output = String> + Send;
    /// Pull pages until caught up.
    fn round(&mut self) -> impl Future<Output = Round> + Send;
    /// Publish a transition: `None` when a round begins, else how it ended.
    fn record(
        &mut self,
        state: &SyncWorkerState,
        round: Option<&Round>,
    ) -> impl Future<Output = ()> + Send;
}

/// Run `feed` forever on the schedule `cfg`.
pub async fn run<F: Feed>(mut feed: F, cfg: SyncConfig) {
    let mut state = feed.resume().await;
    let (svc, peer) = (feed.link().svc.clone(), feed.link().peer.clone());
    loop {
        let wait = state.next_sync_due_at.saturating_sub(svc.now());
        if wait > 0 {
            tokio::time::sleep(Duration::from_secs(wait)).await;
            continue;
        }
        state = state.begin(&peer, &feed.local_head().await, svc.now());
        feed.record(&state, None).await;
        let round = feed.round().await;
        let (now, head) = (svc.now(), feed.local_head().await);
        state = match &round {
            Round::Ok { .. } => state.finish_ok(&cfg, &peer, &head, false, now),
            Round::Fork { detail, .. } => state.finish_err(&cfg, &peer, detail, true, 0, now),
            Round::Err { error, retry_after } => {
                state.finish_err(&cfg, &peer, error, false, *retry_after, now)
            }
        };
        feed.record(&state, Some(&round)).await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn config_scales_with_the_interval() {
        let c = config(1);
        assert_eq!(
            (c.interval_s, c.failure_backoff_s, c.failure_backoff_cap_s),
            (1, 1, 8)
        );
        let c = config(postern_core::sync::DEFAULT_INTERVAL_S);
        assert_eq!((c.failure_backoff_s, c.failure_backoff_cap_s), (60, 1800));
        assert_eq!(config(0).interval_s, 1);
    }

    #[test]
    fn config_clamps() {
        let c = config(0);
        assert_eq!(
            (c.interval_s, c.failure_backoff_s, c.failure_backoff_cap_s),
            (1, 1, 8)
        );
        let c = config(30);
        assert!(c.failure_backoff_s <= 30 && c.failure_backoff_cap_s >= c.failure_backoff_s);
    }
}
