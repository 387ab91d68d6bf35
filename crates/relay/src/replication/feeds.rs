//! The three pull feeds run by [`super::pull::run`]:
//!
//! * [`ChainFeed`]: POST our chain locator to the peer's `/api/mesh/infonet/sync` (HMAC-signed
//!   when we have a public URL, so the peer serves its full chain) and ingest the returned
//!   events like a `peer-push` (freshness disabled), page by page; a peer answering
//!   `forked: true` that is not simply behind us goes through the same ingest, where a fork is
//!   healed by core's rule (`service::chain` heal: the smaller first id wins). A peer that serves
//!   a *view* instead (private events dropped or stubbed, payloads redacted) is never stored
//!   beyond its verified prefix: the round stops with core's reason
//!   (`service::pulled::classify`), shown as `incomplete_view` in `sync-status` and counted in
//!   `postern_sync_incomplete_total`. Its scheduler state is persisted (`sync_peer_state`) and
//!   mirrored in [`SyncStatus`].
//! * [`DmFeed`]: POST `/api/mesh/dm/peer-pull {after: cursor}` (HMAC-signed) and ingest each
//!   item exactly like a pushed one (the one deposit path / owner-ack verification); the
//!   cursor is persisted after each page (`dm_pull_cursors`).
//! * [`GateFeed`]: POST `/api/mesh/gate/peer-pull {after, limit}` (HMAC-signed) and ingest
//!   each item exactly like a gate peer-push; the cursor is persisted after each page.
use std::sync::Arc;
use std::time::Duration;

use postern_core::api::gate::{self as gate_api, PeerPushOutcome, PEER_PULL_MAX_LIMIT};
use postern_core::api::infonet::{LOCATOR_LIMIT_DEFAULT, SYNC_LIMIT_MAX};
use postern_core::api::peer::{PeerPullRequest, PeerPullResponse, PATH_DM_PEER_PULL};
use postern_core::parallel::default_threads;
use postern_core::sync::SyncWorkerState;

use super::chain_page;
use super::client::{post_json_async, PeerSigner};
use super::pull::{Feed, PeerLink, Round};
use super::status::{PullStatus, SyncStatus};
use crate::metrics::Metrics;
use crate::service::chain::PushOutcome;
use crate::service::dm::{DmError, Origin};
use crate::service::pulled;
use crate::store::{IncompleteView, PeerSync};

/// Chain events asked for per page: the protocol's largest page (a peer clamps a request into
/// `1..=SYNC_LIMIT_MAX`, Shadowbroker nodes alike), so a round needs a fifth of the requests
/// and transactions of the default page.
const CHAIN_PAGE: usize = SYNC_LIMIT_MAX;
/// Pages per round at most (the next round resumes from the new head / persisted cursor).
const MAX_PAGES_PER_ROUND: usize = 1_000;
/// DM items asked for per page.
const DM_PAGE: u32 = 100;
/// Largest DM page read (a page of the largest envelopes plus framing).
const DM_MAX_RESPONSE_BYTES: u64 = 4 * 1024 * 1024;
/// Largest gate peer-pull response read.
const GATE_MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;
/// Gate pages per round at most.
const GATE_MAX_PAGES: usize = 100;
/// Timeout of one pull request.
pub const PULL_TIMEOUT: Duration = Duration::from_secs(30);

const LOCAL: &str = "local storage error";

/// Chain pull sync from one peer.
pub struct ChainFeed {
    pub link: PeerLink,
    pub status: Arc<SyncStatus>,
    pub metrics: Arc<Metrics>,
    /// The persisted state (with the relay's fields beside core's scheduler state).
    pub rec: PeerSync,
    /// Signs the sync requests (with `--public-url`): the peer then serves its full chain.
    pub signer: Option<PeerSigner>,
    /// Set when the current round stopped at a peer's view: why, and the events pulled.
    pub incomplete: Option<(IncompleteView, u64)>,
}

