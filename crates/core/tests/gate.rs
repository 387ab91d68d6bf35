//! Private-gate tests. The same file runs natively (`cargo test`) and in headless Chromium
//! (`cargo test --target wasm32-unknown-unknown`), where `#[test]` maps to wasm_bindgen_test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use postern_core::b64;
use postern_core::gate::MAX_PENDING;
use postern_core::gate::{
    self, create_genesis, rotate, verify_epoch_chain, AddEpochError, ChainError, Epoch, EpochKey,
    EpochRecord, FormatError, GateId, GateIdError, GateKeyring, GateMessage, GateState, OpenError,
    Reason, ReceiveError, Received, RecordError, Role, Roster, RosterError, RotateError, SealError,
    UnwrapError,
};
use postern_core::gate::{BUCKETS, MAX_BODY_LEN, TAG_LEN, TRANSPORT_LOCK};
use postern_core::identity::Identity;
use rand_core::OsRng;

const T0: u64 = 1_780_000_000;

struct Scene {
    founder: Identity,
    bob: Identity,
    carol: Identity,
    gate: GateId,
    /// genesis (founder), 2: +bob, 3: +carol as admin, -bob
    records: Vec<EpochRecord>,
    epochs: Vec<Epoch>,
}

fn scene() -> Scene {
    let founder = Identity::generate(&mut OsRng);
    let bob = Identity::generate(&mut OsRng);
    let carol = Identity::generate(&mut OsRng);
    let gate = GateId::generate(&mut OsRng);
    let r1 = create_genesis(&founder, &gate, T0, &mut OsRng).unwrap();
    let mut state = GateState::from_genesis(&r1).unwrap();
    let e1 = state.head().clone();
    let roster2 = e1.roster().with_member(bob.public(), Role::Member).unwrap();
    let r2 = rotate(&founder, &e1, roster2, Reason::Join, T0 + 1, &mut OsRng).unwrap();
    let e2 = state.apply(&r2).unwrap();
    let roster3 = e2
        .roster()
        .with_member(carol.public(), Role::Admin)
        .unwrap()
        .without_member(&bob.node_id())
        .unwrap();
    let r3 = rotate(&founder, &e2, roster3, Reason::Kick, T0 + 2, &mut OsRng).unwrap();
    let e3 = state.apply(&r3).unwrap();
    Scene {
        founder,
        bob,
        carol,
        gate,
        records: vec![r1, r2, r3],
        epochs: vec![e1, e2, e3],
    }
}

impl Scene {
    fn key(&self, who: &Identity, epoch: u64) -> EpochKey {
        EpochKey::unlock(who, &self.epochs[(epoch - 1) as usize]).unwrap()
    }
    fn state_at(&self, epoch: usize) -> GateState {
        verify_epoch_chain(&self.records[..epoch]).unwrap()
    }
}

fn seal(who: &Identity, key: &EpochKey, body: &[u8]) -> GateMessage {
    gate::seal(who, key, body, T0 + 10, &mut OsRng).unwrap()
}

#[test]
fn gate_id_format() {
    let id = GateId::generate(&mut OsRng);
    assert_eq!(id.as_str().len(), 32);
    assert_eq!(GateId::parse(id.as_str()).unwrap(), id);
    for bad in [
        "",
        "ABCDEF0123456789abcdef0123456789",
        "0123",
        "g123456789abcdef0123456789abcdef",
    ] {
        assert_eq!(GateId::parse(bad), Err(GateIdError), "{bad}");
    }
    assert_eq!(GateId::parse(&"a".repeat(33)), Err(GateIdError));
}

#[test]
fn round_trip_authenticates_author_and_role() {
    let s = scene();
    let fk = s.key(&s.founder, 2);
    let bk = s.key(&s.bob, 2);
    assert_eq!(fk.secret().expose_secret(), bk.secret().expose_secret());

    let m = seal(&s.founder, &fk, b"hello bob");
    let opened = gate::open(&bk, &m).unwrap();
    assert_eq!(opened.text().unwrap(), "hello bob");
    assert_eq!(opened.member_id, s.founder.node_id());
    assert_eq!(opened.role, Role::Admin);
    assert_eq!(opened.author, s.founder.public());
    assert_eq!(opened.timestamp, T0 + 10);
    assert_eq!((opened.epoch, &opened.gate), (2, &s.gate));

    let reply = seal(&s.bob, &bk, b"hi founder");
    let opened = gate::open(&fk, &reply).unwrap();
    assert_eq!(opened.member_id, s.bob.node_id());
    assert_eq!(opened.role, Role::Member);
    assert_eq!(&opened.body[..], b"hi founder");
}

