//! Private gates against the real binary: epoch publication (core's chain rules), sealed
//! messages (core's schema), signed member reads with per-epoch history.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::{now, Relay, Resp};
use postern_core::api::gate::*;
use postern_core::auth::{sign_request_for, Action, RequestAuth};
use postern_core::gate::{
    self, create_genesis, rotate, verify_epoch_chain, Epoch, EpochKey, EpochRecord, GateId,
    GateMessage, Reason, Role,
};
use postern_core::Identity;
use rand_core::OsRng;

const CANARY: &str = "CANARY-7f3e-gate-body";

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

fn epochs_auth(r: &Relay, id: &Identity, gate: &str, ts: u64) -> RequestAuth {
    sign_request_for(
        id,
        &r.base,
        Action::GateRead,
        &epochs_params(gate),
        ts,
        &mut OsRng,
    )
}

fn epochs(r: &Relay, id: &Identity, gate: &str) -> Resp {
    r.post(
        PATH_EPOCHS,
        &EpochsRequest {
            auth: epochs_auth(r, id, gate, now()),
            gate: gate.into(),
            after: None,
            limit: None,
        },
    )
}

fn messages(r: &Relay, id: &Identity, gate: &str, after: Option<u64>) -> Resp {
    let auth = sign_request_for(
        id,
        &r.base,
        Action::GateRead,
        &messages_params(gate, after, MAX_MESSAGES_LIMIT),
        now(),
        &mut OsRng,
    );
    r.post(
        PATH_MESSAGES,
        &MessagesRequest {
            auth,
            gate: gate.into(),
            after,
            limit: MAX_MESSAGES_LIMIT,
        },
    )
}

fn seal(author: &Identity, epoch: &Epoch, body: &str) -> GateMessage {
    let key = EpochKey::unlock(author, epoch).unwrap();
    gate::seal(author, &key, body.as_bytes(), now(), &mut OsRng).unwrap()
}

fn ok(r: Resp) -> Resp {
    assert_eq!(r.status, 200, "{}", r.body);
    r
}

/// (epoch, body) of every message a member receives, opened with its own keys.
fn read_opened(r: &Relay, id: &Identity, gate: &str, chain: &[Epoch]) -> Vec<(u64, String)> {
    let resp: MessagesResponse = ok(messages(r, id, gate, None)).json_as();
    resp.messages
        .iter()
        .map(|m| {
            assert_eq!(m.epoch, m.message.epoch);
            let ep = chain.iter().find(|e| e.number() == m.epoch).unwrap();
            let key = EpochKey::unlock(id, ep).unwrap();
            let opened = gate::open(&key, &m.message).unwrap();
            (m.epoch, opened.text().unwrap().to_string())
        })
        .collect()
}

fn assert_no_canary(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            assert_no_canary(&path);
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()),
            "{} contains a message body",
            path.display()
        );
    }
}

