//! Signed tree heads (issue 13): a relay signs only its settled chain and proves consistency
//! between any two sizes it signed; a relay checking a peer keeps the peer's head pinned,
//! moves it only along consistent extensions, and keeps evidence when the peer signs two roots
//! for one size or rewrites history (a fake peer plays the misbehaving relay); two real peers
//! check each other and agree with their own chains.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use common::{wait_for, Mesh, Relay, Resp};
use postern_core::api::heads::{
    ConsistencyResponse, HeadsStatusResponse, TreeHeadResponse, PATH_CONSISTENCY,
    PATH_HEADS_STATUS, PATH_TREE_HEAD,
};
use postern_core::api::infonet::PATH_SYNC;
use postern_core::api::peer::{HEADER_PEER_HMAC, HEADER_PEER_URL, PATH_PEER_PUSH};
use postern_core::head_pin::{EvidenceKind, HeadPin, PinOutcome};
use postern_core::json::{self, Value as CV};
use postern_core::peer::{normalize_peer_url, peer_key, sign_body};
use postern_core::rfc9162::Hash;
use postern_core::tree_head::{self, SignedTreeHead, TreeHeadKey};

const SB_URL: &str = "http://sb-node.test:8000";
const SB_SECRET: &str = "sb-node-secret";
const NET: &str = postern_core::canonical::NETWORK_ID;

fn sb_flag() -> String {
    format!("--sb-peer={SB_URL}={SB_SECRET}")
}

fn vector_events() -> Vec<CV> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vectors/shadowbroker/sb-interleaved-chain.json"
    );
    let v = json::parse(&std::fs::read(path).unwrap()).unwrap();
    v.get("events").unwrap().as_array().unwrap().to_vec()
}

/// Peer-push `evs` as the Shadowbroker node, in batches of 50.
fn push(relay: &Relay, evs: &[CV]) {
    let key = peer_key(SB_SECRET.as_bytes(), &normalize_peer_url(SB_URL).unwrap());
    for batch in evs.chunks(50) {
        let texts: Vec<String> = batch.iter().map(CV::to_json_ordered).collect();
        let body = format!("{{\"events\":[{}]}}", texts.join(","));
        let r = ureq::post(&relay.url(PATH_PEER_PUSH))
            .set("Content-Type", "application/json")
            .set(HEADER_PEER_URL, SB_URL)
            .set(HEADER_PEER_HMAC, &sign_body(&key, body.as_bytes()))
            .send_bytes(body.as_bytes());
        let r = Relay::finish(r);
        assert_eq!(r.status, 200, "{}", r.body);
    }
}

fn ids_of(evs: &[CV]) -> Vec<String> {
    evs.iter()
        .map(|e| e.get("event_id").unwrap().py_str())
        .collect()
}

/// The chain's event ids as anyone reads them (the public view keeps every id).
fn served_ids(relay: &Relay) -> Vec<String> {
    let mut out = Vec::new();
    let mut after = "0".repeat(64);
    loop {
        let r = relay.get(&format!("{PATH_SYNC}?after_hash={after}&limit=500"));
        assert_eq!(r.status, 200, "{}", r.body);
        let v = json::parse(r.body.as_bytes()).unwrap();
        let page = ids_of(v.get("events").unwrap().as_array().unwrap());
        let Some(last) = page.last() else { return out };
        after = last.clone();
        out.extend(page);
    }
}

fn head(relay: &Relay) -> TreeHeadResponse {
    let r = relay.get(PATH_TREE_HEAD);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json_as()
}

fn signed_size(relay: &Relay) -> u64 {
    head(relay).tree_head.map_or(0, |h| h.size)
}

fn proof(relay: &Relay, first: u64, second: u64) -> Resp {
    relay.get(&format!("{PATH_CONSISTENCY}?first={first}&second={second}"))
}

fn hashes(p: &[String]) -> Vec<Hash> {
    p.iter()
        .map(|h| <Hash>::try_from(hex::decode(h).unwrap().as_slice()).unwrap())
        .collect()
}