#[test]
fn payload_is_exactly_the_infonet_gate_message_fields() {
    let s = scene();
    let k = s.key(&s.founder, 3);
    let m = seal(&s.founder, &k, b"x");
    let v: serde_json::Value = serde_json::to_value(&m).unwrap();
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "ciphertext",
            "epoch",
            "format",
            "gate",
            "nonce",
            "sender_ref",
            "transport_lock"
        ]
    );
    assert_eq!(v["transport_lock"], TRANSPORT_LOCK);
    assert_eq!(v["epoch"], 3);
    assert_eq!(v["gate"], s.gate.as_str());
    assert_eq!(b64::decode_std(&m.nonce).unwrap().len(), 16);
    m.validate().unwrap();
    let json = m.to_json().unwrap();
    assert_eq!(GateMessage::from_json(&json).unwrap(), m);
    // The relay-visible payload names neither the author nor its keys.
    assert!(!json.contains(&s.founder.node_id()));
    assert!(!json.contains(&b64::encode_std(s.founder.verifying_key().as_bytes())));
    // sender_ref is fresh per message.
    let m2 = seal(&s.founder, &k, b"x");
    assert_ne!(m.sender_ref, m2.sender_ref);
    assert_ne!(m.nonce, m2.nonce);
    // Unknown fields (e.g. a plaintext leak) are refused.
    let leaked = json.replacen('{', "{\"message\":\"leak\",", 1);
    assert!(GateMessage::from_json(&leaked).is_err());
}

#[test]
fn ciphertext_sizes_are_buckets_only() {
    let s = scene();
    let k = s.key(&s.founder, 1);
    for len in [0usize, 1, 83, 84, 500, 2000, MAX_BODY_LEN] {
        let body = vec![0x5Au8; len];
        let m = seal(&s.founder, &k, &body);
        let ct = b64::decode_std(&m.ciphertext).unwrap();
        assert!(
            BUCKETS.iter().any(|b| b + TAG_LEN == ct.len()),
            "{}",
            ct.len()
        );
        assert_eq!(&gate::open(&k, &m).unwrap().body[..], &body[..]);
    }
    let a = seal(&s.founder, &k, b"a");
    let b = seal(&s.founder, &k, &[b'b'; 80]);
    assert_eq!(a.ciphertext.len(), b.ciphertext.len());
    let err = gate::seal(&s.founder, &k, &vec![0; MAX_BODY_LEN + 1], T0, &mut OsRng);
    assert_eq!(err.unwrap_err(), SealError::BodyTooLarge(MAX_BODY_LEN + 1));
}

#[test]
fn record_json_round_trip_and_hash_chain() {
    let s = scene();
    for (r, e) in s.records.iter().zip(&s.epochs) {
        let back = EpochRecord::from_json(&r.to_json().unwrap()).unwrap();
        assert_eq!(&back, r);
        assert_eq!(&back.verify().unwrap(), e);
        assert_eq!(&e.to_record(), r);
        assert_eq!(r.signed_bytes().unwrap(), e.signed_bytes());
    }
    assert_eq!(s.epochs[0].prev_hash(), &[0u8; 32]);
    assert_eq!(s.epochs[1].prev_hash(), s.epochs[0].hash());
    assert_eq!(s.epochs[2].prev_hash(), s.epochs[1].hash());
    let st = s.state_at(3);
    assert_eq!(st.epoch(), 3);
    assert_eq!(st.genesis_hash(), s.epochs[0].hash());
    assert_eq!(st.epoch_hash(2), Some(s.epochs[1].hash()));
    assert_eq!(st.epoch_hash(0), None);
    assert_eq!(st.epoch_hash(4), None);
    // Roster is sorted by member id, envelope has one slot per member.
    let ids: Vec<&str> = s.records[2]
        .roster
        .iter()
        .map(|e| e.member_id.as_str())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted);
    assert_eq!(s.records[2].envelope.len(), 2);
}

#[test]
fn tamper_every_byte_of_record_json() {
    let s = scene();
    let json = s.records[1].to_json().unwrap();
    let bytes = json.as_bytes();
    for i in 0..bytes.len() {
        let mut bad = bytes.to_vec();
        bad[i] ^= 0x01;
        let Ok(text) = String::from_utf8(bad) else {
            continue;
        };
        let res = EpochRecord::from_json(&text)
            .map_err(RecordError::from)
            .and_then(|r| r.verify());
        assert!(res.is_err(), "byte {i} ({}) accepted", bytes[i] as char);
    }
}

#[test]
fn tamper_every_signature_byte() {
    let s = scene();
    let r = &s.records[1];
    let sig = b64::decode_std(&r.signature).unwrap();
    for i in 0..sig.len() {
        for bit in [0x01u8, 0x80] {
            let mut bad = sig.clone();
            bad[i] ^= bit;
            let mut t = r.clone();
            t.signature = b64::encode_std(&bad);
            assert_eq!(
                t.verify().unwrap_err(),
                RecordError::BadSignature,
                "byte {i}"
            );
        }
    }
    let mut t = r.clone();
    t.signature = b64::encode_std(&[0u8; 63]);
    assert!(matches!(
        t.verify().unwrap_err(),
        RecordError::Format(FormatError::Malformed(_))
    ));
}

