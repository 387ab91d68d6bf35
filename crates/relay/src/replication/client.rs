//! Outbound peer HTTP: the peer configuration (`--peer URL=SECRET`, `--public-url`), the TLS
//! trust of `--peer-ca`, the shared agent and the one JSON POST every puller uses.
use std::sync::Arc;
use std::time::Duration;

use postern_core::peer::{
    normalize_peer_url, peer_key, sign_body, v2, PeerScheme, HEADER_PEER_HMAC, HEADER_PEER_URL,
    PEER_KEY_BYTES,
};
use zeroize::Zeroizing;

/// TLS client configuration of outbound peer requests when `--peer-ca` is given (set once at
/// startup); without it, https peers are verified against the Web PKI roots (webpki-roots).
static PEER_TLS: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();

/// Trust exactly the CA certificates in the PEM file `path` (a private CA) for outbound https
/// peer requests (pushes, pulls). Call once, before the peers start.
pub fn set_peer_ca(path: &std::path::Path) -> Result<(), String> {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("--peer-ca {}: {e}", path.display()))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("--peer-ca {}: {e}", path.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("--peer-ca {}: {e}", path.display()))?;
    }
    if roots.is_empty() {
        return Err(format!(
            "--peer-ca {}: no certificate found",
            path.display()
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    PEER_TLS
        .set(Arc::new(config))
        .map_err(|_| "--peer-ca was already configured".to_string())
}

/// The HTTP(S) agent of outbound peer requests (`--peer-ca` applied when given).
pub fn outbound_agent(timeout: Duration) -> ureq::Agent {
    let b = ureq::AgentBuilder::new().timeout(timeout);
    match PEER_TLS.get() {
        Some(cfg) => b.tls_config(Arc::clone(cfg)).build(),
        None => b.build(),
    }
}

/// POST `body` (JSON) to `url` with `headers`; the response bytes (at most `max_bytes`), or the
/// error and, for a 429, its `Retry-After` in seconds (0 otherwise). Shared by every puller.
pub fn post_json(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    max_bytes: u64,
    now: u64,
) -> Result<Vec<u8>, (String, u64)> {
    use std::io::Read;
    let mut req = agent.post(url).set("Content-Type", "application/json");
    for (k, v) in headers {
        req = req.set(k, v);
    }
    match req.send_bytes(body) {
        Ok(r) => {
            let mut buf = Vec::new();
            r.into_reader()
                .take(max_bytes + 1)
                .read_to_end(&mut buf)
                .map_err(|e| (format!("reading the response failed: {e}"), 0))?;
            if buf.len() as u64 > max_bytes {
                return Err(("response too large".into(), 0));
            }
            Ok(buf)
        }
        Err(ureq::Error::Status(code, r)) => {
            let retry_after = match code {
                429 => r
                    .header("retry-after")
                    .map_or(0, |v| postern_core::sync::parse_retry_after(v, now)),
                _ => 0,
            };
            Err((format!("status {code}"), retry_after))
        }
        Err(e) => Err((e.to_string(), 0)),
    }
}

/// [`post_json`] on the blocking pool (owned arguments), for the async pullers.
pub async fn post_json_async(
    agent: &ureq::Agent,
    url: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    max_bytes: u64,
    now: u64,
) -> Result<Vec<u8>, (String, u64)> {
    let agent = agent.clone();
    tokio::task::spawn_blocking(move || {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        post_json(&agent, &url, &headers, &body, max_bytes, now)
    })
    .await
    .unwrap_or_else(|e| Err((e.to_string(), 0)))
}

/// `--peer URL=SECRET` (another Postern relay, peer auth v2) or `--sb-peer URL=SECRET` (a
/// Shadowbroker node, its body-only v1 HMAC).
#[derive(Clone)]
pub struct PeerSpec {
    /// Normalised URL.
    pub url: String,
    pub secret: Zeroizing<Vec<u8>>,
    pub scheme: PeerScheme,
}

/// The authentication headers of requests this relay sends to one peer (cloned into a pull's
/// background fetcher; the keys are zeroized on drop, never printed).
#[derive(Clone)]
pub struct PeerSigner {
    own: String,
    scheme: PeerScheme,
    v1: Zeroizing<[u8; PEER_KEY_BYTES]>,
    v2: Zeroizing<[u8; PEER_KEY_BYTES]>,
}

impl PeerSigner {
    /// Signing as `own` (our normalised public URL) towards the peer of `spec`.
    pub fn new(spec: &PeerSpec, own: &str) -> Self {
        PeerSigner {
            own: own.to_string(),
            scheme: spec.scheme,
            v1: Zeroizing::new(peer_key(&spec.secret, own)),
            v2: Zeroizing::new(v2::peer_key_v2(&spec.secret, own)),
        }
    }

    /// Headers of a `POST path` with `body` at `now`: for a Postern peer the v2 headers (and
    /// the v1 HMAC, which only a relay of the previous version reads); for a Shadowbroker
    /// node its v1 HMAC only.
    pub fn headers(&self, path: &str, body: &[u8], now: u64) -> Vec<(&'static str, String)> {
        let mut h = vec![
            (HEADER_PEER_URL, self.own.clone()),
            (HEADER_PEER_HMAC, sign_body(&self.v1, body)),
        ];
        if self.scheme == PeerScheme::Postern {
            let s = v2::sign(&self.v2, "POST", path, body, now, &mut rand_core::OsRng);
            h.extend(s.pairs().map(|(k, v)| (k, v.to_string())));
        }
        h
    }
}

impl std::fmt::Debug for PeerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PeerSpec({} = <secret>)", self.url)
    }
}

