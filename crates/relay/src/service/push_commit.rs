//! Group commit of peer-pushed chain batches: each push is prepared off the chain's lock (in
//! parallel, as before), then queued; a single writer (on the blocking pool, while there is work)
//! takes every queued batch as one **round** and applies them in queue order under the chain's
//! lock inside one transaction ([`Chain::begin_round`] … [`Chain::commit_round`]): one fsync for
//! the round, and each request is answered only after the commit holding its events returned.
//! Verdicts are those of [`Chain::push_prepared_from`], batch by batch: each batch runs in a
//! savepoint of its own ([`Chain::in_batch`]), so a batch whose write fails is answered 500
//! alone and the round's other batches get the answers they would get pushed one after another.
//!
//! **Out-of-order batches.** A peer with several pushes in flight (our own sender, see
//! `replication::push`) may have batch k+1 arrive before batch k. A batch whose first new event
//! extends an event this relay does not hold ([`Chain::waits_for_predecessor`]) **waits** instead
//! of being refused while another push *from the same peer* is still on its way here (received
//! and being prepared, or queued), and is applied after each later round, until no such push is
//! left or it waited [`PEER_PUSH_GAP_WAIT`]; then it is applied as before (409 `forked`). A peer
//! that pushes one batch at a time (a Shadowbroker node) therefore never waits and gets exactly
//! the answers it got before.
//!
//! **Bounds.** A peer holds at most [`MAX_PUSHES_PER_PEER`] pushes here at once (received and
//! being prepared, queued, in a round or waiting), all peers [`MAX_PUSHES`]; one more is answered
//! 503 `peer_busy` (retried by the sender). At most [`MAX_WAITING_PER_PEER`] batches of one peer
//! and [`MAX_WAITING`] in all wait for a predecessor; a further one is applied at once (409
//! `forked`, as a lone push). Only an authenticated push with a complete body is counted, so a
//! slow or unfinished request never makes a batch wait, and no batch waits past
//! [`PEER_PUSH_GAP_WAIT`] whatever its peer keeps sending.
//!
//! **Preparation in turns** ([`PushCommit::prepare`], [`turns`]). At most one push per core is
//! prepared at once; the others wait for a turn, handed out round-robin across peers and in
//! arrival order within one peer (a peer's queued pushes delay another peer's push by at most
//! one preparation per peer); a push prepared while others wait uses one thread, a lone push
//! every core. So the pushes of a window finish their signature checks one after another,
//! oldest first, and the writer applies the first ones while the later ones are still checked —
//! time-sliced together, they all finished at the end of the window and the writer started only
//! then. Verdicts do not depend on it (`Prepared::new` gives
//! the same verdict on any number of threads).
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use postern_core::json::Value;
use tokio::sync::oneshot;

use super::chain::{Chain, Prepared, PushOutcome};
use super::shared::{Internal, Shared};
use turns::Turns;

mod turns;

/// Most batches one round takes (the rest wait for the next round).
const MAX_ROUND: usize = 64;

/// Longest a pushed batch with a missing predecessor waits for it (see the module doc).
pub const PEER_PUSH_GAP_WAIT: Duration = Duration::from_secs(2);

/// Most pushes of one peer held at once (received and being prepared, queued, in a round or
/// waiting): four times our sender's window. One more is answered 503 `peer_busy` (retried).
pub const MAX_PUSHES_PER_PEER: usize = 32;

/// Most pushes of all peers held at once (503 `peer_busy` beyond it).
pub const MAX_PUSHES: usize = 128;

/// Most batches of one peer waiting for a predecessor at once (twice our sender's window); a
/// further batch of that peer with a gap is applied at once (409 `forked`, as a lone one).
pub const MAX_WAITING_PER_PEER: usize = 16;

/// Most batches of all peers waiting for a predecessor at once.
pub const MAX_WAITING: usize = 64;

/// Too many pushes of this peer (or of all peers) are held: answered 503 `peer_busy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many pushes are being applied; retry later")]
pub struct Busy;