#[test]
fn tamper_every_slot_byte() {
    let s = scene();
    let r = &s.records[1];
    let bob_id = s.bob.node_id();
    let slot = &r.envelope[&bob_id];
    let nonce = b64::decode_std(&slot.nonce).unwrap();
    let ct = b64::decode_std(&slot.ct).unwrap();
    let fields: [(&str, &Vec<u8>); 2] = [("nonce", &nonce), ("ct", &ct)];
    for (name, bytes) in fields {
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            let mut t = r.clone();
            let sl = t.envelope.get_mut(&bob_id).unwrap();
            if name == "nonce" {
                sl.nonce = b64::encode_std(&bad);
            } else {
                sl.ct = b64::encode_std(&bad);
            }
            // Slots are signed: a relay or network attacker is caught by the signature.
            assert_eq!(
                t.verify().unwrap_err(),
                RecordError::BadSignature,
                "{name} {i}"
            );
            // A rotator that signs a corrupted slot is caught by the slot's AEAD.
            t.sign(&s.founder).unwrap();
            let e = t.verify().unwrap();
            assert_eq!(
                e.open_secret(&s.bob).unwrap_err(),
                UnwrapError::SlotDecrypt,
                "{name} {i}"
            );
            // The other members' slots are unaffected.
            e.open_secret(&s.founder).unwrap();
        }
    }
}

#[test]
fn slot_is_bound_to_its_context() {
    let s = scene();
    let bob_id = s.bob.node_id();
    let founder_id = s.founder.node_id();
    // Swapping two members' slots (re-signed by the rotator) fails for both.
    let mut t = s.records[1].clone();
    let a = t.envelope[&bob_id].clone();
    let b = t.envelope[&founder_id].clone();
    t.envelope.insert(bob_id.clone(), b);
    t.envelope.insert(founder_id.clone(), a);
    t.sign(&s.founder).unwrap();
    let e = t.verify().unwrap();
    assert_eq!(e.open_secret(&s.bob).unwrap_err(), UnwrapError::SlotDecrypt);
    assert_eq!(
        e.open_secret(&s.founder).unwrap_err(),
        UnwrapError::SlotDecrypt
    );
    // Changing the roster (bob's role) or created_at/reason keeps the slot only if the roster is
    // unchanged: the roster hash is bound into every slot.
    let mut t = s.records[1].clone();
    t.roster
        .iter_mut()
        .find(|e| e.member_id == bob_id)
        .unwrap()
        .role = Role::Admin;
    t.sign(&s.founder).unwrap();
    assert_eq!(
        t.verify().unwrap().open_secret(&s.bob).unwrap_err(),
        UnwrapError::SlotDecrypt
    );
    // Moving a slot to another epoch number or gate breaks it as well.
    let mut t = s.records[1].clone();
    t.prev_hash = hex::encode([7u8; 32]);
    t.sign(&s.founder).unwrap();
    assert_eq!(
        t.verify().unwrap().open_secret(&s.bob).unwrap_err(),
        UnwrapError::SlotDecrypt
    );
    let mut t = s.records[1].clone();
    t.gate = GateId::generate(&mut OsRng).to_string();
    t.sign(&s.founder).unwrap();
    assert_eq!(
        t.verify().unwrap().open_secret(&s.bob).unwrap_err(),
        UnwrapError::SlotDecrypt
    );
}

