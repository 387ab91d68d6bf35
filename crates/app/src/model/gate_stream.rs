//! Gate message streams in the app: a message is identified by its nonce (the relay's `seq`
//! is only an order hint), every opened message runs once through core's `AuthorStreams` and
//! keeps the mark it got, my next post's counter, and the plain-words note shown on a message
//! that arrived after a gap or out of order, and what was hidden (relay replays, reused
//! counters, posts sealed for a replaced epoch) counted in plain words.
use std::collections::HashMap;

use postern_core::b64;
use postern_core::gate::{AuthorStreams, StreamMark};

use super::gates::{HiddenCounts, StoredGateMessage};

/// A gate's streams as this tab keeps them: core's per-author tracker, and the relay `seq`
/// under which each message (by nonce) was first kept, which tells a relay serving a message
/// again under another number apart from the same answer read twice (my own post read back,
/// a message another tab stored).
#[derive(Debug, Default)]
pub struct GateStreams {
    authors: AuthorStreams,
    first_seq: HashMap<String, u64>,
}

impl GateStreams {
    pub fn new() -> Self {
        GateStreams::default()
    }

    /// The highest counter seen from `author` (to continue one's own counter after a restore).
    pub fn last_counter(&self, author: &str) -> Option<u64> {
        self.authors.last_counter(author)
    }

    fn observe(&mut self, m: &StoredGateMessage, nonce: [u8; 16]) -> StreamMark {
        let mark = self.authors.observe(&m.sender, nonce, m.counter);
        self.first_seq.entry(m.nonce.clone()).or_insert(m.seq);
        mark
    }
}

/// Why a message was not kept (see [`admit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    /// Already kept under the same seq: the same answer read twice. Nothing to report.
    Again,
    /// Already kept under another seq: the relay served it a second time.
    Replayed,
    /// Another message whose author had already used its counter (two versions of a post).
    Reused,
}

impl Skipped {
    /// Count it in `hidden` (a re-read is not counted).
    pub fn count(self, hidden: &mut HiddenCounts) {
        let n = match self {
            Skipped::Again => return,
            Skipped::Replayed => &mut hidden.replayed,
            Skipped::Reused => &mut hidden.reused,
        };
        *n = n.saturating_add(1);
    }
}

/// The 16 nonce bytes of a stored message (`None` for a record stored before nonces were kept).
fn nonce_bytes(m: &StoredGateMessage) -> Option<[u8; 16]> {
    b64::decode_std_array::<16>(&m.nonce).ok()
}

/// Whether two stored messages are the same message: the same nonce; records without a nonce
/// (stored before nonces were kept) fall back to the relay's `seq`.
pub fn same_message(a: &StoredGateMessage, b: &StoredGateMessage) -> bool {
    if a.gate != b.gate {
        return false;
    }
    if a.nonce.is_empty() || b.nonce.is_empty() {
        a.seq == b.seq
    } else {
        a.nonce == b.nonce
    }
}

/// Classify a newly opened message against the gate's streams and record its mark in it.
/// Not kept (not shown or stored) when the same nonce was kept before (under the same seq: a
/// re-read; under another: a relay replaying it) or when its author had already used its
/// counter for another message. A message without a nonce is kept as uncounted.
pub fn admit(
    streams: &mut GateStreams,
    mut m: StoredGateMessage,
) -> Result<StoredGateMessage, Skipped> {
    let mark = match nonce_bytes(&m) {
        Some(nonce) => streams.observe(&m, nonce),
        None => StreamMark::Uncounted,
    };
    match mark {
        StreamMark::Duplicate if streams.first_seq.get(&m.nonce) == Some(&m.seq) => {
            return Err(Skipped::Again)
        }
        StreamMark::Duplicate => return Err(Skipped::Replayed),
        StreamMark::Replayed => return Err(Skipped::Reused),
        _ => {}
    }
    m.stream = Some(mark.code().to_string());
    m.missing = match mark {
        StreamMark::Gap { missing } => missing,
        _ => 0,
    };
    Ok(m)
}

