//! The fork rule and signed tree heads: relays that append at once converge on one chain with
//! every event, re-linked events keep their authors' signatures, and a pin refuses rewritten
//! history and equivocation (native only: proptest).
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;

use postern_core::canonical::GENESIS_HASH;
use postern_core::chaingen::{author_key, sample_payload};
use postern_core::fork::{self, resolve, ForkError, Resolution, Statement, Winner};
use postern_core::head_pin::{evidence_holds, EvidenceKind, HeadPin, PinError, PinOutcome};
use postern_core::json::Value;
use postern_core::rfc9162;
use postern_core::tree_head::{self, SignedTreeHead, TreeHeadError, TreeHeadKey};
use postern_core::verify::{ChainState, VerifyOptions};
use postern_core::{sign_event, ChainEvent};
use proptest::prelude::*;

const NET: &str = "sb-testnet-0";

fn opts() -> VerifyOptions {
    VerifyOptions {
        now: 1_780_100_000,
        max_event_age_s: 0,
        batch: false,
    }
}

/// Author `a` appends its `seq`-th message onto `prev`.
fn post(a: usize, seq: u64, prev: &str, ts: u64) -> ChainEvent {
    let et = "message";
    sign_event(
        &author_key(a),
        prev,
        et,
        &sample_payload(et, seq * 100 + a as u64),
        Value::Float(ts as f64),
        seq,
    )
}

fn verifies(chain: &[ChainEvent]) -> bool {
    let (n, rej) = ChainState::new().ingest_all(chain, &opts());
    n == chain.len() && rej.is_none()
}

fn common_prefix(a: &[ChainEvent], b: &[ChainEvent]) -> usize {
    a.iter()
        .zip(b)
        .take_while(|(x, y)| x.event_id == y.event_id)
        .count()
}

/// One relay receiving another's whole chain, as a push or a pull does: extend, ignore, or
/// resolve the fork with the core rule and adopt.
fn receive(local: &mut Vec<ChainEvent>, remote: &[ChainEvent]) {
    let f = common_prefix(local, remote);
    if f == remote.len() {
        return; // we hold all of it
    }
    if f == local.len() {
        local.extend_from_slice(&remote[f..]);
        return;
    }
    match resolve(f as u64, 0, &local[f..], &remote[f..]).unwrap() {
        Resolution::Keep => {}
        Resolution::Adopt { keep, .. } => {
            let mut state = ChainState::new();
            let (n, rej) = state.ingest_all(&local[..f], &opts());
            assert!(rej.is_none() && n == f);
            let adopted = fork::adopt(&mut state, &remote[f..], &keep, &opts()).unwrap();
            assert!(adopted.dropped.is_empty(), "{:?}", adopted.dropped);
            local.truncate(f);
            local.extend(adopted.events);
        }
    }
}

#[test]
fn the_smaller_first_id_wins_on_both_sides() {
    assert_eq!(fork::winner("0a", "0b"), Winner::Ours);
    assert_eq!(fork::winner("0b", "0a"), Winner::Theirs);
}

#[test]
fn relinked_events_keep_their_signatures_and_relink_deterministically() {
    let base = post(0, 1, GENESIS_HASH, 1_780_000_000);
    let a = post(1, 1, &base.event_id, 1_780_000_001);
    let b1 = post(2, 1, &base.event_id, 1_780_000_002);
    let b2 = post(2, 2, &b1.event_id, 1_780_000_003);
    let moved = fork::relink(&[b1.clone(), b2.clone()], &a.event_id);
    assert_eq!(moved, fork::relink(&[b1.clone(), b2.clone()], &a.event_id));
    assert_eq!(moved[0].prev_hash, a.event_id);
    assert_eq!(moved[1].prev_hash, moved[0].event_id);
    assert_eq!(moved[0].timestamp, b1.timestamp);
    assert_ne!(moved[0].event_id, b1.event_id);
    assert_eq!(Statement::of(&moved[1]), Statement::of(&b2));
    assert!(verifies(&[base, a, moved[0].clone(), moved[1].clone()]));
}