impl ChainFeed {
    /// Show the state in `sync-status` and persist it (a storage failure is logged, the round
    /// goes on).
    async fn publish(&self) {
        let l = &self.link;
        self.status.set(&l.peer, &self.rec);
        let (p, rec, now) = (l.peer.clone(), self.rec.clone(), l.svc.now());
        let _ = l
            .svc
            .store()
            .run("sync_state_save", move |s| s.sync_state_save(&p, &rec, now))
            .await;
    }

    /// One page: the next one fetched (and prepared) ahead if there is one, else asked with
    /// our locator; `None` to ask for the next page. While a full page is verified and stored,
    /// the pages after it are already asked for and prepared (`ahead`, following this page's
    /// last event); they are used only while each page before was accepted whole, so what is
    /// stored is exactly what asking afterwards would give.
    async fn page(
        &mut self,
        pulled: &mut u64,
        last_head: &mut String,
        ahead: &mut Option<chain_page::Ahead>,
        base: &mut Vec<String>,
    ) -> Option<Round> {
        let svc = &self.link.svc;
        let ok = |pulled: u64, head: &str| Round::Ok {
            pulled,
            refused: 0,
            peer_head: head.to_string(),
        };
        let from_ahead = match ahead.as_mut() {
            Some(a) => a.next().await,
            None => None,
        };
        let fetched = match from_ahead {
            Some(ready) => ready,
            None => {
                *ahead = None;
                let Ok(locator) = svc
                    .chain()
                    .run("sync_locator", |c| Ok(c.locator(LOCATOR_LIMIT_DEFAULT)))
                    .await
                else {
                    return Some(Round::err(LOCAL));
                };
                base.clone_from(&locator);
                match chain_page::fetch(&self.link, self.signer.as_ref(), locator, CHAIN_PAGE).await
                {
                    Ok(page) => chain_page::ready(page, default_threads()).await,
                    Err(end) => Err(end),
                }
            }
        };
        let chain_page::Ready {
            page,
            n,
            last_id,
            prepared,
        } = match fetched {
            Ok(r) => r,
            Err(end) => return Some(end),
        };
        let peer_head = page.peer_head;
        last_head.clone_from(&peer_head);
        if page.forked && n == 0 {
            // Nothing at all is shared (`matched_hash` "", no events), or only genesis and
            // nothing was served. (Events served from the start go through the ingest below,
            // where a fork is healed by core's rule.) A peer that is merely behind us (empty,
            // or its head is one of our events) has nothing to give; anything else is a fork,
            // reported once per round and retried on the failure schedule.
            let shared = if page.matched_nothing {
                "no history with ours, not even genesis"
            } else {
                "no history with ours beyond genesis"
            };
            let h = peer_head.clone();
            let Ok(behind) = svc
                .chain()
                .run("sync_fork_check", move |c| c.holds(&h))
                .await
            else {
                return Some(Round::err(LOCAL));
            };
            if behind {
                return Some(ok(*pulled, last_head));
            }
            return Some(Round::Fork {
                detail: format!("peer head {peer_head:.64} shares {shared}"),
                peer_head: last_head.clone(),
            });
        }
        if n == 0 {
            return Some(ok(*pulled, last_head));
        }
        let more = chain_page::more_after(n, CHAIN_PAGE, last_id.as_deref(), &peer_head);
        if let (true, None, Some(last)) = (more, ahead.as_ref(), &last_id) {
            *ahead = Some(chain_page::Ahead::start(
                &self.link,
                self.signer.as_ref(),
                last.clone(),
                base.clone(),
                CHAIN_PAGE,
            ));
        }
        let (now, from) = (svc.now(), self.link.peer.clone());
        let outcome = svc
            .chain()
            .run("sync_ingest", move |c| {
                let out = c.push_prepared_from(&prepared, now, Some(&from))?;
                // Did the peer serve a view rather than its chain? (see the module doc)
                let view = match &out {
                    PushOutcome::Refused(r) => pulled::classify(c, prepared.values(), r)?,
                    PushOutcome::Done { .. } => None,
                };
                Ok((out, view))
            })
            .await;
        if let Ok((PushOutcome::Refused(r), Some(view))) = &outcome {
            *pulled += r.accepted;
            let error = view.detail.clone();
            self.incomplete = Some((view.clone(), *pulled));
            return Some(Round::err(error));
        }
        match outcome.map(|(out, _)| out) {
            Ok(PushOutcome::Done {
                accepted,
                head_hash,
                ..
            }) => {
                *pulled += accepted;
                // The page fetched ahead follows this page's last event: use it only if this
                // page was stored whole (our head is that event).
                if accepted != n as u64 || last_id.as_deref() != Some(head_hash.as_str()) {
                    *ahead = None;
                }
                // All known already (we are ahead of the peer's match), or the peer's head
                // reached (a peer that does not say its head: a short page is the last one).
                // A short page below the peer's head (a peer serving smaller pages) goes on.
                let short = n < CHAIN_PAGE && peer_head.is_empty();
                if accepted == 0 || head_hash == peer_head || short {
                    return Some(ok(*pulled, last_head));
                }
                None
            }
            Ok(PushOutcome::Refused(r))
                if r.refusal.code == postern_core::api::peer::codes::FORKED =>
            {
                *pulled += r.accepted;
                Some(Round::Fork {
                    detail: format!("peer's events diverge from ours: {}", r.refusal.detail),
                    peer_head: last_head.clone(),
                })
            }
            Ok(PushOutcome::Refused(r)) => Some(Round::err(format!(
                "peer sent an invalid event ({}): {}",
                r.refusal.code, r.refusal.detail
            ))),
            Err(_) => Some(Round::err(LOCAL)),
        }
    }
}

