//! Browser tests of the app's non-UI logic (real IndexedDB in headless Chromium).
//! Run: `CHROMEDRIVER=/usr/bin/chromedriver cargo test -p postern-app --target wasm32-unknown-unknown`
#![cfg(target_arch = "wasm32")]

use postern_app::model::contacts::Contact;
use postern_app::model::delivery::{self, RelayError};
use postern_app::model::messages::{self, Direction, OutState, OutboxEntry, StoredMessage};
use postern_app::model::wording;
use postern_app::platform::idb::{self as storage, Storage, DB_VERSION};
use postern_core::api::codes;
use postern_core::Identity;
use rand_core::OsRng;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn scratch_db() -> String {
    format!("postern-test-{}", postern_core::dm::new_msg_id(&mut OsRng))
}

fn msg(direction: Direction, peer: &str, id: &str, ts: u64, body: &str) -> StoredMessage {
    StoredMessage {
        direction,
        msg_id: id.into(),
        peer_node_id: peer.into(),
        peer_identity: format!("postern1.{peer}.x.y"),
        timestamp: ts,
        stored_at: ts,
        body: body.into(),
        state: OutState::Sent,
        error: None,
    }
}

#[wasm_bindgen_test]
async fn storage_round_trip_and_never_overwrites_identity() {
    let name = scratch_db();
    let db = Storage::open(&name).await.unwrap();
    assert_eq!(db.load_identity_secret().await.unwrap(), None);

    let id = Identity::generate(&mut OsRng);
    let secret = id.export_secret();
    assert_eq!(
        *db.save_identity_secret_if_absent(&secret).await.unwrap(),
        *secret
    );
    // A second identity must not replace the stored one.
    let other = Identity::generate(&mut OsRng).export_secret();
    assert_eq!(
        *db.save_identity_secret_if_absent(&other).await.unwrap(),
        *secret
    );

    let bob = Identity::generate(&mut OsRng).public();
    let c = Contact {
        name: "Bob".into(),
        node_id: bob.node_id().into(),
        identity: bob.to_string(),
        added_at: 7,
        verified: None,
        key_change: None,
    };
    db.put_contact(&c).await.unwrap();
    let m_in = msg(
        Direction::In,
        bob.node_id(),
        "aaaaaaaa01",
        20,
        "hi ✉ there\nline 2",
    );
    let m_out = msg(Direction::Out, bob.node_id(), "aaaaaaaa01", 10, "hello");
    db.put_message(&m_in).await.unwrap();
    db.put_message(&m_out).await.unwrap();
    db.put_message(&m_in).await.unwrap(); // idempotent
    assert!(db.has_message(&m_in.key()).await.unwrap());
    assert!(!db.has_message("in:nobody:zzzzzzzz").await.unwrap());
    db.close();

    // Everything survives a reload (fresh connection).
    let db = Storage::open(&name).await.unwrap();
    let back = Identity::import_secret(&db.load_identity_secret().await.unwrap().unwrap()).unwrap();
    assert_eq!(back.public(), id.public());
    assert_eq!(db.contacts().await.unwrap(), vec![c]);
    assert_eq!(db.messages().await.unwrap(), vec![m_out, m_in]);
    db.close();
    storage::delete_database(&name).await.unwrap();
}

