//! The HTTP application state: the domain services plus what only the HTTP layer needs (web
//! root, request timeout, rate limiters, metrics, inbound peer keys, replication status views)
//! and the inbound peer keys ([`PeerKeys`], `super::peer_auth`).
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::replication::status::{PullStatus, SyncStatus};
use crate::service::Services;

pub use super::peer_auth::PeerKeys;

/// Default write requests per minute per client (append, DM send/register).
pub const DEFAULT_WRITE_RATE_PER_MIN: u32 = 60;
/// Default read requests per minute per client (every other `/api` route).
pub const DEFAULT_READ_RATE_PER_MIN: u32 = 1200;
/// Default longest time a request (including reading its body) may take.
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 30;

#[derive(Clone)]
pub struct AppState {
    services: Services,
    web: PathBuf,
    request_timeout: Duration,
    write_limit: Arc<RateLimiter>,
    read_limit: Arc<RateLimiter>,
    metrics: Arc<Metrics>,
    peer_keys: Arc<PeerKeys>,
    /// Chain pull-sync state per peer (memory mirror of what is persisted).
    sync_status: Arc<SyncStatus>,
    /// DM pull state per peer (cursors are persisted; this is the memory view).
    dm_pull_status: Arc<PullStatus>,
    /// Whether `/metrics` and the replication status (which name the peers) are public.
    public_status: bool,
    /// This relay's normalised public URL: the origin signed client requests must name.
    origin: Option<Arc<str>>,
}

impl AppState {
    pub fn new(services: Services, web: PathBuf, metrics: Arc<Metrics>) -> Self {
        AppState {
            services,
            web,
            request_timeout: Duration::from_secs(DEFAULT_REQUEST_TIMEOUT_SECS),
            write_limit: Arc::new(RateLimiter::new(DEFAULT_WRITE_RATE_PER_MIN)),
            read_limit: Arc::new(RateLimiter::new(DEFAULT_READ_RATE_PER_MIN)),
            metrics,
            peer_keys: Arc::new(PeerKeys::default()),
            sync_status: Arc::new(SyncStatus::default()),
            dm_pull_status: Arc::new(PullStatus::default()),
            public_status: false,
            origin: None,
        }
    }

    /// Per-client requests per minute on write and read routes (0 disables).
    pub fn with_rate_limits(mut self, write_per_min: u32, read_per_min: u32) -> Self {
        self.write_limit = Arc::new(RateLimiter::new(write_per_min));
        self.read_limit = Arc::new(RateLimiter::new(read_per_min));
        self
    }

    /// Change the per-request timeout.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Keys of the peers allowed to call the peer endpoints.
    pub fn with_peer_keys(mut self, keys: PeerKeys) -> Self {
        self.peer_keys = Arc::new(keys);
        self
    }

    /// The relay's public URL (normalised, `auth::normalize_origin`): signed client requests
    /// must be signed for it. Without one, the origin is the `Host` the request came in at
    /// (weaker: a relay could replay a request with a forged `Host`).
    pub fn with_origin(mut self, origin: Option<&str>) -> Self {
        self.origin = origin.map(Arc::from);
        self
    }

    /// Serve `/metrics` and the replication status to anyone (otherwise 404).
    pub fn with_public_status(mut self, public: bool) -> Self {
        self.public_status = public;
        self
    }

    /// The status views the replication workers keep up to date.
    pub fn with_replication_status(mut self, sync: Arc<SyncStatus>, dm: Arc<PullStatus>) -> Self {
        self.sync_status = sync;
        self.dm_pull_status = dm;
        self
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn peer_keys(&self) -> &PeerKeys {
        &self.peer_keys
    }

    pub fn sync_status(&self) -> &SyncStatus {
        &self.sync_status
    }

    pub fn dm_pull_status(&self) -> &PullStatus {
        &self.dm_pull_status
    }

    pub(super) fn web(&self) -> &Path {
        &self.web
    }

    pub(super) fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    pub(super) fn public_status(&self) -> bool {
        self.public_status
    }

    pub(super) fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    pub(super) fn limiter(&self, bucket: &str) -> &RateLimiter {
        if bucket == "write" {
            &self.write_limit
        } else {
            &self.read_limit
        }
    }
}