impl Feed for ChainFeed {
    fn link(&self) -> &PeerLink {
        &self.link
    }

    /// Resume from the persisted state (backoff, failures, last success) if there is one.
    async fn resume(&mut self) -> SyncWorkerState {
        let p = self.link.peer.clone();
        if let Ok(Some(r)) = self
            .link
            .svc
            .store()
            .run("sync_state_load", move |s| s.sync_state_load(&p))
            .await
        {
            tracing::info!(peer = %self.link.peer, failures = r.state.consecutive_failures, next = r.state.next_sync_due_at, "resuming pull-sync state");
            self.rec = r;
        }
        self.status.set(&self.link.peer, &self.rec);
        self.rec.state.clone()
    }

    async fn local_head(&self) -> String {
        self.link
            .svc
            .chain()
            .run("sync_head", |c| Ok(c.head().0))
            .await
            .unwrap_or_default()
    }

    async fn round(&mut self) -> Round {
        self.incomplete = None;
        let (mut pulled, mut last_head) = (0u64, String::new());
        let (mut ahead, mut base) = (None, Vec::new());
        for _ in 0..MAX_PAGES_PER_ROUND {
            if let Some(end) = self
                .page(&mut pulled, &mut last_head, &mut ahead, &mut base)
                .await
            {
                return end;
            }
        }
        Round::Ok {
            pulled,
            refused: 0,
            peer_head: last_head,
        }
    }

