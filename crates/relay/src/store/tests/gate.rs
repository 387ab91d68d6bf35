//! Store tests of gate replication: parking, forwarding and convergence in every order.
use rusqlite::params;

use super::super::*;
use super::{outbox, outbox_rows};

#[test]
fn out_of_order_peer_gate_items_are_parked_then_applied_and_forwarded() {
    use postern_core::gate::{self, create_genesis, rotate, GateId, Reason, Role};
    use postern_core::Identity;
    use rand_core::OsRng;
    let mut s = Store::open_in_memory().unwrap();
    s.set_outbox(outbox(&["http://a", "http://b"], 100));
    let [alice, bob] = [(); 2].map(|_| Identity::generate(&mut OsRng));
    let gid = GateId::generate(&mut OsRng);
    let r1 = create_genesis(&alice, &gid, 10, &mut OsRng).unwrap();
    let e1 = r1.verify().unwrap();
    let r2 = rotate(
        &alice,
        &e1,
        e1.roster().with_member(bob.public(), Role::Member).unwrap(),
        Reason::Join,
        10,
        &mut OsRng,
    )
    .unwrap();
    let e2 = r2.verify().unwrap();
    // Epoch 3 rotated by Bob, a plain member: parked (its predecessor is missing), then refused.
    let mut r3 = rotate(
        &alice,
        &e2,
        e2.roster().clone(),
        Reason::Rotate,
        10,
        &mut OsRng,
    )
    .unwrap();
    r3.rotator = bob.node_id();
    r3.sign(&bob).unwrap();
    let key = gate::EpochKey::unlock(&bob, &e2).unwrap();
    let m2 = gate::seal(&bob, &key, b"hi", 10, &mut OsRng).unwrap();
    let m2json = m2.to_json().unwrap();
    let g = gid.as_str();

    assert_eq!(
        s.gate_peer_epoch(&r2, None, 20, "http://a").unwrap(),
        PeerGateOutcome::Parked { epoch: 2 }
    );
    assert_eq!(
        s.gate_peer_epoch(&r2, None, 20, "http://a").unwrap(),
        PeerGateOutcome::Parked { epoch: 2 }
    );
    assert_eq!(
        s.gate_peer_epoch(&r3, None, 20, "http://a").unwrap(),
        PeerGateOutcome::Parked { epoch: 3 }
    );
    assert_eq!(
        s.gate_peer_message(g, 2, &m2.nonce, &m2json, 20, "http://a")
            .unwrap(),
        PeerGateOutcome::Parked { epoch: 2 }
    );
    assert_eq!(s.gate_parked_len().unwrap(), 3);
    // A parked record whose own signature is broken is refused outright.
    let mut broken = r3.clone();
    broken.signature = postern_core::b64::encode_std(&[0u8; 64]);
    assert!(matches!(
        s.gate_peer_epoch(&broken, None, 20, "http://a").unwrap(),
        PeerGateOutcome::Refused(_)
    ));
    assert!(outbox_rows(&s, "http://a").is_empty() && outbox_rows(&s, "http://b").is_empty());

    // Genesis arrives from a: it, epoch 2 and the message are applied; Bob's epoch 3 is refused.
    assert_eq!(
        s.gate_peer_epoch(&r1, None, 30, "http://a").unwrap(),
        PeerGateOutcome::Accepted { epoch: 1 }
    );
    assert_eq!(s.gate_parked_len().unwrap(), 0);
    let recs = s
        .conn
        .prepare("SELECT COUNT(*) FROM gate_epochs WHERE gate = ?1")
        .unwrap()
        .query_row(params![g], |r| r.get::<_, i64>(0))
        .unwrap();
    assert_eq!(recs, 2);
    // Forwarded to b only (they came from a), in order: records, then the message.
    assert!(outbox_rows(&s, "http://a").is_empty());
    let to_b = outbox_rows(&s, "http://b");
    assert_eq!(to_b.len(), 3);
    let req: postern_core::api::gate::PeerPushRequest = serde_json::from_str(&to_b[1]).unwrap();
    assert_eq!(req.record.unwrap(), r2);
    assert!(to_b[2].contains(&m2.nonce));
    // Re-delivery: duplicates, nothing queued.
    assert_eq!(
        s.gate_peer_epoch(&r1, None, 40, "http://b").unwrap(),
        PeerGateOutcome::Duplicate { epoch: 1 }
    );
    assert_eq!(
        s.gate_peer_message(g, 2, &m2.nonce, &m2json, 40, "http://b")
            .unwrap(),
        PeerGateOutcome::Duplicate { epoch: 2 }
    );
    // The forged epoch 3 at the right number: refused by core, not queued.
    assert!(matches!(
        s.gate_peer_epoch(&r3, None, 40, "http://b").unwrap(),
        PeerGateOutcome::Refused(gate::ChainError::NotAdmin { .. })
    ));
    assert_eq!(outbox_rows(&s, "http://b").len(), 3);
    // A client's deposit is queued for both peers; one sealed for the older epoch 1 is stale.
    let m1 = gate::seal(
        &alice,
        &gate::EpochKey::unlock(&alice, &e1).unwrap(),
        b"x",
        10,
        &mut OsRng,
    )
    .unwrap();
    assert_eq!(
        s.gate_deposit(g, 1, &m1.nonce, &m1.to_json().unwrap(), 50)
            .unwrap(),
        GateDeposit::StaleEpoch { head: 2 }
    );
    let m2a = gate::seal(
        &alice,
        &gate::EpochKey::unlock(&alice, &e2).unwrap(),
        b"x",
        10,
        &mut OsRng,
    )
    .unwrap();
    assert!(matches!(
        s.gate_deposit(g, 2, &m2a.nonce, &m2a.to_json().unwrap(), 50)
            .unwrap(),
        GateDeposit::Stored { .. }
    ));
    assert_eq!(
        (
            outbox_rows(&s, "http://a").len(),
            outbox_rows(&s, "http://b").len()
        ),
        (1, 4)
    );
}

