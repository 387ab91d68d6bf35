//! `postern serve`: flags, startup (database, services, replication, HTTP), graceful shutdown.
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use postern_core::caps::SpoolLimits;

use crate::http::listen::{self, ConnLimits, DEFAULT_HEADER_READ_TIMEOUT_SECS};
use crate::http::state::PeerKeys;
use crate::http::{
    router, AppState, DEFAULT_READ_RATE_PER_MIN, DEFAULT_REQUEST_TIMEOUT_SECS,
    DEFAULT_WRITE_RATE_PER_MIN,
};
use crate::metrics::Metrics;
use crate::replication::client::{
    parse_peer_spec, parse_public_url, parse_sb_peer_spec, set_peer_ca,
};
use crate::replication::{PeerSpec, DEFAULT_DM_PULL_INTERVAL_SECS, DEFAULT_SYNC_INTERVAL_SECS};
use crate::service::{Chain, Services};
use crate::store::Store;

/// How long a graceful shutdown waits for open connections.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the bound address is printed).
    #[arg(long, env = "POSTERN_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Data directory (SQLite database lives here).
    #[arg(long, env = "POSTERN_DATA", default_value = "./data")]
    pub data: PathBuf,
    /// Directory of the built web UI, served at /.
    #[arg(long, env = "POSTERN_WEB", default_value = "dist")]
    pub web: PathBuf,
    /// Unacknowledged messages allowed per (sender, recipient) pair.
    #[arg(long, env = "POSTERN_PER_SENDER_CAP", default_value_t = SpoolLimits::default().per_sender_cap,
          value_parser = positive_usize)]
    pub per_sender_cap: usize,
    /// Messages allowed per recipient mailbox.
    #[arg(long, env = "POSTERN_MAILBOX_CAP", default_value_t = SpoolLimits::default().mailbox_cap,
          value_parser = positive_usize)]
    pub mailbox_cap: usize,
    /// Time to live of a spooled message, in seconds.
    #[arg(long, env = "POSTERN_TTL_SECS", default_value_t = SpoolLimits::default().ttl_secs,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub ttl_secs: u64,
    /// Longest time one request (including reading its body) may take, in seconds.
    #[arg(long, env = "POSTERN_REQUEST_TIMEOUT_SECS", default_value_t = DEFAULT_REQUEST_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_secs: u64,
    /// Write requests (Infonet append, DM send/register) per minute per client IP (IPv6: per
    /// /64); the bucket also allows a burst of this many. 0 disables.
    #[arg(long, env = "POSTERN_RATE_LIMIT_PER_MIN", default_value_t = DEFAULT_WRITE_RATE_PER_MIN)]
    pub rate_limit_per_min: u32,
    /// Read requests (every other /api route) per minute per client IP. 0 disables.
    #[arg(long, env = "POSTERN_READ_RATE_LIMIT_PER_MIN", default_value_t = DEFAULT_READ_RATE_PER_MIN)]
    pub read_rate_limit_per_min: u32,
    /// This relay's own public URL, sent as X-Peer-Url when pushing to peers.
    #[arg(long, env = "POSTERN_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,
    /// A peer relay as URL=SECRET (repeatable; POSTERN_PEERS takes a comma-separated list).
    #[arg(long = "peer", env = "POSTERN_PEERS", value_delimiter = ',', value_parser = parse_peer_spec)]
    pub peers: Vec<PeerSpec>,
    /// A Shadowbroker node as URL=SECRET: its body-only v1 HMAC, accepted on the Infonet
    /// peer-push only (weaker than the v2 auth between Postern relays: no replay protection).
    #[arg(long = "sb-peer", env = "POSTERN_SB_PEERS", value_delimiter = ',', value_parser = parse_sb_peer_spec)]
    pub sb_peers: Vec<PeerSpec>,
    /// Seconds between pull syncs of the public chain from each peer (failures back off).
    #[arg(long, env = "POSTERN_SYNC_INTERVAL_SECS", default_value_t = DEFAULT_SYNC_INTERVAL_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub sync_interval_secs: u64,
    /// Seconds between DM pulls (`/api/mesh/dm/peer-pull`) from each peer (needs --public-url).
    #[arg(long, env = "POSTERN_DM_PULL_INTERVAL_SECS", default_value_t = DEFAULT_DM_PULL_INTERVAL_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub dm_pull_interval_secs: u64,
    /// Seconds a client has to send a complete request head; an idle keep-alive connection is
    /// closed after the same time.
    #[arg(long, env = "POSTERN_HEADER_READ_TIMEOUT_SECS", default_value_t = DEFAULT_HEADER_READ_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_secs: u64,
    /// Most open client connections (further ones wait in the listen backlog). Default: below
    /// the process's open-file limit, at most 1024.
    #[arg(long, env = "POSTERN_MAX_CONNECTIONS", value_parser = positive_usize)]
    pub max_connections: Option<usize>,
    /// Serve `/metrics` and the replication status (which list the peers) to anyone; without
    /// it they answer 404.
    #[arg(long, env = "POSTERN_PUBLIC_STATUS")]
    pub public_status: bool,
    /// Seconds an event must hold its chain position before it joins a signed tree head
    /// (forks within this window heal by re-linking; signed history never changes).
    #[arg(long, env = "POSTERN_SETTLE_SECS", default_value_t = crate::service::heads::DEFAULT_SETTLE_SECS)]
    pub settle_secs: u64,
    /// Seconds between attempts to sign a new tree head over the settled chain.
    #[arg(long, env = "POSTERN_TREE_HEAD_INTERVAL_SECS",
          default_value_t = crate::service::heads::DEFAULT_TREE_HEAD_INTERVAL_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub tree_head_interval_secs: u64,
    /// File holding the 32-byte seed of the tree-head signing key, used instead of the key in
    /// the database (created 0600 with a fresh key if missing).
    #[arg(long, env = "POSTERN_TREE_HEAD_KEY_FILE")]
    pub tree_head_key_file: Option<PathBuf>,
    /// PEM file of the CA(s) to trust for https peers (a private CA) instead of the Web PKI roots.
    #[arg(long, env = "POSTERN_PEER_CA")]
    pub peer_ca: Option<PathBuf>,
    /// Chain events appended between two checkpoints of the verified chain state (start-up
    /// replays only the events above the last one; also written at start and on shutdown).
    #[arg(long, env = "POSTERN_CHECKPOINT_EVERY",
          default_value_t = crate::service::chain::DEFAULT_CHECKPOINT_EVERY,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub checkpoint_every: u64,
}

