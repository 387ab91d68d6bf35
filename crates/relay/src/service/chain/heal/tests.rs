//! Fork counters per peer: a fork met with a peer's events is counted for that peer as well as
//! globally, and a push from no named peer only globally.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use postern_core::api::infonet::AppendRequest;
use postern_core::chaingen::{author_key, sample_payload};
use postern_core::event::sign_event;
use postern_core::json::Value;

use super::super::{Chain, ForkStats, PushOutcome};
use crate::service::chain::Prepared;
use crate::store::Store;

const NOW: u64 = 1_780_200_000;
const PEER: &str = "https://b.example";

fn input(key_no: usize, i: u64, seq: u64) -> AppendRequest {
    let e = sign_event(
        &author_key(key_no),
        "",
        "message",
        &sample_payload("message", i),
        Value::Null,
        seq,
    );
    AppendRequest::for_signed(e, seq)
}

/// A chain in `dir` holding `n` messages by author `key`, appended at `NOW`.
fn chain_of(dir: &std::path::Path, key: usize, n: u64) -> Chain {
    let mut c = Chain::open(Store::open(dir).unwrap()).unwrap();
    for i in 0..n {
        c.append(input(key, i, i + 1), NOW, NOW as f64 + 0.5)
            .unwrap()
            .unwrap();
    }
    c
}

fn events(c: &Chain) -> Vec<Value> {
    super::super::parse_stored(&c.store().chain_range(0, 100).unwrap()).unwrap()
}

#[test]
fn a_fork_met_with_a_peers_events_is_counted_for_that_peer() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Both branches start at genesis: ours has 3 events, theirs 1 (different authors).
    let mut ours = chain_of(a.path(), 1, 3);
    let theirs = events(&chain_of(b.path(), 2, 1));
    let out = ours
        .push_prepared_from(&Prepared::new(theirs.clone(), 1), NOW + 1, Some(PEER))
        .unwrap();
    let global = ours.fork_stats();
    let per_peer = ours.peer_fork_stats().get(PEER).copied().unwrap();
    assert_eq!(per_peer, global, "the only fork was met with {PEER}");
    match out {
        PushOutcome::Done { accepted, .. } => {
            // Their branch won: our 3 pending events were rebased onto it.
            assert_eq!(accepted, 1);
            assert_eq!((global.adopted, global.relinked, global.kept), (1, 3, 0));
            assert_eq!(ours.head().1, 4);
        }
        PushOutcome::Refused(r) => {
            // Ours won: nothing rebased; the peer is told `forked`.
            assert_eq!(r.refusal.code, "forked");
            assert_eq!((global.kept, global.adopted, global.relinked), (1, 0, 0));
        }
    }
    // A push from no named peer (e.g. `postern verify`) counts only globally.
    let (c, d) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut other = chain_of(c.path(), 3, 2);
    let theirs = events(&chain_of(d.path(), 4, 1));
    other.peer_push(&theirs, NOW + 1).unwrap();
    assert_ne!(other.fork_stats(), ForkStats::default());
    assert!(other.peer_fork_stats().is_empty());
}
