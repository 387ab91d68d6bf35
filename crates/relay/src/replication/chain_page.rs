//! One page of a chain pull: the signed `POST /api/mesh/infonet/sync` request for a locator and
//! its answer parsed ([`fetch`]); [`Ahead`] fetches the pages that follow on a background task,
//! each parsed and prepared (signatures checked, off the chain's lock) as soon as it arrives, so
//! pages are on their way and verified while the current one is stored.
use postern_core::api::infonet::{SyncPostRequest, LOCATOR_LIMIT_DEFAULT, PATH_SYNC};
use postern_core::canonical::PROTOCOL_VERSION;
use postern_core::json::{self, Value};

use super::client::{post_json_async, PeerSigner};
use super::pull::{PeerLink, Round};
use crate::service::chain::{self, Prepared};
use crate::service::Services;

/// Largest chain sync response read (a page of 500 events of the largest payload is ≈ 3 MB).
const CHAIN_MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;
/// Nesting allowed in a chain sync response.
const CHAIN_MAX_DEPTH: usize = 40;

/// A sync answer.
#[derive(Debug)]
pub struct Page {
    /// The events served, in chain order.
    pub events: Vec<Value>,
    /// The peer found none of the locator's hashes on its chain (served from genesis, if any).
    pub forked: bool,
    /// The peer's head (empty if it did not say).
    pub peer_head: String,
    /// `matched_hash` is absent or empty: nothing at all is shared.
    pub matched_nothing: bool,
}

/// Ask `link`'s peer for at most `limit` events after the first hash of `locator` it holds.
pub async fn fetch(
    link: &PeerLink,
    signer: Option<&PeerSigner>,
    locator: Vec<String>,
    limit: usize,
) -> Result<Page, Round> {
    let (agent, url, headers, body, now) = request(link, signer, locator, limit)?;
    let bytes = post_json_async(&agent, url, headers, body, CHAIN_MAX_RESPONSE_BYTES, now)
        .await
        .map_err(|(error, retry_after)| Round::Err { error, retry_after })?;
    parse(&bytes)
}

/// A page with its events prepared: how many were served, the last one's id, and the batch.
#[derive(Debug)]
pub struct Ready {
    /// The page, its `events` moved into `prepared`.
    pub page: Page,
    /// Events served.
    pub n: usize,
    /// `event_id` of the last event served, if it has one.
    pub last_id: Option<String>,
    /// The events, parsed and their signatures and ids checked.
    pub prepared: Prepared,
}