#[test]
fn tamper_signed_fields() {
    let s = scene();
    let r = &s.records[1];
    let other_gate = GateId::generate(&mut OsRng).to_string();
    let bob_id = s.bob.node_id();
    type Edit = Box<dyn Fn(&mut EpochRecord)>;
    let edits: Vec<(&str, Edit)> = vec![
        ("gate", Box::new(move |t| t.gate = other_gate.clone())),
        ("epoch", Box::new(|t| t.epoch = 3)),
        ("reason", Box::new(|t| t.reason = Reason::Rotate)),
        ("created_at", Box::new(|t| t.created_at += 1)),
        ("rotator", Box::new(move |t| t.rotator = bob_id.clone())),
        (
            "role",
            Box::new(|t| {
                for e in &mut t.roster {
                    e.role = Role::Admin;
                }
            }),
        ),
        ("roster order", Box::new(|t| t.roster.reverse())),
    ];
    for (name, edit) in edits {
        let mut t = r.clone();
        edit(&mut t);
        if name == "roster order" {
            // Order is canonicalised before signing: a reordered roster still verifies.
            assert_eq!(t.verify().unwrap().hash(), s.epochs[1].hash());
            continue;
        }
        assert_eq!(t.verify().unwrap_err(), RecordError::BadSignature, "{name}");
    }
    let ph = hex::decode(&r.prev_hash).unwrap();
    for i in 0..32 {
        let mut bad = ph.clone();
        bad[i] ^= 0x01;
        let mut t = r.clone();
        t.prev_hash = hex::encode(&bad);
        assert_eq!(
            t.verify().unwrap_err(),
            RecordError::BadSignature,
            "prev_hash {i}"
        );
    }
    // Swapping a member's X25519 key for another valid one.
    let mut t = r.clone();
    let other = Identity::generate(&mut OsRng);
    let e = t
        .roster
        .iter_mut()
        .find(|e| e.member_id == s.bob.node_id())
        .unwrap();
    e.x25519 = b64::encode_std(other.dh_public().as_bytes());
    // A bound entry (identity v2) is refused by its owner's binding before the signature check;
    // an unbound (legacy) entry by the rotator's signature.
    assert_eq!(
        t.verify().unwrap_err(),
        RecordError::RosterInvalid(RosterError::BadBinding)
    );
    let unbound = t
        .roster
        .iter_mut()
        .find(|e| e.member_id == s.bob.node_id())
        .unwrap();
    unbound.binding = None;
    assert_eq!(t.verify().unwrap_err(), RecordError::BadSignature);
    let mut t = r.clone();
    t.format = "postern-gate-epoch/2".into();
    assert_eq!(
        t.verify().unwrap_err(),
        RecordError::Format(FormatError::UnsupportedFormat)
    );
}

#[test]
fn roster_validation() {
    let s = scene();
    let r = &s.records[1];
    // Duplicate member.
    let mut t = r.clone();
    let dup = t.roster[0].clone();
    t.roster.push(dup);
    assert!(matches!(
        t.verify().unwrap_err(),
        RecordError::RosterInvalid(RosterError::DuplicateMember(_))
    ));
    // node_id not matching the key.
    let mut t = r.clone();
    t.roster[0].member_id = s.carol.node_id();
    assert_eq!(
        t.verify().unwrap_err(),
        RecordError::RosterInvalid(RosterError::NodeIdMismatch)
    );
    // Bad keys: all-zero X25519, invalid Ed25519, wrong length.
    let mut t = r.clone();
    t.roster[0].x25519 = b64::encode_std(&[0u8; 32]);
    assert_eq!(
        t.verify().unwrap_err(),
        RecordError::RosterInvalid(RosterError::BadKey)
    );
    let mut t = r.clone();
    t.roster[0].ed25519 = b64::encode_std(&[0u8; 31]);
    assert_eq!(
        t.verify().unwrap_err(),
        RecordError::RosterInvalid(RosterError::BadKey)
    );
    let mut t = r.clone();
    t.roster[0].member_id = "!sb_zz".into();
    assert_eq!(
        t.verify().unwrap_err(),
        RecordError::RosterInvalid(RosterError::BadMemberId)
    );
    // No admin left.
    let mut t = r.clone();
    for e in &mut t.roster {
        e.role = Role::Member;
    }
    assert_eq!(
        t.verify().unwrap_err(),
        RecordError::RosterInvalid(RosterError::NoAdmin)
    );
    let roster = s.epochs[1].roster();
    assert_eq!(
        roster.without_member(&s.founder.node_id()).unwrap_err(),
        RosterError::NoAdmin
    );
    assert_eq!(Roster::new(vec![]).unwrap_err(), RosterError::Empty);
    // Empty roster on the wire.
    let mut t = r.clone();
    t.roster.clear();
    assert_eq!(
        t.verify().unwrap_err(),
        RecordError::RosterInvalid(RosterError::Empty)
    );
    // Envelope must match the roster exactly.
    let mut t = r.clone();
    t.envelope.remove(&s.bob.node_id());
    assert_eq!(t.verify().unwrap_err(), RecordError::EnvelopeMismatch);
    let mut t = r.clone();
    let slot = t.envelope[&s.bob.node_id()].clone();
    t.envelope.insert(s.carol.node_id(), slot);
    assert_eq!(t.verify().unwrap_err(), RecordError::EnvelopeMismatch);
    // Rotator must be in the roster.
    let mut t = r.clone();
    t.rotator = s.carol.node_id();
    assert_eq!(t.verify().unwrap_err(), RecordError::RotatorNotInRoster);
    let roster = Roster::founder(&s.bob.public());
    let err = rotate(
        &s.founder,
        &s.epochs[1],
        roster,
        Reason::Kick,
        T0,
        &mut OsRng,
    );
    assert_eq!(err.unwrap_err(), RotateError::RotatorNotInRoster);
}

