//! Relay-to-relay (peer) authentication: Shadowbroker's v1 (body HMAC) here, Postern's v2
//! (method, path, timestamp, nonce, body; window and replay cache) in [`v2`].
//!
//! **v1 (Shadowbroker-compatible, weaker).** Two relays that replicate to each other share a secret. Each request carries the sender's
//! own public URL in [`HEADER_PEER_URL`] and a hex HMAC-SHA256 of the exact raw request body in
//! [`HEADER_PEER_HMAC`]. The HMAC key is derived per peer URL:
//! `HKDF-SHA256(salt = PEER_AUTH_SALT, ikm = shared secret, info = normalized peer URL)`, so
//! the same secret configured for two peers still yields two different keys.
//!
//! v1 binds nothing but the body: a captured request can be replayed forever, to the same
//! endpoint or any other taking the same body. Postern relays use [`v2`] with each other and
//! accept v1 only from peers configured as Shadowbroker nodes, only on
//! [`SHADOWBROKER_COMPATIBLE_PATHS`].
//!
//! Sans-IO: the relay reads the headers and the body, these functions decide.
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use thiserror::Error;

/// Header carrying the sender's own public URL (normalised with [`normalize_peer_url`]).
pub const HEADER_PEER_URL: &str = "X-Peer-Url";
/// Header carrying the lower-case hex HMAC-SHA256 of the raw body.
pub const HEADER_PEER_HMAC: &str = "X-Peer-HMAC";
/// HKDF salt (domain-separation label) of the peer key.
pub const PEER_AUTH_SALT: &[u8] = b"sb-peer-auth-v1";
/// Length of a peer key in bytes.
pub const PEER_KEY_BYTES: usize = 32;
/// Longest peer URL accepted.
pub const MAX_PEER_URL_CHARS: usize = 2048;

type HmacSha256 = Hmac<Sha256>;

pub mod v2;

/// The endpoints a Shadowbroker node calls on a peer: the only ones where v1 is accepted, and
/// only from a peer configured as [`PeerScheme::Shadowbroker`]: pushing chain events, and
/// reading the full chain with a signed sync (a replayed sync only re-reads what that peer may
/// read; it changes nothing).
pub const SHADOWBROKER_COMPATIBLE_PATHS: &[&str] = &[
    crate::api::infonet::PATH_PEER_PUSH,
    crate::api::infonet::PATH_SYNC,
];

/// How a configured peer authenticates (both directions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerScheme {
    /// Another Postern relay: [`v2`] on every endpoint.
    Postern,
    /// A Shadowbroker node: v1 (body HMAC), only on [`SHADOWBROKER_COMPATIBLE_PATHS`].
    Shadowbroker,
}

impl PeerScheme {
    /// Whether a request from a peer of this scheme may use v1 on `path`.
    pub fn accepts_v1_on(self, path: &str) -> bool {
        self == PeerScheme::Shadowbroker && SHADOWBROKER_COMPATIBLE_PATHS.contains(&path)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PeerError {
    #[error("peer URL is empty or too long")]
    BadLength,
    #[error("peer URL must start with http:// or https://")]
    BadScheme,
    #[error("peer URL must not contain user info")]
    UserInfo,
    #[error("peer URL must not contain a query or a fragment")]
    QueryOrFragment,
    #[error("peer URL has no host")]
    EmptyHost,
    #[error("peer URL has an invalid port")]
    BadPort,
    #[error("peer URL contains whitespace or control characters")]
    BadCharacter,
    #[error("X-Peer-HMAC is not 64 hex characters")]
    MalformedHmac,
    #[error("the peer MAC does not match the request")]
    HmacMismatch,
    #[error(
        "peer auth v2 headers (X-Peer-Timestamp, X-Peer-Nonce, X-Peer-Signature) are required"
    )]
    V2Required,
    #[error("X-Peer-Timestamp is not a decimal UNIX time")]
    BadTimestamp,
    #[error("X-Peer-Nonce is not {} lower-case hex characters", v2::NONCE_BYTES * 2)]
    BadNonce,
    #[error(
        "peer request timestamp is outside the allowed window of {} s",
        v2::WINDOW_SECS
    )]
    Stale,
    #[error("peer request nonce was already used (replay)")]
    Replayed,
    #[error("too many peer requests within the replay window; retry later")]
    ReplayCacheFull,
}

