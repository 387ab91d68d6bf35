//! Persisted pull-sync state: a restarted relay resumes with the same per-peer scheduler state
//! (failures, backoff, Retry-After) and shows it in `GET /api/mesh/infonet/sync-status`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod spy;

use common::{wait_for, Relay};
use serde_json::Value;
use spy::Spy;

const PATH_SYNC_STATUS: &str = "/api/mesh/infonet/sync-status";

fn peer_state(r: &Relay, peer: &str) -> Option<Value> {
    let v = r.get(PATH_SYNC_STATUS).json();
    v["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["peer_url"] == peer)
        .cloned()
}

/// Chain sync requests the spy saw (the relay also asks every peer for its signed tree head).
fn sync_requests(spy: &Spy) -> usize {
    let seen = spy.seen.lock().unwrap();
    seen.iter()
        .filter(|s| s.path.starts_with(postern_core::api::infonet::PATH_SYNC))
        .count()
}

#[test]
fn a_restart_keeps_the_sync_backoff_and_status() {
    // A peer that rate-limits every sync with a one-hour Retry-After.
    let spy = Spy::start(
        "429 Too Many Requests",
        "Retry-After: 3600\r\n",
        "{\"ok\":false,\"code\":\"rate_limited\",\"detail\":\"slow down\"}",
    );
    let data = tempfile::tempdir().unwrap();
    let args = [
        format!("--peer={}=secret", spy.url),
        "--sync-interval-secs=1".to_string(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let relay = Relay::start(data.path(), &args);
    wait_for("a failed round", || {
        peer_state(&relay, &spy.url)
            .is_some_and(|p| p["last_outcome"] == "error" && p["consecutive_failures"] == 1)
    });
    let before = peer_state(&relay, &spy.url).unwrap();
    assert_eq!(before["last_retry_after_s"], 3600);
    assert_eq!(before["last_error"], "status 429");
    let due = before["next_sync_due_at"].as_u64().unwrap();
    assert!(
        due >= before["last_sync_finished_at"].as_u64().unwrap() + 3600,
        "{before}"
    );
    assert_eq!(sync_requests(&spy), 1);
    assert_eq!(relay.terminate().code(), Some(0));

    // Restarted: the same state is served and the peer is not asked again before the backoff.
    let relay = Relay::start(data.path(), &args);
    wait_for("the persisted state", || {
        peer_state(&relay, &spy.url).is_some()
    });
    assert_eq!(peer_state(&relay, &spy.url).unwrap(), before);
    assert_eq!(relay.get(PATH_SYNC_STATUS).json()["fork_detected"], false);
    assert_eq!(sync_requests(&spy), 1);
    assert!(
        relay.log_text().contains("resuming pull-sync state"),
        "{}",
        relay.log_text()
    );
}