#[test]
fn non_admin_rotation_rejected() {
    let s = scene();
    let e2 = &s.epochs[1];
    // The builder refuses.
    let roster = e2
        .roster()
        .with_member(s.carol.public(), Role::Member)
        .unwrap();
    let err = rotate(&s.bob, e2, roster.clone(), Reason::Join, T0, &mut OsRng);
    assert_eq!(
        err.unwrap_err(),
        RotateError::NotAdmin {
            rotator: s.bob.node_id()
        }
    );
    // A hand-made record signed by the member is refused by the state.
    let mut rec = rotate(&s.founder, e2, roster, Reason::Join, T0, &mut OsRng).unwrap();
    rec.rotator = s.bob.node_id();
    rec.sign(&s.bob).unwrap();
    rec.verify().unwrap();
    let mut st = s.state_at(2);
    assert_eq!(
        st.apply(&rec).unwrap_err(),
        ChainError::NotAdmin {
            rotator: s.bob.node_id()
        }
    );
    // A member cannot promote itself in the record it signs.
    let promoted = e2
        .roster()
        .with_member(s.bob.public(), Role::Admin)
        .unwrap();
    let mut rec = rotate(&s.founder, e2, promoted, Reason::Rotate, T0, &mut OsRng).unwrap();
    rec.rotator = s.bob.node_id();
    rec.sign(&s.bob).unwrap();
    assert_eq!(
        st.apply(&rec).unwrap_err(),
        ChainError::NotAdmin {
            rotator: s.bob.node_id()
        }
    );
    // Carol, admin at epoch 3, can rotate from epoch 3.
    let st3 = s.state_at(3);
    let r4 = rotate(
        &s.carol,
        st3.head(),
        st3.head().roster().clone(),
        Reason::Rotate,
        T0,
        &mut OsRng,
    )
    .unwrap();
    let mut st = st3.clone();
    st.apply(&r4).unwrap();
    assert_eq!(st.epoch(), 4);
}

#[test]
fn skipped_replayed_and_forked_epochs_rejected() {
    let s = scene();
    // Skipping epoch 2.
    let mut st = s.state_at(1);
    assert_eq!(
        st.apply(&s.records[2]).unwrap_err(),
        ChainError::SkippedEpoch {
            expected: 2,
            got: 3
        }
    );
    // Replays of old records.
    let mut st = s.state_at(3);
    for (i, r) in s.records.iter().enumerate() {
        assert_eq!(
            st.apply(r).unwrap_err(),
            ChainError::ReplayedEpoch {
                epoch: i as u64 + 1
            }
        );
    }
    // A fork at epoch 2 (another valid rotation of epoch 1) after epoch 2 was accepted.
    let mut st2 = s.state_at(2);
    let fork = rotate(
        &s.founder,
        &s.epochs[0],
        s.epochs[0].roster().clone(),
        Reason::Rotate,
        T0,
        &mut OsRng,
    )
    .unwrap();
    assert_eq!(
        st2.apply(&fork).unwrap_err(),
        ChainError::ForkedEpoch { epoch: 2 }
    );
    // A correctly numbered record that links to the wrong predecessor.
    let mut st = s.state_at(2);
    let mut bad = s.records[2].clone();
    bad.prev_hash = hex::encode(s.epochs[0].hash());
    bad.sign(&s.founder).unwrap();
    assert_eq!(st.apply(&bad).unwrap_err(), ChainError::PrevHashMismatch);
    // The state is unchanged by refused records.
    assert_eq!(st.epoch(), 2);
    st.apply(&s.records[2]).unwrap();
    // Genesis rules.
    assert!(matches!(
        GateState::from_genesis(&s.records[1]),
        Err(ChainError::BadGenesis(_))
    ));
    let err = rotate(
        &s.founder,
        &s.epochs[0],
        s.epochs[0].roster().clone(),
        Reason::Genesis,
        T0,
        &mut OsRng,
    );
    assert!(matches!(err, Err(RotateError::BadGenesis(_))));
    let mut g = s.records[0].clone();
    g.reason = Reason::Join;
    g.sign(&s.founder).unwrap();
    assert!(matches!(g.verify(), Err(RecordError::BadGenesis(_))));
    let mut g = s.records[0].clone();
    g.epoch = 0;
    assert!(matches!(
        g.verify(),
        Err(RecordError::Format(FormatError::Malformed(_)))
    ));
    // A genesis listing more than the founder.
    let mut g = s.records[1].clone();
    g.epoch = 1;
    g.reason = Reason::Genesis;
    g.prev_hash = hex::encode([0u8; 32]);
    g.sign(&s.founder).unwrap();
    assert!(matches!(g.verify(), Err(RecordError::BadGenesis(_))));
}

