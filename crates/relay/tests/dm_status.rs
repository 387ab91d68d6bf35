//! `POST /api/mesh/dm/status` against the real `postern` binary: pending while spooled,
//! delivered once the recipient acks (here or on a peer), unknown otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{wait_for, Mesh, Relay};
use postern_core::api::dm::{DeliveryState, StatusResponse, MAX_STATUS_IDS, PATH_DM_STATUS};
use postern_core::{dm, Identity};
use rand_core::OsRng;
use serde_json::json;

fn states(relay: &Relay, recipient: &str, ids: &[&str]) -> Vec<DeliveryState> {
    let r = relay.post(
        PATH_DM_STATUS,
        &json!({ "recipient_id": recipient, "msg_ids": ids }),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let resp: StatusResponse = r.json_as();
    assert!(resp.ok);
    let echoed: Vec<&str> = resp.statuses.iter().map(|s| s.msg_id.as_str()).collect();
    assert_eq!(echoed, ids, "one status per id, in request order");
    resp.statuses.into_iter().map(|s| s.state).collect()
}

#[test]
fn pending_then_delivered_and_unknown_otherwise() {
    use DeliveryState::{Delivered, Pending, Unknown};
    let data = tempfile::tempdir().unwrap();
    let relay = Relay::start(data.path(), &[]);
    let alice = Identity::generate(&mut OsRng);
    let bob = Identity::generate(&mut OsRng);
    assert_eq!(relay.register(&bob).status, 200);
    let bob_id = bob.node_id();
    let env = Relay::seal(&alice, &relay.lookup(&bob_id), b"hi");
    assert_eq!(relay.send(&env).status, 200);
    let random = dm::new_msg_id(&mut OsRng);
    let ids = [env.msg_id.as_str(), random.as_str()];
    assert_eq!(states(&relay, &bob_id, &ids), [Pending, Unknown]);
    // The id is only meaningful with its recipient.
    assert_eq!(states(&relay, &alice.node_id(), &ids), [Unknown, Unknown]);
    // Polling alone does not deliver; the owner's ack does.
    assert_eq!(relay.poll(&bob).total, 1);
    assert_eq!(states(&relay, &bob_id, &ids), [Pending, Unknown]);
    assert_eq!(
        relay.ack(&bob, std::slice::from_ref(&env.msg_id)).removed,
        1
    );
    assert_eq!(states(&relay, &bob_id, &ids), [Delivered, Unknown]);
}

#[test]
fn bad_queries_get_json_4xx() {
    let data = tempfile::tempdir().unwrap();
    let relay = Relay::start(data.path(), &[]);
    let bob = Identity::generate(&mut OsRng).node_id();
    let ok_id = dm::new_msg_id(&mut OsRng);
    let too_many: Vec<String> = (0..=MAX_STATUS_IDS)
        .map(|i| format!("msg-{i:04}"))
        .collect();
    for body in [
        json!({ "recipient_id": "bob", "msg_ids": [ok_id] }),
        json!({ "recipient_id": bob, "msg_ids": [] }),
        json!({ "recipient_id": bob, "msg_ids": too_many }),
        json!({ "recipient_id": bob, "msg_ids": ["bad id"] }),
        json!({ "recipient_id": bob, "msg_ids": [ok_id, ok_id] }),
        json!({ "recipient_id": bob, "msg_ids": [ok_id], "sender": "x" }),
        json!({ "recipient_id": bob }),
    ] {
        let r = relay.post(PATH_DM_STATUS, &body);
        // 400 for rule violations, 422 for bodies that do not parse (the relay's convention).
        assert!(
            matches!(r.status, 400 | 422),
            "{body}: {} {}",
            r.status,
            r.body
        );
        r.assert_error(r.status, postern_core::api::codes::BAD_REQUEST);
    }
    assert_eq!(relay.get(PATH_DM_STATUS).status, 405);
}

#[test]
fn an_ack_on_a_peer_reads_as_delivered_once_replicated() {
    let (_mesh, relays) = Mesh::start(2, &[(0, 1)], &[]);
    let (a, b) = (&relays[0], &relays[1]);
    let alice = Identity::generate(&mut OsRng);
    let bob = Identity::generate(&mut OsRng);
    for r in &relays {
        assert_eq!(r.register(&bob).status, 200);
    }
    let bob_id = bob.node_id();
    let env = Relay::seal(&alice, &a.lookup(&bob_id), b"hi");
    assert_eq!(a.send(&env).status, 200);
    let ids = [env.msg_id.as_str()];
    wait_for("the DM to reach B", || b.poll(&bob).total == 1);
    assert_eq!(b.ack(&bob, std::slice::from_ref(&env.msg_id)).removed, 1);
    assert_eq!(states(b, &bob_id, &ids), [DeliveryState::Delivered]);
    wait_for("A to learn of the ack", || {
        states(a, &bob_id, &ids) == [DeliveryState::Delivered]
    });
}