fn positive_usize(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(v) => Ok(v),
        Err(e) => Err(e.to_string()),
    }
}

impl ServeArgs {
    pub fn limits(&self) -> SpoolLimits {
        SpoolLimits {
            per_sender_cap: self.per_sender_cap,
            mailbox_cap: self.mailbox_cap,
            ttl_secs: self.ttl_secs,
        }
    }
}

fn init_tracing() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("POSTERN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// Run the relay until SIGTERM / Ctrl-C. Returns the process exit code.
pub fn serve(args: ServeArgs) -> i32 {
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return 1;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => 0,
        Err(msg) => {
            tracing::error!("{msg}");
            1
        }
    }
}

async fn run(args: ServeArgs) -> Result<(), String> {
    if let Some(ca) = &args.peer_ca {
        set_peer_ca(ca)?;
    }
    let data = args.data.clone();
    let key_seed = match &args.tree_head_key_file {
        Some(p) => Some(crate::service::heads::load_or_create_key_file(p)?),
        None => None,
    };
    let checkpoint_every = args.checkpoint_every;
    let (store, mut chain) = tokio::task::spawn_blocking(move || {
        let store = Store::open(&data)?;
        // The chain gets a connection of its own and re-verifies the chain on load (from its
        // checkpoint when one passes its checks); what had to be replayed is checkpointed.
        let mut chain = Chain::open(Store::open(&data)?)?;
        chain.set_checkpoint_every(checkpoint_every);
        if chain.startup().replayed > 0 {
            chain.write_checkpoint(crate::clock::system_now());
        }
        Ok::<_, crate::store::StoreError>((store, chain))
    })
    .await
    .map_err(|e| format!("opening the database failed: {e}"))?
    .map_err(|e| format!("cannot open the database in {}: {e}", args.data.display()))?;
    if let Some(seed) = key_seed {
        chain.set_tree_head_seed(seed);
    }
    let limits = args.limits();
    tracing::info!(
        data = %store.path().display(),
        web = %args.web.display(),
        per_sender_cap = limits.per_sender_cap,
        mailbox_cap = limits.mailbox_cap,
        ttl_secs = limits.ttl_secs,
        events = chain.head().1,
        private_events = chain.private_count(),
        rate_limit_per_min = args.rate_limit_per_min,
        read_rate_limit_per_min = args.read_rate_limit_per_min,
        "starting relay"
    );
    let peers: Vec<PeerSpec> = args.peers.iter().chain(&args.sb_peers).cloned().collect();
    let services = Services::new(store, chain, limits, crate::clock::system_now);
    let on_exit = services.clone();
    let metrics = Arc::new(Metrics::default());
    tokio::spawn(crate::service::heads::run_signer(
        services.clone(),
        args.settle_secs,
        std::time::Duration::from_secs(args.tree_head_interval_secs),
    ));
    let replication = crate::replication::start(
        &crate::replication::Config {
            public_url: args.public_url.as_deref(),
            peers: &peers,
            sync_interval_secs: args.sync_interval_secs,
            dm_pull_interval_secs: args.dm_pull_interval_secs,
        },
        &services,
        &metrics,
    );
    let keys = PeerKeys::new(
        peers
            .iter()
            .map(|p| (p.url.as_str(), &p.secret[..], p.scheme)),
    );
    let state = AppState::new(services, args.web.clone(), metrics)
        .with_request_timeout(std::time::Duration::from_secs(args.request_timeout_secs))
        .with_rate_limits(args.rate_limit_per_min, args.read_rate_limit_per_min)
        .with_peer_keys(keys)
        .with_public_status(args.public_status)
        .with_origin(args.public_url.as_deref())
        .with_replication_status(replication.sync_status, replication.dm_pull_status);
    if !peers.is_empty() {
        tracing::info!(
            sync_interval_secs = args.sync_interval_secs,
            peers = args.peers.len(),
            shadowbroker_peers = args.sb_peers.len(),
            public_url = args.public_url.as_deref().unwrap_or(""),
            "peer replication configured"
        );
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    // Listening for SIGTERM / Ctrl-C starts before the address line: a signal sent as soon as
    // the line appears stops the relay gracefully instead of killing it (default action).
    let signals = ShutdownSignals::install();
    {
        // The one line on stdout; scripts and tests wait for it.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "postern listening on http://{addr}");
        let _ = out.flush();
    }
    // Graceful shutdown: stop accepting, let in-flight requests finish, but never wait more
    // than SHUTDOWN_GRACE for connections that do not close (every acknowledged write is
    // already committed, so cutting them off loses nothing).
    let conn_limits = ConnLimits {
        max_connections: args
            .max_connections
            .unwrap_or_else(listen::default_max_connections),
        header_read_timeout: std::time::Duration::from_secs(args.header_read_timeout_secs),
    };
    tracing::info!(
        max_connections = conn_limits.max_connections,
        header_read_timeout_secs = args.header_read_timeout_secs,
        "connection limits"
    );
    let stopping = std::sync::Arc::new(tokio::sync::Notify::new());
    let notify = std::sync::Arc::clone(&stopping);
    let server = listen::serve(listener, router(state), conn_limits, async move {
        signals.recv().await;
        notify.notify_one();
    });
    tokio::pin!(server);
    tokio::select! {
        _ = &mut server => {}
        _ = async {
            stopping.notified().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => tracing::warn!("connections still open after {} s; exiting anyway", SHUTDOWN_GRACE.as_secs()),
    }
    // A checkpoint at the final height, so the next start replays nothing.
    let _ = tokio::task::spawn_blocking(move || {
        on_exit
            .chain()
            .lock()
            .write_checkpoint(crate::clock::system_now())
    })
    .await;
    tracing::info!("relay stopped");
    Ok(())
}

/// The relay's shutdown signals, registered with the OS when installed (not when first awaited).
struct ShutdownSignals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl ShutdownSignals {
    /// Register for SIGTERM and SIGINT (inside the runtime). A signal that cannot be
    /// registered is never awaited.
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            ShutdownSignals {
                term: signal(SignalKind::terminate()).ok(),
                int: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        ShutdownSignals {}
    }

    /// Wait for the first of them.
    async fn recv(self) {
        #[cfg(unix)]
        {
            async fn next(s: Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                _ = next(self.int) => tracing::info!("Ctrl-C received, shutting down"),
                _ = next(self.term) => tracing::info!("SIGTERM received, shutting down"),
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
            tracing::info!("Ctrl-C received, shutting down");
        }
    }
}