#[test]
fn verify_whole_chain() {
    let s = scene();
    let st = verify_epoch_chain(&s.records).unwrap();
    assert_eq!(st.head(), &s.epochs[2]);
    assert!(matches!(
        verify_epoch_chain(&[]),
        Err(ChainError::BadGenesis(_))
    ));
    let gap = [s.records[0].clone(), s.records[2].clone()];
    assert_eq!(
        verify_epoch_chain(&gap).unwrap_err(),
        ChainError::SkippedEpoch {
            expected: 2,
            got: 3
        }
    );
    let swapped = [
        s.records[0].clone(),
        s.records[2].clone(),
        s.records[1].clone(),
    ];
    assert!(verify_epoch_chain(&swapped).is_err());
    let dup = [
        s.records[0].clone(),
        s.records[1].clone(),
        s.records[1].clone(),
    ];
    assert_eq!(
        verify_epoch_chain(&dup).unwrap_err(),
        ChainError::ReplayedEpoch { epoch: 2 }
    );
    // Two gates do not mix.
    let other = scene();
    let mixed = [s.records[0].clone(), other.records[1].clone()];
    assert_eq!(
        verify_epoch_chain(&mixed).unwrap_err(),
        ChainError::WrongGate
    );
}

#[test]
fn evicted_member_keeps_history_but_not_the_future() {
    let s = scene();
    let e3 = &s.epochs[2];
    assert_eq!(
        e3.open_secret(&s.bob).unwrap_err(),
        UnwrapError::NotAMember { epoch: 3 }
    );
    // Listed with other keys counts as not a member.
    let impostor = Identity::from_secrets(&[9u8; 32], &[8u8; 32]);
    assert_eq!(
        e3.open_secret(&impostor).unwrap_err(),
        UnwrapError::NotAMember { epoch: 3 }
    );

    let mut bob_ring = GateKeyring::new(s.gate.clone());
    assert!(bob_ring.add_epoch(&s.bob, &s.epochs[0]).is_err());
    bob_ring.add_epoch(&s.bob, &s.epochs[1]).unwrap();
    assert_eq!(
        bob_ring.add_epoch(&s.bob, e3).unwrap_err(),
        AddEpochError::Unwrap(UnwrapError::NotAMember { epoch: 3 })
    );
    let mut founder_ring = GateKeyring::new(s.gate.clone());
    for e in &s.epochs {
        founder_ring.add_epoch(&s.founder, e).unwrap();
    }
    let old = founder_ring
        .key(2)
        .map(|k| seal(&s.founder, k, b"epoch 2 history"))
        .unwrap();
    let new = founder_ring
        .seal(&s.founder, b"after the kick", T0, &mut OsRng)
        .unwrap();
    assert_eq!(new.epoch, 3);
    // Bob still reads epoch 2 ...
    assert_eq!(&bob_ring.open(&old).unwrap().body[..], b"epoch 2 history");
    // ... but not epoch 3, and cannot post there.
    assert_eq!(
        bob_ring.open(&new).unwrap_err(),
        OpenError::NotAMember { epoch: 3 }
    );
    assert_eq!(
        bob_ring.receive(new.clone()).unwrap_err(),
        ReceiveError::Open(OpenError::NotAMember { epoch: 3 })
    );
    assert!(bob_ring.current().is_none());
    assert_eq!(
        bob_ring.seal(&s.bob, b"x", T0, &mut OsRng).unwrap_err(),
        SealError::NotAMember { epoch: 3 }
    );
    // Bob's old key cannot open epoch-3 messages even relabelled.
    let bk2 = s.key(&s.bob, 2);
    assert_eq!(
        gate::open(&bk2, &new).unwrap_err(),
        OpenError::WrongEpoch {
            expected: 2,
            got: 3
        }
    );
    let mut relabelled = new.clone();
    relabelled.epoch = 2;
    assert_eq!(
        gate::open(&bk2, &relabelled).unwrap_err(),
        OpenError::Decrypt
    );
    // Carol (joined at 3) reads 3 but not 2.
    let mut carol_ring = GateKeyring::new(s.gate.clone());
    carol_ring.add_epoch(&s.carol, e3).unwrap();
    assert_eq!(&carol_ring.open(&new).unwrap().body[..], b"after the kick");
    assert_eq!(
        carol_ring.open(&old).unwrap_err(),
        OpenError::UnknownEpoch { epoch: 2 }
    );
    assert_eq!(
        carol_ring.receive(old).unwrap_err(),
        ReceiveError::Open(OpenError::UnknownEpoch { epoch: 2 })
    );
    // The founder reads everything.
    assert_eq!(founder_ring.epochs().collect::<Vec<_>>(), [1, 2, 3]);
}