#[test]
fn the_losing_side_adopts_and_drops_what_the_winner_carries() {
    let base = post(0, 1, GENESIS_HASH, 1_780_000_000);
    let x = post(1, 1, &base.event_id, 1_780_000_001);
    let y = post(2, 1, &base.event_id, 1_780_000_002);
    let (win, lose) = if x.event_id < y.event_id {
        (x, y)
    } else {
        (y, x)
    };
    // The loser's branch: its own event, then the winner's event it already re-linked earlier.
    let lose2 = fork::relink(std::slice::from_ref(&win), &lose.event_id).remove(0);
    let ours = vec![lose.clone(), lose2];
    match resolve(1, 0, &ours, std::slice::from_ref(&win)).unwrap() {
        Resolution::Adopt {
            keep,
            already_there,
        } => {
            assert_eq!(keep, vec![lose.clone()]);
            assert_eq!(already_there, 1);
        }
        Resolution::Keep => panic!("the smaller first id must win"),
    }
    assert_eq!(
        resolve(
            1,
            0,
            std::slice::from_ref(&win),
            std::slice::from_ref(&lose)
        )
        .unwrap(),
        Resolution::Keep
    );
}

#[test]
fn a_fork_below_the_signed_head_is_never_healed_by_rewriting() {
    let base = post(0, 1, GENESIS_HASH, 1_780_000_000);
    let x = post(1, 1, &base.event_id, 1_780_000_001);
    let y = post(2, 1, &base.event_id, 1_780_000_002);
    let (win, lose) = if x.event_id < y.event_id {
        (x, y)
    } else {
        (y, x)
    };
    assert_eq!(
        resolve(1, 2, &[lose], &[win]),
        Err(ForkError::BelowSettled {
            fork_at: 1,
            settled: 2
        })
    );
}

#[test]
fn unlinked_or_empty_branches_are_refused() {
    let base = post(0, 1, GENESIS_HASH, 1_780_000_000);
    let x = post(1, 1, &base.event_id, 1_780_000_001);
    let stray = post(1, 2, GENESIS_HASH, 1_780_000_002);
    assert_eq!(
        resolve(1, 0, &[], std::slice::from_ref(&x)),
        Err(ForkError::NoFork)
    );
    assert!(matches!(
        resolve(1, 0, std::slice::from_ref(&x), std::slice::from_ref(&x)),
        Err(ForkError::SameFirstEvent(_))
    ));
    let other = post(2, 1, &base.event_id, 1_780_000_003);
    assert_eq!(
        resolve(1, 0, &[x, stray], &[other]),
        Err(ForkError::Unlinked { index: 1 })
    );
}

#[test]
fn an_invalid_winning_branch_is_not_adopted() {
    let base = post(0, 1, GENESIS_HASH, 1_780_000_000);
    let mut bad = post(1, 1, &base.event_id, 1_780_000_001);
    bad.payload.insert("message", Value::Str("forged".into()));
    let mut state = ChainState::new();
    state.ingest(&base, &opts()).unwrap();
    let err = fork::adopt(&mut state, &[bad], &[], &opts()).unwrap_err();
    assert_eq!(err.index, 0);
}

#[test]
fn an_author_reusing_a_sequence_on_both_branches_loses_one_event_and_it_is_reported() {
    let base = post(0, 1, GENESIS_HASH, 1_780_000_000);
    let x = post(1, 1, &base.event_id, 1_780_000_001);
    let y = post(1, 1, &base.event_id, 1_780_000_009); // same author and sequence, other text
    let mut y = y;
    y.payload.insert("message", Value::Str("other".into()));
    let y = sign_event(
        &author_key(1),
        &base.event_id,
        "message",
        &y.payload,
        y.timestamp.clone(),
        1,
    );
    let (win, lose) = if x.event_id < y.event_id {
        (x, y)
    } else {
        (y, x)
    };
    let mut state = ChainState::new();
    state.ingest(&base, &opts()).unwrap();
    let adopted = fork::adopt(&mut state, &[win], &[lose], &opts()).unwrap();
    assert_eq!(adopted.relinked, 0);
    assert_eq!(adopted.dropped.len(), 1);
}