    async fn record(&mut self, state: &SyncWorkerState, round: Option<&Round>) {
        let peer = &self.link.peer;
        let keep = |new: &str, old: &str| {
            if new.is_empty() {
                old.to_string()
            } else {
                new.to_string()
            }
        };
        match round {
            None => {}
            Some(Round::Ok {
                pulled, peer_head, ..
            }) => {
                if *pulled > 0 {
                    tracing::info!(peer = %peer, pulled, head = %state.current_head, "pulled chain events");
                }
                self.metrics.sync_round("ok", *pulled);
                self.rec.last_retry_after_s = 0;
                self.rec.peer_head = keep(peer_head, &self.rec.peer_head);
                self.rec.incomplete_view = None;
            }
            Some(Round::Fork { detail, peer_head }) => {
                tracing::warn!(peer = %peer, detail = %detail, "peer chain forked from ours; not merging");
                self.metrics.sync_round("fork", 0);
                self.rec.last_retry_after_s = 0;
                self.rec.peer_head = keep(peer_head, &self.rec.peer_head);
                self.rec.fork_reports = self.rec.fork_reports.saturating_add(1);
                self.rec.incomplete_view = None;
            }
            Some(Round::Err { .. }) if self.incomplete.is_some() => {
                if let Some((view, pulled)) = self.incomplete.take() {
                    tracing::warn!(peer = %peer, reason = view.reason.as_str(), detail = %view.detail,
                        pulled, "peer served a view of its chain that does not verify; kept the verified prefix");
                    self.metrics.sync_incomplete(view.reason.as_str(), pulled);
                    self.rec.last_retry_after_s = 0;
                    self.rec.incomplete_view = Some(view);
                }
            }
            Some(Round::Err { error, retry_after }) => {
                tracing::debug!(peer = %peer, error = %error, retry_after, "chain sync failed");
                self.metrics.sync_round("error", 0);
                self.rec.last_retry_after_s = *retry_after;
            }
        }
        self.rec.state = state.clone();
        self.publish().await;
    }
}

/// DM pull-from-peers of one peer.
pub struct DmFeed {
    pub link: PeerLink,
    pub signer: PeerSigner,
    pub status: Arc<PullStatus>,
}

/// Check a page: sequences strictly increasing, after the cursor, and `next_after` not behind.
fn check_page(page: &PeerPullResponse, after: u64) -> Result<(), String> {
    let mut last = after;
    for item in &page.items {
        if item.seq <= last {
            return Err("items out of sequence".into());
        }
        last = item.seq;
    }
    if page.next_after < last {
        return Err("next_after is behind the items".into());
    }
    Ok(())
}

impl DmFeed {
    /// One page after the persisted cursor: `Ok(true)` when more pages follow.
    async fn page(&self, pulled: &mut u64, refused: &mut u64) -> Result<bool, Round> {
        let (svc, peer) = (&self.link.svc, self.link.peer.as_str());
        let p = peer.to_string();
        let (after, _) = svc
            .store()
            .run("dm_pull_cursor", move |s| s.pull_cursor(&p))
            .await
            .map_err(|_| Round::err(LOCAL))?;
        let body = serde_json::to_vec(&PeerPullRequest {
            after,
            limit: DM_PAGE,
        })
        .map_err(|e| Round::err(e.to_string()))?;
        let headers = self.signer.headers(PATH_DM_PEER_PULL, &body, svc.now());
        let url = format!("{peer}{PATH_DM_PEER_PULL}");
        let bytes = post_json_async(
            &self.link.agent,
            url,
            headers,
            body,
            DM_MAX_RESPONSE_BYTES,
            svc.now(),
        )
        .await
        .map_err(|(error, retry_after)| Round::Err { error, retry_after })?;
        let page: PeerPullResponse = serde_json::from_slice(&bytes)
            .map_err(|e| Round::err(format!("peer-pull answer does not parse: {e}")))?;
        check_page(&page, after).map_err(Round::err)?;
        let mut ingested = 0u64;
        for item in page.items {
            let outcome = match (item.envelope, item.ack) {
                (Some(env), None) => {
                    let origin = Origin::Peer {
                        peer,
                        expires_at: env.expires_at,
                    };
                    svc.deposit(env.envelope, origin).await.map(|_| ())
                }
                (None, Some(ack)) => svc.ingest_ack(ack, peer).await.map(|_| ()),
                _ => Err(DmError::BadRequest(
                    "a pulled item carries exactly one of envelope / ack".into(),
                )),
            };
            match outcome {
                Ok(()) => ingested += 1,
                // Our own storage failed: stop without moving the cursor (retried later).
                Err(DmError::Internal(_)) => return Err(Round::err(LOCAL)),
                // Refused by the same rules as a push (caps, validation, owner ack): skipped,
                // as a refused push is dropped.
                Err(e) => {
                    tracing::info!(peer = %peer, seq = item.seq, error = %e, "pulled DM item refused");
                    *refused += 1;
                }
            }
        }
        *pulled += ingested;
        let (p, next, now) = (peer.to_string(), page.next_after, svc.now());
        svc.store()
            .run("dm_pull_cursor_set", move |s| {
                s.set_pull_cursor(&p, next, ingested, now)
            })
            .await
            .map_err(|_| Round::err(LOCAL))?;
        self.status.update(peer, |s| {
            s.cursor = next;
            s.pulled_since_start += ingested;
            s.pulled_total += ingested;
        });
        Ok(page.more && next != after)
    }
}

