//! Watchers of the stored chain in this tab: after each commit that changes the `events` store
//! (a page appended, a cut, a drop), every watcher is told what changed, with the texts the
//! write already held, so a reader (the channels board) follows the chain without reading
//! IndexedDB again. Other tabs' writes are not seen here (they read storage on their tick).
use std::cell::RefCell;
use std::rc::{Rc, Weak};

use crate::model::chain::SyncHead;

/// What a committed write did to the stored chain.
pub enum ChainChange<'a> {
    /// The events `first..` (their exact texts, in order) were stored; the cursor is `head`.
    Appended {
        first: u64,
        texts: &'a [&'a str],
        head: &'a SyncHead,
    },
    /// The stored chain was cut back to this many events (a fork heal; 0: dropped).
    Cut(u64),
}

type Watcher = dyn Fn(&ChainChange<'_>);

/// The watchers of one open store (each held by its [`ChainWatch`]).
#[derive(Default)]
pub(super) struct Watchers(RefCell<Vec<Weak<Watcher>>>);

/// Keeps a `Storage::watch_chain` callback registered; dropping it unregisters it.
pub struct ChainWatch {
    _watcher: Rc<Watcher>,
}

impl Watchers {
    /// Register `cb` until the returned guard is dropped.
    pub(super) fn watch(&self, cb: impl Fn(&ChainChange<'_>) + 'static) -> ChainWatch {
        let cb: Rc<Watcher> = Rc::new(cb);
        self.0.borrow_mut().push(Rc::downgrade(&cb));
        ChainWatch { _watcher: cb }
    }

    /// Tell every watcher still held (outside the borrow: a watcher may register another).
    pub(super) fn tell(&self, change: &ChainChange<'_>) {
        let live: Vec<Rc<Watcher>> = {
            let mut list = self.0.borrow_mut();
            list.retain(|w| w.strong_count() > 0);
            list.iter().filter_map(Weak::upgrade).collect()
        };
        for w in live {
            w(change);
        }
    }
}
