//! The static web UI at `/`: files of the built UI (precompressed `.br`/`.gz` siblings when the
//! client accepts them) with an `index.html` fallback and a cache policy per file, JSON 404 / 405
//! for unknown API routes.
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::response::{Html, IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::fs::ServeFileSystemResponseBody;
use tower_http::services::{ServeDir, ServeFile};

use super::error::ApiError;
use super::middleware::is_api_path;
use super::state::AppState;

const UI_NOT_BUILT: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Postern relay</title></head><body><h1>Postern relay</h1>\
<p>The relay is running, but the web UI is not built. Run <code>make build</code> \
(or point <code>--web</code> / <code>POSTERN_WEB</code> at the built UI directory).</p>\
</body></html>\n";

/// Marks an answer of the `index.html` fallback (a path that is not a file).
#[derive(Debug, Clone, Copy)]
struct ShellFallback;

/// Unknown routes: JSON 404 under `/api`, otherwise the static UI with `index.html` fallback.
pub(super) async fn fallback(State(st): State<AppState>, req: Request) -> Response {
    if is_api_path(req.uri().path()) {
        return ApiError::not_found().into_response();
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return ApiError::method_not_allowed("method not allowed").into_response();
    }
    if !is_plain_path(req.uri().path()) {
        return ApiError::not_found().into_response();
    }
    let index = st.web().join("index.html");
    let built = tokio::fs::metadata(&index)
        .await
        .map(|m| m.is_file())
        .unwrap_or(false);
    if !built {
        return Html(UI_NOT_BUILT).into_response();
    }
    let cache = cache_control_for(req.uri().path());
    let mut req = req;
    if req.headers().contains_key(header::RANGE) {
        // Ranges are answered over the plain bytes only: a range of an encoded body is of
        // no use to a client that resumes a download of the file.
        req.headers_mut().remove(header::ACCEPT_ENCODING);
    }
    // `ServeDir` picks `<file>.br` (preferred on equal q-values) or `<file>.gz` when the client
    // accepts the encoding and the sibling exists, with the original file's Content-Type.
    // The SPA fallback is marked, so a missing hashed path never caches `index.html` for good.
    let shell = <ServeFile as ServiceExt<Request>>::map_response(
        ServeFile::new(index),
        |mut r: Response<ServeFileSystemResponseBody>| {
            r.extensions_mut().insert(ShellFallback);
            r
        },
    );
    let svc = ServeDir::new(st.web())
        .precompressed_br()
        .precompressed_gzip()
        .fallback(shell);
    let mut resp = match svc.oneshot(req).await {
        Ok(resp) => resp.map(Body::new),
        Err(never) => match never {},
    };
    if resp.status().is_server_error() {
        // An I/O error on a path that passed the checks above: nothing to serve.
        tracing::debug!(status = resp.status().as_u16(), "static file not served");
        return ApiError::not_found().into_response();
    }
    let h = resp.headers_mut();
    // The answer depends on Accept-Encoding for every path a sibling may exist for.
    h.insert(
        header::VARY,
        header::HeaderValue::from_static("accept-encoding"),
    );
    if h.contains_key(header::CONTENT_ENCODING) {
        // No ranges over an encoded body (see above): do not advertise them.
        h.remove(header::ACCEPT_RANGES);
    }
    let cache = if resp.extensions().get::<ShellFallback>().is_some() {
        "no-cache"
    } else {
        cache
    };
    if resp.status().is_success() || resp.status() == axum::http::StatusCode::NOT_MODIFIED {
        resp.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static(cache),
        );
    }
    resp
}

/// Whether a static path, percent-decoded, is UTF-8 without control characters (a NUL would
/// make opening the file an I/O error, i.e. a 500, in `ServeDir`).
fn is_plain_path(path: &str) -> bool {
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                .and_then(|h| std::str::from_utf8(h).ok());
            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(v) => {
                    out.push(v);
                    i += 3;
                    continue;
                }
                None => return false,
            }
        }
        out.push(b[i]);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => !s.chars().any(char::is_control),
        Err(_) => false,
    }
}

/// A known path with a method it does not answer.
pub(super) async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed("method not allowed on this path")
}

/// Cache policy for the static UI. Files whose name carries Trunk's content hash
/// (`name-<16 hex>.ext` / `name-<16 hex>_bg.wasm`) never change: cache them for good. Everything
/// else — `index.html`, `sw.js`, `precache-manifest.json`, the manifest, icons, the SPA fallback —
/// must be revalidated on every load, so a new build is always picked up.
pub fn cache_control_for(path: &str) -> &'static str {
    if is_content_hashed(path.rsplit('/').next().unwrap_or("")) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    }
}

fn is_content_hashed(name: &str) -> bool {
    name.match_indices('-').any(|(i, _)| {
        let rest = &name[i + 1..];
        rest.len() > 16
            && rest.as_bytes()[..16].iter().all(|b| b.is_ascii_hexdigit())
            && matches!(rest.as_bytes()[16], b'.' | b'_')
    })
}

#[cfg(test)]
mod cache_tests {
    use super::{cache_control_for, is_plain_path};

    #[test]
    fn control_characters_and_bad_escapes_are_not_plain_paths() {
        for ok in ["/", "/index.html", "/a%20b.js", "/%C3%A9t%C3%A9"] {
            assert!(is_plain_path(ok), "{ok}");
        }
        for bad in ["/%00", "/a%00b", "/%1f", "/%7F", "/%ff", "/%zz", "/%4"] {
            assert!(!is_plain_path(bad), "{bad}");
        }
    }

    #[test]
    fn hashed_assets_are_immutable_and_the_shell_revalidates() {
        for hashed in [
            "/postern-app-8a3f40826008bfc1_bg.wasm",
            "/postern-app-8a3f40826008bfc1.js",
            "/styles-0123456789abcdef.css",
        ] {
            assert!(cache_control_for(hashed).contains("immutable"), "{hashed}");
        }
        for shell in [
            "/",
            "/index.html",
            "/sw.js",
            "/precache-manifest.json",
            "/manifest.webmanifest",
            "/icon-192.png",
            "/some/route",
            "/x-0123.js",
            "/a-0123456789abcdefg.js",
        ] {
            assert_eq!(cache_control_for(shell), "no-cache", "{shell}");
        }
    }
}
