//! End-to-end tests of relay-to-relay replication (peer auth, peer-push, DM replicas, ack
//! propagation, outbound workers) against the real `postern` binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{now, wait_within, Mesh, Relay, Resp};
use postern_core::api::gate::PATH_PEER_PULL as GATE_PEER_PULL;
use postern_core::api::infonet::{PATH_PRIVATE_STATUS, PATH_STATUS, PATH_SYNC};
use postern_core::api::peer::{
    PeerPullRequest, PeerPullResponse, PeerPushResponse, ReplicateAckRequest,
    ReplicateEnvelopeRequest, ReplicateEnvelopeResponse, HEADER_PEER_HMAC, HEADER_PEER_URL,
    PATH_DM_PEER_PULL, PATH_PEER_PUSH, PATH_REPLICATE_ACK, PATH_REPLICATE_ENVELOPE,
};
use postern_core::auth::{ack_params, sign_request, Action};
use postern_core::chaingen::{generate_chain, GenOptions};
use postern_core::dm::DmEnvelope;
use postern_core::json::{self, Value as CV};
use postern_core::peer::{normalize_peer_url, peer_key, sign_body, v2};
use postern_core::verify::{verify_chain_values, VerifyOptions};
use postern_core::Identity;
use rand_core::OsRng;

const PEER_URL: &str = "http://peer-a.test:7001";
const PEER_SECRET: &str = "s3cret-a";

fn peer_flag() -> String {
    format!("--peer={PEER_URL}={PEER_SECRET}")
}

fn start(extra: &[&str]) -> (Relay, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let flag = peer_flag();
    let mut args = vec![flag.as_str(), "--per-sender-cap", "2"];
    args.extend_from_slice(extra);
    (Relay::start(data.path(), &args), data)
}

/// POST `body` with the given peer headers (`None` leaves the URL or the v2 headers out).
fn post_peer(
    relay: &Relay,
    path: &str,
    url: Option<&str>,
    sig: Option<&v2::SignedHeaders>,
    body: &[u8],
) -> Resp {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(20))
        .build();
    let mut req = agent
        .post(&relay.url(path))
        .set("Content-Type", "application/json");
    if let Some(u) = url {
        req = req.set(HEADER_PEER_URL, u);
    }
    if let Some(h) = sig {
        for (k, v) in h.pairs() {
            req = req.set(k, v);
        }
    }
    Relay::finish(req.send_bytes(body))
}

/// Peer auth v2 headers of `POST path` with `body`, now, as the peer `url` with `secret`.
fn sign_v2(secret: &[u8], url: &str, path: &str, body: &[u8]) -> v2::SignedHeaders {
    let key = v2::peer_key_v2(secret, &normalize_peer_url(url).unwrap());
    v2::sign(&key, "POST", path, body, now(), &mut OsRng)
}

/// POST signed as the configured peer.
fn post_signed(relay: &Relay, path: &str, body: &[u8]) -> Resp {
    let sig = sign_v2(PEER_SECRET.as_bytes(), PEER_URL, path, body);
    post_peer(relay, path, Some(PEER_URL), Some(&sig), body)
}

fn push_body(events: &[postern_core::event::ChainEvent]) -> Vec<u8> {
    let texts: Vec<String> = events
        .iter()
        .map(|e| e.to_value().to_json_ordered())
        .collect();
    format!("{{\"events\":[{}]}}", texts.join(",")).into_bytes()
}

fn public_chain(n: usize) -> Vec<postern_core::event::ChainEvent> {
    generate_chain(
        n,
        GenOptions {
            include_gate_messages: false,
            ..GenOptions::default()
        },
    )
}

fn fetch_public(relay: &Relay) -> Vec<CV> {
    let r = relay.get(&format!("{PATH_SYNC}?limit=500"));
    assert_eq!(r.status, 200, "{}", r.body);
    let v = json::parse(r.body.as_bytes()).unwrap();
    v.get("events").unwrap().as_array().unwrap().to_vec()
}

fn status(relay: &Relay, path: &str, head_field: &str) -> (String, u64) {
    let v = relay.get(path).json();
    let count = v
        .get("total_events")
        .or(v.get("count"))
        .unwrap()
        .as_u64()
        .unwrap();
    (v[head_field].as_str().unwrap().to_string(), count)
}

fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .unwrap_or_else(|| panic!("no series {series} in\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn peer_push_ingests_old_history_idempotently_and_refuses_forks() {
    // Events settle at once and are signed into a tree head: a fork below it is never healed.
    let (relay, _d) = start(&["--settle-secs=0", "--tree-head-interval-secs=1"]);
    let chain = public_chain(12);
    // Old history (timestamps months back): freshness is off during peer-push.
    let r = post_signed(&relay, PATH_PEER_PUSH, &push_body(&chain[..8]));
    assert_eq!(r.status, 200, "{}", r.body);
    let p: PeerPushResponse = r.json_as();
    assert_eq!((p.accepted, p.duplicates), (8, 0));
    assert_eq!(p.head_hash, chain[7].event_id);
    // Overlapping push: the first 8 are skipped, the rest stored.
    let r = post_signed(&relay, PATH_PEER_PUSH, &push_body(&chain[4..12]));
    assert_eq!(r.status, 200, "{}", r.body);
    let p: PeerPushResponse = r.json_as();
    assert_eq!((p.accepted, p.duplicates), (4, 4));
    let events = fetch_public(&relay);
    assert_eq!(events.len(), 12);
    let report = verify_chain_values(
        &events,
        &VerifyOptions {
            now: now(),
            max_event_age_s: 0,
            batch: false,
        },
    );
    assert!(report.valid, "{:?}", report.error);
    assert_eq!(report.head.as_deref(), Some(chain[11].event_id.as_str()));
    assert_eq!(
        status(&relay, PATH_STATUS, "head_hash_full"),
        (chain[11].event_id.clone(), 12)
    );

    // A fork (another chain's event extending genesis) below the signed head is refused 409,
    // never merged, whichever branch the fork rule would pick.
    wait_within(
        "a signed head over the 12 events",
        Duration::from_secs(30),
        || relay.get("/api/mesh/infonet/tree-head").json()["tree_head"]["size"] == 12,
    );
    let other = generate_chain(
        3,
        GenOptions {
            authors: 2,
            start_timestamp: 1_700_000_000,
            include_gate_messages: false,
        },
    );
    let r = post_signed(&relay, PATH_PEER_PUSH, &push_body(&other));
    r.assert_error(409, "forked");
    assert_eq!(r.json()["index"], 0);
    assert_eq!(fetch_public(&relay).len(), 12);

    // First invalid event stops ingest: index and reason named, earlier events stay.
    let more = public_chain(14);
    let mut tampered = more[13].clone();
    tampered.signature = more[12].signature.clone();
    let r = post_signed(
        &relay,
        PATH_PEER_PUSH,
        &push_body(&[more[12].clone(), tampered]),
    );
    assert!(r.status == 422 || r.status == 409, "{}", r.body);
    let v = r.json();
    assert_eq!(v["ok"], false);
    assert_eq!(v["index"], 1);
    assert_eq!(v["accepted"], 1);
    assert!(!v["code"].as_str().unwrap().is_empty());
    assert_eq!(fetch_public(&relay).len(), 13);

    // More than 50 events: 400.
    let big = public_chain(51);
    post_signed(&relay, PATH_PEER_PUSH, &push_body(&big)).assert_error(400, "too_many_events");
    // Private lane untouched.
    assert_eq!(status(&relay, PATH_PRIVATE_STATUS, "head_hash").1, 0);
}

#[test]
fn peer_auth_is_required_and_size_is_checked_first() {
    let (relay, _d) = start(&[]);
    let body = push_body(&public_chain(2));
    let secret = PEER_SECRET.as_bytes();
    for path in [
        PATH_PEER_PUSH,
        PATH_REPLICATE_ENVELOPE,
        PATH_REPLICATE_ACK,
        PATH_DM_PEER_PULL,
        GATE_PEER_PULL,
    ] {
        // Missing headers, unknown peer, wrong MAC, MAC of another body, other secret. None of
        // these verify, so the good signature's nonce is never used up.
        let good = sign_v2(secret, PEER_URL, path, &body);
        post_peer(&relay, path, None, Some(&good), &body).assert_error(403, "peer_unauthorized");
        post_peer(&relay, path, Some(PEER_URL), None, &body).assert_error(403, "peer_unauthorized");
        post_peer(
            &relay,
            path,
            Some("http://stranger.test:7001"),
            Some(&good),
            &body,
        )
        .assert_error(403, "peer_unauthorized");
        let zeros = v2::SignedHeaders {
            signature: "0".repeat(64),
            ..good.clone()
        };
        post_peer(&relay, path, Some(PEER_URL), Some(&zeros), &body)
            .assert_error(403, "peer_unauthorized");
        let nothex = v2::SignedHeaders {
            signature: "nothex".into(),
            ..good.clone()
        };
        post_peer(&relay, path, Some(PEER_URL), Some(&nothex), &body)
            .assert_error(403, "peer_unauthorized");
        let other = sign_v2(b"wrong", PEER_URL, path, &body);
        post_peer(&relay, path, Some(PEER_URL), Some(&other), &body)
            .assert_error(403, "peer_unauthorized");
        let mut tampered = body.clone();
        tampered.push(b' ');
        post_peer(&relay, path, Some(PEER_URL), Some(&good), &tampered)
            .assert_error(403, "peer_unauthorized");
        // The body-only v1 HMAC is not enough from a Postern peer.
        let v1 = sign_body(&peer_key(secret, PEER_URL), &body);
        let resp = ureq::post(&relay.url(path))
            .set("Content-Type", "application/json")
            .set(HEADER_PEER_URL, PEER_URL)
            .set(HEADER_PEER_HMAC, &v1)
            .send_bytes(&body);
        Relay::finish(resp).assert_error(403, "peer_unauthorized");
    }
    // The URL is normalised before lookup: upper case and an explicit default port still match.
    let good = sign_v2(secret, PEER_URL, PATH_PEER_PUSH, &body);
    let r = post_peer(
        &relay,
        PATH_PEER_PUSH,
        Some("HTTP://Peer-A.test:7001/"),
        Some(&good),
        &body,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // Oversize bodies are 413 even when correctly signed (size before MAC).
    let huge = vec![b' '; 600 * 1024];
    let sig = sign_v2(secret, PEER_URL, PATH_PEER_PUSH, &huge);
    post_peer(&relay, PATH_PEER_PUSH, Some(PEER_URL), Some(&sig), &huge)
        .assert_error(413, "payload_too_large");
    let dm_huge = vec![b' '; 70 * 1024];
    let sig = sign_v2(secret, PEER_URL, PATH_REPLICATE_ENVELOPE, &dm_huge);
    post_peer(
        &relay,
        PATH_REPLICATE_ENVELOPE,
        Some(PEER_URL),
        Some(&sig),
        &dm_huge,
    )
    .assert_error(413, "payload_too_large");
    // Nothing was stored by the refused requests.
    assert_eq!(status(&relay, PATH_STATUS, "head_hash_full").1, 2);
    // The DM feed answers an authenticated peer only, in sequence order, with bounded pages.
    let pull = |after: u64, limit: u32| {
        let body = serde_json::to_vec(&PeerPullRequest { after, limit }).unwrap();
        post_signed(&relay, PATH_DM_PEER_PULL, &body)
    };
    let alice = Identity::generate(&mut OsRng);
    let bob = Identity::generate(&mut OsRng);
    let exp = now() + 600;
    for _ in 0..2 {
        assert_eq!(replicate(&relay, &seal_to(&alice, &bob), exp).status, 200);
    }
    let p: PeerPullResponse = pull(0, 1).json_as();
    assert_eq!((p.items.len(), p.more), (1, true));
    let q: PeerPullResponse = pull(p.next_after, 10).json_as();
    assert_eq!((q.items.len(), q.more), (1, false));
    assert!(q.items[0].seq > p.items[0].seq && q.items[0].envelope.is_some());
    let q: PeerPullResponse = pull(q.next_after, 10).json_as();
    assert!(q.items.is_empty());
    pull(0, 0).assert_error(400, "bad_request");
    pull(0, 1000).assert_error(400, "bad_request");
}

/// A replicated ack carrying `owner`'s own signed `dm.ack` over `ids` (what a relay forwards
/// after the owner acked there).
fn owner_ack(owner: &Identity, ids: &[String], ts: u64) -> ReplicateAckRequest {
    let proof = sign_request(owner, Action::DmAck, &ack_params(ids), ts, &mut OsRng);
    ReplicateAckRequest {
        msg_ids: ids.to_vec(),
        recipient_id: owner.node_id(),
        owner_ack: Some(proof),
    }
}

fn seal_to(from: &Identity, to: &Identity) -> DmEnvelope {
    Relay::seal(from, &to.public(), b"hello over the mesh")
}

fn replicate(relay: &Relay, env: &DmEnvelope, expires_at: u64) -> Resp {
    let body = serde_json::to_vec(&ReplicateEnvelopeRequest {
        envelope: env.clone(),
        expires_at,
    })
    .unwrap();
    post_signed(relay, PATH_REPLICATE_ENVELOPE, &body)
}

#[test]
fn replicas_obey_the_same_caps_and_acks_free_the_quota() {
    let (relay, _d) = start(&[]);
    let alice = Identity::generate(&mut OsRng);
    let bob = Identity::generate(&mut OsRng);
    // Bob is not registered here: replicas are accepted anyway.
    let exp = now() + 600;
    let m1 = seal_to(&alice, &bob);
    let m2 = seal_to(&alice, &bob);
    let m3 = seal_to(&alice, &bob);
    let r = replicate(&relay, &m1, exp);
    assert_eq!(r.status, 200, "{}", r.body);
    let a: ReplicateEnvelopeResponse = r.json_as();
    assert!(!a.duplicate);
    assert!(a.expires_at <= exp);
    // Duplicate replica: accepted, nothing stored twice.
    let a: ReplicateEnvelopeResponse = replicate(&relay, &m1, exp).json_as();
    assert!(a.duplicate);
    assert_eq!(replicate(&relay, &m2, exp).status, 200);
    // Beyond the per-sender cap: 429 even from an authenticated peer.
    replicate(&relay, &m3, exp).assert_error(429, "sender_cap_reached");
    // Bad shapes and expired replicas are refused.
    let mut bad = m3.clone();
    bad.sender_ref = "zz".into();
    replicate(&relay, &bad, exp).assert_error(400, "bad_request");
    replicate(&relay, &m3, now() - 1).assert_error(422, "expired");
    // Bob registers and sees both; an ack from a peer frees the quota.
    assert_eq!(relay.register(&bob).status, 200);
    assert_eq!(relay.poll(&bob).messages.len(), 2);
    let ack = owner_ack(&bob, std::slice::from_ref(&m1.msg_id), now());
    let r = post_signed(
        &relay,
        PATH_REPLICATE_ACK,
        &serde_json::to_vec(&ack).unwrap(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["removed"], 1);
    assert_eq!(relay.poll(&bob).messages.len(), 1);
    assert_eq!(replicate(&relay, &m3, exp).status, 200);
    // A local deposit sees the replica in the same caps.
    relay
        .send(&seal_to(&alice, &bob))
        .assert_error(429, "sender_cap_reached");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn two_relays_replicate_dms_acks_and_appends() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let start = |data: &std::path::Path, port: u16, own: &str, peer: &str| {
        let listen = format!("127.0.0.1:{port}");
        let public = format!("--public-url={own}");
        let peer = format!("--peer={peer}=shared-ab");
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_postern"));
        cmd.arg("serve")
            .args(["--listen", &listen])
            .arg("--data")
            .arg(data)
            .arg("--web")
            .arg(data)
            .args([public.as_str(), peer.as_str(), "--per-sender-cap", "1"])
            .env("POSTERN_RATE_LIMIT_PER_MIN", "0")
            .env("POSTERN_READ_RATE_LIMIT_PER_MIN", "0");
        Relay::try_launch(cmd)
    };
    // Each relay must know the other's URL before either starts, so ports are chosen up front.
    // A port taken between choosing and binding makes that relay exit: choose again.
    let mut attempts = 0;
    let (a, b) = loop {
        attempts += 1;
        let (pa, pb) = (free_port(), free_port());
        let (ua, ub) = (
            format!("http://127.0.0.1:{pa}"),
            format!("http://127.0.0.1:{pb}"),
        );
        match (
            start(da.path(), pa, &ua, &ub),
            start(db.path(), pb, &ub, &ua),
        ) {
            (Ok(a), Ok(b)) => break (a, b),
            (a, b) if attempts < 5 => drop((a, b)),
            (a, b) => panic!("could not start the pair: {:?} {:?}", a.err(), b.err()),
        }
    };
    let alice = Identity::generate(&mut OsRng);
    let bob = Identity::generate(&mut OsRng);
    assert_eq!(a.register(&bob).status, 200);
    assert_eq!(b.register(&bob).status, 200);
    let m = seal_to(&alice, &bob);
    assert_eq!(a.send(&m).status, 200);
    wait_within("the DM to reach B", Duration::from_secs(20), || {
        !b.poll(&bob).messages.is_empty()
    });
    assert_eq!(b.poll(&bob).messages[0].envelope.msg_id, m.msg_id);
    // Cap 1: A refuses Alice's second message until Bob acks (on B).
    a.send(&seal_to(&alice, &bob))
        .assert_error(429, "sender_cap_reached");
    assert_eq!(b.ack(&bob, std::slice::from_ref(&m.msg_id)).removed, 1);
    wait_within(
        "the ack to free the quota on A",
        Duration::from_secs(20),
        || a.poll(&bob).messages.is_empty(),
    );
    assert_eq!(a.send(&seal_to(&alice, &bob)).status, 200);
    // An append on A reaches B's chain.
    let e = postern_core::event::sign_event(
        &postern_core::chaingen::author_key(1),
        "",
        "message",
        &postern_core::chaingen::sample_payload("message", 1),
        CV::Null,
        1,
    );
    let body = serde_json::json!({
        "event_type": e.event_type, "node_id": e.node_id,
        "payload": serde_json::Value::from(&e.payload),
        "signature": e.signature, "sequence": 1, "public_key": e.public_key,
        "public_key_algo": e.public_key_algo, "protocol_version": e.protocol_version,
    });
    let r = a.post(postern_core::api::infonet::PATH_APPEND, &body);
    assert_eq!(r.status, 200, "{}", r.body);
    let head_a = status(&a, PATH_STATUS, "head_hash_full");
    wait_within("the event to reach B", Duration::from_secs(20), || {
        status(&b, PATH_STATUS, "head_hash_full") == head_a
    });
    // A pushed the first DM, the third DM and the event; B pushed the ack.
    let ok = "postern_replication_total{result=\"ok\"}";
    wait_within("A's metrics", Duration::from_secs(20), || {
        metric(&a.get("/metrics").body, ok) == 3
    });
    wait_within("B's metrics", Duration::from_secs(20), || {
        metric(&b.get("/metrics").body, ok) == 1
    });
    for relay in [&a, &b] {
        let text = relay.get("/metrics").body;
        assert_eq!(
            metric(&text, "postern_replication_total{result=\"error\"}"),
            0
        );
        assert_eq!(
            metric(&text, "postern_replication_total{result=\"rejected\"}"),
            0
        );
    }
}

const OK: &str = "postern_replication_total{result=\"ok\"}";

fn assert_no_failed_replication(relays: &[Relay]) {
    for relay in relays {
        let text = relay.get("/metrics").body;
        assert_eq!(
            metric(&text, "postern_replication_total{result=\"error\"}"),
            0,
            "{}",
            relay.log_text()
        );
        assert_eq!(
            metric(&text, "postern_replication_total{result=\"rejected\"}"),
            0,
            "{}",
            relay.log_text()
        );
    }
}

#[test]
fn partial_mesh_forwards_dms_and_acks_across_hops() {
    // A – B – C: A and C are not peers; B forwards.
    let (_mesh, relays) = Mesh::start(3, &[(0, 1), (1, 2)], &["--per-sender-cap", "1"]);
    let (a, b, c) = (&relays[0], &relays[1], &relays[2]);
    let alice = Identity::generate(&mut OsRng);
    let bob = Identity::generate(&mut OsRng);
    for r in &relays {
        assert_eq!(r.register(&bob).status, 200);
    }
    let m = seal_to(&alice, &bob);
    assert_eq!(a.send(&m).status, 200);
    wait_within(
        "the DM to reach C through B",
        Duration::from_secs(20),
        || !c.poll(&bob).messages.is_empty(),
    );
    assert_eq!(c.poll(&bob).messages[0].envelope.msg_id, m.msg_id);
    assert_eq!(b.poll(&bob).messages.len(), 1);
    // Caps apply on every hop: A refuses a second message until Bob acks (on C).
    a.send(&seal_to(&alice, &bob))
        .assert_error(429, "sender_cap_reached");
    assert_eq!(c.ack(&bob, std::slice::from_ref(&m.msg_id)).removed, 1);
    wait_within(
        "the ack to free the quota on B",
        Duration::from_secs(20),
        || b.poll(&bob).messages.is_empty(),
    );
    wait_within(
        "the ack to free the quota on A",
        Duration::from_secs(20),
        || a.poll(&bob).messages.is_empty(),
    );
    let m2 = seal_to(&alice, &bob);
    assert_eq!(a.send(&m2).status, 200);
    wait_within("the second DM to reach C", Duration::from_secs(20), || {
        c.poll(&bob)
            .messages
            .iter()
            .any(|x| x.envelope.msg_id == m2.msg_id)
    });
    // A pushed m and m2 to B; B forwarded m, the ack (to A) and m2; C pushed the ack. C never
    // sent a replica back (B is the peer it came from).
    wait_within("A's metrics", Duration::from_secs(20), || {
        metric(&a.get("/metrics").body, OK) == 2
    });
    wait_within("B's metrics", Duration::from_secs(20), || {
        metric(&b.get("/metrics").body, OK) == 3
    });
    wait_within("C's metrics", Duration::from_secs(20), || {
        metric(&c.get("/metrics").body, OK) == 1
    });
    assert_no_failed_replication(&relays);
}

#[test]
fn full_mesh_forwarding_stops_at_duplicates() {
    // Triangle: every relay gets the replica twice; the second copy is a duplicate and is not
    // forwarded again, so the flood ends.
    let (_mesh, relays) = Mesh::start(3, &[(0, 1), (1, 2), (0, 2)], &[]);
    let alice = Identity::generate(&mut OsRng);
    let bob = Identity::generate(&mut OsRng);
    for r in &relays {
        assert_eq!(r.register(&bob).status, 200);
    }
    let m = seal_to(&alice, &bob);
    assert_eq!(relays[0].send(&m).status, 200);
    for r in &relays[1..] {
        wait_within(
            "the DM to reach every relay",
            Duration::from_secs(20),
            || r.poll(&bob).messages.len() == 1,
        );
    }
    // A sends to B and C. B and C each forward once to the other (not back to A); at most
    // those two copies are forwarded, since the one arriving second at each is a duplicate.
    wait_within("A's pushes", Duration::from_secs(20), || {
        metric(&relays[0].get("/metrics").body, OK) == 2
    });
    let forwarded = || -> u64 {
        relays[1..]
            .iter()
            .map(|r| metric(&r.get("/metrics").body, OK))
            .sum()
    };
    wait_within("B's and C's forwards", Duration::from_secs(20), || {
        forwarded() >= 1
    });
    // Ack on C: the ack reaches A and B, and the echoes remove nothing and stop.
    assert_eq!(
        relays[2].ack(&bob, std::slice::from_ref(&m.msg_id)).removed,
        1
    );
    for r in &relays[..2] {
        wait_within("the ack everywhere", Duration::from_secs(20), || {
            r.poll(&bob).messages.is_empty()
        });
    }
    // Totals are bounded: the envelope crosses each of the 3 links at most twice, and so does
    // the ack (6 + 6); an echo loop would grow without bound.
    let total = || -> u64 {
        relays
            .iter()
            .map(|r| metric(&r.get("/metrics").body, OK))
            .sum()
    };
    assert!(total() <= 12, "total {}", total());
    assert_no_failed_replication(&relays);
}

/// Append a public `message` event by author `key` with `seq` on `relay`.
fn append_message(relay: &Relay, key: usize, seq: u64) {
    let e = postern_core::event::sign_event(
        &postern_core::chaingen::author_key(key),
        "",
        "message",
        &postern_core::chaingen::sample_payload("message", seq),
        CV::Null,
        seq,
    );
    let body = serde_json::json!({
        "event_type": e.event_type, "node_id": e.node_id,
        "payload": serde_json::Value::from(&e.payload),
        "signature": e.signature, "sequence": seq, "public_key": e.public_key,
        "public_key_algo": e.public_key_algo, "protocol_version": e.protocol_version,
    });
    let r = relay.post(postern_core::api::infonet::PATH_APPEND, &body);
    assert_eq!(r.status, 200, "{}", r.body);
}

fn merkle_root(relay: &Relay) -> String {
    relay.get(postern_core::api::infonet::PATH_MERKLE).json()["merkle_root"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn pull_sync_heals_a_partition() {
    // Peers without --public-url: no pushes, so only pull sync can carry the chain.
    let (mesh, mut relays) = Mesh::start_with(2, &[(0, 1)], &["--sync-interval-secs", "1"], false);
    let mut b = relays.pop().unwrap();
    let a = relays.pop().unwrap();
    for seq in 1..=2 {
        append_message(&a, 1, seq);
    }
    let synced = |b: &Relay| {
        status(b, PATH_STATUS, "head_hash_full") == status(&a, PATH_STATUS, "head_hash_full")
            && merkle_root(b) == merkle_root(&a)
    };
    wait_within(
        "B to pull A's first events",
        Duration::from_secs(30),
        || synced(&b),
    );
    // Partition: B is down while A appends 5 more.
    assert!(b.terminate().success());
    for seq in 3..=7 {
        append_message(&a, 1, seq);
    }
    assert_eq!(status(&a, PATH_STATUS, "head_hash_full").1, 7);
    // B comes back on the same data dir and port (if the port was taken meanwhile, retry).
    let mut attempts = 0;
    b = loop {
        attempts += 1;
        match mesh.start_node(1) {
            Ok(r) => break r,
            Err(e) if attempts >= 20 => panic!("B did not restart: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    wait_within(
        "B to catch up after the partition",
        Duration::from_secs(30),
        || synced(&b),
    );
    assert_eq!(status(&b, PATH_STATUS, "head_hash_full").1, 7);
    let events = fetch_public(&b);
    let report = verify_chain_values(
        &events,
        &VerifyOptions {
            now: now(),
            max_event_age_s: 0,
            batch: false,
        },
    );
    assert!(report.valid, "{:?}", report.error);
    // The pull counter is bumped just after the events are stored: wait for it, then check it.
    wait_within("B's pull counter", Duration::from_secs(30), || {
        metric(&b.get("/metrics").body, "postern_sync_events_pulled_total") >= 5
    });
    let text = b.get("/metrics").body;
    assert_eq!(metric(&text, "postern_sync_events_pulled_total"), 5);
    assert_eq!(metric(&text, "postern_sync_forks_total"), 0);
    let st = b.get("/api/mesh/infonet/sync-status").json();
    assert_eq!(st["fork_detected"], false);
    assert_eq!(st["peers"][0]["peer_url"], mesh.url(0));
    // A pulls from B too and finds nothing new (B's head is on A's chain: no fork).
    wait_within("A's sync rounds", Duration::from_secs(30), || {
        metric(
            &a.get("/metrics").body,
            "postern_sync_rounds_total{result=\"ok\"}",
        ) >= 1
    });
    assert_eq!(
        metric(&a.get("/metrics").body, "postern_sync_forks_total"),
        0
    );
}

#[test]
fn pull_sync_reports_forks_below_a_signed_head_and_never_merges() {
    // X holds one history; F holds another, signed into F's tree head (settled at once), then
    // F is configured to pull from X: whichever branch the fork rule picks, F never rewrites
    // what it signed (`crates/relay/tests/fork_heal.rs` covers forks of pending events).
    let dx = tempfile::tempdir().unwrap();
    let x = Relay::start(dx.path(), &[]);
    for seq in 1..=3 {
        append_message(&x, 1, seq);
    }
    let df = tempfile::tempdir().unwrap();
    let f = Relay::start(
        df.path(),
        &["--settle-secs=0", "--tree-head-interval-secs=1"],
    );
    for seq in 1..=2 {
        append_message(&f, 2, seq);
    }
    wait_within(
        "F's signed head over its 2 events",
        Duration::from_secs(30),
        || f.get("/api/mesh/infonet/tree-head").json()["tree_head"]["size"] == 2,
    );
    let before = (status(&f, PATH_STATUS, "head_hash_full"), merkle_root(&f));
    assert!(f.terminate().success());
    let peer = format!("--peer={}=secret", x.base);
    let f = Relay::start(
        df.path(),
        &[
            peer.as_str(),
            "--sync-interval-secs",
            "1",
            "--settle-secs=0",
        ],
    );
    wait_within("F to report the fork", Duration::from_secs(30), || {
        metric(&f.get("/metrics").body, "postern_sync_forks_total") >= 1
    });
    let st = f.get("/api/mesh/infonet/sync-status").json();
    assert_eq!(st["fork_detected"], true, "{st}");
    assert_eq!(st["peers"][0]["last_outcome"], "fork", "{st}");
    assert_eq!(
        (status(&f, PATH_STATUS, "head_hash_full"), merkle_root(&f)),
        before
    );
    assert_eq!(
        metric(&f.get("/metrics").body, "postern_sync_events_pulled_total"),
        0
    );
    assert!(f.log_text().contains("forked"), "{}", f.log_text());
}

/// POST `body` to `relay` signed as mesh node `from` (what that relay's worker would send).
fn post_as_mesh_peer(mesh: &Mesh, from: usize, relay: &Relay, path: &str, body: &[u8]) -> Resp {
    let own = mesh.url(from);
    let sig = sign_v2(common::MESH_SECRET.as_bytes(), &own, path, body);
    post_peer(relay, path, Some(&own), Some(&sig), body)
}

#[test]
fn pending_replication_survives_sigkill_and_resumes_on_restart() {
    let (mesh, mut relays) = Mesh::start(2, &[(0, 1)], &["--per-sender-cap", "5"]);
    let alice = Identity::generate(&mut OsRng);
    let bob = Identity::generate(&mut OsRng);
    for r in &relays {
        assert_eq!(r.register(&bob).status, 200);
    }
    // B goes away; A acknowledges three DMs it cannot push yet.
    let b = relays.pop().unwrap();
    assert!(b.terminate().success());
    let a = relays.pop().unwrap();
    let sent: Vec<DmEnvelope> = (0..3).map(|_| seal_to(&alice, &bob)).collect();
    for m in &sent {
        let r = a.send(m);
        assert_eq!(r.status, 200, "{}", r.body);
    }
    // SIGKILL: whatever A had in memory is gone; only the database remains.
    a.kill();
    let a = mesh.start_node(0).expect("restart A");
    let b = mesh.start_node(1).expect("restart B");
    assert_eq!(a.poll(&bob).messages.len(), 3);
    wait_within(
        "the 3 pending DMs to reach B after both restarts",
        Duration::from_secs(90),
        || b.poll(&bob).messages.len() == 3,
    );
    let mut got: Vec<String> = b
        .poll(&bob)
        .messages
        .into_iter()
        .map(|m| m.envelope.msg_id)
        .collect();
    let mut want: Vec<String> = sent.iter().map(|m| m.msg_id.clone()).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    // The outbox drained: A counts the three pushes, nothing failed.
    wait_within("A's metrics", Duration::from_secs(20), || {
        metric(&a.get("/metrics").body, OK) == 3
    });
    assert_no_failed_replication(&[a, b]);
}

#[test]
fn a_replica_arriving_after_its_ack_is_neither_stored_nor_forwarded() {
    // A – B – C: requests to B are signed as A; C shows what B forwards.
    let (mesh, relays) = Mesh::start(3, &[(0, 1), (1, 2)], &[]);
    let (b, c) = (&relays[1], &relays[2]);
    let alice = Identity::generate(&mut OsRng);
    let bob = Identity::generate(&mut OsRng);
    for r in &relays {
        assert_eq!(r.register(&bob).status, 200);
    }
    let late = seal_to(&alice, &bob);
    let exp = now() + 600;
    // The ack overtakes the replica: nothing to remove yet, but the msg_id is tombstoned.
    let ack = owner_ack(&bob, std::slice::from_ref(&late.msg_id), now());
    let r = post_as_mesh_peer(
        &mesh,
        0,
        b,
        PATH_REPLICATE_ACK,
        &serde_json::to_vec(&ack).unwrap(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["removed"], 0);
    // The late replica: 200 duplicate, not stored.
    let body = serde_json::to_vec(&ReplicateEnvelopeRequest {
        envelope: late.clone(),
        expires_at: exp,
    })
    .unwrap();
    let r = post_as_mesh_peer(&mesh, 0, b, PATH_REPLICATE_ENVELOPE, &body);
    assert_eq!(r.status, 200, "{}", r.body);
    let a: ReplicateEnvelopeResponse = r.json_as();
    assert!(a.duplicate);
    assert!(b.poll(&bob).messages.is_empty());
    // A local re-deposit of the acked msg_id is a duplicate too.
    let r = b.send(&late);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["duplicate"], true);
    assert!(b.poll(&bob).messages.is_empty());
    // A later replica is stored and forwarded to C; B's pushes to C are in order, so once it
    // is on C the tombstoned one would be there too had it been forwarded.
    let control = seal_to(&alice, &bob);
    let body = serde_json::to_vec(&ReplicateEnvelopeRequest {
        envelope: control.clone(),
        expires_at: exp,
    })
    .unwrap();
    let r = post_as_mesh_peer(&mesh, 0, b, PATH_REPLICATE_ENVELOPE, &body);
    assert_eq!(r.status, 200, "{}", r.body);
    wait_within("the control DM to reach C", Duration::from_secs(20), || {
        !c.poll(&bob).messages.is_empty()
    });
    let on_c: Vec<String> = c
        .poll(&bob)
        .messages
        .into_iter()
        .map(|m| m.envelope.msg_id)
        .collect();
    assert_eq!(on_c, vec![control.msg_id.clone()]);
    let on_b: Vec<String> = b
        .poll(&bob)
        .messages
        .into_iter()
        .map(|m| m.envelope.msg_id)
        .collect();
    assert_eq!(on_b, vec![control.msg_id]);
}

#[test]
fn replicated_acks_need_the_owners_signature() {
    let (mesh, relays) = Mesh::start(2, &[(0, 1)], &[]);
    let (a, b) = (&relays[0], &relays[1]);
    let alice = Identity::generate(&mut OsRng);
    let bob = Identity::generate(&mut OsRng);
    let mallory = Identity::generate(&mut OsRng);
    for r in &relays {
        assert_eq!(r.register(&bob).status, 200);
    }
    let m = seal_to(&alice, &bob);
    assert_eq!(a.send(&m).status, 200);
    wait_within("the DM to reach B", Duration::from_secs(20), || {
        !b.poll(&bob).messages.is_empty()
    });
    let ids = vec![m.msg_id.clone()];
    // Every request below is HMAC-authenticated as peer A: the peer is trusted, the ack is not.
    let post = |req: &ReplicateAckRequest| {
        post_as_mesh_peer(
            &mesh,
            0,
            b,
            PATH_REPLICATE_ACK,
            &serde_json::to_vec(req).unwrap(),
        )
    };
    // Missing proof (an old-style ack).
    let mut unsigned = owner_ack(&bob, &ids, now());
    unsigned.owner_ack = None;
    post(&unsigned).assert_error(403, "ack_unsigned");
    // Mallory signs an ack of Bob's message.
    let mut other = owner_ack(&mallory, &ids, now());
    other.recipient_id = bob.node_id();
    post(&other).assert_error(403, "ack_owner_mismatch");
    // Mallory's signature relabelled as Bob: the node id is not derived from that key.
    let mut forged = other.clone();
    forged.owner_ack.as_mut().unwrap().node_id = bob.node_id();
    post(&forged).assert_error(403, "invalid_ack_signature");
    // Bob's real ack of another message, replayed against this one.
    let mut swapped = owner_ack(&bob, &["0123456789abcdef".to_string()], now());
    swapped.msg_ids = ids.clone();
    post(&swapped).assert_error(403, "invalid_ack_signature");
    // A flipped signature byte.
    let mut flipped = owner_ack(&bob, &ids, now());
    let sig = &mut flipped.owner_ack.as_mut().unwrap().signature;
    let first = if sig.starts_with('0') { "1" } else { "0" };
    sig.replace_range(0..1, first);
    post(&flipped).assert_error(403, "invalid_ack_signature");
    // Nothing was removed anywhere.
    assert_eq!(b.poll(&bob).messages.len(), 1);
    assert_eq!(a.poll(&bob).messages.len(), 1);
    // Bob's own ack, signed an hour ago (far outside the request window), is honoured: a
    // replicated ack may arrive late.
    let r = post(&owner_ack(&bob, &ids, now() - 3600));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["removed"], 1);
    assert!(b.poll(&bob).messages.is_empty());
}

#[test]
fn a_relay_configured_after_the_deposit_pulls_the_dm_and_resumes_its_cursor() {
    // B (0) and C (1) start unconnected: B's outbox never targets C.
    let (mut mesh, relays) = Mesh::start(2, &[], &["--dm-pull-interval-secs", "1"]);
    let alice = Identity::generate(&mut OsRng);
    let bob = Identity::generate(&mut OsRng);
    assert_eq!(relays[0].register(&bob).status, 200);
    let m = seal_to(&alice, &bob);
    assert_eq!(relays[0].send(&m).status, 200);
    for r in relays {
        assert!(r.terminate().success());
    }
    // Now they peer. Nothing is pushed (the deposit is old); C pulls it from B's feed.
    mesh.edges = vec![(0, 1)];
    let b = mesh.start_node(0).expect("restart B");
    let c = mesh.start_node(1).expect("start C");
    assert_eq!(b.poll(&bob).messages.len(), 1);
    wait_within("C to pull the DM from B", Duration::from_secs(30), || {
        !c.poll(&bob).messages.is_empty()
    });
    assert_eq!(c.poll(&bob).messages[0].envelope.msg_id, m.msg_id);
    let peer_state = |r: &Relay| {
        let v = r.get("/api/mesh/dm/pull-status").json();
        v["peers"][0].clone()
    };
    wait_within("C's cursor to be saved", Duration::from_secs(20), || {
        peer_state(&c)["pulled_total"] == 1
    });
    let before = peer_state(&c);
    assert!(before["cursor"].as_u64().unwrap() > 0, "{before}");
    assert_eq!(metric(&b.get("/metrics").body, OK), 0, "nothing was pushed");
    // Restart C: the persisted cursor is used, nothing is downloaded again.
    assert!(c.terminate().success());
    let c = mesh.start_node(1).expect("restart C");
    wait_within(
        "C's first rounds after the restart",
        Duration::from_secs(20),
        || peer_state(&c)["rounds_ok"].as_u64().unwrap_or(0) >= 2,
    );
    let after = peer_state(&c);
    assert_eq!(after["pulled_since_start"], 0, "{after}");
    assert_eq!(after["pulled_total"], 1, "{after}");
    assert_eq!(after["cursor"], before["cursor"], "{after}");
    // Bob acks on C: the owner-signed ack reaches B (pushed and in C's feed), freeing the DM.
    assert_eq!(c.ack(&bob, std::slice::from_ref(&m.msg_id)).removed, 1);
    wait_within("the ack to reach B", Duration::from_secs(20), || {
        b.poll(&bob).messages.is_empty()
    });
    assert!(c.poll(&bob).messages.is_empty());
}
