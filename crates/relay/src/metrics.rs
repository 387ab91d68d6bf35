//! Prometheus counters of the relay (text exposition format 0.0.4).
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Counters updated by the request path.
#[derive(Debug, Default)]
pub struct Metrics {
    /// (route, status class) → requests.
    requests: Mutex<BTreeMap<(String, &'static str), u64>>,
    rate_limited: Mutex<BTreeMap<&'static str, u64>>,
    appends_accepted: Mutex<BTreeMap<&'static str, u64>>,
    appends_rejected: Mutex<BTreeMap<String, u64>>,
    appends_duplicate: AtomicU64,
    /// Outbound replication results (ok, rejected, error).
    replication: [AtomicU64; 3],
    /// Pull-sync rounds (ok, error, fork, incomplete) and events pulled.
    sync_rounds: [AtomicU64; 4],
    /// Pull-sync rounds that stopped at a peer's view, by reason (`gap`, `redacted`, `stub`).
    sync_incomplete: Mutex<BTreeMap<&'static str, u64>>,
    sync_pulled: AtomicU64,
    /// Peers' signed tree heads checked, by result (`consistent`, `misbehaviour`, `invalid`,
    /// `error`).
    head_checks: Mutex<BTreeMap<&'static str, u64>>,
}

/// Per-peer counters read at scrape time: forks met with the peer's events since start
/// (outcomes, our events re-linked or dropped), equivocations kept against it (stored).
#[derive(Debug, Clone, Default)]
pub struct PeerGauges {
    /// The peer's normalised URL.
    pub peer: String,
    pub forks_adopted: u64,
    pub forks_kept: u64,
    pub fork_splits: u64,
    pub events_rebased: u64,
    pub events_dropped: u64,
    pub equivocations: u64,
}

/// Gauges read at scrape time.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    /// Public-type events on the one chain.
    pub public_events: u64,
    /// Private ledger events (`gate_message`, `dm_message`) on the one chain.
    pub private_events: u64,
    /// Events of the pre-one-chain private lane, kept but never served.
    pub legacy_private_events: u64,
    pub dm_nodes: u64,
    pub dm_messages: u64,
    /// Forks met since start: adopted (the peer's branch won), kept (ours won), split (below
    /// our signed head, refused); and our events re-linked or dropped by adoptions.
    pub forks_adopted: u64,
    pub forks_kept: u64,
    pub fork_splits: u64,
    pub events_relinked: u64,
    pub events_dropped: u64,
    /// Per peer, sorted by peer.
    pub peers: Vec<PeerGauges>,
    /// Start-up: height of the checkpoint the chain state was restored from (0: full replay),
    /// and the events replayed through the chain rules.
    pub startup_checkpoint: u64,
    pub startup_replayed: u64,
    /// Height of the last chain-state checkpoint written or restored (0: none).
    pub checkpoint_height: u64,
}

fn bump<K: Ord>(m: &Mutex<BTreeMap<K, u64>>, k: K) {
    let mut g = m.lock().unwrap_or_else(|p| p.into_inner());
    *g.entry(k).or_insert(0) += 1;
}

fn class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

impl Metrics {
    pub fn request(&self, route: &str, status: u16) {
        bump(&self.requests, (route.to_string(), class(status)));
    }

    /// `bucket` is `write` or `read`.
    pub fn rate_limited(&self, bucket: &'static str) {
        bump(&self.rate_limited, bucket);
    }

    pub fn append_accepted(&self, lane: &'static str) {
        bump(&self.appends_accepted, lane);
    }

    pub fn append_duplicate(&self) {
        self.appends_duplicate.fetch_add(1, Ordering::Relaxed);
    }

    pub fn append_rejected(&self, code: &str) {
        bump(&self.appends_rejected, code.to_string());
    }