/// A queued batch and where its outcome goes.
struct Pending {
    prepared: Prepared,
    now: u64,
    /// The pushing peer (its normalised URL).
    peer: String,
    /// When it first waited for a predecessor.
    waiting_since: Option<Instant>,
    reply: oneshot::Sender<Result<PushOutcome, Internal>>,
    /// Counted against the limits until answered (or dropped).
    _slot: Option<Slot>,
}

#[derive(Default)]
struct Queue {
    pending: Vec<Pending>,
    /// Batches waiting for a predecessor, oldest first.
    parked: Vec<Pending>,
    /// Per peer: pushes received and not yet queued (being prepared).
    arriving: HashMap<String, usize>,
    /// A writer is draining the queue.
    writing: bool,
}

impl Queue {
    /// Whether a push of `peer` other than the waiting ones may still fill a gap.
    fn peer_in_flight(&self, peer: &str) -> bool {
        self.arriving.get(peer).copied().unwrap_or(0) > 0
            || self.pending.iter().any(|p| p.peer == peer)
    }

    fn uncount(&mut self, peer: &str) {
        if let Some(n) = self.arriving.get_mut(peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.arriving.remove(peer);
            }
        }
    }
}

/// Pushes held, per peer and in all ([`MAX_PUSHES_PER_PEER`], [`MAX_PUSHES`]).
#[derive(Default)]
struct Slots {
    per_peer: HashMap<String, usize>,
    total: usize,
}

/// One held push, counted in [`Slots`] until dropped (its own mutex: dropped anywhere, also
/// under the queue's lock).
struct Slot {
    slots: Arc<Mutex<Slots>>,
    peer: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut s = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        s.total = s.total.saturating_sub(1);
        if let Some(n) = s.per_peer.get_mut(&self.peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                s.per_peer.remove(&self.peer);
            }
        }
    }
}

/// The push queue and its writer.
#[derive(Clone)]
pub struct PushCommit {
    queue: Arc<Mutex<Queue>>,
    slots: Arc<Mutex<Slots>>,
    turns: Arc<Turns>,
    chain: Shared<Chain>,
    /// [`PEER_PUSH_GAP_WAIT`] (other values in tests).
    gap_wait: Duration,
}

/// A push received from a peer and not yet queued (see [`PushCommit::arrive`]).
pub struct Arrival {
    commit: PushCommit,
    peer: String,
    counted: bool,
    slot: Option<Slot>,
}

impl Drop for Arrival {
    fn drop(&mut self) {
        if self.counted {
            // Never queued (its preparation failed or the request went away): a batch
            // waiting for it may be decided now.
            let start = {
                let mut q = self.commit.lock();
                q.uncount(&self.peer);
                !q.parked.is_empty() && !std::mem::replace(&mut q.writing, true)
            };
            if start {
                self.commit.spawn_writer();
            }
        }
    }
}

impl PushCommit {
    pub fn new(chain: Shared<Chain>) -> Self {
        Self::with_gap_wait(chain, PEER_PUSH_GAP_WAIT)
    }