/// The streams of a gate rebuilt from its stored messages (on load); their stored marks stay.
pub fn rebuild(stored: &[StoredGateMessage]) -> GateStreams {
    let mut s = GateStreams::new();
    remember(&mut s, stored);
    s
}

/// Feed stored messages (e.g. written by another tab) into existing streams; those already
/// seen are ignored.
pub fn remember(streams: &mut GateStreams, stored: &[StoredGateMessage]) {
    for m in stored {
        if let Some(n) = nonce_bytes(m) {
            let _ = streams.observe(m, n);
        }
    }
}

/// Add a message to a gate's list unless it is already there (see [`same_message`]); the list
/// stays in the relay's order. True when added.
pub fn insert(list: &mut Vec<StoredGateMessage>, m: StoredGateMessage) -> bool {
    if list.iter().any(|x| same_message(x, &m)) {
        return false;
    }
    list.push(m);
    super::sort::sort_by_key(list, |m| m.seq);
    true
}

/// My next counter in a gate: above the counter stored in this browser and above the highest
/// one of mine seen in the gate (a restored profile), so a counter is never used twice;
/// `None` once the counter is exhausted.
pub fn next_counter(stored: Option<u64>, seen: Option<u64>) -> Option<u64> {
    stored.unwrap_or(0).max(seen.unwrap_or(0)).checked_add(1)
}

/// How a message is shown (`data-stream`): `gap` while earlier messages of its author are
/// still missing, `out_of_order`, `uncounted` (legacy, not checked) or `in_order`.
pub fn display_code(m: &StoredGateMessage, all: &[StoredGateMessage]) -> &'static str {
    if still_missing(m, all) > 0 {
        return "gap";
    }
    match (m.stream.as_deref(), m.counter) {
        (Some("out_of_order"), _) => "out_of_order",
        (_, None) => "uncounted",
        _ => "in_order",
    }
}

/// For a message marked `gap`: how many of the counters it skipped have still not arrived.
pub fn still_missing(m: &StoredGateMessage, all: &[StoredGateMessage]) -> u64 {
    let (Some("gap"), Some(c)) = (m.stream.as_deref(), m.counter) else {
        return 0;
    };
    let lo = c.saturating_sub(m.missing);
    let arrived = all
        .iter()
        .filter(|x| x.gate == m.gate && x.sender == m.sender)
        .filter(|x| x.counter.is_some_and(|k| k >= lo && k < c))
        .count();
    m.missing
        .saturating_sub(u64::try_from(arrived).unwrap_or(u64::MAX))
}

/// The note shown on a message (`None` for most): `author` is the name shown for its sender.
pub fn note(m: &StoredGateMessage, all: &[StoredGateMessage], author: &str) -> Option<String> {
    let from = if author == "You" { "you" } else { author };
    match display_code(m, all) {
        "gap" => {
            let n = still_missing(m, all);
            let (what, verb) = if n == 1 {
                ("message", "has")
            } else {
                ("messages", "have")
            };
            Some(format!(
                "{n} earlier {what} from {from} {verb} not arrived — the relay may be holding \
                 them back."
            ))
        }
        "out_of_order" => Some(format!(
            "Arrived late, after newer messages from {from} — the relay delivered it out of order."
        )),
        _ => None,
    }
}

