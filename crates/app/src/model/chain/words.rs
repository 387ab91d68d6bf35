//! The sync view's counts and reasons in words: event counts, the sealed-events note, why a
//! served view cannot be verified, a fork heal the copy followed.
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

/// What the browser did when the relay's chain left its verified copy above every signed head
/// it holds: `from - kept` verified events were replaced by the relay's branch. Without any
/// signed head (`signed` false, e.g. a Shadowbroker node) a fork heal and a rewrite of history
/// look the same, and the note says so.
pub fn rewound_note(kept: u64, from: u64, signed: bool) -> String {
    let n = from.saturating_sub(kept);
    let replaced = if n == 1 {
        "the last event you had verified was".to_string()
    } else {
        format!("the last {n} events you had verified were")
    };
    if signed {
        format!(
            "The relay healed a fork above the head it signed: {replaced} replaced by its \
             branch, and everything kept was verified again."
        )
    } else {
        let after = match kept {
            0 => "from its first event".to_string(),
            k => format!("after event {k}"),
        };
        format!(
            "The relay replaced its chain {after}: {replaced} replaced. It has never signed a \
             head, so this cannot be told apart from a rewrite of history; treat those events \
             with care."
        )
    }
}

#[cfg(test)]
mod tests {
    use super::rewound_note;

    #[test]
    fn a_followed_heal_is_said_and_an_unsigned_one_warns() {
        let signed = rewound_note(10, 13, true);
        assert!(signed.starts_with("The relay healed a fork above the head it signed"));
        assert!(signed.contains("the last 3 events you had verified were replaced"));
        let one = rewound_note(10, 11, true);
        assert!(
            one.contains("the last event you had verified was replaced"),
            "{one}"
        );
        let unsigned = rewound_note(0, 2, false);
        assert!(unsigned.contains("never signed a head"), "{unsigned}");
        assert!(
            unsigned.contains("chain from its first event:"),
            "{unsigned}"
        );
        assert!(rewound_note(4, 6, false).contains("chain after event 4:"));
    }
}