#[wasm_bindgen_test]
async fn outbox_queue_settle_and_survive_reload() {
    let name = scratch_db();
    let db = Storage::open(&name).await.unwrap();
    let alice = Identity::generate(&mut OsRng);
    let bob = Identity::generate(&mut OsRng).public();
    let (env, local) = messages::seal_text(&alice, &bob, "queued secret text", 50, 50_000).unwrap();
    assert_eq!(local.state, OutState::Queued);
    let entry = OutboxEntry {
        msg_id: local.msg_id.clone(),
        peer_node_id: local.peer_node_id.clone(),
        envelope: env,
        queued_at: local.stored_at,
    };
    // The outbox holds only the sealed envelope, never the plaintext.
    assert!(!serde_json::to_string(&entry)
        .unwrap()
        .contains("queued secret text"));
    db.queue_outgoing(&local, &entry).await.unwrap();
    db.queue_outgoing(&local, &entry).await.unwrap(); // idempotent
    db.close();

    let db = Storage::open(&name).await.unwrap();
    assert_eq!(db.outbox().await.unwrap(), vec![entry.clone()]);
    assert_eq!(db.messages().await.unwrap(), vec![local.clone()]);

    // A retryable refusal keeps it queued with the error.
    let mut refused = local.clone();
    refused.error = Some("Bob has not opened Postern".into());
    db.settle_outgoing(&refused).await.unwrap();
    assert_eq!(db.outbox().await.unwrap(), vec![entry]);
    assert_eq!(db.messages().await.unwrap(), vec![refused]);

    let mut sent = local.clone();
    sent.state = OutState::Sent;
    db.settle_outgoing(&sent).await.unwrap();
    assert_eq!(db.outbox().await.unwrap(), vec![]);
    db.close();
    let db = Storage::open(&name).await.unwrap();
    assert_eq!(db.messages().await.unwrap(), vec![sent]);
    db.close();
    storage::delete_database(&name).await.unwrap();
}