#[test]
fn a_relay_signs_its_settled_chain_and_proves_consistency() {
    let evs = vector_events();
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(
        dir.path(),
        &[&sb_flag(), "--settle-secs=0", "--tree-head-interval-secs=1"],
    );
    push(&relay, &evs[..100]);
    wait_for("a head over the first 100 events", || {
        signed_size(&relay) == 100
    });
    let first = SignedTreeHead::from_wire(&head(&relay).tree_head.unwrap()).unwrap();
    assert_eq!(first.head.network_id, NET);
    // The root is the log over the ids anyone can read, checked without trusting the relay.
    let ids = served_ids(&relay);
    assert_eq!(ids, ids_of(&evs[..100]));
    tree_head::check_against_ids(&first, &ids).unwrap();
    let mut pin = HeadPin::first(first.clone(), NET).unwrap();

    push(&relay, &evs[100..]);
    wait_for("a head over all 400 events", || signed_size(&relay) == 400);
    let second = SignedTreeHead::from_wire(&head(&relay).tree_head.unwrap()).unwrap();
    assert_eq!(
        second.head.relay_key, first.head.relay_key,
        "one key per relay"
    );
    let r = proof(&relay, 100, 400);
    assert_eq!(r.status, 200, "{}", r.body);
    let p: ConsistencyResponse = r.json_as();
    assert_eq!(
        pin.check(second, &hashes(&p.proof)),
        Ok(PinOutcome::Extended)
    );

    // Proofs only between signed sizes, smaller first.
    proof(&relay, 100, 401).assert_error(400, "bad_request");
    proof(&relay, 300, 100).assert_error(400, "bad_request");
    proof(&relay, 0, 100).assert_error(400, "bad_request");
    let same: ConsistencyResponse = proof(&relay, 400, 400).json_as();
    assert!(same.proof.is_empty());
}

#[test]
fn fresh_events_stay_pending_until_the_settling_window_passes() {
    let evs = vector_events();
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(
        dir.path(),
        &[
            &sb_flag(),
            "--settle-secs=3600",
            "--tree-head-interval-secs=1",
        ],
    );
    push(&relay, &evs[..50]);
    let h = head(&relay);
    assert_eq!(h.chain_size, 50);
    assert!(h.tree_head.is_none(), "nothing settled yet: {h:?}");
}

/// A fake peer: answers `GET tree-head` and `GET consistency` with whatever the test set.
struct FakePeer {
    url: String,
    answers: Arc<Mutex<(String, String)>>,
}