impl PeerError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            PeerError::MalformedHmac
            | PeerError::HmacMismatch
            | PeerError::V2Required
            | PeerError::BadTimestamp
            | PeerError::BadNonce => "peer_unauthorized",
            PeerError::Stale => "peer_stale",
            PeerError::Replayed => "peer_replayed",
            PeerError::ReplayCacheFull => "peer_busy",
            PeerError::BadLength
            | PeerError::BadScheme
            | PeerError::UserInfo
            | PeerError::QueryOrFragment
            | PeerError::EmptyHost
            | PeerError::BadPort
            | PeerError::BadCharacter => "bad_peer_url",
        }
    }
}

/// Normalise a peer URL: lower-case scheme and host, default port (80 for http, 443 for https)
/// dropped, no trailing slash, path kept as is. Non-http(s) schemes, user info, queries,
/// fragments and empty hosts are refused.
pub fn normalize_peer_url(url: &str) -> Result<String, PeerError> {
    let url = url.trim();
    if url.is_empty() || url.chars().count() > MAX_PEER_URL_CHARS {
        return Err(PeerError::BadLength);
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(PeerError::BadCharacter);
    }
    let (scheme, rest) = url.split_once("://").ok_or(PeerError::BadScheme)?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => "80",
        "https" => "443",
        _ => return Err(PeerError::BadScheme),
    };
    if rest.contains('?') || rest.contains('#') {
        return Err(PeerError::QueryOrFragment);
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(PeerError::UserInfo);
    }
    // Split host and port; IPv6 literals are bracketed.
    let (host, port) = if let Some(after) = authority.strip_prefix('[') {
        let end = after.find(']').ok_or(PeerError::EmptyHost)?;
        let host = &authority[..end + 2];
        match &after[end + 1..] {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':').ok_or(PeerError::BadPort)?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() || host == "[]" {
        return Err(PeerError::EmptyHost);
    }
    let port = match port {
        None => None,
        Some(p) => {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(PeerError::BadPort);
            }
            let n: u16 = p.parse().map_err(|_| PeerError::BadPort)?;
            let n = n.to_string();
            (n != default_port).then_some(n)
        }
    };
    let mut out = format!("{scheme}://{}", host.to_ascii_lowercase());
    if let Some(p) = port {
        out.push(':');
        out.push_str(&p);
    }
    out.push_str(path.trim_end_matches('/'));
    Ok(out)
}

/// The HMAC key for requests to or from the peer at `normalized_url`:
/// HKDF-SHA256(salt = [`PEER_AUTH_SALT`], ikm = `secret`, info = URL bytes), 32 bytes.
pub fn peer_key(secret: &[u8], normalized_url: &str) -> [u8; PEER_KEY_BYTES] {
    let hk = Hkdf::<Sha256>::new(Some(PEER_AUTH_SALT), secret);
    let mut out = [0u8; PEER_KEY_BYTES];
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so expand cannot fail.
    let _ = hk.expand(normalized_url.as_bytes(), &mut out);
    out
}

fn mac(key: &[u8; PEER_KEY_BYTES], body: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length: new_from_slice cannot fail.
    let mut m = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return [0u8; 32],
    };
    m.update(body);
    m.finalize().into_bytes().into()
}

/// Lower-case hex HMAC-SHA256 of the exact raw `body`.
pub fn sign_body(key: &[u8; PEER_KEY_BYTES], body: &[u8]) -> String {
    hex::encode(mac(key, body))
}

