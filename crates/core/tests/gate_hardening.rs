//! Issue 14 hardening of private gates: identity bindings in rosters, counted messages,
//! incremental verification from a cached head, the stale-epoch and pinned-chain rules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use postern_core::b64;
use postern_core::gate::{
    self, check_message_epoch, compare_chains, create_genesis, rotate, verify_epoch_chain,
    AuthorStreams, ChainError, ChainRelation, EpochKey, EpochRecord, GateId, GateState,
    MessageEpochError, Reason, RecordError, Role, RosterError, StreamMark,
};
use postern_core::identity::Identity;
use rand_core::OsRng;

const T0: u64 = 1_780_000_000;

fn two_member_gate() -> (Identity, Identity, Vec<EpochRecord>) {
    let alice = Identity::generate(&mut OsRng);
    let bob = Identity::generate(&mut OsRng);
    let gid = GateId::generate(&mut OsRng);
    let r1 = create_genesis(&alice, &gid, T0, &mut OsRng).unwrap();
    let e1 = r1.verify().unwrap();
    let roster = e1.roster().with_member(bob.public(), Role::Member).unwrap();
    let r2 = rotate(&alice, &e1, roster, Reason::Join, T0 + 1, &mut OsRng).unwrap();
    (alice, bob, vec![r1, r2])
}

/// Item 1 (gate rosters): a roster entry whose X25519 key was replaced while its owner's
/// binding signature was kept is refused, even when the rotator re-signs the record.
#[test]
fn roster_entry_with_swapped_x25519_refused() {
    let (alice, bob, records) = two_member_gate();
    let mut r2 = records[1].clone();
    let entry = r2
        .roster
        .iter_mut()
        .find(|e| e.member_id == bob.node_id())
        .unwrap();
    assert!(
        entry.binding.is_some(),
        "new rosters carry the member's binding"
    );
    let mallory = Identity::generate(&mut OsRng);
    entry.x25519 = b64::encode_std(mallory.dh_public().as_bytes());
    // The envelope still has bob's slot; re-signing by the admin does not help.
    assert_eq!(
        r2.sign(&alice).unwrap_err(),
        RecordError::RosterInvalid(RosterError::BadBinding)
    );
    assert_eq!(
        r2.verify().unwrap_err(),
        RecordError::RosterInvalid(RosterError::BadBinding)
    );
}

/// Item 7: the author's counter travels signed inside the ciphertext.
#[test]
fn counted_message_round_trip() {
    let (alice, bob, records) = two_member_gate();
    let state = verify_epoch_chain(&records).unwrap();
    let ka = EpochKey::unlock(&alice, state.head()).unwrap();
    let kb = EpochKey::unlock(&bob, state.head()).unwrap();
    let m = gate::seal_counted(&alice, &ka, b"hello", T0 + 5, 7, &mut OsRng).unwrap();
    let opened = gate::open(&kb, &m).unwrap();
    assert_eq!(opened.counter, Some(7));
    assert_eq!(opened.text().unwrap(), "hello");
    let legacy = gate::seal(&alice, &ka, b"old", T0 + 5, &mut OsRng).unwrap();
    assert_eq!(gate::open(&kb, &legacy).unwrap().counter, None);

    // Deduplicated by nonce; a relay re-serving it under another seq is one message.
    let mut streams = AuthorStreams::new();
    let nonce = b64::decode_std_array::<16>(&m.nonce).unwrap();
    assert_eq!(
        streams.observe(&opened.member_id, nonce, opened.counter),
        StreamMark::InOrder
    );
    assert_eq!(
        streams.observe(&opened.member_id, nonce, opened.counter),
        StreamMark::Duplicate
    );
    let m9 = gate::seal_counted(&alice, &ka, b"later", T0 + 6, 9, &mut OsRng).unwrap();
    let o9 = gate::open(&kb, &m9).unwrap();
    let n9 = b64::decode_std_array::<16>(&m9.nonce).unwrap();
    assert_eq!(
        streams.observe(&o9.member_id, n9, o9.counter),
        StreamMark::Gap { missing: 1 }
    );
}

/// Item 4: extending a cached head verifies only the new record.
#[test]
fn apply_verified_matches_apply() {
    let (alice, _bob, records) = two_member_gate();
    let mut cached = GateState::from_genesis(&records[0]).unwrap();
    let e2 = records[1].verify().unwrap();
    cached.apply_verified(e2.clone()).unwrap();
    let full = verify_epoch_chain(&records).unwrap();
    assert_eq!(cached.hashes(), full.hashes());
    assert_eq!(
        cached.check_next_verified(e2).unwrap_err(),
        ChainError::ReplayedEpoch { epoch: 2 }
    );
    let r3 = rotate(
        &alice,
        full.head(),
        full.head().roster().clone(),
        Reason::Rotate,
        T0 + 2,
        &mut OsRng,
    )
    .unwrap();
    assert_eq!(
        cached
            .apply_verified(r3.verify().unwrap())
            .unwrap()
            .number(),
        3
    );
}

/// Items 2 and 3 through the chain of a kick: a message for the pre-kick epoch is stale once
/// the kick is the head, and a chain that lost the kick epoch is a rollback.
#[test]
fn kick_epoch_rules() {
    let (alice, bob, mut records) = two_member_gate();
    let state = verify_epoch_chain(&records).unwrap();
    let roster = state
        .head()
        .roster()
        .without_member(&bob.node_id())
        .unwrap();
    records.push(
        rotate(
            &alice,
            state.head(),
            roster,
            Reason::Kick,
            T0 + 3,
            &mut OsRng,
        )
        .unwrap(),
    );
    let after_kick = verify_epoch_chain(&records).unwrap();
    assert_eq!(
        check_message_epoch(2, after_kick.epoch()),
        Err(MessageEpochError::Stale { epoch: 2, head: 3 })
    );
    let rolled_back = verify_epoch_chain(&records[..2]).unwrap();
    assert_eq!(
        compare_chains(after_kick.hashes(), rolled_back.hashes()),
        ChainRelation::Rollback {
            pinned_len: 3,
            fetched_len: 2
        }
    );
    assert_eq!(
        compare_chains(rolled_back.hashes(), after_kick.hashes()),
        ChainRelation::Extension { added: 1 }
    );
}
