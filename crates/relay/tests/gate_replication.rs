//! Gate replication between real relay processes: epoch records and gate messages accepted by
//! one relay reach every relay of a partial mesh through the durable outbox and the
//! HMAC-authenticated `POST /api/mesh/gate/peer-push`; the receiver runs core's checks again,
//! parks out-of-order items, and forwards only what it stored.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod spy;

use common::{now, wait_for, Mesh, Relay, Resp, MESH_SECRET};
use postern_core::api::gate::*;
use postern_core::auth::{sign_request_for, Action};
use postern_core::gate::{
    self, create_genesis, rotate, Epoch, EpochKey, EpochRecord, GateId, GateMessage, Reason, Role,
};
use postern_core::peer::v2;
use postern_core::Identity;
use rand_core::OsRng;
use spy::Spy;

fn ok(r: Resp) -> Resp {
    assert_eq!(r.status, 200, "{}", r.body);
    r
}

fn publish(r: &Relay, record: &EpochRecord) -> Resp {
    r.post(
        PATH_EPOCH,
        &EpochRequest {
            record: record.clone(),
        },
    )
}

fn post_msg(r: &Relay, m: &GateMessage) -> Resp {
    r.post(PATH_MESSAGE, &MessageRequest::new(m).unwrap())
}

fn seal(author: &Identity, epoch: &Epoch, body: &str) -> GateMessage {
    let key = EpochKey::unlock(author, epoch).unwrap();
    gate::seal(author, &key, body.as_bytes(), now(), &mut OsRng).unwrap()
}

/// The member's signed read of every epoch record, if the relay answers 200.
fn epochs(r: &Relay, id: &Identity, gate: &str) -> Option<Vec<EpochRecord>> {
    let auth = sign_request_for(
        id,
        &r.base,
        Action::GateRead,
        &epochs_params(gate),
        now(),
        &mut OsRng,
    );
    let resp = r.post(
        PATH_EPOCHS,
        &EpochsRequest {
            auth,
            gate: gate.into(),
            after: None,
            limit: None,
        },
    );
    (resp.status == 200).then(|| resp.json_as::<EpochsResponse>().records)
}

/// Nonces of the messages the member can read, oldest first, if the relay answers 200.
fn message_nonces(r: &Relay, id: &Identity, gate: &str) -> Option<Vec<String>> {
    let auth = sign_request_for(
        id,
        &r.base,
        Action::GateRead,
        &messages_params(gate, None, MAX_MESSAGES_LIMIT),
        now(),
        &mut OsRng,
    );
    let resp = r.post(
        PATH_MESSAGES,
        &MessagesRequest {
            auth,
            gate: gate.into(),
            after: None,
            limit: MAX_MESSAGES_LIMIT,
        },
    );
    (resp.status == 200).then(|| {
        resp.json_as::<MessagesResponse>()
            .messages
            .into_iter()
            .map(|m| m.message.nonce)
            .collect()
    })
}

/// POST `body` to the relay's gate peer-push as peer `as_url` (HMAC under the mesh secret).
fn peer_push_raw(r: &Relay, as_url: &str, body: &[u8]) -> Resp {
    common::peer_post(r, PATH_PEER_PUSH, as_url, MESH_SECRET, body)
}

fn push_record(r: &Relay, as_url: &str, record: &EpochRecord) -> Resp {
    let body = serde_json::to_vec(&PeerPushRequest {
        record: Some(record.clone()),
        message: None,
    })
    .unwrap();
    peer_push_raw(r, as_url, &body)
}

fn push_message(r: &Relay, as_url: &str, m: &GateMessage) -> Resp {
    let body = serde_json::to_vec(&PeerPushRequest {
        record: None,
        message: Some(MessageRequest::new(m).unwrap().message),
    })
    .unwrap();
    peer_push_raw(r, as_url, &body)
}

fn outcome(r: &Resp) -> PeerPushOutcome {
    r.json_as::<PeerPushResponse>().outcome
}

