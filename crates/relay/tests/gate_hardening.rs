//! Issue 14 on the relay, against the real binary: a message sealed for an epoch older than the
//! gate's head is refused (409 `stale_epoch`, nothing stored), from a client and from a peer;
//! epoch reads and `/gate/mine` are paginated; the gate cost caps answer with their codes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{now, Relay, Resp, MESH_SECRET};
use postern_core::api::gate::*;
use postern_core::auth::{sign_request_for, Action};
use postern_core::gate::{
    self, create_genesis, rotate, Epoch, EpochKey, EpochRecord, GateId, GateMessage, Reason, Role,
};
use postern_core::Identity;
use rand_core::OsRng;

/// A peer URL nothing listens on: the relay accepts pushes signed as it, never reaches it.
const PEER: &str = "http://127.0.0.1:9";

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

fn push_message(r: &Relay, m: &GateMessage) -> Resp {
    let body = serde_json::to_vec(&PeerPushRequest {
        record: None,
        message: Some(MessageRequest::new(m).unwrap().message),
    })
    .unwrap();
    common::peer_post(r, PATH_PEER_PUSH, PEER, MESH_SECRET, &body)
}

fn seal(author: &Identity, epoch: &Epoch, body: &str) -> GateMessage {
    let key = EpochKey::unlock(author, epoch).unwrap();
    gate::seal(author, &key, body.as_bytes(), now(), &mut OsRng).unwrap()
}

/// Nonces of every message `id` can read.
fn nonces(r: &Relay, id: &Identity, gate: &str) -> Vec<String> {
    let auth = sign_request_for(
        id,
        &r.base,
        Action::GateRead,
        &messages_params(gate, None, MAX_MESSAGES_LIMIT),
        now(),
        &mut OsRng,
    );
    let resp: MessagesResponse = ok(r.post(
        PATH_MESSAGES,
        &MessagesRequest {
            auth,
            gate: gate.into(),
            after: None,
            limit: MAX_MESSAGES_LIMIT,
        },
    ))
    .json_as();
    resp.messages.into_iter().map(|m| m.message.nonce).collect()
}

/// Alice's gate with Bob (epoch 2), then Bob kicked (epoch 3).
struct Kicked {
    alice: Identity,
    bob: Identity,
    gate: String,
    e2: Epoch,
    e3: Epoch,
    /// Bob's post under epoch 2, stored before the kick.
    before: GateMessage,
}

fn kicked_gate(r: &Relay) -> Kicked {
    let [alice, bob] = [(); 2].map(|_| Identity::generate(&mut OsRng));
    let gid = GateId::generate(&mut OsRng);
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
    let r3 = rotate(
        &alice,
        &e2,
        e2.roster().without_member(&bob.node_id()).unwrap(),
        Reason::Kick,
        t,
        &mut OsRng,
    )
    .unwrap();
    let e3 = r3.verify().unwrap();
    for rec in [&r1, &r2] {
        ok(publish(r, rec));
    }
    // Before the kick, Bob's post under epoch 2 is stored.
    let before = seal(&bob, &e2, "before the kick");
    ok(post_msg(r, &before));
    ok(publish(r, &r3));
    Kicked {
        alice,
        bob,
        gate: gid.as_str().to_string(),
        e2,
        e3,
        before,
    }
}

/// Item 2: the removed member still holds epoch 2's key; after the kick (head = epoch 3) a new
/// message sealed for epoch 2 is refused with 409 `stale_epoch` and never stored or served,
/// whether a client or a peer relay submits it. The same message under the head epoch is
/// accepted, and an idempotent retry of a stored message is still `duplicate`.
#[test]
fn stale_epoch_messages_are_refused_from_clients_and_peers() {
    let data = tempfile::tempdir().unwrap();
    let peer = format!("--peer={PEER}={MESH_SECRET}");
    let relay = Relay::start(data.path(), &[&peer]);
    let k = kicked_gate(&relay);
    let stored_before = nonces(&relay, &k.alice, &k.gate);
    assert_eq!(stored_before.len(), 1);

    // The removed member posts with the key it kept.
    let stale = seal(&k.bob, &k.e2, "after the kick");
    let resp = post_msg(&relay, &stale);
    resp.assert_error(409, codes::STALE_EPOCH);
    assert!(resp.body.contains("epoch 3"), "{}", resp.body);
    // An admin's post queued before the rotation is stale too (the app re-seals it).
    let queued = seal(&k.alice, &k.e2, "queued offline");
    post_msg(&relay, &queued).assert_error(409, codes::STALE_EPOCH);
    // The same rule for a replicated copy.
    push_message(&relay, &stale).assert_error(409, codes::STALE_EPOCH);
    assert_eq!(nonces(&relay, &k.alice, &k.gate), stored_before);

    // Re-sealed under the head epoch, Alice's post is stored; its retry is a duplicate.
    let fresh = seal(&k.alice, &k.e3, "re-sealed");
    let first: MessageResponse = ok(post_msg(&relay, &fresh)).json_as();
    assert!(!first.duplicate);
    let again: MessageResponse = ok(post_msg(&relay, &fresh)).json_as();
    assert!(again.duplicate);
    assert_eq!(again.seq, first.seq);
    // A stored message of an older epoch retried (client or peer) is a duplicate, not stale.
    let retry: MessageResponse = ok(post_msg(&relay, &k.before)).json_as();
    assert!(retry.duplicate);
    let pushed: PeerPushResponse = ok(push_message(&relay, &k.before)).json_as();
    assert_eq!(pushed.outcome, PeerPushOutcome::Duplicate);
    let all = nonces(&relay, &k.alice, &k.gate);
    assert_eq!(all, vec![k.before.nonce.clone(), fresh.nonce.clone()]);
    relay.terminate();
}