/// The sentence under a gate's conversation saying what was hidden from it (`None` when
/// nothing was).
pub fn hidden_note(h: &HiddenCounts) -> Option<String> {
    let plural = |n: u64| if n == 1 { "message" } else { "messages" };
    let mut parts = Vec::new();
    if h.replayed > 0 {
        parts.push(format!(
            "{} {} the relay delivered again (shown once)",
            h.replayed,
            plural(h.replayed)
        ));
    }
    if h.reused > 0 {
        parts.push(format!(
            "{} {} reusing a number its author had already used (a member sending two versions)",
            h.reused,
            plural(h.reused)
        ));
    }
    if h.stale > 0 {
        parts.push(format!(
            "{} {} sealed with a key that had already been replaced (e.g. by a removed member)",
            h.stale,
            plural(h.stale)
        ));
    }
    if parts.is_empty() {
        return None;
    }
    Some(format!(
        "Hidden from this conversation: {}.",
        parts.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(sender: &str, seq: u64, nonce: u8, counter: Option<u64>) -> StoredGateMessage {
        StoredGateMessage {
            gate: "g".into(),
            seq,
            epoch: 1,
            sender: sender.into(),
            timestamp: 100 + seq,
            body: format!("m{nonce}"),
            nonce: b64::encode_std(&[nonce; 16]),
            counter,
            stream: None,
            missing: 0,
        }
    }

    /// What a client keeps of a relay answer: admitted messages, added to the list.
    fn receive(
        list: &mut Vec<StoredGateMessage>,
        s: &mut GateStreams,
        m: StoredGateMessage,
    ) -> bool {
        admit(s, m).is_ok_and(|m| insert(list, m))
    }

    fn codes(list: &[StoredGateMessage]) -> Vec<(String, &'static str)> {
        list.iter()
            .map(|m| (m.body.clone(), display_code(m, list)))
            .collect()
    }

    #[test]
    fn a_message_replayed_under_another_seq_is_shown_once() {
        let (mut list, mut s) = (Vec::new(), GateStreams::new());
        assert!(receive(&mut list, &mut s, msg("bob", 1, 1, Some(1))));
        // The relay serves the same message again under a new seq (the old client keyed by
        // seq and showed it twice).
        assert!(!receive(&mut list, &mut s, msg("bob", 9, 1, Some(1))));
        // Legacy (uncounted) messages are deduplicated by nonce too, and still shown.
        assert!(receive(&mut list, &mut s, msg("carol", 2, 2, None)));
        assert!(!receive(&mut list, &mut s, msg("carol", 10, 2, None)));
        assert_eq!(list.len(), 2);
        assert_eq!(display_code(&list[1], &list), "uncounted");
        assert_eq!(note(&list[1], &list, "Carol"), None);
    }

    #[test]
    fn a_replayed_or_swapped_counter_is_hidden() {
        let (mut list, mut s) = (Vec::new(), GateStreams::new());
        assert!(receive(&mut list, &mut s, msg("bob", 1, 1, Some(1))));
        assert!(receive(&mut list, &mut s, msg("bob", 2, 2, Some(2))));
        // Another message of Bob's under a counter he already used: not shown.
        assert!(admit(&mut s, msg("bob", 3, 3, Some(2))).is_err());
        assert!(admit(&mut s, msg("bob", 4, 4, Some(1))).is_err());
        // Another author may use the same counter.
        assert!(receive(&mut list, &mut s, msg("carol", 5, 5, Some(1))));
        assert_eq!(list.len(), 3);
    }

    #[test]
    fn what_is_hidden_is_told_apart_and_counted() {
        let mut s = GateStreams::new();
        let mut hidden = HiddenCounts::default();
        let mut take = |s: &mut GateStreams, m| admit(s, m).map_err(|w| w.count(&mut hidden));
        assert!(take(&mut s, msg("bob", 1, 1, Some(1))).is_ok());
        // The same answer read again (my post read back, another tab's copy): not counted.
        assert_eq!(
            admit(&mut s, msg("bob", 1, 1, Some(1))),
            Err(Skipped::Again)
        );
        assert!(take(&mut s, msg("bob", 1, 1, Some(1))).is_err());
        // Served again under another seq: the relay replaying it.
        assert_eq!(
            admit(&mut s, msg("bob", 7, 1, Some(1))),
            Err(Skipped::Replayed)
        );
        assert!(take(&mut s, msg("bob", 8, 1, Some(1))).is_err());
        // Another message under a counter Bob already used.
        assert_eq!(
            admit(&mut s, msg("bob", 9, 2, Some(1))),
            Err(Skipped::Reused)
        );
        assert!(take(&mut s, msg("bob", 10, 3, Some(1))).is_err());
        assert_eq!(
            hidden,
            HiddenCounts {
                replayed: 1,
                reused: 1,
                stale: 0
            }
        );
        // A message another tab stored is a re-read when the relay serves it under its seq.
        let mut s = rebuild(&[msg("bob", 4, 5, Some(1))]);
        assert_eq!(
            admit(&mut s, msg("bob", 4, 5, Some(1))),
            Err(Skipped::Again)
        );
        assert_eq!(
            admit(&mut s, msg("bob", 6, 5, Some(1))),
            Err(Skipped::Replayed)
        );
    }

    #[test]
    fn the_hidden_note_says_each_reason_in_words() {
        assert_eq!(hidden_note(&HiddenCounts::default()), None);
        let one = HiddenCounts {
            replayed: 1,
            reused: 0,
            stale: 0,
        };
        assert_eq!(
            hidden_note(&one).as_deref(),
            Some(
                "Hidden from this conversation: 1 message the relay delivered again (shown once)."
            )
        );
        let all = HiddenCounts {
            replayed: 2,
            reused: 1,
            stale: 3,
        };
        let n = hidden_note(&all).unwrap_or_default();
        assert!(n.contains("2 messages the relay delivered again"), "{n}");
        assert!(n.contains("1 message reusing a number"), "{n}");
        assert!(
            n.contains("3 messages sealed with a key that had already been replaced"),
            "{n}"
        );
    }

    #[test]
    fn a_dropped_message_gives_a_gap_note_until_it_arrives() {
        let (mut list, mut s) = (Vec::new(), GateStreams::new());
        receive(&mut list, &mut s, msg("bob", 1, 1, Some(1)));
        // Counters 2 and 3 withheld by the relay.
        receive(&mut list, &mut s, msg("bob", 2, 4, Some(4)));
        assert_eq!(list[1].stream.as_deref(), Some("gap"));
        assert_eq!(list[1].missing, 2);
        assert_eq!(display_code(&list[1], &list), "gap");
        assert_eq!(
            note(&list[1], &list, "Bob").as_deref(),
            Some(
                "2 earlier messages from Bob have not arrived — the relay may be holding \
                 them back."
            )
        );
        // One of them arrives late: out of order, and the gap note counts one.
        receive(&mut list, &mut s, msg("bob", 3, 2, Some(2)));
        assert_eq!(display_code(&list[2], &list), "out_of_order");
        assert!(note(&list[2], &list, "Bob")
            .unwrap()
            .starts_with("Arrived late"));
        assert_eq!(
            note(&list[1], &list, "Bob").as_deref(),
            Some(
                "1 earlier message from Bob has not arrived — the relay may be holding them \
                 back."
            )
        );
        receive(&mut list, &mut s, msg("bob", 4, 3, Some(3)));
        assert_eq!(display_code(&list[1], &list), "in_order");
        assert_eq!(note(&list[1], &list, "Bob"), None);
    }

    #[test]
    fn reordering_is_out_of_order() {
        let (mut list, mut s) = (Vec::new(), GateStreams::new());
        receive(&mut list, &mut s, msg("bob", 1, 2, Some(2)));
        receive(&mut list, &mut s, msg("bob", 2, 3, Some(3)));
        receive(&mut list, &mut s, msg("bob", 3, 1, Some(1)));
        assert_eq!(
            codes(&list),
            vec![
                ("m2".to_string(), "in_order"),
                ("m3".to_string(), "in_order"),
                ("m1".to_string(), "out_of_order"),
            ]
        );
    }

    #[test]
    fn a_reload_gives_the_same_marks_and_verdicts() {
        let arrivals = [
            msg("bob", 1, 1, Some(1)),
            msg("bob", 2, 4, Some(4)),
            msg("bob", 3, 2, Some(2)),
            msg("carol", 4, 5, None),
        ];
        let (mut list, mut s) = (Vec::new(), GateStreams::new());
        for m in arrivals.iter().cloned() {
            receive(&mut list, &mut s, m);
        }
        // What is stored is what a reload reads back (serde round trip).
        let json = serde_json::to_string(&list).unwrap();
        let stored: Vec<StoredGateMessage> = serde_json::from_str(&json).unwrap();
        assert_eq!(stored, list);
        assert_eq!(codes(&stored), codes(&list));
        // The rebuilt streams judge later arrivals as the live ones do.
        let mut rebuilt = rebuild(&stored);
        for m in [
            msg("bob", 5, 1, Some(1)), // the same message again
            msg("bob", 6, 9, Some(2)), // a swapped counter
            msg("bob", 7, 3, Some(3)), // the missing one
            msg("bob", 8, 8, Some(6)), // a new gap
            msg("carol", 9, 5, None),  // a legacy one again
        ] {
            assert_eq!(admit(&mut rebuilt, m.clone()), admit(&mut s, m));
        }
        // Feeding stored messages again (another tab's writes) changes nothing.
        remember(&mut rebuilt, &stored);
        assert_eq!(rebuilt.last_counter("bob"), s.last_counter("bob"));
        assert_eq!(rebuilt.authors.missing("bob"), s.authors.missing("bob"));
    }

    #[test]
    fn records_without_nonce_or_marks_still_load_and_show() {
        let old = r#"{"gate":"g","seq":7,"epoch":2,"sender":"a","timestamp":11,"body":"hi"}"#;
        let m: StoredGateMessage = serde_json::from_str(old).unwrap();
        assert!(m.nonce.is_empty() && m.counter.is_none() && m.stream.is_none());
        let mut list = vec![m.clone()];
        assert_eq!(display_code(&m, &list), "uncounted");
        // Told apart by seq; admitted as uncounted.
        assert!(!insert(&mut list, m.clone()));
        let mut s = rebuild(&list);
        assert_eq!(
            admit(&mut s, m).ok().unwrap().stream.as_deref(),
            Some("uncounted")
        );
    }

    #[test]
    fn next_counter_only_grows() {
        assert_eq!(next_counter(None, None), Some(1));
        assert_eq!(next_counter(Some(4), None), Some(5));
        assert_eq!(next_counter(Some(4), Some(9)), Some(10));
        assert_eq!(next_counter(Some(12), Some(9)), Some(13));
        assert_eq!(next_counter(Some(u64::MAX), None), None);
    }

    #[test]
    fn sealed_counted_posts_open_with_nonce_and_counter() {
        use crate::model::gates::{derive, hex32, opened};
        use postern_core::gate::{self, GateId};
        use postern_core::Identity;
        use rand_core::OsRng;

        let alice = Identity::generate(&mut OsRng);
        let gid = GateId::generate(&mut OsRng);
        let rec = gate::create_genesis(&alice, &gid, 10, &mut OsRng).unwrap();
        let genesis = hex32(rec.verify().unwrap().hash());
        let d = derive(&alice, gid.as_str(), &genesis, &[rec]).unwrap();
        let (mut list, mut s) = (Vec::new(), GateStreams::new());
        let me = alice.node_id();
        let mut sent = Vec::new();
        for c in [1, 2, 4] {
            let m = d
                .keyring
                .seal_counted(&alice, b"hi", 20, c, &mut OsRng)
                .unwrap();
            let o = opened(gid.as_str(), c, &d, &m).unwrap();
            assert_eq!((o.nonce.as_str(), o.counter), (m.nonce.as_str(), Some(c)));
            sent.push(o);
        }
        for o in &sent {
            assert!(receive(&mut list, &mut s, o.clone()));
        }
        assert_eq!(display_code(&list[2], &list), "gap");
        assert_eq!(next_counter(Some(2), s.last_counter(&me)), Some(5));
        // The relay re-serving the first post under a new seq: shown once.
        let mut again = sent[0].clone();
        again.seq = 99;
        assert!(!receive(&mut list, &mut s, again));
        // A legacy (uncounted) post still opens and shows.
        let m = d.keyring.seal(&alice, b"old", 20, &mut OsRng).unwrap();
        let o = opened(gid.as_str(), 5, &d, &m).unwrap();
        assert!(receive(&mut list, &mut s, o));
        assert_eq!(display_code(&list[3], &list), "uncounted");
    }
}