#[test]
fn future_epoch_messages_are_buffered() {
    let s = scene();
    let mut bob_ring = GateKeyring::new(s.gate.clone());
    bob_ring.add_epoch(&s.bob, &s.epochs[1]).unwrap();
    // An epoch-4 message arrives before the rotation to 4 (which re-adds bob).
    let st3 = s.state_at(3);
    let roster4 = st3
        .head()
        .roster()
        .with_member(s.bob.public(), Role::Member)
        .unwrap();
    let r4 = rotate(&s.carol, st3.head(), roster4, Reason::Join, T0, &mut OsRng).unwrap();
    let mut st = st3.clone();
    let e4 = st.apply(&r4).unwrap();
    let k4 = EpochKey::unlock(&s.carol, &e4).unwrap();
    let m = seal(&s.carol, &k4, b"welcome back");
    assert!(matches!(
        bob_ring.receive(m.clone()).unwrap(),
        Received::Pending { epoch: 4 }
    ));
    assert!(matches!(
        bob_ring.receive(m.clone()).unwrap(),
        Received::Pending { epoch: 4 }
    ));
    assert_eq!(bob_ring.pending_len(), 1);
    // Epoch 3 (bob kicked) is locked; epoch 4 drains the queue.
    assert!(bob_ring.add_epoch(&s.bob, &s.epochs[2]).is_err());
    assert_eq!(bob_ring.pending_len(), 1);
    let drained = bob_ring.add_epoch(&s.bob, &e4).unwrap();
    assert_eq!(drained.len(), 1);
    let opened = drained[0].1.as_ref().unwrap();
    assert_eq!(opened.text().unwrap(), "welcome back");
    assert_eq!(opened.member_id, s.carol.node_id());
    assert_eq!(opened.role, Role::Admin);
    assert_eq!(bob_ring.pending_len(), 0);
    match bob_ring.receive(m).unwrap() {
        Received::Opened(o) => assert_eq!(&o.body[..], b"welcome back"),
        other => panic!("{other:?}"),
    }
    // The queue is bounded.
    let mut ring = GateKeyring::new(s.gate.clone());
    let k = s.key(&s.founder, 1);
    let template = seal(&s.founder, &k, b"q");
    for i in 0..MAX_PENDING {
        let mut m = template.clone();
        m.epoch = 10 + i as u64;
        assert!(matches!(ring.receive(m).unwrap(), Received::Pending { .. }));
    }
    let mut m = template;
    m.epoch = 5;
    assert_eq!(ring.receive(m).unwrap_err(), ReceiveError::PendingFull);
}

#[test]
fn wrong_gate_rejected() {
    let a = scene();
    let b = scene();
    let ka = a.key(&a.founder, 1);
    let kb = b.key(&b.founder, 1);
    let m = seal(&a.founder, &ka, b"gate a");
    assert_eq!(gate::open(&kb, &m).unwrap_err(), OpenError::WrongGate);
    let mut relabelled = m.clone();
    relabelled.gate = b.gate.to_string();
    assert_eq!(
        gate::open(&kb, &relabelled).unwrap_err(),
        OpenError::Decrypt
    );
    let mut ring = GateKeyring::new(b.gate.clone());
    ring.add_epoch(&b.founder, &b.epochs[0]).unwrap();
    assert_eq!(
        ring.receive(m.clone()).unwrap_err(),
        ReceiveError::Open(OpenError::WrongGate)
    );
    assert_eq!(ring.open(&m).unwrap_err(), OpenError::WrongGate);
    assert_eq!(
        ring.add_epoch(&a.founder, &a.epochs[0]).unwrap_err(),
        AddEpochError::WrongGate
    );
    let mut st = b.state_at(1);
    assert_eq!(st.apply(&a.records[1]).unwrap_err(), ChainError::WrongGate);
}

