//! Turns to prepare pushed batches: one per core, handed out round-robin across peers, each
//! peer's own pushes in arrival order (so one peer's queue of pushes delays another peer's push by
//! at most one preparation per peer, not by everything it queued first).
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

/// The preparation turns of a relay (see the module doc).
pub(super) struct Turns {
    state: Mutex<State>,
    /// One turn per core (tests compare with it).
    #[cfg(test)]
    cores: usize,
}

#[derive(Default)]
struct State {
    /// Turns nobody holds.
    free: usize,
    /// Peers with pushes waiting, in the order their next turn comes; each peer's waiting
    /// pushes oldest first.
    queues: VecDeque<(String, VecDeque<oneshot::Sender<Turn>>)>,
    /// Pushes waiting in `queues` (a waiter whose request went away counts until skipped).
    waiting: usize,
}

/// Turns held by one push (released when dropped, also when its request goes away after the
/// turn was handed to it).
pub(super) struct Turn {
    turns: Arc<Turns>,
    held: usize,
}

impl Drop for Turn {
    fn drop(&mut self) {
        let held = std::mem::take(&mut self.held);
        if held > 0 {
            self.turns.release(held);
        }
    }
}

impl Turn {
    /// Turns held (threads the push may use).
    pub(super) fn held(&self) -> usize {
        self.held
    }
}

impl Turns {
    pub(super) fn new(cores: usize) -> Arc<Self> {
        let cores = cores.max(1);
        Arc::new(Turns {
            state: Mutex::new(State {
                free: cores,
                ..State::default()
            }),
            #[cfg(test)]
            cores,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wait for a turn for a push of `peer`; with nobody else waiting, also take every other
    /// free turn (a lone push uses every core).
    pub(super) async fn take(self: &Arc<Self>, peer: &str) -> Turn {
        let wait = {
            let mut s = self.lock();
            if s.free > 0 && s.waiting == 0 {
                let held = s.free;
                s.free = 0;
                return Turn {
                    turns: Arc::clone(self),
                    held,
                };
            }
            let (tx, rx) = oneshot::channel();
            match s.queues.iter_mut().find(|(p, _)| p == peer) {
                Some((_, q)) => q.push_back(tx),
                None => s.queues.push_back((peer.to_string(), VecDeque::from([tx]))),
            }
            s.waiting += 1;
            rx
        };
        match wait.await {
            Ok(turn) => turn,
            // The sender is only dropped unsent by `release` when the turns are gone, which
            // cannot happen while `self` is alive; take a turn of no cores rather than fail.
            Err(_) => Turn {
                turns: Arc::clone(self),
                held: 0,
            },
        }
    }

    /// Give `n` turns back: each goes to the next waiting push, peers in rotation.
    fn release(self: &Arc<Self>, n: usize) {
        let mut handed = Vec::new();
        {
            let mut s = self.lock();
            s.free += n;
            while s.free > 0 {
                let Some((peer, mut q)) = s.queues.pop_front() else {
                    break;
                };
                let Some(tx) = q.pop_front() else {
                    continue;
                };
                s.waiting = s.waiting.saturating_sub(1);
                if !q.is_empty() {
                    s.queues.push_back((peer, q));
                }
                if tx.is_closed() {
                    continue;
                }
                s.free -= 1;
                handed.push((tx, 1));
            }
            // The last waiter served, turns left over: it uses them too (as a lone push would).
            if s.waiting == 0 && s.free > 0 {
                if let Some((_, held)) = handed.last_mut() {
                    *held += std::mem::take(&mut s.free);
                }
            }
        }
        // Sent outside the lock: a push that went away meanwhile gives its turn back through
        // `Turn::drop` (which takes the lock again).
        for (tx, held) in handed {
            let _ = tx.send(Turn {
                turns: Arc::clone(self),
                held,
            });
        }
    }

    /// Pushes waiting for a turn (tests).
    #[cfg(test)]
    pub(super) fn waiting(&self) -> usize {
        self.lock().waiting
    }

    /// Turns nobody holds (tests).
    #[cfg(test)]
    pub(super) fn free(&self) -> usize {
        self.lock().free
    }

    /// One turn per core (tests).
    #[cfg(test)]
    pub(super) fn cores(&self) -> usize {
        self.cores
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// Every turn taken (by one push of peer "x"), so later pushes wait.
    async fn all_taken(t: &Arc<Turns>) -> Turn {
        let turn = t.take("x").await;
        assert_eq!(turn.held(), t.cores());
        turn
    }

    #[tokio::test]
    async fn a_lone_push_takes_every_core() {
        let t = Turns::new(4);
        let turn = t.take("a").await;
        assert_eq!(turn.held(), 4);
        drop(turn);
        assert_eq!(t.free(), 4);
    }

    #[tokio::test]
    async fn turns_go_round_robin_across_peers_and_in_arrival_order_within_one() {
        let t = Turns::new(1);
        let first = all_taken(&t).await;
        // Peer a queues eight pushes, then b and c one each, then a ninth of a.
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut hs = Vec::new();
        let pushes = [
            "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "b1", "c1", "a9",
        ];
        for (k, name) in pushes.into_iter().enumerate() {
            let (t2, order) = (Arc::clone(&t), Arc::clone(&order));
            hs.push(tokio::spawn(async move {
                let turn = t2.take(&name[..1]).await;
                order.lock().unwrap().push(name);
                drop(turn);
            }));
            // Queued in this order (each waits before the next is spawned).
            while t.waiting() < k + 1 {
                tokio::task::yield_now().await;
            }
        }
        drop(first);
        for h in hs {
            h.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(
            order,
            ["a1", "b1", "c1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9"]
        );
        assert_eq!((t.free(), t.waiting()), (1, 0));
    }

    #[tokio::test]
    async fn a_push_that_went_away_does_not_keep_a_turn() {
        let t = Turns::new(2);
        let first = all_taken(&t).await;
        let t2 = Arc::clone(&t);
        let gone = tokio::spawn(async move { t2.take("a").await.held() });
        while t.waiting() < 1 {
            tokio::task::yield_now().await;
        }
        gone.abort();
        assert!(gone.await.unwrap_err().is_cancelled());
        let t3 = Arc::clone(&t);
        let next = tokio::spawn(async move { t3.take("b").await.held() });
        while t.waiting() < 2 {
            tokio::task::yield_now().await;
        }
        drop(first);
        // b gets a's turn (a was skipped) and, the last one waiting, the other free one too;
        // every turn is free again afterwards.
        assert_eq!(next.await.unwrap(), 2);
        assert_eq!((t.free(), t.waiting()), (2, 0));
    }
}
