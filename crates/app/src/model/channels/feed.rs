//! What the channels board takes from the stored chain's texts: the board events of a run of
//! texts (each parsed once, only those that can be board events), where a read of the stored
//! chain starts, and the [`ChainRead`] of a read or of a page the sync just stored.
use postern_core::channels::{MESSAGE_TYPE, REPORT_TYPE, VOTE_TYPE};
use postern_core::ChainEvent;

use super::ChainRead;

/// Can this stored event text be one the board shows (a message, vote or abuse report)? A cheap
/// test before parsing: a stored text is core's compact JSON, so such an event's type is there
/// as the JSON string `"message"`, `"vote"` or `"abuse_report"`. Other texts may pass too (the
/// word as a payload string); the parse and the type check after it decide.
pub fn may_be_board_event(text: &str) -> bool {
    BOARD_TYPES_QUOTED.iter().any(|t| text.contains(t))
}

/// Core's `channels::{MESSAGE_TYPE, VOTE_TYPE, REPORT_TYPE}` as JSON strings (a test checks them).
pub const BOARD_TYPES_QUOTED: [&str; 3] = ["\"message\"", "\"vote\"", "\"abuse_report\""];

/// The board events among stored texts, in order: each text that may be one parsed once
/// (core's JSON parser and `ChainEvent::from_value`), texts that do not parse or are of another
/// type left out (a stored text was verified, so that is only a private stub or another type).
pub fn board_events<S: AsRef<str>>(texts: &[S]) -> Vec<ChainEvent> {
    board_events_of(&mut texts.iter().map(AsRef::as_ref))
}

/// [`board_events`] once in the binary, whatever the callers' text type.
fn board_events_of(texts: &mut dyn Iterator<Item = &str>) -> Vec<ChainEvent> {
    texts
        .filter(|t| may_be_board_event(t))
        .filter_map(|t| postern_core::json::parse(t.as_bytes()).ok())
        .filter_map(|v| ChainEvent::from_value(&v).ok())
        .filter(|e| [MESSAGE_TYPE, VOTE_TYPE, REPORT_TYPE].contains(&e.event_type.as_str()))
        .collect()
}

/// A string member of a stored event text (`None` if it does not parse or has none).
pub fn field(text: &str, name: &str) -> Option<String> {
    let v = postern_core::json::parse(text.as_bytes()).ok()?;
    v.get(name)
        .and_then(postern_core::json::Value::as_str)
        .map(str::to_string)
}

/// Where a read of the stored chain starts for a board holding its first `count` events, when
/// the stored cursor says `stored` events: at `count` if the stored chain may have grown on top
/// of the board (the first text read then has to link to the board's head:
/// [`continues`]), else at 0 (a first read, or the chain was cut: the board starts over).
pub fn read_start(count: u64, stored: u64) -> u64 {
    if count > 0 && stored > count {
        count
    } else {
        0
    }
}

/// Does the stored text at the board's `count` follow its `head`? (A stored chain is verified:
/// its `prev_hash` is the id of the event before.)
pub fn continues(first: Option<&str>, head: &str) -> bool {
    first.and_then(|t| field(t, "prev_hash")).as_deref() == Some(head)
}

/// The read of `texts` (the stored events `from..`, as read: at most one record's worth) for a
/// board at `(count, head)`, with their board `events` parsed, when the cursor says
/// `(stored, stored_head)`: up to the last text read, or the cursor's own place when nothing
/// more is stored than it says.
pub fn stored_read(
    board: (u64, &str),
    from: u64,
    texts: &[String],
    events: Vec<ChainEvent>,
    stored: (u64, String),
) -> ChainRead {
    let end = from + texts.len() as u64;
    let last = texts.last().and_then(|t| field(t, "event_id"));
    let more = end < stored.0 && last.is_some();
    let (count, head) = match last {
        Some(id) if more => (end, id),
        _ => stored,
    };
    ChainRead {
        after: (from > 0).then(|| (board.0, board.1.to_string())),
        count,
        head,
        events,
        more,
    }
}

/// A page the sync just stored (the events `first..` as `texts`, the cursor now `(count,
/// head)`), for the board: it follows the stored chain up to `first`, ending at the first
/// text's `prev_hash` (from index 0: the board starts over). Only board texts are parsed,
/// and the first one once more for its link.
pub fn page_read(first: u64, texts: &[&str], count: u64, head: &str) -> ChainRead {
    let after = if first == 0 {
        None
    } else {
        // No link (never for a verified text): an empty head, which no board holding
        // events has, so the board reads storage instead.
        let prev = texts.first().and_then(|t| field(t, "prev_hash"));
        Some((first, prev.unwrap_or_default()))
    };
    ChainRead {
        after,
        count,
        head: head.to_string(),
        events: board_events(texts),
        more: false,
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
#[path = "feed_tests.rs"]
mod tests;