#[test]
fn a_gate_created_on_a_is_readable_on_c_across_a_partial_mesh_and_survives_restart() {
    // A–B–C: A and C are not peers.
    let (mesh, relays) = Mesh::start(3, &[(0, 1), (1, 2)], &[]);
    let [a, b, c]: [Relay; 3] = relays.try_into().ok().unwrap();
    let [alice, bob, carol] = [(); 3].map(|_| Identity::generate(&mut OsRng));
    let gid = GateId::generate(&mut OsRng);
    let g = gid.as_str().to_string();
    let t = now();

    let r1 = create_genesis(&alice, &gid, t, &mut OsRng).unwrap();
    let e1 = r1.verify().unwrap();
    let roster = e1
        .roster()
        .with_member(bob.public(), Role::Member)
        .unwrap()
        .with_member(carol.public(), Role::Member)
        .unwrap();
    let r2 = rotate(&alice, &e1, roster, Reason::Join, t, &mut OsRng).unwrap();
    let e2 = r2.verify().unwrap();
    ok(publish(&a, &r1));
    let m1 = seal(&alice, &e1, "alice in epoch 1");
    ok(post_msg(&a, &m1));
    ok(publish(&a, &r2));
    let m2 = seal(&bob, &e2, "bob in epoch 2");
    ok(post_msg(&a, &m2));

    // A member's signed read on C: the same epochs (a verifiable chain) and messages.
    wait_for("epochs on C", || {
        epochs(&c, &bob, &g).as_deref() == Some(&[r1.clone(), r2.clone()][..])
    });
    let state = gate::verify_epoch_chain(&epochs(&c, &carol, &g).unwrap()).unwrap();
    assert_eq!(state.epoch(), 2);
    let both = vec![m1.nonce.clone(), m2.nonce.clone()];
    wait_for("messages on C", || {
        message_nonces(&c, &alice, &g) == Some(both.clone())
    });
    assert_eq!(
        message_nonces(&c, &bob, &g).unwrap(),
        vec![m2.nonce.clone()]
    );
    assert_eq!(message_nonces(&b, &alice, &g).unwrap(), both);

    // The other way: Carol posts on C, it reaches A; a re-post on C is a duplicate everywhere.
    let m3 = seal(&carol, &e2, "carol in epoch 2");
    ok(post_msg(&c, &m3));
    assert!(post_msg(&c, &m3).json_as::<MessageResponse>().duplicate);
    let all = vec![m1.nonce.clone(), m2.nonce.clone(), m3.nonce.clone()];
    wait_for("C's message on A", || {
        message_nonces(&a, &alice, &g) == Some(all.clone())
    });

    // Replicated data survives a restart of C (and of B).
    assert_eq!(c.terminate().code(), Some(0));
    assert_eq!(b.terminate().code(), Some(0));
    let c = mesh.start_node(2).unwrap();
    let b = mesh.start_node(1).unwrap();
    assert_eq!(epochs(&c, &bob, &g).unwrap(), vec![r1.clone(), r2.clone()]);
    assert_eq!(message_nonces(&c, &alice, &g).unwrap(), all);
    assert_eq!(epochs(&b, &carol, &g).unwrap(), vec![r1, r2]);
    assert_eq!(message_nonces(&b, &alice, &g).unwrap(), all);
    // Nothing was stored twice on the way round.
    assert_eq!(message_nonces(&a, &alice, &g).unwrap(), all);
}

