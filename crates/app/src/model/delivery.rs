//! Delivery rules: which relay refusals are permanent, outbox and
//! delivery-check backoff (core's ladder), delivery-status queries, and how one delivery
//! attempt settles an outgoing message.
use std::collections::{BTreeMap, HashSet};

use postern_core::api::codes;
use postern_core::api::dm::{StatusRequest, MAX_STATUS_IDS};
use postern_core::dm;

use super::messages::{Direction, OutState, StoredMessage};
pub use super::relay_error::RelayError;
use super::wording;

/// First retry delay of the outbox after a failed attempt (seconds); doubles per failure.
pub const OUTBOX_BACKOFF_BASE_S: u64 = 5;
/// Longest wait between outbox retries (seconds). Coming back online, "Check now" and a
/// successful poll retry at once regardless.
pub const OUTBOX_BACKOFF_CAP_S: u64 = 300;

/// Delay before the next outbox attempt after `consecutive_failures` failed ones, with core's
/// backoff rule (`retry_after_s` from a 429, 0 otherwise).
pub fn outbox_retry_delay_s(consecutive_failures: u64, retry_after_s: u64) -> u64 {
    postern_core::sync::failure_backoff_seconds(
        OUTBOX_BACKOFF_BASE_S,
        consecutive_failures,
        retry_after_s,
        OUTBOX_BACKOFF_CAP_S,
    )
}

/// First wait between delivery-status checks that changed nothing (seconds); doubles per
/// unchanged check up to [`DELIVERY_CHECK_CAP_S`]. A newly sent or received message resets it.
pub const DELIVERY_CHECK_BASE_S: u64 = 4;
pub const DELIVERY_CHECK_CAP_S: u64 = 120;

/// Delay before the next delivery-status check after `unchanged` checks in a row that moved
/// nothing to delivered (core's backoff rule).
pub fn delivery_check_delay_s(unchanged: u64) -> u64 {
    postern_core::sync::failure_backoff_seconds(
        DELIVERY_CHECK_BASE_S,
        unchanged,
        0,
        DELIVERY_CHECK_CAP_S,
    )
}

/// Status queries for our outgoing messages the relay accepted (`Sent`) but nobody has
/// acknowledged yet, except the keys in `skip` (the relay no longer knows them): per recipient,
/// at most [`MAX_STATUS_IDS`] ids each, each valid per core.
pub fn delivery_queries(messages: &[StoredMessage], skip: &HashSet<String>) -> Vec<StatusRequest> {
    let mut by_peer: BTreeMap<&str, Vec<String>> = Default::default();
    for m in messages {
        if m.direction == Direction::Out
            && m.state == OutState::Sent
            && dm::is_valid_msg_id(&m.msg_id)
            && !skip.contains(&m.key())
        {
            let ids = by_peer.entry(&m.peer_node_id).or_default();
            if !ids.contains(&m.msg_id) {
                ids.push(m.msg_id.clone());
            }
        }
    }
    by_peer
        .into_iter()
        .flat_map(|(peer, ids)| {
            ids.chunks(MAX_STATUS_IDS)
                .map(|c| StatusRequest {
                    recipient_id: peer.to_string(),
                    msg_ids: c.to_vec(),
                })
                .collect::<Vec<_>>()
        })
        .filter(|q| q.validate().is_ok())
        .collect()
}

/// A refusal that retrying the same envelope can never fix (it stays refused): the message
/// leaves the outbox as failed. Everything else (unreachable, unknown recipient, caps, rate
/// limits, server errors) is retried later.
pub fn is_permanent_send_error(e: &RelayError) -> bool {
    match e {
        RelayError::Api { code, .. } => matches!(
            code.as_str(),
            codes::PAYLOAD_TOO_LARGE | codes::BAD_REQUEST | codes::UNSUPPORTED_MEDIA_TYPE
        ),
        _ => false,
    }
}

/// A gate post refusal that retrying or re-sealing can never fix: it leaves the gate outbox.
/// Unreachable, rate limits, unknown epoch/gate (the record may arrive later) and server
/// errors are retried; the relay deduplicates retries by (gate, nonce). `stale_epoch` is not
/// permanent: see [`is_stale_epoch`].
pub fn is_permanent_gate_post_error(e: &RelayError) -> bool {
    use postern_core::api::gate::codes::INVALID_MESSAGE;
    is_permanent_send_error(e)
        || matches!(e, RelayError::Api { code, .. } if code == INVALID_MESSAGE)
}

/// The gate rotated after the post was sealed (`409 stale_epoch`): the sealed copy can never
/// be stored, so the post stays queued until the next sync re-seals it under the new head (or
/// drops it when the author was removed; `model::gate_pin::requeue`).
pub fn is_stale_epoch(e: &RelayError) -> bool {
    use postern_core::api::gate::codes::STALE_EPOCH;
    matches!(e, RelayError::Api { code, .. } if code == STALE_EPOCH)
}

/// How one delivery attempt of an outbox entry settles its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Unreachable: still queued, nothing to persist.
    StillQueued,
    /// The relay answered: the new state, the error shown next to the message, and whether
    /// the `#send-status` line is an error.
    Answered {
        state: OutState,
        error: Option<String>,
        status: String,
        is_error: bool,
    },
}

