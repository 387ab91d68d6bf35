//! The sync view's counts and reasons in words: event counts, the sealed-events note, why a
//! served view cannot be verified.
use super::IncompleteReason;

/// `1 event`, `2 events`: a count of chain events in words.
pub fn events(n: u64) -> String {
    if n == 1 {
        "1 event".into()
    } else {
        format!("{n} events")
    }
}

/// ` (N sealed private events, link-only)` when the chain holds any.
pub(super) fn sealed_note(sealed: u64) -> String {
    match sealed {
        0 => String::new(),
        n => format!(" ({n} sealed private events, link-only)"),
    }
}

/// Why a served view cannot be verified, for people.
pub fn incomplete_text(why: IncompleteReason) -> &'static str {
    match why {
        IncompleteReason::Gap => "private events dropped, leaving a gap in the chain",
        IncompleteReason::Redacted => "an event's payload was redacted",
        IncompleteReason::Stub => "redaction stub",
    }
}