fn epochs_page(
    r: &Relay,
    id: &Identity,
    gate: &str,
    after: Option<u64>,
    limit: Option<u32>,
) -> Resp {
    let auth = sign_request_for(
        id,
        &r.base,
        Action::GateRead,
        &epochs_page_params(gate, after, limit),
        now(),
        &mut OsRng,
    );
    r.post(
        PATH_EPOCHS,
        &EpochsRequest {
            auth,
            gate: gate.into(),
            after,
            limit,
        },
    )
}

fn mine_page(r: &Relay, id: &Identity, after: Option<&str>, limit: Option<u32>) -> Resp {
    let auth = sign_request_for(
        id,
        &r.base,
        Action::GateList,
        &mine_page_params(after, limit),
        now(),
        &mut OsRng,
    );
    r.post(
        PATH_MINE,
        &MineRequest {
            auth,
            after: after.map(str::to_string),
            limit,
        },
    )
}

/// Alice's gate with `n` epochs (genesis, then re-keys); returns its id.
fn gate_with_epochs(r: &Relay, alice: &Identity, n: u64) -> String {
    let gid = GateId::generate(&mut OsRng);
    let r1 = create_genesis(alice, &gid, now(), &mut OsRng).unwrap();
    ok(publish(r, &r1));
    let mut head = r1.verify().unwrap();
    for _ in 1..n {
        let next = rotate(
            alice,
            &head,
            head.roster().clone(),
            Reason::Rotate,
            now(),
            &mut OsRng,
        )
        .unwrap();
        ok(publish(r, &next));
        head = next.verify().unwrap();
    }
    gid.as_str().to_string()
}

/// Item 4: epoch reads and `/gate/mine` are paginated (cursor + limit, signed), with `more` /
/// `next_after`; out-of-range limits are refused. The old unpaginated answer returned every
/// record and every gate at once and had no `more`, `head` or `next_after`.
#[test]
fn epoch_reads_and_gate_lists_are_paginated() {
    let data = tempfile::tempdir().unwrap();
    let relay = Relay::start(data.path(), &[]);
    let alice = Identity::generate(&mut OsRng);
    let g = gate_with_epochs(&relay, &alice, 5);

    let numbers = |resp: &EpochsResponse| resp.records.iter().map(|r| r.epoch).collect::<Vec<_>>();
    let p1: EpochsResponse = ok(epochs_page(&relay, &alice, &g, None, Some(2))).json_as();
    assert_eq!((numbers(&p1), p1.more, p1.head), (vec![1, 2], true, 5));
    let p2: EpochsResponse = ok(epochs_page(&relay, &alice, &g, Some(2), Some(2))).json_as();
    assert_eq!((numbers(&p2), p2.more), (vec![3, 4], true));
    let p3: EpochsResponse = ok(epochs_page(&relay, &alice, &g, Some(4), Some(2))).json_as();
    assert_eq!((numbers(&p3), p3.more, p3.head), (vec![5], false, 5));
    // No cursor, no limit: from genesis, at most MAX_EPOCHS_PAGE.
    let all: EpochsResponse = ok(epochs_page(&relay, &alice, &g, None, None)).json_as();
    assert_eq!((numbers(&all), all.more), (vec![1, 2, 3, 4, 5], false));
    let tail: EpochsResponse = ok(epochs_page(&relay, &alice, &g, Some(5), None)).json_as();
    assert!(tail.records.is_empty() && !tail.more);
    for bad in [0, gate::MAX_EPOCHS_PAGE + 1] {
        epochs_page(&relay, &alice, &g, None, Some(bad)).assert_error(400, "bad_request");
    }
    // The cursor is signed: the same request with another `after` does not verify.
    let auth = sign_request_for(
        &alice,
        &relay.base,
        Action::GateRead,
        &epochs_page_params(&g, Some(1), Some(2)),
        now(),
        &mut OsRng,
    );
    relay
        .post(
            PATH_EPOCHS,
            &EpochsRequest {
                auth,
                gate: g.clone(),
                after: Some(3),
                limit: Some(2),
            },
        )
        .assert_error(401, postern_core::api::codes::UNAUTHORIZED);

    // Three gates of Alice, listed two at a time by gate id.
    let mut ids = vec![
        g,
        gate_with_epochs(&relay, &alice, 1),
        gate_with_epochs(&relay, &alice, 1),
    ];
    ids.sort();
    let m1: MineResponse = ok(mine_page(&relay, &alice, None, Some(2))).json_as();
    let listed = |m: &MineResponse| m.gates.iter().map(|x| x.gate.clone()).collect::<Vec<_>>();
    assert_eq!(listed(&m1), ids[..2].to_vec());
    assert_eq!(m1.next_after.as_deref(), Some(ids[1].as_str()));
    let m2: MineResponse =
        ok(mine_page(&relay, &alice, m1.next_after.as_deref(), Some(2))).json_as();
    assert_eq!(listed(&m2), ids[2..].to_vec());
    assert_eq!(m2.next_after, None);
    let whole: MineResponse = ok(mine_page(&relay, &alice, None, None)).json_as();
    assert_eq!((listed(&whole), whole.next_after), (ids.clone(), None));
    mine_page(&relay, &alice, None, Some(gate::MAX_GATES_PAGE + 1))
        .assert_error(400, "bad_request");
    mine_page(&relay, &alice, Some("not-a-gate"), None).assert_error(400, "bad_request");
    relay.terminate();
}