#[test]
fn forged_rotations_from_an_authenticated_peer_are_refused_and_not_forwarded() {
    // A–B, and B also pushes to a spy peer that records what B forwards.
    let spy = Spy::start("200 OK", "", "{\"ok\":true}");
    let spy_peer = format!("--peer={}={MESH_SECRET}", spy.url);
    let (mesh, relays) = Mesh::start(2, &[(0, 1)], &[&spy_peer]);
    let [a, b]: [Relay; 2] = relays.try_into().ok().unwrap();
    let (url_a, url_b) = (mesh.url(0), mesh.url(1));
    let from_b = |spy: &Spy| -> Vec<String> {
        spy.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| {
                s.path == PATH_PEER_PUSH
                    && s.headers
                        .iter()
                        .any(|(k, v)| k == "x-peer-url" && *v == url_b)
            })
            .map(|s| s.body.clone())
            .collect()
    };
    let [alice, bob] = [(); 2].map(|_| Identity::generate(&mut OsRng));
    let gid = GateId::generate(&mut OsRng);
    let g = gid.as_str().to_string();
    let t = now();
    let r1 = create_genesis(&alice, &gid, t, &mut OsRng).unwrap();
    let e1 = r1.verify().unwrap();
    let r2 = rotate(
        &alice,
        &e1,
        e1.roster().with_member(bob.public(), Role::Member).unwrap(),
        Reason::Join,
        t,
        &mut OsRng,
    )
    .unwrap();
    let e2 = r2.verify().unwrap();
    ok(publish(&a, &r1));
    ok(publish(&a, &r2));
    wait_for("B forwards epochs 1 and 2", || from_b(&spy).len() == 2);

    // The real epochs 3 and 4 (not yet published) and a message of epoch 4.
    let r3 = rotate(
        &alice,
        &e2,
        e2.roster().clone(),
        Reason::Rotate,
        t,
        &mut OsRng,
    )
    .unwrap();
    let e3 = r3.verify().unwrap();
    let r4 = rotate(
        &alice,
        &e3,
        e3.roster().clone(),
        Reason::Rotate,
        t,
        &mut OsRng,
    )
    .unwrap();
    let e4 = r4.verify().unwrap();
    let m4 = seal(&bob, &e4, "bob in epoch 4");
    // Forgeries: epoch 3 rotated by Bob (not an admin); an epoch 4 on an epoch 3 nobody published.
    let mut forged = rotate(
        &alice,
        &e2,
        e2.roster().clone(),
        Reason::Rotate,
        t,
        &mut OsRng,
    )
    .unwrap();
    forged.rotator = bob.node_id();
    forged.sign(&bob).unwrap();
    let r3x = rotate(
        &alice,
        &e2,
        e2.roster().clone(),
        Reason::Kick,
        t,
        &mut OsRng,
    )
    .unwrap();
    let r4x = rotate(
        &alice,
        &r3x.verify().unwrap(),
        e2.roster().clone(),
        Reason::Rotate,
        t,
        &mut OsRng,
    )
    .unwrap();

    // Authenticated as A: the non-admin rotation is refused by core; the skipped epoch waits.
    let resp = push_record(&b, &url_a, &forged);
    resp.assert_error(422, codes::INVALID_EPOCH);
    assert!(
        resp.json()["detail"]
            .as_str()
            .unwrap()
            .contains("not an admin"),
        "{}",
        resp.body
    );
    let resp = push_record(&b, &url_a, &r4x);
    assert_eq!(
        (resp.status, outcome(&resp)),
        (202, PeerPushOutcome::Parked),
        "{}",
        resp.body
    );
    // Authenticated as the spy: the real epoch 4 and its message arrive before epoch 3.
    let resp = push_record(&b, &spy.url, &r4);
    assert_eq!(
        (resp.status, outcome(&resp)),
        (202, PeerPushOutcome::Parked),
        "{}",
        resp.body
    );
    let resp = push_message(&b, &spy.url, &m4);
    assert_eq!(
        (resp.status, outcome(&resp)),
        (202, PeerPushOutcome::Parked),
        "{}",
        resp.body
    );
    // Nothing of it is served yet.
    assert_eq!(epochs(&b, &bob, &g).unwrap(), vec![r1.clone(), r2.clone()]);
    // Re-delivery of stored items: duplicates.
    let resp = push_record(&b, &url_a, &r2);
    assert_eq!(
        (resp.status, outcome(&resp)),
        (200, PeerPushOutcome::Duplicate),
        "{}",
        resp.body
    );

    // Transport checks: size first (413), then the HMAC (403), then the shape.
    peer_push_raw(&b, &url_a, &vec![b' '; MAX_PEER_PUSH_BODY_BYTES + 1])
        .assert_error(413, postern_core::api::codes::PAYLOAD_TOO_LARGE);
    let body = serde_json::to_vec(&PeerPushRequest {
        record: Some(r3.clone()),
        message: None,
    })
    .unwrap();
    let mut bad = common::peer_headers(MESH_SECRET, &url_a, PATH_PEER_PUSH, &body);
    for (k, v) in bad.iter_mut() {
        if k.eq_ignore_ascii_case(v2::HEADER_PEER_SIGNATURE) {
            *v = "00".repeat(32);
        }
    }
    common::post_with_headers(&b, PATH_PEER_PUSH, &bad, &body)
        .assert_error(403, postern_core::api::peer::codes::PEER_UNAUTHORIZED);
    let stranger = common::peer_post(&b, PATH_PEER_PUSH, "http://127.0.0.1:1", MESH_SECRET, &body);
    stranger.assert_error(403, postern_core::api::peer::codes::PEER_UNAUTHORIZED);
    peer_push_raw(&b, &url_a, b"{}").assert_error(400, peer_codes::ONE_ITEM);
    assert_eq!(epochs(&b, &bob, &g).unwrap(), vec![r1.clone(), r2.clone()]);

    // The real epoch 3 on A: B applies it, then the parked real epoch 4 and message (forwarded
    // to A, which did not have them); the parked forgery fails core's check and is dropped.
    ok(publish(&a, &r3));
    let want = vec![r1.clone(), r2.clone(), r3.clone(), r4.clone()];
    wait_for("epochs 3 and 4 on B", || {
        epochs(&b, &bob, &g).as_ref() == Some(&want)
    });
    wait_for("the unparked epoch 4 on A", || {
        epochs(&a, &bob, &g).as_ref() == Some(&want)
    });
    wait_for("the unparked message on A", || {
        message_nonces(&a, &bob, &g) == Some(vec![m4.nonce.clone()])
    });
    wait_for("B forwards epoch 3", || from_b(&spy).len() >= 3);
    // What B forwarded to the spy: epochs 1–3 only (epoch 4 and the message came from the spy),
    // never a forgery.
    let sent = from_b(&spy);
    let records: Vec<EpochRecord> = sent
        .iter()
        .map(|s| {
            serde_json::from_str::<PeerPushRequest>(s)
                .unwrap()
                .record
                .unwrap()
        })
        .collect();
    assert_eq!(records, vec![r1, r2, r3]);
    for s in spy.seen.lock().unwrap().iter() {
        assert!(
            !s.body.contains(&forged.signature) && !s.body.contains(&r4x.signature),
            "forgery forwarded: {}",
            s.body
        );
    }
    assert!(
        b.log_text().contains("parked gate epoch refused"),
        "{}",
        b.log_text()
    );
}