#[test]
fn parking_is_bounded_and_expires() {
    let mut s = Store::open_in_memory().unwrap();
    let tx = s.conn.transaction().unwrap();
    for i in 0..GATE_PARK_MAX_PER_GATE {
        assert!(Store::gate_park_tx(
            &tx,
            "g",
            "message",
            2,
            &format!("n{i}"),
            "{}",
            "http://a",
            100
        )
        .unwrap());
    }
    assert!(!Store::gate_park_tx(&tx, "g", "message", 2, "over", "{}", "http://a", 100).unwrap());
    // Re-parking a held item is fine; another gate still has room.
    assert!(Store::gate_park_tx(&tx, "g", "message", 2, "n0", "{}", "http://a", 100).unwrap());
    assert!(Store::gate_park_tx(&tx, "h", "message", 2, "n0", "{}", "http://a", 100).unwrap());
    // Past the TTL the old ones are pruned.
    assert!(Store::gate_park_tx(
        &tx,
        "g",
        "message",
        2,
        "late",
        "{}",
        "http://a",
        101 + GATE_PARK_TTL_SECS
    )
    .unwrap());
    tx.commit().unwrap();
    assert_eq!(s.gate_parked_len().unwrap(), 1);
}

/// Every delivery order of a gate's items (three epochs, two messages and a non-admin
/// forgery of epoch 3) from a peer ends in the same state: the real chain and messages
/// stored and forwarded once each, nothing parked, the forgery nowhere.
#[test]
fn every_delivery_order_converges() {
    use postern_core::gate::{self, create_genesis, rotate, GateId, Reason, Role};
    use postern_core::Identity;
    use rand_core::OsRng;
    let [alice, bob] = [(); 2].map(|_| Identity::generate(&mut OsRng));
    let gid = GateId::generate(&mut OsRng);
    let g = gid.as_str();
    let r1 = create_genesis(&alice, &gid, 10, &mut OsRng).unwrap();
    let e1 = r1.verify().unwrap();
    let r2 = rotate(
        &alice,
        &e1,
        e1.roster().with_member(bob.public(), Role::Member).unwrap(),
        Reason::Join,
        10,
        &mut OsRng,
    )
    .unwrap();
    let e2 = r2.verify().unwrap();
    let r3 = rotate(
        &alice,
        &e2,
        e2.roster().clone(),
        Reason::Rotate,
        10,
        &mut OsRng,
    )
    .unwrap();
    let e3 = r3.verify().unwrap();
    let mut forged = rotate(
        &alice,
        &e2,
        e2.roster().clone(),
        Reason::Rotate,
        10,
        &mut OsRng,
    )
    .unwrap();
    forged.rotator = bob.node_id();
    forged.sign(&bob).unwrap();
    let m1 = gate::seal(
        &alice,
        &gate::EpochKey::unlock(&alice, &e1).unwrap(),
        b"1",
        10,
        &mut OsRng,
    )
    .unwrap();
    let m3 = gate::seal(
        &bob,
        &gate::EpochKey::unlock(&bob, &e3).unwrap(),
        b"3",
        10,
        &mut OsRng,
    )
    .unwrap();
    enum Item<'a> {
        R(&'a postern_core::gate::EpochRecord),
        M(&'a postern_core::gate::GateMessage),
    }
    let items = [
        Item::R(&r1),
        Item::R(&r2),
        Item::R(&r3),
        Item::R(&forged),
        Item::M(&m1),
        Item::M(&m3),
    ];
    // All permutations of 0..6 (Heap's algorithm).
    let mut perm: Vec<usize> = (0..items.len()).collect();
    let mut orders = vec![perm.clone()];
    let mut c = vec![0usize; perm.len()];
    let mut i = 0;
    while i < perm.len() {
        if c[i] < i {
            perm.swap(if i % 2 == 0 { 0 } else { c[i] }, i);
            orders.push(perm.clone());
            c[i] += 1;
            i = 0;
        } else {
            c[i] = 0;
            i += 1;
        }
    }
    assert_eq!(orders.len(), 720);
    for order in orders {
        let mut s = Store::open_in_memory().unwrap();
        s.set_outbox(outbox(&["http://a", "http://b"], 100));
        for &k in &order {
            match items[k] {
                Item::R(r) => {
                    s.gate_peer_epoch(r, None, 20, "http://a").unwrap();
                }
                Item::M(m) => {
                    s.gate_peer_message(
                        g,
                        m.epoch,
                        &m.nonce,
                        &m.to_json().unwrap(),
                        20,
                        "http://a",
                    )
                    .unwrap();
                }
            }
        }
        let tx = s.conn.transaction().unwrap();
        let stored = Store::gate_records(&tx, g).unwrap();
        drop(tx);
        assert_eq!(
            stored,
            vec![r1.clone(), r2.clone(), r3.clone()],
            "order {order:?}"
        );
        assert_eq!(s.gate_parked_len().unwrap(), 0, "order {order:?}");
        // The epoch-1 message is stored only if it arrived before epoch 2 could be applied
        // (both r1 and r2 here); after that it is stale (core's check_message_epoch), the same
        // rule as for a client. Parked items are re-run in epoch order, so a message parked
        // before the genesis arrived is still in time.
        let at = |k: usize| order.iter().position(|&x| x == k).unwrap();
        let m1_in_time = at(4) < at(0).max(at(1));
        let n: i64 = s
            .conn
            .query_row("SELECT COUNT(*) FROM gate_messages", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1 + i64::from(m1_in_time), "order {order:?}");
        let sent = outbox_rows(&s, "http://b");
        assert_eq!(sent.len(), 4 + usize::from(m1_in_time), "order {order:?}");
        assert!(
            sent.iter().all(|b| !b.contains(&forged.signature)),
            "order {order:?}"
        );
        assert!(outbox_rows(&s, "http://a").is_empty());
        // The pull feed is causally ordered: each record before the messages of its epoch.
        let feed = s.gate_feed_page(0, 100, 1 << 20).unwrap();
        assert_eq!(feed.len(), 4 + usize::from(m1_in_time));
        let pos = |needle: &str| feed.iter().position(|(_, b)| b.contains(needle));
        assert!(pos(&r3.signature) < pos(&m3.nonce), "order {order:?}");
        if m1_in_time {
            assert!(
                pos(&r1.signature) < pos(&m1.nonce) && pos(&m1.nonce) < pos(&r2.signature),
                "order {order:?}"
            );
        }
    }
}

/// Item 4: an epoch publish links the record to the cached verified head instead of
/// re-verifying the stored chain. Shown by damaging a stored record's signature after the head
/// was cached: the next publish is accepted (the old store re-verified every stored record on
/// each publish and failed); with a cold cache the stored chain is verified again and the
/// damage is found.
#[test]
fn epoch_publish_extends_the_cached_head_without_reverifying_the_chain() {
    use postern_core::gate::{create_genesis, rotate, GateId, Reason};
    use postern_core::Identity;
    use rand_core::OsRng;
    let mut s = Store::open_in_memory().unwrap();
    let alice = Identity::generate(&mut OsRng);
    let gid = GateId::generate(&mut OsRng);
    let mut records = vec![create_genesis(&alice, &gid, 10, &mut OsRng).unwrap()];
    for _ in 0..3 {
        let head = records.last().unwrap().verify().unwrap();
        records.push(
            rotate(
                &alice,
                &head,
                head.roster().clone(),
                Reason::Rotate,
                10,
                &mut OsRng,
            )
            .unwrap(),
        );
    }
    for r in &records[..2] {
        assert!(matches!(
            s.gate_add_epoch(r, 20).unwrap(),
            EpochOutcome::Accepted { .. }
        ));
    }
    assert_eq!(s.gate_heads_len(), 1);
    let mut damaged = records[0].clone();
    damaged.signature = postern_core::b64::encode_std(&[7u8; 64]);
    s.conn
        .execute(
            "UPDATE gate_epochs SET record = ?2 WHERE gate = ?1 AND epoch = 1",
            params![gid.as_str(), serde_json::to_string(&damaged).unwrap()],
        )
        .unwrap();
    assert_eq!(
        s.gate_add_epoch(&records[2], 30).unwrap(),
        EpochOutcome::Accepted {
            epoch: 3,
            hash: hex::encode(records[2].verify().unwrap().hash()),
            genesis_hash: hex::encode(records[0].verify().unwrap().hash()),
        }
    );
    // Cold cache (e.g. after a restart): the stored chain is verified once, and here fails.
    s.gate_heads = super::super::gate::GateHeads::default();
    assert!(s.gate_head_missing(gid.as_str()).unwrap().is_some());
    assert!(matches!(
        s.gate_add_epoch(&records[3], 40),
        Err(StoreError::Corrupt(_))
    ));
}