    /// A queue whose batches wait at most `gap_wait` for a predecessor (tests).
    pub fn with_gap_wait(chain: Shared<Chain>, gap_wait: Duration) -> Self {
        let cores = postern_core::parallel::default_threads().max(1);
        PushCommit {
            queue: Arc::default(),
            slots: Arc::default(),
            turns: Turns::new(cores),
            chain,
            gap_wait,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Count a push from `peer` as on its way (call before preparing it), or refuse it when
    /// that peer, or all peers, hold as many pushes as allowed.
    pub fn arrive(&self, peer: &str) -> Result<Arrival, Busy> {
        {
            let mut s = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            let mine = s.per_peer.get(peer).copied().unwrap_or(0);
            if mine >= MAX_PUSHES_PER_PEER || s.total >= MAX_PUSHES {
                return Err(Busy);
            }
            s.total += 1;
            *s.per_peer.entry(peer.to_string()).or_default() += 1;
        }
        let slot = Slot {
            slots: Arc::clone(&self.slots),
            peer: peer.to_string(),
        };
        *self.lock().arriving.entry(peer.to_string()).or_default() += 1;
        Ok(Arrival {
            commit: self.clone(),
            peer: peer.to_string(),
            counted: true,
            slot: Some(slot),
        })
    }

    /// Prepare a pushed batch (parse, canonical forms, ids, signatures: [`Prepared::new`]) on
    /// the blocking pool once its turn comes (see the module doc): on one thread while other
    /// pushes wait for theirs, else on every core that is free.
    pub async fn prepare(
        &self,
        arrival: &Arrival,
        values: Vec<Value>,
    ) -> Result<Prepared, Internal> {
        let turn = self.turns.take(&arrival.peer).await;
        let threads = turn.held().max(1);
        tokio::task::spawn_blocking(move || {
            let prepared = Prepared::taking(values, threads);
            drop(turn);
            prepared
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "push preparation task failed");
            Internal
        })
    }

    /// Queue a prepared push and wait until the transaction holding its events is committed.
    pub async fn push(
        &self,
        mut arrival: Arrival,
        prepared: Prepared,
        now: u64,
    ) -> Result<PushOutcome, Internal> {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut q = self.lock();
            q.uncount(&arrival.peer);
            arrival.counted = false;
            q.pending.push(Pending {
                prepared,
                now,
                peer: std::mem::take(&mut arrival.peer),
                waiting_since: None,
                reply,
                _slot: arrival.slot.take(),
            });
            !std::mem::replace(&mut q.writing, true)
        };
        if start {
            self.spawn_writer();
        }
        answer.await.unwrap_or_else(|_| {
            tracing::error!("peer-push writer stopped before answering");
            Err(Internal)
        })
    }

    /// Batches waiting for a predecessor (tests).
    pub fn waiting(&self) -> usize {
        self.lock().parked.len()
    }

    /// Batches queued for the next round (tests).
    pub fn queued(&self) -> usize {
        self.lock().pending.len()
    }

