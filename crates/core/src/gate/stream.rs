//! Gate message stream integrity: per-author counters (signed inside the ciphertext, see
//! [`super::message::seal_counted`]) let members detect what a relay hides or replays.
//!
//! Messages are identified by their nonce (never by the relay's `seq`): the same nonce seen
//! twice is one message ([`StreamMark::Duplicate`]). For each author the tracker remembers the
//! counters it has seen; a new message whose counter was already seen under another nonce is a
//! [`StreamMark::Replayed`] copy, one below the highest counter seen is
//! [`StreamMark::OutOfOrder`], and the counters between the lowest and highest seen that never
//! arrived are reported by [`AuthorStreams::missing`] (dropped or still withheld). A member who
//! joins late starts from the first counter it sees, so history before it is not "missing".
use std::collections::{BTreeMap, BTreeSet};

/// Most counters remembered per author (older ones are compacted into a floor).
pub const MAX_TRACKED_PER_AUTHOR: usize = 4096;

/// Verdict on one received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamMark {
    /// The next expected message (or the first one seen from this author).
    InOrder,
    /// Arrived after a later message of the same author (reordered, or filled in a gap).
    OutOfOrder,
    /// Skipped counters: `missing` messages of this author before it have not arrived (yet).
    Gap { missing: u64 },
    /// A different message (nonce) with a counter already seen: a replay or an equivocation.
    /// Do not show it as a new post.
    Replayed,
    /// This exact message (nonce) was already seen: ignore.
    Duplicate,
    /// A legacy message without a counter: ordering cannot be checked.
    Uncounted,
}

impl StreamMark {
    /// Stable code for storage and the UI.
    pub fn code(&self) -> &'static str {
        match self {
            StreamMark::InOrder => "in_order",
            StreamMark::OutOfOrder => "out_of_order",
            StreamMark::Gap { .. } => "gap",
            StreamMark::Replayed => "replayed",
            StreamMark::Duplicate => "duplicate",
            StreamMark::Uncounted => "uncounted",
        }
    }

    /// Whether the message should be displayed as a post.
    pub fn is_shown(&self) -> bool {
        !matches!(self, StreamMark::Replayed | StreamMark::Duplicate)
    }
}

#[derive(Debug, Clone, Default)]
struct Author {
    /// Counters seen, each with its nonce.
    seen: BTreeMap<u64, [u8; 16]>,
    /// Counters at or below the floor were compacted away (count as seen).
    floor: u64,
}

/// Per-author counter tracking for one gate.
#[derive(Debug, Clone, Default)]
pub struct AuthorStreams {
    nonces: BTreeSet<[u8; 16]>,
    authors: BTreeMap<String, Author>,
}

impl AuthorStreams {
    pub fn new() -> Self {
        AuthorStreams::default()
    }

    /// Record a message (`author` = member id, `nonce` = the message nonce, `counter` from
    /// the opened message) and classify it.
    pub fn observe(&mut self, author: &str, nonce: [u8; 16], counter: Option<u64>) -> StreamMark {
        if !self.nonces.insert(nonce) {
            return StreamMark::Duplicate;
        }
        let Some(c) = counter else {
            return StreamMark::Uncounted;
        };
        let a = self.authors.entry(author.to_string()).or_default();
        if c <= a.floor || a.seen.contains_key(&c) {
            return StreamMark::Replayed;
        }
        let max = a.seen.keys().next_back().copied();
        a.seen.insert(c, nonce);
        let mark = match max {
            None => StreamMark::InOrder,
            Some(m) if c < m => StreamMark::OutOfOrder,
            Some(m) if c == m.saturating_add(1) => StreamMark::InOrder,
            Some(m) => StreamMark::Gap {
                missing: c.saturating_sub(m).saturating_sub(1),
            },
        };
        while a.seen.len() > MAX_TRACKED_PER_AUTHOR {
            if let Some((k, _)) = a.seen.pop_first() {
                a.floor = k;
            }
        }
        mark
    }

    /// Messages of `author` between the lowest and highest counter seen that never arrived.
    pub fn missing(&self, author: &str) -> u64 {
        let Some(a) = self.authors.get(author) else {
            return 0;
        };
        let (Some(lo), Some(hi)) = (a.seen.keys().next(), a.seen.keys().next_back()) else {
            return 0;
        };
        let lo = if a.floor > 0 { a.floor } else { *lo };
        let span = hi.saturating_sub(lo).saturating_add(1);
        let have = u64::try_from(a.seen.len()).unwrap_or(u64::MAX) + u64::from(a.floor > 0);
        span.saturating_sub(have)
    }

    /// Total missing messages over all authors.
    pub fn total_missing(&self) -> u64 {
        self.authors.keys().map(|a| self.missing(a)).sum()
    }

    /// The highest counter seen from `author` (to continue one's own counter after a restore).
    pub fn last_counter(&self, author: &str) -> Option<u64> {
        self.authors
            .get(author)
            .and_then(|a| a.seen.keys().next_back().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(b: u8) -> [u8; 16] {
        [b; 16]
    }

    #[test]
    fn drops_replays_reorders_detected() {
        let mut s = AuthorStreams::new();
        assert_eq!(s.observe("a", n(1), Some(1)), StreamMark::InOrder);
        assert_eq!(s.observe("a", n(2), Some(2)), StreamMark::InOrder);
        // The relay re-serves message 1 under its seq: same nonce → one message.
        assert_eq!(s.observe("a", n(1), Some(1)), StreamMark::Duplicate);
        // Counter 3 withheld, 4 arrives: a gap of one.
        assert_eq!(
            s.observe("a", n(4), Some(4)),
            StreamMark::Gap { missing: 1 }
        );
        assert_eq!(s.missing("a"), 1);
        // 3 arrives late: out of order, gap closed.
        assert_eq!(s.observe("a", n(3), Some(3)), StreamMark::OutOfOrder);
        assert_eq!(s.missing("a"), 0);
        // Another nonce with an already used counter: a replay (not shown).
        let r = s.observe("a", n(9), Some(2));
        assert_eq!(r, StreamMark::Replayed);
        assert!(!r.is_shown());
        // Authors are independent; legacy messages are uncounted.
        assert_eq!(s.observe("b", n(5), Some(7)), StreamMark::InOrder);
        assert_eq!(s.observe("b", n(6), None), StreamMark::Uncounted);
        assert_eq!(s.total_missing(), 0);
        assert_eq!(s.last_counter("a"), Some(4));
    }

    #[test]
    fn compaction_keeps_replay_detection() {
        let mut s = AuthorStreams::new();
        let total = MAX_TRACKED_PER_AUTHOR as u64 + 10;
        for c in 1..=total {
            let mut nonce = [0u8; 16];
            nonce[..8].copy_from_slice(&c.to_be_bytes());
            assert_eq!(s.observe("a", nonce, Some(c)), StreamMark::InOrder);
        }
        assert_eq!(s.observe("a", n(0xff), Some(1)), StreamMark::Replayed);
        assert_eq!(s.missing("a"), 0);
    }
}
