//! Browser tests of the gate trust rule and gate helpers (pure logic; no relay).
//! Run: `CHROMEDRIVER=/usr/bin/chromedriver cargo test -p postern-app --target wasm32-unknown-unknown`
#![cfg(target_arch = "wasm32")]

use postern_app::logic::{self, GateOffer};
use postern_app::storage::Contact;
use postern_core::gate::{self, Epoch, GateId, Reason, Role};
use postern_core::Identity;
use rand_core::OsRng;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn contact(name: &str, id: &Identity) -> Contact {
    Contact {
        name: name.into(),
        node_id: id.node_id(),
        identity: id.public().to_string(),
        added_at: 1,
    }
}

fn add(by: &Identity, prev: &Epoch, who: &Identity, t: u64) -> Epoch {
    let r = prev
        .roster()
        .with_member(who.public(), Role::Member)
        .unwrap();
    gate::rotate(by, prev, r, Reason::Join, t, &mut OsRng)
        .unwrap()
        .verify()
        .unwrap()
}

#[wasm_bindgen_test]
fn gate_trust_rule_auto_joins_only_from_contacts() {
    let [alice, bob, carol, mallory] = [(); 4].map(|_| Identity::generate(&mut OsRng));
    let gid = GateId::generate(&mut OsRng);
    let e1 = gate::create_genesis(&alice, &gid, 1, &mut OsRng)
        .unwrap()
        .verify()
        .unwrap();
    let e2 = add(&alice, &e1, &bob, 2);
    let chain = vec![e1.clone(), e2.clone()];
    let a = alice.node_id();

    // Bob has Alice as a contact: auto-join; without her: ask, naming Alice.
    assert_eq!(
        logic::gate_offer(&[contact("Alice", &alice)], &bob.node_id(), &chain),
        GateOffer::AutoJoin { inviter: a.clone() }
    );
    assert_eq!(
        logic::gate_offer(&[contact("Carol", &carol)], &bob.node_id(), &chain),
        GateOffer::Ask { inviter: a.clone() }
    );
    assert_eq!(
        logic::gate_offer(&[], &bob.node_id(), &chain),
        GateOffer::Ask { inviter: a.clone() }
    );
    // A contact with the same name but another key does not count.
    assert_eq!(
        logic::gate_offer(&[contact("Alice", &mallory)], &bob.node_id(), &chain),
        GateOffer::Ask { inviter: a.clone() }
    );
    // Not in the roster, or removed since: nothing is offered; an empty chain neither.
    assert_eq!(
        logic::gate_offer(&[contact("Alice", &alice)], &carol.node_id(), &chain),
        GateOffer::Nothing
    );
    let kicked = gate::rotate(
        &alice,
        &e2,
        e2.roster().without_member(&bob.node_id()).unwrap(),
        Reason::Kick,
        3,
        &mut OsRng,
    )
    .unwrap()
    .verify()
    .unwrap();
    let chain3 = vec![e1.clone(), e2.clone(), kicked];
    assert_eq!(
        logic::gate_offer(&[contact("Alice", &alice)], &bob.node_id(), &chain3),
        GateOffer::Nothing
    );
    assert_eq!(
        logic::gate_offer(&[], &bob.node_id(), &[]),
        GateOffer::Nothing
    );

    // The inviter is whoever rotated me in, not the latest rotator: Bob promoted to admin adds
    // Carol; later Alice rotates again. For Carol, Bob is the inviter.
    let promoted = gate::rotate(
        &alice,
        &e2,
        e2.roster().with_member(bob.public(), Role::Admin).unwrap(),
        Reason::Rotate,
        3,
        &mut OsRng,
    )
    .unwrap()
    .verify()
    .unwrap();
    let e4 = add(&bob, &promoted, &carol, 4);
    let e5 = gate::rotate(
        &alice,
        &e4,
        e4.roster().clone(),
        Reason::Rotate,
        5,
        &mut OsRng,
    )
    .unwrap()
    .verify()
    .unwrap();
    let chain5 = vec![e1, e2, promoted, e4, e5];
    assert_eq!(
        logic::gate_offer(&[contact("Bob", &bob)], &carol.node_id(), &chain5),
        GateOffer::AutoJoin {
            inviter: bob.node_id()
        }
    );
    assert_eq!(
        logic::gate_offer(&[contact("Alice", &alice)], &carol.node_id(), &chain5),
        GateOffer::Ask {
            inviter: bob.node_id()
        }
    );
    // The founder finding their own gate again (e.g. a fresh device) joins.
    assert_eq!(
        logic::gate_offer(&[], &a, &chain5),
        GateOffer::AutoJoin { inviter: a.clone() }
    );
}