impl FakePeer {
    fn start() -> FakePeer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let answers = Arc::new(Mutex::new((
            "{\"tree_head\":null,\"chain_size\":0}".to_string(),
            String::new(),
        )));
        let shared = Arc::clone(&answers);
        std::thread::spawn(move || {
            for stream in l.incoming() {
                let Ok(mut s) = stream else { continue };
                let mut line = String::new();
                let mut r = BufReader::new(s.try_clone().unwrap());
                if r.read_line(&mut line).is_err() {
                    continue;
                }
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                }
                let (head, cons) = shared.lock().unwrap().clone();
                let (status, body) = if line.contains(PATH_TREE_HEAD) {
                    ("200 OK", head)
                } else if line.contains(PATH_CONSISTENCY) {
                    ("200 OK", cons)
                } else {
                    (
                        "404 Not Found",
                        "{\"ok\":false,\"code\":\"not_found\",\"detail\":\"\"}".into(),
                    )
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        FakePeer { url, answers }
    }

    fn serve(&self, sth: &SignedTreeHead, proof: Option<(u64, u64, Vec<Hash>)>) {
        let head = serde_json::json!({"tree_head": sth.to_wire(), "chain_size": sth.head.size});
        let cons = proof.map_or(String::new(), |(first, second, p)| {
            serde_json::json!({"first": first, "second": second,
                "proof": p.iter().map(hex::encode).collect::<Vec<_>>()})
            .to_string()
        });
        *self.answers.lock().unwrap() = (head.to_string(), cons);
    }
}

fn fake_ids(n: usize, salt: u64) -> Vec<String> {
    (0..n)
        .map(|i| format!("{:064x}", (i as u128 + 1) * 0x1_0000 + u128::from(salt)))
        .collect()
}

fn status_of(relay: &Relay, peer: &str) -> Option<postern_core::api::heads::PeerHeadStatus> {
    let r = relay.get(PATH_HEADS_STATUS);
    assert_eq!(r.status, 200, "{}", r.body);
    let s: HeadsStatusResponse = r.json_as();
    s.peers.into_iter().find(|p| p.peer == peer)
}

#[test]
fn a_peer_that_equivocates_or_rewrites_history_is_caught_and_the_evidence_kept() {
    let fake = FakePeer::start();
    let key = TreeHeadKey::from_seed(&[42; 32]);
    let honest = fake_ids(12, 0);
    fake.serve(&key.sign(NET, &honest[..8], 1_000), None);
    let dir = tempfile::tempdir().unwrap();
    let peer = format!("--peer={}=shared-secret", fake.url);
    let relay = Relay::start(
        dir.path(),
        &[&peer, "--sync-interval-secs=1", "--public-status"],
    );
    let peer_url = normalize_peer_url(&fake.url).unwrap();
    wait_for("the peer's first head pinned", || {
        status_of(&relay, &peer_url)
            .and_then(|s| s.last_head)
            .is_some_and(|h| h.size == 8)
    });

    // A consistent extension moves the pin.
    let p = tree_head::consistency(&honest[..10], 8).unwrap();
    fake.serve(&key.sign(NET, &honest[..10], 2_000), Some((8, 10, p)));
    wait_for("the pin to move to size 10", || {
        status_of(&relay, &peer_url)
            .and_then(|s| s.last_head)
            .is_some_and(|h| h.size == 10)
    });

    // Equivocation: a second root signed for size 10.
    let forked = fake_ids(12, 7);
    fake.serve(&key.sign(NET, &forked[..10], 2_500), None);
    wait_for("equivocation evidence", || {
        status_of(&relay, &peer_url)
            .is_some_and(|s| s.evidence.contains(&EvidenceKind::Equivocation))
    });
    let s = status_of(&relay, &peer_url).unwrap();
    assert!(s.equivocations >= 1, "{s:?}");
    assert_eq!(s.consistent, Some(false));
    assert_eq!(
        s.last_head.unwrap().size,
        10,
        "the pin never follows misbehaviour"
    );

    // Rewritten history: a larger tree that does not extend the pinned one.
    let p = tree_head::consistency(&forked, 10).unwrap();
    fake.serve(&key.sign(NET, &forked, 3_000), Some((10, 12, p)));
    wait_for("rewrite evidence", || {
        status_of(&relay, &peer_url)
            .is_some_and(|s| s.evidence.contains(&EvidenceKind::Inconsistent))
    });
    let metrics = relay.get("/metrics").body;
    assert!(
        metrics.lines().any(|l| l
            .starts_with("postern_tree_head_checks_total{result=\"misbehaviour\"}")
            && !l.ends_with(" 0")),
        "{metrics}"
    );
    let line = format!("postern_peer_equivocations_total{{peer=\"{peer_url}\"}} ");
    assert!(
        metrics
            .lines()
            .any(|l| l.strip_prefix(line.as_str()).is_some_and(|n| n != "0")),
        "{metrics}"
    );
    // The evidence survives a restart (kept in the database).
    drop(relay);
    let relay = Relay::start(dir.path(), &["--public-status"]);
    let s = status_of(&relay, &peer_url).unwrap();
    assert!(s.evidence.contains(&EvidenceKind::Equivocation), "{s:?}");
    assert!(s.evidence.contains(&EvidenceKind::Inconsistent), "{s:?}");
    assert!(s.equivocations >= 1, "the count is kept too: {s:?}");
}

#[test]
fn two_peers_check_each_others_heads_against_their_own_chains() {
    let evs = vector_events();
    let flag = sb_flag();
    let (mesh, relays) = Mesh::start(
        2,
        &[(0, 1)],
        &[
            &flag,
            "--settle-secs=0",
            "--tree-head-interval-secs=1",
            "--sync-interval-secs=1",
            "--public-status",
        ],
    );
    push(&relays[0], &evs[..150]);
    let a = normalize_peer_url(&mesh.url(0)).unwrap();
    wait_for(
        "relay 1 to pin relay 0's head over 150 events, matching its own chain",
        || {
            status_of(&relays[1], &a).is_some_and(|s| {
                s.last_head.as_ref().is_some_and(|h| h.size == 150)
                    && s.consistent == Some(true)
                    && s.matches_our_chain == Some(true)
            })
        },
    );
    assert!(status_of(&relays[1], &a).unwrap().evidence.is_empty());
}
