//! Peer auth v2 (issue 14 item 5) against the real `postern` binary: a captured peer request
//! replayed is refused, a stale one is refused, a Postern peer cannot fall back to the
//! body-only v1 MAC, and a Shadowbroker peer keeps v1 on the Infonet peer-push only.
//!
//! Each request here carries BOTH header sets — the v1 body HMAC and the v2 headers — exactly as
//! a capture of either kind of relay would: a relay that checked only v1 accepts every replay.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{now, Relay, Resp};
use postern_core::api::gate::PATH_PEER_PULL as GATE_PEER_PULL;
use postern_core::api::peer::{
    PeerPullRequest, HEADER_PEER_HMAC, HEADER_PEER_URL, PATH_DM_PEER_PULL, PATH_PEER_PUSH,
};
use postern_core::peer::v2;
use postern_core::peer::{normalize_peer_url, peer_key, sign_body};
use rand_core::OsRng;

const PEER_URL: &str = "http://peer-a.test:7001";
const PEER_SECRET: &str = "s3cret-a";

/// A captured request: path, headers and body, replayable byte for byte.
#[derive(Clone)]
struct Capture {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// What the peer at PEER_URL sends at `ts`: v1 HMAC and v2 headers over `body`.
fn capture(path: &str, body: &[u8], ts: u64) -> Capture {
    let url = normalize_peer_url(PEER_URL).unwrap();
    let k1 = peer_key(PEER_SECRET.as_bytes(), &url);
    let k2 = v2::peer_key_v2(PEER_SECRET.as_bytes(), &url);
    let h = v2::sign(&k2, "POST", path, body, ts, &mut OsRng);
    let mut headers = vec![
        (HEADER_PEER_URL.to_string(), PEER_URL.to_string()),
        (HEADER_PEER_HMAC.to_string(), sign_body(&k1, body)),
    ];
    headers.extend(
        h.pairs()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    Capture {
        path: path.to_string(),
        headers,
        body: body.to_vec(),
    }
}

fn send(relay: &Relay, c: &Capture) -> Resp {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(20))
        .build();
    let mut req = agent
        .post(&relay.url(&c.path))
        .set("Content-Type", "application/json");
    for (k, v) in &c.headers {
        req = req.set(k, v);
    }
    Relay::finish(req.send_bytes(&c.body))
}

fn without(c: &Capture, names: &[&str]) -> Capture {
    let mut c = c.clone();
    c.headers
        .retain(|(k, _)| !names.iter().any(|n| n.eq_ignore_ascii_case(k)));
    c
}

fn pull_body() -> Vec<u8> {
    serde_json::to_vec(&PeerPullRequest {
        after: 0,
        limit: 10,
    })
    .unwrap()
}

fn start(flag: &str) -> (Relay, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let flag = format!("{flag}={PEER_URL}={PEER_SECRET}");
    (Relay::start(data.path(), &[flag.as_str()]), data)
}

#[test]
fn replayed_peer_pull_is_refused() {
    let (relay, _d) = start("--peer");
    for path in [PATH_DM_PEER_PULL, GATE_PEER_PULL] {
        let c = capture(path, &pull_body(), now());
        let first = send(&relay, &c);
        assert_eq!(first.status, 200, "{path}: {}", first.body);
        // The same bytes again (a captured pull replayed): refused.
        send(&relay, &c).assert_error(403, "peer_replayed");
        send(&relay, &c).assert_error(403, "peer_replayed");
    }
    // A captured DM pull sent to the gate feed: the MAC covers the path.
    let c = capture(PATH_DM_PEER_PULL, &pull_body(), now());
    let moved = Capture {
        path: GATE_PEER_PULL.to_string(),
        ..c
    };
    send(&relay, &moved).assert_error(403, "peer_unauthorized");
}

#[test]
fn stale_peer_request_is_refused() {
    let (relay, _d) = start("--peer");
    let window = v2::WINDOW_SECS;
    for ts in [now() - window - 60, now() + window + 60] {
        let c = capture(PATH_DM_PEER_PULL, &pull_body(), ts);
        send(&relay, &c).assert_error(401, "peer_stale");
    }
    // Inside the window: fine.
    let c = capture(PATH_DM_PEER_PULL, &pull_body(), now() - 30);
    assert_eq!(send(&relay, &c).status, 200);
}

#[test]
fn a_postern_peer_cannot_fall_back_to_the_body_only_mac() {
    let (relay, _d) = start("--peer");
    let c = capture(PATH_DM_PEER_PULL, &pull_body(), now());
    let v1_only = without(
        &c,
        &[
            v2::HEADER_PEER_TIMESTAMP,
            v2::HEADER_PEER_NONCE,
            v2::HEADER_PEER_SIGNATURE,
        ],
    );
    send(&relay, &v1_only).assert_error(403, "peer_unauthorized");
    let push = capture(PATH_PEER_PUSH, br#"{"events":[]}"#, now());
    let v1_push = without(
        &push,
        &[
            v2::HEADER_PEER_TIMESTAMP,
            v2::HEADER_PEER_NONCE,
            v2::HEADER_PEER_SIGNATURE,
        ],
    );
    send(&relay, &v1_push).assert_error(403, "peer_unauthorized");
    // The v2 headers alone are enough.
    assert_eq!(send(&relay, &without(&c, &[HEADER_PEER_HMAC])).status, 200);
}

#[test]
fn a_shadowbroker_peer_keeps_v1_on_the_infonet_push_only() {
    let (relay, _d) = start("--sb-peer");
    let v2_names = [
        v2::HEADER_PEER_TIMESTAMP,
        v2::HEADER_PEER_NONCE,
        v2::HEADER_PEER_SIGNATURE,
    ];
    let push = without(
        &capture(PATH_PEER_PUSH, br#"{"events":[]}"#, now()),
        &v2_names,
    );
    let r = send(&relay, &push);
    assert_eq!(r.status, 200, "{}", r.body);
    // v1 replays are accepted there (documented as weaker; an empty or duplicate push changes nothing).
    assert_eq!(send(&relay, &push).status, 200);
    // No DM or gate endpoint accepts v1.
    for path in [PATH_DM_PEER_PULL, GATE_PEER_PULL] {
        let c = without(&capture(path, &pull_body(), now()), &v2_names);
        send(&relay, &c).assert_error(403, "peer_unauthorized");
    }
}