/// Item 4: a stranger cannot add a victim to more than `MAX_GATES_PER_MEMBER` gates (409
/// `member_too_many_gates`, nothing stored; a removal frees a place), and a roster over
/// `MAX_MEMBERS_PER_GATE` is refused by its size (400 `gate_too_many_members`) before any
/// signature work. The old relay accepted every such gate.
#[test]
fn gate_caps_bound_what_a_stranger_can_impose() {
    let data = tempfile::tempdir().unwrap();
    let relay = Relay::start(data.path(), &[]);
    // Each gate is created by another stranger (the creator counts as a member too).
    let victim = Identity::generate(&mut OsRng);
    let add_victim = |n: usize| -> (Identity, Epoch) {
        let stranger = Identity::generate(&mut OsRng);
        let gid = GateId::generate(&mut OsRng);
        let r1 = create_genesis(&stranger, &gid, now(), &mut OsRng).unwrap();
        ok(publish(&relay, &r1));
        let e1 = r1.verify().unwrap();
        let r2 = rotate(
            &stranger,
            &e1,
            e1.roster()
                .with_member(victim.public(), Role::Member)
                .unwrap(),
            Reason::Join,
            now(),
            &mut OsRng,
        )
        .unwrap();
        let resp = publish(&relay, &r2);
        if n < gate::MAX_GATES_PER_MEMBER {
            ok(resp);
        } else {
            resp.assert_error(409, codes::MEMBER_TOO_MANY_GATES);
            assert!(resp.body.contains(&victim.node_id()), "{}", resp.body);
        }
        (stranger, r2.verify().unwrap())
    };
    let first = add_victim(0);
    for n in 1..=gate::MAX_GATES_PER_MEMBER {
        add_victim(n);
    }
    let listed = |id: &Identity| -> usize {
        let mut after: Option<String> = None;
        let mut total = 0;
        loop {
            let m: MineResponse = ok(mine_page(&relay, id, after.as_deref(), None)).json_as();
            total += m.gates.len();
            match m.next_after {
                Some(n) => after = Some(n),
                None => return total,
            }
        }
    };
    assert_eq!(listed(&victim), gate::MAX_GATES_PER_MEMBER);

    // Kicking the victim from one gate frees a place (counted over current rosters).
    let (stranger, e2) = first;
    let kick = rotate(
        &stranger,
        &e2,
        e2.roster().without_member(&victim.node_id()).unwrap(),
        Reason::Kick,
        now(),
        &mut OsRng,
    )
    .unwrap();
    ok(publish(&relay, &kick));
    add_victim(0);

    // A roster of MAX_MEMBERS_PER_GATE + 1 entries: refused by its size alone.
    let gid = GateId::generate(&mut OsRng);
    let mut big = create_genesis(&stranger, &gid, now(), &mut OsRng).unwrap();
    let entry = big.roster[0].clone();
    big.roster = vec![entry; gate::MAX_MEMBERS_PER_GATE + 1];
    let resp = publish(&relay, &big);
    resp.assert_error(400, codes::TOO_MANY_MEMBERS);
    relay.terminate();
}