#[test]
fn tamper_every_message_byte() {
    let s = scene();
    let k = s.key(&s.founder, 2);
    let bk = s.key(&s.bob, 2);
    let m = seal(&s.founder, &k, b"tamper me");
    let ct = b64::decode_std(&m.ciphertext).unwrap();
    for i in 0..ct.len() {
        let mut bad = ct.clone();
        bad[i] ^= 0x01;
        let mut t = m.clone();
        t.ciphertext = b64::encode_std(&bad);
        assert_eq!(
            gate::open(&bk, &t).unwrap_err(),
            OpenError::Decrypt,
            "ct byte {i}"
        );
    }
    let nonce = b64::decode_std(&m.nonce).unwrap();
    for i in 0..nonce.len() {
        let mut bad = nonce.clone();
        bad[i] ^= 0x80;
        let mut t = m.clone();
        t.nonce = b64::encode_std(&bad);
        assert_eq!(
            gate::open(&bk, &t).unwrap_err(),
            OpenError::Decrypt,
            "nonce byte {i}"
        );
    }
    for i in 0..m.sender_ref.len() {
        let mut t = m.clone();
        let mut chars: Vec<u8> = t.sender_ref.into_bytes();
        chars[i] = if chars[i] == b'0' { b'1' } else { b'0' };
        t.sender_ref = String::from_utf8(chars).unwrap();
        assert_eq!(
            gate::open(&bk, &t).unwrap_err(),
            OpenError::Decrypt,
            "sender_ref {i}"
        );
    }
    let mut t = m.clone();
    t.epoch = 3;
    assert_eq!(
        gate::open(&bk, &t).unwrap_err(),
        OpenError::WrongEpoch {
            expected: 2,
            got: 3
        }
    );
    let mut t = m.clone();
    t.format = "g1".into();
    assert_eq!(
        gate::open(&bk, &t).unwrap_err(),
        OpenError::Format(FormatError::UnsupportedFormat)
    );
    let mut t = m.clone();
    t.transport_lock = "meshtastic".into();
    assert!(matches!(
        gate::open(&bk, &t).unwrap_err(),
        OpenError::Format(FormatError::Malformed(_))
    ));
    let mut t = m.clone();
    t.epoch = 0;
    assert!(matches!(
        t.validate().unwrap_err(),
        FormatError::Malformed(_)
    ));
    let mut t = m.clone();
    t.gate = String::new();
    assert_eq!(
        t.validate().unwrap_err(),
        FormatError::BadGateId(GateIdError)
    );
    // Truncated / extended ciphertexts.
    for cut in [0usize, 1, 16, ct.len() - 1] {
        let mut t = m.clone();
        t.ciphertext = b64::encode_std(&ct[..cut]);
        assert!(matches!(
            gate::open(&bk, &t).unwrap_err(),
            OpenError::Format(FormatError::Malformed(_))
        ));
    }
    let mut longer = ct.clone();
    longer.push(0);
    let mut t = m;
    t.ciphertext = b64::encode_std(&longer);
    assert!(matches!(
        gate::open(&bk, &t).unwrap_err(),
        OpenError::Format(FormatError::Malformed(_))
    ));
}

#[test]
fn sender_ref_swap_and_outsiders() {
    let s = scene();
    let fk = s.key(&s.founder, 2);
    let bk = s.key(&s.bob, 2);
    let from_founder = seal(&s.founder, &fk, b"a");
    let from_bob = seal(&s.bob, &bk, b"b");
    // sender_ref is in the AAD: moving another message's pseudonym breaks decryption.
    let mut t = from_founder.clone();
    t.sender_ref = from_bob.sender_ref.clone();
    assert_eq!(gate::open(&bk, &t).unwrap_err(), OpenError::Decrypt);
    // Non-members cannot seal under an epoch key even if they got hold of it.
    assert_eq!(
        gate::seal(&s.carol, &fk, b"x", T0, &mut OsRng).unwrap_err(),
        SealError::AuthorNotInRoster
    );
    // Members can link a sender_ref to its author.
    let nonce: [u8; 16] = b64::decode_std(&from_bob.nonce)
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!(
        gate::sender_ref(&fk, &nonce, &s.bob.node_id()).unwrap(),
        from_bob.sender_ref
    );
    assert_ne!(
        gate::sender_ref(&fk, &nonce, &s.founder.node_id()).unwrap(),
        from_bob.sender_ref
    );
}

#[test]
fn debug_output_redacts_secrets() {
    let s = scene();
    let k = s.key(&s.founder, 2);
    let secret_hex = hex::encode(k.secret().expose_secret());
    let m = seal(&s.founder, &k, b"very secret body");
    let opened = gate::open(&k, &m).unwrap();
    let mut ring = GateKeyring::new(s.gate.clone());
    ring.add_epoch(&s.founder, &s.epochs[1]).unwrap();
    for dbg in [
        format!("{:?}", k.secret()),
        format!("{k:?}"),
        format!("{opened:?}"),
        format!("{ring:?}"),
        format!("{:?}", s.epochs[1]),
    ] {
        assert!(!dbg.contains(&secret_hex), "{dbg}");
        assert!(!dbg.contains("very secret body"), "{dbg}");
    }
    assert!(format!("{:?}", k.secret()).contains("redacted"));
}

#[test]
fn restored_keys_work_like_unwrapped_ones() {
    let s = scene();
    let k = s.key(&s.founder, 3);
    let stored = *k.secret().expose_secret();
    let restored = EpochKey::from_parts(&s.epochs[2], gate::EpochSecret::from_bytes(stored));
    let m = seal(&s.carol, &restored, b"restored");
    assert_eq!(&gate::open(&k, &m).unwrap().body[..], b"restored");
    let mut ring = GateKeyring::new(s.gate.clone());
    assert!(ring.insert_key(restored).unwrap().is_empty());
    assert_eq!(ring.current().unwrap().epoch(), 3);
}
