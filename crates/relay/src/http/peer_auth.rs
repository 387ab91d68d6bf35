//! Inbound peer authentication: the configured peers' keys and the replay cache. A Postern
//! peer must use peer auth v2 (`postern_core::peer::v2`: MAC over method, path, timestamp,
//! nonce and body; window; single-use nonce); a Shadowbroker node (`--sb-peer`) keeps its
//! body-only v1 HMAC, accepted only on `peer::SHADOWBROKER_COMPATIBLE_PATHS`.
use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{HeaderMap, Method, StatusCode};
use postern_core::api::peer::codes as pcodes;
use postern_core::peer::v2::{self, Presented, ReplayCache};
use postern_core::peer::{
    normalize_peer_url, peer_key, verify_body, PeerError, PeerScheme, HEADER_PEER_HMAC,
    HEADER_PEER_URL, PEER_KEY_BYTES,
};
use zeroize::Zeroizing;

use super::error::ApiError;

struct Inbound {
    scheme: PeerScheme,
    v1: Zeroizing<[u8; PEER_KEY_BYTES]>,
    v2: Zeroizing<[u8; PEER_KEY_BYTES]>,
}

/// Inbound peer keys by normalised peer URL, and the nonces each peer used within the window.
#[derive(Default)]
pub struct PeerKeys {
    inbound: HashMap<String, Inbound>,
    replay: Mutex<ReplayCache>,
}

impl PeerKeys {
    /// Keys of the peers `(normalised URL, shared secret, scheme)`.
    pub fn new<'a>(peers: impl IntoIterator<Item = (&'a str, &'a [u8], PeerScheme)>) -> Self {
        PeerKeys {
            inbound: peers
                .into_iter()
                .map(|(url, secret, scheme)| {
                    let keys = Inbound {
                        scheme,
                        v1: Zeroizing::new(peer_key(secret, url)),
                        v2: Zeroizing::new(v2::peer_key_v2(secret, url)),
                    };
                    (url.to_string(), keys)
                })
                .collect(),
            replay: Mutex::new(ReplayCache::new()),
        }
    }

    /// The scheme of the configured peer `url` (normalised).
    pub fn scheme(&self, url: &str) -> Option<PeerScheme> {
        self.inbound.get(url).map(|p| p.scheme)
    }

    pub fn is_empty(&self) -> bool {
        self.inbound.is_empty()
    }

    /// The authenticated peer URL of a `method path` request with `body`, received at `now`.
    /// Refusals: 403 `peer_unauthorized` (unknown peer, missing or malformed headers, MAC, v1
    /// where it is not accepted), 401 `peer_stale`, 403 `peer_replayed`, 503 `peer_busy`.
    pub fn authenticate(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
        now: u64,
    ) -> Result<String, ApiError> {
        let deny =
            |detail: &str| ApiError::new(StatusCode::FORBIDDEN, pcodes::PEER_UNAUTHORIZED, detail);
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let url = header(HEADER_PEER_URL).ok_or_else(|| deny("missing X-Peer-Url"))?;
        let url =
            normalize_peer_url(url).map_err(|_| deny("X-Peer-Url is not a valid peer URL"))?;
        let peer = self
            .inbound
            .get(&url)
            .ok_or_else(|| deny("X-Peer-Url is not a configured peer"))?;
        if peer.scheme == PeerScheme::Shadowbroker {
            if !peer.scheme.accepts_v1_on(path) {
                return Err(deny(
                    "a Shadowbroker peer may only push or sync Infonet events",
                ));
            }
            let mac = header(HEADER_PEER_HMAC).ok_or_else(|| deny("missing X-Peer-HMAC"))?;
            verify_body(&peer.v1, body, mac)
                .map_err(|_| deny("X-Peer-HMAC does not match the body"))?;
            return Ok(url);
        }
        let presented = Presented {
            timestamp: header(v2::HEADER_PEER_TIMESTAMP),
            nonce: header(v2::HEADER_PEER_NONCE),
            signature: header(v2::HEADER_PEER_SIGNATURE),
        };
        let verified =
            v2::verify(&peer.v2, method.as_str(), path, presented, body, now).map_err(refusal)?;
        self.replay
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .check_and_insert(&url, &verified, now)
            .map_err(refusal)?;
        Ok(url)
    }
}

fn refusal(e: PeerError) -> ApiError {
    let status = match e {
        PeerError::Stale => StatusCode::UNAUTHORIZED,
        PeerError::ReplayCacheFull => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::FORBIDDEN,
    };
    ApiError::new(status, e.code(), e.to_string())
}