#[wasm_bindgen_test]
async fn gate_outbox_round_trip_holds_ciphertext_only() {
    use postern_app::gates::{self as g, QueuedPost};
    use postern_app::relay::RelayError;
    use postern_app::storage::{self, Storage};
    let alice = Identity::generate(&mut OsRng);
    let gid = GateId::generate(&mut OsRng);
    let rec = gate::create_genesis(&alice, &gid, 1, &mut OsRng).unwrap();
    let genesis = g::hex32(rec.verify().unwrap().hash());
    let d = g::derive(&alice, gid.as_str(), &genesis, &[rec]).unwrap();
    let message = d
        .keyring
        .seal(&alice, b"queued secret words", 5, &mut OsRng)
        .unwrap();
    let q = QueuedPost {
        gate: gid.to_string(),
        message: message.clone(),
        queued_at: 7,
    };
    let json = serde_json::to_string(&q).unwrap();
    assert!(!json.contains("queued secret words"));

    let name = format!("postern-test-{}", postern_core::dm::new_msg_id(&mut OsRng));
    let db = Storage::open(&name).await.unwrap();
    assert!(db.gate_posts().await.unwrap().is_empty());
    db.put_gate_post(&message.nonce, json.clone())
        .await
        .unwrap();
    let back = g::read_outbox(&db).await;
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].message, message);
    // The text shown while queued is re-opened (and author-verified) with my keyring.
    let shown = g::opened(gid.as_str(), 0, &d, &back[0].message).unwrap();
    assert_eq!(
        (shown.body.as_str(), shown.sender.as_str()),
        ("queued secret words", alice.node_id().as_str())
    );
    // The test hook's view of the store: the opened record under its per-post key.
    let rows = db.opened_records("meta").await.unwrap();
    let key = format!("gate_outbox/{}", message.nonce);
    assert!(rows.iter().any(|(k, v)| *k == key && v.as_str() == json));
    assert!(db.opened_records("vault").await.is_err());
    db.delete_gate_post(&message.nonce).await.unwrap();
    assert!(db.gate_posts().await.unwrap().is_empty());
    db.close();
    storage::delete_database(&name).await.unwrap();

    // Which refusals drop a queued post and which keep it for a retry.
    let api = |status: u16, code: &str| RelayError::Api {
        status,
        code: code.into(),
        detail: String::new(),
    };
    assert!(logic::is_permanent_gate_post_error(&api(
        422,
        "invalid_message"
    )));
    assert!(logic::is_permanent_gate_post_error(&api(
        413,
        "payload_too_large"
    )));
    assert!(!logic::is_permanent_gate_post_error(&api(
        409,
        "unknown_epoch"
    )));
    assert!(!logic::is_permanent_gate_post_error(&api(
        404,
        "unknown_gate"
    )));
    assert!(!logic::is_permanent_gate_post_error(&api(
        429,
        "rate_limited"
    )));
    assert!(!logic::is_permanent_gate_post_error(
        &RelayError::Unreachable("down".into())
    ));
}

/// The gate outbox is one record per post: a post added by one tab and a post settled by
/// another never overwrite each other.
#[wasm_bindgen_test]
async fn gate_outbox_per_post_records() {
    use postern_app::gates::{self as g, QueuedPost};
    use postern_app::storage::{self, Storage, SyncHead};
    let alice = Identity::generate(&mut OsRng);
    let gid = GateId::generate(&mut OsRng);
    let rec = gate::create_genesis(&alice, &gid, 1, &mut OsRng).unwrap();
    let genesis = g::hex32(rec.verify().unwrap().hash());
    let d = g::derive(&alice, gid.as_str(), &genesis, &[rec]).unwrap();
    let post = |t: u64| QueuedPost {
        gate: gid.to_string(),
        message: d.keyring.seal(&alice, b"words", t, &mut OsRng).unwrap(),
        queued_at: t,
    };
    let (p1, p2, p3, p4) = (post(1), post(2), post(3), post(4));
    let nonces = |v: &[QueuedPost]| {
        v.iter()
            .map(|p| p.message.nonce.clone())
            .collect::<Vec<_>>()
    };

    let name = format!("postern-test-{}", postern_core::dm::new_msg_id(&mut OsRng));
    let leader = Storage::open(&name).await.unwrap();
    let follower = Storage::open(&name).await.unwrap();
    // Other meta records are never taken for posts.
    leader.put_sync_head(&SyncHead::default()).await.unwrap();
    assert!(g::read_outbox(&leader).await.is_empty());

    // Posts queued by either connection are all there, oldest first.
    let put = |p: &QueuedPost| serde_json::to_string(p).unwrap();
    leader
        .put_gate_post(&p2.message.nonce, put(&p2))
        .await
        .unwrap();
    follower
        .put_gate_post(&p1.message.nonce, put(&p1))
        .await
        .unwrap();
    follower
        .put_gate_post(&p3.message.nonce, put(&p3))
        .await
        .unwrap();
    assert_eq!(
        nonces(&g::read_outbox(&follower).await),
        nonces(&[p1.clone(), p2.clone(), p3.clone()])
    );
    assert_eq!(leader.gate_posts().await.unwrap().len(), 3);

    // The leader settles p1 while the follower queues p4: both stick.
    leader.delete_gate_post(&p1.message.nonce).await.unwrap();
    follower
        .put_gate_post(&p4.message.nonce, put(&p4))
        .await
        .unwrap();
    leader.delete_gate_post(&p3.message.nonce).await.unwrap();
    assert_eq!(nonces(&g::read_outbox(&leader).await), nonces(&[p2, p4]));
    assert!(!leader
        .gate_posts()
        .await
        .unwrap()
        .iter()
        .any(|j| j.contains("words")));
    leader.close();
    follower.close();
    storage::delete_database(&name).await.unwrap();
}
