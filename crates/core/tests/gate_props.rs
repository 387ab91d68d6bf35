//! Gate property tests (native only: proptest needs std facilities the browser lacks).
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use postern_core::b64;
use postern_core::gate::{
    self, create_genesis, rotate, EpochKey, EpochRecord, GateId, GateKeyring, GateMessage,
    GateState, Reason, Role, RosterEntryRecord, SlotRecord,
};
use postern_core::identity::Identity;
use proptest::prelude::*;
use rand_core::OsRng;

fn b64_bytes(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..max).prop_map(|v| b64::encode_std(&v)),
        ".{0,40}",
    ]
}

fn roster_entry() -> impl Strategy<Value = RosterEntryRecord> {
    (
        "!sb_[0-9a-f]{0,34}",
        b64_bytes(40),
        b64_bytes(40),
        prop_oneof![Just(Role::Admin), Just(Role::Member)],
    )
        .prop_map(|(member_id, ed25519, x25519, role)| RosterEntryRecord {
            member_id,
            ed25519,
            x25519,
            role,
            binding: None,
        })
}

fn reason() -> impl Strategy<Value = Reason> {
    prop_oneof![
        Just(Reason::Genesis),
        Just(Reason::Join),
        Just(Reason::Kick),
        Just(Reason::Rotate)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn seal_open_round_trip(body in proptest::collection::vec(any::<u8>(), 0..6100), ts in any::<u64>()) {
        let founder = Identity::generate(&mut OsRng);
        let gate_id = GateId::generate(&mut OsRng);
        let r = create_genesis(&founder, &gate_id, 1, &mut OsRng).unwrap();
        let e = r.verify().unwrap();
        let key = EpochKey::unlock(&founder, &e).unwrap();
        let m = gate::seal(&founder, &key, &body, ts, &mut OsRng);
        if body.len() > gate::MAX_BODY_LEN {
            prop_assert!(m.is_err());
        } else {
            let opened = gate::open(&key, &m.unwrap()).unwrap();
            prop_assert_eq!(&opened.body[..], &body[..]);
            prop_assert_eq!(opened.timestamp, ts);
        }
    }

    #[test]
    fn gate_id_parser_never_panics(s in "\\PC{0,64}") {
        let _ = GateId::parse(&s);
    }

    #[test]
    fn random_records_never_panic(
        format in prop_oneof![Just(gate::EPOCH_FORMAT.to_string()), ".{0,24}"],
        gate_s in prop_oneof!["[0-9a-f]{32}", ".{0,40}"],
        epoch in any::<u64>(), prev_hash in prop_oneof!["[0-9a-f]{64}", ".{0,70}"],
        reason in reason(), created_at in any::<u64>(), rotator in "!sb_[0-9a-f]{0,34}",
        roster in proptest::collection::vec(roster_entry(), 0..4),
        slots in proptest::collection::vec(("!sb_[0-9a-f]{0,34}", b64_bytes(16), b64_bytes(60)), 0..4),
        signature in b64_bytes(70),
    ) {
        let envelope: BTreeMap<String, SlotRecord> =
            slots.into_iter().map(|(k, nonce, ct)| (k, SlotRecord { nonce, ct })).collect();
        let rec = EpochRecord {
            format, gate: gate_s, epoch, prev_hash, reason, created_at, rotator, roster, envelope, signature,
        };
        let me = Identity::generate(&mut OsRng);
        let _ = rec.signed_bytes();
        if let Ok(e) = rec.verify() {
            let _ = e.open_secret(&me);
        }
        let _ = GateState::from_genesis(&rec);
        let mut signed = rec.clone();
        let _ = signed.sign(&me);
        let _ = signed.verify();
    }

    #[test]
    fn random_messages_never_panic(
        gate_s in prop_oneof!["[0-9a-f]{32}", ".{0,40}"],
        ct in proptest::collection::vec(any::<u8>(), 0..800),
        nonce in b64_bytes(24), sender_ref in prop_oneof!["[0-9a-f]{32}", ".{0,40}"],
        format in prop_oneof![Just(gate::MESSAGE_FORMAT.to_string()), ".{0,20}"],
        epoch in any::<u64>(),
        lock in prop_oneof![Just(gate::TRANSPORT_LOCK.to_string()), ".{0,20}"],
    ) {
        let founder = Identity::generate(&mut OsRng);
        let gate_id = GateId::generate(&mut OsRng);
        let e = create_genesis(&founder, &gate_id, 1, &mut OsRng).unwrap().verify().unwrap();
        let key = EpochKey::unlock(&founder, &e).unwrap();
        let m = GateMessage {
            gate: gate_s, ciphertext: b64::encode_std(&ct), nonce, sender_ref, format, epoch,
            transport_lock: lock,
        };
        let _ = m.validate();
        prop_assert!(gate::open(&key, &m).is_err());
        let mut ring = GateKeyring::new(gate_id.clone());
        ring.add_epoch(&founder, &e).unwrap();
        let _ = ring.open(&m);
        let mut same_gate = m.clone();
        same_gate.gate = gate_id.to_string();
        let _ = ring.receive(same_gate);
        let _ = ring.receive(m);
    }

    #[test]
    fn random_json_never_panics(s in "\\PC{0,400}") {
        let _ = EpochRecord::from_json(&s).map(|r| r.verify());
        let _ = GateMessage::from_json(&s).map(|m| m.validate());
    }

    #[test]
    fn mutated_valid_record_json_never_panics_or_verifies(idx in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let founder = Identity::generate(&mut OsRng);
        let bob = Identity::generate(&mut OsRng);
        let gate_id = GateId::generate(&mut OsRng);
        let e1 = create_genesis(&founder, &gate_id, 1, &mut OsRng).unwrap().verify().unwrap();
        let roster = e1.roster().with_member(bob.public(), Role::Member).unwrap();
        let r2 = rotate(&founder, &e1, roster, Reason::Join, 2, &mut OsRng).unwrap();
        let mut bytes = r2.to_json().unwrap().into_bytes();
        let i = idx.index(bytes.len());
        let changed = bytes[i] != byte;
        bytes[i] = byte;
        if let Ok(s) = String::from_utf8(bytes) {
            let res = EpochRecord::from_json(&s)
                .map_err(gate::RecordError::from)
                .and_then(|r| r.verify());
            if changed {
                // Only a byte that leaves the signed content unchanged may verify (e.g. none).
                if let Ok(e) = res {
                    prop_assert_eq!(e.signed_bytes(), r2.signed_bytes().unwrap());
                }
            }
        }
    }
}
