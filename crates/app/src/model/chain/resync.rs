//! What the sync view does when its relay no longer holds the stored chain's head (a `GET`
//! sync page with `unknown_after_hash: true`): ask again with the verified copy's locator
//! (`POST` sync) and say how the relay's chain relates to it. A fork heal on the relay (its
//! unsettled events re-linked onto a winning branch) is followed by cutting the copy back to
//! the match point and syncing on (`rewind_keep`); anything else — a divergence below a signed
//! tree head, no shared history — fails the round with the reason, the verified copy kept, and
//! is retried on the failure schedule. No web APIs here.
use postern_core::api::infonet::{SyncPostRequest, FIELD_UNKNOWN_AFTER_HASH};
use postern_core::canonical::{GENESIS_HASH, PROTOCOL_VERSION};
use postern_core::json::{self, Value};

/// Does a raw `GET` sync page say that its `after_hash` is not on the relay's chain?
pub fn page_says_unknown_after_hash(page: &Value) -> bool {
    matches!(page.get(FIELD_UNKNOWN_AFTER_HASH), Some(Value::Bool(true)))
}

/// The `POST` sync request: our locator, one event at most (only the match is wanted).
pub fn locator_request(locator: Vec<String>) -> SyncPostRequest {
    SyncPostRequest {
        protocol_version: PROTOCOL_VERSION.into(),
        locator,
        limit: Some(1),
        expected_head: None,
        include_proofs: false,
    }
}

/// How the relay's chain relates to the verified copy, from its answer to our locator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resync {
    /// Both chains hold `matched` (an event of the copy before its head); after it they differ.
    Diverged { matched: String, relay_head: String },
    /// Nothing in common but genesis (`matched` is the genesis hash) or not even that (empty).
    Forked { matched: String, relay_head: String },
    /// The relay matched our head after all (it answered the page inconsistently).
    HoldsHead { relay_head: String },
}