/// Relays appending at once and then exchanging chains in a random order converge to one chain
/// that verifies and carries every appended event exactly once.
fn converge(relays: usize, appends: &[(usize, usize)], order: &[(usize, usize)]) {
    let base = post(0, 1, GENESIS_HASH, 1_780_000_000);
    let mut chains: Vec<Vec<ChainEvent>> = vec![vec![base.clone()]; relays];
    let mut seq = vec![0u64; 64];
    let mut all = HashSet::new();
    all.insert(Statement::of(&base));
    // Each author appends on one relay only (author = 1 + relay + relays * k).
    for (t, &(r, k)) in appends.iter().enumerate() {
        let r = r % relays;
        let author = 1 + r + relays * (k % 4);
        seq[author] += 1;
        let head = chains[r].last().unwrap().event_id.clone();
        let e = post(author, seq[author], &head, 1_780_000_001 + t as u64);
        all.insert(Statement::of(&e));
        chains[r].push(e);
    }
    let mut rounds = 0;
    let step = |chains: &mut Vec<Vec<ChainEvent>>, from: usize, to: usize| {
        if from != to {
            let remote = chains[from].clone();
            receive(&mut chains[to], &remote);
        }
    };
    for &(a, b) in order {
        step(&mut chains, a % relays, b % relays);
    }
    // Then every pair until nothing changes (gossip continues after the random phase).
    loop {
        let before = chains.clone();
        for a in 0..relays {
            for b in 0..relays {
                step(&mut chains, a, b);
            }
        }
        rounds += 1;
        if chains == before {
            break;
        }
        assert!(rounds < 50, "no convergence");
    }
    for c in &chains {
        assert_eq!(c, &chains[0], "relays disagree");
        assert!(verifies(c));
        let got: Vec<Statement> = c.iter().map(Statement::of).collect();
        let set: HashSet<Statement> = got.iter().cloned().collect();
        assert_eq!(set.len(), got.len(), "an event is on the chain twice");
        assert_eq!(set, all, "an appended event is missing");
    }
}

