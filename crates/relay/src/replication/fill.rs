//! Filling a Postern peer's gap before our oldest pushed row: the peer answered the row 409
//! `forked` with `missing`, the event the row extends, which it does not hold (its predecessor
//! was refused, dropped or never sent). When an event of the row names it as its `prev_hash`
//! ([`row_extends`]) and our chain holds it, the row can still apply: we push the peer our
//! chain's events up to it (walking back a batch at a time until the peer holds a batch's
//! predecessor, at most [`MAX_FILL_EVENTS`] behind it), and the row is sent again. When our chain does not hold it (the row's branch lost a fork), when the peer
//! refuses a filling batch for good, or when the gap is longer, the row cannot apply through us
//! ([`Fill::Cannot`], with the reason); a longer gap is left to the peer's pull-sync.
use std::sync::Arc;

use postern_core::api::peer::PEER_PUSH_MAX_EVENTS;

use super::client::PeerSigner;
use super::job::{send_once, Attempt, Job};
use crate::service::Services;

/// Most of our chain's events pushed to fill one gap.
pub const MAX_FILL_EVENTS: u64 = 1_000;

/// Events per filling push (a peer-push batch).
const BATCH: u64 = PEER_PUSH_MAX_EVENTS as u64;

/// What filling a gap did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fill {
    /// The peer now holds the missing event: `pushed` events were sent to it.
    Filled { pushed: u64 },
    /// The row cannot apply through us: why.
    Cannot(String),
    /// A transport failure or a retryable answer (as for an outbox row).
    Retry(String, u64),
}

/// Whether an event of the pushed `body` (`{"events": [...]}`) names `missing` as its
/// `prev_hash`: only then is a gap the peer reports before that row one we may fill (a peer
/// naming any other event of our chain gets nothing pushed for it).
pub fn row_extends(body: &str, missing: &str) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return false;
    };
    v.get("events")
        .and_then(|e| e.as_array())
        .is_some_and(|events| {
            events
                .iter()
                .any(|e| e.get("prev_hash").and_then(|p| p.as_str()) == Some(missing))
        })
}

/// Where and how filling pushes go.
pub struct Filler<'a> {
    pub agent: &'a ureq::Agent,
    /// The peer's base URL.
    pub peer: &'a str,
    pub signer: &'a Arc<PeerSigner>,
    pub svc: &'a Services,
}

/// The outcome of one filling push.
enum Sent {
    Ok,
    /// The peer lacks the event at this index of our chain (its predecessor).
    GapAt(u64),
    Stop(Fill),
}

impl Filler<'_> {
    /// Our chain's position of `id`, if it holds it.
    async fn index_of(&self, id: &str) -> Result<Option<u64>, Fill> {
        let id = id.to_string();
        self.svc
            .store()
            .run("fill_index", move |s| s.chain_index_of(&id))
            .await
            .map_err(|_| Fill::Retry("reading our chain failed".into(), 0))
    }

    /// Push our chain's events `from..=to` as one batch.
    async fn push(&self, from: u64, to: u64) -> Sent {
        let read = self
            .svc
            .store()
            .run("fill_read", move |s| s.chain_range(from, to + 1 - from))
            .await;
        let Ok(events) = read else {
            return Sent::Stop(Fill::Retry("reading our chain failed".into(), 0));
        };
        let (path, body) = Job::Events { events }.path_and_body();
        let headers = self.signer.headers(path, &body, self.svc.now());
        let (agent, url) = (self.agent.clone(), format!("{}{path}", self.peer));
        let sent = tokio::task::spawn_blocking(move || send_once(&agent, &url, &headers, &body))
            .await
            .unwrap_or_else(|e| Attempt::Retry(e.to_string(), 0));
        match sent {
            Attempt::Ok => Sent::Ok,
            Attempt::Retry(why, after) => Sent::Stop(Fill::Retry(why, after)),
            Attempt::Rejected(code, text) => Sent::Stop(Fill::Cannot(format!(
                "the peer refused our events {from}..={to} before it (status {code}: {text})"
            ))),
            Attempt::Gap { missing, .. } => match self.index_of(&missing).await {
                // The peer lacks an event before the batch: walk back to it.
                Ok(Some(i)) if i < from => Sent::GapAt(i),
                Ok(_) => Sent::Stop(Fill::Cannot(format!(
                    "the peer lacks {missing}, which is not on our chain before event {from}"
                ))),
                Err(f) => Sent::Stop(f),
            },
        }
    }

    /// Make the peer hold `missing` (see the module doc).
    pub async fn fill(&self, missing: &str) -> Fill {
        let target = match self.index_of(missing).await {
            Ok(Some(i)) => i,
            Ok(None) => {
                return Fill::Cannot(format!(
                    "the peer lacks its predecessor {missing}, which is not on our chain"
                ))
            }
            Err(f) => return f,
        };
        let mut pushed = 0u64;
        // Walk back: the batch ending at `end` until the peer takes one.
        let mut end = target;
        let reached = loop {
            let from = end.saturating_sub(BATCH - 1);
            match self.push(from, end).await {
                Sent::Ok => {
                    pushed += end + 1 - from;
                    break end;
                }
                Sent::GapAt(i) if target - i < MAX_FILL_EVENTS => end = i,
                Sent::GapAt(_) => {
                    return Fill::Cannot(format!(
                        "the peer lacks more than {MAX_FILL_EVENTS} of our events before it; \
                         left to its pull-sync"
                    ))
                }
                Sent::Stop(f) => return f,
            }
        };
        // Forward from the batch it took up to the missing event.
        let mut at = reached;
        while at < target {
            let to = (at + BATCH).min(target);
            match self.push(at + 1, to).await {
                Sent::Ok => {
                    pushed += to - at;
                    at = to;
                }
                Sent::GapAt(_) => {
                    return Fill::Cannot(format!(
                        "the peer took our events up to {at} but still lacks the one before {}",
                        at + 1
                    ))
                }
                Sent::Stop(f) => return f,
            }
        }
        Fill::Filled { pushed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gap_is_filled_only_before_an_event_of_the_row() {
        let body = r#"{"events":[{"prev_hash":"aa","event_id":"bb"},{"prev_hash":"bb"}]}"#;
        assert!(row_extends(body, "aa"));
        assert!(row_extends(body, "bb"));
        assert!(!row_extends(body, "cc"));
        assert!(!row_extends("not json", "aa"));
        assert!(!row_extends(r#"{"envelope":{}}"#, "aa"));
    }
}
