//! Group commit of peer-pushed chain batches: each push is prepared off the chain's lock (in
//! parallel, as before), then queued; a single writer (on the blocking pool, while there is work)
//! takes every queued batch as one **round** and applies them in queue order under the chain's
//! lock inside one transaction ([`Chain::begin_round`] … [`Chain::commit_round`]): one fsync for
//! the round, and each request is answered only after the commit holding its events returned.
//! Verdicts are those of [`Chain::push_prepared_from`], batch by batch.
//!
//! **Out-of-order batches.** A peer with several pushes in flight (our own sender, see
//! `replication::push`) may have batch k+1 arrive before batch k. A batch whose first new event
//! extends an event this relay does not hold ([`Chain::waits_for_predecessor`]) **waits** instead
//! of being refused while another push *from the same peer* is still on its way here (received
//! and being prepared, or queued), and is applied after each later round, until no such push is
//! left or it waited [`PEER_PUSH_GAP_WAIT`]; then it is applied as before (409 `forked`). A peer
//! that pushes one batch at a time (a Shadowbroker node) therefore never waits and gets exactly
//! the answers it got before.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::chain::{Chain, Prepared, PushOutcome};
use super::shared::{Internal, Shared};

/// Most batches one round takes (the rest wait for the next round).
const MAX_ROUND: usize = 64;

/// Longest a pushed batch with a missing predecessor waits for it (see the module doc).
pub const PEER_PUSH_GAP_WAIT: Duration = Duration::from_secs(2);

/// A queued batch and where its outcome goes.
struct Pending {
    prepared: Prepared,
    now: u64,
    /// The pushing peer (its normalised URL).
    peer: String,
    /// When it first waited for a predecessor.
    waiting_since: Option<Instant>,
    reply: oneshot::Sender<Result<PushOutcome, Internal>>,
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
}

/// The push queue and its writer.
#[derive(Clone)]
pub struct PushCommit {
    queue: Arc<Mutex<Queue>>,
    chain: Shared<Chain>,
}

/// A push received from a peer and not yet queued (see [`PushCommit::arrive`]).
pub struct Arrival {
    commit: PushCommit,
    peer: String,
    counted: bool,
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

impl Queue {
    fn uncount(&mut self, peer: &str) {
        if let Some(n) = self.arriving.get_mut(peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.arriving.remove(peer);
            }
        }
    }
}

impl PushCommit {
    pub fn new(chain: Shared<Chain>) -> Self {
        PushCommit {
            queue: Arc::default(),
            chain,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Count a push from `peer` as on its way (call before preparing it).
    pub fn arrive(&self, peer: &str) -> Arrival {
        *self.lock().arriving.entry(peer.to_string()).or_default() += 1;
        Arrival {
            commit: self.clone(),
            peer: peer.to_string(),
            counted: true,
        }
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

    fn spawn_writer(&self) {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.write_rounds());
    }

    /// The writer: rounds until nothing is queued and every waiting batch may go on waiting.
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
            let round: Vec<Pending> = {
                let mut q = self.lock();
                let due = q.parked.iter().any(|p| !may_wait(&q, p));
                if q.pending.is_empty() && !due {
                    q.writing = false;
                    let parked = !q.parked.is_empty();
                    drop(q);
                    if parked {
                        self.recheck_later();
                    }
                    return;
                }
                let n = q.pending.len().min(MAX_ROUND);
                let mut round = std::mem::take(&mut q.parked);
                round.extend(q.pending.drain(..n));
                round
            };
            self.run_round(round);
        }
    }

    /// Look at the waiting batches again once the longest wait is over (a safety net: a push
    /// that is queued or given up wakes the writer itself).
    fn recheck_later(&self) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let me = self.clone();
        rt.spawn(async move {
            tokio::time::sleep(PEER_PUSH_GAP_WAIT).await;
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
    /// the others; commit; answer.
    fn run_round(&self, mut round: Vec<Pending>) {
        let mut chain = self.chain.lock();
        if let Err(e) = chain.begin_round() {
            tracing::error!(op = "peer_push", error = %e, "storage error");
            chain.rollback_round();
            answer_all(round, Err(Internal));
            return;
        }
        let mut outcome: Vec<Option<PushOutcome>> = round.iter().map(|_| None).collect();
        // Passes: apply every batch that does not wait for a predecessor, in queue order, as
        // long as one was applied; then apply (refuse, as before) the waiting ones that may not
        // wait any longer, and go on while anything was applied.
        let mut give_up = false;
        let mut failed = false;
        'passes: loop {
            let mut progressed = false;
            for (i, item) in round.iter().enumerate() {
                if outcome.get(i).is_some_and(Option::is_some) {
                    continue;
                }
                let applied = chain
                    .waits_for_predecessor(&item.prepared)
                    .and_then(|wait| {
                        // Waiting: left for later, unless the waits are being given up
                        // and this one may not wait any longer.
                        if wait && (!give_up || may_wait(&self.lock(), item)) {
                            return Ok(None);
                        }
                        chain
                            .push_prepared_from(&item.prepared, item.now, Some(&item.peer))
                            .map(Some)
                    });
                match applied {
                    Ok(Some(o)) => {
                        if let Some(slot) = outcome.get_mut(i) {
                            *slot = Some(o);
                        }
                        progressed = true;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::error!(op = "peer_push", error = %e, "storage error");
                        failed = true;
                        break 'passes;
                    }
                }
            }
            if progressed {
                give_up = false;
            } else if give_up {
                break;
            } else {
                give_up = true;
            }
        }
        if failed {
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
        for (mut item, out) in round.drain(..).zip(outcome) {
            match (out, &committed) {
                (Some(o), Ok(())) => {
                    let _ = item.reply.send(Ok(o));
                }
                (Some(_), Err(_)) => {
                    let _ = item.reply.send(Err(Internal));
                }
                (None, _) => {
                    item.waiting_since.get_or_insert(now);
                    parked.push(item);
                }
            }
        }
        if !parked.is_empty() {
            let mut q = self.lock();
            parked.append(&mut q.parked);
            q.parked = parked;
        }
    }
}

/// Whether `item` (whose predecessor is missing) may wait: it has not waited its bound, and a
/// push of its peer is still on its way (being prepared, or queued for the next round).
fn may_wait(q: &Queue, item: &Pending) -> bool {
    let expired = item
        .waiting_since
        .is_some_and(|t| t.elapsed() >= PEER_PUSH_GAP_WAIT);
    !expired && q.peer_in_flight(&item.peer)
}

fn answer_all(round: Vec<Pending>, r: Result<PushOutcome, Internal>) {
    for p in round {
        let _ = p.reply.send(r.clone());
    }
}

#[cfg(test)]
mod tests;