impl Feed for DmFeed {
    fn link(&self) -> &PeerLink {
        &self.link
    }

    /// Scheduling starts afresh; the status shows the persisted cursor.
    async fn resume(&mut self) -> SyncWorkerState {
        let p = self.link.peer.clone();
        if let Ok((cursor, total)) = self
            .link
            .svc
            .store()
            .run("dm_pull_cursor", move |s| s.pull_cursor(&p))
            .await
        {
            self.status.update(&self.link.peer, |s| {
                s.cursor = cursor;
                s.pulled_total = total;
            });
        }
        SyncWorkerState::default()
    }

    async fn local_head(&self) -> String {
        String::new()
    }

    async fn round(&mut self) -> Round {
        let (mut pulled, mut refused) = (0u64, 0u64);
        for _ in 0..MAX_PAGES_PER_ROUND {
            match self.page(&mut pulled, &mut refused).await {
                Ok(true) => {}
                Ok(false) => break,
                Err(end) => return end,
            }
        }
        Round::Ok {
            pulled,
            refused,
            peer_head: String::new(),
        }
    }

    async fn record(&mut self, state: &SyncWorkerState, round: Option<&Round>) {
        let peer = &self.link.peer;
        match round {
            None => return,
            Some(Round::Ok {
                pulled, refused, ..
            }) => {
                if *pulled > 0 || *refused > 0 {
                    tracing::info!(peer = %peer, pulled, refused, "pulled DM items");
                }
                self.status.update(peer, |s| {
                    s.rounds_ok += 1;
                    s.refused_since_start += refused;
                });
            }
            Some(Round::Fork { .. }) => {}
            Some(Round::Err { error, retry_after }) => {
                tracing::debug!(peer = %peer, error = %error, retry_after, "DM pull failed");
            }
        }
        let snapshot = state.clone();
        self.status.update(peer, |s| s.state = snapshot);
    }
}

/// Gate feed pull from one peer.
pub struct GateFeed {
    pub link: PeerLink,
    pub signer: PeerSigner,
}

impl GateFeed {
    /// The gate pull's schedule: failures back off from the interval (at most core's default
    /// base) up to 8 intervals.
    pub fn config(interval_s: u64) -> postern_core::sync::SyncConfig {
        let interval_s = interval_s.max(1);
        let base = interval_s.min(postern_core::sync::DEFAULT_FAILURE_BACKOFF_S);
        postern_core::sync::SyncConfig {
            interval_s,
            failure_backoff_s: base,
            failure_backoff_cap_s: interval_s.saturating_mul(8).max(base),
        }
    }

