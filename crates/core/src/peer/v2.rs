//! Peer authentication v2 between Postern relays: an HMAC over method, path, timestamp, nonce
//! and body, a time window and a replay cache.
//!
//! v1 ([`super`], Shadowbroker's scheme) authenticates only the body, so a captured request
//! (a peer-pull, a push) can be replayed forever. v2 signs
//! `PEER_AUTH_V2 ‖ 0 ‖ METHOD ‖ 0 ‖ path ‖ 0 ‖ decimal(timestamp) ‖ 0 ‖ nonce ‖ 0 ‖ sha256(body)`
//! under `HKDF-SHA256(salt = PEER_AUTH_V2_SALT, ikm = shared secret, info = sender URL)` — a key
//! distinct from the v1 key, so no v1 MAC is ever a v2 MAC. The receiver refuses a timestamp
//! outside ±[`WINDOW_SECS`] of its clock and a nonce it has seen from that peer within the
//! window ([`ReplayCache`], kept by the relay in memory; the clock is passed in).
use std::collections::HashMap;

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{PeerError, PEER_KEY_BYTES};
use crate::labels;

/// Header carrying the request timestamp (decimal UNIX seconds).
pub const HEADER_PEER_TIMESTAMP: &str = "X-Peer-Timestamp";
/// Header carrying the single-use nonce ([`NONCE_BYTES`] bytes, lower-case hex).
pub const HEADER_PEER_NONCE: &str = "X-Peer-Nonce";
/// Header carrying the lower-case hex v2 HMAC (v1's `X-Peer-HMAC` is never read for v2).
pub const HEADER_PEER_SIGNATURE: &str = "X-Peer-Signature";
/// How far a peer request's timestamp may be from the receiver's clock, either way.
pub const WINDOW_SECS: u64 = 300;
/// Random bytes in a nonce.
pub const NONCE_BYTES: usize = 16;
/// Most nonces remembered per peer; past it (after pruning expired ones) a request is refused
/// with [`PeerError::ReplayCacheFull`] rather than forgetting a live nonce (which would allow a
/// replay). 16,384 per 10-minute span is ~27 requests/s per peer, far above replication rates.
pub const MAX_NONCES_PER_PEER: usize = 16_384;

type HmacSha256 = Hmac<Sha256>;

/// The v2 HMAC key for requests from the peer at `normalized_url`.
pub fn peer_key_v2(secret: &[u8], normalized_url: &str) -> [u8; PEER_KEY_BYTES] {
    let hk = Hkdf::<Sha256>::new(Some(labels::PEER_AUTH_V2_SALT), secret);
    let mut out = [0u8; PEER_KEY_BYTES];
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so expand cannot fail.
    let _ = hk.expand(normalized_url.as_bytes(), &mut out);
    out
}

/// The bytes that are MACed for one request. `method` is upper-cased; `path` is the endpoint
/// path the receiver routes on (e.g. `/api/mesh/dm/peer-pull`), without query.
pub fn signing_bytes(
    method: &str,
    path: &str,
    timestamp: u64,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(160);
    for part in [
        labels::PEER_AUTH_V2,
        method.to_ascii_uppercase().as_bytes(),
        path.as_bytes(),
        timestamp.to_string().as_bytes(),
        nonce.as_bytes(),
    ] {
        m.extend_from_slice(part);
        m.push(0);
    }
    m.extend_from_slice(&Sha256::digest(body));
    m
}

fn mac(key: &[u8; PEER_KEY_BYTES], msg: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length: new_from_slice cannot fail.
    let mut m = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return [0u8; 32],
    };
    m.update(msg);
    m.finalize().into_bytes().into()
}

/// The three v2 header values of one request (besides `X-Peer-Url`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    pub timestamp: String,
    pub nonce: String,
    pub signature: String,
}