fn text(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Read the relay's answer to [`locator_request`]; `our_head` is the copy's head.
pub fn read_answer(body: &str, our_head: &str) -> Result<Resync, String> {
    let v = json::parse(body.as_bytes()).map_err(|e| format!("locator answer is not JSON: {e}"))?;
    let Some(forked) = v.get("forked").and_then(|f| match f {
        Value::Bool(b) => Some(*b),
        _ => None,
    }) else {
        return Err("locator answer has no `forked` flag".into());
    };
    let matched = text(&v, "matched_hash");
    let relay_head = text(&v, "head_hash");
    Ok(if forked || matched.is_empty() || matched == GENESIS_HASH {
        Resync::Forked {
            matched,
            relay_head,
        }
    } else if matched == our_head {
        Resync::HoldsHead { relay_head }
    } else {
        Resync::Diverged {
            matched,
            relay_head,
        }
    })
}

/// How many events of the verified copy to keep when the relay's chain left it (`r`): a fork
/// heal on the relay re-links the losing branch's events, which the relay does only above what
/// it signed in a tree head. So the copy is cut back to the match point (`matched_count`: the
/// events up to and including the matched one, `None` if the copy does not hold it) when that
/// keeps every event of `settled` (the largest signed head seen for the relay); a divergence
/// below it, or no shared history at all, is never followed (`None`: nothing dropped).
pub fn rewind_keep(r: &Resync, matched_count: Option<u64>, settled: u64) -> Option<u64> {
    let keep = match r {
        Resync::HoldsHead { .. } => return None,
        Resync::Forked { matched, .. } if matched == GENESIS_HASH => 0,
        Resync::Forked { .. } => return None,
        Resync::Diverged { .. } => matched_count?,
    };
    (keep >= settled).then_some(keep)
}

/// The number of events up to and including the one with id `id` in `texts` (stored event
/// JSON, chain order), searched from the end (a fork point is near the head).
pub fn count_through(texts: &[String], id: &str) -> Option<u64> {
    texts
        .iter()
        .rposition(|t| {
            json::parse(t.as_bytes())
                .ok()
                .is_some_and(|v| v.get("event_id").and_then(Value::as_str) == Some(id))
        })
        .map(|i| i as u64 + 1)
}

fn short(h: &str) -> &str {
    h.get(..16).unwrap_or(h)
}

impl Resync {
    /// The relay's chain does not extend the verified copy (a fork, reported as one).
    pub fn is_fork(&self) -> bool {
        !matches!(self, Resync::HoldsHead { .. })
    }

    /// The text shown as the reason the next sync waits.
    pub fn reason(&self, our_head: &str) -> String {
        let ours = short(our_head);
        match self {
            Resync::Diverged {
                matched,
                relay_head,
            } => format!(
                "the relay no longer holds this copy's head {ours}: its chain (head {}) shares \
                 history with the verified copy up to {} and differs after it; nothing stored, \
                 the verified copy is kept",
                short(relay_head),
                short(matched)
            ),
            Resync::Forked {
                matched,
                relay_head,
            } => format!(
                "forked: the relay's chain (head {}) shares {} with the verified copy (head \
                 {ours}); nothing stored, the verified copy is kept",
                short(relay_head),
                if matched.is_empty() {
                    "nothing, not even genesis,"
                } else {
                    "nothing beyond genesis"
                }
            ),
            Resync::HoldsHead { relay_head } => format!(
                "the relay said it does not hold this copy's head {ours}, then matched it (relay \
                 head {}); retrying",
                short(relay_head)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: &str = "11111111111111111111111111111111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const MID: &str = "22222222222222222222222222222222bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const THEIRS: &str = "33333333333333333333333333333333cccccccccccccccccccccccccccccccc";

    fn answer(matched: &str, forked: bool) -> String {
        format!(
            r#"{{"events":[],"matched_hash":"{matched}","forked":{forked},"head_hash":"{THEIRS}","count":0,"protocol_version":"infonet/2"}}"#
        )
    }

    #[test]
    fn an_unknown_after_hash_page_is_recognised() {
        let page = |s: &str| json::parse(s.as_bytes()).expect("json");
        assert!(page_says_unknown_after_hash(&page(
            r#"{"events":[],"after_hash":"ab","count":0,"protocol_version":"infonet/2","unknown_after_hash":true}"#
        )));
        for s in [
            r#"{"events":[],"after_hash":"ab","count":0,"protocol_version":"infonet/2"}"#,
            r#"{"events":[],"unknown_after_hash":"true"}"#,
            r#"{"events":[],"unknown_after_hash":false}"#,
        ] {
            assert!(!page_says_unknown_after_hash(&page(s)), "{s}");
        }
    }

    #[test]
    fn the_request_carries_the_locator_and_asks_for_one_event() {
        let req = locator_request(vec![OURS.into(), GENESIS_HASH.into()]);
        let v = serde_json::to_value(&req).expect("serialises");
        assert_eq!(
            v,
            serde_json::json!({"protocol_version": "infonet/2", "locator": [OURS, GENESIS_HASH], "limit": 1})
        );
    }

    #[test]
    fn answers_are_read_as_a_divergence_a_fork_or_an_inconsistency() {
        let d = read_answer(&answer(MID, false), OURS).expect("reads");
        assert_eq!(
            d,
            Resync::Diverged {
                matched: MID.into(),
                relay_head: THEIRS.into()
            }
        );
        assert!(d.is_fork());
        assert!(d.reason(OURS).contains("up to 2222222222222222"));

        let nothing = read_answer(&answer("", true), OURS).expect("reads");
        assert!(matches!(nothing, Resync::Forked { .. }));
        assert!(nothing.reason(OURS).contains("not even genesis"));
        let genesis = read_answer(&answer(GENESIS_HASH, true), OURS).expect("reads");
        assert!(matches!(genesis, Resync::Forked { .. }));
        assert!(genesis.reason(OURS).contains("beyond genesis"));
        // Only genesis matched, even unflagged, is no shared history.
        assert!(matches!(
            read_answer(&answer(GENESIS_HASH, false), OURS).expect("reads"),
            Resync::Forked { .. }
        ));

        let holds = read_answer(&answer(OURS, false), OURS).expect("reads");
        assert_eq!(
            holds,
            Resync::HoldsHead {
                relay_head: THEIRS.into()
            }
        );
        assert!(!holds.is_fork());
        assert!(read_answer("{}", OURS).is_err());
        assert!(read_answer("not json", OURS).is_err());
    }

    #[test]
    fn a_heal_above_the_signed_head_is_followed_and_nothing_below_it() {
        let d = read_answer(&answer(MID, false), OURS).expect("reads");
        assert_eq!(rewind_keep(&d, Some(3), 0), Some(3));
        assert_eq!(
            rewind_keep(&d, Some(3), 3),
            Some(3),
            "the signed events stay"
        );
        assert_eq!(rewind_keep(&d, Some(3), 4), None, "below a signed head");
        assert_eq!(rewind_keep(&d, None, 0), None, "a match we do not hold");
        let genesis = read_answer(&answer(GENESIS_HASH, true), OURS).expect("reads");
        assert_eq!(rewind_keep(&genesis, None, 0), Some(0));
        assert_eq!(rewind_keep(&genesis, None, 1), None);
        let nothing = read_answer(&answer("", true), OURS).expect("reads");
        assert_eq!(rewind_keep(&nothing, None, 0), None, "another network");
        let holds = read_answer(&answer(OURS, false), OURS).expect("reads");
        assert_eq!(rewind_keep(&holds, Some(5), 0), None);
    }

    #[test]
    fn the_match_is_counted_from_the_stored_texts() {
        let texts: Vec<String> = [MID, OURS, MID]
            .iter()
            .map(|id| format!(r#"{{"event_id":"{id}","prev_hash":"x"}}"#))
            .collect();
        assert_eq!(count_through(&texts, MID), Some(3), "the last one");
        assert_eq!(count_through(&texts, OURS), Some(2));
        assert_eq!(count_through(&texts, THEIRS), None);
        assert_eq!(count_through(&["not json".into()], OURS), None);
    }
}
