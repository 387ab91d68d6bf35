//! The relay's web surface (issue 14 item 10) against the real `postern` binary: security
//! headers (CSP, anti-framing) on the UI, odd static paths answered without a 500 or an ERROR
//! log line, `/metrics` and the replication status private unless `--public-status`, and no
//! last-seen time in the unauthenticated key lookup.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{urlencode, Relay};
use postern_core::api::dm::PATH_PUBKEY;
use postern_core::Identity;
use rand_core::OsRng;

const CSP: &str =
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; frame-ancestors 'none'";

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(20))
        .build()
}

/// Status and the named response headers of `method path`.
fn head_of(relay: &Relay, method: &str, path: &str, names: &[&str]) -> (u16, Vec<Option<String>>) {
    let r = match agent().request(method, &relay.url(path)).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {path}: {e}"),
    };
    let h = names
        .iter()
        .map(|n| r.header(n).map(str::to_owned))
        .collect();
    (r.status(), h)
}

fn with_ui() -> (Relay, tempfile::TempDir, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let web = tempfile::tempdir().unwrap();
    std::fs::write(
        web.path().join("index.html"),
        "<!doctype html><title>Postern</title><script src=\"/boot-0123456789abcdef.js\"></script>",
    )
    .unwrap();
    std::fs::write(web.path().join("boot-0123456789abcdef.js"), "// boot").unwrap();
    let relay = Relay::start_with_web(data.path(), web.path(), &[]);
    (relay, data, web)
}

#[test]
fn the_ui_and_the_api_carry_csp_and_anti_framing_headers() {
    let (relay, _d, _w) = with_ui();
    let names = [
        "content-security-policy",
        "x-frame-options",
        "x-content-type-options",
        "referrer-policy",
    ];
    for path in [
        "/",
        "/index.html",
        "/boot-0123456789abcdef.js",
        "/some/route",
        "/api/health",
    ] {
        let (status, h) = head_of(&relay, "GET", path, &names);
        assert_eq!(status, 200, "{path}");
        assert_eq!(h[0].as_deref(), Some(CSP), "{path}");
        assert_eq!(h[1].as_deref(), Some("DENY"), "{path}");
        assert_eq!(h[2].as_deref(), Some("nosniff"), "{path}");
        assert_eq!(h[3].as_deref(), Some("no-referrer"), "{path}");
    }
}

#[test]
fn odd_static_paths_are_not_a_server_error() {
    let (relay, _d, _w) = with_ui();
    for method in ["HEAD", "GET"] {
        for path in [
            "/%00",
            "/a%00b.js",
            "/%00/x",
            "/%01",
            "/%2e%2e/%2e%2e/etc/passwd",
            "/%ff",
        ] {
            let (status, _) = head_of(&relay, method, path, &[]);
            assert!(status < 500, "{method} {path}: {status}");
        }
    }
    let log = relay.log_text();
    assert!(!log.contains("ERROR"), "{log}");
    assert!(!log.contains("status=500"), "{log}");
}

#[test]
fn metrics_and_replication_status_are_private_by_default() {
    let data = tempfile::tempdir().unwrap();
    let web = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_postern"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .arg("--web")
        .arg(web.path())
        .arg("--peer=http://peer-a.test:7001=s3cret")
        .env_remove("POSTERN_PUBLIC_STATUS")
        .env("POSTERN_RATE_LIMIT_PER_MIN", "0")
        .env("POSTERN_READ_RATE_LIMIT_PER_MIN", "0");
    let private = Relay::launch(cmd);
    let paths = [
        "/metrics",
        "/api/mesh/infonet/sync-status",
        "/api/mesh/dm/pull-status",
    ];
    for path in paths {
        let r = private.get(path);
        r.assert_error(404, "not_found");
        assert!(!r.body.contains("peer-a"), "{path}: {}", r.body);
    }
    // With --public-status (the test harness default) they answer.
    let open_data = tempfile::tempdir().unwrap();
    let open = Relay::start(open_data.path(), &["--public-status"]);
    for path in paths {
        assert_eq!(open.get(path).status, 200, "{path}");
    }
}

#[test]
fn the_unauthenticated_key_lookup_has_no_last_seen_time() {
    let data = tempfile::tempdir().unwrap();
    let relay = Relay::start(data.path(), &[]);
    let bob = Identity::generate(&mut OsRng);
    assert_eq!(relay.register(&bob).status, 200);
    let r = relay.get(&format!(
        "{PATH_PUBKEY}?node_id={}",
        urlencode(&bob.node_id())
    ));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.body.contains("registered_at"), "{}", r.body);
    // The keys are still there.
    assert_eq!(relay.lookup(&bob.node_id()).node_id(), bob.node_id());
}
