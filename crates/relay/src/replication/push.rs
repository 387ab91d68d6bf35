//! Outbound push: one sender per outbound peer drains that peer's rows of the durable
//! `replication_outbox` oldest first, in order, and never blocks a client's request.
//!
//! A row is deleted when the peer answers 2xx (`ok`) or a final 4xx (`rejected`); transport
//! errors, 5xx, 408 and 429 `rate_limited` keep it at the head with `attempts + 1` and
//! `next_attempt_at` from core's `failure_backoff_seconds` (base 1 s, cap 30 s, at least a
//! 429's `Retry-After`). On startup every pending row is due at once. Chain batches go out
//! several at a time to a Postern peer, a sliding window of up to [`PUSH_WINDOW`] requests in
//! flight; only the oldest row's answer can be final (see `Sender::run`). A head row a Postern peer refuses because it lacks the row's
//! predecessor is kept while that can be filled from our chain (`super::fill`), and dropped
//! with the reason logged otherwise.
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use postern_core::api::peer::PATH_PEER_PUSH;
use postern_core::peer::PeerScheme;
use tokio::sync::Notify;

use super::client::{outbound_agent, PeerSigner, PeerSpec};
use super::fill::{row_extends, Fill, Filler};
use super::job::{send_once, Attempt};
use crate::metrics::Metrics;
use crate::service::Services;
use crate::store::{Outbox, OutboxPeer, OutboxRow};

/// Backoff base and cap (seconds) between outbound attempts (`sync::failure_backoff_seconds`).
const BACKOFF_BASE_S: u64 = 1;
const BACKOFF_CAP_S: u64 = 30;
/// Longest idle wait of a sender between looks at its outbox (a wake-up normally comes first).
const IDLE_RECHECK: Duration = Duration::from_secs(30);
/// Timeout of one outbound HTTP request.
const OUTBOUND_TIMEOUT: Duration = Duration::from_secs(10);
/// Most chain batches (`peer-push` rows) in flight at once to one Postern peer.
pub const PUSH_WINDOW: usize = 8;
/// Most gaps filled before one row (a row still lacking its predecessor after that is dropped).
const MAX_FILLS_PER_ROW: u32 = 3;
/// Most rows whose gap fills are counted at once (rows the peer refused and that wait to be
/// sent again; a row answered for good is forgotten at once).
const MAX_ROWS_FILLED: usize = 1_024;

/// Spawn one sender per peer (inside the runtime) and return the outbox configuration that
/// queues jobs for them (dropped rows are counted as replication `error`).
pub fn start(own: &str, specs: &[PeerSpec], svc: &Services, metrics: &Arc<Metrics>) -> Outbox {
    let m = Arc::clone(metrics);
    let mut outbox = Outbox {
        on_dropped: Some(Arc::new(move |n| {
            for _ in 0..n {
                m.replication("error");
            }
        })),
        ..Default::default()
    };
    for spec in specs {
        let notify = Arc::new(Notify::new());
        let sender = Sender {
            peer: spec.url.clone(),
            scheme: spec.scheme,
            signer: Arc::new(PeerSigner::new(spec, own)),
            notify: Arc::clone(&notify),
            svc: svc.clone(),
            metrics: Arc::clone(metrics),
        };
        tokio::spawn(sender.run());
        outbox.peers.push(OutboxPeer {
            url: spec.url.clone(),
            wake: Arc::new(move |()| notify.notify_one()),
        });
    }
    outbox
}

/// A request in flight: its row, whether every row before it was answered when it was sent
/// (only then can a refusal of it be final), and its answer to come.
struct InFlight {
    row: OutboxRow,
    alone: bool,
    answer: tokio::task::JoinHandle<Attempt>,
}

/// One peer's outbound sender.
struct Sender {
    peer: String,
    scheme: PeerScheme,
    signer: Arc<PeerSigner>,
    notify: Arc<Notify>,
    svc: Services,
    metrics: Arc<Metrics>,
}

