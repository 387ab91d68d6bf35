//! Relay-to-relay replication, run in the background on the [`Services`] handle (never the
//! HTTP state): durable outbound pushes ([`push`], one sender per peer draining the store's
//! outbox), and pulls ([`pull`]: one generic loop over the chain, DM and gate [`feeds`], and
//! the peers' signed tree [`heads`]).
//! Inbound peer endpoints are handlers (`handlers::peer`); their status views live in
//! [`status`].
use std::sync::Arc;

use postern_core::peer::PeerScheme;

use crate::metrics::Metrics;
use crate::service::Services;

pub mod chain_page;
pub mod client;
pub mod feeds;
pub mod fill;
pub mod heads;
pub mod job;
pub mod pull;
pub mod push;
pub mod status;

pub use client::PeerSpec;

use client::PeerSigner;
use feeds::{ChainFeed, DmFeed, GateFeed};
use pull::PeerLink;
use status::{PullStatus, SyncStatus};

/// Default `--sync-interval-secs`.
pub const DEFAULT_SYNC_INTERVAL_SECS: u64 = postern_core::sync::DEFAULT_INTERVAL_S;
/// Default `--dm-pull-interval-secs`.
pub const DEFAULT_DM_PULL_INTERVAL_SECS: u64 = 30;

/// The replication configuration of `postern serve`.
pub struct Config<'a> {
    /// This relay's own public URL: needed to push and to sign pulls.
    pub public_url: Option<&'a str>,
    pub peers: &'a [PeerSpec],
    pub sync_interval_secs: u64,
    pub dm_pull_interval_secs: u64,
}

/// The status views the running pullers keep up to date.
pub struct Running {
    pub sync_status: Arc<SyncStatus>,
    pub dm_pull_status: Arc<PullStatus>,
}

/// Start every replication task (inside the runtime): with a public URL one push sender per
/// peer (the outbox is installed on both store connections first), the gate and DM pullers;
/// and one chain puller per peer in any case (signed with a public URL, so
/// the peer serves its full chain; unsigned it gets the peer's public view).
pub fn start(cfg: &Config<'_>, svc: &Services, metrics: &Arc<Metrics>) -> Running {
    let running = Running {
        sync_status: Arc::new(SyncStatus::default()),
        dm_pull_status: Arc::new(PullStatus::default()),
    };
    match cfg.public_url {
        Some(own) => svc.set_outbox(push::start(own, cfg.peers, svc, metrics)),
        None if !cfg.peers.is_empty() => {
            tracing::warn!(
                "peers configured without --public-url: accepting pushes, not sending any"
            )
        }
        None => {}
    }
    let link = |spec: &PeerSpec| PeerLink {
        svc: svc.clone(),
        peer: spec.url.clone(),
        agent: client::outbound_agent(feeds::PULL_TIMEOUT),
    };
    let signer = PeerSigner::new;
    for spec in cfg.peers {
        let feed = ChainFeed {
            link: link(spec),
            status: Arc::clone(&running.sync_status),
            metrics: Arc::clone(metrics),
            rec: Default::default(),
            signer: cfg.public_url.map(|own| signer(spec, own)),
            incomplete: None,
        };
        tokio::spawn(pull::run(feed, pull::config(cfg.sync_interval_secs)));
    }
    // Every Postern peer's signed tree heads are checked against the pin kept for it (public
    // endpoints: no signature needed). Shadowbroker nodes sign no heads.
    for spec in cfg.peers.iter().filter(|p| p.scheme == PeerScheme::Postern) {
        let feed = heads::HeadFeed {
            link: link(spec),
            metrics: Arc::clone(metrics),
        };
        tokio::spawn(pull::run(feed, pull::config(cfg.sync_interval_secs)));
    }
    // Pulling signs as this relay, so without a public URL nothing else is pulled. Shadowbroker
    // nodes have no DM or gate feed.
    if let Some(own) = cfg.public_url {
        let postern = || cfg.peers.iter().filter(|p| p.scheme == PeerScheme::Postern);
        for spec in postern() {
            let feed = GateFeed {
                link: link(spec),
                signer: signer(spec, own),
            };
            tokio::spawn(pull::run(feed, GateFeed::config(cfg.sync_interval_secs)));
        }
        for spec in postern() {
            let feed = DmFeed {
                link: link(spec),
                signer: signer(spec, own),
                status: Arc::clone(&running.dm_pull_status),
            };
            tokio::spawn(pull::run(feed, pull::config(cfg.dm_pull_interval_secs)));
        }
    }
    running
}
