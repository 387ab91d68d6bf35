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

type Watcher = Rc<dyn Fn(&ChainChange<'_>)>;

#[derive(Default)]
struct List {
    next_id: u64,
    watchers: Vec<(u64, Watcher)>,
}

/// The watchers of one open store.
#[derive(Default)]
pub(super) struct Watchers(Rc<RefCell<List>>);

/// Keeps a `Storage::watch_chain` callback registered; dropping it unregisters it.
pub struct ChainWatch {
    list: Weak<RefCell<List>>,
    id: u64,
}

impl Drop for ChainWatch {
    fn drop(&mut self) {
        if let Some(list) = self.list.upgrade() {
            list.borrow_mut().watchers.retain(|(i, _)| *i != self.id);
        }
    }
}

impl Watchers {
    /// Register `cb` until the returned guard is dropped.
    pub(super) fn watch(&self, cb: impl Fn(&ChainChange<'_>) + 'static) -> ChainWatch {
        let mut list = self.0.borrow_mut();
        let id = list.next_id;
        list.next_id += 1;
        list.watchers.push((id, Rc::new(cb)));
        ChainWatch {
            list: Rc::downgrade(&self.0),
            id,
        }
    }

    /// Tell every watcher (outside the borrow: a watcher may register or drop one).
    pub(super) fn tell(&self, change: &ChainChange<'_>) {
        let watchers: Vec<Watcher> = self
            .0
            .borrow()
            .watchers
            .iter()
            .map(|(_, w)| w.clone())
            .collect();
        for w in watchers {
            w(change);
        }
    }
}
