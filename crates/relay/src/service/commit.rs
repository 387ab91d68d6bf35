//! Group commit of DM deposits: concurrent deposits wait in one queue, which a single writer
//! (on the blocking pool, while there is work) drains into one transaction per round
//! ([`Store::deposit_batch`]): one fsync for every deposit of the round, and each request is
//! answered only after its round's commit returned, so an answered deposit is durable
//! (`synchronous=FULL`).
use std::sync::{Arc, Mutex};

use postern_core::caps::SpoolLimits;
use postern_core::dm::DmEnvelope;
use tokio::sync::oneshot;

use super::shared::{Internal, Shared};
use crate::store::{Deposit, DepositRequest, Store};

/// Most deposits one transaction takes (the rest wait for the next round).
const MAX_ROUND: usize = 512;

/// A queued deposit and where its outcome goes.
struct Pending {
    envelope: DmEnvelope,
    /// A replica's origin expiry and the peer it came from.
    replica: Option<(u64, String)>,
    now: u64,
    reply: oneshot::Sender<Result<Deposit, Internal>>,
}

#[derive(Default)]
struct Queue {
    pending: Vec<Pending>,
    /// A writer is draining the queue.
    writing: bool,
}

/// The deposit queue and its writer.
#[derive(Clone)]
pub struct GroupCommit {
    queue: Arc<Mutex<Queue>>,
    store: Shared<Store>,
    limits: SpoolLimits,
}

impl GroupCommit {
    pub fn new(store: Shared<Store>, limits: SpoolLimits) -> Self {
        GroupCommit {
            queue: Arc::default(),
            store,
            limits,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queue a deposit and wait until the transaction holding it is committed.
    pub async fn deposit(
        &self,
        envelope: DmEnvelope,
        replica: Option<(u64, String)>,
        now: u64,
    ) -> Result<Deposit, Internal> {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut q = self.lock();
            q.pending.push(Pending {
                envelope,
                replica,
                now,
                reply,
            });
            !std::mem::replace(&mut q.writing, true)
        };
        if start {
            let me = self.clone();
            tokio::task::spawn_blocking(move || me.write_rounds());
        }
        answer.await.unwrap_or_else(|_| {
            tracing::error!("deposit writer stopped before answering");
            Err(Internal)
        })
    }

    /// The writer: commit rounds until the queue is empty.
    fn write_rounds(&self) {
        /// Should the writer unwind, the next deposit starts a new one; the queued requests
        /// are answered (dropped senders: `Internal`).
        struct OnUnwind<'a>(&'a GroupCommit);
        impl Drop for OnUnwind<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    let mut q = self.0.lock();
                    q.pending.clear();
                    q.writing = false;
                }
            }
        }
        let _guard = OnUnwind(self);
        loop {
            let round: Vec<Pending> = {
                let mut q = self.lock();
                if q.pending.is_empty() {
                    q.writing = false;
                    return;
                }
                let n = q.pending.len().min(MAX_ROUND);
                q.pending.drain(..n).collect()
            };
            self.commit_round(round);
        }
    }

    fn commit_round(&self, round: Vec<Pending>) {
        let reqs: Vec<DepositRequest<'_>> = round
            .iter()
            .map(|p| DepositRequest {
                envelope: &p.envelope,
                replica: p.replica.as_ref().map(|(e, f)| (*e, f.as_str())),
                now: p.now,
            })
            .collect();
        let outcome = self.store.lock().deposit_batch(&reqs, &self.limits);
        drop(reqs);
        match outcome {
            Ok(results) => {
                for (p, r) in round.into_iter().zip(results) {
                    let r = r.map_err(|e| {
                        tracing::error!(op = "deposit", error = %e, "storage error");
                        Internal
                    });
                    let _ = p.reply.send(r);
                }
            }
            Err(e) => {
                tracing::error!(op = "deposit", error = %e, deposits = round.len(), "storage error");
                for p in round {
                    let _ = p.reply.send(Err(Internal));
                }
            }
        }
    }
}