/// Split a page into [`Ready`] (the events prepared on `threads` threads).
pub async fn ready(mut page: Page, threads: usize) -> Result<Ready, Round> {
    let events = std::mem::take(&mut page.events);
    let n = events.len();
    let last_id = events
        .last()
        .and_then(|e| e.get("event_id"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let prepared = chain::prepare_on(events, threads)
        .await
        .map_err(|_| Round::err("local storage error"))?;
    Ok(Ready {
        page,
        n,
        last_id,
        prepared,
    })
}

/// Whether a page of `n` events ending at `last_id` has more after it on the peer: a full
/// page whose last event is not the peer's head.
pub fn more_after(n: usize, limit: usize, last_id: Option<&str>, peer_head: &str) -> bool {
    n >= limit && last_id.is_some_and(|l| l != peer_head)
}

/// Pages prepared ahead, oldest first (at most [`AHEAD_PAGES`] waiting plus one being fetched).
/// The fetcher follows each page's last event; it stops after a page with nothing after it, at
/// an error (handed on as that page's result), or when this is dropped. The pages are only
/// candidates: the puller stores one only after the one before it was stored whole (its head is
/// that page's last event), exactly what asking afterwards would give.
pub struct Ahead {
    rx: tokio::sync::mpsc::Receiver<tokio::task::JoinHandle<Result<Ready, Round>>>,
    fetcher: tokio::task::JoinHandle<()>,
}

/// Prepared pages waiting in an [`Ahead`] (each page is prepared on one thread, so two pages
/// are checked on two cores at once, each with the batch checks of a whole page).
pub const AHEAD_PAGES: usize = 2;

impl Ahead {
    /// Start fetching the pages after `last` (an event the peer just served), with `base` (our
    /// own locator) as the fallback of each request.
    pub fn start(
        link: &PeerLink,
        signer: Option<&PeerSigner>,
        last: String,
        base: Vec<String>,
        limit: usize,
    ) -> Ahead {
        let (tx, rx) = tokio::sync::mpsc::channel(AHEAD_PAGES);
        let (svc, peer, agent) = (link.svc.clone(), link.peer.clone(), link.agent.clone());
        let signer = signer.cloned();
        let fetcher = tokio::spawn(async move {
            let mut last = last;
            loop {
                let locator = locator_after(&last, &base);
                let req = request_for(&svc, &peer, &agent, signer.as_ref(), locator, limit);
                let page = match req {
                    Ok((agent, url, headers, body, now)) => {
                        post_json_async(&agent, url, headers, body, CHAIN_MAX_RESPONSE_BYTES, now)
                            .await
                            .map_err(|(error, retry_after)| Round::Err { error, retry_after })
                            .and_then(|b| parse(&b))
                    }
                    Err(e) => Err(e),
                };
                let next = page.as_ref().ok().and_then(|p| {
                    let l = p.events.last()?.get("event_id")?.as_str()?;
                    more_after(p.events.len(), limit, Some(l), &p.peer_head).then(|| l.to_string())
                });
                let task = tokio::spawn(async move { ready(page?, 1).await });
                if tx.send(task).await.is_err() {
                    return;
                }
                match next {
                    Some(l) => last = l,
                    None => return,
                }
            }
        });
        Ahead { rx, fetcher }
    }

    /// The next page, prepared; `None` when the fetcher stopped after the last one.
    pub async fn next(&mut self) -> Option<Result<Ready, Round>> {
        let task = self.rx.recv().await?;
        Some(
            task.await
                .unwrap_or_else(|e| Err(Round::err(e.to_string()))),
        )
    }
}

impl Drop for Ahead {
    fn drop(&mut self) {
        self.fetcher.abort();
        self.rx.close();
        while let Ok(task) = self.rx.try_recv() {
            task.abort();
        }
    }
}

/// The locator asking for what follows `last` (an event the peer just served, not yet stored
/// here): `last` first, then `base` (our own locator) as the fallback, within the default size
/// plus one.
pub fn locator_after(last: &str, base: &[String]) -> Vec<String> {
    let mut loc = Vec::with_capacity(base.len() + 1);
    loc.push(last.to_string());
    loc.extend(base.iter().take(LOCATOR_LIMIT_DEFAULT).cloned());
    loc
}

type Request = (
    ureq::Agent,
    String,
    Vec<(&'static str, String)>,
    Vec<u8>,
    u64,
);

fn request(
    link: &PeerLink,
    signer: Option<&PeerSigner>,
    locator: Vec<String>,
    limit: usize,
) -> Result<Request, Round> {
    request_for(&link.svc, &link.peer, &link.agent, signer, locator, limit)
}

fn request_for(
    svc: &Services,
    peer: &str,
    agent: &ureq::Agent,
    signer: Option<&PeerSigner>,
    locator: Vec<String>,
    limit: usize,
) -> Result<Request, Round> {
    let req = SyncPostRequest {
        protocol_version: PROTOCOL_VERSION.into(),
        locator,
        limit: Some(limit as i64),
        expected_head: None,
        include_proofs: false,
    };
    let body = serde_json::to_vec(&req).map_err(|e| Round::err(e.to_string()))?;
    let now = svc.now();
    let headers = signer
        .map(|s| s.headers(PATH_SYNC, &body, now))
        .unwrap_or_default();
    let url = format!("{peer}{PATH_SYNC}");
    Ok((agent.clone(), url, headers, body, now))
}

fn parse(bytes: &[u8]) -> Result<Page, Round> {
    let limits = json::Limits {
        max_depth: CHAIN_MAX_DEPTH,
        max_input_bytes: bytes.len(),
    };
    let mut v = json::parse_with_limits(bytes, limits)
        .map_err(|e| Round::err(format!("sync response is not JSON: {e}")))?;
    let forked = matches!(v.get("forked"), Some(Value::Bool(true)));
    let peer_head = v
        .get("head_hash")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let matched_nothing = matches!(
        v.get("matched_hash").and_then(Value::as_str),
        None | Some("")
    );
    let events = match v.remove("events") {
        Some(Value::Array(events)) => events,
        _ => return Err(Round::err("sync response has no events array")),
    };
    Ok(Page {
        events,
        forked,
        peer_head,
        matched_nothing,
    })
}