    fn spawn_writer(&self) {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.write_rounds());
    }

    /// The writer: rounds until nothing is queued and every waiting batch may go on waiting.
    /// Each round is taken from the queue once the chain's lock is held, so the batches queued
    /// while it was busy share the round.
    fn write_rounds(&self) {
        /// Should the writer unwind, the next push starts a new one; the requests it held are
        /// answered (dropped senders: `Internal`).
        struct OnUnwind<'a>(&'a PushCommit);
        impl Drop for OnUnwind<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    let mut q = self.0.lock();
                    q.pending.clear();
                    q.parked.clear();
                    q.writing = false;
                }
            }
        }
        let _guard = OnUnwind(self);
        loop {
            let chain = self.chain.lock();
            let round: Vec<Pending> = {
                let mut q = self.lock();
                let due = q.parked.iter().any(|p| !self.may_wait(&q, p));
                if q.pending.is_empty() && !due {
                    q.writing = false;
                    let next = q
                        .parked
                        .iter()
                        .filter_map(|p| p.waiting_since)
                        .min()
                        .map(|t| (t + self.gap_wait).saturating_duration_since(Instant::now()));
                    drop(q);
                    drop(chain);
                    if let Some(wait) = next {
                        self.recheck_after(wait);
                    }
                    return;
                }
                let n = q.pending.len().min(MAX_ROUND);
                let mut round = std::mem::take(&mut q.parked);
                round.extend(q.pending.drain(..n));
                round
            };
            self.run_round(chain, round);
        }
    }

    /// Look at the waiting batches again when the oldest one's wait is over (a safety net: a
    /// push that is queued or given up wakes the writer itself).
    fn recheck_after(&self, wait: Duration) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let me = self.clone();
        rt.spawn(async move {
            tokio::time::sleep(wait).await;
            let start = {
                let mut q = me.lock();
                !q.parked.is_empty() && !std::mem::replace(&mut q.writing, true)
            };
            if start {
                me.spawn_writer();
            }
        });
    }

    /// Apply `round` in order in one transaction, batches that wait for a predecessor after
    /// the others, each in a savepoint of its own (a batch that fails is answered 500 alone;
    /// the others keep their verdicts); commit; answer.
    fn run_round(&self, mut chain: MutexGuard<'_, Chain>, mut round: Vec<Pending>) {
        if let Err(e) = chain.begin_round() {
            tracing::error!(op = "peer_push", error = %e, "storage error");
            chain.rollback_round();
            answer_all(round, Err(Internal));
            return;
        }
        let mut outcome: Vec<Option<Result<PushOutcome, Internal>>> =
            round.iter().map(|_| None).collect();
        // Passes: apply every batch that does not wait for a predecessor, in queue order, as
        // long as one was applied; then apply (refuse, as before) the waiting ones that may not
        // wait any longer or exceed the waiting limits, and go on while anything was applied.
        let mut give_up = false;
        let mut broken = false;
        'passes: loop {
            let mut progressed = false;
            // Per peer, and in all: waiting batches let go on waiting in this pass.
            let mut kept: HashMap<&str, usize> = HashMap::new();
            let mut kept_all = 0usize;
            for (item, slot) in round.iter().zip(outcome.iter_mut()) {
                if slot.is_some() {
                    continue;
                }
                let wait = match chain.waits_for_predecessor(&item.prepared) {
                    Ok(w) => w,
                    Err(e) => {
                        tracing::error!(op = "peer_push", error = %e, "storage error");
                        *slot = Some(Err(Internal));
                        continue;
                    }
                };
                if wait {
                    if !give_up {
                        continue;
                    }
                    let mine = kept.entry(item.peer.as_str()).or_default();
                    if *mine < MAX_WAITING_PER_PEER
                        && kept_all < MAX_WAITING
                        && self.may_wait(&self.lock(), item)
                    {
                        *mine += 1;
                        kept_all += 1;
                        continue;
                    }
                }
                let applied = chain
                    .in_batch(|c| c.push_prepared_from(&item.prepared, item.now, Some(&item.peer)));
                match applied {
                    Ok(Ok(o)) => *slot = Some(Ok(o)),
                    Ok(Err(e)) => {
                        // Undone alone: the round's other batches keep what they wrote.
                        tracing::error!(op = "peer_push", peer = %item.peer, error = %e, "storage error");
                        *slot = Some(Err(Internal));
                    }
                    Err(e) => {
                        // The batch could not be undone alone: give the round up whole.
                        tracing::error!(op = "peer_push", error = %e, "storage error");
                        broken = true;
                        break 'passes;
                    }
                }
                progressed = true;
            }
            if progressed {
                give_up = false;
            } else if give_up {
                break;
            } else {
                give_up = true;
            }
        }
        if broken {
            chain.rollback_round();
            drop(chain);
            answer_all(round, Err(Internal));
            return;
        }
        let committed = chain.commit_round();
        drop(chain);
        if let Err(e) = &committed {
            tracing::error!(op = "peer_push", error = %e, batches = round.len(), "storage error");
        }
        let now = Instant::now();
        let mut parked = Vec::new();
        let mut answered = Vec::new();
        for (mut item, out) in round.drain(..).zip(outcome) {
            match (out, &committed) {
                (Some(Ok(o)), Ok(())) => answered.push((item, Ok(o))),
                (Some(_), _) => answered.push((item, Err(Internal))),
                (None, _) => {
                    item.waiting_since.get_or_insert(now);
                    parked.push(item);
                }
            }
        }
        // Waiting again before anyone is answered (an answer never sees them missing).
        if !parked.is_empty() {
            let mut q = self.lock();
            parked.append(&mut q.parked);
            q.parked = parked;
        }
        for (item, r) in answered {
            let _ = item.reply.send(r);
        }
    }

    /// Whether `item` (whose predecessor is missing) may wait: it has not waited its bound, and
    /// a push of its peer is still on its way (being prepared, or queued for the next round).
    fn may_wait(&self, q: &Queue, item: &Pending) -> bool {
        let expired = item
            .waiting_since
            .is_some_and(|t| t.elapsed() >= self.gap_wait);
        !expired && q.peer_in_flight(&item.peer)
    }
}

fn answer_all(round: Vec<Pending>, r: Result<PushOutcome, Internal>) {
    for p in round {
        let _ = p.reply.send(r.clone());
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod hostile;