/// Check `hmac_hex` (case-insensitive hex) against the body, in constant time.
pub fn verify_body(
    key: &[u8; PEER_KEY_BYTES],
    body: &[u8],
    hmac_hex: &str,
) -> Result<(), PeerError> {
    let given = hmac_hex.trim();
    if given.len() != 64 {
        return Err(PeerError::MalformedHmac);
    }
    let given = hex::decode(given).map_err(|_| PeerError::MalformedHmac)?;
    let expected = mac(key, body);
    if bool::from(expected.as_slice().ct_eq(given.as_slice())) {
        Ok(())
    } else {
        Err(PeerError::HmacMismatch)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn normalization_table() {
        let ok = [
            ("http://example.com", "http://example.com"),
            ("HTTP://Example.COM/", "http://example.com"),
            ("https://example.com:443/", "https://example.com"),
            ("http://example.com:80", "http://example.com"),
            ("http://example.com:443", "http://example.com:443"),
            ("https://example.com:80/", "https://example.com:80"),
            (
                "https://Relay.Example.com:8443/Mesh/Sub/",
                "https://relay.example.com:8443/Mesh/Sub",
            ),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://127.0.0.1:08080", "http://127.0.0.1:8080"),
            ("http://[::1]:8080/", "http://[::1]:8080"),
            ("https://[FE80::1]:443", "https://[fe80::1]"),
            ("  https://a.b//  ", "https://a.b"),
        ];
        for (input, want) in ok {
            assert_eq!(normalize_peer_url(input).as_deref(), Ok(want), "{input}");
        }
        let bad = [
            ("", PeerError::BadLength),
            ("ftp://example.com", PeerError::BadScheme),
            ("example.com", PeerError::BadScheme),
            ("ws://example.com", PeerError::BadScheme),
            ("http://user:pw@example.com", PeerError::UserInfo),
            ("http://example.com/?a=1", PeerError::QueryOrFragment),
            ("http://example.com/#x", PeerError::QueryOrFragment),
            ("http://", PeerError::EmptyHost),
            ("http:///path", PeerError::EmptyHost),
            ("http://:8080", PeerError::EmptyHost),
            ("http://example.com:", PeerError::BadPort),
            ("http://example.com:99999", PeerError::BadPort),
            ("http://example.com:8x", PeerError::BadPort),
            ("http://exa mple.com", PeerError::BadCharacter),
        ];
        for (input, want) in bad {
            assert_eq!(normalize_peer_url(input), Err(want), "{input}");
        }
    }

    #[test]
    fn known_answer() {
        let key = peer_key(b"correct horse battery staple", "https://relay.example.com");
        assert_eq!(hex::encode(key), KAT_KEY);
        assert_eq!(sign_body(&key, br#"{"events":[]}"#), KAT_MAC);
        // The label is the salt, the URL the info: both secret and URL change the key.
        assert_ne!(peer_key(b"s", "http://a"), peer_key(b"s", "http://b"));
        assert_ne!(peer_key(b"s", "http://a"), peer_key(b"t", "http://a"));
    }

    /// Cross-checked with Python `hmac`/`hashlib` (RFC 5869 extract+expand by hand).
    const KAT_KEY: &str = "db45f3601c56ef181079a3f4bcb8f4f66e9b39e50733a81789be430c4b3d5c66";
    const KAT_MAC: &str = "79b8dcb85f9f513aa9843f6b9ac708d429a69904c1541a1ab39a86e41df92741";

    #[test]
    fn sign_verify_and_tamper() {
        let key = peer_key(b"secret", "http://127.0.0.1:9000");
        let body = br#"{"envelope":{},"expires_at":1}"#;
        let sig = sign_body(&key, body);
        assert_eq!(sig.len(), 64);
        assert_eq!(verify_body(&key, body, &sig), Ok(()));
        assert_eq!(verify_body(&key, body, &sig.to_ascii_uppercase()), Ok(()));
        let mut tampered = body.to_vec();
        tampered[3] ^= 1;
        assert_eq!(
            verify_body(&key, &tampered, &sig),
            Err(PeerError::HmacMismatch)
        );
        let other = peer_key(b"secret", "http://127.0.0.1:9001");
        assert_eq!(
            verify_body(&other, body, &sig),
            Err(PeerError::HmacMismatch)
        );
        let mut flipped = sig.clone().into_bytes();
        flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(
            verify_body(&key, body, &flipped),
            Err(PeerError::HmacMismatch)
        );
        assert_eq!(verify_body(&key, body, ""), Err(PeerError::MalformedHmac));
        assert_eq!(
            verify_body(&key, body, &sig[..62]),
            Err(PeerError::MalformedHmac)
        );
        assert_eq!(
            verify_body(&key, body, &"zz".repeat(32)),
            Err(PeerError::MalformedHmac)
        );
    }
}