#[test]
fn gate_epochs_messages_and_member_reads() {
    let data = tempfile::tempdir().unwrap();
    let relay = Relay::start(data.path(), &[]);
    let [alice, bob, carol, stranger] = [(); 4].map(|_| Identity::generate(&mut OsRng));
    let gid = GateId::generate(&mut OsRng);
    let g = gid.as_str().to_string();
    let t = now();

    // Genesis; a replay of it is refused.
    let r1 = create_genesis(&alice, &gid, t, &mut OsRng).unwrap();
    let e1 = r1.verify().unwrap();
    let resp: EpochResponse = ok(publish(&relay, &r1)).json_as();
    assert_eq!((resp.epoch, resp.hash.clone()), (1, hex(e1.hash())));
    assert_eq!(resp.genesis_hash, resp.hash);
    publish(&relay, &r1).assert_error(409, codes::REPLAYED_EPOCH);
    // A second genesis for the same gate id is a fork.
    let other = create_genesis(&bob, &gid, t, &mut OsRng).unwrap();
    publish(&relay, &other).assert_error(409, codes::FORKED_EPOCH);

    // Epoch 2: Alice adds Bob and Carol.
    let roster2 = e1
        .roster()
        .with_member(bob.public(), Role::Member)
        .unwrap()
        .with_member(carol.public(), Role::Member)
        .unwrap();
    let r2 = rotate(&alice, &e1, roster2, Reason::Join, t, &mut OsRng).unwrap();
    let e2 = r2.verify().unwrap();
    // Skipped epoch: an epoch 3 built on an unpublished epoch 2 (same roster) is refused.
    let r2x = rotate(
        &alice,
        &e1,
        e2.roster().clone(),
        Reason::Join,
        t,
        &mut OsRng,
    )
    .unwrap();
    let r3x = rotate(
        &alice,
        &r2x.verify().unwrap(),
        e2.roster().clone(),
        Reason::Rotate,
        t,
        &mut OsRng,
    )
    .unwrap();
    let resp = publish(&relay, &r3x);
    resp.assert_error(422, codes::INVALID_EPOCH);
    assert!(
        resp.json()["detail"]
            .as_str()
            .unwrap()
            .contains("expected epoch 2, got 3"),
        "{}",
        resp.body
    );
    // A message in epoch 1, while it is the head.
    let m1 = seal(&alice, &e1, &format!("{CANARY} alice e1"));
    let s1: MessageResponse = ok(post_msg(&relay, &m1)).json_as();
    assert!(!s1.duplicate);
    assert_eq!(ok(publish(&relay, &r2)).json_as::<EpochResponse>().epoch, 2);
    publish(&relay, &r2).assert_error(409, codes::REPLAYED_EPOCH);
    publish(&relay, &r2x).assert_error(409, codes::FORKED_EPOCH);

    // Non-admin rotation: Bob (a plain member) re-signs an epoch 3 as its rotator.
    let mut bad = rotate(
        &alice,
        &e2,
        e2.roster().clone(),
        Reason::Rotate,
        t,
        &mut OsRng,
    )
    .unwrap();
    bad.rotator = bob.node_id();
    bad.sign(&bob).unwrap();
    bad.verify().unwrap();
    let resp = publish(&relay, &bad);
    resp.assert_error(422, codes::INVALID_EPOCH);
    assert!(
        resp.json()["detail"]
            .as_str()
            .unwrap()
            .contains("not an admin"),
        "{}",
        resp.body
    );

    // Messages in epoch 2. A retry of the stored epoch-1 message is still a duplicate; a new
    // one sealed for epoch 1 is stale now that epoch 2 is the head.
    let again: MessageResponse = ok(post_msg(&relay, &m1)).json_as();
    assert!(again.duplicate);
    assert_eq!(again.seq, s1.seq);
    post_msg(&relay, &seal(&alice, &e1, "late")).assert_error(409, codes::STALE_EPOCH);
    ok(post_msg(
        &relay,
        &seal(&bob, &e2, &format!("{CANARY} bob e2")),
    ));
    ok(post_msg(
        &relay,
        &seal(&carol, &e2, &format!("{CANARY} carol e2")),
    ));

    // Epoch 3: Alice kicks Carol; a message for an epoch the relay does not hold is refused.
    let roster3 = e2.roster().without_member(&carol.node_id()).unwrap();
    let r3 = rotate(&alice, &e2, roster3, Reason::Kick, t, &mut OsRng).unwrap();
    let e3 = r3.verify().unwrap();
    post_msg(&relay, &seal(&alice, &e3, "early")).assert_error(409, codes::UNKNOWN_EPOCH);
    ok(publish(&relay, &r3));
    ok(post_msg(
        &relay,
        &seal(&bob, &e3, &format!("{CANARY} bob e3")),
    ));
    ok(post_msg(
        &relay,
        &seal(&alice, &e3, &format!("{CANARY} alice e3")),
    ));
    let chain = [e1.clone(), e2.clone(), e3.clone()];

    // A message for an unknown gate.
    let lone = GateId::generate(&mut OsRng);
    let lone_e = create_genesis(&alice, &lone, t, &mut OsRng)
        .unwrap()
        .verify()
        .unwrap();
    post_msg(&relay, &seal(&alice, &lone_e, "x")).assert_error(404, codes::UNKNOWN_GATE);

    // Bob: all epoch records (verifiable), messages of epochs 2 and 3 only.
    let recs: EpochsResponse = ok(epochs(&relay, &bob, &g)).json_as();
    assert_eq!(recs.records.len(), 3);
    let state = verify_epoch_chain(&recs.records).unwrap();
    assert_eq!(state.epoch(), 3);
    assert_eq!(state.genesis_hash(), e1.hash());
    let bob_msgs = read_opened(&relay, &bob, &g, &chain);
    let want = |v: &[(u64, &str)]| {
        v.iter()
            .map(|(e, b)| (*e, format!("{CANARY} {b}")))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        bob_msgs,
        want(&[
            (2, "bob e2"),
            (2, "carol e2"),
            (3, "bob e3"),
            (3, "alice e3")
        ])
    );
    // Alice (in every epoch) sees everything.
    assert_eq!(read_opened(&relay, &alice, &g, &chain).len(), 5);
    // Cursor: after the last seq there is nothing more.
    let page: MessagesResponse = ok(messages(&relay, &bob, &g, None)).json_as();
    let next: MessagesResponse = ok(messages(&relay, &bob, &g, Some(page.next_after))).json_as();
    assert!(next.messages.is_empty());
    assert_eq!(next.next_after, page.next_after);

    // Carol, removed at epoch 3: the whole chain, but only the messages of epoch 2.
    let recs: EpochsResponse = ok(epochs(&relay, &carol, &g)).json_as();
    assert_eq!(recs.records.len(), 3);
    assert_eq!(
        read_opened(&relay, &carol, &g, &chain),
        want(&[(2, "bob e2"), (2, "carol e2")])
    );

    // A stranger: 403 on both reads, also for a gate that does not exist.
    epochs(&relay, &stranger, &g).assert_error(403, codes::NOT_A_MEMBER);
    messages(&relay, &stranger, &g, None).assert_error(403, codes::NOT_A_MEMBER);
    epochs(&relay, &stranger, lone.as_str()).assert_error(403, codes::NOT_A_MEMBER);

    // Unsigned, stale, replayed, wrongly signed.
    relay
        .post_raw(
            PATH_EPOCHS,
            Some("application/json"),
            format!("{{\"gate\":\"{g}\"}}").as_bytes(),
        )
        .assert_error(401, postern_core::api::codes::UNAUTHORIZED);
    let stale = EpochsRequest {
        auth: epochs_auth(&relay, &bob, &g, now() - 3600),
        gate: g.clone(),
        after: None,
        limit: None,
    };
    relay
        .post(PATH_EPOCHS, &stale)
        .assert_error(401, postern_core::api::codes::UNAUTHORIZED);
    let once = EpochsRequest {
        auth: epochs_auth(&relay, &bob, &g, now()),
        gate: g.clone(),
        after: None,
        limit: None,
    };
    ok(relay.post(PATH_EPOCHS, &once));
    relay
        .post(PATH_EPOCHS, &once)
        .assert_error(401, postern_core::api::codes::REPLAYED_NONCE);
    let other_gate = EpochsRequest {
        auth: epochs_auth(&relay, &bob, lone.as_str(), now()),
        gate: g.clone(),
        after: None,
        limit: None,
    };
    relay
        .post(PATH_EPOCHS, &other_gate)
        .assert_error(401, postern_core::api::codes::UNAUTHORIZED);

    // Everything survives a restart; no body ever reached the disk.
    assert_eq!(relay.terminate().code(), Some(0));
    let relay = Relay::start(data.path(), &[]);
    let recs: EpochsResponse = ok(epochs(&relay, &bob, &g)).json_as();
    assert_eq!(recs.records, vec![r1, r2, r3]);
    assert_eq!(read_opened(&relay, &bob, &g, &chain).len(), 4);
    drop(relay);
    assert_no_canary(data.path());
}

