//! One page of a chain pull: the signed `POST /api/mesh/infonet/sync` request for a locator and
//! its answer parsed ([`fetch`]); [`prefetch`] sends it in the background so the next page is
//! on its way while the current one is verified and stored.
use postern_core::api::infonet::{SyncPostRequest, LOCATOR_LIMIT_DEFAULT, PATH_SYNC};
use postern_core::canonical::PROTOCOL_VERSION;
use postern_core::json::{self, Value};

use super::client::{post_json_async, PeerSigner};
use super::pull::{PeerLink, Round};

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

/// A page being fetched in the background, and the locator it was asked with.
pub type Prefetch = tokio::task::JoinHandle<Result<Page, Round>>;

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

/// [`fetch`] on a background task (the request is signed now).
pub fn prefetch(
    link: &PeerLink,
    signer: Option<&PeerSigner>,
    locator: Vec<String>,
    limit: usize,
) -> Prefetch {
    let req = request(link, signer, locator, limit);
    tokio::spawn(async move {
        let (agent, url, headers, body, now) = req?;
        let bytes = post_json_async(&agent, url, headers, body, CHAIN_MAX_RESPONSE_BYTES, now)
            .await
            .map_err(|(error, retry_after)| Round::Err { error, retry_after })?;
        parse(&bytes)
    })
}

/// The result of a [`prefetch`] (a task that failed to run is an error of the round).
pub async fn join(p: Prefetch) -> Result<Page, Round> {
    p.await.unwrap_or_else(|e| Err(Round::err(e.to_string())))
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
    let req = SyncPostRequest {
        protocol_version: PROTOCOL_VERSION.into(),
        locator,
        limit: Some(limit as i64),
        expected_head: None,
        include_proofs: false,
    };
    let body = serde_json::to_vec(&req).map_err(|e| Round::err(e.to_string()))?;
    let now = link.svc.now();
    let headers = signer
        .map(|s| s.headers(PATH_SYNC, &body, now))
        .unwrap_or_default();
    let url = format!("{}{PATH_SYNC}", link.peer);
    Ok((link.agent.clone(), url, headers, body, now))
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