#[test]
fn two_and_three_relays_appending_at_once_converge() {
    for trial in 0..10usize {
        converge(2, &[(0, trial), (1, trial + 1)], &[(0, 1), (1, 0)]);
        converge(
            3,
            &[(0, trial), (1, trial), (2, trial)],
            &[(0, 1), (2, 1), (1, 0)],
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn any_appends_and_gossip_order_converge(
        relays in 2usize..=3,
        appends in proptest::collection::vec((0usize..3, 0usize..4), 1..12),
        order in proptest::collection::vec((0usize..3, 0usize..3), 0..12),
    ) {
        converge(relays, &appends, &order);
    }
}

// ---- signed tree heads and pins ----

fn ids(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{:064x}", (i as u128 + 1) * 0x9e37_79b9))
        .collect()
}

fn key(i: u8) -> TreeHeadKey {
    TreeHeadKey::from_seed(&[i; 32])
}

#[test]
fn a_signed_head_round_trips_and_binds_every_field() {
    let k = key(1);
    let sth = k.sign(NET, &ids(5), 1000);
    let wire = sth.to_wire();
    assert_eq!(SignedTreeHead::from_wire(&wire).unwrap(), sth);
    assert_eq!(sth.head.root, tree_head::log_root(&ids(5)));
    let mut w = wire.clone();
    w.size = 4;
    assert_eq!(SignedTreeHead::from_wire(&w), Err(TreeHeadError::Signature));
    let mut w = wire.clone();
    w.network_id = "other".into();
    assert_eq!(SignedTreeHead::from_wire(&w), Err(TreeHeadError::Signature));
    let mut w = wire.clone();
    w.timestamp_ms += 1;
    assert_eq!(SignedTreeHead::from_wire(&w), Err(TreeHeadError::Signature));
    let mut w = wire.clone();
    w.root = w.root.to_uppercase();
    assert!(matches!(
        SignedTreeHead::from_wire(&w),
        Err(TreeHeadError::Field { .. })
    ));
    let mut w = wire;
    w.version = "postern-sth/0".into();
    assert!(matches!(
        SignedTreeHead::from_wire(&w),
        Err(TreeHeadError::Version(_))
    ));
    assert!(
        format!("{k:?}").len() < 90,
        "the key's Debug shows the public key only"
    );
}

#[test]
fn a_reader_holding_the_ids_checks_the_root_itself() {
    let all = ids(9);
    let sth = key(1).sign(NET, &all[..7], 1000);
    assert_eq!(tree_head::check_against_ids(&sth, &all), Ok(()));
    let mut other = all.clone();
    other[3] = format!("{:064x}", 7);
    assert_eq!(
        tree_head::check_against_ids(&sth, &other),
        Err(TreeHeadError::RootMismatch { size: 7 })
    );
    assert_eq!(
        tree_head::check_against_ids(&sth, &all[..5]),
        Err(TreeHeadError::BeyondHeld { size: 7, held: 5 })
    );
}

#[test]
fn a_pin_moves_forward_on_consistent_heads_only() {
    let k = key(2);
    let all = ids(20);
    let mut pin = HeadPin::first(k.sign(NET, &all[..6], 100), NET).unwrap();
    let proof = tree_head::consistency(&all[..13], 6).unwrap();
    assert_eq!(
        pin.check(k.sign(NET, &all[..13], 200), &proof),
        Ok(PinOutcome::Extended)
    );
    assert_eq!(pin.head().head.size, 13);
    assert_eq!(
        pin.check(k.sign(NET, &all[..13], 250), &[]),
        Ok(PinOutcome::Same)
    );
    let back = tree_head::consistency(&all[..13], 4).unwrap();
    assert_eq!(
        pin.check(k.sign(NET, &all[..4], 50), &back),
        Ok(PinOutcome::Older)
    );
    assert_eq!(pin.head().head.size, 13);
    // Another relay's key, another network: refused, not evidence.
    assert_eq!(
        pin.check(key(3).sign(NET, &all[..14], 300), &[]),
        Err(PinError::Invalid(TreeHeadError::OtherRelay))
    );
    assert!(matches!(
        pin.check(k.sign("elsewhere", &all[..14], 300), &[]),
        Err(PinError::Invalid(TreeHeadError::Network { .. }))
    ));
}

#[test]
fn rewritten_history_equivocation_and_time_regression_are_evidence() {
    let k = key(4);
    let all = ids(20);
    let mut pin = HeadPin::first(k.sign(NET, &all[..8], 100), NET).unwrap();
    // Equivocation: a second root for size 8.
    let mut forked = all.clone();
    forked[5] = format!("{:064x}", 5);
    let Err(PinError::Misbehaviour(e)) = pin.check(k.sign(NET, &forked[..8], 120), &[]) else {
        panic!("equivocation not found");
    };
    assert_eq!(e.kind, EvidenceKind::Equivocation);
    assert!(evidence_holds(&e));
    // Rewritten history: a larger tree that does not extend the pinned one, with the honest
    // proof of the rewritten tree (no valid proof exists).
    let proof = tree_head::consistency(&forked[..12], 8).unwrap();
    let Err(PinError::Misbehaviour(e)) = pin.check(k.sign(NET, &forked[..12], 130), &proof) else {
        panic!("rewrite not found");
    };
    assert_eq!(e.kind, EvidenceKind::Inconsistent);
    assert!(evidence_holds(&e));
    // A larger tree signed earlier than the pinned one.
    let proof = tree_head::consistency(&all[..12], 8).unwrap();
    let Err(PinError::Misbehaviour(e)) = pin.check(k.sign(NET, &all[..12], 90), &proof) else {
        panic!("time regression not found");
    };
    assert_eq!(e.kind, EvidenceKind::TimeRegression);
    assert_eq!(
        pin.head().head.size,
        8,
        "the pin never moves on misbehaviour"
    );
    // Evidence naming honest heads does not hold.
    let mut fake = (*e).clone();
    fake.offered = k.sign(NET, &all[..8], 100).to_wire();
    fake.kind = EvidenceKind::Equivocation;
    assert!(!evidence_holds(&fake));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn honest_heads_always_pass_and_any_changed_leaf_is_caught(
        n1 in 1usize..40, extra in 0usize..40, flip in 0usize..40,
    ) {
        let k = key(9);
        let all = ids(n1 + extra);
        let mut pin = HeadPin::first(k.sign(NET, &all[..n1], 1), NET).unwrap();
        let proof = tree_head::consistency(&all, n1 as u64).unwrap();
        let out = pin.check(k.sign(NET, &all, 2), &proof).unwrap();
        prop_assert!(matches!(out, PinOutcome::Same | PinOutcome::Extended));
        // Change one leaf inside the pinned prefix: any later head is caught.
        let i = flip % n1;
        let mut bad = all.clone();
        bad[i] = format!("{:064x}", u128::MAX - i as u128);
        let bigger: Vec<String> = bad.iter().cloned().chain(ids(1)).collect();
        let proof = tree_head::consistency(&bigger, pin.head().head.size).unwrap();
        prop_assert!(matches!(
            pin.check(k.sign(NET, &bigger, 3), &proof),
            Err(PinError::Misbehaviour(_))
        ));
        prop_assert_eq!(rfc9162::empty_root(), tree_head::log_root::<String>(&[]));
    }
}