#[test]
fn plaintext_and_malformed_messages_are_refused() {
    let data = tempfile::tempdir().unwrap();
    let relay = Relay::start(data.path(), &[]);
    let alice = Identity::generate(&mut OsRng);
    let gid = GateId::generate(&mut OsRng);
    let r1 = create_genesis(&alice, &gid, now(), &mut OsRng).unwrap();
    ok(publish(&relay, &r1));
    let m = seal(&alice, &r1.verify().unwrap(), "hello");
    let base: serde_json::Value = serde_json::from_str(&m.to_json().unwrap()).unwrap();
    let with = |k: &str, v: serde_json::Value| {
        let mut x = base.clone();
        x[k] = v;
        serde_json::json!({ "message": x })
    };
    // The first three are plaintext tripwires of core's `gate_message` schema.
    for (bad, why) in [
        (
            with("message", "hello in the clear".into()),
            "plaintext gate message field",
        ),
        (
            with("ciphertext", "hello in the clear".into()),
            "base64-encoded sealed bytes",
        ),
        (
            with(
                "ciphertext",
                postern_core::b64::encode_std(b"a perfectly readable sentence of plain text")
                    .into(),
            ),
            "looks like encoded plaintext",
        ),
        (with("transport_lock", "public".into()), "transport_lock"),
        (with("epoch", 0.into()), "epoch must be a positive integer"),
        (with("sender_ref", "not-a-ref".into()), "sender_ref"),
        (with("format", "something/9".into()), "format"),
    ] {
        let resp = relay.post(PATH_MESSAGE, &bad);
        resp.assert_error(422, codes::INVALID_MESSAGE);
        assert!(
            resp.json()["detail"].as_str().unwrap().contains(why),
            "{bad}: {}",
            resp.body
        );
    }
    ok(post_msg(&relay, &m));
    // Malformed epoch records: core's error text comes back.
    let mut broken =
        create_genesis(&alice, &GateId::generate(&mut OsRng), now(), &mut OsRng).unwrap();
    broken.signature = postern_core::b64::encode_std(&[0u8; 64]);
    let resp = publish(&relay, &broken);
    resp.assert_error(422, codes::INVALID_EPOCH);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn mine_auth(r: &Relay, id: &Identity, ts: u64) -> RequestAuth {
    sign_request_for(
        id,
        &r.base,
        Action::GateList,
        &mine_params(),
        ts,
        &mut OsRng,
    )
}

fn mine(r: &Relay, id: &Identity) -> MineResponse {
    ok(r.post(
        PATH_MINE,
        &MineRequest {
            auth: mine_auth(r, id, now()),
            after: None,
            limit: None,
        },
    ))
    .json_as()
}

#[test]
fn members_list_their_gates_including_removals() {
    let data = tempfile::tempdir().unwrap();
    let relay = Relay::start(data.path(), &[]);
    let [alice, bob, carol, stranger] = [(); 4].map(|_| Identity::generate(&mut OsRng));
    let t = now();
    let gid = GateId::generate(&mut OsRng);
    let r1 = create_genesis(&alice, &gid, t, &mut OsRng).unwrap();
    let e1 = r1.verify().unwrap();
    ok(publish(&relay, &r1));
    assert!(mine(&relay, &bob).gates.is_empty());

    let roster2 = e1
        .roster()
        .with_member(bob.public(), Role::Member)
        .unwrap()
        .with_member(carol.public(), Role::Member)
        .unwrap();
    let r2 = rotate(&alice, &e1, roster2, Reason::Join, t, &mut OsRng).unwrap();
    let e2 = r2.verify().unwrap();
    ok(publish(&relay, &r2));
    // A second gate only Alice is in.
    let solo = GateId::generate(&mut OsRng);
    ok(publish(
        &relay,
        &create_genesis(&alice, &solo, t, &mut OsRng).unwrap(),
    ));

    let want = |epoch: u64, current_member: bool| MineGate {
        gate: gid.as_str().into(),
        epoch,
        genesis_hash: hex(e1.hash()),
        current_member,
    };
    assert_eq!(mine(&relay, &bob).gates, vec![want(2, true)]);
    assert_eq!(mine(&relay, &carol).gates, vec![want(2, true)]);
    let mut alice_gates: Vec<String> = mine(&relay, &alice)
        .gates
        .into_iter()
        .map(|g| g.gate)
        .collect();
    alice_gates.sort();
    let mut both = vec![gid.as_str().to_string(), solo.as_str().to_string()];
    both.sort();
    assert_eq!(alice_gates, both);
    assert!(mine(&relay, &stranger).gates.is_empty());

    // Carol removed at epoch 3 still sees the gate, flagged as no longer a member.
    let r3 = rotate(
        &alice,
        &e2,
        e2.roster().without_member(&carol.node_id()).unwrap(),
        Reason::Kick,
        t,
        &mut OsRng,
    )
    .unwrap();
    ok(publish(&relay, &r3));
    assert_eq!(mine(&relay, &carol).gates, vec![want(3, false)]);
    assert_eq!(mine(&relay, &bob).gates, vec![want(3, true)]);
    // The listed chain verifies with core for the listed member.
    let recs: EpochsResponse = ok(epochs(&relay, &carol, gid.as_str())).json_as();
    assert_eq!(
        hex(verify_epoch_chain(&recs.records).unwrap().genesis_hash()),
        want(3, false).genesis_hash
    );

    // Unsigned, stale, replayed, wrong action → 401.
    use postern_core::api::codes as c;
    relay
        .post_raw(PATH_MINE, Some("application/json"), b"{}")
        .assert_error(401, c::UNAUTHORIZED);
    relay
        .post(
            PATH_MINE,
            &MineRequest {
                auth: mine_auth(&relay, &bob, now() - 3600),
                after: None,
                limit: None,
            },
        )
        .assert_error(401, c::UNAUTHORIZED);
    let once = MineRequest {
        auth: mine_auth(&relay, &bob, now()),
        after: None,
        limit: None,
    };
    ok(relay.post(PATH_MINE, &once));
    relay
        .post(PATH_MINE, &once)
        .assert_error(401, c::REPLAYED_NONCE);
    let wrong = MineRequest {
        auth: sign_request_for(
            &bob,
            &relay.base,
            Action::GateRead,
            &mine_params(),
            now(),
            &mut OsRng,
        ),
        after: None,
        limit: None,
    };
    relay
        .post(PATH_MINE, &wrong)
        .assert_error(401, c::UNAUTHORIZED);
    // Another node's identity claimed with Bob's signature.
    let mut forged = mine_auth(&relay, &bob, now());
    forged.node_id = carol.node_id();
    relay
        .post(
            PATH_MINE,
            &MineRequest {
                auth: forged,
                after: None,
                limit: None,
            },
        )
        .assert_error(401, c::UNAUTHORIZED);
}

#[test]
fn a_promoted_member_can_rotate() {
    let data = tempfile::tempdir().unwrap();
    let relay = Relay::start(data.path(), &[]);
    let [alice, bob, carol] = [(); 3].map(|_| Identity::generate(&mut OsRng));
    let t = now();
    let gid = GateId::generate(&mut OsRng);
    let r1 = create_genesis(&alice, &gid, t, &mut OsRng).unwrap();
    let e1 = r1.verify().unwrap();
    ok(publish(&relay, &r1));
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
    ok(publish(&relay, &r2));

    // Bob, a plain member, cannot rotate yet: core's `rotate` refuses, and a record he signs
    // anyway is refused by the relay.
    let add_carol = |by: &Identity, prev: &Epoch| {
        rotate(
            by,
            prev,
            prev.roster()
                .with_member(carol.public(), Role::Member)
                .unwrap(),
            Reason::Join,
            t,
            &mut OsRng,
        )
    };
    assert!(matches!(
        add_carol(&bob, &e2),
        Err(gate::RotateError::NotAdmin { .. })
    ));
    let mut early = add_carol(&alice, &e2).unwrap();
    early.rotator = bob.node_id();
    early.sign(&bob).unwrap();
    let resp = publish(&relay, &early);
    resp.assert_error(422, codes::INVALID_EPOCH);
    assert!(
        resp.json()["detail"]
            .as_str()
            .unwrap()
            .contains("not an admin"),
        "{}",
        resp.body
    );

    // Alice promotes Bob (same members, Bob's role changed); then Bob's rotation is accepted.
    let r3 = rotate(
        &alice,
        &e2,
        e2.roster().with_member(bob.public(), Role::Admin).unwrap(),
        Reason::Rotate,
        t,
        &mut OsRng,
    )
    .unwrap();
    let e3 = r3.verify().unwrap();
    assert!(e3.roster().get(&bob.node_id()).unwrap().is_admin());
    assert_eq!(e3.roster().len(), 2);
    ok(publish(&relay, &r3));
    let r4 = add_carol(&bob, &e3).unwrap();
    assert_eq!(ok(publish(&relay, &r4)).json_as::<EpochResponse>().epoch, 4);
    let recs: EpochsResponse = ok(epochs(&relay, &carol, gid.as_str())).json_as();
    let state = verify_epoch_chain(&recs.records).unwrap();
    assert_eq!(
        (state.epoch(), state.head().rotator_id()),
        (4, bob.node_id().as_str())
    );
    assert!(mine(&relay, &carol).gates[0].current_member);
}