    /// One outbound replication job to one peer finished: `ok`, `rejected` or `error`.
    pub fn replication(&self, result: &str) {
        let i = match result {
            "ok" => 0,
            "rejected" => 1,
            _ => 2,
        };
        if let Some(c) = self.replication.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One pull-sync round with one peer finished: `ok`, `error`, `fork` or `incomplete`;
    /// `pulled` events stored.
    pub fn sync_round(&self, result: &str, pulled: u64) {
        let i = match result {
            "ok" => 0,
            "error" => 1,
            "fork" => 2,
            _ => 3,
        };
        if let Some(c) = self.sync_rounds.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        self.sync_pulled.fetch_add(pulled, Ordering::Relaxed);
    }

    /// A pull-sync round kept the verified prefix of a peer's view and stopped (`reason`).
    pub fn sync_incomplete(&self, reason: &'static str, pulled: u64) {
        self.sync_round("incomplete", pulled);
        bump(&self.sync_incomplete, reason);
    }

    /// One check of a peer's signed tree head: `consistent`, `misbehaviour` (evidence kept),
    /// `invalid` or `error`.
    pub fn head_check(&self, result: &'static str) {
        bump(&self.head_checks, result);
    }

    /// The whole exposition.
    pub fn render(&self, g: Gauges) -> String {
        let mut o = String::new();
        let lock = |m: &Mutex<BTreeMap<(String, &'static str), u64>>| {
            m.lock().unwrap_or_else(|p| p.into_inner()).clone()
        };
        o.push_str("# HELP postern_http_requests_total HTTP requests by route and status class.\n");
        o.push_str("# TYPE postern_http_requests_total counter\n");
        for ((route, cls), n) in lock(&self.requests) {
            let _ = writeln!(
                o,
                "postern_http_requests_total{{route=\"{}\",status=\"{cls}\"}} {n}",
                escape(&route)
            );
        }
        o.push_str("# HELP postern_tree_head_checks_total Peers' signed tree heads checked, by result (misbehaviour: equivocation or rewritten history, evidence kept).\n");
        o.push_str("# TYPE postern_tree_head_checks_total counter\n");
        let hc = self
            .head_checks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for result in ["consistent", "misbehaviour", "invalid", "error"] {
            let _ = writeln!(
                o,
                "postern_tree_head_checks_total{{result=\"{result}\"}} {}",
                hc.get(result).copied().unwrap_or(0)
            );
        }
        o.push_str("# HELP postern_rate_limited_total Requests answered 429 by the per-client rate limit.\n");
        o.push_str("# TYPE postern_rate_limited_total counter\n");
        let rl = self
            .rate_limited
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for bucket in ["read", "write"] {
            let _ = writeln!(
                o,
                "postern_rate_limited_total{{bucket=\"{bucket}\"}} {}",
                rl.get(bucket).copied().unwrap_or(0)
            );
        }
        o.push_str("# HELP postern_infonet_appends_total Infonet appends by result.\n");
        o.push_str("# TYPE postern_infonet_appends_total counter\n");
        let acc = self
            .appends_accepted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let rej = self
            .appends_rejected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for lane in ["public", "private"] {
            let _ = writeln!(
                o,
                "postern_infonet_appends_total{{result=\"accepted\",lane=\"{lane}\"}} {}",
                acc.get(lane).copied().unwrap_or(0)
            );
        }
        let _ = writeln!(
            o,
            "postern_infonet_appends_total{{result=\"duplicate\",lane=\"any\"}} {}",
            self.appends_duplicate.load(Ordering::Relaxed)
        );
        let rejected: u64 = rej.values().sum();
        let _ = writeln!(
            o,
            "postern_infonet_appends_total{{result=\"rejected\",lane=\"any\"}} {rejected}"
        );
        o.push_str(
            "# HELP postern_infonet_append_rejections_total Refused appends by error code.\n",
        );
        o.push_str("# TYPE postern_infonet_append_rejections_total counter\n");
        for (code, n) in rej {
            let _ = writeln!(
                o,
                "postern_infonet_append_rejections_total{{code=\"{}\"}} {n}",
                escape(&code)
            );
        }
        o.push_str("# HELP postern_infonet_events Events on the one chain by class (lane=\"private\": gate_message and dm_message).\n");
        o.push_str("# TYPE postern_infonet_events gauge\n");
        let _ = writeln!(
            o,
            "postern_infonet_events{{lane=\"public\"}} {}",
            g.public_events
        );
        let _ = writeln!(
            o,
            "postern_infonet_events{{lane=\"private\"}} {}",
            g.private_events
        );
        o.push_str("# HELP postern_forks_total Forks of the one chain met since start, by outcome (adopted: the peer's branch won; kept: ours won; split: below our signed tree head, refused).\n");
        o.push_str("# TYPE postern_forks_total counter\n");
        for (result, n) in [
            ("adopted", g.forks_adopted),
            ("kept", g.forks_kept),
            ("split", g.fork_splits),
        ] {
            let _ = writeln!(o, "postern_forks_total{{result=\"{result}\"}} {n}");
        }
        o.push_str("# HELP postern_fork_events_total Our events re-linked onto a winning branch, or dropped because they no longer fit it.\n");
        o.push_str("# TYPE postern_fork_events_total counter\n");
        for (result, n) in [
            ("relinked", g.events_relinked),
            ("dropped", g.events_dropped),
        ] {
            let _ = writeln!(o, "postern_fork_events_total{{result=\"{result}\"}} {n}");
        }
        render_peers(&mut o, &g.peers);
        o.push_str("# HELP postern_infonet_legacy_private_events Events of the pre-one-chain private lane (kept, never served).\n");
        o.push_str("# TYPE postern_infonet_legacy_private_events gauge\n");
        let _ = writeln!(
            o,
            "postern_infonet_legacy_private_events {}",
            g.legacy_private_events
        );
        for (name, help, v) in [
            ("postern_chain_startup_checkpoint_height", "Height of the chain-state checkpoint the relay started from (0: every event replayed).", g.startup_checkpoint),
            ("postern_chain_startup_replayed_events", "Chain events replayed at start-up (above the checkpoint, or all).", g.startup_replayed),
            ("postern_chain_checkpoint_height", "Height of the last chain-state checkpoint written or restored.", g.checkpoint_height),
        ] {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        o.push_str("# HELP postern_dm_spool_messages Messages held in the DM spool.\n");
        o.push_str("# TYPE postern_dm_spool_messages gauge\n");
        let _ = writeln!(o, "postern_dm_spool_messages {}", g.dm_messages);
        o.push_str("# HELP postern_dm_registered_nodes Nodes with a registered DH key.\n");
        o.push_str("# TYPE postern_dm_registered_nodes gauge\n");
        let _ = writeln!(o, "postern_dm_registered_nodes {}", g.dm_nodes);
        o.push_str("# HELP postern_replication_total Outbound replication jobs (DM envelope, DM ack, chain events) per peer by result.\n");
        o.push_str("# TYPE postern_replication_total counter\n");
        for (i, r) in ["ok", "rejected", "error"].iter().enumerate() {
            let n = self
                .replication
                .get(i)
                .map_or(0, |c| c.load(Ordering::Relaxed));
            let _ = writeln!(o, "postern_replication_total{{result=\"{r}\"}} {n}");
        }
        let rounds = |i: usize| {
            self.sync_rounds
                .get(i)
                .map_or(0, |c| c.load(Ordering::Relaxed))
        };
        o.push_str("# HELP postern_sync_rounds_total Pull-sync rounds with peers by result.\n");
        o.push_str("# TYPE postern_sync_rounds_total counter\n");
        for (i, r) in ["ok", "error", "fork", "incomplete"].iter().enumerate() {
            let _ = writeln!(
                o,
                "postern_sync_rounds_total{{result=\"{r}\"}} {}",
                rounds(i)
            );
        }
        o.push_str("# HELP postern_sync_forks_total Pull-sync rounds that found a peer's chain forked from ours (never merged).\n");
        o.push_str("# TYPE postern_sync_forks_total counter\n");
        let _ = writeln!(o, "postern_sync_forks_total {}", rounds(2));
        o.push_str("# HELP postern_sync_incomplete_total Pull-sync rounds that kept the verified prefix of a peer's view of its chain and stopped, by reason.\n");
        o.push_str("# TYPE postern_sync_incomplete_total counter\n");
        let inc = self
            .sync_incomplete
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for r in ["gap", "redacted", "stub"] {
            let _ = writeln!(
                o,
                "postern_sync_incomplete_total{{reason=\"{r}\"}} {}",
                inc.get(r).copied().unwrap_or(0)
            );
        }
        o.push_str("# HELP postern_sync_events_pulled_total Chain events stored by pull sync.\n");
        o.push_str("# TYPE postern_sync_events_pulled_total counter\n");
        let _ = writeln!(
            o,
            "postern_sync_events_pulled_total {}",
            self.sync_pulled.load(Ordering::Relaxed)
        );
        o
    }
}

/// One per-peer counter: metric name, help text, its value for a peer.
type PeerCounter = (&'static str, &'static str, fn(&PeerGauges) -> u64);

/// The per-peer fork and equivocation counters.
fn render_peers(o: &mut String, peers: &[PeerGauges]) {
    o.push_str("# HELP postern_peer_forks_total Forks of the one chain met with a peer's events since start, by outcome (adopted: its branch won; kept: ours won; split: below our signed tree head, refused).\n");
    o.push_str("# TYPE postern_peer_forks_total counter\n");
    for p in peers {
        let peer = escape(&p.peer);
        for (result, n) in [
            ("adopted", p.forks_adopted),
            ("kept", p.forks_kept),
            ("split", p.fork_splits),
        ] {
            let _ = writeln!(
                o,
                "postern_peer_forks_total{{peer=\"{peer}\",result=\"{result}\"}} {n}"
            );
        }
    }
    let counters: [PeerCounter; 3] = [
        (
            "postern_peer_rebased_events_total",
            "Our events re-linked (rebased) onto a peer's winning branch since start.",
            |p| p.events_rebased,
        ),
        (
            "postern_peer_dropped_events_total",
            "Our events dropped because they no longer fit a peer's winning branch, since start.",
            |p| p.events_dropped,
        ),
        (
            "postern_peer_equivocations_total",
            "Equivocations (two roots signed for one size) this relay keeps evidence of, per peer.",
            |p| p.equivocations,
        ),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(o, "# HELP {name} {help}");
        let _ = writeln!(o, "# TYPE {name} counter");
        for p in peers {
            let _ = writeln!(o, "{name}{{peer=\"{}\"}} {}", escape(&p.peer), value(p));
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