/// Settle one attempt for the contact named `name` (`local_copy_warning`: the composed
/// message could not be stored locally; said with the success text).
pub fn settle_attempt(
    result: &Result<(), RelayError>,
    name: &str,
    local_copy_warning: Option<&str>,
) -> Settled {
    match result {
        Ok(()) => {
            let mut text = format!("Message sent to {name}.");
            if let Some(w) = local_copy_warning {
                text.push_str(&format!(" (Could not keep a local copy: {w})"));
            }
            Settled::Answered {
                state: OutState::Sent,
                error: None,
                status: text,
                is_error: false,
            }
        }
        Err(e) if e.is_unreachable() => Settled::StillQueued,
        Err(e) if is_permanent_send_error(e) => {
            let text = wording::explain_send_error(e, name);
            Settled::Answered {
                state: OutState::Failed,
                error: Some(text.clone()),
                status: text,
                is_error: true,
            }
        }
        Err(e) => {
            let text = format!(
                "{} It stays queued and is retried automatically.",
                wording::explain_send_error(e, name)
            );
            Settled::Answered {
                state: OutState::Queued,
                error: Some(text.clone()),
                status: text,
                is_error: true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(direction: Direction, peer: &str, id: &str, ts: u64, body: &str) -> StoredMessage {
        StoredMessage {
            direction,
            msg_id: id.into(),
            peer_node_id: peer.into(),
            peer_identity: format!("postern1.{peer}.x.y"),
            timestamp: ts,
            stored_at: ts,
            body: body.into(),
            state: OutState::Sent,
            error: None,
        }
    }

    // The pure half of tests/browser.rs `delivered_state_persists_and_queries_cover_unsettled_sent_messages`.
    #[test]
    fn queries_cover_unsettled_sent_messages() {
        use postern_core::Identity;
        use rand_core::OsRng;
        let bob = Identity::generate(&mut OsRng).node_id();
        let carol = Identity::generate(&mut OsRng).node_id();
        let mut ms: Vec<StoredMessage> = (0..MAX_STATUS_IDS + 1)
            .map(|i| msg(Direction::Out, &bob, &format!("msg-{i:04}"), i as u64, "x"))
            .collect();
        ms.push(msg(Direction::Out, &carol, "msg-c001", 1, "x"));
        let mut queued = msg(Direction::Out, &carol, "msg-c002", 1, "x");
        queued.state = OutState::Queued;
        let mut done = msg(Direction::Out, &carol, "msg-c003", 1, "x");
        done.state = OutState::Delivered;
        ms.extend([queued, done, msg(Direction::In, &carol, "msg-c004", 1, "x")]);
        let skip: HashSet<String> = [ms[0].key()].into();
        let qs = delivery_queries(&ms, &skip);
        // Bob's 100 remaining sent ids in one batch, Carol's only sent one in another.
        let shape: Vec<(&str, usize)> = qs
            .iter()
            .map(|q| (q.recipient_id.as_str(), q.msg_ids.len()))
            .collect();
        let mut expect = vec![(bob.as_str(), MAX_STATUS_IDS), (carol.as_str(), 1)];
        expect.sort();
        assert_eq!(shape, expect);
        assert!(qs
            .iter()
            .all(|q| q.validate().is_ok() && !q.msg_ids.contains(&"msg-0000".to_string())));
        assert!(
            delivery_queries(&ms[MAX_STATUS_IDS + 2..], &skip).is_empty(),
            "nothing unsettled, no query"
        );
        assert_eq!(delivery_check_delay_s(0), 0);
        assert_eq!(delivery_check_delay_s(1), DELIVERY_CHECK_BASE_S);
        assert_eq!(delivery_check_delay_s(50), DELIVERY_CHECK_CAP_S);
    }

    #[test]
    fn attempts_settle_by_the_kind_of_answer() {
        let api = |code: &str| RelayError::Api {
            status: 400,
            code: code.into(),
            detail: String::new(),
        };
        assert_eq!(
            settle_attempt(&Err(RelayError::Unreachable("x".into())), "Bob", None),
            Settled::StillQueued
        );
        let Settled::Answered { state, status, .. } = settle_attempt(&Ok(()), "Bob", Some("w"))
        else {
            panic!("answered")
        };
        assert_eq!(state, OutState::Sent);
        assert!(status.contains("Message sent to Bob.") && status.contains("w)"));
        let Settled::Answered {
            state, is_error, ..
        } = settle_attempt(&Err(api(codes::PAYLOAD_TOO_LARGE)), "Bob", None)
        else {
            panic!("answered")
        };
        assert_eq!((state, is_error), (OutState::Failed, true));
        let Settled::Answered { state, status, .. } =
            settle_attempt(&Err(api(codes::RECIPIENT_UNKNOWN)), "Bob", None)
        else {
            panic!("answered")
        };
        assert_eq!(state, OutState::Queued);
        assert!(status.contains("retried automatically"));
        assert!(is_permanent_gate_post_error(&api(
            postern_core::api::gate::codes::INVALID_MESSAGE
        )));
        assert!(!is_permanent_gate_post_error(&api(codes::RATE_LIMITED)));
        // A post sealed before a rotation is refused for good by the relay (issue 14 item 2):
        // that copy leaves the send loop, the post is re-sealed (not dropped).
        let stale = api(postern_core::api::gate::codes::STALE_EPOCH);
        assert!(is_stale_epoch(&stale) && !is_permanent_gate_post_error(&stale));
        assert!(!is_permanent_gate_post_error(&api(
            postern_core::api::gate::codes::UNKNOWN_EPOCH
        )));
    }
}