#[wasm_bindgen_test]
async fn upgrade_from_v1_keeps_data() {
    use indexed_db_futures::database::Database;
    use indexed_db_futures::prelude::*;
    use indexed_db_futures::transaction::TransactionMode;
    const { assert!(DB_VERSION >= 2) };
    let name = scratch_db();
    // A version-1 database as the first release wrote it (no `state` field on messages).
    let legacy = r#"{"direction":"out","msg_id":"bbbbbbbb01","peer_node_id":"!sb_00","peer_identity":"postern1.x","timestamp":5,"stored_at":5,"body":"old"}"#;
    let v1 = Database::open(name.as_str())
        .with_version(1u32)
        .with_on_upgrade_needed(|_e, db| {
            for s in ["meta", "contacts", "messages"] {
                db.create_object_store(s).build()?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let tx = v1
        .transaction("messages")
        .with_mode(TransactionMode::Readwrite)
        .build()
        .unwrap();
    tx.object_store("messages")
        .unwrap()
        .put(legacy.to_string())
        .with_key("out:!sb_00:bbbbbbbb01".to_string())
        .primitive()
        .unwrap();
    tx.commit().await.unwrap();
    v1.close();

    let db = Storage::open(&name).await.unwrap();
    let ms = db.messages().await.unwrap();
    assert_eq!(ms.len(), 1);
    assert_eq!((ms[0].body.as_str(), ms[0].state), ("old", OutState::Sent));
    assert_eq!(db.outbox().await.unwrap(), vec![]);
    db.close();
    storage::delete_database(&name).await.unwrap();
}

#[wasm_bindgen_test]
fn outbox_backoff_and_error_classes() {
    // Core's rule: base · 2^(n−1), capped; Retry-After wins when longer.
    assert_eq!(
        delivery::outbox_retry_delay_s(1, 0),
        delivery::OUTBOX_BACKOFF_BASE_S
    );
    assert_eq!(
        delivery::outbox_retry_delay_s(2, 0),
        2 * delivery::OUTBOX_BACKOFF_BASE_S
    );
    assert_eq!(
        delivery::outbox_retry_delay_s(60, 0),
        delivery::OUTBOX_BACKOFF_CAP_S
    );
    assert_eq!(delivery::outbox_retry_delay_s(1, 1000), 1000);
    let api = |code: &str| RelayError::Api {
        status: 400,
        code: code.into(),
        detail: String::new(),
    };
    assert!(delivery::is_permanent_send_error(&api(
        codes::PAYLOAD_TOO_LARGE
    )));
    assert!(delivery::is_permanent_send_error(&api(codes::BAD_REQUEST)));
    for retry in [
        codes::RECIPIENT_UNKNOWN,
        codes::SENDER_CAP_REACHED,
        codes::MAILBOX_FULL,
        codes::RATE_LIMITED,
        codes::INTERNAL,
    ] {
        assert!(!delivery::is_permanent_send_error(&api(retry)), "{retry}");
    }
    assert!(!delivery::is_permanent_send_error(
        &RelayError::Unreachable("x".into())
    ));
    let q = wording::explain_queued();
    assert!(
        q.contains("queued") && !q.to_lowercase().contains("sent"),
        "{q}"
    );
}

#[wasm_bindgen_test]
async fn gate_chain_invite_removal_and_storage_v2_upgrade() {
    use indexed_db_futures::database::Database;
    use indexed_db_futures::prelude::*;
    use postern_app::model::gates;
    use postern_app::model::gates::{StoredGate, StoredGateMessage};
    use postern_core::gate::{self, GateId, Reason, Role};

    // Invite codes.
    let alice = Identity::generate(&mut OsRng);
    let carol = Identity::generate(&mut OsRng);
    let gid = GateId::generate(&mut OsRng);
    let g1 = gate::create_genesis(&alice, &gid, 10, &mut OsRng).unwrap();
    let e1 = g1.verify().unwrap();
    let genesis = gates::hex32(e1.hash());
    let code = gates::invite_code(gid.as_str(), &genesis);
    assert_eq!(
        gates::parse_invite(&code).unwrap(),
        (gid.to_string(), genesis.clone())
    );
    assert!(gates::parse_invite("postern-gate1.nothex.00").is_err());
    assert!(gates::parse_invite("hello").is_err());

    // Carol joins at epoch 2, is removed at epoch 3.
    let r2 = e1
        .roster()
        .with_member(carol.public(), Role::Member)
        .unwrap();
    let g2 = gate::rotate(&alice, &e1, r2, Reason::Join, 11, &mut OsRng).unwrap();
    let e2 = g2.verify().unwrap();
    let r3 = e2.roster().without_member(&carol.node_id()).unwrap();
    let g3 = gate::rotate(&alice, &e2, r3, Reason::Kick, 12, &mut OsRng).unwrap();
    let chain = vec![g1.clone(), g2.clone(), g3.clone()];
    let d = gates::derive(&carol, gid.as_str(), &genesis, &chain).unwrap();
    assert_eq!(d.removed_at, Some(3));
    assert_eq!(d.head().number(), 3);
    assert!(d.keyring.key(2).is_some() && d.keyring.key(3).is_none());
    let d = gates::derive(&alice, gid.as_str(), &genesis, &chain).unwrap();
    assert_eq!(d.removed_at, None);
    // A wrong genesis hash (another gate's invite) or a broken chain is refused.
    assert!(gates::derive(&alice, gid.as_str(), &"0".repeat(64), &chain).is_err());
    assert!(gates::derive(&alice, gid.as_str(), &genesis, &[g1.clone(), g3.clone()]).is_err());

    // A version-2 database upgrades to the gate stores and keeps its data.
    let name = scratch_db();
    let v2 = Database::open(name.as_str())
        .with_version(2u32)
        .with_on_upgrade_needed(|_e, db| {
            for s in ["meta", "contacts", "messages", "outbox"] {
                db.create_object_store(s).build()?;
            }
            Ok(())
        })
        .await
        .unwrap();
    v2.close();
    let db = Storage::open(&name).await.unwrap();
    let sg = StoredGate {
        gate_id: gid.to_string(),
        name: "Ops".into(),
        genesis_hash: genesis.clone(),
        after: 7,
        added_at: 1,
        alarm: None,
        hidden: Default::default(),
        invited_by: None,
    };
    db.put_gate(&sg).await.unwrap();
    for r in &chain {
        db.put_gate_epoch(r).await.unwrap();
    }
    let m = StoredGateMessage {
        gate: gid.to_string(),
        seq: 7,
        epoch: 2,
        sender: alice.node_id(),
        timestamp: 11,
        body: "hi".into(),
        nonce: String::new(),
        counter: None,
        stream: None,
        missing: 0,
    };
    db.put_gate_message(&m).await.unwrap();
    db.close();
    let db = Storage::open(&name).await.unwrap();
    assert_eq!(db.gates().await.unwrap(), vec![sg]);
    assert_eq!(db.gate_epochs().await.unwrap(), chain);
    assert_eq!(db.gate_messages().await.unwrap(), vec![m]);
    db.close();
    storage::delete_database(&name).await.unwrap();
}

#[wasm_bindgen_test]
async fn delivered_state_persists_and_queries_cover_unsettled_sent_messages() {
    use postern_core::api::dm::MAX_STATUS_IDS;
    let bob = Identity::generate(&mut OsRng).node_id();
    let carol = Identity::generate(&mut OsRng).node_id();
    let mut ms: Vec<StoredMessage> = (0..MAX_STATUS_IDS + 1)
        .map(|i| msg(Direction::Out, &bob, &format!("msg-{i:04}"), i as u64, "x"))
        .collect();
    ms.push(msg(Direction::Out, &carol, "msg-c001", 1, "x"));
    let mut queued = msg(Direction::Out, &carol, "msg-c002", 1, "x");
    queued.state = OutState::Queued;
    let mut done = msg(Direction::Out, &carol, "msg-c003", 1, "x");
    done.state = OutState::Delivered;
    ms.extend([queued, done, msg(Direction::In, &carol, "msg-c004", 1, "x")]);
    let skip: std::collections::HashSet<String> = [ms[0].key()].into();
    let qs = delivery::delivery_queries(&ms, &skip);
    // Bob's 100 remaining sent ids in one batch, Carol's only sent one in another.
    let shape: Vec<(&str, usize)> = qs
        .iter()
        .map(|q| (q.recipient_id.as_str(), q.msg_ids.len()))
        .collect();
    let mut expect = vec![(bob.as_str(), MAX_STATUS_IDS), (carol.as_str(), 1)];
    expect.sort();
    assert_eq!(shape, expect);
    assert!(qs
        .iter()
        .all(|q| q.validate().is_ok() && !q.msg_ids.contains(&"msg-0000".to_string())));
    assert!(
        delivery::delivery_queries(&ms[MAX_STATUS_IDS + 2..], &skip).is_empty(),
        "nothing unsettled, no query"
    );
    assert_eq!(delivery::delivery_check_delay_s(0), 0);
    assert_eq!(
        delivery::delivery_check_delay_s(1),
        delivery::DELIVERY_CHECK_BASE_S
    );
    assert_eq!(
        delivery::delivery_check_delay_s(50),
        delivery::DELIVERY_CHECK_CAP_S
    );

    // Delivered is stored sealed like every state and survives a reopen.
    let name = scratch_db();
    let db = Storage::open(&name).await.unwrap();
    let mut m = msg(Direction::Out, &bob, "msg-d001", 1, "hello");
    db.put_message(&m).await.unwrap();
    m.state = OutState::Delivered;
    db.settle_outgoing(&m).await.unwrap();
    db.close();
    let db = Storage::open(&name).await.unwrap();
    assert_eq!(db.messages().await.unwrap(), vec![m.clone()]);
    db.close();
    storage::delete_database(&name).await.unwrap();

    // A multi-tab reload never moves a delivered message back to sent.
    let mut stale = m.clone();
    stale.state = OutState::Sent;
    let (merged, _) =
        postern_app::model::messages::merge_reload(&[m.clone()], &[], vec![stale], vec![]);
    assert_eq!(merged[0].state, OutState::Delivered);
}