impl SignedHeaders {
    /// `(name, value)` pairs ready to set on a request.
    pub fn pairs(&self) -> [(&'static str, &str); 3] {
        [
            (HEADER_PEER_TIMESTAMP, &self.timestamp),
            (HEADER_PEER_NONCE, &self.nonce),
            (HEADER_PEER_SIGNATURE, &self.signature),
        ]
    }
}

/// Sign a request at `now` with a fresh random nonce.
pub fn sign(
    key: &[u8; PEER_KEY_BYTES],
    method: &str,
    path: &str,
    body: &[u8],
    now: u64,
    rng: &mut impl CryptoRngCore,
) -> SignedHeaders {
    let mut raw = [0u8; NONCE_BYTES];
    rng.fill_bytes(&mut raw);
    let nonce = hex::encode(raw);
    let signature = hex::encode(mac(key, &signing_bytes(method, path, now, &nonce, body)));
    SignedHeaders {
        timestamp: now.to_string(),
        nonce,
        signature,
    }
}

/// A request whose MAC and timestamp verified; its nonce must still be checked (and recorded)
/// with [`ReplayCache::check_and_insert`] before the request is acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub nonce: [u8; NONCE_BYTES],
    /// Past this instant the window alone refuses a replay, so the nonce can be forgotten.
    pub retain_until: u64,
}

/// The raw v2 header values of a received request; a missing header is `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Presented<'a> {
    pub timestamp: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub signature: Option<&'a str>,
}

impl<'a> From<&'a SignedHeaders> for Presented<'a> {
    fn from(h: &'a SignedHeaders) -> Self {
        Presented {
            timestamp: Some(&h.timestamp),
            nonce: Some(&h.nonce),
            signature: Some(&h.signature),
        }
    }
}

/// Verify the v2 headers of a request (everything but nonce freshness); any header missing is
/// [`PeerError::V2Required`].
pub fn verify(
    key: &[u8; PEER_KEY_BYTES],
    method: &str,
    path: &str,
    presented: Presented<'_>,
    body: &[u8],
    now: u64,
) -> Result<Verified, PeerError> {
    let (Some(ts), Some(nonce), Some(sig)) =
        (presented.timestamp, presented.nonce, presented.signature)
    else {
        return Err(PeerError::V2Required);
    };
    // Decimal digits only (no sign, no spaces, no leading zeros): one string per timestamp.
    if ts.is_empty() || ts.len() > 20 || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PeerError::BadTimestamp);
    }
    let ts_n: u64 = ts.parse().map_err(|_| PeerError::BadTimestamp)?;
    if ts_n.to_string() != ts {
        return Err(PeerError::BadTimestamp);
    }
    let mut raw = [0u8; NONCE_BYTES];
    if nonce.len() != NONCE_BYTES * 2
        || !nonce
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(PeerError::BadNonce);
    }
    hex::decode_to_slice(nonce, &mut raw).map_err(|_| PeerError::BadNonce)?;
    let mut given = [0u8; 32];
    if sig.len() != 64 {
        return Err(PeerError::MalformedHmac);
    }
    hex::decode_to_slice(sig, &mut given).map_err(|_| PeerError::MalformedHmac)?;
    let expected = mac(key, &signing_bytes(method, path, ts_n, nonce, body));
    if !bool::from(expected.ct_eq(&given)) {
        return Err(PeerError::HmacMismatch);
    }
    // The window is checked after the MAC so that an unauthenticated party learns nothing
    // about the receiver's clock.
    if ts_n.abs_diff(now) > WINDOW_SECS {
        return Err(PeerError::Stale);
    }
    Ok(Verified {
        nonce: raw,
        retain_until: ts_n.saturating_add(WINDOW_SECS),
    })
}

/// The nonces each peer used within the window. Memory only: after a restart a request
/// captured in the last [`WINDOW_SECS`] could be replayed once (see docs/protocol.md).
#[derive(Debug, Default)]
pub struct ReplayCache {
    per_peer: HashMap<String, HashMap<[u8; NONCE_BYTES], u64>>,
}

