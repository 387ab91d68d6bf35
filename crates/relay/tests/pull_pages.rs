//! Pull sync over several pages (issue 16): pages of 500 events, each next page asked for
//! while the current one is verified and stored, give the peer's chain exactly (same head,
//! same Merkle root, every event counted once).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{wait_within, Mesh, Relay};

fn status(r: &Relay) -> (String, u64) {
    let v = r.get("/api/mesh/infonet/status").json();
    (
        v["head_hash_full"].as_str().unwrap_or_default().to_string(),
        v["total_events"].as_u64().unwrap_or(0),
    )
}

fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[test]
fn a_chain_of_several_pages_is_pulled_whole() {
    // No --public-url: no pushes, so only pull sync carries the chain.
    let (mesh, mut relays) = Mesh::start_with(2, &[(0, 1)], &["--sync-interval-secs", "1"], false);
    let b = relays.pop().unwrap();
    let a = relays.pop().unwrap();
    assert!(a.terminate().success());
    let n = 1_234;
    let seed = std::process::Command::new(env!("CARGO_BIN_EXE_postern"))
        .args(["dev-seed-chain", "--data"])
        .arg(mesh.dirs[0].path())
        .args(["--events", &n.to_string(), "--authors", "5"])
        .output()
        .unwrap();
    assert!(seed.status.success(), "{seed:?}");
    let mut attempts = 0;
    let a = loop {
        attempts += 1;
        match mesh.start_node(0) {
            Ok(r) => break r,
            Err(e) if attempts >= 20 => panic!("A did not restart: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    let want = status(&a);
    assert_eq!(want.1, n);
    wait_within("B to pull A's chain", Duration::from_secs(120), || {
        status(&b) == want
    });
    let root = |r: &Relay| r.get("/api/mesh/infonet/merkle").json()["merkle_root"].clone();
    assert_eq!(root(&b), root(&a));
    wait_within("B's pull counter", Duration::from_secs(30), || {
        metric(&b.get("/metrics").body, "postern_sync_events_pulled_total") >= n
    });
    let text = b.get("/metrics").body;
    assert_eq!(metric(&text, "postern_sync_events_pulled_total"), n);
    assert_eq!(metric(&text, "postern_sync_forks_total"), 0);
    let st = b.get("/api/mesh/infonet/sync-status").json();
    assert_eq!(st["fork_detected"], false, "{st}");
}