#[test]
fn a_relay_that_joins_late_pulls_the_gates_it_missed() {
    // A runs alone at first: nothing it stores is queued for anybody.
    let mut mesh = Mesh {
        dirs: (0..2).map(|_| tempfile::tempdir().unwrap()).collect(),
        ports: (0..2).map(|_| common::free_port()).collect(),
        edges: Vec::new(),
        extra: vec!["--sync-interval-secs=1".into()],
        push: true,
    };
    let a = mesh.start_node(0).unwrap();
    let [alice, bob] = [(); 2].map(|_| Identity::generate(&mut OsRng));
    let gid = GateId::generate(&mut OsRng);
    let g = gid.as_str().to_string();
    let r1 = create_genesis(&alice, &gid, now(), &mut OsRng).unwrap();
    let e1 = r1.verify().unwrap();
    let r2 = rotate(
        &alice,
        &e1,
        e1.roster().with_member(bob.public(), Role::Member).unwrap(),
        Reason::Join,
        now(),
        &mut OsRng,
    )
    .unwrap();
    let e2 = r2.verify().unwrap();
    ok(publish(&a, &r1));
    ok(publish(&a, &r2));
    let msgs: Vec<GateMessage> = (0..3)
        .map(|i| seal(&alice, &e2, &format!("m{i}")))
        .collect();
    for m in &msgs {
        ok(post_msg(&a, m));
    }
    assert_eq!(a.terminate().code(), Some(0));

    // Now A and B peer: B pulls A's gate feed (cursor persisted), and B's own posts are pushed.
    mesh.edges = vec![(0, 1)];
    let a = mesh.start_node(0).unwrap();
    let b = mesh.start_node(1).unwrap();
    wait_for("epochs pulled by B", || {
        epochs(&b, &bob, &g).as_deref() == Some(&[r1.clone(), r2.clone()][..])
    });
    let nonces: Vec<String> = msgs.iter().map(|m| m.nonce.clone()).collect();
    wait_for("messages pulled by B", || {
        message_nonces(&b, &bob, &g) == Some(nonces.clone())
    });
    // The log line is written just after the items are stored: wait for it.
    wait_for("B to log the pulled gate items", || {
        b.log_text().contains("pulled gate items")
    });
    // B restarted keeps its cursor: nothing is stored twice, and it still serves everything.
    assert_eq!(b.terminate().code(), Some(0));
    let b = mesh.start_node(1).unwrap();
    let m = seal(&bob, &e2, "after the restart");
    ok(post_msg(&a, &m));
    let mut all = nonces.clone();
    all.push(m.nonce.clone());
    wait_for("the new message on B", || {
        message_nonces(&b, &bob, &g) == Some(all.clone())
    });
    assert_eq!(epochs(&b, &bob, &g).unwrap(), vec![r1, r2]);
}