impl ReplayCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Record `v`'s nonce for `peer` unless it was seen before (and is still retained):
    /// [`PeerError::Replayed`] for a replay, [`PeerError::ReplayCacheFull`] when the peer
    /// already has [`MAX_NONCES_PER_PEER`] live nonces.
    pub fn check_and_insert(
        &mut self,
        peer: &str,
        v: &Verified,
        now: u64,
    ) -> Result<(), PeerError> {
        let seen = self.per_peer.entry(peer.to_string()).or_default();
        if let Some(&until) = seen.get(&v.nonce) {
            if until >= now {
                return Err(PeerError::Replayed);
            }
        }
        if seen.len() >= MAX_NONCES_PER_PEER {
            seen.retain(|_, until| *until >= now);
            if seen.len() >= MAX_NONCES_PER_PEER {
                return Err(PeerError::ReplayCacheFull);
            }
        }
        seen.insert(v.nonce, v.retain_until);
        Ok(())
    }

    /// Nonces currently held for `peer` (for tests and metrics).
    pub fn len(&self, peer: &str) -> usize {
        self.per_peer.get(peer).map_or(0, HashMap::len)
    }

    /// Forget every nonce whose retention ended before `now`.
    pub fn prune(&mut self, now: u64) {
        for seen in self.per_peer.values_mut() {
            seen.retain(|_, until| *until >= now);
        }
        self.per_peer.retain(|_, seen| !seen.is_empty());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    const PATH: &str = "/api/mesh/dm/peer-pull";
    const URL: &str = "http://127.0.0.1:9000";

    fn check(
        key: &[u8; PEER_KEY_BYTES],
        h: &SignedHeaders,
        method: &str,
        path: &str,
        body: &[u8],
        now: u64,
    ) -> Result<Verified, PeerError> {
        verify(key, method, path, h.into(), body, now)
    }

    #[test]
    fn captured_request_replayed_is_refused() {
        let key = peer_key_v2(b"secret", URL);
        let body = br#"{"after":0,"limit":100}"#;
        let h = sign(&key, "POST", PATH, body, 1_000, &mut OsRng);
        let mut cache = ReplayCache::new();
        let v = check(&key, &h, "POST", PATH, body, 1_010).unwrap();
        cache.check_and_insert(URL, &v, 1_010).unwrap();
        // The same bytes again, within the window: refused.
        let again = check(&key, &h, "POST", PATH, body, 1_020).unwrap();
        assert_eq!(
            cache.check_and_insert(URL, &again, 1_020),
            Err(PeerError::Replayed)
        );
        // After the window the timestamp alone refuses it, even once the cache forgot it.
        cache.prune(1_000 + WINDOW_SECS + 1);
        assert_eq!(cache.len(URL), 0);
        assert_eq!(
            check(&key, &h, "POST", PATH, body, 1_000 + WINDOW_SECS + 1),
            Err(PeerError::Stale)
        );
        // Another peer may use the same nonce value.
        let v = check(&key, &h, "POST", PATH, body, 1_030).unwrap();
        cache.check_and_insert("http://other", &v, 1_030).unwrap();
    }

    #[test]
    fn stale_or_future_timestamp_is_refused() {
        let key = peer_key_v2(b"secret", URL);
        let h = sign(&key, "POST", PATH, b"{}", 10_000, &mut OsRng);
        check(&key, &h, "POST", PATH, b"{}", 10_000 + WINDOW_SECS).unwrap();
        check(&key, &h, "POST", PATH, b"{}", 10_000 - WINDOW_SECS).unwrap();
        for now in [
            10_000 + WINDOW_SECS + 1,
            10_000 - WINDOW_SECS - 1,
            0,
            u64::MAX,
        ] {
            assert_eq!(
                check(&key, &h, "POST", PATH, b"{}", now),
                Err(PeerError::Stale),
                "{now}"
            );
        }
    }

    #[test]
    fn mac_binds_method_path_timestamp_nonce_body_and_key() {
        let key = peer_key_v2(b"secret", URL);
        let body = br#"{"after":5,"limit":100}"#;
        let h = sign(&key, "post", PATH, body, 5_000, &mut OsRng);
        check(&key, &h, "POST", PATH, body, 5_000).unwrap();
        let bad = |r: Result<Verified, PeerError>| assert_eq!(r, Err(PeerError::HmacMismatch));
        bad(check(&key, &h, "GET", PATH, body, 5_000));
        bad(check(
            &key,
            &h,
            "POST",
            "/api/mesh/gate/peer-pull",
            body,
            5_000,
        ));
        bad(check(
            &key,
            &h,
            "POST",
            PATH,
            br#"{"after":0,"limit":100}"#,
            5_000,
        ));
        let mut t = h.clone();
        t.timestamp = "5001".into();
        bad(check(&key, &t, "POST", PATH, body, 5_000));
        let mut n = h.clone();
        n.nonce = "0".repeat(32);
        bad(check(&key, &n, "POST", PATH, body, 5_000));
        bad(check(
            &peer_key_v2(b"secret", "http://b"),
            &h,
            "POST",
            PATH,
            body,
            5_000,
        ));
        // A v1 MAC of the same body is not a v2 MAC (different key and input).
        let v1 = super::super::sign_body(&super::super::peer_key(b"secret", URL), body);
        let mut s = h.clone();
        s.signature = v1;
        bad(check(&key, &s, "POST", PATH, body, 5_000));
        assert_ne!(
            peer_key_v2(b"secret", URL),
            super::super::peer_key(b"secret", URL)
        );
    }

    #[test]
    fn malformed_headers() {
        let key = peer_key_v2(b"secret", URL);
        let h = sign(&key, "POST", PATH, b"", 7_000, &mut OsRng);
        let run = |p: Presented<'_>| verify(&key, "POST", PATH, p, b"", 7_000);
        let full = Presented::from(&h);
        assert!(run(full).is_ok());
        for p in [
            Presented {
                timestamp: None,
                ..full
            },
            Presented {
                nonce: None,
                ..full
            },
            Presented {
                signature: None,
                ..full
            },
        ] {
            assert_eq!(run(p), Err(PeerError::V2Required));
        }
        for ts in ["", "-1", " 7000", "07000", "7e3", "99999999999999999999999"] {
            let p = Presented {
                timestamp: Some(ts),
                ..full
            };
            assert_eq!(run(p), Err(PeerError::BadTimestamp), "{ts:?}");
        }
        let upper = h.nonce.to_ascii_uppercase();
        for n in ["", "zz", upper.as_str(), &h.nonce[..30]] {
            if n == h.nonce {
                continue;
            }
            let p = Presented {
                nonce: Some(n),
                ..full
            };
            assert_eq!(run(p), Err(PeerError::BadNonce), "{n:?}");
        }
        let p = Presented {
            signature: Some("ab"),
            ..full
        };
        assert_eq!(run(p), Err(PeerError::MalformedHmac));
    }

    #[test]
    fn cache_is_bounded_per_peer_and_never_forgets_a_live_nonce() {
        let mut cache = ReplayCache::new();
        let mk = |i: u32, until: u64| {
            let mut nonce = [0u8; NONCE_BYTES];
            nonce[..4].copy_from_slice(&i.to_be_bytes());
            Verified {
                nonce,
                retain_until: until,
            }
        };
        for i in 0..MAX_NONCES_PER_PEER as u32 {
            cache.check_and_insert(URL, &mk(i, 100), 0).unwrap();
        }
        let extra = mk(u32::MAX, 100);
        assert_eq!(
            cache.check_and_insert(URL, &extra, 0),
            Err(PeerError::ReplayCacheFull)
        );
        // Another peer is not affected.
        cache.check_and_insert("http://b", &extra, 0).unwrap();
        // Once the old ones expire, there is room again; the first nonce is forgotten only
        // because its timestamp is now outside the window.
        cache
            .check_and_insert(URL, &mk(u32::MAX, 300), 101)
            .unwrap();
        assert_eq!(cache.len(URL), 1);
    }
}
