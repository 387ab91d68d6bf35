//! Browser tests of the gate outbox (IndexedDB records, ciphertext only) and post refusals; the
//! gate trust rule is a native test in `model::gates`. Run: `CHROMEDRIVER=/usr/bin/chromedriver cargo test -p postern-app --target wasm32-unknown-unknown`
#![cfg(target_arch = "wasm32")]

use postern_app::model::delivery;
use postern_core::gate::{self, GateId};
use postern_core::Identity;
use rand_core::OsRng;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn gate_outbox_round_trip_holds_ciphertext_only() {
    use postern_app::gates::effects::read_outbox;
    use postern_app::model::delivery::RelayError;
    use postern_app::model::gates::{self as g, QueuedPost};
    use postern_app::platform::idb::{self as storage, Storage};
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
    let back = read_outbox(&db).await;
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
    assert!(delivery::is_permanent_gate_post_error(&api(
        422,
        "invalid_message"
    )));
    assert!(delivery::is_permanent_gate_post_error(&api(
        413,
        "payload_too_large"
    )));
    assert!(!delivery::is_permanent_gate_post_error(&api(
        409,
        "unknown_epoch"
    )));
    assert!(!delivery::is_permanent_gate_post_error(&api(
        404,
        "unknown_gate"
    )));
    assert!(!delivery::is_permanent_gate_post_error(&api(
        429,
        "rate_limited"
    )));
    assert!(!delivery::is_permanent_gate_post_error(
        &RelayError::Unreachable("down".into())
    ));
}

/// The gate outbox is one record per post: a post added by one tab and a post settled by
/// another never overwrite each other.
#[wasm_bindgen_test]
async fn gate_outbox_per_post_records() {
    use postern_app::gates::effects::read_outbox;
    use postern_app::model::chain::SyncHead;
    use postern_app::model::gates::{self as g, QueuedPost};
    use postern_app::platform::idb::{self as storage, Storage};
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
    assert!(read_outbox(&leader).await.is_empty());

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
        nonces(&read_outbox(&follower).await),
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
    assert_eq!(nonces(&read_outbox(&leader).await), nonces(&[p2, p4]));
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