impl Sender {
    /// Drain the peer's outbox rows oldest first: delete on success or a final refusal,
    /// reschedule with core's backoff on a retryable failure (the row stays at the head, so the
    /// order is kept). Pending rows from before a restart are due at once.
    ///
    /// Chain batches (`peer-push` rows) go out as a sliding window to a Postern peer: up to
    /// `window` requests (at most [`PUSH_WINDOW`], one to a Shadowbroker peer) stay in flight,
    /// started in outbox order; answers are taken oldest first, and when the oldest is answered
    /// the next row is started at once (no row is started twice while in flight). Only a row
    /// sent while every row before it was answered (the head) can be refused finally: a row
    /// sent while a row before it was unanswered is deleted when acknowledged (2xx) and
    /// otherwise left as it is (a `forked` refusal may only mean its predecessor had not
    /// arrived yet); then nothing more is started until every request in flight is answered,
    /// and the outbox is read again from its head, so that row is sent again after the rows
    /// before it. The window halves after such a miss and doubles after a window's worth of
    /// 2xx answers in a row. A row other than a chain batch goes out alone.
    ///
    /// A head row refused because the peer lacks its predecessor (409 `forked` with `missing`)
    /// is sent again once that gap is filled from our chain (at most [`MAX_FILLS_PER_ROW`]
    /// times), and dropped with the reason logged when it cannot be (`super::fill`).
    async fn run(self) {
        let agent = outbound_agent(OUTBOUND_TIMEOUT);
        let store = self.svc.store();
        let (peer, now) = (self.peer.clone(), self.svc.now());
        if let Ok(n) = store
            .run("outbox_resume", move |s| s.outbox_resume(&peer, now))
            .await
        {
            if n > 0 {
                tracing::info!(peer = %self.peer, pending = n, "resuming replication");
            }
        }
        let max_window = if self.scheme == PeerScheme::Shadowbroker {
            1
        } else {
            PUSH_WINDOW
        };
        let mut window = max_window;
        // 2xx answers in a row since the window last changed.
        let mut clean = 0usize;
        // Gaps filled per head row (by row id).
        let mut fills: HashMap<i64, u32> = HashMap::new();
        // Requests in flight, oldest first.
        let mut flight: VecDeque<InFlight> = VecDeque::new();
        // Start nothing more until every request in flight is answered, then read the outbox
        // from its head again (set when a row must be sent again before the rows behind it).
        let mut barrier = false;
        'run: loop {
            if flight.is_empty() {
                barrier = false;
            }
            let room = !barrier
                && flight.len() < window
                && flight.back().is_none_or(|f| f.row.path == PATH_PEER_PUSH);
            if room {
                let after = flight.back().map_or(i64::MIN, |f| f.row.id);
                let (peer, n) = (self.peer.clone(), window - flight.len());
                let rows = store
                    .run("outbox_head", move |s| s.outbox_after(&peer, after, n))
                    .await;
                let now = self.svc.now();
                match rows {
                    Err(_) if flight.is_empty() => {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                    Err(_) => {}
                    Ok(rows) => {
                        for row in rows {
                            if row.next_attempt_at > now {
                                if flight.is_empty() {
                                    let wait = Duration::from_secs(row.next_attempt_at - now);
                                    let _ =
                                        tokio::time::timeout(wait, self.notify.notified()).await;
                                    continue 'run;
                                }
                                break;
                            }
                            let push = row.path == PATH_PEER_PUSH;
                            if !push && !flight.is_empty() {
                                break;
                            }
                            flight.push_back(self.start(&agent, row, flight.is_empty(), now));
                            if !push {
                                break;
                            }
                        }
                    }
                }
            }
            // With room for more, a row queued meanwhile is started before the oldest answer.
            let more = !barrier
                && flight.len() < window
                && flight.back().is_some_and(|f| f.row.path == PATH_PEER_PUSH);
            let Some(front) = flight.front_mut() else {
                if room {
                    let _ = tokio::time::timeout(IDLE_RECHECK, self.notify.notified()).await;
                }
                continue;
            };
            let answer = if more {
                tokio::select! {
                    biased;
                    a = &mut front.answer => a,
                    () = self.notify.notified() => continue,
                }
            } else {
                (&mut front.answer).await
            };
            let attempt = answer.unwrap_or_else(|e| Attempt::Retry(e.to_string(), 0));
            let Some(InFlight { row, alone, .. }) = flight.pop_front() else {
                continue;
            };
            // Whether the row is still in the outbox after this answer (its gap count is kept
            // only as long as it is).
            let mut done = true;
            let id = row.id;
            match attempt {
                Attempt::Ok => {
                    self.settle(row, Attempt::Ok).await;
                    clean += 1;
                    if clean >= window {
                        window = (window * 2).min(max_window);
                        clean = 0;
                    }
                }
                _ if !alone => {
                    tracing::debug!(peer = %self.peer, path = %row.path, "sent ahead of an unanswered row; sending it again after that");
                    if !barrier {
                        window = (window / 2).max(1);
                    }
                    (barrier, clean, done) = (true, 0, false);
                }
                Attempt::Gap { missing, text } => {
                    let filled = fills.entry(id).or_default();
                    done = !self.fill_gap(&agent, row, &missing, text, filled).await;
                    barrier = true;
                }
                a @ Attempt::Retry(..) => {
                    self.settle(row, a).await;
                    (barrier, done) = (true, false);
                }
                a => self.settle(row, a).await,
            }
            if done {
                fills.remove(&id);
            }
            if fills.len() > MAX_ROWS_FILLED {
                // Only rows a peer keeps refusing and retrying stay here: forget every count
                // rather than grow (each row is still dropped after its own fills).
                fills.clear();
            }
        }
    }

