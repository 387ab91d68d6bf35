//! Precompressed delivery against the real `postern` binary: a `.br` or `.gz` sibling of a
//! static file is served with `Content-Encoding` when the client accepts it (brotli preferred),
//! with the original Content-Type, `Vary: Accept-Encoding`, the cache policy of the plain file
//! and the security headers; HEAD answers alike without a body; a Range request gets the plain
//! bytes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Read;
use std::time::Duration;

use common::Relay;

const CSP: &str =
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; frame-ancestors 'none'";
const PLAIN: &[u8] = b"\0asm plain bytes of the app, long enough to be worth compressing";
const BR: &[u8] = b"brotli bytes";
const GZ: &[u8] = b"gzip bytes";
/// A file name as Trunk emits it (16 hex digits of content hash).
const TRUNK_WASM: &str = "postern-app-0123456789abcdef_bg.wasm";

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn fetch(relay: &Relay, method: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(20))
        .build();
    let mut req = agent.request(method, &relay.url(path));
    for (n, v) in headers {
        req = req.set(n, v);
    }
    let r = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {path}: {e}"),
    };
    let headers = r
        .headers_names()
        .into_iter()
        .map(|n| {
            let v = r.header(&n).unwrap_or_default().to_owned();
            (n, v)
        })
        .collect();
    let status = r.status();
    let mut body = Vec::new();
    r.into_reader().read_to_end(&mut body).unwrap();
    Answer {
        status,
        headers,
        body,
    }
}

fn with_assets() -> (Relay, tempfile::TempDir, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let web = tempfile::tempdir().unwrap();
    let w = web.path();
    std::fs::write(
        w.join("index.html"),
        "<!doctype html><title>Postern</title>",
    )
    .unwrap();
    std::fs::write(w.join("sw.js"), "// worker").unwrap();
    for name in ["app-abc123.wasm", TRUNK_WASM] {
        std::fs::write(w.join(name), PLAIN).unwrap();
        std::fs::write(w.join(format!("{name}.br")), BR).unwrap();
        std::fs::write(w.join(format!("{name}.gz")), GZ).unwrap();
    }
    // Only a gzip sibling.
    std::fs::write(w.join("only-gz.js"), "// js").unwrap();
    std::fs::write(w.join("only-gz.js.gz"), GZ).unwrap();
    let relay = Relay::start_with_web(data.path(), w, &[]);
    (relay, data, web)
}

fn assert_security_headers(a: &Answer, what: &str) {
    assert_eq!(a.header("content-security-policy"), Some(CSP), "{what}");
    assert_eq!(a.header("x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(
        a.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(a.header("referrer-policy"), Some("no-referrer"), "{what}");
}

#[test]
fn accepted_encodings_get_the_precompressed_sibling() {
    let (relay, _d, _w) = with_assets();
    let cases: [(&str, &[u8], Option<&str>); 6] = [
        ("br, gzip", BR, Some("br")),
        ("gzip, deflate, br, zstd", BR, Some("br")),
        ("gzip", GZ, Some("gzip")),
        ("br;q=0.5, gzip", GZ, Some("gzip")),
        ("identity", PLAIN, None),
        ("", PLAIN, None),
    ];
    for path in ["/app-abc123.wasm", &format!("/{TRUNK_WASM}")] {
        for (accept, body, encoding) in cases {
            let headers: &[(&str, &str)] = if accept.is_empty() {
                &[]
            } else {
                &[("Accept-Encoding", accept)]
            };
            let what = format!("GET {path} with Accept-Encoding {accept:?}");
            let a = fetch(&relay, "GET", path, headers);
            assert_eq!(a.status, 200, "{what}");
            assert_eq!(a.body, body, "{what}");
            assert_eq!(a.header("content-encoding"), encoding, "{what}");
            assert_eq!(a.header("content-type"), Some("application/wasm"), "{what}");
            assert_eq!(a.header("vary"), Some("accept-encoding"), "{what}");
            assert_security_headers(&a, &what);
            let len = body.len().to_string();
            assert_eq!(a.header("content-length"), Some(len.as_str()), "{what}");

            // HEAD: same headers, no body.
            let h = fetch(&relay, "HEAD", path, headers);
            assert_eq!(h.status, 200, "HEAD {what}");
            assert!(h.body.is_empty(), "HEAD {what}");
            for name in ["content-encoding", "content-type", "content-length", "vary"] {
                assert_eq!(h.header(name), a.header(name), "HEAD {what}: {name}");
            }
            assert_security_headers(&h, &format!("HEAD {what}"));
        }
    }
    // A file with only a gzip sibling: br is not invented, gzip is used.
    let a = fetch(
        &relay,
        "GET",
        "/only-gz.js",
        &[("Accept-Encoding", "br, gzip")],
    );
    assert_eq!((a.status, a.body.as_slice()), (200, GZ));
    assert_eq!(a.header("content-encoding"), Some("gzip"));
    assert_eq!(a.header("content-type"), Some("text/javascript"));
    let a = fetch(&relay, "GET", "/only-gz.js", &[("Accept-Encoding", "br")]);
    assert_eq!((a.status, a.body.as_slice()), (200, &b"// js"[..]));
    assert_eq!(a.header("content-encoding"), None);
}

#[test]
fn hashed_assets_are_immutable_and_the_shell_revalidates() {
    let (relay, _d, _w) = with_assets();
    let immutable = Some("public, max-age=31536000, immutable");
    for accept in ["br", "gzip", "identity"] {
        let a = fetch(
            &relay,
            "GET",
            &format!("/{TRUNK_WASM}"),
            &[("Accept-Encoding", accept)],
        );
        assert_eq!(a.header("cache-control"), immutable, "{accept}");
    }
    // A hashed name that is not (or no longer) built gets the shell, which must revalidate.
    for path in [
        "/",
        "/index.html",
        "/sw.js",
        "/some/route",
        "/postern-app-fedcba9876543210_bg.wasm",
    ] {
        let a = fetch(&relay, "GET", path, &[("Accept-Encoding", "br, gzip")]);
        assert_eq!(a.status, 200, "{path}");
        assert_eq!(a.header("cache-control"), Some("no-cache"), "{path}");
        assert_eq!(a.header("content-encoding"), None, "{path}");
        assert_security_headers(&a, path);
    }
}

#[test]
fn a_range_request_gets_the_plain_bytes() {
    let (relay, _d, _w) = with_assets();
    let path = format!("/{TRUNK_WASM}");
    let a = fetch(
        &relay,
        "GET",
        &path,
        &[("Accept-Encoding", "br, gzip"), ("Range", "bytes=1-3")],
    );
    assert_eq!(a.status, 206);
    assert_eq!(a.body, &PLAIN[1..4]);
    assert_eq!(a.header("content-encoding"), None);
    let total = format!("bytes 1-3/{}", PLAIN.len());
    assert_eq!(a.header("content-range"), Some(total.as_str()));
    assert_security_headers(&a, "range");
    // An encoded answer does not advertise ranges; a plain one does.
    let a = fetch(&relay, "GET", &path, &[("Accept-Encoding", "br")]);
    assert_eq!(a.header("accept-ranges"), None);
    let a = fetch(&relay, "GET", &path, &[]);
    assert_eq!(a.header("accept-ranges"), Some("bytes"));
}