    /// One page after `after`: the new cursor, or `None` when caught up.
    async fn page(&self, after: u64, stored: &mut u64) -> Result<Option<u64>, Round> {
        let (svc, peer) = (&self.link.svc, self.link.peer.as_str());
        let body = serde_json::to_vec(&gate_api::PeerPullRequest {
            after,
            limit: PEER_PULL_MAX_LIMIT,
        })
        .map_err(|e| Round::err(e.to_string()))?;
        let headers = self
            .signer
            .headers(gate_api::PATH_PEER_PULL, &body, svc.now());
        let url = format!("{peer}{}", gate_api::PATH_PEER_PULL);
        let bytes = post_json_async(
            &self.link.agent,
            url,
            headers,
            body,
            GATE_MAX_RESPONSE_BYTES,
            svc.now(),
        )
        .await
        .map_err(|(error, retry_after)| Round::Err { error, retry_after })?;
        let page: gate_api::PeerPullResponse = serde_json::from_slice(&bytes)
            .map_err(|e| Round::err(format!("gate pull response does not parse: {e}")))?;
        let n = page.items.len();
        for item in page.items {
            match svc.gate_peer_item(peer, item).await {
                Ok(r) if r.outcome == PeerPushOutcome::Accepted => *stored += 1,
                Ok(_) => {}
                // Retryable: keep the cursor before this page.
                Err(e) if e.is_retryable() => {
                    return Err(Round::err(format!(
                        "storing pulled gate items failed ({e})"
                    )))
                }
                // A final refusal: this item will never be accepted from this peer; go on.
                Err(e) => tracing::info!(peer = %peer, error = %e, "pulled gate item refused"),
            }
        }
        let mut next = None;
        if page.next_after > after {
            let (p, a, now) = (peer.to_string(), page.next_after, svc.now());
            svc.store()
                .run("gate_pull_cursor_set", move |s| {
                    s.set_gate_pull_cursor(&p, a, now)
                })
                .await
                .map_err(|_| Round::err(LOCAL))?;
            next = Some(page.next_after);
        }
        if n < PEER_PULL_MAX_LIMIT as usize || n == 0 {
            return Ok(None);
        }
        Ok(Some(next.unwrap_or(after)))
    }
}

impl Feed for GateFeed {
    fn link(&self) -> &PeerLink {
        &self.link
    }

    async fn resume(&mut self) -> SyncWorkerState {
        SyncWorkerState::default()
    }

    async fn local_head(&self) -> String {
        String::new()
    }

    /// Pull pages from the persisted cursor until a short page.
    async fn round(&mut self) -> Round {
        let p = self.link.peer.clone();
        let Ok(mut after) = self
            .link
            .svc
            .store()
            .run("gate_pull_cursor", move |s| s.gate_pull_cursor(&p))
            .await
        else {
            return Round::err(LOCAL);
        };
        let mut stored = 0u64;
        for _ in 0..GATE_MAX_PAGES {
            match self.page(after, &mut stored).await {
                Ok(Some(next)) => after = next,
                Ok(None) => break,
                Err(end) => return end,
            }
        }
        Round::Ok {
            pulled: stored,
            refused: 0,
            peer_head: String::new(),
        }
    }

    async fn record(&mut self, state: &SyncWorkerState, round: Option<&Round>) {
        let peer = &self.link.peer;
        match round {
            Some(Round::Ok { pulled, .. }) if *pulled > 0 => {
                tracing::info!(peer = %peer, items = pulled, "pulled gate items");
            }
            Some(Round::Err { error, .. }) => {
                let failures = state.consecutive_failures;
                tracing::debug!(peer = %peer, error = %error, failures, "gate pull failed");
            }
            _ => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use postern_core::api::peer::PeerPullItem;

    fn page(seqs: &[u64], next_after: u64) -> PeerPullResponse {
        let items = seqs
            .iter()
            .map(|&seq| PeerPullItem {
                seq,
                envelope: None,
                ack: None,
            })
            .collect();
        PeerPullResponse {
            ok: true,
            items,
            next_after,
            more: false,
        }
    }

    #[test]
    fn pages_must_move_forward() {
        assert!(check_page(&page(&[3, 5, 9], 9), 2).is_ok());
        assert!(check_page(&page(&[], 2), 2).is_ok());
        assert!(check_page(&page(&[2], 2), 2).is_err());
        assert!(check_page(&page(&[5, 4], 5), 2).is_err());
        assert!(check_page(&page(&[5], 4), 2).is_err());
    }
}