/// clap parser of `--sb-peer URL=SECRET` (a Shadowbroker node).
pub fn parse_sb_peer_spec(s: &str) -> Result<PeerSpec, String> {
    let mut p = parse_peer_spec(s)?;
    p.scheme = PeerScheme::Shadowbroker;
    Ok(p)
}

/// clap parser of `--peer URL=SECRET` (split at the first `=`; the URL is normalised).
pub fn parse_peer_spec(s: &str) -> Result<PeerSpec, String> {
    let (url, secret) = s
        .split_once('=')
        .ok_or_else(|| "expected URL=SECRET".to_string())?;
    let url = normalize_peer_url(url).map_err(|e| e.to_string())?;
    if secret.is_empty() {
        return Err("the peer secret must not be empty".into());
    }
    Ok(PeerSpec {
        url,
        secret: Zeroizing::new(secret.as_bytes().to_vec()),
        scheme: PeerScheme::Postern,
    })
}

/// clap parser of `--public-url`.
pub fn parse_public_url(s: &str) -> Result<String, String> {
    normalize_peer_url(s).map_err(|e| e.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::{Read as _, Write as _};

    #[test]
    fn peer_specs() {
        let p = parse_peer_spec("HTTPS://Relay.Example:443/=a=b").unwrap();
        assert_eq!(p.url, "https://relay.example");
        assert_eq!(p.secret.as_slice(), b"a=b");
        assert!(!format!("{p:?}").contains("a=b"));
        assert!(parse_peer_spec("http://x").is_err());
        assert!(parse_peer_spec("http://x=").is_err());
        assert!(parse_peer_spec("ftp://x=s").is_err());
        assert_eq!(
            parse_public_url("http://127.0.0.1:80/").unwrap(),
            "http://127.0.0.1"
        );
    }

    /// A one-shot HTTP server answering `response`; returns its URL.
    fn serve_once(response: &'static str) -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", l.local_addr().unwrap());
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(response.as_bytes());
        });
        url
    }

    /// What the chain puller's fetch does: no peer headers, 16 MiB at most.
    fn fetch(
        agent: &ureq::Agent,
        url: &str,
        body: &[u8],
        now: u64,
    ) -> Result<Vec<u8>, (String, u64)> {
        post_json(agent, url, &[], body, 16 * 1024 * 1024, now)
    }

    #[test]
    fn a_429_retry_after_is_honoured() {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(5))
            .build();
        let url = serve_once("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        assert_eq!(
            fetch(&agent, &url, b"{}", 0),
            Err(("status 429".to_string(), 7))
        );
        // Retry-After only counts on a 429.
        let url = serve_once("HTTP/1.1 503 Unavailable\r\nRetry-After: 7\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        assert_eq!(
            fetch(&agent, &url, b"{}", 0),
            Err(("status 503".to_string(), 0))
        );
        // The scheduler waits at least that long after the failure.
        let s = postern_core::sync::SyncWorkerState::default().finish_err(
            &crate::replication::pull::config(1),
            "p",
            "status 429",
            false,
            7,
            100,
        );
        assert_eq!(s.next_sync_due_at, 107);
    }
}