    /// Send `row` on the blocking pool; `alone` when every row before it is answered.
    fn start(&self, agent: &ureq::Agent, row: OutboxRow, alone: bool, now: u64) -> InFlight {
        let body = row.body.clone().into_bytes();
        let headers = self.signer.headers(&row.path, &body, now);
        let url = format!("{}{}", self.peer, row.path);
        let a = agent.clone();
        let answer = tokio::task::spawn_blocking(move || send_once(&a, &url, &headers, &body));
        InFlight { row, alone, answer }
    }

    /// The head `row` was refused because the peer lacks `missing`, its predecessor: fill the
    /// gap from our chain and make the row due again now, or drop it with the reason logged, or
    /// retry it later as after a transport failure. True while the row stays in the outbox.
    async fn fill_gap(
        &self,
        agent: &ureq::Agent,
        row: OutboxRow,
        missing: &str,
        text: String,
        filled: &mut u32,
    ) -> bool {
        let why = if !row_extends(&row.body, missing) {
            "the event the peer says it lacks is no predecessor of this row".to_string()
        } else if *filled >= MAX_FILLS_PER_ROW {
            format!("the peer still lacks its predecessor after {MAX_FILLS_PER_ROW} fills")
        } else {
            let filler = Filler {
                agent,
                peer: &self.peer,
                signer: &self.signer,
                svc: &self.svc,
            };
            match filler.fill(missing).await {
                Fill::Filled { pushed } => {
                    *filled += 1;
                    tracing::info!(peer = %self.peer, missing, pushed, "filled the peer's gap before a pushed row; sending it again");
                    let (id, attempts, now) = (row.id, row.attempts, self.svc.now());
                    let store = self.svc.store();
                    let _ = store
                        .run("outbox_retry", move |s| s.outbox_retry(id, attempts, now))
                        .await;
                    return true;
                }
                Fill::Retry(why, after) => {
                    self.settle(row, Attempt::Retry(why, after)).await;
                    return true;
                }
                Fill::Cannot(why) => why,
            }
        };
        tracing::warn!(peer = %self.peer, path = %row.path, missing, reason = %why, "pushed row dropped: its predecessor cannot reach the peer through this relay");
        self.settle(row, Attempt::Rejected(409, text)).await;
        false
    }

    /// Record the answer to the head row (or to a row acknowledged 2xx).
    async fn settle(&self, row: OutboxRow, attempt: Attempt) {
        let store = self.svc.store();
        let id = row.id;
        let refused = |code: u16, text: String| {
            tracing::warn!(peer = %self.peer, path = %row.path, status = code, body = %text, "peer refused replication");
            self.metrics.replication("rejected");
            store.run("outbox_done", move |s| s.outbox_done(id))
        };
        // A storage failure here is logged by `run`; the row is looked at again.
        let _ = match attempt {
            Attempt::Ok => {
                self.metrics.replication("ok");
                store.run("outbox_done", move |s| s.outbox_done(id)).await
            }
            Attempt::Rejected(code, text) => refused(code, text).await,
            // A gap left unfilled is a final refusal of the row.
            Attempt::Gap { text, .. } => refused(409, text).await,
            Attempt::Retry(why, retry_after) => {
                let failures = row.attempts + 1;
                let wait = postern_core::sync::failure_backoff_seconds(
                    BACKOFF_BASE_S,
                    failures,
                    retry_after.min(BACKOFF_CAP_S),
                    BACKOFF_CAP_S,
                );
                tracing::debug!(peer = %self.peer, path = %row.path, error = %why, attempts = failures, wait, "replication failed; retrying");
                let next = self.svc.now().saturating_add(wait);
                store
                    .run("outbox_retry", move |s| s.outbox_retry(id, failures, next))
                    .await
            }
        };
    }
}
